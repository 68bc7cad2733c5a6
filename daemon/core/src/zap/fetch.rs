//! [`DirFetch`]: the box's side of the channel directory — asks each root for its DIRECTORY pages,
//! joins them, applies them to the box's [`Directory`], and refreshes periodically.
//!
//! Roots are numbered by their order in the box's config (`--root` repeated); that index is the
//! `root` of the entries they publish, so the lower-indexed root wins a number both claim.
//!
//! A round: a fresh nonce, DIR_REQ for page 0; page 0 says how many pages there are, and the
//! missing ones are asked for at once. When all pages of the round are in, their entries are
//! joined into one body and applied with [`Directory::apply`] (all or nothing). Unanswered pages
//! are asked again every `retry` (doubling up to `refresh`); a finished round starts again after
//! `refresh`. Pages of an older round (another nonce) are ignored.
//!
//! Driving contract: [`DirFetch::handle_datagram`] with datagrams from the box's socket (it takes
//! only DIRECTORY messages from its roots and says so), then drain [`DirFetch::poll_transmit`]
//! (which also runs the retry timers) and [`DirFetch::poll_event`]; wake at
//! [`DirFetch::poll_timeout`].
//!
//! Invariants: at most [`MAX_PAGES`] pages per root are held, each at most
//! [`PAGE_BODY_MAX`](super::publish::PAGE_BODY_MAX) bytes; a hostile page leaves the directory
//! as it was (an error event); nothing panics on any input.

use super::directory::{DirError, Directory, VERSION};
use super::publish::MAX_PAGES;
use crate::ring::{Ring, Rng};
use crate::time::Instant;
use crate::wire::Message;
use crate::Transmit;
use alloc::vec::Vec;
use core::net::SocketAddr;
use core::time::Duration;

/// Settings.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct FetchConfig {
    /// First retry of an unanswered request (doubles up to `refresh`).
    pub retry: Duration,
    /// Time between two complete rounds.
    pub refresh: Duration,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            retry: Duration::from_millis(250),
            refresh: Duration::from_secs(60),
        }
    }
}

/// What happened to the directory.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum FetchEvent {
    /// Root `root`'s directory was applied; the directory now has `entries` channels.
    Updated { root: u8, entries: usize },
    /// Root `root` sent a directory the box refused.
    Refused { root: u8, error: DirError },
}

struct RootFetch {
    addr: SocketAddr,
    nonce: u32,
    /// Pages in this round (0: not known yet).
    pages: u8,
    /// Entry bytes (body without version and count) and entry count of each page received.
    got: Vec<Option<(Vec<u8>, u16)>>,
    /// Pages to ask for now.
    ask: u64,
    next: Instant,
    backoff: Duration,
    rounds: u64,
}

/// The box's directory fetcher. See the module documentation.
pub struct DirFetch {
    cfg: FetchConfig,
    roots: Vec<RootFetch>,
    rng: Rng,
    events: Ring<FetchEvent>,
}

impl DirFetch {
    /// Fetches from `roots` (at most 255; index = position), starting now.
    pub fn new(cfg: FetchConfig, roots: &[SocketAddr], seed: u64, now: Instant) -> DirFetch {
        let mut rng = Rng::new(seed ^ 0xD1EC_7041);
        let roots = roots
            .iter()
            .take(255)
            .map(|&addr| RootFetch {
                addr,
                nonce: rng.next_nonzero_u32(),
                pages: 0,
                got: (0..MAX_PAGES).map(|_| None).collect(),
                ask: 1,
                next: now,
                backoff: cfg.retry,
                rounds: 0,
            })
            .collect();
        DirFetch {
            cfg,
            roots,
            rng,
            events: Ring::new(16),
        }
    }

    /// Complete rounds applied from root `i`.
    pub fn rounds(&self, i: usize) -> u64 {
        self.roots.get(i).map_or(0, |r| r.rounds)
    }

    /// Takes a DIRECTORY page from one of the roots; `false` if the datagram is not one (the
    /// caller hands it on).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &[u8],
        dir: &mut Directory,
    ) -> bool {
        if bytes.get(1) != Some(&0x41) {
            return false;
        }
        let Some(i) = self.roots.iter().position(|r| r.addr == from) else {
            return false;
        };
        let Ok(Message::Directory {
            nonce,
            page,
            pages,
            body,
        }) = Message::parse(bytes)
        else {
            return true;
        };
        let r = &mut self.roots[i];
        let (p, n) = (usize::from(page), usize::from(pages));
        if nonce != r.nonce
            || n == 0
            || n > MAX_PAGES
            || p >= n
            || (r.pages != 0 && r.pages != pages)
        {
            return true;
        }
        if body.len() < 3 || body[0] != VERSION {
            self.events.push(FetchEvent::Refused {
                root: i as u8,
                error: DirError::Version,
            });
            return true;
        }
        if r.pages == 0 {
            r.pages = pages;
            // Ask for the other pages at once.
            r.ask = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
            r.next = now;
        }
        r.ask &= !(1u64 << p);
        let count = u16::from_be_bytes([body[1], body[2]]);
        r.got[p] = Some((body[3..].to_vec(), count));
        if r.got[..n].iter().all(Option::is_some) {
            self.finish(i, now, dir);
        }
        true
    }

    fn finish(&mut self, i: usize, now: Instant, dir: &mut Directory) {
        let r = &mut self.roots[i];
        let n = usize::from(r.pages);
        let total: u32 = r.got[..n].iter().flatten().map(|g| u32::from(g.1)).sum();
        let ev = match u16::try_from(total) {
            Err(_) => FetchEvent::Refused {
                root: i as u8,
                error: DirError::Full,
            },
            Ok(total) => {
                let mut body = Vec::with_capacity(
                    3 + r.got.iter().flatten().map(|g| g.0.len()).sum::<usize>(),
                );
                body.push(VERSION);
                body.extend_from_slice(&total.to_be_bytes());
                for g in r.got[..n].iter().flatten() {
                    body.extend_from_slice(&g.0);
                }
                match dir.apply(i as u8, &body) {
                    Ok(entries) => {
                        r.rounds += 1;
                        FetchEvent::Updated {
                            root: i as u8,
                            entries,
                        }
                    }
                    Err(error) => FetchEvent::Refused {
                        root: i as u8,
                        error,
                    },
                }
            }
        };
        self.events.push(ev);
        // Next round after `refresh`.
        r.nonce = self.rng.next_nonzero_u32();
        r.pages = 0;
        r.got.iter_mut().for_each(|g| *g = None);
        r.ask = 1;
        r.next = now + self.cfg.refresh;
        r.backoff = self.cfg.retry;
    }

    /// When a request is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.roots.iter().map(|r| r.next).min()
    }

    /// Writes the next DIR_REQ into `buf`.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        for r in self.roots.iter_mut().filter(|r| now >= r.next) {
            if r.ask == 0 {
                // Every page asked: wait for answers, then ask again what is missing.
                let n = if r.pages == 0 {
                    1
                } else {
                    usize::from(r.pages)
                };
                for p in 0..n {
                    if r.got[p].is_none() {
                        r.ask |= 1u64 << p;
                    }
                }
                r.next = now + r.backoff;
                r.backoff = (r.backoff * 2).min(self.cfg.refresh);
                continue;
            }
            let page = r.ask.trailing_zeros() as u8;
            r.ask &= !(1u64 << page);
            let len = Message::DirRequest {
                nonce: r.nonce,
                page,
            }
            .emit(buf)
            .ok()?;
            return Some(Transmit { dst: r.addr, len });
        }
        None
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<FetchEvent> {
        self.events.pop()
    }
}

#[cfg(test)]
#[path = "fetch_tests.rs"]
mod tests;
