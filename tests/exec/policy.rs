//! The node policy as a boundary, attacked end to end: the real executor,
//! launched by the test agent as Marathon would, against the real Docker
//! daemon and a policy that allows one host directory (a /srv/data stand-in)
//! and `NET_ADMIN`, and no privileged containers, devices or host network.
//! Every attack must end TASK_FAILED / TASK_UNAUTHORIZED with a message that
//! names the rule and the offending value, and leave nothing in Docker.

use crate::support;

use std::path::{Path, PathBuf};

use mesos_docker::proto::task_status::Reason;
use mesos_docker::proto::{
    ContainerInfo, ExecutorInfo, NetworkInfo, Parameter, Parameters, TaskInfo, TaskState,
    container_info, volume,
};
use support::agent::{AgentOptions, TestAgent};
use support::fixtures::{self, DockerSpec, Era, MarathonApp};
use support::{images, secs};

/// The node: a policy file and the one directory it allows.
struct Node {
    _dir: tempfile::TempDir,
    policy: PathBuf,
    data: PathBuf,
}

impl Node {
    fn new() -> Node {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let data = root.join("srv/data");
        std::fs::create_dir_all(&data).unwrap();
        let policy = root.join("policy.toml");
        std::fs::write(
            &policy,
            format!(
                "allowed_host_paths = [\"{}\"]\nallowed_capabilities = [\"NET_ADMIN\"]\n",
                data.display()
            ),
        )
        .unwrap();
        Node {
            _dir: dir,
            policy,
            data,
        }
    }

    fn app(&self, id: &str, cmd: &str) -> MarathonApp {
        self.bare_app(id, &format!("{} {cmd}", images::ensure_busybox()))
    }

    /// An app whose image comes from its container definition, not `cmd`.
    fn bare_app(&self, id: &str, cmd: &str) -> MarathonApp {
        MarathonApp::new(id, cmd)
    }

    /// The test agent, carrying the policy in its own environment as the
    /// operator's agent does.
    async fn agent(&self) -> TestAgent {
        TestAgent::start(AgentOptions {
            node_env: vec![(
                "MESOS_DOCKER_POLICY".into(),
                self.policy.display().to_string(),
            )],
            ..AgentOptions::default()
        })
        .await
    }
}

/// One attack: how the task is built, and what the refusal must say.
struct Attack {
    what: &'static str,
    task: (ExecutorInfo, TaskInfo),
    rule: &'static str,
    value: String,
    reason: Reason,
    /// Refused by what only Docker knows (an existing volume, a network's
    /// driver): after TASK_STARTING, still before anything is created.
    after_starting: bool,
    /// A named volume that must not exist afterwards.
    volume: Option<String>,
}

fn attack(
    what: &'static str,
    task: (ExecutorInfo, TaskInfo),
    rule: &'static str,
    value: &str,
) -> Attack {
    Attack {
        what,
        task,
        rule,
        value: value.to_string(),
        reason: Reason::TaskUnauthorized,
        after_starting: false,
        volume: None,
    }
}

/// Runs `sh` in the sandbox before the executor, as the fetcher would leave
/// files there (a task's `uris` can unpack symlinks).
fn plant(mut task: (ExecutorInfo, TaskInfo), sh: &str) -> (ExecutorInfo, TaskInfo) {
    let command = task.0.command.as_mut().unwrap();
    command.value = Some(format!("{sh} && {}", command.value.as_deref().unwrap()));
    task.1.executor = Some(task.0.clone());
    task
}

/// The task with a Mesos ContainerInfo naming `image` and `volumes`.
fn with_container(
    mut task: (ExecutorInfo, TaskInfo),
    image: &str,
    volumes: Vec<mesos_docker::proto::Volume>,
) -> (ExecutorInfo, TaskInfo) {
    task.1.container = Some(ContainerInfo {
        r#type: container_info::Type::Docker as i32,
        docker: Some(container_info::DockerInfo {
            image: image.into(),
            network: Some(container_info::docker_info::Network::Bridge as i32),
            ..Default::default()
        }),
        volumes,
        ..Default::default()
    });
    task
}

fn docker_volume(name: &str, options: &[(&str, &str)]) -> mesos_docker::proto::Volume {
    mesos_docker::proto::Volume {
        container_path: "/v".into(),
        mode: Some(volume::Mode::Rw as i32),
        source: Some(volume::Source {
            r#type: Some(volume::source::Type::DockerVolume as i32),
            docker_volume: Some(volume::source::DockerVolume {
                driver: Some("local".into()),
                name: name.into(),
                driver_options: Some(Parameters {
                    parameter: options
                        .iter()
                        .map(|(k, v)| Parameter {
                            key: k.to_string(),
                            value: v.to_string(),
                        })
                        .collect(),
                }),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Marathon ≤ 1.1's app JSON with `container.volumes` set to `volumes`.
fn with_app_volumes(app: MarathonApp, volumes: serde_json::Value) -> (ExecutorInfo, TaskInfo) {
    let image = images::ensure_busybox();
    let app = app.docker(DockerSpec::bridge(image, &[]));
    let (executor, mut task) = app.build(Era::Marathon07, &fixtures::executor_path());
    let mut json: serde_json::Value =
        serde_json::from_slice(task.data.as_deref().unwrap()).unwrap();
    json["container"]["volumes"] = volumes;
    task.data = Some(json.to_string().into_bytes());
    (executor, task)
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

fn volume_exists(name: &str) -> bool {
    std::process::Command::new("docker")
        .args(["volume", "inspect", name])
        .output()
        .unwrap()
        .status
        .success()
}

fn host_network_id() -> String {
    images::docker(&["network", "inspect", "--format", "{{.Id}}", "host"])
}

async fn run_attack(agent: &TestAgent, a: Attack) {
    let tid = a.task.1.task_id.value.clone();
    let process = agent.launch(a.task.0, a.task.1).await;
    let failed = agent
        .wait_for_state(&tid, TaskState::TaskFailed, secs(60))
        .await;
    let message = failed.message().to_string();
    assert_eq!(failed.reason(), a.reason, "{}: {message}", a.what);
    assert!(
        message.contains(&format!("`{}`", a.rule)) || a.reason != Reason::TaskUnauthorized,
        "{}: names the rule {}: {message}",
        a.what,
        a.rule
    );
    assert!(
        message.contains(&a.value),
        "{}: names {:?}: {message}",
        a.what,
        a.value
    );
    let states = if a.after_starting {
        vec![TaskState::TaskStarting, TaskState::TaskFailed]
    } else {
        vec![TaskState::TaskFailed]
    };
    assert_eq!(agent.states(&tid), states, "{}", a.what);
    assert!(process.expect_exit(secs(20)).await.success(), "{}", a.what);
    assert_eq!(
        images::containers_of(&tid),
        Vec::<String>::new(),
        "{}: no container",
        a.what
    );
    if let Some(v) = &a.volume {
        assert!(!volume_exists(v), "{}: volume {v} was created", a.what);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attacks_on_the_node_policy_are_refused_and_leave_nothing_in_docker() {
    let image = images::ensure_busybox();
    let node = Node::new();
    let agent = node.agent().await;
    let build = |app: MarathonApp| app.build(Era::Marathon110, &fixtures::executor_path());
    let data = node.data.display().to_string();

    // A named volume an earlier task (or an operator) made as a bind of /etc:
    // referring to it by name must not reach /etc.
    let planted = PlantedVolume::new();
    let planted_volume = planted.0.clone();
    let app_json_volume = unique("mdx-test-ext");
    let mesos_volume = unique("mdx-test-mesos");

    let mut attacks = vec![
        attack(
            "the app's env naming another policy file (none: allow all)",
            build(
                node.app("/own-policy", "true")
                    .env("MESOS_DOCKER_POLICY", "/nonexistent/policy.toml")
                    .label("docker.privileged", "true"),
            ),
            "node_settings",
            "MESOS_DOCKER_POLICY=/nonexistent/policy.toml",
        ),
        attack(
            "the app's env pointing the executor at another Docker daemon",
            build(
                node.app("/own-daemon", "true")
                    .env("DOCKER_HOST", "tcp://127.0.0.1:9"),
            ),
            "node_settings",
            "DOCKER_HOST=tcp://127.0.0.1:9",
        ),
        attack(
            "relative .. out of the sandbox",
            build(
                node.app("/dotdot-rel", "true")
                    .label("docker.volumes", "../../../../../../../../etc:/x:ro"),
            ),
            "allowed_host_paths",
            "/etc",
        ),
        attack(
            "absolute .. out of the allowed prefix",
            build(
                node.app("/dotdot-abs", "true")
                    .label("docker.volumes", &format!("{data}/../../../../../etc:/x")),
            ),
            "allowed_host_paths",
            "/etc",
        ),
        attack(
            "absolute .. through docker.param.volume",
            build(
                node.app("/dotdot-param", "true")
                    .label("docker.param.volume", &format!("{data}/../..:/x")),
            ),
            "allowed_host_paths",
            "host path",
        ),
        attack(
            "a symlink planted in the sandbox",
            plant(
                build(
                    node.app("/planted", "true")
                        .label("docker.volumes", "planted:/x"),
                ),
                "ln -s /etc planted",
            ),
            "allowed_host_paths",
            "resolves to /etc",
        ),
        attack(
            "a dangling symlink in the sandbox (Docker would create its target)",
            plant(
                build(
                    node.app("/dangling", "true")
                        .label("docker.volumes", "later/sub:/x"),
                ),
                "ln -s /root/mdx-test-not-there later",
            ),
            "allowed_host_paths",
            "/root/mdx-test-not-there/sub",
        ),
        attack(
            "an app JSON hostPath climbing out",
            with_app_volumes(
                node.app("/json-host", "true"),
                serde_json::json!([{"containerPath": "/x", "hostPath": "../../../../../../../../etc", "mode": "RO"}]),
            ),
            "allowed_host_paths",
            "/etc",
        ),
        attack(
            "cap-add SYS_ADMIN",
            build(
                node.app("/sysadmin", "true")
                    .label("docker.param.cap-add", "CAP_SYS_ADMIN"),
            ),
            "allowed_capabilities",
            "SYS_ADMIN",
        ),
        attack(
            "cap-add ALL",
            build(
                node.app("/all", "true")
                    .label("docker.param.cap-add", "all"),
            ),
            "allow_privileged",
            "cap-add ALL",
        ),
        attack(
            "a device via parameter",
            build(
                node.app("/device", "true")
                    .label("docker.param.device", "/dev/fuse"),
            ),
            "allow_devices",
            "/dev/fuse",
        ),
        attack(
            "privileged via the app JSON",
            {
                let mut d = DockerSpec::bridge(image, &[]);
                d.privileged = true;
                node.app("/json-priv", "true")
                    .docker(d)
                    .build(Era::Marathon07, &fixtures::executor_path())
            },
            "allow_privileged",
            "privileged",
        ),
        attack(
            "host network via label",
            build(node.app("/hostnet", "true").label("docker.network", "HOST")),
            "allow_host_network",
            "host networking",
        ),
        attack(
            "host network as a Mesos USER network named host",
            {
                let mut t = with_container(build(node.app("/usernet", "true")), image, vec![]);
                let c = t.1.container.as_mut().unwrap();
                c.docker.as_mut().unwrap().network =
                    Some(container_info::docker_info::Network::User as i32);
                c.network_infos = vec![NetworkInfo {
                    name: Some("host".into()),
                    ..Default::default()
                }];
                t
            },
            "allow_host_network",
            "host networking",
        ),
        attack(
            "a syslog log driver",
            build(
                node.app("/syslog", "true")
                    .label("docker.param.log-driver", "syslog"),
            ),
            "allowed_log_drivers",
            "syslog",
        ),
        attack(
            "a log destination on the default driver",
            build(node.app("/logdest", "true").label(
                "docker.param.log-opt",
                "syslog-address=unix:///var/run/docker.sock",
            )),
            "allowed_log_drivers",
            "syslog-address",
        ),
        Attack {
            reason: Reason::TaskInvalid,
            ..attack(
                "a Mesos SANDBOX_PATH climbing out",
                with_container(
                    build(node.app("/sandbox-path", "true")),
                    image,
                    vec![mesos_docker::proto::Volume {
                        container_path: "/x".into(),
                        mode: Some(volume::Mode::Rw as i32),
                        source: Some(volume::Source {
                            r#type: Some(volume::source::Type::SandboxPath as i32),
                            sandbox_path: Some(volume::source::SandboxPath {
                                r#type: Some(volume::source::sandbox_path::Type::Self_ as i32),
                                path: "../../../../etc".into(),
                            }),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }],
                ),
                "",
                "not inside the sandbox",
            )
        },
        Attack {
            reason: Reason::TaskInvalid,
            ..attack(
                "a device path climbing out of /dev",
                build(
                    node.app("/device-dotdot", "true")
                        .label("docker.param.device", "/dev/../etc/shadow"),
                ),
                "",
                "/dev/../etc/shadow",
            )
        },
        Attack {
            volume: Some(app_json_volume.clone()),
            ..attack(
                "a bind-type external volume in the app JSON",
                with_app_volumes(
                    node.app("/json-ext", "true"),
                    serde_json::json!([{"containerPath": "/x", "mode": "RW", "external": {
                        "name": app_json_volume, "provider": "dvdi",
                        "options": {"dvdi/driver": "local", "dvdi/type": "none", "dvdi/o": "bind", "dvdi/device": "/etc"}}}]),
                ),
                "allowed_host_paths",
                "/etc",
            )
        },
        Attack {
            volume: Some(mesos_volume.clone()),
            ..attack(
                "a bind-type Mesos DOCKER_VOLUME",
                with_container(
                    build(node.app("/mesos-vol", "true")),
                    image,
                    vec![docker_volume(
                        &mesos_volume,
                        &[("type", "none"), ("o", "bind"), ("device", "/etc")],
                    )],
                ),
                "allowed_host_paths",
                "/etc",
            )
        },
        attack(
            "a Mesos DOCKER_VOLUME of a host disk",
            with_container(
                build(node.app("/mesos-disk", "true")),
                image,
                vec![docker_volume(
                    &unique("mdx-test-disk"),
                    &[("type", "ext4"), ("device", "/dev/sda1")],
                )],
            ),
            "allowed_volume_drivers",
            "/dev/sda1",
        ),
        Attack {
            after_starting: true,
            ..attack(
                "an existing bind-type volume named by label",
                build(
                    node.app("/named", "true")
                        .label("docker.param.volume", &format!("{planted_volume}:/x")),
                ),
                "allowed_host_paths",
                "/etc",
            )
        },
        Attack {
            after_starting: true,
            ..attack(
                "the host network named by its id",
                build(
                    node.app("/netid", "true")
                        .label("docker.network", &host_network_id()[..12]),
                ),
                "allow_host_network",
                "host network",
            )
        },
    ];
    // The Mesos DOCKER_VOLUME and external volume cases name volumes that
    // exist only if the executor created them; the label case one that must
    // survive untouched.
    for a in attacks.drain(..) {
        run_attack(&agent, a).await;
    }
    assert_eq!(
        images::docker(&[
            "volume",
            "inspect",
            "--format",
            "{{index .Options \"device\"}}",
            &planted_volume
        ]),
        "/etc"
    );
}

/// A named volume binding /etc, made as an operator (or an earlier, looser
/// policy) could have left it; removed however the test ends.
struct PlantedVolume(String);

impl PlantedVolume {
    fn new() -> PlantedVolume {
        let name = unique("mdx-test-bind-etc");
        images::docker(&[
            "volume",
            "create",
            "--driver",
            "local",
            "--opt",
            "type=none",
            "--opt",
            "o=bind",
            "--opt",
            "device=/etc",
            &name,
        ]);
        PlantedVolume(name)
    }
}

impl Drop for PlantedVolume {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["volume", "rm", &self.0])
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_policy_allows_still_runs_and_mounts_the_resolved_path() {
    let node = Node::new();
    let agent = node.agent().await;
    let build = |app: MarathonApp| app.build(Era::Marathon110, &fixtures::executor_path());
    let data = node.data.display().to_string();
    let run = |task: (ExecutorInfo, TaskInfo)| {
        let agent = &agent;
        async move {
            let tid = task.1.task_id.value.clone();
            let process = agent.launch(task.0, task.1).await;
            let done = agent
                .wait_for_state(&tid, TaskState::TaskFinished, secs(60))
                .await;
            assert!(process.expect_exit(secs(20)).await.success(), "{done:?}");
        }
    };

    // The allowed directory, written through a bind.
    run(build(
        node.app("/data", "sh -c 'echo direct > /data/direct'")
            .label("docker.volumes", &format!("{data}:/data")),
    ))
    .await;
    assert_eq!(read(&node.data.join("direct")), "direct\n");

    // Docker is handed a pin of the checked directory (no name a task can
    // swap), taken down once the container started; the container keeps
    // its mount.
    let (executor, task) = build(
        node.app("/pinned", "sleep 60")
            .label("docker.volumes", &format!("{data}:/data")),
    );
    let tid = task.task_id.value.clone();
    let process = agent.launch(executor, task).await;
    agent
        .wait_for_state(&tid, TaskState::TaskRunning, secs(60))
        .await;
    let id = images::containers_of(&tid).remove(0);
    let binds = images::docker(&["inspect", "--format", "{{json .HostConfig.Binds}}", &id]);
    assert!(
        binds.contains(mesos_docker::exec::policy::PINS_DIR),
        "{binds}"
    );
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(mesos_docker::exec::policy::PINS_DIR),
        "pins are down: {mounts}"
    );
    assert_eq!(
        images::docker(&["exec", &id, "cat", "/data/direct"]),
        "direct"
    );
    agent.kill_and_expect_exit(&process, &tid, secs(1)).await;

    // A symlink in the sandbox into the allowed directory: Docker is handed
    // the resolved path, and the write lands there.
    run(plant(
        build(
            node.app("/link", "sh -c 'echo linked > /data/linked'")
                .label("docker.volumes", "into-data:/data"),
        ),
        &format!("ln -s {data} into-data"),
    ))
    .await;
    assert_eq!(read(&node.data.join("linked")), "linked\n");

    // A bind-type named volume of the allowed directory, and a listed capability.
    let name = unique("mdx-test-allowed");
    let image = images::ensure_busybox();
    run(with_container(
        build(
            node.bare_app("/vol", "sh -c 'echo vol > /v/vol'")
                .label("docker.param.cap-add", "net_admin"),
        ),
        image,
        vec![docker_volume(
            &name,
            &[
                ("type", "none"),
                ("o", "bind"),
                ("device", &format!("{data}/../data")),
            ],
        )],
    ))
    .await;
    assert_eq!(read(&node.data.join("vol")), "vol\n");
    assert_eq!(
        images::docker(&[
            "volume",
            "inspect",
            "--format",
            "{{index .Options \"device\"}}",
            &name
        ]),
        data,
        "the volume was created with the resolved path"
    );
    images::docker(&["volume", "rm", &name]);

    // Relative paths stay in the sandbox.
    run(build(
        node.app("/rel", "sh -c 'echo rel > /s/x'")
            .label("docker.volumes", "a/../b:/s"),
    ))
    .await;
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A registry serving the test's busybox image (from `docker save`), that
/// holds its first manifest answer until the test releases it: the window
/// between the policy's check and the container's creation, made wide.
struct HeldRegistry {
    port: u16,
    asked: std::sync::Arc<tokio::sync::Notify>,
    release: std::sync::Arc<tokio::sync::Semaphore>,
    server: tokio::task::JoinHandle<()>,
}

impl HeldRegistry {
    async fn start() -> HeldRegistry {
        use http_body_util::Full;
        use hyper::body::Bytes;
        use sha2::{Digest, Sha256};
        use std::collections::HashMap;
        use std::sync::Arc;

        let dir = tempfile::tempdir().unwrap();
        let saved = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "docker save {} | tar -x -C {}",
                images::ensure_busybox(),
                dir.path().display()
            ))
            .status()
            .unwrap();
        assert!(saved.success(), "docker save");
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap())
                .unwrap();
        let read = |name: &serde_json::Value| {
            std::fs::read(dir.path().join(name.as_str().unwrap())).unwrap()
        };
        let digest = |b: &[u8]| format!("sha256:{}", hex::encode(Sha256::digest(b)));
        let config = read(&index[0]["Config"]);
        let layers: Vec<Vec<u8>> = index[0]["Layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(read)
            .collect();
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": config.len(),
                "digest": digest(&config),
            },
            // Uncompressed layers: the daemon detects the compression itself.
            "layers": layers.iter().map(|l| serde_json::json!({
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": l.len(),
                "digest": digest(l),
            })).collect::<Vec<_>>(),
        })
        .to_string()
        .into_bytes();
        let mut blobs: HashMap<String, Bytes> = HashMap::new();
        blobs.insert(digest(&config), Bytes::from(config));
        for l in layers {
            blobs.insert(digest(&l), Bytes::from(l));
        }
        let blobs = Arc::new(blobs);
        let manifest = Bytes::from(manifest);
        let asked = Arc::new(tokio::sync::Notify::new());
        let release = Arc::new(tokio::sync::Semaphore::new(0));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (a, r) = (asked.clone(), release.clone());
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (blobs, manifest, asked, release) =
                    (blobs.clone(), manifest.clone(), a.clone(), r.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| {
                            let (blobs, manifest, asked, release) = (
                                blobs.clone(),
                                manifest.clone(),
                                asked.clone(),
                                release.clone(),
                            );
                            async move {
                                let path = req.uri().path().to_string();
                                let ok = |body: Bytes, kind: &str| {
                                    hyper::Response::builder()
                                        .header("Content-Type", kind)
                                        .header("Docker-Distribution-API-Version", "registry/2.0")
                                        .body(Full::new(body))
                                        .unwrap()
                                };
                                let response = if path == "/v2/" {
                                    ok(Bytes::from_static(b"{}"), "application/json")
                                } else if path.contains("/manifests/") {
                                    asked.notify_one();
                                    // Held once, then every answer is immediate.
                                    release.acquire().await.unwrap().forget();
                                    release.add_permits(1);
                                    let mut r = ok(
                                        manifest.clone(),
                                        "application/vnd.docker.distribution.manifest.v2+json",
                                    );
                                    let d = format!(
                                        "sha256:{}",
                                        hex::encode(Sha256::digest(&manifest))
                                    );
                                    r.headers_mut()
                                        .insert("Docker-Content-Digest", d.parse().unwrap());
                                    r
                                } else if let Some(blob) =
                                    path.split("/blobs/").nth(1).and_then(|d| blobs.get(d))
                                {
                                    ok(blob.clone(), "application/octet-stream")
                                } else {
                                    hyper::Response::builder()
                                        .status(404)
                                        .body(Full::new(Bytes::new()))
                                        .unwrap()
                                };
                                Ok::<_, std::convert::Infallible>(response)
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        HeldRegistry {
            port,
            asked,
            release,
            server,
        }
    }
}

/// The race pinning closes, end to end: the checked directory is swapped for
/// a symlink to /etc while the image is being pulled (as another task with
/// the allowed prefix mounted read-write could); the bind must not reach
/// /etc, the task fails TASK_UNAUTHORIZED, and no container is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bind_swapped_for_a_symlink_after_the_check_is_refused() {
    let node = Node::new();
    let agent = node.agent().await;
    let registry = HeldRegistry::start().await;
    let app_dir = node.data.join("app");
    std::fs::create_dir_all(&app_dir).unwrap();
    let image = format!("127.0.0.1:{}/race/busybox:1", registry.port);
    let (executor, task) = MarathonApp::new("/race", &format!("{image} true"))
        .label("docker.volumes", &format!("{}:/data", app_dir.display()))
        .build(Era::Marathon110, &fixtures::executor_path());
    let tid = task.task_id.value.clone();
    let process = agent.launch(executor, task).await;
    tokio::time::timeout(secs(60), registry.asked.notified())
        .await
        .expect("the executor pulls the image after the check");
    std::fs::rename(&app_dir, node.data.join("app-moved")).unwrap();
    std::os::unix::fs::symlink("/etc", &app_dir).unwrap();
    registry.release.add_permits(1);
    let failed = agent
        .wait_for_state(&tid, TaskState::TaskFailed, secs(120))
        .await;
    let message = failed.message().to_string();
    assert_eq!(failed.reason(), Reason::TaskUnauthorized, "{message}");
    assert!(message.contains("`allowed_host_paths`"), "{message}");
    assert!(
        message.contains("changed after the policy checked it") && message.contains("a symlink"),
        "{message}"
    );
    assert!(process.expect_exit(secs(20)).await.success());
    assert_eq!(
        images::containers_of(&tid),
        Vec::<String>::new(),
        "no container"
    );
    registry.server.abort();
    let _ = std::process::Command::new("docker")
        .args(["rmi", &image])
        .output();
}
