//! Key injection through a FIFO, in every `input_event` layout, read by [`Evdev`] and fed to a
//! [`Zapper`]; device lookup by name in a fake sysfs. Temp files only; waits on the reactor.

use super::*;
use crate::clock;
pub(crate) use crate::io::sink::tests::{mkfifo, temp_path};
use std::io::Write as _;
use tvmesh_core::input::{InputEvent, Key, KeyValue, EV_KEY};
use tvmesh_core::zap::{Directory, Entry, ZapConfig, ZapEvent, ZapReason, Zapper};

const TOKEN: Token = 3;

pub(crate) fn zapper() -> Zapper {
    let mut d = Directory::new(16);
    for (n, name) in [(1, "news"), (2, "sport"), (12, "film")] {
        let e = Entry {
            number: n,
            name: name.into(),
            description: String::new(),
            bitrate_kbps: 0,
            root: 0,
        };
        d.insert(e).unwrap();
    }
    Zapper::new(ZapConfig::default(), d)
}

fn record(layout: Layout, kind: u16, code: u16, value: i32) -> Vec<u8> {
    let ev = InputEvent {
        sec: 1_700_000_000,
        usec: 123_456,
        kind,
        code,
        value,
    };
    let mut b = [0u8; 24];
    let n = layout.emit(&ev, &mut b).unwrap();
    b[..n].to_vec()
}

/// What a remote sends for one key press: MSC_SCAN, key down, SYN, key up, SYN.
fn press(layout: Layout, code: u16) -> Vec<u8> {
    let mut v = record(layout, 4, 4, 0x1234);
    v.extend(record(layout, EV_KEY, code, 1));
    v.extend(record(layout, 0, 0, 0));
    v.extend(record(layout, EV_KEY, code, 0));
    v.extend(record(layout, 0, 0, 0));
    v
}

/// Waits (bounded) until `dev` yields `want` keys.
fn read_keys(dev: &mut Evdev, r: &mut Reactor, want: usize) -> Vec<KeyInput> {
    let mut got = Vec::new();
    let deadline = clock::now() + std::time::Duration::from_secs(5);
    while got.len() < want && dev.is_open() && clock::now() < deadline {
        let ready = r.wait(clock::now(), Some(deadline)).unwrap().to_vec();
        if ready.iter().any(|x| x.token == TOKEN) {
            got.extend(dev.on_readable(clock::now(), r));
        }
    }
    got
}

#[test]
fn fifo_injection_in_every_layout_drives_the_zapper() {
    for name in ["64le", "64be", "32le", "32be"] {
        let layout = Layout::from_name(name).unwrap();
        let p = mkfifo(&format!("keys-{name}"));
        let mut r = Reactor::new(8).unwrap();
        let t0 = clock::now();
        let spec = DeviceSpec::Path(p.clone());
        let mut dev = Evdev::open(spec, layout, Keymap::default(), true, t0);
        assert!(dev.is_open(), "{name}");
        assert!(
            !dev.is_grabbed(),
            "EVIOCGRAB fails on a FIFO and is not fatal"
        );
        dev.register(&r, TOKEN);
        let mut w = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
        // "1", "2" (KEY_NUMERIC_2), then OK; the OK record split across two writes.
        let mut bytes = press(layout, 2);
        bytes.extend(press(layout, 514));
        bytes.extend(press(layout, 352));
        let cut = bytes.len() - layout.record_len() * 4 - 5;
        w.write_all(&bytes[..cut]).unwrap();
        let mut keys = read_keys(&mut dev, &mut r, 4);
        w.write_all(&bytes[cut..]).unwrap();
        keys.extend(read_keys(&mut dev, &mut r, 2));
        assert_eq!(
            keys,
            [
                (Key::Digit(1), KeyValue::Press),
                (Key::Digit(1), KeyValue::Release),
                (Key::Digit(2), KeyValue::Press),
                (Key::Digit(2), KeyValue::Release),
                (Key::Ok, KeyValue::Press),
                (Key::Ok, KeyValue::Release),
            ],
            "{name}"
        );
        let mut z = zapper();
        for (k, v) in keys {
            z.handle_key(t0, k, v);
        }
        let evs: Vec<ZapEvent> = std::iter::from_fn(|| z.poll_event()).collect();
        assert_eq!(
            evs.last(),
            Some(&ZapEvent::ZapTo {
                number: 12,
                reason: ZapReason::Digits
            }),
            "{name}"
        );
        // The writer leaves: EOF closes the device, which is reopened later.
        drop(w);
        let _ = read_keys(&mut dev, &mut r, 1);
        assert!(!dev.is_open(), "{name}");
        let due = dev.next_wakeup().unwrap();
        dev.service(due, &r);
        assert!(dev.is_open(), "{name}");
        let _ = std::fs::remove_file(&p);
    }
}

#[test]
fn autorepeat_reaches_the_zapper_as_repeat() {
    let layout = Layout::native();
    let p = mkfifo("repeat");
    let mut r = Reactor::new(8).unwrap();
    let t0 = clock::now();
    let mut dev = Evdev::open(
        DeviceSpec::Path(p.clone()),
        layout,
        Keymap::with_overrides("103=up").unwrap(),
        false,
        t0,
    );
    dev.register(&r, TOKEN);
    let mut w = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
    let mut bytes = record(layout, EV_KEY, 103, 1);
    bytes.extend(record(layout, EV_KEY, 103, 2));
    bytes.extend(record(layout, EV_KEY, 103, 0));
    w.write_all(&bytes).unwrap();
    let keys = read_keys(&mut dev, &mut r, 3);
    assert_eq!(
        keys,
        [
            (Key::Up, KeyValue::Press),
            (Key::Up, KeyValue::Repeat),
            (Key::Up, KeyValue::Release)
        ]
    );
    let _ = std::fs::remove_file(&p);
}

#[test]
fn device_found_by_name_in_sysfs() {
    let sys = temp_path("sys");
    for (ev, name) in [("event0", "gpio-keys"), ("event1", "gpio_ir_recv")] {
        std::fs::create_dir_all(sys.join(ev).join("device")).unwrap();
        std::fs::write(sys.join(ev).join("device/name"), format!("{name}\n")).unwrap();
    }
    std::fs::create_dir_all(sys.join("mouse0")).unwrap();
    let dev = Path::new("/dev/input");
    assert_eq!(
        find_by_name(&sys, dev, "gpio_ir_recv"),
        Some(PathBuf::from("/dev/input/event1"))
    );
    assert_eq!(find_by_name(&sys, dev, "nothing"), None);
    let t0 = clock::now();
    let e = Evdev::open_in(
        DeviceSpec::parse("name:nothing"),
        Layout::native(),
        Keymap::default(),
        false,
        t0,
        &sys,
        dev,
    );
    assert!(!e.is_open());
    assert_eq!(
        e.next_wakeup(),
        Some(t0 + std::time::Duration::from_millis(500))
    );
    std::fs::remove_dir_all(&sys).unwrap();
}

#[test]
fn eviocgrab_request_code() {
    // _IOW('E', 0x90, int): 0x40044590 on x86/ARM, 0x80044590 on MIPS/PowerPC.
    let want = if cfg!(any(
        target_arch = "mips",
        target_arch = "mips64",
        target_arch = "powerpc"
    )) {
        0x8004_4590u32
    } else {
        0x4004_4590
    };
    assert_eq!(nix::request_code_write!(b'E', 0x90, 4) as u32, want);
}
