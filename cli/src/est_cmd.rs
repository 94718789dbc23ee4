//! `enroll est ...`.

use crate::Opts;
use crate::common::{
    CliTimer, DryRun, Key, Keys, Named, Report, drive_options, fingerprint, hex, load_key, outcome_report, pem, progress, read_der,
    retry_policy, split_url, wall_time, write_file, write_out,
};
use crate::csr::CsrParts;
use crate::explain::{self, Ctx};
use crate::{INVALID, OK, PENDING, REFUSED, TRANSPORT};
use embedded_enroll::asn1::cert::CertificateRef;
use embedded_enroll::est::{self, client::CaCertsTrust};
use embedded_enroll::hal::soft::SoftP256Key;
use embedded_enroll::http::base64::LineStyle;
use embedded_enroll::transport::blocking::run_est_with;
use embedded_enroll::transport::host_tls::{RustlsConnector, TlsVersions};

/// What /csrattrs asked for and what of it went into the CSR, in words.
fn attribute_words(r: &est::client::AttributeReport) -> String {
    let mut w = Vec::new();
    if r.challenge_password {
        w.push("challengePassword asked (the channel binding goes in it)".to_string());
    }
    w.push(format!("{} extension(s) applied from the template", r.applied_extensions));
    if r.kept_own_extensions > 0 {
        w.push(format!("{} of this request's own kept", r.kept_own_extensions));
    }
    if r.to_fill > 0 {
        w.push(format!("{} left to fill (not added)", r.to_fill));
    }
    if r.key_mismatch {
        w.push("the server asks for another key type than --key".into());
    }
    if r.other_hash {
        w.push("the server asks for another hash than SHA-256 (not applied)".into());
    }
    if r.not_understood > 0 {
        w.push(format!("{} item(s) not understood", r.not_understood));
    }
    w.join("; ")
}

pub fn run(args: &Opts) -> Result<Report, String> {
    use est::client::{Buffers, ChannelBinding, Client, Config, Credentials, Operation, Outcome};
    let (addr, host, path) = split_url(args.need("--url")?, true)?;
    let label = path.trim_matches('/').strip_prefix(".well-known/est").unwrap_or(path.trim_matches('/')).trim_matches('/').to_string();
    let insecure = args.flag("--insecure-bootstrap");
    let tls_anchor = args.get("--tls-ca").map(read_der).transpose()?.map(|(d, _)| d);
    if tls_anchor.is_none() && !insecure {
        return Err("--tls-ca FILE is required (or --insecure-bootstrap with --fingerprint, for cacerts only)".into());
    }
    let mut key = match args.get("--key") {
        Some(k) => load_key(k)?,
        None => Key::Ec(SoftP256Key::generate(&mut rand::rngs::OsRng)),
    };
    let spki = key.spki();
    let ca = args.get("--ca").map(read_der).transpose()?.map(|(d, _)| d);
    let trust = match (fingerprint(args)?, &ca) {
        (Some(fp), _) => CaCertsTrust::Fingerprint(fp),
        (None, Some(a)) => CaCertsTrust::Anchor(a),
        (None, None) => CaCertsTrust::TlsAuthenticated,
    };
    let parts = CsrParts::from_args(args)?;
    let subject = parts.subject()?;
    let sans = parts.sans();
    let csr = parts.builder(&subject, &sans);
    let op = match args.cmd.as_str() {
        "cacerts" => Operation::CaCerts,
        "csrattrs" => Operation::CsrAttrs,
        "enroll" => Operation::Enroll(csr),
        "reenroll" => Operation::ReEnroll(csr),
        "serverkeygen" => Operation::ServerKeyGen(csr),
        other => return Err(format!("unknown command est {other}")),
    };
    let mut config = Config::new(&host, trust, &spki);
    config.port = addr.rsplit_once(':').and_then(|(_, p)| p.parse().ok()).filter(|p| *p != 443);
    if !label.is_empty() {
        config.label = Some(&label);
    }
    config.ca_certificate = ca.as_deref();
    config.wall_time = Some(wall_time());
    config.fetch_csr_attributes = args.flag("--csrattrs");
    let bind = args.flag("--bind");
    config.channel_binding = if bind { ChannelBinding::Always } else { ChannelBinding::WhenAsked };
    if args.flag("--one-line") {
        config.body_style = LineStyle::OneLine;
    }
    let preemptive = args.flag("--basic-preemptive");
    if let (Some(user), Some(password)) = (args.get("--user"), args.get("--password")) {
        config.credentials = Some(Credentials { user, password, preemptive_basic: preemptive });
    }
    config.retry = retry_policy(args, config.retry)?;
    let versions = if args.flag("--tls12") { TlsVersions::Tls12 } else { TlsVersions::Both };
    let client_auth = match args.get("--cert") {
        Some(c) => Some((vec![read_der(c)?.0], load_key(args.need("--key")?)?)),
        None => None,
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
    let dry = args.flag("--dry-run");
    let mut connect = DryRun::new(inner, dry, read_only);
    connect.bind_required = bind;
    let mut timer = CliTimer::new(args.flag("--no-wait"));
    // --bind: the binding must be there to be sent; a connection without one is refused before
    // the CSR goes out (checked on the connection the request uses).
    let r = run_est_with(
        &mut client,
        &mut connect,
        &mut Keys { requested: &mut key, current: None },
        &mut timer,
        drive_options(args),
        progress,
    );
    let mut fields = parts.summary.clone();
    if let Some(r) = client.attribute_report() {
        fields.push(("csr_attributes".into(), attribute_words(&r)));
        if dry && r.challenge_password {
            fields.push((
                "note".into(),
                "the channel binding comes from the connection that sends the CSR; a dry run opens none, so the CSR shown lacks it".into(),
            ));
        }
    }
    let tls_error = connect.inner.last_error.as_ref().map(ToString::to_string);
    if let Some(e) = &tls_error {
        fields.push(("tls".into(), e.clone()));
    }
    let ctx = Ctx { addr: &addr, host: &host, timeout: args.secs("--timeout"), tls_error, last: &connect.last };
    let stopped = |fields| {
        Ok(Report::new("Pending", PENDING, "pending: the server answered 202 (try later)")
            .hint(Some("run the command again later, or raise --max-wait".into()))
            .fields(fields))
    };
    let issued = |o: &Outcome| matches!(o, Outcome::Issued | Outcome::ServerKeyGenerated).then(|| client.certificate().unwrap_or_default());
    let Named { outcome, name, cause, certificate: der } = match outcome_report(r, &mut fields, stopped, issued)? {
        Ok(named) => named,
        Err(report) => return Ok(report),
    };
    let report = match &outcome {
        Outcome::Issued | Outcome::ServerKeyGenerated => {
            // Strict: the certificate must chain to --ca (checked by the client already) or
            // to the TLS anchor, unless --accept-unverified-ca.
            let anchors: Vec<&[u8]> = ca.as_deref().into_iter().chain(tls_anchor.as_deref()).collect();
            if let Err(why) = crate::common::chains_to(&der, &anchors, false) {
                if !args.flag("--accept-unverified-ca") {
                    let c = CertificateRef::parse(&der).map_err(|e| e.to_string())?;
                    return Ok(Report::new(
                        "UnverifiedCa",
                        REFUSED,
                        format!(
                            "refused: the issued certificate (from {}) does not chain to {}",
                            c.issuer(),
                            if ca.is_some() { "--ca" } else { "--tls-ca (no --ca given)" }
                        ),
                    )
                    .hint(Some("give the issuing CA as --ca (see `est cacerts`), or --accept-unverified-ca to keep it anyway".into()))
                    .cause(why)
                    .fields(fields));
                }
                fields.push((
                    "warning".into(),
                    format!("the certificate does not chain to a trusted CA ({why}); kept (--accept-unverified-ca)"),
                ));
            }
            if matches!(outcome, Outcome::ServerKeyGenerated) {
                let key_out = args.need("--key-out")?;
                write_file(key_out, client.server_key().unwrap_or_default(), true)?;
                fields.push(("key_written".into(), key_out.to_string()));
            }
            let to = write_out(args, "CERTIFICATE", &der, &mut fields)?;
            let c = CertificateRef::parse(&der).map_err(|e| e.to_string())?;
            Report::new(
                name,
                OK,
                format!(
                    "issued: certificate for {} from {}, valid until {}{}",
                    c.subject(),
                    c.issuer(),
                    c.not_after(),
                    to.map(|p| format!(", written to {p}")).unwrap_or_default()
                ),
            )
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
            let to = match args.get("--out") {
                Some(p) => {
                    write_file(p, all.as_bytes(), false)?;
                    fields.push(("written".into(), p.to_string()));
                    format!(", written to {p}")
                }
                None => String::new(),
            };
            if matches!(trust, CaCertsTrust::TlsAuthenticated) {
                // Nothing pinned: the certificates are taken on the TLS server's word.
                fields.push((
                    "warning".into(),
                    "no CA pinned: the certificates are trusted because the TLS server is (--tls-ca), not checked against a CA".into(),
                ));
                Report::new(name, OK, format!("fetched: {kept} CA certificate(s){to}, unchecked (only the TLS server vouches for them)"))
                    .hint(Some("compare their SHA-256 with the CA's out of band, or pin it with --fingerprint or --ca".into()))
            } else {
                Report::new(name, OK, format!("fetched: {kept} CA certificate(s){to}, checked against the pin"))
            }
        }
        Outcome::CsrAttrs => {
            let der = client.csr_attributes().unwrap_or_default().to_vec();
            let mut n = 0;
            match est::csrattrs::CsrAttrs::parse(&der) {
                Ok(a) => {
                    for item in a.items() {
                        n += 1;
                        fields.push(("attribute".into(), item.oid().to_string()));
                    }
                }
                Err(e) => fields.push(("error".into(), e.to_string())),
            }
            let to = match args.get("--out") {
                Some(p) => {
                    write_file(p, &der, false)?;
                    fields.push(("written".into(), p.to_string()));
                    format!(", written to {p}")
                }
                None => String::new(),
            };
            Report::new(name, OK, format!("fetched: {n} CSR attribute(s){to}"))
        }
        Outcome::HttpStatus { status, text } => {
            fields.push(("status".into(), status.to_string()));
            fields.push(("text".into(), text.to_string()));
            let body = connect.last.body_text().unwrap_or_else(|| text.to_string());
            let hint = if *status == 400
                && body.to_ascii_lowercase().contains("could not parse certificate signing request")
                && !args.flag("--one-line")
            {
                Some("this server may need the CSR on one line: try --one-line".to_string())
            } else if *status == 404 {
                Some("check --url (the EST base, e.g. https://HOST:PORT or .../.well-known/est/LABEL)".into())
            } else {
                None
            };
            let body = if body.is_empty() { String::new() } else { format!(": {body:?}") };
            Report::new(name, REFUSED, format!("refused: the server answered HTTP {status}{body}")).hint(hint)
        }
        Outcome::Unauthorized => {
            let challenge = connect.last.header("www-authenticate");
            let creds = args.get("--user").is_some();
            let (msg, hint) = match (&challenge, creds) {
                (None, true) if !preemptive => (
                    "refused: the server answered HTTP 401 and offered no challenge".to_string(),
                    "try --basic-preemptive (send the Basic credentials with the first request)".to_string(),
                ),
                (_, false) => ("refused: the server wants credentials (HTTP 401)".into(), "give --user and --password".into()),
                _ => ("refused: the server refused the credentials (HTTP 401)".into(), "check --user and --password".into()),
            };
            Report::new(name, REFUSED, msg).hint(Some(hint))
        }
        Outcome::RetryLimit { attempts } => {
            Report::new(name, PENDING, format!("pending: the server still answered 202 after {attempts} retries"))
                .hint(Some("raise --max-wait, or run the command again later".into()))
        }
        Outcome::Transport(_) if connect.last.binding_missing() => Report::new(
            "NoChannelBinding",
            crate::USAGE,
            "refused: --bind, but this TLS connection offers no channel binding; the CSR was not sent",
        )
        .hint(Some("use TLS 1.3 (leave out --tls12), or enroll without --bind".into())),
        Outcome::Transport(_) if dry => Report::new("DryRun", OK, "dry run: the request above was not sent"),
        Outcome::Transport(why) => {
            fields.push(("reason".into(), why.to_string()));
            let (code, msg, hint) = explain::transport(why, &ctx);
            Report::new("Transport", code, msg).hint(hint)
        }
        Outcome::InvalidReply(_)
            if args.cmd == "cacerts"
                && client.certificates().map_or(0, |sd| sd.certificates().count()) == 0
                && connect.last.parts().is_some()
                && connect.last.body_text().is_none() =>
        {
            Report::new("EmptyCaCerts", INVALID, "invalid: the /cacerts reply is empty (no certificate)")
                .hint(Some("the server has no CA configured for this URL: check the label in --url".into()))
        }
        Outcome::InvalidReply(est::client::ReplyError::UntrustedCaCerts) => Report::new(
            name,
            INVALID,
            "untrusted: the /cacerts reply holds no CA matching --fingerprint/--ca (or the TLS server is not the CA's)".to_string(),
        )
        .hint(Some("check the pin given out of band".into())),
        Outcome::InvalidReply(est::client::ReplyError::NotIssuedByCa) => {
            Report::new(name, REFUSED, "refused: the issued certificate is not signed by --ca".to_string())
                .hint(Some("check --ca (see `est cacerts`)".into()))
        }
        _ => {
            if let Some((code, msg, hint)) = explain::not_pkcs7(&ctx, "application/pkcs7-mime") {
                Report::new(name, code, msg).hint(hint)
            } else {
                let code = if matches!(outcome, Outcome::Http(_)) { TRANSPORT } else { INVALID };
                Report::new(name, code, format!("invalid: {outcome}")).hint(Some("--verbose shows the cause".into()))
            }
        }
    };
    Ok(report.cause(cause).fields(fields))
}
