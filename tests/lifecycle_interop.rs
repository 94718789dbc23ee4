//! The lifecycle manager against real servers we did not write: micromdm `scepserver`
//! (enrollment, then a RenewalReq for a new key in the spare slot, signed with the current
//! certificate) and the `est-ca` crate (enrollment with HTTP Basic, then /simplereenroll
//! with the current certificate as TLS client certificate). Each renewal is asked for by the
//! manager when its clock reaches the renewal moment, persisted, activated, and checked with
//! `openssl verify`. Storage is two in-memory slots, reloaded from bytes after every write.
//!
//! Needs root (micromdm's network namespace) and the peers' packages: run by `.ci/test` with
//! `--ignored`.
#![cfg(all(feature = "scep", feature = "est", feature = "soft-keys", feature = "legacy-crypto", feature = "std", feature = "host-tls"))]

mod common;

use common::{cert_der, openssl_stdin, s};
use embedded_enroll::asn1::cert::CertificateRef;
use embedded_enroll::asn1::csr::{ChallengePassword, CsrBuilder, NameAttribute};
use embedded_enroll::crypto::Digest;
use embedded_enroll::crypto::rsa::RsaPrivateKey2048;
use embedded_enroll::est;
use embedded_enroll::hal::soft::SoftP256Key;
use embedded_enroll::hal::{Decrypter, ErrorKind, KeyRole, Signer};
use embedded_enroll::http::base64::LineStyle;
use embedded_enroll::lifecycle::record::{self, MAX_RECORD_LEN};
use embedded_enroll::lifecycle::{
    Auth, Buffers, Job, KeyPolicy, KeySlot, Manager, Profile, Protocol, RenewalPolicy, RolloverPolicy, Step, Trust, Wake,
};
use embedded_enroll::scep;
use embedded_enroll::scep::ca::CaTrust;
use embedded_enroll::transport::blocking::{DeviceKeys, EcDevice, run_est, run_scep};
use embedded_enroll::transport::host::{StdTimer, TcpConnector};
use embedded_enroll::transport::nal::NalConnector;
use embedded_enroll::transport::tls::TlsConnector;
use embedded_enroll::transport::verify::ServerTrust;
use embedded_enroll::{Duration, UnixTime};
use std::path::{Path, PathBuf};
use std::process::Command;

fn wall_now() -> UnixTime {
    UnixTime::from_secs(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64)
}

fn idx(slot: KeySlot) -> usize {
    match slot {
        KeySlot::A => 0,
        KeySlot::B => 1,
    }
}

fn openssl_verify(ca_pem: &Path, cert: &[u8]) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("c.pem");
    let (ok, _) = openssl_stdin(&["x509", "-inform", "DER", "-out", s(&pem)], cert);
    ok && common::openssl_ok(&["verify", "-CAfile", s(ca_pem), s(&pem)])
}

/// A peer started by one of our scripts, stopped on drop.
struct Peer {
    dir: tempfile::TempDir,
    script: &'static str,
    addr: String,
}

impl Peer {
    fn start(script: &'static str, port: u16, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("bash")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(script))
            .args(["start", s(dir.path()), &port.to_string()])
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{script} did not start: {}", String::from_utf8_lossy(&out.stderr));
        let addr = String::from_utf8(out.stdout).unwrap().trim().to_string();
        Self { dir, script, addr }
    }
    fn path(&self, f: &str) -> PathBuf {
        self.dir.path().join(f)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ =
            Command::new("bash").arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(self.script)).args(["stop", s(self.dir.path())]).output();
    }
}

/// Two in-memory storage slots.
#[derive(Default)]
struct Storage {
    slots: [Vec<u8>; 2],
    writes: usize,
}

/// What the test's job runner did.
enum Done {
    Issued { certificate: Vec<u8>, ca: Vec<u8> },
    Failed(String),
}

/// Drives `m`: answers every step, runs jobs with `job`, and returns after one activation or
/// when the manager waits for a time after `until`. The manager's clock is `clock`: moved to
/// each deadline up to `until`, and never behind the wall clock (time passes during a job).
/// Returns the transcript.
fn drive(
    m: &mut Manager<'_>,
    storage: &mut Storage,
    clock: &mut UnixTime,
    until: UnixTime,
    mut job: impl FnMut(Job<'_>) -> Done,
    keygen: &mut dyn FnMut(KeySlot) -> Vec<u8>,
) -> Vec<String> {
    let mut log = Vec::new();
    for _ in 0..50 {
        *clock = (*clock).max(wall_now());
        let now = Some(*clock);
        match m.poll(now).unwrap() {
            Step::GenerateKey(slot) => {
                let spki = keygen(slot);
                log.push(format!("generate key {slot:?}"));
                m.handle_key(slot, &spki).unwrap();
            }
            Step::Run(j) => {
                let what = format!("{j:?}").chars().take(60).collect::<String>();
                let result = job(j);
                // The result is handled at the time it arrived.
                *clock = (*clock).max(wall_now());
                let now = Some(*clock);
                match result {
                    Done::Issued { certificate, ca } => {
                        log.push(format!("{what}... -> issued"));
                        m.handle_issued(now, &certificate, &ca).unwrap();
                    }
                    Done::Failed(why) => {
                        log.push(format!("{what}... -> failed: {why}"));
                        m.handle_failed(now).unwrap();
                    }
                }
            }
            Step::Store { slot, record } => {
                storage.slots[usize::from(slot)] = record.to_vec();
                storage.writes += 1;
                m.handle_stored(true).unwrap();
            }
            Step::Activate { slot, certificate } => {
                let c = CertificateRef::parse(certificate).unwrap();
                log.push(format!("activate {slot:?}: {} serial {}", c.subject(), common::hex(c.serial())));
                return log;
            }
            Step::Report(r) => log.push(format!("report {r:?}")),
            Step::Wait(Wake::At(t)) => {
                if t > until {
                    return log;
                }
                log.push(format!("wait until {}", t.as_secs()));
                *clock = t;
            }
            Step::Wait(Wake::WhenTimeKnown) => panic!("time is known"),
        }
    }
    panic!("no progress: {log:#?}");
}

/// RenewalReq with a new key: the request certifies `requested` and is signed by `certificate`
/// (the CertRep comes encrypted to the certificate's key).
struct TwoKeys<'k> {
    requested: &'k mut RsaPrivateKey2048,
    certificate: &'k mut RsaPrivateKey2048,
}

impl DeviceKeys for TwoKeys<'_> {
    fn sign(&mut self, role: KeyRole, digest: &Digest, out: &mut [u8]) -> Result<usize, ErrorKind> {
        let key = match role {
            KeyRole::Requested => &mut *self.requested,
            KeyRole::Certificate => &mut *self.certificate,
        };
        Signer::sign_prehash(key, digest, out).map_err(|_| ErrorKind::Other)
    }
    fn decrypt(&mut self, role: KeyRole, ciphertext: &[u8], out: &mut [u8]) -> Result<(), ErrorKind> {
        let key = match role {
            KeyRole::Requested => &mut *self.requested,
            KeyRole::Certificate => &mut *self.certificate,
        };
        key.decrypt_pkcs1v15(ciphertext, out).map_err(|_| ErrorKind::Other)
    }
    fn agree(&mut self, _: KeyRole, _: &[u8], _: &mut [u8; 32]) -> Result<(), ErrorKind> {
        Err(ErrorKind::Unsupported)
    }
}

fn rsa_key() -> RsaPrivateKey2048 {
    RsaPrivateKey2048::generate(&mut rand::rngs::OsRng).unwrap()
}

fn profile<'a>(
    protocol: Protocol,
    server: &'a str,
    trust: Trust<'a>,
    auth: Auth<'a>,
    keys: KeyPolicy,
    renewal: RenewalPolicy,
) -> Profile<'a> {
    Profile {
        name: "interop",
        protocol,
        server,
        key_slots: [0, 1],
        store_slots: [0, 1],
        trust,
        subject: &[],
        alt_names: &[],
        auth,
        renewal,
        keys,
        rollover: RolloverPolicy { check_before: Duration::ZERO, ..RolloverPolicy::DEFAULT },
        extra: (),
    }
}

#[test]
#[ignore = "needs root and the peers (run by .ci/test)"]
fn manager_renews_against_micromdm_and_est_ca() {
    let mut report = Vec::new();

    // ---- SCEP: micromdm, new key per renewal (RenewalReq signed by the current certificate).
    {
        let peer = Peer::start("tests/peers/micromdm.sh", 18296, &["secret"]);
        let ca_pem = peer.path("depot/ca.pem");
        let fp = CertificateRef::parse(&cert_der(&ca_pem)).unwrap().fingerprint_sha256();
        let prof = profile(
            Protocol::Scep,
            &peer.addr,
            Trust::Fingerprint(fp),
            Auth::Challenge("secret"),
            KeyPolicy::NewKey,
            RenewalPolicy::DEFAULT,
        );
        let (mut cur, mut nxt) = (vec![0u8; MAX_RECORD_LEN], vec![0u8; MAX_RECORD_LEN]);
        let mut m = Manager::new(&prof, Buffers { current: &mut cur, next: &mut nxt }, &mut rand::rngs::OsRng).unwrap();
        let mut storage = Storage::default();
        let keys: std::cell::RefCell<[Option<RsaPrivateKey2048>; 2]> = Default::default();
        let mut keygen = |slot: KeySlot| {
            let mut k = rsa_key();
            let mut spki = [0u8; 600];
            let n = k.public_key_der(&mut spki).unwrap();
            keys.borrow_mut()[idx(slot)] = Some(k);
            spki[..n].to_vec()
        };
        let subject = [NameAttribute::organization("embedded-enroll"), NameAttribute::common_name("lifecycle-scep")];
        let addr = peer.addr.clone();
        let scep_job = |job: Job<'_>| -> Done {
            let mut keys = keys.borrow_mut();
            let csr = CsrBuilder::new(&subject).challenge_password(ChallengePassword::Printable("secret"));
            let (key_slot, op, signer) = match job {
                Job::Enroll { key } => (key, scep::client::Operation::Enroll(csr), None),
                Job::Renew { key, signer, certificate, .. } => (key, scep::client::Operation::Renew { csr, certificate }, Some(signer)),
                Job::FetchNextCa => return Done::Failed("not asked for in this test".into()),
            };
            let [a, b] = &mut *keys;
            let (requested, other) = if key_slot == KeySlot::A { (a, b) } else { (b, a) };
            let requested = requested.as_mut().unwrap();
            let mut spki = [0u8; 600];
            let n = requested.public_key_der(&mut spki).unwrap();
            let (host, port) = addr.rsplit_once(':').unwrap();
            let mut config = scep::client::Config::new(host, CaTrust::Fingerprint(fp), &spki[..n]);
            config.port = port.parse().ok();
            config.wall_time = Some(wall_now());
            // micromdm answers in single DES: allowed for this server explicitly.
            config.policy = scep::AlgorithmPolicy::default().with_single_des();
            let (mut ca, mut own, mut work, mut io) = (vec![0u8; 8192], vec![0u8; 4096], vec![0u8; 16384], vec![0u8; 16384]);
            let bufs = scep::client::Buffers { ca: &mut ca, own: &mut own, work: &mut work, io: &mut io };
            let mut client = scep::client::Client::new(config, op, bufs, rand::rngs::OsRng).unwrap();
            let mut connect = TcpConnector::new(&addr);
            let outcome = match signer {
                Some(s) if s != key_slot => {
                    let certificate = other.as_mut().unwrap();
                    run_scep(&mut client, &mut connect, &mut TwoKeys { requested, certificate }, &mut StdTimer::default(), |_| {})
                }
                _ => run_scep(
                    &mut client,
                    &mut connect,
                    &mut embedded_enroll::transport::blocking::RsaDevice(requested),
                    &mut StdTimer::default(),
                    |_| {},
                ),
            };
            match (outcome, client.certificate(), client.ca_certificates()) {
                (Ok(scep::Outcome::Issued), Some(cert), Some(cas)) => {
                    Done::Issued { certificate: cert.to_vec(), ca: cas.issuing_ca().as_der().to_vec() }
                }
                (o, _, _) => Done::Failed(format!("{o:?}")),
            }
        };
        let mut job = scep_job;
        let mut clock = wall_now();
        let boot = clock;
        let log = drive(&mut m, &mut storage, &mut clock, boot, &mut job, &mut keygen);
        let (slot, first) = m.identity().expect("enrolled");
        let first = first.to_vec();
        assert_eq!(slot, KeySlot::A, "{log:#?}");
        assert!(openssl_verify(&ca_pem, &first), "openssl verify of the first certificate");
        // The manager's clock reaches the renewal moment (the certificate is still valid then).
        let renew_at = m.record().renew_at;
        assert!(renew_at > boot, "renewal scheduled in the future");
        let log2 = drive(&mut m, &mut storage, &mut clock, renew_at, &mut job, &mut keygen);
        let (slot, renewed) = m.identity().expect("renewed");
        assert_eq!(slot, KeySlot::B, "the new key in the spare slot is in use: {log2:#?}");
        assert_ne!(renewed, first.as_slice());
        assert!(openssl_verify(&ca_pem, renewed), "openssl verify of the renewed certificate");
        let key_b_spki = {
            let mut keys = keys.borrow_mut();
            let mut spki = [0u8; 600];
            let n = keys[1].as_mut().unwrap().public_key_der(&mut spki).unwrap();
            spki[..n].to_vec()
        };
        assert_eq!(CertificateRef::parse(renewed).unwrap().spki().as_der(), key_b_spki.as_slice(), "renewed for the key in slot B");
        // What storage holds is what is in use.
        let stored = record::select(&[&storage.slots[0], &storage.slots[1]]).unwrap().record.unwrap().1;
        assert_eq!(stored.certificate, renewed);
        for l in log.iter().chain(&log2) {
            eprintln!("scep: {l}");
        }
        report.push(format!(
            "micromdm: lifecycle enrollment + RenewalReq (new RSA key in slot B, signed by the certificate in slot A): issued, openssl verify OK, {} records written",
            storage.writes
        ));
    }

    // ---- EST: est-ca, same key, /simplereenroll over mutual TLS (embedded-tls 1.3).
    {
        let peer = Peer::start("tests/peers/est-ca.sh", 18297, &[]);
        let ca_pem = peer.path("ca.pem");
        let ca = cert_der(&ca_pem);
        let tls_anchor = cert_der(&peer.path("tls-ca.pem"));
        let prof = profile(
            Protocol::Est,
            &peer.addr,
            Trust::Anchor(&ca),
            Auth::Basic { user: "device", password: "secret" },
            KeyPolicy::SameKey,
            // est-ca issues 7-day certificates: renew at half their life.
            RenewalPolicy { lifetime_percent: 50, before_expiry: Duration::ZERO, ..RenewalPolicy::DEFAULT },
        );
        let (mut cur, mut nxt) = (vec![0u8; MAX_RECORD_LEN], vec![0u8; MAX_RECORD_LEN]);
        let mut m = Manager::new(&prof, Buffers { current: &mut cur, next: &mut nxt }, &mut rand::rngs::OsRng).unwrap();
        let mut storage = Storage::default();
        let key: std::cell::RefCell<Option<SoftP256Key>> = Default::default();
        let mut keygen = |_slot: KeySlot| {
            let mut k = SoftP256Key::generate(&mut rand::rngs::OsRng);
            let mut spki = [0u8; 96];
            let n = k.public_key_der(&mut spki).unwrap();
            *key.borrow_mut() = Some(k);
            spki[..n].to_vec()
        };
        let remote: core::net::SocketAddr = peer.addr.parse().unwrap();
        let subject = [NameAttribute::common_name("lifecycle-est")];
        let est_job = |job: Job<'_>| -> Done {
            let mut guard = key.borrow_mut();
            let k = guard.as_mut().unwrap();
            let mut spki = [0u8; 96];
            let n = k.public_key_der(&mut spki).unwrap();
            let mut config = est::client::Config::new("localhost", est::client::CaCertsTrust::TlsAuthenticated, &spki[..n]);
            config.port = Some(remote.port());
            config.ca_certificate = Some(&ca);
            config.body_style = LineStyle::OneLine;
            config.wall_time = Some(wall_now());
            let (op, client_cert) = match job {
                Job::Enroll { .. } => {
                    config.credentials = Some(est::client::Credentials { user: "device", password: "secret", preemptive_basic: true });
                    (est::client::Operation::Enroll(CsrBuilder::new(&subject)), None)
                }
                Job::Renew { certificate, .. } => (est::client::Operation::ReEnroll(CsrBuilder::new(&subject)), Some(certificate)),
                Job::FetchNextCa => return Done::Failed("not asked for in this test".into()),
            };
            let (mut own, mut work, mut io) = (vec![0u8; 2048], vec![0u8; 8192], vec![0u8; 8192]);
            let bufs = est::client::Buffers { own: &mut own, work: &mut work, io: &mut io };
            let mut client = est::client::Client::new(config, op, bufs, rand::rngs::OsRng).unwrap();
            let (mut rx, mut tx) = (vec![0u8; 16_640], vec![0u8; 4096]);
            let mut stack = std_embedded_nal::Stack;
            let mut tls_key = k.clone();
            let tls = TlsConnector::new(
                NalConnector::new(&mut stack, remote),
                &mut rx,
                &mut tx,
                rand::rngs::OsRng,
                ServerTrust::Anchor(&tls_anchor),
                "localhost",
            );
            let mut tls = match client_cert {
                Some(c) => tls.with_client_certificate(c, &mut tls_key),
                None => tls,
            };
            let outcome = run_est(&mut client, &mut tls, &mut EcDevice(&mut *k), &mut StdTimer::default(), |_| {});
            match (outcome, client.certificate()) {
                (Ok(est::client::Outcome::Issued), Some(cert)) => Done::Issued { certificate: cert.to_vec(), ca: ca.clone() },
                (o, _) => Done::Failed(format!("{o:?}")),
            }
        };
        let mut job = est_job;
        let mut clock = wall_now();
        let boot = clock;
        let log = drive(&mut m, &mut storage, &mut clock, boot, &mut job, &mut keygen);
        let first = m.identity().unwrap_or_else(|| panic!("enrolled: {log:#?}")).1.to_vec();
        assert!(openssl_verify(&ca_pem, &first), "openssl verify of the first certificate: {log:#?}");
        let renew_at = m.record().renew_at;
        let log2 = drive(&mut m, &mut storage, &mut clock, renew_at, &mut job, &mut keygen);
        let (slot, renewed) = m.identity().expect("renewed");
        assert_eq!(slot, KeySlot::A, "same-key policy keeps slot A: {log2:#?}");
        assert_ne!(renewed, first.as_slice(), "a new certificate: {log2:#?}");
        assert!(openssl_verify(&ca_pem, renewed), "openssl verify of the renewed certificate");
        assert_eq!(
            CertificateRef::parse(renewed).unwrap().spki().as_der(),
            CertificateRef::parse(&first).unwrap().spki().as_der(),
            "same key"
        );
        for l in log.iter().chain(&log2) {
            eprintln!("est: {l}");
        }
        report.push(format!(
            "est-ca: lifecycle enrollment (Basic) + /simplereenroll over mutual TLS with the certificate in use (same key): issued, openssl verify OK, {} records written",
            storage.writes
        ));
    }

    for line in &report {
        println!("{line}");
    }
}
