//! A second, independent oracle: what we emit decodes with the RustCrypto `x509-cert` and
//! `cms` crates (dev-dependencies only; they need `alloc`), with the values we put in.
#![cfg(feature = "soft-keys")]

use der::{Decode, Encode};
use embedded_enroll::asn1::cert::CertificateRef;
use embedded_enroll::asn1::cms::enveloped_data::build_for_rsa_recipient;
use embedded_enroll::asn1::cms::signed_data::{SignedDataBuilder, build_certs_only};
use embedded_enroll::asn1::csr::{ChallengePassword, CsrBuilder, NameAttribute, SelfSignedCertificate, SubjectAltName};
use embedded_enroll::asn1::oid;
use embedded_enroll::crypto::HashAlgorithm;
use embedded_enroll::crypto::cbc::CbcCipher;
use embedded_enroll::crypto::rsa::RsaPrivateKey2048;
use embedded_enroll::hal::oneshot::{sign_certificate, sign_csr, sign_signed_data};
use embedded_enroll::hal::soft::SoftP256Key;
use embedded_enroll::time::UnixTime;
use rand::SeedableRng;

const SUBJECT: [NameAttribute<'static>; 3] =
    [NameAttribute::country("DE"), NameAttribute::organization("Oracle Test"), NameAttribute::common_name("device-42")];

#[test]
fn csr_and_self_signed_certificate_decode_with_x509_cert() {
    let mut key = SoftP256Key::generate(&mut rand::rngs::StdRng::seed_from_u64(30));
    let sans = [SubjectAltName::Dns("device-42.example")];
    let mut out = [0u8; 1024];
    let csr = sign_csr(
        &CsrBuilder::new(&SUBJECT).subject_alt_names(&sans).challenge_password(ChallengePassword::Printable("pw")),
        &mut key,
        HashAlgorithm::Sha256,
        &mut out,
    )
    .unwrap();
    let req = x509_cert::request::CertReq::from_der(csr).unwrap();
    assert_eq!(req.info.subject.to_string(), "CN=device-42,O=Oracle Test,C=DE");
    assert_eq!(req.info.attributes.len(), 2);
    assert_eq!(req.to_der().unwrap(), csr, "re-encoding by x509-cert gives the same DER");

    let cert = SelfSignedCertificate {
        subject: &SUBJECT,
        serial: &[0x11; 9],
        not_before: UnixTime::from_secs(1_795_910_400),
        not_after: UnixTime::from_secs(1_795_910_400 + 86_400),
    };
    let mut out = [0u8; 1024];
    let der = sign_certificate(&cert, &mut key, HashAlgorithm::Sha256, &mut out).unwrap();
    let c = x509_cert::Certificate::from_der(der).unwrap();
    assert_eq!(c.tbs_certificate.serial_number.as_bytes(), &[0x11; 9]);
    assert_eq!(c.tbs_certificate.validity.not_before.to_unix_duration().as_secs(), 1_795_910_400);
    assert_eq!(c.tbs_certificate.issuer, c.tbs_certificate.subject);
    assert_eq!(c.to_der().unwrap(), der);
}

#[test]
fn cms_messages_decode_with_the_cms_crate() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(31);
    let mut ec = SoftP256Key::generate(&mut rng);
    let mut cert_buf = [0u8; 1024];
    let cert_der = sign_certificate(
        &SelfSignedCertificate {
            subject: &SUBJECT,
            serial: &[7; 8],
            not_before: UnixTime::from_secs(0),
            not_after: UnixTime::from_secs(1 << 31),
        },
        &mut ec,
        HashAlgorithm::Sha256,
        &mut cert_buf,
    )
    .unwrap()
    .to_vec();
    let cert = CertificateRef::parse(&cert_der).unwrap();

    // SignedData
    let mut out = [0u8; 2048];
    let msg = sign_signed_data(&SignedDataBuilder::new(oid::DATA, b"hello cms", cert, HashAlgorithm::Sha256), &mut ec, &mut out).unwrap();
    let ci = cms::content_info::ContentInfo::from_der(msg).unwrap();
    assert_eq!(ci.content_type, const_oid::db::rfc5911::ID_SIGNED_DATA);
    let sd: cms::signed_data::SignedData = ci.content.decode_as().unwrap();
    assert_eq!(sd.signer_infos.0.len(), 1);
    let econtent = sd.encap_content_info.econtent.unwrap();
    assert_eq!(econtent.value(), &[0x04, 9, b'h', b'e', b'l', b'l', b'o', b' ', b'c', b'm', b's'][2..]);
    assert_eq!(sd.signer_infos.0.get(0).unwrap().signed_attrs.as_ref().unwrap().len(), 2);

    // certs-only
    let mut out = [0u8; 2048];
    let p7 = build_certs_only(&[&cert_der], &[], &mut out).unwrap();
    let ci = cms::content_info::ContentInfo::from_der(p7).unwrap();
    let sd: cms::signed_data::SignedData = ci.content.decode_as().unwrap();
    assert_eq!(sd.certificates.unwrap().0.len(), 1);

    // EnvelopedData to an RSA certificate.
    let mut rsa = RsaPrivateKey2048::generate(&mut rng).unwrap();
    let mut rsa_cert_buf = [0u8; 2048];
    let rsa_cert_der = sign_certificate(
        &SelfSignedCertificate {
            subject: &SUBJECT,
            serial: &[9; 8],
            not_before: UnixTime::from_secs(0),
            not_after: UnixTime::from_secs(1 << 31),
        },
        &mut rsa,
        HashAlgorithm::Sha256,
        &mut rsa_cert_buf,
    )
    .unwrap()
    .to_vec();
    let rsa_cert = CertificateRef::parse(&rsa_cert_der).unwrap();
    let mut out = [0u8; 2048];
    let env = build_for_rsa_recipient(&rsa_cert, CbcCipher::Aes256, b"secret content", &mut rng, &mut out).unwrap();
    let ci = cms::content_info::ContentInfo::from_der(env).unwrap();
    let ed: cms::enveloped_data::EnvelopedData = ci.content.decode_as().unwrap();
    assert_eq!(ed.recip_infos.0.len(), 1);
    assert_eq!(ed.encrypted_content.content_enc_alg.oid, const_oid::db::rfc5911::ID_AES_256_CBC);
    assert_eq!(ed.encrypted_content.encrypted_content.unwrap().as_bytes().len(), 16);
}
