//! End to end zapping (issue 7): a root with three channels of different resolutions publishes
//! its directory; a box with a file sink zaps through a sequence driven by keys written into a
//! FIFO as `input_event` records (one layout per test), the control socket, HTTP
//! `/control?cmd=` and a fake lircd. After every zap the sink bytes of that channel are cut out
//! (the box reports where they start) and ffprobe must decode them from a key frame, without
//! errors, at the channel's resolution.

mod support;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::*;

/// (number, name, file, width, height)
const CHANNELS: [(u16, &str, &str, u32, u32); 3] = [
    (1, "alpha", "a.ts", 320, 240),
    (2, "bravo", "b.ts", 640, 360),
    (5, "charlie", "c.ts", 160, 120),
];

const KEY_1: u16 = 2;
const KEY_2: u16 = 3;
const KEY_OK: u16 = 352;
const KEY_CHANNELUP: u16 = 402;
const KEY_CHANNELDOWN: u16 = 403;
const KEY_LAST: u16 = 405;

fn channel_data() -> PathBuf {
    // The tests of this file run in parallel: make the channels once, not three times at once.
    static DATA: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DATA.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/zapdata");
        let ok = Command::new(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/make-zap-channels.sh"),
        )
        .arg(&dir)
        .status()
        .expect("tools/make-zap-channels.sh runs (needs ffmpeg)");
        assert!(ok.success(), "made the zap channels");
        dir
    })
    .clone()
}

fn start_root(dir: &Path, data: u16, http: u16) -> Daemon {
    let src = channel_data();
    let mut args: Vec<String> = vec![
        "root".into(),
        "--listen".into(),
        format!("127.0.0.1:{data}"),
        "--http".into(),
        format!("127.0.0.1:{http}"),
    ];
    for (n, name, file, w, h) in CHANNELS {
        args.push("--channel".into());
        args.push(format!(
            "name={name},source=file:{},number={n},desc={w}x{h} test channel",
            src.join(file).display()
        ));
    }
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    Daemon::start(&a, &dir.join("root.log"))
}

/// One `input_event` record in layout `layout` (64le or 32be).
fn record(layout: &str, kind: u16, code: u16, value: i32) -> Vec<u8> {
    let mut r = Vec::new();
    match layout {
        "64le" => {
            r.extend_from_slice(&1u64.to_le_bytes());
            r.extend_from_slice(&2u64.to_le_bytes());
            r.extend_from_slice(&kind.to_le_bytes());
            r.extend_from_slice(&code.to_le_bytes());
            r.extend_from_slice(&value.to_le_bytes());
        }
        _ => {
            r.extend_from_slice(&1u32.to_be_bytes());
            r.extend_from_slice(&2u32.to_be_bytes());
            r.extend_from_slice(&kind.to_be_bytes());
            r.extend_from_slice(&code.to_be_bytes());
            r.extend_from_slice(&value.to_be_bytes());
        }
    }
    r
}

fn press(fifo: &mut std::fs::File, layout: &str, code: u16) {
    let mut b = record(layout, 1, code, 1);
    b.extend(record(layout, 0, 0, 0));
    b.extend(record(layout, 1, code, 0));
    b.extend(record(layout, 0, 0, 0));
    fifo.write_all(&b).unwrap();
}

/// A box on channel alpha with roots at 127.0.0.1:`roots` (in order), a file sink and HTTP.
fn box_args(roots: &[u16], out: &Path, http: u16) -> Vec<String> {
    let mut args = vec!["peer".to_string()];
    for r in roots {
        args.extend(["--root".to_string(), format!("127.0.0.1:{r}")]);
    }
    args.extend(
        [
            "--channel",
            "alpha",
            "--sink",
            &format!("file:{}", out.display()),
            "--http",
            &format!("127.0.0.1:{http}"),
        ]
        .map(String::from),
    );
    args
}

fn mkfifo(p: &Path) {
    let ok = Command::new("mkfifo").arg(p).status().unwrap();
    assert!(ok.success());
}

struct BoxUnderTest {
    d: Daemon,
    http: u16,
    out: PathBuf,
    dir: PathBuf,
    zaps: u64,
}

impl BoxUnderTest {
    fn zap_status(&self) -> serde_json::Value {
        status(self.http)
            .map(|v| v["zap"].clone())
            .unwrap_or_default()
    }

    /// Waits for zap number `zaps` to land on `number` and 1.2 s of its stream at the sink, then
    /// checks the sink bytes since the zap decode as that channel.
    fn expect_channel(&mut self, number: u16, what: &str) -> u64 {
        self.zaps += 1;
        let want = self.zaps;
        let z = wait_for(Duration::from_secs(10), what, || {
            let z = self.zap_status();
            (z["zaps"].as_u64() == Some(want)
                && z["channel"]["number"].as_u64() == Some(u64::from(number))
                && z["latencies_us"].as_array().map(Vec::len) == Some(want as usize))
            .then_some(z)
        });
        std::thread::sleep(Duration::from_millis(1200));
        let start = z["sink_start"].as_u64().unwrap();
        let bytes = std::fs::read(&self.out).unwrap();
        assert!(
            bytes.len() as u64 > start + 20 * 188,
            "{what}: sink grew after the zap"
        );
        assert_eq!(
            start % 188,
            0,
            "{what}: channel starts on a packet boundary"
        );
        let seg = self.dir.join(format!("zap{want}.ts"));
        // Whole frames only: up to the last video PES start (the box may be writing right now).
        let whole = &bytes[start as usize..];
        let whole = &whole[..whole.len() / 188 * 188];
        std::fs::write(&seg, &whole[..last_video_pes(whole)]).unwrap();
        let (w, h) = CHANNELS
            .iter()
            .find(|c| c.0 == number)
            .map_or((160, 120), |c| (c.3, c.4)); // 7: the second root's copy of c.ts
        check_segment(&seg, w, h, what);
        z["latencies_us"][want as usize - 1].as_u64().unwrap()
    }
}

/// Offset of the last video PES start in whole packets `ts` (the video PID is the one of the
/// first packet after PAT and PMT, where a random-access chunk puts its key frame).
fn last_video_pes(ts: &[u8]) -> usize {
    let pid = |p: &[u8]| (u16::from(p[1] & 0x1F) << 8) | u16::from(p[2]);
    let video = ts.chunks(188).nth(2).map(pid).unwrap_or(0);
    ts.chunks(188)
        .enumerate()
        .rev()
        .find(|(_, p)| p[1] & 0x40 != 0 && pid(p) == video)
        .map_or(ts.len(), |(i, _)| i * 188)
}

/// ffprobe: first video frame is a key frame, every frame has the expected size, no errors.
fn check_segment(seg: &Path, w: u32, h: u32, what: &str) {
    let o = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args(["frame=key_frame,width,height", "-of", "csv=p=0"])
        .arg(seg)
        .output()
        .expect("ffprobe");
    let text = String::from_utf8_lossy(&o.stdout);
    let frames: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let errors = String::from_utf8_lossy(&o.stderr);
    assert!(
        frames.len() >= 10,
        "{what}: decoded {} frames\n{errors}",
        frames.len()
    );
    assert!(
        frames[0].starts_with('1'),
        "{what}: first frame is a key frame: {frames:?}"
    );
    let size = format!("{w},{h}");
    assert!(
        frames
            .iter()
            .all(|f| f.ends_with(&size) || f.contains(&format!(",{size}"))),
        "{what}: every frame is {size}: {:?}",
        &frames[..frames.len().min(5)]
    );
    assert!(
        errors.trim().is_empty(),
        "{what}: ffprobe errors:\n{errors}"
    );
}

fn start_box(name: &str, layout: &str, extra: &[String]) -> (BoxUnderTest, Daemon, PathBuf) {
    let dir = scratch(name);
    let (data, root_http, box_http) = (udp_port(), tcp_port(), tcp_port());
    let root = start_root(&dir, data, root_http);
    let out = dir.join("out.ts");
    let fifo = dir.join("remote.fifo");
    mkfifo(&fifo);
    let mut args = box_args(&[data], &out, box_http);
    for a in [
        "--remote",
        fifo.to_str().unwrap(),
        "--remote-grab",
        "no",
        "--remote-layout",
        layout,
        "--control-socket",
        dir.join("control.sock").to_str().unwrap(),
        "--zap-entry-ms",
        "300",
    ] {
        args.push(a.to_string());
    }
    args.extend_from_slice(extra);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let d = Daemon::start(&a, &dir.join("box.log"));
    let b = BoxUnderTest {
        d,
        http: box_http,
        out,
        dir: dir.clone(),
        zaps: 0,
    };
    wait_for(
        Duration::from_secs(10),
        "box plays alpha, directory known",
        || {
            let v = status(box_http)?;
            (v["channels"][0]["state"] == "playing"
                && v["zap"]["directory_size"] == 3
                && v["zap"]["channel"]["number"] == 1)
                .then_some(v)
        },
    );
    let v = b.zap_status();
    assert_eq!(v["directory"][2]["name"], "charlie");
    assert_eq!(v["directory"][2]["number"], 5);
    assert_eq!(v["directory"][2]["description"], "160x120 test channel");
    assert_eq!(v["inputs"]["remote_open"], true);
    assert_eq!(v["inputs"]["remote_grabbed"], false);
    assert_eq!(v["inputs"]["control_clients"], 0);
    (b, root, fifo)
}

fn control(sock: &Path, line: &str) -> String {
    let mut s = UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(format!("{line}\n").as_bytes()).unwrap();
    let mut r = String::new();
    BufReader::new(s).read_line(&mut r).unwrap();
    r.trim().to_string()
}

/// The sequence with keys in `layout`; `prejoin` "yes" (every target is a held neighbour: the
/// promotion path) or "no" (every zap joins afresh).
fn run_sequence(layout: &str, prejoin: &str) {
    let extra = ["--prejoin".to_string(), prejoin.to_string()];
    let (mut b, mut root, fifo) = start_box(&format!("zap-{layout}"), layout, &extra);
    let mut keys = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    let mut lat = Vec::new();
    let steps: [(&[u16], u16, &str); 6] = [
        (&[KEY_CHANNELUP], 2, "up to bravo"),
        (&[KEY_CHANNELUP], 5, "up to charlie"),
        (&[KEY_1], 1, "digit 1 (entry timeout)"),
        (&[KEY_2, KEY_OK], 2, "digit 2 + OK"),
        (&[KEY_LAST], 1, "previous"),
        (&[KEY_CHANNELDOWN], 5, "down wraps to charlie"),
    ];
    for (codes, number, what) in steps {
        for &c in codes {
            press(&mut keys, layout, c);
        }
        lat.push(b.expect_channel(number, what));
    }
    assert_eq!(control(&b.dir.join("control.sock"), "zap bravo"), "ok 2");
    lat.push(b.expect_channel(2, "control socket: zap bravo"));
    let (code, body) = http_get(b.http, "/control?cmd=zap+5").unwrap();
    assert_eq!((code, String::from_utf8_lossy(&body).trim()), (200, "ok 5"));
    lat.push(b.expect_channel(5, "http: zap 5"));
    let z = b.zap_status();
    assert_eq!(
        z["started_with_pat"].as_u64(),
        Some(b.zaps),
        "every zap began with a PAT"
    );
    assert_eq!(z["channel"]["name"], "charlie");
    assert!(z["last_zap_ms"].as_u64().unwrap() > 0);
    let hits = z["prejoin"]["hits"].as_u64().unwrap();
    if prejoin == "yes" {
        assert!(hits >= b.zaps - 1, "pre-joined zaps: {hits} of {}", b.zaps);
        assert_eq!(
            z["prejoin"]["members"], 2,
            "3 channels: the 2 others are held"
        );
    } else {
        assert_eq!((hits, z["prejoin"]["members"].as_u64()), (0, Some(0)));
    }
    println!("{layout}: zap latencies (µs): {lat:?}");
    drop(keys);
    assert_eq!(b.d.stop(), Some(0), "box exits cleanly");
    assert_eq!(root.stop(), Some(0), "root exits cleanly");
}

#[test]
fn zap_sequence_keys_64le_prejoined() {
    run_sequence("64le", "yes");
}

#[test]
fn zap_sequence_keys_32be_plain() {
    run_sequence("32be", "no");
}

#[test]
fn fake_lircd_zaps() {
    let dir = scratch("zap-lircd-sock");
    let sock = dir.join("lircd");
    let listener = UnixListener::bind(&sock).unwrap();
    let (mut b, mut root, _fifo) = start_box(
        "zap-lircd",
        "native",
        &["--lircd".into(), sock.to_str().unwrap().into()],
    );
    listener.set_nonblocking(false).unwrap();
    let (mut lircd, _) = listener.accept().unwrap();
    lircd
        .write_all(
            b"000000037ff07bdd 00 KEY_CHANNELUP mceusb\n000000037ff07bdd 01 KEY_CHANNELUP mceusb\n",
        )
        .unwrap();
    b.expect_channel(2, "lircd: up");
    lircd
        .write_all(b"000000037ff07bd1 00 KEY_LAST mceusb\n")
        .unwrap();
    b.expect_channel(1, "lircd: previous");
    assert_eq!(b.zap_status()["inputs"]["lircd_connected"], true);
    assert_eq!(b.d.stop(), Some(0));
    assert_eq!(root.stop(), Some(0));
}

#[test]
fn two_roots_one_directory() {
    let dir = scratch("zap-two-roots");
    let (d1, h1, d2, h2, box_http) = (udp_port(), tcp_port(), udp_port(), tcp_port(), tcp_port());
    let mut root1 = start_root(&dir, d1, h1);
    let c = channel_data().join("c.ts");
    let spec = format!(
        "name=delta,source=file:{},number=7,desc=second root",
        c.display()
    );
    let mut root2 = Daemon::start(
        &[
            "root",
            "--listen",
            &format!("127.0.0.1:{d2}"),
            "--http",
            &format!("127.0.0.1:{h2}"),
            "--channel",
            &spec,
        ],
        &dir.join("root2.log"),
    );
    let out = dir.join("out.ts");
    let mut args = box_args(&[d2, d1], &out, box_http);
    args.extend(["--prejoin".to_string(), "no".to_string()]);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let d = Daemon::start(&a, &dir.join("box.log"));
    let mut b = BoxUnderTest {
        d,
        http: box_http,
        out,
        dir: dir.clone(),
        zaps: 0,
    };
    let z = wait_for(Duration::from_secs(10), "both directories merged", || {
        let z = b.zap_status();
        (z["directory_size"] == 4 && z["channel"]["number"] == 1).then_some(z)
    });
    let roots: Vec<(u64, u64)> = z["directory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["number"].as_u64().unwrap(), e["root"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        roots,
        [(1, 1), (2, 1), (5, 1), (7, 0)],
        "entries name their root by --root order"
    );
    let (code, body) = http_get(box_http, "/control?cmd=zap+7").unwrap();
    assert_eq!((code, String::from_utf8_lossy(&body).trim()), (200, "ok 7"));
    b.expect_channel(7, "zap to the second root's channel");
    let (code, body) = http_get(box_http, "/control?cmd=zap+alpha").unwrap();
    assert_eq!((code, String::from_utf8_lossy(&body).trim()), (200, "ok 1"));
    b.expect_channel(1, "back to the first root's channel by name");
    let (code, _) = http_get(box_http, "/control?cmd=zap+42").unwrap();
    assert_eq!(code, 200, "a miss is an answer, not an HTTP error");
    let (code, _) = http_get(box_http, "/control?cmd=fly").unwrap();
    assert_eq!(code, 400);
    assert_eq!(b.d.stop(), Some(0));
    assert_eq!(root1.stop(), Some(0));
    assert_eq!(root2.stop(), Some(0));
}
