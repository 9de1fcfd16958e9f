//! The one seam between setup and the host: a root directory that every path
//! is resolved under, and a runner that every command goes through. The real
//! run uses `/` and [`HostRunner`]; tests use a temporary root and
//! [`RecordingRunner`], so both exercise the same code.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What a finished command left behind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn ok(stdout: &str) -> Self {
        Output {
            success: true,
            stdout: stdout.to_owned(),
            stderr: String::new(),
        }
    }

    pub fn failed(stderr: &str) -> Self {
        Output {
            success: false,
            stdout: String::new(),
            stderr: stderr.to_owned(),
        }
    }
}

/// Runs a program with arguments. `Err` means it could not be started at all
/// (typically: not installed); a non-zero exit is an `Ok` with `success: false`.
pub trait Runner: Send + Sync {
    fn run(&self, program: &str, args: &[&str]) -> io::Result<Output>;
    /// Whether commands reach the real host (and so must be kept away from a
    /// `--root` that is not `/`).
    fn is_host(&self) -> bool;
}

/// Runs commands on this machine.
#[derive(Debug, Default)]
pub struct HostRunner;

impl Runner for HostRunner {
    fn run(&self, program: &str, args: &[&str]) -> io::Result<Output> {
        let out = std::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()?;
        Ok(Output {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    fn is_host(&self) -> bool {
        true
    }
}

/// Records every command and answers from a table keyed by the whole command
/// line (`"uname -m"`); a command missing from the table behaves like a
/// program that is not installed. systemctl's unit-file queries and changes
/// (`is-enabled`, `list-unit-files`, `enable`, `disable`, with or without
/// `--root=`) are answered from a table of unit states instead, which
/// `enable` and `disable` update as systemd would.
#[derive(Debug, Default)]
pub struct RecordingRunner {
    answers: Mutex<HashMap<String, Output>>,
    /// Unit name → unit file state ("enabled", "disabled", ...); units not
    /// in it do not exist.
    units: Mutex<BTreeMap<String, String>>,
    calls: Mutex<Vec<String>>,
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

    /// Every command run so far, in order.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().expect("runner calls").clone()
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
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{program}: not in the test runner's table"),
        ))
    }

    fn is_host(&self) -> bool {
        false
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
