//! Integrity and DRM messages (types 0x30–0x3F): parse and emit of their bodies.
//!
//! | type | name         | sender → receiver | body |
//! |------|--------------|-------------------|------|
//! | 0x30 | MANIFEST     | root/box → box    | a signed segment manifest ([`crate::drm::manifest`]), ≤ 1294 bytes |
//! | 0x31 | MANIFEST_REQ | box → root/box    | token u32, seq u64 (send me the manifest covering `seq`) |
//! | 0x32 | KEY_REQ      | box → root        | token u32 (send me the channel's signing key) |
//! | 0x33 | CHANNEL_KEY  | root → box        | kind u8 (2 = RSA-2048, e = 3), public key (1..=256 bytes: the modulus for kind 2) |
//! | 0x34 | LICENCE_REQ  | box → root        | a licence request ([`crate::drm::licence`]), ≤ 127 bytes |
//! | 0x35 | LICENCE      | root → box        | a licence reply ([`crate::drm::licence`]), ≤ 179 bytes |
//!
//! LICENCE_REQ / LICENCE bodies are only length-checked here (1..=[`LICENCE_MAX_LEN`] bytes); the
//! licence module parses and authenticates them. The header's channel is the sender's channel
//! index (informative: the request names its channel inside the authenticated body).
//!
//! Invariants: a MANIFEST body is only length-checked here (1..=[`MANIFEST_MAX_LEN`] bytes); its
//! structure and signature are the verifier's business. Every read is length-checked, so no input
//! can make parsing panic.

use super::codec::{Reader, Writer};
use super::{Message, WireError};
use crate::drm::manifest::MANIFEST_MAX_LEN;

pub(super) const MANIFEST: u8 = 0x30;
pub(super) const MANIFEST_REQ: u8 = 0x31;
pub(super) const KEY_REQ: u8 = 0x32;
pub(super) const CHANNEL_KEY: u8 = 0x33;
pub(super) const LICENCE_REQ: u8 = 0x34;
pub(super) const LICENCE: u8 = 0x35;

/// Longest LICENCE_REQ or LICENCE body (the larger of the two formats).
pub const LICENCE_MAX_LEN: usize = {
    use crate::drm::licence::{REPLY_MAX, REQUEST_MAX};
    if REPLY_MAX > REQUEST_MAX {
        REPLY_MAX
    } else {
        REQUEST_MAX
    }
};

/// CHANNEL_KEY `kind`: an RSA-2048 public key with e = 3, sent as its 256-byte modulus
/// (kind 1, an Ed25519 key, was the first format's).
pub const KEY_RSA2048: u8 = 2;

/// Parses the body of an integrity message of type `kind`; `None` if `kind` is not one.
pub(super) fn parse<'a>(
    kind: u8,
    channel: u16,
    r: &mut Reader<'a>,
) -> Option<Result<Message<'a>, WireError>> {
    let m = match kind {
        MANIFEST => {
            let body = r.rest();
            if body.is_empty() || body.len() > MANIFEST_MAX_LEN {
                return Some(Err(WireError::Length));
            }
            Ok(Message::Manifest { channel, body })
        }
        MANIFEST_REQ => (|| {
            Ok(Message::ManifestReq {
                channel,
                token: r.u32()?,
                seq: r.u64()?,
            })
        })(),
        KEY_REQ => r.u32().map(|token| Message::KeyReq { channel, token }),
        CHANNEL_KEY => (|| {
            let kind = r.u8()?;
            let key = r.rest();
            if key.is_empty() || key.len() > tvmesh_crypto::RSA_LEN {
                return Err(WireError::Length);
            }
            Ok(Message::ChannelKey { channel, kind, key })
        })(),
        LICENCE_REQ | LICENCE => {
            let body = r.rest();
            if body.is_empty() || body.len() > LICENCE_MAX_LEN {
                return Some(Err(WireError::Length));
            }
            Ok(if kind == LICENCE_REQ {
                Message::LicenceReq { channel, body }
            } else {
                Message::Licence { channel, body }
            })
        }
        _ => return None,
    };
    Some(m)
}

/// Emits an integrity message's header and body; `None` if `m` is not one.
pub(super) fn emit(m: &Message<'_>, w: &mut Writer<'_>) -> Option<Result<(), WireError>> {
    let head = |w: &mut Writer<'_>, kind: u8, channel: u16| {
        w.u8(super::MAGIC)?;
        w.u8(kind)?;
        w.u16(channel)
    };
    let r = match *m {
        Message::Manifest { channel, body } => {
            if body.is_empty() || body.len() > MANIFEST_MAX_LEN {
                return Some(Err(WireError::Length));
            }
            head(w, MANIFEST, channel).and_then(|_| w.bytes(body))
        }
        Message::ManifestReq {
            channel,
            token,
            seq,
        } => head(w, MANIFEST_REQ, channel)
            .and_then(|_| w.u32(token))
            .and_then(|_| w.u64(seq)),
        Message::KeyReq { channel, token } => head(w, KEY_REQ, channel).and_then(|_| w.u32(token)),
        Message::ChannelKey { channel, kind, key } => {
            if key.is_empty() || key.len() > tvmesh_crypto::RSA_LEN {
                return Some(Err(WireError::Length));
            }
            head(w, CHANNEL_KEY, channel)
                .and_then(|_| w.u8(kind))
                .and_then(|_| w.bytes(key))
        }
        Message::LicenceReq { channel, body } | Message::Licence { channel, body } => {
            if body.is_empty() || body.len() > LICENCE_MAX_LEN {
                return Some(Err(WireError::Length));
            }
            let kind = if matches!(m, Message::LicenceReq { .. }) {
                LICENCE_REQ
            } else {
                LICENCE
            };
            head(w, kind, channel).and_then(|_| w.bytes(body))
        }
        _ => return None,
    };
    Some(r)
}
