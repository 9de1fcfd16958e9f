//! Signalling host processes through pidfds (Linux ≥ 5.3), so a pid that
//! was freed and handed to another process in the meantime is never hit: a
//! pidfd names one process for its whole life, and every fact read from
//! /proc is confirmed to belong to the process the pidfd holds.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::signal::Signal;
use thiserror::Error;

/// One process, held by a pidfd.
struct PidFd {
    fd: OwnedFd,
    pid: i32,
}

impl PidFd {
    fn open(pid: i32) -> Result<PidFd, Errno> {
        // SAFETY: pidfd_open(2) takes a pid and flags and returns a new file
        // descriptor, or -1 with errno set; it touches no memory of ours.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return Err(Errno::last());
        }
        let fd = i32::try_from(fd).map_err(|_| Errno::EBADF)?;
        // SAFETY: the descriptor was just created for us and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(PidFd { fd, pid })
    }

    /// `None` sends nothing and only asks whether the process still exists.
    fn signal(&self, signal: Option<Signal>) -> Result<(), Errno> {
        let sig = signal.map_or(0, |s| s as i32);
        // SAFETY: pidfd_send_signal(2) with a null siginfo and no flags reads
        // no memory of ours.
        let r = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.fd.as_raw_fd(),
                sig,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if r < 0 { Err(Errno::last()) } else { Ok(()) }
    }

    /// The pid still names this process (running, or a zombie not yet
    /// reaped, whose pid cannot be reused either). Anything read from
    /// /proc/<pid> before a `true` was read about this process.
    fn same(&self) -> bool {
        self.signal(None).is_ok()
    }
}

/// What `kill_tree` did.
#[derive(Debug, PartialEq, Eq)]
pub enum TreeKill {
    /// This many processes were sent SIGKILL.
    Killed(usize),
    /// The process had already ended.
    Gone,
    /// The pid names a process outside the container: the one we meant
    /// ended and its pid was reused. Nothing was signalled.
    NotOurs,
    /// The kernel has no pidfd_open (Linux < 5.3). Nothing was signalled: a
    /// bare pid could name another process by now.
    Unsupported,
    Failed(Errno),
}

/// SIGKILLs process `pid` and its descendants, provided `pid` lives in the
/// cgroup of container `container` (its full id). Each process is stopped
/// (SIGSTOP) as it is found, so none can fork behind the walk, then all are
/// killed; a child counts only if its parent is, at that moment, the
/// process already held.
pub fn kill_tree(pid: i32, container: &str) -> TreeKill {
    let root = match PidFd::open(pid) {
        Ok(fd) => fd,
        Err(Errno::ENOSYS) => return TreeKill::Unsupported,
        Err(Errno::ESRCH) => return TreeKill::Gone,
        Err(e) => return TreeKill::Failed(e),
    };
    let inside = in_cgroup_of(pid, container);
    if !root.same() {
        return TreeKill::Gone;
    }
    if !inside {
        return TreeKill::NotOurs;
    }
    let _ = root.signal(Some(Signal::SIGSTOP));
    let mut held = vec![root];
    let mut next = 0;
    while next < held.len() {
        let parent = held[next].pid;
        for child in children_of(parent) {
            let Ok(fd) = PidFd::open(child) else {
                continue;
            };
            let is_child = parent_of(child) == Some(parent);
            if is_child && held[next].same() && fd.same() {
                let _ = fd.signal(Some(Signal::SIGSTOP));
                held.push(fd);
            }
        }
        next += 1;
    }
    let mut killed = 0;
    for p in &held {
        match p.signal(Some(Signal::SIGKILL)) {
            Ok(()) => killed += 1,
            Err(Errno::ESRCH) => {}
            Err(e) => return TreeKill::Failed(e),
        }
    }
    TreeKill::Killed(killed)
}

/// Why the network namespace of a container's init cannot be held.
#[derive(Debug, Error)]
pub enum NetnsError {
    #[error(
        "this kernel has no pidfd_open (Linux < 5.3), so pid {pid} cannot be confirmed to \
         still be the container's init"
    )]
    Unsupported { pid: i32 },
    #[error("the container's init (pid {pid}) has already ended")]
    Gone { pid: i32 },
    #[error(
        "pid {pid} is not in the cgroup of container {container}: its init ended and the pid \
         names another process, or this executor does not see the host's pids"
    )]
    NotOurs { pid: i32, container: String },
    #[error("cannot hold pid {pid} by a pidfd")]
    Pidfd {
        pid: i32,
        #[source]
        source: Errno,
    },
    #[error("cannot open /proc/{pid}/ns/net")]
    Open {
        pid: i32,
        #[source]
        source: std::io::Error,
    },
}

/// The network namespace of container `container`'s (full id) init `pid`,
/// as an open file, so probes never go through the pid again: the file
/// keeps naming that namespace whatever becomes of the pid. The cgroup and
/// the namespace are read while a pidfd holds the process, and count only if
/// the process still lives afterwards (then its pid was not reused between).
pub fn container_netns(pid: i32, container: &str) -> Result<File, NetnsError> {
    let holder = match PidFd::open(pid) {
        Ok(fd) => fd,
        Err(Errno::ENOSYS) => return Err(NetnsError::Unsupported { pid }),
        Err(Errno::ESRCH) => return Err(NetnsError::Gone { pid }),
        Err(source) => return Err(NetnsError::Pidfd { pid, source }),
    };
    let inside = in_cgroup_of(pid, container);
    let netns = File::open(format!("/proc/{pid}/ns/net"));
    if !holder.same() {
        return Err(NetnsError::Gone { pid });
    }
    if !inside {
        return Err(NetnsError::NotOurs {
            pid,
            container: container.chars().take(12).collect(),
        });
    }
    netns.map_err(|source| NetnsError::Open { pid, source })
}

/// Docker puts a container's processes in cgroups named after its full id
/// (`/docker/<id>`, `…/docker-<id>.scope`), on cgroup v1 and v2 alike.
fn in_cgroup_of(pid: i32, container: &str) -> bool {
    // A short or empty id would match far too much.
    if container.len() < 32 {
        return false;
    }
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .is_ok_and(|text| text.lines().any(|l| l.contains(container)))
}

fn children_of(pid: i32) -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| {
            c.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect()
}

/// The parent pid from /proc/<pid>/stat, whose second field (the command
/// name, in parentheses) may itself hold spaces and parentheses.
fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Child, Command};
    use std::time::Duration;

    fn still_running(child: &mut Child) -> bool {
        std::thread::sleep(Duration::from_millis(100));
        child.try_wait().unwrap().is_none()
    }

    /// The attack: the health check's pid was reused by a host process (here
    /// a child of the test, outside any container). It must not be touched.
    #[test]
    fn a_pid_outside_the_container_is_never_signalled() {
        let mut host = Command::new("sleep").arg("60").spawn().unwrap();
        let pid = i32::try_from(host.id()).unwrap();
        let container = "4f1c0e0d9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d";
        assert_eq!(kill_tree(pid, container), TreeKill::NotOurs);
        assert!(still_running(&mut host), "a host process was killed");
        let _ = host.kill();
        let _ = host.wait();
    }

    /// The attack on health probes: the container's init pid now names a
    /// host process. Its network namespace must not be handed out.
    #[test]
    fn the_netns_of_a_pid_outside_the_container_is_refused() {
        let mut host = Command::new("sleep").arg("60").spawn().unwrap();
        let pid = i32::try_from(host.id()).unwrap();
        let container = "4f1c0e0d9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d";
        let refused = container_netns(pid, container);
        assert!(
            matches!(refused, Err(NetnsError::NotOurs { pid: p, .. }) if p == pid),
            "{refused:?}"
        );
        let _ = host.kill();
        let _ = host.wait();
        let mut done = Command::new("true").spawn().unwrap();
        let pid = i32::try_from(done.id()).unwrap();
        done.wait().unwrap();
        assert!(matches!(
            container_netns(pid, container),
            Err(NetnsError::Gone { .. })
        ));
    }

    #[test]
    fn an_ended_process_is_gone() {
        let mut done = Command::new("true").spawn().unwrap();
        let pid = i32::try_from(done.id()).unwrap();
        done.wait().unwrap();
        assert_eq!(kill_tree(pid, &"a".repeat(64)), TreeKill::Gone);
    }

    #[test]
    fn the_parent_pid_survives_odd_command_names() {
        // The command name comes from the file executed: a link named oddly.
        let dir = tempfile::tempdir().unwrap();
        let odd = dir.path().join("a) b (c");
        std::os::unix::fs::symlink("/bin/sleep", &odd).unwrap();
        let mut child = Command::new(&odd).arg("60").spawn().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let pid = i32::try_from(child.id()).unwrap();
        assert_eq!(
            parent_of(pid),
            Some(i32::try_from(std::process::id()).unwrap())
        );
        let _ = child.kill();
        let _ = child.wait();
    }
}
