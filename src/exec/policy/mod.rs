//! Node policy: what this node allows its tasks, whatever the framework asks.
//! No Mesos executor has one; operators who share a node with several teams
//! need one. Written by `setup` to /etc/mesos-docker/policy.toml (or the file
//! MESOS_DOCKER_POLICY names). Without the file, everything is allowed.
//!
//! ```toml
//! allow_privileged = false
//! allow_host_network = false
//! allow_devices = false
//! allowed_host_paths = ["/srv/data"]     # bind-mount prefixes; the sandbox is always allowed
//! allowed_registries = ["registry.example.com:5000", "docker.io"]
//! allowed_capabilities = ["NET_ADMIN"]   # cap-add; none unless listed
//! allowed_volume_drivers = ["rexray"]    # named volumes beyond the local driver
//! allowed_log_drivers = ["json-file", "local", "none"]
//! max_cpus = 4.0
//! max_mem_mb = 8192
//! ```
//!
//! The policy is a boundary, so it is applied to the container as it will be
//! created, never to the request: host paths are resolved on the host first
//! (see `resolve`) and Docker gets the resolved path; named volumes are read
//! for what their driver options mount; and the create body's fields are held
//! to a reviewed list, so a field added to it later is refused until a rule
//! covers it.

mod pin;
mod resolve;
mod volumes;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bollard::models::ContainerCreateBody;
use serde::Deserialize;
use thiserror::Error;

use crate::exec::spec::{ContainerSpec, Network, Protocol, normalize_capability};
pub use pin::{PINS_DIR, PinError, Pins, available as pins_available};
pub use resolve::{ResolveError, resolve};
use volumes::Local;

pub const DEFAULT_PATH: &str = "/etc/mesos-docker/policy.toml";

/// Log drivers a policy file allows when it names none: they write under
/// Docker's own root and nowhere else.
pub const DEFAULT_LOG_DRIVERS: &[&str] = &["json-file", "local", "none"];

/// Log options that shape what is kept, not where it goes: any other
/// (`syslog-address`, `fluentd-address`, `awslogs-*`, …) points the daemon,
/// as root, at an address or a credential of the task's choosing.
pub const SAFE_LOG_OPTS: &[&str] = &[
    "max-size",
    "max-file",
    "compress",
    "labels",
    "labels-regex",
    "env",
    "env-regex",
    "tag",
    "mode",
    "max-buffer-size",
];

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    pub allow_privileged: bool,
    pub allow_host_network: bool,
    pub allow_devices: bool,
    /// Host paths a container may mount, as prefixes; `None` allows any.
    pub allowed_host_paths: Option<Vec<PathBuf>>,
    /// Registries images may come from (`docker.io` for Docker Hub names).
    pub allowed_registries: Option<Vec<String>>,
    /// Capabilities `cap-add` may name (`allow_privileged` allows all).
    pub allowed_capabilities: Vec<String>,
    /// Volume drivers beyond `local`, and `local:TYPE` for the local driver
    /// mounting a filesystem of TYPE (nfs, ext4, …); `None` allows any.
    pub allowed_volume_drivers: Option<Vec<String>>,
    /// `log-driver` values a task may pick; `None` allows any driver and
    /// any log option.
    pub allowed_log_drivers: Option<Vec<String>>,
    pub max_cpus: Option<f64>,
    pub max_mem_mb: Option<f64>,
}

impl Default for Policy {
    /// What a policy file leaves unsaid: an operator who writes one wants
    /// privileges, host networking, devices, added capabilities and other
    /// volume and log drivers off unless allowed by name.
    fn default() -> Self {
        Policy {
            allow_privileged: false,
            allow_host_network: false,
            allow_devices: false,
            allowed_host_paths: None,
            allowed_registries: None,
            allowed_capabilities: Vec::new(),
            allowed_volume_drivers: Some(Vec::new()),
            allowed_log_drivers: Some(DEFAULT_LOG_DRIVERS.iter().map(|d| d.to_string()).collect()),
            max_cpus: None,
            max_mem_mb: None,
        }
    }
}

#[derive(Debug, Error, PartialEq)]
#[error(
    "node policy {path}: {why}; fix the file (see `mesos-docker setup --help` for the policy flags)"
)]
pub struct PolicyFileError {
    pub path: String,
    pub why: String,
}

/// A task the policy forbids: names the rule and what broke it.
#[derive(Debug, Error, PartialEq)]
#[error("refused by node policy rule `{rule}`: {detail}")]
pub struct Violation {
    pub rule: &'static str,
    pub detail: String,
}

fn violation(rule: &'static str, detail: String) -> Violation {
    Violation { rule, detail }
}

/// A container the policy let through, with its host paths resolved. Only
/// the policy makes one, and the runner creates only what it holds.
#[derive(Debug)]
pub struct Authorized {
    spec: ContainerSpec,
    policy: Policy,
    places: Places,
}

/// The sandbox and the allowed prefixes, resolved on the host.
#[derive(Debug, Clone)]
struct Places {
    sandbox: PathBuf,
    allowed: Option<Vec<PathBuf>>,
}

impl Policy {
    /// No policy file: everything Mesos' own executors allow.
    pub fn permissive() -> Policy {
        Policy {
            allow_privileged: true,
            allow_host_network: true,
            allow_devices: true,
            allowed_volume_drivers: None,
            allowed_log_drivers: None,
            ..Policy::default()
        }
    }

    /// Whether a policy file is in force: one that allows everything is
    /// the same as none.
    pub fn in_force(&self) -> bool {
        *self != Policy::permissive()
    }

    /// Reads the policy; a missing file is no policy, a malformed one an error.
    pub fn load(path: &Path) -> Result<Policy, PolicyFileError> {
        let err = |why: String| PolicyFileError {
            path: path.display().to_string(),
            why,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str::<Policy>(&text)
                .map_err(|e| err(e.to_string().trim().to_string()))?
                .validated(err),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Policy::permissive()),
            Err(e) => Err(err(format!("cannot be read: {e}"))),
        }
    }

    /// Capability names in one spelling; prefixes absolute. `ALL` is not a
    /// capability to list: it is a privileged container.
    fn validated(
        mut self,
        err: impl Fn(String) -> PolicyFileError,
    ) -> Result<Policy, PolicyFileError> {
        for cap in &mut self.allowed_capabilities {
            let name =
                normalize_capability(cap).map_err(|e| err(format!("allowed_capabilities: {e}")))?;
            if name == "ALL" {
                return Err(err(
                    "allowed_capabilities: ALL is every capability; set allow_privileged = true \
                     instead"
                        .into(),
                ));
            }
            *cap = name;
        }
        if let Some(p) = self
            .allowed_host_paths
            .iter()
            .flatten()
            .find(|p| !p.is_absolute())
        {
            return Err(err(format!(
                "allowed_host_paths: {} is not an absolute path",
                p.display()
            )));
        }
        Ok(self)
    }

    /// Resolves every host path of `spec` on the host, holds the result to
    /// the policy, and gives back the container with the resolved paths in
    /// it. `sandbox` is the task's sandbox on the host (MESOS_DIRECTORY).
    pub fn authorize(
        &self,
        mut spec: ContainerSpec,
        sandbox: &Path,
        cpus: Option<f64>,
        mem_mb: Option<f64>,
    ) -> Result<Authorized, Violation> {
        let path_error = |e: ResolveError| violation("allowed_host_paths", e.to_string());
        let places = Places {
            sandbox: resolve(&crate::exec::spec::paths::normalize(
                Path::new("/"),
                sandbox,
            ))
            .map_err(path_error)?,
            allowed: self
                .allowed_host_paths
                .as_ref()
                .map(|ps| ps.iter().map(|p| resolve(p)).collect::<Result<Vec<_>, _>>())
                .transpose()
                .map_err(path_error)?,
        };
        for bind in &mut spec.binds {
            bind.host = self
                .host_path(&places, &bind.host, &format!("bind {}", bind.container))?
                .display()
                .to_string();
        }
        for v in &mut spec.volumes {
            if let Some(device) =
                self.volume(&places, &v.name, v.driver.as_deref(), &v.driver_options)?
            {
                v.driver_options
                    .insert("device".into(), device.display().to_string());
            }
        }
        self.check(&spec, cpus, mem_mb)?;
        Ok(Authorized {
            spec,
            policy: self.clone(),
            places,
        })
    }

    /// A host path resolved, and allowed when it is inside the (resolved)
    /// sandbox or under an allowed prefix.
    fn host_path(&self, places: &Places, host: &str, what: &str) -> Result<PathBuf, Violation> {
        let resolved = resolve(Path::new(host))
            .map_err(|e| violation("allowed_host_paths", format!("{what}: {e}")))?;
        let Some(allowed) = &places.allowed else {
            return Ok(resolved);
        };
        if resolved.starts_with(&places.sandbox) || allowed.iter().any(|p| resolved.starts_with(p))
        {
            return Ok(resolved);
        }
        let shown = if Path::new(host) == resolved {
            host.to_string()
        } else {
            format!("{host} (which resolves to {})", resolved.display())
        };
        Err(violation(
            "allowed_host_paths",
            format!(
                "{what}: host path {shown} is outside the sandbox and the allowed prefixes {:?}",
                self.allowed_host_paths.as_deref().unwrap_or_default()
            ),
        ))
    }

    /// A named volume's driver and options held to the policy; for a local
    /// bind, the resolved host path (to hand Docker in place of `device`).
    fn volume(
        &self,
        places: &Places,
        name: &str,
        driver: Option<&str>,
        options: &BTreeMap<String, String>,
    ) -> Result<Option<PathBuf>, Violation> {
        let driver_allowed = |d: &str| {
            self.allowed_volume_drivers
                .as_ref()
                .is_none_or(|l| l.iter().any(|a| a == d))
        };
        let listed = || {
            format!(
                "{:?}",
                self.allowed_volume_drivers.as_deref().unwrap_or_default()
            )
        };
        let driver = driver.filter(|d| !d.is_empty()).unwrap_or("local");
        if driver != "local" {
            return if driver_allowed(driver) {
                Ok(None)
            } else {
                Err(violation(
                    "allowed_volume_drivers",
                    format!(
                        "volume {name} uses driver {driver}, not one of {}",
                        listed()
                    ),
                ))
            };
        }
        match volumes::classify(options) {
            Local::Contained => Ok(None),
            Local::Bind(device) => self
                .host_path(
                    places,
                    device,
                    &format!("volume {name} (local driver, o=bind)"),
                )
                .map(Some),
            Local::Filesystem { fstype, device } => {
                let key = format!("local:{fstype}");
                if driver_allowed(&key) {
                    Ok(None)
                } else {
                    Err(violation(
                        "allowed_volume_drivers",
                        format!(
                            "volume {name} mounts a {fstype:?} filesystem from {device:?} through the \
                             local driver; allow it with \"{key}\" (currently {})",
                            listed()
                        ),
                    ))
                }
            }
            Local::UnsafeFlag(f) => Err(violation(
                "allowed_volume_drivers",
                format!(
                    "volume {name}: local driver mount flag {f:?} changes a mount of the host \
                     rather than making one"
                ),
            )),
            Local::UnknownOption(k) => Err(violation(
                "allowed_volume_drivers",
                format!(
                    "volume {name}: local driver option {k:?} is not one the policy reads ({})",
                    volumes::LOCAL_OPTIONS.join(", ")
                ),
            )),
        }
    }

    /// The rules that need no host lookup, on the container as it will be
    /// created.
    pub fn check(
        &self,
        spec: &ContainerSpec,
        cpus: Option<f64>,
        mem_mb: Option<f64>,
    ) -> Result<(), Violation> {
        if spec.privileged && !self.allow_privileged {
            return Err(violation(
                "allow_privileged",
                "the task asks for a privileged container".into(),
            ));
        }
        if spec.network == Network::Host && !self.allow_host_network {
            return Err(violation(
                "allow_host_network",
                "the task asks for host networking; use bridge (docker.network=bridge)".into(),
            ));
        }
        if !spec.options.devices.is_empty() && !self.allow_devices {
            let devices: Vec<&str> = spec
                .options
                .devices
                .iter()
                .map(|d| d.host.as_str())
                .collect();
            return Err(violation(
                "allow_devices",
                format!("the task asks for devices {devices:?}"),
            ));
        }
        self.check_capabilities(&spec.options.cap_add)?;
        self.check_logging(&spec.options.log_driver, &spec.options.log_opts)?;
        if let Some(allowed) = &self.allowed_registries {
            let registry = registry_of(&spec.image);
            if !allowed.iter().any(|r| r == registry) {
                return Err(violation(
                    "allowed_registries",
                    format!(
                        "image {} comes from {registry}, not one of {allowed:?}",
                        spec.image
                    ),
                ));
            }
        }
        if let (Some(max), Some(asked)) = (self.max_cpus, cpus)
            && asked > max
        {
            return Err(violation(
                "max_cpus",
                format!("the task asks for {asked} CPUs, more than {max}"),
            ));
        }
        if let (Some(max), Some(asked)) = (self.max_mem_mb, mem_mb)
            && asked > max
        {
            return Err(violation(
                "max_mem_mb",
                format!("the task asks for {asked} MiB, more than {max}"),
            ));
        }
        Ok(())
    }

    fn check_capabilities(&self, cap_add: &[String]) -> Result<(), Violation> {
        if self.allow_privileged {
            return Ok(());
        }
        for cap in cap_add {
            if cap == "ALL" {
                return Err(violation(
                    "allow_privileged",
                    "cap-add ALL grants every capability, as a privileged container has".into(),
                ));
            }
            if !self.allowed_capabilities.contains(cap) {
                return Err(violation(
                    "allowed_capabilities",
                    format!(
                        "cap-add {cap} is not one of the allowed capabilities {:?}",
                        self.allowed_capabilities
                    ),
                ));
            }
        }
        Ok(())
    }

    fn check_logging(
        &self,
        driver: &Option<String>,
        opts: &[(String, String)],
    ) -> Result<(), Violation> {
        let Some(allowed) = &self.allowed_log_drivers else {
            return Ok(());
        };
        if let Some(d) = driver
            && !allowed.contains(d)
        {
            return Err(violation(
                "allowed_log_drivers",
                format!("log-driver {d} is not one of {allowed:?}"),
            ));
        }
        if let Some((k, v)) = opts
            .iter()
            .find(|(k, _)| !SAFE_LOG_OPTS.contains(&k.as_str()))
        {
            return Err(violation(
                "allowed_log_drivers",
                format!(
                    "log-opt {k}={v} may point the daemon's logging somewhere; a task may set only {}",
                    SAFE_LOG_OPTS.join(", ")
                ),
            ));
        }
        Ok(())
    }
}

impl Authorized {
    pub fn spec(&self) -> &ContainerSpec {
        &self.spec
    }

    /// Binds spare host ports once the image's exposed ports are known: the
    /// one change the runner makes after the check, and none a rule reads.
    pub fn bind_exposed_ports(&mut self, exposed: &[(u16, Protocol)]) {
        crate::exec::spec::bind_exposed_ports(&mut self.spec, exposed);
    }

    /// Pins every bind (see `pin`), so Docker mounts what was checked even
    /// if a path on the way is swapped for a symlink before the container
    /// starts. The pins must outlive the container's start.
    pub fn pin_binds(&mut self, pins: &mut Pins) -> Result<(), PinError> {
        for b in &mut self.spec.binds {
            b.host = pins.pin(Path::new(&b.host))?.display().to_string();
        }
        Ok(())
    }

    /// A named volume that already exists mounts what it was created with,
    /// whatever the task asked: held to the same rules.
    pub fn check_existing_volume(
        &self,
        name: &str,
        driver: &str,
        options: &BTreeMap<String, String>,
    ) -> Result<(), Violation> {
        self.policy
            .volume(&self.places, name, Some(driver), options)
            .map(|_| ())
    }

    /// A user-defined network is host networking when Docker's `host`
    /// driver backs it (its id or a prefix of it names the host network).
    pub fn check_network_driver(&self, name: &str, driver: &str) -> Result<(), Violation> {
        if driver == "host" && !self.policy.allow_host_network {
            return Err(violation(
                "allow_host_network",
                format!("network {name} is Docker's host network"),
            ));
        }
        Ok(())
    }
}

/// Executor settings that are the node's alone. Mesos launches the executor
/// with the framework's `ExecutorInfo.command.environment` over the agent's
/// own, so a Marathon app's `env` could otherwise point the executor at a
/// policy file of its choosing (or at none, which allows everything).
pub const NODE_SETTINGS: &[&str] = &["MESOS_DOCKER_POLICY"];

/// Settings an app may legitimately give its container (a Docker-in-Docker
/// client wants DOCKER_HOST) but which, read by the executor, would send the
/// node's registry credentials to a daemon of the task's choosing or read
/// them from a file it picked. Refused while a policy is in force; without
/// one the node allows everything anyway.
pub const NODE_SETTINGS_UNDER_POLICY: &[&str] =
    &["DOCKER_HOST", "DOCKER_CONFIG", "MESOS_DOCKER_CONFIG"];

/// Refuses a task whose framework-declared environment sets a node setting.
pub fn node_settings_untouched<'a>(
    declared: impl IntoIterator<Item = (&'a str, &'a str)>,
    policy_in_force: bool,
) -> Result<(), Violation> {
    match declared.into_iter().find(|(k, _)| {
        NODE_SETTINGS.contains(k) || (policy_in_force && NODE_SETTINGS_UNDER_POLICY.contains(k))
    }) {
        Some((k, v)) => Err(violation(
            "node_settings",
            format!(
                "the task's environment sets {k}={v}; only the node sets it (the agent's \
                 environment or --executor_environment_variables)"
            ),
        )),
        None => Ok(()),
    }
}

/// Top-level fields of the create body the rules above have been reviewed
/// for (`HostConfig` is looked into below).
const REVIEWED_FIELDS: &[&str] = &[
    "Image",
    "Cmd",
    "Entrypoint",
    "Env",
    "Labels",
    "ExposedPorts",
    "Hostname",
    "User",
    "WorkingDir",
    "HostConfig",
];

/// `HostConfig` fields the rules cover: each either stays inside the
/// container or is read by a rule (Binds, Mounts: host paths and volumes;
/// Privileged, CapAdd, Devices, NetworkMode, LogConfig: their own rules).
const REVIEWED_HOST_CONFIG: &[&str] = &[
    "Binds",
    "Mounts",
    "NetworkMode",
    "PortBindings",
    "Privileged",
    "CpuShares",
    "NanoCpus",
    "Memory",
    "MemoryReservation",
    "MemorySwap",
    "ShmSize",
    "CapAdd",
    "CapDrop",
    "ExtraHosts",
    "Dns",
    "Init",
    "ReadonlyRootfs",
    "LogConfig",
    "Devices",
    "Ulimits",
];

/// Fails closed on a create body that sets a field no rule was reviewed for
/// (say `PidMode`, `SecurityOpt` or `VolumesFrom`, were the translation ever
/// to set one): the list above is the policy's whole view of Docker.
pub fn reviewed(body: &ContainerCreateBody) -> Result<(), Violation> {
    let unreviewed = |fields: &serde_json::Value, allowed: &[&str]| -> Option<String> {
        fields.as_object().and_then(|m| {
            m.iter()
                .find(|(k, v)| !v.is_null() && !allowed.contains(&k.as_str()))
                .map(|(k, _)| k.clone())
        })
    };
    let json = serde_json::to_value(body).unwrap_or(serde_json::Value::Null);
    let field = unreviewed(&json, REVIEWED_FIELDS).or_else(|| {
        unreviewed(&json["HostConfig"], REVIEWED_HOST_CONFIG).map(|f| format!("HostConfig.{f}"))
    });
    match field {
        Some(f) => Err(violation(
            "reviewed_docker_fields",
            format!("the container would set {f}, which no policy rule covers"),
        )),
        None if json.is_null() => Err(violation(
            "reviewed_docker_fields",
            "the create body could not be read back".into(),
        )),
        None => Ok(()),
    }
}

/// The registry an image reference pulls from, as Docker decides it: the
/// first component is a registry only when it has a dot or a port, or is
/// `localhost`.
pub fn registry_of(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first
        }
        _ => "docker.io",
    }
}

#[cfg(test)]
mod tests;
