//! tls-alpn-01 (RFC 8737): the validation certificate the caller's TLS server presents, on
//! the identifier's port 443, to a client that offers the ALPN protocol [`ALPN`] with the
//! identifier as SNI. It is self-signed by any key the caller holds (the device key will
//! do): its subjectAltName is the identifier, and its critical acmeIdentifier extension
//! carries the SHA-256 of the challenge's key authorization. Built in two steps so the key
//! stays where it is: [`validation_tbs`] gives the bytes to sign, [`assemble`] the
//! certificate from the signature.

use super::client::{ChallengeTask, Identifier};
use crate::asn1::csr::{self, Extension, NameAttribute, SelfSignedCertificate, SubjectAltName};
use crate::crypto::{HashAlgorithm, KeyType};
use crate::error::EncodeError;
use crate::time::UnixTime;
use der::asn1::ObjectIdentifier;

/// The ALPN protocol name of the validation handshake.
pub const ALPN: &[u8] = b"acme-tls/1";

/// id-pe-acmeIdentifier (RFC 8737 section 6.1): 1.3.6.1.5.5.7.1.31.
pub const ACME_IDENTIFIER: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.31");

/// What the validation certificate is for.
#[derive(Debug, Clone, Copy)]
pub struct Validation<'a> {
    /// The identifier: a DNS name, or an IP address (RFC 8738: its SAN is the address, the
    /// SNI its reverse-DNS name).
    pub identifier: Identifier<'a>,
    /// SHA-256 of the key authorization ([`ChallengeTask::key_authorization_digest`]).
    pub digest: [u8; 32],
    /// A positive serial number (8 or more random bytes are usual).
    pub serial: &'a [u8],
    /// Validity: a short window around now is enough (the validation takes seconds).
    pub not_before: UnixTime,
    /// End of validity.
    pub not_after: UnixTime,
}

impl<'a> Validation<'a> {
    /// The validation certificate for a tls-alpn-01 `task` on a DNS identifier.
    pub fn for_task(task: &ChallengeTask<'a>, serial: &'a [u8], not_before: UnixTime, not_after: UnixTime) -> Self {
        let identifier = if task.identifier.parse::<core::net::IpAddr>().is_ok() {
            Identifier::Ip(task.identifier)
        } else {
            Identifier::Dns(task.identifier)
        };
        Self { identifier, digest: task.key_authorization_digest(), serial, not_before, not_after }
    }
}

/// The TBSCertificate of the validation certificate for the key with SubjectPublicKeyInfo
/// `spki` (of type `key`), to be signed with SHA-256.
pub fn validation_tbs<'o>(v: &Validation<'_>, spki: &[u8], key: KeyType, out: &'o mut [u8]) -> Result<&'o [u8], EncodeError> {
    // The extension's value: Authorization ::= OCTET STRING (SIZE (32)).
    let mut value = [0u8; 34];
    value[0] = 0x04;
    value[1] = 32;
    if let Some(d) = value.get_mut(2..) {
        d.copy_from_slice(&v.digest);
    }
    let ext = [Extension { oid: ACME_IDENTIFIER, critical: true, value: &value }];
    let mut ip = [0u8; 16];
    let (san, cn) = match v.identifier {
        Identifier::Dns(name) => (SubjectAltName::Dns(name), name),
        Identifier::Ip(text) => {
            let len = match text.parse::<core::net::IpAddr>().map_err(|_| EncodeError::InvalidValue { what: "IP identifier" })? {
                core::net::IpAddr::V4(a) => {
                    ip[..4].copy_from_slice(&a.octets());
                    4
                }
                core::net::IpAddr::V6(a) => {
                    ip.copy_from_slice(&a.octets());
                    16
                }
            };
            (SubjectAltName::Ip(ip.get(..len).unwrap_or(&[])), text)
        }
    };
    // The subject names the identifier too when it fits a commonName (64 characters).
    let subject = [NameAttribute::common_name(cn)];
    let subject: &[NameAttribute<'_>] = if cn.len() <= 64 { &subject } else { &[] };
    let cert = SelfSignedCertificate { subject, serial: v.serial, not_before: v.not_before, not_after: v.not_after };
    cert.encode_tbs_with(spki, key, HashAlgorithm::Sha256, &[san], &ext, out)
}

/// The validation certificate (DER) from its TBS and the signature over its SHA-256 (raw
/// `r || s` for P-256).
pub fn assemble<'o>(tbs: &[u8], key: KeyType, signature: &[u8], out: &'o mut [u8]) -> Result<&'o [u8], EncodeError> {
    csr::assemble(tbs, key, HashAlgorithm::Sha256, signature, out)
}

#[cfg(all(test, feature = "soft-keys"))]
mod tests {
    use super::*;
    use crate::acme::client::ChallengeKind;
    use crate::asn1::cert::CertificateRef;
    use crate::hal::Signer;
    use crate::hal::soft::SoftP256Key;

    #[test]
    fn the_validation_certificate_carries_the_identifier_and_the_critical_digest() {
        let task = ChallengeTask { kind: ChallengeKind::TlsAlpn01, identifier: "device.example", token: "t", key_authorization: "t.thumb" };
        let v = Validation::for_task(&task, &[0x42; 8], UnixTime::from_secs(1_800_000_000), UnixTime::from_secs(1_800_086_400));
        let mut key = SoftP256Key::from_bytes(&[9u8; 32]).unwrap();
        let mut spki = [0u8; 91];
        let n = key.public_key_der(&mut spki).unwrap();
        let mut tbs_buf = [0u8; 512];
        let tbs = validation_tbs(&v, &spki[..n], KeyType::EcP256, &mut tbs_buf).unwrap();
        let mut sig = [0u8; 64];
        key.sign_prehash(&crate::crypto::Digest::sha256(tbs), &mut sig).unwrap();
        let mut out = [0u8; 600];
        let der = assemble(tbs, KeyType::EcP256, &sig, &mut out).unwrap();
        let cert = CertificateRef::parse(der).unwrap();
        let ext = cert.extension(&ACME_IDENTIFIER).expect("acmeIdentifier");
        assert!(ext.critical);
        assert_eq!(ext.value[..2], [0x04, 32]);
        assert_eq!(ext.value[2..], task.key_authorization_digest());
        assert!(cert.subject_alt_names().any(|n| matches!(n, crate::asn1::cert::GeneralName::Dns("device.example"))));
        cert.verify_signed_by(&cert.spki()).expect("self-signed");
    }
}
