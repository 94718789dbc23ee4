//! A `#![no_std]`, `#![no_main]` binary with **no global allocator** that calls into
//! embedded-enroll: P-256 sign and verify, RSA-2048 verify (and a software RSA key's
//! decrypt), AES-CBC, the codecs, the SCEP client with its blocking driver, the EST client
//! over embedded-tls with the crate's certificate verifier, and the ACME client over
//! embedded-tls with its blocking driver and an http-01 responder. If any dependency linked `alloc` or `std`, this would
//! not build: rustc demands a `#[global_allocator]` as soon as `alloc` is in the graph, and
//! `std` does not exist for these targets.
//!
//! Built for thumbv6m-none-eabi, thumbv7em-none-eabihf and riscv32imac-unknown-none-elf by
//! `.ci/test`. It is linked, not run (the QEMU board images run code).
//!
//! Four shapes, chosen with Cargo features (see `Cargo.toml`):
//! - `all` (the default): everything above, the link check proper;
//! - `scep-only` (`--no-default-features --features scep-only`): the SCEP client and its
//!   blocking driver, nothing else;
//! - `est-only` (`--no-default-features --features est-only`): the EST client over
//!   embedded-tls and its blocking driver, nothing else;
//! - `acme-only` (`--no-default-features --features acme-only`): the ACME client over
//!   embedded-tls, its blocking driver and an http-01 responder, nothing else.
//!
//! The last three exist to measure one client at a time (`sizes.sh`).
#![no_std]
#![no_main]

#[cfg(not(any(feature = "scep", feature = "est", feature = "acme")))]
compile_error!("select a shape: `all` (the default), or `--no-default-features --features scep-only`, `est-only` or `acme-only`");
#[cfg(all(feature = "all", any(feature = "scep-only", feature = "est-only", feature = "acme-only")))]
compile_error!("`scep-only`, `est-only` and `acme-only` need `--no-default-features` (the default `all` links everything)");

use core::hint::black_box;
#[cfg(any(feature = "all", feature = "scep"))]
use embedded_enroll::asn1::cert::CertificateRef;
use embedded_enroll::asn1::csr::{CsrBuilder, NameAttribute};
use embedded_enroll::hal::Signer;
use embedded_enroll::hal::soft::SoftP256Key;
use embedded_enroll::time::Instant;
#[cfg(feature = "all")]
use embedded_enroll::transport::asynch::{AsyncConnect, AsyncTimer};
use embedded_enroll::transport::blocking::{Connect, EcDevice, Timer};
use rand_core::RngCore;

#[cfg(feature = "all")]
const RSA_PUBLIC: &[u8] = include_bytes!("../vectors/rsa2048.pub.der");
#[cfg(feature = "all")]
const RSA_PRIVATE: &[u8] = include_bytes!("../vectors/rsa2048.key.der");
#[cfg(any(feature = "all", feature = "scep"))]
const MESSAGE: &[u8] = include_bytes!("../vectors/message.txt");
#[cfg(feature = "all")]
const SIGNATURE: &[u8] = include_bytes!("../vectors/message.sig");
const CA_CERT: &[u8] = include_bytes!("../vectors/ca-cert.der");

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {
        core::hint::spin_loop();
    }
}

/// A xorshift generator standing in for a hardware RNG. **Not** cryptographically secure:
/// it exists only so this link check has an `RngCore`.
struct NotARealRng(u64);

impl rand_core::RngCore for NotARealRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest {
            *b = self.next_u32() as u8;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl rand_core::CryptoRng for NotARealRng {}

/// A connector that never connects (the link check runs no network): it makes the blocking
/// driver link.
struct NoNetwork;

/// A stream type for [`NoNetwork`].
struct NoStream;

impl embedded_io::ErrorType for NoStream {
    type Error = embedded_io::ErrorKind;
}
// Reads and writes opaque to the optimizer (their outcome and the bytes "read" are
// unknown to it): with a constant failure it would drop everything that processes a reply
// (the TLS handshake's receive side, the certificate checks, the client's reply handling)
// and the one-client shapes would measure less than a device links.
impl embedded_io::Read for NoStream {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let n = black_box(0usize);
        black_box(&mut *buf);
        if n == 0 { Err(embedded_io::ErrorKind::NotConnected) } else { Ok(n.min(buf.len())) }
    }
}
impl embedded_io::Write for NoStream {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        let n = black_box(0usize);
        black_box(buf);
        if n == 0 { Err(embedded_io::ErrorKind::NotConnected) } else { Ok(n.min(buf.len())) }
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}
impl Connect for NoNetwork {
    type Connection<'c> = NoStream;
    type Error = ();
    fn connect(&mut self) -> Result<NoStream, ()> {
        // Opaque to the optimizer, so the TLS handshake code on top stays linked.
        if black_box(true) { Err(()) } else { Ok(NoStream) }
    }
}

#[cfg(feature = "all")]
impl embedded_io_async::Read for NoStream {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        embedded_io::Read::read(self, buf)
    }
}
#[cfg(feature = "all")]
impl embedded_io_async::Write for NoStream {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        embedded_io::Write::write(self, buf)
    }
    async fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}
#[cfg(feature = "all")]
impl AsyncConnect for NoNetwork {
    type Connection<'c> = NoStream;
    type Error = ();
    async fn connect(&mut self) -> Result<NoStream, ()> {
        if black_box(true) { Err(()) } else { Ok(NoStream) }
    }
}
#[cfg(feature = "all")]
impl AsyncTimer for JumpClock {
    fn now(&mut self) -> Instant {
        self.0
    }
    async fn sleep_until(&mut self, deadline: Instant) -> bool {
        self.0 = deadline;
        true
    }
}

/// The async EST driver over embedded-tls' async connection, polled to its end with a no-op
/// waker (nothing here ever waits on I/O).
#[cfg(feature = "all")]
fn exercise_est_async(key: &mut SoftP256Key, rng: &mut NotARealRng) -> u32 {
    use core::future::Future;
    use embedded_enroll::est::client as est;
    use embedded_enroll::transport::tls::TlsConnector;
    use embedded_enroll::transport::verify::ServerTrust;
    let mut spki = [0u8; 96];
    let Ok(n) = key.public_key_der(&mut spki) else { return 0 };
    let config = est::Config::new("est.example", est::CaCertsTrust::TlsAuthenticated, &spki[..n]);
    let (mut own, mut work, mut io) = ([0u8; 1024], [0u8; 4096], [0u8; 4096]);
    let bufs = est::Buffers { own: &mut own, work: &mut work, io: &mut io };
    let Ok(mut client) = est::Client::new(config, est::Operation::CaCerts, bufs, NotARealRng(rng.next_u64())) else { return 0 };
    let (mut rx, mut tx) = ([0u8; 16_640], [0u8; 2048]);
    let mut tls: TlsConnector<'_, '_, NoNetwork, NotARealRng, SoftP256Key> =
        TlsConnector::new(NoNetwork, &mut rx, &mut tx, NotARealRng(rng.next_u64()), ServerTrust::Anchor(CA_CERT), "est.example");
    let mut keys = EcDevice(&mut *key);
    let mut clock = JumpClock(Instant::ZERO);
    let fut = core::pin::pin!(embedded_enroll::transport::asynch::run_est(&mut client, &mut tls, &mut keys, &mut clock, |p| {
        black_box(p);
    }));
    let mut cx = core::task::Context::from_waker(core::task::Waker::noop());
    match fut.poll(&mut cx) {
        core::task::Poll::Ready(Ok(est::Outcome::Transport(_))) => 4096,
        _ => 0,
    }
}

/// The EST client over embedded-tls (the handshake code is linked; the network never
/// connects, so the outcome is a transport failure).
#[cfg(feature = "est")]
fn exercise_est_client(key: &mut SoftP256Key, rng: &mut NotARealRng) -> u32 {
    use embedded_enroll::est::client as est;
    use embedded_enroll::transport::blocking::run_est;
    use embedded_enroll::transport::tls::TlsConnector;
    use embedded_enroll::transport::verify::ServerTrust;
    let mut spki = [0u8; 96];
    let Ok(n) = key.public_key_der(&mut spki) else { return 0 };
    let mut config = est::Config::new("est.example", est::CaCertsTrust::TlsAuthenticated, &spki[..n]);
    config.credentials = Some(est::Credentials { user: "device", password: "secret", preemptive_basic: false });
    // `/csrattrs` first where the library has it (the `all` shape); the EST-only shape has not.
    config.fetch_csr_attributes = cfg!(feature = "all");
    let subject = [NameAttribute::common_name("device")];
    let (mut own, mut work, mut io) = ([0u8; 1024], [0u8; 4096], [0u8; 4096]);
    let bufs = est::Buffers { own: &mut own, work: &mut work, io: &mut io };
    let Ok(mut client) = est::Client::new(config, est::Operation::Enroll(CsrBuilder::new(&subject)), bufs, NotARealRng(rng.next_u64()))
    else {
        return 0;
    };
    let (mut rx, mut tx) = ([0u8; 16_640], [0u8; 2048]);
    let mut tls_key = SoftP256Key::generate(rng);
    let mut tls = TlsConnector::new(NoNetwork, &mut rx, &mut tx, NotARealRng(rng.next_u64()), ServerTrust::Anchor(CA_CERT), "est.example")
        .with_client_certificate(CA_CERT, &mut tls_key);
    let r = run_est(&mut client, &mut tls, &mut EcDevice(&mut *key), &mut JumpClock(Instant::ZERO), |p| {
        black_box(p);
    });
    if matches!(r, Ok(est::Outcome::Transport(_))) { 2048 } else { 0 }
}

/// An http-01 responder standing in for the firmware's web server: it records the task being
/// answered and answers a request (opaque to the optimizer) with the library's http-01
/// responder, as the web server would.
#[cfg(feature = "acme")]
struct Http01Responder {
    /// The token and key authorization of the task being answered (`token.thumbprint`).
    key_authorization: [u8; 256],
    len: usize,
    published: u32,
}

#[cfg(feature = "acme")]
impl embedded_enroll::acme::Responder for Http01Responder {
    fn publish(&mut self, task: &embedded_enroll::acme::ChallengeTask<'_>) -> bool {
        use embedded_enroll::acme::http01::{Answer, respond};
        let ka = task.key_authorization.as_bytes();
        let Some(dst) = self.key_authorization.get_mut(..ka.len()) else { return false };
        dst.copy_from_slice(ka);
        self.len = ka.len();
        self.published += 1;
        // The server's validation request (its bytes unknown to the optimizer).
        let request: &[u8] = black_box(b"GET /.well-known/acme-challenge/token HTTP/1.1\r\nHost: device.example\r\n\r\n");
        let mut out = [0u8; 384];
        matches!(respond(request, Some(task), &mut out), Answer::KeyAuthorization(_) | Answer::NotFound(_))
    }
    fn withdraw(&mut self, _: &embedded_enroll::acme::ChallengeTask<'_>) {
        self.len = 0;
    }
}

/// The ACME client over embedded-tls with its blocking driver: a P-256 account key and a
/// P-256 certificate key (by role), http-01 answered, the issued chain checked against the
/// test CA (the handshake and every reply check are linked; the network never connects, so
/// the outcome is a transport failure).
#[cfg(feature = "acme")]
fn exercise_acme_client(key: &mut SoftP256Key, rng: &mut NotARealRng) -> u32 {
    use embedded_enroll::acme::{Buffers, Client, Config, Identifier, Operation, Outcome};
    use embedded_enroll::asn1::csr::SubjectAltName;
    use embedded_enroll::transport::blocking::{ByRole, run_acme};
    use embedded_enroll::transport::tls::TlsConnector;
    use embedded_enroll::transport::verify::ServerTrust;
    let mut account = SoftP256Key::generate(rng);
    let (mut account_spki, mut spki) = ([0u8; 96], [0u8; 96]);
    let (Ok(a), Ok(n)) = (account.public_key_der(&mut account_spki), key.public_key_der(&mut spki)) else { return 0 };
    let mut config = Config::new("acme.example", 443, "/directory", &account_spki[..a], &spki[..n]);
    config.contact = &["mailto:device@example.com"];
    config.trust_anchor = Some(CA_CERT);
    let identifiers = [Identifier::Dns("device.example")];
    let subject = [NameAttribute::common_name("device.example")];
    let sans = [SubjectAltName::Dns("device.example")];
    let operation = Operation::Order { identifiers: &identifiers, csr: CsrBuilder::new(&subject).subject_alt_names(&sans) };
    let (mut work, mut io) = ([0u8; 8192], [0u8; 8192]);
    let Ok(mut client) = Client::new(config, operation, Buffers { work: &mut work, io: &mut io }) else { return 0 };
    let (mut rx, mut tx) = ([0u8; 16_640], [0u8; 2048]);
    let mut tls: TlsConnector<'_, '_, NoNetwork, NotARealRng, SoftP256Key> =
        TlsConnector::new(NoNetwork, &mut rx, &mut tx, NotARealRng(rng.next_u64()), ServerTrust::Anchor(CA_CERT), "acme.example");
    let mut keys = ByRole { requested: EcDevice(&mut *key), certificate: EcDevice(&mut account) };
    let mut responder = Http01Responder { key_authorization: [0; 256], len: 0, published: 0 };
    let r = run_acme(&mut client, &mut tls, &mut keys, &mut responder, &mut JumpClock(Instant::ZERO), |p| {
        black_box(p);
    });
    black_box((&responder.key_authorization[..responder.len], responder.published));
    if matches!(r, Ok(Outcome::Transport(_))) { 8192 } else { 0 }
}

/// A clock that jumps to every deadline.
struct JumpClock(Instant);

impl Timer for JumpClock {
    fn now(&mut self) -> Instant {
        self.0
    }
    fn sleep_until(&mut self, deadline: Instant) -> bool {
        self.0 = deadline;
        true
    }
}

/// The SCEP client over canned replies (GetCACaps, GetCACert, a CertRep that does not
/// verify), then the blocking driver over a network that never connects.
#[cfg(feature = "scep")]
fn exercise_scep_client(key: &mut SoftP256Key, rng: &mut NotARealRng) -> u32 {
    use embedded_enroll::scep::ca::CaTrust;
    use embedded_enroll::scep::client::{Buffers, Client, Config, Operation, Outcome, Step};
    use embedded_enroll::transport::blocking::run_scep;
    let mut ok = 0;
    let mut spki = [0u8; 96];
    let Ok(n) = key.public_key_der(&mut spki) else { return 0 };
    let Ok(ca) = CertificateRef::parse(black_box(CA_CERT)) else { return 0 };
    let config = Config::new("192.0.2.1", CaTrust::Fingerprint(ca.fingerprint_sha256()), &spki[..n]);
    let subject = [NameAttribute::common_name("device")];
    let (mut ca_buf, mut own, mut work, mut io) = ([0u8; 2048], [0u8; 2048], [0u8; 6144], [0u8; 6144]);
    let bufs = Buffers { ca: &mut ca_buf, own: &mut own, work: &mut work, io: &mut io };
    let Ok(mut client) = Client::new(config, Operation::Enroll(CsrBuilder::new(&subject)), bufs, NotARealRng(rng.next_u64())) else {
        return 0;
    };
    let mut reply = [0u8; 2048];
    let mut replies = 0;
    let now = Instant::from_millis(black_box(1));
    for _ in 0..32 {
        match client.poll(now) {
            Ok(Step::Send(_)) => {
                let body: &[u8] = match replies {
                    0 => b"AES\nSHA-256\nPOSTPKIOperation",
                    1 => CA_CERT,
                    _ => MESSAGE,
                };
                replies += 1;
                let head = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
                let len = head.len() + body.len();
                if len > reply.len() {
                    return ok;
                }
                reply[..head.len()].copy_from_slice(head);
                reply[head.len()..len].copy_from_slice(body);
                let _ = client.handle_response_data(now, black_box(&reply[..len]));
                let _ = client.handle_response_end(now);
            }
            Ok(Step::Sign(req)) => {
                let mut sig = [0u8; 64];
                if key.sign_prehash(&req.digest, &mut sig).is_err() || client.signed(now, &sig).is_err() {
                    return ok;
                }
            }
            Ok(Step::Agree(req)) => {
                let mut z = [0u8; 32];
                let _ = embedded_enroll::hal::KeyAgreement::agree(key, &req.peer_public_key, &mut z);
                let _ = client.agreed(now, &z);
            }
            Ok(Step::Decrypt(_)) | Ok(Step::Wait(_)) | Err(_) => return ok,
            Ok(Step::Done(o)) => {
                if matches!(o, Outcome::InvalidReply(_)) {
                    ok |= 512;
                }
                break;
            }
        }
    }
    let mut snap = [0u8; embedded_enroll::scep::snapshot::MAX_SNAPSHOT_LEN];
    let _ = black_box(client.snapshot(&mut snap).is_ok());

    // The blocking driver: the first request cannot connect, so the client ends with a
    // transport outcome.
    let (mut ca_buf, mut own, mut work, mut io) = ([0u8; 2048], [0u8; 2048], [0u8; 6144], [0u8; 6144]);
    let bufs = Buffers { ca: &mut ca_buf, own: &mut own, work: &mut work, io: &mut io };
    if let Ok(mut client) = Client::new(config, Operation::GetCaCaps, bufs, NotARealRng(rng.next_u64())) {
        let r = run_scep(&mut client, &mut NoNetwork, &mut EcDevice(&mut *key), &mut JumpClock(now), |p| {
            black_box(p);
        });
        if matches!(r, Ok(Outcome::Transport(_))) {
            ok |= 1024;
        }
    }
    ok
}

/// Runs each capability once and returns a bit per success (the `all` shape).
#[cfg(feature = "all")]
fn exercise() -> u32 {
    use embedded_enroll::asn1::cms::enveloped_data::{EnvelopedDataRef, build_for_rsa_recipient};
    use embedded_enroll::asn1::cms::signed_data::{SignedDataBuilder, SignedDataRef};
    use embedded_enroll::asn1::csr::SelfSignedCertificate;
    use embedded_enroll::asn1::{chain, oid};
    use embedded_enroll::crypto::HashAlgorithm;
    use embedded_enroll::crypto::cbc::CbcCipher;
    use embedded_enroll::crypto::rsa::{RsaPrivateKey2048, RsaPublicKey};
    use embedded_enroll::hal::Decrypter;
    use embedded_enroll::hal::oneshot::{decrypt_key_agreement, decrypt_key_transport, sign_certificate, sign_csr, sign_signed_data};

    let mut ok = 0u32;
    let mut rng = NotARealRng(black_box(0x9e37_79b9_7f4a_7c15));

    // P-256: generate, sign a digest, verify, export the SPKI (a DER encoding).
    let mut key = SoftP256Key::generate(&mut rng);
    let digest = embedded_enroll::crypto::Digest::sha256(black_box(MESSAGE));
    let mut sig = [0u8; 64];
    if key.sign_prehash(&digest, &mut sig).is_ok()
        && embedded_enroll::crypto::p256::verify_prehash_raw(&key.public_key_sec1(), digest.as_bytes(), &sig).is_ok()
    {
        ok |= 1;
    }
    let mut spki = [0u8; 96];
    if key.public_key_der(&mut spki).is_ok() {
        ok |= 2;
    }

    // RSA-2048: verify an OpenSSL signature; DER-encode the public key again.
    if let Ok(public) = RsaPublicKey::from_pkcs1_der(black_box(RSA_PUBLIC)) {
        if public.verify_pkcs1v15(HashAlgorithm::Sha256, digest.as_bytes(), black_box(SIGNATURE)).is_ok() {
            ok |= 4;
        }
        let mut der = [0u8; 300];
        if public.to_pkcs1_der(&mut der).map(|d| d == RSA_PUBLIC).unwrap_or(false) {
            ok |= 8;
        }
        // Encrypt a CEK to the public key and open it with the software private key.
        let mut ct = [0u8; 256];
        if let (Ok(ct), Ok(mut private)) =
            (public.encrypt_pkcs1v15(&mut rng, b"0123456789abcdef", &mut ct), RsaPrivateKey2048::from_pkcs1_der(RSA_PRIVATE, &mut rng))
        {
            let mut cek = [0u8; 16];
            if private.decrypt_pkcs1v15(ct, &mut cek).is_ok() && &cek == b"0123456789abcdef" {
                ok |= 16;
            }
        }
    }

    // AES-128-CBC round trip.
    let mut buf = [0u8; 48];
    buf[..MESSAGE.len().min(33)].copy_from_slice(&MESSAGE[..MESSAGE.len().min(33)]);
    let key128 = black_box([0x42u8; 16]);
    let iv = black_box([0x24u8; 16]);
    if let Ok(ct) = CbcCipher::Aes128.encrypt(&key128, &iv, &mut buf, 33) {
        let n = ct.len();
        if CbcCipher::Aes128.decrypt(&key128, &iv, &mut buf[..n]).map(|p| p.len() == 33).unwrap_or(false) {
            ok |= 32;
        }
    }

    // Codecs: parse a certificate, build a CSR and a self-signed certificate, sign a CMS
    // SignedData, envelope to the RSA CA and open an envelope.
    if let Ok(ca) = CertificateRef::parse(black_box(CA_CERT)) {
        if chain::verify_chain(&ca, &[], &ca, None).is_ok() {
            ok |= 64;
        }
        let subject = [NameAttribute::common_name("device")];
        let mut csr = [0u8; 512];
        if sign_csr(&CsrBuilder::new(&subject), &mut key, HashAlgorithm::Sha256, &mut csr).is_ok() {
            ok |= 128;
        }
        let mut cert_buf = [0u8; 512];
        let signer_cert = SelfSignedCertificate {
            subject: &subject,
            serial: &[1, 2, 3, 4, 5, 6, 7, 8],
            not_before: embedded_enroll::UnixTime::from_secs(0),
            not_after: embedded_enroll::UnixTime::from_secs(1 << 31),
        };
        if let Ok(der) = sign_certificate(&signer_cert, &mut key, HashAlgorithm::Sha256, &mut cert_buf)
            && let Ok(signer) = CertificateRef::parse(der)
        {
            let mut env = [0u8; 1024];
            if let Ok(env) = build_for_rsa_recipient(&ca, CbcCipher::Aes128, MESSAGE, &mut rng, &mut env) {
                let mut msg = [0u8; 2048];
                if let Ok(msg) =
                    sign_signed_data(&SignedDataBuilder::new(oid::DATA, env, signer, HashAlgorithm::Sha256), &mut key, &mut msg)
                    && SignedDataRef::parse(msg).is_ok_and(|sd| sd.verify(None).is_ok())
                {
                    ok |= 256;
                }
                if let (Ok(ed), Ok(mut private)) = (EnvelopedDataRef::parse(env), RsaPrivateKey2048::from_pkcs1_der(RSA_PRIVATE, &mut rng))
                {
                    let mut plain = [0u8; 64];
                    // Wrong key for this envelope: exercises the path, the result is an error.
                    let _ = black_box(decrypt_key_transport(&ed, &ca, &mut private, &mut plain).is_ok());
                    let _ = black_box(ed.decrypt_with_password(b"pw", &mut plain).is_ok());
                    let _ = black_box(decrypt_key_agreement(&ed, &ca, &mut key, &mut plain).is_ok());
                }
            }
        }
    }
    ok | exercise_scep_client(&mut key, &mut rng)
        | exercise_est_client(&mut key, &mut rng)
        | exercise_est_async(&mut key, &mut rng)
        | exercise_acme_client(&mut key, &mut rng)
        | exercise_lifecycle(&mut key, &mut rng)
        | exercise_runner(&mut rng)
}

/// The lifecycle runner (blocking) for an EST and a SCEP profile over software key slots, a
/// RAM store and no network: it links the whole loop without an allocator.
#[cfg(feature = "all")]
fn exercise_runner(rng: &mut NotARealRng) -> u32 {
    use embedded_enroll::hal::soft::{SoftKeyKind, SoftKeySlots};
    use embedded_enroll::hal::{Clock, RamStore};
    use embedded_enroll::lifecycle::record::MAX_RECORD_LEN;
    use embedded_enroll::lifecycle::runner::{Device, Flow, Runner, Settings, StaticMemory};
    use embedded_enroll::lifecycle::{Auth, KeyPolicy, Profile, Protocol, RenewalPolicy, RolloverPolicy, Trust};
    use embedded_enroll::transport::TransportFailure;
    use embedded_enroll::transport::blocking::Network;

    struct Nowhere;
    impl Network for Nowhere {
        type Connector<'a> = NoNetwork;
        fn connector(&mut self, _: &str) -> Result<NoNetwork, TransportFailure> {
            Ok(NoNetwork)
        }
    }
    struct Wall;
    impl Clock for Wall {
        fn now(&mut self) -> Option<embedded_enroll::UnixTime> {
            Some(embedded_enroll::UnixTime::from_secs(black_box(1_800_000_000)))
        }
    }
    let mut ok = 0;
    for protocol in [Protocol::Est, Protocol::Scep] {
        let profile = Profile {
            name: "management",
            protocol: black_box(protocol),
            server: "192.0.2.1:443",
            key_slots: [0, 1],
            store_slots: [0, 1],
            trust: Trust::Anchor(CA_CERT),
            subject: &[],
            alt_names: &[],
            auth: Auth::None,
            renewal: RenewalPolicy::DEFAULT,
            keys: KeyPolicy::NewKey,
            rollover: RolloverPolicy::DEFAULT,
            extra: Settings::DEFAULT,
        };
        let mut memory = StaticMemory::new();
        let device = Device {
            keys: SoftKeySlots::<2>::new(SoftKeyKind::P256),
            store: RamStore::<2, MAX_RECORD_LEN>::new(),
            network: Nowhere,
            clock: Wall,
            timer: JumpClock(Instant::from_millis(0)),
            rng: &mut *rng,
        };
        let Ok(mut runner) = Runner::new(&profile, device, memory.memory()) else { continue };
        let mut events = 0u32;
        let _ = runner.run(|_| {
            events += 1;
            if black_box(events) > 20 { Flow::Stop } else { Flow::Continue }
        });
        ok |= events;
    }
    ok
}

/// The lifecycle manager over two record buffers in static-sized stack arrays: persist the
/// initial record, take a key, refuse a certificate that is not for it, persist the failure.
#[cfg(feature = "all")]
fn exercise_lifecycle(key: &mut SoftP256Key, rng: &mut NotARealRng) -> u32 {
    use embedded_enroll::UnixTime;
    use embedded_enroll::hal::Signer;
    use embedded_enroll::lifecycle::record::MAX_RECORD_LEN;
    use embedded_enroll::lifecycle::{Auth, Buffers, KeyPolicy, Manager, Profile, Protocol, RenewalPolicy, RolloverPolicy, Step, Trust};

    let profile = Profile {
        name: "management",
        protocol: Protocol::Est,
        server: "ca.example:443",
        key_slots: [0, 1],
        store_slots: [0, 1],
        trust: Trust::Anchor(CA_CERT),
        subject: &[],
        alt_names: &[],
        auth: Auth::None,
        renewal: RenewalPolicy::DEFAULT,
        keys: KeyPolicy::NewKey,
        rollover: RolloverPolicy::DEFAULT,
        extra: (),
    };
    let mut current = [0u8; MAX_RECORD_LEN];
    let mut next = [0u8; MAX_RECORD_LEN];
    let mut store = [0u8; MAX_RECORD_LEN];
    let Ok(mut m) = Manager::new(&profile, Buffers { current: &mut current, next: &mut next }, rng) else { return 0 };
    let now = Some(UnixTime::from_secs(black_box(1_800_000_000)));
    let mut spki = [0u8; 128];
    let Ok(n) = key.public_key_der(&mut spki) else { return 0 };
    let mut ok = 0;
    for _ in 0..8 {
        let Ok(step) = m.poll(now) else { break };
        match step {
            Step::Store { record, .. } => {
                let len = record.len().min(store.len());
                store[..len].copy_from_slice(&record[..len]);
                let _ = m.handle_stored(black_box(true));
            }
            Step::GenerateKey(slot) => {
                let _ = m.handle_key(slot, &spki[..n]);
            }
            Step::Run(_) => {
                let _ = m.handle_issued(now, black_box(CA_CERT), CA_CERT);
            }
            Step::Report(_) | Step::Activate { .. } => ok = 1 << 20,
            Step::Wait(_) => break,
        }
    }
    black_box(&store);
    ok
}

/// Runs the client of the selected shape once (the `scep-only`, `est-only` and `acme-only` shapes: none of
/// the primitives on their own, so only what the client links is measured) and returns a bit
/// per success.
#[cfg(not(feature = "all"))]
fn exercise() -> u32 {
    let mut ok = 0u32;
    let mut rng = NotARealRng(black_box(0x9e37_79b9_7f4a_7c15));
    let mut key = SoftP256Key::generate(&mut rng);
    #[cfg(feature = "scep")]
    {
        ok |= exercise_scep_client(&mut key, &mut rng);
    }
    #[cfg(feature = "est")]
    {
        ok |= exercise_est_client(&mut key, &mut rng);
    }
    #[cfg(feature = "acme")]
    {
        ok |= exercise_acme_client(&mut key, &mut rng);
    }
    ok
}

/// The entry point the linker keeps; everything reachable from it is linked.
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    black_box(exercise());
    loop {
        core::hint::spin_loop();
    }
}
