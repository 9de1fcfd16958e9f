//! Executor launch and kill latency and memory, side by side with plain
//! `docker run -d` of the same container, in one run on the same image.
//! Prints figures; asserts nothing about speed.
//!
//!     cargo bench --bench exec_launch            (ROUNDS=20 by default)

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use mesos_docker::proto::TaskState;
use support::agent::{AgentOptions, TestAgent};
use support::fixtures::{self, Era, MarathonApp};
use support::images::docker;
use support::procmem::{pss_kib, rss_kib};
use support::{images, secs};

const SLEEPER: &str = "sh -c 'trap \"exit 0\" TERM; while true; do sleep 0.1; done'";

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    // `cargo bench` passes --bench; under `cargo test --all-targets` this
    // runs two rounds as a smoke test of the harness itself.
    let benching = std::env::args().any(|a| a == "--bench");
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(if benching { 20 } else { 2 });
    let image = images::ensure_busybox();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let mut docker_run = Vec::new();
    let mut docker_stop = Vec::new();
    let mut launch = Vec::new();
    let mut kill = Vec::new();
    let mut rss = Vec::new();
    let mut pss = Vec::new();

    rt.block_on(async {
        let agent = TestAgent::start(AgentOptions::default()).await;
        for round in 0..rounds {
            // Plain Docker: the CLI creates and starts the same container.
            let started = Instant::now();
            let id = docker(&[
                "run",
                "-d",
                "--memory",
                "32m",
                image,
                "sh",
                "-c",
                SLEEPER.trim_start_matches("sh -c ").trim_matches('\''),
            ]);
            docker_run.push(started.elapsed());
            let stopping = Instant::now();
            docker(&["stop", "-t", "10", &id]);
            docker_stop.push(stopping.elapsed());
            docker(&["rm", "-f", &id]);

            // The executor: from the agent starting it to TASK_RUNNING.
            let (executor, task) =
                MarathonApp::new(&format!("/bench{round}"), &format!("{image} {SLEEPER}"))
                    .build(Era::Marathon110, &fixtures::executor_path());
            let tid = task.task_id.value.clone();
            let started = Instant::now();
            let process = agent.launch(executor, task).await;
            agent
                .wait_for_state(&tid, TaskState::TaskRunning, secs(60))
                .await;
            launch.push(started.elapsed());
            tokio::time::sleep(Duration::from_millis(200)).await;
            if let Some(kib) = rss_kib(process.pid()) {
                rss.push(kib);
            }
            if let Some(kib) = pss_kib(process.pid()) {
                pss.push(kib);
            }
            let stopping = Instant::now();
            assert!(agent.kill(process.executor_id(), &tid, Some(secs(10))));
            agent
                .wait_for_state(&tid, TaskState::TaskKilled, secs(30))
                .await;
            kill.push(stopping.elapsed());
            process.expect_exit(secs(20)).await;
        }
    });

    let run = median(docker_run);
    let exec = median(launch);
    rss.sort_unstable();
    println!("exec_launch: {rounds} rounds, image {image}, medians");
    println!("  docker run -d → running          {:8.1} ms", ms(run));
    println!("  executor LAUNCH → TASK_RUNNING   {:8.1} ms", ms(exec));
    println!(
        "  ratio executor / docker run      {:8.2}   (target ≤ 1.05)",
        ms(exec) / ms(run)
    );
    println!(
        "  docker stop (SIGTERM honoured)   {:8.1} ms",
        ms(median(docker_stop))
    );
    println!(
        "  executor KILL → TASK_KILLED      {:8.1} ms",
        ms(median(kill))
    );
    pss.sort_unstable();
    if !pss.is_empty() {
        println!(
            "  executor PSS while running       {:8.1} MiB median",
            pss[pss.len() / 2] as f64 / 1024.0
        );
    }
    if !rss.is_empty() {
        println!(
            "  executor RSS while running       {:8.1} MiB median, {:.1} MiB max   (target ≤ 8 MiB)",
            rss[rss.len() / 2] as f64 / 1024.0,
            *rss.last().unwrap() as f64 / 1024.0
        );
    }
}
