//! The box's side of chunk integrity: nothing unverified is stored, forwarded or output.
//!
//! Every datagram passes [`Peer::screen`] before the mesh logic sees it:
//! - from a banned address: dropped;
//! - CHUNK: a duplicate or an old chunk passes unhashed (the pool refuses it anyway); one whose
//!   manifest is known waits in the batch area ([`BATCH`] slots) and is hashed with the others
//!   side by side when it is full, or after [`BATCH_WAIT`] with fewer (at 8 Mbit/s eight chunks
//!   come within ≈ 11 ms; one hash at a time made the whole check 1.5× dearer on x86,
//!   docs/BENCHMARKS.md); otherwise the [`Verifier`] decides. Valid → on to the pool; Unknown (no manifest yet) → held in the pending
//!   area ([`PeerConfig::pending_chunks`](super::PeerConfig::pending_chunks) slots); Forged → dropped,
//!   and a partner that sent it is dropped and banned for [`PeerConfig::ban`](super::PeerConfig::ban)
//!   — the miss table then fetches the chunk elsewhere; Stale → dropped;
//! - MANIFEST: verified (one signature check per segment), kept in a [`ManifestStore`], forwarded
//!   once to every child, and releases the pending chunks it covers;
//! - MANIFEST_REQ from a partner: answered from the store; REQUEST: at most
//!   [`PeerConfig::max_requests_per_s`](super::PeerConfig::max_requests_per_s) chunks per partner per
//!   second are honoured, and a partner asking for four times that is banned;
//! - MAP claiming chunks far beyond anything the root has made (a lying map that would attract
//!   our requests) is ignored and counted;
//! - a parent that claims chunks of a substream it was asked for and sends none of them within
//!   [`SILENT_PARENT`] (a lying map) is dropped and banned;
//! - CHANNEL_KEY from the root (an RSA modulus): pinned at first sight, or, when the board profile
//!   names the key by its fingerprint ([`crate::drm::key_fingerprint`]), only the key with that
//!   fingerprint; any other key is ignored and counted.
//!
//! A pending chunk whose manifest has not come after [`FETCH_AFTER`] triggers a MANIFEST_REQ to
//! whoever sent the chunk, after twice that one to the root (one request per [`ASK_GAP`], for the
//! oldest chunk due, so one answer releases a segment); after [`PeerConfig::pending_hold`](super::PeerConfig::pending_hold) it
//! is dropped (counted) and the miss table repairs it.
//!
//! Invariants: the pending area, ban list, request meters, store and output queue are sized at
//! construction; nothing here allocates per datagram; a chunk is hashed at most once per arrival.

use super::{Parent, Peer};
use crate::chunk::{ChunkInfo, CHUNK_MAX};
use crate::drm::manifest::MANIFEST_MAX_LEN;
use crate::drm::store::ManifestStore;
use crate::drm::verify::{Verdict, Verifier};
use crate::ring::Ring;
use crate::time::Instant;
use crate::upload::SUBSTREAMS;
use crate::wire::{bitmap_seqs, Message, KEY_RSA2048};
use crate::Transmit;
use alloc::vec;
use alloc::vec::Vec;
use core::net::SocketAddr;
use core::time::Duration;

/// Addresses banned at once; a new ban replaces the one that ends first.
pub const BANS: usize = 16;
/// Manifests kept for forwarding and for partners' MANIFEST_REQ.
pub const STORE_MANIFESTS: usize = 8;
/// Manifests that arrived before the channel key, checked once it comes.
const EARLY_MANIFESTS: usize = 4;
/// A held chunk's manifest is asked for after this long.
pub const FETCH_AFTER: Duration = Duration::from_millis(50);
/// Least time between two MANIFEST_REQs.
pub const ASK_GAP: Duration = Duration::from_millis(5);
/// Interval of KEY_REQ while the key is unknown.
const KEY_RETRY: Duration = Duration::from_millis(300);
/// Integrity messages waiting to be sent.
const OUT_CAP: usize = 64;
/// Verified-hash window of the verifier, in chunks (16 B each).
const VERIFY_WINDOW: usize = 4096;
/// How long a parent that claimed chunks and sent none is shunned.
const SILENT_PARENT_BAN: Duration = Duration::from_secs(10);
/// A parent that sends nothing of what it claims for this long after a SUBSCRIBE is lying.
pub const SILENT_PARENT: Duration = Duration::from_millis(600);
/// A MAP claiming a chunk this far past the newest we know of is a lie.
const MAP_SLACK: u64 = 1024;
/// Chunks whose manifest is known, hashed side by side (AVX2 lanes on x86, NEON on ARM)...
const BATCH: usize = tvmesh_crypto::MANY;
/// ... as soon as [`BATCH`] have come, or when the first has waited this long: the most a chunk
/// is delayed per hop.
pub const BATCH_WAIT: Duration = Duration::from_millis(8);

/// Integrity counters for the status page.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct IntegrityStats {
    /// Whether the channel's public key is known (pinned or from the board profile).
    pub key_known: bool,
    /// Chunks that matched their signed hash.
    pub valid: u64,
    /// Chunks that did not: dropped.
    pub forged: u64,
    /// Chunks held for their manifest.
    pub held: u64,
    /// Batches of chunks whose manifest was known, hashed together: (full ones, ones released by
    /// `BATCH_WAIT` with fewer).
    pub batches: [u64; 2],
    /// Held chunks dropped (no manifest in time, or the area was full).
    pub held_dropped: u64,
    /// … of which: no manifest within `pending_hold`.
    pub held_expired: u64,
    /// … of which: the play head passed them first.
    pub held_passed: u64,
    /// … of which: pushed out of a full pending area.
    pub held_overflow: u64,
    /// MANIFEST_REQs sent (to partners and the root).
    pub manifest_reqs: u64,
    /// Manifests accepted (signature checked).
    pub manifests: u64,
    /// Manifests rejected (bad signature, wrong channel, malformed).
    pub manifests_rejected: u64,
    /// Partners banned.
    pub bans: u64,
    /// Datagrams dropped because their sender is banned.
    pub banned_drops: u64,
    /// Requested chunks refused by the per-partner limit.
    pub requests_refused: u64,
    /// MAPs ignored as lies.
    pub maps_ignored: u64,
    /// Parents dropped and banned for claiming chunks they never sent.
    pub silent_parents: u64,
    /// CHANNEL_KEY messages with a key other than the pinned one.
    pub key_mismatch: u64,
}

#[derive(Clone)]
struct Held {
    used: bool,
    info: ChunkInfo,
    from: SocketAddr,
    sent_us: u32,
    since: Instant,
    /// MANIFEST_REQs sent for it: the first to its sender, the second to the root.
    asked: u8,
    len: usize,
    payload: [u8; CHUNK_MAX],
}

#[derive(Copy, Clone, Debug)]
enum Out {
    Manifest { slot: usize },
    ManifestReq { token: u32, seq: u64 },
    KeyReq { token: u32 },
}

/// The box's integrity state (see the module docs).
pub(super) struct BoxIntegrity {
    tag: u32,
    /// Fingerprint of the only key to accept (board profile).
    expected: Option<[u8; 32]>,
    /// Fingerprint of the key in use.
    pinned: Option<[u8; 32]>,
    verifier: Option<Verifier>,
    store: ManifestStore,
    early: ManifestStore,
    held: Vec<Held>,
    /// Chunks whose manifest is known, waiting to be hashed together ([`BATCH`] slots), and since
    /// when the first of them waits.
    batch: Vec<Held>,
    batch_since: Option<Instant>,
    /// The verdict of each `held` (or `batch`) slot in [`Peer::release`] (sized for both).
    verdicts: Vec<Verdict>,
    bans: [(Option<SocketAddr>, Instant); BANS],
    /// Per-address request meter: (address, window start, chunks asked).
    meters: Vec<(Option<SocketAddr>, Instant, u32)>,
    out: Ring<(SocketAddr, Out)>,
    next_key_req: Instant,
    /// No MANIFEST_REQ before this.
    ask_gate: Instant,
    pub(super) stats: IntegrityStats,
}

impl BoxIntegrity {
    pub(super) fn new(
        channel: &[u8],
        key: Option<[u8; 32]>,
        pending: usize,
        meters: usize,
        enabled: bool,
    ) -> Self {
        // Checking off (simulations): keep the fixed state minimal; a simulated swarm of 100,000
        // boxes cannot carry 200 KB of unused hold buffers each.
        let (pending, stores) = if enabled {
            (pending, (STORE_MANIFESTS, EARLY_MANIFESTS))
        } else {
            (1, (1, 1))
        };
        let tag = crate::drm::channel_tag(channel);
        let empty = Held {
            used: false,
            info: ChunkInfo {
                seq: 0,
                flags: crate::chunk::ChunkFlags::NONE,
                key_id: 0,
                stamp_ms: 0,
            },
            from: SocketAddr::from(([0, 0, 0, 0], 0)),
            sent_us: 0,
            since: Instant::ZERO,
            asked: 0,
            len: 0,
            payload: [0; CHUNK_MAX],
        };
        BoxIntegrity {
            tag,
            expected: key,
            pinned: None,
            verifier: None,
            store: ManifestStore::new(stores.0),
            early: ManifestStore::new(stores.1),
            held: vec![empty.clone(); pending.max(1)],
            batch: vec![empty; if enabled { BATCH } else { 1 }],
            batch_since: None,
            verdicts: vec![Verdict::Unknown; pending.max(BATCH)],
            bans: [(None, Instant::ZERO); BANS],
            meters: vec![(None, Instant::ZERO, 0); meters.max(1)],
            out: Ring::new(OUT_CAP),
            next_key_req: Instant::ZERO,
            ask_gate: Instant::ZERO,
            stats: IntegrityStats::default(),
        }
    }

    /// Sets the channel key (an RSA modulus) if it is the board profile's, when that names one;
    /// false if not, or if it is not a 2048-bit odd modulus.
    fn pin(&mut self, modulus: &[u8]) -> bool {
        let fingerprint = crate::drm::key_fingerprint(modulus);
        if self.expected.is_some_and(|e| e != fingerprint) {
            return false;
        }
        let Ok(modulus) = modulus.try_into() else {
            return false;
        };
        match Verifier::new(modulus, self.tag, VERIFY_WINDOW) {
            Ok(v) => {
                self.verifier = Some(v);
                self.pinned = Some(fingerprint);
                self.stats.key_known = true;
                true
            }
            Err(_) => false,
        }
    }

    fn banned(&self, a: SocketAddr, now: Instant) -> bool {
        self.bans
            .iter()
            .any(|&(b, until)| b == Some(a) && now < until)
    }

    fn ban(&mut self, a: SocketAddr, now: Instant, for_: Duration) {
        let until = now + for_;
        if self.banned(a, now) {
            return; // already banned (a chunk it sent before was held)
        }
        self.stats.bans += 1;
        // The slot whose ban ends first (free slots have ended at ZERO).
        if let Some(slot) = self.bans.iter_mut().min_by_key(|b| b.1) {
            *slot = (Some(a), until);
        }
    }

    /// Counts `n` requested chunks from `a`; how many this second so far (saturating).
    fn meter(&mut self, a: SocketAddr, now: Instant, n: u32) -> u32 {
        let i = match self.meters.iter().position(|m| m.0 == Some(a)) {
            Some(i) => i,
            None => {
                // Reuse the meter idle longest.
                let i = (0..self.meters.len())
                    .min_by_key(|&i| self.meters[i].1)
                    .unwrap_or(0);
                self.meters[i] = (Some(a), now, 0);
                i
            }
        };
        let m = &mut self.meters[i];
        if now.saturating_since(m.1) >= Duration::from_secs(1) {
            m.1 = now;
            m.2 = 0;
        }
        m.2 = m.2.saturating_add(n);
        m.2
    }

    fn hold(&mut self, now: Instant, from: SocketAddr, info: ChunkInfo, sent_us: u32, p: &[u8]) {
        if self.held.iter().any(|h| h.used && h.info.seq == info.seq) {
            return;
        }
        let i = match self.held.iter().position(|h| !h.used) {
            Some(i) => i,
            None => {
                self.stats.held_dropped += 1;
                self.stats.held_overflow += 1;
                (0..self.held.len())
                    .min_by_key(|&i| self.held[i].since)
                    .unwrap_or(0)
            }
        };
        let h = &mut self.held[i];
        h.used = true;
        h.info = info;
        h.from = from;
        h.sent_us = sent_us;
        h.since = now;
        h.asked = 0;
        h.len = p.len(); // ≤ CHUNK_MAX: the wire parser checked it
        h.payload[..p.len()].copy_from_slice(p);
        self.stats.held += 1;
    }

    /// The batch area (`batch`) or the pending area.
    fn area(&self, batch: bool) -> &[Held] {
        if batch {
            &self.batch
        } else {
            &self.held
        }
    }

    fn area_mut(&mut self, batch: bool) -> &mut [Held] {
        if batch {
            &mut self.batch
        } else {
            &mut self.held
        }
    }

    /// Puts a chunk whose manifest is known in the batch area; true when the area is full.
    fn batch(
        &mut self,
        now: Instant,
        from: SocketAddr,
        info: ChunkInfo,
        sent_us: u32,
        p: &[u8],
    ) -> bool {
        if !self.batch.iter().any(|h| h.used && h.info.seq == info.seq) {
            // A free slot exists: the area is released as soon as it is full.
            if let Some(h) = self.batch.iter_mut().find(|h| !h.used) {
                h.used = true;
                h.info = info;
                h.from = from;
                h.sent_us = sent_us;
                h.since = now;
                h.len = p.len(); // ≤ CHUNK_MAX: the wire parser checked it
                h.payload[..p.len()].copy_from_slice(p);
                self.batch_since.get_or_insert(now);
            }
        }
        self.batch.iter().all(|h| h.used)
    }

    /// Feeds a manifest to the verifier; the store slot if it is new and valid.
    fn accept_manifest(&mut self, body: &[u8]) -> Option<usize> {
        let Some(v) = self.verifier.as_mut() else {
            self.early.insert(body);
            return None;
        };
        let before = v.stats().manifests;
        match v.handle_manifest(body) {
            Ok(_) if v.stats().manifests > before => {
                self.stats.manifests += 1;
                self.store.insert(body)
            }
            Ok(_) => None,
            Err(_) => {
                self.stats.manifests_rejected += 1;
                None
            }
        }
    }
}

impl Peer {
    /// The integrity gate (see the module docs): `Some(msg)` to go on with, `None` if consumed.
    pub(super) fn screen<'a>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        msg: Message<'a>,
    ) -> Option<Message<'a>> {
        if !self.cfg.verify {
            return Some(msg);
        }
        let from_root = from == self.root;
        if !from_root && self.integrity.banned(from, now) {
            self.integrity.stats.banned_drops += 1;
            self.stats.ignored += 1;
            return None;
        }
        match msg {
            Message::Chunk {
                info,
                sent_us,
                payload,
                ..
            } => {
                if info.seq < self.play || self.pool.contains(info.seq) {
                    return Some(msg); // counted as a duplicate, never stored: no hash needed
                }
                let known = self.integrity.verifier.as_ref();
                if known.is_some_and(|v| v.covers(info.seq))
                    && (from_root || self.partner_index(from).is_some())
                {
                    if self.integrity.batch(now, from, info, sent_us, payload) {
                        self.release(now, true);
                    }
                    return None;
                }
                let verdict = match self.integrity.verifier.as_mut() {
                    Some(v) => v.check(&info, payload),
                    None => Verdict::Unknown,
                };
                match verdict {
                    Verdict::Valid => {
                        self.integrity.stats.valid += 1;
                        return Some(msg);
                    }
                    Verdict::Unknown if from_root || self.partner_index(from).is_some() => {
                        self.integrity.hold(now, from, info, sent_us, payload)
                    }
                    Verdict::Forged => self.on_forged(now, from),
                    Verdict::Unknown | Verdict::Stale => self.stats.ignored += 1,
                }
                None
            }
            Message::Manifest { channel, body } => {
                if self.chan == Some(channel) && (from_root || self.partner_index(from).is_some()) {
                    if let Some(slot) = self.integrity.accept_manifest(body) {
                        self.forward_manifest(from, slot);
                        self.release_held(now);
                    }
                } else {
                    self.stats.ignored += 1;
                }
                None
            }
            Message::ChannelKey { kind, key, .. } if from_root => {
                let pinned = self.integrity.pinned;
                match pinned {
                    Some(k) if k != crate::drm::key_fingerprint(key) => {
                        self.integrity.stats.key_mismatch += 1
                    }
                    Some(_) => {}
                    None if kind == KEY_RSA2048 && self.integrity.pin(key) => {
                        // Manifests that came before the key are checked now.
                        for i in 0..EARLY_MANIFESTS {
                            let mut buf = [0u8; MANIFEST_MAX_LEN];
                            let b = self.integrity.early.slot(i);
                            if b.is_empty() {
                                continue;
                            }
                            buf[..b.len()].copy_from_slice(b);
                            if let Some(slot) = self.integrity.accept_manifest(&buf[..b.len()]) {
                                self.forward_manifest(from, slot);
                            }
                        }
                        self.release_held(now);
                    }
                    None => self.integrity.stats.key_mismatch += 1,
                }
                None
            }
            Message::ManifestReq { token, seq, .. } => {
                if self.partner_by_token(from, token).is_some()
                    && self.integrity.meter(from, now, 1) <= self.cfg.max_requests_per_s
                {
                    if let Some(slot) = self.integrity.store.find(seq) {
                        self.integrity.out.push((from, Out::Manifest { slot }));
                    }
                } else {
                    self.stats.ignored += 1;
                }
                None
            }
            Message::Request { base, map, .. } if self.partner_index(from).is_some() => {
                let n = bitmap_seqs(base, map).count() as u32; // ≤ 8 × MAX_MAP
                let asked = self.integrity.meter(from, now, n);
                let limit = self.cfg.max_requests_per_s;
                if asked > limit.saturating_mul(4) {
                    if let Some(i) = self.partner_index(from) {
                        self.drop_partner(i);
                    }
                    self.integrity.ban(from, now, self.cfg.ban);
                }
                if asked > limit {
                    self.integrity.stats.requests_refused += u64::from(n);
                    return None;
                }
                Some(msg)
            }
            Message::Map { base, map, .. } if !from_root => {
                let known = self.highest.unwrap_or(self.play);
                let top = bitmap_seqs(base, map).last().unwrap_or(base);
                if top > known.saturating_add(MAP_SLACK) && self.highest.is_some() {
                    self.integrity.stats.maps_ignored += 1;
                    return None;
                }
                Some(msg)
            }
            _ => Some(msg),
        }
    }

    /// A forged chunk from `from`: a partner is dropped and banned; the root is never banned.
    fn on_forged(&mut self, now: Instant, from: SocketAddr) {
        self.integrity.stats.forged += 1;
        if from == self.root {
            return;
        }
        if let Some(i) = self.partner_index(from) {
            self.drop_partner(i);
        }
        self.integrity.ban(from, now, self.cfg.ban);
    }

    /// Queues manifest `slot` to every child except `from`.
    fn forward_manifest(&mut self, from: SocketAddr, slot: usize) {
        for p in self.partners.iter() {
            if p.up && p.down.mask != 0 && p.addr != from {
                self.integrity.out.push((p.addr, Out::Manifest { slot }));
            }
        }
    }

    /// Passes held chunks that now verify on to the mesh; drops forged ones.
    /// The held chunks are hashed together ([`Verifier::check_many`]: side by side where the CPU
    /// allows), then handled one by one in slot order. The verdicts stay those of the slots'
    /// contents: only [`Peer::screen`] holds chunks, and nothing this loop calls reaches it.
    fn release_held(&mut self, now: Instant) {
        self.release(now, false);
    }

    /// Checks the chunks of the pending area, or of the batch area (`batch`), side by side and
    /// passes on those that are valid.
    fn release(&mut self, now: Instant, batch: bool) {
        let b = &mut self.integrity;
        let Some(v) = b.verifier.as_mut() else {
            return;
        };
        let area = if batch {
            let full = b.batch.iter().all(|h| h.used);
            b.stats.batches[usize::from(!full)] += 1;
            b.batch_since = None;
            &b.batch
        } else {
            &b.held
        };
        v.check_many(
            area.iter()
                .map(|h| h.used.then(|| (h.info, &h.payload[..h.len]))),
            &mut b.verdicts,
        );
        let mut payload = [0u8; CHUNK_MAX];
        for i in 0..area.len() {
            let h = &self.integrity.area(batch)[i];
            if !h.used {
                continue;
            }
            let (info, from, len) = (h.info, h.from, h.len);
            let verdict = self.integrity.verdicts[i]; // sized with `held` in `new`
            if verdict == Verdict::Unknown {
                continue;
            }
            payload[..len].copy_from_slice(&h.payload[..len]);
            // The hold is not network delay: report the chunk as if it came when it arrived.
            let held_us = now.saturating_since(h.since).as_micros() as u32;
            let sent_us = h.sent_us.wrapping_add(held_us);
            self.integrity.area_mut(batch)[i].used = false;
            match verdict {
                Verdict::Valid => {
                    self.integrity.stats.valid += 1;
                    let Some(channel) = self.chan else { return };
                    let msg = Message::Chunk {
                        channel,
                        info,
                        sent_us,
                        payload: &payload[..len],
                    };
                    let dlen = crate::wire::CHUNK_HEADER_LEN + len;
                    if from == self.root {
                        self.on_root(now, msg, dlen);
                    } else {
                        self.on_partner(now, from, msg, dlen);
                    }
                }
                Verdict::Forged => self.on_forged(now, from),
                Verdict::Unknown | Verdict::Stale => {}
            }
        }
    }

    /// A parent that claimed chunks of a substream (its map) and then delivered none of them for
    /// [`SILENT_PARENT`] after we subscribed is lying: dropped and banned like a forger.
    fn drop_silent_parents(&mut self, now: Instant) {
        for s in 0..SUBSTREAMS {
            let Parent::Partner(t) = self.parents[s] else {
                continue;
            };
            let since = self.parent_since[s];
            let have = self.sub_seen[s].unwrap_or(self.play);
            let liar = self.partners.iter().position(|p| {
                p.token == t
                    && now.saturating_since(since) >= SILENT_PARENT
                    && p.sub_top[s] > have + 2 * SUBSTREAMS as u64
                    && p.last_chunk[s].is_none_or(|c| c < since)
            });
            if let Some(i) = liar {
                let a = self.partners[i].addr;
                self.integrity.stats.silent_parents += 1;
                self.drop_partner(i);
                // Short: an honest parent whose SUBSCRIBE was lost looks the same once.
                self.integrity.ban(a, now, SILENT_PARENT_BAN);
            }
        }
    }

    /// Timers: manifest fetches for held chunks, expiry of held chunks, key requests, silent
    /// parents.
    /// Whether the channel's key is known (chunks can be checked as they come).
    pub(super) fn integrity_ready(&self) -> bool {
        self.integrity.verifier.is_some()
    }

    pub(super) fn integrity_tick(&mut self, now: Instant) {
        if !self.cfg.verify {
            return;
        }
        self.drop_silent_parents(now);
        if self
            .integrity
            .batch_since
            .is_some_and(|t| now >= t + BATCH_WAIT)
        {
            self.release(now, true);
        }
        let root_token = self.root_token();
        if self.integrity.verifier.is_none() && now >= self.integrity.next_key_req {
            if let Some(token) = root_token {
                self.integrity.next_key_req = now + KEY_RETRY;
                self.integrity.out.push((self.root, Out::KeyReq { token }));
            }
        }
        let fetching = self.integrity.verifier.is_some();
        let mut due: Option<usize> = None;
        for i in 0..self.integrity.held.len() {
            let h = &self.integrity.held[i];
            if !h.used {
                continue;
            }
            let age = now.saturating_since(h.since);
            if age >= self.cfg.pending_hold || h.info.seq < self.play {
                let st = &mut self.integrity.stats;
                if h.info.seq < self.play {
                    st.held_passed += 1;
                } else {
                    st.held_expired += 1;
                }
                self.integrity.held[i].used = false;
                st.held_dropped += 1;
            } else if fetching
                && h.asked < 2
                && age >= FETCH_AFTER * u32::from(h.asked + 1)
                && due.is_none_or(|d| h.info.seq < self.integrity.held[d].info.seq)
            {
                due = Some(i);
            }
        }
        // One MANIFEST_REQ per ASK_GAP, for the oldest chunk due: its answer releases the rest of
        // its segment, and the next request names the next segment still missing.
        if let (Some(i), true) = (due, now >= self.integrity.ask_gate) {
            let h = &self.integrity.held[i];
            let seq = h.info.seq;
            let from = if h.asked == 0 { h.from } else { self.root };
            let token = if from == self.root {
                root_token
            } else {
                self.partner_index(from).map(|j| self.partners[j].token)
            };
            self.integrity.held[i].asked += 1;
            self.integrity.ask_gate = now + ASK_GAP;
            if let Some(token) = token {
                self.integrity.stats.manifest_reqs += 1;
                self.integrity
                    .out
                    .push((from, Out::ManifestReq { token, seq }));
            }
        }
    }

    /// When [`Peer::integrity_tick`] next has work.
    pub(super) fn integrity_timeout(&self) -> Option<Instant> {
        if !self.cfg.verify {
            return None;
        }
        let held = self
            .integrity
            .held
            .iter()
            .filter(|h| h.used)
            .map(|h| {
                let fetch = h.asked < 2 && self.integrity.verifier.is_some();
                if fetch {
                    (h.since + FETCH_AFTER * u32::from(h.asked + 1)).max(self.integrity.ask_gate)
                } else {
                    h.since + self.cfg.pending_hold
                }
            })
            .min();
        let key = (self.integrity.verifier.is_none() && self.root_token().is_some())
            .then_some(self.integrity.next_key_req);
        let batch = self.integrity.batch_since.map(|t| t + BATCH_WAIT);
        crate::time::earliest(crate::time::earliest(held, key), batch)
    }

    /// The next integrity datagram (manifests to children, requests).
    pub(super) fn poll_integrity(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        let channel = self.chan?;
        while let Some((dst, o)) = self.integrity.out.pop() {
            let m = match o {
                Out::Manifest { slot } => Message::Manifest {
                    channel,
                    body: self.integrity.store.slot(slot),
                },
                Out::ManifestReq { token, seq } => Message::ManifestReq {
                    channel,
                    token,
                    seq,
                },
                Out::KeyReq { token } => Message::KeyReq { channel, token },
            };
            if let Ok(len) = m.emit(buf) {
                return Some(Transmit { dst, len });
            }
        }
        None
    }

    /// The fingerprint of the channel's public signing key, once pinned.
    pub fn channel_key(&self) -> Option<[u8; 32]> {
        self.integrity.pinned
    }

    /// Integrity counters.
    pub fn integrity_stats(&self) -> IntegrityStats {
        self.integrity.stats
    }

    /// Whether `a` is banned now (candidates from PEERS are skipped while they are).
    pub(super) fn is_banned(&self, a: SocketAddr) -> bool {
        self.integrity.banned(a, self.now)
    }
}
