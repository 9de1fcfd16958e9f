//! The fixtures have the shapes Marathon's TaskBuilder gives them.
use crate::support;

use std::time::Duration;
use support::fixtures::{DockerSpec, Era, MarathonApp, executor_path, labels_map, port_ranges};

fn app() -> MarathonApp {
    MarathonApp::new("/db/redis", "mesos-docker-test/redis:latest")
        .ports(&[31000, 31001, 31005])
        .env("MODE", "test")
        .label("team", "infra")
        .resources(0.5, 128.0, 10.0)
        .kill_grace(Duration::from_secs(4))
}

fn env_of(e: &mesos_docker::proto::ExecutorInfo) -> Vec<(String, String)> {
    e.command
        .iter()
        .flat_map(|c| c.environment.iter())
        .flat_map(|e| &e.variables)
        .map(|v| (v.name.clone(), v.value.clone().unwrap_or_default()))
        .collect()
}

#[test]
fn common_shape_for_every_era() {
    let path = executor_path();
    for era in [Era::Marathon2013, Era::Marathon07, Era::Marathon110] {
        let (executor, task) = app().build(era, &path);
        assert_eq!(
            executor.executor_id.value,
            format!("marathon-{}", task.task_id.value)
        );
        let p = path.display();
        assert_eq!(
            executor.command.as_ref().unwrap().value.as_deref(),
            Some(
                format!("chmod ug+rx '{p}' && exec '{p}' mesos-docker-test/redis:latest").as_str()
            )
        );
        assert!(
            task.command.is_none(),
            "a task with an executor has no command"
        );
        assert_eq!(task.executor.as_ref(), Some(&executor));
        assert!(executor.container.is_none());
        let names: Vec<&str> = task.resources.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["cpus", "mem", "disk", "ports"]);
        let ranges = &task.resources[3].ranges.as_ref().unwrap().range;
        assert_eq!(
            ranges.iter().map(|r| (r.begin, r.end)).collect::<Vec<_>>(),
            [(31000, 31001), (31005, 31005)]
        );
    }
}

#[test]
fn marathon_2013_sends_app_json_and_no_environment() {
    let (executor, task) = app().build(Era::Marathon2013, &executor_path());
    assert!(env_of(&executor).is_empty());
    assert!(executor.command.unwrap().environment.is_none());
    let data: serde_json::Value = serde_json::from_slice(task.data.as_ref().unwrap()).unwrap();
    assert_eq!(data["cmd"], "mesos-docker-test/redis:latest");
    assert_eq!(data["env"]["MODE"], "test");
    assert_eq!(data["ports"], serde_json::json!([0, 0, 0]));
    assert!(task.kill_policy.is_none());
    assert!(task.task_id.value.starts_with("db_redis_0-"));
}

#[test]
fn marathon_07_sends_app_json_with_docker_and_environment() {
    let spec = DockerSpec {
        parameters: vec![("hostname".into(), "cache".into())],
        ..DockerSpec::bridge("mesos-docker-test/redis:latest", &[6379, 8080])
    };
    let (executor, task) = app().docker(spec).build(Era::Marathon07, &executor_path());
    let env = env_of(&executor);
    let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("PORT0"), Some("31000"));
    assert_eq!(get("PORT2"), Some("31005"));
    assert_eq!(get("PORT"), Some("31000"));
    assert_eq!(get("PORTS"), Some("31000,31001,31005"));
    assert_eq!(get("PORT_6379"), Some("31000"));
    assert_eq!(get("MESOS_TASK_ID"), Some(task.task_id.value.as_str()));
    assert_eq!(get("MARATHON_APP_ID"), Some("/db/redis"));
    assert_eq!(get("HOST"), Some("localhost"));
    assert_eq!(get("MODE"), Some("test"));
    assert!(get("MARATHON_APP_RESOURCE_CPUS").is_none());
    let data: serde_json::Value = serde_json::from_slice(task.data.as_ref().unwrap()).unwrap();
    let docker = &data["container"]["docker"];
    assert_eq!(docker["image"], "mesos-docker-test/redis:latest");
    assert_eq!(docker["network"], "BRIDGE");
    assert_eq!(docker["portMappings"][0]["containerPort"], 6379);
    assert_eq!(docker["portMappings"][0]["hostPort"], 0);
    assert_eq!(docker["parameters"][0]["key"], "hostname");
    assert!(task.kill_policy.is_none());
}

#[test]
fn marathon_110_sends_no_data_but_kill_policy_and_labels() {
    let (executor, task) = app().build(Era::Marathon110, &executor_path());
    assert!(task.data.is_none());
    assert_eq!(
        task.kill_policy.unwrap().grace_period.unwrap().nanoseconds,
        4_000_000_000
    );
    assert_eq!(labels_map(&task.labels)["team"], "infra");
    let env = env_of(&executor);
    assert!(env.contains(&("MARATHON_APP_RESOURCE_MEM".into(), "128.0".into())));
    assert!(env.contains(&("MARATHON_APP_LABEL_TEAM".into(), "infra".into())));
    assert!(task.task_id.value.contains(".instance-"));
}

#[test]
fn executor_path_is_a_docker_link_to_the_binary() {
    let path = executor_path();
    assert_eq!(path.file_name().unwrap(), "docker");
    assert_eq!(
        std::fs::read_link(&path).unwrap(),
        std::path::Path::new(env!("CARGO_BIN_EXE_mesos-docker"))
    );
    assert_eq!(port_ranges(&[5, 3, 4, 9]).len(), 2);
}
