//! The box's run loop: UDP → core → decoder sink and HTTP viewers, plus the status page.
//!
//! One thread, one epoll. The sink and each `/stream/NAME.ts` viewer is an output cursor in the
//! core; the loop writes what each can take without blocking and reports it back. A sink that
//! stops taking bytes only makes its own cursor skip ahead (counted); the loop never waits on it.
//! The UDP data socket is shared with the box's NAT classification ([`crate::nat_box`]): STUN
//! datagrams go to it, DIRECTORY pages to [`crate::zapping`], everything else to the core `Peer`.
//!
//! Zapping ([`crate::zapping`]): on a zap the old `Peer` sends LEAVE and goes; a new one joins the
//! target channel on the same socket (the root replaces the box's session; datagrams of the old
//! channel are ignored by the new `Peer`, which checks the channel id). The sink keeps its
//! 188-byte alignment across the switch ([`crate::zapping::align`]) and the new channel's output
//! starts at a random-access chunk, which begins with PAT and PMT. HTTP viewers of the old
//! channel are disconnected.

use crate::clock;
use crate::config::Config;
use crate::http::ConnId;
use crate::io::box_sink::BoxSink;
use crate::io::uri::SinkUri;
use crate::nat_box::NatBox;
use crate::net::{self, Udp};
use crate::reactor::{Reactor, Token};
use crate::status::{self, ChannelStatus, NatStatus, PoolStatus, Status};
use crate::web;
use crate::zapping::align::Aligned;
use crate::zapping::prejoin::Prejoin;
use crate::zapping::Zapping;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tvmesh_core::chunk::CHUNK_MAX;
use tvmesh_core::nat::server::{kind, Kind};
use tvmesh_core::output::OutputId;
use tvmesh_core::peer::{Peer, PeerConfig, PeerEvent, PeerState};
use tvmesh_core::time::{earliest, Instant};
use tvmesh_core::wire::MAX_DATAGRAM;

const TOKEN_UDP: Token = 0;
const TOKEN_SINK: Token = 1;
const TOKEN_HTTP: Token = 10_000;
const MAX_SLEEP: Duration = Duration::from_millis(250);
/// Writes per output per pass, so one fast viewer cannot hog the loop.
const WRITES_PER_PASS: usize = 64;

/// Box settings the loop needs.
pub struct PeerRun<'a> {
    pub root: SocketAddr,
    /// Every root, for the channel directory (index = directory root index).
    pub roots: &'a [SocketAddr],
    pub channel: &'a str,
    pub sink: Option<&'a SinkUri>,
    pub listen: SocketAddr,
    pub http_viewers: usize,
    pub sink_queue_ms: u64,
    pub max_partners: usize,
}

/// Runs a box until SIGINT/SIGTERM.
pub fn run(cfg: &Config, p: &PeerRun<'_>, seed: u64) -> io::Result<()> {
    let started = clock::now();
    // Chunks per second at a generous 8 Mbit/s bound the sink queue from its time budget.
    let queue_chunks = (p.sink_queue_ms * 8_000 / 8 / CHUNK_MAX as u64).max(16);
    let pc = PeerConfig {
        pool_bytes: cfg.pool_kib * 1024,
        outputs: 1 + p.http_viewers,
        output_queue_chunks: queue_chunks,
        max_partners: p.max_partners,
        upload_kbps: cfg.upload_kbps,
        seed,
        channel_key: cfg.integrity.channel_key,
        device: crate::drm_box::identity(&cfg.integrity),
        ..PeerConfig::default()
    };
    let mut peer = Peer::new(pc.clone(), p.root, p.channel, started)
        .map_err(|e| io::Error::other(format!("{e:?}")))?;
    // Output 0 is reserved for the decoder sink (with no sink configured it drains to nowhere).
    let mut sink_out = peer.output_open();
    let mut channel = p.channel.to_string();
    let mut align = Aligned::default();
    let mut sink_started = false;
    let mut reactor = Reactor::new(64)?;
    let mut udp = Udp::bind(p.listen)?;
    reactor.add(&udp.sock, TOKEN_UDP, true, false)?;
    let bound = udp.sock.local_addr()?;
    let mut nat = NatBox::new(p.root, cfg.nat.stun_server.as_deref(), bound, seed, started);
    // Hole punching: the host address goes to the root; punch openers need a per-datagram TTL.
    let private = crate::nat_box::local_toward(bound, p.root);
    let mut ttl = crate::nat_box::TtlSwitch::new(&udp.sock)?;
    // Birthday punches (hard side): extra sockets, and the peers routed through them.
    let mut spray = crate::nat_box::spray::Spray::new(cfg.nat.spray_ports);
    let mut sink = BoxSink::open(
        cfg.viewer.dvb.as_ref(),
        cfg.viewer.amstream,
        p.sink,
        started,
    );
    if let Some(s) = sink.as_mut() {
        s.register(&reactor, TOKEN_SINK);
    }
    let mut http = match cfg.http {
        Some(a) => Some(web::bind(a, &reactor, TOKEN_HTTP, p.http_viewers)?),
        None => None,
    };
    let mut stream_path = format!("/stream/{}.ts", p.channel);
    let mut zap = Zapping::new(&cfg.viewer, p.roots, p.channel, &reactor, seed, started)?;
    let v = &cfg.viewer;
    let mut pre = Prejoin::new(v.prejoin, v.prejoin_kib, &pc, p.listen, seed);
    let mut viewers: Vec<(ConnId, OutputId)> = Vec::with_capacity(p.http_viewers);
    log::info!(
        "box joining {} at {} from udp {}{}",
        p.channel,
        p.root,
        udp.sock.local_addr()?,
        http.as_ref()
            .map(|h| format!(
                ", status on http://{}/ and stream on http://{}{}",
                h.local_addr(),
                h.local_addr(),
                stream_path
            ))
            .unwrap_or_default()
    );

    let mut buf = vec![0u8; 64 * 1024];
    let mut tx = vec![0u8; MAX_DATAGRAM];
    let mut json = vec![0u8; 64 * 1024];
    let mut ready = Vec::with_capacity(64);
    let mut sink_wants_write = false;
    let mut now = started;
    let mut stopping = false;
    loop {
        if net::stop_requested() && !stopping {
            log::info!("stopping: leaving the channel");
            peer.leave();
            stopping = true;
        }
        let mut deadline = earliest(peer.poll_timeout(), Some(now + MAX_SLEEP));
        deadline = earliest(deadline, nat.poll_timeout());
        deadline = earliest(deadline, spray.poll_timeout());
        deadline = earliest(deadline, zap.poll_timeout());
        deadline = earliest(deadline, pre.poll_timeout());
        if let Some(s) = &sink {
            deadline = earliest(deadline, s.next_wakeup());
        }
        if let Some(h) = &http {
            deadline = earliest(deadline, h.poll_timeout());
        }
        if stopping {
            deadline = Some(now);
        }
        ready.clear();
        ready.extend_from_slice(reactor.wait(now, deadline)?);
        now = clock::now();
        peer.handle_unix_time(clock::unix_micros() / 1_000_000);
        for r in &ready {
            match r.token {
                TOKEN_UDP => {
                    if r.readable {
                        udp.recv_batch(&mut buf, |from, d| {
                            if kind(d) == Kind::Stun {
                                nat.handle_stun(now, from, d);
                            } else if !zap.handle_datagram(now, from, d) {
                                peer.handle_datagram(now, from, d);
                            }
                        });
                    }
                }
                TOKEN_SINK => {}
                t if spray.owns(t) => spray.on_readable(now, t, &mut buf, |from, d| {
                    if kind(d) != Kind::Stun {
                        peer.handle_datagram(now, from, d);
                    }
                }),
                t if zap.owns(t) => zap.on_ready(now, &reactor, t),
                t if pre.owns(t) => pre.on_readable(now, t, &mut buf),
                t => {
                    if let Some(h) = http.as_mut().filter(|h| h.owns(t)) {
                        h.handle_ready(now, &reactor, *r);
                    }
                }
            }
        }
        peer.handle_timeout(now);
        nat.handle_timeout(now);
        peer.set_nat(nat.code(), private);
        peer.set_spray_ports(cfg.nat.spray_ports);
        while let Some(r) = peer.poll_spray() {
            spray.open(now, &reactor, &r);
        }
        spray.handle_timeout(now, &reactor);
        zap.handle_timeout(now, &reactor);
        pre.handle_timeout(now);
        if zap.take_replan() {
            pre.plan(now, &reactor, &mut tx, &zap.neighbours(), None)?;
        }
        while let Some(t) = zap.poll_zap(now) {
            // Finish the packet the sink is in from the old channel, then switch.
            if let Some(out) = sink_out {
                let owed = align.owed();
                align.stash(
                    peer.output_peek(out)
                        .map_or(&[][..], |b| &b[..owed.min(b.len())]),
                );
            }
            zap.set_sink_start(align.written() + align.owed() as u64);
            if let Some(h) = http.as_mut() {
                for (conn, o) in viewers.drain(..) {
                    h.close(&reactor, conn);
                    peer.output_close(o);
                }
            }
            if let Some(o) = sink_out {
                peer.output_close(o);
            }
            let spare = match pre.take(t.number) {
                // Pre-joined: its socket and Peer become the active ones; the old pair goes
                // to the pre-join pool (kept as a neighbour or made to leave).
                Some(mut thin) => {
                    zap.mark_prejoined();
                    std::mem::swap(&mut udp, &mut thin.udp);
                    udp.retoken(&reactor, TOKEN_UDP)?;
                    ttl = crate::nat_box::TtlSwitch::new(&udp.sock)?;
                    std::mem::swap(&mut peer, &mut thin.peer);
                    peer.set_serving(
                        now,
                        pc.max_partners,
                        pc.max_child_substreams,
                        pc.upload_kbps,
                    );
                    thin.number = zap.previous().unwrap_or(0);
                    Some(thin)
                }
                None => {
                    peer.leave();
                    udp.drain(&reactor, TOKEN_UDP, &mut tx, |buf| {
                        peer.poll_transmit(now, buf)
                    })?;
                    let pc = PeerConfig {
                        seed: seed ^ u64::from(t.number) << 32 ^ now.as_micros(),
                        ..pc.clone()
                    };
                    peer = Peer::new(pc, t.root, &t.name, now)
                        .map_err(|e| io::Error::other(format!("{e:?}")))?;
                    None
                }
            };
            pre.plan(now, &reactor, &mut tx, &zap.neighbours(), spare)?;
            sink_out = peer.output_open();
            stream_path = format!("/stream/{}.ts", t.name);
            channel = t.name;
            if sink.as_mut().is_some_and(BoxSink::flush) {
                align.restart();
            }
            sink_started = false;
        }
        udp.drain(&reactor, TOKEN_UDP, &mut tx, |buf| {
            if let Some(t) = nat
                .poll_transmit(now, buf)
                .or_else(|| zap.poll_transmit(now, buf))
            {
                return ttl.set(None).then_some(t);
            }
            // Peers reached through a spray socket are sent to through it.
            let t = loop {
                let t = peer.poll_transmit(now, buf)?;
                if !spray.send(now, t.dst, &buf[..t.len]) {
                    break t;
                }
            };
            ttl.set(peer.transmit_ttl()).then_some(t)
        })?;
        ttl.set(None);
        pre.drain(now, &reactor, &mut tx)?;
        if stopping {
            zap.shutdown();
            return Ok(());
        }
        while let Some(e) = peer.poll_event() {
            log_event(&e);
        }
        // The decoder sink.
        if let Some(out) = sink_out {
            match sink.as_mut() {
                Some(s) => {
                    s.service(now, &reactor);
                    // The end of the old channel's last packet first (see zapping::align).
                    let mut full = !align.drain(|b| s.write(now, &reactor, b));
                    for _ in 0..if full { 0 } else { WRITES_PER_PASS } {
                        let Some(b) = peer.output_peek(out) else {
                            break;
                        };
                        let n = s.write(now, &reactor, b);
                        if n == 0 {
                            full = true;
                            break;
                        }
                        if !sink_started {
                            sink_started = true;
                            zap.first_bytes(clock::now(), b);
                        }
                        align.wrote(n);
                        peer.output_advance(out, n);
                    }
                    let full = full && s.is_open();
                    if full != sink_wants_write {
                        s.want_write(&reactor, full);
                        sink_wants_write = full;
                    }
                }
                None => {
                    while let Some(b) = peer.output_peek(out) {
                        if !sink_started {
                            sink_started = true;
                            zap.first_bytes(clock::now(), b);
                        }
                        let n = b.len();
                        peer.output_advance(out, n);
                    }
                }
            }
        }
        // HTTP: status requests, new viewers, viewer streams.
        if let Some(h) = http.as_mut() {
            h.handle_timeout(now, &reactor);
            while let Some(c) = h.poll_closed() {
                if let Some(i) = viewers.iter().position(|v| v.0 == c) {
                    peer.output_close(viewers.swap_remove(i).1);
                }
            }
            while let Some((conn, method, path, q)) = h.poll_request() {
                let path = path.to_string();
                if path == "/control" {
                    let q = q.to_string();
                    let (code, text) = match zap.http_control(now, &q) {
                        Ok(r) => (200, r),
                        Err(e) => (400, e),
                    };
                    let body = format!("{text}\n");
                    h.respond(&reactor, conn, code, "text/plain", body.as_bytes());
                    continue;
                }
                if path == stream_path {
                    match peer.output_open() {
                        Some(o) => {
                            h.start_stream(&reactor, conn, "video/mp2t");
                            viewers.push((conn, o));
                        }
                        None => h.respond(&reactor, conn, 503, "text/plain", b"too many viewers\n"),
                    }
                    continue;
                }
                let mut st = snapshot(&peer, sink_out, sink.as_ref(), &channel, cfg, started, now);
                st.nat = Some(nat_status(&nat));
                if let Some(n) = st.nat.as_mut() {
                    n.paths = crate::nat_box::paths(&peer);
                    n.partners = peer
                        .partner_info()
                        .filter(|p| p.up)
                        .map(|p| p.addr.to_string())
                        .collect();
                }
                st.zap = Some(zap.status());
                if let Some(z) = st.zap.as_mut() {
                    z.prejoin = pre.stats();
                }
                if !web::answer_status(h, &reactor, conn, method, &path, &st, &mut json) {
                    h.respond(&reactor, conn, 404, "text/plain", b"not found\n");
                }
            }
            for &(conn, out) in &viewers {
                for _ in 0..WRITES_PER_PASS {
                    let Some(b) = peer.output_peek(out) else {
                        break;
                    };
                    let n = h.stream_write(&reactor, conn, b);
                    if n == 0 {
                        break;
                    }
                    peer.output_advance(out, n);
                }
            }
        }
    }
}

fn log_event(e: &PeerEvent) {
    match *e {
        PeerEvent::Joined {
            rap_seq,
            bitrate_kbps,
            ..
        } => log::info!("joined: starting at chunk {rap_seq}, {bitrate_kbps} kbit/s"),
        PeerEvent::Refused { reason } => log::warn!("root refused: {reason:?}"),
        PeerEvent::Stalled => log::warn!("no data from the root: joining again"),
        PeerEvent::NewEpoch => log::warn!("the stream restarted: waiting for its next key frame"),
        PeerEvent::Partner { addr, up } => {
            log::info!("partner {addr} {}", if up { "up" } else { "gone" })
        }
        PeerEvent::BadDatagram { from, error, total } => {
            log::warn!("bad datagram from {from}: {error:?} ({total} so far)")
        }
    }
}

fn nat_status(nat: &NatBox) -> NatStatus {
    let v = nat.view();
    NatStatus {
        kind: v.kind,
        mapping: v.mapping,
        filtering: v.filtering,
        public_addr: v.public_addr.map(|a| a.to_string()),
        runs: v.runs,
        paths: Vec::new(),
        partners: Vec::new(),
    }
}

fn snapshot(
    peer: &Peer,
    sink_out: Option<OutputId>,
    sink: Option<&BoxSink>,
    channel: &str,
    cfg: &Config,
    started: Instant,
    now: Instant,
) -> Status {
    let st = peer.stats();
    let out = sink_out.map(|o| peer.output_stats(o)).unwrap_or_default();
    let state = match peer.state() {
        PeerState::Joining => "joining",
        PeerState::Playing => match sink {
            Some(s) if !s.is_open() => "sink-closed",
            _ => "playing",
        },
        PeerState::Refused(_) => "refused",
    };
    let pool = peer.pool();
    Status {
        version: env!("CARGO_PKG_VERSION"),
        role: "peer",
        uptime_s: now.saturating_since(started).as_secs(),
        rss_kb: status::rss_kb(),
        pool: PoolStatus {
            slots: pool.slots() as u64,
            slot_bytes: CHUNK_MAX as u64,
            used: pool.used() as u64,
        },
        channels: vec![ChannelStatus {
            name: channel.to_string(),
            state,
            bitrate_kbps: st.bitrate_kbps,
            chunks_in: st.chunks_in,
            chunks_out: out.chunks,
            bytes_in: st.bytes_in,
            bytes_out: out.bytes,
            peers: u32::from(matches!(peer.state(), PeerState::Playing)),
            skips: out.skips,
            continuity_ppm: sink_out.map_or(0, |o| peer.continuity_ppm(o)),
            join_ms: peer.join_time().map_or(0, |d| d.as_millis() as u64),
            join_us: peer
                .join_time()
                .map_or(0, |d| (d.as_micros() as u64).max(1)),
            lost: st.lost,
            late: st.late,
            joins: st.joins,
            parent_switches: st.parent_switches,
            requests: st.requested_chunks,
            resyncs: 0,
            partners: peer.partners() as u32,
            bytes_from_root: st.bytes_from_root,
            bytes_from_peers: st.bytes_from_peers,
            bytes_uploaded: st.bytes_uploaded,
            lag_ms: peer.lag_ms().unwrap_or(0),
            viewers: 0,
            root_egress_kbps: 0,
            integrity: Some(crate::drm_box::integrity_status(peer)),
            drm: Some(crate::drm_box::drm_status(peer)),
            bytes_relayed: peer.bytes_relayed(),
        }],
        bad_datagrams: st.bad_datagrams,
        upload_kbps: cfg.upload_kbps,
        board: cfg.board.clone().unwrap_or_default(),
        nat: None,
        zap: None,
    }
}
