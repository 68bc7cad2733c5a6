//! Remote-control input: Linux `input_event` records, a keymap, and lircd lines.
//!
//! - [`Layout`]: how a kernel lays out `struct input_event` — `{ sec: c_ulong, usec: c_ulong,
//!   type: u16, code: u16, value: i32 }`, so 24 bytes where `unsigned long` is 64 bits and 16
//!   bytes where it is 32 bits (also with a 64-bit `time_t`: the kernel's 32-bit ABI switches to
//!   `__kernel_ulong_t` fields), in the CPU's byte order (MIPS boxes are often big-endian).
//!   [`Layout::native`] is the build target's. Tests and FIFO injection can use any layout.
//! - [`Keymap`]: Linux key codes → [`Key`]. The defaults cover channel up/down, both digit rows
//!   (`KEY_0..9`, `KEY_NUMERIC_0..9`), OK, last/previous and info; a config string such as
//!   `402=up,403=down,KEY_EPG=info,412=none` overrides entries.
//! - [`parse_lirc_line`]: a lircd socket line `<code hex> <repeat hex> <button> <remote>`;
//!   [`Keymap::lirc_key`] maps its button name (`KEY_OK`, `OK`, `KEY_CHANNELUP`, …) to a key.
//!
//! Invariants: parsing never panics and never allocates; a record of the wrong length is `None`;
//! the keymap holds at most [`MAX_KEYMAP`] entries (checked when overriding).

use alloc::vec::Vec;

/// `EV_KEY`: the event type of key presses, releases and autorepeats.
pub const EV_KEY: u16 = 0x01;
/// Most keymap entries (defaults plus overrides).
pub const MAX_KEYMAP: usize = 64;

/// Linux key codes (from `linux/input-event-codes.h`) the defaults use.
pub mod code {
    /// `KEY_1`; `KEY_2..KEY_9` follow, then `KEY_0` = 11.
    pub const KEY_1: u16 = 2;
    /// `KEY_0`.
    pub const KEY_0: u16 = 11;
    /// `KEY_OK`.
    pub const KEY_OK: u16 = 352;
    /// `KEY_INFO`.
    pub const KEY_INFO: u16 = 358;
    /// `KEY_CHANNELUP`.
    pub const KEY_CHANNELUP: u16 = 402;
    /// `KEY_CHANNELDOWN`.
    pub const KEY_CHANNELDOWN: u16 = 403;
    /// `KEY_LAST`.
    pub const KEY_LAST: u16 = 405;
    /// `KEY_PREVIOUS`.
    pub const KEY_PREVIOUS: u16 = 412;
    /// `KEY_NUMERIC_0`; `KEY_NUMERIC_1..9` follow.
    pub const KEY_NUMERIC_0: u16 = 512;
    /// `KEY_ENTER` (some remotes send it for OK).
    pub const KEY_ENTER: u16 = 28;
}

/// Width of the `sec`/`usec` fields.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Width {
    /// 64-bit `unsigned long`: 24-byte records (x86_64, aarch64, mips64).
    W64,
    /// 32-bit `unsigned long`: 16-byte records (armhf, mips, i686), whatever `time_t` is.
    W32,
}

/// Byte order of every field.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Endian {
    /// Little-endian (x86, ARM, mipsel).
    Little,
    /// Big-endian (mips, some PowerPC boxes).
    Big,
}

/// A `struct input_event` layout.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Field width.
    pub width: Width,
    /// Byte order.
    pub endian: Endian,
}

/// One decoded `input_event`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct InputEvent {
    /// Seconds of the kernel's timestamp.
    pub sec: u64,
    /// Microseconds of the kernel's timestamp.
    pub usec: u64,
    /// Event type (`EV_KEY`, `EV_SYN`, `EV_MSC`, …).
    pub kind: u16,
    /// Event code (a key code for `EV_KEY`).
    pub code: u16,
    /// Event value (for keys: 0 release, 1 press, 2 autorepeat).
    pub value: i32,
}

/// What happened to a key.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum KeyValue {
    /// Let go.
    Release,
    /// Pressed.
    Press,
    /// Held: the kernel's (or lircd's) autorepeat.
    Repeat,
}

/// What a remote key means to the zapper.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Key {
    /// A digit 0–9.
    Digit(u8),
    /// Confirm the digits entered.
    Ok,
    /// Next channel.
    Up,
    /// Previous channel in number order.
    Down,
    /// Back to the channel watched before.
    Previous,
    /// Show what is on.
    Info,
}

/// Why a layout, keymap or lircd line was refused.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum InputError {
    /// Layout not one of `native`, `64le`, `64be`, `32le`, `32be`.
    Layout,
    /// A keymap entry is not `CODE=KEY` (CODE a number or `KEY_*` name, KEY a key name).
    KeymapEntry,
    /// More than [`MAX_KEYMAP`] entries.
    KeymapFull,
    /// A lircd line lacks a field or has a bad hex number.
    LircLine,
}

impl Layout {
    /// The layout of the target this is built for.
    pub const fn native() -> Layout {
        Layout {
            width: if cfg!(target_pointer_width = "64") {
                Width::W64
            } else {
                Width::W32
            },
            endian: if cfg!(target_endian = "big") {
                Endian::Big
            } else {
                Endian::Little
            },
        }
    }

    /// Parses `native`, `64le`, `64be`, `32le` or `32be`.
    pub fn from_name(s: &str) -> Result<Layout, InputError> {
        let (width, endian) = match s {
            "native" => return Ok(Layout::native()),
            "64le" => (Width::W64, Endian::Little),
            "64be" => (Width::W64, Endian::Big),
            "32le" => (Width::W32, Endian::Little),
            "32be" => (Width::W32, Endian::Big),
            _ => return Err(InputError::Layout),
        };
        Ok(Layout { width, endian })
    }

    /// Bytes per record: 24 or 16.
    pub const fn record_len(self) -> usize {
        match self.width {
            Width::W64 => 24,
            Width::W32 => 16,
        }
    }

    /// Decodes one record; `None` unless `rec` is exactly [`Layout::record_len`] bytes.
    pub fn parse(self, rec: &[u8]) -> Option<InputEvent> {
        if rec.len() != self.record_len() {
            return None;
        }
        let w = match self.width {
            Width::W64 => 8,
            Width::W32 => 4,
        };
        let (time, rest) = rec.split_at(2 * w);
        Some(InputEvent {
            sec: self.uint(&time[..w]),
            usec: self.uint(&time[w..]),
            kind: self.uint(&rest[0..2]) as u16,
            code: self.uint(&rest[2..4]) as u16,
            value: self.uint(&rest[4..8]) as u32 as i32,
        })
    }

    /// Encodes `ev` into `out` (for tests and key injection); `None` if `out` is too short.
    /// Timestamps are truncated to the field width.
    pub fn emit(self, ev: &InputEvent, out: &mut [u8]) -> Option<usize> {
        let len = self.record_len();
        let out = out.get_mut(..len)?;
        let w = len / 2 - 4;
        self.put(&mut out[..w], ev.sec);
        self.put(&mut out[w..2 * w], ev.usec);
        self.put(&mut out[2 * w..2 * w + 2], u64::from(ev.kind));
        self.put(&mut out[2 * w + 2..2 * w + 4], u64::from(ev.code));
        self.put(&mut out[2 * w + 4..], u64::from(ev.value as u32));
        Some(len)
    }

    fn uint(self, b: &[u8]) -> u64 {
        let fold = |acc: u64, x: &u8| (acc << 8) | u64::from(*x);
        match self.endian {
            Endian::Big => b.iter().fold(0, fold),
            Endian::Little => b.iter().rev().fold(0, fold),
        }
    }

    fn put(self, out: &mut [u8], v: u64) {
        let n = out.len();
        for (i, b) in out.iter_mut().enumerate() {
            let shift = match self.endian {
                Endian::Big => 8 * (n - 1 - i),
                Endian::Little => 8 * i,
            };
            *b = (v >> shift) as u8;
        }
    }
}

impl KeyValue {
    /// The `EV_KEY` value: 0 release, 1 press, 2 repeat; anything else is `None`.
    pub fn from_value(v: i32) -> Option<KeyValue> {
        match v {
            0 => Some(KeyValue::Release),
            1 => Some(KeyValue::Press),
            2 => Some(KeyValue::Repeat),
            _ => None,
        }
    }
}

/// Key names used in keymap strings: `0`..`9`, `ok`, `up`, `down`, `prev`, `info`.
fn key_by_name(s: &str) -> Option<Key> {
    Some(match s {
        "ok" => Key::Ok,
        "up" => Key::Up,
        "down" => Key::Down,
        "prev" | "previous" | "last" => Key::Previous,
        "info" => Key::Info,
        d if d.len() == 1 && d.as_bytes()[0].is_ascii_digit() => Key::Digit(d.as_bytes()[0] - b'0'),
        _ => return None,
    })
}

/// Linux key codes by name, for keymap strings and lircd buttons (`KEY_` prefix optional).
const CODE_NAMES: &[(&str, u16)] = &[
    ("OK", code::KEY_OK),
    ("ENTER", code::KEY_ENTER),
    ("INFO", code::KEY_INFO),
    ("EPG", 365),
    ("CHANNELUP", code::KEY_CHANNELUP),
    ("CHANNELDOWN", code::KEY_CHANNELDOWN),
    ("LAST", code::KEY_LAST),
    ("PREVIOUS", code::KEY_PREVIOUS),
    ("UP", 103),
    ("DOWN", 108),
    ("PAGEUP", 104),
    ("PAGEDOWN", 109),
    ("BACK", 158),
    ("EXIT", 174),
];

/// The Linux key code for a name such as `KEY_OK`, `OK`, `KEY_7`, `KEY_NUMERIC_7` or `402`.
pub fn code_by_name(name: &str) -> Option<u16> {
    if let Ok(n) = name.parse::<u16>() {
        return Some(n);
    }
    let n = name.strip_prefix("KEY_").unwrap_or(name);
    let digit = |s: &str| match s.as_bytes() {
        [d @ b'0'..=b'9'] => Some(d - b'0'),
        _ => None,
    };
    if let Some(d) = n.strip_prefix("NUMERIC_").and_then(digit) {
        return Some(code::KEY_NUMERIC_0 + u16::from(d));
    }
    if let Some(d) = digit(n) {
        return Some(if d == 0 {
            code::KEY_0
        } else {
            u16::from(d) + 1
        });
    }
    CODE_NAMES.iter().find(|(k, _)| *k == n).map(|(_, c)| *c)
}

/// Linux key codes → [`Key`]. See the module documentation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keymap {
    entries: Vec<(u16, Key)>,
}

impl Default for Keymap {
    /// Channel up/down, `KEY_0..9`, `KEY_NUMERIC_0..9`, OK and ENTER, LAST and PREVIOUS, INFO.
    fn default() -> Self {
        let mut entries = Vec::with_capacity(MAX_KEYMAP);
        for d in 0..10u8 {
            let top = if d == 0 {
                code::KEY_0
            } else {
                u16::from(d) + 1
            };
            entries.push((top, Key::Digit(d)));
            entries.push((code::KEY_NUMERIC_0 + u16::from(d), Key::Digit(d)));
        }
        entries.extend_from_slice(&[
            (code::KEY_OK, Key::Ok),
            (code::KEY_ENTER, Key::Ok),
            (code::KEY_CHANNELUP, Key::Up),
            (code::KEY_CHANNELDOWN, Key::Down),
            (code::KEY_LAST, Key::Previous),
            (code::KEY_PREVIOUS, Key::Previous),
            (code::KEY_INFO, Key::Info),
        ]);
        Keymap { entries }
    }
}

impl Keymap {
    /// The defaults with `spec` applied: comma-separated `CODE=KEY`, where CODE is a number or a
    /// `KEY_*` name and KEY is `0`..`9`, `ok`, `up`, `down`, `prev`, `info` or `none` (unmap).
    pub fn with_overrides(spec: &str) -> Result<Keymap, InputError> {
        let mut map = Keymap::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (c, k) = part.split_once('=').ok_or(InputError::KeymapEntry)?;
            let c = code_by_name(c.trim()).ok_or(InputError::KeymapEntry)?;
            map.entries.retain(|(x, _)| *x != c);
            match k.trim() {
                "none" => {}
                k => {
                    let key = key_by_name(k).ok_or(InputError::KeymapEntry)?;
                    if map.entries.len() >= MAX_KEYMAP {
                        return Err(InputError::KeymapFull);
                    }
                    map.entries.push((c, key));
                }
            }
        }
        Ok(map)
    }

    /// The key a Linux key code stands for.
    pub fn key(&self, code: u16) -> Option<Key> {
        self.entries
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, k)| *k)
    }

    /// The key and value of an `EV_KEY` event; `None` for other events, unmapped keys and
    /// values other than 0/1/2.
    pub fn event(&self, ev: &InputEvent) -> Option<(Key, KeyValue)> {
        if ev.kind != EV_KEY {
            return None;
        }
        Some((self.key(ev.code)?, KeyValue::from_value(ev.value)?))
    }

    /// The key of a lircd button name (through its Linux key code, so overrides apply). A bare
    /// digit names that digit's key (`7` is `KEY_7`), not key code 7.
    pub fn lirc_key(&self, button: &str) -> Option<Key> {
        let code = match button.as_bytes() {
            [b'0'] => code::KEY_0,
            [d @ b'1'..=b'9'] => u16::from(d - b'0') + 1,
            _ => code_by_name(button)?,
        };
        self.key(code)
    }
}

/// One lircd socket line.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct LircLine<'a> {
    /// The remote's scan code.
    pub code: u64,
    /// Repeat counter: 0 for a new press, then 1, 2, … while held.
    pub repeat: u32,
    /// Button name from lircd.conf (often a `KEY_*` name).
    pub button: &'a str,
    /// Remote name from lircd.conf.
    pub remote: &'a str,
}

impl LircLine<'_> {
    /// [`KeyValue::Press`] for repeat 0, else [`KeyValue::Repeat`] (lircd reports no releases).
    pub fn value(&self) -> KeyValue {
        if self.repeat == 0 {
            KeyValue::Press
        } else {
            KeyValue::Repeat
        }
    }
}

/// Parses `<code hex> <repeat hex> <button> <remote>` (trailing CR/LF allowed).
pub fn parse_lirc_line(line: &str) -> Result<LircLine<'_>, InputError> {
    let mut f = line.split_ascii_whitespace();
    let mut next = || f.next().ok_or(InputError::LircLine);
    let code = u64::from_str_radix(next()?, 16).map_err(|_| InputError::LircLine)?;
    let repeat = u32::from_str_radix(next()?, 16).map_err(|_| InputError::LircLine)?;
    let button = next()?;
    let remote = next()?;
    Ok(LircLine {
        code,
        repeat,
        button,
        remote,
    })
}

#[cfg(test)]
mod tests;
