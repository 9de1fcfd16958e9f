//! `mesos-docker reap`: removes containers whose executor is gone. Mesos never
//! removes what a dead custom executor started, so without this a SIGKILLed
//! or OOM-killed executor leaves its container running forever.

use std::path::Path;
use std::process::ExitCode;

use crate::exec::docker::{DockerError, Runtime};
use crate::exec::liveness::{self, Executor};
use crate::exec::spec::{LABEL_EXECUTOR, LABEL_SANDBOX, LABEL_TASK};

#[derive(Debug, clap::Args)]
pub struct ReapArgs {
    /// List what would be removed, remove nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// One container whose executor is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    pub id: String,
    pub name: String,
    pub task: String,
    pub executor: String,
}

pub fn main(args: ReapArgs) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mesos-docker reap: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(reap(args.dry_run)) {
        Ok((orphans, alive)) => {
            for o in &orphans {
                let verb = if args.dry_run {
                    "would remove"
                } else {
                    "removed"
                };
                println!(
                    "{verb} {} (task {}, executor {} is gone)",
                    o.name, o.task, o.executor
                );
            }
            println!(
                "{} orphaned container(s) {}, {alive} with a live executor",
                orphans.len(),
                if args.dry_run { "found" } else { "removed" }
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mesos-docker reap: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Removes (unless `dry_run`) every container of ours whose executor no
/// longer holds its sandbox lock. Returns the orphans and how many live ones
/// were left alone.
pub async fn reap(dry_run: bool) -> Result<(Vec<Orphan>, usize), DockerError> {
    let runtime = Runtime::connect(crate::exec::docker::DEFAULT_CALL_TIMEOUT).await?;
    let mut orphans = Vec::new();
    let mut alive = 0;
    for c in runtime.our_containers().await? {
        let label = |k: &str| c.labels.get(k).cloned().unwrap_or_default();
        let sandbox = label(LABEL_SANDBOX);
        let gone = sandbox.is_empty()
            || match liveness::probe(Path::new(&sandbox)) {
                Ok(Executor::Gone) => true,
                Ok(Executor::Alive) => false,
                // Cannot tell: leave it; removing a live task is worse.
                Err(e) => {
                    eprintln!("mesos-docker reap: {}: cannot check {sandbox}: {e}", c.name);
                    false
                }
            };
        if !gone {
            alive += 1;
            continue;
        }
        if !dry_run {
            runtime.remove(&c.id).await?;
        }
        orphans.push(Orphan {
            id: c.id,
            name: c.name,
            task: label(LABEL_TASK),
            executor: label(LABEL_EXECUTOR),
        });
    }
    Ok((orphans, alive))
}
