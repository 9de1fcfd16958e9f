//! Proof of life in the sandbox: the executor holds an exclusive flock on a
//! file there for as long as it runs, and the kernel drops it however the
//! process dies (SIGKILL, OOM). `mesos-docker reap` takes the same lock to
//! learn, without races or pid reuse, whether a container's executor is gone.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// The lock file's name inside the sandbox.
pub const LOCK_FILE: &str = ".mesos-docker-executor.lock";

pub fn lock_path(sandbox: &Path) -> PathBuf {
    sandbox.join(LOCK_FILE)
}

/// Held for the executor's whole life; dropping it releases the lock.
pub struct Alive {
    _lock: Flock<File>,
}

/// Takes the sandbox's lock and records our pid in it for people to read.
pub fn hold(sandbox: &Path) -> std::io::Result<Alive> {
    let path = lock_path(sandbox);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)?;
    let mut lock = Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| {
        if errno == Errno::EWOULDBLOCK {
            std::io::Error::other(format!(
                "another executor already runs in this sandbox (it holds {})",
                path.display()
            ))
        } else {
            std::io::Error::from(errno)
        }
    })?;
    lock.set_len(0)?;
    writeln!(lock, "{}", std::process::id())?;
    Ok(Alive { _lock: lock })
}

#[derive(Debug, PartialEq, Eq)]
pub enum Executor {
    Alive,
    Gone,
}

/// Whether the executor of `sandbox` still runs.
pub fn probe(sandbox: &Path) -> std::io::Result<Executor> {
    let file = match File::open(lock_path(sandbox)) {
        Ok(f) => f,
        // No sandbox or no lock file: no executor can be holding it.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Executor::Gone),
        Err(e) => return Err(e),
    };
    match Flock::lock(file, FlockArg::LockSharedNonblock) {
        Ok(_released_on_drop) => Ok(Executor::Gone),
        Err((_, Errno::EWOULDBLOCK)) => Ok(Executor::Alive),
        Err((_, errno)) => Err(errno.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_tells_alive_from_gone() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(probe(dir.path()).unwrap(), Executor::Gone, "never started");
        let alive = hold(dir.path()).unwrap();
        assert_eq!(probe(dir.path()).unwrap(), Executor::Alive);
        assert!(hold(dir.path()).is_err(), "one executor per sandbox");
        drop(alive);
        assert_eq!(probe(dir.path()).unwrap(), Executor::Gone);
        assert_eq!(probe(&dir.path().join("missing")).unwrap(), Executor::Gone);
    }
}
