//! (ExecutorInfo, TaskInfo) pairs shaped like the ones Marathon's TaskBuilder
//! makes for an app with `"executor": "<path>"`, for three generations of
//! Marathon. What each sends (read from TaskBuilder.scala):
//! - 2013 (0.x): `data` = the app JSON; no command environment.
//! - 0.7–1.1: `data` = the app JSON (with `container.docker` when the app has
//!   one, `hostPort` as the user wrote it, usually 0); command.environment with
//!   MESOS_TASK_ID, MARATHON_APP_ID, MARATHON_APP_VERSION, PORT0..n, PORT,
//!   PORTS, PORT_<containerPort>, HOST and the app's env.
//! - 1.10: no `data`; kill_policy from taskKillGracePeriodSeconds; labels;
//!   the environment above plus MARATHON_APP_RESOURCE_* and MARATHON_APP_LABELS.
//!
//! Always: executor_id `marathon-<taskId>`, command.value
//! `chmod ug+rx '<path>' && exec '<path>' <cmd>`, resources cpus/mem/disk and
//! `ports` ranges. Marathon also copies an app's ContainerInfo onto the
//! ExecutorInfo; a Mesos-containerizer agent refuses that, so it is off unless
//! `executor_container` is set.
#![allow(dead_code)]

use mesos_docker::proto::{
    CommandInfo, ContainerInfo, Environment, ExecutorId, ExecutorInfo, KillPolicy, Label, Labels,
    Resource, TaskId, TaskInfo, Value, container_info, environment, value,
};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::wire;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Era {
    Marathon2013,
    /// Marathon 0.7 to 1.1.
    Marathon07,
    Marathon110,
}

#[derive(Clone, Debug)]
pub struct DockerSpec {
    pub image: String,
    /// "BRIDGE", "HOST" or "NONE".
    pub network: String,
    /// (containerPort, protocol); Marathon pairs them with the host ports in order.
    pub port_mappings: Vec<(u32, String)>,
    pub privileged: bool,
    pub parameters: Vec<(String, String)>,
}

impl DockerSpec {
    pub fn bridge(image: &str, container_ports: &[u32]) -> Self {
        DockerSpec {
            image: image.to_string(),
            network: "BRIDGE".into(),
            port_mappings: container_ports.iter().map(|p| (*p, "tcp".into())).collect(),
            privileged: false,
            parameters: Vec::new(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct MarathonApp {
    pub id: String,
    pub cmd: String,
    pub cpus: f64,
    pub mem: f64,
    pub disk: f64,
    /// Host ports of the offer given to the task (the `ports` resource).
    pub host_ports: Vec<u64>,
    pub env: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub docker: Option<DockerSpec>,
    pub kill_grace: Option<Duration>,
    pub version: String,
    pub host: String,
    pub executor_container: bool,
    /// Fixed task id instead of a fresh one in the era's format.
    pub task_id: Option<String>,
}

impl MarathonApp {
    /// `cmd` is the app's cmd: for our executor, the image then the command
    /// (`"mesos-docker-test/busybox:latest sh -c 'exit 3'"`).
    pub fn new(id: &str, cmd: &str) -> Self {
        MarathonApp {
            id: id.to_string(),
            cmd: cmd.to_string(),
            cpus: 0.1,
            mem: 32.0,
            disk: 0.0,
            host_ports: Vec::new(),
            env: BTreeMap::new(),
            labels: BTreeMap::new(),
            docker: None,
            kill_grace: None,
            version: "2026-11-25T08:00:00.000Z".into(),
            host: "localhost".into(),
            executor_container: false,
            task_id: None,
        }
    }

    pub fn ports(mut self, host_ports: &[u64]) -> Self {
        self.host_ports = host_ports.to_vec();
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    pub fn docker(mut self, spec: DockerSpec) -> Self {
        self.docker = Some(spec);
        self
    }

    pub fn kill_grace(mut self, grace: Duration) -> Self {
        self.kill_grace = Some(grace);
        self
    }

    pub fn resources(mut self, cpus: f64, mem: f64, disk: f64) -> Self {
        (self.cpus, self.mem, self.disk) = (cpus, mem, disk);
        self
    }

    pub fn task_id(mut self, task_id: &str) -> Self {
        self.task_id = Some(task_id.to_string());
        self
    }

    fn bare_id(&self) -> String {
        self.id.trim_matches('/').replace('/', "_")
    }

    /// A task id in the format of the era's Marathon.
    pub fn new_task_id(&self, era: Era) -> String {
        let uuid = uuid::Uuid::new_v4();
        match era {
            Era::Marathon2013 => {
                let millis = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis());
                format!("{}_0-{millis}", self.bare_id())
            }
            Era::Marathon07 => format!("{}.{uuid}", self.bare_id()),
            Era::Marathon110 => format!("{}.instance-{uuid}._app.1", self.bare_id()),
        }
    }

    pub fn build(&self, era: Era, executor_path: &Path) -> (ExecutorInfo, TaskInfo) {
        let task_id = self
            .task_id
            .clone()
            .unwrap_or_else(|| self.new_task_id(era));
        let path = executor_path.display();
        let command = CommandInfo {
            value: Some(format!(
                "chmod ug+rx '{path}' && exec '{path}' {}",
                self.cmd
            )),
            environment: (era != Era::Marathon2013).then(|| Environment {
                variables: self
                    .environment(era, &task_id)
                    .into_iter()
                    .map(|(name, value)| environment::Variable {
                        name,
                        value: Some(value),
                        ..Default::default()
                    })
                    .collect(),
            }),
            ..Default::default()
        };
        let executor = ExecutorInfo {
            executor_id: ExecutorId {
                value: format!("marathon-{task_id}"),
            },
            command: Some(command),
            container: self
                .executor_container
                .then(|| self.container_info())
                .flatten(),
            ..Default::default()
        };
        let task = TaskInfo {
            name: self.bare_id(),
            task_id: TaskId {
                value: task_id.clone(),
            },
            agent_id: wire::agent_id("fixture-agent-S0"),
            resources: self.resource_list(),
            executor: Some(executor.clone()),
            data: (era != Era::Marathon110).then(|| self.app_json(era).to_string().into_bytes()),
            labels: (!self.labels.is_empty() && era != Era::Marathon2013).then(|| Labels {
                labels: self
                    .labels
                    .iter()
                    .map(|(k, v)| Label {
                        key: k.clone(),
                        value: Some(v.clone()),
                    })
                    .collect(),
            }),
            kill_policy: (era == Era::Marathon110)
                .then(|| {
                    self.kill_grace.map(|g| KillPolicy {
                        grace_period: Some(wire::duration_info(g)),
                    })
                })
                .flatten(),
            ..Default::default()
        };
        (executor, task)
    }

    fn resource_list(&self) -> Vec<Resource> {
        let scalar = |name: &str, v: f64| Resource {
            name: name.into(),
            r#type: value::Type::Scalar as i32,
            scalar: Some(value::Scalar { value: v }),
            role: Some("*".into()),
            ..Default::default()
        };
        let mut out = vec![scalar("cpus", self.cpus), scalar("mem", self.mem)];
        if self.disk > 0.0 {
            out.push(scalar("disk", self.disk));
        }
        if !self.host_ports.is_empty() {
            out.push(Resource {
                name: "ports".into(),
                r#type: value::Type::Ranges as i32,
                ranges: Some(value::Ranges {
                    range: port_ranges(&self.host_ports),
                }),
                role: Some("*".into()),
                ..Default::default()
            });
        }
        out
    }

    /// The command environment Marathon computes (TaskBuilder.commandInfo).
    pub fn environment(&self, era: Era, task_id: &str) -> BTreeMap<String, String> {
        let mut env = self.env.clone();
        let ports: Vec<String> = self.host_ports.iter().map(u64::to_string).collect();
        for (i, p) in ports.iter().enumerate() {
            env.insert(format!("PORT{i}"), p.clone());
        }
        if let Some(first) = ports.first() {
            env.insert("PORT".into(), first.clone());
            env.insert("PORTS".into(), ports.join(","));
        }
        if let Some(d) = &self.docker {
            for ((container_port, _), host) in d.port_mappings.iter().zip(&ports) {
                env.insert(format!("PORT_{container_port}"), host.clone());
            }
        }
        env.insert("HOST".into(), self.host.clone());
        env.insert("MESOS_TASK_ID".into(), task_id.into());
        env.insert("MARATHON_APP_ID".into(), self.id.clone());
        env.insert("MARATHON_APP_VERSION".into(), self.version.clone());
        if era == Era::Marathon110 {
            // Scala's Double.toString: "128.0", as `{:?}` prints it.
            env.insert(
                "MARATHON_APP_RESOURCE_CPUS".into(),
                format!("{:?}", self.cpus),
            );
            env.insert(
                "MARATHON_APP_RESOURCE_MEM".into(),
                format!("{:?}", self.mem),
            );
            env.insert(
                "MARATHON_APP_RESOURCE_DISK".into(),
                format!("{:?}", self.disk),
            );
            env.insert("MARATHON_APP_RESOURCE_GPUS".into(), "0".into());
            let keys: Vec<&str> = self.labels.keys().map(String::as_str).collect();
            env.insert("MARATHON_APP_LABELS".into(), keys.join(" "));
            for (k, v) in &self.labels {
                env.insert(
                    format!("MARATHON_APP_LABEL_{}", k.to_uppercase()),
                    v.clone(),
                );
            }
            if let Some(d) = &self.docker {
                env.insert("MARATHON_APP_DOCKER_IMAGE".into(), d.image.clone());
            }
        }
        env
    }

    /// The app definition as Marathon stored it and put in TaskInfo.data.
    pub fn app_json(&self, era: Era) -> serde_json::Value {
        let executor = executor_path().display().to_string();
        match era {
            Era::Marathon2013 => json!({
                "id": self.bare_id(),
                "cmd": self.cmd,
                "env": self.env,
                "instances": 1,
                "cpus": self.cpus,
                "mem": self.mem,
                "executor": executor,
                "constraints": [],
                "uris": [],
                // The request (0 = any), not the ports the offer gave.
                "ports": vec![0; self.host_ports.len()],
            }),
            _ => {
                let service_ports: Vec<u64> = (0..self.host_ports.len() as u64)
                    .map(|i| 10000 + i)
                    .collect();
                let mut app = json!({
                    "id": self.id,
                    "cmd": self.cmd,
                    "args": null,
                    "user": null,
                    "env": self.env,
                    "instances": 1,
                    "cpus": self.cpus,
                    "mem": self.mem,
                    "disk": self.disk,
                    "executor": executor,
                    "constraints": [],
                    "uris": [],
                    "storeUrls": [],
                    "ports": service_ports,
                    "requirePorts": false,
                    "backoffSeconds": 1,
                    "backoffFactor": 1.15,
                    "healthChecks": [],
                    "dependencies": [],
                    "upgradeStrategy": {"minimumHealthCapacity": 1.0},
                    "labels": self.labels,
                    "version": self.version,
                });
                if let Some(d) = &self.docker {
                    app["container"] = json!({
                        "type": "DOCKER",
                        "volumes": [],
                        "docker": {
                            "image": d.image,
                            "network": d.network,
                            "portMappings": d.port_mappings.iter().zip(&service_ports)
                                .map(|((cp, proto), sp)| json!({
                                    "containerPort": cp, "hostPort": 0,
                                    "servicePort": sp, "protocol": proto,
                                }))
                                .collect::<Vec<_>>(),
                            "privileged": d.privileged,
                            "parameters": d.parameters.iter()
                                .map(|(k, v)| json!({"key": k, "value": v}))
                                .collect::<Vec<_>>(),
                        },
                    });
                }
                app
            }
        }
    }

    /// ContainerInfo as Marathon builds it, host ports filled in.
    pub fn container_info(&self) -> Option<ContainerInfo> {
        let d = self.docker.as_ref()?;
        let network = match d.network.as_str() {
            "HOST" => container_info::docker_info::Network::Host,
            "NONE" => container_info::docker_info::Network::None,
            _ => container_info::docker_info::Network::Bridge,
        };
        Some(ContainerInfo {
            r#type: container_info::Type::Docker as i32,
            docker: Some(container_info::DockerInfo {
                image: d.image.clone(),
                network: Some(network as i32),
                port_mappings: d
                    .port_mappings
                    .iter()
                    .zip(&self.host_ports)
                    .map(
                        |((cp, proto), hp)| container_info::docker_info::PortMapping {
                            host_port: u32::try_from(*hp).expect("port fits u32"),
                            container_port: *cp,
                            protocol: Some(proto.clone()),
                        },
                    )
                    .collect(),
                privileged: Some(d.privileged),
                parameters: d
                    .parameters
                    .iter()
                    .map(|(k, v)| mesos_docker::proto::Parameter {
                        key: k.clone(),
                        value: v.clone(),
                    })
                    .collect(),
                ..Default::default()
            }),
            ..Default::default()
        })
    }
}

/// Consecutive ports folded into ranges, as offers carry them.
pub fn port_ranges(ports: &[u64]) -> Vec<value::Range> {
    let mut sorted = ports.to_vec();
    sorted.sort_unstable();
    let mut out: Vec<value::Range> = Vec::new();
    for p in sorted {
        match out.last_mut() {
            Some(r) if r.end + 1 == p => r.end = p,
            _ => out.push(value::Range { begin: p, end: p }),
        }
    }
    out
}

/// `n` distinct ports free on this host right now.
pub fn free_ports(n: usize) -> Vec<u64> {
    let listeners: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("0.0.0.0:0").expect("binding a free port"))
        .collect();
    listeners
        .iter()
        .map(|l| u64::from(l.local_addr().expect("local addr").port()))
        .collect()
}

/// The executor path Marathon is configured with: a symlink named `docker` to
/// the built binary (it acts as the executor under any name but its own).
pub fn executor_path() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("executors");
    let link = dir.join("docker");
    let binary = Path::new(env!("CARGO_BIN_EXE_mesos-docker"));
    if std::fs::read_link(&link).is_ok_and(|t| t == binary) {
        return link;
    }
    std::fs::create_dir_all(&dir).expect("creating the executor directory");
    // Several test binaries may race here: link under a unique name, then
    // rename over, which is atomic.
    let tmp = dir.join(format!(".docker.{}", uuid::Uuid::new_v4()));
    std::os::unix::fs::symlink(binary, &tmp).expect("linking the executor");
    std::fs::rename(&tmp, &link).expect("placing the executor link");
    link
}

/// A label list for tests that read labels back.
pub fn labels_map(labels: &Option<Labels>) -> BTreeMap<String, String> {
    labels
        .iter()
        .flat_map(|l| &l.labels)
        .map(|l| (l.key.clone(), l.value.clone().unwrap_or_default()))
        .collect()
}

/// Value helper used by tests that build resources by hand.
pub fn scalar_value(v: f64) -> Value {
    Value {
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value: v }),
        ..Default::default()
    }
}
