//! One SCEP operation against a server over plain TCP, through the crate's Sans-IO client
//! ([`embedded_enroll::scep::Client`]) and its blocking driver
//! ([`embedded_enroll::transport::blocking::run_scep`]). Shared by `examples/scep_demo.rs`
//! and the micromdm interop test (`tests/scep_micromdm.rs`), so the demo shows exactly what
//! CI checks.
#![allow(dead_code)]

use embedded_enroll::asn1::csr::{ChallengePassword, CsrBuilder, NameAttribute};
use embedded_enroll::crypto::rsa::RsaPrivateKey2048;
use embedded_enroll::hal::Signer;
use embedded_enroll::scep::ca::CaTrust;
use embedded_enroll::scep::client::{Buffers, Client, Config, Operation, Outcome};
use embedded_enroll::scep::{AlgorithmChoice, AlgorithmPolicy, CaCaps};
use embedded_enroll::transport::blocking::{Progress, RsaDevice, run_scep};
use embedded_enroll::transport::host::{StdTimer, TcpConnector};

/// The caller's buffers (sizes from the client's documentation).
pub struct Storage {
    ca: Vec<u8>,
    own: Vec<u8>,
    work: Vec<u8>,
    io: Vec<u8>,
}

impl Storage {
    pub fn new() -> Self {
        Self { ca: vec![0; 8192], own: vec![0; 4096], work: vec![0; 16384], io: vec![0; 16384] }
    }
    pub fn buffers(&mut self) -> Buffers<'_> {
        Buffers { ca: &mut self.ca, own: &mut self.own, work: &mut self.work, io: &mut self.io }
    }
}

/// What one run gave.
#[derive(Debug)]
pub struct Run {
    pub outcome: Outcome,
    /// The issued certificate (DER), on `Outcome::Issued`.
    pub certificate: Option<Vec<u8>>,
    pub caps: Option<CaCaps>,
    pub choice: Option<AlgorithmChoice>,
    /// Progress lines.
    pub log: Vec<String>,
}

fn log_line(log: &mut Vec<String>, verbose: bool, p: Progress<'_>) {
    let line = match p {
        Progress::Request(l) => format!("-> {l}"),
        Progress::Response(n) => format!("<- {n} bytes"),
        Progress::KeyOperation(k) => format!("   device key: {k}"),
        Progress::Waiting { ms, .. } => format!("   waiting {} s before polling", ms / 1000),
        Progress::TransportError(why) => format!("   transport error: {why}"),
        Progress::DeadlineExceeded { ms } => format!("   exchange abandoned at its deadline, after {} s", ms / 1000),
    };
    if verbose {
        println!("{line}");
    }
    log.push(line);
}

/// A SCEP server: `host:port` (path `/scep`) and its CA's SHA-256 fingerprint, learnt out
/// of band.
#[derive(Debug, Clone, Copy)]
pub struct Server<'a> {
    pub addr: &'a str,
    pub fingerprint: [u8; 32],
}

/// Runs `operation` for `key` against `server`.
pub fn run(server: Server<'_>, key: &mut RsaPrivateKey2048, operation: Operation<'_>, policy: AlgorithmPolicy, verbose: bool) -> Run {
    let (addr, ca_fingerprint) = (server.addr, server.fingerprint);
    let mut spki = [0u8; 600];
    let n = key.public_key_der(&mut spki).expect("public key");
    let (host, port) = addr.rsplit_once(':').expect("host:port");
    let mut config = Config::new(host, CaTrust::Fingerprint(ca_fingerprint), &spki[..n]);
    config.port = port.parse().ok();
    config.policy = policy;
    config.wall_time = Some(embedded_enroll::time::UnixTime::from_secs(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64,
    ));
    let mut storage = Storage::new();
    let mut client = Client::new(config, operation, storage.buffers(), rand::rngs::OsRng).expect("client configuration");
    let mut log = Vec::new();
    let outcome = run_scep(&mut client, &mut TcpConnector::new(addr), &mut RsaDevice(&mut *key), &mut StdTimer::default(), |p| {
        log_line(&mut log, verbose, p)
    })
    .expect("the SCEP driver");
    Run { certificate: client.certificate().map(<[u8]>::to_vec), caps: client.ca_caps(), choice: client.algorithms(), outcome, log }
}

/// PKCSReq (or RenewalReq with `renew`, signed by that certificate) for `key` with subject
/// `O=embedded-enroll, CN=<cn>` and the challenge password.
pub fn enroll(
    server: Server<'_>,
    key: &mut RsaPrivateKey2048,
    cn: &str,
    challenge: &str,
    policy: AlgorithmPolicy,
    renew: Option<&[u8]>,
    verbose: bool,
) -> Run {
    let subject = [NameAttribute::organization("embedded-enroll"), NameAttribute::common_name(cn)];
    let csr = CsrBuilder::new(&subject).challenge_password(ChallengePassword::Printable(challenge));
    let op = match renew {
        Some(certificate) => Operation::Renew { csr, certificate },
        None => Operation::Enroll(csr),
    };
    run(server, key, op, policy, verbose)
}
