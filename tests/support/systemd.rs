//! Debian images made with debootstrap and imported into Docker (built once,
//! then reused by name), and Debian 12 containers booted with systemd as PID
//! 1, for the tests that need a real init system, real apt and a Docker
//! daemon inside.
//!
//! ```ignore
//! let node = Node::boot();                      // Debian 12, systemd running
//! node.copy_in(Path::new(env!("CARGO_BIN_EXE_mesos-docker")), "/usr/local/bin/mesos-docker");
//! let out = node.exec(&["mesos-docker", "setup", "--role", "standalone", "--yes"]);
//! assert_eq!(node.sh("systemctl is-active zookeeper").trim(), "active");
//! ```                                           // the container goes on drop
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::mirror::{need, run_checked, text};

const STANDARD_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

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
    include: &["systemd", "systemd-sysv", "dbus"],
    cmd: "/lib/systemd/systemd",
};

/// Debian 11 minbase (glibc 2.31), for the release binary.
pub const DEBIAN11: Debootstrapped = Debootstrapped {
    image: "mesos-docker-test/debian11",
    suite: "bullseye",
    include: &[],
    cmd: "/bin/sh",
};

fn image_exists(image: &str) -> bool {
    Command::new(need("docker", "docker.io"))
        .args(["image", "inspect", image])
        .output()
        .is_ok_and(|o| o.status.success())
}

impl Debootstrapped {
    /// The image, built on first use (`DEBIAN_MIRROR` chooses the archive).
    pub fn ensure(&self) -> &'static str {
        // Two tests of one process must not debootstrap the same image twice.
        static BUILDING: Mutex<()> = Mutex::new(());
        let _one = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
        if image_exists(self.image) {
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
        import_root(
            root.path(),
            self.image,
            &[&format!("CMD [\"{}\"]", self.cmd)],
        );
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

/// Where the containers' apt keeps downloaded packages, so that a second
/// test run downloads nothing (`MESOS_DOCKER_TEST_APT_CACHE` overrides).
pub fn apt_cache() -> String {
    let dir = std::env::var("MESOS_DOCKER_TEST_APT_CACHE")
        .unwrap_or_else(|_| "/var/cache/mesos-docker-test/apt-archives".into());
    std::fs::create_dir_all(Path::new(&dir).join("partial")).unwrap();
    dir
}

/// How to boot a node; `Boot::default()` is a lone container on Docker's
/// default bridge.
#[derive(Default, Clone)]
pub struct Boot<'a> {
    pub name: Option<&'a str>,
    pub hostname: Option<&'a str>,
    /// A Docker network (see [`Network`]) instead of the default bridge.
    pub network: Option<&'a str>,
}

/// A Debian 12 container with systemd running, removed on drop.
pub struct Node {
    id: String,
}

impl Node {
    pub fn boot() -> Node {
        Node::boot_with(&Boot::default())
    }

    pub fn boot_with(boot: &Boot) -> Node {
        let image = DEBIAN12_SYSTEMD.ensure();
        let cache = format!("{}:/var/cache/apt/archives", apt_cache());
        let mut run = Command::new(need("docker", "docker.io"));
        run.args([
            "run",
            "-d",
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
            "-v",
            &cache,
        ]);
        if let Some(name) = boot.name {
            run.args(["--name", name]);
        }
        if let Some(hostname) = boot.hostname {
            run.args(["--hostname", hostname]);
        }
        if let Some(network) = boot.network {
            run.args(["--network", network]);
        }
        let out = run_checked(run.args([image, "/lib/systemd/systemd"]));
        let node = Node {
            id: text(&out.stdout).trim().to_owned(),
        };
        node.await_systemd();
        node
    }

    fn await_systemd(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut state = String::new();
        while Instant::now() < deadline {
            state = self.sh("systemctl is-system-running 2>&1 || true");
            // degraded is fine: a container has units that cannot start.
            if matches!(state.trim(), "running" | "degraded") {
                return;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        panic!(
            "systemd did not come up in {} within 60 s (last state {:?}); its log:\n{}",
            self.id,
            state.trim(),
            self.logs()
        );
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn exec(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .args(["exec", &self.id])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("docker exec {args:?}: {e}"))
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

    /// Copies a host file or directory to `to` in the container.
    pub fn copy_in(&self, from: &Path, to: &str) {
        run_checked(
            Command::new("docker")
                .arg("cp")
                .arg(from)
                .arg(format!("{}:{to}", self.id)),
        );
    }

    /// Writes `contents` to the file `to` in the container.
    pub fn write(&self, to: &str, contents: &[u8]) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, contents).unwrap();
        self.copy_in(&file, to);
    }

    /// The container's console (systemd's boot messages).
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

    /// The container's address on its (first) network.
    pub fn ip(&self) -> String {
        self.inspect("{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}")
    }

    /// The host's address on the container's (first) network: where a
    /// server on the host that the container should reach listens.
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

    /// What an HTTP GET of `http://host:port/path`, made inside the
    /// container, answers: the status and the body (with bash's /dev/tcp: minbase has no curl).
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

/// A Docker network of its own, removed on drop (after its nodes: declare it
/// before them).
pub struct Network {
    pub name: String,
}

impl Network {
    pub fn create(name: &str) -> Network {
        let _ = Command::new("docker")
            .args(["network", "rm", name])
            .output();
        run_checked(Command::new(need("docker", "docker.io")).args(["network", "create", name]));
        Network {
            name: name.to_owned(),
        }
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["network", "rm", &self.name])
            .output();
    }
}
