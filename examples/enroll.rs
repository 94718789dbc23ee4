//! `enroll`: the host CLI over the crate's SCEP and EST clients, for field engineers and test
//! benches (modelled on sscep and libest's estclient, in one tool).
//!
//! ```text
//! cargo run --example enroll --features scep,est,soft-keys,legacy-crypto,sha512,std,host-tls -- --help
//! enroll scep enroll --url http://127.0.0.1:8080/scep --fingerprint <sha256> --key dev.key \
//!        --subject CN=router-7 --challenge secret --out router-7.pem
//! enroll est enroll --url https://localhost:8443 --tls-ca tls-ca.pem --key dev.key \
//!        --user device --password secret --out dev.pem
//! ```
//! Exit codes: 0 done, 2 bad usage or configuration, 3 still pending, 4 refused by the
//! server, 5 transport error, 6 invalid or untrusted reply.

use embedded_enroll::asn1::cert::CertificateRef;
use embedded_enroll::asn1::csr::{ChallengePassword, CsrBuilder, NameAttribute, SubjectAltName};
use embedded_enroll::crypto::Digest;
use embedded_enroll::crypto::rsa::{RsaPrivateKey2048, RsaPrivateKey3072, RsaPrivateKey4096};
use embedded_enroll::hal::soft::SoftP256Key;
use embedded_enroll::hal::{Decrypter, ErrorKind, KeyAgreement, KeyRole, Signer};
use embedded_enroll::http::base64::{self, LineStyle};
use embedded_enroll::scep::ca::CaTrust;
use embedded_enroll::scep::{self, AlgorithmPolicy};
use embedded_enroll::time::{Instant, UnixTime};
use embedded_enroll::transport::blocking::{Connect, DeviceKeys, DriveError, Progress, Timer, run_est, run_scep};
use embedded_enroll::transport::host::{StdTimer, TcpConnector};
use embedded_enroll::transport::host_tls::{RustlsConnector, TlsVersions};
use embedded_enroll::{est, est::client::CaCertsTrust};
use std::collections::HashMap;
use std::process::ExitCode;

const OK: u8 = 0;
const USAGE: u8 = 2;
const PENDING: u8 = 3;
const REFUSED: u8 = 4;
const TRANSPORT: u8 = 5;
const INVALID: u8 = 6;

const HELP: &str = "enroll: SCEP (RFC 8894) and EST (RFC 7030) enrollment from a host

usage: enroll scep <getcaps|getca|getnextca|enroll|renew|poll|getcert|getcrl> [options]
       enroll est  <cacerts|csrattrs|enroll|reenroll|serverkeygen> [options]
       enroll <scep|est> <command> --help

Progress goes to stderr, results to stdout (or --out); --json prints one JSON object.
Exit codes: 0 done, 2 usage/configuration, 3 pending, 4 refused by the server,
5 transport error, 6 invalid or untrusted reply.";

/// Per-command help: what it does and the options it reads.
fn command_help(proto: &str, cmd: &str) -> Option<&'static str> {
    Some(match (proto, cmd) {
        ("scep", "getcaps") => {
            "enroll scep getcaps --url URL [--fingerprint HEX|--ca FILE] [--json]\n  GetCACaps: the capabilities and the algorithms this client would choose."
        }
        ("scep", "getca") => {
            "enroll scep getca --url URL (--fingerprint HEX | --ca FILE) [--out FILE] [--json]\n  GetCACert: the CA/RA certificates, checked against the pinned SHA-256 fingerprint or anchor."
        }
        ("scep", "getnextca") => {
            "enroll scep getnextca --url URL (--fingerprint HEX | --ca FILE) [--out FILE]\n  GetNextCACert: the next CA certificate(s), accepted only when signed by the current CA."
        }
        ("scep", "enroll") => {
            "enroll scep enroll --url URL (--fingerprint HEX | --ca FILE) --key FILE --subject DN\n       [--dns NAME]... [--challenge PW] [--get] [--no-legacy | --allow-des] [--max-polls N]\n       [--poll-interval S] [--state FILE [--no-wait]] [--out FILE] [--dry-run] [--json]\n  PKCSReq with a self-signed signer certificate. PENDING is polled (CertPoll) with backoff;\n  with --no-wait the transaction is saved to --state and the command exits 3.\n  --allow-des accepts a reply encrypted with single DES (micromdm sends them); without it\n  such a reply is refused."
        }
        ("scep", "renew") => {
            "enroll scep renew --url URL (--fingerprint HEX | --ca FILE) --key FILE --cert FILE --subject DN\n       [--challenge PW] [--new-key FILE] [options of enroll]\n  RenewalReq signed with the current certificate and key (--new-key certifies another key)."
        }
        ("scep", "poll") => {
            "enroll scep poll --url URL (--fingerprint HEX | --ca FILE) --key FILE --subject DN --state FILE\n       [--cert FILE] [--no-wait] [--out FILE]\n  Resumes a PENDING transaction saved by enroll/renew --no-wait (CertPoll on the same transaction)."
        }
        ("scep", "getcert") => {
            "enroll scep getcert --url URL (--fingerprint HEX | --ca FILE) --key FILE --cert FILE --serial HEX [--out FILE]\n  GetCert: the certificate with this serial, asked for by the holder of --cert."
        }
        ("scep", "getcrl") => {
            "enroll scep getcrl --url URL (--fingerprint HEX | --ca FILE) --key FILE --cert FILE [--out FILE]\n  GetCRL: the CRL covering --cert."
        }
        ("est", "cacerts") => {
            "enroll est cacerts --url URL (--tls-ca FILE | --insecure-bootstrap --fingerprint HEX) [--out FILE]\n  /cacerts. With --insecure-bootstrap the TLS server is NOT authenticated (RFC 7030 4.1.1):\n  the answer must contain the CA with the SHA-256 fingerprint given out of band."
        }
        ("est", "csrattrs") => {
            "enroll est csrattrs --url URL --tls-ca FILE [--user U --password P] [--out FILE]\n  /csrattrs: what the server wants in a CSR (printed as OIDs)."
        }
        ("est", "enroll") => {
            "enroll est enroll --url URL --tls-ca FILE --key FILE [--subject DN] [--dns NAME]...\n       [--user U --password P [--basic-preemptive]] [--ca FILE] [--csrattrs] [--bind]\n       [--one-line] [--tls12] [--out FILE] [--dry-run] [--json]\n  /simpleenroll. --csrattrs fetches /csrattrs first and applies it; --bind always puts the\n  TLS channel binding (tls-exporter) into the CSR; --one-line sends the CSR without line breaks."
        }
        ("est", "reenroll") => {
            "enroll est reenroll --url URL --tls-ca FILE --key FILE --cert FILE [options of enroll]\n  /simplereenroll over TLS authenticated with --cert and --key."
        }
        ("est", "serverkeygen") => {
            "enroll est serverkeygen --url URL --tls-ca FILE --key FILE [--user U --password P] --out FILE --key-out FILE\n  /serverkeygen: the server makes the key; it is written to --key-out (DER) and wiped from memory."
        }
        _ => return None,
    })
}

struct Args {
    proto: String,
    cmd: String,
    opts: HashMap<String, Vec<String>>,
    flags: Vec<String>,
}

const FLAGS: &[&str] = &[
    "--json",
    "--dry-run",
    "--no-wait",
    "--get",
    "--no-legacy",
    "--allow-des",
    "--insecure-bootstrap",
    "--basic-preemptive",
    "--csrattrs",
    "--bind",
    "--one-line",
    "--tls12",
    "--help",
];

impl Args {
    fn parse(argv: &[String]) -> Result<Self, String> {
        let mut it = argv.iter().skip(1);
        let proto = it.next().cloned().unwrap_or_default();
        let cmd = it.next().cloned().unwrap_or_default();
        let mut opts: HashMap<String, Vec<String>> = HashMap::new();
        let mut flags = Vec::new();
        while let Some(a) = it.next() {
            if FLAGS.contains(&a.as_str()) {
                flags.push(a.clone());
            } else if a.starts_with("--") {
                let v = it.next().ok_or(format!("{a} needs a value"))?;
                opts.entry(a.clone()).or_default().push(v.clone());
            } else {
                return Err(format!("unexpected argument {a:?}"));
            }
        }
        Ok(Self { proto, cmd, opts, flags })
    }
    fn get(&self, k: &str) -> Option<&str> {
        self.opts.get(k).and_then(|v| v.last()).map(String::as_str)
    }
    fn all(&self, k: &str) -> Vec<&str> {
        self.opts.get(k).map(|v| v.iter().map(String::as_str).collect()).unwrap_or_default()
    }
    fn need(&self, k: &str) -> Result<&str, String> {
        self.get(k).ok_or(format!("{k} is required (see --help)"))
    }
    fn flag(&self, f: &str) -> bool {
        self.flags.iter().any(|x| x == f)
    }
}

/// A device key loaded from a file.
enum Key {
    Ec(SoftP256Key),
    Rsa2048(Box<RsaPrivateKey2048>),
    Rsa3072(Box<RsaPrivateKey3072>),
    Rsa4096(Box<RsaPrivateKey4096>),
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(not shown)")
    }
}

/// PEM (any label) or DER: the DER and the PEM label.
fn read_der(path: &str) -> Result<(Vec<u8>, String), String> {
    let raw = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let text = String::from_utf8_lossy(&raw);
    let Some(begin) = text.find("-----BEGIN ") else { return Ok((raw, String::new())) };
    let label_end = text[begin + 11..].find("-----").ok_or(format!("{path}: malformed PEM"))? + begin + 11;
    let label = text[begin + 11..label_end].to_string();
    let end = text.find("-----END ").ok_or(format!("{path}: malformed PEM"))?;
    let body = &text[label_end + 5..end];
    let mut out = vec![0u8; body.len()];
    let n = base64::decode(body.as_bytes(), &mut out).map_err(|e| format!("{path}: {e}"))?.len();
    out.truncate(n);
    Ok((out, label))
}

fn load_key(path: &str) -> Result<Key, String> {
    let (der, label) = read_der(path)?;
    let mut rng = rand::rngs::OsRng;
    let bad = |what: &str| format!("{path}: not a usable {what} key (P-256 or RSA 2048/3072/4096, PKCS#8, PKCS#1 or SEC1)");
    if label == "EC PRIVATE KEY" {
        return SoftP256Key::from_sec1_der(&der).map(Key::Ec).map_err(|_| bad("EC"));
    }
    let rsa = |pkcs1: bool| -> Option<Key> {
        let mut rng = rand::rngs::OsRng;
        macro_rules! try_rsa {
            ($t:ty, $v:ident) => {
                if let Ok(k) = if pkcs1 { <$t>::from_pkcs1_der(&der, &mut rng) } else { <$t>::from_pkcs8_der(&der, &mut rng) } {
                    return Some(Key::$v(Box::new(k)));
                }
            };
        }
        try_rsa!(RsaPrivateKey2048, Rsa2048);
        try_rsa!(RsaPrivateKey3072, Rsa3072);
        try_rsa!(RsaPrivateKey4096, Rsa4096);
        None
    };
    let _ = &mut rng;
    if label == "RSA PRIVATE KEY" {
        return rsa(true).ok_or_else(|| bad("RSA"));
    }
    if let Ok(k) = SoftP256Key::from_pkcs8_der(&der) {
        return Ok(Key::Ec(k));
    }
    if let Some(k) = rsa(false).or_else(|| rsa(true)) {
        return Ok(k);
    }
    SoftP256Key::from_sec1_der(&der).map(Key::Ec).map_err(|_| bad("private"))
}

impl Key {
    fn signer(&mut self) -> &mut dyn DynKey {
        match self {
            Key::Ec(k) => k,
            Key::Rsa2048(k) => &mut **k,
            Key::Rsa3072(k) => &mut **k,
            Key::Rsa4096(k) => &mut **k,
        }
    }
    fn spki(&mut self) -> Vec<u8> {
        self.signer().spki()
    }
}

/// What the CLI needs of a key, object-safe.
trait DynKey {
    fn spki(&mut self) -> Vec<u8>;
    fn sign(&mut self, d: &Digest, out: &mut [u8]) -> Result<usize, ErrorKind>;
    fn decrypt(&mut self, c: &[u8], out: &mut [u8]) -> Result<(), ErrorKind>;
    fn agree(&mut self, p: &[u8], out: &mut [u8; 32]) -> Result<(), ErrorKind>;
}

impl DynKey for SoftP256Key {
    fn spki(&mut self) -> Vec<u8> {
        let mut b = [0u8; 128];
        let n = self.public_key_der(&mut b).unwrap_or(0);
        b[..n].to_vec()
    }
    fn sign(&mut self, d: &Digest, out: &mut [u8]) -> Result<usize, ErrorKind> {
        self.sign_prehash(d, out).map_err(|e| embedded_enroll::hal::Error::kind(&e))
    }
    fn decrypt(&mut self, _: &[u8], _: &mut [u8]) -> Result<(), ErrorKind> {
        Err(ErrorKind::Unsupported)
    }
    fn agree(&mut self, p: &[u8], out: &mut [u8; 32]) -> Result<(), ErrorKind> {
        KeyAgreement::agree(self, p, out).map_err(|e| embedded_enroll::hal::Error::kind(&e))
    }
}

macro_rules! rsa_dyn {
    ($t:ty) => {
        impl DynKey for $t {
            fn spki(&mut self) -> Vec<u8> {
                let mut b = [0u8; 640];
                let n = self.public_key_der(&mut b).unwrap_or(0);
                b[..n].to_vec()
            }
            fn sign(&mut self, d: &Digest, out: &mut [u8]) -> Result<usize, ErrorKind> {
                self.sign_prehash(d, out).map_err(|e| embedded_enroll::hal::Error::kind(&e))
            }
            fn decrypt(&mut self, c: &[u8], out: &mut [u8]) -> Result<(), ErrorKind> {
                self.decrypt_pkcs1v15(c, out).map_err(|e| embedded_enroll::hal::Error::kind(&e))
            }
            fn agree(&mut self, _: &[u8], _: &mut [u8; 32]) -> Result<(), ErrorKind> {
                Err(ErrorKind::Unsupported)
            }
        }
    };
}
rsa_dyn!(RsaPrivateKey2048);
rsa_dyn!(RsaPrivateKey3072);
rsa_dyn!(RsaPrivateKey4096);

/// The keys for the driver: the certified key, and for renewals the current one.
struct Keys<'k> {
    requested: &'k mut Key,
    current: Option<&'k mut Key>,
}

impl DeviceKeys for Keys<'_> {
    fn sign(&mut self, role: KeyRole, digest: &Digest, out: &mut [u8]) -> Result<usize, ErrorKind> {
        self.pick(role).signer().sign(digest, out)
    }
    fn decrypt(&mut self, role: KeyRole, c: &[u8], out: &mut [u8]) -> Result<(), ErrorKind> {
        self.pick(role).signer().decrypt(c, out)
    }
    fn agree(&mut self, role: KeyRole, p: &[u8], out: &mut [u8; 32]) -> Result<(), ErrorKind> {
        self.pick(role).signer().agree(p, out)
    }
}

impl Keys<'_> {
    fn pick(&mut self, role: KeyRole) -> &mut Key {
        match (role, self.current.as_deref_mut()) {
            (KeyRole::Certificate, Some(k)) => k,
            _ => self.requested,
        }
    }
}

fn parse_subject(dn: &str) -> Result<Vec<NameAttribute<'_>>, String> {
    dn.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').ok_or(format!("subject part {p:?} is not KEY=value"))?;
            Ok(match k.trim().to_ascii_uppercase().as_str() {
                "CN" => NameAttribute::common_name(v.trim()),
                "O" => NameAttribute::organization(v.trim()),
                "OU" => NameAttribute::organizational_unit(v.trim()),
                "C" => NameAttribute::country(v.trim()),
                "L" => NameAttribute::locality(v.trim()),
                "ST" => NameAttribute::state(v.trim()),
                "SERIALNUMBER" => NameAttribute::serial_number(v.trim()),
                other => return Err(format!("subject attribute {other} (CN, O, OU, C, L, ST, serialNumber)")),
            })
        })
        .collect()
}

fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    let clean: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    if !clean.len().is_multiple_of(2) || clean.is_empty() {
        return Err(format!("{s:?} is not hex"));
    }
    (0..clean.len() / 2).map(|i| u8::from_str_radix(&clean[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())).collect()
}

fn fingerprint(args: &Args) -> Result<Option<[u8; 32]>, String> {
    args.get("--fingerprint")
        .map(|f| parse_hex(f).and_then(|v| <[u8; 32]>::try_from(v).map_err(|_| "--fingerprint needs 32 bytes (SHA-256)".to_string())))
        .transpose()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(":")
}

fn pem(label: &str, der: &[u8]) -> String {
    let mut out = vec![0u8; base64::encoded_len(der.len(), LineStyle::Wrapped(64))];
    let b = base64::encode(der, LineStyle::Wrapped(64), &mut out).map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
    format!("-----BEGIN {label}-----\n{b}-----END {label}-----\n")
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// The result of a command, printed as text or JSON.
struct Report {
    outcome: String,
    code: u8,
    fields: Vec<(String, String)>,
}

impl Report {
    fn print(&self, json: bool) {
        if json {
            let mut parts = vec![format!("\"outcome\":{}", json_str(&self.outcome)), format!("\"exit\":{}", self.code)];
            parts.extend(self.fields.iter().map(|(k, v)| format!("{}:{}", json_str(k), json_str(v))));
            println!("{{{}}}", parts.join(","));
        } else {
            println!("{}", self.outcome);
            for (k, v) in &self.fields {
                if v.contains('\n') {
                    print!("{v}");
                } else {
                    println!("  {k}: {v}");
                }
            }
        }
    }
}

fn certificate_fields(der: &[u8], out: &mut Vec<(String, String)>) {
    if let Ok(c) = CertificateRef::parse(der) {
        out.push(("subject".into(), c.subject().to_string()));
        out.push(("issuer".into(), c.issuer().to_string()));
        out.push(("serial".into(), hex(c.serial())));
        out.push(("sha256".into(), hex(&c.fingerprint_sha256())));
        out.push(("not_before".into(), c.not_before().to_string()));
        out.push(("not_after".into(), c.not_after().to_string()));
    }
}

fn write_out(args: &Args, label: &str, der: &[u8], fields: &mut Vec<(String, String)>) -> Result<(), String> {
    match args.get("--out") {
        Some(path) => {
            std::fs::write(path, pem(label, der)).map_err(|e| format!("{path}: {e}"))?;
            fields.push(("written".into(), path.to_string()));
        }
        None if !args.flag("--json") => fields.push(("pem".into(), pem(label, der))),
        None => fields.push(("pem".into(), pem(label, der))),
    }
    Ok(())
}

/// Progress lines on stderr.
fn progress(p: Progress<'_>) {
    match p {
        Progress::Request(l) => eprintln!("-> {l}"),
        Progress::Response(n) => eprintln!("<- {n} bytes"),
        Progress::KeyOperation(k) => eprintln!("   device key: {k}"),
        Progress::Waiting { ms, .. } => eprintln!("   waiting {} s before the next attempt", ms / 1000),
        Progress::TransportError(why) => eprintln!("   transport error: {why}"),
        Progress::DeadlineExceeded { ms } => eprintln!("   exchange abandoned at its deadline, after {} s", ms / 1000),
    }
}

/// A connector that prints and withholds requests that would change state on the server
/// (`--dry-run`): enrollment requests are shown, never sent.
struct DryRun<C> {
    inner: C,
    dry: bool,
    /// Requests let through before the withheld one.
    read_only_left: usize,
}

/// A stream that either passes through or swallows a withheld request.
enum MaybeSent<S> {
    Real(S),
    Withheld,
}

impl<S: embedded_io::ErrorType> embedded_io::ErrorType for MaybeSent<S> {
    type Error = embedded_io::ErrorKind;
}

impl<S: embedded_io::Read> embedded_io::Read for MaybeSent<S> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, embedded_io::ErrorKind> {
        match self {
            MaybeSent::Real(s) => s.read(buf).map_err(|e| embedded_io::Error::kind(&e)),
            MaybeSent::Withheld => Err(embedded_io::ErrorKind::Interrupted),
        }
    }
}

impl<S: embedded_io::Write> embedded_io::Write for MaybeSent<S> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, embedded_io::ErrorKind> {
        match self {
            MaybeSent::Real(s) => s.write(buf).map_err(|e| embedded_io::Error::kind(&e)),
            MaybeSent::Withheld => {
                let split = buf.windows(4).position(|w| w == b"\r\n\r\n").map_or(buf.len(), |i| i + 4);
                let (head, body) = buf.split_at(split);
                println!("--- dry run: this request is NOT sent ---\n{}", String::from_utf8_lossy(head).trim_end());
                match std::str::from_utf8(body) {
                    Ok(text) => println!("\n{text}"),
                    Err(_) => println!("\n<{} bytes of binary body>", body.len()),
                }
                println!("--- end ---");
                Err(embedded_io::ErrorKind::Interrupted)
            }
        }
    }
    fn flush(&mut self) -> Result<(), embedded_io::ErrorKind> {
        match self {
            MaybeSent::Real(s) => s.flush().map_err(|e| embedded_io::Error::kind(&e)),
            MaybeSent::Withheld => Ok(()),
        }
    }
}

impl<C: Connect> Connect for DryRun<C> {
    type Connection<'c>
        = MaybeSent<C::Connection<'c>>
    where
        Self: 'c;
    type Error = C::Error;
    fn connect(&mut self) -> Result<Self::Connection<'_>, C::Error> {
        if self.dry && self.read_only_left == 0 {
            return Ok(MaybeSent::Withheld);
        }
        self.read_only_left = self.read_only_left.saturating_sub(1);
        self.inner.connect().map(MaybeSent::Real)
    }
    fn channel_binding(connection: &Self::Connection<'_>, out: &mut [u8]) -> usize {
        match connection {
            MaybeSent::Real(c) => C::channel_binding(c, out),
            MaybeSent::Withheld => 0,
        }
    }
    fn set_io_timeout(connection: &mut Self::Connection<'_>, timeout: embedded_enroll::time::Duration) {
        if let MaybeSent::Real(c) = connection {
            C::set_io_timeout(c, timeout);
        }
    }
    fn authenticates_server(&self) -> bool {
        self.inner.authenticates_server()
    }
}

/// A timer that, with `--no-wait`, stops at the first wait.
struct CliTimer {
    inner: StdTimer,
    no_wait: bool,
}

impl Timer for CliTimer {
    fn now(&mut self) -> Instant {
        self.inner.now()
    }
    fn sleep_until(&mut self, deadline: Instant) -> bool {
        !self.no_wait && self.inner.sleep_until(deadline)
    }
}

fn wall_time() -> UnixTime {
    UnixTime::from_secs(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0))
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let args = match Args::parse(&argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("enroll: {e}\n\n{HELP}");
            return ExitCode::from(USAGE);
        }
    };
    if args.proto.is_empty() || args.proto == "--help" || args.proto == "help" {
        println!("{HELP}");
        return ExitCode::from(if args.proto.is_empty() { USAGE } else { OK });
    }
    let Some(help) = command_help(&args.proto, &args.cmd) else {
        eprintln!("enroll: unknown command {:?} {:?}\n\n{HELP}", args.proto, args.cmd);
        return ExitCode::from(USAGE);
    };
    if args.flag("--help") {
        println!("{help}");
        return ExitCode::SUCCESS;
    }
    let r = if args.proto == "scep" { run_scep_cmd(&args) } else { run_est_cmd(&args) };
    match r {
        Ok(report) => {
            report.print(args.flag("--json"));
            ExitCode::from(report.code)
        }
        Err(e) => {
            if args.flag("--json") {
                println!("{{\"outcome\":\"BadConfiguration\",\"exit\":2,\"error\":{}}}", json_str(&e));
            }
            eprintln!("enroll: {e}");
            ExitCode::from(USAGE)
        }
    }
}

/// `host:port` and path of an `http://` or `https://` URL.
fn split_url(url: &str, https: bool) -> Result<(String, String, String), String> {
    let scheme = if https { "https://" } else { "http://" };
    let rest = url.strip_prefix(scheme).ok_or(format!("--url must start with {scheme}"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h).to_string();
    let addr = if authority.contains(':') { authority.to_string() } else { format!("{authority}:{}", if https { 443 } else { 80 }) };
    Ok((addr, host, path.to_string()))
}

fn run_scep_cmd(args: &Args) -> Result<Report, String> {
    use scep::client::{Buffers, Client, Config, Operation, Outcome};
    let (addr, host, path) = split_url(args.need("--url")?, false)?;
    let anchor = args.get("--ca").map(read_der).transpose()?.map(|(d, _)| d);
    let anchor_cert = anchor.as_deref().map(CertificateRef::parse).transpose().map_err(|e| format!("--ca: {e}"))?;
    let trust = match (fingerprint(args)?, &anchor_cert) {
        (Some(fp), _) => CaTrust::Fingerprint(fp),
        (None, Some(a)) => CaTrust::Anchor(a),
        (None, None) => return Err("--fingerprint or --ca is required: the CA must be pinned".into()),
    };
    let needs_key = !matches!(args.cmd.as_str(), "getcaps" | "getca" | "getnextca");
    let mut key = match args.get("--key") {
        Some(k) => load_key(k)?,
        None if needs_key => return Err("--key is required".into()),
        None => Key::Ec(SoftP256Key::generate(&mut rand::rngs::OsRng)),
    };
    let mut new_key = args.get("--new-key").map(load_key).transpose()?;
    let cert = args.get("--cert").map(read_der).transpose()?.map(|(d, _)| d);
    let subject_text = args.get("--subject").unwrap_or("CN=device");
    let subject = parse_subject(subject_text)?;
    let dns: Vec<SubjectAltName<'_>> = args.all("--dns").into_iter().map(SubjectAltName::Dns).collect();
    let mut csr = CsrBuilder::new(&subject).subject_alt_names(&dns);
    if let Some(c) = args.get("--challenge") {
        csr = csr.challenge_password(ChallengePassword::Printable(c));
    }
    let serial = args.get("--serial").map(parse_hex).transpose()?;
    let op = match args.cmd.as_str() {
        "getcaps" => Operation::GetCaCaps,
        "getca" => Operation::GetCaCertificates,
        "getnextca" => Operation::GetNextCaCertificates,
        "enroll" => Operation::Enroll(csr),
        "renew" => Operation::Renew { csr, certificate: cert.as_deref().ok_or("--cert (the current certificate) is required")? },
        "poll" => match &cert {
            Some(c) => Operation::Renew { csr, certificate: c },
            None => Operation::Enroll(csr),
        },
        "getcert" => Operation::GetCert {
            certificate: cert.as_deref().ok_or("--cert is required")?,
            serial: serial.as_deref().ok_or("--serial is required")?,
        },
        "getcrl" => Operation::GetCrl { certificate: cert.as_deref().ok_or("--cert is required")? },
        _ => unreachable!("commands are checked by command_help"),
    };
    let spki = match new_key.as_mut() {
        Some(k) => k.spki(),
        None => key.spki(),
    };
    let mut config = Config::new(&host, trust, &spki);
    config.port = addr.rsplit_once(':').and_then(|(_, p)| p.parse().ok()).filter(|p| *p != 80);
    if !path.is_empty() {
        config.path = &path;
    }
    config.wall_time = Some(wall_time());
    let mut policy = AlgorithmPolicy::default();
    if args.flag("--get") {
        policy = policy.with_get();
    }
    if args.flag("--allow-des") {
        policy = policy.with_single_des();
    }
    if args.flag("--no-legacy") {
        policy = policy.without_legacy();
    }
    config.policy = policy;
    if let Some(n) = args.get("--max-polls") {
        config.retry.max_attempts = n.parse().map_err(|_| "--max-polls: a number")?;
    }
    if let Some(s) = args.get("--poll-interval") {
        let s: u64 = s.parse().map_err(|_| "--poll-interval: seconds")?;
        config.retry.initial = embedded_enroll::time::Duration::from_secs(s);
    }
    let (mut ca, mut own, mut work, mut io) = (vec![0u8; 16384], vec![0u8; 8192], vec![0u8; 32768], vec![0u8; 65536]);
    let bufs = Buffers { ca: &mut ca, own: &mut own, work: &mut work, io: &mut io };
    let state = args.get("--state");
    let mut client = if args.cmd == "poll" {
        let path = state.ok_or("--state FILE (from enroll --no-wait) is required")?;
        let record = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
        Client::resume(config, op, bufs, rand::rngs::OsRng, &record, Instant::ZERO).map_err(|e| format!("{path}: {e}"))?
    } else {
        Client::new(config, op, bufs, rand::rngs::OsRng).map_err(|e| e.to_string())?
    };
    // The dry run lets GetCACaps and GetCACert through and withholds the PKIOperation.
    let read_only = if needs_key { 2 } else { usize::MAX };
    let mut connect = DryRun { inner: TcpConnector::new(addr.clone()), dry: args.flag("--dry-run"), read_only_left: read_only };
    let mut timer = CliTimer { inner: StdTimer::default(), no_wait: args.flag("--no-wait") };
    let (requested, current) = match new_key.as_mut() {
        Some(n) => (n, Some(&mut key)),
        None => (&mut key, None),
    };
    let mut keys = Keys { requested, current };
    let r = run_scep(&mut client, &mut connect, &mut keys, &mut timer, progress);
    let mut fields = Vec::new();
    if let Some(c) = client.algorithms() {
        fields.push(("algorithms".into(), format!("{:?} {:?} {}", c.cipher, c.hash, if c.post { "POST" } else { "GET" })));
    }
    let outcome = match r {
        Err(DriveError::Stopped) => {
            let mut rec = [0u8; scep::snapshot::MAX_SNAPSHOT_LEN];
            match (state, client.snapshot(&mut rec)) {
                (Some(path), Ok(Some(r))) => {
                    std::fs::write(path, r).map_err(|e| format!("{path}: {e}"))?;
                    fields.push(("state".into(), path.to_string()));
                }
                _ => fields.push(("state".into(), "not saved (no --state)".into())),
            }
            fields.push(("transaction".into(), client.transaction_id().to_string()));
            return Ok(Report { outcome: "Pending".into(), code: PENDING, fields });
        }
        Err(e) => return Ok(Report { outcome: format!("DriverError({e:?})"), code: TRANSPORT, fields }),
        Ok(o) => o,
    };
    let code = match &outcome {
        Outcome::Issued | Outcome::Certificate => {
            let der = client.certificate().unwrap_or_default().to_vec();
            certificate_fields(&der, &mut fields);
            write_out(args, "CERTIFICATE", &der, &mut fields)?;
            OK
        }
        Outcome::Crl => {
            let der = client.crl().unwrap_or_default().to_vec();
            write_out(args, "X509 CRL", &der, &mut fields)?;
            OK
        }
        Outcome::CaCaps => {
            if let Some(caps) = client.ca_caps() {
                use scep::Capability as C;
                let all =
                    [C::Aes, C::Des3, C::GetNextCaCert, C::PostPkiOperation, C::Renewal, C::Sha1, C::Sha256, C::Sha512, C::ScepStandard];
                let names: Vec<_> = all.iter().filter(|c| caps.has(**c)).map(|c| c.keyword()).collect();
                fields.push(("capabilities".into(), names.join(" ")));
            }
            OK
        }
        Outcome::CaCertificates => {
            let mut all = String::new();
            if let Some(set) = client.ca_certificates() {
                for c in set.certificates() {
                    fields.push(("certificate".into(), format!("{} (SHA-256 {})", c.subject(), hex(&c.fingerprint_sha256()))));
                    all.push_str(&pem("CERTIFICATE", c.as_der()));
                }
                fields.push(("recipient".into(), set.recipient().subject().to_string()));
            }
            if let Some(p) = args.get("--out") {
                std::fs::write(p, all).map_err(|e| format!("{p}: {e}"))?;
            }
            OK
        }
        Outcome::NextCa => {
            let mut all = String::new();
            if let Some(sd) = client.next_ca_certificates() {
                for c in sd.certificates() {
                    fields.push(("next_ca".into(), format!("{} (SHA-256 {})", c.subject(), hex(&c.fingerprint_sha256()))));
                    all.push_str(&pem("CERTIFICATE", c.as_der()));
                }
            }
            if let Some(p) = args.get("--out") {
                std::fs::write(p, all).map_err(|e| format!("{p}: {e}"))?;
            }
            OK
        }
        Outcome::Rejected { fail_info, text } => {
            fields.push(("fail_info".into(), format!("{fail_info:?}")));
            fields.push(("fail_info_text".into(), text.to_string()));
            REFUSED
        }
        Outcome::PendingTimedOut { attempts } => {
            fields.push(("polls".into(), attempts.to_string()));
            PENDING
        }
        Outcome::HttpStatus(s) => {
            fields.push(("status".into(), s.to_string()));
            REFUSED
        }
        Outcome::Transport(_) if args.flag("--dry-run") => {
            return Ok(Report { outcome: "DryRun".into(), code: OK, fields });
        }
        Outcome::Transport(why) => {
            fields.push(("reason".into(), why.to_string()));
            return Ok(Report { outcome: "Transport".into(), code: TRANSPORT, fields });
        }
        Outcome::Http(_) => TRANSPORT,
        _ => INVALID,
    };
    Ok(Report { outcome: format!("{outcome:?}"), code, fields })
}

fn run_est_cmd(args: &Args) -> Result<Report, String> {
    use est::client::{Buffers, ChannelBinding, Client, Config, Credentials, Operation, Outcome};
    let (addr, host, path) = split_url(args.need("--url")?, true)?;
    let label = path.trim_matches('/').strip_prefix(".well-known/est").unwrap_or(path.trim_matches('/')).trim_matches('/').to_string();
    let insecure = args.flag("--insecure-bootstrap");
    let tls_anchor = args.get("--tls-ca").map(read_der).transpose()?.map(|(d, _)| d);
    if tls_anchor.is_none() && !insecure {
        return Err("--tls-ca FILE is required (or --insecure-bootstrap with --fingerprint, for cacerts only)".into());
    }
    if insecure && (args.cmd != "cacerts" || fingerprint(args)?.is_none()) {
        return Err("--insecure-bootstrap is only for `est cacerts --fingerprint HEX`".into());
    }
    let mut key = match args.get("--key") {
        Some(k) => load_key(k)?,
        None if args.cmd == "cacerts" || args.cmd == "csrattrs" => Key::Ec(SoftP256Key::generate(&mut rand::rngs::OsRng)),
        None => return Err("--key is required".into()),
    };
    let spki = key.spki();
    let ca = args.get("--ca").map(read_der).transpose()?.map(|(d, _)| d);
    let trust = match (fingerprint(args)?, &ca) {
        (Some(fp), _) => CaCertsTrust::Fingerprint(fp),
        (None, Some(a)) => CaCertsTrust::Anchor(a),
        (None, None) => CaCertsTrust::TlsAuthenticated,
    };
    let subject_text = args.get("--subject").unwrap_or("CN=device");
    let subject = parse_subject(subject_text)?;
    let dns: Vec<SubjectAltName<'_>> = args.all("--dns").into_iter().map(SubjectAltName::Dns).collect();
    let csr = CsrBuilder::new(&subject).subject_alt_names(&dns);
    let op = match args.cmd.as_str() {
        "cacerts" => Operation::CaCerts,
        "csrattrs" => Operation::CsrAttrs,
        "enroll" => Operation::Enroll(csr),
        "reenroll" => Operation::ReEnroll(csr),
        "serverkeygen" => Operation::ServerKeyGen(csr),
        _ => unreachable!("commands are checked by command_help"),
    };
    let mut config = Config::new(&host, trust, &spki);
    config.port = addr.rsplit_once(':').and_then(|(_, p)| p.parse().ok()).filter(|p| *p != 443);
    if !label.is_empty() {
        config.label = Some(&label);
    }
    config.ca_certificate = ca.as_deref();
    config.wall_time = Some(wall_time());
    config.fetch_csr_attributes = args.flag("--csrattrs");
    config.channel_binding = if args.flag("--bind") { ChannelBinding::Always } else { ChannelBinding::WhenAsked };
    if args.flag("--one-line") {
        config.body_style = LineStyle::OneLine;
    }
    if let (Some(user), Some(password)) = (args.get("--user"), args.get("--password")) {
        config.credentials = Some(Credentials { user, password, preemptive_basic: args.flag("--basic-preemptive") });
    }
    let versions = if args.flag("--tls12") { TlsVersions::Tls12 } else { TlsVersions::Both };
    let client_auth = match (args.cmd.as_str(), args.get("--cert")) {
        ("reenroll", None) => return Err("--cert (the current certificate, for TLS client authentication) is required".into()),
        (_, Some(c)) => Some((vec![read_der(c)?.0], load_key(args.need("--key")?)?)),
        _ => None,
    };
    let inner = match client_auth {
        Some((chain, Key::Ec(k))) => RustlsConnector::new(&addr, &host, tls_anchor.as_deref(), versions, Some((chain, k))),
        Some((chain, Key::Rsa2048(k))) => RustlsConnector::new(&addr, &host, tls_anchor.as_deref(), versions, Some((chain, *k))),
        Some((chain, Key::Rsa3072(k))) => RustlsConnector::new(&addr, &host, tls_anchor.as_deref(), versions, Some((chain, *k))),
        Some((chain, Key::Rsa4096(k))) => RustlsConnector::new(&addr, &host, tls_anchor.as_deref(), versions, Some((chain, *k))),
        None => RustlsConnector::new::<SoftP256Key>(&addr, &host, tls_anchor.as_deref(), versions, None),
    }
    .map_err(|e| format!("TLS configuration: {e}"))?;
    let (mut own, mut work, mut io) = (vec![0u8; 8192], vec![0u8; 32768], vec![0u8; 65536]);
    let bufs = Buffers { own: &mut own, work: &mut work, io: &mut io };
    let mut client = Client::new(config, op, bufs, rand::rngs::OsRng).map_err(|e| e.to_string())?;
    let read_only = match args.cmd.as_str() {
        "cacerts" | "csrattrs" => usize::MAX,
        _ if args.flag("--csrattrs") => 1,
        _ => 0,
    };
    let mut connect = DryRun { inner, dry: args.flag("--dry-run"), read_only_left: read_only };
    let mut timer = CliTimer { inner: StdTimer::default(), no_wait: args.flag("--no-wait") };
    let r = run_est(&mut client, &mut connect, &mut Keys { requested: &mut key, current: None }, &mut timer, progress);
    let mut fields = Vec::new();
    let outcome = match r {
        Err(DriveError::Stopped) => return Ok(Report { outcome: "Pending".into(), code: PENDING, fields }),
        Err(e) => return Ok(Report { outcome: format!("DriverError({e:?})"), code: TRANSPORT, fields }),
        Ok(o) => o,
    };
    if let Some(e) = &connect.inner.last_error {
        fields.push(("tls".into(), e.to_string()));
    }
    let code = match &outcome {
        Outcome::Issued => {
            let der = client.certificate().unwrap_or_default().to_vec();
            certificate_fields(&der, &mut fields);
            if let Some(r) = client.attribute_report() {
                fields.push(("csr_attributes".into(), format!("{r:?}")));
            }
            write_out(args, "CERTIFICATE", &der, &mut fields)?;
            OK
        }
        Outcome::ServerKeyGenerated => {
            let der = client.certificate().unwrap_or_default().to_vec();
            certificate_fields(&der, &mut fields);
            let key_out = args.need("--key-out")?;
            std::fs::write(key_out, client.server_key().unwrap_or_default()).map_err(|e| format!("{key_out}: {e}"))?;
            fields.push(("key_written".into(), key_out.to_string()));
            write_out(args, "CERTIFICATE", &der, &mut fields)?;
            OK
        }
        Outcome::CaCerts => {
            let mut all = String::new();
            // Only what the pinned CA (or the authenticated TLS server) vouches for.
            for c in client.trusted_ca_certificates() {
                fields.push(("certificate".into(), format!("{} (SHA-256 {})", c.subject(), hex(&c.fingerprint_sha256()))));
                all.push_str(&pem("CERTIFICATE", c.as_der()));
            }
            let sent = client.certificates().map_or(0, |sd| sd.certificates().count());
            let kept = client.trusted_ca_certificates().count();
            if sent > kept {
                fields.push(("left_out".into(), format!("{} certificate(s) of the reply do not chain to the pinned CA", sent - kept)));
            }
            if let Some(p) = args.get("--out") {
                std::fs::write(p, all).map_err(|e| format!("{p}: {e}"))?;
            }
            OK
        }
        Outcome::CsrAttrs => {
            let der = client.csr_attributes().unwrap_or_default().to_vec();
            match est::csrattrs::CsrAttrs::parse(&der) {
                Ok(a) => {
                    for item in a.items() {
                        fields.push(("attribute".into(), item.oid().to_string()));
                    }
                }
                Err(e) => fields.push(("error".into(), e.to_string())),
            }
            OK
        }
        Outcome::HttpStatus { status, text } => {
            fields.push(("status".into(), status.to_string()));
            fields.push(("text".into(), text.to_string()));
            REFUSED
        }
        Outcome::Unauthorized => REFUSED,
        Outcome::RetryLimit { .. } => PENDING,
        Outcome::Transport(_) if args.flag("--dry-run") => return Ok(Report { outcome: "DryRun".into(), code: OK, fields }),
        Outcome::Transport(why) => {
            fields.push(("reason".into(), why.to_string()));
            return Ok(Report { outcome: "Transport".into(), code: TRANSPORT, fields });
        }
        Outcome::Http(_) => TRANSPORT,
        _ => INVALID,
    };
    Ok(Report { outcome: format!("{outcome:?}"), code, fields })
}
