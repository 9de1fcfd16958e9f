//! What a task's health check is: a probe and its timing, read from
//! TaskInfo.health_check (Mesos) or from the first of the app JSON's
//! `healthChecks` (Marathon ≤ 1.1). Pure: no I/O, table-tested.

use std::fmt;
use std::time::Duration;

use thiserror::Error;

use crate::exec::spec::marathon::{self, AppHealthCheck};
use crate::exec::spec::{self, ContainerSpec, Network};
use crate::proto::{HealthCheck, TaskInfo, health_check};

/// Mesos' defaults (mesos.proto HealthCheck).
const MESOS_DELAY: f64 = 15.0;
const MESOS_INTERVAL: f64 = 10.0;
const MESOS_TIMEOUT: f64 = 20.0;
const MESOS_FAILURES: u32 = 3;
const MESOS_GRACE: f64 = 10.0;

/// Marathon's defaults for an app's `healthChecks` (HealthCheck.scala).
const MARATHON_GRACE: f64 = 300.0;
const MARATHON_INTERVAL: f64 = 60.0;
const MARATHON_TIMEOUT: f64 = 20.0;
const MARATHON_FAILURES: u32 = 3;

#[derive(Debug, Error, PartialEq)]
#[error("health check ({origin}): {why}")]
pub struct CheckError {
    pub origin: String,
    pub why: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub probe: Probe,
    pub timing: Timing,
    /// The container shares the host's network: probe the host's loopback
    /// instead of entering a namespace.
    pub host_network: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    /// From the task's start to the first probe.
    pub delay: Duration,
    /// From one probe's result to the next probe.
    pub interval: Duration,
    /// `None`: a probe may take forever (Mesos' `timeout_seconds: 0`).
    pub timeout: Option<Duration>,
    /// From the task's start; failures before the first success are ignored
    /// within it.
    pub grace: Duration,
    /// Consecutive failures that kill the task; `None` never kills
    /// (Marathon's `maxConsecutiveFailures: 0`).
    pub kill_after: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    /// Run inside the container (`docker exec`); exit 0 is healthy.
    Command {
        argv: Vec<String>,
        env: Vec<String>,
        /// The command as the user wrote it, for messages.
        shown: String,
    },
    /// GET from inside the container's network namespace.
    Http {
        port: u16,
        path: String,
        ipv6: bool,
        /// Empty: 200–399 are healthy.
        statuses: Vec<u32>,
    },
    /// Connect from inside the container's network namespace.
    Tcp { port: u16, ipv6: bool },
}

impl Probe {
    /// The check's kind as Mesos names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Probe::Command { .. } => "COMMAND",
            Probe::Http { .. } => "HTTP",
            Probe::Tcp { .. } => "TCP",
        }
    }

    /// Whether a response status means healthy.
    pub fn accepts_status(&self, code: u32) -> bool {
        match self {
            Probe::Http { statuses, .. } if !statuses.is_empty() => statuses.contains(&code),
            _ => (200..400).contains(&code),
        }
    }
}

/// What was probed, e.g. `GET :80/health`, `:9000`, `` `test -f /ok` ``.
impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Probe::Command { shown, .. } => write!(f, "`{shown}`"),
            Probe::Http { port, path, .. } => write!(f, "GET :{port}{path}"),
            Probe::Tcp { port, .. } => write!(f, ":{port}"),
        }
    }
}

/// The task's health check, if it has one. TaskInfo.health_check wins: when
/// Marathon ≤ 1.1 sets it (COMMAND checks), the same check is also in the
/// app JSON. Ports of app JSON checks are resolved against `spec`, so the
/// probe aims where the app listens inside its container.
pub fn for_task(task: &TaskInfo, spec: &ContainerSpec) -> Result<Option<Check>, CheckError> {
    let host_network = spec.network == Network::Host;
    if let Some(hc) = &task.health_check {
        return from_mesos(hc, host_network).map(Some);
    }
    let app = match task.data.as_deref().map(marathon::parse) {
        Some(Ok(Some(app))) => app,
        // Data that is not an app was already judged by the spec.
        _ => return Ok(None),
    };
    let Some((first, rest)) = app.health_checks.split_first() else {
        return Ok(None);
    };
    if !rest.is_empty() {
        // Mesos runs one check per task; the others stay Marathon's business.
        tracing::warn!(
            ignored = rest.len(),
            "the app has {} healthChecks; the executor runs the first",
            app.health_checks.len()
        );
    }
    let ports = Ports {
        network: &spec.network,
        host_ports: spec::allocated_ports(&task.resources),
        spec,
    };
    from_marathon(first, &ports, host_network).map(Some)
}

/// TaskInfo.health_check as Mesos validates and runs it.
pub fn from_mesos(hc: &HealthCheck, host_network: bool) -> Result<Check, CheckError> {
    let bad = |why: String| CheckError {
        origin: "TaskInfo.health_check".into(),
        why,
    };
    // Schedulers older than Mesos 1.0 leave `type` out: the set field says.
    let kind = match hc.r#type {
        Some(t) => health_check::Type::try_from(t).unwrap_or(health_check::Type::Unknown),
        None if hc.command.is_some() => health_check::Type::Command,
        None if hc.http.is_some() => health_check::Type::Http,
        None if hc.tcp.is_some() => health_check::Type::Tcp,
        None => health_check::Type::Unknown,
    };
    let probe = match kind {
        health_check::Type::Command => {
            let c = hc
                .command
                .as_ref()
                .ok_or_else(|| bad("type COMMAND needs `command`".into()))?;
            let value = c
                .value
                .clone()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| bad("the command has no value".into()))?;
            let env = c
                .environment
                .iter()
                .flat_map(|e| &e.variables)
                .map(|v| format!("{}={}", v.name, v.value.as_deref().unwrap_or("")))
                .collect();
            command_probe(value, c.shell.unwrap_or(true), &c.arguments, env)
        }
        health_check::Type::Http => {
            let h = hc
                .http
                .as_ref()
                .ok_or_else(|| bad("type HTTP needs `http`".into()))?;
            match h.scheme.as_deref() {
                None | Some("http") => {}
                Some("https") => return Err(bad(https_unsupported())),
                Some(other) => {
                    return Err(bad(format!("scheme `{other}` is neither http nor https")));
                }
            }
            let path = h.path.clone().unwrap_or_else(|| "/".into());
            if !path.starts_with('/') {
                return Err(bad(format!("the path `{path}` must start with `/`")));
            }
            Probe::Http {
                port: port_number(h.port).map_err(bad)?,
                path,
                ipv6: is_ipv6(h.protocol),
                statuses: h.statuses.clone(),
            }
        }
        health_check::Type::Tcp => {
            let t = hc
                .tcp
                .as_ref()
                .ok_or_else(|| bad("type TCP needs `tcp`".into()))?;
            Probe::Tcp {
                port: port_number(t.port).map_err(bad)?,
                ipv6: is_ipv6(t.protocol),
            }
        }
        health_check::Type::Unknown => {
            return Err(bad(
                "no type, and none of command, http or tcp is set".into()
            ));
        }
    };
    let timing = timing(
        &MESOS_FIELDS,
        [
            hc.delay_seconds.unwrap_or(MESOS_DELAY),
            hc.interval_seconds.unwrap_or(MESOS_INTERVAL),
            hc.timeout_seconds.unwrap_or(MESOS_TIMEOUT),
            hc.grace_period_seconds.unwrap_or(MESOS_GRACE),
        ],
        Some(hc.consecutive_failures.unwrap_or(MESOS_FAILURES)),
    )
    .map_err(bad)?;
    Ok(Check {
        probe,
        timing,
        host_network,
    })
}

/// Where a Marathon check's port lands: `portIndex` names a host port of
/// the task; with a port mapping the app listens on its container port.
struct Ports<'a> {
    network: &'a Network,
    host_ports: Vec<u16>,
    spec: &'a ContainerSpec,
}

impl Ports<'_> {
    fn inside(&self, host_port: u16) -> Option<u16> {
        match self.network {
            Network::Host => Some(host_port),
            _ => self
                .spec
                .port_bindings
                .iter()
                .find(|b| b.host_port == host_port)
                .map(|b| b.container_port),
        }
    }

    fn resolve(&self, check: &AppHealthCheck) -> Result<u16, String> {
        if let Some(port) = check.port {
            let port = port_number(port)?;
            // A fixed port is where Marathon looked from outside; inside a
            // bridge it is the mapped container port, if one maps it.
            return Ok(self.inside(port).unwrap_or(port));
        }
        let index = check.port_index.unwrap_or(0);
        let host_port = usize::try_from(index)
            .ok()
            .and_then(|i| self.host_ports.get(i))
            .copied()
            .ok_or_else(|| {
                format!(
                    "portIndex {index} names no port: the task has {} host port(s)",
                    self.host_ports.len()
                )
            })?;
        self.inside(host_port).ok_or_else(|| {
            format!(
                "portIndex {index} is host port {host_port}, which no port mapping binds to a \
                 container port; add a portMapping for it (or use a COMMAND check)"
            )
        })
    }
}

fn from_marathon(
    check: &AppHealthCheck,
    ports: &Ports,
    host_network: bool,
) -> Result<Check, CheckError> {
    let bad = |why: String| CheckError {
        origin: "the app's healthChecks[0]".into(),
        why,
    };
    let protocol = check
        .protocol
        .as_deref()
        .unwrap_or("HTTP")
        .to_ascii_uppercase();
    let probe = match protocol.as_str() {
        "COMMAND" => {
            let value = check
                .command
                .as_ref()
                .map(|c| c.value.clone())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| bad("protocol COMMAND needs command.value".into()))?;
            command_probe(value, true, &[], Vec::new())
        }
        "HTTP" | "MESOS_HTTP" => {
            let path = check.path.clone().unwrap_or_else(|| "/".into());
            if !path.starts_with('/') {
                return Err(bad(format!("the path `{path}` must start with `/`")));
            }
            Probe::Http {
                port: ports.resolve(check).map_err(bad)?,
                path,
                ipv6: false,
                statuses: Vec::new(),
            }
        }
        "TCP" | "MESOS_TCP" => Probe::Tcp {
            port: ports.resolve(check).map_err(bad)?,
            ipv6: false,
        },
        "HTTPS" | "MESOS_HTTPS" => return Err(bad(https_unsupported())),
        other => {
            return Err(bad(format!(
                "protocol `{other}` is not one of HTTP, HTTPS, TCP, COMMAND, MESOS_HTTP, \
                 MESOS_HTTPS, MESOS_TCP"
            )));
        }
    };
    // Marathon ≤ 1.1 had no delay; `maxConsecutiveFailures: 0` never kills.
    let kill_after =
        Some(check.max_consecutive_failures.unwrap_or(MARATHON_FAILURES)).filter(|n| *n > 0);
    let timing = timing(
        &MARATHON_FIELDS,
        [
            check.delay_seconds.unwrap_or(0.0),
            check.interval_seconds.unwrap_or(MARATHON_INTERVAL),
            check.timeout_seconds.unwrap_or(MARATHON_TIMEOUT),
            check.grace_period_seconds.unwrap_or(MARATHON_GRACE),
        ],
        kill_after,
    )
    .map_err(bad)?;
    Ok(Check {
        probe,
        timing,
        host_network,
    })
}

/// Mesos runs a shell command with `sh -c`, else `value` with `arguments`
/// as its argv (whose first element is argv[0]).
fn command_probe(value: String, shell: bool, arguments: &[String], env: Vec<String>) -> Probe {
    let argv = if shell {
        vec!["sh".into(), "-c".into(), value.clone()]
    } else {
        std::iter::once(value.clone())
            .chain(arguments.iter().skip(1).cloned())
            .collect()
    };
    let shown = if shell { value } else { argv.join(" ") };
    Probe::Command { argv, env, shown }
}

fn https_unsupported() -> String {
    "HTTPS checks are not supported: the executor carries no TLS stack; use HTTP, TCP, or a \
     COMMAND check such as `curl -kfsS https://127.0.0.1:PORT/health` (run inside the container)"
        .into()
}

fn is_ipv6(protocol: Option<i32>) -> bool {
    protocol == Some(crate::proto::network_info::Protocol::IPv6 as i32)
}

fn port_number(port: u32) -> Result<u16, String> {
    u16::try_from(port)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("port {port} is not a port number from 1 to 65535"))
}

/// How each source names delay, interval, timeout and grace period.
const MESOS_FIELDS: [&str; 4] = [
    "delay_seconds",
    "interval_seconds",
    "timeout_seconds",
    "grace_period_seconds",
];
const MARATHON_FIELDS: [&str; 4] = [
    "delaySeconds",
    "intervalSeconds",
    "timeoutSeconds",
    "gracePeriodSeconds",
];

fn timing(
    fields: &[&str; 4],
    [delay, interval, limit, grace]: [f64; 4],
    kill_after: Option<u32>,
) -> Result<Timing, String> {
    Ok(Timing {
        delay: seconds(fields[0], delay)?,
        interval: seconds(fields[1], interval)?,
        timeout: timeout(fields[2], limit)?,
        grace: seconds(fields[3], grace)?,
        kill_after,
    })
}

fn seconds(field: &str, value: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| format!("{field} is {value}; it must be a number of seconds ≥ 0"))
}

/// Zero means no limit, as in Mesos.
fn timeout(field: &str, value: f64) -> Result<Option<Duration>, String> {
    let d = seconds(field, value)?;
    Ok((!d.is_zero()).then_some(d))
}

#[cfg(test)]
mod tests;
