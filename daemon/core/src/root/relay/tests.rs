use super::*;
use crate::nat::report::{NatCode, Report};
use std::vec::Vec;

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn at(ms: u64) -> Instant {
    Instant::ZERO + Duration::from_millis(ms)
}

fn root(relay_kbps: u32) -> Root {
    let cfg = RootConfig {
        seed_copies: 1,
        relay_kbps,
        ..RootConfig::default()
    };
    let spec = ChannelSpec {
        name: "ch",
        bitrate_kbps: 1000,
    };
    Root::new(cfg, &[spec], at(0)).unwrap()
}

fn drain(r: &mut Root) -> Vec<(SocketAddr, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = [0u8; crate::wire::MAX_DATAGRAM];
    while let Some(t) = r.poll_transmit(&mut buf) {
        out.push((t.dst, buf[..t.len].to_vec()));
    }
    out
}

/// Joins `from`, REPORTs `private` and `nat`; returns the token. The open box at [`OPEN`]
/// uploads 8 Mbit/s, the others 1 Mbit/s, so no later box takes its seed places (root/session.rs
/// gives a place to a box with half as much upload again per place).
fn join(r: &mut Root, now: Instant, from: SocketAddr, private: &str, nat: NatCode) -> u32 {
    let mut b = [0u8; 128];
    let n = Message::Join {
        nonce: 7,
        flags: 0,
        upload_kbps: if from == sa(OPEN) { 8000 } else { 1000 },
        name: b"ch",
    }
    .emit(&mut b)
    .unwrap();
    r.handle_datagram(now, from, &b[..n]);
    let token = drain(r)
        .iter()
        .find_map(|(_, d)| match Message::parse(d) {
            Ok(Message::JoinAck { token, .. }) => Some(token),
            _ => None,
        })
        .unwrap();
    let rep = Report {
        token,
        nat,
        private: Some(sa(private)),
        reachable: true,
    };
    let n = rep.encode(0, &mut b).unwrap();
    r.handle_datagram(now, from, &b[..n]);
    token
}

/// Subscribes `from` to `mask`; returns the SUBACK's (accepted, refused).
fn subscribe(r: &mut Root, now: Instant, from: SocketAddr, token: u32, mask: u8) -> (u8, u8) {
    let mut b = [0u8; 64];
    let n = Message::Subscribe {
        channel: 0,
        token,
        mask,
        from_seq: 0,
    }
    .emit(&mut b)
    .unwrap();
    r.handle_datagram(now, from, &b[..n]);
    // Control goes first: stop at the SUBACK so no chunk goes uncounted.
    let mut buf = [0u8; crate::wire::MAX_DATAGRAM];
    while let Some(t) = r.poll_transmit(&mut buf) {
        if let Ok(Message::SubAck {
            accepted, refused, ..
        }) = Message::parse(&buf[..t.len])
        {
            assert_eq!(t.dst, from);
            return (accepted, refused);
        }
    }
    panic!("no SUBACK")
}

/// Feeds the sample for `ms` from `from_ms` (one 1316-byte slice per 10 ms, about 1 Mbit/s);
/// returns the chunk bytes sent to each address.
fn play(r: &mut Root, from_ms: u64, ms: u64, ts: &[u8]) -> Vec<(SocketAddr, usize)> {
    let mut sent: Vec<(SocketAddr, usize)> = Vec::new();
    let mut pos = (from_ms / 10) as usize * 1316 % ts.len();
    for k in 0..ms / 10 {
        let now = at(from_ms + k * 10);
        let end = (pos + 1316).min(ts.len());
        r.handle_source(now, 0, &ts[pos..end]);
        pos = if end == ts.len() { 0 } else { end };
        r.handle_timeout(now);
        for (a, d) in drain(r) {
            if matches!(Message::parse(&d), Ok(Message::Chunk { .. })) {
                match sent.iter_mut().find(|x| x.0 == a) {
                    Some(x) => x.1 += d.len(),
                    None => sent.push((a, d.len())),
                }
            }
        }
    }
    sent
}

fn sample() -> Vec<u8> {
    include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/sample.ts"
    ))
    .to_vec()
}

#[test]
fn relays_only_to_natted_boxes_within_budget_and_counts_it() {
    let ts = sample();
    let mut r = root(DEFAULT_RELAY_KBPS);
    play(&mut r, 0, 2000, &ts);
    let open = sa("203.0.113.20:4000");
    let open2 = sa("203.0.113.21:4000");
    let sym = sa("203.0.113.12:29236");
    let t_open = join(&mut r, at(2000), open, "203.0.113.20:4000", NatCode::Open);
    let t_open2 = join(&mut r, at(2000), open2, "203.0.113.21:4000", NatCode::Open);
    let t_sym = join(
        &mut r,
        at(2000),
        sym,
        "198.51.100.18:4000",
        NatCode::Symmetric,
    );
    // The first box takes the one seed place of every substream: no relay bits.
    assert_eq!(subscribe(&mut r, at(2000), open, t_open, 0x0F), (0x0F, 0));
    // A box the mesh can reach is refused: others feed it.
    assert_eq!(subscribe(&mut r, at(2000), open2, t_open2, 0x0F), (0, 0x0F));
    // The NATed box out of everyone's reach is relayed, and told so in bits 4-7.
    assert_eq!(subscribe(&mut r, at(2000), sym, t_sym, 0x0F), (0xFF, 0));
    let sent = play(&mut r, 2000, 3000, &ts);
    assert!(to_of(&sent, sym) > 100_000, "{sent:?}");
    assert_eq!(r.bytes_relayed(0), to_of(&sent, sym));
    assert_eq!(r.relay_refused(), 0);
    // The box found a parent for substreams 2 and 3: only 0 and 1 are still relayed.
    assert_eq!(subscribe(&mut r, at(5000), sym, t_sym, 0x03), (0x33, 0x00));
    let before = r.bytes_relayed(0);
    let sent = play(&mut r, 5000, 2000, &ts);
    let half = r.bytes_relayed(0) - before;
    assert_eq!(half, to_of(&sent, sym));
    assert!(half > 0 && half < to_of(&sent, open) * 3 / 4, "{sent:?}");
    // Dropping the rest ends the relay.
    assert_eq!(subscribe(&mut r, at(7000), sym, t_sym, 0), (0, 0));
    let before = r.bytes_relayed(0);
    play(&mut r, 7000, 1000, &ts);
    assert_eq!(r.bytes_relayed(0), before);
}

fn to_of(sent: &[(SocketAddr, usize)], a: SocketAddr) -> u64 {
    sent.iter().find(|x| x.0 == a).map_or(0, |x| x.1) as u64
}

const OPEN: &str = "203.0.113.20:4000";
const SYM: &str = "203.0.113.12:29236";

/// A root with `relay_kbps` after 2 s of source, an open box that took every seed place, and a
/// symmetric box; returns (root, symmetric box's token).
fn seeded(relay_kbps: u32, ts: &[u8]) -> (Root, u32) {
    let mut r = root(relay_kbps);
    play(&mut r, 0, 2000, ts);
    let t_open = join(&mut r, at(2000), sa(OPEN), OPEN, NatCode::Open);
    let t_sym = join(
        &mut r,
        at(2000),
        sa(SYM),
        "198.51.100.18:4000",
        NatCode::Symmetric,
    );
    assert_eq!(
        subscribe(&mut r, at(2000), sa(OPEN), t_open, 0x0F),
        (0x0F, 0)
    );
    (r, t_sym)
}

#[test]
fn admission_keeps_relay_within_relay_kbps() {
    let ts = sample();
    // 300 kbit/s: one substream of a ~1 Mbit/s channel fits, a second does not.
    let (mut r, t_sym) = seeded(300, &ts);
    assert_eq!(
        subscribe(&mut r, at(2000), sa(SYM), t_sym, 0x0F),
        (0x11, 0x0E)
    );
    // No relay at all with relay_kbps 0.
    let (mut r, t_sym) = seeded(0, &ts);
    assert_eq!(subscribe(&mut r, at(2000), sa(SYM), t_sym, 0x0F), (0, 0x0F));
    play(&mut r, 2000, 1000, &ts);
    assert_eq!(r.bytes_relayed(0), 0);
}
