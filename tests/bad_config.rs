//! Bad configuration: a clear message naming the field and value, exit status 2, nothing written.

mod support;
use std::process::Command;
use support::*;

fn run(args: &[&str]) -> (Option<i32>, String) {
    let o = Command::new(BIN).args(args).output().unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn wrong_fields_exit_2_and_name_field_and_value() {
    let dir = scratch("bad-config");
    let sink = dir.join("must-not-exist.ts");
    let sink_arg = format!("file:{}", sink.display());
    for (args, field, value) in [
        (
            vec![
                "peer",
                "--root",
                "not-an-address",
                "--channel",
                "demo",
                "--sink",
                sink_arg.as_str(),
            ],
            "root",
            "not-an-address",
        ),
        (
            vec![
                "peer",
                "--root",
                "127.0.0.1:9",
                "--channel",
                "demo",
                "--sink",
                sink_arg.as_str(),
                "--pool-kib",
                "lots",
            ],
            "pool_kib",
            "lots",
        ),
        (
            vec![
                "peer",
                "--root",
                "127.0.0.1:9",
                "--channel",
                "demo",
                "--sink",
                "ftp://x",
                "--http",
                "127.0.0.1:1",
            ],
            "sink",
            "ftp://x",
        ),
        (
            vec![
                "root",
                "--listen",
                "127.0.0.1:9",
                "--channel",
                "name=a,source=gopher://x",
            ],
            "channel",
            "name=a,source=gopher://x",
        ),
        (
            vec!["root", "--listen", "127.0.0.1:9", "--volume", "11"],
            "volume",
            "11",
        ),
    ] {
        let (code, err) = run(&args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(
            err.contains(&format!("field `{field}`")) && err.contains(&format!("value `{value}`")),
            "{args:?}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "one clear line: {err}");
    }
    // A config file with a wrong field: the message names the file and line.
    let cfg = dir.join("tvmesh.conf");
    std::fs::write(&cfg, format!("role = peer\nroot = 127.0.0.1:9\nchannel = demo\nsink = {sink_arg}\nhttp = 127.0.0.1:99999\n")).unwrap();
    let (code, err) = run(&["--config", cfg.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("line 5") && err.contains("`http`") && err.contains("`127.0.0.1:99999`"),
        "{err}"
    );
    assert!(!sink.exists(), "nothing half-written");
    // --help documents the surface and exits 0.
    let o = Command::new(BIN).arg("--help").output().unwrap();
    assert!(o.status.success());
    let help = String::from_utf8_lossy(&o.stdout);
    for f in [
        "--listen",
        "--http",
        "--channel",
        "--root",
        "--sink",
        "--config",
        "--board",
    ] {
        assert!(help.contains(f), "--help lacks {f}");
    }
}
