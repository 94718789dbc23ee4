//! The x509-limbo path-validation suite (C2SP/x509-limbo; a copy with provenance in
//! tests/vectors/x509-limbo/): every SERVER case is run through the crate's path validation
//! exactly as the TLS server verifier runs it ([`path::validate`] with [`Usage::TlsServer`],
//! then [`path::names_host`]), and the result is compared with the expected one.
//!
//! Cases where this crate deliberately or knowingly disagrees are listed in `KNOWN` with the
//! reason; the test fails if any other case disagrees, and also if a listed case starts to
//! agree (so the list, and the count and list in docs/security.md, which the test checks, stay true).

use embedded_enroll::asn1::cert::CertificateRef;
use embedded_enroll::asn1::path::{self, HostName, Options, Usage, ValidationTime};
use embedded_enroll::time::UnixTime;

const CRL: &str = "needs revocation (CRLs): the API takes no CRL; listed apart";
const CA_EE: &str = "a CA certificate is never accepted as an end entity (as webpki::ca-as-leaf, which passes)";
const KEY_ID: &str = "issuer profile rule on key identifiers (RFC 5280 MUSTs for conforming CAs): paths are built by name and signature, so a missing or unusual identifier changes nothing, and refusing would lock out real CAs that omit them (rustls-webpki does not check them either)";
const CN: &str = "CA/Browser Forum rule that the common name repeat a subjectAltName entry: host names are matched against subjectAltName only (RFC 9525), so the common name cannot mislead";
const EKU: &str = "pedantic CA/Browser Forum EKU profile: serverAuth is present, which is what a TLS client needs";
const PSL: &str = "needs the Public Suffix List, which a device does not carry (single-label suffixes such as `*.com` are refused)";

/// Cases this crate gets "wrong" by the suite's expectation, and why.
const KNOWN: &[(&str, &str)] = &[
    ("crl::revoked-certificate-with-crl", CRL),
    ("crl::crlnumber-missing", CRL),
    ("crl::crlnumber-critical", CRL),
    ("crl::issuer-missing-crlsign", CRL),
    ("pathlen::validation-ignores-pathlen-in-leaf", CA_EE),
    ("rfc5280::ca-as-leaf", CA_EE),
    ("rfc5280::aki::leaf-missing-aki", KEY_ID),
    ("rfc5280::aki::intermediate-missing-aki", KEY_ID),
    ("rfc5280::aki::cross-signed-root-missing-aki", KEY_ID),
    ("rfc5280::ski::root-missing-ski", KEY_ID),
    ("rfc5280::ski::intermediate-missing-ski", KEY_ID),
    ("webpki::aki::root-with-aki-missing-keyidentifier", KEY_ID),
    ("webpki::aki::root-with-aki-authoritycertissuer", KEY_ID),
    ("webpki::aki::root-with-aki-authoritycertserialnumber", KEY_ID),
    ("webpki::aki::root-with-aki-all-fields", KEY_ID),
    ("webpki::aki::root-with-aki-ski-mismatch", KEY_ID),
    (
        "rfc5280::nc::permitted-dns-match-noncritical",
        "conflicts with webpki::nc::permitted-dns-match-noncritical, which passes: a non-critical nameConstraints is applied, not refused",
    ),
    ("rfc5280::pc::ica-noncritical-pc", "certificate policies are not processed (the API takes no policy)"),
    (
        "rfc5280::root-non-critical-basic-constraints",
        "the anchor is trusted as configured: libest's demo CA, a real peer in the tests, has a non-critical basicConstraints",
    ),
    ("webpki::cn::ipv4-hex-mismatch", CN),
    ("webpki::cn::ipv4-leading-zeros-mismatch", CN),
    ("webpki::cn::ipv6-uppercase-mismatch", CN),
    ("webpki::cn::ipv6-uncompressed-mismatch", CN),
    ("webpki::cn::ipv6-non-rfc5952-mismatch", CN),
    ("webpki::cn::punycode-not-in-san", CN),
    ("webpki::cn::utf8-vs-punycode-mismatch", CN),
    ("webpki::cn::not-in-san", CN),
    ("webpki::cn::case-mismatch", CN),
    ("webpki::eku::ee-anyeku", EKU),
    ("webpki::eku::ee-critical-eku", EKU),
    ("webpki::eku::root-has-eku", EKU),
    (
        "webpki::eku::ee-without-eku",
        "conflicts with rfc5280::eku::ee-without-eku, which passes: without extendedKeyUsage any use is allowed (RFC 5280 section 4.2.1.12)",
    ),
    ("webpki::san::public-suffix-multi-label-wildcard-san", PSL),
    ("webpki::san::public-suffix-private-namespace-wildcard-san", PSL),
];

fn pem_to_der(pem: &str) -> Vec<u8> {
    use base64ct::{Base64, Encoding};
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    Base64::decode_vec(&body).expect("PEM body")
}

fn rfc3339(s: &str) -> UnixTime {
    // "2024-03-01T00:00:00.999+00:00" or "...Z": whole seconds (fractions truncated).
    let (date, time) = s.split_once('T').unwrap();
    let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
    let hms: Vec<i64> = time[..8].split(':').map(|x| x.parse().unwrap()).collect();
    assert!(time[8..].trim_start_matches(|c: char| c == '.' || c.is_ascii_digit()).starts_with(['Z', '+']));
    let (y, m) = if d[1] <= 2 { (d[0] - 1, d[1] + 9) } else { (d[0], d[1] - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d[2] - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    UnixTime::from_secs(days * 86400 + hms[0] * 3600 + hms[1] * 60 + hms[2])
}

fn run(case: &serde_json::Value) -> Result<(), String> {
    let ders = |k: &str| -> Vec<Vec<u8>> { case[k].as_array().unwrap().iter().map(|p| pem_to_der(p.as_str().unwrap())).collect() };
    let anchors_der = ders("trusted_certs");
    let inter_der = ders("untrusted_intermediates");
    let leaf_der = pem_to_der(case["peer_certificate"].as_str().unwrap());
    let leaf = CertificateRef::parse(&leaf_der).map_err(|e| format!("leaf: {e:?}"))?;
    let anchors: Vec<&[u8]> = anchors_der.iter().map(|d| d.as_slice()).collect();
    let inters: Vec<&[u8]> = inter_der.iter().map(|d| d.as_slice()).collect();
    let now = match case["validation_time"].as_str() {
        Some(t) => rfc3339(t),
        None => UnixTime::from_secs(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64),
    };
    let mut opts = Options::new(Usage::TlsServer, ValidationTime::At(now));
    if let Some(max) = case["max_chain_depth"].as_u64() {
        opts.max_intermediates = max as u8;
    }
    path::validate(&leaf, inters.as_slice(), anchors.as_slice(), &opts).map_err(|e| format!("{e:?}"))?;
    if let Some(name) = case["expected_peer_name"]["value"].as_str() {
        let host = HostName::parse(name).ok_or_else(|| format!("host {name} does not parse"))?;
        if !path::names_host(&leaf, &host) {
            return Err(format!("host {name} not named"));
        }
    }
    Ok(())
}

#[test]
fn limbo_server_cases() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/x509-limbo/limbo-subset.json")).unwrap();
    let suite: serde_json::Value = serde_json::from_str(&text).unwrap();
    let (mut pass, mut known, mut total) = (0, 0, 0);
    let mut unexpected = Vec::new();
    for case in suite["testcases"].as_array().unwrap() {
        if case["validation_kind"] != "SERVER" {
            continue;
        }
        total += 1;
        let id = case["id"].as_str().unwrap();
        let expected_ok = case["expected_result"] == "SUCCESS";
        let got = run(case);
        let agrees = got.is_ok() == expected_ok;
        let listed = KNOWN.iter().find(|(k, _)| *k == id);
        match (agrees, listed) {
            (true, None) => pass += 1,
            (false, Some(_)) => known += 1,
            (true, Some(_)) => unexpected.push(format!("{id}: listed in KNOWN but now agrees ({got:?})")),
            (false, None) => unexpected.push(format!("{id}: expected {}, got {got:?}", case["expected_result"])),
        }
    }
    println!("x509-limbo SERVER cases: {pass} of {total} agree, {known} known disagreements (listed with reasons)");
    assert!(unexpected.is_empty(), "{} unexpected:\n{}", unexpected.len(), unexpected.join("\n"));
    assert_eq!(pass + known, total);
    // The published numbers and list are the ones measured here.
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/security.md")).unwrap();
    assert!(docs.contains(&format!("{pass} of {total} SERVER cases agree")), "docs/security.md must publish {pass} of {total}");
    for (id, _) in KNOWN {
        assert!(docs.contains(&format!("`{id}`")), "docs/security.md must list {id}");
    }
}
