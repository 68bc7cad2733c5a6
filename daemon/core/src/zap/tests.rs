//! Tests of the directory (byte literals, hostile bodies, merging) and the zapper (one behaviour
//! per test, virtual time).

use super::*;
use alloc::string::String;
use alloc::vec::Vec;

fn entry(number: u16, name: &str, root: u8) -> Entry {
    Entry {
        number,
        name: name.into(),
        description: String::new(),
        bitrate_kbps: 0,
        root,
    }
}

/// Two channels: 1 "news" 2500 kbit/s "World", 12 "film" 0 kbit/s "".
const BODY: &[u8] = &[
    0x01, 0x00, 0x02, // version, count
    0x00, 0x01, 0x00, 0x00, 0x09, 0xC4, 0x04, b'n', b'e', b'w', b's', 0x05, b'W', b'o', b'r', b'l',
    b'd', //
    0x00, 0x0C, 0x00, 0x00, 0x00, 0x00, 0x04, b'f', b'i', b'l', b'm', 0x00,
];

#[test]
fn directory_parses_and_emits_literal() {
    let mut d = Directory::new(8);
    assert_eq!(d.apply(3, BODY), Ok(2));
    let e = d.get(1).unwrap();
    assert_eq!(
        (
            e.name.as_str(),
            e.description.as_str(),
            e.bitrate_kbps,
            e.root
        ),
        ("news", "World", 2500, 3)
    );
    assert_eq!(d.get(12).unwrap().name, "film");
    let mut buf = [0u8; 64];
    let n = d.emit(&mut buf).unwrap();
    assert_eq!(&buf[..n], BODY);
    assert_eq!(d.emit(&mut buf[..n - 1]), Err(DirError::Buffer));
}

#[test]
fn hostile_bodies_leave_directory_unchanged() {
    let mut d = Directory::new(8);
    d.apply(0, BODY).unwrap();
    let mut cases: Vec<(Vec<u8>, DirError)> = Vec::new();
    for cut in 0..BODY.len() {
        cases.push((BODY[..cut].to_vec(), DirError::Truncated));
    }
    let mut b = BODY.to_vec();
    b.push(0);
    cases.push((b, DirError::Trailing));
    let mut b = BODY.to_vec();
    b[0] = 2;
    cases.push((b, DirError::Version));
    let mut b = BODY.to_vec();
    b[4] = 0; // number 0
    cases.push((b, DirError::Number));
    let mut b = BODY.to_vec();
    (b[3], b[4]) = (0x27, 0x10); // 10000
    cases.push((b, DirError::Number));
    let mut b = BODY.to_vec();
    b[21] = 0x01; // second number = first
    cases.push((b, DirError::Duplicate));
    let mut b = BODY.to_vec();
    b[10] = b' ';
    cases.push((b, DirError::Name));
    let mut b = BODY.to_vec();
    b[9] = 0; // empty name: then "news" is read as the description length etc.
    cases.push((b, DirError::Name));
    let mut b = BODY.to_vec();
    b[15] = 0xFF;
    cases.push((b, DirError::Description));
    let mut b = BODY.to_vec();
    b[2] = 9; // count above capacity
    cases.push((b, DirError::Full));
    for (body, want) in cases {
        assert_eq!(d.apply(1, &body), Err(want), "{body:02x?}");
        assert_eq!(d.len(), 2);
        assert_eq!(d.get(1).unwrap().root, 0);
    }
}

#[test]
fn roots_merge_lower_index_wins_and_replace_their_own() {
    let mut d = Directory::new(8);
    d.insert(entry(1, "a1", 0)).unwrap();
    d.insert(entry(5, "a5", 0)).unwrap();
    let mut other = Directory::new(8);
    other.insert(entry(5, "b5", 0)).unwrap();
    other.insert(entry(7, "b7", 0)).unwrap();
    let mut buf = [0u8; 64];
    let n = other.emit(&mut buf).unwrap();
    assert_eq!(d.apply(1, &buf[..n]), Ok(3));
    let names: Vec<&str> = d.entries().iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["a1", "a5", "b7"]);
    assert_eq!(d.conflicts(), 1);
    // Root 1 publishes again without 7: its entry goes.
    let mut other = Directory::new(8);
    other.insert(entry(9, "b9", 0)).unwrap();
    let n = other.emit(&mut buf).unwrap();
    assert_eq!(d.apply(1, &buf[..n]), Ok(3));
    let nums: Vec<u16> = d.entries().iter().map(|e| e.number).collect();
    assert_eq!(nums, [1, 5, 9]);
    // Capacity counts all roots together.
    let mut small = Directory::new(2);
    small.insert(entry(1, "x", 0)).unwrap();
    assert_eq!(small.apply(1, &buf[..n]), Ok(2));
    assert_eq!(small.apply(2, BODY), Err(DirError::Full));
    assert_eq!(small.insert(entry(3, "y", 0)), Err(DirError::Full));
}

#[test]
fn long_descriptions_are_cut_on_a_char_boundary() {
    let mut d = Directory::new(2);
    let mut e = entry(1, "a", 0);
    e.description = "é".repeat(200); // 400 bytes
    d.insert(e).unwrap();
    let mut buf = [0u8; 400];
    let n = d.emit(&mut buf).unwrap();
    assert_eq!(buf[3 + 2 + 4 + 1 + 1], 254);
    let mut back = Directory::new(2);
    back.apply(0, &buf[..n]).unwrap();
    assert_eq!(back.get(1).unwrap().description, "é".repeat(127));
}

fn zapper() -> Zapper {
    let mut d = Directory::new(16);
    for (n, name) in [
        (1, "news"),
        (2, "sport"),
        (7, "film"),
        (12, "kids"),
        (100, "radio"),
    ] {
        d.insert(entry(n, name, 0)).unwrap();
    }
    Zapper::new(ZapConfig::default(), d)
}

fn t(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn events(z: &mut Zapper) -> Vec<ZapEvent> {
    core::iter::from_fn(|| z.poll_event()).collect()
}

fn zap(number: u16, reason: ZapReason) -> ZapEvent {
    ZapEvent::ZapTo { number, reason }
}

#[test]
fn digits_commit_after_the_entry_timeout() {
    let mut z = zapper();
    z.handle_key(t(0), Key::Digit(1), KeyValue::Press);
    z.handle_key(t(0), Key::Digit(1), KeyValue::Release);
    z.handle_key(t(500), Key::Digit(2), KeyValue::Press);
    assert_eq!(
        events(&mut z),
        [
            ZapEvent::Entry {
                value: 1,
                digits: 1
            },
            ZapEvent::Entry {
                value: 12,
                digits: 2
            }
        ]
    );
    assert_eq!(z.poll_timeout(), Some(t(2500)));
    z.handle_timeout(t(2499));
    assert_eq!(events(&mut z), []);
    z.handle_timeout(t(2500));
    assert_eq!(events(&mut z), [zap(12, ZapReason::Digits)]);
    assert_eq!(z.poll_timeout(), None);
    assert_eq!((z.current(), z.last_zap()), (Some(12), Some(t(2500))));
}

#[test]
fn ok_commits_at_once_and_max_digits_commit_alone() {
    let mut z = zapper();
    z.handle_key(t(0), Key::Digit(7), KeyValue::Press);
    z.handle_key(t(10), Key::Ok, KeyValue::Press);
    assert_eq!(events(&mut z).last(), Some(&zap(7, ZapReason::Digits)));
    for d in [0, 1, 0, 0] {
        z.handle_key(t(20), Key::Digit(d), KeyValue::Press);
    }
    assert_eq!(events(&mut z).last(), Some(&zap(100, ZapReason::Digits)));
    assert_eq!(z.poll_timeout(), None);
    // OK with nothing typed does nothing.
    z.handle_key(t(30), Key::Ok, KeyValue::Press);
    assert_eq!(events(&mut z), []);
}

#[test]
fn unknown_number_is_reported_and_current_kept() {
    let mut z = zapper();
    z.set_current(t(0), 1);
    z.handle_key(t(0), Key::Digit(9), KeyValue::Press);
    z.handle_key(t(0), Key::Ok, KeyValue::Press);
    assert_eq!(
        events(&mut z).last(),
        Some(&ZapEvent::NoSuchChannel { number: Some(9) })
    );
    assert_eq!(z.current(), Some(1));
}

#[test]
fn digit_repeats_are_ignored() {
    let mut z = zapper();
    z.handle_key(t(0), Key::Digit(1), KeyValue::Press);
    for i in 1..10 {
        z.handle_key(t(500 + i * 100), Key::Digit(1), KeyValue::Repeat);
    }
    assert_eq!(events(&mut z).len(), 1);
    assert_eq!(z.entry(), Some((1, 1)));
    assert_eq!(z.poll_timeout(), Some(t(2000)));
}

#[test]
fn up_down_wrap_in_number_order() {
    let mut z = zapper();
    z.handle_key(t(0), Key::Up, KeyValue::Press);
    z.handle_key(t(1000), Key::Down, KeyValue::Press);
    z.handle_key(t(2000), Key::Down, KeyValue::Press);
    z.handle_key(t(3000), Key::Up, KeyValue::Press);
    assert_eq!(
        events(&mut z),
        [
            zap(1, ZapReason::Up),
            zap(100, ZapReason::Down),
            zap(12, ZapReason::Down),
            zap(100, ZapReason::Up),
        ]
    );
    z.handle_command(t(4000), Command::Up);
    assert_eq!(events(&mut z), [zap(1, ZapReason::Up)]);
}

#[test]
fn held_up_steps_at_a_bounded_rate() {
    let mut z = zapper();
    z.set_current(t(0), 1);
    z.handle_key(t(0), Key::Up, KeyValue::Press);
    // rc-core: repeat after 500 ms, then every 125 ms; steps at most every 250 ms.
    for i in 0..8 {
        z.handle_key(t(500 + i * 125), Key::Up, KeyValue::Repeat);
    }
    z.handle_key(t(1500), Key::Up, KeyValue::Release);
    let got: Vec<u16> = events(&mut z)
        .iter()
        .map(|e| match e {
            ZapEvent::ZapTo { number, .. } => *number,
            other => panic!("{other:?}"),
        })
        .collect();
    // press at 0, repeats accepted at 500, 750, 1000, 1250 (1375 is too soon after 1250).
    assert_eq!(got, [2, 7, 12, 100, 1]);
}

#[test]
fn up_cancels_a_digit_entry() {
    let mut z = zapper();
    z.set_current(t(0), 1);
    z.handle_key(t(0), Key::Digit(7), KeyValue::Press);
    z.handle_key(t(100), Key::Up, KeyValue::Press);
    assert_eq!(z.poll_timeout(), None);
    assert_eq!(events(&mut z).last(), Some(&zap(2, ZapReason::Up)));
}

#[test]
fn previous_toggles() {
    let mut z = zapper();
    z.handle_key(t(0), Key::Previous, KeyValue::Press);
    assert_eq!(events(&mut z), []);
    z.handle_command(t(0), Command::Number(7));
    z.handle_command(t(10), Command::Name("KIDS"));
    z.handle_key(t(20), Key::Previous, KeyValue::Press);
    z.handle_key(t(30), Key::Previous, KeyValue::Repeat);
    z.handle_command(t(40), Command::Previous);
    assert_eq!(
        events(&mut z),
        [
            zap(7, ZapReason::Command),
            zap(12, ZapReason::Command),
            zap(7, ZapReason::Previous),
            zap(12, ZapReason::Previous),
        ]
    );
    assert_eq!((z.current(), z.previous()), (Some(12), Some(7)));
}

#[test]
fn commands_report_misses_and_same_channel_is_quiet() {
    let mut z = zapper();
    z.handle_command(t(0), Command::Number(2));
    z.handle_command(t(1), Command::Number(2));
    z.handle_command(t(2), Command::Name("nope"));
    z.handle_command(t(3), Command::Number(3));
    z.handle_key(t(4), Key::Info, KeyValue::Press);
    assert_eq!(
        events(&mut z),
        [
            zap(2, ZapReason::Command),
            ZapEvent::NoSuchChannel { number: None },
            ZapEvent::NoSuchChannel { number: Some(3) },
            ZapEvent::Info { current: Some(2) },
        ]
    );
    assert_eq!(z.last_zap(), Some(t(0)));
}

#[test]
fn events_are_bounded() {
    let mut z = zapper();
    for i in 0..(MAX_EVENTS as u64 + 5) {
        z.handle_key(t(i * 1000), Key::Info, KeyValue::Press);
    }
    assert_eq!(events(&mut z).len(), MAX_EVENTS);
    assert_eq!(z.dropped_events(), 5);
}

#[test]
fn empty_directory_never_zaps() {
    let mut z = Zapper::new(ZapConfig::default(), Directory::new(4));
    z.handle_key(t(0), Key::Up, KeyValue::Press);
    z.handle_key(t(0), Key::Down, KeyValue::Press);
    z.handle_command(t(0), Command::Previous);
    assert_eq!(events(&mut z), []);
    assert_eq!(z.current(), None);
}
