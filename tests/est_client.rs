//! The Sans-IO EST client ([`embedded_enroll::est::client::Client`]) on a virtual clock.
//!
//! 1. **Replays of real servers**: the responses libest 3.2.0p and est-ca 0.2.0 sent in the
//!    captured exchanges of tests/vectors/est/ (see its INDEX.md), fed to the client byte for
//!    byte, with the captured device keys. EST replies carry no nonce, so a captured reply
//!    answers our request as it answered the capture's.
//! 2. **Fixtures** for what the captures lack (clearly ours, every message made by the
//!    OpenSSL CLI or by RustCrypto crates, not by the crate's codecs): a Digest SHA-256
//!    challenge checked with `sha2`, 202 with an HTTP-date, the retry cap, body styles, a
//!    `/csrattrs` that asks for the channel binding, `/cacerts` trust, and a TLS 1.2 server
//!    (`openssl s_server -tls1_2`) reached through the rustls host transport.
//! 3. **Features left out**: without `csrattrs`, `serverkeygen` or `http-digest` the client
//!    refuses what needs them, up front or with a typed outcome, and sends no credentials in
//!    a form the build does not have.
//!
//! Tests of the parts behind `csrattrs`, `serverkeygen` and `http-digest` run with those
//! features; those of section 3 without them (CI's `--features scep,est,soft-keys` run).
#![cfg(all(feature = "est", feature = "soft-keys"))]

mod common;

use common::{cert_der, openssl, s, vector_path};
use embedded_enroll::asn1::cert::CertificateRef;
use embedded_enroll::asn1::csr::{CsrBuilder, CsrRef, NameAttribute};
use embedded_enroll::est::client::{
    Buffers, CaCertsTrust, ChannelBinding, Client, Config, Credentials, Operation, Outcome, ReplyError, Step,
};
use embedded_enroll::hal::Signer;
use embedded_enroll::hal::soft::SoftP256Key;
use embedded_enroll::http::base64::LineStyle;
use embedded_enroll::retry::RetryPolicy;
use embedded_enroll::time::{Duration, Instant, UnixTime};
use embedded_enroll::transport::TransportFailure;
use std::collections::VecDeque;

fn case(server_case: &str, file: &str) -> Vec<u8> {
    std::fs::read(vector_path(&format!("est/{server_case}/{file}"))).unwrap()
}

fn device_key(server_case: &str) -> SoftP256Key {
    let der =
        openssl(&["pkcs8", "-topk8", "-nocrypt", "-in", s(&vector_path(&format!("est/{server_case}/device.key.pem"))), "-outform", "DER"]);
    SoftP256Key::from_pkcs8_der(&der).unwrap()
}

fn spki(key: &mut SoftP256Key) -> Vec<u8> {
    let mut b = [0u8; 96];
    let n = key.public_key_der(&mut b).unwrap();
    b[..n].to_vec()
}

/// What the server side of a transcript does.
#[derive(Default)]
struct Script {
    responses: VecDeque<Vec<u8>>,
    binds: VecDeque<Vec<u8>>,
    requests: Vec<Vec<u8>>,
    log: Vec<String>,
}

/// Runs the client to its end (at most 40 steps) on a virtual clock starting at `start`.
fn drive<R: rand_core::CryptoRngCore>(
    client: &mut Client<'_, '_, R>,
    key: &mut SoftP256Key,
    script: &mut Script,
    start: Instant,
) -> Outcome {
    let mut now = start;
    for _ in 0..40 {
        match client.poll(now).expect("poll") {
            Step::Bind => {
                script.log.push("bind".into());
                let v = script.binds.pop_front().expect("a binding value scripted");
                client.bound(now, &v).unwrap();
            }
            Step::Send(bytes) => {
                let req = bytes.to_vec();
                let line = String::from_utf8_lossy(req.split(|b| *b == b'\r').next().unwrap()).to_string();
                script.log.push(line.clone());
                script.requests.push(req);
                let resp = script.responses.pop_front().unwrap_or_else(|| panic!("no response scripted for {line}"));
                for c in resp.chunks(50) {
                    client.handle_response_data(now, c).unwrap();
                    if client.response_complete() {
                        break;
                    }
                }
                // The servers close after each response.
                client.handle_response_end(now).unwrap();
            }
            Step::Sign(req) => {
                script.log.push("sign".into());
                let mut sig = [0u8; 64];
                let n = key.sign_prehash(&req.digest, &mut sig).unwrap();
                client.signed(now, &sig[..n]).unwrap();
            }
            Step::Wait(until) => {
                assert!(until > now);
                script.log.push(format!("wait {}s", (until - now).as_secs()));
                now = until;
            }
            Step::Done(o) => {
                script.log.push(format!("done {o:?}"));
                return o.clone();
            }
        }
    }
    panic!("no end in 40 steps: {:?}", script.log);
}

struct Storage {
    own: Vec<u8>,
    work: Vec<u8>,
    io: Vec<u8>,
}

impl Storage {
    fn new() -> Self {
        Self { own: vec![0; 2048], work: vec![0; 12288], io: vec![0; 12288] }
    }
    fn buffers(&mut self) -> Buffers<'_> {
        Buffers { own: &mut self.own, work: &mut self.work, io: &mut self.io }
    }
}

/// libest's test user with preemptive Basic, over an authenticated TLS connection.
fn libest_basic_config(spki: &[u8]) -> Config<'_> {
    let mut config = Config::new("127.0.0.1", CaCertsTrust::TlsAuthenticated, spki);
    config.credentials = Some(Credentials { user: "estuser", password: "estpwd", preemptive_basic: true });
    config
}

/// libest's 202 with Retry-After and no length, then its 200 with the certificate.
fn libest_202_then_200() -> Script {
    Script {
        responses: [
            case("libest/simpleenroll-202-retry-after", "response.http"),
            case("libest/simpleenroll-200-after-202", "response.http"),
        ]
        .into(),
        ..Default::default()
    }
}

const SUBJECT: &[NameAttribute<'static>] = &[NameAttribute::common_name("device")];

fn enroll() -> Operation<'static> {
    Operation::Enroll(CsrBuilder::new(SUBJECT))
}

/// The header `name` of a request (first match, case-insensitive).
fn header(req: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(req);
    let head = text.split("\r\n\r\n").next().unwrap().to_string();
    head.lines().find_map(|l| l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim().to_string()))
}

/// The CSR a request carries (its body is base64), checked by `openssl req -verify`.
fn request_csr(req: &[u8]) -> Vec<u8> {
    let start = req.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let dir = tempfile::tempdir().unwrap();
    let one_line: Vec<u8> = req[start..].iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
    std::fs::write(dir.path().join("b64"), [&one_line[..], b"\n"].concat()).unwrap();
    let der = openssl(&["base64", "-d", "-A", "-in", s(&dir.path().join("b64"))]);
    std::fs::write(dir.path().join("csr.der"), &der).unwrap();
    openssl(&["req", "-inform", "DER", "-in", s(&dir.path().join("csr.der")), "-verify", "-noout"]);
    der
}

#[cfg(feature = "http-digest")]
fn md5_hex(s: &str) -> String {
    use md5::Digest;
    md5::Md5::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(feature = "http-digest")]
fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The parameters of a Digest Authorization header.
#[cfg(feature = "http-digest")]
fn digest_params(value: &str) -> std::collections::HashMap<String, String> {
    let rest = value.strip_prefix("Digest ").expect("a Digest answer");
    let mut out = std::collections::HashMap::new();
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=').unwrap();
        out.insert(k.trim().to_string(), v.trim().trim_matches('"').to_string());
    }
    out
}

// ------------------------------------------------------------------ replays of libest / est-ca

#[test]
fn libest_cacerts_is_trusted_by_fingerprint_and_refused_otherwise() {
    let mut key = SoftP256Key::generate(&mut rand::rngs::OsRng);
    let spki = spki(&mut key);
    let ca = cert_der(&vector_path("est/libest/cacerts/ca.pem"));
    let fp = CertificateRef::parse(&ca).unwrap().fingerprint_sha256();
    for (trust, expected) in [
        (CaCertsTrust::Fingerprint(fp), Outcome::CaCerts),
        (CaCertsTrust::Anchor(&ca), Outcome::CaCerts),
        (CaCertsTrust::Fingerprint([7; 32]), Outcome::InvalidReply(ReplyError::UntrustedCaCerts)),
    ] {
        let mut st = Storage::new();
        let mut client = Client::new(Config::new("127.0.0.1", trust, &spki), Operation::CaCerts, st.buffers(), rand::rngs::OsRng).unwrap();
        let mut script = Script { responses: [case("libest/cacerts", "response.http")].into(), ..Default::default() };
        assert_eq!(drive(&mut client, &mut key, &mut script, Instant::ZERO), expected);
        assert_eq!(script.log[0], "GET /.well-known/est/cacerts HTTP/1.1");
        if expected == Outcome::CaCerts {
            assert!(client.certificates().unwrap().certificates().any(|c| c.as_der() == &ca[..]));
        }
    }
}

/// /cacerts under a pinned CA: a root the attacker puts first rides along in the reply, but
/// only the pinned CA and what chains to it are handed back as trusted.
#[test]
fn cacerts_hands_back_only_what_chains_to_the_pinned_ca() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    common::openssl_self_signed_rsa(&p("evil.key"), &p("evil.pem"), "/CN=Attacker Root");
    common::openssl_self_signed_rsa(&p("ca.key"), &p("ca.pem"), "/CN=Pinned Root");
    openssl(&[
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        s(&p("sub.key")),
        "-subj",
        "/CN=Issuing CA",
        "-out",
        s(&p("sub.csr")),
    ]);
    std::fs::write(p("ext"), "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        s(&p("sub.csr")),
        "-CA",
        s(&p("ca.pem")),
        "-CAkey",
        s(&p("ca.key")),
        "-days",
        "5",
        "-extfile",
        s(&p("ext")),
        "-out",
        s(&p("sub.pem")),
    ]);
    let (evil, ca, sub) = (cert_der(&p("evil.pem")), cert_der(&p("ca.pem")), cert_der(&p("sub.pem")));
    openssl(&[
        "crl2pkcs7",
        "-nocrl",
        "-certfile",
        s(&p("evil.pem")),
        "-certfile",
        s(&p("ca.pem")),
        "-certfile",
        s(&p("sub.pem")),
        "-outform",
        "DER",
        "-out",
        s(&p("p7.der")),
    ]);
    let b64 = openssl(&["base64", "-in", s(&p("p7.der"))]);
    let reply = http("200 OK", &[("Content-Type", "application/pkcs7-mime; smime-type=certs-only")], &b64);
    let fp = CertificateRef::parse(&ca).unwrap().fingerprint_sha256();
    let mut key = SoftP256Key::generate(&mut rand::rngs::OsRng);
    let spki = spki(&mut key);
    for (trust, expected) in [
        (CaCertsTrust::Fingerprint(fp), vec![ca.clone(), sub.clone()]),
        (CaCertsTrust::Anchor(&ca), vec![ca.clone(), sub.clone()]),
        (CaCertsTrust::TlsAuthenticated, vec![evil.clone(), ca.clone(), sub.clone()]),
    ] {
        let mut st = Storage::new();
        let mut client = Client::new(Config::new("127.0.0.1", trust, &spki), Operation::CaCerts, st.buffers(), rand::rngs::OsRng).unwrap();
        let mut script = Script { responses: [reply.clone()].into(), ..Default::default() };
        assert_eq!(drive(&mut client, &mut key, &mut script, Instant::ZERO), Outcome::CaCerts);
        let trusted: Vec<Vec<u8>> = client.trusted_ca_certificates().map(|c| c.as_der().to_vec()).collect();
        assert_eq!(trusted, expected, "{trust:?}");
        assert_eq!(client.certificates().unwrap().certificates().count(), 3, "the reply as sent stays readable");
    }
}

#[test]
fn libest_basic_challenge_then_enrollment_with_a_64_column_body() {
    let mut key = device_key("libest/simpleenroll");
    let spki = spki(&mut key);
    let ca = cert_der(&vector_path("est/libest/simpleenroll/ca.pem"));
    let mut config = Config::new("127.0.0.1", CaCertsTrust::TlsAuthenticated, &spki);
    config.credentials = Some(Credentials { user: "estuser", password: "estpwd", preemptive_basic: false });
    config.ca_certificate = Some(&ca);
    let mut st = Storage::new();
    let mut client = Client::new(config, enroll(), st.buffers(), rand::rngs::OsRng).unwrap();
    let mut script = Script {
        responses: [case("libest/simpleenroll-401-basic-no-credentials", "response.http"), case("libest/simpleenroll", "response.http")]
            .into(),
        ..Default::default()
    };
    let o = drive(&mut client, &mut key, &mut script, Instant::ZERO);
    assert_eq!(o, Outcome::Issued, "{:?}", script.log);
    assert_eq!(
        script.log,
        ["sign", "POST /.well-known/est/simpleenroll HTTP/1.1", "POST /.well-known/est/simpleenroll HTTP/1.1", "done Issued"]
    );
    assert_eq!(header(&script.requests[0], "Authorization"), None);
    assert_eq!(header(&script.requests[1], "Authorization").unwrap(), "Basic ZXN0dXNlcjplc3Rwd2Q=");
    assert_eq!(header(&script.requests[1], "Content-Transfer-Encoding").unwrap(), "base64");
    assert_eq!(header(&script.requests[1], "Content-Type").unwrap(), "application/pkcs10");
    // libest needs line breaks: the default body is wrapped at 64 columns.
    let body = &script.requests[1][script.requests[1].windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4..];
    assert!(body.split(|b| *b == b'\n').all(|l| l.len() <= 64) && body.contains(&b'\n'));
    let csr = request_csr(&script.requests[1]);
    assert_eq!(CsrRef::parse(&csr).unwrap().spki().as_der(), &spki[..]);
    assert_eq!(client.certificate().unwrap(), &cert_der(&vector_path("est/libest/simpleenroll/issued.pem"))[..]);
}

#[cfg(feature = "http-digest")]
#[test]
fn libest_digest_challenge_is_answered_with_md5_and_the_enrollment_completes() {
    // The capture's own answer checks out with this test's hash (the oracle is right).
    let ha1 = md5_hex("estuser:estrealm:estpwd");
    let ha2 = md5_hex("POST:/.well-known/est/simpleenroll");
    assert_eq!(md5_hex(&format!("{ha1}:1795877780:00000001:ddf89bde3b67edfa:auth:{ha2}")), "e0fb8db121c8fbaeac508ae6ea1fce88");

    let mut key = device_key("libest/simpleenroll-digest-auth");
    let spki = spki(&mut key);
    let mut config = Config::new("127.0.0.1", CaCertsTrust::TlsAuthenticated, &spki);
    config.credentials = Some(Credentials { user: "estuser", password: "estpwd", preemptive_basic: false });
    let mut st = Storage::new();
    let mut client = Client::new(config, enroll(), st.buffers(), rand::rngs::OsRng).unwrap();
    let mut script = Script {
        responses: [
            case("libest/simpleenroll-401-digest-challenge", "response.http"),
            case("libest/simpleenroll-digest-auth", "response.http"),
        ]
        .into(),
        ..Default::default()
    };
    assert_eq!(drive(&mut client, &mut key, &mut script, Instant::ZERO), Outcome::Issued, "{:?}", script.log);
    let p = digest_params(&header(&script.requests[1], "Authorization").unwrap());
    assert_eq!(p["username"], "estuser");
    assert_eq!(p["realm"], "estrealm");
    assert_eq!(p["nonce"], "1795877780");
    assert_eq!(p["uri"], "/.well-known/est/simpleenroll");
    assert_eq!(p["qop"], "auth");
    assert_eq!(p["nc"], "00000001");
    let expected = md5_hex(&format!("{ha1}:1795877780:{}:{}:auth:{ha2}", p["nc"], p["cnonce"]));
    assert_eq!(p["response"], expected, "our Digest answer is what the server computes");
}

/// A request that carried credentials does not stay in the caller's `io` buffer: it is wiped
/// when its response starts, when the exchange fails, and when the client is dropped.
#[test]
fn requests_with_credentials_are_wiped_from_the_io_buffer() {
    // base64("estuser:estpwd"), as the Basic header carries it (`printf estuser:estpwd | base64`).
    let basic = "ZXN0dXNlcjplc3Rwd2Q=".to_string();
    let contains = |hay: &[u8], needle: &str| hay.windows(needle.len()).any(|w| w == needle.as_bytes());
    // A whole enrollment (202, then the certificate): nothing of the credentials is left.
    let mut key = device_key("libest/simpleenroll-202-retry-after");
    let spki = spki(&mut key);
    let config = libest_basic_config(&spki);
    let mut st = Storage::new();
    {
        let mut client = Client::new(config, enroll(), st.buffers(), rand::rngs::OsRng).unwrap();
        let mut script = libest_202_then_200();
        assert_eq!(drive(&mut client, &mut key, &mut script, Instant::from_millis(500)), Outcome::Issued);
        assert!(script.requests.iter().all(|r| contains(r, &basic)), "the requests did carry the credentials");
    }
    assert!(!contains(&st.io, &basic), "credentials left in io after the enrollment");
    // A transport failure right after the request went out.
    let mut st = Storage::new();
    {
        let mut client = Client::new(config, enroll(), st.buffers(), rand::rngs::OsRng).unwrap();
        let now = Instant::ZERO;
        loop {
            match client.poll(now).unwrap() {
                Step::Sign(req) => {
                    let mut sig = [0u8; 64];
                    let n = key.sign_prehash(&req.digest, &mut sig).unwrap();
                    client.signed(now, &sig[..n]).unwrap();
                }
                Step::Send(req) => {
                    assert!(contains(req, &basic));
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        client.handle_transport_error(now).unwrap();
        assert!(matches!(client.poll(now).unwrap(), Step::Done(Outcome::Transport(TransportFailure::Unspecified))));
        core::mem::forget(client);
    }
    assert!(!contains(&st.io, &basic), "credentials left in io after a transport error (the client not even dropped)");
}

#[test]
fn libest_202_without_length_waits_for_retry_after_then_gets_the_certificate() {
    let mut key = device_key("libest/simpleenroll-202-retry-after");
    let spki = spki(&mut key);
    let config = libest_basic_config(&spki);
    let mut st = Storage::new();
    let mut client = Client::new(config, enroll(), st.buffers(), rand::rngs::OsRng).unwrap();
    let mut script = libest_202_then_200();
    let o = drive(&mut client, &mut key, &mut script, Instant::from_millis(500));
    assert_eq!(o, Outcome::Issued, "{:?}", script.log);
    assert_eq!(
        script.log,
        ["sign", "POST /.well-known/est/simpleenroll HTTP/1.1", "wait 60s", "POST /.well-known/est/simpleenroll HTTP/1.1", "done Issued"]
    );
    assert_eq!(script.requests[0], script.requests[1], "the same request again (no binding to renew)");
    assert_eq!(header(&script.requests[0], "Authorization").unwrap(), "Basic ZXN0dXNlcjplc3Rwd2Q=", "preemptive Basic");
    assert_eq!(client.retries(), 1);
}

#[test]
fn libest_wrong_password_and_est_ca_refusals_are_typed_outcomes() {
    let mut key = device_key("libest/simpleenroll");
    let spki = spki(&mut key);
    let creds = Some(Credentials { user: "estuser", password: "wrong", preemptive_basic: true });
    for (responses, expected) in [
        // libest: a 401 without a challenge after credentials were sent.
        (vec![case("libest/simpleenroll-401-basic-wrong-password", "response.http")], Outcome::Unauthorized),
        // est-ca: 403 with a text body.
        (
            vec![case("est-ca/simpleenroll-403-wrong-password", "response.http")],
            Outcome::HttpStatus { status: 403, text: "bad credentials".try_into().unwrap() },
        ),
        (
            vec![case("libest/simpleenroll-400-base64-one-line", "response.http")],
            Outcome::HttpStatus { status: 400, text: Default::default() },
        ),
    ] {
        let mut config = Config::new("127.0.0.1", CaCertsTrust::TlsAuthenticated, &spki);
        config.credentials = creds;
        let mut st = Storage::new();
        let mut client = Client::new(config, enroll(), st.buffers(), rand::rngs::OsRng).unwrap();
        let mut script = Script { responses: responses.into(), ..Default::default() };
        let o = drive(&mut client, &mut key, &mut script, Instant::ZERO);
        match (&o, &expected) {
            // libest's 400 text is long: only its start is kept, and it is not empty.
            (Outcome::HttpStatus { status: 400, text }, Outcome::HttpStatus { status: 400, .. }) => assert!(!text.is_empty(), "{text}"),
            _ => assert_eq!(o, expected),
        }
        assert!(client.certificate().is_none());
    }
}

#[test]
fn est_ca_enrollment_replays_with_a_one_line_body() {
    let mut key = device_key("est-ca/simpleenroll");
    let spki = spki(&mut key);
    let mut config = Config::new("127.0.0.1", CaCertsTrust::TlsAuthenticated, &spki);
    config.body_style = LineStyle::OneLine;
    config.credentials = Some(Credentials { user: "device", password: "secret", preemptive_basic: true });
    let mut st = Storage::new();
    let mut client = Client::new(config, enroll(), st.buffers(), rand::rngs::OsRng).unwrap();
    let mut script = Script { responses: [case("est-ca/simpleenroll", "response.http")].into(), ..Default::default() };
    assert_eq!(drive(&mut client, &mut key, &mut script, Instant::ZERO), Outcome::Issued);
    let req = &script.requests[0];
    let body = &req[req.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4..];
    assert!(!body.contains(&b'\n') && !body.contains(&b'\r'), "one line, as est-ca demands");
    request_csr(req);
    assert_eq!(client.certificate().unwrap(), &cert_der(&vector_path("est/est-ca/simpleenroll/issued.pem"))[..]);
}

#[cfg(feature = "csrattrs")]
#[test]
fn libest_csrattrs_with_a_trailing_nul_and_a_custom_template() {
    let mut key = device_key("libest/simpleenroll");
    let spki = spki(&mut key);
    for c in ["libest/csrattrs-default", "libest/csrattrs-custom"] {
        let mut st = Storage::new();
        let cfg = Config::new("127.0.0.1", CaCertsTrust::TlsAuthenticated, &spki);
        let mut client = Client::new(cfg, Operation::CsrAttrs, st.buffers(), rand::rngs::OsRng).unwrap();
        let mut script = Script { responses: [case(c, "response.http")].into(), ..Default::default() };
        assert_eq!(drive(&mut client, &mut key, &mut script, Instant::ZERO), Outcome::CsrAttrs);
        let der = client.csr_attributes().unwrap().to_vec();
        let attrs = embedded_enroll::est::csrattrs::CsrAttrs::parse(&der).unwrap();
        assert!(attrs.items().count() > 0, "{c}");
        // The same DER as OpenSSL decodes from the body.
        let resp = case(c, "response.http");
        let body = &resp[resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4..];
        let clean: Vec<u8> = body.iter().copied().filter(|b| *b != 0).collect();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b"), [&clean[..], b"\n"].concat()).unwrap();
        assert_eq!(der, openssl(&["base64", "-d", "-A", "-in", s(&dir.path().join("b"))]), "{c}");
    }
}

#[cfg(feature = "serverkeygen")]
#[test]
fn libest_serverkeygen_hands_over_the_key_and_its_certificate() {
    let mut key = device_key("libest/serverkeygen");
    let spki = spki(&mut key);
    let config = libest_basic_config(&spki);
    let mut st = Storage::new();
    let mut client = Client::new(config, Operation::ServerKeyGen(CsrBuilder::new(SUBJECT)), st.buffers(), rand::rngs::OsRng).unwrap();
    let mut script = Script { responses: [case("libest/serverkeygen", "response.http")].into(), ..Default::default() };
    assert_eq!(drive(&mut client, &mut key, &mut script, Instant::ZERO), Outcome::ServerKeyGenerated, "{:?}", script.log);
    assert_eq!(script.log[1], "POST /.well-known/est/serverkeygen HTTP/1.1");
    let expected_key =
        openssl(&["rsa", "-traditional", "-in", s(&vector_path("est/libest/serverkeygen/server-generated.key.pem")), "-outform", "DER"]);
    assert_eq!(client.server_key().unwrap(), &expected_key[..], "libest's PKCS#1 key, labelled application/pkcs8");
    assert_eq!(client.certificate().unwrap(), &cert_der(&vector_path("est/libest/serverkeygen/issued.pem"))[..]);
}

/// The key a server generates must be the key of the certificate it issues: libest's reply
/// with its key part swapped for another RSA key (everything else, the certificate included,
/// as libest sent it) is refused and the key is not handed over.
#[cfg(feature = "serverkeygen")]
#[test]
fn a_server_generated_key_that_is_not_the_certificates_is_refused() {
    let original = case("libest/serverkeygen", "response.http");
    let text = String::from_utf8(original).unwrap();
    let start = text.find("Content-Transfer-Encoding: base64\r\n\r\n").unwrap() + "Content-Transfer-Encoding: base64\r\n\r\n".len();
    let end = start + text[start..].find("\r\n--est-server-boundary").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.pem");
    openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", s(&other)]);
    let der = openssl(&["rsa", "-traditional", "-in", s(&other), "-outform", "DER"]);
    std::fs::write(dir.path().join("other.der"), &der).unwrap();
    let b64 = String::from_utf8(openssl(&["base64", "-in", s(&dir.path().join("other.der"))])).unwrap();
    let body_start = text.find("\r\n\r\n").unwrap() + 4;
    let mut body = String::new();
    body.push_str(&text[body_start..start]);
    body.push_str(b64.trim_end());
    body.push_str(&text[end..]);
    let head = &text[..body_start];
    let cl_start = head.find("Content-Length: ").unwrap();
    let cl_end = cl_start + head[cl_start..].find("\r\n").unwrap();
    let swapped = format!("{}Content-Length: {}{}{}", &head[..cl_start], body.len(), &head[cl_end..], body);

    let mut key = device_key("libest/serverkeygen");
    let spki = spki(&mut key);
    let config = libest_basic_config(&spki);
    let mut st = Storage::new();
    let mut client = Client::new(config, Operation::ServerKeyGen(CsrBuilder::new(SUBJECT)), st.buffers(), rand::rngs::OsRng).unwrap();
    let mut script = Script { responses: [swapped.into_bytes()].into(), ..Default::default() };
    assert_eq!(
        drive(&mut client, &mut key, &mut script, Instant::ZERO),
        Outcome::InvalidReply(ReplyError::ServerKeyMismatch),
        "{:?}",
        script.log
    );
    assert!(client.server_key().is_none(), "a key that is not the certificate's is not handed over");
}

/// A server-generated key whose certificate is refused (here: not issued by the configured
/// CA) is neither handed over nor left in the buffers, decoded or in base64 (issue 13, item
/// 8: server keys are wiped on every error path, not only at drop).
#[cfg(feature = "serverkeygen")]
#[test]
fn a_server_generated_key_of_a_refused_reply_is_wiped_at_once() {
    use base64ct::{Base64, Encoding};
    let response = case("libest/serverkeygen", "response.http");
    let text = String::from_utf8(response.clone()).unwrap();
    let marker = "Content-Transfer-Encoding: base64\r\n\r\n";
    let start = text.find(marker).unwrap() + marker.len();
    let end = start + text[start..].find("\r\n--est-server-boundary").unwrap();
    let b64: String = text[start..end].split_whitespace().collect();
    let key_der = Base64::decode_vec(&b64).unwrap();
    let (decoded_window, b64_window) = (&key_der[64..96], &text.as_bytes()[start..start + 32]);

    let dir = tempfile::tempdir().unwrap();
    common::openssl_self_signed_rsa(&dir.path().join("other-ca.key"), &dir.path().join("other-ca.pem"), "/CN=Another CA");
    let other_ca = cert_der(&dir.path().join("other-ca.pem"));
    let mut key = device_key("libest/serverkeygen");
    let spki = spki(&mut key);
    let mut config = libest_basic_config(&spki);
    config.ca_certificate = Some(&other_ca);
    let mut st = Storage::new();
    let contains = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    {
        let mut client = Client::new(config, Operation::ServerKeyGen(CsrBuilder::new(SUBJECT)), st.buffers(), rand::rngs::OsRng).unwrap();
        let mut script = Script { responses: [response].into(), ..Default::default() };
        assert_eq!(drive(&mut client, &mut key, &mut script, Instant::ZERO), Outcome::InvalidReply(ReplyError::NotIssuedByCa));
        assert!(client.server_key().is_none(), "the key of a refused reply is not handed over");
        std::mem::forget(client); // no drop: the wipe must already have happened
    }
    assert!(!contains(&st.work, decoded_window), "decoded key left in work");
    assert!(!contains(&st.io, decoded_window) && !contains(&st.io, b64_window), "key left in io");
}

#[test]
fn channel_binding_goes_into_the_csr_as_libest_expects() {
    // libest's PoP capture: challengePassword = base64(tls-unique). Our CSR for the same
    // binding value carries the same text.
    let notes = String::from_utf8(case("libest/simpleenroll-pop-tls-unique", "notes.txt")).unwrap();
    let b64 = notes.lines().find_map(|l| l.split_once("tls-unique (RFC 5929, base64) of this connection: ")).unwrap().1.trim().to_string();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tu"), format!("{b64}\n")).unwrap();
    let tls_unique = openssl(&["base64", "-d", "-in", s(&dir.path().join("tu"))]);
    assert_eq!(tls_unique.len(), 12);

    let mut key = device_key("libest/simpleenroll-pop-tls-unique");
    let spki = spki(&mut key);
    let mut config = libest_basic_config(&spki);
    config.channel_binding = ChannelBinding::Always;
    let mut st = Storage::new();
    let mut client = Client::new(config, enroll(), st.buffers(), rand::rngs::OsRng).unwrap();
    let mut script = Script {
        responses: [case("libest/simpleenroll-pop-tls-unique", "response.http")].into(),
        binds: [tls_unique].into(),
        ..Default::default()
    };
    assert_eq!(drive(&mut client, &mut key, &mut script, Instant::ZERO), Outcome::Issued);
    assert_eq!(script.log[..3], ["bind", "sign", "POST /.well-known/est/simpleenroll HTTP/1.1"]);
    let csr = request_csr(&script.requests[0]);
    assert_eq!(CsrRef::parse(&csr).unwrap().challenge_password(), Some(b64.as_str()));
}

/// The async driver's held connection (`Action::Connect`), with libest's capture: the
/// binding of the connection the driver opened goes into the CSR, the CSR is signed, and the
/// request goes on that same connection, the only one opened. The blocking driver's twin runs
/// over rustls in `fixture_tls13_exporter_binding_is_accepted_and_its_absence_refused`.
#[cfg(all(feature = "async", feature = "std"))]
#[test]
fn async_driver_sends_the_bound_csr_on_the_connection_it_bound() {
    use embedded_enroll::transport::asynch::{AsyncConnect, run_est};
    use embedded_enroll::transport::blocking::EcDevice;
    use embedded_enroll::transport::host::StdTimer;
    use std::cell::RefCell;

    /// One in-memory connection: what was written to it, the reply it reads back.
    struct Conn<'a> {
        id: usize,
        reply: &'a [u8],
        at: usize,
        log: &'a RefCell<Vec<(usize, Vec<u8>)>>,
    }
    impl embedded_io_async::ErrorType for Conn<'_> {
        type Error = core::convert::Infallible;
    }
    impl embedded_io_async::Read for Conn<'_> {
        async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
            let rest = &self.reply[self.at..];
            let n = rest.len().min(buf.len());
            buf[..n].copy_from_slice(&rest[..n]);
            self.at += n;
            Ok(n)
        }
    }
    impl embedded_io_async::Write for Conn<'_> {
        async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
            let mut log = self.log.borrow_mut();
            match log.last_mut() {
                Some((id, bytes)) if *id == self.id => bytes.extend_from_slice(buf),
                _ => log.push((self.id, buf.to_vec())),
            }
            Ok(buf.len())
        }
        async fn flush(&mut self) -> Result<(), Self::Error> {
            Ok(())
        }
    }
    /// Connection `n` has the binding `[n; 12]`, and every one replies with `reply`.
    struct Connector<'a> {
        opened: usize,
        reply: &'a [u8],
        log: &'a RefCell<Vec<(usize, Vec<u8>)>>,
    }
    impl AsyncConnect for Connector<'_> {
        type Connection<'c>
            = Conn<'c>
        where
            Self: 'c;
        type Error = ();
        async fn connect(&mut self) -> Result<Conn<'_>, ()> {
            self.opened += 1;
            Ok(Conn { id: self.opened, reply: self.reply, at: 0, log: self.log })
        }
        fn channel_binding(connection: &Conn<'_>, out: &mut [u8]) -> usize {
            out[..12].fill(connection.id as u8);
            12
        }
        fn authenticates_server(&self) -> bool {
            true
        }
    }

    let mut key = device_key("libest/simpleenroll-pop-tls-unique");
    let spki = spki(&mut key);
    let mut config = libest_basic_config(&spki);
    config.channel_binding = ChannelBinding::Always;
    let mut st = Storage::new();
    let mut client = Client::new(config, enroll(), st.buffers(), rand::rngs::OsRng).unwrap();
    let reply = case("libest/simpleenroll-pop-tls-unique", "response.http");
    let log = RefCell::new(Vec::new());
    let mut connector = Connector { opened: 0, reply: &reply, log: &log };
    let mut progress = Vec::new();
    let outcome = futures_lite::future::block_on(run_est(
        &mut client,
        &mut connector,
        &mut EcDevice(&mut key),
        &mut StdTimer::default(),
        |p: embedded_enroll::transport::blocking::Progress<'_>| progress.push(format!("{p:?}")),
    ))
    .unwrap();
    assert_eq!(outcome, Outcome::Issued, "{progress:?}");
    assert_eq!(connector.opened, 1, "one connection, opened for the binding and used for the request");
    let log = log.into_inner();
    assert_eq!(log.len(), 1, "one request");
    assert_eq!(log[0].0, 1, "sent on the connection that was bound");
    assert!(log[0].1.starts_with(b"POST /.well-known/est/simpleenroll HTTP/1.1\r\n"));
    let csr = request_csr(&log[0].1);
    let (ok, b64) = common::openssl_stdin(&["base64", "-A"], &[1u8; 12]);
    assert!(ok);
    assert_eq!(CsrRef::parse(&csr).unwrap().challenge_password(), Some(b64.trim()));
    assert!(progress.iter().any(|p| p.contains("sign")), "the CSR was signed through the device key: {progress:?}");
}

// ------------------------------------------------------------------ fixtures (ours)

fn http(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut r = format!("HTTP/1.1 {status}\r\n").into_bytes();
    for (k, v) in headers {
        r.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    r.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    r.extend_from_slice(body);
    r
}

/// A P-256 CA made by OpenSSL, which issues for CSRs as the fixture server.
struct FixtureCa {
    dir: tempfile::TempDir,
}

impl FixtureCa {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", s(&p("ca.key"))]);
        openssl(&["req", "-x509", "-new", "-key", s(&p("ca.key")), "-subj", "/CN=Fixture EST CA", "-days", "30", "-out", s(&p("ca.pem"))]);
        Self { dir }
    }
    fn p(&self, n: &str) -> std::path::PathBuf {
        self.dir.path().join(n)
    }
    /// A 200 with the certificate issued for `csr`, as certs-only base64 (`-A`: one line).
    fn issue(&self, csr: &[u8], one_line: bool) -> Vec<u8> {
        std::fs::write(self.p("req.der"), csr).unwrap();
        openssl(&[
            "x509",
            "-req",
            "-inform",
            "DER",
            "-in",
            s(&self.p("req.der")),
            "-CA",
            s(&self.p("ca.pem")),
            "-CAkey",
            s(&self.p("ca.key")),
            "-days",
            "5",
            "-out",
            s(&self.p("issued.pem")),
        ]);
        openssl(&["crl2pkcs7", "-nocrl", "-certfile", s(&self.p("issued.pem")), "-outform", "DER", "-out", s(&self.p("p7.der"))]);
        let b64 = if one_line {
            openssl(&["base64", "-A", "-in", s(&self.p("p7.der"))])
        } else {
            openssl(&["base64", "-in", s(&self.p("p7.der"))])
        };
        http("200 OK", &[("Content-Type", "application/pkcs7-mime; smime-type=certs-only")], &b64)
    }
}

#[cfg(feature = "http-digest")]
#[test]
fn fixture_digest_sha256_with_opaque_is_answered_and_checked_by_sha2() {
    let ca = FixtureCa::new();
    let mut key = SoftP256Key::generate(&mut rand::rngs::OsRng);
    let spki = spki(&mut key);
    let mut config = Config::new("est.example", CaCertsTrust::TlsAuthenticated, &spki);
    config.label = Some("arbitraryLabel1");
    config.credentials = Some(Credentials { user: "device", password: "pa ss", preemptive_basic: false });
    let mut st = Storage::new();
    let mut client = Client::new(config, enroll(), st.buffers(), rand::rngs::OsRng).unwrap();
    let challenge = r#"Digest realm="est@example", qop="auth,auth-int", algorithm=SHA-256, nonce="n0nce/xyz", opaque="op4que""#;
    let mut now = Instant::ZERO;
    let mut requests = Vec::new();
    for _ in 0..10 {
        match client.poll(now).unwrap() {
            Step::Sign(req) => {
                let mut sig = [0u8; 64];
                let n = key.sign_prehash(&req.digest, &mut sig).unwrap();
                client.signed(now, &sig[..n]).unwrap();
            }
            Step::Send(b) => {
                let req = b.to_vec();
                let resp = if requests.is_empty() {
                    http("401 Unauthorized", &[("WWW-Authenticate", challenge)], b"")
                } else {
                    ca.issue(&request_csr(&req), false)
                };
                requests.push(req);
                client.handle_response_data(now, &resp).unwrap();
            }
            Step::Done(o) => {
                assert_eq!(o, &Outcome::Issued);
                break;
            }
            other => panic!("{other:?}"),
        }
        now = now + Duration::from_millis(1);
    }
    assert!(String::from_utf8_lossy(&requests[0]).starts_with("POST /.well-known/est/arbitraryLabel1/simpleenroll HTTP/1.1\r\n"));
    let p = digest_params(&header(&requests[1], "Authorization").unwrap());
    assert_eq!(p["algorithm"], "SHA-256");
    assert_eq!(p["opaque"], "op4que");
    let ha1 = sha256_hex("device:est@example:pa ss");
    let ha2 = sha256_hex("POST:/.well-known/est/arbitraryLabel1/simpleenroll");
    assert_eq!(p["response"], sha256_hex(&format!("{ha1}:n0nce/xyz:{}:{}:auth:{ha2}", p["nc"], p["cnonce"])));
    assert!(openssl_ok_verify(&ca, client.certificate().unwrap()));
}

fn openssl_ok_verify(ca: &FixtureCa, cert: &[u8]) -> bool {
    std::fs::write(ca.p("check.der"), cert).unwrap();
    openssl(&["x509", "-inform", "DER", "-in", s(&ca.p("check.der")), "-out", s(&ca.p("check.pem"))]);
    common::openssl_ok(&["verify", "-CAfile", s(&ca.p("ca.pem")), s(&ca.p("check.pem"))])
}

#[test]
fn fixture_202_with_an_http_date_then_the_retry_cap() {
    let ca = FixtureCa::new();
    let mut key = SoftP256Key::generate(&mut rand::rngs::OsRng);
    let spki = spki(&mut key);
    // "Sun, 06 Nov 1994 08:49:37 GMT" is 784111777; the device believes it is 90 s earlier.
    let mut config = Config::new("est.example", CaCertsTrust::TlsAuthenticated, &spki);
    config.wall_time = Some(UnixTime::from_secs(784_111_777 - 90));
    config.retry = RetryPolicy::new(Duration::from_secs(10), 2, Duration::from_secs(600), 2, Duration::from_secs(3600));
    let date = http("202 Accepted", &[("Retry-After", "Sun, 06 Nov 1994 08:49:37 GMT")], b"");
    let seconds = http("202 Accepted", &[("retry-after", "7")], b"");
    let never = http("202 Accepted", &[("Retry-After", "100000")], b"");
    let mut st = Storage::new();
    let mut client = Client::new(config, enroll(), st.buffers(), rand::rngs::OsRng).unwrap();
    let mut now = Instant::ZERO;
    let mut log = Vec::new();
    let mut replies = VecDeque::from([date.clone(), seconds.clone(), never.clone()]);
    for _ in 0..20 {
        match client.poll(now).unwrap() {
            Step::Sign(req) => {
                let mut sig = [0u8; 64];
                let n = key.sign_prehash(&req.digest, &mut sig).unwrap();
                client.signed(now, &sig[..n]).unwrap();
            }
            Step::Send(_) => {
                let r = replies.pop_front().expect("a reply");
                client.handle_response_data(now, &r).unwrap();
            }
            Step::Wait(t) => {
                log.push((t - now).as_secs());
                now = t;
            }
            Step::Done(o) => {
                assert_eq!(o, &Outcome::RetryLimit { attempts: 2 });
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    // 90 s from the date, 7 s from delay-seconds, and the third 202 (100000 s, capped at
    // 600 s) is past the two retries allowed.
    assert_eq!(log, [90, 7]);
    assert!(replies.is_empty());
    let _ = ca;
}

#[cfg(feature = "csrattrs")]
#[test]
fn fixture_csrattrs_asking_for_the_challenge_password_binds_the_csr() {
    let ca = FixtureCa::new();
    let mut key = SoftP256Key::generate(&mut rand::rngs::OsRng);
    let spki = spki(&mut key);
    let mut config = Config::new("est.example", CaCertsTrust::TlsAuthenticated, &spki);
    config.fetch_csr_attributes = true;
    // RFC 7030 section 4.5.2's example: challengePassword, an EC key on P-384, ...
    let attrs = b"MEEGCSqGSIb3DQEJBzASBgcqhkjOPQIBMQcGBSuBBAAiMBYGCSqGSIb3DQEJDjEJBgcrBgEBAQEWBggqhkjOPQQDAw==\n\0";
    let mut st = Storage::new();
    let mut client = Client::new(config, enroll(), st.buffers(), rand::rngs::OsRng).unwrap();
    let binding = [0x5Au8; 32];
    let mut script = Script {
        responses: [http("200 OK", &[("Content-Type", "application/csrattrs")], attrs)].into(),
        binds: [binding.to_vec()].into(),
        ..Default::default()
    };
    let mut now = Instant::ZERO;
    // Drive by hand for the second response: it depends on the CSR.
    let o = loop {
        match client.poll(now).unwrap() {
            Step::Bind => {
                script.log.push("bind".into());
                client.bound(now, &script.binds.pop_front().unwrap()).unwrap();
            }
            Step::Sign(req) => {
                script.log.push("sign".into());
                let mut sig = [0u8; 64];
                let n = key.sign_prehash(&req.digest, &mut sig).unwrap();
                client.signed(now, &sig[..n]).unwrap();
            }
            Step::Send(b) => {
                let req = b.to_vec();
                script.log.push(String::from_utf8_lossy(req.split(|b| *b == b'\r').next().unwrap()).to_string());
                let resp = script.responses.pop_front().unwrap_or_else(|| ca.issue(&request_csr(&req), true));
                script.requests.push(req);
                client.handle_response_data(now, &resp).unwrap();
            }
            Step::Done(o) => break o.clone(),
            other => panic!("{other:?}"),
        }
        now = now + Duration::from_millis(1);
    };
    assert_eq!(o, Outcome::Issued, "{:?}", script.log);
    assert_eq!(script.log, ["GET /.well-known/est/csrattrs HTTP/1.1", "bind", "sign", "POST /.well-known/est/simpleenroll HTTP/1.1"]);
    let csr = request_csr(&script.requests[1]);
    let b64 = String::from_utf8(openssl_stdin_b64(&binding)).unwrap();
    assert_eq!(CsrRef::parse(&csr).unwrap().challenge_password(), Some(b64.trim()));
    assert!(openssl_ok_verify(&ca, client.certificate().unwrap()));
}

#[cfg(feature = "csrattrs")]
fn openssl_stdin_b64(data: &[u8]) -> Vec<u8> {
    let (ok, out) = common::openssl_stdin(&["base64", "-A"], data);
    assert!(ok);
    out.into_bytes()
}

#[cfg(feature = "csrattrs")]
#[test]
fn fixture_csrattrs_404_means_none_and_no_binding_when_not_asked() {
    let ca = FixtureCa::new();
    let mut key = SoftP256Key::generate(&mut rand::rngs::OsRng);
    let spki = spki(&mut key);
    let mut config = Config::new("est.example", CaCertsTrust::TlsAuthenticated, &spki);
    config.fetch_csr_attributes = true;
    let mut st = Storage::new();
    let mut client = Client::new(config, enroll(), st.buffers(), rand::rngs::OsRng).unwrap();
    let mut now = Instant::ZERO;
    let mut log = Vec::new();
    let o = loop {
        match client.poll(now).unwrap() {
            Step::Sign(req) => {
                log.push("sign".to_string());
                let mut sig = [0u8; 64];
                let n = key.sign_prehash(&req.digest, &mut sig).unwrap();
                client.signed(now, &sig[..n]).unwrap();
            }
            Step::Send(b) => {
                let req = b.to_vec();
                log.push(String::from_utf8_lossy(req.split(|b| *b == b'\r').next().unwrap()).to_string());
                let resp = if log.len() == 1 { http("404 Not Found", &[], b"") } else { ca.issue(&request_csr(&req), false) };
                client.handle_response_data(now, &resp).unwrap();
            }
            Step::Done(o) => break o.clone(),
            other => panic!("{other:?}"),
        }
        now = now + Duration::from_millis(1);
    };
    assert_eq!(o, Outcome::Issued);
    assert_eq!(log, ["GET /.well-known/est/csrattrs HTTP/1.1", "sign", "POST /.well-known/est/simpleenroll HTTP/1.1"]);
    assert_eq!(client.csr_attributes(), Some(&[][..]));
}

#[test]
fn fixture_server_error_text_and_malformed_bodies() {
    let mut key = SoftP256Key::generate(&mut rand::rngs::OsRng);
    let spki = spki(&mut key);
    for (resp, check) in [
        (
            http("500 Internal Server Error", &[("Content-Type", "text/plain")], b"CA backend offline\r\n"),
            Outcome::HttpStatus { status: 500, text: "CA backend offline".try_into().unwrap() },
        ),
        (
            http("200 OK", &[("Content-Type", "application/pkcs7-mime")], b"<html>not base64</html>"),
            Outcome::InvalidReply(ReplyError::Malformed(embedded_enroll::error::DecodeError::InvalidValue { what: "" })),
        ),
        (http("200 OK", &[("Content-Type", "application/pkcs7-mime")], b"MIIB"), Outcome::InvalidReply(ReplyError::NotFound)),
    ] {
        let mut st = Storage::new();
        let cfg = Config::new("est.example", CaCertsTrust::TlsAuthenticated, &spki);
        let mut client = Client::new(cfg, enroll(), st.buffers(), rand::rngs::OsRng).unwrap();
        let mut script = Script { responses: [resp].into(), ..Default::default() };
        let o = drive(&mut client, &mut key, &mut script, Instant::ZERO);
        match (&o, &check) {
            (Outcome::InvalidReply(ReplyError::Malformed(_)), Outcome::InvalidReply(ReplyError::Malformed(_))) => {}
            (Outcome::InvalidReply(_), Outcome::InvalidReply(ReplyError::NotFound)) => {}
            _ => assert_eq!(o, check),
        }
        assert!(client.certificate().is_none());
    }
}

/// A TLS 1.2-only server (`openssl s_server -tls1_2 -HTTP`, RSA certificate: TLS 1.2
/// signatures) serving libest's captured /cacerts response, reached through the rustls host
/// transport with the crate's verifier.
#[cfg(feature = "host-tls")]
#[test]
fn fixture_tls12_server_through_the_host_transport() {
    use embedded_enroll::transport::blocking::{EcDevice, run_est};
    use embedded_enroll::transport::host::StdTimer;
    use embedded_enroll::transport::host_tls::{RustlsConnector, TlsVersions};
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        s(&p("tls-ca.key")),
        "-subj",
        "/CN=TLS CA",
        "-days",
        "2",
        "-out",
        s(&p("tls-ca.pem")),
    ]);
    std::fs::write(p("ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n").unwrap();
    openssl(&[
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        s(&p("srv.key")),
        "-subj",
        "/CN=localhost",
        "-out",
        s(&p("srv.csr")),
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        s(&p("srv.csr")),
        "-CA",
        s(&p("tls-ca.pem")),
        "-CAkey",
        s(&p("tls-ca.key")),
        "-days",
        "2",
        "-extfile",
        s(&p("ext.cnf")),
        "-out",
        s(&p("srv.pem")),
    ]);
    std::fs::create_dir_all(p("www/.well-known/est")).unwrap();
    std::fs::write(p("www/.well-known/est/cacerts"), case("libest/cacerts", "response.http")).unwrap();
    let port = 18_461u16;
    let mut server = std::process::Command::new("openssl")
        .current_dir(p("www"))
        .args([
            "s_server",
            "-accept",
            &format!("127.0.0.1:{port}"),
            "-tls1_2",
            "-cert",
            s(&p("srv.pem")),
            "-key",
            s(&p("srv.key")),
            "-HTTP",
            "-quiet",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Bounded wait for the listener.
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let anchor = cert_der(&p("tls-ca.pem"));
    let ca = cert_der(&vector_path("est/libest/cacerts/ca.pem"));
    let fp = CertificateRef::parse(&ca).unwrap().fingerprint_sha256();
    let mut key = SoftP256Key::generate(&mut rand::rngs::OsRng);
    let spki = spki(&mut key);
    let mut conn =
        RustlsConnector::new::<SoftP256Key>(&format!("127.0.0.1:{port}"), "localhost", Some(&anchor), TlsVersions::Tls12, None).unwrap();
    let mut st = Storage::new();
    let mut client =
        Client::new(Config::new("localhost", CaCertsTrust::Fingerprint(fp), &spki), Operation::CaCerts, st.buffers(), rand::rngs::OsRng)
            .unwrap();
    let o = run_est(&mut client, &mut conn, &mut EcDevice(&mut key), &mut StdTimer::default(), |_| {});
    // A wrong anchor is refused by the crate's verifier.
    let mut wrong =
        RustlsConnector::new::<SoftP256Key>(&format!("127.0.0.1:{port}"), "localhost", Some(&ca), TlsVersions::Tls12, None).unwrap();
    let mut st2 = Storage::new();
    let mut client2 =
        Client::new(Config::new("localhost", CaCertsTrust::Fingerprint(fp), &spki), Operation::CaCerts, st2.buffers(), rand::rngs::OsRng)
            .unwrap();
    let o2 = run_est(&mut client2, &mut wrong, &mut EcDevice(&mut key), &mut StdTimer::default(), |_| {});
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(o.unwrap(), Outcome::CaCerts, "{:?}", conn.last_error);
    // The verifier's reason reaches the caller: in the outcome, and in the connector's error.
    assert!(
        matches!(
            o2.as_ref().unwrap(),
            Outcome::Transport(TransportFailure::ServerRefused(embedded_enroll::transport::verify::VerifyError::Chain(_)))
        ),
        "{o2:?}"
    );
    assert!(o2.unwrap().to_string().starts_with("the connection failed: the server's certificate chain was refused: "));
    let last = wrong.last_error.unwrap().to_string();
    assert!(last.contains("refused"), "the verifier's reason is reported: {last}");
}

/// A TLS 1.3 server (rustls, ours: a fixture) that demands the RFC 9266 tls-exporter value of
/// its connection in the CSR's challengePassword, as an EST server checking proof of
/// possession does; the client reaches it through the rustls host transport.
#[cfg(feature = "host-tls")]
#[test]
fn fixture_tls13_exporter_binding_is_accepted_and_its_absence_refused() {
    use embedded_enroll::transport::blocking::{EcDevice, run_est};
    use embedded_enroll::transport::host::StdTimer;
    use embedded_enroll::transport::host_tls::{RustlsConnector, TlsVersions};
    use std::io::{Read, Write};
    use std::sync::Arc;
    let ca = FixtureCa::new();
    let p = |n: &str| ca.p(n);
    std::fs::write(p("ext.cnf"), "subjectAltName=DNS:localhost\n").unwrap();
    openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", s(&p("srv.key"))]);
    openssl(&["req", "-new", "-key", s(&p("srv.key")), "-subj", "/CN=localhost", "-out", s(&p("srv.csr"))]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        s(&p("srv.csr")),
        "-CA",
        s(&p("ca.pem")),
        "-CAkey",
        s(&p("ca.key")),
        "-days",
        "2",
        "-extfile",
        s(&p("ext.cnf")),
        "-out",
        s(&p("srv.pem")),
    ]);
    let srv_cert = cert_der(&p("srv.pem"));
    let srv_key = openssl(&["pkcs8", "-topk8", "-nocrypt", "-in", s(&p("srv.key")), "-outform", "DER"]);
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![rustls::pki_types::CertificateDer::from(srv_cert)],
            rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(srv_key)),
        )
        .unwrap();
    let config = Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let ca_dir = ca.dir.path().to_path_buf();
    // Two connections: one bound CSR (accepted), one unbound (refused with 401).
    let server = std::thread::spawn(move || {
        let ca = FixtureCa { dir: tempfile::TempDir::new_in(&ca_dir).unwrap() };
        std::fs::copy(ca_dir.join("ca.pem"), ca.p("ca.pem")).unwrap();
        std::fs::copy(ca_dir.join("ca.key"), ca.p("ca.key")).unwrap();
        let mut verdicts = Vec::new();
        for _ in 0..2 {
            let (tcp, _) = listener.accept().unwrap();
            tcp.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
            let conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            // Read the head, then Content-Length bytes (bounded by the timeout).
            loop {
                let n = tls.read(&mut buf).unwrap();
                req.extend_from_slice(&buf[..n]);
                if let Some(end) = req.windows(4).position(|w| w == b"\r\n\r\n") {
                    let len: usize = header(&req, "Content-Length").unwrap().parse().unwrap();
                    if req.len() >= end + 4 + len {
                        break;
                    }
                }
                assert!(n > 0, "the client closed early");
            }
            let exporter = tls.conn.export_keying_material([0u8; 32], b"EXPORTER-Channel-Binding", None).unwrap();
            let expected = String::from_utf8(openssl_stdin_b64(&exporter)).unwrap();
            let csr = request_csr(&req);
            let bound = CsrRef::parse(&csr).unwrap().challenge_password() == Some(expected.trim());
            verdicts.push(bound);
            let resp = if bound { ca.issue(&csr, true) } else { http("401 Unauthorized", &[], b"proof of possession missing") };
            tls.write_all(&resp).unwrap();
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
        verdicts
    });
    let anchor = cert_der(&ca.p("ca.pem"));
    let mut outcomes = Vec::new();
    for binding in [ChannelBinding::Always, ChannelBinding::Never] {
        let mut key = SoftP256Key::generate(&mut rand::rngs::OsRng);
        let spki = spki(&mut key);
        let mut config = Config::new("localhost", CaCertsTrust::TlsAuthenticated, &spki);
        config.channel_binding = binding;
        let mut st = Storage::new();
        let mut client = Client::new(config, enroll(), st.buffers(), rand::rngs::OsRng).unwrap();
        let mut conn =
            RustlsConnector::new::<SoftP256Key>(&addr.to_string(), "localhost", Some(&anchor), TlsVersions::Tls13, None).unwrap();
        let o = run_est(&mut client, &mut conn, &mut EcDevice(&mut key), &mut StdTimer::default(), |_| {}).unwrap();
        outcomes.push(o);
    }
    assert_eq!(server.join().unwrap(), [true, false], "the server saw its own exporter value in the bound CSR only");
    assert_eq!(outcomes[0], Outcome::Issued);
    assert_eq!(outcomes[1], Outcome::Unauthorized);
}

/// `/csrattrs` with a fixed extendedKeyUsage (made by `openssl asn1parse -genconf`): the
/// client copies it into the CSR, keeps the caller's own subjectAltName over the server's,
/// and reports what it did.
#[cfg(feature = "csrattrs")]
#[test]
fn fixture_csrattrs_extensions_are_applied_and_reported() {
    let ca = FixtureCa::new();
    std::fs::write(
        ca.p("attrs.cnf"),
        "asn1=SEQUENCE:attrs\n[attrs]\nkt=OID:1.2.840.10045.2.1\ner=SEQUENCE:extreq\n[extreq]\noid=OID:1.2.840.113549.1.9.14\nvals=SET:extset\n\
         [extset]\nexts=SEQUENCE:exts\n[exts]\ne1=SEQUENCE:eku\ne2=SEQUENCE:san\n[eku]\noid=OID:extendedKeyUsage\nval=OCTWRAP,SEQUENCE:ekuval\n\
         [ekuval]\np1=OID:clientAuth\n[san]\noid=OID:subjectAltName\nval=OCTWRAP,SEQUENCE:sanval\n[sanval]\nd=IMPLICIT:2,IA5STRING:server.example\n",
    )
    .unwrap();
    let der = openssl(&["asn1parse", "-genconf", s(&ca.p("attrs.cnf")), "-noout", "-out", s(&ca.p("attrs.der"))]);
    let _ = der;
    let attrs_b64 = openssl(&["base64", "-in", s(&ca.p("attrs.der"))]);
    let mut key = SoftP256Key::generate(&mut rand::rngs::OsRng);
    let spki = spki(&mut key);
    let mut config = Config::new("est.example", CaCertsTrust::TlsAuthenticated, &spki);
    config.fetch_csr_attributes = true;
    let own_san = [embedded_enroll::asn1::csr::SubjectAltName::Dns("device.example")];
    let csr = CsrBuilder::new(SUBJECT).subject_alt_names(&own_san);
    let mut st = Storage::new();
    let mut client = Client::new(config, Operation::Enroll(csr), st.buffers(), rand::rngs::OsRng).unwrap();
    let mut now = Instant::ZERO;
    let mut requests = Vec::new();
    let o = loop {
        match client.poll(now).unwrap() {
            Step::Sign(req) => {
                let mut sig = [0u8; 64];
                let n = key.sign_prehash(&req.digest, &mut sig).unwrap();
                client.signed(now, &sig[..n]).unwrap();
            }
            Step::Send(b) => {
                let req = b.to_vec();
                let resp = if requests.is_empty() {
                    http("200 OK", &[("Content-Type", "application/csrattrs")], &attrs_b64)
                } else {
                    ca.issue(&request_csr(&req), false)
                };
                requests.push(req);
                client.handle_response_data(now, &resp).unwrap();
            }
            Step::Done(o) => break o.clone(),
            other => panic!("{other:?}"),
        }
        now = now + Duration::from_millis(1);
    };
    assert_eq!(o, Outcome::Issued);
    let report = client.attribute_report().unwrap();
    assert_eq!(report.applied_extensions, 1, "{report:?}");
    assert_eq!(report.kept_own_extensions, 1, "{report:?}");
    assert!(!report.challenge_password && !report.key_mismatch);
    std::fs::write(ca.p("sent.der"), request_csr(&requests[1])).unwrap();
    let text = String::from_utf8(openssl(&["req", "-inform", "DER", "-in", s(&ca.p("sent.der")), "-noout", "-text"])).unwrap();
    assert!(text.contains("TLS Web Client Authentication"), "{text}");
    assert!(text.contains("DNS:device.example") && !text.contains("server.example"), "{text}");
    assert_eq!(client.csr_attributes().unwrap(), &std::fs::read(ca.p("attrs.der")).unwrap()[..]);
}

// ------------------------------------------------------------------ features left out

/// Without the `csrattrs` feature, `/csrattrs` is refused when the client is made, as an
/// operation and as the option to fetch it before enrolling (for any operation): the client
/// never goes on without what the caller asked for. Without the option it is made as usual.
#[cfg(not(feature = "csrattrs"))]
#[test]
fn without_csrattrs_the_client_refuses_csrattrs_up_front() {
    use embedded_enroll::est::client::ClientError;
    let mut key = SoftP256Key::generate(&mut rand::rngs::OsRng);
    let spki = spki(&mut key);
    let config = Config::new("est.example", CaCertsTrust::TlsAuthenticated, &spki);
    let mut st = Storage::new();
    let refused = Client::new(config, Operation::CsrAttrs, st.buffers(), rand::rngs::OsRng).err();
    assert_eq!(refused, Some(ClientError::FeatureDisabled("csrattrs")));
    assert!(refused.unwrap().to_string().contains("`csrattrs` feature"), "{}", refused.unwrap());
    let mut fetching = config;
    fetching.fetch_csr_attributes = true;
    for op in [enroll(), Operation::ReEnroll(CsrBuilder::new(SUBJECT)), Operation::CaCerts] {
        let refused = Client::new(fetching, op, st.buffers(), rand::rngs::OsRng).err();
        assert_eq!(refused, Some(ClientError::FeatureDisabled("csrattrs")), "{op:?}");
    }
    // Refused before the rest of the configuration is looked at.
    let mut bad = fetching;
    bad.public_key = b"not a SubjectPublicKeyInfo";
    assert_eq!(Client::new(bad, enroll(), st.buffers(), rand::rngs::OsRng).err(), Some(ClientError::FeatureDisabled("csrattrs")));
    // Without the option the enrollment goes straight to the CSR (no GET /csrattrs), and on
    // to the certificate.
    let ca = FixtureCa::new();
    let mut client = Client::new(config, enroll(), st.buffers(), rand::rngs::OsRng).unwrap();
    let now = Instant::ZERO;
    let mut log = Vec::new();
    let o = loop {
        match client.poll(now).unwrap() {
            Step::Sign(req) => {
                log.push("sign".to_string());
                let mut sig = [0u8; 64];
                let n = key.sign_prehash(&req.digest, &mut sig).unwrap();
                client.signed(now, &sig[..n]).unwrap();
            }
            Step::Send(b) => {
                let req = b.to_vec();
                log.push(String::from_utf8_lossy(req.split(|b| *b == b'\r').next().unwrap()).to_string());
                client.handle_response_data(now, &ca.issue(&request_csr(&req), false)).unwrap();
            }
            Step::Done(o) => break o.clone(),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(o, Outcome::Issued);
    assert_eq!(log, ["sign", "POST /.well-known/est/simpleenroll HTTP/1.1"]);
    assert!(openssl_ok_verify(&ca, client.certificate().unwrap()));
}

/// Without the `serverkeygen` feature, `/serverkeygen` is refused when the client is made;
/// and a `multipart/mixed` reply with a private key (libest's `/serverkeygen` capture) to an
/// enrollment is refused as malformed: no key is taken, no certificate handed out.
#[cfg(not(feature = "serverkeygen"))]
#[test]
fn without_serverkeygen_the_client_refuses_it_up_front_and_takes_no_server_key() {
    use embedded_enroll::est::client::ClientError;
    let mut key = device_key("libest/serverkeygen");
    let spki = spki(&mut key);
    let config = libest_basic_config(&spki);
    let mut st = Storage::new();
    let refused = Client::new(config, Operation::ServerKeyGen(CsrBuilder::new(SUBJECT)), st.buffers(), rand::rngs::OsRng).err();
    assert_eq!(refused, Some(ClientError::FeatureDisabled("serverkeygen")));
    assert!(refused.unwrap().to_string().contains("`serverkeygen` feature"), "{}", refused.unwrap());

    let mut client = Client::new(config, enroll(), st.buffers(), rand::rngs::OsRng).unwrap();
    let mut script = Script { responses: [case("libest/serverkeygen", "response.http")].into(), ..Default::default() };
    let o = drive(&mut client, &mut key, &mut script, Instant::ZERO);
    assert!(matches!(o, Outcome::InvalidReply(ReplyError::Malformed(_))), "{o:?}");
    assert_eq!(script.log[1], "POST /.well-known/est/simpleenroll HTTP/1.1");
    assert!(client.certificate().is_none());
}

/// Without the `http-digest` feature a 401 that offers only Digest (libest's capture) ends
/// the enrollment with a typed outcome after the one request, which carried no credentials:
/// nothing is sent in answer. A 401 that offers Basic beside Digest is answered with Basic,
/// as one offering Basic alone is.
#[cfg(not(feature = "http-digest"))]
#[test]
fn without_http_digest_a_digest_challenge_is_not_answered() {
    let mut key = device_key("libest/simpleenroll-digest-auth");
    let spki = spki(&mut key);
    let mut config = Config::new("127.0.0.1", CaCertsTrust::TlsAuthenticated, &spki);
    config.credentials = Some(Credentials { user: "estuser", password: "estpwd", preemptive_basic: false });
    let mut st = Storage::new();
    let mut client = Client::new(config, enroll(), st.buffers(), rand::rngs::OsRng).unwrap();
    let mut script = Script {
        responses: [
            case("libest/simpleenroll-401-digest-challenge", "response.http"),
            case("libest/simpleenroll-digest-auth", "response.http"),
        ]
        .into(),
        ..Default::default()
    };
    let o = drive(&mut client, &mut key, &mut script, Instant::ZERO);
    assert_eq!(o, Outcome::InvalidReply(ReplyError::UnsupportedChallenge), "{:?}", script.log);
    assert_eq!(script.requests.len(), 1, "{:?}", script.log);
    assert_eq!(header(&script.requests[0], "Authorization"), None);
    assert!(client.certificate().is_none());

    // Digest and Basic offered: Basic.
    let mut key = device_key("libest/simpleenroll");
    let spki = self::spki(&mut key);
    let mut config = Config::new("127.0.0.1", CaCertsTrust::TlsAuthenticated, &spki);
    config.credentials = Some(Credentials { user: "estuser", password: "estpwd", preemptive_basic: false });
    let mut st = Storage::new();
    let mut client = Client::new(config, enroll(), st.buffers(), rand::rngs::OsRng).unwrap();
    let both = r#"Digest realm="estrealm", qop="auth", algorithm=SHA-256, nonce="1795877780", Basic realm="estrealm""#;
    let mut script = Script {
        responses: [http("401 Unauthorized", &[("WWW-Authenticate", both)], b""), case("libest/simpleenroll", "response.http")].into(),
        ..Default::default()
    };
    assert_eq!(drive(&mut client, &mut key, &mut script, Instant::ZERO), Outcome::Issued, "{:?}", script.log);
    assert_eq!(header(&script.requests[0], "Authorization"), None);
    assert_eq!(header(&script.requests[1], "Authorization").unwrap(), "Basic ZXN0dXNlcjplc3Rwd2Q=");
}
