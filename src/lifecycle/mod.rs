//! Certificate lifecycle: profiles, renewal policy, key slots, CA rollover and persisted state,
//! driving the protocol clients through the same step shape. No I/O.
//!
//! Not yet implemented: this module is a placeholder in this release.
