//! The control interface: zap commands from middleware, scripts and tests.
//!
//! Commands, one per line (Unix socket) or as `/control?cmd=...` (HTTP, via [`parse_query`]):
//! `zap NUMBER`, `zap NAME`, `up`, `down`, `prev`, `status`. Each line gets one reply line:
//! `ok N` (the channel now on), `error: ...`, or for `status`
//! `current=N previous=N last_zap_ms=T` (`-` where unknown). [`apply`] turns a request into a
//! [`Zapper`] command and its reply, so the HTTP server and the socket answer alike.
//!
//! Invariants of [`ControlServer`]: non-blocking listener and connections; at most
//! [`MAX_CONNECTIONS`] clients (further ones are accepted and closed at once); a line longer than
//! [`MAX_LINE`] is answered with an error and the client dropped; a client that does not take its
//! reply (full socket buffer) is dropped. The server uses tokens `base ..= base + MAX_CONNECTIONS`.

use crate::reactor::{Reactor, Token};
use rustix::fd::OwnedFd;
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
use std::io;
use std::path::{Path, PathBuf};
use tvmesh_core::time::Instant;
use tvmesh_core::zap::{Command, Zapper};

/// Clients at once.
pub const MAX_CONNECTIONS: usize = 4;
/// Longest command line, bytes.
pub const MAX_LINE: usize = 128;

/// A parsed control command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Zap to a channel number.
    Number(u16),
    /// Zap to a channel name.
    Name(String),
    /// Next channel.
    Up,
    /// Channel before, in number order.
    Down,
    /// Back to the last channel.
    Prev,
    /// Report the current channel.
    Status,
}

/// Why a command was refused.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// Not one of the commands.
    Unknown,
    /// `zap` without a channel, or with a bad one.
    Channel,
    /// Line too long or not UTF-8.
    Line,
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RequestError::Unknown => "unknown command (zap N|NAME, up, down, prev, status)",
            RequestError::Channel => "zap needs a channel number (1-9999) or name",
            RequestError::Line => "line too long or not UTF-8",
        })
    }
}

/// Parses one command line.
pub fn parse_request(line: &str) -> Result<Request, RequestError> {
    let mut words = line.split_ascii_whitespace();
    let cmd = words.next().ok_or(RequestError::Unknown)?;
    let arg = words.next();
    if words.next().is_some() {
        return Err(RequestError::Unknown);
    }
    let req = match (cmd, arg) {
        ("zap", Some(a)) if a.bytes().all(|b| b.is_ascii_digit()) => match a.parse::<u16>() {
            Ok(n @ 1..=tvmesh_core::zap::MAX_NUMBER) => Request::Number(n),
            _ => return Err(RequestError::Channel),
        },
        ("zap", Some(a)) if a.len() <= tvmesh_core::wire::MAX_NAME => Request::Name(a.into()),
        ("zap", _) => return Err(RequestError::Channel),
        ("up", None) => Request::Up,
        ("down", None) => Request::Down,
        ("prev" | "previous", None) => Request::Prev,
        ("status", None) => Request::Status,
        _ => return Err(RequestError::Unknown),
    };
    Ok(req)
}

/// Parses the query string of `/control?cmd=zap%205` (or `cmd=zap+5`).
pub fn parse_query(query: &str) -> Result<Request, RequestError> {
    let raw = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("cmd="))
        .ok_or(RequestError::Unknown)?;
    if raw.len() > 3 * MAX_LINE {
        return Err(RequestError::Line);
    }
    let mut out = Vec::with_capacity(raw.len());
    let b = raw.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = b
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                let v = hex.and_then(|h| u8::from_str_radix(h, 16).ok());
                out.push(v.ok_or(RequestError::Line)?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    parse_request(std::str::from_utf8(&out).map_err(|_| RequestError::Line)?)
}

/// Applies `req` to the zapper (whose events the caller drains as usual) and returns the reply
/// line, without newline.
pub fn apply(z: &mut Zapper, now: Instant, req: &Request) -> String {
    let cmd = match req {
        Request::Number(n) => Command::Number(*n),
        Request::Name(s) => Command::Name(s),
        Request::Up => Command::Up,
        Request::Down => Command::Down,
        Request::Prev => Command::Previous,
        Request::Status => return status(z),
    };
    z.handle_command(now, cmd);
    let on = z.current();
    let hit = match req {
        Request::Number(n) => on == Some(*n),
        Request::Name(s) => on
            .and_then(|n| z.directory().get(n))
            .is_some_and(|e| e.name.eq_ignore_ascii_case(s)),
        _ => on.is_some(),
    };
    match on {
        Some(n) if hit => format!("ok {n}"),
        _ if z.directory().is_empty() => "error: no channels".into(),
        _ => "error: no such channel".into(),
    }
}

fn status(z: &Zapper) -> String {
    let opt = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
    format!(
        "current={} previous={} last_zap_ms={}",
        opt(z.current().map(u64::from)),
        opt(z.previous().map(u64::from)),
        opt(z.last_zap().map(|t| t.as_millis())),
    )
}

struct Conn {
    fd: OwnedFd,
    line: Vec<u8>,
}

/// The control socket. See the module documentation.
pub struct ControlServer {
    path: PathBuf,
    listener: OwnedFd,
    conns: Vec<Option<Conn>>,
    base: Token,
}

impl ControlServer {
    /// Binds `path` (a stale socket file there is removed first) and registers the listener
    /// under `base`; connections get `base + 1 ..`.
    pub fn bind(path: &Path, reactor: &Reactor, base: Token) -> io::Result<ControlServer> {
        if std::fs::symlink_metadata(path)
            .is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()))
        {
            std::fs::remove_file(path)?;
        }
        let fd = rustix::net::socket_with(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
            None,
        )?;
        rustix::net::bind(&fd, &SocketAddrUnix::new(path)?)?;
        rustix::net::listen(&fd, MAX_CONNECTIONS as i32)?;
        reactor.add(&fd, base, true, false)?;
        Ok(ControlServer {
            path: path.to_path_buf(),
            listener: fd,
            conns: (0..MAX_CONNECTIONS).map(|_| None).collect(),
            base,
        })
    }

    /// Whether `token` is one of this server's.
    pub fn owns(&self, token: Token) -> bool {
        token >= self.base && token <= self.base + MAX_CONNECTIONS as Token
    }

    /// Clients connected now.
    pub fn clients(&self) -> usize {
        self.conns.iter().flatten().count()
    }

    /// Handles readiness of one of its tokens: accepts clients, or reads a client's lines and
    /// answers each with `handle(request)` (or an error line).
    pub fn on_readable(
        &mut self,
        reactor: &Reactor,
        token: Token,
        handle: &mut dyn FnMut(&Request) -> String,
    ) {
        if token == self.base {
            self.accept(reactor);
            return;
        }
        let Some(i) = token.checked_sub(self.base + 1).map(|i| i as usize) else {
            return;
        };
        if let Some(Some(c)) = self.conns.get_mut(i) {
            if !serve(c, handle) {
                // Dropping the fd removes it from epoll.
                self.conns[i] = None;
            }
        }
    }

    fn accept(&mut self, reactor: &Reactor) {
        for _ in 0..MAX_CONNECTIONS + 1 {
            let fd = match rustix::net::accept_with(
                &self.listener,
                SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
            ) {
                Ok(fd) => fd,
                Err(_) => return,
            };
            let Some(i) = self.conns.iter().position(Option::is_none) else {
                let _ = rustix::io::write(&fd, b"error: busy\n");
                continue;
            };
            match reactor.add(&fd, self.base + 1 + i as Token, true, false) {
                Ok(()) => {
                    self.conns[i] = Some(Conn {
                        fd,
                        line: Vec::with_capacity(MAX_LINE),
                    })
                }
                Err(e) => log::warn!("control: cannot register a client: {e}"),
            }
        }
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Reads and answers a client's lines; `false` when it should be dropped.
fn serve(c: &mut Conn, handle: &mut dyn FnMut(&Request) -> String) -> bool {
    let mut buf = [0u8; 512];
    for _ in 0..4 {
        let n = match rustix::io::read(&c.fd, &mut buf) {
            Ok(0) => return false,
            Ok(n) => n,
            Err(Errno::AGAIN | Errno::INTR) => return true,
            Err(_) => return false,
        };
        for &b in &buf[..n] {
            if b != b'\n' {
                if c.line.len() >= MAX_LINE {
                    let _ = rustix::io::write(
                        &c.fd,
                        format!("error: {}\n", RequestError::Line).as_bytes(),
                    );
                    return false;
                }
                c.line.push(b);
                continue;
            }
            let req = std::str::from_utf8(&c.line)
                .map_err(|_| RequestError::Line)
                .and_then(|s| parse_request(s.trim_end_matches('\r')));
            let mut reply = match req {
                Ok(r) => handle(&r),
                Err(e) => format!("error: {e}"),
            };
            reply.push('\n');
            c.line.clear();
            if rustix::io::write(&c.fd, reply.as_bytes()).ok() != Some(reply.len()) {
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
#[path = "control_tests.rs"]
mod tests;
