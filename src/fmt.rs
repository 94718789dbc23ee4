//! Logging macros that forward to `defmt` or `log`, or compile to nothing.
//!
//! Format strings use only `{}` placeholders so they are valid for both backends. Never pass
//! key material, passwords or challenge values to these macros.
#![allow(unused_macros)]

#[cfg(all(feature = "defmt", feature = "log"))]
compile_error!("the `defmt` and `log` features are mutually exclusive: enable one of them");

macro_rules! enroll_log {
    ($level:ident, $s:literal $(, $x:expr)* $(,)?) => {{
        #[cfg(feature = "defmt")]
        ::defmt::$level!($s $(, $x)*);
        #[cfg(feature = "log")]
        ::log::$level!($s $(, $x)*);
        #[cfg(not(any(feature = "defmt", feature = "log")))]
        let _ = ($( & $x ),*);
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
