//! /etc/mesos-docker/policy.toml from setup's policy flags (or setup.toml's
//! `[policy]` table): what this node allows its tasks, read by the executor
//! (`crate::exec::policy`) for every task. Written only when the operator
//! says something about policy: without the file everything is allowed.

use serde::{Deserialize, Serialize};

use crate::exec::spec::BadCapability;

pub const PATH: &str = crate::exec::policy::DEFAULT_PATH;

/// setup.toml's `[policy]` and the policy flags, each option defined once
/// (flags not given stay `None`; a bare switch is `Some(true)`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, clap::Args)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[group(skip)]
pub struct PolicyConfig {
    /// Node policy (any policy flag writes /etc/mesos-docker/policy.toml, where
    /// what is not allowed is refused): let tasks run privileged containers.
    #[arg(
        long,
        num_args = 0,
        default_missing_value = "true",
        help_heading = "Node policy"
    )]
    pub allow_privileged: Option<bool>,
    /// Node policy: let tasks use the host's network.
    #[arg(
        long,
        num_args = 0,
        default_missing_value = "true",
        help_heading = "Node policy"
    )]
    pub allow_host_network: Option<bool>,
    /// Node policy: let tasks map host devices.
    #[arg(
        long,
        num_args = 0,
        default_missing_value = "true",
        help_heading = "Node policy"
    )]
    pub allow_devices: Option<bool>,
    /// Node policy: a host directory tasks may bind-mount (repeatable); without it any.
    #[arg(long, value_name = "PREFIX", help_heading = "Node policy")]
    pub allow_host_path: Option<Vec<String>>,
    /// Node policy: a registry images may come from (repeatable; docker.io for Docker Hub); without it any.
    #[arg(long, value_name = "HOST[:PORT]", help_heading = "Node policy")]
    pub allow_registry: Option<Vec<String>>,
    /// Node policy: a capability `cap-add` may name (repeatable, e.g. NET_ADMIN); without it none.
    #[arg(long, value_name = "NAME", help_heading = "Node policy")]
    pub allow_capability: Option<Vec<String>>,
    /// Node policy: a volume driver beyond `local`, or `local:TYPE` for the local driver mounting a TYPE filesystem (repeatable).
    #[arg(long, value_name = "NAME", help_heading = "Node policy")]
    pub allow_volume_driver: Option<Vec<String>>,
    /// Node policy: a log driver tasks may pick (repeatable); without it json-file, local and none.
    #[arg(long, value_name = "NAME", help_heading = "Node policy")]
    pub allow_log_driver: Option<Vec<String>>,
    /// Node policy: the most CPUs one task may ask for.
    #[arg(long, value_name = "CPUS", help_heading = "Node policy")]
    pub max_task_cpus: Option<f64>,
    /// Node policy: the most memory one task may ask for, in MiB.
    #[arg(long, value_name = "MIB", help_heading = "Node policy")]
    pub max_task_mem: Option<f64>,
}

/// The policy file's content, with the executor's field names. Setup's own
/// type (the executor's only reads), proven equal in a test that loads what
/// this writes with the executor's loader.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodePolicy {
    pub allow_privileged: bool,
    pub allow_host_network: bool,
    pub allow_devices: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_host_paths: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_registries: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_capabilities: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_volume_drivers: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_log_drivers: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_cpus: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_mem_mb: Option<f64>,
}

/// Flags over the file; `None` when neither says anything about policy.
/// `flags` is the flags' view in the same shape (a bool flag given is `Some(true)`).
pub fn resolve(
    flags: &PolicyConfig,
    file: Option<&PolicyConfig>,
) -> Result<Option<NodePolicy>, PolicyError> {
    let flags_given = *flags != PolicyConfig::default();
    if !flags_given && file.is_none() {
        return Ok(None);
    }
    let empty = PolicyConfig::default();
    let file = file.unwrap_or(&empty);
    let flag_or_file = |f: Option<bool>, v: Option<bool>| f.or(v).unwrap_or(false);
    let list = |f: &Option<Vec<String>>, v: &Option<Vec<String>>| {
        f.clone().filter(|l| !l.is_empty()).or_else(|| v.clone())
    };
    let paths = list(&flags.allow_host_path, &file.allow_host_path)
        .map(|ps| {
            ps.iter()
                .map(|p| host_path(p))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let registries = list(&flags.allow_registry, &file.allow_registry)
        .map(|rs| {
            rs.iter()
                .map(|r| registry(r))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let names = |f, v, check: fn(&str) -> Result<String, PolicyError>| {
        list(f, v)
            .map(|ns| ns.iter().map(|n| check(n)).collect::<Result<Vec<_>, _>>())
            .transpose()
    };
    let capabilities = names(&flags.allow_capability, &file.allow_capability, capability)?;
    let volume_drivers = names(
        &flags.allow_volume_driver,
        &file.allow_volume_driver,
        volume_driver,
    )?;
    let log_drivers = names(&flags.allow_log_driver, &file.allow_log_driver, log_driver)?;
    let max_cpus = flags.max_task_cpus.or(file.max_task_cpus);
    let max_mem = flags.max_task_mem.or(file.max_task_mem);
    positive("--max-task-cpus", max_cpus, "4 or 0.5")?;
    positive("--max-task-mem", max_mem, "8192 (MiB)")?;
    Ok(Some(NodePolicy {
        allow_privileged: flag_or_file(flags.allow_privileged, file.allow_privileged),
        allow_host_network: flag_or_file(flags.allow_host_network, file.allow_host_network),
        allow_devices: flag_or_file(flags.allow_devices, file.allow_devices),
        allowed_host_paths: paths,
        allowed_registries: registries,
        allowed_capabilities: capabilities.unwrap_or_default(),
        allowed_volume_drivers: volume_drivers,
        allowed_log_drivers: log_drivers,
        max_cpus,
        max_mem_mb: max_mem,
    }))
}

/// A policy flag (or its `[policy]` key) that cannot go into policy.toml,
/// named by its flag.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum PolicyError {
    #[error("{flag}: {value} is not a positive number; pass e.g. {flag} {example}")]
    NotPositive {
        flag: &'static str,
        value: f64,
        example: &'static str,
    },
    #[error(
        "--allow-host-path: {path:?} {why}; pass an absolute directory such as --allow-host-path /srv/data"
    )]
    HostPath { path: String, why: &'static str },
    #[error(
        "--allow-registry: {0:?} is not a registry host[:port]; pass e.g. --allow-registry registry.example.com:5000 (docker.io for Docker Hub)"
    )]
    Registry(String),
    // The cause is shown inside the message, not as a source: the advice
    // must follow the name that was refused.
    #[error("--allow-capability: {cause}; pass e.g. --allow-capability NET_ADMIN")]
    Capability { cause: BadCapability },
    #[error(
        "--allow-capability: ALL is every capability, a privileged container; pass --allow-privileged instead"
    )]
    AllCapabilities,
    #[error(
        "--allow-volume-driver: {0:?} is not a volume driver name (the local driver is always allowed; local:TYPE \
         allows it to mount a TYPE filesystem); pass e.g. --allow-volume-driver rexray/ebs \
         or --allow-volume-driver local:nfs"
    )]
    VolumeDriver(String),
    #[error(
        "--allow-log-driver: {0:?} is not a log driver name; pass e.g. --allow-log-driver journald"
    )]
    LogDriver(String),
}

fn positive(flag: &'static str, v: Option<f64>, example: &'static str) -> Result<(), PolicyError> {
    match v {
        Some(x) if !(x.is_finite() && x > 0.0) => Err(PolicyError::NotPositive {
            flag,
            value: x,
            example,
        }),
        _ => Ok(()),
    }
}

/// A bind-mount prefix: absolute, without `..` (which would make a prefix
/// match more than it names), trailing slashes dropped.
fn host_path(p: &str) -> Result<String, PolicyError> {
    let bad = |why: &'static str| PolicyError::HostPath {
        path: p.to_owned(),
        why,
    };
    if !p.starts_with('/') {
        return Err(bad("is not an absolute path"));
    }
    if p.split('/').any(|c| c == "..") {
        return Err(bad("contains .."));
    }
    if p.chars().any(char::is_control) {
        return Err(bad("contains a control character"));
    }
    Ok(match p.trim_end_matches('/') {
        "" => "/".to_owned(),
        t => t.to_owned(),
    })
}

/// A registry as the executor compares it: `host[:port]`, `docker.io` for
/// Docker Hub.
fn registry(r: &str) -> Result<String, PolicyError> {
    let (host, port) = match r.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (r, None),
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok());
    if host_ok && port_ok {
        Ok(r.to_ascii_lowercase())
    } else {
        Err(PolicyError::Registry(r.to_owned()))
    }
}

/// A capability in the executor's spelling (`SYS_ADMIN`); `ALL` is what
/// --allow-privileged says.
fn capability(c: &str) -> Result<String, PolicyError> {
    let name = crate::exec::spec::normalize_capability(c)
        .map_err(|cause| PolicyError::Capability { cause })?;
    if name == "ALL" {
        return Err(PolicyError::AllCapabilities);
    }
    Ok(name)
}

/// A volume plugin (`rexray/ebs`, `name:tag`) or `local:TYPE`.
fn volume_driver(d: &str) -> Result<String, PolicyError> {
    if plain_name(d, "_.-/:") && d != "local" {
        Ok(d.to_owned())
    } else {
        Err(PolicyError::VolumeDriver(d.to_owned()))
    }
}

fn log_driver(d: &str) -> Result<String, PolicyError> {
    if plain_name(d, "_.-") {
        Ok(d.to_owned())
    } else {
        Err(PolicyError::LogDriver(d.to_owned()))
    }
}

fn plain_name(n: &str, also: &str) -> bool {
    n.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || also.contains(c))
}

/// The file as written.
pub fn render(p: &NodePolicy) -> String {
    let body = toml::to_string(p).expect("a policy serializes");
    format!(
        "# Written by mesos-docker setup from its policy flags (--allow-*, --max-task-*) or\n\
         # setup.toml's [policy]; the executor reads it for every task. Not said = not allowed.\n{body}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::policy::Policy;

    fn load(text: &str) -> Policy {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.toml");
        std::fs::write(&path, text).unwrap();
        Policy::load(&path).unwrap()
    }

    #[test]
    fn nothing_said_writes_nothing() {
        assert_eq!(resolve(&PolicyConfig::default(), None), Ok(None));
    }

    #[test]
    fn the_executor_reads_what_setup_writes() {
        let flags = PolicyConfig {
            allow_host_network: Some(true),
            allow_host_path: Some(vec!["/srv/data/".into(), "/mnt".into()]),
            allow_registry: Some(vec!["Registry.example.com:5000".into(), "docker.io".into()]),
            allow_capability: Some(vec!["cap_net_admin".into(), "SYS_PTRACE".into()]),
            allow_volume_driver: Some(vec!["rexray/ebs".into(), "local:nfs".into()]),
            allow_log_driver: Some(vec!["journald".into()]),
            max_task_cpus: Some(4.0),
            max_task_mem: Some(8192.0),
            ..Default::default()
        };
        let p = resolve(&flags, None).unwrap().unwrap();
        let loaded = load(&render(&p));
        assert_eq!(
            loaded,
            Policy {
                allow_privileged: false,
                allow_host_network: true,
                allow_devices: false,
                allowed_host_paths: Some(vec!["/srv/data".into(), "/mnt".into()]),
                allowed_registries: Some(vec![
                    "registry.example.com:5000".into(),
                    "docker.io".into()
                ]),
                allowed_capabilities: vec!["NET_ADMIN".into(), "SYS_PTRACE".into()],
                allowed_volume_drivers: Some(vec!["rexray/ebs".into(), "local:nfs".into()]),
                allowed_log_drivers: Some(vec!["journald".into()]),
                max_cpus: Some(4.0),
                max_mem_mb: Some(8192.0),
            }
        );
        // An empty [policy] table: the strict defaults, spelled out.
        let strict = resolve(&PolicyConfig::default(), Some(&PolicyConfig::default()))
            .unwrap()
            .unwrap();
        assert_eq!(
            render(&strict),
            "# Written by mesos-docker setup from its policy flags (--allow-*, --max-task-*) or\n\
             # setup.toml's [policy]; the executor reads it for every task. Not said = not allowed.\n\
             allow_privileged = false\nallow_host_network = false\nallow_devices = false\n"
        );
        assert_eq!(load(&render(&strict)), Policy::default());
    }

    #[test]
    fn the_file_spells_the_new_keys_as_the_flags() {
        let file: PolicyConfig = toml::from_str(
            "allow-capability = [\"NET_ADMIN\"]\nallow-volume-driver = [\"local:nfs\"]\n\
             allow-log-driver = [\"journald\"]\n",
        )
        .unwrap();
        let p = resolve(&PolicyConfig::default(), Some(&file))
            .unwrap()
            .unwrap();
        let loaded = load(&render(&p));
        assert_eq!(loaded.allowed_capabilities, vec!["NET_ADMIN".to_string()]);
        assert_eq!(
            loaded.allowed_volume_drivers,
            Some(vec!["local:nfs".into()])
        );
        assert_eq!(loaded.allowed_log_drivers, Some(vec!["journald".into()]));
    }

    #[test]
    fn flags_win_over_the_file() {
        let file: PolicyConfig = toml::from_str(
            "allow-privileged = true\nallow-registry = [\"r.example\"]\nmax-task-cpus = 2\n",
        )
        .unwrap();
        let flags = PolicyConfig {
            max_task_cpus: Some(8.0),
            ..Default::default()
        };
        let p = resolve(&flags, Some(&file)).unwrap().unwrap();
        assert!(p.allow_privileged);
        assert_eq!(p.allowed_registries, Some(vec!["r.example".into()]));
        assert_eq!(p.max_cpus, Some(8.0));
    }

    #[test]
    fn bad_values_name_their_flag() {
        let cases = [
            (
                PolicyConfig {
                    allow_host_path: Some(vec!["srv".into()]),
                    ..Default::default()
                },
                "--allow-host-path: \"srv\" is not an absolute path",
            ),
            (
                PolicyConfig {
                    allow_host_path: Some(vec!["/srv/../etc".into()]),
                    ..Default::default()
                },
                "contains ..",
            ),
            (
                PolicyConfig {
                    allow_registry: Some(vec!["https://r.example".into()]),
                    ..Default::default()
                },
                "--allow-registry: \"https://r.example\" is not a registry host[:port]",
            ),
            (
                PolicyConfig {
                    allow_capability: Some(vec!["all".into()]),
                    ..Default::default()
                },
                "--allow-capability: ALL is every capability",
            ),
            (
                PolicyConfig {
                    allow_capability: Some(vec!["sys admin".into()]),
                    ..Default::default()
                },
                "--allow-capability: `sys admin` is not a capability name",
            ),
            (
                PolicyConfig {
                    allow_volume_driver: Some(vec!["local".into()]),
                    ..Default::default()
                },
                "--allow-volume-driver: \"local\" is not a volume driver name (the local driver is always allowed",
            ),
            (
                PolicyConfig {
                    allow_log_driver: Some(vec!["../x".into()]),
                    ..Default::default()
                },
                "--allow-log-driver",
            ),
            (
                PolicyConfig {
                    max_task_cpus: Some(0.0),
                    ..Default::default()
                },
                "--max-task-cpus: 0 is not a positive number",
            ),
            (
                PolicyConfig {
                    max_task_mem: Some(f64::NAN),
                    ..Default::default()
                },
                "--max-task-mem",
            ),
        ];
        for (flags, want) in cases {
            let e = resolve(&flags, None).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
    }
}
