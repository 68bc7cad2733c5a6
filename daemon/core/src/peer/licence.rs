//! The box's DRM: its device identity, licences from the root, and descrambling for outputs.
//!
//! A channel is *protected* when the JOIN_ACK says so ([`crate::wire::FLAG_PROTECTED`]) or a
//! scrambled chunk reaches an output. A protected box with a [`DeviceIdentity`] sends a
//! LICENCE_REQ to the root at once, again every [`RETRY`] (doubling to [`RETRY_MAX`]) while no
//! answer comes, every [`REFUSED_RETRY`] after a refusal (so an operator's SIGHUP reload takes
//! effect within seconds), and, once licensed, when its oldest key expires — that is at each
//! rotation, a whole period before the key it will need next (a licence carries the previous,
//! current and next keys, [`crate::drm::keys`]).
//!
//! Keys live only in this struct's [`KeyTable`] (memory; never written anywhere, never printed).
//! The pool keeps chunks scrambled — they are what partners verify and what this box relays
//! whether or not it holds a key — and each output descrambles its own copy
//! ([`crate::output`]), with keystreams the box's [`Descrambler`] makes 8 chunks ahead
//! ([`crate::drm::descrambler`]; 21 KiB, allocated with this struct). Without a key an output hands out nothing, so the sink and HTTP viewers
//! get 0 bytes; [`DrmState`] says why.
//!
//! Invariants: no allocation after construction; the outstanding request's bytes are kept (≤
//! [`REQUEST_MAX`]) to authenticate the reply against; a reply that does not open under the
//! device secret is ignored and counted, never trusted. Refusals are not authenticated
//! (see [`crate::drm::licence`]): a forged one can only change the status shown until the next
//! retry, and never removes keys already held.

use super::Peer;
use crate::chunk::{ChunkFlags, ChunkInfo};
use crate::drm::descrambler::Descrambler;
use crate::drm::keys::KeyTable;
use crate::drm::licence::{self, Identity, LicenceError, Status, REQUEST_MAX};
use crate::drm::Key;
use crate::output::Descrambled;
use crate::time::Instant;
use crate::wire::{Message, FLAG_PROTECTED};
use crate::Transmit;
use core::time::Duration;

/// First wait for a licence answer before asking again.
pub const RETRY: Duration = Duration::from_secs(1);
/// Longest wait between unanswered requests.
pub const RETRY_MAX: Duration = Duration::from_secs(8);
/// Wait after a refusal before asking again.
pub const REFUSED_RETRY: Duration = Duration::from_secs(2);

/// A box's identity, provisioned in its board profile: device id and 32-byte secret.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceIdentity {
    id: [u8; licence::DEVICE_ID_MAX],
    id_len: u8,
    secret: Key,
}

impl DeviceIdentity {
    /// An identity; `None` if `id` is empty or longer than [`licence::DEVICE_ID_MAX`] bytes.
    pub fn new(id: &[u8], secret: Key) -> Option<Self> {
        if id.is_empty() || id.len() > licence::DEVICE_ID_MAX {
            return None;
        }
        let mut b = [0u8; licence::DEVICE_ID_MAX];
        b[..id.len()].copy_from_slice(id);
        Some(DeviceIdentity {
            id: b,
            id_len: id.len() as u8, // ≤ 32, checked above
            secret,
        })
    }

    /// The device id.
    pub fn id(&self) -> &[u8] {
        &self.id[..usize::from(self.id_len)]
    }

    fn identity(&self) -> Identity<'_> {
        Identity {
            device_id: self.id(),
            secret: &self.secret,
        }
    }
}

impl core::fmt::Debug for DeviceIdentity {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print the secret.
        f.debug_struct("DeviceIdentity")
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}

/// Why the box can or cannot output a channel, for `status.json`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DrmState {
    /// The channel is not scrambled.
    Clear,
    /// Licence asked for, no answer yet (or keys ran out and a renewal is under way).
    Waiting,
    /// Keys held.
    Licensed,
    /// Protected, but this box has no device identity configured.
    NoIdentity,
    /// The root refused: not entitled to this channel.
    NoLicence,
    /// The root refused: the entitlement has ended.
    Expired,
    /// The root refused: the entitlement starts later.
    NotYetValid,
    /// The root refused: the request's tag is wrong (wrong device secret).
    BadAuth,
    /// The root refused: no such device in its entitlements.
    UnknownDevice,
    /// The root refused for another reason (unknown channel, newer status code).
    Unknown,
}

impl DrmState {
    /// The name `status.json` uses.
    pub fn as_str(self) -> &'static str {
        match self {
            DrmState::Clear => "clear",
            DrmState::Waiting => "waiting",
            DrmState::Licensed => "licensed",
            DrmState::NoIdentity => "no_identity",
            DrmState::NoLicence => "no_licence",
            DrmState::Expired => "expired",
            DrmState::NotYetValid => "not_yet_valid",
            DrmState::BadAuth => "bad_auth",
            DrmState::UnknownDevice => "unknown_device",
            DrmState::Unknown => "unknown",
        }
    }
}

/// DRM counters of a box.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct DrmStats {
    /// LICENCE_REQs sent.
    pub requests: u64,
    /// Licences received and opened.
    pub granted: u64,
    /// Refusals received.
    pub refused: u64,
    /// Replies that did not open under the device secret (or answered no request of ours).
    pub bad_replies: u64,
    /// Chunks descrambled for outputs.
    pub descrambled: u64,
    /// Times an output waited on a scrambled chunk for lack of its key.
    pub no_key: u64,
}

/// The box's DRM state. See the module docs.
pub(super) struct BoxLicence {
    device: Option<DeviceIdentity>,
    tag: u32,
    protected: bool,
    state: DrmState,
    keys: KeyTable,
    unix_s: u64,
    request: [u8; REQUEST_MAX],
    req_len: usize,
    /// When to ask next (monotonic); `None` while licensed and not yet due for renewal.
    next_req: Option<Instant>,
    backoff: Duration,
    /// Unix time at which to renew while licensed.
    renew_at: u64,
    send: bool,
    key_id: u8,
    /// Keystreams made 8 chunks ahead (allocated once, here).
    descrambler: Descrambler,
    stats: DrmStats,
}

impl BoxLicence {
    pub(super) fn new(device: Option<DeviceIdentity>, channel: &[u8]) -> Self {
        BoxLicence {
            device,
            tag: crate::drm::channel_tag(channel),
            protected: false,
            state: DrmState::Clear,
            keys: KeyTable::new(),
            unix_s: 0,
            request: [0; REQUEST_MAX],
            req_len: 0,
            next_req: None,
            backoff: RETRY,
            renew_at: 0,
            send: false,
            key_id: 0,
            descrambler: Descrambler::new(),
            stats: DrmStats::default(),
        }
    }

    /// The channel turned out protected: start asking for keys.
    fn mark_protected(&mut self, now: Instant) {
        if self.protected {
            return;
        }
        self.protected = true;
        if self.device.is_some() {
            self.state = DrmState::Waiting;
            self.next_req = Some(now);
        } else {
            self.state = DrmState::NoIdentity;
        }
    }

    /// Descrambles `buf` (a copy of chunk `info`) for an output. Without its key: wait while a
    /// first licence is on its way, else skip (see [`crate::output`]).
    pub(super) fn descramble(
        &mut self,
        now: Instant,
        info: &ChunkInfo,
        buf: &mut [u8],
    ) -> Descrambled {
        if !info.flags.contains(ChunkFlags::ENCRYPTED) {
            return Descrambled::Done;
        }
        self.mark_protected(now);
        let Some(key) = self.keys.get(info.key_id, self.unix_s) else {
            self.stats.no_key += 1;
            return if self.state == DrmState::Waiting {
                Descrambled::Wait
            } else {
                Descrambled::Skip
            };
        };
        self.descrambler.descramble(buf, key, self.tag, info.seq);
        self.key_id = info.key_id;
        self.stats.descrambled += 1;
        Descrambled::Done
    }
}

impl Peer {
    /// The wall clock in unix seconds (key validity and rotation). Call it each pass before
    /// [`Peer::handle_timeout`]; until then the box counts from 0.
    pub fn handle_unix_time(&mut self, unix_s: u64) {
        self.drm.unix_s = unix_s;
    }

    /// Why this box can or cannot output its channel, and the key id last used (0: none yet).
    pub fn drm_state(&self) -> (DrmState, u8) {
        (self.drm.state, self.drm.key_id)
    }

    /// DRM counters.
    pub fn drm_stats(&self) -> DrmStats {
        self.drm.stats
    }

    /// JOIN_ACK flags from the root.
    pub(super) fn drm_on_join(&mut self, now: Instant, flags: u16) {
        if flags & FLAG_PROTECTED != 0 {
            self.drm.mark_protected(now);
        }
    }

    /// LICENCE from the root.
    pub(super) fn on_licence(&mut self, now: Instant, body: &[u8]) {
        let d = &mut self.drm;
        let Some(dev) = d.device.as_ref() else {
            d.stats.bad_replies += 1;
            return;
        };
        if d.req_len == 0 {
            d.stats.bad_replies += 1;
            return;
        }
        match licence::client_open(body, &dev.identity(), &d.request[..d.req_len]) {
            Ok(set) => {
                let mut renew: Option<u64> = None;
                for k in set.iter() {
                    d.keys.insert(*k);
                    renew = Some(renew.map_or(k.valid_until, |r| r.min(k.valid_until)));
                }
                d.stats.granted += 1;
                d.state = DrmState::Licensed;
                d.req_len = 0;
                d.backoff = RETRY;
                // Renew when the oldest key expires (the next rotation), at least a second on.
                d.renew_at = renew.unwrap_or(0).max(d.unix_s + 1);
                d.next_req = None;
            }
            Err(LicenceError::Refused(s)) => {
                d.stats.refused += 1;
                d.state = match s {
                    Status::NotEntitled => DrmState::NoLicence,
                    Status::Expired => DrmState::Expired,
                    Status::NotYetValid => DrmState::NotYetValid,
                    Status::BadAuth => DrmState::BadAuth,
                    Status::UnknownDevice => DrmState::UnknownDevice,
                    Status::Ok | Status::UnknownChannel | Status::Other(_) => DrmState::Unknown,
                };
                d.req_len = 0;
                d.next_req = Some(now + REFUSED_RETRY);
            }
            Err(_) => d.stats.bad_replies += 1,
        }
    }

    /// Timers: first request, retries, renewal, key expiry.
    pub(super) fn licence_tick(&mut self, now: Instant) {
        let d = &mut self.drm;
        if !d.protected || d.device.is_none() {
            return;
        }
        d.keys.expire(d.unix_s);
        if d.state == DrmState::Licensed {
            if d.keys.is_empty() {
                d.state = DrmState::Waiting;
                d.next_req = Some(now);
            } else if d.next_req.is_none() && d.unix_s >= d.renew_at {
                d.next_req = Some(now);
            }
        }
        if d.next_req.is_some_and(|t| now >= t) {
            d.send = true;
            d.next_req = Some(now + d.backoff);
            d.backoff = (d.backoff * 2).min(RETRY_MAX);
        }
    }

    /// When [`Peer::licence_tick`] next has work (renewals are checked on the regular tick).
    pub(super) fn licence_timeout(&self) -> Option<Instant> {
        if self.drm.send {
            return Some(self.now);
        }
        self.drm.next_req
    }

    /// The LICENCE_REQ to send, if one is due.
    pub(super) fn poll_licence(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        if !self.drm.send {
            return None;
        }
        self.drm.send = false;
        let dev = self.drm.device.as_ref()?;
        // Client nonce: 64 random bits ‖ the unix time's low 32 bits (fresh per request; the
        // licence module clears the top bit).
        let mut nonce = [0u8; 12];
        nonce[..8].copy_from_slice(&self.rng.next_u64().to_be_bytes());
        nonce[8..].copy_from_slice(&(self.drm.unix_s as u32).to_be_bytes());
        let name = &self.name[..self.name_len];
        let name = core::str::from_utf8(name).ok()?; // the name came in as a &str
        let n =
            licence::encode_request(&dev.identity(), name, nonce, &mut self.drm.request).ok()?;
        self.drm.req_len = n;
        self.drm.stats.requests += 1;
        let len = Message::LicenceReq {
            channel: self.chan.unwrap_or(0),
            body: &self.drm.request[..n],
        }
        .emit(buf)
        .ok()?;
        Some(Transmit {
            dst: self.root,
            len,
        })
    }
}
