//! How the host runner runs one command: in the C locale, so that what setup
//! parses (apt-cache's `Candidate:`, systemctl's states, dpkg's and Docker's
//! messages) reads the same on every host, and within a time bound, so that
//! a hung apt mirror, dpkg prompt or service start cannot hang setup. A
//! command past its bound is stopped with its whole process group (apt's
//! dpkg and methods, a shell's children): SIGTERM, then SIGKILL. Since the
//! group is not setup's, a SIGINT, SIGTERM or SIGHUP that stops setup (^C,
//! `timeout`) is passed on to the running commands' groups first.

use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

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

/// How long a terminated process group gets before SIGKILL.
const GRACE: Duration = Duration::from_secs(5);

const MINUTE: Duration = Duration::from_secs(60);

/// The bound for one command line. Package work downloads and unpacks
/// (a JRE, Docker), service starts wait on the daemon's own start timeout
/// (90 s by default in systemd); queries answer at once when all is well.
pub fn timeout_for(program: &str, args: &[&str]) -> Duration {
    // `env VAR=value… PROGRAM ARGS`: the program is what counts.
    let (program, args) = match program {
        "env" => {
            let skip = args.iter().take_while(|a| a.contains('=')).count();
            match args.get(skip) {
                Some(p) => (*p, &args[skip + 1..]),
                None => (program, args),
            }
        }
        _ => (program, args),
    };
    let verb = args.iter().find(|a| !a.starts_with('-')).copied();
    match (program, verb) {
        ("apt-get", Some("update")) => 15 * MINUTE,
        ("apt-get" | "dpkg", _) => 30 * MINUTE,
        ("docker", Some("pull" | "load")) => 30 * MINUTE,
        ("docker", Some("rmi")) => 5 * MINUTE,
        ("systemctl", Some("start" | "restart" | "stop" | "daemon-reload"))
        | ("start" | "stop" | "restart", _) => 5 * MINUTE,
        ("apt-cache" | "dpkg-deb" | "dpkg-query" | "docker" | "systemctl" | "journalctl", _)
        | ("status" | "initctl", _) => MINUTE,
        ("uname" | "ip", _) => Duration::from_secs(10),
        _ => 10 * MINUTE,
    }
}

/// The command line as an operator would type it (for messages).
fn line(program: &str, args: &[&str]) -> String {
    std::iter::once(program)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Process groups of commands running now (0: a free slot), for the signal
/// handler, which may only touch atomics.
static RUNNING: [AtomicI32; 8] = [const { AtomicI32::new(0) }; 8];

/// Passes a stopping signal on to the running commands, then dies of it as
/// setup did before it had a handler.
extern "C" fn pass_on(signal: nix::libc::c_int) {
    for slot in &RUNNING {
        let group = slot.load(Ordering::SeqCst);
        if group > 0 {
            // SAFETY: killpg, signal and raise are async-signal-safe.
            unsafe { nix::libc::killpg(group, signal) };
        }
    }
    unsafe {
        nix::libc::signal(signal, nix::libc::SIG_DFL);
        nix::libc::raise(signal);
    }
}

fn install_pass_on() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
        let action = SigAction::new(
            SigHandler::Handler(pass_on),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
            // SAFETY: the handler only uses async-signal-safe calls. A
            // signal ignored when setup started (nohup) stays ignored.
            unsafe {
                if let Ok(old) = sigaction(signal, &action)
                    && old.handler() == SigHandler::SigIgn
                {
                    let _ = sigaction(signal, &old);
                }
            }
        }
    });
}

/// A running command's group, listed for [`pass_on`] while it lives.
struct Listed(Option<&'static AtomicI32>);

impl Listed {
    fn new(group: i32) -> Listed {
        Listed(RUNNING.iter().find(|slot| {
            slot.compare_exchange(0, group, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        }))
    }
}

impl Drop for Listed {
    fn drop(&mut self) {
        if let Some(slot) = self.0 {
            slot.store(0, Ordering::SeqCst);
        }
    }
}

enum Event {
    Exited(io::Result<ExitStatus>),
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
}

/// Runs `program` with `args` in the C locale, its standard input closed,
/// in a process group of its own; a command not done within `timeout` is
/// stopped with its group and reported as `TimedOut`, naming the command
/// and the bound.
pub fn run_bounded(program: &str, args: &[&str], timeout: Duration) -> io::Result<Output> {
    install_pass_on();
    let mut child = Command::new(program)
        .args(args)
        .env("LC_ALL", "C")
        // The cluster token setup may have been given in its environment
        // is no business of apt's maintainer scripts, systemctl or docker.
        .env_remove("MESOS_DOCKER_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()?;
    let group = nix::unistd::Pid::from_raw(child.id() as i32);
    let _listed = Listed::new(group.as_raw());
    let (tx, rx) = mpsc::channel();
    let pipe = |mut r: Box<dyn Read + Send>, wrap: fn(Vec<u8>) -> Event| {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            let _ = tx.send(wrap(buf));
        });
    };
    pipe(
        Box::new(child.stdout.take().expect("piped stdout")),
        Event::Stdout,
    );
    pipe(
        Box::new(child.stderr.take().expect("piped stderr")),
        Event::Stderr,
    );
    let waiter = tx.clone();
    std::thread::spawn(move || {
        let _ = waiter.send(Event::Exited(child.wait()));
    });
    drop(tx);

    let mut status = None;
    let (mut stdout, mut stderr) = (None, None);
    let mut deadline = Instant::now() + timeout;
    let mut stage = 0;
    while status.is_none() || stdout.is_none() || stderr.is_none() {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(Event::Exited(s)) => status = Some(s),
            Ok(Event::Stdout(b)) => stdout = Some(b),
            Ok(Event::Stderr(b)) => stderr = Some(b),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                // The group outlives its leader while a member lives, so it
                // is this command's even after the leader was reaped.
                let signal = match stage {
                    0 => nix::sys::signal::Signal::SIGTERM,
                    1 => nix::sys::signal::Signal::SIGKILL,
                    // A process that left the group still holds a pipe.
                    _ => break,
                };
                let _ = nix::sys::signal::killpg(group, signal);
                stage += 1;
                deadline = Instant::now() + GRACE;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    if stage > 0 {
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "`{}` did not finish within {}; stopped it and its process group",
                line(program, args),
                human(timeout)
            ),
        ));
    }
    let status = status.unwrap_or_else(|| Err(io::Error::other("lost the command's exit")))?;
    Ok(Output {
        success: status.success(),
        stdout: String::from_utf8_lossy(&stdout.unwrap_or_default()).into_owned(),
        stderr: String::from_utf8_lossy(&stderr.unwrap_or_default()).into_owned(),
    })
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 && s % 60 == 0 {
        format!("{} min", s / 60)
    } else if s > 0 {
        format!("{s} s")
    } else {
        format!("{} ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_work_gets_long_bounds_and_queries_short_ones() {
        let t = |cmd: &str| {
            let v: Vec<&str> = cmd.split(' ').collect();
            timeout_for(v[0], &v[1..]).as_secs()
        };
        assert_eq!(t("env DEBIAN_FRONTEND=noninteractive apt-get update"), 900);
        assert_eq!(
            t("env DEBIAN_FRONTEND=noninteractive apt-get install -y -o X=1 zookeeperd"),
            1800
        );
        assert_eq!(
            t("env DEBIAN_FRONTEND=noninteractive dpkg --configure -a"),
            1800
        );
        assert_eq!(t("docker pull redis"), 1800);
        assert_eq!(t("systemctl start zookeeper.service"), 300);
        assert_eq!(t("systemctl --root=/r is-enabled x"), 60);
        assert_eq!(t("systemctl is-active x"), 60);
        assert_eq!(t("dpkg-query -W docker.io"), 60);
        assert_eq!(t("apt-cache policy zookeeperd"), 60);
        assert_eq!(t("docker info --format x"), 60);
        assert_eq!(t("status mesos-agent"), 60);
        assert_eq!(t("uname -m"), 10);
    }

    #[test]
    fn commands_run_in_the_c_locale() {
        let out = run_bounded("sh", &["-c", "echo \"$LC_ALL\"; echo err >&2"], MINUTE).unwrap();
        assert_eq!(
            out,
            Output {
                success: true,
                stdout: "C\n".into(),
                stderr: "err\n".into()
            }
        );
        assert!(!run_bounded("false", &[], MINUTE).unwrap().success);
        assert_eq!(
            run_bounded("/nonexistent/program", &[], MINUTE)
                .unwrap_err()
                .kind(),
            io::ErrorKind::NotFound
        );
    }

    /// A hung command and what it started are stopped at the bound, and
    /// the error names the command and the bound.
    #[test]
    fn a_hung_command_is_stopped_with_its_group() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let script = format!("sleep 300 & echo $! > {}; wait", pidfile.display());
        let start = Instant::now();
        let err = run_bounded("sh", &["-c", &script], Duration::from_millis(500)).unwrap_err();
        assert!(start.elapsed() < GRACE, "{:?}", start.elapsed());
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(
            err.to_string(),
            format!(
                "`sh -c {script}` did not finish within 500 ms; stopped it and its process group"
            )
        );
        let pid = std::fs::read_to_string(&pidfile).unwrap();
        let stat = format!("/proc/{}/stat", pid.trim());
        assert!(
            gone_within(&stat, Duration::from_secs(2)),
            "the group's sleep still runs: {stat}"
        );
    }

    /// Whether the process of `/proc/PID/stat` is gone, or a zombie waiting
    /// for whoever adopted it, within `limit` (its pipes close a moment
    /// before the kernel marks it so).
    fn gone_within(stat: &str, limit: Duration) -> bool {
        let alive = || {
            std::fs::read_to_string(stat).is_ok_and(|s| {
                !s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
        };
        let start = Instant::now();
        while alive() && start.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(10));
        }
        !alive()
    }

    /// Runs in a child process of [`a_stopped_setup_stops_its_command`]
    /// (and does nothing in a plain test run): a command that would run
    /// for minutes.
    #[test]
    fn long_command_in_a_child() {
        let Some(pidfile) = std::env::var_os("MESOS_DOCKER_TEST_PIDFILE") else {
            return;
        };
        let script = format!("echo $$ > {}; sleep 300", pidfile.to_string_lossy());
        let _ = run_bounded("sh", &["-c", &script], 10 * MINUTE);
    }

    /// ^C or `timeout` stopping setup stops the command it runs, although
    /// that command leads a process group of its own.
    #[test]
    fn a_stopped_setup_stops_its_command() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        // The test's name as libtest knows it: the module path without the crate.
        let child = format!(
            "{}::long_command_in_a_child",
            module_path!().split_once("::").unwrap().1
        );
        let mut setup = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", &child])
            .arg("--nocapture")
            .env("MESOS_DOCKER_TEST_PIDFILE", &pidfile)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        let pid = loop {
            if let Ok(p) = std::fs::read_to_string(&pidfile)
                && p.ends_with('\n')
            {
                break p.trim().to_owned();
            }
            assert!(start.elapsed() < MINUTE, "the command never started");
            std::thread::sleep(Duration::from_millis(20));
        };
        let setup_pid = nix::unistd::Pid::from_raw(setup.id() as i32);
        nix::sys::signal::kill(setup_pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let status = setup.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(nix::libc::SIGTERM), "{status:?}");
        let stat = format!("/proc/{pid}/stat");
        assert!(
            gone_within(&stat, Duration::from_secs(5)),
            "the command outlived setup: {stat}"
        );
    }
}
