//! The end-of-run summary: steady-state figures, join times, lag and egress quantiles.
//!
//! Invariants: runs once, on the main thread, after the last window (the workers have stopped).

use super::counters::by_type;
use super::node::Core;
use super::shared::{lock, Shared};
use super::{Main, JOIN_DEADLINE_US};
use crate::metrics::{Hist, Row, Summary};
use crate::net::CTRL_MAX;
use tvmesh_core::output::OutputId;
use tvmesh_core::peer::{Peer, PeerStats};

impl Main {
    pub(super) fn summarise(&mut self, shared: &Shared, end: u64, wall_s: f64) -> Summary {
        let ramp_end = (self.p.ramp_start_s + self.p.ramp_s) * 1_000_000;
        let mut t = PeerStats::default();
        let (mut out_lost, mut out_skipped, mut skips) = (0, 0, 0);
        for &id in &self.alive {
            shared.with_node(id, |node| {
                if let Core::Peer(p) = &node.core {
                    record_join(
                        &mut self.join_all,
                        &mut self.join_churn,
                        p,
                        end.saturating_sub(node.created),
                        node.created >= ramp_end,
                    );
                    let x = p.stats();
                    t.chunks_in += x.chunks_in;
                    t.duplicates += x.duplicates;
                    t.requests += x.requests;
                    t.requested_chunks += x.requested_chunks;
                    t.played += x.played;
                    t.lost += x.lost;
                    t.ignored += x.ignored;
                    t.parent_switches += x.parent_switches;
                    for (a, b) in t.parent_drops.iter_mut().zip(x.parent_drops) {
                        *a += b;
                    }
                    t.joins += x.joins;
                    let o = p.output_stats(OutputId(0));
                    out_lost += o.lost_chunks;
                    out_skipped += o.skipped_chunks;
                    skips += o.skips;
                }
            });
        }
        // Per upload class: boxes, LEDBAT rate, actual upload, substreams served to children.
        let mut classes: Vec<(u64, [u64; 8])> = Vec::new();
        for &id in &self.alive {
            shared.with_node(id, |node| {
                if let Core::Peer(p) = &node.core {
                    let cap = node.link.cap_bps;
                    let i = match classes.iter().position(|c| c.0 == cap) {
                        Some(i) => i,
                        None => {
                            classes.push((cap, [0; 8]));
                            classes.len() - 1
                        }
                    };
                    let age_s = end.saturating_sub(node.created).max(1) as f64 / 1e6;
                    let c = &mut classes[i].1;
                    c[0] += 1;
                    c[1] += p.upload_rate_bps() / 1000;
                    c[2] += (p.stats().bytes_uploaded as f64 * 8.0 / 1000.0 / age_s) as u64;
                    let (mut served, mut fed) = (0u64, 0u64);
                    for x in p.partner_info() {
                        served += u64::from(x.we_feed.count_ones());
                        fed += u64::from(x.feeds_us.count_ones());
                    }
                    c[3] += served;
                    c[4] += fed;
                    c[5] += p.root_substreams() as u64;
                    c[6] += node.link.queued_us;
                    c[7] += node.link.queued_n;
                }
            });
        }
        if std::env::var_os("TVMESH_SIM_JOINS").is_some() {
            print_join_phases(shared, &self.alive, ramp_end);
        }
        if std::env::var_os("TVMESH_SIM_DIAG").is_some() {
            let mut lines = Vec::new();
            for &id in &self.alive {
                shared.with_node(id, |node| {
                    if let Core::Peer(p) = &node.core {
                        let lag = p.lag_ms().unwrap_or(0);
                        let seed = p.parent_kinds().contains(&1);
                        if (seed || lag > 2000 && id % 25 == 0) && lines.len() < 60 {
                            let x = p.stats();
                            lines.push(format!(
                                "diag box {id}{} cap {} lag {lag} src_delay {:?} parents {:?} partners {} lost {} requested {} dup {}",
                                if seed { " SEED" } else { "" },
                                node.link.cap_bps / 1000,
                                p.src_delay_ms(),
                                p.parent_kinds(),
                                p.partners(),
                                x.lost,
                                x.requested_chunks,
                                x.duplicates
                            ));
                        }
                    }
                });
            }
            for l in lines {
                eprintln!("{l}");
            }
        }
        classes.sort_unstable_by_key(|c| c.0);
        let class_lines: Vec<String> = classes
            .iter()
            .map(|(cap, c)| {
                let n = c[0].max(1);
                format!(
                    "cap {} kbit/s: {} boxes, LEDBAT rate {} kbit/s, uploaded {} kbit/s (lifetime mean), serves {:.2} substreams, fed {:.2} by partners + {:.2} by the root, uplink queue mean {} ms",
                    cap / 1000,
                    c[0],
                    c[1] / n,
                    c[2] / n,
                    c[3] as f64 / n as f64,
                    c[4] as f64 / n as f64,
                    c[5] as f64 / n as f64,
                    c[6] / c[7].max(1) / 1000
                )
            })
            .collect();
        let steady_from = self.p.steady_from_s();
        let (end_s, _, _, _, _) = self.snapshot(shared, false);
        let steady: Vec<&Row> = self
            .rows
            .iter()
            .filter(|r| r.time_s > steady_from)
            .collect();
        let n = steady.len().max(1) as u64;
        let st = self.steady_start.clone().unwrap_or_default();
        let d = |a: u64, b: u64| a.saturating_sub(b);
        let good = d(end_s.boxes.out_chunks, st.boxes.out_chunks);
        let missed = d(end_s.boxes.out_missed, st.boxes.out_missed);
        let ctrl = d(
            end_s.boxes.control + end_s.root_ctrl_core,
            st.boxes.control + st.root_ctrl_core,
        );
        let wire_ctrl = d(
            end_s.c.box_ctrl_bytes + end_s.c.root_ctrl_bytes,
            st.c.box_ctrl_bytes + st.c.root_ctrl_bytes,
        );
        let chunk_bytes = d(
            end_s.c.root_chunk_bytes + end_s.c.box_chunk_bytes,
            st.c.root_chunk_bytes + st.c.box_chunk_bytes,
        );
        let got_peers = d(end_s.boxes.from_peers, st.boxes.from_peers);
        let got_all = got_peers + d(end_s.boxes.from_root, st.boxes.from_root);
        let root_bytes = d(
            end_s.c.root_chunk_bytes + end_s.c.root_ctrl_bytes,
            st.c.root_chunk_bytes + st.c.root_ctrl_bytes,
        );
        let src = d(end_s.src_bytes, st.src_bytes);
        let all_good = end_s.boxes.out_chunks;
        let all_missed = end_s.boxes.out_missed;
        let c = self.totals.clone();
        let (busy, slab): (Vec<String>, usize) =
            shared.ctxs.iter().fold((Vec::new(), 0), |(mut v, s), x| {
                let x = lock(x);
                v.push(format!("{:.1}", x.busy_ns as f64 / 1e9));
                (v, s + x.slab.capacity_bytes())
            });
        let mut s = Summary {
            steady_from_s: steady_from,
            root_egress_milli: (root_bytes * 1000).checked_div(src).unwrap_or(0),
            root_egress_max_milli: steady
                .iter()
                .map(|r| r.root_egress_milli)
                .max()
                .unwrap_or(0),
            root_chunk_milli: (d(end_s.c.root_chunk_bytes, st.c.root_chunk_bytes) * 1000)
                .checked_div(src)
                .unwrap_or(0),
            root_ctrl_milli: (d(end_s.c.root_ctrl_bytes, st.c.root_ctrl_bytes) * 1000)
                .checked_div(src)
                .unwrap_or(0),
            root_repairs_per_s: d(end_s.root_repairs, st.root_repairs) / n,
            viewers_mean: steady.iter().map(|r| r.viewers).sum::<u64>() / n,
            continuity_ppm: (good * 1_000_000)
                .checked_div(good + missed)
                .unwrap_or(1_000_000),
            continuity_all_ppm: (all_good * 1_000_000)
                .checked_div(all_good + all_missed)
                .unwrap_or(1_000_000),
            p95_join_ms: self.join_all.quantile(0.95),
            p50_join_ms: self.join_all.quantile(0.5),
            p95_join_churn_ms: self.join_churn.quantile(0.95),
            joins_counted: self.join_all.count(),
            joins_never: self.join_all.overflow(),
            p95_lag_ms: self.lag.quantile(0.95),
            p50_lag_ms: self.lag.quantile(0.5),
            control_ppm: (ctrl * 1_000_000).checked_div(chunk_bytes).unwrap_or(0),
            control_wire_ppm: (wire_ctrl * 1_000_000)
                .checked_div(chunk_bytes)
                .unwrap_or(0),
            peer_share_ppm: (got_peers * 1_000_000).checked_div(got_all).unwrap_or(0),
            same_group_ppm: if self.p.groups > 0 {
                (c.same_group_bytes * 1_000_000)
                    .checked_div(c.box_chunk_bytes)
                    .unwrap_or(0)
            } else {
                0
            },
            stalls: c.stalls,
            wall_s,
            peak_rss_kib: crate::metrics::peak_rss_kib(),
            deliveries: c.deliveries,
            timer_fires: c.timer_fires,
            profile: Vec::new(),
            anomalies: Vec::new(),
        };
        s.profile.push(format!(
            "wall {wall_s:.1} s: workers busy {} s (of which the root {:.1} s), main thread churn {:.1} s, sampling {:.1} s",
            busy.join(" + "),
            c.root_ns as f64 / 1e9,
            self.main_ns as f64 / 1e9,
            self.sample_ns as f64 / 1e9
        ));
        s.profile.push(format!(
            "{:.2} M events/s of wall time; root drains {}; boxes created {}; slab {} MiB",
            (c.deliveries + c.timer_fires) as f64 / wall_s.max(1e-9) / 1e6,
            c.root_drains,
            self.n_nodes - 1,
            slab >> 20
        ));
        s.profile.push(format!(
            "datagrams: {} lost in the network, {} dropped at full uplinks, {} by NAT filters, {} to departed boxes",
            c.lost, c.uplink_drops, c.nat_drops, c.dead_dst
        ));
        s.profile.push(format!(
            "box events: {} joins acknowledged, {} refused, {} stalls, {} new epochs, {} partnerships, {} bad datagrams",
            c.joined, c.refused, c.stalls, c.new_epochs, c.partner_up, c.bad
        ));
        s.profile.push(format!(
            "boxes alive at the end, summed: chunks_in {} duplicates {} requests {} requested_chunks {} played {} lost {} ignored {} parent_switches {} (drops gone/quiet/behind/backlogged {:?}) joins {}; output 0: lost {} skipped {} in {} skips",
            t.chunks_in, t.duplicates, t.requests, t.requested_chunks, t.played, t.lost, t.ignored, t.parent_switches, t.parent_drops, t.joins, out_lost, out_skipped, skips
        ));
        s.profile.push(format!(
            "root control egress by type (whole run): {}",
            by_type(&c.root_ctrl_by_type, self.p.duration_s)
        ));
        s.profile.push(format!(
            "box control by type, all boxes (whole run): {}",
            by_type(&c.box_ctrl_by_type, self.p.duration_s)
        ));
        let (mut age_root, mut age_peer) = (Hist::new(30_000), Hist::new(30_000));
        for x in &shared.ctxs {
            let x = lock(x);
            age_root.merge(&x.age_root);
            age_peer.merge(&x.age_peer);
        }
        let q = |h: &Hist, f: f64| {
            h.quantile(f)
                .map_or("≥30 s".to_string(), |v| format!("{v} ms"))
        };
        s.profile.push(format!(
            "chunk age on arrival at a box (steady state, duplicates included): from peers p50 {} p95 {} ({} chunks); from the root p50 {} p95 {} ({} chunks)",
            q(&age_peer, 0.5),
            q(&age_peer, 0.95),
            age_peer.count(),
            q(&age_root, 0.5),
            q(&age_root, 0.95),
            age_root.count()
        ));
        s.profile.extend(class_lines);
        if c.oversize > 0 {
            s.anomalies.push(format!(
                "{} control datagrams longer than {CTRL_MAX} bytes dropped",
                c.oversize
            ));
        }
        if c.unknown_dst > 0 {
            s.anomalies
                .push(format!("{} datagrams to unknown addresses", c.unknown_dst));
        }
        if c.timer_spins > 0 {
            s.anomalies.push(format!(
                "{} times a state machine asked to be woken no later than the wake-up it was handling",
                c.timer_spins
            ));
        }
        s
    }
}

/// Prints, for boxes that joined during the ramp and after it, p50/p95 of the time from start
/// to each step of the join (`Peer::join_phases`), ms.
fn print_join_phases(shared: &Shared, alive: &[u32], ramp_end: u64) {
    const STEPS: [&str; 7] = [
        "ack",
        "partner",
        "map",
        "subscribe",
        "chunk",
        "start",
        "output",
    ];
    let mut v: [[Vec<u64>; 7]; 2] = Default::default();
    for &id in alive {
        shared.with_node(id, |node| {
            if let Core::Peer(p) = &node.core {
                let k = usize::from(node.created >= ramp_end);
                let ph = p
                    .join_phases()
                    .map(|d| d.map_or(u64::MAX, |d| d.as_millis() as u64));
                // Slow joins one by one: every one after the ramp, one in ten during it.
                let slow = ph[6] > 700 && ph[6] != u64::MAX && (k == 1 || id % 10 == 0);
                if slow && std::env::var_os("TVMESH_SIM_SLOWJOIN").is_some() {
                    eprintln!("slow join: box {id} after ramp {} ms {ph:?}", k == 1);
                }
                for (j, d) in ph.into_iter().enumerate() {
                    v[k][j].push(d);
                }
            }
        });
    }
    for (k, name) in ["ramp", "after"].iter().enumerate() {
        let mut line = format!("joins {name} ({} boxes), p50/p95 ms:", v[k][0].len());
        for (j, x) in v[k].iter_mut().enumerate() {
            x.sort_unstable();
            let at = |f: f64| {
                x.get(((x.len() as f64 - 1.0) * f) as usize)
                    .copied()
                    .unwrap_or(0)
            };
            line += &format!(" {} {}/{}", STEPS[j], at(0.5), at(0.95));
        }
        eprintln!("{line}");
    }
}

pub(super) fn record_join(
    all: &mut Hist,
    churn: &mut Hist,
    p: &Peer,
    age_us: u64,
    after_ramp: bool,
) {
    let v = match p.join_time() {
        Some(d) => Some(d.as_millis() as u64),
        None if age_us >= JOIN_DEADLINE_US => None,
        None => return, // too young to judge
    };
    for h in [Some(all), after_ramp.then_some(churn)]
        .into_iter()
        .flatten()
    {
        match v {
            Some(ms) => h.add(ms),
            None => h.add_never(),
        }
    }
}
