//! Certificate path validation: RFC 5280 section 6 at the level of rustls-webpki, in one
//! place for every chain check in the crate (the TLS server verifier, EST `/cacerts`, SCEP
//! CA/RA certificates, issued certificates, CA rollover).
//!
//! [`validate`] builds a path from a target certificate through caller-supplied intermediates
//! (in any order) to one of the trust anchors, trying alternative issuers when a candidate
//! fails (depth-first, bounded by a signature budget as webpki does), and accepts the first
//! path on which every rule holds:
//!
//! - **Signatures**: each certificate is signed by the next (issuer name byte-equal to the
//!   subject, and the signature verified); SHA-1 signatures only when the caller allows them
//!   ([`Options::allow_sha1`], never for TLS).
//! - **Issuers** (intermediates and anchors): version 3, basicConstraints with cA, keyCertSign
//!   when keyUsage is present, non-empty subject, pathLenConstraint (self-issued
//!   intermediates do not count, RFC 5280 section 4.2.1.9), extendedKeyUsage, when present,
//!   allowing the usage asked for.
//! - **Name constraints** (RFC 5280 section 4.2.1.10) of anchors and intermediates over every
//!   certificate below them (self-issued intermediates excepted): permitted and excluded
//!   dNSName (with wildcard presented names), iPAddress (IPv4 and IPv6) and directoryName
//!   subtrees; a name of a type the crate cannot evaluate (otherName, URI, ...) under a
//!   constraint of that type is refused, as is a malformed or empty constraint.
//! - **End entity**: not a CA (basicConstraints cA false or absent, no keyCertSign) unless the
//!   usage is [`Usage::Any`]; for TLS usages, extendedKeyUsage, when present, must name
//!   serverAuth (clientAuth) and keyUsage, when present, digitalSignature; no
//!   nameConstraints.
//! - **Every certificate**: no unknown critical extension; well-formed subjectAltName (and
//!   critical exactly when the subject is empty; a dNSName that is not a DNS name only
//!   counts against it where names are checked), extendedKeyUsage and authorityInfoAccess;
//!   a non-empty issuer; version 3 (an issued certificate, [`Usage::EndEntity`], may be v1);
//!   a serial number that is positive and at most 20 octets (anchors
//!   excepted: they are trusted as configured); validity at the given time, or, without
//!   trusted time, not expired before the caller's floor ([`ValidationTime::Floor`], and
//!   the result says so: [`Validity::FloorOnly`]).
//!
//! Host names are checked apart, by [`names_host`] (RFC 9525: subjectAltName only).
//!
//! Limits: at most [`Options::max_intermediates`] intermediates that are not self-issued
//! (default 10) and [`MAX_INTERMEDIATES`] in all on a path, at most
//! [`Options::signature_budget`] signature verifications per call (default 100), at most
//! [`MAX_CANDIDATES`] intermediates considered. No revocation (CRL, OCSP) and no certificate
//! policies. The walk is iterative: its stack use does not grow with the path.

#![deny(clippy::arithmetic_side_effects)]

use super::cert::{CertificateRef, KeyUsage};
use super::name::NameRef;
use super::oid;
use super::tlv::{Cursor, Tlv, tag};
use crate::crypto::HashAlgorithm;
use crate::error::ChainError;
use crate::time::UnixTime;
use der::asn1::ObjectIdentifier;

/// The most intermediates a path may have (the hard limit behind
/// [`Options::max_intermediates`]).
pub const MAX_INTERMEDIATES: usize = 14;
/// The most intermediate certificates considered as candidates (the rest are ignored).
pub const MAX_CANDIDATES: usize = 64;
/// Default of [`Options::max_intermediates`].
pub const DEFAULT_MAX_INTERMEDIATES: u8 = 10;
/// Default of [`Options::signature_budget`] (as rustls-webpki).
pub const DEFAULT_SIGNATURE_BUDGET: u16 = 100;

/// When the certificates must be valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ValidationTime {
    /// Trusted time: every certificate must be valid at this instant.
    At(UnixTime),
    /// No trusted time: certificates that expired before this floor (the firmware's build
    /// date, at least) are refused; nothing else about validity can be known.
    Floor(UnixTime),
}

impl ValidationTime {
    /// `At(now)` when the time is known, else `Floor(floor)`.
    pub const fn new(now: Option<UnixTime>, floor: UnixTime) -> Self {
        match now {
            Some(t) => Self::At(t),
            None => Self::Floor(floor),
        }
    }
}

/// What the target certificate is to be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Usage {
    /// A TLS server: extendedKeyUsage (when present) must name serverAuth, keyUsage (when
    /// present) digitalSignature; not a CA.
    TlsServer,
    /// A TLS client: the same with clientAuth.
    TlsClient,
    /// An end-entity certificate for any purpose (an issued device certificate, a SCEP RA):
    /// not a CA; extended key usages are the issuer's business.
    EndEntity,
    /// Any certificate, CA or not (a CA certificate from `/cacerts` or GetCACert).
    Any,
}

impl Usage {
    fn purpose(self) -> Option<ObjectIdentifier> {
        match self {
            Self::TlsServer => Some(oid::KP_SERVER_AUTH),
            Self::TlsClient => Some(oid::KP_CLIENT_AUTH),
            Self::EndEntity | Self::Any => None,
        }
    }
}

/// How a path is validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Options {
    /// What the target certificate is for.
    pub usage: Usage,
    /// When the certificates must be valid.
    pub time: ValidationTime,
    /// The most intermediates on a path, self-issued ones (CA key rollover) not counted;
    /// [`MAX_INTERMEDIATES`] in all whatever this says.
    pub max_intermediates: u8,
    /// The most signature verifications one call may spend on path building.
    pub signature_budget: u16,
    /// Whether SHA-1 signatures on certificates are acceptable (legacy SCEP CAs; never for
    /// TLS). Verifying them also needs the `legacy-crypto` feature.
    pub allow_sha1: bool,
}

impl Options {
    /// Defaults for `usage` at `time`: up to 10 intermediates, 100 signatures, no SHA-1.
    pub const fn new(usage: Usage, time: ValidationTime) -> Self {
        Self { usage, time, max_intermediates: DEFAULT_MAX_INTERMEDIATES, signature_budget: DEFAULT_SIGNATURE_BUDGET, allow_sha1: false }
    }
}

/// How validity periods were checked on an accepted path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Validity {
    /// Against trusted time.
    Checked,
    /// Only against the caller's floor: no certificate expired before it, but one may have
    /// expired since, or not be valid yet. Check again when time is known.
    FloorOnly,
}

/// An accepted path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ValidPath {
    /// Certificates on the path, target and anchor included (1 when the target is itself an
    /// anchor).
    pub len: u8,
    /// Index of the anchor in the anchors given.
    pub anchor: usize,
    /// Index of each intermediate (target side first) in the intermediates given; only the
    /// first `len - 2` entries are meaningful.
    pub intermediates: [u8; MAX_INTERMEDIATES],
    /// How validity was checked.
    pub validity: Validity,
}

/// A set of certificates addressed by index: a slice of parsed certificates, a slice of DER
/// encodings, or the certificates of a CMS message ([`Iterated`]). Entries that do not
/// parse are skipped.
pub trait CertificateSet<'a> {
    /// How many entries.
    fn count(&self) -> usize;
    /// Entry `i`, when it exists and parses.
    fn get(&self, i: usize) -> Option<CertificateRef<'a>>;
}

impl<'a> CertificateSet<'a> for [CertificateRef<'a>] {
    fn count(&self) -> usize {
        self.len()
    }
    fn get(&self, i: usize) -> Option<CertificateRef<'a>> {
        <[CertificateRef<'a>]>::get(self, i).copied()
    }
}

impl<'a> CertificateSet<'a> for [&'a [u8]] {
    fn count(&self) -> usize {
        self.len()
    }
    fn get(&self, i: usize) -> Option<CertificateRef<'a>> {
        <[&'a [u8]]>::get(self, i).and_then(|der| CertificateRef::parse(der).ok())
    }
}

/// The certificates an iterator yields (made anew for each lookup), e.g.
/// `Iterated(|| signed_data.certificates())`.
#[derive(Debug, Clone, Copy)]
pub struct Iterated<F>(pub F);

impl<'a, F, I> CertificateSet<'a> for Iterated<F>
where
    F: Fn() -> I,
    I: Iterator<Item = CertificateRef<'a>>,
{
    fn count(&self) -> usize {
        (self.0)().count()
    }
    fn get(&self, i: usize) -> Option<CertificateRef<'a>> {
        (self.0)().nth(i)
    }
}

/// Validates `target` up to one of `anchors` through some of `intermediates` (module docs).
///
/// A target that is byte-for-byte one of the anchors is accepted as it is (a pinned
/// certificate), after the end-entity, extension and validity rules.
pub fn validate<'a, I, A>(target: &CertificateRef<'a>, intermediates: &I, anchors: &A, opts: &Options) -> Result<ValidPath, ChainError>
where
    I: CertificateSet<'a> + ?Sized,
    A: CertificateSet<'a> + ?Sized,
{
    // One copy of the search for every kind of set: the sets are reached through `dyn`.
    validate_dyn(target, &ByRef(intermediates), &ByRef(anchors), opts)
}

/// A borrowed set, sized so that it can be handed on as `&dyn CertificateSet`.
struct ByRef<'r, S: ?Sized>(&'r S);

impl<'a, S: CertificateSet<'a> + ?Sized> CertificateSet<'a> for ByRef<'_, S> {
    fn count(&self) -> usize {
        self.0.count()
    }
    fn get(&self, i: usize) -> Option<CertificateRef<'a>> {
        self.0.get(i)
    }
}

/// [`validate`] over sets reached through `dyn` (not generic: linked once).
#[inline(never)]
fn validate_dyn<'a>(
    target: &CertificateRef<'a>,
    intermediates: &dyn CertificateSet<'a>,
    anchors: &dyn CertificateSet<'a>,
    opts: &Options,
) -> Result<ValidPath, ChainError> {
    let validity = match opts.time {
        ValidationTime::At(_) => Validity::Checked,
        ValidationTime::Floor(_) => Validity::FloorOnly,
    };
    let n_anchors = anchors.count();
    for a in 0..n_anchors {
        if anchors.get(a).is_some_and(|anchor| anchor.as_der() == target.as_der()) {
            // Pinned: trusted as configured, like any anchor.
            check_common(target, 0, opts, true)?;
            check_end_entity(target, opts)?;
            return Ok(ValidPath { len: 1, anchor: a, intermediates: [0; MAX_INTERMEDIATES], validity });
        }
    }
    let n_inter = intermediates.count().min(MAX_CANDIDATES);
    let max_inter = usize::from(opts.max_intermediates);
    let candidates = n_anchors.saturating_add(n_inter);
    let mut budget = opts.signature_budget;
    // path[k]: index of the intermediate at depth k + 1; next[k]: the next candidate to try
    // as the issuer of the certificate at depth k (anchors first, then intermediates).
    let mut path = [0u8; MAX_INTERMEDIATES];
    let mut next = [0usize; MAX_INTERMEDIATES + 1];
    let mut depth = 0usize;
    let mut best: Option<ChainError> = None;
    let mut deepest = 0u8;
    loop {
        let current = match depth.checked_sub(1) {
            None => *target,
            Some(k) => match path.get(k).and_then(|&i| intermediates.get(usize::from(i))) {
                Some(c) => c,
                None => return Err(best.unwrap_or(ChainError::IssuerNotFound { depth: 0 })),
            },
        };
        let Some(slot) = next.get_mut(depth) else { break };
        let c = *slot;
        if c >= candidates {
            // Every candidate tried: back up one level.
            match depth.checked_sub(1) {
                Some(d) => {
                    depth = d;
                    continue;
                }
                None => break,
            }
        }
        *slot = c.saturating_add(1);
        let d8 = u8::try_from(depth).unwrap_or(u8::MAX);
        deepest = deepest.max(d8);
        if c < n_anchors {
            let Some(anchor) = anchors.get(c) else { continue };
            if current.issuer().as_der() != anchor.subject().as_der() {
                continue;
            }
            match signed_by(&current, &anchor, d8, opts, &mut budget) {
                Ok(()) => {}
                Err(e @ (ChainError::BudgetExhausted | ChainError::UnsupportedSignature { .. })) => {
                    if matches!(e, ChainError::BudgetExhausted) {
                        return Err(e);
                    }
                    best = best.or(Some(e));
                    continue;
                }
                Err(_) => continue,
            }
            let inter = path.get(..depth).unwrap_or(&[]);
            match check_path(target, inter, intermediates, &anchor, opts) {
                Ok(()) => {
                    let len = u8::try_from(depth.saturating_add(2)).unwrap_or(u8::MAX);
                    return Ok(ValidPath { len, anchor: c, intermediates: path, validity });
                }
                Err(e) => best = Some(prefer(best, e)),
            }
            continue;
        }
        let i = c.saturating_sub(n_anchors);
        let Ok(i8) = u8::try_from(i) else { continue };
        if path.get(..depth).unwrap_or(&[]).contains(&i8) {
            continue;
        }
        let Some(issuer) = intermediates.get(i) else { continue };
        if current.issuer().as_der() != issuer.subject().as_der() || issuer.as_der() == target.as_der() {
            continue;
        }
        // The caller's limit counts intermediates that are not self-issued (as pathLen
        // does); the hard limit counts them all.
        let counted = path
            .get(..depth)
            .unwrap_or(&[])
            .iter()
            .filter_map(|&k| intermediates.get(usize::from(k)))
            .chain(core::iter::once(issuer))
            .filter(|c| !is_self_issued(c))
            .count();
        if depth >= MAX_INTERMEDIATES || counted > max_inter {
            best = Some(prefer(best, ChainError::TooLong));
            continue;
        }
        match signed_by(&current, &issuer, d8, opts, &mut budget) {
            Ok(()) => {}
            Err(ChainError::BudgetExhausted) => return Err(ChainError::BudgetExhausted),
            Err(e @ ChainError::UnsupportedSignature { .. }) => {
                best = best.or(Some(e));
                continue;
            }
            Err(_) => continue,
        }
        if let Some(p) = path.get_mut(depth) {
            *p = i8;
        }
        depth = depth.saturating_add(1);
        if let Some(n) = next.get_mut(depth) {
            *n = 0;
        }
    }
    Err(best.unwrap_or(ChainError::IssuerNotFound { depth: deepest }))
}

/// A complete path's failure says more than "no issuer found".
fn prefer(best: Option<ChainError>, e: ChainError) -> ChainError {
    match best {
        Some(b) if !matches!(b, ChainError::TooLong | ChainError::IssuerNotFound { .. }) => b,
        _ => e,
    }
}

fn signed_by(
    cert: &CertificateRef<'_>,
    issuer: &CertificateRef<'_>,
    depth: u8,
    opts: &Options,
    budget: &mut u16,
) -> Result<(), ChainError> {
    use super::algorithm::SignatureAlgorithm;
    let alg =
        SignatureAlgorithm::from_identifier(&cert.signature_algorithm(), None).map_err(|_| ChainError::UnsupportedSignature { depth })?;
    // SHA-1 only when allowed; a hash the build lacks (SHA-384/512 without `sha512`) never.
    if (alg.hash() == HashAlgorithm::Sha1 && !opts.allow_sha1) || !alg.hash().is_available() {
        return Err(ChainError::UnsupportedSignature { depth });
    }
    *budget = budget.checked_sub(1).ok_or(ChainError::BudgetExhausted)?;
    match cert.verify_signed_by(&issuer.spki()) {
        Ok(()) => Ok(()),
        Err(crate::CryptoError::UnsupportedAlgorithm) => Err(ChainError::UnsupportedSignature { depth }),
        Err(_) => Err(ChainError::IssuerNotFound { depth }),
    }
}

/// Every rule that needs the whole path: `inter` holds the intermediates (indices into
/// `set`) from the target's issuer up. A frame of its own (stack): inlined, its locals sat
/// in the search's frame under every signature verification.
#[inline(never)]
fn check_path<'a>(
    target: &CertificateRef<'a>,
    inter: &[u8],
    set: &dyn CertificateSet<'a>,
    anchor: &CertificateRef<'a>,
    opts: &Options,
) -> Result<(), ChainError> {
    let at = |k: usize| -> Option<CertificateRef<'a>> {
        match k {
            0 => Some(*target),
            k if k <= inter.len() => inter.get(k.checked_sub(1)?).and_then(|&i| set.get(usize::from(i))),
            _ => Some(*anchor),
        }
    };
    let last = inter.len().saturating_add(1);
    check_common(target, 0, opts, false)?;
    check_end_entity(target, opts)?;
    for k in 1..=last {
        let ca = at(k).ok_or(ChainError::IssuerNotFound { depth: 0 })?;
        let depth = u8::try_from(k).unwrap_or(u8::MAX);
        check_common(&ca, depth, opts, k == last)?;
        check_issuer(&ca, depth, opts)?;
        // pathLenConstraint: non-self-issued intermediates between this CA and the target.
        if let Ok(Some(bc)) = ca.basic_constraints()
            && let Some(max) = bc.path_len
        {
            let below = (1..k).filter_map(at).filter(|c| !is_self_issued(c)).count();
            if u32::try_from(below).unwrap_or(u32::MAX) > max {
                return Err(ChainError::PathLenExceeded { depth });
            }
        }
        if let Some(nc) = ca.extension(&oid::NAME_CONSTRAINTS) {
            let nc = NameConstraints::parse(nc.value).ok_or(ChainError::InvalidExtension { depth })?;
            for q in 0..k {
                let sub = at(q).ok_or(ChainError::IssuerNotFound { depth: 0 })?;
                if q > 0 && is_self_issued(&sub) {
                    continue;
                }
                if !nc.allows_certificate(&sub) {
                    return Err(ChainError::NameConstraint { depth: u8::try_from(q).unwrap_or(u8::MAX) });
                }
            }
        }
    }
    Ok(())
}

/// Whether the names of `cert` (its subject and subjectAltName) are within the
/// nameConstraints of `ca` (RFC 5280 section 4.2.1.10; `Ok` when `ca` has none). The check
/// [`validate`] applies to every CA on a path; on its own, for a caller that wants to know
/// whether a certificate it is about to request or accept fits a CA's constraints.
pub fn check_name_constraints(ca: &CertificateRef<'_>, cert: &CertificateRef<'_>) -> Result<(), ChainError> {
    let Some(nc) = ca.extension(&oid::NAME_CONSTRAINTS) else { return Ok(()) };
    let nc = NameConstraints::parse(nc.value).ok_or(ChainError::InvalidExtension { depth: 1 })?;
    if nc.allows_certificate(cert) { Ok(()) } else { Err(ChainError::NameConstraint { depth: 0 }) }
}

fn is_self_issued(c: &CertificateRef<'_>) -> bool {
    c.issuer().as_der() == c.subject().as_der()
}

/// Rules for every certificate on a path.
fn check_common(c: &CertificateRef<'_>, depth: u8, opts: &Options, anchor: bool) -> Result<(), ChainError> {
    if c.unknown_critical_extension().is_some() {
        return Err(ChainError::UnknownCriticalExtension { depth });
    }
    match opts.time {
        ValidationTime::At(now) => {
            if now < c.not_before() {
                return Err(ChainError::NotYetValid { depth });
            }
            if now > c.not_after() {
                return Err(ChainError::Expired { depth });
            }
        }
        ValidationTime::Floor(floor) => {
            if floor > c.not_after() {
                return Err(ChainError::Expired { depth });
            }
        }
    }
    let invalid = ChainError::InvalidExtension { depth };
    if !anchor {
        // Version 3, except an issued certificate (Usage::EndEntity): `openssl x509 -req`
        // CAs issue v1, and what the CA issues is the CA's business.
        let v1_allowed = depth == 0 && opts.usage == Usage::EndEntity;
        if (c.version() != 3 && !v1_allowed) || c.issuer().is_empty() {
            return Err(invalid);
        }
        // RFC 5280 section 4.1.2.2: positive, at most 20 octets.
        let serial = c.serial();
        let negative = serial.first().is_some_and(|b| b & 0x80 != 0);
        let magnitude = match serial {
            [0, rest @ ..] => rest,
            s => s,
        };
        if negative || magnitude.iter().all(|b| *b == 0) || serial.len() > 20 {
            return Err(ChainError::BadSerial { depth });
        }
    }
    if let Some(san) = c.extension(&oid::SUBJECT_ALT_NAME) {
        // RFC 5280 section 4.2.1.6: critical exactly when the subject is empty.
        if san.critical != c.subject().is_empty() || !general_names_well_formed(san.value, false) {
            return Err(invalid);
        }
    } else if c.subject().is_empty() && !anchor {
        return Err(invalid);
    }
    if let Some(eku) = c.extension(&oid::EXT_KEY_USAGE) {
        let ok = Tlv::parse_exact(eku.value)
            .ok()
            .filter(|t| t.tag == tag::SEQUENCE && !t.value.is_empty())
            .is_some_and(|t| Cursor::new(t.value).all(|o| o.is_ok_and(|o| o.oid().is_ok())));
        if !ok {
            return Err(invalid);
        }
    }
    if let Some(aia) = c.extension(&oid::AUTHORITY_INFO_ACCESS) {
        let ok = Tlv::parse_exact(aia.value).ok().filter(|t| t.tag == tag::SEQUENCE && !t.value.is_empty()).is_some_and(|t| {
            Cursor::new(t.value).all(|ad| {
                ad.ok().and_then(|ad| ad.with_tag(tag::SEQUENCE).ok()).is_some_and(|ad| {
                    let mut f = ad.children();
                    f.expect_next(tag::OID).is_ok_and(|o| o.oid().is_ok())
                        && f.next_any().is_ok_and(|n| general_name(n).is_some())
                        && f.finish().is_ok()
                })
            })
        });
        if !ok {
            return Err(invalid);
        }
    }
    // RFC 5280 sections 4.2.1.1 and 4.2.1.2: key identifiers are never critical.
    let critical = |o| c.extension(&o).is_some_and(|e| e.critical);
    if critical(oid::AUTHORITY_KEY_IDENTIFIER) || critical(oid::SUBJECT_KEY_IDENTIFIER) {
        return Err(invalid);
    }
    if c.basic_constraints().is_err() || c.key_usage().is_err() {
        return Err(invalid);
    }
    Ok(())
}

/// Rules for the target as an end entity.
fn check_end_entity(c: &CertificateRef<'_>, opts: &Options) -> Result<(), ChainError> {
    if opts.usage == Usage::Any {
        return Ok(());
    }
    let is_ca = matches!(c.basic_constraints(), Ok(Some(bc)) if bc.ca);
    let ku = c.key_usage().ok().flatten();
    if is_ca || ku.is_some_and(|k| k.contains(KeyUsage::KEY_CERT_SIGN)) {
        return Err(ChainError::CaAsEndEntity);
    }
    if c.extension(&oid::NAME_CONSTRAINTS).is_some() {
        return Err(ChainError::InvalidExtension { depth: 0 });
    }
    if let Some(purpose) = opts.usage.purpose() {
        if let Some(ku) = ku
            && !ku.contains(KeyUsage::DIGITAL_SIGNATURE)
        {
            return Err(ChainError::UsageNotAllowed { depth: 0 });
        }
        if c.extension(&oid::EXT_KEY_USAGE).is_some() && !c.ext_key_usage().any(|o| o == purpose) {
            return Err(ChainError::UsageNotAllowed { depth: 0 });
        }
    }
    Ok(())
}

/// Rules for an issuer (intermediate or anchor).
fn check_issuer(c: &CertificateRef<'_>, depth: u8, opts: &Options) -> Result<(), ChainError> {
    let is_ca = matches!(c.basic_constraints(), Ok(Some(bc)) if bc.ca);
    let can_sign = match c.key_usage() {
        Ok(Some(ku)) => ku.contains(KeyUsage::KEY_CERT_SIGN),
        Ok(None) => true,
        Err(_) => false,
    };
    if !is_ca || !can_sign || c.subject().is_empty() {
        return Err(ChainError::NotACa { depth });
    }
    if let Some(purpose) = opts.usage.purpose()
        && c.extension(&oid::EXT_KEY_USAGE).is_some()
        && !c.ext_key_usage().any(|o| o == purpose)
    {
        return Err(ChainError::UsageNotAllowed { depth });
    }
    Ok(())
}

/// A GeneralName of any form (RFC 5280 section 4.2.1.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Name<'a> {
    Dns(&'a [u8]),
    Ip(&'a [u8]),
    Directory(NameRef<'a>),
    /// rfc822Name, URI, otherName, x400Address, ediPartyName, registeredID: kept by tag.
    Other(u8),
}

impl Name<'_> {
    fn kind(&self) -> u8 {
        match self {
            Name::Dns(_) => 0x82,
            Name::Ip(_) => 0x87,
            Name::Directory(_) => 0xa4,
            Name::Other(t) => *t,
        }
    }
}

fn general_name(t: Tlv<'_>) -> Option<Name<'_>> {
    Some(match t.tag {
        0x82 => Name::Dns(t.value),
        0x87 => Name::Ip(t.value),
        0xa4 => Name::Directory(NameRef::parse(t.value).ok()?),
        0x81 | 0x86 | 0x88 | 0xa0 | 0xa3 | 0xa5 => Name::Other(t.tag),
        _ => return None,
    })
}

/// A subjectAltName value: a non-empty sequence of well-formed names (`iPAddress` 4 or 16
/// bytes). The syntax of a `dNSName` matters only where it is used (host names, name
/// constraints): CA certificates in the field carry their common name there, spaces and all.
fn general_names_well_formed(value: &[u8], allow_empty: bool) -> bool {
    let Ok(seq) = Tlv::parse_exact(value) else { return false };
    if seq.tag != tag::SEQUENCE || (seq.value.is_empty() && !allow_empty) {
        return false;
    }
    Cursor::new(seq.value).all(|n| match n.ok().and_then(general_name) {
        Some(Name::Dns(d)) => d.is_ascii(),
        Some(Name::Ip(a)) => matches!(a.len(), 4 | 16),
        Some(_) => true,
        None => false,
    })
}

fn san_names<'a>(c: &CertificateRef<'a>) -> impl Iterator<Item = Name<'a>> + 'a {
    let list = c.extension(&oid::SUBJECT_ALT_NAME).and_then(|e| Tlv::parse_exact(e.value).ok()).map(|t| t.value).unwrap_or(&[]);
    Cursor::new(list).filter_map(|t| t.ok().and_then(general_name))
}

/// A parsed nameConstraints extension.
struct NameConstraints<'a> {
    permitted: &'a [u8],
    excluded: &'a [u8],
}

impl<'a> NameConstraints<'a> {
    fn parse(value: &'a [u8]) -> Option<Self> {
        let mut c = Tlv::parse_exact(value).ok()?.with_tag(tag::SEQUENCE).ok()?.children();
        let permitted = c.optional(tag::context(0)).ok()?.map(|t| t.value);
        let excluded = c.optional(tag::context(1)).ok()?.map(|t| t.value);
        c.finish().ok()?;
        // RFC 5280: at least one of them, each non-empty; every base a valid constraint.
        if permitted.is_none() && excluded.is_none() || permitted == Some(&[]) || excluded == Some(&[]) {
            return None;
        }
        let nc = Self { permitted: permitted.unwrap_or(&[]), excluded: excluded.unwrap_or(&[]) };
        nc.subtrees(nc.permitted).chain(nc.subtrees(nc.excluded)).all(|b| b.is_some_and(valid_base)).then_some(nc)
    }

    /// The base of each GeneralSubtree (`None` for a malformed one or one with a minimum or
    /// maximum, which RFC 5280 forbids).
    fn subtrees(&self, list: &'a [u8]) -> impl Iterator<Item = Option<Name<'a>>> + 'a {
        Cursor::new(list).map(|s| {
            let mut c = s.ok()?.with_tag(tag::SEQUENCE).ok()?.children();
            let base = general_name(c.next_any().ok()?)?;
            c.finish().ok()?;
            Some(base)
        })
    }

    fn allows_certificate(&self, c: &CertificateRef<'_>) -> bool {
        let subject = (!c.subject().is_empty()).then_some(Name::Directory(c.subject()));
        subject.into_iter().chain(san_names(c)).all(|n| self.allows(&n))
    }

    fn allows(&self, name: &Name<'_>) -> bool {
        let bases = |list| self.subtrees(list).flatten().filter(|b| b.kind() == name.kind());
        let invalid_dns = matches!(name, Name::Dns(d) if dns_name(d, true).is_none());
        if invalid_dns || matches!(name, Name::Other(_)) {
            // Not evaluated (a form the crate does not check, or a dNSName that is not a DNS
            // name): refused under any constraint of its type.
            return bases(self.permitted).chain(bases(self.excluded)).next().is_none();
        }
        if bases(self.excluded).any(|b| matches(name, &b, true)) {
            return false;
        }
        let mut permitted = bases(self.permitted).peekable();
        permitted.peek().is_none() || permitted.any(|b| matches(name, &b, false))
    }
}

fn valid_base(b: Name<'_>) -> bool {
    match b {
        Name::Dns(d) => d.is_empty() || dns_name(d, false).is_some(),
        Name::Ip(a) => match a.len() {
            8 | 32 => {
                let (_, mask) = a.split_at(a.len() / 2);
                // Contiguous mask: ones then zeros.
                let bits = mask.iter().fold((true, true), |(ok, ones), m| {
                    let lead = m.leading_ones();
                    let contiguous = m.checked_shl(lead).unwrap_or(0) == 0;
                    (ok && contiguous && (ones || *m == 0), ones && *m == 0xff)
                });
                bits.0
            }
            _ => false,
        },
        Name::Directory(_) | Name::Other(_) => true,
    }
}

/// Whether `name` is inside the subtree `base` (same kind). For an excluded subtree a
/// wildcard name matches when any name it stands for would.
fn matches(name: &Name<'_>, base: &Name<'_>, excluded: bool) -> bool {
    match (name, base) {
        (Name::Dns(n), Name::Dns(b)) => match n.strip_prefix(b"*.") {
            Some(rest) => {
                within(rest, b)
                    || (excluded && b.len() > rest.len() && ends_with_label(b, rest) && {
                        let head = b.get(..b.len().saturating_sub(rest.len()).saturating_sub(1)).unwrap_or(&[]);
                        !head.contains(&b'.')
                    })
            }
            None => within(n, b),
        },
        (Name::Ip(n), Name::Ip(b)) => {
            if b.len() != n.len().saturating_mul(2) {
                return false;
            }
            let (addr, mask) = b.split_at(n.len());
            n.iter().zip(addr).zip(mask).all(|((x, a), m)| x & m == a & m)
        }
        (Name::Directory(n), Name::Directory(b)) => {
            let mut rdns = n.rdns();
            b.rdns().all(|r| rdns.next() == Some(r))
        }
        _ => false,
    }
}

/// `name` equals `base` or ends with `.base` (ASCII case-insensitive); an empty base holds
/// every name.
fn within(name: &[u8], base: &[u8]) -> bool {
    base.is_empty() || name.eq_ignore_ascii_case(base) || (name.len() > base.len() && ends_with_label(name, base))
}

fn ends_with_label(name: &[u8], suffix: &[u8]) -> bool {
    let Some(split) = name.len().checked_sub(suffix.len()) else { return false };
    let (head, tail) = name.split_at(split);
    tail.eq_ignore_ascii_case(suffix) && head.last() == Some(&b'.')
}

/// `s` as a DNS name (letters, digits and hyphens, labels of 1 to 63, at most 253 bytes, no
/// trailing dot; `*` allowed as the whole left-most label when `wildcard`): its text.
fn dns_name(s: &[u8], wildcard: bool) -> Option<&str> {
    if s.is_empty() || s.len() > 253 {
        return None;
    }
    // Byte-wise: every accepted byte is ASCII, so the text is checked as UTF-8 last.
    for (i, label) in s.split(|b| *b == b'.').enumerate() {
        if i == 0 && wildcard && label == b"*" {
            continue;
        }
        let ok = !label.is_empty()
            && label.len() <= 63
            && label.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')
            && label.first() != Some(&b'-')
            && label.last() != Some(&b'-');
        if !ok {
            return None;
        }
    }
    core::str::from_utf8(s).ok()
}

/// A host the client connects to: a DNS name or an IP address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostName<'a> {
    /// A DNS name (validated; a single trailing dot removed).
    Dns(&'a str),
    /// An IPv4 address.
    V4([u8; 4]),
    /// An IPv6 address.
    V6([u8; 16]),
}

impl<'a> HostName<'a> {
    /// Parses `host`: an IPv4 dotted quad, an IPv6 address (RFC 4291 text form, brackets
    /// allowed), or a DNS name. `None` for anything else.
    pub fn parse(host: &'a str) -> Option<Self> {
        if let Some(v4) = parse_ipv4(host) {
            return Some(Self::V4(v4));
        }
        let inner = host.strip_prefix("[").and_then(|h| h.strip_suffix("]")).unwrap_or(host);
        if let Some(v6) = parse_ipv6(inner.as_bytes()) {
            return Some(Self::V6(v6));
        }
        let name = host.strip_suffix(".").unwrap_or(host);
        // An all-numeric last label would be an IP address written wrong, not a name.
        if name.as_bytes().rsplit(|b| *b == b'.').next().is_some_and(|l| l.iter().all(u8::is_ascii_digit)) {
            return None;
        }
        dns_name(name.as_bytes(), false).map(Self::Dns)
    }
}

/// Whether `cert` names `host` (RFC 9525): IP addresses against iPAddress entries only, DNS
/// names against dNSName entries only (ASCII case-insensitive, `*` only as the whole
/// left-most label of a name with at least two more labels, standing for exactly one
/// label). The subject's common name is never used.
pub fn names_host(cert: &CertificateRef<'_>, host: &HostName<'_>) -> bool {
    san_names(cert).any(|n| match (n, host) {
        (Name::Ip(a), HostName::V4(h)) => a == h.as_slice(),
        (Name::Ip(a), HostName::V6(h)) => a == h.as_slice(),
        (Name::Dns(pattern), HostName::Dns(h)) => dns_name(pattern, true).is_some() && host_matches(pattern, h.as_bytes()),
        _ => false,
    })
}

fn host_matches(pattern: &[u8], host: &[u8]) -> bool {
    match pattern.strip_prefix(b"*.") {
        Some(rest) => {
            // At least two labels after the wildcard: `*.com` stands for no one.
            rest.contains(&b'.')
                && host.iter().position(|b| *b == b'.').is_some_and(|dot| {
                    let (first, tail) = host.split_at(dot);
                    !first.is_empty() && tail.get(1..).is_some_and(|t| t.eq_ignore_ascii_case(rest))
                })
        }
        None => pattern.eq_ignore_ascii_case(host),
    }
}

// The address parsers work on bytes (no string searching or integer parsing from `core`
// linked for them): every byte they accept is ASCII.

/// The value of the ASCII digits `digits` in `radix` (10 or 16), at most four of them.
fn digits_value(digits: &[u8], radix: u32) -> Option<u16> {
    if digits.len() > 4 {
        return None;
    }
    // At most four digits of at most 16: below 2^16.
    digits.iter().try_fold(0u16, |v, &d| {
        let d = u16::try_from(char::from(d).to_digit(radix)?).ok()?;
        v.checked_mul(u16::try_from(radix).ok()?)?.checked_add(d)
    })
}

/// Where `s` first has two colons in a row.
fn find_double_colon(s: &[u8]) -> Option<usize> {
    s.windows(2).position(|w| w == b"::")
}

fn parse_ipv4(s: &str) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    let mut parts = s.as_bytes().split(|b| *b == b'.');
    for b in out.iter_mut() {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 3 || !p.iter().all(u8::is_ascii_digit) || (p.len() > 1 && p.first() == Some(&b'0')) {
            return None;
        }
        *b = u8::try_from(digits_value(p, 10)?).ok()?;
    }
    parts.next().is_none().then_some(out)
}

fn parse_ipv6(s: &[u8]) -> Option<[u8; 16]> {
    let mut out = [0u16; 8];
    let (head, tail) = match find_double_colon(s) {
        Some(i) => (s.get(..i)?, Some(s.get(i.checked_add(2)?..)?)),
        None => (s, None),
    };
    let groups = |part: &[u8], dst: &mut [u16]| -> Option<usize> {
        if part.is_empty() {
            return Some(0);
        }
        let mut n = 0usize;
        for g in part.split(|b| *b == b':') {
            if g.is_empty() || g.len() > 4 || !g.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            *dst.get_mut(n)? = digits_value(g, 16)?;
            n = n.checked_add(1)?;
        }
        Some(n)
    };
    let mut tmp = [0u16; 8];
    let h = groups(head, &mut out)?;
    match tail {
        None => (h == 8).then_some(())?,
        Some(t) => {
            if find_double_colon(t).is_some() {
                return None;
            }
            let n = groups(t, &mut tmp)?;
            let total = h.checked_add(n)?;
            if total > 7 {
                return None;
            }
            let start = 8usize.checked_sub(n)?;
            out.get_mut(start..)?.copy_from_slice(tmp.get(..n)?);
        }
    }
    let mut bytes = [0u8; 16];
    for (pair, g) in bytes.chunks_exact_mut(2).zip(out) {
        pair.copy_from_slice(&g.to_be_bytes());
    }
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names() {
        assert_eq!(HostName::parse("127.0.0.1"), Some(HostName::V4([127, 0, 0, 1])));
        assert_eq!(HostName::parse("::1"), Some(HostName::V6([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])));
        assert_eq!(HostName::parse("[::1]"), HostName::parse("::1"));
        let v6 = HostName::parse("2001:db8::1:0:0:1").unwrap();
        assert_eq!(v6, HostName::V6([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1]));
        assert_eq!(HostName::parse("2001:db8:0:0:1:0:0:1"), Some(v6));
        assert_eq!(HostName::parse("1:2:3:4:5:6:7:8:9"), None);
        assert_eq!(HostName::parse("1::2::3"), None);
        assert_eq!(HostName::parse("example.com."), Some(HostName::Dns("example.com")));
        assert_eq!(HostName::parse("foo_bar.example.com"), None);
        assert_eq!(HostName::parse("256.0.0.1"), None);
        assert_eq!(HostName::parse("127.0.0"), None);
        assert_eq!(HostName::parse("01.2.3.4"), None);
    }

    #[test]
    fn wildcards() {
        assert!(host_matches(b"*.example.com", b"est.EXAMPLE.com"));
        assert!(!host_matches(b"*.example.com", b"a.b.example.com"));
        assert!(!host_matches(b"*.example.com", b"example.com"));
        assert!(!host_matches(b"*.com", b"example.com"));
        assert!(dns_name(b"f*o.example.com", true).is_none());
        assert!(dns_name(b"foo.*.example.com", true).is_none());
        assert!(dns_name(b"example.com.", true).is_none());
    }

    #[test]
    fn dns_subtrees() {
        let n = |s: &'static str| Name::Dns(s.as_bytes());
        assert!(matches(&n("foo.example.com"), &n("example.com"), false));
        assert!(!matches(&n("fooexample.com"), &n("example.com"), false));
        assert!(matches(&n("*.example.com"), &n("example.com"), false));
        assert!(matches(&n("*.example.com"), &n("bar.example.com"), true));
        assert!(!matches(&n("*.example.com"), &n("bar.example.com"), false));
        assert!(!matches(&n("*.example.com"), &n("a.bar.example.com"), true));
    }

    #[test]
    fn ip_subtrees() {
        let ip = |b: &'static [u8]| Name::Ip(b);
        assert!(matches(&ip(&[192, 0, 2, 1]), &ip(&[192, 0, 2, 0, 255, 255, 255, 0]), false));
        assert!(!matches(&ip(&[192, 0, 3, 1]), &ip(&[192, 0, 2, 0, 255, 255, 255, 0]), false));
        assert!(valid_base(ip(&[192, 0, 2, 0, 255, 255, 255, 0])));
        assert!(!valid_base(ip(&[192, 0, 2, 0, 255, 0, 255, 0])));
        assert!(!valid_base(ip(&[192, 0, 2, 0])));
    }
}
