#!/usr/bin/env bash
# Makes the benchmark's fixed keys, message, signatures and ciphertext with the OpenSSL CLI
# (run once; the files are committed and embedded in the image with include_bytes!), then
# checks every relation between them with OpenSSL. Run again, it keeps the existing files and
# only checks them; `--force` makes new ones (the benchmark's numbers do not depend on which
# keys, but the previous run's figures were made with the old ones).
#
#   bash bench/m4/keys/make.sh [--force]
set -euo pipefail
cd "$(dirname "$0")"
if [ "${1:-}" = "--force" ] || [ ! -f rsa2048.pk8.der ]; then
  rm -f ./*.der ./*.bin ./*.sig ./*.raw msg.txt msg.sha256
  # RSA-2048, e = 65537: PKCS#8 private key, PKCS#1 RSAPublicKey.
  # (genpkey's DER output is the type-specific form, PKCS#1 / SEC1: `pkcs8 -topk8` makes PKCS#8.)
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -pkeyopt rsa_keygen_pubexp:65537 |
    openssl pkcs8 -topk8 -nocrypt -outform DER -out rsa2048.pk8.der
  openssl rsa -inform DER -in rsa2048.pk8.der -RSAPublicKey_out -outform DER -out rsa2048.pub.pkcs1.der
  # P-256: PKCS#8 private key, SubjectPublicKeyInfo.
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -pkeyopt ec_param_enc:named_curve |
    openssl pkcs8 -topk8 -nocrypt -outform DER -out p256.pk8.der
  openssl pkey -inform DER -in p256.pk8.der -pubout -outform DER -out p256.spki.der
  # The message and its SHA-256 digest (the operations take the digest).
  printf 'embedded-enroll Cortex-M4 benchmark message\n' >msg.txt
  openssl dgst -sha256 -binary -out msg.sha256 msg.txt
  # RSASSA-PKCS1-v1_5 / SHA-256 signature (deterministic: the sign operation must match it).
  openssl dgst -sha256 -sign rsa2048.pk8.der -keyform DER -out msg.rsa2048.sig msg.txt
  # ECDSA P-256 / SHA-256 signature as OpenSSL makes it (random nonce, DER): the verify input.
  openssl dgst -sha256 -sign p256.pk8.der -keyform DER -out msg.p256.sig.der msg.txt
  # The RFC 6979 signature the crate's deterministic signer must produce (raw r || s).
  scalar=$(openssl pkey -inform DER -in p256.pk8.der -text -noout |
    awk '/^priv:/{on=1; next} /^pub:/{on=0} on' | tr -d ' :\n')
  python3 rfc6979.py "$scalar" msg.sha256 msg.p256-rfc6979.raw msg.p256-rfc6979.der
  # A 32-byte content-encryption key, RSAES-PKCS1-v1_5 encrypted to the RSA key.
  openssl rand -out cek.bin 32
  openssl pkeyutl -encrypt -inkey rsa2048.pk8.der -keyform DER -pkeyopt rsa_padding_mode:pkcs1 -in cek.bin -out cek.rsa2048.bin
fi
# Checks (OpenSSL is the reference for every embedded expectation).
for k in rsa2048.pk8.der p256.pk8.der; do # PKCS#8: SEQUENCE { INTEGER 0, SEQUENCE { OID ...
  openssl asn1parse -inform DER -in "$k" | sed -n 3p | grep -q 'SEQUENCE' || { echo "$k is not PKCS#8" >&2; exit 1; }
done
openssl dgst -sha256 -verify p256.spki.der -keyform DER -signature msg.p256.sig.der msg.txt >/dev/null
openssl dgst -sha256 -verify p256.spki.der -keyform DER -signature msg.p256-rfc6979.der msg.txt >/dev/null
openssl rsa -RSAPublicKey_in -inform DER -in rsa2048.pub.pkcs1.der -pubout -outform DER -out /dev/stdout 2>/dev/null |
  openssl dgst -sha256 -verify /dev/stdin -keyform DER -signature msg.rsa2048.sig msg.txt >/dev/null
openssl dgst -sha256 -sign rsa2048.pk8.der -keyform DER msg.txt | cmp - msg.rsa2048.sig
openssl pkeyutl -decrypt -inkey rsa2048.pk8.der -keyform DER -pkeyopt rsa_padding_mode:pkcs1 -in cek.rsa2048.bin | cmp - cek.bin
openssl dgst -sha256 -binary msg.txt | cmp - msg.sha256
python3 -c 'import sys; d=open("msg.p256-rfc6979.der","rb").read(); r=open("msg.p256-rfc6979.raw","rb").read(); assert len(r)==64 and d[0]==0x30, "bad raw/DER pair"'
echo "bench/m4/keys: every file checked with $(openssl version | cut -d' ' -f1-2)"
