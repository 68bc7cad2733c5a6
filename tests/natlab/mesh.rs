//! The NAT lab's mesh phase: real `tvmeshd peer` boxes behind every NAT join ONE channel and
//! play it; the boxes' `status.json` says which partnerships formed and over which path.
//!
//! A pair counts as *direct* when either box lists the other among its partners (at the other's
//! public, peer-reflexive or private address); its *path* is what the punch session reported
//! (`private`, `direct`), `greeted` for a partnership formed without an introduction (both sides
//! reachable), or `relay` when none formed (each box is then fed by the others and the root).
//!
//! The symmetric box reaches the masquerade (cone) boxes by the birthday sweep
//! (`tvmesh_core::nat::birthday`): it sprays 256 ports, they sweep its IP.
//!
//! At the same time a *relay cell* runs on its own channel and ports: two masquerade boxes and,
//! joining later, the symmetric box with `--spray-ports 0`, which can then reach neither
//! (endpoint-dependent mapping against port-dependent filtering, no spray): it must be fed by the
//! root's relay (`bytes_relayed`).

use super::{ns_cmd, BoxSpec, Proc, BOXES};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// What the lab found for one pair.
#[derive(Debug)]
pub struct Pair {
    pub x: BoxSpec,
    pub y: BoxSpec,
    pub direct: bool,
    pub path: String,
    /// Time from introduction to connection (max of both sides), ms.
    pub ms: Option<u64>,
}

/// The phase's outcome: pairs, then (box, continuity ppm, partners, status).
pub struct Mesh {
    pub pairs: Vec<Pair>,
    pub boxes: Vec<(BoxSpec, u64, u64, serde_json::Value)>,
    /// One line per second of play: each box's lag (ms), chunks played late, parent changes,
    /// joins and partners, as its status said then (shown when the phase fails).
    pub timeline: Vec<String>,
    /// Per box (in [`BOXES`] order), the largest lag behind the source the timeline saw, ms.
    pub max_lag_ms: Vec<u64>,
}

/// The boxes that join first: behind a masquerade and a symmetric NAT, so the root's first seeds
/// are boxes no one can greet until the root has introduced them and they have punched through
/// (≈ 3.5 s). The others join [`NAT_FIRST_LEAD`] later; they must not wait that long for the
/// stream (`root::SEED_ALONE`; without it they fell 2.2–3.9 s behind, and more than 4 s on a
/// slower host, where it failed the continuity check).
pub const NAT_FIRST: [&str; 2] = ["b", "c"];
pub const NAT_FIRST_LEAD: Duration = Duration::from_millis(300);

fn status(b: &str, http: &str) -> Option<serde_json::Value> {
    let o = ns_cmd(b, "curl")
        .args(["-s", "-m", "2", &format!("http://{http}/status.json")])
        .output()
        .ok()?;
    serde_json::from_slice(&o.stdout).ok()
}

/// Starts `tvmeshd peer` in box `b`'s namespace on `channel`, UDP `port`, status on `http`, with
/// `extra` flags.
#[allow(clippy::too_many_arguments)]
fn spawn(
    bin: &str,
    root: &str,
    channel: &str,
    b: &str,
    port: u16,
    http: &str,
    log: &str,
    extra: &[&str],
) -> Proc {
    let log = std::fs::File::create(log).expect("box log file");
    let c = ns_cmd(b, bin)
        .args([
            "peer",
            "--root",
            root,
            "--channel",
            channel,
            "--prejoin",
            "no",
        ])
        .args(["--listen", &format!("0.0.0.0:{port}"), "--http", http])
        .args(extra)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn tvmeshd peer");
    Proc(c, "mesh box")
}

/// The relay cell: boxes of [`RELAY_BOXES`] on their own channel; the last one (symmetric)
/// starts [`RELAY_LATE`] after the others and can reach none of them.
pub struct RelayCell {
    /// (box, status.json).
    pub boxes: Vec<(BoxSpec, serde_json::Value)>,
}

/// The relay cell's boxes: two masquerade boxes, then the symmetric one.
pub const RELAY_BOXES: [&str; 3] = ["b", "d1", "c"];
/// The relay cell's UDP port and status address (apart from the mesh's 4000 / 8080).
pub const RELAY_PORT: u16 = 4100;
pub const RELAY_HTTP: &str = "127.0.0.1:8090";
/// How much later the symmetric box joins the relay cell (the others hold the seed places).
pub const RELAY_LATE: Duration = Duration::from_secs(3);

/// Starts every box on `channel` at `root` (and, at the same time, the relay cell on
/// `relay_channel`), lets them play for `play`, and reads the result.
pub fn run(
    bin: &str,
    root: &str,
    channel: &str,
    relay_channel: &str,
    play: Duration,
    logs: &str,
) -> (Mesh, RelayCell) {
    let http = "127.0.0.1:8080";
    let first = BOXES.iter().filter(|b| NAT_FIRST.contains(&b.name));
    let rest = BOXES.iter().filter(|b| !NAT_FIRST.contains(&b.name));
    let mut procs: Vec<Proc> = Vec::new();
    for (k, b) in first.chain(rest).enumerate() {
        if k == NAT_FIRST.len() {
            std::thread::sleep(NAT_FIRST_LEAD);
        }
        let log = format!("{logs}/nat-lab-mesh-{}.log", b.name);
        procs.push(spawn(bin, root, channel, b.name, 4000, http, &log, &[]));
    }
    let relay_log = |b: &str| format!("{logs}/nat-lab-relay-{b}.log");
    for b in &RELAY_BOXES[..RELAY_BOXES.len() - 1] {
        procs.push(spawn(
            bin,
            root,
            relay_channel,
            b,
            RELAY_PORT,
            RELAY_HTTP,
            &relay_log(b),
            &[],
        ));
    }
    let t = Instant::now();
    while t.elapsed() < RELAY_LATE {
        std::thread::sleep(Duration::from_millis(100));
    }
    let late = RELAY_BOXES[RELAY_BOXES.len() - 1];
    procs.push(spawn(
        bin,
        root,
        relay_channel,
        late,
        RELAY_PORT,
        RELAY_HTTP,
        &relay_log(late),
        // No birthday spray: the symmetric box stays out of its cone peers' reach.
        &["--spray-ports", "0"],
    ));
    let mut timeline = Vec::new();
    let mut max_lag_ms = vec![0u64; BOXES.len()];
    // One sample a second from now (the relay cell's late start has already taken 3 s).
    let mut next = t.elapsed();
    while t.elapsed() < play {
        if t.elapsed() >= next {
            next += Duration::from_secs(1);
            let cells: Vec<String> = BOXES
                .iter()
                .enumerate()
                .map(|(k, b)| match status(b.name, http) {
                    Some(v) => {
                        let c = &v["channels"][0];
                        let lag = c["lag_ms"].as_u64().unwrap_or(0);
                        max_lag_ms[k] = max_lag_ms[k].max(lag);
                        format!(
                            "{} lag {} late {} sw {} j {} p {}",
                            b.name, lag, c["late"], c["parent_switches"], c["joins"], c["partners"]
                        )
                    }
                    None => format!("{} -", b.name),
                })
                .collect();
            // The relay cell's late box too (a slow relayed start shows as lag and late chunks).
            let relayed = match status(late, RELAY_HTTP) {
                Some(v) => {
                    let c = &v["channels"][0];
                    format!(
                        "relay {late} lag {} late {} sw {} p {} relayed {}",
                        c["lag_ms"],
                        c["late"],
                        c["parent_switches"],
                        c["partners"],
                        c["bytes_relayed"]
                    )
                }
                None => format!("relay {late} -"),
            };
            timeline.push(format!(
                "t={:>4.1}s | {} || {relayed}",
                t.elapsed().as_secs_f64(),
                cells.join(" | ")
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let st: Vec<serde_json::Value> = BOXES
        .iter()
        .map(|b| status(b.name, http).unwrap_or(serde_json::Value::Null))
        .collect();
    let relay = RelayCell {
        boxes: RELAY_BOXES
            .iter()
            .map(|&n| {
                let spec = *BOXES.iter().find(|b| b.name == n).expect("relay box");
                (
                    spec,
                    status(n, RELAY_HTTP).unwrap_or(serde_json::Value::Null),
                )
            })
            .collect(),
    };
    drop(procs);
    let dump: Vec<String> = st
        .iter()
        .chain(relay.boxes.iter().map(|b| &b.1))
        .map(|v| v.to_string())
        .collect();
    let _ = std::fs::write(format!("{logs}/nat-lab-mesh-status.json"), dump.join("\n"));
    let public = |k: usize| {
        st[k]["nat"]["public_addr"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    let paths = |k: usize| {
        st[k]["nat"]["paths"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let partners = |k: usize| {
        st[k]["nat"]["partners"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect::<Vec<_>>()
    };
    // The entry of k's punch table for peer m, and whether k partners with m.
    let side = |k: usize, m: usize| {
        let entry = paths(k)
            .into_iter()
            .find(|p| p["peer"].as_str() == Some(public(m).as_str()));
        let mut addrs = vec![public(m)];
        if let Some(a) = entry.as_ref().and_then(|e| e["addr"].as_str()) {
            addrs.push(a.to_string());
        }
        let partner = partners(k).iter().any(|p| addrs.contains(p));
        (entry, partner)
    };
    let mut pairs = Vec::new();
    for (i, &x) in BOXES.iter().enumerate() {
        for (j, &y) in BOXES.iter().enumerate().skip(i + 1) {
            let (ei, pi) = side(i, j);
            let (ej, pj) = side(j, i);
            let kinds: Vec<String> = [&ei, &ej]
                .iter()
                .filter_map(|e| {
                    e.as_ref()
                        .and_then(|e| e["path"].as_str().map(String::from))
                })
                .collect();
            let ms = [&ei, &ej]
                .iter()
                .filter_map(|e| e.as_ref().and_then(|e| e["ms"].as_u64()))
                .max();
            let direct = pi || pj;
            let path = if !direct {
                "relay".to_string()
            } else if kinds.is_empty() {
                "greeted".to_string()
            } else {
                kinds.join("/")
            };
            pairs.push(Pair {
                x,
                y,
                direct,
                path,
                ms: ms.filter(|_| direct && !kinds.is_empty()),
            });
        }
    }
    let boxes = BOXES
        .iter()
        .enumerate()
        .map(|(k, b)| {
            let c = &st[k]["channels"][0];
            (
                *b,
                c["continuity_ppm"].as_u64().unwrap_or(0),
                c["partners"].as_u64().unwrap_or(0),
                st[k].clone(),
            )
        })
        .collect();
    (
        Mesh {
            pairs,
            boxes,
            timeline,
            max_lag_ms,
        },
        relay,
    )
}
