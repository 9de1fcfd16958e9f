//! TLS between Mesos components, for a Mesos built with SSL.
//!
//! libprocess (masters, agents, Marathon's libmesos) speaks TLS when
//! `LIBPROCESS_SSL_ENABLED` is set; it then needs a certificate, its key and
//! the CA to check peers against (apache/mesos docs/ssl.md). Every node
//! derives the same cluster CA from the token: its P-256 key comes from
//! `MasterPurpose::TlsCa` and is never written, so no node keeps a CA key.
//! A master signs its own certificate on every run; an agent signs its
//! own at join time, while it holds the token in memory, and keeps only its
//! certificate and key.
//!
//! Everything here is deterministic (derived keys, RFC 6979 signatures,
//! fixed validity and serials): the same token and node give the same files,
//! so a re-run changes nothing and restarts nothing.
//!
//! Whether the installed Mesos has SSL is an apply-time fact (the package is
//! installed by then): [`ssl_build`] reads `mesos-agent --help`.

use std::net::IpAddr;

use hkdf::Hkdf;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{DerSignature, SigningKey};
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyIdMethod,
    KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, RemoteKeyPair, SanType, SerialNumber,
};
use sha2::{Digest, Sha256};

use crate::setup::input::flags::FlagCheck;
use crate::setup::input::token::{ClusterToken, KeptTls, MasterPurpose, Secret, Security};
use crate::setup::plan::gated::Gated;
use crate::setup::plan::resource::{Resource, file, secret_file};

/// Public TLS material: the CA and the node's certificate (0644).
pub const TLS_DIR: &str = crate::setup::input::token::TLS_DIR;
pub const CA_CERT: &str = crate::setup::input::token::TLS_CA;
pub const NODE_CERT: &str = crate::setup::input::token::TLS_CERT;
/// The node's private key: root-only, beside the other secrets.
pub const NODE_KEY: &str = crate::setup::input::token::TLS_KEY;
/// The `LIBPROCESS_SSL_*` lines ([`env_lines`]), read by the master, agent
/// and Marathon units (`EnvironmentFile=-`): written only where the
/// installed Mesos has SSL, so its presence is what `status` reads.
pub const TLS_ENV: &str = crate::setup::input::token::TLS_ENV;
/// The key of TLS in the record's features.
pub const FEATURE: &str = "tls";

/// The flag only a Mesos built with SSL (`USE_SSL_SOCKET`) has: the agent
/// registers it under `#ifdef USE_SSL_SOCKET` in src/slave/flags.cpp. No
/// master flag is SSL-only, so the agent program (installed with the
/// master from the same package or tree) answers for both.
pub const SSL_ONLY_AGENT_FLAG: &str = "--authenticate_http_executors";

/// What `status` says about the wire between Mesos components.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// TLS with the cluster CA: [`NODE_CERT`] and the env lines are in place.
    Encrypted,
    /// A Mesos built without SSL: credentials protect every endpoint, but
    /// the traffic is readable on the network.
    NotEncrypted,
}

impl Transport {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Encrypted => "authenticated and encrypted (TLS, cluster CA)",
            Self::NotEncrypted => {
                "authenticated, not encrypted (the installed Mesos was built without SSL)"
            }
        }
    }

    /// The scheme of the Mesos HTTP endpoints (status probes, curl).
    pub fn scheme(self) -> &'static str {
        match self {
            Self::Encrypted => "https",
            Self::NotEncrypted => "http",
        }
    }
}

/// Whether `mesos-agent --help` (its whole output) comes from a Mesos built
/// with SSL.
pub fn ssl_build(agent_help: &str) -> bool {
    agent_help
        .split(|c: char| c.is_whitespace() || c == '=')
        .any(|w| w == SSL_ONLY_AGENT_FLAG || w == "--[no-]authenticate_http_executors")
}

/// What `status` tells from an installed env file (master.env, agent.env):
/// the node runs TLS exactly when setup wrote [`env_lines`] there.
pub fn transport_of(env_file: &str) -> Transport {
    let enabled = env_file.lines().any(|l| {
        matches!(
            l.trim().split_once('='),
            Some(("LIBPROCESS_SSL_ENABLED", v)) if matches!(v.trim_matches('"'), "true" | "1")
        )
    });
    if enabled {
        Transport::Encrypted
    } else {
        Transport::NotEncrypted
    }
}

/// Who provides this node's certificate on this run.
#[derive(Debug, Clone, Copy)]
pub enum Signer<'a> {
    /// A master, a standalone node, or an agent joining: the token is in
    /// memory.
    Token(&'a ClusterToken),
    /// An agent re-run with its agent key only: it cannot sign, and keeps
    /// the files it was given at join time.
    Kept(&'a KeptTls),
    /// An agent with neither: fine while the installed Mesos has no SSL.
    Nothing,
}

impl<'a> Signer<'a> {
    pub fn of(
        security: &'a Security,
        join_token: Option<&'a ClusterToken>,
        kept: Option<&'a KeptTls>,
    ) -> Self {
        match (security, join_token, kept) {
            (Security::Cluster(t), _, _) | (_, Some(t), _) => Signer::Token(t),
            (_, None, Some(k)) => Signer::Kept(k),
            (_, None, None) => Signer::Nothing,
        }
    }
}

/// The TLS files of a secured node that runs Mesos daemons, gated on the
/// installed Mesos having SSL (`check`: the agent program's `--help`
/// listing [`SSL_ONLY_AGENT_FLAG`]); the apply walk decides, once the
/// package is in. `readers` are the daemons that restart when they change.
/// An agent that can show no certificate gets only [`TLS_ENV`] in the
/// plan, blocked: should its Mesos have SSL, the run stops there and says
/// to bring the token.
pub fn gated(
    signer: Signer,
    node: &NodeName,
    check: FlagCheck,
    readers: &[&str],
) -> Result<(Vec<Resource>, Gated), TlsError> {
    let public = |path: &str, content: String| file(path, content, readers);
    let mut files = Vec::new();
    let issued;
    let tls = match signer {
        Signer::Token(token) => {
            issued = issue(token, node)?;
            Some(&issued)
        }
        Signer::Kept(kept) => Some(kept),
        Signer::Nothing => None,
    };
    if let Some(tls) = tls {
        files.push(public(CA_CERT, tls.ca_pem.clone()));
        files.push(public(NODE_CERT, tls.cert_pem.clone()));
        files.push(secret_file(
            NODE_KEY,
            tls.key_pem.expose().to_owned(),
            readers,
        ));
    }
    let blocked = tls.is_none().then(|| {
        TlsError::NoCertificate {
            hostname: node.hostname.clone(),
        }
        .to_string()
    });
    files.push(public(TLS_ENV, env_file()));
    let gate = Gated {
        feature: FEATURE,
        check,
        paths: files.iter().map(|f| f.id().to_owned()).collect(),
        off_because: "a Mesos built without SSL has no TLS: its traffic is authenticated, not encrypted",
        blocked,
    };
    let mut resources = vec![Resource::Dir {
        path: TLS_DIR.to_owned(),
        mode: 0o755,
    }];
    resources.extend(files);
    Ok((resources, gate))
}

/// [`TLS_ENV`]'s text: values are paths and booleans, unquoted, so systemd,
/// sh (upstart) and Docker (`-e NAME` from the unit) read them alike.
fn env_file() -> String {
    let mut text = String::from(
        "# Written by mesos-docker setup, because the installed Mesos has SSL:\n\
         # libprocess (master, agent, Marathon's driver, executors) speaks TLS\n\
         # with the cluster CA. Removed where the installed Mesos has no SSL.\n",
    );
    for (name, value) in env_lines() {
        text.push_str(&format!("{name}={value}\n"));
    }
    text
}

/// The names a node's certificate covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeName {
    pub hostname: String,
    /// Every address peers reach it by: libprocess connects by IP, and
    /// with `LIBPROCESS_SSL_VERIFY_IPADD` checks the peer's IP against these.
    pub ips: Vec<IpAddr>,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot issue a TLS certificate for {what}")]
    Issue {
        what: String,
        #[source]
        source: rcgen::Error,
    },
    #[error(
        "this Mesos has SSL, so {hostname} needs a TLS certificate from the cluster CA, and this agent keeps none ({NODE_CERT}, {NODE_KEY}): run setup again with the cluster token (--token-file or MESOS_DOCKER_TOKEN) so it can sign one; the token is not stored"
    )]
    NoCertificate { hostname: String },
    #[error(
        "the hostname {0:?} cannot be named in a TLS certificate; set `hostname` in setup.toml (or --hostname) to a DNS name"
    )]
    Hostname(String),
}

/// What a node with TLS gets: the CA and its certificate (public) and its
/// key (written 0600 root, never shown in a diff); the same files an agent
/// keeps from its join.
pub use crate::setup::input::token::KeptTls as NodeTls;

/// The libprocess variables for master.env, agent.env and Marathon's
/// environment (the agent passes its own to executors). Only names every
/// SSL build of libprocess knows: it silently ignores one it does not
/// (stout's `flags::extract` keeps known names only), so a newer name on an
/// older build would quietly leave a check off. 1.10 renamed VERIFY_CERT and
/// REQUIRE_CERT to VERIFY_SERVER_CERT and REQUIRE_CLIENT_CERT, keeping the
/// old names as aliases (a deprecation warning; docs/upgrades.md).
pub fn env_lines() -> Vec<(&'static str, String)> {
    vec![
        ("LIBPROCESS_SSL_ENABLED", "true".into()),
        // No plain-text fallback: a downgrade would let a man in the middle
        // strip TLS (docs/ssl.md).
        ("LIBPROCESS_SSL_SUPPORT_DOWNGRADE", "false".into()),
        ("LIBPROCESS_SSL_CERT_FILE", NODE_CERT.into()),
        ("LIBPROCESS_SSL_KEY_FILE", NODE_KEY.into()),
        ("LIBPROCESS_SSL_CA_FILE", CA_CERT.into()),
        // Peers' certificates are checked against the cluster CA...
        ("LIBPROCESS_SSL_VERIFY_CERT", "true".into()),
        // ...and against the IP libprocess connected to (it connects by
        // IP; without this, hostname checks rely on reverse DNS).
        ("LIBPROCESS_SSL_VERIFY_IPADD", "true".into()),
        // Clients (operators' curl, browsers) authenticate with the HTTP
        // credentials; demanding certificates of them too would lock them
        // out.
        ("LIBPROCESS_SSL_REQUIRE_CERT", "false".into()),
        // The certificates are P-256: libprocess' default list (AES128-SHA
        // and kin, RSA and DSA key exchange only) leaves them no cipher, and
        // every handshake would fail with "no shared cipher". TLS 1.2 is the
        // only version libprocess enables by default (1.3 is not supported,
        // docs/ssl.md); OpenSSL skips names it does not know (CHACHA20 before
        // 1.1.0) as long as one is left.
        ("LIBPROCESS_SSL_CIPHERS", CIPHERS.into()),
    ]
}

/// ECDHE with an ECDSA certificate, AEAD only: what every OpenSSL since
/// 1.0.1 (Ubuntu 14.04's) offers for TLS 1.2, and what rustls (setup's
/// probes, the executor) speaks.
pub const CIPHERS: &str =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305";

/// The CA and `node`'s certificate and key, all derived from `token`.
pub fn issue(token: &ClusterToken, node: &NodeName) -> Result<NodeTls, TlsError> {
    let ca_seed = token.secret(MasterPurpose::TlsCa);
    let ca_key = derive_key(ca_seed.expose().as_bytes(), "ca");
    let ca = ca_params(token, &ca_key)
        .self_signed(&rcgen_key(&ca_key, "the cluster CA")?)
        .map_err(|source| issue_err("the cluster CA", source))?;
    let node_key = derive_key(
        ca_seed.expose().as_bytes(),
        &format!("node {}", node.hostname),
    );
    let cert = node_params(node, &node_key, &ca_key)?
        .signed_by(
            &rcgen_key(&node_key, &node.hostname)?,
            &ca,
            &rcgen_key(&ca_key, "the cluster CA")?,
        )
        .map_err(|source| issue_err(&node.hostname, source))?;
    let key_pem = node_key
        .to_pkcs8_pem(LineEnding::LF)
        .expect("a P-256 key always encodes as PKCS#8");
    Ok(NodeTls {
        ca_pem: ca.pem(),
        cert_pem: cert.pem(),
        key_pem: Secret::from_stored(key_pem.to_string()),
    })
}

fn issue_err(what: &str, source: rcgen::Error) -> TlsError {
    TlsError::Issue {
        what: what.to_owned(),
        source,
    }
}

/// A P-256 key from `seed` and `label`: HKDF-SHA256 output taken as the
/// scalar, with a counter for the ~2^-32 chance it is out of range.
fn derive_key(seed: &[u8], label: &str) -> p256::SecretKey {
    let hk = Hkdf::<Sha256>::new(Some(b"mesos-docker tls v1"), seed);
    (0u32..)
        .find_map(|n| {
            let mut bytes = [0u8; 32];
            hk.expand(format!("{label} {n}").as_bytes(), &mut bytes)
                .expect("32 bytes is a valid HKDF-SHA256 length");
            p256::SecretKey::from_bytes(&bytes.into()).ok()
        })
        .expect("some counter gives a valid scalar")
}

/// rcgen signs through this: RFC 6979 signatures, so the same input gives
/// the same certificate.
struct DerivedKey {
    key: SigningKey,
    public: Vec<u8>,
}

impl RemoteKeyPair for DerivedKey {
    fn public_key(&self) -> &[u8] {
        &self.public
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let sig: DerSignature = self.key.sign(msg);
        Ok(sig.as_bytes().to_vec())
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &PKCS_ECDSA_P256_SHA256
    }
}

fn rcgen_key(key: &p256::SecretKey, what: &str) -> Result<KeyPair, TlsError> {
    let public = key.public_key().to_sec1_bytes().to_vec();
    KeyPair::from_remote(Box::new(DerivedKey {
        key: SigningKey::from(key),
        public,
    }))
    .map_err(|source| issue_err(what, source))
}

/// RFC 5280 §4.2.1.2 method 1 style key identifier: a hash of the key.
fn key_id(key: &p256::SecretKey) -> Vec<u8> {
    Sha256::digest(key.public_key().to_sec1_bytes())[..20].to_vec()
}

/// A positive 16-byte serial fixed by what the certificate says.
fn serial(parts: &[&[u8]]) -> SerialNumber {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    let mut s = h.finalize()[..16].to_vec();
    s[0] &= 0x7f;
    s[0] |= 0x01;
    SerialNumber::from_slice(&s)
}

/// Validity fixed so output is deterministic: from 2020 to RFC 5280's "no
/// well-defined expiration" date. A new token is how the CA is rotated.
fn validity(p: &mut CertificateParams) {
    p.not_before = rcgen::date_time_ymd(2020, 1, 1);
    p.not_after = rcgen::date_time_ymd(9999, 12, 31);
}

fn ca_params(token: &ClusterToken, ca_key: &p256::SecretKey) -> CertificateParams {
    let mut p = CertificateParams::default();
    validity(&mut p);
    let name = format!("mesos-docker cluster CA {}", token.fingerprint());
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, name.as_str());
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.key_identifier_method = KeyIdMethod::PreSpecified(key_id(ca_key));
    p.serial_number = Some(serial(&[b"ca", name.as_bytes()]));
    p
}

fn node_params(
    node: &NodeName,
    node_key: &p256::SecretKey,
    ca_key: &p256::SecretKey,
) -> Result<CertificateParams, TlsError> {
    let host = rcgen::Ia5String::try_from(node.hostname.as_str())
        .ok()
        .filter(|h| !h.as_str().is_empty())
        .ok_or_else(|| TlsError::Hostname(node.hostname.clone()))?;
    let mut p = CertificateParams::default();
    validity(&mut p);
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name
        .push(DnType::CommonName, node.hostname.as_str());
    p.subject_alt_names = std::iter::once(SanType::DnsName(host))
        .chain(node.ips.iter().map(|ip| SanType::IpAddress(*ip)))
        .collect();
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    // Every libprocess process is both server and client.
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    p.use_authority_key_identifier_extension = true;
    p.key_identifier_method = KeyIdMethod::PreSpecified(key_id(node_key));
    let ips: Vec<String> = node.ips.iter().map(IpAddr::to_string).collect();
    p.serial_number = Some(serial(&[
        b"node",
        &key_id(ca_key),
        node.hostname.as_bytes(),
        ips.join(",").as_bytes(),
    ]));
    Ok(p)
}

/// The cluster CA alone, as every node of `token` derives it (the same
/// bytes as [`issue`]'s `ca_pem`): what a joining node trusts when it asks
/// a master, before it has any files.
pub fn cluster_ca_pem(token: &ClusterToken) -> Result<String, TlsError> {
    let ca_seed = token.secret(MasterPurpose::TlsCa);
    let ca_key = derive_key(ca_seed.expose().as_bytes(), "ca");
    let ca = ca_params(token, &ca_key)
        .self_signed(&rcgen_key(&ca_key, "the cluster CA")?)
        .map_err(|source| issue_err("the cluster CA", source))?;
    Ok(ca.pem())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
    use webpki::{EndEntityCert, KeyUsage, anchor_from_trusted_cert};

    fn token(byte: &str) -> ClusterToken {
        ClusterToken::parse(&format!("mdt1_{}", byte.repeat(32)), "test").unwrap()
    }

    fn node(host: &str, ip: &str) -> NodeName {
        NodeName {
            hostname: host.into(),
            ips: vec![ip.parse().unwrap(), "127.0.0.1".parse().unwrap()],
        }
    }

    fn der(pem_text: &str) -> Vec<u8> {
        let block = pem_text
            .split("-----BEGIN CERTIFICATE-----")
            .nth(1)
            .and_then(|r| r.split("-----END CERTIFICATE-----").next())
            .expect("a PEM certificate");
        let b64: String = block.split_whitespace().collect();
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("base64")
    }

    /// Verifies `cert_pem` as a TLS server and client for `name` against
    /// `ca_pem`, as rustls (and OpenSSL with the cluster CA) would.
    fn verify(ca_pem: &str, cert_pem: &str, name: &str) -> Result<(), webpki::Error> {
        let ca = CertificateDer::from(der(ca_pem));
        let anchor = anchor_from_trusted_cert(&ca)?;
        let leaf = CertificateDer::from(der(cert_pem));
        let ee = EndEntityCert::try_from(&leaf)?;
        // 2026-11-30: inside the fixed validity.
        let now = UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_796_000_000));
        for usage in [KeyUsage::server_auth(), KeyUsage::client_auth()] {
            ee.verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                std::slice::from_ref(&anchor),
                &[],
                now,
                usage,
                None,
                None,
            )?;
        }
        ee.verify_is_valid_for_subject_name(&ServerName::try_from(name).expect("a name"))
    }

    #[test]
    fn the_chain_verifies_for_the_hostname_and_each_ip() {
        let tls = issue(&token("ab"), &node("node-1.example", "10.0.0.5")).unwrap();
        for name in ["node-1.example", "10.0.0.5", "127.0.0.1"] {
            verify(&tls.ca_pem, &tls.cert_pem, name).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        }
        for other in ["node-2.example", "10.0.0.6"] {
            assert!(
                verify(&tls.ca_pem, &tls.cert_pem, other).is_err(),
                "{other}"
            );
        }
        // The CA itself is no end-entity certificate for anyone.
        assert!(verify(&tls.ca_pem, &tls.ca_pem, "node-1.example").is_err());
    }

    #[test]
    fn every_node_of_a_token_derives_the_same_ca_and_reruns_change_nothing() {
        let t = token("ab");
        let a = issue(&t, &node("master-1", "10.0.0.1")).unwrap();
        let b = issue(&t, &node("agent-7", "10.0.0.7")).unwrap();
        assert_eq!(a.ca_pem, b.ca_pem, "the same CA, byte for byte");
        // Each node's certificate verifies against the other's CA file.
        verify(&b.ca_pem, &a.cert_pem, "master-1").unwrap();
        verify(&a.ca_pem, &b.cert_pem, "10.0.0.7").unwrap();
        assert_ne!(a.cert_pem, b.cert_pem);
        assert_ne!(a.key_pem, b.key_pem);
        let again = issue(&t, &node("master-1", "10.0.0.1")).unwrap();
        assert_eq!(
            (again.ca_pem, again.cert_pem, again.key_pem),
            (a.ca_pem, a.cert_pem, a.key_pem)
        );
    }

    #[test]
    fn another_tokens_ca_does_not_verify() {
        let ours = issue(&token("ab"), &node("node-1", "10.0.0.5")).unwrap();
        let theirs = issue(&token("cd"), &node("node-1", "10.0.0.5")).unwrap();
        assert_ne!(ours.ca_pem, theirs.ca_pem);
        assert!(verify(&theirs.ca_pem, &ours.cert_pem, "node-1").is_err());
        assert!(verify(&ours.ca_pem, &theirs.cert_pem, "node-1").is_err());
    }

    #[test]
    fn the_node_key_matches_its_certificate_and_the_ca_key_is_nowhere() {
        let t = token("ab");
        let tls = issue(&t, &node("agent-1", "10.0.0.9")).unwrap();
        let key = p256::SecretKey::from_sec1_pem(tls.key_pem.expose())
            .or_else(|_| {
                use p256::pkcs8::DecodePrivateKey;
                p256::SecretKey::from_pkcs8_pem(tls.key_pem.expose())
            })
            .expect("a PKCS#8 P-256 key");
        let public = key.public_key().to_sec1_bytes();
        let cert = der(&tls.cert_pem);
        assert!(cert.windows(public.len()).any(|w| w == &public[..]));
        assert!(
            tls.key_pem
                .expose()
                .starts_with("-----BEGIN PRIVATE KEY-----\n")
        );
        // What an agent keeps (the two PEMs and its key) holds no form of
        // the CA's private key nor of the seed it is derived from.
        let seed = t.secret(MasterPurpose::TlsCa);
        let ca = derive_key(seed.expose().as_bytes(), "ca");
        let ca_scalar = ca.to_bytes();
        let ca_pem = ca.to_pkcs8_pem(LineEnding::LF).unwrap();
        let kept = format!("{}{}{}", tls.ca_pem, tls.cert_pem, tls.key_pem.expose());
        for secret in [
            hex::encode(ca_scalar),
            ca_pem.to_string(),
            seed.expose().to_owned(),
            t.encode().expose().to_owned(),
        ] {
            assert!(!kept.contains(&secret));
        }
        assert!(!cert.windows(32).any(|w| w == &ca_scalar[..]));
        assert_ne!(key.to_bytes(), ca_scalar);
        assert!(!format!("{tls:?}").contains(tls.key_pem.expose()));
    }

    fn check() -> FlagCheck {
        FlagCheck {
            daemon: crate::setup::input::flags::Daemon::Agent,
            env_file: TLS_ENV.into(),
            argv: vec!["/usr/sbin/mesos-agent".into(), "--help".into()],
            program: "/usr/sbin/mesos-agent".into(),
            names: vec!["authenticate_http_executors".into()],
        }
    }

    /// (path, mode, secret, content) of each file, the directory first.
    fn files(r: &[Resource]) -> Vec<(String, u32, bool, String)> {
        r.iter()
            .map(|r| match r {
                Resource::Dir { path, mode } => (path.clone(), *mode, false, String::new()),
                Resource::File {
                    path,
                    mode,
                    content,
                    secret,
                    ..
                } => (path.clone(), *mode, *secret, content.clone()),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn the_files_are_world_readable_but_the_key_which_is_a_secret() {
        let t = token("ab");
        let n = node("node-1", "10.0.0.5");
        let (r, gate) = gated(Signer::Token(&t), &n, check(), &["mesos-master"]).unwrap();
        let tls = issue(&t, &n).unwrap();
        let got = files(&r);
        let shape: Vec<(&str, u32, bool)> = got
            .iter()
            .map(|(p, m, s, _)| (p.as_str(), *m, *s))
            .collect();
        assert_eq!(
            shape,
            vec![
                (TLS_DIR, 0o755, false),
                (CA_CERT, 0o644, false),
                (NODE_CERT, 0o644, false),
                (NODE_KEY, 0o600, true),
                (TLS_ENV, 0o644, false),
            ]
        );
        assert!(NODE_KEY.starts_with(crate::setup::input::token::SECRETS_DIR));
        for (path, _, secret, content) in &got {
            assert_eq!(
                content.contains("PRIVATE KEY"),
                path == NODE_KEY,
                "{path}: secret {secret}"
            );
        }
        assert_eq!(got[3].3, tls.key_pem.expose());
        // Every file is gated, the directory (a mount's source) is not.
        assert_eq!(gate.paths, [CA_CERT, NODE_CERT, NODE_KEY, TLS_ENV]);
        assert_eq!(gate.feature, FEATURE);
        assert!(gate.blocked.is_none());
        assert!(r.iter().skip(1).all(|f| matches!(
            f,
            Resource::File { readers, .. } if readers == &["mesos-master"]
        )));
    }

    #[test]
    fn the_env_names_the_files_and_only_flags_every_ssl_build_knows() {
        let env = env_lines();
        let get = |k: &str| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("LIBPROCESS_SSL_ENABLED"), Some("true"));
        assert_eq!(get("LIBPROCESS_SSL_SUPPORT_DOWNGRADE"), Some("false"));
        assert_eq!(get("LIBPROCESS_SSL_CERT_FILE"), Some(NODE_CERT));
        assert_eq!(get("LIBPROCESS_SSL_KEY_FILE"), Some(NODE_KEY));
        assert_eq!(get("LIBPROCESS_SSL_CA_FILE"), Some(CA_CERT));
        assert_eq!(get("LIBPROCESS_SSL_VERIFY_CERT"), Some("true"));
        // libprocess ignores a LIBPROCESS_SSL_ variable it does not know,
        // so a check named the newer way would be off on an older build:
        // only the names Mesos 1.0's libprocess already had (docs/ssl.md).
        const SINCE_1_0: &[&str] = &[
            "ENABLED",
            "SUPPORT_DOWNGRADE",
            "KEY_FILE",
            "CERT_FILE",
            "VERIFY_CERT",
            "REQUIRE_CERT",
            "VERIFY_DEPTH",
            "VERIFY_IPADD",
            "CA_DIR",
            "CA_FILE",
            "CIPHERS",
        ];
        for (name, _) in &env {
            let short = name.strip_prefix("LIBPROCESS_SSL_").expect(name);
            assert!(SINCE_1_0.contains(&short), "{name}");
        }
    }

    #[test]
    fn an_ssl_build_is_told_by_the_agents_help() {
        let with = "Usage: mesos-agent [options]\n\n  --attributes=VALUE   Attributes\n  --[no-]authenticate_http_executors  If `true`, only authenticated requests\n  --executor_secret_key=VALUE  Path to a file\n";
        let without = "Usage: mesos-agent [options]\n\n  --[no-]authenticate_http_readonly  If `true`\n  --[no-]authenticate_http_readwrite\n  --authenticatee=VALUE (mentions authenticate_http_executors in prose)\n";
        assert!(ssl_build(with));
        assert!(!ssl_build(without));
        assert!(!ssl_build(""));
        assert_eq!(
            Transport::NotEncrypted.describe(),
            "authenticated, not encrypted (the installed Mesos was built without SSL)"
        );
        assert_eq!(Transport::Encrypted.scheme(), "https");
    }

    #[test]
    fn a_hostname_no_certificate_can_carry_is_refused_clearly() {
        let e = issue(&token("ab"), &node("nöde", "10.0.0.5")).unwrap_err();
        assert!(e.to_string().contains("\"nöde\" cannot be named"), "{e}");
        let e = issue(&token("ab"), &node("", "10.0.0.5")).unwrap_err();
        assert!(matches!(e, TlsError::Hostname(_)), "{e}");
    }

    /// What Mesos itself will do with the files: OpenSSL (libprocess links
    /// it) loads the key, finds it matches the certificate, and verifies the
    /// chain for the node's name and address; another CA is refused.
    #[test]
    fn openssl_accepts_the_files_as_libprocess_loads_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = |n: &str| dir.path().join(n).display().to_string();
        let tls = issue(&token("ab"), &node("node-1.example", "10.0.0.5")).unwrap();
        let other = issue(&token("cd"), &node("node-1.example", "10.0.0.5")).unwrap();
        std::fs::write(path("ca.pem"), &tls.ca_pem).unwrap();
        std::fs::write(path("other-ca.pem"), &other.ca_pem).unwrap();
        std::fs::write(path("node.pem"), &tls.cert_pem).unwrap();
        std::fs::write(path("node.key"), tls.key_pem.expose()).unwrap();
        let openssl = |args: &[&str]| {
            let out = std::process::Command::new("openssl")
                .args(args)
                .output()
                .expect("the openssl command (Debian's openssl package)");
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned()
                    + &String::from_utf8_lossy(&out.stderr),
            )
        };
        let (ok, out) = openssl(&["pkey", "-in", &path("node.key"), "-pubout"]);
        assert!(ok, "{out}");
        let (ok2, from_cert) = openssl(&["x509", "-in", &path("node.pem"), "-noout", "-pubkey"]);
        assert!(ok2, "{from_cert}");
        assert_eq!(out, from_cert, "the key is the certificate's");
        for (check, name) in [
            ("-verify_hostname", "node-1.example"),
            ("-verify_ip", "10.0.0.5"),
        ] {
            for purpose in ["sslserver", "sslclient"] {
                let (ok, out) = openssl(&[
                    "verify",
                    "-CAfile",
                    &path("ca.pem"),
                    "-purpose",
                    purpose,
                    check,
                    name,
                    &path("node.pem"),
                ]);
                assert!(ok, "{check} {name} {purpose}: {out}");
            }
        }
        let (ok, out) = openssl(&[
            "verify",
            "-CAfile",
            &path("ca.pem"),
            "-verify_hostname",
            "node-2.example",
            &path("node.pem"),
        ]);
        assert!(!ok, "another name: {out}");
        let (ok, out) = openssl(&[
            "verify",
            "-CAfile",
            &path("other-ca.pem"),
            &path("node.pem"),
        ]);
        assert!(!ok, "another CA: {out}");
    }

    #[test]
    fn who_signs_follows_what_the_node_holds() {
        let t = token("ab");
        let n = node("agent-1", "10.0.0.9");
        let kept = KeptTls {
            ca_pem: "kept ca".into(),
            cert_pem: "kept cert".into(),
            key_pem: Secret::from_stored("kept key".into()),
        };
        let master = Security::Cluster(t.clone());
        let agent = Security::Agent(t.agent_key());
        assert!(matches!(Signer::of(&master, None, None), Signer::Token(_)));
        assert!(matches!(
            Signer::of(&agent, Some(&t), Some(&kept)),
            Signer::Token(_)
        ));
        assert!(matches!(
            Signer::of(&agent, None, Some(&kept)),
            Signer::Kept(_)
        ));
        assert!(matches!(Signer::of(&agent, None, None), Signer::Nothing));

        // An agent joining signs what a master would sign for it.
        let readers = ["mesos-agent"];
        let (joined, _) = gated(Signer::of(&agent, Some(&t), None), &n, check(), &readers).unwrap();
        let (by_master, _) = gated(Signer::Token(&t), &n, check(), &readers).unwrap();
        assert_eq!(joined, by_master);
        // A re-run with the agent key keeps what it has, byte for byte.
        let (rerun, gate) = gated(Signer::Kept(&kept), &n, check(), &readers).unwrap();
        let contents: Vec<String> = files(&rerun).into_iter().map(|f| f.3).collect();
        assert_eq!(contents[1..4], ["kept ca", "kept cert", "kept key"]);
        assert!(gate.blocked.is_none());
        // Nothing to show: only the env file is planned, and the run stops
        // there should the installed Mesos have SSL.
        let (none, gate) = gated(Signer::Nothing, &n, check(), &readers).unwrap();
        assert_eq!(files(&none).len(), 2);
        assert_eq!(gate.paths, [TLS_ENV]);
        let why = gate.blocked.expect("blocked");
        assert!(
            why.contains("run setup again with the cluster token"),
            "{why}"
        );
        assert!(why.contains("agent-1"), "{why}");

        let env = &files(&joined)[4].3;
        assert_eq!(transport_of(env), Transport::Encrypted);
        for (name, value) in env_lines() {
            assert!(env.contains(&format!("\n{name}={value}\n")), "{env}");
        }
        assert_eq!(
            transport_of("MESOS_ZK=x\nLIBPROCESS_SSL_ENABLED=false\n"),
            Transport::NotEncrypted
        );
        assert_eq!(transport_of(""), Transport::NotEncrypted);
    }

    /// Two libprocess peers as OpenSSL sees them: a server with the node's
    /// files, a client that verifies it by IP against the cluster CA and
    /// shows its own certificate, as with LIBPROCESS_SSL_VERIFY_CERT and
    /// _VERIFY_IPADD. A client trusting another token's CA fails.
    #[test]
    fn openssl_peers_complete_a_mutual_handshake_with_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = |n: &str| dir.path().join(n).display().to_string();
        let t = token("ab");
        let server = issue(&t, &node("master-1", "127.0.0.1")).unwrap();
        let client = issue(&t, &node("agent-1", "127.0.0.1")).unwrap();
        let other = issue(&token("cd"), &node("agent-1", "127.0.0.1")).unwrap();
        for (name, content) in [
            ("ca.pem", server.ca_pem.as_str()),
            ("other-ca.pem", other.ca_pem.as_str()),
            ("server.pem", server.cert_pem.as_str()),
            ("server.key", server.key_pem.expose()),
            ("client.pem", client.cert_pem.as_str()),
            ("client.key", client.key_pem.expose()),
        ] {
            std::fs::write(path(name), content).unwrap();
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
            .to_string();
        let mut s_server = std::process::Command::new("openssl")
            // -www: answers on the connection, never reads stdin (whose
            // EOF would end each connection before its handshake).
            .args([
                "s_server", "-www", "-accept", &port, "-naccept", "2", "-tls1_2",
            ])
            .args(["-cert", &path("server.pem"), "-key", &path("server.key")])
            .args([
                "-CAfile",
                &path("ca.pem"),
                "-Verify",
                "2",
                "-verify_return_error",
            ])
            .stdin(std::process::Stdio::null())
            .stdout(std::fs::File::create(path("s_server.log")).unwrap())
            .stderr(std::fs::File::create(path("s_server.err")).unwrap())
            .spawn()
            .expect("openssl s_server");
        let connect = |ca: &str| {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            loop {
                let out = std::process::Command::new("openssl")
                    .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
                    .args([
                        "-CAfile",
                        &path(ca),
                        "-verify_return_error",
                        "-verify_ip",
                        "127.0.0.1",
                    ])
                    .args(["-cert", &path("client.pem"), "-key", &path("client.key")])
                    .stdin(std::process::Stdio::null())
                    .output()
                    .expect("openssl s_client");
                let text = String::from_utf8_lossy(&out.stdout).into_owned()
                    + &String::from_utf8_lossy(&out.stderr);
                if !text.contains("Connection refused") || std::time::Instant::now() > deadline {
                    return (out.status.success(), text);
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        };
        let (ok, text) = connect("ca.pem");
        let (bad_ok, bad_text) = connect("other-ca.pem");
        let _ = s_server.kill();
        let _ = s_server.wait();
        let server_log = std::fs::read_to_string(path("s_server.err")).unwrap_or_default()
            + &std::fs::read_to_string(path("s_server.log")).unwrap_or_default();
        assert!(
            ok && text.contains("Verify return code: 0 (ok)"),
            "{text}\n--- s_server ---\n{server_log}"
        );
        assert!(
            !bad_ok,
            "a client trusting another CA connected: {bad_text}"
        );
        assert!(bad_text.contains("certificate verify failed"), "{bad_text}");
    }
}
