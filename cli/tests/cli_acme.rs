//! The CLI's ACME commands (`enroll acme account|order|renew|revoke`).
//!
//! Without a server: every option is checked (an unknown one exits 2 naming it) and each
//! missing piece is named. Against pebble 2.4.0 + pebble-challtestsrv (`tests/peers/pebble.sh`,
//! 127.0.0.1 only; `#[ignore]`d like the other peer tests): an account, orders answered by the
//! CLI's own http-01 responder and by a dns-01 hook script (challtestsrv's /set-txt and
//! /clear-txt through curl), each chain checked with `openssl verify`, a renewal (not due, then
//! forced, with `replaces`), revocations by the account key and by the certificate's key, and an
//! account with External Account Binding.
//!
//! Run with `cargo test --test cli_acme -- --ignored --test-threads 1` in cli/.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{Run, run_echoed as run};

fn vector(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/acme/pebble-2.4.0").join(name).to_str().unwrap().to_string()
}

/// The value of `"key":"..."` in the CLI's one-line JSON.
fn json_field(json: &str, key: &str) -> Option<String> {
    let start = json.find(&format!("\"{key}\":\""))? + key.len() + 4;
    let end = json[start..].find('"')? + start;
    Some(json[start..end].to_string())
}

#[test]
fn acme_help_and_usage_errors_exit_2_naming_what_is_wrong() {
    for cmd in ["account", "order", "renew", "revoke"] {
        let r = run(&["acme", cmd, "--help"]);
        assert_eq!(r.code, 0, "acme {cmd} --help");
        assert!(r.out.contains(&format!("Usage: enroll acme {cmd} [OPTIONS] --url <URL> --tls-ca <FILE>")), "{}", r.out);
    }
    let r = run(&["acme", "--help"]);
    for cmd in ["account", "order", "renew", "revoke"] {
        assert!(r.out.contains(cmd), "{}", r.out);
    }

    let (key, cert) = (vector("account-key.pem"), vector("issued-chain.pem"));
    let url = "https://localhost:9/dir";
    // `enroll acme CMD --url URL --tls-ca CERT EXTRA...`, KEY and CERT replaced by the files.
    let cases: &[(&str, &[&str], &str)] = &[
        ("account", &["--account-key", "/nonexistent"], "/nonexistent"),
        ("account", &["--account-key", "KEY", "--eab-kid", "kid"], "--eab-hmac"),
        ("order", &["--account-key", "KEY", "--key", "KEY", "--http01-port", "1"], "--name"),
        (
            "order",
            &["--account-key", "KEY", "--key", "KEY", "--name", "a.example", "--http01-port", "1", "--dns01-hook", "x"],
            "cannot be used with",
        ),
        ("order", &["--account-key", "KEY", "--key", "KEY", "--name", "a.example"], "<--http01-port <PORT>|--dns01-hook <CMD>>"),
        (
            "order",
            &["--account-key", "KEY", "--key", "KEY", "--ip", "1.2.3", "--http01-port", "1"],
            "invalid value '1.2.3' for '--ip <ADDR>'",
        ),
        ("order", &["--account-key", "KEY", "--key", "KEY", "--name", "a.example", "--http01-port", "http"], "--http01-port"),
        (
            "order",
            &["--account-key", "KEY", "--key", "KEY", "--name", "a.example", "--http01-port", "1", "--ca-anchor", "KEY"],
            "not a certificate",
        ),
        ("renew", &["--account-key", "KEY", "--key", "KEY"], "--cert"),
        ("renew", &["--account-key", "KEY", "--key", "KEY", "--cert", "KEY", "--http01-port", "1"], "not a certificate"),
        ("revoke", &["--cert", "CERT"], "--account-key <FILE>"),
        ("revoke", &["--cert", "CERT", "--account-key", "KEY", "--cert-key", "KEY"], "cannot be used with"),
        ("revoke", &["--cert", "CERT", "--account-key", "KEY", "--reason", "7"], "--reason"),
        ("revoke", &["--cert", "CERT", "--cert-key", "KEY", "--force"], "unexpected argument '--force'"),
        ("account", &["--account-key", "KEY", "--challenge", "x"], "unexpected argument '--challenge'"),
    ];
    for (cmd, extra, why) in cases {
        let file = |a: &&str| match *a {
            "KEY" => key.clone(),
            "CERT" => cert.clone(),
            a => a.to_string(),
        };
        let args: Vec<String> = ["acme", cmd, "--url", url, "--tls-ca", "CERT"].iter().chain(extra.iter()).map(file).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = run(&args);
        assert_eq!(r.code, 2, "{args:?}: {}{}", r.out, r.err);
        assert!(r.err.contains(why), "{args:?}: {why:?} not in {}", r.err);
    }
    for (args, why) in [
        (&["acme", "frobnicate"][..], "unrecognized subcommand 'frobnicate'"),
        (&["acme", "order", "--frobnicate"][..], "unexpected argument '--frobnicate'"),
        (&["acme", "account"][..], "--url <URL>"),
        (&["acme", "account", "--url", "http://localhost:9/dir", "--tls-ca", &cert, "--account-key", &key][..], "https://"),
        (&["acme", "account", "--url", url][..], "--tls-ca <FILE>"),
    ] {
        let r = run(args);
        assert_eq!(r.code, 2, "{args:?}: {}{}", r.out, r.err);
        assert!(r.err.contains(why), "{args:?}: {why:?} not in {}", r.err);
    }
    // Nothing listens on port 9: a transport error, 5, the reason in the JSON.
    let r = run(&["acme", "account", "--url", url, "--tls-ca", &cert, "--account-key", &key, "--json"]);
    assert_eq!(r.code, 5, "{}{}", r.out, r.err);
    assert!(r.out.starts_with("{\"outcome\":\"Transport\",\"exit\":5,"), "{}", r.out);
}

/// A pebble started for one test, stopped when dropped.
struct Pebble {
    dir: tempfile::TempDir,
    port: u16,
}

impl Pebble {
    fn start(port: u16, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("bash").arg(script()).arg("start").arg(dir.path()).arg(port.to_string()).args(extra).output().unwrap();
        assert!(
            out.status.success(),
            "pebble did not start: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Self { dir, port }
    }
    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_string()
    }
    fn url(&self) -> String {
        format!("https://localhost:{}/dir", self.port)
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(script()).arg("stop").arg(self.dir.path()).status();
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/peers/pebble.sh")
}

/// A P-256 key in PKCS#8 PEM, as `openssl genpkey` writes it.
fn genpkey(path: &str) {
    let ok = Command::new("openssl")
        .args(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path])
        .status()
        .unwrap()
        .success();
    assert!(ok, "openssl genpkey");
}

/// `openssl verify` of the chain's leaf against pebble's root through the rest of the chain.
fn openssl_verify(pebble: &Pebble, chain: &str) {
    let text = std::fs::read_to_string(chain).unwrap();
    let blocks: Vec<&str> = text.split_inclusive("-----END CERTIFICATE-----\n").collect();
    assert!(blocks.len() >= 2, "leaf and intermediate expected in {chain}: {text}");
    let (leaf, rest) = (format!("{chain}.leaf"), format!("{chain}.rest"));
    std::fs::write(&leaf, blocks[0]).unwrap();
    std::fs::write(&rest, blocks[1..].concat()).unwrap();
    let out = Command::new("openssl").args(["verify", "-CAfile", &pebble.path("root.pem"), "-untrusted", &rest, &leaf]).output().unwrap();
    assert!(out.status.success(), "openssl verify: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

/// The subjectAltName of a certificate file's first certificate, as openssl prints it.
fn openssl_san(path: &str) -> String {
    let out = Command::new("openssl").args(["x509", "-in", path, "-noout", "-ext", "subjectAltName"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
#[ignore = "needs pebble (tests/peers/pebble.sh)"]
fn acme_commands_against_pebble() {
    let port = 14500;
    let pebble = Pebble::start(port, &[]);
    let (url, tls_ca) = (pebble.url(), pebble.path("tls-ca.pem"));
    let (account_key, device_key, other_key) = (pebble.path("account.key"), pebble.path("device.key"), pebble.path("other.key"));
    for k in [&account_key, &device_key, &other_key] {
        genpkey(k);
    }
    let server = ["--url", url.as_str(), "--tls-ca", tls_ca.as_str()];
    let cmd = |name: &str, extra: &[&str]| -> Run {
        let args: Vec<&str> = ["acme", name].iter().chain(server.iter()).chain(extra.iter()).copied().collect();
        run(&args)
    };

    // 1. The account: created, then found by its key; a stranger's key has none.
    let r = cmd("account", &["--account-key", &account_key, "--contact", "mailto:ops@example.com", "--json"]);
    assert_eq!(r.code, 0, "{}", r.err);
    let account_url = json_field(&r.out, "account_url").expect("the account URL");
    assert!(account_url.starts_with(&format!("https://localhost:{port}/")), "{account_url}");
    let r = cmd("account", &["--account-key", &account_key, "--only-existing"]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(r.last().starts_with("done: account ") && r.out.contains(&format!("account_url: {account_url}")), "{}", r.out);
    let r = cmd("account", &["--account-key", &other_key, "--only-existing", "--json"]);
    assert_eq!(r.code, 4, "refused by the server: {}{}", r.out, r.err);
    assert_eq!(json_field(&r.out, "problem").as_deref(), Some("AccountDoesNotExist"), "{}", r.out);

    // 2. An order answered by the built-in http-01 responder: two names and an address, the
    // chain checked by the client against pebble's root and by openssl.
    let chain = pebble.path("http01-chain.pem");
    let http_port = (port + 4).to_string();
    let r = cmd(
        "order",
        &[
            "--account-key",
            &account_key,
            "--account-url",
            &account_url,
            "--key",
            &device_key,
            "--name",
            "cli-1.example",
            "--name",
            "cli-1b.example",
            "--ip",
            "127.0.0.1",
            "--http01-port",
            &http_port,
            "--ca-anchor",
            &pebble.path("root.pem"),
            "--out",
            &chain,
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert!(r.last().starts_with("issued: certificate for DNS:cli-1.example"), "{}", r.out);
    assert!(r.out.contains("san: DNS:cli-1.example, DNS:cli-1b.example, IP:127.0.0.1"), "{}", r.out);
    assert_eq!(r.err.matches("http-01: answering for").count(), 3, "one challenge per identifier: {}", r.err);
    assert!(r.err.contains("\"GET /.well-known/acme-challenge/") && r.err.contains(": 200"), "pebble fetched the answers: {}", r.err);
    openssl_verify(&pebble, &chain);
    let san = openssl_san(&chain);
    assert!(san.contains("DNS:cli-1.example") && san.contains("IP Address:127.0.0.1"), "{san}");

    // 3. dns-01 through a hook script: challtestsrv's management API (PORT+2) publishes the TXT
    // record pebble's VA looks up. The account is found by its key (no --account-url).
    let hook = pebble.path("dns01-hook.sh");
    let hook_log = pebble.path("dns01-hook.log");
    let script = r#"#!/bin/sh
# enroll acme's dns-01 hook: add|del NAME VALUE
echo "$@" >> 'LOG'
case "$1" in
add) curl -sf -X POST -d "{\"host\":\"$2.\",\"value\":\"$3\"}" http://127.0.0.1:CTS/set-txt ;;
del) curl -sf -X POST -d "{\"host\":\"$2.\"}" http://127.0.0.1:CTS/clear-txt ;;
*) exit 2 ;;
esac
"#;
    std::fs::write(&hook, script.replace("LOG", &hook_log).replace("CTS", &(port + 2).to_string())).unwrap();
    let chain = pebble.path("dns01-chain.pem");
    let hook_cmd = format!("sh {hook}");
    let r = cmd(
        "order",
        &["--account-key", &account_key, "--key", &device_key, "--name", "cli-2.example", "--dns01-hook", &hook_cmd, "--out", &chain],
    );
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert!(r.out.contains(&format!("account_url: {account_url}")), "the same account: {}", r.out);
    openssl_verify(&pebble, &chain);
    let log = std::fs::read_to_string(&hook_log).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert!(
        lines[0].starts_with("add _acme-challenge.cli-2.example ") && lines[1].starts_with("del _acme-challenge.cli-2.example "),
        "{log}"
    );
    assert_eq!(lines[0].split(' ').nth(2).map(str::len), Some(43), "the TXT value (base64url SHA-256): {log}");

    // A hook that cannot publish: exit 2, nothing issued.
    let r =
        cmd("order", &["--account-key", &account_key, "--key", &device_key, "--name", "cli-3.example", "--dns01-hook", "false", "--json"]);
    assert_eq!(r.code, 2, "{}{}", r.out, r.err);
    assert!(r.out.starts_with("{\"outcome\":\"ChallengeNotPublished\",\"exit\":2,"), "{}", r.out);

    // 4. Renewal: pebble 2.4.0 offers no ARI, so the window is the certificate's own (80 % of
    // pebble's five years): not due, nothing written; --force renews for the same names.
    let first = pebble.path("http01-chain.pem");
    let renewed = pebble.path("renewed-chain.pem");
    let renew = ["--account-key", &account_key, "--key", &device_key, "--cert", &first, "--http01-port", &http_port, "--out", &renewed];
    let r = cmd("renew", &renew);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert!(r.last().starts_with("not due: not renewing") && r.out.contains("window_start: 20"), "{}", r.out);
    assert!(r.out.contains("the server offers no ARI"), "{}", r.out);
    assert!(!Path::new(&renewed).exists(), "nothing written when not due");
    let r = cmd("renew", &[&renew[..], &["--force", "--json"]].concat());
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert_eq!(json_field(&r.out, "outcome").as_deref(), Some("Issued"), "{}", r.out);
    assert!(json_field(&r.out, "decision").unwrap().starts_with("renewing now (--force"), "{}", r.out);
    assert!(json_field(&r.out, "ari_id").is_some_and(|id| id.contains('.')), "{}", r.out);
    assert_eq!(
        json_field(&r.out, "san").as_deref(),
        Some("DNS:cli-1.example, DNS:cli-1b.example, IP:127.0.0.1"),
        "the names of --cert: {}",
        r.out
    );
    openssl_verify(&pebble, &renewed);

    // 5. Revocation by the account key (with a reason), again (pebble: alreadyRevoked, 4), and
    // of the renewed certificate by its own key.
    let r = cmd("revoke", &["--cert", &first, "--account-key", &account_key, "--reason", "4"]);
    assert_eq!((r.code, r.last()), (0, "revoked: the certificate is revoked"), "{}{}", r.out, r.err);
    let r = cmd("revoke", &["--cert", &first, "--account-key", &account_key, "--account-url", &account_url, "--json"]);
    assert_eq!(r.code, 4, "{}{}", r.out, r.err);
    assert_eq!(json_field(&r.out, "problem").as_deref(), Some("AlreadyRevoked"), "{}", r.out);
    let r = cmd("revoke", &["--cert", &renewed, "--cert-key", &device_key, "--json"]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert!(r.out.trim().starts_with("{\"outcome\":\"Revoked\",\"exit\":0,\"message\":\"revoked: "), "{}", r.out);
}

#[test]
#[ignore = "needs pebble (tests/peers/pebble.sh)"]
fn acme_account_with_external_account_binding() {
    let port = 14510;
    let pebble = Pebble::start(port, &["--eab"]);
    let keys = std::fs::read_to_string(pebble.path("eab-keys.txt")).unwrap();
    let (kid, hmac) = keys.lines().next().unwrap().split_once(' ').unwrap();
    let account_key = pebble.path("account.key");
    genpkey(&account_key);
    let (url, tls_ca) = (pebble.url(), pebble.path("tls-ca.pem"));
    let base = ["acme", "account", "--url", &url, "--tls-ca", &tls_ca, "--account-key", &account_key];
    let r = run(&[&base[..], &["--json"]].concat());
    assert_eq!(r.code, 4, "{}{}", r.out, r.err);
    assert_eq!(json_field(&r.out, "problem").as_deref(), Some("ExternalAccountRequired"), "{}", r.out);
    assert_eq!(
        json_field(&r.out, "hint").as_deref(),
        Some("the CA needs External Account Binding: give --eab-kid and --eab-hmac (from the CA)")
    );
    let r = run(&[&base[..], &["--eab-kid", kid, "--eab-hmac", hmac, "--json"]].concat());
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert!(json_field(&r.out, "account_url").is_some_and(|u| u.starts_with(&format!("https://localhost:{port}/"))), "{}", r.out);
}
