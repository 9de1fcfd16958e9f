//! ZooKeeper paths: a secured master's `/mesos` and `/marathon`, checked,
//! created or fixed with their ACLs before Mesos and Marathon use them.
//!
//! The check reads the whole tree below the path. A node is protected when
//! only the digest user may change it (everyone may at most read); the
//! path itself must carry exactly the planned ACL. An open tree an insecure
//! cluster left is migrated: persistent nodes get the ACL (Marathon's state
//! is kept), nodes of sessions that did not authenticate are removed.
//!
//! When the ensemble has no quorum (the first master of three, before the
//! others ran) nothing can be read or written: the step waits a little,
//! then says so and goes on. Mesos and Marathon create their nodes protected
//! themselves once they connect with their digest users; the next setup run
//! that finds a quorum (on any master) checks the tree.
//!
//! On an ensemble setup runs, the `/mesos` step also guards the root znode
//! (see `plan::znodes::root_acl`): deleting a node takes DELETE on its
//! parent, and ZooKeeper's default root ACL gives that to anyone.
//!
//! Uninstall leaves the ACLs: the tree belongs to the whole ensemble, and
//! opening it from one master would open the others' data too.

use std::time::{Duration, Instant};

use crate::setup::apply::change::{Change, Check, ResourceError, ZnodeFix, err};
use crate::setup::host::system::System;
use crate::setup::host::zk::{ADMIN, NodeInfo, READ, Session, ZkError, ZnodeAcl};
use crate::setup::input::token::Secret;
use crate::setup::plan::resource::Foreign;

/// How long to wait for a session once ZooKeeper serves.
const CONNECT: Duration = Duration::from_secs(10);
/// How long a local member just started has to serve.
const SERVE: Duration = Duration::from_secs(30);

/// A znode resource's fields.
pub struct Znode<'a> {
    pub path: &'a str,
    pub hosts: &'a str,
    pub user: &'a str,
    pub password: &'a Secret,
    pub acl: &'a [ZnodeAcl],
    pub foreign: &'a Foreign,
    /// The root znode's planned ACL, when setup guards it.
    pub root_acl: Option<&'a [ZnodeAcl]>,
    pub start: Option<&'a [String]>,
}

/// One node of the tree as read: its path, what it is, how deep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub path: String,
    pub info: NodeInfo,
}

/// Whether only `digest_id` may change the node: every entry is either that
/// user's (all permissions) or read-only for everyone.
pub fn protected(acl: &[ZnodeAcl], digest_id: &str) -> bool {
    let ours = |a: &ZnodeAcl| a.scheme == "digest" && a.id == digest_id;
    let reader = |a: &ZnodeAcl| a.scheme == "world" && a.id == "anyone" && a.perms == READ;
    acl.iter().any(|a| ours(a) && a.perms & ADMIN != 0) && acl.iter().all(|a| ours(a) || reader(a))
}

/// The same entries, in any order.
pub fn same_acl(a: &[ZnodeAcl], b: &[ZnodeAcl]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort();
    b.sort();
    a == b
}

/// The digest id the planned ACL grants everything to.
fn owner(acl: &[ZnodeAcl]) -> Option<&str> {
    acl.iter()
        .find(|a| a.scheme == "digest")
        .map(|a| a.id.as_str())
}

/// Pure: the fix for a tree read as `root` (the path's node) and `below`
/// (every node under it, parents before children).
pub fn fix(
    path: &str,
    root: Option<&NodeInfo>,
    below: &[Seen],
    acl: &[ZnodeAcl],
    foreign: &Foreign,
) -> ZnodeFix {
    let Some(root) = root else {
        return ZnodeFix {
            create: true,
            ..ZnodeFix::default()
        };
    };
    let id = owner(acl).unwrap_or_default();
    let mut out = ZnodeFix {
        acl_was: (!same_acl(&root.acl, acl)).then(|| root.acl.clone()),
        ..ZnodeFix::default()
    };
    for node in below {
        let under_removed = out
            .remove
            .iter()
            .any(|r| node.path.starts_with(&format!("{r}/")));
        if under_removed {
            out.remove.push(node.path.clone());
            continue;
        }
        if protected(&node.info.acl, id) {
            continue;
        }
        let name = node.path[path.len()..].trim_start_matches('/');
        let keep = !node.info.ephemeral
            && match foreign {
                Foreign::Protect => true,
                Foreign::Keep(names) => names.iter().any(|n| n == name),
            };
        if keep {
            out.protect.push(node.path.clone());
        } else {
            out.remove.push(node.path.clone());
        }
    }
    // Children before their parents.
    out.remove
        .sort_by_key(|p| std::cmp::Reverse(p.matches('/').count()));
    out
}

/// One line for the report.
pub fn describe(fix: &ZnodeFix) -> String {
    if let Some(why) = &fix.waiting {
        return format!("{why}: started, then the ACL is checked");
    }
    let mut parts = Vec::new();
    if fix.create {
        parts.push("created with the planned ACL".to_owned());
    }
    if let Some(was) = &fix.acl_was {
        let was: Vec<String> = was.iter().map(ZnodeAcl::redacted).collect();
        parts.push(format!("ACL was {}, set as planned", was.join(",")));
    }
    if let Some(was) = &fix.root_acl_was {
        let was: Vec<String> = was.iter().map(ZnodeAcl::redacted).collect();
        parts.push(format!(
            "the root znode's ACL was {}, now only the digest user may delete under it",
            was.join(",")
        ));
    }
    if !fix.protect.is_empty() {
        parts.push(format!("{} node(s) below given the ACL", fix.protect.len()));
    }
    if !fix.remove.is_empty() {
        parts.push(format!(
            "{} unprotected node(s) below removed ({})",
            fix.remove.len(),
            fix.remove.join(", ")
        ));
    }
    parts.join("; ")
}

/// How the local ZooKeeper member is doing.
#[derive(Debug, PartialEq, Eq)]
enum Local {
    Serving,
    NoQuorum,
    Down(String),
}

fn local(sys: &System) -> Local {
    match sys.talk("127.0.0.1:2181", "srvr") {
        Err(e) => Local::Down(format!("ZooKeeper on 127.0.0.1:2181 does not answer ({e})")),
        Ok(r) if r.lines().any(|l| l.starts_with("Mode:")) => Local::Serving,
        Ok(r) if r.contains("not currently serving") => Local::NoQuorum,
        Ok(r) => Local::Down(format!(
            "ZooKeeper on 127.0.0.1:2181 answered srvr with {:?}",
            r.trim()
        )),
    }
}

pub fn check(sys: &System, z: &Znode) -> Result<Check, ResourceError> {
    if !(sys.is_live() && sys.is_real_root()) {
        return Ok(Check::Skipped(
            "ZooKeeper ACLs are checked only on the running host itself".into(),
        ));
    }
    if z.start.is_some() {
        match local(sys) {
            Local::Serving => {}
            Local::NoQuorum => {
                return Ok(change(ZnodeFix {
                    waiting: Some("the ZooKeeper ensemble has no quorum yet".into()),
                    ..ZnodeFix::default()
                }));
            }
            Local::Down(why) => {
                return Ok(change(ZnodeFix {
                    waiting: Some(why),
                    ..ZnodeFix::default()
                }));
            }
        }
    }
    let session = connect(z)?;
    let fix = read(&session, z)?;
    Ok(if fix.is_empty() {
        Check::Ok
    } else {
        change(fix)
    })
}

fn change(fix: ZnodeFix) -> Check {
    Check::Change {
        change: Change::Znode(fix),
        diff: None,
    }
}

fn connect(z: &Znode) -> Result<Session, ResourceError> {
    Session::connect(z.hosts, Some((z.user, z.password)), CONNECT).map_err(|e| zk_err(z, e))
}

fn zk_err(z: &Znode, e: ZkError) -> ResourceError {
    let advice = if e.is_no_auth() {
        format!(
            "a node there was made by another ZooKeeper identity and does not let {} change it: remove it as ZooKeeper's super user (or, on a new cluster, stop ZooKeeper on every master and empty its data directory), then run setup again",
            z.user
        )
    } else {
        "check that the ensemble runs and has a quorum (`echo srvr | nc 127.0.0.1 2181` on a master), then run setup again".into()
    };
    ResourceError::Zookeeper {
        path: z.path.to_owned(),
        cause: Box::new(e),
        advice,
    }
}

/// Reads the path and every node below it, and what must change.
fn read(session: &Session, z: &Znode) -> Result<ZnodeFix, ResourceError> {
    let root = session.node(z.path).map_err(|e| zk_err(z, e))?;
    let mut below = Vec::new();
    if root.is_some() {
        let mut queue = vec![z.path.to_owned()];
        while let Some(parent) = queue.pop() {
            for child in session.children(&parent).map_err(|e| zk_err(z, e))? {
                let path = format!("{}/{child}", parent.trim_end_matches('/'));
                // Gone since it was listed: nothing to fix.
                if let Some(info) = session.node(&path).map_err(|e| zk_err(z, e))? {
                    queue.push(path.clone());
                    below.push(Seen { path, info });
                }
            }
        }
    }
    // Parents before children, as `fix` expects.
    below.sort_by_key(|s| s.path.matches('/').count());
    let mut out = fix(z.path, root.as_ref(), &below, z.acl, z.foreign);
    if let Some(planned) = z.root_acl {
        let now = session
            .node("/")
            .map_err(|e| zk_err(z, e))?
            .map(|n| n.acl)
            .unwrap_or_default();
        out.root_acl_was = (!same_acl(&now, planned)).then_some(now);
    }
    Ok(out)
}

/// Starts the local member when it is down, and waits (bounded) for it to
/// serve. `Err` carries what the operator is told when it does not.
fn await_local(sys: &System, start: &[String]) -> Result<(), String> {
    if let Local::Down(_) = local(sys)
        && let Some((program, args)) = start.split_first()
    {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match sys.run(program, &args) {
            Ok(out) if out.success => {}
            Ok(out) => {
                return Err(format!("{} failed: {}", start.join(" "), out.stderr.trim()));
            }
            Err(e) => return Err(format!("cannot run {}: {e}", start.join(" "))),
        }
    }
    let begun = Instant::now();
    loop {
        let now = local(sys);
        if now == Local::Serving {
            return Ok(());
        }
        if begun.elapsed() >= SERVE {
            return Err(match now {
                Local::NoQuorum => "not protected yet: the ZooKeeper ensemble has no quorum (the other masters have not run setup yet). Mesos and Marathon create their nodes protected when they connect; run setup on the other masters (the run that completes the quorum checks the tree) or here again later".into(),
                Local::Down(why) => format!("not protected yet: {why} within {SERVE:?}"),
                Local::Serving => unreachable!(),
            });
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Makes the path as planned. Returns a note when it could not yet (no
/// quorum): that is not a failure of the run.
pub fn apply(sys: &System, z: &Znode) -> Result<Option<String>, ResourceError> {
    if let Some(start) = z.start
        && let Err(note) = await_local(sys, start)
    {
        return Ok(Some(note));
    }
    let session = connect(z)?;
    let fix = read(&session, z)?;
    execute(&session, z, &fix).map_err(|e| zk_err(z, e))?;
    let after = read(&session, z)?;
    if !after.is_empty() {
        return Err(err(format!(
            "{} in ZooKeeper still differs after the change ({}); another client is changing it: run setup again",
            z.path,
            describe(&after)
        )));
    }
    Ok((!fix.is_empty()).then(|| describe(&fix)))
}

fn execute(session: &Session, z: &Znode, fix: &ZnodeFix) -> Result<(), ZkError> {
    if let (Some(_), Some(planned)) = (&fix.root_acl_was, z.root_acl) {
        session.set_acl("/", planned)?;
    }
    if fix.create {
        // Parents first, with the same ACL (as Mesos creates them).
        let mut at = String::new();
        for part in z.path.split('/').filter(|p| !p.is_empty()) {
            at = format!("{at}/{part}");
            if !session.create(&at, b"", z.acl)? && at == z.path {
                // Made meanwhile by someone else: its ACL is set below.
                session.set_acl(&at, z.acl)?;
            }
        }
    }
    if fix.acl_was.is_some() {
        session.set_acl(z.path, z.acl)?;
    }
    for path in &fix.protect {
        session.set_acl(path, z.acl)?;
    }
    for path in &fix.remove {
        session.delete(path)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::host::zk::ALL;

    const ID: &str = "mesos:abc=";

    fn acl(entries: &[(&str, &str, u8)]) -> Vec<ZnodeAcl> {
        entries
            .iter()
            .map(|(s, i, p)| ZnodeAcl {
                scheme: (*s).into(),
                id: (*i).into(),
                perms: *p,
            })
            .collect()
    }

    fn mesos_acl() -> Vec<ZnodeAcl> {
        acl(&[("world", "anyone", READ), ("digest", ID, ALL)])
    }

    fn node(path: &str, acl: Vec<ZnodeAcl>, ephemeral: bool) -> Seen {
        Seen {
            path: path.into(),
            info: NodeInfo { acl, ephemeral },
        }
    }

    fn open() -> Vec<ZnodeAcl> {
        acl(&[("world", "anyone", ALL)])
    }

    #[test]
    fn protected_table() {
        type Entries<'a> = &'a [(&'a str, &'a str, u8)];
        let table: [(Entries, bool); 8] = [
            (&[("world", "anyone", READ), ("digest", ID, ALL)], true),
            (&[("digest", ID, ALL)], true),
            (&[("world", "anyone", ALL)], false),
            (
                &[("world", "anyone", READ | CREATE_BIT), ("digest", ID, ALL)],
                false,
            ),
            (&[("digest", ID, READ | 2)], false),
            (&[("digest", "mesos:other=", ALL)], false),
            (&[("digest", ID, ALL), ("ip", "10.0.0.1", ALL)], false),
            (&[], false),
        ];
        for (entries, want) in table {
            assert_eq!(protected(&acl(entries), ID), want, "{entries:?}");
        }
    }

    const CREATE_BIT: u8 = 4;

    #[test]
    fn missing_path_is_created() {
        let f = fix("/mesos", None, &[], &mesos_acl(), &Foreign::Protect);
        assert!(f.create);
        assert!(f.acl_was.is_none() && f.protect.is_empty() && f.remove.is_empty());
    }

    #[test]
    fn right_tree_needs_nothing_in_any_order() {
        let mut reversed = mesos_acl();
        reversed.reverse();
        let root = NodeInfo {
            acl: reversed,
            ephemeral: false,
        };
        let below = [
            node("/mesos/log_replicas", mesos_acl(), false),
            node("/mesos/json.info_0000000001", mesos_acl(), true),
        ];
        let keep = Foreign::Keep(vec!["log_replicas".into()]);
        assert!(fix("/mesos", Some(&root), &below, &mesos_acl(), &keep).is_empty());
    }

    #[test]
    fn open_mesos_tree_is_migrated_and_planted_members_removed() {
        let root = NodeInfo {
            acl: open(),
            ephemeral: false,
        };
        let below = [
            node("/mesos/json.info_0000000000", open(), false),
            node("/mesos/log_replicas", open(), false),
            node("/mesos/json.info_0000000001", open(), true),
            node("/mesos/log_replicas/0000000003", open(), true),
            node("/mesos/json.info_0000000000/x", mesos_acl(), false),
        ];
        let keep = Foreign::Keep(vec!["log_replicas".into()]);
        let f = fix("/mesos", Some(&root), &below, &mesos_acl(), &keep);
        assert_eq!(f.acl_was, Some(open()));
        assert_eq!(f.protect, ["/mesos/log_replicas"]);
        // Everything under a removed node goes too, children first.
        assert_eq!(
            f.remove,
            [
                "/mesos/log_replicas/0000000003",
                "/mesos/json.info_0000000000/x",
                "/mesos/json.info_0000000000",
                "/mesos/json.info_0000000001",
            ]
        );
    }

    #[test]
    fn open_marathon_state_is_kept_and_protected() {
        let id = "marathon:xyz=";
        let wanted = acl(&[("digest", id, ALL)]);
        let leader = acl(&[("digest", id, ALL), ("world", "anyone", READ)]);
        let root = NodeInfo {
            acl: open(),
            ephemeral: false,
        };
        let below = [
            node("/marathon/state", open(), false),
            node("/marathon/state/apps", open(), false),
            node("/marathon/leader-curator", leader.clone(), false),
            node("/marathon/leader-curator/_c_1-latch-0001", open(), true),
        ];
        let f = fix("/marathon", Some(&root), &below, &wanted, &Foreign::Protect);
        assert_eq!(f.protect, ["/marathon/state", "/marathon/state/apps"]);
        assert_eq!(f.remove, ["/marathon/leader-curator/_c_1-latch-0001"]);
    }

    #[test]
    fn description_shows_the_old_acl() {
        let f = ZnodeFix {
            acl_was: Some(open()),
            ..ZnodeFix::default()
        };
        assert_eq!(describe(&f), "ACL was world:anyone:cdrwa, set as planned");
        let f = ZnodeFix {
            root_acl_was: Some(open()),
            ..ZnodeFix::default()
        };
        assert_eq!(
            describe(&f),
            "the root znode's ACL was world:anyone:cdrwa, now only the digest user may delete under it"
        );
        assert!(!f.is_empty());
    }
}
