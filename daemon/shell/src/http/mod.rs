//! The tiny HTTP/1.0 server: admin page, `/status.json`, and `/stream/NAME.ts` (a never-ending
//! MPEG-TS response), run inside the daemon's single-threaded epoll loop.
//!
//! Invariants (detailed in `server.rs`, `slot.rs`, `respond.rs` and `request.rs`): memory and
//! connections are bounded and allocated at bind; nothing blocks; every connection but a
//! keeping-up stream has a deadline; network input never panics; one response per connection,
//! then close (no keep-alive). `compose.rs` writes response heads into the fixed buffers.

mod compose;
mod request;
mod respond;
pub mod server;
mod slot;
#[cfg(test)]
mod tests;

pub use server::{ConnId, HttpLimits, HttpServer, Method};

/// Appends `s` to `out` with `& < > " '` escaped, for text and attribute values in HTML.
pub fn html_escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}
