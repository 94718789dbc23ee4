//! ACME (RFC 8555): a Sans-IO client with the account key behind the device-key HAL
//! (feature `acme`).
//!
//! - [`client`]: the state machine (directory, nonces, account, order, challenges, finalize,
//!   certificate), the same `Step` shape as the SCEP and EST clients;
//! - [`jws`]: the account key as a JWK, its thumbprint, base64url, the EAB MAC;
//! - [`message`]: the ACME objects and problem documents (bounded, unknown members
//!   ignored), read with [`json`], the crate's allocation-free JSON reader and writer;
//! - [`http01`]: the http-01 responder a firmware's own web server calls;
//! - [`tls_alpn`]: the tls-alpn-01 validation certificate (RFC 8737) for the caller's TLS
//!   server.

pub mod client;
pub mod http01;
pub mod json;
pub mod jws;
pub mod message;
pub mod tls_alpn;

pub use client::{
    Buffers, ChallengeKind, ChallengeTask, Challenges, Client, Config, ExternalAccountBinding, Identifier, Operation, Outcome, Responder,
    Step, ari_id,
};
pub use message::{Problem, ProblemKind};
