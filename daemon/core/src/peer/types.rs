//! The box's public types: configuration, state, events, counters, partner summaries.
//!
//! Invariant: plain data, no behaviour beyond defaults; the state machine is in `mod.rs`.

use crate::pool::PoolError;
use crate::wire::{NakReason, WireError};
use core::net::SocketAddr;
use core::time::Duration;

/// Capacities and timings of a box, from config and board profile.
#[derive(Clone, Debug)]
pub struct PeerConfig {
    /// Pool memory in bytes (the board's stream budget).
    pub pool_bytes: usize,
    /// Keep chunk metadata only, not payload (the simulator's 100,000 boxes; outputs read zeros).
    pub metadata_only: bool,
    /// Outputs: 1 for the decoder sink plus the HTTP viewers allowed.
    pub outputs: usize,
    /// How far (in chunks) an output may lag the play head before it skips to a key frame.
    pub output_queue_chunks: u64,
    /// Partners kept at most.
    pub max_partners: usize,
    /// Upload cap in kbit/s (0: none; LEDBAT still limits by delay).
    pub upload_kbps: u32,
    /// Whether others can start a partnership with this box (no NAT in the way).
    pub reachable: bool,
    /// Substreams this box serves to children when its upload is uncapped.
    pub max_child_substreams: u32,
    /// First JOIN retry interval; doubles up to `join_retry_max`.
    pub join_retry: Duration,
    /// Longest JOIN retry interval.
    pub join_retry_max: Duration,
    /// KEEPALIVE interval (to the root).
    pub keepalive: Duration,
    /// Buffer-map interval (to each partner; also their keepalive).
    pub map_interval: Duration,
    /// Scheduler tick: parent choice, repairs, partner upkeep.
    pub tick: Duration,
    /// Wait this long after a gap appears before requesting it.
    pub nack_delay: Duration,
    /// Request a still-missing chunk again after this long, then every twice this long
    /// (round trips through loaded uplinks can exceed it; a fixed interval would feed a storm).
    pub nack_retry: Duration,
    /// Ask the root for a chunk no partner has, this long after it went missing.
    pub urgent_after: Duration,
    /// Give a missing chunk up this long after its gap appeared.
    pub give_up: Duration,
    /// A chunk played further than this behind the source is late: it counts against continuity.
    pub late_after: Duration,
    /// A parent that sent nothing of its substream for this long is replaced.
    pub parent_timeout: Duration,
    /// A partner not heard from for this long is dropped.
    pub partner_timeout: Duration,
    /// No chunk at all for this long while playing: join again.
    pub stall_timeout: Duration,
    /// Seed for nonces and choices.
    pub seed: u64,
    /// Check every chunk against the root's signed manifests (off only to simulate the mesh
    /// alone, where payloads are not carried).
    pub verify: bool,
    /// SHA-256 fingerprint of the channel's public signing key from the board profile
    /// ([`crate::drm::key_fingerprint`]): only the root key with it is accepted; `None`: pin the
    /// root's at first sight.
    pub channel_key: Option<[u8; 32]>,
    /// Chunks held while their manifest is on its way (1316 B each).
    pub pending_chunks: usize,
    /// Longest a chunk is held for its manifest before it is dropped (and repaired).
    pub pending_hold: Duration,
    /// Chunks (REQUEST) plus manifests (MANIFEST_REQ) one partner may ask for per second; a
    /// partner asking for four times as many is dropped and banned.
    pub max_requests_per_s: u32,
    /// How long a partner that sent a forged chunk or flooded us is banned.
    pub ban: Duration,
    /// Device identity for licences (board profile `device_id` / `device_secret`); without one
    /// a box relays protected channels but outputs nothing.
    pub device: Option<super::DeviceIdentity>,
}

impl Default for PeerConfig {
    fn default() -> Self {
        PeerConfig {
            pool_bytes: 2 << 20,
            metadata_only: false,
            outputs: 5,
            output_queue_chunks: 512,
            max_partners: 6,
            upload_kbps: 0,
            reachable: true,
            max_child_substreams: 24,
            join_retry: Duration::from_millis(250),
            join_retry_max: Duration::from_secs(4),
            keepalive: Duration::from_secs(1),
            map_interval: Duration::from_millis(500),
            tick: Duration::from_millis(50),
            nack_delay: Duration::from_millis(20),
            nack_retry: Duration::from_millis(150),
            urgent_after: Duration::from_millis(300),
            give_up: Duration::from_millis(1500),
            late_after: Duration::from_secs(4),
            parent_timeout: Duration::from_millis(1000),
            partner_timeout: Duration::from_secs(3),
            stall_timeout: Duration::from_secs(3),
            seed: 1,
            verify: true,
            channel_key: None,
            pending_chunks: 128,
            pending_hold: Duration::from_millis(250),
            max_requests_per_s: 2048,
            ban: Duration::from_secs(60),
            device: None,
        }
    }
}

/// Why a box could not be built.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PeerError {
    /// Channel name empty or longer than 64 bytes.
    ChannelName,
    /// Pool budget too small.
    Pool(PoolError),
    /// `max_partners` is 0 or over [`MAX_PARTNERS`](super::MAX_PARTNERS).
    MaxPartners,
}

/// Where the box is.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PeerState {
    /// Asking the root for the channel.
    Joining,
    /// Receiving the channel.
    Playing,
    /// The root refused; retrying slowly.
    Refused(NakReason),
}

/// Something the shell may log or show (fields are named for what they hold).
#[allow(missing_docs)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PeerEvent {
    /// The root accepted the JOIN; play starts at `rap_seq`.
    Joined {
        channel: u16,
        rap_seq: u64,
        bitrate_kbps: u32,
    },
    /// The root refused the JOIN.
    Refused { reason: NakReason },
    /// Nothing arrived for `stall_timeout`: joining again.
    Stalled,
    /// The stream restarted with unrelated sequence numbers (root restart).
    NewEpoch,
    /// A partnership began or ended.
    Partner { addr: SocketAddr, up: bool },
    /// A datagram did not parse (at most once per second; `total` counts all).
    BadDatagram {
        from: SocketAddr,
        error: WireError,
        total: u64,
    },
}

/// One partner as seen from this box.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct PartnerInfo {
    /// Its address.
    pub addr: SocketAddr,
    /// Handshake complete.
    pub up: bool,
    /// Highest chunk it is known to hold.
    pub top: u64,
    /// Substreams it feeds us (mask).
    pub feeds_us: u8,
    /// Substreams we feed it (mask).
    pub we_feed: u8,
    /// Chunk bytes received from it.
    pub bytes_from: u64,
    /// Chunk bytes sent to it.
    pub bytes_to: u64,
}

/// Counters for the status page.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerStats {
    /// Chunks received and stored (duplicates excluded).
    pub chunks_in: u64,
    /// Payload bytes of those chunks.
    pub bytes_in: u64,
    /// Chunk bytes (datagrams) received from the root.
    pub bytes_from_root: u64,
    /// Chunk bytes (datagrams) received from partners.
    pub bytes_from_peers: u64,
    /// Chunk bytes (datagrams) sent to partners.
    pub bytes_uploaded: u64,
    /// Control bytes sent (everything but chunks).
    pub control_bytes: u64,
    /// Duplicate or out-of-window chunks.
    pub duplicates: u64,
    /// REQUEST datagrams sent.
    pub requests: u64,
    /// Chunk requests in them.
    pub requested_chunks: u64,
    /// Chunks the play head passed while present.
    pub played: u64,
    /// Chunks the play head gave up on.
    pub lost: u64,
    /// Chunks played later than `late_after` behind the source.
    pub late: u64,
    /// Datagrams that did not parse.
    pub bad_datagrams: u64,
    /// Datagrams from unexpected senders or of unexpected types.
    pub ignored: u64,
    /// Joins completed.
    pub joins: u64,
    /// Parent changes.
    pub parent_switches: u64,
    /// Why parents were dropped or refused: [refused or gone, quiet, behind the freshest, backlogged].
    pub parent_drops: [u64; 4],
    /// Stream rate announced by the root.
    pub bitrate_kbps: u32,
}

/// The steps of a join, in the order they happen (see [`Peer::join_phases`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum JoinStep {
    /// The root's JOIN_ACK.
    Ack,
    /// The first partnership.
    Partner,
    /// The first buffer map from a partner.
    Map,
    /// The first subscription to a partner.
    Subscribe,
    /// The first chunk stored.
    Chunk,
    /// The chunk at the start point (the key frame) stored.
    Start,
    /// The first bytes handed to output 0.
    Output,
}
