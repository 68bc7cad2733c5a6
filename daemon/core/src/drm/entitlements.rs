//! The operator's entitlements file: which device may watch which channels, from when until when.
//!
//! One device per line; blank lines and everything after `#` are ignored:
//!
//! ```text
//! # id        secret (64 hex digits)                                       channels   window
//! device stb-0001 secret=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff channels=demo,news from=2026-01-01 until=2027-01-01
//! device stb-0002 secret=... channels=* until=1798761600
//! ```
//!
//! - `device <id>`: the device id, 1..=[`DEVICE_ID_MAX`] bytes without spaces, unique in the file;
//! - `secret=`: the device secret provisioned in its board profile, 32 bytes in hex (required);
//! - `channels=`: comma-separated channel names, or `*` for every channel (required);
//! - `from=` / `until=`: `YYYY-MM-DD` (00:00 UTC that day) or unix seconds. The entitlement holds
//!   for `from ≤ now < until`. `from` defaults to 0, `until` to never.
//!
//! Invariants: parsing never panics; every error names the line, the field and the value
//! ([`EntitlementsError`]'s `Display`, e.g. `line 3: field secret: "abc": expected 64 hex digits`);
//! at most `capacity` devices are accepted, so a runaway file cannot exhaust a root's memory. The
//! parsed table is built once per load (the root reloads on SIGHUP) and then only read.

use super::Key;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

/// Longest device id, in bytes.
pub const DEVICE_ID_MAX: usize = 32;
/// Longest value quoted back in an error message.
const QUOTE_MAX: usize = 48;

/// What a device may watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Channels {
    /// Every channel (`channels=*`).
    All,
    /// These channels.
    Only(Vec<String>),
}

/// One device's entitlement.
#[derive(Clone, PartialEq, Eq)]
pub struct Device {
    /// Device id.
    pub id: String,
    /// Device secret shared with the box.
    pub secret: Key,
    /// Channels it may watch.
    pub channels: Channels,
    /// Unix seconds from which it may watch.
    pub from: u64,
    /// Unix seconds from which it may no longer watch.
    pub until: u64,
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret.
        f.debug_struct("Device")
            .field("id", &self.id)
            .field("channels", &self.channels)
            .field("from", &self.from)
            .field("until", &self.until)
            .finish_non_exhaustive()
    }
}

/// Whether a device may watch a channel now.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Entitled {
    /// Yes.
    Yes,
    /// The channel is not in the device's list.
    NotEntitled,
    /// The entitlement starts later.
    NotYetValid,
    /// The entitlement has ended.
    Expired,
}

impl Device {
    /// Whether this device may watch `channel` at `now_unix`.
    pub fn check(&self, channel: &str, now_unix: u64) -> Entitled {
        let listed = match &self.channels {
            Channels::All => true,
            Channels::Only(list) => list.iter().any(|c| c == channel),
        };
        if !listed {
            Entitled::NotEntitled
        } else if now_unix < self.from {
            Entitled::NotYetValid
        } else if now_unix >= self.until {
            Entitled::Expired
        } else {
            Entitled::Yes
        }
    }
}

/// What is wrong with a line.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The line does not start with `device`.
    UnknownKeyword,
    /// A `key=value` field this version does not know.
    UnknownField,
    /// A required field is missing.
    Missing,
    /// The id is empty, too long, or already used.
    BadId,
    /// Not 64 hex digits.
    BadSecret,
    /// An empty channel name in the list.
    BadChannels,
    /// Not `YYYY-MM-DD` nor unix seconds.
    BadDate,
    /// `from` is not before `until`.
    EmptyWindow,
    /// More devices than the capacity.
    TooMany,
}

/// A bad line in the entitlements file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntitlementsError {
    /// Line number, from 1.
    pub line: usize,
    /// The field at fault (`device`, `secret`, `channels`, `from`, `until`, or the unknown word).
    pub field: String,
    /// The value at fault, truncated to 48 bytes.
    pub value: String,
    /// What is wrong.
    pub problem: Problem,
}

impl fmt::Display for EntitlementsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match self.problem {
            Problem::UnknownKeyword => "expected a line starting with `device`",
            Problem::UnknownField => "unknown field (known: secret, channels, from, until)",
            Problem::Missing => "required field missing",
            Problem::BadId => "device id must be 1 to 32 bytes and unique in the file",
            Problem::BadSecret => "expected 64 hex digits",
            Problem::BadChannels => "expected comma-separated channel names or *",
            Problem::BadDate => "expected YYYY-MM-DD or unix seconds",
            Problem::EmptyWindow => "from must be before until",
            Problem::TooMany => "more devices than the root's capacity",
        };
        write!(
            f,
            "line {}: field {}: {:?}: {}",
            self.line, self.field, self.value, why
        )
    }
}

fn err(line: usize, field: &str, value: &str, problem: Problem) -> EntitlementsError {
    let mut end = value.len().min(QUOTE_MAX);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    EntitlementsError {
        line,
        field: field.to_string(),
        value: value[..end].to_string(),
        problem,
    }
}

/// The parsed entitlements file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Entitlements {
    devices: Vec<Device>,
}

impl Entitlements {
    /// Parses the file's text, accepting at most `capacity` devices.
    pub fn parse(text: &str, capacity: usize) -> Result<Self, EntitlementsError> {
        let mut devices: Vec<Device> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let content = raw.split('#').next().unwrap_or(""); // split yields at least one item
            let mut words = content.split_whitespace();
            let Some(first) = words.next() else {
                continue;
            };
            if first != "device" {
                return Err(err(line, first, first, Problem::UnknownKeyword));
            }
            let id = words.next().unwrap_or("");
            if id.is_empty()
                || id.len() > DEVICE_ID_MAX
                || id.contains('=')
                || devices.iter().any(|d| d.id == id)
            {
                return Err(err(line, "device", id, Problem::BadId));
            }
            if devices.len() >= capacity {
                return Err(err(line, "device", id, Problem::TooMany));
            }
            devices.push(parse_fields(line, id, words)?);
        }
        Ok(Entitlements { devices })
    }

    /// The device with id `id`.
    pub fn device(&self, id: &[u8]) -> Option<&Device> {
        self.devices.iter().find(|d| d.id.as_bytes() == id)
    }

    /// Devices in the file.
    pub fn len(&self) -> usize {
        self.devices.len()
    }

    /// Whether the file names no device.
    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }
}

fn parse_fields<'a>(
    line: usize,
    id: &str,
    words: impl Iterator<Item = &'a str>,
) -> Result<Device, EntitlementsError> {
    let (mut secret, mut channels) = (None, None);
    let (mut from, mut until) = (0, u64::MAX);
    for w in words {
        let (k, v) = w.split_once('=').unwrap_or((w, ""));
        match k {
            "secret" => {
                secret = Some(parse_hex32(v).ok_or_else(|| err(line, k, v, Problem::BadSecret))?)
            }
            "channels" => {
                channels =
                    Some(parse_channels(v).ok_or_else(|| err(line, k, v, Problem::BadChannels))?)
            }
            "from" => from = parse_date(v).ok_or_else(|| err(line, k, v, Problem::BadDate))?,
            "until" => until = parse_date(v).ok_or_else(|| err(line, k, v, Problem::BadDate))?,
            _ => return Err(err(line, k, v, Problem::UnknownField)),
        }
    }
    let secret = secret.ok_or_else(|| err(line, "secret", "", Problem::Missing))?;
    let channels = channels.ok_or_else(|| err(line, "channels", "", Problem::Missing))?;
    if from >= until {
        return Err(err(line, "until", &until.to_string(), Problem::EmptyWindow));
    }
    Ok(Device {
        id: id.to_string(),
        secret,
        channels,
        from,
        until,
    })
}

fn parse_channels(v: &str) -> Option<Channels> {
    if v == "*" {
        return Some(Channels::All);
    }
    let list: Vec<String> = v.split(',').map(str::to_string).collect();
    if list.iter().any(|c| c.is_empty() || c == "*") {
        return None;
    }
    Some(Channels::Only(list))
}

/// 64 hex digits → 32 bytes.
pub fn parse_hex32(v: &str) -> Option<Key> {
    let b = v.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
        let hi = char::from(pair[0]).to_digit(16)?;
        let lo = char::from(pair[1]).to_digit(16)?;
        *o = (hi * 16 + lo) as u8; // < 256
    }
    Some(out)
}

/// `YYYY-MM-DD` (midnight UTC) or decimal unix seconds.
pub fn parse_date(v: &str) -> Option<u64> {
    if !v.is_empty() && v.bytes().all(|c| c.is_ascii_digit()) {
        return v.parse().ok();
    }
    let mut parts = v.splitn(3, '-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let num = |s: &str| -> Option<i64> {
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (y, m, d) = (num(y)?, num(m)?, num(d)?);
    if y < 1970 || !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    u64::try_from(days_from_civil(y, m, d) * 86_400).ok()
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the proleptic Gregorian date `y-m-d` (H. Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests;
