//! Loopback tests of the HTTP server, driven by a real [`Reactor`] in the test thread.
//!
//! Client sockets are non-blocking and registered in the same reactor (tokens below `BASE`), so
//! every wait wakes on client or server events; loops are bounded by deadlines, never by sleeps.

use super::html_escape;
use super::server::*;
use crate::clock;
use crate::reactor::{Reactor, Ready};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;
use tvmesh_core::time::{earliest, Instant};

const BASE: u64 = 1000;
const PATTERN_LEN: usize = 64 * 1024;

fn limits() -> HttpLimits {
    HttpLimits {
        max_conns: 4,
        max_request: 512,
        max_response: 4096,
        header_timeout: Duration::from_secs(5),
        write_timeout: Duration::from_secs(5),
        stream_stall_timeout: Duration::from_secs(10),
    }
}

struct H {
    srv: HttpServer,
    reactor: Reactor,
    ready: Vec<Ready>,
    next_client: u64,
    streams: Vec<ConnId>,
    closed: Vec<ConnId>,
    held: Vec<ConnId>,
}

impl H {
    fn new(l: HttpLimits) -> H {
        let reactor = Reactor::new(32).unwrap();
        let srv = HttpServer::bind("127.0.0.1:0".parse().unwrap(), l).unwrap();
        srv.register(&reactor, BASE).unwrap();
        H {
            srv,
            reactor,
            ready: Vec::new(),
            next_client: 1,
            streams: vec![],
            closed: vec![],
            held: vec![],
        }
    }

    /// A non-blocking client, watched by the reactor so that waits wake for it too.
    fn connect(&mut self) -> TcpStream {
        let c = TcpStream::connect(self.srv.local_addr()).unwrap();
        c.set_nonblocking(true).unwrap();
        self.reactor.add(&c, self.next_client, true, false).unwrap();
        self.next_client += 1;
        c
    }

    /// One loop turn: wait (at most `max`), dispatch, expire, run the application.
    fn turn(&mut self, max: Duration) {
        let now = clock::now();
        let deadline = earliest(self.srv.poll_timeout(), Some(now + max));
        self.ready.clear();
        self.ready
            .extend_from_slice(self.reactor.wait(now, deadline).unwrap());
        let now = clock::now();
        for &r in &self.ready {
            if r.token >= BASE {
                assert!(self.srv.owns(r.token));
                self.srv.handle_ready(now, &self.reactor, r);
            }
        }
        self.srv.handle_timeout(now, &self.reactor);
        self.app();
    }

    fn app(&mut self) {
        while let Some((c, m, path, query)) = self.srv.poll_request() {
            let (path, query) = (path.to_owned(), query.to_owned());
            let r = &self.reactor;
            match path.as_str() {
                "/" => self
                    .srv
                    .respond(r, c, 200, "text/html; charset=utf-8", b"hello"),
                "/q" => self.srv.respond(r, c, 200, "text/plain", query.as_bytes()),
                "/post" if m == Method::Post => {
                    let body = self.srv.body(c).to_vec();
                    self.srv
                        .respond(r, c, 200, "application/octet-stream", &body)
                }
                "/big" => self.srv.respond(r, c, 200, "text/plain", &[b'x'; 5000]),
                "/stream.ts" => {
                    self.srv.start_stream(r, c, "video/mp2t");
                    self.streams.push(c);
                }
                "/hold" => self.held.push(c),
                _ => self.srv.respond(r, c, 404, "text/plain", b"not found\n"),
            }
        }
        while let Some(c) = self.srv.poll_closed() {
            self.closed.push(c);
            self.streams.retain(|&s| s != c);
            self.held.retain(|&s| s != c);
        }
    }

    /// Turns until `done`, failing after `limit`.
    fn until(&mut self, limit: Duration, mut done: impl FnMut(&mut H) -> bool) {
        let end = clock::now() + limit;
        while !done(self) {
            assert!(clock::now() < end, "condition not met within {limit:?}");
            self.turn(Duration::from_millis(50));
        }
    }

    /// Reads `c` to end of file while serving; Err on a reset.
    fn read_to_end(&mut self, c: &mut TcpStream) -> std::io::Result<Vec<u8>> {
        let end = clock::now() + Duration::from_secs(5);
        let (mut v, mut buf) = (Vec::new(), [0u8; 4096]);
        loop {
            match c.read(&mut buf) {
                Ok(0) => return Ok(v),
                Ok(n) => v.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    assert!(
                        clock::now() < end,
                        "no EOF within 5 s; got {:?}",
                        String::from_utf8_lossy(&v)
                    );
                    self.turn(Duration::from_millis(50));
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn exchange(&mut self, request: &[u8]) -> Vec<u8> {
        let mut c = self.connect();
        c.write_all(request).unwrap();
        self.read_to_end(&mut c).unwrap()
    }
}

fn text(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

#[test]
fn get_returns_body_with_exact_headers() {
    let mut h = H::new(limits());
    let got = h.exchange(b"GET / HTTP/1.0\r\nHost: box\r\nUser-Agent: test\r\n\r\n");
    assert_eq!(
        text(&got),
        "HTTP/1.0 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 5\r\n\
         Connection: close\r\nCache-Control: no-cache\r\n\r\nhello"
    );
    h.until(Duration::from_secs(2), |h| h.srv.conns() == 0);
}

#[test]
fn not_found_query_post_and_head() {
    let mut h = H::new(limits());
    let got = text(&h.exchange(b"GET /nope HTTP/1.1\r\n\r\n"));
    assert!(
        got.starts_with("HTTP/1.0 404 Not Found\r\n") && got.ends_with("\r\n\r\nnot found\n"),
        "{got}"
    );

    let got = text(&h.exchange(b"GET /q?a=1&b=%20 HTTP/1.0\r\n\r\n"));
    assert!(
        got.contains("Content-Length: 9\r\n") && got.ends_with("\r\n\r\na=1&b=%20"),
        "{got}"
    );

    let got = text(&h.exchange(b"POST /post HTTP/1.0\r\nContent-Length: 6\r\n\r\nab\r\ncd"));
    assert!(got.ends_with("\r\n\r\nab\r\ncd"), "{got}");

    let got = text(&h.exchange(b"HEAD / HTTP/1.0\r\n\r\n"));
    assert!(got.contains("\r\nContent-Length: 5\r\n"), "{got}");
    assert!(got.ends_with("\r\n\r\n"), "HEAD sent a body: {got}");
}

#[test]
fn bad_requests_get_4xx_and_close() {
    let mut h = H::new(limits());
    let long = format!("GET /{} HTTP/1.0\r\n\r\n", "a".repeat(2000));
    let got = text(&h.exchange(long.as_bytes()));
    assert!(got.starts_with("HTTP/1.0 413 "), "{got}");
    let got = text(&h.exchange(b"DELETE / HTTP/1.0\r\n\r\n"));
    assert!(
        got.starts_with("HTTP/1.0 405 ") && got.contains("\r\nAllow: GET, HEAD, POST\r\n"),
        "{got}"
    );
    let got = text(&h.exchange(b"GET /stream/../../etc/passwd HTTP/1.0\r\n\r\n"));
    assert!(got.starts_with("HTTP/1.0 400 "), "{got}");
    let got = text(&h.exchange(b"\x16\x03\x01garbage\r\n\r\n"));
    assert!(got.starts_with("HTTP/1.0 400 "), "{got}");
    // A response larger than max_response becomes a 500.
    let got = text(&h.exchange(b"GET /big HTTP/1.0\r\n\r\n"));
    assert!(got.starts_with("HTTP/1.0 500 "), "{got}");
    h.until(Duration::from_secs(2), |h| h.srv.conns() == 0);
}

#[test]
fn slowloris_is_cut_off_while_others_are_served() {
    let mut h = H::new(HttpLimits {
        header_timeout: Duration::from_millis(300),
        ..limits()
    });
    let t0 = clock::now();
    let mut slow = h.connect();
    slow.write_all(b"GET / HTTP/1.0\r\nHost: bo").unwrap();
    // Meanwhile the server answers someone else at once.
    let got = text(&h.exchange(b"GET / HTTP/1.0\r\n\r\n"));
    assert!(got.ends_with("hello"));
    assert!(clock::now().saturating_since(t0) < Duration::from_millis(300));
    let rest = h.read_to_end(&mut slow).map(|v| v.len());
    let waited = clock::now().saturating_since(t0);
    assert!(matches!(rest, Ok(0) | Err(_)), "{rest:?}");
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    assert_eq!(h.srv.conns(), 0);
}

#[test]
fn max_conns_refuses_the_extra_connection_and_keeps_serving() {
    let mut h = H::new(HttpLimits {
        max_conns: 2,
        ..limits()
    });
    let mut a = h.connect();
    let _b = h.connect();
    h.until(Duration::from_secs(2), |h| h.srv.conns() == 2);
    let mut extra = h.connect();
    match h.read_to_end(&mut extra) {
        Ok(v) => assert!(
            v.is_empty() || text(&v).starts_with("HTTP/1.0 503 "),
            "{}",
            text(&v)
        ),
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset),
    }
    assert_eq!(h.srv.conns(), 2);
    a.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    assert!(text(&h.read_to_end(&mut a).unwrap()).ends_with("hello"));
    // A slot is free again once `a` has closed its end too.
    drop(a);
    h.until(Duration::from_secs(2), |h| h.srv.conns() == 1);
    assert!(text(&h.exchange(b"GET / HTTP/1.0\r\n\r\n")).ends_with("hello"));
}

fn pattern() -> Vec<u8> {
    (0..PATTERN_LEN + 251).map(|i| (i % 251) as u8).collect()
}

/// Opens /stream.ts and waits until the server made it a stream.
fn open_stream(h: &mut H) -> (TcpStream, ConnId) {
    let mut c = h.connect();
    c.write_all(b"GET /stream.ts HTTP/1.0\r\n\r\n").unwrap();
    h.until(Duration::from_secs(2), |h| h.srv.streams() == 1);
    (c, h.streams[0])
}

/// Writes the pattern (continuing at `pos`) until the socket is full; returns bytes written.
fn fill(h: &mut H, conn: ConnId, pat: &[u8], pos: &mut usize) -> usize {
    let mut total = 0;
    loop {
        let n = h
            .srv
            .stream_write(&h.reactor, conn, &pat[*pos % 251..][..PATTERN_LEN]);
        if n == 0 {
            return total;
        }
        *pos += n;
        total += n;
        assert!(
            total < 256 << 20,
            "stream_write never reported a full socket"
        );
    }
}

#[test]
fn stream_write_reports_full_socket_and_delivers_in_order() {
    let mut h = H::new(limits());
    let (mut c, conn) = open_stream(&mut h);
    let pat = pattern();
    let mut pos = 0;
    let first = fill(&mut h, conn, &pat, &mut pos);
    assert!(first > 0);
    assert!(!h.srv.stream_writable(conn) && h.srv.writable_streams().next().is_none());
    assert_eq!(
        h.srv.stream_write(&h.reactor, conn, b"x"),
        0,
        "known full: must not write"
    );

    // A slow reader: small reads, one per turn; the server refills whenever the stream drains.
    let target = pos + (2 << 20);
    let header = b"HTTP/1.0 200 OK\r\nContent-Type: video/mp2t\r\nConnection: close\r\nCache-Control: no-cache\r\n\r\n";
    let (mut got, mut buf, mut refills) = (Vec::new(), vec![0u8; 8192], 0);
    let mut received = 0usize;
    let end = clock::now() + Duration::from_secs(20);
    while received < target {
        assert!(
            clock::now() < end,
            "stream stalled at {received} of {target}"
        );
        match c.read(&mut buf) {
            Ok(0) => panic!("stream closed early"),
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                if got.len() >= header.len() {
                    let (mut start, mut body) = (0, &got[..]);
                    if received == 0 {
                        assert_eq!(text(&got[..header.len()]), text(header));
                        body = &got[header.len()..];
                        start = header.len();
                    }
                    for (k, &b) in body.iter().enumerate() {
                        assert_eq!(
                            b,
                            ((received + k) % 251) as u8,
                            "byte {} out of order",
                            received + k
                        );
                    }
                    received += got.len() - start;
                    got.clear();
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => panic!("{e}"),
        }
        h.turn(Duration::from_millis(50));
        let writable: Vec<ConnId> = h.srv.writable_streams().collect();
        for s in writable {
            if pos < target {
                refills += 1;
                let n = h.srv.stream_write(
                    &h.reactor,
                    s,
                    &pat[pos % 251..][..PATTERN_LEN.min(target - pos)],
                );
                pos += n;
            }
        }
    }
    assert_eq!(received, target);
    assert!(refills > 0);
    assert_eq!(h.srv.streams(), 1);
}

#[test]
fn stream_hang_up_is_reported_once() {
    let mut h = H::new(limits());
    let (c, conn) = open_stream(&mut h);
    assert_eq!(
        h.srv.stream_write(&h.reactor, conn, &[0x47; 188 * 7]),
        188 * 7
    );
    drop(c);
    h.until(Duration::from_secs(2), |h| h.closed == [conn]);
    assert_eq!((h.srv.streams(), h.srv.conns()), (0, 0));
    assert_eq!(h.srv.stream_write(&h.reactor, conn, b"x"), 0);
    h.turn(Duration::ZERO);
    assert_eq!(h.closed, [conn]);
}

#[test]
fn stalled_stream_and_unanswered_request_time_out_and_are_reported() {
    let ms200 = Duration::from_millis(200);
    let mut h = H::new(HttpLimits {
        write_timeout: ms200,
        stream_stall_timeout: ms200,
        ..limits()
    });
    let (_c, conn) = open_stream(&mut h);
    let mut pos = 0;
    fill(&mut h, conn, &pattern(), &mut pos);
    let mut held = h.connect();
    held.write_all(b"GET /hold HTTP/1.0\r\n\r\n").unwrap();
    h.until(Duration::from_secs(2), |h| h.held.len() == 1);
    let hold = h.held[0];
    h.until(Duration::from_secs(3), |h| h.closed.len() == 2);
    assert!(h.closed.contains(&conn) && h.closed.contains(&hold));
    assert_eq!(h.srv.conns(), 0);
    // Answering a request that is already gone is harmless and settles it.
    h.srv.respond(&h.reactor, hold, 200, "text/plain", b"late");
    assert!(h.srv.poll_closed().is_none());
}

#[test]
fn app_close_ends_a_stream_without_report() {
    let mut h = H::new(limits());
    let (mut c, conn) = open_stream(&mut h);
    h.srv.close(&h.reactor, conn);
    assert_eq!(h.srv.streams(), 0);
    let got = h.read_to_end(&mut c);
    assert!(got.is_ok_and(|v| v.starts_with(b"HTTP/1.0 200 OK\r\n")));
    h.turn(Duration::ZERO);
    assert!(h.closed.is_empty());
}

#[test]
fn head_on_a_stream_sends_headers_then_reports_closed() {
    let mut h = H::new(limits());
    let got = text(&h.exchange(b"HEAD /stream.ts HTTP/1.0\r\n\r\n"));
    assert_eq!(got, "HTTP/1.0 200 OK\r\nContent-Type: video/mp2t\r\nConnection: close\r\nCache-Control: no-cache\r\n\r\n");
    h.until(Duration::from_secs(2), |h| {
        h.closed.len() == 1 && h.streams.is_empty()
    });
}

#[test]
fn escapes_html() {
    let mut s = String::from("<p>");
    html_escape("a<b>&\"c\" 'd' é", &mut s);
    assert_eq!(s, "<p>a&lt;b&gt;&amp;&quot;c&quot; &#39;d&#39; é");
}

#[test]
fn owns_only_its_tokens() {
    let h = H::new(limits());
    assert!(
        h.srv.owns(BASE) && h.srv.owns(BASE + 4) && !h.srv.owns(BASE + 5) && !h.srv.owns(BASE - 1)
    );
    let _ = Instant::ZERO;
}
