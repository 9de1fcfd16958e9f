//! Debian 12 containers booted with systemd, for the targets that drive
//! several of them or time them: tests/setup_ensemble.rs,
//! tests/setup_faults.rs and benches/setup_node.rs (each includes this file
//! with `#[path]`). The image is the one tests/setup_systemd.rs builds
//! (debootstrap, `docker import`).
//!
//! Every container gets its own apt archive directory made of hard links to
//! the shared cache on the host: apt locks `archives/lock` for the whole of an
//! install, so containers sharing one directory would refuse each other,
//! while hard links cost nothing and let them run at once. Packages a
//! container downloaded are linked back into the shared cache when it goes.
#![allow(dead_code)]

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output};
use std::time::{Duration, Instant};

pub const IMAGE: &str = "mesos-docker-test/debian12-systemd";
/// Where setup is installed in the containers, as install.sh puts it.
pub const BINARY: &str = "/usr/local/bin/mesos-docker";

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn checked(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed\nstdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

/// Whether a Docker daemon answers and the systemd image is already built:
/// what the benchmark needs to run without building anything.
pub fn image_ready() -> bool {
    Command::new("docker")
        .args(["image", "inspect", IMAGE])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Debian 12 with systemd as PID 1: the image tests/setup_systemd.rs
/// debootstraps and imports (scripts/test runs it before these).
pub fn image() -> &'static str {
    assert!(
        image_ready(),
        "no {IMAGE} image: build it with `cargo test --test setup_systemd -- --ignored` (scripts/test runs that first)"
    );
    IMAGE
}

/// The host's cache of downloaded packages, shared with tests/setup_systemd.rs
/// (`MESOS_DOCKER_TEST_APT_CACHE` overrides).
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

/// One container's apt archive directory: hard links to the shared cache.
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
            // Another container may have brought the same file back first.
            let _ = std::fs::hard_link(self.dir.path().join(&name), self.shared.join(&name));
        }
    }
}

/// A user-defined Docker network (its embedded DNS resolves the containers'
/// aliases), removed on drop.
pub struct Network(pub String);

impl Network {
    pub fn create(prefix: &str) -> Network {
        let name = format!("{prefix}-{}", std::process::id());
        checked(Command::new("docker").args(["network", "create", &name]));
        Network(name)
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["network", "rm", &self.0])
            .output();
    }
}

/// One run of `mesos-docker setup` (or any command) in a container.
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

/// A booted container, removed on drop.
pub struct Node {
    pub id: String,
    /// Its host name (the container's short id when none was given).
    pub name: String,
    _cache: AptCache,
}

impl Node {
    /// Boots a container; with a network, it is reachable there by `hostname`.
    pub fn boot(network: Option<&Network>, hostname: Option<&str>) -> Node {
        let cache = AptCache::new();
        let mut args: Vec<String> = [
            "run",
            "-d",
            "--label",
            "mesos-docker-test=cluster",
            "--cap-add",
            "SYS_ADMIN",
            // dockerd inside sets up its NAT chains.
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
        args.push("-v".into());
        args.push(format!(
            "{}:/var/cache/apt/archives",
            cache.path().display()
        ));
        if let Some(net) = network {
            args.extend(["--network".into(), net.0.clone()]);
        }
        if let Some(h) = hostname {
            args.extend(["--hostname".into(), h.into()]);
            if network.is_some() {
                args.extend(["--network-alias".into(), h.into()]);
            }
        }
        args.extend([image().into(), "/lib/systemd/systemd".into()]);
        let out = checked(Command::new("docker").args(&args));
        let id = text(&out.stdout).trim().to_owned();
        let name = hostname.map_or_else(|| id[..12].to_owned(), str::to_owned);
        let node = Node {
            id,
            name,
            _cache: cache,
        };
        // Wait until systemd runs (degraded is fine: no network units here).
        for _ in 0..120 {
            let s = node.sh("systemctl is-system-running || true");
            if matches!(s.trim(), "running" | "degraded") {
                return node;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!("systemd did not come up in {}", node.id);
    }

    pub fn exec(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .args(["exec", &self.id])
            .args(args)
            .output()
            .unwrap()
    }

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

    /// A shell script's standard output.
    pub fn sh(&self, script: &str) -> String {
        text(&self.exec(&["sh", "-c", script]).stdout)
    }

    pub fn copy_in(&self, from: &Path, to: &str) {
        checked(
            Command::new("docker")
                .arg("cp")
                .arg(from)
                .arg(format!("{}:{to}", self.id)),
        );
    }

    /// Puts the mesos-docker under test where install.sh would.
    pub fn install_binary(&self) {
        self.copy_in(Path::new(env!("CARGO_BIN_EXE_mesos-docker")), BINARY);
    }

    /// `mesos-docker setup ARGS` in the container.
    pub fn setup(&self, args: &[&str]) -> Run {
        let mut all = vec![BINARY, "setup"];
        all.extend_from_slice(args);
        self.run(&all)
    }

    /// What ZooKeeper here answers to a four-letter command.
    pub fn four_letters(&self, cmd: &str) -> String {
        self.sh(&format!(
            "bash -c 'exec 3<>/dev/tcp/127.0.0.1/2181 && printf {cmd} >&3 && cat <&3' 2>&1"
        ))
    }

    /// The main PID systemd has for a unit ("0" when it is not running).
    pub fn main_pid(&self, unit: &str) -> String {
        self.sh(&format!("systemctl show -p MainPID --value {unit}"))
            .trim()
            .to_owned()
    }

    /// Packages dpkg does not have fully installed (`dpkg --audit`'s findings).
    pub fn dpkg_audit(&self) -> String {
        self.sh("dpkg --audit 2>&1")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.id]).output();
    }
}

/// Runs `f` on every node at once, answers in the nodes' order.
pub fn on_each<T: Send>(nodes: &[Node], f: impl Fn(&Node) -> T + Sync) -> Vec<T> {
    std::thread::scope(|s| {
        let handles: Vec<_> = nodes.iter().map(|n| s.spawn(|| f(n))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Removes the containers at once: each removal deletes a whole root file
/// system under the vfs storage driver, seconds apiece.
pub fn remove_all(nodes: Vec<Node>) {
    std::thread::scope(|s| {
        for n in nodes {
            s.spawn(move || drop(n));
        }
    });
}

/// Where the Mesos stand-in tarball is put in a container.
const MESOS_TGZ: &str = "/root/mesos-standin.tgz";

/// The stand-in for mesos-master and mesos-agent (no build of Mesos can be
/// had here), tests/support/standin/standin.sh with the host's static
/// busybox: masters are elected through the nodes' real ZooKeeper ensemble,
/// and one that does not lead redirects to the leader with 307, as real
/// ones do.
const MESOS_STANDIN: &str = include_str!("standin/standin.sh");

/// A tarball laid out as setup's `tgz:` Mesos source wants it
/// (`sbin/mesos-master`, `sbin/mesos-agent`), and its SHA-256; built once
/// and kept in memory, so that every node gets the same bytes.
pub fn mesos_standin_tgz() -> &'static (Vec<u8>, String) {
    static TGZ: std::sync::OnceLock<(Vec<u8>, String)> = std::sync::OnceLock::new();
    TGZ.get_or_init(|| {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        std::fs::create_dir_all(tree.join("sbin")).unwrap();
        std::fs::create_dir_all(tree.join("lib/mesos-standin")).unwrap();
        std::fs::copy("/bin/busybox", tree.join("lib/mesos-standin/busybox"))
            .expect("the host's static busybox (busybox-static; scripts/test installs it)");
        for name in ["mesos-master", "mesos-agent"] {
            let p = tree.join("sbin").join(name);
            std::fs::write(&p, MESOS_STANDIN).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let tgz = dir.path().join("mesos-standin.tgz");
        checked(
            Command::new("tar")
                .arg("-C")
                .arg(&tree)
                .args(["--owner=0", "--group=0", "--numeric-owner", "-czf"])
                .arg(&tgz)
                .args(["sbin", "lib"]),
        );
        let sum = text(&checked(Command::new("sha256sum").arg(&tgz)).stdout);
        let sha = sum.split_whitespace().next().unwrap().to_owned();
        (std::fs::read(&tgz).unwrap(), sha)
    })
}

impl Node {
    /// Puts the Mesos stand-in tarball in the container and returns the
    /// `--mesos-source` that installs it, pinned.
    pub fn mesos_source(&self) -> String {
        let (bytes, sha) = mesos_standin_tgz();
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), bytes).unwrap();
        self.copy_in(file.path(), MESOS_TGZ);
        format!("tgz:{MESOS_TGZ},sha256={sha}")
    }
}
