//! Phase 1: SCEP against micromdm over plain HTTP on the board's link.
//!
//! The crate's `Operation::Enroll` runs GetCACaps, GetCACert (checked against the pinned
//! SHA-256 fingerprint) and PKCSReq; `Operation::Renew` then runs a RenewalReq signed with
//! the issued certificate. The device key is RSA-2048 (micromdm accepts only RSA), loaded
//! from the DER embedded at build time.

use crate::config;
use crate::rng::NotSecureDemoRng;
use crate::{Hex, Platform, Said, elapsed_ms, println, progress, show_certificate};
use embedded_enroll::UnixTime;
use embedded_enroll::asn1::csr::{ChallengePassword, CsrBuilder, NameAttribute};
use embedded_enroll::crypto::rsa::RsaPrivateKey2048;
use embedded_enroll::hal::Signer;
use embedded_enroll::scep::ca::CaTrust;
use embedded_enroll::scep::client::{Buffers, Client, Config, Operation, Outcome};
use embedded_enroll::scep::{AlgorithmPolicy, Capability};
use embedded_enroll::transport::blocking::Timer;
use embedded_enroll::transport::blocking::{RsaDevice, run_scep};
use static_cell::ConstStaticCell;

/// The SCEP client's buffers (sizes from `scep::client`'s documentation, with room).
struct ScepMemory {
    ca: [u8; 4096],
    own: [u8; 4096],
    work: [u8; 12288],
    io: [u8; 12288],
    /// The certificate issued by the PKCSReq (signs the RenewalReq).
    issued: [u8; 4096],
}

/// The client buffers: a static, taken once (in `.bss`, never on the stack).
static SCEP_MEMORY: ConstStaticCell<ScepMemory> =
    ConstStaticCell::new(ScepMemory { ca: [0; 4096], own: [0; 4096], work: [0; 12288], io: [0; 12288], issued: [0; 4096] });

/// The device key's storage (a static: the 2 KiB key stays off the stack).
static SCEP_KEY: ConstStaticCell<Option<RsaPrivateKey2048>> = ConstStaticCell::new(None);

/// Loads the device key into [`SCEP_KEY`], built in place (`load_pkcs1_der`): the key is
/// never a value on the stack, neither while its checks run nor when it is returned.
#[inline(never)]
fn load_key(rng: &mut NotSecureDemoRng) -> Result<&'static mut RsaPrivateKey2048, embedded_enroll::CryptoError> {
    let slot = SCEP_KEY.try_take().ok_or(embedded_enroll::CryptoError::InvalidKey)?;
    if RsaPrivateKey2048::load_pkcs1_der(slot, config::SCEP_RSA_KEY, rng).is_err() {
        RsaPrivateKey2048::load_pkcs8_der(slot, config::SCEP_RSA_KEY, rng)?;
    }
    slot.as_mut().ok_or(embedded_enroll::CryptoError::InvalidKey)
}

/// The key's SubjectPublicKeyInfo into `out`. A frame of its own (stack): the encoding's
/// buffers (half a KiB) are not part of the enrollment's frames.
#[inline(never)]
fn public_key_der(key: &mut RsaPrivateKey2048, out: &mut [u8]) -> Result<usize, embedded_enroll::CryptoError> {
    key.public_key_der(out)
}

/// Runs PKCSReq then RenewalReq; true if both issued a certificate.
// A frame of its own: the two phases' locals are never on the stack together.
#[inline(never)]
pub fn run<P: Platform>(platform: &mut P, rng: &mut NotSecureDemoRng, wall: Option<UnixTime>) -> bool {
    println!("");
    println!("== SCEP: micromdm at {} (plain HTTP over {}) ==", config::SCEP_SERVER, platform.path());
    let Some(fingerprint) = config::SCEP_CA_FINGERPRINT else {
        println!("SCEP: no CA fingerprint: build with SCEP_CA_FINGERPRINT=<SHA-256 hex of the CA certificate>");
        return false;
    };
    println!("CA pinned by SHA-256 fingerprint {}", Hex(&fingerprint));
    let Some(memory) = SCEP_MEMORY.try_take() else {
        println!("SCEP: buffers already in use");
        return false;
    };
    let ScepMemory { ca, own, work, io, issued } = memory;

    let mut timer = platform.timer();
    let t = timer.now();
    let key = match load_key(rng) {
        Ok(k) => k,
        Err(e) => {
            println!("SCEP: the RSA key does not load (RSA-2048, PKCS#1 or PKCS#8 DER expected): {}", e);
            return false;
        }
    };
    println!("device key: RSA-2048 from {} (loaded in {} ms)", config::SCEP_RSA_KEY_SOURCE, elapsed_ms(&mut timer, t));
    let mut spki = [0u8; 320];
    let spki = match public_key_der(key, &mut spki) {
        Ok(n) => &spki[..n],
        Err(e) => {
            println!("SCEP: public key: {}", e);
            return false;
        }
    };

    let (host, port) = config::split_addr(config::SCEP_SERVER);
    let mut cfg = Config::new(host, CaTrust::Fingerprint(fingerprint), spki);
    cfg.port = port;
    cfg.wall_time = wall;
    // micromdm encrypts its replies with single DES whatever the request used: allowed for
    // this server explicitly (the default policy refuses DES replies).
    cfg.policy = AlgorithmPolicy::default().with_single_des();
    println!("SCEP policy: requests AES/SHA-256 when offered; replies in single DES accepted (micromdm sends them)");
    let subject = [NameAttribute::organization("embedded-enroll"), NameAttribute::common_name(platform.name())];
    let csr = CsrBuilder::new(&subject).challenge_password(ChallengePassword::Printable(config::SCEP_CHALLENGE));

    // PKCSReq (after GetCACaps and GetCACert).
    println!("SCEP PKCSReq for O=embedded-enroll, CN={} (challenge password from the build)", platform.name());
    let Some(issued_len) = enroll(platform, rng, key, cfg, csr, ScepBuffers { ca, own, work, io }, issued) else { return false };
    let issued = &issued[..issued_len];
    show_certificate("SCEP PKCSReq: issued certificate", issued);

    // RenewalReq signed with the issued certificate and its key.
    println!("SCEP RenewalReq signed with the issued certificate");
    renew(platform, rng, key, cfg, csr, ScepBuffers { ca, own, work, io }, issued)
}

/// The client buffers, lent to one enrollment.
struct ScepBuffers<'m> {
    ca: &'m mut [u8; 4096],
    own: &'m mut [u8; 4096],
    work: &'m mut [u8; 12288],
    io: &'m mut [u8; 12288],
}

/// The client for one enrollment, or `None` (printed) if the configuration is refused. A
/// frame of its own (stack): `Client::new`'s result is moved into the `Option` here, so the
/// caller's frame holds one client (about 1.4 KiB on Cortex-M) instead of the result and the
/// client. The client borrows the board's generator (a fork of it by value would add its
/// 300-byte state to the client).
#[inline(never)]
fn new_client<'a, 'b, 'r>(
    cfg: Config<'a>,
    operation: Operation<'a>,
    bufs: Buffers<'b>,
    rng: &'r mut NotSecureDemoRng,
) -> Option<Client<'a, 'b, &'r mut NotSecureDemoRng>> {
    match Client::new(cfg, operation, bufs, rng) {
        Ok(c) => Some(c),
        Err(e) => {
            println!("SCEP: client configuration: {}", e);
            None
        }
    }
}

/// The PKCSReq: the issued certificate copied into `issued`, its length returned. A frame of
/// its own (stack): the client lives only here.
#[inline(never)]
fn enroll<P: Platform>(
    platform: &mut P,
    rng: &mut NotSecureDemoRng,
    key: &mut RsaPrivateKey2048,
    cfg: Config<'_>,
    csr: CsrBuilder<'_>,
    m: ScepBuffers<'_>,
    issued: &mut [u8],
) -> Option<usize> {
    let bufs = Buffers { ca: &mut m.ca[..], own: &mut m.own[..], work: &mut m.work[..], io: &mut m.io[..] };
    let mut slot = new_client(cfg, Operation::Enroll(csr), bufs, &mut *rng);
    let client = slot.as_mut()?;
    let (mut timer, progress) = (platform.timer(), progress(platform.timer()));
    let mut link = platform.link(config::SCEP_SERVER);
    let r = run_scep(client, &mut link, &mut RsaDevice(key), &mut timer, progress);
    if let Some(caps) = client.ca_caps() {
        println!("GetCACaps: {}", CapsList(caps));
    }
    if let Some(choice) = client.algorithms() {
        println!("algorithms chosen: {:?}", choice);
    }
    println!("transaction ID: {}", client.transaction_id());
    match (r, client.certificate()) {
        (Ok(Outcome::Issued), Some(der)) if der.len() <= issued.len() => {
            issued[..der.len()].copy_from_slice(der);
            Some(der.len())
        }
        (r, _) => {
            println!("SCEP PKCSReq did not succeed: {}", Said(&r));
            None
        }
    }
}

/// The RenewalReq signed with `issued` and its key. A frame of its own (stack).
#[inline(never)]
fn renew<P: Platform>(
    platform: &mut P,
    rng: &mut NotSecureDemoRng,
    key: &mut RsaPrivateKey2048,
    cfg: Config<'_>,
    csr: CsrBuilder<'_>,
    m: ScepBuffers<'_>,
    issued: &[u8],
) -> bool {
    let bufs = Buffers { ca: &mut m.ca[..], own: &mut m.own[..], work: &mut m.work[..], io: &mut m.io[..] };
    let mut slot = new_client(cfg, Operation::Renew { csr, certificate: issued }, bufs, &mut *rng);
    let Some(client) = slot.as_mut() else { return false };
    let (mut timer, progress) = (platform.timer(), progress(platform.timer()));
    let mut link = platform.link(config::SCEP_SERVER);
    let r = run_scep(client, &mut link, &mut RsaDevice(key), &mut timer, progress);
    match (r, client.certificate()) {
        (Ok(Outcome::Issued), Some(der)) => {
            show_certificate("SCEP RenewalReq: renewed certificate", der);
            true
        }
        (r, _) => {
            println!("SCEP RenewalReq did not succeed: {}", Said(&r));
            false
        }
    }
}

/// GetCACaps keywords, space-separated.
struct CapsList(embedded_enroll::scep::CaCaps);

impl core::fmt::Display for CapsList {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let all = [
            Capability::Aes,
            Capability::Des3,
            Capability::GetNextCaCert,
            Capability::PostPkiOperation,
            Capability::Renewal,
            Capability::Sha1,
            Capability::Sha256,
            Capability::Sha512,
            Capability::ScepStandard,
        ];
        let mut first = true;
        for c in all.into_iter().filter(|c| self.0.has(*c)) {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            f.write_str(c.keyword())?;
        }
        if first {
            f.write_str("(none)")?;
        }
        Ok(())
    }
}
