//! `mesos-docker status`: the node's role as setup recorded it, whether each
//! file setup manages still holds what setup wrote, whether each service the
//! role enables is running, what its health endpoint answers, and how the
//! node is protected: per HTTP endpoint, verified by asking it (see
//! [`Security`]). The exit code says whether all is well (see
//! [`EXIT_DEGRADED`]). Nothing here ever prints a secret.

use std::fs;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

use crate::setup::host::probes::{self, Auth, Protection, Wire};
use crate::setup::host::secrets::{self, SecretReadError, Service};
use crate::setup::host::system::{HostRunner, System};
use crate::setup::host::zk::{ADMIN, AnonymousProbe, Attempt, DELETE, WRITE};
use crate::setup::input::model::OutputFormat;
use crate::setup::plan::tls::{CA_CERT, NODE_CERT, TLS_ENV};
use crate::setup::record::{self, Kind, Manifest, sha256_hex};

/// Exit code when the node is not as setup left it: a file drifted or went
/// missing, a service the role enables is not running, one answers its
/// health check wrongly, or (on a secured node) an endpoint is not
/// protected or a secret is exposed. 1 means status could not tell (no
/// record).
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
    pub security: Security,
    /// Why the node is degraded; empty when all is well.
    pub problems: Vec<String>,
}

/// How the node is protected. Endpoint lines are verified on a live root
/// only, for services that run; each is a name, a URL and a verdict, so a
/// ZooKeeper line (anonymous writes refused) fits the same list.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Security {
    /// "secured" or "insecure".
    pub mode: &'static str,
    pub endpoints: Vec<Endpoint>,
    /// On nodes that run an agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executor_authentication: Option<Switch>,
    /// "TLS …", "authenticated, not encrypted" or "not authenticated, not
    /// encrypted".
    pub transport: String,
    /// TLS is on but its CA cannot be used: what to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport_problem: Option<String>,
    /// What is wrong with how the secret files are kept.
    pub secret_files: Vec<String>,
    /// Why they could not be checked (not root).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_files_unverified: Option<String>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Endpoint {
    pub name: String,
    pub url: String,
    /// [`Protection::word`].
    pub verdict: &'static str,
    pub detail: String,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Switch {
    pub enabled: bool,
    pub why: String,
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
    let ip = probes::advertised_ip(sys);
    let health = if sys.is_live() {
        services
            .iter()
            .filter(|s| s.running == Some(true))
            .filter_map(|s| health_of(sys, &s.name, ip))
            .collect()
    } else {
        Vec::new()
    };
    let security = security(sys, m.role.as_deref(), &services, ip);
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
    problems.extend(security_problems(&security));
    Ok(Some(Status {
        role: m.role,
        files,
        health,
        services,
        notes: notes(sys),
        security,
        problems,
    }))
}

/// Whether setup secured this node: its environment files (readable by
/// anyone) name the HTTP credentials, or the secrets directory exists.
pub fn is_secured(sys: &System) -> bool {
    sys.exists(crate::setup::input::token::SECRETS_DIR)
        || ENV_FILES.iter().any(|p| {
            sys.read(p).is_ok_and(|t| {
                t.lines()
                    .any(|l| l.trim().starts_with("MESOS_HTTP_CREDENTIALS="))
            })
        })
}

const ENV_FILES: [&str; 2] = [
    "/etc/mesos-docker/master.env",
    "/etc/mesos-docker/agent.env",
];

fn security(
    sys: &System,
    role: Option<&str>,
    services: &[ServiceState],
    ip: Option<IpAddr>,
) -> Security {
    let secured = is_secured(sys);
    let running = |unit: &str| {
        services.iter().any(|s| {
            s.name.strip_suffix(".service").unwrap_or(&s.name) == unit && s.running == Some(true)
        })
    };
    let mut endpoints: Vec<Endpoint> = if sys.is_live() {
        Service::ALL
            .into_iter()
            .filter(|s| running(s.unit()))
            .map(|s| endpoint(sys, s, ip))
            .collect()
    } else {
        Vec::new()
    };
    // The ZooKeeper client speaks to the network itself, not through the
    // runner: only on the running host.
    if sys.is_live() && sys.is_real_root() && running("zookeeper") {
        endpoints.push(zookeeper_endpoint());
    }
    let (secret_files, secret_files_unverified) = match secrets::exposure(sys) {
        Ok(found) => (found, None),
        Err(SecretReadError::NotRoot { path }) => (
            Vec::new(),
            Some(format!(
                "{path} is readable only by root: run as root to verify its files"
            )),
        ),
        Err(e) => (vec![crate::error_chain(&e)], None),
    };
    let (transport, transport_problem) = transport(sys, secured);
    Security {
        mode: if secured { "secured" } else { "insecure" },
        endpoints,
        executor_authentication: matches!(role, Some("agent" | "standalone"))
            .then(|| executor_authentication(sys, secured)),
        transport,
        transport_problem,
        secret_files,
        secret_files_unverified,
    }
}

/// The local ZooKeeper member, as an anonymous client finds it: what it
/// may do to /mesos, /marathon and the root znode, tried for real.
fn zookeeper_endpoint() -> Endpoint {
    const LOCAL: &str = "127.0.0.1:2181";
    let verdict =
        match crate::setup::host::zk::probe_anonymously(LOCAL, std::time::Duration::from_secs(5)) {
            Ok(probe) => zookeeper_verdict(&probe),
            Err(e) => Protection::Unreachable(crate::error_chain(&e)),
        };
    Endpoint {
        name: "zookeeper".to_owned(),
        url: format!("zk://{LOCAL}"),
        verdict: verdict.word(),
        detail: verdict.detail().to_owned(),
    }
}

/// What the anonymous probe of the local ensemble says, in the words of
/// every endpoint's verdict.
fn zookeeper_verdict(p: &AnonymousProbe) -> Protection {
    let mut allowed = Vec::new();
    if p.create_under_mesos == Attempt::Allowed {
        allowed.push("an anonymous client created a node under /mesos (it could plant a leader)");
    }
    if p.read_marathon == Attempt::Allowed {
        allowed.push("an anonymous client reads /marathon (apps' environments)");
    }
    if p.root_world & (DELETE | WRITE | ADMIN) != 0 {
        allowed.push("the root znode lets anyone delete under it (an empty /mesos could be removed and made again, open)");
    }
    if !allowed.is_empty() {
        return Protection::Open(allowed.join("; "));
    }
    if p.create_under_mesos == Attempt::Missing {
        return Protection::Unexpected(
            "there is no /mesos: run setup on a master to create it with its ACL".into(),
        );
    }
    let marathon = match p.read_marathon {
        Attempt::Missing => "no /marathon",
        _ => "/marathon unreadable",
    };
    Protection::Protected(format!(
        "anonymous create under /mesos refused (NoAuth), {marathon}, the root znode lets everyone only read and create"
    ))
}

fn endpoint(sys: &System, service: Service, ip: Option<IpAddr>) -> Endpoint {
    let addr = probes::address(ip, service.port());
    let path = probes::protected_path(service);
    // Marathon's API is its own HTTP server, never libprocess'.
    let wire = Wire::of(sys, service != Service::Marathon);
    let auth = Auth::for_unit(sys, service.unit());
    let verdict = probes::verify(sys, &wire, &addr, path, &auth);
    Endpoint {
        name: service.unit().to_owned(),
        url: format!("{}://{addr}{path}", wire.scheme()),
        verdict: verdict.word(),
        detail: verdict.detail().to_owned(),
    }
}

/// On a secured node: every endpoint that is not protected (or at least
/// refusing anonymous requests), and every exposed secret. An insecure node
/// is open by choice: said, not failed.
fn security_problems(s: &Security) -> Vec<String> {
    let broken_tls = s
        .transport_problem
        .iter()
        .map(|p| format!("transport: {p}"));
    if s.mode != "secured" {
        return broken_tls.collect();
    }
    let ok = [
        Protection::Protected(String::new()).word(),
        Protection::RefusesAnonymous(String::new()).word(),
    ];
    s.endpoints
        .iter()
        .filter(|e| !ok.contains(&e.verdict))
        .map(|e| format!("{} ({}) is {}: {}", e.name, e.url, e.verdict, e.detail))
        .chain(s.secret_files.iter().cloned())
        .chain(broken_tls)
        .collect()
}

/// The agent's executor authentication: on where setup wrote its flags
/// (the agent-executor-auth.env fragment, or agent.env), else off and why.
fn executor_authentication(sys: &System, secured: bool) -> Switch {
    const FRAGMENT: &str = "/etc/mesos-docker/agent-executor-auth.env";
    let on_in = [FRAGMENT, "/etc/mesos-docker/agent.env"]
        .into_iter()
        .find(|p| {
            sys.read(p).is_ok_and(|t| {
                t.lines().any(|l| {
                    matches!(
                        l.trim(),
                        "MESOS_AUTHENTICATE_HTTP_EXECUTORS=true"
                            | "MESOS_AUTHENTICATE_HTTP_EXECUTORS=\"true\""
                    )
                })
            })
        });
    if let Some(p) = on_in {
        return Switch {
            enabled: true,
            why: format!(
                "MESOS_AUTHENTICATE_HTTP_EXECUTORS=true in {p}: executors present a token the agent signed"
            ),
        };
    }
    let why = if !secured {
        "the node is insecure".to_owned()
    } else if let Some((enabled, reason)) = recorded_feature(sys, "executor-auth") {
        match (enabled, reason) {
            (true, _) => format!(
                "setup enabled it, but {FRAGMENT} no longer sets MESOS_AUTHENTICATE_HTTP_EXECUTORS=true: re-run mesos-docker setup"
            ),
            (false, Some(r)) => r,
            (false, None) => "setup found the installed mesos-agent without it".to_owned(),
        }
    } else if !sys.is_live() {
        format!("no MESOS_AUTHENTICATE_HTTP_EXECUTORS in {FRAGMENT} or agent.env")
    } else {
        // Setup enables it only where the installed agent has both flags.
        match sys.run("mesos-agent", &["--help"]) {
            Ok(o) if has_executor_flags(&o.stdout) => "the installed mesos-agent has --authenticate_http_executors and --executor_secret_key but setup did not enable them: re-run mesos-docker setup".to_owned(),
            Ok(_) => "the installed mesos-agent lacks --authenticate_http_executors and --executor_secret_key (a Mesos built without SSL): executors reach the agent unauthenticated".to_owned(),
            Err(e) => format!("no MESOS_AUTHENTICATE_HTTP_EXECUTORS in {FRAGMENT} or agent.env, and mesos-agent --help could not be run ({e})"),
        }
    };
    Switch {
        enabled: false,
        why,
    }
}

/// A feature setup turns on only where the installed programs have it, as
/// its last run recorded it (`features` in the manifest: on, and why not).
/// Read from the record's JSON so status works with records that predate it.
fn recorded_feature(sys: &System, name: &str) -> Option<(bool, Option<String>)> {
    let doc: serde_json::Value = serde_json::from_str(&sys.read(record::PATH).ok()?).ok()?;
    let f = doc.get("features")?.get(name)?;
    Some((
        f.get("enabled")?.as_bool()?,
        f.get("reason").and_then(|r| r.as_str()).map(str::to_owned),
    ))
}

fn has_executor_flags(help: &str) -> bool {
    ["--authenticate_http_executors", "--executor_secret_key"]
        .iter()
        .all(|f| help.contains(f))
}

/// Whether Mesos traffic is encrypted, by the decision the probes follow
/// ([`Wire`]): the line, and the problem when TLS is on but unusable.
pub fn transport(sys: &System, secured: bool) -> (String, Option<String>) {
    match Wire::of(sys, true) {
        Wire::Tls { .. } => (
            format!(
                "TLS (cluster CA; LIBPROCESS_SSL_ENABLED in {TLS_ENV}): the Mesos master and agent are asked over https, their certificates verified against {CA_CERT}"
            ),
            certificate_problem(sys),
        ),
        Wire::Broken(why) => (format!("TLS, broken: {why}"), Some(why)),
        Wire::Plain if secured => ("authenticated, not encrypted: this Mesos has no TLS, anyone on the network path can read the traffic".to_owned(), None),
        Wire::Plain => ("not authenticated, not encrypted".to_owned(), None),
    }
}

/// Whether this node's certificate still names the address peers reach it
/// by (they check with LIBPROCESS_SSL_VERIFY_IPADD, and refuse it at an
/// address it does not name). An agent keeps the certificate it signed
/// when it joined, so a changed address shows here first.
fn certificate_problem(sys: &System) -> Option<String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    let der = match sys
        .read(NODE_CERT)
        .map(|pem| CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| e.to_string()))
    {
        Ok(Ok(der)) => der,
        Ok(Err(e)) => {
            return Some(format!(
                "{NODE_CERT} is not a PEM certificate ({e}): run setup again"
            ));
        }
        Err(e) => return Some(format!("cannot read {NODE_CERT} ({e}): run setup again")),
    };
    let cert = match webpki::EndEntityCert::try_from(&der) {
        Ok(c) => c,
        Err(e) => {
            return Some(format!(
                "{NODE_CERT} cannot be read as a certificate ({e}): run setup again"
            ));
        }
    };
    // Not every address the host has (Docker's bridge appears after the
    // first run): the one libprocess advertises, MESOS_IP or else what the
    // hostname resolves to.
    let wanted = match probes::advertised_ip(sys) {
        Some(ip) => vec![ip],
        None => {
            let hosts = sys.read("/etc/hosts").unwrap_or_default();
            let hostname = crate::setup::host::facts::hostname(sys);
            crate::setup::host::facts::hosts_lookup(&hosts, &hostname)
                .into_iter()
                .filter(|ip| !ip.is_loopback())
                .collect()
        }
    };
    let unnamed: Vec<String> = wanted
        .into_iter()
        .filter(|ip| {
            cert.verify_is_valid_for_subject_name(&ServerName::IpAddress((*ip).into()))
                .is_err()
        })
        .map(|ip| ip.to_string())
        .collect();
    (!unnamed.is_empty()).then(|| {
        format!(
            "{NODE_CERT} does not name {} (this node's address): peers refuse it there; run setup again (on an agent, with the cluster token, which signs a new one)",
            unnamed.join(", ")
        )
    })
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
                .map(|c| {
                    let scheme = Wire::of(sys, c.libprocess).scheme();
                    format!("{scheme}://{}{}", probes::address(ip, c.port), c.path)
                })
                .collect::<Vec<_>>()
                .join(" ");
            let auth = Auth::for_unit(sys, base);
            let verdict = match probes::ask_all_with(sys, ip, base, &auth)? {
                // Not root: refusing anonymous requests is all it can
                // tell, which is not ill health.
                probes::Verdict::Waiting(d) if auth == Auth::NotRoot => {
                    return Some(Health {
                        name: base.to_owned(),
                        endpoint,
                        healthy: true,
                        state: format!("unverified: {d}"),
                    });
                }
                probes::Verdict::Healthy(d)
                | probes::Verdict::Waiting(d)
                | probes::Verdict::Electing(d) => Ok(d),
                probes::Verdict::Unhealthy(d) => Err(d),
            };
            (endpoint, verdict)
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

fn security_text(s: &Security) -> String {
    let mut out = if s.mode == "secured" {
        "security: secured (authentication on)\n".to_owned()
    } else {
        "security: INSECURE: set up with --insecure (or before mesos-docker secured nodes): every endpoint is open to anyone who can reach it; re-run setup with the cluster token to secure it\n".to_owned()
    };
    for e in &s.endpoints {
        out.push_str(&format!(
            "endpoint {} ({}): {}: {}\n",
            e.name, e.url, e.verdict, e.detail
        ));
    }
    if let Some(x) = &s.executor_authentication {
        out.push_str(&format!(
            "executor authentication: {}: {}\n",
            if x.enabled { "on" } else { "off" },
            x.why
        ));
    }
    out.push_str(&format!("transport: {}\n", s.transport));
    for f in &s.secret_files {
        out.push_str(&format!("secrets: {f}\n"));
    }
    if let Some(why) = &s.secret_files_unverified {
        out.push_str(&format!("secrets: unverified: {why}\n"));
    }
    out
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
    out.push_str(&security_text(&s.security));
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

#[cfg(test)]
mod tests {
    use crate::setup::host::zk::{ALL, Attempt, CREATE, READ};

    #[test]
    fn the_probe_is_judged_as_status_words_endpoints() {
        let probe = |c, m, root| AnonymousProbe {
            create_under_mesos: c,
            read_marathon: m,
            root_world: root,
        };
        use Attempt::*;
        let table = [
            (
                probe(Refused, Refused, READ | CREATE),
                "protected",
                "/marathon unreadable",
            ),
            (
                probe(Refused, Missing, READ | CREATE),
                "protected",
                "no /marathon",
            ),
            (
                probe(Allowed, Refused, READ | CREATE),
                "open",
                "plant a leader",
            ),
            (
                probe(Refused, Allowed, READ | CREATE),
                "open",
                "apps' environments",
            ),
            (
                probe(Refused, Refused, ALL),
                "open",
                "root znode lets anyone delete",
            ),
            (
                probe(Refused, Refused, READ | CREATE | DELETE),
                "open",
                "root znode",
            ),
            (
                probe(Missing, Missing, READ | CREATE),
                "unexpected",
                "no /mesos",
            ),
        ];
        for (p, word, says) in table {
            let v = zookeeper_verdict(&p);
            assert_eq!(v.word(), word, "{p:?}: {v:?}");
            assert!(v.detail().contains(says), "{p:?}: {v:?}");
        }
        assert!(matches!(
            zookeeper_verdict(&probe(Refused, Refused, READ)),
            Protection::Protected(_)
        ));
    }

    use super::*;
    use crate::setup::host::probes::request_as;
    use crate::setup::host::secrets::{AGENT_HTTP, BasicAuth, MARATHON_ENV, MASTER_HTTP};
    use crate::setup::host::system::Output;
    use crate::setup::host::testkit::RecordingRunner;
    use crate::setup::input::token::{SECRETS_DIR, Secret};
    use std::os::unix::fs::PermissionsExt;

    const MASTER_S: &str = "5ec12e7a11ce0000000000000000000000000000000000000000000000000001";
    const AGENT_S: &str = "5ec12e7a11ce0000000000000000000000000000000000000000000000000002";
    const MARATHON_S: &str = "5ec12e7a11ce0000000000000000000000000000000000000000000000000003";

    fn write(root: &std::path::Path, path: &str, text: &str, mode: u32) {
        let p = root.join(path.trim_start_matches('/'));
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    }

    /// A standalone node's files as setup writes them, secured or not.
    fn node(secured: bool) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        let creds = if secured {
            "MESOS_HTTP_CREDENTIALS=/etc/mesos-docker/secrets/master-http-credentials.json\n"
        } else {
            ""
        };
        write(
            r,
            "/etc/mesos-docker/master.env",
            &format!("MESOS_IP=10.0.0.2\n{creds}"),
            0o644,
        );
        write(
            r,
            "/etc/mesos-docker/agent.env",
            "MESOS_IP=10.0.0.2\n",
            0o644,
        );
        if secured {
            let json = |s: &str| {
                format!(r#"{{"credentials":[{{"principal":"operator","secret":"{s}"}}]}}"#)
            };
            write(r, MASTER_HTTP, &json(MASTER_S), 0o600);
            write(r, AGENT_HTTP, &json(AGENT_S), 0o600);
            write(
                r,
                MARATHON_ENV,
                &format!("MESOSPHERE_HTTP_CREDENTIALS=operator:{MARATHON_S}\n"),
                0o600,
            );
            fs::set_permissions(r.join(&SECRETS_DIR[1..]), fs::Permissions::from_mode(0o700))
                .unwrap();
        }
        d
    }

    /// Answers a GET at 10.0.0.2:`port` by the credentials sent: `None`
    /// anonymous, `Some(secret)` as operator.
    fn answer(r: &RecordingRunner, port: u16, path: &str, secret: Option<&str>, status: &str) {
        let addr = format!("10.0.0.2:{port}");
        let auth = secret.map(|s| BasicAuth {
            principal: "operator".into(),
            secret: Secret::from_stored(s.into()),
        });
        r.answer(
            &format!("tcp {addr} {}", request_as(&addr, path, auth.as_ref())),
            Output::ok(&format!(
                "HTTP/1.1 {status}\r\nContent-Length: 2\r\n\r\n{{}}"
            )),
        );
    }

    fn running() -> Vec<ServiceState> {
        [
            "mesos-master.service",
            "marathon.service",
            "mesos-agent.service",
        ]
        .iter()
        .map(|n| ServiceState {
            name: (*n).into(),
            enabled: "enabled".into(),
            active: "active".into(),
            running: Some(true),
        })
        .collect()
    }

    const WRONG: &str = "mesos-docker-status-wrong-secret";

    #[test]
    fn a_secured_node_verifies_each_endpoint_and_fails_on_open_ones() {
        let d = node(true);
        let r = RecordingRunner::new();
        // The master as it must be; the agent open; Marathon letting any
        // password in.
        answer(&r, 5050, "/state", None, "401 Unauthorized");
        answer(&r, 5050, "/state", Some(WRONG), "401 Unauthorized");
        answer(&r, 5050, "/state", Some(MASTER_S), "200 OK");
        answer(&r, 5051, "/state", None, "200 OK");
        answer(&r, 8080, "/v2/info", None, "401 Unauthorized");
        answer(&r, 8080, "/v2/info", Some(WRONG), "200 OK");
        r.answer("mesos-agent --help", Output::ok("  --credential=VALUE\n"));
        let sys = System::live_for_tests(d.path(), Box::new(r));
        let s = security(
            &sys,
            Some("standalone"),
            &running(),
            probes::advertised_ip(&sys),
        );
        let verdicts: Vec<(&str, &str)> = s
            .endpoints
            .iter()
            .map(|e| (e.name.as_str(), e.verdict))
            .collect();
        assert_eq!(
            verdicts,
            [
                ("mesos-master", "protected"),
                ("mesos-agent", "open"),
                ("marathon", "broken")
            ]
        );
        assert_eq!(s.mode, "secured");
        assert_eq!(
            security_problems(&s),
            [
                "mesos-agent (http://10.0.0.2:5051/state) is open: anonymous GET /state answered 200",
                "marathon (http://10.0.0.2:8080/v2/info) is broken: GET /v2/info with a wrong secret for operator answered HTTP 200: any password is let in",
            ]
        );
        let x = s.executor_authentication.as_ref().unwrap();
        assert!(
            !x.enabled && x.why.contains("lacks --authenticate_http_executors"),
            "{x:?}"
        );
        assert!(
            s.transport.starts_with("authenticated, not encrypted"),
            "{}",
            s.transport
        );
        assert!(s.secret_files.is_empty(), "{:?}", s.secret_files);
        // No secret in the text or the JSON.
        let json = serde_json::to_string(&s).unwrap();
        let text = security_text(&s);
        for secret in [MASTER_S, AGENT_S, MARATHON_S] {
            assert!(
                !json.contains(secret) && !text.contains(secret),
                "{text}\n{json}"
            );
        }
        assert!(text.contains("endpoint mesos-master (http://10.0.0.2:5050/state): protected: anonymous GET /state refused (401), operator's credentials accepted (200), a wrong secret refused\n"), "{text}");
    }

    #[test]
    fn an_insecure_node_says_so_plainly_without_failing() {
        let d = node(false);
        let r = RecordingRunner::new();
        answer(&r, 5050, "/state", None, "200 OK");
        answer(&r, 5051, "/state", None, "200 OK");
        answer(&r, 8080, "/v2/info", None, "200 OK");
        let sys = System::live_for_tests(d.path(), Box::new(r));
        let s = security(
            &sys,
            Some("standalone"),
            &running(),
            probes::advertised_ip(&sys),
        );
        assert_eq!(s.mode, "insecure");
        assert!(
            s.endpoints.iter().all(|e| e.verdict == "open"),
            "{:?}",
            s.endpoints
        );
        assert!(security_problems(&s).is_empty());
        assert_eq!(s.transport, "not authenticated, not encrypted");
        assert_eq!(
            s.executor_authentication.as_ref().unwrap().why,
            "the node is insecure"
        );
        assert!(security_text(&s).starts_with("security: INSECURE: "));
    }

    /// The attack: a secret file left readable by others is a problem, even
    /// with every endpoint protected.
    #[test]
    fn an_exposed_secret_file_is_a_problem() {
        let d = node(true);
        fs::set_permissions(
            d.path().join(&AGENT_HTTP[1..]),
            fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        // Offline: nothing asked over the network, the files still judged.
        let sys = System::new(d.path(), Box::new(RecordingRunner::new()));
        let s = security(&sys, Some("agent"), &[], None);
        assert!(s.endpoints.is_empty());
        assert_eq!(
            security_problems(&s),
            [format!(
                "{AGENT_HTTP} is open to group or others (mode 0644): chmod 600 {AGENT_HTTP}"
            )]
        );
    }

    #[test]
    fn executor_authentication_and_tls_read_from_the_fragments() {
        let d = node(true);
        // Off, for the reason setup recorded.
        write(
            d.path(),
            record::PATH,
            r#"{"version":1,"features":{"executor-auth":{"enabled":false,"reason":"mesos-agent --help lacks authenticate_http_executors"}}}"#,
            0o600,
        );
        let sys = System::new(d.path(), Box::new(RecordingRunner::new()));
        let x = security(&sys, Some("agent"), &[], None).executor_authentication;
        assert_eq!(
            x,
            Some(Switch {
                enabled: false,
                why: "mesos-agent --help lacks authenticate_http_executors".into()
            })
        );
        write(
            d.path(),
            "/etc/mesos-docker/agent-executor-auth.env",
            "MESOS_AUTHENTICATE_HTTP_EXECUTORS=true\nMESOS_EXECUTOR_SECRET_KEY=/etc/mesos-docker/secrets/executor-secret-key\n",
            0o644,
        );
        write(
            d.path(),
            "/etc/mesos-docker/tls.env",
            "LIBPROCESS_SSL_ENABLED=\"true\"\n",
            0o644,
        );
        let sys = System::new(d.path(), Box::new(RecordingRunner::new()));
        let s = security(&sys, Some("agent"), &[], None);
        assert!(s.executor_authentication.as_ref().unwrap().enabled);
        // TLS on without its CA: said, and a problem, even offline.
        assert!(s.transport.starts_with("TLS, broken: "), "{}", s.transport);
        assert_eq!(
            security_problems(&s),
            [
                "transport: TLS is on (/etc/mesos-docker/tls.env) but the cluster CA /etc/mesos-docker/tls/ca.pem is missing: run mesos-docker setup again to write it"
            ]
        );
        write(d.path(), CA_CERT, &ca("ab"), 0o644);
        write(d.path(), NODE_CERT, &node_cert("ab", "10.0.0.2"), 0o644);
        let s = security(&sys, Some("master"), &[], None);
        assert_eq!(s.executor_authentication, None);
        assert_eq!(
            s.transport,
            "TLS (cluster CA; LIBPROCESS_SSL_ENABLED in /etc/mesos-docker/tls.env): the Mesos master and agent are asked over https, their certificates verified against /etc/mesos-docker/tls/ca.pem"
        );
        assert!(security_problems(&s).is_empty());
    }

    /// Without MESOS_IP, peers use the address the hostname resolves to:
    /// the certificate must name it, or status says what to do.
    #[test]
    fn the_certificate_must_name_the_address_the_hostname_resolves_to() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), TLS_ENV, "LIBPROCESS_SSL_ENABLED=true\n", 0o644);
        write(d.path(), CA_CERT, &ca("ab"), 0o644);
        write(d.path(), NODE_CERT, &node_cert("ab", "10.0.0.2"), 0o644);
        write(d.path(), "/etc/hostname", "n1\n", 0o644);
        write(d.path(), "/etc/hosts", "127.0.1.1 n1\n10.0.0.2 n1\n", 0o644);
        let sys = System::new(d.path(), Box::new(RecordingRunner::new()));
        assert_eq!(transport(&sys, true).1, None);
        write(d.path(), "/etc/hosts", "127.0.1.1 n1\n10.0.0.7 n1\n", 0o644);
        let problem = transport(&sys, true).1.unwrap();
        assert!(problem.contains("does not name 10.0.0.7 "), "{problem}");
        write(d.path(), NODE_CERT, "not a certificate", 0o644);
        let problem = transport(&sys, true).1.unwrap();
        assert!(problem.contains("is not a PEM certificate"), "{problem}");
    }

    /// A node certificate of token `b` naming `ip` and 127.0.0.1.
    fn node_cert(b: &str, ip: &str) -> String {
        let t =
            crate::setup::input::token::ClusterToken::parse(&format!("mdt1_{}", b.repeat(32)), "t")
                .unwrap();
        let node = crate::setup::plan::tls::NodeName {
            hostname: "n1".into(),
            ips: vec![ip.parse().unwrap(), "127.0.0.1".parse().unwrap()],
        };
        crate::setup::plan::tls::issue(&t, &node).unwrap().cert_pem
    }

    fn ca(b: &str) -> String {
        let t =
            crate::setup::input::token::ClusterToken::parse(&format!("mdt1_{}", b.repeat(32)), "t")
                .unwrap();
        crate::setup::plan::tls::cluster_ca_pem(&t).unwrap()
    }

    /// With TLS on, the master and agent are verified over https against
    /// the CA file, named by the IP asked; Marathon over http. The text
    /// and JSON say so, and the transport line agrees.
    #[test]
    fn a_tls_node_verifies_mesos_over_https() {
        use crate::setup::host::system::TlsPeer;
        use crate::setup::host::testkit::tls_line;
        let d = node(true);
        let ca_pem = ca("ab");
        write(d.path(), CA_CERT, &ca_pem, 0o644);
        write(d.path(), NODE_CERT, &node_cert("ab", "10.0.0.2"), 0o644);
        write(d.path(), TLS_ENV, "LIBPROCESS_SSL_ENABLED=true\n", 0o644);
        let r = RecordingRunner::new();
        let peer = TlsPeer {
            ca_pem: &ca_pem,
            server_name: "10.0.0.2",
        };
        for (port, secret) in [(5050, MASTER_S), (5051, AGENT_S)] {
            let addr = format!("10.0.0.2:{port}");
            for (s, status) in [
                (None, "401 X"),
                (Some(WRONG), "401 X"),
                (Some(secret), "200 OK"),
            ] {
                let auth = s.map(|s| BasicAuth {
                    principal: "operator".into(),
                    secret: Secret::from_stored(s.into()),
                });
                r.answer(
                    &tls_line(&addr, &request_as(&addr, "/state", auth.as_ref()), &peer),
                    Output::ok(&format!(
                        "HTTP/1.1 {status}\r\nContent-Length: 2\r\n\r\n{{}}"
                    )),
                );
            }
        }
        answer(&r, 8080, "/v2/info", None, "401 Unauthorized");
        answer(&r, 8080, "/v2/info", Some(WRONG), "401 Unauthorized");
        answer(&r, 8080, "/v2/info", Some(MARATHON_S), "200 OK");
        let sys = System::live_for_tests(d.path(), Box::new(r));
        let s = security(
            &sys,
            Some("standalone"),
            &running(),
            probes::advertised_ip(&sys),
        );
        let urls: Vec<(&str, &str)> = s
            .endpoints
            .iter()
            .map(|e| (e.url.as_str(), e.verdict))
            .collect();
        assert_eq!(
            urls,
            [
                ("https://10.0.0.2:5050/state", "protected"),
                ("https://10.0.0.2:5051/state", "protected"),
                ("http://10.0.0.2:8080/v2/info", "protected"),
            ]
        );
        assert!(
            security_problems(&s).is_empty(),
            "{:?}",
            security_problems(&s)
        );
        assert!(
            s.transport.starts_with("TLS (cluster CA"),
            "{}",
            s.transport
        );
        let text = security_text(&s);
        assert!(
            text.contains("endpoint mesos-agent (https://10.0.0.2:5051/state): protected: "),
            "{text}"
        );
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["endpoints"][0]["url"], "https://10.0.0.2:5050/state");
        // The node's address changed since its certificate was signed (an
        // agent keeps the one of its join): peers would refuse it there.
        write(d.path(), NODE_CERT, &node_cert("ab", "10.0.0.9"), 0o644);
        let (_, problem) = transport(&sys, true);
        assert_eq!(
            problem.as_deref(),
            Some(
                "/etc/mesos-docker/tls/node.pem does not name 10.0.0.2 (this node's address): peers refuse it there; run setup again (on an agent, with the cluster token, which signs a new one)"
            )
        );
        assert!(json.get("transport_problem").is_none(), "{json}");

        // The CA gone: every Mesos endpoint broken, nothing sent in clear.
        fs::remove_file(d.path().join(&CA_CERT[1..])).unwrap();
        let s = security(
            &sys,
            Some("standalone"),
            &running(),
            probes::advertised_ip(&sys),
        );
        assert_eq!(
            s.endpoints.iter().map(|e| e.verdict).collect::<Vec<_>>(),
            ["broken", "broken", "protected"]
        );
        assert!(
            s.endpoints[0]
                .detail
                .contains("is missing: run mesos-docker setup again"),
            "{:?}",
            s.endpoints[0]
        );
        assert_eq!(
            security_problems(&s).len(),
            3,
            "{:?}",
            security_problems(&s)
        );
    }
}
