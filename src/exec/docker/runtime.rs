//! The container runtime: every Docker call the executor makes, bounded in
//! time, and the errors they end in.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use bollard::Docker;
use bollard::errors::Error as BollardError;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, KillContainerOptionsBuilder,
    ListContainersOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
};
use futures_util::StreamExt;
use thiserror::Error;

use super::body::create_body;

use crate::exec::sandbox_log::{RotatingFile, Rotation};
use crate::exec::spec::{ContainerSpec, LABEL_EXECUTOR, Protocol};

/// Oldest Engine API we speak: Docker 1.13 (2017), the first with `init`.
pub const MIN_API: (usize, usize) = (1, 25);

/// Default bound on every short Engine API call. Long operations (pull,
/// wait, logs) are bounded by their callers instead.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// A year: effectively no limit, without overflowing a deadline.
const NO_CLIENT_TIMEOUT: Duration = Duration::from_secs(365 * 86_400);

#[derive(Debug, Error)]
pub enum DockerError {
    #[error(
        "cannot reach the Docker daemon ({endpoint}): {source}; is dockerd running and may this user use its socket?"
    )]
    Connect {
        endpoint: String,
        source: BollardError,
    },
    #[error("the Docker daemon speaks Engine API {found}, older than {}.{} which this executor needs; upgrade Docker", MIN_API.0, MIN_API.1)]
    TooOld { found: String },
    #[error("docker {op}: {source}")]
    Api {
        op: &'static str,
        source: BollardError,
    },
    #[error("docker {op}: no answer from the Docker daemon within {}s", .after.as_secs())]
    Timeout { op: &'static str, after: Duration },
    #[error("image {image} is not on this host and could not be pulled: {reason}")]
    Pull { image: String, reason: String },
}

/// A container and its labels.
#[derive(Debug, Clone)]
pub struct Labelled {
    pub id: String,
    pub name: String,
    pub labels: std::collections::BTreeMap<String, String>,
}

/// How a container ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    pub code: i64,
    pub oom_killed: bool,
}

#[derive(Clone)]
pub struct Runtime {
    pub(super) docker: Docker,
    pub(super) timeout: Duration,
}

pub(super) async fn bounded<T>(
    timeout: Duration,
    op: &'static str,
    fut: impl Future<Output = Result<T, BollardError>>,
) -> Result<T, DockerError> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(source)) => Err(DockerError::Api { op, source }),
        Err(_) => Err(DockerError::Timeout { op, after: timeout }),
    }
}

fn is_not_found(e: &BollardError) -> bool {
    matches!(
        e,
        BollardError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// `redis` means `redis:latest`; without a tag the Engine API pulls every tag.
pub fn with_default_tag(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if last.contains(':') || image.contains('@') {
        image.to_string()
    } else {
        format!("{image}:latest")
    }
}

impl Runtime {
    /// Connects and negotiates the API version down to what the daemon speaks.
    pub async fn connect(timeout: Duration) -> Result<Runtime, DockerError> {
        let endpoint =
            std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
        let docker = Docker::connect_with_defaults()
            .map_err(|source| DockerError::Connect {
                endpoint: endpoint.clone(),
                source,
            })?
            // bollard's own timeout covers whole requests, including waits
            // that last as long as the container: our calls carry their own.
            .with_timeout(NO_CLIENT_TIMEOUT);
        let docker = match tokio::time::timeout(timeout, docker.negotiate_version()).await {
            Ok(Ok(d)) => d,
            Ok(Err(source)) => return Err(DockerError::Connect { endpoint, source }),
            Err(_) => {
                return Err(DockerError::Timeout {
                    op: "version",
                    after: timeout,
                });
            }
        };
        let v = docker.client_version();
        if (v.major_version, v.minor_version) < MIN_API {
            return Err(DockerError::TooOld {
                found: v.to_string(),
            });
        }
        Ok(Runtime { docker, timeout })
    }

    pub fn api_version(&self) -> String {
        self.docker.client_version().to_string()
    }

    pub async fn image_exists(&self, image: &str) -> Result<bool, DockerError> {
        match tokio::time::timeout(self.timeout, self.docker.inspect_image(image)).await {
            Ok(Ok(_)) => Ok(true),
            Ok(Err(e)) if is_not_found(&e) => Ok(false),
            Ok(Err(source)) => Err(DockerError::Api {
                op: "image inspect",
                source,
            }),
            Err(_) => Err(DockerError::Timeout {
                op: "image inspect",
                after: self.timeout,
            }),
        }
    }

    /// Pulls `image`, reporting each new status line (not every progress tick).
    /// Unbounded in time: the caller races it against kills and deadlines.
    pub async fn pull(
        &self,
        image: &str,
        credentials: Option<bollard::auth::DockerCredentials>,
        mut progress: impl FnMut(&str),
    ) -> Result<(), DockerError> {
        let reference = with_default_tag(image);
        let options = CreateImageOptionsBuilder::default()
            .from_image(&reference)
            .build();
        let mut stream = self.docker.create_image(Some(options), None, credentials);
        let mut last = String::new();
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| DockerError::Pull {
                image: image.to_string(),
                reason: pull_reason(&e),
            })?;
            if let Some(detail) = info.error_detail.and_then(|d| d.message) {
                return Err(DockerError::Pull {
                    image: image.to_string(),
                    reason: detail,
                });
            }
            let line = match (info.id, info.status) {
                (Some(id), Some(status)) => format!("{id}: {status}"),
                (None, Some(status)) => status,
                _ => continue,
            };
            if line != last {
                progress(&line);
                last = line;
            }
        }
        Ok(())
    }

    /// Ports the image declares (`EXPOSE`), for the 2013-style port binding.
    pub async fn exposed_ports(&self, image: &str) -> Result<Vec<(u16, Protocol)>, DockerError> {
        let info = bounded(
            self.timeout,
            "image inspect",
            self.docker.inspect_image(image),
        )
        .await?;
        let declared = info
            .config
            .and_then(|c| c.exposed_ports)
            .unwrap_or_default();
        Ok(declared
            .iter()
            .filter_map(|p| {
                let (port, proto) = p.split_once('/').unwrap_or((p, "tcp"));
                let protocol = match proto {
                    "tcp" => Protocol::Tcp,
                    "udp" => Protocol::Udp,
                    _ => return None,
                };
                Some((port.parse().ok()?, protocol))
            })
            .collect())
    }

    /// An existing named volume's driver and options; `None` when Docker
    /// has no volume of that name (creating the container will make one).
    pub async fn volume(
        &self,
        name: &str,
    ) -> Result<Option<(String, std::collections::BTreeMap<String, String>)>, DockerError> {
        match tokio::time::timeout(self.timeout, self.docker.inspect_volume(name)).await {
            Ok(Ok(v)) => Ok(Some((v.driver, v.options.into_iter().collect()))),
            Ok(Err(e)) if is_not_found(&e) => Ok(None),
            Ok(Err(source)) => Err(DockerError::Api {
                op: "volume inspect",
                source,
            }),
            Err(_) => Err(DockerError::Timeout {
                op: "volume inspect",
                after: self.timeout,
            }),
        }
    }

    /// The driver of the network Docker finds by `name` (a name, an id or an
    /// id prefix); `None` when there is none.
    pub async fn network_driver(&self, name: &str) -> Result<Option<String>, DockerError> {
        match tokio::time::timeout(self.timeout, self.docker.inspect_network(name, None)).await {
            Ok(Ok(n)) => Ok(Some(n.driver.unwrap_or_default())),
            Ok(Err(e)) if is_not_found(&e) => Ok(None),
            Ok(Err(source)) => Err(DockerError::Api {
                op: "network inspect",
                source,
            }),
            Err(_) => Err(DockerError::Timeout {
                op: "network inspect",
                after: self.timeout,
            }),
        }
    }

    pub async fn create(&self, spec: &ContainerSpec) -> Result<String, DockerError> {
        let options = CreateContainerOptionsBuilder::default()
            .name(&spec.name)
            .build();
        let created = bounded(
            self.timeout,
            "create",
            self.docker
                .create_container(Some(options), create_body(spec)),
        )
        .await?;
        Ok(created.id)
    }

    pub async fn start(&self, id: &str) -> Result<(), DockerError> {
        bounded(self.timeout, "start", self.docker.start_container(id, None)).await
    }

    /// The container's addresses on every network it joined, and its pid.
    pub async fn addresses(&self, id: &str) -> Result<(Vec<IpAddr>, Option<u32>), DockerError> {
        let info = bounded(
            self.timeout,
            "inspect",
            self.docker.inspect_container(id, None),
        )
        .await?;
        let mut ips = Vec::new();
        let networks = info
            .network_settings
            .and_then(|n| n.networks)
            .unwrap_or_default();
        for endpoint in networks.values() {
            for text in [&endpoint.ip_address, &endpoint.global_ipv6_address]
                .into_iter()
                .flatten()
            {
                if let Ok(ip) = text.parse::<IpAddr>()
                    && !ips.contains(&ip)
                {
                    ips.push(ip);
                }
            }
        }
        let pid = info
            .state
            .and_then(|s| s.pid)
            .and_then(|p| u32::try_from(p).ok())
            .filter(|p| *p > 0);
        Ok((ips, pid))
    }

    /// Waits until the container stops; unbounded in time by design.
    pub async fn wait(&self, id: &str) -> Result<Exit, DockerError> {
        let mut stream = self.docker.wait_container(id, None);
        let code = match stream.next().await {
            Some(Ok(r)) => r.status_code,
            Some(Err(BollardError::DockerContainerWaitError { code, .. })) => code,
            Some(Err(source)) => return Err(DockerError::Api { op: "wait", source }),
            None => {
                return Err(DockerError::Api {
                    op: "wait",
                    source: BollardError::DockerStreamError {
                        error: "the daemon closed the wait stream without an exit status".into(),
                    },
                });
            }
        };
        let info = bounded(
            self.timeout,
            "inspect",
            self.docker.inspect_container(id, None),
        )
        .await?;
        let oom_killed = info.state.and_then(|s| s.oom_killed).unwrap_or(false);
        Ok(Exit { code, oom_killed })
    }

    /// Sends a signal; a container that already stopped is not an error.
    pub async fn signal(&self, id: &str, signal: &str) -> Result<(), DockerError> {
        let options = KillContainerOptionsBuilder::default()
            .signal(signal)
            .build();
        match bounded(
            self.timeout,
            "kill",
            self.docker.kill_container(id, Some(options)),
        )
        .await
        {
            Err(DockerError::Api {
                source: BollardError::DockerResponseServerError { status_code, .. },
                ..
            }) if status_code == 409 || status_code == 404 => Ok(()),
            other => other,
        }
    }

    pub async fn remove(&self, id: &str) -> Result<(), DockerError> {
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        match bounded(
            self.timeout,
            "remove",
            self.docker.remove_container(id, Some(options)),
        )
        .await
        {
            Err(DockerError::Api { source, .. }) if is_not_found(&source) => Ok(()),
            other => other,
        }
    }

    /// Every container carrying our executor label, with its labels.
    pub async fn our_containers(&self) -> Result<Vec<Labelled>, DockerError> {
        self.containers_labelled(LABEL_EXECUTOR).await
    }

    /// Containers (running or not) matching a label filter (`key` or `key=value`).
    pub async fn containers_labelled(&self, filter: &str) -> Result<Vec<Labelled>, DockerError> {
        let filters = HashMap::from([("label".to_string(), vec![filter.to_string()])]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let found = bounded(
            self.timeout,
            "ps",
            self.docker.list_containers(Some(options)),
        )
        .await?;
        Ok(found
            .into_iter()
            .filter_map(|c| {
                Some(Labelled {
                    id: c.id?,
                    name: c
                        .names
                        .and_then(|n| n.first().cloned())
                        .unwrap_or_default()
                        .trim_start_matches('/')
                        .to_string(),
                    labels: c.labels.unwrap_or_default().into_iter().collect(),
                })
            })
            .collect())
    }

    /// Removes what an earlier incarnation of this executor left behind.
    pub async fn remove_stale(&self, executor_id: &str) -> Result<usize, DockerError> {
        let stale = self
            .containers_labelled(&format!("{LABEL_EXECUTOR}={executor_id}"))
            .await?;
        for c in &stale {
            self.remove(&c.id).await?;
        }
        Ok(stale.len())
    }

    /// Appends the container's output to the sandbox's `stdout` and `stderr`
    /// as it is written, until the container stops.
    pub async fn copy_logs(
        &self,
        id: &str,
        sandbox: &Path,
        rotation: Rotation,
    ) -> std::io::Result<()> {
        let mut out = RotatingFile::open(&sandbox.join("stdout"), rotation).await?;
        let mut err = RotatingFile::open(&sandbox.join("stderr"), rotation).await?;
        let logs = LogsOptionsBuilder::default()
            .follow(true)
            .stdout(true)
            .stderr(true)
            .build();
        let mut stream = self.docker.logs(id, Some(logs));
        while let Some(item) = stream.next().await {
            match item {
                Ok(bollard::container::LogOutput::StdErr { message }) => {
                    err.write(&message).await?
                }
                Ok(bollard::container::LogOutput::StdOut { message })
                | Ok(bollard::container::LogOutput::Console { message }) => {
                    out.write(&message).await?
                }
                Ok(_) => {}
                Err(e) => return Err(std::io::Error::other(e)),
            }
        }
        out.flush().await?;
        err.flush().await
    }
}

fn pull_reason(e: &BollardError) -> String {
    match e {
        BollardError::DockerResponseServerError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}
