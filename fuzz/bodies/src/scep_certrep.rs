use embedded_enroll::asn1::ber::normalize;
use embedded_enroll::asn1::cert::CertificateRef;
use embedded_enroll::scep::message::{CertRep, PkiStatus};
use embedded_enroll::scep::{AlgorithmPolicy, CaCaps};

use crate::support::MICROMDM_CA as CA;
use crate::support::with_scratch;

/// A SCEP client's response path on arbitrary bytes: GetCACaps parsing and the algorithm
/// choice, then BER normalization and CertRep verification against the micromdm CA with a
/// fixed transaction ID and nonce (the first input byte picks which path runs).
///
/// Properties: never panics; a SUCCESS CertRep always carries an envelope.
pub fn scep_certrep(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else { return };
    if which & 1 == 0 {
        let caps = CaCaps::parse(rest);
        let _ = caps.choose(&AlgorithmPolicy::default());
        return;
    }
    with_scratch(8192, |buf| {
        let Ok(der) = normalize(rest, buf) else { return };
        let ca = CertificateRef::parse(CA).expect("seed CA parses");
        if let Ok(rep) = CertRep::parse(der, &ca, "TX", &[0u8; 16]) {
            assert!(rep.status != PkiStatus::Success || rep.envelope.is_some());
        }
    })
}
