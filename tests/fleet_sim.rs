//! A fleet, not a device (issue 15 item 8): 100 000 real lifecycle [`Manager`]s, all enrolled
//! on the same day, run through two years on a virtual clock against a simulated CA (no I/O),
//! with a 6-hour CA outage in the middle of the first renewal wave. The simulation counts the
//! requests per virtual minute, renewals (first attempts) and retries (attempts after a
//! failure) apart, prints a short report and holds the fleet to two bounds:
//!
//! - in every renewal wave, the peak renewals per minute are at most twice the average over
//!   the wave's window (its first to its last renewal minute);
//! - after the outage, the peak retries per minute are at most three times the renewal rate of
//!   the hour before the outage.
//!
//! The scenario: a factory provisions devices in burn-in racks of 1 000 that power up together,
//! one rack every 4.8 minutes over an 8-hour shift, each device enrolling within a minute of
//! power-up (so without jitter 1 000 devices would renew in the same minute a year later).
//! Certificates live one year, a common validity for device certificates issued over SCEP and
//! EST; at the default 80 % that is two renewals per device in the two years. The policy is
//! [`RenewalPolicy::DEFAULT`].
//!
//! What is simulated and what is not: every manager is the real state machine with its two
//! record buffers, and every issued certificate goes through its checks (the key, the issuer,
//! the CA's RSA-2048 signature, the validity at the virtual time). To keep the run short, all
//! devices share one P-256 key (the manager compares the certificate's key with the one it
//! generated, which still holds) and the CA issues one certificate per 10 virtual minutes and
//! hands it to every request of those minutes (notBefore is the period's start: backdated by
//! less than 10 minutes, as CAs backdate). Storage writes always succeed and are not kept.
//!
//! To see the bounds fail, override the policy: `FLEET_SIM_MAX_JITTER=0` (no renewal jitter:
//! the racks renew in bursts) or `FLEET_SIM_RETRY=300,2,21600` (retry after 5 minutes,
//! doubling, up to 6 hours: each device retries six times during the outage, and the retry rate
//! stays at six times the renewal rate when the CA comes back).
//!
//! Needs `std` and `soft-keys` (`required-features` in Cargo.toml): CI runs it with the host
//! feature set, where it takes about 30 seconds (the test profile at opt-level 1, the
//! dependencies at 3), 25 in release, on a 2-core machine, and about 330 MB resident (two
//! record buffers of about 1.5 KB per device).
//!
//! Measured with the default policy: both renewal waves peak at 72 renewals a minute over an
//! average of 38.0 (1.89 x; 43.8 hours each); the hour before the outage saw 46.9 renewals a
//! minute, and the retries after it peak at 111 (2.37 x). With `FLEET_SIM_MAX_JITTER=0` the
//! first wave peaks at 11.4 x its average (2 413 a minute); with `FLEET_SIM_RETRY=300,2,21600`
//! the retries after the outage peak at 6.59 x. The policy's module docs have more.

use embedded_enroll::UnixTime;
use embedded_enroll::asn1::cert::CertificateRef;
use embedded_enroll::crypto::Digest;
use embedded_enroll::hal::Signer;
use embedded_enroll::hal::soft::SoftRsaKey;
use embedded_enroll::hal::soft::{P256_SPKI_LEN, SoftP256Key};
use embedded_enroll::lifecycle::{
    Auth, Buffers, Job, KeyPolicy, Manager, Profile, Protocol, RenewalPolicy, RolloverPolicy, Step, Trust, Wake,
};
use embedded_enroll::time::Duration;
use p256::ecdsa::signature::{Error as SignatureError, Keypair, Signer as SignatureSigner};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::str::FromStr;
use std::time::Instant;
use x509_cert::builder::{Builder, CertificateBuilder, Profile as CertProfile};
use x509_cert::der::asn1::{AnyRef, BitString, ObjectIdentifier};
use x509_cert::der::{Decode, Document, Encode};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{
    AlgorithmIdentifier, EncodePublicKey, SignatureAlgorithmIdentifier, SignatureBitStringEncoding, SubjectPublicKeyInfoOwned,
};
use x509_cert::time::{Time, Validity};

const MIN: i64 = 60;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;
/// 2027-03-01T06:00:00Z: the shift starts.
const T0: i64 = 1_803_880_800;
const DEVICES: usize = 100_000;
/// Devices that power up together.
const RACK: usize = 1_000;
/// One rack every 4.8 minutes: 100 racks in 8 hours.
const RACK_EVERY: i64 = 8 * HOUR / (DEVICES / RACK) as i64;
const LIFETIME: i64 = 365 * DAY;
const END: i64 = T0 + 730 * DAY;
const OUTAGE: i64 = 6 * HOUR;
/// The CA hands out one certificate per 10 minutes (notBefore the period's start: backdated by
/// less than the 10 minutes AD CS backdates by default).
const ISSUE_EVERY: i64 = 10 * MIN;

fn utc(t: i64) -> Time {
    Time::UtcTime(x509_cert::der::asn1::UtcTime::from_unix_duration(std::time::Duration::from_secs(t as u64)).unwrap())
}

/// The CA's RSA-2048 key (the crate's soft key) behind the signer traits of the `x509-cert`
/// builder: sha256WithRSAEncryption.
struct RsaCaKey {
    key: RefCell<SoftRsaKey<{ 2048 / 64 }, { 1024 / 64 }>>,
    spki: Vec<u8>,
}

#[derive(Clone)]
struct RsaCaPublicKey(Vec<u8>);

impl EncodePublicKey for RsaCaPublicKey {
    fn to_public_key_der(&self) -> x509_cert::spki::Result<Document> {
        Ok(Document::try_from(self.0.as_slice())?)
    }
}

impl Keypair for RsaCaKey {
    type VerifyingKey = RsaCaPublicKey;
    fn verifying_key(&self) -> RsaCaPublicKey {
        RsaCaPublicKey(self.spki.clone())
    }
}

impl SignatureAlgorithmIdentifier for RsaCaKey {
    type Params = AnyRef<'static>;
    const SIGNATURE_ALGORITHM_IDENTIFIER: AlgorithmIdentifier<AnyRef<'static>> =
        AlgorithmIdentifier { oid: ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11"), parameters: Some(AnyRef::NULL) };
}

struct RsaSignature(Vec<u8>);

impl SignatureBitStringEncoding for RsaSignature {
    fn to_bitstring(&self) -> x509_cert::der::Result<BitString> {
        BitString::from_bytes(&self.0)
    }
}

impl SignatureSigner<RsaSignature> for RsaCaKey {
    fn try_sign(&self, msg: &[u8]) -> Result<RsaSignature, SignatureError> {
        let mut out = [0u8; 256];
        let n = self.key.borrow_mut().sign_prehash(&Digest::sha256(msg), &mut out).map_err(|_| SignatureError::new())?;
        Ok(RsaSignature(out[..n].to_vec()))
    }
}

/// The simulated CA: an RSA-2048 key (the common enterprise CA; its signatures are also about
/// seven times cheaper to verify than P-256 ones, which keeps 300 000 verifications short), a
/// self-signed certificate that outlives the simulation (no rollover), and one leaf per
/// `ISSUE_EVERY` seconds for the fleet's shared key.
struct Ca {
    key: RsaCaKey,
    name: Name,
    cert: Vec<u8>,
    device_spki: SubjectPublicKeyInfoOwned,
    /// The period of `leaf` (None: none issued yet).
    period: Option<i64>,
    leaf: Vec<u8>,
    issued: usize,
}

impl Ca {
    fn new(device_spki: &[u8]) -> Self {
        let mut rsa = SoftRsaKey::generate(&mut StdRng::seed_from_u64(1)).unwrap();
        let mut spki = [0u8; 600];
        let n = rsa.public_key_der(&mut spki).unwrap();
        let key = RsaCaKey { key: RefCell::new(rsa), spki: spki[..n].to_vec() };
        let name = Name::from_str("CN=Fleet CA,O=simulation").unwrap();
        let spki = SubjectPublicKeyInfoOwned::from_der(&key.spki).unwrap();
        let validity = Validity { not_before: utc(T0 - 30 * DAY), not_after: utc(T0 + 20 * 365 * DAY) };
        let b = CertificateBuilder::new(CertProfile::Root, SerialNumber::from(1u32), validity, name.clone(), spki, &key).unwrap();
        let cert = b.build::<RsaSignature>().unwrap().to_der().unwrap();
        let device_spki = SubjectPublicKeyInfoOwned::from_der(device_spki).unwrap();
        Self { key, name, cert, device_spki, period: None, leaf: Vec::new(), issued: 0 }
    }

    /// Makes `leaf` the certificate of `now`'s period: valid from the period's start for a year.
    fn issue(&mut self, now: i64) {
        let period = now.div_euclid(ISSUE_EVERY);
        if self.period == Some(period) {
            return;
        }
        self.issued += 1;
        let not_before = period * ISSUE_EVERY;
        let validity = Validity { not_before: utc(not_before), not_after: utc(not_before + LIFETIME) };
        let profile = CertProfile::Leaf { issuer: self.name.clone(), enable_key_agreement: false, enable_key_encipherment: false };
        let subject = Name::from_str("CN=device,O=simulation").unwrap();
        let serial = SerialNumber::from(1000 + self.issued as u32);
        let b = CertificateBuilder::new(profile, serial, validity, subject, self.device_spki.clone(), &self.key).unwrap();
        self.leaf = b.build::<RsaSignature>().unwrap().to_der().unwrap();
        self.period = Some(period);
    }
}

/// Requests per virtual minute since `T0`, and what else the report needs.
struct Stats {
    enrollments: Vec<u32>,
    renewals: Vec<u32>,
    retries: Vec<u32>,
    failed: usize,
    verified: usize,
    fetches: usize,
    reports: Vec<String>,
}

impl Stats {
    fn new() -> Self {
        let minutes = ((END - T0) / MIN + 1) as usize;
        Self {
            enrollments: vec![0; minutes],
            renewals: vec![0; minutes],
            retries: vec![0; minutes],
            failed: 0,
            verified: 0,
            fetches: 0,
            reports: Vec::new(),
        }
    }
}

fn minute(t: i64) -> usize {
    ((t - T0) / MIN) as usize
}

/// Polls `m` at `now` and does what it says until it waits; returns when to poll again.
fn drive(m: &mut Manager<'_>, now: i64, spki: &[u8], ca: &mut Ca, down: bool, stats: &mut Stats) -> i64 {
    let t = Some(UnixTime::from_secs(now));
    for _ in 0..64 {
        match m.poll(t).unwrap() {
            Step::GenerateKey(slot) => m.handle_key(slot, spki).unwrap(),
            Step::Run(job) => {
                let (renew, fetch) = (matches!(job, Job::Renew { .. }), matches!(job, Job::FetchNextCa));
                if fetch {
                    // The CA outlives the simulation: no next CA is asked for (counted if so).
                    stats.fetches += 1;
                    m.handle_next_ca(t, &[]).unwrap();
                    continue;
                }
                let counts = match (m.record().failures, renew) {
                    (0, true) => &mut stats.renewals,
                    (0, false) => &mut stats.enrollments,
                    _ => &mut stats.retries,
                };
                counts[minute(now)] += 1;
                if down {
                    stats.failed += 1;
                    m.handle_failed(t).unwrap();
                } else {
                    ca.issue(now);
                    stats.verified += 1;
                    m.handle_issued(t, &ca.leaf, &ca.cert).unwrap();
                }
            }
            Step::Store { .. } => m.handle_stored(true).unwrap(),
            Step::Activate { .. } => {}
            Step::Report(r) => {
                if stats.reports.len() < 10 {
                    stats.reports.push(format!("{} {r:?}", UnixTime::from_secs(now)));
                }
            }
            Step::Wait(Wake::At(w)) => return w.as_secs().max(now + 1),
            Step::Wait(Wake::WhenTimeKnown) => panic!("time is known in this simulation"),
        }
    }
    panic!("a manager did not come to a wait within 64 steps at {now}");
}

/// The policy under test: the default, or an override from the environment (see the module
/// docs) to watch the bounds fail.
fn policy() -> RenewalPolicy {
    let mut p = RenewalPolicy::DEFAULT;
    if let Ok(v) = std::env::var("FLEET_SIM_MAX_JITTER") {
        p.max_jitter = Duration::from_secs(v.trim().parse().expect("FLEET_SIM_MAX_JITTER: seconds"));
    }
    if let Ok(v) = std::env::var("FLEET_SIM_RETRY") {
        let n: Vec<u64> = v.split(',').map(|s| s.trim().parse().expect("FLEET_SIM_RETRY: initial,factor,cap")).collect();
        assert_eq!(n.len(), 3, "FLEET_SIM_RETRY: initial seconds, factor, cap seconds");
        p.retry_initial = Duration::from_secs(n[0]);
        p.retry_factor = n[1] as u32;
        p.retry_cap = Duration::from_secs(n[2]);
    }
    p
}

fn at(t: i64) -> String {
    format!("day {} {:02}:{:02}", (t - T0).div_euclid(DAY), (t - T0).rem_euclid(DAY) / HOUR, (t - T0).rem_euclid(HOUR) / MIN)
}

/// A run of minutes with renewals, gaps of less than a day bridged: `[first, last]` minutes.
fn waves(renewals: &[u32]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for (i, n) in renewals.iter().enumerate() {
        if *n == 0 {
            continue;
        }
        match out.last_mut() {
            Some((_, last)) if i - *last <= (DAY / MIN) as usize => *last = i,
            _ => out.push((i, i)),
        }
    }
    out
}

#[test]
fn a_fleet_enrolled_in_one_day_renews_and_recovers_without_storms() {
    let started = Instant::now();
    let policy = policy();
    let mut rng = StdRng::seed_from_u64(2027);
    let mut key = SoftP256Key::generate(&mut rng);
    let mut spki = [0u8; P256_SPKI_LEN];
    let n = key.public_key_der(&mut spki).unwrap();
    let spki = spki[..n].to_vec();
    let mut ca = Ca::new(&spki);
    let anchor = ca.cert.clone();
    let profile = Profile {
        name: "fleet",
        protocol: Protocol::Est,
        server: "ca.example:443",
        key_slots: [0, 1],
        store_slots: [0, 1],
        trust: Trust::Anchor(&anchor),
        subject: &[],
        alt_names: &[],
        auth: Auth::None,
        renewal: policy,
        keys: KeyPolicy::SameKey,
        rollover: RolloverPolicy::DEFAULT,
        extra: (),
    };

    // Two record buffers per device, sized for a record with the certificate, the CA and a job
    // in progress (68 bytes, 34 for the job, plus the certificates; a little slack for longer
    // serials and signatures).
    ca.issue(T0);
    let record_len = 102 + ca.leaf.len() + ca.cert.len() + 32;
    ca.period = None;
    let mut arena = vec![0u8; DEVICES * 2 * record_len];
    let mut fleet: Vec<Manager<'_>> = arena
        .chunks_exact_mut(2 * record_len)
        .map(|pair| {
            let (current, next) = pair.split_at_mut(record_len);
            Manager::new(&profile, Buffers { current, next }, &mut rng).unwrap()
        })
        .collect();

    // Power-up: rack by rack, each device within a minute of its rack.
    let mut queue: BinaryHeap<Reverse<(i64, u32)>> = (0..DEVICES)
        .map(|i| {
            let rack = (i / RACK) as i64;
            Reverse((T0 + rack * RACK_EVERY + rand::Rng::gen_range(&mut rng, 0..MIN), i as u32))
        })
        .collect();
    let mut stats = Stats::new();

    // The enrollment day, with the CA up.
    let day_two = T0 + DAY;
    while let Some(Reverse((t, i))) = queue.peek().copied() {
        if t >= day_two {
            break;
        }
        queue.pop();
        let next = drive(&mut fleet[i as usize], t, &spki, &mut ca, false, &mut stats);
        queue.push(Reverse((next, i)));
    }
    assert!(fleet.iter().all(|m| m.identity().is_some()), "every device enrolled on the first day");

    // The outage: six hours centred on the median first renewal (the middle of the wave).
    let mut due: Vec<i64> = fleet.iter().map(|m| m.record().renew_at.as_secs()).collect();
    due.sort_unstable();
    let outage_start = due[DEVICES / 2] - OUTAGE / 2;
    let outage_end = outage_start + OUTAGE;

    while let Some(Reverse((t, i))) = queue.pop() {
        if t >= END {
            break;
        }
        let down = (outage_start..outage_end).contains(&t);
        let next = drive(&mut fleet[i as usize], t, &spki, &mut ca, down, &mut stats);
        queue.push(Reverse((next, i)));
    }
    let elapsed = started.elapsed();

    // Everyone ends the two years with a valid certificate, renewed twice.
    for (i, m) in fleet.iter().enumerate() {
        let (_, cert) = m.identity().unwrap();
        let cert = CertificateRef::parse(cert).unwrap();
        assert!(cert.is_valid_at(UnixTime::from_secs(END)), "device {i} ends without a valid certificate");
    }
    assert!(stats.reports.is_empty(), "reports in a fleet that renews in time: {:?}", stats.reports);
    assert_eq!(stats.fetches, 0, "no next CA is due in the simulation");

    // ---- the report ---------------------------------------------------------------------
    let s = &stats;
    let enrolled = waves(&s.enrollments);
    let renewal_waves = waves(&s.renewals);
    let peak = |v: &[u32], a: usize, b: usize| v[a..=b].iter().copied().max().unwrap_or(0);
    let sum = |v: &[u32], a: usize, b: usize| v[a..=b].iter().map(|n| u64::from(*n)).sum::<u64>();
    let time = |m: usize| T0 + m as i64 * MIN;
    eprintln!("fleet simulation: {DEVICES} managers, racks of {RACK} every {} s over 8 h, one-year certificates", RACK_EVERY);
    eprintln!(
        "  policy: renew at {} % or {} d before expiry, max jitter {} h; retry {} min x{} up to {} h",
        policy.lifetime_percent,
        policy.before_expiry.as_secs() / DAY as u64,
        policy.max_jitter.as_secs() as f64 / HOUR as f64,
        policy.retry_initial.as_secs() as f64 / MIN as f64,
        policy.retry_factor,
        policy.retry_cap.as_secs() as f64 / HOUR as f64,
    );
    for (a, b) in &enrolled {
        eprintln!(
            "  enrollment: {} .. {}: {} devices, peak {}/min",
            at(time(*a)),
            at(time(*b)),
            sum(&s.enrollments, *a, *b),
            peak(&s.enrollments, *a, *b)
        );
    }
    let mut ratios = Vec::new();
    for (k, (a, b)) in renewal_waves.iter().enumerate() {
        let n = sum(&s.renewals, *a, *b);
        let minutes = (b - a + 1) as f64;
        let avg = n as f64 / minutes;
        let p = peak(&s.renewals, *a, *b);
        let ratio = f64::from(p) / avg;
        ratios.push(ratio);
        eprintln!(
            "  renewal wave {}: {} .. {} ({:.1} h): {n} renewals, average {avg:.1}/min, peak {p}/min = {ratio:.2} x average (bound 2)",
            k + 1,
            at(time(*a)),
            at(time(*b)),
            minutes / 60.0,
        );
    }
    let (o0, o1) = (minute(outage_start), minute(outage_end));
    let before = sum(&s.renewals, o0 - 60, o0 - 1) as f64 / 60.0;
    let last_retry = s.retries.iter().rposition(|n| *n > 0).unwrap_or(o1);
    let after_peak = if last_retry >= o1 { peak(&s.retries, o1, last_retry) } else { 0 };
    let retry_ratio = f64::from(after_peak) / before;
    eprintln!(
        "  outage: {} .. {}: {} requests failed; renewals in the hour before: {before:.1}/min",
        at(outage_start),
        at(outage_end),
        s.failed
    );
    eprintln!("  retries during the outage: {}, peak {}/min", sum(&s.retries, o0, o1 - 1), peak(&s.retries, o0, o1 - 1));
    eprintln!(
        "  retries after the outage: {} until {}, peak {after_peak}/min = {retry_ratio:.2} x the pre-outage renewal rate (bound 3)",
        if last_retry >= o1 { sum(&s.retries, o1, last_retry) } else { 0 },
        at(time(last_retry)),
    );
    eprintln!("  per hour around the outage (requests per minute: average / peak):");
    let mut h = o0 - 120;
    while h < o1 + 6 * 60 {
        let (r, q) = (&s.renewals, &s.retries);
        eprintln!(
            "    {}  renewals {:6.1} / {:4}   retries {:6.1} / {:4}{}",
            at(time(h)),
            sum(r, h, h + 59) as f64 / 60.0,
            peak(r, h, h + 59),
            sum(q, h, h + 59) as f64 / 60.0,
            peak(q, h, h + 59),
            if (o0..o1).contains(&h) { "   (CA down)" } else { "" }
        );
        h += 60;
    }
    eprintln!(
        "  {} certificates verified by the managers ({} issued by the CA, one per {} min); {:.1} s",
        s.verified,
        ca.issued,
        ISSUE_EVERY / MIN,
        elapsed.as_secs_f64()
    );

    // ---- the bounds -----------------------------------------------------------------------
    assert_eq!(renewal_waves.len(), 2, "two renewal waves in two years of one-year certificates");
    for (k, (a, b)) in renewal_waves.iter().enumerate() {
        assert_eq!(sum(&s.renewals, *a, *b), DEVICES as u64, "wave {}: every device renews once", k + 1);
    }
    for (k, r) in ratios.iter().enumerate() {
        assert!(*r <= 2.0, "renewal wave {}: peak {r:.2} x the average per minute (bound 2)", k + 1);
    }
    assert!(before > 0.0, "the outage hit the renewal wave");
    assert!(retry_ratio <= 3.0, "after the outage: peak retries {retry_ratio:.2} x the pre-outage renewal rate (bound 3)");
}
