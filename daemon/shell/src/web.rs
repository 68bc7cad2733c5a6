//! What the daemon serves over HTTP besides streams: `/`, `/status.json`, `/metrics`.

use crate::http::{ConnId, HttpLimits, HttpServer, Method};
use crate::reactor::{Reactor, Token};
use crate::status::{self, Status};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// Connections beyond the stream viewers: status pages, metrics scrapes.
const STATUS_CONNS: usize = 8;

/// Binds the status server with room for `streams` long-lived stream connections.
pub fn bind(
    addr: SocketAddr,
    reactor: &Reactor,
    base: Token,
    streams: usize,
) -> io::Result<HttpServer> {
    let limits = HttpLimits {
        max_conns: STATUS_CONNS + streams,
        max_request: 2048,
        max_response: 32 * 1024,
        header_timeout: Duration::from_secs(5),
        write_timeout: Duration::from_secs(10),
        // A paused player keeps its connection this long; its cursor skips meanwhile.
        stream_stall_timeout: Duration::from_secs(60),
    };
    let h = HttpServer::bind(addr, limits)?;
    h.register(reactor, base)?;
    Ok(h)
}

/// Answers a status request; returns false if `path` is not a status path.
pub fn answer_status(
    h: &mut HttpServer,
    reactor: &Reactor,
    conn: ConnId,
    method: Method,
    path: &str,
    st: &Status,
    json: &mut [u8],
) -> bool {
    if !matches!(method, Method::Get | Method::Head) {
        h.respond(reactor, conn, 405, "text/plain", b"method not allowed\n");
        return true;
    }
    match path {
        "/status.json" => match status::json(st, json) {
            Some(n) => h.respond(reactor, conn, 200, "application/json", &json[..n]),
            None => h.respond(reactor, conn, 500, "text/plain", b"status too large\n"),
        },
        "/" | "/index.html" => {
            let page = status::html(st, (st.role == "peer").then_some(""));
            h.respond(
                reactor,
                conn,
                200,
                "text/html; charset=utf-8",
                page.as_bytes(),
            );
        }
        "/metrics" => h.respond(
            reactor,
            conn,
            200,
            "text/plain; version=0.0.4",
            status::metrics(st).as_bytes(),
        ),
        _ => return false,
    }
    true
}
