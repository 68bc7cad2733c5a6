use super::*;

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

/// Reads one datagram from a blocking test socket (bounded by its read timeout).
fn recv(s: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut b = [0u8; 64];
    let (n, from) = s.recv_from(&mut b).expect("datagram within 2 s");
    (b[..n].to_vec(), from)
}

#[test]
fn sprays_routes_the_answering_port_and_closes_the_rest() {
    let reactor = Reactor::new(8).unwrap();
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let dst = peer.local_addr().unwrap();
    let mut spray = Spray::new(4);
    let probe = [0xC1, 0x21, 0, 0, 0, 0, 0, 42, 0, 0, 0xFD];
    let req = SprayRequest {
        dst,
        ports: 16, // more than configured: capped at 4
        ttl: Some(2),
        probe,
    };
    spray.open(at(0), &reactor, &req);
    assert_eq!((spray.open_count(), spray.stats.opened), (4, 4));
    // Four probes from four ports, the request's bytes.
    let mut froms = Vec::new();
    for _ in 0..4 {
        let (d, from) = recv(&peer);
        assert_eq!(d, probe);
        froms.push(from);
    }
    froms.sort();
    froms.dedup();
    assert_eq!(froms.len(), 4);
    // A stranger's datagram is not passed on and routes nothing.
    let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
    stranger.send_to(b"x", froms[2]).unwrap();
    // The peer answers the third port.
    peer.send_to(b"ack", froms[2]).unwrap();
    let tok = (0..4)
        .map(|i| TOKEN_SPRAY + i)
        .find(|t| {
            spray.socks[(*t - TOKEN_SPRAY) as usize]
                .as_ref()
                .is_some_and(|s| s.local_addr().unwrap().port() == froms[2].port())
        })
        .unwrap();
    assert!(spray.owns(tok) && !spray.owns(TOKEN_SPRAY + 4));
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    let t = std::time::Instant::now();
    while got.is_empty() && t.elapsed() < Duration::from_secs(2) {
        spray.on_readable(at(5), tok, &mut buf, |from, d| got.push((from, d.to_vec())));
    }
    assert_eq!(got, vec![(dst, b"ack".to_vec())]);
    assert_eq!(spray.stats.routes, 1);
    // Everything to the peer now leaves from that port; other addresses are not routed.
    assert!(spray.send(at(6), dst, b"hello"));
    assert!(!spray.send(at(6), stranger.local_addr().unwrap(), b"no"));
    assert_eq!(recv(&peer), (b"hello".to_vec(), froms[2]));
    // Every sprayed peer has a route: the other three close at once.
    spray.handle_timeout(at(7), &reactor);
    assert_eq!(spray.open_count(), 1);
    assert_eq!(spray.poll_timeout(), Some(at(6) + ROUTE_IDLE));
    // The route outlives LINGER while used, then goes idle and closes.
    spray.handle_timeout(at(6) + ROUTE_IDLE, &reactor);
    assert_eq!(
        (spray.open_count(), spray.send(at(1), dst, b"x")),
        (0, false)
    );
}

#[test]
fn unanswered_spray_closes_after_linger() {
    let reactor = Reactor::new(8).unwrap();
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut spray = Spray::new(3);
    let req = SprayRequest {
        dst: peer.local_addr().unwrap(),
        ports: 3,
        ttl: None,
        probe: [0; 11],
    };
    spray.open(at(0), &reactor, &req);
    spray.handle_timeout(at(100), &reactor);
    assert_eq!(spray.open_count(), 3, "still sweeping");
    assert_eq!(spray.poll_timeout(), Some(at(0) + LINGER));
    spray.handle_timeout(at(0) + LINGER, &reactor);
    assert_eq!((spray.open_count(), spray.poll_timeout()), (0, None));
    // Zero ports configured: nothing opens.
    let mut none = Spray::new(0);
    none.open(at(0), &reactor, &req);
    assert_eq!(none.open_count(), 0);
    assert!(!none.owns(TOKEN_SPRAY));
}
