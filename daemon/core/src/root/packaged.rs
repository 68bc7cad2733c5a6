//! The root's side of ahead-of-time packaged sources (`source=packaged:PATH`, issue 6).
//!
//! A packaged channel's chunks arrive already cut and scrambled ([`crate::drm::packager`]), one
//! record ([`crate::drm::package`]) at a time, at their stream time (the shell paces them). The
//! root does not re-encrypt: [`Root::handle_packaged`] stores each chunk in the pool as it came
//! (flags, key id, payload) through [`Chunker::push_chunk`](crate::chunker::Chunker::push_chunk),
//! then signs it into the channel's manifests like any chunk. The stream's header (else its first
//! record) sets the channel's numbering (the sequence numbers are in the nonces), and the signer is
//! rebased to it; a box that joined before that rejoins when the chunks it waits for do not come.
//!
//! Keys: [`Root::ingest_packaged`] takes the packager's key file. Each record's key id must be the
//! id of the key whose stream-time window holds the record's `time_ms`; when the key changes, the
//! licence service's entries become the previous, current and next keys of the file, each valid
//! (on the root's unix clock) until the end of its stream window plus one window length — the same
//! grace as a live schedule ([`crate::drm::keys`]). Entitled boxes thus hold the next key a whole
//! period before it is used, as for channels scrambled at ingest. Before the first record the
//! entries are the file's first keys (a box that joins before the stream starts can open its
//! first chunk).
//!
//! Invariants: the key list is allocated once, at [`Root::ingest_packaged`]; the per-record path
//! does not allocate and does a binary search at most once per key change. A record that does not
//! parse, goes backwards or names a key the file does not hold at its time is refused with a
//! [`PackagedError`] and counted; it never reaches the pool, so boxes never get a chunk no licence
//! can open.

use super::Root;
use crate::chunk::ChunkInfo;
use crate::drm::keyfile::{KeyFile, PackagedKey};
use crate::drm::keys::KeyEntry;
use crate::drm::package::{parse_record, Header, PackageError, MAGIC};
use crate::time::Instant;
use alloc::vec::Vec;

/// Why a packaged record was refused.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PackagedError {
    /// The channel was not set up with [`Root::ingest_packaged`].
    NotPackaged,
    /// The record does not parse.
    Record(PackageError),
    /// Its sequence number is below the channel's next (or the chunk is already held).
    SeqBackwards,
    /// No key with this id covers the record's stream time in the key file.
    UnknownKey(u8),
    /// The stream's header names another channel (its nonces would not match): every record
    /// after it is refused too.
    WrongChannel,
}

impl core::fmt::Display for PackagedError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PackagedError::NotPackaged => f.write_str("channel has no packaged source"),
            PackagedError::Record(e) => write!(f, "record: {e}"),
            PackagedError::SeqBackwards => f.write_str("record sequence number goes backwards"),
            PackagedError::UnknownKey(id) => {
                write!(f, "key id {id} is not in the key file at the record's time")
            }
            PackagedError::WrongChannel => {
                f.write_str("the stream was packaged for another channel")
            }
        }
    }
}

/// Counters of a packaged channel.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct PackagedStats {
    /// Records stored.
    pub records: u64,
    /// Records refused.
    pub refused: u64,
    /// Key changes seen.
    pub key_changes: u64,
}

/// One packaged channel's keys and where the stream is in them.
pub(super) struct Playback {
    keys: Vec<PackagedKey>,
    /// Index of the key of the latest record.
    cursor: Option<usize>,
    /// Previous, current, next, as licences hand them out; `n` of them valid.
    entries: [KeyEntry; 3],
    n: usize,
    /// The header named another channel.
    blocked: bool,
    stats: PackagedStats,
}

impl Playback {
    /// Keys the licence service hands out now.
    pub(super) fn entries(&self) -> &[KeyEntry] {
        &self.entries[..self.n]
    }

    /// Id of the key in use (0 before the first record).
    pub(super) fn current_id(&self) -> u8 {
        self.cursor
            .and_then(|i| self.keys.get(i))
            .map_or(0, |k| k.id)
    }

    /// Index of the key `id` covering stream second `t`, trying the current key first.
    fn find(&self, id: u8, t: u64) -> Option<usize> {
        let covers = |i: usize| {
            self.keys
                .get(i)
                .is_some_and(|k| k.id == id && k.from_s <= t && t < k.until_s)
        };
        if let Some(i) = self.cursor.filter(|&i| covers(i)) {
            return Some(i);
        }
        let i = self.keys.partition_point(|k| k.until_s <= t);
        covers(i).then_some(i)
    }

    /// Moves to key `i` at stream second `t`, unix time `unix_s`: refreshes the licence entries.
    fn select(&mut self, i: usize, t: u64, unix_s: u64) {
        self.cursor = Some(i);
        self.stats.key_changes += 1;
        self.n = 0;
        for j in [i.checked_sub(1), Some(i), i.checked_add(1)]
            .into_iter()
            .flatten()
        {
            let Some(k) = self.keys.get(j) else { continue };
            let window = k.until_s.saturating_sub(k.from_s);
            self.entries[self.n] = KeyEntry {
                id: k.id,
                key: k.key,
                valid_until: unix_s
                    .saturating_add(k.until_s.saturating_sub(t))
                    .saturating_add(window),
            };
            self.n += 1;
        }
    }
}

impl Root {
    /// Makes channel `channel` take its chunks from a packaged source scrambled under `keys`
    /// (see the module docs). Returns false if there is no such channel.
    pub fn ingest_packaged(&mut self, channel: usize, keys: &KeyFile) -> bool {
        let Some(slot) = self.drm.packaged.get_mut(channel) else {
            return false;
        };
        let blank = KeyEntry {
            id: 0,
            key: [0; 32],
            valid_until: 0,
        };
        let p = slot.insert(Playback {
            keys: keys.keys().to_vec(),
            cursor: None,
            entries: [blank; 3],
            n: 0,
            blocked: false,
            stats: PackagedStats::default(),
        });
        // Before the first record, licences carry the first keys, so boxes that join early
        // can open the stream from its first chunk.
        if let Some(k) = p.keys.first() {
            let from = k.from_s;
            p.select(0, from, self.drm.unix_s);
        }
        true
    }

    /// One item of `channel`'s packaged stream, due now: the file header (checked against the
    /// channel's name) or a record (header and payload), whose chunk is stored and signed. Call
    /// [`Root::handle_unix_time`] first, as for any input.
    pub fn handle_packaged(
        &mut self,
        now: Instant,
        channel: usize,
        record: &[u8],
    ) -> Result<(), PackagedError> {
        self.now = now;
        let r = self.store_packaged(now, channel, record);
        let header = record.starts_with(&MAGIC);
        if let Some(Some(p)) = self.drm.packaged.get_mut(channel) {
            match r {
                Ok(()) if header => {}
                Ok(()) => p.stats.records += 1,
                Err(_) => p.stats.refused += 1,
            }
        }
        if r.is_ok() && !header {
            self.sign_new_chunks(now, channel);
        }
        r
    }

    /// Counters of packaged channel `channel`.
    pub fn packaged_stats(&self, channel: usize) -> Option<PackagedStats> {
        Some(self.drm.packaged.get(channel)?.as_ref()?.stats)
    }

    fn store_packaged(
        &mut self,
        now: Instant,
        channel: usize,
        record: &[u8],
    ) -> Result<(), PackagedError> {
        let unix_s = self.drm.unix_s;
        let (Some(Some(p)), Some(c)) = (
            self.drm.packaged.get_mut(channel),
            self.channels.get_mut(channel),
        ) else {
            return Err(PackagedError::NotPackaged);
        };
        if p.blocked {
            return Err(PackagedError::WrongChannel);
        }
        if record.starts_with(&MAGIC) {
            let (h, _) = Header::parse(record).map_err(PackagedError::Record)?;
            if h.channel.as_bytes() != c.name() {
                p.blocked = true;
                return Err(PackagedError::WrongChannel);
            }
            // Number the channel as the packager did, before any box asks where it is.
            if c.chunker.start_at(h.first_seq) {
                self.rebase_signing(channel, h.first_seq);
            }
            return Ok(());
        }
        let (h, payload, _) = parse_record(record).map_err(PackagedError::Record)?;
        if h.key_id != 0 {
            let t = u64::from(h.time_ms / 1000);
            let i = p
                .find(h.key_id, t)
                .ok_or(PackagedError::UnknownKey(h.key_id))?;
            if p.cursor != Some(i) {
                p.select(i, t, unix_s);
            }
        }
        let first = c.chunker.stats().chunks == 0;
        let info = ChunkInfo {
            seq: h.seq,
            flags: h.flags,
            key_id: h.key_id,
            stamp_ms: now.saturating_since(c.epoch).as_millis() as u32, // wraps, as documented
        };
        if !c.chunker.push_chunk(info, payload, &mut c.pool) {
            return Err(PackagedError::SeqBackwards);
        }
        c.stats.bytes_in += payload.len() as u64;
        c.meter.add(now, payload.len());
        if first {
            self.rebase_signing(channel, h.seq);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
