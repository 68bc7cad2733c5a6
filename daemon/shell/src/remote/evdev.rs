//! [`Evdev`]: keys from a Linux input device (an IR receiver's `/dev/input/eventN`).
//!
//! The device is named by path, or by its kernel name (`name:gpio_ir_recv`), looked up through
//! `/sys/class/input/event*/device/name` (no udev on most boxes). `grab` asks for exclusive access
//! (EVIOCGRAB) so the box's other software does not also act on the keys; failure (ENOTTY on a
//! FIFO, EBUSY when someone else grabbed it) is logged and reading goes on. Records are decoded
//! with a configurable [`Layout`] — the target's own by default; any layout for key injection
//! through a FIFO in tests.
//!
//! Invariants: the fd is non-blocking; one `on_readable` call reads at most [`MAX_READS`] ×
//! [`RECORDS`] records; a record split across reads is completed by the next read (a FIFO may
//! split); the device going away (ENODEV, EOF from a FIFO whose writers left) closes it and it is
//! reopened with backoff.

use super::KeyInput;
use crate::io::reopen::Reopening;
use crate::reactor::{Reactor, Token};
use rustix::fd::{AsFd, AsRawFd};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use std::path::{Path, PathBuf};
use tvmesh_core::input::{Keymap, Layout};
use tvmesh_core::time::Instant;

/// Records one read takes at most.
pub const RECORDS: usize = 64;
/// Reads per `on_readable` call at most.
pub const MAX_READS: usize = 8;
/// Largest record (64-bit layout).
const MAX_RECORD: usize = 24;

nix::ioctl_write_int!(eviocgrab, b'E', 0x90);

/// Which input device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceSpec {
    /// A path: `/dev/input/event0`, or a FIFO for tests.
    Path(PathBuf),
    /// A device name as the kernel reports it (`/sys/class/input/eventN/device/name`).
    Name(String),
}

impl DeviceSpec {
    /// `name:NAME` or a path.
    pub fn parse(s: &str) -> DeviceSpec {
        match s.strip_prefix("name:") {
            Some(n) => DeviceSpec::Name(n.to_string()),
            None => DeviceSpec::Path(PathBuf::from(s)),
        }
    }
}

/// Finds the event device whose name is `name`: scans `sys_dir/event*/device/name` and returns
/// `dev_dir/eventN`. (`/sys/class/input` and `/dev/input` on a box.)
pub fn find_by_name(sys_dir: &Path, dev_dir: &Path, name: &str) -> Option<PathBuf> {
    // The first by name (`min`, not a sort: a stable sort costs ~7 KiB of code on MIPS).
    let found = std::fs::read_dir(sys_dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|f| f.starts_with("event"))
        .filter(|f| {
            std::fs::read_to_string(sys_dir.join(f).join("device/name"))
                .is_ok_and(|n| n.trim_end() == name)
        })
        .min()?;
    Some(dev_dir.join(found))
}

/// Reads keys from an input device. See the module documentation.
pub struct Evdev {
    spec: DeviceSpec,
    sys_dir: PathBuf,
    dev_dir: PathBuf,
    layout: Layout,
    keymap: Keymap,
    grab: bool,
    dev: Reopening,
    buf: [u8; RECORDS * MAX_RECORD],
    fill: usize,
    keys: Vec<KeyInput>,
    /// Whether EVIOCGRAB succeeded on the open device.
    grabbed: bool,
}

impl Evdev {
    /// Opens the device now if possible, else retries later. Never fails.
    pub fn open(
        spec: DeviceSpec,
        layout: Layout,
        keymap: Keymap,
        grab: bool,
        now: Instant,
    ) -> Evdev {
        Self::open_in(
            spec,
            layout,
            keymap,
            grab,
            now,
            "/sys/class/input",
            "/dev/input",
        )
    }

    /// [`Evdev::open`] with the sysfs and /dev directories given (tests).
    pub fn open_in(
        spec: DeviceSpec,
        layout: Layout,
        keymap: Keymap,
        grab: bool,
        now: Instant,
        sys_dir: impl Into<PathBuf>,
        dev_dir: impl Into<PathBuf>,
    ) -> Evdev {
        let what = format!("remote {spec:?}");
        let mut e = Evdev {
            spec,
            sys_dir: sys_dir.into(),
            dev_dir: dev_dir.into(),
            layout,
            keymap,
            grab,
            dev: Reopening::new(what, Some((true, false))),
            buf: [0; RECORDS * MAX_RECORD],
            fill: 0,
            keys: Vec::with_capacity(RECORDS * MAX_READS),
            grabbed: false,
        };
        e.try_open(now, None);
        e
    }

    /// Registers for readability under `token` (again after every reopen, by `service`).
    pub fn register(&mut self, reactor: &Reactor, token: Token) {
        self.dev.register(reactor, token);
    }

    /// Whether the device is open.
    pub fn is_open(&self) -> bool {
        self.dev.is_open()
    }

    /// Whether the open device is grabbed.
    pub fn is_grabbed(&self) -> bool {
        self.grabbed
    }

    /// When `service` should run (a reopen), if closed.
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.dev.next_wakeup()
    }

    /// Reopens the device when due.
    pub fn service(&mut self, now: Instant, reactor: &Reactor) {
        if self.dev.due(now) {
            self.try_open(now, Some(reactor));
        }
    }

    /// Reads what is there (bounded) and yields the mapped key events, in order.
    pub fn on_readable(
        &mut self,
        now: Instant,
        reactor: &Reactor,
    ) -> impl Iterator<Item = KeyInput> + '_ {
        self.keys.clear();
        let rec = self.layout.record_len();
        let cap = RECORDS * rec;
        for _ in 0..MAX_READS {
            let Some(fd) = self.dev.fd() else { break };
            match rustix::io::read(fd, &mut self.buf[self.fill..cap]) {
                Ok(0) => {
                    self.fill = 0;
                    self.dev.lost(now, reactor, "end of input");
                    break;
                }
                Ok(n) => {
                    self.fill += n;
                    let whole = self.fill / rec * rec;
                    for r in self.buf[..whole].chunks_exact(rec) {
                        let ev = self.layout.parse(r);
                        if let Some(k) = ev.and_then(|ev| self.keymap.event(&ev)) {
                            self.keys.push(k);
                        }
                    }
                    self.buf.copy_within(whole..self.fill, 0);
                    self.fill -= whole;
                }
                Err(Errno::AGAIN | Errno::INTR) => break,
                Err(e) => {
                    self.fill = 0;
                    self.dev.lost(now, reactor, &format!("read: {e}"));
                    break;
                }
            }
        }
        self.keys.drain(..)
    }

    fn path(&self) -> Option<PathBuf> {
        match &self.spec {
            DeviceSpec::Path(p) => Some(p.clone()),
            DeviceSpec::Name(n) => find_by_name(&self.sys_dir, &self.dev_dir, n),
        }
    }

    fn try_open(&mut self, now: Instant, reactor: Option<&Reactor>) {
        let Some(path) = self.path() else {
            self.dev.failed(now, "no input device by that name");
            return;
        };
        let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
        match rustix::fs::open(&path, flags, Mode::empty()) {
            Ok(fd) => {
                self.grabbed = false;
                if self.grab {
                    // SAFETY: EVIOCGRAB takes an int by value; `fd` is an open descriptor we own.
                    match unsafe { eviocgrab(fd.as_fd().as_raw_fd(), 1) } {
                        Ok(_) => self.grabbed = true,
                        Err(e) => log::info!("remote {}: not grabbed ({e})", path.display()),
                    }
                }
                self.fill = 0;
                self.dev.opened(fd, reactor);
            }
            Err(e) => self
                .dev
                .failed(now, &format!("open {}: {e}", path.display())),
        }
    }
}

#[cfg(test)]
#[path = "evdev_tests.rs"]
pub(crate) mod tests;
