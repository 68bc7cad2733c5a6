//! [`Reopening`]: one fd that is opened, lost and reopened with backoff — the part an input
//! device, the lircd client and the decoder sinks share.
//!
//! Invariants: the fd is in the reactor under the registered token exactly while it is open and
//! an interest is wanted; it leaves the reactor before it is closed; retries back off from 500 ms
//! to 30 s and reset on success; the first failure of a run is logged as a warning, repeats at
//! debug level.

use super::{Backoff, Registration};
use crate::reactor::{Reactor, Token};
use rustix::fd::{AsFd, OwnedFd};
use std::time::Duration;
use tvmesh_core::time::Instant;

/// An fd with its reactor registration and retry schedule. See the module documentation.
#[derive(Debug)]
pub(crate) struct Reopening {
    what: String,
    fd: Option<OwnedFd>,
    reg: Registration,
    /// (read, write) wanted; `None`: not in the reactor.
    interest: Option<(bool, bool)>,
    backoff: Backoff,
    retry_at: Option<Instant>,
    quiet: bool,
}

impl Reopening {
    /// Closed; `what` names it in logs; `interest` is what it is registered for once open.
    pub(crate) fn new(what: String, interest: Option<(bool, bool)>) -> Self {
        Reopening {
            what,
            fd: None,
            reg: Registration::default(),
            interest,
            backoff: Backoff::new(Duration::from_millis(500), Duration::from_secs(30)),
            retry_at: None,
            quiet: false,
        }
    }

    /// The open fd.
    pub(crate) fn fd(&self) -> Option<&OwnedFd> {
        self.fd.as_ref()
    }

    /// Whether open.
    pub(crate) fn is_open(&self) -> bool {
        self.fd.is_some()
    }

    /// Remembers `token` and registers the open fd under it.
    pub(crate) fn register(&mut self, reactor: &Reactor, token: Token) {
        let force = self.reg.set_token(token);
        self.sync(Some(reactor), force);
    }

    /// Changes what the fd is registered for.
    pub(crate) fn set_interest(&mut self, reactor: &Reactor, interest: Option<(bool, bool)>) {
        if self.interest != interest {
            self.interest = interest;
            self.sync(Some(reactor), false);
        }
    }

    /// The next reopen, while closed.
    pub(crate) fn next_wakeup(&self) -> Option<Instant> {
        self.retry_at.filter(|_| self.fd.is_none())
    }

    /// Closed and a reopen is due.
    pub(crate) fn due(&self, now: Instant) -> bool {
        self.fd.is_none() && self.retry_at.is_some_and(|t| now >= t)
    }

    /// Opening worked: keeps `fd`, registers it, resets the backoff.
    pub(crate) fn opened(&mut self, fd: OwnedFd, reactor: Option<&Reactor>) {
        log::info!("{}: open", self.what);
        self.fd = Some(fd);
        self.backoff.reset();
        self.quiet = false;
        self.retry_at = None;
        self.sync(reactor, false);
    }

    /// Opening failed: schedules the next try.
    pub(crate) fn failed(&mut self, now: Instant, why: &str) {
        let delay = self.backoff.next_delay();
        if self.quiet {
            log::debug!("{}: {why}; retrying in {delay:?}", self.what);
        } else {
            log::warn!("{}: {why}; retrying in {delay:?}", self.what);
            self.quiet = true;
        }
        self.retry_at = Some(now + delay);
    }

    /// The open fd failed: takes it out of the reactor, closes it, schedules a reopen.
    pub(crate) fn lost(&mut self, now: Instant, reactor: &Reactor, why: &str) {
        if let Some(fd) = self.fd.take() {
            // Safe to ignore: removal errors are swallowed by the reactor.
            let _ = self.reg.update(reactor, fd.as_fd(), None, false);
        }
        self.reg.closed();
        self.failed(now, why);
    }

    fn sync(&mut self, reactor: Option<&Reactor>, force: bool) {
        let (Some(r), Some(fd)) = (reactor, &self.fd) else {
            return;
        };
        if let Err(e) = self.reg.update(r, fd.as_fd(), self.interest, force) {
            log::warn!("{}: cannot register with the reactor: {e}", self.what);
        }
    }
}
