//! File-system primitives every writer in setup uses: atomic replacement with
//! owner and mode, and directory creation that reports what it made.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::setup::host::system::System;

/// `Some((0, 0))` when this process may hand files to root, `None` when it
/// runs unprivileged (only possible with a --root of its own), where the
/// files stay owned by the caller.
pub fn root_owner() -> Option<(u32, u32)> {
    nix::unistd::geteuid().is_root().then_some((0, 0))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.mesos-docker.{}.tmp", std::process::id()))
}

/// Replaces `path` with `content` so that readers see the old file or the new
/// one, never a part: a temporary file in the same directory, written,
/// chmod/chown-ed and fsync-ed, renamed over the path, and the directory synced.
pub fn write_atomic(
    path: &Path,
    content: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
) -> io::Result<()> {
    let tmp = temp_path(path);
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(content)?;
        // The umask may have narrowed the mode given at creation.
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::fchown(&f, Some(uid), Some(gid))?;
        }
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    sync_dir(path.parent().unwrap_or(Path::new("/")))
}

/// Flushes a whole tree to disk: every regular file and directory (links
/// and special files live in their directory's entries), innermost first,
/// so a tree renamed into place after it holds no empty or missing files
/// after a crash.
pub fn sync_tree(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            sync_tree(&entry.path())?;
        } else if kind.is_file() {
            fs::File::open(entry.path())?.sync_all()?;
        }
    }
    sync_dir(dir)
}

/// Points `path` at `target`, replacing whatever link is there, atomically.
pub fn link_atomic(path: &Path, target: &str) -> io::Result<()> {
    let tmp = temp_path(path);
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)?;
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(path.parent().unwrap_or(Path::new("/")))
}

pub fn create_dir(path: &Path, mode: u32) -> io::Result<()> {
    match fs::DirBuilder::new().mode(mode).create(path) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => return Ok(()),
        other => other?,
    }
    fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    if let Some((uid, gid)) = root_owner() {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))?;
    }
    Ok(())
}

/// The directories from `dir` upwards that do not exist, outermost first
/// (host paths, as the plan names them).
pub fn missing_dirs(sys: &System, dir: &str) -> Vec<String> {
    let mut missing = Vec::new();
    let mut cur = Some(Path::new(dir));
    while let Some(d) = cur {
        if d == Path::new("/") || sys.path(&d.to_string_lossy()).exists() {
            break;
        }
        missing.push(d.to_string_lossy().into_owned());
        cur = d.parent();
    }
    missing.reverse();
    missing
}

/// Held while a run changes a root, so that two runs (setup, uninstall) do
/// not interleave their changes and their record. The lock is on the root
/// directory itself: nothing is created for it, so nothing is left behind.
pub struct RootLock(#[allow(dead_code)] nix::fcntl::Flock<fs::File>);

pub fn lock_root(root: &Path) -> io::Result<RootLock> {
    let dir = fs::File::open(root)?;
    match nix::fcntl::Flock::lock(dir, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(RootLock(lock)),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            format!(
                "another mesos-docker setup or uninstall is changing {}; wait for it to finish",
                root.display()
            ),
        )),
        Err((_, errno)) => Err(io::Error::from(errno)),
    }
}

/// The first of `PATH.mesos-docker.bak`, `.bak.2`, ... that is free or
/// already holds exactly `content` (so a re-run after a crash reuses it).
pub fn backup_path(path: &Path, content: &[u8]) -> PathBuf {
    for n in 1.. {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let candidate = if n == 1 {
            path.with_file_name(format!("{name}.mesos-docker.bak"))
        } else {
            path.with_file_name(format!("{name}.mesos-docker.bak.{n}"))
        };
        match fs::read(&candidate) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return candidate,
            Ok(existing) if existing == content => return candidate,
            _ => {}
        }
    }
    unreachable!("some backup name is free")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_sets_mode_and_leaves_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        write_atomic(&p, b"one", 0o600, None).unwrap();
        write_atomic(&p, b"two", 0o640, None).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o7777,
            0o640
        );
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn one_run_at_a_time() {
        let d = tempfile::tempdir().unwrap();
        let held = lock_root(d.path()).unwrap();
        let err = lock_root(d.path()).err().expect("second lock refused");
        assert!(err.to_string().contains("another mesos-docker"), "{err}");
        drop(held);
        lock_root(d.path()).unwrap();
    }

    #[test]
    fn backups_do_not_overwrite_each_other() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        let b1 = backup_path(&p, b"a");
        assert!(b1.ends_with("f.mesos-docker.bak"));
        fs::write(&b1, b"a").unwrap();
        assert_eq!(backup_path(&p, b"a"), b1);
        assert!(backup_path(&p, b"b").ends_with("f.mesos-docker.bak.2"));
    }
}
