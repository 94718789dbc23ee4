//! The lifecycle runner ([`embedded_enroll::lifecycle::runner`]) against real servers we did
//! not write: micromdm `scepserver` (enrollment, then a RenewalReq for a new key in the spare
//! slot, signed with the current certificate) and the `est-ca` crate (enrollment with HTTP
//! Basic, then /simplereenroll with the current certificate as TLS client certificate). The
//! runner does everything: key generation in software key slots, the jobs through the
//! clients, the records in a RAM store; the test only moves the device's clock to the renewal
//! moment, and checks each certificate with `openssl verify`.
//!
//! Needs root (micromdm's network namespace) and the peers' packages: run by `.ci/test` with
//! `--ignored`.
#![cfg(all(feature = "scep", feature = "est", feature = "soft-keys", feature = "legacy-crypto", feature = "std", feature = "host-tls"))]

mod common;

use common::{cert_der, openssl_stdin, s};
use embedded_enroll::asn1::cert::CertificateRef;
use embedded_enroll::asn1::csr::NameAttribute;
use embedded_enroll::hal::soft::{SoftKeyKind, SoftKeySlots};
use embedded_enroll::hal::{Clock, KeySlots, RamStore, StateStore};
use embedded_enroll::lifecycle::record::{self, MAX_RECORD_LEN};
use embedded_enroll::lifecycle::runner::{Device, Event, Flow, Runner, Settings, StaticMemory};
use embedded_enroll::lifecycle::{Auth, KeyPolicy, KeySlot, Profile, Protocol, RenewalPolicy, RolloverPolicy, Trust};
use embedded_enroll::scep::AlgorithmPolicy;
use embedded_enroll::transport::host::{StdTimer, TcpNetwork};
use embedded_enroll::transport::verify::ServerTrust;
use embedded_enroll::{Duration, UnixTime};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;

fn wall_now() -> UnixTime {
    UnixTime::from_secs(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64)
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

/// The device's clock: the wall clock moved forward by `ahead` seconds (the test jumps to the
/// renewal moment instead of waiting for it).
#[derive(Clone, Default)]
struct TestClock {
    ahead: Rc<Cell<i64>>,
}

impl Clock for TestClock {
    fn now(&mut self) -> Option<UnixTime> {
        Some(UnixTime::from_secs(wall_now().as_secs() + self.ahead.get()))
    }
}

type Store = RamStore<2, MAX_RECORD_LEN>;

/// Runs until the next activation; the events as text.
fn until_activated<K: KeySlots>(runner: &mut Runner<'_, K, &mut Store, TcpNetwork, TestClock, StdTimer, rand::rngs::OsRng>) -> Vec<String> {
    let mut log = Vec::new();
    runner
        .run(|e| {
            if !matches!(e, Event::Progress(_)) {
                log.push(format!("{e:?}").chars().take(100).collect::<String>());
            }
            assert!(log.len() < 60, "no activation: {log:#?}");
            match e {
                Event::Activated { .. } => Flow::Stop,
                // One failure is one too many against a working server.
                Event::JobFailed(why) => panic!("job failed: {why}; {log:#?}"),
                _ => Flow::Continue,
            }
        })
        .unwrap();
    log
}

/// The record the store holds (the newer of its two slots).
fn stored_certificate(store: &mut Store) -> Vec<u8> {
    let mut slots = [vec![0u8; MAX_RECORD_LEN], vec![0u8; MAX_RECORD_LEN]];
    for (i, b) in slots.iter_mut().enumerate() {
        let n = store.load(i as u8, b).unwrap();
        b.truncate(n);
    }
    record::select(&[&slots[0], &slots[1]]).unwrap().record.unwrap().1.certificate.to_vec()
}

#[allow(clippy::too_many_arguments)]
fn profile<'a>(
    protocol: Protocol,
    server: &'a str,
    trust: Trust<'a>,
    subject: &'a [NameAttribute<'a>],
    auth: Auth<'a>,
    keys: KeyPolicy,
    renewal: RenewalPolicy,
    extra: Settings<'a>,
) -> Profile<'a, Settings<'a>> {
    Profile {
        name: "interop",
        protocol,
        server,
        key_slots: [0, 1],
        store_slots: [0, 1],
        trust,
        subject,
        alt_names: &[],
        auth,
        renewal,
        keys,
        rollover: RolloverPolicy { check_before: Duration::ZERO, ..RolloverPolicy::DEFAULT },
        extra,
    }
}

#[test]
#[ignore = "needs root and the peers (run by .ci/test)"]
fn runner_enrolls_and_renews_against_micromdm_and_est_ca() {
    let mut report = Vec::new();

    // ---- SCEP: micromdm, new key per renewal (RenewalReq signed by the current certificate).
    {
        let peer = Peer::start("tests/peers/micromdm.sh", 18296, &["secret"]);
        let ca_pem = peer.path("depot/ca.pem");
        let fp = CertificateRef::parse(&cert_der(&ca_pem)).unwrap().fingerprint_sha256();
        // micromdm answers in single DES: allowed for this server explicitly.
        let settings = Settings { scep_policy: AlgorithmPolicy::default().with_single_des(), ..Settings::DEFAULT };
        let subject = [NameAttribute::organization("embedded-enroll"), NameAttribute::common_name("lifecycle-scep")];
        let prof = profile(
            Protocol::Scep,
            &peer.addr,
            Trust::Fingerprint(fp),
            &subject,
            Auth::Challenge("secret"),
            KeyPolicy::NewKey,
            RenewalPolicy::DEFAULT,
            settings,
        );
        let mut store = Store::new();
        let clock = TestClock::default();
        let mut memory = Box::new(StaticMemory::new());
        let device = Device {
            keys: SoftKeySlots::<2>::new(SoftKeyKind::Rsa2048),
            store: &mut store,
            network: TcpNetwork::default(),
            clock: clock.clone(),
            timer: StdTimer::default(),
            rng: rand::rngs::OsRng,
        };
        let mut runner = Runner::new(&prof, device, memory.memory()).unwrap();
        let log = until_activated(&mut runner);
        let (slot, first) = runner.manager().identity().expect("enrolled");
        let first = first.to_vec();
        assert_eq!(slot, KeySlot::A, "{log:#?}");
        assert!(openssl_verify(&ca_pem, &first), "openssl verify of the first certificate");
        // The device's clock reaches the renewal moment (the certificate is still valid then).
        let renew_at = runner.manager().record().renew_at;
        assert!(renew_at > wall_now(), "renewal scheduled in the future");
        clock.ahead.set(renew_at.as_secs() - wall_now().as_secs() + 1);
        let log2 = until_activated(&mut runner);
        let (slot, renewed) = runner.manager().identity().expect("renewed");
        let renewed = renewed.to_vec();
        assert_eq!(slot, KeySlot::B, "the new key in the spare slot is in use: {log2:#?}");
        assert_ne!(renewed, first);
        assert!(openssl_verify(&ca_pem, &renewed), "openssl verify of the renewed certificate");
        let mut spki = [0u8; 600];
        let n = runner.device().keys.public_key_der(1, &mut spki).unwrap();
        assert_eq!(CertificateRef::parse(&renewed).unwrap().spki().as_der(), &spki[..n], "renewed for the key in slot B");
        drop(runner);
        assert_eq!(stored_certificate(&mut store), renewed, "what the store holds is what is in use");
        for l in log.iter().chain(&log2) {
            eprintln!("scep: {l}");
        }
        report.push(
            "micromdm: runner enrollment + RenewalReq (new RSA key in slot B, signed by the certificate in slot A): issued, openssl verify OK"
                .to_string(),
        );
    }

    // ---- EST: est-ca, same key, /simplereenroll over mutual TLS (embedded-tls 1.3).
    {
        let peer = Peer::start("tests/peers/est-ca.sh", 18297, &[]);
        let ca_pem = peer.path("ca.pem");
        let ca = cert_der(&ca_pem);
        let tls_anchor = cert_der(&peer.path("tls-ca.pem"));
        let settings = Settings {
            server_trust: ServerTrust::Anchor(&tls_anchor),
            tls_server_name: Some("localhost"),
            est_one_line: true,
            ..Settings::DEFAULT
        };
        let subject = [NameAttribute::common_name("lifecycle-est")];
        let prof = profile(
            Protocol::Est,
            &peer.addr,
            Trust::Anchor(&ca),
            &subject,
            Auth::Basic { user: "device", password: "secret" },
            KeyPolicy::SameKey,
            // est-ca issues 7-day certificates: renew at half their life.
            RenewalPolicy { lifetime_percent: 50, before_expiry: Duration::ZERO, ..RenewalPolicy::DEFAULT },
            settings,
        );
        let mut store = Store::new();
        let clock = TestClock::default();
        let mut memory = Box::new(StaticMemory::new());
        let device = Device {
            keys: SoftKeySlots::<2>::new(SoftKeyKind::P256),
            store: &mut store,
            network: TcpNetwork::default(),
            clock: clock.clone(),
            timer: StdTimer::default(),
            rng: rand::rngs::OsRng,
        };
        let mut runner = Runner::new(&prof, device, memory.memory()).unwrap();
        let log = until_activated(&mut runner);
        let first = runner.manager().identity().unwrap_or_else(|| panic!("enrolled: {log:#?}")).1.to_vec();
        assert!(openssl_verify(&ca_pem, &first), "openssl verify of the first certificate: {log:#?}");
        let renew_at = runner.manager().record().renew_at;
        clock.ahead.set(renew_at.as_secs() - wall_now().as_secs() + 1);
        let log2 = until_activated(&mut runner);
        let (slot, renewed) = runner.manager().identity().expect("renewed");
        let renewed = renewed.to_vec();
        assert_eq!(slot, KeySlot::A, "same-key policy keeps slot A: {log2:#?}");
        assert_ne!(renewed, first, "a new certificate: {log2:#?}");
        assert!(openssl_verify(&ca_pem, &renewed), "openssl verify of the renewed certificate");
        assert_eq!(
            CertificateRef::parse(&renewed).unwrap().spki().as_der(),
            CertificateRef::parse(&first).unwrap().spki().as_der(),
            "same key"
        );
        drop(runner);
        assert_eq!(stored_certificate(&mut store), renewed);
        for l in log.iter().chain(&log2) {
            eprintln!("est: {l}");
        }
        report.push(
            "est-ca: runner enrollment (Basic) + /simplereenroll over mutual TLS with the certificate in use (same key): issued, openssl verify OK"
                .to_string(),
        );
    }

    // ---- EST again, with the async runner over embedded-nal-async (std sockets).
    #[cfg(feature = "nal-async")]
    {
        use embedded_enroll::transport::asynch::NalAsyncNetwork;
        let peer = Peer::start("tests/peers/est-ca.sh", 18298, &[]);
        let ca_pem = peer.path("ca.pem");
        let ca = cert_der(&ca_pem);
        let tls_anchor = cert_der(&peer.path("tls-ca.pem"));
        let settings = Settings {
            server_trust: ServerTrust::Anchor(&tls_anchor),
            tls_server_name: Some("localhost"),
            est_one_line: true,
            ..Settings::DEFAULT
        };
        let subject = [NameAttribute::common_name("lifecycle-est-async")];
        let prof = profile(
            Protocol::Est,
            &peer.addr,
            Trust::Anchor(&ca),
            &subject,
            Auth::Basic { user: "device", password: "secret" },
            KeyPolicy::SameKey,
            RenewalPolicy::DEFAULT,
            settings,
        );
        let mut store = Store::new();
        let mut memory = Box::new(StaticMemory::new());
        let stack = std_embedded_nal_async::Stack::default();
        let device = Device {
            keys: SoftKeySlots::<2>::new(SoftKeyKind::P256),
            store: &mut store,
            network: NalAsyncNetwork(&stack),
            clock: TestClock::default(),
            timer: StdTimer::default(),
            rng: rand::rngs::OsRng,
        };
        let mut runner = Runner::new(&prof, device, memory.memory()).unwrap();
        let mut log = Vec::new();
        futures_lite::future::block_on(runner.run_async(|e| {
            if !matches!(e, Event::Progress(_)) {
                log.push(format!("{e:?}").chars().take(100).collect::<String>());
            }
            match e {
                Event::Activated { .. } => Flow::Stop,
                Event::JobFailed(why) => panic!("job failed: {why}"),
                _ => Flow::Continue,
            }
        }))
        .unwrap();
        let cert = runner.manager().identity().unwrap_or_else(|| panic!("enrolled: {log:#?}")).1.to_vec();
        assert!(openssl_verify(&ca_pem, &cert), "openssl verify of the async runner's certificate");
        report.push("est-ca: async runner enrollment (Basic, embedded-nal-async): issued, openssl verify OK".to_string());
    }

    for line in &report {
        println!("{line}");
    }
}
