//! install.sh end to end, with real parts: the script piped into real shells
//! (dash, busybox sh), real curl and wget, a real HTTPS server
//! (tests/support/release_server.py) with a test CA made by openssl, serving a
//! release directory laid out like a mirror, and real users (`nobody` through
//! setpriv). The slow tests (a release build with cargo-zigbuild, a
//! debootstrapped Debian 11 image in Docker) are `#[ignore]`d here and run by
//! scripts/test with `--include-ignored`.
//!
//! A missing tool fails the test with what to install; nothing is skipped.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use sha2::{Digest, Sha256};
use support::mirror::{Server, make_readable_by_all, need, repo, run_checked, text, tls};
use tempfile::TempDir;

const ASSET: &str = "mesos-docker-x86_64-linux";
const VERSION: &str = env!("CARGO_PKG_VERSION");
const STANDARD_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

use crate::support;

fn serve_https(dist: &Dist) -> Server {
    Server::start(dist.dir.path(), true, None)
}

fn serve_http(dist: &Dist) -> Server {
    Server::start(dist.dir.path(), false, None)
}
const NOBODY: u32 = 65534;

fn script() -> Vec<u8> {
    fs::read(repo().join("install.sh")).expect("read install.sh")
}

/// The debug build of this crate: a real mesos-docker, fine to install.
fn real_binary() -> &'static [u8] {
    static BIN: OnceLock<Vec<u8>> = OnceLock::new();
    BIN.get_or_init(|| fs::read(env!("CARGO_BIN_EXE_mesos-docker")).expect("read the binary"))
}

fn sha256_hex(data: &[u8]) -> String {
    format!("{:x}", Sha256::digest(data))
}

/// A release mirror's tree: v<VERSION>/{binary, SHA256SUMS, install.sh} and
/// `latest` linking to it.
struct Dist {
    dir: TempDir,
}

impl Dist {
    fn new(binary: &[u8]) -> Dist {
        let sums = format!(
            "{}  {ASSET}\n{}  install.sh\n",
            sha256_hex(binary),
            sha256_hex(&script())
        );
        Dist::with_sums(binary, &sums)
    }

    fn with_sums(binary: &[u8], sums: &str) -> Dist {
        let dir = TempDir::new().unwrap();
        make_readable_by_all(dir.path());
        let release = dir.path().join(format!("v{VERSION}"));
        fs::create_dir(&release).unwrap();
        fs::write(release.join(ASSET), binary).unwrap();
        fs::set_permissions(release.join(ASSET), fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(release.join("SHA256SUMS"), sums).unwrap();
        fs::write(release.join("install.sh"), script()).unwrap();
        symlink(format!("v{VERSION}"), dir.path().join("latest")).unwrap();
        Dist { dir }
    }

    fn release_dir(&self) -> PathBuf {
        self.dir.path().join(format!("v{VERSION}"))
    }
}

/// A pretend host in a temporary directory: the install directory (absent
/// until install.sh makes it), TMPDIR and HOME.
struct Host {
    dir: TempDir,
}

impl Host {
    fn new() -> Host {
        let dir = TempDir::new().unwrap();
        make_readable_by_all(dir.path());
        for sub in ["tmp", "home"] {
            fs::create_dir(dir.path().join(sub)).unwrap();
            // nobody must be able to use them in the non-root tests.
            fs::set_permissions(dir.path().join(sub), fs::Permissions::from_mode(0o1777)).unwrap();
        }
        Host { dir }
    }

    fn install_dir(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    fn target(&self) -> PathBuf {
        self.install_dir().join("mesos-docker")
    }

    fn tmp(&self) -> PathBuf {
        self.dir.path().join("tmp")
    }

    /// `shell` run in a new session (so no /dev/tty, as under CI), with a
    /// clean environment aimed at this host; setup is skipped unless a test
    /// removes MESOS_DOCKER_SKIP_SETUP.
    fn command(&self, shell: &[&str]) -> Command {
        let mut cmd = Command::new(need("setsid", "util-linux"));
        cmd.arg("--wait")
            .args(shell)
            .env_clear()
            .env("PATH", STANDARD_PATH)
            .env("HOME", self.dir.path().join("home"))
            .env("TMPDIR", self.tmp())
            .env("MESOS_DOCKER_INSTALL_DIR", self.install_dir())
            .env("MESOS_DOCKER_SKIP_SETUP", "1");
        cmd
    }

    /// The same, aimed at a server and trusting the test CA.
    fn command_for(&self, shell: &[&str], server: &Server) -> Command {
        let mut cmd = self.command(shell);
        cmd.env("MESOS_DOCKER_DOWNLOAD_URL", server.url())
            .env("MESOS_DOCKER_CA_BUNDLE", &tls().ca);
        cmd
    }

    /// The files install.sh left in TMPDIR and the install directory.
    fn leftovers(&self) -> Vec<PathBuf> {
        let mut left = Vec::new();
        for dir in [self.tmp(), self.install_dir()] {
            if let Ok(entries) = fs::read_dir(&dir) {
                left.extend(entries.map(|e| e.unwrap().path()));
            }
        }
        left
    }
}

fn dash() -> Vec<&'static str> {
    need("dash", "dash");
    vec!["dash"]
}

fn busybox_sh() -> Vec<&'static str> {
    need("busybox", "busybox-static");
    vec!["busybox", "sh"]
}

/// Pipes `stdin` into the command, as `curl … | sh` does.
fn pipe(mut cmd: Command, stdin: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    // A shell that stops early closes the pipe; what it did not read is moot.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

fn install(cmd: Command) -> Output {
    pipe(cmd, &script())
}

fn report(out: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    )
}

fn assert_ok(out: &Output) {
    assert!(out.status.success(), "install.sh failed:\n{}", report(out));
}

fn assert_failed_with(out: &Output, needles: &[&str]) {
    assert!(
        !out.status.success(),
        "install.sh succeeded:\n{}",
        report(out)
    );
    let stderr = text(&out.stderr);
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            report(out)
        );
    }
}

fn assert_installed(host: &Host, binary: &[u8]) {
    let installed = fs::read(host.target()).expect("the binary is installed");
    assert!(
        installed == binary,
        "installed file differs from the release"
    );
    let mode = fs::metadata(host.target()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o755);
    let left: Vec<_> = host
        .leftovers()
        .into_iter()
        .filter(|p| *p != host.target())
        .collect();
    assert!(left.is_empty(), "install.sh left files behind: {left:?}");
}

/// A directory of links to every program on the standard PATH but `without`,
/// to stand for a host that lacks them.
fn path_without(parent: &Path, without: &[&str]) -> String {
    let dir = parent.join(format!("path-without-{}", without.join("-")));
    fs::create_dir(&dir).unwrap();
    make_readable_by_all(&dir);
    for src in std::env::split_paths(STANDARD_PATH) {
        let Ok(entries) = fs::read_dir(&src) else {
            continue;
        };
        for entry in entries {
            let entry = entry.unwrap();
            let name = entry.file_name();
            let name_str = name.to_string_lossy();
            if without.contains(&name_str.as_ref()) || dir.join(&name).symlink_metadata().is_ok() {
                continue;
            }
            symlink(entry.path(), dir.join(&name)).unwrap();
        }
    }
    dir.display().to_string()
}

/// The real binary released on an HTTPS mirror, and a fresh host.
fn served() -> (Dist, Server, Host) {
    let dist = Dist::new(real_binary());
    let server = serve_https(&dist);
    (dist, server, Host::new())
}

fn fresh_install_with(shell: &[&str]) {
    let (_dist, server, host) = served();
    let out = install(host.command_for(shell, &server));
    assert_ok(&out);
    assert_installed(&host, real_binary());
    let version = run_checked(Command::new(host.target()).arg("--version"));
    assert!(text(&version.stdout).starts_with(&format!("mesos-docker {VERSION} (")));
    assert!(server.fetched("SHA256SUMS") && server.fetched(ASSET));
    assert!(
        server.requests().iter().all(|r| r.ends_with(" 200")),
        "{:?}",
        server.requests()
    );
    assert!(text(&out.stderr).contains("verified with sha256sum"));
}

#[test]
fn fresh_install_over_https_with_dash() {
    fresh_install_with(&dash());
}

#[test]
fn fresh_install_over_https_with_busybox_sh() {
    fresh_install_with(&busybox_sh());
}

#[test]
fn latest_resolves_to_the_latest_directory_and_a_pin_to_its_version() {
    let (_dist, server, host) = served();
    assert_ok(&install(host.command_for(&dash(), &server)));
    assert!(
        server
            .requests()
            .contains(&format!("GET /latest/{ASSET} 200")),
        "{:?}",
        server.requests()
    );
    let pinned = Host::new();
    let mut cmd = pinned.command_for(&dash(), &server);
    cmd.env("MESOS_DOCKER_VERSION", VERSION);
    assert_ok(&install(cmd));
    assert!(
        server
            .requests()
            .contains(&format!("GET /v{VERSION}/{ASSET} 200"))
    );
}

#[test]
fn rerun_downloads_no_binary() {
    let (_dist, server, host) = served();
    assert_ok(&install(host.command_for(&dash(), &server)));
    let first = server.requests().len();

    // latest: SHA256SUMS says which binary is current; the installed one is it.
    let out = install(host.command_for(&dash(), &server));
    assert_ok(&out);
    let again = server.requests()[first..].to_vec();
    assert_eq!(again, vec!["GET /latest/SHA256SUMS 200".to_string()]);
    assert!(text(&out.stderr).contains("nothing downloaded"));

    // A pinned version that `mesos-docker --version` reports: nothing at all.
    let mut cmd = host.command_for(&dash(), &server);
    cmd.env("MESOS_DOCKER_VERSION", VERSION);
    let out = install(cmd);
    assert_ok(&out);
    assert_eq!(
        server.requests().len(),
        first + 1,
        "{:?}",
        server.requests()
    );
    assert!(text(&out.stderr).contains(&format!("{VERSION} is already installed")));
    assert_installed(&host, real_binary());
}

#[test]
fn a_changed_release_replaces_the_installed_binary() {
    let host = Host::new();
    fs::create_dir(host.install_dir()).unwrap();
    fs::write(host.target(), b"an older build").unwrap();
    let dist = Dist::new(real_binary());
    let server = serve_https(&dist);
    assert_ok(&install(host.command_for(&dash(), &server)));
    assert_installed(&host, real_binary());
}

#[test]
fn wrong_checksum_installs_nothing_and_names_both_digests() {
    let wrong = sha256_hex(b"not the binary");
    let dist = Dist::with_sums(real_binary(), &format!("{wrong}  {ASSET}\n"));
    let server = serve_https(&dist);
    let host = Host::new();
    let out = install(host.command_for(&dash(), &server));
    let actual = sha256_hex(real_binary());
    assert_failed_with(
        &out,
        &["checksum mismatch", &wrong, &actual, "nothing installed"],
    );
    assert!(!host.target().exists());
    assert!(host.leftovers().is_empty(), "{:?}", host.leftovers());
}

#[test]
fn a_mismatch_keeps_the_installed_binary() {
    let host = Host::new();
    fs::create_dir(host.install_dir()).unwrap();
    fs::write(host.target(), b"the old binary").unwrap();
    let wrong = sha256_hex(b"not the binary");
    let dist = Dist::with_sums(real_binary(), &format!("{wrong}  {ASSET}\n"));
    let server = serve_https(&dist);
    let out = install(host.command_for(&dash(), &server));
    assert_failed_with(&out, &["checksum mismatch"]);
    assert_eq!(fs::read(host.target()).unwrap(), b"the old binary");
    assert_eq!(host.leftovers(), vec![host.target()]);
}

/// Every prefix a download could be cut at: each line boundary, and each byte
/// of the last line, the only one that runs anything.
fn truncations(script: &[u8]) -> Vec<&[u8]> {
    let body = script.strip_suffix(b"\n").unwrap_or(script);
    let last_start = body.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let mut cuts: Vec<&[u8]> = (0..last_start)
        .filter(|&i| i == 0 || script[i - 1] == b'\n')
        .map(|i| &script[..i])
        .collect();
    cuts.extend((last_start..body.len()).map(|i| &script[..i]));
    cuts
}

fn truncated_script_runs_nothing_with(shell: &[&str]) {
    let script = script();
    truncations_run_nothing(shell, &script, truncations(&script));
}

/// Pipes each cut of the script into `shell` and proves nothing ran: no
/// request reached the server and no file was made; then that the whole
/// script does run, so the checks could have failed.
fn truncations_run_nothing(shell: &[&str], script: &[u8], cuts: Vec<&[u8]>) {
    let (_dist, server, host) = served();
    assert!(cuts.len() > 100, "only {} cuts", cuts.len());
    for cut in cuts {
        let mut cmd = host.command_for(shell, &server);
        cmd.arg("-s")
            .args(["--", "--role", "agent"])
            .env_remove("MESOS_DOCKER_SKIP_SETUP");
        let out = pipe(cmd, cut);
        let at = text(&cut[cut.len().saturating_sub(60)..]);
        assert!(
            server.requests().is_empty(),
            "cut at ...{at:?} made requests {:?}",
            server.requests()
        );
        assert!(
            host.leftovers().is_empty(),
            "cut at ...{at:?} left {:?}:\n{}",
            host.leftovers(),
            report(&out)
        );
        assert!(
            !text(&out.stderr).contains("downloading"),
            "cut at ...{at:?}:\n{}",
            report(&out)
        );
    }
    let out = pipe(host.command_for(shell, &server), script);
    assert_ok(&out);
    assert!(server.fetched(ASSET));
}

#[test]
fn truncated_script_runs_nothing_in_dash() {
    truncated_script_runs_nothing_with(&dash());
}

#[test]
fn truncated_script_runs_nothing_in_busybox_sh() {
    truncated_script_runs_nothing_with(&busybox_sh());
}

#[test]
#[ignore = "slow (one shell per byte of install.sh); scripts/test runs it with --include-ignored"]
fn truncated_at_any_byte_runs_nothing_in_dash() {
    let script = script();
    let cuts = (0..script.len() - 1).map(|i| &script[..i]).collect();
    truncations_run_nothing(&dash(), &script, cuts);
}

#[test]
fn wget_without_curl() {
    need("wget", "wget");
    let (_dist, server, host) = served();
    let mut cmd = host.command_for(&dash(), &server);
    cmd.env("PATH", path_without(host.dir.path(), &["curl"]));
    let out = install(cmd);
    assert_ok(&out);
    assert_installed(&host, real_binary());
    assert!(server.fetched(ASSET));
}

#[test]
fn wget_refuses_a_redirect_to_plain_http() {
    need("wget", "wget");
    let dist = Dist::new(real_binary());
    let plain = serve_http(&dist);
    let server = Server::start(dist.dir.path(), true, Some(plain.port));
    let host = Host::new();
    let mut cmd = host.command_for(&dash(), &server);
    cmd.env("PATH", path_without(host.dir.path(), &["curl"]))
        .env(
            "MESOS_DOCKER_DOWNLOAD_URL",
            format!("{}/redirect-http", server.url()),
        );
    let out = install(cmd);
    assert_failed_with(&out, &["redirected to plain HTTP"]);
    assert!(host.leftovers().is_empty(), "{:?}", host.leftovers());
}

#[test]
fn curl_refuses_a_redirect_to_plain_http() {
    let dist = Dist::new(real_binary());
    let plain = serve_http(&dist);
    let server = Server::start(dist.dir.path(), true, Some(plain.port));
    let host = Host::new();
    let mut cmd = host.command_for(&dash(), &server);
    cmd.env(
        "MESOS_DOCKER_DOWNLOAD_URL",
        format!("{}/redirect-http", server.url()),
    );
    let out = install(cmd);
    assert_failed_with(&out, &["could not download"]);
    assert!(plain.requests().is_empty(), "{:?}", plain.requests());
    assert!(host.leftovers().is_empty(), "{:?}", host.leftovers());
}

#[test]
fn neither_curl_nor_wget_is_a_clear_error() {
    let (_dist, server, host) = served();
    let mut cmd = host.command_for(&dash(), &server);
    cmd.env("PATH", path_without(host.dir.path(), &["curl", "wget"]));
    let out = install(cmd);
    assert_failed_with(&out, &["neither curl nor wget", "MESOS_DOCKER_BINARY"]);
    assert!(server.requests().is_empty());
}

#[test]
fn sha256_falls_back_to_shasum_then_openssl() {
    need("shasum", "perl");
    let dist = Dist::new(real_binary());
    let server = serve_https(&dist);
    for (without, tool) in [
        (vec!["sha256sum"], "verified with shasum -a 256"),
        (
            vec!["sha256sum", "shasum"],
            "verified with openssl dgst -sha256",
        ),
    ] {
        let host = Host::new();
        let mut cmd = host.command_for(&dash(), &server);
        cmd.env("PATH", path_without(host.dir.path(), &without));
        let out = install(cmd);
        assert_ok(&out);
        assert!(text(&out.stderr).contains(tool), "{}", report(&out));
        assert_installed(&host, real_binary());
    }
}

#[test]
fn a_pinned_version_missing_on_the_server_is_a_clear_error() {
    let (dist, server, host) = served();
    let mut cmd = host.command_for(&dash(), &server);
    cmd.env("MESOS_DOCKER_VERSION", "9.9.9");
    let out = install(cmd);
    assert_failed_with(
        &out,
        &[
            "/v9.9.9/SHA256SUMS",
            "404",
            "Is v9.9.9 a released version?",
            "MESOS_DOCKER_VERSION=9.9.9",
        ],
    );
    assert!(!server.fetched(ASSET));
    assert!(host.leftovers().is_empty());

    // Pinned by digest, the binary is the first thing fetched: same advice.
    let plain = serve_http(&dist);
    let mut cmd = host.command_for(&dash(), &plain);
    cmd.env("MESOS_DOCKER_VERSION", "9.9.9")
        .env("MESOS_DOCKER_SHA256", sha256_hex(real_binary()));
    assert_failed_with(
        &install(cmd),
        &[
            &format!("/v9.9.9/{ASSET}"),
            "404",
            "Is v9.9.9 a released version?",
        ],
    );
    assert!(host.leftovers().is_empty());
}

#[test]
fn plain_http_needs_a_pinned_digest() {
    let dist = Dist::new(real_binary());
    let server = serve_http(&dist);
    let host = Host::new();
    let out = install(host.command_for(&dash(), &server));
    assert_failed_with(&out, &["refusing plain HTTP", "MESOS_DOCKER_SHA256"]);
    assert!(server.requests().is_empty());

    let mut cmd = host.command_for(&dash(), &server);
    cmd.env("MESOS_DOCKER_SHA256", sha256_hex(real_binary()));
    let out = install(cmd);
    assert_ok(&out);
    assert_installed(&host, real_binary());
    // The pin is the trust: no SHA256SUMS is fetched from the server.
    assert!(!server.fetched("SHA256SUMS"), "{:?}", server.requests());
}

#[test]
fn a_wrong_pin_over_plain_http_installs_nothing() {
    let dist = Dist::new(real_binary());
    let server = serve_http(&dist);
    let host = Host::new();
    let pin = sha256_hex(b"something else");
    let mut cmd = host.command_for(&dash(), &server);
    cmd.env("MESOS_DOCKER_SHA256", &pin);
    let out = install(cmd);
    assert_failed_with(
        &out,
        &["checksum mismatch", &pin, &sha256_hex(real_binary())],
    );
    assert!(host.leftovers().is_empty(), "{:?}", host.leftovers());
}

#[test]
fn a_local_binary_is_verified_against_the_pin() {
    let host = Host::new();
    let local = host.dir.path().join("mesos-docker-x86_64-linux");
    fs::write(&local, real_binary()).unwrap();
    let mut cmd = host.command(&dash());
    cmd.env("MESOS_DOCKER_BINARY", &local);
    assert_failed_with(
        &install(cmd),
        &["MESOS_DOCKER_BINARY needs MESOS_DOCKER_SHA256"],
    );

    let mut cmd = host.command(&dash());
    cmd.env("MESOS_DOCKER_BINARY", &local)
        .env("MESOS_DOCKER_SHA256", sha256_hex(b"other"));
    assert_failed_with(
        &install(cmd),
        &["checksum mismatch", &sha256_hex(real_binary())],
    );
    assert!(!host.target().exists());

    let mut cmd = host.command(&dash());
    cmd.env("MESOS_DOCKER_BINARY", &local).env(
        "MESOS_DOCKER_SHA256",
        sha256_hex(real_binary()).to_uppercase(),
    );
    assert_ok(&install(cmd));
    assert_installed(&host, real_binary());
}

/// dash run as nobody through setpriv.
fn as_nobody(setpriv: &Path) -> [&str; 5] {
    [
        setpriv.to_str().unwrap(),
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "dash",
    ]
}

#[test]
fn non_root_without_sudo_is_told_what_to_do() {
    let setpriv = need("setpriv", "util-linux");
    let (_dist, server, host) = served();
    // The install directory's parent belongs to root and is not writable by nobody.
    let shell = as_nobody(&setpriv);
    let mut cmd = host.command_for(&shell, &server);
    cmd.env("PATH", path_without(host.dir.path(), &["sudo"]))
        .env_remove("MESOS_DOCKER_SKIP_SETUP")
        .args(["-s", "--", "--role", "agent"]);
    let out = install(cmd);
    assert_failed_with(
        &out,
        &[
            "needs root",
            "sudo is not installed",
            "writing",
            "running mesos-docker setup",
            "Run the installer as root",
        ],
    );
    assert!(server.requests().is_empty());
    assert!(host.leftovers().is_empty(), "{:?}", host.leftovers());
}

#[test]
fn non_root_can_install_into_its_own_directory_without_setup() {
    let setpriv = need("setpriv", "util-linux");
    let (_dist, server, host) = served();
    fs::create_dir(host.install_dir()).unwrap();
    std::os::unix::fs::chown(host.install_dir(), Some(NOBODY), Some(NOBODY)).unwrap();
    let shell = as_nobody(&setpriv);
    let mut cmd = host.command_for(&shell, &server);
    cmd.env("PATH", path_without(host.dir.path(), &["sudo"]));
    let out = install(cmd);
    assert_ok(&out);
    assert_installed(&host, real_binary());
    use std::os::unix::fs::MetadataExt;
    assert_eq!(fs::metadata(host.target()).unwrap().uid(), NOBODY);
}

#[test]
fn an_architecture_without_a_release_is_refused_with_what_exists() {
    let host = Host::new();
    let shim = host.dir.path().join("shim");
    fs::create_dir(&shim).unwrap();
    fs::write(
        shim.join("uname"),
        "#!/bin/sh\ncase $1 in -m) echo aarch64 ;; *) exec /usr/bin/uname \"$@\" ;; esac\n",
    )
    .unwrap();
    fs::set_permissions(shim.join("uname"), fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = host.command(&dash());
    cmd.env("PATH", format!("{}:{STANDARD_PATH}", shim.display()));
    let out = install(cmd);
    assert_failed_with(
        &out,
        &[
            "no mesos-docker release for Linux aarch64",
            "releases exist for: x86_64 Linux",
        ],
    );
    assert!(host.leftovers().is_empty());
}

#[test]
fn bad_settings_are_named() {
    let host = Host::new();
    for (var, value, needle) in [
        ("MESOS_DOCKER_SHA256", "abc", "is not a SHA-256 digest"),
        ("MESOS_DOCKER_VERSION", "1.0;rm", "is not a version"),
        (
            "MESOS_DOCKER_REQUIRE_SIGNATURE",
            "yes",
            "use 1 (require) or 0",
        ),
        (
            "MESOS_DOCKER_REQUIRE_SIGNATURE",
            "1",
            "needs MESOS_DOCKER_SIGNERS",
        ),
        (
            "MESOS_DOCKER_DOWNLOAD_URL",
            "ftp://example.org",
            "must start with https://",
        ),
        (
            "MESOS_DOCKER_CA_BUNDLE",
            "/nonexistent/ca.pem",
            "no readable file there",
        ),
    ] {
        let mut cmd = host.command(&dash());
        cmd.env(var, value);
        let out = install(cmd);
        assert_failed_with(&out, &[var, needle]);
        assert!(host.leftovers().is_empty());
    }
}

/// An ssh key pair and its allowed-signers line, for the signature tests.
fn signing_key(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let keygen = need("ssh-keygen", "openssh-client");
    let key = dir.join(name);
    run_checked(
        Command::new(&keygen)
            .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
            .arg(&key),
    );
    let public = fs::read_to_string(key.with_extension("pub")).unwrap();
    let signers = dir.join(format!("{name}.allowed_signers"));
    fs::write(&signers, format!("releases@mesos-docker {public}")).unwrap();
    (key, signers)
}

fn sign(dist: &Dist, key: &Path) {
    let sig = dist.release_dir().join("SHA256SUMS.sig");
    let _ = fs::remove_file(&sig);
    run_checked(
        Command::new(need("ssh-keygen", "openssh-client"))
            .args(["-Y", "sign", "-q", "-n", "mesos-docker-release", "-f"])
            .arg(key)
            .arg(dist.release_dir().join("SHA256SUMS")),
    );
}

#[test]
fn signed_sha256sums_are_checked_against_the_allowed_signers() {
    let keys = TempDir::new().unwrap();
    make_readable_by_all(keys.path());
    let (release_key, signers) = signing_key(keys.path(), "release");
    let (other_key, _) = signing_key(keys.path(), "other");
    let dist = Dist::new(real_binary());
    let server = serve_https(&dist);

    // No signature published while one is required.
    let host = Host::new();
    let mut cmd = host.command_for(&dash(), &server);
    cmd.env("MESOS_DOCKER_SIGNERS", &signers)
        .env("MESOS_DOCKER_REQUIRE_SIGNATURE", "1");
    assert_failed_with(&install(cmd), &["SHA256SUMS.sig", "404"]);
    assert!(!server.fetched(ASSET));

    // Signed by a key that is not in the allowed signers.
    sign(&dist, &other_key);
    let mut cmd = host.command_for(&dash(), &server);
    cmd.env("MESOS_DOCKER_SIGNERS", &signers);
    assert_failed_with(
        &install(cmd),
        &[
            "is not signed by releases@mesos-docker",
            "nothing installed",
        ],
    );
    assert!(!server.fetched(ASSET));
    assert!(host.leftovers().is_empty());

    // Signed by the release key.
    sign(&dist, &release_key);
    let mut cmd = host.command_for(&dash(), &server);
    cmd.env("MESOS_DOCKER_SIGNERS", &signers)
        .env("MESOS_DOCKER_REQUIRE_SIGNATURE", "1");
    let out = install(cmd);
    assert_ok(&out);
    assert!(text(&out.stderr).contains("SHA256SUMS signature verified"));
    assert_installed(&host, real_binary());

    // A SHA256SUMS changed after signing.
    let sums = dist.release_dir().join("SHA256SUMS");
    let mut changed = fs::read_to_string(&sums).unwrap();
    changed.push_str(&format!("{}  extra\n", sha256_hex(b"x")));
    fs::write(&sums, changed).unwrap();
    let fresh = Host::new();
    let mut cmd = fresh.command_for(&dash(), &server);
    cmd.env("MESOS_DOCKER_SIGNERS", &signers);
    assert_failed_with(&install(cmd), &["is not signed by"]);
    assert!(!fresh.target().exists());
}

/// A release whose "binary" is a script that reports how setup was started:
/// the contract between install.sh and whatever binary it installed.
fn recording_binary() -> Vec<u8> {
    format!(
        "#!/bin/sh\n\
         if [ \"$1\" = --version ]; then echo 'mesos-docker {VERSION} (recorder)'; exit 0; fi\n\
         echo \"argv: $*\"\n\
         if [ -t 0 ]; then echo 'stdin: terminal'; elif read -r line; then echo \"stdin: $line\"; \
         else echo 'stdin: empty'; fi\n\
         case \" $* \" in *' --fail '*) exit 7 ;; esac\n"
    )
    .into_bytes()
}

#[test]
fn setup_runs_with_the_arguments_and_yes_without_a_terminal() {
    let binary = recording_binary();
    let dist = Dist::new(&binary);
    let server = serve_https(&dist);
    let host = Host::new();
    let mut cmd = host.command_for(&dash(), &server);
    cmd.env_remove("MESOS_DOCKER_SKIP_SETUP").args([
        "-s",
        "--",
        "--role",
        "agent",
        "--masters",
        "10.0.0.1,10.0.0.2",
    ]);
    let out = install(cmd);
    assert_ok(&out);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("argv: setup --yes --role agent --masters 10.0.0.1,10.0.0.2"),
        "{}",
        report(&out)
    );
    // Setup must not read the rest of the script as answers.
    assert!(stdout.contains("stdin: empty"), "{}", report(&out));
    assert!(text(&out.stderr).contains("passing --yes"));

    let mut cmd = host.command_for(&dash(), &server);
    cmd.env_remove("MESOS_DOCKER_SKIP_SETUP")
        .args(["-s", "--", "--yes", "--role", "agent", "--fail"]);
    let out = install(cmd);
    assert_eq!(
        out.status.code(),
        Some(7),
        "setup's exit status: {}",
        report(&out)
    );
    assert!(text(&out.stdout).contains("argv: setup --yes --role agent --fail\n"));
}

#[test]
fn setup_reads_the_terminal_when_there_is_one() {
    let script_cmd = need("script", "bsdutils");
    let binary = recording_binary();
    let dist = Dist::new(&binary);
    let server = serve_https(&dist);
    let host = Host::new();
    let installer = host.dir.path().join("install.sh");
    fs::write(&installer, script()).unwrap();
    // script(1) gives the pipeline a terminal; sh's stdin is still the pipe.
    let pipeline = format!("cat {} | dash -s -- --role agent", installer.display());
    let mut cmd = host.command_for(
        &[script_cmd.to_str().unwrap(), "-qec", &pipeline, "/dev/null"],
        &server,
    );
    cmd.env_remove("MESOS_DOCKER_SKIP_SETUP");
    let out = pipe(cmd, b"");
    assert_ok(&out);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("argv: setup --role agent"),
        "{}",
        report(&out)
    );
    assert!(stdout.contains("stdin: terminal"), "{}", report(&out));
}

#[test]
fn install_sh_is_shellcheck_clean_posix_sh() {
    let shellcheck = need("shellcheck", "shellcheck");
    run_checked(
        Command::new(shellcheck)
            .args(["-s", "sh"])
            .arg(repo().join("install.sh")),
    );
}

#[test]
fn only_the_last_line_of_install_sh_runs_anything() {
    let script = text(&script());
    let last = script.trim_end().lines().last().unwrap();
    assert_eq!(last, r#"md_main "$#" "$@""#);
    // Everything above the last line is comments, blank lines and function
    // definitions: top-level lines either start a function or are inside one.
    let mut depth = 0usize;
    for (n, line) in script.trim_end().lines().enumerate() {
        if line == last {
            break;
        }
        if depth == 0 {
            let top = line.is_empty()
                || line.starts_with('#')
                || (line.ends_with("() {") && !line.starts_with(' '));
            assert!(top, "line {} runs at the top level: {line}", n + 1);
        }
        if line.ends_with("() {") {
            depth += 1;
        } else if line == "}" {
            depth -= 1;
        }
    }
    assert_eq!(depth, 0);
}

#[test]
fn check_glibc_rejects_a_binary_built_against_this_hosts_glibc() {
    need("objdump", "binutils");
    let out = Command::new(repo().join("scripts/check-glibc"))
        .arg(env!("CARGO_BIN_EXE_mesos-docker"))
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", report(&out));
    assert!(text(&out.stderr).contains("needs glibc newer than 2.17"));
    // And accepts the same binary against a limit above the host's glibc.
    run_checked(
        Command::new(repo().join("scripts/check-glibc"))
            .arg(env!("CARGO_BIN_EXE_mesos-docker"))
            .arg("2.99"),
    );
}

// ---- slow: a real release build, and Debian 11 in Docker ----

/// A release made by scripts/release, signed with a key made for the test.
struct Release {
    dir: PathBuf,
    signers: PathBuf,
}

/// Runs `scripts/release --sign` into target/tmp once per test process.
fn release_dist() -> &'static Release {
    static DIST: OnceLock<Release> = OnceLock::new();
    DIST.get_or_init(|| {
        need("python3", "python3 python3-venv");
        need("objdump", "binutils");
        let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let keys = tmp.join(format!("release-key-{}", std::process::id()));
        let _ = fs::remove_dir_all(&keys);
        fs::create_dir_all(&keys).unwrap();
        let (key, signers) = signing_key(&keys, "release");
        let dir = tmp.join("release-dist");
        run_checked(
            Command::new(repo().join("scripts/release"))
                .arg("--sign")
                .arg(&key)
                .arg("--out")
                .arg(&dir)
                .current_dir(repo()),
        );
        Release { dir, signers }
    })
}

#[test]
#[ignore = "slow (release build); scripts/test runs it with --include-ignored"]
fn release_binary_needs_no_glibc_newer_than_2_17() {
    let dist = &release_dist().dir;
    let binary = dist.join(ASSET);
    let out = run_checked(
        Command::new(repo().join("scripts/check-glibc"))
            .arg(&binary)
            .arg("2.17"),
    );
    assert!(text(&out.stdout).contains("ok"));
    let sums = fs::read_to_string(dist.join("SHA256SUMS")).unwrap();
    assert!(sums.contains(&format!(
        "{}  {ASSET}",
        sha256_hex(&fs::read(&binary).unwrap())
    )));
    assert!(sums.contains(&format!("{}  install.sh", sha256_hex(&script()))));
    assert_eq!(fs::read(dist.join("install.sh")).unwrap(), script());
    // Stripped: no symbol table left.
    let nm = Command::new("nm").arg(&binary).output().unwrap();
    assert!(text(&nm.stderr).contains("no symbols"), "{}", report(&nm));
}

#[test]
#[ignore = "slow (release build, debootstrap); scripts/test runs it with --include-ignored"]
fn release_installs_and_runs_on_debian_11() {
    let dist = &release_dist().dir;
    let image = support::systemd::DEBIAN11.ensure();
    let digest = sha256_hex(&fs::read(dist.join(ASSET)).unwrap());
    // Debian 11 minbase has neither curl nor wget: the air-gapped path, with
    // Debian 11's own dash running install.sh.
    let out = run_checked(
        Command::new(need("docker", "docker.io"))
            .args(["run", "--rm", "--network", "none", "-v"])
            .arg(format!("{}:/dist:ro", dist.display()))
            .args([
                "-e",
                &format!("MESOS_DOCKER_BINARY=/dist/{ASSET}"),
                "-e",
                &format!("MESOS_DOCKER_SHA256={digest}"),
                "-e",
                "MESOS_DOCKER_SKIP_SETUP=1",
                image,
                "sh",
                "-c",
                "sh </dist/install.sh && mesos-docker --version && ldd --version | head -n 1",
            ]),
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!("mesos-docker {VERSION} (")),
        "{}",
        report(&out)
    );
    assert!(
        stdout.contains("2.31"),
        "not Debian 11's glibc: {}",
        report(&out)
    );
    assert!(
        text(&out.stderr).contains("installed mesos-docker"),
        "{}",
        report(&out)
    );
}

#[test]
#[ignore = "slow (release build); scripts/test runs it with --include-ignored"]
fn signed_release_installs_over_https_with_the_signature_required() {
    let release = release_dist();
    // A mirror: v<VERSION> and latest both lead to the release directory.
    let mirror = TempDir::new().unwrap();
    make_readable_by_all(mirror.path());
    symlink(&release.dir, mirror.path().join(format!("v{VERSION}"))).unwrap();
    symlink(&release.dir, mirror.path().join("latest")).unwrap();
    let server = Server::start(mirror.path(), true, None);
    let host = Host::new();
    let mut cmd = host.command_for(&dash(), &server);
    cmd.env("MESOS_DOCKER_SIGNERS", &release.signers)
        .env("MESOS_DOCKER_REQUIRE_SIGNATURE", "1");
    let out = install(cmd);
    assert_ok(&out);
    assert!(
        text(&out.stderr).contains("SHA256SUMS signature verified"),
        "{}",
        report(&out)
    );
    assert_installed(&host, &fs::read(release.dir.join(ASSET)).unwrap());
    assert!(server.fetched("SHA256SUMS.sig"));
}
