//! [`Source`]: reads one channel from UDP, HTTP, a looped file, stdin, or a packaged stream
//! (`packaged.rs`: played once, at its records' pace; a bad record ends it, it is never retried).
//!
//! Lifecycle: [`Source::open`] never fails — a failure to bind, connect or open puts the source in
//! [`SourceState::Retrying`] with an exponential backoff (500 ms doubling to 30 s, back to 500 ms
//! after 10 s of streaming). Stdin is never retried: at EOF the source is `Ended`.
//!
//! Invariants:
//! - `service` never blocks on the network and hands out at most about
//!   [`MAX_BYTES_PER_CALL`] bytes; when it stops at that bound `next_wakeup` is "now".
//! - Bytes are handed out in arrival order. UDP, HTTP and stdin bytes are raw (the caller frames
//!   them); file bytes are whole, aligned 188-byte packets released no earlier than their PCR time.
//! - A discontinuity (reconnect, file loop) never falls inside one `service` call's output: the
//!   call stops at it, so `take_discontinuity()` checked after each `service` call is true before
//!   any byte after the break is handed out. It is only raised if bytes went out since the last one.
//! - The current fd (socket or stdin) is in the reactor whenever a token is known; it is removed
//!   before it is closed. Files are not registered (they are paced by `next_wakeup`), nor is a
//!   stdin that epoll refuses (a regular file): that is polled via `next_wakeup` instead.
//! - State changes are logged once; repeated failures while retrying are logged at debug level.

mod file;
mod http;
pub mod packaged;

use super::uri::SourceUri;
use super::{Backoff, Registration, MAX_BYTES_PER_CALL};
use crate::reactor::{Reactor, Token};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;
use rustix::net::{sockopt, AddressFamily, RecvFlags, SocketFlags, SocketType};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;
use tvmesh_core::time::Instant;

/// Size of the reusable read buffer (a UDP datagram always fits).
const READ_BUF: usize = 64 * 1024;
/// Requested socket receive buffer for UDP sources (best effort; the kernel may clamp it).
const UDP_RCVBUF: usize = 1024 * 1024;
/// Streaming this long resets the reconnect backoff.
const STABLE_AFTER: Duration = Duration::from_secs(10);

/// What a source is doing, for the status page.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SourceState {
    /// Opened, waiting for the first bytes (UDP/stdin) or for the response (HTTP).
    Connecting,
    /// Bytes are flowing (or, for a file, being released).
    Live,
    /// Failed; will try again at `next_wakeup`.
    Retrying,
    /// Stdin reached EOF; nothing more will come.
    Ended,
}

impl SourceState {
    /// "connecting", "live", "retrying" or "ended".
    pub fn as_str(self) -> &'static str {
        match self {
            SourceState::Connecting => "connecting",
            SourceState::Live => "live",
            SourceState::Retrying => "retrying",
            SourceState::Ended => "ended",
        }
    }
}

impl fmt::Display for SourceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The open I/O object of a source.
enum Io {
    /// Nothing open (retrying or ended).
    Idle,
    Udp(OwnedFd),
    Http(http::Conn),
    File(Box<file::FileSource>),
    Packaged(Box<packaged::PackagedReader>),
    /// fd 0 (borrowed, never closed); `poll` if epoll refused it and it is polled instead.
    Stdin {
        poll: bool,
    },
}

fn fd_of(io: &Io) -> Option<BorrowedFd<'_>> {
    match io {
        Io::Udp(fd) => Some(fd.as_fd()),
        Io::Http(c) => Some(c.fd()),
        Io::Stdin { poll: false } => Some(rustix::stdio::stdin()),
        Io::Idle | Io::File(_) | Io::Packaged(_) | Io::Stdin { poll: true } => None,
    }
}

fn interest_of(io: &Io) -> Option<(bool, bool)> {
    match io {
        Io::Http(c) => Some(c.interest()),
        Io::Udp(_) | Io::Stdin { poll: false } => Some((true, false)),
        Io::Idle | Io::File(_) | Io::Packaged(_) | Io::Stdin { poll: true } => None,
    }
}

/// Reads one channel. See the module documentation.
pub struct Source {
    uri: SourceUri,
    io: Io,
    state: SourceState,
    backoff: Backoff,
    retry_at: Option<Instant>,
    live_since: Option<Instant>,
    reg: Registration,
    wake: Option<Instant>,
    discontinuity: bool,
    since_break: u64,
    bytes_in: u64,
    /// A failure was logged; further ones go to debug until the source is live again.
    quiet: bool,
    buf: Vec<u8>,
}

impl Source {
    /// Starts reading `uri`. Never fails: errors put the source in `Retrying`.
    pub fn open(uri: &SourceUri, now: Instant) -> Source {
        let mut s = Source {
            uri: uri.clone(),
            io: Io::Idle,
            state: SourceState::Connecting,
            backoff: Backoff::new(Duration::from_millis(500), Duration::from_secs(30)),
            retry_at: None,
            live_since: None,
            reg: Registration::default(),
            wake: Some(now),
            discontinuity: false,
            since_break: 0,
            bytes_in: 0,
            quiet: false,
            buf: vec![0; READ_BUF],
        };
        s.start(now, None);
        s
    }

    /// Registers the current fd (if any) with `reactor` under `token`; calling it again is fine.
    /// Later fds (after a reconnect) are registered by `service` under the same token.
    pub fn register(&mut self, reactor: &Reactor, token: Token) {
        let force = self.reg.set_token(token);
        self.sync_reg(reactor, force);
    }

    /// When `service` should run next without readiness: a pacing due time, a retry or timeout
    /// deadline, or "now" if the last call stopped at its bound.
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.wake
    }

    /// Reads what is available and hands it to `out`; reconnects when a retry is due.
    pub fn service(&mut self, now: Instant, reactor: &Reactor, out: &mut dyn FnMut(&[u8])) {
        self.wake = None;
        if self.state == SourceState::Ended {
            return;
        }
        if matches!(self.io, Io::Idle) {
            match self.retry_at {
                Some(t) if now >= t => self.start(now, Some(reactor)),
                t => {
                    self.wake = t;
                    return;
                }
            }
            if matches!(self.io, Io::Idle) {
                return;
            }
        }
        self.wake = None;
        let mut delivered = 0u64;
        let mut looped = false;
        let mut emit = |b: &[u8]| {
            delivered += b.len() as u64;
            out(b)
        };
        // Ok: keep going; Err(None): end of input; Err(Some(why)): failed, retry.
        let result: Result<(), Option<String>> = match &mut self.io {
            Io::Idle => Ok(()),
            Io::Udp(fd) => {
                match read_fd(fd.as_fd(), true, &mut self.buf, &mut emit) {
                    Ok(Read::Bound) => self.wake = Some(now),
                    Ok(_) => {}
                    // Per-datagram errors (e.g. a queued ICMP error): note them, keep listening.
                    Err(e) => log::debug!("source {}: recv: {e}", self.uri),
                }
                Ok(())
            }
            Io::Stdin { poll } => {
                let poll = *poll;
                match read_fd(rustix::stdio::stdin(), false, &mut self.buf, &mut emit) {
                    Ok(Read::Eof) => Err(None),
                    Ok(r) => {
                        self.wake = (poll || r == Read::Bound).then_some(now);
                        Ok(())
                    }
                    Err(e) => Err(Some(format!("read: {e}"))),
                }
            }
            Io::Http(conn) => {
                let mut more = false;
                match conn.pump(now, &mut self.buf, MAX_BYTES_PER_CALL, &mut more, &mut emit) {
                    http::Step::Pending => {
                        self.wake = Some(if more { now } else { conn.deadline() });
                        Ok(())
                    }
                    http::Step::Eof => Err(Some("server closed the stream".into())),
                    http::Step::Fail(e) => Err(Some(e)),
                }
            }
            Io::File(f) => match f.pump(now, &mut self.buf, MAX_BYTES_PER_CALL, &mut emit) {
                file::Step::Wait(t) => {
                    self.wake = Some(t);
                    Ok(())
                }
                file::Step::Looped => {
                    looped = true;
                    self.wake = Some(now);
                    Ok(())
                }
                file::Step::Fail(e) => Err(Some(e)),
            },
            Io::Packaged(r) => match r.pump(now, MAX_BYTES_PER_CALL, &mut emit) {
                packaged::Step::Wait(t) => {
                    self.wake = Some(t);
                    Ok(())
                }
                packaged::Step::Eof => Err(None),
                packaged::Step::Fail(e) => {
                    // Replaying from the start would repeat sequence numbers: stop instead.
                    log::error!("source {}: {e}; stopping this source", self.uri);
                    Err(None)
                }
            },
        };
        self.bytes_in += delivered;
        self.since_break += delivered;
        if looped && self.since_break > 0 {
            log::debug!("source {}: looped", self.uri);
            self.discontinuity = true;
            self.since_break = 0;
        }
        match result {
            Ok(()) => {
                let streaming = match &self.io {
                    Io::Http(c) => c.streaming(),
                    Io::File(_) | Io::Packaged(_) => true,
                    _ => delivered > 0,
                };
                if streaming {
                    self.set_live(now);
                }
                // E.g. the HTTP request is out: switch the fd from write to read interest.
                self.sync_reg(reactor, false);
            }
            Err(None) => self.end(reactor),
            Err(Some(why)) => self.fail(now, Some(reactor), &why),
        }
    }

    /// What the source is doing.
    pub fn state(&self) -> SourceState {
        self.state
    }

    /// True once after a reconnect or a file loop: the next bytes do not continue the previous
    /// ones (see the module documentation for where the break lies).
    pub fn take_discontinuity(&mut self) -> bool {
        std::mem::take(&mut self.discontinuity)
    }

    /// Bytes handed out so far.
    #[allow(dead_code)] // API for the status page; not wired yet
    pub fn bytes_in(&self) -> u64 {
        self.bytes_in
    }

    /// Opens the I/O object for the URI; on error schedules a retry.
    fn start(&mut self, now: Instant, reactor: Option<&Reactor>) {
        self.retry_at = None;
        let opened = match &self.uri {
            SourceUri::Udp { addr, iface } => open_udp(*addr, *iface).map(Io::Udp),
            SourceUri::Http { host, port, path } => {
                http::Conn::connect(host, *port, path, now).map(Io::Http)
            }
            SourceUri::File(p) => file::FileSource::open(p).map(|f| Io::File(Box::new(f))),
            SourceUri::Packaged(p) => packaged::PackagedReader::open(p)
                .map(|r| Io::Packaged(Box::new(r)))
                .map_err(|e| format!("{}: {e}", p.display())),
            SourceUri::Stdin => {
                let fd = rustix::stdio::stdin();
                rustix::fs::fcntl_getfl(fd)
                    .and_then(|fl| rustix::fs::fcntl_setfl(fd, fl | rustix::fs::OFlags::NONBLOCK))
                    .map(|()| Io::Stdin { poll: false })
                    .map_err(|e| format!("stdin: {e}"))
            }
        };
        match opened {
            Ok(io) => {
                self.io = io;
                self.wake = Some(now);
                if self.state != SourceState::Connecting {
                    log::debug!("source {}: connecting", self.uri);
                }
                self.state = SourceState::Connecting;
                if let Some(r) = reactor {
                    self.sync_reg(r, false);
                }
            }
            Err(e) if matches!(self.uri, SourceUri::Stdin | SourceUri::Packaged(_)) => {
                log::error!("source {}: {e}", self.uri);
                self.state = SourceState::Ended;
            }
            Err(e) => self.fail(now, reactor, &e),
        }
    }

    /// Brings the reactor in line with the current fd's interest.
    fn sync_reg(&mut self, reactor: &Reactor, force: bool) {
        let Some(fd) = fd_of(&self.io) else { return };
        if let Err(e) = self.reg.update(reactor, fd, interest_of(&self.io), force) {
            if let Io::Stdin { poll } = &mut self.io {
                // epoll refuses regular files (EPERM): poll stdin from the timer instead.
                log::debug!(
                    "source {}: not pollable ({e}); reading on every wakeup",
                    self.uri
                );
                *poll = true;
                self.wake = Some(Instant::ZERO);
            } else {
                log::warn!("source {}: cannot register with the reactor: {e}", self.uri);
            }
        }
    }

    /// Drops the I/O object, removing its fd from the reactor first.
    fn drop_io(&mut self, reactor: Option<&Reactor>) {
        if let (Some(r), Some(fd)) = (reactor, fd_of(&self.io)) {
            // Removing never fails (errors are ignored by the reactor).
            let _ = self.reg.update(r, fd, None, false);
        }
        self.reg.closed();
        self.io = Io::Idle;
    }

    fn set_live(&mut self, now: Instant) {
        if self.state != SourceState::Live {
            log::info!("source {}: live", self.uri);
            self.state = SourceState::Live;
            self.live_since = Some(now);
            self.quiet = false;
        }
    }

    fn end(&mut self, reactor: &Reactor) {
        log::info!("source {}: end of input", self.uri);
        self.drop_io(Some(reactor));
        self.state = SourceState::Ended;
        self.wake = None;
    }

    fn fail(&mut self, now: Instant, reactor: Option<&Reactor>, why: &str) {
        self.drop_io(reactor);
        if self.since_break > 0 {
            self.discontinuity = true;
            self.since_break = 0;
        }
        if self
            .live_since
            .take()
            .is_some_and(|t| now.saturating_since(t) >= STABLE_AFTER)
        {
            self.backoff.reset();
        }
        let delay = self.backoff.next_delay();
        if self.quiet {
            log::debug!("source {}: {why}; retrying in {delay:?}", self.uri);
        } else {
            log::warn!("source {}: {why}; retrying in {delay:?}", self.uri);
            self.quiet = true;
        }
        self.state = SourceState::Retrying;
        self.retry_at = Some(now + delay);
        self.wake = self.retry_at;
    }
}

/// Why [`read_fd`] stopped.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Read {
    /// Nothing more to read now (EAGAIN).
    Again,
    /// The per-call bound was reached; there may be more.
    Bound,
    /// End of a stream (never for datagrams: an empty datagram is skipped).
    Eof,
}

/// Reads `fd` until EAGAIN, EOF or the per-call bound, handing each read to `emit`.
fn read_fd(
    fd: BorrowedFd<'_>,
    datagrams: bool,
    buf: &mut [u8],
    emit: &mut dyn FnMut(&[u8]),
) -> Result<Read, Errno> {
    let mut total = 0usize;
    while total < MAX_BYTES_PER_CALL {
        let r = if datagrams {
            rustix::net::recv(fd, &mut *buf, RecvFlags::empty()).map(|(n, _)| n)
        } else {
            rustix::io::read(fd, &mut *buf)
        };
        match r {
            Ok(0) if !datagrams => return Ok(Read::Eof),
            Ok(n) => {
                if n > 0 {
                    emit(&buf[..n]);
                }
                total += n.max(1);
            }
            Err(Errno::AGAIN) => return Ok(Read::Again),
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Read::Bound)
}

/// Binds a non-blocking UDP socket to `addr` (SO_REUSEADDR, large SO_RCVBUF) and joins the group
/// if `addr` is multicast. A multicast socket is bound to the group address, so it only receives
/// that group's datagrams even when other groups use the same port.
fn open_udp(addr: SocketAddr, iface: Option<Ipv4Addr>) -> Result<OwnedFd, String> {
    let family = if addr.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let fd = rustix::net::socket_with(
        family,
        SocketType::DGRAM,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| format!("socket: {e}"))?;
    sockopt::set_socket_reuseaddr(&fd, true).map_err(|e| format!("SO_REUSEADDR: {e}"))?;
    if let Err(e) = sockopt::set_socket_recv_buffer_size(&fd, UDP_RCVBUF) {
        log::debug!("udp source {addr}: SO_RCVBUF: {e}");
    }
    rustix::net::bind(&fd, &addr).map_err(|e| format!("bind {addr}: {e}"))?;
    match addr.ip() {
        IpAddr::V4(group) if group.is_multicast() => {
            let iface = iface.unwrap_or(Ipv4Addr::UNSPECIFIED);
            sockopt::set_ip_add_membership(&fd, &group, &iface)
                .map_err(|e| format!("join {group} on {iface}: {e}"))?;
        }
        IpAddr::V6(group) if group.is_multicast() => {
            sockopt::set_ipv6_add_membership(&fd, &group, 0)
                .map_err(|e| format!("join {group}: {e}"))?;
        }
        _ => {}
    }
    Ok(fd)
}

#[cfg(test)]
mod tests;
