//! CMS against the OpenSSL CLI both ways, and against the captured SCEP messages.
#![cfg(all(feature = "soft-keys", feature = "legacy-crypto"))]

mod common;

use common::{openssl, rng, s};
use embedded_enroll::CryptoError;
use embedded_enroll::asn1::ber;
use embedded_enroll::asn1::cert::CertificateRef;
use embedded_enroll::asn1::cms::enveloped_data::{EnvelopedDataRef, build_for_rsa_recipient};
use embedded_enroll::asn1::cms::signed_data::{Attribute, SignedDataBuilder, SignedDataRef, SignerIdKind, build_certs_only};
use embedded_enroll::asn1::oid;
use embedded_enroll::crypto::HashAlgorithm;
use embedded_enroll::crypto::cbc::CbcCipher;
use embedded_enroll::crypto::rsa::{RsaPrivateKey2048, RsaPrivateKey4096};
use embedded_enroll::error::{CmsError, EncodeError};
use embedded_enroll::hal::oneshot::{decrypt_key_agreement, decrypt_key_transport, sign_certificate, sign_signed_data};
use embedded_enroll::hal::soft::SoftP256Key;
use std::path::{Path, PathBuf};

/// A self-signed certificate and its key, made by OpenSSL.
struct Party {
    key_pem: PathBuf,
    cert_pem: PathBuf,
    cert_der: Vec<u8>,
    pkcs8: Vec<u8>,
}

fn party(dir: &Path, name: &str, algorithm: &str, keyopt: &str) -> Party {
    let key_pem = dir.join(format!("{name}.key"));
    let cert_pem = dir.join(format!("{name}.pem"));
    openssl(&["genpkey", "-algorithm", algorithm, "-pkeyopt", keyopt, "-out", s(&key_pem)]);
    openssl(&[
        "req",
        "-x509",
        "-new",
        "-key",
        s(&key_pem),
        "-subj",
        &format!("/O=Test/CN={name}"),
        "-days",
        "30",
        "-addext",
        "subjectKeyIdentifier=hash",
        "-out",
        s(&cert_pem),
    ]);
    let cert_der = openssl(&["x509", "-in", s(&cert_pem), "-outform", "DER"]);
    let pkcs8 = openssl(&["pkcs8", "-topk8", "-nocrypt", "-in", s(&key_pem), "-outform", "DER"]);
    Party { key_pem, cert_pem, cert_der, pkcs8 }
}

#[test]
fn our_signed_data_passes_openssl_cms_verify_for_rsa_and_ecdsa() {
    let dir = tempfile::tempdir().unwrap();
    let rsa = party(dir.path(), "rsa-signer", "RSA", "rsa_keygen_bits:2048");
    let ec = party(dir.path(), "ec-signer", "EC", "ec_paramgen_curve:P-256");
    let content = b"pkiMessage content: an EnvelopedData in real life";
    // A SCEP-style extra attribute: transactionID as a PrintableString.
    let txid = [0x13, 0x04, b't', b'x', b'-', b'1'];
    let attrs = [Attribute { oid: der::asn1::ObjectIdentifier::new_unwrap("2.16.840.1.113733.1.9.7"), value: &txid }];
    for (p, digest) in [(&rsa, HashAlgorithm::Sha256), (&ec, HashAlgorithm::Sha256), (&rsa, HashAlgorithm::Sha512)] {
        let cert = CertificateRef::parse(&p.cert_der).unwrap();
        let mut builder = SignedDataBuilder::new(oid::DATA, content, cert, digest);
        builder.attributes = &attrs;
        if digest == HashAlgorithm::Sha512 {
            builder.signer_id = SignerIdKind::SubjectKeyId;
            builder.signing_time = Some(embedded_enroll::time::UnixTime::from_secs(1_795_910_400));
        }
        let mut out = vec![0u8; 4096];
        if !digest.is_available() {
            // Without `sha512`: a typed error, before the key is asked for anything.
            let mut key = RsaPrivateKey2048::from_pkcs8_der(&p.pkcs8, &mut rng(1)).unwrap();
            let r = sign_signed_data(&builder, &mut key, &mut out);
            assert_eq!(r, Err(EncodeError::Crypto(CryptoError::UnsupportedAlgorithm)), "{digest:?}");
            let mut attrs_out = vec![0u8; 1024];
            assert_eq!(builder.encode_signed_attributes(&mut attrs_out), Err(EncodeError::Crypto(CryptoError::UnsupportedAlgorithm)));
            continue;
        }
        let msg = if p.key_pem.to_str().unwrap().contains("rsa") {
            let mut key = RsaPrivateKey2048::from_pkcs8_der(&p.pkcs8, &mut rng(1)).unwrap();
            sign_signed_data(&builder, &mut key, &mut out).unwrap().to_vec()
        } else {
            let mut key = SoftP256Key::from_pkcs8_der(&p.pkcs8).unwrap();
            sign_signed_data(&builder, &mut key, &mut out).unwrap().to_vec()
        };
        let msg_path = dir.path().join("signed.der");
        std::fs::write(&msg_path, &msg).unwrap();
        let verified = openssl(&["cms", "-verify", "-inform", "DER", "-in", s(&msg_path), "-noverify", "-certfile", s(&p.cert_pem)]);
        assert_eq!(verified, content, "openssl cms -verify output");
        // We read back our own message, attributes included.
        let sd = SignedDataRef::parse(&msg).unwrap();
        let (si, signer) = sd.verify(None).unwrap();
        assert_eq!(signer.as_der(), &p.cert_der[..]);
        assert_eq!(si.signed_attribute(&attrs[0].oid).unwrap().raw, &txid);
        assert_eq!(sd.content(), Some(&content[..]));
        if builder.signer_id == SignerIdKind::SubjectKeyId {
            assert!(matches!(si.sid, embedded_enroll::asn1::cms::Identifier::SubjectKeyId(_)));
            assert_eq!(si.signed_attribute(&oid::SIGNING_TIME).unwrap().value, b"261129000000Z");
        }
        // One byte short of the (upper-bound) size: an error naming it, nothing written.
        let mut tiny = [0u8; 16];
        let r = if p.key_pem.to_str().unwrap().contains("rsa") {
            sign_signed_data(&builder, &mut RsaPrivateKey2048::from_pkcs8_der(&p.pkcs8, &mut rng(1)).unwrap(), &mut tiny).map(|_| ())
        } else {
            sign_signed_data(&builder, &mut SoftP256Key::from_pkcs8_der(&p.pkcs8).unwrap(), &mut tiny).map(|_| ())
        };
        let Err(EncodeError::BufferTooSmall { needed }) = r else { panic!("expected BufferTooSmall, got {r:?}") };
        assert!(needed >= msg.len());
        let mut small = vec![0x33u8; needed - 1];
        let r = if p.key_pem.to_str().unwrap().contains("rsa") {
            sign_signed_data(&builder, &mut RsaPrivateKey2048::from_pkcs8_der(&p.pkcs8, &mut rng(1)).unwrap(), &mut small).map(|_| ())
        } else {
            sign_signed_data(&builder, &mut SoftP256Key::from_pkcs8_der(&p.pkcs8).unwrap(), &mut small).map(|_| ())
        };
        assert_eq!(r, Err(EncodeError::BufferTooSmall { needed }));
        assert!(small.iter().all(|b| *b == 0x33));
    }
}

#[test]
fn openssl_signed_data_verifies_with_us_and_tampering_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let content_path = dir.path().join("content.bin");
    std::fs::write(&content_path, b"content signed by openssl cms -sign").unwrap();
    let mut signers = vec![("rsa", "RSA", "rsa_keygen_bits:2048"), ("ec", "EC", "ec_paramgen_curve:P-256")];
    if cfg!(feature = "p384") {
        signers.push(("ec384", "EC", "ec_paramgen_curve:P-384"));
    }
    for (name, alg, opt) in signers {
        let p = party(dir.path(), name, alg, opt);
        for extra in [&[][..], &["-keyid"][..], &["-noattr"][..]] {
            let out = dir.path().join("sd.der");
            let mut args = vec![
                "cms",
                "-sign",
                "-nodetach",
                "-binary",
                "-outform",
                "DER",
                "-in",
                s(&content_path),
                "-signer",
                s(&p.cert_pem),
                "-inkey",
                s(&p.key_pem),
                "-md",
                "sha256",
                "-out",
                s(&out),
            ];
            args.extend_from_slice(extra);
            openssl(&args);
            let msg = std::fs::read(&out).unwrap();
            let sd = SignedDataRef::parse(&msg).unwrap_or_else(|e| panic!("{name} {extra:?}: {e}"));
            let (_, signer) = sd.verify(None).unwrap_or_else(|e| panic!("{name} {extra:?}: {e}"));
            assert_eq!(signer.as_der(), &p.cert_der[..]);
            let given = CertificateRef::parse(&p.cert_der).unwrap();
            sd.verify(Some(&given)).unwrap();
            // Flip one byte of the content: the digest no longer matches.
            let pos = msg.windows(7).position(|w| w == b"content").unwrap();
            let mut bad = msg.clone();
            bad[pos] ^= 1;
            let r = SignedDataRef::parse(&bad).unwrap().verify(None);
            assert!(matches!(r, Err(CmsError::DigestMismatch) | Err(CmsError::Signature(_))), "{name} {extra:?}: {r:?}");
        }
    }
}

/// SHA-384 SignedData from `openssl cms -sign -md sha384` (RSA and P-256 signers, with and
/// without signed attributes): verified with feature `sha512`; without it refused with the
/// typed error (the digest cannot be computed), not a digest mismatch or a panic.
#[test]
fn sha384_signed_data_is_verified_only_with_the_sha512_feature() {
    let dir = tempfile::tempdir().unwrap();
    let content_path = dir.path().join("content.bin");
    std::fs::write(&content_path, b"content signed with SHA-384").unwrap();
    for (name, alg, opt) in [("rsa384", "RSA", "rsa_keygen_bits:2048"), ("ec384", "EC", "ec_paramgen_curve:P-256")] {
        let p = party(dir.path(), name, alg, opt);
        for extra in [&[][..], &["-noattr"][..]] {
            let out = dir.path().join("sd384.der");
            let mut args = vec!["cms", "-sign", "-nodetach", "-binary", "-outform", "DER", "-in", s(&content_path)];
            args.extend_from_slice(&["-signer", s(&p.cert_pem), "-inkey", s(&p.key_pem), "-md", "sha384", "-out", s(&out)]);
            args.extend_from_slice(extra);
            openssl(&args);
            let msg = std::fs::read(&out).unwrap();
            let sd = SignedDataRef::parse(&msg).unwrap_or_else(|e| panic!("{name} {extra:?}: {e}"));
            assert!(sd.signer_infos().all(|si| si.digest_algorithm == HashAlgorithm::Sha384), "parsing does not depend on the feature");
            let r = sd.verify(None).map(|(_, signer)| signer.as_der().to_vec());
            if cfg!(feature = "sha512") {
                assert_eq!(r.unwrap(), p.cert_der, "{name} {extra:?}");
            } else {
                assert_eq!(r, Err(CmsError::Signature(CryptoError::UnsupportedAlgorithm)), "{name} {extra:?}");
            }
        }
    }
}

#[test]
fn openssl_decrypts_our_envelopes_for_each_cipher() {
    let dir = tempfile::tempdir().unwrap();
    let p = party(dir.path(), "recipient", "RSA", "rsa_keygen_bits:2048");
    let cert = CertificateRef::parse(&p.cert_der).unwrap();
    let content: Vec<u8> = (0..300u32).map(|i| (i * 7) as u8).collect();
    for cipher in [CbcCipher::Aes128, CbcCipher::Aes192, CbcCipher::Aes256, CbcCipher::DesEde3] {
        let mut out = vec![0u8; 2048];
        let env = build_for_rsa_recipient(&cert, cipher, &content, &mut rng(2), &mut out).unwrap().to_vec();
        let env_path = dir.path().join("env.der");
        std::fs::write(&env_path, &env).unwrap();
        let plain = openssl(&["cms", "-decrypt", "-inform", "DER", "-in", s(&env_path), "-inkey", s(&p.key_pem), "-recip", s(&p.cert_pem)]);
        assert_eq!(plain, content, "{cipher:?}");
        // And we open it too.
        let mut key = RsaPrivateKey2048::from_pkcs8_der(&p.pkcs8, &mut rng(3)).unwrap();
        let ed = EnvelopedDataRef::parse(&env).unwrap();
        let mut buf = vec![0u8; ed.encrypted_len()];
        assert_eq!(decrypt_key_transport(&ed, &cert, &mut key, &mut buf).unwrap(), &content[..]);
    }
    // DES is never used to encrypt.
    assert!(build_for_rsa_recipient(&cert, CbcCipher::Des, b"x", &mut rng(4), &mut [0u8; 2048]).is_err());
}

#[test]
fn openssl_envelopes_open_with_ktri_kari_and_pwri() {
    let dir = tempfile::tempdir().unwrap();
    let content: Vec<u8> = b"the issued certificate would be here ".repeat(20);
    let content_path = dir.path().join("plain.bin");
    std::fs::write(&content_path, &content).unwrap();
    let rsa = party(dir.path(), "rsa-device", "RSA", "rsa_keygen_bits:2048");
    let ec = party(dir.path(), "ec-device", "EC", "ec_paramgen_curve:P-256");
    let env_path = dir.path().join("env.der");
    let open = |args: &[&str]| {
        let mut a = vec!["cms", "-encrypt", "-binary", "-outform", "DER", "-in", s(&content_path), "-out", s(&env_path)];
        a.extend_from_slice(args);
        openssl(&a);
        std::fs::read(&env_path).unwrap()
    };
    for cipher in ["-aes128", "-aes192", "-aes256", "-des3"] {
        // KTRI, by issuer and serial and by subject key identifier.
        for keyid in [&[][..], &["-keyid"][..]] {
            let mut args = vec![cipher];
            args.extend_from_slice(keyid);
            args.push(s(&rsa.cert_pem));
            let env = open(&args);
            let ed = EnvelopedDataRef::parse(&env).unwrap();
            let cert = CertificateRef::parse(&rsa.cert_der).unwrap();
            let mut key = RsaPrivateKey2048::from_pkcs8_der(&rsa.pkcs8, &mut rng(5)).unwrap();
            let mut buf = vec![0u8; ed.encrypted_len()];
            assert_eq!(decrypt_key_transport(&ed, &cert, &mut key, &mut buf).unwrap(), &content[..], "KTRI {cipher} {keyid:?}");
            // A different certificate is not a recipient.
            let other = CertificateRef::parse(&ec.cert_der).unwrap();
            assert_eq!(decrypt_key_transport(&ed, &other, &mut key, &mut buf), Err(CmsError::RecipientNotFound));
        }
        // KARI with each KDF.
        for kdf in ["", "sha256", "sha384"] {
            let mut args = vec![cipher, "-recip", s(&ec.cert_pem)];
            let opt = format!("ecdh_kdf_md:{kdf}");
            if !kdf.is_empty() {
                args.extend_from_slice(&["-keyopt", &opt]);
            }
            let env = open(&args);
            let ed = EnvelopedDataRef::parse(&env).unwrap();
            let cert = CertificateRef::parse(&ec.cert_der).unwrap();
            let mut key = SoftP256Key::from_pkcs8_der(&ec.pkcs8).unwrap();
            let mut buf = vec![0u8; ed.encrypted_len()];
            if cipher == "-des3" {
                // OpenSSL pairs 3DES content with the RFC 3217 3DES key wrap, which is not
                // supported: a typed error, not a wrong answer.
                let r = decrypt_key_agreement(&ed, &cert, &mut key, &mut buf);
                assert!(matches!(r, Err(CmsError::Decode(embedded_enroll::error::DecodeError::Unsupported { .. }))), "{r:?}");
                continue;
            }
            if kdf == "sha384" && !HashAlgorithm::Sha384.is_available() {
                // dhSinglePass-stdDH-sha384kdf-scheme without `sha512`: refused as an
                // unsupported algorithm, before the device key is used.
                let unsupported = Err(CmsError::Decrypt(CryptoError::UnsupportedAlgorithm));
                assert_eq!(ed.key_agreement_recipient(&cert).map(|_| ()), unsupported);
                assert_eq!(decrypt_key_agreement(&ed, &cert, &mut key, &mut buf).map(|_| ()), unsupported, "KARI {cipher} kdf {kdf:?}");
                continue;
            }
            assert_eq!(decrypt_key_agreement(&ed, &cert, &mut key, &mut buf).unwrap(), &content[..], "KARI {cipher} kdf {kdf:?}");
            let mut wrong = SoftP256Key::generate(&mut rng(6));
            assert!(decrypt_key_agreement(&ed, &cert, &mut wrong, &mut buf).is_err(), "a wrong key does not open it");
        }
        // PWRI.
        let env = open(&[cipher, "-pwri_password", "enrollment secret"]);
        let ed = EnvelopedDataRef::parse(&env).unwrap();
        let mut buf = vec![0u8; ed.encrypted_len()];
        assert_eq!(ed.decrypt_with_password(b"enrollment secret", &mut buf).unwrap(), &content[..], "PWRI {cipher}");
        assert!(matches!(ed.decrypt_with_password(b"wrong secret", &mut buf), Err(CmsError::Decrypt(_))));
    }
}

#[test]
fn certs_only_round_trips_and_openssl_reads_ours() {
    let dir = tempfile::tempdir().unwrap();
    let a = party(dir.path(), "a", "EC", "ec_paramgen_curve:P-256");
    let b = party(dir.path(), "b", "RSA", "rsa_keygen_bits:2048");
    let mut out = vec![0u8; 4096];
    let p7 = build_certs_only(&[&a.cert_der, &b.cert_der], &[], &mut out).unwrap().to_vec();
    let p7_path = dir.path().join("certs.p7b");
    std::fs::write(&p7_path, &p7).unwrap();
    let printed = String::from_utf8(openssl(&["pkcs7", "-inform", "DER", "-in", s(&p7_path), "-print_certs", "-noout"])).unwrap();
    assert!(printed.contains("CN = a") && printed.contains("CN = b"), "{printed}");
    let sd = SignedDataRef::parse(&p7).unwrap();
    let certs: Vec<_> = sd.certificates().map(|c| c.as_der().to_vec()).collect();
    assert_eq!(certs.len(), 2);
    assert!(certs.contains(&a.cert_der) && certs.contains(&b.cert_der));
    assert_eq!(sd.verify(None).unwrap_err(), CmsError::NotSigned);
    // OpenSSL's certs-only reads the same way.
    let theirs = openssl(&["crl2pkcs7", "-nocrl", "-certfile", s(&a.cert_pem), "-certfile", s(&b.cert_pem), "-outform", "DER"]);
    let sd = SignedDataRef::parse(&theirs).unwrap();
    assert_eq!(sd.certificates().count(), 2);
    // One byte short: the size needed, nothing written.
    let mut small = vec![0x77u8; p7.len() - 1];
    assert_eq!(
        build_certs_only(&[&a.cert_der, &b.cert_der], &[], &mut small),
        Err(embedded_enroll::error::EncodeError::BufferTooSmall { needed: p7.len() })
    );
    assert!(small.iter().all(|x| *x == 0x77));
}

fn vector(rel: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/scep").join(rel)).unwrap()
}

fn pem_der(rel: &str) -> Vec<u8> {
    common::vector_cert_der(&format!("scep/{rel}"))
}

fn key_pkcs8(rel: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/scep").join(rel);
    openssl(&["pkcs8", "-topk8", "-nocrypt", "-in", s(&path), "-outform", "DER"])
}

/// Every captured SCEP message: the SignedData parses (after BER normalization) and
/// verifies; the envelope opens with the listed key to exactly the captured plaintext.
#[test]
fn captured_scep_messages_parse_verify_and_decrypt() {
    // (message, envelope-opening key, recipient certificate, expected plaintext, signer cert if not in the message)
    type Case = (&'static str, &'static str, Option<&'static str>, &'static str, Option<&'static str>);
    let cases: &[Case] = &[
        (
            "micromdm-scepclient-rsa/PKCSReq.der",
            "keys/micromdm-ca.key.pem",
            Some("keys/micromdm-ca.cert.pem"),
            "micromdm-scepclient-rsa/PKCSReq.decrypted-csr.der",
            None,
        ),
        (
            "micromdm-scepclient-rsa/CertRep.der",
            "keys/scepclient-device.key.pem",
            None,
            "micromdm-scepclient-rsa/CertRep.decrypted-degenerate.p7b.der",
            Some("keys/micromdm-ca.cert.pem"),
        ),
        (
            "micromdm-scepclient-rsa-RenewalReq/RenewalReq.der",
            "keys/micromdm-ca.key.pem",
            Some("keys/micromdm-ca.cert.pem"),
            "micromdm-scepclient-rsa-RenewalReq/RenewalReq.inner-decrypted.der",
            None,
        ),
        (
            "micromdm-scepclient-rsa-RenewalReq/CertRep.der",
            "keys/scepclient-device.key.pem",
            None,
            "micromdm-scepclient-rsa-RenewalReq/CertRep.inner-decrypted.der",
            Some("keys/micromdm-ca.cert.pem"),
        ),
        (
            "certmonger-client-vs-micromdm-server-rsa/PKCSReq.der",
            "keys/micromdm-ca.key.pem",
            Some("keys/micromdm-ca.cert.pem"),
            "certmonger-client-vs-micromdm-server-rsa/PKCSReq.inner-decrypted.der",
            None,
        ),
        (
            "certmonger-client-vs-micromdm-server-rsa/CertRep.der",
            "keys/certmonger-device.key.pem",
            None,
            "certmonger-client-vs-micromdm-server-rsa/CertRep.inner-decrypted.der",
            Some("keys/micromdm-ca.cert.pem"),
        ),
        (
            "certmonger-client-vs-micromdm-server-RA-chain-rsa/PKCSReq.der",
            "keys/micromdm-ra.key.pem",
            Some("keys/micromdm-ra.cert.pem"),
            "certmonger-client-vs-micromdm-server-RA-chain-rsa/PKCSReq.inner-decrypted.der",
            None,
        ),
        (
            "certmonger-client-vs-micromdm-server-RA-chain-rsa/CertRep.der",
            "keys/certmonger-ra-case-device.key.pem",
            None,
            "certmonger-client-vs-micromdm-server-RA-chain-rsa/CertRep.inner-decrypted.der",
            Some("keys/micromdm-ra.cert.pem"),
        ),
        (
            "strongswan-pki-client-vs-micromdm-server-rsa-des3/PKCSReq.der",
            "keys/micromdm-ca.key.pem",
            Some("keys/micromdm-ca.cert.pem"),
            "strongswan-pki-client-vs-micromdm-server-rsa-des3/PKCSReq.inner-decrypted.der",
            None,
        ),
        (
            "strongswan-pki-client-vs-micromdm-server-rsa-des3/CertRep.der",
            "keys/strongswan-device.key.pem",
            None,
            "strongswan-pki-client-vs-micromdm-server-rsa-des3/CertRep.inner-decrypted.der",
            Some("keys/micromdm-ca.cert.pem"),
        ),
    ];
    for (msg, key, recip, expected, signer) in cases {
        let raw = vector(msg);
        let mut norm = vec![0u8; raw.len() + 64];
        let der = ber::normalize(&raw, &mut norm).unwrap_or_else(|e| panic!("{msg}: {e}"));
        let sd = SignedDataRef::parse(der).unwrap_or_else(|e| panic!("{msg}: {e}"));
        let signer_der = signer.map(pem_der);
        let signer_cert = signer_der.as_deref().map(|d| CertificateRef::parse(d).unwrap());
        let (_, who) = sd.verify(signer_cert.as_ref()).unwrap_or_else(|e| panic!("{msg}: {e}"));
        // The envelope.
        let inner = sd.content().unwrap();
        let mut inner_norm = vec![0u8; inner.len() + 64];
        let inner = ber::normalize(inner, &mut inner_norm).unwrap();
        let ed = EnvelopedDataRef::parse(inner).unwrap_or_else(|e| panic!("{msg}: {e}"));
        // For requests the recipient is the CA/RA; for replies it is the request's signer,
        // the device's self-signed certificate (the one the CertRep envelope names).
        let recip_der = recip.map(pem_der);
        let recip_cert = match &recip_der {
            Some(d) => CertificateRef::parse(d).unwrap(),
            None => request_signer(msg),
        };
        let pkcs8 = key_pkcs8(key);
        let mut buf = vec![0u8; ed.encrypted_len()];
        let plain = if pkcs8.len() > 1500 {
            let mut k = RsaPrivateKey4096::from_pkcs8_der(&pkcs8, &mut rng(7)).unwrap();
            decrypt_key_transport(&ed, &recip_cert, &mut k, &mut buf).unwrap_or_else(|e| panic!("{msg}: {e}")).to_vec()
        } else {
            let mut k = RsaPrivateKey2048::from_pkcs8_der(&pkcs8, &mut rng(7)).unwrap();
            decrypt_key_transport(&ed, &recip_cert, &mut k, &mut buf).unwrap_or_else(|e| panic!("{msg}: {e}")).to_vec()
        };
        assert_eq!(plain, vector(expected), "{msg}: plaintext");
        let _ = who;
    }
}

/// The self-signed certificate that signed the request in the same folder.
fn request_signer(certrep: &str) -> CertificateRef<'static> {
    let folder = certrep.split('/').next().unwrap();
    let req_name = if folder.ends_with("RenewalReq") { "RenewalReq.der" } else { "PKCSReq.der" };
    let raw: &'static [u8] = Box::leak(vector(&format!("{folder}/{req_name}")).into_boxed_slice());
    let norm: &'static mut [u8] = Box::leak(vec![0u8; raw.len() + 64].into_boxed_slice());
    let der: &'static [u8] = ber::normalize(raw, norm).unwrap();
    let sd = SignedDataRef::parse(der).unwrap();
    sd.verify(None).unwrap().1
}

#[test]
fn captured_failure_reply_and_getcacert_parse() {
    let raw = vector("micromdm-scepclient-rsa-transport-ec-p256-csr-FAILURE/CertRep-FAILURE.der");
    let ca = pem_der("keys/micromdm-ca.cert.pem");
    let ca = CertificateRef::parse(&ca).unwrap();
    let sd = SignedDataRef::parse(&raw).unwrap();
    let (si, _) = sd.verify(Some(&ca)).unwrap();
    // pkiStatus (2.16.840.1.113733.1.9.3) = "2" (FAILURE), failInfo (..9.4) = "2" (badRequest).
    let status = si.signed_attribute(&der::asn1::ObjectIdentifier::new_unwrap("2.16.840.1.113733.1.9.3")).unwrap();
    assert_eq!(status.value, b"2");
    let fail = si.signed_attribute(&der::asn1::ObjectIdentifier::new_unwrap("2.16.840.1.113733.1.9.4")).unwrap();
    assert_eq!(fail.value, b"2");
    // GetCACert with one CA certificate is the certificate itself.
    let getca = vector("micromdm-scepclient-rsa/GetCACert-response.der");
    assert_eq!(CertificateRef::parse(&getca).unwrap().as_der(), ca.as_der());
}

#[test]
fn certs_only_carries_crls_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let ca = party(dir.path(), "crl-ca", "EC", "ec_paramgen_curve:P-256");
    let d = |n: &str| dir.path().join(n);
    std::fs::write(d("index.txt"), b"").unwrap();
    std::fs::write(d("crlnumber"), b"01\n").unwrap();
    std::fs::write(
        d("ca.cnf"),
        format!(
            "[ca]\ndefault_ca=c\n[c]\ndatabase={}\ncrlnumber={}\ndefault_md=sha256\ndefault_crl_days=30\n",
            s(&d("index.txt")),
            s(&d("crlnumber"))
        ),
    )
    .unwrap();
    openssl(&["ca", "-gencrl", "-config", s(&d("ca.cnf")), "-keyfile", s(&ca.key_pem), "-cert", s(&ca.cert_pem), "-out", s(&d("crl.pem"))]);
    let crl = openssl(&["crl", "-in", s(&d("crl.pem")), "-outform", "DER"]);
    // Ours -> OpenSSL.
    let mut out = vec![0u8; 4096];
    let p7 = build_certs_only(&[&ca.cert_der], &[&crl], &mut out).unwrap().to_vec();
    std::fs::write(d("ours.p7b"), &p7).unwrap();
    let printed = String::from_utf8(openssl(&["pkcs7", "-inform", "DER", "-in", s(&d("ours.p7b")), "-print_certs", "-noout"])).unwrap();
    assert!(printed.contains("Certificate Revocation List") || printed.contains("Last Update"), "{printed}");
    let sd = SignedDataRef::parse(&p7).unwrap();
    assert_eq!(sd.crls().collect::<Vec<_>>(), vec![&crl[..]]);
    assert_eq!(sd.certificates().count(), 1);
    // OpenSSL -> ours.
    let theirs = openssl(&["crl2pkcs7", "-in", s(&d("crl.pem")), "-certfile", s(&ca.cert_pem), "-outform", "DER"]);
    let sd = SignedDataRef::parse(&theirs).unwrap();
    assert_eq!(sd.crls().collect::<Vec<_>>(), vec![&crl[..]]);
    assert_eq!(sd.certificates().next().unwrap().as_der(), &ca.cert_der[..]);
    assert!(build_certs_only(&[&[0x30, 0x01]], &[], &mut out).is_err(), "a malformed certificate is refused");
}

#[test]
fn envelope_and_self_signed_builders_report_the_size_needed() {
    let dir = tempfile::tempdir().unwrap();
    let p = party(dir.path(), "size", "RSA", "rsa_keygen_bits:2048");
    let cert = CertificateRef::parse(&p.cert_der).unwrap();
    let content = [0xabu8; 100];
    let mut big = vec![0u8; 2048];
    let len = build_for_rsa_recipient(&cert, CbcCipher::Aes128, &content, &mut rng(8), &mut big).unwrap().len();
    let mut small = vec![0x44u8; len - 1];
    assert_eq!(
        build_for_rsa_recipient(&cert, CbcCipher::Aes128, &content, &mut rng(8), &mut small),
        Err(embedded_enroll::error::EncodeError::BufferTooSmall { needed: len })
    );
    assert!(small.iter().all(|b| *b == 0x44));

    use embedded_enroll::asn1::csr::{NameAttribute, SelfSignedCertificate};
    let subject = [NameAttribute::common_name("x")];
    let mut key = SoftP256Key::generate(&mut rng(9));
    let c = SelfSignedCertificate {
        subject: &subject,
        serial: &[1],
        not_before: embedded_enroll::time::UnixTime::from_secs(0),
        not_after: embedded_enroll::time::UnixTime::from_secs(10),
    };
    let Err(embedded_enroll::error::EncodeError::BufferTooSmall { needed }) =
        sign_certificate(&c, &mut key, HashAlgorithm::Sha256, &mut [0u8; 8])
    else {
        panic!()
    };
    let mut small = vec![0x44u8; needed - 1];
    assert_eq!(
        sign_certificate(&c, &mut key, HashAlgorithm::Sha256, &mut small),
        Err(embedded_enroll::error::EncodeError::BufferTooSmall { needed })
    );
    assert!(small.iter().all(|b| *b == 0x44));
    let mut enough = vec![0u8; needed];
    let der = sign_certificate(&c, &mut key, HashAlgorithm::Sha256, &mut enough).unwrap();
    assert!(der.len() <= needed && der.len() + 3 >= needed, "the bound is tight: {} vs {needed}", der.len());
    let zero_serial = SelfSignedCertificate { serial: &[0, 0], ..c };
    assert!(sign_certificate(&zero_serial, &mut key, HashAlgorithm::Sha256, &mut enough).is_err());
}

/// The envelope opened step by step, the way a Sans-IO client drives a secure element: get
/// the encrypted key (or the originator's public key), run the key operation outside, finish.
#[test]
fn envelopes_open_in_steps_with_the_key_operation_outside() {
    use embedded_enroll::hal::{Decrypter, KeyAgreement};
    let dir = tempfile::tempdir().unwrap();
    let content_path = dir.path().join("plain.bin");
    std::fs::write(&content_path, b"stepwise").unwrap();
    let rsa = party(dir.path(), "rsa-steps", "RSA", "rsa_keygen_bits:2048");
    let ec = party(dir.path(), "ec-steps", "EC", "ec_paramgen_curve:P-256");
    let env_path = dir.path().join("env.der");
    // KTRI
    openssl(&["cms", "-encrypt", "-binary", "-outform", "DER", "-aes256", "-in", s(&content_path), "-out", s(&env_path), s(&rsa.cert_pem)]);
    let env = std::fs::read(&env_path).unwrap();
    let ed = EnvelopedDataRef::parse(&env).unwrap();
    let cert = CertificateRef::parse(&rsa.cert_der).unwrap();
    let encrypted_key = ed.key_transport_recipient(&cert).unwrap();
    let mut key = RsaPrivateKey2048::from_pkcs8_der(&rsa.pkcs8, &mut rng(11)).unwrap();
    let mut cek = vec![0u8; ed.cipher().key_len()];
    key.decrypt_pkcs1v15(encrypted_key, &mut cek).unwrap();
    let mut out = vec![0u8; ed.encrypted_len()];
    assert_eq!(ed.decrypt_with_cek(&cek, &mut out).unwrap(), b"stepwise");
    // KARI
    openssl(&["cms", "-encrypt", "-binary", "-outform", "DER", "-aes128", "-in", s(&content_path), "-out", s(&env_path), s(&ec.cert_pem)]);
    let env = std::fs::read(&env_path).unwrap();
    let ed = EnvelopedDataRef::parse(&env).unwrap();
    let cert = CertificateRef::parse(&ec.cert_der).unwrap();
    let kari = ed.key_agreement_recipient(&cert).unwrap();
    let mut key = SoftP256Key::from_pkcs8_der(&ec.pkcs8).unwrap();
    let mut z = [0u8; 32];
    key.agree(kari.originator_key, &mut z).unwrap();
    assert_eq!(ed.decrypt_with_shared_secret(&kari, &z, &mut out).unwrap(), b"stepwise");
    z[0] ^= 1;
    assert!(ed.decrypt_with_shared_secret(&kari, &z, &mut out).is_err(), "a wrong shared secret fails the key unwrap");
}
