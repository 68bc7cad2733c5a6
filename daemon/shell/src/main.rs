//! tvmeshd: the tvmesh daemon. See `--help` and docs/ARCHITECTURE.md.
//!
//! This crate is the shell: it owns sockets, files, processes, signals and the clock, and drives
//! the sans-IO state machines of `tvmesh-core`. It decides nothing about the protocol itself.

mod clock;
mod config;
mod drm_box;
mod http;
mod io;
mod nat_box;
// The NAT lab's probe subcommands: a test tool, built with the root role (the server build).
#[cfg(feature = "root")]
mod nat_probe;
mod net;
#[cfg(feature = "root")]
mod package_cmd;
mod reactor;
mod remote;
mod run_peer;
#[cfg(feature = "root")]
mod run_root;
mod status;
#[cfg(feature = "root")]
mod stun_service;
mod web;
mod zapping;

use config::{Command, Role};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    #[cfg(feature = "root")]
    if let Some(code) = nat_probe::dispatch(&args) {
        return code;
    }
    // Packaging is an operator's job on the server: box builds leave it out.
    #[cfg(feature = "root")]
    if let Some(code) = package_cmd::dispatch(&args) {
        return code;
    }
    let cfg = match config::parse_args(&args) {
        Ok(Command::Help) => {
            print!("{}", config::HELP);
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("tvmeshd {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Ok(Command::Run(c)) => c,
        Err(e) => {
            eprintln!("tvmeshd: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let _ = simple_logger::SimpleLogger::new()
        .with_level(cfg.log_level)
        .init();
    if let Err(e) = net::install_signals() {
        log::error!("cannot install signal handlers: {e}");
        return ExitCode::from(1);
    }
    let seed = cfg.seed.unwrap_or_else(|| {
        let mut b = [0u8; 8];
        match rustix::rand::getrandom(&mut b, rustix::rand::GetRandomFlags::empty()) {
            Ok(8) => u64::from_le_bytes(b),
            _ => clock::unix_micros() ^ u64::from(std::process::id()),
        }
    });
    let result = match &cfg.role {
        #[cfg(feature = "root")]
        Role::Root {
            listen,
            channels,
            max_boxes,
            mesh,
        } => run_root::run(&cfg, *listen, channels, *max_boxes, mesh, seed),
        Role::Peer {
            root,
            roots,
            channel,
            sink,
            listen,
            http_viewers,
            sink_queue_ms,
            max_partners,
        } => {
            let p = run_peer::PeerRun {
                root: *root,
                roots,
                channel,
                sink: sink.as_ref(),
                listen: *listen,
                http_viewers: *http_viewers,
                sink_queue_ms: *sink_queue_ms,
                max_partners: *max_partners,
            };
            run_peer::run(&cfg, &p, seed)
        }
        // Config already refuses `role = root` in a build without the feature (config::build).
        #[cfg(not(feature = "root"))]
        Role::Root { .. } => Err(std::io::Error::other(config::NO_ROOT_ROLE)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            ExitCode::from(1)
        }
    }
}
