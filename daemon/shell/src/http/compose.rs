//! Composing a response head (and body) into a slot's fixed buffer, without allocating.
//!
//! Invariants: [`compose`] writes only inside `out` and returns `None` rather than truncating; a
//! status outside 100..=999 becomes 500; header values reach it only after [`header_safe`]
//! (no CR, LF or other control characters: no header injection).

use std::fmt::{self, Write as _};

/// A `fmt::Write` into a fixed buffer; fails instead of growing.
pub(super) struct Fill<'a> {
    pub(super) buf: &'a mut [u8],
    pub(super) len: usize,
}

impl fmt::Write for Fill<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self
            .len
            .checked_add(s.len())
            .filter(|&e| e <= self.buf.len())
            .ok_or(fmt::Error)?;
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Writes status line, headers and (unless `head_only`) body into `out`; None if it won't fit.
/// `body` None: a stream's headers (no Content-Length).
pub(super) fn compose(
    out: &mut [u8],
    status: u16,
    ct: &str,
    body: Option<&[u8]>,
    extra: &str,
    head_only: bool,
) -> Option<usize> {
    let status = if (100..=999).contains(&status) {
        status
    } else {
        500
    };
    let mut w = Fill { buf: out, len: 0 };
    write!(
        w,
        "HTTP/1.0 {} {}\r\nContent-Type: {}\r\n",
        status,
        reason(status),
        ct
    )
    .ok()?;
    if let Some(b) = body {
        write!(w, "Content-Length: {}\r\n", b.len()).ok()?;
    }
    write!(
        w,
        "{extra}Connection: close\r\nCache-Control: no-cache\r\n\r\n"
    )
    .ok()?;
    let mut n = w.len;
    if let (Some(b), false) = (body, head_only) {
        out.get_mut(n..n + b.len())?.copy_from_slice(b);
        n += b.len();
    }
    Some(n)
}

/// No CR, LF or other control characters (header injection).
pub(super) fn header_safe(v: &str) -> bool {
    v.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
}

pub(super) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_bounds_and_head() {
        let mut out = [0u8; 160];
        let n = compose(&mut out, 404, "text/plain", Some(b"nope"), "", false).unwrap();
        assert_eq!(
            &out[..n],
            b"HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\
              Connection: close\r\nCache-Control: no-cache\r\n\r\nnope"
        );
        let h = compose(&mut out, 404, "text/plain", Some(b"nope"), "", true).unwrap();
        assert_eq!(h, n - 4);
        assert_eq!(
            compose(&mut out, 200, "x", Some(&[0; 100]), "", false),
            None
        );
        assert_eq!(
            compose(&mut out, 200, "x", Some(&[0; 100]), "", true).map(|n| n < 160),
            Some(true)
        );
        assert!(compose(&mut out, 7, "x", None, "", false)
            .is_some_and(|n| out[..n].starts_with(b"HTTP/1.0 500 ")));
        assert!(header_safe("text/html; charset=utf-8") && !header_safe("a\r\nSet-Cookie: x"));
    }
}
