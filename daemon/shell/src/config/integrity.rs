//! Chunk-integrity and DRM settings (issue 6). All optional.
//!
//! | key | role | value | default |
//! |---|---|---|---|
//! | `sign_seed` | root | 64 hex digits: master seed of every channel's RSA-2048 signing key | random at each start (boxes that pinned the old keys must restart) |
//! | `segment_ms` | root | longest signed segment, 10–1000 ms (a box holds a chunk at most about this long for its manifest) | 100 |
//! | `channel_key` | box | 64 hex digits: SHA-256 fingerprint of the channel's public signing key (board profile; the root logs it at start): the box accepts only the root key with that fingerprint; when absent the root's is pinned at first sight | none |
//! | `entitlements` | root | path of the operator's entitlements file (`tvmesh_core::drm::entitlements`), reloaded on SIGHUP | none: every licence request is refused |
//! | `device_id` | box | this box's device id, 1–32 bytes without spaces (board profile) | none: protected channels are relayed, not output |
//! | `device_secret` | box | 64 hex digits: the device secret (board profile; required with `device_id`) | none |
//!
//! Channel parts (root, in `--channel`): `protect=yes` (key seed derived from `sign_seed` and the
//! channel name, so a root restarted with the same `sign_seed` keeps its keys) or `protect=` 64 hex
//! digits (the channel's key seed); `rotate_s=N` key period, 1–86400 s (default 60; only with
//! `protect`).
//!
//! Invariant: every value is checked here; an error names the key and the value.

use super::{err, last, num, ConfigError, Setting};

/// Integrity settings. See the module documentation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IntegrityConfig {
    pub sign_seed: Option<[u8; 32]>,
    pub segment_ms: Option<u32>,
    pub channel_key: Option<[u8; 32]>,
    pub entitlements: Option<std::path::PathBuf>,
    pub device_id: Option<String>,
    pub device_secret: Option<[u8; 32]>,
}

/// A protected channel's key seed (`None`: derived from `sign_seed`) and rotation period.
#[derive(Debug, Clone, PartialEq)]
pub struct Protect {
    pub seed: Option<[u8; 32]>,
    pub rotate_s: u32,
}

/// Default key period, seconds.
pub const DEFAULT_ROTATE_S: u32 = 60;

/// The keys this file reads.
pub(super) const KEYS: &[&str] = &[
    "sign_seed",
    "segment_ms",
    "channel_key",
    "entitlements",
    "device_id",
    "device_secret",
];

/// A channel's `protect=` part: `yes` (seed derived) or 64 hex digits; `Some(None)` for `yes`.
pub(super) fn protect_part(s: &Setting, v: &str) -> Result<Option<[u8; 32]>, ConfigError> {
    match v.trim() {
        "yes" => Ok(None),
        h => hex32(h).map(Some).ok_or_else(|| {
            err(
                s,
                format!("protect `{h}`: expected yes or 64 hex digits (the key seed)"),
            )
        }),
    }
}

/// A channel's `rotate_s=` part.
pub(super) fn rotate_part(s: &Setting, v: &str) -> Result<u32, ConfigError> {
    v.trim()
        .parse::<u32>()
        .ok()
        .filter(|r| (1..=86_400).contains(r))
        .ok_or_else(|| err(s, format!("rotate_s `{v}`: expected 1-86400 seconds")))
}

/// Combines a channel's `protect` and `rotate_s` parts.
pub(super) fn protect(
    s: &Setting,
    protect: Option<Option<[u8; 32]>>,
    rotate: Option<u32>,
) -> Result<Option<Protect>, ConfigError> {
    match (protect, rotate) {
        (None, Some(_)) => Err(err(s, "rotate_s needs protect=yes or protect=SEED")),
        (None, None) => Ok(None),
        (Some(seed), r) => Ok(Some(Protect {
            seed,
            rotate_s: r.unwrap_or(DEFAULT_ROTATE_S),
        })),
    }
}

/// 64 hex digits as 32 bytes.
pub fn hex32(v: &str) -> Option<[u8; 32]> {
    tvmesh_core::drm::keyfile::hex32(v.trim())
}

/// 32 bytes as 64 lower-case hex digits.
pub fn to_hex(b: &[u8; 32]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Reads the integrity keys from `all` (last value wins).
pub(super) fn integrity(all: &[Setting]) -> Result<IntegrityConfig, ConfigError> {
    let key = |name: &str| -> Result<Option<[u8; 32]>, ConfigError> {
        last(all, name)
            .map(|s| hex32(&s.value).ok_or_else(|| err(s, "expected 64 hex digits (32 bytes)")))
            .transpose()
    };
    Ok(IntegrityConfig {
        sign_seed: key("sign_seed")?,
        segment_ms: last(all, "segment_ms")
            .map(|s| num(s, 10, 1000))
            .transpose()?,
        channel_key: key("channel_key")?,
        entitlements: last(all, "entitlements").map(|s| s.value.trim().into()),
        device_id: device_id(all)?,
        device_secret: key("device_secret")?,
    })
}

fn device_id(all: &[Setting]) -> Result<Option<String>, ConfigError> {
    let Some(s) = last(all, "device_id") else {
        return Ok(None);
    };
    let v = s.value.trim();
    if v.is_empty() || v.len() > 32 || v.contains(char::is_whitespace) || v.contains('=') {
        return Err(err(s, "expected 1-32 bytes without spaces or `=`"));
    }
    if last(all, "device_secret").is_none() {
        return Err(err(s, "device_id needs device_secret (64 hex digits)"));
    }
    Ok(Some(v.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_roundtrip_and_errors() {
        let h = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
        let k = hex32(h).unwrap();
        assert_eq!(k[1], 0x11);
        assert_eq!(k[31], 0xFF);
        assert_eq!(to_hex(&k), h.to_lowercase());
        assert_eq!(hex32(&h[..62]), None);
        assert_eq!(hex32(&h.replace('a', "g")), None);
    }

    #[test]
    fn drm_keys_and_channel_parts() {
        use crate::config::{tests::run, Role};
        let h = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        // The root half: box builds leave the root role out.
        if cfg!(feature = "root") {
            let c = run("root --listen 127.0.0.1:7000 --channel name=a,source=-,protect=yes,rotate_s=3 --entitlements /tmp/e").unwrap();
            let Role::Root { channels, .. } = c.role else {
                panic!()
            };
            let p = channels[0].protect.clone().unwrap();
            assert_eq!((p.seed, p.rotate_s), (None, 3));
            assert_eq!(c.integrity.entitlements, Some("/tmp/e".into()));
            let c = run(&format!(
                "root --listen 127.0.0.1:7000 --channel name=a,source=-,protect={h}"
            ))
            .unwrap();
            let Role::Root { channels, .. } = c.role else {
                panic!()
            };
            assert_eq!(
                channels[0].protect.as_ref().unwrap().rotate_s,
                DEFAULT_ROTATE_S
            );
            assert!(channels[0].protect.as_ref().unwrap().seed.is_some());
            for (bad, why) in [
                ("protect=maybe", "protect `maybe`"),
                ("protect=yes,rotate_s=0", "rotate_s `0`"),
                ("rotate_s=5", "rotate_s needs protect"),
            ] {
                let e = run(&format!(
                    "root --listen 127.0.0.1:7000 --channel name=a,source=-,{bad}"
                ))
                .unwrap_err();
                assert!(e.to_string().contains(why), "{e}");
            }
        }
        let c = run(&format!(
            "peer --root 127.0.0.1:7000 --channel a --device-id stb-1 --device-secret {h}"
        ))
        .unwrap();
        assert_eq!(c.integrity.device_id.as_deref(), Some("stb-1"));
        assert_eq!(c.integrity.device_secret.unwrap()[1], 0x11);
        let e = run("peer --root 127.0.0.1:7000 --channel a --device-id stb-1").unwrap_err();
        assert!(e.to_string().contains("device_secret"), "{e}");
        let e = run(&format!(
            "peer --root 127.0.0.1:7000 --channel a --device-id {} --device-secret {h}",
            "x".repeat(33)
        ))
        .unwrap_err();
        assert!(e.to_string().contains("device_id"), "{e}");
    }
}
