//! The one seam between setup and the host: a root directory that every path
//! is resolved under, and a runner that every command goes through. The real
//! run uses `/` and [`HostRunner`]; tests use a temporary root and the
//! recording runner of the sibling `testkit` module (test builds only), so
//! both exercise the same code.

use std::io;
use std::path::{Path, PathBuf};

pub use crate::setup::host::command::Output;

/// Runs a program with arguments. `Err` means it could not be started at all
/// (typically: not installed); a non-zero exit is an `Ok` with `success: false`.
pub trait Runner: Send + Sync {
    fn run(&self, program: &str, args: &[&str]) -> io::Result<Output>;
    /// Sends `send` to a TCP address and returns what came back before the
    /// peer closed (ZooKeeper's four-letter commands).
    fn talk(&self, addr: &str, send: &str) -> io::Result<String>;
    /// [`talk`](Runner::talk) over TLS: `send` goes out only once the
    /// handshake has verified that the server's certificate chains to
    /// `peer`'s CA (and no other) and names `peer`'s server name. A runner
    /// that cannot do it says so: no plain-text fallback.
    fn talk_tls(&self, addr: &str, send: &str, peer: &TlsPeer) -> Result<String, TlsTalkError> {
        let _ = (send, peer);
        Err(TlsTalkError::Io(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("{addr}: this runner does not speak TLS"),
        )))
    }
    /// Whether commands reach the real host (and so must be kept away from a
    /// `--root` that is not `/`).
    fn is_host(&self) -> bool;
}

/// Whom a TLS connection must reach.
#[derive(Debug, Clone, Copy)]
pub struct TlsPeer<'a> {
    /// The only CA trusted (PEM): never the system's roots, so a
    /// certificate any public CA signed is refused like any other.
    pub ca_pem: &'a str,
    /// What the certificate must name: a DNS name or an IP address.
    pub server_name: &'a str,
}

/// Why a TLS exchange failed, told apart so that callers can tell a
/// foreign certificate (refuse) from a peer without TLS (perhaps fall back).
#[derive(Debug, thiserror::Error)]
pub enum TlsTalkError {
    #[error("the CA is not a usable PEM certificate ({why})")]
    BadCa { why: String },
    #[error("{name:?} is no name a certificate can be checked against")]
    BadName { name: String },
    /// The server's certificate failed verification: another CA, another
    /// name, or not a certificate for a server.
    #[error("its TLS certificate is not the cluster's")]
    NotTrusted(#[source] rustls::Error),
    /// The peer answered bytes that are not TLS, or closed the connection
    /// during the handshake: it does not speak TLS on this port.
    #[error("it does not speak TLS: {0}")]
    NotTls(&'static str),
    #[error("the TLS handshake failed")]
    Handshake(#[source] rustls::Error),
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// The trust anchors of `ca_pem`: every certificate in it, at least one.
pub fn trust_anchors(ca_pem: &str) -> Result<rustls::RootCertStore, TlsTalkError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let bad = |why: String| TlsTalkError::BadCa { why };
    let mut roots = rustls::RootCertStore::empty();
    for der in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let der = der.map_err(|e| bad(format!("{e:?}")))?;
        roots.add(der).map_err(|e| bad(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(bad("no certificate in it".into()));
    }
    Ok(roots)
}

/// What a failed handshake means: rustls' error travels inside the
/// io::Error that `complete_io` returns.
fn handshake_error(e: io::Error) -> TlsTalkError {
    use rustls::{Error as E, InvalidMessage};
    if e.kind() == io::ErrorKind::UnexpectedEof {
        return TlsTalkError::NotTls("it closed the connection during the handshake");
    }
    let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<E>()) else {
        return TlsTalkError::Io(e);
    };
    match tls {
        E::InvalidCertificate(_) => TlsTalkError::NotTrusted(tls.clone()),
        // The first bytes back are no TLS record: a plain-text server
        // answering (or rejecting) what it took for a request.
        E::InvalidMessage(InvalidMessage::InvalidContentType) => {
            TlsTalkError::NotTls("it answered bytes that are not TLS")
        }
        other => TlsTalkError::Handshake(other.clone()),
    }
}

/// Runs commands on this machine.
#[derive(Debug, Default)]
pub struct HostRunner;

impl HostRunner {
    fn connect(addr: &str) -> io::Result<std::net::TcpStream> {
        let timeout = std::time::Duration::from_secs(2);
        let sock = addr
            .parse()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{addr}: {e}")))?;
        let s = std::net::TcpStream::connect_timeout(&sock, timeout)?;
        s.set_read_timeout(Some(timeout))?;
        s.set_write_timeout(Some(timeout))?;
        Ok(s)
    }
}

impl Runner for HostRunner {
    /// In the C locale and within a bound that fits the command (see
    /// [`command`](super::command)).
    fn run(&self, program: &str, args: &[&str]) -> io::Result<Output> {
        let bound = crate::setup::host::command::timeout_for(program, args);
        crate::setup::host::command::run_bounded(program, args, bound)
    }

    fn talk(&self, addr: &str, send: &str) -> io::Result<String> {
        use std::io::{Read, Write};
        let mut s = Self::connect(addr)?;
        s.write_all(send.as_bytes())?;
        let mut got = String::new();
        s.read_to_string(&mut got)?;
        Ok(got)
    }

    /// rustls with ring, named here rather than taken from the process
    /// default, so no caller depends on the provider being installed.
    fn talk_tls(&self, addr: &str, send: &str, peer: &TlsPeer) -> Result<String, TlsTalkError> {
        use std::io::{Read, Write};
        let roots = trust_anchors(peer.ca_pem)?;
        let name =
            rustls::pki_types::ServerName::try_from(peer.server_name.to_owned()).map_err(|_| {
                TlsTalkError::BadName {
                    name: peer.server_name.to_owned(),
                }
            })?;
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TlsTalkError::Handshake)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name)
            .map_err(TlsTalkError::Handshake)?;
        let mut sock = Self::connect(addr)?;
        // The whole handshake first: not a byte of `send` (credentials) is
        // written before the server proved it holds a certificate the CA
        // signed for this name.
        while conn.is_handshaking() {
            conn.complete_io(&mut sock).map_err(handshake_error)?;
        }
        let mut tls = rustls::Stream::new(&mut conn, &mut sock);
        tls.write_all(send.as_bytes())?;
        tls.flush()?;
        let mut got = Vec::new();
        match tls.read_to_end(&mut got) {
            Ok(_) => {}
            // HTTP/1.0 replies end where the server closes; one that closes
            // without TLS' close_notify has still sent its whole reply.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && !got.is_empty() => {}
            Err(e) => return Err(e.into()),
        }
        String::from_utf8(got)
            .map_err(|e| TlsTalkError::Io(io::Error::new(io::ErrorKind::InvalidData, e)))
    }

    fn is_host(&self) -> bool {
        true
    }
}

/// The host as setup sees it.
pub struct System {
    root: PathBuf,
    runner: Box<dyn Runner>,
    live: bool,
}

impl System {
    /// A root as given on the command line: `/` is the running system; any
    /// other directory is offline (no service manager runs there).
    pub fn new(root: impl Into<PathBuf>, runner: Box<dyn Runner>) -> Self {
        let root = root.into();
        let live = root == Path::new("/");
        System { root, runner, live }
    }

    /// A temporary root that stands for a running system, for tests whose
    /// recording runner plays the host's commands (systemctl, ip, ...).
    #[cfg(any(test, feature = "testkit"))]
    pub fn live_for_tests(root: impl Into<PathBuf>, runner: Box<dyn Runner>) -> Self {
        let runner_is_host = runner.is_host();
        assert!(
            !runner_is_host,
            "only a recording runner may pretend a root is live"
        );
        System {
            root: root.into(),
            runner,
            live: true,
        }
    }

    /// The real host: `/` with commands run for real.
    pub fn host() -> Self {
        Self::new("/", Box::new(HostRunner))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether this run targets the machine's own root.
    pub fn is_real_root(&self) -> bool {
        self.root == Path::new("/")
    }

    /// Whether the root is a running system: commands that ask or tell the
    /// running host (ip, initctl, docker, systemctl daemon-reload, is-active)
    /// only make sense then; an offline root is read through its files.
    pub fn is_live(&self) -> bool {
        self.live
    }

    /// An absolute host path (`/etc/x`) as it lies under the root.
    pub fn path(&self, host_path: &str) -> PathBuf {
        self.root.join(host_path.trim_start_matches('/'))
    }

    pub fn read(&self, host_path: &str) -> io::Result<String> {
        std::fs::read_to_string(self.path(host_path))
    }

    pub fn exists(&self, host_path: &str) -> bool {
        self.path(host_path).exists()
    }

    pub fn run(&self, program: &str, args: &[&str]) -> io::Result<Output> {
        self.runner.run(program, args)
    }

    pub fn talk(&self, addr: &str, send: &str) -> io::Result<String> {
        self.runner.talk(addr, send)
    }

    pub fn talk_tls(&self, addr: &str, send: &str, peer: &TlsPeer) -> Result<String, TlsTalkError> {
        self.runner.talk_tls(addr, send, peer)
    }

    /// systemctl on the root: on an offline root `--root=DIR`, which edits
    /// unit links under DIR without a running systemd and never touches the
    /// machine's own services.
    pub fn systemctl(&self, args: &[&str]) -> io::Result<Output> {
        if self.live {
            return self.run("systemctl", args);
        }
        let root = format!("--root={}", self.root.display());
        let mut all = vec![root.as_str()];
        all.extend_from_slice(args);
        self.run("systemctl", &all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::host::testkit::RecordingRunner;

    #[test]
    fn paths_lie_under_the_root() {
        let s = System::new("/tmp/r", Box::new(RecordingRunner::new()));
        assert_eq!(
            s.path("/etc/os-release"),
            Path::new("/tmp/r/etc/os-release")
        );
        assert!(!s.is_real_root());
        assert!(!s.is_live());
        assert!(System::host().is_live());
    }

    #[test]
    fn systemctl_on_an_offline_root_names_it() {
        let r = std::sync::Arc::new(RecordingRunner::new());
        struct Shared(std::sync::Arc<RecordingRunner>);
        impl Runner for Shared {
            fn run(&self, p: &str, a: &[&str]) -> io::Result<Output> {
                self.0.run(p, a)
            }
            fn talk(&self, addr: &str, send: &str) -> io::Result<String> {
                self.0.talk(addr, send)
            }
            fn talk_tls(
                &self,
                addr: &str,
                send: &str,
                peer: &TlsPeer,
            ) -> Result<String, TlsTalkError> {
                self.0.talk_tls(addr, send, peer)
            }
            fn is_host(&self) -> bool {
                false
            }
        }
        let s = System::new("/tmp/r", Box::new(Shared(r.clone())));
        s.systemctl(&["is-enabled", "x"]).unwrap();
        let live = System::live_for_tests("/tmp/r", Box::new(Shared(r.clone())));
        live.systemctl(&["is-enabled", "x"]).unwrap();
        assert_eq!(
            r.calls(),
            [
                "systemctl --root=/tmp/r is-enabled x",
                "systemctl is-enabled x"
            ]
        );
    }

    /// How the host runner's TLS exchange fails, by what the peer does.
    #[test]
    fn tls_failures_are_told_apart() {
        use std::io::{Read, Write};
        let token = |b: &str| {
            crate::setup::input::token::ClusterToken::parse(&format!("mdt1_{}", b.repeat(32)), "t")
                .unwrap()
        };
        let ca = crate::setup::plan::tls::cluster_ca_pem(&token("ab")).unwrap();
        let peer = TlsPeer {
            ca_pem: &ca,
            server_name: "127.0.0.1",
        };
        // A plain server that closes on what it cannot parse, and one that
        // answers it with an HTTP error.
        for answer in [&b""[..], b"HTTP/1.1 400 Bad Request\r\n\r\n"] {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap().to_string();
            std::thread::spawn(move || {
                let (mut s, _) = l.accept().unwrap();
                let _ = s.read(&mut [0u8; 512]);
                let _ = s.write_all(answer);
            });
            let e = HostRunner
                .talk_tls(&addr, "GET / HTTP/1.0\r\n\r\n", &peer)
                .unwrap_err();
            assert!(matches!(e, TlsTalkError::NotTls(_)), "{answer:?}: {e:?}");
        }
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = free.local_addr().unwrap().to_string();
        drop(free);
        let e = HostRunner.talk_tls(&addr, "x", &peer).unwrap_err();
        assert!(
            matches!(e, TlsTalkError::Io(ref io) if io.kind() == io::ErrorKind::ConnectionRefused),
            "{e:?}"
        );
        let bad = TlsPeer {
            ca_pem: "no certificate",
            server_name: "127.0.0.1",
        };
        let e = HostRunner.talk_tls(&addr, "x", &bad).unwrap_err();
        assert!(matches!(e, TlsTalkError::BadCa { .. }), "{e:?}");
        // A runner that has no TLS says so rather than talking in clear.
        let r = RecordingRunner::new();
        struct Plain(RecordingRunner);
        impl Runner for Plain {
            fn run(&self, p: &str, a: &[&str]) -> io::Result<Output> {
                self.0.run(p, a)
            }
            fn talk(&self, addr: &str, send: &str) -> io::Result<String> {
                self.0.talk(addr, send)
            }
            fn is_host(&self) -> bool {
                false
            }
        }
        let e = Plain(r).talk_tls(&addr, "x", &peer).unwrap_err();
        assert!(
            matches!(e, TlsTalkError::Io(ref io) if io.kind() == io::ErrorKind::Unsupported),
            "{e:?}"
        );
    }
}
