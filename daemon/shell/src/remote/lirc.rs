//! [`Lirc`]: keys from lircd's Unix socket (`/var/run/lirc/lircd`).
//!
//! lircd writes one line per decoded button: `<code hex> <repeat hex> <button> <remote>`; repeat 0
//! is a press, higher counts are autorepeat (lircd sends no release). Button names go through the
//! same [`Keymap`] as evdev key codes (`KEY_OK`, `OK`, `KEY_CHANNELUP`, `7`, …).
//!
//! Invariants: the socket is non-blocking; one `on_readable` call reads at most [`MAX_READS`]
//! buffers; a line longer than [`MAX_LINE`] is dropped whole (counted); lines that do not parse or
//! name an unmapped button are skipped (counted); when lircd closes the socket or is not there,
//! the client reconnects with backoff (500 ms doubling to 30 s).

use super::KeyInput;
use crate::io::reopen::Reopening;
use crate::reactor::{Reactor, Token};
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
use std::path::PathBuf;
use tvmesh_core::input::{parse_lirc_line, Keymap};
use tvmesh_core::time::Instant;

/// Longest line kept, bytes (lircd lines are ~40 bytes).
pub const MAX_LINE: usize = 256;
/// Reads per `on_readable` call at most.
pub const MAX_READS: usize = 8;

/// A lircd client. See the module documentation.
pub struct Lirc {
    path: PathBuf,
    keymap: Keymap,
    sock: Reopening,
    line: Vec<u8>,
    /// The current line overflowed: drop bytes up to the next newline.
    skipping: bool,
    keys: Vec<KeyInput>,
    /// Lines dropped: too long, unparsable, or an unmapped button.
    pub skipped_lines: u64,
}

impl Lirc {
    /// Connects now if possible, else retries later. Never fails.
    pub fn connect(path: impl Into<PathBuf>, keymap: Keymap, now: Instant) -> Lirc {
        let path = path.into();
        let what = format!("lircd {}", path.display());
        let mut l = Lirc {
            path,
            keymap,
            sock: Reopening::new(what, Some((true, false))),
            line: Vec::with_capacity(MAX_LINE),
            skipping: false,
            keys: Vec::with_capacity(64),
            skipped_lines: 0,
        };
        l.try_connect(now, None);
        l
    }

    /// Registers for readability under `token` (kept across reconnects).
    pub fn register(&mut self, reactor: &Reactor, token: Token) {
        self.sock.register(reactor, token);
    }

    /// Whether connected to lircd.
    pub fn is_connected(&self) -> bool {
        self.sock.is_open()
    }

    /// When `service` should run (a reconnect), if disconnected.
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.sock.next_wakeup()
    }

    /// Reconnects when due.
    pub fn service(&mut self, now: Instant, reactor: &Reactor) {
        if self.sock.due(now) {
            self.try_connect(now, Some(reactor));
        }
    }

    /// Reads what is there (bounded) and yields the keys of complete lines, in order.
    pub fn on_readable(
        &mut self,
        now: Instant,
        reactor: &Reactor,
    ) -> impl Iterator<Item = KeyInput> + '_ {
        self.keys.clear();
        let mut buf = [0u8; 1024];
        for _ in 0..MAX_READS {
            let Some(fd) = self.sock.fd() else { break };
            match rustix::io::read(fd, &mut buf) {
                Ok(0) => {
                    self.sock.lost(now, reactor, "lircd closed the connection");
                    break;
                }
                Ok(n) => buf[..n].iter().for_each(|b| self.byte(*b)),
                Err(Errno::AGAIN | Errno::INTR) => break,
                Err(e) => {
                    self.sock.lost(now, reactor, &format!("read: {e}"));
                    break;
                }
            }
        }
        self.keys.drain(..)
    }

    fn byte(&mut self, b: u8) {
        if b != b'\n' {
            if self.line.len() < MAX_LINE {
                self.line.push(b);
            } else {
                self.skipping = true;
            }
            return;
        }
        let key = std::str::from_utf8(&self.line)
            .ok()
            .and_then(|s| parse_lirc_line(s).ok())
            .and_then(|l| Some((self.keymap.lirc_key(l.button)?, l.value())));
        match key {
            Some(k) if !self.skipping => self.keys.push(k),
            _ => self.skipped_lines += 1,
        }
        self.line.clear();
        self.skipping = false;
    }

    fn try_connect(&mut self, now: Instant, reactor: Option<&Reactor>) {
        let res = SocketAddrUnix::new(&self.path).and_then(|addr| {
            let fd = rustix::net::socket_with(
                AddressFamily::UNIX,
                SocketType::STREAM,
                SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
                None,
            )?;
            rustix::net::connect(&fd, &addr)?;
            Ok(fd)
        });
        match res {
            Ok(fd) => {
                self.line.clear();
                self.skipping = false;
                self.sock.opened(fd, reactor);
            }
            Err(e) => self.sock.failed(now, &format!("connect: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock;
    use crate::io::sink::tests::temp_path;
    use std::io::Write as _;
    use std::os::unix::net::UnixListener;
    use tvmesh_core::input::{Key, KeyValue};

    const TOKEN: Token = 4;

    fn read_keys(l: &mut Lirc, r: &mut Reactor, want: usize) -> Vec<KeyInput> {
        let mut got = Vec::new();
        let deadline = clock::now() + std::time::Duration::from_secs(5);
        while got.len() < want && l.is_connected() && clock::now() < deadline {
            let ready = r.wait(clock::now(), Some(deadline)).unwrap().to_vec();
            if ready.iter().any(|x| x.token == TOKEN) {
                got.extend(l.on_readable(clock::now(), r));
            }
        }
        got
    }

    #[test]
    fn fake_lircd_lines_become_keys_and_reconnect_works() {
        let p = temp_path("lircd");
        let mut r = Reactor::new(8).unwrap();
        let t0 = clock::now();
        // No lircd yet: retry later.
        let mut l = Lirc::connect(&p, Keymap::default(), t0);
        assert!(!l.is_connected());
        l.register(&r, TOKEN);
        let server = UnixListener::bind(&p).unwrap();
        let due = l.next_wakeup().unwrap();
        l.service(due, &r);
        assert!(l.is_connected());
        let (mut conn, _) = server.accept().unwrap();
        let long = "x".repeat(MAX_LINE + 10);
        let text = format!(
            "0000000000000001 00 KEY_CHANNELUP myremote\n\
             0000000000000001 01 KEY_CHANNELUP myremote\n\
             garbage\n{long} 00 OK r\n\
             000000037ff07bdd 00 KEY_BOGUS mceusb\n\
             000000037ff07bdd 00 7 mceusb\n\
             000000037ff07bdd 00 OK mce"
        );
        // The last line is split across two writes.
        conn.write_all(text.as_bytes()).unwrap();
        let mut keys = read_keys(&mut l, &mut r, 3);
        conn.write_all(b"usb\n").unwrap();
        keys.extend(read_keys(&mut l, &mut r, 1));
        assert_eq!(
            keys,
            [
                (Key::Up, KeyValue::Press),
                (Key::Up, KeyValue::Repeat),
                (Key::Digit(7), KeyValue::Press),
                (Key::Ok, KeyValue::Press),
            ]
        );
        assert_eq!(l.skipped_lines, 3);
        // lircd goes away: the client notices and reconnects later.
        drop(conn);
        let _ = read_keys(&mut l, &mut r, 1);
        assert!(!l.is_connected());
        let due = l.next_wakeup().unwrap();
        l.service(due, &r);
        assert!(l.is_connected());
        let _ = std::fs::remove_file(&p);
    }
}
