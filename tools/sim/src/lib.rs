//! tvmesh-sim: the tvmesh swarm in seeded virtual time, driving the same core `Root` and `Peer`
//! state machines as the daemon. See `sim` for the loop, `net` for the network model, `tsgen`
//! for the synthetic source, `metrics` and `plot` for what comes out.

pub mod diag;
pub mod metrics;
pub mod net;
pub mod plot;
pub mod scenario;
pub mod sim;
pub mod trace;
pub mod tsgen;

use std::path::Path;

/// Runs `params` and writes `metrics.csv`, `plot.svg`, `summary.md` and `row.md` (one Markdown
/// table row, see [`metrics::TABLE_HEADER`]) into `out`.
pub fn run_to_dir(
    params: &scenario::Params,
    out: &Path,
    progress: bool,
) -> Result<sim::Report, String> {
    let sim = sim::Sim::new(params)?;
    let report = sim.run(progress)?;
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let w = |name: &str, body: &str| {
        let p = out.join(name);
        std::fs::write(&p, body).map_err(|e| format!("{}: {e}", p.display()))
    };
    w("metrics.csv", &metrics::csv(&report.rows))?;
    w("plot.svg", &plot::svg(params, &report.rows))?;
    let cmd = params.command_line(&out.display().to_string());
    w(
        "summary.md",
        &report.summary.markdown(&params.describe(), &cmd),
    )?;
    w(
        "row.md",
        &format!(
            "{}\n",
            report
                .summary
                .table_row(params.viewers, params.duration_s, &cmd)
        ),
    )?;
    Ok(report)
}
