//! RecordIO, the framing of the agent's event stream: `<decimal length>\n<bytes>`
//! repeated. The decoder accepts the stream in any chunking and refuses what a
//! well-behaved agent never sends, so a corrupt stream is an error, not a hang
//! or an allocation of whatever size the header claims.

use bytes::{Buf, Bytes, BytesMut};
use thiserror::Error;

/// The largest record we accept. Events are small; a TaskInfo with a large
/// `data` blob is the biggest thing the agent sends.
pub const MAX_RECORD: usize = 16 * 1024 * 1024;

/// Longest header: enough digits for MAX_RECORD, plus slack for leading zeros.
const MAX_HEADER_DIGITS: usize = 20;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum RecordIoError {
    #[error("RecordIO record of {len} bytes exceeds the {max}-byte limit")]
    TooLarge { len: u64, max: usize },
    #[error("RecordIO record length is zero, which the format does not allow")]
    ZeroLength,
    #[error("RecordIO record length {0:?} is not a decimal number")]
    BadLength(String),
    #[error("RecordIO stream ended inside a record ({got} of {want} bytes)")]
    Truncated { got: usize, want: usize },
    #[error("RecordIO stream ended inside a record header ({0:?})")]
    TruncatedHeader(String),
}

#[derive(Debug)]
pub struct Decoder {
    buf: BytesMut,
    /// Length of the record being read, once its header is complete.
    pending: Option<usize>,
    max: usize,
    failed: bool,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new(MAX_RECORD)
    }
}

impl Decoder {
    pub fn new(max: usize) -> Decoder {
        Decoder {
            buf: BytesMut::new(),
            pending: None,
            max,
            failed: false,
        }
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete record, `Ok(None)` when more input is needed. After an
    /// error the stream is unusable and every later call repeats a failure.
    pub fn next_record(&mut self) -> Result<Option<Bytes>, RecordIoError> {
        if self.failed {
            return Err(RecordIoError::BadLength("(stream already failed)".into()));
        }
        let result = self.next_inner();
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn next_inner(&mut self) -> Result<Option<Bytes>, RecordIoError> {
        let len = match self.pending {
            Some(len) => len,
            None => {
                let Some(newline) = self.buf.iter().position(|&b| b == b'\n') else {
                    self.check_partial_header()?;
                    return Ok(None);
                };
                let len = parse_len(&self.buf[..newline], self.max)?;
                self.buf.advance(newline + 1);
                self.pending = Some(len);
                len
            }
        };
        if self.buf.len() < len {
            return Ok(None);
        }
        self.pending = None;
        Ok(Some(self.buf.split_to(len).freeze()))
    }

    /// Refuses a header early when what has arrived can never become valid,
    /// so a stream of garbage without newlines is not buffered forever.
    fn check_partial_header(&self) -> Result<(), RecordIoError> {
        if self.buf.iter().any(|b| !b.is_ascii_digit()) || self.buf.len() > MAX_HEADER_DIGITS {
            return Err(RecordIoError::BadLength(lossy(&self.buf)));
        }
        Ok(())
    }

    /// Called at the end of the stream: anything left over is a truncation.
    pub fn finish(&self) -> Result<(), RecordIoError> {
        match self.pending {
            Some(want) => Err(RecordIoError::Truncated {
                got: self.buf.len(),
                want,
            }),
            None if self.buf.is_empty() => Ok(()),
            None => Err(RecordIoError::TruncatedHeader(lossy(&self.buf))),
        }
    }
}

fn lossy(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(32)];
    String::from_utf8_lossy(shown).into_owned()
}

fn parse_len(header: &[u8], max: usize) -> Result<usize, RecordIoError> {
    if header.is_empty()
        || header.len() > MAX_HEADER_DIGITS
        || !header.iter().all(u8::is_ascii_digit)
    {
        return Err(RecordIoError::BadLength(lossy(header)));
    }
    // At most 20 digits: fits u128 without overflow checks.
    let len: u128 = std::str::from_utf8(header)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| RecordIoError::BadLength(lossy(header)))?;
    if len == 0 {
        return Err(RecordIoError::ZeroLength);
    }
    if len > max as u128 {
        return Err(RecordIoError::TooLarge {
            len: u64::try_from(len).unwrap_or(u64::MAX),
            max,
        });
    }
    Ok(len as usize)
}

/// Frames one record.
pub fn encode(record: &[u8]) -> Vec<u8> {
    let mut out = format!("{}\n", record.len()).into_bytes();
    out.extend_from_slice(record);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(chunks: &[&[u8]]) -> Result<Vec<Bytes>, RecordIoError> {
        let mut d = Decoder::default();
        let mut out = Vec::new();
        for c in chunks {
            d.feed(c);
            while let Some(r) = d.next_record()? {
                out.push(r);
            }
        }
        d.finish()?;
        Ok(out)
    }

    #[test]
    fn decodes_records_split_anywhere() {
        let stream = [encode(b"hello"), encode(b"x"), encode(&[0u8; 300])].concat();
        for split in 0..stream.len() {
            let (a, b) = stream.split_at(split);
            let got = decode_all(&[a, b]).unwrap();
            assert_eq!(got.len(), 3);
            assert_eq!(&got[0][..], b"hello");
            assert_eq!(got[2].len(), 300);
        }
    }

    #[test]
    fn refuses_what_no_agent_sends() {
        assert_eq!(decode_all(&[b"0\n"]), Err(RecordIoError::ZeroLength));
        assert!(matches!(
            decode_all(&[b"12a\nxx"]),
            Err(RecordIoError::BadLength(_))
        ));
        assert!(matches!(
            decode_all(&[b"\nxx"]),
            Err(RecordIoError::BadLength(_))
        ));
        assert!(matches!(
            decode_all(&[b"HTTP/1.1"]),
            Err(RecordIoError::BadLength(_))
        ));
        assert_eq!(
            decode_all(&[b"16777217\n"]),
            Err(RecordIoError::TooLarge {
                len: 16_777_217,
                max: MAX_RECORD
            })
        );
        assert!(matches!(
            decode_all(&[b"99999999999999999999999\n"]),
            Err(RecordIoError::BadLength(_))
        ));
        assert_eq!(
            decode_all(&[b"5\nabc"]),
            Err(RecordIoError::Truncated { got: 3, want: 5 })
        );
        assert!(matches!(
            decode_all(&[b"5\nabcde12"]),
            Err(RecordIoError::TruncatedHeader(_))
        ));
    }

    #[test]
    fn a_record_of_exactly_the_limit_is_accepted() {
        let big = vec![7u8; MAX_RECORD];
        let got = decode_all(&[&encode(&big)]).unwrap();
        assert_eq!(got[0].len(), MAX_RECORD);
    }

    proptest! {
        #[test]
        fn any_chunking_gives_back_the_records(
            records in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..200), 0..20),
            cuts in proptest::collection::vec(any::<usize>(), 0..30),
        ) {
            let stream: Vec<u8> = records.iter().flat_map(|r| encode(r)).collect();
            let mut points: Vec<usize> = cuts.iter().map(|c| if stream.is_empty() { 0 } else { c % stream.len() }).collect();
            points.sort_unstable();
            let mut chunks = Vec::new();
            let mut last = 0;
            for p in points { chunks.push(&stream[last..p]); last = p; }
            chunks.push(&stream[last..]);
            let got = decode_all(&chunks).unwrap();
            prop_assert_eq!(got.iter().map(|b| b.to_vec()).collect::<Vec<_>>(), records);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_all(&[&data]);
        }

        #[test]
        fn a_cut_stream_is_truncated_not_silently_short(
            records in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..50), 1..5),
            cut in any::<usize>(),
        ) {
            let stream: Vec<u8> = records.iter().flat_map(|r| encode(r)).collect();
            let at = cut % stream.len();
            let boundaries: Vec<usize> = records.iter().scan(0, |acc, r| { *acc += encode(r).len(); Some(*acc) }).collect();
            let result = decode_all(&[&stream[..at]]);
            if at == 0 || boundaries.contains(&at) {
                prop_assert!(result.is_ok());
            } else {
                prop_assert!(result.is_err());
            }
        }
    }
}
