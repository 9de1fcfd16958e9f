//! The master's authorization policy (`--acls`), which keeps each principal
//! of the cluster to its job. A master authenticates frameworks, agents and
//! HTTP requests against ONE credentials file (it has no `--http_credentials`,
//! see auth.rs), so without ACLs the `agent` principal, whose secret every
//! agent's root holds, could also register an HTTP framework, run tasks on
//! every agent or call the operator API: root on one agent would own the
//! cluster. The policy is permissive (what no rule names stays allowed, as
//! for the `operator`) with deny rules in front: Mesos' local authorizer
//! takes the first rule whose subject and object both match
//! (apache/mesos docs/authorization.md), and an object of type NONE matches
//! every request and allows none.
//!
//! Pure: a table rendered to JSON; plan/mod.rs writes it on secured masters.

use serde_json::{Map, Value, json};

/// Where the plan writes the policy. It holds no secret (only principals'
/// names), so it sits beside the environment files, 0644, where a diff of it
/// can be shown.
pub const MESOS_ACLS: &str = "/etc/mesos-docker/mesos-acls.json";

/// The principals the policy names (the layout's, as auth.rs writes them).
pub const AGENT: &str = "agent";
pub const MARATHON: &str = "marathon";

/// What `marathon` may do of an ACL kind, beyond the denial of `agent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marathon {
    /// Part of running apps: left to the permissive default.
    Allowed,
    /// An operator's job (or one Marathon has no use for): denied.
    Denied,
    /// Its own framework only (the objects are framework principals).
    OwnFramework,
}

/// One ACL kind: its field in Mesos' `ACLs` message, the field of its
/// object entity, and what `marathon` may do of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    pub name: &'static str,
    pub object: &'static str,
    pub marathon: Marathon,
}

const fn kind(name: &'static str, object: &'static str, marathon: Marathon) -> Kind {
    Kind {
        name,
        object,
        marathon,
    }
}

/// The kind only agents may use: (re-)registering an agent.
pub const REGISTER_AGENTS: &str = "register_agents";

use Marathon::{Allowed, Denied, OwnFramework};

/// Every repeated field of `message ACLs` in apache/mesos
/// include/mesos/authorizer/acls.proto as of Mesos 1.11.0, with the name of
/// its object entity (the `required Entity` beside `principals`), in the
/// proto's order. Facts: Mesos parses `--acls` into that protobuf strictly,
/// so a name not in it stops the master; tests/support/standin/standin.sh
/// keeps the same list.
pub const KINDS: [Kind; 54] = [
    // What a scheduler does: Marathon is one.
    kind("register_frameworks", "roles", Allowed),
    kind("run_tasks", "users", Allowed),
    // Resident apps (local persistent volumes) reserve, create, destroy
    // and unreserve through Marathon.
    kind("reserve_resources", "roles", Allowed),
    kind("unreserve_resources", "reserver_principals", Allowed),
    kind("create_volumes", "roles", Allowed),
    kind("destroy_volumes", "creator_principals", Allowed),
    // Tearing down a framework: Marathon's own, never another's.
    kind("teardown_frameworks", "framework_principals", OwnFramework),
    // Weights and quotas shape the whole cluster's sharing: operators'.
    kind("update_weights", "roles", Denied),
    // The debugging and metrics endpoints (/metrics/snapshot, /flags,
    // /__processes__, ...): Marathon reads none of them.
    kind("get_endpoints", "paths", Denied),
    kind("get_quotas", "roles", Denied),
    kind("update_quotas", "roles", Denied),
    // Reading the cluster's state: harmless to let the scheduler see it.
    kind("view_frameworks", "users", Allowed),
    kind("view_tasks", "users", Allowed),
    kind("view_executors", "users", Allowed),
    // Sandboxes and logs are for people (through the operator), not for
    // the scheduler; the flags name every file the master reads.
    kind("access_sandboxes", "users", Denied),
    kind("access_mesos_logs", "logs", Denied),
    kind("view_roles", "roles", Allowed),
    kind("view_flags", "flags", Denied),
    // Nested containers and their sessions are the agent's operator API
    // (a master consults none of these; denied for the day one does):
    // Marathon's pods go through the default executor, not through them.
    kind("launch_nested_containers_as_user", "users", Denied),
    kind(
        "launch_nested_containers_under_parent_with_user",
        "users",
        Denied,
    ),
    kind("kill_nested_containers", "users", Denied),
    kind("wait_nested_containers", "users", Denied),
    kind("launch_nested_container_sessions_as_user", "users", Denied),
    kind(
        "launch_nested_container_sessions_under_parent_with_user",
        "users",
        Denied,
    ),
    kind("attach_containers_input", "users", Denied),
    kind("attach_containers_output", "users", Denied),
    kind("view_containers", "users", Denied),
    kind("set_log_level", "level", Denied),
    kind("remove_nested_containers", "users", Denied),
    // Agents register; nobody else does (see `rules`).
    kind(REGISTER_AGENTS, "agents", Denied),
    // Maintenance, draining and removing agents: operators'.
    kind("update_maintenance_schedules", "machines", Denied),
    kind("get_maintenance_schedules", "machines", Denied),
    kind("start_maintenances", "machines", Denied),
    kind("stop_maintenances", "machines", Denied),
    kind("get_maintenance_statuses", "machines", Denied),
    kind("drain_agents", "agents", Denied),
    kind("deactivate_agents", "agents", Denied),
    kind("reactivate_agents", "agents", Denied),
    kind("mark_agents_gone", "agents", Denied),
    // Standalone containers, resource providers and the image store are
    // agent administration: operators'.
    kind("launch_standalone_containers", "users", Denied),
    kind("kill_standalone_containers", "users", Denied),
    kind("wait_standalone_containers", "users", Denied),
    kind("remove_standalone_containers", "users", Denied),
    kind("view_standalone_containers", "users", Denied),
    kind(
        "modify_resource_provider_configs",
        "resource_providers",
        Denied,
    ),
    kind("mark_resource_providers_gone", "resource_providers", Denied),
    kind("view_resource_providers", "resource_providers", Denied),
    kind("prune_images", "images", Denied),
    // Marathon (1.x) neither resizes volumes nor uses CSI disks.
    kind("resize_volumes", "roles", Denied),
    kind("create_block_disks", "roles", Denied),
    kind("destroy_block_disks", "roles", Denied),
    kind("create_mount_disks", "roles", Denied),
    kind("destroy_mount_disks", "roles", Denied),
    kind("destroy_raw_disks", "roles", Denied),
];

/// `{"values": [principal]}`: exactly this principal (type SOME, the
/// default). An anonymous request has no principal and never matches it.
fn only(principal: &str) -> Value {
    json!({"values": [principal]})
}

fn any() -> Value {
    json!({"type": "ANY"})
}

fn none() -> Value {
    json!({"type": "NONE"})
}

/// A rule: `principals` may (`object` ANY or SOME) or may not (NONE) do
/// this kind to `object`.
fn rule(k: &Kind, principals: Value, object: Value) -> Value {
    let mut m = Map::new();
    m.insert("principals".into(), principals);
    m.insert(k.object.into(), object);
    Value::Object(m)
}

/// The rules of one kind, in the order Mesos tries them.
pub fn rules(k: &Kind) -> Vec<Value> {
    if k.name == REGISTER_AGENTS {
        // Only the agent principal registers agents: an operator or
        // Marathon credential must not add a machine to the cluster.
        return vec![rule(k, only(AGENT), any()), rule(k, any(), none())];
    }
    // The agent principal's job is to register; its secret is on every
    // agent, so it may do nothing else. (So an agent may not reserve
    // resources statically either: Mesos authorizes an agent's
    // `--resources` reservations as reserve_resources by its principal,
    // which auth.rs refuses up front.)
    let mut r = vec![rule(k, only(AGENT), none())];
    match k.marathon {
        Allowed => {}
        Denied => r.push(rule(k, only(MARATHON), none())),
        OwnFramework => {
            r.push(rule(k, only(MARATHON), only(MARATHON)));
            r.push(rule(k, only(MARATHON), none()));
        }
    }
    r
}

/// The policy, as Mesos reads `--acls` (a JSON `ACLs` message): one kind
/// a line, so a change reads as one line of a diff.
pub fn render() -> String {
    let mut text = String::from("{\n  \"permissive\": true");
    for k in &KINDS {
        let key = Value::String(k.name.to_owned());
        text.push_str(&format!(",\n  {key}: {}", Value::Array(rules(k))));
    }
    text.push_str("\n}\n");
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// Mesos' local authorizer (src/authorizer/local/authorizer.cpp), for a
    /// request by a principal (SOME) on some object (SOME, `object` its
    /// value, or ANY when implicit): the first rule matching both decides,
    /// else `permissive`.
    fn decide(acls: &Value, kind: &str, principal: &str, object: Option<&str>) -> bool {
        let field = KINDS.iter().find(|k| k.name == kind).unwrap().object;
        // matches: ANY or NONE match every SOME or ANY request; SOME
        // matches a SOME request within its values.
        let matches = |e: &Value, v: Option<&str>| match e["type"].as_str() {
            Some("ANY") | Some("NONE") => true,
            _ => v.is_some_and(|v| e["values"].as_array().unwrap().iter().any(|x| x == v)),
        };
        // allows: NONE allows nothing, ANY everything, SOME its values.
        let allows = |e: &Value, v: Option<&str>| match e["type"].as_str() {
            Some("NONE") => false,
            Some("ANY") => true,
            _ => matches(e, v),
        };
        for r in acls[kind].as_array().unwrap() {
            let (s, o) = (&r["principals"], &r[field]);
            if matches(s, Some(principal)) && matches(o, object) {
                return allows(s, Some(principal)) && allows(o, object);
            }
        }
        acls["permissive"].as_bool().unwrap()
    }

    fn policy() -> Value {
        serde_json::from_str(&render()).unwrap()
    }

    #[test]
    fn the_policy_snapshot() {
        insta::assert_snapshot!("mesos-acls", render());
    }

    #[test]
    fn the_kinds_are_mesos_1_11s_each_once() {
        let names: HashSet<&str> = KINDS.iter().map(|k| k.name).collect();
        assert_eq!(names.len(), KINDS.len(), "a kind twice");
        let p = policy();
        let keys: HashSet<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
        let mut want = names.clone();
        want.insert("permissive");
        assert_eq!(keys, want);
        for k in &KINDS {
            for r in p[k.name].as_array().unwrap() {
                let mut fields: Vec<&String> = r.as_object().unwrap().keys().collect();
                fields.sort();
                let mut expected = vec!["principals", k.object];
                expected.sort();
                assert_eq!(fields, expected, "{}", k.name);
            }
        }
    }

    /// The agent principal registers agents and does nothing else, on any
    /// object; nobody else registers agents.
    #[test]
    fn agent_is_denied_every_kind_but_register_agents() {
        let p = policy();
        for k in &KINDS {
            for object in [None, Some("*"), Some("root"), Some(AGENT), Some(MARATHON)] {
                let allowed = decide(&p, k.name, AGENT, object);
                assert_eq!(allowed, k.name == REGISTER_AGENTS, "{} {object:?}", k.name);
            }
            assert_eq!(
                decide(&p, k.name, "operator", None),
                k.name != REGISTER_AGENTS,
                "operator {}",
                k.name
            );
        }
        assert!(!decide(&p, REGISTER_AGENTS, MARATHON, None));
        assert!(!decide(&p, REGISTER_AGENTS, "someone", None));
    }

    /// Only a master that authenticates its principals gets the policy:
    /// open nodes and agents are as before.
    #[test]
    fn written_on_secured_masters_only() {
        use crate::setup::host::facts::Init;
        use crate::setup::input::model::Role;
        use crate::setup::input::token::Security;
        use crate::setup::plan::auth::tests::{facts, files, options, token};
        use crate::setup::plan::plan;
        let t = token();
        for init in [Init::Systemd, Init::Upstart] {
            let f = facts(init);
            for (role, security) in [
                (Role::Master, Security::Cluster(t.clone())),
                (Role::Standalone, Security::Cluster(t.clone())),
                (Role::Agent, Security::Agent(t.agent_key())),
                (Role::Master, Security::Insecure),
                (Role::Standalone, Security::Insecure),
                (Role::Agent, Security::Insecure),
            ] {
                let want = role.is_master() && security.is_secure();
                let case = format!("{role:?} {init:?} secure={}", security.is_secure());
                let p = plan(&options(role, &f, security), &f).unwrap();
                let all = files(&p);
                let acls = all.iter().find(|x| x.0 == MESOS_ACLS);
                assert_eq!(acls.is_some(), want, "{case}");
                if let Some((_, mode, content, secret)) = acls {
                    assert_eq!((*mode, *secret), (0o644, false), "{case}");
                    assert_eq!(*content, render(), "{case}");
                }
                let env = |path: &str| all.iter().find(|x| x.0 == path).map(|x| x.2);
                let named = format!("\nMESOS_ACLS=\"{MESOS_ACLS}\"\n");
                if role.is_master() {
                    let master = env("/etc/mesos-docker/master.env").unwrap();
                    assert_eq!(master.contains(&named), want, "{case}: {master}");
                }
                if let Some(agent) = env("/etc/mesos-docker/agent.env") {
                    assert!(!agent.contains("ACLS"), "{case}");
                }
            }
        }
        // An extra flag may not replace the policy on a secured master.
        let f = facts(Init::Systemd);
        let mut opts = options(Role::Master, &f, Security::Cluster(t));
        opts.flags.master.insert("acls".into(), "/x.json".into());
        let err = plan(&opts, &f).unwrap_err().to_string();
        assert!(err.contains("mesos-master flag acls"), "{err}");
    }

    #[test]
    fn marathon_keeps_what_running_apps_needs() {
        let p = policy();
        let allowed: Vec<&str> = KINDS
            .iter()
            .filter(|k| decide(&p, k.name, MARATHON, Some("root")))
            .map(|k| k.name)
            .collect();
        assert_eq!(
            allowed,
            [
                "register_frameworks",
                "run_tasks",
                "reserve_resources",
                "unreserve_resources",
                "create_volumes",
                "destroy_volumes",
                "view_frameworks",
                "view_tasks",
                "view_executors",
                "view_roles",
            ]
        );
        // Its own framework, not another's.
        assert!(decide(&p, "teardown_frameworks", MARATHON, Some(MARATHON)));
        assert!(!decide(
            &p,
            "teardown_frameworks",
            MARATHON,
            Some("operator")
        ));
        assert!(!decide(&p, "teardown_frameworks", MARATHON, None));
    }
}
