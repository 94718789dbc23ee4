//! Glue, SCEP: 60 lines (this file: the profile, the device and the runner's loop).
use crate::{Board, clock::*, flash::FlashStore, se::*};
use embedded_enroll::lifecycle::runner::{Device, Event, Flow, Runner, RunnerError, Settings, StaticMemory};
use embedded_enroll::lifecycle::{Auth, KeyPolicy, KeySlot, Profile, Protocol, RenewalPolicy, RolloverPolicy, Trust};
use embedded_enroll::{asn1::csr::NameAttribute, embedded_nal::TcpClientStack, rand_core::CryptoRngCore, transport::*};
use embedded_storage::nor_flash::NorFlash;

/// What the factory provisions for SCEP (in OTP or a configuration sector).
pub struct ScepProvisioning<'a> {
    /// The SCEP server as the stack connects to it (`192.0.2.10:80`), and its CGI path (`/scep`).
    pub server: (&'a str, &'a str),
    /// The CA certificate's SHA-256 fingerprint (GetCACert is checked against it).
    pub ca_fingerprint: [u8; 32],
    /// The device's name (the subject's CN).
    pub device: &'a str,
    /// The challenge password for the first enrollment (renewals are signed by the key in use).
    pub challenge: &'a str,
}

/// Keeps the device enrolled over SCEP; `identity` gets the key slot and certificate in use (at boot, at each change).
pub fn keep_enrolled_scep<SE: SecureElement, F: NorFlash, NET: TcpClientStack, RTC: Rtc, TICK: Ticker, RNG: CryptoRngCore>(
    board: Board<SE, F, NET, RTC, TICK, RNG>,
    memory: &mut StaticMemory,
    p: &ScepProvisioning<'_>,
    mut identity: impl FnMut(u8, &[u8]),
) -> Result<core::convert::Infallible, RunnerError> {
    let store = FlashStore::new(board.flash).map_err(RunnerError::Storage)?;
    let (network, clock, timer) = (nal::NalNetwork(board.net), RtcClock(board.rtc), TickTimer(board.ticker));
    let device = Device { keys: SeKeySlots(board.se), store, network, clock, timer, rng: board.rng };
    let profile = Profile {
        name: "scep",
        protocol: Protocol::Scep,
        server: p.server.0,
        key_slots: [0, 1],
        store_slots: [0, 1],
        trust: Trust::Fingerprint(p.ca_fingerprint),
        subject: &[NameAttribute::common_name(p.device)],
        alt_names: &[],
        auth: Auth::Challenge(p.challenge),
        renewal: RenewalPolicy::DEFAULT,
        keys: KeyPolicy::NewKey, // renewals: RenewalReq for a new key in the spare slot, signed by the key in use
        rollover: RolloverPolicy::DEFAULT,
        extra: Settings { scep_path: p.server.1, ..Settings::DEFAULT },
    };
    let mut runner = Runner::new(&profile, device, memory.memory())?;
    let slot = |s: KeySlot| if s == KeySlot::A { profile.key_slots[0] } else { profile.key_slots[1] };
    if let Some((s, certificate)) = runner.manager().identity() {
        identity(slot(s), certificate);
    }
    runner.run(|event| {
        match event {
            Event::Activated { slot: s, certificate } => identity(slot(*s), certificate),
            Event::JobFailed(why) => log::warn!("SCEP: {why} (retried with backoff)"),
            Event::Report(report) => log::warn!("SCEP: {report:?}"),
            other => log::debug!("SCEP: {other:?}"),
        }
        Flow::Continue
    })?;
    Err(RunnerError::Stopped) // not reached: the handler never says Stop
}
