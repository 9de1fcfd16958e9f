//! Marathon runs one executor per task. This starts N executors (N tasks, 100
//! by default) against the test agent at once and prints the time until all
//! are TASK_RUNNING and the executors' total memory, beside `docker run -d` of
//! the same N containers, started at once too. Prints figures; asserts
//! nothing about speed.
//!
//!     cargo bench --bench exec_fleet            (TASKS=100 by default)

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use mesos_docker::proto::TaskState;
use support::agent::{AgentOptions, TestAgent};
use support::fixtures::{self, Era, MarathonApp};
use support::procmem::{pss_kib, rss_kib};
use support::{images, secs};

const SLEEP: &str = "trap 'exit 0' TERM; while true; do sleep 1; done";

fn main() {
    let benching = std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if benching { 100 } else { 3 });
    let image = images::ensure_busybox();

    // Plain Docker: n `docker run -d` at once.
    let started = Instant::now();
    let children: Vec<_> = (0..n)
        .map(|_| {
            Command::new("docker")
                .args([
                    "run",
                    "-d",
                    "--label",
                    "mesos-docker-bench=fleet",
                    image,
                    "sh",
                    "-c",
                    SLEEP,
                ])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("docker run")
        })
        .collect();
    let ids: Vec<String> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().expect("docker run");
            assert!(out.status.success());
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        })
        .collect();
    let docker_all_running = started.elapsed();
    let mut rm = vec!["rm".to_string(), "-f".to_string()];
    rm.extend(ids);
    Command::new("docker")
        .args(&rm)
        .output()
        .expect("docker rm");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (exec_all_running, rss, pss, shutdown) = rt.block_on(async {
        let agent = TestAgent::start(AgentOptions::default()).await;
        let mut tasks = Vec::new();
        for i in 0..n {
            let (executor, task) =
                MarathonApp::new(&format!("/fleet{i}"), &format!("{image} sh -c \"{SLEEP}\""))
                    .build(Era::Marathon110, &fixtures::executor_path());
            tasks.push((executor, task));
        }
        let started = Instant::now();
        let mut running = Vec::new();
        for (executor, task) in tasks {
            let tid = task.task_id.value.clone();
            running.push((agent.launch(executor, task).await, tid));
        }
        for (_, tid) in &running {
            agent
                .wait_for_state(tid, TaskState::TaskRunning, secs(300))
                .await;
        }
        let all_running = started.elapsed();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rss: Vec<u64> = running
            .iter()
            .filter_map(|(p, _)| rss_kib(p.pid()))
            .collect();
        let pss: Vec<u64> = running
            .iter()
            .filter_map(|(p, _)| pss_kib(p.pid()))
            .collect();
        let stopping = Instant::now();
        for (p, _) in &running {
            assert!(agent.shutdown(p.executor_id()));
        }
        for (p, _) in &running {
            p.expect_exit(secs(120)).await;
        }
        (all_running, rss, pss, stopping.elapsed())
    });

    let total: u64 = rss.iter().sum();
    println!("exec_fleet: {n} tasks, image {image}");
    println!(
        "  docker run -d ×{n} at once → all running   {:8.2} s",
        docker_all_running.as_secs_f64()
    );
    println!(
        "  {n} executors → all TASK_RUNNING           {:8.2} s",
        exec_all_running.as_secs_f64()
    );
    println!(
        "  executors' RSS: total {:.1} MiB, mean {:.2} MiB over {} processes",
        total as f64 / 1024.0,
        total as f64 / 1024.0 / rss.len().max(1) as f64,
        rss.len()
    );
    println!(
        "  executors' PSS: total {:.1} MiB (shared pages counted once)",
        pss.iter().sum::<u64>() as f64 / 1024.0
    );
    println!(
        "  SHUTDOWN of all {n} → all exited            {:8.2} s",
        shutdown.as_secs_f64()
    );
}
