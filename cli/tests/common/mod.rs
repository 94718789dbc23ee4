//! What the CLI's test files share: running the `enroll` binary cargo built for them.
#![allow(dead_code)]

use std::process::Command;

/// The `enroll` binary of this package.
pub const BIN: &str = env!("CARGO_BIN_EXE_enroll");

/// One run of the binary.
pub struct Run {
    pub code: i32,
    pub out: String,
    pub err: String,
}

impl Run {
    /// The outcome line: the last line of stdout.
    pub fn last(&self) -> &str {
        self.out.lines().last().unwrap_or_default()
    }
}

/// Runs `enroll ARGS` to its end.
pub fn run_quiet(args: &[&str]) -> Run {
    let out = Command::new(BIN).args(args).output().expect("the enroll binary");
    Run {
        code: out.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// [`run_quiet`], the command and what it printed echoed on stderr (for `--nocapture` logs).
pub fn run_echoed(args: &[&str]) -> Run {
    let r = run_quiet(args);
    eprintln!("$ enroll {}\n-> exit {}\n{}", args.join(" "), r.code, r.out);
    r
}
