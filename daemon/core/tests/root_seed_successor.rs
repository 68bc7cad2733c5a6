//! A stronger box takes a seed place: the root tells the old seed the new one (it hangs below
//! it) and tells the new seed the old one (a PEERS naming it), so the new seed greets it even
//! with no partner of its own. Without that, a box that found no partner in a flash crowd took
//! a place and that substream's tree never formed again (measured at 100,000 viewers).

use std::net::SocketAddr;
use tvmesh_core::root::{ChannelSpec, Root, RootConfig};
use tvmesh_core::time::Instant;
use tvmesh_core::wire::{Message, FLAG_REACHABLE};

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

#[test]
fn displaced_seed_and_successor_hear_of_each_other() {
    let now = Instant::from_millis(1_000);
    let cfg = RootConfig {
        seed_copies: 1,
        ..RootConfig::default()
    };
    let spec = [ChannelSpec {
        name: "demo",
        bitrate_kbps: 1000,
    }];
    let mut root = Root::new(cfg, &spec, now).unwrap();
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
