//! Helpers shared by the integration tests: running the OpenSSL CLI (the oracle), paths,
//! seeded RNGs and the captured vectors.
// Each test crate uses a different subset.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The fixture SCEP CA of the transcript tests.
#[cfg(all(feature = "scep", feature = "soft-keys"))]
pub mod scep_fixture;

/// Runs `openssl` with `args`; panics with its stderr if it fails. Returns stdout.
pub fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl").args(args).output().expect("the openssl CLI must be installed (apt-get install openssl)");
    assert!(out.status.success(), "openssl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// Runs `openssl` and reports only whether it succeeded.
pub fn openssl_ok(args: &[&str]) -> bool {
    Command::new("openssl").args(args).output().expect("the openssl CLI must be installed").status.success()
}

/// Runs `openssl` with `input` on stdin; returns success and stdout + stderr.
pub fn openssl_stdin(args: &[&str], input: &[u8]) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the openssl CLI must be installed");
    child.stdin.take().expect("stdin").write_all(input).expect("write to openssl");
    let out = child.wait_with_output().expect("openssl output");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

/// A path as `&str` for a command line.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// A seeded RNG: tests are reproducible.
pub fn rng(seed: u64) -> rand::rngs::StdRng {
    rand::SeedableRng::seed_from_u64(seed)
}

/// A file under `tests/vectors/` (see its PROVENANCE.md).
pub fn vector_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors").join(rel)
}

/// Lower-case hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The DER of a PEM certificate file.
pub fn cert_der(pem: &Path) -> Vec<u8> {
    openssl(&["x509", "-in", s(pem), "-outform", "DER"])
}

/// The DER of a PEM certificate under `tests/vectors/`.
pub fn vector_cert_der(rel: &str) -> Vec<u8> {
    cert_der(&vector_path(rel))
}

/// A fresh RSA-2048 key and self-signed certificate made by OpenSSL (`key_pem`, `cert_pem`),
/// valid for 30 days.
pub fn openssl_self_signed_rsa(key_pem: &Path, cert_pem: &Path, subject: &str) {
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        s(key_pem),
        "-subj",
        subject,
        "-days",
        "30",
        "-out",
        s(cert_pem),
    ]);
}
