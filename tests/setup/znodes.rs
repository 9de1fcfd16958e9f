//! ZooKeeper ACLs against a REAL ZooKeeper: Debian 12's zookeeperd in a
//! container booted with systemd. setup's znode step (check and apply,
//! as a run on a secured master does them) talks to it over the network;
//! what it did is then verified with ZooKeeper's own Java client (zkCli.sh)
//! inside the container: an independent client, anonymous or with the
//! digest user.
//!
//! The tree starts the way an attacker or an insecure cluster leaves it:
//! /mesos open with a planted persistent "member" and an ephemeral one
//! held by a live anonymous session, /marathon open with an app's state.
//! Slow (apt, a JVM), so `#[ignore]`d; run under the systemd lock:
//! `flock /tmp/mesos-docker-systemd.lock cargo test --test setup --
//! --ignored --test-threads=1 znodes::`.

use std::time::{Duration, Instant};

use mesos_docker::setup::apply::change::Check;
use mesos_docker::setup::apply::znode::{self, Znode};
use mesos_docker::setup::host::system::{HostRunner, System};
use mesos_docker::setup::host::zk::{
    ALL, AnonymousProbe, Attempt, READ, Session, ZnodeAcl, probe_anonymously,
};
use mesos_docker::setup::input::token::{ClusterToken, MasterPurpose, Secret};
use mesos_docker::setup::plan::resource::Foreign;
use mesos_docker::setup::plan::znodes::{digest_id, root_acl};

use crate::support::systemd::Node;

const ZK_CLI: &str = "/usr/share/zookeeper/bin/zkCli.sh";

fn token() -> ClusterToken {
    ClusterToken::parse(&format!("mdt1_{}", "5a".repeat(32)), "test token").unwrap()
}

/// A node running Debian's own zookeeperd, serving.
fn zookeeper_node() -> Node {
    let node = Node::boot();
    node.sh_ok(
        "apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q zookeeperd >/dev/null",
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    while !node.four_letters("srvr").contains("Mode:") {
        assert!(
            Instant::now() < deadline,
            "zookeeperd does not serve: {}",
            node.journal("zookeeper")
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    node
}

/// zkCli.sh in the node, with `lines` on its stdin (so a password never
/// reaches its argv); everything it printed.
fn zkcli(node: &Node, lines: &[String]) -> String {
    let script = lines.join("\n");
    node.sh(&format!(
        "printf '%s\\nquit\\n' '{script}' | {ZK_CLI} -server 127.0.0.1:2181 2>&1"
    ))
}

fn anonymous(node: &Node, command: &str) -> String {
    zkcli(node, &[command.to_owned()])
}

fn as_user(node: &Node, user: &str, password: &Secret, command: &str) -> String {
    zkcli(
        node,
        &[
            format!("addauth digest {user}:{}", password.expose()),
            command.to_owned(),
        ],
    )
}

/// zkCli says so when ZooKeeper refuses for want of a permission (3.8:
/// "Insufficient permission : /path"; older: "Authentication is not valid").
fn refused(out: &str) -> bool {
    out.contains("Insufficient permission") || out.contains("Authentication is not valid")
}

struct Tree {
    mesos: Secret,
    marathon: Secret,
    mesos_acl: Vec<ZnodeAcl>,
    marathon_acl: Vec<ZnodeAcl>,
    root_acl: Vec<ZnodeAcl>,
}

fn tree() -> Tree {
    let t = token();
    let mesos = t.secret(MasterPurpose::ZkMesos);
    let marathon = t.secret(MasterPurpose::ZkMarathon);
    let mesos_acl = vec![
        ZnodeAcl::world_read(),
        ZnodeAcl::digest_all(&digest_id("mesos", &mesos)),
    ];
    let marathon_acl = vec![ZnodeAcl::digest_all(&digest_id("marathon", &marathon))];
    let root_acl = root_acl(&digest_id("mesos", &mesos));
    Tree {
        mesos,
        marathon,
        mesos_acl,
        marathon_acl,
        root_acl,
    }
}

fn open() -> Vec<ZnodeAcl> {
    vec![ZnodeAcl {
        scheme: "world".into(),
        id: "anyone".into(),
        perms: ALL,
    }]
}

#[test]
#[ignore = "boots a systemd container and installs zookeeperd"]
fn open_tree_is_protected_and_a_rerun_changes_nothing() {
    let node = zookeeper_node();
    let hosts = format!("{}:2181", node.ip().trim());
    let t = tree();

    // Before setup: an anonymous client owns the ground.
    let attacker = Session::connect(&hosts, None, Duration::from_secs(10)).unwrap();
    assert!(attacker.create("/mesos", b"", &open()).unwrap());
    assert!(
        attacker
            .create(
                "/mesos/json.info_0000000000",
                b"{\"hostname\":\"evil\"}",
                &open()
            )
            .unwrap()
    );
    assert!(
        attacker
            .create("/mesos/log_replicas", b"", &open())
            .unwrap()
    );
    assert!(
        attacker
            .create_ephemeral("/mesos/json.info_0000000001", b"evil too", &open())
            .unwrap()
    );
    // An insecure cluster's Marathon state: kept, but protected.
    assert!(attacker.create("/marathon", b"", &open()).unwrap());
    assert!(attacker.create("/marathon/state", b"", &open()).unwrap());
    assert!(
        attacker
            .create(
                "/marathon/state/app",
                b"{\"env\":{\"DB_PASSWORD\":\"x\"}}",
                &open()
            )
            .unwrap()
    );

    // What status' anonymous probe finds on the open tree.
    let open_probe = probe_anonymously(&hosts, Duration::from_secs(10)).unwrap();
    assert_eq!(
        open_probe,
        AnonymousProbe {
            create_under_mesos: Attempt::Allowed,
            read_marathon: Attempt::Allowed,
            root_world: ALL,
        }
    );

    let sys = System::new("/", Box::new(HostRunner));
    let keep = Foreign::Keep(vec!["log_replicas".into()]);
    let mesos = Znode {
        path: "/mesos",
        hosts: &hosts,
        user: "mesos",
        password: &t.mesos,
        acl: &t.mesos_acl,
        foreign: &keep,
        root_acl: Some(&t.root_acl),
        start: None,
    };
    let marathon = Znode {
        path: "/marathon",
        hosts: &hosts,
        user: "marathon",
        password: &t.marathon,
        acl: &t.marathon_acl,
        foreign: &Foreign::Protect,
        root_acl: None,
        start: None,
    };
    for z in [&mesos, &marathon] {
        let check = znode::check(&sys, z).unwrap();
        assert!(matches!(check, Check::Change { .. }), "{check:?}");
        let note = znode::apply(&sys, z)
            .unwrap()
            .expect("a note on what changed");
        assert!(!note.contains(t.mesos.expose()) && !note.contains(t.marathon.expose()));
        eprintln!("{}: {note}", z.path);
    }

    // What the independent client sees.
    let acl = anonymous(&node, "getAcl /mesos");
    assert!(acl.contains("'world,'anyone\n: r"), "{acl}");
    assert!(acl.contains("'digest,'mesos:"), "{acl}");
    let acl = anonymous(&node, "getAcl /marathon");
    assert!(!acl.contains("'world,'anyone"), "{acl}");
    for cmd in [
        "create /mesos/json.info_0000000002 evil",
        "set /mesos evil",
        "delete /mesos/log_replicas",
        "setAcl /mesos world:anyone:cdrwa",
        "create /marathon/x evil",
        "set /marathon/state/app evil",
        "delete /marathon/state/app",
        "get /marathon/state/app",
        "ls /marathon",
    ] {
        let out = anonymous(&node, cmd);
        assert!(refused(&out), "anonymous `{cmd}` was not refused:\n{out}");
    }
    // status' probe agrees, and left nothing behind.
    let probe = probe_anonymously(&hosts, Duration::from_secs(10)).unwrap();
    assert_eq!(
        probe,
        AnonymousProbe {
            create_under_mesos: Attempt::Refused,
            read_marathon: Attempt::Refused,
            root_world: READ | mesos_docker::setup::host::zk::CREATE,
        }
    );
    // Mesos' tree stays readable: agents find the leader anonymously.
    let ls = anonymous(&node, "ls /mesos");
    assert!(ls.contains("[log_replicas]"), "{ls}");
    // The planted members are gone, the live attacker's ephemeral too (its
    // session has been idle meanwhile: a fresh one looks).
    drop(attacker);
    let look = Session::connect(&hosts, None, Duration::from_secs(10)).unwrap();
    assert!(look.node("/mesos/json.info_0000000000").unwrap().is_none());
    assert!(look.node("/mesos/json.info_0000000001").unwrap().is_none());

    // The digest users can do all of it.
    let out = as_user(&node, "mesos", &t.mesos, "create /mesos/ok data");
    assert!(out.contains("Created /mesos/ok"), "{out}");
    let out = as_user(&node, "mesos", &t.mesos, "delete /mesos/ok");
    assert!(!refused(&out), "{out}");
    let out = as_user(&node, "marathon", &t.marathon, "get /marathon/state/app");
    assert!(out.contains("DB_PASSWORD"), "the state was lost:\n{out}");
    let out = as_user(&node, "marathon", &t.marathon, "set /marathon/state/app {}");
    assert!(!refused(&out), "{out}");
    // One user is not the other.
    let out = as_user(&node, "mesos", &t.mesos, "get /marathon/state/app");
    assert!(refused(&out), "mesos read Marathon's state:\n{out}");

    // A second run finds everything as planned.
    for z in [&mesos, &marathon] {
        assert_eq!(znode::check(&sys, z).unwrap(), Check::Ok, "{}", z.path);
        assert_eq!(znode::apply(&sys, z).unwrap(), None);
    }
}

#[test]
#[ignore = "boots a systemd container and installs zookeeperd"]
fn fresh_ensemble_gets_both_paths_and_a_node_of_another_identity_is_refused() {
    let node = zookeeper_node();
    let hosts = format!("{}:2181", node.ip().trim());
    let t = tree();
    let sys = System::new("/", Box::new(HostRunner));
    let mesos = Znode {
        path: "/mesos",
        hosts: &hosts,
        user: "mesos",
        password: &t.mesos,
        acl: &t.mesos_acl,
        foreign: &Foreign::Keep(vec!["log_replicas".into()]),
        root_acl: Some(&t.root_acl),
        start: None,
    };
    assert_eq!(
        znode::apply(&sys, &mesos).unwrap().as_deref(),
        Some(
            "created with the planned ACL; the root znode's ACL was world:anyone:cdrwa, now only the digest user may delete under it"
        )
    );
    // The attack the root's ACL stops: every master down, /mesos empty;
    // an anonymous client deletes it and makes it again, open, so the next
    // master joins a group it can plant a leader in. (`delete`, not
    // `deleteall`: zkCli 3.8's deleteall prints nothing when refused.)
    for cmd in ["delete /mesos", "setAcl / world:anyone:cdrwa"] {
        let out = anonymous(&node, cmd);
        assert!(refused(&out), "anonymous `{cmd}` was not refused:\n{out}");
    }
    let out = anonymous(&node, "stat /mesos");
    assert!(out.contains("cZxid"), "/mesos is gone:\n{out}");
    // Other tools sharing the ensemble may still make their own nodes.
    let out = anonymous(&node, "create /other x");
    assert!(out.contains("Created /other"), "{out}");
    let out = anonymous(&node, "delete /other");
    assert!(refused(&out), "{out}");
    let out = as_user(&node, "mesos", &t.mesos, "delete /other");
    assert!(!refused(&out), "{out}");
    assert_eq!(znode::check(&sys, &mesos).unwrap(), Check::Ok);
    // ZooKeeper shows digest ids whole only to a client with ADMIN.
    let owner =
        Session::connect(&hosts, Some(("mesos", &t.mesos)), Duration::from_secs(10)).unwrap();
    let mut acl = owner.node("/mesos").unwrap().unwrap().acl;
    acl.sort();
    let mut want = t.mesos_acl.clone();
    want.sort();
    assert_eq!(acl, want);
    let reader = Session::connect(&hosts, None, Duration::from_secs(10)).unwrap();
    let seen = reader.node("/mesos").unwrap().unwrap().acl;
    assert!(seen.contains(&ZnodeAcl {
        scheme: "world".into(),
        id: "anyone".into(),
        perms: READ,
    }));
    assert!(seen.iter().any(|a| a.id == "mesos:x"), "{seen:?}");

    // Someone else's /marathon, locked to their own digest user: setup
    // cannot take it over and says what to do, naming no secret.
    let other = Secret::clone(&token().secret(MasterPurpose::MasterHttp));
    let thief = Session::connect(&hosts, Some(("thief", &other)), Duration::from_secs(10)).unwrap();
    let locked = vec![ZnodeAcl::digest_all(&digest_id("thief", &other))];
    assert!(thief.create("/marathon", b"", &locked).unwrap());
    let marathon = Znode {
        path: "/marathon",
        hosts: &hosts,
        user: "marathon",
        password: &t.marathon,
        acl: &t.marathon_acl,
        foreign: &Foreign::Protect,
        root_acl: None,
        start: None,
    };
    let e = znode::apply(&sys, &marathon).unwrap_err();
    let msg = mesos_docker::error_chain(&e);
    assert!(msg.contains("another ZooKeeper identity"), "{msg}");
    assert!(!msg.contains(t.marathon.expose()), "{msg}");
}

#[test]
fn unreachable_ensemble_fails_fast_with_advice() {
    // Nothing listens on this port: the run must end, not hang.
    let t = tree();
    let sys = System::new("/", Box::new(HostRunner));
    let z = Znode {
        path: "/mesos",
        hosts: "127.0.0.1:1",
        user: "mesos",
        password: &t.mesos,
        acl: &t.mesos_acl,
        foreign: &Foreign::Protect,
        root_acl: None,
        start: None,
    };
    let begun = Instant::now();
    let e = znode::check(&sys, &z).unwrap_err();
    assert!(
        begun.elapsed() < Duration::from_secs(30),
        "{:?}",
        begun.elapsed()
    );
    let msg = mesos_docker::error_chain(&e);
    assert!(msg.contains("cannot protect /mesos in ZooKeeper"), "{msg}");
    assert!(msg.contains("has a quorum"), "{msg}");
    assert!(!msg.contains(t.mesos.expose()), "{msg}");
}
