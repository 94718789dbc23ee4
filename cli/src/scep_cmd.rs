//! `enroll scep ...`.

use crate::Opts;
use crate::common::{
    CliTimer, DryRun, Key, Keys, Named, Report, drive_options, fingerprint, hex, load_key, outcome_report, pem, progress, read_der,
    retry_policy, split_url, wall_time, write_file, write_out,
};
use crate::csr::CsrParts;
use crate::explain::{self, Ctx};
use crate::{INVALID, OK, PENDING, REFUSED, TRANSPORT};
use embedded_enroll::asn1::cert::CertificateRef;
use embedded_enroll::asn1::csr::ChallengePassword;
use embedded_enroll::hal::soft::SoftP256Key;
use embedded_enroll::scep::ca::CaTrust;
use embedded_enroll::scep::{self, AlgorithmPolicy};
use embedded_enroll::time::Instant;
use embedded_enroll::transport::blocking::run_scep_with;
use embedded_enroll::transport::host::TcpConnector;

/// The algorithm policy: no legacy algorithm unless `--allow-legacy` names it.
fn policy(args: &Opts) -> AlgorithmPolicy {
    let mut policy = AlgorithmPolicy::default().without_legacy();
    let legacy = args.all("--allow-legacy");
    if legacy.contains(&"des") {
        policy = policy.with_single_des();
    } else if legacy.contains(&"3des-sha1") {
        policy.allow_legacy = true;
    }
    if args.flag("--get") {
        policy = policy.with_get();
    }
    policy
}

pub fn run(args: &Opts) -> Result<Report, String> {
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
        None => Key::Ec(SoftP256Key::generate(&mut rand::rngs::OsRng)),
    };
    let mut new_key = args.get("--new-key").map(load_key).transpose()?;
    let cert = args.get("--cert").map(read_der).transpose()?.map(|(d, _)| d);
    let parts = CsrParts::from_args(args)?;
    let subject = parts.subject()?;
    let sans = parts.sans();
    let mut csr = parts.builder(&subject, &sans);
    if let Some(c) = args.get("--challenge") {
        csr = csr.challenge_password(ChallengePassword::Printable(c));
    }
    let serial = args.get("--serial").map(crate::common::parse_hex).transpose()?;
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
        other => return Err(format!("unknown command scep {other}")),
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
    config.policy = policy(args);
    config.retry = retry_policy(args, config.retry)?;
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
    let mut tcp = TcpConnector::new(addr.clone());
    tcp.timeout = std::time::Duration::from_secs(args.secs("--timeout").max(1));
    let mut connect = DryRun::new(tcp, args.flag("--dry-run"), read_only);
    let mut timer = CliTimer::new(args.flag("--no-wait"));
    let (requested, current) = match new_key.as_mut() {
        Some(n) => (n, Some(&mut key)),
        None => (&mut key, None),
    };
    let mut keys = Keys { requested, current };
    let r = run_scep_with(&mut client, &mut connect, &mut keys, &mut timer, drive_options(args), progress);
    let mut fields = parts.summary.clone();
    if let Some(c) = client.algorithms() {
        fields.push(("algorithms".into(), format!("{:?} {:?} {}", c.cipher, c.hash, if c.post { "POST" } else { "GET" })));
    }
    let ctx = Ctx { addr: &addr, host: &host, timeout: args.secs("--timeout"), tls_error: None, last: &connect.last };
    let stopped = |mut fields: Vec<(String, String)>| {
        let mut rec = [0u8; scep::snapshot::MAX_SNAPSHOT_LEN];
        let saved = match (state, client.snapshot(&mut rec)) {
            (Some(path), Ok(Some(r))) => {
                write_file(path, r, true)?;
                fields.push(("state".into(), path.to_string()));
                Some(path.to_string())
            }
            _ => None,
        };
        fields.push(("transaction".into(), client.transaction_id().to_string()));
        let (msg, hint) = match saved {
            Some(p) => (
                format!("pending: the CA has not decided yet; the transaction is saved in {p}"),
                format!("resume with `enroll scep poll --state {p} ...`"),
            ),
            None => {
                ("pending: the CA has not decided yet".to_string(), "give --state FILE to resume later, or raise --max-wait".to_string())
            }
        };
        Ok(Report::new("Pending", PENDING, msg).hint(Some(hint)).fields(fields))
    };
    let issued = |o: &Outcome| matches!(o, Outcome::Issued | Outcome::Certificate).then(|| client.certificate().unwrap_or_default());
    let Named { outcome, name, cause, certificate: der } = match outcome_report(r, &mut fields, stopped, issued)? {
        Ok(named) => named,
        Err(report) => return Ok(report),
    };
    let report = match &outcome {
        Outcome::Issued | Outcome::Certificate => {
            // Strict: the certificate must chain to the pinned CA, unless --accept-unverified-ca.
            let ca_der = client.ca_certificates().map(|set| set.issuing_ca().as_der().to_vec()).unwrap_or_default();
            let sha1 = !args.all("--allow-legacy").is_empty();
            if let Err(why) = crate::common::chains_to(&der, &[ca_der.as_slice()], sha1) {
                if !args.flag("--accept-unverified-ca") {
                    let c = CertificateRef::parse(&der).map_err(|e| e.to_string())?;
                    return Ok(Report::new(
                        "UnverifiedCa",
                        REFUSED,
                        format!("refused: the certificate (from {}) does not chain to the pinned CA", c.issuer()),
                    )
                    .hint(Some("check the pin (--fingerprint, --ca), or --accept-unverified-ca to keep it anyway".into()))
                    .cause(why)
                    .fields(fields));
                }
                fields.push((
                    "warning".into(),
                    format!("the certificate does not chain to the pinned CA ({why}); kept (--accept-unverified-ca)"),
                ));
            }
            let to = write_out(args, "CERTIFICATE", &der, &mut fields)?;
            let c = CertificateRef::parse(&der).map_err(|e| e.to_string())?;
            let verb = if matches!(outcome, Outcome::Issued) { "issued" } else { "fetched" };
            let msg = format!(
                "{verb}: certificate for {} from {}, valid until {}{}",
                c.subject(),
                c.issuer(),
                c.not_after(),
                to.map(|p| format!(", written to {p}")).unwrap_or_default()
            );
            Report::new(name, OK, msg)
        }
        Outcome::Crl => {
            let der = client.crl().unwrap_or_default().to_vec();
            let to = write_out(args, "X509 CRL", &der, &mut fields)?;
            Report::new(
                name,
                OK,
                format!("fetched: the CRL ({} bytes){}", der.len(), to.map(|p| format!(", written to {p}")).unwrap_or_default()),
            )
        }
        Outcome::CaCaps => {
            let mut n = 0;
            if let Some(caps) = client.ca_caps() {
                use scep::Capability as C;
                let all =
                    [C::Aes, C::Des3, C::GetNextCaCert, C::PostPkiOperation, C::Renewal, C::Sha1, C::Sha256, C::Sha512, C::ScepStandard];
                let names: Vec<_> = all.iter().filter(|c| caps.has(**c)).map(|c| c.keyword()).collect();
                n = names.len();
                fields.push(("capabilities".into(), names.join(" ")));
            }
            Report::new(name, OK, format!("fetched: {n} capabilities"))
        }
        Outcome::CaCertificates | Outcome::NextCa => {
            let mut all = String::new();
            let mut n = 0;
            let next = matches!(outcome, Outcome::NextCa);
            if next {
                if let Some(sd) = client.next_ca_certificates() {
                    for c in sd.certificates() {
                        n += 1;
                        fields.push(("next_ca".into(), format!("{} (SHA-256 {})", c.subject(), hex(&c.fingerprint_sha256()))));
                        all.push_str(&pem("CERTIFICATE", c.as_der()));
                    }
                }
            } else if let Some(set) = client.ca_certificates() {
                for c in set.certificates() {
                    n += 1;
                    fields.push(("certificate".into(), format!("{} (SHA-256 {})", c.subject(), hex(&c.fingerprint_sha256()))));
                    all.push_str(&pem("CERTIFICATE", c.as_der()));
                }
                fields.push(("recipient".into(), set.recipient().subject().to_string()));
            }
            let to = match args.get("--out") {
                Some(p) => {
                    write_file(p, all.as_bytes(), false)?;
                    fields.push(("written".into(), p.to_string()));
                    format!(", written to {p}")
                }
                None => String::new(),
            };
            let what = if next { "next CA" } else { "CA" };
            Report::new(name, OK, format!("fetched: {n} {what} certificate(s), trusted by the pin{to}"))
        }
        Outcome::Rejected { fail_info, text } => {
            if let Some(f) = fail_info {
                fields.push(("fail_info".into(), format!("{f:?}")));
            }
            fields.push(("fail_info_text".into(), text.to_string()));
            let why = fail_info.map(|f| format!(" ({f})")).unwrap_or_default();
            let text = if text.is_empty() { String::new() } else { format!(": {text:?}") };
            Report::new(name, REFUSED, format!("refused: the CA answered FAILURE{why}{text}"))
                .hint(Some("check --challenge, --subject and what the CA's policy requires (some need --key-usage)".into()))
        }
        Outcome::PendingTimedOut { attempts } => {
            fields.push(("polls".into(), attempts.to_string()));
            Report::new(name, PENDING, format!("pending: the CA still answered PENDING after {attempts} polls"))
                .hint(Some("raise --max-wait, or use --no-wait with --state and `scep poll` later".into()))
        }
        Outcome::HttpStatus(s) => {
            fields.push(("status".into(), s.to_string()));
            if let Some(b) = connect.last.body_text() {
                fields.push(("text".into(), b));
            }
            let hint = match s {
                404 => Some("check the path in --url (often /scep or /cgi-bin/pkiclient.exe)".to_string()),
                _ => None,
            };
            Report::new(name, REFUSED, format!("refused: the server answered HTTP {s}{}", explain::body_suffix(&ctx))).hint(hint)
        }
        Outcome::Transport(_) if args.flag("--dry-run") => Report::new("DryRun", OK, "dry run: the request above was not sent".to_string()),
        Outcome::Transport(why) => {
            fields.push(("reason".into(), why.to_string()));
            let (code, msg, hint) = explain::transport(why, &ctx);
            Report::new("Transport", code, msg).hint(hint)
        }
        _ => {
            if let Some((code, msg, hint)) = explain::not_pkcs7(&ctx, "application/x-") {
                Report::new(name, code, msg).hint(hint)
            } else {
                let code = if matches!(outcome, Outcome::Http(_)) { TRANSPORT } else { INVALID };
                let hint = if cause.contains("AlgorithmNotAllowed") {
                    "this server needs a legacy algorithm: if you accept it, name it with --allow-legacy 3des-sha1 (or des for single-DES replies)"
                } else {
                    "the reply was refused as it is; --verbose shows why"
                };
                Report::new(name, code, format!("invalid: {outcome}")).hint(Some(hint.into()))
            }
        }
    };
    Ok(report.cause(cause).fields(fields))
}
