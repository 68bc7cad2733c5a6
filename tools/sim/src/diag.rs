//! Diagnostics for tuning (`TVMESH_SIM_DIAG_AT=S1,S2,…`): at those virtual seconds, print the
//! per-substream parent chains of a few lagging boxes — each hop's id, upload cap and smoothed
//! source delay — so a deep or cyclic tree shows itself.
//!
//! Invariant: read-only; never changes what the simulation does, only what it prints.

use crate::net::id_of;
use std::collections::HashMap;
use tvmesh_core::peer::Peer;

/// One box as the diagnostics see it.
pub struct Seen {
    pub cap_kbps: u64,
    pub lag_ms: u64,
    pub src_delay: [u16; 4],
    pub parents: [Option<u32>; 4],
    pub kinds: [u8; 4],
    /// Child id → how far its push cursors trail our newest chunk (seqs).
    pub behind: HashMap<u32, [u64; 4]>,
    pub rate_kbps: u64,
    /// Per substream without a parent: the partners and why none feeds us.
    pub orphan_why: Vec<(usize, String)>,
    pub kids_in: [u32; 4],
    /// Uplink queue (ms) at the sample.
    pub queue_ms: u64,
    /// Whether other boxes can greet it (set by the sampler from its link).
    pub reachable: bool,
    /// Partners it has (at most `PeerConfig::max_partners`): its children come only from them.
    pub partners: usize,
    /// The stream rate it measured (kbit/s): its child capacity depends on it.
    pub bitrate: u32,
}

impl Seen {
    pub fn of(p: &Peer, cap_bps: u64) -> Self {
        Self {
            cap_kbps: cap_bps / 1000,
            lag_ms: p.lag_ms().unwrap_or(0),
            src_delay: p.src_delay_ms(),
            parents: p.parent_addrs().map(|a| a.and_then(id_of)),
            kinds: p.parent_kinds(),
            behind: p
                .push_behind()
                .filter_map(|(a, b)| Some((id_of(a)?, b)))
                .collect(),
            rate_kbps: p.upload_rate_bps() / 1000,
            orphan_why: (0..4)
                .filter(|&s| p.parent_kinds()[s] == 0)
                .map(|s| {
                    let v: Vec<String> = p
                        .parent_candidates(s)
                        .map(|(a, up, spare, refused, child, ahead)| {
                            format!(
                                "{}{}{}{}{}:{ahead}",
                                id_of(a).unwrap_or(u32::MAX),
                                if up { "" } else { "(down)" },
                                format_args!("/sp{spare}"),
                                if refused { "/ref" } else { "" },
                                if child { "/kid" } else { "" },
                            )
                        })
                        .collect();
                    (s, v.join(" "))
                })
                .collect(),
            kids_in: {
                let mut k = [0u32; 4];
                for x in p.partner_info() {
                    for (s, n) in k.iter_mut().enumerate() {
                        *n += u32::from(x.we_feed >> s & 1);
                    }
                }
                k
            },
            queue_ms: 0,
            reachable: true,
            partners: p.partners(),
            bitrate: p.stats().bitrate_kbps,
        }
    }
}

/// The seconds asked for in `TVMESH_SIM_DIAG_AT`.
pub fn wanted() -> Vec<u64> {
    std::env::var("TVMESH_SIM_DIAG_AT")
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// Prints chains for the `n` most lagging boxes and a depth histogram per substream.
pub fn print_chains(t_s: u64, boxes: &HashMap<u32, Seen>, n: usize) {
    let mut ids: Vec<u32> = boxes.keys().copied().collect();
    ids.sort_unstable_by_key(|id| (std::cmp::Reverse(boxes[id].lag_ms), *id));
    let mut depth_hist = [[0u32; 16]; 4];
    let mut cycles = [0u32; 4];
    let (mut orphans, mut below_orphan) = ([0u32; 4], [0u32; 4]);
    for &id in &ids {
        for s in 0..4 {
            let (hops, end) = walk(boxes, id, s);
            match end {
                End::Cycle => cycles[s] += 1,
                End::NoParent if hops.len() == 1 => orphans[s] += 1,
                End::NoParent => below_orphan[s] += 1,
                _ => depth_hist[s][hops.len().min(15)] += 1,
            }
        }
    }
    eprintln!(
        "diag t={t_s}s boxes {} per substream: in cycles {cycles:?}, no parent {orphans:?}, below one {below_orphan:?}",
        boxes.len()
    );
    for (s, h) in depth_hist.iter().enumerate() {
        eprintln!("diag t={t_s}s substream {s} depth histogram {h:?}");
    }
    // Orphans with the biggest fan-out: why does no partner feed them?
    let mut orph: Vec<(u32, usize)> = ids
        .iter()
        .flat_map(|&id| boxes[&id].orphan_why.iter().map(move |(s, _)| (id, *s)))
        .collect();
    orph.sort_unstable_by_key(|&(id, s)| (std::cmp::Reverse(boxes[&id].kids_in[s]), id));
    for &(id, s) in orph.iter().take(8) {
        let b = &boxes[&id];
        let why = &b
            .orphan_why
            .iter()
            .find(|w| w.0 == s)
            .map_or("", |w| w.1.as_str());
        eprintln!(
            "diag t={t_s}s orphan {id} s{s} cap {} kids_in_s {} delay {}: {why}",
            b.cap_kbps, b.kids_in[s], b.src_delay[s]
        );
    }
    for &id in ids.iter().take(n) {
        let b = &boxes[&id];
        eprintln!("diag t={t_s}s box {id} cap {} lag {}", b.cap_kbps, b.lag_ms);
        for s in 0..4 {
            let (hops, end) = walk(boxes, id, s);
            let path: Vec<String> = hops
                .iter()
                .enumerate()
                .map(|(k, &h)| {
                    let Some(x) = boxes.get(&h) else {
                        // The parent departed since: `walk` ends there (End::Unknown).
                        return format!("{h}(gone)");
                    };
                    // How far this hop's parent's cursor for it trails (seqs).
                    let cur = hops
                        .get(k + 1)
                        .and_then(|p| boxes.get(p)?.behind.get(&h))
                        .map_or(String::from("-"), |b| b[s].to_string());
                    format!(
                        "{h}({}k/{}k,{}ms,cur{cur},kids{})",
                        x.cap_kbps,
                        x.rate_kbps,
                        x.src_delay[s],
                        x.behind.len()
                    )
                })
                .collect();
            eprintln!("  s{s}: {} -> {end:?}", path.join(" <- "));
        }
    }
}

/// One of the root's seeds for substream `sub`, as its box sees itself.
pub fn print_seed(t_s: u64, sub: usize, id: u32, boxes: &HashMap<u32, Seen>) {
    match boxes.get(&id) {
        Some(b) => eprintln!(
            "diag t={t_s}s seed s{sub}: box {id} bitrate {} up {} reach {} partners {} cap {} queue {} ms kinds {:?} delay {:?} kids_in {:?} orphan {:?}",
            b.bitrate, b.rate_kbps, b.reachable, b.partners, b.cap_kbps, b.queue_ms, b.kinds, b.src_delay, b.kids_in, b.orphan_why
        ),
        None => eprintln!("diag t={t_s}s seed s{sub}: box {id} gone"),
    }
}

#[derive(Debug)]
pub enum End {
    Root,
    NoParent,
    Cycle,
    Unknown,
}

fn walk(boxes: &HashMap<u32, Seen>, id: u32, s: usize) -> (Vec<u32>, End) {
    let mut hops = vec![id];
    let mut at = id;
    for _ in 0..64 {
        let Some(b) = boxes.get(&at) else {
            return (hops, End::Unknown);
        };
        match (b.kinds[s], b.parents[s]) {
            (1, _) => return (hops, End::Root),
            (2, Some(p)) => {
                if hops.contains(&p) {
                    return (hops, End::Cycle);
                }
                hops.push(p);
                at = p;
            }
            _ => return (hops, End::NoParent),
        }
    }
    (hops, End::Unknown)
}
