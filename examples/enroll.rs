//! `enroll`: the host CLI over the crate's SCEP, EST and ACME clients, for field engineers and
//! test benches (modelled on sscep, libest's estclient and certbot's manual mode, in one tool).
//!
//! ```text
//! cargo run --example enroll --features scep,est,acme,csrattrs,serverkeygen,http-digest,soft-keys,legacy-crypto,sha512,std,host-tls -- --help
//! enroll scep enroll --url http://127.0.0.1:8080/scep --fingerprint <sha256> --key dev.key \
//!        --subject CN=router-7 --challenge secret --out router-7.pem
//! enroll est enroll --url https://localhost:8443 --tls-ca tls-ca.pem --key dev.key \
//!        --user device --password secret --out dev.pem
//! enroll acme order --url https://localhost:14000/dir --tls-ca tls-ca.pem --account-key acct.key \
//!        --key dev.key --name dev.example --http01-port 5002 --out dev-chain.pem
//! ```
//! Exit codes: 0 done, 2 bad usage or configuration, 3 still pending, 4 refused by the
//! server, 5 transport error, 6 invalid or untrusted reply.

use embedded_enroll::acme::{self, ChallengeKind, ChallengeTask, http01};
use embedded_enroll::asn1::cert::CertificateRef;
use embedded_enroll::asn1::csr::{ChallengePassword, CsrBuilder, NameAttribute, SubjectAltName};
use embedded_enroll::crypto::Digest;
use embedded_enroll::crypto::rsa::{RsaPrivateKey2048, RsaPrivateKey3072, RsaPrivateKey4096};
use embedded_enroll::error::ClientError;
use embedded_enroll::hal::soft::SoftP256Key;
use embedded_enroll::hal::{Decrypter, ErrorKind, KeyAgreement, KeyRole, Signer};
use embedded_enroll::http::base64::{self, LineStyle};
use embedded_enroll::lifecycle::RenewalPolicy;
use embedded_enroll::scep::ca::CaTrust;
use embedded_enroll::scep::{self, AlgorithmPolicy};
use embedded_enroll::time::{Instant, UnixTime};
use embedded_enroll::transport::blocking::{Connect, DeviceKeys, DriveError, Progress, Timer, run_acme, run_est, run_scep};
use embedded_enroll::transport::host::{StdTimer, TcpConnector};
use embedded_enroll::transport::host_tls::{RustlsConnector, TlsVersions};
use embedded_enroll::{est, est::client::CaCertsTrust};
use std::collections::HashMap;
use std::net::{IpAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};

const OK: u8 = 0;
const USAGE: u8 = 2;
const PENDING: u8 = 3;
const REFUSED: u8 = 4;
const TRANSPORT: u8 = 5;
const INVALID: u8 = 6;

const HELP: &str = "enroll: SCEP (RFC 8894), EST (RFC 7030) and ACME (RFC 8555) enrollment from a host

usage: enroll scep <getcaps|getca|getnextca|enroll|renew|poll|getcert|getcrl> [options]
       enroll est  <cacerts|csrattrs|enroll|reenroll|serverkeygen> [options]
       enroll acme <account|order|renew|revoke> [options]
       enroll <scep|est|acme> <command> --help

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
        ("acme", "account") => {
            "enroll acme account --url URL --tls-ca FILE --account-key FILE [--contact URI]...\n       [--eab-kid KID --eab-hmac B64URL] [--only-existing] [--json]\n  newAccount for the account key (terms of service agreed; External Account Binding with\n  --eab-kid and the CA's base64url MAC key); --only-existing finds the key's account and creates\n  none. Prints the account URL (give it as --account-url later to skip the lookup).\n  URL: the directory, https://HOST:PORT/PATH (pebble: /dir); --tls-ca: the HTTPS server's anchor."
        }
        ("acme", "order") => {
            "enroll acme order --url URL --tls-ca FILE --account-key FILE [--account-url URL] --key FILE\n       --name DNS [--name DNS]... [--ip ADDR]... (--http01-port PORT | --dns01-hook CMD)\n       [--contact URI]... [--eab-kid KID --eab-hmac B64URL] [--ca-anchor FILE] [--replaces CERT]\n       [--out FILE] [--json]\n  newOrder for the names and addresses, each authorization's challenge answered, finalize with a\n  CSR signed by --key (CN the first name), the chain written to --out (PEM, leaf first).\n  --http01-port: the built-in http-01 responder listens on 127.0.0.1:PORT while the order runs.\n  --dns01-hook: runs `CMD add _acme-challenge.NAME TXT-VALUE` to publish the dns-01 record and\n  `CMD del _acme-challenge.NAME TXT-VALUE` to withdraw it (CMD through sh, the three arguments\n  appended; a non-zero exit from add: cannot publish, exit 2). --ca-anchor: the chain must lead\n  to this CA (alternate chains are tried). --replaces: the certificate this one replaces (ARI).\n  The account is created (or found) for --account-key unless --account-url is given."
        }
        ("acme", "renew") => {
            "enroll acme renew --url URL --tls-ca FILE --account-key FILE [--account-url URL] --key FILE\n       --cert FILE [--name DNS]... [--ip ADDR]... (--http01-port PORT | --dns01-hook CMD) [--force]\n       [--contact URI]... [--eab-kid KID --eab-hmac B64URL] [--ca-anchor FILE] [--out FILE] [--json]\n  Asks the server when to renew --cert (ARI, RFC 9773) and prints the suggested window (RFC 3339);\n  a server without ARI: the window the crate's default renewal policy gives (from 80 % of the\n  lifetime or 14 days before notAfter, whichever comes first, to notAfter). Renews only when now\n  is past the window's start (--force: now), with an order that `replaces` --cert; the names\n  default to --cert's SANs. The other options are those of order; not due: exit 0, nothing written."
        }
        ("acme", "revoke") => {
            "enroll acme revoke --url URL --tls-ca FILE --cert FILE (--account-key FILE [--account-url URL] | --cert-key FILE)\n       [--reason N] [--json]\n  revokeCert for --cert, signed by the account key (its account looked up unless --account-url\n  is given) or by the certificate's own key (--cert-key). --reason: the CRL reason code\n  (RFC 5280: 0 unspecified, 1 keyCompromise, 3 affiliationChanged, 4 superseded,\n  5 cessationOfOperation)."
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
    "--only-existing",
    "--force",
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

/// The first option in `argv` that the command's help does not name (checked for the ACME
/// commands, whose help lists every option they read).
fn unknown_option<'x>(argv: &'x [String], help: &str) -> Option<&'x str> {
    let known: Vec<&str> = help.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')).filter(|t| t.starts_with("--")).collect();
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        if a == "--help" || a == "--json" {
            continue;
        }
        if a.starts_with("--") && !known.contains(&a.as_str()) {
            return Some(a);
        }
        if a.starts_with("--") && !FLAGS.contains(&a.as_str()) {
            it.next();
        }
    }
    None
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    if let (Some("acme"), Some(cmd)) = (argv.get(1).map(String::as_str), argv.get(2))
        && let Some(help) = command_help("acme", cmd)
        && let Some(bad) = unknown_option(argv.get(3..).unwrap_or_default(), help)
    {
        eprintln!("enroll: unknown option {bad} for `enroll acme {cmd}`\n\n{help}");
        return ExitCode::from(USAGE);
    }
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
    let r = match args.proto.as_str() {
        "scep" => run_scep_cmd(&args),
        "est" => run_est_cmd(&args),
        _ => run_acme_cmd(&args),
    };
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

// ---- ACME (RFC 8555) ----

/// The ACME server of the command line: where it is, its directory, the HTTPS trust anchor.
struct AcmeServer {
    addr: String,
    host: String,
    port: u16,
    directory: String,
    tls_anchor: Vec<u8>,
}

impl AcmeServer {
    fn from_args(args: &Args) -> Result<Self, String> {
        let (addr, host, path) = split_url(args.need("--url")?, true)?;
        let port = addr.rsplit_once(':').and_then(|(_, p)| p.parse().ok()).ok_or("--url: the port is not a number")?;
        let tls_ca = args.get("--tls-ca").ok_or("--tls-ca FILE (the trust anchor of the ACME server's HTTPS) is required")?;
        let tls_anchor = read_der(tls_ca)?.0;
        let directory = if path.is_empty() || path == "/" { "/directory".to_string() } else { path };
        Ok(Self { addr, host, port, directory, tls_anchor })
    }
    fn config<'a>(&'a self, account_key: &'a [u8], public_key: &'a [u8]) -> acme::Config<'a> {
        acme::Config::new(&self.host, self.port, &self.directory, account_key, public_key)
    }
}

/// The account options: --account-url, --contact, --eab-kid with --eab-hmac (decoded).
struct AccountOptions<'a> {
    url: Option<&'a str>,
    contact: Vec<&'a str>,
    eab: Option<(&'a str, Vec<u8>)>,
}

impl<'a> AccountOptions<'a> {
    fn from_args(args: &'a Args) -> Result<Self, String> {
        let eab = match (args.get("--eab-kid"), args.get("--eab-hmac")) {
            (Some(kid), Some(mac)) => Some((kid, b64url_decode(mac).map_err(|e| format!("--eab-hmac: {e}"))?)),
            (None, None) => None,
            _ => return Err("--eab-kid and --eab-hmac go together (External Account Binding)".into()),
        };
        let contact = args.all("--contact");
        if contact.len() > 4 {
            return Err("at most four --contact URIs".into());
        }
        Ok(Self { url: args.get("--account-url"), contact, eab })
    }
    fn apply(&'a self, config: &mut acme::Config<'a>) {
        config.account_url = self.url;
        config.contact = &self.contact;
        config.eab = self.eab.as_ref().map(|(kid, key)| acme::client::ExternalAccountBinding { kid, hmac_key: key });
    }
}

/// base64url (padded or not; the standard alphabet is taken too).
fn b64url_decode(s: &str) -> Result<Vec<u8>, String> {
    let mut text: String = s
        .trim()
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    if text.is_empty() {
        return Err("empty".into());
    }
    while !text.len().is_multiple_of(4) {
        text.push('=');
    }
    let mut out = vec![0u8; text.len()];
    let n = base64::decode(text.as_bytes(), &mut out).map_err(|e| e.to_string())?.len();
    out.truncate(n);
    Ok(out)
}

/// A certificate file (PEM or DER), checked to parse.
fn read_certificate(option: &str, path: &str) -> Result<Vec<u8>, String> {
    let der = read_der(path)?.0;
    CertificateRef::parse(&der).map_err(|e| format!("{option} {path}: not a certificate: {e}"))?;
    Ok(der)
}

/// The device keys for ACME by role: the account key signs every JWS
/// ([`KeyRole::Account`]); the other key signs the CSR ([`KeyRole::Requested`]) and a
/// revocation by the certificate's own key ([`KeyRole::Certificate`]).
struct AcmeKeys<'k> {
    account: Option<&'k mut Key>,
    other: Option<&'k mut Key>,
}

impl AcmeKeys<'_> {
    fn pick(&mut self, role: KeyRole) -> Result<&mut dyn DynKey, ErrorKind> {
        let key = if role == KeyRole::Account { self.account.as_deref_mut() } else { self.other.as_deref_mut() };
        key.map(Key::signer).ok_or(ErrorKind::NotFound)
    }
}

impl DeviceKeys for AcmeKeys<'_> {
    fn sign(&mut self, role: KeyRole, digest: &Digest, out: &mut [u8]) -> Result<usize, ErrorKind> {
        self.pick(role)?.sign(digest, out)
    }
    fn decrypt(&mut self, _: KeyRole, _: &[u8], _: &mut [u8]) -> Result<(), ErrorKind> {
        Err(ErrorKind::Unsupported)
    }
    fn agree(&mut self, _: KeyRole, _: &[u8], _: &mut [u8; 32]) -> Result<(), ErrorKind> {
        Err(ErrorKind::Unsupported)
    }
}

/// The http-01 challenges being answered: token and key authorization.
type Http01Tasks = Arc<Mutex<Vec<(String, String)>>>;

/// The built-in http-01 responder: a listener on 127.0.0.1:`port` for the process's life, a
/// thread per connection, answering with `acme::http01::respond` for the tokens published.
fn listen_http01(port: u16) -> Result<Http01Tasks, String> {
    let listener = TcpListener::bind(("127.0.0.1", port)).map_err(|e| format!("--http01-port: cannot listen on 127.0.0.1:{port}: {e}"))?;
    let tasks = Http01Tasks::default();
    let shared = tasks.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let shared = shared.clone();
            // A CA's validation fetches from several places at once.
            std::thread::spawn(move || serve_http01(conn, &shared));
        }
    });
    Ok(tasks)
}

fn serve_http01(mut conn: TcpStream, tasks: &Http01Tasks) {
    use std::io::{Read, Write};
    let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(5)));
    let peer = conn.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    let (mut request, mut buf, mut out) = (Vec::new(), [0u8; 1024], [0u8; 1024]);
    loop {
        let n = match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        request.extend_from_slice(buf.get(..n).unwrap_or_default());
        let line_end = request.windows(2).position(|w| w == b"\r\n");
        let line = String::from_utf8_lossy(request.get(..line_end.unwrap_or(0)).unwrap_or_default()).into_owned();
        let target = line.split(' ').nth(1).unwrap_or_default();
        let current = tasks.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let task = current
            .iter()
            .find(|(token, _)| target.strip_prefix("/.well-known/acme-challenge/") == Some(token.as_str()))
            .map(|(token, ka)| ChallengeTask { kind: ChallengeKind::Http01, identifier: "", token, key_authorization: ka });
        let n = match http01::respond(&request, task.as_ref(), &mut out) {
            http01::Answer::Incomplete => continue,
            http01::Answer::KeyAuthorization(n)
            | http01::Answer::NotFound(n)
            | http01::Answer::MethodNotAllowed(n)
            | http01::Answer::BadRequest(n) => n,
            http01::Answer::BufferTooSmall(_) => return,
        };
        let answer = out.get(..n).unwrap_or_default();
        let status = String::from_utf8_lossy(answer.get(9..12).unwrap_or_default()).into_owned();
        eprintln!("   http-01: {peer} asked {line:?}: {status}");
        let _ = conn.write_all(answer);
        return;
    }
}

/// Answers the challenges: http-01 from the built-in listener, dns-01 through the hook.
struct CliResponder {
    http01: Option<(u16, Http01Tasks)>,
    dns01_hook: Option<String>,
}

impl acme::Responder for CliResponder {
    fn publish(&mut self, task: &ChallengeTask<'_>) -> bool {
        match (task.kind, &self.http01, &self.dns01_hook) {
            (ChallengeKind::Http01, Some((port, tasks)), _) => {
                eprintln!("   http-01: answering for {} at http://127.0.0.1:{port}{}", task.identifier, task.http_path());
                tasks.lock().unwrap_or_else(PoisonError::into_inner).push((task.token.into(), task.key_authorization.into()));
                true
            }
            (ChallengeKind::Dns01, _, Some(hook)) => run_dns01_hook(hook, "add", task),
            _ => false,
        }
    }
    fn withdraw(&mut self, task: &ChallengeTask<'_>) {
        match (task.kind, &self.http01, &self.dns01_hook) {
            (ChallengeKind::Http01, Some((_, tasks)), _) => {
                tasks.lock().unwrap_or_else(PoisonError::into_inner).retain(|(token, _)| token != task.token);
                eprintln!("   http-01: no longer answering for {}", task.identifier);
            }
            (ChallengeKind::Dns01, _, Some(hook)) => {
                let withdrawn = run_dns01_hook(hook, "del", task);
                if !withdrawn {
                    eprintln!("   dns-01: the record _acme-challenge.{} could not be withdrawn: remove it by hand", task.identifier);
                }
            }
            _ => {}
        }
    }
}

/// `CMD add|del _acme-challenge.NAME VALUE` through sh; its output goes to stderr. True when it
/// exited 0.
fn run_dns01_hook(hook: &str, action: &str, task: &ChallengeTask<'_>) -> bool {
    let name = format!("_acme-challenge.{}", task.identifier);
    let value = task.dns_txt_value();
    eprintln!("   dns-01: {hook} {action} {name} {value}");
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{hook} \"$@\""))
        .arg("dns01-hook")
        .args([action, name.as_str(), value.as_str()])
        .stdin(std::process::Stdio::null())
        .stdout(std::io::stderr())
        .status();
    match status {
        Ok(s) if s.success() => true,
        Ok(s) => {
            eprintln!("   dns-01: the hook {action} failed ({s})");
            false
        }
        Err(e) => {
            eprintln!("   dns-01: the hook could not run: {e}");
            false
        }
    }
}

/// For operations without challenges.
struct NoChallenges;

impl acme::Responder for NoChallenges {
    fn publish(&mut self, _: &ChallengeTask<'_>) -> bool {
        false
    }
    fn withdraw(&mut self, _: &ChallengeTask<'_>) {}
}

/// What one ACME run left.
struct AcmeRun {
    outcome: Result<acme::Outcome, DriveError<ClientError>>,
    account_url: Option<String>,
    /// The issued chain (DER, leaf first).
    chain: Vec<Vec<u8>>,
    tls: Option<String>,
}

fn drive_acme(
    server: &AcmeServer,
    config: acme::Config<'_>,
    operation: acme::Operation<'_>,
    keys: &mut AcmeKeys<'_>,
    mut responder: &mut dyn acme::Responder,
) -> Result<AcmeRun, String> {
    let (mut work, mut io) = (vec![0u8; 16384], vec![0u8; 32768]);
    let mut client = acme::Client::new(config, operation, acme::Buffers { work: &mut work, io: &mut io }).map_err(|e| e.to_string())?;
    let mut connect = RustlsConnector::new::<SoftP256Key>(&server.addr, &server.host, Some(&server.tls_anchor), TlsVersions::Both, None)
        .map_err(|e| format!("TLS configuration: {e}"))?;
    let outcome = run_acme(&mut client, &mut connect, keys, &mut responder, &mut StdTimer::default(), progress);
    Ok(AcmeRun {
        outcome,
        account_url: client.account_url().map(str::to_string),
        chain: client.certificates().map(<[u8]>::to_vec).collect(),
        tls: connect.last_error.as_ref().map(ToString::to_string),
    })
}

/// The outcome's name and exit code; what it says goes to `fields`.
fn acme_outcome(outcome: &acme::Outcome, fields: &mut Vec<(String, String)>) -> (String, u8) {
    use acme::Outcome as O;
    let debug = format!("{outcome:?}");
    let name = debug.split(['(', ' ', '{']).next().unwrap_or_default().to_string();
    let code = match outcome {
        O::Issued | O::Account | O::Revoked | O::KeyChanged | O::Deactivated | O::RenewalWindow { .. } | O::NoRenewalInfo => OK,
        O::Problem(p) | O::AuthorizationFailed(Some(p)) | O::OrderInvalid(Some(p)) => {
            fields.push(("problem".into(), format!("{:?}", p.kind)));
            fields.push(("status".into(), p.status.to_string()));
            REFUSED
        }
        O::AuthorizationFailed(None) | O::OrderInvalid(None) | O::NoUsableChallenge | O::AccountNotValid | O::HttpStatus(_) => REFUSED,
        // The hook (or the responder's port) is the caller's configuration.
        O::ChallengeNotPublished => USAGE,
        O::TimedOut => PENDING,
        O::Transport(_) | O::Http(_) => TRANSPORT,
        _ => INVALID,
    };
    if code != OK {
        fields.push(("reason".into(), outcome.to_string()));
    }
    (name, code)
}

/// The subjectAltName entries, as openssl writes them.
fn san_text(der: &[u8]) -> Option<String> {
    use embedded_enroll::asn1::cert::GeneralName;
    let cert = CertificateRef::parse(der).ok()?;
    let names: Vec<String> = cert
        .subject_alt_names()
        .filter_map(|n| match n {
            GeneralName::Dns(d) => Some(format!("DNS:{d}")),
            GeneralName::Ip(b) => ip_of(b).map(|ip| format!("IP:{ip}")),
            GeneralName::Email(e) => Some(format!("email:{e}")),
            GeneralName::Uri(u) => Some(format!("URI:{u}")),
            _ => None,
        })
        .collect();
    (!names.is_empty()).then(|| names.join(", "))
}

fn ip_of(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => <[u8; 4]>::try_from(b).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(b).ok().map(IpAddr::from),
        _ => None,
    }
}

/// The report of an ACME run: the outcome, the account URL, an issued chain (its leaf's
/// fields, written to --out or printed).
fn acme_report(args: &Args, run: AcmeRun, mut fields: Vec<(String, String)>) -> Result<Report, String> {
    let outcome = match run.outcome {
        Err(DriveError::Client(ClientError::Config(what))) => return Err(what.to_string()),
        Err(e) => {
            fields.push(("reason".into(), e.to_string()));
            return Ok(Report { outcome: "DriverError".into(), code: TRANSPORT, fields });
        }
        Ok(o) => o,
    };
    if let Some(tls) = run.tls {
        fields.push(("tls".into(), tls));
    }
    if let Some(url) = run.account_url {
        fields.push(("account_url".into(), url));
    }
    let (name, code) = acme_outcome(&outcome, &mut fields);
    if outcome == acme::Outcome::Issued {
        let leaf = run.chain.first().map(Vec::as_slice).unwrap_or_default();
        certificate_fields(leaf, &mut fields);
        if let Some(san) = san_text(leaf) {
            fields.push(("san".into(), san));
        }
        fields.push(("chain".into(), format!("{} certificate(s), leaf first", run.chain.len())));
        let chain: String = run.chain.iter().map(|c| pem("CERTIFICATE", c)).collect();
        match args.get("--out") {
            Some(path) => {
                std::fs::write(path, chain).map_err(|e| format!("{path}: {e}"))?;
                fields.push(("written".into(), path.to_string()));
            }
            None => fields.push(("pem".into(), chain)),
        }
    }
    Ok(Report { outcome: name, code, fields })
}

fn run_acme_cmd(args: &Args) -> Result<Report, String> {
    let server = AcmeServer::from_args(args)?;
    match args.cmd.as_str() {
        "account" => acme_account(args, &server),
        "order" => {
            let replaces = args.get("--replaces").map(|p| read_certificate("--replaces", p)).transpose()?;
            acme_order(args, &server, replaces.as_deref(), Vec::new())
        }
        "renew" => acme_renew(args, &server),
        "revoke" => acme_revoke(args, &server),
        _ => unreachable!("commands are checked by command_help"),
    }
}

fn acme_account(args: &Args, server: &AcmeServer) -> Result<Report, String> {
    let mut account = load_key(args.need("--account-key")?)?;
    let spki = account.spki();
    let options = AccountOptions::from_args(args)?;
    let mut config = server.config(&spki, &spki);
    options.apply(&mut config);
    let operation = acme::Operation::Account { only_existing: args.flag("--only-existing") };
    let run = drive_acme(server, config, operation, &mut AcmeKeys { account: Some(&mut account), other: None }, &mut NoChallenges)?;
    acme_report(args, run, Vec::new())
}

/// An order (or a renewal's, replacing `replaces`), `fields` put before the order's.
fn acme_order(args: &Args, server: &AcmeServer, replaces: Option<&[u8]>, fields: Vec<(String, String)>) -> Result<Report, String> {
    let mut account = load_key(args.need("--account-key")?)?;
    let mut key = load_key(args.need("--key")?)?;
    let (account_spki, key_spki) = (account.spki(), key.spki());
    let options = AccountOptions::from_args(args)?;
    let mut names: Vec<String> = args.all("--name").into_iter().map(str::to_string).collect();
    let mut ips: Vec<IpAddr> = args
        .all("--ip")
        .into_iter()
        .map(|a| a.parse().map_err(|_| format!("--ip {a:?} is not an IP address")))
        .collect::<Result<_, _>>()?;
    // A renewal is for the names of the certificate it replaces unless told otherwise.
    if let (true, true, Some(cert)) = (names.is_empty(), ips.is_empty(), replaces.filter(|_| args.cmd == "renew")) {
        use embedded_enroll::asn1::cert::GeneralName;
        for n in CertificateRef::parse(cert).map_err(|e| e.to_string())?.subject_alt_names() {
            match n {
                GeneralName::Dns(d) => names.push(d.to_string()),
                GeneralName::Ip(b) => ips.extend(ip_of(b)),
                _ => {}
            }
        }
    }
    if names.is_empty() && ips.is_empty() {
        return Err("--name DNS (or --ip ADDR) is required: what the certificate is for".into());
    }
    let ip_text: Vec<String> = ips.iter().map(ToString::to_string).collect();
    let ip_octets: Vec<Vec<u8>> = ips
        .iter()
        .map(|ip| match ip {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        })
        .collect();
    let identifiers: Vec<acme::Identifier<'_>> =
        names.iter().map(|n| acme::Identifier::Dns(n)).chain(ip_text.iter().map(|i| acme::Identifier::Ip(i))).collect();
    let sans: Vec<SubjectAltName<'_>> =
        names.iter().map(|n| SubjectAltName::Dns(n)).chain(ip_octets.iter().map(|o| SubjectAltName::Ip(o))).collect();
    let subject: Vec<NameAttribute<'_>> = names.first().map(|n| NameAttribute::common_name(n)).into_iter().collect();
    let csr = CsrBuilder::new(&subject).subject_alt_names(&sans);
    let http_port =
        args.get("--http01-port").map(|p| p.parse::<u16>().map_err(|_| format!("--http01-port {p:?}: a port number"))).transpose()?;
    let hook = args.get("--dns01-hook");
    if http_port.is_none() && hook.is_none() {
        return Err("--http01-port PORT or --dns01-hook CMD is required: how the challenges are answered".into());
    }
    let anchor = args.get("--ca-anchor").map(|p| read_certificate("--ca-anchor", p)).transpose()?;
    let mut config = server.config(&account_spki, &key_spki);
    options.apply(&mut config);
    config.challenges = acme::Challenges { http01: http_port.is_some(), dns01: hook.is_some(), tls_alpn01: false };
    config.trust_anchor = anchor.as_deref();
    config.replaces = replaces;
    let http01 = match http_port {
        Some(port) => Some((port, listen_http01(port)?)),
        None => None,
    };
    let mut responder = CliResponder { http01, dns01_hook: hook.map(str::to_string) };
    let operation = acme::Operation::Order { identifiers: &identifiers, csr };
    let run = drive_acme(server, config, operation, &mut AcmeKeys { account: Some(&mut account), other: Some(&mut key) }, &mut responder)?;
    acme_report(args, run, fields)
}

fn acme_renew(args: &Args, server: &AcmeServer) -> Result<Report, String> {
    let cert_path = args.need("--cert")?;
    let cert = read_certificate("--cert", cert_path)?;
    let parsed = CertificateRef::parse(&cert).map_err(|e| e.to_string())?;
    let mut account = load_key(args.need("--account-key")?)?;
    let spki = account.spki();
    let options = AccountOptions::from_args(args)?;
    let mut config = server.config(&spki, &spki);
    options.apply(&mut config);
    let operation = acme::Operation::RenewalInfo { certificate: &cert };
    let run = drive_acme(server, config, operation, &mut AcmeKeys { account: Some(&mut account), other: None }, &mut NoChallenges)?;
    let mut fields = Vec::new();
    if let Some(id) = acme::client::ari_id(&cert) {
        fields.push(("ari_id".into(), id.to_string()));
    }
    let (start, end, source) = match run.outcome {
        Ok(acme::Outcome::RenewalWindow { start, end, retry_after_secs }) => {
            fields.push(("ask_again_after".into(), format!("{retry_after_secs} s")));
            (start, end, "the server (ARI, RFC 9773)")
        }
        Ok(acme::Outcome::NoRenewalInfo) => {
            let policy = RenewalPolicy { max_jitter: embedded_enroll::time::Duration::ZERO, ..RenewalPolicy::DEFAULT };
            let start = policy.renew_at(parsed.not_before(), parsed.not_after(), &[0; 16]);
            (
                start,
                parsed.not_after(),
                "the certificate's validity (the server offers no ARI): from 80 % of its lifetime or 14 days before notAfter, whichever comes first",
            )
        }
        _ => return acme_report(args, run, fields),
    };
    fields.push(("window_start".into(), start.to_string()));
    fields.push(("window_end".into(), end.to_string()));
    fields.push(("window_from".into(), source.into()));
    let now = wall_time();
    let decision = if args.flag("--force") {
        format!("renewing now (--force; the window starts at {start})")
    } else if now.as_secs() >= start.as_secs() {
        format!("renewing: now ({now}) is past the window's start ({start})")
    } else {
        let days = (start.as_secs() - now.as_secs()) / 86_400;
        format!("not renewing: the window starts at {start}, in {days} day(s); --force renews now")
    };
    eprintln!("   renewal window {start} to {end}, from {source}: {decision}");
    fields.push(("decision".into(), decision));
    if !args.flag("--force") && now.as_secs() < start.as_secs() {
        return Ok(Report { outcome: "NotDue".into(), code: OK, fields });
    }
    acme_order(args, server, Some(&cert), fields)
}

fn acme_revoke(args: &Args, server: &AcmeServer) -> Result<Report, String> {
    let cert = read_certificate("--cert", args.need("--cert")?)?;
    let reason = args
        .get("--reason")
        .map(|r| {
            r.parse::<u8>().ok().filter(|r| *r <= 10 && *r != 7).ok_or(format!("--reason {r:?}: a CRL reason code, 0 to 10 but not 7"))
        })
        .transpose()?;
    let options = AccountOptions::from_args(args)?;
    let (mut key, by_certificate_key) = match (args.get("--account-key"), args.get("--cert-key")) {
        (Some(path), None) => (load_key(path)?, false),
        (None, Some(_)) if options.url.is_some() => return Err("--account-url goes with --account-key".into()),
        (None, Some(path)) => (load_key(path)?, true),
        _ => return Err("--account-key FILE or --cert-key FILE (not both) is required: who signs the revocation".into()),
    };
    let spki = key.spki();
    let mut config = server.config(&spki, &spki);
    options.apply(&mut config);
    let operation = acme::Operation::Revoke { certificate: &cert, reason, by_certificate_key };
    let mut keys = if by_certificate_key {
        AcmeKeys { account: None, other: Some(&mut key) }
    } else {
        AcmeKeys { account: Some(&mut key), other: None }
    };
    let run = drive_acme(server, config, operation, &mut keys, &mut NoChallenges)?;
    acme_report(args, run, Vec::new())
}
