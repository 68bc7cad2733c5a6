//! DVB sink tests: the filters a fake demux receives for each set-up, refiltering on PMT change
//! and flush, the ioctl structure layout, and back-pressure through a pipe shrunk to 4 KiB with a
//! slow reader. FIFOs in the temp dir only; every loop bounded by a deadline.

use super::*;
use crate::clock;
use crate::io::sink::tests::open_reader;
use crate::reactor::Reactor;
use std::io::Read as _;
use std::time::Duration;

const TOKEN: crate::reactor::Token = 5;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Call {
    Filter(Option<u32>, DmxPesFilterParams),
    Clear,
}

#[derive(Default)]
pub(crate) struct FakeDmx {
    pub(crate) calls: Vec<Call>,
}

impl DmxOps for FakeDmx {
    fn add_filter(&mut self, source: Option<u32>, p: &DmxPesFilterParams) -> io::Result<()> {
        self.calls.push(Call::Filter(source, *p));
        Ok(())
    }
    fn clear(&mut self) {
        self.calls.push(Call::Clear);
    }
}

fn packet(head: &[u8]) -> Vec<u8> {
    let mut b = vec![0xFF; 188];
    b[..head.len()].copy_from_slice(head);
    b
}

// PAT (PMT PID 0x1000) and PMT (video 0x100 H.264 = PCR, audio 0x101 AAC) from ffmpeg.
const PAT: &[u8] = &[
    0x47, 0x40, 0x00, 0x10, 0x00, 0x00, 0xB0, 0x0D, 0x00, 0x01, 0xC1, 0x00, 0x00, 0x00, 0x01, 0xF0,
    0x00, 0x2A, 0xB1, 0x04, 0xB2,
];
const PMT: &[u8] = &[
    0x47, 0x50, 0x00, 0x10, 0x00, 0x02, 0xB0, 0x17, 0x00, 0x01, 0xC1, 0x00, 0x00, 0xE1, 0x00, 0xF0,
    0x00, 0x1B, 0xE1, 0x00, 0xF0, 0x00, 0x0F, 0xE1, 0x01, 0xF0, 0x00, 0x2F, 0x44, 0xB9, 0x9B,
];

/// PAT, PMT, then `n` numbered packets on PID 0x100 (byte 4.. = index, rest a pattern).
pub(crate) fn stream(n: usize) -> Vec<u8> {
    let mut v = packet(PAT);
    v.extend(packet(PMT));
    for i in 0..n {
        let mut p = packet(&[0x47, 0x01, 0x00, 0x10 | (i as u8 & 0x0F)]);
        p[4..8].copy_from_slice(&(i as u32).to_be_bytes());
        for (j, b) in p[8..].iter_mut().enumerate() {
            *b = (i + j) as u8;
        }
        v.extend(p);
    }
    v
}

fn mkfifo(name: &str) -> PathBuf {
    crate::io::sink::tests::mkfifo(&format!("dvb-{name}"))
}

fn cfg(setup: DvbSetup) -> DvbConfig {
    DvbConfig {
        adapter: 0,
        demux: 0,
        dvr: 1,
        setup,
    }
}

fn filter(source: Option<u32>, input: DmxInput, pid: u16, pes: PesType) -> Call {
    Call::Filter(
        source,
        DmxPesFilterParams {
            pid,
            input: input as u32,
            output: DMX_OUT_DECODER,
            pes_type: pes as u32,
            flags: DMX_IMMEDIATE_START,
        },
    )
}

#[test]
fn mainline_and_enigma2_filters_from_pmt() {
    for setup in [DvbSetup::Mainline, DvbSetup::Enigma2] {
        let p = mkfifo(&format!("{setup:?}"));
        let mut rd = open_reader(&p);
        let r = Reactor::new(4).unwrap();
        let t = clock::now();
        let mut sink = DecoderSink::open(&p, Dvb::new(cfg(setup), FakeDmx::default()), t);
        assert!(sink.is_open());
        let data = stream(4);
        // Offered in odd pieces: a write stops before a packet not seen whole.
        assert_eq!(sink.write(t, &r, &data[..400]), 376);
        let mut off = 376;
        for step in [300, 5000] {
            let end = (off + step).min(data.len());
            off += sink.write(t, &r, &data[off..end]);
        }
        assert_eq!(off, data.len());
        let (input, src) = match setup {
            DvbSetup::Mainline => (DmxInput::Dvr, None),
            DvbSetup::Enigma2 => (DmxInput::Frontend, Some(DMX_SOURCE_DVR0 + 1)),
        };
        assert_eq!(
            sink.decoder().ops().calls,
            [
                Call::Clear,
                filter(src, input, 0x100, PesType::Video),
                filter(src, input, 0x101, PesType::Audio),
            ],
            "{setup:?}: PCR rides on the video PID, so no PCR filter"
        );
        let mut got = Vec::new();
        rd.read_to_end(&mut got).ok();
        assert_eq!(got, data);
        assert_eq!(sink.stats().programs, 1);
        let _ = std::fs::remove_file(&p);
    }
}

#[test]
fn pmt_change_and_flush_refilter() {
    let p = mkfifo("refilter");
    let _rd = open_reader(&p);
    let r = Reactor::new(4).unwrap();
    let t = clock::now();
    let mut sink = DecoderSink::open(&p, Dvb::new(cfg(DvbSetup::Mainline), FakeDmx::default()), t);
    let data = stream(2);
    assert_eq!(sink.write(t, &r, &data), data.len());
    // The same PMT again: nothing to do.
    assert_eq!(sink.write(t, &r, &packet(PMT)), 188);
    assert_eq!(sink.decoder().ops().calls.len(), 3);
    // New PMT: PCR on its own PID 0x1FF.
    let mut pmt = packet(PMT);
    pmt[13..15].copy_from_slice(&[0xE1, 0xFF]);
    assert_eq!(sink.write(t, &r, &pmt), 188);
    let calls = &sink.decoder().ops().calls;
    assert_eq!(calls.len(), 7);
    assert_eq!(calls[3], Call::Clear);
    assert_eq!(calls[6], filter(None, DmxInput::Dvr, 0x1FF, PesType::Pcr));
    // Zap: stop now, program again from the next channel's PAT/PMT.
    sink.flush();
    assert_eq!(sink.streams(), None);
    assert_eq!(sink.write(t, &r, &data), data.len());
    let calls = &sink.decoder().ops().calls;
    assert_eq!(calls[7], Call::Clear);
    assert_eq!(calls.len(), 11);
    let _ = std::fs::remove_file(&p);
}

#[test]
fn ioctl_layout_matches_dmx_h() {
    assert_eq!(std::mem::size_of::<DmxPesFilterParams>(), 20);
    assert_eq!(std::mem::offset_of!(DmxPesFilterParams, input), 4);
    assert_eq!(std::mem::offset_of!(DmxPesFilterParams, flags), 16);
    if cfg!(any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "arm"
    )) {
        // DMX_SET_PES_FILTER and DMX_SET_SOURCE as the kernel headers give them on x86/ARM.
        assert_eq!(nix::request_code_write!(b'o', 44, 20) as u32, 0x4014_6F2C);
        assert_eq!(nix::request_code_write!(b'o', 49, 4) as u32, 0x4004_6F31);
    }
}

#[test]
fn back_pressure_never_blocks_and_keeps_packets_whole() {
    let p = mkfifo("pressure");
    let rd = open_reader(&p);
    let mut r = Reactor::new(4).unwrap();
    let t = clock::now();
    let mut sink = DecoderSink::open(&p, Dvb::new(cfg(DvbSetup::Mainline), FakeDmx::default()), t);
    assert_eq!(rustix::pipe::fcntl_setpipe_size(&rd, 4096).unwrap(), 4096);
    sink.register(&r, TOKEN);
    let data = stream(3000); // ~564 KB through a 4 KiB pipe
    let total = data.len();
    // The slow reader: 61-byte reads (misaligned on purpose), throttled by a short pause.
    let reader = std::thread::spawn(move || {
        let mut rd = rd;
        let mut got = Vec::with_capacity(total);
        let mut buf = [0u8; 61];
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while got.len() < total && std::time::Instant::now() < deadline {
            match rd.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
            std::thread::sleep(Duration::from_micros(50));
        }
        got
    });
    let (mut off, mut partial, mut refused, mut slowest) = (0, 0u32, 0u32, Duration::ZERO);
    let deadline = clock::now() + Duration::from_secs(60);
    while off < total && clock::now() < deadline {
        // Offer far more than the pipe holds.
        let end = (off + 64 * 188).min(total);
        let start = std::time::Instant::now();
        let n = sink.write(clock::now(), &r, &data[off..end]);
        slowest = slowest.max(start.elapsed());
        if n % 188 != 0 || (off % 188 != 0 && n > 0) {
            partial += 1;
        }
        off += n;
        if n == 0 {
            refused += 1;
            sink.want_write(&r, true);
            let _ = r.wait(clock::now(), Some(deadline)).unwrap();
            sink.want_write(&r, false);
        }
    }
    let got = reader.join().unwrap();
    assert_eq!(off, total);
    assert_eq!(got.len(), total);
    for (i, (a, b)) in got.chunks(188).zip(data.chunks(188)).enumerate() {
        assert_eq!(a, b, "packet {i} differs");
    }
    assert!(refused > 0, "the pipe filled up");
    assert!(partial > 0, "partial writes happened and were completed");
    assert!(
        slowest < Duration::from_millis(50),
        "a write took {slowest:?}"
    );
    eprintln!("back-pressure: {refused} refusals, {partial} partial writes, slowest {slowest:?}");
    let _ = std::fs::remove_file(&p);
}
