//! Malicious box behaviours for the swarm harness: each rewrites what an otherwise normal box
//! sends. Offsets follow the wire format table in `tvmesh_core::wire`.

use std::collections::VecDeque;

/// What a hostile box does to its own datagrams.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Attack {
    /// Flips a bit in every chunk payload it forwards.
    FlipBits,
    /// Sends old payloads under current sequence numbers, plus old chunks verbatim.
    Replay,
    /// Rewrites manifests (hashes of its own forgeries, signature no longer valid) and forges
    /// chunks to match.
    ForgeManifests,
    /// Claims every chunk in its maps, near the source and with room, and delivers nothing.
    LyingMaps,
    /// Turns each map into a flood of requests for everything.
    RequestFlood,
}

pub const ALL_ATTACKS: [Attack; 5] = [
    Attack::FlipBits,
    Attack::Replay,
    Attack::ForgeManifests,
    Attack::LyingMaps,
    Attack::RequestFlood,
];

const CHUNK: u8 = 0x10;
const MAP: u8 = 0x09;
const REQUEST: u8 = 0x11;
const MANIFEST: u8 = 0x30;
const CHUNK_PAYLOAD: usize = 22;

pub struct Hostile {
    pub attack: Attack,
    old: VecDeque<Vec<u8>>,
    n: u64,
}

impl Hostile {
    pub fn new(attack: Attack) -> Self {
        Hostile {
            attack,
            old: VecDeque::new(),
            n: 0,
        }
    }

    /// The datagrams actually sent instead of `d`.
    pub fn tamper(&mut self, d: &[u8]) -> Vec<Vec<u8>> {
        self.n += 1;
        let kind = d.get(1).copied().unwrap_or(0);
        let mut out = d.to_vec();
        match (self.attack, kind) {
            (Attack::FlipBits | Attack::ForgeManifests, CHUNK) if d.len() > CHUNK_PAYLOAD => {
                let i = CHUNK_PAYLOAD + (self.n as usize * 7) % (d.len() - CHUNK_PAYLOAD);
                out[i] ^= 1 << (self.n % 8);
                vec![out]
            }
            (Attack::ForgeManifests, MANIFEST) if d.len() > 20 => {
                out[4 + 14] ^= 0xFF; // first hash byte: the signature no longer matches
                vec![out]
            }
            (Attack::Replay, CHUNK) => {
                self.old.push_back(d.to_vec());
                let mut v = vec![];
                if self.old.len() > 60 {
                    let old = self.old.pop_front().unwrap();
                    if old.len() == d.len() {
                        out[CHUNK_PAYLOAD..].copy_from_slice(&old[CHUNK_PAYLOAD..]);
                    }
                    v.push(old); // and the old chunk verbatim (valid, but stale)
                }
                v.push(out);
                v
            }
            (Attack::LyingMaps, CHUNK) => vec![],
            (Attack::LyingMaps, MAP) if d.len() > 30 => {
                out[20] = 0xF0; // flags: room for 15 more children
                for b in &mut out[21..29] {
                    *b = 0; // source delay 0 ms on every substream
                }
                for b in &mut out[30..] {
                    *b = 0xFF; // has everything
                }
                vec![out]
            }
            (Attack::RequestFlood, MAP) if d.len() > 16 => {
                let mut v = vec![out];
                for _ in 0..30 {
                    let mut r = vec![0xC1, REQUEST, d[2], d[3]];
                    r.extend_from_slice(&d[4..16]); // token, base
                    r.push(64);
                    r.extend_from_slice(&[0xFF; 64]);
                    v.push(r);
                }
                v
            }
            _ => vec![out],
        }
    }
}
