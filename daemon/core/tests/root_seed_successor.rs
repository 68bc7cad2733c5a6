//! Seed places changing hands.
//!
//! A stronger box takes a seed place: the root tells the old seed the new one (it hangs below
//! it) and tells the new seed the old one (a PEERS naming it), so the new seed greets it even
//! with no partner of its own. Without that, a box that found no partner in a flash crowd took
//! a place and that substream's tree never formed again (measured at 100,000 viewers).
//!
//! A seed that has had no partner for 1.5 s (its KEEPALIVEs say so) gives its place to a box that
//! has partners.

use std::net::SocketAddr;
use tvmesh_core::root::{ChannelSpec, Root, RootConfig};
use tvmesh_core::time::Instant;
use tvmesh_core::wire::{Message, FLAG_ALONE, FLAG_REACHABLE};

fn at(last: u8) -> SocketAddr {
    SocketAddr::from(([198, 51, 100, last], 9000))
}

/// Every datagram the root has for anyone, parsed into (destination, owned summary).
fn drain(root: &mut Root) -> Vec<(SocketAddr, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = [0u8; 2048];
    while let Some(t) = root.poll_transmit(&mut buf) {
        out.push((t.dst, buf[..t.len].to_vec()));
    }
    out
}

/// Joins `from` with `upload_kbps` and returns its session token.
fn join(root: &mut Root, now: Instant, from: SocketAddr, upload_kbps: u32) -> u32 {
    let mut buf = [0u8; 256];
    let n = Message::Join {
        nonce: 5,
        flags: FLAG_REACHABLE,
        upload_kbps,
        name: b"demo",
    }
    .emit(&mut buf)
    .unwrap();
    root.handle_datagram(now, from, &buf[..n]);
    drain(root)
        .iter()
        .filter(|(d, _)| *d == from)
        .find_map(|(_, b)| match Message::parse(b) {
            Ok(Message::JoinAck { token, .. }) => Some(token),
            _ => None,
        })
        .expect("JOIN_ACK")
}

fn subscribe(root: &mut Root, now: Instant, from: SocketAddr, token: u32, mask: u8) {
    let mut buf = [0u8; 64];
    let n = Message::Subscribe {
        channel: 0,
        token,
        mask,
        from_seq: 0,
    }
    .emit(&mut buf)
    .unwrap();
    root.handle_datagram(now, from, &buf[..n]);
}

/// Addresses named in PEERS datagrams to `to`.
fn peers_to(out: &[(SocketAddr, Vec<u8>)], to: SocketAddr) -> Vec<SocketAddr> {
    out.iter()
        .filter(|(d, _)| *d == to)
        .filter_map(|(_, b)| match Message::parse(b) {
            Ok(Message::Peers { peers, .. }) => Some(peers.iter().map(|(a, _)| a).collect()),
            _ => None,
        })
        .flat_map(|v: Vec<SocketAddr>| v)
        .collect()
}

/// A root with one seed copy per substream and one channel, "demo".
fn one_copy_root(now: Instant) -> Root {
    let cfg = RootConfig {
        seed_copies: 1,
        ..RootConfig::default()
    };
    let spec = [ChannelSpec {
        name: "demo",
        bitrate_kbps: 1000,
    }];
    Root::new(cfg, &spec, now).unwrap()
}

#[test]
fn displaced_seed_and_successor_hear_of_each_other() {
    let now = Instant::from_millis(1_000);
    let mut root = one_copy_root(now);
    let (weak, strong) = (at(10), at(11));
    let tw = join(&mut root, now, weak, 600);
    subscribe(&mut root, now, weak, tw, 0b1111);
    drain(&mut root);
    assert_eq!(root.seed_addrs(0, 2).collect::<Vec<_>>(), vec![weak]);
    // The strong box has no partner and asks the root for substream 2.
    let ts = join(&mut root, now, strong, 8000);
    drain(&mut root);
    subscribe(&mut root, now, strong, ts, 0b0100);
    let out = drain(&mut root);
    assert_eq!(root.seed_addrs(0, 2).collect::<Vec<_>>(), vec![strong]);
    // The old seed is refused substream 2 and told the new seed.
    let refused = out.iter().any(|(d, b)| {
        *d == weak
            && matches!(Message::parse(b), Ok(Message::SubAck { refused, .. }) if refused == 0b0100)
    });
    assert!(refused, "old seed not told it lost substream 2");
    assert_eq!(peers_to(&out, weak), vec![strong]);
    // The new seed is told the old one.
    assert_eq!(peers_to(&out, strong), vec![weak]);
}

fn keepalive(root: &mut Root, now: Instant, from: SocketAddr, token: u32, flags: u8) {
    let mut buf = [0u8; 64];
    let n = Message::Keepalive {
        channel: 0,
        token,
        want_seq: 0,
        flags,
    }
    .emit(&mut buf)
    .unwrap();
    root.handle_datagram(now, from, &buf[..n]);
}

/// A seed whose keepalives say it has no partner feeds only itself. After 1.5 s of that (counted from
/// when it took the place), a box with partners that asks takes its place; a box with no partner either does not, nor does
/// anyone before. (In the simulator such a seed, a box behind a NAT that had lost every
/// partner, kept its place to the end of the run: a quarter of the stream missing for all.)
#[test]
fn a_seed_with_no_partner_yields_to_a_box_with_partners() {
    let t0 = Instant::from_millis(1_000);
    let at_ms = |ms: u64| Instant::from_millis(1_000 + ms);
    let mut root = one_copy_root(t0);
    let (lone, other) = (at(20), at(21));
    // The asker is not stronger (8000 kbit/s over two places against 4000 over one), so
    // strength alone never moves the place.
    let tl = join(&mut root, t0, lone, 8000);
    subscribe(&mut root, t0, lone, tl, 0b0101);
    let to = join(&mut root, t0, other, 4000);
    drain(&mut root);
    let seed2 = |root: &Root| root.seed_addrs(0, 2).collect::<Vec<_>>();
    // The seed keeps saying it is alone (every 250 ms, as seeds do), so it is never silent.
    let mut last_ka = 0;
    let mut tick = |root: &mut Root, ms: u64| {
        while last_ka + 250 <= ms {
            last_ka += 250;
            keepalive(root, at_ms(last_ka), lone, tl, FLAG_ALONE);
        }
        drain(root);
    };
    tick(&mut root, 0);
    // 1.25 s alone: a box with partners asking is refused.
    tick(&mut root, 1_250);
    keepalive(&mut root, at_ms(1_250), other, to, 0);
    subscribe(&mut root, at_ms(1_250), other, to, 0b0100);
    drain(&mut root);
    assert_eq!(seed2(&root), vec![lone], "place moved before SEED_ALONE");
    // 2 s alone, but the asker is alone too: refused.
    tick(&mut root, 2_000);
    keepalive(&mut root, at_ms(2_000), other, to, FLAG_ALONE);
    subscribe(&mut root, at_ms(2_000), other, to, 0b0100);
    drain(&mut root);
    assert_eq!(
        seed2(&root),
        vec![lone],
        "an alone box took an alone seed's place"
    );
    // The asker now has a partner: it takes the place.
    tick(&mut root, 2_250);
    keepalive(&mut root, at_ms(2_250), other, to, 0);
    subscribe(&mut root, at_ms(2_250), other, to, 0b0100);
    drain(&mut root);
    assert_eq!(seed2(&root), vec![other]);
    // Its other place stays until someone with partners asks for it.
    assert_eq!(root.seed_addrs(0, 0).collect::<Vec<_>>(), vec![lone]);
}

/// A box says so in its KEEPALIVE while it has no partner (and only then).
#[test]
fn a_box_without_partners_says_it_is_alone() {
    use tvmesh_core::peer::{Peer, PeerConfig};
    let root = at(1);
    let t0 = Instant::from_millis(1_000);
    let mut p = Peer::new(PeerConfig::default(), root, "demo", t0).unwrap();
    let mut buf = [0u8; 2048];
    let t = p.poll_transmit(t0, &mut buf).expect("JOIN");
    let Ok(Message::Join { nonce, .. }) = Message::parse(&buf[..t.len]) else {
        panic!("not a JOIN");
    };
    let n = Message::JoinAck {
        channel: 0,
        nonce,
        token: 77,
        live_seq: 1_000,
        rap_seq: 1_000,
        bitrate_kbps: 1000,
        now_ms: 0,
        flags: 0,
    }
    .emit(&mut buf)
    .unwrap();
    let ack = buf[..n].to_vec();
    p.handle_datagram(t0, root, &ack);
    let mut flags = None;
    while let Some(t) = p.poll_transmit(t0, &mut buf) {
        if let Ok(Message::Keepalive { flags: f, .. }) = Message::parse(&buf[..t.len]) {
            flags = Some(f);
        }
    }
    let f = flags.expect("a KEEPALIVE right after JOIN_ACK");
    assert_ne!(f & FLAG_ALONE, 0, "no partner yet: {f:#04x}");
}
