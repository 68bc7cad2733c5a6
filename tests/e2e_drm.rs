//! End to end, DRM (issue 6): a root scrambles channel `demo` (`protect=yes`, keys rotating
//! every 3 s over the 20 s sample) and runs the licence service from an entitlements file.
//! - An entitled box plays it: ffprobe decodes its file sink with no errors and ≥ 95% of the
//!   frames, through six key rotations.
//! - Boxes not entitled / expired / with a wrong device secret write 0 bytes, status.json says
//!   why, and they still receive the scrambled chunks (they stay in the mesh and relay).
//! - SIGHUP: a box refused at first is granted by editing the file and signalling the root; it
//!   gets a key and starts writing.

mod support;
use std::path::Path;
use std::time::Duration;
use support::drm::*;
use support::*;

const SECRET: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const WRONG: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

fn start_root(dir: &Path, src: u16, data: u16, http: u16, ents: &Path) -> Daemon {
    let ents = ents.to_str().unwrap();
    start_udp_root_with(
        dir,
        src,
        data,
        http,
        ",protect=yes,rotate_s=3",
        &["--entitlements", ents],
    )
}

#[test]
fn protected_channel_plays_only_where_licensed() {
    let dir = scratch("drm");
    let ents = dir.join("entitlements");
    std::fs::write(
        &ents,
        format!(
            "device good secret={SECRET} channels=demo\n\
             device news-only secret={SECRET} channels=news\n\
             device old secret={SECRET} channels=* until=2020-01-01\n\
             device wrongkey secret={SECRET} channels=*\n"
        ),
    )
    .unwrap();
    let (src, data) = (udp_port(), udp_port());
    let http = tcp_ports(5);
    let mut root = start_root(&dir, src, data, http[0], &ents);
    let boxes = [
        ("good", "good", SECRET),
        ("none", "news-only", SECRET),
        ("old", "old", SECRET),
        ("bad", "wrongkey", WRONG),
    ];
    let mut ds: Vec<Daemon> = boxes
        .iter()
        .zip(&http[1..])
        .map(|(&(n, id, s), &h)| start_box(&dir, n, data, h, id, s))
        .collect();
    // JOIN_ACK says the channel is protected: the box is licensed before the stream starts.
    wait_drm(http[1], "licensed");
    let started = std::time::Instant::now();
    let mut ff = ffmpeg_udp(src);
    for (h, why) in [
        (http[2], "no_licence"),
        (http[3], "expired"),
        (http[4], "bad_auth"),
    ] {
        wait_drm(h, why);
    }
    assert!(ff.wait().expect("ffmpeg ran").success(), "ffmpeg streamed");
    let v = wait_drained(
        http[1],
        Duration::from_millis(1500),
        Duration::from_secs(15),
    );
    assert!(started.elapsed() >= Duration::from_secs(10));
    let others: Vec<serde_json::Value> = http[2..].iter().map(|&h| status(h).unwrap()).collect();
    let r = status(http[0]).unwrap();
    let mut all: Vec<&mut Daemon> = ds.iter_mut().collect();
    all.push(&mut root);
    assert!(
        stop_all(&mut all).iter().all(|c| *c == Some(0)),
        "clean exits"
    );

    println!("good: {v}\nroot: {r}");
    let (state, key_id) = drm(&v);
    assert_eq!(state, "licensed");
    assert!(key_id > 0);
    let out = dir.join("good.ts");
    assert_plays_sample(&out, &v);
    assert_eq!(r["channels"][0]["drm"]["state"], "protected");

    for ((name, _, _), o) in boxes[1..].iter().zip(&others) {
        let len = std::fs::metadata(dir.join(format!("{name}.ts"))).map_or(0, |m| m.len());
        assert_eq!(len, 0, "{name} wrote to its sink");
        assert_eq!(chan(o, "bytes_out"), 0, "{name}: {o}");
        assert!(
            chan(o, "chunks_in") > 1000,
            "{name} still gets the chunks: {o}"
        );
    }
}

#[test]
fn sighup_reload_grants_a_box() {
    let dir = scratch("drm-hup");
    let ents = dir.join("entitlements");
    std::fs::write(
        &ents,
        format!("device late secret={SECRET} channels=news\n"),
    )
    .unwrap();
    let (src, data) = (udp_port(), udp_port());
    let http = tcp_ports(2);
    let mut root = start_root(&dir, src, data, http[0], &ents);
    let mut b = start_box(&dir, "late", data, http[1], "late", SECRET);
    let mut ff = ffmpeg_udp(src);
    wait_drm(http[1], "no_licence");
    std::thread::sleep(Duration::from_secs(2)); // stream runs; the box still outputs nothing
    let before = chan(&status(http[1]).unwrap(), "bytes_out");
    assert_eq!(before, 0);
    std::fs::write(
        &ents,
        format!("device late secret={SECRET} channels=demo,news\n"),
    )
    .unwrap();
    let ok = std::process::Command::new("kill")
        .args(["-HUP", &root.child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let v = wait_for(Duration::from_secs(10), "box plays after SIGHUP", || {
        status(http[1]).filter(|v| drm(v).0 == "licensed" && chan(v, "bytes_out") > 100_000)
    });
    println!("after SIGHUP: {v}");
    assert!(root.alive(), "root survived SIGHUP");
    let _ = ff.kill();
    let _ = ff.wait();
    assert!(stop_all(&mut [&mut b, &mut root])
        .iter()
        .all(|c| *c == Some(0)));
    let text = std::fs::read_to_string(&root.log).unwrap();
    assert!(
        text.matches("device(s)").count() >= 2,
        "reload logged:\n{text}"
    );
}
