//! `mesos-docker status`: the node's role as setup recorded it, whether each
//! file setup manages still holds what setup wrote, whether each service the
//! role enables is running, and what its health endpoint answers. The exit
//! code says whether all is well (see [`EXIT_DEGRADED`]).

use std::fs;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

use crate::setup::host::probes;
use crate::setup::host::system::{HostRunner, System};
use crate::setup::input::model::OutputFormat;
use crate::setup::record::{self, Kind, Manifest, sha256_hex};

/// Exit code when the node is not as setup left it: a file drifted or went
/// missing, a service the role enables is not running, or one answers its
/// health check wrongly. 1 means status could not tell (no record).
pub const EXIT_DEGRADED: u8 = 3;

/// `mesos-docker status`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct StatusArgs {
    /// The root setup wrote under.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// Report format: lines, or one JSON document.
    #[arg(long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct FileState {
    pub path: String,
    /// "in sync", "drifted" or "missing".
    pub state: &'static str,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct ServiceState {
    pub name: String,
    /// systemd's is-enabled word; for upstart "enabled", "disabled" (a
    /// `manual` override) or "not-found".
    pub enabled: String,
    /// systemd's is-active word or upstart's goal/state ("start/running");
    /// "offline" under a --root that is not running.
    pub active: String,
    /// Whether it runs (only asked of enabled services on a live root).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running: Option<bool>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Health {
    pub name: String,
    pub endpoint: String,
    /// "healthy: …", or what went wrong.
    pub state: String,
    pub healthy: bool,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Status {
    pub role: Option<String>,
    pub files: Vec<FileState>,
    /// Health endpoints on this host; only on a live root.
    pub health: Vec<Health>,
    /// Enablement from the root's unit links; activity only on a live root.
    pub services: Vec<ServiceState>,
    /// How setup configured the node that an operator should know
    /// (the agent running without systemd support).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Why the node is degraded; empty when all is well.
    pub problems: Vec<String>,
}

impl Status {
    pub fn exit_code(&self) -> ExitCode {
        if self.problems.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(EXIT_DEGRADED)
        }
    }
}

/// Reads the node's state; `None` when setup has not run here.
pub fn gather(sys: &System) -> Result<Option<Status>, record::ManifestError> {
    let Some(m) = Manifest::load(sys)? else {
        return Ok(None);
    };
    let files: Vec<FileState> = m
        .entries
        .iter()
        .filter(|e| !matches!(e.kind, Kind::Dir | Kind::Tree))
        .map(|e| {
            let p = sys.path(&e.path);
            let state = match e.kind {
                Kind::Link => match fs::read_link(&p) {
                    Ok(t) if Some(t.to_string_lossy().as_ref()) == e.target.as_deref() => "in sync",
                    Ok(_) => "drifted",
                    Err(_) => "missing",
                },
                // A file setup removed (an upstart override).
                _ if e.sha256.is_none() => match fs::metadata(&p) {
                    Err(_) => "in sync",
                    Ok(_) => "drifted",
                },
                _ => match fs::read(&p) {
                    Ok(now) if Some(sha256_hex(&now)) == e.sha256 => "in sync",
                    Ok(_) => "drifted",
                    Err(_) => "missing",
                },
            };
            FileState {
                path: e.path.clone(),
                state,
            }
        })
        .collect();
    let upstart = !sys.exists("/run/systemd/system")
        && ["mesos-master", "mesos-agent"]
            .iter()
            .any(|j| sys.exists(&format!("/etc/init/{j}.conf")));
    let local_zk = m.ensemble.is_some();
    let mut services = Vec::new();
    if upstart || sys.exists("/etc/systemd/system") {
        for unit in units(m.role.as_deref(), local_zk) {
            // Upstart hosts run the reaper from cron.
            if upstart && unit.ends_with(".timer") {
                continue;
            }
            services.push(if upstart {
                upstart_state(sys, unit.strip_suffix(".service").unwrap_or(unit))
            } else {
                systemd_state(sys, unit)
            });
        }
    }
    let health = if sys.is_live() {
        let ip = advertised_ip(sys);
        services
            .iter()
            .filter(|s| s.running == Some(true))
            .filter_map(|s| health_of(sys, &s.name, ip))
            .collect()
    } else {
        Vec::new()
    };
    let mut problems: Vec<String> = files
        .iter()
        .filter(|f| f.state != "in sync")
        .map(|f| format!("{} is {}", f.path, f.state))
        .collect();
    problems.extend(
        services
            .iter()
            .filter(|s| s.running == Some(false))
            .map(|s| format!("{} is enabled but not running ({})", s.name, s.active)),
    );
    problems.extend(
        health
            .iter()
            .filter(|h| !h.healthy)
            .map(|h| format!("{} is unhealthy: {}", h.name, h.state)),
    );
    Ok(Some(Status {
        role: m.role,
        files,
        health,
        services,
        notes: notes(sys),
        problems,
    }))
}

/// What the agent's environment file says about systemd: setup writes the
/// reason as the comment above MESOS_SYSTEMD_ENABLE_SUPPORT.
fn notes(sys: &System) -> Vec<String> {
    let Ok(env) = sys.read("/etc/mesos-docker/agent.env") else {
        return Vec::new();
    };
    let lines: Vec<&str> = env.lines().collect();
    let Some(at) = lines.iter().position(|l| {
        l.trim() == "MESOS_SYSTEMD_ENABLE_SUPPORT=\"false\""
            || l.trim() == "MESOS_SYSTEMD_ENABLE_SUPPORT=false"
    }) else {
        return Vec::new();
    };
    let why = lines[..at]
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("# ")?.split_once(": Mesos'"))
        .map(|(w, _)| w.to_owned())
        .unwrap_or_else(|| "set in /etc/mesos-docker/agent.env".to_owned());
    vec![format!(
        "agent: systemd support off (MESOS_SYSTEMD_ENABLE_SUPPORT=false), POSIX launcher and isolation: {why}"
    )]
}

fn systemd_state(sys: &System, name: &str) -> ServiceState {
    let ask = |verb: &str| {
        sys.systemctl(&[verb, name])
            .map(|o| o.stdout.trim().to_owned())
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "unknown".into())
    };
    let enabled = ask("is-enabled");
    let active = if sys.is_live() {
        ask("is-active")
    } else {
        "offline".to_owned()
    };
    let expected = matches!(
        enabled.as_str(),
        "enabled" | "generated" | "static" | "alias"
    );
    ServiceState {
        name: name.to_owned(),
        running: (sys.is_live() && expected).then(|| active == "active"),
        enabled,
        active,
    }
}

fn upstart_state(sys: &System, job: &str) -> ServiceState {
    let enabled = if !sys.exists(&format!("/etc/init/{job}.conf")) {
        "not-found"
    } else if sys
        .read(&format!("/etc/init/{job}.override"))
        .is_ok_and(|o| o.lines().any(|l| l.trim() == "manual"))
    {
        "disabled"
    } else {
        "enabled"
    };
    let active = if !sys.is_live() {
        "offline".to_owned()
    } else {
        // "mesos-agent start/running, process 1234"
        sys.run("status", &[job])
            .ok()
            .and_then(|o| {
                o.stdout
                    .split_whitespace()
                    .nth(1)
                    .map(|w| w.trim_end_matches(',').to_owned())
            })
            .unwrap_or_else(|| "unknown".into())
    };
    ServiceState {
        name: job.to_owned(),
        running: (sys.is_live() && enabled == "enabled").then(|| active == "start/running"),
        enabled: enabled.to_owned(),
        active,
    }
}

/// The address the daemons advertise (MESOS_IP in setup's environment
/// files), where their health is asked.
fn advertised_ip(sys: &System) -> Option<IpAddr> {
    [
        "/etc/mesos-docker/master.env",
        "/etc/mesos-docker/agent.env",
    ]
    .iter()
    .filter_map(|p| sys.read(p).ok())
    .flat_map(|t| t.lines().map(str::to_owned).collect::<Vec<_>>())
    .find_map(|l| {
        l.strip_prefix("MESOS_IP=")
            .and_then(|v| v.trim_matches('"').parse().ok())
    })
}

/// The health of a running service, asked as setup asks it after a start.
fn health_of(sys: &System, name: &str, ip: Option<IpAddr>) -> Option<Health> {
    let base = name.strip_suffix(".service").unwrap_or(name);
    let (endpoint, verdict) = match base {
        "zookeeper" => (
            "127.0.0.1:2181 ruok".to_owned(),
            match sys.talk("127.0.0.1:2181", "ruok") {
                Ok(r) if r.trim() == "imok" => Ok("imok".to_owned()),
                Ok(r) if r.is_empty() => {
                    Err("no answer to ruok (is it in 4lw.commands.whitelist?)".to_owned())
                }
                Ok(r) => Err(format!("answers {r:?} to ruok")),
                Err(e) => Err(format!("unreachable ({e})")),
            },
        ),
        "docker" => (
            "docker info".to_owned(),
            match sys.run("docker", &["info", "--format", "{{.ServerVersion}}"]) {
                Ok(o) if o.success => Ok(format!("docker {}", o.stdout.trim())),
                Ok(o) => Err(o.stderr.trim().to_owned()),
                Err(e) => Err(format!("cannot run docker info: {e}")),
            },
        ),
        _ => {
            let checks = probes::checks_of(base);
            checks.first()?;
            let endpoint = checks
                .iter()
                .map(|c| format!("http://{}{}", probes::address(ip, c.port), c.path))
                .collect::<Vec<_>>()
                .join(" ");
            (
                endpoint,
                match probes::ask_all(sys, ip, base)? {
                    probes::Verdict::Healthy(d)
                    | probes::Verdict::Waiting(d)
                    | probes::Verdict::Electing(d) => Ok(d),
                    probes::Verdict::Unhealthy(d) => Err(d),
                },
            )
        }
    };
    Some(Health {
        name: base.to_owned(),
        endpoint,
        healthy: verdict.is_ok(),
        state: match verdict {
            Ok(d) => format!("healthy: {d}"),
            Err(d) => d,
        },
    })
}

fn units(role: Option<&str>, local_zk: bool) -> Vec<&'static str> {
    let mut u = Vec::new();
    if matches!(role, Some("master" | "standalone")) {
        if local_zk {
            u.push("zookeeper.service");
        }
        u.extend(["mesos-master.service", "marathon.service"]);
    }
    if matches!(role, Some("agent" | "standalone")) {
        u.extend([
            "docker.service",
            "mesos-agent.service",
            "mesos-docker-reap.timer",
        ]);
    }
    u
}

pub fn main(args: StatusArgs) -> ExitCode {
    let sys = System::new(args.root.clone(), Box::new(HostRunner));
    let status = match gather(&sys) {
        Ok(Some(s)) => s,
        Ok(None) => {
            eprintln!(
                "mesos-docker status: setup has not run here (no record at {}); run mesos-docker setup",
                sys.path(record::PATH).display()
            );
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("mesos-docker status: {}", crate::error_chain(&e));
            return ExitCode::FAILURE;
        }
    };
    match args.output {
        OutputFormat::Json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&status).expect("status serializes")
            );
        }
        OutputFormat::Text => print!("{}", text(&status)),
    }
    status.exit_code()
}

pub fn text(s: &Status) -> String {
    let mut out = format!("role: {}\n", s.role.as_deref().unwrap_or("unknown"));
    for f in &s.files {
        out.push_str(&format!("{:<9} {}\n", f.state, f.path));
    }
    for svc in &s.services {
        out.push_str(&format!(
            "service {}: {}, {}\n",
            svc.name, svc.enabled, svc.active
        ));
    }
    for h in &s.health {
        out.push_str(&format!(
            "health {} ({}): {}\n",
            h.name, h.endpoint, h.state
        ));
    }
    for n in &s.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    if s.problems.is_empty() {
        out.push_str("all is well\n");
    } else {
        for p in &s.problems {
            out.push_str(&format!("problem: {p}\n"));
        }
    }
    out
}
