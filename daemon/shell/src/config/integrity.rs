//! Chunk-integrity settings (issue 6). All optional.
//!
//! | key | role | value | default |
//! |---|---|---|---|
//! | `sign_seed` | root | 64 hex digits: master seed of every channel's Ed25519 signing key | random at each start (boxes that pinned the old keys must restart) |
//! | `segment_ms` | root | longest signed segment, 10–1000 ms (a box holds a chunk at most about this long for its manifest) | 100 |
//! | `channel_key` | box | 64 hex digits: the channel's Ed25519 public key (board profile); the root's is pinned at first sight when absent | none |
//!
//! Invariant: every value is checked here; an error names the key and the value.

use super::{err, last, num, ConfigError, Setting};

/// Integrity settings. See the module documentation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IntegrityConfig {
    pub sign_seed: Option<[u8; 32]>,
    pub segment_ms: Option<u32>,
    pub channel_key: Option<[u8; 32]>,
}

/// The keys this file reads.
pub(super) const KEYS: &[&str] = &["sign_seed", "segment_ms", "channel_key"];

/// 64 hex digits as 32 bytes.
pub fn hex32(v: &str) -> Option<[u8; 32]> {
    let b = v.trim().as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
        let s = std::str::from_utf8(pair).ok()?;
        *o = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
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
    })
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
}
