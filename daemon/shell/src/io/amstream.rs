//! Amlogic vendor-kernel decoder (`/dev/amstream_mpts`), behind cargo feature `amstream`.
//!
//! Set-up, as the vendor's player does it on pre-S905 kernels: `AMSTREAM_IOC_VFORMAT`,
//! `AMSTREAM_IOC_AFORMAT`, `AMSTREAM_IOC_VID`, `AMSTREAM_IOC_AID` (each an int passed by value),
//! then `AMSTREAM_IOC_PORT_INIT`, all on the fd the TS is written to; then plain non-blocking
//! writes (the [`DecoderSink`] part). Audio is decoded in user space on these boxes
//! (libamadec), which is not done here: only the pids and formats are set.
//!
//! Not done: newer kernels' `AMSTREAM_IOC_SET` with `struct am_ioctl_parm`; re-programming an
//! initialised port (the driver wants the device closed and reopened, so a PMT change after
//! PORT_INIT returns an error and is logged).
//!
//! Invariant: the ioctls sit behind [`AmOps`] so tests use a fake that records them.

use super::decoder::{Decoder, DecoderSink};
use rustix::fd::{AsRawFd, BorrowedFd};
use std::io;
use tvmesh_core::time::Instant;
use tvmesh_core::ts::streams::Streams;

/// The amstream requests used.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum AmRequest {
    /// `AMSTREAM_IOC_VFORMAT` `_IOW('S', 0x04, int)`.
    VFormat,
    /// `AMSTREAM_IOC_AFORMAT` `_IOW('S', 0x05, int)`.
    AFormat,
    /// `AMSTREAM_IOC_VID` `_IOW('S', 0x06, int)`.
    Vid,
    /// `AMSTREAM_IOC_AID` `_IOW('S', 0x07, int)`.
    Aid,
    /// `AMSTREAM_IOC_PORT_INIT` `_IO('S', 0x11)` (value ignored).
    PortInit,
}

nix::ioctl_write_int!(am_vformat, b'S', 0x04);
nix::ioctl_write_int!(am_aformat, b'S', 0x05);
nix::ioctl_write_int!(am_vid, b'S', 0x06);
nix::ioctl_write_int!(am_aid, b'S', 0x07);
nix::ioctl_none!(am_port_init, b'S', 0x11);

/// amstream ioctls.
pub trait AmOps {
    /// Issues `req` with `value` on `dev`.
    fn ioctl(&mut self, dev: BorrowedFd<'_>, req: AmRequest, value: u32) -> io::Result<()>;
}

/// The real ioctls.
pub struct LinuxAm;

impl AmOps for LinuxAm {
    fn ioctl(&mut self, dev: BorrowedFd<'_>, req: AmRequest, value: u32) -> io::Result<()> {
        let fd = dev.as_raw_fd();
        let v = value as nix::sys::ioctl::ioctl_param_type;
        // SAFETY: these amstream requests take an int by value (or nothing); `fd` is the open
        // amstream device borrowed for the call. No memory is passed to the kernel.
        let res = unsafe {
            match req {
                AmRequest::VFormat => am_vformat(fd, v),
                AmRequest::AFormat => am_aformat(fd, v),
                AmRequest::Vid => am_vid(fd, v),
                AmRequest::Aid => am_aid(fd, v),
                AmRequest::PortInit => am_port_init(fd),
            }
        };
        res.map(|_| ()).map_err(io::Error::from)
    }
}

/// `vformat_t` for a PMT video stream_type (`None`: not decodable here).
pub fn vformat(stream_type: u8) -> Option<u32> {
    Some(match stream_type {
        0x01 | 0x02 => 0, // VFORMAT_MPEG12
        0x10 => 1,        // VFORMAT_MPEG4
        0x1B => 2,        // VFORMAT_H264
        0xEA => 6,        // VFORMAT_VC1
        0x42 => 7,        // VFORMAT_AVS
        0x24 => 11,       // VFORMAT_HEVC
        _ => return None,
    })
}

/// `aformat_t` for a PMT audio stream_type (as mapped by `ts::streams`).
pub fn aformat(stream_type: u8) -> Option<u32> {
    Some(match stream_type {
        0x03 | 0x04 => 0, // AFORMAT_MPEG
        0x0F => 2,        // AFORMAT_AAC
        0x81 => 3,        // AFORMAT_AC3
        0x82 => 6,        // AFORMAT_DTS
        0x11 => 19,       // AFORMAT_AAC_LATM
        0x87 => 21,       // AFORMAT_EAC3
        _ => return None,
    })
}

/// The amstream [`Decoder`].
pub struct Amstream<O: AmOps> {
    ops: O,
    inited: bool,
}

impl<O: AmOps> Amstream<O> {
    /// A decoder issuing its ioctls through `ops`.
    pub fn new(ops: O) -> Self {
        Amstream { ops, inited: false }
    }

    /// The ioctl layer (tests inspect a fake through it).
    #[cfg(test)]
    pub fn ops(&self) -> &O {
        &self.ops
    }
}

impl<O: AmOps> Decoder for Amstream<O> {
    fn program(&mut self, dev: BorrowedFd<'_>, s: &Streams) -> io::Result<()> {
        if self.inited {
            return Err(io::Error::other(
                "amstream port already initialised; reopen needed",
            ));
        }
        if let Some(f) = s.video.and_then(|v| vformat(v.stream_type)) {
            self.ops.ioctl(dev, AmRequest::VFormat, f)?;
        }
        if let Some(f) = s.audio.and_then(|a| aformat(a.stream_type)) {
            self.ops.ioctl(dev, AmRequest::AFormat, f)?;
        }
        if let Some(v) = s.video {
            self.ops.ioctl(dev, AmRequest::Vid, u32::from(v.pid))?;
        }
        if let Some(a) = s.audio {
            self.ops.ioctl(dev, AmRequest::Aid, u32::from(a.pid))?;
        }
        self.ops.ioctl(dev, AmRequest::PortInit, 0)?;
        self.inited = true;
        Ok(())
    }

    fn stop(&mut self) {}
}

/// An amstream sink on `/dev/amstream_mpts`.
pub fn open_amstream(now: Instant) -> DecoderSink<Amstream<LinuxAm>> {
    DecoderSink::open("/dev/amstream_mpts", Amstream::new(LinuxAm), now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock;
    use crate::io::dvb::tests::stream;
    use crate::reactor::Reactor;

    #[derive(Default)]
    struct FakeAm(Vec<(AmRequest, u32)>);

    impl AmOps for FakeAm {
        fn ioctl(&mut self, _: BorrowedFd<'_>, req: AmRequest, value: u32) -> io::Result<()> {
            self.0.push((req, value));
            Ok(())
        }
    }

    #[test]
    fn formats_and_pids_from_pmt_then_port_init() {
        let p = crate::io::sink::tests::mkfifo("amstream");
        let _rd = rustix::fs::open(
            &p,
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NONBLOCK,
            rustix::fs::Mode::empty(),
        )
        .unwrap();
        let r = Reactor::new(4).unwrap();
        let t = clock::now();
        let mut sink = DecoderSink::open(&p, Amstream::new(FakeAm::default()), t);
        let data = stream(3);
        assert_eq!(sink.write(t, &r, &data), data.len());
        assert_eq!(
            sink.decoder().ops().0,
            [
                (AmRequest::VFormat, 2),
                (AmRequest::AFormat, 2),
                (AmRequest::Vid, 0x100),
                (AmRequest::Aid, 0x101),
                (AmRequest::PortInit, 0),
            ]
        );
        let _ = std::fs::remove_file(&p);
    }

    #[test]
    fn request_codes() {
        if cfg!(any(
            target_arch = "x86_64",
            target_arch = "aarch64",
            target_arch = "arm"
        )) {
            assert_eq!(nix::request_code_write!(b'S', 0x04, 4) as u32, 0x4004_5304);
            assert_eq!(nix::request_code_none!(b'S', 0x11) as u32, 0x5311);
        }
    }
}
