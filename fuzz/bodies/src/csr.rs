use embedded_enroll::asn1::csr::CsrRef;

/// `asn1::csr::CsrRef::parse` (the PKCS#10 view the tests and servers use).
///
/// Properties: never panics; accessors and the signature check never panic.
pub fn csr(data: &[u8]) {
    let Ok(csr) = CsrRef::parse(data) else { return };
    let _ = csr.challenge_password();
    let _ = csr.requested_extensions();
    let _ = csr.subject().attributes().count();
    let _ = csr.verify_signature();
}
