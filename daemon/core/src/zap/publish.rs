//! [`DirServer`]: the root's side of the channel directory — answers DIR_REQ with DIRECTORY pages.
//!
//! The root's directory comes from its configuration and does not change while it runs, so it is
//! cut into pages once, at construction: each page is a complete directory body (as
//! [`Directory::emit`] writes it) that fits one datagram, at most [`MAX_PAGES`] pages. A box asks
//! for pages by index and joins them (see [`super::fetch`]).
//!
//! Driving contract: [`DirServer::handle_request`] for each DIR_REQ (the shell recognises them
//! with [`is_request`] before handing other datagrams to the root), then drain
//! [`DirServer::poll_transmit`].
//!
//! Invariants: answers are bounded twice — at most `queue` wait (more are dropped and counted),
//! and at most `per_second` leave per second (the rest wait, then are dropped when the queue is
//! full) — so a flood of requests costs the root a fixed control budget. An answer is never
//! larger than the request times the page size, and a request for a page that does not exist is
//! ignored. Nothing here allocates after construction.

use super::directory::{DirError, Directory, Entry};
use crate::ring::Ring;
use crate::time::Instant;
use crate::wire::{Message, HEADER_LEN, MAX_DATAGRAM};
use crate::Transmit;
use alloc::vec::Vec;
use core::net::SocketAddr;
use core::time::Duration;

/// Most pages a directory is cut into.
pub const MAX_PAGES: usize = 64;
/// Largest page body: a DIRECTORY datagram (header, nonce, page, pages) fits [`MAX_DATAGRAM`].
pub const PAGE_BODY_MAX: usize = MAX_DATAGRAM - HEADER_LEN - 6;

/// Whether a datagram is a DIR_REQ (cheap check on the type byte, for demultiplexing).
pub fn is_request(datagram: &[u8]) -> bool {
    datagram.len() >= 2 && datagram[0] == crate::wire::MAGIC && datagram[1] == 0x40
}

/// Counters.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct DirServerStats {
    /// DIR_REQ datagrams seen.
    pub requests: u64,
    /// DIRECTORY pages sent.
    pub answered: u64,
    /// Requests dropped: queue full or a page that does not exist.
    pub dropped: u64,
}

/// The root's directory service. See the module documentation.
pub struct DirServer {
    pages: Vec<Vec<u8>>,
    queue: Ring<(SocketAddr, u32, u8)>,
    per_second: u32,
    window: (Instant, u32),
    stats: DirServerStats,
}

impl DirServer {
    /// Cuts `dir` into pages. `per_second` answers leave per second at most (≥ 1), `queue`
    /// requests wait at most. `Full` if the directory needs more than [`MAX_PAGES`] pages.
    pub fn new(dir: &Directory, per_second: u32, queue: usize) -> Result<DirServer, DirError> {
        let mut pages: Vec<Vec<u8>> = Vec::new();
        let mut current: Vec<Entry> = Vec::new();
        let mut buf = alloc::vec![0u8; PAGE_BODY_MAX];
        let page_of = |entries: &[Entry], buf: &mut [u8]| -> Result<usize, DirError> {
            let mut d = Directory::new(entries.len());
            for e in entries {
                d.insert(e.clone())?;
            }
            d.emit(buf)
        };
        for e in dir.entries() {
            current.push(e.clone());
            if page_of(&current, &mut buf).is_err() {
                // This entry does not fit: close the page without it (an entry alone always
                // fits: 8 + 64 + 255 bytes < PAGE_BODY_MAX).
                current.pop();
                let n = page_of(&current, &mut buf)?;
                pages.push(buf[..n].to_vec());
                current.clear();
                current.push(e.clone());
            }
        }
        let n = page_of(&current, &mut buf)?;
        pages.push(buf[..n].to_vec());
        if pages.len() > MAX_PAGES {
            return Err(DirError::Full);
        }
        Ok(DirServer {
            pages,
            queue: Ring::new(queue.max(1)),
            per_second: per_second.max(1),
            window: (Instant::ZERO, 0),
            stats: DirServerStats::default(),
        })
    }

    /// How many pages the directory takes.
    pub fn pages(&self) -> usize {
        self.pages.len()
    }

    /// Counters.
    pub fn stats(&self) -> DirServerStats {
        self.stats
    }

    /// A datagram the shell recognised with [`is_request`]; anything else in it is ignored.
    pub fn handle_request(&mut self, _now: Instant, from: SocketAddr, bytes: &[u8]) {
        self.stats.requests += 1;
        let Ok(Message::DirRequest { nonce, page }) = Message::parse(bytes) else {
            self.stats.dropped += 1;
            return;
        };
        if usize::from(page) >= self.pages.len() || !self.queue.push((from, nonce, page)) {
            self.stats.dropped += 1;
        }
    }

    /// When a waiting answer may leave (the next rate window), if answers wait.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.queue.is_empty() || self.window.1 < self.per_second {
            return None;
        }
        Some(self.window.0 + Duration::from_secs(1))
    }

    /// Writes the next answer into `buf` (at least [`MAX_DATAGRAM`] bytes).
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if now.saturating_since(self.window.0) >= Duration::from_secs(1) {
            self.window = (now, 0);
        }
        if self.window.1 >= self.per_second {
            return None;
        }
        let (dst, nonce, page) = self.queue.pop()?;
        let body = &self.pages[usize::from(page)];
        let len = Message::Directory {
            nonce,
            page,
            // pages.len() <= MAX_PAGES (checked in new), so it fits a u8.
            pages: self.pages.len() as u8,
            body,
        }
        .emit(buf)
        .ok()?;
        self.window.1 += 1;
        self.stats.answered += 1;
        Some(Transmit { dst, len })
    }
}
