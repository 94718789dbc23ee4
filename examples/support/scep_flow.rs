//! One SCEP enrollment over plain HTTP with the crate's pieces: GetCACaps, GetCACert (trusted
//! by a pinned fingerprint), PKCSReq or RenewalReq by POST or GET, CertRep verification and
//! decryption. Shared by `examples/scep_demo.rs` and the micromdm interop test
//! (`tests/scep_micromdm.rs`), so the demo shows exactly what CI checks.
//!
//! The Sans-IO client state machine will replace this sequence; until then it is written
//! out step by step, which also makes it a walkthrough of the protocol.
#![allow(dead_code)]

use embedded_enroll::asn1::ber;
use embedded_enroll::asn1::cert::CertificateRef;
use embedded_enroll::asn1::cms::signed_data::SignedDataRef;
use embedded_enroll::asn1::csr::{ChallengePassword, CsrBuilder, NameAttribute, SelfSignedCertificate};
use embedded_enroll::crypto::rsa::RsaPrivateKey2048;
use embedded_enroll::hal::Signer;
use embedded_enroll::http::{QueryValue, RequestHead, write_request};
use embedded_enroll::scep::ca::{CaCertificates, CaTrust};
use embedded_enroll::scep::message::{CertRep, FailInfo, MessageData, MessageType, PkiStatus, Request, transaction_id_for_key};
use embedded_enroll::scep::{AlgorithmPolicy, CaCaps};
use embedded_enroll::time::UnixTime;
use rand::RngCore;
use std::time::Duration;

pub fn get(addr: &str, query: &[(&str, QueryValue<'_>)]) -> (u16, String, Vec<u8>) {
    let head = RequestHead { query, ..RequestHead::get("127.0.0.1", "/scep") };
    let mut req = vec![0u8; 16 * 1024];
    let req = write_request(&head, &[], &mut req).unwrap().to_vec();
    send(addr, &req)
}

pub fn send(addr: &str, req: &[u8]) -> (u16, String, Vec<u8>) {
    let mut buf = vec![0u8; 64 * 1024];
    let (head, len) = embedded_enroll::transport::host::exchange(addr, req, &mut buf, Duration::from_secs(20)).unwrap();
    (head.status, head.content_type.to_string(), buf[..len].to_vec())
}

/// The outcome of one enrollment (fields are read through `Debug`).
#[derive(Debug)]
#[allow(dead_code)]
pub enum Outcome {
    Issued(Vec<u8>),
    Failed(Option<FailInfo>),
    Pending,
    Http(u16),
}

/// One PKCSReq (or RenewalReq with `renew`) for `key`, by POST or GET, against the SCEP
/// server at `addr` whose CA certificate has the SHA-256 fingerprint `ca_fingerprint`
/// (learnt out of band).
pub fn enroll(
    addr: &str,
    ca_fingerprint: [u8; 32],
    key: &mut RsaPrivateKey2048,
    cn: &str,
    challenge: &str,
    post: bool,
    renew: Option<&[u8]>,
) -> Outcome {
    let (status, _, caps_body) = get(addr, &[("operation", QueryValue::Text("GetCACaps"))]);
    assert_eq!(status, 200);
    let caps = CaCaps::parse(&caps_body);
    let choice = caps.choose(&AlgorithmPolicy::default()).unwrap();
    let (status, ct, ca_body) = get(addr, &[("operation", QueryValue::Text("GetCACert"))]);
    assert_eq!(status, 200);
    let ra = ct.eq_ignore_ascii_case("application/x-x509-ca-ra-cert");
    let cas = CaCertificates::from_reply(&ca_body, ra, &CaTrust::Fingerprint(ca_fingerprint), None).unwrap();
    let recipient = cas.recipient();

    let subject = [NameAttribute::organization("embedded-enroll"), NameAttribute::common_name(cn)];
    let mut csr = [0u8; 2048];
    let csr = CsrBuilder::new(&subject)
        .challenge_password(ChallengePassword::Printable(challenge))
        .sign(key, choice.hash, &mut csr)
        .unwrap()
        .to_vec();
    let mut self_signed = [0u8; 2048];
    let now = UnixTime::from_secs(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64);
    let mut serial = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut serial);
    serial[0] |= 0x40;
    let signer_der: Vec<u8> = match renew {
        Some(cert) => cert.to_vec(),
        None => SelfSignedCertificate {
            subject: &subject,
            serial: &serial,
            not_before: UnixTime::from_secs(now.as_secs() - 3600),
            not_after: UnixTime::from_secs(now.as_secs() + 86_400),
        }
        .sign(key, choice.hash, &mut self_signed)
        .unwrap()
        .to_vec(),
    };
    let signer_cert = CertificateRef::parse(&signer_der).unwrap();
    let mut spki = [0u8; 600];
    let n = key.public_key_der(&mut spki).unwrap();
    let tx = transaction_id_for_key(&spki[..n]);
    let mut nonce = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut nonce);
    let request = Request {
        message_type: if renew.is_some() { MessageType::RenewalReq } else { MessageType::PkcsReq },
        transaction_id: &tx,
        sender_nonce: nonce,
        data: MessageData::Csr(&csr),
        recipient,
        cipher: choice.cipher,
        hash: choice.hash,
        signer_certificate: signer_cert,
    };
    let mut scratch = [0u8; 4096];
    let mut msg = vec![0u8; 8192];
    let msg = request.build(key, &mut rand::thread_rng(), &mut scratch, &mut msg).unwrap().to_vec();
    let (status, _, body) = if post && choice.post {
        let head = RequestHead {
            query: &[("operation", QueryValue::Text("PKIOperation"))],
            ..RequestHead::post("127.0.0.1", "/scep", "application/x-pki-message")
        };
        let mut req = vec![0u8; 16 * 1024];
        let req = write_request(&head, &msg, &mut req).unwrap().to_vec();
        send(addr, &req)
    } else {
        get(addr, &[("operation", QueryValue::Text("PKIOperation")), ("message", QueryValue::Base64(&msg))])
    };
    if status != 200 {
        return Outcome::Http(status);
    }
    let mut norm = vec![0u8; body.len() + 64];
    let der = ber::normalize(&body, &mut norm).unwrap();
    let rep = CertRep::parse(der, &recipient, &tx, &nonce).unwrap();
    match rep.status {
        PkiStatus::Failure => Outcome::Failed(rep.fail_info),
        PkiStatus::Pending => Outcome::Pending,
        PkiStatus::Success => {
            let env = rep.envelope.unwrap();
            let mut plain = vec![0u8; env.encrypted_len()];
            let certs_only = env.decrypt_with_key_transport(&signer_cert, key, &mut plain).unwrap();
            let sd = SignedDataRef::parse(certs_only).unwrap();
            let issued = sd.certificates().find(|c| c.spki().as_der() == &spki[..n]).expect("a certificate for our key");
            Outcome::Issued(issued.as_der().to_vec())
        }
    }
}
