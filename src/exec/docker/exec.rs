//! `docker exec`: a command run inside the task's running container, for
//! COMMAND health checks.

use std::time::Duration;

use bollard::exec::StartExecResults;
use bollard::models::ExecConfig;
use futures_util::StreamExt;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tracing::warn;

use super::{DockerError, Runtime, bounded};

/// How much of a command's output is kept for messages.
const OUTPUT_TAIL: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecEnd {
    /// The command's exit code and the end of its output (stdout and stderr).
    Exited { code: i64, output: String },
    /// Still running at the limit; it was killed.
    TimedOut,
}

impl Runtime {
    /// Runs `argv` in container `id` with `env` (`KEY=value`) added, waiting
    /// at most `limit` (`None`: as long as it takes).
    pub async fn exec(
        &self,
        id: &str,
        argv: &[String],
        env: &[String],
        limit: Option<Duration>,
    ) -> Result<ExecEnd, DockerError> {
        let config = ExecConfig {
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            cmd: Some(argv.to_vec()),
            env: (!env.is_empty()).then(|| env.to_vec()),
            ..Default::default()
        };
        let exec_id = bounded(self.timeout, "exec", self.docker.create_exec(id, config))
            .await?
            .id;
        let run = async {
            let started = self
                .docker
                .start_exec(&exec_id, None)
                .await
                .map_err(|source| DockerError::Api {
                    op: "exec start",
                    source,
                })?;
            let mut tail: Vec<u8> = Vec::new();
            if let StartExecResults::Attached { mut output, .. } = started {
                while let Some(item) = output.next().await {
                    let chunk = item.map_err(|source| DockerError::Api {
                        op: "exec output",
                        source,
                    })?;
                    tail.extend_from_slice(&chunk.into_bytes());
                    if tail.len() > OUTPUT_TAIL {
                        tail.drain(..tail.len() - OUTPUT_TAIL);
                    }
                }
            }
            Ok::<_, DockerError>(tail)
        };
        let tail = match limit {
            None => run.await?,
            Some(limit) => match tokio::time::timeout(limit, run).await {
                Ok(r) => r?,
                Err(_) => {
                    self.kill_exec(&exec_id).await;
                    return Ok(ExecEnd::TimedOut);
                }
            },
        };
        let info = bounded(
            self.timeout,
            "exec inspect",
            self.docker.inspect_exec(&exec_id),
        )
        .await?;
        Ok(ExecEnd::Exited {
            // The stream ends when the command does; no code means Docker
            // lost it, which is no success either.
            code: info.exit_code.unwrap_or(-1),
            output: String::from_utf8_lossy(&tail).trim().to_string(),
        })
    }

    /// The Engine API cannot stop an exec; its pid is a host pid, so the
    /// executor (root, as the agent runs it) kills it and its children.
    async fn kill_exec(&self, exec_id: &str) {
        let pid = match bounded(
            self.timeout,
            "exec inspect",
            self.docker.inspect_exec(exec_id),
        )
        .await
        {
            Ok(info) => info
                .pid
                .and_then(|p| i32::try_from(p).ok())
                .filter(|p| *p > 0),
            Err(e) => {
                warn!("cannot find the timed-out health check command to kill it: {e}");
                return;
            }
        };
        if let Some(pid) = pid {
            kill_tree(pid);
        }
    }
}

/// SIGKILLs `pid` and its descendants, children first found through
/// /proc/<pid>/task/*/children.
fn kill_tree(pid: i32) {
    let mut todo = vec![pid];
    let mut all = Vec::new();
    while let Some(p) = todo.pop() {
        all.push(p);
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            if let Ok(children) = std::fs::read_to_string(task.path().join("children")) {
                todo.extend(
                    children
                        .split_whitespace()
                        .filter_map(|c| c.parse::<i32>().ok()),
                );
            }
        }
    }
    // Stop the parent first so it cannot start more children.
    for p in all {
        match kill(Pid::from_raw(p), Signal::SIGKILL) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
            Err(e) => warn!(
                pid = p,
                "cannot kill the timed-out health check command: {e}"
            ),
        }
    }
}
