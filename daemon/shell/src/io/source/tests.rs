//! Loopback tests of [`Source`]: UDP, HTTP (with reconnect), and a looping file.

use super::*;
use crate::clock;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream, UdpSocket};

const TOKEN: Token = 5;

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Services `src` (with real time plus `skew`) until `done` or a 3 s deadline; returns the bytes.
fn drive(
    src: &mut Source,
    r: &mut Reactor,
    skew: Duration,
    got: &mut Vec<u8>,
    mut side: impl FnMut(),
    mut done: impl FnMut(&Source, &[u8]) -> bool,
) -> bool {
    let deadline = clock::now() + Duration::from_secs(3);
    loop {
        let now = clock::now() + skew;
        src.service(now, r, &mut |b| got.extend_from_slice(b));
        side();
        if done(src, got) {
            return true;
        }
        let real = clock::now();
        if real > deadline {
            return false;
        }
        let wake = real + Duration::from_millis(20);
        r.wait(real, Some(wake)).unwrap();
    }
}

#[test]
fn udp_source_receives_datagrams() {
    let port = free_udp_port();
    let uri: SourceUri = format!("udp://127.0.0.1:{port}").parse().unwrap();
    let mut r = Reactor::new(8).unwrap();
    let mut src = Source::open(&uri, clock::now());
    src.register(&r, TOKEN);
    src.register(&r, TOKEN); // twice is fine
    assert_eq!(src.state(), SourceState::Connecting);
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..5u8 {
        tx.send_to(&[i; 1316], ("127.0.0.1", port)).unwrap();
    }
    // Readiness is reported for the token.
    let t = clock::now();
    let ready = r.wait(t, Some(t + Duration::from_secs(2))).unwrap();
    assert_eq!(ready.first().map(|x| x.token), Some(TOKEN));
    let mut got = Vec::new();
    assert!(drive(
        &mut src,
        &mut r,
        Duration::ZERO,
        &mut got,
        || {},
        |_, g| g.len() >= 5 * 1316
    ));
    assert_eq!(got.len(), 5 * 1316);
    assert!(got
        .chunks(1316)
        .enumerate()
        .all(|(i, c)| c.iter().all(|&b| b == i as u8)));
    assert_eq!(src.state(), SourceState::Live);
    assert_eq!(src.bytes_in(), 5 * 1316);
    assert!(!src.take_discontinuity());
    assert_eq!(src.state().to_string(), "live");
}

#[test]
fn udp_source_bind_failure_retries() {
    // Binding a non-local address fails: the source retries, it does not panic or end.
    let uri: SourceUri = "udp://192.0.2.1:5000".parse().unwrap();
    let now = clock::now();
    let mut src = Source::open(&uri, now);
    assert_eq!(src.state(), SourceState::Retrying);
    assert_eq!(src.next_wakeup(), Some(now + Duration::from_millis(500)));
    let r = Reactor::new(8).unwrap();
    src.service(now + Duration::from_millis(500), &r, &mut |_| panic!());
    assert_eq!(src.next_wakeup(), Some(now + Duration::from_millis(1500)));
}

#[test]
fn multicast_join_does_not_panic() {
    // Whether loopback can join a group depends on the host; either way the source is usable.
    let port = free_udp_port();
    let uri: SourceUri = format!("udp://239.255.7.7:{port}").parse().unwrap();
    let src = Source::open(&uri, clock::now());
    assert!(matches!(
        src.state(),
        SourceState::Connecting | SourceState::Retrying
    ));
}

/// A one-response-per-connection HTTP server, stepped without blocking from the test loop.
struct Server {
    listener: TcpListener,
    conn: Option<(TcpStream, Vec<u8>)>,
    requests: Vec<String>,
}

impl Server {
    fn new() -> (Server, u16) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        (
            Server {
                listener,
                conn: None,
                requests: Vec::new(),
            },
            port,
        )
    }

    /// Accepts, reads the request head, then writes `response` and closes.
    fn step(&mut self, response: &[u8]) {
        if self.conn.is_none() {
            if let Ok((s, _)) = self.listener.accept() {
                s.set_nonblocking(true).unwrap();
                self.conn = Some((s, Vec::new()));
            }
        }
        let Some((s, req)) = &mut self.conn else {
            return;
        };
        let mut b = [0u8; 512];
        loop {
            match s.read(&mut b) {
                Ok(0) => panic!("client closed early"),
                Ok(n) => req.extend_from_slice(&b[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        if req.ends_with(b"\r\n\r\n") {
            s.set_nonblocking(false).unwrap();
            s.write_all(response).unwrap();
            self.requests
                .push(String::from_utf8(std::mem::take(req)).unwrap());
            self.conn = None;
        }
    }
}

fn chunked(body: &[u8]) -> Vec<u8> {
    let mut r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for c in body.chunks(1000) {
        write!(r, "{:x}\r\n", c.len()).unwrap();
        r.extend_from_slice(c);
        r.extend_from_slice(b"\r\n");
    }
    r.extend_from_slice(b"0\r\n\r\n");
    r
}

#[test]
fn http_source_streams_and_reconnects() {
    let (mut server, port) = Server::new();
    let uri: SourceUri = format!("http://127.0.0.1:{port}/live/ch1.ts")
        .parse()
        .unwrap();
    let mut r = Reactor::new(8).unwrap();
    let mut src = Source::open(&uri, clock::now());
    src.register(&r, TOKEN);

    // First connection: plain body, then close.
    let mut got = Vec::new();
    let body1 = vec![0x47u8; 188 * 50];
    let mut resp1 = b"HTTP/1.0 200 OK\r\nContent-Type: video/mp2t\r\n\r\n".to_vec();
    resp1.extend_from_slice(&body1);
    let ok = drive(
        &mut src,
        &mut r,
        Duration::ZERO,
        &mut got,
        || server.step(&resp1),
        |s, g| g.len() == body1.len() && s.state() == SourceState::Retrying,
    );
    assert!(
        ok,
        "first body: got {} bytes, state {}",
        got.len(),
        src.state()
    );
    assert!(src.take_discontinuity());
    assert!(!src.take_discontinuity());
    let retry = src.next_wakeup().unwrap();
    assert!(
        retry > clock::now() + Duration::from_millis(300),
        "backoff ~500 ms"
    );

    // Second connection after the backoff: chunked body.
    got.clear();
    let body2: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
    let resp2 = chunked(&body2);
    let ok = drive(
        &mut src,
        &mut r,
        Duration::from_secs(1),
        &mut got,
        || server.step(&resp2),
        |s, g| g.len() == body2.len() && s.state() == SourceState::Retrying,
    );
    assert!(
        ok,
        "second body: got {} bytes, state {}",
        got.len(),
        src.state()
    );
    assert_eq!(got, body2);
    assert_eq!(src.bytes_in(), (body1.len() + body2.len()) as u64);
    let req = &server.requests;
    assert_eq!(req.len(), 2);
    assert!(
        req[0].starts_with("GET /live/ch1.ts HTTP/1.0\r\n"),
        "{}",
        req[0]
    );
    assert!(req[0].contains(&format!("\r\nHost: 127.0.0.1:{port}\r\n")));
    assert!(req[0].contains("\r\nUser-Agent: tvmeshd/"));
}

#[test]
fn http_source_error_status_and_refused_retry() {
    let (mut server, port) = Server::new();
    let uri: SourceUri = format!("http://127.0.0.1:{port}/").parse().unwrap();
    let mut r = Reactor::new(8).unwrap();
    let mut src = Source::open(&uri, clock::now());
    src.register(&r, TOKEN);
    let mut got = Vec::new();
    let resp = b"HTTP/1.0 404 Not Found\r\n\r\nnope";
    let ok = drive(
        &mut src,
        &mut r,
        Duration::ZERO,
        &mut got,
        || server.step(resp),
        |s, _| s.state() == SourceState::Retrying,
    );
    assert!(ok && got.is_empty());
    assert!(!src.take_discontinuity());

    // Nobody listening: connection refused, retried with a longer backoff.
    drop(server);
    let skew = Duration::from_secs(1);
    let ok = drive(
        &mut src,
        &mut r,
        skew,
        &mut got,
        || {},
        |s, _| {
            s.state() == SourceState::Retrying
                && s.next_wakeup() > Some(clock::now() + skew + Duration::from_millis(600))
        },
    );
    assert!(ok, "state {}", src.state());
    assert!(got.is_empty());
}

#[test]
fn file_source_loops_with_discontinuity() {
    let uri = SourceUri::File(file::SAMPLE.into());
    let r = Reactor::new(8).unwrap();
    let t0 = Instant::from_millis(10_000);
    let mut src = Source::open(&uri, t0);
    src.register(&r, TOKEN);
    let mut now = t0;
    let mut flags = Vec::new();
    let mut bytes = 0u64;
    while now < t0 + Duration::from_secs(25) {
        // Service until the next wakeup is in the future, like the event loop does.
        for _ in 0..1000 {
            src.service(now, &r, &mut |b| bytes += b.len() as u64);
            if src.take_discontinuity() {
                flags.push(bytes);
            }
            if src.next_wakeup().is_none_or(|w| w > now) {
                break;
            }
        }
        assert!(src.next_wakeup().is_some());
        now = now + Duration::from_millis(200);
    }
    let len = std::fs::metadata(file::SAMPLE).unwrap().len();
    assert_eq!(src.state(), SourceState::Live);
    // One loop, raised after the whole file (all its packets) went out and before the next pass.
    assert_eq!(flags.len(), 1);
    assert!(
        flags[0] <= len && flags[0] > len - 4096,
        "flag at {} of {len}",
        flags[0]
    );
    assert_eq!(bytes, src.bytes_in());
}

#[test]
fn missing_file_retries() {
    let uri: SourceUri = "file:/nonexistent/tvmesh.ts".parse().unwrap();
    let now = clock::now();
    let src = Source::open(&uri, now);
    assert_eq!(src.state(), SourceState::Retrying);
    assert_eq!(src.next_wakeup(), Some(now + Duration::from_millis(500)));
}
