//! End to end through the box's HTTP stream: a viewer reads /stream/NAME.ts while ffmpeg feeds the
//! root over UDP; ffprobe decodes what the viewer got from a key frame on, without errors, and
//! ffprobe can open the URL itself, as VLC, mpv and Kodi do.

mod support;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;
use support::*;

#[test]
fn http_stream_decodes() {
    let dir = scratch("http-stream");
    let (src, data, box_http) = (udp_port(), udp_port(), tcp_port());
    let _root = Daemon::start(
        &[
            "root",
            "--listen",
            &format!("127.0.0.1:{data}"),
            "--channel",
            &format!("name=demo,source=udp://127.0.0.1:{src}"),
        ],
        &dir.join("root.log"),
    );
    let _peer = Daemon::start(
        &[
            "peer",
            "--root",
            &format!("127.0.0.1:{data}"),
            "--channel",
            "demo",
            "--http",
            &format!("127.0.0.1:{box_http}"),
        ],
        &dir.join("box.log"),
    );
    wait_for(Duration::from_secs(10), "box joined", || {
        status(box_http).filter(|v| v["channels"][0]["state"] == "playing")
    });
    // The viewer connects before the source starts, and reads on a thread.
    let mut s = TcpStream::connect(("127.0.0.1", box_http)).unwrap();
    s.write_all(b"GET /stream/demo.ts HTTP/1.0\r\n\r\n")
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 65536];
        // Ends when no byte arrives for 3 s (the source finished); bounded to 60 s.
        let t = std::time::Instant::now();
        while t.elapsed() < Duration::from_secs(60) {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
        all
    });
    let mut ff = ffmpeg_udp(src);
    // Meanwhile a second client, ffprobe, opens the URL like a player would.
    let url = format!("http://127.0.0.1:{box_http}/stream/demo.ts");
    let o = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name",
            "-of",
            "csv=p=0",
            "-read_intervals",
            "%+3",
            &url,
        ])
        .output()
        .unwrap();
    let codecs = String::from_utf8_lossy(&o.stdout);
    assert!(
        codecs.contains("h264") && codecs.contains("aac"),
        "ffprobe on the URL saw: {codecs:?} {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(ff.wait().unwrap().success());
    let got = reader.join().unwrap();
    let body = &got[got
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("HTTP header")
        + 4..];
    assert!(
        got.starts_with(b"HTTP/1.0 200"),
        "{:?}",
        String::from_utf8_lossy(&got[..40.min(got.len())])
    );
    assert_eq!(body.len() % 188, 0, "whole TS packets");
    let file = dir.join("viewer.ts");
    std::fs::write(&file, body).unwrap();
    let (keys, errors) = probe_frames(file.to_str().unwrap());
    let sent = sample_frames();
    println!("viewer decoded {} of {sent} frames", keys.len());
    assert!(keys.first() == Some(&true), "first frame is a key frame");
    assert!(errors.trim().is_empty(), "ffprobe errors:\n{errors}");
    assert!(
        keys.len() * 100 >= sent * 95,
        "decoded {} of {sent}",
        keys.len()
    );
}
