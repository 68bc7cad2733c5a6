//! The packager's key file: one channel's keys with ids and validity in *stream* time.
//!
//! Text, one item per line, `#` comments:
//!
//! ```text
//! tvmesh-keys 1
//! channel demo
//! rotate_s 10
//! key 1 0 10 <64 hex digits>
//! key 2 10 20 <64 hex digits>
//! ```
//!
//! `key ID FROM UNTIL HEX`: key `ID` (1..=255) scrambles the chunks whose stream time (ms from the
//! first packet, [`super::package`]) lies in `[FROM, UNTIL)` seconds. The packager adds a key per
//! `rotate_s` period as the stream reaches it (ids `1 + period % 255`, as [`super::keys`]); a key
//! file given again is reused, so re-packaging gives the same bytes. The root, given the same file,
//! serves each key to entitled boxes while chunks under it are on air, mapping stream time to its
//! wall clock (`root/packaged.rs`).
//!
//! Invariants (checked by [`KeyFile::parse`] and kept by [`KeyFile::ensure`]): keys are in
//! stream-time order, `from < until`, no two overlap, neighbours have different ids, and there are
//! at most [`KEYS_MAX`]. Parsing never panics; an error names the line. Key material is never
//! printed (`Debug` omits it); the file itself is secret (the shell writes it 0600).

use super::Key;
use crate::drm::keys::KeySchedule;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

/// Most keys a file may hold (48 bytes each in memory: 11 days at a 10 s period).
pub const KEYS_MAX: usize = 100_000;
/// The format version this module reads and writes.
pub const KEYFILE_VERSION: u32 = 1;

/// One key and the stream seconds it covers.
#[derive(Copy, Clone, PartialEq, Eq)]
pub struct PackagedKey {
    /// Key id, 1..=255.
    pub id: u8,
    /// The key.
    pub key: Key,
    /// First stream second covered.
    pub from_s: u64,
    /// First stream second no longer covered.
    pub until_s: u64,
}

impl core::fmt::Debug for PackagedKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print key material.
        f.debug_struct("PackagedKey")
            .field("id", &self.id)
            .field("from_s", &self.from_s)
            .field("until_s", &self.until_s)
            .finish_non_exhaustive()
    }
}

/// What is wrong with a key file (or a request to it).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum KeyFileErrorKind {
    /// The first item is not `tvmesh-keys 1`.
    Version,
    /// A line that is not one of the items, or with the wrong number of fields.
    Syntax,
    /// `channel` missing, repeated or longer than 64 bytes.
    Channel,
    /// `rotate_s` missing, repeated or not 1..=86400.
    Rotate,
    /// Key id not 1..=255, or the same as the previous key's.
    KeyId,
    /// Key not 64 hex digits.
    Hex,
    /// Times not numbers, `from >= until`, or overlapping / out of order.
    Times,
    /// More than [`KEYS_MAX`] keys.
    TooMany,
    /// No key covers a stream second that needs one (a gap in a file given to the packager).
    Uncovered,
}

/// A key-file error: the line (1-based; 0 when not about a line) and what is wrong.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct KeyFileError {
    /// Line number, 1-based (0: the file as a whole).
    pub line: usize,
    /// What is wrong.
    pub kind: KeyFileErrorKind,
}

impl core::fmt::Display for KeyFileError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        use KeyFileErrorKind as K;
        if self.line > 0 {
            write!(f, "line {}: ", self.line)?;
        }
        f.write_str(match self.kind {
            K::Version => "expected `tvmesh-keys 1` first",
            K::Syntax => "expected `channel NAME`, `rotate_s N` or `key ID FROM UNTIL HEX64`",
            K::Channel => "expected one `channel NAME` (1-64 bytes)",
            K::Rotate => "expected one `rotate_s N` (1-86400)",
            K::KeyId => "key id must be 1-255 and differ from the previous key's",
            K::Hex => "key must be 64 hex digits",
            K::Times => "key times must be FROM < UNTIL, in order, not overlapping",
            K::TooMany => "too many keys",
            K::Uncovered => "no key covers this stream time",
        })
    }
}

fn fail(line: usize, kind: KeyFileErrorKind) -> KeyFileError {
    KeyFileError { line, kind }
}

/// A channel's packaged keys. See the module docs.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct KeyFile {
    /// Channel name.
    pub channel: String,
    /// Key period, seconds (for keys the packager adds).
    pub rotate_s: u32,
    keys: Vec<PackagedKey>,
}

impl KeyFile {
    /// An empty key file.
    pub fn new(channel: &str, rotate_s: u32) -> Result<KeyFile, KeyFileError> {
        if channel.is_empty() || channel.len() > super::package::NAME_MAX {
            return Err(fail(0, KeyFileErrorKind::Channel));
        }
        if !(1..=86_400).contains(&rotate_s) {
            return Err(fail(0, KeyFileErrorKind::Rotate));
        }
        Ok(KeyFile {
            channel: channel.into(),
            rotate_s,
            keys: Vec::new(),
        })
    }

    /// The keys, in stream-time order.
    pub fn keys(&self) -> &[PackagedKey] {
        &self.keys
    }

    /// Index of the key covering stream second `s`.
    pub fn index_at(&self, s: u64) -> Option<usize> {
        let i = self.keys.partition_point(|k| k.until_s <= s);
        self.keys.get(i).filter(|k| k.from_s <= s).map(|_| i)
    }

    /// The key covering stream second `s`, adding keys derived from `seed` (a ChaCha20 DRBG, as
    /// [`KeySchedule`]) for every period from the last key up to `s` when `s` lies past the end.
    pub fn ensure(&mut self, s: u64, seed: &Key) -> Result<&PackagedKey, KeyFileError> {
        if self.index_at(s).is_none() {
            let rotate = u64::from(self.rotate_s);
            let mut from = self.keys.last().map_or(0, |k| k.until_s);
            if s < from {
                return Err(fail(0, KeyFileErrorKind::Uncovered));
            }
            while from <= s {
                if self.keys.len() >= KEYS_MAX {
                    return Err(fail(0, KeyFileErrorKind::TooMany));
                }
                let period = from / rotate;
                let until = period
                    .saturating_add(1)
                    .saturating_mul(rotate)
                    .max(from + 1);
                // rotate_s ≥ 1, checked by new/parse.
                let sched = KeySchedule::new(*seed, self.rotate_s, period.saturating_mul(rotate))
                    .map_err(|_| fail(0, KeyFileErrorKind::Rotate))?;
                let mut id = sched.current().id;
                if self.keys.last().is_some_and(|k| k.id == id) {
                    id = id % 255 + 1;
                }
                self.keys.push(PackagedKey {
                    id,
                    key: sched.current().key,
                    from_s: from,
                    until_s: until,
                });
                from = until;
            }
        }
        let i = self
            .index_at(s)
            .ok_or(fail(0, KeyFileErrorKind::Uncovered))?;
        Ok(&self.keys[i]) // i < len: index_at found it
    }

    /// Parses a key file. See the module docs for the format.
    pub fn parse(text: &str) -> Result<KeyFile, KeyFileError> {
        use KeyFileErrorKind as K;
        let (mut version, mut channel, mut rotate) = (false, None::<String>, None::<u32>);
        let mut keys: Vec<PackagedKey> = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let line = n + 1;
            let l = raw.split('#').next().unwrap_or("").trim(); // split yields ≥ 1 item
            if l.is_empty() {
                continue;
            }
            let f: Vec<&str> = l.split_whitespace().collect();
            if !version {
                if f != ["tvmesh-keys", "1"] {
                    return Err(fail(line, K::Version));
                }
                version = true;
                continue;
            }
            match f.as_slice() {
                ["channel", name] => {
                    if channel.is_some() || name.len() > super::package::NAME_MAX {
                        return Err(fail(line, K::Channel));
                    }
                    channel = Some((*name).into());
                }
                ["rotate_s", v] => {
                    let r = v.parse::<u32>().ok().filter(|r| (1..=86_400).contains(r));
                    if rotate.is_some() || r.is_none() {
                        return Err(fail(line, K::Rotate));
                    }
                    rotate = r;
                }
                ["key", id, from, until, hex] => {
                    if keys.len() >= KEYS_MAX {
                        return Err(fail(line, K::TooMany));
                    }
                    let id = id
                        .parse::<u8>()
                        .ok()
                        .filter(|&i| i != 0 && keys.last().is_none_or(|k| k.id != i))
                        .ok_or(fail(line, K::KeyId))?;
                    let (from_s, until_s) = match (from.parse::<u64>(), until.parse::<u64>()) {
                        (Ok(a), Ok(b)) if a < b && keys.last().is_none_or(|k| k.until_s <= a) => {
                            (a, b)
                        }
                        _ => return Err(fail(line, K::Times)),
                    };
                    let key = hex32(hex).ok_or(fail(line, K::Hex))?;
                    keys.push(PackagedKey {
                        id,
                        key,
                        from_s,
                        until_s,
                    });
                }
                _ => return Err(fail(line, K::Syntax)),
            }
        }
        if !version {
            return Err(fail(0, K::Version));
        }
        let channel = channel.ok_or(fail(0, K::Channel))?;
        let rotate_s = rotate.ok_or(fail(0, K::Rotate))?;
        let mut k = KeyFile::new(&channel, rotate_s)?;
        k.keys = keys;
        Ok(k)
    }

    /// The file's text (parses back to the same value).
    pub fn emit(&self) -> String {
        let mut s = String::with_capacity(64 + self.keys.len() * 96);
        // Writing to a String cannot fail.
        let _ = writeln!(
            s,
            "# tvmesh packaged-stream keys: SECRET, keep mode 0600\n\
             tvmesh-keys {KEYFILE_VERSION}\nchannel {}\nrotate_s {}",
            self.channel, self.rotate_s
        );
        for k in &self.keys {
            let _ = write!(s, "key {} {} {} ", k.id, k.from_s, k.until_s);
            for b in k.key {
                let _ = write!(s, "{b:02x}");
            }
            s.push('\n');
        }
        s
    }
}

/// 64 hex digits (either case) as 32 bytes; `None` for anything else.
pub fn hex32(v: &str) -> Option<Key> {
    let b = v.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
        let s = core::str::from_utf8(pair).ok()?;
        *o = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn text_round_trip() {
        let text = std::format!(
            "# comment\ntvmesh-keys 1\nchannel demo\nrotate_s 10\n\nkey 1 0 10 {H}\nkey 2 10 20 {H} # x\n"
        );
        let k = KeyFile::parse(&text).unwrap();
        assert_eq!((k.channel.as_str(), k.rotate_s), ("demo", 10));
        assert_eq!(k.keys().len(), 2);
        assert_eq!(k.keys()[1].key[31], 0x1f);
        assert_eq!((k.keys()[1].from_s, k.keys()[1].until_s), (10, 20));
        assert_eq!(k.index_at(0), Some(0));
        assert_eq!(k.index_at(19), Some(1));
        assert_eq!(k.index_at(20), None);
        let out = k.emit();
        assert!(out.ends_with(&std::format!("key 2 10 20 {H}\n")), "{out}");
        assert_eq!(KeyFile::parse(&out).unwrap(), k);
        // Debug never shows key material.
        assert!(!std::format!("{k:?}").contains("key: ["));
    }

    #[test]
    fn errors_name_the_line() {
        use KeyFileErrorKind as K;
        let head = "tvmesh-keys 1\nchannel demo\nrotate_s 10\n";
        for (text, line, kind) in [
            ("", 0, K::Version),
            ("tvmesh-keys 2\n", 1, K::Version),
            ("tvmesh-keys 1\nrotate_s 10\n", 0, K::Channel),
            ("tvmesh-keys 1\nchannel demo\n", 0, K::Rotate),
            ("tvmesh-keys 1\nchannel a\nchannel b\n", 3, K::Channel),
            ("tvmesh-keys 1\nrotate_s 0\n", 2, K::Rotate),
            ("tvmesh-keys 1\nwhat\n", 2, K::Syntax),
            (&std::format!("{head}key 0 0 10 {H}\n"), 4, K::KeyId),
            (&std::format!("{head}key 256 0 10 {H}\n"), 4, K::KeyId),
            (
                &std::format!("{head}key 1 0 10 {H}\nkey 1 10 20 {H}\n"),
                5,
                K::KeyId,
            ),
            (&std::format!("{head}key 1 10 10 {H}\n"), 4, K::Times),
            (
                &std::format!("{head}key 1 0 10 {H}\nkey 2 5 20 {H}\n"),
                5,
                K::Times,
            ),
            (&std::format!("{head}key 1 x 10 {H}\n"), 4, K::Times),
            (&std::format!("{head}key 1 0 10 {}\n", &H[..62]), 4, K::Hex),
            (
                &std::format!("{head}key 1 0 10 {}zz\n", &H[..62]),
                4,
                K::Hex,
            ),
            (&std::format!("{head}key 1 0 10\n"), 4, K::Syntax),
        ] {
            assert_eq!(
                KeyFile::parse(text),
                Err(KeyFileError { line, kind }),
                "{text}"
            );
        }
        let e = KeyFile::parse("tvmesh-keys 1\nx\n").unwrap_err();
        assert!(std::format!("{e}").starts_with("line 2: expected"), "{e}");
        assert_eq!(KeyFile::new("", 1).unwrap_err().kind, K::Channel);
        assert_eq!(KeyFile::new("a", 0).unwrap_err().kind, K::Rotate);
    }

    #[test]
    fn ensure_adds_keys_per_period_from_the_seed() {
        let mut k = KeyFile::new("demo", 10).unwrap();
        let seed = [7; 32];
        let first = *k.ensure(25, &seed).unwrap();
        // Periods 0, 1, 2 were added; ids and keys as a live schedule's.
        assert_eq!(k.keys().len(), 3);
        assert_eq!((first.id, first.from_s, first.until_s), (3, 20, 30));
        let live = KeySchedule::new(seed, 10, 25).unwrap();
        assert_eq!(first.key, live.current().key);
        assert_eq!(k.ensure(5, &seed).unwrap().id, 1); // already there
                                                       // A file whose keys start later: earlier stream time is uncovered.
        let text = std::format!("tvmesh-keys 1\nchannel demo\nrotate_s 10\nkey 9 10 20 {H}\n");
        let mut late = KeyFile::parse(&text).unwrap();
        assert_eq!(
            late.ensure(3, &seed).unwrap_err().kind,
            KeyFileErrorKind::Uncovered
        );
        assert_eq!(late.ensure(20, &seed).unwrap().id, 3);
    }
}
