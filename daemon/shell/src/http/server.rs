//! The HTTP/1.0 server itself: a listener and a fixed pool of connection slots, driven by the
//! daemon's level-triggered [`Reactor`]. One response per connection, then close.
//!
//! Invariants:
//! - Memory is bounded and allocated once, at [`HttpServer::bind`]: `max_conns` slots, each with a
//!   `max_request` request buffer and a `max_response` response buffer. Nothing allocates per
//!   request or per streamed byte (`stream_write` sends straight from the caller's slice).
//! - Nothing blocks: every socket is non-blocking; sends use `MSG_NOSIGNAL` (no SIGPIPE).
//! - Every connection has a deadline: request head within `header_timeout` (slowloris), a queued
//!   response drained within `write_timeout`, the peer's close after our response within
//!   `header_timeout`, and a stream whose socket stays full for `stream_stall_timeout` is dropped.
//!   The only state without a deadline is a stream that is keeping up.
//! - Slot `i` is registered with token `base + 1 + i` exactly while it holds a socket; the
//!   listener uses `base`. A stale readiness report for a slot is harmless (reads hit EAGAIN).
//! - A [`ConnId`] the application got from [`HttpServer::poll_request`] stays reserved for it
//!   until it answers with [`HttpServer::respond`] or [`HttpServer::close`], or gets the id back
//!   from [`HttpServer::poll_closed`]; so an id is never reused behind the application's back.
//! - Network input never panics: parsing is in `request.rs`; malformed input gets 4xx and close.

pub use super::request::Method;

use super::request::{find_head_end, parse_head, Head};
use crate::reactor::{Reactor, Ready, Token};
use log::{debug, warn};
use rustix::fd::OwnedFd;
use rustix::io::Errno;
use rustix::net::{self, AddressFamily, RecvFlags, SendFlags, Shutdown, SocketFlags, SocketType};
use std::cell::Cell;
use std::fmt::{self, Write as _};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tvmesh_core::time::Instant;

/// Listen backlog: small, the slot pool is the real bound.
const BACKLOG: i32 = 16;
/// Connections accepted per listener readiness report (level-triggered: the rest come next turn).
const ACCEPT_BATCH: usize = 16;
/// How long to stop accepting after running out of fds or memory.
const ACCEPT_PAUSE: Duration = Duration::from_secs(1);
/// Reads of unwanted input per readiness report.
const DRAIN_READS: usize = 8;
/// Sent, best effort, to a connection accepted while every slot is busy.
const BUSY: &[u8] =
    b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// A connection: the index of its slot.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConnId(pub usize);

/// Bounds on the server's memory, connections and patience.
#[derive(Clone, Debug)]
pub struct HttpLimits {
    /// Connection slots (streams included); connections beyond get 503 and are closed.
    pub max_conns: usize,
    /// Request head plus POST body, in bytes; beyond gets 413.
    pub max_request: usize,
    /// Response buffer per slot (headers plus body; at least 512); a larger response becomes a 500.
    pub max_response: usize,
    /// Time from accept to a complete request; also for the peer to close after our response.
    pub header_timeout: Duration,
    /// Time for a plain response to drain (also: for the application to answer a request).
    pub write_timeout: Duration,
    /// Time a stream's socket may stay full before the stream is dropped.
    pub stream_stall_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_conns: 8,
            max_request: 2048,
            max_response: 64 * 1024,
            header_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            stream_stall_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum State {
    /// No socket; available for accept.
    Free,
    /// Reading the request since accept.
    Reading { since: Instant },
    /// Complete request, waiting for the application (delivered: returned by poll_request).
    Request { since: Instant, delivered: bool },
    /// Flushing a plain response queued at `since`.
    Responding { since: Instant },
    /// Response sent and write side shut; waiting for the peer to close so that unread input
    /// does not turn our close into a reset that could destroy the response in flight.
    Draining { since: Instant },
    /// A never-ending response; `full_since` is when the socket was last found full.
    Streaming { full_since: Option<Instant> },
    /// Socket gone while the application holds the id; reported by poll_closed, then Free.
    Closed,
}

struct Slot {
    fd: Option<OwnedFd>,
    state: State,
    /// The application holds this id (see the module invariants).
    holds: bool,
    /// Current epoll interest (read, write) of `fd`.
    interest: (bool, bool),
    req: Box<[u8]>,
    req_len: usize,
    /// Where find_head_end resumes.
    scanned: usize,
    head: Option<Head>,
    out: Box<[u8]>,
    out_start: usize,
    out_end: usize,
}

impl Slot {
    fn new(req: usize, out: usize) -> Self {
        Slot {
            fd: None,
            state: State::Free,
            holds: false,
            interest: (false, false),
            req: vec![0; req].into_boxed_slice(),
            req_len: 0,
            scanned: 0,
            head: None,
            out: vec![0; out].into_boxed_slice(),
            out_start: 0,
            out_end: 0,
        }
    }

    fn clear(&mut self) {
        self.req_len = 0;
        self.scanned = 0;
        self.head = None;
        self.out_start = 0;
        self.out_end = 0;
    }

    fn set_interest(&mut self, reactor: &Reactor, token: Token, read: bool, write: bool) {
        if let Some(fd) = &self.fd {
            if self.interest != (read, write) {
                if let Err(e) = reactor.modify(fd, token, read, write) {
                    debug!("http: epoll modify: {e}");
                }
                self.interest = (read, write);
            }
        }
    }

    /// Sends queued output. Ok(true) once all is sent.
    fn flush(&mut self) -> Result<bool, Errno> {
        let Some(fd) = &self.fd else {
            return Err(Errno::BADF);
        };
        while self.out_start < self.out_end {
            match net::send(
                fd,
                &self.out[self.out_start..self.out_end],
                SendFlags::NOSIGNAL,
            ) {
                Ok(n) => self.out_start += n,
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        self.out_start = 0;
        self.out_end = 0;
        Ok(true)
    }

    fn method(&self) -> Method {
        self.head.as_ref().map_or(Method::Other, |h| h.method)
    }
}

/// The tiny HTTP/1.0 server. See the module documentation.
pub struct HttpServer {
    listener: OwnedFd,
    local: SocketAddr,
    limits: HttpLimits,
    /// The listener's token, once registered.
    base: Cell<Option<Token>>,
    slots: Vec<Slot>,
    /// Latest time seen in handle_ready / handle_timeout (for calls that take no `now`).
    now: Instant,
    accept_paused_until: Option<Instant>,
}

impl HttpServer {
    /// Binds a non-blocking listener (SO_REUSEADDR, small backlog) and allocates every slot.
    pub fn bind(addr: SocketAddr, limits: HttpLimits) -> io::Result<Self> {
        let family = if addr.is_ipv4() {
            AddressFamily::INET
        } else {
            AddressFamily::INET6
        };
        let fd = net::socket_with(
            family,
            SocketType::STREAM,
            SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
            None,
        )?;
        net::sockopt::set_socket_reuseaddr(&fd, true)?;
        net::bind(&fd, &addr)?;
        net::listen(&fd, BACKLOG)?;
        let local = SocketAddr::try_from(net::getsockname(&fd)?)?;
        let limits = HttpLimits {
            max_conns: limits.max_conns.max(1),
            max_request: limits.max_request.max(64),
            max_response: limits.max_response.max(512),
            ..limits
        };
        let slots = (0..limits.max_conns)
            .map(|_| Slot::new(limits.max_request, limits.max_response))
            .collect();
        Ok(HttpServer {
            listener: fd,
            local,
            limits,
            base: Cell::new(None),
            slots,
            now: Instant::ZERO,
            accept_paused_until: None,
        })
    }

    /// The bound address (with the real port if 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Registers the listener with token `base`; slot `i` will use `base + 1 + i`.
    pub fn register(&self, reactor: &Reactor, base: Token) -> io::Result<()> {
        reactor.add(&self.listener, base, true, false)?;
        self.base.set(Some(base));
        Ok(())
    }

    /// Whether `token` is the listener's or one of the slots'.
    pub fn owns(&self, token: Token) -> bool {
        self.base
            .get()
            .is_some_and(|b| token >= b && token - b <= self.slots.len() as u64)
    }

    fn token(&self, i: usize) -> Token {
        self.base.get().unwrap_or(0) + 1 + i as u64
    }

    /// Handles a readiness report for one of our tokens.
    pub fn handle_ready(&mut self, now: Instant, reactor: &Reactor, r: Ready) {
        self.now = self.now.max(now);
        let Some(base) = self.base.get() else { return };
        if r.token == base {
            if r.readable && self.accept_paused_until.is_none() {
                self.accept(reactor);
            }
            return;
        }
        let Some(i) = r
            .token
            .checked_sub(base + 1)
            .map(|i| i as usize)
            .filter(|&i| i < self.slots.len())
        else {
            return;
        };
        match self.slots[i].state {
            State::Free | State::Closed => {}
            State::Reading { .. } if r.readable => self.read_request(i, reactor),
            State::Reading { .. } => {}
            // Interest is empty here, so only hang-up or error is reported: a read says which.
            State::Request { .. } => self.drain(i, reactor),
            State::Responding { .. } => self.flush_response(i, reactor),
            State::Draining { .. } => self.drain(i, reactor),
            State::Streaming { .. } => {
                if r.readable {
                    self.drain(i, reactor);
                }
                if r.writable && matches!(self.slots[i].state, State::Streaming { .. }) {
                    let token = self.token(i);
                    let s = &mut self.slots[i];
                    match s.flush() {
                        Ok(true) => {
                            s.state = State::Streaming { full_since: None };
                            s.set_interest(reactor, token, true, false);
                        }
                        Ok(false) => {}
                        Err(e) => {
                            debug!("http: stream {i}: {e}");
                            self.close_slot(i, reactor);
                        }
                    }
                }
            }
        }
    }

    fn accept(&mut self, reactor: &Reactor) {
        for _ in 0..ACCEPT_BATCH {
            match net::accept_with(&self.listener, SocketFlags::NONBLOCK | SocketFlags::CLOEXEC) {
                Ok(fd) => self.place(fd, reactor),
                Err(Errno::AGAIN) => return,
                // The peer gave up, or a network error Linux passes on from the new socket.
                Err(
                    Errno::INTR
                    | Errno::CONNABORTED
                    | Errno::PROTO
                    | Errno::NOPROTOOPT
                    | Errno::NETDOWN
                    | Errno::NETUNREACH
                    | Errno::HOSTDOWN
                    | Errno::HOSTUNREACH
                    | Errno::NONET
                    | Errno::OPNOTSUPP,
                ) => {}
                Err(e) => {
                    // Out of fds or memory: the listener would stay readable, so stop asking.
                    warn!("http: accept: {e}; pausing accepts");
                    if let Some(base) = self.base.get() {
                        let _ = reactor.modify(&self.listener, base, false, false);
                    }
                    self.accept_paused_until = Some(self.now + ACCEPT_PAUSE);
                    return;
                }
            }
        }
    }

    fn place(&mut self, fd: OwnedFd, reactor: &Reactor) {
        let Some(i) = self.slots.iter().position(|s| s.state == State::Free) else {
            let _ = net::send(&fd, BUSY, SendFlags::NOSIGNAL | SendFlags::DONTWAIT);
            debug!(
                "http: all {} slots busy; refused a connection",
                self.slots.len()
            );
            return; // dropping fd closes it
        };
        let token = self.token(i);
        if let Err(e) = reactor.add(&fd, token, true, false) {
            warn!("http: epoll add: {e}");
            return;
        }
        let s = &mut self.slots[i];
        s.clear();
        s.fd = Some(fd);
        s.interest = (true, false);
        s.holds = false;
        s.state = State::Reading { since: self.now };
    }

    /// Closes slot `i`'s socket; the slot becomes Closed if the application holds it, else Free.
    fn close_slot(&mut self, i: usize, reactor: &Reactor) {
        let s = &mut self.slots[i];
        if let Some(fd) = s.fd.take() {
            reactor.remove(&fd);
        }
        s.clear();
        s.interest = (false, false);
        s.state = if s.holds { State::Closed } else { State::Free };
    }

    fn read_request(&mut self, i: usize, reactor: &Reactor) {
        loop {
            let s = &mut self.slots[i];
            let Some(fd) = &s.fd else { return };
            if s.req_len == s.req.len() {
                break;
            }
            match net::recv(fd, &mut s.req[s.req_len..], RecvFlags::empty()) {
                Ok((0, _)) => return self.close_slot(i, reactor), // peer left mid-request
                Ok((n, _)) => s.req_len += n,                     // n <= the slice's length
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => break,
                Err(_) => return self.close_slot(i, reactor),
            }
        }
        let s = &mut self.slots[i];
        let cap = s.req.len();
        if s.head.is_none() {
            match find_head_end(&s.req[..s.req_len], s.scanned) {
                Ok(end) => match parse_head(&mut s.req[..s.req_len], end, cap) {
                    Ok(h) => s.head = Some(h),
                    Err(status) => return self.reply_error(i, reactor, status),
                },
                Err(resume) => {
                    s.scanned = resume;
                    if s.req_len == s.req.len() {
                        self.reply_error(i, reactor, 413);
                    }
                    return;
                }
            }
        }
        let need = s
            .head
            .as_ref()
            .map_or(usize::MAX, |h| h.body_start + h.content_length);
        if s.req_len >= need {
            s.state = State::Request {
                since: self.now,
                delivered: false,
            };
            let token = self.token(i);
            self.slots[i].set_interest(reactor, token, false, false);
        } else if s.req_len == s.req.len() {
            // parse_head already bounds the body by the buffer; kept as a backstop.
            self.reply_error(i, reactor, 413);
        }
    }

    /// Reads and discards input; closes on end of file or error.
    fn drain(&mut self, i: usize, reactor: &Reactor) {
        let mut scratch = [0u8; 512];
        for _ in 0..DRAIN_READS {
            let Some(fd) = &self.slots[i].fd else { return };
            match net::recv(fd, &mut scratch[..], RecvFlags::empty()) {
                Ok((0, _)) => return self.close_slot(i, reactor),
                Ok(_) | Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => return,
                Err(_) => return self.close_slot(i, reactor),
            }
        }
    }

    fn reply_error(&mut self, i: usize, reactor: &Reactor, status: u16) {
        let extra = if status == 405 {
            "Allow: GET, HEAD, POST\r\n"
        } else {
            ""
        };
        let mut body = [0u8; 64];
        let mut w = Fill {
            buf: &mut body,
            len: 0,
        };
        let _ = writeln!(w, "{} {}", status, reason(status)); // fits: reasons are short
        let n = w.len;
        debug!("http: slot {i}: answering {status}");
        self.queue_response(
            i,
            reactor,
            status,
            "text/plain",
            Some(&body[..n]),
            extra,
            false,
        );
    }

    /// Queues a response (body None: a stream's headers) in slot `i`'s buffer and starts sending.
    #[allow(clippy::too_many_arguments)]
    fn queue_response(
        &mut self,
        i: usize,
        reactor: &Reactor,
        status: u16,
        content_type: &str,
        body: Option<&[u8]>,
        extra: &str,
        head_only: bool,
    ) {
        let s = &mut self.slots[i];
        let n = compose(&mut s.out, status, content_type, body, extra, head_only).or_else(|| {
            warn!(
                "http: response ({status}, {} bytes) does not fit; sending 500",
                body.map_or(0, <[u8]>::len)
            );
            compose(
                &mut s.out,
                500,
                "text/plain",
                Some(b"500 response too large\n"),
                "",
                head_only,
            )
        });
        s.out_start = 0;
        s.out_end = n.unwrap_or(0); // the 500 always fits: max_response >= 512
        if body.is_none() && !head_only {
            s.state = State::Streaming { full_since: None };
            return self.flush_stream_headers(i, reactor);
        }
        s.state = State::Responding { since: self.now };
        self.flush_response(i, reactor);
    }

    fn flush_stream_headers(&mut self, i: usize, reactor: &Reactor) {
        let token = self.token(i);
        let s = &mut self.slots[i];
        match s.flush() {
            Ok(true) => s.set_interest(reactor, token, true, false),
            Ok(false) => {
                s.state = State::Streaming {
                    full_since: Some(self.now),
                };
                s.set_interest(reactor, token, true, true);
            }
            Err(e) => {
                debug!("http: stream {i}: {e}");
                self.close_slot(i, reactor);
            }
        }
    }

    fn flush_response(&mut self, i: usize, reactor: &Reactor) {
        let token = self.token(i);
        let s = &mut self.slots[i];
        match s.flush() {
            Ok(true) => {
                // All sent: half-close and wait for the peer's close (see State::Draining).
                if let Some(fd) = &s.fd {
                    let _ = net::shutdown(fd, Shutdown::Write);
                }
                s.state = State::Draining { since: self.now };
                s.set_interest(reactor, token, true, false);
                self.drain(i, reactor);
            }
            Ok(false) => s.set_interest(reactor, token, false, true),
            Err(e) => {
                debug!("http: slot {i}: {e}");
                self.close_slot(i, reactor);
            }
        }
    }

    /// The next complete request not yet handed out: (conn, method, decoded path, raw query).
    /// Each request is returned once; the application must then answer it (see the module docs).
    pub fn poll_request(&mut self) -> Option<(ConnId, Method, &str, &str)> {
        let i = self.slots.iter().position(|s| {
            matches!(
                s.state,
                State::Request {
                    delivered: false,
                    ..
                }
            )
        })?;
        let s = &mut self.slots[i];
        let head = s.head.as_ref()?; // always Some in Request state
        if let State::Request { since, .. } = s.state {
            s.state = State::Request {
                since,
                delivered: true,
            };
        }
        s.holds = true;
        // Both were checked to be UTF-8 by the parser; "" is never returned in practice.
        let path = std::str::from_utf8(&s.req[head.path.clone()]).unwrap_or("");
        let query = std::str::from_utf8(&s.req[head.query.clone()]).unwrap_or("");
        Some((ConnId(i), head.method, path, query))
    }

    /// The body of a POST request awaiting its answer (empty otherwise).
    #[allow(dead_code)] // tested here; for the control endpoint and viewer limits to come
    pub fn body(&self, conn: ConnId) -> &[u8] {
        match self.slots.get(conn.0) {
            Some(
                s @ Slot {
                    state: State::Request { .. },
                    head: Some(h),
                    ..
                },
            ) => s
                .req
                .get(h.body_start..h.body_start + h.content_length)
                .unwrap_or(&[]),
            _ => &[],
        }
    }

    /// Answers `conn` (HTTP/1.0, Content-Length, Connection: close, Cache-Control: no-cache) and
    /// closes once sent. HEAD gets the headers only. A response larger than `max_response`, or a
    /// content type with control characters, becomes a 500. Ignored unless `conn` awaits an answer.
    pub fn respond(
        &mut self,
        reactor: &Reactor,
        conn: ConnId,
        status: u16,
        content_type: &str,
        body: &[u8],
    ) {
        let Some(s) = self.slots.get_mut(conn.0) else {
            return;
        };
        match s.state {
            State::Request { .. } => {}
            State::Closed => {
                // Gone before the answer; the answer settles it, so no poll_closed report.
                s.holds = false;
                s.state = State::Free;
                return;
            }
            _ => return debug!("http: respond to {conn:?} in state {:?} ignored", s.state),
        }
        s.holds = false;
        let head_only = s.method() == Method::Head;
        let (status, content_type, body) = if header_safe(content_type) {
            (status, content_type, body)
        } else {
            (500, "text/plain", &b"500 bad content type\n"[..])
        };
        self.queue_response(
            conn.0,
            reactor,
            status,
            content_type,
            Some(body),
            "",
            head_only,
        );
    }

    /// Answers `conn` with 200 and headers without Content-Length; the connection becomes a
    /// stream fed by [`Self::stream_write`] until it closes (reported by [`Self::poll_closed`]) or
    /// the application calls [`Self::close`]. For HEAD only the headers are sent, and the
    /// connection is reported closed once they are.
    pub fn start_stream(&mut self, reactor: &Reactor, conn: ConnId, content_type: &str) {
        let Some(s) = self.slots.get(conn.0) else {
            return;
        };
        if !matches!(s.state, State::Request { .. }) {
            return; // a Closed one stays Closed and is reported by poll_closed
        }
        let head_only = s.method() == Method::Head;
        if !header_safe(content_type) {
            let body = &b"500 bad content type\n"[..];
            return self.queue_response(
                conn.0,
                reactor,
                500,
                "text/plain",
                Some(body),
                "",
                head_only,
            );
        }
        self.queue_response(conn.0, reactor, 200, content_type, None, "", head_only);
    }

    /// Sends as much of `bytes` as the socket takes now; returns how much. 0 when the socket is
    /// full (the stream then waits for writability, and appears in
    /// [`Self::writable_streams`] again once it drains), or when `conn` is not a live stream.
    pub fn stream_write(&mut self, reactor: &Reactor, conn: ConnId, bytes: &[u8]) -> usize {
        let i = conn.0;
        match self.slots.get(i).map(|s| s.state) {
            Some(State::Streaming { full_since: None }) if !bytes.is_empty() => {}
            _ => return 0,
        }
        let token = self.token(i);
        let s = &mut self.slots[i];
        let Some(fd) = &s.fd else { return 0 };
        loop {
            match net::send(fd, bytes, SendFlags::NOSIGNAL) {
                Ok(n) => return n,
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => {
                    s.state = State::Streaming {
                        full_since: Some(self.now),
                    };
                    s.set_interest(reactor, token, true, true);
                    return 0;
                }
                Err(e) => {
                    debug!("http: stream {i}: {e}");
                    self.close_slot(i, reactor);
                    return 0;
                }
            }
        }
    }

    /// Whether `conn` is a stream whose socket is not known to be full.
    #[allow(dead_code)] // tested here; for the control endpoint and viewer limits to come
    pub fn stream_writable(&self, conn: ConnId) -> bool {
        self.slots
            .get(conn.0)
            .is_some_and(|s| s.state == State::Streaming { full_since: None })
    }

    /// Streams whose socket is not known to be full.
    #[allow(dead_code)] // tested here; for the control endpoint and viewer limits to come
    pub fn writable_streams(&self) -> impl Iterator<Item = ConnId> + '_ {
        (0..self.slots.len())
            .map(ConnId)
            .filter(|&c| self.stream_writable(c))
    }

    /// A connection the application held (a stream, or a request it had not answered) whose
    /// socket is gone: peer hang-up, error or timeout. Each is reported once; the id is then free.
    pub fn poll_closed(&mut self) -> Option<ConnId> {
        let i = self.slots.iter().position(|s| s.state == State::Closed)?;
        let s = &mut self.slots[i];
        s.state = State::Free;
        s.holds = false;
        Some(ConnId(i))
    }

    /// Closes `conn` at the application's request (e.g. its channel ended). Not reported by
    /// poll_closed. Unsent stream bytes are lost; a queued plain response is unaffected.
    #[allow(dead_code)] // tested here; for the control endpoint and viewer limits to come
    pub fn close(&mut self, reactor: &Reactor, conn: ConnId) {
        let Some(s) = self.slots.get_mut(conn.0) else {
            return;
        };
        if !s.holds {
            return;
        }
        s.holds = false;
        match s.state {
            State::Closed => s.state = State::Free,
            State::Responding { .. } | State::Draining { .. } => {} // a HEAD stream finishing
            _ => self.close_slot(conn.0, reactor),
        }
    }

    fn deadline(&self, s: &Slot) -> Option<Instant> {
        let l = &self.limits;
        match s.state {
            State::Free | State::Closed | State::Streaming { full_since: None } => None,
            State::Reading { since } | State::Draining { since } => Some(since + l.header_timeout),
            State::Request { since, .. } | State::Responding { since } => {
                Some(since + l.write_timeout)
            }
            State::Streaming {
                full_since: Some(t),
            } => Some(t + l.stream_stall_timeout),
        }
    }

    /// The earliest deadline, for the reactor's wait.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.slots
            .iter()
            .filter_map(|s| self.deadline(s))
            .chain(self.accept_paused_until)
            .min()
    }

    /// Closes connections past their deadline; resumes accepting after a pause.
    pub fn handle_timeout(&mut self, now: Instant, reactor: &Reactor) {
        self.now = self.now.max(now);
        if self.accept_paused_until.is_some_and(|t| t <= now) {
            self.accept_paused_until = None;
            if let Some(base) = self.base.get() {
                if let Err(e) = reactor.modify(&self.listener, base, true, false) {
                    warn!("http: resuming accepts: {e}");
                }
            }
        }
        for i in 0..self.slots.len() {
            if self.deadline(&self.slots[i]).is_some_and(|d| d <= now) {
                debug!(
                    "http: slot {i}: timed out in state {:?}",
                    self.slots[i].state
                );
                self.close_slot(i, reactor);
            }
        }
    }

    /// Open connections (sockets), streams included.
    #[allow(dead_code)] // tested here; for the control endpoint and viewer limits to come
    pub fn conns(&self) -> usize {
        self.slots.iter().filter(|s| s.fd.is_some()).count()
    }

    /// Open streams.
    #[allow(dead_code)] // tested here; for the control endpoint and viewer limits to come
    pub fn streams(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| matches!(s.state, State::Streaming { .. }))
            .count()
    }
}

/// A `fmt::Write` into a fixed buffer; fails instead of growing.
struct Fill<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl fmt::Write for Fill<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self
            .len
            .checked_add(s.len())
            .filter(|&e| e <= self.buf.len())
            .ok_or(fmt::Error)?;
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Writes status line, headers and (unless `head_only`) body into `out`; None if it won't fit.
/// `body` None: a stream's headers (no Content-Length).
fn compose(
    out: &mut [u8],
    status: u16,
    ct: &str,
    body: Option<&[u8]>,
    extra: &str,
    head_only: bool,
) -> Option<usize> {
    let status = if (100..=999).contains(&status) {
        status
    } else {
        500
    };
    let mut w = Fill { buf: out, len: 0 };
    write!(
        w,
        "HTTP/1.0 {} {}\r\nContent-Type: {}\r\n",
        status,
        reason(status),
        ct
    )
    .ok()?;
    if let Some(b) = body {
        write!(w, "Content-Length: {}\r\n", b.len()).ok()?;
    }
    write!(
        w,
        "{extra}Connection: close\r\nCache-Control: no-cache\r\n\r\n"
    )
    .ok()?;
    let mut n = w.len;
    if let (Some(b), false) = (body, head_only) {
        out.get_mut(n..n + b.len())?.copy_from_slice(b);
        n += b.len();
    }
    Some(n)
}

/// No CR, LF or other control characters (header injection).
fn header_safe(v: &str) -> bool {
    v.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_bounds_and_head() {
        let mut out = [0u8; 160];
        let n = compose(&mut out, 404, "text/plain", Some(b"nope"), "", false).unwrap();
        assert_eq!(
            &out[..n],
            b"HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\
              Connection: close\r\nCache-Control: no-cache\r\n\r\nnope"
        );
        let h = compose(&mut out, 404, "text/plain", Some(b"nope"), "", true).unwrap();
        assert_eq!(h, n - 4);
        assert_eq!(
            compose(&mut out, 200, "x", Some(&[0; 100]), "", false),
            None
        );
        assert_eq!(
            compose(&mut out, 200, "x", Some(&[0; 100]), "", true).map(|n| n < 160),
            Some(true)
        );
        assert!(compose(&mut out, 7, "x", None, "", false)
            .is_some_and(|n| out[..n].starts_with(b"HTTP/1.0 500 ")));
        assert!(header_safe("text/html; charset=utf-8") && !header_safe("a\r\nSet-Cookie: x"));
    }
}
