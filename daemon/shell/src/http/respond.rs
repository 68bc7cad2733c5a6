//! The application's side of the HTTP server: requests handed out ([`HttpServer::poll_request`]),
//! answers and streams taken in ([`HttpServer::respond`], [`HttpServer::start_stream`],
//! [`HttpServer::stream_write`]), closes; and the send path they share (queue a response in the
//! slot's buffer, flush it, half-close and drain).
//!
//! Invariants (the server's, `server.rs`): a [`ConnId`] handed out stays reserved until answered,
//! closed by the application, or reported by `poll_closed`; calls with an id that does not await
//! that call are ignored; a response that does not fit the slot's buffer becomes a 500.

use super::compose::{compose, header_safe, reason, Fill};
use super::request::Method;
use super::server::{ConnId, HttpServer};
use super::slot::{Slot, State};
use crate::reactor::Reactor;
use log::{debug, warn};
use rustix::io::Errno;
use rustix::net::{self, SendFlags, Shutdown};
use std::fmt::Write as _;

impl HttpServer {
    pub(super) fn reply_error(&mut self, i: usize, reactor: &Reactor, status: u16) {
        let extra = if status == 405 {
            "Allow: GET, HEAD, POST\r\n"
        } else {
            ""
        };
        let mut body = [0u8; 64];
        let mut w = Fill {
            buf: &mut body,
            len: 0,
        };
        let _ = writeln!(w, "{} {}", status, reason(status)); // fits: reasons are short
        let n = w.len;
        debug!("http: slot {i}: answering {status}");
        self.queue_response(
            i,
            reactor,
            status,
            "text/plain",
            Some(&body[..n]),
            extra,
            false,
        );
    }

    /// Queues a response (body None: a stream's headers) in slot `i`'s buffer and starts sending.
    #[allow(clippy::too_many_arguments)]
    fn queue_response(
        &mut self,
        i: usize,
        reactor: &Reactor,
        status: u16,
        content_type: &str,
        body: Option<&[u8]>,
        extra: &str,
        head_only: bool,
    ) {
        let s = &mut self.slots[i];
        let n = compose(&mut s.out, status, content_type, body, extra, head_only).or_else(|| {
            warn!(
                "http: response ({status}, {} bytes) does not fit; sending 500",
                body.map_or(0, <[u8]>::len)
            );
            compose(
                &mut s.out,
                500,
                "text/plain",
                Some(b"500 response too large\n"),
                "",
                head_only,
            )
        });
        s.out_start = 0;
        s.out_end = n.unwrap_or(0); // the 500 always fits: max_response >= 512
        if body.is_none() && !head_only {
            s.state = State::Streaming { full_since: None };
            return self.flush_stream_headers(i, reactor);
        }
        s.state = State::Responding { since: self.now };
        self.flush_response(i, reactor);
    }

    fn flush_stream_headers(&mut self, i: usize, reactor: &Reactor) {
        let token = self.token(i);
        let s = &mut self.slots[i];
        match s.flush() {
            Ok(true) => s.set_interest(reactor, token, true, false),
            Ok(false) => {
                s.state = State::Streaming {
                    full_since: Some(self.now),
                };
                s.set_interest(reactor, token, true, true);
            }
            Err(e) => {
                debug!("http: stream {i}: {e}");
                self.close_slot(i, reactor);
            }
        }
    }

    pub(super) fn flush_response(&mut self, i: usize, reactor: &Reactor) {
        let token = self.token(i);
        let s = &mut self.slots[i];
        match s.flush() {
            Ok(true) => {
                // All sent: half-close and wait for the peer's close (see State::Draining).
                if let Some(fd) = &s.fd {
                    let _ = net::shutdown(fd, Shutdown::Write);
                }
                s.state = State::Draining { since: self.now };
                s.set_interest(reactor, token, true, false);
                self.drain(i, reactor);
            }
            Ok(false) => s.set_interest(reactor, token, false, true),
            Err(e) => {
                debug!("http: slot {i}: {e}");
                self.close_slot(i, reactor);
            }
        }
    }

    /// The next complete request not yet handed out: (conn, method, decoded path, raw query).
    /// Each request is returned once; the application must then answer it (see the module docs).
    pub fn poll_request(&mut self) -> Option<(ConnId, Method, &str, &str)> {
        let i = self.slots.iter().position(|s| {
            matches!(
                s.state,
                State::Request {
                    delivered: false,
                    ..
                }
            )
        })?;
        let s = &mut self.slots[i];
        let head = s.head.as_ref()?; // always Some in Request state
        if let State::Request { since, .. } = s.state {
            s.state = State::Request {
                since,
                delivered: true,
            };
        }
        s.holds = true;
        // Both were checked to be UTF-8 by the parser; "" is never returned in practice.
        let path = std::str::from_utf8(&s.req[head.path.clone()]).unwrap_or("");
        let query = std::str::from_utf8(&s.req[head.query.clone()]).unwrap_or("");
        Some((ConnId(i), head.method, path, query))
    }

    /// The body of a POST request awaiting its answer (empty otherwise).
    #[allow(dead_code)] // tested here; for the control endpoint and viewer limits to come
    pub fn body(&self, conn: ConnId) -> &[u8] {
        match self.slots.get(conn.0) {
            Some(
                s @ Slot {
                    state: State::Request { .. },
                    head: Some(h),
                    ..
                },
            ) => s
                .req
                .get(h.body_start..h.body_start + h.content_length)
                .unwrap_or(&[]),
            _ => &[],
        }
    }

    /// Answers `conn` (HTTP/1.0, Content-Length, Connection: close, Cache-Control: no-cache) and
    /// closes once sent. HEAD gets the headers only. A response larger than `max_response`, or a
    /// content type with control characters, becomes a 500. Ignored unless `conn` awaits an answer.
    pub fn respond(
        &mut self,
        reactor: &Reactor,
        conn: ConnId,
        status: u16,
        content_type: &str,
        body: &[u8],
    ) {
        let Some(s) = self.slots.get_mut(conn.0) else {
            return;
        };
        match s.state {
            State::Request { .. } => {}
            State::Closed => {
                // Gone before the answer; the answer settles it, so no poll_closed report.
                s.holds = false;
                s.state = State::Free;
                return;
            }
            _ => return debug!("http: respond to {conn:?} in state {:?} ignored", s.state),
        }
        s.holds = false;
        let head_only = s.method() == Method::Head;
        let (status, content_type, body) = if header_safe(content_type) {
            (status, content_type, body)
        } else {
            (500, "text/plain", &b"500 bad content type\n"[..])
        };
        self.queue_response(
            conn.0,
            reactor,
            status,
            content_type,
            Some(body),
            "",
            head_only,
        );
    }

    /// Answers `conn` with 200 and headers without Content-Length; the connection becomes a
    /// stream fed by [`Self::stream_write`] until it closes (reported by [`Self::poll_closed`]) or
    /// the application calls [`Self::close`]. For HEAD only the headers are sent, and the
    /// connection is reported closed once they are.
    pub fn start_stream(&mut self, reactor: &Reactor, conn: ConnId, content_type: &str) {
        let Some(s) = self.slots.get(conn.0) else {
            return;
        };
        if !matches!(s.state, State::Request { .. }) {
            return; // a Closed one stays Closed and is reported by poll_closed
        }
        let head_only = s.method() == Method::Head;
        if !header_safe(content_type) {
            let body = &b"500 bad content type\n"[..];
            return self.queue_response(
                conn.0,
                reactor,
                500,
                "text/plain",
                Some(body),
                "",
                head_only,
            );
        }
        self.queue_response(conn.0, reactor, 200, content_type, None, "", head_only);
    }

    /// Sends as much of `bytes` as the socket takes now; returns how much. 0 when the socket is
    /// full (the stream then waits for writability, and appears in
    /// [`Self::writable_streams`] again once it drains), or when `conn` is not a live stream.
    pub fn stream_write(&mut self, reactor: &Reactor, conn: ConnId, bytes: &[u8]) -> usize {
        let i = conn.0;
        match self.slots.get(i).map(|s| s.state) {
            Some(State::Streaming { full_since: None }) if !bytes.is_empty() => {}
            _ => return 0,
        }
        let token = self.token(i);
        let s = &mut self.slots[i];
        let Some(fd) = &s.fd else { return 0 };
        loop {
            match net::send(fd, bytes, SendFlags::NOSIGNAL) {
                Ok(n) => return n,
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => {
                    s.state = State::Streaming {
                        full_since: Some(self.now),
                    };
                    s.set_interest(reactor, token, true, true);
                    return 0;
                }
                Err(e) => {
                    debug!("http: stream {i}: {e}");
                    self.close_slot(i, reactor);
                    return 0;
                }
            }
        }
    }

    /// Whether `conn` is a stream whose socket is not known to be full.
    #[allow(dead_code)] // tested here; for the control endpoint and viewer limits to come
    pub fn stream_writable(&self, conn: ConnId) -> bool {
        self.slots
            .get(conn.0)
            .is_some_and(|s| s.state == State::Streaming { full_since: None })
    }

    /// Streams whose socket is not known to be full.
    #[allow(dead_code)] // tested here; for the control endpoint and viewer limits to come
    pub fn writable_streams(&self) -> impl Iterator<Item = ConnId> + '_ {
        (0..self.slots.len())
            .map(ConnId)
            .filter(|&c| self.stream_writable(c))
    }

    /// A connection the application held (a stream, or a request it had not answered) whose
    /// socket is gone: peer hang-up, error or timeout. Each is reported once; the id is then free.
    pub fn poll_closed(&mut self) -> Option<ConnId> {
        let i = self.slots.iter().position(|s| s.state == State::Closed)?;
        let s = &mut self.slots[i];
        s.state = State::Free;
        s.holds = false;
        Some(ConnId(i))
    }

    /// Closes `conn` at the application's request (e.g. its channel ended). Not reported by
    /// poll_closed. Unsent stream bytes are lost; a queued plain response is unaffected.
    #[allow(dead_code)] // tested here; for the control endpoint and viewer limits to come
    pub fn close(&mut self, reactor: &Reactor, conn: ConnId) {
        let Some(s) = self.slots.get_mut(conn.0) else {
            return;
        };
        if !s.holds {
            return;
        }
        s.holds = false;
        match s.state {
            State::Closed => s.state = State::Free,
            State::Responding { .. } | State::Draining { .. } => {} // a HEAD stream finishing
            _ => self.close_slot(conn.0, reactor),
        }
    }
}
