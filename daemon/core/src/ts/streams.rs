//! What a decoder needs from the PMT: the first video and first audio elementary stream (PID and
//! stream type) and the PCR PID.
//!
//! Audio is recognised by stream_type (MPEG-1/2 audio 0x03/0x04, AAC 0x0F, LATM AAC 0x11, ATSC
//! AC-3 0x81, E-AC-3 0x87) or, for DVB private data (0x06), by an AC-3 (0x6A), E-AC-3 (0x7A),
//! DTS (0x7B) or AAC (0x7C) descriptor. Same single-packet, no-CRC rules as [`psi`](super::psi);
//! every length is checked before it is read, so no input can panic.

use super::packet::Packet;
use super::psi::{pmt_entries, PsiError};

/// One elementary stream.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Es {
    /// Its PID.
    pub pid: u16,
    /// The PMT stream_type (for DVB private data with an audio descriptor: the descriptor tag
    /// mapped to 0x81 AC-3, 0x87 E-AC-3, 0x82 DTS, 0x0F AAC).
    pub stream_type: u8,
}

/// The streams a decoder is set up with.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Streams {
    /// First video stream.
    pub video: Option<Es>,
    /// First audio stream.
    pub audio: Option<Es>,
    /// PID carrying the program clock reference.
    pub pcr_pid: u16,
}

fn is_video(st: u8) -> bool {
    matches!(st, 0x01 | 0x02 | 0x10 | 0x1B | 0x20 | 0x24 | 0x42 | 0xEA)
}

fn is_audio(st: u8) -> bool {
    matches!(st, 0x03 | 0x04 | 0x0F | 0x11 | 0x81 | 0x87)
}

/// The audio type a DVB descriptor loop announces for private data, if any.
fn private_audio(mut desc: &[u8]) -> Option<u8> {
    while let [tag, len, rest @ ..] = desc {
        let n = usize::from(*len);
        match tag {
            0x6A => return Some(0x81),
            0x7A => return Some(0x87),
            0x7B => return Some(0x82),
            0x7C => return Some(0x0F),
            _ => {}
        }
        desc = rest.get(n..)?;
    }
    None
}

/// Parses a PMT packet into [`Streams`].
pub fn parse_streams(pkt: &Packet<'_>) -> Result<Streams, PsiError> {
    let (pcr_pid, entries) = pmt_entries(pkt)?;
    let (mut video, mut audio) = (None, None);
    for (st, pid, desc) in entries {
        if video.is_none() && is_video(st) {
            video = Some(Es {
                pid,
                stream_type: st,
            });
        } else if audio.is_none() {
            let t = if is_audio(st) {
                Some(st)
            } else if st == 0x06 {
                private_audio(desc)
            } else {
                None
            };
            audio = t.map(|stream_type| Es { pid, stream_type });
        }
    }
    Ok(Streams {
        video,
        audio,
        pcr_pid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ts::PACKET_LEN;

    fn packet(head: &[u8]) -> [u8; PACKET_LEN] {
        let mut b = [0xFF; PACKET_LEN];
        b[..head.len()].copy_from_slice(head);
        b
    }

    // ffmpeg's PMT (video 0x100 H.264, audio 0x101 AAC), as in psi's tests.
    const PMT: &[u8] = &[
        0x47, 0x50, 0x00, 0x10, 0x00, 0x02, 0xB0, 0x17, 0x00, 0x01, 0xC1, 0x00, 0x00, 0xE1, 0x00,
        0xF0, 0x00, 0x1B, 0xE1, 0x00, 0xF0, 0x00, 0x0F, 0xE1, 0x01, 0xF0, 0x00, 0x2F, 0x44, 0xB9,
        0x9B,
    ];

    // PCR 0x1FF, MPEG-2 video 0x200, then private data 0x201 with an AC-3 descriptor.
    const PMT_AC3: &[u8] = &[
        0x47, 0x50, 0x00, 0x10, 0x00, 0x02, 0xB0, 0x19, 0x00, 0x01, 0xC1, 0x00, 0x00, 0xE1, 0xFF,
        0xF0, 0x00, 0x02, 0xE2, 0x00, 0xF0, 0x00, 0x06, 0xE2, 0x01, 0xF0, 0x02, 0x6A, 0x00, 0x00,
        0x00, 0x00, 0x00,
    ];

    #[test]
    fn video_audio_pcr_from_literal() {
        let b = packet(PMT);
        let s = parse_streams(&Packet::new(&b).unwrap()).unwrap();
        assert_eq!(
            s,
            Streams {
                video: Some(Es {
                    pid: 0x100,
                    stream_type: 0x1B
                }),
                audio: Some(Es {
                    pid: 0x101,
                    stream_type: 0x0F
                }),
                pcr_pid: 0x100,
            }
        );
    }

    #[test]
    fn private_ac3_is_audio() {
        let b = packet(PMT_AC3);
        let s = parse_streams(&Packet::new(&b).unwrap()).unwrap();
        assert_eq!(s.pcr_pid, 0x1FF);
        assert_eq!(s.video.map(|e| (e.pid, e.stream_type)), Some((0x200, 0x02)));
        assert_eq!(s.audio.map(|e| (e.pid, e.stream_type)), Some((0x201, 0x81)));
    }

    #[test]
    fn hostile_lengths_do_not_panic() {
        for k in 5..40 {
            for v in [0x00, 0x0F, 0xFF] {
                let mut b = packet(PMT_AC3);
                b[k] = v;
                let _ = parse_streams(&Packet::new(&b).unwrap());
            }
        }
    }
}
