//! One thing the node should have, as the plan states it, and the
//! shorthands the plan builds them with.

use std::fmt;

use serde::Serialize;
use serde::ser::{SerializeStruct, Serializer};

use crate::setup::host::zk::ZnodeAcl;
use crate::setup::input::token::Secret;
use crate::setup::sources::Artifact;

/// One thing the node should have. Owners are root throughout: every file
/// here is configuration read by services that start as root.
///
/// `Debug` shows the serialized form, so a secret file's content is as
/// hidden there as in a report (see [`redacted`]).
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Resource {
    Dir {
        path: String,
        mode: u32,
    },
    #[serde(serialize_with = "serialize_file")]
    File {
        path: String,
        mode: u32,
        content: String,
        /// Services that read this file and need a restart when it changes.
        readers: Vec<String>,
        /// Credentials: the content is written to the file (0600) and shown
        /// nowhere else, not in diffs, reports, records or `Debug`.
        secret: bool,
    },
    Link {
        path: String,
        target: String,
    },
    /// A file that must not be there (an upstart `manual` override on a job
    /// this role runs).
    Absent {
        path: String,
    },
    /// A Debian package, installed with apt on a running system.
    Package {
        name: String,
        version: Option<String>,
        /// Its maintainer scripts may not start services (a Mesos package
        /// whose own units would start daemons setup has not configured):
        /// apt runs with a policy-rc.d that refuses every start.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        hold_services: bool,
        /// What to do when apt knows no such package (or suite), for the
        /// failure's message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hint: Option<String>,
    },
    /// A component the role needs but that has no usable source: shown in
    /// the plan with the fix, never applied.
    Unavailable {
        component: String,
        fix: String,
    },
    /// The mesos-docker binary at `path`, a copy of `source` (the binary
    /// running setup): the executor tasks run.
    Executor {
        path: String,
        source: String,
    },
    /// A systemd unit's enablement.
    Service {
        name: String,
        enabled: bool,
    },
    /// An apt repository: its signing key, fetched and checked against the
    /// pinned fingerprints before it is written to `keyring`, then the
    /// deb822 `.sources` file at `path` that names it in `Signed-By:`.
    #[serde(rename = "apt-source")]
    AptSource {
        path: String,
        content: String,
        keyring: String,
        key: String,
        /// Empty for an unverified source (let through by --allow-unverified).
        fingerprints: Vec<String>,
        /// The `[pins]` name of a key to be trusted on first use, which only
        /// a run on the host itself fetches (and pins before the plan).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        first_use: Option<String>,
    },
    /// One .deb file, installed with apt along with its dependencies.
    Deb {
        component: String,
        location: String,
        sha256: Option<String>,
    },
    /// A tarball unpacked to `dir`/<12 hex of its SHA-256>, with
    /// `dir`/current pointing there.
    Tarball {
        component: String,
        location: String,
        sha256: Option<String>,
        dir: String,
        /// For a Mesos tree: what its programs need to run, checked
        /// before any change.
        #[serde(skip_serializing_if = "Option::is_none")]
        libs: Option<crate::setup::sources::libs::Libs>,
    },
    /// A Docker image: loaded from a `docker save` archive, or pulled.
    Image {
        image: String,
        archive: Option<Artifact>,
        /// The `[pins]` name its digest is recorded under when pulled for
        /// the first time (no digest of it is published).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        first_use: Option<String>,
    },
    /// A ZooKeeper path with its ACL, on a secured master: created when
    /// missing; its ACL, and the open nodes below it, fixed.
    Znode {
        path: String,
        /// The ensemble, `h1:2181,h2:2181`.
        hosts: String,
        /// The digest user setup acts as (the one Mesos or Marathon uses).
        user: String,
        /// Never in a plan printed or saved.
        #[serde(skip)]
        password: Secret,
        acl: Vec<ZnodeAcl>,
        foreign: Foreign,
        /// The ACL of the root znode `/`, on an ensemble setup runs (never
        /// on someone else's `--zk`): ZooKeeper's default lets anyone
        /// delete an empty `/mesos` and make it again, open, while the
        /// masters are down; the next master would then join a group an
        /// attacker can plant a leader in.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        root_acl: Option<Vec<ZnodeAcl>>,
        /// How to start the local ZooKeeper member first (a master that
        /// runs one); none for an external ensemble.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        start: Option<Vec<String>>,
    },
}

/// What stands for a secret file's content wherever the content itself
/// would be shown: its size only.
pub fn redacted(content: &str) -> String {
    format!("(secret content, {} bytes, not shown)", content.len())
}

fn serialize_file<S: Serializer>(
    path: &String,
    mode: &u32,
    content: &String,
    readers: &Vec<String>,
    secret: &bool,
    s: S,
) -> Result<S::Ok, S::Error> {
    let mut st = s.serialize_struct("File", 5)?;
    st.serialize_field("path", path)?;
    st.serialize_field("mode", mode)?;
    if *secret {
        st.serialize_field("content", &redacted(content))?;
    } else {
        st.serialize_field("content", content)?;
    }
    st.serialize_field("readers", readers)?;
    st.serialize_field("secret", secret)?;
    st.end()
}

impl fmt::Debug for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match serde_json::to_string(self) {
            Ok(json) => f.write_str(&json),
            Err(_) => write!(f, "{} {}", self.kind(), self.id()),
        }
    }
}

impl Resource {
    pub fn kind(&self) -> &'static str {
        match self {
            Resource::Dir { .. } => "dir",
            Resource::File { .. } => "file",
            Resource::Link { .. } => "link",
            Resource::Absent { .. } => "absent",
            Resource::Package { .. } => "package",
            Resource::Unavailable { .. } => "source",
            Resource::Service { .. } => "service",
            Resource::AptSource { .. } => "apt-source",
            Resource::Deb { .. } => "deb",
            Resource::Tarball { .. } => "tarball",
            Resource::Image { .. } => "image",
            Resource::Executor { .. } => "executor",
            Resource::Znode { .. } => "znode",
        }
    }

    /// The path, or the service's name.
    pub fn id(&self) -> &str {
        match self {
            Resource::Dir { path, .. }
            | Resource::File { path, .. }
            | Resource::Link { path, .. }
            | Resource::Absent { path }
            | Resource::AptSource { path, .. }
            | Resource::Executor { path, .. }
            | Resource::Znode { path, .. } => path,
            Resource::Package { name, .. } | Resource::Service { name, .. } => name,
            Resource::Unavailable { component, .. } => component,
            Resource::Deb { location, .. } => location,
            Resource::Tarball { dir, .. } => dir,
            Resource::Image { image, .. } => image,
        }
    }
}

/// What a node below the protected path that is not protected (an open
/// cluster's, or someone else's) becomes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Foreign {
    /// Persistent nodes get the path's ACL (their data is kept); ephemeral
    /// ones belong to a session that did not authenticate and are removed.
    Protect,
    /// Only the persistent nodes named (relative to the path) are kept and
    /// protected; every other unprotected node is removed. For Mesos, whose
    /// members are ephemeral sequence nodes: a persistent `info_…` an
    /// attacker planted would otherwise stay a "member" forever.
    Keep(Vec<String>),
}

pub fn file(path: &str, content: String, readers: &[&str]) -> Resource {
    Resource::File {
        path: path.to_owned(),
        mode: 0o644,
        content,
        readers: readers.iter().map(|s| s.to_string()).collect(),
        secret: false,
    }
}

/// A root-only file holding credentials: 0600, its content never shown.
pub fn secret_file(path: &str, content: String, readers: &[&str]) -> Resource {
    Resource::File {
        path: path.to_owned(),
        mode: 0o600,
        content,
        readers: readers.iter().map(|s| s.to_string()).collect(),
        secret: true,
    }
}

/// A directory only root may enter.
pub fn private_dir(path: &str) -> Resource {
    Resource::Dir {
        path: path.to_owned(),
        mode: 0o700,
    }
}

pub fn dir(path: &str) -> Resource {
    Resource::Dir {
        path: path.to_owned(),
        mode: 0o755,
    }
}

pub fn package(name: &str) -> Resource {
    Resource::Package {
        name: name.to_owned(),
        version: None,
        hold_services: false,
        hint: None,
    }
}

pub fn service(name: &str, enabled: bool) -> Resource {
    Resource::Service {
        name: name.to_owned(),
        enabled,
    }
}
