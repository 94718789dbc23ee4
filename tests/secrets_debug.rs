//! Nothing secret in `Debug`: every public type that holds a password, a challenge or an
//! envelope password prints the rest of its fields and hides the secret. (A derived `Debug`
//! on `lifecycle::Auth` and `scep::client::Config` once printed them.)
#![cfg(all(feature = "scep", feature = "est"))]

use embedded_enroll::asn1::csr::{ChallengePassword, CsrBuilder, NameAttribute};
use embedded_enroll::lifecycle::Auth;

const SECRET: &str = "s3cr3t-Hunter2";

fn assert_hidden(what: &str, debug: String) {
    assert!(!debug.contains(SECRET), "{what} shows the secret: {debug}");
    assert!(!debug.contains(&format!("{:?}", SECRET.as_bytes())), "{what} shows the secret's bytes: {debug}");
}

#[test]
fn debug_never_shows_passwords_or_challenges() {
    assert_hidden("lifecycle::Auth::Challenge", format!("{:?}", Auth::Challenge(SECRET)));
    let basic = format!("{:?}", Auth::Basic { user: "device-7", password: SECRET });
    assert_hidden("lifecycle::Auth::Basic", basic.clone());
    assert!(basic.contains("device-7"), "the user name is not secret and helps debugging: {basic}");

    let mut scep =
        embedded_enroll::scep::client::Config::new("ca.example", embedded_enroll::scep::ca::CaTrust::Fingerprint([7; 32]), &[0x30, 0x00]);
    scep.envelope_password = Some(SECRET.as_bytes());
    let shown = format!("{scep:?}");
    assert_hidden("scep::client::Config", shown.clone());
    assert!(shown.contains("ca.example"), "{shown}");

    let mut est = embedded_enroll::est::client::Config::new(
        "est.example",
        embedded_enroll::est::client::CaCertsTrust::TlsAuthenticated,
        &[0x30, 0x00],
    );
    est.credentials = Some(embedded_enroll::est::client::Credentials { user: "u", password: SECRET, preemptive_basic: true });
    assert_hidden("est::client::Config", format!("{est:?}"));

    let http = embedded_enroll::http::auth::Credentials { username: "u", password: SECRET.as_bytes() };
    assert_hidden("http::auth::Credentials", format!("{http:?}"));

    let subject = [NameAttribute::common_name("dev")];
    let csr = CsrBuilder::new(&subject).challenge_password(ChallengePassword::Printable(SECRET));
    assert_hidden("CsrBuilder", format!("{csr:?}"));
}
