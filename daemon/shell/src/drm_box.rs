//! Shell glue for chunk integrity and DRM (issue 6): the root's signing seed, key logging,
//! protected channels, the entitlements file (loaded at start, reloaded on SIGHUP), the box's
//! device identity, status. The root's half is built only with the cargo feature `root`.
//!
//! Invariants: the signing seed, key seeds, device secret and channel keys live only in memory
//! (from config, or random per start) and are never logged; public key fingerprints are logged once at start
//! so an operator can copy them into board profiles (`channel_key`). A bad entitlements file stops
//! a starting root with a message naming the line; on reload it is logged and the previous
//! entitlements stay in force.

use crate::config::integrity::to_hex;
#[cfg(feature = "root")]
use crate::config::ChannelConfig;
use crate::config::IntegrityConfig;
use crate::status::{DrmStatus, IntegrityStatus};
#[cfg(feature = "root")]
use std::{io, path::Path};
#[cfg(feature = "root")]
use tvmesh_core::drm::entitlements::Entitlements;
use tvmesh_core::peer::{DeviceIdentity, DrmState, Peer};
#[cfg(feature = "root")]
use tvmesh_core::root::{ChannelSpec, Root};

/// Most devices an entitlements file may list (about 200 bytes of memory each).
#[cfg(feature = "root")]
pub const ENTITLEMENTS_MAX: usize = 100_000;

/// Makes the configured channels protected (after `Root::new` and `handle_unix_time`).
#[cfg(feature = "root")]
pub fn protect_channels(root: &mut Root, channels: &[ChannelConfig], master: &[u8; 32]) {
    for (i, c) in channels.iter().enumerate() {
        let Some(p) = &c.protect else { continue };
        let seed = p.seed.unwrap_or_else(|| {
            tvmesh_core::drm::channel_scrambling_seed(master, c.name.as_bytes())
        });
        // rotate_s ≥ 1, checked by the config parser.
        if root.protect(i, seed, p.rotate_s).is_ok() {
            log::info!(
                "channel {} is protected (keys rotate every {} s)",
                c.name,
                p.rotate_s
            );
        }
    }
}

/// Sets up the channels fed by a packaged source with their key files (after `Root::new`).
#[cfg(feature = "root")]
pub fn packaged_channels(root: &mut Root, channels: &[ChannelConfig]) {
    for (i, c) in channels.iter().enumerate() {
        if let Some(k) = &c.packaged_keys {
            root.ingest_packaged(i, k);
            log::info!(
                "channel {} plays a packaged stream ({} keys, rotating every {} s)",
                c.name,
                k.keys().len(),
                k.rotate_s
            );
        }
    }
}

/// One item from a packaged source: the header (checked against the channel) or a record.
/// (A file's header and records were also checked with the config, before the start.)
/// A refused record is logged (the first at warn, later ones at debug) and counted.
#[cfg(feature = "root")]
pub fn feed_packaged(root: &mut Root, now: tvmesh_core::time::Instant, i: usize, b: &[u8]) {
    if let Err(e) = root.handle_packaged(now, i, b) {
        let refused = root.packaged_stats(i).map_or(0, |s| s.refused);
        if refused <= 1 {
            log::warn!("packaged source of channel {i}: {e} (refused; more at debug level)");
        } else {
            log::debug!("packaged source of channel {i}: {e} ({refused} refused)");
        }
    }
}

/// Reads and parses the entitlements file.
#[cfg(feature = "root")]
pub fn load_entitlements(path: &Path) -> io::Result<Entitlements> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| io::Error::new(e.kind(), format!("entitlements {}: {e}", path.display())))?;
    let e = Entitlements::parse(&text, ENTITLEMENTS_MAX).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("entitlements {}: {e}", path.display()),
        )
    })?;
    log::info!("entitlements {}: {} device(s)", path.display(), e.len());
    Ok(e)
}

/// SIGHUP: reloads the entitlements file into the root; a bad file keeps the old entitlements.
#[cfg(feature = "root")]
pub fn reload_entitlements(root: &mut Root, cfg: &IntegrityConfig) {
    let Some(path) = &cfg.entitlements else {
        log::info!("SIGHUP: no entitlements file configured");
        return;
    };
    match load_entitlements(path) {
        Ok(e) => root.set_entitlements(e),
        Err(e) => log::error!("SIGHUP: {e}; keeping the previous entitlements"),
    }
}

/// The box's device identity from config / board profile.
pub fn identity(cfg: &IntegrityConfig) -> Option<DeviceIdentity> {
    let (id, secret) = (cfg.device_id.as_ref()?, cfg.device_secret?);
    DeviceIdentity::new(id.as_bytes(), secret) // 1..=32 bytes, checked by the config parser
}

/// The box's DRM block.
pub fn drm_status(peer: &Peer) -> DrmStatus {
    let (state, key_id) = peer.drm_state();
    DrmStatus {
        state: state.as_str(),
        key_id: if state == DrmState::Clear { 0 } else { key_id },
    }
}

/// The root's DRM block for channel `i` (protected channels only).
#[cfg(feature = "root")]
pub fn root_drm_status(root: &Root, i: usize) -> Option<DrmStatus> {
    root.current_key_id(i).map(|key_id| DrmStatus {
        state: "protected",
        key_id,
    })
}

/// The master signing seed: from config, else 32 random bytes (logged as a warning: boxes that
/// pinned the previous keys must restart, so production roots set `sign_seed`).
#[cfg(feature = "root")]
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

/// Logs each channel's public signing key fingerprint (what board profiles set as `channel_key`).
#[cfg(feature = "root")]
pub fn log_keys(root: &Root, specs: &[ChannelSpec<'_>]) {
    for (i, c) in specs.iter().enumerate() {
        if let Some(k) = root.channel_key_fingerprint(i) {
            log::info!("channel {} signing key sha256 {}", c.name, to_hex(&k));
        }
    }
}

/// The root's integrity block for channel `i`.
#[cfg(feature = "root")]
pub fn root_integrity_status(root: &Root, i: usize) -> Option<IntegrityStatus> {
    let key = root.channel_key_fingerprint(i)?;
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
