//! CA rollover checks that need more than one certificate.
//!
//! EST root key update (RFC 7030 section 4.1.3): when the CA changes its root key, /cacerts
//! carries, besides the current root, "NewWithOld" (the new root's public key and name, signed
//! by the old root key), "OldWithNew" (the reverse) and the new self-signed root ("NewWithNew").
//! A client that trusts the old root accepts the new one only through NewWithOld: its issuer is
//! the old root's subject, its signature verifies with the old root's key, and it carries the
//! same subject and key as the self-signed new root, whose own signature must verify too.
//! Both must be CA certificates (basicConstraints cA, and keyCertSign when keyUsage is
//! present): an end-entity certificate the old root issued never vouches for a root.

use crate::asn1::cert::{CertificateRef, KeyUsage};
use crate::asn1::path::{Options, Usage, ValidationTime, validate};
use crate::time::UnixTime;

/// Whether `cert` is a CA certificate: basicConstraints with cA set, and keyCertSign among
/// its key usages when it has a keyUsage extension.
fn is_ca(cert: &CertificateRef<'_>) -> bool {
    let ca = matches!(cert.basic_constraints(), Ok(Some(bc)) if bc.ca);
    let usage = match cert.key_usage() {
        Ok(None) => true,
        Ok(Some(ku)) => ku.contains(KeyUsage::KEY_CERT_SIGN),
        Err(_) => false,
    };
    ca && usage
}

/// Finds the new root in `certificates` (DER each) that the current root `current` (DER)
/// vouches for through a NewWithOld certificate; returns the new self-signed root's DER.
pub fn find_root_key_update<'c>(current: &[u8], certificates: &[&'c [u8]]) -> Option<&'c [u8]> {
    let old = CertificateRef::parse(current).ok()?;
    let old_key = old.spki();
    for candidate in certificates {
        let Ok(nwo) = CertificateRef::parse(candidate) else { continue };
        // NewWithOld: issued by the old root (name and key), for a different key.
        if nwo.issuer().as_der() != old.subject().as_der() || nwo.spki().as_der() == old_key.as_der() || !is_ca(&nwo) {
            continue;
        }
        // A path from NewWithOld to the old root (the crate's one path validation).
        let opts = Options::new(Usage::Any, ValidationTime::Floor(UnixTime::CRATE_FLOOR));
        if validate(&nwo, &[][..] as &[CertificateRef<'_>], [old].as_slice(), &opts).is_err() {
            continue;
        }
        // The new self-signed root with the same name and key.
        for root in certificates {
            let Ok(new) = CertificateRef::parse(root) else { continue };
            let self_issued = new.issuer().as_der() == new.subject().as_der();
            if self_issued
                && is_ca(&new)
                && new.subject().as_der() == nwo.subject().as_der()
                && new.spki().as_der() == nwo.spki().as_der()
                && new.verify_signed_by(&new.spki()).is_ok()
            {
                return Some(root);
            }
        }
    }
    None
}
