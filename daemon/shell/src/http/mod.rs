//! The tiny HTTP/1.0 server: status page and /stream/NAME.ts. Owned by the HTTP work.
