//! SCEP client (RFC 8894): GetCACaps, GetCACert, PKCSReq, RenewalReq, CertPoll, GetCert,
//! GetCRL, as a Sans-IO state machine.
//!
//! Built so far: [`caps`] (GetCACaps parsing and the algorithm policy). The message layer
//! and the client state machine are next.

pub mod caps;

pub use caps::{AlgorithmChoice, AlgorithmPolicy, CaCaps, Capability};
