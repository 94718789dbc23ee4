//! # embedded-enroll
//!
//! A `#![no_std]`, allocation-free library that lets firmware obtain and renew X.509
//! certificates by itself over **SCEP** (RFC 8894), **EST** (RFC 7030, RFC 8951) and **ACME**
//! (RFC 8555), with the private key held in hardware (secure element, TPM, HSM) or in software.
//!
//! The protocol code is Sans-IO: it never opens a socket, reads a clock or touches a private
//! key. Bytes and time come in as arguments; requests, key operations and deadlines go out as
//! values (see [`hal`] for the hardware traits a port implements).
//!
//! ## Layers
//!
//! | module | what it holds |
//! |---|---|
//! | [`time`] | `Instant`, `Duration` and `UnixTime` newtypes; the caller always passes `now` |
//! | [`error`] | small `Copy` error types, one per layer |
//! | [`hal`] | hardware traits: [`hal::Signer`], [`hal::KeyAgreement`], [`hal::Decrypter`], [`hal::KeySlots`], [`hal::Clock`], [`hal::StateStore`] (+ software keys behind `soft-keys`) |
//! | [`crypto`] | thin, allocation-free adapters over RustCrypto primitives (digests, CBC ciphers, AES key wrap, KDFs, P-256, RSA) |
//! | [`asn1`] | DER/BER codecs (X.509, PKCS#10, CMS) |
//! | [`http`] | Sans-IO HTTP/1.1 |
//! | `scep`, `est`, `acme` | the protocol state machines (features `scep`, `est`, `acme`) |
//! | [`retry`] | bounded retry schedules (PENDING polling, Retry-After, renewal retries) |
//! | [`lifecycle`] | profiles, renewal, key slots, CA rollover, persistence; the runner that carries the jobs out |
//! | [`transport`] | the only code that does I/O (feature-gated) |
//!
//! ## Features
//!
//! | feature | effect |
//! |---|---|
//! | `scep`, `est` | the protocol clients (EST: /cacerts, /simpleenroll, /simplereenroll, HTTP Basic) |
//! | `acme` | the ACME client (`acme`), its http-01 responder and tls-alpn-01 certificates, `run_acme`, ACME profiles in the lifecycle runner; JSON through the crate's `acme::json` (no allocator, no serde) |
//! | `acme-manage` | ACME revocation, account key change and deactivation (`acme::Operation::Revoke`, `KeyChange`, `Deactivate`; implies `acme`) |
//! | `csrattrs` | EST `/csrattrs` and the `est::csrattrs` codec (implies `est`) |
//! | `serverkeygen` | EST `/serverkeygen` and the `est::multipart` codec (implies `est`) |
//! | `http-digest` | answers to HTTP Digest challenges, SHA-256 and MD5 (implies `est`) |
//! | `legacy-crypto` | DES/3DES and SHA-1 signatures, needed by real SCEP servers; off by default; implies `sha1` |
//! | `sha1` | SHA-1 where it is not a signature: the X9.63 KDF OpenSSL uses by default for CMS envelopes to EC keys, PBKDF2's default PRF in password envelopes, MGF1-SHA1, SHA-1 fingerprints (about 4 to 5 KB of flash) |
//! | `sha512` | SHA-384 and SHA-512: certificate, CMS and CSR signatures and digests with them, TLS schemes with them (about 12 KB of flash); without it they are recognised and refused with a typed error |
//! | `soft-keys` | [`hal::soft`]: software P-256 and RSA keys for tests and boards without a secure element |
//! | `p384` | ECDSA P-384 verification (about 100 KiB of flash on Cortex-M); implies `sha512` |
//! | `defmt` xor `log` | logging; nothing secret is ever logged |
//! | `tls` | TLS 1.3 on devices: embedded-tls with this crate's certificate verifier |
//! | `nal`, `nal-async` | embedded-nal / embedded-nal-async TCP under the drivers |
//! | `async` | async drivers over `embedded-io-async` |
//! | `std` | host builds: plain TCP transport and timer, `std::error::Error` for the errors |
//! | `host-tls` | hosts: rustls (TLS 1.2 and 1.3) with this crate's verifier and the tls-exporter |
//!
//! `csrattrs`, `serverkeygen` and `http-digest` are there so that firmware pays only for the
//! EST parts it uses (together about 25 KiB of .text on Cortex-M at opt-level "z"). Without
//! them the EST client refuses what needs them when it is made, before anything is sent
//! (`ClientError::FeatureDisabled`), and ends a 401 that offers only Digest with
//! `Outcome::InvalidReply(ReplyError::UnsupportedChallenge)`, sending no credentials.
//!
//! ## Example
//!
//! A key behind the [`hal::Signer`] trait signs a digest; the crate never sees the private key,
//! only the signature that comes back:
//!
//! ```
//! # #[cfg(feature = "soft-keys")] {
//! use embedded_enroll::crypto::{HashAlgorithm, p256};
//! use embedded_enroll::hal::{KeyType, Signer, soft::SoftP256Key};
//!
//! // On a device this would be a secure element; here it is a software key.
//! let mut key = SoftP256Key::from_bytes(&[0x42; 32])?;
//! assert_eq!(key.key_type(), KeyType::EcP256);
//!
//! let digest = HashAlgorithm::Sha256.digest(b"to be signed")?;
//! let mut signature = [0u8; 64];
//! let len = key.sign_prehash(&digest, &mut signature)?;
//! p256::verify_prehash_raw(&key.public_key_sec1(), digest.as_bytes(), &signature[..len])?;
//! # }
//! # Ok::<(), embedded_enroll::CryptoError>(())
//! ```
//!
//! The crate never links `alloc`: a `#![no_std]` binary without a global allocator that uses
//! every feature is built for thumbv6m, thumbv7em and riscv32imac in CI.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

#[cfg(any(feature = "std", test))]
extern crate std;

#[macro_use]
mod fmt;

pub mod asn1;
pub mod crypto;
pub mod error;
pub mod hal;
pub mod http;
pub mod lifecycle;
pub mod retry;
pub mod time;
pub mod transport;

#[cfg(feature = "acme")]
pub mod acme;
#[cfg(any(feature = "scep", feature = "est", feature = "acme"))]
mod client_core;
#[cfg(feature = "est")]
pub mod est;
#[cfg(feature = "scep")]
pub mod scep;
#[cfg(any(feature = "scep", feature = "est", feature = "acme"))]
mod span;

pub use error::{ClientError, CryptoError};
pub use time::{Duration, Instant, UnixTime};

/// The `embedded-io` this crate is built on (the blocking transports' `Read`/`Write`).
pub use embedded_io;
/// The `embedded-io-async` this crate is built on (feature `async`).
#[cfg(feature = "async")]
pub use embedded_io_async;
/// The `embedded-nal` this crate is built on (feature `nal`).
#[cfg(feature = "nal")]
pub use embedded_nal;
/// The `embedded-nal-async` this crate is built on (feature `nal-async`).
#[cfg(feature = "nal-async")]
pub use embedded_nal_async;
/// The `rand_core` this crate is built on (its `CryptoRngCore` is what the clients take):
/// implement your generator against this one to be sure the versions match.
pub use rand_core;
