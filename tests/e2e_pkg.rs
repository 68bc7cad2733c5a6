//! End to end, ahead-of-time packaging (issue 6): `tvmeshd package` scrambles the 20 s sample
//! with keys rotating every 3 s; a root plays the packaged stream from its stdin
//! (`source=packaged:-`, `keys=` the packager's key file) without re-encrypting it, and its
//! licence service hands out the key file's keys.
//! - An entitled box decodes it (ffprobe: no errors, ≥ 95% of the frames) across key rotations.
//! - A box not entitled to the channel writes 0 bytes but still gets the chunks.
//! - Hostile input: a truncated packaged file, a corrupt key file, a key file for another channel
//!   exit 2 with a named error (the root and the packager), never a panic.

mod support;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;
use support::drm::*;
use support::*;

const SECRET: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn package(dir: &Path, extra: &[&str]) -> Output {
    let (keys, out) = (dir.join("keys"), dir.join("demo.pkg"));
    Command::new(BIN)
        .args(["package", "--keys", keys.to_str().unwrap(), "--in"])
        .arg(sample())
        .args(["--out", out.to_str().unwrap()])
        .args(extra)
        .output()
        .expect("run tvmeshd package")
}

#[test]
fn packaged_stream_plays_only_where_licensed() {
    let dir = scratch("pkg");
    let p = package(&dir, &["--channel", "demo", "--rotate-s", "3"]);
    assert!(p.status.success(), "{}", String::from_utf8_lossy(&p.stderr));
    let keys = dir.join("keys");
    let text = std::fs::read_to_string(&keys).unwrap();
    assert_eq!(text.lines().filter(|l| l.starts_with("key ")).count(), 7);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&keys).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "key file is private");

    let ents = dir.join("entitlements");
    std::fs::write(
        &ents,
        format!(
            "device good secret={SECRET} channels=demo\n\
             device news-only secret={SECRET} channels=news\n"
        ),
    )
    .unwrap();
    let data = udp_port();
    let http = tcp_ports(3);
    let spec = format!("name=demo,source=packaged:-,keys={}", keys.display());
    let ents_s = ents.to_str().unwrap();
    let mut root = start_root_args(
        &dir,
        data,
        http[0],
        &spec,
        &["--entitlements", ents_s],
        Stdio::piped(),
    );
    // The header first (as `tvmeshd package ... | tvmeshd root ...` writes it at once): the root
    // numbers the channel as the packager did before any box joins.
    let mut stream = std::fs::read(dir.join("demo.pkg")).unwrap();
    let mut stdin = root.child.stdin.take().unwrap();
    stdin.write_all(&stream[..20]).unwrap();
    stdin.flush().unwrap();
    let stream = stream.split_off(20);
    let mut good = start_box(&dir, "good", data, http[1], "good", SECRET);
    let mut none = start_box(&dir, "none", data, http[2], "news-only", SECRET);
    // JOIN_ACK says the channel is protected: the boxes ask for licences before the stream
    // starts, and the root hands out the key file's first keys.
    wait_drm(http[1], "licensed");
    wait_drm(http[2], "no_licence");
    let writer = std::thread::spawn(move || stdin.write_all(&stream));
    let started = std::time::Instant::now();
    // Key ids the good box reports while it plays (bounded: the stream lasts 20 s).
    let mut ids = Vec::new();
    while started.elapsed() < Duration::from_secs(30) && !writer.is_finished() {
        if let Some(v) = status(http[1]) {
            let (state, id) = drm(&v);
            if state == "licensed" && ids.last() != Some(&id) {
                ids.push(id);
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    writer.join().unwrap().expect("root read the whole stream");
    let v = wait_drained(
        http[1],
        Duration::from_millis(1500),
        Duration::from_secs(15),
    );
    assert!(
        started.elapsed() >= Duration::from_secs(15),
        "played at its pace"
    );
    let other = status(http[2]).unwrap();
    let r = status(http[0]).unwrap();
    assert!(
        stop_all(&mut [&mut good, &mut none, &mut root])
            .iter()
            .all(|c| *c == Some(0)),
        "clean exits"
    );
    println!("good: {v}\nroot: {r}\nkey ids seen: {ids:?}");
    assert!(ids.len() >= 3, "the box followed key rotations: {ids:?}");
    assert_eq!(r["channels"][0]["drm"]["state"], "protected");
    let out = dir.join("good.ts");
    assert_plays_sample(&out, &v);
    let len = std::fs::metadata(dir.join("none.ts")).map_or(0, |m| m.len());
    assert_eq!(len, 0, "the unentitled box wrote to its sink");
    assert_eq!(chan(&other, "bytes_out"), 0);
    assert!(
        chan(&other, "chunks_in") > 1000,
        "it still gets the chunks: {other}"
    );
    let log = std::fs::read_to_string(dir.join("root.log")).unwrap();
    assert!(!log.contains("refused"), "no record refused:\n{log}");
}

#[test]
fn hostile_packages_and_key_files_exit_2() {
    let dir = scratch("pkg-bad");
    assert!(package(&dir, &["--channel", "demo", "--rotate-s", "5"])
        .status
        .success());
    let (keys, pkg) = (dir.join("keys"), dir.join("demo.pkg"));
    let bytes = std::fs::read(&pkg).unwrap();
    let root = |spec: String| {
        Command::new(BIN)
            .args(["root", "--listen", "127.0.0.1:0", "--channel", &spec])
            .output()
            .unwrap()
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "truncated",
            bytes[..bytes.len() - 100].to_vec(),
            "truncated",
        ),
        ("header-only", bytes[..5].to_vec(), "header: truncated"),
        ("magic", [b"XVMPKG", &bytes[6..]].concat(), "bad magic"),
        (
            "length",
            {
                let mut b = bytes.clone();
                b[20] = 0xFF; // first record's length (the header of `demo` is 20 bytes)
                b
            },
            "payload length",
        ),
    ];
    for (name, b, why) in cases {
        let path = dir.join(format!("{name}.pkg"));
        std::fs::write(&path, b).unwrap();
        let o = root(format!(
            "name=demo,source=packaged:{},keys={}",
            path.display(),
            keys.display()
        ));
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        assert!(
            err.contains(why) && err.contains("field `channel`"),
            "{name}: {err}"
        );
    }
    // Key files: corrupt, for another channel, missing.
    let text = std::fs::read_to_string(&keys).unwrap();
    let bad_keys = dir.join("bad-keys");
    for (k, why) in [
        (text.replacen("key 1 ", "key 0 ", 1), "key id"),
        (
            text.replacen("channel demo", "channel news", 1),
            "for channel `news`",
        ),
        (text[..text.len() - 10].to_string(), "64 hex digits"),
    ] {
        std::fs::write(&bad_keys, &k).unwrap();
        let o = root(format!(
            "name=demo,source=packaged:{},keys={}",
            pkg.display(),
            bad_keys.display()
        ));
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(why) && err.contains("keys"), "{err}");
        // The packager refuses the same file, naming the flag.
        package_refuses(&bad_keys, "field `--");
    }
    let o = root(format!("name=demo,source=packaged:{}", pkg.display()));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("keys=PATH"));
    // A failed packaging leaves nothing behind: no output, the key file untouched.
    let before = std::fs::read(&keys).unwrap();
    let o = package(
        &dir,
        &["--channel", "demo", "--out", "/nonexistent-dir/x.pkg"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(std::fs::read(&keys).unwrap(), before);
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // A FIFO (or device) as --out is written in place, never renamed over; --keys must be a
    // regular file.
    let fifo = dir.join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    let o = package(&dir, &["--out", fifo.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(reader.join().unwrap().len(), bytes.len());
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    package_refuses(&fifo, "not a regular file");
}

/// `tvmeshd package --keys KEYS --channel demo` (stdin empty) exits 2 saying `why`.
fn package_refuses(keys: &Path, why: &str) {
    let o = Command::new(BIN)
        .args(["package", "--channel", "demo", "--keys"])
        .arg(keys)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(why), "{err}");
}
