//! Tests of the control commands, the HTTP query form and the Unix socket server (temp socket
//! paths; waits on the reactor, bounded).

use super::*;
use crate::clock;
use crate::remote::evdev::tests::{temp_path, zapper};
use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixStream;
use tvmesh_core::zap::{ZapEvent, ZapReason};

#[test]
fn command_lines() {
    assert_eq!(parse_request("zap 5"), Ok(Request::Number(5)));
    assert_eq!(
        parse_request("  zap   news "),
        Ok(Request::Name("news".into()))
    );
    assert_eq!(parse_request("up"), Ok(Request::Up));
    assert_eq!(parse_request("down"), Ok(Request::Down));
    assert_eq!(parse_request("prev"), Ok(Request::Prev));
    assert_eq!(parse_request("status"), Ok(Request::Status));
    assert_eq!(parse_request("zap"), Err(RequestError::Channel));
    assert_eq!(parse_request("zap 0"), Err(RequestError::Channel));
    assert_eq!(parse_request("zap 10000"), Err(RequestError::Channel));
    assert_eq!(parse_request("zap 99999999999"), Err(RequestError::Channel));
    assert_eq!(parse_request("zap a b"), Err(RequestError::Unknown));
    assert_eq!(parse_request("up 3"), Err(RequestError::Unknown));
    assert_eq!(parse_request(""), Err(RequestError::Unknown));
    assert_eq!(parse_request("reboot"), Err(RequestError::Unknown));
}

#[test]
fn http_query() {
    assert_eq!(parse_query("cmd=zap%205"), Ok(Request::Number(5)));
    assert_eq!(
        parse_query("x=1&cmd=zap+news"),
        Ok(Request::Name("news".into()))
    );
    assert_eq!(parse_query("cmd=up"), Ok(Request::Up));
    assert_eq!(parse_query("cmd=zap%2"), Err(RequestError::Line));
    assert_eq!(parse_query("cmd=zap%ZZ1"), Err(RequestError::Line));
    assert_eq!(parse_query("cmd=%FF"), Err(RequestError::Line));
    assert_eq!(parse_query("other=up"), Err(RequestError::Unknown));
}

#[test]
fn apply_replies_and_drives_the_zapper() {
    let mut z = zapper();
    let t = Instant::from_millis(7000);
    assert_eq!(
        apply(&mut z, t, &Request::Status),
        "current=- previous=- last_zap_ms=-"
    );
    assert_eq!(apply(&mut z, t, &Request::Number(12)), "ok 12");
    assert_eq!(apply(&mut z, t, &Request::Name("NEWS".into())), "ok 1");
    assert_eq!(
        apply(&mut z, t, &Request::Number(3)),
        "error: no such channel"
    );
    assert_eq!(
        apply(&mut z, t, &Request::Name("x".into())),
        "error: no such channel"
    );
    assert_eq!(apply(&mut z, t, &Request::Prev), "ok 12");
    assert_eq!(apply(&mut z, t, &Request::Up), "ok 1");
    assert_eq!(apply(&mut z, t, &Request::Down), "ok 12");
    assert_eq!(
        apply(&mut z, t, &Request::Status),
        "current=12 previous=1 last_zap_ms=7000"
    );
    let zaps = std::iter::from_fn(|| z.poll_event())
        .filter(|e| matches!(e, ZapEvent::ZapTo { .. }))
        .count();
    assert_eq!(zaps, 5);
}

/// Sends `line`, runs the server until the client has a reply line (bounded).
fn roundtrip(
    srv: &mut ControlServer,
    r: &mut Reactor,
    client: &mut BufReader<UnixStream>,
    z: &mut Zapper,
    line: &str,
) -> String {
    client.get_mut().write_all(line.as_bytes()).unwrap();
    let deadline = clock::now() + std::time::Duration::from_secs(5);
    let mut reply = String::new();
    while clock::now() < deadline {
        let ready = r.wait(clock::now(), Some(deadline)).unwrap().to_vec();
        for x in ready {
            assert!(srv.owns(x.token));
            srv.on_readable(r, x.token, &mut |req| apply(z, clock::now(), req));
        }
        if client.read_line(&mut reply).is_ok() && reply.ends_with('\n') {
            break;
        }
    }
    reply
}

#[test]
fn unix_socket_commands() {
    let p = temp_path("control");
    let mut r = Reactor::new(8).unwrap();
    let mut srv = ControlServer::bind(&p, &r, 100).unwrap();
    let mut z = zapper();
    let s = UnixStream::connect(&p).unwrap();
    s.set_nonblocking(true).unwrap();
    let mut c = BufReader::new(s);
    assert_eq!(
        roundtrip(&mut srv, &mut r, &mut c, &mut z, "zap 2\n"),
        "ok 2\n"
    );
    assert_eq!(
        roundtrip(&mut srv, &mut r, &mut c, &mut z, "zap film\r\n"),
        "ok 12\n"
    );
    assert_eq!(
        roundtrip(&mut srv, &mut r, &mut c, &mut z, "prev\n"),
        "ok 2\n"
    );
    assert!(roundtrip(&mut srv, &mut r, &mut c, &mut z, "status\n")
        .starts_with("current=2 previous=12 "));
    assert_eq!(
        roundtrip(&mut srv, &mut r, &mut c, &mut z, "dance\n"),
        format!("error: {}\n", RequestError::Unknown)
    );
    assert_eq!(srv.clients(), 1);
    let evs: Vec<ZapEvent> = std::iter::from_fn(|| z.poll_event()).collect();
    assert_eq!(
        evs.last(),
        Some(&ZapEvent::ZapTo {
            number: 2,
            reason: ZapReason::Previous
        })
    );
    // An over-long line gets an error and the client is dropped.
    let long = format!("zap {}\n", "x".repeat(MAX_LINE));
    assert_eq!(
        roundtrip(&mut srv, &mut r, &mut c, &mut z, &long),
        format!("error: {}\n", RequestError::Line)
    );
    assert_eq!(srv.clients(), 0);
    drop(srv);
    assert!(!p.exists(), "socket file removed on drop");
}

#[test]
fn connections_are_bounded() {
    let p = temp_path("control-busy");
    let mut r = Reactor::new(8).unwrap();
    let mut srv = ControlServer::bind(&p, &r, 200).unwrap();
    let clients: Vec<UnixStream> = (0..MAX_CONNECTIONS + 1)
        .map(|_| UnixStream::connect(&p).unwrap())
        .collect();
    let deadline = clock::now() + std::time::Duration::from_secs(5);
    while srv.clients() < MAX_CONNECTIONS && clock::now() < deadline {
        let ready = r.wait(clock::now(), Some(deadline)).unwrap().to_vec();
        for x in ready {
            srv.on_readable(&r, x.token, &mut |_| String::new());
        }
    }
    assert_eq!(srv.clients(), MAX_CONNECTIONS);
    let mut last = BufReader::new(clients.last().unwrap());
    let mut line = String::new();
    last.read_line(&mut line).unwrap();
    assert_eq!(line, "error: busy\n");
}
