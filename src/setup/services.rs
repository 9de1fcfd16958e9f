//! Running services: after files and packages, every unit the role enables
//! is started (or restarted, only when something it reads changed), then
//! its health is awaited with a deadline. A service that does not come up
//! stops the run with its last journal lines.

use std::time::{Duration, Instant};

use super::apply::Stopped;
use super::plan::{Plan, Resource};
use super::report::{Line, Reporter, Status};
use super::resources::{self, UnitState};
use super::system::System;

/// Units whose program comes from a package that no reachable repository
/// carries today (Mesos is in the Apache Attic, Marathon archived): without
/// the program they are left stopped, and the report names the package.
const FROM_ELSEWHERE: [(&str, &str, &str); 3] = [
    ("mesos-master.service", "/usr/sbin/mesos-master", "mesos"),
    ("mesos-agent.service", "/usr/sbin/mesos-agent", "mesos"),
    (
        "marathon.service",
        "/usr/share/marathon/bin/marathon",
        "marathon",
    ),
];

/// How a running service proves it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Probe {
    /// A four-letter command and the reply that means healthy.
    Zookeeper,
    /// `docker info` succeeds.
    Docker,
}

fn probe_of(unit: &str) -> Option<Probe> {
    match unit {
        "zookeeper.service" => Some(Probe::Zookeeper),
        "docker.service" => Some(Probe::Docker),
        _ => None,
    }
}

/// Starts and checks the plan's enabled units. `inputs_changed` are the
/// services (by name, with or without `.service`) whose files changed in
/// this run. Returns those of them that were not restarted.
pub fn converge(
    sys: &System,
    plan: &Plan,
    inputs_changed: &[String],
    deadline: Duration,
    rep: &mut Reporter,
) -> Result<Vec<String>, Stopped> {
    let mut running = Vec::new();
    let mut handled = Vec::new();
    for r in &plan.resources {
        let Resource::Service {
            name,
            enabled: true,
        } = r
        else {
            continue;
        };
        let line = |status, detail: String| Line {
            status,
            kind: "active".into(),
            id: name.clone(),
            detail: Some(detail),
            diff: None,
        };
        let fail = |rep: &mut Reporter, reason: String| {
            let reason = with_journal(sys, name, reason);
            rep.line(line(Status::Failed, reason.clone()));
            Stopped {
                kind: "active".into(),
                id: name.clone(),
                reason,
            }
        };
        // Not installed: apply has said so already.
        if resources::unit_state(sys, name).map_err(|e| fail(rep, e.what))? == UnitState::Missing {
            continue;
        }
        if let Some((_, program, package)) = FROM_ELSEWHERE
            .iter()
            .map(|(u, p, k)| (*u, plan.program(u).unwrap_or(p), *k))
            .find(|(u, p, _)| u == name && !sys.exists(p))
        {
            // Nothing runs to restart: it reads its inputs when it first starts.
            handled.push(name.clone());
            handled.push(name.strip_suffix(".service").unwrap_or(name).to_owned());
            rep.line(line(
                Status::Skipped,
                format!(
                    "not started: {program} is missing; install the {package} package (no reachable repository carries it: bring your own build or mirror), then run setup again"
                ),
            ));
            continue;
        }
        let base = name.strip_suffix(".service").unwrap_or(name);
        let changed = inputs_changed.iter().any(|s| s == name || s == base);
        if changed {
            handled.push(name.clone());
            handled.push(base.to_owned());
        }
        let active = systemctl(sys, &["is-active", name])
            .map_err(|e| fail(rep, e))?
            .stdout
            .trim()
            == "active";
        let verb = match (active, changed) {
            (false, _) => "start",
            (true, true) => "restart",
            (true, false) => {
                rep.line(line(Status::Ok, "running".into()));
                running.push(name.clone());
                continue;
            }
        };
        let out = systemctl(sys, &[verb, name]).map_err(|e| fail(rep, e))?;
        if !out.success {
            return Err(fail(
                rep,
                format!("systemctl {verb} {name} failed: {}", out.stderr.trim()),
            ));
        }
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
            await_health(sys, name, &probe, deadline, rep)?;
        }
    }
    Ok(inputs_changed
        .iter()
        .filter(|s| !handled.contains(s))
        .cloned()
        .collect())
}

fn systemctl(sys: &System, args: &[&str]) -> Result<super::system::Output, String> {
    sys.run("systemctl", args)
        .map_err(|e| format!("cannot run systemctl {}: {e}", args.join(" ")))
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
    /// An answer that no amount of waiting changes.
    Broken(String),
}

/// One look at a service's health.
fn look(sys: &System, probe: &Probe) -> Look {
    match probe {
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
                None if srvr.contains("not currently serving requests") => Look::Waiting(
                    "imok, but no quorum yet: run setup on the other masters of the ensemble"
                        .into(),
                ),
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
    name: &str,
    probe: &Probe,
    deadline: Duration,
    rep: &mut Reporter,
) -> Result<(), Stopped> {
    let start = Instant::now();
    let verdict = loop {
        match look(sys, probe) {
            Look::Healthy(detail) => break Ok((Status::Ok, detail)),
            Look::Waiting(detail) => break Ok((Status::Skipped, detail)),
            Look::Broken(why) => break Err(why),
            Look::NotYet(why) if start.elapsed() >= deadline => {
                break Err(format!(
                    "not healthy {}s after start: {why}",
                    deadline.as_secs()
                ));
            }
            Look::NotYet(why) => {
                // A unit that died will not get better by waiting.
                let state = systemctl(sys, &["is-active", name])
                    .map(|o| o.stdout.trim().to_owned())
                    .unwrap_or_default();
                if state == "failed" {
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
            let reason = with_journal(sys, name, why);
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

/// The reason, followed by the unit's last journal lines when there are any.
fn with_journal(sys: &System, name: &str, reason: String) -> String {
    let journal = sys
        .run("journalctl", &["-u", name, "-n", "20", "--no-pager"])
        .map(|o| o.stdout)
        .unwrap_or_default();
    if journal.trim().is_empty() {
        reason
    } else {
        format!(
            "{reason}; its last journal lines (journalctl -u {name}):\n{}",
            journal.trim_end()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::system::{Output, RecordingRunner};

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
