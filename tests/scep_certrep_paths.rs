//! CertRep paths beyond what micromdm sends: SUCCESS replies whose envelope is for an EC
//! device key (KARI) or a password (PWRI), with the envelope made by the OpenSSL CLI and the
//! outer SCEP SignedData by our builder playing the CA (a fixture: OpenSSL's `cms -sign`
//! cannot add SCEP's signed attributes). And what happens to micromdm's DES/SHA-1 reply when
//! `legacy-crypto` is off.

mod common;

#[cfg(all(feature = "scep", feature = "soft-keys"))]
mod ec_paths {
    use super::common::{cert_der, openssl, openssl_self_signed_rsa, rng, s};
    use embedded_enroll::CryptoError;
    use embedded_enroll::asn1::cert::CertificateRef;
    use embedded_enroll::asn1::cms::signed_data::{Attribute, SignedDataBuilder, SignedDataRef};
    use embedded_enroll::asn1::oid;
    use embedded_enroll::asn1::writer::encode;
    use embedded_enroll::crypto::HashAlgorithm;
    use embedded_enroll::crypto::rsa::RsaPrivateKey2048;
    use embedded_enroll::error::CmsError;
    use embedded_enroll::hal::soft::SoftP256Key;
    use embedded_enroll::scep::message::{CertRep, PkiStatus, attr};

    /// Our builder as the CA: a CertRep SUCCESS around `envelope`.
    fn certrep(ca_cert: CertificateRef<'_>, ca_key: &mut RsaPrivateKey2048, envelope: &[u8], tx: &str, nonce: &[u8; 16]) -> Vec<u8> {
        let ps = |v: &str| {
            let mut b = [0u8; 80];
            encode(&mut b, |w| w.primitive(0x13, v.as_bytes())).unwrap().to_vec()
        };
        let os = |v: &[u8]| {
            let mut b = [0u8; 40];
            encode(&mut b, |w| w.octet_string(v)).unwrap().to_vec()
        };
        let (t, m, st, rn, sn) = (ps(tx), ps("3"), ps("0"), os(nonce), os(&[9u8; 16]));
        let attrs = [
            Attribute { oid: attr::TRANSACTION_ID, value: &t },
            Attribute { oid: attr::MESSAGE_TYPE, value: &m },
            Attribute { oid: attr::PKI_STATUS, value: &st },
            Attribute { oid: attr::RECIPIENT_NONCE, value: &rn },
            Attribute { oid: attr::SENDER_NONCE, value: &sn },
        ];
        let mut b = SignedDataBuilder::new(oid::DATA, envelope, ca_cert, HashAlgorithm::Sha256);
        b.attributes = &attrs;
        let mut out = vec![0u8; 8192];
        embedded_enroll::hal::oneshot::sign_signed_data(&b, ca_key, &mut out).unwrap().to_vec()
    }

    #[test]
    fn kari_and_pwri_certreps_yield_the_issued_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let d = |n: &str| dir.path().join(n);
        // The CA, the EC device (its SCEP signer certificate is self-signed), the issued cert.
        openssl_self_signed_rsa(&d("ca.key"), &d("ca.pem"), "/CN=Fixture CA");
        openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", s(&d("dev.key"))]);
        openssl(&["req", "-x509", "-new", "-key", s(&d("dev.key")), "-subj", "/CN=ec-device", "-days", "1", "-out", s(&d("dev-self.pem"))]);
        openssl(&["req", "-new", "-key", s(&d("dev.key")), "-subj", "/CN=ec-device", "-out", s(&d("dev.csr"))]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            s(&d("dev.csr")),
            "-CA",
            s(&d("ca.pem")),
            "-CAkey",
            s(&d("ca.key")),
            "-set_serial",
            "77",
            "-days",
            "30",
            "-out",
            s(&d("issued.pem")),
        ]);
        openssl(&[
            "crl2pkcs7",
            "-nocrl",
            "-certfile",
            s(&d("issued.pem")),
            "-certfile",
            s(&d("ca.pem")),
            "-outform",
            "DER",
            "-out",
            s(&d("certs.p7b")),
        ]);
        let ca_der = cert_der(&d("ca.pem"));
        let ca = CertificateRef::parse(&ca_der).unwrap();
        let mut ca_key = RsaPrivateKey2048::from_pkcs8_der(
            &openssl(&["pkcs8", "-topk8", "-nocrypt", "-in", s(&d("ca.key")), "-outform", "DER"]),
            &mut rng(60),
        )
        .unwrap();
        let dev_self = cert_der(&d("dev-self.pem"));
        let dev_self = CertificateRef::parse(&dev_self).unwrap();
        let issued = cert_der(&d("issued.pem"));
        let mut dev_key =
            SoftP256Key::from_pkcs8_der(&openssl(&["pkcs8", "-topk8", "-nocrypt", "-in", s(&d("dev.key")), "-outform", "DER"])).unwrap();
        let tx = "EC-TX-1";
        let nonce = [3u8; 16];
        let (certs_p7b, kari, dev_self_pem) = (d("certs.p7b"), d("kari.der"), d("dev-self.pem"));

        // KARI: the envelope to the device's EC certificate, with OpenSSL's default KDF
        // (dhSinglePass-stdDH-sha1kdf-scheme: needs feature `sha1`) and with SHA-256.
        let unsupported = Err(CmsError::Decrypt(CryptoError::UnsupportedAlgorithm));
        let mut plain = Vec::new();
        for kdf in ["", "sha256"] {
            let opt = format!("ecdh_kdf_md:{kdf}");
            let mut args = vec!["cms", "-encrypt", "-binary", "-outform", "DER", "-aes128", "-in", s(&certs_p7b), "-out", s(&kari)];
            // `-keyopt` applies to the `-recip` before it.
            args.extend_from_slice(&["-recip", s(&dev_self_pem)]);
            if !kdf.is_empty() {
                args.extend_from_slice(&["-keyopt", &opt]);
            }
            openssl(&args);
            let rep_der = certrep(ca, &mut ca_key, &std::fs::read(&kari).unwrap(), tx, &nonce);
            let rep = CertRep::parse(&rep_der, &ca, tx, &nonce).unwrap();
            assert_eq!(rep.status, PkiStatus::Success);
            let env = rep.envelope.unwrap();
            plain = vec![0u8; env.encrypted_len()];
            let opened = embedded_enroll::hal::oneshot::decrypt_key_agreement(&env, &dev_self, &mut dev_key, &mut plain);
            if kdf.is_empty() && !cfg!(feature = "sha1") {
                assert_eq!(opened.map(|_| ()), unsupported);
                continue;
            }
            let certs = opened.unwrap();
            let sd = SignedDataRef::parse(certs).unwrap();
            let mut spki = [0u8; 100];
            use embedded_enroll::hal::Signer;
            let n = dev_key.public_key_der(&mut spki).unwrap();
            let found = sd.certificates().find(|c| c.spki().as_der() == &spki[..n]).unwrap();
            assert_eq!(found.as_der(), &issued[..], "the issued certificate is found by our public key, wherever it stands");
        }

        // PWRI: the envelope under the enrollment password.
        openssl(&[
            "cms",
            "-encrypt",
            "-binary",
            "-outform",
            "DER",
            "-aes256",
            "-in",
            s(&d("certs.p7b")),
            "-out",
            s(&d("pwri.der")),
            "-pwri_password",
            "enroll-pw",
        ]);
        let rep_der = certrep(ca, &mut ca_key, &std::fs::read(d("pwri.der")).unwrap(), tx, &nonce);
        let env = CertRep::parse(&rep_der, &ca, tx, &nonce).unwrap().envelope.unwrap();
        // OpenSSL's PBKDF2 uses the default PRF, HMAC-SHA1: needs feature `sha1`.
        let opened = env.decrypt_with_password(b"enroll-pw", &mut plain);
        if !cfg!(feature = "sha1") {
            assert_eq!(opened.map(|_| ()), unsupported);
            return;
        }
        let certs = opened.unwrap();
        assert!(SignedDataRef::parse(certs).unwrap().certificates().any(|c| c.as_der() == &issued[..]));
    }
}

/// Without `legacy-crypto`, micromdm's reply (signed with SHA-1, encrypted with DES) is
/// refused with a typed error rather than half-accepted.
#[cfg(all(feature = "scep", not(feature = "legacy-crypto")))]
#[test]
fn micromdm_sha1_des_reply_is_refused_without_legacy_crypto() {
    use embedded_enroll::asn1::cert::CertificateRef;
    use embedded_enroll::asn1::cms::enveloped_data::EnvelopedDataRef;
    use embedded_enroll::error::CmsError;
    use embedded_enroll::scep::message::{CertRep, CertRepError};
    let ca = common::vector_cert_der("scep/keys/micromdm-ca.cert.pem");
    let ca = CertificateRef::parse(&ca).unwrap();
    let raw = std::fs::read(common::vector_path("scep/micromdm-scepclient-rsa/CertRep.der")).unwrap();
    let r = CertRep::parse(&raw, &ca, "any", &[0; 16]);
    assert!(matches!(r, Err(CertRepError::Cms(CmsError::Signature(embedded_enroll::CryptoError::UnsupportedAlgorithm)))), "{r:?}");
    // And its DES envelope does not open even with the right CEK path.
    let env = std::fs::read(common::vector_path("scep/micromdm-scepclient-rsa/CertRep.inner-envelopedData.der")).unwrap();
    let mut norm = vec![0u8; env.len() + 64];
    let env = embedded_enroll::asn1::ber::normalize(&env, &mut norm).unwrap();
    let ed = EnvelopedDataRef::parse(env).unwrap();
    let mut out = vec![0u8; ed.encrypted_len()];
    assert_eq!(ed.decrypt_with_cek(&[0u8; 8], &mut out), Err(CmsError::Decrypt(embedded_enroll::CryptoError::UnsupportedAlgorithm)));
}
