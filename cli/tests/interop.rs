//! `enroll` against the real peers (moved here from the library's est_interop.rs and
//! scep_micromdm.rs): est-ca (tests/peers/est-ca.sh, 127.0.0.1:15100) and micromdm scepserver
//! (tests/peers/micromdm.sh, 127.0.0.1:15110, needs root for its network namespace). Both are
//! `#[ignore]`d like the library's interop tests; .ci/test runs them with `--ignored`.
//! The est-ca wrapper is built into $EST_SERVER_TARGET_DIR when set (as in .ci/test).

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::run_echoed as run;

fn peers() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/peers")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl").args(args).output().unwrap();
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn openssl_verify(ca: &Path, cert: &Path) -> bool {
    Command::new("openssl").args(["verify", "-CAfile", s(ca), s(cert)]).output().unwrap().status.success()
}

/// A peer started by its script, stopped when dropped.
struct Peer {
    script: &'static str,
    dir: tempfile::TempDir,
    addr: String,
}

impl Peer {
    fn start(script: &'static str, port: u16, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out =
            Command::new("bash").arg(peers().join(script)).args(["start", s(dir.path()), &port.to_string()]).args(extra).output().unwrap();
        assert!(out.status.success(), "{script}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let addr = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().trim().to_string();
        Self { script, dir, addr }
    }
    fn path(&self, f: &str) -> PathBuf {
        self.dir.path().join(f)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(peers().join(self.script)).args(["stop", s(self.dir.path())]).status();
    }
}

fn sha256_hex(pem: &Path) -> String {
    let der = openssl(&["x509", "-in", s(pem), "-outform", "DER"]);
    let out = Command::new("sha256sum").stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().unwrap();
    use std::io::Write;
    let mut child = out;
    child.stdin.take().unwrap().write_all(&der).unwrap();
    let o = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&o.stdout).split_whitespace().next().unwrap().to_string()
}

#[test]
#[ignore = "needs the est-ca peer (tests/peers/est-ca.sh)"]
fn enroll_against_est_ca() {
    let peer = Peer::start("est-ca.sh", 15100, &[]);
    let url = format!("https://localhost:{}", peer.addr.rsplit(':').next().unwrap());
    let (tls_ca, ca) = (peer.path("tls-ca.pem"), peer.path("ca.pem"));
    let key = peer.path("cli.key");
    openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", s(&key)]);
    let base = ["--url", url.as_str(), "--tls-ca", s(&tls_ca)];
    let cmd = |c: &[&str], extra: &[&str]| run(&[c, &base[..], extra].concat());

    // /cacerts by the bootstrap: the TLS server not authenticated, the CA by its fingerprint.
    let fp = sha256_hex(&ca);
    let r = run(&["est", "cacerts", "--url", &url, "--insecure-bootstrap", "--fingerprint", &fp, "--out", s(&peer.path("cacerts.pem"))]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert!(r.last().starts_with("fetched: 1 CA certificate(s), written to "), "{}", r.out);

    // est-ca refuses the default 64-column body: the outcome line says what to do.
    let cred = ["--key", s(&key), "--subject", "CN=cli-device", "--user", "device", "--password", "secret"];
    let r = cmd(&["est", "enroll"], &cred);
    assert_eq!(r.code, 4, "{}{}", r.out, r.err);
    assert!(r.last().ends_with("try --one-line"), "{}", r.out);

    // Strict by default: est-ca's EST CA is not its TLS CA, so without --ca the certificate is refused.
    let cert = peer.path("cli.pem");
    let r = cmd(&["est", "enroll"], &[&cred[..], &["--one-line", "--out", s(&cert)]].concat());
    assert_eq!(r.code, 4, "{}{}", r.out, r.err);
    assert!(r.last().starts_with("refused: the issued certificate (from "), "{}", r.out);
    assert!(!cert.exists());

    // Issued with --ca, keyUsage and extendedKeyUsage asked for.
    let r = cmd(
        &["est", "enroll"],
        &[
            &cred[..],
            &["--one-line", "--ca", s(&ca), "--key-usage", "digitalSignature", "--ext-key-usage", "clientAuth", "--out", s(&cert)],
        ]
        .concat(),
    );
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    // (est-ca names the certificate after the HTTP user)
    assert!(r.last().starts_with("issued: certificate for CN=device from CN=est-ca test CA, valid until 20"), "{}", r.out);
    assert!(openssl_verify(&ca, &cert));

    // Re-enrollment over mutual TLS.
    let renewed = peer.path("re.pem");
    let r = cmd(
        &["est", "reenroll"],
        &["--key", s(&key), "--cert", s(&cert), "--subject", "CN=cli-device", "--one-line", "--ca", s(&ca), "--out", s(&renewed)],
    );
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert!(openssl_verify(&ca, &renewed));

    // --bind: TLS 1.3 has the tls-exporter binding; TLS 1.2 here has none, so nothing is sent.
    let bound = peer.path("bound.pem");
    let r = cmd(&["est", "enroll"], &[&cred[..], &["--one-line", "--ca", s(&ca), "--bind", "--out", s(&bound)]].concat());
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    let r = cmd(&["est", "enroll"], &[&cred[..], &["--one-line", "--ca", s(&ca), "--bind", "--tls12", "--json"]].concat());
    assert_eq!(r.code, 2, "{}{}", r.out, r.err);
    assert!(r.out.starts_with("{\"outcome\":\"NoChannelBinding\",\"exit\":2,"), "{}", r.out);
    assert!(!r.err.contains("<- "), "no reply: the request was not sent: {}", r.err);

    // /csrattrs --out writes the reply (est-ca's is empty: the file too).
    let attrs = peer.path("attrs.der");
    let r = cmd(&["est", "csrattrs"], &["--user", "device", "--password", "secret", "--out", s(&attrs)]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert!(attrs.exists(), "--out written");

    // --csrattrs with --dry-run: /csrattrs asked, the enrollment shown and not sent.
    let r = cmd(&["est", "enroll"], &[&cred[..], &["--one-line", "--ca", s(&ca), "--csrattrs", "--dry-run"]].concat());
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert!(r.err.contains("GET /.well-known/est/csrattrs") && r.out.contains("this request is NOT sent"), "{}{}", r.out, r.err);
    assert_eq!(r.last(), "dry run: the request above was not sent");

    // A wrong password: refused, 4.
    let r = cmd(&["est", "enroll"], &["--key", s(&key), "--subject", "CN=x", "--user", "device", "--password", "wrong", "--one-line"]);
    assert_eq!(r.code, 4, "{}{}", r.out, r.err);
    assert!(r.last().starts_with("refused: "), "{}", r.out);
}

#[test]
#[ignore = "needs micromdm scepserver (tests/peers/micromdm.sh, root)"]
fn enroll_against_micromdm() {
    let peer = Peer::start("micromdm.sh", 15110, &["secret"]);
    let url = format!("http://{}/scep", peer.addr);
    let ca = peer.path("depot/ca.pem");
    let fp = sha256_hex(&ca);
    let key = peer.path("cli.key");
    openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", s(&key)]);
    let cert = peer.path("cli.pem");
    let enroll = [
        "scep",
        "enroll",
        "--url",
        url.as_str(),
        "--fingerprint",
        fp.as_str(),
        "--key",
        s(&key),
        "--subject",
        "CN=cli-device,O=embedded-enroll",
    ];

    // micromdm answers with single DES: refused unless named.
    let r = run(&[&enroll[..], &["--challenge", "secret"]].concat());
    assert_eq!(r.code, 6, "{}{}", r.out, r.err);
    assert!(r.last().contains("name it with --allow-legacy"), "{}", r.out);
    let r = run(
        &[&enroll[..], &["--challenge", "secret", "--allow-legacy", "des", "--key-usage", "digitalSignature,keyEncipherment"]].concat()
    );
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    let r = run(&[&enroll[..], &["--challenge", "secret", "--allow-legacy", "des", "--out", s(&cert), "--json"]].concat());
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert!(r.out.starts_with("{\"outcome\":\"Issued\",\"exit\":0,\"message\":\"issued: certificate for "), "{}", r.out);
    assert!(openssl_verify(&ca, &cert));

    let renewed = peer.path("renewed.pem");
    let r = run(&[
        "scep",
        "renew",
        "--url",
        &url,
        "--fingerprint",
        &fp,
        "--key",
        s(&key),
        "--cert",
        s(&cert),
        "--subject",
        "CN=cli-device,O=embedded-enroll",
        "--challenge",
        "secret",
        "--allow-legacy",
        "des",
        "--get",
        "--out",
        s(&renewed),
    ]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert!(openssl_verify(&ca, &renewed));

    // A wrong challenge: FAILURE, 4, in words.
    let r = run(&[&enroll[..], &["--challenge", "wrong", "--allow-legacy", "des"]].concat());
    assert_eq!(r.code, 4, "{}{}", r.out, r.err);
    assert!(r.last().starts_with("refused: the CA answered FAILURE"), "{}", r.out);
}
