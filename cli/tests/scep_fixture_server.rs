//! `enroll scep` against the library's fixture SCEP CA (tests/common/scep_fixture.rs: the
//! transcript tests' CA, not an interop peer), served over TCP on 127.0.0.1 by this file:
//! the paths micromdm cannot take. A CA that keeps answering PENDING is given up at
//! `--max-wait` (exit 3, the outcome line says so), and a certificate issued by a CA other than
//! the pinned one is refused, `--accept-unverified-ca` or not (issue 17, item 3).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod common;
use common::run_echoed as run;

#[allow(dead_code, clippy::all, unexpected_cfgs)]
#[path = "../../tests/common/mod.rs"]
mod libcommon;
use libcommon::{cert_der, openssl, openssl_self_signed_rsa, rng, s};

#[allow(dead_code, clippy::all)]
#[path = "../../tests/common/scep_fixture.rs"]
mod scep_fixture;
use scep_fixture::{CAPS, Fixture, Reply, caps, pending};

/// How the fixture CA answers a PKIOperation.
#[derive(Clone, Copy)]
enum Mode {
    /// PENDING, every time.
    Pending,
    /// SUCCESS with a certificate from another CA ("rogue"), the CertRep signed by the CA.
    Rogue,
}

/// Serves the fixture CA on 127.0.0.1:`port` (at most 64 connections, one request each);
/// returns the CA's SHA-256 fingerprint (hex).
fn serve(port: u16, mode: Mode) -> String {
    let (tx, rx) = mpsc::channel();
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    std::thread::spawn(move || {
        let mut fx = Fixture::new();
        tx.send(fx.fingerprint().iter().map(|b| format!("{b:02x}")).collect::<String>()).unwrap();
        for stream in listener.incoming().take(64) {
            let Ok(mut stream) = stream else { continue };
            let request = read_request(&mut stream);
            let text = String::from_utf8_lossy(&request);
            let reply = if text.contains("operation=GetCACaps") {
                caps(CAPS)
            } else if text.contains("operation=GetCACert") {
                Reply::CaCert
            } else {
                match mode {
                    Mode::Pending => pending(),
                    Mode::Rogue => rogue(),
                }
            };
            let response = fx.answer(&request, reply);
            let _ = stream.write_all(&response);
        }
    });
    rx.recv_timeout(Duration::from_secs(60)).unwrap()
}

/// One HTTP request: the head, and the body its Content-Length announces.
fn read_request(stream: &mut std::net::TcpStream) -> Vec<u8> {
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head.lines().find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap())).unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return buf;
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return buf,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// SUCCESS, the certificate issued by a CA of its own for the request's CSR.
fn rogue() -> Reply {
    Reply::Pki(Box::new(|fx, seen| {
        let (key, ca) = (fx.path("rogue.key"), fx.path("rogue.pem"));
        if !ca.exists() {
            openssl_self_signed_rsa(&key, &ca, "/O=Elsewhere/CN=Rogue CA");
        }
        let issued = fx.issue_by(&seen.content, &ca, &key, 77, "rogue");
        let rogue_ca = cert_der(&ca);
        let env = fx.ktri_to_signer(seen, &[&rogue_ca, &issued], &[]);
        fx.certrep(seen, "0", &env, &[], None)
    }))
}

fn rsa_key(dir: &Path) -> String {
    let key = dir.join("device.key");
    openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", s(&key)]);
    s(&key).to_string()
}

#[test]
fn a_ca_that_stays_pending_is_given_up_at_max_wait() {
    let fp = serve(15300, Mode::Pending);
    let dir = tempfile::tempdir().unwrap();
    let key = rsa_key(dir.path());
    let url = "http://127.0.0.1:15300/scep";
    let base = ["scep", "enroll", "--url", url, "--fingerprint", &fp, "--key", &key, "--subject", "CN=device", "--challenge", "x"];
    let started = Instant::now();
    let r = run(&[&base[..], &["--max-wait", "3"]].concat());
    let took = started.elapsed();
    assert_eq!(r.code, 3, "{}{}", r.out, r.err);
    assert!(r.last().starts_with("pending: "), "{}", r.out);
    assert!(took < Duration::from_secs(30), "--max-wait 3 ended after {took:?}");
    // With --no-wait and --state: saved at once, for `scep poll` later, in a file only the owner reads.
    let state = dir.path().join("tx.state");
    let r = run(&[&base[..], &["--no-wait", "--state", s(&state)]].concat());
    assert_eq!(r.code, 3, "{}{}", r.out, r.err);
    assert!(r.last().contains("the transaction is saved in"), "{}", r.out);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&state).unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn a_certificate_another_ca_signed_is_refused_even_with_accept_unverified_ca() {
    let fp = serve(15310, Mode::Rogue);
    let dir = tempfile::tempdir().unwrap();
    let key = rsa_key(dir.path());
    let out = dir.path().join("device.pem");
    let url = "http://127.0.0.1:15310/scep";
    let base = [
        "scep",
        "enroll",
        "--url",
        url,
        "--fingerprint",
        &fp,
        "--key",
        &key,
        "--subject",
        "CN=device",
        "--challenge",
        "x",
        "--out",
        s(&out),
    ];
    for extra in [&[][..], &["--accept-unverified-ca"][..]] {
        let r = run(&[&base[..], extra].concat());
        assert_eq!(r.code, 6, "{extra:?}: {}{}", r.out, r.err);
        assert_eq!(
            r.last(),
            "invalid: the certificate for our key is not signed by the issuing CA; the reply was refused as it is; --verbose shows why",
            "{extra:?}"
        );
        assert!(!out.exists(), "a refused certificate is not written");
    }
}
