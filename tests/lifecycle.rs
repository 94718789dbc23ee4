//! The lifecycle manager over three simulated years on a virtual clock, against a simulated CA
//! (certificates made with the `x509-cert` builder and P-256 CA keys, so every signature the
//! manager checks is real), and the same transcript cut by power loss at every persisted write.
//!
//! The simulated CA is ours, so these tests prove the manager's logic, not interoperability:
//! `tests/lifecycle_interop.rs` renews through the manager against micromdm and est-ca.

use embedded_enroll::UnixTime;
use embedded_enroll::asn1::cert::CertificateRef;
use embedded_enroll::hal::Signer;
use embedded_enroll::hal::soft::{P256_SPKI_LEN, SoftP256Key};
use embedded_enroll::lifecycle::record::{self, MAX_RECORD_LEN, Record, Stage};
use embedded_enroll::lifecycle::rollover::find_root_key_update;
use embedded_enroll::lifecycle::{
    Auth, Buffers, Job, KeyPolicy, KeySlot, Manager, Profile, Protocol, RenewalPolicy, Report, RestoreError, RolloverPolicy, Step, Trust,
    Wake,
};
use embedded_enroll::time::Duration;
use p256::ecdsa::{DerSignature, SigningKey};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::str::FromStr;
use x509_cert::builder::{Builder, CertificateBuilder, Profile as CertProfile};
use x509_cert::der::{Decode, Encode};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::{Time, Validity};

const DAY: i64 = 86_400;
/// 2027-01-01T00:00:00Z: the simulated device's first boot.
const T0: i64 = 1_798_761_600;
const LEAF_LIFETIME: i64 = 180 * DAY;

fn utc(t: i64) -> Time {
    Time::UtcTime(x509_cert::der::asn1::UtcTime::from_unix_duration(std::time::Duration::from_secs(t as u64)).unwrap())
}

/// A CA of the simulation: a P-256 key and a self-signed certificate.
struct SimCa {
    key: SigningKey,
    name: Name,
    cert: Vec<u8>,
    not_after: i64,
    serial: u64,
}

impl SimCa {
    fn new(cn: &str, seed: u64, not_before: i64, not_after: i64) -> Self {
        let key = SigningKey::random(&mut StdRng::seed_from_u64(seed));
        let name = Name::from_str(&format!("CN={cn},O=simulation")).unwrap();
        let spki = SubjectPublicKeyInfoOwned::from_key(*key.verifying_key()).unwrap();
        let validity = Validity { not_before: utc(not_before), not_after: utc(not_after) };
        let b = CertificateBuilder::new(CertProfile::Root, SerialNumber::from(seed as u32), validity, name.clone(), spki, &key).unwrap();
        let cert = b.build::<DerSignature>().unwrap().to_der().unwrap();
        Self { key, name, cert, not_after, serial: 100 }
    }

    /// A leaf for `spki` (DER), valid from `now` for the leaf lifetime, capped at the CA's end.
    fn issue(&mut self, spki: &[u8], now: i64) -> Vec<u8> {
        self.serial += 1;
        let validity = Validity { not_before: utc(now), not_after: utc((now + LEAF_LIFETIME).min(self.not_after)) };
        let profile = CertProfile::Leaf { issuer: self.name.clone(), enable_key_agreement: false, enable_key_encipherment: false };
        let spki = SubjectPublicKeyInfoOwned::from_der(spki).unwrap();
        let subject = Name::from_str("CN=router-17,O=simulation").unwrap();
        let b = CertificateBuilder::new(profile, SerialNumber::from(self.serial as u32), validity, subject, spki, &self.key).unwrap();
        b.build::<DerSignature>().unwrap().to_der().unwrap()
    }

    /// "NewWithOld": `new`'s name and key, signed by this CA (RFC 7030 section 4.1.3).
    fn vouch_for(&self, new: &SimCa, now: i64) -> Vec<u8> {
        self.vouch_for_as(new, now, CertProfile::SubCA { issuer: self.name.clone(), path_len_constraint: None })
    }

    /// The same, in the given profile (a leaf profile makes an end-entity "NewWithOld").
    fn vouch_for_as(&self, new: &SimCa, now: i64, profile: CertProfile) -> Vec<u8> {
        let spki = SubjectPublicKeyInfoOwned::from_key(*new.key.verifying_key()).unwrap();
        let validity = Validity { not_before: utc(now), not_after: utc(self.not_after) };
        let b = CertificateBuilder::new(profile, SerialNumber::from(999u32), validity, new.name.clone(), spki, &self.key).unwrap();
        b.build::<DerSignature>().unwrap().to_der().unwrap()
    }
}

/// What the simulated servers do over the years.
struct World {
    ca: SimCa,
    next_ca: SimCa,
    /// From this time the server offers the next CA (GetNextCACert / root key update).
    next_ca_from: i64,
    /// The server fails every request in these windows (an outage).
    outages: Vec<(i64, i64)>,
    protocol: Protocol,
    /// The identity in use must be valid at every step (false where a test lets it expire).
    expect_valid: bool,
}

impl World {
    fn new(protocol: Protocol) -> Self {
        Self {
            // CA 1 ends two years in; CA 2 takes over and runs past the simulation.
            ca: SimCa::new("CA 1", 1, T0 - DAY, T0 + 730 * DAY),
            next_ca: SimCa::new("CA 2", 2, T0 + 500 * DAY, T0 + 2000 * DAY),
            next_ca_from: T0 + 600 * DAY,
            // The second renewal (due around day 287) falls in an outage of days 280 to 288.
            outages: vec![(T0 + 280 * DAY, T0 + 288 * DAY)],
            protocol,
            expect_valid: true,
        }
    }

    /// The CA that signs at `now` (the next one once the first has ended), or the next CA
    /// when asked for explicitly.
    fn signer(&mut self, now: i64, next: bool) -> &mut SimCa {
        if next || now >= self.ca.not_after { &mut self.next_ca } else { &mut self.ca }
    }

    fn down(&self, now: i64) -> bool {
        self.outages.iter().any(|(a, b)| now >= *a && now < *b)
    }
}

/// The device: two key slots (a secure element would keep them across power loss), two
/// storage slots, the identity it uses, a virtual clock and the transcript.
struct Device {
    keys: [Option<SoftP256Key>; 2],
    storage: [Vec<u8>; 2],
    in_use: Option<(KeySlot, Vec<u8>)>,
    now: i64,
    rng: StdRng,
    log: Vec<String>,
    stores: usize,
    steps: usize,
}

impl Device {
    fn new() -> Self {
        Self {
            keys: [None, None],
            storage: [Vec::new(), Vec::new()],
            in_use: None,
            now: T0,
            rng: StdRng::seed_from_u64(77),
            log: vec![],
            stores: 0,
            steps: 0,
        }
    }

    fn spki(&mut self, slot: KeySlot) -> Vec<u8> {
        let key = self.keys[idx(slot)].as_mut().expect("key in slot");
        let mut out = [0u8; P256_SPKI_LEN];
        let n = key.public_key_der(&mut out).unwrap();
        out[..n].to_vec()
    }
}

fn idx(slot: KeySlot) -> usize {
    match slot {
        KeySlot::A => 0,
        KeySlot::B => 1,
    }
}

fn profile(protocol: Protocol, trust: Trust<'_>, keys: KeyPolicy) -> Profile<'_> {
    Profile {
        name: "management",
        protocol,
        server: "ca.example:443",
        key_slots: [0, 1],
        store_slots: [0, 1],
        trust,
        subject: &[],
        alt_names: &[],
        auth: Auth::Challenge("secret"),
        renewal: RenewalPolicy {
            lifetime_percent: 80,
            before_expiry: Duration::from_secs(14 * DAY as u64),
            max_jitter: Duration::from_secs(6 * 3600),
            retry_initial: Duration::from_secs(300),
            retry_factor: 2,
            retry_cap: Duration::from_secs(6 * 3600),
            warn_before: Duration::from_secs(7 * DAY as u64),
        },
        keys,
        rollover: RolloverPolicy::DEFAULT,
        extra: (),
    }
}

/// How a simulated run is cut: at the `n`-th store (0-based), how.
#[derive(Clone, Copy, Debug)]
enum Cut {
    /// Power lost before the write started.
    Before(usize),
    /// Power lost in the middle of the write: the slot holds the first half.
    Torn(usize),
    /// Power lost after the write, before the manager heard of it.
    After(usize),
    /// Power lost before the `n`-th step of the run (any step: a key, a job, a report...).
    Step(usize),
}

/// Runs the device until `end` (virtual time), restarting from storage at `cut`. Returns the
/// manager's final record (as owned bytes) and the device.
fn simulate(world: &mut World, device: &mut Device, end: i64, keys: KeyPolicy, mut cut: Option<Cut>) -> Vec<u8> {
    let anchor = world.ca.cert.clone();
    let prof = profile(world.protocol, Trust::Anchor(&anchor), keys);
    let mut boots = 0;
    'boot: loop {
        boots += 1;
        assert!(boots <= 3, "rebooted too often");
        let mut cur = vec![0u8; MAX_RECORD_LEN];
        let mut nxt = vec![0u8; MAX_RECORD_LEN];
        let lens = [device.storage[0].len(), device.storage[1].len()];
        cur[..lens[0]].copy_from_slice(&device.storage[0]);
        nxt[..lens[1]].copy_from_slice(&device.storage[1]);
        let mut seed_rng = StdRng::seed_from_u64(5); // the device's jitter seed source
        let mut m = Manager::restore(&prof, Buffers { current: &mut cur, next: &mut nxt }, lens, &mut seed_rng).expect("restore");
        // After a restart the device uses what the record says.
        device.in_use = m.identity().map(|(s, c)| (s, c.to_vec()));
        if let Some((slot, cert)) = device.in_use.clone() {
            check_identity(device, world, slot, &cert);
        }
        for _ in 0..5000 {
            let now = device.now;
            let step = m.poll(Some(UnixTime::from_secs(now))).expect("poll");
            let n = device.steps;
            device.steps += 1;
            if let Some(Cut::Step(k)) = cut
                && k == n
            {
                cut = None;
                device.log.push(format!("{} POWER LOST before step #{n}", day(now)));
                continue 'boot;
            }
            match step {
                Step::GenerateKey(slot) => {
                    device.keys[idx(slot)] = Some(SoftP256Key::generate(&mut device.rng));
                    let spki = device.spki(slot);
                    device.log.push(format!("{} key {slot:?}", day(now)));
                    m.handle_key(slot, &spki).unwrap();
                }
                Step::Run(job) => {
                    let result = run_job(world, device, job, now);
                    match result {
                        JobResult::Issued(cert, ca) => m.handle_issued(Some(UnixTime::from_secs(now)), &cert, &ca).unwrap(),
                        JobResult::Failed => m.handle_failed(Some(UnixTime::from_secs(now))).unwrap(),
                        JobResult::NextCa(der) => m.handle_next_ca(Some(UnixTime::from_secs(now)), &der).unwrap(),
                        JobResult::CaCerts(certs) => {
                            let refs: Vec<&[u8]> = certs.iter().map(|c| c.as_slice()).collect();
                            m.handle_ca_certs(Some(UnixTime::from_secs(now)), &refs).unwrap()
                        }
                    }
                }
                Step::Store { slot, record } => {
                    let n = device.stores;
                    device.stores += 1;
                    let rec = record.to_vec();
                    match cut {
                        Some(Cut::Before(k)) if k == n => {
                            cut = None;
                            device.log.push(format!("{} POWER LOST before store #{n}", day(now)));
                            continue 'boot;
                        }
                        Some(Cut::Torn(k)) if k == n => {
                            cut = None;
                            device.storage[usize::from(slot)] = rec[..rec.len() / 2].to_vec();
                            device.log.push(format!("{} POWER LOST in store #{n}", day(now)));
                            continue 'boot;
                        }
                        Some(Cut::After(k)) if k == n => {
                            cut = None;
                            device.storage[usize::from(slot)] = rec;
                            device.log.push(format!("{} POWER LOST after store #{n}", day(now)));
                            continue 'boot;
                        }
                        _ => {}
                    }
                    device.storage[usize::from(slot)] = rec;
                    m.handle_stored(true).unwrap();
                }
                Step::Activate { slot, certificate } => {
                    device.log.push(format!("{} activate {slot:?} {}", day(now), describe(certificate)));
                    check_identity(device, world, slot, certificate);
                    // Persisted before activation: the stored record names it.
                    let stored = record::select(&[&device.storage[0], &device.storage[1]]).unwrap().record.unwrap().1;
                    assert_eq!(stored.certificate, certificate, "activated before it was persisted");
                    device.in_use = Some((slot, certificate.to_vec()));
                }
                Step::Report(r) => device.log.push(format!("{} report {r:?}", day(now))),
                Step::Wait(Wake::At(t)) => {
                    let t = t.as_secs();
                    assert!(t > now, "waits for a time that has come ({t} <= {now})");
                    if t >= end {
                        device.now = end;
                        let r = m.record();
                        let mut out = vec![0u8; r.len()];
                        r.emit(&mut out).unwrap();
                        return out;
                    }
                    device.now = t;
                }
                Step::Wait(Wake::WhenTimeKnown) => panic!("time is known in this simulation"),
            }
            // Whatever happens, once enrolled the device holds a valid identity.
            if let (Some((_, cert)), true) = (&device.in_use, world.expect_valid) {
                let c = CertificateRef::parse(cert).unwrap();
                assert!(
                    c.is_valid_at(UnixTime::from_secs(device.now)),
                    "identity in use expired at {}\n{}",
                    day(device.now),
                    device.log.join("\n")
                );
            }
        }
        let tail = if std::env::var_os("LOG_ALL").is_some() { 0 } else { device.log.len().saturating_sub(30) };
        panic!("no progress: 5000 steps without reaching the end\n{}", device.log[tail..].join("\n"));
    }
}

enum JobResult {
    Issued(Vec<u8>, Vec<u8>),
    Failed,
    NextCa(Vec<u8>),
    CaCerts(Vec<Vec<u8>>),
}

fn run_job(world: &mut World, device: &mut Device, job: Job<'_>, now: i64) -> JobResult {
    if world.down(now) {
        let what = match job {
            Job::Enroll { .. } => "enroll",
            Job::Renew { .. } => "renewal",
            Job::FetchNextCa => "fetch next CA",
        };
        device.log.push(format!("{} {what} -> server down", day(now)));
        return JobResult::Failed;
    }
    match job {
        Job::Enroll { key } => {
            let spki = device.spki(key);
            let ca = world.signer(now, false);
            let cert = ca.issue(&spki, now);
            device.log.push(format!("{} enroll {key:?} -> {}", day(now), describe(&cert)));
            JobResult::Issued(cert, ca.cert.clone())
        }
        Job::Renew { key, signer, certificate, under_next_ca } => {
            // The server checks the request is signed by the certificate's key.
            let signer_spki = device.spki(signer);
            assert_eq!(CertificateRef::parse(certificate).unwrap().spki().as_der(), signer_spki, "renewal signed by another key");
            let spki = device.spki(key);
            let ca = world.signer(now, under_next_ca);
            let cert = ca.issue(&spki, now);
            device.log.push(format!("{} renew {key:?} (signer {signer:?}, next CA {under_next_ca}) -> {}", day(now), describe(&cert)));
            JobResult::Issued(cert, ca.cert.clone())
        }
        Job::FetchNextCa => {
            let offered = now >= world.next_ca_from;
            device.log.push(format!("{} fetch next CA -> {}", day(now), if offered { "offered" } else { "none yet" }));
            match (world.protocol, offered) {
                (_, false) => JobResult::NextCa(vec![]),
                (Protocol::Scep, true) => JobResult::NextCa(world.next_ca.cert.clone()),
                (Protocol::Est, true) => {
                    let nwo = world.ca.vouch_for(&world.next_ca, now);
                    JobResult::CaCerts(vec![world.ca.cert.clone(), nwo, world.next_ca.cert.clone()])
                }
                (Protocol::Acme, true) => panic!("the manager asks no ACME profile to fetch a CA"),
            }
        }
    }
}

/// The identity verifies: its key is in `slot`, and it is signed by the current or next CA.
fn check_identity(device: &mut Device, world: &World, slot: KeySlot, cert: &[u8]) {
    let c = CertificateRef::parse(cert).unwrap();
    assert_eq!(c.spki().as_der(), device.spki(slot), "certificate and key slot disagree");
    let signed =
        [&world.ca.cert, &world.next_ca.cert].iter().any(|ca| c.verify_signed_by(&CertificateRef::parse(ca).unwrap().spki()).is_ok());
    assert!(signed, "identity not signed by a CA of the simulation");
}

fn day(t: i64) -> String {
    let s = t - T0;
    format!("d{:04}+{:05}s", s.div_euclid(DAY), s.rem_euclid(DAY))
}

fn describe(cert: &[u8]) -> String {
    let c = CertificateRef::parse(cert).unwrap();
    format!("[{} by {} {}..{}]", c.subject(), c.issuer(), day(c.not_before().as_secs()), day(c.not_after().as_secs()))
}

fn lines<'a>(log: &'a [String], what: &str) -> Vec<&'a String> {
    log.iter().filter(|l| l.contains(what)).collect()
}

/// Parses the day offset ("d0123+04567s") at the start of a transcript line, in seconds since T0.
fn at(line: &str) -> i64 {
    let d: i64 = line[1..5].parse().unwrap();
    let s: i64 = line[6..11].parse().unwrap();
    d * DAY + s
}

#[test]
fn three_years_of_one_scep_profile() {
    let mut world = World::new(Protocol::Scep);
    let mut device = Device::new();
    let end = T0 + 3 * 365 * DAY;
    let rec = simulate(&mut world, &mut device, end, KeyPolicy::NewKey, None);
    let log = &device.log;
    for l in log {
        println!("{l}");
    }

    // First enrollment at boot.
    let enrolls = lines(log, " enroll ");
    assert_eq!(enrolls.len(), 1, "one enrollment");
    assert_eq!(at(enrolls[0]), 0);

    // Renewals: at 80 % of 180 days (day 144) after each issuance, minus at most 6 h jitter.
    let renewals: Vec<&String> = log.iter().filter(|l| l.contains(" renew ") && !l.contains("server down")).collect();
    assert!(renewals.len() >= 6, "{} renewals in three years", renewals.len());
    let activations = lines(log, " activate ");
    let mut issued_at = 0;
    let switch_at = lines(log, "CaSwitched").first().map(|l| at(l)).unwrap_or(i64::MAX);
    let mut shadow_issued = None;
    for r in &renewals {
        let t = at(r);
        if r.contains("next CA true") {
            shadow_issued = Some(t);
            continue;
        }
        if t > switch_at
            && let Some(s) = shadow_issued.take()
        {
            // After the switch the identity is the shadow certificate.
            issued_at = s;
        }
        let due = issued_at + LEAF_LIFETIME * 80 / 100;
        let outage = world.outages.iter().any(|(a, b)| t >= a - T0 && t < b - T0 + 6 * 3600);
        if !outage {
            assert!(t <= due && t >= due - 6 * 3600, "renewal at {} not in [{due} - 6h, {due}] ({r})", t);
        }
        issued_at = t;
    }
    // Not all at the same offset: the jitter moved them.
    let offsets: std::collections::BTreeSet<i64> = renewals.iter().map(|r| at(r) % DAY).collect();
    assert!(offsets.len() > 1, "no jitter visible");

    // The outage: failures with backoff 5, 10, 20, 40 min (at most 10 % earlier), the identity
    // unchanged, then recovery.
    let down = lines(log, "server down");
    assert!(down.len() >= 3, "{down:?}");
    let gaps: Vec<i64> = down.windows(2).map(|w| at(w[1]) - at(w[0])).collect();
    for (gap, base) in gaps.iter().zip([300, 600, 1200, 2400]) {
        assert!(*gap <= base && *gap >= base - base / 10, "backoff gaps {gaps:?}");
    }
    let recovered = log.iter().position(|l| l.contains(" renew ") && !l.contains("server down") && at(l) > at(down[0])).unwrap();
    let first_down = log.iter().position(|l| l == down[0]).unwrap();
    assert!(!log[first_down..recovered].iter().any(|l| l.contains(" activate ")), "identity changed during the outage");
    assert!(lines(log, "ExpiryNear").is_empty(), "an outage far from expiry is not an expiry warning");

    // Key rotation through the spare slot: every renewal's activation alternates A and B
    // (the switch to the next CA keeps the key the shadow certificate was made for).
    let slots: Vec<bool> =
        activations.iter().filter(|a| !a.contains("by O=simulation,CN=CA 2 d0700")).map(|a| a.contains("activate A")).collect();
    assert!(slots.len() >= 7 && slots.windows(2).all(|w| w[0] != w[1]), "slots do not alternate: {activations:?}");

    // CA rollover: the next CA is fetched 90 days before CA 1 ends (day 640; offered from day
    // 600), a shadow certificate is enrolled 30 days before (day 700), the switch happens at
    // CA 1's end (day 730) and later renewals are signed by CA 2.
    let fetch = lines(log, "fetch next CA");
    assert!(at(fetch[0]) >= 640 * DAY && at(fetch[0]) < 641 * DAY, "{fetch:?}");
    assert!(fetch[0].contains("offered"));
    let staged = lines(log, "NextCaStaged");
    assert_eq!(staged.len(), 1);
    let shadow = lines(log, "next CA true");
    assert_eq!(shadow.len(), 1, "one shadow enrollment");
    assert!(at(shadow[0]) >= 700 * DAY && at(shadow[0]) < 701 * DAY, "{shadow:?}");
    let switched = lines(log, "CaSwitched");
    assert_eq!(switched.len(), 1);
    assert_eq!(at(switched[0]), 730 * DAY);
    let final_rec = Record::parse(&rec).unwrap();
    assert_eq!(final_rec.ca, world.next_ca.cert.as_slice(), "the profile ends under CA 2");
    assert!(describe(final_rec.certificate).contains("by O=simulation,CN=CA 2"));
    assert_eq!(final_rec.failures, 0);
    assert_eq!(final_rec.stage, Stage::Active);
}

#[test]
fn est_root_key_update_is_verified_before_the_switch() {
    let mut world = World::new(Protocol::Est);
    world.outages.clear();
    let mut device = Device::new();
    let rec = simulate(&mut world, &mut device, T0 + 800 * DAY, KeyPolicy::SameKey, None);
    let r = Record::parse(&rec).unwrap();
    assert_eq!(r.ca, world.next_ca.cert.as_slice(), "switched to the new root after NewWithOld verified");
    // Same-key policy: one key slot only, never a new key after the first.
    assert_eq!(lines(&device.log, " key ").len(), 1, "{:?}", lines(&device.log, " key "));
}

/// An end-entity certificate that the old root issued for the new root's name and key is not
/// a NewWithOld: only a CA certificate vouches for a root.
#[test]
fn a_root_key_update_through_an_end_entity_certificate_is_ignored() {
    let world = World::new(Protocol::Est);
    let leaf_profile = CertProfile::Leaf { issuer: world.ca.name.clone(), enable_key_agreement: false, enable_key_encipherment: false };
    let as_leaf = world.ca.vouch_for_as(&world.next_ca, T0 + 650 * DAY, leaf_profile);
    let as_ca = world.ca.vouch_for(&world.next_ca, T0 + 650 * DAY);
    let with_ca = [world.ca.cert.as_slice(), &as_ca, &world.next_ca.cert];
    let with_leaf = [world.ca.cert.as_slice(), &as_leaf, &world.next_ca.cert];
    assert_eq!(
        find_root_key_update(&world.ca.cert, &with_ca),
        Some(world.next_ca.cert.as_slice()),
        "the CA-profile NewWithOld is accepted"
    );
    assert_eq!(find_root_key_update(&world.ca.cert, &with_leaf), None, "an end-entity NewWithOld must not stage a new root");
}

#[test]
fn a_root_key_update_not_signed_by_the_old_root_is_ignored() {
    let mut world = World::new(Protocol::Est);
    world.outages.clear();
    // The "NewWithOld" is made by an impostor with the old root's name but another key.
    let impostor = SimCa::new("CA 1", 66, T0 - DAY, T0 + 730 * DAY);
    let anchor = world.ca.cert.clone();
    let prof = profile(Protocol::Est, Trust::Anchor(&anchor), KeyPolicy::SameKey);
    let (mut cur, mut nxt) = (vec![0u8; MAX_RECORD_LEN], vec![0u8; MAX_RECORD_LEN]);
    let mut m = fresh(&prof, &mut cur, &mut nxt);
    let mut device = Device::new();
    let now = Some(UnixTime::from_secs(T0 + 650 * DAY));
    // Enroll first.
    let Step::GenerateKey(slot) = m.poll(now).unwrap() else { panic!() };
    device.keys[idx(slot)] = Some(SoftP256Key::generate(&mut device.rng));
    let spki = device.spki(slot);
    m.handle_key(slot, &spki).unwrap();
    job_persisted(&mut m, now);
    let cert = world.ca.issue(&spki, T0 + 650 * DAY);
    m.handle_issued(now, &cert, &world.ca.cert).unwrap();
    assert!(matches!(m.poll(now).unwrap(), Step::Store { .. }));
    m.handle_stored(true).unwrap();
    assert!(matches!(m.poll(now).unwrap(), Step::Activate { .. }));
    assert_eq!(m.poll(now).unwrap(), Step::Run(Job::FetchNextCa));
    let forged = impostor.vouch_for(&world.next_ca, T0 + 650 * DAY);
    m.handle_ca_certs(now, &[&world.ca.cert, &forged, &world.next_ca.cert]).unwrap();
    assert!(m.record().next_ca.is_empty(), "staged a root on a forged NewWithOld");
    // Nothing new is asked before the recheck interval (a day).
    assert!(matches!(m.poll(now).unwrap(), Step::Wait(Wake::At(t)) if t.as_secs() == T0 + 651 * DAY));
}

#[test]
fn refuses_certificates_for_another_key_or_from_another_ca() {
    let world = World::new(Protocol::Scep);
    let anchor = world.ca.cert.clone();
    let prof = profile(Protocol::Scep, Trust::Anchor(&anchor), KeyPolicy::NewKey);
    let (mut cur, mut nxt) = (vec![0u8; MAX_RECORD_LEN], vec![0u8; MAX_RECORD_LEN]);
    let mut m = fresh(&prof, &mut cur, &mut nxt);
    let mut device = Device::new();
    let now = Some(UnixTime::from_secs(T0));
    let Step::GenerateKey(slot) = m.poll(now).unwrap() else { panic!() };
    device.keys[idx(slot)] = Some(SoftP256Key::generate(&mut device.rng));
    let spki = device.spki(slot);
    m.handle_key(slot, &spki).unwrap();
    job_persisted(&mut m, now);
    // A certificate for another key.
    let other = SoftP256Key::generate(&mut device.rng);
    let mut other_spki = [0u8; P256_SPKI_LEN];
    let mut other_key = other;
    other_key.public_key_der(&mut other_spki).unwrap();
    let mut ca = SimCa::new("CA 1", 1, T0 - DAY, T0 + 730 * DAY);
    let wrong_key = ca.issue(&other_spki, T0);
    m.handle_issued(now, &wrong_key, &world.ca.cert).unwrap();
    assert_eq!(m.poll(now).unwrap(), Step::Report(Report::Refused(embedded_enroll::lifecycle::Refusal::WrongKey)));
    assert!(matches!(m.poll(now).unwrap(), Step::Store { .. }), "the failure is persisted");
    m.handle_stored(true).unwrap();
    assert!(m.identity().is_none());
    assert_eq!(m.record().failures, 1);
    // After the backoff, from a CA that is not the anchor (same name, other key).
    let retry = m.record().next_retry.unwrap();
    assert!(matches!(m.poll(now).unwrap(), Step::Wait(Wake::At(t)) if t == retry));
    assert!(matches!(m.poll(Some(retry)).unwrap(), Step::Run(Job::Enroll { .. })), "the retry certifies the same key (kept in the record)");
    let mut rogue = SimCa::new("CA 1", 9, T0 - DAY, T0 + 730 * DAY);
    let cert = rogue.issue(&spki, T0);
    m.handle_issued(Some(retry), &cert, &rogue.cert).unwrap();
    assert_eq!(m.poll(Some(retry)).unwrap(), Step::Report(Report::Refused(embedded_enroll::lifecycle::Refusal::UntrustedCa)));
    // A certificate claiming the anchor as CA but signed by the rogue key.
    let _ = m.poll(Some(retry)).unwrap();
    m.handle_stored(true).unwrap();
    let retry = m.record().next_retry.unwrap();
    assert!(matches!(m.poll(Some(retry)).unwrap(), Step::Run(Job::Enroll { .. })), "the retry certifies the same key (kept in the record)");
    m.handle_issued(Some(retry), &cert, &world.ca.cert).unwrap();
    assert_eq!(m.poll(Some(retry)).unwrap(), Step::Report(Report::Refused(embedded_enroll::lifecycle::Refusal::BadSignature)));
    // Wrong call order is an error, not a panic.
    assert!(m.handle_key(KeySlot::B, &spki).is_err());
    assert!(m.handle_stored(true).is_ok(), "answers the pending store");
    assert!(m.handle_stored(true).is_err());
}

#[test]
fn enrolls_without_trusted_time_and_schedules_once_time_is_known() {
    let mut world = World::new(Protocol::Scep);
    let anchor = world.ca.cert.clone();
    let prof =
        profile(Protocol::Scep, Trust::Fingerprint(CertificateRef::parse(&anchor).unwrap().fingerprint_sha256()), KeyPolicy::SameKey);
    let (mut cur, mut nxt) = (vec![0u8; MAX_RECORD_LEN], vec![0u8; MAX_RECORD_LEN]);
    let mut m = fresh(&prof, &mut cur, &mut nxt);
    let mut device = Device::new();
    let Step::GenerateKey(slot) = m.poll(None).unwrap() else { panic!("enrolls without time") };
    device.keys[idx(slot)] = Some(SoftP256Key::generate(&mut device.rng));
    let spki = device.spki(slot);
    m.handle_key(slot, &spki).unwrap();
    job_persisted(&mut m, None);
    // The CA issued it at T0 + 10 days, but the device does not know what time it is.
    let cert = world.ca.issue(&spki, T0 + 10 * DAY);
    m.handle_issued(None, &cert, &world.ca.cert).unwrap();
    assert_eq!(m.poll(None).unwrap(), Step::Report(Report::ValidityUnchecked));
    assert!(matches!(m.poll(None).unwrap(), Step::Store { .. }));
    m.handle_stored(true).unwrap();
    assert!(matches!(m.poll(None).unwrap(), Step::Activate { .. }));
    assert_eq!(m.poll(None).unwrap(), Step::Wait(Wake::WhenTimeKnown));
    assert_ne!(m.record().flags & record::FLAG_VALIDITY_UNCHECKED, 0);
    // Time arrives: the check runs (valid), is persisted, then the renewal is scheduled from
    // the certificate's own validity (day 10 + 144, minus jitter).
    let now = Some(UnixTime::from_secs(T0 + 11 * DAY));
    assert!(matches!(m.poll(now).unwrap(), Step::Store { .. }));
    m.handle_stored(true).unwrap();
    assert_eq!(m.record().flags & record::FLAG_VALIDITY_UNCHECKED, 0);
    let Step::Wait(Wake::At(t)) = m.poll(now).unwrap() else { panic!() };
    let due = T0 + 10 * DAY + LEAF_LIFETIME * 80 / 100;
    assert!(t.as_secs() <= due && t.as_secs() >= due - 6 * 3600, "renewal at {}", t.as_secs());

    // A clock that comes up far too late: the check reports the problem.
    let (mut cur, mut nxt) = (vec![0u8; MAX_RECORD_LEN], vec![0u8; MAX_RECORD_LEN]);
    let mut m = fresh(&prof, &mut cur, &mut nxt);
    let Step::GenerateKey(slot) = m.poll(None).unwrap() else { panic!() };
    m.handle_key(slot, &spki).unwrap();
    job_persisted(&mut m, None);
    m.handle_issued(None, &cert, &world.ca.cert).unwrap();
    while !matches!(m.poll(None).unwrap(), Step::Wait(_)) {
        let _ = m.handle_stored(true);
    }
    let late = Some(UnixTime::from_secs(T0 + 400 * DAY));
    assert_eq!(m.poll(late).unwrap(), Step::Report(Report::ValidityProblem { expired: true }));
}

#[test]
fn renewal_failing_near_expiry_is_reported() {
    let mut world = World::new(Protocol::Scep);
    // The server is down from the first renewal until after the certificate expired.
    world.outages = vec![(T0 + 100 * DAY, T0 + 200 * DAY)];
    world.expect_valid = false;
    let mut device = Device::new();
    let rec = simulate(&mut world, &mut device, T0 + 210 * DAY, KeyPolicy::SameKey, None);
    let near = lines(&device.log, "ExpiryNear");
    assert!(!near.is_empty(), "no warning");
    assert!(near.iter().all(|l| at(l) >= (180 - 7) * DAY), "warned too early: {near:?}");
    // Once expired, the device enrolls anew when the server is back.
    let r = Record::parse(&rec).unwrap();
    assert_eq!(r.stage, Stage::Active);
    assert!(lines(&device.log, " enroll ").len() >= 2, "no re-enrollment after expiry");
    assert!(CertificateRef::parse(r.certificate).unwrap().is_valid_at(UnixTime::from_secs(T0 + 210 * DAY)));
}

#[test]
fn unreadable_storage_is_reported_not_reset() {
    let world = World::new(Protocol::Scep);
    let anchor = world.ca.cert.clone();
    let prof = profile(Protocol::Scep, Trust::Anchor(&anchor), KeyPolicy::SameKey);
    // Two written slots, both damaged: the device had state; reported, not reset.
    let (mut cur, mut nxt) = (vec![0u8; MAX_RECORD_LEN], vec![0u8; MAX_RECORD_LEN]);
    cur[..10].copy_from_slice(b"EELC\x01garba");
    nxt[..10].copy_from_slice(b"EELC\x01rbage");
    let r = Manager::restore(&prof, Buffers { current: &mut cur, next: &mut nxt }, [10, 10], &mut StdRng::seed_from_u64(1));
    assert!(matches!(r, Err(RestoreError::Unreadable(e)) if e.damaged == 2), "{r:?}");
    // One damaged slot next to an empty one: only the first write (no identity) was ever made;
    // the manager starts over and says so.
    let (mut cur, mut nxt) = (vec![0u8; MAX_RECORD_LEN], vec![0u8; MAX_RECORD_LEN]);
    cur[..10].copy_from_slice(b"EELC\x01garba");
    let mut m = Manager::restore(&prof, Buffers { current: &mut cur, next: &mut nxt }, [10, 0], &mut StdRng::seed_from_u64(1)).unwrap();
    assert_eq!(m.poll(None).unwrap(), Step::Report(Report::DamagedSlot));
    assert!(m.identity().is_none());
}

/// A manager for a fresh device, past its first step (storing the identity-less record).
fn fresh<'b>(prof: &Profile<'b>, cur: &'b mut [u8], nxt: &'b mut [u8]) -> Manager<'b> {
    let mut m = Manager::new(prof, Buffers { current: cur, next: nxt }, &mut StdRng::seed_from_u64(1)).unwrap();
    assert!(matches!(m.poll(None).unwrap(), Step::Store { slot: 0, .. }), "the first step stores the initial record");
    m.handle_stored(true).unwrap();
    m
}

/// The final state, without what a redone request legitimately changes (serial numbers, keys
/// generated again, the number of writes).
fn essence(rec: &[u8]) -> String {
    let r = Record::parse(rec).unwrap();
    let c = CertificateRef::parse(r.certificate).unwrap();
    format!(
        "{:?} slot {:?} flags {} failures {} retry {:?} renew {} cert {}..{} by {} ca {} next {} shadow {}",
        r.stage,
        r.active_slot,
        r.flags,
        r.failures,
        r.next_retry,
        r.renew_at.as_secs(),
        c.not_before().as_secs(),
        c.not_after().as_secs(),
        c.issuer(),
        CertificateRef::parse(r.ca).unwrap().subject(),
        r.next_ca.len(),
        r.shadow.len()
    )
}

#[test]
fn power_loss_at_every_write_ends_in_the_same_state() {
    let end = T0 + 3 * 365 * DAY;
    let mut world = World::new(Protocol::Scep);
    let mut device = Device::new();
    let reference = simulate(&mut world, &mut device, end, KeyPolicy::NewKey, None);
    let (writes, steps) = (device.stores, device.steps);
    assert!(writes >= 10, "{writes} writes");
    let want = essence(&reference);
    let mut cuts: Vec<Cut> = (0..writes).flat_map(|n| [Cut::Before(n), Cut::Torn(n), Cut::After(n)]).collect();
    cuts.extend((0..steps).map(Cut::Step));
    for cut in &cuts {
        let mut world = World::new(Protocol::Scep);
        let mut device = Device::new();
        let got = simulate(&mut world, &mut device, end, KeyPolicy::NewKey, Some(*cut));
        assert!(device.log.iter().any(|l| l.contains("POWER LOST")), "{cut:?} never happened");
        assert_eq!(essence(&got), want, "{cut:?}:\n{}", device.log.join("\n"));
    }
    println!("{} interrupted runs ({writes} writes x 3 ways, then before each of {steps} steps), all ended in: {want}", cuts.len());
}

#[test]
fn two_profiles_run_side_by_side_on_one_store() {
    // An EST identity for management (store slots 0/1, key slots 0/1) and a SCEP identity for
    // a legacy CA (store slots 2/3, key slots 2/3), each its own manager and CA.
    let mut worlds = [World::new(Protocol::Est), World::new(Protocol::Scep)];
    worlds[1].ca = SimCa::new("Legacy CA", 11, T0 - DAY, T0 + 3000 * DAY);
    for w in &mut worlds {
        w.outages.clear();
    }
    let anchors = [worlds[0].ca.cert.clone(), worlds[1].ca.cert.clone()];
    let mut profiles = [
        profile(Protocol::Est, Trust::Anchor(&anchors[0]), KeyPolicy::SameKey),
        profile(Protocol::Scep, Trust::Anchor(&anchors[1]), KeyPolicy::NewKey),
    ];
    profiles[1].name = "legacy";
    profiles[1].store_slots = [2, 3];
    profiles[1].key_slots = [2, 3];
    let mut store: [Vec<u8>; 4] = Default::default();
    let mut devices = [Device::new(), Device::new()];
    let mut bufs: Vec<Vec<u8>> = (0..4).map(|_| vec![0u8; MAX_RECORD_LEN]).collect();
    let (b01, b23) = bufs.split_at_mut(2);
    let (b0, b1) = b01.split_at_mut(1);
    let (b2, b3) = b23.split_at_mut(1);
    let mut rng = StdRng::seed_from_u64(3);
    let mut managers = [
        Manager::new(&profiles[0], Buffers { current: &mut b0[0], next: &mut b1[0] }, &mut rng).unwrap(),
        Manager::new(&profiles[1], Buffers { current: &mut b2[0], next: &mut b3[0] }, &mut rng).unwrap(),
    ];
    let end = T0 + 400 * DAY;
    let mut now = T0;
    let mut activations = [0, 0];
    for _ in 0..2000 {
        let mut wake = [i64::MAX; 2];
        for i in 0..2 {
            let m = &mut managers[i];
            let t = Some(UnixTime::from_secs(now));
            match m.poll(t).unwrap() {
                Step::GenerateKey(slot) => {
                    assert!(profiles[i].key_slots.contains(&m.device_key_slot(slot)));
                    devices[i].keys[idx(slot)] = Some(SoftP256Key::generate(&mut devices[i].rng));
                    let spki = devices[i].spki(slot);
                    m.handle_key(slot, &spki).unwrap();
                }
                Step::Run(job) => match run_job(&mut worlds[i], &mut devices[i], job, now) {
                    JobResult::Issued(c, ca) => m.handle_issued(t, &c, &ca).unwrap(),
                    JobResult::Failed => m.handle_failed(t).unwrap(),
                    JobResult::NextCa(d) => m.handle_next_ca(t, &d).unwrap(),
                    JobResult::CaCerts(certs) => {
                        let refs: Vec<&[u8]> = certs.iter().map(|c| c.as_slice()).collect();
                        m.handle_ca_certs(t, &refs).unwrap()
                    }
                },
                Step::Store { slot, record } => {
                    assert!(profiles[i].store_slots.contains(&slot), "profile {i} wrote slot {slot}");
                    store[usize::from(slot)] = record.to_vec();
                    m.handle_stored(true).unwrap();
                }
                Step::Activate { .. } => activations[i] += 1,
                Step::Report(_) => {}
                Step::Wait(Wake::At(w)) => wake[i] = w.as_secs(),
                Step::Wait(Wake::WhenTimeKnown) => unreachable!(),
            }
        }
        if wake.iter().all(|w| *w != i64::MAX) {
            let next = wake[0].min(wake[1]);
            if next >= end {
                break;
            }
            now = next;
        }
    }
    // 180-day certificates renewed at 80 %: enrollment + two renewals each in 400 days.
    assert_eq!(activations, [3, 3], "each profile keeps its own schedule");
    // Each profile restores its own identity from the shared store.
    for (i, (prof, ca)) in profiles.iter().zip(&anchors).enumerate() {
        let [s0, s1] = prof.store_slots.map(usize::from);
        let (mut cur, mut nxt) = (vec![0u8; MAX_RECORD_LEN], vec![0u8; MAX_RECORD_LEN]);
        cur[..store[s0].len()].copy_from_slice(&store[s0]);
        nxt[..store[s1].len()].copy_from_slice(&store[s1]);
        let lens = [store[s0].len(), store[s1].len()];
        let m = Manager::restore(prof, Buffers { current: &mut cur, next: &mut nxt }, lens, &mut StdRng::seed_from_u64(9)).unwrap();
        assert_eq!(m.ca(), Some(ca.as_slice()), "profile {i} restored with its own CA");
        assert_eq!(m.identity().map(|(_, c)| c.to_vec()), managers[i].identity().map(|(_, c)| c.to_vec()));
    }
}

#[test]
fn a_ca_clock_a_little_ahead_is_tolerated() {
    let world = World::new(Protocol::Scep);
    let anchor = world.ca.cert.clone();
    let prof = profile(Protocol::Scep, Trust::Anchor(&anchor), KeyPolicy::SameKey);
    let mut device = Device::new();
    for (ahead, accepted) in [(300, true), (20 * 60, false)] {
        let (mut cur, mut nxt) = (vec![0u8; MAX_RECORD_LEN], vec![0u8; MAX_RECORD_LEN]);
        let mut m = fresh(&prof, &mut cur, &mut nxt);
        let now = Some(UnixTime::from_secs(T0));
        let Step::GenerateKey(slot) = m.poll(now).unwrap() else { panic!() };
        device.keys[idx(slot)] = Some(SoftP256Key::generate(&mut device.rng));
        let spki = device.spki(slot);
        m.handle_key(slot, &spki).unwrap();
        job_persisted(&mut m, now);
        let mut ca = SimCa::new("CA 1", 1, T0 - DAY, T0 + 730 * DAY);
        let cert = ca.issue(&spki, T0 + ahead);
        m.handle_issued(now, &cert, &ca.cert).unwrap();
        let step = m.poll(now).unwrap();
        if accepted {
            assert!(matches!(step, Step::Store { .. }), "notBefore {ahead} s ahead: {step:?}");
        } else {
            assert_eq!(step, Step::Report(Report::Refused(embedded_enroll::lifecycle::Refusal::NotValidNow)), "notBefore {ahead} s ahead");
        }
    }
}

/// After `handle_key`: the job and its key are persisted before the job runs.
fn job_persisted(m: &mut Manager<'_>, now: Option<UnixTime>) {
    assert!(matches!(m.poll(now).unwrap(), Step::Store { .. }), "the job's key is persisted before the job runs");
    m.handle_stored(true).unwrap();
    assert!(matches!(m.poll(now).unwrap(), Step::Run(_)));
}

/// An ACME profile: the issuing intermediate may change from one order to the next (it must
/// lead to the anchor, the CA's root); the server's renewal window (ARI) moves the renewal
/// inside it, the same moment for the same device; no CA rollover job is ever asked for.
#[test]
fn an_acme_profile_follows_the_renewal_window_and_accepts_any_intermediate_under_the_root() {
    let root = SimCa::new("ACME Root", 41, T0 - DAY, T0 + 3650 * DAY);
    let mut r10 = SimCa::new("R10", 42, T0 - DAY, T0 + 1000 * DAY);
    let mut r11 = SimCa::new("R11", 43, T0 - DAY, T0 + 1000 * DAY);
    let mut rogue = SimCa::new("R12", 44, T0 - DAY, T0 + 1000 * DAY);
    let (r10_cert, r11_cert) = (root.vouch_for(&r10, T0 - DAY), root.vouch_for(&r11, T0 - DAY));
    let prof = profile(Protocol::Acme, Trust::Anchor(&root.cert), KeyPolicy::SameKey);
    let (mut cur, mut nxt) = (vec![0u8; MAX_RECORD_LEN], vec![0u8; MAX_RECORD_LEN]);
    let mut m = fresh(&prof, &mut cur, &mut nxt);
    let mut device = Device::new();
    let now = Some(UnixTime::from_secs(T0));
    let Step::GenerateKey(slot) = m.poll(now).unwrap() else { panic!() };
    device.keys[idx(slot)] = Some(SoftP256Key::generate(&mut device.rng));
    let spki = device.spki(slot);
    m.handle_key(slot, &spki).unwrap();
    job_persisted(&mut m, now);
    // Issued under R10 (which the root vouches for): accepted.
    m.handle_issued(now, &r10.issue(&spki, T0), &r10_cert).unwrap();
    assert!(matches!(m.poll(now).unwrap(), Step::Store { .. }));
    m.handle_stored(true).unwrap();
    assert!(matches!(m.poll(now).unwrap(), Step::Activate { .. }));
    let policy_at = m.record().renew_at;
    // The server suggests a window well before the policy's moment.
    let (start, end) = (UnixTime::from_secs(T0 + 20 * DAY), UnixTime::from_secs(T0 + 22 * DAY));
    assert!(policy_at > end);
    m.handle_renewal_window(now, start, end).unwrap();
    assert!(matches!(m.poll(now).unwrap(), Step::Report(Report::RenewalScheduled { at }) if at >= start && at <= end));
    assert!(matches!(m.poll(now).unwrap(), Step::Store { .. }), "the new renewal time is persisted");
    m.handle_stored(true).unwrap();
    let at = m.record().renew_at;
    assert!(at >= start && at <= end, "inside the window");
    // The same window again changes nothing; a window already over means now.
    m.handle_renewal_window(now, start, end).unwrap();
    assert!(matches!(m.poll(now).unwrap(), Step::Wait(Wake::At(t)) if t == at), "no rewrite for the same window");
    // No CA fetch ever, even at the intermediate's end: the renewal comes first.
    assert!(matches!(m.poll(Some(UnixTime::from_secs(at.as_secs() - 1))).unwrap(), Step::Wait(_)));
    let Step::Run(Job::Renew { key, .. }) = m.poll(Some(at)).unwrap() else { panic!("renewal due at the chosen moment") };
    assert_eq!(key, slot);
    // Renewed under R11 this time: accepted too.
    let t = Some(at);
    m.handle_issued(t, &r11.issue(&spki, at.as_secs()), &r11_cert).unwrap();
    assert!(matches!(m.poll(t).unwrap(), Step::Store { .. }), "another intermediate under the same root");
    m.handle_stored(true).unwrap();
    assert!(matches!(m.poll(t).unwrap(), Step::Activate { .. }));
    // A window that ended already: renew at once. Then an intermediate the root does not vouch for is refused.
    let late = UnixTime::from_secs(at.as_secs() + 30 * DAY);
    m.handle_renewal_window(Some(late), UnixTime::from_secs(at.as_secs() + DAY), UnixTime::from_secs(at.as_secs() + 2 * DAY)).unwrap();
    assert!(matches!(m.poll(Some(late)).unwrap(), Step::Report(Report::RenewalScheduled { at: a }) if a == late));
    assert!(matches!(m.poll(Some(late)).unwrap(), Step::Store { .. }));
    m.handle_stored(true).unwrap();
    assert!(matches!(m.poll(Some(late)).unwrap(), Step::Run(Job::Renew { .. })));
    let rogue_cert = rogue.cert.clone();
    m.handle_issued(Some(late), &rogue.issue(&spki, late.as_secs()), &rogue_cert).unwrap();
    assert_eq!(m.poll(Some(late)).unwrap(), Step::Report(Report::Refused(embedded_enroll::lifecycle::Refusal::UntrustedCa)));
    // Out of order: not while a job runs.
    assert!(m.handle_renewal_window(Some(late), start, end).is_err());
}
