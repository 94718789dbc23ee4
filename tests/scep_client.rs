//! Transcript tests of the Sans-IO SCEP client ([`embedded_enroll::scep::Client`]) on a
//! virtual clock, one per flow, against a **fixture** CA written here (not an interop peer:
//! micromdm is, in `scep_micromdm.rs`). The fixture's CA certificate, the issued
//! certificates, the CRL and every reply envelope that is not plain KTRI are made by the
//! OpenSSL CLI; the fixture reads our requests with the crate's codecs (it must open them to
//! answer) and signs CertReps with them, as a CA would.
//!
//! Every test bounds its loop, asserts the step sequence (the transcript), and never
//! sleeps: time is a number the test advances to each `Wait` deadline.
#![cfg(all(feature = "scep", feature = "soft-keys"))]

mod common;

use common::scep_fixture::{CAPS, Fixture, Reply, caps, http, load_rsa, parse_request, pending, success};
use common::{cert_der, openssl, openssl_self_signed_rsa, rng, s};
use embedded_enroll::CryptoError;
use embedded_enroll::asn1::cert::CertificateRef;
use embedded_enroll::asn1::cms::signed_data::build_certs_only;
use embedded_enroll::asn1::csr::{ChallengePassword, CsrBuilder, NameAttribute};
use embedded_enroll::asn1::tlv::Tlv;
use embedded_enroll::asn1::writer::encode;
use embedded_enroll::crypto::HashAlgorithm;
use embedded_enroll::crypto::cbc::CbcCipher;
use embedded_enroll::crypto::rsa::{RsaPrivateKey2048, RsaPrivateKey4096};
use embedded_enroll::error::CmsError;
use embedded_enroll::hal::soft::SoftP256Key;
use embedded_enroll::hal::{Decrypter, KeyAgreement, Signer};
use embedded_enroll::retry::RetryPolicy;
use embedded_enroll::scep::AlgorithmPolicy;
use embedded_enroll::scep::ca::CaTrust;
use embedded_enroll::scep::client::{Buffers, ClientError, Config, KeyRole, Operation, Outcome, ReplyError, Step};
use embedded_enroll::scep::message::{CertRepError, FailInfo, attr};
use embedded_enroll::scep::{Client, snapshot::MAX_SNAPSHOT_LEN};
use embedded_enroll::time::{Duration, Instant};
use embedded_enroll::transport::TransportFailure;
use std::collections::VecDeque;

// ---------------------------------------------------------------- the device and the driver

enum DeviceKey {
    Rsa(Box<RsaPrivateKey2048>),
    Rsa4096(Box<RsaPrivateKey4096>),
    Ec(SoftP256Key),
}

impl DeviceKey {
    fn rsa(fx: &Fixture, name: &str) -> Self {
        openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", s(&fx.path(name))]);
        Self::Rsa(Box::new(load_rsa(&fx.path(name))))
    }
    fn spki(&mut self) -> Vec<u8> {
        let mut b = [0u8; 600];
        let n = match self {
            Self::Rsa(k) => k.public_key_der(&mut b).unwrap(),
            Self::Rsa4096(k) => k.public_key_der(&mut b).unwrap(),
            Self::Ec(k) => k.public_key_der(&mut b).unwrap(),
        };
        b[..n].to_vec()
    }
}

struct Storage {
    ca: Vec<u8>,
    own: Vec<u8>,
    work: Vec<u8>,
    io: Vec<u8>,
}

impl Storage {
    fn new() -> Self {
        Self { ca: vec![0; 4096], own: vec![0; 4096], work: vec![0; 12288], io: vec![0; 12288] }
    }
    fn buffers(&mut self) -> Buffers<'_> {
        Buffers { ca: &mut self.ca, own: &mut self.own, work: &mut self.work, io: &mut self.io }
    }
}

/// Runs the client to its end (at most 60 steps) with `replies` for its requests, feeding
/// responses `chunk` bytes at a time. Returns the outcome; `log` gets the transcript.
fn drive<R: rand_core::CryptoRngCore>(
    client: &mut Client<'_, '_, R>,
    fx: &mut Fixture,
    key: &mut DeviceKey,
    replies: &mut VecDeque<Reply>,
    now: &mut Instant,
    log: &mut Vec<String>,
    chunk: usize,
) -> Outcome {
    for _ in 0..60 {
        let step = client.poll(*now).expect("poll");
        match step {
            Step::Send(bytes) => {
                let req = bytes.to_vec();
                let (method, query, _) = parse_request(&req);
                let op = String::from_utf8(query[0].1.clone()).unwrap();
                let reply = replies.pop_front().unwrap_or_else(|| panic!("no reply scripted for {method} {op}"));
                let resp = fx.answer(&req, reply);
                let mt = if op == "PKIOperation" { format!(" {}", fx.seen.last().unwrap().message_type) } else { String::new() };
                log.push(format!("{method} {op}{mt}"));
                for c in resp.chunks(chunk) {
                    let used = client.handle_response_data(*now, c).unwrap();
                    if client.response_complete() {
                        break;
                    }
                    assert_eq!(used, c.len());
                }
                client.handle_response_end(*now).unwrap();
            }
            Step::Sign(req) => {
                log.push(format!("sign {:?} {:?}", req.purpose, req.key));
                let mut sig = [0u8; 512];
                let n = match key {
                    DeviceKey::Rsa(k) => k.sign_prehash(&req.digest, &mut sig).unwrap(),
                    DeviceKey::Rsa4096(k) => k.sign_prehash(&req.digest, &mut sig).unwrap(),
                    DeviceKey::Ec(k) => k.sign_prehash(&req.digest, &mut sig).unwrap(),
                };
                client.signed(*now, &sig[..n]).unwrap();
            }
            Step::Decrypt(req) => {
                log.push("decrypt".into());
                let mut cek = vec![0u8; req.key_len];
                match key {
                    DeviceKey::Rsa(k) => k.decrypt_pkcs1v15(req.encrypted_key, &mut cek).unwrap(),
                    DeviceKey::Rsa4096(k) => k.decrypt_pkcs1v15(req.encrypted_key, &mut cek).unwrap(),
                    DeviceKey::Ec(_) => panic!("RSA decryption asked of an EC key"),
                }
                client.decrypted(*now, &cek).unwrap();
            }
            Step::Agree(req) => {
                log.push("agree".into());
                let DeviceKey::Ec(k) = key else { panic!("ECDH asked of an RSA key") };
                let mut z = [0u8; 32];
                k.agree(&req.peer_public_key, &mut z).unwrap();
                client.agreed(*now, &z).unwrap();
            }
            Step::Wait(until) => {
                assert!(until > *now, "a wait is in the future");
                log.push(format!("wait {}s", (until - *now).as_secs()));
                *now = until;
            }
            Step::Done(o) => {
                log.push(format!("done {o:?}"));
                return o.clone();
            }
        }
    }
    panic!("the client did not finish in 60 steps: {log:#?}");
}

const SUBJECT: &[NameAttribute<'static>] = &[NameAttribute::organization("embedded-enroll"), NameAttribute::common_name("device-7")];

fn enroll_csr() -> CsrBuilder<'static> {
    CsrBuilder::new(SUBJECT).challenge_password(ChallengePassword::Printable("secret"))
}

fn config<'a>(fp: &'a [u8; 32], spki: &'a [u8]) -> Config<'a> {
    let mut c = Config::new("127.0.0.1", CaTrust::Fingerprint(*fp), spki);
    c.port = Some(8080);
    c
}

/// One enrollment with `replies` after GetCACaps(CAPS) + GetCACert.
fn run_enroll(replies: Vec<Reply>, policy: Option<RetryPolicy>) -> (Outcome, Vec<String>, Fixture, Option<Vec<u8>>) {
    run_enroll_with(replies, policy, AlgorithmPolicy::default())
}

/// [`run_enroll`] under an algorithm policy.
fn run_enroll_with(
    replies: Vec<Reply>,
    policy: Option<RetryPolicy>,
    algorithms: AlgorithmPolicy,
) -> (Outcome, Vec<String>, Fixture, Option<Vec<u8>>) {
    let mut fx = Fixture::new();
    let mut key = DeviceKey::rsa(&fx, "dev.key");
    let spki = key.spki();
    let fp = fx.fingerprint();
    let mut cfg = config(&fp, &spki);
    if let Some(p) = policy {
        cfg.retry = p;
    }
    cfg.policy = algorithms;
    let mut st = Storage::new();
    let mut client = Client::new(cfg, Operation::Enroll(enroll_csr()), st.buffers(), rng(9)).unwrap();
    let mut q: VecDeque<Reply> = [caps(CAPS), Reply::CaCert].into_iter().chain(replies).collect();
    let mut now = Instant::from_millis(1_000);
    let mut log = Vec::new();
    let o = drive(&mut client, &mut fx, &mut key, &mut q, &mut now, &mut log, 97);
    assert!(q.is_empty(), "every scripted reply was used");
    let cert = client.certificate().map(<[u8]>::to_vec);
    (o, log, fx, cert)
}

const PKCSREQ_START: [&str; 5] =
    ["GET GetCACaps", "GET GetCACert", "sign Csr Requested", "sign SignerCertificate Requested", "sign Message Requested"];

fn expect_log(log: &[String], tail: &[&str]) {
    let want: Vec<String> = PKCSREQ_START.iter().chain(tail).map(|s| s.to_string()).collect();
    assert_eq!(log, want.as_slice());
}

// ---------------------------------------------------------------- the flows

#[test]
fn success_pkcsreq_over_post_yields_the_certificate_issued_for_our_key() {
    let (o, log, fx, cert) = run_enroll(vec![success()], None);
    expect_log(&log, &["POST PKIOperation 19", "decrypt", "done Issued"]);
    assert_eq!(o, Outcome::Issued);
    let cert = cert.unwrap();
    assert_eq!(cert, std::fs::read(fx.path("issued-1001.pem")).map(|_| cert_der(&fx.path("issued-1001.pem"))).unwrap());
    // The request the CA saw: our CSR with the challenge, signed by a self-signed cert.
    let seen = &fx.seen[0];
    std::fs::write(fx.path("seen.csr"), &seen.content).unwrap();
    let text =
        String::from_utf8(openssl(&["req", "-inform", "DER", "-in", s(&fx.path("seen.csr")), "-verify", "-noout", "-text"])).unwrap();
    assert!(text.contains("challengePassword") && text.contains("secret"), "{text}");
    let signer = CertificateRef::parse(&seen.signer).unwrap();
    assert_eq!(signer.subject().as_der(), signer.issuer().as_der(), "PKCSReq is signed by a self-signed certificate");
    assert_eq!(seen.transaction_id.len(), 64);
    assert_eq!(seen.method, "POST");
}

/// The challenge password is in the CSR, which the client keeps in `own` and builds through
/// `work`: once the transaction ends, no buffer holds it in the clear (issue 13, item 8).
#[test]
fn the_challenge_password_is_not_left_in_any_buffer_when_the_transaction_ends() {
    const CHALLENGE: &str = "challenge-7f3a9c21e4";
    let mut fx = Fixture::new();
    let mut key = DeviceKey::rsa(&fx, "dev.key");
    let spki = key.spki();
    let fp = fx.fingerprint();
    let cfg = config(&fp, &spki);
    let mut st = Storage::new();
    {
        let csr = CsrBuilder::new(SUBJECT).challenge_password(ChallengePassword::Printable(CHALLENGE));
        let mut client = Client::new(cfg, Operation::Enroll(csr), st.buffers(), rng(9)).unwrap();
        let mut q: VecDeque<Reply> = [caps(CAPS), Reply::CaCert, success()].into_iter().collect();
        let (mut now, mut log) = (Instant::from_millis(1_000), Vec::new());
        assert_eq!(drive(&mut client, &mut fx, &mut key, &mut q, &mut now, &mut log, 97), Outcome::Issued);
        std::mem::forget(client); // no drop: ending the transaction must be enough
    }
    let seen = String::from_utf8_lossy(&fx.seen[0].content).into_owned();
    assert!(seen.contains(CHALLENGE), "the CA received the challenge");
    for (name, buf) in [("ca", &st.ca), ("own", &st.own), ("work", &st.work), ("io", &st.io)] {
        assert!(!buf.windows(CHALLENGE.len()).any(|w| w == CHALLENGE.as_bytes()), "the challenge is still in {name}");
    }
}

#[test]
fn an_rsa_4096_device_key_enrolls() {
    let mut fx = Fixture::new();
    openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:4096", "-out", s(&fx.path("dev4096.key"))]);
    let der = openssl(&["pkcs8", "-topk8", "-nocrypt", "-in", s(&fx.path("dev4096.key")), "-outform", "DER"]);
    let mut key = DeviceKey::Rsa4096(Box::new(RsaPrivateKey4096::from_pkcs8_der(&der, &mut rng(2)).unwrap()));
    let spki = key.spki();
    let fp = fx.fingerprint();
    let mut st = Storage::new();
    let mut client = Client::new(config(&fp, &spki), Operation::Enroll(enroll_csr()), st.buffers(), rng(9)).unwrap();
    let mut q: VecDeque<Reply> = [caps(CAPS), Reply::CaCert, success()].into_iter().collect();
    let (mut now, mut log) = (Instant::ZERO, Vec::new());
    assert_eq!(drive(&mut client, &mut fx, &mut key, &mut q, &mut now, &mut log, 1000), Outcome::Issued, "{log:?}");
    let issued = CertificateRef::parse(client.certificate().unwrap()).unwrap();
    assert_eq!(issued.spki().as_der(), &spki[..]);
    assert_eq!(issued.spki().key_type(), Some(embedded_enroll::hal::KeyType::Rsa { bits: 4096 }));
}

#[test]
fn without_post_capability_the_request_goes_by_get_and_caps_are_case_insensitive() {
    let mut fx = Fixture::new();
    let mut key = DeviceKey::rsa(&fx, "dev.key");
    let spki = key.spki();
    let fp = fx.fingerprint();
    let mut st = Storage::new();
    let mut client = Client::new(config(&fp, &spki), Operation::Enroll(enroll_csr()), st.buffers(), rng(9)).unwrap();
    let mut q: VecDeque<Reply> = [caps("sha-256 aes\r\nrenewal"), Reply::CaCert, success()].into_iter().collect();
    let (mut now, mut log) = (Instant::ZERO, Vec::new());
    assert_eq!(drive(&mut client, &mut fx, &mut key, &mut q, &mut now, &mut log, 1), Outcome::Issued, "{log:?}");
    assert!(log.contains(&"GET PKIOperation 19".to_string()), "{log:?}");
    let choice = client.algorithms().unwrap();
    assert!(!choice.post && choice.cipher == CbcCipher::Aes128 && choice.hash == HashAlgorithm::Sha256);
}

#[test]
fn pending_three_times_then_success_polls_the_same_transaction_on_the_backoff_schedule() {
    let policy = RetryPolicy::new(Duration::from_secs(10), 2, Duration::from_secs(25), 5, Duration::from_secs(3600));
    let (o, log, fx, cert) = run_enroll(vec![pending(), pending(), pending(), success()], Some(policy));
    expect_log(
        &log,
        &[
            "POST PKIOperation 19",
            "wait 10s",
            "sign Message Requested",
            "POST PKIOperation 20",
            "wait 20s",
            "sign Message Requested",
            "POST PKIOperation 20",
            "wait 25s",
            "sign Message Requested",
            "POST PKIOperation 20",
            "decrypt",
            "done Issued",
        ],
    );
    assert_eq!(o, Outcome::Issued);
    assert!(cert.is_some());
    // One transaction, a fresh nonce per message, and CertPoll names the CA and our subject.
    let tx: std::collections::HashSet<_> = fx.seen.iter().map(|s| &s.transaction_id).collect();
    assert_eq!(tx.len(), 1);
    let nonces: std::collections::HashSet<_> = fx.seen.iter().map(|s| &s.nonce).collect();
    assert_eq!(nonces.len(), 4);
    let poll = &fx.seen[1].content;
    let t = Tlv::parse_exact(poll).unwrap();
    let mut c = t.children();
    let issuer = c.next().unwrap().unwrap();
    let subject = c.next().unwrap().unwrap();
    assert_eq!(issuer.raw, CertificateRef::parse(&fx.ca_der).unwrap().subject().as_der());
    let csr = embedded_enroll::asn1::csr::CsrRef::parse(&fx.seen[0].content).unwrap();
    assert_eq!(subject.raw, csr.subject().as_der());
}

#[test]
fn pending_past_the_attempt_limit_ends_with_pending_timed_out() {
    let policy = RetryPolicy::new(Duration::from_secs(5), 1, Duration::from_secs(5), 2, Duration::from_secs(3600));
    let (o, log, fx, _) = run_enroll(vec![pending(), pending(), pending()], Some(policy));
    assert_eq!(o, Outcome::PendingTimedOut { attempts: 2 });
    assert_eq!(fx.seen.len(), 3, "the request and two polls, no more");
    assert_eq!(log.last().unwrap(), "done PendingTimedOut { attempts: 2 }");
    assert_eq!(log.iter().filter(|l| l.starts_with("wait 5s")).count(), 2);
}

#[test]
fn pending_past_the_total_time_ends_even_with_attempts_left() {
    let policy = RetryPolicy::new(Duration::from_secs(60), 2, Duration::from_secs(600), 100, Duration::from_secs(150));
    // Polls at +60 and +180 would pass 150 s: only the first is made.
    let (o, _, fx, _) = run_enroll(vec![pending(), pending()], Some(policy));
    assert_eq!(o, Outcome::PendingTimedOut { attempts: 1 });
    assert_eq!(fx.seen.len(), 2);
}

#[test]
fn failure_bad_request_is_a_typed_rejection_with_its_text() {
    let reply = Reply::Pki(Box::new(|fx, seen| {
        let mut b = [0u8; 64];
        let info = encode(&mut b, |w| w.primitive(0x13, b"2")).unwrap().to_vec();
        let mut t = [0u8; 64];
        let text = encode(&mut t, |w| w.primitive(0x0c, "challenge wrong".as_bytes())).unwrap().to_vec();
        fx.certrep(seen, "2", &[], &[(attr::FAIL_INFO, info), (attr::FAIL_INFO_TEXT, text)], None)
    }));
    let (o, log, _, cert) = run_enroll(vec![reply], None);
    assert_eq!(o, Outcome::Rejected { fail_info: Some(FailInfo::BadRequest), text: "challenge wrong".try_into().unwrap() });
    assert_eq!(log.last().unwrap(), &format!("done {o:?}"));
    assert!(cert.is_none());
}

#[test]
fn http_500_with_an_html_body_is_an_http_outcome() {
    let html = http("500 Internal Server Error", "text/html", b"<html><body>boom</body></html>");
    let (o, _, _, _) = run_enroll(vec![Reply::Pki(Box::new(move |_, _| html.clone()))], None);
    assert_eq!(o, Outcome::HttpStatus(500));
}

#[test]
fn an_html_page_with_status_200_is_an_invalid_reply() {
    let html = http("200 OK", "text/html", b"<html><body>Please log in</body></html>");
    let (o, _, _, _) = run_enroll(vec![Reply::Pki(Box::new(move |_, _| html.clone()))], None);
    assert!(matches!(o, Outcome::InvalidReply(ReplyError::CertRep(CertRepError::Cms(_)))), "{o:?}");
}

#[test]
fn a_wrong_recipient_nonce_is_refused() {
    let reply = Reply::Pki(Box::new(|fx, seen| {
        let mut b = [0u8; 40];
        let other = encode(&mut b, |w| w.octet_string(&[0xEE; 16])).unwrap().to_vec();
        fx.certrep(seen, "0", &[], &[(attr::RECIPIENT_NONCE, other)], None)
    }));
    let (o, _, _, _) = run_enroll(vec![reply], None);
    assert_eq!(o, Outcome::InvalidReply(ReplyError::CertRep(CertRepError::NonceMismatch)));
}

#[test]
fn a_wrong_transaction_id_is_refused() {
    let reply = Reply::Pki(Box::new(|fx, seen| {
        let mut b = [0u8; 40];
        let other = encode(&mut b, |w| w.primitive(0x13, b"SOMEONE-ELSE")).unwrap().to_vec();
        fx.certrep(seen, "3", &[], &[(attr::TRANSACTION_ID, other)], None)
    }));
    let (o, _, _, _) = run_enroll(vec![reply], None);
    assert_eq!(o, Outcome::InvalidReply(ReplyError::CertRep(CertRepError::TransactionIdMismatch)));
}

#[test]
fn a_reply_signed_by_an_unknown_key_is_refused() {
    let reply = Reply::Pki(Box::new(|fx, seen| {
        openssl_self_signed_rsa(&fx.path("evil.key"), &fx.path("evil.pem"), "/O=Fixture/CN=Fixture SCEP CA");
        let cert = cert_der(&fx.path("evil.pem"));
        let mut key = load_rsa(&fx.path("evil.key"));
        let issued = fx.issue(seen, 1001);
        let env = fx.ktri_to_signer(seen, &[&issued], &[]);
        fx.certrep(seen, "0", &env, &[], Some((&cert, &mut key)))
    }));
    let (o, _, _, cert) = run_enroll(vec![reply], None);
    assert!(matches!(o, Outcome::InvalidReply(ReplyError::CertRep(CertRepError::Cms(_)))), "{o:?}");
    assert!(cert.is_none());
}

/// micromdm answers with single DES. The caller's policy binds replies: DES is opened only
/// when the caller allowed it for this server (`with_single_des`, which needs `legacy-crypto`);
/// under the default policy, or `without_legacy`, a DES reply is refused by name.
#[test]
fn a_des_reply_needs_the_caller_to_allow_des() {
    let des_reply = || {
        Reply::Pki(Box::new(|fx, seen| {
            let issued = fx.issue(seen, 1001);
            let env =
                fx.openssl_envelope(seen, &[&issued], &["-des", "-provider", "legacy", "-provider", "default", s(&fx.path("signer.pem"))]);
            fx.certrep(seen, "0", &env, &[], None)
        }))
    };
    let (o, log, _, cert) = run_enroll_with(vec![des_reply()], None, AlgorithmPolicy::default().with_single_des());
    if cfg!(feature = "legacy-crypto") {
        assert_eq!(o, Outcome::Issued, "{log:?}");
        assert!(cert.is_some());
    } else {
        assert_eq!(o, Outcome::InvalidReply(ReplyError::AlgorithmNotAllowed("DES")), "{log:?}");
        assert!(cert.is_none());
    }
    for policy in [AlgorithmPolicy::default(), AlgorithmPolicy::default().without_legacy()] {
        let (o, log, _, cert) = run_enroll_with(vec![des_reply()], None, policy);
        assert_eq!(o, Outcome::InvalidReply(ReplyError::AlgorithmNotAllowed("DES")), "{policy:?} {log:?}");
        assert!(cert.is_none());
    }
}

/// A 3DES reply when the caller asked for no legacy algorithms is refused, even though the
/// client could decrypt it.
#[test]
fn a_3des_reply_is_refused_without_legacy() {
    let reply = Reply::Pki(Box::new(|fx, seen| {
        let issued = fx.issue(seen, 1001);
        let env = fx.openssl_envelope(seen, &[&issued], &["-des3", s(&fx.path("signer.pem"))]);
        fx.certrep(seen, "0", &env, &[], None)
    }));
    let (o, log, _, cert) = run_enroll_with(vec![reply], None, AlgorithmPolicy::default().without_legacy());
    assert_eq!(o, Outcome::InvalidReply(ReplyError::AlgorithmNotAllowed("3DES")), "{log:?}");
    assert!(cert.is_none());
}

#[test]
fn a_success_without_our_certificate_or_from_another_ca_is_refused() {
    // The reply carries only the CA certificate.
    let only_ca = Reply::Pki(Box::new(|fx, seen| {
        let ca = fx.ca_der.clone();
        let env = fx.ktri_to_signer(seen, &[&ca], &[]);
        fx.certrep(seen, "0", &env, &[], None)
    }));
    assert_eq!(run_enroll(vec![only_ca], None).0, Outcome::InvalidReply(ReplyError::NotFound));
    // A certificate for our key, but issued by someone else under the CA's name.
    let forged = Reply::Pki(Box::new(|fx, seen| {
        openssl_self_signed_rsa(&fx.path("evil.key"), &fx.path("evil.pem"), "/O=Fixture/CN=Fixture SCEP CA");
        std::fs::write(fx.path("req.der"), &seen.content).unwrap();
        openssl(&[
            "x509",
            "-req",
            "-inform",
            "DER",
            "-in",
            s(&fx.path("req.der")),
            "-CA",
            s(&fx.path("evil.pem")),
            "-CAkey",
            s(&fx.path("evil.key")),
            "-set_serial",
            "9",
            "-out",
            s(&fx.path("forged.pem")),
        ]);
        let forged = cert_der(&fx.path("forged.pem"));
        let env = fx.ktri_to_signer(seen, &[&forged], &[]);
        fx.certrep(seen, "0", &env, &[], None)
    }));
    assert_eq!(run_enroll(vec![forged], None).0, Outcome::InvalidReply(ReplyError::NotIssuedByCa));
}

#[test]
fn an_untrusted_ca_ends_before_any_request_is_built() {
    let mut fx = Fixture::new();
    let mut key = DeviceKey::rsa(&fx, "dev.key");
    let spki = key.spki();
    let wrong = [0x42u8; 32];
    let mut st = Storage::new();
    let mut client = Client::new(config(&wrong, &spki), Operation::Enroll(enroll_csr()), st.buffers(), rng(9)).unwrap();
    let mut q: VecDeque<Reply> = [caps(CAPS), Reply::CaCert].into_iter().collect();
    let (mut now, mut log) = (Instant::ZERO, Vec::new());
    let o = drive(&mut client, &mut fx, &mut key, &mut q, &mut now, &mut log, 4096);
    assert!(matches!(o, Outcome::Ca(embedded_enroll::error::ScepError::UntrustedCa(None))), "{o:?}");
    assert_eq!(log.len(), 3, "{log:?}");
}

#[test]
fn renewal_is_signed_with_the_current_certificate_and_may_certify_a_new_key() {
    let mut fx = Fixture::new();
    // The current identity: an old key and its certificate from the CA.
    let mut old = DeviceKey::rsa(&fx, "old.key");
    openssl(&["req", "-new", "-key", s(&fx.path("old.key")), "-subj", "/CN=device-7", "-out", s(&fx.path("old.csr"))]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        s(&fx.path("old.csr")),
        "-CA",
        s(&fx.path("ca.pem")),
        "-CAkey",
        s(&fx.path("ca.key")),
        "-set_serial",
        "500",
        "-days",
        "5",
        "-out",
        s(&fx.path("old.pem")),
    ]);
    let current = cert_der(&fx.path("old.pem"));
    // Same key first, then a new key.
    for new_key in [false, true] {
        let mut newk = if new_key { DeviceKey::rsa(&fx, "new.key") } else { DeviceKey::rsa(&fx, "unused.key") };
        let spki = if new_key { newk.spki() } else { old.spki() };
        let fp = fx.fingerprint();
        let mut st = Storage::new();
        let op = Operation::Renew { csr: enroll_csr(), certificate: &current };
        let mut client = Client::new(config(&fp, &spki), op, st.buffers(), rng(3)).unwrap();
        let mut q: VecDeque<Reply> = [caps(CAPS), Reply::CaCert, success()].into_iter().collect();
        let (now, mut log) = (Instant::ZERO, Vec::new());
        // Answer each request with the key it names.
        for _ in 0..30 {
            match client.poll(now).unwrap() {
                Step::Sign(req) => {
                    log.push(format!("sign {:?} {:?}", req.purpose, req.key));
                    let k = match req.key {
                        KeyRole::Requested if new_key => &mut newk,
                        _ => &mut old,
                    };
                    let DeviceKey::Rsa(k) = k else { unreachable!() };
                    let mut sig = [0u8; 256];
                    let n = k.sign_prehash(&req.digest, &mut sig).unwrap();
                    client.signed(now, &sig[..n]).unwrap();
                }
                Step::Decrypt(req) => {
                    assert_eq!(req.key, KeyRole::Certificate, "the reply is encrypted to the current certificate");
                    let DeviceKey::Rsa(k) = &mut old else { unreachable!() };
                    let mut cek = vec![0u8; req.key_len];
                    k.decrypt_pkcs1v15(req.encrypted_key, &mut cek).unwrap();
                    client.decrypted(now, &cek).unwrap();
                }
                Step::Send(b) => {
                    let req = b.to_vec();
                    let resp = fx.answer(&req, q.pop_front().unwrap());
                    client.handle_response_data(now, &resp).unwrap();
                }
                Step::Done(o) => {
                    assert_eq!(o, &Outcome::Issued, "{log:?}");
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(log, ["sign Csr Requested", "sign Message Certificate"]);
        let seen = fx.seen.last().unwrap();
        assert_eq!(seen.message_type, "17");
        assert_eq!(seen.signer, current, "RenewalReq is signed with the current certificate");
        let issued = CertificateRef::parse(client.certificate().unwrap()).unwrap();
        assert_eq!(issued.spki().as_der(), &spki[..]);
    }
}

/// An EC device key enrolls with a KARI reply (the envelope made by `openssl cms -encrypt` to
/// the device's self-signed certificate), through the agree step. OpenSSL's default KDF is
/// `dhSinglePass-stdDH-sha1kdf-scheme`: opened with feature `sha1`, refused without it (a typed
/// error, before the device key is asked for the ECDH); the SHA-256 KDF opens in every build.
#[test]
fn ec_device_key_opens_a_kari_reply_through_the_agree_step() {
    for kdf in ["", "sha256"] {
        let mut fx = Fixture::new();
        let mut key = DeviceKey::Ec(SoftP256Key::generate(&mut rng(77)));
        let spki = key.spki();
        let fp = fx.fingerprint();
        let mut st = Storage::new();
        let mut client = Client::new(config(&fp, &spki), Operation::Enroll(enroll_csr()), st.buffers(), rng(9)).unwrap();
        let reply = Reply::Pki(Box::new(move |fx, seen| {
            let issued = fx.issue(seen, 1001);
            let opt = format!("ecdh_kdf_md:{kdf}");
            // `-keyopt` applies to the `-recip` before it.
            let signer = fx.path("signer.pem");
            let mut args = vec!["-aes128", "-recip", s(&signer)];
            if !kdf.is_empty() {
                args.extend_from_slice(&["-keyopt", &opt]);
            }
            let env = fx.openssl_envelope(seen, &[&issued], &args);
            fx.certrep(seen, "0", &env, &[], None)
        }));
        let mut q: VecDeque<Reply> = [caps(CAPS), Reply::CaCert, reply].into_iter().collect();
        let (mut now, mut log) = (Instant::ZERO, Vec::new());
        let o = drive(&mut client, &mut fx, &mut key, &mut q, &mut now, &mut log, 512);
        if kdf.is_empty() && !cfg!(feature = "sha1") {
            assert_eq!(o, Outcome::InvalidReply(ReplyError::Envelope(CmsError::Decrypt(CryptoError::UnsupportedAlgorithm))), "{log:?}");
            assert_eq!(&log[log.len() - 2..], ["POST PKIOperation 19", "done InvalidReply(Envelope(Decrypt(UnsupportedAlgorithm)))"]);
            continue;
        }
        assert_eq!(o, Outcome::Issued, "kdf {kdf:?}: {log:?}");
        assert_eq!(&log[log.len() - 3..], ["POST PKIOperation 19", "agree", "done Issued"]);
        assert_eq!(CertificateRef::parse(client.certificate().unwrap()).unwrap().spki().as_der(), &spki[..]);
    }
}

/// An EC device key enrolls with a PWRI reply under the configured password. OpenSSL's
/// PasswordRecipientInfo uses PBKDF2's default PRF, HMAC-SHA1: opened with feature `sha1`,
/// refused with a typed error without it.
#[test]
fn ec_device_key_opens_a_pwri_reply_with_the_configured_password() {
    let mut fx = Fixture::new();
    let mut key = DeviceKey::Ec(SoftP256Key::generate(&mut rng(78)));
    let spki = key.spki();
    let fp = fx.fingerprint();
    let mut cfg = config(&fp, &spki);
    cfg.envelope_password = Some(b"secret");
    let mut st = Storage::new();
    let mut client = Client::new(cfg, Operation::Enroll(enroll_csr()), st.buffers(), rng(9)).unwrap();
    let reply = Reply::Pki(Box::new(|fx, seen| {
        let issued = fx.issue(seen, 1001);
        let env = fx.openssl_envelope(seen, &[&issued], &["-aes256", "-pwri_password", "secret"]);
        fx.certrep(seen, "0", &env, &[], None)
    }));
    let mut q: VecDeque<Reply> = [caps(CAPS), Reply::CaCert, reply].into_iter().collect();
    let (mut now, mut log) = (Instant::ZERO, Vec::new());
    let o = drive(&mut client, &mut fx, &mut key, &mut q, &mut now, &mut log, 512);
    if cfg!(feature = "sha1") {
        assert_eq!(o, Outcome::Issued, "{log:?}");
        assert_eq!(&log[log.len() - 2..], ["POST PKIOperation 19", "done Issued"]);
    } else {
        assert_eq!(o, Outcome::InvalidReply(ReplyError::Envelope(CmsError::Decrypt(CryptoError::UnsupportedAlgorithm))), "{log:?}");
    }
}

#[test]
fn a_snapshot_taken_in_pending_resumes_in_a_new_client_and_finishes() {
    let mut fx = Fixture::new();
    let mut key = DeviceKey::rsa(&fx, "dev.key");
    let spki = key.spki();
    let fp = fx.fingerprint();
    let policy = RetryPolicy::new(Duration::from_secs(60), 2, Duration::from_secs(600), 10, Duration::from_secs(86_400));
    let mut cfg = config(&fp, &spki);
    cfg.retry = policy;
    let mut record = [0u8; MAX_SNAPSHOT_LEN];
    let (record, tx, deadline) = {
        let mut st = Storage::new();
        let mut client = Client::new(cfg, Operation::Enroll(enroll_csr()), st.buffers(), rng(9)).unwrap();
        let mut q: VecDeque<Reply> = [caps(CAPS), Reply::CaCert, pending()].into_iter().collect();
        let mut now = Instant::from_millis(5_000);
        let mut deadline = None;
        for _ in 0..20 {
            match client.poll(now).unwrap() {
                Step::Wait(t) => {
                    deadline = Some(t);
                    break;
                }
                Step::Send(b) => {
                    let req = b.to_vec();
                    let resp = fx.answer(&req, q.pop_front().unwrap());
                    client.handle_response_data(now, &resp).unwrap();
                }
                Step::Sign(req) => {
                    let DeviceKey::Rsa(k) = &mut key else { unreachable!() };
                    let mut sig = [0u8; 256];
                    let n = k.sign_prehash(&req.digest, &mut sig).unwrap();
                    client.signed(now, &sig[..n]).unwrap();
                }
                other => panic!("unexpected {other:?}"),
            }
            now = now + Duration::from_millis(10);
        }
        let deadline = deadline.expect("PENDING gives a wait");
        let n = client.snapshot(&mut record).unwrap().expect("a pending transaction to save").len();
        assert!(n < 400, "a snapshot is a few hundred bytes at most ({n})");
        (record[..n].to_vec(), client.transaction_id().to_string(), deadline)
    };
    // "Reboot": a new client from the record, same configuration.
    let mut st = Storage::new();
    let mut client =
        Client::resume(cfg, Operation::Enroll(enroll_csr()), st.buffers(), rng(10), &record, Instant::from_millis(6_000)).unwrap();
    assert_eq!(client.transaction_id(), tx);
    assert!(matches!(client.poll(Instant::from_millis(6_000)).unwrap(), Step::Wait(t) if t == deadline));
    let mut q: VecDeque<Reply> = [Reply::CaCert, success()].into_iter().collect();
    let (mut now, mut log) = (Instant::from_millis(6_000), Vec::new());
    let o = drive(&mut client, &mut fx, &mut key, &mut q, &mut now, &mut log, 333);
    assert_eq!(o, Outcome::Issued, "{log:?}");
    assert_eq!(
        log,
        [
            "wait 59s",
            "GET GetCACert",
            "sign SignerCertificate Requested",
            "sign Message Requested",
            "POST PKIOperation 20",
            "decrypt",
            "done Issued"
        ]
    );
    assert_eq!(fx.seen.last().unwrap().transaction_id, tx, "the same transaction is polled");
    // A damaged record is reported, not half-used.
    let mut bad = record.clone();
    bad[20] ^= 1;
    let mut st = Storage::new();
    assert!(matches!(
        Client::resume(cfg, Operation::Enroll(enroll_csr()), st.buffers(), rng(10), &bad, Instant::ZERO),
        Err(ClientError::Snapshot(_))
    ));
}

#[test]
fn a_resumed_transaction_refuses_a_different_ca() {
    let mut fx = Fixture::new();
    let mut key = DeviceKey::rsa(&fx, "dev.key");
    let spki = key.spki();
    let fp = fx.fingerprint();
    let cfg = config(&fp, &spki);
    let p = embedded_enroll::scep::snapshot::PendingTransaction {
        request: embedded_enroll::scep::message::MessageType::PkcsReq,
        choice: embedded_enroll::scep::CaCaps::parse(CAPS.as_bytes()).choose(&Default::default()).unwrap(),
        transaction_id: "TX".try_into().unwrap(),
        sender_nonce: [1; 16],
        retry_started: Instant::ZERO,
        retry_attempts: 1,
        next_poll: Instant::from_millis(1),
        ca_fingerprint: [9; 32],
        subject: heapless::Vec::from_slice(&[0x30, 0]).unwrap(),
    };
    let mut rec = [0u8; MAX_SNAPSHOT_LEN];
    let rec = p.encode(&mut rec).unwrap().to_vec();
    let mut st = Storage::new();
    let mut client = Client::resume(cfg, Operation::Enroll(enroll_csr()), st.buffers(), rng(1), &rec, Instant::from_millis(5)).unwrap();
    let mut q: VecDeque<Reply> = [Reply::CaCert].into_iter().collect();
    let (mut now, mut log) = (Instant::from_millis(5), Vec::new());
    let o = drive(&mut client, &mut fx, &mut key, &mut q, &mut now, &mut log, 100);
    assert_eq!(o, Outcome::Ca(embedded_enroll::error::ScepError::UntrustedCa(None)));
}

#[test]
fn a_transport_error_while_polling_counts_as_a_poll_and_outside_it_ends_the_client() {
    let mut fx = Fixture::new();
    let mut key = DeviceKey::rsa(&fx, "dev.key");
    let spki = key.spki();
    let fp = fx.fingerprint();
    let mut st = Storage::new();
    let mut client = Client::new(config(&fp, &spki), Operation::GetCaCaps, st.buffers(), rng(9)).unwrap();
    assert!(matches!(client.poll(Instant::ZERO).unwrap(), Step::Send(_)));
    client.handle_transport_error(Instant::ZERO).unwrap();
    assert!(matches!(client.poll(Instant::ZERO).unwrap(), Step::Done(Outcome::Transport(TransportFailure::Unspecified))));

    let policy = RetryPolicy::new(Duration::from_secs(10), 1, Duration::from_secs(10), 4, Duration::from_secs(3600));
    let mut cfg = config(&fp, &spki);
    cfg.retry = policy;
    let mut st = Storage::new();
    let mut client = Client::new(cfg, Operation::Enroll(enroll_csr()), st.buffers(), rng(9)).unwrap();
    let mut q: VecDeque<Reply> = [caps(CAPS), Reply::CaCert, pending(), pending()].into_iter().collect();
    let mut now = Instant::ZERO;
    let mut waits = 0;
    let mut failed_once = false;
    for _ in 0..40 {
        match client.poll(now).unwrap() {
            Step::Send(b) => {
                let req = b.to_vec();
                if waits == 1 && !failed_once {
                    failed_once = true;
                    client.handle_transport_error(now).unwrap();
                    continue;
                }
                let Some(r) = q.pop_front() else { break };
                let resp = fx.answer(&req, r);
                client.handle_response_data(now, &resp).unwrap();
            }
            Step::Sign(req) => {
                let DeviceKey::Rsa(k) = &mut key else { unreachable!() };
                let mut sig = [0u8; 256];
                let n = k.sign_prehash(&req.digest, &mut sig).unwrap();
                client.signed(now, &sig[..n]).unwrap();
            }
            Step::Wait(t) => {
                waits += 1;
                now = t;
                if waits == 3 {
                    break;
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(failed_once);
    assert_eq!(waits, 3, "after the failed poll the client waited again instead of ending");
    // Polls scheduled: after the PENDING, after the failed poll, after the second PENDING.
    assert_eq!(client.pending_attempts(), 3);
    assert_eq!(fx.seen.len(), 2, "the failed poll never reached the CA");
}

#[test]
fn calls_out_of_order_are_typed_errors_and_change_nothing() {
    let fx = Fixture::new();
    let mut key = DeviceKey::rsa(&fx, "dev.key");
    let spki = key.spki();
    let fp = fx.fingerprint();
    let mut st = Storage::new();
    let mut client = Client::new(config(&fp, &spki), Operation::Enroll(enroll_csr()), st.buffers(), rng(9)).unwrap();
    let now = Instant::ZERO;
    assert_eq!(client.signed(now, &[0; 256]), Err(ClientError::UnexpectedCall));
    assert_eq!(client.decrypted(now, &[0; 16]), Err(ClientError::UnexpectedCall));
    assert_eq!(client.agreed(now, &[0; 32]), Err(ClientError::UnexpectedCall));
    let first = match client.poll(now).unwrap() {
        Step::Send(b) => b.to_vec(),
        other => panic!("{other:?}"),
    };
    // Polling again before any response byte repeats the request.
    assert!(matches!(client.poll(now).unwrap(), Step::Send(b) if b == first.as_slice()));
    assert_eq!(client.signed(now, &[0; 256]), Err(ClientError::UnexpectedCall));
    // Half a response: polling now is out of order.
    client.handle_response_data(now, b"HTTP/1.1 200 OK\r\n").unwrap();
    assert!(matches!(client.poll(now), Err(ClientError::UnexpectedCall)));
    client.handle_response_data(now, b"Content-Length: 11\r\n\r\nAES SHA-256").unwrap();
    // Next: GetCACert.
    assert!(matches!(client.poll(now).unwrap(), Step::Send(b) if b.starts_with(b"GET /scep?operation=GetCACert HTTP/1.1\r\n")));
    assert_eq!(client.algorithms().unwrap().cipher, CbcCipher::Aes128);
    // A signature of the wrong length ends the client with a typed error.
    let resp = http("200 OK", "application/x-x509-ca-cert", &fx.ca_der);
    client.handle_response_data(now, &resp).unwrap();
    assert!(matches!(client.poll(now).unwrap(), Step::Sign(_)));
    assert_eq!(client.signed(now, &[0; 10]), Err(ClientError::Answer));
    assert_eq!(client.poll(now).err(), Some(ClientError::Answer));
}

#[test]
fn buffers_too_small_are_named() {
    let fx = Fixture::new();
    let mut key = DeviceKey::rsa(&fx, "dev.key");
    let spki = key.spki();
    let fp = fx.fingerprint();
    let (mut ca, mut own, mut work, mut io) = (vec![0u8; 100], vec![0u8; 4096], vec![0u8; 8192], vec![0u8; 8192]);
    let bufs = Buffers { ca: &mut ca, own: &mut own, work: &mut work, io: &mut io };
    let mut client = Client::new(config(&fp, &spki), Operation::GetCaCertificates, bufs, rng(9)).unwrap();
    let now = Instant::ZERO;
    assert!(matches!(client.poll(now).unwrap(), Step::Send(_)));
    client.handle_response_data(now, &http("200 OK", "text/plain", b"AES")).unwrap();
    assert!(matches!(client.poll(now).unwrap(), Step::Send(_)));
    client.handle_response_data(now, &http("200 OK", "application/x-x509-ca-cert", &fx.ca_der)).unwrap();
    assert!(matches!(client.poll(now), Err(ClientError::BufferTooSmall { buffer: "ca", .. })));
    // An `io` buffer that cannot hold the response: a typed HTTP outcome.
    let (mut ca, mut own, mut work, mut io) = (vec![0u8; 4096], vec![0u8; 4096], vec![0u8; 8192], vec![0u8; 300]);
    let bufs = Buffers { ca: &mut ca, own: &mut own, work: &mut work, io: &mut io };
    let mut client = Client::new(config(&fp, &spki), Operation::GetCaCertificates, bufs, rng(9)).unwrap();
    assert!(matches!(client.poll(now).unwrap(), Step::Send(_)));
    client.handle_response_data(now, &http("200 OK", "text/plain", b"AES")).unwrap();
    assert!(matches!(client.poll(now).unwrap(), Step::Send(_)));
    client.handle_response_data(now, &http("200 OK", "application/x-x509-ca-cert", &fx.ca_der)).unwrap();
    assert!(matches!(client.poll(now).unwrap(), Step::Done(Outcome::Http(embedded_enroll::error::HttpError::BodyTooLarge { .. }))));
}

// ---------------------------------------------------------------- GetCert, GetCRL, GetNextCACert

fn holder(fx: &Fixture) -> Vec<u8> {
    openssl(&["req", "-new", "-key", s(&fx.path("dev.key")), "-subj", "/CN=holder", "-out", s(&fx.path("holder.csr"))]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        s(&fx.path("holder.csr")),
        "-CA",
        s(&fx.path("ca.pem")),
        "-CAkey",
        s(&fx.path("ca.key")),
        "-set_serial",
        "4660",
        "-days",
        "5",
        "-out",
        s(&fx.path("holder.pem")),
    ]);
    cert_der(&fx.path("holder.pem"))
}

#[test]
fn getcert_fetches_the_certificate_with_the_serial_asked_for() {
    let mut fx = Fixture::new();
    let mut key = DeviceKey::rsa(&fx, "dev.key");
    let spki = key.spki();
    let fp = fx.fingerprint();
    let mine = holder(&fx);
    let serial = CertificateRef::parse(&mine).unwrap().serial().to_vec();
    let mut st = Storage::new();
    let op = Operation::GetCert { certificate: &mine, serial: &serial };
    let mut client = Client::new(config(&fp, &spki), op, st.buffers(), rng(9)).unwrap();
    let reply = Reply::Pki(Box::new(|fx, seen| {
        // IssuerAndSerialNumber: the CA's name and the serial.
        let t = Tlv::parse_exact(&seen.content).unwrap();
        let mut c = t.children();
        assert_eq!(c.next().unwrap().unwrap().raw, CertificateRef::parse(&fx.ca_der).unwrap().subject().as_der());
        assert_eq!(c.next().unwrap().unwrap().value, &[0x12, 0x34]);
        let holder = cert_der(&fx.path("holder.pem"));
        let ca = fx.ca_der.clone();
        let env = fx.ktri_to_signer(seen, &[&ca, &holder], &[]);
        fx.certrep(seen, "0", &env, &[], None)
    }));
    let mut q: VecDeque<Reply> = [caps(CAPS), Reply::CaCert, reply].into_iter().collect();
    let (mut now, mut log) = (Instant::ZERO, Vec::new());
    let o = drive(&mut client, &mut fx, &mut key, &mut q, &mut now, &mut log, 200);
    assert_eq!(o, Outcome::Certificate, "{log:?}");
    assert_eq!(log[2..], ["sign Message Certificate", "POST PKIOperation 21", "decrypt", "done Certificate"]);
    assert_eq!(client.certificate().unwrap(), &mine[..]);
}

#[test]
fn getcrl_fetches_the_crl_made_by_openssl() {
    let mut fx = Fixture::new();
    let mut key = DeviceKey::rsa(&fx, "dev.key");
    let spki = key.spki();
    let fp = fx.fingerprint();
    let mine = holder(&fx);
    std::fs::write(fx.path("index.txt"), "").unwrap();
    std::fs::write(fx.path("crlnumber"), "01\n").unwrap();
    std::fs::write(
        fx.path("ca.cnf"),
        format!(
            "[ca]\ndefault_ca = d\n[d]\ndatabase = {}\ncrlnumber = {}\ndefault_md = sha256\ndefault_crl_days = 7\n",
            s(&fx.path("index.txt")),
            s(&fx.path("crlnumber"))
        ),
    )
    .unwrap();
    openssl(&[
        "ca",
        "-gencrl",
        "-config",
        s(&fx.path("ca.cnf")),
        "-keyfile",
        s(&fx.path("ca.key")),
        "-cert",
        s(&fx.path("ca.pem")),
        "-out",
        s(&fx.path("crl.pem")),
    ]);
    let crl = openssl(&["crl", "-in", s(&fx.path("crl.pem")), "-outform", "DER"]);
    let mut st = Storage::new();
    let mut client = Client::new(config(&fp, &spki), Operation::GetCrl { certificate: &mine }, st.buffers(), rng(9)).unwrap();
    let crl2 = crl.clone();
    let reply = Reply::Pki(Box::new(move |fx, seen| {
        let env = fx.ktri_to_signer(seen, &[], &[&crl2]);
        fx.certrep(seen, "0", &env, &[], None)
    }));
    let mut q: VecDeque<Reply> = [caps(CAPS), Reply::CaCert, reply].into_iter().collect();
    let (mut now, mut log) = (Instant::ZERO, Vec::new());
    let o = drive(&mut client, &mut fx, &mut key, &mut q, &mut now, &mut log, 200);
    assert_eq!(o, Outcome::Crl, "{log:?}");
    assert_eq!(fx.seen[0].message_type, "22");
    assert_eq!(client.crl().unwrap(), &crl[..]);
}

#[test]
fn getnextcacert_is_accepted_only_when_signed_by_the_current_ca() {
    for genuine in [true, false] {
        let mut fx = Fixture::new();
        let mut key = DeviceKey::rsa(&fx, "dev.key");
        let spki = key.spki();
        let fp = fx.fingerprint();
        openssl_self_signed_rsa(&fx.path("next.key"), &fx.path("next.pem"), "/O=Fixture/CN=Fixture SCEP CA 2");
        let next = cert_der(&fx.path("next.pem"));
        let mut p7 = vec![0u8; 8192];
        std::fs::write(fx.path("next.p7b"), build_certs_only(&[&next], &[], &mut p7).unwrap()).unwrap();
        let (signer, signer_key) = if genuine { ("ca.pem", "ca.key") } else { ("next.pem", "next.key") };
        let reply = openssl(&[
            "cms",
            "-sign",
            "-nodetach",
            "-binary",
            "-outform",
            "DER",
            "-in",
            s(&fx.path("next.p7b")),
            "-signer",
            s(&fx.path(signer)),
            "-inkey",
            s(&fx.path(signer_key)),
            "-md",
            "sha256",
        ]);
        let mut st = Storage::new();
        let mut client = Client::new(config(&fp, &spki), Operation::GetNextCaCertificates, st.buffers(), rng(9)).unwrap();
        let mut q: VecDeque<Reply> =
            [caps(CAPS), Reply::CaCert, Reply::Raw(http("200 OK", "application/x-x509-next-ca-cert", &reply))].into_iter().collect();
        let (mut now, mut log) = (Instant::ZERO, Vec::new());
        let o = drive(&mut client, &mut fx, &mut key, &mut q, &mut now, &mut log, 200);
        assert_eq!(log[2], "GET GetNextCACert");
        if genuine {
            assert_eq!(o, Outcome::NextCa);
            let certs: Vec<_> = client.next_ca_certificates().unwrap().certificates().map(|c| c.as_der().to_vec()).collect();
            assert_eq!(certs, vec![next]);
        } else {
            assert!(matches!(o, Outcome::Ca(embedded_enroll::error::ScepError::NextCaNotSignedByCurrent(_))), "{o:?}");
            assert!(client.next_ca_certificates().is_none());
        }
    }
}

// ---------------------------------------------------------------- the lifecycle runner

mod runner {
    //! The lifecycle runner ([`embedded_enroll::lifecycle::runner`]) driving the SCEP client
    //! against the fixture CA through a reboot: the key generated for the job and a PENDING
    //! transaction are persisted, and the next boot goes on with the same key and transaction.
    use super::*;
    use embedded_enroll::Duration;
    use embedded_enroll::hal::{ErrorKind, KeySlots, KeyType, RamStore, StateStore};
    use embedded_enroll::lifecycle::runner::{Device, Event, Flow, Runner, Settings, StaticMemory};
    use embedded_enroll::lifecycle::{Auth, KeyPolicy, Profile, Protocol, RenewalPolicy, RolloverPolicy, Trust};
    use embedded_enroll::time::UnixTime;
    use embedded_enroll::transport::TransportFailure;
    use embedded_enroll::transport::blocking::{Connect, Network, Timer};
    use std::cell::RefCell;
    use std::rc::Rc;

    /// The fixture CA behind a scripted list of replies, one per connection.
    #[derive(Clone)]
    struct FixtureNet {
        fx: Rc<RefCell<Fixture>>,
        replies: Rc<RefCell<VecDeque<Reply>>>,
        /// "METHOD operation [messageType]" per request.
        log: Rc<RefCell<Vec<String>>>,
    }

    struct Conn<'a> {
        net: &'a FixtureNet,
        request: Vec<u8>,
        response: Option<Vec<u8>>,
        at: usize,
    }

    impl embedded_io::ErrorType for Conn<'_> {
        type Error = embedded_io::ErrorKind;
    }
    impl embedded_io::Write for Conn<'_> {
        fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
            self.request.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> Result<(), Self::Error> {
            Ok(())
        }
    }
    impl embedded_io::Read for Conn<'_> {
        fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
            if self.response.is_none() {
                let reply = self.net.replies.borrow_mut().pop_front().unwrap_or_else(|| {
                    panic!("no reply scripted for {:?} after {:?}", String::from_utf8_lossy(&self.request[..60]), self.net.log.borrow())
                });
                let (method, query, _) = parse_request(&self.request);
                let op = String::from_utf8(query[0].1.clone()).unwrap();
                let mut fx = self.net.fx.borrow_mut();
                let resp = fx.answer(&self.request, reply);
                let mt = if op == "PKIOperation" { format!(" {}", fx.seen.last().unwrap().message_type) } else { String::new() };
                self.net.log.borrow_mut().push(format!("{method} {op}{mt}"));
                self.response = Some(resp);
            }
            let resp = self.response.as_ref().unwrap();
            let n = buf.len().min(resp.len() - self.at);
            buf[..n].copy_from_slice(&resp[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    #[cfg(feature = "async")]
    impl embedded_io_async::Write for Conn<'_> {
        async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
            embedded_io::Write::write(self, buf)
        }
        async fn flush(&mut self) -> Result<(), Self::Error> {
            Ok(())
        }
    }
    #[cfg(feature = "async")]
    impl embedded_io_async::Read for Conn<'_> {
        async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
            embedded_io::Read::read(self, buf)
        }
    }

    struct Connector<'a>(&'a FixtureNet);
    #[cfg(feature = "async")]
    impl embedded_enroll::transport::asynch::AsyncConnect for Connector<'_> {
        type Connection<'c>
            = Conn<'c>
        where
            Self: 'c;
        type Error = ();
        async fn connect(&mut self) -> Result<Conn<'_>, ()> {
            Ok(Conn { net: self.0, request: Vec::new(), response: None, at: 0 })
        }
    }
    #[cfg(feature = "async")]
    impl embedded_enroll::transport::asynch::AsyncNetwork for FixtureNet {
        type Connector<'a> = Connector<'a>;
        fn connector(&mut self, server: &str) -> Result<Connector<'_>, TransportFailure> {
            assert_eq!(server, "127.0.0.1:8080");
            Ok(Connector(self))
        }
    }
    impl Connect for Connector<'_> {
        type Connection<'c>
            = Conn<'c>
        where
            Self: 'c;
        type Error = ();
        fn connect(&mut self) -> Result<Conn<'_>, ()> {
            Ok(Conn { net: self.0, request: Vec::new(), response: None, at: 0 })
        }
    }
    impl Network for FixtureNet {
        type Connector<'a> = Connector<'a>;
        fn connector(&mut self, server: &str) -> Result<Connector<'_>, TransportFailure> {
            assert_eq!(server, "127.0.0.1:8080");
            Ok(Connector(self))
        }
    }

    /// RSA-2048 keys in two slots, kept across "reboots" (a secure element).
    #[derive(Default, Clone)]
    struct Keys {
        slots: Rc<RefCell<[Option<RsaPrivateKey2048>; 2]>>,
        generated: Rc<RefCell<u32>>,
    }
    impl KeySlots for Keys {
        fn key_type(&self, slot: u8) -> Option<KeyType> {
            self.slots.borrow()[usize::from(slot)].as_ref().map(|_| KeyType::Rsa { bits: 2048 })
        }
        fn generate(&mut self, slot: u8, rng: &mut dyn rand_core::CryptoRngCore) -> Result<(), ErrorKind> {
            *self.generated.borrow_mut() += 1;
            self.slots.borrow_mut()[usize::from(slot)] = Some(RsaPrivateKey2048::generate(&mut &mut *rng).map_err(|_| ErrorKind::Other)?);
            Ok(())
        }
        fn public_key_der(&mut self, slot: u8, out: &mut [u8]) -> Result<usize, ErrorKind> {
            let mut s = self.slots.borrow_mut();
            s[usize::from(slot)].as_mut().ok_or(ErrorKind::NotFound)?.public_key_der(out).map_err(|_| ErrorKind::BufferTooSmall)
        }
        fn sign(&mut self, slot: u8, digest: &embedded_enroll::crypto::Digest, out: &mut [u8]) -> Result<usize, ErrorKind> {
            let mut s = self.slots.borrow_mut();
            s[usize::from(slot)].as_mut().ok_or(ErrorKind::NotFound)?.sign_prehash(digest, out).map_err(|_| ErrorKind::Other)
        }
        fn decrypt(&mut self, slot: u8, ciphertext: &[u8], out: &mut [u8]) -> Result<(), ErrorKind> {
            let mut s = self.slots.borrow_mut();
            s[usize::from(slot)].as_mut().ok_or(ErrorKind::NotFound)?.decrypt_pkcs1v15(ciphertext, out).map_err(|_| ErrorKind::Other)
        }
    }

    /// A virtual monotonic clock: sleeps move it.
    struct VirtualTimer(Instant);
    #[cfg(feature = "async")]
    impl embedded_enroll::transport::asynch::AsyncTimer for VirtualTimer {
        fn now(&mut self) -> Instant {
            self.0
        }
        async fn sleep_until(&mut self, deadline: Instant) -> bool {
            self.0 = self.0.max(deadline);
            true
        }
    }
    impl Timer for VirtualTimer {
        fn now(&mut self) -> Instant {
            self.0
        }
        fn sleep_until(&mut self, deadline: Instant) -> bool {
            self.0 = self.0.max(deadline);
            true
        }
    }

    struct WallClock;
    impl embedded_enroll::hal::Clock for WallClock {
        fn now(&mut self) -> Option<UnixTime> {
            Some(UnixTime::from_secs(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64))
        }
    }

    type Store = RamStore<2, { embedded_enroll::lifecycle::record::MAX_RECORD_LEN }>;

    /// One boot: a runner from `store`, run until `stop` says so; the events as text.
    fn boot(
        asynchronous: bool,
        profile: &Profile<'_, Settings<'_>>,
        store: &mut Store,
        keys: &Keys,
        net: &FixtureNet,
        mut stop: impl FnMut(&Event<'_>) -> bool,
    ) -> (Vec<String>, Option<Vec<u8>>) {
        let mut memory = Box::new(StaticMemory::new());
        let device = Device {
            keys: keys.clone(),
            store: &mut *store,
            network: net.clone(),
            clock: WallClock,
            timer: VirtualTimer(Instant::from_millis(0)),
            rng: rng(77),
        };
        let mut runner = Runner::new(profile, device, memory.memory()).expect("restores");
        let mut events = Vec::new();
        let mut steps = 0;
        let handler = |e: &Event<'_>| {
            steps += 1;
            assert!(steps < 200, "no progress: {events:#?}");
            events.push(match e {
                Event::Progress(_) => "progress".to_string(),
                Event::Pending { transaction_id, attempts, .. } => format!("pending {transaction_id} {attempts}"),
                Event::JobStarted { kind, resumed, .. } => format!("job {kind:?} resumed={resumed}"),
                Event::Activated { slot, .. } => format!("activated {slot:?}"),
                other => format!("{other:?}").chars().take(40).collect(),
            });
            if stop(e) { Flow::Stop } else { Flow::Continue }
        };
        if asynchronous {
            #[cfg(feature = "async")]
            futures_lite::future::block_on(runner.run_async(handler)).unwrap();
        } else {
            runner.run(handler).unwrap();
        }
        let identity = runner.manager().identity().map(|(_, c)| c.to_vec());
        events.retain(|e| e != "progress");
        (events, identity)
    }

    #[test]
    fn a_pending_enrollment_survives_a_reboot_with_the_same_key_and_transaction() {
        pending_enrollment_survives_a_reboot(false);
    }

    /// The async runner: the same steps, awaited.
    #[cfg(feature = "async")]
    #[test]
    fn the_async_runner_resumes_a_pending_enrollment_after_a_reboot() {
        pending_enrollment_survives_a_reboot(true);
    }

    fn pending_enrollment_survives_a_reboot(asynchronous: bool) {
        let fx = Fixture::new();
        let fp = fx.fingerprint();
        let net = FixtureNet {
            fx: Rc::new(RefCell::new(fx)),
            replies: Rc::new(RefCell::new(VecDeque::from([caps(CAPS), Reply::CaCert, pending()]))),
            log: Rc::default(),
        };
        let subject = SUBJECT;
        let mut settings = Settings::DEFAULT;
        settings.retry.initial = Duration::from_secs(60);
        let profile = Profile {
            name: "device",
            protocol: Protocol::Scep,
            server: "127.0.0.1:8080",
            key_slots: [0, 1],
            store_slots: [0, 1],
            trust: Trust::Fingerprint(fp),
            subject,
            alt_names: &[],
            auth: Auth::Challenge("secret"),
            renewal: RenewalPolicy::DEFAULT,
            keys: KeyPolicy::SameKey,
            rollover: RolloverPolicy::DEFAULT,
            extra: settings,
        };
        let mut store = Store::new();
        let keys = Keys::default();

        // Boot 1: key generated and persisted, PKCSReq answered PENDING, the transaction
        // persisted; the power goes at the first PENDING.
        let (events, identity) = boot(asynchronous, &profile, &mut store, &keys, &net, |e| matches!(e, Event::Pending { .. }));
        assert!(identity.is_none());
        assert_eq!(*keys.generated.borrow(), 1, "{events:#?}");
        let pkcsreq = net.fx.borrow().seen.last().unwrap().clone();
        assert_eq!(pkcsreq.message_type, "19");
        assert!(events.iter().any(|e| e == &format!("pending {} 1", pkcsreq.transaction_id)), "{events:#?}");
        let slot = |i: u8| {
            let mut b = vec![0u8; 10000];
            let n = store.clone().load(i, &mut b).unwrap();
            b.truncate(n);
            b
        };
        let (a, b) = (slot(0), slot(1));
        let stored =
            embedded_enroll::lifecycle::record::select(&[&a, &b]).unwrap().record.unwrap().1.job.expect("the job is in the record");
        assert!(!stored.transaction.is_empty(), "the PENDING transaction is in the record");

        // Boot 2: the same transaction is polled (CertPoll, same ID, after the CA certificate
        // is fetched again), no new key, issued.
        net.replies.borrow_mut().extend([Reply::CaCert, success()]);
        let (events, identity) = boot(asynchronous, &profile, &mut store, &keys, &net, |e| matches!(e, Event::Activated { .. }));
        assert_eq!(*keys.generated.borrow(), 1, "no new key after the reboot: {events:#?}");
        assert!(events.iter().any(|e| e == "job Enroll resumed=true"), "{events:#?}");
        let poll = net.fx.borrow().seen.last().unwrap().clone();
        assert_eq!(poll.message_type, "20", "a CertPoll");
        assert_eq!(poll.transaction_id, pkcsreq.transaction_id, "the same transaction");
        let cert = identity.expect("enrolled");
        let mut spki = [0u8; 600];
        let n = keys.clone().public_key_der(0, &mut spki).unwrap();
        assert_eq!(CertificateRef::parse(&cert).unwrap().spki().as_der(), &spki[..n], "issued for the key of boot 1");
        assert_eq!(*net.log.borrow(), ["GET GetCACaps", "GET GetCACert", "POST PKIOperation 19", "GET GetCACert", "POST PKIOperation 20"]);

        // Boot 3: restored enrolled, no enrollment (the fixture CA's short life makes the
        // first thing a look for the next CA).
        let (events, identity) = boot(asynchronous, &profile, &mut store, &keys, &net, |_| true);
        assert_eq!(identity.as_deref(), Some(cert.as_slice()));
        assert_eq!(events, ["job FetchNextCa resumed=false"]);
    }

    #[test]
    fn a_reboot_between_key_generation_and_the_request_certifies_the_same_key() {
        let fx = Fixture::new();
        let fp = fx.fingerprint();
        let net = FixtureNet { fx: Rc::new(RefCell::new(fx)), replies: Rc::default(), log: Rc::default() };
        let profile = Profile {
            name: "device",
            protocol: Protocol::Scep,
            server: "127.0.0.1:8080",
            key_slots: [0, 1],
            store_slots: [0, 1],
            trust: Trust::Fingerprint(fp),
            subject: SUBJECT,
            alt_names: &[],
            auth: Auth::Challenge("secret"),
            renewal: RenewalPolicy::DEFAULT,
            keys: KeyPolicy::SameKey,
            rollover: RolloverPolicy::DEFAULT,
            extra: Settings::DEFAULT,
        };
        let mut store = Store::new();
        let keys = Keys::default();
        // Boot 1: the power goes as the job starts (key generated and persisted, nothing sent).
        let (events, _) = boot(false, &profile, &mut store, &keys, &net, |e| matches!(e, Event::JobStarted { .. }));
        assert!(net.log.borrow().is_empty(), "{events:#?}");
        assert_eq!(*keys.generated.borrow(), 1);
        // Boot 2: no new key; the PKCSReq certifies the key of boot 1.
        net.replies.borrow_mut().extend([caps(CAPS), Reply::CaCert, success()]);
        let (events, identity) = boot(false, &profile, &mut store, &keys, &net, |e| matches!(e, Event::Activated { .. }));
        assert_eq!(*keys.generated.borrow(), 1, "{events:#?}");
        let cert = identity.expect("enrolled");
        let mut spki = [0u8; 600];
        let n = keys.clone().public_key_der(0, &mut spki).unwrap();
        assert_eq!(CertificateRef::parse(&cert).unwrap().spki().as_der(), &spki[..n]);
    }
}
