//! Interop with a real EST server we did not write: the `est-ca` crate (0.2.0), run by the
//! test-only wrapper tests/peers/est-server (rustls, 127.0.0.1 only) that
//! tests/peers/est-ca.sh builds and starts. Our EST client runs through its blocking driver
//! over both transports:
//! - `nal` + `tls`: embedded-nal's `TcpClientStack` (std-embedded-nal on host sockets)
//!   carrying embedded-tls 1.3, with the crate's own certificate verifier;
//! - `host-tls`: std::net + rustls.
//!
//! Each does /cacerts (bootstrap: pinned by the CA's SHA-256 fingerprint), /simpleenroll with
//! HTTP Basic (after the server's 401) for a P-256 key, and /simplereenroll over mutual TLS
//! with the issued certificate; every certificate is checked with `openssl verify`. The
//! server then runs with an RSA TLS certificate (RSA PKCS#1 v1.5 chain, RSA-PSS
//! CertificateVerify) for the embedded-tls path. strongSwan `pki --est` enrolls against the
//! same server as a second client. A line per client and operation is printed.
//!
//! Needs the est-server build (minutes, cold) and strongswan-pki: run by `.ci/test` with
//! `--ignored`.
#![cfg(all(feature = "est", feature = "tls", feature = "nal", feature = "nal-async", feature = "host-tls", feature = "soft-keys"))]

mod common;

use common::{cert_der, openssl, openssl_stdin, s};
use embedded_enroll::asn1::cert::CertificateRef;
use embedded_enroll::asn1::csr::{CsrBuilder, NameAttribute};
use embedded_enroll::est::client::{Buffers, CaCertsTrust, Client, Config, Credentials, Operation, Outcome};
use embedded_enroll::hal::Signer;
use embedded_enroll::hal::soft::SoftP256Key;
use embedded_enroll::http::base64::LineStyle;
use embedded_enroll::transport::TransportFailure;
use embedded_enroll::transport::blocking::{Connect, EcDevice, Progress, run_est};
use embedded_enroll::transport::host::StdTimer;
use embedded_enroll::transport::host_tls::{RustlsConnector, TlsVersions};
use embedded_enroll::transport::nal::NalConnector;
use embedded_enroll::transport::tls::TlsConnector;
use embedded_enroll::transport::verify::{ServerTrust, VerifyError};
use std::path::{Path, PathBuf};
use std::process::Command;

struct Peer {
    dir: tempfile::TempDir,
    port: u16,
}

impl Peer {
    fn start(port: u16, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("bash")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/est-ca.sh"))
            .args(["start", s(dir.path()), &port.to_string()])
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "est-server did not start: {}", String::from_utf8_lossy(&out.stderr));
        Self { dir, port }
    }
    fn path(&self, f: &str) -> PathBuf {
        self.dir.path().join(f)
    }
    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
    fn ca_der(&self) -> Vec<u8> {
        cert_der(&self.path("ca.pem"))
    }
    fn tls_anchor(&self) -> Vec<u8> {
        cert_der(&self.path("tls-ca.pem"))
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/est-ca.sh"))
            .args(["stop", s(self.dir.path())])
            .output();
    }
}

fn openssl_verify(ca_pem: &Path, cert: &[u8]) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("c.pem");
    let (ok, _) = openssl_stdin(&["x509", "-inform", "DER", "-out", s(&pem)], cert);
    ok && common::openssl_ok(&["verify", "-CAfile", s(ca_pem), s(&pem)])
}

const SUBJECT: &[NameAttribute<'static>] = &[NameAttribute::common_name("device")];

struct Run {
    outcome: Outcome,
    certificate: Option<Vec<u8>>,
    cacerts: Vec<Vec<u8>>,
    log: Vec<String>,
}

/// One EST operation for `key` over `connect`.
fn est<C: Connect>(connect: &mut C, peer: &Peer, key: &mut SoftP256Key, op: Operation<'_>, with_credentials: bool) -> Run {
    let mut spki = [0u8; 96];
    let n = key.public_key_der(&mut spki).unwrap();
    let fp = CertificateRef::parse(&peer.ca_der()).unwrap().fingerprint_sha256();
    let ca = peer.ca_der();
    let mut config = Config::new("localhost", CaCertsTrust::Fingerprint(fp), &spki[..n]);
    config.port = Some(peer.port);
    config.ca_certificate = Some(&ca);
    // est-ca refuses any line break in a request body (PEERS.md).
    config.body_style = LineStyle::OneLine;
    if with_credentials {
        config.credentials = Some(Credentials { user: "device", password: "secret", preemptive_basic: false });
    }
    let (mut own, mut work, mut io) = (vec![0u8; 2048], vec![0u8; 8192], vec![0u8; 8192]);
    let bufs = Buffers { own: &mut own, work: &mut work, io: &mut io };
    let mut client = Client::new(config, op, bufs, rand::rngs::OsRng).unwrap();
    let mut log = Vec::new();
    let started = std::time::Instant::now();
    let outcome = run_est(&mut client, connect, &mut EcDevice(&mut *key), &mut StdTimer::default(), |p| {
        log.push(match p {
            Progress::Request(l) => format!("-> {l}"),
            Progress::Response(n) => format!("<- {n} bytes"),
            other => format!("{other:?}"),
        })
    })
    .expect("the EST driver");
    eprintln!("[{:?}] {:?} in {:?}", op_name(&op), outcome, started.elapsed());
    let cacerts = client.certificates().map(|sd| sd.certificates().map(|c| c.as_der().to_vec()).collect()).unwrap_or_default();
    Run { outcome, certificate: client.certificate().map(<[u8]>::to_vec), cacerts, log }
}

fn op_name(op: &Operation<'_>) -> &'static str {
    match op {
        Operation::CaCerts => "cacerts",
        Operation::CsrAttrs => "csrattrs",
        Operation::Enroll(_) => "simpleenroll",
        Operation::ReEnroll(_) => "simplereenroll",
        Operation::ServerKeyGen(_) => "serverkeygen",
    }
}

/// A fresh P-256 scalar (the same key is handed to the TLS layer and to the driver).
fn fresh_scalar() -> [u8; 32] {
    use rand::RngCore;
    loop {
        let mut b = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut b);
        if SoftP256Key::from_bytes(&b).is_ok() {
            return b;
        }
    }
}

/// /cacerts, /simpleenroll (Basic after a 401), /simplereenroll over mutual TLS; `$make`
/// builds a connector from an optional (certificate, key scalar) for client authentication.
macro_rules! scenario {
    ($peer:expr, $name:expr, $report:expr, |$client:ident| $make:expr) => {{
        let peer: &Peer = $peer;
        let name: &str = $name;
        let scalar = fresh_scalar();
        let mut key = SoftP256Key::from_bytes(&scalar).unwrap();
        let cacerts = {
            let $client: Option<(&[u8], &mut SoftP256Key, [u8; 32])> = None;
            est(&mut $make, peer, &mut key, Operation::CaCerts, false)
        };
        assert_eq!(cacerts.outcome, Outcome::CaCerts, "{name} /cacerts: {:?}", cacerts.log);
        assert!(cacerts.cacerts.contains(&peer.ca_der()), "{name}: /cacerts holds the CA");
        $report.push(format!(
            "embedded-enroll ({name}) /cacerts: {} certificate(s), the fingerprint-pinned CA among them",
            cacerts.cacerts.len()
        ));

        let enroll = {
            let $client: Option<(&[u8], &mut SoftP256Key, [u8; 32])> = None;
            est(&mut $make, peer, &mut key, Operation::Enroll(CsrBuilder::new(SUBJECT)), true)
        };
        assert_eq!(enroll.outcome, Outcome::Issued, "{name} /simpleenroll: {:?}", enroll.log);
        let posts = enroll.log.iter().filter(|l| l.starts_with("-> POST /.well-known/est/simpleenroll")).count();
        assert_eq!(posts, 2, "401, then Basic: {:?}", enroll.log);
        let cert = enroll.certificate.unwrap();
        assert!(openssl_verify(&peer.path("ca.pem"), &cert), "{name}: openssl verify of the issued certificate");
        $report.push(format!("embedded-enroll ({name}) /simpleenroll, Basic after the 401, P-256 key: issued, openssl verify OK"));

        let reenroll = {
            let mut tls_key = SoftP256Key::from_bytes(&scalar).unwrap();
            let $client: Option<(&[u8], &mut SoftP256Key, [u8; 32])> = Some((&cert, &mut tls_key, scalar));
            est(&mut $make, peer, &mut key, Operation::ReEnroll(CsrBuilder::new(SUBJECT)), false)
        };
        assert_eq!(reenroll.outcome, Outcome::Issued, "{name} /simplereenroll: {:?}", reenroll.log);
        let renewed = reenroll.certificate.unwrap();
        assert_ne!(renewed, cert);
        assert!(openssl_verify(&peer.path("ca.pem"), &renewed));
        $report
            .push(format!("embedded-enroll ({name}) /simplereenroll over mutual TLS (the issued certificate): issued, openssl verify OK"));
    }};
}

#[test]
#[ignore = "needs the est-server peer build and strongswan-pki (run by .ci/test)"]
fn est_ca_interop_over_embedded_tls_and_rustls() {
    let mut report = Vec::new();
    let peer = Peer::start(18443, &[]);
    let anchor = peer.tls_anchor();
    let addr = peer.addr();

    // embedded-nal + embedded-tls.
    let remote: core::net::SocketAddr = addr.parse().unwrap();
    let (mut rx, mut tx) = (vec![0u8; 16_640], vec![0u8; 4096]);
    let mut stack = std_embedded_nal::Stack;
    scenario!(&peer, "embedded-nal + embedded-tls 1.3", &mut report, |client| {
        let c = TlsConnector::new(
            NalConnector::new(&mut stack, remote),
            &mut rx,
            &mut tx,
            rand::rngs::OsRng,
            ServerTrust::Anchor(&anchor),
            "localhost",
        );
        match client {
            Some((cert, k, _)) => c.with_client_certificate(cert, k),
            None => c,
        }
    });

    // The async twin: embedded-nal-async (std-embedded-nal-async on host sockets) carrying
    // embedded-tls' async connection, driven by the async driver.
    {
        let stack = std_embedded_nal_async::Stack::default();
        let mut key = SoftP256Key::generate(&mut rand::rngs::OsRng);
        let mut spki_buf = [0u8; 96];
        let n = key.public_key_der(&mut spki_buf).unwrap();
        let ca = peer.ca_der();
        let mut config = Config::new("localhost", CaCertsTrust::TlsAuthenticated, &spki_buf[..n]);
        config.port = Some(peer.port);
        config.ca_certificate = Some(&ca);
        config.body_style = LineStyle::OneLine;
        config.credentials = Some(Credentials { user: "device", password: "secret", preemptive_basic: true });
        let (mut own, mut work, mut io) = (vec![0u8; 2048], vec![0u8; 8192], vec![0u8; 8192]);
        let bufs = Buffers { own: &mut own, work: &mut work, io: &mut io };
        let mut client = Client::new(config, Operation::Enroll(CsrBuilder::new(SUBJECT)), bufs, rand::rngs::OsRng).unwrap();
        let mut tls: TlsConnector<'_, '_, _, _, SoftP256Key> = TlsConnector::new(
            embedded_enroll::transport::asynch::NalAsyncConnector::new(&stack, remote),
            &mut rx,
            &mut tx,
            rand::rngs::OsRng,
            ServerTrust::Anchor(&anchor),
            "localhost",
        );
        let o = futures_lite::future::block_on(embedded_enroll::transport::asynch::run_est(
            &mut client,
            &mut tls,
            &mut EcDevice(&mut key),
            &mut StdTimer::default(),
            |_| {},
        ))
        .unwrap();
        assert_eq!(o, Outcome::Issued, "async: {:?}", tls.last_error);
        assert!(openssl_verify(&peer.path("ca.pem"), client.certificate().unwrap()));
        report.push("embedded-enroll (embedded-nal-async + embedded-tls 1.3, async driver) /simpleenroll, preemptive Basic: issued, openssl verify OK".into());
    }

    // std + rustls (TLS 1.3 and 1.2 offered; est-ca picks 1.3).
    scenario!(&peer, "std + rustls", &mut report, |client| {
        let client = client.map(|(cert, _, k)| (vec![cert.to_vec()], SoftP256Key::from_bytes(&k).unwrap()));
        RustlsConnector::new(&addr, "localhost", Some(&anchor), TlsVersions::Both, client).unwrap()
    });
    // The CLI (cli/, binary enroll) against est-ca: cli/tests/interop.rs.
    drop(peer);

    // An RSA TLS server: RSA PKCS#1 v1.5 chain, RSA-PSS CertificateVerify, on embedded-tls.
    let peer = Peer::start(18444, &["--tls-key", "rsa"]);
    let anchor = peer.tls_anchor();
    let remote: core::net::SocketAddr = peer.addr().parse().unwrap();
    let mut key = SoftP256Key::generate(&mut rand::rngs::OsRng);
    let mut tcp_stack = std_embedded_nal::Stack;
    let mut c: TlsConnector<'_, '_, _, _, SoftP256Key> = TlsConnector::new(
        NalConnector::new(&mut tcp_stack, remote),
        &mut rx,
        &mut tx,
        rand::rngs::OsRng,
        ServerTrust::Anchor(&anchor),
        "localhost",
    );
    let enroll = est(&mut c, &peer, &mut key, Operation::Enroll(CsrBuilder::new(SUBJECT)), true);
    assert_eq!(enroll.outcome, Outcome::Issued, "RSA TLS server: {:?} {:?}", enroll.log, c.last_error);
    assert!(openssl_verify(&peer.path("ca.pem"), &enroll.certificate.unwrap()));
    report.push(
        "embedded-enroll (embedded-tls 1.3, RSA server certificate, RSA-PSS CertificateVerify) /simpleenroll: issued, openssl verify OK"
            .into(),
    );

    // A transport failure reaches the caller with its reason: a server whose certificate
    // names another host (the verifier's refusal, through embedded-tls), and a closed port.
    let mut wrong_name: TlsConnector<'_, '_, _, _, SoftP256Key> = TlsConnector::new(
        NalConnector::new(&mut tcp_stack, remote),
        &mut rx,
        &mut tx,
        rand::rngs::OsRng,
        ServerTrust::Anchor(&anchor),
        "wrong.example",
    );
    let refused = est(&mut wrong_name, &peer, &mut key, Operation::CaCerts, false);
    assert_eq!(refused.outcome, Outcome::Transport(TransportFailure::ServerRefused(VerifyError::HostMismatch)), "{:?}", refused.log);
    assert_eq!(refused.outcome.to_string(), "the connection failed: the server's certificate does not name the host connected to");
    let closed: core::net::SocketAddr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut nowhere: TlsConnector<'_, '_, _, _, SoftP256Key> = TlsConnector::new(
        NalConnector::new(&mut tcp_stack, closed),
        &mut rx,
        &mut tx,
        rand::rngs::OsRng,
        ServerTrust::Anchor(&anchor),
        "localhost",
    );
    let unreachable = est(&mut nowhere, &peer, &mut key, Operation::CaCerts, false);
    assert_eq!(unreachable.outcome, Outcome::Transport(TransportFailure::Connect), "{:?}", unreachable.log);
    report.push(
        "embedded-tls: a certificate for another host ends in Transport(ServerRefused(HostMismatch)), a closed port in Transport(Connect)"
            .into(),
    );

    // strongSwan as a second client (TLS 1.2), against the same server.
    let dir = tempfile::tempdir().unwrap();
    openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", s(&dir.path().join("sw.key"))]);
    openssl(&[
        "req",
        "-new",
        "-key",
        s(&dir.path().join("sw.key")),
        "-subj",
        "/CN=strongswan",
        "-outform",
        "DER",
        "-out",
        s(&dir.path().join("sw.csr")),
    ]);
    let out = Command::new("pki")
        .args(["--est", "--url", &format!("https://localhost:{}", peer.port), "--in", s(&dir.path().join("sw.csr"))])
        .args([
            "--cacert",
            s(&peer.path("ca.pem")),
            "--cacert",
            s(&peer.path("tls-ca.pem")),
            "--userpass",
            "device:secret",
            "--outform",
            "pem",
        ])
        .output()
        .unwrap();
    let sw_ok = out.status.success() && String::from_utf8_lossy(&out.stdout).contains("BEGIN CERTIFICATE");
    let why = String::from_utf8_lossy(&out.stderr).lines().rfind(|l| !l.contains("TPM") && !l.contains("plugin")).unwrap_or("").to_string();
    report.push(format!("strongSwan pki --est: {}", if sw_ok { "issued".to_string() } else { format!("failed: {why}") }));

    println!("\nEST interop against est-ca 0.2.0:");
    for line in &report {
        println!("  {line}");
    }
    assert!(sw_ok, "strongSwan pki --est: {}", String::from_utf8_lossy(&out.stderr));
}
