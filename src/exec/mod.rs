//! The Docker executor: agent protocol ⇄ task state ⇄ docker runtime.
//!
//! `agent` speaks the executor HTTP API, `executor` is the event loop, `task`
//! runs one task's container, `spec` translates TaskInfo into a container
//! (pure), `docker` drives the Engine API.

pub mod agent;
pub mod backoff;
pub mod config;
pub mod docker;
pub mod executor;
pub mod health;
pub mod liveness;
pub mod policy;
pub mod recordio;
pub mod sandbox_log;
pub mod spec;
pub mod task;

use std::ffi::OsString;
use std::process::ExitCode;

use config::Config;

/// Where the executor's own log goes inside the sandbox, apart from the
/// container's `stdout`/`stderr`.
pub const LOG_FILE: &str = "executor.log";

/// Runs the executor with `argv` (the image, then the container's command).
pub fn main(argv: Vec<OsString>) -> ExitCode {
    let argv: Vec<String> = match argv
        .into_iter()
        .map(OsString::into_string)
        .collect::<Result<_, _>>()
    {
        Ok(a) => a,
        Err(bad) => {
            eprintln!(
                "mesos-docker executor: argument {bad:?} is not valid UTF-8; Docker needs text"
            );
            return ExitCode::FAILURE;
        }
    };
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mesos-docker executor: {e}");
            return ExitCode::FAILURE;
        }
    };
    init_logging(&config);
    let _alive = match liveness::hold(&config.directory) {
        Ok(a) => a,
        Err(e) => {
            eprintln!(
                "mesos-docker executor: cannot lock the sandbox {}: {e}",
                config.directory.display()
            );
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        version = crate::VERSION,
        executor = %config.executor_id,
        framework = %config.framework_id,
        argv = ?argv,
        "executor starting"
    );
    // One thread: the executor spends its life waiting on two sockets, and a
    // single-threaded runtime keeps its memory small.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mesos-docker executor: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(executor::Executor::new(config, argv).run()) {
        executor::Ending::Done => ExitCode::SUCCESS,
        executor::Ending::Failed(why) => {
            eprintln!("mesos-docker executor: {why}");
            ExitCode::FAILURE
        }
    }
}

/// The executor logs to `executor.log` in the sandbox (MESOS_DOCKER_LOG=stderr
/// keeps it on stderr); the level comes from MESOS_DOCKER_LOG_LEVEL (default info).
fn init_logging(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("MESOS_DOCKER_LOG_LEVEL")
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let to_stderr = std::env::var("MESOS_DOCKER_LOG").as_deref() == Ok("stderr");
    let file = (!to_stderr)
        .then(|| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(config.directory.join(LOG_FILE))
                .ok()
        })
        .flatten();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    match file {
        Some(f) => builder
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(f))
            .init(),
        None => builder.with_writer(std::io::stderr).init(),
    }
}
