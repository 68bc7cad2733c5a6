//! Diagnostic modes that run the core's NAT machines on a real socket and print JSON:
//!
//! - `tvmeshd stun-probe --server HOST:PORT [--alt HOST:PORT] [--bind ADDR:PORT] [--rto-ms N]
//!   [--tries N] [--no-pad]`: RFC 5780 NAT classification ([`tvmesh_core::nat::classify`]).
//! - `tvmeshd punch-probe --server HOST:PORT --session N [--bind ADDR:PORT] [--deadline-ms N]
//!   [--continuity N] [--nat TYPE] [--spray-ports N]`: learns its public address from the STUN
//!   server, prints `cand PUBLIC PRIVATE`, reads `peer PUBLIC PRIVATE|- [TYPE]` from stdin (the
//!   introduction), runs a [`tvmesh_core::nat::Punch`] and, once connected, sends `continuity`
//!   probes 50 ms apart over the chosen path, counting the answers. With both NAT types given
//!   (`open`, `full-cone`, `cone`, `symmetric`) a cone ↔ symmetric pair runs the birthday punch
//!   ([`tvmesh_core::nat::birthday`]; the hard side sprays through
//!   [`crate::nat_box::spray::Spray`], at most `spray-ports` sockets, default 256). Used by the
//!   NAT lab (`tests/nat_lab.rs`).
//!
//! Invariants: every wait is bounded (the classifier's own retransmit bound; punch-probe stops at
//! deadline + continuity time + 1 s); bad flags exit with status 2 naming the flag and value.

use crate::nat_box::spray::Spray;
use crate::reactor::Reactor;
use std::collections::HashMap;
use std::io::{self, BufRead, Write};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::process::ExitCode;
use std::time::Duration;
use tvmesh_core::nat::birthday::{self, BirthdayConfig, Role};
use tvmesh_core::nat::punch::{CandKind, Probe};
use tvmesh_core::nat::report::NatCode;
use tvmesh_core::nat::{Classifier, ClassifyConfig, Introduce, Punch, PunchConfig, PunchEvent};
use tvmesh_core::stun::{Builder, Class, Stun};
use tvmesh_core::time::Instant;

/// Runs a probe mode if `args` names one.
pub fn dispatch(args: &[String]) -> Option<ExitCode> {
    let r = match args.first().map(String::as_str) {
        Some("stun-probe") => stun_probe(&args[1..]),
        Some("punch-probe") => punch_probe(&args[1..]),
        _ => return None,
    };
    Some(match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(ProbeError::Usage(m)) => {
            eprintln!("tvmeshd: configuration error: {m}");
            ExitCode::from(2)
        }
        Err(ProbeError::Io(e)) => {
            eprintln!("tvmeshd: {e}");
            ExitCode::from(1)
        }
    })
}

enum ProbeError {
    Usage(String),
    Io(io::Error),
}

impl From<io::Error> for ProbeError {
    fn from(e: io::Error) -> Self {
        ProbeError::Io(e)
    }
}

struct Flags(HashMap<String, String>);

impl Flags {
    fn parse(args: &[String], known: &[&str]) -> Result<Flags, ProbeError> {
        let mut m = HashMap::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let k = a
                .strip_prefix("--")
                .filter(|k| known.contains(k))
                .ok_or_else(|| ProbeError::Usage(format!("unexpected argument `{a}`")))?;
            let v = if k == "no-pad" {
                String::new()
            } else {
                it.next()
                    .cloned()
                    .ok_or_else(|| ProbeError::Usage(format!("field `{k}`: missing value")))?
            };
            m.insert(k.to_string(), v);
        }
        Ok(Flags(m))
    }

    fn addr(&self, k: &str) -> Result<Option<SocketAddr>, ProbeError> {
        let Some(v) = self.0.get(k) else {
            return Ok(None);
        };
        let bad = || ProbeError::Usage(format!("field `{k}`: value `{v}`: expected HOST:PORT"));
        let all: Vec<SocketAddr> = v.to_socket_addrs().map_err(|_| bad())?.collect();
        // The first IPv4 address, else the first (as a stable sort by `is_ipv6` would give).
        let first = all.iter().find(|a| a.is_ipv4()).or(all.first());
        first.copied().map(Some).ok_or_else(bad)
    }

    fn num(&self, k: &str, default: u64, lo: u64, hi: u64) -> Result<u64, ProbeError> {
        let Some(v) = self.0.get(k) else {
            return Ok(default);
        };
        v.parse()
            .ok()
            .filter(|n| (lo..=hi).contains(n))
            .ok_or_else(|| {
                ProbeError::Usage(format!(
                    "field `{k}`: value `{v}`: expected a whole number from {lo} to {hi}"
                ))
            })
    }
}

/// A clock for the core: microseconds since the probe started.
struct Clock(std::time::Instant);

impl Clock {
    fn now(&self) -> Instant {
        Instant::from_micros(u64::try_from(self.0.elapsed().as_micros()).unwrap_or(u64::MAX))
    }
}

/// Binds `bind` and works out the local address the kernel uses toward `server`.
fn socket(bind: SocketAddr, server: SocketAddr) -> io::Result<(UdpSocket, SocketAddr)> {
    let sock = UdpSocket::bind(bind)?;
    let bound = sock.local_addr()?;
    let local = crate::nat_box::local_toward(bound, server)
        .ok_or_else(|| io::Error::other(format!("no route to {server}")))?;
    Ok((sock, local))
}

/// A NAT type name as `punch-probe` takes it.
fn nat_code(name: &str) -> Option<NatCode> {
    Some(match name {
        "unknown" => NatCode::Unknown,
        "open" => NatCode::Open,
        "full-cone" => NatCode::FullCone,
        "cone" | "port-restricted-cone" | "restricted-cone" => NatCode::Cone,
        "symmetric" => NatCode::Symmetric,
        _ => return None,
    })
}

fn unspecified(server: SocketAddr) -> SocketAddr {
    let ip: IpAddr = if server.is_ipv4() {
        [0u8; 4].into()
    } else {
        [0u16; 8].into()
    };
    SocketAddr::new(ip, 0)
}

fn required(f: &Flags, k: &str) -> Result<SocketAddr, ProbeError> {
    f.addr(k)?
        .ok_or_else(|| ProbeError::Usage(format!("field `{k}`: required")))
}

fn json_addr(a: Option<SocketAddr>) -> String {
    a.map_or("null".into(), |a| format!("\"{a}\""))
}

fn stun_probe(args: &[String]) -> Result<(), ProbeError> {
    let f = Flags::parse(
        args,
        &["server", "alt", "bind", "rto-ms", "tries", "no-pad"],
    )?;
    let server = required(&f, "server")?;
    let bind = f.addr("bind")?.unwrap_or_else(|| unspecified(server));
    let (sock, local) = socket(bind, server)?;
    let clock = Clock(std::time::Instant::now());
    let mut c = Classifier::new(ClassifyConfig {
        server,
        alt: f.addr("alt")?,
        local: Some(local),
        rto: Duration::from_millis(f.num("rto-ms", 200, 10, 5000)?),
        max_tries: f.num("tries", 3, 1, 7)? as u8,
        pad: !f.0.contains_key("no-pad"),
        seed: u64::from(std::process::id()) ^ tvmesh_seed(),
    });
    let (mut tx, mut rx) = ([0u8; 256], [0u8; 1500]);
    // Bounded: the classifier ends within 5 · rto · (2^tries − 1); this cap only guards a bug.
    let cap = std::time::Instant::now() + Duration::from_secs(120);
    let report = loop {
        let now = clock.now();
        while let Some(t) = c.poll_transmit(now, &mut tx) {
            let _ = sock.send_to(&tx[..t.len], t.dst);
        }
        if let Some(r) = c.report() {
            break r;
        }
        if std::time::Instant::now() > cap {
            return Err(io::Error::other("classifier did not finish").into());
        }
        let wait = c
            .poll_timeout()
            .map_or(Duration::from_millis(10), |d| d.saturating_since(now));
        sock.set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
        if let Ok((n, from)) = sock.recv_from(&mut rx) {
            c.handle_response(clock.now(), from, &rx[..n]);
        }
        c.handle_timeout(clock.now());
    };
    println!(
        "{{\"nat\":{{\"type\":\"{}\",\"mapping\":\"{}\",\"filtering\":\"{}\",\"public_addr\":{},\"other\":{},\"alt_ip_tested\":{}}},\"local\":\"{local}\",\"took_ms\":{}}}",
        report.type_name(),
        report.mapping.name(),
        report.filtering.name(),
        json_addr(report.public_addr),
        json_addr(report.other),
        report.alt_ip_tested,
        clock.now().as_millis()
    );
    Ok(())
}

fn tvmesh_seed() -> u64 {
    let mut b = [0u8; 8];
    let _ = rustix::rand::getrandom(&mut b, rustix::rand::GetRandomFlags::empty());
    u64::from_le_bytes(b)
}

/// One Binding request/answer (padded, 5 tries 200 ms apart): our public address.
fn binding(sock: &UdpSocket, server: SocketAddr) -> io::Result<SocketAddr> {
    let txid: [u8; 12] = core::array::from_fn(|i| (tvmesh_seed() >> (i % 8)) as u8);
    let mut tx = [0u8; 128];
    let n = Builder::binding(Class::Request, txid, &mut tx)
        .and_then(|mut b| b.padding(72)?.finish_with_fingerprint())
        .map_err(|e| io::Error::other(format!("{e:?}")))?;
    let mut rx = [0u8; 1500];
    sock.set_read_timeout(Some(Duration::from_millis(200)))?;
    for _ in 0..5 {
        sock.send_to(&tx[..n], server)?;
        while let Ok((m, _)) = sock.recv_from(&mut rx) {
            if let Ok(s) = Stun::parse(&rx[..m]) {
                if let (true, Some(a)) = (s.txid == txid, s.mapped()) {
                    return Ok(a);
                }
            }
        }
    }
    Err(io::Error::other(format!("no STUN answer from {server}")))
}

fn punch_probe(args: &[String]) -> Result<(), ProbeError> {
    let f = Flags::parse(
        args,
        &[
            "server",
            "session",
            "bind",
            "deadline-ms",
            "continuity",
            "nat",
            "spray-ports",
        ],
    )?;
    let own_nat = nat_code(f.0.get("nat").map_or("unknown", String::as_str)).ok_or_else(|| {
        ProbeError::Usage(
            "field `nat`: expected open, full-cone, cone, symmetric or unknown".into(),
        )
    })?;
    let ports = f.num("spray-ports", 256, 0, 1024)? as u16;
    let server = required(&f, "server")?;
    let session = f.num("session", 0, 1, u64::from(u32::MAX))? as u32;
    let deadline = Duration::from_millis(f.num("deadline-ms", 3000, 100, 30_000)?);
    let continuity = f.num("continuity", 20, 0, 1000)? as u16;
    let bind = f.addr("bind")?.unwrap_or_else(|| unspecified(server));
    let (sock, local) = socket(bind, server)?;
    let public = binding(&sock, server)?;
    println!("cand {public} {local}");
    io::stdout().flush()?;
    let mut line = String::new();
    io::stdin().lock().read_line(&mut line)?;
    let bad = || {
        ProbeError::Usage(format!(
            "introduction `{}`: expected `peer PUBLIC PRIVATE|- [NAT]`",
            line.trim()
        ))
    };
    let mut w = line.split_whitespace();
    let (Some("peer"), Some(p), Some(q)) = (w.next(), w.next(), w.next()) else {
        return Err(bad());
    };
    let intro = Introduce {
        session,
        peer_id: 0,
        public: p.parse().map_err(|_| bad())?,
        private: if q == "-" {
            None
        } else {
            Some(q.parse().map_err(|_| bad())?)
        },
        nat: nat_code(w.next().unwrap_or("unknown")).ok_or_else(bad)?,
    };
    let clock = Clock(std::time::Instant::now());
    let cfg = PunchConfig {
        deadline,
        ..PunchConfig::default()
    };
    let mut punch = Punch::new(clock.now(), &intro, cfg);
    let bcfg = BirthdayConfig {
        ports,
        ..BirthdayConfig::default()
    };
    let role = birthday::role(own_nat, intro.nat);
    punch.birthday(role, &bcfg, tvmesh_seed() ^ u64::from(session));
    let deadline = if punch.role() == Role::Plain {
        deadline
    } else {
        deadline.max(bcfg.deadline)
    };
    let mut spray = Spray::new(ports);
    let mut ready = Vec::with_capacity(64);
    let mut reactor = Reactor::new(64)?;
    sock.set_nonblocking(true)?;
    reactor.add(&sock, 0, true, false)?;
    let default_ttl = sock.ttl()?;
    let end = Instant::ZERO
        + deadline
        + Duration::from_millis(50) * u32::from(continuity)
        + Duration::from_secs(1);
    let (mut tx, mut rx) = ([0u8; 64], [0u8; 1500]);
    let mut outcome: Option<PunchEvent> = None;
    let (mut sent, mut acked, mut next_c) = (0u16, 0u16, None::<Instant>);
    loop {
        let now = clock.now();
        if now >= end {
            break;
        }
        while let Some(r) = punch.poll_spray() {
            spray.open(now, &reactor, &r);
        }
        while let Some(t) = punch.poll_transmit(now, &mut tx) {
            if !spray.send(now, t.dst, &tx[..t.len]) {
                let _ = sock.set_ttl(punch.ttl().map_or(default_ttl, u32::from));
                let _ = sock.send_to(&tx[..t.len], t.dst);
            }
        }
        while let Some(e) = punch.poll_event() {
            if outcome.is_none() {
                outcome = Some(e);
                if matches!(e, PunchEvent::Connected { .. }) {
                    next_c = Some(now);
                }
            }
        }
        if let (Some(t), Some(path)) = (next_c, punch.path()) {
            if t <= now && sent < continuity {
                let p = Probe {
                    ack: false,
                    session,
                    seq: 0x8000 + sent,
                    cand: 0xFF,
                };
                if let Ok(n) = p.encode(&mut tx) {
                    if !spray.send(now, path, &tx[..n]) {
                        let _ = sock.send_to(&tx[..n], path);
                    }
                }
                sent += 1;
                next_c = Some(now + Duration::from_millis(50));
            }
        }
        let mut wake = punch.poll_timeout().unwrap_or(end).min(end);
        if let Some(t) = next_c.filter(|_| sent < continuity) {
            wake = wake.min(t);
        }
        if let Some(t) = spray.poll_timeout() {
            wake = wake.min(t);
        }
        ready.clear();
        ready.extend_from_slice(reactor.wait(now, Some(wake))?);
        let mut take = |from: SocketAddr, d: &[u8]| {
            if let Ok(p) = Probe::parse(d) {
                if p.ack && p.session == session && p.seq >= 0x8000 {
                    acked += 1;
                }
            }
            punch.handle_datagram(clock.now(), from, d);
        };
        for r in &ready {
            if r.token == 0 {
                // Bounded: one socket buffer's worth at most per wake-up.
                for _ in 0..64 {
                    let Ok((n, from)) = sock.recv_from(&mut rx) else {
                        break;
                    };
                    take(from, &rx[..n]);
                }
            } else if spray.owns(r.token) {
                spray.on_readable(clock.now(), r.token, &mut rx, &mut take);
            }
        }
        spray.handle_timeout(clock.now(), &reactor);
        punch.handle_timeout(clock.now());
    }
    let kind = |k: CandKind| match k {
        CandKind::Public => "public",
        CandKind::Private => "private",
        CandKind::Reflexive => "reflexive",
    };
    match outcome {
        Some(PunchEvent::Connected { addr, kind: k, after }) => println!(
            "{{\"result\":\"connected\",\"ms\":{},\"addr\":\"{addr}\",\"kind\":\"{}\",\"sent\":{sent},\"acked\":{acked}}}",
            after.as_millis(),
            kind(k)
        ),
        _ => println!("{{\"result\":\"failed\",\"ms\":{},\"sent\":0,\"acked\":0}}", deadline.as_millis()),
    }
    Ok(())
}
