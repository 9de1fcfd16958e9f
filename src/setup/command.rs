//! How the host runner runs one command: in the C locale, so that what setup
//! parses (apt-cache's `Candidate:`, systemctl's states, dpkg's and Docker's
//! messages) reads the same on every host, and within a time bound, so that
//! a hung apt mirror, dpkg prompt or service start cannot hang setup. A
//! command past its bound is stopped with its whole process group (apt's
//! dpkg and methods, a shell's children): SIGTERM, then SIGKILL.

use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::system::Output;

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
    let mut child = Command::new(program)
        .args(args)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()?;
    let group = nix::unistd::Pid::from_raw(child.id() as i32);
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
        // Gone, or a zombie waiting for whoever adopted it; its pipes close
        // a moment before the kernel marks it so.
        let alive = || {
            std::fs::read_to_string(&stat).is_ok_and(|s| {
                !s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
        };
        let start = Instant::now();
        while alive() && start.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!alive(), "the group's sleep still runs: {stat}");
    }
}
