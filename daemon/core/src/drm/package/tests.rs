//! Byte-literal tests of the packaged-stream container.

use super::*;
use std::vec;
use std::vec::Vec;

#[test]
fn header_bytes() {
    let mut b = [0u8; HEADER_MAX];
    let h = Header {
        channel: "demo",
        first_seq: 0x0102_0304_0506_0708,
    };
    let n = h.emit(&mut b).unwrap();
    let want = [
        b'T', b'V', b'M', b'P', b'K', b'G', // magic
        0x01, // version
        0x04, // name length
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, // first seq
        b'd', b'e', b'm', b'o',
    ];
    assert_eq!(&b[..n], &want);
    assert_eq!(Header::parse(&want), Ok((h, 20)));
    // Trailing bytes (the first record) are not the header's.
    let mut more = want.to_vec();
    more.extend_from_slice(&[0, 0xBC]);
    assert_eq!(Header::parse(&more).unwrap().1, 20);
    // Every truncation is Short; a wrong magic, version or name is named.
    for cut in 0..want.len() {
        assert_eq!(
            Header::parse(&want[..cut]),
            Err(PackageError::Short),
            "{cut}"
        );
    }
    let mut bad = want;
    bad[0] = b'X';
    assert_eq!(Header::parse(&bad), Err(PackageError::Magic));
    let mut bad = want;
    bad[6] = 2;
    assert_eq!(Header::parse(&bad), Err(PackageError::Version(2)));
    let mut bad = want;
    bad[7] = 0;
    assert_eq!(Header::parse(&bad), Err(PackageError::Name));
    let mut bad = want;
    bad[16] = 0xFF;
    assert_eq!(Header::parse(&bad), Err(PackageError::Name));
    let empty = Header { channel: "", ..h };
    assert_eq!(empty.emit(&mut b), None);
    assert_eq!(h.emit(&mut b[..19]), None);
}

#[test]
fn record_bytes() {
    let payload = [0x47u8; 188];
    let mut b = vec![0u8; RECORD_MAX];
    let n = emit_record(
        ChunkFlags(0x05),
        7,
        0x0102_0304_0506_0708,
        1000,
        &payload,
        &mut b,
    )
    .unwrap();
    assert_eq!(n, 16 + 188);
    let head = [
        0x00, 0xBC, // payload length 188
        0x05, // flags: RAP | ENCRYPTED
        0x07, // key id
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, // seq
        0x00, 0x00, 0x03, 0xE8, // time 1000 ms
    ];
    assert_eq!(&b[..16], &head);
    assert_eq!(&b[16..n], &payload[..]);
    let (h, p, len) = parse_record(&b[..n]).unwrap();
    assert_eq!(
        h,
        RecordHeader {
            len: 188,
            flags: ChunkFlags(5),
            key_id: 7,
            seq: 0x0102_0304_0506_0708,
            time_ms: 1000,
        }
    );
    assert_eq!((p, len), (&payload[..], n));
    // A truncated record is Short, whatever the cut.
    for cut in [0, 1, 15, 16, 100, n - 1] {
        assert_eq!(parse_record(&b[..cut]), Err(PackageError::Short), "{cut}");
    }
}

#[test]
fn record_header_checks() {
    let rec = |len: u16, flags: u8, key: u8| {
        let mut h: Vec<u8> = len.to_be_bytes().to_vec();
        h.extend_from_slice(&[flags, key, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
        RecordHeader::parse(&h)
    };
    assert!(rec(188, 0x00, 0).is_ok());
    assert!(rec(1316, 0x07, 9).is_ok());
    assert_eq!(rec(0, 0, 0), Err(PackageError::Length(0)));
    assert_eq!(rec(187, 0, 0), Err(PackageError::Length(187)));
    assert_eq!(rec(1316 + 188, 0, 0), Err(PackageError::Length(1504)));
    assert_eq!(rec(188, 0x08, 0), Err(PackageError::Flags(0x08)));
    assert_eq!(rec(188, 0x04, 0), Err(PackageError::KeyId(0)));
    assert_eq!(rec(188, 0x00, 3), Err(PackageError::KeyId(3)));
}

#[test]
fn record_order() {
    let h = |seq, time_ms| RecordHeader {
        len: 188,
        flags: ChunkFlags::NONE,
        key_id: 0,
        seq,
        time_ms,
    };
    let mut c = RecordCheck::default();
    assert_eq!(c.next(&h(10, 5)), Ok(()));
    assert_eq!(c.next(&h(12, 5)), Ok(())); // gaps are fine (flagged by the packager)
    assert_eq!(c.next(&h(12, 6)), Err(PackageError::SeqBackwards));
    assert_eq!(c.next(&h(13, 4)), Err(PackageError::TimeBackwards));
}
