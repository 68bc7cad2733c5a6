//! Event logs for tuning, on stderr:
//! - `TVMESH_SIM_TRACE=ID`: every datagram one box sends or is sent (virtual ms, sender,
//!   receiver, what became of it, the message with its sequence numbers);
//! - `TVMESH_SIM_SEEDLOG=1`: every change of the root's seed places, as it happens (the
//!   per-second counters of `TVMESH_SIM_SEEDS` miss places that change hands twice in a second).
//!
//! Invariant: read-only; never changes what the simulation does. Each variable is read once.

use crate::net::{id_of, SendOutcome};
use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};
use tvmesh_core::root::Root;
use tvmesh_core::wire::Message;

/// The box `TVMESH_SIM_TRACE` names, if any.
fn traced() -> Option<u32> {
    static ID: OnceLock<Option<u32>> = OnceLock::new();
    *ID.get_or_init(|| std::env::var("TVMESH_SIM_TRACE").ok()?.trim().parse().ok())
}

/// Logs a datagram from node `from` to `dst` at virtual time `now_us` if it touches the traced
/// box.
pub fn datagram(now_us: u64, from: u32, dst: SocketAddr, outcome: SendOutcome, bytes: &[u8]) {
    let Some(id) = traced() else { return };
    let to = id_of(dst);
    if from != id && to != Some(id) {
        return;
    }
    let what = match Message::parse(bytes) {
        Ok(Message::Chunk { info, .. }) => format!("CHUNK {}", info.seq),
        Ok(Message::Map { base, map, .. }) => format!("MAP base {base} bytes {}", map.len()),
        Ok(Message::Request { base, map, .. }) => format!("REQUEST base {base} {map:02x?}"),
        Ok(Message::JoinAck { rap_seq, .. }) => format!("JOIN_ACK start {rap_seq}"),
        Ok(Message::HelloAck { accept, .. }) => format!("HELLO_ACK accept {accept}"),
        Ok(Message::SubAck {
            accepted, refused, ..
        }) => format!("SUB_ACK accepted {accepted:#x} refused {refused:#x}"),
        Ok(Message::Subscribe { mask, from_seq, .. }) => {
            format!("SUBSCRIBE {mask:#x} from {from_seq}")
        }
        Ok(m) => {
            let d = format!("{m:?}");
            d.split([' ', '{']).next().unwrap_or("?").to_string()
        }
        Err(e) => format!("unparsed ({e:?})"),
    };
    let to = to.map_or_else(|| dst.to_string(), |t| t.to_string());
    eprintln!(
        "trace t={} ms {from} -> {to} {outcome:?}: {what}",
        now_us / 1000
    );
}

/// Logs the root's seed places per substream when they differ from the last call's.
pub fn seeds(now_us: u64, root: &Root) {
    static ON: OnceLock<bool> = OnceLock::new();
    static LAST: Mutex<[Vec<u32>; 4]> = Mutex::new([const { Vec::new() }; 4]);
    if !*ON.get_or_init(|| std::env::var_os("TVMESH_SIM_SEEDLOG").is_some()) {
        return;
    }
    let Ok(mut last) = LAST.lock() else { return };
    for (sub, was) in last.iter_mut().enumerate() {
        let now: Vec<u32> = root.seed_addrs(0, sub).filter_map(id_of).collect();
        if now != *was {
            eprintln!(
                "seedlog t={} ms substream {sub}: {was:?} -> {now:?}",
                now_us / 1000
            );
            *was = now;
        }
    }
}
