//! Status snapshots and their three renderings: `/status.json`, `/` (HTML, no JavaScript) and
//! `/metrics` (Prometheus text). Integers only (kbit/s, ppm, ms), no floats.
//!
//! Invariant: rendering reads a snapshot the run loop built from the core's counters; it never
//! touches the state machines, so a status request cannot disturb streaming. JSON is written by
//! serde-json-core into a caller-provided buffer (bounded: too many channels for the buffer gives
//! an error, not a larger allocation).

use serde::Serialize;
use std::fmt::Write as _;

/// Pool figures.
#[derive(Serialize, Clone, Copy, Default, Debug)]
pub struct PoolStatus {
    pub slots: u64,
    pub slot_bytes: u64,
    pub used: u64,
}

/// One channel as shown.
#[derive(Serialize, Clone, Default, Debug)]
pub struct ChannelStatus {
    pub name: String,
    pub state: &'static str,
    pub bitrate_kbps: u32,
    pub chunks_in: u64,
    pub chunks_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub peers: u32,
    pub skips: u64,
    pub continuity_ppm: u32,
    /// Box: start → first byte at the sink, ms (0 until then). Root: 0.
    pub join_ms: u64,
    /// The same in µs (0 until then), for loopback-scale joins.
    pub join_us: u64,
    /// Chunks the box never received (given up); root: 0.
    pub lost: u64,
    /// Box: chunks played further behind the source than `late_after` (4 s; they count against
    /// continuity); root: 0.
    pub late: u64,
    /// Box: joins completed (more than one: the stream stalled and the box joined again).
    pub joins: u64,
    /// Box: parent changes over all substreams.
    pub parent_switches: u64,
    /// Box: chunk requests sent; root: chunks resent.
    pub requests: u64,
    /// Times the source lost TS sync (root) or the stream restarted (box).
    pub resyncs: u64,
    /// Box: partners with a completed handshake. Root: boxes it feeds directly (seeds).
    pub partners: u32,
    /// Box: chunk bytes received from the root / from partners.
    pub bytes_from_root: u64,
    pub bytes_from_peers: u64,
    /// Chunk bytes sent: box to partners; root to all boxes.
    pub bytes_uploaded: u64,
    /// Box: playback behind the source, ms.
    pub lag_ms: u64,
    /// Root: boxes watching.
    pub viewers: u32,
    /// Root: chunk egress over the last few seconds, kbit/s.
    pub root_egress_kbps: u64,
    /// Chunk bytes relayed (issue 5, `root/relay.rs`): root, sent to boxes no partner can reach;
    /// box, received that way (also counted in `bytes_from_root`).
    pub bytes_relayed: u64,
    /// Chunk integrity (issue 6): the channel's signing key and what was checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integrity: Option<IntegrityStatus>,
    /// DRM (issue 6): box, whether it can output the channel and why; root, present on protected
    /// channels with the current key id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drm: Option<DrmStatus>,
}

/// `"drm": {"state": "clear" | "licensed" | "waiting" | "no_licence" | "expired" |
/// "not_yet_valid" | "bad_auth" | "unknown_device" | "no_identity" | "unknown" | "protected",
/// "key_id": n}` (`protected` on the root; `key_id` 0 until a key was used).
#[derive(Serialize, Clone, Default, Debug)]
pub struct DrmStatus {
    pub state: &'static str,
    pub key_id: u8,
}

/// A channel's integrity as `status.json` shows it. Root: `key` and `manifests` (sent). Box: the
/// pinned key (empty until known) and the verification counters.
#[derive(Serialize, Clone, Default, Debug)]
pub struct IntegrityStatus {
    /// SHA-256 fingerprint of the channel's public signing key, 64 hex digits ("" while a box
    /// does not know the key).
    pub key: String,
    pub manifests: u64,
    pub valid: u64,
    pub forged: u64,
    pub held_dropped: u64,
    /// Box: `held_dropped` by reason (expired, play head passed, area full), MANIFEST_REQs sent.
    pub held_expired: u64,
    pub held_passed: u64,
    pub held_overflow: u64,
    pub manifest_reqs: u64,
    /// Root: MANIFEST_REQs for a segment no longer (or not yet) in its store.
    pub manifest_misses: u64,
    pub bans: u64,
    pub requests_refused: u64,
}

/// The whole snapshot.
#[derive(Serialize, Clone, Default, Debug)]
pub struct Status {
    pub version: &'static str,
    pub role: &'static str,
    pub uptime_s: u64,
    pub rss_kb: u64,
    pub pool: PoolStatus,
    pub channels: Vec<ChannelStatus>,
    /// Datagrams that did not parse.
    pub bad_datagrams: u64,
    /// Upload cap from config or board profile (kbit/s; 0 = none).
    pub upload_kbps: u32,
    /// Board profile name, if any.
    pub board: String,
    /// Box: what it learnt about its NAT (absent on the root).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nat: Option<NatStatus>,
    /// Box: zapping, the current channel and the channel directory (absent on the root).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zap: Option<crate::zapping::ZapStatus>,
}

/// The box's NAT as `status.json` shows it: `{"type": ..., "public_addr": "ip:port" | null, ...}`.
#[derive(Serialize, Clone, Default, Debug)]
pub struct NatStatus {
    /// `open`, `full-cone`, `restricted-cone`, `port-restricted-cone`, `symmetric`, `unknown`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub mapping: &'static str,
    pub filtering: &'static str,
    /// `ip:port` as the STUN server saw the box, or `null` until an answer came.
    pub public_addr: Option<String>,
    /// Classifications finished.
    pub runs: u64,
    /// Peers the root introduced and what came of the punch (omitted when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<PathStatus>,
    /// Addresses of the partners with a completed handshake (omitted when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub partners: Vec<String>,
}

/// One introduced peer: `{"peer": "ip:port", "path": "direct|private|relay|punching|lost",
/// "addr": "ip:port" | null, "ms": time to connect, "partner": partnership up on that path}`.
#[derive(Serialize, Clone, Default, Debug)]
pub struct PathStatus {
    pub peer: String,
    pub path: &'static str,
    pub addr: Option<String>,
    pub ms: u32,
    pub partner: bool,
}

/// Resident set size of this process in KiB, from /proc/self/statm.
pub fn rss_kb() -> u64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: u64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * rustix::param::page_size() as u64 / 1024
}

/// Renders JSON into `buf`; returns the length, or `None` if it does not fit.
pub fn json(s: &Status, buf: &mut [u8]) -> Option<usize> {
    serde_json_core::to_slice(s, buf).ok()
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    crate::http::html_escape(s, &mut o);
    o
}

/// Renders the HTML page.
pub fn html(s: &Status, stream_base: Option<&str>) -> String {
    let mut h = String::with_capacity(4096);
    let _ = write!(
        h,
        "<!doctype html><html><head><meta charset=utf-8><meta http-equiv=refresh content=5>\
         <title>tvmesh {role}</title><style>body{{font:14px sans-serif;margin:1em}}\
         table{{border-collapse:collapse}}td,th{{border:1px solid #999;padding:2px 8px;text-align:right}}\
         th{{background:#eee}}td:first-child{{text-align:left}}</style></head><body>\
         <h1>tvmesh {role}</h1><p>version {v} &middot; up {up} s &middot; RSS {rss} KiB &middot; \
         pool {used}/{slots} slots of {sb} B{board}</p>{nat}<table><tr><th>channel</th><th>state</th>\
         <th>kbit/s</th><th>chunks in</th><th>chunks out</th><th>bytes in</th><th>bytes out</th>\
         <th>peers</th><th>partners</th><th>from root</th><th>from peers</th><th>uploaded</th>\
         <th>skips</th><th>lost</th><th>continuity</th><th>lag ms</th><th>join ms</th></tr>",
        role = s.role,
        v = s.version,
        up = s.uptime_s,
        rss = s.rss_kb,
        used = s.pool.used,
        slots = s.pool.slots,
        sb = s.pool.slot_bytes,
        board = if s.board.is_empty() { String::new() } else { format!(" &middot; board {}", esc(&s.board)) },
        nat = s.nat.as_ref().map_or(String::new(), |n| format!(
            "<p>NAT {} (mapping {}, filtering {}) &middot; public address {}</p>",
            n.kind,
            n.mapping,
            n.filtering,
            esc(n.public_addr.as_deref().unwrap_or("unknown"))
        )),
    );
    for c in &s.channels {
        let name = esc(&c.name);
        let link = match stream_base {
            Some(_) => format!("<a href=\"/stream/{name}.ts\">{name}</a>"),
            None => name.clone(),
        };
        let _ = write!(
            h,
            "<tr><td>{link}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}.{:04}%</td><td>{}</td><td>{}</td></tr>",
            c.state,
            c.bitrate_kbps,
            c.chunks_in,
            c.chunks_out,
            c.bytes_in,
            c.bytes_out,
            if s.role == "root" { c.viewers } else { c.peers },
            c.partners,
            c.bytes_from_root,
            c.bytes_from_peers,
            c.bytes_uploaded,
            c.skips,
            c.lost,
            c.continuity_ppm / 10_000,
            c.continuity_ppm % 10_000,
            c.lag_ms,
            c.join_ms,
        );
    }
    let _ = write!(h, "</table><p><a href=\"/status.json\">status.json</a> &middot; <a href=\"/metrics\">metrics</a></p></body></html>");
    h
}

/// Renders Prometheus text exposition.
pub fn metrics(s: &Status) -> String {
    let mut m = String::with_capacity(2048);
    let _ = writeln!(
        m,
        "tvmesh_uptime_seconds {}\ntvmesh_rss_kilobytes {}",
        s.uptime_s, s.rss_kb
    );
    let _ = writeln!(
        m,
        "tvmesh_pool_slots {}\ntvmesh_pool_used_slots {}",
        s.pool.slots, s.pool.used
    );
    let _ = writeln!(m, "tvmesh_bad_datagrams_total {}", s.bad_datagrams);
    if let Some(n) = &s.nat {
        let _ = writeln!(
            m,
            "tvmesh_nat_info{{type=\"{}\",mapping=\"{}\",filtering=\"{}\",public_addr=\"{}\"}} 1\ntvmesh_nat_classifications_total {}",
            n.kind,
            n.mapping,
            n.filtering,
            n.public_addr.as_deref().unwrap_or(""),
            n.runs
        );
    }
    for c in &s.channels {
        let l = format!("{{channel=\"{}\"}}", c.name);
        for (k, v) in [
            ("chunks_in_total", c.chunks_in),
            ("chunks_out_total", c.chunks_out),
            ("bytes_in_total", c.bytes_in),
            ("bytes_out_total", c.bytes_out),
            ("skips_total", c.skips),
            ("lost_chunks_total", c.lost),
            ("late_chunks_total", c.late),
            ("requests_total", c.requests),
            ("peers", u64::from(c.peers)),
            ("partners", u64::from(c.partners)),
            ("bytes_from_root_total", c.bytes_from_root),
            ("bytes_from_peers_total", c.bytes_from_peers),
            ("bytes_uploaded_total", c.bytes_uploaded),
            ("bytes_relayed_total", c.bytes_relayed),
            ("lag_ms", c.lag_ms),
            ("viewers", u64::from(c.viewers)),
            ("root_egress_kbps", c.root_egress_kbps),
            ("bitrate_kbps", u64::from(c.bitrate_kbps)),
            ("continuity_ppm", u64::from(c.continuity_ppm)),
        ] {
            let _ = writeln!(m, "tvmesh_{k}{l} {v}");
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Status {
        Status {
            version: "0.1.0",
            role: "peer",
            uptime_s: 3,
            rss_kb: 1000,
            pool: PoolStatus {
                slots: 10,
                slot_bytes: 1316,
                used: 4,
            },
            channels: vec![ChannelStatus {
                name: "news".into(),
                state: "playing",
                continuity_ppm: 999_000,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn json_has_the_documented_fields() {
        let mut buf = [0u8; 4096];
        let n = json(&sample(), &mut buf).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&buf[..n]).unwrap();
        for k in ["version", "role", "uptime_s", "rss_kb"] {
            assert!(v.get(k).is_some(), "{k}");
        }
        assert_eq!(v["pool"]["slot_bytes"], 1316);
        let c = &v["channels"][0];
        for k in [
            "name",
            "state",
            "bitrate_kbps",
            "chunks_in",
            "chunks_out",
            "bytes_in",
            "bytes_out",
            "peers",
            "skips",
            "continuity_ppm",
            "late",
            "joins",
            "parent_switches",
        ] {
            assert!(c.get(k).is_some(), "channels[0].{k}");
        }
        assert_eq!(c["continuity_ppm"], 999_000);
        assert!(
            json(&sample(), &mut buf[..20]).is_none(),
            "too small a buffer is an error"
        );
    }

    #[test]
    fn html_escapes_and_metrics_label() {
        let mut s = sample();
        s.channels[0].name = "a<b".into();
        let h = html(&s, Some(""));
        assert!(h.contains("a&lt;b") && !h.contains("a<b"));
        assert!(h.contains("99.9000%"));
        let m = metrics(&sample());
        assert!(m.contains("tvmesh_continuity_ppm{channel=\"news\"} 999000"));
    }

    #[test]
    fn nat_block_on_boxes_only() {
        let mut buf = [0u8; 4096];
        let n = json(&sample(), &mut buf).unwrap();
        let text = std::str::from_utf8(&buf[..n]).unwrap();
        assert!(
            !text.contains("\"nat\""),
            "no nat block without one: {text}"
        );
        let mut s = sample();
        s.nat = Some(NatStatus {
            kind: "unknown",
            mapping: "unknown",
            filtering: "unknown",
            public_addr: None,
            runs: 0,
            paths: Vec::new(),
            partners: Vec::new(),
        });
        let n = json(&s, &mut buf).unwrap();
        let text = std::str::from_utf8(&buf[..n]).unwrap();
        assert!(
            text.ends_with(r#","nat":{"type":"unknown","mapping":"unknown","filtering":"unknown","public_addr":null,"runs":0}}"#),
            "{text}"
        );
        s.nat = Some(NatStatus {
            kind: "full-cone",
            mapping: "endpoint-independent",
            filtering: "endpoint-independent",
            public_addr: Some("203.0.113.14:4000".into()),
            runs: 2,
            paths: vec![PathStatus {
                peer: "203.0.113.13:4000".into(),
                path: "direct",
                addr: Some("203.0.113.13:4000".into()),
                ms: 120,
                partner: true,
            }],
            partners: vec!["203.0.113.13:4000".into()],
        });
        let n = json(&s, &mut buf).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&buf[..n]).unwrap();
        assert_eq!(v["nat"]["type"], "full-cone");
        assert_eq!(v["nat"]["public_addr"], "203.0.113.14:4000");
        assert_eq!(
            v["nat"]["paths"][0].to_string(),
            r#"{"addr":"203.0.113.13:4000","ms":120,"partner":true,"path":"direct","peer":"203.0.113.13:4000"}"#
        );
        assert!(html(&s, Some("")).contains("<p>NAT full-cone (mapping endpoint-independent, filtering endpoint-independent) &middot; public address 203.0.113.14:4000</p>"));
        assert!(metrics(&s).contains(
            "tvmesh_nat_info{type=\"full-cone\",mapping=\"endpoint-independent\",filtering=\"endpoint-independent\",public_addr=\"203.0.113.14:4000\"} 1\ntvmesh_nat_classifications_total 2\n"
        ));
    }
}
