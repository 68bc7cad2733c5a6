//! Issue 4's targets on a 200-viewer standard scenario (2 Mbit/s, 1% loss, 10%/min churn, 30%
//! unreachable, 20–80 ms, upload 20% at 0.5× / 50% at 1.5× / 30% at 4×), driven through the
//! same core the daemon runs. On failure the message carries the whole summary.
//!
//! `ideal_swarm_plays_smoothly` checks the simulator itself: with no loss, no churn and ample
//! upload, every box must play smoothly.

use tvmesh_sim::scenario::Params;
use tvmesh_sim::sim::{Report, Sim};

fn run(p: &Params) -> Report {
    Sim::new(p)
        .expect("valid parameters")
        .run(false)
        .expect("run completes")
}

/// What the core achieves today on the standard scenario at 200 viewers, as a regression guard:
/// continuity, lag and control overhead meet issue 4's targets. Two targets are NOT met and are
/// not asserted here, because scale targets are reported by `make sim` / `make bench`
/// (docs/BENCHMARKS.md), not by tests: root egress (two seed copies per substream plus headers
/// put it at about 2.06×, over the 2× target) and p95 join time (about 3 s, over 1 s).
#[test]
fn standard_200_viewers_plays() {
    let p = Params {
        duration_s: 60,
        threads: 2,
        ..Params::standard(200)
    };
    let r = run(&p);
    let s = &r.summary;
    let text = s.markdown(&p.describe(), &p.command_line("target/sim/test"));
    assert!(s.anomalies.is_empty(), "simulator anomalies:\n{text}");
    assert!(
        s.continuity_ppm >= 995_000,
        "continuity {} ppm < 995000\n\n{text}",
        s.continuity_ppm
    );
    assert!(
        s.p95_lag_ms.is_some_and(|l| l <= 2000),
        "p95 lag {:?} ms > 2000\n\n{text}",
        s.p95_lag_ms
    );
    assert!(
        s.control_ppm <= 10_000,
        "control {} ppm > 1%\n\n{text}",
        s.control_ppm
    );
    assert!(
        s.root_egress_milli <= 2_200,
        "root egress {} milli-streams\n\n{text}",
        s.root_egress_milli
    );
}

#[test]
fn ideal_swarm_plays_smoothly() {
    let p = Params {
        duration_s: 40,
        threads: 2,
        ..Params::ideal(100)
    };
    let r = run(&p);
    let s = &r.summary;
    let text = s.markdown(&p.describe(), &p.command_line("target/sim/test"));
    assert!(s.anomalies.is_empty(), "{text}");
    assert!(s.continuity_ppm >= 995_000, "{text}");
    assert!(s.p95_lag_ms.is_some_and(|l| l <= 2000), "{text}");
    assert_eq!(s.joins_never, 0, "{text}");
    assert!(
        s.peer_share_ppm >= 900_000,
        "the mesh carries the stream: {text}"
    );
    let last = r.rows.last().expect("rows");
    assert_eq!((last.viewers, last.playing), (100, 100), "{text}");
}

/// With the largest partner table the daemon accepts (`max_partners` 8, so up to 10 partners),
/// the mesh repairs what the mesh holds: the root sends next to no repairs in steady state. The
/// repair scheduler once addressed only the first 8 table slots, and a chunk whose holder it
/// picked in slot 9 or 10 waited, then went to the root once urgent: 11 repairs a second here
/// (32 at 1,000 viewers), against none with every slot addressable.
#[test]
fn repairs_reach_every_partner_slot() {
    let p = Params {
        duration_s: 40,
        ramp_s: 5,
        settle_s: 5,
        threads: 2,
        max_partners: tvmesh_core::peer::MAX_PARTNERS,
        ..Params::standard(200)
    };
    let r = run(&p);
    let text = r
        .summary
        .markdown(&p.describe(), &p.command_line("target/sim/test"));
    let steady: Vec<_> = r.rows.iter().filter(|x| x.time_s > 12).collect();
    let repairs: u64 = steady.iter().map(|x| x.root_repairs).sum();
    let per_s = repairs / steady.len().max(1) as u64;
    assert!(
        per_s <= 3,
        "the root sent {per_s} repairs a second in steady state\n\n{text}"
    );
}
