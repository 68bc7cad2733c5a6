//! Scenario parameters and the command line that sets them.

use std::fmt::Write as _;

/// Upload capacity classes: (share of boxes in per-mille, capacity as a multiple of the stream
/// rate in per-mille).
pub type CapacityMix = Vec<(u32, u32)>;

/// Everything a run depends on. Two runs with equal parameters produce identical metrics.
#[derive(Clone, Debug)]
pub struct Params {
    /// Scenario name (for labels).
    pub scenario: String,
    /// Boxes watching at steady state.
    pub viewers: usize,
    /// Virtual seconds simulated.
    pub duration_s: u64,
    /// Seed of every random choice (network, churn, the core state machines).
    pub seed: u64,
    /// Stream rate, TS bits per second.
    pub stream_bps: u64,
    /// Datagram loss probability, parts per million.
    pub loss_ppm: u32,
    /// Boxes leaving (and as many joining) per minute after the ramp, per-mille of `viewers`.
    pub churn_permille_per_min: u32,
    /// Share of departures that send LEAVE first (the rest vanish), per-mille.
    pub leave_permille: u32,
    /// Boxes unreachable for inbound traffic (NAT filtering), per-mille.
    pub unreachable_permille: u32,
    /// Network groups (0: none configured at the root; 2: two groups by address prefix).
    pub groups: u8,
    /// Boxes start joining at this time (s): the root has a key frame by then.
    pub ramp_start_s: u64,
    /// All `viewers` boxes join, uniformly spread, over this many seconds.
    pub ramp_s: u64,
    /// Steady state begins this long after the ramp ends (summary figures cover steady state).
    pub settle_s: u64,
    /// One-way latency range per box pair, ms (uniform).
    pub latency_ms: (u64, u64),
    /// Upload capacity mix.
    pub capacity: CapacityMix,
    /// A box's uplink buffer (tail drop beyond it), ms of its capacity.
    pub uplink_buffer_ms: u64,
    /// IP + UDP header bytes counted against uplink capacity per datagram.
    pub ip_overhead: usize,
    /// Box pool budget (KiB), as `pool_kib` in the daemon's config (default 4096, the smallest
    /// board profile's too). Pools are metadata-only, so this sets the window (about 16 s at
    /// 2 Mbit/s), not the memory (24 bytes per slot).
    pub pool_kib: usize,
    /// Partners per box.
    pub max_partners: usize,
    /// Root: seed copies per substream.
    pub seed_copies: usize,
    /// Root pool (KiB).
    pub root_pool_kib: usize,
    /// The root drains its transmit queue at most this often (µs), as a daemon does once per
    /// reactor wake-up; 0: after every input.
    pub root_batch_us: u64,
    /// Source feed interval (µs): the root gets the TS bytes due every this often.
    pub feed_us: u64,
    /// Worker threads (results do not depend on it).
    pub threads: usize,
}

impl Params {
    /// The standard scenario of issue 4 for `viewers` boxes.
    pub fn standard(viewers: usize) -> Params {
        Params {
            scenario: "standard".into(),
            viewers,
            duration_s: 120,
            seed: 1,
            stream_bps: 2_000_000,
            loss_ppm: 10_000,
            churn_permille_per_min: 100,
            leave_permille: 500,
            unreachable_permille: 300,
            groups: 0,
            ramp_start_s: 2,
            ramp_s: 15,
            settle_s: 10,
            latency_ms: (20, 80),
            capacity: vec![(200, 500), (500, 1500), (300, 4000)],
            uplink_buffer_ms: 1000,
            ip_overhead: 28,
            pool_kib: 4096,
            max_partners: 6,
            seed_copies: 1,
            root_pool_kib: 4096,
            root_batch_us: 1000,
            feed_us: 5000,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get().min(2)),
        }
    }

    /// No loss, no churn, everyone reachable with ample upload: the mesh at its best.
    pub fn ideal(viewers: usize) -> Params {
        Params {
            scenario: "ideal".into(),
            loss_ppm: 0,
            churn_permille_per_min: 0,
            unreachable_permille: 0,
            capacity: vec![(1000, 4000)],
            ..Params::standard(viewers)
        }
    }

    /// Steady state starts here (s).
    pub fn steady_from_s(&self) -> u64 {
        let s = self.ramp_start_s + self.ramp_s + self.settle_s;
        if s + 5 <= self.duration_s {
            s
        } else {
            self.duration_s / 2
        }
    }

    /// One line describing the run (for titles and summaries).
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            "{} · {} viewers · {} s · seed {} · {} kbit/s · loss {}% · churn {}%/min · unreachable {}% · latency {}–{} ms · upload ",
            self.scenario,
            self.viewers,
            self.duration_s,
            self.seed,
            self.stream_bps / 1000,
            pct(self.loss_ppm, 10_000),
            pct(self.churn_permille_per_min, 10),
            pct(self.unreachable_permille, 10),
            self.latency_ms.0,
            self.latency_ms.1,
        );
        for (i, (share, mult)) in self.capacity.iter().enumerate() {
            let _ = write!(
                s,
                "{}{}%@{}×",
                if i > 0 { "/" } else { "" },
                pct(*share, 10),
                pct(*mult, 1000)
            );
        }
        if self.groups > 0 {
            let _ = write!(s, " · {} groups", self.groups);
        }
        s
    }

    /// The command line that reproduces this run (flags that differ from the scenario's
    /// defaults are spelled out).
    pub fn command_line(&self, out: &str) -> String {
        let base = match self.scenario.as_str() {
            "ideal" => Params::ideal(self.viewers),
            _ => Params::standard(self.viewers),
        };
        let mut s = format!(
            "tvmesh-sim --scenario {} --viewers {} --duration {} --seed {}",
            self.scenario, self.viewers, self.duration_s, self.seed
        );
        if self.loss_ppm != base.loss_ppm {
            let _ = write!(s, " --loss {}", pct(self.loss_ppm, 10_000));
        }
        if self.churn_permille_per_min != base.churn_permille_per_min {
            let _ = write!(s, " --churn {}", pct(self.churn_permille_per_min, 10));
        }
        if self.unreachable_permille != base.unreachable_permille {
            let _ = write!(s, " --unreachable {}", pct(self.unreachable_permille, 10));
        }
        if self.groups != base.groups {
            let _ = write!(s, " --groups {}", self.groups);
        }
        if self.ramp_s != base.ramp_s {
            let _ = write!(s, " --ramp {}", self.ramp_s);
        }
        if self.root_batch_us != base.root_batch_us {
            let _ = write!(s, " --root-batch-us {}", self.root_batch_us);
        }
        if self.pool_kib != base.pool_kib {
            let _ = write!(s, " --pool-kib {}", self.pool_kib);
        }
        if self.max_partners != base.max_partners {
            let _ = write!(s, " --partners {}", self.max_partners);
        }
        if self.seed_copies != base.seed_copies {
            let _ = write!(s, " --seed-copies {}", self.seed_copies);
        }
        if self.latency_ms != base.latency_ms {
            let _ = write!(s, " --latency {}-{}", self.latency_ms.0, self.latency_ms.1);
        }
        if self.stream_bps != base.stream_bps {
            let _ = write!(s, " --stream-kbps {}", self.stream_bps / 1000);
        }
        let _ = write!(s, " --out {out}");
        s
    }
}

/// `v / div` as a short decimal (e.g. pct(10_000, 10_000) = "1").
pub fn pct(v: u32, div: u32) -> String {
    let whole = v / div;
    let frac = v % div;
    if frac == 0 {
        return whole.to_string();
    }
    let digits = div.ilog10() as usize;
    let f = format!("{frac:0digits$}");
    format!("{whole}.{}", f.trim_end_matches('0'))
}

/// Parses a decimal like "1.5" into an integer scaled by `scale` (1.5, 1000 → 1500).
pub fn parse_scaled(s: &str, scale: u32) -> Result<u32, String> {
    let bad = || format!("not a number: {s:?}");
    let (w, f) = s.split_once('.').unwrap_or((s, ""));
    let whole: u32 = if w.is_empty() {
        0
    } else {
        w.parse().map_err(|_| bad())?
    };
    let digits = scale.ilog10() as usize;
    if f.len() > digits || !f.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let frac: u32 = if f.is_empty() {
        0
    } else {
        format!("{f:0<digits$}").parse().map_err(|_| bad())?
    };
    whole
        .checked_mul(scale)
        .and_then(|x| x.checked_add(frac))
        .ok_or_else(bad)
}

/// Usage text.
pub const USAGE: &str = "\
tvmesh-sim: the tvmesh swarm in virtual time (the same core Root and Peer the daemon runs).

USAGE:
  tvmesh-sim [--scenario standard|ideal] [--viewers N] [--duration S] [--seed X] [--out DIR] [options]

Writes DIR/metrics.csv (one row per virtual second), DIR/plot.svg, DIR/summary.md and DIR/row.md
(one Markdown table row), and prints the summary. Same parameters and seed → byte-identical CSV,
whatever the thread count.

SCENARIO (defaults: standard):
  --scenario NAME      standard: 2 Mbit/s, 1% loss, 10%/min churn, 30% unreachable, 20-80 ms,
                       upload 20% at 0.5x / 50% at 1.5x / 30% at 4x the stream rate.
                       ideal: no loss, no churn, all reachable, all at 4x.
  --viewers N          boxes at steady state (default 1000)
  --duration S         virtual seconds (default 120)
  --seed X             seed (default 1)
  --out DIR            output directory (default target/sim/<scenario>-<viewers>)

NETWORK AND AUDIENCE (override the scenario):
  --loss PCT           datagram loss, percent (e.g. 1)
  --churn PCT          boxes leaving and joining per minute, percent of viewers (e.g. 10)
  --leave PCT          share of departures that send LEAVE first (default 50)
  --unreachable PCT    boxes unreachable for inbound traffic, percent (e.g. 30)
  --groups N           0 or 2 network groups (address prefixes configured at the root)
  --latency MIN-MAX    one-way latency per box pair, ms, uniform (e.g. 20-80)
  --stream-kbps K      stream rate (default 2000)
  --ramp S             all viewers join over the first S seconds (default 15)
  --settle S           steady state starts S seconds after the ramp (default 10)
  --uplink-buffer-ms M a box's uplink queue limit (tail drop), ms (default 1000)

CORE SETTINGS:
  --partners N         PeerConfig.max_partners (default 6, the daemon's)
  --pool-kib K         box pool budget (default 4096, the daemon's; metadata only)
  --seed-copies N      RootConfig.seed_copies (default 1, the daemon's)
  --root-batch-us U    the root drains its output at most every U µs (default 1000; 0 = after
                       every input)

RUNNING:
  --threads N          worker threads (default: min(2, cores)); results do not depend on it
  --quiet              no progress lines on stderr
  --replot             only redraw DIR/plot.svg from DIR/metrics.csv (give the run's flags)
  --print-table-header print the header of the row.md tables and exit
  -h, --help           this text
";

/// What the command line asked for.
#[derive(Debug)]
pub struct Cli {
    /// The run.
    pub params: Params,
    /// Output directory.
    pub out: String,
    /// Progress lines on stderr.
    pub progress: bool,
    /// Only re-render plot.svg from an existing metrics.csv.
    pub replot: bool,
}

/// Parses arguments (without the program name). `Err` carries a message (or the usage text).
pub fn parse_args(args: &[String]) -> Result<Cli, String> {
    let mut scenario = "standard".to_string();
    let mut viewers = 1000usize;
    // First pass: the scenario and size, which the other flags override.
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "-h" | "--help" => return Err(USAGE.to_string()),
            "--scenario" => scenario = value(args, i)?.to_string(),
            "--viewers" => viewers = num(value(args, i)?)?,
            _ => {}
        }
        i += 1;
    }
    let mut p = match scenario.as_str() {
        "standard" => Params::standard(viewers),
        "ideal" => Params::ideal(viewers),
        s => return Err(format!("unknown scenario {s:?} (standard, ideal)")),
    };
    let mut out = None;
    let mut progress = true;
    let mut replot = false;
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        let takes_value = !matches!(a, "--quiet" | "--replot");
        match a {
            "--scenario" | "--viewers" => {}
            "--duration" => p.duration_s = num(value(args, i)?)?,
            "--seed" => p.seed = num(value(args, i)?)?,
            "--out" => out = Some(value(args, i)?.to_string()),
            "--loss" => p.loss_ppm = parse_scaled(value(args, i)?, 10_000)?,
            "--churn" => p.churn_permille_per_min = parse_scaled(value(args, i)?, 10)?,
            "--leave" => p.leave_permille = parse_scaled(value(args, i)?, 10)?,
            "--unreachable" => p.unreachable_permille = parse_scaled(value(args, i)?, 10)?,
            "--groups" => {
                p.groups = num(value(args, i)?)?;
                if p.groups != 0 && p.groups != 2 {
                    return Err("--groups takes 0 or 2".into());
                }
            }
            "--latency" => {
                let v = value(args, i)?;
                let (a, b) = v
                    .split_once('-')
                    .ok_or_else(|| format!("--latency wants MIN-MAX, got {v:?}"))?;
                p.latency_ms = (num(a)?, num(b)?);
            }
            "--stream-kbps" => p.stream_bps = num::<u64>(value(args, i)?)? * 1000,
            "--ramp" => p.ramp_s = num(value(args, i)?)?,
            "--settle" => p.settle_s = num(value(args, i)?)?,
            "--uplink-buffer-ms" => p.uplink_buffer_ms = num(value(args, i)?)?,
            "--partners" => p.max_partners = num(value(args, i)?)?,
            "--pool-kib" => p.pool_kib = num(value(args, i)?)?,
            "--seed-copies" => p.seed_copies = num(value(args, i)?)?,
            "--root-batch-us" => p.root_batch_us = num(value(args, i)?)?,
            "--threads" => p.threads = num::<usize>(value(args, i)?)?.max(1),
            "--quiet" => progress = false,
            "--replot" => replot = true,
            other => return Err(format!("unknown argument {other:?}; try --help")),
        }
        i += if takes_value { 2 } else { 1 };
    }
    check(&p)?;
    let out = out.unwrap_or_else(|| format!("target/sim/{}-{}", p.scenario, p.viewers));
    Ok(Cli {
        params: p,
        out,
        progress,
        replot,
    })
}

/// Rejects parameters the simulator cannot honour.
pub fn check(p: &Params) -> Result<(), String> {
    if p.viewers == 0 || p.viewers > 1_000_000 {
        return Err("--viewers must be 1..=1000000".into());
    }
    if p.duration_s == 0 {
        return Err("--duration must be positive".into());
    }
    if p.latency_ms.0 == 0 || p.latency_ms.0 > p.latency_ms.1 {
        return Err("--latency wants 1 <= MIN <= MAX".into());
    }
    if p.loss_ppm > 1_000_000 || p.unreachable_permille > 1000 || p.leave_permille > 1000 {
        return Err("percentages must be at most 100".into());
    }
    if p.stream_bps < 100_000 {
        return Err("--stream-kbps must be at least 100".into());
    }
    if p.capacity.iter().map(|c| c.0).sum::<u32>() != 1000 {
        return Err("capacity shares must add up to 100%".into());
    }
    if !(1..=tvmesh_core::peer::MAX_PARTNERS).contains(&p.max_partners) {
        return Err(format!(
            "--partners must be 1..={}",
            tvmesh_core::peer::MAX_PARTNERS
        ));
    }
    Ok(())
}

fn value(args: &[String], i: usize) -> Result<&str, String> {
    args.get(i + 1)
        .map(String::as_str)
        .ok_or_else(|| format!("{} needs a value", args[i]))
}

fn num<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("not a number: {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn scaled_numbers() {
        assert_eq!(parse_scaled("1", 10_000), Ok(10_000));
        assert_eq!(parse_scaled("0.5", 10), Ok(5));
        assert_eq!(parse_scaled("12.25", 1000), Ok(12_250));
        assert!(parse_scaled("1.23", 10).is_err());
        assert!(parse_scaled("x", 10).is_err());
        assert_eq!(pct(10_000, 10_000), "1");
        assert_eq!(pct(5, 10), "0.5");
        assert_eq!(pct(1500, 1000), "1.5");
    }

    #[test]
    fn cli_overrides_scenario() {
        let c = parse_args(&args(
            "--viewers 50 --loss 2 --churn 0 --unreachable 10 --groups 2 --latency 10-30 --quiet",
        ))
        .unwrap();
        assert_eq!(c.params.viewers, 50);
        assert_eq!(c.params.loss_ppm, 20_000);
        assert_eq!(c.params.churn_permille_per_min, 0);
        assert_eq!(c.params.unreachable_permille, 100);
        assert_eq!(c.params.groups, 2);
        assert_eq!(c.params.latency_ms, (10, 30));
        assert!(!c.progress);
        assert_eq!(c.out, "target/sim/standard-50");
        assert!(parse_args(&args("--bogus")).is_err());
        assert!(parse_args(&args("--help")).unwrap_err().contains("USAGE"));
        let line = c.params.command_line("x");
        assert!(
            line.contains("--loss 2") && line.contains("--groups 2"),
            "{line}"
        );
    }
}
