//! The library's `log` events on the board console: a [`log::Log`] that prints
//! each record as one line through [`console::print`](crate::console::print), installed by
//! [`init`]. No allocation: the logger is a static.
//!
//! The image keeps lines of level info and up (the protocol steps, retries, waits, key
//! operations, refusals and failures): `debug` and `trace` lines are compiled out by the
//! `max_level_info` features of the `log` dependency (boards/common/Cargo.toml), so the
//! console is not flooded and the image does not carry them.

/// The lowest level printed.
pub const LEVEL: ::log::LevelFilter = ::log::LevelFilter::Info;

/// Prints records on the console.
struct Console;

impl ::log::Log for Console {
    fn enabled(&self, metadata: &::log::Metadata<'_>) -> bool {
        metadata.level() <= ::log::max_level()
    }

    fn log(&self, record: &::log::Record<'_>) {
        if self.enabled(record.metadata()) {
            crate::console::print(format_args!("  [{}] {}", record.level(), record.args()));
        }
    }

    fn flush(&self) {}
}

static CONSOLE: Console = Console;

/// Installs the console logger at [`LEVEL`] (the console itself is installed with
/// [`console::set`](crate::console::set); lines before that are dropped). A second call
/// changes nothing.
pub fn init() {
    if ::log::set_logger(&CONSOLE).is_ok() {
        ::log::set_max_level(LEVEL);
    }
}
