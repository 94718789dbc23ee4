//! EnvelopedData (RFC 5652 section 6):
//!
//! ```text
//! EnvelopedData ::= SEQUENCE {
//!   version CMSVersion, originatorInfo [0] IMPLICIT OriginatorInfo OPTIONAL,
//!   recipientInfos RecipientInfos, encryptedContentInfo EncryptedContentInfo,
//!   unprotectedAttrs [1] IMPLICIT UnprotectedAttributes OPTIONAL }
//! RecipientInfo ::= CHOICE {
//!   ktri KeyTransRecipientInfo, kari [1] KeyAgreeRecipientInfo,
//!   kekri [2] KEKRecipientInfo, pwri [3] PasswordRecipientInfo, ori [4] OtherRecipientInfo }
//! EncryptedContentInfo ::= SEQUENCE {
//!   contentType ContentType, contentEncryptionAlgorithm ContentEncryptionAlgorithmIdentifier,
//!   encryptedContent [0] IMPLICIT EncryptedContent OPTIONAL }
//! ```
//!
//! Opening: KTRI (RSA PKCS#1 v1.5 by the device's key, with implicit rejection), KARI
//! (RFC 5753 ephemeral-static ECDH on P-256 by the device's key, X9.63 KDF with SHA-256,
//! SHA-1 with feature `sha1` or SHA-384 with feature `sha512`, AES key wrap) and PWRI (RFC
//! 3211: PBKDF2 with HMAC-SHA256, or HMAC-SHA1 (the default PRF) with feature `sha1`, then the
//! id-alg-PWRI-KEK double-CBC unwrap). A KDF hash the build lacks is
//! [`CmsError::Decrypt`]`(`[`CryptoError::UnsupportedAlgorithm`]`)`, found before any key
//! operation. Content: AES-128/192/256-CBC; 3DES-CBC and DES-CBC with
//! `legacy-crypto`. A constructed `encryptedContent` (BER segments, as micromdm sends) is
//! joined while it is copied into the caller's buffer.
//!
//! Building: KTRI to an RSA certificate, the way SCEP requests are encrypted to the CA.

#![deny(clippy::arithmetic_side_effects)]

use super::{Identifier, write_content_info, write_issuer_and_serial};
use crate::CryptoError;
use crate::asn1::algorithm::AlgorithmIdentifierRef;
use crate::asn1::cert::CertificateRef;
use crate::asn1::oid;
use crate::asn1::spki::PublicKey;
use crate::asn1::tlv::{Cursor, Tlv, tag};
use crate::asn1::writer::{Writer, encode};
use crate::crypto::cbc::CbcCipher;
use crate::crypto::{HashAlgorithm, kdf, keywrap};
use crate::error::{CmsError, DecodeError, EncodeError};
use der::asn1::ObjectIdentifier;
use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

/// The most PBKDF2 iterations a PasswordRecipientInfo may ask for: the sender chooses the
/// count, and each iteration costs the device two HMACs.
pub const MAX_PWRI_ITERATIONS: u32 = 100_000;

/// A parsed EnvelopedData (inside its ContentInfo).
#[derive(Debug, Clone, Copy)]
pub struct EnvelopedDataRef<'a> {
    recipient_infos: &'a [u8],
    content_type: ObjectIdentifier,
    cipher: CbcCipher,
    iv: &'a [u8],
    encrypted: Option<Tlv<'a>>,
}

/// A KeyAgreeRecipientInfo addressed to the device: what ECDH needs, and what the KDF and
/// unwrap need afterwards.
#[derive(Debug, Clone, Copy)]
pub struct KeyAgreeRecipient<'a> {
    /// The originator's ephemeral public key (SEC1 point): the peer of the device's ECDH.
    pub originator_key: &'a [u8],
    ukm: Option<&'a [u8]>,
    kdf_hash: HashAlgorithm,
    wrap: &'a [u8],
    kek_len: usize,
    encrypted_key: &'a [u8],
}

/// The content-encryption algorithm an OID names.
pub fn cipher_from_oid(o: &ObjectIdentifier) -> Option<CbcCipher> {
    Some(match oid::position(o, &[oid::AES128_CBC, oid::AES192_CBC, oid::AES256_CBC, oid::DES_EDE3_CBC, oid::DES_CBC])? {
        0 => CbcCipher::Aes128,
        1 => CbcCipher::Aes192,
        2 => CbcCipher::Aes256,
        3 => CbcCipher::DesEde3,
        _ => CbcCipher::Des,
    })
}

/// The OID of a content-encryption algorithm.
pub fn cipher_oid(c: CbcCipher) -> ObjectIdentifier {
    match c {
        CbcCipher::Aes128 => oid::AES128_CBC,
        CbcCipher::Aes192 => oid::AES192_CBC,
        CbcCipher::Aes256 => oid::AES256_CBC,
        CbcCipher::DesEde3 => oid::DES_EDE3_CBC,
        CbcCipher::Des => oid::DES_CBC,
    }
}

/// Reads a CBC `AlgorithmIdentifier` whose parameters are the IV.
fn cbc_algorithm<'a>(a: &AlgorithmIdentifierRef<'a>) -> Result<(CbcCipher, &'a [u8]), DecodeError> {
    let cipher = cipher_from_oid(&a.oid).ok_or(DecodeError::Unsupported { what: "content-encryption algorithm" })?;
    let iv = a.parameters.ok_or(DecodeError::InvalidValue { what: "missing IV" })?.with_tag(tag::OCTET_STRING)?.value;
    if iv.len() != cipher.block_len() {
        return Err(DecodeError::InvalidValue { what: "IV length" });
    }
    Ok((cipher, iv))
}

impl<'a> EnvelopedDataRef<'a> {
    /// Parses a DER ContentInfo holding EnvelopedData.
    pub fn parse(der_bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let (ct, content) = super::content_info(der_bytes)?;
        if !oid::same(&ct, &oid::ENVELOPED_DATA) {
            return Err(DecodeError::Unsupported { what: "content type (expected envelopedData)" });
        }
        let mut c = content.with_tag(tag::SEQUENCE)?.children();
        let version = c.expect_next(tag::INTEGER)?.small_integer()?;
        if version > 4 {
            return Err(DecodeError::Unsupported { what: "EnvelopedData version" });
        }
        c.optional(tag::context(0))?;
        let recipient_infos = c.expect_next(tag::SET)?.value;
        if recipient_infos.is_empty() {
            return Err(DecodeError::InvalidValue { what: "no RecipientInfo" });
        }
        for r in Cursor::new(recipient_infos) {
            r?;
        }
        let mut eci = c.expect_next(tag::SEQUENCE)?.children();
        let content_type = eci.expect_next(tag::OID)?.oid()?;
        let (cipher, iv) = cbc_algorithm(&AlgorithmIdentifierRef::from_tlv(eci.expect_next(tag::SEQUENCE)?)?)?;
        let encrypted = match eci.peek_tag() {
            Some(0x80) | Some(0xa0) => Some(eci.next_any()?),
            _ => None,
        };
        eci.finish()?;
        c.optional(tag::context(1))?;
        c.finish()?;
        if let Some(e) = encrypted
            && e.tag == 0xa0
        {
            for seg in e.children() {
                seg?.with_tag(tag::OCTET_STRING)?;
            }
        }
        Ok(Self { recipient_infos, content_type, cipher, iv, encrypted })
    }

    /// The type of the encrypted content (usually id-data).
    pub fn content_type(&self) -> ObjectIdentifier {
        self.content_type
    }

    /// The content-encryption algorithm.
    pub fn cipher(&self) -> CbcCipher {
        self.cipher
    }

    /// The length of the encrypted content (an upper bound of the plaintext's).
    pub fn encrypted_len(&self) -> usize {
        match self.encrypted {
            Some(e) if e.tag == 0xa0 => e.children().filter_map(Result::ok).map(|s| s.value.len()).sum(),
            Some(e) => e.value.len(),
            None => 0,
        }
    }

    /// The encrypted content-encryption key of the KeyTransRecipientInfo for `recipient`:
    /// what the device's RSA key must decrypt (PKCS#1 v1.5, expecting
    /// [`cipher`](Self::cipher)`().key_len()` bytes). Then [`decrypt_with_cek`](Self::decrypt_with_cek).
    pub fn key_transport_recipient(&self, recipient: &CertificateRef<'_>) -> Result<&'a [u8], CmsError> {
        for ri in Cursor::new(self.recipient_infos).filter_map(Result::ok).filter(|r| r.tag == tag::SEQUENCE) {
            let mut c = ri.children();
            c.expect_next(tag::INTEGER)?;
            let rid = Identifier::from_tlv(c.next_any()?)?;
            let alg = AlgorithmIdentifierRef::from_tlv(c.expect_next(tag::SEQUENCE)?)?;
            let encrypted_key = c.expect_next(tag::OCTET_STRING)?.value;
            if !rid.matches(recipient) {
                continue;
            }
            if !oid::same(&alg.oid, &oid::RSA_ENCRYPTION) {
                return Err(DecodeError::Unsupported { what: "key transport algorithm (only rsaEncryption)" }.into());
            }
            return Ok(encrypted_key);
        }
        Err(CmsError::RecipientNotFound)
    }

    /// The KeyAgreeRecipientInfo for `recipient`: its originator's ephemeral public key is what
    /// the device's P-256 key must do ECDH with. Then
    /// [`decrypt_with_shared_secret`](Self::decrypt_with_shared_secret). A scheme whose KDF
    /// hash the build lacks (`sha1kdf` without `sha1`, `sha384kdf` without `sha512`) is
    /// [`CmsError::Decrypt`]`(`[`CryptoError::UnsupportedAlgorithm`]`)`.
    pub fn key_agreement_recipient(&self, recipient: &CertificateRef<'_>) -> Result<KeyAgreeRecipient<'a>, CmsError> {
        for ri in Cursor::new(self.recipient_infos).filter_map(Result::ok).filter(|r| r.tag == tag::context(1)) {
            let mut c = ri.children();
            if c.expect_next(tag::INTEGER)?.small_integer()? != 3 {
                return Err(DecodeError::Unsupported { what: "KeyAgreeRecipientInfo version" }.into());
            }
            let originator = Tlv::parse_exact(c.expect_next(tag::context(0))?.value)?;
            let ukm =
                c.optional(tag::context(1))?.map(|t| Tlv::parse_exact(t.value).and_then(|o| o.with_tag(tag::OCTET_STRING))).transpose()?;
            let kea = AlgorithmIdentifierRef::from_tlv(c.expect_next(tag::SEQUENCE)?)?;
            let keys = c.expect_next(tag::SEQUENCE)?;
            c.finish()?;
            let mut encrypted_key = None;
            for rek in keys.children() {
                let mut rc = rek?.with_tag(tag::SEQUENCE)?.children();
                let rid = rc.next_any()?;
                let ek = rc.expect_next(tag::OCTET_STRING)?.value;
                let matches = match rid.tag {
                    tag::SEQUENCE => Identifier::from_tlv(rid)?.matches(recipient),
                    // [0] IMPLICIT RecipientKeyIdentifier { subjectKeyIdentifier, date, other }
                    0xa0 => {
                        let ski = rid.children().expect_next(tag::OCTET_STRING)?.value;
                        recipient.subject_key_identifier() == Some(ski)
                    }
                    _ => false,
                };
                if matches {
                    encrypted_key = Some(ek);
                }
            }
            let Some(encrypted_key) = encrypted_key else { continue };
            // originator [0] EXPLICIT OriginatorIdentifierOrKey: originatorKey [1] IMPLICIT
            // OriginatorPublicKey ::= SEQUENCE { algorithm, publicKey BIT STRING }.
            if originator.tag != tag::context(1) {
                return Err(DecodeError::Unsupported { what: "KARI originator (only an ephemeral key)" }.into());
            }
            let mut oc = originator.children();
            oc.expect_next(tag::SEQUENCE)?;
            let originator_key = oc.expect_next(tag::BIT_STRING)?.bit_string_octets()?;
            let kdf_hash = match oid::position(&kea.oid, &[oid::ECDH_SHA1_KDF, oid::ECDH_SHA256_KDF, oid::ECDH_SHA384_KDF]) {
                Some(0) => HashAlgorithm::Sha1,
                Some(1) => HashAlgorithm::Sha256,
                Some(_) => HashAlgorithm::Sha384,
                None => return Err(DecodeError::Unsupported { what: "key agreement scheme" }.into()),
            };
            let wrap = kea.parameters.ok_or(DecodeError::InvalidValue { what: "key wrap algorithm" })?;
            let wrap_oid = AlgorithmIdentifierRef::from_tlv(wrap)?.oid;
            let kek_len = match oid::position(&wrap_oid, &[oid::AES128_WRAP, oid::AES192_WRAP, oid::AES256_WRAP]) {
                Some(0) => 16,
                Some(1) => 24,
                Some(_) => 32,
                None => return Err(DecodeError::Unsupported { what: "key wrap algorithm (AES key wrap only)" }.into()),
            };
            // A KDF hash that is known but not built in: refused before the device is asked
            // for the ECDH.
            if !kdf_hash.is_available() {
                return Err(CmsError::Decrypt(CryptoError::UnsupportedAlgorithm));
            }
            return Ok(KeyAgreeRecipient { originator_key, ukm: ukm.map(|u| u.value), kdf_hash, wrap: wrap.raw, kek_len, encrypted_key });
        }
        Err(CmsError::RecipientNotFound)
    }

    /// Finishes a key agreement: from the ECDH shared secret `z` (the x-coordinate), derives
    /// the KEK with the X9.63 KDF over `ECC-CMS-SharedInfo`, unwraps the content-encryption
    /// key and decrypts the content.
    pub fn decrypt_with_shared_secret<'o>(
        &self,
        kari: &KeyAgreeRecipient<'_>,
        z: &[u8; 32],
        out: &'o mut [u8],
    ) -> Result<&'o [u8], CmsError> {
        // ECC-CMS-SharedInfo ::= SEQUENCE { keyInfo AlgorithmIdentifier,
        //   entityUInfo [0] EXPLICIT OCTET STRING OPTIONAL, suppPubInfo [2] EXPLICIT OCTET STRING }
        let mut shared_info = [0u8; 128];
        let bits = u32::try_from(kari.kek_len.saturating_mul(8)).unwrap_or(u32::MAX).to_be_bytes();
        let si = encode(&mut shared_info, |w| {
            w.sequence(|w| {
                w.raw(kari.wrap)?;
                if let Some(u) = kari.ukm {
                    w.tlv(tag::context(0), |w| w.octet_string(u))?;
                }
                w.tlv(tag::context(2), |w| w.octet_string(&bits))
            })
        })
        .map_err(|_| DecodeError::InvalidValue { what: "user keying material too long" })?;
        let mut kek = Zeroizing::new([0u8; 32]);
        let kek = kek.get_mut(..kari.kek_len).ok_or(CmsError::Decrypt(CryptoError::UnsupportedAlgorithm))?;
        kdf::x963_kdf(kari.kdf_hash, z, si, kek).map_err(CmsError::Decrypt)?;
        let mut cek = Zeroizing::new([0u8; 64]);
        let cek = keywrap::unwrap(kek, kari.encrypted_key, cek.as_mut()).map_err(CmsError::Decrypt)?;
        if cek.len() != self.cipher.key_len() {
            return Err(CmsError::Decrypt(CryptoError::InvalidLength { what: "content-encryption key" }));
        }
        self.decrypt_with_cek(cek, out)
    }

    /// Opens the envelope with a password (PasswordRecipientInfo, RFC 3211). Iteration counts
    /// above [`MAX_PWRI_ITERATIONS`] are refused, and so is PBKDF2's default PRF, HMAC-SHA1,
    /// without feature `sha1` ([`CmsError::Decrypt`]`(`[`CryptoError::UnsupportedAlgorithm`]`)`).
    pub fn decrypt_with_password<'o>(&self, password: &[u8], out: &'o mut [u8]) -> Result<&'o [u8], CmsError> {
        let ri = Cursor::new(self.recipient_infos)
            .filter_map(Result::ok)
            .find(|r| r.tag == tag::context(3))
            .ok_or(CmsError::RecipientNotFound)?;
        let mut c = ri.children();
        if c.expect_next(tag::INTEGER)?.small_integer()? != 0 {
            return Err(DecodeError::Unsupported { what: "PasswordRecipientInfo version" }.into());
        }
        // keyDerivationAlgorithm [0] IMPLICIT AlgorithmIdentifier: PBKDF2.
        let kd = c.expect_next(tag::context(0))?;
        let mut kdc = kd.children();
        if !oid::same(&kdc.expect_next(tag::OID)?.oid()?, &oid::PBKDF2) {
            return Err(DecodeError::Unsupported { what: "key derivation (PBKDF2 only)" }.into());
        }
        let mut p = kdc.expect_next(tag::SEQUENCE)?.children();
        let salt = p.expect_next(tag::OCTET_STRING)?.value;
        let iterations = p.expect_next(tag::INTEGER)?.small_integer()?;
        let key_length = p.optional(tag::INTEGER)?.map(|t| t.small_integer()).transpose()?;
        let prf = match p.optional(tag::SEQUENCE)? {
            Some(a) => match oid::position(&AlgorithmIdentifierRef::from_tlv(a)?.oid, &[oid::HMAC_WITH_SHA1, oid::HMAC_WITH_SHA256]) {
                Some(0) => HashAlgorithm::Sha1,
                Some(_) => HashAlgorithm::Sha256,
                None => return Err(DecodeError::Unsupported { what: "PBKDF2 PRF" }.into()),
            },
            None => HashAlgorithm::Sha1,
        };
        if !prf.is_available() {
            return Err(CmsError::Decrypt(CryptoError::UnsupportedAlgorithm));
        }
        if iterations == 0 || iterations > MAX_PWRI_ITERATIONS {
            return Err(DecodeError::InvalidValue { what: "PBKDF2 iteration count" }.into());
        }
        let kea = AlgorithmIdentifierRef::from_tlv(c.expect_next(tag::SEQUENCE)?)?;
        if !oid::same(&kea.oid, &oid::PWRI_KEK) {
            return Err(DecodeError::Unsupported { what: "password key encryption (id-alg-PWRI-KEK only)" }.into());
        }
        let (kek_cipher, kek_iv) = cbc_algorithm(&AlgorithmIdentifierRef::from_tlv(
            kea.parameters.ok_or(DecodeError::InvalidValue { what: "PWRI-KEK parameters" })?,
        )?)?;
        let encrypted_key = c.expect_next(tag::OCTET_STRING)?.value;
        c.finish()?;
        if key_length.is_some_and(|l| l as usize != kek_cipher.key_len()) {
            return Err(DecodeError::InvalidValue { what: "PBKDF2 key length" }.into());
        }
        let mut kek = Zeroizing::new([0u8; 32]);
        let kek = kek.get_mut(..kek_cipher.key_len()).ok_or(CmsError::Decrypt(CryptoError::UnsupportedAlgorithm))?;
        kdf::pbkdf2_hmac(prf, password, salt, iterations, kek).map_err(CmsError::Decrypt)?;
        let mut cek = Zeroizing::new([0u8; 64]);
        let cek = pwri_unwrap(kek_cipher, kek, kek_iv, encrypted_key, cek.as_mut())?;
        if cek.len() != self.cipher.key_len() {
            return Err(CmsError::Decrypt(CryptoError::InvalidLength { what: "content-encryption key" }));
        }
        self.decrypt_with_cek(cek, out)
    }

    /// Decrypts the content with the content-encryption key (from a key transport the caller
    /// ran on its own key, or from the other openings) into `out`.
    pub fn decrypt_with_cek<'o>(&self, cek: &[u8], out: &'o mut [u8]) -> Result<&'o [u8], CmsError> {
        let len = self.encrypted_len();
        let dst = out.get_mut(..len).ok_or(CmsError::BufferTooSmall { needed: len })?;
        match self.encrypted {
            Some(e) if e.tag == 0xa0 => {
                let mut at = 0usize;
                for seg in e.children().filter_map(Result::ok) {
                    let next = at.checked_add(seg.value.len()).ok_or(CmsError::BufferTooSmall { needed: len })?;
                    dst.get_mut(at..next).ok_or(CmsError::BufferTooSmall { needed: len })?.copy_from_slice(seg.value);
                    at = next;
                }
            }
            Some(e) => dst.copy_from_slice(e.value),
            None => return Err(DecodeError::InvalidValue { what: "detached encrypted content" }.into()),
        }
        self.cipher.decrypt(cek, self.iv, dst).map_err(CmsError::Decrypt)
    }
}

/// The id-alg-PWRI-KEK unwrap (RFC 3211 section 2.3.2): two CBC passes, then the length and
/// check bytes of the wrapped key.
fn pwri_unwrap<'o>(cipher: CbcCipher, kek: &[u8], iv: &[u8], wrapped: &[u8], out: &'o mut [u8]) -> Result<&'o [u8], CmsError> {
    let b = cipher.block_len();
    let n = wrapped.len();
    // b is the cipher's block length (8 or 16), n at most 64: the offsets below cannot wrap.
    if n < b.saturating_mul(2) || !n.is_multiple_of(b) || n > 64 {
        return Err(CmsError::Decrypt(CryptoError::InvalidLength { what: "wrapped key" }));
    }
    let mut tmp = Zeroizing::new([0u8; 64]);
    let tmp = tmp.get_mut(..n).ok_or(CmsError::Decrypt(CryptoError::InvalidLength { what: "wrapped key" }))?;
    tmp.copy_from_slice(wrapped);
    let d = CmsError::Decrypt;
    // 1. Decrypt the last block with the one before it as IV.
    let mut prev_last = [0u8; 16];
    let prev = prev_last.get_mut(..b).ok_or(d(CryptoError::UnsupportedAlgorithm))?;
    let last_start = n.saturating_sub(b);
    prev.copy_from_slice(wrapped.get(last_start.saturating_sub(b)..last_start).unwrap_or(&[]));
    let (head, last) = tmp.split_at_mut(last_start);
    cipher.decrypt_blocks(kek, prev, last).map_err(d)?;
    // 2. Decrypt the other blocks with the decrypted last block as IV.
    cipher.decrypt_blocks(kek, last, head).map_err(d)?;
    // 3. Decrypt the whole with the KEK's own IV.
    cipher.decrypt_blocks(kek, iv, tmp).map_err(d)?;
    let (len, rest) = tmp.split_first().ok_or(d(CryptoError::IntegrityCheckFailed))?;
    let len = usize::from(*len);
    let check = rest.get(..3).ok_or(d(CryptoError::IntegrityCheckFailed))?;
    let key = rest.get(3..3 + len).ok_or(d(CryptoError::IntegrityCheckFailed))?;
    let ok = len >= 3 && key.get(..3).is_some_and(|k| k.iter().zip(check).all(|(a, c)| a ^ c == 0xff));
    if !ok {
        return Err(d(CryptoError::IntegrityCheckFailed));
    }
    let dst = out.get_mut(..len).ok_or(CmsError::BufferTooSmall { needed: len })?;
    dst.copy_from_slice(key);
    Ok(dst)
}

/// Encrypts `content` for the RSA key of `recipient` (KeyTransRecipientInfo v0, identified
/// by issuer and serial) with a fresh content-encryption key and IV, and writes the
/// ContentInfo into `out`.
pub fn build_for_rsa_recipient<'o>(
    recipient: &CertificateRef<'_>,
    cipher: CbcCipher,
    content: &[u8],
    rng: &mut impl CryptoRngCore,
    out: &'o mut [u8],
) -> Result<&'o [u8], EncodeError> {
    let PublicKey::Rsa(rsa) = recipient.spki().key() else { return Err(EncodeError::InvalidValue { what: "recipient key is not RSA" }) };
    if !cipher.can_encrypt() {
        return Err(EncodeError::Crypto(CryptoError::UnsupportedAlgorithm));
    }
    let mut cek = Zeroizing::new([0u8; 32]);
    let cek = cek.get_mut(..cipher.key_len()).ok_or(EncodeError::InvalidValue { what: "cipher" })?;
    rng.fill_bytes(cek);
    let mut iv = [0u8; 16];
    let iv = iv.get_mut(..cipher.block_len()).ok_or(EncodeError::InvalidValue { what: "cipher" })?;
    rng.fill_bytes(iv);
    let mut ek = [0u8; crate::crypto::rsa::MAX_MODULUS_LEN];
    let ek = rsa.encrypt_pkcs1v15(rng, cek, &mut ek)?;
    let ct_len = cipher.padded_len(content.len());
    let write = |w: &mut Writer<'_>| {
        write_content_info(w, &oid::ENVELOPED_DATA, |w| {
            w.sequence(|w| {
                w.small_integer(0)?;
                w.set_of(tag::SET, |w| {
                    w.sequence(|w| {
                        w.small_integer(0)?;
                        write_issuer_and_serial(w, recipient)?;
                        w.sequence(|w| {
                            w.oid(&oid::RSA_ENCRYPTION)?;
                            w.null()
                        })?;
                        w.octet_string(ek)
                    })
                })?;
                w.sequence(|w| {
                    w.oid(&oid::DATA)?;
                    w.sequence(|w| {
                        w.oid(&cipher_oid(cipher))?;
                        w.octet_string(iv)
                    })?;
                    // [0] IMPLICIT OCTET STRING, filled in below.
                    w.header(tag::context_primitive(0), ct_len)?;
                    w.skip(ct_len)
                })
            })
        })
    };
    let total = encode(out, write)?.len();
    // The ciphertext is the last thing in the encoding: encrypt the content in place there.
    let region = out
        .get_mut(total.checked_sub(ct_len).ok_or(EncodeError::BufferTooSmall { needed: total })?..total)
        .ok_or(EncodeError::BufferTooSmall { needed: total })?;
    region.get_mut(..content.len()).ok_or(EncodeError::BufferTooSmall { needed: total })?.copy_from_slice(content);
    cipher.encrypt(cek, iv, region, content.len())?;
    out.get(..total).ok_or(EncodeError::BufferTooSmall { needed: total })
}
