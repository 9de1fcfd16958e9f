//! A short, blocking ZooKeeper session for setup: connect (as a digest user
//! or anonymously), read and change nodes and their ACLs. Every call has a
//! deadline, so a missing or quorum-less ensemble ends the call with an
//! error, never a hang.
//!
//! The wire protocol is zookeeper-client's (kezhuw); this only bounds it in
//! time and turns its answers into setup's types. The session is served
//! only while a call runs (a current-thread runtime): keep it short, as
//! setup's steps do; one left idle for longer than its timeout is lost.

use std::time::Duration;

use zookeeper_client as zk;

use crate::setup::input::token::Secret;
use serde::Serialize;

/// ZooKeeper's permission bits (org.apache.zookeeper.ZooDefs.Perms).
pub const READ: u8 = 1;
pub const WRITE: u8 = 2;
pub const CREATE: u8 = 4;
pub const DELETE: u8 = 8;
pub const ADMIN: u8 = 16;
pub const ALL: u8 = READ | WRITE | CREATE | DELETE | ADMIN;

/// One entry of a znode's ACL: `scheme:id:perms` as zkCli prints it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ZnodeAcl {
    pub scheme: String,
    pub id: String,
    pub perms: u8,
}

impl ZnodeAcl {
    /// What everyone (`world:anyone`) may do.
    pub fn world(perms: u8) -> Self {
        ZnodeAcl {
            scheme: "world".into(),
            id: "anyone".into(),
            perms,
        }
    }

    pub fn world_read() -> Self {
        Self::world(READ)
    }

    pub fn digest_all(digest_id: &str) -> Self {
        ZnodeAcl {
            scheme: "digest".into(),
            id: digest_id.to_owned(),
            perms: ALL,
        }
    }
}

impl std::fmt::Display for ZnodeAcl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let letters: String = [
            (CREATE, 'c'),
            (DELETE, 'd'),
            (READ, 'r'),
            (WRITE, 'w'),
            (ADMIN, 'a'),
        ]
        .iter()
        .filter(|(bit, _)| self.perms & bit != 0)
        .map(|(_, l)| *l)
        .collect();
        write!(f, "{}:{}:{letters}", self.scheme, self.id)
    }
}

impl ZnodeAcl {
    /// As ZooKeeper (3.7 on) shows it to a client without ADMIN: a digest
    /// id's hash replaced by `x`. The hash of a derived secret is no key,
    /// but it need not be printed either.
    pub fn redacted(&self) -> String {
        let mut shown = self.clone();
        if shown.scheme == "digest"
            && let Some((user, _)) = shown.id.split_once(':')
        {
            shown.id = format!("{user}:x");
        }
        shown.to_string()
    }
}

/// Plans and reports show the redacted form.
impl Serialize for ZnodeAcl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

/// How long one request may take once connected.
const OP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ZkError {
    #[error("cannot start the ZooKeeper client")]
    Runtime(#[source] std::io::Error),
    #[error("cannot reach ZooKeeper at {hosts} within {within:?}")]
    Connect {
        hosts: String,
        within: Duration,
        #[source]
        source: ConnectCause,
    },
    #[error("ZooKeeper {op} {path}")]
    Op {
        op: &'static str,
        path: String,
        #[source]
        source: zk::Error,
    },
    #[error("ZooKeeper {op} {path}: no answer within {OP_TIMEOUT:?}")]
    Timeout { op: &'static str, path: String },
}

/// Why a session could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ConnectCause {
    #[error(
        "no session was established in time (no server answers, or the ensemble has no quorum)"
    )]
    Deadline,
    #[error(transparent)]
    Client(#[from] zk::Error),
}

impl ZkError {
    /// The server refused for want of a permission (ZooKeeper's NoAuth).
    pub fn is_no_auth(&self) -> bool {
        matches!(
            self,
            ZkError::Op {
                source: zk::Error::NoAuth,
                ..
            }
        )
    }
}

/// What setup needs of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    pub acl: Vec<ZnodeAcl>,
    /// Owned by a session (it goes when the session ends).
    pub ephemeral: bool,
}

/// One session, alive until dropped.
pub struct Session {
    rt: tokio::runtime::Runtime,
    client: zk::Client,
}

impl Session {
    /// Connects to `hosts` (`h1:2181,h2:2181`), as `user` with `password`
    /// in the digest scheme when given, within `within`.
    pub fn connect(
        hosts: &str,
        auth: Option<(&str, &Secret)>,
        within: Duration,
    ) -> Result<Session, ZkError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ZkError::Runtime)?;
        let connect_err = |source| ZkError::Connect {
            hosts: hosts.to_owned(),
            within,
            source,
        };
        // 3.4 is what the oldest supported release ships (Ubuntu 14.04): its
        // requests are ones every later server answers too.
        let mut connector = zk::Client::connector()
            .with_server_version(3, 4, 0)
            .with_session_timeout(within.max(Duration::from_secs(4)))
            .with_connection_timeout(within.min(Duration::from_secs(3)));
        if let Some((user, password)) = auth {
            let credentials = format!("{user}:{}", password.expose());
            connector = connector.with_auth("digest", credentials.as_bytes());
        }
        let client = rt
            .block_on(async {
                tokio::time::timeout(within, connector.connect(hosts))
                    .await
                    .map_err(|_| ConnectCause::Deadline)?
                    .map_err(ConnectCause::from)
            })
            .map_err(connect_err)?;
        Ok(Session { rt, client })
    }

    fn wait<T>(
        &self,
        op: &'static str,
        path: &str,
        call: impl std::future::Future<Output = Result<T, zk::Error>>,
    ) -> Result<T, ZkError> {
        self.rt
            .block_on(async { tokio::time::timeout(OP_TIMEOUT, call).await })
            .map_err(|_| ZkError::Timeout {
                op,
                path: path.to_owned(),
            })?
            .map_err(|source| ZkError::Op {
                op,
                path: path.to_owned(),
                source,
            })
    }

    /// The node's ACL and kind; `None` when there is no such node.
    pub fn node(&self, path: &str) -> Result<Option<NodeInfo>, ZkError> {
        match self.wait("get ACL of", path, self.client.get_acl(path)) {
            Ok((acl, stat)) => Ok(Some(NodeInfo {
                acl: acl.iter().map(from_zk).collect(),
                ephemeral: stat.ephemeral_owner != 0,
            })),
            Err(ZkError::Op {
                source: zk::Error::NoNode,
                ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The children's names; none when the node went away meanwhile.
    pub fn children(&self, path: &str) -> Result<Vec<String>, ZkError> {
        match self.wait("list children of", path, self.client.list_children(path)) {
            Err(ZkError::Op {
                source: zk::Error::NoNode,
                ..
            }) => Ok(Vec::new()),
            other => other,
        }
    }

    pub fn set_acl(&self, path: &str, acl: &[ZnodeAcl]) -> Result<(), ZkError> {
        let acl: Vec<zk::Acl> = acl.iter().map(to_zk).collect();
        self.wait("set ACL of", path, self.client.set_acl(path, &acl, None))
            .map(drop)
    }

    /// Creates a persistent node; `false` when one is there already.
    pub fn create(&self, path: &str, data: &[u8], acl: &[ZnodeAcl]) -> Result<bool, ZkError> {
        self.create_as(path, data, acl, zk::CreateMode::Persistent)
    }

    /// Creates an ephemeral node, owned by this session.
    pub fn create_ephemeral(
        &self,
        path: &str,
        data: &[u8],
        acl: &[ZnodeAcl],
    ) -> Result<bool, ZkError> {
        self.create_as(path, data, acl, zk::CreateMode::Ephemeral)
    }

    fn create_as(
        &self,
        path: &str,
        data: &[u8],
        acl: &[ZnodeAcl],
        mode: zk::CreateMode,
    ) -> Result<bool, ZkError> {
        let acl: Vec<zk::Acl> = acl.iter().map(to_zk).collect();
        let options = mode.with_acls(zk::Acls::new(&acl));
        match self.wait("create", path, self.client.create(path, data, &options)) {
            Ok(_) => Ok(true),
            Err(ZkError::Op {
                source: zk::Error::NodeExists,
                ..
            }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deletes a node without children; one already gone is fine.
    pub fn delete(&self, path: &str) -> Result<(), ZkError> {
        match self.wait("delete", path, self.client.delete(path, None)) {
            Err(ZkError::Op {
                source: zk::Error::NoNode,
                ..
            }) => Ok(()),
            other => other,
        }
    }

    pub fn get_data(&self, path: &str) -> Result<Vec<u8>, ZkError> {
        self.wait("read", path, self.client.get_data(path))
            .map(|(data, _)| data)
    }

    pub fn set_data(&self, path: &str, data: &[u8]) -> Result<(), ZkError> {
        self.wait("write", path, self.client.set_data(path, data, None))
            .map(drop)
    }
}

/// What an anonymous client got when it tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Attempt {
    Refused,
    Allowed,
    /// The path is not there.
    Missing,
}

/// What an anonymous client can do to the paths a secured master protects,
/// tried for real (for `status`): create a node under `/mesos` (an
/// ephemeral one, removed at once if it was let in), read `/marathon`, and
/// what the root znode lets everyone do. Nothing is deleted: a delete that
/// got through would be the damage itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnonymousProbe {
    pub create_under_mesos: Attempt,
    pub read_marathon: Attempt,
    /// The root znode's permissions for `world:anyone`.
    pub root_world: u8,
}

/// The node an anonymous probe tries to create under `/mesos`: not a
/// member's name (`json.info_…`, `log_replicas`), so Mesos ignores it.
pub const PROBE_NODE: &str = "/mesos/mesos-docker-status-probe";

pub fn probe_anonymously(hosts: &str, within: Duration) -> Result<AnonymousProbe, ZkError> {
    let s = Session::connect(hosts, None, within)?;
    let open = [ZnodeAcl::world(ALL)];
    let create_under_mesos = match s.create_ephemeral(PROBE_NODE, b"", &open) {
        Ok(created) => {
            if created {
                s.delete(PROBE_NODE)?;
            }
            Attempt::Allowed
        }
        Err(e) if e.is_no_auth() => Attempt::Refused,
        Err(ZkError::Op {
            source: zk::Error::NoNode,
            ..
        }) => Attempt::Missing,
        Err(e) => return Err(e),
    };
    // Reading a node's ACL takes READ (or ADMIN) on it.
    let read_marathon = match s.node("/marathon") {
        Ok(Some(_)) => Attempt::Allowed,
        Ok(None) => Attempt::Missing,
        Err(e) if e.is_no_auth() => Attempt::Refused,
        Err(e) => return Err(e),
    };
    let root_world = s
        .node("/")?
        .map(|n| {
            n.acl
                .iter()
                .filter(|a| a.scheme == "world" && a.id == "anyone")
                .fold(0, |p, a| p | a.perms)
        })
        .unwrap_or(0);
    Ok(AnonymousProbe {
        create_under_mesos,
        read_marathon,
        root_world,
    })
}

fn from_zk(acl: &zk::Acl) -> ZnodeAcl {
    ZnodeAcl {
        scheme: acl.scheme().to_owned(),
        id: acl.id().to_owned(),
        // The five defined bits; a server never sets others.
        perms: (0..5)
            .map(|bit| 1u8 << bit)
            .filter(|&b| acl.permission().has(perm(b)))
            .fold(0, |all, b| all | b),
    }
}

fn perm(bits: u8) -> zk::Permission {
    [
        (READ, zk::Permission::READ),
        (WRITE, zk::Permission::WRITE),
        (CREATE, zk::Permission::CREATE),
        (DELETE, zk::Permission::DELETE),
        (ADMIN, zk::Permission::ADMIN),
    ]
    .into_iter()
    .filter(|(bit, _)| bits & bit != 0)
    .fold(zk::Permission::NONE, |all, (_, p)| all | p)
}

fn to_zk(acl: &ZnodeAcl) -> zk::Acl {
    zk::Acl::new(perm(acl.perms), zk::AuthId::new(&acl.scheme, &acl.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_round_trip() {
        for bits in 0..32u8 {
            let acl = ZnodeAcl {
                scheme: "digest".into(),
                id: "u:x=".into(),
                perms: bits,
            };
            assert_eq!(from_zk(&to_zk(&acl)), acl, "bits {bits:05b}");
        }
    }
}
