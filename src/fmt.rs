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
    ($level:ident, $lvl:ident, $s:literal $(, $x:expr)* $(,)?) => {{
        #[cfg(feature = "defmt")]
        ::defmt::$level!($s $(, $x)*);
        // The line is formatted in a cold function of its own, so that the caller's frame does
        // not hold the formatting machinery (on devices the stack is counted in bytes), and only
        // when the level is enabled.
        #[cfg(feature = "log")]
        if ::log::Level::$lvl <= ::log::STATIC_MAX_LEVEL && ::log::Level::$lvl <= ::log::max_level() {
            $crate::fmt::cold(|| $crate::fmt::emit(::log::Level::$lvl, module_path!(), format_args!($s $(, $x)*)));
        }
        // Nothing at all: not even a dead branch, which can sway the optimizer's inlining
        // (the arguments are checked by the builds with `log` and with `defmt`).
    }};
}

macro_rules! trace {
    ($($t:tt)*) => { enroll_log!(trace, Trace, $($t)*) };
}

macro_rules! debug {
    ($($t:tt)*) => { enroll_log!(debug, Debug, $($t)*) };
}

macro_rules! info {
    ($($t:tt)*) => { enroll_log!(info, Info, $($t)*) };
}

macro_rules! warn {
    ($($t:tt)*) => { enroll_log!(warn, Warn, $($t)*) };
}

macro_rules! error {
    ($($t:tt)*) => { enroll_log!(error, Error, $($t)*) };
}

/// Runs `line` (one `log` call) out of line: its formatting arguments live in this frame,
/// entered only when the line is logged, not in its caller's.
#[cfg(feature = "log")]
#[cold]
#[inline(never)]
pub(crate) fn cold(line: impl FnOnce()) {
    line()
}

/// Hands one line to the logger: one function for every call site, so that a site costs the
/// building of its arguments and a call, not a `log` macro expansion of its own (about half
/// the code of the `log` feature).
#[cfg(feature = "log")]
#[inline(never)]
pub(crate) fn emit(level: ::log::Level, target: &'static str, args: core::fmt::Arguments<'_>) {
    ::log::logger().log(&::log::Record::builder().args(args).level(level).target(target).module_path_static(Some(target)).build());
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
