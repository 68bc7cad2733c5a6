//! [`Sink`]: where a box writes its channel — a file, FIFO or device; a spawned command's stdin;
//! or UDP datagrams.
//!
//! [`Sink::write`] is non-blocking and returns how many bytes were accepted; 0 means "not now"
//! (closed, full, or just failed). Failures close the output and reopen it later:
//! - `file:` — a FIFO without a reader (ENXIO on open) or whose reader left (EPIPE) is retried
//!   every 500 ms; other errors back off from 500 ms to 30 s. A regular file is truncated at the
//!   first open only; reopens append, so a recording is not lost to a transient error.
//! - `exec:` — `/bin/sh -c COMMAND` in its own process group, stream on a non-blocking stdin pipe.
//!   When the child exits or closes its stdin it is (re)spawned after a backoff (1 s doubling to
//!   30 s, back to 1 s if it ran for 10 s); a child that closed its stdin gets SIGTERM (SIGKILL
//!   5 s later) and is reaped by `service`.
//! - `udp:` — a connected socket; each write is one datagram. Only EAGAIN refuses bytes: any
//!   other error (ECONNREFUSED when nobody listens, unreachable networks) drops the datagram and
//!   reports it accepted, so a missing player never stalls the box.
//!
//! Invariants:
//! - Nothing blocks; `write` never panics and never returns more than it was given.
//! - The output fd is in the reactor only while the caller wants writability (`want_write(true)`),
//!   with write interest only: an idle sink whose reader hung up cannot make the loop spin on
//!   EPOLLERR/EPOLLHUP. The wish survives a reopen (the new fd is added by `service`).
//! - Every spawned child is eventually reaped while the sink lives; dropping the sink closes the
//!   child's stdin (it sees EOF) without killing it.
//! - State changes are logged once; repeated failures while retrying go to debug level.

use super::uri::SinkUri;
use super::{Backoff, Registration};
use crate::reactor::{Reactor, Token};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;
use rustix::net::{AddressFamily, SendFlags, SocketFlags, SocketType};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;
use tvmesh_core::time::{earliest, Instant};

/// Retry period for a FIFO without a reader.
const NO_READER_RETRY: Duration = Duration::from_millis(500);
/// How often a running child is checked for exit.
const CHILD_CHECK: Duration = Duration::from_secs(1);
/// A child that got SIGTERM and is still alive after this gets SIGKILL.
const KILL_AFTER: Duration = Duration::from_secs(5);
/// Running (or staying open) this long resets the backoff.
const STABLE_AFTER: Duration = Duration::from_secs(10);

/// The open output.
enum Out {
    Closed,
    /// A file/FIFO/device (`udp == false`) or a connected UDP socket.
    Fd {
        fd: OwnedFd,
        udp: bool,
    },
    Exec {
        child: Child,
        stdin: ChildStdin,
    },
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum State {
    Open,
    NoReader,
    Retrying,
}

/// A child on its way out: signalled, to be reaped; SIGKILL at `kill_at` unless already sent.
struct Dying {
    child: Child,
    kill_at: Instant,
    killed: bool,
}

fn fd_of(out: &Out) -> Option<BorrowedFd<'_>> {
    match out {
        Out::Closed => None,
        Out::Fd { fd, .. } => Some(fd.as_fd()),
        Out::Exec { stdin, .. } => Some(stdin.as_fd()),
    }
}

/// Writes one channel. See the module documentation.
pub struct Sink {
    uri: SinkUri,
    out: Out,
    state: State,
    backoff: Backoff,
    retry_at: Option<Instant>,
    opened_at: Instant,
    reg: Registration,
    want: bool,
    /// A regular file was opened (and truncated) once; reopens append.
    opened_once: bool,
    dying: Vec<Dying>,
    next_check: Option<Instant>,
    /// A failure was logged; further ones go to debug until the sink is open again.
    quiet: bool,
    /// A UDP send error was logged; cleared by the next successful send.
    udp_error: bool,
}

impl Sink {
    /// Opens `uri` now if possible; otherwise retries later. Never fails.
    pub fn open(uri: &SinkUri, now: Instant) -> Sink {
        let backoff = match uri {
            SinkUri::Exec(_) => Backoff::new(Duration::from_secs(1), Duration::from_secs(30)),
            _ => Backoff::new(Duration::from_millis(500), Duration::from_secs(30)),
        };
        let mut s = Sink {
            uri: uri.clone(),
            out: Out::Closed,
            state: State::Retrying,
            backoff,
            retry_at: None,
            opened_at: now,
            reg: Registration::default(),
            want: false,
            opened_once: false,
            dying: Vec::new(),
            next_check: None,
            quiet: false,
            udp_error: false,
        };
        s.try_open(now, None);
        s
    }

    /// Remembers `token`; the output fd is in the reactor (for writability) only while
    /// `want_write(true)` is in force. Calling it again is fine.
    pub fn register(&mut self, reactor: &Reactor, token: Token) {
        let force = self.reg.set_token(token);
        self.sync_reg(reactor, force);
    }

    /// Asks for (or stops asking for) a wakeup when the output becomes writable. A no-op if
    /// unchanged.
    pub fn want_write(&mut self, reactor: &Reactor, on: bool) {
        if self.want != on {
            self.want = on;
            self.sync_reg(reactor, false);
        }
    }

    /// Writes what the output takes now (never blocks); returns the bytes accepted.
    pub fn write(&mut self, now: Instant, bytes: &[u8]) -> usize {
        if bytes.is_empty() {
            return 0;
        }
        let (res, udp) = match &self.out {
            Out::Closed => return 0,
            Out::Fd { fd, udp: true } => (rustix::net::send(fd, bytes, SendFlags::NOSIGNAL), true),
            Out::Fd { fd, udp: false } => (rustix::io::write(fd, bytes), false),
            Out::Exec { stdin, .. } => (rustix::io::write(stdin, bytes), false),
        };
        match res {
            Ok(n) => {
                if udp && self.udp_error {
                    log::info!("sink {}: sending again", self.uri);
                    self.udp_error = false;
                }
                n.min(bytes.len())
            }
            Err(Errno::AGAIN | Errno::INTR) => 0,
            Err(e) if udp => {
                if !self.udp_error {
                    log::info!("sink {}: {e}; dropping datagrams until it clears", self.uri);
                    self.udp_error = true;
                }
                bytes.len()
            }
            Err(Errno::PIPE) => {
                self.lost(now, None, "reader went away", true);
                0
            }
            Err(e) => {
                self.lost(now, None, &format!("write: {e}"), false);
                0
            }
        }
    }

    /// When `service` should run next: a reopen/respawn, or the periodic child check.
    pub fn next_wakeup(&self) -> Option<Instant> {
        let retry = if matches!(self.out, Out::Closed) {
            self.retry_at
        } else {
            None
        };
        earliest(retry, self.next_check)
    }

    /// Whether the output is open (writes may be accepted).
    pub fn is_open(&self) -> bool {
        !matches!(self.out, Out::Closed)
    }

    /// Reopens when due, notices an exited child, reaps dying children.
    pub fn service(&mut self, now: Instant, reactor: &Reactor) {
        self.reap(now);
        if let Out::Exec { child, .. } = &mut self.out {
            match child.try_wait() {
                Ok(None) => {}
                Ok(Some(status)) => {
                    let why = format!("command exited ({status})");
                    self.lost(now, Some(reactor), &why, false);
                }
                Err(e) => {
                    let why = format!("command lost ({e})");
                    self.lost(now, Some(reactor), &why, false);
                }
            }
        }
        if !self.is_open() && self.retry_at.is_some_and(|t| now >= t) {
            self.try_open(now, Some(reactor));
        }
        let exec = matches!(self.out, Out::Exec { .. });
        self.next_check = (exec || !self.dying.is_empty()).then(|| now + CHILD_CHECK);
    }

    /// "open", "no reader" (a FIFO nobody reads) or "retrying".
    #[allow(dead_code)] // API for the status page; not wired yet
    pub fn state(&self) -> &'static str {
        match self.state {
            State::Open => "open",
            State::NoReader => "no reader",
            State::Retrying => "retrying",
        }
    }

    fn sync_reg(&mut self, reactor: &Reactor, force: bool) {
        let want = self.want.then_some((false, true));
        let Some(fd) = fd_of(&self.out) else { return };
        if let Err(e) = self.reg.update(reactor, fd, want, force) {
            log::warn!("sink {}: cannot register with the reactor: {e}", self.uri);
        }
    }

    fn try_open(&mut self, now: Instant, reactor: Option<&Reactor>) {
        self.retry_at = None;
        let opened = match &self.uri {
            SinkUri::File(path) => {
                let mut flags =
                    OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CREATE | OFlags::CLOEXEC;
                if self.opened_once {
                    flags |= OFlags::APPEND;
                }
                match rustix::fs::open(path, flags, Mode::from_raw_mode(0o644)) {
                    Ok(fd) => {
                        let regular = rustix::fs::fstat(&fd).is_ok_and(|st| {
                            FileType::from_raw_mode(st.st_mode) == FileType::RegularFile
                        });
                        if regular && !self.opened_once {
                            if let Err(e) = rustix::fs::ftruncate(&fd, 0) {
                                log::warn!("sink {}: truncate: {e}", self.uri);
                            }
                        }
                        Ok(Out::Fd { fd, udp: false })
                    }
                    Err(Errno::NXIO) => {
                        if self.state != State::NoReader {
                            log::info!("sink {}: waiting for a reader", self.uri);
                        }
                        self.state = State::NoReader;
                        self.retry_at = Some(now + NO_READER_RETRY);
                        return;
                    }
                    Err(e) => Err(format!("open: {e}")),
                }
            }
            SinkUri::Exec(cmd) => spawn(cmd, now, &mut self.dying),
            SinkUri::Udp(addr) => {
                let family = if addr.is_ipv4() {
                    AddressFamily::INET
                } else {
                    AddressFamily::INET6
                };
                rustix::net::socket_with(
                    family,
                    SocketType::DGRAM,
                    SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
                    None,
                )
                .and_then(|fd| rustix::net::connect(&fd, addr).map(|()| fd))
                .map(|fd| Out::Fd { fd, udp: true })
                .map_err(|e| format!("connect: {e}"))
            }
        };
        match opened {
            Ok(out) => {
                self.out = out;
                self.opened_once = true;
                self.opened_at = now;
                self.quiet = false;
                self.udp_error = false;
                if self.state != State::Open {
                    log::info!("sink {}: open", self.uri);
                }
                self.state = State::Open;
                if let Some(r) = reactor {
                    self.sync_reg(r, false);
                }
            }
            Err(why) => {
                self.state = State::Retrying;
                self.schedule_retry(now, &why);
            }
        }
    }

    /// The output failed: close it (a child is told to go) and schedule a reopen. `reader_gone`:
    /// EPIPE, which for a FIFO means "wait for the next reader".
    fn lost(&mut self, now: Instant, reactor: Option<&Reactor>, why: &str, reader_gone: bool) {
        let stable = now.saturating_since(self.opened_at) >= STABLE_AFTER;
        let fifo_gone = reader_gone && matches!(self.uri, SinkUri::File(_));
        self.close(now, reactor);
        if stable {
            self.backoff.reset();
        }
        if fifo_gone {
            log::info!("sink {}: {why}; waiting for a reader", self.uri);
            self.state = State::NoReader;
            self.retry_at = Some(now + NO_READER_RETRY);
        } else {
            self.state = State::Retrying;
            self.schedule_retry(now, why);
        }
    }

    fn schedule_retry(&mut self, now: Instant, why: &str) {
        let delay = self.backoff.next_delay();
        if self.quiet {
            log::debug!("sink {}: {why}; retrying in {delay:?}", self.uri);
        } else {
            log::warn!("sink {}: {why}; retrying in {delay:?}", self.uri);
            self.quiet = true;
        }
        self.retry_at = Some(now + delay);
    }

    /// Closes the output, removing it from the reactor first when one is at hand (closing the fd
    /// removes it anyway). A running child is asked to terminate and reaped later.
    fn close(&mut self, now: Instant, reactor: Option<&Reactor>) {
        if let (Some(r), Some(fd)) = (reactor, fd_of(&self.out)) {
            // Safe to ignore: removal errors are swallowed by the reactor.
            let _ = self.reg.update(r, fd, None, false);
        }
        self.reg.closed();
        if let Out::Exec { mut child, stdin } = std::mem::replace(&mut self.out, Out::Closed) {
            drop(stdin);
            if let Ok(None) = child.try_wait() {
                terminate(&child, rustix::process::Signal::TERM);
                self.dying.push(Dying {
                    child,
                    kill_at: now + KILL_AFTER,
                    killed: false,
                });
            }
        }
    }

    /// Reaps children that exited; SIGKILLs those that ignored SIGTERM for [`KILL_AFTER`].
    fn reap(&mut self, now: Instant) {
        self.dying.retain_mut(|d| match d.child.try_wait() {
            Ok(None) => {
                if !d.killed && now >= d.kill_at {
                    terminate(&d.child, rustix::process::Signal::KILL);
                    d.killed = true;
                }
                true
            }
            Ok(Some(_)) | Err(_) => false,
        });
    }
}

/// Sends `sig` to the child's process group (it leads one: see [`spawn`]).
fn terminate(child: &Child, sig: rustix::process::Signal) {
    let pid = i32::try_from(child.id())
        .ok()
        .and_then(rustix::process::Pid::from_raw);
    if let Some(pid) = pid {
        let _ = rustix::process::kill_process_group(pid, sig);
    }
}

/// Spawns `/bin/sh -c cmd` in a new process group with a non-blocking stdin pipe. A child that
/// cannot be used is killed and left in `dying` to be reaped.
fn spawn(cmd: &str, now: Instant, dying: &mut Vec<Dying>) -> Result<Out, String> {
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    let nonblocking = |s: &ChildStdin| {
        rustix::fs::fcntl_getfl(s).and_then(|fl| rustix::fs::fcntl_setfl(s, fl | OFlags::NONBLOCK))
    };
    let err = match child.stdin.take() {
        Some(stdin) => match nonblocking(&stdin) {
            Ok(()) => return Ok(Out::Exec { child, stdin }),
            Err(e) => format!("stdin pipe: {e}"),
        },
        // Cannot happen with Stdio::piped(); handled anyway.
        None => "no stdin pipe".to_string(),
    };
    terminate(&child, rustix::process::Signal::KILL);
    dying.push(Dying {
        child,
        kill_at: now,
        killed: true,
    });
    Err(err)
}

#[cfg(test)]
#[path = "sink_tests.rs"]
pub(crate) mod tests;
