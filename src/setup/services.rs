//! Running services: after files and packages, every unit the role enables
//! is started (or restarted, only when something it reads changed), then
//! its health is awaited with a deadline. A service that does not come up
//! stops the run with its last journal lines.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::setup::apply::change::Stopped;
use crate::setup::apply::service::{self, UnitState};
use crate::setup::host::facts::Init;
use crate::setup::host::probes;
use crate::setup::host::system::System;
use crate::setup::plan::{Plan, Resource};
use crate::setup::report::{Line, Reporter, Status};

/// Units whose program may come from a package that no reachable repository
/// carries today (Mesos is in the Apache Attic, Marathon archived), with the
/// component to name when it is missing. The program itself is read from the
/// unit (or job) the plan writes, so any source's program is checked.
const FROM_ELSEWHERE: [(&str, &str); 3] = [
    ("mesos-master", "mesos"),
    ("mesos-agent", "mesos"),
    ("marathon", "marathon"),
];

/// How long a master that answers "No leader elected" is given to find one.
const ELECTION_GRACE: Duration = Duration::from_secs(60);

/// How a running service proves it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Probe {
    /// A four-letter command and the reply that means healthy.
    Zookeeper,
    /// `docker info` succeeds.
    Docker,
    /// HTTP endpoints (Mesos, Marathon), see [`probes`].
    Http(String),
}

/// Keyed by unit (systemd) or job (upstart) name.
fn probe_of(unit: &str) -> Option<Probe> {
    match unit.strip_suffix(".service").unwrap_or(unit) {
        "zookeeper" => Some(Probe::Zookeeper),
        "docker" => Some(Probe::Docker),
        other if !probes::checks_of(other).is_empty() => Some(Probe::Http(other.to_owned())),
        _ => None,
    }
}

/// The service manager: systemd units or upstart jobs (Ubuntu 14.04).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Manager {
    Systemd,
    Upstart,
}

impl Manager {
    /// What the plan enables, in plan order.
    fn enabled(self, sys: &System, plan: &Plan) -> Vec<String> {
        match self {
            Manager::Systemd => plan
                .resources
                .iter()
                .filter_map(|r| match r {
                    Resource::Service {
                        name,
                        enabled: true,
                    } => Some(name.clone()),
                    _ => None,
                })
                .collect(),
            Manager::Upstart => {
                // A job is enabled by the absence of its `manual` override.
                let mut jobs: Vec<String> = plan
                    .resources
                    .iter()
                    .filter_map(|r| match r {
                        Resource::Absent { path } => path
                            .strip_prefix("/etc/init/")
                            .and_then(|p| p.strip_suffix(".override"))
                            .map(str::to_owned),
                        _ => None,
                    })
                    .collect();
                // docker.io's own job, which the agent needs running.
                if jobs.iter().any(|j| j == "mesos-agent") && sys.exists("/etc/init/docker.conf") {
                    jobs.push("docker".into());
                }
                jobs
            }
        }
    }

    fn installed(self, sys: &System, name: &str) -> Result<bool, ServiceError> {
        match self {
            Manager::Systemd => Ok(service::unit_state(sys, name)? != UnitState::Missing),
            Manager::Upstart => Ok(sys.exists(&format!("/etc/init/{name}.conf"))),
        }
    }

    /// The state word: systemd's `is-active` answer, or upstart's goal/state
    /// (`start/running`, `stop/waiting`).
    fn state(self, sys: &System, name: &str) -> Result<String, ServiceError> {
        let (program, args): (&str, Vec<&str>) = match self {
            Manager::Systemd => ("systemctl", vec!["is-active", name]),
            Manager::Upstart => ("status", vec![name]),
        };
        let out = sys
            .run(program, &args)
            .map_err(|source| ServiceError::Run {
                command: format!("{program} {}", args.join(" ")),
                source,
            })?;
        Ok(match self {
            Manager::Systemd => out.stdout.trim().to_owned(),
            // "mesos-master start/running, process 1234"
            Manager::Upstart => out
                .stdout
                .split_whitespace()
                .nth(1)
                .unwrap_or("unknown")
                .trim_end_matches(',')
                .to_owned(),
        })
    }

    fn running(self, state: &str) -> bool {
        match self {
            Manager::Systemd => state == "active",
            Manager::Upstart => state == "start/running",
        }
    }

    /// A state that waiting will not mend.
    fn dead(self, state: &str) -> bool {
        match self {
            Manager::Systemd => state == "failed",
            // Upstart respawns a crashed job until its respawn limit, then
            // leaves it stopped.
            Manager::Upstart => state.starts_with("stop/"),
        }
    }

    /// Runs start or restart; upstart's own `restart` keeps the job file it
    /// was started with, so a restart there is a stop and a start.
    fn run(self, sys: &System, verb: &str, name: &str) -> Result<(), ServiceError> {
        let steps: Vec<(&str, Vec<&str>)> = match (self, verb) {
            (Manager::Systemd, _) => vec![("systemctl", vec![verb, name])],
            (Manager::Upstart, "restart") => vec![("stop", vec![name]), ("start", vec![name])],
            (Manager::Upstart, _) => vec![("start", vec![name])],
        };
        for (program, args) in steps {
            let line = format!("{program} {}", args.join(" "));
            let out = sys
                .run(program, &args)
                .map_err(|source| ServiceError::Run {
                    command: line.clone(),
                    source,
                })?;
            // Stopping a job that already stopped is not a failure.
            let stopped_already = program == "stop" && out.stderr.contains("Unknown instance");
            if !out.success && !stopped_already {
                return Err(ServiceError::Failed {
                    command: line,
                    stderr: out.stderr.trim().to_owned(),
                });
            }
        }
        Ok(())
    }

    /// The service's last log lines: the journal, or upstart's job log.
    fn log(self, sys: &System, name: &str) -> Option<(String, String)> {
        let (text, from) = match self {
            Manager::Systemd => (
                sys.run("journalctl", &["-u", name, "-n", "20", "--no-pager"])
                    .map(|o| o.stdout)
                    .unwrap_or_default(),
                format!("journalctl -u {name}"),
            ),
            Manager::Upstart => {
                let path = format!("/var/log/upstart/{name}.log");
                let text = sys.read(&path).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                let tail = lines[lines.len().saturating_sub(20)..].join("\n");
                (tail, path)
            }
        };
        (!text.trim().is_empty()).then(|| (text.trim_end().to_owned(), from))
    }
}

/// The program a unit (ExecStart=) or upstart job (`exec`) the plan writes
/// starts; `None` for units the plan does not write (packaged ones).
pub fn program_of(plan: &Plan, name: &str) -> Option<String> {
    let (path, key) = if name.ends_with(".service") {
        (format!("/etc/systemd/system/{name}"), "ExecStart=")
    } else {
        (format!("/etc/init/{name}.conf"), "exec ")
    };
    let content = plan.resources.iter().find_map(|r| match r {
        Resource::File {
            path: p, content, ..
        } if *p == path => Some(content),
        _ => None,
    })?;
    content
        .lines()
        .find_map(|l| l.trim().strip_prefix(key))
        .and_then(|rest| {
            // systemd's prefixes: - @ : + ! ignore errors, argv0, privileges.
            rest.trim_start_matches(['-', '@', ':', '+', '!'])
                .split_whitespace()
                .next()
                .map(str::to_owned)
        })
}

/// Starts and checks the plan's enabled units. `inputs_changed` are the
/// services (by name, with or without `.service`) whose files changed in
/// this run. Returns those of them that were not restarted.
pub fn converge(
    sys: &System,
    plan: &Plan,
    init: Init,
    inputs_changed: &[String],
    ip: Option<IpAddr>,
    deadline: Duration,
    rep: &mut Reporter,
) -> Result<Vec<String>, Stopped> {
    let manager = match init {
        Init::Systemd => Manager::Systemd,
        Init::Upstart => Manager::Upstart,
    };
    let mut running = Vec::new();
    let mut handled = Vec::new();
    for name in manager.enabled(sys, plan) {
        let name = &name;
        let line = |status, detail: String| Line {
            status,
            kind: "active".into(),
            id: name.clone(),
            detail: Some(detail),
            diff: None,
        };
        let fail = |rep: &mut Reporter, reason: String| {
            let reason = with_log(sys, manager, name, reason);
            rep.line(line(Status::Failed, reason.clone()));
            Stopped {
                kind: "active".into(),
                id: name.clone(),
                reason,
            }
        };
        // Not installed: apply has said so already.
        if !manager
            .installed(sys, name)
            .map_err(|e| fail(rep, crate::error_chain(&e)))?
        {
            continue;
        }
        let base = name.strip_suffix(".service").unwrap_or(name);
        if let Some((_, component)) = FROM_ELSEWHERE.iter().find(|(u, _)| *u == base)
            && let Some(program) = plan
                .program(&format!("{base}.service"))
                .map(str::to_owned)
                .or_else(|| program_of(plan, name))
                .filter(|p| !sys.exists(p))
        {
            // Nothing runs to restart: it reads its inputs when it first starts.
            handled.push(name.clone());
            handled.push(base.to_owned());
            rep.line(line(
                Status::Skipped,
                format!(
                    "not started: {program} is missing; install the {component} package (no reachable repository carries it: bring your own build or mirror, or pass --{component}-source), then run setup again"
                ),
            ));
            continue;
        }
        let changed = inputs_changed.iter().any(|s| s == name || s == base);
        if changed {
            handled.push(name.clone());
            handled.push(base.to_owned());
        }
        let active = manager.running(
            &manager
                .state(sys, name)
                .map_err(|e| fail(rep, crate::error_chain(&e)))?,
        );
        let verb = match (active, changed) {
            (false, _) => "start",
            (true, true) => "restart",
            (true, false) => {
                rep.line(line(Status::Ok, "running".into()));
                running.push(name.clone());
                continue;
            }
        };
        manager
            .run(sys, verb, name)
            .map_err(|e| fail(rep, crate::error_chain(&e)))?;
        rep.line(line(
            Status::Changed,
            if verb == "start" {
                "started".into()
            } else {
                "restarted: an input it reads changed".into()
            },
        ));
        running.push(name.clone());
    }
    for name in &running {
        if let Some(probe) = probe_of(name) {
            await_health(sys, manager, name, &probe, ip, deadline, rep)?;
        }
    }
    Ok(inputs_changed
        .iter()
        .filter(|s| !handled.contains(s))
        .cloned()
        .collect())
}

/// What one look at a service found.
#[derive(Debug, PartialEq, Eq)]
enum Look {
    Healthy(String),
    /// Up, and waiting cannot help from here (an ensemble member whose
    /// peers are not set up yet): reported, not fatal.
    Waiting(String),
    /// Not (yet) healthy; worth asking again until the deadline.
    NotYet(String),
    /// Serving while an election runs: asked again for a while, then
    /// reported as waiting.
    Electing(String),
    /// An answer that no amount of waiting changes.
    Broken(String),
}

/// One look at a service's health.
fn look(sys: &System, probe: &Probe, ip: Option<IpAddr>) -> Look {
    match probe {
        Probe::Http(unit) => match probes::ask_all(sys, ip, unit) {
            Some(probes::Verdict::Healthy(d)) => Look::Healthy(d),
            Some(probes::Verdict::Waiting(d)) => Look::Waiting(d),
            Some(probes::Verdict::Electing(d)) => Look::Electing(d),
            Some(probes::Verdict::Unhealthy(d)) => Look::NotYet(d),
            None => Look::Broken(format!("internal: no health check for {unit}")),
        },
        Probe::Zookeeper => {
            let reply = match sys.talk("127.0.0.1:2181", "ruok") {
                Ok(r) => r,
                Err(e) => return Look::NotYet(format!("ruok on 127.0.0.1:2181: {e}")),
            };
            if reply.contains("not in the whitelist") {
                return Look::Broken(format!(
                    "ZooKeeper on 127.0.0.1:2181 refuses ruok ({}): the zoo.cfg it runs with lacks setup's 4lw.commands.whitelist; is another ZooKeeper holding the port?",
                    reply.trim()
                ));
            }
            if reply.trim() != "imok" {
                return Look::NotYet(format!("ruok on 127.0.0.1:2181 answered {reply:?}"));
            }
            // srvr says whether it serves (standalone, leader or follower);
            // a member of an ensemble without quorum answers imok but not this.
            let srvr = match sys.talk("127.0.0.1:2181", "srvr") {
                Ok(r) => r,
                Err(e) => return Look::NotYet(format!("srvr on 127.0.0.1:2181: {e}")),
            };
            match srvr.lines().find_map(|l| l.strip_prefix("Mode:")) {
                Some(mode) => Look::Healthy(format!("imok, mode {}", mode.trim())),
                // Alone in its ensemble it has no one to wait for: just starting.
                None if srvr.contains("not currently serving requests")
                    && !sys.read("/etc/zookeeper/conf/zoo.cfg").is_ok_and(|c| {
                        c.lines().filter(|l| l.starts_with("server.")).count() == 1
                    }) =>
                {
                    Look::Waiting(
                        "imok, but no quorum yet: run setup on the other masters of the ensemble"
                            .into(),
                    )
                }
                None => Look::NotYet(format!("srvr on 127.0.0.1:2181 answered {:?}", srvr.trim())),
            }
        }
        Probe::Docker => match sys.run("docker", &["info", "--format", "{{.ServerVersion}}"]) {
            Err(e) => Look::Broken(format!("cannot run docker info: {e}")),
            Ok(out) if out.success => {
                Look::Healthy(format!("docker {} answers", out.stdout.trim()))
            }
            Ok(out) => Look::NotYet(format!("docker info: {}", out.stderr.trim())),
        },
    }
}

fn await_health(
    sys: &System,
    manager: Manager,
    name: &str,
    probe: &Probe,
    ip: Option<IpAddr>,
    deadline: Duration,
    rep: &mut Reporter,
) -> Result<(), Stopped> {
    let start = Instant::now();
    let verdict = loop {
        match look(sys, probe, ip) {
            Look::Healthy(detail) => break Ok((Status::Ok, detail)),
            // A Mesos master takes a moment to be elected (a real one, or
            // the stand-in, through ZooKeeper): worth a while before it is
            // reported as waiting for the other masters.
            Look::Electing(_) if start.elapsed() < ELECTION_GRACE.min(deadline) => {
                std::thread::sleep(Duration::from_millis(500));
            }
            Look::Waiting(detail) | Look::Electing(detail) => {
                break Ok((Status::Skipped, detail));
            }
            Look::Broken(why) => break Err(why),
            Look::NotYet(why) if start.elapsed() >= deadline => {
                break Err(format!(
                    "not healthy {}s after start: {why}",
                    deadline.as_secs()
                ));
            }
            Look::NotYet(why) => {
                // A unit that died will not get better by waiting.
                let state = manager.state(sys, name).unwrap_or_default();
                if manager.dead(&state) {
                    break Err(format!("the unit failed: {why}"));
                }
                std::thread::sleep(Duration::from_millis(500).min(deadline));
            }
        }
    };
    let id = name.strip_suffix(".service").unwrap_or(name).to_owned();
    match verdict {
        Ok((status, detail)) => {
            rep.line(Line {
                status,
                kind: "health".into(),
                id,
                detail: Some(detail),
                diff: None,
            });
            Ok(())
        }
        Err(why) => {
            let reason = with_log(sys, manager, name, why);
            rep.line(Line {
                status: Status::Failed,
                kind: "health".into(),
                id: id.clone(),
                detail: Some(reason.clone()),
                diff: None,
            });
            Err(Stopped {
                kind: "health".into(),
                id,
                reason,
            })
        }
    }
}

/// Why a service could not be looked at or started.
#[derive(Debug, thiserror::Error)]
enum ServiceError {
    #[error(transparent)]
    Unit(#[from] crate::setup::apply::change::ResourceError),
    #[error("cannot run {command}")]
    Run {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{command} failed: {stderr}")]
    Failed { command: String, stderr: String },
}

/// The reason, followed by the service's last log lines when there are any.
fn with_log(sys: &System, manager: Manager, name: &str, reason: String) -> String {
    match manager.log(sys, name) {
        None => reason,
        Some((lines, from)) => format!("{reason}; its last log lines ({from}):\n{lines}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::host::system::Output;
    use crate::setup::host::testkit::RecordingRunner;

    fn zk(ruok: Option<&str>, srvr: Option<&str>) -> Look {
        let r = RecordingRunner::new();
        if let Some(a) = ruok {
            r.answer("tcp 127.0.0.1:2181 ruok", Output::ok(a));
        }
        if let Some(a) = srvr {
            r.answer("tcp 127.0.0.1:2181 srvr", Output::ok(a));
        }
        look(
            &System::live_for_tests("/nonexistent", Box::new(r)),
            &Probe::Zookeeper,
            None,
        )
    }

    #[test]
    fn zookeeper_answers_read_as_health() {
        assert_eq!(
            zk(
                Some("imok"),
                Some("Zookeeper version: 3.8.0\nMode: follower\n")
            ),
            Look::Healthy("imok, mode follower".into())
        );
        assert!(matches!(zk(None, None), Look::NotYet(_)));
        assert!(matches!(
            zk(
                Some("imok"),
                Some("This ZooKeeper instance is not currently serving requests\n")
            ),
            Look::Waiting(_)
        ));
        assert!(matches!(
            zk(
                Some("ruok is not executed because it is not in the whitelist.\n"),
                None
            ),
            Look::Broken(_)
        ));
    }
}
