//! The root as tracker: who should a box talk to?
//!
//! A sample prefers (1) boxes behind the same public address (the same LAN), (2) boxes in the same
//! operator-defined network group (address prefixes, as the seed product split ISPs), then (3)
//! the rest; only boxes reachable for inbound traffic are offered, except same-address ones.
//!
//! Cost is independent of the audience: same-address boxes are found through a fixed hash table
//! of chains; groups and the rest through a bounded number of random probes into the session table
//! (a full scan when the table is small). Memory is allocated once, from `max_sessions`.

use core::net::{IpAddr, SocketAddr};

/// An address prefix, e.g. 198.51.100.0/24.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Prefix {
    net: IpAddr,
    len: u8,
}

impl Prefix {
    /// A prefix; `None` if `len` exceeds the address width.
    pub fn new(net: IpAddr, len: u8) -> Option<Prefix> {
        let max = if net.is_ipv4() { 32 } else { 128 };
        (len <= max).then_some(Prefix { net, len })
    }

    /// Whether `ip` lies inside.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let m = if self.len == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(self.len))
                };
                u32::from(n) & m == u32::from(a) & m
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let m = if self.len == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(self.len))
                };
                u128::from(n) & m == u128::from(a) & m
            }
            _ => false,
        }
    }
}

/// The group (index into the configured groups) an address belongs to, if any.
pub fn group_of(groups: &[alloc::vec::Vec<Prefix>], ip: IpAddr) -> Option<u16> {
    groups
        .iter()
        .position(|g| g.iter().any(|p| p.contains(ip)))
        .map(|i| i as u16)
}

/// Slots in the same-address hash table per session slot.
const HASH_FACTOR: usize = 2;
/// Random probes into a large session table per sample.
pub const PROBES: usize = 128;
/// Tables up to this size are scanned whole.
pub const SCAN_ALL: usize = 1024;
/// "No session" in chains.
pub const NONE: u32 = u32::MAX;

/// Same-address index: hash of the IP → chain of session indices.
pub struct AddrIndex {
    heads: alloc::boxed::Box<[u32]>,
}

fn hash(ip: IpAddr) -> u64 {
    let x = match ip {
        IpAddr::V4(a) => u64::from(u32::from(a)),
        IpAddr::V6(a) => {
            let v = u128::from(a);
            (v as u64) ^ ((v >> 64) as u64)
        }
    };
    x.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

impl AddrIndex {
    /// An index for `sessions` session slots.
    pub fn new(sessions: usize) -> Self {
        let n = (sessions * HASH_FACTOR).next_power_of_two().max(16);
        AddrIndex {
            heads: alloc::vec![NONE; n].into_boxed_slice(),
        }
    }

    fn bucket(&self, ip: IpAddr) -> usize {
        (hash(ip) as usize) & (self.heads.len() - 1)
    }

    /// The first session in `ip`'s chain.
    pub fn head(&self, ip: IpAddr) -> u32 {
        self.heads[self.bucket(ip)]
    }

    /// Makes `idx` the head of `ip`'s chain; returns the old head (the new session's `next`).
    pub fn push(&mut self, ip: IpAddr, idx: u32) -> u32 {
        let b = self.bucket(ip);
        core::mem::replace(&mut self.heads[b], idx)
    }

    /// Replaces the head of `ip`'s chain if it is `idx` (unlinking the first element).
    pub fn unlink_head(&mut self, ip: IpAddr, idx: u32, next: u32) -> bool {
        let b = self.bucket(ip);
        if self.heads[b] == idx {
            self.heads[b] = next;
            true
        } else {
            false
        }
    }
}

/// A fixed-size list of chosen peers.
pub struct Sample {
    /// Addresses and PEERS flags.
    pub peers: [(SocketAddr, u8); crate::wire::MAX_PEERS],
    /// How many are filled.
    pub len: usize,
}

impl Sample {
    /// Empty.
    pub fn new() -> Self {
        let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
        Sample {
            peers: [(unspecified, 0); crate::wire::MAX_PEERS],
            len: 0,
        }
    }

    /// Adds `a` unless full or already present; returns false when full.
    pub fn add(&mut self, a: SocketAddr, flags: u8) -> bool {
        if self.len == self.peers.len() {
            return false;
        }
        if !self.peers[..self.len].iter().any(|p| p.0 == a) {
            self.peers[self.len] = (a, flags);
            self.len += 1;
        }
        true
    }

    /// Whether no more fit.
    pub fn full(&self) -> bool {
        self.len == self.peers.len()
    }

    /// The chosen peers.
    pub fn as_slice(&self) -> &[(SocketAddr, u8)] {
        &self.peers[..self.len]
    }
}

impl Default for Sample {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        let p = Prefix::new("198.51.100.0".parse().unwrap(), 24).unwrap();
        assert!(p.contains("198.51.100.77".parse().unwrap()));
        assert!(!p.contains("198.51.101.1".parse().unwrap()));
        assert!(!p.contains("2001:db8::1".parse().unwrap()));
        let p6 = Prefix::new("2001:db8::".parse().unwrap(), 32).unwrap();
        assert!(p6.contains("2001:db8:1::1".parse().unwrap()));
        assert!(Prefix::new("192.0.2.0".parse().unwrap(), 33).is_none());
        let groups = alloc::vec![alloc::vec![p], alloc::vec![p6]];
        assert_eq!(group_of(&groups, "2001:db8::5".parse().unwrap()), Some(1));
        assert_eq!(group_of(&groups, "203.0.113.1".parse().unwrap()), None);
    }

    #[test]
    fn index_chains() {
        let mut ix = AddrIndex::new(8);
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(ix.push(ip, 3), NONE);
        assert_eq!(ix.push(ip, 5), 3);
        assert_eq!(ix.head(ip), 5);
        assert!(ix.unlink_head(ip, 5, 3));
        assert_eq!(ix.head(ip), 3);
    }
}
