//! The root as relay (issue 5): a NATed box that no partner can feed gets substreams from the
//! root beyond its `seed_copies`, within `relay_kbps`, counted on their own.
//!
//! A box subscribes to the root for a substream only when no partner can be its parent for it
//! (see `peer/sched.rs`). For most boxes the root then refuses once its seed places are taken;
//! the mesh feeds them. A box the mesh cannot reach — behind a NAT (its REPORT's host address is
//! not the address the root sees) that lets no greeting in (not a full cone), typically
//! endpoint-dependent mapping facing port-dependent filters, where punching fails — would starve.
//! For such a box the root accepts the substream as a *relay* substream:
//! - admission: the relay substreams of all boxes together stay within `relay_kbps`, each
//!   counted at a quarter of its channel's measured rate (the rate of one substream);
//! - pacing: every relayed chunk also passes a token bucket of `relay_kbps` (64 KiB burst); a
//!   relayed box is served only while the bucket holds a whole datagram, so its chunks wait
//!   (the catch-up backlog after a SUBSCRIBE is paced, not dropped);
//! - counting: relayed bytes are kept per channel ([`Root::bytes_relayed`]), apart from seed
//!   and repair traffic; the SUBACK tells the box which of its accepted substreams are relayed
//!   (bits 4–7 of `accepted`, which boxes before issue 5 ignore), so it counts them too.
//!
//! Relay substreams end like seed ones: the box subscribes without them (it found a parent), or
//! its session ends. The relay state lives in the introducer's per-slot table, valid only while
//! the slot's token matches the live session, so an ended session holds no relay place.
//!
//! Invariants: the per-chunk check is O(1) and allocation-free; admission scans the session table
//! once (control path, bounded by `max_sessions`); with `relay_kbps` 0 nothing is relayed.

use super::*;
use crate::nat::punch::RelayBudget;

/// The token bucket's burst, bytes.
pub const RELAY_BURST: u64 = 64 * 1024;

/// Relay budget and counters.
pub struct Relay {
    kbps: u32,
    budget: RelayBudget,
    /// Relayed bytes per channel.
    bytes: Vec<u64>,
    /// Relayed chunks not sent (over the token bucket).
    pub refused: u64,
}

impl Relay {
    /// A relay of `kbps` for `channels` channels.
    pub fn new(kbps: u32, channels: usize, now: Instant) -> Relay {
        Relay {
            kbps,
            budget: RelayBudget::new(now, u64::from(kbps) * 125, RELAY_BURST),
            bytes: alloc::vec![0; channels],
            refused: 0,
        }
    }
}

impl Root {
    /// Bytes the root relayed on channel `ch` (0 for an unknown channel).
    pub fn bytes_relayed(&self, ch: usize) -> u64 {
        self.relay.bytes.get(ch).copied().unwrap_or(0)
    }

    /// Relayed chunks held back by the relay token bucket.
    pub fn relay_refused(&self) -> u64 {
        self.relay.refused
    }

    /// Whether session `i` is a box the mesh cannot reach (NATed, no greeting gets in).
    fn unreachable_natted(&self, i: usize) -> bool {
        self.intro_entry(i)
            .is_some_and(|(a, _, b)| b.private.is_some_and(|p| p != a) && !b.nat.inbound_open())
    }

    /// The relay substreams of session `i`.
    pub(super) fn relay_mask(&self, i: usize) -> u8 {
        match (self.sessions[i].as_ref(), self.nat.boxes[i]) {
            (Some(s), Some(b)) if b.token == s.token => b.relay,
            _ => 0,
        }
    }

    /// Kbit/s of the relay substreams taken so far.
    fn relay_load_kbps(&self) -> u64 {
        (0..self.sessions.len())
            .filter_map(|i| {
                let m = self.relay_mask(i);
                let s = self.sessions[i].as_ref()?;
                Some(u64::from(m.count_ones()) * self.sub_kbps(s.channel))
            })
            .sum()
    }

    /// One substream's rate on channel `ch`, kbit/s.
    fn sub_kbps(&self, ch: usize) -> u64 {
        u64::from(self.channels[ch].meter.kbps) / SUBSTREAMS as u64
    }

    /// A substream `sub` that session `i` asked for and the seed places refused: takes it as a
    /// relay substream if the box is out of the mesh's reach and the budget admits it.
    pub(super) fn relay_accept(&mut self, i: u32, sub: usize) -> bool {
        let i = i as usize;
        if self.relay.kbps == 0 || !self.unreachable_natted(i) {
            return false;
        }
        let Some(ch) = self.sessions[i].as_ref().map(|s| s.channel) else {
            return false;
        };
        if self.relay_load_kbps() + self.sub_kbps(ch) > u64::from(self.relay.kbps) {
            return false;
        }
        if let Some(b) = self.nat.boxes[i].as_mut() {
            b.relay |= 1 << sub;
        }
        true
    }

    /// Session `i` now gets `accepted` from the root: relay substreams it dropped end.
    pub(super) fn relay_settle(&mut self, i: u32, accepted: u8) {
        if let Some(b) = self.nat.boxes[i as usize].as_mut() {
            b.relay &= accepted;
        }
    }
}

/// Whether the relay budget holds a whole datagram now: a relayed box is served only then, so
/// its chunks wait for the budget instead of being dropped.
pub(super) fn ready(relay: &mut Relay, now: Instant) -> bool {
    relay.budget.has(now, crate::wire::MAX_DATAGRAM)
}

/// The per-chunk check: whether a chunk of `len` bytes on relay substream of channel `ch` may go
/// now (counts it if so). A free function over the relay state so the send path can call it
/// while it holds the session and channel tables.
pub(super) fn take(relay: &mut Relay, now: Instant, ch: usize, len: usize) -> bool {
    if relay.budget.try_consume(now, len) {
        if let Some(b) = relay.bytes.get_mut(ch) {
            *b += len as u64;
        }
        true
    } else {
        relay.refused += 1;
        false
    }
}

#[cfg(test)]
mod tests;
