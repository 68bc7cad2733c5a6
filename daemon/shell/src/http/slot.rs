//! One connection slot of the HTTP server: its socket, its state, and the request and response
//! buffers allocated once at bind.
//!
//! Invariants: `fd` is `Some` exactly in the states that hold a socket (all but `Free` and
//! `Closed`); `interest` mirrors what is registered with the reactor for `fd`; queued output is
//! `out[out_start..out_end]`, and `flush` resets both to 0 once all of it is sent; the buffers are
//! never resized.

use super::request::{Head, Method};
use crate::reactor::{Reactor, Token};
use log::debug;
use rustix::fd::OwnedFd;
use rustix::io::Errno;
use rustix::net::{self, SendFlags};
use tvmesh_core::time::Instant;

/// Where a slot is in its connection's life (see the server's module invariants).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum State {
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

pub(super) struct Slot {
    pub(super) fd: Option<OwnedFd>,
    pub(super) state: State,
    /// The application holds this id (see the module invariants).
    pub(super) holds: bool,
    /// Current epoll interest (read, write) of `fd`.
    pub(super) interest: (bool, bool),
    pub(super) req: Box<[u8]>,
    pub(super) req_len: usize,
    /// Where find_head_end resumes.
    pub(super) scanned: usize,
    pub(super) head: Option<Head>,
    pub(super) out: Box<[u8]>,
    pub(super) out_start: usize,
    pub(super) out_end: usize,
}

impl Slot {
    pub(super) fn new(req: usize, out: usize) -> Self {
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

    pub(super) fn clear(&mut self) {
        self.req_len = 0;
        self.scanned = 0;
        self.head = None;
        self.out_start = 0;
        self.out_end = 0;
    }

    pub(super) fn set_interest(
        &mut self,
        reactor: &Reactor,
        token: Token,
        read: bool,
        write: bool,
    ) {
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
    pub(super) fn flush(&mut self) -> Result<bool, Errno> {
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

    pub(super) fn method(&self) -> Method {
        self.head.as_ref().map_or(Method::Other, |h| h.method)
    }
}
