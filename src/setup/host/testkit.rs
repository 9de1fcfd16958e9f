//! Test doubles for the [`System`](super::system::System) seam, for the unit
//! tests, the integration tests and the benches; compiled only for tests or
//! with the `testkit` feature, never into a release build.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::system::{Output, Runner, TlsPeer, TlsTalkError};

/// Records every command and answers from a table keyed by the whole command
/// line (`"uname -m"`); a command missing from the table behaves like a
/// program that is not installed. systemctl's unit-file queries and changes
/// (`is-enabled`, `list-unit-files`, `enable`, `disable`, with or without
/// `--root=`) are answered from a table of unit states instead, which
/// `enable` and `disable` update as systemd would; `is-active`, `start` and
/// `restart` (and upstart's `status`, `start`, `stop`) are played from a set
/// of running units.
#[derive(Debug, Default)]
pub struct RecordingRunner {
    answers: Mutex<HashMap<String, Output>>,
    /// Unit name → unit file state ("enabled", "disabled", ...); units not
    /// in it do not exist.
    units: Mutex<BTreeMap<String, String>>,
    /// Units running now; `start` and `restart` add to it.
    active: Mutex<BTreeSet<String>>,
    calls: Mutex<Vec<String>>,
    apt: Mutex<Option<AptPlay>>,
    docker: Mutex<Option<DockerPlay>>,
}

/// Docker's image store as the recording runner plays it.
#[derive(Debug)]
struct DockerPlay {
    pullable: Vec<String>,
    archives: Vec<(String, String)>,
    images: BTreeSet<String>,
}

impl DockerPlay {
    fn run(&mut self, args: &[&str]) -> Option<Output> {
        Some(match args {
            ["image", "inspect", "--format", _, image] => {
                if self.images.contains(*image) {
                    Output::ok("sha256:0000\n")
                } else {
                    Output::failed(&format!("Error: No such image: {image}"))
                }
            }
            ["pull", image] => {
                if self.pullable.iter().any(|p| p == image) {
                    self.images.insert(image.to_string());
                    Output::ok("")
                } else {
                    Output::failed(&format!(
                        "Error response from daemon: pull access denied for {image}"
                    ))
                }
            }
            ["load", "-i", path] => match self.archives.iter().find(|(a, _)| path.ends_with(a)) {
                Some((_, image)) => {
                    self.images.insert(image.clone());
                    Output::ok(&format!("Loaded image: {image}\n"))
                }
                None => Output::failed("open: no such file or directory"),
            },
            ["rmi", image] => {
                if self.images.remove(*image) {
                    Output::ok("")
                } else {
                    Output::failed(&format!("Error: No such image: {image}"))
                }
            }
            _ => return None,
        })
    }
}

/// apt and dpkg as the recording runner plays them: an archive of package
/// versions that apt-cache knows once the index is fresh, and a dpkg status
/// file under a root that installs and purges edit.
#[derive(Debug)]
struct AptPlay {
    status: PathBuf,
    archive: BTreeMap<String, String>,
    fresh: bool,
    /// .deb files by the end of their path: (package, version).
    debs: BTreeMap<String, (String, String)>,
}

impl AptPlay {
    fn deb(&self, path: &str) -> Option<&(String, String)> {
        self.debs
            .iter()
            .find(|(end, _)| path.ends_with(end.as_str()))
            .map(|(_, pv)| pv)
    }

    fn run(&mut self, args: &[&str]) -> Option<Output> {
        if let ["-f", path, "Package", "Version"] = args {
            return Some(match self.deb(path) {
                Some((p, v)) => Output::ok(&format!("Package: {p}\nVersion: {v}\n")),
                None => Output::failed(&format!(
                    "dpkg-deb: error: '{path}' is not a Debian format archive"
                )),
            });
        }
        let apt_get = match args {
            ["policy", name] => {
                return Some(match self.archive.get(*name) {
                    Some(v) if self.fresh => {
                        Output::ok(&format!("{name}:\n  Installed: (none)\n  Candidate: {v}\n"))
                    }
                    _ => Output::ok(""),
                });
            }
            ["DEBIAN_FRONTEND=noninteractive", "apt-get", rest @ ..] => rest,
            _ => return None,
        };
        let mut names = Vec::new();
        let mut skip = false;
        for a in &apt_get[1..] {
            if std::mem::take(&mut skip) {
                continue;
            }
            match *a {
                "-o" => skip = true,
                a if a.starts_with('-') => {}
                a => names.push(a.split('=').next().unwrap_or(a).to_owned()),
            }
        }
        let status = std::fs::read_to_string(&self.status).unwrap_or_default();
        let mut stanzas: Vec<String> = status
            .split("\n\n")
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.trim().to_owned())
            .collect();
        let of = |s: &String, n: &str| s.lines().any(|l| l == format!("Package: {n}"));
        match apt_get.first() {
            Some(&"update") => {
                self.fresh = true;
                return Some(Output::ok(""));
            }
            Some(&"install") => {
                for n in &names {
                    let (pkg, v) = if n.ends_with(".deb") {
                        match self.deb(n) {
                            Some(pv) => pv.clone(),
                            None => {
                                return Some(Output::failed(&format!("E: Unsupported file {n}")));
                            }
                        }
                    } else {
                        match self.archive.get(n).filter(|_| self.fresh) {
                            Some(v) => (n.clone(), v.clone()),
                            None => {
                                return Some(Output::failed(&format!(
                                    "E: Unable to locate package {n}"
                                )));
                            }
                        }
                    };
                    stanzas.retain(|s| !of(s, &pkg));
                    stanzas.push(format!(
                        "Package: {pkg}\nStatus: install ok installed\nVersion: {v}"
                    ));
                }
            }
            Some(&"purge") => stanzas.retain(|s| !names.iter().any(|n| of(s, n))),
            _ => return None,
        }
        let mut text = stanzas.join("\n\n");
        if !text.is_empty() {
            text.push('\n');
        }
        std::fs::create_dir_all(self.status.parent()?).ok()?;
        std::fs::write(&self.status, text).ok()?;
        Some(Output::ok(""))
    }
}

impl RecordingRunner {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the answer to one command line (program and arguments joined by spaces).
    pub fn answer(&self, command_line: &str, output: Output) {
        self.answers
            .lock()
            .expect("runner table")
            .insert(command_line.to_owned(), output);
    }

    /// Declares a unit file and its state.
    pub fn unit(&self, name: &str, state: &str) {
        self.units
            .lock()
            .expect("unit table")
            .insert(name.to_owned(), state.to_owned());
    }

    /// Plays apt-get, apt-cache and dpkg against `root`'s status database,
    /// with `archive` (name, version) the packages apt can install; `fresh`
    /// says whether apt's index already knows them (else after `update`).
    pub fn apt(&self, root: &Path, archive: &[(&str, &str)], fresh: bool) {
        *self.apt.lock().expect("apt play") = Some(AptPlay {
            status: root.join("var/lib/dpkg/status"),
            archive: archive
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            fresh,
            debs: BTreeMap::new(),
        });
    }

    /// A .deb file (found by the end of its path) that `dpkg-deb -f` reads
    /// and `apt-get install PATH` installs; needs [`apt`](Self::apt) first.
    pub fn deb(&self, path_end: &str, package: &str, version: &str) {
        if let Some(play) = self.apt.lock().expect("apt play").as_mut() {
            play.debs.insert(
                path_end.to_owned(),
                (package.to_owned(), version.to_owned()),
            );
        }
    }

    /// Plays Docker's image commands: `image inspect`, `pull` (of the
    /// `pullable` images), `load -i` (of archives found by the end of their
    /// path, holding one image each) and `rmi`.
    pub fn docker_images(&self, pullable: &[&str], archives: &[(&str, &str)]) {
        *self.docker.lock().expect("docker play") = Some(DockerPlay {
            pullable: pullable.iter().map(|s| s.to_string()).collect(),
            archives: archives
                .iter()
                .map(|(a, i)| (a.to_string(), i.to_string()))
                .collect(),
            images: Default::default(),
        });
    }

    /// The images the played Docker holds now.
    pub fn images(&self) -> Vec<String> {
        self.docker
            .lock()
            .expect("docker play")
            .as_ref()
            .map(|d| d.images.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Every command run so far, in order.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().expect("runner calls").clone()
    }

    /// Upstart's `status`, `start` and `stop JOB`, played from the set of
    /// running units as upstart 1.12 answers them.
    fn upstart(&self, program: &str) -> Option<impl Fn(&str) -> Output + '_> {
        matches!(program, "status" | "start" | "stop").then(|| {
            let program = program.to_owned();
            move |job: &str| {
                let mut active = self.active.lock().expect("active units");
                let on = active.contains(job);
                match (program.as_str(), on) {
                    ("status", true) => Output::ok(&format!("{job} start/running, process 4242\n")),
                    ("status", false) => Output::ok(&format!("{job} stop/waiting\n")),
                    ("start", false) => {
                        active.insert(job.to_owned());
                        Output::ok(&format!("{job} start/running, process 4242\n"))
                    }
                    ("start", true) => Output::failed("start: Job is already running\n"),
                    ("stop", true) => {
                        active.remove(job);
                        Output::ok(&format!("{job} stop/waiting\n"))
                    }
                    _ => Output::failed(&format!("stop: Unknown instance: {job}\n")),
                }
            }
        })
    }

    /// systemctl's unit-file verbs, played from the unit table.
    fn systemctl(&self, args: &[&str]) -> Option<Output> {
        let args = match args {
            [root, rest @ ..] if root.starts_with("--root=") => rest,
            _ => args,
        };
        let mut units = self.units.lock().expect("unit table");
        match args {
            ["is-enabled", unit] => Some(match units.get(*unit) {
                Some(state) => Output {
                    success: state == "enabled",
                    stdout: format!("{state}\n"),
                    stderr: String::new(),
                },
                None => Output::failed(&format!(
                    "Failed to get unit file state for {unit}: No such file or directory"
                )),
            }),
            ["list-unit-files", rest @ ..] => {
                let listed: Vec<String> = rest
                    .iter()
                    .filter(|a| !a.starts_with("--"))
                    .filter_map(|u| units.get(*u).map(|state| format!("{u} {state} enabled\n")))
                    .collect();
                Some(Output {
                    success: !listed.is_empty(),
                    stdout: listed.concat(),
                    stderr: String::new(),
                })
            }
            ["is-active", unit] => {
                let on = self.active.lock().expect("active units").contains(*unit);
                Some(Output {
                    success: on,
                    stdout: if on { "active\n" } else { "inactive\n" }.into(),
                    stderr: String::new(),
                })
            }
            [verb @ ("start" | "restart"), unit] => Some(if units.contains_key(*unit) {
                self.active
                    .lock()
                    .expect("active units")
                    .insert(unit.to_string());
                Output::ok("")
            } else {
                Output::failed(&format!("Failed to {verb} {unit}: Unit {unit} not found."))
            }),
            ["stop", unit] => Some(if units.contains_key(*unit) {
                self.active.lock().expect("active units").remove(*unit);
                Output::ok("")
            } else {
                Output::failed(&format!("Failed to stop {unit}: Unit {unit} not loaded."))
            }),
            [verb @ ("enable" | "disable"), unit] => Some(match units.get_mut(*unit) {
                Some(state) => {
                    *state = if *verb == "enable" {
                        "enabled"
                    } else {
                        "disabled"
                    }
                    .into();
                    Output::ok("")
                }
                None => Output::failed(&format!(
                    "Failed to {verb} unit: Unit file {unit} does not exist."
                )),
            }),
            _ => None,
        }
    }
}

impl Runner for RecordingRunner {
    fn run(&self, program: &str, args: &[&str]) -> io::Result<Output> {
        let mut line = program.to_owned();
        for a in args {
            line.push(' ');
            line.push_str(a);
        }
        self.calls.lock().expect("runner calls").push(line.clone());
        if let Some(out) = self.answers.lock().expect("runner table").get(&line) {
            return Ok(out.clone());
        }
        if program == "systemctl"
            && let Some(out) = self.systemctl(args)
        {
            return Ok(out);
        }
        if let (Some(out), [job]) = (self.upstart(program), args) {
            return Ok(out(job));
        }
        // A played apt's packages hold no libraries: the loader's cache
        // has nothing to add.
        if program == "ldconfig" && self.apt.lock().expect("apt play").is_some() {
            return Ok(Output::ok(""));
        }
        if matches!(program, "apt-cache" | "env" | "dpkg-deb")
            && let Some(play) = self.apt.lock().expect("apt play").as_mut()
            && let Some(out) = play.run(args)
        {
            return Ok(out);
        }
        if program == "docker"
            && let Some(play) = self.docker.lock().expect("docker play").as_mut()
            && let Some(out) = play.run(args)
        {
            return Ok(out);
        }
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{program}: not in the test runner's table"),
        ))
    }

    /// Recorded as `tcp ADDR SEND` and answered (its stdout) from the table
    /// under that line; a missing answer is a refused connection.
    fn talk(&self, addr: &str, send: &str) -> io::Result<String> {
        let line = format!("tcp {addr} {send}");
        self.calls.lock().expect("runner calls").push(line.clone());
        match self.answers.lock().expect("runner table").get(&line) {
            Some(out) if out.success => Ok(out.stdout.clone()),
            _ => Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("{addr}: connection refused (test runner)"),
            )),
        }
    }

    /// Recorded as [`tls_line`] and answered from the table under it, as
    /// [`talk`](Runner::talk) is: the line names the server name and the
    /// CA, so a test proves which ones were asked for. It verifies
    /// nothing: real handshakes are tested against real servers. An
    /// address the table answers only in plain text is a server without
    /// TLS (it answers a TLS hello with bytes that are not TLS).
    fn talk_tls(&self, addr: &str, send: &str, peer: &TlsPeer) -> Result<String, TlsTalkError> {
        let line = tls_line(addr, send, peer);
        self.calls.lock().expect("runner calls").push(line.clone());
        let answers = self.answers.lock().expect("runner table");
        match answers.get(&line) {
            Some(out) if out.success => Ok(out.stdout.clone()),
            _ if answers
                .keys()
                .any(|k| k.starts_with(&format!("tcp {addr} "))) =>
            {
                Err(TlsTalkError::NotTls("it answered bytes that are not TLS"))
            }
            _ => Err(TlsTalkError::Io(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("{addr}: connection refused (test runner)"),
            ))),
        }
    }

    fn is_host(&self) -> bool {
        false
    }
}

/// How the recording runner records a TLS exchange: `tls ADDR NAME
/// ca=<first 12 hex digits of the CA PEM's SHA-256> SEND`.
pub fn tls_line(addr: &str, send: &str, peer: &TlsPeer) -> String {
    use sha2::Digest;
    let ca = hex::encode(sha2::Sha256::digest(peer.ca_pem.as_bytes()));
    format!("tls {addr} {} ca={} {send}", peer.server_name, &ca[..12])
}

/// A TLS server on a loopback port, for tests of the TLS seam: rustls with
/// `cert_pem` and `key_pem` (as `plan::tls::issue` makes them), answering
/// each HTTP request with `answer(basic)` (`Some("user:secret")` when it
/// carried basic credentials) and a `{}` body. Every request that got past
/// the handshake is logged by its decoded credentials, so a test can prove
/// what a server it must not trust never received.
type Answer = std::sync::Arc<dyn Fn(Option<&str>) -> u16 + Send + Sync>;

pub struct TlsServer {
    pub addr: String,
    pub seen: std::sync::Arc<Mutex<Vec<Option<String>>>>,
}

impl TlsServer {
    pub fn start(
        cert_pem: &str,
        key_pem: &str,
        answer: impl Fn(Option<&str>) -> u16 + Send + Sync + 'static,
    ) -> TlsServer {
        let answer: Answer = std::sync::Arc::new(answer);
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("a PEM certificate");
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("a PEM key");
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = std::sync::Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("TLS versions")
                .with_no_client_auth()
                .with_single_cert(certs, key)
                .expect("the certificate and its key"),
        );
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let addr = l.local_addr().expect("its address").to_string();
        let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for sock in l.incoming() {
                let Ok(sock) = sock else { continue };
                let (config, log, answer) = (config.clone(), log.clone(), answer.clone());
                std::thread::spawn(move || Self::serve(config, sock, &log, &*answer));
            }
        });
        TlsServer { addr, seen }
    }

    fn serve(
        config: std::sync::Arc<rustls::ServerConfig>,
        mut sock: std::net::TcpStream,
        log: &Mutex<Vec<Option<String>>>,
        answer: &(dyn Fn(Option<&str>) -> u16 + Send + Sync),
    ) -> Option<()> {
        use base64::Engine;
        use std::io::{Read, Write};
        sock.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .ok()?;
        let mut conn = rustls::ServerConnection::new(config).ok()?;
        let mut tls = rustls::Stream::new(&mut conn, &mut sock);
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = tls.read(&mut buf).ok()?;
            if n == 0 {
                return None;
            }
            got.extend_from_slice(&buf[..n]);
        }
        let request = String::from_utf8_lossy(&got).into_owned();
        let basic = request
            .lines()
            .find_map(|l| l.strip_prefix("Authorization: Basic "))
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned());
        log.lock().expect("server log").push(basic.clone());
        let status = answer(basic.as_deref());
        tls.write_all(
            format!("HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}")
                .as_bytes(),
        )
        .ok()?;
        tls.conn.send_close_notify();
        tls.flush().ok()?;
        Some(())
    }

    /// The port, for checks that dial `ip:port`.
    pub fn port(&self) -> u16 {
        self.addr
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recording_runner_answers_and_records() {
        let r = RecordingRunner::new();
        r.unit("x", "disabled");
        assert!(r.run("uname", &["-m"]).is_err());
        assert!(r.run("systemctl", &["enable", "x"]).unwrap().success);
        assert_eq!(
            r.run("systemctl", &["is-enabled", "x"]).unwrap().stdout,
            "enabled\n"
        );
        assert_eq!(
            r.run("systemctl", &["list-unit-files", "--no-legend", "x", "y"])
                .unwrap()
                .stdout,
            "x enabled enabled\n"
        );
        assert!(!r.run("systemctl", &["enable", "y"]).unwrap().success);
        assert_eq!(
            r.calls(),
            vec![
                "uname -m",
                "systemctl enable x",
                "systemctl is-enabled x",
                "systemctl list-unit-files --no-legend x y",
                "systemctl enable y",
            ]
        );
    }
}
