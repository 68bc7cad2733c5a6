//! Sources (where a root reads a channel) and sinks (where a box writes it).
//!
//! - [`uri`]: the `udp://`, `http://`, `file:`, `exec:` and `-` forms.
//! - [`source`]: [`Source`](source::Source) reads a channel — UDP (unicast/multicast), HTTP, a looped and
//!   PCR-paced file, or stdin — and hands the bytes to a callback.
//! - [`sink`]: [`Sink`](sink::Sink) writes a channel to a file/FIFO/device, a spawned command, or UDP.
//! - [`decoder`]: [`DecoderSink`](decoder::DecoderSink) writes TS into a hardware decoder after
//!   programming it from the stream's PAT/PMT: [`dvb`] (Linux DVB demux + dvr), `amstream`
//!   (Amlogic, cargo feature `amstream`); `led` shows status on a front-panel LED.
//!
//! Both are driven by the daemon's single-threaded, level-triggered [`Reactor`] loop: `register`
//! once with a token, call `service` when the token is ready or `next_wakeup` has passed.
//!
//! Invariants:
//! - No call blocks on the network or on a peer process: every socket and pipe is `O_NONBLOCK`.
//!   The only blocking calls are reads of regular files and DNS resolution when an HTTP source
//!   (re)connects to a host name (`ToSocketAddrs`; IP literals never block).
//! - Nothing read from the network, a file or the config can panic; failures become states with a
//!   retry deadline (exponential [`Backoff`]) reported by `next_wakeup`.
//! - Work per call is bounded ([`MAX_BYTES_PER_CALL`]); a component that stopped at the bound asks
//!   to be woken at once rather than spinning inside one call.
//! - A component has at most one fd in the reactor, always under its current token; it is removed
//!   from the reactor before it is closed, and a replacement is added when it is opened.
//! - No threads. Unsafe code only for the decoder ioctls ([`dvb`], `amstream`), each call with a
//!   SAFETY comment.
//!
//! [`Reactor`]: crate::reactor::Reactor

#[cfg(feature = "amstream")]
pub mod amstream;
pub mod box_sink;
#[allow(dead_code)] // stats/streams/decoder accessors: for a decoder status block and tests
pub mod decoder;
#[allow(dead_code)] // Dvb::ops: tests
pub mod dvb;
pub mod led;
pub(crate) mod reopen;
pub mod sink;
#[cfg(feature = "root")]
pub mod source;
pub mod uri;

use crate::reactor::{Reactor, Token};
use rustix::fd::BorrowedFd;
use std::time::Duration;

/// Upper bound on the bytes one `service` call hands out (or reads), so one busy source cannot
/// starve the rest of the loop.
#[cfg_attr(not(feature = "root"), allow(dead_code))] // only sources use it yet
pub const MAX_BYTES_PER_CALL: usize = 256 * 1024;

/// Exponential retry delay: `min`, doubling up to `max`.
#[derive(Clone, Debug)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    cur: Duration,
}

impl Backoff {
    pub(crate) fn new(min: Duration, max: Duration) -> Self {
        Backoff { min, max, cur: min }
    }

    /// The delay to wait now; the next one is twice as long (at most `max`).
    pub(crate) fn next_delay(&mut self) -> Duration {
        let d = self.cur;
        self.cur = self.cur.saturating_mul(2).min(self.max);
        d
    }

    /// Back to `min` (after a success that lasted).
    pub(crate) fn reset(&mut self) {
        self.cur = self.min;
    }
}

/// What one fd is registered for in the reactor. Interest `None` means "not in the reactor".
#[derive(Debug, Default)]
pub(crate) struct Registration {
    token: Option<Token>,
    interest: Option<(bool, bool)>,
}

impl Registration {
    /// Records `token`; returns whether it changed (the fd must then be re-registered).
    pub(crate) fn set_token(&mut self, token: Token) -> bool {
        let changed = self.token != Some(token);
        self.token = Some(token);
        changed
    }

    /// Brings the reactor in line with `want` (read, write) for `fd`; `None` removes it. A no-op
    /// if nothing changed, unless `force` (new token). Without a token nothing is registered yet.
    pub(crate) fn update(
        &mut self,
        reactor: &Reactor,
        fd: BorrowedFd<'_>,
        want: Option<(bool, bool)>,
        force: bool,
    ) -> std::io::Result<()> {
        let Some(token) = self.token else {
            return Ok(());
        };
        if want == self.interest && !force {
            return Ok(());
        }
        match (self.interest, want) {
            (None, None) => {}
            (Some(_), None) => {
                reactor.remove(fd);
                self.interest = None;
            }
            (Some(_), Some((r, w))) => {
                reactor.modify(fd, token, r, w)?;
                self.interest = want;
            }
            (None, Some((r, w))) => {
                match reactor.add(fd, token, r, w) {
                    Ok(()) => {}
                    // Already there (e.g. a caller re-registered): just change it.
                    Err(e) if e.raw_os_error() == Some(rustix::io::Errno::EXIST.raw_os_error()) => {
                        reactor.modify(fd, token, r, w)?
                    }
                    Err(e) => return Err(e),
                }
                self.interest = want;
            }
        }
        Ok(())
    }

    /// The fd was closed without `update(.., None, ..)`: the kernel dropped it from epoll.
    pub(crate) fn closed(&mut self) {
        self.interest = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        let got: Vec<u64> = (0..9).map(|_| b.next_delay().as_millis() as u64).collect();
        assert_eq!(
            got,
            [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(500));
    }
}
