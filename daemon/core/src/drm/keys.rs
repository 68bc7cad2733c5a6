//! Channel keys: the root's rotating schedule and the box's table of keys it was given.
//!
//! Time is cut into periods of `rotate_s` seconds of unix time; period `e` (= `now / rotate_s`) has
//! its own key. The key of period `e` is the first 32 bytes of the ChaCha20 keystream under the
//! channel's 32-byte *seed* with nonce `0u32 ‖ e (u64 BE)` — a counter-mode DRBG: keys are
//! unpredictable without the seed, and a restarted root with the same seed derives the same keys,
//! so boxes holding licences keep working. The seed comes from the caller (the shell reads it from
//! the root's key file or `getrandom`); nothing here draws randomness.
//!
//! Key ids are `1 + e % 255` (1..=255; 0 means clear), so neighbouring periods never share an id
//! and an id repeats only after 255 periods. A key is *valid until* the end of the period after its
//! own: chunks scrambled just before a rotation can still be descrambled while in flight, and a
//! licence handed out near the end of a period carries the next key too ([`KeySchedule::entries`]
//! gives previous, current and next).
//!
//! Invariants: [`KeySchedule`] holds exactly three keys (previous, current, next) and [`KeyTable`]
//! at most [`KEY_TABLE`]; neither allocates; arithmetic saturates (times past u64 range never
//! panic; `valid_until` is clamped to u32 on the wire by [`super::licence`]).

use super::Key;
// Through tvmesh-crypto, not `chacha20` directly: a second instantiation of chacha20's generic
// backend here, at this crate's opt-level "s", would be merged by LTO with the opt-level 3 one the
// per-chunk path uses, and could replace it (measured: 2.5× the instructions, docs/BENCHMARKS.md).
use tvmesh_crypto::ChaCha20;

/// Keys a box keeps per channel.
pub const KEY_TABLE: usize = 4;

/// A key with its id and the unix time (seconds) it stops being valid.
#[derive(Copy, Clone, PartialEq, Eq)]
pub struct KeyEntry {
    /// Key id, 1..=255.
    pub id: u8,
    /// The key.
    pub key: Key,
    /// Unix seconds from which the key must no longer be used.
    pub valid_until: u64,
}

impl core::fmt::Debug for KeyEntry {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print key material.
        f.debug_struct("KeyEntry")
            .field("id", &self.id)
            .field("valid_until", &self.valid_until)
            .finish_non_exhaustive()
    }
}

/// Why a schedule could not be made.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum KeysError {
    /// `rotate_s` is 0.
    RotatePeriod,
}

/// The root's key schedule for one channel. See the module docs.
pub struct KeySchedule {
    seed: Key,
    rotate_s: u64,
    epoch: u64,
    /// Previous, current, next.
    keys: [KeyEntry; 3],
}

impl core::fmt::Debug for KeySchedule {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeySchedule")
            .field("rotate_s", &self.rotate_s)
            .field("epoch", &self.epoch)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl KeySchedule {
    /// A schedule from the channel's secret `seed`, rotating every `rotate_s` seconds, at unix
    /// time `now_unix`.
    pub fn new(seed: Key, rotate_s: u32, now_unix: u64) -> Result<Self, KeysError> {
        if rotate_s == 0 {
            return Err(KeysError::RotatePeriod);
        }
        let rotate_s = u64::from(rotate_s);
        let epoch = now_unix / rotate_s;
        let mut s = KeySchedule {
            seed,
            rotate_s,
            epoch,
            keys: [KeyEntry {
                id: 0,
                key: [0; 32],
                valid_until: 0,
            }; 3],
        };
        s.derive_all();
        Ok(s)
    }

    fn entry(&self, epoch: u64) -> KeyEntry {
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&epoch.to_be_bytes());
        let mut key = [0u8; 32];
        ChaCha20::new(&self.seed, &nonce).apply(&mut key);
        KeyEntry {
            id: 1 + (epoch % 255) as u8, // < 256
            key,
            valid_until: epoch.saturating_add(2).saturating_mul(self.rotate_s),
        }
    }

    fn derive_all(&mut self) {
        let e = self.epoch;
        self.keys = [
            self.entry(e.saturating_sub(1)),
            self.entry(e),
            self.entry(e.saturating_add(1)),
        ];
    }

    /// Moves the schedule to `now_unix`; returns whether the current key changed.
    pub fn handle_time(&mut self, now_unix: u64) -> bool {
        let e = now_unix / self.rotate_s;
        if e <= self.epoch {
            return false;
        }
        if e == self.epoch + 1 {
            self.keys = [self.keys[1], self.keys[2], self.entry(e.saturating_add(1))];
            self.epoch = e;
        } else {
            self.epoch = e;
            self.derive_all();
        }
        true
    }

    /// Unix time of the next rotation.
    pub fn next_rotation(&self) -> u64 {
        self.epoch.saturating_add(1).saturating_mul(self.rotate_s)
    }

    /// The key to scramble with now.
    pub fn current(&self) -> &KeyEntry {
        &self.keys[1]
    }

    /// Previous, current and next keys (what a licence hands out).
    pub fn entries(&self) -> &[KeyEntry; 3] {
        &self.keys
    }

    /// The key with id `id`, if it is previous, current or next.
    pub fn key(&self, id: u8) -> Option<&Key> {
        self.keys.iter().find(|k| k.id == id).map(|k| &k.key)
    }
}

/// A box's keys for one channel, as received in licences. See the module docs.
#[derive(Clone, Debug, Default)]
pub struct KeyTable {
    slots: [Option<KeyEntry>; KEY_TABLE],
}

impl KeyTable {
    /// An empty table.
    pub fn new() -> Self {
        KeyTable::default()
    }

    /// Stores a key, replacing one with the same id, else an empty slot, else the one that expires
    /// first.
    pub fn insert(&mut self, e: KeyEntry) {
        let i = self
            .slots
            .iter()
            .position(|s| s.is_some_and(|s| s.id == e.id))
            .or_else(|| self.slots.iter().position(Option::is_none))
            .unwrap_or_else(|| {
                (0..KEY_TABLE)
                    .min_by_key(|&i| self.slots[i].map_or(0, |s| s.valid_until))
                    .unwrap_or(0) // KEY_TABLE > 0
            });
        self.slots[i] = Some(e);
    }

    /// The key with id `id` if it is still valid at `now_unix`.
    pub fn get(&self, id: u8, now_unix: u64) -> Option<&Key> {
        self.slots
            .iter()
            .flatten()
            .find(|s| s.id == id && now_unix < s.valid_until)
            .map(|s| &s.key)
    }

    /// Forgets keys no longer valid at `now_unix`; returns how many are left.
    pub fn expire(&mut self, now_unix: u64) -> usize {
        for s in &mut self.slots {
            if s.is_some_and(|e| now_unix >= e.valid_until) {
                *s = None;
            }
        }
        self.len()
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.slots.iter().flatten().count()
    }

    /// Whether no key is held (a box in this state relays but outputs nothing).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Latest `valid_until` of any key held: when the box's licence runs out unless renewed.
    pub fn valid_until(&self) -> Option<u64> {
        self.slots.iter().flatten().map(|s| s.valid_until).max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_chacha20_keystream_of_seed_and_period() {
        // Seed 0, period 0: RFC 8439 A.1 #1 keystream (all-zero key and nonce), first 32 bytes.
        let s = KeySchedule::new([0; 32], 60, 59).unwrap();
        let cur = s.current();
        assert_eq!(cur.id, 1);
        assert_eq!(cur.valid_until, 120);
        assert_eq!(
            cur.key[..16],
            [
                0x76, 0xb8, 0xe0, 0xad, 0xa0, 0xf1, 0x3d, 0x90, 0x40, 0x5d, 0x6a, 0xe5, 0x53, 0x86,
                0xbd, 0x28
            ]
        );
        assert_eq!(s.next_rotation(), 60);
    }

    #[test]
    fn rotation_keeps_previous_current_next() {
        let seed = [5; 32];
        let mut s = KeySchedule::new(seed, 10, 1000).unwrap(); // period 100
        let ids = |s: &KeySchedule| s.entries().map(|e| e.id);
        assert_eq!(ids(&s), [100, 101, 102]);
        let next = s.entries()[2];
        assert!(!s.handle_time(1009));
        assert!(s.handle_time(1010));
        assert_eq!(ids(&s), [101, 102, 103]);
        assert_eq!(*s.current(), next);
        assert!(s.key(100).is_none());
        assert_eq!(s.key(102), Some(&next.key));
        // Same seed and time on a restarted root: same keys. A jump re-derives all three.
        assert!(s.handle_time(10 * 254 + 5)); // period 254 → ids 254, 255, 1
        assert_eq!(ids(&s), [254, 255, 1]);
        let again = KeySchedule::new(seed, 10, 2545).unwrap();
        assert_eq!(again.entries(), s.entries());
        // Distinct periods, distinct keys; another seed, other keys.
        assert_ne!(s.entries()[0].key, s.entries()[1].key);
        let other = KeySchedule::new([6; 32], 10, 2545).unwrap();
        assert_ne!(other.current().key, s.current().key);
        assert_eq!(
            KeySchedule::new(seed, 0, 0).unwrap_err(),
            KeysError::RotatePeriod
        );
        // Far future: saturates, no panic.
        let mut far = KeySchedule::new(seed, 1, u64::MAX - 1).unwrap();
        assert!(far.handle_time(u64::MAX));
        assert_eq!(far.next_rotation(), u64::MAX);
    }

    #[test]
    fn table_keeps_valid_keys_and_evicts_the_oldest() {
        let e = |id: u8, until: u64| KeyEntry {
            id,
            key: [id; 32],
            valid_until: until,
        };
        let mut t = KeyTable::new();
        assert!(t.is_empty());
        t.insert(e(1, 100));
        t.insert(e(2, 200));
        assert_eq!(t.get(1, 99), Some(&[1; 32]));
        assert_eq!(t.get(1, 100), None);
        assert_eq!(t.get(3, 0), None);
        t.insert(e(1, 150)); // renewal replaces
        assert_eq!(t.len(), 2);
        assert_eq!(t.get(1, 120), Some(&[1; 32]));
        t.insert(e(3, 300));
        t.insert(e(4, 400));
        t.insert(e(5, 500)); // full: evicts id 1 (expires first)
        assert_eq!(t.len(), KEY_TABLE);
        assert_eq!(t.get(1, 0), None);
        assert_eq!(t.valid_until(), Some(500));
        assert_eq!(t.expire(300), 2);
        assert_eq!(t.get(4, 300), Some(&[4; 32]));
        assert!(!std::format!("{:?}", t).contains("key: ["));
    }
}
