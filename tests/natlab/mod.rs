//! The NAT lab's plumbing: network namespaces `tvm-*`, veth pairs and nftables NAT routers, all
//! on TEST-NET addresses, torn down by a Drop guard (and any stale `tvm-*` namespace is deleted
//! before building).
//!
//! Layout (every namespace is `tvm-` + name):
//!
//! ```text
//!  pub: bridge br0 203.0.113.2 + .3 (root, RFC 5780 alternate IP) + .4 (coturn); routes
//!       (one hop) to each NAT router's /32 on its own veth, proxy ARP
//!   ├─ a   203.0.113.20 (on br0)              no NAT
//!   ├─ rb  203.0.113.11 ─ b  198.51.100.2     masquerade (EIM, port-dependent filtering)
//!   ├─ rc  203.0.113.12 ─ c  198.51.100.18    masquerade fully-random ("symmetric")
//!   ├─ rd  203.0.113.13 ─ d1 198.51.100.34    masquerade, two boxes behind one router
//!   │                    └ d2 198.51.100.50
//!   └─ re  203.0.113.14 ─ e  192.0.2.2        snat + dnat: full cone
//! ```
//!
//! Invariants: nothing outside `tvm-*` namespaces (and the lock file `/tmp/tvmesh-nat-lab.lock`,
//! which serialises labs on one host) is touched; every command's failure panics with
//! the command and its stderr; the lab refuses to run (panics with the reason) without root,
//! `ip` or `nft`, so a CI run can never skip it silently.

#![allow(dead_code)]

pub mod mesh;

use std::process::{Child, Command, Stdio};

/// A box in the lab: its namespace and what its NAT is.
#[derive(Copy, Clone, Debug)]
pub struct BoxSpec {
    /// Short name; the namespace is `tvm-` + name.
    pub name: &'static str,
    /// Human label for the matrix.
    pub nat: &'static str,
    /// The public IP the root sees.
    pub public_ip: &'static str,
    /// Expected (mapping, filtering) as `stun-probe` names them.
    pub expect: (&'static str, &'static str),
}

const EIM: &str = "endpoint-independent";
const APD: &str = "address-port-dependent";

const fn spec(
    name: &'static str,
    nat: &'static str,
    public_ip: &'static str,
    mapping: &'static str,
    filtering: &'static str,
) -> BoxSpec {
    BoxSpec {
        name,
        nat,
        public_ip,
        expect: (mapping, filtering),
    }
}

/// The boxes, in matrix order.
pub const BOXES: [BoxSpec; 6] = [
    spec("a", "none", "203.0.113.20", "open", "open"),
    spec("b", "masquerade", "203.0.113.11", EIM, APD),
    spec("c", "symmetric", "203.0.113.12", APD, APD),
    spec("d1", "shared masq.", "203.0.113.13", EIM, APD),
    spec("d2", "shared masq.", "203.0.113.13", EIM, APD),
    spec("e", "full cone", "203.0.113.14", EIM, EIM),
];

/// Root's primary STUN/tvmesh address, alternate IP and port, coturn.
pub const ROOT: &str = "203.0.113.2:3478";
pub const ROOT_ALT_IP: &str = "203.0.113.3";
pub const ROOT_ALT_PORT: u16 = 3479;
pub const COTURN: &str = "203.0.113.4:3478";

/// Runs `cmd args`, panicking with its stderr on failure.
pub fn sh(cmd: &str, args: &[&str]) -> String {
    let o = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"));
    assert!(
        o.status.success(),
        "`{cmd} {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs a command inside namespace `tvm-<ns>`.
pub fn ns(ns: &str, args: &[&str]) -> String {
    let full = format!("tvm-{ns}");
    let mut a = vec!["netns", "exec", full.as_str()];
    a.extend_from_slice(args);
    sh("ip", &a)
}

/// A command inside namespace `tvm-<ns>`, not yet started.
pub fn ns_cmd(ns: &str, prog: &str) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", &format!("tvm-{ns}"), prog]);
    c
}

fn nft(router: &str, rules: &str) {
    let full = format!("tvm-{router}");
    let mut c = Command::new("ip")
        .args(["netns", "exec", &full, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nft");
    use std::io::Write;
    c.stdin.take().unwrap().write_all(rules.as_bytes()).unwrap();
    let o = c.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "nft in {full}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Deletes every `tvm-*` namespace.
pub fn cleanup() {
    let list = Command::new("ip").args(["netns", "list"]).output();
    let Ok(list) = list else { return };
    for l in String::from_utf8_lossy(&list.stdout).lines() {
        let name = l.split_whitespace().next().unwrap_or("");
        if name.starts_with("tvm-") {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

/// The built lab; dropping it deletes the namespaces (and releases the lab lock).
pub struct Lab {
    _lock: std::fs::File,
}

/// Lock file held while a lab exists: the namespace names are fixed, so two labs at once (two
/// worktrees' `cargo test` on one host) would delete each other's namespaces mid-run.
const LOCK: &str = "/tmp/tvmesh-nat-lab.lock";

/// Waits (bounded: 5 minutes) for the host-wide lab lock.
fn lock() -> std::fs::File {
    use rustix::fs::{flock, FlockOperation};
    let f = std::fs::File::create(LOCK).unwrap_or_else(|e| panic!("cannot create {LOCK}: {e}"));
    let t = std::time::Instant::now();
    while flock(&f, FlockOperation::NonBlockingLockExclusive).is_err() {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(300),
            "another NAT lab held {LOCK} for 5 minutes"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    f
}

fn require() {
    assert!(
        rustix::process::geteuid().is_root(),
        "the NAT lab needs root (network namespaces, nftables); run `make test` as root"
    );
    for tool in ["ip", "nft", "turnserver", "turnutils_stunclient", "curl"] {
        let ok = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "the NAT lab needs `{tool}` (apt-get install iproute2 nftables coturn curl)"
        );
    }
}

/// Proxy ARP on `pub`'s interface `ifc`, answering at once (the default delays up to 0.8 s).
fn proxy_arp(ifc: &str) {
    ns(
        "pub",
        &["sysctl", "-qw", &format!("net.ipv4.conf.{ifc}.proxy_arp=1")],
    );
    ns(
        "pub",
        &[
            "sysctl",
            "-qw",
            &format!("net.ipv4.neigh.{ifc}.proxy_delay=0"),
        ],
    );
}

fn link(a_ns: &str, a_if: &str, b_ns: &str, b_if: &str) {
    sh(
        "ip",
        &[
            "link",
            "add",
            a_if,
            "netns",
            &format!("tvm-{a_ns}"),
            "type",
            "veth",
            "peer",
            "name",
            b_if,
            "netns",
            &format!("tvm-{b_ns}"),
        ],
    );
    ns(a_ns, &["ip", "link", "set", a_if, "up"]);
    ns(b_ns, &["ip", "link", "set", b_if, "up"]);
}

fn addr(n: &str, ifc: &str, cidr: &str) {
    ns(n, &["ip", "addr", "add", cidr, "dev", ifc]);
}

/// A router `r` with its wan on the bridge and `lans` = (lan interface, router cidr, box, box
/// cidr, box gateway).
fn router(r: &str, wan_cidr: &str, lans: &[(&str, &str, &str, &str, &str)], rules: &str) {
    sh("ip", &["netns", "add", &format!("tvm-{r}")]);
    ns(r, &["ip", "link", "set", "lo", "up"]);
    // Routed, not bridged: `pub` is one router hop between NATs (it decrements the TTL, so
    // TTL-limited punch openers die there), and proxy-ARPs for everyone.
    let p = format!("p-{r}");
    link(r, "wan", "pub", &p);
    addr(r, "wan", wan_cidr);
    ns(r, &["ip", "route", "add", "default", "dev", "wan"]);
    let host = wan_cidr.split('/').next().unwrap_or(wan_cidr);
    ns(
        "pub",
        &["ip", "route", "add", &format!("{host}/32"), "dev", &p],
    );
    proxy_arp(&p);
    ns(r, &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    for (lan, rcidr, b, bcidr, gw) in lans {
        sh("ip", &["netns", "add", &format!("tvm-{b}")]);
        ns(b, &["ip", "link", "set", "lo", "up"]);
        link(r, lan, b, "eth0");
        addr(r, lan, rcidr);
        addr(b, "eth0", bcidr);
        ns(b, &["ip", "route", "add", "default", "via", gw]);
    }
    nft(r, rules);
}

impl Lab {
    /// Builds the whole lab (about a second).
    pub fn build() -> Lab {
        require();
        let lab = Lab { _lock: lock() };
        cleanup();
        sh("ip", &["netns", "add", "tvm-pub"]);
        ns("pub", &["ip", "link", "set", "lo", "up"]);
        ns("pub", &["ip", "link", "add", "br0", "type", "bridge"]);
        ns("pub", &["ip", "link", "set", "br0", "up"]);
        for a in ["203.0.113.2/24", "203.0.113.3/24", "203.0.113.4/24"] {
            addr("pub", "br0", a);
        }
        ns("pub", &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        proxy_arp("br0");
        // (a) no NAT: a box straight on the public segment.
        sh("ip", &["netns", "add", "tvm-a"]);
        ns("a", &["ip", "link", "set", "lo", "up"]);
        link("a", "eth0", "pub", "p-a");
        ns("pub", &["ip", "link", "set", "p-a", "master", "br0"]);
        addr("a", "eth0", "203.0.113.20/24");
        let masq = |extra: &str| {
            format!(
                "table ip nat {{\n chain post {{ type nat hook postrouting priority 100; oifname \"wan\" masquerade {extra}; }}\n}}\n"
            )
        };
        router(
            "rb",
            "203.0.113.11/32",
            &[(
                "lan0",
                "198.51.100.1/28",
                "b",
                "198.51.100.2/28",
                "198.51.100.1",
            )],
            &masq(""),
        );
        router(
            "rc",
            "203.0.113.12/32",
            &[(
                "lan0",
                "198.51.100.17/28",
                "c",
                "198.51.100.18/28",
                "198.51.100.17",
            )],
            &masq("fully-random"),
        );
        router(
            "rd",
            "203.0.113.13/32",
            &[
                (
                    "lan0",
                    "198.51.100.33/28",
                    "d1",
                    "198.51.100.34/28",
                    "198.51.100.33",
                ),
                (
                    "lan1",
                    "198.51.100.49/28",
                    "d2",
                    "198.51.100.50/28",
                    "198.51.100.49",
                ),
            ],
            &masq(""),
        );
        router(
            "re",
            "203.0.113.14/32",
            &[("lan0", "192.0.2.1/28", "e", "192.0.2.2/28", "192.0.2.1")],
            "table ip nat {\n chain post { type nat hook postrouting priority 100; oifname \"wan\" snat to 203.0.113.14; }\n chain pre { type nat hook prerouting priority -100; iifname \"wan\" dnat to 192.0.2.2; }\n}\n",
        );
        lab
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        cleanup();
    }
}

/// A child process killed when dropped.
pub struct Proc(pub Child, pub &'static str);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
