//! `tvmesh-sim`: see `--help`.

use std::path::Path;
use std::process::ExitCode;
use tvmesh_sim::scenario::parse_args;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--print-table-header") {
        println!("{}", tvmesh_sim::metrics::TABLE_HEADER);
        return ExitCode::SUCCESS;
    }
    let cli = match parse_args(&args) {
        Ok(c) => c,
        Err(msg) if msg.starts_with("tvmesh-sim:") => {
            print!("{msg}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("tvmesh-sim: {msg}");
            return ExitCode::from(2);
        }
    };
    let p = &cli.params;
    if cli.replot {
        let dir = Path::new(&cli.out);
        let r = std::fs::read_to_string(dir.join("metrics.csv"))
            .map_err(|e| e.to_string())
            .and_then(|t| tvmesh_sim::metrics::parse_csv(&t))
            .and_then(|rows| {
                std::fs::write(dir.join("plot.svg"), tvmesh_sim::plot::svg(p, &rows))
                    .map_err(|e| e.to_string())
            });
        return match r {
            Ok(()) => {
                println!("Wrote {}/plot.svg", cli.out);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("tvmesh-sim: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if cli.progress {
        eprintln!("tvmesh-sim: {} → {}", p.describe(), cli.out);
    }
    match tvmesh_sim::run_to_dir(p, Path::new(&cli.out), cli.progress) {
        Ok(report) => {
            let cmd = p.command_line(&cli.out);
            print!("{}", report.summary.markdown(&p.describe(), &cmd));
            println!(
                "\nWrote {0}/metrics.csv, {0}/plot.svg, {0}/summary.md",
                cli.out
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tvmesh-sim: {e}");
            ExitCode::FAILURE
        }
    }
}
