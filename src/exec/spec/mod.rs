//! The task → container translation: a pure function from what the agent and
//! Marathon hand the executor (its argv, ExecutorInfo, TaskInfo) to the
//! container to run. No I/O here, so every rule is table-tested.
//!
//! Where the options come from, strongest first: TaskInfo.container.docker
//! (a Mesos ContainerInfo), the app JSON in TaskInfo.data (Marathon ≤ 1.1),
//! then the argv alone (the 2013 tutorial: `cmd: "johncosta/redis"`); task
//! labels (Marathon ≥ 1.3, see labels.rs) refine any of them.

mod labels;
pub mod marathon;
pub mod model;
mod params;
pub mod paths;

use std::collections::BTreeMap;
use std::path::Path;

use crate::proto::{self, ExecutorInfo, TaskInfo};
pub use model::*;
pub use params::{BadCapability, Device, Options, Ulimit, normalize_capability};

/// Variables that must never reach a container even if a framework put them
/// in the command's environment.
const NEVER_PASSED: &[&str] = &["MESOS_EXECUTOR_AUTHENTICATION_TOKEN"];

/// Everything needed to create the task's container.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    /// Empty: the image's own CMD.
    pub command: Vec<String>,
    pub env: Vec<(String, String)>,
    pub labels: BTreeMap<String, String>,
    pub network: Network,
    pub port_bindings: Vec<PortBinding>,
    /// Allocated host ports no mapping named: bound to the image's exposed
    /// ports once the image is known (see `bind_exposed_ports`).
    pub spare_host_ports: Vec<u16>,
    pub privileged: bool,
    pub force_pull: bool,
    pub cpu_shares: Option<i64>,
    /// A hard CPU cap (CFS quota), in billionths of a CPU.
    pub nano_cpus: Option<i64>,
    pub memory_bytes: Option<i64>,
    /// A soft memory floor, when the memory limit is above the request.
    pub memory_reservation: Option<i64>,
    pub binds: Vec<Bind>,
    pub volumes: Vec<NamedVolume>,
    pub options: Options,
}

pub struct Input<'a> {
    /// The executor's arguments after its own name: image, then command.
    pub argv: &'a [String],
    pub executor: &'a ExecutorInfo,
    pub task: &'a TaskInfo,
    pub framework_id: &'a str,
    /// The sandbox on the host (MESOS_DIRECTORY).
    pub sandbox: &'a Path,
    /// The agent's hostname, for HOST when Marathon sent no environment.
    pub agent_hostname: Option<&'a str>,
    /// Cap CPU with a CFS quota equal to the `cpus` request unless the task
    /// says otherwise (MESOS_DOCKER_CFS_QUOTA; the `docker.cfs-quota` label).
    pub cfs_quota: bool,
}

/// Docker's own floor for CPU shares.
const MIN_CPU_SHARES: i64 = 2;

pub fn container_spec(input: &Input) -> Result<ContainerSpec, SpecError> {
    let task = input.task;
    let app = match &task.data {
        Some(data) => marathon::parse(data).map_err(SpecError::BadAppJson)?,
        None => None,
    };
    let app_docker = app
        .as_ref()
        .and_then(|a| a.container.as_ref())
        .and_then(|c| c.docker.as_ref())
        .filter(|d| !d.image.is_empty());
    let task_docker = task.container.as_ref().and_then(|c| c.docker.as_ref());
    let legacy_image = app
        .as_ref()
        .and_then(|a| a.container.as_ref())
        .and_then(|c| c.image.as_deref())
        .map(|i| {
            i.trim_start_matches("docker:///")
                .trim_start_matches("docker://")
        });
    if let Some(c) = app.as_ref().and_then(|a| a.container.as_ref())
        && !c.options.is_empty()
    {
        return Err(SpecError::LegacyOptions(c.options.clone()));
    }

    // The image: named by the container definition, else the first argument.
    let (image, command) = match (task_docker, app_docker, legacy_image) {
        (Some(d), _, _) => (d.image.clone(), input.argv.to_vec()),
        (None, Some(d), _) => (d.image.clone(), input.argv.to_vec()),
        (None, None, Some(i)) if !i.is_empty() => (i.to_string(), input.argv.to_vec()),
        _ => match input.argv.split_first() {
            Some((image, rest)) if !image.is_empty() => (image.clone(), rest.to_vec()),
            _ => return Err(SpecError::NoImage),
        },
    };

    let mut label_pairs: BTreeMap<&str, &str> = BTreeMap::new();
    if let Some(a) = &app {
        label_pairs.extend(a.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    }
    if let Some(ls) = &task.labels {
        label_pairs.extend(
            ls.labels
                .iter()
                .map(|l| (l.key.as_str(), l.value.as_deref().unwrap_or(""))),
        );
    }
    let from_labels = labels::parse(label_pairs)?;

    let network = network(&from_labels, task, task_docker, app_docker)?;

    let host_ports = allocated_ports(&task.resources);
    let (port_bindings, spare_host_ports) =
        port_bindings(&network, &from_labels, task_docker, app_docker, &host_ports)?;

    let mut options = parameters(task_docker, app_docker, &from_labels)?;

    let (binds, volumes) = mounts(input, app.as_ref(), &from_labels, &mut options)?;

    let privileged = from_labels.privileged.unwrap_or(
        task_docker.map(|d| d.privileged()).unwrap_or(false)
            || app_docker.is_some_and(|d| d.privileged),
    );
    let force_pull = from_labels.force_pull.unwrap_or(
        task_docker.map(|d| d.force_pull_image()).unwrap_or(false)
            || app_docker.is_some_and(|d| d.force_pull_image),
    );

    let cpus = scalar(&task.resources, "cpus");
    let (nano_cpus, memory_bytes, memory_reservation) = limits(input, &from_labels, cpus);

    let mut env = container_env(input, app.as_ref(), &host_ports)?;
    env.append(&mut options.env);

    let container_labels = container_labels(input, &mut options);

    Ok(ContainerSpec {
        name: container_name(&task.task_id.value),
        image,
        command,
        env,
        labels: container_labels,
        network,
        port_bindings,
        spare_host_ports,
        privileged,
        force_pull,
        cpu_shares: cpus.map(|c| ((c * 1024.0).round() as i64).max(MIN_CPU_SHARES)),
        nano_cpus,
        memory_bytes,
        memory_reservation,
        binds,
        volumes,
        options,
    })
}

type TaskDocker = proto::container_info::DockerInfo;

/// The network: a label's, else the task's or the app's definition, else a
/// bridge (the 2013 executor published the image's ports).
fn network(
    from_labels: &labels::LabelOptions,
    task: &TaskInfo,
    task_docker: Option<&TaskDocker>,
    app_docker: Option<&marathon::AppDocker>,
) -> Result<Network, SpecError> {
    Ok(match (&from_labels.network, task_docker, app_docker) {
        (Some(n), _, _) => n.clone(),
        (None, Some(d), _) => match d.network() {
            proto::container_info::docker_info::Network::Host => Network::Host,
            proto::container_info::docker_info::Network::Bridge => Network::Bridge,
            proto::container_info::docker_info::Network::None => Network::None,
            proto::container_info::docker_info::Network::User => {
                let name = task
                    .container
                    .as_ref()
                    .and_then(|c| c.network_infos.first())
                    .and_then(|n| n.name.clone())
                    .ok_or_else(|| {
                        SpecError::BadNetwork("USER without network_infos[0].name".into())
                    })?;
                // Read like any other network name: `host` is host networking
                // and `container:<id>` (another container's namespace) is refused.
                Network::parse(&name).map_err(|_| SpecError::BadNetwork(name.clone()))?
            }
        },
        // Marathon's default when container.docker.network is left out.
        (None, None, Some(d)) => match d.network.as_deref() {
            None => Network::Host,
            Some(n) => Network::parse(n).map_err(|_| SpecError::BadNetwork(n.to_string()))?,
        },
        // The 2013 executor published the image's ports: that needs a bridge.
        (None, None, None) => Network::Bridge,
    })
}

/// Host ports bound to container ports, and the spare host ports left.
fn port_bindings(
    network: &Network,
    from_labels: &labels::LabelOptions,
    task_docker: Option<&TaskDocker>,
    app_docker: Option<&marathon::AppDocker>,
    host_ports: &[u16],
) -> Result<(Vec<PortBinding>, Vec<u16>), SpecError> {
    Ok(if !network.publishes_ports() {
        (Vec::new(), Vec::new())
    } else if let Some(ports) = &from_labels.ports {
        bind_in_order(ports, host_ports)?
    } else if let Some(d) = task_docker.filter(|d| !d.port_mappings.is_empty()) {
        (explicit_bindings(&d.port_mappings, host_ports)?, Vec::new())
    } else if let Some(maps) = app_docker.and_then(|d| d.port_mappings.as_ref()) {
        let mut ports = Vec::new();
        for m in maps {
            let port = container_port("containerPort", m.container_port)?;
            // One host port per mapping, even for "udp,tcp": Marathon
            // allocates one and Docker binds it for both protocols.
            let protocols = Protocol::parse_list(m.protocol.as_deref().unwrap_or("tcp"))
                .map_err(SpecError::BadPort)?;
            ports.push((port, protocols));
        }
        bind_mappings(&ports, host_ports)?
    } else {
        (Vec::new(), host_ports.to_vec())
    })
}

/// Docker parameters: the task's, then the app's, then the labels'.
fn parameters(
    task_docker: Option<&TaskDocker>,
    app_docker: Option<&marathon::AppDocker>,
    from_labels: &labels::LabelOptions,
) -> Result<Options, SpecError> {
    let mut options = Options::default();
    let task_params = task_docker
        .map(|d| {
            d.parameters
                .iter()
                .map(|p| (p.key.clone(), p.value.clone()))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let app_params = app_docker
        .map(|d| {
            d.parameters
                .iter()
                .map(|p| (p.key.clone(), p.value.clone()))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    for (k, v) in task_params
        .iter()
        .chain(&app_params)
        .chain(&from_labels.parameters)
    {
        options.apply(k, v)?;
    }
    Ok(options)
}

/// Every mount: the sandbox, the app's and the task's volumes, the labels'
/// and the parameters' (the hostname of the task's container comes along).
fn mounts(
    input: &Input,
    app: Option<&marathon::App>,
    from_labels: &labels::LabelOptions,
    options: &mut Options,
) -> Result<(Vec<Bind>, Vec<NamedVolume>), SpecError> {
    let task = input.task;
    let mut binds = vec![Bind {
        host: input.sandbox.display().to_string(),
        container: SANDBOX_IN_CONTAINER.to_string(),
        read_only: false,
    }];
    let mut volumes = Vec::new();
    if let Some(c) = app.and_then(|a| a.container.as_ref()) {
        for v in &c.volumes {
            match app_volume(v, input.sandbox)? {
                Mount::Bind(b) => binds.push(b),
                Mount::Volume(n) => volumes.push(n),
            }
        }
    }
    if let Some(c) = &task.container {
        for v in &c.volumes {
            match mesos_volume(v, input.sandbox)? {
                Mount::Bind(b) => binds.push(b),
                Mount::Volume(n) => volumes.push(n),
            }
        }
        if options.hostname.is_none() {
            options.hostname = c.hostname.clone();
        }
    }
    for v in &from_labels.volumes {
        let mut b =
            params::parse_bind(v).map_err(|why| SpecError::BadVolume(format!("{v:?}: {why}")))?;
        b.host = resolve_host_path(&b.host, input.sandbox)?;
        binds.push(b);
    }
    binds.append(&mut options.binds);
    volumes.append(&mut options.volumes);
    Ok((binds, volumes))
}

/// CPU and memory caps: TaskInfo.limits (Mesos 1.9+) where given (an
/// infinite limit means no cap), else the resources as the cap.
fn limits(
    input: &Input,
    from_labels: &labels::LabelOptions,
    cpus: Option<f64>,
) -> (Option<i64>, Option<i64>, Option<i64>) {
    let task = input.task;
    let mem = scalar(&task.resources, "mem");
    // TaskInfo.limits (Mesos 1.9+): resources are the request, limits the
    // cap; an infinite limit means no cap at all.
    let cpu_limit = task.limits.get("cpus").map(|s| s.value);
    let mem_limit = task.limits.get("mem").map(|s| s.value);
    let cfs = from_labels.cfs_quota.unwrap_or(input.cfs_quota);
    let nano_cpus = match cpu_limit {
        Some(l) if l.is_finite() => Some(l),
        Some(_) => None,
        None if cfs => cpus,
        None => None,
    }
    .map(|c| (c * 1e9).round() as i64);
    let mib = |m: f64| (m * 1024.0 * 1024.0).round() as i64;
    let (memory_bytes, memory_reservation) = match (mem_limit, mem) {
        (Some(l), request) if l.is_finite() => (Some(mib(l)), request.filter(|r| *r < l).map(mib)),
        (Some(_), request) => (None, request.map(mib)),
        // Mesos counts mem in MiB (the 2013 executor multiplied by 2^30).
        (None, request) => (request.map(mib), None),
    };
    (nano_cpus, memory_bytes, memory_reservation)
}

/// The labels every container carries, then the parameters' own.
fn container_labels(input: &Input, options: &mut Options) -> BTreeMap<String, String> {
    let task = input.task;
    let mut labels = BTreeMap::from([
        (LABEL_TASK.to_string(), task.task_id.value.clone()),
        (
            LABEL_EXECUTOR.to_string(),
            input.executor.executor_id.value.clone(),
        ),
        (LABEL_FRAMEWORK.to_string(), input.framework_id.to_string()),
        (LABEL_AGENT.to_string(), task.agent_id.value.clone()),
        (
            LABEL_SANDBOX.to_string(),
            input.sandbox.display().to_string(),
        ),
    ]);
    for (k, v) in options.labels.drain(..) {
        labels.entry(k).or_insert(v);
    }
    labels
}

/// Binds the spare host ports to the image's exposed ports, lowest first, as
/// the 2013 executor did. Extra host ports stay unbound (their PORTn variables
/// still tell the app about them); extra exposed ports stay unpublished.
pub fn bind_exposed_ports(spec: &mut ContainerSpec, exposed: &[(u16, Protocol)]) {
    let mut exposed = exposed.to_vec();
    exposed.sort_unstable();
    exposed.dedup();
    let spare = std::mem::take(&mut spec.spare_host_ports);
    for (host_port, (container_port, protocol)) in spare.iter().zip(exposed) {
        spec.port_bindings.push(PortBinding {
            host_port: *host_port,
            container_port,
            protocol,
        });
    }
}

/// Docker container names allow `[a-zA-Z0-9][a-zA-Z0-9_.-]*`. The `mdx.`
/// prefix keeps the name off `mesos-`, which Mesos' docker containerizer
/// kills as its own orphans.
pub fn container_name(task_id: &str) -> String {
    let cleaned: String = task_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("mdx.{cleaned}")
}

/// The sum of a scalar resource (`cpus`, `mem`) over the task's resources.
pub fn scalar(resources: &[proto::Resource], name: &str) -> Option<f64> {
    let values: Vec<f64> = resources
        .iter()
        .filter(|r| r.name == name)
        .filter_map(|r| r.scalar.as_ref().map(|s| s.value))
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// The host ports of the `ports` resource, in the order Marathon allocated them.
pub fn allocated_ports(resources: &[proto::Resource]) -> Vec<u16> {
    resources
        .iter()
        .filter(|r| r.name == "ports")
        .filter_map(|r| r.ranges.as_ref())
        .flat_map(|rs| rs.range.iter())
        .flat_map(|r| r.begin..=r.end)
        .filter_map(|p| u16::try_from(p).ok())
        .collect()
}

fn bind_in_order(
    ports: &[(u16, Protocol)],
    host_ports: &[u16],
) -> Result<(Vec<PortBinding>, Vec<u16>), SpecError> {
    let grouped: Vec<(u16, Vec<Protocol>)> =
        ports.iter().map(|(p, proto)| (*p, vec![*proto])).collect();
    bind_mappings(&grouped, host_ports)
}

fn bind_mappings(
    ports: &[(u16, Vec<Protocol>)],
    host_ports: &[u16],
) -> Result<(Vec<PortBinding>, Vec<u16>), SpecError> {
    if ports.len() > host_ports.len() {
        return Err(SpecError::NotEnoughPorts {
            needed: ports.len(),
            have: host_ports.len(),
        });
    }
    let mut bindings = Vec::new();
    for ((container_port, protocols), host_port) in ports.iter().zip(host_ports) {
        for protocol in protocols {
            bindings.push(PortBinding {
                host_port: *host_port,
                container_port: *container_port,
                protocol: *protocol,
            });
        }
    }
    Ok((bindings, host_ports[ports.len()..].to_vec()))
}

fn explicit_bindings(
    maps: &[proto::container_info::docker_info::PortMapping],
    host_ports: &[u16],
) -> Result<Vec<PortBinding>, SpecError> {
    let mut out = Vec::new();
    for m in maps {
        let host = u16::try_from(m.host_port)
            .ok()
            .filter(|p| host_ports.contains(p))
            .ok_or_else(|| SpecError::PortNotAllocated {
                port: m.host_port,
                allocated: describe_ports(host_ports),
            })?;
        let container = container_port("container_port", m.container_port)?;
        for protocol in Protocol::parse_list(m.protocol.as_deref().unwrap_or("tcp"))
            .map_err(SpecError::BadPort)?
        {
            out.push(PortBinding {
                host_port: host,
                container_port: container,
                protocol,
            });
        }
    }
    Ok(out)
}

/// A container port as a mapping names it (`field`, for the message).
fn container_port(field: &str, port: u32) -> Result<u16, SpecError> {
    u16::try_from(port).ok().filter(|p| *p > 0).ok_or_else(|| {
        SpecError::BadPort(format!(
            "{field} {port} is not a port number from 1 to 65535"
        ))
    })
}

fn describe_ports(ports: &[u16]) -> String {
    if ports.is_empty() {
        "none allocated".into()
    } else {
        ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

enum Mount {
    Bind(Bind),
    Volume(NamedVolume),
}

fn app_volume(v: &marathon::AppVolume, sandbox: &Path) -> Result<Mount, SpecError> {
    if !v.container_path.starts_with('/') {
        return Err(SpecError::BadVolume(format!(
            "containerPath {:?} must be absolute",
            v.container_path
        )));
    }
    let read_only = match v
        .mode
        .as_deref()
        .unwrap_or("RW")
        .to_ascii_uppercase()
        .as_str()
    {
        "RO" => true,
        "RW" => false,
        other => {
            return Err(SpecError::BadVolume(format!(
                "{:?}: mode {other} is neither RO nor RW",
                v.container_path
            )));
        }
    };
    if let Some(ext) = &v.external {
        if !params::is_volume_name(&ext.name) {
            return Err(SpecError::BadVolume(format!(
                "{:?}: an external volume needs a name of letters, digits, `_`, `.` and `-`, \
                 not {:?}",
                v.container_path, ext.name
            )));
        }
        let mut driver_options = ext.options.clone();
        let driver = driver_options.remove("dvdi/driver");
        return Ok(Mount::Volume(NamedVolume {
            name: ext.name.clone(),
            driver,
            driver_options: driver_options
                .into_iter()
                .map(|(k, v)| (k.trim_start_matches("dvdi/").to_string(), v))
                .collect(),
            container: v.container_path.clone(),
            read_only,
        }));
    }
    if v.persistent.is_some() {
        return Err(SpecError::BadVolume(format!(
            "{:?}: persistent volumes need Mesos reservations, which a custom executor \
             cannot use; use a hostPath or an external volume",
            v.container_path
        )));
    }
    let Some(host) = v.host_path.as_deref().filter(|h| !h.is_empty()) else {
        return Err(SpecError::BadVolume(format!(
            "{:?} has neither hostPath nor external; supported: host paths and external \
             (Docker) volumes",
            v.container_path
        )));
    };
    Ok(Mount::Bind(Bind {
        host: resolve_host_path(host, sandbox)?,
        container: container_path(&v.container_path)?,
        read_only,
    }))
}

/// A Mesos ContainerInfo volume (TaskInfo.container.volumes).
fn mesos_volume(v: &proto::Volume, sandbox: &Path) -> Result<Mount, SpecError> {
    use proto::volume::source::{Type, sandbox_path};
    let refuse = |what: &str| {
        Err(SpecError::BadVolume(format!(
            "{:?}: {what} volumes are not supported; supported: host paths, sandbox paths \
             (SELF) and Docker volumes",
            v.container_path
        )))
    };
    let read_only = v.mode() == proto::volume::Mode::Ro;
    let container = container_path(&if v.container_path.starts_with('/') {
        v.container_path.clone()
    } else {
        // Mesos reads a relative container path as inside the sandbox.
        format!("{SANDBOX_IN_CONTAINER}/{}", v.container_path)
    })?;
    let bind = |host: String| {
        Ok(Mount::Bind(Bind {
            host,
            container: container.clone(),
            read_only,
        }))
    };
    match &v.source {
        None => match v.host_path.as_deref() {
            Some(h) if !h.is_empty() => bind(resolve_host_path(h, sandbox)?),
            _ => refuse("image"),
        },
        Some(src) => match src.r#type() {
            Type::HostPath => match &src.host_path {
                Some(h) => bind(resolve_host_path(&h.path, sandbox)?),
                None => refuse("HOST_PATH without a path"),
            },
            Type::SandboxPath => match &src.sandbox_path {
                Some(p) if p.r#type() != sandbox_path::Type::Parent => {
                    bind(sandbox_path(&p.path, sandbox)?)
                }
                _ => refuse("PARENT sandbox-path"),
            },
            Type::DockerVolume => match &src.docker_volume {
                Some(d) if !params::is_volume_name(&d.name) => Err(SpecError::BadVolume(format!(
                    "{:?}: a Docker volume needs a name of letters, digits, `_`, `.` and `-`, \
                     not {:?}",
                    v.container_path, d.name
                ))),
                Some(d) => Ok(Mount::Volume(NamedVolume {
                    name: d.name.clone(),
                    driver: d.driver.clone().filter(|x| !x.is_empty()),
                    driver_options: d
                        .driver_options
                        .iter()
                        .flat_map(|p| &p.parameter)
                        .map(|p| (p.key.clone(), p.value.clone()))
                        .collect(),
                    container: container.clone(),
                    read_only,
                })),
                None => refuse("DOCKER_VOLUME without a name"),
            },
            Type::Secret => refuse("SECRET"),
            Type::Unknown => refuse("unknown"),
        },
    }
}

/// A relative host path lives inside the sandbox, as Mesos resolves it. The
/// result is folded lexically (`/srv/data/../..` is `/`), so that the policy
/// and Docker read the same text; symlinks are the policy's to follow.
fn resolve_host_path(host: &str, sandbox: &Path) -> Result<String, SpecError> {
    if let Some(c) = paths::unsafe_char(host) {
        return Err(SpecError::BadVolume(format!(
            "host path {host:?} holds {c:?}, which Docker's bind syntax cannot carry"
        )));
    }
    Ok(paths::normalize(sandbox, Path::new(host))
        .display()
        .to_string())
}

/// A Mesos SANDBOX_PATH (SELF) names a path inside the sandbox; one that
/// climbs out, or is absolute, is not a sandbox path at all.
fn sandbox_path(path: &str, sandbox: &Path) -> Result<String, SpecError> {
    let joined = paths::normalize(sandbox, Path::new(path));
    if Path::new(path).is_absolute()
        || !joined.starts_with(paths::normalize(sandbox, Path::new("")))
    {
        return Err(SpecError::BadVolume(format!(
            "sandbox path {path:?} is not inside the sandbox; give a relative path without `..` \
             climbing out of it"
        )));
    }
    resolve_host_path(&joined.display().to_string(), sandbox)
}

/// A container path as Docker's bind syntax can carry it.
fn container_path(path: &str) -> Result<String, SpecError> {
    match paths::unsafe_char(path) {
        Some(c) => Err(SpecError::BadVolume(format!(
            "container path {path:?} holds {c:?}, which Docker's bind syntax cannot carry"
        ))),
        None => Ok(path.to_string()),
    }
}

/// The container's environment: what the framework put in the executor's
/// command environment (never the executor's own process environment, which
/// holds the agent's secrets), else what Marathon 2013 would have sent.
fn container_env(
    input: &Input,
    app: Option<&marathon::App>,
    host_ports: &[u16],
) -> Result<Vec<(String, String)>, SpecError> {
    use proto::environment::variable::Type;
    let variables = input
        .executor
        .command
        .as_ref()
        .and_then(|c| c.environment.as_ref())
        .map_or(&[][..], |e| &e.variables[..]);
    // Running without a variable the framework asked for would be a task
    // that silently misbehaves: refuse it instead.
    if let Some(secret) = variables.iter().find(|v| v.r#type() == Type::Secret) {
        return Err(SpecError::SecretEnv(secret.name.clone()));
    }
    let declared: Vec<(String, String)> = variables
        .iter()
        .map(|v| (v.name.clone(), v.value.clone().unwrap_or_default()))
        .collect();

    let mut env: BTreeMap<String, String> = BTreeMap::new();
    if declared.is_empty() {
        if let Some(app) = app {
            for (k, v) in &app.env {
                // Marathon writes `{"secret": "name"}` for a secret reference.
                let Some(s) = v.as_str() else {
                    return Err(SpecError::SecretEnv(k.clone()));
                };
                env.insert(k.clone(), s.to_string());
            }
            if let Some(id) = &app.id {
                env.insert("MARATHON_APP_ID".into(), id.clone());
            }
            if let Some(version) = &app.version {
                env.insert("MARATHON_APP_VERSION".into(), version.clone());
            }
        }
        for (i, p) in host_ports.iter().enumerate() {
            env.insert(format!("PORT{i}"), p.to_string());
        }
        if let Some(first) = host_ports.first() {
            env.insert("PORT".into(), first.to_string());
            env.insert(
                "PORTS".into(),
                host_ports
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            );
        }
        env.insert("MESOS_TASK_ID".into(), input.task.task_id.value.clone());
        if let Some(h) = input.agent_hostname {
            env.insert("HOST".into(), h.to_string());
        }
    } else {
        env.extend(declared);
    }
    env.insert("MESOS_SANDBOX".into(), SANDBOX_IN_CONTAINER.into());
    for never in NEVER_PASSED {
        env.remove(*never);
    }
    Ok(env.into_iter().collect())
}

#[cfg(test)]
mod tests;
