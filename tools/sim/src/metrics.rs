//! Per-second rows, histograms, the CSV and the summary.

use std::fmt::Write as _;

/// A histogram in 1 ms bins up to `bins` ms, plus an overflow count ("never").
#[derive(Clone, Debug)]
pub struct Hist {
    bins: Vec<u64>,
    over: u64,
    n: u64,
}

impl Hist {
    /// Bins of 1 ms up to `max_ms`.
    pub fn new(max_ms: usize) -> Hist {
        Hist {
            bins: vec![0; max_ms],
            over: 0,
            n: 0,
        }
    }

    /// Adds a value in ms.
    pub fn add(&mut self, ms: u64) {
        self.n += 1;
        match self.bins.get_mut(ms as usize) {
            Some(b) => *b += 1,
            None => self.over += 1,
        }
    }

    /// Adds a value that never came (counts as larger than any).
    pub fn add_never(&mut self) {
        self.n += 1;
        self.over += 1;
    }

    /// Adds another histogram's counts (same bins).
    pub fn merge(&mut self, o: &Hist) {
        for (a, b) in self.bins.iter_mut().zip(&o.bins) {
            *a += b;
        }
        self.over += o.over;
        self.n += o.n;
    }

    /// Values added.
    pub fn count(&self) -> u64 {
        self.n
    }

    /// Values in the overflow bin.
    pub fn overflow(&self) -> u64 {
        self.over
    }

    /// The `q`-quantile (0..=1) in ms; `None` if empty or if it lies in the overflow bin.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.n == 0 {
            return None;
        }
        let rank = ((q * self.n as f64).ceil() as u64).clamp(1, self.n);
        let mut acc = 0;
        for (ms, &c) in self.bins.iter().enumerate() {
            acc += c;
            if acc >= rank {
                return Some(ms as u64);
            }
        }
        None
    }
}

/// One virtual second.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    /// End of the second (s since the start).
    pub time_s: u64,
    /// Boxes alive.
    pub viewers: u64,
    /// Boxes in the Playing state.
    pub playing: u64,
    /// Validated sessions at the root.
    pub root_sessions: u64,
    /// Sessions the root feeds substreams to.
    pub root_seeds: u64,
    /// Root egress (all datagram bytes), kbit/s.
    pub root_egress_kbps: u64,
    /// Root egress over the stream rate, in thousandths.
    pub root_egress_milli: u64,
    /// Of the root's egress, control datagrams (everything but CHUNK), kbit/s.
    pub root_ctrl_kbps: u64,
    /// Chunks the root sent as repairs this second.
    pub root_repairs: u64,
    /// Source rate (TS bytes), kbit/s.
    pub stream_kbps: u64,
    /// Output-0 chunks handed out on time / (handed out + lost + skipped), this second, ppm
    /// (as `Peer::continuity_ppm`: a chunk played over `late_after` behind the source is late).
    pub continuity_ppm: u64,
    /// Output-0 chunks lost, skipped or late this second.
    pub chunks_missed: u64,
    /// 95th percentile of `Peer::lag_ms` over playing boxes, ms.
    pub p95_lag_ms: u64,
    /// Control bytes / chunk bytes, all nodes, ppm (core counters).
    pub control_ppm: u64,
    /// Chunk bytes boxes received from peers / from anyone, ppm.
    pub peer_share_ppm: u64,
    /// Mean partners per playing box, in hundredths.
    pub partners_centi: u64,
    /// Boxes that joined / left this second.
    pub joins: u64,
    /// Boxes that left.
    pub leaves: u64,
    /// Stalls (a box heard nothing for its stall timeout and rejoined).
    pub stalls: u64,
    /// Datagrams lost by the network / at full uplinks / at NAT filters.
    pub net_lost: u64,
    /// Datagrams dropped at full uplinks.
    pub uplink_drops: u64,
    /// Datagrams dropped by NAT filtering.
    pub nat_drops: u64,
}

/// CSV header matching [`Row::csv`].
pub const CSV_HEADER: &str = "time_s,viewers,playing,root_sessions,root_seeds,root_egress_kbps,root_egress_x,root_ctrl_kbps,root_repairs_per_s,stream_kbps,continuity_ppm,chunks_missed,p95_lag_ms,control_pct,peer_share_pct,mean_partners,joins,leaves,stalls,net_lost,uplink_drops,nat_drops";

fn milli(v: u64) -> String {
    format!("{}.{:03}", v / 1000, v % 1000)
}

fn ppm_pct(v: u64) -> String {
    // ppm → percent with 4 decimals.
    format!("{}.{:04}", v / 10_000, v % 10_000)
}

impl Row {
    /// One CSV line (no newline).
    pub fn csv(&self) -> String {
        format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}.{:02},{},{},{},{},{},{}",
            self.time_s,
            self.viewers,
            self.playing,
            self.root_sessions,
            self.root_seeds,
            self.root_egress_kbps,
            milli(self.root_egress_milli),
            self.root_ctrl_kbps,
            self.root_repairs,
            self.stream_kbps,
            self.continuity_ppm,
            self.chunks_missed,
            self.p95_lag_ms,
            ppm_pct(self.control_ppm),
            ppm_pct(self.peer_share_ppm),
            self.partners_centi / 100,
            self.partners_centi % 100,
            self.joins,
            self.leaves,
            self.stalls,
            self.net_lost,
            self.uplink_drops,
            self.nat_drops,
        )
    }
}

/// Parses a fixed-point decimal ("1.500") into an integer scaled by 10^`digits`.
fn fixed(s: &str, digits: u32) -> Option<u64> {
    let (w, f) = s.split_once('.').unwrap_or((s, ""));
    if f.len() > digits as usize {
        return None;
    }
    let frac: u64 = if f.is_empty() { 0 } else { f.parse().ok()? };
    Some(w.parse::<u64>().ok()? * 10u64.pow(digits) + frac * 10u64.pow(digits - f.len() as u32))
}

impl Row {
    /// Parses a line written by [`Row::csv`].
    pub fn from_csv(line: &str) -> Option<Row> {
        let f: Vec<&str> = line.trim().split(',').collect();
        if f.len() != CSV_HEADER.split(',').count() {
            return None;
        }
        let n = |i: usize| f[i].parse::<u64>().ok();
        Some(Row {
            time_s: n(0)?,
            viewers: n(1)?,
            playing: n(2)?,
            root_sessions: n(3)?,
            root_seeds: n(4)?,
            root_egress_kbps: n(5)?,
            root_egress_milli: fixed(f[6], 3)?,
            root_ctrl_kbps: n(7)?,
            root_repairs: n(8)?,
            stream_kbps: n(9)?,
            continuity_ppm: n(10)?,
            chunks_missed: n(11)?,
            p95_lag_ms: n(12)?,
            control_ppm: fixed(f[13], 4)?,
            peer_share_ppm: fixed(f[14], 4)?,
            partners_centi: fixed(f[15], 2)?,
            joins: n(16)?,
            leaves: n(17)?,
            stalls: n(18)?,
            net_lost: n(19)?,
            uplink_drops: n(20)?,
            nat_drops: n(21)?,
        })
    }
}

/// Parses a CSV written by [`csv`].
pub fn parse_csv(text: &str) -> Result<Vec<Row>, String> {
    let mut lines = text.lines();
    if lines.next() != Some(CSV_HEADER) {
        return Err("not a tvmesh-sim metrics.csv (header differs)".into());
    }
    lines
        .enumerate()
        .map(|(i, l)| Row::from_csv(l).ok_or_else(|| format!("line {}: unparsable", i + 2)))
        .collect()
}

/// The whole CSV.
pub fn csv(rows: &[Row]) -> String {
    let mut s = String::with_capacity(rows.len() * 96 + 256);
    s.push_str(CSV_HEADER);
    s.push('\n');
    for r in rows {
        s.push_str(&r.csv());
        s.push('\n');
    }
    s
}

/// Figures for the summary (steady state unless said otherwise).
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Steady state from (s).
    pub steady_from_s: u64,
    /// Mean root egress / stream rate over steady state, thousandths.
    pub root_egress_milli: u64,
    /// Highest one-second root egress / stream rate in steady state, thousandths.
    pub root_egress_max_milli: u64,
    /// Of the mean root egress: CHUNK datagrams (seeding and repairs), thousandths.
    pub root_chunk_milli: u64,
    /// Of the mean root egress: control datagrams, thousandths.
    pub root_ctrl_milli: u64,
    /// Chunks the root sent as repairs per second, steady-state mean.
    pub root_repairs_per_s: u64,
    /// Mean viewers over steady state.
    pub viewers_mean: u64,
    /// Output-0 continuity over steady state, ppm.
    pub continuity_ppm: u64,
    /// Output-0 continuity over the whole run, ppm.
    pub continuity_all_ppm: u64,
    /// p95 join time over all boxes that joined (ms); `None`: beyond the histogram / never.
    pub p95_join_ms: Option<u64>,
    /// p50 join time, all boxes.
    pub p50_join_ms: Option<u64>,
    /// p95 join time of boxes that joined after the ramp (churn replacements).
    pub p95_join_churn_ms: Option<u64>,
    /// Boxes counted in the join figures.
    pub joins_counted: u64,
    /// Of them, boxes that never got a byte to their sink although they lived ≥ 10 s.
    pub joins_never: u64,
    /// p95 lag over (box, second) samples in steady state.
    pub p95_lag_ms: Option<u64>,
    /// p50 lag.
    pub p50_lag_ms: Option<u64>,
    /// Control / chunk bytes, core counters (Peer/Root stats), ppm.
    pub control_ppm: u64,
    /// The same from the wire (datagrams classified by type), ppm.
    pub control_wire_ppm: u64,
    /// Chunk bytes from peers / all chunk bytes boxes received, ppm.
    pub peer_share_ppm: u64,
    /// Chunk bytes between boxes of the same network group / all box-to-box chunk bytes, ppm.
    pub same_group_ppm: u64,
    /// Stalls over the run.
    pub stalls: u64,
    /// Wall-clock seconds.
    pub wall_s: f64,
    /// Peak resident memory (KiB), from /proc/self/status VmHWM.
    pub peak_rss_kib: u64,
    /// Datagrams delivered to nodes.
    pub deliveries: u64,
    /// Timer firings.
    pub timer_fires: u64,
    /// Free-form profile lines.
    pub profile: Vec<String>,
    /// Anomalies the simulator noticed (should be empty).
    pub anomalies: Vec<String>,
}

/// `v` ppm as a percentage with `d` decimals.
pub fn pct_ppm(v: u64, d: usize) -> String {
    format!("{:.*}%", d, v as f64 / 10_000.0)
}

fn ms(v: Option<u64>) -> String {
    v.map_or("n/a (beyond range or never)".into(), |x| format!("{x} ms"))
}

/// Header of [`Summary::table_row`].
pub const TABLE_HEADER: &str = "| viewers | virtual s | root egress × stream (steady) | continuity (steady) | p95 join | p95 lag | control / stream | from peers | wall | peak RSS | command |\n|---|---|---|---|---|---|---|---|---|---|---|";

impl Summary {
    /// One Markdown table row (see [`TABLE_HEADER`]).
    pub fn table_row(&self, viewers: usize, duration_s: u64, command: &str) -> String {
        let opt = |v: Option<u64>| v.map_or("never".to_string(), |x| format!("{x} ms"));
        format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {:.0} s | {} MiB | `{}` |",
            viewers,
            duration_s,
            milli(self.root_egress_milli),
            pct_ppm(self.continuity_ppm, 2),
            opt(self.p95_join_ms),
            opt(self.p95_lag_ms),
            pct_ppm(self.control_ppm, 2),
            pct_ppm(self.peer_share_ppm, 1),
            self.wall_s,
            self.peak_rss_kib.div_ceil(1024),
            command
        )
    }

    /// Markdown summary.
    pub fn markdown(&self, title: &str, command: &str) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "### {title}\n");
        let _ = writeln!(s, "Command: `{command}`\n");
        let _ = writeln!(s, "| figure | value | target |");
        let _ = writeln!(s, "|---|---|---|");
        let _ = writeln!(
            s,
            "| root egress, steady state (t ≥ {} s), mean × stream rate | {} (max 1 s: {}) | ≤ 2 |",
            self.steady_from_s,
            milli(self.root_egress_milli),
            milli(self.root_egress_max_milli)
        );
        let _ = writeln!(
            s,
            "| of which chunks (seeding + {} repairs/s) / control | {} / {} | |",
            self.root_repairs_per_s,
            milli(self.root_chunk_milli),
            milli(self.root_ctrl_milli)
        );
        let _ = writeln!(
            s,
            "| continuity, steady state (whole run) | {} ({}) | ≥ 99.5% |",
            pct_ppm(self.continuity_ppm, 3),
            pct_ppm(self.continuity_all_ppm, 3)
        );
        let _ = writeln!(
            s,
            "| join → first bytes at the sink, p95 (p50), {} boxes | {} ({}) | ≤ 1 s |",
            self.joins_counted,
            ms(self.p95_join_ms),
            ms(self.p50_join_ms)
        );
        let _ = writeln!(
            s,
            "| join p95, boxes joining after the ramp | {} | ≤ 1 s |",
            ms(self.p95_join_churn_ms)
        );
        let _ = writeln!(
            s,
            "| boxes that never played (lived ≥ 10 s) | {} | 0 |",
            self.joins_never
        );
        let _ = writeln!(
            s,
            "| lag behind the source, p95 (p50), steady state | {} ({}) | ≤ 2 s |",
            ms(self.p95_lag_ms),
            ms(self.p50_lag_ms)
        );
        let _ = writeln!(
            s,
            "| control bytes / chunk bytes (wire count) | {} ({}) | ≤ 1% |",
            pct_ppm(self.control_ppm, 3),
            pct_ppm(self.control_wire_ppm, 3)
        );
        let _ = writeln!(
            s,
            "| chunk bytes boxes got from peers | {} | |",
            pct_ppm(self.peer_share_ppm, 2)
        );
        if self.same_group_ppm > 0 {
            let _ = writeln!(
                s,
                "| box-to-box chunk bytes within a network group | {} | |",
                pct_ppm(self.same_group_ppm, 2)
            );
        }
        let _ = writeln!(
            s,
            "| mean viewers, steady state | {} | |",
            self.viewers_mean
        );
        let _ = writeln!(s, "| stalls (rejoins) | {} | |", self.stalls);
        let _ = writeln!(s, "| wall time | {:.1} s | |", self.wall_s);
        let _ = writeln!(
            s,
            "| peak RSS (VmHWM) | {} MiB | |",
            self.peak_rss_kib.div_ceil(1024)
        );
        let _ = writeln!(
            s,
            "| events: deliveries + timer firings | {} + {} | |",
            self.deliveries, self.timer_fires
        );
        if !self.profile.is_empty() {
            let _ = writeln!(s, "\nProfile:");
            for l in &self.profile {
                let _ = writeln!(s, "- {l}");
            }
        }
        if !self.anomalies.is_empty() {
            let _ = writeln!(s, "\nAnomalies:");
            for l in &self.anomalies {
                let _ = writeln!(s, "- {l}");
            }
        }
        s
    }
}

/// Peak resident set size (KiB) of this process, from /proc/self/status (0 if unavailable).
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The `q`-quantile of `v` (reorders `v`); 0 if empty.
pub fn quantile(v: &mut [u64], q: f64) -> u64 {
    if v.is_empty() {
        return 0;
    }
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    *v.select_nth_unstable(rank).1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hist_quantiles() {
        let mut h = Hist::new(100);
        for v in 1..=100 {
            h.add(v - 1);
        }
        assert_eq!(h.quantile(0.95), Some(94));
        assert_eq!(h.quantile(0.5), Some(49));
        h.add_never();
        h.add(5000);
        assert_eq!(h.overflow(), 2);
        assert_eq!(h.quantile(1.0), None);
        let mut v = vec![5, 1, 9, 3];
        assert_eq!(quantile(&mut v, 0.95), 9);
        assert_eq!(quantile(&mut [], 0.5), 0);
    }

    #[test]
    fn row_csv_has_every_column() {
        let r = Row {
            time_s: 3,
            root_egress_milli: 1500,
            control_ppm: 12_345,
            partners_centi: 512,
            ..Row::default()
        };
        let line = r.csv();
        assert_eq!(
            line.split(',').count(),
            CSV_HEADER.split(',').count(),
            "{line}"
        );
        assert!(line.contains(",1.500,") && line.contains(",1.2345,") && line.contains(",5.12,"));
        assert_eq!(Row::from_csv(&line), Some(r.clone()));
        assert_eq!(parse_csv(&csv(&[r.clone(), r])).unwrap().len(), 2);
    }
}
