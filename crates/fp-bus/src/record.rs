//! Record framing: how one record sits in a segment file.
//!
//! ```text
//! offset  size  field
//!      0     4  body_len     u32 LE, bytes of the body
//!      4     4  body_crc     u32 LE, CRC32C of the body
//!      8     4  header_crc   u32 LE, CRC32C of bytes 0..8
//!     12     8  offset       u64 LE  ┐
//!     20     8  published_at i64 LE  │ body (body_len bytes)
//!     28    32  partition key (raw)  │
//!     60     …  value                ┘
//! ```
//!
//! Why two checksums: recovery must tell a *torn tail* (the writer died mid-write, so the body
//! runs past the end of the file; safe to truncate: it was never acknowledged) from a *damaged
//! length field* (which could make an acknowledged record look torn and be silently dropped).
//! The header checksum makes the length trustworthy before it is used. Why the offset in the
//! body: a reader checks every record is the one it expects, so a misplaced or duplicated
//! region is reported, not served.

/// Bytes before the body.
pub(crate) const HEADER_LEN: usize = 12;
/// Fixed part of the body: offset, timestamp, key.
pub(crate) const BODY_FIXED_LEN: usize = 8 + 8 + 32;
/// Bytes a frame adds to its value.
pub const FRAME_OVERHEAD: usize = HEADER_LEN + BODY_FIXED_LEN;
/// Largest value a frame can carry (a sanity bound for a header that passes its checksum).
pub(crate) const MAX_VALUE_LEN: usize = 256 * 1024 * 1024;

/// Why bytes are not a valid frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FrameError {
    /// Fewer bytes than the frame needs (`need` in total, `have` present).
    Incomplete { have: usize, need: usize },
    /// The header checksum does not match: the length cannot be trusted.
    HeaderChecksum,
    /// A length outside what the writer ever produces.
    Length(u32),
    /// The body checksum does not match.
    BodyChecksum,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Incomplete { have, need } => {
                write!(f, "record is cut short ({have} of {need} bytes present)")
            }
            Self::HeaderChecksum => f.write_str("record header checksum mismatch"),
            Self::Length(n) => write!(f, "record length {n} is impossible"),
            Self::BodyChecksum => f.write_str("record checksum (CRC32C) mismatch"),
        }
    }
}

/// A frame that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Frame {
    /// The offset stored in the frame.
    pub offset: u64,
    /// Append time, microseconds since the Unix epoch.
    pub published_at_micros: i64,
    /// Raw 32-byte partition key.
    pub key: [u8; 32],
    /// Where the value sits inside the frame bytes.
    pub value_start: usize,
    /// Total frame length (header + body).
    pub frame_len: usize,
}

/// Total frame length for a value of `value_len` bytes.
pub(crate) fn frame_len(value_len: usize) -> usize {
    FRAME_OVERHEAD + value_len
}

/// Append one frame to `buf`.
pub(crate) fn encode(
    buf: &mut Vec<u8>,
    offset: u64,
    published_at_micros: i64,
    key: &[u8; 32],
    value: &[u8],
) {
    let start = buf.len();
    let body_len = (BODY_FIXED_LEN + value.len()) as u32;
    buf.reserve(FRAME_OVERHEAD + value.len());
    buf.extend_from_slice(&body_len.to_le_bytes());
    buf.extend_from_slice(&[0u8; 8]); // checksums, filled in below
    let body_start = buf.len();
    buf.extend_from_slice(&offset.to_le_bytes());
    buf.extend_from_slice(&published_at_micros.to_le_bytes());
    buf.extend_from_slice(key);
    buf.extend_from_slice(value);
    let body_crc = crc32c::crc32c(&buf[body_start..]);
    buf[start + 4..start + 8].copy_from_slice(&body_crc.to_le_bytes());
    let header_crc = crc32c::crc32c(&buf[start..start + 8]);
    buf[start + 8..start + 12].copy_from_slice(&header_crc.to_le_bytes());
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(b)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

/// Check the header at the start of `bytes` and return the whole frame's length. Needs only
/// [`HEADER_LEN`] bytes; the body is not checked.
pub(crate) fn peek_len(bytes: &[u8]) -> Result<usize, FrameError> {
    if bytes.len() < HEADER_LEN {
        return Err(FrameError::Incomplete {
            have: bytes.len(),
            need: HEADER_LEN,
        });
    }
    if crc32c::crc32c(&bytes[0..8]) != u32_at(bytes, 8) {
        return Err(FrameError::HeaderChecksum);
    }
    let body_len = u32_at(bytes, 0);
    let body = body_len as usize;
    if !(BODY_FIXED_LEN..=BODY_FIXED_LEN + MAX_VALUE_LEN).contains(&body) {
        return Err(FrameError::Length(body_len));
    }
    Ok(HEADER_LEN + body)
}

/// Fully check the frame at the start of `bytes` (header and body checksums).
pub(crate) fn decode(bytes: &[u8]) -> Result<Frame, FrameError> {
    let frame_len = peek_len(bytes)?;
    if bytes.len() < frame_len {
        return Err(FrameError::Incomplete {
            have: bytes.len(),
            need: frame_len,
        });
    }
    let body = &bytes[HEADER_LEN..frame_len];
    if crc32c::crc32c(body) != u32_at(bytes, 4) {
        return Err(FrameError::BodyChecksum);
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(&body[16..48]);
    Ok(Frame {
        offset: u64_at(body, 0),
        published_at_micros: u64_at(body, 8) as i64,
        key,
        value_start: FRAME_OVERHEAD,
        frame_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(value: &[u8]) -> Vec<u8> {
        let mut buf = Vec::new();
        encode(&mut buf, 7, 1_700_000_000_000_000, &[0xab; 32], value);
        buf
    }

    #[test]
    fn round_trip() {
        let buf = frame(b"hello");
        assert_eq!(buf.len(), frame_len(5));
        let f = decode(&buf).expect("valid");
        assert_eq!(f.offset, 7);
        assert_eq!(f.published_at_micros, 1_700_000_000_000_000);
        assert_eq!(f.key, [0xab; 32]);
        assert_eq!(&buf[f.value_start..f.frame_len], b"hello");
        assert_eq!(peek_len(&buf), Ok(buf.len()));
    }

    #[test]
    fn empty_value_is_a_frame() {
        let buf = frame(b"");
        assert_eq!(decode(&buf).map(|f| f.frame_len), Ok(FRAME_OVERHEAD));
    }

    #[test]
    fn every_single_bit_flip_is_detected() {
        let good = frame(b"{\"event_id\":\"e1\"}");
        for byte in 0..good.len() {
            for bit in 0..8 {
                let mut bad = good.clone();
                bad[byte] ^= 1 << bit;
                assert!(decode(&bad).is_err(), "flip at byte {byte} bit {bit}");
            }
        }
    }

    #[test]
    fn torn_frames_are_incomplete() {
        let good = frame(b"0123456789");
        for cut in 0..good.len() {
            assert!(
                matches!(decode(&good[..cut]), Err(FrameError::Incomplete { .. })),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn a_damaged_length_is_not_mistaken_for_a_torn_tail() {
        let mut bad = frame(b"abc");
        bad[0] = 0xff; // claims a huge body
        assert_eq!(decode(&bad), Err(FrameError::HeaderChecksum));
    }
}
