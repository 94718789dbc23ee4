//! embedded-enroll ported to a Cortex-M33 SoC that the repository does not have: the "port in
//! a page". Built for `thumbv8m.main-none-eabihf` in CI; it is never run.
//!
//! The board has
//!
//! - a secure element that generates P-256 keys in numbered slots, signs and does ECDH
//!   ([`se::SecureElement`], ATECC608- or SE050-style),
//! - internal NOR flash with a partition for enrollment state (`embedded-storage`'s `NorFlash`),
//! - a TCP/IP stack implementing embedded-nal's `TcpClientStack` (smoltcp, a Wi-Fi or cellular
//!   module's socket API),
//! - a calendar RTC, a low-power timer and a TRNG.
//!
//! What the port writes, and where:
//!
//! | file | what | lines |
//! |---|---|---|
//! | `se.rs` | HAL: `KeySlots` over the secure element | the HAL |
//! | `flash.rs` | HAL: `StateStore` over the flash partition | the HAL |
//! | `clock.rs` | HAL: `Clock` over the RTC, `Timer` over the ticker | the HAL |
//! | `lib.rs` | [`Board`]: the drivers, handed over once | the HAL |
//! | `est.rs` | glue: the EST profile and the runner's loop, [`est::keep_enrolled_est`] | at most 60 |
//! | `scep.rs` | glue: the SCEP profile and the runner's loop, [`scep::keep_enrolled_scep`] | at most 60 |
//!
//! The network needs no code of the port: `embedded_enroll::transport::nal::NalNetwork` takes
//! the stack as it is, and the randomness is the TRNG's `rand_core` 0.6 `CryptoRngCore`
//! implementation (`embedded_enroll::rand_core` is the version to implement).
//!
//! A firmware keeps one identity with one of the two protocols (both use key slots 0 and 1
//! and store slots 0 and 1): in the thread (or the main loop) that owns the drivers,
//!
//! ```text
//! static MEMORY: StaticCell<StaticMemory> = StaticCell::new();
//! let board = Board { se, flash: partition, net: stack, rtc, ticker, rng: trng };
//! let Err(error) = keep_enrolled_est(board, MEMORY.init(StaticMemory::new()), &PROVISIONED, |slot, certificate| {
//!     mqtt.use_identity(slot, certificate); // the key in this secure-element slot, this certificate
//! });
//! // Only when the runner cannot go on (the stored state is unreadable, the store fails):
//! log::error!("enrollment stopped: {error}");
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

pub mod clock;
pub mod est;
pub mod flash;
pub mod scep;
pub mod se;

/// The board's drivers, as its support crate makes them at boot; the runner owns them from
/// then on.
#[derive(Debug)]
pub struct Board<SE, F, NET, RTC, TICK, RNG> {
    /// The secure element's driver ([`se::SecureElement`]).
    pub se: SE,
    /// The flash partition for enrollment state (`embedded_storage::nor_flash::NorFlash`,
    /// offset 0 at its start; two slots of whole sectors, 32 KiB with 8 KiB sectors).
    pub flash: F,
    /// The TCP/IP stack (`embedded_nal::TcpClientStack`).
    pub net: NET,
    /// The calendar RTC ([`clock::Rtc`]).
    pub rtc: RTC,
    /// The monotonic timer ([`clock::Ticker`]).
    pub ticker: TICK,
    /// The TRNG (`rand_core` 0.6 `CryptoRngCore`, health tests on).
    pub rng: RNG,
}
