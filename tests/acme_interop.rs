//! ACME interop against a real peer we did not write: pebble 2.4.0 (Debian package) and
//! pebble-challtestsrv, started by `tests/peers/pebble.sh` on 127.0.0.1 only, with pebble's
//! nonce rejection on (about 5% of good nonces answered `badNonce`: the client must retry).
//! The client runs through the blocking driver over rustls; the issued chains are checked with
//! `openssl verify` against pebble's root.
//!
//! Run with `cargo test --features acme,std,host-tls,soft-keys --test acme_interop -- --ignored`.

#![cfg(all(feature = "acme", feature = "host-tls", feature = "soft-keys"))]

use base64ct::Encoding;
use embedded_enroll::acme::client::{
    Buffers, ChallengeKind, ChallengeTask, Client, Config, ExternalAccountBinding, Identifier, Operation, Outcome, Responder,
};
use embedded_enroll::acme::http01;
use embedded_enroll::asn1::csr::{CsrBuilder, NameAttribute, SubjectAltName};
use embedded_enroll::crypto::Digest;
use embedded_enroll::hal::Signer;
use embedded_enroll::hal::soft::SoftP256Key;
use embedded_enroll::hal::{ErrorKind, KeyRole};
use embedded_enroll::transport::blocking::{DeviceKeys, run_acme};
use embedded_enroll::transport::host::StdTimer;
use embedded_enroll::transport::host_tls::{RustlsConnector, TlsVersions};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

/// A pebble started for one test, stopped when dropped.
struct Pebble {
    dir: tempfile::TempDir,
    port: u16,
}

impl Pebble {
    fn start(port: u16, extra: &[&str]) -> Self {
        Self::start_with(port, extra, &[])
    }
    fn start_with(port: u16, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("bash");
        cmd.arg(script()).arg("start").arg(dir.path()).arg(port.to_string()).args(extra);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "pebble did not start: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Self { dir, port }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn anchor(&self) -> Vec<u8> {
        der_of(&self.path("tls-ca.pem"))
    }
    fn connector(&self) -> RustlsConnector {
        let anchor = self.anchor();
        RustlsConnector::new::<SoftP256Key>(&format!("127.0.0.1:{}", self.port), "localhost", Some(&anchor), TlsVersions::Both, None)
            .unwrap()
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(script()).arg("stop").arg(self.dir.path()).status();
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/pebble.sh")
}

fn der_of(pem: &Path) -> Vec<u8> {
    let out = Command::new("openssl").args(["x509", "-outform", "DER", "-in"]).arg(pem).output().unwrap();
    assert!(out.status.success());
    out.stdout
}

fn spki(key: &mut SoftP256Key) -> Vec<u8> {
    let mut out = [0u8; 128];
    let n = key.public_key_der(&mut out).unwrap();
    out[..n].to_vec()
}

/// The firmware side of http-01: a listener on the port pebble's VA fetches from, answering
/// with `acme::http01::respond` for the challenge being published.
struct Http01 {
    task: Arc<Mutex<Option<(String, String)>>>,
    published: usize,
    withdrawn: usize,
}

impl Http01 {
    fn listen(port: u16) -> Self {
        let task: Arc<Mutex<Option<(String, String)>>> = Arc::default();
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let shared = task.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let shared = shared.clone();
                // The VA fetches three times at once.
                std::thread::spawn(move || {
                    conn.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
                    let mut req = Vec::new();
                    let mut buf = [0u8; 512];
                    let mut out = [0u8; 512];
                    loop {
                        let Ok(n) = conn.read(&mut buf) else { return };
                        if n == 0 {
                            return;
                        }
                        req.extend_from_slice(&buf[..n]);
                        let current = shared.lock().unwrap().clone();
                        let task = current.as_ref().map(|(token, ka)| ChallengeTask {
                            kind: ChallengeKind::Http01,
                            identifier: "",
                            token,
                            key_authorization: ka,
                        });
                        match http01::respond(&req, task.as_ref(), &mut out) {
                            http01::Answer::Incomplete => continue,
                            http01::Answer::KeyAuthorization(n)
                            | http01::Answer::NotFound(n)
                            | http01::Answer::MethodNotAllowed(n)
                            | http01::Answer::BadRequest(n) => {
                                let _ = conn.write_all(&out[..n]);
                                return;
                            }
                            http01::Answer::BufferTooSmall(_) => return,
                        }
                    }
                });
            }
        });
        Self { task, published: 0, withdrawn: 0 }
    }
}

impl Responder for Http01 {
    fn publish(&mut self, task: &ChallengeTask<'_>) -> bool {
        assert_eq!(task.kind, ChallengeKind::Http01);
        *self.task.lock().unwrap() = Some((task.token.to_string(), task.key_authorization.to_string()));
        self.published += 1;
        true
    }
    fn withdraw(&mut self, _: &ChallengeTask<'_>) {
        *self.task.lock().unwrap() = None;
        self.withdrawn += 1;
    }
}

/// dns-01 through challtestsrv's management API (the TXT record pebble's VA looks up).
struct Dns01 {
    api: u16,
    published: usize,
}

impl Dns01 {
    fn call(&self, path: &str, body: &str) -> bool {
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.api)) else { return false };
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).unwrap();
        let mut resp = String::new();
        let _ = s.read_to_string(&mut resp);
        resp.starts_with("HTTP/1.1 200")
    }
}

impl Responder for Dns01 {
    fn publish(&mut self, task: &ChallengeTask<'_>) -> bool {
        assert_eq!(task.kind, ChallengeKind::Dns01);
        self.published += 1;
        let body = format!(r#"{{"host":"_acme-challenge.{}.","value":"{}"}}"#, task.identifier, task.dns_txt_value());
        self.call("/set-txt", &body)
    }
    fn withdraw(&mut self, task: &ChallengeTask<'_>) {
        let body = format!(r#"{{"host":"_acme-challenge.{}."}}"#, task.identifier);
        assert!(self.call("/clear-txt", &body));
    }
}

/// The device's keys by role for ACME: the account key signs every JWS; the certificate key
/// signs the CSR (`Requested`) and a revocation by certificate key (`Certificate`); in a key
/// change `Requested` is the new account key.
struct AcmeKeys<'k> {
    account: &'k mut SoftP256Key,
    other: &'k mut SoftP256Key,
}

impl DeviceKeys for AcmeKeys<'_> {
    fn sign(&mut self, role: KeyRole, digest: &Digest, out: &mut [u8]) -> Result<usize, ErrorKind> {
        let key = if role == KeyRole::Account { &mut *self.account } else { &mut *self.other };
        key.sign_prehash(digest, out).map_err(|_| ErrorKind::Other)
    }
    fn decrypt(&mut self, _: KeyRole, _: &[u8], _: &mut [u8]) -> Result<(), ErrorKind> {
        Err(ErrorKind::Unsupported)
    }
    fn agree(&mut self, _: KeyRole, _: &[u8], _: &mut [u8; 32]) -> Result<(), ErrorKind> {
        Err(ErrorKind::Unsupported)
    }
}

/// Runs `operation` to its end; returns the outcome, the account URL and the chain (PEM).
fn run(
    pebble: &Pebble,
    config: Config<'_>,
    operation: Operation<'_>,
    account: &mut SoftP256Key,
    cert_key: &mut SoftP256Key,
    responder: &mut impl Responder,
) -> (Outcome, Option<String>, String) {
    let mut work = vec![0u8; 8192];
    let mut io = vec![0u8; 8192];
    let mut client = Client::new(config, operation, Buffers { work: &mut work, io: &mut io }).unwrap();
    let mut connect = pebble.connector();
    let mut keys = AcmeKeys { account, other: cert_key };
    let mut steps = Vec::new();
    let outcome =
        run_acme(&mut client, &mut connect, &mut keys, responder, &mut StdTimer::default(), |p| steps.push(format!("{p:?}"))).unwrap();
    let mut pem = String::new();
    for der in client.certificates() {
        let out = Command::new("openssl")
            .args(["x509", "-inform", "DER"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        out.stdin.as_ref().unwrap().write_all(der).unwrap();
        pem += &String::from_utf8(out.wait_with_output().unwrap().stdout).unwrap();
    }
    eprintln!("{} steps; outcome {outcome}", steps.len());
    (outcome, client.account_url().map(str::to_string), pem)
}

/// `openssl verify` of the leaf against pebble's root through the chain's intermediate.
fn openssl_verify(pebble: &Pebble, chain_pem: &str) {
    let dir = tempfile::tempdir().unwrap();
    let blocks: Vec<&str> = chain_pem.split_inclusive("-----END CERTIFICATE-----\n").collect();
    assert!(blocks.len() >= 2, "leaf and intermediate expected: {chain_pem}");
    std::fs::write(dir.path().join("leaf.pem"), blocks[0]).unwrap();
    std::fs::write(dir.path().join("chain.pem"), blocks[1..].concat()).unwrap();
    let out = Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(pebble.path("root.pem"))
        .arg("-untrusted")
        .arg(dir.path().join("chain.pem"))
        .arg(dir.path().join("leaf.pem"))
        .output()
        .unwrap();
    assert!(out.status.success(), "openssl verify: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

#[test]
#[ignore = "needs pebble (tests/peers/pebble.sh)"]
fn pebble_issues_over_http01_dns01_and_with_a_known_account() {
    let port = 14100;
    let pebble = Pebble::start(port, &[]);
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let mut account = SoftP256Key::generate(&mut rng);
    let mut cert_key = SoftP256Key::generate(&mut rng);
    let account_spki = spki(&mut account);
    let cert_spki = spki(&mut cert_key);
    let root = der_of(&pebble.path("root.pem"));

    // 1. http-01: a new account, an order for two names, the chain checked against pebble's
    // root by the client (trust anchor) and by openssl.
    let names = [Identifier::Dns("device-1.example"), Identifier::Dns("device-1b.example")];
    let sans = [SubjectAltName::Dns("device-1.example"), SubjectAltName::Dns("device-1b.example")];
    let subject = [NameAttribute::common_name("device-1.example")];
    let csr = CsrBuilder::new(&subject).subject_alt_names(&sans);
    let mut config = Config::new("localhost", port, "/dir", &account_spki, &cert_spki);
    config.contact = &["mailto:ops@example.com"];
    config.trust_anchor = Some(&root);
    let mut http = Http01::listen(port + 4);
    let (outcome, account_url, chain) =
        run(&pebble, config, Operation::Order { identifiers: &names, csr }, &mut account, &mut cert_key, &mut http);
    assert_eq!(outcome, Outcome::Issued);
    assert_eq!((http.published, http.withdrawn), (2, 2), "one challenge per name, each withdrawn");
    openssl_verify(&pebble, &chain);
    let account_url = account_url.expect("the account URL");
    assert!(account_url.starts_with("https://localhost:14100/"), "{account_url}");

    // 2. dns-01 through challtestsrv, with the account URL known (no newAccount: kid only).
    let names = [Identifier::Dns("device-2.example")];
    let sans = [SubjectAltName::Dns("device-2.example")];
    let csr = CsrBuilder::new(&[]).subject_alt_names(&sans);
    let mut config = Config::new("localhost", port, "/dir", &account_spki, &cert_spki);
    config.account_url = Some(&account_url);
    config.challenges.http01 = false;
    config.challenges.dns01 = true;
    let mut dns = Dns01 { api: port + 2, published: 0 };
    let (outcome, same_account, chain) =
        run(&pebble, config, Operation::Order { identifiers: &names, csr }, &mut account, &mut cert_key, &mut dns);
    assert_eq!(outcome, Outcome::Issued);
    assert_eq!(dns.published, 1);
    assert_eq!(same_account.as_deref(), Some(account_url.as_str()));
    openssl_verify(&pebble, &chain);

    // 3. onlyReturnExisting finds the account of this key, and refuses an unknown key with
    // pebble's problem document.
    let config = Config::new("localhost", port, "/dir", &account_spki, &cert_spki);
    let (outcome, found, _) = run(&pebble, config, Operation::Account { only_existing: true }, &mut account, &mut cert_key, &mut http);
    assert_eq!(outcome, Outcome::Account);
    assert_eq!(found.as_deref(), Some(account_url.as_str()));
    let mut stranger = SoftP256Key::generate(&mut rng);
    let stranger_spki = spki(&mut stranger);
    let config = Config::new("localhost", port, "/dir", &stranger_spki, &cert_spki);
    let (outcome, _, _) = run(&pebble, config, Operation::Account { only_existing: true }, &mut stranger, &mut cert_key, &mut http);
    match outcome {
        Outcome::Problem(p) => assert_eq!(p.kind, embedded_enroll::acme::ProblemKind::AccountDoesNotExist, "{p}"),
        other => panic!("expected accountDoesNotExist, got {other}"),
    }

    // 4. A chain checked against another anchor is refused.
    let names = [Identifier::Dns("device-3.example")];
    let sans = [SubjectAltName::Dns("device-3.example")];
    let csr = CsrBuilder::new(&[]).subject_alt_names(&sans);
    let wrong_anchor = pebble.anchor();
    let mut config = Config::new("localhost", port, "/dir", &account_spki, &cert_spki);
    config.account_url = Some(&account_url);
    config.trust_anchor = Some(&wrong_anchor);
    let (outcome, _, _) = run(&pebble, config, Operation::Order { identifiers: &names, csr }, &mut account, &mut cert_key, &mut http);
    assert_eq!(outcome, Outcome::Untrusted);
}

#[test]
#[ignore = "needs pebble (tests/peers/pebble.sh)"]
fn pebble_with_external_account_binding() {
    let port = 14200;
    let pebble = Pebble::start(port, &["--eab"]);
    let keys = std::fs::read_to_string(pebble.path("eab-keys.txt")).unwrap();
    let (kid, hmac) = keys.lines().next().unwrap().split_once(' ').unwrap();
    let hmac = base64ct::Base64UrlUnpadded::decode_vec(hmac.trim_end_matches('=')).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    let mut account = SoftP256Key::generate(&mut rng);
    let mut cert_key = SoftP256Key::generate(&mut rng);
    let (account_spki, cert_spki) = (spki(&mut account), spki(&mut cert_key));
    let mut http = Http01::listen(port + 4);

    // Without EAB: pebble's externalAccountRequired.
    let config = Config::new("localhost", port, "/dir", &account_spki, &cert_spki);
    let (outcome, _, _) = run(&pebble, config, Operation::Account { only_existing: false }, &mut account, &mut cert_key, &mut http);
    assert!(matches!(&outcome, Outcome::Problem(p) if p.kind == embedded_enroll::acme::ProblemKind::ExternalAccountRequired), "{outcome}");

    // A wrong MAC key is refused; the right one makes the account, and an order goes through.
    let mut config = Config::new("localhost", port, "/dir", &account_spki, &cert_spki);
    config.eab = Some(ExternalAccountBinding { kid, hmac_key: b"not the key" });
    let (outcome, _, _) = run(&pebble, config, Operation::Account { only_existing: false }, &mut account, &mut cert_key, &mut http);
    assert!(matches!(&outcome, Outcome::Problem(_)), "{outcome}");
    let mut config = Config::new("localhost", port, "/dir", &account_spki, &cert_spki);
    config.eab = Some(ExternalAccountBinding { kid, hmac_key: &hmac });
    let names = [Identifier::Dns("eab-device.example")];
    let sans = [SubjectAltName::Dns("eab-device.example")];
    let csr = CsrBuilder::new(&[]).subject_alt_names(&sans);
    let (outcome, _, chain) = run(&pebble, config, Operation::Order { identifiers: &names, csr }, &mut account, &mut cert_key, &mut http);
    assert_eq!(outcome, Outcome::Issued);
    openssl_verify(&pebble, &chain);
}

use rand::SeedableRng;

/// pebble's root number `n` (management interface), DER.
fn pebble_root(pebble: &Pebble, n: u32) -> Vec<u8> {
    let pem = pebble.path(&format!("root-{n}.pem"));
    let out = Command::new("curl")
        .args(["-sf", "--max-time", "10", "--cacert"])
        .arg(pebble.path("tls-ca.pem"))
        .arg(format!("https://127.0.0.1:{}/roots/{n}", pebble.port + 1))
        .arg("-o")
        .arg(&pem)
        .status()
        .unwrap();
    assert!(out.success(), "fetching pebble's root {n}");
    der_of(&pem)
}

#[cfg(feature = "acme-manage")]
#[test]
#[ignore = "needs pebble (tests/peers/pebble.sh)"]
fn pebble_revocation_key_change_deactivation_and_alternate_chains() {
    let port = 14300;
    let pebble = Pebble::start_with(port, &[], &[("PEBBLE_ALTERNATE_ROOTS", "1")]);
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let mut account = SoftP256Key::generate(&mut rng);
    let mut cert_key = SoftP256Key::generate(&mut rng);
    let (account_spki, cert_spki) = (spki(&mut account), spki(&mut cert_key));
    let mut http = Http01::listen(port + 4);
    let issue = |name: &'static str,
                 anchor: Option<&[u8]>,
                 account_url: Option<&str>,
                 account: &mut SoftP256Key,
                 account_spki: &[u8],
                 cert_key: &mut SoftP256Key,
                 http: &mut Http01| {
        let names = [Identifier::Dns(name)];
        let sans = [SubjectAltName::Dns(name)];
        let csr = CsrBuilder::new(&[]).subject_alt_names(&sans);
        let mut config = Config::new("localhost", port, "/dir", account_spki, &cert_spki);
        config.trust_anchor = anchor;
        config.account_url = account_url;
        run(&pebble, config, Operation::Order { identifiers: &names, csr }, account, cert_key, http)
    };

    // 1. Alternate chains: anchored at pebble's second root, the client follows
    // `Link: rel="alternate"` until a chain leads there.
    let root1 = pebble_root(&pebble, 1);
    let (outcome, account_url, chain) = issue("alt.example", Some(&root1), None, &mut account, &account_spki, &mut cert_key, &mut http);
    assert_eq!(outcome, Outcome::Issued);
    let account_url = account_url.unwrap();
    let verify = |chain: &str, root: &Path| {
        let dir = tempfile::tempdir().unwrap();
        let blocks: Vec<&str> = chain.split_inclusive("-----END CERTIFICATE-----\n").collect();
        std::fs::write(dir.path().join("leaf.pem"), blocks[0]).unwrap();
        std::fs::write(dir.path().join("chain.pem"), blocks[1..].concat()).unwrap();
        Command::new("openssl")
            .args(["verify", "-CAfile"])
            .arg(root)
            .arg("-untrusted")
            .arg(dir.path().join("chain.pem"))
            .arg(dir.path().join("leaf.pem"))
            .status()
            .unwrap()
            .success()
    };
    assert!(verify(&chain, &pebble.path("root-1.pem")), "the chain handed out leads to root 1");
    assert!(!verify(&chain, &pebble.path("root.pem")), "and not to root 0");

    // 2. Revocation of that certificate by the account key, then of another one by its own
    // key (JWK of the certificate key, no account); pebble's problem for a second try.
    let leaf_of = |chain: &str| der_of_pem_text(chain.split_inclusive("-----END CERTIFICATE-----\n").next().unwrap());
    let leaf = leaf_of(&chain);
    let mut config = Config::new("localhost", port, "/dir", &account_spki, &cert_spki);
    config.account_url = Some(&account_url);
    let (outcome, _, _) = run(
        &pebble,
        config,
        Operation::Revoke { certificate: &leaf, reason: Some(1), by_certificate_key: false },
        &mut account,
        &mut cert_key,
        &mut http,
    );
    assert_eq!(outcome, Outcome::Revoked);
    let config = Config::new("localhost", port, "/dir", &account_spki, &cert_spki);
    let (outcome, _, _) = run(
        &pebble,
        config,
        Operation::Revoke { certificate: &leaf, reason: None, by_certificate_key: false },
        &mut account,
        &mut cert_key,
        &mut http,
    );
    assert!(matches!(&outcome, Outcome::Problem(p) if p.kind == embedded_enroll::acme::ProblemKind::AlreadyRevoked), "{outcome}");
    let (outcome, _, chain2) = issue("rev2.example", None, Some(&account_url), &mut account, &account_spki, &mut cert_key, &mut http);
    assert_eq!(outcome, Outcome::Issued);
    let leaf2 = leaf_of(&chain2);
    let config = Config::new("localhost", port, "/dir", &account_spki, &cert_spki);
    let (outcome, _, _) = run(
        &pebble,
        config,
        Operation::Revoke { certificate: &leaf2, reason: None, by_certificate_key: true },
        &mut account,
        &mut cert_key,
        &mut http,
    );
    assert_eq!(outcome, Outcome::Revoked);

    // 3. Key change: the account moves to a new key; the old key finds no account after, the
    // new key orders under the same account URL.
    let mut new_key = SoftP256Key::generate(&mut rng);
    let new_spki = spki(&mut new_key);
    let mut config = Config::new("localhost", port, "/dir", &account_spki, &cert_spki);
    config.account_url = Some(&account_url);
    let (outcome, _, _) = run(&pebble, config, Operation::KeyChange { new_key: &new_spki }, &mut account, &mut new_key, &mut http);
    assert_eq!(outcome, Outcome::KeyChanged);
    let config = Config::new("localhost", port, "/dir", &account_spki, &cert_spki);
    let (outcome, _, _) = run(&pebble, config, Operation::Account { only_existing: true }, &mut account, &mut cert_key, &mut http);
    assert!(matches!(&outcome, Outcome::Problem(p) if p.kind == embedded_enroll::acme::ProblemKind::AccountDoesNotExist), "{outcome}");
    let config = Config::new("localhost", port, "/dir", &new_spki, &cert_spki);
    let (outcome, found, _) = run(&pebble, config, Operation::Account { only_existing: true }, &mut new_key, &mut cert_key, &mut http);
    assert_eq!((outcome, found.as_deref()), (Outcome::Account, Some(account_url.as_str())));

    // 4. Deactivation (found by the new key), after which the account cannot order.
    let config = Config::new("localhost", port, "/dir", &new_spki, &cert_spki);
    let (outcome, _, _) = run(&pebble, config, Operation::Deactivate, &mut new_key, &mut cert_key, &mut http);
    assert_eq!(outcome, Outcome::Deactivated);
    let (outcome, _, _) = issue("late.example", None, Some(&account_url), &mut new_key, &new_spki, &mut cert_key, &mut http);
    assert!(matches!(&outcome, Outcome::Problem(p) if p.kind == embedded_enroll::acme::ProblemKind::Unauthorized), "{outcome}");
}

fn der_of_pem_text(pem: &str) -> Vec<u8> {
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64ct::Base64::decode_vec(&b64).unwrap()
}

/// tls-alpn-01 on the host: a rustls server on the port pebble's VA connects to, presenting
/// the validation certificate built with `acme::tls_alpn` (signed by a key of its own) to a
/// client offering `acme-tls/1`.
struct TlsAlpn01 {
    config: Arc<Mutex<Option<Arc<rustls::ServerConfig>>>>,
    published: usize,
}

impl TlsAlpn01 {
    fn listen(port: u16) -> Self {
        let config: Arc<Mutex<Option<Arc<rustls::ServerConfig>>>> = Arc::default();
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let shared = config.clone();
        std::thread::spawn(move || {
            for tcp in listener.incoming() {
                let Ok(mut tcp) = tcp else { continue };
                let Some(config) = shared.lock().unwrap().clone() else { continue };
                std::thread::spawn(move || {
                    tcp.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
                    let mut conn = rustls::ServerConnection::new(config).unwrap();
                    // The handshake is the validation; the VA closes after it.
                    while conn.is_handshaking() {
                        if conn.complete_io(&mut tcp).is_err() {
                            return;
                        }
                    }
                    conn.send_close_notify();
                    let _ = conn.complete_io(&mut tcp);
                });
            }
        });
        Self { config, published: 0 }
    }
}

impl Responder for TlsAlpn01 {
    fn publish(&mut self, task: &ChallengeTask<'_>) -> bool {
        use embedded_enroll::acme::tls_alpn;
        assert_eq!(task.kind, ChallengeKind::TlsAlpn01);
        self.published += 1;
        let scalar = [0x5au8; 32];
        let mut key = SoftP256Key::from_bytes(&scalar).unwrap();
        let key_spki = spki(&mut key);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        let v = tls_alpn::Validation::for_task(
            task,
            &[0x11; 8],
            embedded_enroll::time::UnixTime::from_secs(now - 3600),
            embedded_enroll::time::UnixTime::from_secs(now + 3600),
        );
        let mut tbs_buf = [0u8; 1024];
        let tbs = tls_alpn::validation_tbs(&v, &key_spki, embedded_enroll::crypto::KeyType::EcP256, &mut tbs_buf).unwrap();
        let mut sig = [0u8; 64];
        key.sign_prehash(&Digest::sha256(tbs), &mut sig).unwrap();
        let mut out = [0u8; 1200];
        let cert = tls_alpn::assemble(tbs, embedded_enroll::crypto::KeyType::EcP256, &sig, &mut out).unwrap().to_vec();
        use p256::pkcs8::EncodePrivateKey;
        let pkcs8 = p256::SecretKey::from_slice(&scalar).unwrap().to_pkcs8_der().unwrap().as_bytes().to_vec();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        // Through a resolver: rustls' own single-certificate path refuses the critical
        // acmeIdentifier extension it does not know.
        let signing = provider.key_provider.load_private_key(rustls::pki_types::PrivateKeyDer::Pkcs8(pkcs8.into())).unwrap();
        let certified = Arc::new(rustls::sign::CertifiedKey::new(vec![cert.into()], signing));
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Fixed(certified)));
        config.alpn_protocols = vec![tls_alpn::ALPN.to_vec()];
        *self.config.lock().unwrap() = Some(Arc::new(config));
        true
    }
    fn withdraw(&mut self, _: &ChallengeTask<'_>) {
        *self.config.lock().unwrap() = None;
    }
}

/// One certificate for every handshake.
#[derive(Debug)]
struct Fixed(Arc<rustls::sign::CertifiedKey>);

impl rustls::server::ResolvesServerCert for Fixed {
    fn resolve(&self, _: rustls::server::ClientHello<'_>) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }
}

#[test]
#[ignore = "needs pebble (tests/peers/pebble.sh)"]
fn pebble_validates_tls_alpn01_against_the_validation_certificate() {
    let port = 14400;
    let pebble = Pebble::start(port, &[]);
    let mut rng = rand::rngs::StdRng::seed_from_u64(4);
    let mut account = SoftP256Key::generate(&mut rng);
    let mut cert_key = SoftP256Key::generate(&mut rng);
    let (account_spki, cert_spki) = (spki(&mut account), spki(&mut cert_key));
    let names = [Identifier::Dns("alpn-device.example")];
    let sans = [SubjectAltName::Dns("alpn-device.example")];
    let csr = CsrBuilder::new(&[]).subject_alt_names(&sans);
    let mut config = Config::new("localhost", port, "/dir", &account_spki, &cert_spki);
    config.challenges.http01 = false;
    config.challenges.tls_alpn01 = true;
    let mut tls = TlsAlpn01::listen(port + 5);
    let (outcome, _, chain) = run(&pebble, config, Operation::Order { identifiers: &names, csr }, &mut account, &mut cert_key, &mut tls);
    assert_eq!(outcome, Outcome::Issued);
    assert_eq!(tls.published, 1);
    openssl_verify(&pebble, &chain);
}

#[test]
#[ignore = "needs pebble (tests/peers/pebble.sh)"]
fn pebble_issues_over_embedded_tls_blocking_and_async() {
    use embedded_enroll::transport::nal::NalConnector;
    use embedded_enroll::transport::tls::TlsConnector;
    use embedded_enroll::transport::verify::ServerTrust;
    let port = 14450;
    let pebble = Pebble::start(port, &[]);
    let anchor = pebble.anchor();
    let remote: core::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let mut account = SoftP256Key::generate(&mut rng);
    let mut cert_key = SoftP256Key::generate(&mut rng);
    let (account_spki, cert_spki) = (spki(&mut account), spki(&mut cert_key));
    let mut http = Http01::listen(port + 4);
    let (mut rx, mut tx) = (vec![0u8; 16_640], vec![0u8; 4096]);
    let (mut work, mut io) = (vec![0u8; 8192], vec![0u8; 8192]);

    // embedded-nal + embedded-tls 1.3, the blocking driver (what a device runs).
    let names = [Identifier::Dns("etls-device.example")];
    let sans = [SubjectAltName::Dns("etls-device.example")];
    let csr = CsrBuilder::new(&[]).subject_alt_names(&sans);
    let mut config = Config::new("localhost", port, "/dir", &account_spki, &cert_spki);
    let root = der_of(&pebble.path("root.pem"));
    config.trust_anchor = Some(&root);
    let mut client = Client::new(config, Operation::Order { identifiers: &names, csr }, Buffers { work: &mut work, io: &mut io }).unwrap();
    let mut stack = std_embedded_nal::Stack;
    let mut tls: TlsConnector<'_, '_, _, _, SoftP256Key> = TlsConnector::new(
        NalConnector::new(&mut stack, remote),
        &mut rx,
        &mut tx,
        rand::rngs::OsRng,
        ServerTrust::Anchor(&anchor),
        "localhost",
    );
    let mut keys = AcmeKeys { account: &mut account, other: &mut cert_key };
    let outcome = run_acme(&mut client, &mut tls, &mut keys, &mut http, &mut StdTimer::default(), |_| {}).unwrap();
    assert_eq!(outcome, Outcome::Issued);
    let account_url = client.account_url().unwrap().to_string();
    drop(client);

    // embedded-nal-async + embedded-tls' async connection, the async driver, the same account.
    let names = [Identifier::Dns("async-device.example")];
    let sans = [SubjectAltName::Dns("async-device.example")];
    let csr = CsrBuilder::new(&[]).subject_alt_names(&sans);
    let mut config = Config::new("localhost", port, "/dir", &account_spki, &cert_spki);
    config.account_url = Some(&account_url);
    config.trust_anchor = Some(&root);
    let mut client = Client::new(config, Operation::Order { identifiers: &names, csr }, Buffers { work: &mut work, io: &mut io }).unwrap();
    let stack = std_embedded_nal_async::Stack::default();
    let mut tls: TlsConnector<'_, '_, _, _, SoftP256Key> = TlsConnector::new(
        embedded_enroll::transport::asynch::NalAsyncConnector::new(&stack, remote),
        &mut rx,
        &mut tx,
        rand::rngs::OsRng,
        ServerTrust::Anchor(&anchor),
        "localhost",
    );
    let outcome = futures_lite::future::block_on(embedded_enroll::transport::asynch::run_acme(
        &mut client,
        &mut tls,
        &mut keys,
        &mut http,
        &mut StdTimer::default(),
        |_| {},
    ))
    .unwrap();
    assert_eq!(outcome, Outcome::Issued);
    assert_eq!(client.certificates().count(), 2);
}

/// The lifecycle runner keeps an ACME identity: the account key made in its slot, an order
/// for the profile's names with the http-01 responder the firmware gives it, the chain to
/// pebble's root accepted by the manager; then, the device's clock at the renewal moment, a
/// renewal order naming the certificate it replaces. pebble 2.4.0 has no ARI: the runner asks
/// once, learns so, and the renewal policy decides.
#[test]
#[ignore = "needs pebble (tests/peers/pebble.sh)"]
fn the_lifecycle_runner_keeps_an_acme_identity_against_pebble() {
    use embedded_enroll::hal::soft::{SoftKeyKind, SoftKeySlots};
    use embedded_enroll::hal::{Clock, KeySlots, RamStore};
    use embedded_enroll::lifecycle::record::MAX_RECORD_LEN;
    use embedded_enroll::lifecycle::runner::{Device, Event, Flow, Runner, Settings, StaticMemory};
    use embedded_enroll::lifecycle::{Auth, KeyPolicy, KeySlot, Profile, Protocol, RenewalPolicy, Report, RolloverPolicy, Trust};
    use embedded_enroll::transport::host::TcpNetwork;
    use embedded_enroll::transport::verify::ServerTrust;
    use std::cell::Cell;
    use std::rc::Rc;

    #[derive(Clone, Default)]
    struct AheadClock(Rc<Cell<i64>>);
    impl Clock for AheadClock {
        fn now(&mut self) -> Option<embedded_enroll::UnixTime> {
            let real = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
            Some(embedded_enroll::UnixTime::from_secs(real + self.0.get()))
        }
    }

    let port = 14470;
    let pebble = Pebble::start(port, &[]);
    let root = der_of(&pebble.path("root.pem"));
    let tls_anchor = pebble.anchor();
    let server = format!("127.0.0.1:{port}");
    let alt_names = [SubjectAltName::Dns("runner-device.example")];
    let subject = [NameAttribute::common_name("runner-device.example")];
    let profile = Profile {
        name: "acme",
        protocol: Protocol::Acme,
        server: &server,
        key_slots: [0, 1],
        store_slots: [0, 1],
        trust: Trust::Anchor(&root),
        subject: &subject,
        alt_names: &alt_names,
        auth: Auth::None,
        renewal: RenewalPolicy::DEFAULT,
        keys: KeyPolicy::NewKey,
        rollover: RolloverPolicy::DEFAULT,
        extra: Settings {
            acme_directory: "/dir",
            acme_account_slot: 7,
            server_trust: ServerTrust::Anchor(&tls_anchor),
            tls_server_name: Some("localhost"),
            ..Settings::DEFAULT
        },
    };
    let mut http = Http01::listen(port + 4);
    let mut store = RamStore::<2, MAX_RECORD_LEN>::new();
    let clock = AheadClock::default();
    let mut memory = Box::new(StaticMemory::new());
    let device = Device {
        keys: SoftKeySlots::<8>::new(SoftKeyKind::P256),
        store: &mut store,
        network: TcpNetwork::default(),
        clock: clock.clone(),
        timer: StdTimer::default(),
        rng: rand::rngs::OsRng,
    };
    let mut runner = Runner::new(&profile, device, memory.memory()).unwrap();
    runner.set_challenge_responder(&mut http);
    let until_activated = |runner: &mut Runner<'_, _, _, _, _, _, _>| {
        let mut log = Vec::new();
        runner
            .run(|e| {
                if !matches!(e, Event::Progress(_)) {
                    log.push(format!("{e:?}").chars().take(120).collect::<String>());
                }
                assert!(log.len() < 80, "no activation: {log:#?}");
                match e {
                    Event::Activated { .. } => Flow::Stop,
                    Event::JobFailed(why) => panic!("job failed: {why}; {log:#?}"),
                    Event::Report(Report::Refused(why)) => panic!("refused: {why:?}; {log:#?}"),
                    _ => Flow::Continue,
                }
            })
            .unwrap();
        log
    };
    let log = until_activated(&mut runner);
    let (slot, first) = runner.manager().identity().expect("enrolled");
    let first = first.to_vec();
    assert_eq!(slot, KeySlot::A, "{log:#?}");
    let mut spki = [0u8; 128];
    let n = runner.device().keys.public_key_der(0, &mut spki).unwrap();
    assert_eq!(embedded_enroll::asn1::cert::CertificateRef::parse(&first).unwrap().spki().as_der(), &spki[..n]);
    let account_key_made = runner.device().keys.public_key_der(7, &mut spki).is_ok();
    assert!(account_key_made, "the account key was made in its slot");

    // The renewal moment: a new order for the key in the spare slot.
    let renew_at = runner.manager().record().renew_at;
    let real = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    clock.0.set(renew_at.as_secs() - real + 1);
    let log2 = until_activated(&mut runner);
    let (slot, renewed) = runner.manager().identity().expect("renewed");
    assert_eq!(slot, KeySlot::B, "{log2:#?}");
    assert_ne!(renewed, &first[..]);
    drop(runner);
    // pebble reuses half of the valid authorizations: the renewal may need no challenge.
    assert!(http.published >= 1 && http.published == http.withdrawn, "{} published, {} withdrawn", http.published, http.withdrawn);
}
