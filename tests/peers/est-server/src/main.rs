//! Test-only EST peer: the `est-ca` crate's EST server (a library we did not write) behind a
//! rustls listener on 127.0.0.1, for embedded-enroll's interop tests.
//!
//!   est-server --dir DIR --port PORT [--user USER --password PASS] [--tls-key p256|rsa]
//!              [--tls12-only]
//!
//! DIR receives:
//!   ca.pem                 the EST CA certificate as est-ca serves it from /cacerts (PEM)
//!   ca-key.pem, ca-source.pem  the EST CA key and the certificate first generated for it
//!                          (reused on the next start; est-ca re-signs it when loading)
//!   serial                 est-ca's audit counter (FileSerialStore)
//!   tls-ca.pem             trust anchor for the TLS server certificate (new every start)
//!   tls-server.pem, tls-server-key.pem  the TLS server certificate and key
//!   est-server.pid         this process's PID
//!
//! Prints `listening on 127.0.0.1:PORT` on stdout once it accepts connections; logs one line
//! per request on stderr.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use est_ca::auth::{AuthBackend, Principal};
use est_ca::ca::{CertProfile, FileSerialStore, Issuer};
use est_ca::est::server::EstServer;
use hyper::{Body, Request};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

const USAGE: &str = "usage: est-server --dir DIR --port PORT [--user USER --password PASS] \
                     [--tls-key p256|rsa] [--tls12-only]";

#[derive(Clone, Copy, Debug, PartialEq)]
enum TlsKey {
    P256,
    Rsa,
}

struct Args {
    dir: PathBuf,
    port: u16,
    user: String,
    password: String,
    tls_key: TlsKey,
    tls12_only: bool,
}

fn parse_args() -> Result<Args> {
    let mut dir = None;
    let mut port = None;
    let mut user = "device".to_string();
    let mut password = "secret".to_string();
    let mut tls_key = TlsKey::P256;
    let mut tls12_only = false;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = |name: &str| it.next().with_context(|| format!("{name} needs a value\n{USAGE}"));
        match a.as_str() {
            "--dir" => dir = Some(PathBuf::from(val("--dir")?)),
            "--port" => port = Some(val("--port")?.parse::<u16>().context("--port")?),
            "--user" => user = val("--user")?,
            "--password" => password = val("--password")?,
            "--tls-key" => {
                tls_key = match val("--tls-key")?.as_str() {
                    "p256" => TlsKey::P256,
                    "rsa" => TlsKey::Rsa,
                    other => bail!("--tls-key {other}: expected p256 or rsa"),
                }
            }
            "--tls12-only" => tls12_only = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}\n{USAGE}"),
        }
    }
    Ok(Args {
        dir: dir.context(USAGE)?,
        port: port.context(USAGE)?,
        user,
        password,
        tls_key,
        tls12_only,
    })
}

/// HTTP Basic for /simpleenroll: one user, one password. The principal (and so the issued
/// subject CN) is the user name, as in est-ca's own examples.
struct OneUser {
    user: String,
    password: String,
}

impl AuthBackend for OneUser {
    fn verify_bootstrap(&self, user: &str, pass: &str) -> std::result::Result<Principal, String> {
        // Constant-time enough for a loopback test peer (est-ca's docs ask for it).
        let eq = |a: &[u8], b: &[u8]| {
            a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
        };
        if eq(user.as_bytes(), self.user.as_bytes()) && eq(pass.as_bytes(), self.password.as_bytes())
        {
            Ok(Principal::new(user))
        } else {
            Err("bad credentials".into())
        }
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    let cfg = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    pem::encode_config(&pem::Pem::new(label, der), cfg)
}

fn write(path: &Path, contents: &str) -> Result<()> {
    std::fs::write(path, contents).with_context(|| format!("write {}", path.display()))
}

/// Load the EST CA from DIR, or create it there first. The new CA is shaped exactly like
/// est-ca's own `Issuer::generate_self_signed` (P-256, rcgen defaults), but its key is kept on
/// disk so the same CA survives restarts. est-ca's `Issuer::load_pem` re-signs the certificate
/// it loads, so the CA certificate it serves differs from ca-source.pem in its signature bytes.
fn est_issuer(dir: &Path) -> Result<Issuer> {
    let key_path = dir.join("ca-key.pem");
    let src_path = dir.join("ca-source.pem");
    if !key_path.exists() || !src_path.exists() {
        let cn = "est-ca test CA";
        let mut params = CertificateParams::new(vec![cn.to_string()])?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, cn);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate()?; // P-256, ECDSA with SHA-256
        let cert = params.self_signed(&key)?;
        write(&key_path, &key.serialize_pem())?;
        write(&src_path, &cert.pem())?;
    }
    let serials = Arc::new(FileSerialStore::open(dir.join("serial"))?);
    let issuer = Issuer::load_pem(&src_path, &key_path, CertProfile::default(), serials)
        .context("est-ca Issuer::load_pem")?;
    Ok(issuer)
}

fn tls_keypair(kind: TlsKey) -> Result<KeyPair> {
    Ok(match kind {
        TlsKey::P256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?,
        TlsKey::Rsa => {
            let rsa = openssl::rsa::Rsa::generate(2048)?;
            let pkey = openssl::pkey::PKey::from_rsa(rsa)?;
            let pkcs8 = pkey.private_key_to_pkcs8()?;
            // sha256WithRSAEncryption (PKCS#1 v1.5) signatures.
            KeyPair::from_pkcs8_der_and_sign_algo(
                &PrivatePkcs8KeyDer::from(pkcs8),
                &rcgen::PKCS_RSA_SHA256,
            )?
        }
    })
}

/// A fresh TLS CA and a server certificate for `localhost` / 127.0.0.1 signed by it, both
/// with the requested key type. Returns (server cert DER, server key PKCS#8 DER).
fn tls_material(dir: &Path, kind: TlsKey) -> Result<(Vec<u8>, Vec<u8>)> {
    let now = SystemTime::now();
    let not_before = now - Duration::from_secs(3600);
    let tag = match kind {
        TlsKey::P256 => "P-256",
        TlsKey::Rsa => "RSA",
    };

    let ca_key = tls_keypair(kind)?;
    let mut ca = CertificateParams::default();
    ca.distinguished_name.push(DnType::CommonName, format!("est-server test TLS CA ({tag})"));
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.not_before = not_before.into();
    ca.not_after = (now + Duration::from_secs(3 * 365 * 86_400)).into();
    let ca_cert = ca.self_signed(&ca_key)?;

    let key = tls_keypair(kind)?;
    let mut leaf = CertificateParams::default();
    leaf.distinguished_name.push(DnType::CommonName, "localhost");
    leaf.subject_alt_names = vec![
        SanType::DnsName("localhost".try_into()?),
        SanType::IpAddress(Ipv4Addr::LOCALHOST.into()),
    ];
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.key_usages = match kind {
        TlsKey::P256 => vec![KeyUsagePurpose::DigitalSignature],
        TlsKey::Rsa => vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment],
    };
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    leaf.not_before = not_before.into();
    leaf.not_after = (now + Duration::from_secs(365 * 86_400)).into();
    let leaf_cert = leaf.signed_by(&key, &ca_cert, &ca_key)?;

    write(&dir.join("tls-ca.pem"), &ca_cert.pem())?;
    write(&dir.join("tls-server.pem"), &leaf_cert.pem())?;
    write(&dir.join("tls-server-key.pem"), &key.serialize_pem())?;
    Ok((leaf_cert.der().to_vec(), key.serialize_der()))
}

fn tls_config(args: &Args, est_ca_der: &[u8], cert: Vec<u8>, key: Vec<u8>) -> Result<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // Optional client certificates, verified against the EST CA (for /simplereenroll).
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from(est_ca_der.to_vec()))?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()?;
    let versions: &[&rustls::SupportedProtocolVersion] = if args.tls12_only {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![CertificateDer::from(cert)],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
        )?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// Common name of a (rustls-verified) client certificate.
fn subject_cn(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?.as_str().ok()?.to_string();
    Some(cn)
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("est-server: {e:#}");
        std::process::exit(1);
    }
}

async fn run() -> Result<()> {
    let args = parse_args()?;
    std::fs::create_dir_all(&args.dir).with_context(|| format!("mkdir {}", args.dir.display()))?;

    let issuer = est_issuer(&args.dir)?;
    let ca_der = issuer.ca_cert_der().to_vec();
    // What /cacerts serves, byte for byte (for this run).
    write(&args.dir.join("ca.pem"), &pem("CERTIFICATE", &ca_der))?;

    let (cert, key) = tls_material(&args.dir, args.tls_key)?;
    let acceptor = TlsAcceptor::from(Arc::new(tls_config(&args, &ca_der, cert, key)?));

    let auth = Arc::new(OneUser { user: args.user.clone(), password: args.password.clone() });
    let router = EstServer::new(issuer, auth).router();

    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)))
        .await
        .with_context(|| format!("bind 127.0.0.1:{}", args.port))?;
    let port = listener.local_addr()?.port();
    write(&args.dir.join("est-server.pid"), &format!("{}\n", std::process::id()))?;
    println!("listening on 127.0.0.1:{port}");
    use std::io::Write as _;
    std::io::stdout().flush()?;

    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                eprintln!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(Duration::from_secs(20), acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    eprintln!("{peer}: TLS handshake failed: {e}");
                    return;
                }
                Err(_) => {
                    eprintln!("{peer}: TLS handshake timed out");
                    return;
                }
            };
            let (_, conn) = tls.get_ref();
            let principal = conn
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(|c| subject_cn(c));
            eprintln!(
                "{peer}: TLS {:?} {:?} client-cert CN={:?}",
                conn.protocol_version(),
                conn.negotiated_cipher_suite().map(|s| s.suite()),
                principal
            );
            let svc = hyper::service::service_fn(move |mut req: Request<Body>| {
                let router = router.clone();
                let principal = principal.clone();
                async move {
                    let line = format!("{} {}", req.method(), req.uri());
                    if let Some(cn) = principal {
                        req.extensions_mut().insert(Principal::new(cn));
                    }
                    let resp = router.oneshot(req).await?;
                    eprintln!("{peer}: {line} -> {}", resp.status());
                    Ok::<_, Infallible>(resp)
                }
            });
            if let Err(e) = hyper::server::conn::Http::new()
                .http1_only(true)
                .serve_connection(tls, svc)
                .await
            {
                eprintln!("{peer}: HTTP: {e}");
            }
        });
    }
}
