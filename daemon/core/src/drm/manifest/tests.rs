use super::*;
use crate::chunk::ChunkFlags;
use ed25519_compact::{KeyPair, Seed};

/// RFC 8032 §7.1 TEST 1 secret key.
pub(crate) const RFC8032_SEED: [u8; 32] = [
    0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4,
    0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
];

pub(crate) fn keypair() -> KeyPair {
    KeyPair::from_seed(Seed::new(RFC8032_SEED))
}

fn pk(kp: &KeyPair) -> tvmesh_crypto::Ed25519PublicKey {
    tvmesh_crypto::Ed25519PublicKey::from_bytes(&kp.pk).unwrap()
}

/// Proves the crate is RFC 8032 Ed25519: TEST 1 (empty message).
#[test]
fn rfc8032_test1() {
    let kp = keypair();
    assert_eq!(
        kp.pk.as_ref(),
        &[
            0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64,
            0x07, 0x3a, 0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68,
            0xf7, 0x07, 0x51, 0x1a
        ]
    );
    let sig = kp.sk.sign(b"", None);
    assert_eq!(
        sig.as_ref(),
        &[
            0xe5, 0x56, 0x43, 0x00, 0xc3, 0x60, 0xac, 0x72, 0x90, 0x86, 0xe2, 0xcc, 0x80, 0x6e,
            0x82, 0x8a, 0x84, 0x87, 0x7f, 0x1e, 0xb8, 0xe5, 0xd9, 0x74, 0xd8, 0x73, 0xe0, 0x65,
            0x22, 0x49, 0x01, 0x55, 0x5f, 0xb8, 0x82, 0x15, 0x90, 0xa3, 0x3b, 0xac, 0xc6, 0x1e,
            0x39, 0x70, 0x1c, 0xf9, 0xb4, 0x6b, 0xd2, 0x5b, 0xf5, 0xf0, 0x59, 0x5b, 0xbe, 0x24,
            0x65, 0x51, 0x41, 0x43, 0x8e, 0x7a, 0x10, 0x0b
        ]
    );
}

/// Proves the hash is BLAKE2s-256 (RFC 7693 appendix B "abc" vector) over
/// `seq ‖ flags ‖ key_id ‖ payload`, truncated, with the 10-byte head spelled out as literal bytes
/// (the expected digest computed independently, with Python's `hashlib.blake2s`).
#[test]
fn chunk_hash_is_truncated_blake2s() {
    let abc = tvmesh_crypto::blake2s_256(b"abc", b"");
    assert_eq!(
        &abc[..HASH_LEN],
        &[
            0x50, 0x8c, 0x5e, 0x8c, 0x32, 0x7c, 0x14, 0xe2, 0xe1, 0xa7, 0x2b, 0xa3, 0x4e, 0xeb,
            0x45, 0x2f
        ]
    );
    let info = ChunkInfo {
        seq: 0x0102_0304_0506_0708,
        flags: ChunkFlags::ENCRYPTED,
        key_id: 9,
        stamp_ms: 12345, // not covered
    };
    // blake2s(01 02 03 04 05 06 07 08 | 04 | 09 | "xy")[..16]
    assert_eq!(
        chunk_hash(&info, b"xy"),
        [
            0x92, 0x22, 0x9f, 0xd7, 0x42, 0xd7, 0x1a, 0x12, 0x5a, 0xdc, 0xfe, 0x3d, 0x37, 0x2a,
            0xbd, 0x7c
        ]
    );
    let other_stamp = ChunkInfo {
        stamp_ms: 0,
        ..info
    };
    assert_eq!(chunk_hash(&other_stamp, b"xy"), chunk_hash(&info, b"xy"));
    let other_key = ChunkInfo { key_id: 8, ..info };
    assert_ne!(chunk_hash(&other_key, b"xy"), chunk_hash(&info, b"xy"));
}

/// Header and hashes as literal bytes; the signature checks against the RFC 8032 TEST 1 key.
#[test]
fn emit_parse_byte_literal() {
    let kp = keypair();
    let hashes = [[0x11; HASH_LEN], [0x22; HASH_LEN]];
    let mut buf = [0u8; MANIFEST_MAX_LEN];
    let n = emit(0xCAFE_F00D, 0x1000, &hashes, &kp.sk, &mut buf).unwrap();
    assert_eq!(n, HEADER_LEN + 2 * HASH_LEN + SIGNATURE_LEN);
    let mut head = std::vec![0x01, 0xCA, 0xFE, 0xF0, 0x0D, 0, 0, 0, 0, 0, 0, 0x10, 0x00, 0x02,];
    head.extend_from_slice(&[0x11; 16]);
    head.extend_from_slice(&[0x22; 16]);
    assert_eq!(&buf[..HEADER_LEN + 32], &head[..]);
    let sig = kp.sk.sign(&head, None);
    assert_eq!(&buf[HEADER_LEN + 32..n], sig.as_ref());

    let m = Manifest::parse(&buf[..n]).unwrap();
    assert_eq!(
        (m.channel_tag, m.first_seq, m.count()),
        (0xCAFE_F00D, 0x1000, 2)
    );
    let e: std::vec::Vec<_> = m.entries().collect();
    assert_eq!(e, [(0x1000, [0x11; 16]), (0x1001, [0x22; 16])]);
    assert_eq!(m.verify(&pk(&kp)), Ok(()));
    // Any flipped bit breaks the signature.
    for i in [0, 5, 13, 20, n - 1] {
        let mut bad = buf;
        bad[i] ^= 0x01;
        let r = Manifest::parse(&bad[..n]).and_then(|m| m.verify(&pk(&kp)));
        assert!(r.is_err(), "flip at {i}");
    }
    // Another key does not verify it.
    let other = KeyPair::from_seed(Seed::new([3; 32]));
    assert_eq!(m.verify(&pk(&other)), Err(ManifestError::BadSignature));
}

#[test]
fn hostile_input_errors() {
    let kp = keypair();
    let mut buf = [0u8; MANIFEST_MAX_LEN];
    let full = emit(1, 0, &[[0; HASH_LEN]; MANIFEST_MAX], &kp.sk, &mut buf).unwrap();
    assert_eq!(full, MANIFEST_MAX_LEN);
    assert!(Manifest::parse(&buf[..full]).is_ok());
    for len in 0..full {
        assert_eq!(
            Manifest::parse(&buf[..len]),
            Err(ManifestError::Truncated),
            "len {len}"
        );
    }
    let mut long = std::vec::Vec::from(&buf[..full]);
    long.push(0);
    assert_eq!(Manifest::parse(&long), Err(ManifestError::Trailing));
    let mut b = buf;
    b[0] = 2;
    assert_eq!(Manifest::parse(&b), Err(ManifestError::Version));
    b = buf;
    b[13] = 65;
    assert_eq!(Manifest::parse(&b), Err(ManifestError::Count));
    b[13] = 0;
    assert_eq!(Manifest::parse(&b), Err(ManifestError::Count));
    b = buf;
    b[5..13].copy_from_slice(&u64::MAX.to_be_bytes());
    assert_eq!(Manifest::parse(&b), Err(ManifestError::Count));
    // Emit refuses bad counts and short buffers.
    assert_eq!(emit(1, 0, &[], &kp.sk, &mut buf), Err(ManifestError::Count));
    assert_eq!(
        emit(1, 0, &[[0; HASH_LEN]; MANIFEST_MAX + 1], &kp.sk, &mut buf),
        Err(ManifestError::Count)
    );
    assert_eq!(
        emit(1, 0, &[[0; HASH_LEN]; 2], &kp.sk, &mut buf[..100]),
        Err(ManifestError::Buffer)
    );
}
