//! Request parsing for the tiny HTTP/1.0 server: pure functions over the bytes a connection has
//! received so far. No I/O, no allocation.
//!
//! Invariants:
//! - Nothing here panics, whatever the input (all indexing is bounds-checked by construction and
//!   fuzzed by the tests below).
//! - Every range returned lies inside the buffer passed in.
//! - A [`Head`] returned by [`parse_head`] has a path that starts with `/`, has been
//!   percent-decoded in place, is valid UTF-8, contains no `..` and no control bytes; its query is
//!   raw (not decoded) visible ASCII, hence valid UTF-8 too.
//! - Errors are HTTP status codes to answer with before closing (400, 405, 411, 413).

use std::ops::Range;

/// A request method. The server answers anything but GET, HEAD and POST with 405 itself, so
/// [`Method::Other`] never reaches the application.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// HEAD: answered like GET, without the body.
    Head,
    /// POST, with a `Content-Length` body.
    Post,
    /// Anything else.
    Other,
}

/// A parsed request head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Head {
    pub method: Method,
    /// The decoded path, within the buffer.
    pub path: Range<usize>,
    /// The raw query (after `?`, before any `#`), within the buffer; empty if none.
    pub query: Range<usize>,
    /// Where the body starts: just after the blank line.
    pub body_start: usize,
    /// Body length (POST only; zero otherwise).
    pub content_length: usize,
}

/// Looks for the blank line ending the head in `buf`, resuming at `from` (a line start returned
/// by an earlier call, or 0). `Ok(body_start)` if found, else `Err(resume_at)`.
/// Lines end with LF, optionally preceded by CR.
pub(crate) fn find_head_end(buf: &[u8], from: usize) -> Result<usize, usize> {
    let mut pos = from.min(buf.len());
    while let Some(off) = buf[pos..].iter().position(|&b| b == b'\n') {
        let nl = pos + off;
        let line = trim_cr(&buf[pos..nl]);
        if line.is_empty() {
            // (A blank first line ends an empty head, which parse_head rejects.)
            return Ok(nl + 1);
        }
        pos = nl + 1;
    }
    Err(pos)
}

fn trim_cr(line: &[u8]) -> &[u8] {
    match line.split_last() {
        Some((b'\r', rest)) => rest,
        _ => line,
    }
}

/// Parses the head `buf[..body_start]` (as found by [`find_head_end`]), percent-decoding the path
/// in place. `max_request` bounds head plus body. Returns the status to answer with on error.
pub(crate) fn parse_head(
    buf: &mut [u8],
    body_start: usize,
    max_request: usize,
) -> Result<Head, u16> {
    let head = buf.get(..body_start).ok_or(400u16)?;
    let mut lines = head.split(|&b| b == b'\n').map(trim_cr);
    let request_line = lines.next().ok_or(400u16)?;

    // Request line: METHOD SP TARGET SP HTTP/1.x, exactly.
    let mut parts = request_line.split(|&b| b == b' ');
    let (Some(m), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(400);
    };
    if m.is_empty() || !m.iter().all(|b| b.is_ascii_uppercase()) {
        return Err(400);
    }
    if !(version.len() == 8 && version.starts_with(b"HTTP/1.") && version[7].is_ascii_digit()) {
        return Err(400);
    }
    if target.first() != Some(&b'/') || !target.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Err(400);
    }

    // Headers: only Content-Length and Transfer-Encoding matter; the rest must merely be well formed.
    let mut content_length: Option<usize> = None;
    for line in lines {
        if line.is_empty() {
            break;
        }
        let colon = line.iter().position(|&b| b == b':').ok_or(400u16)?;
        let name = &line[..colon];
        if name.is_empty() || name.iter().any(|&b| b <= b' ' || b == 0x7f) {
            return Err(400); // also rejects obsolete line folding (leading whitespace)
        }
        let value = trim_ows(&line[colon + 1..]);
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = parse_decimal(value).ok_or(400u16)?;
            if content_length.is_some_and(|c| c != n) {
                return Err(400);
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            return Err(400); // HTTP/1.0: no chunked bodies
        }
    }

    let method = match m {
        b"GET" => Method::Get,
        b"HEAD" => Method::Head,
        b"POST" => Method::Post,
        _ => return Err(405),
    };
    let content_length = if method == Method::Post {
        let n = content_length.ok_or(411u16)?;
        if n > max_request.saturating_sub(body_start) {
            return Err(413);
        }
        n
    } else {
        0
    };

    // Target: path [? query] [# fragment]. Offsets are relative to the buffer start.
    // The request line starts the buffer and its parts are separated by single spaces.
    let t0 = m.len() + 1;
    let t_end = t0
        + target
            .iter()
            .position(|&b| b == b'#')
            .unwrap_or(target.len());
    let q = buf[t0..t_end].iter().position(|&b| b == b'?');
    let (path_end, query) = match q {
        Some(i) => (t0 + i, t0 + i + 1..t_end),
        None => (t_end, t_end..t_end),
    };
    let decoded_end = decode_path(buf, t0..path_end)?;
    Ok(Head {
        method,
        path: t0..decoded_end,
        query,
        body_start,
        content_length,
    })
}

fn trim_ows(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |i| i + 1);
    &v[start..end.max(start)]
}

fn parse_decimal(v: &[u8]) -> Option<usize> {
    if v.is_empty() || v.len() > 12 {
        return None;
    }
    v.iter().try_fold(0usize, |acc, &b| {
        let d = (b as char).to_digit(10)?;
        acc.checked_mul(10)?.checked_add(d as usize)
    })
}

/// Percent-decodes `buf[range]` in place (it only shrinks) and checks the result. Returns the end
/// of the decoded path.
fn decode_path(buf: &mut [u8], range: Range<usize>) -> Result<usize, u16> {
    let (mut r, mut w) = (range.start, range.start);
    while r < range.end {
        let b = buf[r];
        let byte = if b == b'%' {
            let hi = buf
                .get(r + 1)
                .and_then(|&h| (h as char).to_digit(16))
                .filter(|_| r + 1 < range.end);
            let lo = buf
                .get(r + 2)
                .and_then(|&l| (l as char).to_digit(16))
                .filter(|_| r + 2 < range.end);
            let (Some(hi), Some(lo)) = (hi, lo) else {
                return Err(400);
            };
            r += 3;
            (hi * 16 + lo) as u8
        } else {
            r += 1;
            b
        };
        if byte < 0x20 || byte == 0x7f {
            return Err(400);
        }
        buf[w] = byte;
        w += 1;
    }
    let path = std::str::from_utf8(&buf[range.start..w]).map_err(|_| 400u16)?;
    if path.contains("..") {
        return Err(400);
    }
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &[u8]) -> Result<(Method, String, String, usize), u16> {
        let mut buf = s.to_vec();
        let end = find_head_end(&buf, 0).map_err(|_| 0u16)?;
        let h = parse_head(&mut buf, end, 2048)?;
        let path = String::from_utf8(buf[h.path.clone()].to_vec()).unwrap();
        let query = String::from_utf8(buf[h.query.clone()].to_vec()).unwrap();
        Ok((h.method, path, query, h.content_length))
    }

    #[test]
    fn finds_head_end_incrementally() {
        let buf = b"GET / HTTP/1.0\r\nHost: a\r\n\r\nBODY";
        assert_eq!(find_head_end(&buf[..10], 0), Err(0));
        assert_eq!(find_head_end(&buf[..20], 0), Err(16));
        assert_eq!(find_head_end(&buf[..26], 16), Err(25));
        assert_eq!(find_head_end(buf, 25), Ok(27));
        assert_eq!(find_head_end(b"GET / HTTP/1.0\n\n", 0), Ok(16));
    }

    #[test]
    fn parses_get_with_query_and_decodes_path() {
        let r =
            parse(b"GET /stream/BBC%20One.ts?x=1&y=%41#frag HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
        assert_eq!(
            r,
            (
                Method::Get,
                "/stream/BBC One.ts".into(),
                "x=1&y=%41".into(),
                0
            )
        );
        let r = parse(b"HEAD / HTTP/1.0\r\n\r\n").unwrap();
        assert_eq!(r, (Method::Head, "/".into(), "".into(), 0));
        let r = parse(b"GET /caf%C3%A9 HTTP/1.0\r\n\r\n").unwrap();
        assert_eq!(r.1, "/caf\u{e9}");
    }

    #[test]
    fn post_needs_content_length_that_fits() {
        let r = parse(b"POST /x HTTP/1.0\r\ncontent-LENGTH:  4 \r\n\r\n").unwrap();
        assert_eq!(r, (Method::Post, "/x".into(), "".into(), 4));
        assert_eq!(parse(b"POST /x HTTP/1.0\r\n\r\n"), Err(411));
        assert_eq!(
            parse(b"POST /x HTTP/1.0\r\nContent-Length: 99999\r\n\r\n"),
            Err(413)
        );
        assert_eq!(
            parse(b"POST /x HTTP/1.0\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            Err(400)
        );
        assert_eq!(
            parse(b"POST /x HTTP/1.0\r\nContent-Length: -1\r\n\r\n"),
            Err(400)
        );
        assert_eq!(
            parse(b"POST /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(400)
        );
    }

    #[test]
    fn rejects_bad_requests() {
        assert_eq!(parse(b"DELETE / HTTP/1.0\r\n\r\n"), Err(405));
        for bad in [
            &b"\r\n\r\n"[..],
            b"GET / HTTP/2.0\r\n\r\n",
            b"GET /  HTTP/1.0\r\n\r\n",
            b"GET http://a/ HTTP/1.0\r\n\r\n",
            b"GET / HTTP/1.0 x\r\n\r\n",
            b"get / HTTP/1.0\r\n\r\n",
            b"GET /../etc/passwd HTTP/1.0\r\n\r\n",
            b"GET /%2e%2e/x HTTP/1.0\r\n\r\n",
            b"GET /a%2 HTTP/1.0\r\n\r\n",
            b"GET /a%zz HTTP/1.0\r\n\r\n",
            b"GET /a%00 HTTP/1.0\r\n\r\n",
            b"GET /a%ff HTTP/1.0\r\n\r\n",
            b"GET /\xc3\xa9 HTTP/1.0\r\n\r\n",
            b"GET / HTTP/1.0\r\nNoColon\r\n\r\n",
            b"GET / HTTP/1.0\r\n folded: x\r\n\r\n",
        ] {
            assert_eq!(parse(bad), Err(400), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn percent_at_end_of_path_before_query_is_rejected() {
        // "%4" then "?": the second hex digit must not be taken from the query.
        assert_eq!(parse(b"GET /a%4?1 HTTP/1.0\r\n\r\n"), Err(400));
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        // A small deterministic fuzz: random mutations of a valid request.
        let base = b"POST /a%41b?q=1 HTTP/1.0\r\nContent-Length: 3\r\nX: y\r\n\r\nabc";
        let alphabet = b"\r\n :%?#/.GETPOSTHEAD0123456789aZ\x00\xff";
        let mut seed = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let mut buf = base.to_vec();
            for _ in 0..(next() % 4 + 1) {
                let i = (next() as usize) % buf.len();
                match next() % 3 {
                    0 => buf[i] = alphabet[(next() as usize) % alphabet.len()],
                    1 => {
                        buf.remove(i);
                    }
                    _ => buf.insert(i, alphabet[(next() as usize) % alphabet.len()]),
                }
            }
            let from = (next() as usize) % (buf.len() + 2);
            if let Ok(end) = find_head_end(&buf, from) {
                if let Ok(h) = parse_head(&mut buf, end, 64) {
                    assert!(h.path.end <= buf.len() && h.query.end <= buf.len());
                    assert!(std::str::from_utf8(&buf[h.path.clone()]).is_ok());
                }
            }
        }
    }
}
