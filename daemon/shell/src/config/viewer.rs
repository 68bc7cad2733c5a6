//! Settings of the viewer's box (issue 7): remote input, control socket, zapping, decoder sink,
//! front-panel LED. All optional; absent means off (or the default named below).
//!
//! | key | value | default |
//! |---|---|---|
//! | `remote` | `none`, an evdev path (`/dev/input/event0`) or `name:DEVICE_NAME` | none |
//! | `remote_grab` | `yes`/`no`: EVIOCGRAB the device (failure is not fatal) | yes |
//! | `remote_layout` | `native`, `64le`, `64be`, `32le`, `32be` (`input_event` layout) | native |
//! | `keymap` | `CODE=KEY,...` overrides, e.g. `402=up,403=down,KEY_EPG=info,412=none` | built in |
//! | `lircd` | lircd socket path, e.g. `/var/run/lirc/lircd` | none |
//! | `control_socket` | Unix socket path for `zap N`, `up`, ... | none |
//! | `zap_entry_ms` | digit entry timeout, 300–10000 ms | 2000 |
//! | `dvb` | `adapter=N,demux=N,dvr=N` (each 0–255, missing parts 0) | none |
//! | `dvb_setup` | `mainline` (DMX_IN_DVR) or `enigma2` (DMX_SET_SOURCE) | mainline |
//! | `led` | an LED name under /sys/class/leds | none |
//! | `prejoin` | `yes`/`no`: thin memberships in channel +1, −1 and previous (fast zaps) | yes |
//! | `prejoin_kib` | pool per thin membership, KiB (64–16384); 3 memberships at most | 1024 |
//!
//! Invariant: every value is checked here; an error names the key and the value.

use super::{err, last, num, ConfigError, Setting};
use crate::io::dvb::{DvbConfig, DvbSetup};
use crate::remote::evdev::DeviceSpec;
use std::path::PathBuf;
use std::time::Duration;
use tvmesh_core::input::{Keymap, Layout};

/// The viewer's box settings. See the module documentation.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewerConfig {
    pub remote: Option<DeviceSpec>,
    pub remote_grab: bool,
    pub remote_layout: Layout,
    pub keymap: Keymap,
    pub lircd: Option<PathBuf>,
    pub control_socket: Option<PathBuf>,
    pub zap_entry: Duration,
    pub dvb: Option<DvbConfig>,
    pub led: Option<String>,
    /// Write to the Amlogic amstream decoder (`/dev/amstream_mpts`, cargo feature `amstream`).
    pub amstream: bool,
    /// Thin memberships in the neighbour channels (see `crate::zapping::prejoin`).
    pub prejoin: bool,
    /// Pool of each thin membership, KiB.
    pub prejoin_kib: usize,
}

/// The keys this file reads.
pub(super) const KEYS: &[&str] = &[
    "remote",
    "remote_grab",
    "remote_layout",
    "keymap",
    "lircd",
    "control_socket",
    "zap_entry_ms",
    "dvb",
    "dvb_setup",
    "led",
    "amstream",
    "prejoin",
    "prejoin_kib",
];

fn path(s: &Setting) -> Result<PathBuf, ConfigError> {
    if s.value.starts_with('/') {
        Ok(PathBuf::from(&s.value))
    } else {
        Err(err(s, "expected an absolute path"))
    }
}

fn dvb(s: &Setting, setup: DvbSetup) -> Result<DvbConfig, ConfigError> {
    let mut c = DvbConfig {
        adapter: 0,
        demux: 0,
        dvr: 0,
        setup,
    };
    for part in s.value.split(',').map(str::trim) {
        let bad = || {
            err(
                s,
                format!("`{part}`: expected adapter=N,demux=N,dvr=N with N 0-255"),
            )
        };
        let (k, v) = part.split_once('=').ok_or_else(bad)?;
        let n: u8 = v.trim().parse().map_err(|_| bad())?;
        match k.trim() {
            "adapter" => c.adapter = n,
            "demux" => c.demux = n,
            "dvr" => c.dvr = n,
            _ => return Err(bad()),
        }
    }
    Ok(c)
}

/// Reads the viewer keys from `all` (last value wins).
pub(super) fn viewer(all: &[Setting]) -> Result<ViewerConfig, ConfigError> {
    let remote = match last(all, "remote") {
        None => None,
        Some(s) if s.value == "none" => None,
        Some(s) => match DeviceSpec::parse(&s.value) {
            DeviceSpec::Name(n) if n.is_empty() => return Err(err(s, "name: needs a device name")),
            DeviceSpec::Path(_) => Some(DeviceSpec::Path(path(s)?)),
            spec => Some(spec),
        },
    };
    let remote_grab = yes_no(all, "remote_grab")?.unwrap_or(true);
    let prejoin = yes_no(all, "prejoin")?.unwrap_or(true);
    let prejoin_kib: usize = last(all, "prejoin_kib")
        .map(|s| num(s, 64, 16_384))
        .transpose()?
        .unwrap_or(1024);
    let remote_layout = match last(all, "remote_layout") {
        None => Layout::native(),
        Some(s) => Layout::from_name(&s.value)
            .map_err(|_| err(s, "expected native, 64le, 64be, 32le or 32be"))?,
    };
    let keymap = match last(all, "keymap") {
        None => Keymap::default(),
        Some(s) => Keymap::with_overrides(&s.value).map_err(|e| {
            err(
                s,
                format!("{e:?}: expected CODE=KEY,... with CODE a number or KEY_ name and KEY one of 0-9, ok, up, down, prev, info, none (at most {} entries)", tvmesh_core::input::MAX_KEYMAP),
            )
        })?,
    };
    let lircd = last(all, "lircd").map(path).transpose()?;
    let control_socket = last(all, "control_socket").map(path).transpose()?;
    let zap_entry_ms: u64 = last(all, "zap_entry_ms")
        .map(|s| num(s, 300, 10_000))
        .transpose()?
        .unwrap_or(2000);
    let setup = match last(all, "dvb_setup") {
        None => DvbSetup::Mainline,
        Some(s) => match s.value.as_str() {
            "mainline" => DvbSetup::Mainline,
            "enigma2" => DvbSetup::Enigma2,
            _ => return Err(err(s, "expected mainline or enigma2")),
        },
    };
    let dvb = last(all, "dvb").map(|s| dvb(s, setup)).transpose()?;
    let amstream = yes_no(all, "amstream")?.unwrap_or(false);
    if let Some(s) = last(all, "amstream").filter(|_| amstream && !cfg!(feature = "amstream")) {
        return Err(err(
            s,
            "this tvmeshd was built without the amstream feature (cargo --features amstream)",
        ));
    }
    let led = match last(all, "led") {
        None => None,
        Some(s) if s.value == "none" => None,
        Some(s) => {
            let ok = !s.value.is_empty()
                && s.value.len() <= 64
                && !s.value.contains('/')
                && !s.value.starts_with('.');
            if !ok {
                return Err(err(s, "expected an LED name as in /sys/class/leds (no /)"));
            }
            Some(s.value.clone())
        }
    };
    Ok(ViewerConfig {
        remote,
        remote_grab,
        remote_layout,
        keymap,
        lircd,
        control_socket,
        zap_entry: Duration::from_millis(zap_entry_ms),
        dvb,
        led,
        amstream,
        prejoin,
        prejoin_kib,
    })
}

fn yes_no(all: &[Setting], key: &str) -> Result<Option<bool>, ConfigError> {
    match last(all, key) {
        None => Ok(None),
        Some(s) => match s.value.as_str() {
            "yes" | "true" | "1" => Ok(Some(true)),
            "no" | "false" | "0" => Ok(Some(false)),
            _ => Err(err(s, "expected yes or no")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::run;
    use super::*;

    #[test]
    fn amstream_is_off_by_default_and_needs_the_feature() {
        let c = run("peer --root 127.0.0.1:7000 --channel news").unwrap();
        assert!(!c.viewer.amstream);
        let r = run("peer --root 127.0.0.1:7000 --channel news --amstream yes");
        if cfg!(feature = "amstream") {
            assert!(r.unwrap().viewer.amstream);
        } else {
            let e = r.unwrap_err();
            assert_eq!((e.field.as_str(), e.value.as_str()), ("amstream", "yes"));
        }
    }

    #[test]
    fn defaults_and_board_remote_path() {
        let c = run("peer --root 127.0.0.1:7000 --channel news").unwrap();
        let v = c.viewer;
        assert_eq!(v.remote, None);
        assert!(v.remote_grab);
        assert_eq!(v.remote_layout, Layout::native());
        assert_eq!(v.keymap, Keymap::default());
        assert_eq!(v.zap_entry, Duration::from_secs(2));
        assert_eq!((v.prejoin, v.prejoin_kib), (true, 1024));
        let c =
            run("peer --root 127.0.0.1:7000 --channel news --prejoin no --prejoin-kib 64").unwrap();
        assert_eq!((c.viewer.prejoin, c.viewer.prejoin_kib), (false, 64));
        let e = run("peer --root 127.0.0.1:7000 --channel news --prejoin-kib 63").unwrap_err();
        assert_eq!((e.field.as_str(), e.value.as_str()), ("prejoin_kib", "63"));
        let e = run("peer --root 127.0.0.1:7000 --channel news --prejoin maybe").unwrap_err();
        assert_eq!(e.field, "prejoin");
        assert_eq!(
            (v.dvb, v.led, v.lircd, v.control_socket),
            (None, None, None, None)
        );
        let c =
            run("peer --root 127.0.0.1:7000 --channel news --remote /dev/input/event1").unwrap();
        assert_eq!(
            c.viewer.remote,
            Some(DeviceSpec::Path("/dev/input/event1".into()))
        );
    }

    #[test]
    fn all_keys() {
        let c = run(
            "peer --root 127.0.0.1:7000 --channel news --remote name:gpio_ir_recv \
             --remote-grab no --remote-layout 32be --keymap 103=up,KEY_DOWN=down \
             --lircd /var/run/lirc/lircd --control-socket /run/tvmesh.ctl --zap-entry-ms 1500 \
             --dvb adapter=1,dvr=2 --dvb-setup enigma2 --led power",
        )
        .unwrap();
        let v = c.viewer;
        assert_eq!(v.remote, Some(DeviceSpec::Name("gpio_ir_recv".into())));
        assert!(!v.remote_grab);
        assert_eq!(v.remote_layout, Layout::from_name("32be").unwrap());
        assert_eq!(v.keymap.key(103), Some(tvmesh_core::input::Key::Up));
        assert_eq!(v.lircd, Some("/var/run/lirc/lircd".into()));
        assert_eq!(v.control_socket, Some("/run/tvmesh.ctl".into()));
        assert_eq!(v.zap_entry, Duration::from_millis(1500));
        assert_eq!(
            v.dvb,
            Some(DvbConfig {
                adapter: 1,
                demux: 0,
                dvr: 2,
                setup: DvbSetup::Enigma2
            })
        );
        assert_eq!(v.led.as_deref(), Some("power"));
    }

    #[test]
    fn bad_values_name_the_field() {
        let base = "peer --root 127.0.0.1:7000 --channel news";
        for (flag, value) in [
            ("remote", "event0"),
            ("remote", "name:"),
            ("remote-grab", "maybe"),
            ("remote-layout", "16le"),
            ("keymap", "402=sideways"),
            ("lircd", "lircd"),
            ("control-socket", "ctl"),
            ("zap-entry-ms", "100"),
            ("dvb", "adapter=300"),
            ("dvb", "tuner=1"),
            ("dvb-setup", "vu"),
            ("led", "../x"),
        ] {
            let e = run(&format!("{base} --{flag} {value}")).unwrap_err();
            assert_eq!(e.field, flag.replace('-', "_"), "{flag}");
            assert_eq!(e.value, value, "{flag}");
        }
    }

    #[test]
    fn board_profiles_still_parse() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../board");
        for f in std::fs::read_dir(dir).unwrap() {
            let p = f.unwrap().path();
            if p.extension().is_some_and(|e| e == "conf") {
                let cmd = format!(
                    "peer --root 127.0.0.1:7000 --channel news --board {}",
                    p.display()
                );
                run(&cmd).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            }
        }
    }
}
