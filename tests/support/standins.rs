//! Stand-ins for Mesos (master, agent) and Marathon, packaged the ways setup
//! installs them, for the end-to-end tests only (nothing here ships). Mesos
//! and Marathon cannot be had today; what the tests must see is setup
//! installing a package from a signed apt repository, a pinned tarball or a
//! saved image, and starting it with the flags it planned.
//!
//! The program is tests/support/standin/standin.sh run with the host's
//! static busybox: it records its argv and environment to
//! `/var/lib/mesos-standin/<name>.args` / `.env` (also served at
//! `/standin/args`, `/standin/env`) and serves: master `:5050` `/health`
//! and `/state` (`/redirect`; 307 to the leader when another master leads,
//! elected through ZooKeeper's CLI where there is one), agent `:5051`
//! `/state`, Marathon `:8080` `/ping` (`pong`) and `/v2/info`; `MESOS_PORT`
//! / `MARATHON_HTTP_PORT` (or `--port` / `--http_port`) move them. A flag
//! Mesos does not know stops it as it stops the real one.
//!
//! What the secure flags ask for, it enforces as Mesos 1.11 and Marathon do
//! (issue 12; the script's head says how): HTTP basic auth per realm from
//! the JSON credentials file (401 with `WWW-Authenticate`, `/health` open),
//! credential files parsed as JSON, a digest user and Mesos' ACL on its
//! ZooKeeper znodes, Marathon's `--http_credentials` and framework
//! authentication flags. A stand-in "built with SSL" ([`SSL_MARKER`] beside
//! its busybox: [`lay_out`], [`mesos_tgz_with_ssl`]) has the agent's
//! executor authentication flags; the others stop on them, as a Mesos built
//! without SSL does. Such a Mesos also reads `LIBPROCESS_SSL_*` as
//! libprocess does: with `LIBPROCESS_SSL_ENABLED` its master and agent check
//! the certificate, key and CA files (libprocess' exit messages) and serve
//! TLS only on their port, through `socat` (which must be on PATH:
//! [`TlsClient`] talks to them); a plain build ignores the variables, and
//! Marathon's stand-in serves plain HTTP as Marathon's own server does. Its
//! records are 0600 in a 0700 directory.
//!
//! Packagings, each built once per test process:
//! - [`apt_repo`]: packages `mesos` (/usr/sbin/mesos-master, mesos-agent,
//!   /usr/libexec/mesos/) and `marathon` (/usr/share/marathon/bin/marathon) in a repository
//!   (`dists/stable/main/binary-amd64`) whose Release is signed (InRelease,
//!   Release.gpg) with a throw-away RSA key;
//! - [`mesos_make_install_tgz`]: a tree as Mesos' `make install` leaves it,
//!   with ELF programs that need the tree's libmesos-1.11.0.so;
//! - [`mesos_tgz`] (`sbin/mesos-master`, `sbin/mesos-agent`) and
//!   [`marathon_tgz`] (`bin/marathon`), with their SHA-256;
//! - [`image`]: a busybox image with all three on its PATH
//!   (/usr/sbin/mesos-master, /usr/sbin/mesos-agent,
//!   /usr/share/marathon/bin/marathon, the entrypoint, as in Marathon's own
//!   image), saved with `docker save`, with its SHA-256.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::mirror::{make_readable_by_all, need, run_checked, text};

pub const SCRIPT: &str = include_str!("standin/standin.sh");
pub const SCRIPT_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/support/standin/standin.sh"
);
/// Where the stand-ins record how they were started.
pub const RECORDS: &str = "/var/lib/mesos-standin";
pub const VERSION: &str = "1.11.0~standin1";
pub const SUITE: &str = "stable";
pub const COMPONENT: &str = "main";
pub const IMAGE: &str = "mesos-docker-test/standins:latest";
/// Beside a stand-in's busybox (`lib/mesos-standin/`), this file makes it
/// a Mesos "built with SSL".
pub const SSL_MARKER: &str = "with-ssl";

/// A built file and its SHA-256 (hex).
#[derive(Debug, Clone)]
pub struct Artifact {
    pub path: PathBuf,
    pub sha256: String,
}

impl Artifact {
    fn of(path: PathBuf) -> Artifact {
        let sha256 = hex::encode(Sha256::digest(fs::read(&path).unwrap()));
        Artifact { path, sha256 }
    }
}

/// A signed apt repository on disk: serve `root` (or copy it) and point apt
/// at it with `key` as Signed-By.
#[derive(Debug)]
pub struct AptRepo {
    pub root: PathBuf,
    /// The signing key's public part, ASCII-armored (`key.asc` in `root`).
    pub key_asc: PathBuf,
    /// The same, binary (`key.gpg` in `root`).
    pub key_gpg: PathBuf,
    /// Its v4 fingerprint, 40 upper-case hex digits.
    pub fingerprint: String,
    pub mesos_deb: Artifact,
    pub marathon_deb: Artifact,
}

/// A `docker save` tarball of [`IMAGE`].
#[derive(Debug)]
pub struct SavedImage {
    pub archive: Artifact,
    pub image: &'static str,
}

/// Where this process builds its stand-ins.
fn workdir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("standins-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        make_readable_by_all(&dir);
        dir
    })
}

fn write_exec(path: &Path, contents: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, contents).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// The static busybox the stand-ins serve with (busybox-static's).
fn busybox() -> Vec<u8> {
    let path = Path::new("/bin/busybox");
    let bytes = fs::read(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; install it (apt-get install busybox-static)",
            path.display()
        )
    });
    // The stand-in image has no libc, and a package's dependencies are not ours.
    let ldd = Command::new("ldd").arg(path).output().expect("ldd runs");
    assert!(
        !ldd.status.success() || text(&ldd.stdout).contains("statically linked"),
        "/bin/busybox is not static (apt-get install busybox-static): {}",
        text(&ldd.stdout)
    );
    bytes
}

/// Lays out `programs` (paths under `root` named like the program they
/// stand in for) and busybox at `<their dir>/../lib/mesos-standin/busybox`.
fn stage(root: &Path, programs: &[&str]) {
    let busybox = busybox();
    for program in programs {
        let path = root.join(program);
        write_exec(&path, SCRIPT.as_bytes());
        let lib = path.parent().unwrap().join("../lib/mesos-standin/busybox");
        if !lib.exists() {
            write_exec(&lib, &busybox);
        }
    }
}

fn deb(name: &str, programs: &[&str], description: &str) -> Artifact {
    let root = workdir().join(format!("{name}-deb"));
    stage(&root, programs);
    if name == "mesos" {
        // Where a Mesos package keeps the programs the agent starts
        // (--launcher_dir); these tests never run them.
        for helper in ["mesos-executor", "mesos-containerizer"] {
            write_exec(
                &root.join("usr/libexec/mesos").join(helper),
                format!("#!/bin/sh\necho '{helper} (a test stand-in): not used by these tests' >&2\nexit 1\n")
                    .as_bytes(),
            );
        }
    }
    fs::create_dir_all(root.join("DEBIAN")).unwrap();
    fs::write(
        root.join("DEBIAN/control"),
        format!(
            "Package: {name}\nVersion: {VERSION}\nArchitecture: amd64\n\
             Maintainer: mesos-docker tests <standin@mesos-docker.invalid>\n\
             Section: misc\nPriority: optional\n\
             Description: {description} (a test stand-in)\n \
             Records how it was started and answers health checks; mesos-docker's\n \
             tests only.\n"
        ),
    )
    .unwrap();
    let out = workdir().join(format!("{name}_{VERSION}_amd64.deb"));
    run_checked(
        Command::new(need("dpkg-deb", "dpkg"))
            .args(["--root-owner-group", "-Zgzip", "--build"])
            .arg(&root)
            .arg(&out),
    );
    Artifact::of(out)
}

/// The `mesos` and `marathon` packages in a signed repository.
pub fn apt_repo() -> &'static AptRepo {
    static REPO: OnceLock<AptRepo> = OnceLock::new();
    REPO.get_or_init(|| {
        let mesos_deb = deb(
            "mesos",
            &["usr/sbin/mesos-master", "usr/sbin/mesos-agent"],
            "Apache Mesos master and agent",
        );
        let marathon_deb = deb("marathon", &["usr/share/marathon/bin/marathon"], "Marathon");
        let root = workdir().join("apt");
        let pool = root.join(format!("pool/{COMPONENT}"));
        fs::create_dir_all(&pool).unwrap();
        for deb in [&mesos_deb, &marathon_deb] {
            fs::copy(&deb.path, pool.join(deb.path.file_name().unwrap())).unwrap();
        }
        let dist = root.join(format!("dists/{SUITE}"));
        let binary = dist.join(format!("{COMPONENT}/binary-amd64"));
        fs::create_dir_all(&binary).unwrap();
        let packages = run_checked(
            Command::new(need("dpkg-scanpackages", "dpkg-dev"))
                .current_dir(&root)
                .args(["--multiversion", "pool"]),
        )
        .stdout;
        assert!(text(&packages).contains("Package: mesos\n"));
        fs::write(binary.join("Packages"), &packages).unwrap();
        let date = run_checked(Command::new("date").args(["-u", "-R"])).stdout;
        fs::write(
            dist.join("Release"),
            format!(
                "Origin: mesos-docker tests\nLabel: mesos-docker stand-ins\n\
                 Suite: {SUITE}\nCodename: {SUITE}\nDate: {}\nArchitectures: amd64\n\
                 Components: {COMPONENT}\nDescription: stand-ins for Mesos and Marathon\n\
                 SHA256:\n {} {} {COMPONENT}/binary-amd64/Packages\n",
                text(&date).trim(),
                hex::encode(Sha256::digest(&packages)),
                packages.len()
            ),
        )
        .unwrap();
        let key = SigningKey::new();
        key.sign_release(&dist);
        let key_asc = root.join("key.asc");
        let key_gpg = root.join("key.gpg");
        fs::write(&key_asc, key.export(true)).unwrap();
        fs::write(&key_gpg, key.export(false)).unwrap();
        run_checked(Command::new("chmod").args(["-R", "a+rX"]).arg(&root));
        AptRepo {
            root,
            key_asc,
            key_gpg,
            fingerprint: key.fingerprint.clone(),
            mesos_deb,
            marathon_deb,
        }
    })
}

/// A throw-away OpenPGP key in its own GNUPGHOME (a short path under /tmp:
/// gpg-agent's socket path must stay short); its agent is stopped on drop.
pub struct SigningKey {
    home: tempfile::TempDir,
    pub fingerprint: String,
}

impl SigningKey {
    pub fn new() -> SigningKey {
        let home = tempfile::Builder::new()
            .prefix("gpg")
            .tempdir_in("/tmp")
            .unwrap();
        fs::set_permissions(home.path(), fs::Permissions::from_mode(0o700)).unwrap();
        let mut key = SigningKey {
            home,
            fingerprint: String::new(),
        };
        run_checked(key.gpg().args([
            "--passphrase",
            "",
            "--quick-gen-key",
            "mesos-docker test repository <standin@mesos-docker.invalid>",
            "rsa3072",
            "sign",
            "2d",
        ]));
        let listing = run_checked(key.gpg().args(["--with-colons", "--fingerprint"])).stdout;
        let fingerprint = text(&listing)
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .and_then(|l| l.split(':').find(|f| f.len() == 40))
            .unwrap_or_else(|| panic!("no fingerprint in {}", text(&listing)))
            .to_owned();
        key.fingerprint = fingerprint;
        key
    }

    fn gpg(&self) -> Command {
        let mut cmd = Command::new(need("gpg", "gnupg"));
        cmd.env("GNUPGHOME", self.home.path())
            .args(["--batch", "--yes", "--quiet"]);
        cmd
    }

    pub fn export(&self, armor: bool) -> Vec<u8> {
        let mut cmd = self.gpg();
        if armor {
            cmd.arg("--armor");
        }
        run_checked(cmd.args(["--export", &self.fingerprint])).stdout
    }

    /// InRelease and Release.gpg for `dist/Release`.
    pub fn sign_release(&self, dist: &Path) {
        let release = dist.join("Release");
        run_checked(
            self.gpg()
                .args(["--digest-algo", "SHA256", "--clearsign", "-o"])
                .arg(dist.join("InRelease"))
                .arg(&release),
        );
        run_checked(
            self.gpg()
                .args(["--digest-algo", "SHA256", "--detach-sign", "--armor", "-o"])
                .arg(dist.join("Release.gpg"))
                .arg(&release),
        );
    }
}

impl Drop for SigningKey {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

fn tgz(name: &str, programs: &[&str]) -> Artifact {
    let root = workdir().join(format!("{name}-tgz"));
    stage(&root, programs);
    let out = workdir().join(format!("{name}-{VERSION}-standin.tgz"));
    // Relative member names (sbin/…, lib/…), owned by root.
    let mut tar = Command::new("tar");
    tar.arg("-C")
        .arg(&root)
        .args(["--owner=0", "--group=0", "--numeric-owner", "-czf"])
        .arg(&out);
    for top in fs::read_dir(&root).unwrap() {
        tar.arg(top.unwrap().file_name());
    }
    run_checked(&mut tar);
    Artifact::of(out)
}

/// `sbin/mesos-master`, `sbin/mesos-agent` (and `lib/mesos-standin/busybox`).
pub fn mesos_tgz() -> &'static Artifact {
    static TGZ: OnceLock<Artifact> = OnceLock::new();
    TGZ.get_or_init(|| tgz("mesos", &["sbin/mesos-master", "sbin/mesos-agent"]))
}

/// As [`mesos_tgz`], from a Mesos "built with SSL" (with
/// `lib/mesos-standin/with-ssl`): its agent knows
/// `--authenticate_http_executors` and `--executor_secret_key`.
pub fn mesos_tgz_with_ssl() -> &'static Artifact {
    static TGZ: OnceLock<Artifact> = OnceLock::new();
    TGZ.get_or_init(|| {
        let root = workdir().join("mesos-ssl-tgz");
        fs::create_dir_all(root.join("lib/mesos-standin")).unwrap();
        fs::write(root.join("lib/mesos-standin").join(SSL_MARKER), "").unwrap();
        tgz("mesos-ssl", &["sbin/mesos-master", "sbin/mesos-agent"])
    })
}

/// Lays out the three stand-ins as `root/sbin/{mesos-master,mesos-agent,
/// marathon}` with busybox in `root/lib/mesos-standin/`, "built with SSL"
/// when `ssl`, for tests that run them directly.
pub fn lay_out(root: &Path, ssl: bool) {
    stage(
        root,
        &["sbin/mesos-master", "sbin/mesos-agent", "sbin/marathon"],
    );
    if ssl {
        fs::write(root.join("lib/mesos-standin").join(SSL_MARKER), "").unwrap();
    }
}

/// `bin/marathon` (and `lib/mesos-standin/busybox`).
pub fn marathon_tgz() -> &'static Artifact {
    static TGZ: OnceLock<Artifact> = OnceLock::new();
    TGZ.get_or_init(|| tgz("marathon", &["bin/marathon"]))
}

/// [`IMAGE`]: busybox and the stand-ins, Marathon's as the entrypoint
/// (`--entrypoint mesos-master` runs the master), imported into the host's
/// Docker and saved to a tarball. Its Mesos is built without SSL (no
/// [`SSL_MARKER`]), so it ignores `LIBPROCESS_SSL_*` as such a build does;
/// it has no socat, which a TLS stand-in would stop asking for.
pub fn image() -> &'static SavedImage {
    static SAVED: OnceLock<SavedImage> = OnceLock::new();
    SAVED.get_or_init(|| {
        let root = workdir().join("image");
        for dir in ["bin", "tmp", "etc", "proc", "sys", "dev"] {
            fs::create_dir_all(root.join(dir)).unwrap();
        }
        fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
        write_exec(&root.join("bin/busybox"), &busybox());
        let applets = run_checked(Command::new("/bin/busybox").arg("--list")).stdout;
        // `--list` names busybox itself: linking it would make a loop.
        for applet in text(&applets).lines().filter(|a| *a != "busybox") {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
        }
        fs::write(root.join("etc/passwd"), "root:x:0:0:root:/:/bin/sh\n").unwrap();
        fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
        for program in [
            "usr/sbin/mesos-master",
            "usr/sbin/mesos-agent",
            "usr/share/marathon/bin/marathon",
        ] {
            write_exec(&root.join(program), SCRIPT.as_bytes());
        }
        super::systemd::import_root(
            &root,
            IMAGE,
            &["ENTRYPOINT [\"/usr/share/marathon/bin/marathon\"]"],
        );
        let out = workdir().join("standins-image.tar");
        run_checked(
            Command::new(need("docker", "docker.io"))
                .args(["save", "-o"])
                .arg(&out)
                .arg(IMAGE),
        );
        fs::set_permissions(&out, fs::Permissions::from_mode(0o644)).unwrap();
        SavedImage {
            archive: Artifact::of(out),
            image: IMAGE,
        }
    })
}

/// An HTTP/1.0 GET from this host: the status and the body.
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let bad = || std::io::Error::other(format!("not HTTP: {answer:?}"));
    let (head, body) = answer.split_once("\r\n\r\n").ok_or_else(bad)?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    Ok((status, body.to_owned()))
}

/// What a stand-in answered: the status, the header lines and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<String>,
    pub body: String,
}

impl Answer {
    /// The value of header `name` (case-insensitive), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find_map(|h| {
            let (k, v) = h.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// An HTTP/1.0 GET from this host with `authorization` as the
/// Authorization header (e.g. from [`basic`]), if any.
pub fn http_get_with(
    addr: SocketAddr,
    path: &str,
    authorization: Option<&str>,
) -> std::io::Result<Answer> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    exchange(&mut stream, addr, path, authorization)
}

/// The client side of a stand-in's TLS: the CA to trust (PEM) and, for a
/// server asking for one, a client certificate and key (PEM).
pub struct TlsClient {
    config: std::sync::Arc<rustls::ClientConfig>,
}

impl TlsClient {
    /// Trusts only the certificates in `ca_pem`; `identity` is a
    /// certificate chain and its key (PEM) to present when asked.
    pub fn new(ca_pem: &str, identity: Option<(&str, &str)>) -> TlsClient {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(cert.expect("a PEM certificate")).unwrap();
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let config = match identity {
            None => builder.with_no_client_auth(),
            Some((chain, key)) => builder
                .with_client_auth_cert(
                    CertificateDer::pem_slice_iter(chain.as_bytes())
                        .map(|c| c.expect("a PEM certificate"))
                        .collect(),
                    PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("a PEM key"),
                )
                .unwrap(),
        };
        TlsClient {
            config: std::sync::Arc::new(config),
        }
    }

    /// An HTTP/1.0 GET over TLS to `addr`, whose certificate must name
    /// `server_name` (a DNS name or an IP address) and chain to the CA.
    pub fn get(
        &self,
        addr: SocketAddr,
        server_name: &str,
        path: &str,
        authorization: Option<&str>,
    ) -> std::io::Result<Answer> {
        let name = rustls::pki_types::ServerName::try_from(server_name.to_owned())
            .map_err(std::io::Error::other)?;
        let conn = rustls::ClientConnection::new(self.config.clone(), name)
            .map_err(std::io::Error::other)?;
        let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        tcp.set_read_timeout(Some(Duration::from_secs(5)))?;
        exchange(
            &mut rustls::StreamOwned::new(conn, tcp),
            addr,
            path,
            authorization,
        )
    }
}

/// Sends the GET and reads the answer to the end of the stream.
fn exchange(
    stream: &mut (impl Read + Write),
    addr: SocketAddr,
    path: &str,
    authorization: Option<&str>,
) -> std::io::Result<Answer> {
    let auth = authorization.map_or_else(String::new, |a| format!("Authorization: {a}\r\n"));
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n{auth}\r\n")?;
    stream.flush()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let bad = || std::io::Error::other(format!("not HTTP: {answer:?}"));
    let (head, body) = answer.split_once("\r\n\r\n").ok_or_else(bad)?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    Ok(Answer {
        status,
        headers: lines.map(str::to_owned).collect(),
        body: body.to_owned(),
    })
}

/// The Authorization header value of HTTP basic auth.
pub fn basic(principal: &str, secret: &str) -> String {
    use base64::Engine as _;
    let pair = format!("{principal}:{secret}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// The variables of an EnvironmentFile as systemd reads it (comments and
/// blank lines skipped, one pair of double quotes with `\"` / `\\`
/// escapes removed), for comparing with what a stand-in recorded.
pub fn environment_file(contents: &str) -> BTreeMap<String, String> {
    contents
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        .map(|line| {
            let (key, value) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("not KEY=VALUE: {line:?}"));
            let value = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                Some(inner) => unescape(inner),
                None => value.to_owned(),
            };
            (key.trim().to_owned(), value)
        })
        .collect()
}

/// A double-quoted EnvironmentFile value as systemd reads it: a backslash
/// before `"`, `\\`, `$` or a backquote stands for that character; before
/// anything else it stays.
fn unescape(inner: &str) -> String {
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('\\', Some(&n)) if matches!(n, '"' | '\\' | '$' | '`') => {
                out.push(n);
                chars.next();
            }
            _ => out.push(c),
        }
    }
    out
}

/// A recorded `<name>.env` (`env | sort`): the variables starting with
/// `prefix`.
pub fn recorded_env(contents: &str, prefix: &str) -> BTreeMap<String, String> {
    contents
        .lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The `make install` tree of [`mesos_make_install_tgz`] packaged under
/// /usr as a .deb that declares no dependencies (as AVENTER's
/// `aventer-mesos` declares none): /usr/sbin/mesos-master and mesos-agent
/// are ELF programs needing /usr/lib/libmesos-1.11.0.so, which needs
/// libzookeeper_mt.so.2 (with `missing`, the programs also need
/// libmesos-standin-missing.so.1, which nothing provides). No maintainer
/// script runs ldconfig.
pub fn mesos_undeclared_deb(missing: bool) -> &'static Artifact {
    static PLAIN: OnceLock<Artifact> = OnceLock::new();
    static MISSING: OnceLock<Artifact> = OnceLock::new();
    let cell = if missing { &MISSING } else { &PLAIN };
    cell.get_or_init(|| {
        mesos_make_install_tgz(missing);
        let name = if missing { "tree-missing" } else { "tree" };
        let tree = workdir().join(format!("{name}-root"));
        let root = workdir().join(format!("{name}-deb"));
        fs::create_dir_all(root.join("DEBIAN")).unwrap();
        run_checked(Command::new("cp").arg("-a").arg(&tree).arg(root.join("usr")));
        fs::write(
            root.join("DEBIAN/control"),
            format!(
                "Package: mesos\nVersion: {VERSION}\nArchitecture: amd64\n\
                 Maintainer: mesos-docker tests <standin@mesos-docker.invalid>\n\
                 Section: misc\nPriority: optional\n\
                 Description: Mesos built from source, no dependencies declared (a test stand-in)\n \
                 ELF programs and libmesos; mesos-docker's tests only.\n"
            ),
        )
        .unwrap();
        let out = workdir().join(format!("mesos-{name}_{VERSION}_amd64.deb"));
        run_checked(
            Command::new(need("dpkg-deb", "dpkg"))
                .args(["--root-owner-group", "-Zgzip", "--build"])
                .arg(&root)
                .arg(&out),
        );
        Artifact::of(out)
    })
}

/// The C of the stand-in programs of a `make install` tree: real ELF
/// programs linked against the tree's libmesos (no rpath, as a plain
/// `make install` under a prefix the loader does not search leaves them),
/// so that they fail as the real ones do when the loader cannot find it
/// ("error while loading shared libraries: libmesos-1.11.0.so"), then run
/// the stand-in script named like them.
const TREE_MAIN_C: &str = r#"
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
extern const char *mesos_standin_version(void);
int main(int argc, char **argv) {
    (void)argc;
    char exe[PATH_MAX], script[PATH_MAX + 64], name[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n < 0) { perror("/proc/self/exe"); return 1; }
    exe[n] = 0;
    snprintf(name, sizeof name, "%s", argv[0]);
    const char *prefix = strstr(exe, "/libexec/mesos/") ? "/../.." : "/..";
    snprintf(script, sizeof script, "%s%s/lib/mesos-standin/%s",
             dirname(exe), prefix, basename(name));
    if (mesos_standin_version() == NULL) return 1;
    execv(script, argv);
    perror(script);
    return 127;
}
"#;

const TREE_LIB_C: &str = "const char *mesos_standin_version(void) { return \"1.11.0\"; }\n";

fn gcc(args: &[&str], dir: &Path) {
    run_checked(Command::new(need("gcc", "gcc")).current_dir(dir).args(args));
}

/// A Mesos tree as `make install` leaves it (bin, sbin, lib with
/// libmesos-1.11.0.so, libexec/mesos, share/mesos/webui), its programs ELF
/// files that need libmesos-1.11.0.so (from the tree's lib/), which needs
/// libzookeeper_mt.so.2 (which a fresh Debian 12 lacks and its
/// libzookeeper-mt2 package provides). With `missing`, the programs also
/// need libmesos-standin-missing.so.1, which nothing provides.
pub fn mesos_make_install_tgz(missing: bool) -> &'static Artifact {
    static PLAIN: OnceLock<Artifact> = OnceLock::new();
    static MISSING: OnceLock<Artifact> = OnceLock::new();
    let cell = if missing { &MISSING } else { &PLAIN };
    cell.get_or_init(|| {
        let name = if missing { "tree-missing" } else { "tree" };
        let build = workdir().join(format!("{name}-build"));
        let root = workdir().join(format!("{name}-root"));
        for d in [
            "bin",
            "sbin",
            "lib/mesos-standin",
            "libexec/mesos",
            "share/mesos/webui",
        ] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        fs::create_dir_all(build.join("stub")).unwrap();
        fs::write(build.join("main.c"), TREE_MAIN_C).unwrap();
        fs::write(build.join("mesos.c"), TREE_LIB_C).unwrap();
        fs::write(build.join("empty.c"), "int mesos_standin_stub;\n").unwrap();
        // Stubs that only give the files their DT_NEEDED entries; on the
        // node the real libzookeeper_mt.so.2 is loaded (nothing is used).
        for so in ["libzookeeper_mt.so.2", "libmesos-standin-missing.so.1"] {
            gcc(
                &[
                    "-shared",
                    "-fPIC",
                    "-o",
                    &format!("stub/{so}"),
                    &format!("-Wl,-soname,{so}"),
                    "empty.c",
                ],
                &build,
            );
        }
        let lib = root.join("lib/libmesos-1.11.0.so");
        gcc(
            &[
                "-shared",
                "-fPIC",
                "-o",
                lib.to_str().unwrap(),
                "-Wl,-soname,libmesos-1.11.0.so",
                "mesos.c",
                "-Wl,--no-as-needed",
                "stub/libzookeeper_mt.so.2",
            ],
            &build,
        );
        std::os::unix::fs::symlink("libmesos-1.11.0.so", root.join("lib/libmesos.so")).unwrap();
        let mut link = vec![
            "-o",
            "program",
            "main.c",
            "-Wl,-rpath-link,stub",
            "-Wl,--no-as-needed",
            lib.to_str().unwrap(),
        ];
        if missing {
            link.push("stub/libmesos-standin-missing.so.1");
        }
        gcc(&link, &build);
        let program = fs::read(build.join("program")).unwrap();
        for p in [
            "sbin/mesos-master",
            "sbin/mesos-agent",
            "libexec/mesos/mesos-executor",
            "libexec/mesos/mesos-containerizer",
        ] {
            write_exec(&root.join(p), &program);
        }
        for p in ["mesos-master", "mesos-agent"] {
            write_exec(&root.join("lib/mesos-standin").join(p), SCRIPT.as_bytes());
        }
        write_exec(&root.join("lib/mesos-standin/busybox"), &busybox());
        write_exec(
            &root.join("bin/mesos"),
            b"#!/bin/sh\necho 'mesos (a test stand-in)'\n",
        );
        fs::write(
            root.join("share/mesos/webui/index.html"),
            "<html><body>Mesos web UI (a test stand-in)</body></html>\n",
        )
        .unwrap();
        let out = workdir().join(format!("mesos-{name}-{VERSION}.tgz"));
        run_checked(
            Command::new("tar")
                .arg("-C")
                .arg(&root)
                .args(["--owner=0", "--group=0", "--numeric-owner", "-czf"])
                .arg(&out)
                .args(["bin", "sbin", "lib", "libexec", "share"]),
        );
        Artifact::of(out)
    })
}
