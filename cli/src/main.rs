//! `enroll`: the field CLI over embedded-enroll's SCEP, EST and ACME clients (modelled on
//! sscep, libest's estclient and certbot's manual mode, in one tool).
//!
//! ```text
//! cargo install --path cli
//! enroll --help
//! enroll scep enroll --url http://127.0.0.1:8080/scep --fingerprint <sha256> --key dev.key \
//!        --subject CN=router-7 --challenge secret --key-usage digitalSignature --out router-7.pem
//! enroll est enroll --url https://localhost:8443 --tls-ca tls-ca.pem --key dev.key \
//!        --subject CN=dev --user device --password secret --out dev.pem
//! enroll acme order --url https://localhost:14000/dir --tls-ca tls-ca.pem --account-key acct.key \
//!        --key dev.key --name dev.example --http01-port 5002 --out dev-chain.pem
//! ```
//! The options, the outcome line and the exit codes: `enroll --help` ([`cli::AFTER_HELP`]).

mod acme_cmd;
mod cli;
mod common;
mod csr;
mod est_cmd;
mod explain;
mod peek;
mod scep_cmd;

use clap::ArgMatches;
use common::Report;
use std::collections::HashMap;
use std::process::ExitCode;

pub const OK: u8 = 0;
pub const USAGE: u8 = 2;
pub const PENDING: u8 = 3;
pub const REFUSED: u8 = 4;
pub const TRANSPORT: u8 = 5;
pub const INVALID: u8 = 6;

/// The values of one command's options, by long name (`--tls-ca`), as matched by clap against
/// the command's definition in [`cli`]: only options the command defines can be here.
pub struct Opts {
    pub proto: String,
    pub cmd: String,
    opts: HashMap<String, Vec<String>>,
    flags: Vec<String>,
}

impl Opts {
    fn from_matches(proto: &str, cmd: &str, def: &clap::Command, m: &ArgMatches) -> Self {
        let (mut opts, mut flags) = (HashMap::new(), Vec::new());
        for arg in def.get_arguments() {
            let (Some(long), id) = (arg.get_long(), arg.get_id().as_str()) else { continue };
            if cli::is_flag(arg.get_action()) {
                if m.get_flag(id) {
                    flags.push(format!("--{long}"));
                }
            } else if let Some(raw) = m.get_raw(id) {
                opts.insert(format!("--{long}"), raw.map(|v| v.to_string_lossy().into_owned()).collect());
            }
        }
        Self { proto: proto.into(), cmd: cmd.into(), opts, flags }
    }
    pub fn get(&self, k: &str) -> Option<&str> {
        self.opts.get(k).and_then(|v| v.last()).map(String::as_str)
    }
    pub fn all(&self, k: &str) -> Vec<&str> {
        self.opts.get(k).map(|v| v.iter().map(String::as_str).collect()).unwrap_or_default()
    }
    /// A value clap has made sure of (required, or with a default).
    pub fn need(&self, k: &str) -> Result<&str, String> {
        self.get(k).ok_or(format!("{k} is required (see --help)"))
    }
    pub fn flag(&self, f: &str) -> bool {
        self.flags.iter().any(|x| x == f)
    }
    /// `--timeout` and `--max-wait` (every command has them, with defaults).
    pub fn secs(&self, k: &str) -> u64 {
        self.get(k).and_then(|v| v.parse().ok()).unwrap_or(0)
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let json = argv.iter().any(|a| a == "--json");
    let matches = match cli::command().try_get_matches_from(&argv) {
        Ok(m) => m,
        Err(e) => {
            let code = e.exit_code();
            if json && code != 0 {
                // clap's first line, without its "error: " prefix.
                let rendered = e.render().to_string();
                let head = rendered.split("\n\n").next().unwrap_or_default();
                let first = head.split_whitespace().collect::<Vec<_>>().join(" ");
                let first = first.trim_start_matches("error: ");
                println!("{{\"outcome\":\"BadUsage\",\"exit\":2,\"message\":{}}}", common::json_str(&format!("usage: {first}")));
            }
            let _ = e.print();
            return ExitCode::from(u8::try_from(code).unwrap_or(USAGE));
        }
    };
    let Some((proto, pm)) = matches.subcommand() else { return ExitCode::from(USAGE) };
    match proto {
        "completions" => {
            if let Some(shell) = pm.get_one::<clap_complete::Shell>("shell") {
                clap_complete::generate(*shell, &mut cli::command(), "enroll", &mut std::io::stdout());
            }
            return ExitCode::SUCCESS;
        }
        "man" => {
            let written = match pm.get_one::<std::path::PathBuf>("dir") {
                Some(dir) => std::fs::create_dir_all(dir).and_then(|()| clap_mangen::generate_to(cli::command(), dir)).map(|()| {
                    println!("man pages written to {}", dir.display());
                }),
                None => clap_mangen::Man::new(cli::command()).render(&mut std::io::stdout()),
            };
            return match written {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("enroll: man: {e}");
                    ExitCode::from(USAGE)
                }
            };
        }
        _ => {}
    }
    let Some((cmd, lm)) = pm.subcommand() else { return ExitCode::from(USAGE) };
    let root = cli::command();
    let Some(def) = root.find_subcommand(proto).and_then(|p| p.find_subcommand(cmd)) else { return ExitCode::from(USAGE) };
    let args = Opts::from_matches(proto, cmd, def, lm);
    let r = match proto {
        "scep" => scep_cmd::run(&args),
        "est" => est_cmd::run(&args),
        _ => acme_cmd::run(&args),
    };
    let json = args.flag("--json");
    let verbose = args.flag("--verbose");
    match r {
        Ok(report) => {
            report.print(json, verbose);
            ExitCode::from(report.code)
        }
        Err(e) => {
            let report = Report::usage(e);
            report.print(json, verbose);
            ExitCode::from(USAGE)
        }
    }
}
