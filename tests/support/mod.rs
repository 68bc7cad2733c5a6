//! Shared helpers for end-to-end tests: free ports, daemons that die with the test, a tiny HTTP
//! client, status polling, ffmpeg/ffprobe runners. Every wait is bounded.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_tvmeshd");

pub mod drm;

pub fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/sample.ts")
}

/// A fresh scratch directory under the target dir.
pub fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/e2e")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A UDP port free right now on 127.0.0.1.
pub fn udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A TCP port free right now on 127.0.0.1.
pub fn tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed (SIGTERM, then SIGKILL) when dropped.
pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
}

impl Daemon {
    pub fn start(args: &[&str], log: &Path) -> Daemon {
        let f = std::fs::File::create(log).unwrap();
        let child = Command::new(BIN)
            .args(args)
            .stdout(Stdio::null())
            .stderr(f)
            .spawn()
            .expect("spawn tvmeshd");
        Daemon {
            child,
            log: log.to_path_buf(),
        }
    }

    /// Sends SIGTERM and waits (bounded) for a clean exit; returns the exit status code.
    pub fn stop(&mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        None
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.alive() {
            self.stop();
        }
    }
}

/// GET `path` from 127.0.0.1:`port`; returns (status code, body).
pub fn http_get(port: u16, path: &str) -> Option<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: test\r\n\r\n").ok()?;
    let mut b = Vec::new();
    s.read_to_end(&mut b).ok()?;
    let end = b.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&b[..end]).ok()?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, b[end + 4..].to_vec()))
}

/// The daemon's status.json, parsed.
pub fn status(port: u16) -> Option<serde_json::Value> {
    let (code, body) = http_get(port, "/status.json")?;
    if code != 200 {
        return None;
    }
    serde_json::from_slice(&body).ok()
}

/// Polls `f` every 50 ms until it returns Some, or panics after `timeout` with `what`.
pub fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let t = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            t.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A channel counter from status.json.
pub fn chan(v: &serde_json::Value, key: &str) -> u64 {
    v["channels"][0][key].as_u64().unwrap_or(0)
}

/// Waits until the box's `chunks_out` stops growing for `quiet` (the stream has ended).
pub fn wait_drained(port: u16, quiet: Duration, timeout: Duration) -> serde_json::Value {
    let t = Instant::now();
    let mut last = (0, Instant::now());
    loop {
        let v = status(port).expect("box status");
        let n = chan(&v, "chunks_out");
        if n != last.0 {
            last = (n, Instant::now());
        } else if n > 0 && last.1.elapsed() >= quiet {
            return v;
        }
        assert!(t.elapsed() < timeout, "box output did not settle");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Streams the sample in real time to udp://127.0.0.1:`port` with ffmpeg (as an IPTV headend).
pub fn ffmpeg_udp(port: u16) -> Child {
    Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-re", "-i"])
        .arg(sample())
        .args(["-c", "copy", "-f", "mpegts"])
        .arg(format!("udp://127.0.0.1:{port}?pkt_size=1316"))
        .stdin(Stdio::null())
        .spawn()
        .expect("ffmpeg is installed (make test installs it)")
}

/// Video frames of a TS file or URL as ffprobe decodes them: (key_frame flags, stderr).
pub fn probe_frames(input: &str) -> (Vec<bool>, String) {
    let o: Output = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "frame=key_frame",
            "-of",
            "csv=p=0",
            input,
        ])
        .output()
        .expect("ffprobe");
    let keys = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.trim().starts_with('1'))
        .collect();
    (keys, String::from_utf8_lossy(&o.stderr).into_owned())
}

/// Number of video frames in the committed sample.
pub fn sample_frames() -> usize {
    probe_frames(sample().to_str().unwrap()).0.len()
}

/// `n` distinct UDP ports free right now on 127.0.0.1 (all held until every one is chosen, so no
/// two are the same).
pub fn udp_ports(n: usize) -> Vec<u16> {
    let socks: Vec<UdpSocket> = (0..n)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    socks
        .iter()
        .map(|s| s.local_addr().unwrap().port())
        .collect()
}

/// `n` distinct TCP ports free right now on 127.0.0.1 (held until every one is chosen).
pub fn tcp_ports(n: usize) -> Vec<u16> {
    let socks: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    socks
        .iter()
        .map(|s| s.local_addr().unwrap().port())
        .collect()
}

/// SIGTERMs every daemon at once, then waits (bounded, 10 s in all) for each to exit; returns
/// their exit codes in order (`None`: killed after the deadline, or died by a signal).
pub fn stop_all(ds: &mut [&mut Daemon]) -> Vec<Option<i32>> {
    for d in ds.iter_mut() {
        if d.alive() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(d.child.id().to_string())
                .status();
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    ds.iter_mut()
        .map(|d| loop {
            match d.child.try_wait() {
                Ok(Some(s)) => break s.code(),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = d.child.kill();
                    let _ = d.child.wait();
                    break None;
                }
            }
        })
        .collect()
}

/// The last `n` lines of a daemon's log (stderr), for failure messages.
pub fn log_tail(d: &Daemon, n: usize) -> String {
    let t = d.log_text();
    let lines: Vec<&str> = t.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Video packets of a TS file as ffprobe demuxes them (no decoding): (key frame, byte position).
pub fn probe_video_packets(path: &Path) -> Vec<(bool, u64)> {
    let o = Command::new("ffprobe")
        .args([
            "-v",
            "quiet",
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pos,flags",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("ffprobe");
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.trim().split(',');
            let pos = f.next()?.trim().parse().ok()?;
            let key = f.next()?.trim().starts_with('K');
            Some((key, pos))
        })
        .collect()
}

/// Checks a recorded live stream that was cut at an arbitrary point (its writer stopped
/// mid-frame): the file up to its last key frame — the cut falls in the last GOP — is copied next
/// to it and decoded with [`probe_frames`]. Returns (key flags of the decoded frames of that
/// prefix, ffprobe's error output for it, video packets in the whole file).
pub fn probe_live_recording(path: &Path) -> (Vec<bool>, String, usize) {
    let packets = probe_video_packets(path);
    let Some(cut) = packets.iter().rev().find(|p| p.0).map(|p| p.1) else {
        let (keys, errors) = probe_frames(path.to_str().unwrap());
        return (keys, errors, packets.len());
    };
    let data = std::fs::read(path).unwrap();
    let cut = (cut as usize).min(data.len()) / 188 * 188;
    let prefix = path.with_extension("prefix.ts");
    std::fs::write(&prefix, &data[..cut]).unwrap();
    let (keys, errors) = probe_frames(prefix.to_str().unwrap());
    let _ = std::fs::remove_file(&prefix);
    (keys, errors, packets.len())
}

/// Starts a box `name` on channel `demo` of the root at `data`, writing to `dir/NAME.ts` (log
/// `dir/NAME.log`), status on `http`, with `extra` arguments.
pub fn start_file_box(dir: &Path, name: &str, data: u16, http: u16, extra: &[&str]) -> Daemon {
    let (root, sink, status_at) = (
        format!("127.0.0.1:{data}"),
        format!("file:{}", dir.join(format!("{name}.ts")).display()),
        format!("127.0.0.1:{http}"),
    );
    let mut args = vec![
        "peer",
        "--root",
        &root,
        "--channel",
        "demo",
        "--sink",
        &sink,
        "--http",
        &status_at,
    ];
    args.extend_from_slice(extra);
    Daemon::start(&args, &dir.join(format!("{name}.log")))
}

/// Starts a root whose channel `demo` is fed over UDP on `src`, with its data port `data` and
/// status page `http`, and waits (bounded) until its status page answers.
pub fn start_udp_root(dir: &Path, src: u16, data: u16, http: u16) -> Daemon {
    start_udp_root_with(dir, src, data, http, "", &[])
}

/// [`start_udp_root`] with `channel_parts` appended to the channel spec (e.g. `,protect=yes`)
/// and `extra` arguments.
pub fn start_udp_root_with(
    dir: &Path,
    src: u16,
    data: u16,
    http: u16,
    channel_parts: &str,
    extra: &[&str],
) -> Daemon {
    let spec = format!("name=demo,source=udp://127.0.0.1:{src}{channel_parts}");
    start_root_args(dir, data, http, &spec, extra, Stdio::inherit())
}

/// Starts a root with channel spec `spec`, data port `data`, status page `http`, `extra`
/// arguments and `stdin`, and waits (bounded) until its status page answers.
pub fn start_root_args(
    dir: &Path,
    data: u16,
    http: u16,
    spec: &str,
    extra: &[&str],
    stdin: Stdio,
) -> Daemon {
    let (listen, status_at) = (format!("127.0.0.1:{data}"), format!("127.0.0.1:{http}"));
    let mut args = vec![
        "root",
        "--listen",
        &listen,
        "--http",
        &status_at,
        "--channel",
        spec,
    ];
    args.extend_from_slice(extra);
    let log = dir.join("root.log");
    let child = Command::new(BIN)
        .args(&args)
        .stdin(stdin)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("spawn tvmeshd");
    let root = Daemon { child, log };
    wait_for(Duration::from_secs(10), "root status", || status(http));
    root
}
