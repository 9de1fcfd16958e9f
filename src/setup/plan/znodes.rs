//! The ZooKeeper paths a secured master protects, and with which ACL: pure,
//! from the options alone.
//!
//! Mesos, given `zk://mesos:<secret>@…/mesos`, creates its znodes (and the
//! parents on the way) with "everyone read, creator all"
//! (apache/mesos src/zookeeper/group.cpp, EVERYONE_READ_CREATOR_ALL), but
//! never changes the ACL of a node that already exists. Marathon, given a
//! digest user, creates its nodes creator-only (ZookeeperConf
//! `zkDefaultCreationACL`). So setup makes sure both roots exist with those
//! ACLs before either starts, and migrates a tree an open cluster left.

use base64::Engine;
use sha1::{Digest, Sha1};

use crate::setup::host::zk::ZnodeAcl;
use crate::setup::input::options::Options;
use crate::setup::input::token::{MasterPurpose, Secret, Security};
use crate::setup::plan::resource::{Foreign, Resource};

/// The ZooKeeper digest id of a user: `user:base64(sha1(user:password))`
/// (ZooKeeper's DigestAuthenticationProvider.generateDigest).
pub fn digest_id(user: &str, password: &Secret) -> String {
    digest_of(user, password.expose())
}

fn digest_of(user: &str, password: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(user.as_bytes());
    sha.update(b":");
    sha.update(password.as_bytes());
    let hash = base64::engine::general_purpose::STANDARD.encode(sha.finalize());
    format!("{user}:{hash}")
}

/// The command that starts the local ZooKeeper, when this host runs one.
fn starter(opts: &Options, systemd: bool) -> Option<Vec<String>> {
    opts.ensemble.as_ref()?;
    Some(if systemd {
        vec![
            "systemctl".into(),
            "start".into(),
            "zookeeper.service".into(),
        ]
    } else {
        vec!["start".into(), "zookeeper".into()]
    })
}

/// The root znode of an ensemble setup runs: everyone may read it and
/// create top-level nodes (other tools sharing the ensemble keep working),
/// only the mesos digest user may delete under it or change its ACL.
/// Deleting a znode takes DELETE on its parent, so this is what keeps an
/// empty `/mesos` (all masters down) from being removed and re-made open.
pub fn root_acl(mesos_id: &str) -> Vec<ZnodeAcl> {
    vec![
        ZnodeAcl::world(crate::setup::host::zk::READ | crate::setup::host::zk::CREATE),
        ZnodeAcl::digest_all(mesos_id),
    ]
}

/// `/mesos` and `/marathon` (when Marathon runs) with their ACLs, on a
/// secured master or standalone node; nothing on agents or `--insecure`.
pub fn znodes(r: &mut Vec<Resource>, opts: &Options, marathon: bool, systemd: bool) {
    let Security::Cluster(token) = &opts.security else {
        return;
    };
    if !opts.role.is_master() {
        return;
    }
    let mesos = token.secret(MasterPurpose::ZkMesos);
    let mesos_id = digest_id("mesos", &mesos);
    r.push(Resource::Znode {
        path: "/mesos".into(),
        hosts: opts.zk_hosts.clone(),
        user: "mesos".into(),
        password: mesos,
        acl: vec![ZnodeAcl::world_read(), ZnodeAcl::digest_all(&mesos_id)],
        foreign: Foreign::Keep(vec!["log_replicas".into()]),
        root_acl: opts.ensemble.as_ref().map(|_| root_acl(&mesos_id)),
        start: starter(opts, systemd),
    });
    if marathon {
        let secret = token.secret(MasterPurpose::ZkMarathon);
        let id = digest_id("marathon", &secret);
        r.push(Resource::Znode {
            path: "/marathon".into(),
            hosts: opts.zk_hosts.clone(),
            user: "marathon".into(),
            password: secret,
            acl: vec![ZnodeAcl::digest_all(&id)],
            foreign: Foreign::Protect,
            // Set once, by the /mesos step (as mesos: marathon may not).
            root_acl: None,
            start: starter(opts, systemd),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_id_is_zookeepers() {
        // Computed independently: printf 'super:secret' | openssl sha1
        // -binary | base64.
        assert_eq!(
            digest_of("super", "secret"),
            "super:lK75jTNcA+U9vtVEw5vB51mj/w4="
        );
        assert_eq!(
            digest_of("mesos", "ab"),
            "mesos:Iwob3NZVaxaRYlQdWb6ylk4uWOI="
        );
    }

    #[test]
    fn acl_prints_as_zkcli_does() {
        let id = "mesos:abc=";
        assert_eq!(
            ZnodeAcl::digest_all(id).to_string(),
            "digest:mesos:abc=:cdrwa"
        );
        assert_eq!(ZnodeAcl::world_read().to_string(), "world:anyone:r");
    }
}
