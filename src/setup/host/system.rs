//! The one seam between setup and the host: a root directory that every path
//! is resolved under, and a runner that every command goes through. The real
//! run uses `/` and [`HostRunner`]; tests use a temporary root and the
//! recording runner of the sibling `testkit` module (test builds only), so
//! both exercise the same code.

use std::io;
use std::path::{Path, PathBuf};

pub use crate::setup::host::command::Output;

/// Runs a program with arguments. `Err` means it could not be started at all
/// (typically: not installed); a non-zero exit is an `Ok` with `success: false`.
pub trait Runner: Send + Sync {
    fn run(&self, program: &str, args: &[&str]) -> io::Result<Output>;
    /// Sends `send` to a TCP address and returns what came back before the
    /// peer closed (ZooKeeper's four-letter commands).
    fn talk(&self, addr: &str, send: &str) -> io::Result<String>;
    /// Whether commands reach the real host (and so must be kept away from a
    /// `--root` that is not `/`).
    fn is_host(&self) -> bool;
}

/// Runs commands on this machine.
#[derive(Debug, Default)]
pub struct HostRunner;

impl Runner for HostRunner {
    /// In the C locale and within a bound that fits the command (see
    /// [`command`](super::command)).
    fn run(&self, program: &str, args: &[&str]) -> io::Result<Output> {
        let bound = crate::setup::host::command::timeout_for(program, args);
        crate::setup::host::command::run_bounded(program, args, bound)
    }

    fn talk(&self, addr: &str, send: &str) -> io::Result<String> {
        use std::io::{Read, Write};
        let timeout = std::time::Duration::from_secs(2);
        let sock = addr
            .parse()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{addr}: {e}")))?;
        let mut s = std::net::TcpStream::connect_timeout(&sock, timeout)?;
        s.set_read_timeout(Some(timeout))?;
        s.write_all(send.as_bytes())?;
        let mut got = String::new();
        s.read_to_string(&mut got)?;
        Ok(got)
    }

    fn is_host(&self) -> bool {
        true
    }
}

/// The host as setup sees it.
pub struct System {
    root: PathBuf,
    runner: Box<dyn Runner>,
    live: bool,
}

impl System {
    /// A root as given on the command line: `/` is the running system; any
    /// other directory is offline (no service manager runs there).
    pub fn new(root: impl Into<PathBuf>, runner: Box<dyn Runner>) -> Self {
        let root = root.into();
        let live = root == Path::new("/");
        System { root, runner, live }
    }

    /// A temporary root that stands for a running system, for tests whose
    /// recording runner plays the host's commands (systemctl, ip, ...).
    #[cfg(any(test, feature = "testkit"))]
    pub fn live_for_tests(root: impl Into<PathBuf>, runner: Box<dyn Runner>) -> Self {
        let runner_is_host = runner.is_host();
        assert!(
            !runner_is_host,
            "only a recording runner may pretend a root is live"
        );
        System {
            root: root.into(),
            runner,
            live: true,
        }
    }

    /// The real host: `/` with commands run for real.
    pub fn host() -> Self {
        Self::new("/", Box::new(HostRunner))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether this run targets the machine's own root.
    pub fn is_real_root(&self) -> bool {
        self.root == Path::new("/")
    }

    /// Whether the root is a running system: commands that ask or tell the
    /// running host (ip, initctl, docker, systemctl daemon-reload, is-active)
    /// only make sense then; an offline root is read through its files.
    pub fn is_live(&self) -> bool {
        self.live
    }

    /// An absolute host path (`/etc/x`) as it lies under the root.
    pub fn path(&self, host_path: &str) -> PathBuf {
        self.root.join(host_path.trim_start_matches('/'))
    }

    pub fn read(&self, host_path: &str) -> io::Result<String> {
        std::fs::read_to_string(self.path(host_path))
    }

    pub fn exists(&self, host_path: &str) -> bool {
        self.path(host_path).exists()
    }

    pub fn run(&self, program: &str, args: &[&str]) -> io::Result<Output> {
        self.runner.run(program, args)
    }

    pub fn talk(&self, addr: &str, send: &str) -> io::Result<String> {
        self.runner.talk(addr, send)
    }

    /// systemctl on the root: on an offline root `--root=DIR`, which edits
    /// unit links under DIR without a running systemd and never touches the
    /// machine's own services.
    pub fn systemctl(&self, args: &[&str]) -> io::Result<Output> {
        if self.live {
            return self.run("systemctl", args);
        }
        let root = format!("--root={}", self.root.display());
        let mut all = vec![root.as_str()];
        all.extend_from_slice(args);
        self.run("systemctl", &all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::host::testkit::RecordingRunner;

    #[test]
    fn paths_lie_under_the_root() {
        let s = System::new("/tmp/r", Box::new(RecordingRunner::new()));
        assert_eq!(
            s.path("/etc/os-release"),
            Path::new("/tmp/r/etc/os-release")
        );
        assert!(!s.is_real_root());
        assert!(!s.is_live());
        assert!(System::host().is_live());
    }

    #[test]
    fn systemctl_on_an_offline_root_names_it() {
        let r = std::sync::Arc::new(RecordingRunner::new());
        struct Shared(std::sync::Arc<RecordingRunner>);
        impl Runner for Shared {
            fn run(&self, p: &str, a: &[&str]) -> io::Result<Output> {
                self.0.run(p, a)
            }
            fn talk(&self, addr: &str, send: &str) -> io::Result<String> {
                self.0.talk(addr, send)
            }
            fn is_host(&self) -> bool {
                false
            }
        }
        let s = System::new("/tmp/r", Box::new(Shared(r.clone())));
        s.systemctl(&["is-enabled", "x"]).unwrap();
        let live = System::live_for_tests("/tmp/r", Box::new(Shared(r.clone())));
        live.systemctl(&["is-enabled", "x"]).unwrap();
        assert_eq!(
            r.calls(),
            [
                "systemctl --root=/tmp/r is-enabled x",
                "systemctl is-enabled x"
            ]
        );
    }
}
