//! PAT and PMT: which PID carries the program's video, and in which codec.
//!
//! Only single-packet sections are parsed (every PAT and nearly every PMT in practice). A section
//! that is truncated, spans packets or has a bad length is reported as [`PsiError`]; the caller keeps
//! what it knew before. CRCs are not checked: a corrupt table at worst yields a wrong video PID,
//! which costs random-access detection, never memory safety.

use super::packet::Packet;

/// Video codecs the random-access scanner understands.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum VideoCodec {
    /// ITU-T H.264 / AVC (stream_type 0x1B).
    H264,
    /// ITU-T H.265 / HEVC (stream_type 0x24).
    Hevc,
    /// Any other video stream type: only random_access_indicator marks key frames.
    Other(u8),
}

/// Why a PSI section was not parsed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PsiError {
    /// The packet does not start a section.
    NotSectionStart,
    /// Wrong table_id for the table asked for.
    TableId,
    /// Section length runs past the packet, or is too short.
    Length,
    /// PAT lists no program.
    NoProgram,
}

/// The section bytes (from table_id to CRC inclusive) of a section starting in `pkt`.
fn section<'a>(pkt: &Packet<'a>, table_id: u8) -> Result<&'a [u8], PsiError> {
    if !pkt.payload_start() {
        return Err(PsiError::NotSectionStart);
    }
    let p = pkt.payload();
    let pointer = *p.first().ok_or(PsiError::Length)? as usize;
    let s = p.get(1 + pointer..).ok_or(PsiError::Length)?;
    if s.len() < 3 {
        return Err(PsiError::Length);
    }
    if s[0] != table_id {
        return Err(PsiError::TableId);
    }
    let len = (usize::from(s[1] & 0x0F) << 8) | usize::from(s[2]);
    // 5 bytes of extended header + 4 of CRC at least.
    if len < 9 {
        return Err(PsiError::Length);
    }
    s.get(..3 + len).ok_or(PsiError::Length)
}

/// The PMT PID of the first program listed in a PAT packet.
pub fn parse_pat(pkt: &Packet<'_>) -> Result<u16, PsiError> {
    let s = section(pkt, 0x00)?;
    let body = &s[8..s.len() - 4];
    for e in body.chunks_exact(4) {
        let program = u16::from_be_bytes([e[0], e[1]]);
        if program != 0 {
            return Ok(u16::from_be_bytes([e[2] & 0x1F, e[3]]));
        }
    }
    Err(PsiError::NoProgram)
}

/// What a PMT says about the program's video.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct PmtInfo {
    /// PID of the first video elementary stream, if any.
    pub video: Option<(u16, VideoCodec)>,
    /// PID carrying the program clock reference.
    pub pcr_pid: u16,
}

/// The elementary stream entries of a PMT section: `(stream_type, pid, descriptors)`. Stops at
/// the first entry whose header would run past the section; descriptors are cut at its end.
pub(crate) struct EsEntries<'a>(&'a [u8]);

impl<'a> Iterator for EsEntries<'a> {
    type Item = (u8, u16, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let (head, tail) = (self.0.get(..5)?, &self.0[5..]);
        let es_len = (usize::from(head[3] & 0x0F) << 8) | usize::from(head[4]);
        let pid = u16::from_be_bytes([head[1] & 0x1F, head[2]]);
        let desc = tail.get(..es_len).unwrap_or(tail);
        self.0 = tail.get(es_len..).unwrap_or(&[]);
        Some((head[0], pid, desc))
    }
}

/// The PCR PID and the elementary stream entries of a PMT packet.
pub(crate) fn pmt_entries<'a>(pkt: &Packet<'a>) -> Result<(u16, EsEntries<'a>), PsiError> {
    let s = section(pkt, 0x02)?;
    let end = s.len() - 4;
    let fixed = s.get(8..12).ok_or(PsiError::Length)?;
    let pcr_pid = u16::from_be_bytes([fixed[0] & 0x1F, fixed[1]]);
    let info_len = (usize::from(fixed[2] & 0x0F) << 8) | usize::from(fixed[3]);
    Ok((pcr_pid, EsEntries(s.get(12 + info_len..end).unwrap_or(&[]))))
}

/// Parses a PMT packet.
pub fn parse_pmt(pkt: &Packet<'_>) -> Result<PmtInfo, PsiError> {
    let (pcr_pid, entries) = pmt_entries(pkt)?;
    let mut video = None;
    for (st, pid, _) in entries {
        let codec = match st {
            0x1B => Some(VideoCodec::H264),
            0x24 => Some(VideoCodec::Hevc),
            0x01 | 0x02 | 0x10 | 0x20 | 0x42 | 0xEA => Some(VideoCodec::Other(st)),
            _ => None,
        };
        if let (None, Some(c)) = (video, codec) {
            video = Some((pid, c));
        }
    }
    Ok(PmtInfo { video, pcr_pid })
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

    // PAT and PMT as written by ffmpeg's mpegts muxer (program 1, PMT PID 0x1000,
    // video 0x100 H.264, audio 0x101 AAC). CRC bytes are left as in the capture.
    const PAT: &[u8] = &[
        0x47, 0x40, 0x00, 0x10, 0x00, 0x00, 0xB0, 0x0D, 0x00, 0x01, 0xC1, 0x00, 0x00, 0x00, 0x01,
        0xF0, 0x00, 0x2A, 0xB1, 0x04, 0xB2,
    ];
    const PMT: &[u8] = &[
        0x47, 0x50, 0x00, 0x10, 0x00, 0x02, 0xB0, 0x17, 0x00, 0x01, 0xC1, 0x00, 0x00, 0xE1, 0x00,
        0xF0, 0x00, 0x1B, 0xE1, 0x00, 0xF0, 0x00, 0x0F, 0xE1, 0x01, 0xF0, 0x00, 0x2F, 0x44, 0xB9,
        0x9B,
    ];

    #[test]
    fn pat_from_literal() {
        let b = packet(PAT);
        assert_eq!(parse_pat(&Packet::new(&b).unwrap()), Ok(0x1000));
    }

    #[test]
    fn pmt_from_literal() {
        let b = packet(PMT);
        let info = parse_pmt(&Packet::new(&b).unwrap()).unwrap();
        assert_eq!(info.pcr_pid, 0x100);
        assert_eq!(info.video, Some((0x100, VideoCodec::H264)));
    }

    #[test]
    fn truncated_and_wrong_tables_are_errors() {
        let mut b = packet(PAT);
        b[7] = 0xFF; // section_length 0xDFF: past the packet
        assert_eq!(parse_pat(&Packet::new(&b).unwrap()), Err(PsiError::Length));
        let b = packet(PMT);
        assert_eq!(parse_pat(&Packet::new(&b).unwrap()), Err(PsiError::TableId));
        let mut b = packet(PAT);
        b[4] = 200; // pointer field past the payload
        assert_eq!(parse_pat(&Packet::new(&b).unwrap()), Err(PsiError::Length));
        let mut b = packet(PAT);
        b[1] = 0x00; // no PUSI
        assert_eq!(
            parse_pat(&Packet::new(&b).unwrap()),
            Err(PsiError::NotSectionStart)
        );
    }
}
