//! CBC decryption (`crypto::cbc::CbcCipher::decrypt`, `decrypt_blocks`) and AES key unwrap
//! (`crypto::keywrap::unwrap`) on arbitrary keys, IVs and ciphertexts.
//!
//! Input layout: `[cipher % 5] [key length] [IV length] key || IV || ciphertext`. A length
//! byte below 0x80 means the cipher's own key (or block) length; from 0x80 up, its low 6 bits
//! are the length, to reach the wrong-length checks. The key is also the key-wrap KEK and the
//! ciphertext the wrapped key.
//!
//! Properties: never panics; a PKCS#7 plaintext is shorter than its ciphertext by 1 to 16
//! bytes, and re-encrypting it (and decrypted blocks) gives the ciphertext back; an unwrapped
//! key is 8 bytes shorter and wraps back to the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| embedded_enroll_fuzz_bodies::cbc_decrypt(data));
