//! Shell glue for chunk integrity (issue 6): the root's signing seed, key logging, status.
//!
//! Invariant: the signing seed lives only in memory (from config, or random per start); public
//! keys are logged once at start so an operator can copy them into board profiles
//! (`channel_key`).

use crate::config::integrity::to_hex;
use crate::config::IntegrityConfig;
use crate::status::IntegrityStatus;
use tvmesh_core::peer::Peer;
use tvmesh_core::root::{ChannelSpec, Root};

/// The master signing seed: from config, else 32 random bytes (logged as a warning: boxes that
/// pinned the previous keys must restart, so production roots set `sign_seed`).
pub fn sign_seed(cfg: &IntegrityConfig) -> [u8; 32] {
    if let Some(s) = cfg.sign_seed {
        return s;
    }
    let mut b = [0u8; 32];
    let got = rustix::rand::getrandom(&mut b, rustix::rand::GetRandomFlags::empty());
    if got != Ok(32) {
        // No kernel randomness: fall back to the clock and pid (weak, and said so).
        log::error!("getrandom failed ({got:?}); signing seed from the clock: set sign_seed");
        b[..8].copy_from_slice(&crate::clock::unix_micros().to_le_bytes());
        b[8..12].copy_from_slice(&std::process::id().to_le_bytes());
    }
    log::warn!("no sign_seed in config: channel signing keys are new for this run");
    b
}

/// Logs each channel's public signing key.
pub fn log_keys(root: &Root, specs: &[ChannelSpec<'_>]) {
    for (i, c) in specs.iter().enumerate() {
        if let Some(k) = root.channel_public_key(i) {
            log::info!("channel {} signing key {}", c.name, to_hex(&k));
        }
    }
}

/// The root's integrity block for channel `i`.
pub fn root_integrity_status(root: &Root, i: usize) -> Option<IntegrityStatus> {
    let key = root.channel_public_key(i)?;
    let (manifests, refused) = root.integrity_counters();
    Some(IntegrityStatus {
        key: to_hex(&key),
        manifests,
        manifest_misses: root.manifest_misses(),
        requests_refused: refused,
        ..IntegrityStatus::default()
    })
}

/// The box's integrity block.
pub fn integrity_status(peer: &Peer) -> IntegrityStatus {
    let s = peer.integrity_stats();
    IntegrityStatus {
        key: peer.channel_key().map(|k| to_hex(&k)).unwrap_or_default(),
        manifests: s.manifests,
        valid: s.valid,
        forged: s.forged,
        held_dropped: s.held_dropped,
        held_expired: s.held_expired,
        held_passed: s.held_passed,
        held_overflow: s.held_overflow,
        manifest_reqs: s.manifest_reqs,
        bans: s.bans,
        requests_refused: s.requests_refused,
        manifest_misses: 0,
    }
}
