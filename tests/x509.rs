//! The X.509 view and the chain check, against certificates made by the OpenSSL CLI (fresh
//! for each run) and against the captured third-party vectors in `tests/vectors/`.
#![cfg(feature = "legacy-crypto")]

mod common;

use common::{openssl, s};
use embedded_enroll::asn1::cert::{CertificateRef, GeneralName, KeyUsage};
use embedded_enroll::asn1::chain::verify_chain;
use embedded_enroll::asn1::oid;
use embedded_enroll::asn1::spki::PublicKey;
use embedded_enroll::error::{ChainError, DecodeError};
use embedded_enroll::time::UnixTime;
use std::path::{Path, PathBuf};

use common::cert_der as pem_to_der;

fn vector(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors").join(rel)
}

/// A CA, an intermediate and a leaf made by OpenSSL, with the key type given by `keyopt`.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new(algorithm: &str, keyopt: &str, digest: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        let ext = p("ext.cnf");
        std::fs::write(
            &ext,
            "[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n\
             [inter]\nbasicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n\
             [notca]\nbasicConstraints=CA:FALSE\n\
             [leaf]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth,serverAuth\n\
             subjectAltName=DNS:router-7.example.net,IP:192.0.2.7,IP:2001:db8::7,URI:urn:dev:7,email:ops@example.net\n\
             subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
        )
        .unwrap();
        for name in ["ca", "inter", "leaf", "rogue", "notca", "underling", "forged", "sub", "subleaf"] {
            openssl(&["genpkey", "-algorithm", algorithm, "-pkeyopt", keyopt, "-out", s(&p(&format!("{name}.key")))]);
        }
        openssl(&[
            "req",
            "-x509",
            "-new",
            "-key",
            s(&p("ca.key")),
            digest,
            "-subj",
            "/C=US/O=Test Root/CN=Root CA",
            "-days",
            "3650",
            "-set_serial",
            "1",
            "-extensions",
            "ca",
            "-config",
            s(&ext),
            "-out",
            s(&p("ca.pem")),
        ]);
        let issue = |name: &str, subj: &str, issuer: &str, section: &str, serial: &str| {
            let csr = p(&format!("{name}.csr"));
            openssl(&["req", "-new", "-key", s(&p(&format!("{name}.key"))), "-subj", subj, "-out", s(&csr)]);
            openssl(&[
                "x509",
                "-req",
                "-in",
                s(&csr),
                "-CA",
                s(&p(&format!("{issuer}.pem"))),
                "-CAkey",
                s(&p(&format!("{issuer}.key"))),
                digest,
                "-set_serial",
                serial,
                "-days",
                "365",
                "-extfile",
                s(&ext),
                "-extensions",
                section,
                "-out",
                s(&p(&format!("{name}.pem"))),
            ]);
        };
        issue("inter", "/C=US/O=Test Root/CN=Issuing CA", "ca", "inter", "2");
        issue("leaf", "/C=US/O=Devices/OU=Routers/CN=router-7", "inter", "leaf", "0x1234567890abcdef01");
        issue("notca", "/CN=not a CA", "ca", "notca", "3");
        // A CA below the issuing CA, whose pathlen:0 forbids it, and a leaf under it.
        issue("sub", "/CN=Sub CA", "inter", "ca", "6");
        issue("subleaf", "/CN=below the sub CA", "sub", "leaf", "7");
        issue("underling", "/CN=signed by not-a-CA", "notca", "leaf", "4");
        // A certificate signed by a key that is not the issuer's, under the issuer's name.
        openssl(&[
            "req",
            "-x509",
            "-new",
            "-key",
            s(&p("rogue.key")),
            digest,
            "-subj",
            "/C=US/O=Test Root/CN=Root CA",
            "-days",
            "30",
            "-out",
            s(&p("rogue.pem")),
        ]);
        issue("forged", "/CN=forged", "rogue", "leaf", "5");
        Self { dir }
    }

    fn der(&self, name: &str) -> Vec<u8> {
        pem_to_der(&self.dir.path().join(format!("{name}.pem")))
    }

    fn openssl_field(&self, name: &str, flag: &str) -> String {
        String::from_utf8(openssl(&["x509", "-in", s(&self.dir.path().join(format!("{name}.pem"))), "-noout", flag])).unwrap()
    }
}

fn now() -> UnixTime {
    UnixTime::from_secs(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

fn check_pki(pki: &Pki) {
    let (ca, inter, leaf) = (pki.der("ca"), pki.der("inter"), pki.der("leaf"));
    let ca = CertificateRef::parse(&ca).unwrap();
    let inter = CertificateRef::parse(&inter).unwrap();
    let leaf_c = CertificateRef::parse(&leaf).unwrap();

    // Fields agree with what OpenSSL prints.
    assert_eq!(leaf_c.version(), 3);
    assert_eq!(format!("serial={}\n", hex(leaf_c.serial())), pki.openssl_field("leaf", "-serial"));
    assert_eq!(leaf_c.subject().to_string(), "C=US,O=Devices,OU=Routers,CN=router-7");
    assert_eq!(leaf_c.issuer().to_string(), "C=US,O=Test Root,CN=Issuing CA");
    assert_eq!(leaf_c.subject().common_name(), Some("router-7"));
    let fp = pki.openssl_field("leaf", "-fingerprint").replace(':', "");
    assert!(fp.trim().ends_with(&hex(&leaf_c.fingerprint_sha1())), "{fp}");
    let fp256 =
        String::from_utf8(openssl(&["x509", "-in", s(&pki.dir.path().join("leaf.pem")), "-noout", "-fingerprint", "-sha256"])).unwrap();
    assert!(fp256.replace(':', "").trim().ends_with(&hex(&leaf_c.fingerprint_sha256())));
    let dates = pki.openssl_field("leaf", "-enddate");
    let end = openssl(&["x509", "-in", s(&pki.dir.path().join("leaf.pem")), "-noout", "-checkend", "0"]);
    assert!(String::from_utf8_lossy(&end).contains("not expire"), "{dates}");
    assert!(leaf_c.not_after().as_secs() - leaf_c.not_before().as_secs() == 365 * 86400);

    // Extensions.
    assert_eq!(leaf_c.basic_constraints().unwrap().map(|b| b.ca), Some(false));
    let ku = leaf_c.key_usage().unwrap().unwrap();
    assert!(ku.contains(KeyUsage::DIGITAL_SIGNATURE | KeyUsage::KEY_ENCIPHERMENT));
    assert!(!ku.contains(KeyUsage::KEY_CERT_SIGN));
    assert_eq!(leaf_c.ext_key_usage().collect::<Vec<_>>(), vec![oid::KP_CLIENT_AUTH, oid::KP_SERVER_AUTH]);
    let sans: Vec<_> = leaf_c.subject_alt_names().collect();
    assert_eq!(
        sans,
        vec![
            GeneralName::Dns("router-7.example.net"),
            GeneralName::Ip(&[192, 0, 2, 7]),
            GeneralName::Ip(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7]),
            GeneralName::Uri("urn:dev:7"),
            GeneralName::Email("ops@example.net"),
        ]
    );
    assert_eq!(leaf_c.authority_key_identifier(), inter.subject_key_identifier());
    assert!(leaf_c.subject_key_identifier().is_some());
    let inter_bc = inter.basic_constraints().unwrap().unwrap();
    assert!(inter_bc.ca);
    assert_eq!(inter_bc.path_len, Some(0));
    assert_eq!(ca.key_usage().unwrap(), Some(KeyUsage(KeyUsage::KEY_CERT_SIGN | KeyUsage::CRL_SIGN)));

    // Signatures and chains.
    leaf_c.verify_signed_by(&inter.spki()).unwrap();
    inter.verify_signed_by(&ca.spki()).unwrap();
    assert!(leaf_c.verify_signed_by(&ca.spki()).is_err());
    assert_eq!(verify_chain(&leaf_c, &[inter], &ca, Some(now())), Ok(3));
    assert_eq!(verify_chain(&leaf_c, &[inter], &ca, None), Ok(3));
    assert_eq!(verify_chain(&inter, &[], &ca, Some(now())), Ok(2));
    assert_eq!(verify_chain(&ca, &[], &ca, Some(now())), Ok(1));
    assert_eq!(verify_chain(&leaf_c, &[], &ca, Some(now())), Err(ChainError::IssuerNotFound { depth: 0 }));
    assert_eq!(verify_chain(&leaf_c, &[inter], &inter, Some(now())), Ok(2));
    let year = 365 * 86400;
    assert_eq!(
        verify_chain(&leaf_c, &[inter], &ca, Some(UnixTime::from_secs(now().as_secs() + 2 * year))),
        Err(ChainError::Expired { depth: 0 })
    );
    assert_eq!(
        verify_chain(&leaf_c, &[inter], &ca, Some(UnixTime::from_secs(now().as_secs() - year))),
        Err(ChainError::NotYetValid { depth: 0 })
    );
    let notca_der = pki.der("notca");
    let notca = CertificateRef::parse(&notca_der).unwrap();
    let underling_der = pki.der("underling");
    let underling = CertificateRef::parse(&underling_der).unwrap();
    // A certificate issued by an end-entity certificate does not chain through it.
    assert_eq!(verify_chain(&notca, &[], &ca, Some(now())), Ok(2));
    assert_eq!(verify_chain(&underling, &[notca, inter], &ca, Some(now())), Err(ChainError::NotACa { depth: 1 }));
    let (sub, subleaf) = (pki.der("sub"), pki.der("subleaf"));
    let sub = CertificateRef::parse(&sub).unwrap();
    let subleaf = CertificateRef::parse(&subleaf).unwrap();
    assert_eq!(verify_chain(&sub, &[inter], &ca, Some(now())), Ok(3), "the sub CA itself is fine");
    assert_eq!(verify_chain(&subleaf, &[sub, inter], &ca, Some(now())), Err(ChainError::PathLenExceeded { depth: 2 }));
    let forged_der = pki.der("forged");
    let forged = CertificateRef::parse(&forged_der).unwrap();
    assert_eq!(forged.issuer().as_der(), ca.subject().as_der(), "same issuer name as the real root");
    assert!(verify_chain(&forged, &[], &ca, Some(now())).is_err(), "a signature by another key under the same name is refused");
}

#[test]
fn rsa_2048_pki_made_by_openssl_parses_and_chains() {
    check_pki(&Pki::new("RSA", "rsa_keygen_bits:2048", "-sha256"));
}

#[test]
fn p256_pki_made_by_openssl_parses_and_chains() {
    check_pki(&Pki::new("EC", "ec_paramgen_curve:P-256", "-sha256"));
}

#[cfg(feature = "p384")]
#[test]
fn p384_pki_made_by_openssl_parses_and_chains() {
    check_pki(&Pki::new("EC", "ec_paramgen_curve:P-384", "-sha384"));
}

#[cfg(feature = "sha512")]
#[test]
fn rsa_pss_and_sha512_certificates_verify() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    openssl(&["genpkey", "-algorithm", "RSA-PSS", "-pkeyopt", "rsa_keygen_bits:2048", "-out", s(&p("pss.key"))]);
    openssl(&["req", "-x509", "-new", "-key", s(&p("pss.key")), "-sha256", "-subj", "/CN=PSS CA", "-days", "10", "-out", s(&p("pss.pem"))]);
    let pss = pem_to_der(&p("pss.pem"));
    let pss = CertificateRef::parse(&pss);
    // RSA-PSS keys (id-RSASSA-PSS SPKI) are not an accepted key type; the error says so.
    assert!(matches!(pss, Err(DecodeError::Unsupported { .. })), "{pss:?}");
    // An rsaEncryption key signing with PSS padding is the common case.
    openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072", "-out", s(&p("rsa.key"))]);
    openssl(&[
        "req",
        "-x509",
        "-new",
        "-key",
        s(&p("rsa.key")),
        "-sha384",
        "-sigopt",
        "rsa_padding_mode:pss",
        "-sigopt",
        "rsa_pss_saltlen:32",
        "-subj",
        "/CN=PSS signed",
        "-days",
        "10",
        "-out",
        s(&p("rsa-pss.pem")),
    ]);
    let der = pem_to_der(&p("rsa-pss.pem"));
    let c = CertificateRef::parse(&der).unwrap();
    c.verify_signed_by(&c.spki()).unwrap();
    openssl(&[
        "req",
        "-x509",
        "-new",
        "-key",
        s(&p("rsa.key")),
        "-sha512",
        "-subj",
        "/CN=SHA-512",
        "-days",
        "10",
        "-out",
        s(&p("sha512.pem")),
    ]);
    let der = pem_to_der(&p("sha512.pem"));
    let c = CertificateRef::parse(&der).unwrap();
    c.verify_signed_by(&c.spki()).unwrap();
    assert!(matches!(c.spki().key(), PublicKey::Rsa(k) if k.bits() == 3072));
}

/// Without `sha512`, SHA-384 and SHA-512 certificate signatures (RSA PKCS#1 v1.5 and PSS) are
/// recognised (the certificates parse, the scheme is read) and refused with the typed errors:
/// `CryptoError::UnsupportedAlgorithm` for the signature, `UnsupportedSignature` for the chain.
#[cfg(not(feature = "sha512"))]
#[test]
fn sha384_and_sha512_signatures_are_refused_with_a_typed_error_without_the_feature() {
    use embedded_enroll::asn1::algorithm::SignatureAlgorithm;
    use embedded_enroll::crypto::HashAlgorithm;
    let pki = Pki::new("RSA", "rsa_keygen_bits:2048", "-sha384");
    let (ca, inter) = (pki.der("ca"), pki.der("inter"));
    let ca = CertificateRef::parse(&ca).unwrap();
    let inter = CertificateRef::parse(&inter).unwrap();
    let alg = SignatureAlgorithm::from_identifier(&inter.signature_algorithm(), None).unwrap();
    assert_eq!(alg, SignatureAlgorithm::RsaPkcs1v15(HashAlgorithm::Sha384));
    assert_eq!(inter.verify_signed_by(&ca.spki()), Err(embedded_enroll::CryptoError::UnsupportedAlgorithm));
    assert_eq!(verify_chain(&inter, &[], &ca, Some(now())), Err(ChainError::UnsupportedSignature { depth: 0 }));

    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    let (key, cert) = (p("rsa.key"), p("c.pem"));
    openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", s(&key)]);
    for (digest, pss) in [("-sha512", false), ("-sha384", true), ("-sha512", true)] {
        let mut args = vec!["req", "-x509", "-new", "-key", s(&key), digest, "-subj", "/CN=big hash", "-days", "10"];
        if pss {
            args.extend_from_slice(&["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"]);
        }
        args.extend_from_slice(&["-out", s(&cert)]);
        openssl(&args);
        let der = pem_to_der(&cert);
        let c = CertificateRef::parse(&der).unwrap();
        let alg = SignatureAlgorithm::from_identifier(&c.signature_algorithm(), None).unwrap();
        assert!(!alg.hash().is_available(), "{digest} {alg:?}");
        assert_eq!(matches!(alg, SignatureAlgorithm::RsaPss(_)), pss);
        assert_eq!(c.verify_signed_by(&c.spki()), Err(embedded_enroll::CryptoError::UnsupportedAlgorithm), "{digest} pss {pss}");
    }
}

/// A fixed time inside every captured certificate's validity (2026-11-29T00:00:00Z).
const CAPTURE_TIME: UnixTime = UnixTime::from_secs(1_795_910_400);

#[test]
fn captured_est_issued_certificates_chain_to_their_cas() {
    for server in ["est-ca", "libest"] {
        let ca = pem_to_der(&vector(&format!("est/{server}/simpleenroll/ca.pem")));
        let issued = pem_to_der(&vector(&format!("est/{server}/simpleenroll/issued.pem")));
        let ca = CertificateRef::parse(&ca).unwrap();
        let issued = CertificateRef::parse(&issued).unwrap();
        assert_eq!(verify_chain(&issued, &[], &ca, Some(CAPTURE_TIME)), Ok(2), "{server}");
        assert!(matches!(issued.spki().key(), PublicKey::EcP256(_)));
        // One second after the issued certificate expires, the chain check says so.
        let after = UnixTime::from_secs(issued.not_after().as_secs() + 1);
        assert_eq!(verify_chain(&issued, &[], &ca, Some(after)), Err(ChainError::Expired { depth: 0 }));
    }
    let issued = pem_to_der(&vector("est/est-ca/simpleenroll/issued.pem"));
    assert_eq!(CertificateRef::parse(&issued).unwrap().subject().to_string(), "CN=estuser");
}

#[test]
fn captured_scep_ca_and_ra_chain_verify() {
    let root = pem_to_der(&vector("scep/keys/ra-chain-root.cert.pem"));
    let ra = pem_to_der(&vector("scep/keys/micromdm-ra.cert.pem"));
    let root = CertificateRef::parse(&root).unwrap();
    let ra = CertificateRef::parse(&ra).unwrap();
    assert_eq!(verify_chain(&ra, &[], &root, Some(CAPTURE_TIME)), Ok(2));
    let ca = pem_to_der(&vector("scep/keys/micromdm-ca.cert.pem"));
    let ca = CertificateRef::parse(&ca).unwrap();
    assert_eq!(ca.subject().to_string(), "C=US,O=scep-ca,OU=SCEP CA");
    assert!(matches!(ca.spki().key(), PublicKey::Rsa(k) if k.bits() == 4096));
    assert_eq!(ca.key_usage().unwrap(), Some(KeyUsage(KeyUsage::KEY_CERT_SIGN | KeyUsage::CRL_SIGN)));
    let issued = pem_to_der(&vector("scep/keys/scepclient-device.issued.cert.pem"));
    let issued = CertificateRef::parse(&issued).unwrap();
    assert_eq!(verify_chain(&issued, &[], &ca, Some(CAPTURE_TIME)), Ok(2));
    assert_eq!(verify_chain(&issued, &[], &root, Some(CAPTURE_TIME)), Err(ChainError::IssuerNotFound { depth: 0 }));
}

#[test]
fn every_truncation_and_bit_flip_of_a_certificate_is_a_typed_error_or_detected() {
    let der = pem_to_der(&vector("scep/keys/micromdm-ca.cert.pem"));
    let good = CertificateRef::parse(&der).unwrap();
    for n in 0..der.len() {
        assert!(CertificateRef::parse(&der[..n]).is_err(), "truncated at {n}");
    }
    let mut trailing = der.clone();
    trailing.push(0);
    assert_eq!(CertificateRef::parse(&trailing).unwrap_err(), DecodeError::TrailingData);
    for i in (0..der.len()).step_by(7) {
        let mut m = der.clone();
        m[i] ^= 0x04;
        if let Ok(c) = CertificateRef::parse(&m) {
            // Whatever still parses must fail its self-signature (the CA is self-signed).
            assert!(c.verify_signed_by(&good.spki()).is_err(), "flip at {i} went unnoticed");
        }
    }
}

#[cfg(not(feature = "p384"))]
#[test]
fn p384_signatures_are_refused_with_a_typed_error_without_the_feature() {
    let pki = Pki::new("EC", "ec_paramgen_curve:P-384", "-sha384");
    let (ca, inter) = (pki.der("ca"), pki.der("inter"));
    let ca = CertificateRef::parse(&ca).unwrap();
    let inter = CertificateRef::parse(&inter).unwrap();
    assert!(matches!(ca.spki().key(), PublicKey::EcP384(_)));
    assert_eq!(inter.verify_signed_by(&ca.spki()), Err(embedded_enroll::CryptoError::UnsupportedAlgorithm));
    assert_eq!(verify_chain(&inter, &[], &ca, Some(now())), Err(ChainError::UnsupportedSignature { depth: 0 }));
}
