//! Pinned binds: closing the gap between checking a host path and Docker
//! mounting it. The policy resolves a path and checks it; Docker mounts it
//! by name when the container starts, so a task that can write a directory
//! on the path (a sub-directory of an allowed prefix it mounts read-write)
//! could swap it for a symlink in between. Instead the executor walks the
//! checked path from `/` without following any symlink (a symlink found now
//! is a path that changed since the check), bind-mounts the directory it
//! reached onto a fresh name under /run/mesos-docker/pins that no task can
//! write, and gives Docker that name. Once the container has started, its
//! own copy of the mount stays and the pin is taken down.
//!
//! This needs root in the mount namespace Docker's daemon uses (pins made in
//! another namespace are invisible to it); see `available`. The kernel
//! refuses to bind a directory reached through another namespace's fd, so
//! the pin cannot be handed over as `/proc/<pid>/fd/N` directly.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, open, openat};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::stat::{Mode, SFlag, fstat, mkdirat};
use thiserror::Error;

/// Where pins live: root's own tmpfs, gone at reboot.
pub const PINS_DIR: &str = "/run/mesos-docker/pins";

#[derive(Debug, Error)]
pub enum PinError {
    #[error("host path {path} changed after the policy checked it: {at} is now {now}")]
    Changed {
        path: String,
        at: String,
        now: &'static str,
    },
    #[error("pinning host path {path}: {op} {at}: {source}")]
    Io {
        path: String,
        op: &'static str,
        at: String,
        #[source]
        source: Errno,
    },
}

/// Where the Docker daemon writes its pid (`dockerd --pidfile`'s default).
const DAEMON_PIDFILES: &[&str] = &["/run/docker.pid", "/var/run/docker.pid"];

/// Whether pins can work here: root with CAP_SYS_ADMIN, in the Docker
/// daemon's mount namespace (found through its pid file, else PID 1's), so
/// the daemon sees them.
pub fn available() -> bool {
    let ns = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/mnt")).ok();
    let Some(own) = ns("self") else {
        return false;
    };
    let daemon = DAEMON_PIDFILES
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .find_map(|pid| ns(pid.trim()))
        .or_else(|| ns("1"));
    nix::unistd::geteuid().is_root() && daemon == Some(own) && may_mount()
}

/// CAP_SYS_ADMIN (bit 21) in the effective set: root in a container often
/// lacks it.
fn may_mount() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << 21) != 0)
}

/// The pins of one container; dropping it takes them down.
#[derive(Debug)]
pub struct Pins {
    dir: PathBuf,
    mounted: Vec<PathBuf>,
}

impl Pins {
    /// Pins under `parent/name`; an earlier run's leftovers there go first.
    pub fn new(parent: &Path, name: &str) -> Pins {
        let pins = Pins {
            dir: parent.join(name),
            mounted: Vec::new(),
        };
        if let Ok(entries) = std::fs::read_dir(&pins.dir) {
            for e in entries.flatten() {
                let _ = umount2(&e.path(), MntFlags::MNT_DETACH);
                let _ = std::fs::remove_dir(e.path()).or_else(|_| std::fs::remove_file(e.path()));
            }
        }
        pins
    }

    /// Pins `resolved` (absolute, as the policy resolved it) and returns the
    /// name Docker is to mount instead. A missing tail is created, as Docker
    /// would have created it.
    pub fn pin(&mut self, resolved: &Path) -> Result<PathBuf, PinError> {
        let target = walk(resolved)?;
        let io = |op: &'static str, at: &Path, source: Errno| PinError::Io {
            path: resolved.display().to_string(),
            op,
            at: at.display().to_string(),
            source,
        };
        let is_dir = fstat(&target)
            .map(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR)
            .map_err(|e| io("stat", resolved, e))?;
        std::fs::create_dir_all(&self.dir).map_err(|e| {
            io(
                "creating",
                &self.dir,
                Errno::from_raw(e.raw_os_error().unwrap_or(0)),
            )
        })?;
        let pin = self.dir.join(self.mounted.len().to_string());
        let made = if is_dir {
            std::fs::create_dir(&pin)
        } else {
            std::fs::File::create(&pin).map(drop)
        };
        made.map_err(|e| {
            io(
                "creating",
                &pin,
                Errno::from_raw(e.raw_os_error().unwrap_or(0)),
            )
        })?;
        // The fd's magic link names exactly the object the walk reached.
        let source = PathBuf::from(format!("/proc/self/fd/{}", target.as_raw_fd()));
        mount(
            Some(&source),
            &pin,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| io("bind-mounting onto", &pin, e))?;
        self.mounted.push(pin.clone());
        Ok(pin)
    }
}

impl Drop for Pins {
    fn drop(&mut self) {
        for pin in self.mounted.drain(..) {
            if let Err(e) = umount2(&pin, MntFlags::MNT_DETACH) {
                tracing::warn!(pin = %pin.display(), "could not take a bind pin down: {e}");
            }
            let _ = std::fs::remove_dir(&pin).or_else(|_| std::fs::remove_file(&pin));
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Opens `path` one component at a time from `/`, never following a
/// symlink, creating missing directories; the fd of what it reaches.
fn walk(path: &Path) -> Result<OwnedFd, PinError> {
    let shown = || path.display().to_string();
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let mut fd = open(
        "/",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|source| PinError::Io {
        path: shown(),
        op: "opening",
        at: "/".into(),
        source,
    })?;
    let names: Vec<_> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect();
    let mut at = PathBuf::from("/");
    for (i, name) in names.iter().enumerate() {
        at.push(name);
        let io = |op: &'static str, source: Errno| PinError::Io {
            path: shown(),
            op,
            at: at.display().to_string(),
            source,
        };
        let next = match openat(&fd, *name, flags, Mode::empty()) {
            Err(Errno::ENOENT) => {
                match mkdirat(&fd, *name, Mode::from_bits_truncate(0o755)) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(io("creating", e)),
                }
                openat(&fd, *name, flags, Mode::empty()).map_err(|e| io("opening", e))?
            }
            other => other.map_err(|e| io("opening", e))?,
        };
        let kind = fstat(&next)
            .map(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT)
            .map_err(|e| io("stat", e))?;
        let last = i + 1 == names.len();
        let now = if kind == SFlag::S_IFLNK {
            Some("a symlink")
        } else if !last && kind != SFlag::S_IFDIR {
            Some("not a directory")
        } else {
            None
        };
        if let Some(now) = now {
            return Err(PinError::Changed {
                path: shown(),
                at: at.display().to_string(),
                now,
            });
        }
        fd = next;
    }
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    /// The race the pin closes, on the real kernel: the checked directory is
    /// swapped for a symlink to /etc after the pin, and the pin still shows
    /// the checked directory. Needs root in the host's mount namespace, as
    /// the test suite runs (it drives Docker).
    #[test]
    fn a_pin_holds_what_was_checked_when_the_path_is_swapped() {
        assert!(
            available(),
            "pins need root in the host's mount namespace; run the tests as the README says"
        );
        let t = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(t.path()).unwrap();
        let checked = root.join("data/app");
        std::fs::create_dir_all(&checked).unwrap();
        std::fs::write(checked.join("marker"), "checked").unwrap();
        std::fs::write(root.join("data/file"), "a file").unwrap();
        let pins_parent = root.join("pins");
        let mut pins = Pins::new(&pins_parent, "mdx.t");
        let pin = pins.pin(&checked).unwrap();
        let file_pin = pins.pin(&root.join("data/file")).unwrap();
        let created = pins.pin(&root.join("data/new/sub")).unwrap();
        assert!(root.join("data/new/sub").is_dir(), "a missing tail is made");

        std::fs::rename(&checked, root.join("data/app-moved")).unwrap();
        symlink("/etc", &checked).unwrap();
        assert_eq!(
            std::fs::read_to_string(pin.join("marker")).unwrap(),
            "checked"
        );
        assert_eq!(std::fs::read_to_string(&file_pin).unwrap(), "a file");
        assert!(created.is_dir());

        // Walking the swapped path now finds the symlink.
        let err = pins.pin(&checked).unwrap_err().to_string();
        assert!(err.contains("changed after the policy checked it"), "{err}");
        assert!(err.contains("a symlink"), "{err}");

        drop(pins);
        assert!(!pins_parent.join("mdx.t").exists(), "pins are taken down");
    }
}
