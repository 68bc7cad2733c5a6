//! Random-access detection: does this video PES start a key frame?
//!
//! A key frame is found three ways: the adaptation field's random_access_indicator, an H.264 IDR
//! slice (nal_unit_type 5) or an HEVC IRAP picture (nal_unit_type 16..=21). The scanner reads the
//! elementary stream of one PES across packets, keeping only a few bytes of state, until it meets
//! the first coded slice (then it knows) or has read [`SCAN_LIMIT`] bytes (then it gives up: not key).
//! It never allocates and never reads outside the slices it is given.

use super::psi::VideoCodec;

/// Bytes of a PES the scanner reads before deciding "not a key frame".
pub const SCAN_LIMIT: usize = 8 * 1024;

/// The scanner's verdict so far.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No coded slice seen yet: feed more of this PES.
    Pending,
    /// The PES starts a random-access picture.
    Key,
    /// The PES starts some other picture (or the scan gave up).
    NotKey,
}

/// Scans one video PES for the type of its first coded picture.
#[derive(Clone, Debug)]
pub struct RapScanner {
    codec: VideoCodec,
    zeros: u8,
    want_header: bool,
    header_skip: usize,
    seen: usize,
    verdict: Verdict,
}

impl RapScanner {
    /// A scanner idle until [`RapScanner::start`].
    pub fn new(codec: VideoCodec) -> Self {
        RapScanner {
            codec,
            zeros: 0,
            want_header: false,
            header_skip: 0,
            seen: 0,
            verdict: Verdict::NotKey,
        }
    }

    /// The current verdict.
    pub fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// Begins a new PES with the payload of its first packet; `rai` is that packet's
    /// random_access_indicator. Returns the verdict so far.
    pub fn start(&mut self, first_payload: &[u8], rai: bool) -> Verdict {
        self.zeros = 0;
        self.want_header = false;
        self.seen = 0;
        self.verdict = Verdict::Pending;
        if rai {
            self.verdict = Verdict::Key;
            return self.verdict;
        }
        // PES header: 00 00 01 stream_id len(2) flags(2) header_data_length(1).
        if first_payload.len() < 9 || first_payload[..3] != [0, 0, 1] {
            self.verdict = Verdict::NotKey;
            return self.verdict;
        }
        if let VideoCodec::Other(_) = self.codec {
            self.verdict = Verdict::NotKey;
            return self.verdict;
        }
        self.header_skip = 9 + usize::from(first_payload[8]);
        self.feed(first_payload)
    }

    /// Feeds the payload of a following packet of the same PES.
    pub fn feed(&mut self, payload: &[u8]) -> Verdict {
        if self.verdict != Verdict::Pending {
            return self.verdict;
        }
        let skip = self.header_skip.min(payload.len());
        self.header_skip -= skip;
        for &b in &payload[skip..] {
            if self.want_header {
                self.want_header = false;
                if let Some(v) = self.classify(b) {
                    self.verdict = v;
                    return v;
                }
            }
            if b == 0 {
                self.zeros = self.zeros.saturating_add(1);
            } else {
                self.want_header = b == 1 && self.zeros >= 2;
                self.zeros = 0;
            }
        }
        self.seen += payload.len() - skip;
        if self.seen >= SCAN_LIMIT {
            self.verdict = Verdict::NotKey;
        }
        self.verdict
    }

    /// Verdict from a NAL header byte, or `None` for a non-slice NAL unit.
    fn classify(&self, nal: u8) -> Option<Verdict> {
        match self.codec {
            VideoCodec::H264 => match nal & 0x1F {
                5 => Some(Verdict::Key),
                1..=4 => Some(Verdict::NotKey),
                _ => None,
            },
            VideoCodec::Hevc => match (nal >> 1) & 0x3F {
                16..=21 => Some(Verdict::Key),
                0..=9 => Some(Verdict::NotKey),
                _ => None,
            },
            VideoCodec::Other(_) => Some(Verdict::NotKey),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PES: [u8; 9] = [0, 0, 1, 0xE0, 0, 0, 0x80, 0x80, 0x05];
    const PTS: [u8; 5] = [0x21, 0, 1, 0, 1];

    fn pes(es: &[u8]) -> std::vec::Vec<u8> {
        let mut v = PES.to_vec();
        v.extend_from_slice(&PTS);
        v.extend_from_slice(es);
        v
    }

    #[test]
    fn h264_idr_after_sps_pps() {
        let mut s = RapScanner::new(VideoCodec::H264);
        // AUD, SPS, PPS, IDR slice
        let es = [
            0, 0, 0, 1, 0x09, 0xF0, 0, 0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x68, 0xCE, 0, 0, 1, 0x65,
            0x88,
        ];
        assert_eq!(s.start(&pes(&es), false), Verdict::Key);
    }

    #[test]
    fn h264_non_idr() {
        let mut s = RapScanner::new(VideoCodec::H264);
        let es = [0, 0, 0, 1, 0x09, 0xF0, 0, 0, 1, 0x41, 0x9A];
        assert_eq!(s.start(&pes(&es), false), Verdict::NotKey);
    }

    #[test]
    fn start_code_split_across_packets() {
        let mut s = RapScanner::new(VideoCodec::H264);
        assert_eq!(
            s.start(&pes(&[0, 0, 0, 1, 0x06, 0xAA, 0, 0]), false),
            Verdict::Pending
        );
        assert_eq!(s.feed(&[1]), Verdict::Pending);
        assert_eq!(s.feed(&[0x65, 0x00]), Verdict::Key);
    }

    #[test]
    fn hevc_irap_and_trail() {
        let mut s = RapScanner::new(VideoCodec::Hevc);
        // VPS(32) SPS(33) PPS(34) then IDR_W_RADL (19): header byte 19 << 1 = 0x26
        let es = [
            0, 0, 1, 0x40, 0x01, 0, 0, 1, 0x42, 0x01, 0, 0, 1, 0x44, 0x01, 0, 0, 1, 0x26, 0x01,
        ];
        assert_eq!(s.start(&pes(&es), false), Verdict::Key);
        let es = [0, 0, 1, 0x02, 0x01]; // TRAIL_R (1)
        assert_eq!(s.start(&pes(&es), false), Verdict::NotKey);
    }

    #[test]
    fn rai_and_garbage() {
        let mut s = RapScanner::new(VideoCodec::Other(2));
        assert_eq!(s.start(&[], true), Verdict::Key);
        let mut s = RapScanner::new(VideoCodec::H264);
        assert_eq!(s.start(&[1, 2, 3], false), Verdict::NotKey);
        // Header length byte pointing past everything: stays pending, no panic.
        assert_eq!(
            s.start(&[0, 0, 1, 0xE0, 0, 0, 0x80, 0x80, 0xFF], false),
            Verdict::Pending
        );
        for _ in 0..100 {
            s.feed(&[0u8; 184]);
        }
        assert_eq!(s.verdict(), Verdict::NotKey);
    }
}
