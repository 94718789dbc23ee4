//! Phase 2: EST against est-ca over TLS 1.3 (the crate's embedded-tls connector) on the UART
//! link.
//!
//! The server is authenticated by the TLS trust anchor embedded at build time (`EST_TLS_CA`),
//! so `/cacerts` is not needed first (`CaCertsTrust::TlsAuthenticated`). The device key is a
//! P-256 soft key generated here from the (NOT SECURE) RNG. /simpleenroll sends HTTP Basic
//! credentials up front; /simplereenroll authenticates with the issued certificate as TLS
//! client certificate (the same key signs the CertificateVerify and the CSR).

use crate::clock::{SysTickTimer, now_ms};
use crate::config;
use crate::hw::Uart0;
use crate::rng::NotSecureDemoRng;
use crate::uart_link::UartLink;
use crate::{progress, show_certificate};
use cortex_m_semihosting::hprintln;
use embedded_enroll::UnixTime;
use embedded_enroll::asn1::csr::{CsrBuilder, NameAttribute};
use embedded_enroll::est::client::{Buffers, CaCertsTrust, Client, Config, Credentials, Operation, Outcome};
use embedded_enroll::hal::Signer;
use embedded_enroll::hal::soft::{P256_SPKI_LEN, SoftP256Key};
use embedded_enroll::http::base64::LineStyle;
use embedded_enroll::transport::blocking::{EcDevice, run_est};
use embedded_enroll::transport::tls::TlsConnector;
use embedded_enroll::transport::verify::ServerTrust;

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

const SUBJECT: [NameAttribute<'static>; 1] = [NameAttribute::common_name("qemu-mps2-an386")];

/// Runs /simpleenroll then /simplereenroll; true if both issued a certificate.
pub fn run(uart: &mut Uart0, rng: &mut NotSecureDemoRng, wall: Option<UnixTime>) -> bool {
    hprintln!("");
    hprintln!("== EST: est-ca at {} (TLS 1.3 over UART0 and the relay, server name {:?}) ==", config::EST_SERVER, config::EST_TLS_NAME);
    let Some(anchor) = config::EST_TLS_ANCHOR else {
        hprintln!("EST: no TLS trust anchor: build with EST_TLS_CA=<path of the server's tls-ca.pem>");
        return false;
    };
    let Some(memory) = cortex_m::singleton!(: EstMemory = EstMemory {
        tls_rx: [0; 16_640], tls_tx: [0; 4096], own: [0; 2048], work: [0; 8192], io: [0; 8192], issued: [0; 4096],
    }) else {
        hprintln!("EST: buffers already in use");
        return false;
    };
    let EstMemory { tls_rx, tls_tx, own, work, io, issued } = memory;

    let t = now_ms();
    let mut key = SoftP256Key::generate(rng);
    hprintln!("device key: P-256 generated in the firmware from the NOT-SECURE demo RNG ({} ms)", crate::clock::elapsed_ms(t));
    let mut spki = [0u8; P256_SPKI_LEN];
    if key.public_key_der(&mut spki).is_err() {
        hprintln!("EST: public key export failed");
        return false;
    }

    let (_, port) = config::split_addr(config::EST_SERVER);
    let mut cfg = Config::new(config::EST_TLS_NAME, CaCertsTrust::TlsAuthenticated, &spki);
    cfg.port = port;
    cfg.ca_certificate = config::EST_CA;
    cfg.body_style = LineStyle::OneLine; // est-ca refuses line breaks in the base64 body
    cfg.wall_time = wall;
    if config::EST_CA.is_some() {
        hprintln!("the issued certificates must be signed by the EST CA embedded at build time (EST_CA)");
    }

    // /simpleenroll with Basic credentials.
    hprintln!("EST /simpleenroll (HTTP Basic user {:?}, sent with the first request)", config::EST_USER);
    let issued_len;
    {
        let mut enroll_cfg = cfg;
        enroll_cfg.credentials = Some(Credentials { user: config::EST_USER, password: config::EST_PASSWORD, preemptive_basic: true });
        let bufs = Buffers { own: &mut own[..], work: &mut work[..], io: &mut io[..] };
        let mut client = match Client::new(enroll_cfg, Operation::Enroll(CsrBuilder::new(&SUBJECT)), bufs, rng.fork()) {
            Ok(c) => c,
            Err(e) => {
                hprintln!("EST: client configuration: {:?}", e);
                return false;
            }
        };
        let link = UartLink::new(uart, config::EST_SERVER);
        let mut tls: TlsConnector<'_, '_, _, _, SoftP256Key> =
            TlsConnector::new(link, &mut tls_rx[..], &mut tls_tx[..], rng.fork(), ServerTrust::Anchor(anchor), config::EST_TLS_NAME);
        if let Some(now) = wall {
            tls = tls.with_time(now);
        }
        let r = run_est(&mut client, &mut tls, &mut EcDevice(&mut key), &mut SysTickTimer, progress(now_ms()));
        match (r, client.certificate()) {
            (Ok(Outcome::Issued), Some(der)) if der.len() <= issued.len() => {
                issued[..der.len()].copy_from_slice(der);
                issued_len = der.len();
            }
            (r, _) => {
                hprintln!("EST /simpleenroll did not succeed: {:?} (TLS: {:?})", r, tls.last_error);
                return false;
            }
        }
    }
    let issued = &issued[..issued_len];
    show_certificate("EST /simpleenroll: issued certificate", issued);

    // /simplereenroll over mutual TLS: the issued certificate and the same key.
    hprintln!("EST /simplereenroll, TLS client certificate = the issued certificate");
    let bufs = Buffers { own: &mut own[..], work: &mut work[..], io: &mut io[..] };
    let mut client = match Client::new(cfg, Operation::ReEnroll(CsrBuilder::new(&SUBJECT)), bufs, rng.fork()) {
        Ok(c) => c,
        Err(e) => {
            hprintln!("EST: client configuration: {:?}", e);
            return false;
        }
    };
    // The TLS layer and the driver each hold the key mutably: two handles on the same key.
    let mut tls_key = key.clone();
    let link = UartLink::new(uart, config::EST_SERVER);
    let mut tls = TlsConnector::new(link, &mut tls_rx[..], &mut tls_tx[..], rng.fork(), ServerTrust::Anchor(anchor), config::EST_TLS_NAME)
        .with_client_certificate(issued, &mut tls_key);
    if let Some(now) = wall {
        tls = tls.with_time(now);
    }
    let r = run_est(&mut client, &mut tls, &mut EcDevice(&mut key), &mut SysTickTimer, progress(now_ms()));
    match (r, client.certificate()) {
        (Ok(Outcome::Issued), Some(der)) => {
            show_certificate("EST /simplereenroll: re-issued certificate", der);
            true
        }
        (r, _) => {
            hprintln!("EST /simplereenroll did not succeed: {:?} (TLS: {:?})", r, tls.last_error);
            false
        }
    }
}
