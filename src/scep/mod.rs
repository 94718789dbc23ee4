//! SCEP client (RFC 8894): GetCACaps, GetCACert, PKCSReq, RenewalReq, CertPoll, GetCert,
//! GetCRL, as a Sans-IO state machine.
//!
//! Modules:
//! - [`caps`]: GetCACaps parsing and the algorithm policy;
//! - [`ca`]: GetCACert / GetNextCACert replies: roles and trust;
//! - [`message`]: pkiMessage building (PKCSReq, RenewalReq, CertPoll, GetCert, GetCRL) and
//!   CertRep verification (signer, transaction ID, nonces, status, failInfo);
//! - [`snapshot`]: a pending transaction as a small checksummed record, for reboots;
//! - [`client`]: the Sans-IO state machine over all of them ([`Client`]).

pub mod ca;
pub mod caps;
pub mod client;
pub mod message;
pub mod snapshot;

pub use caps::{AlgorithmChoice, AlgorithmPolicy, CaCaps, Capability};
pub use client::{Buffers, Client, Config, Operation, Outcome, Step};
