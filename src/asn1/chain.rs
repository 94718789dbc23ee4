//! Certificate path checking against one trust anchor (a simplified RFC 5280 section 6).
//!
//! The anchor is trusted as configured, like `openssl verify -CAfile` without `-x509_strict`:
//! its own extensions are not required (libest's demo CA has a non-critical
//! basicConstraints and no keyUsage). For every other certificate on the path:
//! - its issuer is found by name (byte-equal DER) **and** by signature;
//! - each issuer below the anchor must be a CA (basicConstraints cA, and keyCertSign when
//!   keyUsage is present), and its pathLenConstraint is enforced;
//! - no certificate may carry an unknown critical extension;
//! - with a time, each certificate (anchor included) must be within its validity period.
//!   Without one (a device with no trusted clock), validity is not checked here; the caller
//!   reports that and checks again when time is known.

#![deny(clippy::arithmetic_side_effects)]

use super::cert::{CertificateRef, KeyUsage};
use crate::CryptoError;
use crate::error::ChainError;
use crate::time::UnixTime;

/// Checks that `leaf` chains to `anchor` through some of `intermediates` (in any order).
/// Returns the number of certificates on the path including leaf and anchor.
pub fn verify_chain(
    leaf: &CertificateRef<'_>,
    intermediates: &[CertificateRef<'_>],
    anchor: &CertificateRef<'_>,
    now: Option<UnixTime>,
) -> Result<usize, ChainError> {
    let mut current = *leaf;
    let mut used = [false; 16];
    let max_steps = intermediates.len().min(used.len());
    for step in 0..=max_steps {
        let depth = u8::try_from(step).unwrap_or(u8::MAX);
        check_one(&current, depth, now)?;
        if current.as_der() == anchor.as_der() {
            return Ok(step.saturating_add(1));
        }
        if current.issuer().as_der() == anchor.subject().as_der() {
            match current.verify_signed_by(&anchor.spki()) {
                Ok(()) => {
                    check_one(anchor, depth.saturating_add(1), now).or_else(|e| match e {
                        // The anchor is trusted as configured: only its validity period counts.
                        ChainError::UnknownCriticalExtension { .. } => Ok(()),
                        e => Err(e),
                    })?;
                    return Ok(step.saturating_add(2));
                }
                Err(CryptoError::UnsupportedAlgorithm) => return Err(ChainError::UnsupportedSignature { depth }),
                Err(_) => {}
            }
        }
        let next = intermediates.iter().enumerate().take(used.len()).find(|(i, c)| {
            !used.get(*i).copied().unwrap_or(true)
                && current.issuer().as_der() == c.subject().as_der()
                && current.verify_signed_by(&c.spki()).is_ok()
        });
        let Some((i, issuer)) = next else { return Err(ChainError::IssuerNotFound { depth }) };
        if let Some(u) = used.get_mut(i) {
            *u = true;
        }
        let issuer_depth = depth.saturating_add(1);
        let constraints = issuer.basic_constraints();
        let is_ca = matches!(constraints, Ok(Some(bc)) if bc.ca);
        let can_sign = match issuer.key_usage() {
            Ok(Some(ku)) => ku.contains(KeyUsage::KEY_CERT_SIGN),
            Ok(None) => true,
            Err(_) => false,
        };
        if !is_ca || !can_sign {
            return Err(ChainError::NotACa { depth: issuer_depth });
        }
        // pathLenConstraint: at most that many CA certificates may follow this one on the
        // way to the leaf (RFC 5280 section 4.2.1.9); `step` of them already do.
        if let Ok(Some(bc)) = constraints
            && bc.path_len.is_some_and(|max| (step as u32) > max)
        {
            return Err(ChainError::PathLenExceeded { depth: issuer_depth });
        }
        current = *issuer;
    }
    Err(ChainError::TooLong)
}

fn check_one(cert: &CertificateRef<'_>, depth: u8, now: Option<UnixTime>) -> Result<(), ChainError> {
    if cert.unknown_critical_extension().is_some() {
        return Err(ChainError::UnknownCriticalExtension { depth });
    }
    if let Some(now) = now {
        if now < cert.not_before() {
            return Err(ChainError::NotYetValid { depth });
        }
        if now > cert.not_after() {
            return Err(ChainError::Expired { depth });
        }
    }
    Ok(())
}
