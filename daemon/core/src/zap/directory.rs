//! The channel directory: what a box can zap to, merged from one or more roots.
//!
//! A root publishes its channels in a DIRECTORY message body (all integers big-endian):
//!
//! ```text
//! version u8 (= 1) | count u16 | count × ( number u16 | bitrate_kbps u32 |
//!                                          name_len u8 | name | desc_len u8 | description )
//! ```
//!
//! Names are 1–[`MAX_NAME`](crate::wire::MAX_NAME) bytes of `A-Z a-z 0-9 - _ .` (as channel names in
//! the config), descriptions up to 255 bytes of UTF-8; numbers are 1–[`MAX_NUMBER`] (four digits
//! on the remote). A box keeps one [`Directory`] in RAM and applies each root's message with
//! [`Directory::apply`], tagged with that root's index.
//!
//! Invariants:
//! - Entries are sorted by number and numbers are unique; at most `capacity` entries.
//! - A message is checked completely before anything changes: a hostile or truncated body leaves
//!   the directory as it was and returns a [`DirError`]. Parsing never panics.
//! - A root's message replaces everything that root said before. When two roots claim the same
//!   number, the lower root index keeps it (the other entry is dropped and counted in
//!   [`Directory::conflicts`]).

use crate::wire::MAX_NAME;
use alloc::string::String;
use alloc::vec::Vec;

/// Highest channel number (four digits).
pub const MAX_NUMBER: u16 = 9999;
/// Longest description, bytes.
pub const MAX_DESCRIPTION: usize = 255;
/// DIRECTORY body format version.
pub const VERSION: u8 = 1;

/// One channel a box can watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Operator-assigned number, 1–[`MAX_NUMBER`].
    pub number: u16,
    /// Channel name (what JOIN asks for).
    pub name: String,
    /// Free text for an on-screen guide.
    pub description: String,
    /// Nominal bitrate, kbit/s (0: unknown).
    pub bitrate_kbps: u32,
    /// Index of the root that published it (the box's own numbering of its roots).
    pub root: u8,
}

/// Why a DIRECTORY body was refused (or could not be written).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DirError {
    /// Body ends before a field it announces.
    Truncated,
    /// Bytes after the last entry.
    Trailing,
    /// Unknown format version.
    Version,
    /// A number is 0 or above [`MAX_NUMBER`].
    Number,
    /// A number appears twice in one message.
    Duplicate,
    /// A name is empty, too long or has other characters than `A-Z a-z 0-9 - _ .`.
    Name,
    /// A description is not UTF-8.
    Description,
    /// More entries than the directory holds.
    Full,
    /// The output buffer is too small.
    Buffer,
}

/// The channels known to a box, sorted by number. See the module documentation.
#[derive(Clone, Debug, Default)]
pub struct Directory {
    entries: Vec<Entry>,
    capacity: usize,
    conflicts: u64,
}

fn valid_name(b: &[u8]) -> bool {
    !b.is_empty()
        && b.len() <= MAX_NAME
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
}

/// Reads a directory body into entries tagged `root`; checks everything.
fn parse(body: &[u8], root: u8, capacity: usize) -> Result<Vec<Entry>, DirError> {
    let mut r = Reader(body);
    if r.u8()? != VERSION {
        return Err(DirError::Version);
    }
    let count = usize::from(r.u16()?);
    if count > capacity {
        return Err(DirError::Full);
    }
    let mut out: Vec<Entry> = Vec::with_capacity(count);
    for _ in 0..count {
        let number = r.u16()?;
        if number == 0 || number > MAX_NUMBER {
            return Err(DirError::Number);
        }
        let bitrate_kbps =
            u32::from_be_bytes(r.take(4)?.try_into().map_err(|_| DirError::Truncated)?);
        let n = usize::from(r.u8()?);
        let name = r.take(n)?;
        if !valid_name(name) {
            return Err(DirError::Name);
        }
        let n = usize::from(r.u8()?);
        let desc = core::str::from_utf8(r.take(n)?).map_err(|_| DirError::Description)?;
        if out.iter().any(|e| e.number == number) {
            return Err(DirError::Duplicate);
        }
        out.push(Entry {
            number,
            // valid_name checked ASCII, so this is UTF-8.
            name: String::from_utf8_lossy(name).into_owned(),
            description: String::from(desc),
            bitrate_kbps,
            root,
        });
    }
    if !r.0.is_empty() {
        return Err(DirError::Trailing);
    }
    Ok(out)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DirError> {
        if self.0.len() < n {
            return Err(DirError::Truncated);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, DirError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, DirError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
}

impl Directory {
    /// An empty directory holding at most `capacity` channels (65 535 at most: the count field).
    pub fn new(capacity: usize) -> Directory {
        let capacity = capacity.min(usize::from(u16::MAX));
        Directory {
            entries: Vec::with_capacity(capacity),
            capacity,
            conflicts: 0,
        }
    }

    /// All entries, sorted by number.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Number of channels.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// No channels at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries dropped because a lower-indexed root held the number.
    pub fn conflicts(&self) -> u64 {
        self.conflicts
    }

    /// The channel with this number.
    pub fn get(&self, number: u16) -> Option<&Entry> {
        self.entries
            .binary_search_by_key(&number, |e| e.number)
            .ok()
            .map(|i| &self.entries[i])
    }

    /// The channel with this name (ASCII case-insensitive).
    pub fn by_name(&self, name: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| e.name.eq_ignore_ascii_case(name))
    }

    /// The next number after `number` in order, wrapping to the lowest (`None` if empty).
    pub fn next(&self, number: u16) -> Option<u16> {
        let e = &self.entries;
        e.iter()
            .find(|x| x.number > number)
            .or(e.first())
            .map(|x| x.number)
    }

    /// The number before `number` in order, wrapping to the highest (`None` if empty).
    pub fn prev(&self, number: u16) -> Option<u16> {
        let e = &self.entries;
        e.iter()
            .rev()
            .find(|x| x.number < number)
            .or(e.last())
            .map(|x| x.number)
    }

    /// Adds or replaces one entry (a root's own channel list, tests). `Full` when there is no room.
    pub fn insert(&mut self, entry: Entry) -> Result<(), DirError> {
        if entry.number == 0 || entry.number > MAX_NUMBER {
            return Err(DirError::Number);
        }
        if !valid_name(entry.name.as_bytes()) {
            return Err(DirError::Name);
        }
        match self
            .entries
            .binary_search_by_key(&entry.number, |e| e.number)
        {
            Ok(i) => self.entries[i] = entry,
            Err(_) if self.entries.len() >= self.capacity => return Err(DirError::Full),
            Err(i) => self.entries.insert(i, entry),
        }
        Ok(())
    }

    /// Applies root `root`'s DIRECTORY body: its old entries go, its new ones come in (see the
    /// module documentation for conflicts). On error nothing changes. Returns the entry count.
    pub fn apply(&mut self, root: u8, body: &[u8]) -> Result<usize, DirError> {
        let new = parse(body, root, self.capacity)?;
        let kept = self.entries.iter().filter(|e| e.root != root);
        let mut merged: Vec<Entry> = kept.cloned().collect();
        for e in new {
            match merged.iter().position(|m| m.number == e.number) {
                Some(i) if merged[i].root < root => self.conflicts += 1,
                Some(i) => {
                    self.conflicts += 1;
                    merged[i] = e;
                }
                None => merged.push(e),
            }
        }
        if merged.len() > self.capacity {
            return Err(DirError::Full);
        }
        merged.sort_by_key(|e| e.number);
        self.entries = merged;
        Ok(self.entries.len())
    }

    /// Writes the DIRECTORY body listing every entry into `buf`; returns its length.
    /// Descriptions longer than [`MAX_DESCRIPTION`] are cut at a character boundary.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, DirError> {
        let mut w = 0usize;
        let mut put = |bytes: &[u8]| -> Result<(), DirError> {
            let dst = buf.get_mut(w..w + bytes.len()).ok_or(DirError::Buffer)?;
            dst.copy_from_slice(bytes);
            w += bytes.len();
            Ok(())
        };
        put(&[VERSION])?;
        // len <= capacity <= u16::MAX (new), names <= MAX_NAME (insert, parse): casts are exact.
        put(&(self.entries.len() as u16).to_be_bytes())?;
        for e in &self.entries {
            put(&e.number.to_be_bytes())?;
            put(&e.bitrate_kbps.to_be_bytes())?;
            put(&[e.name.len() as u8])?;
            put(e.name.as_bytes())?;
            let mut cut = e.description.len().min(MAX_DESCRIPTION);
            while !e.description.is_char_boundary(cut) {
                cut -= 1;
            }
            put(&[cut as u8])?;
            put(&e.description.as_bytes()[..cut])?;
        }
        Ok(w)
    }
}
