//! Object identifiers used by the codecs, with the RFC that defines each.

use der::asn1::ObjectIdentifier as Oid;

macro_rules! oids {
    ($($(#[$doc:meta])* $name:ident = $value:literal;)*) => {
        $( $(#[$doc])* pub const $name: Oid = Oid::new_unwrap($value); )*
    };
}

oids! {
    /// rsaEncryption (RFC 8017 appendix C)
    RSA_ENCRYPTION = "1.2.840.113549.1.1.1";
    /// id-mgf1 (RFC 8017)
    MGF1 = "1.2.840.113549.1.1.8";
    /// id-RSASSA-PSS (RFC 8017)
    RSASSA_PSS = "1.2.840.113549.1.1.10";
    /// sha1WithRSAEncryption (RFC 8017)
    SHA1_WITH_RSA = "1.2.840.113549.1.1.5";
    /// sha256WithRSAEncryption (RFC 8017)
    SHA256_WITH_RSA = "1.2.840.113549.1.1.11";
    /// sha384WithRSAEncryption (RFC 8017)
    SHA384_WITH_RSA = "1.2.840.113549.1.1.12";
    /// sha512WithRSAEncryption (RFC 8017)
    SHA512_WITH_RSA = "1.2.840.113549.1.1.13";
    /// id-ecPublicKey (RFC 5480)
    EC_PUBLIC_KEY = "1.2.840.10045.2.1";
    /// prime256v1 / secp256r1 (RFC 5480)
    SECP256R1 = "1.2.840.10045.3.1.7";
    /// secp384r1 (RFC 5480)
    SECP384R1 = "1.3.132.0.34";
    /// ecdsa-with-SHA1 (RFC 3279)
    ECDSA_WITH_SHA1 = "1.2.840.10045.4.1";
    /// ecdsa-with-SHA256 (RFC 5758)
    ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2";
    /// ecdsa-with-SHA384 (RFC 5758)
    ECDSA_WITH_SHA384 = "1.2.840.10045.4.3.3";
    /// ecdsa-with-SHA512 (RFC 5758)
    ECDSA_WITH_SHA512 = "1.2.840.10045.4.3.4";
    /// id-sha1 (RFC 3279)
    SHA1 = "1.3.14.3.2.26";
    /// id-sha256 (RFC 5754)
    SHA256 = "2.16.840.1.101.3.4.2.1";
    /// id-sha384 (RFC 5754)
    SHA384 = "2.16.840.1.101.3.4.2.2";
    /// id-sha512 (RFC 5754)
    SHA512 = "2.16.840.1.101.3.4.2.3";

    /// id-at-commonName (RFC 5280)
    COMMON_NAME = "2.5.4.3";
    /// id-at-serialNumber (RFC 5280)
    SERIAL_NUMBER = "2.5.4.5";
    /// id-at-countryName (RFC 5280)
    COUNTRY = "2.5.4.6";
    /// id-at-localityName (RFC 5280)
    LOCALITY = "2.5.4.7";
    /// id-at-stateOrProvinceName (RFC 5280)
    STATE = "2.5.4.8";
    /// id-at-organizationName (RFC 5280)
    ORGANIZATION = "2.5.4.10";
    /// id-at-organizationalUnitName (RFC 5280)
    ORGANIZATIONAL_UNIT = "2.5.4.11";
    /// id-emailAddress (PKCS #9, RFC 2985)
    EMAIL_ADDRESS = "1.2.840.113549.1.9.1";

    /// id-ce-subjectKeyIdentifier (RFC 5280)
    SUBJECT_KEY_IDENTIFIER = "2.5.29.14";
    /// id-ce-keyUsage (RFC 5280)
    KEY_USAGE = "2.5.29.15";
    /// id-ce-subjectAltName (RFC 5280)
    SUBJECT_ALT_NAME = "2.5.29.17";
    /// id-ce-basicConstraints (RFC 5280)
    BASIC_CONSTRAINTS = "2.5.29.19";
    /// id-ce-authorityKeyIdentifier (RFC 5280)
    AUTHORITY_KEY_IDENTIFIER = "2.5.29.35";
    /// id-ce-extKeyUsage (RFC 5280)
    EXT_KEY_USAGE = "2.5.29.37";
    /// id-ce-nameConstraints (RFC 5280)
    NAME_CONSTRAINTS = "2.5.29.30";
    /// anyExtendedKeyUsage (RFC 5280)
    ANY_EXT_KEY_USAGE = "2.5.29.37.0";
    /// id-pe-authorityInfoAccess (RFC 5280)
    AUTHORITY_INFO_ACCESS = "1.3.6.1.5.5.7.1.1";
    /// id-kp-serverAuth (RFC 5280)
    KP_SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
    /// id-kp-clientAuth (RFC 5280)
    KP_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

    /// challengePassword (PKCS #9, RFC 2985)
    CHALLENGE_PASSWORD = "1.2.840.113549.1.9.7";
    /// extensionRequest (PKCS #9, RFC 2985)
    EXTENSION_REQUEST = "1.2.840.113549.1.9.14";
    /// id-contentType attribute (RFC 5652 section 11.1)
    CONTENT_TYPE = "1.2.840.113549.1.9.3";
    /// id-messageDigest attribute (RFC 5652 section 11.2)
    MESSAGE_DIGEST = "1.2.840.113549.1.9.4";
    /// id-signingTime attribute (RFC 5652 section 11.3)
    SIGNING_TIME = "1.2.840.113549.1.9.5";

    /// id-data (RFC 5652)
    DATA = "1.2.840.113549.1.7.1";
    /// id-signedData (RFC 5652)
    SIGNED_DATA = "1.2.840.113549.1.7.2";
    /// id-envelopedData (RFC 5652)
    ENVELOPED_DATA = "1.2.840.113549.1.7.3";

    /// id-aes128-CBC (RFC 3565)
    AES128_CBC = "2.16.840.1.101.3.4.1.2";
    /// id-aes192-CBC (RFC 3565)
    AES192_CBC = "2.16.840.1.101.3.4.1.22";
    /// id-aes256-CBC (RFC 3565)
    AES256_CBC = "2.16.840.1.101.3.4.1.42";
    /// des-ede3-cbc (RFC 3370)
    DES_EDE3_CBC = "1.2.840.113549.3.7";
    /// desCBC (OIW)
    DES_CBC = "1.3.14.3.2.7";
    /// id-aes128-wrap (RFC 3394)
    AES128_WRAP = "2.16.840.1.101.3.4.1.5";
    /// id-aes192-wrap (RFC 3394)
    AES192_WRAP = "2.16.840.1.101.3.4.1.25";
    /// id-aes256-wrap (RFC 3394)
    AES256_WRAP = "2.16.840.1.101.3.4.1.45";
    /// dhSinglePass-stdDH-sha1kdf-scheme (RFC 5753)
    ECDH_SHA1_KDF = "1.3.133.16.840.63.0.2";
    /// dhSinglePass-stdDH-sha256kdf-scheme (RFC 5753)
    ECDH_SHA256_KDF = "1.3.132.1.11.1";
    /// dhSinglePass-stdDH-sha384kdf-scheme (RFC 5753)
    ECDH_SHA384_KDF = "1.3.132.1.11.2";
    /// id-alg-PWRI-KEK (RFC 3211)
    PWRI_KEK = "1.2.840.113549.1.9.16.3.9";
    /// id-PBKDF2 (RFC 8018)
    PBKDF2 = "1.2.840.113549.1.5.12";
    /// hmacWithSHA1 (RFC 8018)
    HMAC_WITH_SHA1 = "1.2.840.113549.2.7";
    /// hmacWithSHA256 (RFC 8018)
    HMAC_WITH_SHA256 = "1.2.840.113549.2.9";
}

oids! {
    /// secp521r1 (RFC 5480); recognised in EST CSR attributes, not otherwise supported
    SECP521R1 = "1.3.132.0.35";
    /// id-aa-certificationRequestInfoTemplate (RFC 9908): a CSR template in the
    /// EST CSR attributes
    CERTIFICATION_REQUEST_INFO_TEMPLATE = "1.2.840.113549.1.9.16.2.61";
    /// id-aa-extensionReqTemplate (RFC 9908): extensionRequest with optional values
    EXTENSION_REQ_TEMPLATE = "1.2.840.113549.1.9.16.2.62";
}

/// Whether `a` and `b` are the same OID. Out of line on purpose: a `==` or a `match` on
/// [`Oid`] constants compares all 40 bytes of the struct inline, one byte at a time (about
/// 80 bytes of Thumb code per constant); one call is a few instructions.
#[inline(never)]
pub(crate) fn same(a: &Oid, b: &Oid) -> bool {
    a.as_bytes() == b.as_bytes()
}

/// The index of `o` in `table`, if it is there (table-driven OID matching; see [`same`]).
#[inline(never)]
pub(crate) fn position(o: &Oid, table: &[Oid]) -> Option<usize> {
    table.iter().position(|t| same(o, t))
}
