//! The root's side of chunk integrity: every channel is signed.
//!
//! Each channel has an RSA-2048 key (e = 3) made from [`RootConfig::sign_seed`] and its name
//! ([`crate::drm::channel_signing_seed`], `RsaSecretKey::from_seed`: a prime search, once per
//! channel in [`Root::new`]). Every chunk the chunker makes is hashed into the
//! channel's [`Signer`] once, right after it enters the pool; each closed segment's manifest is kept
//! in a small [`ManifestStore`] and sent once to every box the root feeds directly (its seeds),
//! which forward it down their trees. Boxes that got a chunk from the root as a repair, or missed a
//! manifest, ask with MANIFEST_REQ; boxes ask for the public key with KEY_REQ. Both are answered
//! only for a validated session and within [`ANSWERS_PER_S`] per second, and each answer is no
//! larger than ~1.3 kB, sent to the session's own address.
//!
//! Invariants: all tables are sized at construction; the fan-out of one manifest scans the session
//! table once (bounded by `max_sessions`); nothing here allocates after [`Root::new`].

use super::{Root, RootConfig};
use crate::drm::manifest::MANIFEST_MAX_LEN;
use crate::drm::sign::Signer;
use crate::drm::store::ManifestStore;
use crate::ring::Ring;
use crate::time::Instant;
use crate::wire::{Message, KEY_RSA2048};
use crate::Transmit;
use alloc::vec::Vec;
use core::net::SocketAddr;
use tvmesh_crypto::{RsaSecretKey, RSA_LEN};

/// Least manifests kept per channel for MANIFEST_REQ.
pub const STORE_MANIFESTS: usize = 16;
/// Stream time the manifest store covers, ms. It must reach back as far as the chunks the root
/// still sends: a box that joins is fed from the latest key frame, and a relayed box's catch-up
/// backlog waits for the relay budget (`relay.rs`), so chunks seconds old arrive whose manifests
/// the box never got (they were fanned out before it subscribed); it asks for them, and a store
/// of only the last 1.6 s missed, so those chunks were held until they expired and lost.
pub const STORE_MS: u32 = 10_000;
/// KEY_REQ and MANIFEST_REQ answers per second, over all channels.
pub const ANSWERS_PER_S: u32 = 400;
/// Answers waiting to be sent; more are dropped (boxes ask again).
const ANSWER_CAP: usize = 64;
/// Manifests sent to a box when its session is validated (a key frame's worth of segments).
const WELCOME_MANIFESTS: usize = 16;

/// One channel's signing state.
pub(super) struct ChannelSigning {
    signer: Signer,
    /// The public key's modulus (sent in CHANNEL_KEY).
    public: [u8; RSA_LEN],
    store: ManifestStore,
    /// Next chunk sequence number to hash into the signer.
    next_seq: u64,
    /// Manifest being fanned out to seeds: (store slot, next session index).
    fanout: Option<(usize, usize)>,
    /// Manifests closed but not yet fanned out (store slots, oldest first).
    queued: Ring<usize>,
}

/// An answer to a box's request.
#[derive(Copy, Clone, Debug)]
enum Answer {
    Key { channel: usize },
    Manifest { channel: usize, slot: usize },
}

/// The root's integrity state: per-channel signing and the answer queue.
pub(super) struct RootIntegrity {
    channels: Vec<ChannelSigning>,
    answers: Ring<(SocketAddr, Answer)>,
    window: (Instant, u32),
    /// Manifests sent (fan-out and answers), for the status page.
    pub(super) manifests_out: u64,
    /// Requests refused by the answer budget.
    pub(super) answers_dropped: u64,
    /// MANIFEST_REQs naming a chunk no stored manifest covers.
    misses: u64,
}

/// Manifest store slots for segments of `segment_ms`: [`STORE_MS`] of them, at least
/// [`STORE_MANIFESTS`] and at most 1000 (100 at the default 100 ms, 1000 at the 10 ms the config
/// allows; each slot holds up to ~1.3 kB).
pub fn store_slots(segment_ms: u32) -> usize {
    (STORE_MS.div_ceil(segment_ms.max(10)) as usize).max(STORE_MANIFESTS)
}

impl RootIntegrity {
    pub(super) fn new(cfg: &RootConfig, names: &[&[u8]], now: Instant) -> Self {
        // Unsigned (simulations of the mesh alone): no channel signs, nothing is announced.
        let names = if cfg.sign { names } else { &[] };
        let channels = names
            .iter()
            .map(|name| {
                let seed = crate::drm::channel_signing_seed(&cfg.sign_seed, name);
                let sk = RsaSecretKey::from_seed(&seed);
                ChannelSigning {
                    public: sk.public_key().modulus(),
                    signer: Signer::new(sk, crate::drm::channel_tag(name), cfg.segment_ms),
                    store: ManifestStore::new(store_slots(cfg.segment_ms)),
                    next_seq: cfg.first_seq,
                    fanout: None,
                    queued: Ring::new(STORE_MANIFESTS / 2),
                }
            })
            .collect();
        RootIntegrity {
            channels,
            answers: Ring::new(ANSWER_CAP),
            window: (now, 0),
            manifests_out: 0,
            answers_dropped: 0,
            misses: 0,
        }
    }

    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.channels
            .iter()
            .filter_map(|c| c.signer.poll_timeout())
            .min()
    }

    /// Whether an answer fits this second's budget (and counts it).
    fn budget(&mut self, now: Instant) -> bool {
        let ok = super::session::take(&mut self.window, ANSWERS_PER_S, now);
        self.answers_dropped += u64::from(!ok);
        ok
    }
}

impl ChannelSigning {
    /// Moves closed manifests from the signer to the store and the fan-out queue.
    fn collect(&mut self) {
        let mut buf = [0u8; MANIFEST_MAX_LEN];
        while let Some(n) = self.signer.poll_manifest(&mut buf) {
            if let Some(slot) = self.store.insert(&buf[..n]) {
                self.queued.push(slot);
            }
        }
    }
}

impl Root {
    /// The fingerprint of channel `i`'s public signing key ([`crate::drm::key_fingerprint`]),
    /// for the status page and board profiles.
    pub fn channel_key_fingerprint(&self, i: usize) -> Option<[u8; 32]> {
        let c = self.integrity.channels.get(i)?;
        Some(crate::drm::key_fingerprint(&c.public))
    }

    /// Manifests sent (to seeds and as answers) and integrity requests refused by the budget.
    pub fn integrity_counters(&self) -> (u64, u64) {
        (self.integrity.manifests_out, self.integrity.answers_dropped)
    }

    /// MANIFEST_REQs for chunks no stored manifest covers.
    pub fn manifest_misses(&self) -> u64 {
        self.integrity.misses
    }

    /// Hashes chunks of `channel` made since the last call into its signer (after scrambling
    /// them if the channel is protected, `licence.rs`).
    pub(super) fn sign_new_chunks(&mut self, now: Instant, channel: usize) {
        // Protected channels: scramble first, so the manifest hashes the chunk as carried.
        self.scramble_new_chunks(channel);
        let (Some(c), Some(sig)) = (
            self.channels.get(channel),
            self.integrity.channels.get_mut(channel),
        ) else {
            return;
        };
        let end = c.chunker.next_seq();
        // Chunks that already left the pool (a stalled caller) are skipped, never signed late.
        let mut seq = sig.next_seq.max(c.pool.window_start().unwrap_or(end));
        while seq < end {
            if let Some(r) = c.pool.get(seq) {
                sig.signer.push(now, &r.info, r.payload);
            }
            seq += 1;
        }
        sig.next_seq = end;
        sig.collect();
    }

    /// A packaged channel numbers its chunks from its file (`packaged.rs`): sign from `seq` on.
    pub(super) fn rebase_signing(&mut self, channel: usize, seq: u64) {
        if let Some(sig) = self.integrity.channels.get_mut(channel) {
            sig.next_seq = seq;
        }
    }

    /// Closes segments whose time is up (called from `handle_timeout`).
    pub(super) fn integrity_timeout(&mut self, now: Instant) {
        for i in 0..self.channels.len() {
            self.sign_new_chunks(now, i);
            if let Some(sig) = self.integrity.channels.get_mut(i) {
                sig.signer.handle_timeout(now);
                sig.collect();
            }
        }
    }

    /// Session `i` just proved its address: queue it the channel key and the manifests from the
    /// latest key frame on, so it can check the backlog it is about to fetch without asking for
    /// each (a box holds unverified chunks only briefly). At most [`WELCOME_MANIFESTS`].
    pub(super) fn welcome(&mut self, i: usize) {
        let Some(s) = self.sessions.get(i).and_then(|s| s.as_ref()) else {
            return;
        };
        let (addr, ch) = (s.addr, s.channel);
        let (Some(sig), Some(c)) = (self.integrity.channels.get(ch), self.channels.get(ch)) else {
            return;
        };
        let (mut seq, live) = (c.start_seq(), c.chunker.next_seq());
        let _ = self
            .integrity
            .answers
            .push((addr, Answer::Key { channel: ch }));
        for _ in 0..WELCOME_MANIFESTS {
            let Some(slot) = sig.store.find(seq).filter(|_| seq < live) else {
                break;
            };
            let Ok(m) = crate::drm::manifest::Manifest::parse(sig.store.slot(slot)) else {
                break;
            };
            if !self
                .integrity
                .answers
                .push((addr, Answer::Manifest { channel: ch, slot }))
            {
                break;
            }
            seq = m.first_seq + m.count() as u64;
        }
    }

    /// KEY_REQ or MANIFEST_REQ from a box.
    pub(super) fn on_integrity(&mut self, now: Instant, from: SocketAddr, msg: Message<'_>) {
        let (token, seq) = match msg {
            Message::KeyReq { token, .. } => (token, None),
            Message::ManifestReq { token, seq, .. } => (token, Some(seq)),
            _ => return,
        };
        let Some(i) = self.session_index(from, token) else {
            self.stats.ignored += 1;
            return;
        };
        let Some(channel) = self.sessions[i].as_ref().map(|s| s.channel) else {
            return;
        };
        let answer = match seq {
            None => Answer::Key { channel },
            Some(seq) => {
                let Some(slot) = self.integrity.channels[channel].store.find(seq) else {
                    self.integrity.misses += 1;
                    self.stats.ignored += 1;
                    return;
                };
                Answer::Manifest { channel, slot }
            }
        };
        if self.integrity.budget(now) && !self.integrity.answers.push((from, answer)) {
            self.integrity.answers_dropped += 1;
        }
    }

    /// The next integrity datagram: answers first, then manifest fan-out to seeds.
    pub(super) fn poll_integrity(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        while let Some((dst, a)) = self.integrity.answers.pop() {
            let ch = match a {
                Answer::Key { channel } | Answer::Manifest { channel, .. } => channel,
            };
            // No signing state for the channel (an unsigned root): nothing to answer.
            let Some(sig) = self.integrity.channels.get(ch) else {
                continue;
            };
            let len = match a {
                Answer::Key { channel } => Message::ChannelKey {
                    channel: channel as u16, // < u16::MAX, checked in Root::new
                    kind: KEY_RSA2048,
                    key: &sig.public,
                }
                .emit(buf),
                Answer::Manifest { channel, slot } => {
                    let m = Message::Manifest {
                        channel: channel as u16,
                        body: sig.store.slot(slot),
                    }
                    .emit(buf);
                    self.integrity.manifests_out += 1;
                    m
                }
            };
            if let Ok(len) = len {
                return Some(Transmit { dst, len });
            }
        }
        for ch in 0..self.integrity.channels.len() {
            if let Some(t) = self.poll_fanout(ch, buf) {
                return Some(t);
            }
        }
        None
    }

    /// Sends channel `ch`'s pending manifests to its seeds, one datagram per call.
    fn poll_fanout(&mut self, ch: usize, buf: &mut [u8]) -> Option<Transmit> {
        loop {
            let sig = &mut self.integrity.channels[ch];
            let (slot, from) = match sig.fanout {
                Some(f) => f,
                None => (sig.queued.pop()?, 0),
            };
            let next = (from..self.sessions.len()).find(|&i| {
                self.sessions[i]
                    .as_ref()
                    .is_some_and(|s| s.channel == ch && s.validated && s.down.mask != 0)
            });
            let sig = &mut self.integrity.channels[ch];
            let Some(i) = next else {
                sig.fanout = None;
                continue;
            };
            sig.fanout = Some((slot, i + 1));
            let dst = self.sessions[i].as_ref()?.addr;
            let len = Message::Manifest {
                channel: ch as u16, // < u16::MAX, checked in Root::new
                body: sig.store.slot(slot),
            }
            .emit(buf)
            .ok()?;
            self.integrity.manifests_out += 1;
            return Some(Transmit { dst, len });
        }
    }
}
