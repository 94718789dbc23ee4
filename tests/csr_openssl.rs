//! PKCS#10 requests and self-signed certificates we build, checked by the OpenSSL CLI
//! (`openssl req -verify`, `openssl x509`, `openssl verify`) and parsed back by our views.
#![cfg(feature = "soft-keys")]

mod common;

use common::openssl_stdin;
use embedded_enroll::CryptoError;
use embedded_enroll::asn1::cert::{CertificateRef, GeneralName, KeyUsage};
use embedded_enroll::asn1::csr::{ChallengePassword, CsrBuilder, CsrRef, Extension, NameAttribute, SelfSignedCertificate, SubjectAltName};
use embedded_enroll::asn1::oid;
use embedded_enroll::crypto::HashAlgorithm;
use embedded_enroll::crypto::rsa::RsaPrivateKey2048;
use embedded_enroll::error::EncodeError;
use embedded_enroll::hal::Signer;
use embedded_enroll::hal::oneshot::{sign_certificate, sign_csr, sign_signed_data};
use embedded_enroll::hal::soft::SoftP256Key;
use embedded_enroll::time::UnixTime;
use rand::SeedableRng;

const SUBJECT: [NameAttribute<'static>; 8] = [
    NameAttribute::country("US"),
    NameAttribute::state("California"),
    NameAttribute::locality("San José"),
    NameAttribute::organization("Example Networks"),
    NameAttribute::organizational_unit("Edge Routers"),
    NameAttribute::common_name("router-7.example.net"),
    NameAttribute::serial_number("SN-000123"),
    NameAttribute::email_address("ops@example.net"),
];
const IPV6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7];
const SANS: [SubjectAltName<'static>; 5] = [
    SubjectAltName::Dns("router-7.example.net"),
    SubjectAltName::Ip(&[192, 0, 2, 7]),
    SubjectAltName::Ip(&IPV6),
    SubjectAltName::Uri("urn:dev:router-7"),
    SubjectAltName::Email("ops@example.net"),
];
/// A private extension passed through untouched: OCTET STRING "hi".
const EXTRA: [Extension<'static>; 1] =
    [Extension { oid: der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.55555.1"), critical: false, value: &[0x04, 0x02, b'h', b'i'] }];
const EKU: [der::asn1::ObjectIdentifier; 2] = [oid::KP_CLIENT_AUTH, oid::KP_SERVER_AUTH];

fn full_builder(password: ChallengePassword<'static>) -> CsrBuilder<'static> {
    CsrBuilder::new(&SUBJECT)
        .subject_alt_names(&SANS)
        .key_usage(KeyUsage::DIGITAL_SIGNATURE | KeyUsage::KEY_ENCIPHERMENT)
        .extended_key_usage(&EKU)
        .extensions(&EXTRA)
        .challenge_password(password)
}

fn check_csr(csr: &[u8], password: &str) {
    let (ok, text) = openssl_stdin(&["req", "-verify", "-inform", "DER", "-noout", "-text"], csr);
    assert!(ok, "openssl req -verify rejected our CSR: {text}");
    assert!(text.contains("verify OK") || text.contains("Certificate request self-signature verify OK"), "{text}");
    for needle in [
        "C = US",
        "ST = California",
        "O = Example Networks",
        "OU = Edge Routers",
        "CN = router-7.example.net",
        "serialNumber = SN-000123",
        "emailAddress = ops@example.net",
        "DNS:router-7.example.net",
        "IP Address:192.0.2.7",
        "IP Address:2001:DB8:0:0:0:0:0:7",
        "URI:urn:dev:router-7",
        "email:ops@example.net",
        "Digital Signature, Key Encipherment",
        "TLS Web Client Authentication, TLS Web Server Authentication",
        "1.3.6.1.4.1.55555.1",
        password,
    ] {
        assert!(text.contains(needle), "openssl does not show {needle:?}:\n{text}");
    }
    // And our own view reads back what we wrote.
    let parsed = CsrRef::parse(csr).unwrap();
    parsed.verify_signature().unwrap();
    assert_eq!(parsed.challenge_password(), Some(password));
    assert_eq!(parsed.subject().common_name(), Some("router-7.example.net"));
    assert_eq!(parsed.subject().attributes().count(), SUBJECT.len());
    assert!(parsed.requested_extensions().is_some());
}

#[test]
fn p256_csr_with_every_attribute_passes_openssl_req_verify() {
    let mut key = SoftP256Key::generate(&mut rand::rngs::StdRng::seed_from_u64(20));
    let mut out = [0u8; 2048];
    let csr = sign_csr(&full_builder(ChallengePassword::Printable("s3cret-Pass")), &mut key, HashAlgorithm::Sha256, &mut out).unwrap();
    check_csr(csr, "s3cret-Pass");
    let mut out = [0u8; 2048];
    let csr = sign_csr(&full_builder(ChallengePassword::Utf8("pässwört")), &mut key, HashAlgorithm::Sha384, &mut out);
    if cfg!(feature = "sha512") {
        check_csr(csr.unwrap(), "pässwört");
    } else {
        // Without `sha512`: a typed error, not a CSR signed over the wrong digest.
        assert_eq!(csr, Err(EncodeError::Crypto(CryptoError::UnsupportedAlgorithm)));
    }
}

#[test]
fn rsa_2048_csr_with_every_attribute_passes_openssl_req_verify() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(21);
    let mut key = RsaPrivateKey2048::generate(&mut rng).unwrap();
    let mut out = [0u8; 4096];
    let csr = sign_csr(&full_builder(ChallengePassword::Printable("challenge")), &mut key, HashAlgorithm::Sha256, &mut out).unwrap();
    check_csr(csr, "challenge");
    let mut out = [0u8; 4096];
    let csr = sign_csr(&full_builder(ChallengePassword::Printable("challenge")), &mut key, HashAlgorithm::Sha512, &mut out);
    if cfg!(feature = "sha512") {
        check_csr(csr.unwrap(), "challenge");
    } else {
        assert_eq!(csr, Err(EncodeError::Crypto(CryptoError::UnsupportedAlgorithm)));
    }
}

#[test]
fn minimal_csr_and_split_signing_agree() {
    let mut key = SoftP256Key::generate(&mut rand::rngs::StdRng::seed_from_u64(22));
    let subject = [NameAttribute::common_name("dev")];
    let b = CsrBuilder::new(&subject);
    // to-be-signed -> signature -> assemble, as a secure element would be driven.
    let mut spki = [0u8; 100];
    let n = key.public_key_der(&mut spki).unwrap();
    let mut info_buf = [0u8; 300];
    let info = b.encode_info(&spki[..n], &mut info_buf).unwrap();
    let mut sig = [0u8; 64];
    key.sign_prehash(&HashAlgorithm::Sha256.digest(info).unwrap(), &mut sig).unwrap();
    let mut out = [0u8; 400];
    let csr = embedded_enroll::asn1::csr::assemble(info, key.key_type(), HashAlgorithm::Sha256, &sig, &mut out).unwrap();
    let (ok, text) = openssl_stdin(&["req", "-verify", "-inform", "DER", "-noout"], csr);
    assert!(ok, "{text}");
    let parsed = CsrRef::parse(csr).unwrap();
    assert_eq!(parsed.info_der(), info);
    assert_eq!(parsed.challenge_password(), None);
    assert_eq!(parsed.requested_extensions(), None);
}

#[test]
fn buffers_one_byte_too_small_report_the_size_and_stay_untouched() {
    let mut key = SoftP256Key::generate(&mut rand::rngs::StdRng::seed_from_u64(23));
    let mut spki = [0u8; 100];
    let n = key.public_key_der(&mut spki).unwrap();
    let b = full_builder(ChallengePassword::Printable("x"));
    let mut big = [0u8; 2048];
    let exact = b.encode_info(&spki[..n], &mut big).unwrap().len();
    let mut small = vec![0x5au8; exact - 1];
    assert_eq!(b.encode_info(&spki[..n], &mut small), Err(EncodeError::BufferTooSmall { needed: exact }));
    assert!(small.iter().all(|b| *b == 0x5a));
    // Signing: the size needed is an upper bound (ECDSA signatures vary); below it, nothing
    // is written.
    let Err(EncodeError::BufferTooSmall { needed }) = sign_csr(&b, &mut key, HashAlgorithm::Sha256, &mut [0u8; 10]) else { panic!() };
    let mut small = vec![0x5au8; needed - 1];
    assert_eq!(sign_csr(&b, &mut key, HashAlgorithm::Sha256, &mut small), Err(EncodeError::BufferTooSmall { needed }));
    assert!(small.iter().all(|b| *b == 0x5a));
    let mut enough = vec![0u8; needed];
    assert!(sign_csr(&b, &mut key, HashAlgorithm::Sha256, &mut enough).is_ok());
}

#[test]
fn invalid_values_are_refused() {
    let mut key = SoftP256Key::generate(&mut rand::rngs::StdRng::seed_from_u64(24));
    let mut out = [0u8; 1024];
    let bad_country = [NameAttribute::country("Ü")];
    assert!(matches!(
        sign_csr(&CsrBuilder::new(&bad_country), &mut key, HashAlgorithm::Sha256, &mut out),
        Err(EncodeError::InvalidValue { .. })
    ));
    let empty = [NameAttribute::common_name("")];
    assert!(matches!(sign_csr(&CsrBuilder::new(&empty), &mut key, HashAlgorithm::Sha256, &mut out), Err(EncodeError::InvalidValue { .. })));
    let bad_ip = [SubjectAltName::Ip(&[1, 2, 3])];
    assert!(matches!(
        sign_csr(&CsrBuilder::new(&[]).subject_alt_names(&bad_ip), &mut key, HashAlgorithm::Sha256, &mut out),
        Err(EncodeError::InvalidValue { .. })
    ));
    let pw = ChallengePassword::Printable("not*printable");
    assert!(matches!(
        sign_csr(&CsrBuilder::new(&[]).challenge_password(pw), &mut key, HashAlgorithm::Sha256, &mut out),
        Err(EncodeError::InvalidValue { .. })
    ));
}

fn check_self_signed<S: Signer>(key: &mut S, hash: HashAlgorithm, not_after: i64, expect_ku: u16) {
    let subject = [NameAttribute::organization("scep-client"), NameAttribute::common_name("SCEP SIGNER")];
    let cert = SelfSignedCertificate {
        subject: &subject,
        serial: &[0x80, 1, 2, 3, 4, 5, 6, 7],
        not_before: UnixTime::from_secs(1_795_910_400),
        not_after: UnixTime::from_secs(not_after),
    };
    let mut out = [0u8; 2048];
    let der = sign_certificate(&cert, key, hash, &mut out).unwrap().to_vec();
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("self.pem");
    let (ok, text) = openssl_stdin(&["x509", "-inform", "DER", "-out", pem.to_str().unwrap()], &der);
    assert!(ok, "{text}");
    let (ok, text) = openssl_stdin(&["verify", "-no_check_time", "-CAfile", pem.to_str().unwrap(), pem.to_str().unwrap()], b"");
    assert!(ok, "openssl verify of our self-signed certificate: {text}");
    let (_, text) = openssl_stdin(&["x509", "-inform", "DER", "-noout", "-text"], &der);
    assert!(text.contains("Subject: O = scep-client, CN = SCEP SIGNER"), "{text}");
    assert!(text.contains("Serial Number:") && text.contains("80:01:02:03:04:05:06:07"), "{text}");
    let c = CertificateRef::parse(&der).unwrap();
    assert_eq!(c.subject(), c.issuer());
    assert_eq!(c.key_usage().unwrap(), Some(KeyUsage(expect_ku)));
    assert_eq!(c.not_after().as_secs(), not_after);
    assert_eq!(c.not_before().as_secs(), 1_795_910_400);
    c.verify_signed_by(&c.spki()).unwrap();
    assert_eq!(c.subject_alt_names().count(), 0);
    assert!(c.subject_alt_names().all(|n| !matches!(n, GeneralName::Other(_))));
}

#[test]
fn self_signed_signer_certificates_pass_openssl_verify() {
    let mut ec = SoftP256Key::generate(&mut rand::rngs::StdRng::seed_from_u64(25));
    check_self_signed(&mut ec, HashAlgorithm::Sha256, 1_827_446_400, KeyUsage::DIGITAL_SIGNATURE | KeyUsage::KEY_AGREEMENT);
    let mut rsa = RsaPrivateKey2048::generate(&mut rand::rngs::StdRng::seed_from_u64(26)).unwrap();
    // 2055: after 2049 the validity is a GeneralizedTime.
    check_self_signed(&mut rsa, HashAlgorithm::Sha256, 2_713_910_400, KeyUsage::DIGITAL_SIGNATURE | KeyUsage::KEY_ENCIPHERMENT);
}

#[test]
fn captured_csrs_parse_and_verify() {
    let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/scep");
    for f in [
        "micromdm-scepclient-rsa/PKCSReq.decrypted-csr.der",
        "micromdm-scepclient-rsa-RenewalReq/RenewalReq.inner-decrypted.der",
        "certmonger-client-vs-micromdm-server-rsa/PKCSReq.inner-decrypted.der",
        "certmonger-client-vs-micromdm-server-RA-chain-rsa/PKCSReq.inner-decrypted.der",
        "strongswan-pki-client-vs-micromdm-server-rsa-des3/PKCSReq.inner-decrypted.der",
        "micromdm-scepclient-rsa-transport-ec-p256-csr-FAILURE/PKCSReq.inner-decrypted.der",
    ] {
        let der = std::fs::read(base.join(f)).unwrap();
        let csr = CsrRef::parse(&der).unwrap_or_else(|e| panic!("{f}: {e}"));
        csr.verify_signature().unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(csr.challenge_password().is_some(), "{f} carries the SCEP challenge");
    }
}

/// to-be-signed -> signature -> assemble, as with a secure element, gives exactly what the
/// one-call `sign` gives (ECDSA here is deterministic, RFC 6979).
#[test]
fn split_signing_matches_one_call_signing_for_certificates_and_signed_data() {
    use embedded_enroll::asn1::cms::signed_data::SignedDataBuilder;
    let mut key = SoftP256Key::generate(&mut rand::rngs::StdRng::seed_from_u64(27));
    let subject = [NameAttribute::common_name("split")];
    let c = SelfSignedCertificate {
        subject: &subject,
        serial: &[5; 8],
        not_before: UnixTime::from_secs(0),
        not_after: UnixTime::from_secs(1 << 30),
    };
    let mut one = [0u8; 1024];
    let one = sign_certificate(&c, &mut key, HashAlgorithm::Sha256, &mut one).unwrap().to_vec();
    let mut spki = [0u8; 100];
    let n = key.public_key_der(&mut spki).unwrap();
    let mut tbs = [0u8; 1024];
    let tbs = c.encode_tbs(&spki[..n], key.key_type(), HashAlgorithm::Sha256, &mut tbs).unwrap();
    let mut sig = [0u8; 64];
    key.sign_prehash(&HashAlgorithm::Sha256.digest(tbs).unwrap(), &mut sig).unwrap();
    let mut split = [0u8; 1024];
    let split = embedded_enroll::asn1::csr::assemble(tbs, key.key_type(), HashAlgorithm::Sha256, &sig, &mut split).unwrap();
    assert_eq!(split, &one[..]);

    let cert = CertificateRef::parse(&one).unwrap();
    let b = SignedDataBuilder::new(embedded_enroll::asn1::oid::DATA, b"content", cert, HashAlgorithm::Sha256);
    let mut whole = [0u8; 2048];
    let whole = sign_signed_data(&b, &mut key, &mut whole).unwrap().to_vec();
    let mut attrs = [0u8; 256];
    let attrs = b.encode_signed_attributes(&mut attrs).unwrap();
    key.sign_prehash(&HashAlgorithm::Sha256.digest(attrs).unwrap(), &mut sig).unwrap();
    let mut split = [0u8; 2048];
    assert_eq!(b.assemble(key.key_type(), &sig, &mut split).unwrap(), &whole[..]);
}
