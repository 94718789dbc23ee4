use embedded_enroll::crypto::cbc::CbcCipher;
use embedded_enroll::crypto::keywrap;

use crate::support::{take, with_scratch};

const CIPHERS: [CbcCipher; 5] = [CbcCipher::Aes128, CbcCipher::Aes192, CbcCipher::Aes256, CbcCipher::DesEde3, CbcCipher::Des];
const MAX_CIPHERTEXT: usize = 4096;

fn length(spec: u8, natural: usize) -> usize {
    if spec < 0x80 { natural } else { usize::from(spec & 0x3f) }
}

/// CBC decryption (`crypto::cbc::CbcCipher::decrypt`, `decrypt_blocks`) and AES key unwrap
/// (`crypto::keywrap::unwrap`) on arbitrary keys, IVs and ciphertexts.
///
/// Input layout: `[cipher % 5] [key length] [IV length] key || IV || ciphertext`. A length
/// byte below 0x80 means the cipher's own key (or block) length; from 0x80 up, its low 6 bits
/// are the length, to reach the wrong-length checks. The key is also the key-wrap KEK and the
/// ciphertext the wrapped key.
///
/// Properties: never panics; a PKCS#7 plaintext is shorter than its ciphertext by 1 to 16
/// bytes, and re-encrypting it (and decrypted blocks) gives the ciphertext back; an unwrapped
/// key is 8 bytes shorter and wraps back to the input.
pub fn cbc_decrypt(data: &[u8]) {
    let mut rest = data;
    let [selector, key_spec, iv_spec] = *take(&mut rest, 3) else { return };
    let cipher = CIPHERS[usize::from(selector) % CIPHERS.len()];
    let key = take(&mut rest, length(key_spec, cipher.key_len()));
    let iv = take(&mut rest, length(iv_spec, cipher.block_len()));
    let ciphertext = &rest[..rest.len().min(MAX_CIPHERTEXT)];
    let block = cipher.block_len();

    // Four ciphertext-sized buffers and the re-wrapped key's, from the scratch pool.
    with_scratch(4 * MAX_CIPHERTEXT + MAX_CIPHERTEXT + 8, |pool| {
        let (buf, pool) = pool.split_at_mut(MAX_CIPHERTEXT);
        let (again, pool) = pool.split_at_mut(MAX_CIPHERTEXT);
        let (blocks, pool) = pool.split_at_mut(MAX_CIPHERTEXT);
        let (unwrapped, wrapped) = pool.split_at_mut(MAX_CIPHERTEXT);

        let buf = &mut buf[..ciphertext.len()];
        buf.copy_from_slice(ciphertext);
        if let Ok(plaintext) = cipher.decrypt(key, iv, buf) {
            let n = plaintext.len();
            assert!(n < ciphertext.len() && n + block >= ciphertext.len(), "{n}-byte plaintext from {} bytes", ciphertext.len());
            if cipher.can_encrypt() {
                again[..n].copy_from_slice(plaintext);
                let encrypted = cipher.encrypt(key, iv, again, n).expect("what decrypts must encrypt");
                assert_eq!(encrypted, ciphertext, "decrypt then encrypt changed the ciphertext");
            }
        }

        let blocks = &mut blocks[..ciphertext.len()];
        blocks.copy_from_slice(ciphertext);
        if cipher.decrypt_blocks(key, iv, blocks).is_ok() && cipher.can_encrypt() {
            cipher.encrypt_blocks(key, iv, blocks).expect("what decrypts must encrypt");
            assert_eq!(blocks, ciphertext, "decrypt_blocks then encrypt_blocks changed the ciphertext");
        }

        if let Ok(k) = keywrap::unwrap(key, ciphertext, unwrapped) {
            assert_eq!(k.len() + 8, ciphertext.len());
            assert_eq!(keywrap::wrap(key, k, wrapped), Ok(ciphertext), "unwrap then wrap changed the wrapped key");
        }
    })
}
