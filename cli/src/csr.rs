//! The CSR options: subject, subjectAltName of every kind, keyUsage, extendedKeyUsage.

use crate::Opts;
use der::asn1::ObjectIdentifier;
use embedded_enroll::asn1::cert::KeyUsage;
use embedded_enroll::asn1::csr::{CsrBuilder, NameAttribute, SubjectAltName};
use std::net::IpAddr;

/// `--key-usage` names (RFC 5280 section 4.2.1.3), in bit order.
pub const KEY_USAGE_NAMES: [&str; 7] =
    ["digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment", "keyAgreement", "keyCertSign", "cRLSign"];

const KEY_USAGE_BITS: [u16; 7] = [
    KeyUsage::DIGITAL_SIGNATURE,
    KeyUsage::NON_REPUDIATION,
    KeyUsage::KEY_ENCIPHERMENT,
    KeyUsage::DATA_ENCIPHERMENT,
    KeyUsage::KEY_AGREEMENT,
    KeyUsage::KEY_CERT_SIGN,
    KeyUsage::CRL_SIGN,
];

/// `--ext-key-usage` names (RFC 5280 section 4.2.1.12).
const EKU_NAMES: [(&str, &str); 6] = [
    ("serverAuth", "1.3.6.1.5.5.7.3.1"),
    ("clientAuth", "1.3.6.1.5.5.7.3.2"),
    ("codeSigning", "1.3.6.1.5.5.7.3.3"),
    ("emailProtection", "1.3.6.1.5.5.7.3.4"),
    ("timeStamping", "1.3.6.1.5.5.7.3.8"),
    ("OCSPSigning", "1.3.6.1.5.5.7.3.9"),
];

/// The CSR's parts, owned: the builder borrows from here.
pub struct CsrParts {
    subject_text: String,
    dns: Vec<String>,
    uri: Vec<String>,
    email: Vec<String>,
    ip: Vec<Vec<u8>>,
    key_usage: Option<u16>,
    eku: Vec<ObjectIdentifier>,
    /// What the CSR asks for, in words (for the fields and --dry-run).
    pub summary: Vec<(String, String)>,
}

impl CsrParts {
    pub fn from_args(args: &Opts) -> Result<Self, String> {
        let subject_text = args.get("--subject").unwrap_or_default().to_string();
        let ip = args
            .all("--ip")
            .iter()
            .map(|a| match a.parse::<IpAddr>() {
                Ok(IpAddr::V4(v)) => Ok(v.octets().to_vec()),
                Ok(IpAddr::V6(v)) => Ok(v.octets().to_vec()),
                Err(_) => Err(format!("--ip {a:?} is not an IP address")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let ku_names = args.all("--key-usage");
        let key_usage = if ku_names.is_empty() {
            None
        } else {
            let mut bits = 0;
            for n in &ku_names {
                let i = KEY_USAGE_NAMES.iter().position(|k| k.eq_ignore_ascii_case(n)).ok_or(format!("--key-usage: unknown bit {n}"))?;
                bits |= KEY_USAGE_BITS.get(i).copied().unwrap_or(0);
            }
            Some(bits)
        };
        let eku_names = args.all("--ext-key-usage");
        let eku = eku_names
            .iter()
            .map(|n| {
                let dotted = EKU_NAMES.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map_or(*n, |(_, o)| o);
                ObjectIdentifier::new(dotted).map_err(|_| {
                    format!(
                        "--ext-key-usage: {n:?} is neither a dotted OID nor one of {}",
                        EKU_NAMES.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut summary = Vec::new();
        let mut sans: Vec<String> = args.all("--dns").iter().map(|d| format!("DNS:{d}")).collect();
        sans.extend(args.all("--ip").iter().map(|d| format!("IP:{d}")));
        sans.extend(args.all("--uri").iter().map(|d| format!("URI:{d}")));
        sans.extend(args.all("--email").iter().map(|d| format!("email:{d}")));
        if !sans.is_empty() {
            summary.push(("csr_san".into(), sans.join(", ")));
        }
        if !ku_names.is_empty() {
            summary.push(("csr_key_usage".into(), ku_names.join(", ")));
        }
        if !eku_names.is_empty() {
            summary.push(("csr_ext_key_usage".into(), eku_names.join(", ")));
        }
        Ok(Self {
            subject_text,
            dns: args.all("--dns").iter().map(|s| s.to_string()).collect(),
            uri: args.all("--uri").iter().map(|s| s.to_string()).collect(),
            email: args.all("--email").iter().map(|s| s.to_string()).collect(),
            ip,
            key_usage,
            eku,
            summary,
        })
    }

    pub fn subject(&self) -> Result<Vec<NameAttribute<'_>>, String> {
        crate::common::parse_subject(&self.subject_text)
    }

    pub fn sans(&self) -> Vec<SubjectAltName<'_>> {
        let mut v: Vec<SubjectAltName<'_>> = self.dns.iter().map(|d| SubjectAltName::Dns(d)).collect();
        v.extend(self.ip.iter().map(|o| SubjectAltName::Ip(o)));
        v.extend(self.uri.iter().map(|u| SubjectAltName::Uri(u)));
        v.extend(self.email.iter().map(|e| SubjectAltName::Email(e)));
        v
    }

    /// The builder over `subject` and `sans` (from [`Self::subject`] and [`Self::sans`]).
    pub fn builder<'a>(&'a self, subject: &'a [NameAttribute<'a>], sans: &'a [SubjectAltName<'a>]) -> CsrBuilder<'a> {
        let mut b = CsrBuilder::new(subject).subject_alt_names(sans);
        if let Some(bits) = self.key_usage {
            b = b.key_usage(bits);
        }
        if !self.eku.is_empty() {
            b = b.extended_key_usage(&self.eku);
        }
        b
    }
}
