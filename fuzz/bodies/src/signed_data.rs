use embedded_enroll::asn1::ber::normalize;
use embedded_enroll::asn1::cms::signed_data::SignedDataRef;

use crate::support::with_scratch;

/// `asn1::cms::signed_data::SignedDataRef::parse` + `verify`, after BER normalization, as
/// a SCEP or EST client handles a reply (certs-only replies included).
///
/// Properties: never panics; iterators over certificates, CRLs and signers never panic.
pub fn signed_data(data: &[u8]) {
    with_scratch(8192, |buf| {
        let Ok(der) = normalize(data, buf) else { return };
        let Ok(sd) = SignedDataRef::parse(der) else { return };
        let _ = sd.certificates().count();
        let _ = sd.crls().count();
        for si in sd.signer_infos() {
            let _ = si.signature_algorithm();
        }
        let _ = sd.verify(None);
        if let Some(c) = sd.certificates().next() {
            let _ = sd.verify(Some(&c));
        }
    })
}
