use std::path::Path;

use super::*;
use crate::proto::{
    AgentId, CommandInfo, ContainerInfo, Environment, ExecutorId, Label, Labels, Resource, TaskId,
    container_info::DockerInfo, container_info::docker_info, environment::Variable, value,
};

fn scalar_resource(name: &str, v: f64) -> Resource {
    Resource {
        name: name.into(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value: v }),
        ..Default::default()
    }
}

fn ports_resource(ranges: &[(u64, u64)]) -> Resource {
    Resource {
        name: "ports".into(),
        r#type: value::Type::Ranges as i32,
        ranges: Some(value::Ranges {
            range: ranges
                .iter()
                .map(|&(begin, end)| value::Range { begin, end })
                .collect(),
        }),
        ..Default::default()
    }
}

fn task(ports: &[(u64, u64)], data: Option<&str>) -> TaskInfo {
    TaskInfo {
        name: "redis".into(),
        task_id: TaskId {
            value: "redis.1234".into(),
        },
        agent_id: AgentId { value: "S1".into() },
        resources: vec![
            scalar_resource("cpus", 0.5),
            scalar_resource("mem", 128.0),
            ports_resource(ports),
        ],
        data: data.map(|d| d.as_bytes().to_vec()),
        ..Default::default()
    }
}

fn executor(env: &[(&str, &str)]) -> ExecutorInfo {
    ExecutorInfo {
        executor_id: ExecutorId {
            value: "marathon-redis.1234".into(),
        },
        command: Some(CommandInfo {
            value: Some("chmod ug+rx '/var/lib/mesos/executors/docker' && exec '/var/lib/mesos/executors/docker' redis".into()),
            environment: (!env.is_empty()).then(|| Environment {
                variables: env
                    .iter()
                    .map(|(k, v)| Variable {
                        name: k.to_string(),
                        value: Some(v.to_string()),
                        ..Default::default()
                    })
                    .collect(),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn spec_of(argv: &[&str], exec: &ExecutorInfo, t: &TaskInfo) -> Result<ContainerSpec, SpecError> {
    let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
    container_spec(&Input {
        argv: &argv,
        executor: exec,
        task: t,
        framework_id: "fw-1",
        sandbox: Path::new("/var/lib/mesos/slaves/S1/sandbox"),
        agent_hostname: Some("agent-1.example"),
        cfs_quota: false,
    })
}

fn env_of(spec: &ContainerSpec) -> BTreeMap<&str, &str> {
    spec.env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

fn binding(host_port: u16, container_port: u16, protocol: Protocol) -> PortBinding {
    PortBinding {
        host_port,
        container_port,
        protocol,
    }
}

#[test]
fn marathon_2013_cmd_is_the_image_and_ports_wait_for_exposed_ones() {
    let t = task(
        &[(31000, 31001)],
        Some(r#"{"id":"redis","cmd":"redis","env":{"A":"1"}}"#),
    );
    let s = spec_of(&["redis"], &executor(&[]), &t).unwrap();
    assert_eq!(s.image, "redis");
    assert!(s.command.is_empty(), "the image's own CMD runs");
    assert_eq!(s.network, Network::Bridge);
    assert!(s.port_bindings.is_empty());
    assert_eq!(s.spare_host_ports, vec![31000, 31001]);
    assert_eq!(s.cpu_shares, Some(512));
    assert_eq!(
        s.memory_bytes,
        Some(128 * 1024 * 1024),
        "mem is MiB, not GiB"
    );
    let env = env_of(&s);
    assert_eq!(env.get("PORT0"), Some(&"31000"));
    assert_eq!(env.get("PORT1"), Some(&"31001"));
    assert_eq!(env.get("PORT"), Some(&"31000"));
    assert_eq!(env.get("PORTS"), Some(&"31000,31001"));
    assert_eq!(env.get("A"), Some(&"1"));
    assert_eq!(env.get("MARATHON_APP_ID"), Some(&"redis"));
    assert_eq!(env.get("MESOS_TASK_ID"), Some(&"redis.1234"));
    assert_eq!(env.get("HOST"), Some(&"agent-1.example"));
    assert_eq!(env.get("MESOS_SANDBOX"), Some(&SANDBOX_IN_CONTAINER));
    assert_eq!(
        s.binds,
        vec![Bind {
            host: "/var/lib/mesos/slaves/S1/sandbox".into(),
            container: SANDBOX_IN_CONTAINER.into(),
            read_only: false
        }]
    );
    assert_eq!(s.labels[LABEL_TASK], "redis.1234");
    assert_eq!(s.labels[LABEL_EXECUTOR], "marathon-redis.1234");
    assert_eq!(s.labels[LABEL_FRAMEWORK], "fw-1");
    assert_eq!(s.labels[LABEL_AGENT], "S1");
    assert!(!s.name.starts_with("mesos-"));
}

#[test]
fn the_rest_of_argv_is_the_command() {
    let s = spec_of(
        &["busybox", "sh", "-c", "exit 3"],
        &executor(&[]),
        &task(&[], None),
    )
    .unwrap();
    assert_eq!(s.image, "busybox");
    assert_eq!(s.command, vec!["sh", "-c", "exit 3"]);
}

#[test]
fn the_executor_environment_wins_and_secrets_never_pass() {
    let exec = executor(&[
        ("PORT0", "31005"),
        ("HOST", "declared-host"),
        ("MARATHON_APP_ID", "/redis"),
        ("MESOS_EXECUTOR_AUTHENTICATION_TOKEN", "tok"),
    ]);
    let t = task(&[(31000, 31000)], Some(r#"{"env":{"FROM_JSON":"x"}}"#));
    let s = spec_of(&["redis"], &exec, &t).unwrap();
    let env = env_of(&s);
    assert_eq!(env.get("PORT0"), Some(&"31005"));
    assert_eq!(env.get("HOST"), Some(&"declared-host"));
    assert_eq!(
        env.get("FROM_JSON"),
        None,
        "declared environment replaces the app JSON's"
    );
    assert_eq!(env.get("MESOS_EXECUTOR_AUTHENTICATION_TOKEN"), None);
    assert_eq!(env.get("MESOS_SANDBOX"), Some(&SANDBOX_IN_CONTAINER));
}

#[test]
fn app_json_docker_settings_apply_and_argv_is_the_command() {
    let app = r#"{"id":"/web","container":{"type":"DOCKER","docker":{
        "image":"nginx:1.25","network":"BRIDGE","privileged":false,
        "portMappings":[{"containerPort":80,"hostPort":0},{"containerPort":53,"protocol":"udp,tcp"}],
        "parameters":[{"key":"env","value":"X=1"},{"key":"label","value":"team=web"},{"key":"cap-add","value":"NET_ADMIN"}]},
        "volumes":[{"containerPath":"/data","hostPath":"data","mode":"RO"},{"containerPath":"/etc/x","hostPath":"/etc/x","mode":"RW"}]}}"#;
    let t = task(&[(31000, 31002)], Some(app));
    let s = spec_of(&["nginx", "-g", "daemon off;"], &executor(&[]), &t).unwrap();
    assert_eq!(s.image, "nginx:1.25");
    assert_eq!(s.command, vec!["nginx", "-g", "daemon off;"]);
    assert_eq!(s.network, Network::Bridge);
    assert_eq!(
        s.port_bindings,
        vec![
            binding(31000, 80, Protocol::Tcp),
            binding(31001, 53, Protocol::Udp),
            binding(31001, 53, Protocol::Tcp)
        ]
    );
    assert_eq!(s.spare_host_ports, vec![31002]);
    assert_eq!(env_of(&s).get("X"), Some(&"1"));
    assert_eq!(s.labels.get("team").map(String::as_str), Some("web"));
    assert_eq!(s.options.cap_add, vec!["NET_ADMIN"]);
    assert_eq!(
        s.binds[1].host, "/var/lib/mesos/slaves/S1/sandbox/data",
        "relative host paths live in the sandbox"
    );
    assert!(s.binds[1].read_only);
    assert!(!s.binds[2].read_only);
}

#[test]
fn marathon_defaults_docker_apps_to_host_networking() {
    let app = r#"{"container":{"docker":{"image":"redis"}}}"#;
    let s = spec_of(&[], &executor(&[]), &task(&[(31000, 31000)], Some(app))).unwrap();
    assert_eq!(s.network, Network::Host);
    assert!(s.port_bindings.is_empty() && s.spare_host_ports.is_empty());
}

#[test]
fn task_labels_carry_options_for_marathon_1_3_and_later() {
    let mut t = task(&[(31000, 31001)], None);
    t.labels = Some(Labels {
        labels: [
            ("docker.network", "bridge"),
            ("docker.ports", "6379, 53/udp"),
            ("docker.privileged", "true"),
            ("docker.param.env.1", "A=1"),
            ("docker.param.env.2", "B=2"),
            ("docker.volumes", "/srv:/srv:ro"),
            ("owner", "ops"),
        ]
        .iter()
        .map(|(k, v)| Label {
            key: k.to_string(),
            value: Some(v.to_string()),
        })
        .collect(),
    });
    let s = spec_of(&["redis"], &executor(&[]), &t).unwrap();
    assert_eq!(
        s.port_bindings,
        vec![
            binding(31000, 6379, Protocol::Tcp),
            binding(31001, 53, Protocol::Udp)
        ]
    );
    assert!(s.privileged);
    let env = env_of(&s);
    assert_eq!((env.get("A"), env.get("B")), (Some(&"1"), Some(&"2")));
    assert!(s.binds.iter().any(|b| b.host == "/srv" && b.read_only));
}

#[test]
fn mesos_container_info_on_the_task_needs_allocated_host_ports() {
    let mut t = task(&[(31000, 31000)], None);
    t.container = Some(ContainerInfo {
        r#type: crate::proto::container_info::Type::Docker as i32,
        docker: Some(DockerInfo {
            image: "redis:7".into(),
            network: Some(docker_info::Network::Bridge as i32),
            port_mappings: vec![docker_info::PortMapping {
                host_port: 31000,
                container_port: 6379,
                protocol: None,
            }],
            ..Default::default()
        }),
        ..Default::default()
    });
    let s = spec_of(&[], &executor(&[]), &t).unwrap();
    assert_eq!(s.image, "redis:7");
    assert_eq!(s.port_bindings, vec![binding(31000, 6379, Protocol::Tcp)]);

    t.container
        .as_mut()
        .unwrap()
        .docker
        .as_mut()
        .unwrap()
        .port_mappings[0]
        .host_port = 8080;
    let err = spec_of(&[], &executor(&[]), &t).unwrap_err();
    assert_eq!(
        err,
        SpecError::PortNotAllocated {
            port: 8080,
            allocated: "31000".into()
        }
    );
}

#[test]
fn bad_specs_are_refused_with_a_reason() {
    let e = executor(&[]);
    let label_task = |k: &str, v: &str| {
        let mut t = task(&[(31000, 31000)], None);
        t.labels = Some(Labels {
            labels: vec![Label {
                key: k.into(),
                value: Some(v.into()),
            }],
        });
        t
    };
    let cases: Vec<(&str, Result<ContainerSpec, SpecError>, &str)> = vec![
        ("no argv", spec_of(&[], &e, &task(&[], None)), "no image"),
        (
            "not an app",
            spec_of(&["x"], &e, &task(&[], Some(r#"{"container": 5}"#))),
            "not a Marathon app",
        ),
        (
            "unsupported parameter",
            spec_of(
                &["x"],
                &e,
                &task(
                    &[],
                    Some(
                        r#"{"container":{"docker":{"image":"x","parameters":[{"key":"pid","value":"host"}]}}}"#,
                    ),
                ),
            ),
            "`pid` is not supported; supported: add-host",
        ),
        (
            "malformed parameter",
            spec_of(
                &["x"],
                &e,
                &task(
                    &[],
                    Some(
                        r#"{"container":{"docker":{"image":"x","parameters":[{"key":"env","value":"NOEQUALS"}]}}}"#,
                    ),
                ),
            ),
            "expected NAME=VALUE",
        ),
        (
            "more mappings than ports",
            spec_of(
                &["x"],
                &e,
                &task(
                    &[(31000, 31000)],
                    Some(
                        r#"{"container":{"docker":{"image":"x","network":"BRIDGE","portMappings":[{"containerPort":1},{"containerPort":2}]}}}"#,
                    ),
                ),
            ),
            "2 port mappings but the task has 1 host ports",
        ),
        (
            "container port zero",
            spec_of(
                &["x"],
                &e,
                &task(
                    &[(31000, 31000)],
                    Some(
                        r#"{"container":{"docker":{"image":"x","network":"BRIDGE","portMappings":[{"containerPort":0}]}}}"#,
                    ),
                ),
            ),
            "containerPort 0 is not a port number",
        ),
        (
            "bad port label",
            spec_of(&["x"], &e, &label_task("docker.ports", "http")),
            "`http` is not a port number",
        ),
        (
            "bad protocol",
            spec_of(&["x"], &e, &label_task("docker.ports", "80/sctp")),
            "neither tcp nor udp",
        ),
        (
            "unknown docker label",
            spec_of(&["x"], &e, &label_task("docker.netwrok", "host")),
            "unknown docker.* label",
        ),
        (
            "volume without host path",
            spec_of(
                &["x"],
                &e,
                &task(
                    &[],
                    Some(
                        r#"{"container":{"docker":{"image":"x"},"volumes":[{"containerPath":"/d"}]}}"#,
                    ),
                ),
            ),
            "has neither hostPath nor external",
        ),
        (
            "legacy options",
            spec_of(
                &["x"],
                &e,
                &task(
                    &[],
                    Some(r#"{"container":{"image":"docker:///redis","options":["-p","80:80"]}}"#),
                ),
            ),
            "Marathon 0.6 container options",
        ),
    ];
    for (name, result, want) in cases {
        let err = result.expect_err(name).to_string();
        assert!(
            err.contains(want),
            "{name}: {err:?} should contain {want:?}"
        );
    }
}

#[test]
fn marathon_0_6_image_urls_are_understood() {
    let t = task(
        &[],
        Some(r#"{"container":{"image":"docker:///johncosta/redis","options":[]}}"#),
    );
    let s = spec_of(&["redis-server"], &executor(&[]), &t).unwrap();
    assert_eq!(s.image, "johncosta/redis");
    assert_eq!(s.command, vec!["redis-server"]);
}

#[test]
fn spare_ports_bind_to_exposed_ports_lowest_first() {
    let mut s = spec_of(&["redis"], &executor(&[]), &task(&[(31000, 31001)], None)).unwrap();
    bind_exposed_ports(
        &mut s,
        &[
            (8080, Protocol::Tcp),
            (6379, Protocol::Tcp),
            (6379, Protocol::Tcp),
        ],
    );
    assert_eq!(
        s.port_bindings,
        vec![
            binding(31000, 6379, Protocol::Tcp),
            binding(31001, 8080, Protocol::Tcp)
        ]
    );
    assert!(s.spare_host_ports.is_empty());
}

#[test]
fn names_and_resources_stay_within_docker_rules() {
    assert_eq!(container_name("web/app.1 2"), "mdx.web_app.1_2");
    assert_eq!(container_name("mesos-abc"), "mdx.mesos-abc");
    let mut t = task(&[], None);
    t.resources = vec![scalar_resource("cpus", 0.001)];
    let s = spec_of(&["x"], &executor(&[]), &t).unwrap();
    assert_eq!(s.cpu_shares, Some(MIN_CPU_SHARES));
    assert_eq!(s.memory_bytes, None, "no mem resource, no limit");
}

#[test]
fn parameter_sizes_follow_docker_run() {
    assert_eq!(params::parse_size("64m"), Ok(64 << 20));
    assert_eq!(params::parse_size("1g"), Ok(1 << 30));
    assert_eq!(params::parse_size("512"), Ok(512));
    assert_eq!(params::parse_size("2kb"), Ok(2048));
    assert!(params::parse_size("lots").is_err());
}

#[test]
fn limits_cap_and_requests_reserve() {
    let mut t = task(&[], None);
    t.limits = [
        ("cpus".to_string(), value::Scalar { value: 2.0 }),
        ("mem".to_string(), value::Scalar { value: 256.0 }),
    ]
    .into();
    let s = spec_of(&["x"], &executor(&[]), &t).unwrap();
    assert_eq!(s.cpu_shares, Some(512), "shares follow the request");
    assert_eq!(s.nano_cpus, Some(2_000_000_000));
    assert_eq!(s.memory_bytes, Some(256 << 20));
    assert_eq!(s.memory_reservation, Some(128 << 20));

    t.limits = [
        (
            "cpus".to_string(),
            value::Scalar {
                value: f64::INFINITY,
            },
        ),
        (
            "mem".to_string(),
            value::Scalar {
                value: f64::INFINITY,
            },
        ),
    ]
    .into();
    let s = spec_of(&["x"], &executor(&[]), &t).unwrap();
    assert_eq!(
        (s.nano_cpus, s.memory_bytes),
        (None, None),
        "infinite: no cap"
    );
    assert_eq!(s.memory_reservation, Some(128 << 20));
}

#[test]
fn cfs_quota_caps_cpu_at_the_request_when_asked() {
    let mut t = task(&[], None);
    let argv = vec!["x".to_string()];
    let exec = executor(&[]);
    let input = |t: &TaskInfo, cfs| {
        container_spec(&Input {
            argv: &argv,
            executor: &exec,
            task: t,
            framework_id: "fw",
            sandbox: Path::new("/sb"),
            agent_hostname: None,
            cfs_quota: cfs,
        })
        .unwrap()
    };
    assert_eq!(input(&t, false).nano_cpus, None);
    assert_eq!(input(&t, true).nano_cpus, Some(500_000_000));
    t.labels = Some(Labels {
        labels: vec![Label {
            key: "docker.cfs-quota".into(),
            value: Some("false".into()),
        }],
    });
    assert_eq!(input(&t, true).nano_cpus, None, "the task's label wins");
}

#[test]
fn volumes_of_every_supported_kind() {
    use crate::proto::{Parameter, Parameters, Volume, volume};
    let app = r#"{"container":{"docker":{"image":"x"},"volumes":[
        {"containerPath":"/ext","external":{"name":"pgdata","provider":"dvdi","options":{"dvdi/driver":"local","dvdi/type":"tmpfs"}},"mode":"RW"}]}}"#;
    let mut t = task(&[], Some(app));
    let vol = |path: &str, mode: volume::Mode, source: volume::Source| Volume {
        container_path: path.into(),
        mode: Some(mode as i32),
        source: Some(source),
        ..Default::default()
    };
    t.container = Some(ContainerInfo {
        r#type: crate::proto::container_info::Type::Docker as i32,
        hostname: Some("web-1".into()),
        volumes: vec![
            vol(
                "/cache",
                volume::Mode::Rw,
                volume::Source {
                    r#type: Some(volume::source::Type::DockerVolume as i32),
                    docker_volume: Some(volume::source::DockerVolume {
                        driver: Some("local".into()),
                        name: "cache".into(),
                        driver_options: Some(Parameters {
                            parameter: vec![Parameter {
                                key: "type".into(),
                                value: "tmpfs".into(),
                            }],
                        }),
                    }),
                    ..Default::default()
                },
            ),
            vol(
                "/etc/app",
                volume::Mode::Ro,
                volume::Source {
                    r#type: Some(volume::source::Type::HostPath as i32),
                    host_path: Some(volume::source::HostPath {
                        path: "/etc/app".into(),
                    }),
                    ..Default::default()
                },
            ),
            vol(
                "scratch",
                volume::Mode::Rw,
                volume::Source {
                    r#type: Some(volume::source::Type::SandboxPath as i32),
                    sandbox_path: Some(volume::source::SandboxPath {
                        r#type: Some(volume::source::sandbox_path::Type::Self_ as i32),
                        path: "tmp".into(),
                    }),
                    ..Default::default()
                },
            ),
        ],
        ..Default::default()
    });
    let s = spec_of(&[], &executor(&[]), &t).unwrap();
    assert_eq!(s.options.hostname.as_deref(), Some("web-1"));
    let names: Vec<(&str, &str, Option<&str>)> = s
        .volumes
        .iter()
        .map(|v| (v.name.as_str(), v.container.as_str(), v.driver.as_deref()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("pgdata", "/ext", Some("local")),
            ("cache", "/cache", Some("local"))
        ]
    );
    assert_eq!(
        s.volumes[0].driver_options.get("type").map(String::as_str),
        Some("tmpfs")
    );
    assert!(s.binds.iter().any(|b| b.host == "/etc/app" && b.read_only));
    assert!(
        s.binds
            .iter()
            .any(|b| b.host == "/var/lib/mesos/slaves/S1/sandbox/tmp"
                && b.container == "/mnt/mesos/sandbox/scratch")
    );

    // What a custom executor cannot honour is named.
    t.container.as_mut().unwrap().volumes = vec![vol(
        "/s",
        volume::Mode::Ro,
        volume::Source {
            r#type: Some(volume::source::Type::Secret as i32),
            ..Default::default()
        },
    )];
    let err = spec_of(&[], &executor(&[]), &t).unwrap_err().to_string();
    assert!(err.contains("SECRET volumes are not supported"), "{err}");
}

/// A SECRET variable cannot be resolved here; dropping it silently would run
/// the task without it, so the task is refused naming the variable, and the
/// message never carries the secret's own bytes.
#[test]
fn a_secret_environment_variable_is_refused_by_name() {
    use crate::proto::environment::variable;
    let mut exec = executor(&[("PORT0", "31005")]);
    let env = exec.command.as_mut().unwrap().environment.as_mut().unwrap();
    env.variables.push(Variable {
        name: "DB_PASSWORD".into(),
        r#type: Some(variable::Type::Secret as i32),
        // A real SECRET carries a `secret` (not modelled here); a value set
        // anyway must not leak into the message either.
        value: Some("hunter2-plaintext".into()),
    });
    let err = spec_of(&["redis"], &exec, &task(&[(31000, 31000)], None)).unwrap_err();
    assert_eq!(err, SpecError::SecretEnv("DB_PASSWORD".into()));
    let message = err.to_string();
    assert!(message.contains("DB_PASSWORD"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}

/// Marathon's `{"secret": …}` env values in the app JSON are refused too.
#[test]
fn a_secret_reference_in_the_app_json_env_is_refused_by_name() {
    let t = task(
        &[(31000, 31000)],
        Some(r#"{"env":{"PLAIN":"x","API_KEY":{"secret":"secret0"}}}"#),
    );
    let err = spec_of(&["redis"], &executor(&[]), &t).unwrap_err();
    assert_eq!(err, SpecError::SecretEnv("API_KEY".into()));
}

fn with_labels(pairs: &[(&str, &str)]) -> TaskInfo {
    let mut t = task(&[], None);
    t.labels = Some(Labels {
        labels: pairs
            .iter()
            .map(|(k, v)| Label {
                key: k.to_string(),
                value: Some(v.to_string()),
            })
            .collect(),
    });
    t
}

/// What reaches the policy is folded text with one spelling per thing, so
/// its rules compare what Docker will be given.
#[test]
fn host_paths_and_names_arrive_folded() {
    let sb = "/var/lib/mesos/slaves/S1/sandbox";
    for (label, value, host) in [
        (
            "docker.volumes",
            "../../../../../../etc:/x",
            "/etc".to_string(),
        ),
        ("docker.volumes", "a/./b/../c:/x", format!("{sb}/a/c")),
        (
            "docker.volumes",
            "/srv/data/../../etc:/x:ro",
            "/etc".to_string(),
        ),
        ("docker.param.volume", "/srv/data/../..:/x", "/".to_string()),
    ] {
        let s = spec_of(&["redis"], &executor(&[]), &with_labels(&[(label, value)])).unwrap();
        assert_eq!(s.binds.last().unwrap().host, host, "{label}={value}");
    }
    let app = r#"{"container":{"docker":{"image":"x"},"volumes":[{"containerPath":"/d","hostPath":"../../..","mode":"RW"}]}}"#;
    let s = spec_of(&[], &executor(&[]), &task(&[], Some(app))).unwrap();
    assert_eq!(s.binds[1].host, "/var/lib/mesos");

    let s = spec_of(
        &["redis"],
        &executor(&[]),
        &with_labels(&[
            ("docker.param.volume", "cache:/cache:ro"),
            ("docker.param.cap-add.1", "cap_sys_admin"),
            ("docker.param.cap-add.2", "Net_Raw"),
            ("docker.param.cap-drop", "CAP_MKNOD"),
        ]),
    )
    .unwrap();
    assert_eq!(
        s.volumes.len(),
        1,
        "docker run reads NAME:/path as a volume"
    );
    assert_eq!(
        (s.volumes[0].name.as_str(), s.volumes[0].driver.as_deref()),
        ("cache", None)
    );
    assert_eq!(s.options.cap_add, vec!["SYS_ADMIN", "NET_RAW"]);
    assert_eq!(s.options.cap_drop, vec!["MKNOD"]);
}

#[test]
fn paths_docker_would_misread_are_refused() {
    for (label, value, want) in [
        (
            "docker.param.volume",
            "./x:/x",
            "neither an absolute path nor a volume name",
        ),
        (
            "docker.param.device",
            "/dev/../etc/shadow",
            "expected a device path",
        ),
        ("docker.param.cap-add", "sys admin", "not a capability name"),
        ("docker.param.cap-add", "", "not a capability name"),
    ] {
        let err = spec_of(&["redis"], &executor(&[]), &with_labels(&[(label, value)]))
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{label}={value}: {err}");
    }
    let app = r#"{"container":{"docker":{"image":"x"},"volumes":[{"containerPath":"/d","hostPath":"/srv/data:/etc","mode":"RW"}]}}"#;
    let err = spec_of(&[], &executor(&[]), &task(&[], Some(app)))
        .unwrap_err()
        .to_string();
    assert!(err.contains("bind syntax"), "{err}");
}

#[test]
fn mesos_sandbox_paths_and_network_names_cannot_leave_their_kind() {
    use crate::proto::{NetworkInfo, Volume, volume};
    let sandbox_vol = |path: &str| Volume {
        container_path: "/s".into(),
        mode: Some(volume::Mode::Rw as i32),
        source: Some(volume::Source {
            r#type: Some(volume::source::Type::SandboxPath as i32),
            sandbox_path: Some(volume::source::SandboxPath {
                r#type: Some(volume::source::sandbox_path::Type::Self_ as i32),
                path: path.into(),
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    for (path, ok) in [
        ("tmp/../x", true),
        ("../..", false),
        ("a/../../b", false),
        ("/etc", false),
    ] {
        let mut t = task(&[], None);
        t.container = Some(ContainerInfo {
            volumes: vec![sandbox_vol(path)],
            ..Default::default()
        });
        let got = spec_of(&["redis"], &executor(&[]), &t);
        assert_eq!(got.is_ok(), ok, "{path}: {got:?}");
    }
    let user_network = |name: &str| {
        let mut t = task(&[], None);
        t.container = Some(ContainerInfo {
            docker: Some(DockerInfo {
                image: "redis".into(),
                network: Some(docker_info::Network::User as i32),
                ..Default::default()
            }),
            network_infos: vec![NetworkInfo {
                name: Some(name.into()),
                ..Default::default()
            }],
            ..Default::default()
        });
        spec_of(&[], &executor(&[]), &t)
    };
    assert_eq!(
        user_network("backend").unwrap().network,
        Network::User("backend".into())
    );
    assert_eq!(
        user_network("HOST").unwrap().network,
        Network::Host,
        "the policy sees host"
    );
    assert!(matches!(
        user_network("container:abc"),
        Err(SpecError::BadNetwork(_))
    ));
}
