//! Phase 2: EST against est-ca over TLS 1.3 (the crate's embedded-tls connector) on the
//! board's link.
//!
//! The server is authenticated by the TLS trust anchor embedded at build time (`EST_TLS_CA`),
//! so `/cacerts` is not needed first (`CaCertsTrust::TlsAuthenticated`). The device key is a
//! P-256 soft key generated here from the (NOT SECURE) RNG. /simpleenroll sends HTTP Basic
//! credentials up front; /simplereenroll authenticates with the issued certificate as TLS
//! client certificate (the same key signs the CertificateVerify and the CSR).

use crate::config;
use crate::rng::NotSecureDemoRng;
use crate::{Platform, Said, elapsed_ms, println, progress, show_certificate};
use embedded_enroll::UnixTime;
use embedded_enroll::asn1::csr::{CsrBuilder, NameAttribute};
use embedded_enroll::est::client::{Buffers, CaCertsTrust, Client, Config, Credentials, Operation, Outcome};
use embedded_enroll::hal::soft::{P256_SPKI_LEN, SoftP256Key};
use embedded_enroll::hal::{SharedKey, Signer};
use embedded_enroll::http::base64::LineStyle;
use embedded_enroll::transport::blocking::Timer;
use embedded_enroll::transport::blocking::{EcDevice, run_est};
use embedded_enroll::transport::tls::TlsConnector;
use embedded_enroll::transport::verify::ServerTrust;
use static_cell::{ConstStaticCell, StaticCell};

/// TLS record buffers (16 640 bytes: a full TLS record plus overhead, as `transport::tls`
/// recommends) and the EST client's buffers.
struct EstMemory {
    tls_rx: [u8; 16_640],
    tls_tx: [u8; 4096],
    own: [u8; 2048],
    work: [u8; 8192],
    io: [u8; 8192],
    /// The certificate issued by /simpleenroll (the TLS client certificate afterwards).
    issued: [u8; 4096],
}

/// The buffers: a static, taken once (in `.bss`, never on the stack).
static EST_MEMORY: ConstStaticCell<EstMemory> = ConstStaticCell::new(EstMemory {
    tls_rx: [0; 16_640],
    tls_tx: [0; 4096],
    own: [0; 2048],
    work: [0; 8192],
    io: [0; 8192],
    issued: [0; 4096],
});

/// The EST clients' generator (they need one only for HTTP Digest nonces): a fork of the
/// board's, in a static so that neither the clients nor the enrollment frames hold its
/// 300-byte state.
static EST_CLIENT_RNG: StaticCell<NotSecureDemoRng> = StaticCell::new();

/// Forks the board's generator into [`EST_CLIENT_RNG`] (once). A frame of its own (stack):
/// the fork is made here and moved into the static.
#[inline(never)]
fn client_rng(rng: &mut NotSecureDemoRng) -> Option<&'static mut NotSecureDemoRng> {
    EST_CLIENT_RNG.try_init(rng.fork())
}

/// A P-256 device key and its SubjectPublicKeyInfo (in `spki`). A frame of its own (stack):
/// the key generation's points are not part of the enrollment's frames.
#[inline(never)]
fn generate_key(rng: &mut NotSecureDemoRng, spki: &mut [u8; P256_SPKI_LEN]) -> Option<SoftP256Key> {
    let mut key = SoftP256Key::generate(rng);
    key.public_key_der(spki).ok().map(|_| key)
}

/// Runs /simpleenroll then /simplereenroll; true if both issued a certificate.
// A frame of its own: the two phases' locals are never on the stack together.
#[inline(never)]
pub fn run<P: Platform>(platform: &mut P, rng: &mut NotSecureDemoRng, wall: Option<UnixTime>) -> bool {
    println!("");
    println!("== EST: est-ca at {} (TLS 1.3 over {}, server name {:?}) ==", config::EST_SERVER, platform.path(), config::EST_TLS_NAME);
    let Some(anchor) = config::EST_TLS_ANCHOR else {
        println!("EST: no TLS trust anchor: build with EST_TLS_CA=<path of the server's tls-ca.pem>");
        return false;
    };
    let Some(memory) = EST_MEMORY.try_take() else {
        println!("EST: buffers already in use");
        return false;
    };
    let EstMemory { tls_rx, tls_tx, own, work, io, issued } = memory;
    let Some(client_rng) = client_rng(rng) else {
        println!("EST: generator already in use");
        return false;
    };

    let mut timer = platform.timer();
    let t = timer.now();
    let mut spki = [0u8; P256_SPKI_LEN];
    let Some(mut key) = generate_key(rng, &mut spki) else {
        println!("EST: public key export failed");
        return false;
    };
    println!("device key: P-256 generated in the firmware from the NOT-SECURE demo RNG ({} ms)", elapsed_ms(&mut timer, t));

    let subject = [NameAttribute::common_name(platform.name())];
    let (_, port) = config::split_addr(config::EST_SERVER);
    let mut cfg = Config::new(config::EST_TLS_NAME, CaCertsTrust::TlsAuthenticated, &spki);
    cfg.port = port;
    cfg.ca_certificate = config::EST_CA;
    cfg.body_style = LineStyle::OneLine; // est-ca refuses line breaks in the base64 body
    cfg.wall_time = wall;
    if config::EST_CA.is_some() {
        println!("the issued certificates must be signed by the EST CA embedded at build time (EST_CA)");
    }

    // /simpleenroll with Basic credentials.
    println!("EST /simpleenroll (HTTP Basic user {:?}, sent with the first request)", config::EST_USER);
    let m = EstBuffers { tls_rx, tls_tx, own, work, io };
    let Some(issued_len) = enroll(platform, rng, client_rng, &mut key, &cfg, &subject, anchor, wall, m, issued) else { return false };
    let issued = &issued[..issued_len];
    show_certificate("EST /simpleenroll: issued certificate", issued);

    // /simplereenroll over mutual TLS: the issued certificate and the same key.
    println!("EST /simplereenroll, TLS client certificate = the issued certificate");
    reenroll(platform, rng, client_rng, &mut key, &cfg, &subject, anchor, wall, EstBuffers { tls_rx, tls_tx, own, work, io }, issued)
}

/// The TLS and client buffers, lent to one enrollment.
struct EstBuffers<'m> {
    tls_rx: &'m mut [u8; 16_640],
    tls_tx: &'m mut [u8; 4096],
    own: &'m mut [u8; 2048],
    work: &'m mut [u8; 8192],
    io: &'m mut [u8; 8192],
}

/// The client for one enrollment, or `None` (printed) if the configuration is refused. A
/// frame of its own (stack): `Client::new`'s result is moved into the `Option` here, so the
/// caller's frame holds one client (about 1.4 KiB on Cortex-M) instead of the result and the
/// client. The client borrows its generator (a fork by value would add its 300-byte state).
#[inline(never)]
fn new_client<'a, 'b, 'r>(
    cfg: &Config<'a>,
    basic: bool,
    operation: Operation<'a>,
    bufs: Buffers<'b>,
    rng: &'r mut NotSecureDemoRng,
) -> Option<Client<'a, 'b, &'r mut NotSecureDemoRng>> {
    let mut cfg = *cfg;
    if basic {
        cfg.credentials = Some(Credentials { user: config::EST_USER, password: config::EST_PASSWORD, preemptive_basic: true });
    }
    match Client::new(cfg, operation, bufs, rng) {
        Ok(c) => Some(c),
        Err(e) => {
            println!("EST: client configuration: {}", e);
            None
        }
    }
}

/// /simpleenroll: the issued certificate copied into `issued`, its length returned. A frame
/// of its own (stack): the client and the TLS connector live only here.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn enroll<P: Platform>(
    platform: &mut P,
    rng: &mut NotSecureDemoRng,
    client_rng: &mut NotSecureDemoRng,
    key: &mut SoftP256Key,
    cfg: &Config<'_>,
    subject: &[NameAttribute<'_>],
    anchor: &[u8],
    wall: Option<UnixTime>,
    m: EstBuffers<'_>,
    issued: &mut [u8],
) -> Option<usize> {
    let bufs = Buffers { own: &mut m.own[..], work: &mut m.work[..], io: &mut m.io[..] };
    let mut slot = new_client(cfg, true, Operation::Enroll(CsrBuilder::new(subject)), bufs, &mut *client_rng);
    let client = slot.as_mut()?;
    let (mut timer, progress) = (platform.timer(), progress(platform.timer()));
    let link = platform.link(config::EST_SERVER);
    let mut tls: TlsConnector<'_, '_, _, _, SoftP256Key> =
        TlsConnector::new(link, &mut m.tls_rx[..], &mut m.tls_tx[..], &mut *rng, ServerTrust::Anchor(anchor), config::EST_TLS_NAME);
    if let Some(now) = wall {
        tls = tls.with_time(now);
    }
    let r = run_est(client, &mut tls, &mut EcDevice(key), &mut timer, progress);
    match (r, client.certificate()) {
        (Ok(Outcome::Issued), Some(der)) if der.len() <= issued.len() => {
            issued[..der.len()].copy_from_slice(der);
            Some(der.len())
        }
        (r, _) => {
            println!("EST /simpleenroll did not succeed: {} (TLS: {:?})", Said(&r), tls.last_error);
            None
        }
    }
}

/// /simplereenroll with `issued` as the TLS client certificate. A frame of its own (stack).
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn reenroll<P: Platform>(
    platform: &mut P,
    rng: &mut NotSecureDemoRng,
    client_rng: &mut NotSecureDemoRng,
    key: &mut SoftP256Key,
    cfg: &Config<'_>,
    subject: &[NameAttribute<'_>],
    anchor: &[u8],
    wall: Option<UnixTime>,
    m: EstBuffers<'_>,
    issued: &[u8],
) -> bool {
    let bufs = Buffers { own: &mut m.own[..], work: &mut m.work[..], io: &mut m.io[..] };
    let mut slot = new_client(cfg, false, Operation::ReEnroll(CsrBuilder::new(subject)), bufs, &mut *client_rng);
    let Some(client) = slot.as_mut() else { return false };
    // The TLS layer (CertificateVerify) and the driver (the CSR) take turns on the one key:
    // each holds a shared handle, no copy of the secret is made.
    let shared = SharedKey::new(key);
    let mut tls_key = &shared;
    let (mut timer, progress) = (platform.timer(), progress(platform.timer()));
    let link = platform.link(config::EST_SERVER);
    let mut tls =
        TlsConnector::new(link, &mut m.tls_rx[..], &mut m.tls_tx[..], &mut *rng, ServerTrust::Anchor(anchor), config::EST_TLS_NAME)
            .with_client_certificate(issued, &mut tls_key);
    if let Some(now) = wall {
        tls = tls.with_time(now);
    }
    let r = run_est(client, &mut tls, &mut EcDevice(&shared), &mut timer, progress);
    match (r, client.certificate()) {
        (Ok(Outcome::Issued), Some(der)) => {
            show_certificate("EST /simplereenroll: re-issued certificate", der);
            true
        }
        (r, _) => {
            println!("EST /simplereenroll did not succeed: {} (TLS: {:?})", Said(&r), tls.last_error);
            false
        }
    }
}
