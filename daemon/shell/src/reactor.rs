//! The event loop's readiness source: one epoll instance, level-triggered.
//!
//! Components register their fds once with a [`Token`] and change interest only when it changes
//! (e.g. a sink that hit EAGAIN asks for writability). [`Reactor::wait`] sleeps until an fd is
//! ready or the deadline passes, and fills a reusable buffer: no allocation per iteration.

use rustix::event::epoll::{self, EventData, EventFlags};
use rustix::fd::{AsFd, OwnedFd};
use std::io;
use tvmesh_core::time::Instant;

/// Identifies a registered fd to its owner. The shell assigns tokens; see `daemon.rs`.
pub type Token = u64;

/// What a registered fd was found ready for.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Ready {
    /// The token given at registration.
    pub token: Token,
    /// Readable, or hung up / in error (a read will say which).
    pub readable: bool,
    /// Writable.
    pub writable: bool,
}

/// Level-triggered epoll.
pub struct Reactor {
    ep: OwnedFd,
    events: Vec<epoll::Event>,
    ready: Vec<Ready>,
}

fn flags(read: bool, write: bool) -> EventFlags {
    let mut f = EventFlags::empty();
    if read {
        f |= EventFlags::IN;
    }
    if write {
        f |= EventFlags::OUT;
    }
    f
}

impl Reactor {
    /// A reactor returning at most `max_events` readiness records per wait.
    pub fn new(max_events: usize) -> io::Result<Self> {
        let ep = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        Ok(Reactor {
            ep,
            events: Vec::with_capacity(max_events),
            ready: Vec::with_capacity(max_events),
        })
    }

    /// Watches `fd` for the given interest.
    pub fn add(&self, fd: impl AsFd, token: Token, read: bool, write: bool) -> io::Result<()> {
        Ok(epoll::add(
            &self.ep,
            fd,
            EventData::new_u64(token),
            flags(read, write),
        )?)
    }

    /// Changes the interest of a watched fd.
    pub fn modify(&self, fd: impl AsFd, token: Token, read: bool, write: bool) -> io::Result<()> {
        Ok(epoll::modify(
            &self.ep,
            fd,
            EventData::new_u64(token),
            flags(read, write),
        )?)
    }

    /// Stops watching `fd` (closing an fd also removes it).
    pub fn remove(&self, fd: impl AsFd) {
        let _ = epoll::delete(&self.ep, fd);
    }

    /// Waits until something is ready or `deadline` (None: forever) passes; returns what is ready.
    /// `now` is the current time, used to compute the timeout. Interrupted waits return empty.
    pub fn wait(&mut self, now: Instant, deadline: Option<Instant>) -> io::Result<&[Ready]> {
        let timeout = deadline.map(|d| {
            let us = d.as_micros().saturating_sub(now.as_micros());
            rustix::time::Timespec {
                tv_sec: (us / 1_000_000) as _,
                tv_nsec: ((us % 1_000_000) * 1000) as _,
            }
        });
        self.events.clear();
        self.ready.clear();
        match epoll::wait(
            &self.ep,
            rustix::buffer::spare_capacity(&mut self.events),
            timeout.as_ref(),
        ) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => return Ok(&self.ready),
            Err(e) => return Err(e.into()),
        }
        for e in &self.events {
            let f = e.flags;
            self.ready.push(Ready {
                token: e.data.u64(),
                readable: f.intersects(
                    EventFlags::IN | EventFlags::HUP | EventFlags::ERR | EventFlags::RDHUP,
                ),
                writable: f.intersects(EventFlags::OUT | EventFlags::ERR | EventFlags::HUP),
            });
        }
        Ok(&self.ready)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_readable_pipe_and_times_out() {
        let mut r = Reactor::new(8).unwrap();
        let (rd, wr) = rustix::pipe::pipe().unwrap();
        r.add(&rd, 7, true, false).unwrap();
        let t = crate::clock::now();
        assert!(r.wait(t, Some(t)).unwrap().is_empty());
        rustix::io::write(&wr, b"x").unwrap();
        let got = r.wait(t, None).unwrap();
        assert_eq!(
            got,
            [Ready {
                token: 7,
                readable: true,
                writable: false
            }]
        );
    }
}
