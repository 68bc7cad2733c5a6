//! The root's run loop: sources → core → UDP, plus the status page.
//!
//! One thread, one epoll. Each pass: read what is ready (sources, datagrams, HTTP), run due
//! timers, drain the core's transmits and events, answer HTTP, sleep until the earliest deadline.

use crate::clock;
use crate::config::{ChannelConfig, Config, RootMesh};
use crate::io::source::{Source, SourceState};
use crate::net::{self, Udp};
use crate::reactor::{Reactor, Token};
use crate::status::{self, ChannelStatus, PoolStatus, Status};
use crate::stun_service::StunService;
use crate::web;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tvmesh_core::chunk::CHUNK_MAX;
use tvmesh_core::root::{ChannelSpec, Root, RootConfig, RootEvent};
use tvmesh_core::time::{earliest, Instant};
use tvmesh_core::wire::MAX_DATAGRAM;
use tvmesh_core::zap::publish;

const TOKEN_UDP: Token = 0;
/// Extra RFC 5780 STUN sockets: 1..=3.
const TOKEN_STUN: Token = 1;
const TOKEN_SOURCE: Token = 100;
const TOKEN_HTTP: Token = 10_000;
/// The loop wakes at least this often (signal checks, status freshness).
const MAX_SLEEP: Duration = Duration::from_millis(250);

/// Runs a root until SIGINT/SIGTERM.
pub fn run(
    cfg: &Config,
    listen: SocketAddr,
    channels: &[ChannelConfig],
    max_boxes: usize,
    mesh: &RootMesh,
    seed: u64,
) -> io::Result<()> {
    let started = clock::now();
    let specs: Vec<ChannelSpec<'_>> = channels
        .iter()
        .map(|c| ChannelSpec {
            name: &c.name,
            bitrate_kbps: c.bitrate_kbps,
        })
        .collect();
    let master = crate::drm_box::sign_seed(&cfg.integrity);
    let rc = RootConfig {
        max_sessions: max_boxes,
        session_timeout: Duration::from_secs(10),
        pool_bytes: cfg.pool_kib * 1024,
        first_seq: clock::unix_micros(),
        seed,
        seed_copies: mesh.seed_copies,
        repair_kbps: mesh.repair_kbps,
        groups: mesh.groups.clone(),
        sign: true,
        sign_seed: master,
        segment_ms: cfg
            .integrity
            .segment_ms
            .unwrap_or(tvmesh_core::drm::sign::DEFAULT_SEGMENT_MS),
        relay_kbps: mesh.relay_kbps,
        peers_per_s: tvmesh_core::root::DEFAULT_PEERS_PER_S,
    };
    // Sockets first: Root::new makes each channel's signing key (a prime search, up to ≈ 0.65 s
    // per channel here), and datagrams that come meanwhile wait in the socket buffers instead of
    // being refused.
    let mut reactor = Reactor::new(64)?;
    let mut udp = Udp::bind(listen)?;
    reactor.add(&udp.sock, TOKEN_UDP, true, false)?;
    let stun_addrs = tvmesh_core::nat::ServerAddrs {
        primary: udp.sock.local_addr()?,
        alt_port: cfg.nat.stun_alt_port,
        alt_ip: cfg.nat.stun_alt_ip,
    };
    let mut stun = StunService::open(stun_addrs, &reactor, TOKEN_STUN, started)?;
    let mut root =
        Root::new(rc, &specs, started).map_err(|e| io::Error::other(format!("{e:?}")))?;
    crate::drm_box::log_keys(&root, &specs);
    root.handle_unix_time(clock::unix_micros() / 1_000_000);
    crate::drm_box::protect_channels(&mut root, channels, &master);
    crate::drm_box::packaged_channels(&mut root, channels);
    if let Some(path) = &cfg.integrity.entitlements {
        root.set_entitlements(crate::drm_box::load_entitlements(path)?);
    }
    let mut dirs = crate::zapping::dir_server(channels)?;
    let mut sources: Vec<Source> = channels
        .iter()
        .map(|c| Source::open(&c.source, started))
        .collect();
    for (i, s) in sources.iter_mut().enumerate() {
        s.register(&reactor, TOKEN_SOURCE + i as Token);
    }
    let mut http = match cfg.http {
        Some(a) => Some(web::bind(a, &reactor, TOKEN_HTTP, 0)?),
        None => None,
    };
    log::info!(
        "root listening on udp {} with {} channel(s){}{}",
        udp.sock.local_addr()?,
        channels.len(),
        match stun.addrs().other(tvmesh_core::nat::Local::PRIMARY) {
            Some(o) => format!(", STUN alternate {o}"),
            None => String::new(),
        },
        http.as_ref()
            .map(|h| format!(", status on http://{}/", h.local_addr()))
            .unwrap_or_default()
    );

    let mut buf = vec![0u8; 64 * 1024];
    let mut tx = vec![0u8; MAX_DATAGRAM];
    let mut json = vec![0u8; 16 * 1024];
    let mut ready = Vec::with_capacity(64);
    let mut now = started;
    loop {
        if net::stop_requested() {
            log::info!("stopping");
            return Ok(());
        }
        // Sleep until something is ready or the earliest deadline.
        let mut deadline = earliest(root.poll_timeout(), Some(now + MAX_SLEEP));
        deadline = earliest(deadline, dirs.poll_timeout());
        for s in &sources {
            deadline = earliest(deadline, s.next_wakeup());
        }
        if let Some(h) = &http {
            deadline = earliest(deadline, h.poll_timeout());
        }
        ready.clear();
        ready.extend_from_slice(reactor.wait(now, deadline)?);
        now = clock::now();
        root.handle_unix_time(clock::unix_micros() / 1_000_000);
        if net::reload_requested() {
            crate::drm_box::reload_entitlements(&mut root, &cfg.integrity);
        }
        for r in &ready {
            match r.token {
                TOKEN_UDP => {
                    if r.readable {
                        udp.recv_batch(&mut buf, |from, d| {
                            if publish::is_request(d) {
                                dirs.handle_request(now, from, d);
                            } else if !stun.handle_primary(now, from, d, &udp.sock) {
                                root.handle_datagram(now, from, d)
                            }
                        });
                    }
                }
                t if stun.owns(t) => stun.handle_ready(now, t, &mut buf, &udp.sock),
                t if (TOKEN_SOURCE..TOKEN_HTTP).contains(&t) => {}
                t => {
                    if let Some(h) = http.as_mut().filter(|h| h.owns(t)) {
                        h.handle_ready(now, &reactor, *r);
                    }
                }
            }
        }
        // Sources: service all each pass (cheap when idle; pacing needs the due check anyway).
        for (i, s) in sources.iter_mut().enumerate() {
            if channels[i].packaged_keys.is_some() {
                s.service(now, &reactor, &mut |b: &[u8]| {
                    crate::drm_box::feed_packaged(&mut root, now, i, b)
                });
            } else {
                s.service(now, &reactor, &mut |b: &[u8]| root.handle_source(now, i, b));
            }
            if s.take_discontinuity() {
                root.source_discontinuity(i);
            }
        }
        root.handle_timeout(now);
        // Transmit until the core has nothing or the socket is full.
        udp.drain(&reactor, TOKEN_UDP, &mut tx, |buf| {
            dirs.poll_transmit(now, buf)
                .or_else(|| root.poll_transmit(buf))
        })?;
        while let Some(e) = root.poll_event() {
            log_event(&e, channels);
        }
        while let Some(a) = root.poll_validated() {
            stun.validate(a);
        }
        if let Some(h) = http.as_mut() {
            h.handle_timeout(now, &reactor);
            while let Some((conn, method, path, _q)) = h.poll_request() {
                let path = path.to_string();
                let st = snapshot(&root, &sources, channels, cfg, started, now);
                web::answer_status(h, &reactor, conn, method, &path, &st, &mut json);
            }
        }
    }
}

fn log_event(e: &RootEvent, channels: &[ChannelConfig]) {
    let name = |i: usize| channels.get(i).map_or("?", |c| c.name.as_str());
    match *e {
        RootEvent::Joined { addr, channel } => log::info!("box {addr} joined {}", name(channel)),
        RootEvent::Left {
            addr,
            channel,
            reason,
        } => log::info!("box {addr} left {} ({reason:?})", name(channel)),
        RootEvent::Refused { addr, reason } => log::warn!("refused box {addr}: {reason:?}"),
        RootEvent::SourceResync { channel } => log::warn!(
            "channel {}: source lost TS sync; resynchronised",
            name(channel)
        ),
        RootEvent::BadDatagram { from, error, total } => {
            log::warn!("bad datagram from {from}: {error:?} ({total} so far)")
        }
    }
}

fn snapshot(
    root: &Root,
    sources: &[Source],
    channels: &[ChannelConfig],
    cfg: &Config,
    started: Instant,
    now: Instant,
) -> Status {
    let mut pool = PoolStatus {
        slot_bytes: CHUNK_MAX as u64,
        ..PoolStatus::default()
    };
    let mut chans = Vec::with_capacity(channels.len());
    for (i, c) in channels.iter().enumerate() {
        let (Some(s), Some(p)) = (root.channel_stats(i), root.pool(i)) else {
            continue;
        };
        pool.slots += p.slots() as u64;
        pool.used += p.used() as u64;
        chans.push(ChannelStatus {
            name: c.name.clone(),
            state: sources.get(i).map_or("idle", |s| source_state(s.state())),
            bitrate_kbps: s.bitrate_kbps,
            chunks_in: s.chunks_in,
            chunks_out: s.chunks_out,
            bytes_in: s.bytes_in,
            bytes_out: s.bytes_out,
            peers: s.peers,
            skips: 0,
            continuity_ppm: 1_000_000,
            join_ms: 0,
            join_us: 0,
            lost: 0,
            late: 0,
            joins: 0,
            parent_switches: 0,
            requests: s.resent,
            resyncs: s.resyncs,
            partners: s.seeds,
            bytes_from_root: 0,
            bytes_from_peers: 0,
            bytes_uploaded: s.bytes_out,
            lag_ms: 0,
            viewers: s.peers,
            root_egress_kbps: u64::from(s.egress_kbps),
            integrity: crate::drm_box::root_integrity_status(root, i),
            drm: crate::drm_box::root_drm_status(root, i),
            bytes_relayed: root.bytes_relayed(i),
        });
    }
    Status {
        version: env!("CARGO_PKG_VERSION"),
        role: "root",
        uptime_s: now.saturating_since(started).as_secs(),
        rss_kb: status::rss_kb(),
        pool,
        channels: chans,
        bad_datagrams: root.stats().bad_datagrams,
        upload_kbps: cfg.upload_kbps,
        board: cfg.board.clone().unwrap_or_default(),
        nat: None,
        zap: None,
    }
}

fn source_state(s: SourceState) -> &'static str {
    match s {
        SourceState::Connecting => "connecting",
        SourceState::Live => "live",
        SourceState::Retrying => "retrying",
        SourceState::Ended => "ended",
    }
}
