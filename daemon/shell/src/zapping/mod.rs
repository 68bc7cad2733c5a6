//! The box's zapping: remote inputs, the control interface and the channel directory, wired to
//! the core [`Zapper`] (issue 7). [`crate::run_peer`] owns the sockets and the `Peer`; this
//! module decides *which* channel and tells the loop through [`Zapping::poll_zap`].
//!
//! - Inputs: an evdev device or FIFO (`remote`), lircd's socket (`lircd`), the control socket
//!   (`control_socket`) and the HTTP `/control?cmd=` form ([`Zapping::http_control`]).
//! - Directory: fetched from every `--root` by the core [`DirFetch`] on the box's data socket
//!   (DIRECTORY datagrams are taken out before the `Peer` sees them) and refreshed every minute.
//!   The configured `--channel` is the current channel once the directory names it.
//! - Measurement: a zap's start is when its ZapTo came out of the zapper (the pass that read the
//!   key or command); [`Zapping::first_bytes`] closes it when the first bytes of the new channel
//!   reach the sink. The last [`LATENCIES`] figures are kept for `status.json` and the benchmark.
//! - LED: blinking while a zap waits for its first bytes, on while playing.
//!
//! Invariants: every input is non-blocking and bounded per pass (see [`crate::remote`]); the
//! directory and latency lists are bounded; a bad key, command or DIRECTORY page changes
//! nothing but counters.

pub mod align;
pub mod prejoin;

#[cfg(feature = "root")]
use crate::config::ChannelConfig;
use crate::config::ViewerConfig;
use crate::io::led::{Led, LedState};
use crate::reactor::{Reactor, Token};
use crate::remote::control::{self, ControlServer};
use crate::remote::evdev::Evdev;
use crate::remote::lirc::Lirc;
use crate::remote::KeyInput;
use serde::Serialize;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tvmesh_core::time::{earliest, Instant};
use tvmesh_core::zap::fetch::{DirFetch, FetchConfig, FetchEvent};
#[cfg(feature = "root")]
use tvmesh_core::zap::{publish::DirServer, Entry};
use tvmesh_core::zap::{Directory, ZapConfig, ZapEvent, Zapper};
use tvmesh_core::Transmit;

/// Reactor tokens: the evdev device, lircd, the control socket (and its clients after it).
pub const TOKEN_REMOTE: Token = 2;
pub const TOKEN_LIRC: Token = 3;
pub const TOKEN_CONTROL: Token = 20;
/// Channels a box's directory holds.
pub const DIRECTORY_CAPACITY: usize = 1024;
/// Zap latencies kept for status and the benchmark.
pub const LATENCIES: usize = 256;
/// Directory entries listed in `status.json` (the rest are counted only).
pub const STATUS_ENTRIES: usize = 64;

/// The root's directory service for its configured channels (200 answers/s, 64 queued).
#[cfg(feature = "root")]
pub fn dir_server(channels: &[ChannelConfig]) -> io::Result<DirServer> {
    let mut dir = Directory::new(channels.len());
    for c in channels {
        dir.insert(Entry {
            number: c.number,
            name: c.name.clone(),
            description: c.description.clone(),
            bitrate_kbps: c.bitrate_kbps,
            root: 0,
        })
        .map_err(|e| io::Error::other(format!("channel {}: {e:?}", c.name)))?;
    }
    DirServer::new(&dir, 200, 64)
        .map_err(|e| io::Error::other(format!("channel directory does not fit: {e:?}")))
}

/// A zap the loop must carry out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZapTarget {
    pub number: u16,
    pub name: String,
    pub root: SocketAddr,
}

/// `status.json`'s `zap` block.
#[derive(Serialize, Clone, Default, Debug)]
pub struct ZapStatus {
    pub channel: Option<ChannelRef>,
    /// When the last zap happened, ms since the box started (0: none yet).
    pub last_zap_ms: u64,
    pub zaps: u64,
    /// Zaps whose first bytes reached the sink (a zap overtaken by the next one is not measured).
    pub measured: u64,
    /// Key/command → first bytes of the new channel at the sink, µs, oldest first.
    pub latencies_us: Vec<u64>,
    /// For each of `latencies_us`: 1 if the channel was pre-joined, else 0.
    pub prejoined: Vec<u8>,
    /// Thin memberships in neighbour channels.
    pub prejoin: prejoin::PrejoinStats,
    /// Zaps whose first bytes at the sink were a PAT packet (a random-access start).
    pub started_with_pat: u64,
    /// Byte offset in the sink's stream where the current channel's first byte went.
    pub sink_start: u64,
    pub directory: Vec<DirEntryStatus>,
    pub directory_size: usize,
    pub inputs: InputsStatus,
}

/// The remote inputs and the LED as `status.json` shows them (`null`: not configured).
#[derive(Serialize, Clone, Default, Debug)]
pub struct InputsStatus {
    pub remote_open: Option<bool>,
    pub remote_grabbed: Option<bool>,
    pub lircd_connected: Option<bool>,
    pub control_clients: Option<usize>,
    pub led: Option<&'static str>,
}

/// A channel by number and name.
#[derive(Serialize, Clone, Default, Debug)]
pub struct ChannelRef {
    pub number: u16,
    pub name: String,
}

/// One directory entry in `status.json`.
#[derive(Serialize, Clone, Default, Debug)]
pub struct DirEntryStatus {
    pub number: u16,
    pub name: String,
    pub description: String,
    pub bitrate_kbps: u32,
    pub root: u8,
}

/// Zapping state of a box. See the module documentation.
pub struct Zapping {
    zapper: Zapper,
    fetch: DirFetch,
    roots: Vec<SocketAddr>,
    /// The configured channel, until the directory names it.
    initial: Option<String>,
    evdev: Option<Evdev>,
    lirc: Option<Lirc>,
    control: Option<ControlServer>,
    led: Option<Led>,
    started: Instant,
    zaps: u64,
    /// A zap waiting for its first bytes at the sink.
    pending_since: Option<(Instant, bool)>,
    latencies: VecDeque<(u64, bool)>,
    started_with_pat: u64,
    measured: u64,
    sink_start: u64,
    /// The neighbours may have changed (directory update) outside a zap.
    replan: bool,
    keys: Vec<KeyInput>,
}

impl Zapping {
    /// Opens the configured inputs (failures are logged; inputs retry by themselves).
    pub fn new(
        v: &ViewerConfig,
        roots: &[SocketAddr],
        channel: &str,
        reactor: &Reactor,
        seed: u64,
        now: Instant,
    ) -> io::Result<Zapping> {
        let zc = ZapConfig {
            entry_timeout: v.zap_entry,
            ..ZapConfig::default()
        };
        let mut evdev = v
            .remote
            .clone()
            .map(|spec| Evdev::open(spec, v.remote_layout, v.keymap.clone(), v.remote_grab, now));
        if let Some(e) = evdev.as_mut() {
            e.register(reactor, TOKEN_REMOTE);
        }
        let mut lirc = v
            .lircd
            .clone()
            .map(|p| Lirc::connect(p, v.keymap.clone(), now));
        if let Some(l) = lirc.as_mut() {
            l.register(reactor, TOKEN_LIRC);
        }
        let control = match &v.control_socket {
            Some(p) => Some(ControlServer::bind(p, reactor, TOKEN_CONTROL)?),
            None => None,
        };
        let fc = FetchConfig {
            retry: Duration::from_millis(250),
            refresh: Duration::from_secs(60),
        };
        let mut led = v.led.as_deref().map(Led::new);
        if let Some(l) = led.as_mut() {
            l.set(LedState::Blink);
        }
        Ok(Zapping {
            zapper: Zapper::new(zc, Directory::new(DIRECTORY_CAPACITY)),
            fetch: DirFetch::new(fc, roots, seed, now),
            roots: roots.to_vec(),
            initial: Some(channel.to_string()),
            evdev,
            lirc,
            control,
            led,
            started: now,
            zaps: 0,
            pending_since: None,
            latencies: VecDeque::with_capacity(LATENCIES),
            started_with_pat: 0,
            measured: 0,
            sink_start: 0,
            replan: false,
            keys: Vec::with_capacity(64),
        })
    }

    /// Whether `token` is one of the inputs'.
    pub fn owns(&self, token: Token) -> bool {
        token == TOKEN_REMOTE
            || token == TOKEN_LIRC
            || self.control.as_ref().is_some_and(|c| c.owns(token))
    }

    /// An input is readable: feed what it has to the zapper.
    pub fn on_ready(&mut self, now: Instant, reactor: &Reactor, token: Token) {
        self.keys.clear();
        match token {
            TOKEN_REMOTE => {
                if let Some(e) = self.evdev.as_mut() {
                    self.keys.extend(e.on_readable(now, reactor));
                }
            }
            TOKEN_LIRC => {
                if let Some(l) = self.lirc.as_mut() {
                    self.keys.extend(l.on_readable(now, reactor));
                }
            }
            t => {
                if let Some(c) = self.control.as_mut() {
                    let z = &mut self.zapper;
                    c.on_readable(reactor, t, &mut |req| control::apply(z, now, req));
                }
            }
        }
        for &(k, v) in &self.keys {
            log::debug!("key {k:?} {v:?}");
            self.zapper.handle_key(now, k, v);
        }
    }

    /// `/control?cmd=...`: the reply line (the zap itself comes out of [`Zapping::poll_zap`]).
    pub fn http_control(&mut self, now: Instant, query: &str) -> Result<String, String> {
        match control::parse_query(query) {
            Ok(req) => Ok(control::apply(&mut self.zapper, now, &req)),
            Err(e) => Err(format!("error: {e}")),
        }
    }

    /// Takes a DIRECTORY datagram from a root; `false` if `d` is something else.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, d: &[u8]) -> bool {
        let dir = self.zapper.directory_mut();
        self.fetch.handle_datagram(now, from, d, dir)
    }

    /// The next DIR_REQ to send.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.fetch.poll_transmit(now, buf)
    }

    /// Runs the digit-entry timer and the inputs' reopen timers.
    pub fn handle_timeout(&mut self, now: Instant, reactor: &Reactor) {
        self.zapper.handle_timeout(now);
        if let Some(e) = self.evdev.as_mut() {
            e.service(now, reactor);
        }
        if let Some(l) = self.lirc.as_mut() {
            l.service(now, reactor);
        }
    }

    /// The earliest timer.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = earliest(self.zapper.poll_timeout(), self.fetch.poll_timeout());
        t = earliest(t, self.evdev.as_ref().and_then(Evdev::next_wakeup));
        earliest(t, self.lirc.as_ref().and_then(Lirc::next_wakeup))
    }

    /// The next zap to carry out, after handling directory and zapper events.
    pub fn poll_zap(&mut self, now: Instant) -> Option<ZapTarget> {
        while let Some(e) = self.fetch.poll_event() {
            match e {
                FetchEvent::Updated { root, entries } => {
                    log::info!("channel directory from root {root}: {entries} channel(s) known")
                }
                FetchEvent::Refused { root, error } => {
                    log::warn!("channel directory from root {root} refused: {error:?}")
                }
            }
            if let Some(name) = self.initial.as_deref() {
                if let Some(n) = self.zapper.directory().by_name(name).map(|e| e.number) {
                    self.zapper.set_current(now, n);
                    self.initial = None;
                }
            }
            self.replan = true;
        }
        while let Some(e) = self.zapper.poll_event() {
            match e {
                ZapEvent::ZapTo { number, reason } => {
                    let Some(target) = self.target(number) else {
                        continue;
                    };
                    log::info!("zap to {number} {} ({reason:?})", target.name);
                    self.zaps += 1;
                    self.pending_since = Some((now, false));
                    if let Some(l) = self.led.as_mut() {
                        l.set(LedState::Blink);
                    }
                    return Some(target);
                }
                ZapEvent::NoSuchChannel { number } => log::info!("no such channel {number:?}"),
                ZapEvent::Entry { value, digits } => log::debug!("entry {value} ({digits})"),
                ZapEvent::Info { current } => log::info!("on now: {current:?}"),
            }
        }
        None
    }

    /// Whether the neighbour channels may have changed since the last call (directory update).
    pub fn take_replan(&mut self) -> bool {
        std::mem::take(&mut self.replan)
    }

    /// The zap waiting for its first bytes goes to a pre-joined channel.
    pub fn mark_prejoined(&mut self) {
        if let Some(p) = self.pending_since.as_mut() {
            p.1 = true;
        }
    }

    /// The channel that was on before the current one.
    pub fn previous(&self) -> Option<u16> {
        self.zapper.previous()
    }

    /// The channels worth a thin membership now: number +1, number −1, previous (not the
    /// current one, no repeats), in that order.
    pub fn neighbours(&self) -> Vec<ZapTarget> {
        let dir = self.zapper.directory();
        let Some(cur) = self.zapper.current() else {
            return Vec::new();
        };
        let mut out: Vec<ZapTarget> = Vec::with_capacity(3);
        for n in [dir.next(cur), dir.prev(cur), self.zapper.previous()]
            .into_iter()
            .flatten()
        {
            if n == cur || out.iter().any(|t| t.number == n) {
                continue;
            }
            if let Some(t) = self.target(n) {
                out.push(t);
            }
        }
        out
    }

    fn target(&self, number: u16) -> Option<ZapTarget> {
        let e = self.zapper.directory().get(number)?;
        let root = *self.roots.get(usize::from(e.root))?;
        Some(ZapTarget {
            number,
            name: e.name.clone(),
            root,
        })
    }

    /// The new channel's bytes start at this offset of the sink's stream.
    pub fn set_sink_start(&mut self, offset: u64) {
        self.sink_start = offset;
    }

    /// The sink got the first bytes since the last zap (or start): `bytes` is what was written,
    /// `now` a fresh clock reading taken at the write (not the pass's start: a pre-joined zap
    /// completes within the pass that read the key).
    pub fn first_bytes(&mut self, now: Instant, bytes: &[u8]) {
        if let Some(l) = self.led.as_mut() {
            l.set(LedState::On);
        }
        let Some((t, prejoined)) = self.pending_since.take() else {
            return;
        };
        // A random-access chunk starts with the PAT: sync byte, PID 0, payload start.
        if bytes.len() >= 4 && bytes[0] == 0x47 && bytes[1] & 0x1F == 0 && bytes[2] == 0 {
            self.started_with_pat += 1;
        }
        if self.latencies.len() >= LATENCIES {
            self.latencies.pop_front();
        }
        let us = now.saturating_since(t).as_micros() as u64;
        self.latencies.push_back((us, prejoined));
        self.measured += 1;
        log::info!("first bytes at the sink {} ms after the zap", us / 1000);
    }

    /// The `zap` block of `status.json`.
    pub fn status(&self) -> ZapStatus {
        let dir = self.zapper.directory();
        ZapStatus {
            channel: self.zapper.current().and_then(|n| {
                dir.get(n).map(|e| ChannelRef {
                    number: n,
                    name: e.name.clone(),
                })
            }),
            last_zap_ms: self
                .zapper
                .last_zap()
                .map_or(0, |t| t.saturating_since(self.started).as_millis() as u64),
            zaps: self.zaps,
            measured: self.measured,
            latencies_us: self.latencies.iter().map(|l| l.0).collect(),
            prejoined: self.latencies.iter().map(|l| u8::from(l.1)).collect(),
            prejoin: prejoin::PrejoinStats::default(),
            started_with_pat: self.started_with_pat,
            sink_start: self.sink_start,
            directory: dir
                .entries()
                .iter()
                .take(STATUS_ENTRIES)
                .map(|e| DirEntryStatus {
                    number: e.number,
                    name: e.name.clone(),
                    description: e.description.clone(),
                    bitrate_kbps: e.bitrate_kbps,
                    root: e.root,
                })
                .collect(),
            directory_size: dir.len(),
            inputs: InputsStatus {
                remote_open: self.evdev.as_ref().map(Evdev::is_open),
                remote_grabbed: self.evdev.as_ref().map(Evdev::is_grabbed),
                lircd_connected: self.lirc.as_ref().map(Lirc::is_connected),
                control_clients: self.control.as_ref().map(ControlServer::clients),
                led: self.led.as_ref().and_then(Led::state).map(|s| match s {
                    LedState::Off => "off",
                    LedState::On => "on",
                    LedState::Blink => "blink",
                }),
            },
        }
    }

    /// The box is stopping: the LED goes dark.
    pub fn shutdown(&mut self) {
        if let Some(l) = self.led.as_mut() {
            l.set(LedState::Off);
        }
    }
}
