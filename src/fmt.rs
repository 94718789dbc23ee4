//! Logging macros that forward to `defmt` or `log`, or compile to nothing.
//!
//! Format strings use only `{}` placeholders so they are valid for both backends: every
//! argument implements `core::fmt::Display` (for `log`) and `defmt::Format` (for `defmt`).
//! Values that have only `Debug` go through [`Dbg`], byte strings that may be shown (serial
//! numbers, fingerprints) through [`Hex`].
//!
//! With neither feature the macros expand to nothing: the arguments are not evaluated and the
//! image is the same as without these lines (CI's clippy runs check them with `log` and with
//! `defmt`). Helpers that only log lines use are behind `#[cfg(any(feature = "log", feature =
//! "defmt"))]`.
//!
//! Never pass key material, shared secrets, content-encryption keys, passwords, challenge
//! passwords, Authorization header values, signatures or raw request bodies to these macros.
#![allow(unused_macros)]

#[cfg(all(feature = "defmt", feature = "log"))]
compile_error!("the `defmt` and `log` features are mutually exclusive: enable one of them");

macro_rules! enroll_log {
    ($level:ident, $s:literal $(, $x:expr)* $(,)?) => {{
        #[cfg(feature = "defmt")]
        ::defmt::$level!($s $(, $x)*);
        #[cfg(feature = "log")]
        ::log::$level!($s $(, $x)*);
        // Nothing at all: not even a dead branch, which can sway the optimizer's inlining
        // (the arguments are checked by the builds with `log` and with `defmt`).
    }};
}

macro_rules! trace {
    ($($t:tt)*) => { enroll_log!(trace, $($t)*) };
}

macro_rules! debug {
    ($($t:tt)*) => { enroll_log!(debug, $($t)*) };
}

macro_rules! info {
    ($($t:tt)*) => { enroll_log!(info, $($t)*) };
}

macro_rules! warn {
    ($($t:tt)*) => { enroll_log!(warn, $($t)*) };
}

macro_rules! error {
    ($($t:tt)*) => { enroll_log!(error, $($t)*) };
}

/// A value shown through its `Debug` form with `log` and its `defmt::Format` with `defmt`
/// (for the enums and structs that have no `Display`).
#[allow(dead_code)]
pub(crate) struct Dbg<T>(pub T);

#[cfg(feature = "log")]
impl<T: core::fmt::Debug> core::fmt::Display for Dbg<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(&self.0, f)
    }
}

#[cfg(feature = "defmt")]
impl<T: defmt::Format> defmt::Format for Dbg<T> {
    fn format(&self, f: defmt::Formatter<'_>) {
        self.0.format(f)
    }
}

/// Public bytes (a serial number, a fingerprint) in hexadecimal. Never for secrets.
#[allow(dead_code)]
pub(crate) struct Hex<'a>(pub &'a [u8]);

#[cfg(feature = "log")]
impl core::fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Hex<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=[u8]:02x}", self.0)
    }
}
