//! `docker exec`: a command run inside the task's running container, for
//! COMMAND health checks.

use std::time::Duration;

use bollard::exec::StartExecResults;
use bollard::models::ExecConfig;
use futures_util::StreamExt;
use tracing::{debug, warn};

use super::pidfd::{self, TreeKill};
use super::runtime::{DockerError, Runtime, bounded};

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
                    self.kill_exec(id, &exec_id).await;
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
    /// executor (root, as the agent runs it) kills it and its children,
    /// through pidfds and only inside container `id` (see pidfd.rs).
    async fn kill_exec(&self, id: &str, exec_id: &str) {
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
        let Some(pid) = pid else { return };
        match pidfd::kill_tree(pid, id) {
            TreeKill::Killed(n) => debug!(pid, "killed {n} process(es) of the timed-out check"),
            TreeKill::Gone => {}
            TreeKill::NotOurs => warn!(
                pid,
                "the timed-out health check command ended and its pid now names a process \
                 outside the container; not signalled"
            ),
            TreeKill::Unsupported => warn!(
                pid,
                "this kernel has no pidfd_open (Linux < 5.3), and a bare pid may name another \
                 process by now: the timed-out health check command is left to end with the \
                 container"
            ),
            TreeKill::Failed(e) => {
                warn!(pid, "cannot kill the timed-out health check command: {e}")
            }
        }
    }
}
