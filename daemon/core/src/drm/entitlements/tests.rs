use super::*;
use std::string::ToString;

const SECRET: &str = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";

fn secret_bytes() -> Key {
    [
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee,
        0xff, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
        0xee, 0xff,
    ]
}

#[test]
fn civil_dates() {
    assert_eq!(parse_date("1970-01-01"), Some(0));
    assert_eq!(parse_date("2000-02-29"), Some(951_782_400));
    assert_eq!(parse_date("2026-01-01"), Some(1_767_225_600));
    assert_eq!(parse_date("2027-01-01"), Some(1_798_761_600));
    assert_eq!(parse_date("2024-12-31"), Some(1_735_603_200));
    assert_eq!(parse_date("2100-03-01"), Some(4_107_542_400));
    assert_eq!(parse_date("1798761600"), Some(1_798_761_600));
    for bad in [
        "",
        "2026-1-01",
        "2026-13-01",
        "2026-02-29",
        "1900-02-29",
        "1969-12-31",
        "2026-01-32",
        "2026-00-10",
        "20x6-01-01",
        "2026-01-01x",
        "+2026-01-01",
        "-1",
        "99999999999999999999999",
        "2026-01",
        "2026--1-01",
    ] {
        assert_eq!(parse_date(bad), None, "{bad}");
    }
    // Every day from 1970 to 2200 is one more than the day before.
    let mut prev = -1;
    for y in 1970..2200 {
        for m in 1..=12 {
            for d in 1..=days_in_month(y, m) {
                let n = days_from_civil(y, m, d);
                assert_eq!(n, prev + 1);
                prev = n;
            }
        }
    }
}

#[test]
fn parses_devices() {
    let text = std::format!(
        "# operator file\n\
         \n\
         device stb-0001 secret={SECRET} channels=demo,news from=2026-01-01 until=2027-01-01\n\
         device stb-0002  secret={SECRET}\tchannels=*   # all channels, forever\n"
    );
    let e = Entitlements::parse(&text, 8).unwrap();
    assert_eq!(e.len(), 2);
    let d = e.device(b"stb-0001").unwrap();
    assert_eq!(d.secret, secret_bytes());
    assert_eq!(
        d.channels,
        Channels::Only(std::vec!["demo".to_string(), "news".to_string()])
    );
    assert_eq!((d.from, d.until), (1_767_225_600, 1_798_761_600));
    assert_eq!(d.check("news", 1_767_225_600), Entitled::Yes);
    assert_eq!(d.check("sport", 1_767_225_600), Entitled::NotEntitled);
    assert_eq!(d.check("news", 1_767_225_599), Entitled::NotYetValid);
    assert_eq!(d.check("news", 1_798_761_600), Entitled::Expired);
    let d2 = e.device(b"stb-0002").unwrap();
    assert_eq!((d2.from, d2.until), (0, u64::MAX));
    assert_eq!(d2.check("anything", 5), Entitled::Yes);
    assert!(e.device(b"stb-0003").is_none());
    assert!(!std::format!("{d:?}").contains("secret"));
}

#[test]
fn errors_name_line_field_and_value() {
    let ok = std::format!("device a secret={SECRET} channels=x\n");
    let cases: &[(std::string::String, usize, &str, &str, Problem)] = &[
        (
            "channel x".into(),
            1,
            "channel",
            "channel",
            Problem::UnknownKeyword,
        ),
        (
            std::format!("{ok}device b secret=abc channels=x"),
            2,
            "secret",
            "abc",
            Problem::BadSecret,
        ),
        (
            std::format!("device b secret={} channels=x", &SECRET[..62]),
            1,
            "secret",
            &SECRET[..48],
            Problem::BadSecret,
        ),
        (
            std::format!("\n\ndevice b secret={SECRET}"),
            3,
            "channels",
            "",
            Problem::Missing,
        ),
        (
            "device b channels=x".into(),
            1,
            "secret",
            "",
            Problem::Missing,
        ),
        (
            std::format!("device b secret={SECRET} channels=x,,y"),
            1,
            "channels",
            "x,,y",
            Problem::BadChannels,
        ),
        (
            std::format!("device b secret={SECRET} channels=x from=2026-02-30"),
            1,
            "from",
            "2026-02-30",
            Problem::BadDate,
        ),
        (
            std::format!("device b secret={SECRET} channels=x from=2027-01-01 until=2026-01-01"),
            1,
            "until",
            "1767225600",
            Problem::EmptyWindow,
        ),
        (
            std::format!("device b secret={SECRET} channels=x colour=blue"),
            1,
            "colour",
            "blue",
            Problem::UnknownField,
        ),
        (std::format!("{ok}{ok}"), 2, "device", "a", Problem::BadId),
        ("device".into(), 1, "device", "", Problem::BadId),
        (
            std::format!("device {} secret={SECRET} channels=x", "x".repeat(33)),
            1,
            "device",
            &"x".repeat(33),
            Problem::BadId,
        ),
        (
            std::format!("{ok}{ok}").replacen("device a", "device c", 1),
            2,
            "device",
            "a",
            Problem::TooMany,
        ),
    ];
    for (text, line, field, value, problem) in cases {
        let cap = if *problem == Problem::TooMany { 1 } else { 8 };
        let e = Entitlements::parse(text, cap).unwrap_err();
        assert_eq!(
            (e.line, e.field.as_str(), e.value.as_str(), e.problem),
            (*line, *field, *value, *problem),
            "{text}"
        );
    }
    let e = Entitlements::parse("device b secret=zz channels=x", 8).unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 1: field secret: \"zz\": expected 64 hex digits"
    );
    // Multi-byte text is cut on a character boundary, never panics.
    let e =
        Entitlements::parse(&std::format!("device b secret={}", "é".repeat(40)), 8).unwrap_err();
    assert_eq!(e.value.chars().count(), 24);
}
