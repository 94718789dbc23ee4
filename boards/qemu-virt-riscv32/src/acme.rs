//! An ACME (RFC 8555) enrollment at boot (feature `acme`): a certificate for one DNS name
//! (`ACME_IDENTIFIER`, default `device.acme.test`) from the ACME server the image was built
//! for (pebble, `ACME_SERVER`), with the http-01 challenge answered by the image itself
//! ([`crate::http01`]: smoltcp sockets listening on guest port 80).
//!
//! - The library's ACME client driven by `transport::blocking::run_acme`: every request over
//!   a new TLS 1.3 connection (the crate's embedded-tls connector, the server authenticated by
//!   `ACME_TLS_CA` under the name `ACME_HOST`) on the board's TCP stack; every JWS signed by
//!   the account key, the CSR by the certificate key; the issued chain checked by the client
//!   against `ACME_ROOT` (pebble's root).
//! - `ACME_HOST` (default `localhost`) is the name the client gives the server (`Host`
//!   header, TLS server name): pebble builds its URLs from the `Host` header and the client
//!   requires every URL on that host and port, while the TCP connection goes to
//!   `ACME_SERVER`'s address (127.0.0.1: the gateway 10.0.2.2 from the guest).
//! - Keys: P-256 in the flash's key slots, NOT SECURE (in the clear, see
//!   `board_common::flash`): the account key in slot [`ACCOUNT_SLOT`], generated once and kept
//!   (the next boot finds the same account), the certificate key in slot [`CERT_SLOT`],
//!   generated for every order.
//! - `run_acme` blocks, and its waits (authorization and order polling, Retry-After) go
//!   through [`PollingTimer`], which polls the interface while it waits: the listeners keep
//!   answering the validation requests. The stack and the timer share the board's
//!   `PolledStack` through a `RefCell` ([`Shared`]): the connector borrows it for one TCP call
//!   at a time, the timer only between exchanges.
//! - The buffers (the client's, embedded-tls' records) and the client are statics.
//!
//! Prints the issued certificate (subject, SAN, serial, ...) and the chain as PEM between
//! `ACME chain (PEM, leaf first): begin` and `... end` lines, for `openssl verify` on the host.

use crate::clock::MtimeTimer;
use crate::net::{PolledError, PolledStack};
use crate::{http01, net};
use board_common::flash::{Flash, NorFlash};
use board_common::rng::NotSecureDemoRng;
use board_common::{Hex, config, elapsed_ms, println, show_certificate};
use core::cell::RefCell;
use core::net::SocketAddr;
use embedded_enroll::UnixTime;
use embedded_enroll::acme::client::{Buffers, ChallengeTask, Client, Config, Identifier, Operation, Outcome, Responder};
use embedded_enroll::asn1::cert::{CertificateRef, GeneralName};
use embedded_enroll::asn1::csr::{CsrBuilder, NameAttribute, SubjectAltName};
use embedded_enroll::crypto::Digest;
use embedded_enroll::hal::soft::SoftP256Key;
use embedded_enroll::hal::{self, ErrorKind, KeyRole, Signer};
use embedded_enroll::http::base64::{self, LineStyle};
use embedded_enroll::time::Instant;
use embedded_enroll::transport::blocking::{DeviceKeys, Timer, run_acme};
use embedded_enroll::transport::nal::NalConnector;
use embedded_enroll::transport::tls::TlsConnector;
use embedded_enroll::transport::verify::ServerTrust;
use embedded_nal::{TcpClientStack, nb};
use smoltcp::iface::SocketHandle;
use static_cell::{ConstStaticCell, StaticCell};

/// The flash key slot of the ACME account key (kept across boots).
pub const ACCOUNT_SLOT: u8 = 2;
/// The flash key slot of the certificate key (new for every order).
pub const CERT_SLOT: u8 = 3;
/// The stream of the demo generator the ACME run draws from (`NotSecureDemoRng::for_boot_part`):
/// not the enrollments' stream 0.
const RNG_PART: u32 = 1;

/// The client's buffers and embedded-tls' record buffers, in `.bss`.
struct Memory {
    /// URLs, the account and order state, the CSR, the issued chain (DER).
    work: [u8; 8192],
    /// One request or reply (the largest: the PEM chain).
    io: [u8; 8192],
    tls_read: [u8; 16640],
    tls_write: [u8; 4096],
    account_spki: [u8; 96],
    cert_spki: [u8; 96],
}

static MEMORY: ConstStaticCell<Memory> = ConstStaticCell::new(Memory {
    work: [0; 8192],
    io: [0; 8192],
    tls_read: [0; 16640],
    tls_write: [0; 4096],
    account_spki: [0; 96],
    cert_spki: [0; 96],
});
/// The two keys (loaded or generated), the client and the generator: statics, off the stack.
static KEYS: StaticCell<[SoftP256Key; 2]> = StaticCell::new();
static CLIENT: StaticCell<Client<'static, 'static>> = StaticCell::new();
static RNG: StaticCell<NotSecureDemoRng> = StaticCell::new();

/// What the order asks for: the DNS name, as the identifier, the CSR's subject CN and its SAN.
static IDENTIFIERS: [Identifier<'static>; 1] = [Identifier::Dns(config::ACME_IDENTIFIER)];
static SUBJECT: [NameAttribute<'static>; 1] = [NameAttribute::common_name(config::ACME_IDENTIFIER)];
static SANS: [SubjectAltName<'static>; 1] = [SubjectAltName::Dns(config::ACME_IDENTIFIER)];

/// The board's stack shared by the ACME run's connector and its timer.
pub struct Shared<'s>(pub &'s RefCell<&'static mut PolledStack>);

impl TcpClientStack for Shared<'_> {
    type TcpSocket = SocketHandle;
    type Error = PolledError;

    fn socket(&mut self) -> Result<SocketHandle, PolledError> {
        self.0.borrow_mut().socket()
    }
    fn connect(&mut self, socket: &mut SocketHandle, remote: SocketAddr) -> nb::Result<(), PolledError> {
        self.0.borrow_mut().connect(socket, remote)
    }
    fn send(&mut self, socket: &mut SocketHandle, buffer: &[u8]) -> nb::Result<usize, PolledError> {
        self.0.borrow_mut().send(socket, buffer)
    }
    fn receive(&mut self, socket: &mut SocketHandle, buffer: &mut [u8]) -> nb::Result<usize, PolledError> {
        self.0.borrow_mut().receive(socket, buffer)
    }
    fn close(&mut self, socket: SocketHandle) -> Result<(), PolledError> {
        self.0.borrow_mut().close(socket)
    }
}

/// The ACME run's clock: `mtime`, and while it waits the interface is polled (the http-01
/// listeners answer the validation requests that come during authorization polling).
pub struct PollingTimer<'s>(pub &'s RefCell<&'static mut PolledStack>);

impl Timer for PollingTimer<'_> {
    fn now(&mut self) -> Instant {
        MtimeTimer.now()
    }

    fn sleep_until(&mut self, deadline: Instant) -> bool {
        while self.now() < deadline {
            // Never borrowed here (the driver waits between exchanges); skipped if it were.
            if let Ok(mut stack) = self.0.try_borrow_mut() {
                stack.poll();
            }
            core::hint::spin_loop();
        }
        true
    }
}

/// The http-01 responder: publishes the task into [`http01::PUBLISHED`] for the listeners.
struct Http01Responder {
    since: Instant,
}

impl Responder for Http01Responder {
    fn publish(&mut self, task: &ChallengeTask<'_>) -> bool {
        let t = elapsed_ms(&mut MtimeTimer, self.since);
        let ok = http01::publish(task);
        if ok {
            println!(
                "[ACME] [{:>6} ms] http-01 for {}: answering GET /.well-known/acme-challenge/{} on guest port {} ({} sockets listening)",
                t,
                task.identifier,
                task.token,
                http01::PORT,
                http01::LISTENERS
            );
        } else {
            println!("[ACME] [{:>6} ms] {:?} challenge for {}: not answered (not http-01, or too long)", t, task.kind, task.identifier);
        }
        ok
    }

    fn withdraw(&mut self, task: &ChallengeTask<'_>) {
        let t = elapsed_ms(&mut MtimeTimer, self.since);
        let (answered, refused) = http01::withdraw();
        println!(
            "[ACME] [{:>6} ms] http-01 for {} withdrawn: {} validation request(s) answered with the key authorization, {} other request(s) refused",
            t, task.identifier, answered, refused
        );
    }
}

/// The device's keys by role: the account key signs every JWS, the certificate key the CSR.
struct AcmeKeys<'k> {
    keys: &'k mut [SoftP256Key; 2],
}

#[inline(never)]
fn p256_sign(key: &mut SoftP256Key, digest: &Digest, out: &mut [u8]) -> Result<usize, ErrorKind> {
    key.sign_prehash(digest, out).map_err(|e| hal::Error::kind(&e))
}

impl DeviceKeys for AcmeKeys<'_> {
    fn sign(&mut self, role: KeyRole, digest: &Digest, out: &mut [u8]) -> Result<usize, ErrorKind> {
        let [account, certificate] = &mut *self.keys;
        p256_sign(if role == KeyRole::Account { account } else { certificate }, digest, out)
    }
    fn decrypt(&mut self, _: KeyRole, _: &[u8], _: &mut [u8]) -> Result<(), ErrorKind> {
        Err(ErrorKind::Unsupported)
    }
    fn agree(&mut self, _: KeyRole, _: &[u8], _: &mut [u8; 32]) -> Result<(), ErrorKind> {
        Err(ErrorKind::Unsupported)
    }
}

/// What the ACME run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcmeOutcome {
    /// A certificate was issued (and its chain leads to `ACME_ROOT`).
    Issued,
    /// It failed (printed why).
    Failed,
}

/// Orders a certificate for `ACME_IDENTIFIER` from `ACME_SERVER`, answering http-01 on the
/// board's stack; prints the certificate and its chain. The keys live in `flash`.
pub fn run<F: NorFlash>(
    stack: &'static mut PolledStack,
    flash: &mut Flash<F>,
    boot: u32,
    wall: Option<UnixTime>,
) -> (AcmeOutcome, u64, &'static mut PolledStack) {
    println!("");
    let Some(server) = config::ACME_SERVER else {
        println!("ACME: built with feature acme but without ACME_SERVER (and ACME_TLS_CA, ACME_ROOT): see run.sh");
        return (AcmeOutcome::Failed, 0, stack);
    };
    println!(
        "== ACME identity: ACME server at {} (https://{}:{}{}; TLS 1.3 over smoltcp, server name {:?}) ==",
        server,
        config::ACME_HOST,
        config::split_addr(server).1.unwrap_or(443),
        config::ACME_DIRECTORY,
        config::ACME_HOST
    );
    let (Some(tls_anchor), Some(root)) = (config::ACME_TLS_ANCHOR, config::ACME_ROOT) else {
        println!(
            "ACME: build with ACME_TLS_CA=<the server's TLS CA, pebble: DIR/tls-ca.pem> and ACME_ROOT=<the issuing root, pebble: DIR/root.pem>"
        );
        return (AcmeOutcome::Failed, 0, stack);
    };
    println!(
        "order: dns {}; http-01 answered by this image on guest port {} (QEMU forwards the host's 127.0.0.1 port to it); chain checked against ACME_ROOT",
        config::ACME_IDENTIFIER,
        http01::PORT
    );
    let Some(parts) = prepare(flash, boot) else { return (AcmeOutcome::Failed, 0, stack) };
    let cell = RefCell::new(stack);
    let started = MtimeTimer.now();
    let result = order(parts, &cell, server, tls_anchor, root, wall);
    let ms = elapsed_ms(&mut MtimeTimer, started);
    (result, ms, cell.into_inner())
}

/// The statics of one run, taken and filled.
struct Parts {
    memory: &'static mut Memory,
    keys: &'static mut [SoftP256Key; 2],
    rng: &'static mut NotSecureDemoRng,
    account_spki: usize,
    cert_spki: usize,
}

/// Loads (or generates) the account key and generates the certificate key in flash, their
/// SubjectPublicKeyInfo into the buffers. A frame of its own (the keys pass through it by value).
#[inline(never)]
fn prepare<F: NorFlash>(flash: &mut Flash<F>, boot: u32) -> Option<Parts> {
    let (Some(memory), Some(rng)) = (MEMORY.try_take(), RNG.try_init(NotSecureDemoRng::for_boot_part(config::RNG_SEED, boot, RNG_PART)))
    else {
        println!("ACME: its buffers are already in use");
        return None;
    };
    let account = match flash.load_p256(ACCOUNT_SLOT) {
        Ok(Some(key)) => {
            println!("[ACME] account key: P-256 in flash key slot {} (kept from an earlier boot)", ACCOUNT_SLOT);
            Some(key)
        }
        Ok(None) => {
            println!("[ACME] account key: P-256 generated into flash key slot {}", ACCOUNT_SLOT);
            flash.generate_p256(ACCOUNT_SLOT, rng).ok()
        }
        Err(e) => {
            println!("[ACME] account key slot {}: {} (generating a new key)", ACCOUNT_SLOT, e);
            flash.generate_p256(ACCOUNT_SLOT, rng).ok()
        }
    };
    println!("[ACME] certificate key: P-256 generated into flash key slot {} (a new key for this order)", CERT_SLOT);
    let certificate = flash.generate_p256(CERT_SLOT, rng).ok();
    let (Some(mut account), Some(mut certificate)) = (account, certificate) else {
        println!("ACME: the keys could not be stored in flash");
        return None;
    };
    let account_spki = account.public_key_der(&mut memory.account_spki).ok()?;
    let cert_spki = certificate.public_key_der(&mut memory.cert_spki).ok()?;
    let keys = KEYS.try_init([account, certificate])?;
    Some(Parts { memory, keys, rng, account_spki, cert_spki })
}

/// The client, made in its static (a frame of its own: `Client::new`'s result is not part of
/// the frame that runs it).
#[inline(never)]
fn client(
    config: Config<'static>,
    operation: Operation<'static>,
    buffers: Buffers<'static>,
) -> Option<&'static mut Client<'static, 'static>> {
    match Client::new(config, operation, buffers) {
        Ok(c) => CLIENT.try_init(c),
        Err(e) => {
            println!("ACME: the client does not start: {}", e);
            None
        }
    }
}

/// The order, run to its end; prints the outcome and the certificate.
#[inline(never)]
fn order(
    parts: Parts,
    cell: &RefCell<&'static mut PolledStack>,
    server: &'static str,
    tls_anchor: &'static [u8],
    root: &'static [u8],
    wall: Option<UnixTime>,
) -> AcmeOutcome {
    let Parts { memory, keys, rng, account_spki, cert_spki } = parts;
    let Memory { work, io, tls_read, tls_write, account_spki: account_buf, cert_spki: cert_buf } = memory;
    let port = config::split_addr(server).1.unwrap_or(443);
    let mut acme = Config::new(
        config::ACME_HOST,
        port,
        config::ACME_DIRECTORY,
        account_buf.get(..account_spki).unwrap_or(&[]),
        cert_buf.get(..cert_spki).unwrap_or(&[]),
    );
    acme.trust_anchor = Some(root);
    let csr = CsrBuilder::new(&SUBJECT).subject_alt_names(&SANS);
    let Some(client) = client(acme, Operation::Order { identifiers: &IDENTIFIERS, csr }, Buffers { work, io }) else {
        return AcmeOutcome::Failed;
    };
    // An address that does not parse was refused by the build script already.
    let remote = net::guest_address(server).unwrap_or(SocketAddr::from((net::GATEWAY, port)));
    let mut shared = Shared(cell);
    let tcp = NalConnector::new(&mut shared, remote);
    let mut tls =
        TlsConnector::<_, _, SoftP256Key>::new(tcp, tls_read, tls_write, &mut *rng, ServerTrust::Anchor(tls_anchor), config::ACME_HOST);
    if let Some(now) = wall {
        tls = tls.with_time(now);
    }
    let since = MtimeTimer.now();
    let mut responder = Http01Responder { since };
    let mut timer = PollingTimer(cell);
    let mut keys = AcmeKeys { keys };
    let outcome = run_acme(client, &mut tls, &mut keys, &mut responder, &mut timer, |p| {
        board_common::print_progress(elapsed_ms(&mut MtimeTimer, since), &p)
    });
    let t = elapsed_ms(&mut MtimeTimer, since);
    match outcome {
        Ok(Outcome::Issued) => {
            println!("[ACME] [{:>6} ms] issued; chain checked against ACME_ROOT", t);
            if let Some(url) = client.account_url() {
                println!("[ACME] account: {}", url);
            }
            show(client);
            AcmeOutcome::Issued
        }
        Ok(other) => {
            println!("[ACME] [{:>6} ms] the order failed: {}", t, other);
            AcmeOutcome::Failed
        }
        Err(e) => {
            println!("[ACME] [{:>6} ms] the run stopped: {}", t, e);
            AcmeOutcome::Failed
        }
    }
}

/// Prints the issued certificate (with its SANs) and the chain as PEM between markers.
#[inline(never)]
fn show(client: &Client<'_, '_>) {
    let Some(leaf) = client.certificate() else { return };
    show_certificate("ACME certificate", leaf);
    if let Ok(c) = CertificateRef::parse(leaf) {
        for name in c.subject_alt_names() {
            match name {
                GeneralName::Dns(d) => println!("  SAN:         DNS:{}", d),
                GeneralName::Ip(&[a, b, c, d]) => println!("  SAN:         IP:{}.{}.{}.{}", a, b, c, d),
                GeneralName::Ip(ip) => println!("  SAN:         IP:{}", Hex(ip)),
                GeneralName::Email(e) => println!("  SAN:         email:{}", e),
                GeneralName::Uri(u) => println!("  SAN:         URI:{}", u),
                _ => println!("  SAN:         (another form)"),
            }
        }
    }
    println!("ACME chain (PEM, leaf first): begin");
    for der in client.certificates() {
        println!("-----BEGIN CERTIFICATE-----");
        for chunk in der.chunks(48) {
            let mut line = [0u8; 64];
            match base64::encode(chunk, LineStyle::OneLine, &mut line) {
                Ok(text) => println!("{}", core::str::from_utf8(text).unwrap_or("")),
                Err(_) => println!("(base64 failed)"),
            }
        }
        println!("-----END CERTIFICATE-----");
    }
    println!("ACME chain (PEM): end");
}
