//! Certificate lifecycle: keep a valid identity for years without anyone touching the device.
//!
//! - [`Profile`]: one identity to maintain (protocol, trust, subject, auth, renewal and key
//!   policy, CA rollover); several profiles run side by side, each its own [`Manager`].
//! - [`RenewalPolicy`]: renew at a share of the lifetime or a fixed time before expiry,
//!   whichever comes first, with per-device jitter; retry with capped exponential backoff.
//! - [`KeyPolicy`] and A/B [`KeySlot`]s: a new key goes to the spare slot; the identity in use
//!   changes only after the new certificate was received, verified and persisted.
//! - CA rollover: SCEP GetNextCACert and EST root key update (RFC 7030 section 4.1.3), with a
//!   "shadow" certificate enrolled under the next CA before the switch.
//! - [`record`]: the persisted state, versioned and checksummed, written A/B so a torn write
//!   leaves the previous record readable.
//! - No trusted time: the manager still enrolls (validity checks deferred and reported) and
//!   schedules from the certificate's validity once time is known.
//!
//! Like the protocol clients, the manager does no I/O: it says what to do through [`Step`]s
//! (generate a key, run a job with the SCEP, EST or ACME client, store a record, switch identity,
//! wait) and takes the results through `handle_*` calls.
//!
//! **Sizes.** A record is 68 bytes plus its certificates and the job in progress (34 bytes
//! and a SCEP PENDING snapshot of at most [`record::MAX_TRANSACTION_LEN`]): at most
//! [`record::MAX_RECORD_LEN`] (8 806) bytes with four certificates of
//! [`record::MAX_CERT_LEN`] (2 KiB) each; about 850
//! bytes with a P-256 certificate and CA, about 1.8 KiB with RSA-2048 ones, twice that while a
//! next CA and a shadow certificate are staged. Each storage slot must hold one record. The
//! manager needs two buffers of the record's size (the record in force, the one being
//! written) and holds 264 bytes itself on thumbv7em (measured; the record's fields are
//! re-read from the buffer, not copied). Its code adds about 6.5 KiB of `.text` (thumbv7em,
//! opt-level "z": the growth of the no_std link check when the manager joined it).

pub mod manager;
pub mod policy;
pub mod record;
pub mod rollover;
#[cfg(any(feature = "scep", all(feature = "est", feature = "tls")))]
pub mod runner;

pub use manager::{
    Auth, Buffers, Job, Manager, ManagerError, Profile, Protocol, Refusal, Report, RestoreError, RolloverPolicy, Step, Trust, Wake,
};
pub use policy::{KeyPolicy, RenewalPolicy};
pub use record::KeySlot;
