//! HTTP/1.1 response parser (RFC 9112), push-style and bounded by the caller's buffer.
//!
//! ```text
//! let mut parser = ResponseParser::new(&mut buffer);
//! while !parser.is_done() {
//!     let n = socket.read(&mut chunk)?;
//!     if n == 0 { parser.finish()?; break; }      // EOF: ends a close-delimited body
//!     parser.feed(&chunk[..n])?;
//! }
//! let head = parser.head();  let body = parser.body();
//! ```
//!
//! The buffer first collects the head; once it is parsed, only the headers the protocols use
//! are kept (status, Content-Type, Retry-After, WWW-Authenticate, Content-Transfer-Encoding)
//! and the buffer then holds the de-chunked body.

#![deny(clippy::arithmetic_side_effects)]

use crate::error::HttpError;
use heapless::String;

/// Headers read from a response head (the rest are skipped).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseHead {
    /// The status code.
    pub status: u16,
    /// Content-Type, as sent (truncated to 96 bytes).
    pub content_type: String<96>,
    /// Retry-After, as sent (delay-seconds or an HTTP-date).
    pub retry_after: String<40>,
    /// WWW-Authenticate (the first one), as sent (truncated to 320 bytes).
    pub www_authenticate: String<320>,
    /// Content-Transfer-Encoding, as sent.
    pub content_transfer_encoding: String<24>,
    /// Content-Length, if given.
    pub content_length: Option<usize>,
    /// Whether the body is chunked.
    pub chunked: bool,
}

impl ResponseHead {
    /// The media type without parameters, lower-cased comparison helper: whether it is `ty`.
    pub fn content_type_is(&self, ty: &str) -> bool {
        let main = self.content_type.split(';').next().unwrap_or("").trim();
        main.eq_ignore_ascii_case(ty)
    }
}

/// The values of every header field named `name` (case-insensitive) in a response head kept
/// by [`ResponseReader::keeping_head`], trimmed, in order (a head the reader accepted: its
/// lines are well formed).
pub fn header_values<'h>(head: &'h [u8], name: &'h str) -> impl Iterator<Item = &'h str> + 'h {
    head.split(|b| *b == b'\n').skip(1).filter_map(move |line| {
        let line = core::str::from_utf8(line).ok()?;
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading the hex size; `digits` so far; `ext`: bytes of chunk extension so far (0:
    /// none), capped at [`MAX_CHUNK_EXTENSION`].
    Size {
        value: usize,
        digits: u8,
        ext: u16,
        cr: bool,
    },
    Data {
        remaining: usize,
    },
    DataCr,
    DataLf,
    /// Trailer section: `line` bytes seen on the current line, `fields` lines so far
    /// (capped at [`MAX_TRAILER_FIELDS`]).
    Trailer {
        line: usize,
        cr: bool,
        fields: u8,
    },
}

/// The longest chunk extension (`;name=value...` after a chunk size) accepted, in bytes: the
/// extensions are skipped, and a server that sends more is not speaking HTTP to us.
pub const MAX_CHUNK_EXTENSION: usize = 256;
/// The most trailer fields after the last chunk (each at most 1 KiB, and skipped).
pub const MAX_TRAILER_FIELDS: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    Length { remaining: usize },
    Chunked(Chunk),
    UntilClose,
    Done,
}

/// The push parser. See the module documentation.
#[derive(Debug)]
pub struct ResponseParser<'b> {
    buf: &'b mut [u8],
    r: ResponseReader,
}

/// The parsing itself, over a buffer and a reader's progress both borrowed: a
/// [`ResponseReader`] is fed in place, never moved in and out of a parser.
struct Core<'x> {
    buf: &'x mut [u8],
    r: &'x mut ResponseReader,
}

const MAX_HEADERS: usize = 32;

/// A [`ResponseParser`]'s progress without its buffer, for state machines that own their
/// buffers and lend them to it one call at a time ([`feed`](Self::feed), [`finish`](Self::finish)).
/// Use it with the same buffer every time, unchanged: the buffered bytes are part of the
/// progress.
#[derive(Debug, Clone)]
pub struct ResponseReader {
    len: usize,
    /// Where the body starts in the buffer: 0, or after the head when it is kept.
    start: usize,
    keep_head: bool,
    state: State,
    head: ResponseHead,
}

impl Default for ResponseReader {
    fn default() -> Self {
        Self { len: 0, start: 0, keep_head: false, state: State::Head, head: ResponseHead::default() }
    }
}

impl ResponseReader {
    /// A reader at the start of a response.
    pub fn new() -> Self {
        Self::default()
    }

    /// A reader that keeps the response head in the buffer, before the body, for headers
    /// [`ResponseHead`] does not carry ([`Self::head_bytes`], [`header_values`]). The body
    /// then has the buffer's room after the head.
    pub fn keeping_head() -> Self {
        Self { keep_head: true, ..Self::default() }
    }

    /// The response head as received (status line and header fields, up to the blank line),
    /// when the reader keeps it ([`Self::keeping_head`]) and it has been read; else empty.
    pub fn head_bytes<'x>(&self, buf: &'x [u8]) -> &'x [u8] {
        if matches!(self.state, State::Head) { &[] } else { buf.get(..self.start).unwrap_or(&[]) }
    }

    /// Whether the whole response was read.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Whether any byte of the response was fed (the buffer's start is overwritten then).
    pub fn is_started(&self) -> bool {
        self.len > 0 || !matches!(self.state, State::Head)
    }

    /// The head, once parsed.
    pub fn head(&self) -> Option<&ResponseHead> {
        (!matches!(self.state, State::Head)).then_some(&self.head)
    }

    /// The body within `buf` (the buffer the parser ran over).
    pub fn body<'x>(&self, buf: &'x [u8]) -> &'x [u8] {
        if matches!(self.state, State::Head) { &[] } else { buf.get(self.start..self.len).unwrap_or(&[]) }
    }

    /// Feeds `data`, with `buf` (the same buffer every time) holding the response; see
    /// [`ResponseParser::feed`].
    pub fn feed(&mut self, buf: &mut [u8], data: &[u8]) -> Result<usize, HttpError> {
        Core { buf, r: self }.feed(data)
    }

    /// Reports the end of the connection; see [`ResponseParser::finish`].
    pub fn finish(&mut self, buf: &mut [u8]) -> Result<(), HttpError> {
        Core { buf, r: self }.finish()
    }
}

impl<'b> ResponseParser<'b> {
    /// A parser that keeps the head, then the body, in `buf`.
    pub fn new(buf: &'b mut [u8]) -> Self {
        Self { buf, r: ResponseReader::default() }
    }

    /// Whether the whole response was read.
    pub fn is_done(&self) -> bool {
        self.r.is_done()
    }

    /// The head, once parsed.
    pub fn head(&self) -> Option<&ResponseHead> {
        self.r.head()
    }

    /// The body read so far (all of it once [`is_done`](Self::is_done)).
    pub fn body(&self) -> &[u8] {
        self.r.body(self.buf)
    }

    /// Feeds bytes from the connection. Returns how many were used: all of them, unless the
    /// response ended inside `data` (the rest belongs to nobody and is ignored).
    pub fn feed(&mut self, data: &[u8]) -> Result<usize, HttpError> {
        Core { buf: self.buf, r: &mut self.r }.feed(data)
    }

    /// Reports the end of the connection: completes a close-delimited body, and is an error
    /// anywhere else but after a complete response.
    pub fn finish(&mut self) -> Result<(), HttpError> {
        Core { buf: self.buf, r: &mut self.r }.finish()
    }
}

impl Core<'_> {
    fn feed(&mut self, data: &[u8]) -> Result<usize, HttpError> {
        match self.r.state {
            State::Head => self.feed_head(data),
            State::Done => Ok(0),
            _ => self.feed_body(data),
        }
    }

    fn finish(&mut self) -> Result<(), HttpError> {
        match self.r.state {
            State::UntilClose | State::Done => {
                self.r.state = State::Done;
                Ok(())
            }
            _ => Err(HttpError::UnexpectedEof),
        }
    }

    fn feed_head(&mut self, data: &[u8]) -> Result<usize, HttpError> {
        let limit = self.buf.len();
        // Copy as much as fits; look for the end of the head in what is buffered.
        let room = limit.saturating_sub(self.r.len);
        let take = data.len().min(room);
        // self.r.len <= limit and take <= room: the sum stays within the buffer.
        let filled = self.r.len.saturating_add(take);
        self.buf.get_mut(self.r.len..filled).ok_or(HttpError::HeadTooLarge { limit })?.copy_from_slice(data.get(..take).unwrap_or(&[]));
        let before = self.r.len;
        self.r.len = filled;
        // Only the new bytes (and three before them) can complete the blank line.
        let from = before.saturating_sub(3);
        let buffered = self.buf.get(from..self.r.len).unwrap_or(&[]);
        let Some(end) = find_head_end(buffered).map(|e| e.saturating_add(from)) else {
            if self.r.len == limit {
                return Err(HttpError::HeadTooLarge { limit });
            }
            return Ok(take);
        };
        self.parse_head(end)?;
        // Body bytes already buffered: move them out of the way, then run them through the
        // body decoder as if they had just arrived.
        let used_of_data = end.saturating_sub(before);
        // end <= self.r.len <= buf.len(): the buffered body is buf[end..buffered_end].
        let buffered_end = self.r.len;
        // The body goes at the start of the buffer, or after the head when it is kept.
        self.r.start = if self.r.keep_head { end } else { 0 };
        self.r.len = self.r.start;
        let mut tmp_start = end;
        // Decode in place: the decoder writes at `self.r.len`, which stays behind `tmp_start`.
        while tmp_start < buffered_end && !matches!(self.r.state, State::Done) {
            let byte_end = buffered_end.min(tmp_start.saturating_add(64));
            let mut chunk = [0u8; 64];
            let n = byte_end.saturating_sub(tmp_start);
            chunk.get_mut(..n).ok_or(HttpError::MalformedHead)?.copy_from_slice(self.buf.get(tmp_start..byte_end).unwrap_or(&[]));
            self.feed_body(chunk.get(..n).unwrap_or(&[]))?;
            tmp_start = byte_end;
        }
        if matches!(self.r.state, State::Done) {
            return Ok(used_of_data.min(data.len()));
        }
        // Whatever of `data` did not fit in the head buffer goes to the body decoder.
        let rest = data.get(take..).unwrap_or(&[]);
        if rest.is_empty() {
            return Ok(data.len());
        }
        Ok(take.saturating_add(self.feed_body(rest)?))
    }

    fn parse_head(&mut self, end: usize) -> Result<(), HttpError> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        let head = self.buf.get(..end).ok_or(HttpError::MalformedHead)?;
        match resp.parse(head) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => return Err(HttpError::MalformedHead),
            Err(httparse::Error::TooManyHeaders) => return Err(HttpError::HeadTooLarge { limit: self.buf.len() }),
            Err(_) => return Err(HttpError::MalformedHead),
        }
        let mut h = ResponseHead { status: resp.code.ok_or(HttpError::MalformedHead)?, ..ResponseHead::default() };
        let mut transfer_encoding = false;
        for hdr in resp.headers.iter() {
            let value = core::str::from_utf8(hdr.value).unwrap_or("").trim();
            let name = hdr.name;
            if name.eq_ignore_ascii_case("content-length") {
                let v: usize = value.parse().map_err(|_| HttpError::InvalidContentLength)?;
                if h.content_length.is_some_and(|old| old != v) {
                    return Err(HttpError::InvalidContentLength);
                }
                h.content_length = Some(v);
                continue;
            }
            if name.eq_ignore_ascii_case("transfer-encoding") {
                transfer_encoding = true;
                if value.eq_ignore_ascii_case("chunked") {
                    h.chunked = true;
                    continue;
                }
                return Err(HttpError::UnsupportedTransferEncoding);
            }
            // The headers kept as text: one call for all of them.
            let dst = if name.eq_ignore_ascii_case("content-type") {
                h.content_type.as_mut_view()
            } else if name.eq_ignore_ascii_case("retry-after") {
                h.retry_after.as_mut_view()
            } else if name.eq_ignore_ascii_case("www-authenticate") && h.www_authenticate.is_empty() {
                h.www_authenticate.as_mut_view()
            } else if name.eq_ignore_ascii_case("content-transfer-encoding") {
                h.content_transfer_encoding.as_mut_view()
            } else {
                continue;
            };
            set_truncated(dst, value);
        }
        if transfer_encoding && h.content_length.is_some() {
            return Err(HttpError::InvalidContentLength);
        }
        // 1xx, 204 and 304 have no body (RFC 9112 section 6.3).
        self.r.state = if (100..200).contains(&h.status) || h.status == 204 || h.status == 304 {
            State::Done
        } else if h.chunked {
            State::Chunked(Chunk::Size { value: 0, digits: 0, ext: 0, cr: false })
        } else if let Some(n) = h.content_length {
            let room = if self.r.keep_head { self.buf.len().saturating_sub(end) } else { self.buf.len() };
            if n > room {
                return Err(HttpError::BodyTooLarge { limit: room, needed: n });
            }
            if n == 0 { State::Done } else { State::Length { remaining: n } }
        } else {
            State::UntilClose
        };
        self.r.head = h;
        Ok(())
    }

    fn push_body(&mut self, bytes: &[u8]) -> Result<(), HttpError> {
        let limit = self.buf.len().saturating_sub(self.r.start);
        let end = self.r.len.saturating_add(bytes.len());
        let too_large = HttpError::BodyTooLarge { limit, needed: end.saturating_sub(self.r.start) };
        self.buf.get_mut(self.r.len..end).ok_or(too_large)?.copy_from_slice(bytes);
        self.r.len = end;
        Ok(())
    }

    fn feed_body(&mut self, data: &[u8]) -> Result<usize, HttpError> {
        let mut i = 0;
        while i < data.len() {
            match self.r.state {
                State::Head | State::Done => return Ok(i),
                State::UntilClose => {
                    self.push_body(data.get(i..).unwrap_or(&[]))?;
                    return Ok(data.len());
                }
                State::Length { remaining } => {
                    // i < data.len(), n <= data.len() - i: no step below can wrap.
                    let n = remaining.min(data.len().saturating_sub(i));
                    let next = i.saturating_add(n);
                    self.push_body(data.get(i..next).unwrap_or(&[]))?;
                    i = next;
                    self.r.state = if remaining == n { State::Done } else { State::Length { remaining: remaining.saturating_sub(n) } };
                }
                State::Chunked(Chunk::Data { remaining }) => {
                    let n = remaining.min(data.len().saturating_sub(i));
                    let next = i.saturating_add(n);
                    self.push_body(data.get(i..next).unwrap_or(&[]))?;
                    i = next;
                    self.r.state =
                        State::Chunked(if remaining == n { Chunk::DataCr } else { Chunk::Data { remaining: remaining.saturating_sub(n) } });
                }
                State::Chunked(c) => {
                    let b = *data.get(i).ok_or(HttpError::MalformedChunk)?;
                    i = i.saturating_add(1);
                    self.r.state = self.chunk_step(c, b)?;
                }
            }
        }
        Ok(i)
    }

    fn chunk_step(&self, c: Chunk, b: u8) -> Result<State, HttpError> {
        let bad = Err(HttpError::MalformedChunk);
        Ok(match c {
            Chunk::Size { value, digits, ext, cr } => match (b, cr) {
                (b'\n', true) | (b'\n', false) if digits > 0 => {
                    if value == 0 {
                        State::Chunked(Chunk::Trailer { line: 0, cr: false, fields: 0 })
                    } else if value > self.buf.len().saturating_sub(self.r.len) {
                        let limit = self.buf.len().saturating_sub(self.r.start);
                        let needed = self.r.len.saturating_sub(self.r.start).saturating_add(value);
                        return Err(HttpError::BodyTooLarge { limit, needed });
                    } else {
                        State::Chunked(Chunk::Data { remaining: value })
                    }
                }
                (_, true) => return bad,
                (b'\r', false) if digits > 0 => State::Chunked(Chunk::Size { value, digits, ext, cr: true }),
                (_, false) if ext > 0 => {
                    if usize::from(ext) >= MAX_CHUNK_EXTENSION {
                        return bad;
                    }
                    State::Chunked(Chunk::Size { value, digits, ext: ext.saturating_add(1), cr })
                }
                (b';', false) | (b' ', false) | (b'\t', false) if digits > 0 => State::Chunked(Chunk::Size { value, digits, ext: 1, cr }),
                (h, false) => {
                    let d = (h as char).to_digit(16).ok_or(HttpError::MalformedChunk)? as usize;
                    if digits >= 8 {
                        return bad;
                    }
                    let value = value.checked_mul(16).and_then(|v| v.checked_add(d)).ok_or(HttpError::MalformedChunk)?;
                    State::Chunked(Chunk::Size { value, digits: digits.saturating_add(1), ext, cr })
                }
            },
            Chunk::Data { .. } => return bad,
            Chunk::DataCr => match b {
                b'\r' => State::Chunked(Chunk::DataLf),
                b'\n' => State::Chunked(Chunk::Size { value: 0, digits: 0, ext: 0, cr: false }),
                _ => return bad,
            },
            Chunk::DataLf => match b {
                b'\n' => State::Chunked(Chunk::Size { value: 0, digits: 0, ext: 0, cr: false }),
                _ => return bad,
            },
            Chunk::Trailer { line, cr, fields } => match b {
                b'\n' if line == 0 => State::Done,
                b'\n' if usize::from(fields) >= MAX_TRAILER_FIELDS => return bad,
                b'\n' => State::Chunked(Chunk::Trailer { line: 0, cr: false, fields: fields.saturating_add(1) }),
                b'\r' if !cr => State::Chunked(Chunk::Trailer { line, cr: true, fields }),
                _ if line > 1024 => return bad,
                _ => State::Chunked(Chunk::Trailer { line: line.saturating_add(1), cr: false, fields }),
            },
        })
    }
}

/// `v` into `dst`, cut after the last whole character that fits (one copy of the code for
/// every capacity: `dst` is a view).
fn set_truncated(dst: &mut heapless::string::StringView, v: &str) {
    dst.clear();
    let mut end = v.len().min(dst.capacity());
    // Index 0 is a boundary: the loop ends there at the latest.
    while !v.is_char_boundary(end) {
        end = end.saturating_sub(1);
    }
    // At most the capacity: it fits.
    let _ = dst.push_str(v.get(..end).unwrap_or(""));
}

/// The offset just past the first empty line: `\n` followed by `\n` or `\r\n` (so
/// `\r\n\r\n`, and the bare-LF forms httparse also accepts). The earliest one wins, so the
/// answer does not depend on how much of the input has arrived.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    // i < buf.len() <= isize::MAX: i + 3 cannot wrap.
    buf.iter().enumerate().find_map(|(i, b)| match (b, buf.get(i.saturating_add(1)), buf.get(i.saturating_add(2))) {
        (b'\n', Some(b'\n'), _) => Some(i.saturating_add(2)),
        (b'\n', Some(b'\r'), Some(b'\n')) => Some(i.saturating_add(3)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn a_reader_keeping_the_head_gives_every_header_and_the_same_body_at_any_split() {
        let resp = b"HTTP/1.1 201 Created\r\nReplay-Nonce: abc_-1\r\nLink: <https://x/dir>;rel=\"index\"\r\nlink: <https://x/alt/1>; rel=\"alternate\"\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
        for split in 0..resp.len() {
            let mut buf = [0u8; 512];
            let mut r = ResponseReader::keeping_head();
            let (a, b) = resp.split_at(split);
            r.feed(&mut buf, a).unwrap();
            if !r.is_done() {
                r.feed(&mut buf, b).unwrap();
            }
            assert!(r.is_done(), "split {split}");
            assert_eq!(r.body(&buf), b"hello world", "split {split}");
            let head = r.head_bytes(&buf);
            assert_eq!(header_values(head, "replay-nonce").collect::<Vec<_>>(), ["abc_-1"]);
            assert_eq!(
                header_values(head, "Link").collect::<Vec<_>>(),
                ["<https://x/dir>;rel=\"index\"", "<https://x/alt/1>; rel=\"alternate\""]
            );
            assert_eq!(header_values(head, "location").count(), 0);
        }
        // Without keeping the head, there is none to read.
        let mut buf = [0u8; 512];
        let mut r = ResponseReader::new();
        r.feed(&mut buf, resp).unwrap();
        assert!(r.head_bytes(&buf).is_empty());
        // A kept head leaves the body less room: the limit says how much.
        let big = b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n";
        let mut buf = [0u8; 64];
        let mut r = ResponseReader::keeping_head();
        assert_eq!(r.feed(&mut buf, big), Err(HttpError::BodyTooLarge { limit: 64 - big.len(), needed: 40 }));
    }

    fn parse_split(resp: &[u8], split: usize, buf_len: usize) -> Result<(u16, Vec<u8>), HttpError> {
        let mut buf = std::vec![0u8; buf_len];
        let mut p = ResponseParser::new(&mut buf);
        let (a, b) = resp.split_at(split);
        p.feed(a)?;
        if !p.is_done() {
            p.feed(b)?;
        }
        if !p.is_done() {
            p.finish()?;
        }
        Ok((p.head().map(|h| h.status).unwrap_or(0), p.body().to_vec()))
    }

    fn parse_bytewise(resp: &[u8], buf_len: usize) -> Result<(ResponseHead, Vec<u8>), HttpError> {
        let mut buf = std::vec![0u8; buf_len];
        let mut p = ResponseParser::new(&mut buf);
        for b in resp {
            if p.is_done() {
                break;
            }
            p.feed(core::slice::from_ref(b))?;
        }
        if !p.is_done() {
            p.finish()?;
        }
        Ok((p.head().cloned().unwrap_or_default(), p.body().to_vec()))
    }

    const CL: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-pki-message\r\nContent-Length: 11\r\n\r\nhello world";
    const CHUNKED: &[u8] =
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5;name=val\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n";
    const CLOSE: &[u8] = b"HTTP/1.1 202 Accepted\r\nRetry-After: 60\r\n\r\n";

    #[test]
    fn every_split_of_a_content_length_response_gives_the_same_body() {
        for split in 0..=CL.len() {
            assert_eq!(parse_split(CL, split, 256).unwrap(), (200, b"hello world".to_vec()), "split {split}");
        }
        let (h, body) = parse_bytewise(CL, 256).unwrap();
        assert!(h.content_type_is("application/x-pki-message"));
        assert_eq!(body, b"hello world");
    }

    #[test]
    fn chunked_bodies_with_extensions_and_trailers_decode_in_any_split() {
        for split in 0..=CHUNKED.len() {
            assert_eq!(parse_split(CHUNKED, split, 256).unwrap(), (200, b"hello world".to_vec()), "split {split}");
        }
        assert_eq!(parse_bytewise(CHUNKED, 256).unwrap().1, b"hello world");
    }

    /// Chunk extensions and trailers are skipped, so they once had no bound: a server could
    /// keep a device reading (and hashing nothing) forever. Now both are capped.
    #[test]
    fn chunk_extensions_and_trailers_are_capped() {
        let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        let ext_ok = std::format!("{head}5;{}\r\nhello\r\n0\r\n\r\n", "e".repeat(MAX_CHUNK_EXTENSION - 1));
        assert_eq!(parse_bytewise(ext_ok.as_bytes(), 256).unwrap().1, b"hello");
        let ext_long = std::format!("{head}5;{}\r\nhello\r\n0\r\n\r\n", "e".repeat(MAX_CHUNK_EXTENSION + 1));
        assert_eq!(parse_bytewise(ext_long.as_bytes(), 256).unwrap_err(), HttpError::MalformedChunk);
        let trailers_ok = std::format!("{head}5\r\nhello\r\n0\r\n{}\r\n", "T: v\r\n".repeat(MAX_TRAILER_FIELDS));
        assert_eq!(parse_bytewise(trailers_ok.as_bytes(), 256).unwrap().1, b"hello");
        let trailers_many = std::format!("{head}5\r\nhello\r\n0\r\n{}\r\n", "T: v\r\n".repeat(MAX_TRAILER_FIELDS + 1));
        assert_eq!(parse_bytewise(trailers_many.as_bytes(), 256).unwrap_err(), HttpError::MalformedChunk);
    }

    #[test]
    fn close_delimited_bodies_end_at_eof() {
        let (h, body) = parse_bytewise(CLOSE, 64).unwrap();
        assert_eq!(h.status, 202);
        assert_eq!(h.retry_after.as_str(), "60");
        assert_eq!(crate::http::date::retry_after(&h.retry_after, None), Some(crate::time::Duration::from_secs(60)));
        assert!(body.is_empty());
        let mut with_body = CLOSE.to_vec();
        with_body.extend_from_slice(b"abc");
        assert_eq!(parse_split(&with_body, 10, 64).unwrap().1, b"abc");
    }

    #[test]
    fn malformed_and_oversized_responses_give_typed_errors() {
        let cases: &[(&[u8], usize, HttpError)] = &[
            (b"HTTP/1.1 abc OK\r\n\r\n", 128, HttpError::MalformedHead),
            (b"HTTX/1.1 200 OK\r\n\r\n", 128, HttpError::MalformedHead),
            (b"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", 128, HttpError::MalformedHead),
            (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", 128, HttpError::InvalidContentLength),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 128, HttpError::InvalidContentLength),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 128, HttpError::InvalidContentLength),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 128, HttpError::UnsupportedTransferEncoding),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 128, HttpError::MalformedChunk),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX", 128, HttpError::MalformedChunk),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n123456789\r\n", 128, HttpError::MalformedChunk),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nff\r\n", 128, HttpError::BodyTooLarge { limit: 128, needed: 255 }),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n", 128, HttpError::BodyTooLarge { limit: 128, needed: 200 }),
            (
                b"HTTP/1.1 200 OK\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n",
                32,
                HttpError::HeadTooLarge { limit: 32 },
            ),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc", 128, HttpError::UnexpectedEof),
            (b"HTTP/1.1 200 OK\r\nContent-Len", 128, HttpError::UnexpectedEof),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", 128, HttpError::UnexpectedEof),
        ];
        for (resp, buf, err) in cases {
            assert_eq!(parse_bytewise(resp, *buf).unwrap_err(), *err, "{}", String::from_utf8_lossy(resp));
            for split in [0, resp.len() / 2, resp.len()] {
                assert!(parse_split(resp, split, *buf).is_err(), "split {split}");
            }
        }
    }

    #[test]
    fn status_204_and_304_have_no_body_and_bytes_after_the_end_are_ignored() {
        let r = b"HTTP/1.1 204 No Content\r\n\r\n";
        assert_eq!(parse_bytewise(r, 64).unwrap().1, b"");
        let mut buf = [0u8; 128];
        let mut p = ResponseParser::new(&mut buf);
        let mut two = CL.to_vec();
        two.extend_from_slice(b"GARBAGE");
        let used = p.feed(&two).unwrap();
        assert!(p.is_done());
        assert!(used <= CL.len());
        assert_eq!(p.feed(b"more").unwrap(), 0);
        assert_eq!(p.body(), b"hello world");
    }

    /// Found by the `http_response` fuzz target: a bare-LF blank line before a CRLF one
    /// used to end the head at different places depending on how the bytes were split.
    #[test]
    fn the_first_blank_line_ends_the_head_whatever_the_split() {
        let r = b"HTTP/1.1 202 Accepted\nX: 1\n\nbody\r\n\r\nmore";
        let whole = parse_split(r, r.len(), 128).unwrap();
        assert_eq!(whole, (202, b"body\r\n\r\nmore".to_vec()));
        for split in 0..r.len() {
            assert_eq!(parse_split(r, split, 128).unwrap(), whole, "split {split}");
        }
        assert_eq!(find_head_end(b"a\n\r\nb"), Some(4));
        assert_eq!(find_head_end(b"a\r\n\r\nb"), Some(5));
        assert_eq!(find_head_end(b"a\r\nb\r\n"), None);
    }

    use std::string::String;
}
