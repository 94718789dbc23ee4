//! A `#![no_std]`, `#![no_main]` binary with **no global allocator** that calls into
//! embedded-enroll: P-256 sign and verify, RSA-2048 verify (and a software RSA key's
//! decrypt), AES-CBC, and a DER encode. If any dependency linked `alloc` or `std`, this would
//! not build: rustc demands a `#[global_allocator]` as soon as `alloc` is in the graph, and
//! `std` does not exist for these targets.
//!
//! Built for thumbv6m-none-eabi, thumbv7em-none-eabihf and riscv32imac-unknown-none-elf by
//! `.ci/test`. It is linked, not run (the QEMU board images run code).
#![no_std]
#![no_main]

use core::hint::black_box;
use embedded_enroll::crypto::HashAlgorithm;
use embedded_enroll::crypto::cbc::CbcCipher;
use embedded_enroll::crypto::rsa::{RsaPrivateKey2048, RsaPublicKey};
use embedded_enroll::hal::soft::SoftP256Key;
use embedded_enroll::hal::{Decrypter, Signer};

const RSA_PUBLIC: &[u8] = include_bytes!("../vectors/rsa2048.pub.der");
const RSA_PRIVATE: &[u8] = include_bytes!("../vectors/rsa2048.key.der");
const MESSAGE: &[u8] = include_bytes!("../vectors/message.txt");
const SIGNATURE: &[u8] = include_bytes!("../vectors/message.sig");

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {
        core::hint::spin_loop();
    }
}

/// A xorshift generator standing in for a hardware RNG. **Not** cryptographically secure:
/// it exists only so this link check has an `RngCore`.
struct NotARealRng(u64);

impl rand_core::RngCore for NotARealRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest {
            *b = self.next_u32() as u8;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl rand_core::CryptoRng for NotARealRng {}

/// Runs each capability once and returns a bit per success.
fn exercise() -> u32 {
    let mut ok = 0u32;
    let mut rng = NotARealRng(black_box(0x9e37_79b9_7f4a_7c15));

    // P-256: generate, sign a digest, verify, export the SPKI (a DER encoding).
    let mut key = SoftP256Key::generate(&mut rng);
    let digest = HashAlgorithm::Sha256.digest(black_box(MESSAGE));
    let mut sig = [0u8; 64];
    if key.sign_prehash(&digest, &mut sig).is_ok()
        && embedded_enroll::crypto::p256::verify_prehash_raw(&key.public_key_sec1(), digest.as_bytes(), &sig).is_ok()
    {
        ok |= 1;
    }
    let mut spki = [0u8; 96];
    if key.public_key_der(&mut spki).is_ok() {
        ok |= 2;
    }

    // RSA-2048: verify an OpenSSL signature; DER-encode the public key again.
    if let Ok(public) = RsaPublicKey::from_pkcs1_der(black_box(RSA_PUBLIC)) {
        if public.verify_pkcs1v15(HashAlgorithm::Sha256, digest.as_bytes(), black_box(SIGNATURE)).is_ok() {
            ok |= 4;
        }
        let mut der = [0u8; 300];
        if public.to_pkcs1_der(&mut der).map(|d| d == RSA_PUBLIC).unwrap_or(false) {
            ok |= 8;
        }
        // Encrypt a CEK to the public key and open it with the software private key.
        let mut ct = [0u8; 256];
        if let (Ok(ct), Ok(mut private)) =
            (public.encrypt_pkcs1v15(&mut rng, b"0123456789abcdef", &mut ct), RsaPrivateKey2048::from_pkcs1_der(RSA_PRIVATE, &mut rng))
        {
            let mut cek = [0u8; 16];
            if private.decrypt_pkcs1v15(ct, &mut cek).is_ok() && &cek == b"0123456789abcdef" {
                ok |= 16;
            }
        }
    }

    // AES-128-CBC round trip.
    let mut buf = [0u8; 48];
    buf[..MESSAGE.len().min(33)].copy_from_slice(&MESSAGE[..MESSAGE.len().min(33)]);
    let key128 = black_box([0x42u8; 16]);
    let iv = black_box([0x24u8; 16]);
    if let Ok(ct) = CbcCipher::Aes128.encrypt(&key128, &iv, &mut buf, 33) {
        let n = ct.len();
        if CbcCipher::Aes128.decrypt(&key128, &iv, &mut buf[..n]).map(|p| p.len() == 33).unwrap_or(false) {
            ok |= 32;
        }
    }
    ok
}

/// The entry point the linker keeps; everything reachable from it is linked.
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    black_box(exercise());
    loop {
        core::hint::spin_loop();
    }
}
