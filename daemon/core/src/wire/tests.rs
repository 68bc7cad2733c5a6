//! Byte-literal tests: every message parses from and emits to exactly these bytes.

use super::*;
use crate::chunk::ChunkFlags;
use std::vec::Vec;

fn roundtrip(bytes: &[u8], msg: Message<'_>) {
    assert_eq!(Message::parse(bytes), Ok(msg), "parse");
    let mut buf = [0u8; MAX_DATAGRAM];
    let n = msg.emit(&mut buf).unwrap();
    assert_eq!(&buf[..n], bytes, "emit");
    // Every truncation is an error or a shorter valid message, never a panic.
    for cut in 0..bytes.len() {
        let _ = Message::parse(&bytes[..cut]);
    }
    assert_eq!(msg.emit(&mut buf[..n - 1]), Err(WireError::Buffer));
}

#[test]
fn join() {
    roundtrip(
        &[
            0xC1, 0x01, 0, 0, 0xDE, 0xAD, 0xBE, 0xEF, 0x00, 0x01, 0x00, 0x00, 0x0B, 0xB8, 0x04,
            b'n', b'e', b'w', b's',
        ],
        Message::Join {
            nonce: 0xDEAD_BEEF,
            flags: FLAG_REACHABLE,
            upload_kbps: 3000,
            name: b"news",
        },
    );
}

#[test]
fn join_ack() {
    roundtrip(
        &[
            0xC1, 0x02, 0x00, 0x07, // header, channel 7
            0x00, 0x00, 0x00, 0x2A, // nonce
            0x12, 0x34, 0x56, 0x78, // token
            0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x10, // live_seq
            0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x05, // rap_seq
            0x00, 0x00, 0x03, 0xE8, // 1000 kbps
            0x00, 0x00, 0x27, 0x10, // now_ms 10000
            0x00, 0x00, // flags
        ],
        Message::JoinAck {
            channel: 7,
            nonce: 42,
            token: 0x1234_5678,
            live_seq: 0x1_0000_0010,
            rap_seq: 0x1_0000_0005,
            bitrate_kbps: 1000,
            now_ms: 10_000,
            flags: 0,
        },
    );
}

#[test]
fn join_nak() {
    roundtrip(
        &[0xC1, 0x03, 0, 0, 0, 0, 0, 9, 0x01],
        Message::JoinNak {
            nonce: 9,
            reason: NakReason::UnknownChannel,
        },
    );
    roundtrip(
        &[0xC1, 0x03, 0, 0, 0, 0, 0, 9, 0x63],
        Message::JoinNak {
            nonce: 9,
            reason: NakReason::Other(99),
        },
    );
}

#[test]
fn keepalive_and_leave() {
    roundtrip(
        &[
            0xC1, 0x04, 0x00, 0x02, 0xAA, 0xBB, 0xCC, 0xDD, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 0x01,
        ],
        Message::Keepalive {
            channel: 2,
            token: 0xAABB_CCDD,
            want_seq: 256,
            flags: FLAG_WANT_PEERS,
        },
    );
    roundtrip(
        &[0xC1, 0x05, 0x00, 0x02, 0xAA, 0xBB, 0xCC, 0xDD],
        Message::Leave {
            channel: 2,
            token: 0xAABB_CCDD,
        },
    );
}

#[test]
fn peers() {
    let bytes = [
        0xC1, 0x06, 0x00, 0x01, 0x02, // header, count 2
        4, 198, 51, 100, 7, 0x1F, 0x40, 0x01, // 198.51.100.7:8000, flags 1
        6, 0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x1F, 0x41,
        0x00, // [2001:db8::1]:8001
    ];
    let m = Message::parse(&bytes).unwrap();
    let Message::Peers { channel: 1, peers } = m else {
        panic!("{m:?}")
    };
    let got: Vec<(SocketAddr, u8)> = peers.iter().collect();
    let want: [(SocketAddr, u8); 2] = [
        ("198.51.100.7:8000".parse().unwrap(), 1),
        ("[2001:db8::1]:8001".parse().unwrap(), 0),
    ];
    assert_eq!(got, want);
    let mut buf = [0u8; 200];
    let n = emit_peers(1, &want, &mut buf).unwrap();
    assert_eq!(&buf[..n], &bytes[..]);
    let n2 = m.emit(&mut buf).unwrap();
    assert_eq!(&buf[..n2], &bytes[..]);
    // A bad family or a count beyond the entries is an error.
    let mut bad = bytes;
    bad[5] = 5;
    assert_eq!(Message::parse(&bad), Err(WireError::Length));
    assert_eq!(
        Message::parse(&bytes[..bytes.len() - 1]),
        Err(WireError::Truncated)
    );
    assert_eq!(
        Message::parse(&[0xC1, 0x06, 0, 1, 17]),
        Err(WireError::Length)
    );
}

#[test]
fn hello_and_ack() {
    roundtrip(
        &[
            0xC1, 0x07, 0x00, 0x01, 0, 0, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x07, 0xD0,
        ],
        Message::Hello {
            channel: 1,
            nonce: 256,
            flags: FLAG_REACHABLE,
            upload_kbps: 2000,
        },
    );
    roundtrip(
        &[0xC1, 0x08, 0x00, 0x01, 0, 0, 0x01, 0x00, 0x01],
        Message::HelloAck {
            channel: 1,
            nonce: 256,
            accept: true,
        },
    );
}

#[test]
fn map() {
    roundtrip(
        &[
            0xC1, 0x09, 0x00, 0x01, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0x03, 0xE8, 0, 0, 0x13, 0x88,
            0x01, 0x00, 0x00, 0x00, 0x32, 0x01, 0x2C, 0xFF, 0xFF, 0x01, 0x02, 0x28, 0xFF, 0x00,
            0x01, 0x02, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0x02, 0xFF, 0x0F,
        ],
        Message::Map {
            channel: 1,
            token: 5,
            base: 1000,
            delay_us: 5000,
            flags: FLAG_WANT_PEERS,
            src_delay_ms: [0, 50, 300, 0xFFFF],
            hops: [1, 2, 40, HOPS_NONE],
            fresh: [1, 0x200, 0, 0xFFFF],
            map: &[0xFF, 0x0F],
        },
    );
}

#[test]
fn map_freshness_is_never_overstated() {
    // 0 is "none"; anything before the map's base is sent as none.
    assert_eq!(fresh_off(1000, 0), 0);
    assert_eq!(fresh_off(1000, 999), 0);
    assert_eq!(fresh_off(1000, 1000), 1);
    assert_eq!(fresh_off(1000, 1511), 512);
    assert_eq!(fresh_off(0, u64::MAX), u16::MAX);
    for f in [1000, 1001, 1511, 66_000] {
        assert_eq!(fresh_seq(1000, fresh_off(1000, f)), f);
    }
    assert_eq!(fresh_seq(1000, 0), 0);
    assert_eq!(fresh_seq(u64::MAX, 5), u64::MAX);
}

#[test]
fn subscribe_and_ack() {
    roundtrip(
        &[
            0xC1, 0x0A, 0x00, 0x01, 0, 0, 0, 5, 0b0101, 0, 0, 0, 0, 0, 0, 0x03, 0xE8,
        ],
        Message::Subscribe {
            channel: 1,
            token: 5,
            mask: 0b0101,
            from_seq: 1000,
        },
    );
    roundtrip(
        &[0xC1, 0x0B, 0x00, 0x01, 0, 0, 0, 5, 0b0001, 0b0100],
        Message::SubAck {
            channel: 1,
            token: 5,
            accepted: 1,
            refused: 4,
        },
    );
}

#[test]
fn chunk() {
    let mut bytes: Vec<u8> = std::vec![
        0xC1, 0x10, 0x00, 0x01, // header, channel 1
        0, 0, 0, 0, 0, 0, 0x30, 0x39, // seq 12345
        0x01, 0x00, // RAP, key 0
        0x00, 0x01, 0x86, 0xA0, // stamp 100000 ms
        0x00, 0x00, 0x00, 0x07, // sent_us 7
    ];
    let mut pkt = [0xFFu8; 188];
    pkt[0] = 0x47;
    bytes.extend_from_slice(&pkt);
    let info = ChunkInfo {
        seq: 12345,
        flags: ChunkFlags::RAP,
        key_id: 0,
        stamp_ms: 100_000,
    };
    roundtrip(
        &bytes,
        Message::Chunk {
            channel: 1,
            info,
            sent_us: 7,
            payload: &pkt,
        },
    );
    assert_eq!(
        Message::parse(&bytes[..bytes.len() - 1]),
        Err(WireError::Length)
    );
    assert_eq!(
        Message::parse(&bytes[..CHUNK_HEADER_LEN]),
        Err(WireError::Length)
    );
    let mut long = bytes[..CHUNK_HEADER_LEN].to_vec();
    long.extend_from_slice(&[0x47; 188 * 8]);
    assert_eq!(Message::parse(&long), Err(WireError::Length));
}

#[test]
fn request() {
    roundtrip(
        &[
            0xC1,
            0x11,
            0x00,
            0x01,
            0,
            0,
            0,
            5,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            100,
            0x02,
            0b0000_0101,
            0b1000_0000,
        ],
        Message::Request {
            channel: 1,
            token: 5,
            base: 100,
            map: &[0b0000_0101, 0b1000_0000],
        },
    );
    let seqs: Vec<u64> = bitmap_seqs(100, &[0b0000_0101, 0b1000_0000]).collect();
    assert_eq!(seqs, [100, 102, 115]);
    assert_eq!(
        Message::parse(&[0xC1, 0x11, 0, 1, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 100, 0]),
        Err(WireError::Length)
    );
}

#[test]
fn unknown_and_garbage() {
    assert_eq!(
        Message::parse(&[0xC1, 0x7F, 0x00, 0x00, 1, 2, 3]),
        Ok(Message::Unknown { kind: 0x7F })
    );
    assert_eq!(
        Message::parse(&[0x00, 0x01, 0x00, 0x00]),
        Err(WireError::Magic)
    );
    assert_eq!(Message::parse(&[]), Err(WireError::Truncated));
    assert_eq!(
        Message::parse(&[0xC1, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        Err(WireError::Length)
    );
    assert!(!is_tvmesh(&[0x00, 0x01])); // a STUN Binding request starts 0x00 0x01
}

#[test]
fn dir_request() {
    roundtrip(
        &[0xC1, 0x40, 0, 0, 0x00, 0x00, 0x01, 0x02, 0x03],
        Message::DirRequest {
            nonce: 0x102,
            page: 3,
        },
    );
}

#[test]
fn directory() {
    // One channel: number 7, 2500 kbit/s, "news", description "N".
    let body = [
        1, 0, 1, 0, 7, 0x00, 0x00, 0x09, 0xC4, 4, b'n', b'e', b'w', b's', 1, b'N',
    ];
    let mut bytes = std::vec![0xC1, 0x41, 0, 0, 0xDE, 0xAD, 0xBE, 0xEF, 0, 1];
    bytes.extend_from_slice(&body);
    roundtrip(
        &bytes,
        Message::Directory {
            nonce: 0xDEAD_BEEF,
            page: 0,
            pages: 1,
            body: &body,
        },
    );
    let mut dir = crate::zap::Directory::new(4);
    match Message::parse(&bytes) {
        Ok(Message::Directory { body, .. }) => assert_eq!(dir.apply(0, body), Ok(1)),
        other => panic!("{other:?}"),
    }
    assert_eq!(dir.get(7).map(|e| e.name.as_str()), Some("news"));
}

proptest::proptest! {
    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..1500)) {
        let _ = Message::parse(&bytes);
        let mut b = bytes.clone();
        if !b.is_empty() { b[0] = MAGIC; }
        if b.len() > 1 { b[1] %= 0x14; if bytes.len() % 3 == 0 { b[1] |= 0x40; } }
        if let Ok(m) = Message::parse(&b) {
            // Whatever parses re-emits to a datagram that parses to the same message.
            let mut buf = [0u8; MAX_DATAGRAM];
            if let Ok(n) = m.emit(&mut buf) {
                proptest::prop_assert_eq!(Message::parse(&buf[..n]), Ok(m));
            }
        }
    }
}

#[test]
fn manifest_message() {
    roundtrip(
        &[0xC1, 0x30, 0x00, 0x02, 0x01, 0xAA, 0xBB],
        Message::Manifest {
            channel: 2,
            body: &[0x01, 0xAA, 0xBB],
        },
    );
    assert_eq!(Message::parse(&[0xC1, 0x30, 0, 2]), Err(WireError::Length));
}

#[test]
fn manifest_req() {
    roundtrip(
        &[
            0xC1, 0x31, 0x00, 0x01, // header, channel 1
            0x00, 0x00, 0x00, 0x09, // token
            0x00, 0x00, 0x00, 0x00, 0x00, 0x0F, 0x42, 0x40, // seq 1_000_000
        ],
        Message::ManifestReq {
            channel: 1,
            token: 9,
            seq: 1_000_000,
        },
    );
}

#[test]
fn key_req_and_channel_key() {
    roundtrip(
        &[0xC1, 0x32, 0x00, 0x03, 0x12, 0x34, 0x56, 0x78],
        Message::KeyReq {
            channel: 3,
            token: 0x1234_5678,
        },
    );
    let mut bytes = std::vec![0xC1, 0x33, 0x00, 0x03, 0x02];
    let key: Vec<u8> = (0..=255u8).collect();
    bytes.extend_from_slice(&key);
    roundtrip(
        &bytes,
        Message::ChannelKey {
            channel: 3,
            kind: KEY_RSA2048,
            key: &key,
        },
    );
    // No key bytes, or more than a modulus.
    assert_eq!(
        Message::parse(&[0xC1, 0x33, 0, 3, 0x02]),
        Err(WireError::Length)
    );
    let mut long = bytes.clone();
    long.push(0);
    assert_eq!(Message::parse(&long), Err(WireError::Length));
    let mut buf = [0u8; 400];
    let too_long = [0u8; 257];
    assert_eq!(
        Message::ChannelKey {
            channel: 3,
            kind: KEY_RSA2048,
            key: &too_long,
        }
        .emit(&mut buf),
        Err(WireError::Length)
    );
}

#[test]
fn licence_messages() {
    roundtrip(
        &[0xC1, 0x34, 0x00, 0x02, 0x01, 0x05, 0xAA],
        Message::LicenceReq {
            channel: 2,
            body: &[0x01, 0x05, 0xAA],
        },
    );
    roundtrip(
        &[0xC1, 0x35, 0x00, 0x02, 0x01, 0x00],
        Message::Licence {
            channel: 2,
            body: &[0x01, 0x00],
        },
    );
    assert_eq!(Message::parse(&[0xC1, 0x34, 0, 2]), Err(WireError::Length));
    assert_eq!(Message::parse(&[0xC1, 0x35, 0, 2]), Err(WireError::Length));
    let mut long = std::vec![0xC1, 0x35, 0, 2];
    long.resize(HEADER_LEN + LICENCE_MAX_LEN + 1, 0);
    assert_eq!(Message::parse(&long), Err(WireError::Length));
}

#[test]
fn nat_messages() {
    use crate::nat::punch::{Introduce, Probe};
    use crate::nat::report::NatCode;
    let intro = Message::Introduce(Introduce {
        session: 0x0102_0304,
        peer_id: 7,
        public: "203.0.113.12:4000".parse().unwrap(),
        private: None,
        nat: NatCode::Symmetric,
    });
    #[rustfmt::skip]
    let bytes = [
        0xC1, 0x20, 0, 0,
        1, 2, 3, 4, 0, 0, 0, 7,
        4, 203, 0, 113, 12, 0x0F, 0xA0,
        0,
        4,
    ];
    roundtrip(&bytes, intro);
    let punch = Message::Probe(Probe {
        ack: false,
        session: 0xDEAD_BEEF,
        seq: 2,
        cand: 0xFE,
    });
    roundtrip(
        &[0xC1, 0x21, 0, 0, 0xDE, 0xAD, 0xBE, 0xEF, 0, 2, 0xFE],
        punch,
    );
    let ack = Message::Probe(Probe {
        ack: true,
        session: 0xDEAD_BEEF,
        seq: 2,
        cand: 0xFE,
    });
    roundtrip(&[0xC1, 0x22, 0, 0, 0xDE, 0xAD, 0xBE, 0xEF, 0, 2, 0xFE], ack);
    // Truncated bodies and a bad address family are errors, never panics.
    assert_eq!(Message::parse(&bytes[..10]), Err(WireError::Truncated));
    let mut bad = bytes;
    bad[12] = 5;
    assert_eq!(Message::parse(&bad), Err(WireError::Length));
    assert_eq!(punch.emit(&mut [0u8; 10]), Err(WireError::Buffer));
    // REPORT stays for the root's own dispatch.
    assert_eq!(
        Message::parse(&[0xC1, 0x23, 0, 1, 0, 0, 0, 1, 3, 0, 0]),
        Ok(Message::Unknown { kind: 0x23 })
    );
}
