//! A file mirror for tests: tests/support/release_server.py serving a
//! directory over HTTPS with a test CA made by openssl (or plain HTTP), and
//! logging every request; plus the small process helpers the tests share.
#![allow(dead_code)]

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;

use tempfile::TempDir;

const STANDARD_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(std::env::split_paths(STANDARD_PATH))
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// The path of a tool the test drives; fails, never skips, when it is missing.
pub fn need(tool: &str, package: &str) -> PathBuf {
    which(tool).unwrap_or_else(|| {
        panic!("{tool} not found: install it (apt-get install {package}) to run this test")
    })
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn run_checked(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

pub fn make_readable_by_all(dir: &Path) {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// A test CA and a server certificate for 127.0.0.1 it signed, made once per
/// test process with the openssl command line.
pub struct Tls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub fn tls() -> &'static Tls {
    static TLS: OnceLock<Tls> = OnceLock::new();
    TLS.get_or_init(|| {
        let openssl = need("openssl", "openssl");
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("install-sh-tls-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("create the TLS directory");
        make_readable_by_all(&dir);
        fs::write(
            dir.join("ca.cnf"),
            "[req]\ndistinguished_name = dn\nx509_extensions = ca_ext\nprompt = no\n\
             [dn]\nCN = mesos-docker test CA\n\
             [ca_ext]\nbasicConstraints = critical,CA:TRUE\n\
             keyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n",
        )
        .unwrap();
        // Every address of this host, so that containers can be served from
        // their gateway (see `Server::start_at`).
        let names: String = host_ipv4s().iter().map(|ip| format!(",IP:{ip}")).collect();
        fs::write(
            dir.join("server.ext"),
            format!(
                "basicConstraints = CA:FALSE\nsubjectAltName = DNS:localhost{names}\n\
                 extendedKeyUsage = serverAuth\n"
            ),
        )
        .unwrap();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        run_checked(
            Command::new(&openssl)
                .current_dir(&dir)
                .args(["req", "-x509", "-config", "ca.cnf", "-days", "2"])
                .args(ec)
                .args(["-keyout", "ca.key", "-out", "ca.pem"]),
        );
        run_checked(
            Command::new(&openssl)
                .current_dir(&dir)
                .args(["req", "-config", "ca.cnf", "-subj", "/CN=127.0.0.1"])
                .args(ec)
                .args(["-keyout", "server.key", "-out", "server.csr"]),
        );
        run_checked(Command::new(&openssl).current_dir(&dir).args([
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ]));
        fs::set_permissions(dir.join("ca.pem"), fs::Permissions::from_mode(0o644)).unwrap();
        Tls {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
        }
    })
}

/// This host's IPv4 addresses (127.0.0.1 first), from `ip -4 -o addr`.
pub fn host_ipv4s() -> Vec<String> {
    let mut ips = vec!["127.0.0.1".to_owned()];
    if let Some(ip) = which("ip") {
        let out = run_checked(Command::new(ip).args(["-4", "-o", "addr", "show"]));
        for line in text(&out.stdout).lines() {
            let mut words = line.split_whitespace().skip_while(|w| *w != "inet");
            if let Some(addr) = words.nth(1).and_then(|a| a.split('/').next())
                && !ips.iter().any(|i| i == addr)
            {
                ips.push(addr.to_owned());
            }
        }
    }
    ips
}

/// tests/support/release_server.py serving a directory over HTTPS (test CA)
/// or HTTP; `requests()` is what it saw.
pub struct Server {
    child: Child,
    pub port: u16,
    https: bool,
    host: String,
    log: PathBuf,
    _logdir: TempDir,
}

impl Server {
    pub fn start(root: &Path, https: bool, http_port: Option<u16>) -> Server {
        Server::start_on(root, https, http_port, "127.0.0.1")
    }

    /// Serves on `host` (an address of this host, e.g. a container's
    /// gateway: the test CA's certificate names them all).
    pub fn start_at(root: &Path, https: bool, host: &str) -> Server {
        Server::start_on(root, https, None, host)
    }

    fn start_on(root: &Path, https: bool, http_port: Option<u16>, host: &str) -> Server {
        let python = need("python3", "python3");
        let logdir = TempDir::new().unwrap();
        let log = logdir.path().join("requests.log");
        fs::write(&log, "").unwrap();
        let mut cmd = Command::new(python);
        cmd.arg(repo().join("tests/support/release_server.py"))
            .arg("--root")
            .arg(root)
            .arg("--log")
            .arg(&log)
            .args(["--bind", host])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if https {
            let tls = tls();
            cmd.arg("--cert").arg(&tls.cert).arg("--key").arg(&tls.key);
        }
        if let Some(port) = http_port {
            cmd.arg("--http-port").arg(port.to_string());
        }
        let mut child = cmd.spawn().expect("start release_server.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("read the server's port");
        let port = line
            .strip_prefix("PORT ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("release_server.py did not start: {line:?}"));
        Server {
            child,
            port,
            https,
            host: host.to_owned(),
            log,
            _logdir: logdir,
        }
    }

    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}:{}", self.host, self.port)
    }

    pub fn requests(&self) -> Vec<String> {
        fs::read_to_string(&self.log)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    pub fn fetched(&self, file: &str) -> bool {
        self.requests()
            .iter()
            .any(|r| r.starts_with("GET ") && r.contains(&format!("/{file} ")))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
