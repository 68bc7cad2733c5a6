//! The ahead-of-time packager, sans-IO: TS bytes in, a packaged stream ([`super::package`]) out.
//!
//! It cuts the stream exactly as a root ingesting it from a file would: a [`Framer`] aligns
//! packets, a [`PcrPacer`] gives each its release time on a *virtual* clock (stream time, starting
//! at 0), the root's [`Chunker`] cuts chunks with its partial-chunk flush timers fired at the
//! virtual times they would fire at (a timer due before the next packet's release time runs first,
//! as the root's loop wakes for it), and each chunk is scrambled as the root's ingest does
//! ([`cipher::scramble`], PAT/PMT/null clear, nonce from the channel tag and the chunk's `seq`)
//! under the key of the period its stream time falls in ([`KeyFile::ensure`]). A chunk whose
//! packets are already scrambled is written clear and counted, as the root passes it on.
//!
//! Driving: [`Packager::push`] any number of times, [`Packager::finish`] once at the end of
//! input; after each call take the bytes to write with [`Packager::take_output`] (the header comes
//! out of the first call). Errors are the key file's (a gap in a file given in, or [`KEYS_MAX`]).
//!
//! Invariants: records come out in `seq` order with non-decreasing `time_ms`; memory is fixed
//! (a [`MIN_SLOTS`]-slot pool and one packet batch) apart from the output buffer, which holds at
//! most one `push`'s records plus the header until taken. Nothing reads a clock or a random source:
//! keys added for new periods come from the caller's seed.
//!
//! [`KEYS_MAX`]: super::keyfile::KEYS_MAX

use super::cipher::{self, ClearPids};
use super::keyfile::{KeyFile, KeyFileError};
use super::package::{emit_record, Header, HEADER_MAX, RECORD_MAX};
use super::Key;
use crate::chunk::{ChunkFlags, CHUNK_MAX};
use crate::chunker::Chunker;
use crate::pool::{ChunkPool, MIN_SLOTS, SLOT_COST};
use crate::time::Instant;
use crate::ts::pacer::PcrPacer;
use crate::ts::packet::Packet;
use crate::ts::sync::Framer;
use crate::ts::PACKET_LEN;
use alloc::vec::Vec;

/// Timer firings between two packets at most (each closes a chunk or moves the flush deadline).
const TIMER_STEPS: usize = 64;

/// Counters of a [`Packager`].
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct PackagerStats {
    /// Input bytes.
    pub bytes_in: u64,
    /// Records written.
    pub records: u64,
    /// Records scrambled.
    pub scrambled: u64,
    /// Records left clear because the input was already scrambled.
    pub already_scrambled: u64,
    /// Output bytes (header and records).
    pub bytes_out: u64,
    /// Stream time of the last record, ms.
    pub last_ms: u32,
}

/// The packager. See the module docs.
pub struct Packager {
    tag: u32,
    keys: KeyFile,
    seed: Key,
    framer: Framer,
    pacer: PcrPacer,
    chunker: Chunker,
    pool: ChunkPool,
    /// Virtual clock: stream time.
    now: Instant,
    /// Next chunk to write.
    next_out: u64,
    batch: Vec<[u8; PACKET_LEN]>,
    out: Vec<u8>,
    stats: PackagerStats,
}

impl core::fmt::Debug for Packager {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Packager")
            .field("channel", &self.keys.channel)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Packager {
    /// A packager for the channel of `keys`, numbering chunks from `first_seq`; keys for periods
    /// past the file's last come from `seed`.
    pub fn new(keys: KeyFile, seed: Key, first_seq: u64) -> Packager {
        let mut out = Vec::with_capacity(HEADER_MAX + 64 * RECORD_MAX);
        out.resize(HEADER_MAX, 0);
        let n = Header {
            channel: &keys.channel,
            first_seq,
        }
        .emit(&mut out)
        .unwrap_or(0); // KeyFile checked the name (1..=64 bytes); the buffer is HEADER_MAX
        out.truncate(n);
        Packager {
            tag: super::channel_tag(keys.channel.as_bytes()),
            keys,
            seed,
            framer: Framer::new(),
            pacer: PcrPacer::new(),
            chunker: Chunker::new(first_seq, Instant::ZERO),
            // MIN_SLOTS slots: chunks leave the pool as soon as they are closed.
            pool: ChunkPool::with_budget(MIN_SLOTS * SLOT_COST)
                .expect("MIN_SLOTS * SLOT_COST is the minimum budget"),
            now: Instant::ZERO,
            next_out: first_seq,
            batch: Vec::with_capacity(64),
            out,
            stats: PackagerStats {
                bytes_out: n as u64,
                ..PackagerStats::default()
            },
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> PackagerStats {
        self.stats
    }

    /// The key file, with the keys added so far.
    pub fn keys(&self) -> &KeyFile {
        &self.keys
    }

    /// The bytes produced since the last call (header first), to be written in order.
    pub fn take_output(&mut self) -> &mut Vec<u8> {
        &mut self.out
    }

    /// Takes input bytes (any split).
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), KeyFileError> {
        self.stats.bytes_in += bytes.len() as u64;
        self.feed(bytes)
    }

    fn feed(&mut self, bytes: &[u8]) -> Result<(), KeyFileError> {
        let mut batch = core::mem::take(&mut self.batch);
        batch.clear();
        let losses = self.framer.stats().sync_losses;
        self.framer.push(bytes, |p| batch.push(*p));
        let mut r = Ok(());
        for p in &batch {
            let Ok(pkt) = Packet::new(p) else { continue };
            let due = self.pacer.due(self.now, &pkt).max(self.now);
            self.fire_timers(due);
            self.now = due;
            self.chunker.push_packet(self.now, p, &mut self.pool);
            r = r.and(self.seal());
        }
        self.batch = batch;
        if self.framer.stats().sync_losses != losses {
            // As the root does after a source read that lost sync.
            self.chunker.mark_discontinuity();
        }
        r
    }

    /// End of input: closes the last partial chunk.
    pub fn finish(&mut self) -> Result<(), KeyFileError> {
        // The framer holds the last packet until the next sync byte confirms it.
        self.feed(&[crate::ts::SYNC_BYTE])?;
        for _ in 0..TIMER_STEPS {
            let Some(t) = self.chunker.poll_timeout() else {
                break;
            };
            self.now = t.max(self.now);
            self.chunker.handle_timeout(self.now, &mut self.pool);
            self.seal()?;
        }
        self.seal()
    }

    /// Runs the chunker's flush timers due up to `until`.
    fn fire_timers(&mut self, until: Instant) {
        for _ in 0..TIMER_STEPS {
            match self.chunker.poll_timeout() {
                Some(t) if t <= until => {
                    self.now = t.max(self.now);
                    self.chunker.handle_timeout(self.now, &mut self.pool);
                    // Seal errors are reported by the next push/finish: the chunk stays pending.
                    let _ = self.seal();
                }
                _ => break,
            }
        }
    }

    /// Scrambles and writes the chunks closed since the last call.
    fn seal(&mut self) -> Result<(), KeyFileError> {
        let end = self.chunker.next_seq();
        let pmt = self.chunker.pmt_pid();
        let clear = ClearPids {
            pmt: pmt.as_slice(),
        };
        let mut buf = [0u8; CHUNK_MAX];
        while self.next_out < end {
            let seq = self.next_out;
            let Some(c) = self.pool.get(seq) else {
                self.next_out += 1; // cannot happen: the pool holds MIN_SLOTS ≥ one push's chunks
                continue;
            };
            let info = c.info;
            let payload = &mut buf[..c.payload.len()];
            payload.copy_from_slice(c.payload);
            let key = *self
                .keys
                .ensure(u64::from(info.stamp_ms / 1000), &self.seed)?;
            let (flags, key_id) =
                match cipher::scramble(payload, &key.key, key.id, self.tag, seq, clear) {
                    Ok(_) => {
                        self.stats.scrambled += 1;
                        (info.flags.union(ChunkFlags::ENCRYPTED), key.id)
                    }
                    Err(_) => {
                        self.stats.already_scrambled += 1;
                        (info.flags, 0)
                    }
                };
            let at = self.out.len();
            self.out.resize(at + RECORD_MAX, 0);
            let n = emit_record(
                flags,
                key_id,
                seq,
                info.stamp_ms,
                payload,
                &mut self.out[at..],
            )
            .unwrap_or(0); // RECORD_MAX bytes of room for ≤ CHUNK_MAX of payload
            self.out.truncate(at + n);
            self.stats.records += 1;
            self.stats.bytes_out += n as u64;
            self.stats.last_ms = info.stamp_ms;
            self.next_out += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
