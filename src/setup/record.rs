//! The record of what setup created or changed on this node
//! (/var/lib/mesos-docker/manifest.json), which `uninstall` undoes and
//! `status` checks. It is saved before each change is made, so a run killed
//! half-way leaves a record that a re-run (or uninstall) can finish from.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::setup::host::fsops;
use crate::setup::host::system::System;
use crate::setup::input::model::Ensemble;

pub const PATH: &str = "/var/lib/mesos-docker/manifest.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    File,
    Dir,
    Link,
    /// A directory tree setup unpacked or filled (a tarball source, the
    /// download cache): removed whole.
    Tree,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub path: String,
    pub kind: Kind,
    /// Nothing was at the path before setup.
    pub created: bool,
    /// Where what was there before setup first replaced it is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
    /// The mode before setup changed it, when setup only changed the mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode_before: Option<u32>,
    /// SHA-256 of the content setup last wrote (files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The target setup last pointed the link at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Where the link pointed before setup first changed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_before: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceEntry {
    pub name: String,
    /// Whether it was enabled before setup first changed it.
    pub was_enabled: bool,
}

/// A pin setup learned by trusting a source on first use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trusted {
    /// The `[pins]` name: the catalog id.
    pub name: String,
    /// The key's fingerprint, or the image's `sha256:` digest.
    pub pin: String,
    /// What was fetched: `the key URL`, `the image NAME`.
    pub from: String,
    /// The day (UTC), YYYY-MM-DD.
    pub on: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ensemble: Option<Ensemble>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum: Option<usize>,
    #[serde(default)]
    pub entries: Vec<Entry>,
    #[serde(default)]
    pub services: Vec<ServiceEntry>,
    /// Packages setup installed (none of them was there before), which
    /// uninstall purges; recorded before apt runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<String>,
    /// Docker images setup loaded or pulled, which uninstall removes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    /// How the executor binary looked when setup last installed it, so that
    /// a re-run need not hash it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor: Option<Stamp>,
    /// Sources trusted on first use on this node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted: Vec<Trusted>,
    /// How the node is secured, by fingerprint: which cluster it belongs
    /// to, so a later run refuses another cluster's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<crate::setup::input::token::Fingerprints>,
    /// Features setup turns on only where the installed programs have
    /// them, by name (`executor-auth`): whether each is on, and why not.
    /// `status` reads it.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub features: std::collections::BTreeMap<String, Feature>,
}

/// Whether a feature is on, as the last run decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feature {
    pub enabled: bool,
    /// Why it is off, in the operator's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read setup's record {path}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "setup's record {path} is damaged ({reason}); move it away to start a new record (uninstall then cannot undo earlier runs)"
    )]
    Damaged { path: String, reason: String },
    #[error("cannot write setup's record {path}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Manifest {
    /// The record under the root; an empty one when there is none yet.
    pub fn load(sys: &System) -> Result<Option<Manifest>, ManifestError> {
        let path = sys.path(PATH);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(ManifestError::Read {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| ManifestError::Damaged {
                path: path.display().to_string(),
                reason: e.to_string(),
            })
    }

    pub fn entry(&self, path: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.path == path)
    }

    /// Notes a change. The first record of a path keeps what was there before
    /// setup; later ones only update what setup last wrote.
    pub fn record(&mut self, new: Entry) {
        match self.entries.iter_mut().find(|e| e.path == new.path) {
            Some(e) => {
                e.sha256 = new.sha256;
                e.target = new.target;
                if e.mode_before.is_none() && !e.created && e.backup.is_none() {
                    e.mode_before = new.mode_before;
                }
            }
            None => self.entries.push(new),
        }
    }

    pub fn record_service(&mut self, name: &str, was_enabled: bool) {
        if !self.services.iter().any(|s| s.name == name) {
            self.services.push(ServiceEntry {
                name: name.to_owned(),
                was_enabled,
            });
        }
    }

    /// Writes the record atomically; the directories it needs are created
    /// and recorded first, so that uninstall removes them too.
    pub fn save(&mut self, sys: &System) -> Result<(), ManifestError> {
        let write_err = |source| ManifestError::Write {
            path: sys.path(PATH).display().to_string(),
            source,
        };
        let parent = Path::new(PATH).parent().expect("manifest has a parent");
        let missing = fsops::missing_dirs(sys, parent.to_str().expect("utf-8 path"));
        for d in &missing {
            self.record(Entry {
                path: d.clone(),
                kind: Kind::Dir,
                created: true,
                backup: None,
                mode_before: None,
                sha256: None,
                target: None,
                target_before: None,
            });
        }
        for d in &missing {
            fsops::create_dir(&sys.path(d), 0o755).map_err(write_err)?;
        }
        self.version = 1;
        let mut text = serde_json::to_string_pretty(self).expect("manifest serializes");
        text.push('\n');
        // Root-only: it holds the digest of every file setup wrote, and a
        // digest of a file with a proxy password in it lets anyone who can
        // read it guess the password offline.
        fsops::write_atomic(&sys.path(PATH), text.as_bytes(), 0o600, fsops::root_owner())
            .map_err(write_err)
    }

    /// Removes the record itself (uninstall's last step).
    pub fn remove(sys: &System) -> std::io::Result<()> {
        match std::fs::remove_file(sys.path(PATH)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
}

// The installed executor binary's stamps live here, with the rest of the
// record, so that reading the record needs nothing of apply.

/// What a file looked like: enough to tell it was not written since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStamp {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    /// Seconds and nanoseconds.
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
}

impl FileStamp {
    pub fn of(meta: &std::fs::Metadata) -> Self {
        FileStamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

/// Recorded in the manifest when setup installs the binary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// Host path of the installed binary.
    pub path: String,
    pub sha256: String,
    pub installed: FileStamp,
    /// The binary it was copied from (outside any --root).
    pub source: String,
    pub source_stamp: FileStamp,
}
