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
//! max_cpus = 4.0
//! max_mem_mb = 8192
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use crate::exec::spec::{ContainerSpec, Network};

pub const DEFAULT_PATH: &str = "/etc/mesos-docker/policy.toml";

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
    pub max_cpus: Option<f64>,
    pub max_mem_mb: Option<f64>,
}

impl Default for Policy {
    /// What a policy file leaves unsaid: an operator who writes one wants
    /// privileges, host networking and devices off unless allowed by name.
    fn default() -> Self {
        Policy {
            allow_privileged: false,
            allow_host_network: false,
            allow_devices: false,
            allowed_host_paths: None,
            allowed_registries: None,
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

impl Policy {
    /// No policy file: everything Mesos' own executors allow.
    pub fn permissive() -> Policy {
        Policy {
            allow_privileged: true,
            allow_host_network: true,
            allow_devices: true,
            ..Policy::default()
        }
    }

    /// Reads the policy; a missing file is no policy, a malformed one an error.
    pub fn load(path: &Path) -> Result<Policy, PolicyFileError> {
        let err = |why: String| PolicyFileError {
            path: path.display().to_string(),
            why,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text).map_err(|e| err(e.to_string().trim().to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Policy::permissive()),
            Err(e) => Err(err(format!("cannot be read: {e}"))),
        }
    }

    pub fn check(
        &self,
        spec: &ContainerSpec,
        cpus: Option<f64>,
        mem_mb: Option<f64>,
    ) -> Result<(), Violation> {
        if spec.privileged && !self.allow_privileged {
            return Err(Violation {
                rule: "allow_privileged",
                detail: "the task asks for a privileged container".into(),
            });
        }
        if spec.network == Network::Host && !self.allow_host_network {
            return Err(Violation {
                rule: "allow_host_network",
                detail: "the task asks for host networking; use bridge (docker.network=bridge)"
                    .into(),
            });
        }
        if !spec.options.devices.is_empty() && !self.allow_devices {
            return Err(Violation {
                rule: "allow_devices",
                detail: format!("the task asks for devices {:?}", spec.options.devices),
            });
        }
        if let Some(allowed) = &self.allowed_host_paths {
            let sandbox = spec.labels.get(crate::exec::spec::LABEL_SANDBOX);
            for bind in &spec.binds {
                let host = Path::new(&bind.host);
                let inside_sandbox = sandbox.is_some_and(|s| host.starts_with(s));
                if !inside_sandbox && !allowed.iter().any(|p| host.starts_with(p)) {
                    return Err(Violation {
                        rule: "allowed_host_paths",
                        detail: format!(
                            "host path {} is outside the allowed prefixes {:?}",
                            bind.host, allowed
                        ),
                    });
                }
            }
        }
        if let Some(allowed) = &self.allowed_registries {
            let registry = registry_of(&spec.image);
            if !allowed.iter().any(|r| r == registry) {
                return Err(Violation {
                    rule: "allowed_registries",
                    detail: format!(
                        "image {} comes from {registry}, not one of {allowed:?}",
                        spec.image
                    ),
                });
            }
        }
        if let (Some(max), Some(asked)) = (self.max_cpus, cpus)
            && asked > max
        {
            return Err(Violation {
                rule: "max_cpus",
                detail: format!("the task asks for {asked} CPUs, more than {max}"),
            });
        }
        if let (Some(max), Some(asked)) = (self.max_mem_mb, mem_mb)
            && asked > max
        {
            return Err(Violation {
                rule: "max_mem_mb",
                detail: format!("the task asks for {asked} MiB, more than {max}"),
            });
        }
        Ok(())
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
mod tests {
    use super::*;

    #[test]
    fn registries_as_docker_reads_them() {
        for (image, registry) in [
            ("redis", "docker.io"),
            ("johncosta/redis", "docker.io"),
            ("registry.example.com/team/app:1", "registry.example.com"),
            ("localhost:5000/app", "localhost:5000"),
            ("localhost/app", "localhost"),
            ("mesos-docker-test/busybox:latest", "docker.io"),
        ] {
            assert_eq!(registry_of(image), registry, "{image}");
        }
    }

    fn spec(image: &str) -> ContainerSpec {
        ContainerSpec {
            name: "mdx.t".into(),
            image: image.into(),
            command: vec![],
            env: vec![],
            labels: [(
                crate::exec::spec::LABEL_SANDBOX.to_string(),
                "/sandbox".to_string(),
            )]
            .into(),
            network: Network::Bridge,
            port_bindings: vec![],
            spare_host_ports: vec![],
            privileged: false,
            force_pull: false,
            cpu_shares: None,
            nano_cpus: None,
            memory_bytes: None,
            memory_reservation: None,
            binds: vec![crate::exec::spec::Bind {
                host: "/sandbox".into(),
                container: "/mnt/mesos/sandbox".into(),
                read_only: false,
            }],
            volumes: vec![],
            options: Default::default(),
        }
    }

    #[test]
    fn each_rule_names_itself() {
        let strict = Policy {
            allowed_host_paths: Some(vec!["/srv".into()]),
            allowed_registries: Some(vec!["registry.example.com".into()]),
            max_cpus: Some(2.0),
            max_mem_mb: Some(1024.0),
            ..Policy::default()
        };
        let ok = spec("registry.example.com/app:1");
        assert_eq!(strict.check(&ok, Some(1.0), Some(512.0)), Ok(()));

        let mut privileged = ok.clone();
        privileged.privileged = true;
        let mut host = ok.clone();
        host.network = Network::Host;
        let mut device = ok.clone();
        device.options.devices.push(crate::exec::spec::Device {
            host: "/dev/fuse".into(),
            container: "/dev/fuse".into(),
            permissions: "rwm".into(),
        });
        let mut etc = ok.clone();
        etc.binds.push(crate::exec::spec::Bind {
            host: "/etc".into(),
            container: "/host-etc".into(),
            read_only: true,
        });
        let mut srv = ok.clone();
        srv.binds.push(crate::exec::spec::Bind {
            host: "/srv/data".into(),
            container: "/data".into(),
            read_only: false,
        });
        let cases = [
            (privileged, None, None, Some("allow_privileged")),
            (host, None, None, Some("allow_host_network")),
            (device, None, None, Some("allow_devices")),
            (etc, None, None, Some("allowed_host_paths")),
            (srv, None, None, None),
            (spec("redis"), None, None, Some("allowed_registries")),
            (ok.clone(), Some(4.0), None, Some("max_cpus")),
            (ok.clone(), None, Some(4096.0), Some("max_mem_mb")),
        ];
        for (s, cpus, mem, rule) in cases {
            let got = strict.check(&s, cpus, mem).err().map(|v| v.rule);
            assert_eq!(got, rule, "{s:?}");
        }
        assert_eq!(
            Policy::permissive().check(&spec("redis"), Some(64.0), None),
            Ok(())
        );
    }

    #[test]
    fn a_policy_file_is_strict_about_its_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.toml");
        assert_eq!(
            Policy::load(&path).unwrap(),
            Policy::permissive(),
            "no file, no policy"
        );
        std::fs::write(&path, "allow_privileged = false\nmax_cpus = 2.0\n").unwrap();
        let p = Policy::load(&path).unwrap();
        assert!(!p.allow_privileged && !p.allow_host_network);
        assert_eq!(p.max_cpus, Some(2.0));
        std::fs::write(&path, "allow_privilegd = false\n").unwrap();
        let err = Policy::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("allow_privilegd") && err.contains("policy.toml"),
            "{err}"
        );
    }
}
