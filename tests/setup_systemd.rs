//! `setup`, `status` and `uninstall` on a live root: the real binary inside a
//! Debian 12 container booted with systemd, so that daemon-reload, enable and
//! disable go to a running systemd. The image is built once with debootstrap
//! and reused. Slow, so `#[ignore]`d here; scripts/test runs it with --ignored.

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

/// A booted container, removed on drop.
struct Node(String);

impl Node {
    fn boot() -> Node {
        let out = checked(Command::new("docker").args([
            "run",
            "-d",
            "--cap-add",
            "SYS_ADMIN",
            "--security-opt",
            "seccomp=unconfined",
            "--tmpfs",
            "/run",
            "--tmpfs",
            "/run/lock",
            "-v",
            "/sys/fs/cgroup:/sys/fs/cgroup:rw",
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

#[test]
#[ignore = "slow (debootstrap, a systemd container); scripts/test runs it with --ignored"]
fn setup_enables_and_uninstall_disables_on_a_running_systemd() {
    let node = Node::boot();
    node.copy_in(Path::new(env!("CARGO_BIN_EXE_mesos-docker")), BINARY);

    // A stand-in for zookeeperd's SysV script (Debian ships no native unit):
    // setup must enable it through systemd-sysv-install, idempotently.
    let script = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        script.path(),
        "#!/bin/sh\n\
         ### BEGIN INIT INFO\n\
         # Provides:          zookeeper\n\
         # Required-Start:    $remote_fs\n\
         # Required-Stop:     $remote_fs\n\
         # Default-Start:     2 3 4 5\n\
         # Default-Stop:      0 1 6\n\
         # Short-Description: stand-in for zookeeperd in the setup test\n\
         ### END INIT INFO\n\
         exit 0\n",
    )
    .unwrap();
    node.copy_in(script.path(), "/etc/init.d/zookeeper");
    node.sh("chmod 755 /etc/init.d/zookeeper && systemctl daemon-reload");
    assert_eq!(
        node.sh("systemctl is-enabled zookeeper.service; true")
            .trim(),
        "disabled"
    );

    let setup = node.exec(&[BINARY, "setup", "--role", "standalone", "--yes"]);
    let stdout = text(&setup.stdout);
    assert!(setup.status.success(), "{stdout}\n{}", text(&setup.stderr));
    assert!(
        stdout.contains("changed  systemd daemon-reload"),
        "{stdout}"
    );
    assert!(
        stdout.contains("changed  service zookeeper.service: enabled"),
        "{stdout}"
    );
    assert_eq!(
        node.sh("systemctl is-enabled zookeeper.service").trim(),
        "enabled"
    );
    for unit in [
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

    let again = node.exec(&[BINARY, "setup", "--role", "standalone", "--yes"]);
    let stdout = text(&again.stdout);
    assert!(stdout.contains(" 0 changed, 0 failed"), "{stdout}");
    assert!(!stdout.contains("daemon-reload"), "{stdout}");

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
    assert!(
        undo.status.success(),
        "{}\n{}",
        text(&undo.stdout),
        text(&undo.stderr)
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
}
