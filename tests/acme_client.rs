//! ACME client transcripts on a virtual clock: the client is driven by hand (Sans-IO) against
//! replies taken from real pebble 2.4.0 captures (tests/vectors/acme/pebble-2.4.0, with the
//! capture's own account and certificate keys) and, for the failure paths, fixtures made from
//! them (a status or a body changed, a problem document). Every JWS the client sends is
//! checked: flattened JSON, ES256 over `protected.payload` verified with the account key,
//! the nonce of the previous reply, the URL, `jwk` for newAccount and `kid` after.

#![cfg(all(feature = "acme", feature = "soft-keys"))]

use base64ct::{Base64UrlUnpadded, Encoding};
use embedded_enroll::acme::client::{Buffers, Client, Config, Identifier, Operation, Outcome, Step};
use embedded_enroll::acme::message::{JsonError, ProblemKind};
use embedded_enroll::asn1::csr::{CsrBuilder, SubjectAltName};
use embedded_enroll::error::HttpError;
use embedded_enroll::hal::soft::SoftP256Key;
use embedded_enroll::hal::{KeyRole, Signer};
use embedded_enroll::time::{Instant, UnixTime};
use p256::ecdsa::signature::Verifier;
use std::path::Path;

const DIR: &str = "tests/vectors/acme/pebble-2.4.0";
const BASE: &str = "https://127.0.0.1:14000";

fn vector(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(DIR).join(name)).unwrap()
}

fn pem_der(name: &str) -> Vec<u8> {
    let text = String::from_utf8(vector(name)).unwrap();
    let b64: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    base64ct::Base64::decode_vec(&b64).unwrap()
}

/// A captured reply with its body (and Content-Length) replaced.
fn with_body(name: &str, status_line: Option<&str>, body: &str) -> Vec<u8> {
    let raw = String::from_utf8(vector(name)).unwrap();
    let (head, _) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines: Vec<String> = head.lines().map(str::to_string).collect();
    if let Some(s) = status_line {
        lines[0] = s.to_string();
    }
    lines.retain(|l| !l.to_ascii_lowercase().starts_with("content-length:") && !l.to_ascii_lowercase().starts_with("transfer-encoding:"));
    lines.push(format!("Content-Length: {}", body.len()));
    format!("{}\r\n\r\n{}", lines.join("\r\n"), body).into_bytes()
}

/// A problem document reply with a fresh nonce.
fn problem(status: u16, kind: &str, detail: &str, extra: &str) -> Vec<u8> {
    let body = format!(r#"{{"type":"urn:ietf:params:acme:error:{kind}","detail":"{detail}","status":{status}}}"#);
    format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/problem+json\r\nReplay-Nonce: fresh{status}{kind}\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

type Script = Vec<(&'static str, Vec<u8>)>;
type Check = Box<dyn Fn(&Outcome) -> bool>;

struct Keys {
    account: SoftP256Key,
    cert: SoftP256Key,
    account_spki: Vec<u8>,
    cert_spki: Vec<u8>,
}

fn capture_keys() -> Keys {
    let mut account = SoftP256Key::from_pkcs8_der(&pem_der("account-key.pem")).unwrap();
    let mut cert = SoftP256Key::from_pkcs8_der(&pem_der("cert-key.pem")).unwrap();
    let mut a = [0u8; 128];
    let n = account.public_key_der(&mut a).unwrap();
    let mut c = [0u8; 128];
    let m = cert.public_key_der(&mut c).unwrap();
    Keys { account, cert, account_spki: a[..n].to_vec(), cert_spki: c[..m].to_vec() }
}

#[derive(Debug, Default)]
struct Transcript {
    requests: Vec<String>,
    waits: Vec<u64>,
    published: Vec<String>,
    withdrawn: usize,
    chain: Vec<Vec<u8>>,
    account_url: Option<String>,
}

/// Runs the client against `script` (each request's expected "METHOD path", and the reply).
fn run(config: Config<'_>, operation: Operation<'_>, keys: &mut Keys, script: &[(&str, Vec<u8>)], io_len: usize) -> (Outcome, Transcript) {
    let mut work = vec![0u8; 8192];
    let mut io = vec![0u8; io_len];
    let mut client = Client::new(config, operation, Buffers { work: &mut work, io: &mut io }).unwrap();
    let mut now = Instant::from_secs(1000);
    let mut t = Transcript::default();
    let mut next = 0usize;
    let mut nonce: Option<String> = None;
    let verifying = p256::ecdsa::VerifyingKey::from_sec1_bytes(&keys.account.public_key_sec1()).unwrap();
    for _ in 0..200 {
        match client.poll(now).unwrap() {
            Step::Send(req) => {
                let req = String::from_utf8(req.to_vec()).unwrap();
                let line = req.lines().next().unwrap().to_string();
                let (expect, reply) = script.get(next).unwrap_or_else(|| panic!("no reply scripted for {line}"));
                next += 1;
                assert!(line.starts_with(&format!("{expect} ")), "request {next}: {line}, expected {expect}");
                if line.starts_with("POST") {
                    check_jws(&req, &verifying, nonce.as_deref(), expect);
                }
                t.requests.push(expect.to_string());
                nonce = header(reply, "replay-nonce").or(nonce);
                // Fed in uneven pieces.
                for piece in reply.chunks(97) {
                    client.handle_response_data(now, piece).unwrap();
                }
                client.handle_response_end(now).unwrap();
            }
            Step::Sign(r) => {
                let key = if r.key == KeyRole::Account { &mut keys.account } else { &mut keys.cert };
                let mut sig = [0u8; 64];
                let n = key.sign_prehash(&r.digest, &mut sig).unwrap();
                client.signed(now, &sig[..n]).unwrap();
            }
            Step::Publish(task) => {
                t.published.push(format!("{:?} {} {}", task.kind, task.identifier, task.key_authorization));
                client.published(now, true).unwrap();
            }
            Step::Withdraw(_) => {
                t.withdrawn += 1;
                client.withdrawn(now).unwrap();
            }
            Step::Wait(until) => {
                t.waits.push((until - now).as_secs());
                now = until;
            }
            Step::Done(outcome) => {
                let outcome = outcome.clone();
                t.chain = client.certificates().map(<[u8]>::to_vec).collect();
                t.account_url = client.account_url().map(str::to_string);
                assert_eq!(next, script.len(), "every scripted reply used");
                return (outcome, t);
            }
        }
    }
    panic!("no end after 200 steps");
}

fn header(reply: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(reply);
    let head = text.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

fn check_jws(req: &str, key: &p256::ecdsa::VerifyingKey, nonce: Option<&str>, expect: &str) {
    assert!(req.contains("\r\nContent-Type: application/jose+json\r\n"), "{req}");
    let body = req.split("\r\n\r\n").nth(1).unwrap();
    let len: usize = header(req.as_bytes(), "content-length").unwrap().parse().unwrap();
    assert_eq!(body.len(), len, "Content-Length");
    let jws: serde_json::Value = serde_json::from_str(body).unwrap();
    let (p64, pl64, s64) = (jws["protected"].as_str().unwrap(), jws["payload"].as_str().unwrap(), jws["signature"].as_str().unwrap());
    let protected: serde_json::Value = serde_json::from_slice(&Base64UrlUnpadded::decode_vec(p64).unwrap()).unwrap();
    assert_eq!(protected["alg"], "ES256");
    assert_eq!(protected["nonce"].as_str(), nonce, "the nonce of the previous reply");
    let path = expect.split(' ').nth(1).unwrap();
    assert_eq!(protected["url"].as_str().unwrap(), format!("{BASE}{path}"));
    if path == "/sign-me-up" {
        assert_eq!(protected["jwk"]["kty"], "EC");
        assert!(protected.get("kid").is_none());
    } else {
        assert!(protected["kid"].as_str().unwrap().starts_with(&format!("{BASE}/my-account/")));
        assert!(protected.get("jwk").is_none());
    }
    let sig = p256::ecdsa::Signature::from_slice(&Base64UrlUnpadded::decode_vec(s64).unwrap()).unwrap();
    key.verify(format!("{p64}.{pl64}").as_bytes(), &sig).expect("the JWS signature verifies with the account key");
}

fn path_of(vector_name: &str, field: &str) -> String {
    let raw = String::from_utf8(vector(vector_name)).unwrap();
    let body = raw.split("\r\n\r\n").nth(1).unwrap();
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    v[field].as_str().map(str::to_string).unwrap_or_else(|| v[field][0].as_str().unwrap().to_string()).trim_start_matches(BASE).to_string()
}

/// The happy path of the capture: the requests the client makes, with pebble's replies.
fn happy_script() -> Vec<(&'static str, Vec<u8>)> {
    let order = header(&vector("07-new-order.http"), "location").unwrap();
    let authz = path_of("07-new-order.http", "authorizations");
    let finalize = path_of("07-new-order.http", "finalize");
    let cert = path_of("14-order-valid.http", "certificate");
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let challenge = {
        let raw = String::from_utf8(vector("08-authz-pending.http")).unwrap();
        let body = raw.split("\r\n\r\n").nth(1).unwrap();
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        let c = v["challenges"].as_array().unwrap().iter().find(|c| c["type"] == "http-01").unwrap();
        c["url"].as_str().unwrap().trim_start_matches(BASE).to_string()
    };
    vec![
        ("GET /dir", vector("01-directory.http")),
        ("GET /nonce-plz", vector("03-new-nonce-get.http")),
        ("POST /sign-me-up", vector("04-new-account.http")),
        ("POST /order-plz", vector("07-new-order.http")),
        (leak(format!("POST {authz}")), vector("08-authz-pending.http")),
        (leak(format!("POST {challenge}")), vector("09-challenge-http01-respond.http")),
        (leak(format!("POST {authz}")), vector("10-authz-valid.http")),
        (leak(format!("POST {finalize}")), vector("13-finalize.http")),
        (leak(format!("POST {}", order.trim_start_matches(BASE))), vector("14-order-valid.http")),
        (leak(format!("POST {cert}")), vector("15-certificate.http")),
    ]
}

fn order<'a>(keys: &'a Keys, sans: &'a [SubjectAltName<'a>], names: &'a [Identifier<'a>]) -> (Config<'a>, Operation<'a>) {
    let config = Config::new("127.0.0.1", 14000, "/dir", &keys.account_spki, &keys.cert_spki);
    (config, Operation::Order { identifiers: names, csr: CsrBuilder::new(&[]).subject_alt_names(sans) })
}

const SANS: [SubjectAltName<'static>; 1] = [SubjectAltName::Dns("test.example")];
const NAMES: [Identifier<'static>; 1] = [Identifier::Dns("test.example")];

#[test]
fn the_captured_pebble_exchange_issues_a_chain_to_pebbles_root() {
    let mut keys = capture_keys();
    let root = pem_der("pebble-root.pem");
    let k = capture_keys();
    let (mut config, op) = order(&k, &SANS, &NAMES);
    config.trust_anchor = Some(&root);
    let (outcome, t) = run(config, op, &mut keys, &happy_script(), 8192);
    assert_eq!(outcome, Outcome::Issued, "{t:?}");
    assert_eq!(t.chain.len(), 2, "leaf and intermediate");
    assert_eq!(t.published.len(), 1);
    assert!(t.published[0].starts_with("Http01 test.example "), "{:?}", t.published);
    assert_eq!(t.withdrawn, 1);
    // The first poll of the authorization and of the order wait per the policy (1 s, no
    // Retry-After from pebble).
    assert_eq!(t.waits, [1, 1]);
    assert!(t.account_url.unwrap().starts_with(&format!("{BASE}/my-account/")));
}

#[test]
fn bad_nonce_is_retried_with_the_new_nonce_a_bounded_number_of_times() {
    let mut keys = capture_keys();
    let k = capture_keys();
    let mut script = happy_script();
    // pebble's own badNonce reply (captured) before the account is made: the same request
    // again, newly signed, with the nonce that reply carried (checked by `run`).
    script.insert(2, ("POST /sign-me-up", vector("17-problem-bad-nonce.http")));
    let (config, op) = order(&k, &SANS, &NAMES);
    let (outcome, t) = run(config, op, &mut keys, &script, 8192);
    assert_eq!(outcome, Outcome::Issued);
    assert_eq!(t.requests.iter().filter(|r| *r == "POST /sign-me-up").count(), 2);

    // Four in a row: the fourth is the outcome.
    let mut script = happy_script()[..2].to_vec();
    for _ in 0..4 {
        script.push(("POST /sign-me-up", vector("17-problem-bad-nonce.http")));
    }
    let (config, op) = order(&k, &SANS, &NAMES);
    let (outcome, _) = run(config, op, &mut keys, &script, 8192);
    assert!(matches!(&outcome, Outcome::Problem(p) if p.kind == ProblemKind::BadNonce && p.status == 400), "{outcome:?}");
}

#[test]
fn rate_limited_waits_for_retry_after_then_goes_on() {
    let mut keys = capture_keys();
    let k = capture_keys();
    let mut script = happy_script();
    script.insert(3, ("POST /order-plz", problem(429, "rateLimited", "too many new orders", "Retry-After: 30\r\n")));
    let (config, op) = order(&k, &SANS, &NAMES);
    let (outcome, t) = run(config, op, &mut keys, &script, 8192);
    assert_eq!(outcome, Outcome::Issued);
    assert_eq!(t.waits[0], 30, "Retry-After honoured: {:?}", t.waits);
    // Without Retry-After it is the outcome, with the server's detail.
    let mut script = happy_script()[..3].to_vec();
    script.push(("POST /order-plz", problem(429, "rateLimited", "too many new orders", "")));
    let (config, op) = order(&k, &SANS, &NAMES);
    let (outcome, _) = run(config, op, &mut keys, &script, 8192);
    match outcome {
        Outcome::Problem(p) => assert_eq!((p.kind, p.status, p.detail.as_str()), (ProblemKind::RateLimited, 429, "too many new orders")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_invalid_challenge_fails_the_authorization_with_its_problem_and_withdraws() {
    let mut keys = capture_keys();
    let k = capture_keys();
    let mut script = happy_script()[..6].to_vec();
    let raw = String::from_utf8(vector("10-authz-valid.http")).unwrap();
    let body = raw.split("\r\n\r\n").nth(1).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(body).unwrap();
    v["status"] = "invalid".into();
    v["challenges"][0]["status"] = "invalid".into();
    v["challenges"][0]["error"] =
        serde_json::json!({"type": "urn:ietf:params:acme:error:connection", "detail": "connection refused", "status": 400});
    let authz = script[4].0;
    script.push((authz, with_body("10-authz-valid.http", None, &v.to_string())));
    let (config, op) = order(&k, &SANS, &NAMES);
    let (outcome, t) = run(config, op, &mut keys, &script, 8192);
    match outcome {
        Outcome::AuthorizationFailed(Some(p)) => assert_eq!((p.kind, p.detail.as_str()), (ProblemKind::Connection, "connection refused")),
        other => panic!("{other:?}"),
    }
    assert_eq!(t.withdrawn, 1, "the challenge is withdrawn on failure too");
}

#[test]
fn an_order_that_becomes_invalid_ends_with_its_problem() {
    let mut keys = capture_keys();
    let k = capture_keys();
    let mut script = happy_script()[..7].to_vec();
    let finalize = happy_script()[7].0;
    let raw = String::from_utf8(vector("13-finalize.http")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(raw.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    v["status"] = "invalid".into();
    v["error"] = serde_json::json!({"type": "urn:ietf:params:acme:error:badCSR", "detail": "CSR names no identifier", "status": 400});
    script.push((finalize, with_body("13-finalize.http", None, &v.to_string())));
    let (config, op) = order(&k, &SANS, &NAMES);
    let (outcome, _) = run(config, op, &mut keys, &script, 8192);
    assert!(matches!(&outcome, Outcome::OrderInvalid(Some(p)) if p.kind == ProblemKind::BadCsr), "{outcome:?}");
}

#[test]
fn every_failure_reply_is_a_typed_outcome() {
    let mut keys = capture_keys();
    let k = capture_keys();
    let prefix = |n: usize| happy_script()[..n].to_vec();
    let cases: Vec<(Script, Check)> = vec![
        // pebble's captured problems.
        (
            {
                let mut s = prefix(3);
                s.push(("POST /order-plz", vector("20-problem-rejected-identifier.http")));
                s
            },
            Box::new(|o| matches!(o, Outcome::Problem(p) if p.kind == ProblemKind::Malformed && p.status == 400 && !p.detail.is_empty())),
        ),
        (
            {
                let mut s = prefix(2);
                s.push(("POST /sign-me-up", vector("18-problem-wrong-content-type.http")));
                s
            },
            Box::new(|o| matches!(o, Outcome::Problem(p) if p.status == 415)),
        ),
        // An error status without a problem document.
        (
            {
                let mut s = prefix(2);
                s.push(("POST /sign-me-up", b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n".to_vec()));
                s
            },
            Box::new(|o| *o == Outcome::HttpStatus(502)),
        ),
        // newNonce without a nonce.
        (
            {
                let mut s = prefix(1);
                s.push(("GET /nonce-plz", b"HTTP/1.1 204 No Content\r\n\r\n".to_vec()));
                s
            },
            Box::new(|o| matches!(o, Outcome::Protocol(_))),
        ),
        // A directory that sends the client to another server.
        (
            vec![(
                "GET /dir",
                with_body(
                    "01-directory.http",
                    None,
                    r#"{"newNonce":"https://evil.example/n","newAccount":"https://127.0.0.1:14000/a","newOrder":"https://127.0.0.1:14000/o"}"#,
                ),
            )],
            Box::new(|o| *o == Outcome::Protocol("a URL names another server")),
        ),
        // A URL a request line cannot carry (found by the fuzz target): an outcome, not an error.
        (
            vec![(
                "GET /dir",
                with_body(
                    "01-directory.http",
                    None,
                    r#"{"newNonce":"https://127.0.0.1:14000/n p","newAccount":"https://127.0.0.1:14000/a","newOrder":"https://127.0.0.1:14000/o"}"#,
                ),
            )],
            Box::new(|o| *o == Outcome::Protocol("a URL with characters a request cannot carry")),
        ),
        // Not the object expected, and nesting over the bound.
        (
            vec![("GET /dir", with_body("01-directory.http", None, r#"{"newNonce":5}"#))],
            Box::new(|o| *o == Outcome::Json(JsonError::Malformed)),
        ),
        (
            vec![("GET /dir", with_body("01-directory.http", None, &format!(r#"{{"meta":{}}}"#, "[".repeat(50))))],
            Box::new(|o| *o == Outcome::Json(JsonError::TooDeep)),
        ),
        // newAccount without Location.
        (
            {
                let mut s = prefix(2);
                s.push(("POST /sign-me-up", b"HTTP/1.1 201 Created\r\nReplay-Nonce: n1\r\nContent-Type: application/json\r\nContent-Length: 18\r\n\r\n{\"status\":\"valid\"}".to_vec()));
                s
            },
            Box::new(|o| *o == Outcome::Protocol("newAccount answered without a Location")),
        ),
        // A deactivated account.
        (
            {
                let mut s = prefix(2);
                s.push(("POST /sign-me-up", with_body("04-new-account.http", None, r#"{"status":"deactivated"}"#)));
                s
            },
            Box::new(|o| *o == Outcome::AccountNotValid),
        ),
        // No challenge of a kind the device answers.
        (
            {
                let mut s = prefix(4);
                let authz = happy_script()[4].0;
                s.push((authz, with_body("08-authz-pending.http", None, r#"{"status":"pending","identifier":{"type":"dns","value":"test.example"},"challenges":[{"type":"tls-alpn-01","url":"https://127.0.0.1:14000/c","status":"pending","token":"abc"}]}"#)));
                s
            },
            Box::new(|o| *o == Outcome::NoUsableChallenge),
        ),
        // A certificate that is not a PEM chain.
        (
            {
                let mut s = happy_script();
                let last = s.pop().unwrap();
                s.push((last.0, with_body("14-order-valid.http", None, "{}")));
                s
            },
            Box::new(|o| matches!(o, Outcome::Protocol(_))),
        ),
    ];
    for (i, (script, check)) in cases.into_iter().enumerate() {
        let (config, op) = order(&k, &SANS, &NAMES);
        let (outcome, _) = run(config, op, &mut keys, &script, 8192);
        assert!(check(&outcome), "case {i}: {outcome:?}");
        // Every outcome reads as a sentence.
        assert!(!outcome.to_string().is_empty());
    }
}

#[test]
fn a_chain_that_does_not_lead_to_the_anchor_or_to_the_key_is_refused() {
    let mut keys = capture_keys();
    let k = capture_keys();
    // Another anchor: the capture's intermediate is not the root, but a path to it exists;
    // a certificate from the SCEP vectors does not issue anything here.
    let other = {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/scep/certmonger-client-vs-micromdm-server-RA-chain-rsa/root.pem"),
        )
        .unwrap();
        let b64: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
        base64ct::Base64::decode_vec(&b64).unwrap()
    };
    let (mut config, op) = order(&k, &SANS, &NAMES);
    config.trust_anchor = Some(&other);
    let (outcome, t) = run(config, op, &mut keys, &happy_script(), 8192);
    assert_eq!(outcome, Outcome::Untrusted);
    assert!(t.chain.is_empty(), "no certificate is handed out");
    // A CSR key that is not the leaf's.
    let mut other_key = SoftP256Key::from_bytes(&[7u8; 32]).unwrap();
    let mut spki = [0u8; 128];
    let n = other_key.public_key_der(&mut spki).unwrap();
    let mut config = Config::new("127.0.0.1", 14000, "/dir", &k.account_spki, &spki[..n]);
    config.trust_anchor = None;
    let op = Operation::Order { identifiers: &NAMES, csr: CsrBuilder::new(&[]).subject_alt_names(&SANS) };
    let mut keys2 = Keys {
        account: SoftP256Key::from_pkcs8_der(&pem_der("account-key.pem")).unwrap(),
        cert: other_key,
        account_spki: k.account_spki.clone(),
        cert_spki: spki[..n].to_vec(),
    };
    let (outcome, _) = run(config, op, &mut keys2, &happy_script(), 8192);
    assert_eq!(outcome, Outcome::WrongKey);
}

#[test]
fn a_reply_larger_than_the_buffer_is_refused_with_the_size_it_needs() {
    let mut keys = capture_keys();
    let k = capture_keys();
    // The 863-byte pending authorization (Content-Length) into a 1 KiB io buffer: its head
    // is kept, so the body has less room.
    let (config, op) = order(&k, &SANS, &NAMES);
    let script = happy_script()[..5].to_vec();
    let (outcome, _) = run(config, op, &mut keys, &script, 1024);
    match outcome {
        Outcome::Http(HttpError::BodyTooLarge { limit, needed }) => {
            assert_eq!(needed, 863);
            assert!(limit < 863 && limit > 500, "{limit}");
        }
        other => panic!("{other:?}"),
    }
}

/// A directory with ARI (renewalInfo), as Let's Encrypt's has, made from pebble's.
fn directory_with_ari() -> Vec<u8> {
    let raw = String::from_utf8(vector("01-directory.http")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(raw.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    v["renewalInfo"] = format!("{BASE}/draft-ietf-acme-ari-03/renewalInfo").into();
    with_body("01-directory.http", None, &v.to_string())
}

fn issued_leaf() -> Vec<u8> {
    let text = String::from_utf8(vector("issued-chain.pem")).unwrap();
    let first = text.split("-----END CERTIFICATE-----").next().unwrap();
    let b64: String = first.lines().filter(|l| !l.starts_with("-----") && !l.is_empty()).collect();
    base64ct::Base64::decode_vec(&b64).unwrap()
}

#[test]
fn renewal_information_gives_the_window_and_retry_after_or_says_there_is_none() {
    let mut keys = capture_keys();
    let k = capture_keys();
    let leaf = issued_leaf();
    let id = embedded_enroll::acme::client::ari_id(&leaf).unwrap();
    let path: &'static str = Box::leak(format!("GET /draft-ietf-acme-ari-03/renewalInfo/{id}").into_boxed_str());
    let window = r#"{"suggestedWindow":{"start":"2027-01-01T00:00:00Z","end":"2027-01-03T00:00:00Z"},"explanationURL":"https://x/why"}"#;
    let reply = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nRetry-After: 21600\r\nContent-Length: {}\r\n\r\n{window}",
        window.len()
    );
    let config = Config::new("127.0.0.1", 14000, "/dir", &k.account_spki, &k.cert_spki);
    let (outcome, t) = run(
        config,
        Operation::RenewalInfo { certificate: &leaf },
        &mut keys,
        &[("GET /dir", directory_with_ari()), (path, reply.into_bytes())],
        8192,
    );
    assert_eq!(
        outcome,
        Outcome::RenewalWindow {
            start: UnixTime::from_secs(1_798_761_600),
            end: UnixTime::from_secs(1_798_934_400),
            retry_after_secs: 21600
        }
    );
    assert_eq!(t.requests.len(), 2, "no nonce, no account: a plain GET");
    // pebble 2.4.0 has no ARI: the caller's own policy applies.
    let config = Config::new("127.0.0.1", 14000, "/dir", &k.account_spki, &k.cert_spki);
    let (outcome, _) =
        run(config, Operation::RenewalInfo { certificate: &leaf }, &mut keys, &[("GET /dir", vector("01-directory.http"))], 8192);
    assert_eq!(outcome, Outcome::NoRenewalInfo);
    // A window that ends before it starts is refused.
    let bad = r#"{"suggestedWindow":{"start":"2027-01-03T00:00:00Z","end":"2027-01-01T00:00:00Z"}}"#;
    let reply = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{bad}", bad.len());
    let config = Config::new("127.0.0.1", 14000, "/dir", &k.account_spki, &k.cert_spki);
    let (outcome, _) = run(
        config,
        Operation::RenewalInfo { certificate: &leaf },
        &mut keys,
        &[("GET /dir", directory_with_ari()), (path, reply.into_bytes())],
        8192,
    );
    assert!(matches!(outcome, Outcome::Protocol(_)), "{outcome:?}");
}

#[test]
fn a_renewal_order_names_the_certificate_it_replaces_when_the_server_has_ari() {
    let mut keys = capture_keys();
    let k = capture_keys();
    let leaf = issued_leaf();
    // The newOrder payload the client sends, given the directory reply.
    let mut new_order_payload = |directory: Vec<u8>| {
        let mut work = vec![0u8; 8192];
        let mut io = vec![0u8; 8192];
        let (mut config, op) = order(&k, &SANS, &NAMES);
        config.replaces = Some(&leaf);
        let mut client = Client::new(config, op, Buffers { work: &mut work, io: &mut io }).unwrap();
        let now = Instant::from_secs(1);
        let mut script = happy_script();
        script[0].1 = directory;
        let mut sent = 0;
        loop {
            match client.poll(now).unwrap() {
                Step::Send(req) => {
                    let req = String::from_utf8(req.to_vec()).unwrap();
                    if req.starts_with("POST /order-plz ") {
                        let body: serde_json::Value = serde_json::from_str(req.split("\r\n\r\n").nth(1).unwrap()).unwrap();
                        break String::from_utf8(Base64UrlUnpadded::decode_vec(body["payload"].as_str().unwrap()).unwrap()).unwrap();
                    }
                    client.handle_response_data(now, &script[sent].1).unwrap();
                    client.handle_response_end(now).unwrap();
                    sent += 1;
                }
                Step::Sign(r) => {
                    let key = if r.key == KeyRole::Account { &mut keys.account } else { &mut keys.cert };
                    let mut sig = [0u8; 64];
                    let n = key.sign_prehash(&r.digest, &mut sig).unwrap();
                    client.signed(now, &sig[..n]).unwrap();
                }
                other => panic!("{other:?}"),
            }
        }
    };
    let id = embedded_enroll::acme::ari_id(&leaf).unwrap();
    assert_eq!(
        new_order_payload(directory_with_ari()),
        format!(r#"{{"identifiers":[{{"type":"dns","value":"test.example"}}],"replaces":"{id}"}}"#)
    );
    // pebble 2.4.0's directory has no renewalInfo: no `replaces`.
    assert_eq!(new_order_payload(vector("01-directory.http")), r#"{"identifiers":[{"type":"dns","value":"test.example"}]}"#);
}

#[cfg(not(feature = "acme-manage"))]
#[test]
fn without_acme_manage_the_management_operations_are_refused_up_front() {
    let k = capture_keys();
    let leaf = issued_leaf();
    let new_key = k.cert_spki.clone();
    for operation in [
        Operation::Revoke { certificate: &leaf, reason: None, by_certificate_key: false },
        Operation::KeyChange { new_key: &new_key },
        Operation::Deactivate,
    ] {
        let (mut io, mut work) = (vec![0u8; 8192], vec![0u8; 8192]);
        let config = Config::new("127.0.0.1", 14000, "/dir", &k.account_spki, &k.cert_spki);
        let r = Client::new(config, operation, Buffers { io: &mut io, work: &mut work });
        assert!(
            matches!(&r, Err(embedded_enroll::error::ClientError::Config(m)) if m.contains("acme-manage")),
            "{operation:?}: {:?}",
            r.err()
        );
    }
}

#[cfg(feature = "acme-manage")]
#[test]
fn revocation_key_change_and_deactivation_with_a_known_account() {
    let mut keys = capture_keys();
    let k = capture_keys();
    let account_url = header(&vector("04-new-account.http"), "location").unwrap();
    let leaf = issued_leaf();
    let ok = |body: &str| {
        format!(
            "HTTP/1.1 200 OK\r\nReplay-Nonce: n{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len(),
            body.len()
        )
        .into_bytes()
    };
    let empty = b"HTTP/1.1 200 OK\r\nReplay-Nonce: nrev\r\nContent-Length: 0\r\n\r\n".to_vec();
    let account_path: &'static str = Box::leak(format!("POST {}", account_url.trim_start_matches(BASE)).into_boxed_str());
    let base = || vec![("GET /dir", vector("01-directory.http")), ("GET /nonce-plz", vector("03-new-nonce-get.http"))];
    // Revocation with the account key (kid).
    let mut config = Config::new("127.0.0.1", 14000, "/dir", &k.account_spki, &k.cert_spki);
    config.account_url = Some(&account_url);
    let mut script = base();
    script.push(("POST /revoke-cert", empty.clone()));
    let (outcome, _) =
        run(config, Operation::Revoke { certificate: &leaf, reason: Some(4), by_certificate_key: false }, &mut keys, &script, 8192);
    assert_eq!(outcome, Outcome::Revoked);
    // Deactivation: POST to the account URL, the reply's status checked.
    let mut config = Config::new("127.0.0.1", 14000, "/dir", &k.account_spki, &k.cert_spki);
    config.account_url = Some(&account_url);
    let mut script = base();
    script.push((account_path, ok(r#"{"status":"deactivated"}"#)));
    let (outcome, _) = run(config, Operation::Deactivate, &mut keys, &script, 8192);
    assert_eq!(outcome, Outcome::Deactivated);
    // Without the account URL, the account is found first (onlyReturnExisting).
    let config = Config::new("127.0.0.1", 14000, "/dir", &k.account_spki, &k.cert_spki);
    let mut script = base();
    script.push(("POST /sign-me-up", vector("05-new-account-existing.http")));
    script.push((account_path, ok(r#"{"status":"valid"}"#)));
    let (outcome, _) = run(config, Operation::Deactivate, &mut keys, &script, 8192);
    assert!(matches!(outcome, Outcome::Protocol(_)), "a deactivation the server did not make is not reported as done: {outcome:?}");
}
