//! A synthetic MPEG-TS source: constant bitrate, H.264 video, one key frame per GOP.
//!
//! The simulator does not read `tests/data/sample.ts`: it synthesises the stream so the rate
//! (2 Mbit/s in the standard scenario) and the key-frame interval (1 s) are exact and independent
//! of any file. The stream is what a CBR multiplexer emits:
//! - PAT (program 1 → PMT PID 0x1000) and PMT (H.264, stream_type 0x1B, on PID 0x100), both with
//!   a correct CRC-32, in front of every frame whose index is even (every 80 ms at 25 fps);
//! - 25 video frames per second, each one PES on PID 0x100 starting with an access-unit delimiter
//!   and a slice NAL: an IDR slice (type 5) for the first frame of each GOP, whose first packet
//!   also carries random_access_indicator in its adaptation field, else a non-IDR slice (type 1);
//! - packets of a frame fill its share of the bitrate; payload filler is 0xAA (never a start
//!   code), continuity counters run per PID.
//!
//! Packets are emitted at a constant rate: [`TsGen::feed_until`] returns every packet whose
//! nominal departure time (`index × 1504 bits / rate`) is at or before the given time.

/// TS packet length.
pub const PACKET: usize = 188;
const PAT_PID: u16 = 0;
const PMT_PID: u16 = 0x1000;
const VIDEO_PID: u16 = 0x100;

/// MPEG-2 CRC-32 (polynomial 0x04C11DB7, no reflection, initial 0xFFFFFFFF).
pub fn crc32_mpeg(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// One PSI packet: header, pointer field, `section` (without CRC), CRC, 0xFF stuffing.
fn psi_packet(pid: u16, cc: u8, section: &[u8]) -> [u8; PACKET] {
    let mut p = [0xFFu8; PACKET];
    p[0] = 0x47;
    p[1] = 0x40 | (pid >> 8) as u8;
    p[2] = pid as u8;
    p[3] = 0x10 | (cc & 0x0F);
    p[4] = 0; // pointer_field
    p[5..5 + section.len()].copy_from_slice(section);
    let crc = crc32_mpeg(section);
    p[5 + section.len()..9 + section.len()].copy_from_slice(&crc.to_be_bytes());
    p
}

fn pat(cc: u8) -> [u8; PACKET] {
    let section = [
        0x00, // table_id
        0xB0,
        0x0D, // section_length 13
        0x00,
        0x01, // transport_stream_id
        0xC1, // version 0, current
        0x00,
        0x00, // section numbers
        0x00,
        0x01, // program 1
        0xE0 | (PMT_PID >> 8) as u8,
        PMT_PID as u8,
    ];
    psi_packet(PAT_PID, cc, &section)
}

fn pmt(cc: u8) -> [u8; PACKET] {
    let section = [
        0x02, // table_id
        0xB0,
        0x12, // section_length 18
        0x00,
        0x01, // program 1
        0xC1,
        0x00,
        0x00,
        0xE0 | (VIDEO_PID >> 8) as u8,
        VIDEO_PID as u8, // PCR PID
        0xF0,
        0x00, // program_info_length 0
        0x1B, // H.264
        0xE0 | (VIDEO_PID >> 8) as u8,
        VIDEO_PID as u8,
        0xF0,
        0x00, // ES_info_length 0
    ];
    psi_packet(PMT_PID, cc, &section)
}

/// The synthetic source.
pub struct TsGen {
    bitrate_bps: u64,
    fps: u64,
    gop: u64,
    /// Packets emitted so far.
    emitted: u64,
    /// Packets of the current frame still to emit (PSI included); 0: start the next frame.
    frame_left: u64,
    /// Whether the next video packet starts the frame's PES.
    pes_start: bool,
    frame: u64,
    psi_pending: u8,
    cc_pat: u8,
    cc_pmt: u8,
    cc_video: u8,
    /// Key frames started so far.
    pub key_frames: u64,
}

impl TsGen {
    /// A source at `bitrate_bps` (TS bytes on the wire), `fps` frames per second and a key frame
    /// every `gop` frames.
    pub fn new(bitrate_bps: u64, fps: u64, gop: u64) -> TsGen {
        TsGen {
            bitrate_bps: bitrate_bps.max(PACKET as u64 * 8),
            fps: fps.max(1),
            gop: gop.max(1),
            emitted: 0,
            frame_left: 0,
            pes_start: true,
            frame: 0,
            psi_pending: 0,
            cc_pat: 0,
            cc_pmt: 0,
            cc_video: 0,
            key_frames: 0,
        }
    }

    /// Packets a frame gets: its share of the rate, spread so the long-run rate is exact.
    fn frame_packets(&self, f: u64) -> u64 {
        let per = |k: u64| k * self.bitrate_bps / (self.fps * PACKET as u64 * 8);
        (per(f + 1) - per(f)).max(4)
    }

    /// Appends to `out` every packet due by `t_us` (µs since the source started).
    pub fn feed_until(&mut self, t_us: u64, out: &mut Vec<u8>) {
        let due = (u128::from(t_us) * u128::from(self.bitrate_bps)
            / (PACKET as u128 * 8 * 1_000_000)) as u64;
        while self.emitted < due {
            let p = self.next_packet();
            out.extend_from_slice(&p);
            self.emitted += 1;
        }
    }

    fn next_packet(&mut self) -> [u8; PACKET] {
        if self.frame_left == 0 {
            self.frame_left = self.frame_packets(self.frame);
            self.pes_start = true;
            self.psi_pending = if self.frame % 2 == 0 { 2 } else { 0 };
        }
        self.frame_left -= 1;
        let p = match self.psi_pending {
            2 => {
                self.psi_pending = 1;
                self.cc_pat = (self.cc_pat + 1) & 0x0F;
                pat(self.cc_pat)
            }
            1 => {
                self.psi_pending = 0;
                self.cc_pmt = (self.cc_pmt + 1) & 0x0F;
                pmt(self.cc_pmt)
            }
            _ => self.video_packet(),
        };
        if self.frame_left == 0 {
            self.frame += 1;
        }
        p
    }

    fn video_packet(&mut self) -> [u8; PACKET] {
        let mut p = [0xAAu8; PACKET];
        p[0] = 0x47;
        p[1] = (VIDEO_PID >> 8) as u8;
        p[2] = VIDEO_PID as u8;
        self.cc_video = (self.cc_video + 1) & 0x0F;
        if !self.pes_start {
            p[3] = 0x10 | self.cc_video; // payload only
            return p;
        }
        self.pes_start = false;
        let key = self.frame % self.gop == 0;
        p[1] |= 0x40; // payload_unit_start_indicator
        let mut i = 4;
        if key {
            self.key_frames += 1;
            p[3] = 0x30 | self.cc_video; // adaptation field + payload
            p[4] = 1; // adaptation_field_length
            p[5] = 0x40; // random_access_indicator
            i = 6;
        } else {
            p[3] = 0x10 | self.cc_video;
        }
        // PES header: start code, stream_id 0xE0, unbounded length, PTS only.
        let pts = self.frame * 90_000 / self.fps + 90_000;
        let pes = [
            0x00,
            0x00,
            0x01,
            0xE0,
            0x00,
            0x00,
            0x80,
            0x80,
            0x05,
            0x21 | (((pts >> 30) & 0x07) << 1) as u8,
            (pts >> 22) as u8,
            0x01 | (((pts >> 15) & 0x7F) << 1) as u8,
            (pts >> 7) as u8,
            0x01 | ((pts & 0x7F) << 1) as u8,
        ];
        p[i..i + pes.len()].copy_from_slice(&pes);
        i += pes.len();
        // Access-unit delimiter, then the first slice's NAL header.
        let nal = if key { 0x65 } else { 0x41 };
        let es = [0, 0, 0, 1, 0x09, 0xF0, 0, 0, 0, 1, nal];
        p[i..i + es.len()].copy_from_slice(&es);
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_known_pat() {
        // The PAT ffmpeg writes for program 1 / PMT 0x1000 ends in CRC 2A B1 04 B2.
        let s = [
            0x00, 0xB0, 0x0D, 0x00, 0x01, 0xC1, 0x00, 0x00, 0x00, 0x01, 0xF0, 0x00,
        ];
        assert_eq!(crc32_mpeg(&s), 0x2AB1_04B2);
    }

    #[test]
    fn rate_and_gop() {
        let mut g = TsGen::new(2_000_000, 25, 25);
        let mut out = Vec::new();
        g.feed_until(10_000_000, &mut out);
        let bits = out.len() as u64 * 8;
        assert!(bits.abs_diff(20_000_000) < 2_000, "{bits}");
        assert_eq!(out.len() % PACKET, 0);
        assert!((10..=11).contains(&g.key_frames), "{}", g.key_frames);
        assert!(out.chunks(PACKET).all(|p| p[0] == 0x47));
    }
}
