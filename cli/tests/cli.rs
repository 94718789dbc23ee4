//! The `enroll` binary without a real peer: help on every level, usage errors (exit 2 naming
//! the option), completions and man page, and the outcome lines against canned servers
//! (python3 on 127.0.0.1, ports 15000-15099, TLS certificates made with openssl).
//! Each bullet of issue 17's problem list has a test here that the old example failed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

mod common;
use common::{Run, run_quiet as run};

const COMMANDS: &[(&str, &[&str])] = &[
    ("scep", &["getcaps", "getca", "getnextca", "enroll", "renew", "poll", "getcert", "getcrl"]),
    ("est", &["cacerts", "csrattrs", "enroll", "reenroll", "serverkeygen"]),
    ("acme", &["account", "order", "renew", "revoke"]),
];

#[test]
fn help_on_every_level() {
    let r = run(&["--help"]);
    assert_eq!(r.code, 0);
    assert!(r.out.contains("Exit codes:") && r.out.contains("3  still pending"), "{}", r.out);
    let r = run(&[]);
    assert_eq!(r.code, 2, "no command: usage, exit 2");
    for (proto, cmds) in COMMANDS {
        let r = run(&[proto, "--help"]);
        assert_eq!(r.code, 0, "enroll {proto} --help: {}", r.err);
        for cmd in *cmds {
            assert!(r.out.contains(cmd), "{proto} --help lists {cmd}");
            let r = run(&[proto, cmd, "--help"]);
            assert_eq!(r.code, 0, "{proto} {cmd} --help: {}", r.err);
            assert!(r.out.contains(&format!("Usage: enroll {proto} {cmd}")), "{}", r.out);
            assert!(r.out.contains("Exit codes: 0 done, 2 usage"), "{proto} {cmd} --help: the exit codes");
            for common in ["--json", "--verbose", "--timeout", "--max-wait"] {
                assert!(r.out.contains(common), "{proto} {cmd} --help names {common}");
            }
            let r = run(&["help", proto, cmd]);
            assert_eq!(r.code, 0);
        }
    }
}

#[test]
fn unknown_and_misplaced_options_exit_2_naming_them() {
    let fp = "00".repeat(32);
    for (args, name) in [
        (&["scep", "getcaps", "--url", "http://127.0.0.1:9/scep", "--fingerprint", &fp, "--bogus-option", "5"][..], "--bogus-option"),
        (
            &["est", "enroll", "--url", "https://x:9", "--tls-ca", "t", "--key", "k", "--subject", "CN=a", "--max-polls", "3"][..],
            "--max-polls",
        ),
        (&["est", "cacerts", "--url", "https://x:9", "--tls-ca", "t", "--challenge", "x"][..], "--challenge"),
        (&["acme", "revoke", "--url", "https://x:9/dir", "--tls-ca", "t", "--cert", "c", "--cert-key", "k", "--force"][..], "--force"),
        (&["scep", "getca", "--url", "http://x/scep", "--fingerprint", &fp, "--key", "k"][..], "--key"),
        (&["frobnicate"][..], "frobnicate"),
        (&["scep", "frobnicate"][..], "frobnicate"),
    ] {
        let r = run(args);
        assert_eq!(r.code, 2, "{args:?}: {}{}", r.out, r.err);
        assert!(r.err.contains(name), "{args:?}: {name} not named in {}", r.err);
    }
}

#[test]
fn required_options_are_required_and_shown_so() {
    // The old CLI marked --subject required but defaulted it to CN=device.
    let fp = "00".repeat(32);
    let r = run(&["scep", "enroll", "--url", "http://127.0.0.1:9/scep", "--fingerprint", &fp, "--key", "k"]);
    assert_eq!(r.code, 2);
    assert!(r.err.contains("--subject"), "{}", r.err);
    // The old CLI showed the pin as optional for getcaps and refused to run without it.
    let r = run(&["scep", "getcaps", "--help"]);
    assert!(r.out.contains("<--fingerprint <HEX>|--ca <FILE>>"), "the pin is shown required: {}", r.out);
    let r = run(&["scep", "getcaps", "--url", "http://127.0.0.1:9/scep"]);
    assert_eq!(r.code, 2);
    assert!(r.err.contains("--fingerprint") && r.err.contains("--ca"), "{}", r.err);
    // --no-wait works and is in the help (it was hidden); it needs --state.
    assert!(run(&["scep", "enroll", "--help"]).out.contains("--no-wait"));
    let r = run(&["scep", "enroll", "--url", "http://x/scep", "--fingerprint", &fp, "--key", "k", "--subject", "CN=a", "--no-wait"]);
    assert_eq!(r.code, 2);
    assert!(r.err.contains("--state"), "{}", r.err);
    // --insecure-bootstrap needs the pin and excludes --tls-ca.
    let r = run(&["est", "cacerts", "--url", "https://x:9", "--insecure-bootstrap"]);
    assert_eq!(r.code, 2);
    assert!(r.err.contains("--fingerprint"), "{}", r.err);
    // Legacy algorithms are named, not implied.
    let r = run(&["scep", "enroll", "--help"]);
    assert!(r.out.contains("--allow-legacy") && r.out.contains("3des-sha1"), "{}", r.out);
    let r = run(&["scep", "getcaps", "--url", "http://x/scep", "--fingerprint", &fp, "--allow-legacy", "rc4"]);
    assert_eq!(r.code, 2);
    assert!(r.err.contains("rc4"), "{}", r.err);
}

#[test]
fn configuration_errors_exit_2_with_the_reason() {
    let fp = "00".repeat(32);
    for (args, why) in [
        (&["scep", "getcaps", "--url", "http://127.0.0.1:9/scep", "--fingerprint", "abcd"][..], "32 bytes"),
        (&["est", "cacerts", "--url", "http://localhost:9", "--tls-ca", "x"][..], "https://"),
        (
            &["scep", "enroll", "--url", "http://127.0.0.1:9/scep", "--fingerprint", &fp, "--key", "/nonexistent", "--subject", "CN=a"][..],
            "/nonexistent",
        ),
        (
            &["scep", "enroll", "--url", "http://127.0.0.1:9/scep", "--fingerprint", &fp, "--key", "/nonexistent", "--subject", "XX=a"][..],
            "/nonexistent",
        ),
    ] {
        let r = run(args);
        assert_eq!(r.code, 2, "{args:?}: {}{}", r.out, r.err);
        assert!(r.err.contains(why), "{args:?}: {}", r.err);
    }
    let r = run(&["scep", "enroll", "--url", "http://127.0.0.1:9/scep", "--json"]);
    assert_eq!(r.code, 2);
    assert!(r.out.starts_with("{\"outcome\":\"BadUsage\",\"exit\":2,\"message\":\"usage: "), "{}", r.out);
    assert!(r.out.contains("--key <FILE> --subject <DN>"), "the missing options named: {}", r.out);
}

#[test]
fn completions_and_man_page_come_from_the_definitions() {
    for shell in ["bash", "zsh", "fish"] {
        let r = run(&["completions", shell]);
        assert_eq!(r.code, 0, "{shell}");
        assert!(r.out.contains("enroll") && r.out.contains("max-wait") && r.out.contains("key-usage"), "{shell}: {}", &r.out[..200]);
    }
    let r = run(&["man"]);
    assert_eq!(r.code, 0);
    assert!(r.out.contains(".TH enroll") && r.out.contains("Exit codes"), "{}", &r.out[..300]);
    // One page per command, each with its own options.
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("man1");
    let r = run(&["man", "--dir", pages.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    for (page, option) in [
        ("enroll.1", "completions"),
        ("enroll-scep-enroll.1", r"\-\-fingerprint"),
        ("enroll-est-reenroll.1", r"\-\-cert"),
        ("enroll-acme-order.1", r"\-\-http01\-port"),
        ("enroll-acme-revoke.1", r"\-\-reason"),
    ] {
        let text = std::fs::read_to_string(pages.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH"), "{page} is roff");
        assert!(text.contains(option), "{page} names {option}");
    }
}

#[test]
fn a_refused_connection_says_so_exit_5() {
    // Port 9 (discard) on loopback: nothing listens there.
    let fp = "00".repeat(32);
    let r = run(&["scep", "getcaps", "--url", "http://127.0.0.1:9/scep", "--fingerprint", &fp]);
    assert_eq!(r.code, 5, "{}{}", r.out, r.err);
    assert!(r.last().starts_with("unreachable: no connection to 127.0.0.1:9"), "the outcome line is last: {}", r.out);
    assert!(r.err.contains("transport error"), "progress on stderr: {}", r.err);
    let r = run(&["scep", "getcaps", "--url", "http://127.0.0.1:9/scep", "--fingerprint", &fp, "--json"]);
    assert_eq!(r.code, 5);
    assert!(r.out.starts_with("{\"outcome\":\"Transport\",\"exit\":5,\"message\":\"unreachable: "), "{}", r.out);
    assert_eq!(r.out.lines().count(), 1, "one JSON object: {}", r.out);
}

// ---- canned servers ----

/// A server on 127.0.0.1:`port` answering every request with `response` (raw HTTP), over TLS
/// when `tls` gives the certificate and key files; an empty `response`: no answer for 10 s.
/// At most 20 connections, 30 s of idle.
struct Canned(Child);

const SERVER: &str = r#"
import socket, ssl, sys, time
port, resp = int(sys.argv[1]), open(sys.argv[2], 'rb').read()
routes = []
if resp.startswith(b'ROUTES\n'):  # lines "PATH-PART FILE": the first whose part is in the request line
    routes = [l.split(b' ', 1) for l in resp.split(b'\n')[1:] if l]
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', port)); s.listen(5); s.settimeout(30)
ctx = None
if len(sys.argv) > 4:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(sys.argv[3], sys.argv[4])
print('ready', flush=True)
for _ in range(20):
    try:
        c, _ = s.accept()
        c.settimeout(5)
        if ctx: c = ctx.wrap_socket(c, server_side=True)
        data = b''
        while b'\r\n\r\n' not in data:
            d = c.recv(65536)
            if not d: break
            data += d
        head, _, body = data.partition(b'\r\n\r\n')
        n = 0
        for line in head.split(b'\r\n'):
            if line.lower().startswith(b'content-length:'): n = int(line.split(b':')[1])
        while len(body) < n:
            d = c.recv(65536)
            if not d: break
            body += d
        answer = resp
        for part, f in routes:
            if part in head.split(b'\r\n')[0]:
                answer = open(f, 'rb').read(); break
        if not answer:
            time.sleep(10)  # a server that never answers
        c.sendall(answer); c.close()
    except Exception:
        pass
"#;

impl Canned {
    fn start(dir: &Path, port: u16, response: &[u8], tls: Option<(&Path, &Path)>) -> Self {
        let file = dir.join(format!("response-{port}"));
        std::fs::write(&file, response).unwrap();
        let mut cmd = Command::new("python3");
        cmd.args(["-c", SERVER, &port.to_string(), file.to_str().unwrap()]);
        if let Some((cert, key)) = tls {
            cmd.args([cert, key]);
        }
        let mut child = cmd.stdout(Stdio::piped()).spawn().expect("python3");
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.as_mut().unwrap()), &mut line).unwrap();
        assert_eq!(line.trim(), "ready");
        Self(child)
    }
}

impl Drop for Canned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl").args(args).output().unwrap();
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A self-signed CA made by openssl in `dir`: a P-256 key `NAME.key` and a certificate
/// `NAME.pem` for `subject` (e.g. "/CN=Test CA"), valid for 30 days; returns (certificate, key).
fn self_signed_ca(dir: &Path, name: &str, subject: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join(format!("{name}.pem")), dir.join(format!("{name}.key")));
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        p(&key),
        "-out",
        p(&cert),
        "-subj",
        subject,
        "-days",
        "30",
    ]);
    (cert, key)
}

/// A TLS CA, a server certificate from it for `name` (DNS and IP SAN) and a P-256 device key.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new(server_name: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (ca, ca_key) = self_signed_ca(d, "tls-ca", "/CN=Test TLS CA");
        let (key, csr, cert, ext) = (d.join("server.key"), d.join("server.csr"), d.join("server.pem"), d.join("ext"));
        openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            p(&key),
            "-out",
            p(&csr),
            "-subj",
            "/CN=server",
        ]);
        let san = if server_name.parse::<std::net::IpAddr>().is_ok() { format!("IP:{server_name}") } else { format!("DNS:{server_name}") };
        std::fs::write(&ext, format!("subjectAltName={san}\nextendedKeyUsage=serverAuth\n")).unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            p(&csr),
            "-CA",
            p(&ca),
            "-CAkey",
            p(&ca_key),
            "-CAcreateserial",
            "-out",
            p(&cert),
            "-days",
            "30",
            "-extfile",
            p(&ext),
        ]);
        openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", p(&d.join("device.key"))]);
        Self { dir }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn tls(&self) -> (PathBuf, PathBuf) {
        (self.path("server.pem"), self.path("server.key"))
    }
}

fn http(status: &str, headers: &[&str], body: &[u8]) -> Vec<u8> {
    let mut r = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
    for h in headers {
        r.push_str(h);
        r.push_str("\r\n");
    }
    r.push_str("\r\n");
    let mut r = r.into_bytes();
    r.extend_from_slice(body);
    r
}

const HTML: &[u8] = b"<html><head><title>Hotel WiFi</title></head><body>Please log in</body></html>";

#[test]
fn a_captive_portal_page_is_reported_as_html_not_as_a_decoding_error() {
    let pki = Pki::new("127.0.0.1");
    let (cert, key) = pki.tls();
    let _server = Canned::start(pki.dir.path(), 15001, &http("200 OK", &["Content-Type: text/html"], HTML), Some((&cert, &key)));
    let r = run(&["est", "cacerts", "--url", "https://127.0.0.1:15001", "--tls-ca", p(&pki.path("tls-ca.pem"))]);
    assert_eq!(r.code, 6, "{}{}", r.out, r.err);
    assert!(r.last().starts_with("invalid: 127.0.0.1:15001 answered with an HTML page (Content-Type: text/html)"), "{}", r.out);
    assert!(r.last().contains("captive portal"), "{}", r.out);
    // SCEP (plain HTTP) likewise.
    let _scep = Canned::start(pki.dir.path(), 15002, &http("200 OK", &["Content-Type: text/html"], HTML), None);
    let r = run(&["scep", "getca", "--url", "http://127.0.0.1:15002/scep", "--fingerprint", &"00".repeat(32)]);
    assert_eq!(r.code, 6, "{}{}", r.out, r.err);
    assert!(r.last().contains("an HTML page"), "{}", r.out);
}

#[test]
fn an_empty_cacerts_is_empty_not_untrusted() {
    let pki = Pki::new("127.0.0.1");
    let (cert, key) = pki.tls();
    let _server =
        Canned::start(pki.dir.path(), 15003, &http("200 OK", &["Content-Type: application/pkcs7-mime"], b""), Some((&cert, &key)));
    let r = run(&["est", "cacerts", "--url", "https://127.0.0.1:15003", "--tls-ca", p(&pki.path("tls-ca.pem"))]);
    assert_eq!(r.code, 6, "{}{}", r.out, r.err);
    assert!(r.last().starts_with("invalid: the /cacerts reply is empty"), "{}", r.out);
    assert!(!r.out.contains("untrusted"), "{}", r.out);
}

#[test]
fn a_tls_name_mismatch_names_the_certificate_s_names() {
    let pki = Pki::new("wrong.example");
    let (cert, key) = pki.tls();
    let _server = Canned::start(pki.dir.path(), 15004, &http("200 OK", &[], b""), Some((&cert, &key)));
    let r = run(&["est", "cacerts", "--url", "https://127.0.0.1:15004", "--tls-ca", p(&pki.path("tls-ca.pem")), "--verbose"]);
    assert_eq!(r.code, 5, "{}{}", r.out, r.err);
    assert!(r.last().starts_with("refused: the server's certificate is for wrong.example, not 127.0.0.1"), "{}", r.out);
    assert!(!r.out.contains("Transport("), "no Debug dump on stdout: {}", r.out);
    assert!(r.err.contains("cause: "), "--verbose: the cause chain on stderr: {}", r.err);
}

#[test]
fn scep_http_errors_show_the_body() {
    let dir = tempfile::tempdir().unwrap();
    let _server =
        Canned::start(dir.path(), 15005, &http("500 Internal Server Error", &["Content-Type: text/plain"], b"database is down"), None);
    let r = run(&["scep", "getca", "--url", "http://127.0.0.1:15005/scep", "--fingerprint", &"00".repeat(32)]);
    assert_eq!(r.code, 4, "{}{}", r.out, r.err);
    assert_eq!(r.last(), "refused: the server answered HTTP 500: \"database is down\"", "{}", r.out);
}

/// An EST enrollment against a canned reply: the CSR is sent, the reply is `response`.
fn est_enroll(pki: &Pki, port: u16, response: &[u8], extra: &[&str]) -> Run {
    let (cert, key) = pki.tls();
    let _server = Canned::start(pki.dir.path(), port, response, Some((&cert, &key)));
    let url = format!("https://127.0.0.1:{port}");
    let tls_ca = pki.path("tls-ca.pem");
    let mut args = vec!["est", "enroll", "--url", &url, "--tls-ca", p(&tls_ca), "--key"];
    let device = pki.path("device.key");
    args.extend([p(&device), "--subject", "CN=dev"]);
    args.extend(extra);
    run(&args)
}

#[test]
fn a_401_without_challenge_suggests_preemptive_basic() {
    let pki = Pki::new("127.0.0.1");
    let r = est_enroll(&pki, 15006, &http("401 Unauthorized", &[], b""), &["--user", "u", "--password", "p"]);
    assert_eq!(r.code, 4, "{}{}", r.out, r.err);
    assert!(r.last().contains("offered no challenge; try --basic-preemptive"), "{}", r.out);
}

#[test]
fn est_ca_s_400_on_a_wrapped_csr_suggests_one_line() {
    let pki = Pki::new("127.0.0.1");
    let body = b"could not parse certificate signing request";
    let r = est_enroll(&pki, 15007, &http("400 Bad Request", &["Content-Type: text/plain"], body), &[]);
    assert_eq!(r.code, 4, "{}{}", r.out, r.err);
    assert!(r.last().contains("could not parse certificate signing request") && r.last().ends_with("try --one-line"), "{}", r.out);
}

/// The PKCS#7 certs-only reply (base64) carrying a certificate for the device key issued by a
/// CA of its own ("rogue"), which is neither the TLS anchor nor --ca.
fn rogue_reply(pki: &Pki) -> Vec<u8> {
    let d = pki.dir.path();
    let (rogue, rogue_key) = self_signed_ca(d, "rogue", "/CN=Rogue CA");
    let (csr, cert, p7) = (d.join("dev.csr"), d.join("dev.pem"), d.join("dev.p7"));
    openssl(&["req", "-new", "-key", p(&pki.path("device.key")), "-out", p(&csr), "-subj", "/CN=dev"]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        p(&csr),
        "-CA",
        p(&rogue),
        "-CAkey",
        p(&rogue_key),
        "-CAcreateserial",
        "-out",
        p(&cert),
        "-days",
        "30",
    ]);
    openssl(&["crl2pkcs7", "-nocrl", "-certfile", p(&cert), "-outform", "DER", "-out", p(&p7)]);
    let out = Command::new("openssl").args(["base64", "-in", p(&p7)]).output().unwrap();
    http("200 OK", &["Content-Type: application/pkcs7-mime; smime-type=certs-only", "Content-Transfer-Encoding: base64"], &out.stdout)
}

#[test]
fn a_certificate_from_an_unpinned_ca_is_refused_unless_accepted() {
    let pki = Pki::new("127.0.0.1");
    let reply = rogue_reply(&pki);
    let out = pki.path("dev-issued.pem");
    let r = est_enroll(&pki, 15008, &reply, &["--out", p(&out)]);
    assert_eq!(r.code, 4, "{}{}", r.out, r.err);
    assert!(r.last().starts_with("refused: the issued certificate (from CN=Rogue CA) does not chain to --tls-ca"), "{}", r.out);
    assert!(!out.exists(), "nothing written");
    let r = est_enroll(&pki, 15009, &reply, &["--out", p(&out), "--accept-unverified-ca", "--json"]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert!(r.out.contains("\"warning\":\"the certificate does not chain"), "{}", r.out);
    // Dates in RFC 3339 (UTC), not Unix seconds.
    let after = r.out.split("\"not_after\":\"").nth(1).unwrap().split('"').next().unwrap();
    assert!(after.len() == 20 && after.as_bytes()[4] == b'-' && after.as_bytes()[10] == b'T' && after.ends_with('Z'), "{after}");
    assert!(out.exists());
}

#[test]
fn csr_options_are_in_the_request_shown_by_dry_run() {
    let pki = Pki::new("127.0.0.1");
    let r = est_enroll(
        &pki,
        15010,
        &http("500 Internal Server Error", &[], b""),
        &[
            "--dry-run",
            "--key-usage",
            "digitalSignature,keyEncipherment",
            "--ext-key-usage",
            "clientAuth,1.3.6.1.5.5.7.3.17",
            "--dns",
            "dev.example",
            "--ip",
            "192.0.2.7",
            "--uri",
            "urn:dev:7",
            "--email",
            "ops@example.com",
            "--one-line",
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert!(r.out.contains("this request is NOT sent"), "{}", r.out);
    assert_eq!(r.last(), "dry run: the request above was not sent");
    assert!(r.out.contains("csr_san: DNS:dev.example, IP:192.0.2.7, URI:urn:dev:7, email:ops@example.com"), "{}", r.out);
    // The CSR itself, read back by openssl.
    let body = r.out.split("\n\n").nth(1).unwrap().lines().next().unwrap().trim();
    let csr = pki.path("shown.csr");
    std::fs::write(&csr, format!("-----BEGIN CERTIFICATE REQUEST-----\n{body}\n-----END CERTIFICATE REQUEST-----\n")).unwrap();
    let text = Command::new("openssl").args(["req", "-in", p(&csr), "-noout", "-text"]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("Digital Signature, Key Encipherment"), "{text}");
    assert!(text.contains("TLS Web Client Authentication, ipsec Internet Key Exchange"), "{text}");
    assert!(text.contains("DNS:dev.example") && text.contains("IP Address:192.0.2.7") && text.contains("URI:urn:dev:7"), "{text}");
    assert!(text.contains("email:ops@example.com"), "{text}");
}

#[test]
fn server_generated_keys_are_written_0600() {
    use std::os::unix::fs::PermissionsExt;
    let pki = Pki::new("127.0.0.1");
    let d = pki.dir.path();
    // The server's key and a certificate for it from the TLS CA (so it chains to --tls-ca).
    let (key, csr, cert, p7) = (d.join("skg.key"), d.join("skg.csr"), d.join("skg.pem"), d.join("skg.p7"));
    openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", p(&key)]);
    openssl(&["req", "-new", "-key", p(&key), "-out", p(&csr), "-subj", "/CN=dev"]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        p(&csr),
        "-CA",
        p(&pki.path("tls-ca.pem")),
        "-CAkey",
        p(&pki.path("tls-ca.key")),
        "-CAcreateserial",
        "-out",
        p(&cert),
        "-days",
        "30",
    ]);
    openssl(&["crl2pkcs7", "-nocrl", "-certfile", p(&cert), "-outform", "DER", "-out", p(&p7)]);
    let b64 = |args: &[&str]| String::from_utf8(Command::new("openssl").args(args).output().unwrap().stdout).unwrap();
    let key_der = d.join("skg.der");
    openssl(&["pkcs8", "-topk8", "-nocrypt", "-in", p(&key), "-outform", "DER", "-out", p(&key_der)]);
    let key_b64 = b64(&["base64", "-in", p(&key_der)]);
    let p7_b64 = b64(&["base64", "-in", p(&p7)]);
    let body = format!(
        "--b1\r\nContent-Type: application/pkcs8\r\nContent-Transfer-Encoding: base64\r\n\r\n{key_b64}\r\n--b1\r\n\
         Content-Type: application/pkcs7-mime; smime-type=certs-only\r\nContent-Transfer-Encoding: base64\r\n\r\n{p7_b64}\r\n--b1--\r\n"
    );
    let (tls_cert, tls_key) = pki.tls();
    let _server = Canned::start(
        d,
        15011,
        &http("200 OK", &["Content-Type: multipart/mixed; boundary=b1"], body.as_bytes()),
        Some((&tls_cert, &tls_key)),
    );
    let (out, key_out) = (d.join("skg-issued.pem"), d.join("skg-key.der"));
    // An existing world-readable file is made private too.
    std::fs::write(&key_out, b"old").unwrap();
    std::fs::set_permissions(&key_out, std::fs::Permissions::from_mode(0o644)).unwrap();
    let r = run(&[
        "est",
        "serverkeygen",
        "--url",
        "https://127.0.0.1:15011",
        "--tls-ca",
        p(&pki.path("tls-ca.pem")),
        "--key",
        p(&pki.path("device.key")),
        "--subject",
        "CN=dev",
        "--out",
        p(&out),
        "--key-out",
        p(&key_out),
    ]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert!(r.last().starts_with("issued: certificate for CN=dev from CN=Test TLS CA"), "{}", r.out);
    let mode = std::fs::metadata(&key_out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the private key is written 0600, not {mode:o}");
    assert_eq!(std::fs::read(&key_out).unwrap(), std::fs::read(&key_der).unwrap(), "the server's key, as sent");
}

#[test]
fn a_wrong_tls_anchor_says_so() {
    let pki = Pki::new("127.0.0.1");
    let other = Pki::new("127.0.0.1");
    let (cert, key) = pki.tls();
    let _server = Canned::start(pki.dir.path(), 15012, &http("200 OK", &[], b""), Some((&cert, &key)));
    let r = run(&["est", "cacerts", "--url", "https://127.0.0.1:15012", "--tls-ca", p(&other.path("tls-ca.pem"))]);
    assert_eq!(r.code, 5, "{}{}", r.out, r.err);
    assert!(r.last().starts_with("refused: the server's certificate does not chain to --tls-ca"), "{}", r.out);
    assert!(r.last().ends_with("give the anchor of the server's TLS certificate as --tls-ca"), "{}", r.out);
}

/// The outcome lines of the failures above, compared with tests/golden/outcomes.txt
/// (`UPDATE_GOLDEN=1` rewrites it).
#[test]
fn golden_outcome_lines() {
    let pki = Pki::new("127.0.0.1");
    let wrong = Pki::new("wrong.example");
    let (cert, key) = pki.tls();
    let (wcert, wkey) = wrong.tls();
    let tls_ca = pki.path("tls-ca.pem");
    let d = pki.dir.path();
    let fp = "00".repeat(32);
    let _a = Canned::start(d, 15020, &http("200 OK", &["Content-Type: text/html"], HTML), Some((&cert, &key)));
    let _b = Canned::start(d, 15021, &http("200 OK", &["Content-Type: application/pkcs7-mime"], b""), Some((&cert, &key)));
    let _c = Canned::start(wrong.dir.path(), 15022, &http("200 OK", &[], b""), Some((&wcert, &wkey)));
    let _e = Canned::start(d, 15023, &http("503 Service Unavailable", &["Content-Type: text/plain"], b"CA offline\nfor maintenance"), None);
    let _f = Canned::start(d, 15024, &http("401 Unauthorized", &[], b""), Some((&cert, &key)));
    let _g = Canned::start(d, 15025, &http("400 Bad Request", &[], b"could not parse certificate signing request"), Some((&cert, &key)));
    let _h = Canned::start(d, 15026, &http("404 Not Found", &["Content-Type: text/plain"], b"no such CA"), None);
    let wca = wrong.path("tls-ca.pem");
    let dev = pki.path("device.key");
    let enroll = |port: &str, extra: &[&str]| {
        let url = format!("https://127.0.0.1:{port}");
        let mut a = vec!["est".to_string(), "enroll".into(), "--url".into(), url, "--tls-ca".into(), p(&tls_ca).into(), "--key".into()];
        a.extend([p(&dev).to_string(), "--subject".into(), "CN=dev".into()]);
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let cases: Vec<Vec<String>> = vec![
        ["scep", "getcaps", "--url", "http://127.0.0.1:9/scep", "--fingerprint", &fp].iter().map(|s| s.to_string()).collect(),
        ["est", "cacerts", "--url", "https://127.0.0.1:15020", "--tls-ca", p(&tls_ca)].iter().map(|s| s.to_string()).collect(),
        ["est", "cacerts", "--url", "https://127.0.0.1:15021", "--tls-ca", p(&tls_ca)].iter().map(|s| s.to_string()).collect(),
        ["est", "cacerts", "--url", "https://127.0.0.1:15022", "--tls-ca", p(&wca)].iter().map(|s| s.to_string()).collect(),
        ["scep", "getca", "--url", "http://127.0.0.1:15023/scep", "--fingerprint", &fp].iter().map(|s| s.to_string()).collect(),
        ["scep", "getca", "--url", "http://127.0.0.1:15026/scep", "--fingerprint", &fp].iter().map(|s| s.to_string()).collect(),
        enroll("15024", &["--user", "u", "--password", "p"]),
        enroll("15024", &[]),
        enroll("15025", &[]),
    ];
    let mut text = String::new();
    for args in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = run(&args);
        let shown: Vec<&str> = args.iter().map(|a| if a.starts_with('/') { "FILE" } else { a }).collect();
        text.push_str(&format!("$ enroll {}\nexit {}\n{}\n\n", shown.join(" "), r.code, r.last()));
    }
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/outcomes.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &text).unwrap();
    }
    let want = std::fs::read_to_string(&golden).unwrap_or_default();
    assert_eq!(text, want, "the outcome lines changed (UPDATE_GOLDEN=1 to accept):\n{text}");
}

#[test]
fn timeout_bounds_an_exchange_and_max_wait_the_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let fp = "00".repeat(32);
    let _silent = Canned::start(dir.path(), 15013, b"", None);
    let start = std::time::Instant::now();
    let r = run(&["scep", "getcaps", "--url", "http://127.0.0.1:15013/scep", "--fingerprint", &fp, "--timeout", "1"]);
    assert_eq!(r.code, 5, "{}{}", r.out, r.err);
    assert_eq!(r.last(), "timed out: 127.0.0.1:15013 did not answer within 1 s; raise --timeout if the server is slow", "{}", r.out);
    assert!(start.elapsed() < std::time::Duration::from_secs(5), "{:?}", start.elapsed());

    // EST 202 with Retry-After: 1, again and again: --max-wait 2 ends it (exit 3), not the old hour.
    let pki = Pki::new("127.0.0.1");
    let start = std::time::Instant::now();
    let r = est_enroll(&pki, 15014, &http("202 Accepted", &["Retry-After: 1"], b""), &["--max-wait", "2"]);
    assert_eq!(r.code, 3, "{}{}", r.out, r.err);
    assert!(r.last().starts_with("pending: "), "{}", r.out);
    assert!(start.elapsed() < std::time::Duration::from_secs(10), "{:?}", start.elapsed());
    // The interactive default is 10 minutes, on every command.
    for (proto, cmds) in COMMANDS {
        for cmd in *cmds {
            assert!(run(&[proto, cmd, "--help"]).out.contains("[default: 600]"), "{proto} {cmd}");
        }
    }
}

/// A PKCS#7 certs-only reply (base64) with two unrelated self-signed roots, A and B.
fn two_roots(pki: &Pki) -> Vec<u8> {
    let d = pki.dir.path();
    for n in ["A", "B"] {
        self_signed_ca(d, n, &format!("/CN=Root {n}"));
    }
    let p7 = d.join("roots.p7");
    openssl(&[
        "crl2pkcs7",
        "-nocrl",
        "-certfile",
        p(&d.join("A.pem")),
        "-certfile",
        p(&d.join("B.pem")),
        "-outform",
        "DER",
        "-out",
        p(&p7),
    ]);
    let b64 = Command::new("openssl").args(["base64", "-in", p(&p7)]).output().unwrap().stdout;
    http("200 OK", &["Content-Type: application/pkcs7-mime", "Content-Transfer-Encoding: base64"], &b64)
}

#[test]
fn unpinned_cacerts_are_flagged_and_a_pin_filters_them() {
    let pki = Pki::new("127.0.0.1");
    let (cert, key) = pki.tls();
    let _server = Canned::start(pki.dir.path(), 15015, &two_roots(&pki), Some((&cert, &key)));
    let tls_ca = pki.path("tls-ca.pem");
    let base = ["est", "cacerts", "--url", "https://127.0.0.1:15015", "--tls-ca", p(&tls_ca)];
    let r = run(&[&base[..], &["--json"]].concat());
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert!(r.out.contains("\"message\":\"fetched: 2 CA certificate(s), unchecked"), "{}", r.out);
    assert!(r.out.contains("\"warning\":\"no CA pinned"), "{}", r.out);
    assert!(r.out.contains("\"certificate\":[\"CN=Root A (SHA-256 ") && r.out.matches("CN=Root").count() == 2, "one array: {}", r.out);
    let r = run(&[&base[..], &["--ca", p(&pki.path("A.pem"))]].concat());
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert_eq!(r.last(), "fetched: 1 CA certificate(s), checked against the pin", "{}", r.out);
    assert!(r.out.contains("left_out: 1 certificate(s)") && !r.out.contains("Root B"), "{}", r.out);
}

#[test]
fn the_csrattrs_template_is_applied_and_shown_by_dry_run() {
    let pki = Pki::new("127.0.0.1");
    let d = pki.dir.path();
    // /csrattrs: challengePassword, and an extensionRequest fixing extendedKeyUsage to serverAuth.
    let conf = d.join("attrs.cnf");
    std::fs::write(
        &conf,
        "asn1 = SEQUENCE:attrs\n[attrs]\ncp = OID:challengePassword\nreq = SEQUENCE:extreq\n\
         [extreq]\ntype = OID:extReq\nvals = SET:exts\n[exts]\nseq = SEQUENCE:extlist\n[extlist]\neku = SEQUENCE:eku\n\
         [eku]\nid = OID:extendedKeyUsage\nval = OCTWRAP,SEQUENCE:ekuval\n[ekuval]\np = OID:serverAuth\n",
    )
    .unwrap();
    let der = d.join("attrs.der");
    openssl(&["asn1parse", "-genconf", p(&conf), "-out", p(&der), "-noout"]);
    let b64 = Command::new("openssl").args(["base64", "-in", p(&der)]).output().unwrap().stdout;
    let attrs = d.join("attrs.http");
    std::fs::write(&attrs, http("200 OK", &["Content-Type: application/csrattrs", "Content-Transfer-Encoding: base64"], &b64)).unwrap();
    let routes = format!("ROUTES\n/csrattrs {}\n", p(&attrs));
    let r = est_enroll(&pki, 15016, routes.as_bytes(), &["--csrattrs", "--dry-run", "--one-line"]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert!(r.err.contains("GET /.well-known/est/csrattrs"), "{}", r.err);
    assert!(
        r.out
            .contains("csr_attributes: challengePassword asked (the channel binding goes in it); 1 extension(s) applied from the template"),
        "{}",
        r.out
    );
    let body = r.out.split("\n\n").nth(1).unwrap().lines().next().unwrap().trim();
    let csr = d.join("shown.csr");
    std::fs::write(&csr, format!("-----BEGIN CERTIFICATE REQUEST-----\n{body}\n-----END CERTIFICATE REQUEST-----\n")).unwrap();
    let text = Command::new("openssl").args(["req", "-in", p(&csr), "-noout", "-text"]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("TLS Web Server Authentication"), "the template's extension is in the CSR shown: {text}");
    // The binding comes from the connection that sends the CSR: a dry run has none, and says so.
    assert!(!text.contains("challengePassword"), "{text}");
    assert!(r.out.contains("note: the channel binding comes from the connection that sends the CSR"), "{}", r.out);
}
