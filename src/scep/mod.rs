//! SCEP client (RFC 8894): GetCACaps, GetCACert, PKCSReq, RenewalReq, CertPoll, GetCert,
//! GetCRL, as a Sans-IO state machine.
//!
//! Not yet implemented: this module is a placeholder in this release.
