use embedded_enroll::asn1::ber::normalize;
use embedded_enroll::asn1::cert::CertificateRef;
use embedded_enroll::asn1::cms::enveloped_data::EnvelopedDataRef;
use embedded_enroll::hal::oneshot::decrypt_key_agreement;
use embedded_enroll::hal::soft::SoftP256Key;

// The micromdm CA certificate, standing in for the recipient.
use crate::support::MICROMDM_CA as CERT;
use crate::support::with_scratch;

/// `asn1::cms::enveloped_data::EnvelopedDataRef::parse`, then the password (PWRI) and key
/// agreement (KARI, with a fixed software key) openings, which walk every RecipientInfo.
///
/// Properties: never panics; the plaintext never exceeds the encrypted length.
pub fn enveloped_data(data: &[u8]) {
    with_scratch(2 * 8192, |pool| {
        let (buf, out) = pool.split_at_mut(8192);
        let Ok(der) = normalize(data, buf) else { return };
        let Ok(ed) = EnvelopedDataRef::parse(der) else { return };
        let max = ed.encrypted_len();
        if let Ok(p) = ed.decrypt_with_password(b"pw", out) {
            assert!(p.len() <= max);
        }
        let cert = CertificateRef::parse(CERT).expect("seed certificate parses");
        let mut key = SoftP256Key::from_bytes(&[0x42; 32]).expect("fixed key");
        if let Ok(p) = decrypt_key_agreement(&ed, &cert, &mut key, out) {
            assert!(p.len() <= max);
        }
    })
}
