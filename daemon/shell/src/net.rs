//! The daemon's UDP endpoint and signal handling.
//!
//! Invariants: the socket is non-blocking; at most one datagram waits for the socket to drain
//! (`pending`), and while one waits the caller must not produce more (see [`Udp::can_send`]), so
//! a slow network holds back the core instead of growing a queue. Reads are bounded per call.

use crate::reactor::{Reactor, Token};
use std::io::{self, ErrorKind};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use tvmesh_core::wire::MAX_DATAGRAM;
use tvmesh_core::Transmit;

/// Datagrams read per readiness event before yielding to the rest of the loop.
pub const RECV_BATCH: usize = 256;

/// A non-blocking UDP socket with one pending-datagram slot.
pub struct Udp {
    pub sock: UdpSocket,
    pending: Option<(SocketAddr, usize)>,
    pending_buf: Box<[u8]>,
    /// Whether the reactor watches the socket for writability (only while a datagram waits).
    write_interest: bool,
    pub send_errors: u64,
}

impl Udp {
    /// Binds `addr` with large socket buffers.
    pub fn bind(addr: SocketAddr) -> io::Result<Udp> {
        let sock = UdpSocket::bind(addr)?;
        sock.set_nonblocking(true)?;
        // Best effort: the kernel may clamp these to net.core.[rw]mem_max.
        let _ = rustix::net::sockopt::set_socket_send_buffer_size(&sock, 1 << 20);
        let _ = rustix::net::sockopt::set_socket_recv_buffer_size(&sock, 1 << 20);
        Ok(Udp {
            sock,
            pending: None,
            pending_buf: vec![0; MAX_DATAGRAM].into_boxed_slice(),
            write_interest: false,
            send_errors: 0,
        })
    }

    /// Whether a new datagram may be sent now (nothing is waiting for the socket).
    pub fn can_send(&self) -> bool {
        self.pending.is_none()
    }

    /// Sends `buf` to `dst`; if the socket is full, keeps it pending and returns false.
    pub fn send(&mut self, dst: SocketAddr, buf: &[u8]) -> bool {
        match self.sock.send_to(buf, dst) {
            Ok(_) => true,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                self.pending_buf[..buf.len()].copy_from_slice(buf);
                self.pending = Some((dst, buf.len()));
                false
            }
            Err(_) => {
                // ICMP errors from earlier sends (ECONNREFUSED) and unreachable routes: the
                // protocol's timers deal with a peer that is gone.
                self.send_errors += 1;
                true
            }
        }
    }

    /// Retries the pending datagram; true when nothing is pending any more.
    pub fn flush(&mut self) -> bool {
        let Some((dst, len)) = self.pending else {
            return true;
        };
        match self.sock.send_to(&self.pending_buf[..len], dst) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => false,
            Ok(_) => {
                self.pending = None;
                true
            }
            Err(_) => {
                self.send_errors += 1;
                self.pending = None;
                true
            }
        }
    }

    /// Sends what `next` produces (a core's `poll_transmit`) until it has nothing more or the
    /// socket is full, and keeps the socket's write interest in step with a waiting datagram.
    pub fn drain(
        &mut self,
        reactor: &Reactor,
        token: Token,
        tx: &mut [u8],
        mut next: impl FnMut(&mut [u8]) -> Option<Transmit>,
    ) -> io::Result<()> {
        if self.flush() {
            while let Some(t) = next(tx) {
                if !self.send(t.dst, &tx[..t.len]) {
                    break;
                }
            }
        }
        let blocked = !self.can_send();
        if blocked != self.write_interest {
            reactor.modify(&self.sock, token, true, blocked)?;
            self.write_interest = blocked;
        }
        Ok(())
    }

    /// Re-registers the socket under `token` (keeping its write interest): for a socket that
    /// changes role, as when a pre-joined channel becomes the one on screen.
    pub fn retoken(&self, reactor: &Reactor, token: Token) -> io::Result<()> {
        reactor.modify(&self.sock, token, true, self.write_interest)
    }

    /// Receives up to [`RECV_BATCH`] datagrams, calling `f` for each.
    pub fn recv_batch(&self, buf: &mut [u8], f: impl FnMut(SocketAddr, &[u8])) {
        recv_each(&self.sock, buf, RECV_BATCH, f);
    }
}

/// Receives up to `max` datagrams from a non-blocking `sock`, calling `f` for each; stops when
/// the socket is empty or fails.
pub fn recv_each(
    sock: &UdpSocket,
    buf: &mut [u8],
    max: usize,
    mut f: impl FnMut(SocketAddr, &[u8]),
) {
    for _ in 0..max {
        match sock.recv_from(buf) {
            Ok((n, from)) => f(from, &buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            // ECONNREFUSED and friends from earlier sends: keep reading.
            Err(e)
                if e.kind() == ErrorKind::Interrupted
                    || e.kind() == ErrorKind::ConnectionRefused =>
            {
                continue
            }
            Err(_) => return,
        }
    }
}

static STOP: AtomicBool = AtomicBool::new(false);
static RELOAD: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: nix::libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

extern "C" fn on_hup(_: nix::libc::c_int) {
    RELOAD.store(true, Ordering::Relaxed);
}

/// Installs SIGINT/SIGTERM handlers that ask the loop to stop, and a SIGHUP handler that asks
/// it to reload (the root's entitlements file).
pub fn install_signals() -> io::Result<()> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let act = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for s in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { sigaction(s, &act) }.map_err(io::Error::from)?;
    }
    let hup = SigAction::new(
        SigHandler::Handler(on_hup),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe { sigaction(Signal::SIGHUP, &hup) }.map_err(io::Error::from)?;
    Ok(())
}

/// Whether a reload was requested (SIGHUP) since the last call.
#[cfg(feature = "root")]
pub fn reload_requested() -> bool {
    RELOAD.swap(false, Ordering::Relaxed)
}

/// Whether a stop was requested.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::Relaxed)
}
