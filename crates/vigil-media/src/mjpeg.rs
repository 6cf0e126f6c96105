//! MJPEG over HTTP: `multipart/x-mixed-replace` streams of JPEG frames, read and written.
//!
//! **Reading.** HTTP cameras are fetched in Rust (redirects off, so the network guard
//! holds for the whole connection) and their body bytes pushed into an [`MjpegParser`],
//! which yields each part's bytes (a JPEG) as soon as it is complete. It is a pure,
//! incremental parser: no I/O, any chunking of the same bytes gives the same parts.
//! Real cameras bend the format, so it accepts:
//! - parts with a `Content-Length` (read exactly) or without (up to the next boundary);
//! - the boundary written with or without the leading `--`, and a `boundary=` parameter
//!   that itself starts with `--` (a common mistake), quoted or not;
//! - CRLF or bare LF line ends, blank or junk lines before a boundary;
//! - a part with no headers at all (JPEG bytes right after the boundary line), and a
//!   boundary right after a JPEG's end marker with no line break.
//!
//! A hostile camera cannot make it hold much: a part longer than `max_part` bytes,
//! headers longer than [`MAX_HEADERS`], or `max_part` bytes of anything without a
//! boundary are errors. The buffer holds at most one part plus the last pushed chunk, as
//! long as the caller drains [`MjpegParser::next_part`] after each [`MjpegParser::push`].
//! Fuzz target: `mjpeg_stream`.
//!
//! **Writing.** [`content_type`], [`part_header`] and [`encode_part`] are what the
//! server's `/stream` endpoint sends, so one module knows the format both ways.
//!
//! Depends only on `bytes` and `thiserror` (the fuzz crate compiles this file on its own
//! with `#[path]`): keep it that way.

// `fuzzing` is set by cargo-fuzz, which compiles this file into a fuzz target
// (`check_fuzz_input`); the main build does not know that cfg.
#![allow(unexpected_cfgs)]

use bytes::{Buf, Bytes, BytesMut};

/// The default largest part (one JPEG), in bytes: 8 MiB is a 4K frame at high quality.
pub const DEFAULT_MAX_PART: usize = 8 * 1024 * 1024;

/// The largest header block of one part, in bytes.
pub const MAX_HEADERS: usize = 8 * 1024;

/// The longest boundary accepted (RFC 2046 allows 70; cameras use more).
pub const MAX_BOUNDARY: usize = 200;

/// What the parser refused. Messages are plain words for a camera's status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MjpegError {
    /// The `Content-Type` is not `multipart/…`.
    #[error("the camera did not send an MJPEG stream (Content-Type {0})")]
    NotMultipart(String),
    /// No usable `boundary=` parameter.
    #[error("the camera's MJPEG stream names no usable boundary")]
    NoBoundary,
    /// `max_part` bytes without finding a boundary line.
    #[error("the camera's stream has no MJPEG part boundaries")]
    NoBoundaryInStream,
    /// A part is larger than allowed.
    #[error("the camera sent a frame larger than {0} bytes")]
    PartTooLarge(usize),
    /// A part's headers are longer than [`MAX_HEADERS`].
    #[error("the camera sent part headers longer than {MAX_HEADERS} bytes")]
    HeadersTooLong,
}

/// Where the parser is in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Looking for a boundary line (start of stream, after a sized part, junk).
    Seek {
        /// The current line began in bytes already dropped, so it cannot be a boundary.
        in_dropped_line: bool,
    },
    /// Reading a part's header lines.
    Headers,
    /// Reading a part's body, of a known length or up to the next boundary.
    Body(Option<usize>),
    /// The closing boundary was seen; nothing more is read.
    Done,
}

/// An incremental `multipart/x-mixed-replace` parser yielding each part's body.
#[derive(Debug, Clone)]
pub struct MjpegParser {
    /// The boundary without leading dashes.
    token: Vec<u8>,
    max_part: usize,
    buf: BytesMut,
    state: State,
    /// Bytes dropped while seeking a boundary since the last part.
    skipped: usize,
    /// In an unsized body: where the next boundary search starts.
    scan_from: usize,
    /// Header bytes read for the current part.
    header_bytes: usize,
    /// The current part's `Content-Length`, once its header was read.
    pending_length: Option<usize>,
    failed: Option<MjpegError>,
}

impl MjpegParser {
    /// A parser for parts separated by `boundary` (as in the `boundary=` parameter; a
    /// leading `--` is tolerated), each at most `max_part` bytes.
    ///
    /// # Errors
    /// [`MjpegError::NoBoundary`] for an empty (or all-dash), overlong or non-printable
    /// boundary.
    pub fn new(boundary: &str, max_part: usize) -> Result<MjpegParser, MjpegError> {
        let token = boundary.trim_start_matches('-');
        if token.is_empty()
            || boundary.len() > MAX_BOUNDARY
            || !token.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        {
            return Err(MjpegError::NoBoundary);
        }
        Ok(MjpegParser {
            token: token.as_bytes().to_vec(),
            max_part: max_part.max(1),
            buf: BytesMut::new(),
            state: State::Seek {
                in_dropped_line: false,
            },
            skipped: 0,
            scan_from: 0,
            header_bytes: 0,
            pending_length: None,
            failed: None,
        })
    }

    /// A parser for a response with this `Content-Type` header value.
    ///
    /// # Errors
    /// [`MjpegError::NotMultipart`] or [`MjpegError::NoBoundary`].
    pub fn from_content_type(
        content_type: &str,
        max_part: usize,
    ) -> Result<MjpegParser, MjpegError> {
        let boundary = boundary_from_content_type(content_type)?;
        MjpegParser::new(&boundary, max_part)
    }

    /// Appends bytes from the stream. Call [`MjpegParser::next_part`] until it returns
    /// `Ok(None)` after each push, so the buffer stays bounded.
    pub fn push(&mut self, data: &[u8]) {
        if self.failed.is_none() && self.state != State::Done {
            self.buf.extend_from_slice(data);
        }
    }

    /// The next complete part's bytes, `Ok(None)` when more input is needed (or the
    /// stream has ended). Empty parts are skipped.
    ///
    /// # Errors
    /// See [`MjpegError`]; after an error every call returns it again (drop the
    /// connection).
    pub fn next_part(&mut self) -> Result<Option<Bytes>, MjpegError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.step() {
            Ok(part) => Ok(part),
            Err(e) => {
                self.failed = Some(e.clone());
                self.buf = BytesMut::new();
                Err(e)
            }
        }
    }

    /// Whether the closing boundary (`--boundary--`) was seen.
    pub fn is_finished(&self) -> bool {
        self.state == State::Done
    }

    /// Bytes held, waiting for the rest of a part.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    fn step(&mut self) -> Result<Option<Bytes>, MjpegError> {
        loop {
            match self.state {
                State::Done => return Ok(None),
                State::Seek { in_dropped_line } => {
                    if !self.seek(in_dropped_line)? {
                        return Ok(None);
                    }
                }
                State::Headers => {
                    if !self.headers()? {
                        return Ok(None);
                    }
                }
                State::Body(Some(len)) => {
                    if self.buf.len() < len {
                        return Ok(None);
                    }
                    let part = self.buf.split_to(len).freeze();
                    // Whatever follows (CRLF, junk) is skipped up to the next boundary;
                    // the part's end counts as a line start (some cameras write the
                    // boundary right after the JPEG).
                    self.state = State::Seek {
                        in_dropped_line: false,
                    };
                    self.skipped = 0;
                    if !part.is_empty() {
                        return Ok(Some(part));
                    }
                }
                State::Body(None) => match self.unsized_body()? {
                    Some(part) if !part.is_empty() => return Ok(Some(part)),
                    Some(_) => {}
                    None => return Ok(None),
                },
            }
        }
    }

    /// Drops lines until a boundary line; `true` when one was consumed.
    fn seek(&mut self, mut in_dropped_line: bool) -> Result<bool, MjpegError> {
        loop {
            let Some(nl) = self.buf.iter().position(|&b| b == b'\n') else {
                // No complete line. A boundary line is short: a longer partial line is
                // not one, so drop it (and the rest of it when it comes).
                let longest = self.token.len() + 64;
                if in_dropped_line || self.buf.len() > longest {
                    self.skip(self.buf.len())?;
                    in_dropped_line = true;
                }
                self.state = State::Seek { in_dropped_line };
                return Ok(false);
            };
            let line = &self.buf[..nl];
            let boundary = if in_dropped_line {
                None
            } else {
                self.boundary_line(line)
            };
            match boundary {
                Some(closing) => {
                    self.buf.advance(nl + 1);
                    self.skipped = 0;
                    self.header_bytes = 0;
                    self.pending_length = None;
                    self.state = if closing { State::Done } else { State::Headers };
                    if closing {
                        self.buf = BytesMut::new();
                    }
                    return Ok(true);
                }
                None => {
                    self.skip(nl + 1)?;
                    in_dropped_line = false;
                }
            }
        }
    }

    fn skip(&mut self, n: usize) -> Result<(), MjpegError> {
        self.buf.advance(n);
        self.skipped = self.skipped.saturating_add(n);
        if self.skipped > self.max_part {
            return Err(MjpegError::NoBoundaryInStream);
        }
        Ok(())
    }

    /// Reads header lines up to the blank line; `true` when the body starts.
    fn headers(&mut self) -> Result<bool, MjpegError> {
        loop {
            // A part with no headers: the JPEG starts right after the boundary line.
            if self.buf.starts_with(&[0xFF, 0xD8]) {
                self.start_body();
                return Ok(true);
            }
            let Some(nl) = self.buf.iter().position(|&b| b == b'\n') else {
                if self.header_bytes + self.buf.len() > MAX_HEADERS {
                    return Err(MjpegError::HeadersTooLong);
                }
                return Ok(false);
            };
            self.header_bytes += nl + 1;
            if self.header_bytes > MAX_HEADERS {
                return Err(MjpegError::HeadersTooLong);
            }
            let line = trim_cr(&self.buf[..nl]);
            if line.iter().all(|b| *b == b' ' || *b == b'\t') {
                self.buf.advance(nl + 1);
                self.start_body();
                return Ok(true);
            }
            if let Some(n) = content_length(line) {
                if n > self.max_part {
                    return Err(MjpegError::PartTooLarge(self.max_part));
                }
                self.pending_length = Some(n);
            }
            self.buf.advance(nl + 1);
        }
    }

    fn start_body(&mut self) {
        self.scan_from = 0;
        self.state = State::Body(self.pending_length.take());
    }

    /// A body without a length: everything up to the next boundary line. `Some(part)`
    /// when the boundary was found (and consumed).
    fn unsized_body(&mut self) -> Result<Option<Bytes>, MjpegError> {
        let token_len = self.token.len();
        let mut from = self.scan_from;
        let found = loop {
            let Some(i) = find(&self.buf[from..], &self.token).map(|i| i + from) else {
                break None;
            };
            from = i + 1;
            // The boundary line starts before any dashes written in front of the token.
            let mut start = i;
            while start > 0 && self.buf[start - 1] == b'-' {
                start -= 1;
            }
            let at_line_start = start == 0
                || self.buf[start - 1] == b'\n'
                || (start >= 2 && self.buf[start - 2..start] == [0xFF, 0xD9]);
            if !at_line_start {
                continue;
            }
            let after = i + token_len;
            match self.buf[after..].iter().position(|&b| b == b'\n') {
                Some(nl) => {
                    let rest = &self.buf[after..after + nl];
                    if let Some(closing) = boundary_tail(rest) {
                        break Some((start, after + nl + 1, closing));
                    }
                }
                None => {
                    // The line is not complete yet: decide when more bytes arrive,
                    // unless what is there already rules it out.
                    if boundary_tail_prefix(&self.buf[after..]) {
                        self.scan_from = i;
                        return self.check_unsized_size();
                    }
                }
            }
        };
        let Some((start, end, closing)) = found else {
            // Keep the last token length of bytes for a boundary split across pushes.
            self.scan_from = self.buf.len().saturating_sub(token_len);
            return self.check_unsized_size();
        };
        let mut body_end = start;
        if body_end > 0 && self.buf[body_end - 1] == b'\n' {
            body_end -= 1;
            if body_end > 0 && self.buf[body_end - 1] == b'\r' {
                body_end -= 1;
            }
        }
        if body_end > self.max_part {
            return Err(MjpegError::PartTooLarge(self.max_part));
        }
        let mut taken = self.buf.split_to(end);
        taken.truncate(body_end);
        self.skipped = 0;
        self.header_bytes = 0;
        self.pending_length = None;
        self.state = if closing {
            self.buf = BytesMut::new();
            State::Done
        } else {
            State::Headers
        };
        Ok(Some(taken.freeze()))
    }

    fn check_unsized_size(&self) -> Result<Option<Bytes>, MjpegError> {
        // The body so far, less what could still be the start of a boundary line.
        if self.buf.len() > self.max_part + self.token.len() + 64 {
            return Err(MjpegError::PartTooLarge(self.max_part));
        }
        Ok(None)
    }

    /// `Some(closing)` when `line` is a boundary line: optional dashes, the token,
    /// optional `--` (closing), optional blanks and CR.
    fn boundary_line(&self, line: &[u8]) -> Option<bool> {
        // The same bound as for a partial line in `seek`, so chunking cannot matter.
        if line.len() > self.token.len() + 64 {
            return None;
        }
        let mut rest = line;
        while let [b'-', tail @ ..] = rest {
            rest = tail;
        }
        let tail = rest.strip_prefix(self.token.as_slice())?;
        boundary_tail(tail)
    }
}

/// What may follow the token on a boundary line: `--` for the closing one, then blanks.
/// `Some(closing)` when `rest` (without its `\n`) is that.
fn boundary_tail(rest: &[u8]) -> Option<bool> {
    // Bounded like `boundary_tail_prefix`, so chunking cannot matter.
    if rest.len() > 64 {
        return None;
    }
    let rest = trim_cr(rest);
    let (closing, rest) = match rest.strip_prefix(b"--") {
        Some(r) => (true, r),
        None => (false, rest),
    };
    rest.iter()
        .all(|b| *b == b' ' || *b == b'\t')
        .then_some(closing)
}

/// Whether an incomplete line could still become a boundary tail.
fn boundary_tail_prefix(rest: &[u8]) -> bool {
    rest.len() <= 64
        && rest
            .iter()
            .all(|b| matches!(b, b'-' | b' ' | b'\t' | b'\r'))
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The value of a `Content-Length:` header line, if this is one with a number.
fn content_length(line: &[u8]) -> Option<usize> {
    let colon = line.iter().position(|&b| b == b':')?;
    let (name, value) = line.split_at(colon);
    if !name.trim_ascii().eq_ignore_ascii_case(b"content-length") {
        return None;
    }
    let value = value[1..].trim_ascii();
    if value.is_empty() || value.len() > 12 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// The first index of `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    let first = needle[0];
    let mut i = 0;
    while i + needle.len() <= hay.len() {
        let rel = hay[i..=hay.len() - needle.len()]
            .iter()
            .position(|&b| b == first)?;
        let at = i + rel;
        if hay[at..at + needle.len()] == *needle {
            return Some(at);
        }
        i = at + 1;
    }
    None
}

/// The boundary from a `Content-Type` value such as
/// `multipart/x-mixed-replace; boundary=--myboundary` (any `multipart/` type; the
/// parameter name in any case; the value quoted or not).
///
/// # Errors
/// [`MjpegError::NotMultipart`] or [`MjpegError::NoBoundary`].
pub fn boundary_from_content_type(content_type: &str) -> Result<String, MjpegError> {
    let mut params = content_type.split(';');
    let media_type = params.next().unwrap_or("").trim();
    if !media_type
        .get(..10)
        .is_some_and(|p| p.eq_ignore_ascii_case("multipart/"))
    {
        let shown: String = content_type.chars().take(80).collect();
        return Err(MjpegError::NotMultipart(format!("`{shown}`")));
    }
    for param in params {
        let Some((name, value)) = param.split_once('=') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("boundary") {
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            if value.is_empty() || value.len() > MAX_BOUNDARY {
                return Err(MjpegError::NoBoundary);
            }
            return Ok(value.to_string());
        }
    }
    Err(MjpegError::NoBoundary)
}

/// The boundary Vigil's own streams use (`/stream`): a token no JPEG is likely to start a
/// line with.
pub const BOUNDARY: &str = "vigilframe";

/// The `Content-Type` of a stream written with this boundary.
pub fn content_type(boundary: &str) -> String {
    format!("multipart/x-mixed-replace; boundary={boundary}")
}

/// The boundary line and headers that go before a part of `len` bytes of
/// `part_content_type` (such as `image/jpeg`).
pub fn part_header(boundary: &str, part_content_type: &str, len: usize) -> String {
    format!("--{boundary}\r\nContent-Type: {part_content_type}\r\nContent-Length: {len}\r\n\r\n")
}

/// One whole part ready to send: the header, the JPEG and the line break after it.
pub fn encode_part(boundary: &str, jpeg: &[u8]) -> Bytes {
    let header = part_header(boundary, "image/jpeg", jpeg.len());
    let mut out = BytesMut::with_capacity(header.len() + jpeg.len() + 2);
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(jpeg);
    out.extend_from_slice(b"\r\n");
    out.freeze()
}

/// The `mjpeg_stream` fuzz target's checks (`fuzz/fuzz_targets/mjpeg_stream.rs`), also
/// run over its committed corpus by `cargo test`. The input's first byte picks the chunk
/// size (1 to 64 bytes), its first line is the boundary (also tried as a `Content-Type`
/// value), the rest is the body. Every part is within the limit, the buffer stays
/// bounded (one part, the header limit and one chunk), and pushing the body in chunks
/// gives the same parts as pushing it whole.
#[cfg(any(test, fuzzing))]
pub fn check_fuzz_input(data: &[u8]) {
    const LIMIT: usize = 4096;
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let nl = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    let line = String::from_utf8_lossy(&rest[..nl]).into_owned();
    let body = rest.get(nl + 1..).unwrap_or(&[]);
    if let Ok(boundary) = boundary_from_content_type(&line) {
        let _ = MjpegParser::new(&boundary, LIMIT);
    }
    let run = |chunk: usize| -> (Vec<Bytes>, Option<MjpegError>) {
        let Ok(mut p) = MjpegParser::new(&line, LIMIT) else {
            return (Vec::new(), None);
        };
        let bound = LIMIT + MAX_HEADERS + 64 + line.len() + chunk;
        let mut parts = Vec::new();
        for piece in body.chunks(chunk) {
            p.push(piece);
            loop {
                match p.next_part() {
                    Ok(Some(part)) => {
                        assert!(part.len() <= LIMIT, "a part of {} bytes", part.len());
                        parts.push(part);
                    }
                    Ok(None) => break,
                    Err(e) => return (parts, Some(e)),
                }
                assert!(p.buffered() <= bound, "{} bytes buffered", p.buffered());
            }
            assert!(p.buffered() <= bound, "{} bytes buffered", p.buffered());
        }
        (parts, None)
    };
    let chunk = usize::from(first % 64) + 1;
    let (a, ea) = run(chunk);
    let (b, eb) = run(body.len().max(1));
    if ea.is_none() && eb.is_none() {
        assert_eq!(a, b, "chunks of {chunk} bytes");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(n: u8, len: usize) -> Vec<u8> {
        let mut v = vec![0xFF, 0xD8];
        v.extend(std::iter::repeat_n(n, len));
        v.extend([0xFF, 0xD9]);
        v
    }

    /// All parts of `stream` when pushed in chunks of `chunk` bytes.
    fn parse(ct_boundary: &str, stream: &[u8], chunk: usize) -> Result<Vec<Vec<u8>>, MjpegError> {
        let mut p = MjpegParser::new(ct_boundary, 1 << 20)?;
        let mut parts = Vec::new();
        for piece in stream.chunks(chunk.max(1)) {
            p.push(piece);
            while let Some(part) = p.next_part()? {
                parts.push(part.to_vec());
            }
        }
        Ok(parts)
    }

    fn every_chunking(boundary: &str, stream: &[u8], want: &[Vec<u8>]) {
        for chunk in [1, 2, 3, 7, 64, stream.len()] {
            let got = parse(boundary, stream, chunk).unwrap();
            assert_eq!(
                got,
                want,
                "chunk {chunk}, stream {:?}",
                String::from_utf8_lossy(stream)
            );
        }
    }

    #[test]
    fn written_parts_parse_back_whatever_the_chunking() {
        let frames = [jpeg(1, 10), jpeg(2, 300), jpeg(3, 0)];
        let mut stream = Vec::new();
        for f in &frames {
            stream.extend_from_slice(&encode_part("vigilframe", f));
        }
        every_chunking("vigilframe", &stream, &frames);
        assert_eq!(
            content_type("vigilframe"),
            "multipart/x-mixed-replace; boundary=vigilframe"
        );
    }

    #[test]
    fn parts_without_length_end_at_the_next_boundary() {
        let (a, b) = (jpeg(7, 50), jpeg(8, 5));
        let mut stream = b"--frame\r\nContent-Type: image/jpeg\r\n\r\n".to_vec();
        stream.extend(&a);
        stream.extend(b"\r\n--frame\r\nContent-Type: image/jpeg\r\n\r\n");
        stream.extend(&b);
        stream.extend(b"\r\n--frame\r\n");
        every_chunking("frame", &stream, &[a, b]);
    }

    #[test]
    fn camera_quirks_are_tolerated() {
        let (a, b) = (jpeg(1, 20), jpeg(2, 20));
        // boundary= with the dashes included, LF line ends, no leading dashes in the
        // body, junk before the first boundary, a part with no headers, a boundary
        // straight after the JPEG's end marker.
        let mut stream = b"\n\nsome preamble\nmyboundary\nContent-type: image/jpeg\n\n".to_vec();
        stream.extend(&a);
        stream.extend(b"--myboundary  \r\n");
        stream.extend(&b);
        stream.extend(b"\n--myboundary\n");
        every_chunking("--myboundary", &stream, &[a.clone(), b.clone()]);
        // A Content-Length one short of the truth: the extra byte is skipped.
        let mut stream = format!("--x\r\nContent-Length: {}\r\n\r\n", a.len() - 1).into_bytes();
        stream.extend(&a);
        stream.extend(b"\r\n--x\r\ncontent-length:  ");
        stream.extend(b.len().to_string().as_bytes());
        stream.extend(b"\r\n\r\n");
        stream.extend(&b);
        every_chunking("x", &stream, &[a[..a.len() - 1].to_vec(), b]);
    }

    #[test]
    fn the_closing_boundary_ends_the_stream() {
        let a = jpeg(1, 3);
        let mut stream = b"--b\r\n\r\n".to_vec();
        stream.extend(&a);
        stream.extend(b"\r\n--b--\r\n--b\r\n\r\nmore");
        let mut p = MjpegParser::new("b", 100).unwrap();
        p.push(&stream);
        assert_eq!(p.next_part().unwrap().as_deref(), Some(&a[..]));
        assert_eq!(p.next_part().unwrap(), None);
        assert!(p.is_finished());
        p.push(b"ignored");
        assert_eq!(p.buffered(), 0);
    }

    #[test]
    fn a_hostile_camera_cannot_make_it_hold_much() {
        // A declared length over the limit.
        let mut p = MjpegParser::new("b", 100).unwrap();
        p.push(b"--b\r\nContent-Length: 101\r\n\r\n");
        assert_eq!(p.next_part(), Err(MjpegError::PartTooLarge(100)));
        assert_eq!(p.next_part(), Err(MjpegError::PartTooLarge(100)));
        // An unsized part that never ends.
        let mut p = MjpegParser::new("b", 100).unwrap();
        p.push(b"--b\r\n\r\n");
        let mut result = Ok(None);
        for _ in 0..100 {
            p.push(&[0u8; 10]);
            result = p.next_part();
            if result.is_err() {
                break;
            }
            assert!(p.buffered() <= 100 + 1 + 64 + 10);
        }
        assert_eq!(result, Err(MjpegError::PartTooLarge(100)));
        // Endless headers.
        let mut p = MjpegParser::new("b", 100).unwrap();
        p.push(b"--b\r\n");
        let mut result = Ok(None);
        for _ in 0..10_000 {
            p.push(b"X-Junk: 1\r\n");
            result = p.next_part();
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(MjpegError::HeadersTooLong));
        // No boundary at all, with and without line breaks.
        for junk in [&b"abcdefgh\n"[..], &b"abcdefgh"[..]] {
            let mut p = MjpegParser::new("b", 100).unwrap();
            let mut result = Ok(None);
            for _ in 0..100 {
                p.push(junk);
                result = p.next_part();
                if result.is_err() {
                    break;
                }
                assert!(p.buffered() <= 64 + 1 + 9);
            }
            assert_eq!(result, Err(MjpegError::NoBoundaryInStream));
        }
    }

    #[test]
    fn content_types_give_their_boundary() {
        let ok = [
            (
                "multipart/x-mixed-replace; boundary=myboundary",
                "myboundary",
            ),
            ("multipart/x-mixed-replace;boundary=--frame", "--frame"),
            (
                "Multipart/X-Mixed-Replace; charset=x; BOUNDARY=\"a b\"",
                "a b",
            ),
            ("multipart/mixed; boundary=ipcamera", "ipcamera"),
        ];
        for (ct, want) in ok {
            assert_eq!(boundary_from_content_type(ct).unwrap(), want, "{ct}");
        }
        assert_eq!(
            boundary_from_content_type("image/jpeg"),
            Err(MjpegError::NotMultipart("`image/jpeg`".into()))
        );
        assert_eq!(
            boundary_from_content_type("multipart/x-mixed-replace"),
            Err(MjpegError::NoBoundary)
        );
        assert_eq!(
            boundary_from_content_type("multipart/x-mixed-replace; boundary=\"\""),
            Err(MjpegError::NoBoundary)
        );
        assert!(MjpegParser::new("---", 10).is_err());
        assert!(
            MjpegParser::from_content_type("multipart/x-mixed-replace; boundary=a\r\nb", 10)
                .is_err()
        );
    }
    /// Every committed seed of the `mjpeg_stream` fuzz target, through the same checks.
    #[test]
    fn fuzz_corpus_mjpeg_stream() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/mjpeg_stream");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            check_fuzz_input(&bytes);
            seen += 1;
        }
        assert!(seen >= 4, "the mjpeg_stream corpus has {seen} files");
    }
}
