//! The root's DRM: scrambling protected channels at ingest, and the licence service.
//!
//! Scrambling: a channel made protected with [`Root::protect`] gets a [`KeySchedule`] (its seed
//! from the operator, rotating every `rotate_s` seconds of unix time, which the shell feeds in with
//! [`Root::handle_unix_time`]). Every chunk the chunker closes is scrambled in the pool exactly
//! once, before it is hashed into the channel's signer and before anything can send it
//! ([`Root::scramble_new_chunks`] runs first thing in `sign_new_chunks`): payloads under the
//! current key with [`cipher::scramble`], PAT/PMT/null packets clear so RAP detection, the chunk
//! flags and a licence-less box's relaying keep working; the chunk gets
//! [`ChunkFlags::ENCRYPTED`] and the key id. The manifest therefore hashes the chunk as carried,
//! and boxes verify it before they descramble. A source that is already scrambled is passed on
//! clear of our flag and counted (`already_scrambled`).
//!
//! Licences: LICENCE_REQ (0x34) from any address is answered with [`licence::server_answer`]
//! against the entitlements the shell loaded ([`Root::set_entitlements`], again on SIGHUP) and the
//! channel's previous/current/next keys. No session is needed (a box may ask before it joins);
//! abuse is bounded instead: at most [`LICENCES_PER_S`] answers per second and [`LICENCE_QUEUE`]
//! waiting, and a refusal (15 bytes + header) is smaller than any valid request, so the service
//! cannot amplify. Without an entitlements file every request is refused `UnknownDevice`.
//!
//! Invariants: the per-chunk path (scrambling) does not allocate; the answer queue is sized at
//! construction; key material is never printed (`KeySchedule`'s `Debug` omits it).

use super::Root;
use crate::chunk::ChunkFlags;
use crate::drm::cipher::{self, ClearPids};
use crate::drm::entitlements::Entitlements;
use crate::drm::keys::{KeySchedule, KeysError};
use crate::drm::licence::{self, REPLY_MAX};
use crate::drm::Key;
use crate::ring::{Ring, Rng};
use crate::time::Instant;
use crate::wire::{Message, FLAG_PROTECTED};
use crate::Transmit;
use alloc::vec::Vec;
use core::net::SocketAddr;
use core::time::Duration;

/// Licence answers per second, over all channels.
pub const LICENCES_PER_S: u32 = 100;
/// Licence answers waiting to be sent; more are dropped (boxes ask again).
pub const LICENCE_QUEUE: usize = 32;

/// Counters of the root's DRM, for the status page.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct RootDrmStats {
    /// Chunks scrambled.
    pub scrambled: u64,
    /// Chunks of protected channels left as they came (the source was already scrambled).
    pub already_scrambled: u64,
    /// Licences granted.
    pub granted: u64,
    /// Licence requests refused (any reason), answered.
    pub refused: u64,
    /// Licence requests dropped: malformed, or over the budget / queue.
    pub dropped: u64,
}

/// One protected channel.
struct Protection {
    tag: u32,
    schedule: KeySchedule,
    /// Next chunk sequence number to scramble.
    next_seq: u64,
}

/// A licence answer waiting to be sent.
struct Answer {
    dst: SocketAddr,
    channel: u16,
    len: u8,
    body: [u8; REPLY_MAX],
}

/// The root's DRM state. See the module docs.
pub(super) struct RootDrm {
    chans: Vec<Option<Protection>>,
    ents: Option<Entitlements>,
    pub(super) unix_s: u64,
    answers: Ring<Answer>,
    window: (Instant, u32),
    rng: Rng,
    nonces: u32,
    stats: RootDrmStats,
    /// Channels fed by an ahead-of-time packaged source (`packaged.rs`): their keys.
    pub(super) packaged: Vec<Option<super::packaged::Playback>>,
}

impl RootDrm {
    pub(super) fn new(channels: usize, seed: u64, now: Instant) -> Self {
        RootDrm {
            chans: (0..channels).map(|_| None).collect(),
            ents: None,
            unix_s: 0,
            answers: Ring::new(LICENCE_QUEUE),
            window: (now, 0),
            rng: Rng::new(seed ^ 0x6472_6d5f_6e6f_6e63),
            nonces: 0,
            stats: RootDrmStats::default(),
            packaged: (0..channels).map(|_| None).collect(),
        }
    }

    /// A fresh server nonce: 64 random bits ‖ a 32-bit counter (unique within a run even if the
    /// generator repeated; the licence module sets the top bit).
    fn nonce(&mut self) -> [u8; 12] {
        let mut n = [0u8; 12];
        n[..8].copy_from_slice(&self.rng.next_u64().to_be_bytes());
        n[8..].copy_from_slice(&self.nonces.to_be_bytes());
        self.nonces = self.nonces.wrapping_add(1);
        n
    }

    fn budget(&mut self, now: Instant) -> bool {
        if now.saturating_since(self.window.0) >= Duration::from_secs(1) {
            self.window = (now, 0);
        }
        if self.window.1 >= LICENCES_PER_S {
            return false;
        }
        self.window.1 += 1;
        true
    }
}

impl Root {
    /// Makes channel `channel` protected: its chunks are scrambled from now on under keys derived
    /// from `seed`, rotating every `rotate_s` seconds (see [`crate::drm::keys`]).
    pub fn protect(&mut self, channel: usize, seed: Key, rotate_s: u32) -> Result<(), KeysError> {
        let Some(c) = self.channels.get(channel) else {
            return Ok(());
        };
        let tag = crate::drm::channel_tag(c.name());
        let next_seq = c.chunker.next_seq();
        let schedule = KeySchedule::new(seed, rotate_s, self.drm.unix_s)?;
        if let Some(slot) = self.drm.chans.get_mut(channel) {
            *slot = Some(Protection {
                tag,
                schedule,
                next_seq,
            });
        }
        Ok(())
    }

    /// The wall clock, in unix seconds (key rotation and entitlement windows). Call it before
    /// [`Root::handle_source`] / [`Root::handle_timeout`] each pass; before the first call the
    /// root counts from 0.
    pub fn handle_unix_time(&mut self, unix_s: u64) {
        self.drm.unix_s = unix_s;
        for p in self.drm.chans.iter_mut().flatten() {
            p.schedule.handle_time(unix_s);
        }
    }

    /// Replaces the entitlements (at start and on SIGHUP); requests from now on use them.
    pub fn set_entitlements(&mut self, e: Entitlements) {
        self.drm.ents = Some(e);
    }

    /// DRM counters.
    pub fn drm_stats(&self) -> RootDrmStats {
        self.drm.stats
    }

    /// The id of the key channel `channel` is scrambled with now (`None`: not protected).
    pub fn current_key_id(&self, channel: usize) -> Option<u8> {
        if let Some(Some(p)) = self.drm.packaged.get(channel) {
            return Some(p.current_id());
        }
        let p = self.drm.chans.get(channel)?.as_ref()?;
        Some(p.schedule.current().id)
    }

    /// JOIN_ACK flags for a box joining `channel`.
    pub(super) fn join_flags(&self, channel: usize) -> u16 {
        match (self.drm.chans.get(channel), self.drm.packaged.get(channel)) {
            (Some(Some(_)), _) | (_, Some(Some(_))) => FLAG_PROTECTED,
            _ => 0,
        }
    }

    /// Scrambles the chunks of `channel` closed since the last call (before they are signed or
    /// sent: called first thing in `sign_new_chunks`).
    pub(super) fn scramble_new_chunks(&mut self, channel: usize) {
        let (Some(c), Some(Some(p))) = (
            self.channels.get_mut(channel),
            self.drm.chans.get_mut(channel),
        ) else {
            return;
        };
        let end = c.chunker.next_seq();
        let pmt = c.chunker.pmt_pid();
        let pmt = pmt.as_slice();
        let clear = ClearPids { pmt };
        // Chunks that already left the pool (a stalled caller) are skipped.
        let mut seq = p.next_seq.max(c.pool.window_start().unwrap_or(end));
        let key = p.schedule.current();
        while seq < end {
            if let Some((flags, key_id, payload)) = c.pool.get_mut(seq) {
                match cipher::scramble(payload, &key.key, key.id, p.tag, seq, clear) {
                    Ok(_) => {
                        *flags = flags.union(ChunkFlags::ENCRYPTED);
                        *key_id = key.id;
                        self.drm.stats.scrambled += 1;
                    }
                    Err(_) => self.drm.stats.already_scrambled += 1,
                }
            }
            seq += 1;
        }
        p.next_seq = end;
    }

    /// LICENCE_REQ from `from`.
    pub(super) fn on_licence_req(&mut self, now: Instant, from: SocketAddr, body: &[u8]) {
        if !self.drm.budget(now) {
            self.drm.stats.dropped += 1;
            return;
        }
        let nonce = self.drm.nonce();
        let mut out = [0u8; REPLY_MAX];
        let empty = Entitlements::default();
        let drm = &self.drm;
        let ents = drm.ents.as_ref().unwrap_or(&empty);
        let channels = &self.channels;
        let mut channel = 0u16;
        let keys_for = |name: &str| {
            let i = channels.iter().position(|c| c.name() == name.as_bytes())?;
            channel = i as u16; // < u16::MAX, checked in Root::new
            if let Some(Some(p)) = drm.packaged.get(i) {
                return Some(p.entries());
            }
            let p = drm.chans.get(i)?.as_ref()?;
            Some(&p.schedule.entries()[..])
        };
        let r = licence::server_answer(ents, drm.unix_s, keys_for, body, nonce, &mut out);
        let Ok(len) = r else {
            // Malformed (no reply) or, impossibly, a buffer too small.
            self.drm.stats.dropped += 1;
            return;
        };
        // A granted reply is longer than the 15-byte refusal.
        if len > licence::REPLY_HEADER_LEN {
            self.drm.stats.granted += 1;
        } else {
            self.drm.stats.refused += 1;
        }
        let a = Answer {
            dst: from,
            channel,
            len: len as u8, // ≤ REPLY_MAX = 179
            body: out,
        };
        if !self.drm.answers.push(a) {
            self.drm.stats.dropped += 1;
        }
    }

    /// The next licence answer.
    pub(super) fn poll_licence(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        while let Some(a) = self.drm.answers.pop() {
            let m = Message::Licence {
                channel: a.channel,
                body: &a.body[..usize::from(a.len)],
            };
            if let Ok(len) = m.emit(buf) {
                return Some(Transmit { dst: a.dst, len });
            }
        }
        None
    }
}
