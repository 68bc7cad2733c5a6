//! Configuration: command line, config file and board profile, one model.
//!
//! All three are lists of `key = value` settings; the command line spells them `--key value` (or
//! `--key=value`), the files `key = value` per line with `#` comments. Precedence: board profile,
//! then config file, then command line. Every setting is checked here, before anything starts; an
//! error names where it came from, the field and the value ([`ConfigError`]), and the daemon exits
//! with status 2 having written nothing.

use crate::io::uri::{SinkUri, SourceUri};
pub use integrity::IntegrityConfig;
use std::fmt;
use std::net::SocketAddr;
pub use viewer::ViewerConfig;

/// The whole `--help` text. Every flag is here.
pub const HELP: &str = "\
tvmeshd - peer-to-peer live TV daemon

USAGE:
  tvmeshd root --listen ADDR:PORT --http ADDR:PORT --channel name=NAME,source=URI[,bitrate=KBPS]...
  tvmeshd peer --root ADDR:PORT --channel NAME --sink URI --http ADDR:PORT
  tvmeshd --config FILE
  tvmeshd stun-probe --server ADDR:PORT [--alt ADDR:PORT] [--bind ADDR:PORT] [--rto-ms N]
                       classify this host's NAT (RFC 5780) and print the report as JSON
  tvmeshd package --channel NAME --keys FILE [--rotate-s N] [--in PATH|-] [--out PATH|-]
                       [--first-seq N]   scramble a TS ahead of time for source=packaged:
  tvmeshd --help | --version

ROLES:
  root   ingests channels, answers boxes, serves chunks (the seed of last resort)
  peer   a box: joins a channel, plays it into its decoder sink, serves /stream/NAME.ts

FLAGS (each also a `key = value` line in a config file or board profile):
  --config FILE        read settings from FILE (key = value lines, # comments); flags given
                       on the command line override it
  --board FILE         board profile: pool_kib, sink, upload_kbps, ... defaults for this box
  --role root|peer     the role (the first word on the command line also sets it)
  --listen ADDR:PORT   UDP address for the tvmesh protocol (root: required; peer: default
                       0.0.0.0:0)
  --http ADDR:PORT     status page and streams: GET /, /status.json, /metrics,
                       /stream/NAME.ts (peer)
  --channel SPEC       root: name=NAME,source=URI[,bitrate=KBPS][,number=N][,desc=TEXT]
                       [,protect=yes|SEED][,rotate_s=N][,keys=PATH] (repeat for more channels;
                       numbers default to the order given; protect scrambles it, keys rotate
                       every N s; keys= is the key file of a source=packaged:PATH|- channel)
                       peer: NAME of the channel to join
  --entitlements PATH  root: DRM entitlements file (reloaded on SIGHUP)
  --device-id ID --device-secret HEX64   peer: DRM device identity (board profile)
                       source URIs: udp://ADDR:PORT (unicast or multicast TS),
                       http://HOST[:PORT]/PATH (TS over HTTP, reconnects with backoff),
                       file:PATH (looped, paced at its PCR rate), - (stdin),
                       packaged:PATH|- (made by `tvmeshd package`, played once at its pace)
  --root ADDR:PORT     peer: the root's UDP address (repeat: channel directories of several
                       roots are merged; the last --root serves the --channel)
  --sink URI           peer: where the decoder reads TS: file:PATH (file, FIFO or device),
                       exec:COMMAND (a player reading stdin), udp://ADDR:PORT
  --pool-kib N         memory budget for stream chunk pools, KiB (root: per channel;
                       default 4096, or the board profile's pool_kib)
  --max-boxes N        root: boxes served at once (default 256)
  --http-viewers N     peer: /stream/NAME.ts viewers at once (default 4)
  --sink-queue-ms N    peer: how far a sink may fall behind before it skips to the next key
                       frame (default 2000)
  --upload-kbps N      upload cap for this box, kbit/s (0 = none); within it a LEDBAT-style
                       controller backs off when queueing delay grows
  --max-partners N     peer: partners kept at most (default 6)
  --seed-copies N      root: boxes fed each substream directly (default 1); root egress is
                       about this many stream copies plus repairs
  --repair-kbps N      root: repair budget for other boxes, kbit/s (default half the stream)
  --relay-kbps N       root: relay budget for NATed boxes no partner can reach, kbit/s
                       (default 2048; 0 = no relay)
  --group PREFIXES     root: a network group, e.g. 198.51.100.0/24+203.0.113.0/25 (repeat per
                       group); boxes in one group (then behind one address) are introduced first
  --stun-alt-port N    root: second UDP port answering STUN, for RFC 5780 NAT classification
  --stun-alt-ip IP     root: alternate IP (with --stun-alt-port: four STUN sockets, RFC 5780)
  --stun-server H:P    peer: a standard STUN server (e.g. coturn) to learn the public address
  --spray-ports N      peer: extra UDP sockets (0-1024, default 256) a box behind a symmetric NAT
                       opens to punch to a cone NAT (birthday sweep); 0 = never
  --remote DEV         peer: IR remote: none, /dev/input/eventN or name:DEVICE_NAME; with
                       --remote-grab yes|no, --remote-layout native|64le|64be|32le|32be,
                       --keymap CODE=KEY,... (e.g. 402=up,403=down,KEY_EPG=info)
  --lircd PATH         peer: read keys from lircd's socket
  --control-socket PATH  peer: Unix socket taking zap N|NAME, up, down, prev, status
  --zap-entry-ms N     peer: digit entry timeout (default 2000)
  --dvb SPEC           peer: Linux DVB decoder adapter=N,demux=N,dvr=N (instead of --sink), with
                       --dvb-setup mainline|enigma2; --amstream yes: the Amlogic decoder
                       (/dev/amstream_mpts; builds with the cargo feature amstream)
  --led NAME           peer: status LED under /sys/class/leds
  --prejoin yes|no     peer: thin memberships in channel +1, -1 and previous for fast zaps
                       (default yes; boxes with 64 MiB: no), each with --prejoin-kib N of pool
                       (64-16384, default 1024)
  /control?cmd=...     peer HTTP: zap N|NAME, up, down, prev, status (as the control socket)
  --log-level LEVEL    error, warn, info (default) or debug
  --seed N             seed for tokens and nonces (default: from the kernel)
  --help               this text
  --version            version

EXIT STATUS: 0 on a clean stop (SIGINT/SIGTERM), 2 on bad configuration, 1 on other errors.
";

/// Why a box build (without the cargo feature `root`) refuses `role = root`.
pub const NO_ROOT_ROLE: &str = "this tvmeshd is a box build without the root role (cargo feature \
     `root`, on in the default/server build); run the root on a server build";

/// A configuration error: where, which field, what value, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where the setting came from: `command line`, `FILE line N`.
    pub origin: String,
    /// The field (key) name.
    pub field: String,
    /// The offending value.
    pub value: String,
    /// What was expected.
    pub why: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: field `{}`: value `{}`: {}",
            self.origin, self.field, self.value, self.why
        )
    }
}

/// One setting and where it came from.
#[derive(Debug, Clone)]
struct Setting {
    key: String,
    value: String,
    origin: String,
}

/// A root channel.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelConfig {
    pub name: String,
    pub source: SourceUri,
    pub bitrate_kbps: u32,
    /// DRM: scramble this channel (`protect=yes|SEED`, `rotate_s=N`; see `config/integrity.rs`).
    pub protect: Option<integrity::Protect>,
    /// The packager's key file of a `source=packaged:` channel (`keys=PATH`; `config/packaged.rs`).
    pub packaged_keys: Option<tvmesh_core::drm::keyfile::KeyFile>,
    /// Operator-assigned number in the channel directory (0 in a spec: by order).
    pub number: u16,
    /// Free text for the channel directory (no commas).
    pub description: String,
}

/// Root settings for the mesh.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RootMesh {
    /// Boxes fed directly per substream.
    pub seed_copies: usize,
    /// Repair budget for non-seed boxes, kbit/s (0: half the stream rate).
    pub repair_kbps: u32,
    /// Network groups (address prefixes); boxes in one group are introduced first.
    pub groups: Vec<Vec<tvmesh_core::root::tracker::Prefix>>,
    /// Relay budget for NATed boxes no partner can feed, kbit/s (0: none).
    pub relay_kbps: u32,
}

/// Role-specific settings.
#[derive(Debug, Clone, PartialEq)]
pub enum Role {
    Root {
        listen: SocketAddr,
        channels: Vec<ChannelConfig>,
        max_boxes: usize,
        mesh: RootMesh,
    },
    Peer {
        root: SocketAddr,
        /// Every distinct `--root` in order; directory entries name them by index.
        roots: Vec<SocketAddr>,
        channel: String,
        sink: Option<SinkUri>,
        listen: SocketAddr,
        http_viewers: usize,
        sink_queue_ms: u64,
        max_partners: usize,
    },
}

/// The daemon's configuration, fully checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub role: Role,
    pub http: Option<SocketAddr>,
    pub pool_kib: usize,
    pub upload_kbps: u32,
    pub log_level: log::LevelFilter,
    pub seed: Option<u64>,
    pub board: Option<String>,
    pub nat: NatConfig,
    /// Remote, control socket, zapping, decoder and LED settings (see `config/viewer.rs`).
    pub viewer: ViewerConfig,
    /// Chunk-integrity keys (see `config/integrity.rs`).
    pub integrity: IntegrityConfig,
}

/// NAT-traversal settings (see `tvmesh_core::nat`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NatConfig {
    /// Root: a second STUN port (RFC 5780 alternate port).
    pub stun_alt_port: Option<u16>,
    /// Root: an alternate IP for STUN (RFC 5780 alternate address).
    pub stun_alt_ip: Option<std::net::IpAddr>,
    /// Box: a standard STUN server, `HOST:PORT` (resolved when used).
    pub stun_server: Option<String>,
    /// Box: sockets opened for a birthday punch on the hard side (`spray_ports`, 0–1024,
    /// default [`DEFAULT_SPRAY_PORTS`]; each is one fd and one conntrack entry while it lasts).
    pub spray_ports: u16,
}

/// Default `spray_ports`: 256 ports against a 2048-probe sweep succeed 99.97 % of the time.
pub const DEFAULT_SPRAY_PORTS: u16 = 256;

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    Run(Box<Config>),
    Help,
    Version,
}

const KEYS: &[&str] = &[
    "config",
    "board",
    "role",
    "listen",
    "http",
    "channel",
    "root",
    "sink",
    "pool_kib",
    "max_boxes",
    "http_viewers",
    "sink_queue_ms",
    "upload_kbps",
    "log_level",
    "seed",
    "seed_copies",
    "repair_kbps",
    "relay_kbps",
    "group",
    "max_partners",
    "stun_alt_port",
    "stun_alt_ip",
    "stun_server",
    "spray_ports",
    // board-profile keys read by later features; accepted and checked for presence only
    "target",
    "config_dir",
    "log",
];

fn err(s: &Setting, why: impl Into<String>) -> ConfigError {
    ConfigError {
        origin: s.origin.clone(),
        field: s.key.clone(),
        value: s.value.clone(),
        why: why.into(),
    }
}

/// Parses `key = value` lines of a file's text; `name` is used in error origins.
fn parse_lines(name: &str, text: &str) -> Result<Vec<Setting>, ConfigError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split_once('#').map_or(raw, |(a, _)| a).trim();
        if line.is_empty() {
            continue;
        }
        let origin = format!("{name} line {}", i + 1);
        let Some((k, v)) = line.split_once('=') else {
            return Err(ConfigError {
                origin,
                field: line.to_string(),
                value: String::new(),
                why: "expected `key = value`".into(),
            });
        };
        out.push(Setting {
            key: k.trim().replace('-', "_"),
            value: v.trim().to_string(),
            origin,
        });
    }
    Ok(out)
}

fn read_file(s: &Setting) -> Result<Vec<Setting>, ConfigError> {
    let text =
        std::fs::read_to_string(&s.value).map_err(|e| err(s, format!("cannot read file: {e}")))?;
    parse_lines(&s.value, &text)
}

/// Parses the command line (without the program name).
pub fn parse_args(args: &[String]) -> Result<Command, ConfigError> {
    let mut cli = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        let origin = "command line".to_string();
        match a.as_str() {
            "--help" | "-h" | "help" => return Ok(Command::Help),
            "--version" | "-V" => return Ok(Command::Version),
            "root" | "peer" if i == 0 => cli.push(Setting {
                key: "role".into(),
                value: a.clone(),
                origin,
            }),
            _ => {
                let Some(flag) = a.strip_prefix("--") else {
                    return Err(ConfigError {
                        origin,
                        field: a.clone(),
                        value: String::new(),
                        why: "unexpected argument (see --help)".into(),
                    });
                };
                let (k, v) = match flag.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => {
                        i += 1;
                        let v = args.get(i).cloned().ok_or_else(|| ConfigError {
                            origin: origin.clone(),
                            field: flag.to_string(),
                            value: String::new(),
                            why: "missing value".into(),
                        })?;
                        (flag.to_string(), v)
                    }
                };
                cli.push(Setting {
                    key: k.replace('-', "_"),
                    value: v,
                    origin,
                });
            }
        }
        i += 1;
    }
    // Board profile first, then config file, then the command line.
    let mut all = Vec::new();
    let config_file = cli.iter().find(|s| s.key == "config").cloned();
    let file = match &config_file {
        Some(s) => read_file(s)?,
        None => Vec::new(),
    };
    let board = cli
        .iter()
        .rev()
        .chain(file.iter().rev())
        .find(|s| s.key == "board")
        .cloned();
    if let Some(b) = &board {
        all.extend(
            read_file(b)?
                .into_iter()
                .filter(|s| s.key != "board" && s.key != "config"),
        );
    }
    all.extend(file.into_iter().filter(|s| s.key != "config"));
    all.extend(cli.into_iter().filter(|s| s.key != "config"));
    build(&all, board.map(|b| b.value)).map(|c| Command::Run(Box::new(c)))
}

/// The last value of a single-valued key.
fn last<'a>(all: &'a [Setting], key: &str) -> Option<&'a Setting> {
    all.iter().rev().find(|s| s.key == key)
}

fn addr(s: &Setting) -> Result<SocketAddr, ConfigError> {
    s.value
        .parse()
        .map_err(|_| err(s, "expected ADDR:PORT, e.g. 127.0.0.1:7000"))
}

fn num<T: std::str::FromStr>(s: &Setting, lo: u64, hi: u64) -> Result<T, ConfigError> {
    let v: u64 = s
        .value
        .parse()
        .map_err(|_| err(s, format!("expected a whole number from {lo} to {hi}")))?;
    if v < lo || v > hi {
        return Err(err(s, format!("expected a whole number from {lo} to {hi}")));
    }
    s.value.parse().map_err(|_| err(s, "number out of range"))
}

fn required<'a>(all: &'a [Setting], key: &str, role: &str) -> Result<&'a Setting, ConfigError> {
    last(all, key).ok_or_else(|| ConfigError {
        origin: "configuration".into(),
        field: key.into(),
        value: String::new(),
        why: format!("required for role {role} (see --help)"),
    })
}

fn channel_spec(s: &Setting) -> Result<ChannelConfig, ConfigError> {
    let (mut name, mut source, mut bitrate) = (None, None, 0u32);
    let (mut protect, mut rotate, mut keys) = (None, None, None);
    let (mut number, mut description) = (0u16, String::new());
    for part in s.value.split(',') {
        let Some((k, v)) = part.split_once('=') else {
            return Err(err(
                s,
                format!("`{part}` is not key=value; expected name=NAME,source=URI[,bitrate=KBPS]"),
            ));
        };
        match k.trim() {
            "name" => name = Some(v.trim().to_string()),
            "source" => {
                source = Some(
                    v.trim()
                        .parse::<SourceUri>()
                        .map_err(|e| err(s, format!("source: {e}")))?,
                )
            }
            "bitrate" => {
                bitrate = v
                    .trim()
                    .parse()
                    .map_err(|_| err(s, format!("bitrate `{v}` is not a whole number of kbit/s")))?
            }
            "protect" => protect = Some(integrity::protect_part(s, v)?),
            "rotate_s" => rotate = Some(integrity::rotate_part(s, v)?),
            "keys" => keys = Some(v.trim()),
            "number" => {
                number = match v.trim().parse::<u16>() {
                    Ok(n @ 1..=tvmesh_core::zap::MAX_NUMBER) => n,
                    _ => return Err(err(s, format!("number `{v}` is not 1-9999"))),
                }
            }
            "desc" => {
                if v.len() > tvmesh_core::zap::MAX_DESCRIPTION {
                    return Err(err(s, "desc is longer than 255 bytes"));
                }
                description = v.trim().to_string();
            }
            other => {
                return Err(err(
                    s,
                    format!("unknown part `{other}`; expected name, source, bitrate, number, desc, protect, rotate_s, keys"),
                ))
            }
        }
    }
    let name = name.ok_or_else(|| err(s, "missing name=NAME"))?;
    check_name(s, &name)?;
    let source = source.ok_or_else(|| err(s, "missing source=URI"))?;
    let packaged_keys = packaged::packaged(s, &name, &source, keys, protect.is_some())?;
    Ok(ChannelConfig {
        name,
        source,
        bitrate_kbps: bitrate,
        protect: integrity::protect(s, protect, rotate)?,
        packaged_keys,
        number,
        description,
    })
}

fn group_spec(s: &Setting) -> Result<Vec<tvmesh_core::root::tracker::Prefix>, ConfigError> {
    let mut out = Vec::new();
    for part in s.value.split(['+', ' ']).filter(|p| !p.is_empty()) {
        let bad = || {
            err(
                s,
                format!("`{part}` is not an address prefix like 198.51.100.0/24"),
            )
        };
        let (a, l) = part.split_once('/').ok_or_else(bad)?;
        let ip: std::net::IpAddr = a.parse().map_err(|_| bad())?;
        let len: u8 = l.parse().map_err(|_| bad())?;
        out.push(tvmesh_core::root::tracker::Prefix::new(ip, len).ok_or_else(bad)?);
    }
    if out.is_empty() {
        return Err(err(s, "expected one or more prefixes joined by +"));
    }
    Ok(out)
}

fn check_name(s: &Setting, name: &str) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(err(
            s,
            format!("channel name `{name}` must be 1-64 characters of A-Z a-z 0-9 - _ ."),
        ))
    }
}

fn build(all: &[Setting], board: Option<String>) -> Result<Config, ConfigError> {
    for s in all {
        if !KEYS.contains(&s.key.as_str())
            && !viewer::KEYS.contains(&s.key.as_str())
            && !integrity::KEYS.contains(&s.key.as_str())
        {
            return Err(err(s, "unknown field (see --help)"));
        }
    }
    let role_s = required(all, "role", "root or peer")?;
    let http = last(all, "http").map(addr).transpose()?;
    let pool_kib = last(all, "pool_kib")
        .map(|s| num(s, 128, 4 << 20))
        .transpose()?
        .unwrap_or(4096);
    let upload_kbps = last(all, "upload_kbps")
        .map(|s| num(s, 0, 10_000_000))
        .transpose()?
        .unwrap_or(0);
    let seed = last(all, "seed").map(|s| num(s, 0, u64::MAX)).transpose()?;
    let log_level = match last(all, "log_level") {
        None => log::LevelFilter::Info,
        Some(s) => match s.value.as_str() {
            "error" => log::LevelFilter::Error,
            "warn" => log::LevelFilter::Warn,
            "info" => log::LevelFilter::Info,
            "debug" => log::LevelFilter::Debug,
            _ => return Err(err(s, "expected error, warn, info or debug")),
        },
    };
    // Numeric keys are checked whatever the role, so a typo never hides in an unused setting.
    let max_boxes = last(all, "max_boxes")
        .map(|s| num(s, 1, 65_535))
        .transpose()?
        .unwrap_or(256);
    let http_viewers = last(all, "http_viewers")
        .map(|s| num(s, 0, 64))
        .transpose()?
        .unwrap_or(4);
    let sink_queue_ms = last(all, "sink_queue_ms")
        .map(|s| num(s, 100, 60_000))
        .transpose()?
        .unwrap_or(2000);
    let seed_copies = last(all, "seed_copies")
        .map(|s| num(s, 1, 64))
        .transpose()?
        .unwrap_or(1);
    let repair_kbps = last(all, "repair_kbps")
        .map(|s| num(s, 0, 10_000_000))
        .transpose()?
        .unwrap_or(0);
    let relay_kbps = last(all, "relay_kbps")
        .map(|s| num(s, 0, 10_000_000))
        .transpose()?
        .unwrap_or(tvmesh_core::root::DEFAULT_RELAY_KBPS);
    let max_partners = last(all, "max_partners")
        .map(|s| num(s, 1, tvmesh_core::peer::MAX_PARTNERS as u64))
        .transpose()?
        .unwrap_or(6);
    let nat = NatConfig {
        stun_alt_port: last(all, "stun_alt_port")
            .map(|s| num(s, 1, 65_535))
            .transpose()?,
        stun_alt_ip: last(all, "stun_alt_ip")
            .map(|s| {
                s.value
                    .parse()
                    .map_err(|_| err(s, "expected an IP address, e.g. 203.0.113.3"))
            })
            .transpose()?,
        stun_server: last(all, "stun_server")
            .map(|s| match s.value.rsplit_once(':') {
                Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0) => {
                    Ok(s.value.clone())
                }
                _ => Err(err(s, "expected HOST:PORT, e.g. stun.example.net:3478")),
            })
            .transpose()?,
        spray_ports: last(all, "spray_ports")
            .map(|s| num(s, 0, 1024))
            .transpose()?
            .unwrap_or(DEFAULT_SPRAY_PORTS),
    };
    let mut groups = Vec::new();
    for g in all.iter().filter(|s| s.key == "group") {
        groups.push(group_spec(g)?);
    }
    let role = match role_s.value.as_str() {
        "root" if !cfg!(feature = "root") => return Err(err(role_s, NO_ROOT_ROLE)),
        "root" => {
            let listen = addr(required(all, "listen", "root")?)?;
            let mut channels: Vec<ChannelConfig> = Vec::new();
            for s in all.iter().filter(|s| s.key == "channel") {
                let mut c = channel_spec(s)?;
                if channels.iter().any(|x| x.name == c.name) {
                    return Err(err(s, format!("channel `{}` is defined twice", c.name)));
                }
                if c.number == 0 {
                    // By order: one more than the highest number so far.
                    let next = channels.iter().map(|x| x.number).max().unwrap_or(0) + 1;
                    if next > tvmesh_core::zap::MAX_NUMBER {
                        return Err(err(s, "no channel number left: give number=N"));
                    }
                    c.number = next;
                }
                if channels.iter().any(|x| x.number == c.number) {
                    return Err(err(s, format!("channel number {} is used twice", c.number)));
                }
                channels.push(c);
            }
            if channels.is_empty() {
                required(all, "channel", "root")?;
            }
            Role::Root {
                listen,
                channels,
                max_boxes,
                mesh: RootMesh {
                    seed_copies,
                    repair_kbps,
                    groups,
                    relay_kbps,
                },
            }
        }
        "peer" => {
            let root = addr(required(all, "root", "peer")?)?;
            let mut roots: Vec<SocketAddr> = Vec::new();
            for s in all.iter().filter(|s| s.key == "root") {
                let a = addr(s)?;
                if !roots.contains(&a) {
                    roots.push(a);
                }
            }
            let ch = required(all, "channel", "peer")?;
            check_name(ch, &ch.value)?;
            let sink = last(all, "sink")
                .map(|s| {
                    s.value
                        .parse::<SinkUri>()
                        .map_err(|e| err(s, e.to_string()))
                })
                .transpose()?;
            let listen = last(all, "listen")
                .map(addr)
                .transpose()?
                .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
            Role::Peer {
                root,
                roots,
                channel: ch.value.clone(),
                sink,
                listen,
                http_viewers,
                sink_queue_ms,
                max_partners,
            }
        }
        _ => return Err(err(role_s, "expected root or peer")),
    };
    Ok(Config {
        role,
        http,
        pool_kib,
        upload_kbps,
        log_level,
        seed,
        board,
        nat,
        viewer: viewer::viewer(all)?,
        integrity: integrity::integrity(all)?,
    })
}

pub mod integrity;
pub mod packaged;
#[cfg(test)]
mod tests;
mod viewer;
