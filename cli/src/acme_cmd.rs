//! `enroll acme ...`.

use crate::Opts;
use crate::common::{
    DynKey, Key, Report, certificate_fields, drive_options, load_key, pem, progress, read_der, split_url, wall_time, write_file,
};
use crate::{INVALID, OK, PENDING, REFUSED, TRANSPORT, USAGE};
use embedded_enroll::acme::{self, ChallengeKind, ChallengeTask, http01};
use embedded_enroll::asn1::cert::CertificateRef;
use embedded_enroll::asn1::csr::{CsrBuilder, NameAttribute, SubjectAltName};
use embedded_enroll::crypto::Digest;
use embedded_enroll::error::ClientError;
use embedded_enroll::hal::soft::SoftP256Key;
use embedded_enroll::hal::{ErrorKind, KeyRole};
use embedded_enroll::http::base64;
use embedded_enroll::lifecycle::RenewalPolicy;
use embedded_enroll::transport::blocking::{DeviceKeys, DriveError, run_acme_with};
use embedded_enroll::transport::host::StdTimer;
use embedded_enroll::transport::host_tls::{RustlsConnector, TlsVersions};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};

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
    fn from_args(args: &Opts) -> Result<Self, String> {
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
    fn from_args(args: &'a Opts) -> Result<Self, String> {
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
    addr: String,
    host: String,
}

fn drive_acme(
    args: &Opts,
    server: &AcmeServer,
    mut config: acme::Config<'_>,
    operation: acme::Operation<'_>,
    keys: &mut AcmeKeys<'_>,
    mut responder: &mut dyn acme::Responder,
) -> Result<AcmeRun, String> {
    config.retry = crate::common::retry_policy(args, config.retry)?;
    let (mut work, mut io) = (vec![0u8; 16384], vec![0u8; 32768]);
    let mut client = acme::Client::new(config, operation, acme::Buffers { work: &mut work, io: &mut io }).map_err(|e| e.to_string())?;
    let mut connect = RustlsConnector::new::<SoftP256Key>(&server.addr, &server.host, Some(&server.tls_anchor), TlsVersions::Both, None)
        .map_err(|e| format!("TLS configuration: {e}"))?;
    let outcome = run_acme_with(&mut client, &mut connect, keys, &mut responder, &mut StdTimer::default(), drive_options(args), progress);
    Ok(AcmeRun {
        outcome,
        account_url: client.account_url().map(str::to_string),
        chain: client.certificates().map(<[u8]>::to_vec).collect(),
        tls: connect.last_error.as_ref().map(ToString::to_string),
        addr: server.addr.clone(),
        host: server.host.clone(),
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
/// fields, written to --out or printed), the outcome line.
fn acme_report(args: &Opts, run: AcmeRun, mut fields: Vec<(String, String)>) -> Result<Report, String> {
    let outcome = match run.outcome {
        Err(DriveError::Client(ClientError::Config(what))) => return Err(what.to_string()),
        Err(e) => {
            fields.push(("reason".into(), e.to_string()));
            return Ok(Report::new("DriverError", TRANSPORT, format!("failed: {e}")).cause(format!("{e:?}")).fields(fields));
        }
        Ok(o) => o,
    };
    if let Some(tls) = &run.tls {
        fields.push(("tls".into(), tls.clone()));
    }
    if let Some(url) = &run.account_url {
        fields.push(("account_url".into(), url.clone()));
    }
    let (name, code) = acme_outcome(&outcome, &mut fields);
    let cause = format!("{outcome:?}");
    use acme::Outcome as O;
    let (message, hint) = match &outcome {
        O::Issued => {
            let leaf = run.chain.first().map(Vec::as_slice).unwrap_or_default();
            certificate_fields(leaf, &mut fields);
            let san = san_text(leaf);
            if let Some(san) = &san {
                fields.push(("san".into(), san.clone()));
            }
            fields.push(("chain".into(), format!("{} certificate(s), leaf first", run.chain.len())));
            let chain: String = run.chain.iter().map(|c| pem("CERTIFICATE", c)).collect();
            let to = match args.get("--out") {
                Some(path) => {
                    write_file(path, chain.as_bytes(), false)?;
                    fields.push(("written".into(), path.to_string()));
                    format!(", chain written to {path}")
                }
                None => {
                    fields.push(("pem".into(), chain));
                    String::new()
                }
            };
            let until = CertificateRef::parse(leaf).map(|c| c.not_after().to_string()).unwrap_or_default();
            (format!("issued: certificate for {}, valid until {until}{to}", san.unwrap_or_default()), None)
        }
        O::Account => (format!("done: account {}", run.account_url.as_deref().unwrap_or("(no URL)")), None),
        O::Revoked => ("revoked: the certificate is revoked".to_string(), None),
        O::KeyChanged | O::Deactivated | O::RenewalWindow { .. } | O::NoRenewalInfo => (format!("done: {outcome}"), None),
        O::Transport(why) => {
            let last = crate::common::LastResponse::default();
            let ctx = crate::explain::Ctx {
                addr: &run.addr,
                host: &run.host,
                timeout: args.secs("--timeout"),
                tls_error: run.tls.clone(),
                last: &last,
            };
            let (_, msg, hint) = crate::explain::transport(why, &ctx);
            (msg, hint)
        }
        O::ChallengeNotPublished => (
            "failed: a challenge could not be published".to_string(),
            Some("check the --dns01-hook command (it must exit 0 on add) or that --http01-port is free".to_string()),
        ),
        O::TimedOut => ("pending: the order did not finish within --max-wait".to_string(), Some("raise --max-wait".to_string())),
        O::Problem(p) | O::AuthorizationFailed(Some(p)) | O::OrderInvalid(Some(p)) => {
            let hint = match format!("{:?}", p.kind).as_str() {
                "ExternalAccountRequired" => Some("the CA needs External Account Binding: give --eab-kid and --eab-hmac (from the CA)"),
                "AccountDoesNotExist" => Some("no account for this key: leave out --only-existing to create one"),
                "AlreadyRevoked" => Some("nothing to do: it was revoked before"),
                "BadNonce" | "RateLimited" => Some("try again later"),
                "Unauthorized" | "Connection" | "Dns" | "IncorrectResponse" => {
                    Some("the CA could not validate the challenge: check that it can reach the responder or see the DNS record")
                }
                "RejectedIdentifier" | "UnsupportedIdentifier" => Some("the CA will not issue for a name asked for: check --name and --ip"),
                _ => None,
            };
            (format!("refused: {outcome}"), hint.map(str::to_string))
        }
        _ if code == REFUSED => (format!("refused: {outcome}"), None),
        _ => (format!("invalid: {outcome}"), Some("--verbose shows the cause".to_string())),
    };
    Ok(Report::new(name, code, message).hint(hint).cause(cause).fields(fields))
}

pub fn run(args: &Opts) -> Result<Report, String> {
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

fn acme_account(args: &Opts, server: &AcmeServer) -> Result<Report, String> {
    let mut account = load_key(args.need("--account-key")?)?;
    let spki = account.spki();
    let options = AccountOptions::from_args(args)?;
    let mut config = server.config(&spki, &spki);
    options.apply(&mut config);
    let operation = acme::Operation::Account { only_existing: args.flag("--only-existing") };
    let run = drive_acme(args, server, config, operation, &mut AcmeKeys { account: Some(&mut account), other: None }, &mut NoChallenges)?;
    acme_report(args, run, Vec::new())
}

/// An order (or a renewal's, replacing `replaces`), `fields` put before the order's.
fn acme_order(args: &Opts, server: &AcmeServer, replaces: Option<&[u8]>, fields: Vec<(String, String)>) -> Result<Report, String> {
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
    let run =
        drive_acme(args, server, config, operation, &mut AcmeKeys { account: Some(&mut account), other: Some(&mut key) }, &mut responder)?;
    acme_report(args, run, fields)
}

fn acme_renew(args: &Opts, server: &AcmeServer) -> Result<Report, String> {
    let cert_path = args.need("--cert")?;
    let cert = read_certificate("--cert", cert_path)?;
    let parsed = CertificateRef::parse(&cert).map_err(|e| e.to_string())?;
    let mut account = load_key(args.need("--account-key")?)?;
    let spki = account.spki();
    let options = AccountOptions::from_args(args)?;
    let mut config = server.config(&spki, &spki);
    options.apply(&mut config);
    let operation = acme::Operation::RenewalInfo { certificate: &cert };
    let run = drive_acme(args, server, config, operation, &mut AcmeKeys { account: Some(&mut account), other: None }, &mut NoChallenges)?;
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
        let msg = format!("not due: {}", fields.iter().find(|(k, _)| k == "decision").map(|(_, v)| v.clone()).unwrap_or_default());
        return Ok(Report::new("NotDue", OK, msg).fields(fields));
    }
    acme_order(args, server, Some(&cert), fields)
}

fn acme_revoke(args: &Opts, server: &AcmeServer) -> Result<Report, String> {
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
    let run = drive_acme(args, server, config, operation, &mut keys, &mut NoChallenges)?;
    acme_report(args, run, Vec::new())
}
