//! The Linux DVB decoder: PES filters on `/dev/dvb/adapterN/demuxN`, TS written to `dvrN`.
//!
//! Two set-ups, chosen by the board profile (`dvb_setup`):
//! - **mainline** (kernel `dmx-fwrite.rst`): one demux fd per PID with `DMX_SET_PES_FILTER`,
//!   input `DMX_IN_DVR`, output `DMX_OUT_DECODER`, pes_type video / audio / PCR, started at once.
//! - **enigma2** (Dreambox, Vu+, Broadcom drivers): `DMX_SET_SOURCE(DMX_SOURCE_DVR0 + n)` on each
//!   demux fd first, then the same filters with input `DMX_IN_FRONTEND`.
//!
//! The PCR gets its own filter only when it is not carried on the video PID. The ioctls sit behind
//! [`DmxOps`] so tests use a fake that records them; [`LinuxDmx`] is the real one, with the
//! structure layouts of `linux/dvb/dmx.h` (`struct dmx_pes_filter_params`: `u16 pid` then four
//! 32-bit fields — 20 bytes on every target).
//!
//! Invariant: [`Dvb::stop`](super::decoder::Decoder::stop) closes every filter fd; at most three
//! are open at once.

use super::decoder::{Decoder, DecoderSink};
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use std::io;
use std::path::PathBuf;
use tvmesh_core::time::Instant;
use tvmesh_core::ts::streams::Streams;

/// `enum dmx_input`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum DmxInput {
    /// `DMX_IN_FRONTEND`.
    Frontend = 0,
    /// `DMX_IN_DVR`.
    Dvr = 1,
}

/// `enum dmx_ts_pes` values used here.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum PesType {
    /// `DMX_PES_AUDIO0`.
    Audio = 0,
    /// `DMX_PES_VIDEO0`.
    Video = 1,
    /// `DMX_PES_PCR0`.
    Pcr = 4,
}

/// `DMX_OUT_DECODER`.
pub const DMX_OUT_DECODER: u32 = 0;
/// `DMX_IMMEDIATE_START`.
pub const DMX_IMMEDIATE_START: u32 = 4;
/// `DMX_SOURCE_DVR0` (`dmx_source_t`).
pub const DMX_SOURCE_DVR0: u32 = 16;

/// `struct dmx_pes_filter_params`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct DmxPesFilterParams {
    /// PID to filter.
    pub pid: u16,
    /// `enum dmx_input`.
    pub input: u32,
    /// `enum dmx_output`.
    pub output: u32,
    /// `enum dmx_ts_pes`.
    pub pes_type: u32,
    /// `DMX_IMMEDIATE_START` etc.
    pub flags: u32,
}

nix::ioctl_write_ptr!(dmx_set_pes_filter, b'o', 44, DmxPesFilterParams);
nix::ioctl_write_ptr!(dmx_set_source, b'o', 49, u32);

/// How the demux is fed from the dvr device.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DvbSetup {
    /// `DMX_IN_DVR` filters.
    Mainline,
    /// `DMX_SET_SOURCE` to the dvr, then frontend-input filters.
    Enigma2,
}

/// Which DVB devices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DvbConfig {
    /// `/dev/dvb/adapterN`.
    pub adapter: u8,
    /// `demuxN`.
    pub demux: u8,
    /// `dvrN`.
    pub dvr: u8,
    /// The set-up.
    pub setup: DvbSetup,
}

impl DvbConfig {
    /// `/dev/dvb/adapterN/dvrN`.
    pub fn dvr_path(&self) -> PathBuf {
        PathBuf::from(format!("/dev/dvb/adapter{}/dvr{}", self.adapter, self.dvr))
    }

    /// `/dev/dvb/adapterN/demuxN`.
    pub fn demux_path(&self) -> PathBuf {
        PathBuf::from(format!(
            "/dev/dvb/adapter{}/demux{}",
            self.adapter, self.demux
        ))
    }
}

/// Demux ioctls, one filter per call.
pub trait DmxOps {
    /// Opens a demux fd, sets its source first if `source` is given (`DMX_SET_SOURCE`), then its
    /// PES filter (`DMX_SET_PES_FILTER`), and keeps it open.
    fn add_filter(&mut self, source: Option<u32>, params: &DmxPesFilterParams) -> io::Result<()>;
    /// Closes every filter fd (the kernel stops them).
    fn clear(&mut self);
}

/// The real demux: `open(demuxN)` per filter.
pub struct LinuxDmx {
    path: PathBuf,
    fds: Vec<OwnedFd>,
}

impl LinuxDmx {
    /// Filters on the demux device at `path`.
    pub fn new(path: impl Into<PathBuf>) -> LinuxDmx {
        LinuxDmx {
            path: path.into(),
            fds: Vec::with_capacity(3),
        }
    }
}

impl DmxOps for LinuxDmx {
    fn add_filter(&mut self, source: Option<u32>, params: &DmxPesFilterParams) -> io::Result<()> {
        let flags = OFlags::RDWR | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = rustix::fs::open(&self.path, flags, Mode::empty())?;
        let raw = fd.as_fd().as_raw_fd();
        if let Some(src) = source {
            // SAFETY: DMX_SET_SOURCE reads one dmx_source_t (an int) through the pointer, which
            // is valid for the call; `raw` is the open fd we own.
            unsafe { dmx_set_source(raw, &src) }.map_err(io::Error::from)?;
        }
        // SAFETY: DMX_SET_PES_FILTER reads one `struct dmx_pes_filter_params`, whose layout
        // `DmxPesFilterParams` reproduces (repr(C), checked in tests); the pointer is valid.
        unsafe { dmx_set_pes_filter(raw, params) }.map_err(io::Error::from)?;
        self.fds.push(fd);
        Ok(())
    }

    fn clear(&mut self) {
        self.fds.clear();
    }
}

/// The DVB [`Decoder`]: filters for the PMT's video, audio and PCR.
pub struct Dvb<O: DmxOps> {
    cfg: DvbConfig,
    ops: O,
}

impl<O: DmxOps> Dvb<O> {
    /// A decoder on `ops` with the set-up in `cfg`.
    pub fn new(cfg: DvbConfig, ops: O) -> Self {
        Dvb { cfg, ops }
    }

    /// The demux operations (tests inspect a fake through this).
    pub fn ops(&self) -> &O {
        &self.ops
    }
}

impl<O: DmxOps> Decoder for Dvb<O> {
    fn program(&mut self, _dev: BorrowedFd<'_>, s: &Streams) -> io::Result<()> {
        let (input, source) = match self.cfg.setup {
            DvbSetup::Mainline => (DmxInput::Dvr, None),
            DvbSetup::Enigma2 => (
                DmxInput::Frontend,
                Some(DMX_SOURCE_DVR0 + u32::from(self.cfg.dvr)),
            ),
        };
        let mut filters = Vec::with_capacity(3);
        if let Some(v) = s.video {
            filters.push((v.pid, PesType::Video));
        }
        if let Some(a) = s.audio {
            filters.push((a.pid, PesType::Audio));
        }
        if s.video.map(|v| v.pid) != Some(s.pcr_pid) && s.pcr_pid != tvmesh_core::ts::NULL_PID {
            filters.push((s.pcr_pid, PesType::Pcr));
        }
        for (pid, pes) in filters {
            let params = DmxPesFilterParams {
                pid,
                input: input as u32,
                output: DMX_OUT_DECODER,
                pes_type: pes as u32,
                flags: DMX_IMMEDIATE_START,
            };
            self.ops.add_filter(source, &params)?;
        }
        Ok(())
    }

    fn stop(&mut self) {
        self.ops.clear();
    }
}

/// A DVB sink on the real devices of `cfg`.
pub fn open_dvb(cfg: &DvbConfig, now: Instant) -> DecoderSink<Dvb<LinuxDmx>> {
    let dvb = Dvb::new(cfg.clone(), LinuxDmx::new(cfg.demux_path()));
    DecoderSink::open(cfg.dvr_path(), dvb, now)
}

#[cfg(test)]
#[path = "dvb_tests.rs"]
pub(crate) mod tests;
