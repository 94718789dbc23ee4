//! EST client (RFC 7030, RFC 8951, RFC 9908) as a Sans-IO state machine.
//!
//! Not yet implemented: this module is a placeholder in this release.
