//! Source and sink URIs, as written on the command line or in the config.
//!
//! Source forms:
//! - `udp://ADDR:PORT` — listen on a unicast address or join a multicast group (IPv4 224.0.0.0/4,
//!   or IPv6 ff00::/8). `udp://:PORT` and VLC's `udp://@ADDR:PORT` / `udp://@:PORT` are accepted
//!   (an empty address means 0.0.0.0). `?iface=A.B.C.D` picks the local interface address for an
//!   IPv4 multicast join (default: let the kernel choose, INADDR_ANY); it is rejected elsewhere.
//! - `http://HOST[:PORT][/PATH]` — HOST is a name, an IPv4 address or a bracketed IPv6 address;
//!   PORT defaults to 80, PATH to `/` and may carry a query string. `https` is not supported.
//! - `file:PATH` (or `file:///ABSOLUTE/PATH`) — a TS file, played in a loop at its PCR rate.
//! - `-` — standard input.
//! - `packaged:PATH` or `packaged:-` — a stream packaged ahead of time (`tvmeshd package`), played
//!   once at its records' pace; the channel's `keys=PATH` names the packager's key file.
//!
//! Sink forms: `file:PATH` (regular file, FIFO or device), `exec:COMMAND` (run by `/bin/sh -c`,
//! stream on its stdin), `udp://ADDR:PORT` (one datagram per write).
//!
//! Invariants: parsing never panics; every accepted value can be used without further checks —
//! ports are non-zero, paths and commands are non-empty and free of NUL, HTTP host and path contain
//! no whitespace or control characters (so they cannot break the request line), and
//! `Display` prints a form that parses back to the same value.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

/// Where a root reads a channel from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceUri {
    /// Datagrams to this address; a multicast address is joined (IPv4 on `iface` if given).
    Udp {
        /// Local address (unicast) or group (multicast) and port.
        addr: SocketAddr,
        /// Local interface address for an IPv4 multicast join.
        iface: Option<Ipv4Addr>,
    },
    /// An HTTP/1.0 GET whose body is the stream.
    Http {
        /// Host name or address (IPv6 without brackets).
        host: String,
        /// TCP port.
        port: u16,
        /// Request target, starting with `/`.
        path: String,
    },
    /// A TS file, looped and paced.
    File(PathBuf),
    /// Standard input.
    Stdin,
    /// A packaged stream (`tvmesh_core::drm::package`) in a file, or on stdin if the path is `-`.
    Packaged(PathBuf),
}

/// Where a box writes a channel to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SinkUri {
    /// A regular file, FIFO or character device.
    File(PathBuf),
    /// A shell command reading the stream on its stdin.
    Exec(String),
    /// Datagrams to this address.
    Udp(SocketAddr),
}

/// Why a URI was rejected; `Display` names the bad part.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum UriError {
    /// Not one of the supported schemes.
    Scheme,
    /// The `ADDR:PORT` part of a `udp://` URI.
    Address,
    /// The port (missing, zero or not a number).
    Port,
    /// The host of an `http://` URI.
    Host,
    /// The path (empty, or with characters that cannot be used).
    Path,
    /// The command of an `exec:` URI.
    Command,
    /// The `?iface=` parameter.
    Iface,
}

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UriError::Scheme => "unsupported scheme",
            UriError::Address => "bad address (expected ADDR:PORT)",
            UriError::Port => "bad port",
            UriError::Host => "bad host",
            UriError::Path => "bad path",
            UriError::Command => "bad command",
            UriError::Iface => "bad iface (an IPv4 address, only with an IPv4 multicast group)",
        })
    }
}

impl std::error::Error for UriError {}

/// `s` without a case-insensitive `prefix`, if it has it.
fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn parse_port(s: &str) -> Result<u16, UriError> {
    match s.parse::<u16>() {
        Ok(p) if p != 0 && s.bytes().all(|b| b.is_ascii_digit()) => Ok(p),
        _ => Err(UriError::Port),
    }
}

/// `ADDR:PORT`, `[V6]:PORT` or `:PORT` (any address). The port must be non-zero.
fn parse_socket_addr(s: &str) -> Result<SocketAddr, UriError> {
    if let Some(port) = s.strip_prefix(':') {
        return Ok(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            parse_port(port)?,
        ));
    }
    let addr: SocketAddr = s.parse().map_err(|_| {
        // Tell "bad port" apart from "bad address" when the address part is fine.
        match s.rsplit_once(':') {
            Some((a, p))
                if a.trim_matches(['[', ']']).parse::<IpAddr>().is_ok()
                    && parse_port(p).is_err() =>
            {
                UriError::Port
            }
            _ => UriError::Address,
        }
    })?;
    if addr.port() == 0 {
        return Err(UriError::Port);
    }
    Ok(addr)
}

fn parse_path(s: &str) -> Result<PathBuf, UriError> {
    let s = match s.strip_prefix("//") {
        // file:///abs/path; file://host/... is not supported.
        Some(rest) if rest.starts_with('/') => rest,
        Some(_) => return Err(UriError::Path),
        None => s,
    };
    if s.is_empty() || s.contains('\0') {
        return Err(UriError::Path);
    }
    Ok(PathBuf::from(s))
}

fn is_host_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')
}

fn parse_http(rest: &str) -> Result<SourceUri, UriError> {
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_string()),
    };
    if path.bytes().any(|b| b <= b' ' || b == 0x7F) {
        return Err(UriError::Path);
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (addr, after) = v6.split_once(']').ok_or(UriError::Host)?;
        addr.parse::<Ipv6Addr>().map_err(|_| UriError::Host)?;
        let port = match after {
            "" => 80,
            p => parse_port(p.strip_prefix(':').ok_or(UriError::Host)?)?,
        };
        (addr, port)
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, parse_port(p)?),
            None => (authority, 80),
        }
    };
    if host.is_empty() || (!authority.starts_with('[') && !host.bytes().all(is_host_char)) {
        return Err(UriError::Host);
    }
    Ok(SourceUri::Http {
        host: host.to_string(),
        port,
        path,
    })
}

fn parse_udp_source(rest: &str) -> Result<SourceUri, UriError> {
    let (addr, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    let addr = parse_socket_addr(addr.strip_prefix('@').unwrap_or(addr))?;
    let iface = match query {
        None => None,
        Some(q) => {
            let v = q.strip_prefix("iface=").ok_or(UriError::Iface)?;
            let ip: Ipv4Addr = v.parse().map_err(|_| UriError::Iface)?;
            match addr.ip() {
                IpAddr::V4(g) if g.is_multicast() => Some(ip),
                _ => return Err(UriError::Iface),
            }
        }
    };
    Ok(SourceUri::Udp { addr, iface })
}

impl FromStr for SourceUri {
    type Err = UriError;

    fn from_str(s: &str) -> Result<Self, UriError> {
        if s == "-" {
            Ok(SourceUri::Stdin)
        } else if let Some(rest) = strip_prefix_ci(s, "udp://") {
            parse_udp_source(rest)
        } else if let Some(rest) = strip_prefix_ci(s, "http://") {
            parse_http(rest)
        } else if let Some(rest) = strip_prefix_ci(s, "file:") {
            Ok(SourceUri::File(parse_path(rest)?))
        } else if let Some(rest) = strip_prefix_ci(s, "packaged:") {
            Ok(SourceUri::Packaged(parse_path(rest)?))
        } else {
            Err(UriError::Scheme)
        }
    }
}

impl FromStr for SinkUri {
    type Err = UriError;

    fn from_str(s: &str) -> Result<Self, UriError> {
        if let Some(rest) = strip_prefix_ci(s, "file:") {
            Ok(SinkUri::File(parse_path(rest)?))
        } else if let Some(rest) = strip_prefix_ci(s, "exec:") {
            if rest.trim().is_empty() || rest.contains('\0') {
                return Err(UriError::Command);
            }
            Ok(SinkUri::Exec(rest.to_string()))
        } else if let Some(rest) = strip_prefix_ci(s, "udp://") {
            let addr = parse_socket_addr(rest)?;
            if addr.ip().is_unspecified() {
                return Err(UriError::Address);
            }
            Ok(SinkUri::Udp(addr))
        } else {
            Err(UriError::Scheme)
        }
    }
}

impl fmt::Display for SourceUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceUri::Udp { addr, iface: None } => write!(f, "udp://{addr}"),
            SourceUri::Udp {
                addr,
                iface: Some(i),
            } => write!(f, "udp://{addr}?iface={i}"),
            SourceUri::Http { host, port, path } if host.contains(':') => {
                write!(f, "http://[{host}]:{port}{path}")
            }
            SourceUri::Http { host, port, path } => write!(f, "http://{host}:{port}{path}"),
            SourceUri::File(p) => write!(f, "file:{}", p.display()),
            SourceUri::Stdin => f.write_str("-"),
            SourceUri::Packaged(p) => write!(f, "packaged:{}", p.display()),
        }
    }
}

impl fmt::Display for SinkUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SinkUri::File(p) => write!(f, "file:{}", p.display()),
            SinkUri::Exec(c) => write!(f, "exec:{c}"),
            SinkUri::Udp(a) => write!(f, "udp://{a}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(s: &str) -> Result<SourceUri, UriError> {
        s.parse()
    }

    fn sink(s: &str) -> Result<SinkUri, UriError> {
        s.parse()
    }

    #[test]
    fn good_sources() {
        assert_eq!(src("-"), Ok(SourceUri::Stdin));
        assert_eq!(
            src("udp://239.1.2.3:1234"),
            Ok(SourceUri::Udp {
                addr: "239.1.2.3:1234".parse().unwrap(),
                iface: None
            })
        );
        assert_eq!(
            src("udp://@239.1.2.3:1234?iface=192.168.1.7"),
            Ok(SourceUri::Udp {
                addr: "239.1.2.3:1234".parse().unwrap(),
                iface: Some(Ipv4Addr::new(192, 168, 1, 7))
            })
        );
        assert_eq!(
            src("udp://:5000"),
            Ok(SourceUri::Udp {
                addr: "0.0.0.0:5000".parse().unwrap(),
                iface: None
            })
        );
        assert_eq!(src("UDP://@:5000"), src("udp://0.0.0.0:5000"));
        assert_eq!(
            src("udp://[ff02::1]:5000"),
            Ok(SourceUri::Udp {
                addr: "[ff02::1]:5000".parse().unwrap(),
                iface: None
            })
        );
        assert_eq!(
            src("http://example.com/live/ch1.ts?token=a%20b"),
            Ok(SourceUri::Http {
                host: "example.com".into(),
                port: 80,
                path: "/live/ch1.ts?token=a%20b".into()
            })
        );
        assert_eq!(
            src("http://10.0.0.1:8001"),
            Ok(SourceUri::Http {
                host: "10.0.0.1".into(),
                port: 8001,
                path: "/".into()
            })
        );
        assert_eq!(
            src("http://h?x=1"),
            Ok(SourceUri::Http {
                host: "h".into(),
                port: 80,
                path: "/?x=1".into()
            })
        );
        assert_eq!(
            src("http://[::1]:81/a"),
            Ok(SourceUri::Http {
                host: "::1".into(),
                port: 81,
                path: "/a".into()
            })
        );
        assert_eq!(
            src("http://[::1]/"),
            Ok(SourceUri::Http {
                host: "::1".into(),
                port: 80,
                path: "/".into()
            })
        );
        assert_eq!(
            src("file:tests/data/sample.ts"),
            Ok(SourceUri::File("tests/data/sample.ts".into()))
        );
        assert_eq!(
            src("file:///srv/a b.ts"),
            Ok(SourceUri::File("/srv/a b.ts".into()))
        );
    }

    #[test]
    fn bad_sources() {
        assert_eq!(src(""), Err(UriError::Scheme));
        assert_eq!(src("rtp://1.2.3.4:5"), Err(UriError::Scheme));
        assert_eq!(src("https://example.com/"), Err(UriError::Scheme));
        assert_eq!(src("udp://239.1.2.3"), Err(UriError::Address));
        assert_eq!(src("udp://239.1.2.300:5"), Err(UriError::Address));
        assert_eq!(src("udp://239.1.2.3:0"), Err(UriError::Port));
        assert_eq!(src("udp://239.1.2.3:70000"), Err(UriError::Port));
        assert_eq!(src("udp://239.1.2.3:+5"), Err(UriError::Port));
        assert_eq!(src("udp://:x"), Err(UriError::Port));
        assert_eq!(src("udp://239.1.2.3:5?iface=eth0"), Err(UriError::Iface));
        assert_eq!(src("udp://239.1.2.3:5?ttl=3"), Err(UriError::Iface));
        assert_eq!(src("udp://10.0.0.1:5?iface=10.0.0.1"), Err(UriError::Iface));
        assert_eq!(src("http://"), Err(UriError::Host));
        assert_eq!(src("http:///x"), Err(UriError::Host));
        assert_eq!(src("http://user:pw@host/"), Err(UriError::Port));
        assert_eq!(src("http://us@er/"), Err(UriError::Host));
        assert_eq!(src("http://host:0/"), Err(UriError::Port));
        assert_eq!(src("http://host:/"), Err(UriError::Port));
        assert_eq!(src("http://[::1/"), Err(UriError::Host));
        assert_eq!(src("http://[::1]x/"), Err(UriError::Host));
        assert_eq!(src("http://host/a b"), Err(UriError::Path));
        assert_eq!(src("http://host/a\r\nX-Evil: 1"), Err(UriError::Path));
        assert_eq!(src("file:"), Err(UriError::Path));
        assert_eq!(src("file://host/x"), Err(UriError::Path));
        assert_eq!(src("file:a\0b"), Err(UriError::Path));
    }

    #[test]
    fn sinks() {
        assert_eq!(
            sink("file:/tmp/out.ts"),
            Ok(SinkUri::File("/tmp/out.ts".into()))
        );
        assert_eq!(sink("exec:ffplay -"), Ok(SinkUri::Exec("ffplay -".into())));
        assert_eq!(
            sink("udp://127.0.0.1:1234"),
            Ok(SinkUri::Udp("127.0.0.1:1234".parse().unwrap()))
        );
        assert_eq!(
            sink("udp://[::1]:1234"),
            Ok(SinkUri::Udp("[::1]:1234".parse().unwrap()))
        );
        assert_eq!(sink("-"), Err(UriError::Scheme));
        assert_eq!(sink("http://x/"), Err(UriError::Scheme));
        assert_eq!(sink("file:"), Err(UriError::Path));
        assert_eq!(sink("exec:  "), Err(UriError::Command));
        assert_eq!(sink("exec:a\0"), Err(UriError::Command));
        assert_eq!(sink("udp://127.0.0.1"), Err(UriError::Address));
        assert_eq!(sink("udp://0.0.0.0:5"), Err(UriError::Address));
        assert_eq!(sink("udp://:5"), Err(UriError::Address));
        assert_eq!(sink("udp://1.2.3.4:0"), Err(UriError::Port));
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "-",
            "udp://239.1.2.3:1234",
            "udp://239.1.2.3:1234?iface=10.1.1.1",
            "udp://[ff02::1]:5000",
            "http://example.com:80/live?x=1",
            "http://[::1]:8080/",
            "file:/srv/x.ts",
        ] {
            let u = src(s).unwrap();
            assert_eq!(src(&u.to_string()), Ok(u));
        }
        for s in ["file:/dev/null", "exec:cat > /tmp/x", "udp://127.0.0.1:9"] {
            let u = sink(s).unwrap();
            assert_eq!(sink(&u.to_string()), Ok(u));
        }
        assert_eq!(UriError::Port.to_string(), "bad port");
    }
}
