//! One-call conveniences that run a key operation on a HAL key: build and sign a CSR, a
//! self-signed certificate or a SignedData in one buffer, or open an EnvelopedData.
//!
//! The codecs in [`crate::asn1`] never call a key: they give the bytes to sign (or the
//! ciphertext to decrypt, the peer key to agree with) and take the answer, which is how the
//! protocol clients hand key operations to the caller as `Step`s. These functions are those
//! two phases with a [`Signer`], [`Decrypter`] or [`KeyAgreement`] in between, for code that
//! holds its key in the same place as its buffers (tests, servers, tools).

use super::{Decrypter, Error as _, KeyAgreement, Signer};
use crate::CryptoError;
use crate::asn1::cert::CertificateRef;
use crate::asn1::cms::enveloped_data::EnvelopedDataRef;
use crate::asn1::cms::signed_data::SignedDataBuilder;
use crate::asn1::csr::{CsrBuilder, MAX_SPKI_LEN, SelfSignedCertificate};
use crate::crypto::{Digest, HashAlgorithm};
use crate::error::{CmsError, EncodeError};
use zeroize::Zeroizing;

fn key_failed<E: super::Error>(e: E) -> EncodeError {
    EncodeError::KeyOperation { kind: e.kind() }
}

/// `signer`'s SubjectPublicKeyInfo, into `spki`.
fn public_key<'s, S: Signer>(signer: &mut S, spki: &'s mut [u8; MAX_SPKI_LEN]) -> Result<&'s [u8], EncodeError> {
    let n = signer.public_key_der(spki).map_err(key_failed)?;
    spki.get(..n).ok_or(EncodeError::InvalidValue { what: "public key" })
}

/// Builds the request `csr` for `signer`'s key, signs it with that key hashing with `hash`,
/// and writes it into `out` (the only buffer).
///
/// On [`EncodeError::BufferTooSmall`] the size given is an upper bound (ECDSA signatures
/// vary by a few bytes).
pub fn sign_csr<'o, S: Signer>(
    csr: &CsrBuilder<'_>,
    signer: &mut S,
    hash: HashAlgorithm,
    out: &'o mut [u8],
) -> Result<&'o [u8], EncodeError> {
    let mut spki = [0u8; MAX_SPKI_LEN];
    let spki = public_key(signer, &mut spki)?;
    let key = signer.key_type();
    csr.sign_in_place(spki, key, hash, out, &mut |d: &Digest, o: &mut [u8]| signer.sign_prehash(d, o).map_err(key_failed))
}

/// Builds the self-signed certificate `cert` for `signer`'s key, signs it with that key
/// hashing with `hash`, and writes it into `out`. keyUsage is digitalSignature, plus
/// keyEncipherment for RSA keys or keyAgreement for EC keys.
pub fn sign_certificate<'o, S: Signer>(
    cert: &SelfSignedCertificate<'_>,
    signer: &mut S,
    hash: HashAlgorithm,
    out: &'o mut [u8],
) -> Result<&'o [u8], EncodeError> {
    let mut spki = [0u8; MAX_SPKI_LEN];
    let spki = public_key(signer, &mut spki)?;
    let key = signer.key_type();
    cert.sign_in_place(spki, key, hash, out, &mut |d: &Digest, o: &mut [u8]| signer.sign_prehash(d, o).map_err(key_failed))
}

/// Signs the SignedData `builder` with `signer` (the key of its `signer_certificate`) and
/// writes the ContentInfo into `out`, the only buffer. On [`EncodeError::BufferTooSmall`]
/// the size is an upper bound (ECDSA signature lengths vary); nothing is written then.
pub fn sign_signed_data<'o, S: Signer>(
    builder: &SignedDataBuilder<'_>,
    signer: &mut S,
    out: &'o mut [u8],
) -> Result<&'o [u8], EncodeError> {
    let key = signer.key_type();
    builder.sign_in_place(key, out, &mut |d: &Digest, o: &mut [u8]| signer.sign_prehash(d, o).map_err(key_failed))
}

/// Opens `envelope` with the RSA key of `recipient` (KeyTransRecipientInfo): decrypts the
/// content-encryption key with `key` and the content into `out` (which needs
/// [`encrypted_len`](EnvelopedDataRef::encrypted_len) bytes).
pub fn decrypt_key_transport<'o, D: Decrypter>(
    envelope: &EnvelopedDataRef<'_>,
    recipient: &CertificateRef<'_>,
    key: &mut D,
    out: &'o mut [u8],
) -> Result<&'o [u8], CmsError> {
    let encrypted_key = envelope.key_transport_recipient(recipient)?;
    let mut cek = Zeroizing::new([0u8; 32]);
    let cek = cek.get_mut(..envelope.cipher().key_len()).ok_or(CmsError::Decrypt(CryptoError::UnsupportedAlgorithm))?;
    key.decrypt_pkcs1v15(encrypted_key, cek).map_err(|e| CmsError::KeyOperation(e.kind()))?;
    envelope.decrypt_with_cek(cek, out)
}

/// Opens `envelope` with the P-256 key of `recipient` (KeyAgreeRecipientInfo, RFC 5753
/// ephemeral-static ECDH): the ECDH with `key`, then the content into `out`.
pub fn decrypt_key_agreement<'o, K: KeyAgreement>(
    envelope: &EnvelopedDataRef<'_>,
    recipient: &CertificateRef<'_>,
    key: &mut K,
    out: &'o mut [u8],
) -> Result<&'o [u8], CmsError> {
    let kari = envelope.key_agreement_recipient(recipient)?;
    let mut z = Zeroizing::new([0u8; 32]);
    key.agree(kari.originator_key, &mut z).map_err(|e| CmsError::KeyOperation(e.kind()))?;
    envelope.decrypt_with_shared_secret(&kari, &z, out)
}
