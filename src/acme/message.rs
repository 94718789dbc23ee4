//! The ACME objects the client reads (RFC 8555 section 7.1) and the problem documents
//! (RFC 7807, RFC 8555 section 6.7), read with [`super::json`] (no allocator, zero-copy):
//! strings borrow from the response body, unknown members are ignored, lists have fixed
//! bounds ([`MAX_AUTHORIZATIONS`], [`MAX_CHALLENGES`]) and nesting is bounded
//! ([`MAX_DEPTH`]) while reading, so that no reply can exhaust the stack.

use super::json::Object;
pub use super::json::{JsonError, MAX_DEPTH, plain};
use crate::time::UnixTime;

/// The most authorizations an order may list (one per identifier).
pub const MAX_AUTHORIZATIONS: usize = 8;
/// The most challenges an authorization may offer.
pub const MAX_CHALLENGES: usize = 6;

/// An ACME object read from a reply's JSON.
pub trait FromJson<'a>: Sized {
    /// Reads the object from `o` (a missing or mistyped member: [`JsonError::Malformed`]).
    fn from_object(o: Object<'a>) -> Result<Self, JsonError>;
}

/// Parses `body` as `T`: the whole body is checked as JSON (nesting at most [`MAX_DEPTH`])
/// before `T` reads its members.
pub fn parse<'a, T: FromJson<'a>>(body: &'a [u8]) -> Result<T, JsonError> {
    T::from_object(Object::parse(body)?)
}

/// The directory (RFC 8555 section 7.1.1).
#[derive(Debug)]
pub struct Directory<'a> {
    /// newNonce URL.
    pub new_nonce: &'a str,
    /// newAccount URL.
    pub new_account: &'a str,
    /// newOrder URL.
    pub new_order: &'a str,
    /// revokeCert URL.
    pub revoke_cert: Option<&'a str>,
    /// keyChange URL.
    pub key_change: Option<&'a str>,
    /// renewalInfo URL (RFC 9773), when the server offers ARI.
    pub renewal_info: Option<&'a str>,
    /// `meta.externalAccountRequired`: whether newAccount needs External Account Binding.
    pub external_account_required: Option<bool>,
}

impl<'a> FromJson<'a> for Directory<'a> {
    fn from_object(o: Object<'a>) -> Result<Self, JsonError> {
        let meta = o.opt_object("meta")?;
        Ok(Self {
            new_nonce: o.str("newNonce")?,
            new_account: o.str("newAccount")?,
            new_order: o.str("newOrder")?,
            revoke_cert: o.opt_str("revokeCert")?,
            key_change: o.opt_str("keyChange")?,
            renewal_info: o.opt_str("renewalInfo")?,
            external_account_required: match meta {
                Some(m) => m.opt("externalAccountRequired", super::json::Value::as_bool)?,
                None => None,
            },
        })
    }
}

/// An account object (RFC 8555 section 7.1.2): its status.
#[derive(Debug)]
pub struct Account<'a> {
    /// "valid", "deactivated" or "revoked".
    pub status: &'a str,
}

impl<'a> FromJson<'a> for Account<'a> {
    fn from_object(o: Object<'a>) -> Result<Self, JsonError> {
        Ok(Self { status: o.str("status")? })
    }
}

/// An order object (RFC 8555 section 7.1.3).
#[derive(Debug)]
pub struct Order<'a> {
    /// "pending", "ready", "processing", "valid" or "invalid".
    pub status: &'a str,
    /// The authorization URLs.
    pub authorizations: heapless::Vec<&'a str, MAX_AUTHORIZATIONS>,
    /// The finalize URL.
    pub finalize: &'a str,
    /// The certificate URL, once valid.
    pub certificate: Option<&'a str>,
    /// Why the order became invalid.
    pub error: Option<ProblemDocument<'a>>,
}

impl<'a> FromJson<'a> for Order<'a> {
    fn from_object(o: Object<'a>) -> Result<Self, JsonError> {
        Ok(Self {
            status: o.str("status")?,
            authorizations: o.list("authorizations", |v| v.as_str().ok_or(JsonError::Malformed))?,
            finalize: o.str("finalize")?,
            certificate: o.opt_str("certificate")?,
            error: problem_member(o)?,
        })
    }
}

/// The `error` member (a problem document) of an order or a challenge.
fn problem_member<'a>(o: Object<'a>) -> Result<Option<ProblemDocument<'a>>, JsonError> {
    o.opt_object("error")?.map(ProblemDocument::from_object).transpose()
}

/// An identifier (RFC 8555 section 9.7.7; IP: RFC 8738).
#[derive(Debug, Clone, Copy)]
pub struct IdentifierObject<'a> {
    /// "dns" or "ip".
    pub kind: &'a str,
    /// The name or address.
    pub value: &'a str,
}

/// An authorization object (RFC 8555 section 7.1.4).
#[derive(Debug)]
pub struct Authorization<'a> {
    /// "pending", "valid", "invalid", "deactivated", "expired" or "revoked".
    pub status: &'a str,
    /// What it authorizes.
    pub identifier: IdentifierObject<'a>,
    /// The challenges offered.
    pub challenges: heapless::Vec<Challenge<'a>, MAX_CHALLENGES>,
}

impl<'a> FromJson<'a> for Authorization<'a> {
    fn from_object(o: Object<'a>) -> Result<Self, JsonError> {
        let id = o.opt_object("identifier")?.ok_or(JsonError::Malformed)?;
        Ok(Self {
            status: o.str("status")?,
            identifier: IdentifierObject { kind: id.str("type")?, value: id.str("value")? },
            challenges: o.list("challenges", |v| Challenge::from_object(v.as_object().ok_or(JsonError::Malformed)?))?,
        })
    }
}

/// A challenge object (RFC 8555 section 8).
#[derive(Debug)]
pub struct Challenge<'a> {
    /// "http-01", "dns-01", "tls-alpn-01", ...
    pub kind: &'a str,
    /// Where to answer it.
    pub url: &'a str,
    /// "pending", "processing", "valid" or "invalid".
    pub status: &'a str,
    /// The token (the kinds this client answers all have one).
    pub token: Option<&'a str>,
    /// Why it failed.
    pub error: Option<ProblemDocument<'a>>,
}

impl<'a> FromJson<'a> for Challenge<'a> {
    fn from_object(o: Object<'a>) -> Result<Self, JsonError> {
        Ok(Self {
            kind: o.str("type")?,
            url: o.str("url")?,
            status: o.str("status")?,
            token: o.opt_str("token")?,
            error: problem_member(o)?,
        })
    }
}

/// A renewalInfo reply (RFC 9773 section 4.2): its `suggestedWindow`.
#[derive(Debug)]
pub struct RenewalInfo<'a> {
    /// When the server suggests renewing.
    pub suggested_window: Window<'a>,
}

impl<'a> FromJson<'a> for RenewalInfo<'a> {
    fn from_object(o: Object<'a>) -> Result<Self, JsonError> {
        let w = o.opt_object("suggestedWindow")?.ok_or(JsonError::Malformed)?;
        Ok(Self { suggested_window: Window { start: w.str("start")?, end: w.str("end")? } })
    }
}

/// A suggested renewal window (RFC 3339 times).
#[derive(Debug)]
pub struct Window<'a> {
    /// Its start.
    pub start: &'a str,
    /// Its end.
    pub end: &'a str,
}

/// An RFC 3339 date-time (`2025-01-02T04:00:00Z`, fractional seconds ignored, `Z` or a
/// numeric offset) as Unix time; `None` when it is not one.
pub fn parse_rfc3339(s: &str) -> Option<UnixTime> {
    let b = s.as_bytes();
    let num = |r: core::ops::Range<usize>| -> Option<u32> {
        let d = b.get(r)?;
        d.iter().try_fold(0u32, |acc, c| c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0')))
    };
    if b.len() < 20
        || b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T' | b't'))
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
    {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = s.get(19..)?;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = frac.get(digits..)?;
    }
    let offset: i64 = match rest.as_bytes() {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let d = |c: &u8| c.is_ascii_digit().then(|| i64::from(c - b'0'));
            let secs = (d(h1)? * 10 + d(h2)?) * 3600 + (d(m1)? * 10 + d(m2)?) * 60;
            if *sign == b'+' { secs } else { -secs }
        }
        _ => return None,
    };
    let secs_of_day = hour * 3600 + minute * 60 + second;
    let t = crate::http::date::to_unix(i64::from(year), month, day, secs_of_day)?;
    Some(UnixTime::from_secs(t.as_secs().checked_sub(offset)?))
}

/// A problem document (RFC 7807) as sent.
#[derive(Debug)]
pub struct ProblemDocument<'a> {
    /// The problem type URI.
    pub kind: Option<&'a str>,
    /// The server's explanation, JSON escapes kept (see [`Problem`]).
    pub detail: Option<&'a str>,
    /// The HTTP status.
    pub status: Option<u16>,
}

impl<'a> FromJson<'a> for ProblemDocument<'a> {
    fn from_object(o: Object<'a>) -> Result<Self, JsonError> {
        Ok(Self { kind: o.opt_str("type")?, detail: o.opt_str("detail")?, status: o.opt("status", super::json::Value::as_u16)? })
    }
}

/// The ACME error types (RFC 8555 section 6.7, `urn:ietf:params:acme:error:`).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ProblemKind {
    /// accountDoesNotExist
    AccountDoesNotExist,
    /// alreadyRevoked
    AlreadyRevoked,
    /// badCSR
    BadCsr,
    /// badNonce
    BadNonce,
    /// badPublicKey
    BadPublicKey,
    /// badRevocationReason
    BadRevocationReason,
    /// badSignatureAlgorithm
    BadSignatureAlgorithm,
    /// caa
    Caa,
    /// compound
    Compound,
    /// connection
    Connection,
    /// dns
    Dns,
    /// externalAccountRequired
    ExternalAccountRequired,
    /// incorrectResponse
    IncorrectResponse,
    /// invalidContact
    InvalidContact,
    /// malformed
    Malformed,
    /// orderNotReady
    OrderNotReady,
    /// rateLimited
    RateLimited,
    /// rejectedIdentifier
    RejectedIdentifier,
    /// serverInternal
    ServerInternal,
    /// tls
    Tls,
    /// unauthorized
    Unauthorized,
    /// unsupportedContact
    UnsupportedContact,
    /// unsupportedIdentifier
    UnsupportedIdentifier,
    /// userActionRequired
    UserActionRequired,
    /// Another type URI, or none.
    Other,
}

impl ProblemKind {
    /// The kind of a problem type URI.
    pub fn from_type(uri: &str) -> Self {
        let Some(name) = uri.strip_prefix("urn:ietf:params:acme:error:") else { return Self::Other };
        match name {
            "accountDoesNotExist" => Self::AccountDoesNotExist,
            "alreadyRevoked" => Self::AlreadyRevoked,
            "badCSR" => Self::BadCsr,
            "badNonce" => Self::BadNonce,
            "badPublicKey" => Self::BadPublicKey,
            "badRevocationReason" => Self::BadRevocationReason,
            "badSignatureAlgorithm" => Self::BadSignatureAlgorithm,
            "caa" => Self::Caa,
            "compound" => Self::Compound,
            "connection" => Self::Connection,
            "dns" => Self::Dns,
            "externalAccountRequired" => Self::ExternalAccountRequired,
            "incorrectResponse" => Self::IncorrectResponse,
            "invalidContact" => Self::InvalidContact,
            "malformed" => Self::Malformed,
            "orderNotReady" => Self::OrderNotReady,
            "rateLimited" => Self::RateLimited,
            "rejectedIdentifier" => Self::RejectedIdentifier,
            "serverInternal" => Self::ServerInternal,
            "tls" => Self::Tls,
            "unauthorized" => Self::Unauthorized,
            "unsupportedContact" => Self::UnsupportedContact,
            "unsupportedIdentifier" => Self::UnsupportedIdentifier,
            "userActionRequired" => Self::UserActionRequired,
            _ => Self::Other,
        }
    }
}

/// The longest problem detail kept (longer ones are cut at a character boundary).
pub const MAX_DETAIL: usize = 160;

/// A problem the server reported, as the client's outcome carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Problem {
    /// Its type.
    pub kind: ProblemKind,
    /// The HTTP status of the reply (or the document's own, for one inside an object).
    pub status: u16,
    /// The server's detail text, unescaped (at most [`MAX_DETAIL`] bytes).
    pub detail: heapless::String<MAX_DETAIL>,
}

impl Problem {
    /// The problem in a document (`status`: the reply's, when the document has none).
    pub fn from_document(doc: &ProblemDocument<'_>, status: u16) -> Self {
        let mut detail = heapless::String::new();
        for c in super::json::unescape(doc.detail.unwrap_or("")) {
            if detail.push(if c.is_control() { ' ' } else { c }).is_err() {
                break;
            }
        }
        Self { kind: doc.kind.map_or(ProblemKind::Other, ProblemKind::from_type), status: doc.status.unwrap_or(status), detail }
    }
}

impl core::fmt::Display for Problem {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "the ACME server reported {:?} (HTTP {})", self.kind, self.status)?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_bounded() {
        let mut deep = std::vec::Vec::new();
        deep.extend_from_slice(br#"{"status":"valid","x":"#);
        deep.extend(core::iter::repeat_n(b'[', 10_000));
        assert_eq!(parse::<Account<'_>>(&deep).unwrap_err(), JsonError::TooDeep);
        // Brackets inside strings do not count.
        assert!(parse::<Account<'_>>(br#"{"status":"valid","a":"[[[[[[[[[[[[[[[[[[[[\"[[[["}"#).is_ok());
    }

    #[test]
    fn unknown_members_are_ignored_and_lists_are_bounded() {
        let order = br#"{"status":"pending","expires":"2026-01-01T00:00:00Z","identifiers":[{"type":"dns","value":"a.example"}],
            "authorizations":["https://x/authz/1"],"finalize":"https://x/finalize/1","extra":{"nested":[1,2,{"k":null}]}}"#;
        let o: Order<'_> = parse(order).unwrap();
        assert_eq!((o.status, o.authorizations.len(), o.finalize), ("pending", 1, "https://x/finalize/1"));
        let many = br#"{"status":"pending","authorizations":["1","2","3","4","5","6","7","8","9"],"finalize":"f"}"#;
        assert_eq!(parse::<Order<'_>>(many).unwrap_err(), JsonError::Malformed);
    }

    #[test]
    fn rfc_3339_times() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(UnixTime::from_secs(0)));
        assert_eq!(parse_rfc3339("2025-01-02T04:00:00.123456789Z"), Some(UnixTime::from_secs(1_735_790_400)));
        assert_eq!(parse_rfc3339("2025-01-02T05:30:00+01:30"), Some(UnixTime::from_secs(1_735_790_400)));
        for bad in [
            "2025-01-02",
            "2025-13-02T00:00:00Z",
            "2025-01-02T24:00:00Z",
            "2025-01-02T00:00:00",
            "2025-01-02T00:00:00.Z",
            "２025-01-02T00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_problem_keeps_its_type_status_and_unescaped_detail() {
        let body = br#"{"type":"urn:ietf:params:acme:error:rateLimited","detail":"too many \"orders\"\n, retry","status":429}"#;
        let doc: ProblemDocument<'_> = parse(body).unwrap();
        let p = Problem::from_document(&doc, 400);
        assert_eq!((p.kind, p.status, p.detail.as_str()), (ProblemKind::RateLimited, 429, "too many \"orders\" , retry"));
        assert_eq!(ProblemKind::from_type("urn:ietf:params:acme:error:badNonce"), ProblemKind::BadNonce);
        assert_eq!(ProblemKind::from_type("about:blank"), ProblemKind::Other);
    }
}
