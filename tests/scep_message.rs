//! SCEP pkiMessages: what we build is read by the OpenSSL CLI (signature, envelope, CSR), and
//! the CertReps captured from micromdm are verified and read by us, with every check that
//! must refuse a wrong reply.
#![cfg(all(feature = "scep", feature = "soft-keys", feature = "legacy-crypto"))]

mod common;

use common::{openssl, rng, s, vector_cert_der, vector_path};
use embedded_enroll::asn1::ber;
use embedded_enroll::asn1::cert::CertificateRef;
use embedded_enroll::asn1::cms::signed_data::SignedDataRef;
use embedded_enroll::asn1::csr::{ChallengePassword, CsrBuilder, NameAttribute, SelfSignedCertificate};
use embedded_enroll::crypto::HashAlgorithm;
use embedded_enroll::crypto::cbc::CbcCipher;
use embedded_enroll::crypto::rsa::RsaPrivateKey2048;
use embedded_enroll::hal::Signer;
use embedded_enroll::hal::oneshot::{sign_certificate, sign_csr};
use embedded_enroll::scep::message::{
    CertRep, CertRepError, FailInfo, MessageData, MessageType, PkiStatus, Request, attr, transaction_id_for_key,
};
use embedded_enroll::time::UnixTime;

/// A self-signed SCEP signer certificate for `key` (our builder), valid from the capture
/// time for `days`.
fn signer_certificate<S: Signer>(key: &mut S, subject: &[NameAttribute<'_>], serial: &[u8], days: i64) -> Vec<u8> {
    let mut buf = [0u8; 2048];
    let start = 1_795_910_400;
    let cert = SelfSignedCertificate {
        subject,
        serial,
        not_before: UnixTime::from_secs(start),
        not_after: UnixTime::from_secs(start + days * 86_400),
    };
    sign_certificate(&cert, key, HashAlgorithm::Sha256, &mut buf).unwrap().to_vec()
}

/// Reads transactionID and senderNonce from a captured request.
fn request_ids(rel: &str) -> (String, [u8; 16]) {
    let raw = std::fs::read(vector_path(rel)).unwrap();
    let mut norm = vec![0u8; raw.len() + 64];
    let der = ber::normalize(&raw, &mut norm).unwrap();
    let sd = SignedDataRef::parse(der).unwrap();
    let si = sd.signer_infos().next().unwrap();
    let tx = String::from_utf8(si.signed_attribute(&attr::TRANSACTION_ID).unwrap().value.to_vec()).unwrap();
    let nonce: [u8; 16] = si.signed_attribute(&attr::SENDER_NONCE).unwrap().value.try_into().unwrap();
    (tx, nonce)
}

#[test]
fn captured_certreps_verify_and_every_wrong_detail_is_refused() {
    let ca_der = vector_cert_der("scep/keys/micromdm-ca.cert.pem");
    let ca = CertificateRef::parse(&ca_der).unwrap();
    for folder in
        ["micromdm-scepclient-rsa", "certmonger-client-vs-micromdm-server-rsa", "strongswan-pki-client-vs-micromdm-server-rsa-des3"]
    {
        let (tx, nonce) = request_ids(&format!("scep/{folder}/PKCSReq.der"));
        let raw = std::fs::read(vector_path(&format!("scep/{folder}/CertRep.der"))).unwrap();
        let mut norm = vec![0u8; raw.len() + 64];
        let der = ber::normalize(&raw, &mut norm).unwrap();
        let rep = CertRep::parse(der, &ca, &tx, &nonce).unwrap_or_else(|e| panic!("{folder}: {e:?}"));
        assert_eq!(rep.status, PkiStatus::Success, "{folder}");
        let env = rep.envelope.unwrap();
        assert!(env.encrypted_len() > 0);
        // Wrong transaction ID, wrong nonce, wrong signer: each refused, and says why.
        assert_eq!(CertRep::parse(der, &ca, "other", &nonce).unwrap_err(), CertRepError::TransactionIdMismatch);
        let mut other_nonce = nonce;
        other_nonce[0] ^= 1;
        assert_eq!(CertRep::parse(der, &ca, &tx, &other_nonce).unwrap_err(), CertRepError::NonceMismatch);
        let ra_der = vector_cert_der("scep/keys/micromdm-ra.cert.pem");
        let ra = CertificateRef::parse(&ra_der).unwrap();
        assert!(
            matches!(CertRep::parse(der, &ra, &tx, &nonce), Err(CertRepError::Cms(_))),
            "{folder}: a reply not signed by the expected CA"
        );
    }
    // The RA case: signed by the RA certificate.
    let ra_der = vector_cert_der("scep/keys/micromdm-ra.cert.pem");
    let ra = CertificateRef::parse(&ra_der).unwrap();
    let (tx, nonce) = request_ids("scep/certmonger-client-vs-micromdm-server-RA-chain-rsa/PKCSReq.der");
    let raw = std::fs::read(vector_path("scep/certmonger-client-vs-micromdm-server-RA-chain-rsa/CertRep.der")).unwrap();
    assert_eq!(CertRep::parse(&raw, &ra, &tx, &nonce).unwrap().status, PkiStatus::Success);
    // A request is not a CertRep.
    let req = std::fs::read(vector_path("scep/micromdm-scepclient-rsa/PKCSReq.der")).unwrap();
    let sd = SignedDataRef::parse(&req).unwrap();
    let signer = sd.verify(None).unwrap().1;
    let (tx, nonce) = request_ids("scep/micromdm-scepclient-rsa/PKCSReq.der");
    assert_eq!(CertRep::parse(&req, &signer, &tx, &nonce).unwrap_err(), CertRepError::NotCertRep);
}

#[test]
fn captured_failure_reply_reads_as_bad_request() {
    let ca_der = vector_cert_der("scep/keys/micromdm-ca.cert.pem");
    let ca = CertificateRef::parse(&ca_der).unwrap();
    let folder = "micromdm-scepclient-rsa-transport-ec-p256-csr-FAILURE";
    let (tx, nonce) = request_ids(&format!("scep/{folder}/PKCSReq.der"));
    let raw = std::fs::read(vector_path(&format!("scep/{folder}/CertRep-FAILURE.der"))).unwrap();
    let rep = CertRep::parse(&raw, &ca, &tx, &nonce).unwrap();
    assert_eq!(rep.status, PkiStatus::Failure);
    assert_eq!(rep.fail_info, Some(FailInfo::BadRequest));
    assert!(rep.envelope.is_none());
}

#[test]
fn our_pkcsreq_is_read_by_openssl_signature_envelope_and_csr() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = rng(40);
    let mut key = RsaPrivateKey2048::generate(&mut r).unwrap();
    let subject = [NameAttribute::common_name("router-rsa-42")];
    let mut csr_buf = [0u8; 2048];
    let csr = CsrBuilder::new(&subject).challenge_password(ChallengePassword::Printable("secret"));
    let csr = sign_csr(&csr, &mut key, HashAlgorithm::Sha256, &mut csr_buf).unwrap().to_vec();
    let signer_der = signer_certificate(&mut key, &subject, &[0x42; 8], 1);
    let signer_cert = CertificateRef::parse(&signer_der).unwrap();
    let ca_der = vector_cert_der("scep/keys/micromdm-ca.cert.pem");
    let ca = CertificateRef::parse(&ca_der).unwrap();
    let mut spki = [0u8; 600];
    let n = key.public_key_der(&mut spki).unwrap();
    let tx = transaction_id_for_key(&spki[..n]);
    assert_eq!(tx.len(), 64);
    for (cipher, flag) in [(CbcCipher::Aes128, "AES-128-CBC"), (CbcCipher::Aes256, "AES-256-CBC"), (CbcCipher::DesEde3, "DES-EDE3-CBC")] {
        let req = Request {
            message_type: MessageType::PkcsReq,
            transaction_id: &tx,
            sender_nonce: [7; 16],
            data: MessageData::Csr(&csr),
            recipient: ca,
            cipher,
            hash: HashAlgorithm::Sha256,
            signer_certificate: signer_cert,
        };
        let mut scratch = [0u8; 4096];
        let mut out = [0u8; 8192];
        let msg = req.build(&mut key, &mut r, &mut scratch, &mut out).unwrap().to_vec();
        let msg_path = dir.path().join("req.der");
        std::fs::write(&msg_path, &msg).unwrap();
        let envelope = openssl(&["cms", "-verify", "-inform", "DER", "-in", s(&msg_path), "-noverify"]);
        let env_path = dir.path().join("env.der");
        std::fs::write(&env_path, &envelope).unwrap();
        let printed = String::from_utf8(openssl(&["cms", "-cmsout", "-print", "-inform", "DER", "-in", s(&env_path)])).unwrap();
        assert!(printed.contains(&flag.to_lowercase()), "{flag} not in {printed}");
        let inner = openssl(&[
            "cms",
            "-decrypt",
            "-inform",
            "DER",
            "-in",
            s(&env_path),
            "-inkey",
            s(&vector_path("scep/keys/micromdm-ca.key.pem")),
            "-recip",
            s(&vector_path("scep/keys/micromdm-ca.cert.pem")),
        ]);
        assert_eq!(inner, csr, "{flag}: the envelope holds our CSR");
        // The signed attributes SCEP needs, as openssl prints them.
        let outer = String::from_utf8(openssl(&["cms", "-cmsout", "-print", "-inform", "DER", "-in", s(&msg_path)])).unwrap();
        assert!(
            outer.contains("2.16.840.1.113733.1.9.7")
                && outer.contains("2.16.840.1.113733.1.9.2")
                && outer.contains("2.16.840.1.113733.1.9.5"),
            "{outer}"
        );
    }
    // An invalid transaction ID is refused before anything is built.
    let bad = Request {
        message_type: MessageType::PkcsReq,
        transaction_id: "not_printable*",
        sender_nonce: [0; 16],
        data: MessageData::Csr(&csr),
        recipient: ca,
        cipher: CbcCipher::Aes128,
        hash: HashAlgorithm::Sha256,
        signer_certificate: signer_cert,
    };
    assert!(bad.build(&mut key, &mut r, &mut [0u8; 4096], &mut [0u8; 8192]).is_err());
}

/// CertPoll (same transactionID, IssuerAndSubject), GetCert and GetCRL (IssuerAndSerial):
/// the envelope content is the structure RFC 8894 section 3.3.3 / 3.3.4 defines, as OpenSSL
/// decrypts and parses it.
#[test]
fn certpoll_getcert_and_getcrl_carry_the_rfc_structures() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = rng(41);
    let mut key = RsaPrivateKey2048::generate(&mut r).unwrap();
    let subject = [NameAttribute::common_name("poller")];
    let signer_der = signer_certificate(&mut key, &subject, &[0x11; 8], 1);
    let signer_cert = CertificateRef::parse(&signer_der).unwrap();
    let ca_der = vector_cert_der("scep/keys/micromdm-ca.cert.pem");
    let ca = CertificateRef::parse(&ca_der).unwrap();
    let cases = [
        (
            MessageType::CertPoll,
            MessageData::IssuerAndSubject { issuer: ca.subject().as_der(), subject: signer_cert.subject().as_der() },
            "20",
        ),
        (MessageType::GetCert, MessageData::IssuerAndSerial { issuer: ca.subject().as_der(), serial: &[0x02] }, "21"),
        (MessageType::GetCrl, MessageData::IssuerAndSerial { issuer: ca.subject().as_der(), serial: &[0x01, 0x00] }, "22"),
    ];
    for (message_type, data, number) in cases {
        let req = Request {
            message_type,
            transaction_id: "TX-POLL-1",
            sender_nonce: [1; 16],
            data,
            recipient: ca,
            cipher: CbcCipher::Aes128,
            hash: HashAlgorithm::Sha256,
            signer_certificate: signer_cert,
        };
        let mut out = [0u8; 8192];
        let msg = req.build(&mut key, &mut r, &mut [0u8; 4096], &mut out).unwrap().to_vec();
        // Our own reader sees the messageType and the transactionID.
        let sd = SignedDataRef::parse(&msg).unwrap();
        let (si, _) = sd.verify(None).unwrap();
        assert_eq!(si.signed_attribute(&attr::MESSAGE_TYPE).unwrap().value, number.as_bytes());
        assert_eq!(si.signed_attribute(&attr::TRANSACTION_ID).unwrap().value, b"TX-POLL-1");
        // OpenSSL opens the envelope; the content is SEQUENCE { Name, Name | INTEGER }.
        let msg_path = dir.path().join("m.der");
        std::fs::write(&msg_path, &msg).unwrap();
        let env = openssl(&["cms", "-verify", "-inform", "DER", "-in", s(&msg_path), "-noverify"]);
        std::fs::write(dir.path().join("env.der"), &env).unwrap();
        let inner = openssl(&[
            "cms",
            "-decrypt",
            "-inform",
            "DER",
            "-in",
            s(&dir.path().join("env.der")),
            "-inkey",
            s(&vector_path("scep/keys/micromdm-ca.key.pem")),
            "-recip",
            s(&vector_path("scep/keys/micromdm-ca.cert.pem")),
        ]);
        std::fs::write(dir.path().join("inner.der"), &inner).unwrap();
        let parsed = String::from_utf8(openssl(&["asn1parse", "-inform", "DER", "-in", s(&dir.path().join("inner.der"))])).unwrap();
        assert!(parsed.contains("scep-ca"), "{number}: the CA's name is inside:\n{parsed}");
        match message_type {
            MessageType::CertPoll => assert!(parsed.contains("poller"), "{parsed}"),
            _ => assert!(parsed.contains("INTEGER"), "{parsed}"),
        }
    }
}

/// The pkiMessage signed in steps (envelope, attributes, signed attributes out, signature
/// in) is byte-identical to the one-call build: the key can answer asynchronously.
#[test]
fn stepwise_request_signing_matches_the_one_call_build() {
    use embedded_enroll::hal::soft::SoftP256Key;
    let mut key = SoftP256Key::generate(&mut rng(42));
    let subject = [NameAttribute::common_name("ec-steps")];
    let mut cert_buf = [0u8; 1024];
    let signer = SelfSignedCertificate {
        subject: &subject,
        serial: &[0x21; 8],
        not_before: UnixTime::from_secs(0),
        not_after: UnixTime::from_secs(1 << 31),
    };
    let signer_der = sign_certificate(&signer, &mut key, HashAlgorithm::Sha256, &mut cert_buf).unwrap().to_vec();
    let signer_cert = CertificateRef::parse(&signer_der).unwrap();
    let ca_der = vector_cert_der("scep/keys/micromdm-ca.cert.pem");
    let ca = CertificateRef::parse(&ca_der).unwrap();
    let req = Request {
        message_type: MessageType::CertPoll,
        transaction_id: "STEPS-1",
        sender_nonce: [4; 16],
        data: MessageData::IssuerAndSubject { issuer: ca.subject().as_der(), subject: signer_cert.subject().as_der() },
        recipient: ca,
        cipher: CbcCipher::Aes128,
        hash: HashAlgorithm::Sha256,
        signer_certificate: signer_cert,
    };
    let mut one = [0u8; 8192];
    let one = req.build(&mut key, &mut rng(43), &mut [0u8; 4096], &mut one).unwrap().to_vec();
    // The same RNG seed gives the same envelope; ECDSA here is deterministic (RFC 6979).
    let mut env_buf = [0u8; 4096];
    let envelope = req.envelope(&mut rng(43), &mut env_buf).unwrap();
    let attributes = req.attributes().unwrap();
    let list = attributes.as_attributes();
    let builder = req.signed_data(envelope, &list);
    let mut to_sign = [0u8; 512];
    let to_sign = builder.encode_signed_attributes(&mut to_sign).unwrap();
    let mut sig = [0u8; 64];
    key.sign_prehash(&HashAlgorithm::Sha256.digest(to_sign).unwrap(), &mut sig).unwrap();
    let mut stepwise = [0u8; 8192];
    assert_eq!(builder.assemble(key.key_type(), &sig, &mut stepwise).unwrap(), &one[..]);
}

/// The snapshot layout as documented, written by hand outside Rust (the fuzz seed), decodes
/// to the values it was written with.
#[test]
fn snapshot_record_layout_matches_its_documentation() {
    use embedded_enroll::scep::snapshot::PendingTransaction;
    let rec = std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/scep_snapshot/pending.bin")).unwrap();
    let t = PendingTransaction::decode(&rec).unwrap();
    assert_eq!(t.request, MessageType::PkcsReq);
    assert_eq!(t.transaction_id.as_str(), "5F689028780D0C9623F4CA70D45539D9E4BF3914");
    assert_eq!((t.retry_attempts, t.next_poll.as_millis()), (3, 1_240_000));
    assert_eq!(t.choice.cipher, CbcCipher::Aes128);
}
