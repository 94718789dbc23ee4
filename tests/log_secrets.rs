//! The `log` events of whole enrollments (issue 15 item 3): a SCEP enrollment through PENDING,
//! a stop, a snapshot and a resume, and EST `/cacerts`, an enrollment answered after a 401
//! Basic challenge and one after a 202 Retry-After, each run by the library's blocking
//! drivers over an in-memory connection to the transcript tests' fixtures (the SCEP fixture
//! CA, the captured libest replies), and a SCEP enrollment through PENDING kept by the
//! lifecycle runner (its job, the persisted transaction, the activation). A capturing `log::Log` records every line; the tests
//! check that each step is there and that no secret is: not the challenge password, the
//! envelope password, the HTTP password or its Basic encoding, not the device keys (PKCS#8
//! and scalar, hex or raw) and not the content-encryption key the device decrypted.
#![cfg(all(feature = "scep", feature = "est", feature = "soft-keys", feature = "log"))]

mod common;

use common::scep_fixture::{CAPS, Fixture, Reply, caps, load_rsa, pending, success};
use common::{cert_der, openssl, s, vector_path};
use embedded_enroll::asn1::cert::CertificateRef;
use embedded_enroll::asn1::csr::{ChallengePassword, CsrBuilder, NameAttribute};
use embedded_enroll::crypto::Digest;
use embedded_enroll::hal::soft::SoftP256Key;
use embedded_enroll::hal::{ErrorKind, Signer};
use embedded_enroll::scep::ca::CaTrust;
use embedded_enroll::time::Instant;
use embedded_enroll::transport::blocking::{Connect, DeviceKeys, DriveError, EcDevice, KeyRole, RsaDevice, Timer, run_est, run_scep};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::convert::Infallible;

// ------------------------------------------------------------------ the capturing logger

thread_local! {
    /// This thread's log lines (each test runs on its own thread).
    static LINES: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        let line = format!("{} {}", record.level(), record.args());
        LINES.with(|l| l.borrow_mut().push(line));
    }
    fn flush(&self) {}
}

static CAPTURE: Capture = Capture;

/// Installs the capturing logger (once per process) and empties this thread's lines.
fn capture() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        log::set_logger(&CAPTURE).expect("no other logger");
        log::set_max_level(log::LevelFilter::Trace);
    });
    LINES.with(|l| l.borrow_mut().clear());
}

fn lines() -> Vec<String> {
    LINES.with(|l| l.borrow().clone())
}

/// Every `step` (a piece of a line) is in the log, in this order.
fn assert_steps(log: &[String], steps: &[&str]) {
    let mut at = 0;
    for step in steps {
        match log[at..].iter().position(|l| l.contains(step)) {
            Some(i) => at += i + 1,
            None => panic!("no log line with {step:?} after line {at}; the log:\n{}", log.join("\n")),
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// None of the secrets is in the log: not the texts as they are, and not any 12-byte piece of
/// the texts or the byte strings, raw or in hexadecimal (either case).
fn assert_no_secret(log: &[String], texts: &[(&str, &str)], bytes: &[(&str, &[u8])]) {
    let all = log.join("\n");
    let lower = all.to_ascii_lowercase();
    for (what, t) in texts {
        assert!(!t.is_empty());
        assert!(!all.contains(t), "the {what} ({t:?}) is in the log:\n{all}");
    }
    let texts = texts.iter().map(|(what, t)| (*what, t.as_bytes()));
    for (what, b) in texts.chain(bytes.iter().copied()) {
        assert!(b.len() >= 12, "the {what} is too short to look for");
        for piece in b.windows(12) {
            assert!(!lower.contains(&hex(piece)), "a piece of the {what} is in the log, in hex:\n{all}");
            assert!(!all.as_bytes().windows(12).any(|w| w == piece), "a piece of the {what} is in the log, raw");
        }
    }
}

// ------------------------------------------------------------------ an in-memory server

/// A connector whose every connection hands the request written on it to `answer` and
/// reads back its response.
struct Loopback<F> {
    answer: F,
}

struct Connection<'c, F> {
    answer: &'c mut F,
    request: Vec<u8>,
    response: Option<(Vec<u8>, usize)>,
}

impl<F> embedded_io::ErrorType for Connection<'_, F> {
    type Error = Infallible;
}

impl<F: FnMut(&[u8]) -> Vec<u8>> embedded_io::Read for Connection<'_, F> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        let (response, at) = self.response.get_or_insert_with(|| ((self.answer)(&self.request), 0));
        let n = buf.len().min(response.len() - *at);
        buf[..n].copy_from_slice(&response[*at..*at + n]);
        *at += n;
        Ok(n)
    }
}

impl<F> embedded_io::Write for Connection<'_, F> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        self.request.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

impl<F: FnMut(&[u8]) -> Vec<u8>> Connect for Loopback<F> {
    type Connection<'c>
        = Connection<'c, F>
    where
        Self: 'c;
    type Error = Infallible;
    fn connect(&mut self) -> Result<Connection<'_, F>, Infallible> {
        Ok(Connection { answer: &mut self.answer, request: Vec::new(), response: None })
    }
    /// As a TLS connector with a trust anchor would: the EST credentials may go out.
    fn authenticates_server(&self) -> bool {
        true
    }
}

/// A virtual clock: a wait moves it on, unless waits are refused (the driver then stops).
struct VirtualTimer {
    now: Instant,
    waits: bool,
}

impl Timer for VirtualTimer {
    fn now(&mut self) -> Instant {
        self.now
    }
    fn sleep_until(&mut self, deadline: Instant) -> bool {
        if self.waits {
            self.now = deadline;
        }
        self.waits
    }
}

/// The device key, keeping what it decrypted (the content-encryption key) to look for it in
/// the log.
struct Recording<K> {
    keys: K,
    decrypted: Vec<Vec<u8>>,
}

impl<K: DeviceKeys> DeviceKeys for Recording<K> {
    fn sign(&mut self, role: KeyRole, digest: &Digest, out: &mut [u8]) -> Result<usize, ErrorKind> {
        self.keys.sign(role, digest, out)
    }
    fn decrypt(&mut self, role: KeyRole, ciphertext: &[u8], out: &mut [u8]) -> Result<(), ErrorKind> {
        self.keys.decrypt(role, ciphertext, out)?;
        self.decrypted.push(out.to_vec());
        Ok(())
    }
    fn agree(&mut self, role: KeyRole, peer: &[u8], out: &mut [u8; 32]) -> Result<(), ErrorKind> {
        self.keys.agree(role, peer, out)?;
        self.decrypted.push(out.to_vec());
        Ok(())
    }
}

// ------------------------------------------------------------------ SCEP

const CHALLENGE_PASSWORD: &str = "chal-4Tq9-Wv2Lz7-secret";
const ENVELOPE_PASSWORD: &str = "env-8Kd3-Pq5Xy1-secret";
const SUBJECT: &[NameAttribute<'static>] = &[NameAttribute::organization("embedded-enroll"), NameAttribute::common_name("device-7")];

#[test]
fn a_scep_enrollment_logs_each_step_and_no_secret() {
    capture();
    let fx = RefCell::new(Fixture::new());
    let key_pem = fx.borrow().path("dev.key");
    openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", s(&key_pem)]);
    let key_der = openssl(&["pkcs8", "-topk8", "-nocrypt", "-in", s(&key_pem), "-outform", "DER"]);
    let mut keys = Recording { keys: RsaDevice(load_rsa(&key_pem)), decrypted: Vec::new() };
    let mut spki = [0u8; 600];
    let n = keys.keys.0.public_key_der(&mut spki).unwrap();
    let spki = &spki[..n];
    let fp = fx.borrow().fingerprint();
    let mut config = embedded_enroll::scep::client::Config::new("127.0.0.1", CaTrust::Fingerprint(fp), spki);
    config.envelope_password = Some(ENVELOPE_PASSWORD.as_bytes());
    let csr = CsrBuilder::new(SUBJECT).challenge_password(ChallengePassword::Printable(CHALLENGE_PASSWORD));
    let operation = embedded_enroll::scep::client::Operation::Enroll(csr);
    let (mut ca, mut own, mut work, mut io) = (vec![0u8; 4096], vec![0u8; 4096], vec![0u8; 12288], vec![0u8; 12288]);

    // GetCACaps, GetCACert, PKCSReq answered PENDING; the timer refuses to wait: stopped.
    let mut replies: VecDeque<Reply> = [caps(CAPS), Reply::CaCert, pending()].into();
    let mut server = Loopback { answer: |req: &[u8]| fx.borrow_mut().answer(req, replies.pop_front().expect("a reply scripted")) };
    let mut timer = VirtualTimer { now: Instant::from_millis(1_000), waits: false };
    let mut snapshot = vec![0u8; embedded_enroll::scep::snapshot::MAX_SNAPSHOT_LEN];
    let snapshot = {
        let bufs = embedded_enroll::scep::client::Buffers { ca: &mut ca, own: &mut own, work: &mut work, io: &mut io };
        let mut client = embedded_enroll::scep::Client::new(config, operation, bufs, common::rng(3)).unwrap();
        let stopped = run_scep(&mut client, &mut server, &mut keys, &mut timer, |_| {});
        assert!(matches!(stopped, Err(DriveError::Stopped)), "{stopped:?}");
        client.snapshot(&mut snapshot).unwrap().expect("a PENDING transaction").to_vec()
    };

    // After a "reboot": resumed from the snapshot, GetCACert again, then CertPoll: SUCCESS.
    let mut replies: VecDeque<Reply> = [Reply::CaCert, success()].into();
    let mut server = Loopback { answer: |req: &[u8]| fx.borrow_mut().answer(req, replies.pop_front().expect("a reply scripted")) };
    timer.waits = true;
    let bufs = embedded_enroll::scep::client::Buffers { ca: &mut ca, own: &mut own, work: &mut work, io: &mut io };
    let mut client = embedded_enroll::scep::Client::resume(config, operation, bufs, common::rng(4), &snapshot, timer.now).unwrap();
    let outcome = run_scep(&mut client, &mut server, &mut keys, &mut timer, |_| {}).unwrap();
    assert_eq!(outcome, embedded_enroll::scep::client::Outcome::Issued);
    let issued = CertificateRef::parse(client.certificate().unwrap()).unwrap();
    assert_eq!(issued.serial(), &[0x03, 0xe9], "the fixture's serial 1001");
    drop(client);

    let log = lines();
    assert_steps(
        &log,
        &[
            "INFO scep: enrollment (PKCSReq) with 127.0.0.1/scep (transaction ",
            "INFO scep: sending GetCACaps",
            "DEBUG transport: connecting for GET /scep",
            "DEBUG transport: response received (",
            "DEBUG scep: GetCACaps answered HTTP 200",
            "INFO scep: capabilities: AES GetNextCACert POSTPKIOperation Renewal SHA-256",
            "INFO scep: sending GetCACert",
            "DEBUG scep: GetCACert answered HTTP 200",
            "INFO scep: CA trusted (one certificate): recipient O=Fixture,CN=Fixture SCEP CA",
            "DEBUG scep: CSR built",
            "INFO key: sign with the device key",
            "DEBUG scep: self-signed signer certificate built",
            "INFO key: sign with the device key",
            "DEBUG scep: PkcsReq enveloped with ",
            "INFO key: sign with the device key",
            "INFO scep: sending PKIOperation PkcsReq by POST (transaction ",
            "DEBUG transport: connecting for POST /scep",
            "DEBUG scep: PKIOperation answered HTTP 200",
            "INFO scep: CertRep verified: Pending",
            "INFO scep: PENDING: poll 1 in ",
            "DEBUG driver: waiting ",
            "INFO driver: stopped: the timer declined to wait",
            "INFO scep: PENDING transaction ",
            "INFO scep: enrollment (PKCSReq) with 127.0.0.1/scep",
            "INFO scep: resuming PENDING transaction ",
            "DEBUG scep: poll due",
            "INFO scep: sending GetCACert",
            "INFO scep: CA trusted",
            "INFO scep: sending PKIOperation CertPoll by POST",
            "INFO scep: CertRep verified: Success",
            "DEBUG scep: the envelope opens with the device key (key transport)",
            "INFO key: decrypt with the device key",
            "INFO scep: certificate issued: subject O=embedded-enroll,CN=device-7, serial 03e9",
            "INFO scep: done: the certificate was issued",
        ],
    );
    // The transaction is named (a hash of the public key, not a secret).
    let transaction = format!("(transaction {})", embedded_enroll::scep::message::transaction_id_for_key(spki));
    assert!(log.iter().any(|l| l.contains(&transaction)), "{transaction} in\n{}", log.join("\n"));

    assert_eq!(keys.decrypted.len(), 1, "one envelope opened with the device key");
    let cek = keys.decrypted[0].clone();
    assert!(cek.len() >= 16);
    assert_no_secret(
        &log,
        &[("challenge password", CHALLENGE_PASSWORD), ("envelope password", ENVELOPE_PASSWORD)],
        &[("device key (PKCS#8)", &key_der), ("content-encryption key", &cek)],
    );
}

// ------------------------------------------------------------------ the lifecycle runner

/// The device's RSA key, provisioned in key slot 0 (as a secure element holds it), keeping
/// what it decrypted.
struct ProvisionedRsa {
    key: embedded_enroll::crypto::rsa::RsaPrivateKey2048,
    decrypted: Vec<Vec<u8>>,
}

impl embedded_enroll::hal::KeySlots for ProvisionedRsa {
    fn key_type(&self, slot: u8) -> Option<embedded_enroll::hal::KeyType> {
        (slot == 0).then_some(embedded_enroll::hal::KeyType::Rsa { bits: 2048 })
    }
    fn generate(&mut self, slot: u8, _: &mut dyn rand_core::CryptoRngCore) -> Result<(), ErrorKind> {
        if slot == 0 { Ok(()) } else { Err(ErrorKind::Unsupported) }
    }
    fn public_key_der(&mut self, _: u8, out: &mut [u8]) -> Result<usize, ErrorKind> {
        self.key.public_key_der(out).map_err(|_| ErrorKind::BufferTooSmall)
    }
    fn sign(&mut self, _: u8, digest: &Digest, out: &mut [u8]) -> Result<usize, ErrorKind> {
        self.key.sign_prehash(digest, out).map_err(|_| ErrorKind::Other)
    }
    fn decrypt(&mut self, _: u8, ciphertext: &[u8], out: &mut [u8]) -> Result<(), ErrorKind> {
        embedded_enroll::hal::Decrypter::decrypt_pkcs1v15(&mut self.key, ciphertext, out).map_err(|_| ErrorKind::Other)?;
        self.decrypted.push(out.to_vec());
        Ok(())
    }
}

/// The in-memory server as the runner's network: every connection goes to `answer`.
struct LoopbackNetwork<F> {
    answer: F,
}

impl<F: FnMut(&[u8]) -> Vec<u8>> embedded_enroll::transport::blocking::Network for LoopbackNetwork<F> {
    type Connector<'a>
        = Loopback<&'a mut F>
    where
        Self: 'a;
    fn connector(&mut self, _server: &str) -> Result<Loopback<&mut F>, embedded_enroll::transport::TransportFailure> {
        Ok(Loopback { answer: &mut self.answer })
    }
}

struct Now;

impl embedded_enroll::hal::Clock for Now {
    fn now(&mut self) -> Option<embedded_enroll::UnixTime> {
        let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        Some(embedded_enroll::UnixTime::from_secs(secs as i64))
    }
}

#[test]
fn the_lifecycle_runner_logs_each_step_and_no_secret() {
    use embedded_enroll::lifecycle::runner::{Device, Event, Flow, Runner, Settings, StaticMemory};
    use embedded_enroll::lifecycle::{Auth, KeyPolicy, Profile, Protocol, RenewalPolicy, RolloverPolicy, Trust};

    capture();
    let fx = RefCell::new(Fixture::new());
    let key_pem = fx.borrow().path("runner.key");
    openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", s(&key_pem)]);
    let key_der = openssl(&["pkcs8", "-topk8", "-nocrypt", "-in", s(&key_pem), "-outform", "DER"]);
    let fp = fx.borrow().fingerprint();
    let profile = Profile {
        name: "scep",
        protocol: Protocol::Scep,
        server: "127.0.0.1:8080",
        key_slots: [0, 1],
        store_slots: [0, 1],
        trust: Trust::Fingerprint(fp),
        subject: SUBJECT,
        alt_names: &[],
        auth: Auth::Challenge(CHALLENGE_PASSWORD),
        renewal: RenewalPolicy::DEFAULT,
        keys: KeyPolicy::SameKey,
        rollover: RolloverPolicy::DEFAULT,
        extra: Settings::DEFAULT,
    };
    // GetCACaps and GetCACert as asked; the first PKIOperation answered PENDING, then SUCCESS.
    let mut operations = 0;
    let answer = |req: &[u8]| {
        let line = String::from_utf8_lossy(&req[..req.len().min(80)]).to_string();
        let reply = if line.contains("operation=GetCACaps") {
            caps(CAPS)
        } else if line.contains("operation=GetCACert") {
            Reply::CaCert
        } else {
            operations += 1;
            if operations == 1 { pending() } else { success() }
        };
        fx.borrow_mut().answer(req, reply)
    };
    let mut store = embedded_enroll::hal::RamStore::<2, { embedded_enroll::lifecycle::record::MAX_RECORD_LEN }>::new();
    let mut keys = ProvisionedRsa { key: load_rsa(&key_pem), decrypted: Vec::new() };
    let mut memory = Box::new(StaticMemory::new());
    let device = Device {
        keys: &mut keys,
        store: &mut store,
        network: LoopbackNetwork { answer },
        clock: Now,
        timer: VirtualTimer { now: Instant::from_millis(1_000), waits: true },
        rng: common::rng(5),
    };
    let mut runner = Runner::new(&profile, device, memory.memory()).unwrap();
    let mut steps = 0;
    runner
        .run(|e| {
            steps += 1;
            assert!(steps < 100, "no progress");
            if let Event::JobFailed(why) = e {
                panic!("the job failed: {why}");
            }
            if matches!(e, Event::Activated { .. }) { Flow::Stop } else { Flow::Continue }
        })
        .unwrap();
    drop(runner);

    let log = lines();
    assert_steps(
        &log,
        &[
            "INFO lifecycle: profile restored (0 bytes, 0 bytes in the store slots)",
            "DEBUG lifecycle: record stored in store slot 0",
            "DEBUG lifecycle: generating a key in slot 0",
            "INFO lifecycle: job Enroll for key slot A",
            "INFO scep: enrollment (PKCSReq) with 127.0.0.1/scep (transaction ",
            "INFO scep: CertRep verified: Pending",
            "INFO driver: paused at the client's wait",
            "INFO lifecycle: SCEP PENDING, transaction persisted",
            "INFO scep: sending PKIOperation CertPoll by POST",
            "INFO scep: CertRep verified: Success",
            "INFO key: decrypt with the device key",
            "INFO lifecycle: certificate issued (",
            "INFO lifecycle: new identity in use",
        ],
    );
    assert_eq!(keys.decrypted.len(), 1, "one envelope opened with the device key");
    let cek = keys.decrypted[0].clone();
    assert_no_secret(
        &log,
        &[("challenge password", CHALLENGE_PASSWORD)],
        &[("device key (PKCS#8)", &key_der), ("content-encryption key", &cek)],
    );
}

// ------------------------------------------------------------------ EST

const USER: &str = "estuser";
const PASSWORD: &str = "pw-Zq81-Hn4Rt6-secret";

fn case(server_case: &str, file: &str) -> Vec<u8> {
    std::fs::read(vector_path(&format!("est/{server_case}/{file}"))).unwrap()
}

/// A captured device key: the key, its PKCS#8 DER and its scalar.
fn device_key(server_case: &str) -> (SoftP256Key, Vec<u8>, Vec<u8>) {
    let pem = vector_path(&format!("est/{server_case}/device.key.pem"));
    let der = openssl(&["pkcs8", "-topk8", "-nocrypt", "-in", s(&pem), "-outform", "DER"]);
    let scalar = {
        use p256::pkcs8::DecodePrivateKey;
        p256::SecretKey::from_pkcs8_der(&der).unwrap().to_bytes().to_vec()
    };
    (SoftP256Key::from_pkcs8_der(&der).unwrap(), der, scalar)
}

/// Runs one EST operation with `responses` (one per request, in order); returns the outcome.
fn est(
    config: embedded_enroll::est::client::Config<'_>,
    operation: embedded_enroll::est::client::Operation<'_>,
    key: SoftP256Key,
    responses: Vec<Vec<u8>>,
) -> (embedded_enroll::est::client::Outcome, Vec<Vec<u8>>) {
    let (mut own, mut work, mut io) = (vec![0u8; 2048], vec![0u8; 12288], vec![0u8; 12288]);
    let bufs = embedded_enroll::est::client::Buffers { own: &mut own, work: &mut work, io: &mut io };
    let mut client = embedded_enroll::est::client::Client::new(config, operation, bufs, common::rng(5)).unwrap();
    let mut responses: VecDeque<Vec<u8>> = responses.into();
    let mut requests = Vec::new();
    let mut server = Loopback {
        answer: |req: &[u8]| {
            requests.push(req.to_vec());
            responses.pop_front().expect("a response scripted")
        },
    };
    let mut timer = VirtualTimer { now: Instant::from_millis(500), waits: true };
    let outcome = run_est(&mut client, &mut server, &mut EcDevice(key), &mut timer, |_| {}).unwrap();
    drop((client, server));
    (outcome, requests)
}

#[test]
fn est_enrollments_log_each_step_and_no_secret() {
    use embedded_enroll::est::client::{CaCertsTrust, Config, Credentials, Operation, Outcome};
    capture();
    let subject = [NameAttribute::common_name("device")];
    let mut secrets: Vec<(&str, Vec<u8>)> = Vec::new();

    // /cacerts, trusted by the pinned fingerprint.
    let ca = cert_der(&vector_path("est/libest/cacerts/ca.pem"));
    let fp = CertificateRef::parse(&ca).unwrap().fingerprint_sha256();
    let (key, der, scalar) = device_key("libest/simpleenroll");
    let mut spki = [0u8; 96];
    let n = SoftP256Key::from_pkcs8_der(&der).unwrap().public_key_der(&mut spki).unwrap();
    let spki = &spki[..n];
    let config = Config::new("127.0.0.1", CaCertsTrust::Fingerprint(fp), spki);
    let (outcome, _) =
        est(config, Operation::CaCerts, SoftP256Key::from_pkcs8_der(&der).unwrap(), vec![case("libest/cacerts", "response.http")]);
    assert_eq!(outcome, Outcome::CaCerts);

    // /simpleenroll: 401 with a Basic challenge, answered; the certificate checked against the CA.
    let ca = cert_der(&vector_path("est/libest/simpleenroll/ca.pem"));
    let mut config = Config::new("127.0.0.1", CaCertsTrust::TlsAuthenticated, spki);
    config.credentials = Some(Credentials { user: USER, password: PASSWORD, preemptive_basic: false });
    config.ca_certificate = Some(&ca);
    let responses =
        vec![case("libest/simpleenroll-401-basic-no-credentials", "response.http"), case("libest/simpleenroll", "response.http")];
    let (outcome, requests) = est(config, Operation::Enroll(CsrBuilder::new(&subject)), key, responses);
    assert_eq!(outcome, Outcome::Issued);
    secrets.push(("device key (PKCS#8)", der));
    secrets.push(("device key (scalar)", scalar));
    // The oracle: the password did go out, in the second request's Basic credentials.
    let basic = embedded_enroll_base64(format!("{USER}:{PASSWORD}").as_bytes());
    assert!(String::from_utf8_lossy(&requests[1]).contains(&format!("Authorization: Basic {basic}")));

    // /simpleenroll with Basic up front: 202 Retry-After 60, then the certificate.
    let (key, der, scalar) = device_key("libest/simpleenroll-202-retry-after");
    let mut spki = [0u8; 96];
    let n = SoftP256Key::from_pkcs8_der(&der).unwrap().public_key_der(&mut spki).unwrap();
    let spki = &spki[..n];
    let mut config = Config::new("127.0.0.1", CaCertsTrust::TlsAuthenticated, spki);
    config.credentials = Some(Credentials { user: USER, password: PASSWORD, preemptive_basic: true });
    let responses =
        vec![case("libest/simpleenroll-202-retry-after", "response.http"), case("libest/simpleenroll-200-after-202", "response.http")];
    let (outcome, _) = est(config, Operation::Enroll(CsrBuilder::new(&subject)), key, responses);
    assert_eq!(outcome, Outcome::Issued);
    secrets.push(("second device key (PKCS#8)", der));
    secrets.push(("second device key (scalar)", scalar));

    let log = lines();
    assert_steps(
        &log,
        &[
            "INFO est: /cacerts with 127.0.0.1 (CA label none)",
            "INFO est: sending GET /.well-known/est/cacerts (Authorization: none)",
            "DEBUG transport: connecting for GET /.well-known/est/cacerts",
            "DEBUG est: /cacerts answered HTTP 200",
            "INFO est: /cacerts trusted (certificates matching the configured trust: 1)",
            "INFO est: done: /cacerts done: the CA certificates are trusted",
            "INFO est: /simpleenroll with 127.0.0.1",
            "DEBUG est: CSR built (",
            "INFO key: sign with the device key",
            "INFO est: sending POST /.well-known/est/simpleenroll (Authorization: none)",
            "DEBUG est: the enrollment answered HTTP 401",
            "WARN est: 401: answering the Basic challenge (attempt 1)",
            "INFO est: sending POST /.well-known/est/simpleenroll (Authorization: Basic)",
            "DEBUG est: the enrollment answered HTTP 200",
            "INFO est: certificate issued: subject ",
            "INFO est: done: the certificate was issued",
            "INFO est: sending POST /.well-known/est/simpleenroll (Authorization: Basic)",
            "INFO est: 202: retry 1 in 60000 ms (Retry-After: 60)",
            "DEBUG driver: waiting 60000 ms",
            "DEBUG est: retry due",
            "INFO est: sending POST /.well-known/est/simpleenroll (Authorization: Basic)",
            "INFO est: certificate issued: subject ",
            "INFO est: done: the certificate was issued",
        ],
    );
    let basic = embedded_enroll_base64(format!("{USER}:{PASSWORD}").as_bytes());
    let bytes: Vec<(&str, &[u8])> = secrets.iter().map(|(w, b)| (*w, b.as_slice())).collect();
    assert_no_secret(&log, &[("HTTP password", PASSWORD), ("Basic credentials", &basic)], &bytes);
}

/// Base64 (one line), by the crate's encoder.
fn embedded_enroll_base64(data: &[u8]) -> String {
    let mut out = vec![0u8; data.len() * 2 + 4];
    let s = embedded_enroll::http::base64::encode(data, embedded_enroll::http::base64::LineStyle::OneLine, &mut out).unwrap();
    String::from_utf8(s.to_vec()).unwrap()
}
