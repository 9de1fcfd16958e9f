//! Debian packages through apt: what dpkg says is installed, installing what
//! is missing (refreshing the index only when apt does not know a package),
//! and purging what setup installed. Every command goes through the
//! [`System`]'s runner; the dpkg lock is looked at under its root.

use std::cell::Cell;
use std::fs::File;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use crate::setup::host::system::System;

/// dpkg's locks: apt takes the frontend lock first, dpkg itself the other.
const LOCKS: [&str; 2] = ["/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock"];

/// What setup asks of apt and dpkg, once per run.
pub struct Apt {
    /// `apt-get update` already ran in this run.
    updated: Cell<bool>,
    /// An apt source changed in this run: the index is stale until updated.
    stale: Cell<bool>,
    /// How long to wait for another package manager to finish.
    lock_wait: Duration,
}

/// What apt or dpkg refused or failed at. `stderr` fields hold the last
/// lines the command printed, for the operator.
#[derive(Debug, thiserror::Error)]
pub enum AptError {
    #[error("cannot run {command}")]
    Run {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{command} failed: {stderr}")]
    Failed { command: String, stderr: String },
    #[error("apt-get update failed: {stderr}; {advice}")]
    Update { stderr: String, advice: String },
    #[error(
        "apt knows no package {name} even after apt-get update: enable the repository that has it (for Debian/Ubuntu: main/universe) or install it by hand, then run setup again"
    )]
    NoCandidate { name: String },
    #[error("{path} is not a .deb package: dpkg-deb says {stderr}")]
    NotADeb { path: String, stderr: String },
    #[error("{path}: dpkg-deb -f names no Package and Version")]
    NoFields { path: String },
    #[error(
        "{lock} is still held by {holder} after {secs}s: another package manager is running; let it finish (or stop it), then run setup again"
    )]
    LockHeld {
        lock: String,
        holder: String,
        secs: u64,
    },
    #[error(transparent)]
    Repair(#[from] crate::setup::apt::repair::RepairError),
}

impl AptError {
    /// Whether apt lacks the package (or could not refresh its index): a
    /// hint at the repository that has it helps.
    pub fn is_missing_package(&self) -> bool {
        matches!(self, AptError::NoCandidate { .. } | AptError::Update { .. })
    }
}

impl Apt {
    pub fn new(lock_wait: Duration) -> Self {
        Apt {
            updated: Cell::new(false),
            stale: Cell::new(false),
            lock_wait,
        }
    }

    /// A .sources file or keyring changed: the next install updates first.
    pub fn source_changed(&self) {
        self.stale.set(true);
        self.updated.set(false);
    }
}

/// `name` or `name=version`, as apt-get takes it.
pub fn spec(name: &str, version: Option<&str>) -> String {
    match version {
        Some(v) => format!("{name}={v}"),
        None => name.to_owned(),
    }
}

/// The version dpkg has installed, from the root's status database.
pub fn installed_version(sys: &System, name: &str) -> Option<String> {
    let text = sys.read("/var/lib/dpkg/status").ok()?;
    installed_in(&text, name)
}

fn installed_in(status: &str, name: &str) -> Option<String> {
    status.split("\n\n").find_map(|stanza| {
        let field = |f: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(f)?.strip_prefix(':'))
                .map(str::trim)
        };
        (field("Package") == Some(name) && field("Status")?.ends_with(" installed"))
            .then(|| field("Version").map(str::to_owned))
            .flatten()
    })
}

/// The apt-get command line (after `env`) that installs packages
/// non-interactively; a conffile already there (setup's own, or a hand edit)
/// is kept rather than asked about.
pub fn install_args(specs: &[String]) -> Vec<String> {
    let mut a: Vec<String> = [
        "DEBIAN_FRONTEND=noninteractive",
        "apt-get",
        "install",
        "-y",
        "--no-install-recommends",
        "-o",
        "Dpkg::Options::=--force-confdef",
        "-o",
        "Dpkg::Options::=--force-confold",
    ]
    .map(String::from)
    .to_vec();
    a.extend(specs.iter().cloned());
    a
}

fn run(sys: &System, args: &[String]) -> Result<crate::setup::host::system::Output, AptError> {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    sys.run("env", &refs).map_err(|source| AptError::Run {
        command: args[1..].join(" "),
        source,
    })
}

/// Whether apt knows an installation candidate for the package.
fn has_candidate(sys: &System, name: &str) -> Result<bool, AptError> {
    let out = sys
        .run("apt-cache", &["policy", name])
        .map_err(|source| AptError::Run {
            command: format!("apt-cache policy {name}"),
            source,
        })?;
    Ok(out.success
        && out.stdout.lines().any(|l| {
            l.trim()
                .strip_prefix("Candidate:")
                .is_some_and(|c| c.trim() != "(none)")
        }))
}

/// Installs one package, waiting for the dpkg lock first. Returns a note
/// for the report when the package index was refreshed.
pub fn install(
    sys: &System,
    apt: &Apt,
    name: &str,
    version: Option<&str>,
    notify: &mut dyn FnMut(String),
) -> Result<Option<String>, AptError> {
    let mut note = None;
    if apt.stale.get() {
        note = Some(update(sys, apt, notify)?);
    }
    if !has_candidate(sys, name)? {
        if apt.updated.get() {
            return Err(no_candidate(name));
        }
        note = Some(update(sys, apt, notify)?);
        if !has_candidate(sys, name)? {
            return Err(no_candidate(name));
        }
    }
    wait_for_lock(sys, apt.lock_wait, notify)?;
    crate::setup::apt::repair::finish_interrupted(sys, notify)?;
    let out = run(sys, &install_args(&[spec(name, version)]))?;
    if !out.success {
        return Err(AptError::Failed {
            command: format!("apt-get install {}", spec(name, version)),
            stderr: last_lines(&out.stderr),
        });
    }
    Ok(note)
}

fn update(sys: &System, apt: &Apt, notify: &mut dyn FnMut(String)) -> Result<String, AptError> {
    wait_for_lock(sys, apt.lock_wait, notify)?;
    let out = run(
        sys,
        &["DEBIAN_FRONTEND=noninteractive", "apt-get", "update"].map(String::from),
    )?;
    if !out.success {
        return Err(AptError::Update {
            stderr: last_lines(&out.stderr),
            advice: update_advice(&out.stderr, |id| expiry_of(sys, id)),
        });
    }
    apt.updated.set(true);
    apt.stale.set(false);
    Ok("package index refreshed (apt-get update)".to_owned())
}

/// When the key with this long id, in one of the keyrings setup writes,
/// expired (YYYY-MM-DD).
fn expiry_of(sys: &System, id: &str) -> Option<String> {
    let dir = std::fs::read_dir(sys.path("/etc/apt/keyrings")).ok()?;
    dir.flatten().find_map(|e| {
        let data = std::fs::read(e.path()).ok()?;
        let lives = crate::setup::apt::openpgp::key_lives(&data).ok()?;
        lives
            .iter()
            .find(|k| k.fingerprint.ends_with(&id.to_ascii_uppercase()))
            .and_then(|k| k.expires)
            .map(crate::setup::apt::openpgp::date)
    })
}

/// What to do about a failed `apt-get update`, from what apt said;
/// `expiry` tells when a key (by long id) expired, where setup can know.
pub fn update_advice(stderr: &str, expiry: impl Fn(&str) -> Option<String>) -> String {
    // apt-get: "The following signatures were invalid: EXPKEYSIG 63F8CEE149ACA59E …"
    let expired = stderr
        .split_whitespace()
        .skip_while(|w| *w != "EXPKEYSIG")
        .nth(1);
    match expired {
        Some(id) => format!(
            "apt refuses the repository's signature because the key {id} that made it has expired{}. Run setup again: it fetches an expired key anew, in case its publisher has extended it; if the key at the source's key URL is still expired, the publisher has not extended it yet (ask them), or name another source",
            expiry(id).map(|d| format!(" (on {d}, UTC)")).unwrap_or_default()
        ),
        None => "check /etc/apt/sources.list, /etc/apt/sources.list.d and the network, then run setup again".to_owned(),
    }
}

/// Installs a .deb file with apt, which brings its dependencies too.
pub fn install_file(
    sys: &System,
    apt: &Apt,
    path: &str,
    notify: &mut dyn FnMut(String),
) -> Result<Option<String>, AptError> {
    // Dependencies come from the index: refresh it once if a source changed
    // or it was never refreshed in this run.
    let note = if apt.stale.get() {
        Some(update(sys, apt, notify)?)
    } else {
        None
    };
    wait_for_lock(sys, apt.lock_wait, notify)?;
    crate::setup::apt::repair::finish_interrupted(sys, notify)?;
    let out = run(sys, &install_args(&[path.to_owned()]))?;
    if !out.success {
        return Err(AptError::Failed {
            command: format!("apt-get install {path}"),
            stderr: last_lines(&out.stderr),
        });
    }
    Ok(note)
}

/// The Package and Version fields of a .deb file, from `dpkg-deb -f`.
pub fn deb_fields(sys: &System, path: &str) -> Result<(String, String), AptError> {
    let out = sys
        .run("dpkg-deb", &["-f", path, "Package", "Version"])
        .map_err(|source| AptError::Run {
            command: format!("dpkg-deb -f {path}"),
            source,
        })?;
    if !out.success {
        return Err(AptError::NotADeb {
            path: path.to_owned(),
            stderr: last_lines(&out.stderr),
        });
    }
    let field = |f: &str| {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix(f)?.strip_prefix(':'))
            .map(|v| v.trim().to_owned())
    };
    match (field("Package"), field("Version")) {
        (Some(p), Some(v)) => Ok((p, v)),
        _ => Err(AptError::NoFields {
            path: path.to_owned(),
        }),
    }
}

fn no_candidate(name: &str) -> AptError {
    AptError::NoCandidate {
        name: name.to_owned(),
    }
}

/// Purges packages setup installed, with the dependencies apt pulled in
/// for them (`--autoremove`: what is marked automatic and no longer needed),
/// so the node is left as it was: zookeeperd alone brings in a JRE.
pub fn purge(sys: &System, apt: &Apt, names: &[String]) -> Result<(), AptError> {
    wait_for_lock(sys, apt.lock_wait, &mut |m| eprintln!("{m}"))?;
    let mut args: Vec<String> = [
        "DEBIAN_FRONTEND=noninteractive",
        "apt-get",
        "purge",
        "-y",
        "--autoremove",
    ]
    .map(String::from)
    .to_vec();
    args.extend(names.iter().cloned());
    let out = run(sys, &args)?;
    if out.success {
        Ok(())
    } else {
        Err(AptError::Failed {
            command: format!("apt-get purge {}", names.join(" ")),
            stderr: last_lines(&out.stderr),
        })
    }
}

fn last_lines(text: &str) -> String {
    let lines: Vec<&str> = text.trim().lines().collect();
    lines[lines.len().saturating_sub(5)..].join(" / ")
}

/// The process holding one of dpkg's locks under the root, if any. Open file
/// description locks conflict with the classic fcntl locks apt and dpkg
/// take, and asking never takes the lock.
pub fn lock_holder(sys: &System) -> Option<(String, i32)> {
    LOCKS.iter().find_map(|lock| {
        let f = File::open(sys.path(lock)).ok()?;
        let mut fl: nix::libc::flock = unsafe { std::mem::zeroed() };
        fl.l_type = nix::libc::F_WRLCK as i16;
        fl.l_whence = nix::libc::SEEK_SET as i16;
        nix::fcntl::fcntl(f.as_fd(), nix::fcntl::FcntlArg::F_OFD_GETLK(&mut fl)).ok()?;
        (fl.l_type != nix::libc::F_UNLCK as i16).then(|| ((*lock).to_owned(), fl.l_pid))
    })
}

/// Waits while another package manager (unattended-upgrades, an operator's
/// apt) holds dpkg's lock, saying so once; gives up after `bound`.
pub fn wait_for_lock(
    sys: &System,
    bound: Duration,
    notify: &mut dyn FnMut(String),
) -> Result<(), AptError> {
    let start = Instant::now();
    let mut told = false;
    loop {
        let Some((lock, pid)) = lock_holder(sys) else {
            return Ok(());
        };
        let holder = if pid > 0 {
            format!("process {pid}")
        } else {
            "another process".to_owned()
        };
        if start.elapsed() >= bound {
            return Err(AptError::LockHeld {
                lock,
                holder,
                secs: bound.as_secs(),
            });
        }
        if !told {
            notify(format!(
                "waiting up to {}s for {lock} (held by {holder})",
                bound.as_secs()
            ));
            told = true;
        }
        std::thread::sleep(Duration::from_millis(200).min(bound));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::host::testkit::RecordingRunner;

    #[test]
    fn an_expired_signature_is_named() {
        let apt = "W: GPG error: https://rpm.aventer.biz/Debian bookworm InRelease: The following signatures were invalid: EXPKEYSIG 63F8CEE149ACA59E AVENTER Support <support@aventer.biz>\nE: The repository 'https://rpm.aventer.biz/Debian bookworm InRelease' is not signed.\n";
        let a = update_advice(apt, |_| None);
        assert!(a.starts_with("apt refuses the repository's signature because the key 63F8CEE149ACA59E that made it has expired. Run setup again"), "{a}");
        let a = update_advice(apt, |id| {
            (id == "63F8CEE149ACA59E").then(|| "2026-09-28".into())
        });
        assert!(a.starts_with("apt refuses the repository's signature because the key 63F8CEE149ACA59E that made it has expired (on 2026-09-28, UTC). Run setup again"), "{a}");
        assert!(
            update_advice("E: Failed to fetch", |_| None)
                .starts_with("check /etc/apt/sources.list")
        );
    }

    #[test]
    fn installed_only_when_dpkg_says_installed() {
        let status = "Package: zookeeperd\nStatus: install ok installed\nVersion: 3.8.0-11\n\n\
                      Package: docker.io\nStatus: deinstall ok config-files\nVersion: 20.10\n";
        assert_eq!(
            installed_in(status, "zookeeperd").as_deref(),
            Some("3.8.0-11")
        );
        assert_eq!(installed_in(status, "docker.io"), None);
        assert_eq!(installed_in(status, "zookeeper"), None);
    }

    #[test]
    fn a_held_lock_is_waited_for_then_named() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("var/lib/dpkg")).unwrap();
        let path = root.path().join("var/lib/dpkg/lock-frontend");
        std::fs::write(&path, "").unwrap();
        let sys = System::new(root.path(), Box::new(RecordingRunner::new()));
        let mut notes = Vec::new();
        wait_for_lock(&sys, Duration::from_millis(10), &mut |m| notes.push(m)).unwrap();
        assert!(notes.is_empty());

        // An open-file-description lock: it conflicts like apt's classic
        // fcntl lock, which this process could not hold here since the
        // probe's own close would drop it.
        let held = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        let mut fl: nix::libc::flock = unsafe { std::mem::zeroed() };
        fl.l_type = nix::libc::F_WRLCK as i16;
        fl.l_whence = nix::libc::SEEK_SET as i16;
        nix::fcntl::fcntl(held.as_fd(), nix::fcntl::FcntlArg::F_OFD_SETLK(&fl)).unwrap();
        let e =
            wait_for_lock(&sys, Duration::from_millis(300), &mut |m| notes.push(m)).unwrap_err();
        assert!(
            e.to_string()
                .contains("lock-frontend is still held by another process"),
            "{e}"
        );
        assert!(e.to_string().contains("run setup again"), "{e}");
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].starts_with("waiting up to 0s for"), "{notes:?}");
        drop(held);
        wait_for_lock(&sys, Duration::from_millis(10), &mut |_| {}).unwrap();
    }
}
