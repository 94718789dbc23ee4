//! Outcome lines in plain language: what happened and what to do.

use crate::common::LastResponse;
use crate::{INVALID, TRANSPORT};
use embedded_enroll::transport::TransportFailure;

/// Where the exchange went, for the words.
pub struct Ctx<'a> {
    pub addr: &'a str,
    pub host: &'a str,
    pub timeout: u64,
    pub tls_error: Option<String>,
    pub last: &'a LastResponse,
}

/// A transport failure: exit 5, what failed and what to check.
pub fn transport(why: &TransportFailure, ctx: &Ctx<'_>) -> (u8, String, Option<String>) {
    let tls = ctx.tls_error.clone().unwrap_or_default();
    match why {
        TransportFailure::Connect if tls.is_empty() => (
            TRANSPORT,
            format!("unreachable: no connection to {} (refused, unreachable, or the name did not resolve)", ctx.addr),
            Some("check the host and port in --url and that the server is running".into()),
        ),
        TransportFailure::Deadline => (
            TRANSPORT,
            format!("timed out: {} did not answer within {} s", ctx.addr, ctx.timeout),
            Some("raise --timeout if the server is slow".into()),
        ),
        TransportFailure::Connect
        | TransportFailure::TlsHandshake
        | TransportFailure::ServerRefused(_)
        | TransportFailure::ServerNotAuthenticated => {
            let (msg, hint) = tls_words(&tls, ctx.addr, ctx.host);
            let msg = if msg.is_empty() { format!("refused: the TLS handshake with {} failed ({why})", ctx.addr) } else { msg };
            (TRANSPORT, msg, Some(hint))
        }
        other => (TRANSPORT, format!("connection broken: {other}"), Some("try again; with --verbose the cause is shown".into())),
    }
}

/// A rustls error in words: the names of a certificate for another host, an unknown issuer, an
/// expired certificate.
fn tls_words(tls: &str, addr: &str, host: &str) -> (String, String) {
    if tls.is_empty() {
        return (String::new(), "check --tls-ca and the host name in --url".into());
    }
    // rustls wraps the crate verifier's words: "invalid peer certificate: Other(OtherError(refused
    // by the crate's verifier: ...))".
    let words = tls.split("verifier: ").nth(1).map_or(tls, |w| w.trim_end_matches(')'));
    if tls.contains("does not name the host") || tls.contains("NotValidForName") {
        let names = crate::peek::server_names(addr, host).map_or("another name".to_string(), |n| n.join(", "));
        return (
            format!("refused: the server's certificate is for {names}, not {host}"),
            "use a host name in --url that the certificate names".into(),
        );
    }
    if tls.contains("xpired") || tls.contains("not yet valid") || tls.contains("NotValidYet") {
        return (
            format!("refused: the server's certificate is out of its validity ({words})"),
            "check the server's certificate and this host's clock".into(),
        );
    }
    if tls.contains("chain was refused") || tls.contains("UnknownIssuer") {
        return (
            format!("refused: the server's certificate does not chain to --tls-ca ({words})"),
            "give the anchor of the server's TLS certificate as --tls-ca".into(),
        );
    }
    (
        format!("refused: the TLS handshake with {host} failed: {words}"),
        "check --tls-ca, the host name in --url and the TLS versions (--tls12)".into(),
    )
}

/// A reply that is not what was asked for: HTML or another Content-Type named.
pub fn not_pkcs7(ctx: &Ctx<'_>, expected: &str) -> Option<(u8, String, Option<String>)> {
    let ct = ctx.last.header("content-type")?;
    let lower = ct.to_ascii_lowercase();
    if lower.starts_with(expected) || lower.contains("pkcs7") || lower.contains("x509") || lower.contains("csrattrs") {
        return None;
    }
    let html = lower.contains("html") || ctx.last.body_text().is_some_and(|b| b.to_ascii_lowercase().contains("<html"));
    let what = if html { "an HTML page" } else { "something else" };
    Some((
        INVALID,
        format!("invalid: {} answered with {what} (Content-Type: {ct}), not {expected}", ctx.addr),
        Some(if html {
            "a captive portal or a proxy is in the way, or --url points at a web page: check the network and --url".into()
        } else {
            "check --url".into()
        }),
    ))
}

/// The first line of the body of an HTTP error, quoted, when there is text.
pub fn body_suffix(ctx: &Ctx<'_>) -> String {
    ctx.last.body_text().map(|t| format!(": {t:?}")).unwrap_or_default()
}
