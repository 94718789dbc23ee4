//! The console: the board installs a function that prints one line ([`set`]); [`println!`]
//! formats into it. Lines printed before [`set`] are dropped.
//!
//! [`println!`]: crate::println

use core::cell::Cell;
use core::fmt::Arguments;
use critical_section::Mutex;

/// A function that prints its arguments and a line break.
pub type Sink = fn(Arguments<'_>);

static SINK: Mutex<Cell<Option<Sink>>> = Mutex::new(Cell::new(None));

/// Installs `sink`, which prints its arguments followed by a line break.
pub fn set(sink: Sink) {
    critical_section::with(|cs| SINK.borrow(cs).set(Some(sink)));
}

/// Prints one line through the installed sink.
pub fn print(args: Arguments<'_>) {
    if let Some(sink) = critical_section::with(|cs| SINK.borrow(cs).get()) {
        sink(args);
    }
}

/// Prints one line (format string and arguments as `core::format_args!`) on the board's console.
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {
        $crate::console::print(core::format_args!($($arg)*))
    };
}
