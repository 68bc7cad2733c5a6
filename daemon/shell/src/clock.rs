//! The daemon's clock: CLOCK_BOOTTIME, which keeps counting while a box is in standby, so timers
//! and rates stay right across suspend. The core only ever sees the [`Instant`]s read here.

use tvmesh_core::time::Instant;

/// Now, on CLOCK_BOOTTIME.
pub fn now() -> Instant {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    // tv_sec and tv_nsec from the kernel are non-negative.
    Instant::from_micros(ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000)
}

/// Wall-clock microseconds since the Unix epoch (used once, to seed sequence numbers and RNGs).
pub fn unix_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}
