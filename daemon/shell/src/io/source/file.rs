//! A TS file played as a live channel: framed, PCR-paced, looped.
//!
//! The file is read in blocks only when every packet read so far has been released, framed by
//! [`Framer`] (garbage before or between packets is skipped), and each packet is released at the
//! time [`PcrPacer`] gives it. Packets before the first PCR — all of them, in a file without PCR —
//! are paced at [`FIXED_RATE_BPS`], in batches of [`FIXED_BATCH`] packets sharing one due time (so
//! the loop wakes every ~20 ms, not per packet); the first PCR is anchored where that fixed clock
//! stands, so the switch neither stalls nor bursts.
//!
//! Invariants:
//! - A packet is never handed out before its due time, and every due packet is handed out unless
//!   the per-call budget stops the call (the caller is then asked to come back at once).
//! - Packets leave in file order, whole and aligned; memory is one read block of queued packets.
//! - Release never exceeds [`MAX_RATE_BPS`] (beyond a [`MAX_BURST`] allowance, a GCRA bucket that
//!   normal PCR bursts never touch), whatever the PCRs say; if the caller falls more than [`MAX_LAG`] behind (suspend, stall), pacing is
//!   re-anchored at `now` instead of bursting to catch up.
//! - At EOF the file is rewound and [`Step::Looped`] is returned before any packet of the new pass
//!   is handed out. A file that yields no packet in a whole pass fails instead of spinning.

use rustix::fs::{Mode, OFlags};
use std::fs::File;
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;
use tvmesh_core::time::Instant;
use tvmesh_core::ts::pacer::PcrPacer;
use tvmesh_core::ts::packet::Packet;
use tvmesh_core::ts::sync::Framer;
use tvmesh_core::ts::PACKET_LEN;

/// Pace of a stream without PCR.
pub const FIXED_RATE_BPS: u64 = 2_000_000;
/// Packets per fixed-rate batch (~21 ms at [`FIXED_RATE_BPS`]).
pub const FIXED_BATCH: u32 = 28;
/// Fastest sustained release, whatever the PCRs say.
pub const MAX_RATE_BPS: u64 = 100_000_000;
/// How far ahead of [`MAX_RATE_BPS`] a burst may run.
pub const MAX_BURST: Duration = Duration::from_millis(50);
/// Falling further behind than this re-anchors pacing at the current time.
pub const MAX_LAG: Duration = Duration::from_secs(2);
/// Read blocks per call at most (bounds the work on a file full of garbage).
const MAX_READS_PER_CALL: usize = 8;
/// Retry delay when a non-regular file (FIFO) has no data yet.
const NO_DATA_WAIT: Duration = Duration::from_millis(20);

const fn packet_time(bps: u64) -> Duration {
    Duration::from_nanos(PACKET_LEN as u64 * 8 * 1_000_000_000 / bps)
}

/// Release-time computation for one stream.
#[derive(Debug, Default)]
struct Pacing {
    pcr: PcrPacer,
    /// The PCR pacer has its anchor; the fixed clock is no longer used.
    anchored: bool,
    /// Fixed clock: due time of the current batch, and packets given that time so far.
    fixed: Option<(Instant, u32)>,
    /// Rate cap: theoretical arrival time of the GCRA bucket.
    tat: Instant,
}

impl Pacing {
    fn due(&mut self, now: Instant, pkt: &Packet<'_>) -> Instant {
        let due = if self.anchored || pkt.pcr_base().is_some() {
            // `now` only anchors the first PCR: anchor it where the fixed clock stands.
            let anchor = match self.fixed {
                Some((t, _)) if !self.anchored => t,
                _ => now,
            };
            self.anchored = true;
            self.pcr.due(anchor, pkt)
        } else {
            let (t, n) = self.fixed.unwrap_or((now, 0));
            let (t, n) = if n == FIXED_BATCH {
                (t + packet_time(FIXED_RATE_BPS) * FIXED_BATCH, 0)
            } else {
                (t, n)
            };
            self.fixed = Some((t, n + 1));
            t
        };
        let release = due.max(self.tat - MAX_BURST);
        self.tat = self.tat.max(release) + packet_time(MAX_RATE_BPS);
        release
    }
}

/// What a [`FileSource::pump`] call came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Call again at this time (possibly already past: at once).
    Wait(Instant),
    /// The file was rewound; call again at once for the next pass.
    Looped,
    /// Reading failed; the string says why.
    Fail(String),
}

/// A paced, looping file reader.
pub struct FileSource {
    file: File,
    framer: Framer,
    /// Framed packets of the current block; `pos` is the first not yet released.
    queue: Vec<u8>,
    pos: usize,
    /// Due time of the packet at `pos`, once computed.
    head_due: Option<Instant>,
    pacing: Pacing,
    pass_packets: u64,
}

impl FileSource {
    /// Opens `path` for reading (non-blocking, so a FIFO cannot block the loop).
    pub fn open(path: &Path) -> Result<FileSource, String> {
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| format!("open: {e}"))?;
        Ok(FileSource {
            file: File::from(fd),
            framer: Framer::new(),
            queue: Vec::new(),
            pos: 0,
            head_due: None,
            pacing: Pacing::default(),
            pass_packets: 0,
        })
    }

    /// Hands every packet due at `now` to `emit` (at most about `budget` bytes), reading the file
    /// as needed; `buf` is scratch space for reads.
    pub fn pump(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        budget: usize,
        emit: &mut dyn FnMut(&[u8]),
    ) -> Step {
        let mut emitted = 0usize;
        let mut reads = 0usize;
        loop {
            let start = self.pos;
            while self.pos + PACKET_LEN <= self.queue.len() && emitted + (self.pos - start) < budget
            {
                let due = match self.head_due {
                    Some(d) => d,
                    None => {
                        let d = self.due(now, self.pos);
                        self.head_due = Some(d);
                        d
                    }
                };
                if due > now {
                    break;
                }
                self.pos += PACKET_LEN;
                self.head_due = None;
            }
            if self.pos > start {
                emit(&self.queue[start..self.pos]);
                emitted += self.pos - start;
            }
            if emitted >= budget {
                return Step::Wait(now);
            }
            if let Some(due) = self.head_due {
                return Step::Wait(due);
            }
            // Everything read so far is out: read on.
            self.queue.clear();
            self.pos = 0;
            if reads == MAX_READS_PER_CALL {
                return Step::Wait(now);
            }
            reads += 1;
            let n = match self.file.read(buf) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    return Step::Wait(now + NO_DATA_WAIT)
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Step::Fail(format!("read: {e}")),
            };
            if n == 0 {
                return self.rewind();
            }
            let (framer, queue) = (&mut self.framer, &mut self.queue);
            framer.push(&buf[..n], |p| queue.extend_from_slice(p));
            self.pass_packets += (self.queue.len() / PACKET_LEN) as u64;
        }
    }

    /// Due time of the packet at `pos` in the queue, re-anchoring if the caller fell far behind.
    fn due(&mut self, now: Instant, pos: usize) -> Instant {
        let Some(bytes) = self.queue.get(pos..pos + PACKET_LEN) else {
            return now;
        };
        // The framer only queues whole packets that start with the sync byte.
        let Ok(pkt) = Packet::new(bytes) else {
            return now;
        };
        let due = self.pacing.due(now, &pkt);
        if due + MAX_LAG < now {
            log::debug!(
                "file source fell {:?} behind; re-anchoring",
                now.saturating_since(due)
            );
            self.pacing = Pacing::default();
            return self.pacing.due(now, &pkt);
        }
        due
    }

    fn rewind(&mut self) -> Step {
        if self.pass_packets == 0 {
            return Step::Fail("no TS packets in file".into());
        }
        if let Err(e) = self.file.seek(SeekFrom::Start(0)) {
            return Step::Fail(format!("rewind: {e}"));
        }
        self.framer.reset();
        self.pass_packets = 0;
        Step::Looped
    }
}

/// The committed 20 s sample stream.
#[cfg(test)]
pub(crate) const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/sample.ts");

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the source from `t0` in steps of `step` until `end`; returns bytes and loops seen.
    fn run(src: &mut FileSource, t0: Instant, step: Duration, end: Instant) -> (usize, usize) {
        let mut buf = vec![0u8; 64 * 1024];
        let (mut bytes, mut loops) = (0, 0);
        let mut now = t0;
        while now <= end {
            for _ in 0..10_000 {
                match src.pump(now, &mut buf, 256 * 1024, &mut |b| {
                    assert_eq!(b.len() % PACKET_LEN, 0);
                    assert_eq!(b[0], 0x47);
                    bytes += b.len()
                }) {
                    Step::Wait(t) if t > now => break,
                    Step::Wait(_) => {}
                    Step::Looped => loops += 1,
                    Step::Fail(e) => panic!("{e}"),
                }
            }
            now = now + step;
        }
        (bytes, loops)
    }

    #[test]
    fn sample_releases_one_second_per_second() {
        let mut src = FileSource::open(Path::new(SAMPLE)).unwrap();
        let t0 = Instant::from_millis(1_000_000);
        let (first, _) = run(&mut src, t0, Duration::from_secs(1), t0);
        let (second, loops) = run(
            &mut src,
            t0 + Duration::from_secs(1),
            Duration::from_secs(1),
            t0 + Duration::from_secs(1),
        );
        let per_second = std::fs::metadata(SAMPLE).unwrap().len() as f64 / 20.0;
        // At t0 only the first PCR's packets go; one second later about one second's worth.
        assert!((first as f64) < per_second * 0.2, "burst at start: {first}");
        let got = (first + second) as f64;
        assert!(
            (got - per_second).abs() < per_second * 0.2,
            "released {got}, expected ~{per_second}"
        );
        assert_eq!(loops, 0);
    }

    #[test]
    fn sample_loops_and_keeps_pace() {
        let mut src = FileSource::open(Path::new(SAMPLE)).unwrap();
        let t0 = Instant::from_millis(5_000);
        let (bytes, loops) = run(
            &mut src,
            t0,
            Duration::from_millis(250),
            t0 + Duration::from_secs(30),
        );
        assert_eq!(loops, 1);
        let expect = std::fs::metadata(SAMPLE).unwrap().len() as f64 * 1.5;
        assert!(
            (bytes as f64 - expect).abs() < expect * 0.1,
            "released {bytes}, expected ~{expect}"
        );
    }

    #[test]
    fn stall_reanchors_instead_of_bursting() {
        let mut src = FileSource::open(Path::new(SAMPLE)).unwrap();
        let t0 = Instant::from_millis(1_000_000);
        run(&mut src, t0, Duration::from_secs(1), t0);
        // The loop stalls for 10 s (suspend): afterwards pacing resumes from "now".
        let t1 = t0 + Duration::from_secs(10);
        let (burst, _) = run(&mut src, t1, Duration::from_secs(1), t1);
        let per_second = std::fs::metadata(SAMPLE).unwrap().len() as f64 / 20.0;
        assert!(
            (burst as f64) < per_second * 0.2,
            "burst after stall: {burst}"
        );
        let (next, _) = run(
            &mut src,
            t1 + Duration::from_secs(1),
            Duration::from_secs(1),
            t1 + Duration::from_secs(1),
        );
        assert!(((burst + next) as f64 - per_second).abs() < per_second * 0.2);
    }

    fn pcr_packet(pcr: u64) -> [u8; PACKET_LEN] {
        let mut b = [0xFF; PACKET_LEN];
        b[..12].copy_from_slice(&[0x47, 0x01, 0x00, 0x30, 7, 0x10, 0, 0, 0, 0, 0x7E, 0]);
        b[6..10].copy_from_slice(&((pcr >> 1) as u32).to_be_bytes());
        b[10] |= ((pcr & 1) << 7) as u8;
        b
    }

    #[test]
    fn pcr_bursts_share_a_due_time_and_broken_pcr_is_capped() {
        let mut p = Pacing::default();
        let t0 = Instant::from_millis(1000);
        let plain = pcr_packet(0);
        let mut plain = plain;
        plain[3] = 0x10; // no adaptation field: no PCR
        let plain = Packet::new(&plain).unwrap();
        let a = pcr_packet(900_000);
        let b = pcr_packet(900_000 + 3_600); // +40 ms
        assert_eq!(p.due(t0, &Packet::new(&a).unwrap()), t0);
        for _ in 0..30 {
            assert_eq!(p.due(t0, &plain), t0);
        }
        assert_eq!(
            p.due(t0, &Packet::new(&b).unwrap()),
            t0 + Duration::from_millis(40)
        );
        // A PCR stuck at one value: everything is "due at once", but the cap spreads it out.
        let mut p = Pacing::default();
        let stuck = pcr_packet(5);
        let mut last = t0;
        for _ in 0..100_000 {
            last = p.due(t0, &Packet::new(&stuck).unwrap());
        }
        // 100 000 packets at 100 Mbit/s take ~1.5 s (Instant has µs steps), minus the 50 ms burst.
        let took = last.saturating_since(t0).as_millis();
        assert!((1440..=1460).contains(&took), "{took} ms");
    }

    fn write_temp(name: &str, data: &[u8]) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("tvmesh-io-{}-{name}", std::process::id()));
        std::fs::write(&p, data).unwrap();
        p
    }

    #[test]
    fn garbage_and_no_pcr_paced_at_fixed_rate() {
        // 7 bytes of garbage, then 1000 packets without adaptation field.
        let mut data = vec![1, 0x47, 2, 3, 4, 5, 6];
        for i in 0..1000u32 {
            let mut p = [0xFFu8; PACKET_LEN];
            p[..4].copy_from_slice(&[0x47, 0x01, 0x00, 0x10 | (i % 16) as u8]);
            data.extend_from_slice(&p);
        }
        let p = write_temp("nopcr.ts", &data);
        let mut src = FileSource::open(&p).unwrap();
        let t0 = Instant::from_millis(1000);
        let (bytes, _) = run(
            &mut src,
            t0,
            Duration::from_millis(100),
            t0 + Duration::from_millis(500),
        );
        std::fs::remove_file(&p).unwrap();
        // 0.5 s at 2 Mbit/s is 125 000 bytes (665 packets).
        let expect = 125_000.0;
        assert!(
            (bytes as f64 - expect).abs() < expect * 0.05,
            "released {bytes}"
        );
    }

    #[test]
    fn garbage_file_fails() {
        let p = write_temp("garbage.ts", &[0x55; 10_000]);
        let mut src = FileSource::open(&p).unwrap();
        let mut buf = vec![0u8; 4096];
        let mut res = Step::Wait(Instant::ZERO);
        for _ in 0..10 {
            res = src.pump(Instant::ZERO, &mut buf, 1 << 18, &mut |_| {
                panic!("no packets expected")
            });
            if matches!(res, Step::Fail(_)) {
                break;
            }
        }
        std::fs::remove_file(&p).unwrap();
        assert_eq!(res, Step::Fail("no TS packets in file".into()));
        assert!(FileSource::open(Path::new("/nonexistent/x.ts")).is_err());
    }
}
