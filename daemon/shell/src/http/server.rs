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
//!
//! This file holds the network side (bind, accept, read the request, deadlines); `respond.rs` the
//! application's side and the send path, `slot.rs` one connection's state and buffers,
//! `compose.rs` the response head.

pub use super::request::Method;

use super::request::{find_head_end, parse_head};
use super::slot::{Slot, State};
use crate::reactor::{Reactor, Ready, Token};
use log::{debug, warn};
use rustix::fd::OwnedFd;
use rustix::io::Errno;
use rustix::net::{self, AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};
use std::cell::Cell;
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

/// The tiny HTTP/1.0 server. See the module documentation.
pub struct HttpServer {
    listener: OwnedFd,
    local: SocketAddr,
    pub(super) limits: HttpLimits,
    /// The listener's token, once registered.
    base: Cell<Option<Token>>,
    pub(super) slots: Vec<Slot>,
    /// Latest time seen in handle_ready / handle_timeout (for calls that take no `now`).
    pub(super) now: Instant,
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

    pub(super) fn token(&self, i: usize) -> Token {
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
    pub(super) fn close_slot(&mut self, i: usize, reactor: &Reactor) {
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
    pub(super) fn drain(&mut self, i: usize, reactor: &Reactor) {
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
