//! What the workers count (datagrams, bytes, losses, events by kind), summed by the main thread
//! between windows, and the per-message-type breakdown of control traffic.
//!
//! Invariants: counters only ever add up: the main thread takes each worker's after a window and
//! sums them with `Counters::add`, field by field, so totals do not depend on how nodes are
//! spread over threads.

use tvmesh_core::peer::PeerEvent;

/// Counters kept by workers and summed by the main thread.
#[derive(Clone, Debug, Default)]
pub struct Counters {
    /// Root datagram bytes sent: chunks and control.
    pub root_chunk_bytes: u64,
    /// Root control bytes.
    pub root_ctrl_bytes: u64,
    /// Box chunk bytes sent.
    pub box_chunk_bytes: u64,
    /// Box control bytes sent.
    pub box_ctrl_bytes: u64,
    /// Box-to-box chunk bytes within one group.
    pub same_group_bytes: u64,
    /// Datagrams lost in the network.
    pub lost: u64,
    /// Datagrams dropped at a full uplink.
    pub uplink_drops: u64,
    /// Datagrams dropped by NAT filtering.
    pub nat_drops: u64,
    /// Datagrams to nodes that are gone.
    pub dead_dst: u64,
    /// Datagrams to addresses that are not ours.
    pub unknown_dst: u64,
    /// Control datagrams too long to store (must stay 0).
    pub oversize: u64,
    /// Datagrams delivered.
    pub deliveries: u64,
    /// Timer firings.
    pub timer_fires: u64,
    /// A state machine asked to be woken at or before the time it was just woken at.
    pub timer_spins: u64,
    /// Root output drains.
    pub root_drains: u64,
    /// Stalled events.
    pub stalls: u64,
    /// Joined events.
    pub joined: u64,
    /// Refused events.
    pub refused: u64,
    /// NewEpoch events.
    pub new_epochs: u64,
    /// Partner up events.
    pub partner_up: u64,
    /// Bad datagram events.
    pub bad: u64,
    /// Wall time in the root's processing (ns).
    pub root_ns: u64,
    /// Control bytes the root sent, by message type (index: type byte).
    pub root_ctrl_by_type: [u64; 18],
    /// Control bytes boxes sent, by message type.
    pub box_ctrl_by_type: [u64; 18],
}

impl Counters {
    pub(super) fn add(&mut self, o: &Counters) {
        macro_rules! sum {
            ($($f:ident),*) => { $( self.$f += o.$f; )* };
        }
        sum!(
            root_chunk_bytes,
            root_ctrl_bytes,
            box_chunk_bytes,
            box_ctrl_bytes,
            same_group_bytes,
            lost,
            uplink_drops,
            nat_drops,
            dead_dst,
            unknown_dst,
            oversize,
            deliveries,
            timer_fires,
            timer_spins,
            root_drains,
            stalls,
            joined,
            refused,
            new_epochs,
            partner_up,
            bad,
            root_ns
        );
        for i in 0..18 {
            self.root_ctrl_by_type[i] += o.root_ctrl_by_type[i];
            self.box_ctrl_by_type[i] += o.box_ctrl_by_type[i];
        }
    }
}

/// The message type byte of a datagram (unknown types at 0).
pub(super) fn msg_type(bytes: &[u8]) -> usize {
    match bytes.get(1) {
        Some(&t) if t < 18 => usize::from(t),
        _ => 0,
    }
}

/// Names of the control message types, for the profile.
pub(super) const TYPE_NAMES: [&str; 18] = [
    "other",
    "JOIN",
    "JOIN_ACK",
    "JOIN_NAK",
    "KEEPALIVE",
    "LEAVE",
    "PEERS",
    "HELLO",
    "HELLO_ACK",
    "MAP",
    "SUBSCRIBE",
    "SUB_ACK",
    "other",
    "other",
    "other",
    "other",
    "CHUNK",
    "REQUEST",
];

pub(super) fn by_type(v: &[u64; 18], secs: u64) -> String {
    let mut parts: Vec<(u64, &str)> = v
        .iter()
        .zip(TYPE_NAMES)
        .filter(|(b, _)| **b > 0)
        .map(|(b, n)| (*b, n))
        .collect();
    parts.sort_unstable_by_key(|b| std::cmp::Reverse(b.0));
    parts
        .iter()
        .map(|(b, n)| format!("{n} {} kbit/s", b * 8 / 1000 / secs.max(1)))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn count_event(c: &mut Counters, e: PeerEvent) {
    match e {
        PeerEvent::Stalled => c.stalls += 1,
        PeerEvent::Joined { .. } => c.joined += 1,
        PeerEvent::Refused { .. } => c.refused += 1,
        PeerEvent::NewEpoch => c.new_epochs += 1,
        PeerEvent::Partner { up: true, .. } => c.partner_up += 1,
        PeerEvent::Partner { .. } => {}
        PeerEvent::BadDatagram { .. } => c.bad += 1,
    }
}
