//! The command line, defined once: parsing, `--help` on every level, the shell completions and
//! the man page all come from these definitions.
//!
//! The run code reads the matched values by option name ([`crate::Opts`]); an option a command
//! does not define here is refused by clap (exit 2, naming it), and reading one in the run code
//! that its command does not define is a bug caught by `Opts` (and the tests).

use clap::{ArgAction, Args, Parser, Subcommand};
use std::path::PathBuf;

/// How the outcome is reported and what the exit codes mean (the top-level `--help`).
pub const AFTER_HELP: &str = "\
Output: progress goes to stderr; stdout carries the result fields (`  name: value`), a PEM when
there is no --out, and LAST the outcome line, `<outcome>: <what happened>[; <what to do>]`, e.g.
  issued: certificate for CN=router-7 from CN=Example CA, valid until 2027-12-07T10:00:00Z, written to r7.pem
  refused: the server answered HTTP 401 and offered no challenge; try --basic-preemptive
With --verbose the causes (the library's error chain) follow on stderr. With --json stdout is one
JSON object: outcome, exit, message, hint (when there is one) and the fields by name (see the
README of the cli package). Dates are RFC 3339 (UTC).

Exit codes:
  0  done (issued, fetched, not due, dry run shown)
  2  usage or configuration (an unknown option, a missing file, a hook that failed)
  3  still pending (SCEP PENDING or EST 202 past --max-wait, or --no-wait)
  4  refused by the server (HTTP error, CA FAILURE, ACME problem) or by this tool's checks
     (an issued certificate that does not chain to a trusted CA)
  5  transport (connection refused, TLS handshake failed, timeout)
  6  invalid or untrusted reply (wrong signature, unparsable body, HTML instead of PKCS#7)";

/// enroll: certificate enrollment from a host over SCEP (RFC 8894), EST (RFC 7030) and ACME
/// (RFC 8555).
#[derive(Parser, Debug)]
#[command(name = "enroll", version, propagate_version = true, after_help = AFTER_HELP, arg_required_else_help = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Top,
}

/// Options every command takes.
#[derive(Args, Debug)]
pub struct Common {
    /// Print the result as one JSON object (stable field names, see the README).
    #[arg(long)]
    pub json: bool,
    /// Show the causes (the library's error chain) of a failure on stderr.
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Seconds one exchange (connect, request, response) may take.
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,
    /// Seconds to wait in all for a pending request (SCEP PENDING, EST 202 Retry-After, ACME
    /// polling); 0 = do not wait.
    #[arg(long, value_name = "SECS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(0..=30 * 86_400))]
    pub max_wait: u64,
}

#[derive(Subcommand, Debug)]
pub enum Top {
    /// SCEP (RFC 8894): GetCACaps, GetCACert, GetNextCACert, PKCSReq, RenewalReq, CertPoll, GetCert, GetCRL.
    #[command(subcommand)]
    Scep(ScepCmd),
    /// EST (RFC 7030): /cacerts, /csrattrs, /simpleenroll, /simplereenroll, /serverkeygen.
    #[command(subcommand)]
    Est(EstCmd),
    /// ACME (RFC 8555): accounts, orders (http-01 responder or dns-01 hook), renewal with ARI, revocation.
    #[command(subcommand)]
    Acme(AcmeCmd),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to stdout.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to stdout: `enroll man > enroll.1`; with `--dir`, write one page
    /// per command there (enroll.1, enroll-scep.1, enroll-scep-enroll.1, ...).
    Man {
        /// Write every command's page into this directory (made if missing), not the top
        /// level's to stdout.
        #[arg(long, value_name = "DIR")]
        dir: Option<std::path::PathBuf>,
    },
}

// ---- SCEP ----

/// Where the SCEP server is and which CA it must be (pinned: required).
#[derive(Args, Debug)]
pub struct ScepServer {
    /// The SCEP URL, http://HOST[:PORT]/PATH.
    #[arg(long)]
    pub url: String,
    #[command(flatten)]
    pub pin: ScepPin,
}

/// The CA pin: one of the two is required.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
pub struct ScepPin {
    /// SHA-256 fingerprint of the CA certificate (hex, colons allowed).
    #[arg(long, value_name = "HEX")]
    pub fingerprint: Option<String>,
    /// The CA certificate (PEM or DER) the server's CA must be.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
}

/// Legacy algorithms: none unless named.
#[derive(Args, Debug)]
pub struct Legacy {
    /// Accept these legacy algorithms (comma-separated): `3des-sha1` = 3DES and SHA-1 as
    /// fallbacks when the server offers nothing better (one switch in the library), `des` =
    /// also replies encrypted with single DES (micromdm sends them; implies 3des-sha1).
    #[arg(long, value_name = "ALG,...", value_delimiter = ',', value_parser = ["3des-sha1", "des"])]
    pub allow_legacy: Vec<String>,
    /// Send PKIOperation by GET even when the server offers POST.
    #[arg(long)]
    pub get: bool,
}

/// What goes into the CSR.
#[derive(Args, Debug)]
pub struct CsrOptions {
    /// The subject DN, e.g. CN=router-7,O=Example (CN, O, OU, C, L, ST, serialNumber).
    #[arg(long, value_name = "DN")]
    pub subject: String,
    #[command(flatten)]
    pub ext: CsrExtensions,
}

/// The CSR's extensions.
#[derive(Args, Debug)]
pub struct CsrExtensions {
    /// subjectAltName dNSName (repeatable).
    #[arg(long, value_name = "NAME")]
    pub dns: Vec<String>,
    /// subjectAltName iPAddress, IPv4 or IPv6 (repeatable).
    #[arg(long, value_name = "ADDR")]
    pub ip: Vec<std::net::IpAddr>,
    /// subjectAltName uniformResourceIdentifier (repeatable).
    #[arg(long, value_name = "URI")]
    pub uri: Vec<String>,
    /// subjectAltName rfc822Name (repeatable).
    #[arg(long, value_name = "ADDR")]
    pub email: Vec<String>,
    /// keyUsage bits (comma-separated), marked critical.
    #[arg(long, value_name = "BITS", value_delimiter = ',', value_parser = crate::csr::KEY_USAGE_NAMES)]
    pub key_usage: Vec<String>,
    /// extendedKeyUsage purposes (comma-separated): serverAuth, clientAuth, codeSigning,
    /// emailProtection, timeStamping, OCSPSigning, or a dotted OID.
    #[arg(long, value_name = "PURPOSES", value_delimiter = ',')]
    pub ext_key_usage: Vec<String>,
}

/// Where the result goes.
#[derive(Args, Debug)]
pub struct Out {
    /// Write the result (PEM) here instead of printing it.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Enrollment options shared by `scep enroll` and `scep renew`.
#[derive(Args, Debug)]
pub struct ScepEnrollOptions {
    /// The device key (PEM or DER: P-256 or RSA 2048/3072/4096; PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    #[command(flatten)]
    pub csr: CsrOptions,
    /// The challenge password (the CA's shared secret).
    #[arg(long, value_name = "PW")]
    pub challenge: Option<String>,
    #[command(flatten)]
    pub legacy: Legacy,
    #[command(flatten)]
    pub polling: Polling,
    /// Save the transaction here when it is left PENDING (resume with `scep poll`).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Do not wait on PENDING: save the transaction to --state and exit 3.
    #[arg(long, requires = "state")]
    pub no_wait: bool,
    #[command(flatten)]
    pub out: Out,
    /// Show the request that would be sent (GetCACaps and GetCACert still run) and send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Keep an issued certificate that the pinned CA signed but whose path does not validate
    /// (validity, key usage, a SHA-1 signature); it is refused otherwise. A certificate another
    /// CA signed is always refused.
    #[arg(long)]
    pub accept_unverified_ca: bool,
}

/// SCEP PENDING polling.
#[derive(Args, Debug)]
pub struct Polling {
    /// At most this many CertPoll requests after PENDING (within --max-wait).
    #[arg(long, value_name = "N")]
    pub max_polls: Option<u32>,
    /// Seconds before the first CertPoll (doubling after).
    #[arg(long, value_name = "SECS")]
    pub poll_interval: Option<u64>,
}

#[derive(Subcommand, Debug)]
pub enum ScepCmd {
    /// GetCACaps: the server's capabilities and the algorithms this client would choose.
    Getcaps {
        #[command(flatten)]
        server: ScepServer,
        #[command(flatten)]
        legacy: Legacy,
        #[command(flatten)]
        common: Common,
    },
    /// GetCACert: the CA/RA certificates, checked against the pinned fingerprint or CA.
    Getca {
        #[command(flatten)]
        server: ScepServer,
        #[command(flatten)]
        out: Out,
        #[command(flatten)]
        common: Common,
    },
    /// GetNextCACert: the next CA certificates, accepted only when signed by the current CA.
    Getnextca {
        #[command(flatten)]
        server: ScepServer,
        #[command(flatten)]
        out: Out,
        #[command(flatten)]
        common: Common,
    },
    /// PKCSReq with a self-signed signer certificate; PENDING is polled (CertPoll) within --max-wait.
    Enroll {
        #[command(flatten)]
        server: ScepServer,
        #[command(flatten)]
        enroll: ScepEnrollOptions,
        #[command(flatten)]
        common: Common,
    },
    /// RenewalReq signed with the current certificate and key (--new-key certifies another key).
    Renew {
        #[command(flatten)]
        server: ScepServer,
        #[command(flatten)]
        enroll: ScepEnrollOptions,
        /// The current certificate.
        #[arg(long, value_name = "FILE")]
        cert: PathBuf,
        /// Certify this key instead of --key (key rollover).
        #[arg(long, value_name = "FILE")]
        new_key: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// Resumes a PENDING transaction saved by enroll/renew --no-wait (CertPoll on the same transaction).
    Poll {
        #[command(flatten)]
        server: ScepServer,
        /// The device key of the request.
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        #[command(flatten)]
        csr: CsrOptions,
        /// The saved transaction (from enroll/renew --no-wait).
        #[arg(long, value_name = "FILE")]
        state: PathBuf,
        /// The current certificate, when the transaction is a renewal.
        #[arg(long, value_name = "FILE")]
        cert: Option<PathBuf>,
        /// Do not wait: poll once, exit 3 if still pending (the state is kept).
        #[arg(long)]
        no_wait: bool,
        /// Keep an issued certificate that the pinned CA signed but whose path does not
        /// validate; one another CA signed is always refused.
        #[arg(long)]
        accept_unverified_ca: bool,
        #[command(flatten)]
        legacy: Legacy,
        #[command(flatten)]
        polling: Polling,
        #[command(flatten)]
        out: Out,
        #[command(flatten)]
        common: Common,
    },
    /// GetCert: the certificate with this serial, asked for by the holder of --cert.
    Getcert {
        #[command(flatten)]
        server: ScepServer,
        /// The key of --cert.
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The requester's certificate.
        #[arg(long, value_name = "FILE")]
        cert: PathBuf,
        /// The serial number of the certificate wanted (hex).
        #[arg(long, value_name = "HEX")]
        serial: String,
        #[command(flatten)]
        legacy: Legacy,
        #[command(flatten)]
        out: Out,
        #[command(flatten)]
        common: Common,
    },
    /// GetCRL: the CRL covering --cert.
    Getcrl {
        #[command(flatten)]
        server: ScepServer,
        /// The key of --cert.
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The certificate whose CRL is wanted (its holder asks).
        #[arg(long, value_name = "FILE")]
        cert: PathBuf,
        #[command(flatten)]
        legacy: Legacy,
        #[command(flatten)]
        out: Out,
        #[command(flatten)]
        common: Common,
    },
}

// ---- EST ----

/// Where the EST server is and how its TLS is trusted.
#[derive(Args, Debug)]
pub struct EstServer {
    /// The EST base URL, https://HOST[:PORT][/.well-known/est][/LABEL].
    #[arg(long)]
    pub url: String,
    /// The trust anchor (PEM or DER) of the server's TLS certificate.
    #[arg(long, value_name = "FILE")]
    pub tls_ca: PathBuf,
    /// Offer TLS 1.2 only (default: 1.3 and 1.2).
    #[arg(long)]
    pub tls12: bool,
}

/// HTTP authentication.
#[derive(Args, Debug)]
pub struct Auth {
    /// HTTP user (Basic or Digest, as the server asks).
    #[arg(long, value_name = "USER", requires = "password")]
    pub user: Option<String>,
    /// HTTP password.
    #[arg(long, value_name = "PW", requires = "user")]
    pub password: Option<String>,
    /// Send Basic credentials with the first request (for servers that answer 401 without a challenge).
    #[arg(long, requires = "user")]
    pub basic_preemptive: bool,
}

/// `est enroll` and `est reenroll`.
#[derive(Args, Debug)]
pub struct EstEnrollOptions {
    #[command(flatten)]
    pub server: EstServer,
    /// The device key (PEM or DER: P-256 or RSA 2048/3072/4096).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    #[command(flatten)]
    pub csr: CsrOptions,
    #[command(flatten)]
    pub auth: Auth,
    /// The issuing CA (PEM or DER): the certificate must be signed by it.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Keep an issued certificate that does not chain to --ca or the TLS anchor (--tls-ca); it is refused otherwise.
    #[arg(long)]
    pub accept_unverified_ca: bool,
    /// Fetch /csrattrs first and apply it to the CSR (shown with --dry-run).
    #[arg(long)]
    pub csrattrs: bool,
    /// Always put the TLS channel binding (tls-exporter) into the CSR; fails if the connection has none.
    #[arg(long)]
    pub bind: bool,
    /// Send the CSR base64 without line breaks (est-ca needs it).
    #[arg(long)]
    pub one_line: bool,
    /// Do not wait on 202 Retry-After: exit 3.
    #[arg(long)]
    pub no_wait: bool,
    #[command(flatten)]
    pub out: Out,
    /// Show the request that would be sent (/csrattrs still runs with --csrattrs) and send nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Subcommand, Debug)]
pub enum EstCmd {
    /// /cacerts. With --insecure-bootstrap the TLS server is NOT authenticated (RFC 7030 4.1.1):
    /// the answer must contain the CA with the --fingerprint given out of band.
    Cacerts {
        /// The EST base URL, https://HOST[:PORT][/.well-known/est][/LABEL].
        #[arg(long)]
        url: String,
        /// The trust anchor (PEM or DER) of the server's TLS certificate.
        #[arg(long, value_name = "FILE", required_unless_present = "insecure_bootstrap")]
        tls_ca: Option<PathBuf>,
        /// Do not authenticate the TLS server; the reply must hold the CA of --fingerprint.
        #[arg(long, requires = "fingerprint", conflicts_with = "tls_ca")]
        insecure_bootstrap: bool,
        /// SHA-256 fingerprint (hex) of the CA the reply must contain.
        #[arg(long, value_name = "HEX", conflicts_with = "ca")]
        fingerprint: Option<String>,
        /// The CA certificate (PEM or DER) the reply must contain.
        #[arg(long, value_name = "FILE")]
        ca: Option<PathBuf>,
        /// Offer TLS 1.2 only.
        #[arg(long)]
        tls12: bool,
        #[command(flatten)]
        out: Out,
        #[command(flatten)]
        common: Common,
    },
    /// /csrattrs: what the server wants in a CSR (printed; DER written with --out).
    Csrattrs {
        #[command(flatten)]
        server: EstServer,
        #[command(flatten)]
        auth: Auth,
        /// Write the reply (DER) here.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// /simpleenroll.
    Enroll {
        #[command(flatten)]
        enroll: EstEnrollOptions,
        #[command(flatten)]
        common: Common,
    },
    /// /simplereenroll over TLS authenticated with --cert and --key.
    Reenroll {
        #[command(flatten)]
        enroll: EstEnrollOptions,
        /// The current certificate (TLS client authentication).
        #[arg(long, value_name = "FILE")]
        cert: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// /serverkeygen: the server makes the key; written to --key-out (PKCS#8 DER, mode 0600) and wiped from memory.
    Serverkeygen {
        #[command(flatten)]
        server: EstServer,
        /// The key that signs the request CSR.
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        #[command(flatten)]
        csr: CsrOptions,
        #[command(flatten)]
        auth: Auth,
        /// The issuing CA (PEM or DER): the certificate must be signed by it.
        #[arg(long, value_name = "FILE")]
        ca: Option<PathBuf>,
        /// Keep a certificate that does not chain to --ca or the TLS anchor.
        #[arg(long)]
        accept_unverified_ca: bool,
        /// Send the CSR base64 without line breaks.
        #[arg(long)]
        one_line: bool,
        /// Where the certificate goes (PEM).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Where the server-generated private key goes (DER, mode 0600).
        #[arg(long, value_name = "FILE")]
        key_out: PathBuf,
        #[command(flatten)]
        common: Common,
    },
}

// ---- ACME ----

/// The ACME server.
#[derive(Args, Debug)]
pub struct AcmeServer {
    /// The directory URL, https://HOST:PORT/PATH (pebble: /dir).
    #[arg(long)]
    pub url: String,
    /// The trust anchor (PEM or DER) of the ACME server's HTTPS.
    #[arg(long, value_name = "FILE")]
    pub tls_ca: PathBuf,
}

/// The account.
#[derive(Args, Debug)]
pub struct AcmeAccount {
    /// The account key (PEM or DER).
    #[arg(long, value_name = "FILE")]
    pub account_key: PathBuf,
    /// The account URL (skips the lookup by key).
    #[arg(long, value_name = "URL")]
    pub account_url: Option<String>,
    #[command(flatten)]
    pub extra: AccountExtra,
}

/// Account creation details.
#[derive(Args, Debug)]
pub struct AccountExtra {
    /// A contact URI, e.g. mailto:ops@example.com (repeatable, at most 4).
    #[arg(long, value_name = "URI")]
    pub contact: Vec<String>,
    /// External Account Binding key id (with --eab-hmac).
    #[arg(long, value_name = "KID", requires = "eab_hmac")]
    pub eab_kid: Option<String>,
    /// External Account Binding MAC key, base64url (with --eab-kid).
    #[arg(long, value_name = "B64URL", requires = "eab_kid")]
    pub eab_hmac: Option<String>,
}

/// What an order needs beyond the account.
#[derive(Args, Debug)]
pub struct OrderOptions {
    /// The key to certify.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// A DNS name (repeatable; the first is the CN).
    #[arg(long, value_name = "DNS")]
    pub name: Vec<String>,
    /// An IP address identifier (repeatable).
    #[arg(long, value_name = "ADDR")]
    pub ip: Vec<std::net::IpAddr>,
    #[command(flatten)]
    pub challenge: ChallengeOptions,
    /// The chain must lead to this CA (alternate chains are tried).
    #[arg(long, value_name = "FILE")]
    pub ca_anchor: Option<PathBuf>,
    #[command(flatten)]
    pub out: Out,
}

/// How challenges are answered: one of the two is required.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
pub struct ChallengeOptions {
    /// Answer http-01 with the built-in responder on 127.0.0.1:PORT.
    #[arg(long, value_name = "PORT")]
    pub http01_port: Option<u16>,
    /// Answer dns-01 by running `CMD add|del _acme-challenge.NAME VALUE` (through sh).
    #[arg(long, value_name = "CMD")]
    pub dns01_hook: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum AcmeCmd {
    /// newAccount for the account key (terms agreed); prints the account URL.
    Account {
        #[command(flatten)]
        server: AcmeServer,
        /// The account key (PEM or DER).
        #[arg(long, value_name = "FILE")]
        account_key: PathBuf,
        #[command(flatten)]
        extra: AccountExtra,
        /// Find the key's account and create none.
        #[arg(long)]
        only_existing: bool,
        #[command(flatten)]
        common: Common,
    },
    /// newOrder for the names and addresses, challenges answered, finalize, the chain written (leaf first).
    Order {
        #[command(flatten)]
        server: AcmeServer,
        #[command(flatten)]
        account: AcmeAccount,
        #[command(flatten)]
        order: OrderOptions,
        /// The certificate this one replaces (ARI, RFC 9773).
        #[arg(long, value_name = "FILE")]
        replaces: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// Asks when to renew --cert (ARI; without it 80 % of the lifetime or 14 days before
    /// notAfter) and renews when due (--force: now), with an order that replaces --cert.
    Renew {
        #[command(flatten)]
        server: AcmeServer,
        #[command(flatten)]
        account: AcmeAccount,
        /// The key to certify.
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The certificate to renew.
        #[arg(long, value_name = "FILE")]
        cert: PathBuf,
        /// DNS names (default: those of --cert).
        #[arg(long, value_name = "DNS")]
        name: Vec<String>,
        /// IP addresses (default: those of --cert).
        #[arg(long, value_name = "ADDR")]
        ip: Vec<std::net::IpAddr>,
        #[command(flatten)]
        challenge: ChallengeOptions,
        /// The chain must lead to this CA.
        #[arg(long, value_name = "FILE")]
        ca_anchor: Option<PathBuf>,
        /// Renew now whatever the window says.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        out: Out,
        #[command(flatten)]
        common: Common,
    },
    /// revokeCert for --cert, signed by the account key or by the certificate's own key.
    Revoke {
        #[command(flatten)]
        server: AcmeServer,
        /// The certificate to revoke.
        #[arg(long, value_name = "FILE")]
        cert: PathBuf,
        /// Sign with the account key.
        #[arg(long, value_name = "FILE", required_unless_present = "cert_key", conflicts_with = "cert_key")]
        account_key: Option<PathBuf>,
        /// The account URL (with --account-key).
        #[arg(long, value_name = "URL", requires = "account_key")]
        account_url: Option<String>,
        /// Sign with the certificate's own key.
        #[arg(long, value_name = "FILE")]
        cert_key: Option<PathBuf>,
        /// CRL reason code (RFC 5280): 0 unspecified, 1 keyCompromise, 3 affiliationChanged, 4 superseded, 5 cessationOfOperation.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(0..=10))]
        reason: Option<u8>,
        #[command(flatten)]
        common: Common,
    },
}

/// The exit codes, short, under every command's help (the top level has them in full).
const EXIT_CODES: &str = "Exit codes: 0 done, 2 usage or configuration, 3 pending, 4 refused, 5 transport, 6 invalid reply \
(`enroll --help` says more). The outcome line is the last line of stdout.";

/// The command line: [`Cli`] with the exit codes under every command's help.
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    let mut root = Cli::command();
    for proto in ["scep", "est", "acme"] {
        root = root.mut_subcommand(proto, |p| {
            let names: Vec<String> = p.get_subcommands().map(|c| c.get_name().to_string()).collect();
            let mut p = p.after_help(EXIT_CODES);
            for n in names {
                p = p.mut_subcommand(n, |c| c.after_help(EXIT_CODES));
            }
            p
        });
    }
    root
}

/// The flags (ArgAction::SetTrue) of the whole tool: read with `Opts::flag`.
pub fn is_flag(action: &ArgAction) -> bool {
    matches!(action, ArgAction::SetTrue)
}
