//! Byte ranges of stored media, as video players and resumable downloads ask for them
//! (RFC 9110 §14: `a-b`, `a-` and the suffix `-n`): parsing the `Range` header value,
//! and deciding which bytes it means for a file of a given length.
//!
//! Free of crate dependencies on purpose: the fuzz target `upload_body` compiles this
//! file as it is (see `fuzz/`).

/// A requested range before the length is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// Bytes `first..=last` (`bytes=a-b`); `last` may lie beyond the end.
    FromTo {
        /// First byte, counted from 0.
        first: u64,
        /// Last byte, inclusive.
        last: u64,
    },
    /// From `first` to the end (`bytes=a-`).
    From(u64),
    /// The last `n` bytes (`bytes=-n`).
    Suffix(u64),
}

/// A resolved, non-empty range inside a file: bytes `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

impl ByteRange {
    /// Number of bytes.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Whether the range is empty (never for a resolved range).
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// The last byte, inclusive, as `Content-Range` writes it.
    pub fn last(&self) -> u64 {
        self.end.saturating_sub(1)
    }
}

impl RangeRequest {
    /// The bytes this request selects in a file of `len` bytes, or `None` when it
    /// selects none (the answer is then 416 with the length).
    pub fn resolve(self, len: u64) -> Option<ByteRange> {
        let (start, end) = match self {
            RangeRequest::FromTo { first, last } if first <= last => {
                (first, last.saturating_add(1).min(len))
            }
            RangeRequest::FromTo { .. } => return None,
            RangeRequest::From(first) => (first, len),
            RangeRequest::Suffix(n) => (len.saturating_sub(n), len),
        };
        (start < end).then_some(ByteRange { start, end })
    }
}

/// Parses a `Range` value. `None` for anything but one well-formed byte range, which
/// means "send the whole body".
pub fn parse_range(value: &str) -> Option<RangeRequest> {
    let (unit, spec) = value.trim().split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return None;
    }
    let (first, last) = spec.trim().split_once('-')?;
    let number = |s: &str| {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    match (first.trim().is_empty(), last.trim().is_empty()) {
        (true, false) => number(last).map(RangeRequest::Suffix),
        (false, true) => number(first).map(RangeRequest::From),
        (false, false) => {
            let (first, last) = (number(first)?, number(last)?);
            (first <= last).then_some(RangeRequest::FromTo { first, last })
        }
        (true, true) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_resolve_against_the_length() {
        let r = |start, end| Some(ByteRange { start, end });
        let cases = [
            (RangeRequest::FromTo { first: 0, last: 0 }, r(0, 1)),
            (RangeRequest::FromTo { first: 2, last: 5 }, r(2, 6)),
            (RangeRequest::FromTo { first: 8, last: 99 }, r(8, 10)),
            (
                RangeRequest::FromTo {
                    first: 10,
                    last: 12,
                },
                None,
            ),
            (RangeRequest::FromTo { first: 5, last: 2 }, None),
            (RangeRequest::From(3), r(3, 10)),
            (RangeRequest::From(9), r(9, 10)),
            (RangeRequest::From(10), None),
            (RangeRequest::Suffix(4), r(6, 10)),
            (RangeRequest::Suffix(99), r(0, 10)),
            (RangeRequest::Suffix(0), None),
            (
                RangeRequest::FromTo {
                    first: 0,
                    last: u64::MAX,
                },
                r(0, 10),
            ),
        ];
        for (request, expected) in cases {
            assert_eq!(request.resolve(10), expected, "{request:?}");
        }
        assert_eq!(
            RangeRequest::From(0).resolve(0),
            None,
            "nothing in an empty file"
        );
    }

    #[test]
    fn one_byte_range_is_understood_and_anything_else_means_everything() {
        let cases = [
            (
                "bytes=0-99",
                Some(RangeRequest::FromTo { first: 0, last: 99 }),
            ),
            ("bytes=5-", Some(RangeRequest::From(5))),
            ("bytes=-10", Some(RangeRequest::Suffix(10))),
            (
                " Bytes = 1 - 2 ",
                Some(RangeRequest::FromTo { first: 1, last: 2 }),
            ),
            ("bytes=0-1,4-5", None),
            ("bytes=5-2", None),
            ("bytes=-", None),
            ("bytes=+1-2", None),
            ("bytes=a-b", None),
            ("items=0-1", None),
            ("bytes=99999999999999999999-", None),
            ("", None),
        ];
        for (value, expected) in cases {
            assert_eq!(parse_range(value), expected, "{value:?}");
        }
    }
}
