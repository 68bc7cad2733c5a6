//! Hostile input: garbage, truncated and unsynchronised TS at the source; random datagrams at the
//! root's and the box's UDP ports. Each is logged clearly, nothing panics, and the daemons keep
//! serving: the box still plays a decodable stream afterwards.

mod support;
use std::net::UdpSocket;
use std::time::Duration;
use support::*;
use tvmesh_core::ring::Rng;

#[test]
fn garbage_everywhere_then_stream_still_plays() {
    let dir = scratch("bad-input");
    let (src, data, root_http, box_http, box_data) =
        (udp_port(), udp_port(), tcp_port(), tcp_port(), udp_port());
    let out = dir.join("out.ts");
    let mut root = start_udp_root(&dir, src, data, root_http);
    let mut peer = Daemon::start(
        &[
            "peer",
            "--root",
            &format!("127.0.0.1:{data}"),
            "--listen",
            &format!("127.0.0.1:{box_data}"),
            "--channel",
            "demo",
            "--sink",
            &format!("file:{}", out.display()),
            "--http",
            &format!("127.0.0.1:{box_http}"),
        ],
        &dir.join("box.log"),
    );
    wait_for(Duration::from_secs(10), "box joined", || {
        status(box_http).filter(|v| v["channels"][0]["state"] == "playing")
    });

    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut rng = Rng::new(5);
    let sample = std::fs::read(sample()).unwrap();
    let mut buf = [0u8; 1400];
    for i in 0..3000u32 {
        let len = 1 + (rng.next_u64() % 1399) as usize;
        for b in buf[..len].iter_mut() {
            *b = rng.next_u64() as u8;
        }
        if i % 2 == 0 {
            buf[0] = 0xC1; // looks like tvmesh
        }
        sock.send_to(&buf[..len], ("127.0.0.1", data)).unwrap();
        sock.send_to(&buf[..len], ("127.0.0.1", box_data)).unwrap();
        // The source gets garbage, truncated packets and TS cut at odd offsets.
        let off = (rng.next_u64() % (sample.len() as u64 - 2000)) as usize;
        let cut = match i % 3 {
            0 => &buf[..len],
            1 => &sample[off..off + 1 + (rng.next_u64() % 1000) as usize],
            _ => &sample[off..off + 1316],
        };
        sock.send_to(cut, ("127.0.0.1", src)).unwrap();
        if i % 200 == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let r = wait_for(Duration::from_secs(5), "root counted bad datagrams", || {
        status(root_http).filter(|v| v["bad_datagrams"].as_u64() > Some(500))
    });
    let b = wait_for(Duration::from_secs(5), "box counted bad datagrams", || {
        status(box_http).filter(|v| {
            v["bad_datagrams"].as_u64().unwrap_or(0)
                + v["channels"][0]["lost"].as_u64().unwrap_or(0)
                > 0
                || v["bad_datagrams"].as_u64() > Some(0)
        })
    });
    assert!(root.alive() && peer.alive(), "both still running");
    assert!(
        chan(&r, "resyncs") > 0,
        "the root noticed unsynchronised TS: {r}"
    );
    println!("root after garbage: {r}\nbox after garbage: {b}");

    // Now the real stream: the box plays it, from a key frame, decodably.
    let before = chan(&status(box_http).unwrap(), "chunks_out");
    let mut ff = ffmpeg_udp(src);
    assert!(ff.wait().unwrap().success());
    let v = wait_drained(
        box_http,
        Duration::from_millis(1500),
        Duration::from_secs(15),
    );
    assert!(
        chan(&v, "chunks_out") > before + 1000,
        "box played the real stream: {v}"
    );
    assert_eq!(peer.stop(), Some(0));
    assert_eq!(root.stop(), Some(0));
    let root_log = root.log_text();
    assert!(
        root_log.contains("bad datagram from"),
        "root logged the garbage:\n{root_log}"
    );
    assert!(
        root_log.contains("lost TS sync"),
        "root logged the resync:\n{root_log}"
    );
    assert!(!root_log.contains("panicked") && !peer.log_text().contains("panicked"));
    // Output stays whole packets; the bytes after the garbage decode.
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(bytes.len() % 188, 0);
    let (keys, _) = probe_frames(out.to_str().unwrap());
    assert!(keys.len() >= 400, "decoded {} frames", keys.len());
}
