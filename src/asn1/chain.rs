//! Certificate path checking against one trust anchor: the single-anchor entry point of
//! [`super::path`], for callers that have the intermediates as parsed certificates and want
//! any kind of target (CA or end entity). All rules are those of [`super::path::validate`].

use super::cert::CertificateRef;
use super::path::{Options, Usage, ValidationTime, validate};
use crate::error::ChainError;
use crate::time::UnixTime;

/// Checks that `leaf` chains to `anchor` through some of `intermediates` (in any order), as
/// [`validate`] with [`Usage::Any`] at `now`, or, without a time, against
/// [`UnixTime::CRATE_FLOOR`]. Returns the number of certificates on the path including leaf
/// and anchor (1 when `leaf` is the anchor).
pub fn verify_chain(
    leaf: &CertificateRef<'_>,
    intermediates: &[CertificateRef<'_>],
    anchor: &CertificateRef<'_>,
    now: Option<UnixTime>,
) -> Result<usize, ChainError> {
    let opts = Options::new(Usage::Any, ValidationTime::new(now, UnixTime::CRATE_FLOOR));
    validate(leaf, intermediates, core::slice::from_ref(anchor), &opts).map(|p| usize::from(p.len))
}
