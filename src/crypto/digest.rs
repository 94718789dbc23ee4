//! SHA-1 and SHA-2 digests, as one enum so that algorithm choice can be a runtime value
//! (it comes from certificates, GetCACaps and CMS messages).
//!
//! SHA-1 is always available here because key-derivation functions and fingerprints need it;
//! SHA-1 *signatures* are refused unless `legacy-crypto` is enabled (see [`crate::crypto::rsa`]).

use sha1::Sha1;
use sha2::{Digest as _, Sha256, Sha384, Sha512};

/// A hash algorithm.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum HashAlgorithm {
    /// SHA-1 (FIPS 180-4), 20 bytes. Legacy: for KDFs, fingerprints and old servers only.
    Sha1,
    /// SHA-256, 32 bytes.
    Sha256,
    /// SHA-384, 48 bytes.
    Sha384,
    /// SHA-512, 64 bytes.
    Sha512,
}

impl HashAlgorithm {
    /// The digest size in bytes.
    pub const fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// The hash's input block size in bytes (for HMAC).
    pub const fn block_len(self) -> usize {
        match self {
            Self::Sha1 | Self::Sha256 => 64,
            Self::Sha384 | Self::Sha512 => 128,
        }
    }

    /// Hashes `data` in one go.
    pub fn digest(self, data: &[u8]) -> Digest {
        let mut h = Hasher::new(self);
        h.update(data);
        h.finalize()
    }

    /// Hashes the concatenation of `parts` in one go.
    pub fn digest_parts(self, parts: &[&[u8]]) -> Digest {
        let mut h = Hasher::new(self);
        for p in parts {
            h.update(p);
        }
        h.finalize()
    }
}

/// A digest value: up to 64 bytes, with its algorithm.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Digest {
    algorithm: HashAlgorithm,
    bytes: [u8; 64],
}

impl Digest {
    /// Wraps a digest computed elsewhere; `bytes` must have the algorithm's output length.
    pub fn from_bytes(algorithm: HashAlgorithm, bytes: &[u8]) -> Result<Self, crate::CryptoError> {
        let mut d = Self { algorithm, bytes: [0; 64] };
        d.bytes
            .get_mut(..algorithm.output_len())
            .filter(|dst| dst.len() == bytes.len())
            .ok_or(crate::CryptoError::InvalidLength { what: "digest" })?
            .copy_from_slice(bytes);
        Ok(d)
    }

    /// The algorithm that made this digest.
    pub const fn algorithm(&self) -> HashAlgorithm {
        self.algorithm
    }

    /// The digest bytes.
    pub fn as_bytes(&self) -> &[u8] {
        let len = self.algorithm.output_len();
        self.bytes.get(..len).unwrap_or(&self.bytes)
    }
}

impl AsRef<[u8]> for Digest {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl core::fmt::Debug for Digest {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Digest({:?}, ", self.algorithm)?;
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Digest {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "Digest({}, {=[u8]:x})", self.algorithm, self.as_bytes())
    }
}

/// An incremental hash of a runtime-chosen algorithm.
#[derive(Clone)]
pub enum Hasher {
    /// SHA-1 state.
    Sha1(Sha1),
    /// SHA-256 state.
    Sha256(Sha256),
    /// SHA-384 state.
    Sha384(Sha384),
    /// SHA-512 state.
    Sha512(Sha512),
}

impl Hasher {
    /// A fresh hash state.
    pub fn new(algorithm: HashAlgorithm) -> Self {
        match algorithm {
            HashAlgorithm::Sha1 => Self::Sha1(Sha1::new()),
            HashAlgorithm::Sha256 => Self::Sha256(Sha256::new()),
            HashAlgorithm::Sha384 => Self::Sha384(Sha384::new()),
            HashAlgorithm::Sha512 => Self::Sha512(Sha512::new()),
        }
    }

    /// The algorithm of this state.
    pub fn algorithm(&self) -> HashAlgorithm {
        match self {
            Self::Sha1(_) => HashAlgorithm::Sha1,
            Self::Sha256(_) => HashAlgorithm::Sha256,
            Self::Sha384(_) => HashAlgorithm::Sha384,
            Self::Sha512(_) => HashAlgorithm::Sha512,
        }
    }

    /// Feeds `data`.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Self::Sha1(h) => h.update(data),
            Self::Sha256(h) => h.update(data),
            Self::Sha384(h) => h.update(data),
            Self::Sha512(h) => h.update(data),
        }
    }

    /// Finishes the hash.
    pub fn finalize(self) -> Digest {
        let algorithm = self.algorithm();
        let mut bytes = [0u8; 64];
        let out: &[u8] = match self {
            Self::Sha1(h) => &h.finalize(),
            Self::Sha256(h) => &h.finalize(),
            Self::Sha384(h) => &h.finalize(),
            Self::Sha512(h) => &h.finalize(),
        };
        for (d, s) in bytes.iter_mut().zip(out) {
            *d = *s;
        }
        Digest { algorithm, bytes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    // FIPS 180-4 example "abc" digests (NIST CSRC examples).
    #[test]
    fn sha_family_matches_fips_180_4_abc_vectors() {
        assert_eq!(HashAlgorithm::Sha1.digest(b"abc").as_bytes(), hex!("a9993e364706816aba3e25717850c26c9cd0d89d"));
        assert_eq!(
            HashAlgorithm::Sha256.digest(b"abc").as_bytes(),
            hex!("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(
            HashAlgorithm::Sha384.digest(b"abc").as_bytes(),
            hex!("cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7")
        );
        assert_eq!(
            HashAlgorithm::Sha512.digest(b"abc").as_bytes(),
            hex!(
                "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
            )
        );
    }

    #[test]
    fn incremental_and_parts_agree_with_one_shot() {
        for alg in [HashAlgorithm::Sha1, HashAlgorithm::Sha256, HashAlgorithm::Sha384, HashAlgorithm::Sha512] {
            assert_eq!(alg.digest_parts(&[b"a", b"", b"bc"]), alg.digest(b"abc"));
            assert_eq!(alg.digest(b"").as_bytes().len(), alg.output_len());
        }
    }

    #[test]
    fn digest_from_bytes_checks_length() {
        assert!(Digest::from_bytes(HashAlgorithm::Sha256, &[0; 31]).is_err());
        assert!(Digest::from_bytes(HashAlgorithm::Sha256, &[0; 33]).is_err());
        let d = Digest::from_bytes(HashAlgorithm::Sha1, &[7; 20]).unwrap();
        assert_eq!(d.as_bytes(), &[7; 20]);
    }
}
