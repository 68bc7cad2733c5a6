use super::*;

/// The request coturn's `turnutils_stunclient` sends (captured on loopback): a bare 20-byte
/// Binding request.
const TURNUTILS_REQUEST: [u8; 20] = [
    0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 0x35, 0x2c, 0xce, 0xed, 0xd8, 0x74, 0x93, 0x95,
    0xaf, 0x32, 0xb6, 0x29,
];

fn src() -> SocketAddr {
    "203.0.113.10:40000".parse().unwrap()
}

/// Answers the captured turnutils request with `budget` into `out`.
fn turnutils(budget: usize, out: &mut [u8]) -> Result<Answer, ServerError> {
    answer(
        &TURNUTILS_REQUEST,
        src(),
        Local::PRIMARY,
        &addrs(),
        budget,
        out,
    )
}

fn addrs() -> ServerAddrs {
    ServerAddrs {
        primary: "203.0.113.2:3478".parse().unwrap(),
        alt_port: Some(3479),
        alt_ip: Some("203.0.113.3".parse().unwrap()),
    }
}

#[test]
fn kind_tells_stun_from_tvmesh() {
    assert_eq!(kind(&TURNUTILS_REQUEST), Kind::Stun);
    assert_eq!(kind(&[0xC1, 0x01, 0, 0, 1, 2, 3, 4]), Kind::Tvmesh);
    assert_eq!(kind(&[0x40; 20]), Kind::Other);
    let mut long = TURNUTILS_REQUEST;
    long[3] = 8; // claims attributes it does not carry
    assert_eq!(kind(&long), Kind::Other);
    assert_eq!(kind(&[]), Kind::Other);
}

#[test]
fn minimal_answer_to_turnutils_request() {
    let mut out = [0u8; 128];
    let budget = 20 + Credits::grace(src());
    let a = turnutils(budget, &mut out).unwrap();
    assert_eq!((a.len, a.from, a.full), (32, Local::PRIMARY, false));
    #[rustfmt::skip]
    let want: [u8; 32] = [
        0x01, 0x01, 0x00, 0x0c, 0x21, 0x12, 0xa4, 0x42,
        0x35, 0x2c, 0xce, 0xed, 0xd8, 0x74, 0x93, 0x95, 0xaf, 0x32, 0xb6, 0x29,
        // XOR-MAPPED-ADDRESS: IPv4, port 40000 ^ 0x2112, 203.0.113.10 ^ 2112a442
        0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xbd, 0x52, 0xea, 0x12, 0xd5, 0x48,
    ];
    assert_eq!(out[..a.len], want);
    assert_eq!(turnutils(31, &mut out), Err(ServerError::Budget));
}

#[test]
fn full_answer_when_budget_allows() {
    let mut out = [0u8; 128];
    let a = turnutils(64, &mut out).unwrap();
    assert_eq!((a.len, a.full), (64, true));
    #[rustfmt::skip]
    let want: [u8; 64] = [
        0x01, 0x01, 0x00, 0x2c, 0x21, 0x12, 0xa4, 0x42,
        0x35, 0x2c, 0xce, 0xed, 0xd8, 0x74, 0x93, 0x95, 0xaf, 0x32, 0xb6, 0x29,
        0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xbd, 0x52, 0xea, 0x12, 0xd5, 0x48,
        // RESPONSE-ORIGIN 203.0.113.2:3478
        0x80, 0x2b, 0x00, 0x08, 0x00, 0x01, 0x0d, 0x96, 0xcb, 0x00, 0x71, 0x02,
        // OTHER-ADDRESS 203.0.113.3:3479
        0x80, 0x2c, 0x00, 0x08, 0x00, 0x01, 0x0d, 0x97, 0xcb, 0x00, 0x71, 0x03,
        // FINGERPRINT (CRC-32 of the above ^ 0x5354554e)
        0x80, 0x28, 0x00, 0x04, FP[0], FP[1], FP[2], FP[3],
    ];
    assert_eq!(out[..a.len], want);
}

/// FINGERPRINT of `full_answer_when_budget_allows`, computed independently
/// (`zlib.crc32(msg[:56]) ^ 0x5354554e` in Python).
const FP: [u8; 4] = [0xe0, 0x36, 0x8d, 0xc2];

#[test]
fn change_request_picks_the_socket() {
    let mut req = [0u8; 64];
    let n = Builder::binding(Class::Request, [9; 12], &mut req)
        .unwrap()
        .change_request(true, true)
        .unwrap()
        .finish();
    let mut out = [0u8; 128];
    let a = answer(&req[..n], src(), Local::PRIMARY, &addrs(), 1000, &mut out).unwrap();
    assert_eq!(
        a.from,
        Local {
            alt_ip: true,
            alt_port: true
        }
    );
    let m = Stun::parse(&out[..a.len]).unwrap();
    assert_eq!(
        m.response_origin(),
        Some("203.0.113.3:3479".parse().unwrap())
    );
    assert_eq!(m.other_address(), Some("203.0.113.2:3478".parse().unwrap()));
    // Port only, received on the alternate port: answer from the primary port.
    let n = Builder::binding(Class::Request, [9; 12], &mut req)
        .unwrap()
        .change_request(false, true)
        .unwrap()
        .finish();
    let on = Local {
        alt_ip: false,
        alt_port: true,
    };
    let a = answer(&req[..n], src(), on, &addrs(), 1000, &mut out).unwrap();
    assert_eq!(a.from, Local::PRIMARY);
    // No alternate IP configured: change-IP cannot be honoured.
    let port_only = ServerAddrs {
        alt_ip: None,
        ..addrs()
    };
    let n = Builder::binding(Class::Request, [9; 12], &mut req)
        .unwrap()
        .change_request(true, false)
        .unwrap()
        .finish();
    assert_eq!(
        answer(&req[..n], src(), Local::PRIMARY, &port_only, 1000, &mut out),
        Err(ServerError::ChangeUnavailable)
    );
    assert_eq!(
        port_only.other(Local::PRIMARY),
        Some("203.0.113.2:3479".parse().unwrap())
    );
}

#[test]
fn non_requests_are_dropped() {
    let mut out = [0u8; 128];
    let mut resp = TURNUTILS_REQUEST;
    resp[1] = 0x01;
    resp[0] = 0x01; // success response
    assert_eq!(
        answer(&resp, src(), Local::PRIMARY, &addrs(), 1000, &mut out),
        Err(ServerError::NotBindingRequest)
    );
    assert_eq!(
        answer(&[0xC1; 30], src(), Local::PRIMARY, &addrs(), 1000, &mut out),
        Err(ServerError::Malformed(StunError::NotStun))
    );
    assert_eq!(turnutils(1000, &mut out[..40]), Err(ServerError::Buffer));
}

#[test]
fn credits_never_exceed_received_plus_grace() {
    let mut c = Credits::new(8);
    let a = src();
    let mut sent = 0;
    let mut received = 0;
    for _ in 0..10 {
        received += 20;
        let budget = c.received(a, 20);
        let n = budget.min(32);
        if n == 32 {
            c.sent(a, n);
            sent += n;
        }
        assert!(sent <= received + 10 * Credits::grace(a));
    }
    assert_eq!(sent, 320);
    // A padded request earns a full answer at once.
    let b: SocketAddr = "198.51.100.7:9".parse().unwrap();
    assert_eq!(c.received(b, 100), 112);
    c.validate(b);
    assert_eq!(c.received(b, 1), usize::MAX);
}

#[test]
fn collision_evicts_credit() {
    let mut c = Credits::new(1);
    let a = src();
    let b: SocketAddr = "198.51.100.7:9".parse().unwrap();
    c.received(a, 1000);
    assert_eq!(c.received(b, 0), 12);
    assert_eq!(c.received(a, 0), 12);
}

proptest::proptest! {
    #[test]
    fn answer_never_exceeds_budget(
        bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..120),
        budget in 0usize..200,
    ) {
        let mut b = bytes;
        if b.len() >= 8 {
            b[0] &= 0x3F;
            b[4..8].copy_from_slice(&stun::COOKIE.to_be_bytes());
        }
        let mut out = [0u8; 128];
        if let Ok(a) = answer(&b, src(), Local::PRIMARY, &addrs(), budget, &mut out) {
            proptest::prop_assert!(a.len <= budget);
        }
    }
}
