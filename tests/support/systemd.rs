//! Debian images made with debootstrap and imported into Docker (built once,
//! then reused by name), and Debian 12 containers booted with systemd as PID
//! 1 (`Node`), for the tests and benches that need a real init system, real
//! apt and a Docker daemon inside: the `systemd`, `ensemble` and `faults`
//! modules of tests/setup/, and benches/setup_node.rs.
//!
//! ```ignore
//! let node = Node::boot();                      // Debian 12, systemd running
//! node.install_binary();                        // where install.sh puts it
//! let run = node.setup(&["--role", "standalone", "--yes"]).ok();
//! assert_eq!(node.sh("systemctl is-active zookeeper").trim(), "active");
//! // Several nodes reaching each other by name, each with its own apt cache:
//! let net = Network::create("mesos-docker-ensemble");
//! let n1 = Boot::new().network(&net).hostname("n1").own_apt_cache().boot();
//! ```                                           // containers go on drop
//!
//! Downloaded packages are kept on the host between runs
//! (`MESOS_DOCKER_TEST_APT_CACHE`, default
//! /var/cache/mesos-docker-test/apt-archives). apt locks `archives/lock` for
//! the whole of an install, so nodes sharing that directory install one at a
//! time; nodes that run at once take `own_apt_cache()`: a directory of hard
//! links to the shared cache (they cost nothing), whose new packages are
//! linked back when the node goes.
#![allow(dead_code)]

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::mirror::{need, run_checked, text};

const STANDARD_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Where setup is installed in the nodes, as install.sh puts it.
pub const BINARY: &str = "/usr/local/bin/mesos-docker";

/// A root made by debootstrap and imported as a Docker image.
pub struct Debootstrapped {
    pub image: &'static str,
    /// Debian's code name, e.g. `bookworm`.
    pub suite: &'static str,
    /// Packages beyond minbase.
    pub include: &'static [&'static str],
    /// The image's default command.
    pub cmd: &'static str,
}

/// Debian 12 with systemd, ready to boot as PID 1.
pub const DEBIAN12_SYSTEMD: Debootstrapped = Debootstrapped {
    image: "mesos-docker-test/debian12-systemd",
    suite: "bookworm",
    // socat: the Mesos stand-ins serve TLS through it (standin.sh).
    include: &["systemd", "systemd-sysv", "dbus", "socat"],
    cmd: "/lib/systemd/systemd",
};

/// Debian 11 minbase (glibc 2.31), for the release binary.
pub const DEBIAN11: Debootstrapped = Debootstrapped {
    image: "mesos-docker-test/debian11",
    suite: "bullseye",
    include: &[],
    cmd: "/bin/sh",
};

/// The image label naming the packages an image was debootstrapped with.
const INCLUDE_LABEL: &str = "mesos-docker.include";

/// The packages `image` was built with (from [`INCLUDE_LABEL`]; an image
/// from before the label says none), or None when there is no such image.
fn image_includes(image: &str) -> Option<Vec<String>> {
    let out = Command::new(need("docker", "docker.io"))
        .args(["image", "inspect", "--format"])
        .arg(format!(
            "{{{{ index .Config.Labels \"{INCLUDE_LABEL}\" }}}}"
        ))
        .arg(image)
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    Some(
        text(&out.stdout)
            .trim()
            .split(',')
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect(),
    )
}

impl Debootstrapped {
    /// The image, built on first use (`DEBIAN_MIRROR` chooses the archive).
    pub fn ensure(&self) -> &'static str {
        // Two tests (or nodes) of one process must not debootstrap the same
        // image twice.
        static BUILDING: Mutex<()> = Mutex::new(());
        let _one = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
        // An image built before a package joined `include` is built again;
        // one with more packages (another branch's) is kept.
        if image_includes(self.image)
            .is_some_and(|has| self.include.iter().all(|p| has.iter().any(|h| h == p)))
        {
            return self.image;
        }
        let debootstrap = need("debootstrap", "debootstrap");
        let root = tempfile::tempdir().unwrap();
        let mirror = std::env::var("DEBIAN_MIRROR")
            .unwrap_or_else(|_| "http://deb.debian.org/debian".into());
        let mut cmd = Command::new(debootstrap);
        cmd.arg("--variant=minbase");
        if !self.include.is_empty() {
            cmd.arg(format!("--include={}", self.include.join(",")));
        }
        run_checked(cmd.arg(self.suite).arg(root.path()).arg(&mirror));
        let mut changes = vec![format!("CMD [\"{}\"]", self.cmd)];
        if !self.include.is_empty() {
            changes.push(format!("LABEL {INCLUDE_LABEL}={}", self.include.join(",")));
        }
        let changes: Vec<&str> = changes.iter().map(String::as_str).collect();
        import_root(root.path(), self.image, &changes);
        self.image
    }
}

/// `docker import`s the directory `root` as `image` with the standard PATH
/// and the given Dockerfile `changes`.
pub fn import_root(root: &Path, image: &str, changes: &[&str]) {
    let mut tar = Command::new("tar")
        .arg("-C")
        .arg(root)
        .args(["-c", "."])
        .stdout(Stdio::piped())
        .spawn()
        .expect("tar runs");
    let mut import = Command::new(need("docker", "docker.io"));
    import
        .args(["import", "-c"])
        .arg(format!("ENV PATH={STANDARD_PATH}"));
    for change in changes {
        import.args(["-c", change]);
    }
    run_checked(import.args(["-", image]).stdin(tar.stdout.take().unwrap()));
    assert!(
        tar.wait().unwrap().success(),
        "tar of {} for {image} failed",
        root.display()
    );
}

/// The host's cache of the packages the nodes' apt downloaded, so that a
/// second test run downloads nothing (`MESOS_DOCKER_TEST_APT_CACHE`
/// overrides).
pub fn shared_apt_cache() -> PathBuf {
    let dir = PathBuf::from(
        std::env::var("MESOS_DOCKER_TEST_APT_CACHE")
            .unwrap_or_else(|_| "/var/cache/mesos-docker-test/apt-archives".into()),
    );
    std::fs::create_dir_all(dir.join("partial")).unwrap();
    dir
}

fn debs(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.ends_with(".deb"))
                .collect()
        })
        .unwrap_or_default()
}

/// One node's apt archive directory: hard links to the shared cache, linked
/// back into it on drop.
pub struct AptCache {
    dir: tempfile::TempDir,
    shared: PathBuf,
}

impl AptCache {
    pub fn new() -> AptCache {
        let shared = shared_apt_cache();
        let dir = tempfile::Builder::new()
            .prefix("apt-archives.")
            .tempdir_in(shared.parent().expect("the cache has a parent"))
            .unwrap();
        for name in debs(&shared) {
            std::fs::hard_link(shared.join(&name), dir.path().join(&name)).unwrap();
        }
        std::fs::create_dir(dir.path().join("partial")).unwrap();
        AptCache { dir, shared }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for AptCache {
    fn drop(&mut self) {
        for name in debs(self.dir.path()) {
            // Another node may have brought the same file back first.
            let _ = std::fs::hard_link(self.dir.path().join(&name), self.shared.join(&name));
        }
    }
}

/// A user-defined Docker network (its embedded DNS resolves the nodes'
/// host names), removed on drop: declare it before its nodes.
pub struct Network {
    pub name: String,
}

impl Network {
    /// `<prefix>-<this process's id>`.
    pub fn create(prefix: &str) -> Network {
        let name = format!("{prefix}-{}", std::process::id());
        run_checked(Command::new(need("docker", "docker.io")).args(["network", "create", &name]));
        Network { name }
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["network", "rm", &self.name])
            .output();
    }
}

/// How to boot a node; `Boot::new()` is a Debian 12 container on Docker's
/// default bridge using the shared apt cache.
#[derive(Clone)]
pub struct Boot<'a> {
    image: &'a Debootstrapped,
    network: Option<&'a Network>,
    hostname: Option<&'a str>,
    /// (host path, path in the node) bind mounts beyond the standard ones.
    mounts: Vec<(PathBuf, String)>,
    own_apt_cache: bool,
}

impl Default for Boot<'_> {
    fn default() -> Self {
        Boot {
            image: &DEBIAN12_SYSTEMD,
            network: None,
            hostname: None,
            mounts: Vec::new(),
            own_apt_cache: false,
        }
    }
}

impl<'a> Boot<'a> {
    pub fn new() -> Boot<'a> {
        Boot::default()
    }

    /// An image whose default command is systemd (built on first use).
    pub fn image(mut self, image: &'a Debootstrapped) -> Self {
        self.image = image;
        self
    }

    /// On `network`, instead of the default bridge.
    pub fn network(mut self, network: &'a Network) -> Self {
        self.network = Some(network);
        self
    }

    /// Its host name, by which the others on its network reach it too.
    pub fn hostname(mut self, hostname: &'a str) -> Self {
        self.hostname = Some(hostname);
        self
    }

    /// Binds the host's `from` at `to` in the node.
    pub fn mount(mut self, from: &Path, to: &str) -> Self {
        self.mounts.push((from.to_owned(), to.to_owned()));
        self
    }

    /// Its own apt archive directory (see [`AptCache`]), for nodes that
    /// install at the same time.
    pub fn own_apt_cache(mut self) -> Self {
        self.own_apt_cache = true;
        self
    }

    /// `docker run`'s arguments, with the node's apt archive directory.
    fn run_args(&self, image: &str, archives: &Path) -> Vec<String> {
        let mut args: Vec<String> = [
            "run",
            "-d",
            "--label",
            "mesos-docker-test=systemd-node",
            // systemd mounts its own cgroups and tmpfs (--privileged is not
            // allowed on this host).
            "--cap-add",
            "SYS_ADMIN",
            // A Docker daemon inside sets up its NAT chains.
            "--cap-add",
            "NET_ADMIN",
            "--security-opt",
            "seccomp=unconfined",
            "--tmpfs",
            "/run",
            "--tmpfs",
            "/run/lock",
            "-v",
            "/sys/fs/cgroup:/sys/fs/cgroup:rw",
        ]
        .map(String::from)
        .to_vec();
        let mounts = std::iter::once((archives.to_owned(), "/var/cache/apt/archives".to_owned()))
            .chain(self.mounts.iter().cloned());
        for (from, to) in mounts {
            args.extend(["-v".into(), format!("{}:{to}", from.display())]);
        }
        if let Some(net) = self.network {
            args.extend(["--network".into(), net.name.clone()]);
        }
        if let Some(h) = self.hostname {
            args.extend(["--hostname".into(), h.into()]);
            if self.network.is_some() {
                args.extend(["--network-alias".into(), h.into()]);
            }
        }
        args.extend([image.into(), self.image.cmd.into()]);
        args
    }

    /// Starts the container and waits until systemd runs in it.
    pub fn boot(&self) -> Node {
        let image = self.image.ensure();
        let cache = self.own_apt_cache.then(AptCache::new);
        let archives = cache
            .as_ref()
            .map_or_else(shared_apt_cache, |c| c.path().to_owned());
        let out = run_checked(
            Command::new(need("docker", "docker.io")).args(self.run_args(image, &archives)),
        );
        let id = text(&out.stdout).trim().to_owned();
        let name = self
            .hostname
            .map_or_else(|| id[..12].to_owned(), str::to_owned);
        let node = Node {
            id,
            name,
            _cache: cache,
        };
        node.await_systemd();
        node
    }
}

/// One run of `mesos-docker setup` (or any command) in a node.
pub struct Run {
    pub stdout: String,
    pub stderr: String,
    pub status: ExitStatus,
    pub took: Duration,
}

impl Run {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    pub fn has(&self, needle: &str) -> bool {
        self.stdout.contains(needle)
    }

    /// Panics with the whole report unless the run succeeded.
    pub fn ok(self) -> Run {
        assert!(self.success(), "{self}");
        self
    }
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} after {:?}\n--- stdout\n{}--- stderr\n{}",
            self.status, self.took, self.stdout, self.stderr
        )
    }
}

/// A container with systemd running, removed on drop.
pub struct Node {
    pub id: String,
    /// Its host name (the container's short id when none was given).
    pub name: String,
    _cache: Option<AptCache>,
}

impl Node {
    /// `Boot::new().boot()`: Debian 12 on the default bridge, shared apt cache.
    pub fn boot() -> Node {
        Boot::new().boot()
    }

    fn await_systemd(&self) {
        // Generous: several nodes boot at once on a loaded machine.
        let within = Duration::from_secs(120);
        let deadline = Instant::now() + within;
        let mut state = String::new();
        while Instant::now() < deadline {
            state = self.sh("systemctl is-system-running 2>&1 || true");
            // degraded is fine: a container has units that cannot start.
            if matches!(state.trim(), "running" | "degraded") {
                return;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!(
            "systemd did not come up in {} within {within:?} (last state {:?}); its log:\n{}",
            self.id,
            state.trim(),
            self.logs()
        );
    }

    /// Runs `args` in the node, whatever their exit status.
    pub fn exec(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .args(["exec", &self.id])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("docker exec {args:?}: {e}"))
    }

    /// `exec`, timed, its output as text.
    pub fn run(&self, args: &[&str]) -> Run {
        let start = Instant::now();
        let out = self.exec(args);
        Run {
            took: start.elapsed(),
            stdout: text(&out.stdout),
            stderr: text(&out.stderr),
            status: out.status,
        }
    }

    /// Runs `script` with sh; its stdout, whatever its exit status.
    pub fn sh(&self, script: &str) -> String {
        text(&self.exec(&["sh", "-c", script]).stdout)
    }

    /// Runs `script` with sh; its stdout, panicking with both outputs when
    /// it fails.
    pub fn sh_ok(&self, script: &str) -> String {
        let out = self.exec(&["sh", "-c", script]);
        assert!(
            out.status.success(),
            "in {}: {script:?} failed ({}):\n{}{}",
            self.id,
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// Copies a host file or directory to `to` in the node.
    pub fn copy_in(&self, from: &Path, to: &str) {
        run_checked(
            Command::new("docker")
                .arg("cp")
                .arg(from)
                .arg(format!("{}:{to}", self.id)),
        );
    }

    /// Writes `contents` to the file `to` in the node.
    pub fn write(&self, to: &str, contents: &[u8]) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, contents).unwrap();
        self.copy_in(&file, to);
    }

    /// Puts the mesos-docker under test where install.sh would.
    pub fn install_binary(&self) {
        self.copy_in(Path::new(env!("CARGO_BIN_EXE_mesos-docker")), BINARY);
    }

    /// `mesos-docker setup ARGS` in the node: an open node (`--insecure`,
    /// as before cluster tokens) unless ARGS name a token or --insecure.
    pub fn setup(&self, args: &[&str]) -> Run {
        let mut all = vec![BINARY, "setup"];
        all.extend_from_slice(args);
        if !args
            .iter()
            .any(|a| a.starts_with("--token") || *a == "--insecure")
        {
            all.push("--insecure");
        }
        self.run(&all)
    }

    /// `mesos-docker setup ARGS` in the node, exactly as given: with no
    /// token named, a first master (or standalone node) generates the
    /// cluster token, as on a fresh secure install.
    pub fn setup_secure(&self, args: &[&str]) -> Run {
        let mut all = vec![BINARY, "setup"];
        all.extend_from_slice(args);
        self.run(&all)
    }

    /// Runs `args` in the node with `input` on their stdin (how a secret
    /// goes in without showing in any argument list).
    pub fn exec_with_input(&self, args: &[&str], input: &[u8]) -> Output {
        use std::io::Write;
        let mut child = Command::new("docker")
            .args(["exec", "-i", &self.id])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("docker exec {args:?}: {e}"));
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input).unwrap();
        drop(stdin);
        child.wait_with_output().unwrap()
    }

    /// Puts the Mesos stand-in tarball (`sbin/mesos-master`,
    /// `sbin/mesos-agent`: no build of Mesos can be had) in the node and
    /// returns the `--mesos-source` that installs it, pinned.
    pub fn mesos_source(&self) -> String {
        const AT: &str = "/root/mesos-standin.tgz";
        let tgz = super::standins::mesos_tgz();
        self.copy_in(&tgz.path, AT);
        format!("tgz:{AT},sha256={}", tgz.sha256)
    }
}

/// What the nodes' systems say: their console, journal, units, ZooKeeper, dpkg.
impl Node {
    /// The node's console (systemd's boot messages).
    pub fn logs(&self) -> String {
        let out = Command::new("docker")
            .args(["logs", "--tail", "200", &self.id])
            .output()
            .unwrap();
        format!("{}{}", text(&out.stdout), text(&out.stderr))
    }

    /// The last journal lines of `unit`.
    pub fn journal(&self, unit: &str) -> String {
        self.sh(&format!("journalctl -u {unit} -n 40 --no-pager 2>&1"))
    }

    /// The main PID systemd has for a unit ("0" when it is not running).
    pub fn main_pid(&self, unit: &str) -> String {
        self.sh(&format!("systemctl show -p MainPID --value {unit}"))
            .trim()
            .to_owned()
    }

    /// What ZooKeeper here answers to a four-letter command.
    pub fn four_letters(&self, cmd: &str) -> String {
        self.sh(&format!(
            "bash -c 'exec 3<>/dev/tcp/127.0.0.1/2181 && printf {cmd} >&3 && cat <&3' 2>&1"
        ))
    }

    /// Packages dpkg does not have fully installed (`dpkg --audit`'s findings).
    pub fn dpkg_audit(&self) -> String {
        self.sh("dpkg --audit 2>&1")
    }
}

/// The node on its network, and HTTP from inside it.
impl Node {
    /// The node's address on its (first) network.
    pub fn ip(&self) -> String {
        self.inspect("{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}")
    }

    /// The host's address on the node's (first) network: where a server on
    /// the host that the node should reach listens.
    pub fn gateway(&self) -> String {
        self.inspect("{{range .NetworkSettings.Networks}}{{.Gateway}} {{end}}")
    }

    fn inspect(&self, format: &str) -> String {
        let out = run_checked(Command::new("docker").args(["inspect", "-f", format, &self.id]));
        text(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap_or_else(|| panic!("docker inspect {format:?} of {} is empty", self.id))
            .to_owned()
    }

    /// What an HTTP GET of `http://host:port/path`, made inside the node,
    /// answers: the status and the body (with bash's /dev/tcp: minbase has
    /// no curl).
    pub fn http_get(&self, host: &str, port: u16, path: &str) -> Option<(u16, String)> {
        let out = self.exec(&[
            "timeout",
            "5",
            "bash",
            "-c",
            &format!(
                "exec 3<>/dev/tcp/{host}/{port} && \
                 printf 'GET {path} HTTP/1.0\\r\\nHost: {host}\\r\\n\\r\\n' >&3 && cat <&3"
            ),
        ]);
        if !out.status.success() {
            return None;
        }
        let answer = text(&out.stdout);
        let (head, body) = answer.split_once("\r\n\r\n")?;
        let status = head.split_whitespace().nth(1)?.parse().ok()?;
        Some((status, body.to_owned()))
    }

    /// `http_get` with HTTP basic auth as `user` (or anonymous with
    /// `None`): the request goes in on stdin, so the secret is in no
    /// argument list in the node or on the host.
    pub fn http_get_as(
        &self,
        host: &str,
        port: u16,
        path: &str,
        user: Option<(&str, &str)>,
    ) -> Option<(u16, String)> {
        use base64::Engine as _;
        let auth = user.map_or_else(String::new, |(name, secret)| {
            let pair = base64::engine::general_purpose::STANDARD.encode(format!("{name}:{secret}"));
            format!("Authorization: Basic {pair}\r\n")
        });
        let request = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n{auth}\r\n");
        let out = self.exec_with_input(
            &[
                "timeout",
                "5",
                "bash",
                "-c",
                &format!("exec 3<>/dev/tcp/{host}/{port} && cat >&3 && cat <&3"),
            ],
            request.as_bytes(),
        );
        if !out.status.success() {
            return None;
        }
        let answer = text(&out.stdout);
        let (head, body) = answer.split_once("\r\n\r\n")?;
        let status = head.split_whitespace().nth(1)?.parse().ok()?;
        Some((status, body.to_owned()))
    }

    /// Polls `http_get` until it answers 200, for up to `within`.
    pub fn await_http(&self, host: &str, port: u16, path: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        let mut last = None;
        while Instant::now() < deadline {
            match self.http_get(host, port, path) {
                Some((200, body)) => return body,
                other => last = other,
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!(
            "GET http://{host}:{port}{path} in {} did not answer 200 within {within:?} \
             (last answer {last:?})",
            self.id
        );
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // -v: with any anonymous volume it made.
        let _ = Command::new("docker")
            .args(["rm", "-f", "-v", &self.id])
            .output();
    }
}

/// Runs `f` on every node at once, answers in the nodes' order.
pub fn on_each<T: Send>(nodes: &[Node], f: impl Fn(&Node) -> T + Sync) -> Vec<T> {
    std::thread::scope(|s| {
        let handles: Vec<_> = nodes.iter().map(|n| s.spawn(|| f(n))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Removes the nodes at once: each removal deletes a whole root file
/// system under the vfs storage driver, seconds apiece.
pub fn remove_all(nodes: Vec<Node>) {
    std::thread::scope(|s| {
        for n in nodes {
            s.spawn(move || drop(n));
        }
    });
}
