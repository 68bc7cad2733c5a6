//! Tests of [`Sink`]: FIFO (no reader, reader, stalled reader), exec, UDP. Loopback and temp files
//! only; every loop is bounded by a deadline.

use super::*;
use crate::clock;
use std::io::Read as _;
use std::net::UdpSocket;
use std::path::PathBuf;

const TOKEN: Token = 9;

pub(crate) fn temp_path(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("tvmesh-sink-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

pub(crate) fn mkfifo(name: &str) -> PathBuf {
    let p = temp_path(name);
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &p,
        FileType::Fifo,
        Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    p
}

pub(crate) fn open_reader(p: &PathBuf) -> std::fs::File {
    let fd = rustix::fs::open(
        p,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .unwrap();
    std::fs::File::from(fd)
}

fn packets(n: usize) -> Vec<u8> {
    (0..n * 188)
        .map(|i| if i % 188 == 0 { 0x47 } else { i as u8 })
        .collect()
}

#[test]
fn fifo_without_reader_retries_then_delivers() {
    let p = mkfifo("noreader");
    let uri = SinkUri::File(p.clone());
    let r = Reactor::new(8).unwrap();
    let t0 = clock::now();
    let mut sink = Sink::open(&uri, t0);
    sink.register(&r, TOKEN);
    assert!(!sink.is_open());
    assert_eq!(sink.state(), "no reader");
    assert_eq!(sink.write(t0, &packets(1)), 0);
    assert_eq!(sink.next_wakeup(), Some(t0 + NO_READER_RETRY));
    // Not due yet: still closed. Due, still no reader: retried again later.
    sink.service(t0 + Duration::from_millis(100), &r);
    assert!(!sink.is_open());
    let t1 = t0 + NO_READER_RETRY;
    sink.service(t1, &r);
    assert_eq!(sink.next_wakeup(), Some(t1 + NO_READER_RETRY));

    let mut reader = open_reader(&p);
    let t2 = t1 + NO_READER_RETRY;
    sink.service(t2, &r);
    assert!(sink.is_open());
    assert_eq!(sink.state(), "open");
    let data = packets(10);
    assert_eq!(sink.write(t2, &data), data.len());
    let mut got = vec![0u8; data.len() + 10];
    let n = reader.read(&mut got).unwrap();
    assert_eq!(&got[..n], &data[..]);

    // The reader leaves: EPIPE closes the sink, which waits for the next reader.
    drop(reader);
    assert_eq!(sink.write(t2, &data), 0);
    assert!(!sink.is_open());
    assert_eq!(sink.state(), "no reader");
    assert_eq!(sink.next_wakeup(), Some(t2 + NO_READER_RETRY));
    std::fs::remove_file(&p).unwrap();
}

#[test]
fn stalled_fifo_reader_gives_zero_without_blocking() {
    let p = mkfifo("stalled");
    let mut reader = open_reader(&p);
    let mut r = Reactor::new(8).unwrap();
    let now = clock::now();
    let mut sink = Sink::open(&SinkUri::File(p.clone()), now);
    sink.register(&r, TOKEN);
    assert!(sink.is_open());
    // Fill the pipe (64 KiB by default; bounded at 16 MiB in case it is huge).
    let data = packets(7);
    let mut total = 0;
    let mut full = false;
    while total < 16 << 20 {
        let n = sink.write(now, &data);
        if n == 0 {
            full = true;
            break;
        }
        total += n;
    }
    assert!(full, "pipe never filled after {total} bytes");
    assert!(sink.is_open());
    // Asking for writability: nothing ready while full...
    sink.want_write(&r, true);
    sink.want_write(&r, true); // unchanged: no-op
    assert!(r.wait(now, Some(now)).unwrap().is_empty());
    // ...until the reader drains.
    let mut buf = vec![0u8; 1 << 20];
    let mut drained = 0;
    while drained < total {
        match reader.read(&mut buf) {
            Ok(n) => drained += n,
            Err(_) => break,
        }
    }
    assert_eq!(drained, total);
    let t = clock::now();
    let ready = r.wait(t, Some(t + Duration::from_secs(1))).unwrap();
    assert_eq!(
        ready.first().map(|x| (x.token, x.writable)),
        Some((TOKEN, true))
    );
    sink.want_write(&r, false);
    assert!(r.wait(t, Some(t)).unwrap().is_empty());
    assert_eq!(sink.write(t, &data), data.len());
    std::fs::remove_file(&p).unwrap();
}

#[test]
fn regular_file_truncated_at_first_open() {
    let p = temp_path("regular.ts");
    std::fs::write(&p, b"old contents").unwrap();
    let now = clock::now();
    let mut sink = Sink::open(&SinkUri::File(p.clone()), now);
    let data = packets(3);
    assert_eq!(sink.write(now, &data), data.len());
    assert_eq!(std::fs::read(&p).unwrap(), data);
    std::fs::remove_file(&p).unwrap();
    // A directory cannot be opened for writing: retried, no panic.
    let mut sink = Sink::open(&SinkUri::File(std::env::temp_dir()), now);
    assert_eq!(sink.state(), "retrying");
    assert_eq!(sink.write(now, &data), 0);
    assert_eq!(sink.next_wakeup(), Some(now + Duration::from_millis(500)));
}

/// Polls `cond` every 10 ms for up to 3 s.
fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while std::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

#[test]
fn exec_sink_delivers_to_command() {
    let out = temp_path("exec-out.ts");
    let uri: SinkUri = format!("exec:cat > '{}'", out.display()).parse().unwrap();
    let r = Reactor::new(8).unwrap();
    let now = clock::now();
    let mut sink = Sink::open(&uri, now);
    sink.register(&r, TOKEN);
    assert!(sink.is_open());
    let data = packets(100);
    let mut sent = 0;
    assert!(eventually(|| {
        sent += sink.write(now, &data[sent..]);
        sent == data.len()
    }));
    sink.service(now, &r);
    assert!(sink.is_open());
    assert_eq!(sink.next_wakeup(), Some(now + CHILD_CHECK));
    drop(sink); // closes cat's stdin: it finishes the file and exits
    assert!(eventually(|| std::fs::read(&out).is_ok_and(|b| b == data)));
    std::fs::remove_file(&out).unwrap();
}

#[test]
fn exec_sink_respawns_exited_command() {
    let uri: SinkUri = "exec:exit 3".parse().unwrap();
    let r = Reactor::new(8).unwrap();
    let t0 = clock::now();
    let mut sink = Sink::open(&uri, t0);
    assert!(sink.is_open());
    assert!(eventually(|| {
        sink.service(t0, &r);
        !sink.is_open()
    }));
    assert_eq!(sink.state(), "retrying");
    assert_eq!(sink.write(t0, &packets(1)), 0);
    assert_eq!(sink.next_wakeup(), Some(t0 + Duration::from_secs(1)));
    // Respawned when due; the next exit backs off twice as long.
    let t1 = t0 + Duration::from_secs(1);
    sink.service(t1, &r);
    assert!(sink.is_open());
    assert!(eventually(|| {
        sink.service(t1, &r);
        !sink.is_open()
    }));
    assert_eq!(sink.next_wakeup(), Some(t1 + Duration::from_secs(2)));
}

#[test]
fn exec_sink_child_closing_stdin_is_terminated() {
    // The shell closes its stdin but keeps running: EPIPE, SIGTERM, reaped by service.
    let uri: SinkUri = "exec:exec 0<&-; sleep 30".parse().unwrap();
    let r = Reactor::new(8).unwrap();
    let t0 = clock::now();
    let mut sink = Sink::open(&uri, t0);
    let data = packets(7);
    assert!(eventually(|| sink.write(t0, &data) == 0 && !sink.is_open()));
    assert_eq!(sink.state(), "retrying");
    assert_eq!(sink.dying.len(), 1);
    assert!(eventually(|| {
        sink.service(t0, &r);
        sink.dying.is_empty()
    }));
}

#[test]
fn udp_sink_sends_datagrams_and_ignores_missing_listener() {
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let addr = rx.local_addr().unwrap();
    let now = clock::now();
    let mut sink = Sink::open(&SinkUri::Udp(addr), now);
    assert!(sink.is_open());
    let data = packets(7);
    for _ in 0..3 {
        assert_eq!(sink.write(now, &data), 1316);
    }
    let mut buf = [0u8; 2048];
    for _ in 0..3 {
        let (n, _) = rx.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], &data[..]);
    }
    // Nobody listens any more: ICMP port unreachable comes back as ECONNREFUSED; still accepted.
    drop(rx);
    for _ in 0..10 {
        assert_eq!(sink.write(now, &data), 1316);
    }
    assert!(sink.is_open());
    assert_eq!(sink.state(), "open");
    assert_eq!(sink.next_wakeup(), None);
}
