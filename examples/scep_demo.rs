//! Enrollment demo: a device with a software RSA-2048 key enrolls over SCEP, renews, and
//! prints each issued certificate's subject, serial and SHA-256 fingerprint.
//!
//! ```text
//! cargo run --example scep_demo --features scep,soft-keys,legacy-crypto,sha512,std -- \
//!     127.0.0.1:8080 <CA SHA-256 fingerprint, hex> <challenge>
//! ```
//! `.ci/demo` starts a real micromdm `scepserver` on loopback and runs this against it.

#[path = "support/scep_flow.rs"]
mod scep_flow;

use embedded_enroll::asn1::cert::CertificateRef;
use embedded_enroll::crypto::rsa::RsaPrivateKey2048;
use embedded_enroll::scep::{AlgorithmPolicy, Outcome};
use scep_flow::{Server, enroll};
use std::process::ExitCode;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(":")
}

fn show(what: &str, der: &[u8]) {
    match CertificateRef::parse(der) {
        Ok(c) => {
            println!("{what}:");
            println!("  subject:     {}", c.subject());
            println!("  issuer:      {}", c.issuer());
            println!("  serial:      {}", hex(c.serial()));
            println!("  SHA-256:     {}", hex(&c.fingerprint_sha256()));
            println!("  valid:       {} .. {}", c.not_before(), c.not_after());
        }
        Err(e) => println!("{what}: issued certificate does not parse: {e}"),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, addr, fp_hex, challenge] = args.as_slice() else {
        eprintln!("usage: scep_demo HOST:PORT CA-SHA256-FINGERPRINT-HEX CHALLENGE");
        return ExitCode::from(2);
    };
    let clean: String = fp_hex.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    let Some(fp) = (0..32)
        .map(|i| u8::from_str_radix(clean.get(2 * i..2 * i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()
        .and_then(|v| <[u8; 32]>::try_from(v).ok())
    else {
        eprintln!("the fingerprint must be 32 bytes of hex");
        return ExitCode::from(2);
    };
    println!("generating an RSA-2048 device key (software key; a secure element on real hardware)");
    let mut key = match RsaPrivateKey2048::generate(&mut rand::thread_rng()) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("key generation failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("SCEP PKCSReq to {addr} (CA pinned by SHA-256 fingerprint), through the Sans-IO client and its blocking driver");
    let run = enroll(
        Server { addr, fingerprint: fp },
        &mut key,
        "demo-router-01",
        challenge,
        AlgorithmPolicy::default().with_single_des(),
        None,
        true,
    );
    let (Outcome::Issued, Some(issued)) = (&run.outcome, run.certificate) else {
        eprintln!("enrollment did not succeed: {:?}", run.outcome);
        return ExitCode::FAILURE;
    };
    if let Some(choice) = run.choice {
        println!("algorithms chosen from GetCACaps: {choice:?}");
    }
    show("issued certificate", &issued);
    println!("SCEP RenewalReq signed with the issued certificate");
    let run = enroll(
        Server { addr, fingerprint: fp },
        &mut key,
        "demo-router-01",
        challenge,
        AlgorithmPolicy::default().with_single_des(),
        Some(&issued),
        true,
    );
    match (&run.outcome, run.certificate) {
        (Outcome::Issued, Some(der)) => show("renewed certificate", &der),
        _ => {
            eprintln!("renewal did not succeed: {:?}", run.outcome);
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
