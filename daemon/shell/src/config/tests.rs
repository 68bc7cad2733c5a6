use super::*;

fn args(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

pub(super) fn run(s: &str) -> Result<Config, ConfigError> {
    match parse_args(&args(s))? {
        Command::Run(c) => Ok(*c),
        other => panic!("{other:?}"),
    }
}

#[test]
#[cfg(feature = "root")] // the root role is left out of box builds
fn root_command_line() {
    let c = run("root --listen 127.0.0.1:7000 --http 127.0.0.1:8080 --channel name=news,source=udp://127.0.0.1:5000,bitrate=1000 --channel name=film,source=file:/tmp/a.ts").unwrap();
    let Role::Root {
        listen,
        channels,
        max_boxes,
        ..
    } = c.role
    else {
        panic!()
    };
    assert_eq!(listen.to_string(), "127.0.0.1:7000");
    assert_eq!(channels.len(), 2);
    assert_eq!(channels[0].name, "news");
    assert_eq!(channels[0].bitrate_kbps, 1000);
    assert_eq!(max_boxes, 256);
    assert_eq!(c.http.unwrap().to_string(), "127.0.0.1:8080");
}

#[test]
fn peer_command_line_with_equals() {
    let c = run("peer --root=127.0.0.1:7000 --channel news --sink file:/tmp/out.ts --http 127.0.0.1:8081 --pool-kib 2048").unwrap();
    let Role::Peer {
        root,
        channel,
        sink,
        ..
    } = &c.role
    else {
        panic!()
    };
    assert_eq!(root.to_string(), "127.0.0.1:7000");
    assert_eq!(channel, "news");
    assert!(sink.is_some());
    assert_eq!(c.pool_kib, 2048);
}

#[test]
#[cfg(feature = "root")]
fn root_errors_name_field_and_value() {
    let e = run("root --listen nowhere --channel name=a,source=-").unwrap_err();
    assert_eq!(e.field, "listen");
    assert_eq!(e.value, "nowhere");
    assert_eq!(
        e.to_string(),
        "command line: field `listen`: value `nowhere`: expected ADDR:PORT, e.g. 127.0.0.1:7000"
    );
    let e = run("root --listen 127.0.0.1:1 --channel name=a,source=ftp://x").unwrap_err();
    assert_eq!(e.field, "channel");
    let e = run("root --listen 127.0.0.1:1 --channel name=a,source=-,bitrate=fast").unwrap_err();
    assert!(e.why.contains("bitrate"), "{e}");
}

#[test]
#[cfg(not(feature = "root"))]
fn root_role_is_refused_without_the_root_feature() {
    let e = run("root --listen 127.0.0.1:7000 --channel name=a,source=-").unwrap_err();
    assert_eq!((e.field.as_str(), e.value.as_str()), ("role", "root"));
    assert_eq!(e.why, NO_ROOT_ROLE);
    let top = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let e = run(&format!("--config {top}/examples/root.conf")).unwrap_err();
    assert_eq!((e.field.as_str(), e.value.as_str()), ("role", "root"));
    assert!(e.origin.contains("root.conf"), "{e}");
}

#[test]
fn errors_name_field_and_value() {
    let e = run("peer --root 127.0.0.1:1 --channel a --colour blue").unwrap_err();
    assert_eq!((e.field.as_str(), e.value.as_str()), ("colour", "blue"));
    let e = run("peer --root 127.0.0.1:1").unwrap_err();
    assert_eq!(e.field, "channel");
    let e = run("peer --root 127.0.0.1:1 --channel a --pool-kib 12").unwrap_err();
    assert_eq!(e.field, "pool_kib");
    let e = run("peer --root 127.0.0.1:1 --channel bad/name").unwrap_err();
    assert_eq!(e.value, "bad/name");
}

#[test]
fn config_file_and_board_precedence() {
    let dir = std::env::temp_dir().join(format!("tvmesh-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let board = dir.join("board.conf");
    std::fs::write(&board, "# a board\nboard = test-box\npool_kib = 1024\nsink = file:/tmp/decoder.ts\nupload_kbps = 3000\nremote = /dev/input/event0\n").unwrap();
    let cfg = dir.join("tvmesh.conf");
    std::fs::write(&cfg, format!("role = peer\nroot = 192.0.2.1:7000\nchannel = news # comment\nboard = {}\npool_kib = 2048\n", board.display())).unwrap();
    let c = run(&format!("--config {}", cfg.display())).unwrap();
    assert_eq!(c.pool_kib, 2048, "config file overrides board");
    assert_eq!(c.upload_kbps, 3000, "board default kept");
    let Role::Peer { sink, .. } = &c.role else {
        panic!()
    };
    assert!(sink.is_some(), "sink from board profile");
    let c = run(&format!("--config {} --pool-kib 512", cfg.display())).unwrap();
    assert_eq!(c.pool_kib, 512, "command line overrides file");
    std::fs::write(
        &cfg,
        "role = peer\nroot = 192.0.2.1:7000\nchannel = news\nmax_boxes = lots\n",
    )
    .unwrap();
    let e = run(&format!("--config {}", cfg.display())).unwrap_err();
    assert_eq!(e.origin, format!("{} line 4", cfg.display()));
    assert_eq!((e.field.as_str(), e.value.as_str()), ("max_boxes", "lots"));
    std::fs::write(&cfg, "role = peer\nthis line has no equals sign\n").unwrap();
    let e = run(&format!("--config {}", cfg.display())).unwrap_err();
    assert!(e.origin.ends_with("line 2"));
    let e = run("--config /nonexistent/tvmesh.conf").unwrap_err();
    assert_eq!(e.field, "config");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
#[cfg(feature = "root")] // the root role is left out of box builds
fn channel_numbers_and_descriptions() {
    let c = run("root --listen 127.0.0.1:7000 --channel name=a,source=file:/a.ts,number=7,desc=News_at_7 --channel name=b,source=file:/b.ts --channel name=c,source=file:/c.ts,number=2").unwrap();
    let Role::Root { channels, .. } = c.role else {
        panic!()
    };
    let got: Vec<(u16, &str)> = channels
        .iter()
        .map(|c| (c.number, c.description.as_str()))
        .collect();
    assert_eq!(got, [(7, "News_at_7"), (8, ""), (2, "")]);
    for (spec, why) in [
        ("number=0", "not 1-9999"),
        ("number=10000", "not 1-9999"),
        ("number=x", "not 1-9999"),
    ] {
        let e = run(&format!(
            "root --listen 127.0.0.1:7000 --channel name=a,source=file:/a.ts,{spec}"
        ))
        .unwrap_err();
        assert_eq!(e.field, "channel");
        assert!(e.why.contains(why), "{e}");
    }
    let e = run("root --listen 127.0.0.1:7000 --channel name=a,source=file:/a.ts,number=3 --channel name=b,source=file:/b.ts,number=3").unwrap_err();
    assert!(e.why.contains("number 3 is used twice"), "{e}");
}

#[test]
fn peer_roots_repeat() {
    let c = run(
        "peer --root 127.0.0.1:7000 --root 127.0.0.1:7001 --root 127.0.0.1:7000 --channel news",
    )
    .unwrap();
    let Role::Peer { root, roots, .. } = c.role else {
        panic!()
    };
    assert_eq!(root.to_string(), "127.0.0.1:7000");
    let roots: Vec<String> = roots.iter().map(|r| r.to_string()).collect();
    assert_eq!(roots, ["127.0.0.1:7000", "127.0.0.1:7001"]);
}

#[test]
fn help_documents_every_key() {
    for k in KEYS
        .iter()
        .filter(|k| !["target", "remote", "config_dir", "log", "role"].contains(k))
    {
        let flag = format!("--{}", k.replace('_', "-"));
        assert!(HELP.contains(&flag), "--help lacks {flag}");
    }
    assert!(matches!(parse_args(&args("--help")), Ok(Command::Help)));
}

#[test]
#[cfg(feature = "root")] // the root role is left out of box builds
fn mesh_settings_and_groups() {
    let c = run("root --listen 127.0.0.1:7000 --channel name=a,source=- --seed-copies 3 --group 198.51.100.0/24+203.0.113.0/25 --group 2001:db8::/32").unwrap();
    let Role::Root { mesh, .. } = c.role else {
        panic!()
    };
    assert_eq!(mesh.seed_copies, 3);
    assert_eq!(mesh.groups.len(), 2);
    assert!(mesh.groups[0][1].contains("203.0.113.100".parse().unwrap()));
    let e = run("root --listen 127.0.0.1:7000 --channel name=a,source=- --group 198.51.100.0/40")
        .unwrap_err();
    assert_eq!(
        (e.field.as_str(), e.value.as_str()),
        ("group", "198.51.100.0/40")
    );
    let e = run("peer --root 127.0.0.1:1 --channel a --max-partners 99").unwrap_err();
    assert_eq!(e.field, "max_partners");
}

#[test]
fn every_board_profile_and_example_parses() {
    let top = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let mut n = 0;
    for e in std::fs::read_dir(format!("{top}/board")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "conf") {
            let c = run(&format!(
                "peer --root 192.0.2.1:7000 --channel demo --board {}",
                p.display()
            ))
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            assert!(c.board.is_some());
            n += 1;
        }
    }
    assert!(n >= 7, "{n} board profiles");
    if cfg!(feature = "root") {
        let root = run(&format!("--config {top}/examples/root.conf")).unwrap();
        assert!(matches!(root.role, Role::Root { ref channels, .. } if channels.len() == 3));
    }
    // The example peer config names a board profile relative to the repository root.
    let text = std::fs::read_to_string(format!("{top}/examples/peer.conf")).unwrap();
    let tmp = std::env::temp_dir().join(format!("tvmesh-peer-example-{}.conf", std::process::id()));
    std::fs::write(
        &tmp,
        text.replace("board = board/", &format!("board = {top}/board/")),
    )
    .unwrap();
    let peer = run(&format!("--config {}", tmp.display()));
    std::fs::remove_file(&tmp).unwrap();
    assert!(matches!(peer.unwrap().role, Role::Peer { .. }));
}

#[test]
fn nat_settings() {
    if cfg!(feature = "root") {
        let c = run("root --listen 203.0.113.2:3478 --channel name=a,source=- --stun-alt-port 3479 --stun-alt-ip 203.0.113.3").unwrap();
        assert_eq!(c.nat.stun_alt_port, Some(3479));
        assert_eq!(c.nat.stun_alt_ip, Some("203.0.113.3".parse().unwrap()));
    }
    let c = run("peer --root 192.0.2.1:1 --channel a --stun-server stun.example.net:3478").unwrap();
    assert_eq!(c.nat.stun_server.as_deref(), Some("stun.example.net:3478"));
    assert_eq!(c.nat.spray_ports, crate::config::DEFAULT_SPRAY_PORTS);
    let c = run("peer --root 192.0.2.1:1 --channel a --spray-ports 0").unwrap();
    assert_eq!(c.nat.spray_ports, 0);
    for (flag, value) in [
        ("spray_ports", "1025"),
        ("spray_ports", "many"),
        ("stun_alt_port", "0"),
        ("stun_alt_ip", "nope"),
        ("stun_server", "nohost"),
        ("stun_server", ":3478"),
    ] {
        let e = run(&format!(
            "peer --root 192.0.2.1:1 --channel a --{} {value}",
            flag.replace('_', "-")
        ))
        .unwrap_err();
        assert_eq!((e.field.as_str(), e.value.as_str()), (flag, value));
    }
}
