//! The host CLI (`examples/enroll.rs`): every subcommand's `--help`, and the exit codes that
//! need no server (bad usage and configuration 2, transport error 5). Enrollments through it
//! against micromdm and est-ca run in the interop tests, its ACME commands in `cli_acme.rs`.
#![cfg(all(
    feature = "scep",
    feature = "est",
    feature = "acme",
    feature = "csrattrs",
    feature = "serverkeygen",
    feature = "http-digest",
    feature = "soft-keys",
    feature = "legacy-crypto",
    feature = "sha512",
    feature = "std",
    feature = "host-tls"
))]

use std::path::PathBuf;
use std::process::Command;

/// The example binary cargo built next to this test.
pub fn enroll_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    dir.join("examples").join("enroll")
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(enroll_bin()).args(args).output().expect("the enroll example is built by cargo test");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn every_subcommand_has_help_naming_its_options() {
    let (code, text, _) = run(&["--help"]);
    assert_eq!(code, 0);
    assert!(text.contains("Exit codes"));
    for (proto, cmds) in [
        ("scep", &["getcaps", "getca", "getnextca", "enroll", "renew", "poll", "getcert", "getcrl"][..]),
        ("est", &["cacerts", "csrattrs", "enroll", "reenroll", "serverkeygen"][..]),
        ("acme", &["account", "order", "renew", "revoke"][..]),
    ] {
        for cmd in cmds {
            let (code, text, _) = run(&[proto, cmd, "--help"]);
            assert_eq!(code, 0, "{proto} {cmd}");
            assert!(text.starts_with(&format!("enroll {proto} {cmd} --url URL")), "{proto} {cmd}: {text}");
            assert!(text.lines().count() >= 2, "a sentence on what it does: {text}");
        }
    }
}

#[test]
fn bad_usage_and_configuration_exit_2_with_a_reason() {
    for (args, why) in [
        (&["scep", "frobnicate"][..], "unknown command"),
        (&["scep", "enroll"][..], "--url"),
        (&["scep", "enroll", "--url", "http://127.0.0.1:9/scep"][..], "--fingerprint or --ca"),
        (&["scep", "enroll", "--url", "http://127.0.0.1:9/scep", "--fingerprint", "abcd"][..], "32 bytes"),
        (&["est", "enroll", "--url", "https://localhost:9"][..], "--tls-ca"),
        (&["est", "enroll", "--url", "https://localhost:9", "--insecure-bootstrap", "--fingerprint", &"00".repeat(32)][..], "only for"),
        (&["est", "cacerts", "--url", "http://localhost:9", "--tls-ca", "x"][..], "https://"),
        (
            &["scep", "getcaps", "--url", "http://127.0.0.1:9/scep", "--fingerprint", &"00".repeat(32), "--key", "/nonexistent"][..],
            "/nonexistent",
        ),
    ] {
        let (code, out, err) = run(args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(why), "{args:?}: {err}");
    }
    let (code, out, _) = run(&["scep", "enroll", "--url", "http://127.0.0.1:9/scep", "--json"]);
    assert_eq!(code, 2);
    assert!(out.starts_with("{\"outcome\":\"BadConfiguration\",\"exit\":2,"), "{out}");
}

#[test]
fn an_unreachable_server_is_a_transport_error_exit_5() {
    // Port 9 (discard) on loopback: nothing listens there in the test environment.
    let (code, out, err) = run(&["scep", "getcaps", "--url", "http://127.0.0.1:9/scep", "--fingerprint", &"00".repeat(32), "--json"]);
    assert_eq!(code, 5, "{out}{err}");
    assert!(out.contains("\"outcome\":\"Transport\""), "{out}");
    // The reason, in words (TCP refused on a closed port).
    assert!(out.contains("\"reason\":\"the connection could not be made"), "{out}");
    assert!(err.contains("transport error"), "progress on stderr: {err}");
}
