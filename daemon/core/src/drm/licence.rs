//! Licences: a box asks the root for a channel's keys; the root answers with the keys wrapped for
//! that device alone.
//!
//! LICENCE_REQUEST (box → root), at most [`REQUEST_MAX`] = 127 bytes:
//!
//! | field        | size     | meaning |
//! |--------------|----------|---------|
//! | version      | 1        | [`VERSION`] |
//! | id_len, id   | 1 + 1..=32 | device id |
//! | name_len, name | 1 + 1..=64 | channel name |
//! | client_nonce | 12       | random; top bit of the first byte clear |
//! | tag          | 16       | ChaCha20-Poly1305 under the device secret, nonce = client_nonce, empty plaintext, AAD = every preceding byte |
//!
//! LICENCE (root → box), 15 bytes when refused, at most [`REPLY_MAX`] = 179 when granted:
//!
//! | field        | size     | meaning |
//! |--------------|----------|---------|
//! | version      | 1        | [`VERSION`] |
//! | status       | 1        | [`Status`] |
//! | server_nonce | 12       | random; top bit of the first byte set |
//! | count        | 1        | keys, 0 unless `Ok`, 1..=[`KEYSET_MAX`] if `Ok` |
//! | keys         | count × 37 | ChaCha20-Poly1305 ciphertext of `key_id u8 ‖ key [32] ‖ valid_until u32` each |
//! | tag          | 16       | only if `Ok`; AAD = the 15 header bytes ‖ the whole request |
//!
//! Choices and invariants:
//! - The request tag proves the box holds the device secret; the reply's AAD binds it to that
//!   exact request (device, channel, client nonce), so a reply cannot be replayed to another
//!   request. Client and server nonces live in disjoint halves of the nonce space (top bit), so the
//!   device secret never meets the same nonce twice in the two directions.
//! - Refusals are not authenticated (the root may not know the secret); a forged refusal can only
//!   deny service, which an on-path attacker can do anyway. A box shows the status on its status
//!   page. A granted reply is never smaller than its request's tag check demands, and unauthenticated
//!   requests get 15 bytes back: no amplification.
//! - A key's `valid_until` is clamped to the entitlement's `until`; keys already past it are not
//!   sent. The root is stateless: replayed requests get fresh wraps of the same keys, useless to
//!   anyone without the secret.
//! - No function here panics on any input or allocates.

use super::entitlements::{Entitled, Entitlements};
use super::keys::KeyEntry;
use super::{Bytes, Key, Out};
use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit};

/// Format version of both messages.
pub const VERSION: u8 = 1;
/// Most keys in one licence (previous, current, next, and one spare).
pub const KEYSET_MAX: usize = 4;
/// Longest device id.
pub const DEVICE_ID_MAX: usize = super::entitlements::DEVICE_ID_MAX;
/// Longest channel name.
pub const CHANNEL_MAX: usize = 64;
/// Bytes of a nonce.
pub const NONCE_LEN: usize = 12;
/// Bytes of a Poly1305 tag.
pub const TAG_LEN: usize = 16;
/// Bytes of one wrapped key entry.
pub const ENTRY_LEN: usize = 37;
/// Largest request.
pub const REQUEST_MAX: usize = 3 + DEVICE_ID_MAX + CHANNEL_MAX + NONCE_LEN + TAG_LEN;
/// Bytes of a reply's header.
pub const REPLY_HEADER_LEN: usize = 3 + NONCE_LEN;
/// Largest reply.
pub const REPLY_MAX: usize = REPLY_HEADER_LEN + KEYSET_MAX * ENTRY_LEN + TAG_LEN;

/// The root's answer.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Keys enclosed.
    Ok,
    /// The device id is not in the entitlements file.
    UnknownDevice,
    /// The device may not watch this channel.
    NotEntitled,
    /// The device's entitlement has ended.
    Expired,
    /// The request's tag is wrong: the box does not hold the device secret.
    BadAuth,
    /// The device's entitlement has not started yet.
    NotYetValid,
    /// The root has no such channel.
    UnknownChannel,
    /// A status this version does not know.
    Other(u8),
}

impl Status {
    fn code(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::UnknownDevice => 1,
            Status::NotEntitled => 2,
            Status::Expired => 3,
            Status::BadAuth => 4,
            Status::NotYetValid => 5,
            Status::UnknownChannel => 6,
            Status::Other(c) => c,
        }
    }
    fn from_code(c: u8) -> Self {
        match c {
            0 => Status::Ok,
            1 => Status::UnknownDevice,
            2 => Status::NotEntitled,
            3 => Status::Expired,
            4 => Status::BadAuth,
            5 => Status::NotYetValid,
            6 => Status::UnknownChannel,
            c => Status::Other(c),
        }
    }
}

/// Why a licence message could not be made or used.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum LicenceError {
    /// Bytes are not a well-formed message (short, bad lengths, bad nonce half, trailing bytes).
    Malformed,
    /// Device id or channel name empty or too long.
    Field,
    /// The output buffer is too small.
    Buffer,
    /// The root refused, and said why.
    Refused(Status),
    /// The reply's tag does not verify: not from the root, or not for this request.
    BadTag,
}

/// A box's identity, from its board profile.
#[derive(Copy, Clone)]
pub struct Identity<'a> {
    /// Device id.
    pub device_id: &'a [u8],
    /// Device secret.
    pub secret: &'a Key,
}

impl core::fmt::Debug for Identity<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Identity")
            .field("device_id", &self.device_id)
            .finish_non_exhaustive()
    }
}

/// The keys a licence carried.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct KeySet {
    entries: [Option<KeyEntry>; KEYSET_MAX],
}

impl KeySet {
    /// The keys.
    pub fn iter(&self) -> impl Iterator<Item = &KeyEntry> {
        self.entries.iter().flatten()
    }
}

fn aead(secret: &Key) -> ChaCha20Poly1305 {
    ChaCha20Poly1305::new(secret.into())
}

/// A parsed request.
struct Request<'a> {
    device_id: &'a [u8],
    channel: &'a str,
    nonce: [u8; NONCE_LEN],
    signed: &'a [u8],
    tag: [u8; TAG_LEN],
}

fn parse_request(b: &[u8]) -> Option<Request<'_>> {
    let mut r = Bytes::new(b);
    if r.u8()? != VERSION {
        return None;
    }
    let id_len = usize::from(r.u8()?);
    let device_id = r.take(id_len)?;
    let name_len = usize::from(r.u8()?);
    let channel = core::str::from_utf8(r.take(name_len)?).ok()?;
    let nonce: [u8; NONCE_LEN] = r.array()?;
    let signed_len = b.len() - r.rest().len();
    let tag = r.array()?;
    if !r.rest().is_empty()
        || !(1..=DEVICE_ID_MAX).contains(&id_len)
        || !(1..=CHANNEL_MAX).contains(&name_len)
        || nonce[0] & 0x80 != 0
    {
        return None;
    }
    Some(Request {
        device_id,
        channel,
        nonce,
        signed: &b[..signed_len],
        tag,
    })
}

/// Writes a LICENCE_REQUEST for `channel` into `out`; returns its length. The box keeps the bytes
/// to open the reply. `client_nonce` must be fresh random bytes (its top bit is cleared here).
pub fn encode_request(
    id: &Identity<'_>,
    channel: &str,
    client_nonce: [u8; NONCE_LEN],
    out: &mut [u8],
) -> Result<usize, LicenceError> {
    if !(1..=DEVICE_ID_MAX).contains(&id.device_id.len())
        || !(1..=CHANNEL_MAX).contains(&channel.len())
    {
        return Err(LicenceError::Field);
    }
    let mut nonce = client_nonce;
    nonce[0] &= 0x7F;
    let mut w = Out::new(out);
    let fields: [&[u8]; 6] = [
        &[VERSION, id.device_id.len() as u8], // ≤ 32, checked above
        id.device_id,
        &[channel.len() as u8], // ≤ 64, checked above
        channel.as_bytes(),
        &nonce,
        &[],
    ];
    for f in fields {
        w.put(f).ok_or(LicenceError::Buffer)?;
    }
    let tag = aead(id.secret)
        .encrypt_inout_detached((&nonce).into(), w.written(), (&mut [][..]).into())
        .map_err(|_| LicenceError::Buffer)?; // only for messages beyond 256 GiB
    w.put(&tag).ok_or(LicenceError::Buffer)?;
    Ok(w.len())
}

fn refuse(status: Status, nonce: &[u8; NONCE_LEN], out: &mut [u8]) -> Result<usize, LicenceError> {
    let mut w = Out::new(out);
    w.put(&[VERSION, status.code()])
        .ok_or(LicenceError::Buffer)?;
    w.put(nonce).ok_or(LicenceError::Buffer)?;
    w.put(&[0]).ok_or(LicenceError::Buffer)?;
    Ok(w.len())
}

/// The root's licence service: answers request `req` into `out` and returns the reply's length.
///
/// `keys_for_channel` gives the channel's current keys (e.g. [`super::keys::KeySchedule::entries`])
/// or `None` if the root has no such channel; `server_nonce` must be fresh random bytes (its top
/// bit is set here). A malformed request gets no reply (`Err(Malformed)`): drop it.
pub fn server_answer<'k>(
    ents: &Entitlements,
    now_unix: u64,
    keys_for_channel: impl FnOnce(&str) -> Option<&'k [KeyEntry]>,
    req: &[u8],
    server_nonce: [u8; NONCE_LEN],
    out: &mut [u8],
) -> Result<usize, LicenceError> {
    let r = parse_request(req).ok_or(LicenceError::Malformed)?;
    let mut nonce = server_nonce;
    nonce[0] |= 0x80;
    let Some(dev) = ents.device(r.device_id) else {
        return refuse(Status::UnknownDevice, &nonce, out);
    };
    let cipher = aead(&dev.secret);
    if cipher
        .decrypt_inout_detached(
            (&r.nonce).into(),
            r.signed,
            (&mut [][..]).into(),
            (&r.tag).into(),
        )
        .is_err()
    {
        return refuse(Status::BadAuth, &nonce, out);
    }
    match dev.check(r.channel, now_unix) {
        Entitled::Yes => {}
        Entitled::NotEntitled => return refuse(Status::NotEntitled, &nonce, out),
        Entitled::NotYetValid => return refuse(Status::NotYetValid, &nonce, out),
        Entitled::Expired => return refuse(Status::Expired, &nonce, out),
    }
    let Some(keys) = keys_for_channel(r.channel) else {
        return refuse(Status::UnknownChannel, &nonce, out);
    };
    let mut plain = [0u8; KEYSET_MAX * ENTRY_LEN];
    let mut n = 0;
    for k in keys {
        let until = k.valid_until.min(dev.until).min(u64::from(u32::MAX));
        if until <= now_unix || n == KEYSET_MAX {
            continue;
        }
        let e = &mut plain[n * ENTRY_LEN..(n + 1) * ENTRY_LEN];
        e[0] = k.id;
        e[1..33].copy_from_slice(&k.key);
        e[33..].copy_from_slice(&(until as u32).to_be_bytes()); // clamped to u32 above
        n += 1;
    }
    if n == 0 {
        return refuse(Status::Expired, &nonce, out);
    }
    let mut w = Out::new(out);
    w.put(&[VERSION, Status::Ok.code()])
        .ok_or(LicenceError::Buffer)?;
    w.put(&nonce).ok_or(LicenceError::Buffer)?;
    w.put(&[n as u8]).ok_or(LicenceError::Buffer)?; // ≤ KEYSET_MAX
    let mut aad = [0u8; REPLY_HEADER_LEN + REQUEST_MAX];
    aad[..REPLY_HEADER_LEN].copy_from_slice(w.written());
    aad[REPLY_HEADER_LEN..REPLY_HEADER_LEN + req.len()].copy_from_slice(req); // parsed: ≤ REQUEST_MAX
    let body = &mut plain[..n * ENTRY_LEN];
    let tag = cipher
        .encrypt_inout_detached(
            (&nonce).into(),
            &aad[..REPLY_HEADER_LEN + req.len()],
            body.into(),
        )
        .map_err(|_| LicenceError::Buffer)?; // only for messages beyond 256 GiB
    w.put(body).ok_or(LicenceError::Buffer)?;
    w.put(&tag).ok_or(LicenceError::Buffer)?;
    Ok(w.len())
}

/// The box's side: opens the root's `reply` to `request` (the bytes [`encode_request`] wrote).
pub fn client_open(
    reply: &[u8],
    id: &Identity<'_>,
    request: &[u8],
) -> Result<KeySet, LicenceError> {
    let mut r = Bytes::new(reply);
    let head: [u8; REPLY_HEADER_LEN] = r.array().ok_or(LicenceError::Malformed)?;
    if head[0] != VERSION || head[2] & 0x80 == 0 {
        return Err(LicenceError::Malformed);
    }
    let status = Status::from_code(head[1]);
    let count = usize::from(head[REPLY_HEADER_LEN - 1]);
    if status != Status::Ok {
        return Err(if count == 0 && r.rest().is_empty() {
            LicenceError::Refused(status)
        } else {
            LicenceError::Malformed
        });
    }
    if !(1..=KEYSET_MAX).contains(&count) || request.len() > REQUEST_MAX {
        return Err(LicenceError::Malformed);
    }
    let mut body = [0u8; KEYSET_MAX * ENTRY_LEN];
    let body = &mut body[..count * ENTRY_LEN];
    body.copy_from_slice(r.take(count * ENTRY_LEN).ok_or(LicenceError::Malformed)?);
    let tag: [u8; TAG_LEN] = r.array().ok_or(LicenceError::Malformed)?;
    if !r.rest().is_empty() {
        return Err(LicenceError::Malformed);
    }
    let mut aad = [0u8; REPLY_HEADER_LEN + REQUEST_MAX];
    aad[..REPLY_HEADER_LEN].copy_from_slice(&head);
    aad[REPLY_HEADER_LEN..REPLY_HEADER_LEN + request.len()].copy_from_slice(request);
    let nonce: [u8; NONCE_LEN] = head[2..14]
        .try_into()
        .map_err(|_| LicenceError::Malformed)?;
    aead(id.secret)
        .decrypt_inout_detached(
            (&nonce).into(),
            &aad[..REPLY_HEADER_LEN + request.len()],
            (&mut body[..]).into(),
            (&tag).into(),
        )
        .map_err(|_| LicenceError::BadTag)?;
    let mut set = KeySet::default();
    for (slot, e) in set.entries.iter_mut().zip(body.chunks_exact(ENTRY_LEN)) {
        let mut key = [0u8; 32];
        key.copy_from_slice(&e[1..33]);
        *slot = Some(KeyEntry {
            id: e[0],
            key,
            valid_until: u64::from(u32::from_be_bytes([e[33], e[34], e[35], e[36]])),
        });
    }
    Ok(set)
}

#[cfg(test)]
mod tests;
