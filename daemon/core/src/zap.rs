//! Zapping: the channel [`Directory`] and the [`Zapper`], the state machine behind the remote.
//!
//! The zapper turns keys ([`Key`] with press/repeat/release) and control commands ([`Command`])
//! into [`ZapEvent`]s. It decides *which* channel; the box's peer joins and leaves.
//!
//! Driving contract (as every state machine in this crate):
//! 1. feed input: [`Zapper::handle_key`], [`Zapper::handle_command`], [`Zapper::handle_timeout`];
//! 2. drain [`Zapper::poll_event`] until `None`;
//! 3. wake up at [`Zapper::poll_timeout`] (the digit-entry deadline) at the latest.
//!
//! ```
//! use tvmesh_core::input::{Key, KeyValue};
//! use tvmesh_core::time::Instant;
//! use tvmesh_core::zap::{Directory, Entry, ZapConfig, ZapEvent, Zapper, ZapReason};
//! let mut dir = Directory::new(16);
//! for (n, name) in [(1, "news"), (12, "film")] {
//!     let e = Entry { number: n, name: name.into(), description: "".into(), bitrate_kbps: 0, root: 0 };
//!     dir.insert(e).unwrap();
//! }
//! let mut z = Zapper::new(ZapConfig::default(), dir);
//! let t = Instant::from_millis(1000);
//! z.handle_key(t, Key::Digit(1), KeyValue::Press);
//! z.handle_key(t, Key::Digit(2), KeyValue::Press);
//! while z.poll_event().is_some() {} // Entry { .. } twice
//! let deadline = z.poll_timeout().unwrap(); // entry timeout
//! z.handle_timeout(deadline);
//! assert_eq!(z.poll_event(), Some(ZapEvent::ZapTo { number: 12, reason: ZapReason::Digits }));
//! ```
//!
//! Behaviour:
//! - Digits collect into a number (at most [`ZapConfig::max_digits`]); each one re-arms the entry
//!   timeout. The number is committed when the timeout passes, on OK, or at once when the last
//!   possible digit was entered. A number not in the directory gives [`ZapEvent::NoSuchChannel`].
//!   Digit autorepeats are ignored (a held key must not type `1111`).
//! - Up/down step in number order through the directory and wrap; a held key steps again at most
//!   once per [`ZapConfig::repeat_interval`]. They cancel a digit entry.
//! - Previous toggles between the current and the last channel watched.
//! - Zapping to the channel already on does nothing (no event).
//!
//! Invariants: at most [`MAX_EVENTS`] events wait (the oldest is dropped beyond); the zapper
//! never panics on any key, command or time order (time going back only delays the entry commit).

mod directory;
pub mod fetch;
pub mod publish;
#[cfg(test)]
mod tests;

pub use directory::{DirError, Directory, Entry, MAX_DESCRIPTION, MAX_NUMBER, VERSION};

use crate::input::{Key, KeyValue};
use crate::time::Instant;
use alloc::collections::VecDeque;
use core::time::Duration;

/// Most events waiting to be polled.
pub const MAX_EVENTS: usize = 16;

/// Zapper settings.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ZapConfig {
    /// How long after the last digit the entry is committed (config `zap_entry_ms`, default 2 s).
    pub entry_timeout: Duration,
    /// Digits that make a full number (4: numbers up to [`MAX_NUMBER`]).
    pub max_digits: u8,
    /// Shortest time between two steps of a held up/down key (default 250 ms).
    pub repeat_interval: Duration,
}

impl Default for ZapConfig {
    fn default() -> Self {
        ZapConfig {
            entry_timeout: Duration::from_secs(2),
            max_digits: 4,
            repeat_interval: Duration::from_millis(250),
        }
    }
}

/// A zap request from the control interface (Unix socket, HTTP).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// Zap to this number.
    Number(u16),
    /// Zap to the channel with this name (ASCII case-insensitive).
    Name(&'a str),
    /// Next channel.
    Up,
    /// Previous channel in number order.
    Down,
    /// Back to the last channel.
    Previous,
}

/// Why a zap happened.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ZapReason {
    /// Digits entered on the remote.
    Digits,
    /// Channel up.
    Up,
    /// Channel down.
    Down,
    /// Previous-channel toggle.
    Previous,
    /// A control command by number or name.
    Command,
}

/// What the zapper wants shown or done.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ZapEvent {
    /// Switch to this channel.
    ZapTo {
        /// Channel number (look it up in [`Zapper::directory`]).
        number: u16,
        /// What caused it.
        reason: ZapReason,
    },
    /// Digits typed so far (for an on-screen or front-panel display).
    Entry {
        /// The number they make.
        value: u16,
        /// How many digits were typed (leading zeros count).
        digits: u8,
    },
    /// The number (or, `None`, the name) asked for is not in the directory.
    NoSuchChannel {
        /// The number asked for; `None` for a name.
        number: Option<u16>,
    },
    /// The info key: show what is on.
    Info {
        /// The current channel, if any.
        current: Option<u16>,
    },
}

/// Digits being typed.
#[derive(Copy, Clone, Debug)]
struct Entering {
    value: u16,
    digits: u8,
    deadline: Instant,
}

/// The remote's state machine. See the module documentation.
#[derive(Debug)]
pub struct Zapper {
    cfg: ZapConfig,
    dir: Directory,
    current: Option<u16>,
    previous: Option<u16>,
    last_zap: Option<Instant>,
    entering: Option<Entering>,
    last_step: Option<Instant>,
    events: VecDeque<ZapEvent>,
    dropped_events: u64,
}

impl Zapper {
    /// A zapper over `dir`, nothing on yet.
    pub fn new(cfg: ZapConfig, dir: Directory) -> Zapper {
        Zapper {
            cfg: ZapConfig {
                max_digits: cfg.max_digits.clamp(1, 4),
                ..cfg
            },
            dir,
            current: None,
            previous: None,
            last_zap: None,
            entering: None,
            last_step: None,
            events: VecDeque::with_capacity(MAX_EVENTS),
            dropped_events: 0,
        }
    }

    /// The channel directory.
    pub fn directory(&self) -> &Directory {
        &self.dir
    }

    /// The channel directory, to apply a root's DIRECTORY message.
    pub fn directory_mut(&mut self) -> &mut Directory {
        &mut self.dir
    }

    /// The channel on now.
    pub fn current(&self) -> Option<u16> {
        self.current
    }

    /// The channel that was on before (what previous goes back to).
    pub fn previous(&self) -> Option<u16> {
        self.previous
    }

    /// When the last zap happened.
    pub fn last_zap(&self) -> Option<Instant> {
        self.last_zap
    }

    /// Digits typed and not committed yet: (value, digit count).
    pub fn entry(&self) -> Option<(u16, u8)> {
        self.entering.map(|e| (e.value, e.digits))
    }

    /// Events dropped because nobody polled them.
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events
    }

    /// Sets the channel on at start-up (the configured channel), without an event.
    pub fn set_current(&mut self, now: Instant, number: u16) {
        self.current = Some(number);
        self.last_zap = Some(now);
    }

    /// A key from the remote.
    pub fn handle_key(&mut self, now: Instant, key: Key, value: KeyValue) {
        match (key, value) {
            (_, KeyValue::Release) => {}
            (Key::Up | Key::Down, KeyValue::Repeat)
                if self
                    .last_step
                    .is_some_and(|t| now.saturating_since(t) < self.cfg.repeat_interval) => {}
            (Key::Up, _) => self.step(now, true),
            (Key::Down, _) => self.step(now, false),
            (_, KeyValue::Repeat) => {}
            (Key::Digit(d), KeyValue::Press) => self.digit(now, d),
            (Key::Ok, KeyValue::Press) => self.commit(now),
            (Key::Previous, KeyValue::Press) => self.toggle(now),
            (Key::Info, KeyValue::Press) => self.push(ZapEvent::Info {
                current: self.current,
            }),
        }
    }

    /// A command from the control interface. Cancels any digit entry.
    pub fn handle_command(&mut self, now: Instant, cmd: Command<'_>) {
        self.entering = None;
        match cmd {
            Command::Number(n) => self.zap_or_miss(now, n, ZapReason::Command),
            Command::Name(name) => match self.dir.by_name(name).map(|e| e.number) {
                Some(n) => self.zap(now, n, ZapReason::Command),
                None => self.push(ZapEvent::NoSuchChannel { number: None }),
            },
            Command::Up => self.step(now, true),
            Command::Down => self.step(now, false),
            Command::Previous => self.toggle(now),
        }
    }

    /// Commits a digit entry whose timeout has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.entering.is_some_and(|e| now >= e.deadline) {
            self.commit(now);
        }
    }

    /// The digit-entry deadline, if digits are being typed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.entering.map(|e| e.deadline)
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<ZapEvent> {
        self.events.pop_front()
    }

    fn push(&mut self, ev: ZapEvent) {
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
            self.dropped_events += 1;
        }
        self.events.push_back(ev);
    }

    fn digit(&mut self, now: Instant, d: u8) {
        let d = u16::from(d.min(9));
        let e = self.entering.get_or_insert(Entering {
            value: 0,
            digits: 0,
            deadline: now,
        });
        e.value = e.value * 10 + d;
        e.digits += 1;
        e.deadline = now + self.cfg.entry_timeout;
        let (value, digits) = (e.value, e.digits);
        self.push(ZapEvent::Entry { value, digits });
        if digits >= self.cfg.max_digits {
            self.commit(now);
        }
    }

    fn commit(&mut self, now: Instant) {
        if let Some(e) = self.entering.take() {
            self.zap_or_miss(now, e.value, ZapReason::Digits);
        }
    }

    fn zap_or_miss(&mut self, now: Instant, n: u16, reason: ZapReason) {
        if self.dir.get(n).is_some() {
            self.zap(now, n, reason);
        } else {
            self.push(ZapEvent::NoSuchChannel { number: Some(n) });
        }
    }

    fn step(&mut self, now: Instant, up: bool) {
        self.entering = None;
        self.last_step = Some(now);
        let target = match (self.current, up) {
            (Some(c), true) => self.dir.next(c),
            (Some(c), false) => self.dir.prev(c),
            (None, true) => self.dir.entries().first().map(|e| e.number),
            (None, false) => self.dir.entries().last().map(|e| e.number),
        };
        let reason = if up { ZapReason::Up } else { ZapReason::Down };
        if let Some(n) = target {
            self.zap(now, n, reason);
        }
    }

    fn toggle(&mut self, now: Instant) {
        self.entering = None;
        if let Some(p) = self.previous.filter(|p| self.dir.get(*p).is_some()) {
            self.zap(now, p, ZapReason::Previous);
        }
    }

    fn zap(&mut self, now: Instant, number: u16, reason: ZapReason) {
        if self.current == Some(number) {
            return;
        }
        self.previous = self.current;
        self.current = Some(number);
        self.last_zap = Some(now);
        self.push(ZapEvent::ZapTo { number, reason });
    }
}
