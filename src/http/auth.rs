//! HTTP authentication for EST clients (RFC 7030 section 3.2.3): reading a server's
//! `WWW-Authenticate` challenge and writing the `Authorization` answer.
//!
//! - Basic (RFC 7617): `Basic base64(user-id ":" password)`. Send it over TLS only.
//! - Digest (RFC 7616) with `qop=auth`, or the RFC 2069 form when the server offers no `qop`;
//!   algorithms SHA-256 and MD5, with the `http-digest` feature only. The `-sess` variants,
//!   `qop=auth-int` and SHA-512-256 are refused with a typed error; `userhash` is optional for
//!   a client and is not used (the user name is sent as is).
//!
//! When one header value holds several challenges, [`Challenge::parse`] picks Digest SHA-256,
//! then Digest MD5, then Basic. Parameter values borrow from the header; nothing allocates.
//! Without the `http-digest` feature the Digest code is not built: a Digest challenge is
//! never picked ([`AuthError::DigestDisabled`] when nothing else is offered), so a server
//! that offers Digest and Basic gets Basic, and one that offers only Digest gets no answer.
//!
//! ```
//! # #[cfg(feature = "http-digest")] {
//! use embedded_enroll::http::Method;
//! use embedded_enroll::http::auth::{Challenge, Credentials, DigestRequest, authorization, cnonce_hex};
//!
//! let header = r#"Digest realm="est", qop="auth", algorithm=SHA-256, nonce="5f2c01""#;
//! let challenge = Challenge::parse(header)?;
//! let mut cnonce_buf = [0u8; 32];
//! let cnonce = cnonce_hex(&[0x5a; 16], &mut cnonce_buf)?; // bytes from the RNG
//! let request = DigestRequest { method: Method::Post, uri: "/.well-known/est/simpleenroll", cnonce, nc: 1 };
//! let mut out = [0u8; 512];
//! let value = authorization(&challenge, &Credentials::new("device", b"secret"), &request, &mut out)?;
//! assert!(value.starts_with("Digest username=\"device\", realm=\"est\""));
//! # }
//! # Ok::<(), embedded_enroll::error::AuthError>(())
//! ```
//!
//! Secrets: the password-derived intermediate values (Digest `H(A1)`, the Basic plain text)
//! live in buffers that are zeroized after use, and the output buffer is wiped when the answer
//! does not fit. A Basic answer is itself a password equivalent: wipe `out` once it is sent.
//! (The hash functions' internal block buffers are not zeroized: the `digest` 0.10 generation
//! offers no way to.)

use crate::error::AuthError;
use crate::http::Method;
use base64ct::{Base64, Encoding};
#[cfg(feature = "http-digest")]
use sha2::Digest;
use zeroize::{Zeroize, Zeroizing};

/// A challenge parameter's value as sent: a token, or the inside of a quoted-string with its
/// backslash escapes (quoted-pairs) kept. Borrowed from the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamValue<'a> {
    raw: &'a str,
    quoted: bool,
}

impl<'a> ParamValue<'a> {
    /// The value as it appears in the header: a token, or the inside of a quoted-string,
    /// escapes included (so it can be sent back inside quotes as is).
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// Whether the value was sent as a quoted-string.
    pub fn is_quoted(&self) -> bool {
        self.quoted
    }

    /// The value itself, borrowed, when it has no escapes (the usual case).
    pub fn as_str(&self) -> Option<&'a str> {
        if self.quoted && self.raw.contains('\\') { None } else { Some(self.raw) }
    }

    /// The value's bytes with escapes resolved.
    pub fn bytes(&self) -> Unescaped<'a> {
        Unescaped { rest: self.raw.as_bytes(), quoted: self.quoted }
    }

    /// Whether the value (escapes resolved) equals `s`, ignoring ASCII case.
    pub fn eq_ignore_ascii_case(&self, s: &str) -> bool {
        let mut ours = self.bytes();
        let mut theirs = s.bytes();
        loop {
            match (ours.next(), theirs.next()) {
                (None, None) => return true,
                (Some(a), Some(b)) if a.eq_ignore_ascii_case(&b) => {}
                _ => return false,
            }
        }
    }

    /// Feeds the value (escapes resolved) into a hash.
    #[cfg(feature = "http-digest")]
    fn hash_into<D: Digest>(&self, h: &mut D) {
        match self.as_str() {
            Some(s) => h.update(s.as_bytes()),
            None => self.bytes().for_each(|b| h.update([b])),
        }
    }
}

/// The bytes of a [`ParamValue`] with quoted-pairs resolved.
#[derive(Debug, Clone)]
pub struct Unescaped<'a> {
    rest: &'a [u8],
    quoted: bool,
}

impl Iterator for Unescaped<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        let (&first, rest) = self.rest.split_first()?;
        if self.quoted && first == b'\\' {
            let (&escaped, rest) = rest.split_first()?;
            self.rest = rest;
            Some(escaped)
        } else {
            self.rest = rest;
            Some(first)
        }
    }
}

/// The Digest hash algorithm a challenge asks for.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DigestAlgorithm {
    /// MD5: the default when the challenge names none.
    Md5,
    /// SHA-256 (RFC 7616).
    Sha256,
}

impl DigestAlgorithm {
    /// The name as it goes into the `algorithm` parameter.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Sha256 => "SHA-256",
        }
    }

    /// Whether this build can answer a challenge with this algorithm: both with the
    /// `http-digest` feature, neither without it.
    pub const fn is_available(self) -> bool {
        match self {
            Self::Md5 | Self::Sha256 => cfg!(feature = "http-digest"),
        }
    }
}

/// How a Digest answer is formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Qop {
    /// `qop=auth` (RFC 7616): the answer carries `nc`, `cnonce` and `qop`.
    Auth,
    /// The server offered no `qop`: the RFC 2069 form, `H(H(A1):nonce:H(A2))`.
    Rfc2069,
}

/// A Basic challenge (RFC 7617).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BasicChallenge<'a> {
    /// The realm, if given (RFC 7617 requires one; its absence is tolerated).
    pub realm: Option<ParamValue<'a>>,
}

/// A Digest challenge (RFC 7616) this client can answer.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestChallenge<'a> {
    /// The realm.
    pub realm: ParamValue<'a>,
    /// The server nonce.
    pub nonce: ParamValue<'a>,
    /// The opaque value to send back, if given.
    pub opaque: Option<ParamValue<'a>>,
    /// The hash algorithm.
    pub algorithm: DigestAlgorithm,
    /// `qop=auth`, or the RFC 2069 form.
    pub qop: Qop,
    /// `stale=true`: the previous answer had the right credentials but an expired nonce, so
    /// answering again with this nonce needs no new credentials.
    pub stale: bool,
}

/// An authentication challenge this client can answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge<'a> {
    /// Basic (RFC 7617).
    Basic(BasicChallenge<'a>),
    /// Digest (RFC 7616).
    Digest(DigestChallenge<'a>),
}

impl<'a> Challenge<'a> {
    /// Parses a `WWW-Authenticate` value (RFC 9110 section 11.6.1) and picks the challenge to
    /// answer: Digest SHA-256, then Digest MD5 (both with the `http-digest` feature), then
    /// Basic; the first of equals. Scheme and parameter names are case-insensitive; empty list elements and
    /// extra whitespace are tolerated; unknown schemes and parameters are skipped.
    ///
    /// When nothing can be answered, the error says why, preferring what was wrong with a
    /// Digest challenge ([`AuthError::UnsupportedQop`], [`AuthError::SessionAlgorithm`], ...;
    /// [`AuthError::DigestDisabled`] without the `http-digest` feature) over
    /// [`AuthError::UnsupportedScheme`]. A syntax error ends the parse: challenges
    /// completed before it (as in a value truncated by the response parser) are still used.
    pub fn parse(value: &'a str) -> Result<Self, AuthError> {
        let mut lx = Lexer { s: value, i: 0 };
        let mut best: Option<(u8, Challenge<'a>)> = None;
        let mut failure: Option<(u8, AuthError)> = None;
        let mut any = false;
        loop {
            match lx.challenge() {
                Ok(None) => break,
                Ok(Some(acc)) => {
                    any = true;
                    match acc.finish() {
                        Ok((rank, c)) => {
                            if best.as_ref().is_none_or(|(r, _)| rank > *r) {
                                best = Some((rank, c));
                            }
                        }
                        Err((priority, e)) => {
                            if failure.as_ref().is_none_or(|(p, _)| priority > *p) {
                                failure = Some((priority, e));
                            }
                        }
                    }
                }
                Err(e) => return best.map(|(_, c)| c).ok_or(e),
            }
        }
        match (best, failure) {
            (Some((_, c)), _) => Ok(c),
            (None, Some((_, e))) => Err(e),
            (None, None) if any => Err(AuthError::UnsupportedScheme),
            (None, None) => Err(AuthError::Malformed { what: "no challenge" }),
        }
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token68_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)
}

/// An unquoted parameter value: a token, tolerantly (servers send base64 nonces unquoted).
fn is_value_char(b: u8) -> bool {
    (0x21..=0x7e).contains(&b) && !matches!(b, b',' | b'"' | b'\\')
}

/// A byte allowed inside a quoted-string: HTAB, SP, VCHAR, obs-text.
fn is_qdtext(b: u8) -> bool {
    b == b'\t' || (b >= 0x20 && b != 0x7f)
}

const MALFORMED_SCHEME: AuthError = AuthError::Malformed { what: "auth-scheme" };
const MALFORMED_PARAM: AuthError = AuthError::Malformed { what: "auth-param" };

struct Lexer<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Lexer<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    fn skip_separators(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.i += 1;
        }
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a str {
        let start = self.i;
        while self.peek().is_some_and(&f) {
            self.i += 1;
        }
        self.s.get(start..self.i).unwrap_or("")
    }

    /// The inside of a quoted-string; the opening quote is consumed already.
    fn quoted(&mut self) -> Result<&'a str, AuthError> {
        let start = self.i;
        loop {
            match self.peek() {
                None => return Err(AuthError::Malformed { what: "unterminated quoted-string" }),
                Some(b'"') => {
                    let inside = self.s.get(start..self.i).ok_or(MALFORMED_PARAM)?;
                    self.i += 1;
                    return Ok(inside);
                }
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(b) if is_qdtext(b) => self.i += 1,
                        _ => return Err(AuthError::Malformed { what: "escape in quoted-string" }),
                    }
                }
                Some(b) if is_qdtext(b) => self.i += 1,
                Some(_) => return Err(AuthError::Malformed { what: "control character in quoted-string" }),
            }
        }
    }

    /// The next challenge with its parameters, or `None` at the end of the value.
    fn challenge(&mut self) -> Result<Option<Acc<'a>>, AuthError> {
        self.skip_separators();
        if self.peek().is_none() {
            return Ok(None);
        }
        let scheme = self.take_while(is_tchar);
        if scheme.is_empty() {
            return Err(MALFORMED_SCHEME);
        }
        let mut acc = Acc::new(scheme);
        match self.peek() {
            None | Some(b',') => return Ok(Some(acc)),
            Some(b' ' | b'\t') => self.skip_ows(),
            Some(_) => return Err(MALFORMED_SCHEME),
        }
        // token68: a run of token68 characters and '=' padding, then the end of the element.
        let start = self.i;
        let t = self.take_while(is_token68_char);
        self.take_while(|b| b == b'=');
        self.skip_ows();
        if !t.is_empty() && matches!(self.peek(), None | Some(b',')) {
            acc.token68 = true;
            return Ok(Some(acc));
        }
        self.i = start;
        loop {
            self.skip_separators();
            let name_start = self.i;
            let name = self.take_while(is_tchar);
            if name.is_empty() {
                return if self.peek().is_none() { Ok(Some(acc)) } else { Err(MALFORMED_PARAM) };
            }
            self.skip_ows();
            if self.peek() != Some(b'=') {
                // Not a parameter: the next challenge's scheme.
                self.i = name_start;
                return Ok(Some(acc));
            }
            self.i += 1;
            self.skip_ows();
            let value = if self.peek() == Some(b'"') {
                self.i += 1;
                ParamValue { raw: self.quoted()?, quoted: true }
            } else {
                let raw = self.take_while(is_value_char);
                if raw.is_empty() {
                    return Err(AuthError::Malformed { what: "empty auth-param value" });
                }
                ParamValue { raw, quoted: false }
            };
            acc.param(name, value);
            self.skip_ows();
            if !matches!(self.peek(), None | Some(b',')) {
                return Err(AuthError::Malformed { what: "missing comma between auth-params" });
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Basic,
    Digest,
    Other,
}

/// One challenge's parameters as they are read.
struct Acc<'a> {
    scheme: Scheme,
    token68: bool,
    duplicate: bool,
    realm: Option<ParamValue<'a>>,
    nonce: Option<ParamValue<'a>>,
    opaque: Option<ParamValue<'a>>,
    algorithm: Option<ParamValue<'a>>,
    qop: Option<ParamValue<'a>>,
    stale: Option<ParamValue<'a>>,
}

impl<'a> Acc<'a> {
    fn new(scheme: &str) -> Self {
        let scheme = if scheme.eq_ignore_ascii_case("basic") {
            Scheme::Basic
        } else if scheme.eq_ignore_ascii_case("digest") {
            Scheme::Digest
        } else {
            Scheme::Other
        };
        Self { scheme, token68: false, duplicate: false, realm: None, nonce: None, opaque: None, algorithm: None, qop: None, stale: None }
    }

    fn param(&mut self, name: &str, value: ParamValue<'a>) {
        let slot = match name {
            n if n.eq_ignore_ascii_case("realm") => &mut self.realm,
            n if n.eq_ignore_ascii_case("nonce") => &mut self.nonce,
            n if n.eq_ignore_ascii_case("opaque") => &mut self.opaque,
            n if n.eq_ignore_ascii_case("algorithm") => &mut self.algorithm,
            n if n.eq_ignore_ascii_case("qop") => &mut self.qop,
            n if n.eq_ignore_ascii_case("stale") => &mut self.stale,
            // domain, charset, userhash and extensions: not needed to answer.
            _ => return,
        };
        if slot.is_some() {
            self.duplicate = true;
        }
        *slot = Some(value);
    }

    /// The challenge and its rank (higher is preferred), or why it cannot be answered and how
    /// much that reason matters (higher is reported first).
    fn finish(self) -> Result<(u8, Challenge<'a>), (u8, AuthError)> {
        match self.scheme {
            Scheme::Other => Err((0, AuthError::UnsupportedScheme)),
            Scheme::Basic => Ok((1, Challenge::Basic(BasicChallenge { realm: self.realm }))),
            Scheme::Digest => self.finish_digest(),
        }
    }

    /// Without the `http-digest` feature no Digest challenge is answered, whatever it holds.
    #[cfg(not(feature = "http-digest"))]
    fn finish_digest(self) -> Result<(u8, Challenge<'a>), (u8, AuthError)> {
        Err((2, AuthError::DigestDisabled))
    }

    /// A Digest challenge and its rank (SHA-256 over MD5), or why it cannot be answered.
    #[cfg(feature = "http-digest")]
    fn finish_digest(self) -> Result<(u8, Challenge<'a>), (u8, AuthError)> {
        let fail = |e| (2, e);
        if self.token68 {
            return Err(fail(AuthError::Malformed { what: "Digest challenge without parameters" }));
        }
        if self.duplicate {
            return Err(fail(AuthError::Malformed { what: "repeated Digest parameter" }));
        }
        let realm = self.realm.ok_or(fail(AuthError::Malformed { what: "Digest challenge without realm" }))?;
        let nonce = self.nonce.ok_or(fail(AuthError::Malformed { what: "Digest challenge without nonce" }))?;
        let algorithm = match self.algorithm {
            None => DigestAlgorithm::Md5,
            Some(a) if a.eq_ignore_ascii_case("MD5") => DigestAlgorithm::Md5,
            Some(a) if a.eq_ignore_ascii_case("SHA-256") => DigestAlgorithm::Sha256,
            Some(a) if ends_with_ignore_case(a.raw(), "-sess") => return Err(fail(AuthError::SessionAlgorithm)),
            Some(_) => return Err(fail(AuthError::UnsupportedAlgorithm)),
        };
        let qop = match self.qop {
            None => Qop::Rfc2069,
            Some(q) => {
                let offers_auth = q
                    .raw()
                    .split(',')
                    .any(|option| ParamValue { raw: option.trim_matches([' ', '\t']), quoted: q.quoted }.eq_ignore_ascii_case("auth"));
                if !offers_auth {
                    return Err(fail(AuthError::UnsupportedQop));
                }
                Qop::Auth
            }
        };
        let stale = self.stale.is_some_and(|s| s.eq_ignore_ascii_case("true"));
        let rank = match algorithm {
            DigestAlgorithm::Sha256 => 3,
            DigestAlgorithm::Md5 => 2,
        };
        Ok((rank, Challenge::Digest(DigestChallenge { realm, nonce, opaque: self.opaque, algorithm, qop, stale })))
    }
}

#[cfg(feature = "http-digest")]
fn ends_with_ignore_case(s: &str, suffix: &str) -> bool {
    s.len() >= suffix.len() && s.get(s.len() - suffix.len()..).is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
}

/// A user name and password.
#[derive(Clone, Copy)]
pub struct Credentials<'c> {
    /// The user name (Basic user-id).
    pub username: &'c str,
    /// The password.
    pub password: &'c [u8],
}

impl<'c> Credentials<'c> {
    /// Credentials of `username` and `password`.
    pub const fn new(username: &'c str, password: &'c [u8]) -> Self {
        Self { username, password }
    }
}

impl core::fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Credentials").field("username", &self.username).field("password", &"<redacted>").finish()
    }
}

/// What a Digest answer covers besides the credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestRequest<'r> {
    /// The request method.
    pub method: Method,
    /// The request-target exactly as on the request line (path and query).
    pub uri: &'r str,
    /// The client nonce: a token of random data, such as [`cnonce_hex`] makes. Unused in the
    /// RFC 2069 form.
    pub cnonce: &'r str,
    /// The nonce count: 1 for the first request with a nonce, one more for each further one.
    /// Unused in the RFC 2069 form.
    pub nc: u32,
}

/// Hex-encodes (lower case) random bytes as a client nonce into `out`, which needs twice
/// their length. 16 random bytes are plenty.
pub fn cnonce_hex<'o>(random: &[u8], out: &'o mut [u8]) -> Result<&'o str, AuthError> {
    if random.is_empty() {
        return Err(AuthError::InvalidValue { what: "cnonce" });
    }
    let needed = random.len().saturating_mul(2);
    let dst = out.get_mut(..needed).ok_or(AuthError::BufferTooSmall { needed })?;
    hex_into(random, dst);
    core::str::from_utf8(dst).map_err(|_| AuthError::InvalidValue { what: "cnonce" })
}

/// Writes the `Authorization` value answering `challenge` into `out`: Basic
/// ([`basic_authorization`]) or, with the `http-digest` feature, Digest
/// (`digest_authorization`; without the feature [`AuthError::DigestDisabled`]). `request` is
/// used by Digest only.
pub fn authorization<'o>(
    challenge: &Challenge<'_>,
    credentials: &Credentials<'_>,
    request: &DigestRequest<'_>,
    out: &'o mut [u8],
) -> Result<&'o str, AuthError> {
    match challenge {
        Challenge::Basic(_) => basic_authorization(credentials, out),
        #[cfg(feature = "http-digest")]
        Challenge::Digest(d) => digest_authorization(d, credentials, request, out),
        #[cfg(not(feature = "http-digest"))]
        Challenge::Digest(_) => {
            let _ = request;
            Err(AuthError::DigestDisabled)
        }
    }
}

/// Writes `Basic base64(user-id ":" password)` (RFC 7617) into `out`.
///
/// The user-id must not contain a colon, and neither it nor the password a control character
/// ([`AuthError::InvalidValue`]). The result is a password equivalent: wipe `out` after use.
pub fn basic_authorization<'o>(credentials: &Credentials<'_>, out: &'o mut [u8]) -> Result<&'o str, AuthError> {
    let user = credentials.username.as_bytes();
    if user.iter().any(|&b| b == b':' || is_ctl(b)) {
        return Err(AuthError::InvalidValue { what: "username" });
    }
    if credentials.password.iter().any(|&b| is_ctl(b)) {
        return Err(AuthError::InvalidValue { what: "password" });
    }
    let mut w = Out::new(out);
    w.put(b"Basic ");
    // Base64 in pieces of 48 bytes (a multiple of 3) so the plain text never sits whole in
    // one buffer; each piece is wiped.
    let mut plain = Zeroizing::new([0u8; 48]);
    let mut encoded = Zeroizing::new([0u8; 64]);
    let mut filled = 0;
    let bytes = user.iter().chain(b":").chain(credentials.password.iter());
    for &b in bytes {
        if let Some(slot) = plain.get_mut(filled) {
            *slot = b;
            filled += 1;
        }
        if filled == plain.len() {
            w.put_base64(plain.as_slice(), encoded.as_mut_slice());
            filled = 0;
        }
    }
    if filled > 0 {
        w.put_base64(plain.get(..filled).unwrap_or(&[]), encoded.as_mut_slice());
    }
    w.finish()
}

/// Writes the Digest answer (RFC 7616 section 3.4) to `challenge` into `out`:
///
/// ```text
/// Digest username="..", realm="..", uri="..", algorithm=.., nonce="..", nc=.., cnonce="..",
///        qop=auth, response="..", opaque=".."
/// ```
///
/// with `response = H(H(user:realm:password):nonce:nc:cnonce:auth:H(method:uri))` in lower-case
/// hex, or, in the RFC 2069 form (no `qop` offered), `H(H(A1):nonce:H(A2))` without `nc`,
/// `cnonce` and `qop`. `opaque` is sent back when the server gave one.
///
/// The user name must not contain a quote, a backslash or a control character; the URI and
/// the client nonce must be non-empty visible ASCII without quotes or backslashes
/// ([`AuthError::InvalidValue`]).
///
/// Only with the `http-digest` feature.
#[cfg(feature = "http-digest")]
pub fn digest_authorization<'o>(
    challenge: &DigestChallenge<'_>,
    credentials: &Credentials<'_>,
    request: &DigestRequest<'_>,
    out: &'o mut [u8],
) -> Result<&'o str, AuthError> {
    if credentials.username.bytes().any(|b| is_ctl(b) || b == b'"' || b == b'\\') {
        return Err(AuthError::InvalidValue { what: "username" });
    }
    if !is_header_token(request.uri) {
        return Err(AuthError::InvalidValue { what: "uri" });
    }
    if challenge.qop == Qop::Auth && !is_header_token(request.cnonce) {
        return Err(AuthError::InvalidValue { what: "cnonce" });
    }
    let mut nc = [0u8; 8];
    hex_into(&request.nc.to_be_bytes(), &mut nc);
    let mut response = [0u8; 64];
    let response_len = match challenge.algorithm {
        DigestAlgorithm::Sha256 => digest_response::<sha2::Sha256>(challenge, credentials, request, &nc, &mut response),
        DigestAlgorithm::Md5 => digest_response::<md5::Md5>(challenge, credentials, request, &nc, &mut response),
    };
    let mut w = Out::new(out);
    w.put(b"Digest username=\"");
    w.put(credentials.username.as_bytes());
    w.put(b"\", realm=\"");
    w.put(challenge.realm.raw().as_bytes());
    w.put(b"\", uri=\"");
    w.put(request.uri.as_bytes());
    w.put(b"\", algorithm=");
    w.put(challenge.algorithm.name().as_bytes());
    w.put(b", nonce=\"");
    w.put(challenge.nonce.raw().as_bytes());
    w.put(b"\"");
    if challenge.qop == Qop::Auth {
        w.put(b", nc=");
        w.put(&nc);
        w.put(b", cnonce=\"");
        w.put(request.cnonce.as_bytes());
        w.put(b"\", qop=auth");
    }
    w.put(b", response=\"");
    w.put(response.get(..response_len).unwrap_or(&[]));
    w.put(b"\"");
    if let Some(opaque) = &challenge.opaque {
        w.put(b", opaque=\"");
        w.put(opaque.raw().as_bytes());
        w.put(b"\"");
    }
    w.finish()
}

/// The Digest `response` value in hex into `out`; returns its length.
#[cfg(feature = "http-digest")]
fn digest_response<D: Digest>(
    challenge: &DigestChallenge<'_>,
    credentials: &Credentials<'_>,
    request: &DigestRequest<'_>,
    nc: &[u8; 8],
    out: &mut [u8; 64],
) -> usize {
    // H(A1) stands in for the password (it is all a verifier needs): wiped on drop.
    let mut ha1 = Zeroizing::new([0u8; 64]);
    let ha1_len = hash_hex::<D>(
        |h| {
            h.update(credentials.username.as_bytes());
            h.update(b":");
            challenge.realm.hash_into(h);
            h.update(b":");
            h.update(credentials.password);
        },
        &mut ha1,
    );
    let mut ha2 = [0u8; 64];
    let method: &[u8] = match request.method {
        Method::Get => b"GET",
        Method::Post => b"POST",
    };
    let ha2_len = hash_hex::<D>(
        |h| {
            h.update(method);
            h.update(b":");
            h.update(request.uri.as_bytes());
        },
        &mut ha2,
    );
    hash_hex::<D>(
        |h| {
            h.update(ha1.get(..ha1_len).unwrap_or(&[]));
            h.update(b":");
            challenge.nonce.hash_into(h);
            h.update(b":");
            if challenge.qop == Qop::Auth {
                h.update(nc);
                h.update(b":");
                h.update(request.cnonce.as_bytes());
                h.update(b":auth:");
            }
            h.update(ha2.get(..ha2_len).unwrap_or(&[]));
        },
        out,
    )
}

/// Hashes what `feed` gives and writes the digest in lower-case hex into `out`; returns the
/// hex length. The binary digest is wiped.
#[cfg(feature = "http-digest")]
fn hash_hex<D: Digest>(feed: impl FnOnce(&mut D), out: &mut [u8; 64]) -> usize {
    let mut h = D::new();
    feed(&mut h);
    let mut digest = sha2::digest::Output::<D>::default();
    h.finalize_into(&mut digest);
    let len = hex_into(&digest, out);
    digest.as_mut_slice().zeroize();
    len
}

/// Lower-case hex of `bytes` into the start of `out`; returns the length written.
fn hex_into(bytes: &[u8], out: &mut [u8]) -> usize {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut written = 0;
    for (pair, &b) in out.chunks_exact_mut(2).zip(bytes) {
        if let [hi, lo] = pair {
            *hi = HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0');
            *lo = HEX.get(usize::from(b & 0xf)).copied().unwrap_or(b'0');
            written += 2;
        }
    }
    written
}

/// CR, LF, NUL and the other control characters.
fn is_ctl(b: u8) -> bool {
    b < 0x20 || b == 0x7f
}

/// Non-empty visible ASCII without quote or backslash: safe inside a quoted-string as is.
#[cfg(feature = "http-digest")]
fn is_header_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\')
}

/// A bounded writer that keeps counting past the end to report the size needed, and wipes the
/// buffer when the answer does not fit.
struct Out<'o> {
    buf: &'o mut [u8],
    pos: usize,
    overflow: bool,
}

impl<'o> Out<'o> {
    fn new(buf: &'o mut [u8]) -> Self {
        Self { buf, pos: 0, overflow: false }
    }

    fn put(&mut self, bytes: &[u8]) {
        let end = self.pos.saturating_add(bytes.len());
        match self.buf.get_mut(self.pos..end) {
            Some(dst) if !self.overflow => dst.copy_from_slice(bytes),
            _ => self.overflow = true,
        }
        self.pos = end;
    }

    /// Base64 of `plain` (at most 48 bytes) through `scratch` (64 bytes).
    fn put_base64(&mut self, plain: &[u8], scratch: &mut [u8]) {
        match Base64::encode(plain, scratch) {
            Ok(s) => {
                let len = s.len();
                self.put(scratch.get(..len).unwrap_or(&[]));
            }
            // Cannot happen with the sizes used; count it as an overflow rather than panic.
            Err(_) => {
                self.overflow = true;
                self.pos = self.pos.saturating_add(plain.len().div_ceil(3).saturating_mul(4));
            }
        }
    }

    fn finish(self) -> Result<&'o str, AuthError> {
        let Out { buf, pos, overflow } = self;
        if overflow {
            buf.zeroize();
            return Err(AuthError::BufferTooSmall { needed: pos });
        }
        let buf: &'o [u8] = buf;
        let written = buf.get(..pos).ok_or(AuthError::BufferTooSmall { needed: pos })?;
        core::str::from_utf8(written).map_err(|_| AuthError::InvalidValue { what: "non-UTF-8 header value" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;
    use std::vec::Vec;

    // RFC 7616 section 3.9.1.
    #[cfg(feature = "http-digest")]
    const RFC_REALM: &str = "http-auth@example.org";
    #[cfg(feature = "http-digest")]
    const RFC_NONCE: &str = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
    #[cfg(feature = "http-digest")]
    const RFC_OPAQUE: &str = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS";
    const RFC_CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
    const RFC_CHALLENGES: &str = "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm=SHA-256, \
         nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\", \
         Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm=MD5, \
         nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";

    fn mufasa() -> Credentials<'static> {
        Credentials::new("Mufasa", b"Circle of Life")
    }

    fn rfc_request() -> DigestRequest<'static> {
        DigestRequest { method: Method::Get, uri: "/dir/index.html", cnonce: RFC_CNONCE, nc: 1 }
    }

    #[cfg(feature = "http-digest")]
    fn digest(value: &str) -> DigestChallenge<'_> {
        match Challenge::parse(value) {
            Ok(Challenge::Digest(d)) => d,
            other => panic!("not a Digest challenge: {other:?}"),
        }
    }

    #[cfg(feature = "http-digest")]
    fn answer(ch: &DigestChallenge<'_>, creds: &Credentials<'_>, req: &DigestRequest<'_>) -> String {
        let mut out = [0u8; 512];
        String::from(digest_authorization(ch, creds, req, &mut out).unwrap())
    }

    #[cfg(feature = "http-digest")]
    #[test]
    fn rfc7616_sha256_example() {
        let ch = digest(RFC_CHALLENGES);
        assert_eq!(ch.algorithm, DigestAlgorithm::Sha256, "SHA-256 is preferred over MD5");
        assert_eq!(ch.realm.as_str(), Some(RFC_REALM));
        assert_eq!(ch.nonce.as_str(), Some(RFC_NONCE));
        assert_eq!(ch.opaque.and_then(|o| o.as_str()), Some(RFC_OPAQUE));
        assert_eq!(ch.qop, Qop::Auth);
        assert!(!ch.stale);
        assert_eq!(
            answer(&ch, &mufasa(), &rfc_request()),
            "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", uri=\"/dir/index.html\", algorithm=SHA-256, \
             nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", nc=00000001, cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", \
             qop=auth, response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\", \
             opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""
        );
    }

    #[cfg(feature = "http-digest")]
    #[test]
    fn rfc7616_md5_example() {
        let md5_only = &RFC_CHALLENGES[RFC_CHALLENGES.rfind("Digest").unwrap()..];
        let ch = digest(md5_only);
        assert_eq!(ch.algorithm, DigestAlgorithm::Md5);
        assert_eq!(
            answer(&ch, &mufasa(), &rfc_request()),
            "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", uri=\"/dir/index.html\", algorithm=MD5, \
             nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", nc=00000001, cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", \
             qop=auth, response=\"8ca523f5e9506fed4657c9700eebdbec\", opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""
        );
        // No algorithm parameter means MD5.
        let ch = digest("Digest realm=\"http-auth@example.org\", nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", qop=auth");
        assert_eq!(ch.algorithm, DigestAlgorithm::Md5);
        assert!(answer(&ch, &mufasa(), &rfc_request()).contains("response=\"8ca523f5e9506fed4657c9700eebdbec\""));
    }

    /// RFC 2069 form (no qop): response = H(H(A1):nonce:H(A2)); the expected value is Python
    /// hashlib's md5(md5("Mufasa:testrealm@host.com:Circle Of Life") + ":" +
    /// "dcd98b7102dd2f0e8b11d0f600bfb0c093" + ":" + md5("GET:/dir/index.html")).
    #[cfg(feature = "http-digest")]
    #[test]
    fn rfc2069_form_without_qop() {
        let ch = digest(
            "Digest realm=\"testrealm@host.com\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        );
        assert_eq!(ch.qop, Qop::Rfc2069);
        let creds = Credentials::new("Mufasa", b"Circle Of Life");
        let req = DigestRequest { cnonce: "", nc: 0, ..rfc_request() };
        assert_eq!(
            answer(&ch, &creds, &req),
            "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", uri=\"/dir/index.html\", algorithm=MD5, \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", response=\"670fd8c2df070c60b045671b8b24ff02\", \
             opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""
        );
    }

    /// RFC 2617 section 3.5's example (qop=auth, MD5), whose response RFC 2617 gives as
    /// 6629fae49393a05397450978507c4ef1.
    #[cfg(feature = "http-digest")]
    #[test]
    fn rfc2617_example() {
        let ch = digest(
            "Digest\trealm=\"testrealm@host.com\",qop=\"auth,auth-int\",nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\",\
             opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        );
        let creds = Credentials::new("Mufasa", b"Circle Of Life");
        let req = DigestRequest { method: Method::Get, uri: "/dir/index.html", cnonce: "0a4f113b", nc: 1 };
        assert!(answer(&ch, &creds, &req).contains("response=\"6629fae49393a05397450978507c4ef1\""));
    }

    /// What curl 7.88.1 (`curl --digest -u 'dev ice:p\u{e4}ss w:rd' -X POST`) sent to a
    /// server whose realm holds escaped quotes; the server (Python hashlib) accepted it.
    #[cfg(feature = "http-digest")]
    #[test]
    fn same_response_as_curl_for_an_escaped_realm_and_a_non_ascii_password() {
        let ch = digest(
            "Bearer realm=\"x\", Basic realm=\"est \\\"realm\\\"\", Digest realm=\"est \\\"realm\\\"\", nonce=\"a2b/c+d=\", \
             algorithm=SHA-256, qop=\"auth-int, auth\", opaque=\"0paque\"",
        );
        let req = DigestRequest {
            method: Method::Post,
            uri: "/.well-known/est/simpleenroll?x=1",
            cnonce: "Y2MxZjA0OGFjYjFlMDVmZmU5ZjRjNDQwMTM2ZGU5MmE=",
            nc: 1,
        };
        let value = answer(&ch, &Credentials::new("dev ice", "p\u{e4}ss w:rd".as_bytes()), &req);
        assert!(value.contains("realm=\"est \\\"realm\\\"\""), "{value}");
        assert!(value.contains("response=\"5d02a946a02a15960e2faf995ff8e3dd3d0e4e75edd57c73efb70402606e9545\""), "{value}");
    }

    #[test]
    fn rfc7617_basic_example() {
        let ch = Challenge::parse("Basic realm=\"WallyWorld\"").unwrap();
        let Challenge::Basic(b) = ch else { panic!("{ch:?}") };
        assert_eq!(b.realm.and_then(|r| r.as_str()), Some("WallyWorld"));
        let mut out = [0u8; 64];
        let creds = Credentials::new("Aladdin", b"open sesame");
        assert_eq!(authorization(&ch, &creds, &rfc_request(), &mut out).unwrap(), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        // RFC 7617 section 2.1: test:123 with a UTF-8 pound sign.
        let creds = Credentials::new("test", "123\u{a3}".as_bytes());
        assert_eq!(basic_authorization(&creds, &mut out).unwrap(), "Basic dGVzdDoxMjPCow==");
    }

    #[test]
    fn basic_streams_long_credentials_through_small_pieces() {
        let password: Vec<u8> = (0..200u8).map(|i| b'!' + i % 90).collect();
        let mut out = [0u8; 400];
        let value = basic_authorization(&Credentials::new("someone", &password), &mut out).unwrap();
        let mut plain = Vec::from(&b"someone:"[..]);
        plain.extend_from_slice(&password);
        let mut expected = [0u8; 400];
        let expected = Base64::encode(&plain, &mut expected).unwrap();
        assert_eq!(value.strip_prefix("Basic "), Some(expected));
        for len in 0..value.len() {
            let mut small = std::vec![0xaau8; len];
            let e = basic_authorization(&Credentials::new("someone", &password), &mut small).unwrap_err();
            assert_eq!(e, AuthError::BufferTooSmall { needed: value.len() });
            assert!(small.iter().all(|&b| b == 0), "wiped");
        }
    }

    #[test]
    fn several_schemes_prefer_digest_sha256_then_md5_then_basic() {
        let sha = "Digest realm=\"r\", nonce=\"n\", algorithm=SHA-256, qop=auth";
        let md5 = "Digest realm=\"r\", nonce=\"n\", qop=auth";
        let basic = "Basic realm=\"r\"";
        let pick = |v: &str| match Challenge::parse(v).unwrap() {
            Challenge::Basic(_) => "basic",
            Challenge::Digest(d) if d.algorithm == DigestAlgorithm::Sha256 => "sha256",
            Challenge::Digest(_) => "md5",
        };
        // Without the `http-digest` feature Digest is never picked: Basic is, when offered.
        let (sha256, md5_) = if cfg!(feature = "http-digest") { ("sha256", "md5") } else { ("basic", "basic") };
        assert_eq!(pick(&std::format!("{basic}, {md5}, {sha}")), sha256);
        assert_eq!(pick(&std::format!("{basic}, {md5}")), md5_);
        assert_eq!(pick(&std::format!("{md5}, {basic}")), md5_);
        assert_eq!(pick(&std::format!("Bearer realm=\"x\", {basic}")), "basic");
        assert_eq!(pick(&std::format!("Negotiate, NTLM, Bearer abc123==, {basic}")), "basic");
        assert_eq!(pick(&std::format!("Digest realm=r, nonce=n, qop=auth-int, {basic}")), "basic");
        #[cfg(feature = "http-digest")]
        assert_eq!(pick(&std::format!("{sha}, Digest realm=r, nonce=n, algorithm=MD5-sess, qop=auth")), "sha256");
    }

    /// Without the `http-digest` feature a Digest challenge (of any algorithm, well-formed or
    /// not) is refused with its own error, never answered; Basic beside it still is.
    #[cfg(not(feature = "http-digest"))]
    #[test]
    fn without_http_digest_digest_challenges_are_refused() {
        for value in
            [RFC_CHALLENGES, "Digest realm=r, nonce=n, algorithm=SHA-256, qop=auth", "Digest realm=r, nonce=n", "Bearer, Digest realm=r"]
        {
            assert_eq!(Challenge::parse(value), Err(AuthError::DigestDisabled), "{value:?}");
        }
        assert!(!DigestAlgorithm::Md5.is_available() && !DigestAlgorithm::Sha256.is_available());
        let both = std::format!("{RFC_CHALLENGES}, Basic realm=\"r\"");
        let ch = Challenge::parse(&both).unwrap();
        assert!(matches!(ch, Challenge::Basic(_)), "{ch:?}");
        // `authorization` refuses a Digest challenge however it came about.
        let digest = Challenge::Digest(DigestChallenge {
            realm: ParamValue { raw: "r", quoted: true },
            nonce: ParamValue { raw: "n", quoted: true },
            opaque: None,
            algorithm: DigestAlgorithm::Sha256,
            qop: Qop::Auth,
            stale: false,
        });
        let mut out = [0x55u8; 512];
        assert_eq!(authorization(&digest, &mufasa(), &rfc_request(), &mut out), Err(AuthError::DigestDisabled));
        assert!(out.iter().all(|&b| b == 0x55), "nothing written");
    }

    #[cfg(feature = "http-digest")]
    #[test]
    fn parameters_are_case_insensitive_quoted_or_tokens_with_escapes_and_stray_commas() {
        let ch = digest(
            ", DIGEST  REALM = \"a \\\"quoted\\\" realm\" ,, Nonce=abc/+=,ALGORITHM=\"sha-256\" , QOP=\"auth-int , AUTH\", \
             stale=TRUE, userhash=true, charset=UTF-8, domain=\"/est /other\", opaque=tok , ",
        );
        assert_eq!(ch.algorithm, DigestAlgorithm::Sha256);
        assert_eq!(ch.realm.raw(), "a \\\"quoted\\\" realm");
        assert_eq!(ch.realm.as_str(), None);
        assert_eq!(ch.realm.bytes().collect::<Vec<u8>>(), b"a \"quoted\" realm");
        assert!(ch.realm.eq_ignore_ascii_case("A \"QUOTED\" REALM"));
        assert_eq!(ch.nonce.as_str(), Some("abc/+="));
        assert!(!ch.nonce.is_quoted());
        assert_eq!(ch.opaque.map(|o| o.raw()), Some("tok"));
        assert_eq!(ch.qop, Qop::Auth);
        assert!(ch.stale);
        // The realm is hashed unescaped and sent back escaped; token values go back quoted.
        let req = DigestRequest { method: Method::Post, uri: "/.well-known/est/simpleenroll", cnonce: "00ff", nc: 0x1a };
        let value = answer(&ch, &Credentials::new("dev", b"pw"), &req);
        assert!(value.starts_with("Digest username=\"dev\", realm=\"a \\\"quoted\\\" realm\", uri=\"/.well-known/est/simpleenroll\""));
        assert!(value.contains("nonce=\"abc/+=\", nc=0000001a, cnonce=\"00ff\""));
        assert!(value.ends_with("opaque=\"tok\""));
        // The same response computed from the unescaped strings in one piece each.
        let h = |s: &str| {
            let mut o = [0u8; 64];
            let n = hash_hex::<sha2::Sha256>(|h| h.update(s.as_bytes()), &mut o);
            String::from_utf8(o[..n].to_vec()).unwrap()
        };
        let ha1 = h("dev:a \"quoted\" realm:pw");
        let ha2 = h("POST:/.well-known/est/simpleenroll");
        let expected = h(&std::format!("{ha1}:abc/+=:0000001a:00ff:auth:{ha2}"));
        assert!(value.contains(&std::format!("response=\"{expected}\"")), "{value}");
    }

    #[test]
    fn unusable_challenges_give_typed_errors() {
        // What is wrong with a Digest challenge is told with the `http-digest` feature only;
        // without it every syntactically valid Digest challenge is refused alike.
        let d = |e| if cfg!(feature = "http-digest") { e } else { AuthError::DigestDisabled };
        let cases: &[(&str, AuthError)] = &[
            ("", AuthError::Malformed { what: "no challenge" }),
            (" , ,", AuthError::Malformed { what: "no challenge" }),
            ("Bearer realm=\"x\"", AuthError::UnsupportedScheme),
            ("Negotiate", AuthError::UnsupportedScheme),
            ("Negotiate YIIBhwYGKwYBBQUCoIIBezCCAXeg==", AuthError::UnsupportedScheme),
            ("Digest realm=r, nonce=n, qop=\"auth-int\"", d(AuthError::UnsupportedQop)),
            ("Digest realm=r, nonce=n, algorithm=MD5-sess, qop=auth", d(AuthError::SessionAlgorithm)),
            ("Digest realm=r, nonce=n, algorithm=SHA-256-sess, qop=auth", d(AuthError::SessionAlgorithm)),
            ("Digest realm=r, nonce=n, algorithm=SHA-512-256", d(AuthError::UnsupportedAlgorithm)),
            ("Digest realm=r, nonce=n, algorithm=rot13", d(AuthError::UnsupportedAlgorithm)),
            ("Bearer, Digest realm=r, nonce=n, algorithm=rot13", d(AuthError::UnsupportedAlgorithm)),
            ("Digest nonce=n", d(AuthError::Malformed { what: "Digest challenge without realm" })),
            ("Digest realm=r", d(AuthError::Malformed { what: "Digest challenge without nonce" })),
            ("Digest realm=r, nonce=n, nonce=m", d(AuthError::Malformed { what: "repeated Digest parameter" })),
            ("Digest abcdef==", d(AuthError::Malformed { what: "Digest challenge without parameters" })),
            ("Digest realm=\"r, nonce=n", AuthError::Malformed { what: "unterminated quoted-string" }),
            ("Digest realm=\"r\rx\", nonce=n", AuthError::Malformed { what: "control character in quoted-string" }),
            ("Digest realm=\"r\\", AuthError::Malformed { what: "escape in quoted-string" }),
            ("Digest realm=\"r\" nonce=n", AuthError::Malformed { what: "missing comma between auth-params" }),
            ("Digest realm=r, nonce=, qop=auth", AuthError::Malformed { what: "empty auth-param value" }),
            ("Digest realm=, nonce=n", AuthError::Malformed { what: "auth-scheme" }), // token68 `realm=`, then `nonce=n`
            ("\"Digest\"", AuthError::Malformed { what: "auth-scheme" }),
            ("Digest=realm", AuthError::Malformed { what: "auth-scheme" }),
        ];
        for (value, err) in cases {
            assert_eq!(Challenge::parse(value), Err(*err), "{value:?}");
        }
    }

    #[test]
    fn a_truncated_value_still_gives_the_challenges_completed_before_the_cut() {
        let full = "Basic realm=\"est\", Digest realm=\"est\", nonce=\"0123456789abcdef\", algorithm=SHA-256, qop=\"auth\"";
        let picked = Challenge::parse(full);
        assert!(matches!(picked, Ok(Challenge::Digest(_))) == cfg!(feature = "http-digest"), "{picked:?}");
        assert!(picked.is_ok());
        let cut = &full[..full.len() - 3];
        assert!(matches!(Challenge::parse(cut), Ok(Challenge::Basic(_))));
        assert!(Challenge::parse(&full[..15]).is_err(), "inside the first challenge's quoted realm");
    }

    #[test]
    fn values_that_would_break_a_basic_header_are_refused() {
        let mut out = [0u8; 512];
        assert_eq!(basic_authorization(&Credentials::new("a:b", b"pw"), &mut out), Err(AuthError::InvalidValue { what: "username" }));
        assert_eq!(basic_authorization(&Credentials::new("a\n", b"pw"), &mut out), Err(AuthError::InvalidValue { what: "username" }));
        assert_eq!(basic_authorization(&Credentials::new("a", b"p\r\nw"), &mut out), Err(AuthError::InvalidValue { what: "password" }));
    }

    #[cfg(feature = "http-digest")]
    #[test]
    fn values_that_would_break_a_digest_header_are_refused() {
        let ch = digest("Digest realm=r, nonce=n, algorithm=SHA-256, qop=auth");
        let mut out = [0u8; 512];
        let req = rfc_request();
        for user in ["a\"b", "a\\b", "a\r\nX-Injected: 1", "tab\there", "nul\0"] {
            assert_eq!(
                digest_authorization(&ch, &Credentials::new(user, b"pw"), &req, &mut out),
                Err(AuthError::InvalidValue { what: "username" })
            );
        }
        for uri in ["", "/a b", "/a\"b", "/a\r\n", "/\u{e9}"] {
            let req = DigestRequest { uri, ..req };
            assert_eq!(digest_authorization(&ch, &mufasa(), &req, &mut out), Err(AuthError::InvalidValue { what: "uri" }));
        }
        for cnonce in ["", "a\"", "a b", "a\n"] {
            let req = DigestRequest { cnonce, ..req };
            assert_eq!(digest_authorization(&ch, &mufasa(), &req, &mut out), Err(AuthError::InvalidValue { what: "cnonce" }));
        }
        // A password may hold anything for Digest: it only goes into the hash.
        assert!(digest_authorization(&ch, &Credentials::new("a", b"\"\r\n\0"), &req, &mut out).is_ok());
        // Non-ASCII user names go as UTF-8 inside the quoted-string.
        assert!(digest_authorization(&ch, &Credentials::new("J\u{e4}s\u{f8}n", b"pw"), &req, &mut out).is_ok());
    }

    #[cfg(feature = "http-digest")]
    #[test]
    fn digest_buffer_too_small_reports_the_size_and_wipes() {
        let ch = digest(RFC_CHALLENGES);
        let full = answer(&ch, &mufasa(), &rfc_request());
        for len in [0, 1, 40, full.len() - 1] {
            let mut out = std::vec![0x55u8; len];
            assert_eq!(
                digest_authorization(&ch, &mufasa(), &rfc_request(), &mut out),
                Err(AuthError::BufferTooSmall { needed: full.len() })
            );
            assert!(out.iter().all(|&b| b == 0));
        }
        let mut exact = std::vec![0u8; full.len()];
        assert_eq!(digest_authorization(&ch, &mufasa(), &rfc_request(), &mut exact).unwrap(), full);
    }

    #[test]
    fn cnonce_helper_hex_encodes_into_a_small_buffer() {
        let mut buf = [0u8; 32];
        assert_eq!(cnonce_hex(&[0x00, 0x1f, 0xa0, 0xff], &mut buf).unwrap(), "001fa0ff");
        assert_eq!(cnonce_hex(&[7; 16], &mut buf).unwrap().len(), 32);
        assert_eq!(cnonce_hex(&[7; 17], &mut buf), Err(AuthError::BufferTooSmall { needed: 34 }));
        assert_eq!(cnonce_hex(&[], &mut buf), Err(AuthError::InvalidValue { what: "cnonce" }));
    }

    #[test]
    fn credentials_debug_hides_the_password() {
        let s = std::format!("{:?}", Credentials::new("user", b"hunter2"));
        assert!(s.contains("user") && !s.contains("hunter2"), "{s}");
    }

    /// No input makes the parser or the writers panic: random strings over the characters the
    /// grammar cares about, and every prefix and one-byte change of real challenges.
    #[test]
    fn no_input_panics() {
        const ALPHABET: &[&str] = &[
            "Digest",
            "Basic",
            "realm",
            "nonce",
            "qop",
            "auth",
            "algorithm",
            "SHA-256",
            "MD5",
            "opaque",
            "stale",
            "=",
            "\"",
            "\\",
            ",",
            " ",
            "\t",
            "a",
            "/",
            "+",
            "==",
            "\r",
            "\n",
            "\u{e9}",
            "\u{0}",
            "-sess",
            "auth-int",
            "true",
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let exercise = |value: &str| {
            if let Ok(ch) = Challenge::parse(value) {
                for len in [0, 16, 200, 512] {
                    let mut out = std::vec![0u8; len];
                    let _ = authorization(&ch, &mufasa(), &rfc_request(), &mut out);
                }
            }
        };
        for _ in 0..20_000 {
            let mut s = String::new();
            for _ in 0..next() % 24 {
                s.push_str(ALPHABET[(next() % ALPHABET.len() as u64) as usize]);
            }
            exercise(&s);
        }
        let seeds = [RFC_CHALLENGES, "Basic realm=\"a\\\"b\", Digest realm=\"x\", nonce=\"y\\\\\", qop=\"auth\""];
        for seed in seeds {
            for end in 0..=seed.len() {
                if let Some(prefix) = seed.get(..end) {
                    exercise(prefix);
                }
            }
            let bytes = seed.as_bytes();
            for i in 0..bytes.len() {
                for b in [b'"', b'\\', b',', b'=', b' ', b'\n', b'x'] {
                    let mut changed = bytes.to_vec();
                    changed[i] = b;
                    if let Ok(s) = core::str::from_utf8(&changed) {
                        exercise(s);
                    }
                }
            }
        }
    }
}
