//! Issue 13, item 4 (and 5's TLS part): who may pass as the EST/TLS server. Certificates are
//! made by the OpenSSL CLI (an independent issuer) and checked by the crate's
//! `ServerVerifier`, exactly as the TLS paths (embedded-tls, rustls) run it. Each case is a
//! class of impersonation that the earlier chain check let through.

mod common;

use common::{cert_der, openssl, s};
use embedded_enroll::asn1::cert::CertificateRef;
use embedded_enroll::asn1::path::Validity;
use embedded_enroll::crypto::rsa::RsaPublicKey;
use embedded_enroll::error::ChainError;
use embedded_enroll::time::UnixTime;
use embedded_enroll::transport::verify::{ServerTrust, ServerVerifier, VerifyError};
use std::path::PathBuf;

struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Self {
        let p = Self { dir: tempfile::tempdir().unwrap() };
        p.write("ca.ext", "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n");
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            s(&p.path("ca.key")),
            "-subj",
            "/CN=Test Root",
            "-days",
            "3650",
            "-sha256",
            "-extensions",
            "v3_ca",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-out",
            s(&p.path("ca.pem")),
        ]);
        p
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let f = self.path(name);
        std::fs::write(&f, text).unwrap();
        f
    }

    fn der(&self, name: &str) -> Vec<u8> {
        cert_der(&self.path(&format!("{name}.pem")))
    }

    /// Issues `name` under `issuer` with the extension lines `ext` (openssl x509v3 config).
    fn issue(&self, name: &str, issuer: &str, subject: &str, ext: &str, extra: &[&str]) -> Vec<u8> {
        let key = self.path(&format!("{name}.key"));
        let csr = self.path(&format!("{name}.csr"));
        if !key.exists() {
            openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", s(&key)]);
        }
        openssl(&["req", "-new", "-key", s(&key), "-subj", subject, "-out", s(&csr)]);
        let extfile = self.write(&format!("{name}.ext"), ext);
        let mut args = vec![
            "x509",
            "-req",
            "-in",
            s(&csr),
            "-CA",
            s(&self.path(&format!("{issuer}.pem"))).to_string().leak(),
            "-CAkey",
            s(&self.path(&format!("{issuer}.key"))).to_string().leak(),
            "-set_serial",
            "7",
            "-days",
            "365",
            "-extfile",
            s(&extfile),
            "-out",
        ];
        let out = self.path(&format!("{name}.pem"));
        args.push(s(&out));
        let sha = extra.iter().any(|a| a.starts_with("-sha"));
        if !sha {
            args.push("-sha256");
        }
        args.extend_from_slice(extra);
        openssl(&args);
        self.der(name)
    }
}

fn now() -> Option<UnixTime> {
    Some(UnixTime::from_secs(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64))
}

fn check(anchor: &[u8], chain: &[&[u8]], host: &str) -> Result<(), VerifyError> {
    let mut v = ServerVerifier::new(ServerTrust::Anchor(anchor), host, now()).unwrap();
    v.verify_chain(chain.iter().copied())
}

const SERVER: &str = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:est.example,IP:127.0.0.1,IP:::1\n";

#[test]
fn a_genuine_server_passes_by_name_ipv4_and_ipv6() {
    let p = Pki::new();
    let ca = p.der("ca");
    let leaf = p.issue("server", "ca", "/CN=est.example", SERVER, &[]);
    for host in ["est.example", "EST.example", "est.example.", "127.0.0.1", "::1", "[::1]"] {
        assert_eq!(check(&ca, &[&leaf], host), Ok(()), "{host}");
    }
    assert_eq!(check(&ca, &[&leaf], "other.example"), Err(VerifyError::HostMismatch));
    assert_eq!(check(&ca, &[&leaf], "::2"), Err(VerifyError::HostMismatch));
}

#[test]
fn a_client_auth_device_certificate_from_the_same_ca_is_not_the_server() {
    let p = Pki::new();
    let ca = p.der("ca");
    let device = p.issue(
        "device",
        "ca",
        "/CN=est.example",
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\nsubjectAltName=DNS:est.example\n",
        &[],
    );
    assert_eq!(check(&ca, &[&device], "est.example"), Err(VerifyError::Chain(ChainError::UsageNotAllowed { depth: 0 })));
    // keyUsage without digitalSignature cannot sign a TLS handshake.
    let enc = p.issue("enc", "ca", "/CN=est.example", "keyUsage=critical,keyEncipherment\nsubjectAltName=DNS:est.example\n", &[]);
    assert_eq!(check(&ca, &[&enc], "est.example"), Err(VerifyError::Chain(ChainError::UsageNotAllowed { depth: 0 })));
}

#[test]
fn a_ca_certificate_is_never_an_end_entity() {
    let p = Pki::new();
    let ca = p.der("ca");
    let sub = p.issue(
        "sub",
        "ca",
        "/CN=Sub CA",
        "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,digitalSignature\nsubjectAltName=DNS:est.example\n",
        &[],
    );
    assert_eq!(check(&ca, &[&sub], "est.example"), Err(VerifyError::Chain(ChainError::CaAsEndEntity)));
}

#[test]
fn the_common_name_is_never_a_host_name() {
    let p = Pki::new();
    let ca = p.der("ca");
    let cn_only = p.issue("cn", "ca", "/CN=est.example", "extendedKeyUsage=serverAuth\n", &[]);
    assert_eq!(check(&ca, &[&cn_only], "est.example"), Err(VerifyError::HostMismatch));
}

#[test]
fn wildcards_stand_for_one_left_most_label_only() {
    let p = Pki::new();
    let ca = p.der("ca");
    let wild = p.issue("wild", "ca", "/CN=w", "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:*.example.net,DNS:*.net\n", &[]);
    assert_eq!(check(&ca, &[&wild], "est.example.net"), Ok(()));
    assert_eq!(check(&ca, &[&wild], "a.est.example.net"), Err(VerifyError::HostMismatch));
    assert_eq!(check(&ca, &[&wild], "example.net"), Err(VerifyError::HostMismatch));
    assert_eq!(check(&ca, &[&wild], "anything.net"), Err(VerifyError::HostMismatch), "*.net names no one");
}

#[test]
fn name_constraints_bind_intermediates_and_anchors() {
    let p = Pki::new();
    let ca = p.der("ca");
    let ica = p.issue(
        "ica",
        "ca",
        "/CN=Constrained CA",
        "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\nnameConstraints=critical,permitted;DNS:corp.example,permitted;IP:10.0.0.0/255.0.0.0,excluded;DNS:secret.corp.example\n",
        &[],
    );
    let ok = p.issue("in", "ica", "/CN=in", "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:est.corp.example,IP:10.1.2.3\n", &[]);
    assert_eq!(check(&ca, &[&ok, &ica], "est.corp.example"), Ok(()));
    let out = p.issue("out", "ica", "/CN=out", "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:est.bank.example\n", &[]);
    assert_eq!(check(&ca, &[&out, &ica], "est.bank.example"), Err(VerifyError::Chain(ChainError::NameConstraint { depth: 0 })));
    let ip = p.issue("ip", "ica", "/CN=ip", "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:x.corp.example,IP:192.0.2.1\n", &[]);
    assert_eq!(check(&ca, &[&ip, &ica], "x.corp.example"), Err(VerifyError::Chain(ChainError::NameConstraint { depth: 0 })));
    let ex = p.issue("ex", "ica", "/CN=ex", "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:db.secret.corp.example\n", &[]);
    assert_eq!(check(&ca, &[&ex, &ica], "db.secret.corp.example"), Err(VerifyError::Chain(ChainError::NameConstraint { depth: 0 })));
    // A wildcard that could stand for an excluded name.
    let wild = p.issue("wild", "ica", "/CN=w", "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:*.corp.example\n", &[]);
    assert_eq!(check(&ca, &[&wild, &ica], "www.corp.example"), Err(VerifyError::Chain(ChainError::NameConstraint { depth: 0 })));
}

#[test]
fn unknown_critical_extensions_and_path_length_are_enforced() {
    let p = Pki::new();
    let ca = p.der("ca");
    let odd = p.issue(
        "odd",
        "ca",
        "/CN=o",
        "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:est.example\n1.3.6.1.4.1.99999.1=critical,ASN1:NULL\n",
        &[],
    );
    assert_eq!(check(&ca, &[&odd], "est.example"), Err(VerifyError::Chain(ChainError::UnknownCriticalExtension { depth: 0 })));
    let i1 = p.issue("i1", "ca", "/CN=I1", "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign\n", &[]);
    let i2 = p.issue("i2", "i1", "/CN=I2", "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n", &[]);
    let leaf = p.issue("deep", "i2", "/CN=d", SERVER, &[]);
    assert_eq!(check(&ca, &[&leaf, &i2, &i1], "est.example"), Err(VerifyError::Chain(ChainError::PathLenExceeded { depth: 2 })));
}

#[test]
fn sha1_is_never_accepted_in_a_tls_chain() {
    let p = Pki::new();
    let ca = p.der("ca");
    let leaf = p.issue("sha1", "ca", "/CN=s", SERVER, &["-sha1"]);
    assert_eq!(check(&ca, &[&leaf], "est.example"), Err(VerifyError::Chain(ChainError::UnsupportedSignature { depth: 0 })));
}

#[test]
fn path_building_tries_another_issuer_and_takes_long_chains_up_to_the_limit() {
    let p = Pki::new();
    let ca = p.der("ca");
    // Two CAs with the same name: the first one offered did not sign the leaf.
    let good = p.issue("twin-a", "ca", "/CN=Twin", "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n", &[]);
    let decoy = p.issue("twin-b", "ca", "/CN=Twin", "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n", &[]);
    let leaf = p.issue("twin-leaf", "twin-a", "/CN=t", SERVER, &[]);
    assert_eq!(check(&ca, &[&leaf, &decoy, &good], "est.example"), Ok(()));
    // Eleven intermediates: over the default of ten, within a raised limit.
    let mut chain = vec![];
    let mut issuer = "ca".to_string();
    for i in 0..11 {
        let name = format!("l{i}");
        chain.push(p.issue(
            &name,
            &issuer,
            &format!("/CN=Level {i}"),
            "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n",
            &[],
        ));
        issuer = name;
    }
    let leaf = p.issue("long-leaf", &issuer, "/CN=l", SERVER, &[]);
    let mut certs: Vec<&[u8]> = vec![&leaf];
    certs.extend(chain.iter().rev().map(|c| c.as_slice()));
    assert_eq!(check(&ca, &certs, "est.example"), Err(VerifyError::Chain(ChainError::TooLong)));
    let mut v = ServerVerifier::new(ServerTrust::Anchor(&ca), "est.example", now()).unwrap().with_max_intermediates(12);
    assert_eq!(v.verify_chain(certs.iter().copied()), Ok(()));
}

#[test]
fn without_trusted_time_the_floor_refuses_what_expired_before_it_and_says_so() {
    let p = Pki::new();
    let ca = p.der("ca");
    let leaf = p.issue("server", "ca", "/CN=est.example", SERVER, &[]);
    let c = CertificateRef::parse(&leaf).unwrap();
    // A floor before the leaf's end: accepted, and the result says only the floor was checked.
    let mut v = ServerVerifier::new(ServerTrust::Anchor(&ca), "est.example", None).unwrap();
    assert_eq!(v.verify_chain([leaf.as_slice()].into_iter()), Ok(()));
    assert_eq!(v.validity(), Some(Validity::FloorOnly));
    // A floor after it (a firmware built after the certificate expired): refused.
    let late = UnixTime::from_secs(c.not_after().as_secs() + 1);
    let mut v = ServerVerifier::new(ServerTrust::Anchor(&ca), "est.example", None).unwrap().with_time_floor(late);
    assert_eq!(v.verify_chain([leaf.as_slice()].into_iter()), Err(VerifyError::Chain(ChainError::Expired { depth: 0 })));
    let mut v = ServerVerifier::new(ServerTrust::Anchor(&ca), "est.example", now()).unwrap();
    assert_eq!(v.verify_chain([leaf.as_slice()].into_iter()), Ok(()));
    assert_eq!(v.validity(), Some(Validity::Checked));
}

#[test]
fn an_rsa_key_with_a_public_exponent_over_2_32_is_refused() {
    let p = Pki::new();
    let ca = p.der("ca");
    // e = 2^64 + 13 (odd, > 2^32): a verification under it would cost far more than usual.
    let key = p.path("bige.key");
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-pkeyopt",
        "rsa_keygen_pubexp:18446744073709551629",
        "-out",
        s(&key),
    ]);
    let leaf = p.issue("bige", "ca", "/CN=e", SERVER, &[]);
    assert_eq!(check(&ca, &[&leaf], "est.example"), Err(VerifyError::BadCertificate));
    let n = [0xffu8; 256];
    assert!(RsaPublicKey::new(&n, &[0xff, 0xff, 0xff, 0xff]).is_ok(), "2^32 - 1 is the largest odd exponent allowed");
    assert!(RsaPublicKey::new(&n, &[1, 0, 0, 0, 1]).is_err());
    assert!(RsaPublicKey::new(&[&[0x0fu8][..], &n[..]].concat(), &[1, 0, 1]).is_err(), "2052 bits: not whole bytes");
    assert!(RsaPublicKey::new(&[&[0xffu8][..], &n[..]].concat(), &[1, 0, 1]).is_ok(), "2056 bits");
}
