//! The words of a container spec that the translation and its parsers
//! share: the spec's errors, networks, protocols, binds and named volumes,
//! the labels every container carries, and the Docker parameters supported.

use std::collections::BTreeMap;

use thiserror::Error;

pub const SUPPORTED: &[&str] = &[
    "add-host",
    "cap-add",
    "cap-drop",
    "device",
    "dns",
    "entrypoint",
    "env",
    "hostname",
    "init",
    "label",
    "log-driver",
    "log-opt",
    "memory-swap",
    "read-only",
    "shm-size",
    "ulimit",
    "user",
    "volume",
    "workdir",
];

/// Where the sandbox appears inside the container, as in Mesos' own executors.
pub const SANDBOX_IN_CONTAINER: &str = "/mnt/mesos/sandbox";

/// Labels put on every container we create; the reaper and the start-up
/// clean-up find our containers by them.
pub const LABEL_TASK: &str = "mesos-docker.task-id";

pub const LABEL_EXECUTOR: &str = "mesos-docker.executor-id";

pub const LABEL_FRAMEWORK: &str = "mesos-docker.framework-id";

pub const LABEL_AGENT: &str = "mesos-docker.agent-id";

pub const LABEL_SANDBOX: &str = "mesos-docker.sandbox";

#[derive(Debug, Error, PartialEq)]
pub enum SpecError {
    #[error(
        "no image to run: the executor's first argument is the image (Marathon app `cmd`, e.g. \
         \"cmd\": \"redis\"), or the app needs container.docker.image"
    )]
    NoImage,
    #[error("{0}")]
    BadAppJson(String),
    #[error("label {key}={value:?}: {why}")]
    BadLabel {
        key: String,
        value: String,
        why: String,
    },
    #[error("docker parameter {key}={value:?}: {why}")]
    BadParameter {
        key: String,
        value: String,
        why: String,
    },
    #[error(
        "docker parameter `{key}` is not supported; supported: {}",
        SUPPORTED.join(", ")
    )]
    UnsupportedParameter { key: String },
    #[error("network `{0}` is not one of host, bridge, none, user or a network name")]
    BadNetwork(String),
    #[error("port mapping: {0}")]
    BadPort(String),
    #[error(
        "{needed} port mappings but the task has {have} host ports in its `ports` resource; \
         give the app as many ports as mappings"
    )]
    NotEnoughPorts { needed: usize, have: usize },
    #[error("host port {port} is not in the task's `ports` resource ({allocated})")]
    PortNotAllocated { port: u32, allocated: String },
    #[error("volume {0}")]
    BadVolume(String),
    #[error(
        "Marathon 0.6 container options {0:?} are not supported; use container.docker \
         (portMappings, parameters) or docker.* task labels"
    )]
    LegacyOptions(Vec<String>),
    #[error(
        "environment variable {0} is a secret, which this executor cannot resolve (it has no \
         secret store); pass the value another way, e.g. a file fetched into the sandbox with \
         the app's `uris`"
    )]
    SecretEnv(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Network {
    Host,
    Bridge,
    None,
    /// A user-defined Docker network, by name.
    User(String),
}

impl Network {
    pub fn parse(text: &str) -> Result<Network, String> {
        match text.to_ascii_lowercase().as_str() {
            "host" => Ok(Network::Host),
            "bridge" => Ok(Network::Bridge),
            "none" => Ok(Network::None),
            "" | "user" => Err("a user network needs its name".into()),
            _ if text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) =>
            {
                Ok(Network::User(text.to_string()))
            }
            _ => Err(format!(
                "`{text}` is not host, bridge, none or a network name"
            )),
        }
    }

    /// Docker's `NetworkMode`.
    pub fn mode(&self) -> &str {
        match self {
            Network::Host => "host",
            Network::Bridge => "bridge",
            Network::None => "none",
            Network::User(name) => name,
        }
    }

    pub(crate) fn publishes_ports(&self) -> bool {
        matches!(self, Network::Bridge | Network::User(_))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    /// `tcp`, `udp` or Marathon's `udp,tcp`.
    pub fn parse_list(text: &str) -> Result<Vec<Protocol>, String> {
        text.split(',')
            .map(|p| match p.trim().to_ascii_lowercase().as_str() {
                "tcp" | "" => Ok(Protocol::Tcp),
                "udp" => Ok(Protocol::Udp),
                other => Err(format!("protocol `{other}` is neither tcp nor udp")),
            })
            .collect()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortBinding {
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: Protocol,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    pub host: String,
    pub container: String,
    pub read_only: bool,
}

impl Bind {
    /// Docker's `Binds` syntax.
    pub fn to_docker(&self) -> String {
        let mode = if self.read_only { "ro" } else { "rw" };
        format!("{}:{}:{mode}", self.host, self.container)
    }
}

/// A named Docker volume mounted into the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedVolume {
    pub name: String,
    /// Volume driver; Docker's `local` when none.
    pub driver: Option<String>,
    pub driver_options: BTreeMap<String, String>,
    pub container: String,
    pub read_only: bool,
}
