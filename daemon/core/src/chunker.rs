//! Cutting a TS packet stream into chunks in the pool.
//!
//! Invariants:
//! - A chunk holds 1..=7 whole packets; packets are never split or reordered.
//! - A chunk flagged [`ChunkFlags::RAP`] begins with a copy of the latest PAT and PMT packets,
//!   followed by the first packet of a key-frame PES: a decoder can start there, the "key buffer".
//!   The copies repeat the last PAT/PMT packets exactly (same continuity counter), which MPEG-TS
//!   allows as duplicate packets, so continuous viewers see a valid stream too.
//! - Null packets (PID 0x1FFF) are dropped: they carry nothing and would cost upload.
//! - A key frame is often recognised only some packets after its PES starts (SPS, PPS, SEI come
//!   first). Packets are staged until the verdict, at most [`STAGE_PACKETS`]; then the stage is cut
//!   at the PES start. A partly filled chunk is closed after [`FLUSH_AFTER`] so low-rate channels
//!   keep low latency.
//! - Fixed memory: one staging array; nothing allocates.

use crate::chunk::{ChunkFlags, ChunkInfo, PACKETS_PER_CHUNK};
use crate::pool::ChunkPool;
use crate::time::Instant;
use crate::ts::packet::Packet;
use crate::ts::psi::{self, VideoCodec};
use crate::ts::rap::{RapScanner, Verdict};
use crate::ts::{NULL_PID, PACKET_LEN, PAT_PID};
use core::time::Duration;

/// Packets staged while a key-frame verdict is pending (two chunks' worth).
pub const STAGE_PACKETS: usize = 2 * PACKETS_PER_CHUNK;
/// A partial chunk is closed when its first packet is this old.
pub const FLUSH_AFTER: Duration = Duration::from_millis(40);
/// Stage capacity: staged packets plus the two PSI copies in front of a key frame.
const STAGE_CAP: usize = STAGE_PACKETS + 2;

/// Counters kept by a [`Chunker`].
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct ChunkerStats {
    /// Packets accepted (null packets excluded).
    pub packets: u64,
    /// Null packets dropped.
    pub nulls: u64,
    /// Packets with transport_error_indicator set (kept; decoders conceal them).
    pub transport_errors: u64,
    /// Chunks closed.
    pub chunks: u64,
    /// Random-access chunks closed.
    pub raps: u64,
    /// PAT/PMT packets that failed to parse.
    pub psi_errors: u64,
}

/// Cuts packets into chunks and stores them in a pool.
pub struct Chunker {
    stage: [[u8; PACKET_LEN]; STAGE_CAP],
    staged: usize,
    /// The stage starts with PSI copies + a key frame: its first chunk is a RAP.
    stage_rap: bool,
    /// Index in the stage of a video PES start whose verdict is pending.
    pending: Option<usize>,
    first_at: Instant,
    scanner: RapScanner,
    pmt_pid: Option<u16>,
    video: Option<(u16, VideoCodec)>,
    pat: Option<[u8; PACKET_LEN]>,
    pmt: Option<[u8; PACKET_LEN]>,
    next_seq: u64,
    next_flags: ChunkFlags,
    epoch: Instant,
    latest_rap: Option<u64>,
    stats: ChunkerStats,
}

impl Chunker {
    /// A chunker whose first chunk gets sequence number `first_seq`; `epoch` is time zero of the
    /// chunk stamps.
    pub fn new(first_seq: u64, epoch: Instant) -> Self {
        Chunker {
            stage: [[0; PACKET_LEN]; STAGE_CAP],
            staged: 0,
            stage_rap: false,
            pending: None,
            first_at: epoch,
            scanner: RapScanner::new(VideoCodec::H264),
            pmt_pid: None,
            video: None,
            pat: None,
            pmt: None,
            next_seq: first_seq,
            next_flags: ChunkFlags::NONE,
            epoch,
            latest_rap: None,
            stats: ChunkerStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> ChunkerStats {
        self.stats
    }

    /// Sequence number the next chunk will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The newest random-access chunk closed.
    pub fn latest_rap(&self) -> Option<u64> {
        self.latest_rap
    }

    /// The video PID and codec, once a PMT named them.
    pub fn video(&self) -> Option<(u16, VideoCodec)> {
        self.video
    }

    /// The next chunk is flagged as following a discontinuity (source restart, loop, resync).
    pub fn mark_discontinuity(&mut self) {
        self.next_flags = self.next_flags.union(ChunkFlags::DISCONTINUITY);
    }

    /// When [`Chunker::handle_timeout`] should next run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        (self.staged > 0).then(|| self.first_at + FLUSH_AFTER)
    }

    /// Closes a partial chunk that has waited long enough.
    pub fn handle_timeout(&mut self, now: Instant, pool: &mut ChunkPool) {
        if self.staged == 0 || now < self.first_at + FLUSH_AFTER {
            return;
        }
        // Keep a pending key-frame PES staged; close what precedes it.
        let upto = self.pending.unwrap_or(self.staged);
        if upto == 0 {
            // The pending PES alone has waited a full flush period: give up on it.
            self.pending = None;
            self.close_all(now, pool);
        } else {
            self.close(now, upto.min(PACKETS_PER_CHUNK), pool);
        }
        if self.staged > 0 {
            self.first_at = now;
        }
    }

    /// The programme's PMT PID, once learnt from the PAT (kept clear by the scrambler).
    pub fn pmt_pid(&self) -> Option<u16> {
        self.pmt_pid
    }

    /// Takes one packet.
    pub fn push_packet(&mut self, now: Instant, bytes: &[u8; PACKET_LEN], pool: &mut ChunkPool) {
        let Ok(pkt) = Packet::new(bytes) else { return };
        let pid = pkt.pid();
        if pid == NULL_PID {
            self.stats.nulls += 1;
            return;
        }
        self.stats.packets += 1;
        if pkt.transport_error() {
            self.stats.transport_errors += 1;
        }
        self.learn_psi(&pkt, bytes);

        let is_video = self.video.is_some_and(|(v, _)| v == pid);
        if is_video && pkt.payload_start() {
            // A new PES ends any pending scan with "not key".
            self.pending = None;
            match self.scanner.start(pkt.payload(), pkt.random_access()) {
                Verdict::Key => {
                    self.close_all(now, pool);
                    self.begin_rap();
                    self.stage_packet(now, bytes);
                }
                Verdict::Pending => {
                    self.pending = Some(self.staged);
                    self.stage_packet(now, bytes);
                }
                Verdict::NotKey => self.stage_packet(now, bytes),
            }
        } else if is_video && self.pending.is_some() {
            self.stage_packet(now, bytes);
            match self.scanner.feed(pkt.payload()) {
                Verdict::Key => self.split_at_pending(now, pool),
                Verdict::NotKey => self.pending = None,
                Verdict::Pending => {}
            }
        } else {
            self.stage_packet(now, bytes);
        }

        if self.pending.is_some() && self.staged >= STAGE_PACKETS {
            // No verdict within the stage: not a key frame we can use.
            self.pending = None;
        }
        while self.pending.is_none() && self.staged >= PACKETS_PER_CHUNK {
            self.close(now, PACKETS_PER_CHUNK, pool);
        }
        // With a verdict pending, close full chunks that precede the pending PES start.
        while let Some(p) = self.pending {
            if p < PACKETS_PER_CHUNK {
                break;
            }
            self.close(now, PACKETS_PER_CHUNK, pool);
        }
    }

    fn learn_psi(&mut self, pkt: &Packet<'_>, bytes: &[u8; PACKET_LEN]) {
        if !pkt.payload_start() {
            return;
        }
        if pkt.pid() == PAT_PID {
            match psi::parse_pat(pkt) {
                Ok(pmt_pid) => {
                    self.pmt_pid = Some(pmt_pid);
                    self.pat = Some(*bytes);
                }
                Err(_) => self.stats.psi_errors += 1,
            }
        } else if Some(pkt.pid()) == self.pmt_pid {
            match psi::parse_pmt(pkt) {
                Ok(info) => {
                    if info.video.map(|v| v.1) != self.video.map(|v| v.1) {
                        self.scanner =
                            RapScanner::new(info.video.map_or(VideoCodec::H264, |v| v.1));
                    }
                    self.video = info.video;
                    self.pmt = Some(*bytes);
                }
                Err(_) => self.stats.psi_errors += 1,
            }
        }
    }

    fn stage_packet(&mut self, now: Instant, bytes: &[u8; PACKET_LEN]) {
        if self.staged == 0 {
            self.first_at = now;
        }
        // staged < STAGE_CAP: the loops in push_packet keep it at most STAGE_PACKETS before a push,
        // and begin_rap adds at most 2.
        self.stage[self.staged] = *bytes;
        self.staged += 1;
    }

    /// Starts a RAP stage with the PSI copies; the stage must be empty.
    fn begin_rap(&mut self) {
        if let (Some(pat), Some(pmt)) = (self.pat, self.pmt) {
            self.stage[0] = pat;
            self.stage[1] = pmt;
            self.staged = 2;
            self.stage_rap = true;
        }
    }

    /// The pending PES turned out to be a key frame: cut the stage before it.
    fn split_at_pending(&mut self, now: Instant, pool: &mut ChunkPool) {
        let Some(k) = self.pending.take() else { return };
        let mut done = 0;
        while done < k {
            let n = (k - done).min(PACKETS_PER_CHUNK);
            self.close(now, n, pool);
            done += n;
        }
        // Now the stage starts at the key frame's PES; put the PSI copies in front of it.
        if let (Some(pat), Some(pmt)) = (self.pat, self.pmt) {
            self.stage.copy_within(0..self.staged, 2);
            self.stage[0] = pat;
            self.stage[1] = pmt;
            self.staged += 2;
            self.stage_rap = true;
        }
    }

    fn close_all(&mut self, now: Instant, pool: &mut ChunkPool) {
        while self.staged > 0 {
            let n = self.staged.min(PACKETS_PER_CHUNK);
            self.close(now, n, pool);
        }
    }

    /// Takes a chunk cut elsewhere (an ahead-of-time packaged source, `root/packaged.rs`) and
    /// stores it as if closed here. The first chunk a fresh chunker sees sets the numbering (the
    /// packager's sequence numbers are in its chunks' nonces); after that `info.seq` must not be
    /// below [`Chunker::next_seq`]. Returns whether the chunk was stored.
    pub fn push_chunk(&mut self, info: ChunkInfo, payload: &[u8], pool: &mut ChunkPool) -> bool {
        self.start_at(info.seq);
        if info.seq < self.next_seq || !pool.insert(info, payload) {
            return false;
        }
        if info.flags.contains(ChunkFlags::RAP) {
            self.latest_rap = Some(info.seq);
            self.stats.raps += 1;
        }
        self.stats.chunks += 1;
        self.stats.packets += (payload.len() / PACKET_LEN) as u64;
        self.next_seq = info.seq.saturating_add(1);
        true
    }

    /// Numbers the chunks from `seq` if none was made yet (a packaged source's header, or its
    /// first chunk); returns whether it did.
    pub fn start_at(&mut self, seq: u64) -> bool {
        let fresh = self.stats.chunks == 0 && self.staged == 0;
        if fresh {
            self.next_seq = seq;
        }
        fresh
    }

    /// Closes the first `n` staged packets as one chunk.
    fn close(&mut self, now: Instant, n: usize, pool: &mut ChunkPool) {
        let n = n.min(self.staged);
        if n == 0 {
            return;
        }
        let mut flags = self.next_flags;
        if self.stage_rap {
            flags = flags.union(ChunkFlags::RAP);
            self.stage_rap = false;
            self.latest_rap = Some(self.next_seq);
            self.stats.raps += 1;
        }
        let info = ChunkInfo {
            seq: self.next_seq,
            flags,
            key_id: 0,
            stamp_ms: now.saturating_since(self.epoch).as_millis() as u32,
        };
        pool.insert(info, self.stage[..n].as_flattened());
        self.next_seq += 1;
        self.next_flags = ChunkFlags::NONE;
        self.stats.chunks += 1;
        self.stage.copy_within(n..self.staged, 0);
        self.staged -= n;
        self.pending = self.pending.map(|p| p - n.min(p));
    }
}

#[cfg(test)]
mod tests;
