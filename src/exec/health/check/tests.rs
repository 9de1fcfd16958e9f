use std::path::Path;

use serde_json::json;

use super::*;
use crate::proto::{
    AgentId, CommandInfo, Environment, ExecutorId, ExecutorInfo, Resource, TaskId,
    environment::Variable, health_check::HttpCheckInfo, health_check::TcpCheckInfo, value,
};

const HOST_PORTS: [u64; 2] = [31000, 31001];

fn task(data: Option<serde_json::Value>, hc: Option<HealthCheck>) -> TaskInfo {
    TaskInfo {
        name: "web".into(),
        task_id: TaskId {
            value: "web.1".into(),
        },
        agent_id: AgentId { value: "S1".into() },
        resources: vec![Resource {
            name: "ports".into(),
            r#type: value::Type::Ranges as i32,
            ranges: Some(value::Ranges {
                range: vec![value::Range {
                    begin: HOST_PORTS[0],
                    end: HOST_PORTS[1],
                }],
            }),
            ..Default::default()
        }],
        data: data.map(|d| d.to_string().into_bytes()),
        health_check: hc,
        ..Default::default()
    }
}

fn spec_for(t: &TaskInfo) -> ContainerSpec {
    let executor = ExecutorInfo {
        executor_id: ExecutorId {
            value: "marathon-web.1".into(),
        },
        ..Default::default()
    };
    let argv = vec!["busybox".to_string()];
    spec::container_spec(&spec::Input {
        argv: &argv,
        executor: &executor,
        task: t,
        framework_id: "fw",
        sandbox: Path::new("/sandbox"),
        agent_hostname: None,
        cfs_quota: false,
    })
    .expect("a valid spec")
}

/// An app (Marathon 0.7–1.1 JSON) on `network` mapping container ports 80
/// and 9000, with `checks` as its healthChecks.
fn app(network: &str, checks: serde_json::Value) -> serde_json::Value {
    json!({
        "id": "/web",
        "container": {"type": "DOCKER", "docker": {
            "image": "busybox",
            "network": network,
            "portMappings": [
                {"containerPort": 80, "hostPort": 0, "protocol": "tcp"},
                {"containerPort": 9000, "hostPort": 0, "protocol": "tcp"},
            ],
        }},
        "healthChecks": checks,
    })
}

fn from_app(network: &str, checks: serde_json::Value) -> Result<Option<Check>, CheckError> {
    let t = task(Some(app(network, checks)), None);
    for_task(&t, &spec_for(&t))
}

fn timing(delay: f64, interval: f64, timeout: f64, grace: f64, kill: Option<u32>) -> Timing {
    Timing {
        delay: Duration::from_secs_f64(delay),
        interval: Duration::from_secs_f64(interval),
        timeout: (timeout > 0.0).then(|| Duration::from_secs_f64(timeout)),
        grace: Duration::from_secs_f64(grace),
        kill_after: kill,
    }
}

#[test]
fn marathon_ports_land_where_the_app_listens() {
    let cases = [
        // portIndex picks the mapping; inside a bridge that is its container port.
        (
            "BRIDGE",
            json!([{"protocol": "HTTP", "portIndex": 0, "path": "/health"}]),
            Probe::Http {
                port: 80,
                path: "/health".into(),
                ipv6: false,
                statuses: vec![],
            },
        ),
        (
            "BRIDGE",
            json!([{"protocol": "TCP", "portIndex": 1}]),
            Probe::Tcp {
                port: 9000,
                ipv6: false,
            },
        ),
        // Host networking: the host port Marathon allocated.
        (
            "HOST",
            json!([{"protocol": "MESOS_TCP", "portIndex": 1}]),
            Probe::Tcp {
                port: 31001,
                ipv6: false,
            },
        ),
        // Defaults: HTTP, portIndex 0, path /.
        (
            "BRIDGE",
            json!([{}]),
            Probe::Http {
                port: 80,
                path: "/".into(),
                ipv6: false,
                statuses: vec![],
            },
        ),
        // A fixed host port that a mapping binds is reached at its container port.
        (
            "BRIDGE",
            json!([{"protocol": "TCP", "port": 31001}]),
            Probe::Tcp {
                port: 9000,
                ipv6: false,
            },
        ),
        (
            "BRIDGE",
            json!([{"protocol": "COMMAND", "command": {"value": "test -f /ok"}}]),
            Probe::Command {
                argv: vec!["sh".into(), "-c".into(), "test -f /ok".into()],
                env: vec![],
                shown: "test -f /ok".into(),
            },
        ),
    ];
    for (network, checks, want) in cases {
        let got = from_app(network, checks.clone())
            .unwrap_or_else(|e| panic!("{checks}: {e}"))
            .expect("a check");
        assert_eq!(got.probe, want, "{network} {checks}");
        assert_eq!(got.host_network, network == "HOST");
    }
}

#[test]
fn marathon_timing_and_its_defaults() {
    let got = from_app("BRIDGE", json!([{"protocol": "TCP"}]))
        .expect("valid")
        .expect("a check");
    assert_eq!(got.timing, timing(0.0, 60.0, 20.0, 300.0, Some(3)));

    let got = from_app(
        "BRIDGE",
        json!([{"protocol": "TCP", "gracePeriodSeconds": 2, "intervalSeconds": 0.5,
                "timeoutSeconds": 1, "maxConsecutiveFailures": 0, "delaySeconds": 1}]),
    )
    .expect("valid")
    .expect("a check");
    // maxConsecutiveFailures 0: Marathon never kills.
    assert_eq!(got.timing, timing(1.0, 0.5, 1.0, 2.0, None));
}

#[test]
fn marathon_mistakes_are_named() {
    let cases = [
        (
            json!([{"protocol": "HTTPS"}]),
            "HTTPS checks are not supported",
        ),
        (json!([{"protocol": "UDP"}]), "protocol `UDP` is not one of"),
        (
            json!([{"protocol": "TCP", "portIndex": 5}]),
            "portIndex 5 names no port: the task has 2 host port(s)",
        ),
        (
            json!([{"protocol": "COMMAND"}]),
            "protocol COMMAND needs command.value",
        ),
        (
            json!([{"protocol": "HTTP", "path": "health"}]),
            "the path `health` must start with `/`",
        ),
        (
            json!([{"protocol": "TCP", "intervalSeconds": -1}]),
            "intervalSeconds is -1; it must be a number of seconds ≥ 0",
        ),
    ];
    for (checks, want) in cases {
        let err = from_app("BRIDGE", checks.clone()).expect_err("invalid");
        assert!(
            err.to_string().contains(want),
            "{checks}: {err} lacks {want:?}"
        );
        assert!(
            err.to_string()
                .starts_with("health check (the app's healthChecks[0]): ")
        );
    }
}

#[test]
fn an_unmapped_bridge_port_is_refused() {
    // No portMappings: the host ports are bound to the image's EXPOSE later,
    // so no container port is known for the check.
    let data = json!({"id": "/web", "container": {"type": "DOCKER", "docker": {
        "image": "busybox", "network": "BRIDGE"}},
        "healthChecks": [{"protocol": "TCP"}]});
    let t = task(Some(data), None);
    let err = for_task(&t, &spec_for(&t)).expect_err("no mapping");
    assert!(
        err.to_string()
            .contains("portIndex 0 is host port 31000, which no port mapping binds"),
        "{err}"
    );
}

#[test]
fn no_check_anywhere_is_none() {
    let t = task(Some(app("BRIDGE", json!([]))), None);
    assert_eq!(for_task(&t, &spec_for(&t)), Ok(None));
    let t = task(None, None);
    assert_eq!(for_task(&t, &spec_for(&t)), Ok(None));
}

fn mesos_http(port: u32, path: Option<&str>) -> HealthCheck {
    HealthCheck {
        r#type: Some(health_check::Type::Http as i32),
        http: Some(HttpCheckInfo {
            port,
            path: path.map(String::from),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn task_info_check_wins_over_the_app_json() {
    let hc = HealthCheck {
        command: Some(CommandInfo {
            value: Some("true".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let t = task(Some(app("BRIDGE", json!([{"protocol": "TCP"}]))), Some(hc));
    let got = for_task(&t, &spec_for(&t))
        .expect("valid")
        .expect("a check");
    assert_eq!(got.probe.kind(), "COMMAND");
}

#[test]
fn mesos_defaults_and_values() {
    let got = from_mesos(&mesos_http(8080, None), false).expect("valid");
    assert_eq!(got.timing, timing(15.0, 10.0, 20.0, 10.0, Some(3)));
    assert_eq!(
        got.probe,
        Probe::Http {
            port: 8080,
            path: "/".into(),
            ipv6: false,
            statuses: vec![],
        }
    );
    let hc = HealthCheck {
        delay_seconds: Some(0.0),
        interval_seconds: Some(0.5),
        timeout_seconds: Some(0.0),
        grace_period_seconds: Some(0.0),
        consecutive_failures: Some(2),
        r#type: Some(health_check::Type::Tcp as i32),
        tcp: Some(TcpCheckInfo {
            port: 9000,
            protocol: Some(crate::proto::network_info::Protocol::IPv6 as i32),
        }),
        ..Default::default()
    };
    let got = from_mesos(&hc, true).expect("valid");
    // timeout 0: no limit.
    assert_eq!(got.timing, timing(0.0, 0.5, 0.0, 0.0, Some(2)));
    assert_eq!(
        got.probe,
        Probe::Tcp {
            port: 9000,
            ipv6: true
        }
    );
    assert!(got.host_network);
}

#[test]
fn mesos_commands_shell_and_argv() {
    let shell = HealthCheck {
        r#type: Some(health_check::Type::Command as i32),
        command: Some(CommandInfo {
            value: Some("curl -f localhost".into()),
            environment: Some(Environment {
                variables: vec![Variable {
                    name: "A".into(),
                    value: Some("1".into()),
                    ..Default::default()
                }],
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(
        from_mesos(&shell, false).expect("valid").probe,
        Probe::Command {
            argv: vec!["sh".into(), "-c".into(), "curl -f localhost".into()],
            env: vec!["A=1".into()],
            shown: "curl -f localhost".into(),
        }
    );
    let exec = HealthCheck {
        command: Some(CommandInfo {
            shell: Some(false),
            value: Some("/bin/test".into()),
            arguments: vec!["test".into(), "-f".into(), "/ok".into()],
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(
        from_mesos(&exec, false).expect("valid").probe,
        Probe::Command {
            argv: vec!["/bin/test".into(), "-f".into(), "/ok".into()],
            env: vec![],
            shown: "/bin/test -f /ok".into(),
        }
    );
}

#[test]
fn mesos_mistakes_are_named() {
    let mut https = mesos_http(443, None);
    if let Some(h) = https.http.as_mut() {
        h.scheme = Some("https".into());
    }
    let cases = [
        (
            HealthCheck::default(),
            "no type, and none of command, http or tcp is set",
        ),
        (
            HealthCheck {
                r#type: Some(health_check::Type::Tcp as i32),
                ..Default::default()
            },
            "type TCP needs `tcp`",
        ),
        (mesos_http(0, None), "port 0 is not a port number"),
        (mesos_http(70000, None), "port 70000 is not a port number"),
        (
            mesos_http(80, Some("x")),
            "the path `x` must start with `/`",
        ),
        (https, "HTTPS checks are not supported"),
        (
            HealthCheck {
                delay_seconds: Some(f64::NAN),
                ..mesos_http(80, None)
            },
            "delay_seconds is NaN",
        ),
    ];
    for (hc, want) in cases {
        let err = from_mesos(&hc, false).expect_err("invalid");
        assert!(err.to_string().contains(want), "{hc:?}: {err}");
        assert!(
            err.to_string()
                .starts_with("health check (TaskInfo.health_check): ")
        );
    }
}

#[test]
fn status_acceptance() {
    let default = mesos_http(80, None);
    let probe = from_mesos(&default, false).expect("valid").probe;
    for (code, ok) in [
        (199, false),
        (200, true),
        (302, true),
        (399, true),
        (400, false),
        (500, false),
    ] {
        assert_eq!(probe.accepts_status(code), ok, "{code}");
    }
    let mut only_204 = default.clone();
    if let Some(h) = only_204.http.as_mut() {
        h.statuses = vec![204];
    }
    let probe = from_mesos(&only_204, false).expect("valid").probe;
    assert!(probe.accepts_status(204));
    assert!(!probe.accepts_status(200));
}

#[test]
fn probes_name_themselves_in_messages() {
    let check = from_mesos(&mesos_http(80, Some("/health")), false).expect("valid");
    assert_eq!(
        crate::exec::health::watch::kill_message(&check, 3, "500"),
        "killed after 3 consecutive failed HTTP health checks (GET :80/health → 500)"
    );
    assert_eq!(
        crate::exec::health::watch::kill_message(&check, 1, "connection refused"),
        "killed after 1 failed HTTP health check (GET :80/health → connection refused)"
    );
}
