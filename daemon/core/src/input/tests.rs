//! Byte-literal tests of the `input_event` layouts, the keymap and lircd lines.

use super::*;

/// KEY_CHANNELUP (402 = 0x0192) pressed at 0x12345678 s + 0x0A0B0C µs, in each layout.
const EV: InputEvent = InputEvent {
    sec: 0x1234_5678,
    usec: 0x000A_0B0C,
    kind: EV_KEY,
    code: 402,
    value: 1,
};

const L64LE: [u8; 24] = [
    0x78, 0x56, 0x34, 0x12, 0, 0, 0, 0, 0x0C, 0x0B, 0x0A, 0, 0, 0, 0, 0, 0x01, 0x00, 0x92, 0x01,
    0x01, 0, 0, 0,
];
const L64BE: [u8; 24] = [
    0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0, 0, 0x0A, 0x0B, 0x0C, 0x00, 0x01, 0x01, 0x92, 0,
    0, 0, 0x01,
];
const L32LE: [u8; 16] = [
    0x78, 0x56, 0x34, 0x12, 0x0C, 0x0B, 0x0A, 0, 0x01, 0x00, 0x92, 0x01, 0x01, 0, 0, 0,
];
const L32BE: [u8; 16] = [
    0x12, 0x34, 0x56, 0x78, 0, 0x0A, 0x0B, 0x0C, 0x00, 0x01, 0x01, 0x92, 0, 0, 0, 0x01,
];

fn all() -> [(&'static str, &'static [u8]); 4] {
    [
        ("64le", &L64LE),
        ("64be", &L64BE),
        ("32le", &L32LE),
        ("32be", &L32BE),
    ]
}

#[test]
fn each_layout_parses_and_emits_its_literal() {
    for (name, bytes) in all() {
        let l = Layout::from_name(name).unwrap();
        assert_eq!(l.record_len(), bytes.len(), "{name}");
        assert_eq!(l.parse(bytes), Some(EV), "{name}");
        let mut out = [0u8; 24];
        assert_eq!(l.emit(&EV, &mut out), Some(bytes.len()), "{name}");
        assert_eq!(&out[..bytes.len()], bytes, "{name}");
    }
}

#[test]
fn wrong_lengths_and_names_are_refused() {
    let l = Layout::from_name("32le").unwrap();
    assert_eq!(l.parse(&L64LE), None);
    assert_eq!(l.parse(&L32LE[..15]), None);
    assert_eq!(l.emit(&EV, &mut [0u8; 15]), None);
    assert_eq!(Layout::from_name("16be"), Err(InputError::Layout));
}

#[test]
fn negative_values_survive() {
    let ev = InputEvent { value: -1, ..EV };
    for (name, _) in all() {
        let l = Layout::from_name(name).unwrap();
        let mut out = [0u8; 24];
        let n = l.emit(&ev, &mut out).unwrap();
        assert_eq!(l.parse(&out[..n]), Some(ev));
    }
}

#[test]
fn native_matches_the_target() {
    let n = Layout::native();
    assert_eq!(n, Layout::from_name("native").unwrap());
    assert_eq!(
        n.record_len(),
        2 * core::mem::size_of::<usize>() + 8,
        "input_event is two unsigned longs + 8 bytes"
    );
    let big = 1u16.to_be() == 1;
    assert_eq!(n.endian == Endian::Big, big);
}

#[test]
fn default_keymap_covers_both_digit_rows_and_channel_keys() {
    let m = Keymap::default();
    assert_eq!(m.key(11), Some(Key::Digit(0)));
    assert_eq!(m.key(2), Some(Key::Digit(1)));
    assert_eq!(m.key(10), Some(Key::Digit(9)));
    assert_eq!(m.key(512), Some(Key::Digit(0)));
    assert_eq!(m.key(521), Some(Key::Digit(9)));
    assert_eq!(m.key(402), Some(Key::Up));
    assert_eq!(m.key(403), Some(Key::Down));
    assert_eq!(m.key(352), Some(Key::Ok));
    assert_eq!(m.key(405), Some(Key::Previous));
    assert_eq!(m.key(412), Some(Key::Previous));
    assert_eq!(m.key(358), Some(Key::Info));
    assert_eq!(m.key(365), None);
}

#[test]
fn keymap_overrides_and_errors() {
    let m = Keymap::with_overrides(" 103=up, KEY_DOWN=down ,KEY_EPG=info,402=none").unwrap();
    assert_eq!(m.key(103), Some(Key::Up));
    assert_eq!(m.key(108), Some(Key::Down));
    assert_eq!(m.key(365), Some(Key::Info));
    assert_eq!(m.key(402), None);
    assert_eq!(m.key(403), Some(Key::Down));
    assert_eq!(Keymap::with_overrides(""), Ok(Keymap::default()));
    for bad in ["402", "402=sideways", "KEY_BOGUS=up", "70000=up"] {
        assert_eq!(
            Keymap::with_overrides(bad),
            Err(InputError::KeymapEntry),
            "{bad}"
        );
    }
    let many: alloc::string::String = (1000..1100).map(|c| alloc::format!("{c}=ok,")).collect();
    assert_eq!(Keymap::with_overrides(&many), Err(InputError::KeymapFull));
}

#[test]
fn key_events_filter_type_and_value() {
    let m = Keymap::default();
    assert_eq!(m.event(&EV), Some((Key::Up, KeyValue::Press)));
    let rep = InputEvent { value: 2, ..EV };
    assert_eq!(m.event(&rep), Some((Key::Up, KeyValue::Repeat)));
    let rel = InputEvent { value: 0, ..EV };
    assert_eq!(m.event(&rel), Some((Key::Up, KeyValue::Release)));
    let syn = InputEvent { kind: 0, ..EV };
    assert_eq!(m.event(&syn), None);
    let odd = InputEvent { value: 7, ..EV };
    assert_eq!(m.event(&odd), None);
}

#[test]
fn lirc_lines() {
    let l = parse_lirc_line("0000000000000001 00 KEY_CHANNELUP myremote\n").unwrap();
    assert_eq!(l.code, 1);
    assert_eq!(l.repeat, 0);
    assert_eq!(l.button, "KEY_CHANNELUP");
    assert_eq!(l.remote, "myremote");
    assert_eq!(l.value(), KeyValue::Press);
    let l = parse_lirc_line("000000037ff07bdd 1a OK mceusb").unwrap();
    assert_eq!(l.code, 0x37ff07bdd);
    assert_eq!(l.repeat, 0x1a);
    assert_eq!(l.value(), KeyValue::Repeat);
    let m = Keymap::default();
    assert_eq!(m.lirc_key("OK"), Some(Key::Ok));
    assert_eq!(m.lirc_key("KEY_CHANNELUP"), Some(Key::Up));
    assert_eq!(m.lirc_key("KEY_7"), Some(Key::Digit(7)));
    assert_eq!(m.lirc_key("KEY_NUMERIC_0"), Some(Key::Digit(0)));
    assert_eq!(m.lirc_key("0"), Some(Key::Digit(0)));
    assert_eq!(m.lirc_key("KEY_LAST"), Some(Key::Previous));
    assert_eq!(m.lirc_key("BOGUS"), None);
    for bad in ["", "0001 00 OK", "zz 00 OK r", "0001 xyz OK r", "0001"] {
        assert_eq!(parse_lirc_line(bad), Err(InputError::LircLine), "{bad:?}");
    }
}
