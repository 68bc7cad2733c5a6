//! End to end: ffmpeg streams the sample over UDP to a root; a box plays it into a file sink;
//! ffprobe decodes the file: the first video frame is a key frame, no decode errors, and at least
//! 95% of the frames the source sent arrive.

mod support;
use std::time::Duration;
use support::*;

#[test]
fn udp_source_to_file_sink_decodes() {
    let dir = scratch("udp-file");
    let (src, data, root_http, box_http) = (udp_port(), udp_port(), tcp_port(), tcp_port());
    let out = dir.join("box.ts");
    let mut root = start_udp_root(&dir, src, data, root_http);
    let mut peer = start_file_box(&dir, "box", data, box_http, &[]);
    wait_for(Duration::from_secs(10), "box joined", || {
        status(box_http).filter(|v| v["channels"][0]["state"] == "playing")
    });
    let started = std::time::Instant::now();
    let mut ff = ffmpeg_udp(src);
    let ok = ff.wait().expect("ffmpeg ran");
    assert!(ok.success(), "ffmpeg streamed the sample");
    let v = wait_drained(
        box_http,
        Duration::from_millis(1500),
        Duration::from_secs(15),
    );
    let played = started.elapsed();
    assert!(played >= Duration::from_secs(10), "played {played:?}");
    let r = status(root_http).unwrap();
    assert_eq!(peer.stop(), Some(0), "box exits cleanly on SIGTERM");
    assert_eq!(root.stop(), Some(0), "root exits cleanly on SIGTERM");

    let (keys, errors) = probe_frames(out.to_str().unwrap());
    let sent = sample_frames();
    println!(
        "box status: {v}\nroot status: {r}\ndecoded {} of {sent} frames",
        keys.len()
    );
    assert!(!keys.is_empty(), "decoded something");
    assert!(keys[0], "first decoded video frame is a key frame");
    assert!(
        errors.trim().is_empty(),
        "ffprobe reported errors:\n{errors}"
    );
    assert!(
        keys.len() * 100 >= sent * 95,
        "decoded {} of {sent} frames",
        keys.len()
    );
    assert!(
        chan(&v, "continuity_ppm") >= 990_000,
        "continuity {}",
        chan(&v, "continuity_ppm")
    );
    assert_eq!(
        chan(&v, "bytes_out"),
        std::fs::metadata(&out).unwrap().len(),
        "status counts what the sink got"
    );
    assert!(chan(&r, "chunks_in") > 1000 && chan(&r, "peers") == 1);
}
