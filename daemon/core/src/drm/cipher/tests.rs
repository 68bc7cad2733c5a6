use super::*;
use chacha20::cipher::{StreamCipher, StreamCipherSeek};

/// A packet on `pid` with payload filled with `fill` and, if `af_len` is given, an adaptation
/// field of that length (flags byte 0x40: random access).
fn packet(pid: u16, af_len: Option<u8>, fill: u8) -> [u8; PACKET_LEN] {
    let mut p = [fill; PACKET_LEN];
    p[0] = SYNC_BYTE;
    p[1] = (pid >> 8) as u8 & 0x1F;
    p[2] = pid as u8;
    p[3] = 0x10;
    if let Some(len) = af_len {
        p[3] |= 0x20;
        p[4] = len;
        if len > 0 {
            p[5] = 0x40;
            for b in p.iter_mut().skip(6).take(usize::from(len) - 1) {
                *b = 0xFF;
            }
        }
    }
    p
}

fn chunk(packets: &[[u8; PACKET_LEN]]) -> std::vec::Vec<u8> {
    packets.iter().flatten().copied().collect()
}

/// RFC 8439 §2.4.2: proves the crate is ChaCha20 with a 96-bit nonce, and that our nonce layout
/// (tag ‖ seq) puts the bytes where the RFC does.
#[test]
fn rfc8439_2_4_2_vector() {
    let key: Key = core::array::from_fn(|i| i as u8);
    // Nonce 00 00 00 00 | 00 00 00 4a | 00 00 00 00 = tag 0, seq 0x0000_004a_0000_0000.
    let mut c = cipher(&key, 0, 0x0000_004a_0000_0000);
    c.seek(64u32); // initial block counter 1
    let mut m = *b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
    c.apply_keystream(&mut m);
    let expect: [u8; 114] = [
        0x6e, 0x2e, 0x35, 0x9a, 0x25, 0x68, 0xf9, 0x80, 0x41, 0xba, 0x07, 0x28, 0xdd, 0x0d, 0x69,
        0x81, 0xe9, 0x7e, 0x7a, 0xec, 0x1d, 0x43, 0x60, 0xc2, 0x0a, 0x27, 0xaf, 0xcc, 0xfd, 0x9f,
        0xae, 0x0b, 0xf9, 0x1b, 0x65, 0xc5, 0x52, 0x47, 0x33, 0xab, 0x8f, 0x59, 0x3d, 0xab, 0xcd,
        0x62, 0xb3, 0x57, 0x16, 0x39, 0xd6, 0x24, 0xe6, 0x51, 0x52, 0xab, 0x8f, 0x53, 0x0c, 0x35,
        0x9f, 0x08, 0x61, 0xd8, 0x07, 0xca, 0x0d, 0xbf, 0x50, 0x0d, 0x6a, 0x61, 0x56, 0xa3, 0x8e,
        0x08, 0x8a, 0x22, 0xb6, 0x5e, 0x52, 0xbc, 0x51, 0x4d, 0x16, 0xcc, 0xf8, 0x06, 0x81, 0x8c,
        0xe9, 0x1a, 0xb7, 0x79, 0x37, 0x36, 0x5a, 0xf9, 0x0b, 0xbf, 0x74, 0xa3, 0x5b, 0xe6, 0xb4,
        0x0b, 0x8e, 0xed, 0xf2, 0x78, 0x5e, 0x42, 0x87, 0x4d,
    ];
    assert_eq!(m, expect);
}

/// Two packets with 16-byte payloads (adaptation field 167 bytes) under the all-zero key, tag 0,
/// seq 0: the scrambled payloads are the RFC 8439 A.1 #1 keystream, bytes 0..16 then 16..32 —
/// continuous across packets — and the header byte 3 goes 0x30 → 0xF0 (key id 1: `11`).
#[test]
fn byte_literal_example() {
    let mut c = chunk(&[packet(0x100, Some(167), 0), packet(0x101, Some(167), 0)]);
    let n = scramble(&mut c, &[0; 32], 1, 0, 0, ClearPids::default()).unwrap();
    assert_eq!(n, 2);
    assert_eq!(&c[..6], &[0x47, 0x01, 0x00, 0xF0, 167, 0x40]);
    assert_eq!(
        &c[172..188],
        &[
            0x76, 0xb8, 0xe0, 0xad, 0xa0, 0xf1, 0x3d, 0x90, 0x40, 0x5d, 0x6a, 0xe5, 0x53, 0x86,
            0xbd, 0x28
        ]
    );
    assert_eq!(&c[188..192], &[0x47, 0x01, 0x01, 0xF0]);
    assert_eq!(
        &c[188 + 172..],
        &[
            0xbd, 0xd2, 0x19, 0xb8, 0xa0, 0x8d, 0xed, 0x1a, 0xa8, 0x36, 0xef, 0xcc, 0x8b, 0x77,
            0x0d, 0xc7
        ]
    );
    assert_eq!(descramble(&mut c, &[0; 32], 0, 0), 2);
    assert_eq!(
        c,
        chunk(&[packet(0x100, Some(167), 0), packet(0x101, Some(167), 0)])
    );
}

#[test]
fn round_trip_keeps_headers_and_psi_clear() {
    let key = [7u8; 32];
    let plain = chunk(&[
        packet(PAT_PID, None, 0xA0),
        packet(0x1000, None, 0xA1), // PMT
        packet(0x100, Some(7), 0xA2),
        packet(0x100, None, 0xA3),
        packet(0x101, Some(0), 0xA4), // zero-length adaptation field
        packet(NULL_PID, None, 0xFF),
        packet(0x100, None, 0xA5),
    ]);
    let mut c = plain.clone();
    let pmt = [0x1000];
    let n = scramble(&mut c, &key, 2, 0xDEAD_BEEF, 42, ClearPids { pmt: &pmt }).unwrap();
    assert_eq!(n, 4);
    // PAT, PMT and null packets: every byte unchanged.
    assert_eq!(&c[..2 * PACKET_LEN], &plain[..2 * PACKET_LEN]);
    assert_eq!(
        &c[5 * PACKET_LEN..6 * PACKET_LEN],
        &plain[5 * PACKET_LEN..6 * PACKET_LEN]
    );
    // Scrambled packets: header kept but for the mark (key id 2 is even: `10`), adaptation
    // field kept, payload changed.
    let p = &c[2 * PACKET_LEN..3 * PACKET_LEN];
    assert_eq!(&p[..3], &plain[2 * PACKET_LEN..2 * PACKET_LEN + 3]);
    assert_eq!(p[3], 0x30 | 0x80);
    assert_eq!(&p[4..12], &plain[2 * PACKET_LEN + 4..2 * PACKET_LEN + 12]);
    assert_ne!(&p[12..], &plain[2 * PACKET_LEN + 12..3 * PACKET_LEN]);
    // Wrong seq or tag gives garbage; the right ones give the plaintext back.
    let mut wrong = c.clone();
    descramble(&mut wrong, &key, 0xDEAD_BEEF, 43);
    assert_ne!(wrong, plain);
    assert_eq!(descramble(&mut c, &key, 0xDEAD_BEEF, 42), 4);
    assert_eq!(c, plain);
}

#[test]
fn refuses_already_scrambled_source() {
    let mut p = packet(0x100, None, 1);
    p[3] |= 0x80;
    let mut c = chunk(&[packet(0x100, None, 0), p]);
    let before = c.clone();
    assert_eq!(
        scramble(&mut c, &[1; 32], 1, 0, 0, ClearPids::default()),
        Err(CipherError::AlreadyScrambled)
    );
    assert_eq!(c, before);
}

#[test]
fn malformed_packets_left_alone() {
    let mut bad_af = packet(0x100, Some(0), 3);
    bad_af[4] = 184; // adaptation field runs to the end: no payload
    let mut worse_af = packet(0x100, Some(0), 4);
    worse_af[4] = 250; // beyond the packet
    let mut no_sync = packet(0x100, None, 5);
    no_sync[0] = 0x00;
    let mut c = chunk(&[bad_af, worse_af, no_sync]);
    c.extend_from_slice(&[9; 50]); // trailing partial packet
    let before = c.clone();
    assert_eq!(
        scramble(&mut c, &[1; 32], 1, 0, 0, ClearPids::default()),
        Ok(0)
    );
    assert_eq!(c, before);
    // Marked but malformed: descramble leaves it alone too.
    c[3] |= 0x80;
    c[PACKET_LEN + 3] |= 0xC0;
    let marked = c.clone();
    assert_eq!(descramble(&mut c, &[1; 32], 0, 0), 0);
    assert_eq!(c, marked);
    // Empty and short inputs.
    assert_eq!(
        scramble(&mut [], &[1; 32], 1, 0, 0, ClearPids::default()),
        Ok(0)
    );
    assert_eq!(descramble(&mut [0x47, 0x80], &[1; 32], 0, 0), 0);
}
