//! The directory service end to end in memory: a root's [`DirServer`] cut into pages, a box's
//! [`DirFetch`] joining them; two roots; lost answers; hostile pages; the answer rate bound.

use super::*;
use crate::wire::MAX_DATAGRAM;
use crate::zap::publish::{is_request, DirServer};
use crate::zap::Entry;
use alloc::format;
use alloc::string::ToString;

fn addr(i: u8) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, i], 9000))
}

fn dir_of(numbers: core::ops::Range<u16>, desc_len: usize) -> Directory {
    let mut d = Directory::new(1000);
    for n in numbers {
        d.insert(Entry {
            number: n,
            name: format!("ch{n}"),
            description: "d".repeat(desc_len),
            bitrate_kbps: 1000 + u32::from(n),
            root: 0,
        })
        .unwrap();
    }
    d
}

/// Runs fetch against servers (root i at addr(i)) until quiet; `lose` drops every n-th answer.
fn run(f: &mut DirFetch, servers: &mut [DirServer], dir: &mut Directory, lose: usize, ms: u64) {
    let me = SocketAddr::from(([198, 51, 100, 1], 5000));
    let mut buf = [0u8; MAX_DATAGRAM];
    let mut sent = 0usize;
    for step in 0..ms {
        let now = Instant::from_millis(step);
        while let Some(t) = f.poll_transmit(now, &mut buf) {
            assert!(is_request(&buf[..t.len]));
            let i = usize::from(
                t.dst
                    .ip()
                    .to_string()
                    .rsplit('.')
                    .next()
                    .unwrap()
                    .parse::<u8>()
                    .unwrap(),
            );
            servers[i].handle_request(now, me, &buf[..t.len]);
        }
        for (i, s) in servers.iter_mut().enumerate() {
            let mut out = [0u8; MAX_DATAGRAM];
            while let Some(t) = s.poll_transmit(now, &mut out) {
                sent += 1;
                if lose > 0 && sent % lose == 0 {
                    continue;
                }
                assert!(f.handle_datagram(now, addr(i as u8), &out[..t.len], dir));
            }
        }
    }
}

#[test]
fn pages_join_into_the_directory() {
    let published = dir_of(1..41, 200);
    let mut server = DirServer::new(&published, 100, 64).unwrap();
    assert!(server.pages() >= 6, "{} pages", server.pages());
    let mut f = DirFetch::new(FetchConfig::default(), &[addr(0)], 7, Instant::ZERO);
    let mut dir = Directory::new(100);
    run(&mut f, core::slice::from_mut(&mut server), &mut dir, 0, 50);
    assert_eq!(dir.entries(), published.entries());
    assert_eq!(f.rounds(0), 1);
    assert_eq!(
        f.poll_event(),
        Some(FetchEvent::Updated {
            root: 0,
            entries: 40
        })
    );
    // Every page was asked once: no retries were needed.
    assert_eq!(server.stats().answered as usize, server.pages());
}

#[test]
fn lost_answers_are_asked_again() {
    let published = dir_of(1..41, 200);
    let mut server = DirServer::new(&published, 100, 64).unwrap();
    let mut f = DirFetch::new(FetchConfig::default(), &[addr(0)], 7, Instant::ZERO);
    let mut dir = Directory::new(100);
    run(
        &mut f,
        core::slice::from_mut(&mut server),
        &mut dir,
        3,
        5000,
    );
    assert_eq!(dir.entries(), published.entries());
    assert!(server.stats().answered as usize > server.pages());
}

#[test]
fn two_roots_merge_by_index() {
    let mut servers = [
        DirServer::new(&dir_of(1..4, 5), 100, 8).unwrap(),
        DirServer::new(&dir_of(3..6, 9), 100, 8).unwrap(),
    ];
    let mut f = DirFetch::new(
        FetchConfig::default(),
        &[addr(0), addr(1)],
        1,
        Instant::ZERO,
    );
    let mut dir = Directory::new(100);
    run(&mut f, &mut servers, &mut dir, 0, 50);
    let got: alloc::vec::Vec<(u16, u8)> =
        dir.entries().iter().map(|e| (e.number, e.root)).collect();
    assert_eq!(got, [(1, 0), (2, 0), (3, 0), (4, 1), (5, 1)]);
    assert_eq!(dir.get(3).unwrap().description, "ddddd");
}

#[test]
fn hostile_pages_change_nothing() {
    let mut f = DirFetch::new(FetchConfig::default(), &[addr(0)], 7, Instant::ZERO);
    let mut dir = dir_of(1..3, 0);
    let before = dir.entries().to_vec();
    let mut buf = [0u8; MAX_DATAGRAM];
    let req = f.poll_transmit(Instant::ZERO, &mut buf).unwrap();
    let nonce = match Message::parse(&buf[..req.len]) {
        Ok(Message::DirRequest { nonce, page: 0 }) => nonce,
        other => panic!("{other:?}"),
    };
    // A page with a bad name, one with a wrong nonce, a truncated one, one from a stranger.
    let bad_body = [1u8, 0, 1, 0, 9, 0, 0, 0, 0, 2, b'a', b' ', 0];
    for (n, body, from) in [
        (nonce, &bad_body[..], addr(0)),
        (nonce ^ 1, &bad_body[..3], addr(0)),
        (nonce, &bad_body[..7], addr(0)),
        (nonce, &bad_body[..], addr(9)),
    ] {
        let m = Message::Directory {
            nonce: n,
            page: 0,
            pages: 1,
            body,
        };
        let len = m.emit(&mut buf).unwrap();
        let ours = f.handle_datagram(Instant::ZERO, from, &buf[..len], &mut dir);
        assert_eq!(ours, from == addr(0));
    }
    assert_eq!(dir.entries(), &before[..]);
    assert!(matches!(
        f.poll_event(),
        Some(FetchEvent::Refused { root: 0, .. })
    ));
    // Not a DIRECTORY at all: handed on.
    assert!(!f.handle_datagram(Instant::ZERO, addr(0), &[0xC1, 0x10, 0, 0], &mut dir));
}

#[test]
fn answers_are_rate_bounded() {
    let mut server = DirServer::new(&dir_of(1..3, 0), 10, 32).unwrap();
    let req = [0xC1, 0x40, 0, 0, 0, 0, 0, 1, 0];
    for _ in 0..100 {
        server.handle_request(Instant::ZERO, addr(1), &req);
    }
    // A page that does not exist is dropped.
    server.handle_request(Instant::ZERO, addr(1), &[0xC1, 0x40, 0, 0, 0, 0, 0, 1, 5]);
    let mut buf = [0u8; MAX_DATAGRAM];
    let mut n = 0;
    while server.poll_transmit(Instant::ZERO, &mut buf).is_some() {
        n += 1;
    }
    assert_eq!(n, 10, "at most per_second answers per second");
    assert_eq!(server.poll_timeout(), Some(Instant::from_millis(1000)));
    assert_eq!(server.stats().dropped, 100 - 32 + 1);
}
