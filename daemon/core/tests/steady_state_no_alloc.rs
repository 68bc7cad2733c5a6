//! The per-chunk path allocates nothing: after warm-up, a root ingesting the sample and a box
//! receiving it (with losses recovered by requests, and the sink drained) make zero heap
//! allocations. A counting global allocator checks it.

mod common;
use common::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tvmesh_core::output::OutputId;
use tvmesh_core::peer::{Peer, PeerConfig};
use tvmesh_core::root::{ChannelSpec, Root};
use tvmesh_core::time::Instant;

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0); // usize: 32-bit MIPS has no 64-bit atomics

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Runs root and box for `steps` source slices of 10 ms; every 23rd chunk datagram is dropped.
fn run(
    root: &mut Root,
    peer: &mut Peer,
    src: &[u8],
    pos: &mut usize,
    now: &mut Instant,
    steps: usize,
    n: &mut u64,
) {
    let mut buf = [0u8; 1500];
    let root_addr = addr(ROOT);
    let me = box_addr(0);
    for _ in 0..steps {
        *now = *now + Duration::from_millis(10);
        let end = (*pos + SOURCE_BYTES).min(src.len());
        root.handle_source(*now, 0, &src[*pos..end]);
        *pos = if end == src.len() { 0 } else { end };
        root.handle_timeout(*now);
        peer.handle_timeout(*now);
        for _ in 0..64 {
            let mut any = false;
            while let Some(t) = root.poll_transmit(&mut buf) {
                any = true;
                *n += 1;
                if *n % 23 != 0 {
                    peer.handle_datagram(*now, root_addr, &buf[..t.len]);
                }
            }
            while let Some(t) = peer.poll_transmit(*now, &mut buf) {
                any = true;
                root.handle_datagram(*now, me, &buf[..t.len]);
            }
            while root.poll_event().is_some() {}
            while peer.poll_event().is_some() {}
            while let Some(b) = peer.output_peek(OutputId(0)) {
                let l = b.len();
                peer.output_advance(OutputId(0), l);
            }
            if !any {
                break;
            }
        }
    }
}

#[test]
fn zero_allocations_per_chunk_in_steady_state() {
    let src = sample();
    let mut now = Instant::from_millis(1000);
    let mut root = Root::new(
        root_config(),
        &[ChannelSpec {
            name: "demo",
            bitrate_kbps: 0,
        }],
        now,
    )
    .unwrap();
    let mut peer = Peer::new(PeerConfig::default(), addr(ROOT), "demo", now).unwrap();
    peer.output_open().unwrap();
    let (mut pos, mut n) = (0, 0);
    // Warm-up: join, first key frame, pools filling.
    run(&mut root, &mut peer, &src, &mut pos, &mut now, 300, &mut n);
    let before = ALLOCS.load(Ordering::Relaxed);
    let chunks_before = peer.stats().chunks_in;
    run(&mut root, &mut peer, &src, &mut pos, &mut now, 3000, &mut n);
    let allocs = ALLOCS.load(Ordering::Relaxed) - before;
    let chunks = peer.stats().chunks_in - chunks_before;
    assert!(chunks > 2500, "steady state moved {chunks} chunks");
    assert!(
        peer.stats().requests > 50,
        "loss recovery exercised: {:?}",
        peer.stats()
    );
    assert_eq!(allocs, 0, "{allocs} allocations over {chunks} chunks");
    println!("steady state: {chunks} chunks, {allocs} heap allocations (root + box)");
}
