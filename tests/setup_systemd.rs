//! `setup`, `status` and `uninstall` on a live root: the real binary inside a
//! Debian 12 container booted with systemd, so that daemon-reload, enable and
//! disable go to a running systemd, and apt installs real packages from
//! Debian's archive. The image is built once with debootstrap and reused;
//! downloaded packages are kept on the host between runs (see
//! [`apt_cache`]). Slow, so `#[ignore]`d here; scripts/test runs it with
//! --ignored.

use std::path::Path;
use std::process::{Command, Output, Stdio};

const IMAGE: &str = "mesos-docker-test/debian12-systemd";
const BINARY: &str = "/usr/local/bin/mesos-docker";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn checked(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed\nstdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

/// Debian 12 with systemd as PID 1, from debootstrap, imported once.
fn image() -> &'static str {
    let exists = Command::new("docker")
        .args(["image", "inspect", IMAGE])
        .output()
        .expect("docker runs (scripts/test installs docker.io)");
    if exists.status.success() {
        return IMAGE;
    }
    let root = tempfile::tempdir().unwrap();
    let mirror =
        std::env::var("DEBIAN_MIRROR").unwrap_or_else(|_| "http://deb.debian.org/debian".into());
    checked(
        Command::new("debootstrap")
            .args([
                "--variant=minbase",
                "--include=systemd,systemd-sysv,dbus",
                "bookworm",
            ])
            .arg(root.path())
            .arg(&mirror),
    );
    let mut tar = Command::new("tar")
        .arg("-C")
        .arg(root.path())
        .args(["-c", "."])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    checked(
        Command::new("docker")
            .args([
                "import",
                "-c",
                "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "-c",
                "CMD [\"/lib/systemd/systemd\"]",
                "-",
                IMAGE,
            ])
            .stdin(tar.stdout.take().unwrap()),
    );
    assert!(
        tar.wait().unwrap().success(),
        "tar of the Debian 12 root failed"
    );
    IMAGE
}

/// Where the containers' apt keeps downloaded packages, so that a second
/// test run downloads nothing (`MESOS_DOCKER_TEST_APT_CACHE` overrides).
fn apt_cache() -> String {
    let dir = std::env::var("MESOS_DOCKER_TEST_APT_CACHE")
        .unwrap_or_else(|_| "/var/cache/mesos-docker-test/apt-archives".into());
    std::fs::create_dir_all(Path::new(&dir).join("partial")).unwrap();
    dir
}

/// A booted container, removed on drop.
struct Node(String);

impl Node {
    fn boot() -> Node {
        let cache = format!("{}:/var/cache/apt/archives", apt_cache());
        let out = checked(Command::new("docker").args([
            "run",
            "-d",
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
            "-v",
            &cache,
            image(),
            "/lib/systemd/systemd",
        ]));
        let node = Node(text(&out.stdout).trim().to_owned());
        // Wait until systemd runs (degraded is fine: no network units here).
        for _ in 0..60 {
            let s = node.sh("systemctl is-system-running || true");
            if matches!(s.trim(), "running" | "degraded") {
                return node;
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
        panic!("systemd did not come up in {}", node.0);
    }

    fn exec(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .args(["exec", &self.0])
            .args(args)
            .output()
            .unwrap()
    }

    fn sh(&self, script: &str) -> String {
        text(&self.exec(&["sh", "-c", script]).stdout)
    }

    fn copy_in(&self, from: &Path, to: &str) {
        checked(
            Command::new("docker")
                .arg("cp")
                .arg(from)
                .arg(format!("{}:{to}", self.0)),
        );
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.0]).output();
    }
}

/// What ZooKeeper answers to a four-letter command, asked from inside.
fn four_letters(node: &Node, cmd: &str) -> String {
    node.sh(&format!(
        "bash -c 'exec 3<>/dev/tcp/127.0.0.1/2181 && printf {cmd} >&3 && cat <&3'"
    ))
}

#[test]
#[ignore = "slow (debootstrap, a systemd container, apt from Debian's archive); scripts/test runs it with --ignored"]
fn standalone_installs_starts_and_converges_on_a_running_systemd() {
    let began = std::time::Instant::now();
    let node = Node::boot();
    node.copy_in(Path::new(env!("CARGO_BIN_EXE_mesos-docker")), BINARY);
    assert!(
        node.sh("dpkg -s zookeeperd docker.io 2>&1")
            .contains("not installed")
    );

    let setup = node.exec(&[BINARY, "setup", "--role", "standalone", "--yes"]);
    let stdout = text(&setup.stdout);
    assert!(setup.status.success(), "{stdout}\n{}", text(&setup.stderr));
    eprintln!("first setup done after {:?}", began.elapsed());
    for expected in [
        "changed  package zookeeperd: installed",
        "changed  package docker.io: installed",
        "changed  systemd daemon-reload",
        // zookeeperd enables its service on install.
        "ok       service zookeeper.service\n",
        "ok       health  zookeeper: imok, mode standalone",
        "ok       health  docker: docker ",
        "skipped  active  mesos-master.service: not started: /usr/sbin/mesos-master is missing; install the mesos package",
        "skipped  active  marathon.service: not started",
    ] {
        assert!(stdout.contains(expected), "{expected:?} not in\n{stdout}");
    }
    assert!(!stdout.contains("inputs changed for"), "{stdout}");
    // Debian's zookeeperd started with its own zoo.cfg; ours replaced it.
    assert!(
        stdout.contains("changed  active  zookeeper.service: restarted: an input it reads changed"),
        "{stdout}"
    );
    assert_eq!(four_letters(&node, "ruok"), "imok");
    assert!(four_letters(&node, "srvr").contains("Mode: standalone"));
    for unit in [
        "zookeeper.service",
        "docker.service",
        "mesos-docker-reap.timer",
    ] {
        assert_eq!(
            node.sh(&format!("systemctl is-active {unit}")).trim(),
            "active",
            "{unit}"
        );
    }
    for unit in [
        "zookeeper.service",
        "docker.service",
        "mesos-master.service",
        "marathon.service",
        "mesos-agent.service",
        "mesos-docker-reap.timer",
    ] {
        assert_eq!(
            node.sh(&format!("systemctl is-enabled {unit}")).trim(),
            "enabled",
            "{unit}"
        );
        // systemd has read the unit as written: daemon-reload ran.
        assert_eq!(
            node.sh(&format!(
                "systemctl show -p NeedDaemonReload --value {unit}"
            ))
            .trim(),
            "no",
            "{unit}"
        );
    }
    assert_eq!(
        node.sh("systemctl show -p FragmentPath --value mesos-agent.service")
            .trim(),
        "/etc/systemd/system/mesos-agent.service"
    );
    assert_eq!(
        node.sh("systemctl show -p KillMode --value mesos-agent.service")
            .trim(),
        "process"
    );
    assert_eq!(
        node.sh("readlink /var/lib/mesos/executors/docker").trim(),
        BINARY
    );
    let zk_pid = node.sh("systemctl show -p MainPID --value zookeeper.service");

    let noop = std::time::Instant::now();
    let again = node.exec(&[BINARY, "setup", "--role", "standalone", "--yes"]);
    eprintln!(
        "the no-op second setup took {:?} (docker exec included)",
        noop.elapsed()
    );
    let stdout = text(&again.stdout);
    assert!(again.status.success(), "{stdout}\n{}", text(&again.stderr));
    assert!(stdout.contains(" 0 changed, 0 failed"), "{stdout}");
    assert!(!stdout.contains("daemon-reload"), "{stdout}");
    assert!(!stdout.contains("restarted"), "{stdout}");
    assert!(
        stdout.contains("ok       health  zookeeper: imok"),
        "{stdout}"
    );
    assert_eq!(
        node.sh("systemctl show -p MainPID --value zookeeper.service"),
        zk_pid,
        "the second run restarted ZooKeeper"
    );
    eprintln!("second setup done after {:?}", began.elapsed());

    // A hand edit to what ZooKeeper reads: put back, and ZooKeeper restarted
    // once, answering with the restored configuration.
    node.sh("echo maxClientCnxns=50 >> /etc/zookeeper/conf/zoo.cfg");
    let third = node.exec(&[BINARY, "setup", "--role", "standalone", "--yes"]);
    let stdout = text(&third.stdout);
    assert!(third.status.success(), "{stdout}\n{}", text(&third.stderr));
    assert_eq!(stdout.matches("restarted").count(), 1, "{stdout}");
    assert!(
        stdout.contains("changed  active  zookeeper.service: restarted: an input it reads changed"),
        "{stdout}"
    );
    assert!(stdout.contains(" 2 changed, 0 failed"), "{stdout}");
    assert_eq!(four_letters(&node, "ruok"), "imok");
    assert!(
        !node
            .sh("cat /etc/zookeeper/conf/zoo.cfg")
            .contains("maxClientCnxns")
    );

    let status = text(&node.exec(&[BINARY, "status"]).stdout);
    assert!(status.starts_with("role: standalone\n"), "{status}");
    assert!(
        status.contains("service mesos-agent.service: enabled,"),
        "{status}"
    );
    assert!(
        status.contains("health mesos-master (http://127.0.0.1:5050/health): unreachable"),
        "{status}"
    );

    let undo = node.exec(&[BINARY, "uninstall", "--yes"]);
    let stdout = text(&undo.stdout);
    assert!(undo.status.success(), "{stdout}\n{}", text(&undo.stderr));
    assert!(
        stdout.contains("changed  package zookeeperd: purged (setup installed it)"),
        "{stdout}"
    );
    assert_eq!(
        node.sh("dpkg-query -W -f='${Status}' zookeeperd docker.io 2>&1; true")
            .matches("install ok installed")
            .count(),
        0
    );
    assert_eq!(
        node.sh("systemctl is-enabled mesos-agent.service; true")
            .trim(),
        ""
    );
    assert_eq!(
        node.sh("ls /etc/mesos-docker /var/lib/mesos 2>&1 | grep -c 'No such file'")
            .trim(),
        "2"
    );
    // The packaged timers' directory was there before setup: only our link goes.
    let wants = node.sh("ls /etc/systemd/system/timers.target.wants");
    assert!(
        wants.contains("apt-daily.timer") && !wants.contains("mesos-docker"),
        "{wants}"
    );
    eprintln!("the whole test took {:?}", began.elapsed());
}
