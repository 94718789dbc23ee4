//! GetCACert / GetNextCACert replies: roles and trust, on the captured micromdm certificates
//! and an RA chain, with certs-only and signed replies built by the OpenSSL CLI.
#![cfg(all(feature = "scep", feature = "legacy-crypto"))]

mod common;

use common::{cert_der, openssl, openssl_self_signed_rsa, s, vector_cert_der, vector_path};
use embedded_enroll::asn1::cert::CertificateRef;
use embedded_enroll::error::{ChainError, ScepError};
use embedded_enroll::scep::ca::{CaCertificates, CaTrust, next_ca_certificates};
use embedded_enroll::time::UnixTime;

const CAPTURE_TIME: UnixTime = UnixTime::from_secs(1_795_910_400);

#[test]
fn single_ca_certificate_is_pinned_by_fingerprint() {
    let body = std::fs::read(vector_path("scep/micromdm-scepclient-rsa/GetCACert-response.der")).unwrap();
    let fp = CertificateRef::parse(&body).unwrap().fingerprint_sha256();
    let set = CaCertificates::from_reply(&body, false, &CaTrust::Fingerprint(fp), Some(CAPTURE_TIME)).unwrap();
    assert_eq!(set.recipient().as_der(), &body[..]);
    assert_eq!(set.issuing_ca().as_der(), &body[..]);
    let mut wrong = fp;
    wrong[31] ^= 1;
    assert_eq!(CaCertificates::from_reply(&body, false, &CaTrust::Fingerprint(wrong), None).unwrap_err(), ScepError::UntrustedCa(None));
    // As its own anchor it is trusted; under another anchor it is not.
    let anchor = CertificateRef::parse(&body).unwrap();
    assert!(CaCertificates::from_reply(&body, false, &CaTrust::Anchor(&anchor), Some(CAPTURE_TIME)).is_ok());
    let other = vector_cert_der("scep/keys/ra-chain-root.cert.pem");
    let other = CertificateRef::parse(&other).unwrap();
    assert!(matches!(
        CaCertificates::from_reply(&body, false, &CaTrust::Anchor(&other), None),
        Err(ScepError::UntrustedCa(Some(ChainError::IssuerNotFound { .. })))
    ));
    assert!(matches!(
        CaCertificates::from_reply(&body[..100], false, &CaTrust::Fingerprint(fp), None),
        Err(ScepError::MalformedCaResponse(_))
    ));
}

#[test]
fn ra_chain_reply_picks_the_issuing_certificate_as_recipient() {
    let dir = tempfile::tempdir().unwrap();
    let p7 = dir.path().join("ca-ra.p7b");
    // Root first, as some servers send it: the order must not matter.
    openssl(&[
        "crl2pkcs7",
        "-nocrl",
        "-certfile",
        s(&vector_path("scep/keys/ra-chain-root.cert.pem")),
        "-certfile",
        s(&vector_path("scep/keys/micromdm-ra.cert.pem")),
        "-outform",
        "DER",
        "-out",
        s(&p7),
    ]);
    let body = std::fs::read(&p7).unwrap();
    let root = vector_cert_der("scep/keys/ra-chain-root.cert.pem");
    let ra = vector_cert_der("scep/keys/micromdm-ra.cert.pem");
    let root_cert = CertificateRef::parse(&root).unwrap();
    for trust in [CaTrust::Anchor(&root_cert), CaTrust::Fingerprint(root_cert.fingerprint_sha256())] {
        let set = CaCertificates::from_reply(&body, true, &trust, Some(CAPTURE_TIME)).unwrap();
        assert_eq!(set.recipient().as_der(), &ra[..], "the RA/issuing certificate receives requests");
        assert_eq!(set.issuing_ca().as_der(), &root[..]);
        assert_eq!(set.certificates().count(), 2);
        assert_eq!(set.len(), 2);
    }
    // Pinning the RA itself also works (the recipient chains to it trivially).
    let ra_fp = CertificateRef::parse(&ra).unwrap().fingerprint_sha256();
    assert!(CaCertificates::from_reply(&body, true, &CaTrust::Fingerprint(ra_fp), Some(CAPTURE_TIME)).is_ok());
    // A certs-only reply is not a single certificate, and the reverse.
    assert!(CaCertificates::from_reply(&body, false, &CaTrust::Fingerprint(ra_fp), None).is_err());
    assert!(CaCertificates::from_reply(&ra, true, &CaTrust::Fingerprint(ra_fp), None).is_err());
    // An expired view of time is refused.
    let far = UnixTime::from_secs(CAPTURE_TIME.as_secs() + 40 * 365 * 86_400);
    assert!(matches!(
        CaCertificates::from_reply(&body, true, &CaTrust::Anchor(&root_cert), Some(far)),
        Err(ScepError::UntrustedCa(Some(ChainError::Expired { .. })))
    ));
}

#[test]
fn next_ca_reply_must_be_signed_by_the_current_ca() {
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n);
    // The "next" CA: a fresh key and self-signed certificate; wrapped in certs-only, then
    // signed by the current (micromdm) CA key, as GetNextCACert delivers it.
    openssl_self_signed_rsa(&d("next.key"), &d("next.pem"), "/O=scep-ca/CN=Next CA");
    openssl(&["crl2pkcs7", "-nocrl", "-certfile", s(&d("next.pem")), "-outform", "DER", "-out", s(&d("next.p7b"))]);
    openssl(&[
        "cms",
        "-sign",
        "-nodetach",
        "-binary",
        "-outform",
        "DER",
        "-in",
        s(&d("next.p7b")),
        "-signer",
        s(&vector_path("scep/keys/micromdm-ca.cert.pem")),
        "-inkey",
        s(&vector_path("scep/keys/micromdm-ca.key.pem")),
        "-md",
        "sha256",
        "-out",
        s(&d("reply.der")),
    ]);
    let reply = std::fs::read(d("reply.der")).unwrap();
    let current = vector_cert_der("scep/keys/micromdm-ca.cert.pem");
    let current = CertificateRef::parse(&current).unwrap();
    let next = cert_der(&d("next.pem"));
    let certs = next_ca_certificates(&reply, &current).unwrap();
    assert_eq!(certs.certificates().next().unwrap().as_der(), &next[..]);
    // Signed by someone else: refused.
    openssl(&[
        "cms",
        "-sign",
        "-nodetach",
        "-binary",
        "-outform",
        "DER",
        "-in",
        s(&d("next.p7b")),
        "-signer",
        s(&d("next.pem")),
        "-inkey",
        s(&d("next.key")),
        "-out",
        s(&d("self.der")),
    ]);
    let forged = std::fs::read(d("self.der")).unwrap();
    assert!(matches!(next_ca_certificates(&forged, &current), Err(ScepError::NextCaNotSignedByCurrent(_))));
}

/// The set holds spans of the reply and one parsed certificate, not eight parsed ones: every
/// move of the old set was a 1.6 KiB copy on a device's stack (issue 13, the scep_client
/// replay target over 16 KiB).
#[test]
fn the_set_is_small_enough_to_move() {
    assert!(core::mem::size_of::<CaCertificates<'static>>() <= 2 * core::mem::size_of::<CertificateRef<'static>>());
}
