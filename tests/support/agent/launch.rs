//! Starts an executor the way the Mesos agent (Mesos containerizer) does:
//! `/bin/sh -c` on ExecutorInfo.command.value, in a fresh sandbox that is its
//! working directory, stdout/stderr into the sandbox, a clean environment
//! with the MESOS_* variables plus the command's own environment.
#![allow(dead_code)]

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;
use tokio::process::Command;
use tokio::sync::watch;

/// What the agent puts in the executor's environment besides the command's.
#[derive(Clone, Debug)]
pub struct LaunchEnv {
    pub framework_id: String,
    pub executor_id: String,
    pub agent_id: String,
    pub endpoint: String,
    pub checkpoint: bool,
    pub shutdown_grace: Duration,
    pub recovery_timeout: Duration,
    pub subscription_backoff_max: Duration,
    pub token: Option<String>,
}

/// A running (or finished) executor process. Cheap to clone.
#[derive(Clone)]
pub struct ExecutorProcess {
    inner: Arc<Inner>,
}

struct Inner {
    executor_id: String,
    pid: u32,
    sandbox: PathBuf,
    exit: watch::Receiver<Option<ExitStatus>>,
}

/// stout's Duration format, as the agent writes durations into the
/// environment: the largest unit that keeps the number whole.
pub fn stout_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    let units: [(u128, &str); 7] = [
        (604_800_000_000_000, "weeks"),
        (86_400_000_000_000, "days"),
        (3_600_000_000_000, "hrs"),
        (60_000_000_000, "mins"),
        (1_000_000_000, "secs"),
        (1_000_000, "ms"),
        (1_000, "us"),
    ];
    for (size, name) in units {
        if ns >= size && ns % size == 0 {
            return format!("{}{name}", ns / size);
        }
    }
    format!("{ns}ns")
}

pub fn agent_environment(env: &LaunchEnv, sandbox: &Path) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    let mut set = |k: &str, v: String| {
        vars.insert(k.to_string(), v);
    };
    set(
        "PATH",
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
    );
    // Useful when a test fails; harmless otherwise.
    for passthrough in ["RUST_LOG", "RUST_BACKTRACE", "DOCKER_HOST"] {
        if let Ok(v) = std::env::var(passthrough) {
            set(passthrough, v);
        }
    }
    set("LIBPROCESS_PORT", "0".into());
    set("MESOS_FRAMEWORK_ID", env.framework_id.clone());
    set("MESOS_EXECUTOR_ID", env.executor_id.clone());
    set("MESOS_AGENT_ENDPOINT", env.endpoint.clone());
    set("MESOS_DIRECTORY", sandbox.display().to_string());
    set("MESOS_SANDBOX", sandbox.display().to_string());
    set("MESOS_SLAVE_ID", env.agent_id.clone());
    set("MESOS_SLAVE_PID", format!("slave(1)@{}", env.endpoint));
    set("MESOS_HTTP_COMMAND_EXECUTOR", "0".into());
    set(
        "MESOS_CHECKPOINT",
        if env.checkpoint { "1" } else { "0" }.into(),
    );
    set(
        "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
        stout_duration(env.shutdown_grace),
    );
    if env.checkpoint {
        set(
            "MESOS_RECOVERY_TIMEOUT",
            stout_duration(env.recovery_timeout),
        );
        set(
            "MESOS_SUBSCRIPTION_BACKOFF_MAX",
            stout_duration(env.subscription_backoff_max),
        );
    }
    if let Some(token) = &env.token {
        set("MESOS_EXECUTOR_AUTHENTICATION_TOKEN", token.clone());
    }
    vars
}

/// Spawns the executor; `on_exit` runs once it has ended.
pub fn spawn(
    command: &str,
    env: BTreeMap<String, String>,
    executor_id: &str,
    sandbox: &Path,
    on_exit: impl FnOnce() + Send + 'static,
) -> std::io::Result<ExecutorProcess> {
    let stdout = File::create(sandbox.join("stdout"))?;
    let stderr = File::create(sandbox.join("stderr"))?;
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .current_dir(sandbox)
        .env_clear()
        .envs(env)
        .stdin(std::process::Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        // Its own process group, so destroying it reaches what it forked,
        // as the agent's container destroy does.
        .process_group(0)
        .spawn()?;
    let pid = child.id().expect("a just-spawned child has a pid");
    let (tx, rx) = watch::channel(None);
    tokio::spawn(async move {
        let status = child.wait().await.expect("waiting for the executor");
        let _ = tx.send(Some(status));
        on_exit();
    });
    Ok(ExecutorProcess {
        inner: Arc::new(Inner {
            executor_id: executor_id.to_string(),
            pid,
            sandbox: sandbox.to_path_buf(),
            exit: rx,
        }),
    })
}

impl ExecutorProcess {
    pub fn pid(&self) -> u32 {
        self.inner.pid
    }

    pub fn executor_id(&self) -> &str {
        &self.inner.executor_id
    }

    pub fn sandbox(&self) -> &Path {
        &self.inner.sandbox
    }

    pub fn exit_status(&self) -> Option<ExitStatus> {
        *self.inner.exit.borrow()
    }

    pub fn is_running(&self) -> bool {
        self.exit_status().is_none()
    }

    /// Waits for the process to end; None if it is still running at timeout.
    pub async fn wait(&self, timeout: Duration) -> Option<ExitStatus> {
        let mut rx = self.inner.exit.clone();
        let waited = tokio::time::timeout(timeout, rx.wait_for(Option::is_some)).await;
        match waited {
            Ok(Ok(status)) => *status,
            _ => None,
        }
    }

    /// Like `wait`, but a timeout is a test failure that shows the sandbox logs.
    pub async fn expect_exit(&self, timeout: Duration) -> ExitStatus {
        match self.wait(timeout).await {
            Some(status) => status,
            None => panic!(
                "executor {} (pid {}) still running after {timeout:?}\n{}",
                self.executor_id(),
                self.pid(),
                self.logs()
            ),
        }
    }

    /// SIGKILL to the whole process group, as the agent's destroy does.
    pub fn kill9(&self) {
        if self.is_running() {
            let pgid = Pid::from_raw(i32::try_from(self.inner.pid).expect("pid fits i32"));
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.inner.sandbox.join("stdout")).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.inner.sandbox.join("stderr")).unwrap_or_default()
    }

    /// Both sandbox logs, for failure messages.
    pub fn logs(&self) -> String {
        format!(
            "--- sandbox stdout ---\n{}\n--- sandbox stderr ---\n{}",
            self.stdout(),
            self.stderr()
        )
    }
}
