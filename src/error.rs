//! Error types, one small `Copy` enum per layer.
//!
//! Each carries enough context to act on (which check failed, how much space was needed) and
//! nothing secret. All are `#[non_exhaustive]`: match with a wildcard arm.

use core::fmt;

/// An error from a cryptographic adapter in [`crate::crypto`] or a software key.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CryptoError {
    /// The output buffer is too small; `needed` bytes are required.
    BufferTooSmall {
        /// Bytes the operation needs.
        needed: usize,
    },
    /// An input has a length the operation cannot take (key, IV, digest, ciphertext).
    InvalidLength {
        /// Which input.
        what: &'static str,
    },
    /// CBC padding (PKCS#7) did not check out after decryption.
    InvalidPadding,
    /// An integrity check failed: AES key unwrap, RFC 3211 key check, or a key pair that does
    /// not match itself.
    IntegrityCheckFailed,
    /// A key is malformed: an even or too-short RSA modulus, a point not on the curve, a zero
    /// scalar, an encoding that does not parse.
    InvalidKey,
    /// An RSA key size outside 2048..=4096 bits.
    UnsupportedKeySize {
        /// The modulus size in bits.
        bits: u16,
    },
    /// The algorithm is not available in this build or for this operation (e.g. DES
    /// encryption, or SHA-1 signatures without `legacy-crypto`).
    UnsupportedAlgorithm,
    /// A signature does not verify.
    SignatureInvalid,
    /// The message is too long for the RSA modulus.
    MessageTooLong,
    /// Key generation did not find a suitable key within its bounded number of attempts.
    KeyGenerationFailed,
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BufferTooSmall { needed } => {
                write!(f, "output buffer too small: {needed} bytes needed")
            }
            Self::InvalidLength { what } => write!(f, "invalid length of {what}"),
            Self::InvalidPadding => f.write_str("invalid CBC padding"),
            Self::IntegrityCheckFailed => f.write_str("integrity check failed"),
            Self::InvalidKey => f.write_str("malformed key"),
            Self::UnsupportedKeySize { bits } => write!(f, "unsupported RSA key size: {bits} bits (2048..=4096 supported)"),
            Self::UnsupportedAlgorithm => f.write_str("algorithm not supported in this build or for this operation"),
            Self::SignatureInvalid => f.write_str("signature does not verify"),
            Self::MessageTooLong => f.write_str("message too long for the RSA modulus"),
            Self::KeyGenerationFailed => f.write_str("key generation gave up after its bounded attempts"),
        }
    }
}

impl core::error::Error for CryptoError {}
