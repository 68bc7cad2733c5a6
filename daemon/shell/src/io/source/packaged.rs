//! Reading a packaged stream (`source=packaged:PATH|-`) at its records' pace.
//!
//! The container is `tvmesh_core::drm::package`: a header, then length-prefixed chunk records with
//! a stream time each. [`PackagedReader::pump`] hands out the header once, then whole records,
//! each no earlier than `anchor + (time_ms - first time_ms)` where the anchor is the moment the
//! first record went out: the root ingests the stream in real time without cutting or
//! re-encrypting it.
//!
//! Invariants: the fd is non-blocking (a file never blocks; stdin is polled every
//! [`STDIN_POLL`] while it has nothing); at most [`BUF_CAP`] bytes are buffered — nothing more is
//! read while a record waits for its time, so a fast writer on stdin is held back by the pipe;
//! every byte is parsed with the core's checked parsers, and a bad header, a record that does not
//! parse or goes backwards, or input that ends inside a record is a [`Step::Fail`] naming the
//! byte offset. The stream is played once: end of input is [`Step::Eof`].

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use std::path::Path;
use std::time::Duration;
use tvmesh_core::drm::package::{
    Header, PackageError, RecordCheck, RecordHeader, HEADER_MAX, RECORD_HEADER_LEN, RECORD_MAX,
};
use tvmesh_core::time::Instant;

/// Bytes buffered at most (room for a read plus a whole record).
pub const BUF_CAP: usize = 64 * 1024;
/// How often an idle stdin is polled.
pub const STDIN_POLL: Duration = Duration::from_millis(10);

/// What the caller should do next.
#[derive(Debug)]
pub enum Step {
    /// Call again at this time (possibly already past: at once).
    Wait(Instant),
    /// End of the stream.
    Eof,
    /// Bad input or a read error; the string says why and where.
    Fail(String),
}

/// A paced reader of one packaged stream.
pub struct PackagedReader {
    /// The file, or `None` for stdin.
    fd: Option<OwnedFd>,
    /// Bytes read; the unconsumed ones are `buf[start..]` (compacted only when reading, so a
    /// record costs no copy of what follows it).
    buf: Vec<u8>,
    start: usize,
    /// Offset in the stream of `buf[start]`.
    offset: u64,
    header_done: bool,
    eof: bool,
    check: RecordCheck,
    /// (when the first record went out, its time_ms).
    anchor: Option<(Instant, u32)>,
}

impl PackagedReader {
    /// Opens `path` (`-`: stdin, switched to non-blocking).
    pub fn open(path: &Path) -> Result<PackagedReader, String> {
        let fd = if path == Path::new("-") {
            let fd = rustix::stdio::stdin();
            rustix::fs::fcntl_getfl(fd)
                .and_then(|fl| rustix::fs::fcntl_setfl(fd, fl | OFlags::NONBLOCK))
                .map_err(|e| format!("stdin: {e}"))?;
            None
        } else {
            let fd = rustix::fs::open(
                path,
                OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| format!("open: {e}"))?;
            Some(fd)
        };
        Ok(PackagedReader {
            fd,
            buf: Vec::with_capacity(BUF_CAP),
            start: 0,
            offset: 0,
            header_done: false,
            eof: false,
            check: RecordCheck::default(),
            anchor: None,
        })
    }

    /// Hands out the header and the records due by `now`, up to about `budget` bytes.
    pub fn pump(&mut self, now: Instant, budget: usize, emit: &mut dyn FnMut(&[u8])) -> Step {
        let mut emitted = 0usize;
        // Bounded: each pass hands out an item, reads, or returns.
        for _ in 0..budget / RECORD_HEADER_LEN + 4 {
            match self.next_item(now) {
                Ok(Some(n)) => {
                    emit(&self.buf[self.start..self.start + n]);
                    self.start += n;
                    self.offset += n as u64;
                    emitted += n;
                    if emitted >= budget {
                        return Step::Wait(now);
                    }
                }
                Ok(None) => {}
                Err(step) => return step,
            }
        }
        Step::Wait(now)
    }

    /// The length of the next item to hand out now (`Ok(None)`: more was read, try again), or
    /// what to return.
    fn next_item(&mut self, now: Instant) -> Result<Option<usize>, Step> {
        let pending = &self.buf[self.start..];
        let parsed = if self.header_done {
            RecordHeader::parse(pending).map(|h| (Some(h), h.record_len()))
        } else {
            Header::parse(pending).map(|(_, n)| (None, n))
        };
        let have = pending.len();
        let (rec, n) = match parsed {
            Err(PackageError::Short) if !self.eof => return self.fill(now).map(|()| None),
            Err(PackageError::Short) if have == 0 && self.header_done => return Err(Step::Eof),
            Err(e) => return Err(self.bad(e)),
            Ok(x) => x,
        };
        if have < n {
            if self.eof {
                return Err(self.bad(PackageError::Short));
            }
            return self.fill(now).map(|()| None);
        }
        let Some(h) = rec else {
            self.header_done = true;
            return Ok(Some(n));
        };
        let (t0, ms0) = *self.anchor.get_or_insert((now, h.time_ms));
        let due = t0 + Duration::from_millis(u64::from(h.time_ms.saturating_sub(ms0)));
        if now < due {
            return Err(Step::Wait(due));
        }
        if let Err(e) = self.check.next(&h) {
            return Err(self.bad(e));
        }
        Ok(Some(n))
    }

    /// Reads more input into the buffer.
    fn fill(&mut self, now: Instant) -> Result<(), Step> {
        if self.start > 0 {
            self.buf.copy_within(self.start.., 0);
            self.buf.truncate(self.buf.len() - self.start);
            self.start = 0;
        }
        let have = self.buf.len();
        if have >= BUF_CAP {
            // Cannot happen: a whole record (≤ RECORD_MAX) fits; treat as corrupt.
            return Err(self.bad(PackageError::Short));
        }
        self.buf.resize(BUF_CAP, 0);
        let r = match &self.fd {
            Some(fd) => rustix::io::read(fd.as_fd(), &mut self.buf[have..]),
            None => rustix::io::read(rustix::stdio::stdin(), &mut self.buf[have..]),
        };
        match r {
            Ok(0) => {
                self.buf.truncate(have);
                self.eof = true;
                Ok(())
            }
            Ok(n) => {
                self.buf.truncate(have + n);
                Ok(())
            }
            Err(Errno::AGAIN) | Err(Errno::INTR) => {
                self.buf.truncate(have);
                Err(Step::Wait(now + STDIN_POLL))
            }
            Err(e) => {
                self.buf.truncate(have);
                Err(Step::Fail(format!("read at byte {}: {e}", self.offset)))
            }
        }
    }

    fn bad(&self, e: PackageError) -> Step {
        let what = if self.header_done { "record" } else { "header" };
        Step::Fail(format!(
            "packaged stream: {what} at byte {}: {e}",
            self.offset
        ))
    }
}

const _: () = assert!(RECORD_MAX + HEADER_MAX < BUF_CAP);

#[cfg(test)]
mod tests {
    use super::*;
    use tvmesh_core::drm::keyfile::KeyFile;
    use tvmesh_core::drm::package::parse_record;
    use tvmesh_core::drm::packager::Packager;

    /// The first 6 s of the sample, packaged, in a scratch file; returns (path, bytes).
    fn packaged(name: &str, cut: usize) -> (std::path::PathBuf, Vec<u8>) {
        let ts = std::fs::read(super::super::file::SAMPLE).unwrap();
        let mut p = Packager::new(KeyFile::new("demo", 2).unwrap(), [1; 32], 100);
        p.push(&ts[..ts.len() * 3 / 10]).unwrap();
        p.finish().unwrap();
        let mut b = std::mem::take(p.take_output());
        b.truncate(b.len() - cut);
        let path = std::env::temp_dir().join(format!("tvmesh-pkg-{}-{name}", std::process::id()));
        std::fs::write(&path, &b).unwrap();
        (path, b)
    }

    /// Pumps until the end (bounded); returns (items handed out with the time they went out,
    /// the final step).
    fn play(path: &Path) -> (Vec<(Instant, Vec<u8>)>, Step) {
        let mut r = PackagedReader::open(path).unwrap();
        let mut now = Instant::from_millis(1000);
        let mut out = Vec::new();
        for _ in 0..100_000 {
            let mut got = Vec::new();
            let step = r.pump(now, 64 * 1024, &mut |b| got.push(b.to_vec()));
            out.extend(got.into_iter().map(|b| (now, b)));
            match step {
                Step::Wait(t) => now = t.max(now),
                end => return (out, end),
            }
        }
        panic!("did not end");
    }

    #[test]
    fn records_go_out_at_their_stream_time() {
        let (path, bytes) = packaged("ok", 0);
        let (items, end) = play(&path);
        let _ = std::fs::remove_file(&path);
        assert!(matches!(end, Step::Eof), "{end:?}");
        // Header first, then every record whole and in order: together, the file.
        assert_eq!(items[0].1, bytes[..20]);
        assert_eq!(items.concat_bytes(), bytes);
        let t0 = items[1].0;
        let first = parse_record(&items[1].1).unwrap().0.time_ms;
        for (at, rec) in &items[1..] {
            let h = parse_record(rec).unwrap().0;
            let due = t0 + Duration::from_millis(u64::from(h.time_ms - first));
            assert_eq!(*at, due, "record {} goes out exactly when due", h.seq);
        }
        assert!(items.last().unwrap().0.saturating_since(t0) > Duration::from_secs(5));
    }

    #[test]
    fn a_truncated_file_fails_naming_the_offset() {
        let (path, bytes) = packaged("cut", 100);
        let (items, end) = play(&path);
        let _ = std::fs::remove_file(&path);
        let Step::Fail(why) = end else {
            panic!("{end:?}")
        };
        let at = items.concat_bytes().len();
        assert!(at < bytes.len());
        assert_eq!(
            why,
            format!("packaged stream: record at byte {at}: truncated")
        );
        let garbage = std::env::temp_dir().join(format!("tvmesh-pkg-{}-junk", std::process::id()));
        std::fs::write(&garbage, [0x47u8; 500]).unwrap();
        let (items, end) = play(&garbage);
        let _ = std::fs::remove_file(&garbage);
        assert!(items.is_empty());
        assert!(matches!(end, Step::Fail(ref w) if w.contains("header at byte 0: not a tvmesh")));
    }

    trait Concat {
        fn concat_bytes(&self) -> Vec<u8>;
    }

    impl Concat for Vec<(Instant, Vec<u8>)> {
        fn concat_bytes(&self) -> Vec<u8> {
            self.iter().flat_map(|(_, b)| b.iter().copied()).collect()
        }
    }
}
