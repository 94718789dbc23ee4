//! What the commands share: keys and files, the report, progress, the dry-run and recording
//! connector, the timer.

use crate::Opts;
use embedded_enroll::asn1::cert::CertificateRef;
use embedded_enroll::asn1::csr::NameAttribute;
use embedded_enroll::crypto::Digest;
use embedded_enroll::crypto::rsa::{RsaPrivateKey2048, RsaPrivateKey3072, RsaPrivateKey4096};
use embedded_enroll::hal::soft::SoftP256Key;
use embedded_enroll::hal::{Decrypter, ErrorKind, KeyAgreement, KeyRole, Signer};
use embedded_enroll::http::base64::{self, LineStyle};
use embedded_enroll::time::{Instant, UnixTime};
use embedded_enroll::transport::blocking::{Connect, DeviceKeys, DriveError, Progress, Timer};
use embedded_enroll::transport::host::StdTimer;
use std::cell::RefCell;
use std::rc::Rc;

/// A device key loaded from a file.
pub enum Key {
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
pub fn read_der(path: &str) -> Result<(Vec<u8>, String), String> {
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

pub fn load_key(path: &str) -> Result<Key, String> {
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
    pub fn signer(&mut self) -> &mut dyn DynKey {
        match self {
            Key::Ec(k) => k,
            Key::Rsa2048(k) => &mut **k,
            Key::Rsa3072(k) => &mut **k,
            Key::Rsa4096(k) => &mut **k,
        }
    }
    pub fn spki(&mut self) -> Vec<u8> {
        self.signer().spki()
    }
}

/// What the CLI needs of a key, object-safe.
pub trait DynKey {
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
pub struct Keys<'k> {
    pub requested: &'k mut Key,
    pub current: Option<&'k mut Key>,
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

pub fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    let clean: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    if !clean.len().is_multiple_of(2) || clean.is_empty() {
        return Err(format!("{s:?} is not hex"));
    }
    (0..clean.len() / 2).map(|i| u8::from_str_radix(&clean[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())).collect()
}

/// The subject DN: `CN=x,O=y` (CN, O, OU, C, L, ST, serialNumber).
pub fn parse_subject(dn: &str) -> Result<Vec<NameAttribute<'_>>, String> {
    dn.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').ok_or(format!("--subject: {p:?} is not KEY=value"))?;
            Ok(match k.trim().to_ascii_uppercase().as_str() {
                "CN" => NameAttribute::common_name(v.trim()),
                "O" => NameAttribute::organization(v.trim()),
                "OU" => NameAttribute::organizational_unit(v.trim()),
                "C" => NameAttribute::country(v.trim()),
                "L" => NameAttribute::locality(v.trim()),
                "ST" => NameAttribute::state(v.trim()),
                "SERIALNUMBER" => NameAttribute::serial_number(v.trim()),
                other => return Err(format!("--subject: attribute {other} (CN, O, OU, C, L, ST, serialNumber)")),
            })
        })
        .collect()
}

/// `--fingerprint`: 32 bytes of hex.
pub fn fingerprint(args: &Opts) -> Result<Option<[u8; 32]>, String> {
    args.get("--fingerprint")
        .map(|f| parse_hex(f).and_then(|v| <[u8; 32]>::try_from(v).map_err(|_| "--fingerprint needs 32 bytes (SHA-256)".to_string())))
        .transpose()
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(":")
}

pub fn pem(label: &str, der: &[u8]) -> String {
    let mut out = vec![0u8; base64::encoded_len(der.len(), LineStyle::Wrapped(64))];
    let b = base64::encode(der, LineStyle::Wrapped(64), &mut out).map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
    format!("-----BEGIN {label}-----\n{b}-----END {label}-----\n")
}

pub fn json_str(s: &str) -> String {
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

/// The result fields that can occur more than once: arrays in the JSON (also with one item).
const REPEATED: [&str; 3] = ["certificate", "next_ca", "attribute"];

/// The result of a command: the outcome (a stable name), the exit code, the outcome line
/// (`message`, and `hint`: what to do), the causes (`--verbose`) and the result fields.
pub struct Report {
    pub outcome: String,
    pub code: u8,
    pub message: String,
    pub hint: Option<String>,
    pub causes: Vec<String>,
    pub fields: Vec<(String, String)>,
}

impl Report {
    pub fn new(outcome: impl Into<String>, code: u8, message: impl Into<String>) -> Self {
        Self { outcome: outcome.into(), code, message: message.into(), hint: None, causes: Vec::new(), fields: Vec::new() }
    }
    pub fn usage(message: String) -> Self {
        Self::new("BadConfiguration", crate::USAGE, message)
    }
    pub fn hint(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }
    pub fn cause(mut self, cause: String) -> Self {
        self.causes.push(cause);
        self
    }
    pub fn fields(mut self, fields: Vec<(String, String)>) -> Self {
        self.fields = fields;
        self
    }
    /// The outcome line.
    pub fn line(&self) -> String {
        match &self.hint {
            Some(h) => format!("{}; {h}", self.message),
            None => self.message.clone(),
        }
    }
    pub fn print(&self, json: bool, verbose: bool) {
        if verbose {
            for c in &self.causes {
                eprintln!("cause: {c}");
            }
        }
        if json {
            let mut parts = vec![
                format!("\"outcome\":{}", json_str(&self.outcome)),
                format!("\"exit\":{}", self.code),
                format!("\"message\":{}", json_str(&self.message)),
            ];
            if let Some(h) = &self.hint {
                parts.push(format!("\"hint\":{}", json_str(h)));
            }
            if verbose && !self.causes.is_empty() {
                parts.push(format!("\"causes\":[{}]", self.causes.iter().map(|c| json_str(c)).collect::<Vec<_>>().join(",")));
            }
            // One name, one member: the names that can repeat are always arrays.
            let mut done: Vec<&str> = Vec::new();
            for (k, v) in &self.fields {
                if REPEATED.contains(&k.as_str()) {
                    if done.contains(&k.as_str()) {
                        continue;
                    }
                    done.push(k);
                    let all: Vec<String> = self.fields.iter().filter(|(k2, _)| k2 == k).map(|(_, v)| json_str(v)).collect();
                    parts.push(format!("{}:[{}]", json_str(k), all.join(",")));
                } else {
                    parts.push(format!("{}:{}", json_str(k), json_str(v)));
                }
            }
            println!("{{{}}}", parts.join(","));
        } else if self.code == crate::USAGE && self.outcome == "BadConfiguration" {
            // Usage and configuration errors go to stderr, as clap's own do.
            eprintln!("error: {}", self.line());
        } else {
            for (k, v) in &self.fields {
                if v.contains('\n') {
                    print!("{v}");
                } else {
                    println!("  {k}: {v}");
                }
            }
            println!("{}", self.line());
        }
    }
}

pub fn certificate_fields(der: &[u8], out: &mut Vec<(String, String)>) {
    if let Ok(c) = CertificateRef::parse(der) {
        out.push(("subject".into(), c.subject().to_string()));
        out.push(("issuer".into(), c.issuer().to_string()));
        out.push(("serial".into(), hex(c.serial())));
        out.push(("sha256".into(), hex(&c.fingerprint_sha256())));
        out.push(("not_before".into(), c.not_before().to_string()));
        out.push(("not_after".into(), c.not_after().to_string()));
    }
}

/// A driver's outcome, named for the report.
pub struct Named<O> {
    pub outcome: O,
    /// The outcome's stable name: its variant's, from its Debug text.
    pub name: String,
    /// Its whole Debug text: the report's cause (`--verbose`).
    pub cause: String,
    /// The certificate the outcome carries (DER; empty when none), its fields already reported.
    pub certificate: Vec<u8>,
}

/// The start of a SCEP or EST command's report, from its driver's result.
///
/// - `Ok(Err(report))`: the run ended in a driver error; `report` ends the command, with the
///   `fields` so far (taken). `stopped` makes it when the timer declined to wait (`--no-wait`,
///   `--max-wait`: pending); any other error is "DriverError" (exit `TRANSPORT`).
/// - `Ok(Ok(named))`: the run ended in an outcome ([`Named`]). When `certificate` gives one
///   for it (an issuing outcome), the certificate's fields are added to `fields`.
/// - `Err(_)`: what `stopped` failed with.
pub fn outcome_report<'c, O: std::fmt::Debug, E: std::fmt::Display + std::fmt::Debug>(
    result: Result<O, DriveError<E>>,
    fields: &mut Vec<(String, String)>,
    stopped: impl FnOnce(Vec<(String, String)>) -> Result<Report, String>,
    certificate: impl FnOnce(&O) -> Option<&'c [u8]>,
) -> Result<Result<Named<O>, Report>, String> {
    let outcome = match result {
        Err(DriveError::Stopped) => return stopped(std::mem::take(fields)).map(Err),
        Err(e) => {
            return Ok(Err(Report::new("DriverError", crate::TRANSPORT, format!("failed: {e}"))
                .cause(format!("{e:?}"))
                .fields(std::mem::take(fields))));
        }
        Ok(o) => o,
    };
    let cause = format!("{outcome:?}");
    let name = cause.split(['(', ' ', '{']).next().unwrap_or_default().to_string();
    let certificate = certificate(&outcome).map(<[u8]>::to_vec);
    if let Some(der) = &certificate {
        certificate_fields(der, fields);
    }
    let certificate = certificate.unwrap_or_default();
    Ok(Ok(Named { outcome, name, cause, certificate }))
}

/// Writes `data` to `path`, created with mode 0600 when `private` (and made 0600 if it existed).
pub fn write_file(path: &str, data: &[u8], private: bool) -> Result<(), String> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        o.mode(0o600);
        // An existing file keeps its mode on open: make it private before writing.
        if std::fs::metadata(path).is_ok() {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| format!("{path}: {e}"))?;
        }
    }
    #[cfg(not(unix))]
    let _ = private;
    o.open(path).and_then(|mut f| f.write_all(data)).map_err(|e| format!("{path}: {e}"))
}

/// The certificate to `--out` (PEM) or into the fields; returns where it went.
pub fn write_out(args: &Opts, label: &str, der: &[u8], fields: &mut Vec<(String, String)>) -> Result<Option<String>, String> {
    match args.get("--out") {
        Some(path) => {
            write_file(path, pem(label, der).as_bytes(), false)?;
            fields.push(("written".into(), path.to_string()));
            Ok(Some(path.to_string()))
        }
        None => {
            fields.push(("pem".into(), pem(label, der)));
            Ok(None)
        }
    }
}

/// Progress lines on stderr.
pub fn progress(p: Progress<'_>) {
    match p {
        Progress::Request(l) => eprintln!("-> {l}"),
        Progress::Response(n) => eprintln!("<- {n} bytes"),
        Progress::KeyOperation(k) => eprintln!("   device key: {k}"),
        Progress::Waiting { ms, .. } => eprintln!("   waiting {} s before the next attempt", ms / 1000),
        Progress::TransportError(why) => eprintln!("   transport error: {why}"),
        Progress::DeadlineExceeded { ms } => eprintln!("   exchange abandoned at its deadline, after {} s", ms / 1000),
    }
}

/// The start of the last response (head and up to 64 KiB of body), for the outcome line: its
/// status, Content-Type, WWW-Authenticate and body text.
#[derive(Default, Clone)]
pub struct LastResponse(Rc<RefCell<Vec<u8>>>, Rc<std::cell::Cell<bool>>);

const RECORDED: usize = 65_536;

impl LastResponse {
    /// Whether a connection had no channel binding to give while `--bind` required one (the
    /// request was then not sent).
    pub fn binding_missing(&self) -> bool {
        self.1.get()
    }
    fn start(&self) {
        self.0.borrow_mut().clear();
    }
    fn push(&self, b: &[u8]) {
        let mut v = self.0.borrow_mut();
        let room = RECORDED.saturating_sub(v.len());
        v.extend_from_slice(b.get(..room.min(b.len())).unwrap_or_default());
    }
    /// The head's lines (status line first) and the body, when a response was seen.
    pub fn parts(&self) -> Option<(Vec<String>, Vec<u8>)> {
        let v = self.0.borrow();
        let split = v.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(v.get(..split).unwrap_or_default()).lines().map(str::to_string).collect();
        Some((head, v.get(split + 4..).unwrap_or_default().to_vec()))
    }
    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<String> {
        let (head, _) = self.parts()?;
        head.iter().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
    /// The body as text (first 200 characters, whitespace folded) when it is text.
    pub fn body_text(&self) -> Option<String> {
        let (_, body) = self.parts()?;
        let text = std::str::from_utf8(&body).ok()?;
        let folded: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        (!folded.is_empty()).then(|| folded.chars().take(200).collect())
    }
}

/// A connector that records the last response ([`LastResponse`]) and, with `--dry-run`, prints
/// and withholds the request that would change state on the server.
pub struct DryRun<C> {
    pub inner: C,
    pub dry: bool,
    /// Requests let through before the withheld one.
    pub read_only_left: usize,
    pub last: LastResponse,
    /// `--bind`: a connection without a channel binding sends nothing.
    pub bind_required: bool,
}

impl<C> DryRun<C> {
    pub fn new(inner: C, dry: bool, read_only_left: usize) -> Self {
        Self { inner, dry, read_only_left, last: LastResponse::default(), bind_required: false }
    }
}

/// A stream that either passes through (recording the response) or swallows a withheld request.
pub enum MaybeSent<S> {
    Real(S, LastResponse, bool, bool),
    Withheld,
}

impl<S: embedded_io::ErrorType> embedded_io::ErrorType for MaybeSent<S> {
    type Error = embedded_io::ErrorKind;
}

impl<S: embedded_io::Read> embedded_io::Read for MaybeSent<S> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, embedded_io::ErrorKind> {
        match self {
            MaybeSent::Real(s, last, reading, _) => {
                if !*reading {
                    *reading = true;
                    last.start();
                }
                let n = s.read(buf).map_err(|e| embedded_io::Error::kind(&e))?;
                last.push(buf.get(..n).unwrap_or_default());
                Ok(n)
            }
            MaybeSent::Withheld => Err(embedded_io::ErrorKind::Interrupted),
        }
    }
}

impl<S: embedded_io::Write> embedded_io::Write for MaybeSent<S> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, embedded_io::ErrorKind> {
        match self {
            MaybeSent::Real(s, last, reading, _) => {
                if last.binding_missing() {
                    return Err(embedded_io::ErrorKind::PermissionDenied);
                }
                *reading = false;
                s.write(buf).map_err(|e| embedded_io::Error::kind(&e))
            }
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
            MaybeSent::Real(s, ..) => s.flush().map_err(|e| embedded_io::Error::kind(&e)),
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
        let last = self.last.clone();
        let bind = self.bind_required;
        self.inner.connect().map(|c| MaybeSent::Real(c, last, false, bind))
    }
    fn channel_binding(connection: &Self::Connection<'_>, out: &mut [u8]) -> usize {
        match connection {
            MaybeSent::Real(c, last, _, bind) => {
                let n = C::channel_binding(c, out);
                if n == 0 && *bind {
                    last.1.set(true);
                }
                n
            }
            MaybeSent::Withheld => 0,
        }
    }
    fn set_io_timeout(connection: &mut Self::Connection<'_>, timeout: embedded_enroll::time::Duration) {
        if let MaybeSent::Real(c, ..) = connection {
            C::set_io_timeout(c, timeout);
        }
    }
    fn authenticates_server(&self) -> bool {
        self.inner.authenticates_server()
    }
    fn failure(e: &C::Error) -> embedded_enroll::transport::TransportFailure {
        C::failure(e)
    }
}

/// A timer that, with `--no-wait`, stops at the first wait.
pub struct CliTimer {
    pub inner: StdTimer,
    pub no_wait: bool,
}

impl CliTimer {
    pub fn new(no_wait: bool) -> Self {
        Self { inner: StdTimer::default(), no_wait }
    }
}

impl Timer for CliTimer {
    fn now(&mut self) -> Instant {
        self.inner.now()
    }
    fn sleep_until(&mut self, deadline: Instant) -> bool {
        !self.no_wait && self.inner.sleep_until(deadline)
    }
}

pub fn wall_time() -> UnixTime {
    UnixTime::from_secs(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0))
}

/// `host:port`, host and path of an `http://` or `https://` URL.
pub fn split_url(url: &str, https: bool) -> Result<(String, String, String), String> {
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

/// The drive options of `--timeout`.
pub fn drive_options(args: &Opts) -> embedded_enroll::transport::blocking::DriveOptions {
    embedded_enroll::transport::blocking::DriveOptions::DEFAULT
        .with_exchange_deadline(embedded_enroll::time::Duration::from_secs(args.secs("--timeout").max(1)))
}

/// A retry policy bounded by `--max-wait` (and `--max-polls`, `--poll-interval` where given).
pub fn retry_policy(args: &Opts, mut policy: embedded_enroll::retry::RetryPolicy) -> Result<embedded_enroll::retry::RetryPolicy, String> {
    let max_wait = args.secs("--max-wait");
    policy.max_total = embedded_enroll::time::Duration::from_secs(max_wait);
    if max_wait == 0 {
        policy.max_attempts = 0;
    }
    if let Some(n) = args.get("--max-polls") {
        policy.max_attempts = n.parse().map_err(|_| "--max-polls: a number")?;
    }
    if let Some(s) = args.get("--poll-interval") {
        let s: u64 = s.parse().map_err(|_| "--poll-interval: seconds")?;
        policy.initial = embedded_enroll::time::Duration::from_secs(s);
    }
    policy.max_delay = policy.max_delay.min(embedded_enroll::time::Duration::from_secs(max_wait.max(1)));
    Ok(policy)
}

/// Whether the certificate `der` chains to one of `anchors` at the current time (strict by
/// default: an issued certificate must, unless `--accept-unverified-ca`).
pub fn chains_to(der: &[u8], anchors: &[&[u8]], allow_sha1: bool) -> Result<(), String> {
    use embedded_enroll::asn1::path::{self, Options, Usage, ValidationTime};
    let cert = CertificateRef::parse(der).map_err(|e| e.to_string())?;
    let none: [&[u8]; 0] = [];
    let mut opts = Options::new(Usage::EndEntity, ValidationTime::At(wall_time()));
    opts.allow_sha1 = allow_sha1;
    path::validate(&cert, &none[..], anchors, &opts).map(|_| ()).map_err(|e| format!("{e:?}"))
}

#[cfg(test)]
mod tests {
    use super::write_file;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn private_files_are_0600_new_or_existing() {
        let dir = tempfile::tempdir().unwrap();
        let (new, old) = (dir.path().join("new"), dir.path().join("old"));
        std::fs::write(&old, b"x").unwrap();
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
        for p in [&new, &old] {
            write_file(p.to_str().unwrap(), b"secret", true).unwrap();
            assert_eq!(std::fs::metadata(p).unwrap().permissions().mode() & 0o777, 0o600, "{}", p.display());
            assert_eq!(std::fs::read(p).unwrap(), b"secret");
        }
    }
}
