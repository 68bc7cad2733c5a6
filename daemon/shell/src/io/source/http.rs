//! One HTTP/1.0 GET of a live stream: non-blocking connect, request, response head, body.
//!
//! Invariants:
//! - The socket is non-blocking; [`Conn::pump`] never waits. A connect in progress shows up as
//!   EAGAIN from `send` (Linux), so no separate "connected?" probe is needed.
//! - The response head is bounded ([`MAX_HEAD`]); anything longer, malformed or non-2xx fails the
//!   connection. Nothing from the peer can panic.
//! - Body bytes are handed out in order, exactly once; with `Transfer-Encoding: chunked` only
//!   chunk data is handed out, with `Content-Length` at most that many bytes.
//! - Each phase has a deadline ([`HANDSHAKE_TIMEOUT`] for connect + head, [`IDLE_TIMEOUT`]
//!   between body reads), so a black-holed peer is noticed without traffic.

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;
use tvmesh_core::time::Instant;

/// Longest response head accepted.
pub const MAX_HEAD: usize = 8 * 1024;
/// Connect, send the request and receive the head within this.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A live body that stays silent this long is considered dead.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(15);

/// What a [`Conn::pump`] call came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing more to do now; call again when the fd is ready or at [`Conn::deadline`].
    Pending,
    /// The stream ended (EOF, or the body's declared end).
    Eof,
    /// The connection failed; the string says why.
    Fail(String),
}

#[derive(Debug, PartialEq, Eq)]
enum Phase {
    Request,
    Head,
    Body,
}

/// An HTTP connection in progress or streaming.
pub struct Conn {
    fd: OwnedFd,
    phase: Phase,
    req: Vec<u8>,
    sent: usize,
    head: Vec<u8>,
    body: Body,
    deadline: Instant,
}

impl Conn {
    /// Resolves `host` (may block on DNS for a name) and starts a non-blocking connect.
    pub fn connect(host: &str, port: u16, path: &str, now: Instant) -> Result<Conn, String> {
        let addr: SocketAddr = (host, port)
            .to_socket_addrs()
            .map_err(|e| format!("resolve {host}: {e}"))?
            .next()
            .ok_or_else(|| format!("resolve {host}: no address"))?;
        let family = if addr.is_ipv4() {
            AddressFamily::INET
        } else {
            AddressFamily::INET6
        };
        let fd = rustix::net::socket_with(
            family,
            SocketType::STREAM,
            SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
            None,
        )
        .map_err(|e| format!("socket: {e}"))?;
        match rustix::net::connect(&fd, &addr) {
            Ok(()) | Err(Errno::INPROGRESS) => {}
            Err(e) => return Err(format!("connect {addr}: {e}")),
        }
        let host_hdr = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        let port_hdr = if port == 80 {
            String::new()
        } else {
            format!(":{port}")
        };
        let req = format!(
            "GET {path} HTTP/1.0\r\nHost: {host_hdr}{port_hdr}\r\nUser-Agent: tvmeshd/{}\r\nAccept: */*\r\n\r\n",
            env!("CARGO_PKG_VERSION")
        );
        Ok(Conn {
            fd,
            phase: Phase::Request,
            req: req.into_bytes(),
            sent: 0,
            head: Vec::new(),
            body: Body::Raw { left: None },
            deadline: now + HANDSHAKE_TIMEOUT,
        })
    }

    /// The socket, for the reactor.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Reactor interest (read, write): writability until the request is out, then readability.
    pub fn interest(&self) -> (bool, bool) {
        if self.phase == Phase::Request {
            (false, true)
        } else {
            (true, false)
        }
    }

    /// Whether the response head was accepted (the body is streaming).
    pub fn streaming(&self) -> bool {
        self.phase == Phase::Body
    }

    /// When the current phase times out.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Advances the connection: sends the request, reads the head, hands body bytes to `emit`.
    /// Reads at most about `budget` bytes into `buf`; returns `Pending` with `*more = true` if it
    /// stopped at the budget.
    pub fn pump(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        budget: usize,
        more: &mut bool,
        emit: &mut dyn FnMut(&[u8]),
    ) -> Step {
        *more = false;
        if self.phase == Phase::Request {
            while self.sent < self.req.len() {
                match rustix::net::send(&self.fd, &self.req[self.sent..], SendFlags::NOSIGNAL) {
                    Ok(n) => self.sent += n,
                    Err(Errno::AGAIN) => return self.timed_out(now, "connect"),
                    Err(Errno::INTR) => {}
                    Err(e) => return Step::Fail(format!("connect: {e}")),
                }
            }
            self.phase = Phase::Head;
        }
        let mut read = 0usize;
        while read < budget {
            let want = if self.phase == Phase::Head {
                (MAX_HEAD + 1 - self.head.len()).min(buf.len())
            } else {
                buf.len()
            };
            let n = match rustix::net::recv(&self.fd, &mut buf[..want], RecvFlags::empty()) {
                Ok((0, _)) if self.phase == Phase::Head => {
                    return Step::Fail("closed before response".into())
                }
                Ok((0, _)) => return Step::Eof,
                Ok((n, _)) => n,
                Err(Errno::AGAIN) => {
                    let what = if self.phase == Phase::Head {
                        "response"
                    } else {
                        "data"
                    };
                    return self.timed_out(now, what);
                }
                Err(Errno::INTR) => continue,
                Err(e) => return Step::Fail(format!("read: {e}")),
            };
            read += n;
            let data = &buf[..n];
            if self.phase == Phase::Head {
                self.head.extend_from_slice(data);
                let Some(end) = head_end(&self.head) else {
                    if self.head.len() > MAX_HEAD {
                        return Step::Fail("response head too long".into());
                    }
                    continue;
                };
                match parse_head(&self.head[..end]) {
                    Ok(body) => self.body = body,
                    Err(e) => return Step::Fail(e),
                }
                self.phase = Phase::Body;
                self.deadline = now + IDLE_TIMEOUT;
                let rest = std::mem::take(&mut self.head);
                match self.body.feed(&rest[end..], emit) {
                    Ok(false) => {}
                    Ok(true) => return Step::Eof,
                    Err(e) => return Step::Fail(e.into()),
                }
            } else {
                self.deadline = now + IDLE_TIMEOUT;
                match self.body.feed(data, emit) {
                    Ok(false) => {}
                    Ok(true) => return Step::Eof,
                    Err(e) => return Step::Fail(e.into()),
                }
            }
        }
        *more = true;
        Step::Pending
    }

    fn timed_out(&self, now: Instant, what: &str) -> Step {
        if now >= self.deadline {
            Step::Fail(format!("timed out waiting for {what}"))
        } else {
            Step::Pending
        }
    }
}

/// Index just past the blank line ending the head (`\r\n\r\n` or a bare `\n\n`).
fn head_end(b: &[u8]) -> Option<usize> {
    let lf = b.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    let crlf = b.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    match (lf, crlf) {
        (Some(a), Some(c)) => Some(a.min(c)),
        (a, c) => a.or(c),
    }
}

/// Checks the status line (2xx, `HTTP/x.y` or `ICY`) and picks the body framing.
fn parse_head(head: &[u8]) -> Result<Body, String> {
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let status = lines.next().unwrap_or_default();
    let mut parts = status.split(|&b| b == b' ').filter(|p| !p.is_empty());
    let proto = parts.next().unwrap_or_default();
    if !(proto.starts_with(b"HTTP/") || proto == b"ICY") {
        return Err("not an HTTP response".into());
    }
    let code = parts.next().unwrap_or_default();
    let code: u16 = std::str::from_utf8(code)
        .ok()
        .and_then(|c| c.parse().ok())
        .ok_or("bad status line")?;
    if !(200..300).contains(&code) {
        return Err(format!("HTTP status {code}"));
    }
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if name.eq_ignore_ascii_case(b"transfer-encoding") {
            chunked = value
                .split(|&b| b == b',')
                .any(|v| v.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if name.eq_ignore_ascii_case(b"content-length") {
            length = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse::<u64>().ok());
            if length.is_none() {
                return Err("bad Content-Length".into());
            }
        }
    }
    Ok(if chunked {
        Body::Chunked(Chunked::default())
    } else {
        Body::Raw { left: length }
    })
}

/// How the body is delimited.
#[derive(Debug)]
enum Body {
    /// Until EOF (`None`) or this many more bytes.
    Raw {
        left: Option<u64>,
    },
    Chunked(Chunked),
}

impl Body {
    /// Hands the body data in `input` to `emit`; `Ok(true)` once the body is complete.
    fn feed(&mut self, input: &[u8], emit: &mut dyn FnMut(&[u8])) -> Result<bool, &'static str> {
        match self {
            Body::Raw { left: None } => {
                if !input.is_empty() {
                    emit(input);
                }
                Ok(false)
            }
            Body::Raw { left: Some(left) } => {
                let take = input
                    .len()
                    .min(usize::try_from(*left).unwrap_or(usize::MAX));
                if take > 0 {
                    emit(&input[..take]);
                }
                *left -= take as u64;
                Ok(*left == 0)
            }
            Body::Chunked(c) => c.feed(input, emit),
        }
    }
}

/// Longest chunk-size or trailer line accepted.
const MAX_LINE: usize = 1024;

#[derive(Debug, Default)]
enum ChunkState {
    /// Reading the hex size line (extensions after it are ignored).
    #[default]
    Size,
    Data(u64),
    /// The CRLF after chunk data.
    DataEnd,
    /// Trailer lines after the last chunk, up to the blank line.
    Trailer,
    Done,
}

/// Decoder for `Transfer-Encoding: chunked`.
#[derive(Debug, Default)]
struct Chunked {
    state: ChunkState,
    size: u64,
    digits: u32,
    ext: bool,
    line: usize,
}

impl Chunked {
    fn feed(
        &mut self,
        mut input: &[u8],
        emit: &mut dyn FnMut(&[u8]),
    ) -> Result<bool, &'static str> {
        while let Some(&b) = input.first() {
            match self.state {
                ChunkState::Data(left) => {
                    let take = input.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    emit(&input[..take]);
                    input = &input[take..];
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left)
                    };
                    continue;
                }
                ChunkState::Done => return Ok(true),
                ChunkState::Size => self.size_byte(b)?,
                ChunkState::DataEnd => match b {
                    b'\r' => {}
                    b'\n' => self.state = ChunkState::Size,
                    _ => return Err("bad chunk end"),
                },
                ChunkState::Trailer => match b {
                    b'\r' => {}
                    b'\n' if self.line == 0 => self.state = ChunkState::Done,
                    b'\n' => self.line = 0,
                    _ => {
                        self.line += 1;
                        if self.line > MAX_LINE {
                            return Err("trailer line too long");
                        }
                    }
                },
            }
            input = &input[1..];
        }
        Ok(matches!(self.state, ChunkState::Done))
    }

    fn size_byte(&mut self, b: u8) -> Result<(), &'static str> {
        self.line += 1;
        if self.line > MAX_LINE {
            return Err("chunk size line too long");
        }
        match b {
            b'\n' => {
                if self.digits == 0 {
                    return Err("missing chunk size");
                }
                self.state = if self.size == 0 {
                    ChunkState::Trailer
                } else {
                    ChunkState::Data(self.size)
                };
                (self.size, self.digits, self.ext, self.line) = (0, 0, false, 0);
            }
            b'\r' => {}
            _ if self.ext => {}
            b';' | b' ' | b'\t' => self.ext = true,
            _ => {
                let d = (b as char).to_digit(16).ok_or("bad chunk size")?;
                self.digits += 1;
                if self.digits > 15 {
                    return Err("chunk size too large");
                }
                self.size = self.size * 16 + u64::from(d);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(body: &mut Body, parts: &[&[u8]]) -> (Vec<u8>, Result<bool, &'static str>) {
        let mut got = Vec::new();
        let mut res = Ok(false);
        for p in parts {
            res = body.feed(p, &mut |b| got.extend_from_slice(b));
            if res != Ok(false) {
                break;
            }
        }
        (got, res)
    }

    #[test]
    fn head_parsing() {
        let h = b"HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\nTransfer-Encoding: gzip, Chunked\r\n\r\nBODY";
        let end = head_end(h).unwrap();
        assert_eq!(&h[end..], b"BODY");
        assert!(matches!(parse_head(&h[..end]), Ok(Body::Chunked(_))));
        assert!(matches!(
            parse_head(b"ICY 200 OK\n\n"),
            Ok(Body::Raw { left: None })
        ));
        assert!(matches!(
            parse_head(b"HTTP/1.0 200 OK\r\ncontent-length: 12\r\n\r\n"),
            Ok(Body::Raw { left: Some(12) })
        ));
        assert_eq!(
            parse_head(b"HTTP/1.0 404 Not Found\r\n\r\n").unwrap_err(),
            "HTTP status 404"
        );
        assert_eq!(
            parse_head(b"HTTP/1.0 302 Found\r\nLocation: x\r\n\r\n").unwrap_err(),
            "HTTP status 302"
        );
        assert!(parse_head(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
        assert!(parse_head(b"HTTP/1.0 2x0 OK\r\n\r\n").is_err());
        assert!(parse_head(b"HTTP/1.0 200 OK\r\nContent-Length: -1\r\n\r\n").is_err());
        assert!(parse_head(b"").is_err());
        assert_eq!(head_end(b"HTTP/1.0 200 OK\r\n"), None);
    }

    #[test]
    fn chunked_body() {
        let mut b = Body::Chunked(Chunked::default());
        let (got, res) = decode(
            &mut b,
            &[
                b"5;ext=1\r\nhel",
                b"lo\r\n1",
                b"0\r\n0123456789abcdef\r\n0\r\nX-T: 1\r\n\r\n",
            ],
        );
        assert_eq!(res, Ok(true));
        assert_eq!(got, b"hello0123456789abcdef");
        // Byte at a time gives the same.
        let input = b"3\r\nabc\r\nA\r\n0123456789\r\n0\r\n\r\n";
        let parts: Vec<&[u8]> = input.chunks(1).collect();
        let mut b = Body::Chunked(Chunked::default());
        let (got, res) = decode(&mut b, &parts);
        assert_eq!((got.as_slice(), res), (&b"abc0123456789"[..], Ok(true)));
    }

    #[test]
    fn chunked_rejects_garbage() {
        for bad in [
            &b"zz\r\n"[..],
            b"\r\n",
            b"3\r\nabcX",
            b"fffffffffffffffff\r\n",
            &[b'1'; 2000],
        ] {
            let mut b = Body::Chunked(Chunked::default());
            assert!(decode(&mut b, &[bad]).1.is_err(), "{bad:?}");
        }
    }

    #[test]
    fn raw_body_with_length() {
        let mut b = Body::Raw { left: Some(5) };
        let (got, res) = decode(&mut b, &[b"abc", b"defgh"]);
        assert_eq!((got.as_slice(), res), (&b"abcde"[..], Ok(true)));
    }
}
