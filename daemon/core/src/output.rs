//! Output cursors: how a box hands the stream to its decoder sink and its HTTP viewers.
//!
//! An output never copies chunks: it is a position (`seq`, byte offset) in the box's pool, read up
//! to the play head. The shell asks [`Outputs::peek`] for the next bytes, writes what the sink
//! takes, and reports it with [`Outputs::advance`].
//!
//! Invariants:
//! - A fresh output starts at the latest random-access chunk, so its first bytes are PAT, PMT and
//!   a key frame.
//! - An output never lags the play head by more than `queue_chunks`, and never points at an evicted
//!   chunk: when it would, it skips to the latest random-access chunk and counts a skip. A slow or
//!   stalled sink therefore costs its own picture, never the daemon's memory or time.
//! - Bytes handed out are always whole 188-byte packets in sequence. A cursor's offset is always a
//!   packet boundary: when a sink takes part of a packet, the rest of that packet moves to a
//!   188-byte tail buffer at once and is handed out first, so skips and evictions can never leave
//!   a sink mid-packet.
//! - Scrambled chunks ([`ChunkFlags::ENCRYPTED`], issue 6) are never handed out as they are: the
//!   chunk is copied once into the output's own clear buffer and the caller's descrambler runs on
//!   that copy in place (the pool keeps the scrambled chunk, which is what partners verify and
//!   relay). When the descrambler has no key it says whether to wait on that chunk (a licence is
//!   on its way: [`Descrambled::Wait`]) or to give it up ([`Descrambled::Skip`]: the output then
//!   hands out nothing until the next random-access chunk it can descramble, so a sink never gets
//!   a scrambled byte and restarts cleanly at a key frame once a key comes).

use crate::chunk::{ChunkFlags, ChunkInfo, CHUNK_MAX};
use crate::pool::ChunkPool;
use crate::ts::PACKET_LEN;
use alloc::vec::Vec;

/// What a descrambler did with an output's copy of a scrambled chunk.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Descrambled {
    /// Descrambled in place: hand it out.
    Done,
    /// No key yet, one is expected soon: hand out nothing and try this chunk again.
    Wait,
    /// No key: give the chunk up and wait for the next random-access chunk.
    Skip,
}

/// Identifies an output (index into the box's output table).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct OutputId(pub usize);

/// Counters of one output.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct OutputStats {
    /// Chunks fully handed out.
    pub chunks: u64,
    /// Bytes handed out.
    pub bytes: u64,
    /// Times the output skipped ahead to a key frame because it fell behind.
    pub skips: u64,
    /// Chunks passed over by those skips.
    pub skipped_chunks: u64,
    /// Chunks passed over because the box never received them.
    pub lost_chunks: u64,
}

#[derive(Copy, Clone, Debug)]
enum Pos {
    Closed,
    /// Waiting for a random-access chunk at or after `from`.
    NeedRap {
        from: u64,
    },
    At {
        seq: u64,
        off: usize,
    },
}

#[derive(Clone, Debug)]
struct Output {
    pos: Pos,
    tail: [u8; PACKET_LEN],
    tail_len: usize,
    tail_off: usize,
    /// Descrambled copy of chunk `clear_seq` (scrambled chunks only).
    clear: [u8; CHUNK_MAX],
    clear_seq: Option<u64>,
    stats: OutputStats,
}

/// The table of outputs of one box.
pub struct Outputs {
    outs: Vec<Output>,
    queue_chunks: u64,
}

impl Outputs {
    /// Room for `n` outputs, each allowed to lag `queue_chunks` behind the play head.
    pub fn new(n: usize, queue_chunks: u64) -> Self {
        let o = Output {
            pos: Pos::Closed,
            tail: [0; PACKET_LEN],
            tail_len: 0,
            tail_off: 0,
            clear: [0; CHUNK_MAX],
            clear_seq: None,
            stats: OutputStats::default(),
        };
        Outputs {
            outs: alloc::vec![o; n],
            queue_chunks: queue_chunks.max(1),
        }
    }

    /// Opens a free output; it will start at the latest key frame. `None` if all are in use.
    pub fn open(&mut self) -> Option<OutputId> {
        let i = self
            .outs
            .iter()
            .position(|o| matches!(o.pos, Pos::Closed))?;
        let o = &mut self.outs[i];
        o.pos = Pos::NeedRap { from: 0 };
        o.tail_len = 0;
        o.tail_off = 0;
        o.clear_seq = None;
        o.stats = OutputStats::default();
        Some(OutputId(i))
    }

    /// Frees an output.
    pub fn close(&mut self, id: OutputId) {
        if let Some(o) = self.outs.get_mut(id.0) {
            o.pos = Pos::Closed;
        }
    }

    /// Counters of an output.
    pub fn stats(&self, id: OutputId) -> OutputStats {
        self.outs.get(id.0).map(|o| o.stats).unwrap_or_default()
    }

    /// Whether an output is open and positioned (has started).
    pub fn started(&self, id: OutputId) -> bool {
        self.outs
            .get(id.0)
            .is_some_and(|o| matches!(o.pos, Pos::At { .. }))
    }

    /// Every open output restarts at a key frame at or after `from` (new stream epoch).
    pub fn restart_all(&mut self, from: u64, pool: &ChunkPool) {
        let _ = pool;
        for o in &mut self.outs {
            if !matches!(o.pos, Pos::Closed) {
                o.pos = Pos::NeedRap { from };
            }
        }
    }

    /// The next bytes output `id` should write, given the pool and the play head `play` (chunks
    /// below it are ready). Empty or `None` means nothing to write now. `descramble` is called
    /// on the output's copy of each scrambled chunk until it returns [`Descrambled::Done`].
    pub fn peek<'p>(
        &'p mut self,
        id: OutputId,
        pool: &'p ChunkPool,
        play: u64,
        mut descramble: impl FnMut(&ChunkInfo, &mut [u8]) -> Descrambled,
    ) -> Option<&'p [u8]> {
        let queue = self.queue_chunks;
        let o = self.outs.get_mut(id.0)?;
        if o.tail_off < o.tail_len {
            return Some(&o.tail[o.tail_off..o.tail_len]);
        }
        loop {
            match o.pos {
                Pos::Closed => return None,
                Pos::NeedRap { from } => {
                    let r = pool
                        .rap_at_or_before(play.checked_sub(1)?)
                        .filter(|&r| r >= from)?;
                    o.pos = Pos::At { seq: r, off: 0 };
                }
                Pos::At { seq, off } => {
                    if seq >= play {
                        return None;
                    }
                    let behind = play - seq > queue || pool.window_start().is_some_and(|w| seq < w);
                    if behind {
                        o.stats.skips += 1;
                        let target = pool.rap_at_or_before(play - 1).filter(|&r| r > seq);
                        o.stats.skipped_chunks += target.unwrap_or(play) - seq;
                        o.pos = match target {
                            Some(r) => Pos::At { seq: r, off: 0 },
                            None => Pos::NeedRap { from: play },
                        };
                        continue;
                    }
                    match pool.get(seq) {
                        Some(c)
                            if off < c.payload.len()
                                && c.info.flags.contains(ChunkFlags::ENCRYPTED) =>
                        {
                            let len = c.payload.len();
                            if o.clear_seq != Some(seq) {
                                o.clear[..len].copy_from_slice(c.payload);
                                match descramble(&c.info, &mut o.clear[..len]) {
                                    Descrambled::Done => {}
                                    Descrambled::Wait => return None,
                                    Descrambled::Skip => {
                                        o.stats.skips += 1;
                                        o.pos = Pos::NeedRap { from: seq + 1 };
                                        return None;
                                    }
                                }
                                o.clear_seq = Some(seq);
                            }
                            return Some(&o.clear[off..len]);
                        }
                        Some(c) if off < c.payload.len() => return Some(&c.payload[off..]),
                        Some(_) => {
                            o.pos = Pos::At {
                                seq: seq + 1,
                                off: 0,
                            }
                        }
                        None => {
                            // Lost before the play head passed it: the stream has a hole here.
                            o.stats.lost_chunks += 1;
                            o.pos = Pos::At {
                                seq: seq + 1,
                                off: 0,
                            };
                        }
                    }
                }
            }
        }
    }

    /// Output `id` wrote `n` bytes of what [`Outputs::peek`] returned.
    pub fn advance(&mut self, id: OutputId, pool: &ChunkPool, n: usize) {
        let Some(o) = self.outs.get_mut(id.0) else {
            return;
        };
        o.stats.bytes += n as u64;
        if o.tail_off < o.tail_len {
            o.tail_off = (o.tail_off + n).min(o.tail_len);
            return;
        }
        let Pos::At { seq, off } = o.pos else { return };
        let Some(c) = pool.get(seq) else { return };
        let len = c.payload.len();
        let mut off = (off + n).min(len);
        let rem = off % PACKET_LEN;
        if rem != 0 {
            // Keep the packet's remainder aside and move the cursor to the next packet boundary.
            let end = off - rem + PACKET_LEN;
            let from = if o.clear_seq == Some(seq) {
                &o.clear[..len]
            } else {
                c.payload
            };
            let part = &from[off..end];
            o.tail[..part.len()].copy_from_slice(part);
            o.tail_len = part.len();
            o.tail_off = 0;
            off = end;
        }
        o.pos = if off >= len {
            o.stats.chunks += 1;
            Pos::At {
                seq: seq + 1,
                off: 0,
            }
        } else {
            Pos::At { seq, off }
        };
    }
}
