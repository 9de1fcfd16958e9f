//! `mesos-docker status`: the node's role as setup recorded it, whether each
//! file setup manages still holds what setup wrote, and each service's state.

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

use super::manifest::{self, Kind, Manifest, sha256_hex};
use super::options::OutputFormat;
use super::system::{HostRunner, System};

/// `mesos-docker status`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct StatusArgs {
    /// The root setup wrote under.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
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
    pub enabled: String,
    pub active: String,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Status {
    pub role: Option<String>,
    pub files: Vec<FileState>,
    /// Enablement from the root's unit links; activity only on a live root.
    pub services: Vec<ServiceState>,
}

/// Reads the node's state; `None` when setup has not run here.
pub fn gather(sys: &System) -> Result<Option<Status>, manifest::ManifestError> {
    let Some(m) = Manifest::load(sys)? else {
        return Ok(None);
    };
    let files = m
        .entries
        .iter()
        .filter(|e| e.kind != Kind::Dir)
        .map(|e| {
            let p = sys.path(&e.path);
            let state = match e.kind {
                Kind::Link => match fs::read_link(&p) {
                    Ok(t) if Some(t.to_string_lossy().as_ref()) == e.target.as_deref() => "in sync",
                    Ok(_) => "drifted",
                    Err(_) => "missing",
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
    let mut services = Vec::new();
    if sys.exists("/etc/systemd/system") {
        for name in units(m.role.as_deref()) {
            let ask = |verb: &str| {
                if verb == "is-active" && !sys.is_live() {
                    return "offline".to_owned();
                }
                sys.systemctl(&[verb, name])
                    .map(|o| o.stdout.trim().to_owned())
                    .ok()
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "unknown".into())
            };
            services.push(ServiceState {
                name: name.to_owned(),
                enabled: ask("is-enabled"),
                active: ask("is-active"),
            });
        }
    }
    Ok(Some(Status {
        role: m.role,
        files,
        services,
    }))
}

fn units(role: Option<&str>) -> Vec<&'static str> {
    let mut u = Vec::new();
    if matches!(role, Some("master" | "standalone")) {
        u.extend([
            "zookeeper.service",
            "mesos-master.service",
            "marathon.service",
        ]);
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
                sys.path(manifest::PATH).display()
            );
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("mesos-docker status: {e}");
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
    ExitCode::SUCCESS
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
    out
}
