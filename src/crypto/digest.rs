//! SHA-1 and SHA-2 digests, as one enum so that algorithm choice can be a runtime value
//! (it comes from certificates, GetCACaps and CMS messages).
//!
//! Flash is paid only for what the build enables: SHA-256 is always there; SHA-384 and SHA-512
//! (about 12 KB of Cortex-M code at opt-level "z") come with feature `sha512` (which `p384`
//! implies); SHA-1 (about 4 to 5 KB) with feature `sha1` (which `legacy-crypto` implies). Every
//! [`HashAlgorithm`] is recognised in every build (parsing does not depend on the features),
//! but hashing with one that is not built in ([`HashAlgorithm::is_available`]) is refused with
//! [`CryptoError::UnsupportedAlgorithm`], never a panic.
//!
//! SHA-1 *signatures* are refused unless `legacy-crypto` is enabled (see
//! [`crate::crypto::rsa`]); feature `sha1` alone builds SHA-1 in for the uses that are not
//! signatures (X9.63 and PBKDF2 key derivation in CMS envelopes, MGF1, SHA-1 fingerprints).

use crate::CryptoError;
#[cfg(feature = "sha1")]
use sha1::Sha1;
use sha2::Digest as _;
use sha2::Sha256;
#[cfg(feature = "sha512")]
use sha2::{Sha384, Sha512};

/// A hash algorithm.
///
/// Every variant exists in every build; [`is_available`](Self::is_available) says whether
/// this build can compute it.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum HashAlgorithm {
    /// SHA-1 (FIPS 180-4), 20 bytes. Legacy: for KDFs, fingerprints and old servers only;
    /// computed only with feature `sha1` (or `legacy-crypto`, which implies it).
    Sha1,
    /// SHA-256, 32 bytes. Always available.
    Sha256,
    /// SHA-384, 48 bytes. Computed only with feature `sha512` (or `p384`, which implies it).
    Sha384,
    /// SHA-512, 64 bytes. Computed only with feature `sha512` (or `p384`, which implies it).
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

    /// Whether this build can compute the hash: SHA-256 always, SHA-1 with feature `sha1`,
    /// SHA-384 and SHA-512 with feature `sha512`.
    pub const fn is_available(self) -> bool {
        match self {
            Self::Sha1 => cfg!(feature = "sha1"),
            Self::Sha256 => true,
            Self::Sha384 | Self::Sha512 => cfg!(feature = "sha512"),
        }
    }

    /// Hashes `data` in one go; [`CryptoError::UnsupportedAlgorithm`] when the hash is not
    /// in this build ([`is_available`](Self::is_available)).
    pub fn digest(self, data: &[u8]) -> Result<Digest, CryptoError> {
        let mut h = Hasher::new(self)?;
        h.update(data);
        Ok(h.finalize())
    }

    /// Hashes the concatenation of `parts` in one go; [`CryptoError::UnsupportedAlgorithm`]
    /// when the hash is not in this build.
    pub fn digest_parts(self, parts: &[&[u8]]) -> Result<Digest, CryptoError> {
        let mut h = Hasher::new(self)?;
        for p in parts {
            h.update(p);
        }
        Ok(h.finalize())
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
    /// (Any algorithm: no hashing happens here, so this works whatever the build.)
    pub fn from_bytes(algorithm: HashAlgorithm, bytes: &[u8]) -> Result<Self, CryptoError> {
        let mut d = Self { algorithm, bytes: [0; 64] };
        d.bytes
            .get_mut(..algorithm.output_len())
            .filter(|dst| dst.len() == bytes.len())
            .ok_or(CryptoError::InvalidLength { what: "digest" })?
            .copy_from_slice(bytes);
        Ok(d)
    }

    /// SHA-256 of `data`, which every build has (so this cannot fail).
    pub fn sha256(data: &[u8]) -> Self {
        let mut h = Hasher::sha256();
        h.update(data);
        h.finalize()
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

/// An incremental hash of a runtime-chosen algorithm (one this build has).
#[derive(Clone)]
pub struct Hasher(State);

/// The hash states this build has: a hash that is not built in has no state, so nothing can
/// hash with it.
#[derive(Clone)]
enum State {
    #[cfg(feature = "sha1")]
    Sha1(Sha1),
    Sha256(Sha256),
    #[cfg(feature = "sha512")]
    Sha384(Sha384),
    #[cfg(feature = "sha512")]
    Sha512(Sha512),
}

impl Hasher {
    /// A fresh hash state; [`CryptoError::UnsupportedAlgorithm`] when the hash is not in this
    /// build ([`HashAlgorithm::is_available`]).
    pub fn new(algorithm: HashAlgorithm) -> Result<Self, CryptoError> {
        Ok(Self(match algorithm {
            #[cfg(feature = "sha1")]
            HashAlgorithm::Sha1 => State::Sha1(Sha1::new()),
            HashAlgorithm::Sha256 => State::Sha256(Sha256::new()),
            #[cfg(feature = "sha512")]
            HashAlgorithm::Sha384 => State::Sha384(Sha384::new()),
            #[cfg(feature = "sha512")]
            HashAlgorithm::Sha512 => State::Sha512(Sha512::new()),
            #[cfg(not(all(feature = "sha1", feature = "sha512")))]
            _ => return Err(CryptoError::UnsupportedAlgorithm),
        }))
    }

    /// A fresh SHA-256 state (every build has it, so this cannot fail).
    pub fn sha256() -> Self {
        Self(State::Sha256(Sha256::new()))
    }

    /// The algorithm of this state.
    pub fn algorithm(&self) -> HashAlgorithm {
        match &self.0 {
            #[cfg(feature = "sha1")]
            State::Sha1(_) => HashAlgorithm::Sha1,
            State::Sha256(_) => HashAlgorithm::Sha256,
            #[cfg(feature = "sha512")]
            State::Sha384(_) => HashAlgorithm::Sha384,
            #[cfg(feature = "sha512")]
            State::Sha512(_) => HashAlgorithm::Sha512,
        }
    }

    /// Feeds `data`.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.0 {
            #[cfg(feature = "sha1")]
            State::Sha1(h) => h.update(data),
            State::Sha256(h) => h.update(data),
            #[cfg(feature = "sha512")]
            State::Sha384(h) => h.update(data),
            #[cfg(feature = "sha512")]
            State::Sha512(h) => h.update(data),
        }
    }

    /// Finishes the hash.
    pub fn finalize(self) -> Digest {
        let algorithm = self.algorithm();
        let mut bytes = [0u8; 64];
        let out: &[u8] = match self.0 {
            #[cfg(feature = "sha1")]
            State::Sha1(h) => &h.finalize(),
            State::Sha256(h) => &h.finalize(),
            #[cfg(feature = "sha512")]
            State::Sha384(h) => &h.finalize(),
            #[cfg(feature = "sha512")]
            State::Sha512(h) => &h.finalize(),
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
    fn sha256_matches_fips_180_4_abc_vector() {
        let abc = hex!("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(HashAlgorithm::Sha256.digest(b"abc").unwrap().as_bytes(), abc);
        assert_eq!(Digest::sha256(b"abc").as_bytes(), abc);
        assert_eq!(Digest::sha256(b"abc").algorithm(), HashAlgorithm::Sha256);
    }

    #[cfg(feature = "sha1")]
    #[test]
    fn sha1_matches_fips_180_4_abc_vector() {
        assert_eq!(HashAlgorithm::Sha1.digest(b"abc").unwrap().as_bytes(), hex!("a9993e364706816aba3e25717850c26c9cd0d89d"));
    }

    #[cfg(feature = "sha512")]
    #[test]
    fn sha384_and_sha512_match_fips_180_4_abc_vectors() {
        assert_eq!(
            HashAlgorithm::Sha384.digest(b"abc").unwrap().as_bytes(),
            hex!("cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7")
        );
        assert_eq!(
            HashAlgorithm::Sha512.digest(b"abc").unwrap().as_bytes(),
            hex!(
                "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
            )
        );
    }

    const ALL: [HashAlgorithm; 4] = [HashAlgorithm::Sha1, HashAlgorithm::Sha256, HashAlgorithm::Sha384, HashAlgorithm::Sha512];

    #[test]
    fn incremental_and_parts_agree_with_one_shot() {
        for alg in ALL.into_iter().filter(|a| a.is_available()) {
            assert_eq!(alg.digest_parts(&[b"a", b"", b"bc"]).unwrap(), alg.digest(b"abc").unwrap());
            assert_eq!(alg.digest(b"").unwrap().as_bytes().len(), alg.output_len());
            assert_eq!(Hasher::new(alg).unwrap().algorithm(), alg);
        }
    }

    /// What the features say is built in is what hashes; the rest is a typed error (no panic,
    /// no digest of another algorithm).
    #[test]
    fn hashes_outside_the_build_are_refused_with_a_typed_error() {
        assert_eq!(HashAlgorithm::Sha1.is_available(), cfg!(feature = "sha1"));
        assert!(HashAlgorithm::Sha256.is_available());
        assert_eq!(HashAlgorithm::Sha384.is_available(), cfg!(feature = "sha512"));
        assert_eq!(HashAlgorithm::Sha512.is_available(), cfg!(feature = "sha512"));
        for alg in ALL {
            let r = alg.digest(b"abc");
            assert_eq!(r.is_ok(), alg.is_available(), "{alg:?}");
            if !alg.is_available() {
                assert_eq!(r, Err(CryptoError::UnsupportedAlgorithm));
                assert_eq!(alg.digest_parts(&[b"abc"]), Err(CryptoError::UnsupportedAlgorithm));
                assert!(matches!(Hasher::new(alg), Err(CryptoError::UnsupportedAlgorithm)));
            }
        }
    }

    #[test]
    fn digest_from_bytes_checks_length() {
        assert!(Digest::from_bytes(HashAlgorithm::Sha256, &[0; 31]).is_err());
        assert!(Digest::from_bytes(HashAlgorithm::Sha256, &[0; 33]).is_err());
        // Wrapping needs no hashing: every algorithm, in every build.
        let d = Digest::from_bytes(HashAlgorithm::Sha1, &[7; 20]).unwrap();
        assert_eq!(d.as_bytes(), &[7; 20]);
        assert_eq!(Digest::from_bytes(HashAlgorithm::Sha384, &[9; 48]).unwrap().as_bytes(), &[9; 48]);
    }
}
