//! `mesos-docker status`: the node's role as setup recorded it, whether each
//! file setup manages still holds what setup wrote, and each service's state.

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

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
    pub enabled: String,
    pub active: String,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Health {
    pub name: &'static str,
    pub endpoint: String,
    /// "healthy", or what went wrong.
    pub state: String,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Status {
    pub role: Option<String>,
    pub files: Vec<FileState>,
    /// Health endpoints on this host; only on a live root.
    pub health: Vec<Health>,
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
    let health = if sys.is_live() {
        health(m.role.as_deref(), m.ensemble.is_some())
    } else {
        Vec::new()
    };
    Ok(Some(Status {
        role: m.role,
        files,
        health,
        services,
    }))
}

const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Sends `request` and reads the reply until the peer closes.
fn exchange(addr: SocketAddr, request: &[u8]) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, PROBE_TIMEOUT)?;
    s.set_read_timeout(Some(PROBE_TIMEOUT))?;
    s.set_write_timeout(Some(PROBE_TIMEOUT))?;
    s.write_all(request)?;
    let mut reply = Vec::new();
    s.take(64 * 1024).read_to_end(&mut reply)?;
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

/// An HTTP GET that counts any 2xx answer as healthy.
pub fn probe_http(addr: SocketAddr, path: &str) -> String {
    let req = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    match exchange(addr, req.as_bytes()) {
        Ok(reply) => {
            let status = reply.split_whitespace().nth(1).unwrap_or("");
            if status.starts_with('2') {
                "healthy".into()
            } else {
                format!(
                    "answers HTTP {}",
                    if status.is_empty() { "garbage" } else { status }
                )
            }
        }
        Err(e) => format!("unreachable ({e})"),
    }
}

/// ZooKeeper's `ruok`, which a serving node answers with `imok`.
pub fn probe_zookeeper(addr: SocketAddr) -> String {
    match exchange(addr, b"ruok") {
        Ok(reply) if reply == "imok" => "healthy".into(),
        Ok(reply) if reply.is_empty() => {
            "no answer to ruok (is it in 4lw.commands.whitelist?)".into()
        }
        Ok(reply) => format!("answers {reply:?} to ruok"),
        Err(e) => format!("unreachable ({e})"),
    }
}

/// The endpoints of this role's daemons, asked on the loopback address
/// (they listen on every address unless --ip narrowed them).
fn health(role: Option<&str>, local_zk: bool) -> Vec<Health> {
    let local = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
    let mut h = Vec::new();
    let master = matches!(role, Some("master" | "standalone"));
    let agent = matches!(role, Some("agent" | "standalone"));
    if master && local_zk {
        h.push(Health {
            name: "zookeeper",
            endpoint: "127.0.0.1:2181 ruok".into(),
            state: probe_zookeeper(local(2181)),
        });
    }
    if master {
        h.push(Health {
            name: "mesos-master",
            endpoint: "http://127.0.0.1:5050/health".into(),
            state: probe_http(local(5050), "/health"),
        });
        h.push(Health {
            name: "marathon",
            endpoint: "http://127.0.0.1:8080/ping".into(),
            state: probe_http(local(8080), "/ping"),
        });
    }
    if agent {
        h.push(Health {
            name: "mesos-agent",
            endpoint: "http://127.0.0.1:5051/health".into(),
            state: probe_http(local(5051), "/health"),
        });
    }
    h
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
    for h in &s.health {
        out.push_str(&format!(
            "health {} ({}): {}\n",
            h.name, h.endpoint, h.state
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A one-shot server that reads a request and answers `reply`.
    fn serve(reply: &'static str) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf);
            s.write_all(reply.as_bytes()).unwrap();
        });
        addr
    }

    #[test]
    fn http_probe() {
        let a = serve("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(probe_http(a, "/health"), "healthy");
        let a = serve("HTTP/1.1 503 Service Unavailable\r\n\r\n");
        assert_eq!(probe_http(a, "/health"), "answers HTTP 503");
        let closed = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        assert!(probe_http(closed, "/").starts_with("unreachable"));
    }

    #[test]
    fn zookeeper_probe() {
        assert_eq!(probe_zookeeper(serve("imok")), "healthy");
        assert!(probe_zookeeper(serve("")).contains("whitelist"));
    }
}
