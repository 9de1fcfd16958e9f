//! The cluster token through `setup --root` runs: where it comes from, what
//! a node keeps and reuses, what is refused before anything is written, and
//! that no report, output or world-readable file shows it.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command as Proc, ExitCode};
use std::sync::{Arc, Mutex};

use clap::Parser;
use mesos_docker::cli::{Cli, Command};
use mesos_docker::setup;
use mesos_docker::setup::host::system::{HostRunner, System};
use mesos_docker::setup::input::model::OutputFormat;
use mesos_docker::setup::input::token::{AgentPurpose, ClusterToken, MasterPurpose};
use mesos_docker::setup::report::Reporter;

const TOKEN_AB: &str = "mdt1_abababababababababababababababababababababababababababababababab";
const TOKEN_CD: &str = "mdt1_cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd";

/// A Debian 12 root named m2, with Mesos and Marathon "installed" (setup
/// keeps installed programs when no source is named).
fn host() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    fs::create_dir_all(r.join("etc")).unwrap();
    fs::write(r.join("etc/os-release"), "ID=debian\nVERSION_ID=\"12\"\n").unwrap();
    fs::write(r.join("etc/hostname"), "m2\n").unwrap();
    fs::create_dir_all(r.join("run/systemd/system")).unwrap();
    fs::create_dir_all(r.join("sys/fs/cgroup")).unwrap();
    fs::write(r.join("sys/fs/cgroup/cgroup.controllers"), "cpu memory\n").unwrap();
    for p in [
        "usr/sbin/mesos-master",
        "usr/sbin/mesos-agent",
        "usr/share/marathon/bin/marathon",
    ] {
        let path = r.join(p);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, "#!/bin/sh\nexit 0\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

fn executor() -> PathBuf {
    static PATH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let p = tempfile::tempdir().unwrap().keep().join("mesos-docker");
        fs::write(&p, "#!/bin/sh\n# the executor, for these tests\n").unwrap();
        p
    })
    .clone()
}

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `setup --root ROOT --yes ARGS` through the library, in `format`, with
/// MESOS_DOCKER_TOKEN as `env`; the exit code and the whole report.
fn setup(
    root: &Path,
    format: OutputFormat,
    env: Option<&str>,
    args: &[&str],
) -> (ExitCode, String) {
    let mut all = vec!["mesos-docker", "setup", "--root", root.to_str().unwrap()];
    all.push("--yes");
    all.extend_from_slice(args);
    let Command::Setup(mut a) = Cli::try_parse_from(all).unwrap().command else {
        unreachable!()
    };
    a.executor_source = Some(executor());
    a.output = format;
    a.env_token = env.map(setup::input::security::TokenText::new);
    let buf = Buf::default();
    let rep = Reporter::new(format, "setup", a.dry_run, Box::new(buf.clone()));
    let sys = System::new(root, Box::new(HostRunner));
    let code = setup::run::run(&sys, &a, None, rep);
    let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    (code, out)
}

fn json(root: &Path, env: Option<&str>, args: &[&str]) -> (ExitCode, serde_json::Value) {
    let (code, out) = setup(root, OutputFormat::Json, env, args);
    (code, serde_json::from_str(&out).unwrap())
}

/// The real binary, with no --insecure added: stdout, stderr, exit code.
fn binary(root: &Path, args: &[&str]) -> std::process::Output {
    Proc::new(env!("CARGO_BIN_EXE_mesos-docker"))
        .args(args)
        .arg("--root")
        .arg(root)
        .env_remove("MESOS_DOCKER_TOKEN")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

/// Every file under the root with its mode and content.
fn tree(root: &Path) -> BTreeMap<PathBuf, (u32, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let meta = fs::symlink_metadata(e.path()).unwrap();
            if meta.is_dir() {
                dirs.push(e.path());
            } else if meta.is_file() {
                out.insert(
                    e.path(),
                    (meta.permissions().mode(), fs::read(e.path()).unwrap()),
                );
            }
        }
    }
    out
}

/// The token's text and every secret derived from it.
fn secrets_of(token: &str) -> Vec<String> {
    let t = ClusterToken::parse(token, "test").unwrap();
    let k = t.agent_key();
    let mut all = vec![
        token.to_owned(),
        token.trim_start_matches("mdt1_").to_owned(),
    ];
    all.push(k.encode().expose().to_owned());
    all.extend(
        MasterPurpose::ALL
            .iter()
            .map(|p| t.secret(*p).expose().to_owned()),
    );
    all.extend(
        AgentPurpose::ALL
            .iter()
            .map(|p| k.secret(*p).expose().to_owned()),
    );
    all
}

/// No secret of `token` in `text`, nor in any file under the root that
/// others than root may read.
fn assert_hidden(root: &Path, token: &str, text: &str) {
    for s in secrets_of(token) {
        assert!(!text.contains(&s), "output shows a secret: {text}");
        for (path, (mode, bytes)) in tree(root) {
            if mode & 0o044 != 0 {
                let content = String::from_utf8_lossy(&bytes);
                assert!(
                    !content.contains(&s),
                    "{} (mode {:o}) holds a secret",
                    path.display(),
                    mode & 0o7777
                );
            }
        }
    }
}

fn token_file(dir: &Path, name: &str, token: &str) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, format!("{token}\n")).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
    p
}

fn fingerprint(token: &str) -> String {
    ClusterToken::parse(token, "test").unwrap().fingerprint()
}

fn manifest(root: &Path) -> serde_json::Value {
    serde_json::from_str(
        &fs::read_to_string(root.join("var/lib/mesos-docker/manifest.json")).unwrap(),
    )
    .unwrap()
}

#[test]
fn a_first_node_generates_the_token_and_shows_it_once_in_text_only() {
    let dir = host();
    let r = dir.path();
    // A dry run generates nothing visible.
    for format in [OutputFormat::Text, OutputFormat::Json] {
        let (code, out) = setup(r, format, None, &["--role", "standalone", "--dry-run"]);
        assert_eq!(code, ExitCode::SUCCESS, "{out}");
        assert!(out.contains("a cluster token would be generated"), "{out}");
        assert!(!out.contains("mdt1_"), "{out}");
        assert!(!out.contains("fingerprint"), "{out}");
    }
    let (_, dry) = json(r, None, &["--role", "standalone", "--dry-run"]);
    assert_eq!(
        dry["security"],
        serde_json::json!({"mode": "token", "origin": "would be generated"})
    );
    assert!(!r.join("var/lib/mesos-docker").exists());

    // The real run, in text: the token once, with the join commands.
    let (code, out) = setup(r, OutputFormat::Text, None, &["--role", "standalone"]);
    assert_eq!(code, ExitCode::SUCCESS, "{out}");
    let token = out
        .split_whitespace()
        .find(|w| w.starts_with("mdt1_"))
        .unwrap_or_else(|| panic!("no token shown: {out}"))
        .to_owned();
    assert_eq!(out.matches(&token).count(), 1, "{out}");
    assert!(
        out.contains(
            "mesos-docker setup --role agent --masters m2 --token-file /root/mesos-docker.token"
        ),
        "{out}"
    );
    assert!(
        !out.contains("--role master --masters"),
        "a single master: {out}"
    );
    let fp = fingerprint(&token);
    assert!(
        out.contains(&format!(
            "cluster token with fingerprint {fp}, generated by this run"
        )),
        "{out}"
    );
    // The record names the cluster by fingerprint only.
    let m = manifest(r);
    assert_eq!(m["security"]["token_fingerprint"], fp.as_str());
    // Shown once on purpose; no derived secret beside it, and no file
    // others can read holds any.
    assert_hidden(r, &token, &out.replace(&token, ""));
}

#[test]
fn a_first_node_in_json_never_shows_the_token() {
    let dir = host();
    let r = dir.path();
    let (code, report) = json(r, None, &["--role", "master", "--masters", "m2,m1,m3"]);
    assert_eq!(code, ExitCode::SUCCESS, "{report}");
    let s = &report["security"];
    assert_eq!(s["mode"], "token");
    assert_eq!(s["origin"], "generated");
    assert_eq!(s["show"], "mesos-docker credentials --token");
    let fp = s["token_fingerprint"].as_str().unwrap();
    assert_eq!(manifest(r)["security"]["token_fingerprint"], fp);
    let text = report.to_string();
    assert!(!text.contains("mdt1_"), "{text}");
    assert!(
        text.contains("`mesos-docker credentials --token` shows it"),
        "{text}"
    );
}

#[test]
fn a_stored_token_is_reused_and_a_given_one_must_match_it() {
    let dir = host();
    let r = dir.path();
    let secrets = r.join("etc/mesos-docker/secrets");
    fs::create_dir_all(&secrets).unwrap();
    token_file(&secrets, "token", TOKEN_AB);
    // Not the first master, but it holds the token: a re-run needs none.
    let (code, report) = json(r, None, &["--role", "master", "--masters", "m1,m2,m3"]);
    assert_eq!(code, ExitCode::SUCCESS, "{report}");
    assert_eq!(report["security"]["origin"], "stored");
    assert_eq!(
        report["security"]["token_fingerprint"],
        fingerprint(TOKEN_AB)
    );
    let given = token_file(r, "t", TOKEN_AB);
    let args = ["--role", "master", "--masters", "m1,m2,m3", "--token-file"];
    let (code, report) = json(r, None, &[&args[..], &[given.to_str().unwrap()]].concat());
    assert_eq!(code, ExitCode::SUCCESS, "{report}");
    assert_eq!(report["security"]["origin"], "given");
    assert_hidden(r, TOKEN_AB, &report.to_string());
}

#[test]
fn an_agent_without_a_token_is_refused() {
    let dir = host();
    let r = dir.path();
    let before = tree(r);
    let out = binary(r, &["setup", "--yes", "--role", "agent", "--masters", "m1"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("an agent joins a cluster: pass its token with --token-file FILE (or MESOS_DOCKER_TOKEN); `mesos-docker credentials --token` shows it on a master"),
        "{stderr}"
    );
    // So is a master that is not the first, which would start a second cluster.
    let out = binary(
        r,
        &[
            "setup",
            "--yes",
            "--role",
            "master",
            "--masters",
            "m1,m2,m3",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("this master (m2) is not the first of the masters (m1,m2,m3)"),
        "{stderr}"
    );
    assert_eq!(tree(r), before, "a refused run wrote something");
}

#[test]
fn another_clusters_token_is_refused_with_nothing_changed() {
    let dir = host();
    let r = dir.path();
    let keys = tempfile::tempdir().unwrap();
    let ab = token_file(keys.path(), "ab", TOKEN_AB);
    let cd = token_file(keys.path(), "cd", TOKEN_CD);
    let agent = [
        "setup",
        "--yes",
        "--role",
        "agent",
        "--masters",
        "m1",
        "--token-file",
    ];
    let out = binary(r, &[&agent[..], &[ab.to_str().unwrap()]].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let ab_key = ClusterToken::parse(TOKEN_AB, "t").unwrap().agent_key();
    assert!(
        stdout.contains(&format!(
            "agent key with fingerprint {}",
            ab_key.fingerprint()
        )),
        "{stdout}"
    );
    assert_eq!(manifest(r)["security"]["mode"], "agent-key");
    // An agent keeps no token: its record names the agent key alone.
    assert!(manifest(r)["security"]["token_fingerprint"].is_null());
    let before = tree(r);
    let out = binary(r, &[&agent[..], &[cd.to_str().unwrap()]].concat());
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "A node cannot move between clusters by re-running setup: nothing was changed"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("--token-file {}", cd.display())),
        "{stderr}"
    );
    assert_eq!(tree(r), before, "a refused run wrote something");
    // The same cluster's token again is fine, and so is MESOS_DOCKER_TOKEN.
    let (code, report) = json(r, Some(TOKEN_AB), &["--role", "agent", "--masters", "m1"]);
    assert_eq!(code, ExitCode::SUCCESS, "{report}");
    assert_eq!(report["security"]["origin"], "given");
    // Two sources that disagree are refused, naming both.
    let (code, report) = json(
        r,
        Some(TOKEN_CD),
        &[
            "--role",
            "agent",
            "--masters",
            "m1",
            "--token-file",
            ab.to_str().unwrap(),
        ],
    );
    assert_eq!(code, ExitCode::from(2));
    let e = report["error"].as_str().unwrap();
    assert!(
        e.contains(&format!(
            "--token-file {} and MESOS_DOCKER_TOKEN give two different cluster tokens",
            ab.display()
        )),
        "{e}"
    );
    assert_hidden(r, TOKEN_AB, &report.to_string());
}

#[test]
fn the_token_flag_works_and_is_warned_about() {
    let dir = host();
    let r = dir.path();
    let args = ["--role", "agent", "--masters", "m1", "--token", TOKEN_AB];
    for dry in [true, false] {
        let mut all = args.to_vec();
        if dry {
            all.push("--dry-run");
        }
        let (code, report) = json(r, None, &all);
        assert_eq!(code, ExitCode::SUCCESS, "{report}");
        assert!(
            report["warnings"][0].as_str().unwrap().starts_with(
                "--token puts the cluster token in `ps` output and your shell history"
            ),
            "{report}"
        );
        // Text output: the warning goes to stderr (as every warning does).
        let (code, text) = setup(r, OutputFormat::Text, None, &all);
        assert_eq!(code, ExitCode::SUCCESS, "{text}");
        assert_hidden(r, TOKEN_AB, &format!("{report}{text}"));
    }
}

#[test]
fn insecure_is_warned_about_and_refused_with_a_token() {
    let dir = host();
    let r = dir.path();
    let (code, report) = json(
        r,
        None,
        &["--role", "agent", "--masters", "m1", "--insecure"],
    );
    assert_eq!(code, ExitCode::SUCCESS, "{report}");
    assert_eq!(report["security"]["mode"], "insecure");
    assert!(
        report["warnings"].as_array().unwrap().iter().any(|w| w
            .as_str()
            .unwrap()
            .starts_with("--insecure: this node is open")),
        "{report}"
    );
    let (code, report) = json(
        r,
        Some(TOKEN_AB),
        &["--role", "agent", "--masters", "m1", "--insecure"],
    );
    assert_eq!(code, ExitCode::from(2));
    assert!(
        report["error"]
            .as_str()
            .unwrap()
            .contains("--insecure and MESOS_DOCKER_TOKEN contradict each other"),
        "{report}"
    );
}

#[test]
fn a_token_in_setup_toml_needs_a_private_file() {
    let dir = host();
    let r = dir.path();
    let conf = r.join("etc/mesos-docker/setup.toml");
    fs::create_dir_all(conf.parent().unwrap()).unwrap();
    fs::write(
        &conf,
        format!("role = \"agent\"\nmasters = [\"m1\"]\ntoken = \"{TOKEN_AB}\"\n"),
    )
    .unwrap();
    fs::set_permissions(&conf, fs::Permissions::from_mode(0o644)).unwrap();
    let before = tree(r);
    let out = binary(r, &["setup", "--yes"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let shown = conf.display();
    assert!(
        stderr.contains(&format!(
            "{shown} holds the cluster token (`token = …`) but is open to group or others (mode 644"
        )) && stderr.contains(&format!("chown root:root {shown} && chmod 600 {shown}")),
        "{stderr}"
    );
    assert!(!stderr.contains(TOKEN_AB));
    assert_eq!(tree(r), before, "a refused run wrote something");
    fs::set_permissions(&conf, fs::Permissions::from_mode(0o600)).unwrap();
    let out = binary(r, &["setup", "--yes"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("given by {shown} token")),
        "{stdout}"
    );
    // A relative token-file in the file is refused, naming the key.
    fs::write(
        &conf,
        "role = \"agent\"\nmasters = [\"m1\"]\ntoken-file = \"t\"\n",
    )
    .unwrap();
    let out = binary(r, &["setup", "--yes"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("token-file = \"t\" is not an absolute path"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Needs the plan to write /etc/mesos-docker/secrets/token (branch
/// i12-plan); until then the second run finds the record's token missing
/// and is refused, as `a_stored_token_is_reused…` and the lib tests show.
#[test]
fn a_generated_token_is_reused_by_the_next_run() {
    let dir = host();
    let r = dir.path();
    let (code, first) = json(r, None, &["--role", "standalone"]);
    assert_eq!(code, ExitCode::SUCCESS, "{first}");
    let (code, second) = json(r, None, &["--role", "standalone"]);
    assert_eq!(code, ExitCode::SUCCESS, "{second}");
    assert_eq!(second["security"]["origin"], "stored");
    assert_eq!(
        second["security"]["token_fingerprint"],
        first["security"]["token_fingerprint"]
    );
}

/// MESOS_DOCKER_TOKEN reaches setup, and none of the commands it runs: a
/// `systemctl` first on PATH writes down the environment it was given.
#[test]
fn the_token_in_the_environment_stays_with_setup() {
    let dir = host();
    let r = dir.path();
    let bin = tempfile::tempdir().unwrap();
    let seen = bin.path().join("seen");
    let fake = bin.path().join("systemctl");
    fs::write(
        &fake,
        format!("#!/bin/sh\nenv >> {}\nexit 0\n", seen.display()),
    )
    .unwrap();
    fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap()
    );
    let out = Proc::new(env!("CARGO_BIN_EXE_mesos-docker"))
        .args([
            "setup",
            "--yes",
            "--role",
            "agent",
            "--masters",
            "m1",
            "--root",
        ])
        .arg(r)
        .env("MESOS_DOCKER_TOKEN", TOKEN_AB)
        .env("PATH", path)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let key = ClusterToken::parse(TOKEN_AB, "t").unwrap().agent_key();
    assert!(
        stdout.contains(&format!(
            "agent key with fingerprint {}, given by MESOS_DOCKER_TOKEN",
            key.fingerprint()
        )),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let env = fs::read_to_string(&seen).expect("setup ran systemctl");
    assert!(env.contains("LC_ALL=C"), "{env}");
    assert!(!env.contains("MESOS_DOCKER_TOKEN"), "{env}");
    assert!(!env.contains(TOKEN_AB));
}
