use super::*;
use crate::drm::entitlements::Entitlements;

const SECRET_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const SECRET: Key = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
    26, 27, 28, 29, 30, 31,
];
/// 2026-06-01.
const NOW: u64 = 1_780_272_000;

fn ents() -> Entitlements {
    let text = std::format!(
        "device stb-1 secret={SECRET_HEX} channels=demo from=2026-01-01 until=2027-01-01\n\
         device stb-2 secret={SECRET_HEX} channels=* from=2027-01-01\n"
    );
    Entitlements::parse(&text, 4).unwrap()
}

fn keys() -> [KeyEntry; 3] {
    [1u8, 2, 3].map(|id| KeyEntry {
        id,
        key: [id; 32],
        valid_until: NOW + 3600 * u64::from(id),
    })
}

fn id(device_id: &[u8]) -> Identity<'_> {
    Identity {
        device_id,
        secret: &SECRET,
    }
}

fn request(device: &[u8], channel: &str) -> std::vec::Vec<u8> {
    let mut b = [0u8; REQUEST_MAX];
    let n = encode_request(&id(device), channel, [0xFF; 12], &mut b).unwrap();
    b[..n].to_vec()
}

fn answer(req: &[u8], now: u64) -> std::vec::Vec<u8> {
    let ks = keys();
    let mut out = [0u8; REPLY_MAX];
    let n = server_answer(
        &ents(),
        now,
        |c| (c == "demo").then_some(&ks[..]),
        req,
        [0x01; 12],
        &mut out,
    )
    .unwrap();
    out[..n].to_vec()
}

/// RFC 8439 §2.8.2: proves the crate is the IETF ChaCha20-Poly1305 AEAD (tag checked).
#[test]
fn rfc8439_2_8_2_aead_vector() {
    let key: Key = core::array::from_fn(|i| 0x80 + i as u8);
    let nonce = [
        0x07, 0, 0, 0, 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47,
    ];
    let aad = [
        0x50, 0x51, 0x52, 0x53, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7,
    ];
    let mut m = *b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
    let tag = aead(&key)
        .encrypt_inout_detached((&nonce).into(), &aad, (&mut m[..]).into())
        .unwrap();
    assert_eq!(&m[..8], &[0xd3, 0x1a, 0x8d, 0x34, 0x64, 0x8e, 0x60, 0xdb]);
    assert_eq!(
        tag.as_slice(),
        &[
            0x1a, 0xe1, 0x0b, 0x59, 0x4f, 0x09, 0xe2, 0x6a, 0x7e, 0x90, 0x2e, 0xcb, 0xd0, 0x60,
            0x06, 0x91
        ]
    );
}

#[test]
fn request_byte_literal() {
    let req = request(b"stb-1", "demo");
    let mut head = std::vec![1, 5, b's', b't', b'b', b'-', b'1', 4, b'd', b'e', b'm', b'o'];
    head.extend_from_slice(&[
        0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    ]);
    assert_eq!(&req[..24], &head[..]);
    assert_eq!(req.len(), 24 + TAG_LEN);
    let mut nothing = [0u8; 0];
    let nonce: [u8; 12] = req[12..24].try_into().unwrap();
    let tag = aead(&SECRET)
        .encrypt_inout_detached((&nonce).into(), &req[..24], (&mut nothing[..]).into())
        .unwrap();
    assert_eq!(&req[24..], tag.as_slice());
    // Field limits.
    let mut b = [0u8; REQUEST_MAX];
    assert_eq!(
        encode_request(&id(b""), "demo", [0; 12], &mut b),
        Err(LicenceError::Field)
    );
    assert_eq!(
        encode_request(&id(&[b'x'; 33]), "demo", [0; 12], &mut b),
        Err(LicenceError::Field)
    );
    let long = "c".repeat(65);
    assert_eq!(
        encode_request(&id(b"a"), &long, [0; 12], &mut b),
        Err(LicenceError::Field)
    );
    assert_eq!(
        encode_request(&id(b"a"), "demo", [0; 12], &mut b[..20]),
        Err(LicenceError::Buffer)
    );
    let max = encode_request(&id(&[b'x'; 32]), &"c".repeat(64), [0; 12], &mut b).unwrap();
    assert_eq!(max, REQUEST_MAX);
}

#[test]
fn granted_licence_opens_with_clamped_validity() {
    let req = request(b"stb-1", "demo");
    let rep = answer(&req, NOW);
    assert_eq!(rep.len(), REPLY_HEADER_LEN + 3 * ENTRY_LEN + TAG_LEN);
    assert_eq!(&rep[..3], &[1, 0, 0x81]);
    assert_eq!(&rep[3..15], &[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3]);
    // Ciphertext: the keys are not in the clear.
    assert!(!rep.windows(32).any(|w| w == [2u8; 32]));
    let set = client_open(&rep, &id(b"stb-1"), &req).unwrap();
    let got: std::vec::Vec<_> = set
        .iter()
        .map(|e| (e.id, e.key[0], e.valid_until))
        .collect();
    assert_eq!(
        got,
        [(1, 1, NOW + 3600), (2, 2, NOW + 7200), (3, 3, NOW + 10800)]
    );
    // Near the end of the entitlement (2027-01-01), validity is clamped to `until`.
    let until = 1_798_761_600;
    let late = until - 5000;
    let ks = [(7, late + 3600), (8, late + 7200)].map(|(id, valid_until)| KeyEntry {
        id,
        key: [id; 32],
        valid_until,
    });
    let mut out = [0u8; REPLY_MAX];
    let n = server_answer(&ents(), late, |_| Some(&ks[..]), &req, [0; 12], &mut out).unwrap();
    let got: std::vec::Vec<_> = client_open(&out[..n], &id(b"stb-1"), &req)
        .unwrap()
        .iter()
        .map(|e| (e.id, e.valid_until))
        .collect();
    assert_eq!(got, [(7, late + 3600), (8, until)]);
}

#[test]
fn refusals_yield_no_key() {
    let check = |req: &[u8], now: u64, who: &[u8], want: Status| {
        let rep = answer(req, now);
        assert_eq!(rep.len(), REPLY_HEADER_LEN, "{want:?}");
        assert_eq!(rep[1], want.code());
        assert_eq!(
            client_open(&rep, &id(who), req),
            Err(LicenceError::Refused(want))
        );
    };
    let cases: [(&[u8], &str, u64, Status); 6] = [
        (b"stb-9", "demo", NOW, Status::UnknownDevice),
        (b"stb-1", "news", NOW, Status::NotEntitled),
        (b"stb-1", "demo", 1_798_761_600, Status::Expired),
        (b"stb-1", "demo", 1_767_225_599, Status::NotYetValid),
        (b"stb-2", "demo", NOW, Status::NotYetValid),
        (b"stb-2", "sport", 1_798_761_600, Status::UnknownChannel),
    ];
    for (who, channel, now, want) in cases {
        check(&request(who, channel), now, who, want);
    }
    // Wrong secret: the root says BadAuth.
    let wrong = [9u8; 32];
    let mut b = [0u8; REQUEST_MAX];
    let n = encode_request(
        &Identity {
            device_id: b"stb-1",
            secret: &wrong,
        },
        "demo",
        [0; 12],
        &mut b,
    )
    .unwrap();
    check(&b[..n], NOW, b"stb-1", Status::BadAuth);
    // Keys all past their validity: nothing to send.
    check(
        &request(b"stb-1", "demo"),
        NOW + 3 * 3600,
        b"stb-1",
        Status::Expired,
    );
}

#[test]
fn forged_or_misbound_replies_rejected() {
    let req = request(b"stb-1", "demo");
    let rep = answer(&req, NOW);
    // The right reply to another request of the same device (other nonce) does not open.
    let mut b = [0u8; REQUEST_MAX];
    let n = encode_request(&id(b"stb-1"), "demo", [0x00; 12], &mut b).unwrap();
    assert_eq!(
        client_open(&rep, &id(b"stb-1"), &b[..n]),
        Err(LicenceError::BadTag)
    );
    // Another secret does not open it.
    let other = [7u8; 32];
    let who = Identity {
        device_id: b"stb-1",
        secret: &other,
    };
    assert_eq!(client_open(&rep, &who, &req), Err(LicenceError::BadTag));
    // Any flipped bit.
    for i in 0..rep.len() {
        let mut bad = rep.clone();
        bad[i] ^= 0x01;
        assert!(
            client_open(&bad, &id(b"stb-1"), &req).is_err(),
            "bit at {i}"
        );
    }
    // Truncations and trailing bytes.
    for len in 0..rep.len() {
        assert!(client_open(&rep[..len], &id(b"stb-1"), &req).is_err());
    }
    let mut long = rep.clone();
    long.push(0);
    assert_eq!(
        client_open(&long, &id(b"stb-1"), &req),
        Err(LicenceError::Malformed)
    );
    // A refusal with a body, or an Ok with count 0: malformed.
    assert_eq!(
        client_open(
            &[1, 2, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            &id(b"a"),
            &req
        ),
        Err(LicenceError::Malformed)
    );
    assert_eq!(
        client_open(
            &[1, 0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            &id(b"a"),
            &req
        ),
        Err(LicenceError::Malformed)
    );
}

#[test]
fn malformed_requests_get_no_reply() {
    let req = request(b"stb-1", "demo");
    let ks = keys();
    let mut out = [0u8; REPLY_MAX];
    let mut ask = |r: &[u8]| server_answer(&ents(), NOW, |_| Some(&ks[..]), r, [0; 12], &mut out);
    for len in 0..req.len() {
        assert_eq!(ask(&req[..len]), Err(LicenceError::Malformed), "len {len}");
    }
    let mut long = req.clone();
    long.push(0);
    assert_eq!(ask(&long), Err(LicenceError::Malformed));
    let mut server_half = req.clone();
    server_half[12] |= 0x80; // nonce from the server's half
    assert_eq!(ask(&server_half), Err(LicenceError::Malformed));
    let mut bad_utf8 = req.clone();
    bad_utf8[8] = 0xFF;
    assert_eq!(ask(&bad_utf8), Err(LicenceError::Malformed));
    assert_eq!(ask(&[2]), Err(LicenceError::Malformed));
    // A reply that does not fit the buffer.
    let mut small = [0u8; 40];
    assert_eq!(
        server_answer(&ents(), NOW, |_| Some(&ks[..]), &req, [0; 12], &mut small),
        Err(LicenceError::Buffer)
    );
}
