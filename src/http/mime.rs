//! MIME framing for HTTP bodies: media types and their parameters in Content-Type values
//! (RFC 2045 section 5.1) and `multipart/*` bodies (RFC 2046 section 5.1), read zero-copy.
//!
//! [`parts`] takes a Content-Type value and a body and iterates over the body's [`Part`]s, each
//! a header block and its content borrowed from the body. The framing is read as RFC 2046
//! writes it, and leniently where servers differ: CRLF or bare LF line ends, a preamble and an
//! epilogue, transport padding after the delimiters, header names in any case, folded header
//! lines, the boundary parameter quoted or not. Part headers are bounded
//! ([`MAX_PART_HEADER_LEN`], [`MAX_PART_HEADERS`]), as is the number of parts ([`MAX_PARTS`]).
//!
//! EST's `/serverkeygen` response ([`crate::est::multipart`]) is read with it.

use crate::error::DecodeError;
use crate::http::base64;
use core::fmt;
use core::ops::Range;

/// Longest boundary (RFC 2046 section 5.1.1).
pub const MAX_BOUNDARY_LEN: usize = 70;
/// Largest header block of one part, in bytes.
pub const MAX_PART_HEADER_LEN: usize = 1024;
/// Most header lines (with continuation lines) in one part.
pub const MAX_PART_HEADERS: usize = 16;
/// Most parts read from one body.
pub const MAX_PARTS: usize = 8;

/// Why a multipart body could not be read. The key and certificate variants are those of EST's
/// `/serverkeygen` response ([`crate::est::multipart::ServerKeyGen`]), which shares this type.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MultipartError {
    /// The Content-Type is not `multipart/*`.
    NotMultipart,
    /// The Content-Type has no `boundary` parameter.
    MissingBoundary,
    /// The boundary is empty, longer than 70 characters, has a character RFC 2046 does not
    /// allow, or its quoted string is not closed.
    InvalidBoundary,
    /// The body has no delimiter line at all.
    MissingOpeningDelimiter,
    /// The body ends without the close delimiter (`--boundary--`): truncated.
    MissingCloseDelimiter,
    /// A part header line is not `name: value` (or not ASCII), or a parameter is malformed.
    MalformedHeader,
    /// A part's header block is larger than [`MAX_PART_HEADER_LEN`] or has more than
    /// [`MAX_PART_HEADERS`] lines.
    HeaderTooLarge,
    /// The body has more than [`MAX_PARTS`] parts.
    TooManyParts,
    /// No part holds the private key (`application/pkcs8`, or `application/pkcs7-mime` with
    /// `smime-type=server-generated-key`).
    MissingKeyPart,
    /// No part holds the certificate (`application/pkcs7-mime`, `smime-type=certs-only`).
    MissingCertificatePart,
    /// Two parts hold a key, or two hold certificates.
    DuplicatePart,
    /// A part's Content-Transfer-Encoding is neither base64 nor an identity encoding
    /// (7bit, 8bit) that base64 text satisfies.
    UnsupportedTransferEncoding,
    /// A part's content does not decode (base64), does not fit the output, or the key is of
    /// no known shape.
    Decode(DecodeError),
}

impl fmt::Display for MultipartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotMultipart => f.write_str("content type is not multipart"),
            Self::MissingBoundary => f.write_str("multipart content type without a boundary"),
            Self::InvalidBoundary => f.write_str("invalid multipart boundary"),
            Self::MissingOpeningDelimiter => f.write_str("multipart body without a boundary delimiter"),
            Self::MissingCloseDelimiter => f.write_str("multipart body without its close delimiter (truncated)"),
            Self::MalformedHeader => f.write_str("malformed multipart part header"),
            Self::HeaderTooLarge => f.write_str("multipart part header too large"),
            Self::TooManyParts => f.write_str("too many multipart parts"),
            Self::MissingKeyPart => f.write_str("no private key part"),
            Self::MissingCertificatePart => f.write_str("no certificate part"),
            Self::DuplicatePart => f.write_str("duplicate key or certificate part"),
            Self::UnsupportedTransferEncoding => f.write_str("unsupported Content-Transfer-Encoding"),
            Self::Decode(e) => write!(f, "part content: {e}"),
        }
    }
}

impl core::error::Error for MultipartError {}

impl From<DecodeError> for MultipartError {
    fn from(e: DecodeError) -> Self {
        Self::Decode(e)
    }
}

/// Whitespace in header values (CR and LF occur in folded lines).
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn trim(v: &str) -> &str {
    v.trim_matches(|c: char| c.is_ascii() && is_ws(c as u8))
}

/// The media type of a Content-Type value (before any parameter), trimmed.
fn media_type(value: &str) -> &str {
    trim(value.split(';').next().unwrap_or(""))
}

/// The value of parameter `name` (case-insensitive) in a Content-Type value; a quoted value
/// comes without its quotes.
fn parameter<'v>(value: &'v str, name: &str) -> Result<Option<&'v str>, MultipartError> {
    let b = value.as_bytes();
    let Some(mut i) = b.iter().position(|c| *c == b';') else { return Ok(None) };
    loop {
        // At a ';' (or past the end).
        i = i.saturating_add(1);
        while b.get(i).is_some_and(|c| is_ws(*c)) {
            i = i.saturating_add(1);
        }
        if i >= b.len() {
            return Ok(None);
        }
        let name_start = i;
        while b.get(i).is_some_and(|c| *c != b'=' && *c != b';') {
            i = i.saturating_add(1);
        }
        let this = trim(value.get(name_start..i).ok_or(MultipartError::MalformedHeader)?);
        if b.get(i) != Some(&b'=') {
            // A parameter without a value (or the end): skip it.
            if i >= b.len() {
                return Ok(None);
            }
            continue;
        }
        i = i.saturating_add(1);
        while b.get(i).is_some_and(|c| *c == b' ' || *c == b'\t') {
            i = i.saturating_add(1);
        }
        let v = if b.get(i) == Some(&b'"') {
            let start = i.saturating_add(1);
            let mut j = start;
            loop {
                match b.get(j) {
                    None => return Err(MultipartError::MalformedHeader),
                    Some(b'"') => break,
                    Some(b'\\') => j = j.saturating_add(2),
                    Some(_) => j = j.saturating_add(1),
                }
            }
            let v = value.get(start..j).ok_or(MultipartError::MalformedHeader)?;
            i = j.saturating_add(1);
            while b.get(i).is_some_and(|c| *c != b';') {
                i = i.saturating_add(1);
            }
            v
        } else {
            let start = i;
            while b.get(i).is_some_and(|c| *c != b';') {
                i = i.saturating_add(1);
            }
            trim(value.get(start..i).ok_or(MultipartError::MalformedHeader)?)
        };
        if this.eq_ignore_ascii_case(name) {
            return Ok(Some(v));
        }
        if i >= b.len() {
            return Ok(None);
        }
    }
}

/// A multipart boundary (RFC 2046 section 5.1.1), copied out of the Content-Type value.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Boundary {
    bytes: [u8; MAX_BOUNDARY_LEN],
    len: usize,
}

impl Boundary {
    /// A checked boundary: 1 to 70 characters of RFC 2046's `bchars`, not ending in a space.
    pub fn new(boundary: &str) -> Result<Self, MultipartError> {
        let b = boundary.as_bytes();
        let allowed = |c: &u8| c.is_ascii_alphanumeric() || b"'()+_,-./:=? ".contains(c);
        if b.is_empty() || b.len() > MAX_BOUNDARY_LEN || !b.iter().all(allowed) || b.last() == Some(&b' ') {
            return Err(MultipartError::InvalidBoundary);
        }
        let mut bytes = [0u8; MAX_BOUNDARY_LEN];
        bytes.get_mut(..b.len()).ok_or(MultipartError::InvalidBoundary)?.copy_from_slice(b);
        Ok(Self { bytes, len: b.len() })
    }

    /// The boundary of a `multipart/*` Content-Type value, quoted or not.
    pub fn from_content_type(content_type: &str) -> Result<Self, MultipartError> {
        let media = media_type(content_type);
        if !media.get(..10).is_some_and(|m| m.eq_ignore_ascii_case("multipart/")) {
            return Err(MultipartError::NotMultipart);
        }
        match parameter(content_type, "boundary") {
            Ok(Some(b)) => Self::new(b),
            Ok(None) => Err(MultipartError::MissingBoundary),
            Err(_) => Err(MultipartError::InvalidBoundary),
        }
    }

    /// The boundary.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }

    /// The boundary as text.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

impl fmt::Debug for Boundary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Boundary").field(&self.as_str()).finish()
    }
}

/// A delimiter line: where the content before it ends, where the next part starts, and
/// whether it is the close delimiter.
struct Delimiter {
    content_end: usize,
    next: usize,
    close: bool,
}

/// The first delimiter line at or after `from` (which is at a line start). A delimiter is
/// `--boundary`, then `--` for the close one, then spaces or tabs, then CRLF or LF (or the
/// end of the body, after a close delimiter) at the start of a line; the line end before it
/// belongs to it.
fn find_delimiter(body: &[u8], boundary: &[u8], from: usize) -> Option<Delimiter> {
    let mut at = from;
    loop {
        let rel = body.get(at..)?.windows(2).position(|w| w == b"--")?;
        let pos = at.checked_add(rel)?;
        let line_start = pos == from || pos.checked_sub(1).and_then(|p| body.get(p)) == Some(&b'\n');
        let after = pos.checked_add(2)?;
        if line_start && body.get(after..).is_some_and(|r| r.starts_with(boundary)) {
            let mut j = after.checked_add(boundary.len())?;
            let close = body.get(j..j.saturating_add(2)) == Some(b"--");
            if close {
                j = j.checked_add(2)?;
            }
            while matches!(body.get(j), Some(b' ' | b'\t')) {
                j = j.checked_add(1)?;
            }
            let next = match (body.get(j), body.get(j.saturating_add(1))) {
                (Some(b'\r'), Some(b'\n')) => Some(j.saturating_add(2)),
                (Some(b'\n'), _) => Some(j.saturating_add(1)),
                (None, _) if close => Some(j),
                _ => None,
            };
            if let Some(next) = next {
                let content_end = if pos == from {
                    pos
                } else if pos >= from.saturating_add(2) && body.get(pos.saturating_sub(2)) == Some(&b'\r') {
                    pos.saturating_sub(2)
                } else {
                    pos.saturating_sub(1)
                };
                return Some(Delimiter { content_end, next, close });
            }
        }
        at = pos.checked_add(1)?;
    }
}

/// One body part: its header block and its content, borrowed from the body.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Part<'a> {
    headers: &'a [u8],
    body: &'a [u8],
    offset: usize,
}

impl<'a> Part<'a> {
    /// Splits the bytes between two delimiters into headers and content, and checks the
    /// headers. `offset` is where `content` starts in the whole body.
    fn parse(content: &'a [u8], offset: usize) -> Result<Self, MultipartError> {
        let (headers, body_start) = if content.starts_with(b"\r\n") {
            (&[][..], 2)
        } else if content.starts_with(b"\n") {
            (&[][..], 1)
        } else {
            let blank = content.windows(2).position(|w| w == b"\n\n").map(|p| (p, 2));
            let blank_crlf = content.windows(3).position(|w| w == b"\n\r\n").map(|p| (p, 3));
            match (blank, blank_crlf) {
                (Some(a), Some(b)) => {
                    let (p, n) = if a.0 < b.0 { a } else { b };
                    (content.get(..=p).unwrap_or(&[]), p.saturating_add(n))
                }
                (Some((p, n)), None) | (None, Some((p, n))) => (content.get(..=p).unwrap_or(&[]), p.saturating_add(n)),
                // Headers only, no content (RFC 2046: the CRLF and body are optional).
                (None, None) => (content, content.len()),
            }
        };
        if headers.len() > MAX_PART_HEADER_LEN {
            return Err(MultipartError::HeaderTooLarge);
        }
        check_headers(headers)?;
        let body = content.get(body_start..).unwrap_or(&[]);
        Ok(Self { headers, body, offset: offset.saturating_add(body_start) })
    }

    /// The value of header `name` (case-insensitive), trimmed; a folded value keeps its inner
    /// line breaks.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        let mut current: Option<(usize, usize)> = None;
        for (start, end) in lines(self.headers) {
            let line = self.headers.get(start..end)?;
            if matches!(line.first(), Some(b' ' | b'\t')) {
                if let Some((s, _)) = current {
                    current = Some((s, end));
                }
                continue;
            }
            if current.is_some() {
                break;
            }
            let colon = line.iter().position(|b| *b == b':')?;
            if line.get(..colon).is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes())) {
                current = Some((start.saturating_add(colon).saturating_add(1), end));
            }
        }
        let (s, e) = current?;
        core::str::from_utf8(self.headers.get(s..e)?).ok().map(trim)
    }

    /// The Content-Type value, if any.
    pub fn content_type(&self) -> Option<&'a str> {
        self.header("content-type")
    }

    /// Whether the media type (without parameters) is `ty`, case-insensitively.
    pub fn media_type_is(&self, ty: &str) -> bool {
        self.content_type().is_some_and(|c| media_type(c).eq_ignore_ascii_case(ty))
    }

    /// A parameter of the Content-Type (`smime-type`, ...), without quotes.
    pub fn parameter(&self, name: &str) -> Option<&'a str> {
        parameter(self.content_type()?, name).ok().flatten()
    }

    /// The Content-Transfer-Encoding value, if any.
    pub fn transfer_encoding(&self) -> Option<&'a str> {
        self.header("content-transfer-encoding")
    }

    /// The content as sent (for EST, base64 text).
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// Where the content lies in the whole multipart body.
    pub fn range(&self) -> Range<usize> {
        self.offset..self.offset.saturating_add(self.body.len())
    }

    /// Decodes the base64 content into `out`. EST content is base64 whatever the header says
    /// (RFC 8951 section 3); an encoding that base64 text cannot be (binary,
    /// quoted-printable, ...) is refused.
    ///
    /// For the key part of a `/serverkeygen` response use
    /// [`ServerKeyGen::decode_key`](crate::est::multipart::ServerKeyGen::decode_key), which wipes `out`
    /// after use.
    pub fn decode_base64<'o>(&self, out: &'o mut [u8]) -> Result<&'o [u8], MultipartError> {
        self.check_transfer_encoding()?;
        Ok(base64::decode(self.body, out)?)
    }

    pub(crate) fn check_transfer_encoding(&self) -> Result<(), MultipartError> {
        match self.transfer_encoding() {
            None => Ok(()),
            Some(e) if ["base64", "7bit", "8bit"].iter().any(|ok| e.eq_ignore_ascii_case(ok)) => Ok(()),
            Some(_) => Err(MultipartError::UnsupportedTransferEncoding),
        }
    }
}

impl fmt::Debug for Part<'_> {
    /// Shows the content type and the size only: the key part's content is secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Part").field("content_type", &self.content_type()).field("len", &self.body.len()).finish()
    }
}

/// Line ranges (without the line end) of a header block.
fn lines(block: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut at = 0usize;
    core::iter::from_fn(move || {
        let rest = block.get(at..).filter(|r| !r.is_empty())?;
        let start = at;
        let nl = rest.iter().position(|b| *b == b'\n');
        let raw_end = nl.map_or(block.len(), |p| start.saturating_add(p));
        at = nl.map_or(block.len(), |_| raw_end.saturating_add(1));
        let end = if raw_end > start && block.get(raw_end.saturating_sub(1)) == Some(&b'\r') { raw_end.saturating_sub(1) } else { raw_end };
        Some((start, end))
    })
}

/// Each line is `name: value` (name without spaces) or a continuation of the one before.
fn check_headers(block: &[u8]) -> Result<(), MultipartError> {
    if !block.is_ascii() {
        return Err(MultipartError::MalformedHeader);
    }
    for (i, (start, end)) in lines(block).enumerate() {
        if i >= MAX_PART_HEADERS {
            return Err(MultipartError::HeaderTooLarge);
        }
        let line = block.get(start..end).ok_or(MultipartError::MalformedHeader)?;
        if matches!(line.first(), Some(b' ' | b'\t')) && i > 0 {
            continue;
        }
        let colon = line.iter().position(|b| *b == b':').ok_or(MultipartError::MalformedHeader)?;
        let name = line.get(..colon).ok_or(MultipartError::MalformedHeader)?;
        if name.is_empty() || !name.iter().all(|b| b.is_ascii_graphic()) {
            return Err(MultipartError::MalformedHeader);
        }
    }
    Ok(())
}

/// Iterator over the parts of a multipart body, in order; it ends after the close delimiter,
/// or with an error.
#[derive(Debug, Clone)]
pub struct Parts<'a> {
    body: &'a [u8],
    boundary: Boundary,
    pos: usize,
    count: usize,
    done: bool,
}

impl<'a> Parts<'a> {
    /// The parts of `body`, delimited by `boundary`. Everything before the first delimiter
    /// (the preamble) and after the close delimiter (the epilogue) is skipped.
    pub fn new(boundary: Boundary, body: &'a [u8]) -> Result<Self, MultipartError> {
        let first = find_delimiter(body, boundary.as_bytes(), 0).ok_or(MultipartError::MissingOpeningDelimiter)?;
        Ok(Self { body, boundary, pos: first.next, count: 0, done: first.close })
    }
}

impl<'a> Iterator for Parts<'a> {
    type Item = Result<Part<'a>, MultipartError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        self.done = true;
        if self.count >= MAX_PARTS {
            return Some(Err(MultipartError::TooManyParts));
        }
        let Some(d) = find_delimiter(self.body, self.boundary.as_bytes(), self.pos) else {
            return Some(Err(MultipartError::MissingCloseDelimiter));
        };
        let content = self.body.get(self.pos..d.content_end).unwrap_or(&[]);
        let part = Part::parse(content, self.pos);
        self.pos = d.next;
        self.count = self.count.saturating_add(1);
        self.done = d.close || part.is_err();
        Some(part)
    }
}

/// The parts of a multipart body, given the response's Content-Type value.
pub fn parts<'a>(content_type: &str, body: &'a [u8]) -> Result<Parts<'a>, MultipartError> {
    Parts::new(Boundary::from_content_type(content_type)?, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    #[test]
    fn boundaries() {
        let b = |ct: &str| Boundary::from_content_type(ct).map(|b| String::from(b.as_str()));
        assert_eq!(b("multipart/mixed; boundary=est-server-boundary").unwrap(), "est-server-boundary");
        assert_eq!(b("Multipart/Mixed;BOUNDARY=\"a b:c\"; charset=x").unwrap(), "a b:c");
        assert_eq!(b("multipart/mixed; charset=\"x;y\"; boundary=z ").unwrap(), "z");
        assert_eq!(b("multipart/mixed; flag; boundary=q").unwrap(), "q");
        assert_eq!(b("multipart/mixed"), Err(MultipartError::MissingBoundary));
        assert_eq!(b("multipart/mixed; boundary="), Err(MultipartError::InvalidBoundary));
        assert_eq!(b("multipart/mixed; boundary=\"abc"), Err(MultipartError::InvalidBoundary));
        assert_eq!(b("multipart/mixed; boundary=\"ab \""), Err(MultipartError::InvalidBoundary));
        assert_eq!(b("multipart/mixed; boundary=a*b"), Err(MultipartError::InvalidBoundary));
        assert_eq!(b(&std::format!("multipart/mixed; boundary={}", "x".repeat(70))).unwrap().len(), 70);
        assert_eq!(b(&std::format!("multipart/mixed; boundary={}", "x".repeat(71))), Err(MultipartError::InvalidBoundary));
        assert_eq!(b("application/pkcs7-mime; boundary=x"), Err(MultipartError::NotMultipart));
        assert_eq!(b(""), Err(MultipartError::NotMultipart));
    }
}
