//! The whole ACME client on arbitrary server replies: a certificate order for one or two
//! identifiers, or (a quarter of inputs) the account alone, against `https://127.0.0.1:14000`
//! with the account and certificate keys of the pebble captures. Every JWS and the CSR get a
//! fixed 64-byte signature, and the clock is virtual (each wait is slept at once).
//!
//! Input: a 4-byte header, then the replies as for `est_client`: records
//! `[length u16 BE][chunk size u8][length bytes]`, one per request, fed in chunks of that
//! size; when the input runs out, the connection fails (`handle_transport_failure`).
//!
//! - header byte 0, flags: bits 0-1 the operation (0: `Operation::Account`, 1 and 2: an order
//!   for `test.example`, 3: an order for `test.example` and `127.0.0.1`); bit 2
//!   `only_existing` (for `Account`); bit 3 a configured account URL (newAccount skipped for
//!   an order); bits 4-5 the challenges answered (http-01, dns-01, tls-alpn-01, all three);
//!   bit 6 pebble's root as the trust anchor; bit 7 External Account Binding and a contact;
//! - byte 1: the `io` buffer, 512 to 8192 bytes (`512 + b * 7680 / 255`);
//! - byte 2: the `work` buffer, 1024 to 8192 bytes (`1024 + b * 7168 / 255`);
//! - byte 3: the answers to `Step::Publish`, bit `i % 8` for the `i`-th (1: published).
//!
//! Properties: never panics; every request is a `GET` or `POST` of a path; the client ends
//! (`Step::Done`, or `poll` fails with `BufferTooSmall`, or with `Encode` for a URL path the
//! request writer refuses) within `9 * (reply bytes / 3 + 2)` steps, with at most 8 steps
//! between two requests; a wait is never into the past; on `Outcome::Issued` every certificate handed out
//! parses and the leaf carries the configured key (none is handed out otherwise); on
//! `Outcome::Account` the account URL is known; an ended client keeps its end (`poll` returns
//! the same `Done` or error, and later calls change nothing).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| embedded_enroll_fuzz_bodies::acme_client(data));
