//! What every resource kind shares: the outcome of a check ([`Check`], with
//! the [`Change`] it found), the error a check or change fails with, and
//! the recording helpers each kind uses before it touches the host.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use similar::TextDiff;

use crate::setup::apply::fetch::FetchError;
use crate::setup::apt::openpgp::KeyError;
use crate::setup::apt::packages::AptError;
use crate::setup::host::fsops;
use crate::setup::host::system::System;
use crate::setup::record::{Entry, Kind, Manifest, ManifestError};
use crate::setup::sources::Artifact;

/// A file's earlier bytes, kept for its backup. They may be a secret's (a
/// credential file setup replaces), so `Debug` shows their size only.
#[derive(Clone, PartialEq, Eq)]
pub struct Old(pub Vec<u8>);

impl std::fmt::Debug for Old {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Old({} bytes)", self.0.len())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    CreateFile,
    /// Different content; `foreign` when the file is not what setup last
    /// wrote (a packaged file or a hand edit), so it is backed up first.
    ReplaceFile {
        old: Old,
        foreign: bool,
    },
    Chmod {
        from: u32,
    },
    Chown,
    CreateDir,
    CreateLink,
    Relink {
        from: String,
    },
    /// A file where the link should be (an older executor): backed up.
    ReplaceWithLink,
    /// Remove a file that should not be there; `foreign` as for ReplaceFile.
    Remove {
        foreign: bool,
    },
    Enable,
    Disable,
    /// Install a package with apt (by name or a .deb), or load an image.
    Install,
    /// Write an apt source: its keyring (`key`, fetched and checked) and
    /// its `.sources` file (`list`, as for any file).
    AptSource {
        key: bool,
        list: Option<Box<Change>>,
    },
    /// Unpack a tarball and point `current` at it.
    Unpack,
    /// Copy the mesos-docker binary `from` where there is none.
    InstallBinary {
        from: String,
    },
    /// Copy the mesos-docker binary `from` over one that differs.
    ReplaceBinary {
        from: String,
    },
    /// Create a ZooKeeper path or fix its ACLs.
    Znode(ZnodeFix),
}

/// What must change for the path to be as planned.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ZnodeFix {
    /// The local ZooKeeper member does not serve yet (and why).
    pub waiting: Option<String>,
    pub create: bool,
    /// The path's ACL now, when it differs from the plan.
    pub acl_was: Option<Vec<crate::setup::host::zk::ZnodeAcl>>,
    /// The root znode's ACL now, when setup guards it and it differs.
    pub root_acl_was: Option<Vec<crate::setup::host::zk::ZnodeAcl>>,
    /// Persistent nodes below that get the path's ACL.
    pub protect: Vec<String>,
    /// Nodes below that are removed, deepest first.
    pub remove: Vec<String>,
}

impl ZnodeFix {
    pub fn is_empty(&self) -> bool {
        *self == ZnodeFix::default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Ok,
    Change {
        change: Change,
        /// Unified diff, for files whose content changes.
        diff: Option<String>,
    },
    /// Left alone, with the reason.
    Skipped(String),
}

/// Why a resource's check or change failed. The operator sees it through
/// [`crate::error_chain`], which appends each cause once.
#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    /// A file operation (`action` as the operator reads it: "cannot write").
    #[error("{action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot install {from} as {}", to.display())]
    Install {
        from: String,
        to: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read the ELF files of {location} ({})", file.display())]
    Elf {
        location: String,
        file: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The binary's digest (the cause names the path again).
    #[error("cannot read {}", path.display())]
    Hash {
        path: PathBuf,
        #[source]
        source: FetchError,
    },
    #[error("cannot read the installed Mesos programs")]
    Programs(#[source] io::Error),
    #[error("cannot run {command}")]
    Run {
        command: String,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Record(#[from] ManifestError),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Apt(#[from] AptError),
    /// What was found refuses the change, in words composed for the
    /// operator (what is wrong and how to fix it).
    #[error("cannot start the download runtime")]
    Runtime(#[source] io::Error),
    /// An operation in the operator's words, and its cause.
    #[error("{what}")]
    Op {
        what: String,
        #[source]
        source: io::Error,
    },
    /// The signing key is not one apt can use; shown inside the message.
    #[error("the signing key {key}: {cause}; nothing was written")]
    BadKey { key: String, cause: KeyError },
    /// A typed cause shown inside the message, because the advice on what
    /// to do must follow it.
    #[error("{action}: {cause}; {fix}")]
    Advised {
        action: String,
        cause: io::Error,
        fix: &'static str,
    },
    /// ZooKeeper refused or did not answer; the cause is shown inside the
    /// message, because the advice must follow it.
    #[error(
        "cannot protect {path} in ZooKeeper: {}; {advice}",
        crate::error_chain(cause)
    )]
    Zookeeper {
        path: String,
        cause: Box<crate::setup::host::zk::ZkError>,
        advice: String,
    },
    #[error("{0}")]
    Refused(String),
}

pub(crate) fn err(what: impl Into<String>) -> ResourceError {
    ResourceError::Refused(what.into())
}

pub(crate) fn io_err(action: &'static str, path: &Path, source: io::Error) -> ResourceError {
    ResourceError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) fn run_err(command: impl Into<String>, source: io::Error) -> ResourceError {
    ResourceError::Run {
        command: command.into(),
        source,
    }
}

/// The diff a dry run shows for a file's content; `hidden` (a secret file,
/// or a root-only one being removed) gives the sizes only: a report, a
/// terminal or a CI log is readable by more people than the file.
pub fn shown_diff(path: &str, old: &[u8], new: &str, hidden: bool) -> String {
    if !hidden {
        return diff(path, old, new);
    }
    format!(
        "--- {path} (now)\n+++ {path} (setup)\n secret content, {} bytes now, {} bytes from setup, not shown\n",
        old.len(),
        new.len()
    )
}

pub fn diff(path: &str, old: &[u8], new: &str) -> String {
    let old = String::from_utf8_lossy(old);
    TextDiff::from_lines(old.as_ref(), new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("{path} (now)"), &format!("{path} (setup)"))
        .to_string()
}

/// A file whose content is right: whether its mode and owner are too.
pub fn mode_and_owner(meta: &fs::Metadata, mode: u32) -> Check {
    let now_mode = meta.permissions().mode() & 0o7777;
    if now_mode != mode {
        return Check::Change {
            change: Change::Chmod { from: now_mode },
            diff: None,
        };
    }
    if let Some((uid, gid)) = fsops::root_owner()
        && (meta.uid(), meta.gid()) != (uid, gid)
    {
        return Check::Change {
            change: Change::Chown,
            diff: None,
        };
    }
    Check::Ok
}

pub fn artifact(location: &str, sha256: &Option<String>) -> Artifact {
    Artifact {
        location: location.to_owned(),
        sha256: sha256.clone(),
        packages: vec![],
    }
}

pub fn blank(path: &str, kind: Kind) -> Entry {
    Entry {
        path: path.to_owned(),
        kind,
        created: false,
        backup: None,
        mode_before: None,
        sha256: None,
        target: None,
        target_before: None,
    }
}

/// Creates (and records) the missing parent directories of a host path.
pub fn ensure_parents(
    sys: &System,
    path: &str,
    manifest: &mut Manifest,
) -> Result<(), ResourceError> {
    let parent = Path::new(path)
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|| "/".into());
    let missing = fsops::missing_dirs(sys, &parent);
    if missing.is_empty() {
        return Ok(());
    }
    for d in &missing {
        manifest.record(Entry {
            created: true,
            ..blank(d, Kind::Dir)
        });
    }
    save(sys, manifest)?;
    for d in &missing {
        fsops::create_dir(&sys.path(d), 0o755)
            .map_err(|e| io_err("cannot create", &sys.path(d), e))?;
    }
    Ok(())
}

pub(crate) fn save(sys: &System, manifest: &mut Manifest) -> Result<(), ResourceError> {
    Ok(manifest.save(sys)?)
}

/// A path under the root, as the host names it.
pub fn host_path(sys: &System, p: &Path) -> String {
    match p.strip_prefix(sys.root()) {
        Ok(rel) => format!("/{}", rel.display()),
        Err(_) => p.display().to_string(),
    }
}

pub(crate) fn offline(sys: &System, what: String) -> Check {
    Check::Skipped(format!(
        "{} is not the running system: a run on the host itself would {what}",
        sys.root().display()
    ))
}

/// The run stopped at a resource.
#[derive(Debug, thiserror::Error)]
#[error(
    "stopped at {kind} {id}: {}. Fix that and run setup again: what was done so far is recorded and will not be redone",
    .reason.trim_end_matches('.')
)]
pub struct Stopped {
    pub kind: String,
    pub id: String,
    pub reason: String,
}
