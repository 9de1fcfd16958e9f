//! `mesos-docker setup`, `status` and `uninstall` against temporary roots:
//! renders of every role × init × OS (snapshotted, units checked with
//! `systemd-analyze verify`), idempotency, backups, undo, services through a
//! recording runner, and bad input through the real binary.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command as Proc, ExitCode};
use std::sync::{Arc, Mutex};

use crate::support;

use clap::Parser;
use mesos_docker::cli::{Cli, Command};
use mesos_docker::setup::host::system::{HostRunner, Output, Runner, System};
use mesos_docker::setup::host::testkit::RecordingRunner;
use mesos_docker::setup::input::model::OutputFormat;
use mesos_docker::setup::report::Reporter;
use mesos_docker::setup::{self, status, uninstall};

const INSTALLED_PROGRAMS: [&str; 3] = [
    "usr/sbin/mesos-master",
    "usr/sbin/mesos-agent",
    "usr/share/marathon/bin/marathon",
];

/// A host to render into: just the files setup reads to learn the facts.
struct Host {
    os_id: &'static str,
    version: &'static str,
    systemd: bool,
    cgroup_v2: bool,
    hostname: &'static str,
}

const OSES: [(&str, &str); 8] = [
    ("ubuntu", "14.04"),
    ("ubuntu", "16.04"),
    ("ubuntu", "18.04"),
    ("ubuntu", "20.04"),
    ("ubuntu", "22.04"),
    ("ubuntu", "24.04"),
    ("debian", "11"),
    ("debian", "12"),
];

impl Host {
    fn debian12() -> Self {
        Host {
            os_id: "debian",
            version: "12",
            systemd: true,
            cgroup_v2: true,
            hostname: "m2",
        }
    }

    /// Each release as it ships: 14.04 with upstart, cgroup v2 by default
    /// from Ubuntu 21.10 and Debian 11 on.
    fn release(os_id: &'static str, version: &'static str) -> Self {
        let trusty = version == "14.04";
        let v2 = os_id == "debian" || version.as_bytes() >= b"22.04".as_slice();
        Host {
            os_id,
            version,
            systemd: !trusty,
            cgroup_v2: v2,
            hostname: "m2",
        }
    }

    fn build(&self) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        fs::create_dir_all(r.join("etc")).unwrap();
        fs::write(
            r.join("etc/os-release"),
            format!("ID={}\nVERSION_ID=\"{}\"\n", self.os_id, self.version),
        )
        .unwrap();
        fs::write(r.join("etc/hostname"), format!("{}\n", self.hostname)).unwrap();
        if self.systemd {
            fs::create_dir_all(r.join("run/systemd/system")).unwrap();
        }
        fs::create_dir_all(r.join("sys/fs/cgroup")).unwrap();
        if self.cgroup_v2 {
            fs::write(r.join("sys/fs/cgroup/cgroup.controllers"), "cpu memory\n").unwrap();
        }
        // Mesos and Marathon as an operator's own build left them: setup
        // keeps installed programs when no source is named (no verifiable
        // source of either exists today).
        for p in INSTALLED_PROGRAMS {
            let path = r.join(p);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(
                &path,
                "#!/bin/sh\n# stand-in for an installed build\nexit 0\n",
            )
            .unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        }
        dir
    }

    /// The same host without Mesos or Marathon installed.
    fn build_bare(&self) -> tempfile::TempDir {
        let dir = self.build();
        for p in INSTALLED_PROGRAMS {
            fs::remove_file(dir.path().join(p)).unwrap();
        }
        for d in [
            "usr/share/marathon/bin",
            "usr/share/marathon",
            "usr/sbin",
            "usr/share",
            "usr",
        ] {
            let _ = fs::remove_dir(dir.path().join(d));
        }
        dir
    }
}

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Parses a command line as the binary does.
fn parse(args: &[&str]) -> Command {
    let mut argv = vec!["mesos-docker"];
    argv.extend_from_slice(args);
    Cli::try_parse_from(argv).unwrap().command
}

/// Runs `setup ARGS --root ROOT --output json` through the library with the
/// given runner; returns the exit code and the JSON report.
fn setup_sys(sys: &System, args: &[&str]) -> (ExitCode, serde_json::Value) {
    setup_edited(sys, args, |_| {})
}

/// As [`setup_sys`], with the parsed arguments edited first (what `main`
/// reads from the environment, say).
fn setup_edited(
    sys: &System,
    args: &[&str],
    edit: impl FnOnce(&mut setup::input::options::SetupArgs),
) -> (ExitCode, serde_json::Value) {
    let root_s = sys.root().to_str().unwrap();
    let mut all = vec!["setup", "--root", root_s, "--output", "json", "--yes"];
    all.extend_from_slice(args);
    let Command::Setup(mut a) = parse(&all) else {
        unreachable!()
    };
    a.executor_source = Some(small_executor());
    // The tests before cluster tokens render open nodes, as they did; a
    // test of the token gives one (or its edit undoes this).
    if a.token.is_none() && a.settings.token_file.is_none() {
        a.settings.insecure.get_or_insert(true);
    }
    edit(&mut a);
    let buf = Buf::default();
    let rep = Reporter::new(
        OutputFormat::Json,
        "setup",
        a.dry_run,
        Box::new(buf.clone()),
    );
    let code = setup::run::run(sys, &a, None, rep);
    let out = buf.0.lock().unwrap().clone();
    let json = serde_json::from_slice(&out).unwrap_or_else(|e| {
        panic!(
            "report is not JSON ({e}): {}",
            String::from_utf8_lossy(&out)
        )
    });
    (code, json)
}

/// What in-process runs install as the executor: the test binary running
/// them is hundreds of megabytes, and the renders are snapshotted; the real
/// binary is installed by the tests that run it (`binary`).
fn small_executor() -> std::path::PathBuf {
    static PATH: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let p = dir.join("mesos-docker");
        fs::write(
            &p,
            "#!/bin/sh\n# setup's tests install this file as the executor\n",
        )
        .unwrap();
        p
    })
    .clone()
}

/// An offline root, as `--root DIR` gives: systemctl runs for real with --root=DIR.
/// What the recording runner's apt can install.
const ARCHIVE: &[(&str, &str)] = &[
    ("zookeeperd", "3.8.0-11"),
    ("docker.io", "20.10.24+dfsg1-1"),
];

fn setup_in(root: &Path, args: &[&str]) -> (ExitCode, serde_json::Value) {
    setup_sys(&System::new(root, Box::new(HostRunner)), args)
}

/// A root standing for a running host whose commands the runner plays.
fn setup_with(
    root: &Path,
    runner: Box<dyn Runner>,
    args: &[&str],
) -> (ExitCode, serde_json::Value) {
    setup_sys(&System::live_for_tests(root, runner), args)
}

fn uninstall_in(sys: &System, dry_run: bool) -> (ExitCode, serde_json::Value) {
    let buf = Buf::default();
    let rep = Reporter::new(
        OutputFormat::Json,
        "uninstall",
        dry_run,
        Box::new(buf.clone()),
    );
    let code = uninstall::run(sys, dry_run, rep);
    let out = buf.0.lock().unwrap().clone();
    (code, serde_json::from_slice(&out).unwrap())
}

fn changed(report: &serde_json::Value) -> u64 {
    report["recap"]["changed"].as_u64().unwrap()
}

/// Everything under a root: kind, mode, owner and content (or link target).
fn tree(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            let rel = format!("/{}", p.strip_prefix(root).unwrap().display());
            let m = fs::symlink_metadata(&p).unwrap();
            let mode = m.permissions().mode() & 0o7777;
            if m.file_type().is_symlink() {
                out.insert(
                    rel,
                    format!("link -> {}", fs::read_link(&p).unwrap().display()),
                );
            } else if m.is_dir() {
                out.insert(rel, format!("dir {mode:04o} {}:{}", m.uid(), m.gid()));
                walk(root, &p, out);
            } else {
                let content = String::from_utf8_lossy(&fs::read(&p).unwrap()).into_owned();
                out.insert(
                    rel,
                    format!("file {mode:04o} {}:{}\n{content}", m.uid(), m.gid()),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn mtimes(root: &Path) -> BTreeMap<String, (i64, i64)> {
    tree(root)
        .keys()
        .map(|k| {
            let m = fs::symlink_metadata(root.join(&k[1..])).unwrap();
            (k.clone(), (m.mtime(), m.mtime_nsec()))
        })
        .collect()
}

/// What setup wrote, as one document: every path it added, with its content.
fn rendered(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> String {
    let mut s = String::new();
    for (path, what) in after {
        // The record is setup's own, checked by the undo tests.
        if before.get(path) == Some(what) || path.ends_with("manifest.json") {
            continue;
        }
        let (head, body) = what.split_once('\n').unwrap_or((what, ""));
        // Kind and mode; the owner depends on who runs the tests.
        let head: Vec<&str> = head.split(' ').take(2).collect();
        let head = if head[0] == "link" {
            what.as_str()
        } else {
            &head.join(" ")
        };
        s.push_str(&format!("=== {path} ({head})\n{body}"));
        if !body.is_empty() && !body.ends_with('\n') {
            s.push('\n');
        }
    }
    s
}

/// Snapshots a render as tests/snapshots/setup__<name>.snap: the name and
/// place it had when this module was the test binary tests/setup.rs.
fn assert_render(name: &str, rendered: String) {
    insta::with_settings!({
        snapshot_path => "../snapshots",
        prepend_module_to_snapshot => false,
    }, {
        insta::assert_snapshot!(format!("setup__{name}"), rendered);
    });
}

const MASTERS: &str = "m1,m2,m3";

fn role_args(role: &str) -> Vec<&str> {
    let mut a = vec![
        "--role",
        role,
        "--masters",
        MASTERS,
        "--cluster-name",
        "test",
    ];
    if role != "master" {
        a.extend([
            "--attributes",
            "rack:r1;zone:z2",
            "--resources",
            "ports:[31000-32000]",
        ]);
    }
    a
}

/// Stand-ins for the programs the units start, so that `systemd-analyze
/// verify` can check that ExecStart names an executable.
const UNIT_PROGRAMS: [&str; 5] = [
    "usr/sbin/mesos-master",
    "usr/sbin/mesos-agent",
    "usr/share/marathon/bin/marathon",
    "usr/local/bin/mesos-docker",
    "usr/bin/docker",
];

fn verify_units(root: &Path) {
    let units: Vec<String> = fs::read_dir(root.join("etc/systemd/system"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_type().unwrap().is_file())
        .map(|e| {
            format!(
                "/etc/systemd/system/{}",
                e.unwrap().file_name().to_string_lossy()
            )
        })
        .collect();
    assert!(!units.is_empty());
    // A copy of this host's packaged units supplies the targets ours name.
    let lib = root.join("lib/systemd");
    fs::create_dir_all(&lib).unwrap();
    let status = Proc::new("cp")
        .args(["-r", "/lib/systemd/system"])
        .arg(&lib)
        .status()
        .unwrap();
    assert!(status.success());
    for p in UNIT_PROGRAMS {
        let path = root.join(p);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(
            &path,
            "#!/bin/sh\n# stand-in: systemd-analyze verify only checks it is executable\nexit 0\n",
        )
        .unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = Proc::new("systemd-analyze")
        .arg("verify")
        .arg(format!("--root={}", root.display()))
        .args(&units)
        .output()
        .expect("systemd-analyze runs (scripts/test installs systemd)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify {units:?}: {stderr}"
    );
}

#[test]
fn renders_every_role_init_and_os() {
    for (os_id, version) in OSES {
        for role in ["master", "agent", "standalone"] {
            let host = Host::release(os_id, version);
            let dir = host.build();
            let before = tree(dir.path());
            // Without /run/systemd/system, setup asks initctl, as on a real 14.04.
            let runner = RecordingRunner::new();
            serving(&runner, "127.0.0.1");
            runner.answer(
                "initctl --version",
                Output::ok("initctl (upstart 1.12.1)\n"),
            );
            runner.apt(dir.path(), ARCHIVE, true);
            let (code, report) = if host.systemd {
                setup_in(dir.path(), &role_args(role))
            } else {
                setup_with(dir.path(), Box::new(runner), &role_args(role))
            };
            assert_eq!(
                code,
                ExitCode::SUCCESS,
                "{os_id} {version} {role}: {report}"
            );
            assert_eq!(report["recap"]["failed"], 0);
            let after = tree(dir.path());
            let init = if host.systemd { "systemd" } else { "upstart" };
            let name = format!("{role}-{init}-{os_id}-{version}");
            assert_render(&name, rendered(&before, &after));
            if host.systemd {
                verify_units(dir.path());
            }
        }
    }
}

#[test]
fn upstart_overrides_follow_the_role() {
    let dir = Host::release("ubuntu", "14.04").build();
    let r = dir.path();
    // An operator's override keeps the agent from starting.
    fs::create_dir_all(r.join("etc/init")).unwrap();
    fs::write(r.join("etc/init/mesos-agent.override"), "manual\n").unwrap();
    // dpkg's database is there on any Debian or Ubuntu host.
    fs::create_dir_all(r.join("var/lib/dpkg")).unwrap();
    fs::write(r.join("var/lib/dpkg/status"), "").unwrap();
    let before = tree(r);
    // One host throughout: the jobs setup starts stay running.
    let host = Arc::new(RecordingRunner::new());
    serving(&host, "127.0.0.1");
    host.answer(
        "initctl --version",
        Output::ok("initctl (upstart 1.12.1)\n"),
    );
    host.apt(r, ARCHIVE, true);
    let trusty = || Box::new(Shared(host.clone()));
    let (code, report) = setup_with(r, trusty(), &role_args("master"));
    assert_eq!(code, ExitCode::SUCCESS, "{report}");
    assert_eq!(
        fs::read_to_string(r.join("etc/init/mesos-agent.override")).unwrap(),
        "manual\n"
    );
    assert!(!r.join("etc/init/mesos-master.override").exists());

    // Becoming standalone: the agent's override goes (kept aside: not ours).
    let (code, report) = setup_with(r, trusty(), &role_args("standalone"));
    assert_eq!(code, ExitCode::SUCCESS, "{report}");
    assert!(!r.join("etc/init/mesos-agent.override").exists());
    assert_eq!(
        fs::read_to_string(r.join("etc/init/mesos-agent.override.mesos-docker.bak")).unwrap(),
        "manual\n"
    );
    // Back to agent: setup's own master override is written, then on the
    // way back to standalone removed without a copy.
    setup_with(r, trusty(), &role_args("agent"));
    assert!(r.join("etc/init/mesos-master.override").exists());
    let (_, report) = setup_with(r, trusty(), &role_args("standalone"));
    assert!(!r.join("etc/init/mesos-master.override").exists());
    assert!(
        !r.join("etc/init/mesos-master.override.mesos-docker.bak")
            .exists(),
        "{report}"
    );
    let (_, again) = setup_with(r, trusty(), &role_args("standalone"));
    assert_eq!(changed(&again), 0, "{again}");

    // The packages setup installed are purged on the running host.
    let sys = System::live_for_tests(r, trusty());
    let (code, report) = uninstall_in(&sys, false);
    assert_eq!(code, ExitCode::SUCCESS, "{report}");
    assert_eq!(tree(r), before);
}

#[test]
fn second_run_changes_nothing_and_touches_nothing() {
    let dir = Host::debian12().build();
    let (_, first) = setup_in(dir.path(), &role_args("standalone"));
    assert!(changed(&first) > 10, "{first}");
    let before = mtimes(dir.path());
    std::thread::sleep(std::time::Duration::from_millis(20));
    let (code, second) = setup_in(dir.path(), &role_args("standalone"));
    assert_eq!(code, ExitCode::SUCCESS);
    assert_eq!(changed(&second), 0, "{second}");
    let n = |r: &serde_json::Value, k: &str| r["recap"][k].as_u64().unwrap();
    assert_eq!(n(&second, "ok"), n(&first, "ok") + n(&first, "changed"));
    assert_eq!(mtimes(dir.path()), before);
}

#[test]
fn hand_edit_is_replaced_and_kept() {
    let dir = Host::debian12().build();
    setup_in(dir.path(), &role_args("agent"));
    let env = dir.path().join("etc/mesos-docker/agent.env");
    let ours = fs::read_to_string(&env).unwrap();
    let edited = format!("{ours}MESOS_EXTRA=\"1\"\n");
    fs::write(&env, &edited).unwrap();
    fs::set_permissions(&env, fs::Permissions::from_mode(0o600)).unwrap();
    let (_, report) = setup_in(dir.path(), &role_args("agent"));
    assert_eq!(changed(&report), 1, "{report}");
    assert_eq!(report["restart_needed"][0], "mesos-agent");
    assert_eq!(fs::read_to_string(&env).unwrap(), ours);
    assert_eq!(
        fs::metadata(&env).unwrap().permissions().mode() & 0o777,
        0o644
    );
    let bak = dir
        .path()
        .join("etc/mesos-docker/agent.env.mesos-docker.bak");
    assert_eq!(fs::read_to_string(bak).unwrap(), edited);
    // A mode change alone is put right without a backup.
    fs::set_permissions(&env, fs::Permissions::from_mode(0o600)).unwrap();
    let (_, report) = setup_in(dir.path(), &role_args("agent"));
    assert_eq!(changed(&report), 1);
    assert_eq!(
        fs::metadata(&env).unwrap().permissions().mode() & 0o777,
        0o644
    );
    assert!(
        !dir.path()
            .join("etc/mesos-docker/agent.env.mesos-docker.bak.2")
            .exists()
    );
}

#[test]
fn uninstall_restores_the_root_as_before() {
    let dir = Host::debian12().build();
    // A packaged zoo.cfg and an old executor script, which setup replaces.
    let conf = dir.path().join("etc/zookeeper/conf");
    fs::create_dir_all(&conf).unwrap();
    fs::write(conf.join("zoo.cfg"), "clientPort=2181\n").unwrap();
    let exe = dir.path().join("var/lib/mesos/executors");
    fs::create_dir_all(&exe).unwrap();
    fs::write(exe.join("docker"), "#!/bin/sh\n").unwrap();
    // A directory setup wants with another mode.
    let etc = dir.path().join("etc/mesos-docker");
    fs::create_dir_all(&etc).unwrap();
    fs::set_permissions(&etc, fs::Permissions::from_mode(0o700)).unwrap();
    let before = tree(dir.path());

    let (code, _) = setup_in(dir.path(), &role_args("standalone"));
    assert_eq!(code, ExitCode::SUCCESS);
    assert_eq!(
        fs::read_to_string(conf.join("zoo.cfg.mesos-docker.bak")).unwrap(),
        "clientPort=2181\n"
    );
    assert_eq!(
        fs::metadata(&etc).unwrap().permissions().mode() & 0o777,
        0o755
    );
    let sys = System::new(dir.path(), Box::new(HostRunner));

    let (code, _) = uninstall_in(&sys, true);
    assert_eq!(code, ExitCode::SUCCESS);
    assert_ne!(tree(dir.path()), before, "a dry run must not undo anything");

    let (code, report) = uninstall_in(&sys, false);
    assert_eq!(code, ExitCode::SUCCESS, "{report}");
    assert_eq!(tree(dir.path()), before);
}

#[test]
fn a_failed_step_stops_the_run_and_a_rerun_converges() {
    let dir = Host::debian12().build();
    // Something in the way of a file setup writes half-way through the plan.
    let env = dir.path().join("etc/mesos-docker/agent.env");
    fs::create_dir_all(env.parent().unwrap()).unwrap();
    let pristine = tree(dir.path());
    fs::create_dir(&env).unwrap();
    let (code, report) = setup_in(dir.path(), &role_args("agent"));
    assert_eq!(code, ExitCode::FAILURE);
    let err = report["error"].as_str().unwrap();
    assert!(
        err.starts_with("stopped at file /etc/mesos-docker/agent.env:")
            && err.contains("is not a regular file; move it away and run setup again"),
        "{err}"
    );
    assert_eq!(report["recap"]["failed"], 1);
    let last = report["resources"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["status"], "failed");
    assert!(
        !dir.path()
            .join("etc/systemd/system/mesos-agent.service")
            .exists(),
        "nothing after the failure"
    );

    fs::remove_dir(&env).unwrap();
    let (code, report) = setup_in(dir.path(), &role_args("agent"));
    assert_eq!(code, ExitCode::SUCCESS, "{report}");
    let (_, again) = setup_in(dir.path(), &role_args("agent"));
    assert_eq!(changed(&again), 0);
    let sys = System::new(dir.path(), Box::new(HostRunner));
    let (code, _) = uninstall_in(&sys, false);
    assert_eq!(code, ExitCode::SUCCESS);
    assert_eq!(tree(dir.path()), pristine);
}

#[test]
fn dry_run_shows_diffs_and_writes_nothing() {
    let dir = Host::debian12().build();
    let before = tree(dir.path());
    let (code, report) = setup_in(
        dir.path(),
        &[&role_args("agent")[..], &["--dry-run"]].concat(),
    );
    assert_eq!(code, ExitCode::SUCCESS);
    assert_eq!(tree(dir.path()), before);
    let agent_env = report["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "/etc/mesos-docker/agent.env")
        .unwrap();
    let diff = agent_env["diff"].as_str().unwrap();
    assert!(
        diff.contains("+MESOS_MASTER=\"zk://m1:2181,m2:2181,m3:2181/mesos\""),
        "{diff}"
    );
    // The unit is not written yet, but it will be: the dry run says it would
    // be enabled rather than missing.
    let unit = report["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "service" && r["id"] == "mesos-agent.service")
        .unwrap();
    assert_eq!(unit["status"], "changed", "{unit}");
    assert!(
        diff.starts_with("--- /etc/mesos-docker/agent.env (now)"),
        "{diff}"
    );
}

#[test]
fn services_go_through_the_runner_and_come_back() {
    let dir = Host::debian12().build();
    let runner = Arc::new(RecordingRunner::new());
    serving(&runner, "127.0.0.1");
    // Packages enabled mesos-master, mesos-slave and zookeeper; setup has
    // written ours (disabled until enabled); marathon is not installed.
    for (unit, state) in [
        ("zookeeper.service", "enabled"),
        ("mesos-master.service", "enabled"),
        ("mesos-agent.service", "disabled"),
        ("mesos-slave.service", "enabled"),
        ("mesos-docker-reap.timer", "disabled"),
    ] {
        runner.unit(unit, state);
    }
    runner.unit("docker.service", "enabled");
    runner.apt(dir.path(), ARCHIVE, true);
    runner.answer("systemctl daemon-reload", Output::ok(""));
    runner.answer(
        "docker info --format {{.ServerVersion}}",
        Output::ok("20.10.24\n"),
    );
    let shared = Shared(runner.clone());
    let (code, report) = setup_with(dir.path(), Box::new(shared.clone()), &role_args("agent"));
    assert_eq!(code, ExitCode::SUCCESS, "{report}");
    let changes: Vec<String> = runner
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("systemctl") && !is_query(c))
        .collect();
    assert_eq!(
        changes,
        [
            "systemctl daemon-reload",
            "systemctl disable zookeeper.service",
            "systemctl disable mesos-master.service",
            "systemctl enable mesos-agent.service",
            "systemctl disable mesos-slave.service",
            "systemctl enable mesos-docker-reap.timer",
            "systemctl start mesos-agent.service",
            "systemctl start mesos-docker-reap.timer",
            "systemctl start docker.service",
        ]
    );
    let n = runner.calls().len();
    let (_, again) = setup_with(dir.path(), Box::new(shared.clone()), &role_args("agent"));
    assert_eq!(changed(&again), 0, "{again}");
    assert!(
        runner.calls()[n..]
            .iter()
            .all(|c| !c.starts_with("systemctl") || is_query(c))
    );

    let n = runner.calls().len();
    let sys = System::live_for_tests(dir.path(), Box::new(shared));
    let (code, _) = uninstall_in(&sys, false);
    assert_eq!(code, ExitCode::SUCCESS);
    let undo: Vec<String> = runner.calls()[n..]
        .iter()
        .filter(|c| c.starts_with("systemctl") && !is_query(c))
        .cloned()
        .collect();
    assert_eq!(
        undo,
        [
            // What setup enabled and started is disabled and stopped.
            "systemctl disable mesos-docker-reap.timer",
            "systemctl stop mesos-docker-reap.timer",
            "systemctl enable mesos-slave.service",
            "systemctl disable mesos-agent.service",
            "systemctl stop mesos-agent.service",
            "systemctl enable mesos-master.service",
            "systemctl enable zookeeper.service",
        ]
    );
}

fn is_query(command: &str) -> bool {
    command.contains("is-enabled")
        || command.contains("list-unit-files")
        || command.contains("is-active")
}

/// A running Debian 12 host as the recording runner plays it: apt's index
/// not yet fresh, the packaged units present (their packages are what setup
/// installs), ZooKeeper and Docker answering once started.
fn played_host(root: &Path) -> Arc<RecordingRunner> {
    let runner = Arc::new(RecordingRunner::new());
    runner.apt(root, ARCHIVE, false);
    for unit in [
        "zookeeper.service",
        "docker.service",
        "mesos-master.service",
        "marathon.service",
        "mesos-agent.service",
        "mesos-docker-reap.timer",
    ] {
        runner.unit(unit, "disabled");
    }
    runner.answer("systemctl daemon-reload", Output::ok(""));
    answering(&runner);
    runner
}

/// ZooKeeper, Docker, Mesos and Marathon answering on this host.
fn answering(runner: &RecordingRunner) {
    runner.answer("tcp 127.0.0.1:2181 ruok", Output::ok("imok"));
    runner.answer(
        "tcp 127.0.0.1:2181 srvr",
        Output::ok("Zookeeper version: 3.8.0\nMode: standalone\n"),
    );
    runner.answer(
        "docker info --format {{.ServerVersion}}",
        Output::ok("20.10.24\n"),
    );
    serving(runner, "127.0.0.1");
}

/// The commands that change the host: apt, systemctl verbs, probes.
fn actions(runner: &RecordingRunner, from: usize) -> Vec<String> {
    runner.calls()[from..]
        .iter()
        .filter(|c| !is_query(c) && !c.starts_with("docker version"))
        .filter(|c| {
            ["apt-cache", "env ", "systemctl", "tcp", "docker"]
                .iter()
                .any(|p| c.starts_with(p))
        })
        .cloned()
        .collect()
}

const INSTALL: &str = "env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold";

#[test]
fn packages_install_and_services_start_once() {
    let dir = Host::debian12().build();
    let root = dir.path();
    let runner = played_host(root);
    let standalone = role_args("standalone");
    let (code, report) = setup_with(root, Box::new(Shared(runner.clone())), &standalone);
    assert_eq!(code, ExitCode::SUCCESS, "{report}");
    assert_eq!(
        actions(&runner, 0),
        [
            "apt-cache policy zookeeperd".to_owned(),
            "env DEBIAN_FRONTEND=noninteractive apt-get update".to_owned(),
            "apt-cache policy zookeeperd".to_owned(),
            format!("{INSTALL} zookeeperd"),
            // The index is fresh now: no second update.
            "apt-cache policy docker.io".to_owned(),
            format!("{INSTALL} docker.io"),
            "systemctl daemon-reload".to_owned(),
            "systemctl enable zookeeper.service".to_owned(),
            "systemctl enable mesos-master.service".to_owned(),
            "systemctl enable marathon.service".to_owned(),
            "systemctl enable mesos-agent.service".to_owned(),
            "systemctl enable mesos-docker-reap.timer".to_owned(),
            "systemctl enable docker.service".to_owned(),
            // Mesos and Marathon are installed (the host's own build): kept
            // and started.
            "systemctl start zookeeper.service".to_owned(),
            "systemctl start mesos-master.service".to_owned(),
            "systemctl start marathon.service".to_owned(),
            "systemctl start mesos-agent.service".to_owned(),
            "systemctl start mesos-docker-reap.timer".to_owned(),
            "systemctl start docker.service".to_owned(),
            "tcp 127.0.0.1:2181 ruok".to_owned(),
            "tcp 127.0.0.1:2181 srvr".to_owned(),
            "tcp 127.0.0.1:5050 GET /health HTTP/1.0\r\nHost: 127.0.0.1:5050\r\nAccept: */*\r\n\r\n".to_owned(),
            "tcp 127.0.0.1:5050 GET /state HTTP/1.0\r\nHost: 127.0.0.1:5050\r\nAccept: */*\r\n\r\n".to_owned(),
            "tcp 127.0.0.1:8080 GET /ping HTTP/1.0\r\nHost: 127.0.0.1:8080\r\nAccept: */*\r\n\r\n".to_owned(),
            "tcp 127.0.0.1:5051 GET /state HTTP/1.0\r\nHost: 127.0.0.1:5051\r\nAccept: */*\r\n\r\n".to_owned(),
            "docker info --format {{.ServerVersion}}".to_owned(),
        ]
    );
    let lines = report["resources"].as_array().unwrap();
    let line = |kind: &str, id: &str| {
        lines
            .iter()
            .find(|l| l["kind"] == kind && l["id"] == id)
            .unwrap_or_else(|| panic!("no {kind} {id} in {report}"))
            .clone()
    };
    assert_eq!(line("package", "zookeeperd")["status"], "changed");
    assert_eq!(
        line("health", "zookeeper")["detail"],
        "imok, mode standalone"
    );
    assert_eq!(line("active", "mesos-master.service")["status"], "changed");
    let m: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(root.join("var/lib/mesos-docker/manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        m["packages"],
        serde_json::json!(["zookeeperd", "docker.io"])
    );

    // Converged: no apt, no start, no restart; health is still checked.
    let n = runner.calls().len();
    let (code, again) = setup_with(root, Box::new(Shared(runner.clone())), &standalone);
    assert_eq!(code, ExitCode::SUCCESS, "{again}");
    assert_eq!(changed(&again), 0, "{again}");
    assert_eq!(
        actions(&runner, n),
        [
            "tcp 127.0.0.1:2181 ruok",
            "tcp 127.0.0.1:2181 srvr",
            "tcp 127.0.0.1:5050 GET /health HTTP/1.0\r\nHost: 127.0.0.1:5050\r\nAccept: */*\r\n\r\n",
            "tcp 127.0.0.1:5050 GET /state HTTP/1.0\r\nHost: 127.0.0.1:5050\r\nAccept: */*\r\n\r\n",
            "tcp 127.0.0.1:8080 GET /ping HTTP/1.0\r\nHost: 127.0.0.1:8080\r\nAccept: */*\r\n\r\n",
            "tcp 127.0.0.1:5051 GET /state HTTP/1.0\r\nHost: 127.0.0.1:5051\r\nAccept: */*\r\n\r\n",
            "docker info --format {{.ServerVersion}}",
        ]
    );

    // An input ZooKeeper reads changed by hand: restored, and one restart.
    let zoo = root.join("etc/zookeeper/conf/zoo.cfg");
    fs::write(&zoo, fs::read_to_string(&zoo).unwrap() + "tickTime=1\n").unwrap();
    let n = runner.calls().len();
    let (code, third) = setup_with(root, Box::new(Shared(runner.clone())), &standalone);
    assert_eq!(code, ExitCode::SUCCESS, "{third}");
    assert_eq!(
        actions(&runner, n),
        [
            "systemctl restart zookeeper.service",
            "tcp 127.0.0.1:2181 ruok",
            "tcp 127.0.0.1:2181 srvr",
            "tcp 127.0.0.1:5050 GET /health HTTP/1.0\r\nHost: 127.0.0.1:5050\r\nAccept: */*\r\n\r\n",
            "tcp 127.0.0.1:5050 GET /state HTTP/1.0\r\nHost: 127.0.0.1:5050\r\nAccept: */*\r\n\r\n",
            "tcp 127.0.0.1:8080 GET /ping HTTP/1.0\r\nHost: 127.0.0.1:8080\r\nAccept: */*\r\n\r\n",
            "tcp 127.0.0.1:5051 GET /state HTTP/1.0\r\nHost: 127.0.0.1:5051\r\nAccept: */*\r\n\r\n",
            "docker info --format {{.ServerVersion}}",
        ]
    );
    assert!(
        third["restart_needed"]
            .as_array()
            .is_none_or(|a| a.is_empty()),
        "{third}"
    );

    // A unit file is its service's input too: put back, systemd told, and
    // that one service restarted so the running process matches the file.
    let unit = root.join("etc/systemd/system/mesos-agent.service");
    fs::write(
        &unit,
        fs::read_to_string(&unit)
            .unwrap()
            .replace("RestartSec=", "RestartSec=1\n#"),
    )
    .unwrap();
    let n = runner.calls().len();
    let (code, fourth) = setup_with(root, Box::new(Shared(runner.clone())), &standalone);
    assert_eq!(code, ExitCode::SUCCESS, "{fourth}");
    let acts = actions(&runner, n);
    assert_eq!(
        acts[..2],
        [
            "systemctl daemon-reload",
            "systemctl restart mesos-agent.service"
        ],
        "{acts:?}"
    );
    assert_eq!(
        acts.iter().filter(|a| a.contains("restart")).count(),
        1,
        "{acts:?}"
    );

    // Uninstall purges what setup installed.
    let n = runner.calls().len();
    let sys = System::live_for_tests(root, Box::new(Shared(runner.clone())));
    let (code, undo) = uninstall_in(&sys, false);
    assert_eq!(code, ExitCode::SUCCESS, "{undo}");
    assert!(
        actions(&runner, n).contains(
            &"env DEBIAN_FRONTEND=noninteractive apt-get purge -y --autoremove zookeeperd docker.io".to_owned()
        ),
        "{:?}",
        runner.calls()
    );
    assert_eq!(
        fs::read_to_string(root.join("var/lib/dpkg/status")).unwrap(),
        ""
    );
}

#[test]
fn docker_already_there_is_kept_and_a_dead_service_fails_the_run() {
    let dir = Host::debian12().build();
    let root = dir.path();
    fs::create_dir_all(root.join("var/lib/dpkg")).unwrap();
    fs::write(
        root.join("var/lib/dpkg/status"),
        "Package: docker-ce\nStatus: install ok installed\nVersion: 5:27.0.3-1~debian.12~bookworm\n",
    )
    .unwrap();
    let runner = played_host(root);
    runner.answer("tcp 127.0.0.1:2181 ruok", Output::failed(""));
    runner.answer(
        "systemctl is-active zookeeper.service",
        Output {
            success: false,
            stdout: "failed\n".into(),
            stderr: String::new(),
        },
    );
    runner.answer(
        "journalctl -u zookeeper.service -n 20 --no-pager",
        Output::ok("zookeeper[42]: Invalid config, exiting abnormally\n"),
    );
    let (code, report) = setup_with(
        root,
        Box::new(Shared(runner.clone())),
        &role_args("standalone"),
    );
    assert_eq!(code, ExitCode::FAILURE, "{report}");
    let calls = runner.calls();
    assert!(!calls.iter().any(|c| c.contains("docker.io")), "{calls:?}");
    assert!(
        calls.iter().any(|c| c.ends_with(" zookeeperd")),
        "{calls:?}"
    );
    let error = report["error"].as_str().unwrap();
    assert!(
        error.starts_with("stopped at active zookeeper.service")
            || error.starts_with("stopped at health zookeeper"),
        "{error}"
    );
    assert!(
        error.contains("Invalid config, exiting abnormally"),
        "{error}"
    );
    let m = fs::read_to_string(root.join("var/lib/mesos-docker/manifest.json")).unwrap();
    assert!(!m.contains("docker.io"), "{m}");
    assert!(m.contains("zookeeperd"), "{m}");
}

/// Lets a test keep the recording runner it hands to setup.
#[derive(Clone)]
struct Shared(Arc<RecordingRunner>);

impl Runner for Shared {
    fn run(&self, program: &str, args: &[&str]) -> std::io::Result<Output> {
        self.0.run(program, args)
    }
    fn talk(&self, addr: &str, send: &str) -> std::io::Result<String> {
        self.0.talk(addr, send)
    }
    fn talk_tls(
        &self,
        addr: &str,
        send: &str,
        peer: &mesos_docker::setup::host::system::TlsPeer,
    ) -> Result<String, mesos_docker::setup::host::system::TlsTalkError> {
        self.0.talk_tls(addr, send, peer)
    }
    fn is_host(&self) -> bool {
        false
    }
}

#[test]
fn status_tells_in_sync_from_drifted() {
    let dir = Host::debian12().build();
    setup_in(dir.path(), &role_args("master"));
    fs::write(dir.path().join("etc/zookeeper/conf/myid"), "7\n").unwrap();
    let sys = System::new(dir.path(), Box::new(HostRunner));
    let s = status::gather(&sys).unwrap().unwrap();
    assert_eq!(s.role.as_deref(), Some("master"));
    let state = |p: &str| s.files.iter().find(|f| f.path == p).unwrap().state;
    assert_eq!(state("/etc/zookeeper/conf/myid"), "drifted");
    assert_eq!(state("/etc/mesos-docker/master.env"), "in sync");
    // Enablement read from the root's unit links; activity needs a live root.
    let master = s
        .services
        .iter()
        .find(|x| x.name == "mesos-master.service")
        .unwrap();
    assert_eq!(
        (master.enabled.as_str(), master.active.as_str()),
        ("enabled", "offline")
    );
    assert_eq!(master.running, None);
    assert_eq!(s.problems, ["/etc/zookeeper/conf/myid is drifted"]);
    // The binary says so, and exits 3.
    let out = binary(dir.path(), &["status"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("problem: /etc/zookeeper/conf/myid is drifted\n")
    );
    fs::write(dir.path().join("etc/zookeeper/conf/myid"), "2\n").unwrap();
    let out = binary(dir.path(), &["status"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("all is well\n"));
}

#[test]
fn status_tells_running_and_healthy_services_from_the_rest() {
    let dir = Host::debian12().build();
    let root = dir.path();
    let (runner, _) = standalone_serving_at_10_0_0_2(root);
    let sys = System::live_for_tests(root, Box::new(Shared(runner.clone())));
    let s = status::gather(&sys).unwrap().unwrap();
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    assert!(
        s.services.iter().all(|x| x.running == Some(true)),
        "{:?}",
        s.services
    );
    let health: Vec<(&str, &str)> = s
        .health
        .iter()
        .map(|h| (h.name.as_str(), h.state.as_str()))
        .collect();
    assert_eq!(
        health,
        [
            ("zookeeper", "healthy: imok"),
            (
                "mesos-master",
                "healthy: GET /health: 200; GET /state: version 1.11.0, leader master@10.0.0.2:5050"
            ),
            ("marathon", "healthy: GET /ping: pong"),
            ("docker", "healthy: docker 20.10.24"),
            (
                "mesos-agent",
                "healthy: GET /state: version 1.11.0, master m2"
            ),
        ]
    );
    // Marathon stopped, the agent answering garbage.
    runner.answer(
        "systemctl is-active marathon.service",
        Output::ok("inactive\n"),
    );
    http(
        &runner,
        "10.0.0.2:5051",
        "/state",
        "500 Internal Server Error",
        "",
    );
    let s = status::gather(&sys).unwrap().unwrap();
    assert_eq!(
        s.problems,
        [
            "marathon.service is enabled but not running (inactive)",
            "mesos-agent is unhealthy: GET http://10.0.0.2:5051/state answered HTTP 500",
        ]
    );
    assert_eq!(s.exit_code(), ExitCode::from(3));
}

// ---- issue 12: status and credentials on a secured node ----

const OPERATOR_SECRET: &str = "0ddba11c0ffee0000000000000000000000000000000000000000000000000aa";

/// The master's HTTP credentials as setup writes them (0600 in a 0700
/// directory), with `mode` for the file.
fn secure_master_files(root: &Path, mode: u32) {
    let dir = root.join("etc/mesos-docker/secrets");
    fs::create_dir_all(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    let file = dir.join("master-http-credentials.json");
    fs::write(
        &file,
        format!(r#"{{"credentials":[{{"principal":"operator","secret":"{OPERATOR_SECRET}"}}]}}"#),
    )
    .unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(mode)).unwrap();
}

/// The attack: a secret file made world-readable is a problem the binary
/// reports (exit 3) without printing the secret, in text and JSON.
#[test]
fn status_reports_an_exposed_secret_and_never_prints_one() {
    let dir = Host::debian12().build();
    setup_in(dir.path(), &role_args("master"));
    secure_master_files(dir.path(), 0o600);
    let out = binary(dir.path(), &["status"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("security: secured"), "{stdout}");
    assert!(
        stdout.contains("transport: authenticated, not encrypted"),
        "{stdout}"
    );
    fs::set_permissions(
        dir.path()
            .join("etc/mesos-docker/secrets/master-http-credentials.json"),
        fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    for output in ["text", "json"] {
        let out = binary(dir.path(), &["status", "--output", output]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(3), "{stdout}");
        assert!(
            stdout.contains("/etc/mesos-docker/secrets/master-http-credentials.json is open to group or others (mode 0644)"),
            "{stdout}"
        );
        assert!(!stdout.contains(OPERATOR_SECRET), "{stdout}");
        assert!(!String::from_utf8_lossy(&out.stderr).contains(OPERATOR_SECRET));
    }
}

/// Not root: the secrets cannot be checked, which status says instead of
/// calling them missing or failing.
#[test]
fn status_as_nobody_says_run_as_root_to_verify() {
    let dir = Host::debian12().build();
    setup_in(dir.path(), &role_args("master"));
    secure_master_files(dir.path(), 0o600);
    // The record is root-only; here it is opened to let status past it.
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(
        dir.path().join("var/lib/mesos-docker/manifest.json"),
        fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let out = Proc::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_mesos-docker"))
        .args(["status", "--root"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("secrets: unverified: /etc/mesos-docker/secrets is readable only by root: run as root to verify its files\n"),
        "{stdout}"
    );
    assert!(stdout.contains("security: secured"), "{stdout}");
    assert!(
        !stdout.contains("problem: /etc/mesos-docker/secrets"),
        "{stdout}"
    );
}

/// `credentials` prints to root only: run as nobody it is refused before it
/// reads anything, and prints nothing on standard output.
#[test]
fn credentials_are_printed_to_root_only() {
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    secure_master_files(dir.path(), 0o600);
    let out = binary(dir.path(), &["credentials"]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("secret:    {OPERATOR_SECRET}\n"))
    );
    let out = Proc::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_mesos-docker"))
        .args(["credentials", "--root"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "mesos-docker credentials: this prints secrets and runs only as root (effective uid 65534): run it as root, e.g. sudo mesos-docker credentials\n"
    );
}

// ---- the real binary: bad input is refused, nothing written ----

fn binary(root: &Path, args: &[&str]) -> std::process::Output {
    // As in `setup_edited`: open nodes unless the test says otherwise.
    let open = args.first() == Some(&"setup")
        && !args
            .iter()
            .any(|a| a.starts_with("--token") || *a == "--insecure");
    Proc::new(env!("CARGO_BIN_EXE_mesos-docker"))
        .args(args)
        .args(open.then_some("--insecure"))
        .env_remove("MESOS_DOCKER_TOKEN")
        .arg("--root")
        .arg(root)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

fn refused(root: &Path, args: &[&str], expect: &str) {
    let before = tree(root);
    let out = binary(root, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(
        stderr.contains(expect),
        "{args:?}: stderr {stderr:?} lacks {expect:?}"
    );
    assert_eq!(tree(root), before, "{args:?} wrote something");
}

#[test]
fn bad_input_is_refused_with_its_flag_named() {
    let dir = Host::debian12().build();
    let r = dir.path();
    let cases: &[(&[&str], &str)] = &[
        (
            &["setup", "--role", "boss"],
            "invalid value 'boss' for '--role",
        ),
        (&["setup", "--role", "agent"], "pass --masters h1,h2,h3"),
        (
            &["setup", "--role", "master", "--masters", "a,b,c"],
            "this host (m2) is not in --masters a,b,c",
        ),
        (
            &[
                "setup",
                "--role",
                "agent",
                "--masters",
                "a",
                "--attributes",
                "rack=r1",
            ],
            "--attributes: item 1 (\"rack=r1\") has no ':'",
        ),
        (
            &[
                "setup",
                "--role",
                "agent",
                "--masters",
                "a",
                "--resources",
                "cpus:lots",
            ],
            "--resources: item 1 (\"cpus:lots\")",
        ),
        (
            &[
                "setup",
                "--role",
                "agent",
                "--masters",
                "a",
                "--config",
                "/nonexistent/setup.toml",
            ],
            "cannot read the configuration file /nonexistent/setup.toml",
        ),
        (
            &[
                "setup",
                "--role",
                "agent",
                "--masters",
                "a",
                "--os",
                "fedora:40",
            ],
            "--os \"fedora:40\" is not ID:VERSION of a supported release",
        ),
    ];
    for (args, expect) in cases {
        refused(r, args, expect);
    }
    // A configuration file that cannot be read (a directory in its place).
    fs::create_dir_all(r.join("etc/mesos-docker/setup.toml")).unwrap();
    refused(
        r,
        &["setup", "--role", "agent", "--masters", "a"],
        "cannot read the configuration file",
    );
    fs::remove_dir(r.join("etc/mesos-docker/setup.toml")).unwrap();
    fs::write(r.join("etc/mesos-docker/setup.toml"), "role = \"boss\"\n").unwrap();
    refused(r, &["setup", "--masters", "a"], "setup.toml is not valid");
    fs::remove_dir_all(r.join("etc/mesos-docker")).unwrap();
    // An OS outside the supported list.
    fs::write(
        r.join("etc/os-release"),
        "PRETTY_NAME=\"CentOS Linux 7\"\nID=centos\nVERSION_ID=7\n",
    )
    .unwrap();
    refused(
        r,
        &["setup", "--role", "agent", "--masters", "a"],
        "CentOS Linux 7 is not supported",
    );
}

#[test]
fn preflight_failures_stop_the_run_unless_ignored() {
    let dir = Host::debian12().build();
    let r = dir.path();
    // Debian's installer maps the host name to 127.0.1.1.
    fs::write(
        r.join("etc/hosts"),
        "127.0.0.1 localhost\n127.0.1.1 m2.example m2\n",
    )
    .unwrap();
    // Something else listens on 8080 (0x1F90), Marathon's port.
    fs::create_dir_all(r.join("proc/net")).unwrap();
    fs::write(
        r.join("proc/net/tcp"),
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
         0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1\n",
    )
    .unwrap();
    let master = ["setup", "--role", "master", "--masters", "m1,m2,m3"];
    refused(
        r,
        &master,
        "hostname: m2 resolves to 127.0.1.1 in /etc/hosts",
    );
    refused(r, &master, "pass --ip ADDRESS");
    refused(
        r,
        &master,
        "ports: in use by another program: 8080 (wanted by marathon.service)",
    );
    refused(
        r,
        &[&master[..], &["--ignore-preflight", "ports"]].concat(),
        "hostname: m2",
    );
    let out = binary(
        r,
        &[&master[..], &["--ip", "10.0.0.2", "--no-marathon"]].concat(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = binary(
        r,
        &[&master[..], &["--ignore-preflight", "all", "--force"]].concat(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("preflight skipped hostname: --ignore-preflight"),
        "{stdout}"
    );
    refused(
        r,
        &[
            "setup",
            "--role",
            "agent",
            "--masters",
            "a",
            "--ignore-preflight",
            "nap",
        ],
        "invalid value 'nap'",
    );
}

/// The preflight's switches from setup.toml act as their flags do, and a
/// flag given replaces its key (the list is not added to).
#[test]
fn preflight_switches_from_setup_toml() {
    let dir = Host::debian12().build();
    let r = dir.path();
    fs::write(
        r.join("etc/hosts"),
        "127.0.0.1 localhost\n127.0.1.1 m2.example m2\n",
    )
    .unwrap();
    fs::create_dir_all(r.join("proc/net")).unwrap();
    fs::write(
        r.join("proc/net/tcp"),
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
         0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1\n",
    )
    .unwrap();
    let config = r.join("etc/mesos-docker/setup.toml");
    fs::create_dir_all(config.parent().unwrap()).unwrap();
    let master = ["setup", "--role", "master", "--masters", "m1,m2,m3"];
    fs::write(&config, "ignore-preflight = [\"ports\"]\n").unwrap();
    refused(r, &master, "hostname: m2");
    // The flag's list replaces the file's: ports is checked again.
    refused(
        r,
        &[&master[..], &["--ignore-preflight", "hostname"]].concat(),
        "ports: in use by another program: 8080",
    );
    fs::write(
        &config,
        "ignore-preflight = [\"hostname\"]\nno-marathon = true\n",
    )
    .unwrap();
    let out = binary(r, &master);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!r.join("etc/systemd/system/marathon.service").exists());
    // A name the flag would refuse is refused in the file, naming key and file.
    fs::write(&config, "ignore-preflight = [\"nap\"]\n").unwrap();
    refused(r, &master, "setup.toml is not valid");
    refused(r, &master, "ignore-preflight = [\"nap\"]");
    refused(r, &master, "unknown preflight check \"nap\"");
}

#[test]
fn force_from_setup_toml_and_the_flag_over_it() {
    let dir = Host::debian12().build();
    let r = dir.path();
    let out = binary(r, &["setup", "--role", "master", "--masters", "m1,m2,m3"]);
    assert!(out.status.success());
    let five = ["setup", "--role", "master", "--masters", "m1,m2,m3,m4,m5"];
    let config = r.join("etc/mesos-docker/setup.toml");
    fs::write(&config, "force = false\n").unwrap();
    refused(r, &five, "pass --force to confirm");
    // The bare flag says true over the file's false.
    let out = binary(r, &[&five[..], &["--force"]].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let env = fs::read_to_string(r.join("etc/mesos-docker/master.env")).unwrap();
    assert!(env.contains("MESOS_QUORUM=\"3\""), "{env}");
    fs::write(&config, "force = true\n").unwrap();
    let out = binary(r, &["setup", "--role", "master", "--masters", "m1,m2,m3"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let env = fs::read_to_string(r.join("etc/mesos-docker/master.env")).unwrap();
    assert!(env.contains("MESOS_QUORUM=\"2\""), "{env}");
    // A wrong type names the key, the file and what was expected.
    fs::write(&config, "dpkg-lock-wait = \"long\"\n").unwrap();
    for want in [
        &format!("the configuration file {} is not valid", config.display())[..],
        "dpkg-lock-wait = \"long\"",
        "invalid type: string \"long\", expected u64",
    ] {
        refused(
            r,
            &["setup", "--role", "master", "--masters", "m1,m2,m3"],
            want,
        );
    }
}

/// Runs the binary on a pseudo-terminal (util-linux `script`), typing `keys`.
fn on_a_terminal(root: &Path, args: &str, keys: &str) -> String {
    let cmd = format!(
        "{} {args} --root {}",
        env!("CARGO_BIN_EXE_mesos-docker"),
        root.display()
    );
    let out = Proc::new("sh")
        .arg("-c")
        .arg(format!(
            "(sleep 1; printf '{keys}') | script -qec \"$0\" /dev/null",
        ))
        .arg(&cmd)
        .output()
        .expect("sh runs");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("script: not found"),
        "the terminal tests need `script` (apt-get install bsdutils)"
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_terminal_is_asked_for_missing_choices() {
    let dir = Host::debian12().build();
    // Enter takes the first role offered: standalone.
    let screen = on_a_terminal(dir.path(), "setup", "\\r");
    assert!(screen.contains("Role of this node (--role)"), "{screen}");
    // A secured standalone node: the master's ACLs file is one of them,
    // and the TLS directory (its files wait for `mesos-agent --help`).
    assert!(screen.contains("36 changed, 0 failed"), "{screen}");
    assert!(dir.path().join("etc/mesos-docker/agent.env").exists());
    assert!(dir.path().join("etc/mesos-docker/master.env").exists());
    // --yes never asks, even on a terminal: no role is a standalone node.
    let dir = Host::debian12().build();
    let screen = on_a_terminal(dir.path(), "setup --yes", "\\r");
    assert!(!screen.contains("Role of this node"), "{screen}");
    assert!(
        screen.starts_with("role: standalone (no --role given and nobody to ask)"),
        "{screen}"
    );
    assert!(dir.path().join("etc/mesos-docker/master.env").exists());
}

#[test]
fn even_masters_warn_but_proceed() {
    let dir = Host::debian12().build();
    let out = binary(
        dir.path(),
        &["setup", "--role", "agent", "--masters", "a,b"],
    );
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: --masters lists 2 hosts"),
        "{stderr}"
    );
}

#[test]
fn quorum_change_needs_force() {
    let dir = Host::debian12().build();
    let out = binary(
        dir.path(),
        &["setup", "--role", "master", "--masters", "m1,m2,m3"],
    );
    assert!(out.status.success());
    refused(
        dir.path(),
        &["setup", "--role", "master", "--masters", "m1,m2,m3,m4,m5"],
        "pass --force to confirm",
    );
    let out = binary(
        dir.path(),
        &[
            "setup",
            "--role",
            "master",
            "--masters",
            "m1,m2,m3,m4,m5",
            "--force",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let env = fs::read_to_string(dir.path().join("etc/mesos-docker/master.env")).unwrap();
    assert!(env.contains("MESOS_QUORUM=\"3\""), "{env}");
}

#[test]
fn non_root_run_on_the_real_root_is_refused() {
    use std::os::unix::process::CommandExt;
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root to drop to another user");
        return;
    }
    let out = Proc::new(env!("CARGO_BIN_EXE_mesos-docker"))
        .args(["setup", "--role", "standalone", "--yes"])
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("preflight failed: root: not running as root")
            && stderr.contains("run it with sudo"),
        "{stderr}"
    );
}

#[test]
fn text_report_from_the_binary() {
    let dir = Host::debian12().build();
    let out = binary(dir.path(), &["setup", "--role", "standalone"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("changed  file    /etc/mesos-docker/agent.env: created"),
        "{stdout}"
    );
    // Packages are only named under --root: apt belongs to the host.
    assert!(
        stdout.contains("skipped  package zookeeperd: not installed: a run on the host itself would install it with apt-get install -y --no-install-recommends zookeeperd"),
        "{stdout}"
    );
    assert!(
        stdout.contains("skipped  service zookeeper.service: zookeeper.service is not installed"),
        "{stdout}"
    );
    assert!(
        stdout
            .trim_end()
            .ends_with("6 ok, 25 changed, 0 failed, 4 skipped"),
        "{stdout}"
    );
    // Every line has its duration; the recap sums them per kind.
    let times = stdout
        .lines()
        .find_map(|l| l.strip_prefix("time per kind: "))
        .unwrap_or_else(|| panic!("no time per kind in {stdout}"));
    for kind in ["dir ", "file ", "executor ", "link ", "service "] {
        assert!(times.contains(kind), "{times}");
    }
    assert!(
        stdout.contains("/usr/local/bin/mesos-docker: installed from "),
        "{stdout}"
    );
    let out = binary(dir.path(), &["setup", "--role", "standalone"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(" ok, 0 changed, 0 failed"), "{stdout}");
    let out = binary(dir.path(), &["status"]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("role: standalone\n"));
    let out = binary(dir.path(), &["uninstall"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "uninstall without --yes and no terminal"
    );
    let out = binary(dir.path(), &["uninstall", "--yes"]);
    assert!(out.status.success());
    assert!(!dir.path().join("var").exists());
    assert!(
        !dir.path().join("etc/systemd").exists(),
        "unit links and dirs undone"
    );
}

/// SHA-256 of a file, with the system's sha256sum (a second opinion).
fn sha256sum(p: &Path) -> String {
    let out = Proc::new("sha256sum").arg(p).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn the_running_binary_is_installed_as_the_executor() {
    let dir = Host::debian12().build();
    let root = dir.path();
    let installed = root.join("usr/local/bin/mesos-docker");
    fs::create_dir_all(installed.parent().unwrap()).unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "setup",
            "--role",
            "agent",
            "--masters",
            "a",
            "--yes",
            "--ignore-preflight",
            "all",
            "--output",
            "json",
        ];
        args.extend_from_slice(extra);
        let out = binary(root, &args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        report["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["kind"] == "executor")
            .cloned()
            .unwrap_or_else(|| panic!("no executor line in {report}"))
    };
    // An older mesos-docker is there (install.sh put it; not setup's).
    fs::write(&installed, b"#!/bin/sh\necho an older mesos-docker\n").unwrap();
    let line = run(&["--dry-run"]);
    assert_eq!(line["status"], "changed", "{line}");
    assert!(
        line["detail"]
            .as_str()
            .unwrap()
            .starts_with("replaced: it differed from this mesos-docker"),
        "{line}"
    );
    assert_eq!(
        fs::read(&installed).unwrap(),
        b"#!/bin/sh\necho an older mesos-docker\n",
        "a dry run changes nothing"
    );
    let line = run(&[]);
    assert_eq!(line["status"], "changed", "{line}");
    let me = Path::new(env!("CARGO_BIN_EXE_mesos-docker"));
    assert_eq!(sha256sum(&installed), sha256sum(me));
    let meta = fs::metadata(&installed).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o755);
    assert_ne!(
        meta.ino(),
        fs::metadata(me).unwrap().ino(),
        "a copy, not a link"
    );
    assert_eq!(
        fs::read_link(root.join("var/lib/mesos/executors/docker")).unwrap(),
        Path::new("/usr/local/bin/mesos-docker")
    );
    // The re-run trusts the recorded stamp: nothing is copied again.
    let line = run(&[]);
    assert_eq!(line["status"], "ok", "{line}");
    assert_eq!(fs::metadata(&installed).unwrap().ino(), meta.ino());
    // It was there before setup: uninstall leaves it.
    let out = binary(root, &["uninstall", "--yes"]);
    assert!(out.status.success());
    assert!(installed.exists());

    // Where there was none, setup's copy is setup's to remove.
    fs::remove_file(&installed).unwrap();
    let line = run(&[]);
    assert_eq!(
        line["detail"].as_str().unwrap().split(';').next().unwrap(),
        format!("installed from {}", fs::canonicalize(me).unwrap().display())
    );
    let out = binary(root, &["uninstall", "--yes"]);
    assert!(out.status.success());
    assert!(!installed.exists());
}

// ---- Mesos and Marathon started and probed; upstart; policy; proxies ----

/// Answers one HTTP GET, keyed as the probe sends it.
fn http(runner: &RecordingRunner, addr: &str, path: &str, status: &str, body: &str) {
    use mesos_docker::setup::host::probes::request;
    runner.answer(
        &format!("tcp {addr} {}", request(addr, path)),
        Output::ok(&format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )),
    );
}

/// Mesos and Marathon answering as they do once serving, at `ip`.
fn serving(runner: &RecordingRunner, ip: &str) {
    let state = r#"{"version":"1.11.0","leader":"master@10.0.0.2:5050"}"#;
    http(runner, &format!("{ip}:5050"), "/health", "200 OK", "");
    http(runner, &format!("{ip}:5050"), "/state", "200 OK", state);
    http(runner, &format!("{ip}:8080"), "/ping", "200 OK", "pong\n");
    http(
        runner,
        &format!("{ip}:5051"),
        "/state",
        "200 OK",
        r#"{"version":"1.11.0","master_hostname":"m2"}"#,
    );
}

/// Answers one GET sent with `secret` as the operator's (or anonymously).
fn http_as(
    runner: &RecordingRunner,
    addr: &str,
    path: &str,
    secret: Option<&str>,
    status: &str,
    body: &str,
) {
    use mesos_docker::setup::host::probes::request_as;
    use mesos_docker::setup::host::secrets::BasicAuth;
    use mesos_docker::setup::input::token::Secret;
    let auth = secret.map(|s| BasicAuth {
        principal: "operator".into(),
        secret: Secret::from_stored(s.into()),
    });
    runner.answer(
        &format!("tcp {addr} {}", request_as(addr, path, auth.as_ref())),
        Output::ok(&format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )),
    );
}

/// Setup's health probes and status ask a secured node's APIs with the
/// credentials in its secret files (each API refusing anonymous requests
/// and a wrong secret); no secret reaches the report, status or its JSON.
#[test]
fn probes_and_status_authenticate_on_a_secured_node() {
    const M: &str = "3a57e2000000000000000000000000000000000000000000000000000000000a";
    const A: &str = "a9e47000000000000000000000000000000000000000000000000000000000bb";
    const K: &str = "4a2a7404000000000000000000000000000000000000000000000000000000cc";
    const WRONG: &str = "mesos-docker-status-wrong-secret";
    let dir = Host::debian12().build();
    let root = dir.path();
    let secrets = root.join("etc/mesos-docker/secrets");
    fs::create_dir_all(&secrets).unwrap();
    fs::set_permissions(&secrets, fs::Permissions::from_mode(0o700)).unwrap();
    let json =
        |s: &str| format!(r#"{{"credentials":[{{"principal":"operator","secret":"{s}"}}]}}"#);
    for (name, text) in [
        ("master-http-credentials.json", json(M)),
        ("agent-http-credentials.json", json(A)),
        (
            "marathon.env",
            format!("MESOSPHERE_HTTP_CREDENTIALS=operator:{K}\n"),
        ),
    ] {
        fs::write(secrets.join(name), text).unwrap();
        fs::set_permissions(secrets.join(name), fs::Permissions::from_mode(0o600)).unwrap();
    }
    let runner = played_host(root);
    let (master, agent, marathon) = ("10.0.0.2:5050", "10.0.0.2:5051", "10.0.0.2:8080");
    let state = r#"{"version":"1.11.0","leader":"master@10.0.0.2:5050"}"#;
    // /health is open; nothing else answers without the right secret.
    http_as(&runner, master, "/health", None, "200 OK", "");
    for (addr, path, secret, body) in [
        (master, "/state", M, state),
        (
            agent,
            "/state",
            A,
            r#"{"version":"1.11.0","master_hostname":"m2"}"#,
        ),
        (marathon, "/ping", K, "pong\n"),
        (marathon, "/v2/info", K, "{}"),
    ] {
        http_as(&runner, addr, path, Some(secret), "200 OK", body);
        http_as(&runner, addr, path, None, "401 Unauthorized", "");
        http_as(&runner, addr, path, Some(WRONG), "401 Unauthorized", "");
    }
    let (code, report) = setup_with(
        root,
        Box::new(Shared(runner.clone())),
        &standalone_at_10_0_0_2(),
    );
    assert_eq!(code, ExitCode::SUCCESS, "{report}");
    let sys = System::live_for_tests(root, Box::new(Shared(runner.clone())));
    let s = status::gather(&sys).unwrap().unwrap();
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    assert_eq!(s.security.mode, "secured");
    let verdicts: Vec<(&str, &str)> = s
        .security
        .endpoints
        .iter()
        .map(|e| (e.name.as_str(), e.verdict))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("mesos-master", "protected"),
            ("mesos-agent", "protected"),
            ("marathon", "protected")
        ]
    );
    // The health probes sent each secret only where it is wanted.
    let calls = runner.calls();
    let health = calls.iter().find(|c| c.contains(" GET /health ")).unwrap();
    assert!(!health.contains("Authorization"), "{health}");
    let seen = format!(
        "{report}\n{}\n{}",
        status::text(&s),
        serde_json::to_string(&s).unwrap()
    );
    for secret in [M, A, K] {
        assert!(!seen.contains(secret), "{seen}");
    }
}

/// A standalone node set up with `--ip 10.0.0.2`, its daemons serving there.
fn standalone_serving_at_10_0_0_2(root: &Path) -> (Arc<RecordingRunner>, serde_json::Value) {
    let runner = played_host(root);
    serving(&runner, "10.0.0.2");
    let (code, report) = setup_with(
        root,
        Box::new(Shared(runner.clone())),
        &standalone_at_10_0_0_2(),
    );
    assert_eq!(code, ExitCode::SUCCESS, "{report}");
    (runner, report)
}

fn standalone_at_10_0_0_2() -> Vec<&'static str> {
    [&role_args("standalone")[..], &["--ip", "10.0.0.2"]].concat()
}

fn report_line(report: &serde_json::Value, kind: &str, id: &str) -> serde_json::Value {
    report["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["kind"] == kind && l["id"] == id)
        .unwrap_or_else(|| panic!("no {kind} {id} in {report}"))
        .clone()
}

#[test]
fn mesos_and_marathon_start_and_answer_their_health_endpoints() {
    let dir = Host::debian12().build();
    let root = dir.path();
    let (runner, report) = standalone_serving_at_10_0_0_2(root);
    let started: Vec<String> = runner
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("systemctl start") || c.starts_with("tcp 10.0.0.2"))
        .map(|c| c.lines().next().unwrap().to_owned())
        .collect();
    assert_eq!(
        started,
        [
            "systemctl start zookeeper.service",
            "systemctl start mesos-master.service",
            "systemctl start marathon.service",
            "systemctl start mesos-agent.service",
            "systemctl start mesos-docker-reap.timer",
            "systemctl start docker.service",
            "tcp 10.0.0.2:5050 GET /health HTTP/1.0",
            "tcp 10.0.0.2:5050 GET /state HTTP/1.0",
            "tcp 10.0.0.2:8080 GET /ping HTTP/1.0",
            "tcp 10.0.0.2:5051 GET /state HTTP/1.0",
        ]
    );
    let health = |id: &str| report_line(&report, "health", id);
    assert_eq!(
        health("mesos-master")["detail"],
        "GET /health: 200; GET /state: version 1.11.0, leader master@10.0.0.2:5050"
    );
    assert_eq!(health("marathon")["detail"], "GET /ping: pong");
    assert_eq!(
        health("mesos-agent")["detail"],
        "GET /state: version 1.11.0, master m2"
    );

    // A master of an ensemble whose peers are not up: reported, not fatal.
    let runner = played_host(root);
    serving(&runner, "10.0.0.2");
    http(
        &runner,
        "10.0.0.2:5050",
        "/state",
        "200 OK",
        r#"{"version":"1.11.0"}"#,
    );
    let (code, report) = setup_with(root, Box::new(Shared(runner)), &standalone_at_10_0_0_2());
    assert_eq!(code, ExitCode::SUCCESS, "{report}");
    let master = report_line(&report, "health", "mesos-master");
    assert_eq!(master["status"], "skipped");
    assert!(
        master["detail"]
            .as_str()
            .unwrap()
            .contains("no leading master elected yet: run setup on the other masters"),
        "{master}"
    );

    // Marathon dies instead of answering: the run fails with its journal.
    let runner = played_host(root);
    serving(&runner, "127.0.0.1");
    runner.answer(
        "tcp 127.0.0.1:8080 GET /ping HTTP/1.0\r\nHost: 127.0.0.1:8080\r\nAccept: */*\r\n\r\n",
        Output::failed(""),
    );
    runner.answer(
        "systemctl is-active marathon.service",
        Output {
            success: false,
            stdout: "failed\n".into(),
            stderr: String::new(),
        },
    );
    runner.answer(
        "journalctl -u marathon.service -n 20 --no-pager",
        Output::ok("marathon[7]: Failed to connect to ZooKeeper\n"),
    );
    let (code, report) = setup_with(root, Box::new(Shared(runner)), &role_args("standalone"));
    assert_eq!(code, ExitCode::FAILURE, "{report}");
    let error = report["error"].as_str().unwrap();
    assert!(
        error.starts_with(
            "stopped at health marathon: the unit failed: GET http://127.0.0.1:8080/ping: 127.0.0.1:8080: connection refused"
        ) && error.contains("Failed to connect to ZooKeeper"),
        "{error}"
    );
}

#[test]
fn upstart_jobs_start_once_and_restart_on_a_change() {
    let dir = Host::release("ubuntu", "14.04").build();
    let root = dir.path();
    // The packages' own jobs (zookeeperd, docker.io on 14.04).
    fs::create_dir_all(root.join("etc/init")).unwrap();
    fs::write(root.join("etc/init/zookeeper.conf"), "exec /usr/bin/zk\n").unwrap();
    fs::write(
        root.join("etc/init/docker.conf"),
        "exec /usr/bin/docker daemon\n",
    )
    .unwrap();
    let runner = Arc::new(RecordingRunner::new());
    runner.answer(
        "initctl --version",
        Output::ok("initctl (upstart 1.12.1)\n"),
    );
    runner.apt(root, ARCHIVE, true);
    answering(&runner);
    let upstart = |from: usize| -> Vec<String> {
        runner.calls()[from..]
            .iter()
            .filter(|c| {
                ["start ", "stop ", "restart "]
                    .iter()
                    .any(|p| c.starts_with(p))
            })
            .cloned()
            .collect()
    };
    let standalone = role_args("standalone");
    let (code, report) = setup_with(root, Box::new(Shared(runner.clone())), &standalone);
    assert_eq!(code, ExitCode::SUCCESS, "{report}");
    assert_eq!(
        upstart(0),
        [
            "start mesos-master",
            "start marathon",
            "start mesos-agent",
            "start zookeeper",
            "start docker",
        ]
    );
    assert_eq!(report_line(&report, "health", "zookeeper")["status"], "ok");
    assert_eq!(report_line(&report, "health", "marathon")["status"], "ok");
    // Converged: nothing is started again.
    let n = runner.calls().len();
    let (code, again) = setup_with(root, Box::new(Shared(runner.clone())), &standalone);
    assert_eq!(code, ExitCode::SUCCESS, "{again}");
    assert_eq!(changed(&again), 0, "{again}");
    assert!(upstart(n).is_empty(), "{:?}", upstart(n));
    assert!(runner.calls()[n..].contains(&"status mesos-agent".to_owned()));
    // An input of the agent changed: upstart's restart keeps the old job
    // file, so it is a stop and a start.
    let env = root.join("etc/mesos-docker/agent.env");
    fs::write(&env, fs::read_to_string(&env).unwrap() + "MESOS_X=1\n").unwrap();
    let n = runner.calls().len();
    let (code, third) = setup_with(root, Box::new(Shared(runner.clone())), &standalone);
    assert_eq!(code, ExitCode::SUCCESS, "{third}");
    assert_eq!(upstart(n), ["stop mesos-agent", "start mesos-agent"]);
    // A proxy: the jobs source the root-only file that holds it, each of
    // them restarted.
    let n = runner.calls().len();
    let sys = System::live_for_tests(root, Box::new(Shared(runner.clone())));
    let (code, fourth) = setup_edited(&sys, &standalone, |a| {
        a.proxy.http = Some("http://user:s3cret@proxy.example:3128".into());
    });
    assert_eq!(code, ExitCode::SUCCESS, "{fourth}");
    let job = fs::read_to_string(root.join("etc/init/mesos-agent.conf")).unwrap();
    assert!(
        job.contains("  . /etc/mesos-docker/agent.env\n  . /etc/mesos-docker/proxy.env\n  exec "),
        "{job}"
    );
    let env = root.join("etc/mesos-docker/proxy.env");
    assert_eq!(fs::metadata(&env).unwrap().mode() & 0o7777, 0o600);
    assert!(
        fs::read_to_string(&env)
            .unwrap()
            .contains("\nhttp_proxy=\"http://user:s3cret@proxy.example:3128\"\n")
    );
    assert_no_secret(root, &fourth.to_string(), "s3cret");
    assert_eq!(
        upstart(n),
        [
            "stop mesos-master",
            "start mesos-master",
            "stop marathon",
            "start marathon",
            "stop mesos-agent",
            "start mesos-agent",
        ]
    );
    // status asks upstart.
    let s = status::gather(&sys).unwrap().unwrap();
    let states: Vec<(&str, &str)> = s
        .services
        .iter()
        .map(|x| (x.name.as_str(), x.active.as_str()))
        .collect();
    assert_eq!(
        states,
        [
            ("zookeeper", "start/running"),
            ("mesos-master", "start/running"),
            ("marathon", "start/running"),
            ("docker", "start/running"),
            ("mesos-agent", "start/running"),
        ]
    );
}

#[test]
fn policy_flags_write_what_the_executor_reads() {
    use mesos_docker::exec::policy::Policy;
    let dir = Host::debian12().build();
    let root = dir.path();
    let path = root.join("etc/mesos-docker/policy.toml");
    setup_in(root, &role_args("agent"));
    assert!(!path.exists(), "no policy flag, no policy file");
    fs::write(
        root.join("etc/mesos-docker/setup.toml"),
        "[policy]\nallow-registry = [\"registry.example.com:5000\"]\nmax-task-mem = 4096\n",
    )
    .unwrap();
    let args = [
        &role_args("agent")[..],
        &[
            "--allow-host-network",
            "--allow-host-path",
            "/srv/data",
            "--allow-host-path",
            "/mnt/shared/",
            "--max-task-cpus",
            "2.5",
            "--allow-capability",
            "cap_sys_ptrace",
            "--allow-volume-driver",
            "local:nfs",
        ],
    ]
    .concat();
    let (code, report) = setup_in(root, &args);
    assert_eq!(code, ExitCode::SUCCESS, "{report}");
    assert_eq!(
        Policy::load(&path).unwrap(),
        Policy {
            allow_privileged: false,
            allow_host_network: true,
            allow_devices: false,
            allowed_host_paths: Some(vec!["/srv/data".into(), "/mnt/shared".into()]),
            allowed_registries: Some(vec!["registry.example.com:5000".into()]),
            allowed_capabilities: vec!["SYS_PTRACE".into()],
            allowed_volume_drivers: Some(vec!["local:nfs".into()]),
            max_cpus: Some(2.5),
            max_mem_mb: Some(4096.0),
            ..Policy::default()
        }
    );
    let (_, again) = setup_in(root, &args);
    assert_eq!(changed(&again), 0, "{again}");
    refused(
        root,
        &[
            "setup",
            "--role",
            "agent",
            "--masters",
            "a",
            "--allow-host-path",
            "srv",
        ],
        "--allow-host-path: \"srv\" is not an absolute path",
    );
    refused(
        root,
        &[
            "setup",
            "--role",
            "agent",
            "--masters",
            "a",
            "--max-task-cpus=-1",
        ],
        "--max-task-cpus",
    );
}

#[test]
fn proxies_go_into_drop_ins_and_leave_with_them() {
    use mesos_docker::setup::input::proxy::Proxy;
    let dir = Host::debian12().build();
    let root = dir.path();
    let runner = played_host(root);
    let sys = || System::live_for_tests(root, Box::new(Shared(runner.clone())));
    let with = Proxy {
        http: Some("http://proxy.example:3128".into()),
        https: Some("http://proxy.example:3128".into()),
        no: Some("localhost,10.0.0.0/8".into()),
    };
    let run = |proxy: &Proxy| {
        let root_s = root.to_str().unwrap();
        let mut all = vec!["setup", "--root", root_s, "--output", "json", "--yes"];
        all.extend(role_args("agent"));
        all.push("--insecure");
        let Command::Setup(mut a) = parse(&all) else {
            unreachable!()
        };
        a.executor_source = Some(small_executor());
        a.proxy = proxy.clone();
        let buf = Buf::default();
        let rep = Reporter::new(OutputFormat::Json, "setup", false, Box::new(buf.clone()));
        let code = setup::run::run(&sys(), &a, None, rep);
        let report: serde_json::Value = serde_json::from_slice(&buf.0.lock().unwrap()).unwrap();
        (code, report)
    };
    let docker = root.join("etc/systemd/system/docker.service.d/mesos-docker-proxy.conf");
    let agent = root.join("etc/systemd/system/mesos-agent.service.d/mesos-docker-proxy.conf");
    let (code, report) = run(&with);
    assert_eq!(code, ExitCode::SUCCESS, "{report}");
    let text = fs::read_to_string(&docker).unwrap();
    assert!(
        text.ends_with("[Service]\nEnvironmentFile=/etc/mesos-docker/proxy.env\n"),
        "{text}"
    );
    assert_eq!(fs::read_to_string(&agent).unwrap(), text);
    let env = fs::read_to_string(root.join("etc/mesos-docker/proxy.env")).unwrap();
    assert!(
        env.contains("\nHTTP_PROXY=\"http://proxy.example:3128\"\n")
            && env.contains("\nno_proxy=\"localhost,10.0.0.0/8\"\n"),
        "{env}"
    );
    // Unset again: removed, systemd told, the agent and Docker restarted to forget it.
    let n = runner.calls().len();
    let (code, report) = run(&Proxy::default());
    assert_eq!(code, ExitCode::SUCCESS, "{report}");
    assert!(!docker.exists() && !agent.exists());
    assert!(!root.join("etc/mesos-docker/proxy.env").exists());
    assert_eq!(
        actions(&runner, n)
            .into_iter()
            .filter(|c| c.starts_with("systemctl"))
            .collect::<Vec<_>>(),
        [
            "systemctl daemon-reload",
            "systemctl restart mesos-agent.service",
            "systemctl restart docker.service"
        ]
    );
    // A value a unit cannot hold is refused before anything changes.
    let (code, report) = run(&Proxy {
        http: Some("http://a b".into()),
        ..Proxy::default()
    });
    assert_eq!(code, ExitCode::from(2), "{report}");
    assert!(
        report["error"]
            .as_str()
            .unwrap()
            .starts_with("HTTP_PROXY: \"http://a b\" contains ' '"),
        "{report}"
    );
}

// ---- package sources ----

const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A Mesos (and Marathon) build as a tarball: the layout `tgz:` sources
/// have, made byte for byte the same on every run so its digest is fixed.
fn build_tarball(dir: &Path) -> (String, String) {
    let path = dir.join("mesos-build.tgz");
    let gz = flate2::write::GzEncoder::new(
        fs::File::create(&path).unwrap(),
        flate2::Compression::default(),
    );
    let mut tar = tar::Builder::new(gz);
    for name in ["sbin/mesos-master", "sbin/mesos-agent", "bin/marathon"] {
        let body = format!("#!/bin/sh\n# stand-in {name}\nexit 0\n");
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o755);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        tar.append_data(&mut h, name, body.as_bytes()).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
    let sha = mesos_docker::setup::apply::fetch::hash_file(&path).unwrap();
    (path.display().to_string(), sha)
}

fn marathon_image() -> String {
    format!("docker:mesosphere/marathon:v1.11.24@sha256:{HEX}")
}

#[test]
fn sources_render_a_tarball_and_an_image() {
    let dir = Host::debian12().build_bare();
    let files = tempfile::tempdir().unwrap();
    let (tgz, sha) = build_tarball(files.path());
    let mesos = format!("tgz:{tgz},sha256={sha}");
    let marathon = marathon_image();
    let args = [
        &role_args("standalone")[..],
        &["--mesos-source", &mesos, "--marathon-source", &marathon],
    ]
    .concat();
    let before = tree(dir.path());
    let (code, report) = setup_in(dir.path(), &args);
    assert_eq!(code, ExitCode::SUCCESS, "{report}");
    assert_render(
        "standalone-sources-debian-12",
        rendered(&before, &tree(dir.path())),
    );
    let line = |kind: &str| {
        report["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in {report}"))
            .clone()
    };
    assert_eq!(line("tarball")["id"], "/opt/mesos-docker/mesos");
    assert_eq!(line("tarball")["status"], "changed");
    let image = line("image");
    assert_eq!(image["status"], "skipped", "{image}");
    assert!(
        image["detail"].as_str().unwrap().ends_with(&format!(
            "a run on the host itself would pull mesosphere/marathon:v1.11.24@sha256:{HEX}"
        )),
        "{image}"
    );
    let current = dir.path().join("opt/mesos-docker/mesos/current");
    assert_eq!(fs::read_link(&current).unwrap(), Path::new(&sha[..12]));

    // Converged: nothing fetched or unpacked again.
    let (_, again) = setup_in(dir.path(), &args);
    assert_eq!(changed(&again), 0, "{again}");
    // Uninstall takes the unpacked trees away with everything else.
    let sys = System::new(dir.path(), Box::new(HostRunner));
    let (code, undo) = uninstall_in(&sys, false);
    assert_eq!(code, ExitCode::SUCCESS, "{undo}");
    assert_eq!(tree(dir.path()), before);
    // The units name programs that exist (the tarball's, docker).
    let (code, report) = setup_in(dir.path(), &args);
    assert_eq!(code, ExitCode::SUCCESS, "{report}");
    verify_units(dir.path());
}

#[test]
fn sources_are_refused_before_anything_is_written() {
    let dir = Host::debian12().build_bare();
    let r = dir.path();
    let agent = ["setup", "--role", "agent", "--masters", "a"];
    let with = |extra: &[&'static str]| [&agent[..], extra].concat();
    // A release AVENTER does not serve has no default Mesos.
    let bionic = with(&["--os", "ubuntu:18.04", "--ignore-preflight", "os"]);
    refused(
        r,
        &bionic,
        "this node has no Mesos (no /usr/sbin/mesos-agent or /usr/bin/mesos-agent) and the default source, aventer-mesos (AVENTER's Mesos packages), has no build for Ubuntu 18.04: it serves ubuntu:20.04, ubuntu:22.04, ubuntu:24.04, debian:11, debian:12. Name a build you trust with --mesos-source",
    );
    refused(r, &bionic, "'tgz:URL-OR-PATH,sha256=HEX'");
    refused(
        r,
        &with(&["--mesos-source", "tgz:https://example.org/mesos.tgz"]),
        "the mesos source tgz:https://example.org/mesos.tgz is unverified: it has no pinned sha256. Pin it (for example --mesos-source 'tgz:URL,sha256=HEX') or pass --allow-unverified to install it unchecked",
    );
    refused(
        r,
        &with(&["--mesos-source", "tgz:mesos.tgz"]),
        "--mesos-source: \"mesos.tgz\" is not an https:// or http:// URL, a file:///PATH or an absolute path; the form is tgz:LOCATION[,sha256=HEX]",
    );
    refused(
        r,
        &with(&["--mesos-source", "/srv/x"]),
        "--mesos-source: \"/srv/x\" is neither a catalog id nor a SPEC",
    );
    refused(
        r,
        &with(&["--mesos-source", "distro"]),
        "--mesos-source: Debian 12 has no mesos package of its own",
    );
    let tgz = format!("tgz:/srv/mesos.tgz,sha256={HEX}");
    let tgz: &'static str = Box::leak(tgz.into_boxed_str());
    refused(
        r,
        &with(&["--mesos-source", tgz, "--mirror", "mirror.local"]),
        "--mirror: \"mirror.local\" is not an http:// or https:// URL",
    );
    let master = ["setup", "--role", "master", "--mesos-source", tgz];
    let pinned_only = [&master[..], &["--require-pinned"]].concat();
    refused(
        r,
        &pinned_only,
        "the marathon source marathon-1.11.24 (docker:mesosphere/marathon:v1.11.24) publishes no image digest: setup would trust it on first use, but --require-pinned (require-pinned = true in setup.toml) forbids that. Pin it: \"marathon-1.11.24\" = \"…\" under [pins] in setup.toml, as a node that trusted it printed, or --marathon-source 'docker:IMAGE@sha256:DIGEST'",
    );
    // Exit status 2: refused input.
    let out = binary(r, &pinned_only);
    assert_eq!(out.status.code(), Some(2));
    // The same from setup.toml names the file.
    fs::create_dir_all(r.join("etc/mesos-docker")).unwrap();
    fs::write(
        r.join("etc/mesos-docker/setup.toml"),
        "[sources]\nmesos = \"rpm:/srv/mesos.rpm\"\n",
    )
    .unwrap();
    refused(
        r,
        &agent,
        "/etc/mesos-docker/setup.toml [sources] mesos: \"rpm\" is not a kind of source",
    );
    fs::write(
        r.join("etc/mesos-docker/setup.toml"),
        "[sources]\nmesoss = \"distro\"\n",
    )
    .unwrap();
    refused(r, &agent, "unknown field `mesoss`");
    fs::write(
        r.join("etc/mesos-docker/setup.toml"),
        "require-pinned = true\n",
    )
    .unwrap();
    refused(r, &master, "forbids that. Pin it: \"marathon-1.11.24\"");
    fs::remove_dir_all(r.join("etc/mesos-docker")).unwrap();

    // Marathon's image is trusted on first use: a dry run says how.
    let out = binary(
        r,
        &[&master[..], &["--dry-run", "--ignore-preflight", "all"]].concat(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // The dry run shows what the sources would put on the node.
    let stdout = String::from_utf8_lossy(&out.stdout);
    for want in [
        "trust on first use: the marathon source marathon-1.11.24 (docker:mesosphere/marathon:v1.11.24): a run on the host pulls mesosphere/marathon:v1.11.24 over the registry's HTTPS (no digest of it is published), prints its digest and pins it in ",
        "changed  tarball /opt/mesos-docker/mesos: unpacked",
        "skipped  image   mesosphere/marathon:v1.11.24: ",
        "skipped  package docker.io: not installed",
    ] {
        assert!(stdout.contains(want), "{want:?} not in {stdout}");
    }
    assert!(!r.join("opt").exists() && !r.join("etc/mesos-docker").exists());
}

/// A bare Debian 12 host and `--require-pinned`: neither Mesos nor
/// Marathon has a usable source. `--dry-run` and `--root` alike show every
/// resource of the role (with diffs), one line per missing source naming
/// the fix, then exit 2 with nothing written.
#[test]
fn with_no_usable_source_the_whole_plan_is_shown_then_exit_2() {
    let dir = Host::debian12().build_bare();
    let r = dir.path();
    let full = Host::debian12().build();
    let (code, whole) = setup_in(full.path(), &["--role", "standalone", "--dry-run"]);
    assert_eq!(code, ExitCode::SUCCESS, "{whole}");
    let ids = |report: &serde_json::Value| -> BTreeSet<String> {
        report["resources"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["kind"] != "source")
            .map(|l| {
                format!(
                    "{} {}",
                    l["kind"].as_str().unwrap(),
                    l["id"].as_str().unwrap()
                )
            })
            .collect()
    };
    for extra in [&["--dry-run"][..], &[]] {
        let before = tree(r);
        let args = [&["--role", "standalone", "--require-pinned"][..], extra].concat();
        let (code, report) = setup_in(r, &args);
        assert_eq!(code, ExitCode::from(2), "{extra:?}: {report}");
        assert_eq!(tree(r), before, "{extra:?} wrote something");
        assert_eq!(report["dry_run"], true, "{report}");
        let lines = report["resources"].as_array().unwrap();
        let sources: Vec<String> = lines
            .iter()
            .filter(|l| l["kind"] == "source")
            .map(|l| format!("{} {} {}", l["status"], l["id"], l["detail"]))
            .collect();
        assert_eq!(sources.len(), 2, "{sources:?}");
        assert!(sources[0].starts_with("\"failed\" \"mesos\" \"the mesos source aventer-mesos (apt:https://rpm.aventer.biz/Debian,suite=bookworm,"), "{sources:?}");
        assert!(
            sources[1]
                .starts_with("\"failed\" \"marathon\" \"the marathon source marathon-1.11.24"),
            "{sources:?}"
        );
        // Everything else a standalone node gets is in the plan too, the
        // units with their diffs.
        let want = ids(&whole);
        let got = ids(&report);
        assert!(
            want.is_subset(&got),
            "missing: {:?}",
            want.difference(&got).collect::<Vec<_>>()
        );
        let unit = report_line(&report, "file", "/etc/systemd/system/mesos-master.service");
        assert!(
            unit["diff"].as_str().unwrap().contains("+ExecStart=/usr/"),
            "{unit}"
        );
        let err = report["error"].as_str().unwrap();
        assert!(
            err.contains("forbids that")
                && err.ends_with("Nothing was changed: the plan above is what a run would do"),
            "{err}"
        );
    }
    // The binary's text report: the plan, then the refusal on stderr.
    let out = binary(r, &["setup", "--role", "standalone", "--require-pinned"]);
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("failed   source  mesos: the mesos source aventer-mesos"),
        "{stdout}"
    );
    assert!(
        stdout.contains("changed  file    /etc/mesos-docker/agent.env: created"),
        "{stdout}"
    );
    assert!(
        stdout.contains("(dry run: nothing was written)"),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Nothing was changed"), "{stderr}");
}

/// Where AVENTER serves the release, a bare host gets its Mesos by
/// default: rendered under --root, the key is left for a run on the host
/// to trust on first use, and the units run AVENTER's /usr/bin programs.
#[test]
fn a_bare_host_takes_aventer_mesos_by_default() {
    for (os, version, uri, suite) in [
        ("debian", "12", "https://rpm.aventer.biz/Debian", "bookworm"),
        (
            "ubuntu",
            "24.04",
            "https://rpm.aventer.biz/Ubuntu/noble",
            "noble",
        ),
    ] {
        let dir = Host::release(os, version).build_bare();
        let r = dir.path();
        let (code, report) = setup_in(r, &["--role", "standalone", "--no-marathon"]);
        assert_eq!(code, ExitCode::SUCCESS, "{report}");
        let src = report_line(
            &report,
            "apt-source",
            "/etc/apt/sources.list.d/aventer-mesos.sources",
        );
        assert_eq!(src["status"], "skipped", "{src}");
        assert!(src["detail"].as_str().unwrap().contains("fetches the signing key https://www.aventer.biz/assets/support_aventer.asc, prints its fingerprint and pins it under [pins] aventer-mesos"), "{src}");
        let pkg = report_line(&report, "package", "aventer-mesos");
        assert_eq!(pkg["status"], "skipped", "{pkg}");
        let notes = report["notes"].as_array().unwrap();
        assert!(notes.iter().any(|n| n.as_str().unwrap().starts_with(&format!("trust on first use: the mesos source aventer-mesos (apt:{uri},suite={suite},components=main,key=https://www.aventer.biz/assets/support_aventer.asc,packages=aventer-mesos)"))), "{notes:?}");
        for (unit, program) in [
            ("mesos-master", "/usr/bin/mesos-master"),
            ("mesos-agent", "/usr/bin/mesos-agent"),
        ] {
            let text =
                fs::read_to_string(r.join(format!("etc/systemd/system/{unit}.service"))).unwrap();
            assert!(text.contains(&format!("\nExecStart={program}\n")), "{text}");
        }
        assert!(!r.join("etc/apt").exists());
    }
    // An installed Mesos in /usr/bin (AVENTER's layout) is kept and run from there.
    let dir = Host::debian12().build_bare();
    let r = dir.path();
    for p in ["usr/bin/mesos-master", "usr/bin/mesos-agent"] {
        fs::create_dir_all(r.join("usr/bin")).unwrap();
        fs::write(r.join(p), "#!/bin/sh\n").unwrap();
    }
    let (code, report) = setup_in(r, &["--role", "standalone", "--no-marathon"]);
    assert_eq!(code, ExitCode::SUCCESS, "{report}");
    assert!(!report.to_string().contains("aventer"), "{report}");
    let text = fs::read_to_string(r.join("etc/systemd/system/mesos-agent.service")).unwrap();
    assert!(
        text.contains("\nExecStart=/usr/bin/mesos-agent\n"),
        "{text}"
    );
}

#[test]
fn slave_is_the_agent_and_no_role_is_a_standalone_node() {
    let help = binary(Path::new("/"), &["setup", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("agent (alias slave)"), "{help}");
    let dir = Host::debian12().build();
    let r = dir.path();
    let out = binary(
        r,
        &["setup", "--role", "slave", "--masters", "m1", "--dry-run"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("/etc/mesos-docker/agent.env: created"),
        "{stdout}"
    );
    assert!(!stdout.contains("master.env"), "{stdout}");
    // No role and no terminal (stdin is not one): a standalone node, said first.
    let out = binary(r, &["setup"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("role: standalone (no --role given and nobody to ask): ZooKeeper, the Mesos master and agent, Marathon and Docker on this host"),
        "{stdout}"
    );
    assert!(
        r.join("etc/mesos-docker/master.env").exists()
            && r.join("etc/mesos-docker/agent.env").exists()
    );
    let manifest = fs::read_to_string(r.join("var/lib/mesos-docker/manifest.json")).unwrap();
    assert!(manifest.contains("\"role\": \"standalone\""), "{manifest}");
}

/// A throw-away OpenPGP key made by gpg: (armored export, binary export,
/// fingerprint).
fn test_key() -> (String, Vec<u8>, String) {
    test_key_with(&[], "never")
}

/// As [`test_key`], with more gpg options (e.g. a faked time) and an expiry.
fn test_key_with(options: &[&str], expire: &str) -> (String, Vec<u8>, String) {
    let gpg = support::mirror::need("gpg", "gnupg");
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        support::mirror::run_checked(
            Proc::new(&gpg)
                .env("GNUPGHOME", home.path())
                .args(["--batch", "--quiet", "--passphrase", ""])
                .args(options)
                .args(args),
        )
        .stdout
    };
    run(&[
        "--quick-gen-key",
        "mesos-docker test repository <test@example.org>",
        // RSA, as Docker's key is: packets over 191 bytes take the
        // two-octet length form.
        "rsa2048",
        "sign",
        expire,
    ]);
    let armored = String::from_utf8(run(&["--armor", "--export"])).unwrap();
    let binary = run(&["--export"]);
    let listing = String::from_utf8(run(&["--with-colons", "--list-keys"])).unwrap();
    let fpr = listing
        .lines()
        .find_map(|l| l.strip_prefix("fpr:"))
        .and_then(|l| l.trim_matches(':').rsplit(':').next())
        .unwrap()
        .to_owned();
    (armored, binary, fpr)
}

/// Files under a mirror's root as `--mirror` lays them out: host/path.
fn mirror_with(files: &[(&str, &[u8])]) -> (tempfile::TempDir, support::mirror::Server) {
    let root = tempfile::tempdir().unwrap();
    support::mirror::make_readable_by_all(root.path());
    for (path, data) in files {
        let p = root.path().join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        support::mirror::make_readable_by_all(p.parent().unwrap());
        fs::write(&p, data).unwrap();
    }
    let server = support::mirror::Server::start(root.path(), true, None);
    (root, server)
}

fn sha_of(data: &[u8]) -> String {
    mesos_docker::setup::record::sha256_hex(data)
}

fn line_of(report: &serde_json::Value, kind: &str) -> serde_json::Value {
    report["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {report}"))
        .clone()
}

#[test]
fn sources_install_through_a_mirror_and_converge() {
    let dir = Host::debian12().build_bare();
    let root = dir.path();
    let (armored, binary_key, fpr) = test_key();
    let deb = b"stand-in for mesos_1.11.0-1_amd64.deb".to_vec();
    let archive = b"stand-in for a docker save tarball".to_vec();
    let (_files, server) = mirror_with(&[
        ("apt.example.org/debian/key.asc", armored.as_bytes()),
        ("dl.example.org/mesos/mesos_1.11.0-1_amd64.deb", &deb),
        ("dl.example.org/marathon/marathon.tar", &archive),
    ]);
    let runner = played_host(root);
    runner.apt(
        root,
        &[
            ("zookeeperd", "3.8.0-11"),
            ("docker-ce", "5:27.0.3-1~debian.12~bookworm"),
        ],
        false,
    );
    runner.deb("mesos_1.11.0-1_amd64.deb", "mesos", "1.11.0-1");
    runner.docker_images(&[], &[("marathon.tar", "mesosphere/marathon:v1.11.24")]);
    let docker = format!(
        "apt:https://apt.example.org/debian,suite=bookworm,components=main,key=https://apt.example.org/debian/key.asc,fingerprint={fpr},packages=docker-ce"
    );
    let mesos = format!(
        "deb:https://dl.example.org/mesos/mesos_1.11.0-1_amd64.deb,sha256={}",
        sha_of(&deb)
    );
    let marathon = format!(
        "docker-archive:https://dl.example.org/marathon/marathon.tar,image=mesosphere/marathon:v1.11.24,sha256={}",
        sha_of(&archive)
    );
    let ca = support::mirror::tls().ca.display().to_string();
    let mirror = server.url();
    let args = [
        &role_args("standalone")[..],
        &[
            "--docker-source",
            &docker,
            "--mesos-source",
            &mesos,
            "--marathon-source",
            &marathon,
            "--mirror",
            &mirror,
            "--mirror-ca",
            &ca,
        ],
    ]
    .concat();
    let (code, report) = setup_with(root, Box::new(Shared(runner.clone())), &args);
    assert_eq!(code, ExitCode::SUCCESS, "{report}");

    // The key went through the pin and is written as apt reads it.
    assert_eq!(
        fs::read(root.join("etc/apt/keyrings/mesos-docker-docker.gpg")).unwrap(),
        binary_key
    );
    let list = fs::read_to_string(root.join("etc/apt/sources.list.d/mesos-docker-docker.sources"))
        .unwrap();
    assert!(
        list.contains(&format!("URIs: {mirror}/apt.example.org/debian\n"))
            && list.contains("Suites: bookworm\n")
            && list.contains("Signed-By: /etc/apt/keyrings/mesos-docker-docker.gpg\n"),
        "{list}"
    );
    assert!(server.fetched("key.asc") && server.fetched("mesos_1.11.0-1_amd64.deb"));
    let acts = actions(&runner, 0);
    let pos = |c: &str| {
        acts.iter()
            .position(|a| a == c)
            .unwrap_or_else(|| panic!("no {c} in {acts:?}"))
    };
    // The new source is read before its package is installed.
    let updates: Vec<usize> = acts
        .iter()
        .enumerate()
        .filter(|(_, a)| a.ends_with("apt-get update"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(updates.len(), 2, "{acts:?}");
    assert!(
        updates[1] < pos(&format!("{INSTALL} docker-ce")),
        "{acts:?}"
    );
    let deb_install = acts
        .iter()
        .find(|a| a.starts_with(INSTALL) && a.ends_with("mesos_1.11.0-1_amd64.deb"))
        .unwrap_or_else(|| panic!("no .deb install in {acts:?}"));
    assert!(
        deb_install.contains("/var/cache/mesos-docker/"),
        "{deb_install}"
    );
    assert!(
        acts.iter()
            .any(|a| a.starts_with("docker load -i ") && a.ends_with("marathon.tar")),
        "{acts:?}"
    );
    assert_eq!(runner.images(), ["mesosphere/marathon:v1.11.24"]);
    assert_eq!(line_of(&report, "apt-source")["status"], "changed");
    assert_eq!(
        line_of(&report, "deb")["detail"],
        "installed; mesos 1.11.0-1"
    );
    let m: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(root.join("var/lib/mesos-docker/manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        m["packages"],
        serde_json::json!(["zookeeperd", "docker-ce", "mesos"])
    );
    assert_eq!(
        m["images"],
        serde_json::json!(["mesosphere/marathon:v1.11.24"])
    );

    // Converged: nothing fetched, installed, loaded or refreshed.
    let requests = server.requests().len();
    let n = runner.calls().len();
    let (code, again) = setup_with(root, Box::new(Shared(runner.clone())), &args);
    assert_eq!(code, ExitCode::SUCCESS, "{again}");
    assert_eq!(changed(&again), 0, "{again}");
    assert_eq!(server.requests().len(), requests);
    assert!(
        actions(&runner, n)
            .iter()
            .all(|a| !a.starts_with("env ") && !a.starts_with("docker load")),
        "{:?}",
        actions(&runner, n)
    );

    // Uninstall takes back the key, the source, the cache, the image and
    // the packages.
    let sys = System::live_for_tests(root, Box::new(Shared(runner.clone())));
    let (code, undo) = uninstall_in(&sys, false);
    assert_eq!(code, ExitCode::SUCCESS, "{undo}");
    for gone in [
        "etc/apt/keyrings/mesos-docker-docker.gpg",
        "etc/apt/sources.list.d/mesos-docker-docker.sources",
        "etc/apt",
        "var/cache/mesos-docker",
    ] {
        assert!(!root.join(gone).exists(), "{gone} is still there");
    }
    assert!(runner.images().is_empty());
    assert_eq!(
        fs::read_to_string(root.join("var/lib/dpkg/status")).unwrap(),
        ""
    );
}

#[test]
fn a_key_that_is_not_the_pinned_one_writes_nothing() {
    let dir = Host::debian12().build();
    let root = dir.path();
    let (armored, _, fpr) = test_key();
    let (_files, server) = mirror_with(&[("apt.example.org/key.asc", armored.as_bytes())]);
    let runner = played_host(root);
    let other = "9DC858229FC7DD38854AE2D88D81803C0EBFCD88";
    let docker = format!(
        "apt:https://apt.example.org/d,suite=bookworm,components=main,key=https://apt.example.org/key.asc,fingerprint={other},packages=docker-ce"
    );
    let ca = support::mirror::tls().ca.display().to_string();
    let mirror = server.url();
    let args = [
        &role_args("agent")[..],
        &[
            "--docker-source",
            &docker,
            "--mirror",
            &mirror,
            "--mirror-ca",
            &ca,
        ],
    ]
    .concat();
    let (code, report) = setup_with(root, Box::new(Shared(runner.clone())), &args);
    assert_eq!(code, ExitCode::FAILURE, "{report}");
    let err = report["error"].as_str().unwrap();
    assert!(
        err.starts_with("stopped at apt-source /etc/apt/sources.list.d/mesos-docker-docker.sources: the signing key https://")
            && err.contains(&format!("fingerprint mismatch: expected {other}, got {fpr}. "))
            && err.contains("; nothing was written"),
        "{err}"
    );
    assert!(!root.join("etc/apt/keyrings").exists());
    assert!(!root.join("etc/apt/sources.list.d").exists());
    assert!(!actions(&runner, 0).iter().any(|a| a.contains("docker-ce")));
}

/// `dpkg-lock-wait` from setup.toml bounds the wait for dpkg's lock, and
/// the flag wins over it.
#[test]
fn dpkg_lock_wait_from_setup_toml() {
    use std::os::fd::AsFd;
    let dir = Host::debian12().build();
    let root = dir.path();
    let runner = played_host(root);
    let lock = root.join("var/lib/dpkg/lock-frontend");
    fs::create_dir_all(lock.parent().unwrap()).unwrap();
    fs::write(&lock, "").unwrap();
    // Another package manager's lock: an open-file-description lock
    // conflicts with setup's probe even from this process.
    let held = fs::OpenOptions::new().write(true).open(&lock).unwrap();
    let mut fl: nix::libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = nix::libc::F_WRLCK as i16;
    fl.l_whence = nix::libc::SEEK_SET as i16;
    nix::fcntl::fcntl(held.as_fd(), nix::fcntl::FcntlArg::F_OFD_SETLK(&fl)).unwrap();
    let config = root.join("etc/mesos-docker/setup.toml");
    fs::create_dir_all(config.parent().unwrap()).unwrap();
    fs::write(&config, "dpkg-lock-wait = 1\n").unwrap();
    let run = |extra: &[&str]| {
        let args = [&role_args("agent")[..], extra].concat();
        let (code, report) = setup_with(root, Box::new(Shared(runner.clone())), &args);
        assert_eq!(code, ExitCode::FAILURE, "{report}");
        report["error"].as_str().unwrap().to_owned()
    };
    let err = run(&[]);
    assert!(
        err.contains("lock-frontend is still held by another process after 1s"),
        "{err}"
    );
    let err = run(&["--dpkg-lock-wait", "0"]);
    assert!(
        err.contains("lock-frontend is still held by another process after 0s"),
        "{err}"
    );
    drop(held);
}

/// `mirror` and `mirror-ca` from setup.toml: the key is fetched over the
/// mirror's TLS, which only the file's CA lets through.
#[test]
fn mirror_ca_from_setup_toml() {
    let dir = Host::debian12().build();
    let root = dir.path();
    let (armored, _, fpr) = test_key();
    let (_files, server) = mirror_with(&[("apt.example.org/key.asc", armored.as_bytes())]);
    let runner = played_host(root);
    let other = "9DC858229FC7DD38854AE2D88D81803C0EBFCD88";
    let docker = format!(
        "apt:https://apt.example.org/d,suite=bookworm,components=main,key=https://apt.example.org/key.asc,fingerprint={other},packages=docker-ce"
    );
    let config = root.join("etc/mesos-docker/setup.toml");
    fs::create_dir_all(config.parent().unwrap()).unwrap();
    let write = |ca: Option<&Path>| {
        let mut text = format!("mirror = \"{}\"\n", server.url());
        if let Some(ca) = ca {
            text.push_str(&format!("mirror-ca = \"{}\"\n", ca.display()));
        }
        fs::write(&config, text).unwrap();
    };
    let args = [&role_args("agent")[..], &["--docker-source", &docker]].concat();
    write(None);
    let (code, report) = setup_with(root, Box::new(Shared(runner.clone())), &args);
    assert_eq!(code, ExitCode::FAILURE, "{report}");
    let err = report["error"].as_str().unwrap();
    assert!(
        err.contains("cannot download https://") && !err.contains("fingerprint mismatch"),
        "{err}"
    );
    write(Some(&support::mirror::tls().ca));
    let (code, report) = setup_with(root, Box::new(Shared(runner.clone())), &args);
    assert_eq!(code, ExitCode::FAILURE, "{report}");
    let err = report["error"].as_str().unwrap();
    assert!(
        err.contains(&format!(
            "fingerprint mismatch: expected {other}, got {fpr}. "
        )),
        "{err}"
    );
}

#[test]
fn tarballs_unpack_through_the_runner_and_mismatches_install_nothing() {
    let dir = Host::debian12().build_bare();
    let root = dir.path();
    let files = tempfile::tempdir().unwrap();
    let (tgz, sha) = build_tarball(files.path());
    let data = fs::read(&tgz).unwrap();
    let (_mirror_root, server) = mirror_with(&[("dl.example.org/mesos.tgz", &data)]);
    let runner = played_host(root);
    runner.docker_images(
        &[&format!("mesosphere/marathon:v1.11.24@sha256:{HEX}")],
        &[],
    );
    // The tree's entry in the loader's path is followed by ldconfig.
    runner.answer("ldconfig", Output::ok(""));
    let ca = support::mirror::tls().ca.display().to_string();
    let mirror = server.url();
    let marathon = marathon_image();
    let with = |mesos: &str| {
        [
            &role_args("standalone")[..],
            &[
                "--mesos-source",
                mesos,
                "--marathon-source",
                &marathon,
                "--mirror",
                &mirror,
                "--mirror-ca",
                &ca,
            ],
        ]
        .concat()
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<String>>()
    };
    let run = |args: &[String]| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        setup_with(root, Box::new(Shared(runner.clone())), &refs)
    };

    // A digest that is not the file's: nothing unpacked, both digests named.
    let (code, report) = run(&with(&format!(
        "tgz:https://dl.example.org/mesos.tgz,sha256={HEX}"
    )));
    assert_eq!(code, ExitCode::FAILURE, "{report}");
    let err = report["error"].as_str().unwrap();
    assert!(
        err.contains(&format!(
            "SHA-256 mismatch: expected {HEX}, got {sha}; nothing was installed"
        )),
        "{err}"
    );
    assert!(!root.join("opt/mesos-docker/mesos/current").exists());
    // Verified before the first change: no package, no file went in.
    let installs: Vec<String> = runner
        .calls()
        .into_iter()
        .filter(|c| c.contains("apt-get") && c.contains(" install"))
        .collect();
    assert!(installs.is_empty(), "{installs:?}");
    assert!(!root.join("etc/mesos-docker/master.env").exists());
    assert_eq!(
        fs::read_dir(root.join("opt/mesos-docker/mesos"))
            .map(|d| d.count())
            .unwrap_or(0),
        0
    );

    // Unpinned: refused, then let through by --allow-unverified.
    let unpinned = with("tgz:https://dl.example.org/mesos.tgz");
    let (code, report) = run(&unpinned);
    assert_eq!(code, ExitCode::from(2), "{report}");
    let mut allowed = unpinned.clone();
    allowed.push("--allow-unverified".into());
    let (code, report) = run(&allowed);
    assert_eq!(code, ExitCode::SUCCESS, "{report}");
    assert!(
        report["warnings"]
            .to_string()
            .contains("is unverified (no pinned sha256): installing it unchecked"),
        "{report}"
    );
    let unit = fs::read_to_string(root.join("etc/systemd/system/mesos-agent.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/opt/mesos-docker/mesos/current/sbin/mesos-agent\n"),
        "{unit}"
    );
    assert!(
        root.join(format!(
            "opt/mesos-docker/mesos/{}/sbin/mesos-agent",
            &sha[..12]
        ))
        .is_file()
    );
    assert!(
        actions(&runner, 0).contains(&format!(
            "docker pull mesosphere/marathon:v1.11.24@sha256:{HEX}"
        )),
        "{:?}",
        runner.calls()
    );
    // The tarball's programs exist now: the units are started.
    assert!(actions(&runner, 0).contains(&"systemctl start mesos-agent.service".to_owned()));

    // Pinned, the same file: nothing to do.
    let (code, again) = run(&with(&format!(
        "tgz:https://dl.example.org/mesos.tgz,sha256={sha}"
    )));
    assert_eq!(code, ExitCode::SUCCESS, "{again}");
    assert_eq!(changed(&again), 0, "{again}");
}

/// A played host whose commands matching `failing` fail while `on` is set
/// (an image still in use, an apt that cannot reach its mirror).
struct Faulty {
    inner: Arc<RecordingRunner>,
    failing: &'static [&'static str],
    on: Arc<std::sync::atomic::AtomicBool>,
}

impl Runner for Faulty {
    fn run(&self, program: &str, args: &[&str]) -> std::io::Result<Output> {
        let line = format!("{program} {}", args.join(" "));
        if self.on.load(std::sync::atomic::Ordering::SeqCst)
            && self.failing.iter().any(|f| line.contains(f))
        {
            return Ok(Output::failed("E: simulated failure"));
        }
        self.inner.run(program, args)
    }
    fn talk(&self, addr: &str, send: &str) -> std::io::Result<String> {
        self.inner.talk(addr, send)
    }
    fn talk_tls(
        &self,
        addr: &str,
        send: &str,
        peer: &mesos_docker::setup::host::system::TlsPeer,
    ) -> Result<String, mesos_docker::setup::host::system::TlsTalkError> {
        self.inner.talk_tls(addr, send, peer)
    }
    fn is_host(&self) -> bool {
        false
    }
}

#[test]
fn a_failed_purge_keeps_the_record_and_a_rerun_finishes() {
    let dir = Host::debian12().build();
    let root = dir.path();
    let runner = played_host(root);
    runner.docker_images(&["registry.example/tool:1"], &[]);
    let (code, report) = setup_with(
        root,
        Box::new(Shared(runner.clone())),
        &role_args("standalone"),
    );
    assert_eq!(code, ExitCode::SUCCESS, "{report}");
    // An image setup pulled, as a docker: source records it.
    let manifest = root.join("var/lib/mesos-docker/manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&manifest).unwrap()).unwrap();
    m["images"] = serde_json::json!(["registry.example/tool:1"]);
    fs::write(&manifest, serde_json::to_string(&m).unwrap()).unwrap();
    runner
        .run("docker", &["pull", "registry.example/tool:1"])
        .unwrap();

    let on = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let faulty = |failing| {
        System::live_for_tests(
            root,
            Box::new(Faulty {
                inner: runner.clone(),
                failing,
                on: on.clone(),
            }),
        )
    };
    let record = || -> serde_json::Value {
        serde_json::from_str(
            &fs::read_to_string(&manifest)
                .unwrap_or_else(|e| panic!("the record is gone after a failed uninstall: {e}")),
        )
        .unwrap()
    };
    // The image is in use: the record keeps it, and the packages after it.
    let (code, undo) = uninstall_in(&faulty(&["docker rmi"]), false);
    assert_eq!(code, ExitCode::FAILURE, "{undo}");
    assert!(
        undo["error"]
            .as_str()
            .unwrap()
            .contains("run uninstall again"),
        "{undo}"
    );
    let left = record();
    assert_eq!(
        left["images"],
        serde_json::json!(["registry.example/tool:1"])
    );
    assert_eq!(
        left["packages"],
        serde_json::json!(["zookeeperd", "docker.io"])
    );
    // Every file is undone; only the record's own directories remain.
    let dirs: Vec<&str> = left["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        dirs,
        ["/var", "/var/lib", "/var/lib/mesos-docker"],
        "{left}"
    );
    // apt fails next: the image is gone from the record, the packages stay.
    let (code, undo) = uninstall_in(&faulty(&["apt-get purge"]), false);
    assert_eq!(code, ExitCode::FAILURE, "{undo}");
    let error = undo["error"].as_str().unwrap();
    assert!(error.contains("run uninstall again"), "{error}");
    assert!(!error.contains("the record is gone"), "{error}");
    let left = record();
    assert!(left.get("images").is_none(), "{left}");
    assert_eq!(
        left["packages"],
        serde_json::json!(["zookeeperd", "docker.io"])
    );
    assert!(runner.images().is_empty());
    // Fixed: the re-run purges and only then drops the record.
    on.store(false, std::sync::atomic::Ordering::SeqCst);
    let (code, undo) = uninstall_in(&faulty(&[]), false);
    assert_eq!(code, ExitCode::SUCCESS, "{undo}");
    assert_eq!(
        fs::read_to_string(root.join("var/lib/dpkg/status")).unwrap(),
        ""
    );
    assert!(!manifest.exists());
    assert!(!root.join("var/lib/mesos-docker").exists());
}

/// The same build as [`build_tarball`], but compressed as two gzip members
/// (as `pigz --independent` or `cat a.gz b.gz` make): the second holds the
/// agent and Marathon, and the tar's end.
fn build_two_member_tarball(dir: &Path) -> (String, String) {
    let mut tar = tar::Builder::new(Vec::new());
    let mut split = 0;
    for name in ["sbin/mesos-master", "sbin/mesos-agent", "bin/marathon"] {
        let body = format!("#!/bin/sh\n# stand-in {name}\nexit 0\n");
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o755);
        h.set_mtime(0);
        h.set_cksum();
        tar.append_data(&mut h, name, body.as_bytes()).unwrap();
        if split == 0 {
            split = tar.get_ref().len();
        }
    }
    let bytes = tar.into_inner().unwrap();
    let member = |part: &[u8]| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(part).unwrap();
        gz.finish().unwrap()
    };
    let path = dir.join("mesos-two-members.tgz");
    fs::write(
        &path,
        [member(&bytes[..split]), member(&bytes[split..])].concat(),
    )
    .unwrap();
    let sha = mesos_docker::setup::apply::fetch::hash_file(&path).unwrap();
    (path.display().to_string(), sha)
}

/// The real binary unpacks a tarball of two gzip members whole, and every
/// file and directory of the tree is fsynced before the tree is renamed
/// into place (seen with strace: a crash after the rename must not leave
/// empty files behind a `current` link).
#[test]
fn tarballs_unpack_whole_and_durably() {
    let strace = support::mirror::need("strace", "strace");
    let dir = Host::debian12().build_bare();
    let root = dir.path();
    let files = tempfile::tempdir().unwrap();
    let (tgz, sha) = build_two_member_tarball(files.path());
    let log = files.path().join("strace.log");
    let out = Proc::new(strace)
        .args(["-f", "-y", "-qq", "-s", "0", "-o"])
        .arg(&log)
        .args(["-e", "trace=fsync,fdatasync,rename,renameat,renameat2"])
        .arg(env!("CARGO_BIN_EXE_mesos-docker"))
        .args([
            "setup",
            "--role",
            "master",
            "--masters",
            MASTERS,
            "--no-marathon",
            "--insecure",
        ])
        .args([
            "--yes",
            "--mesos-source",
            &format!("tgz:{tgz},sha256={sha}"),
        ])
        .arg("--root")
        .arg(root)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let version = root.join("opt/mesos-docker/mesos").join(&sha[..12]);
    for name in ["sbin/mesos-master", "sbin/mesos-agent", "bin/marathon"] {
        assert!(version.join(name).is_file(), "{name} was not unpacked");
    }

    let log = fs::read_to_string(&log).unwrap();
    let tmp = version.with_file_name(format!(".{}.tmp", &sha[..12]));
    let renamed = log
        .lines()
        .position(|l| l.contains("rename") && l.contains(&format!("{}\"", tmp.display())))
        .unwrap_or_else(|| panic!("no rename of {} in:\n{log}", tmp.display()));
    let synced: std::collections::BTreeSet<String> = log
        .lines()
        .take(renamed)
        .filter(|l| l.contains("fsync(") || l.contains("fdatasync("))
        .filter_map(|l| Some(l.split_once('<')?.1.split_once(">)")?.0.to_owned()))
        .collect();
    let mut unsynced = Vec::new();
    let mut walk = vec![version.clone()];
    while let Some(p) = walk.pop() {
        let before = tmp.join(p.strip_prefix(&version).unwrap());
        let before = before.to_str().unwrap().trim_end_matches('/').to_owned();
        if !synced.contains(&before) {
            unsynced.push(before);
        }
        if p.is_dir() {
            walk.extend(fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        }
    }
    assert!(
        unsynced.is_empty(),
        "not fsynced before the rename: {unsynced:?}\n{log}"
    );
}

/// Every file under `root` that holds `secret` is root-only, and only the
/// proxy file holds it; `printed` (a report) does not hold it at all.
fn assert_no_secret(root: &Path, printed: &str, secret: &str) {
    assert!(!printed.contains(secret), "printed: {printed}");
    let mut holders = Vec::new();
    let mut walk = vec![root.to_path_buf()];
    while let Some(dir) = walk.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let m = fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                walk.push(p);
            } else if m.is_file()
                && String::from_utf8_lossy(&fs::read(&p).unwrap()).contains(secret)
            {
                assert_eq!(m.mode() & 0o077, 0, "{} is readable by others", p.display());
                assert_eq!(m.uid(), nix::unistd::geteuid().as_raw(), "{}", p.display());
                holders.push(format!("/{}", p.strip_prefix(root).unwrap().display()));
            }
        }
    }
    holders.retain(|h| h != "/etc/mesos-docker/proxy.env");
    assert!(holders.is_empty(), "the secret is also in {holders:?}");
    // The record holds the proxy file's digest, which would let anyone
    // guess a weak password offline.
    let record = root.join("var/lib/mesos-docker/manifest.json");
    if record.exists() {
        assert_eq!(fs::metadata(&record).unwrap().mode() & 0o7777, 0o600);
    }
}

/// An attacker with a shell on the node, or the logs and reports of a run:
/// a proxy password shows nowhere but in the root-only proxy file.
#[test]
fn proxy_passwords_land_only_in_a_root_only_file() {
    use mesos_docker::setup::input::proxy::Proxy;
    const SECRET: &str = "Pa55w0rd";
    let dir = Host::debian12().build();
    let root = dir.path();
    let runner = played_host(root);
    let sys = || System::live_for_tests(root, Box::new(Shared(runner.clone())));
    let proxy = |password: &str| Proxy {
        http: Some(format!("http://user:{password}@proxy.example:3128")),
        https: Some(format!("http://user:{password}@proxy.example:3128")),
        no: Some("localhost".into()),
    };
    let run = |proxy: &Proxy, format: OutputFormat, extra: &[&str]| {
        let root_s = root.to_str().unwrap();
        let mut all = vec!["setup", "--root", root_s, "--yes"];
        all.extend(role_args("standalone"));
        all.push("--insecure");
        all.extend(extra);
        let Command::Setup(mut a) = parse(&all) else {
            unreachable!()
        };
        a.executor_source = Some(small_executor());
        a.output = format;
        a.proxy = proxy.clone();
        let buf = Buf::default();
        let rep = Reporter::new(format, "setup", a.dry_run, Box::new(buf.clone()));
        let code = setup::run::run(&sys(), &a, None, rep);
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        (code, out)
    };

    // Dry runs show the proxy file's diff, with the password hidden.
    for format in [OutputFormat::Text, OutputFormat::Json] {
        let (code, out) = run(&proxy(SECRET), format, &["--dry-run"]);
        assert_eq!(code, ExitCode::SUCCESS, "{out}");
        assert_no_secret(root, &out, SECRET);
        assert!(
            out.contains("+HTTP_PROXY=\\\"http://user:***@proxy.example:3128\\\"")
                || out.contains("+HTTP_PROXY=\"http://user:***@proxy.example:3128\""),
            "{out}"
        );
    }
    // The real run: root-only file, drop-ins that only name it.
    let (code, out) = run(&proxy(SECRET), OutputFormat::Json, &[]);
    assert_eq!(code, ExitCode::SUCCESS, "{out}");
    assert_no_secret(root, &out, SECRET);
    let env = root.join("etc/mesos-docker/proxy.env");
    assert!(fs::read_to_string(&env).unwrap().contains(SECRET));
    // A new password: replaced in place, the old one kept nowhere.
    let (code, out) = run(&proxy("N3wPa55"), OutputFormat::Text, &[]);
    assert_eq!(code, ExitCode::SUCCESS, "{out}");
    assert_no_secret(root, &out, SECRET);
    assert_no_secret(root, &out, "N3wPa55");
    // A value refused: the error does not echo the password.
    let (code, out) = run(&proxy("bad pass"), OutputFormat::Json, &[]);
    assert_eq!(code, ExitCode::from(2), "{out}");
    assert!(out.contains("user:***@proxy.example:3128"), "{out}");
    assert_no_secret(root, &out, "bad pass");
    // Uninstall's report and what it leaves.
    let (code, undo) = uninstall_in(&sys(), false);
    assert_eq!(code, ExitCode::SUCCESS, "{undo}");
    assert!(!env.exists());
    assert_no_secret(root, &undo.to_string(), "N3wPa55");
}

/// The default path on a played running host: AVENTER's key and
/// Marathon's image are trusted on first use through an HTTPS mirror,
/// shown, pinned in setup.toml (the operator's lines kept) and recorded;
/// later runs use the pins; a changed key is refused naming both
/// fingerprints; uninstall puts setup.toml back.
#[test]
fn first_use_pins_the_key_and_the_image_and_later_runs_hold_to_them() {
    let dir = Host::debian12().build_bare();
    let root = dir.path();
    let (armored, binary_key, fpr) = test_key();
    let key_path = "www.aventer.biz/assets/support_aventer.asc";
    let (files, server) = mirror_with(&[(key_path, armored.as_bytes())]);
    let runner = played_host(root);
    runner.apt(
        root,
        &[
            ("zookeeperd", "3.8.0-11"),
            ("docker.io", "20.10.24+dfsg1-1"),
            ("aventer-mesos", "1.11.0-0.2.0.debian12"),
        ],
        false,
    );
    let digest = format!("sha256:{HEX}");
    let image = "mesosphere/marathon:v1.11.24";
    let pinned_image = format!("{image}@{digest}");
    runner.docker_images(&[image, &pinned_image], &[]);
    // A Debian host has /usr/sbin, where policy-rc.d goes.
    fs::create_dir_all(root.join("usr/sbin")).unwrap();
    runner.answer(
        &format!("docker image inspect --format {{{{json .RepoDigests}}}} {image}"),
        Output::ok(&format!("[\"mesosphere/marathon@{digest}\"]\n")),
    );
    fs::create_dir_all(root.join("etc/mesos-docker")).unwrap();
    let mine = "# the operator's own\ncluster-name = \"prod\" # kept\n";
    fs::write(root.join("etc/mesos-docker/setup.toml"), mine).unwrap();
    let ca = support::mirror::tls().ca.display().to_string();
    let mirror = server.url();
    let args = [
        "--role",
        "standalone",
        "--mirror",
        &mirror,
        "--mirror-ca",
        &ca,
    ];
    let before_first = tree(root);

    let (code, report) = setup_with(root, Box::new(Shared(runner.clone())), &args);
    assert_eq!(code, ExitCode::SUCCESS, "{report}");
    let notes: Vec<&str> = report["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    let spaced = fpr
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        notes.iter().any(|n| n.starts_with(&format!(
            "trust on first use: the mesos source aventer-mesos: key {spaced} from {mirror}/{key_path}"
        )) && n.ends_with(&format!(
            "pinned in {}/etc/mesos-docker/setup.toml under [pins]: aventer-mesos = \"{fpr}\" (copy that line into the other nodes' setup.toml)",
            root.display()
        ))),
        "{notes:?}"
    );
    assert!(
        notes.iter().any(|n| n.starts_with(&format!(
            "trust on first use: marathon-1.11.24: image {image} pulled over the registry's HTTPS, digest {digest}; pinned in "
        ))),
        "{notes:?}"
    );
    let toml = fs::read_to_string(root.join("etc/mesos-docker/setup.toml")).unwrap();
    assert!(toml.starts_with(mine), "{toml}");
    assert!(
        toml.contains(&format!("\naventer-mesos = \"{fpr}\"\n"))
            && toml.contains(&format!("\n\"marathon-1.11.24\" = \"{digest}\"\n"))
            && toml.contains("# trusted on first use by mesos-docker setup on "),
        "{toml}"
    );
    assert_eq!(
        fs::read(root.join("etc/apt/keyrings/aventer-mesos.gpg")).unwrap(),
        binary_key
    );
    let list =
        fs::read_to_string(root.join("etc/apt/sources.list.d/aventer-mesos.sources")).unwrap();
    assert!(
        list.contains(&format!("URIs: {mirror}/rpm.aventer.biz/Debian\n"))
            && list.contains("Suites: bookworm\nComponents: main\n"),
        "{list}"
    );
    let manifest: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(root.join("var/lib/mesos-docker/manifest.json")).unwrap(),
    )
    .unwrap();
    let trusted: Vec<(String, String)> = manifest["trusted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().into(),
                t["pin"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        trusted,
        [
            ("aventer-mesos".to_owned(), fpr.clone()),
            ("marathon-1.11.24".to_owned(), digest.clone())
        ]
    );
    // The package went in while a policy-rc.d forbade service starts; it
    // is gone again, and no record of it is left.
    assert!(actions(&runner, 0).contains(&format!("{INSTALL} aventer-mesos")));
    assert!(!root.join("usr/sbin/policy-rc.d").exists());
    assert!(!manifest.to_string().contains("policy-rc.d"), "{manifest}");
    // Marathon's unit already runs the image by the digest just pinned.
    let unit = fs::read_to_string(root.join("etc/systemd/system/marathon.service")).unwrap();
    assert!(unit.contains(&pinned_image), "{unit}");
    let master = fs::read_to_string(root.join("etc/systemd/system/mesos-master.service")).unwrap();
    assert!(
        master.contains("\nExecStart=/usr/bin/mesos-master\n"),
        "{master}"
    );
    let key_gets = || {
        server
            .requests()
            .iter()
            .filter(|r| r.contains(key_path))
            .count()
    };
    let fetched = key_gets();

    // Again: nothing changes, no key is fetched, the pins hold.
    let (code, again) = setup_with(root, Box::new(Shared(runner.clone())), &args);
    assert_eq!(code, ExitCode::SUCCESS, "{again}");
    assert_eq!(changed(&again), 0, "{again}");
    assert!(
        again["notes"].as_array().is_none_or(|n| n.is_empty()),
        "{again}"
    );
    assert_eq!(key_gets(), fetched);

    // Another key at the URL, and a node that must fetch it: refused,
    // naming both, with nothing written.
    let (other_armored, _, other_fpr) = test_key();
    fs::write(files.path().join(key_path), other_armored).unwrap();
    fs::remove_file(root.join("etc/apt/keyrings/aventer-mesos.gpg")).unwrap();
    let (code, refused) = setup_with(root, Box::new(Shared(runner.clone())), &args);
    assert_eq!(code, ExitCode::FAILURE, "{refused}");
    let err = refused["error"].as_str().unwrap();
    assert!(
        err.contains(&format!(
            "fingerprint mismatch: expected {fpr}, got {other_fpr}"
        )),
        "{err}"
    );
    assert!(!root.join("etc/apt/keyrings/aventer-mesos.gpg").exists());

    // uninstall puts the operator's setup.toml back as it was.
    let sys = System::live_for_tests(root, Box::new(Shared(runner.clone())));
    let (code, undo) = uninstall_in(&sys, false);
    assert_eq!(code, ExitCode::SUCCESS, "{undo}");
    assert_eq!(
        fs::read_to_string(root.join("etc/mesos-docker/setup.toml")).unwrap(),
        mine
    );
    let _ = before_first;
}

/// A key that has expired is named with its expiry date and what to do;
/// nothing is pinned or written.
#[test]
fn an_expired_key_is_refused_with_its_date() {
    let dir = Host::debian12().build_bare();
    let root = dir.path();
    // Made on 2020-01-01, valid for a day (gpg's clock faked).
    let (armored, _, fpr) = test_key_with(&["--faked-system-time", "20200101T000000!"], "1d");
    let key_path = "www.aventer.biz/assets/support_aventer.asc";
    let (_files, server) = mirror_with(&[(key_path, armored.as_bytes())]);
    let runner = played_host(root);
    let ca = support::mirror::tls().ca.display().to_string();
    let mirror = server.url();
    let before = tree(root);
    let (code, report) = setup_with(
        root,
        Box::new(Shared(runner.clone())),
        &[
            "--role",
            "agent",
            "--masters",
            "m1",
            "--mirror",
            &mirror,
            "--mirror-ca",
            &ca,
        ],
    );
    assert_eq!(code, ExitCode::FAILURE, "{report}");
    let err = report["error"].as_str().unwrap();
    let spaced = fpr
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        err.starts_with(&format!(
            "the signing key {spaced} from {mirror}/{key_path} expired on 2020-01-02 (UTC): apt refuses a repository signed with it."
        )) && err.contains("run setup again once"),
        "{err}"
    );
    assert!(!root.join("etc/mesos-docker/setup.toml").exists());
    assert!(!root.join("etc/apt").exists());
    assert!(!actions(&runner, 0).iter().any(|a| a.contains("apt-get")));
    // Only the download cache and the record of it are left.
    let left: Vec<String> = tree(root)
        .into_keys()
        .filter(|k| !before.contains_key(k))
        .filter(|k| {
            !["/var", "/var/cache", "/var/lib"].contains(&k.as_str())
                && !k.starts_with("/var/cache/mesos-docker")
                && !k.starts_with("/var/lib/mesos-docker")
        })
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Where AVENTER has no such suite (Debian 12 is not confirmed by any
/// public source), apt's failure says so and names the forms
/// `--mesos-source` takes.
#[test]
fn a_missing_aventer_suite_names_the_other_sources() {
    let dir = Host::debian12().build_bare();
    let root = dir.path();
    let (armored, _, _) = test_key();
    let key_path = "www.aventer.biz/assets/support_aventer.asc";
    let (_files, server) = mirror_with(&[(key_path, armored.as_bytes())]);
    let runner = played_host(root);
    runner.apt(root, &[("docker.io", "20.10.24+dfsg1-1")], true);
    let mirror = server.url();
    runner.answer(
        "env DEBIAN_FRONTEND=noninteractive apt-get update",
        Output::failed(&format!(
            "E: The repository '{mirror}/rpm.aventer.biz/Debian bookworm Release' does not have a Release file.\n"
        )),
    );
    fs::create_dir_all(root.join("usr/sbin")).unwrap();
    let ca = support::mirror::tls().ca.display().to_string();
    let (code, report) = setup_with(
        root,
        Box::new(Shared(runner.clone())),
        &[
            "--role",
            "agent",
            "--masters",
            "m1",
            "--mirror",
            &mirror,
            "--mirror-ca",
            &ca,
        ],
    );
    assert_eq!(code, ExitCode::FAILURE, "{report}");
    let err = report["error"].as_str().unwrap();
    for want in [
        "stopped at package aventer-mesos: apt-get update failed: E: The repository ",
        "does not have a Release file",
        "the Mesos source aventer-mesos (apt:",
        "names suite bookworm of ",
        "if apt finds no such suite or package there, that repository has no Mesos build for this release. Name a build you trust with --mesos-source: 'deb:URL-OR-PATH,sha256=HEX', 'tgz:URL-OR-PATH,sha256=HEX'",
    ] {
        assert!(err.contains(want), "{want:?} not in {err}");
    }
    // The policy-rc.d held for the install is gone with the failure.
    assert!(!root.join("usr/sbin/policy-rc.d").exists());
}

/// Where systemd does not own the root of the cgroup tree (a container) the
/// agent runs without Mesos' systemd support and with the POSIX launcher:
/// a real Mesos 1.11 agent otherwise stops with "Failed to locate systemd
/// cgroups hierarchy". A bare-metal cgroup v1 host keeps Mesos' defaults.
/// `status` says which.
#[test]
fn an_agent_in_a_container_does_without_systemd_support() {
    let bare_metal = Host {
        cgroup_v2: false,
        ..Host::debian12()
    };
    let dir = bare_metal.build();
    let (code, report) = setup_in(dir.path(), &role_args("agent"));
    assert_eq!(code, ExitCode::SUCCESS, "{report}");
    let env = fs::read_to_string(dir.path().join("etc/mesos-docker/agent.env")).unwrap();
    for name in [
        "MESOS_SYSTEMD_ENABLE_SUPPORT",
        "MESOS_LAUNCHER",
        "MESOS_ISOLATION",
    ] {
        assert!(!env.contains(name), "{name} in {env}");
    }
    let sys = System::new(dir.path(), Box::new(HostRunner));
    assert!(status::gather(&sys).unwrap().unwrap().notes.is_empty());

    // The same host as a container: systemd writes /run/systemd/container.
    let dir = bare_metal.build();
    fs::write(dir.path().join("run/systemd/container"), "docker\n").unwrap();
    let (code, report) = setup_in(dir.path(), &role_args("agent"));
    assert_eq!(code, ExitCode::SUCCESS, "{report}");
    let env = fs::read_to_string(dir.path().join("etc/mesos-docker/agent.env")).unwrap();
    assert!(
        env.contains(
            "# systemd does not own the root of the cgroup tree on this host (a container: docker): Mesos' systemd integration and its cgroups launcher\n\
             # and isolators do not work here, so the POSIX ones are used.\n\
             MESOS_LAUNCHER=\"posix\"\nMESOS_ISOLATION=\"posix/cpu,posix/mem\"\nMESOS_SYSTEMD_ENABLE_SUPPORT=\"false\"\n"
        ),
        "{env}"
    );
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains("agent: systemd does not own the root of the cgroup tree on this host (a container: docker), so it runs with MESOS_SYSTEMD_ENABLE_SUPPORT=false"),
        "{report}"
    );
    let sys = System::new(dir.path(), Box::new(HostRunner));
    let s = status::gather(&sys).unwrap().unwrap();
    assert_eq!(
        s.notes,
        [
            "agent: systemd support off (MESOS_SYSTEMD_ENABLE_SUPPORT=false), POSIX launcher and isolation: systemd does not own the root of the cgroup tree on this host (a container: docker)"
        ]
    );
    assert!(status::text(&s).contains("\nnote: agent: systemd support off"));

    // PID 1 inside another's cgroup says the same without that file.
    let dir = bare_metal.build();
    fs::create_dir_all(dir.path().join("proc/1")).unwrap();
    fs::write(
        dir.path().join("proc/1/cgroup"),
        "4:memory:/docker/0123\n1:name=systemd:/docker/0123\n",
    )
    .unwrap();
    setup_in(dir.path(), &role_args("agent"));
    let env = fs::read_to_string(dir.path().join("etc/mesos-docker/agent.env")).unwrap();
    assert!(
        env.contains("(a container: PID 1 in cgroup /docker/0123)")
            && env.contains("MESOS_SYSTEMD_ENABLE_SUPPORT=\"false\""),
        "{env}"
    );
}

/// `--agent-flag` and `[agent.flags]` reach agent.env (the command line wins
/// name by name); a flag `mesos-agent --help` does not list, or one setup
/// writes itself, is refused with nothing changed.
#[test]
fn extra_flags_reach_the_env_file_and_unknown_ones_are_refused() {
    let dir = Host::debian12().build();
    let root = dir.path();
    fs::create_dir_all(root.join("etc/mesos-docker")).unwrap();
    fs::write(
        root.join("etc/mesos-docker/setup.toml"),
        "[agent.flags]\ngc_delay = \"1weeks\"\ndefault_role = \"web\"\n",
    )
    .unwrap();
    let runner = played_host(root);
    runner.answer(
        "/usr/sbin/mesos-agent --help",
        Output::ok(
            "Usage: mesos-agent [options]\n\n  --default_role=VALUE   Any resources...\n  \
             --gc_delay=VALUE\n  --[no-]strict   If strict=true\n",
        ),
    );
    let mut args = role_args("agent");
    args.extend([
        "--agent-flag",
        "gc_delay=2days",
        "--agent-flag",
        "strict=false",
    ]);
    let (code, report) = setup_with(root, Box::new(Shared(runner.clone())), &args);
    assert_eq!(code, ExitCode::SUCCESS, "{report}");
    let env = fs::read_to_string(root.join("etc/mesos-docker/agent.env")).unwrap();
    assert!(
        env.ends_with(
            "# Extra flags (--agent-flag, [agent.flags] in setup.toml):\n\
             MESOS_DEFAULT_ROLE=\"web\"\nMESOS_GC_DELAY=\"2days\"\nMESOS_STRICT=\"false\"\n"
        ),
        "{env}"
    );
    let before = tree(root);

    // Unknown to the installed Mesos: refused before anything changes.
    let mut unknown = args.clone();
    unknown.extend(["--agent-flag", "no_such_flag=1"]);
    let (code, report) = setup_with(root, Box::new(Shared(runner.clone())), &unknown);
    assert_eq!(code, ExitCode::from(2), "{report}");
    let error = report["error"].as_str().unwrap();
    assert!(
        error.starts_with(
            "mesos-agent does not know the flag no_such_flag (`/usr/sbin/mesos-agent --help` does not list it); it would refuse to start"
        ),
        "{error}"
    );
    assert_eq!(tree(root), before);

    // What setup writes itself is not an extra flag.
    let mut managed = args.clone();
    managed.extend(["--agent-flag", "work_dir=/srv"]);
    let (code, report) = setup_with(root, Box::new(Shared(runner)), &managed);
    assert_eq!(code, ExitCode::from(2), "{report}");
    assert!(
        report["error"]
            .as_str()
            .unwrap()
            .contains("--agent-flag \"work_dir=/srv\": work_dir is set by --work-dir"),
        "{report}"
    );
    assert_eq!(tree(root), before);
}

// ---- the cluster token: the joining check on a running host ----

/// The master at `addr` answering `GET /state` with `status`, to the
/// master operator credentials of `token` (None: anonymous).
fn state_answer(runner: &RecordingRunner, addr: &str, token: Option<&str>, status: &str) {
    use mesos_docker::setup::input::token::{ClusterToken, MasterPurpose};
    let secret = token.map(|t| {
        ClusterToken::parse(t, "test")
            .unwrap()
            .secret(MasterPurpose::MasterHttp)
    });
    http_as(
        runner,
        addr,
        "/state",
        secret.as_ref().map(|s| s.expose()),
        status,
        "",
    );
}

/// The agent on this host answering its health probe, which asks with the
/// agent HTTP credentials derived from `token`.
fn agent_answers_as(runner: &RecordingRunner, token: &str) {
    let secret = setup::input::token::ClusterToken::parse(token, "test")
        .unwrap()
        .agent_key()
        .secret(setup::input::token::AgentPurpose::AgentHttp);
    http_as(
        runner,
        "127.0.0.1:5051",
        "/state",
        Some(secret.expose()),
        "200 OK",
        r#"{"version":"1.11.0","master_hostname":"m2"}"#,
    );
}

#[test]
fn a_running_cluster_is_asked_whether_the_token_fits() {
    const AB: &str = "mdt1_abababababababababababababababababababababababababababababababab";
    const CD: &str = "mdt1_cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd";
    let agent = ["--role", "agent", "--masters", "10.0.0.1,10.0.0.3"];
    let with_token = |token: &'static str| {
        move |a: &mut setup::input::options::SetupArgs| {
            a.settings.insecure = None;
            a.env_token = Some(setup::input::security::TokenText::new(token));
        }
    };
    // A secured cluster refuses another cluster's token: nothing written,
    // no package installed, no service touched.
    let dir = Host::debian12().build();
    let root = dir.path();
    let runner = played_host(root);
    state_answer(&runner, "10.0.0.1:5050", None, "401 Unauthorized");
    state_answer(&runner, "10.0.0.1:5050", Some(AB), "200 OK");
    state_answer(&runner, "10.0.0.1:5050", Some(CD), "401 Unauthorized");
    let before = tree(root);
    let sys = System::live_for_tests(root, Box::new(Shared(runner.clone())));
    let (code, report) = setup_edited(&sys, &agent, with_token(CD));
    assert_eq!(code, ExitCode::from(2), "{report}");
    assert!(
        report["error"]
            .as_str()
            .unwrap()
            .starts_with("the token does not match the cluster at 10.0.0.1: its master refused the credentials derived from it (HTTP 401). Nothing was changed"),
        "{report}"
    );
    assert_eq!(tree(root), before);
    assert!(
        !runner.calls().iter().any(|c| c.contains("apt-get install")),
        "{:?}",
        runner.calls()
    );
    // The right one is accepted, and the run goes on; the agent's health
    // probe then asks it with the agent's own HTTP credentials.
    agent_answers_as(&runner, AB);
    let (code, report) = setup_edited(&sys, &agent, with_token(AB));
    assert_eq!(code, ExitCode::SUCCESS, "{report}");
    assert!(
        report["notes"]
            .as_array()
            .unwrap()
            .contains(&"security: the master at 10.0.0.1 accepted the token".into()),
        "{report}"
    );

    // A master that would start a cluster finds one secured already.
    let dir = Host::debian12().build();
    let root = dir.path();
    let runner = played_host(root);
    state_answer(&runner, "10.0.0.1:5050", None, "401 Unauthorized");
    let sys = System::live_for_tests(root, Box::new(Shared(runner.clone())));
    let master = ["--role", "master", "--masters", "m2,10.0.0.1,10.0.0.3"];
    let (code, report) = setup_edited(&sys, &master, |a| a.settings.insecure = None);
    assert_eq!(code, ExitCode::from(2), "{report}");
    assert!(
        report["error"]
            .as_str()
            .unwrap()
            .starts_with("the cluster at 10.0.0.1 is secured"),
        "{report}"
    );
    assert!(!root.join("var/lib/mesos-docker/manifest.json").exists());

    // An open cluster is the move to the token; nobody answering, a warning.
    let dir = Host::debian12().build();
    let root = dir.path();
    let runner = played_host(root);
    agent_answers_as(&runner, AB);
    state_answer(&runner, "10.0.0.3:5050", None, "200 OK");
    let sys = System::live_for_tests(root, Box::new(Shared(runner.clone())));
    let (code, report) = setup_edited(&sys, &agent, with_token(AB));
    assert_eq!(code, ExitCode::SUCCESS, "{report}");
    let notes = report["notes"].to_string();
    assert!(
        notes.contains("the master at 10.0.0.3 still answers anonymously: the cluster is open"),
        "{report}"
    );
    let dir = Host::debian12().build();
    let root = dir.path();
    let runner = played_host(root);
    agent_answers_as(&runner, AB);
    let sys = System::live_for_tests(root, Box::new(Shared(runner)));
    let (code, report) = setup_edited(&sys, &agent, with_token(AB));
    assert_eq!(code, ExitCode::SUCCESS, "{report}");
    assert!(
        report["warnings"]
            .to_string()
            .contains("no master answered on :5050 (10.0.0.1: 10.0.0.1:5050: connection refused"),
        "{report}"
    );
    assert!(!report.to_string().contains(AB));
}

// ---- issue 12: Marathon's launcher and its ZooKeeper password ----

/// Marathon's Debian-package launcher (extra-defines.bash): every
/// MARATHON_X=v becomes `--x v` on the java command line.
const CONVERTING_LAUNCHER: &str = "#!/bin/bash\n# stand-in for Marathon's package launcher\naddApp() { app_commands+=(\"$1\"); }\nfor env_op in `env | grep -v ^MARATHON_APP | grep ^MARATHON_ | awk '{gsub(/MARATHON_/,\"\"); gsub(/=/,\" \"); printf(\"%s%s \", \"--\", tolower($1)); for(i=2;i<=NF;i++){printf(\"%s \", $i)}}'`; do\n  addApp \"$env_op\"\ndone\nexec java -jar /usr/share/marathon/marathon.jar \"${app_commands[@]}\"\n";

/// The attack: a launcher that would put MARATHON_ZK (its ZooKeeper
/// password) in `ps`. The run fails naming the launcher, Marathon's secret
/// environment is not written, and marathon is never started; the same
/// run with a launcher that leaves MARATHON_* to Marathon goes through.
#[test]
fn a_launcher_that_puts_marathon_env_in_ps_gets_no_secret() {
    const AB: &str = "mdt1_abababababababababababababababababababababababababababababababab";
    let secure = |a: &mut setup::input::options::SetupArgs| {
        a.settings.insecure = None;
        a.env_token = Some(setup::input::security::TokenText::new(AB));
    };
    let launcher = "usr/share/marathon/bin/marathon";
    let zk_secret = setup::input::token::ClusterToken::parse(AB, "test")
        .unwrap()
        .secret(setup::input::token::MasterPurpose::ZkMarathon);
    for (case, live) in [("offline root", false), ("running host", true)] {
        let dir = Host::debian12().build();
        let root = dir.path();
        fs::write(root.join(launcher), CONVERTING_LAUNCHER).unwrap();
        let runner = played_host(root);
        serving(&runner, "10.0.0.2");
        let sys = if live {
            System::live_for_tests(root, Box::new(Shared(runner.clone())))
        } else {
            System::new(root, Box::new(HostRunner))
        };
        let (code, report) = setup_edited(&sys, &standalone_at_10_0_0_2(), secure);
        assert_ne!(code, ExitCode::SUCCESS, "{case}: {report}");
        let line = report_line(&report, "launcher", "/usr/share/marathon/bin/marathon");
        assert_eq!(line["status"], "failed", "{case}: {line}");
        let detail = line["detail"].as_str().unwrap();
        for want in [
            "/usr/share/marathon/bin/marathon turns MARATHON_* environment variables into command-line arguments (line 4:",
            "would be visible to every local user in `ps`",
            "--insecure",
        ] {
            assert!(detail.contains(want), "{case}: {detail}");
        }
        assert!(
            !root.join("etc/mesos-docker/secrets/marathon.env").exists(),
            "{case}"
        );
        assert!(
            !report.to_string().contains(zk_secret.expose()),
            "{case}: {report}"
        );
        assert!(
            !runner.calls().iter().any(|c| c.contains("marathon.service")
                && (c.contains(" start ") || c.contains(" restart "))),
            "{case}: {:?}",
            runner.calls()
        );

        // The launcher replaced by one that leaves MARATHON_* to Marathon
        // (offline: the running host's secured health probes are another
        // test's).
        if live {
            continue;
        }
        fs::write(
            root.join(launcher),
            "#!/bin/sh\nexec java -jar /usr/share/marathon/marathon.jar \"$@\"\n",
        )
        .unwrap();
        let (code, report) = setup_edited(&sys, &standalone_at_10_0_0_2(), secure);
        assert_eq!(code, ExitCode::SUCCESS, "{case}: {report}");
        assert!(
            !report.to_string().contains("\"kind\":\"launcher\""),
            "{case}: {report}"
        );
        assert!(
            root.join("etc/mesos-docker/secrets/marathon.env").exists(),
            "{case}: {report}"
        );
    }
}
