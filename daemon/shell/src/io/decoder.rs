//! [`DecoderSink`]: writes TS into a hardware decoder's device after programming it from the
//! stream's own PAT/PMT.
//!
//! The device-specific part is a [`Decoder`]: the Linux DVB demux ([`super::dvb`]) or Amlogic
//! amstream (`super::amstream`, cargo feature `amstream`). This file holds what they share:
//! opening the write device non-blocking (`/dev/dvb/adapterN/dvrN`, `/dev/amstream_mpts`),
//! watching PAT and PMT in the bytes written, programming the decoder before the first elementary
//! stream bytes go out and again whenever the PMT changes, and [`DecoderSink::flush`] on a zap.
//!
//! `write` has the contract of [`super::sink::Sink::write`]: non-blocking, returns the bytes
//! accepted (possibly part of a packet: the caller hands the rest of that packet first next time,
//! as the core's output cursors do), 0 for "not now".
//!
//! Invariants:
//! - Every packet written is looked at once, before it is written: offsets are counted in stream
//!   bytes since the last open or flush, packets start at multiples of 188. A write stops short
//!   of a packet not yet seen whole (see `scan`); callers hand whole packets, so this is rare.
//! - The decoder is programmed only when the PMT's video/audio/PCR set changes (not per packet).
//! - Nothing blocks; EAGAIN and EBUSY (Enigma2 drivers while the decoder is busy) mean "not now";
//!   other errors close the device and reopen it with backoff (500 ms doubling to 30 s), after
//!   which PAT/PMT are learnt again.

use super::reopen::Reopening;
use crate::reactor::{Reactor, Token};
use rustix::fd::{AsFd, BorrowedFd};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use std::io;
use std::path::PathBuf;
use tvmesh_core::time::Instant;
use tvmesh_core::ts::packet::Packet;
use tvmesh_core::ts::streams::{parse_streams, Streams};
use tvmesh_core::ts::{psi, PACKET_LEN, PAT_PID};

/// Programs a hardware decoder from a PMT.
pub trait Decoder {
    /// Sets the decoder up for `streams` (replacing any earlier set-up). `dev` is the open write
    /// device (amstream takes its ioctls there; the DVB demux has its own device).
    fn program(&mut self, dev: BorrowedFd<'_>, streams: &Streams) -> io::Result<()>;
    /// Tears the set-up down (zap, close).
    fn stop(&mut self);
}

/// Counters of a decoder sink.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct DecoderStats {
    /// Bytes accepted by the device.
    pub bytes: u64,
    /// Times the decoder was programmed.
    pub programs: u64,
    /// Programming attempts that failed.
    pub program_errors: u64,
}

/// A TS sink into a hardware decoder. See the module documentation.
pub struct DecoderSink<D: Decoder> {
    path: PathBuf,
    decoder: D,
    dev: Reopening,
    /// Stream bytes accepted since open/flush.
    written: u64,
    /// Stream bytes whose packets were scanned.
    scanned: u64,
    pmt_pid: Option<u16>,
    streams: Option<Streams>,
    stats: DecoderStats,
}

impl<D: Decoder> DecoderSink<D> {
    /// Opens `path` for writing now if possible, else retries later. Never fails.
    pub fn open(path: impl Into<PathBuf>, decoder: D, now: Instant) -> Self {
        let path = path.into();
        let what = format!("decoder {}", path.display());
        let mut s = DecoderSink {
            path,
            decoder,
            dev: Reopening::new(what, None),
            written: 0,
            scanned: 0,
            pmt_pid: None,
            streams: None,
            stats: DecoderStats::default(),
        };
        s.try_open(now, None);
        s
    }

    /// Remembers `token`; the device is in the reactor only while `want_write(true)`.
    pub fn register(&mut self, reactor: &Reactor, token: Token) {
        self.dev.register(reactor, token);
    }

    /// Asks for (or stops asking for) a wakeup when the device becomes writable.
    pub fn want_write(&mut self, reactor: &Reactor, on: bool) {
        self.dev.set_interest(reactor, on.then_some((false, true)));
    }

    /// Whether the device is open.
    pub fn is_open(&self) -> bool {
        self.dev.is_open()
    }

    /// The streams the decoder is programmed with.
    pub fn streams(&self) -> Option<&Streams> {
        self.streams.as_ref()
    }

    /// Counters.
    pub fn stats(&self) -> DecoderStats {
        self.stats
    }

    /// The decoder (tests look at fakes through it).
    pub fn decoder(&self) -> &D {
        &self.decoder
    }

    /// When `service` should run (a reopen), if closed.
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.dev.next_wakeup()
    }

    /// Reopens when due.
    pub fn service(&mut self, now: Instant, reactor: &Reactor) {
        if self.dev.due(now) {
            self.try_open(now, Some(reactor));
        }
    }

    /// A zap: the decoder is stopped and PAT/PMT are learnt afresh from the next bytes, which
    /// must start at a packet boundary (a fresh output cursor does).
    pub fn flush(&mut self) {
        self.decoder.stop();
        self.reset();
    }

    /// Writes what the device takes now (never blocks); returns the bytes accepted.
    pub fn write(&mut self, now: Instant, reactor: &Reactor, bytes: &[u8]) -> usize {
        if bytes.is_empty() || !self.dev.is_open() {
            return 0;
        }
        let bytes = &bytes[..self.scan(bytes)];
        let Some(fd) = self.dev.fd() else { return 0 };
        match rustix::io::write(fd, bytes) {
            Ok(n) => {
                let n = n.min(bytes.len());
                self.written += n as u64;
                self.stats.bytes += n as u64;
                n
            }
            Err(Errno::AGAIN | Errno::INTR | Errno::BUSY) => 0,
            Err(e) => {
                self.lost(now, reactor, &format!("write: {e}"));
                0
            }
        }
    }

    /// Looks at every whole packet of `bytes` not seen yet (PAT → PMT PID, PMT → program) and
    /// returns how much of `bytes` may be written: up to the start of an unseen packet that is
    /// not whole in `bytes` (it is written next time, seen whole then), unless that packet starts
    /// at the very beginning — then all of it (a caller handing pieces smaller than a packet
    /// gets them written unscanned rather than never).
    fn scan(&mut self, bytes: &[u8]) -> usize {
        let len = PACKET_LEN as u64;
        let end = self.written + bytes.len() as u64;
        let mut p = self.scanned.max(self.written).div_ceil(len) * len;
        while p + len <= end {
            let at = (p - self.written) as usize;
            if let Ok(pkt) = Packet::new(&bytes[at..at + PACKET_LEN]) {
                self.look(&pkt);
            }
            p += len;
            self.scanned = p;
        }
        match (p - self.written) as usize {
            0 => bytes.len(),
            cut => cut.min(bytes.len()),
        }
    }

    fn look(&mut self, pkt: &Packet<'_>) {
        if pkt.pid() == PAT_PID {
            if let Ok(pmt) = psi::parse_pat(pkt) {
                self.pmt_pid = Some(pmt);
            }
            return;
        }
        if Some(pkt.pid()) != self.pmt_pid {
            return;
        }
        let Ok(s) = parse_streams(pkt) else { return };
        if self.streams == Some(s) {
            return;
        }
        let Some(fd) = self.dev.fd() else { return };
        self.decoder.stop();
        match self.decoder.program(fd.as_fd(), &s) {
            Ok(()) => {
                log::info!("decoder {}: programmed {s:?}", self.path.display());
                self.stats.programs += 1;
            }
            Err(e) => {
                log::warn!("decoder {}: programming failed: {e}", self.path.display());
                self.stats.program_errors += 1;
            }
        }
        // Remembered either way: a failing driver is not retried on every PMT.
        self.streams = Some(s);
    }

    fn reset(&mut self) {
        self.written = 0;
        self.scanned = 0;
        self.pmt_pid = None;
        self.streams = None;
    }

    fn try_open(&mut self, now: Instant, reactor: Option<&Reactor>) {
        let flags = OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
        match rustix::fs::open(&self.path, flags, Mode::empty()) {
            Ok(fd) => {
                self.reset();
                self.dev.opened(fd, reactor);
            }
            Err(e) => self.dev.failed(now, &format!("open: {e}")),
        }
    }

    fn lost(&mut self, now: Instant, reactor: &Reactor, why: &str) {
        self.decoder.stop();
        self.reset();
        self.dev.lost(now, reactor, why);
    }
}

impl<D: Decoder> Drop for DecoderSink<D> {
    fn drop(&mut self) {
        self.decoder.stop();
    }
}
