//! A fixed-capacity FIFO for events and control replies.
//!
//! Invariant: never grows after construction; pushing into a full queue drops the *new* item and
//! counts it, so a flood of input cannot grow memory or evict older, already-accepted work.

use alloc::collections::VecDeque;

/// Bounded FIFO.
#[derive(Debug)]
pub struct Ring<T> {
    q: VecDeque<T>,
    cap: usize,
    dropped: u64,
}

impl<T> Ring<T> {
    /// A queue holding at most `cap` items (allocated now).
    pub fn new(cap: usize) -> Self {
        Ring {
            q: VecDeque::with_capacity(cap),
            cap,
            dropped: 0,
        }
    }

    /// Appends, or drops `item` if full. Returns whether it was kept.
    pub fn push(&mut self, item: T) -> bool {
        if self.q.len() >= self.cap {
            self.dropped += 1;
            return false;
        }
        self.q.push_back(item);
        true
    }

    /// Takes the oldest item.
    pub fn pop(&mut self) -> Option<T> {
        self.q.pop_front()
    }

    /// Items refused because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Items waiting.
    pub fn len(&self) -> usize {
        self.q.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }
}

/// Rate limit for reporting a recurring problem (bad datagrams): at most one report per second.
#[derive(Clone, Debug, Default)]
pub struct ReportLimit {
    last: Option<crate::time::Instant>,
}

impl ReportLimit {
    /// Whether a report is due now (and, if so, records it).
    pub fn due(&mut self, now: crate::time::Instant) -> bool {
        if self
            .last
            .is_some_and(|t| now.saturating_since(t) < core::time::Duration::from_secs(1))
        {
            return false;
        }
        self.last = Some(now);
        true
    }
}

/// splitmix64: a tiny seeded generator for tokens and nonces (not for secrets).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a caller-provided seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The next 32 random bits, never zero (zero means "none" in tokens).
    pub fn next_nonzero_u32(&mut self) -> u32 {
        loop {
            let v = self.next_u64() as u32;
            if v != 0 {
                return v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_fifo() {
        let mut r = Ring::new(2);
        assert!(r.push(1));
        assert!(r.push(2));
        assert!(!r.push(3));
        assert_eq!(r.dropped(), 1);
        assert_eq!(r.pop(), Some(1));
        assert_eq!(r.pop(), Some(2));
        assert_eq!(r.pop(), None);
    }

    #[test]
    fn rng_is_seeded() {
        let a: std::vec::Vec<u64> = (0..3)
            .scan(Rng::new(7), |r, _| Some(r.next_u64()))
            .collect();
        let b: std::vec::Vec<u64> = (0..3)
            .scan(Rng::new(7), |r, _| Some(r.next_u64()))
            .collect();
        assert_eq!(a, b);
        assert_ne!(a[0], a[1]);
    }
}
