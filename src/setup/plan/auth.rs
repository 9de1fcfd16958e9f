//! The plan's credentials: the root-only files under [`SECRETS_DIR`] that
//! Mesos, Marathon and ZooKeeper clients read, derived from the node's
//! [`Security`] (see /work/ISSUE12-LAYOUT.md for the whole design), and the
//! template values that make the environment files name them. Environment
//! files and units only ever name a file: the secrets stay in 0600 files.

use serde::Serialize;
use serde_json::json;
use tera::Context;

use crate::setup::input::flags::{Daemon, FlagCheck};
use crate::setup::input::model::Role;
use crate::setup::input::token::{
    AGENT_KEY_FILE, AgentKey, AgentPurpose, ClusterToken, MasterPurpose, SECRETS_DIR, Security,
    TOKEN_FILE,
};
use crate::setup::plan::resource::{Resource, file, private_dir, secret_file};

pub const MESOS_CREDENTIALS: &str = "/etc/mesos-docker/secrets/mesos-credentials.json";
pub const MASTER_HTTP_CREDENTIALS: &str = crate::setup::host::secrets::MASTER_HTTP;
pub const ZK_MESOS: &str = "/etc/mesos-docker/secrets/zk-mesos";
pub const AGENT_CREDENTIAL: &str = "/etc/mesos-docker/secrets/agent-credential.json";
pub const AGENT_HTTP_CREDENTIALS: &str = crate::setup::host::secrets::AGENT_HTTP;
pub const EXECUTOR_SECRET_KEY: &str = "/etc/mesos-docker/secrets/executor-secret-key";
pub const MARATHON_MESOS_SECRET: &str = "/etc/mesos-docker/secrets/marathon-mesos-secret";
/// Marathon's secret environment: read after /etc/mesos-docker/marathon.env.
pub const MARATHON_ENV: &str = crate::setup::host::secrets::MARATHON_ENV;
/// The agent's executor authentication flags, written only where the
/// installed agent has them (see [`executor_auth`]); no secret in it.
pub const EXECUTOR_AUTH_ENV: &str = "/etc/mesos-docker/agent-executor-auth.env";
/// The flags executor authentication needs, as `mesos-agent --help` lists
/// them: a Mesos built without SSL has neither and exits on either.
pub const EXECUTOR_AUTH_FLAGS: [&str; 2] = ["authenticate_http_executors", "executor_secret_key"];
/// The key of executor authentication in the record's features.
pub const EXECUTOR_AUTH: &str = "executor-auth";

/// The principals of the layout.
const OPERATOR: &str = "operator";
const MARATHON: &str = "marathon";
const AGENT: &str = "agent";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// Only the token opens a master's secrets; an agent key cannot.
    #[error(
        "a {role} needs the cluster token, and this node has only an agent key: pass the token (--token-file) on masters and standalone nodes"
    )]
    AgentKeyOnMaster { role: &'static str },
    /// An extra flag would override what authentication sets.
    #[error(
        "the extra {program} flag {name} is set by setup on a secured node (authentication); drop it from --{flag}-flag and [{flag}.flags], or pass --insecure for an open node"
    )]
    ExtraFlag {
        program: &'static str,
        flag: &'static str,
        name: String,
    },
    /// Mesos authorizes an agent's static reservations as its principal
    /// reserving resources, which the masters' ACLs deny (plan/acls.rs):
    /// the agent would start and never register.
    #[error(
        "{place} reserves this agent's resources for role {role:?} statically; on a secured cluster the masters deny that to the agent principal (reserve_resources in {acls}, so that root on an agent cannot reserve the cluster's resources), and Mesos would refuse the agent: leave the role out and reserve dynamically as the operator, or pass --insecure for an open node",
        acls = crate::setup::plan::acls::MESOS_ACLS
    )]
    StaticReservation { place: String, role: String },
}

pub use crate::setup::plan::gated::Gated;

/// What the templates see of the node's security.
#[derive(Debug, Serialize)]
struct Names {
    secure: bool,
    zk_mesos_file: &'static str,
    mesos_credentials: &'static str,
    mesos_acls: &'static str,
    agent_credential: &'static str,
    agent_http_credentials: &'static str,
    marathon_secret: &'static str,
    marathon_env: &'static str,
    executor_auth_env: &'static str,
    tls_env: &'static str,
}

/// The template values: the environment files name the secret files, and
/// the units read Marathon's secret environment and the agent's executor
/// fragment, in secure mode only.
pub fn insert(ctx: &mut Context, security: &Security) {
    ctx.insert(
        "auth",
        &Names {
            secure: security.is_secure(),
            zk_mesos_file: ZK_MESOS,
            mesos_credentials: MESOS_CREDENTIALS,
            mesos_acls: crate::setup::plan::acls::MESOS_ACLS,
            agent_credential: AGENT_CREDENTIAL,
            agent_http_credentials: AGENT_HTTP_CREDENTIALS,
            marathon_secret: MARATHON_MESOS_SECRET,
            marathon_env: MARATHON_ENV,
            executor_auth_env: EXECUTOR_AUTH_ENV,
            tls_env: crate::setup::input::token::TLS_ENV,
        },
    );
}

/// Whether the templates' context is a secure node's (see [`insert`]).
pub fn is_secure(ctx: &Context) -> bool {
    ctx.get("auth")
        .and_then(|a| a.get("secure"))
        .and_then(|s| s.as_bool())
        .unwrap_or(false)
}

/// The secrets directory and every secret file this role keeps, with the
/// services that read each (restarted when it changes). Nothing when
/// insecure. The executor key is left to [`executor_auth`].
pub fn secret_files(
    security: &Security,
    role: Role,
    marathon: bool,
    zk_hosts: &str,
) -> Result<Vec<Resource>, AuthError> {
    let mut r = Vec::new();
    let agent_key = match security {
        Security::Insecure => return Ok(r),
        Security::Agent(_) if role.is_master() => {
            return Err(AuthError::AgentKeyOnMaster { role: role.name() });
        }
        Security::Agent(key) => {
            r.push(private_dir(SECRETS_DIR));
            r.push(secret_file(
                AGENT_KEY_FILE,
                format!("{}\n", key.encode().expose()),
                &[],
            ));
            key.clone()
        }
        Security::Cluster(token) => {
            r.push(private_dir(SECRETS_DIR));
            // A standalone node derives its agent key from the token: it
            // keeps no agent.key.
            r.push(secret_file(
                TOKEN_FILE,
                format!("{}\n", token.encode().expose()),
                &[],
            ));
            if role.is_master() {
                master_files(&mut r, token, marathon, zk_hosts);
            }
            token.agent_key()
        }
    };
    if role.is_agent() {
        agent_files(&mut r, &agent_key);
    }
    Ok(r)
}

fn master_files(r: &mut Vec<Resource>, token: &ClusterToken, marathon: bool, zk_hosts: &str) {
    let s = |p: MasterPurpose| token.secret(p);
    let agent = token.agent_key().secret(AgentPurpose::Registration);
    // A master has no --http_credentials (apache/mesos docs/authentication.md
    // lists it for agents only; master.md has none, and an unknown MESOS_
    // variable stops the master): its basic HTTP authenticator reads
    // --credentials, so the operator is listed there too.
    r.push(secret_file(
        MESOS_CREDENTIALS,
        json!({"credentials": [
            {"principal": MARATHON, "secret": s(MasterPurpose::MarathonFramework).expose()},
            {"principal": AGENT, "secret": agent.expose()},
            {"principal": OPERATOR, "secret": s(MasterPurpose::MasterHttp).expose()},
        ]})
        .to_string(),
        &["mesos-master"],
    ));
    // The operator's credential on its own, for `status` and
    // `mesos-docker credentials`; no flag names it.
    r.push(secret_file(
        MASTER_HTTP_CREDENTIALS,
        credentials(OPERATOR, s(MasterPurpose::MasterHttp).expose()),
        &["mesos-master"],
    ));
    r.push(secret_file(
        ZK_MESOS,
        zk_url_with_user(
            "mesos",
            s(MasterPurpose::ZkMesos).expose(),
            zk_hosts,
            "mesos",
        ),
        &["mesos-master"],
    ));
    if !marathon {
        return;
    }
    r.push(secret_file(
        MARATHON_MESOS_SECRET,
        s(MasterPurpose::MarathonFramework).expose().to_owned(),
        &["marathon"],
    ));
    r.push(secret_file(
        MARATHON_ENV,
        marathon_env(
            s(MasterPurpose::MarathonHttp).expose(),
            s(MasterPurpose::ZkMarathon).expose(),
            zk_hosts,
        ),
        &["marathon"],
    ));
}

fn agent_files(r: &mut Vec<Resource>, key: &AgentKey) {
    let s = |p: AgentPurpose| key.secret(p);
    r.push(secret_file(
        AGENT_CREDENTIAL,
        json!({"principal": AGENT, "secret": s(AgentPurpose::Registration).expose()}).to_string(),
        &["mesos-agent"],
    ));
    r.push(secret_file(
        AGENT_HTTP_CREDENTIALS,
        credentials(OPERATOR, s(AgentPurpose::AgentHttp).expose()),
        &["mesos-agent"],
    ));
}

/// Mesos' credentials file form, with one principal.
fn credentials(principal: &str, secret: &str) -> String {
    json!({"credentials": [{"principal": principal, "secret": secret}]}).to_string()
}

/// `zk://user:secret@hosts/path`: a ZooKeeper URL with a digest user, the
/// form Mesos' `--zk` and Marathon's `--zk` take.
fn zk_url_with_user(user: &str, secret: &str, zk_hosts: &str, path: &str) -> String {
    format!("zk://{user}:{secret}@{zk_hosts}/{path}")
}

/// Marathon's secret environment: its HTTP credentials (read by Marathon
/// itself, never an argument) and its ZooKeeper URL with its digest user.
/// Values are hex and URL characters: unquoted, they read the same to
/// systemd, sh (upstart) and `docker run --env-file`.
fn marathon_env(http_secret: &str, zk_secret: &str, zk_hosts: &str) -> String {
    format!(
        "MESOSPHERE_HTTP_CREDENTIALS={OPERATOR}:{http_secret}\n{}",
        marathon_zk(zk_secret, zk_hosts)
    )
}

/// How Marathon gets its ZooKeeper URL with the digest user. For now
/// MARATHON_ZK in the secret environment file; whether Marathon's launcher
/// turns MARATHON_* into arguments (visible in `ps`) is being checked, and
/// the safe form goes here, and only here.
pub fn marathon_zk(zk_secret: &str, zk_hosts: &str) -> String {
    format!(
        "MARATHON_ZK={}\n",
        zk_url_with_user(MARATHON, zk_secret, zk_hosts, "marathon")
    )
}

/// Executor authentication, for an agent: the key (secret) and the
/// fragment the agent unit reads (`EnvironmentFile=-`), both gated on the
/// installed agent listing [`EXECUTOR_AUTH_FLAGS`]. A Mesos with SSL exits
/// on these flags without `--http_credentials`, which secure mode always
/// sets alongside. `None` when insecure or not an agent.
pub fn executor_auth(
    security: &Security,
    role: Role,
    help: Vec<String>,
    program: &str,
) -> Option<(Vec<Resource>, Gated)> {
    let key = security.agent_key().filter(|_| role.is_agent())?;
    let files = vec![
        secret_file(
            EXECUTOR_SECRET_KEY,
            key.secret(AgentPurpose::ExecutorKey).expose().to_owned(),
            &["mesos-agent"],
        ),
        file(
            EXECUTOR_AUTH_ENV,
            format!(
                "# Written by mesos-docker setup, because the installed mesos-agent lists\n\
                 # --authenticate_http_executors and --executor_secret_key: executors\n\
                 # authenticate with a token the agent signs with the key (root only).\n\
                 MESOS_AUTHENTICATE_HTTP_EXECUTORS=\"true\"\n\
                 MESOS_EXECUTOR_SECRET_KEY=\"{EXECUTOR_SECRET_KEY}\"\n"
            ),
            &["mesos-agent"],
        ),
    ];
    let gated = Gated {
        feature: EXECUTOR_AUTH,
        check: FlagCheck {
            daemon: Daemon::Agent,
            env_file: EXECUTOR_AUTH_ENV.to_owned(),
            argv: help,
            program: program.to_owned(),
            names: EXECUTOR_AUTH_FLAGS.iter().map(|s| s.to_string()).collect(),
        },
        paths: files.iter().map(|f| f.id().to_owned()).collect(),
        off_because: "a Mesos built without SSL has no executor authentication",
        blocked: None,
    };
    Some((files, gated))
}

/// Refuses extra flags that would override what a secured node's
/// authentication sets (the environment file would hold both, the last
/// one winning): a typo'd `authenticate_agents=false` must not open the
/// node quietly.
pub fn check_extra_flags(
    security: &Security,
    extra: &crate::setup::input::flags::ExtraFlags,
) -> Result<(), AuthError> {
    if !security.is_secure() {
        return Ok(());
    }
    for (daemon, flags, flag) in [
        (Daemon::Master, &extra.master, "master"),
        (Daemon::Agent, &extra.agent, "agent"),
    ] {
        if let Some(name) = flags.keys().find(|n| managed(daemon).contains(&n.as_str())) {
            return Err(AuthError::ExtraFlag {
                program: daemon.program(),
                flag,
                name: name.clone(),
            });
        }
    }
    Ok(())
}

/// Refuses an agent whose resources carry a role (a static reservation) on
/// a secured cluster: see [`AuthError::StaticReservation`].
pub fn check_static_reservations(
    security: &Security,
    role: Role,
    resources: Option<&str>,
    extra: &crate::setup::input::flags::ExtraFlags,
) -> Result<(), AuthError> {
    if !security.is_secure() || !role.is_agent() {
        return Ok(());
    }
    let refuse = |place: &str, role: &str| {
        Err(AuthError::StaticReservation {
            place: place.to_owned(),
            role: role.to_owned(),
        })
    };
    // The unreserved role is `*`: naming it reserves nothing.
    let reserved = |role: &str| role != "*";
    if let Some(role) = extra.agent.get("default_role").filter(|r| reserved(r)) {
        return refuse("--agent-flag default_role", role);
    }
    for (place, text) in [
        ("--resources", resources),
        (
            "--agent-flag resources",
            extra.agent.get("resources").map(String::as_str),
        ),
    ] {
        let Some(text) = text else { continue };
        // The JSON form names its role (or reservations) in fields.
        if text.trim_start().starts_with('[') {
            if text.contains("\"role\"") || text.contains("\"reservations\"") {
                return refuse(place, "(in the JSON)");
            }
            continue;
        }
        for item in text.split(';') {
            let name = item.split(':').next().unwrap_or_default();
            if let Some((_, role)) = name.split_once('(') {
                let role = role.trim_end_matches(')');
                if reserved(role) {
                    return refuse(place, role);
                }
            }
        }
    }
    Ok(())
}

/// The flags secure mode writes itself, per daemon (`zk` too on a master:
/// its URL is the secret file's).
pub fn managed(daemon: Daemon) -> &'static [&'static str] {
    match daemon {
        Daemon::Master => &[
            "zk",
            "authenticate_frameworks",
            "authenticate_agents",
            "credentials",
            "acls",
            "authenticate_http_readonly",
            "authenticate_http_readwrite",
            "authenticate_http_frameworks",
            "http_framework_authenticators",
        ],
        Daemon::Agent => &[
            "credential",
            "authenticate_http_readonly",
            "authenticate_http_readwrite",
            "http_credentials",
            "authenticate_http_executors",
            "executor_secret_key",
        ],
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::setup::host::facts::{Distro, Facts, Init, Installed, Os};
    use crate::setup::input::options::{FileConfig, Options, SetupArgs, resolve};
    use crate::setup::input::token::TOKEN_PREFIX;
    use crate::setup::plan::tls;
    use crate::setup::plan::{Plan, plan};

    pub fn token() -> ClusterToken {
        ClusterToken::parse(&format!("{TOKEN_PREFIX}{}", "ab".repeat(32)), "test").unwrap()
    }

    pub fn facts(init: Init) -> Facts {
        Facts {
            os: Os {
                distro: Distro::Ubuntu,
                version: "22.04".into(),
            },
            arch: "x86_64".into(),
            init,
            hostname: "m2".into(),
            addresses: vec![],
            memory_mib: None,
            cpus: None,
            cgroup: None,
            nofile_hard: None,
            container: None,
            installed: Installed {
                mesos_master: true,
                mesos_agent: true,
                marathon_program: true,
                ..Default::default()
            },
        }
    }

    pub fn options(role: Role, f: &Facts, security: Security) -> Options {
        let args = SetupArgs {
            settings: FileConfig {
                role: Some(role),
                masters: Some(vec!["m1".into(), "m2".into(), "m3".into()]),
                ..Default::default()
            },
            ..Default::default()
        };
        let mut opts = resolve(&args, FileConfig::default(), f, None).unwrap().0;
        opts.security = security;
        opts
    }

    /// Every secret the token (or agent key) derives, and the keys
    /// themselves, as text: none may appear outside a secret file.
    pub fn every_secret(t: &ClusterToken) -> Vec<String> {
        let k = t.agent_key();
        let mut all = vec![
            t.encode().expose().to_owned(),
            k.encode().expose().to_owned(),
            // The bare hex of the token and key, without their prefix.
            t.encode().expose()[TOKEN_PREFIX.len()..].to_owned(),
            k.encode().expose()["mdak1_".len()..].to_owned(),
        ];
        all.extend(MasterPurpose::ALL.map(|p| t.secret(p).expose().to_owned()));
        all.extend(AgentPurpose::ALL.map(|p| k.secret(p).expose().to_owned()));
        all
    }

    pub fn files(p: &Plan) -> Vec<(&str, u32, &str, bool)> {
        p.resources
            .iter()
            .filter_map(|r| match r {
                Resource::File {
                    path,
                    mode,
                    content,
                    secret,
                    ..
                } => Some((path.as_str(), *mode, content.as_str(), *secret)),
                _ => None,
            })
            .collect()
    }

    fn secret_paths(p: &Plan) -> Vec<&str> {
        files(p)
            .into_iter()
            .filter(|f| f.1 == 0o600 && f.0.starts_with(SECRETS_DIR))
            .map(|f| f.0)
            .collect()
    }

    fn content<'a>(p: &'a Plan, path: &str) -> &'a str {
        files(p)
            .into_iter()
            .find(|f| f.0 == path)
            .unwrap_or_else(|| panic!("no {path}"))
            .2
    }

    #[test]
    fn each_role_keeps_its_files_only() {
        let t = token();
        let master = [
            TOKEN_FILE,
            MESOS_CREDENTIALS,
            MASTER_HTTP_CREDENTIALS,
            ZK_MESOS,
            // Signed with the token (an agent without it signs nothing).
            tls::NODE_KEY,
        ];
        let with_marathon = [MARATHON_MESOS_SECRET, MARATHON_ENV];
        let agent = [
            AGENT_CREDENTIAL,
            AGENT_HTTP_CREDENTIALS,
            EXECUTOR_SECRET_KEY,
        ];
        let cases: Vec<(Role, bool, Security, Vec<&str>)> = vec![
            (
                Role::Master,
                true,
                Security::Cluster(t.clone()),
                [&master[..], &with_marathon].concat(),
            ),
            (
                Role::Master,
                false,
                Security::Cluster(t.clone()),
                master.to_vec(),
            ),
            (
                Role::Agent,
                false,
                Security::Agent(t.agent_key()),
                [&[AGENT_KEY_FILE][..], &agent].concat(),
            ),
            (
                Role::Standalone,
                true,
                Security::Cluster(t.clone()),
                [&master[..], &with_marathon, &agent].concat(),
            ),
            (
                Role::Standalone,
                false,
                Security::Cluster(t.clone()),
                [&master[..], &agent].concat(),
            ),
        ];
        for init in [Init::Systemd, Init::Upstart] {
            let f = facts(init);
            for (role, marathon, security, want) in &cases {
                let mut opts = options(*role, &f, security.clone());
                opts.marathon = *marathon;
                let p = plan(&opts, &f).unwrap();
                let case = format!("{role:?} marathon={marathon} {init:?}");
                let mut got = secret_paths(&p);
                got.sort();
                let mut want = want.clone();
                want.sort();
                assert_eq!(got, want, "{case}");
                assert!(
                    p.resources.contains(&private_dir(SECRETS_DIR)),
                    "{case}: the secrets dir is 0700"
                );
                // Every file in the secrets dir is a secret; no secret
                // outside it but the proxy's (none here).
                for (path, mode, _, secret) in files(&p) {
                    assert_eq!(
                        path.starts_with(SECRETS_DIR),
                        secret,
                        "{case}: {path} {mode:o}"
                    );
                    assert_eq!(secret, mode == 0o600, "{case}: {path} {mode:o}");
                }
                // The executor's key and fragment, and TLS, wait for --help.
                let gated: Vec<&str> = p
                    .gated
                    .iter()
                    .flat_map(|g| g.paths.iter().map(String::as_str))
                    .collect();
                let tls: &[&str] = match security {
                    Security::Cluster(_) => {
                        &[tls::CA_CERT, tls::NODE_CERT, tls::NODE_KEY, tls::TLS_ENV]
                    }
                    _ => &[tls::TLS_ENV],
                };
                let executor: &[&str] = if role.is_agent() {
                    &[EXECUTOR_SECRET_KEY, EXECUTOR_AUTH_ENV]
                } else {
                    &[]
                };
                assert_eq!(gated, [executor, tls].concat(), "{case}");
            }
        }
    }

    #[test]
    fn no_secret_in_any_other_file_or_in_debug() {
        let t = token();
        let secrets = every_secret(&t);
        for init in [Init::Systemd, Init::Upstart] {
            let f = facts(init);
            for (role, security) in [
                (Role::Standalone, Security::Cluster(t.clone())),
                (Role::Master, Security::Cluster(t.clone())),
                (Role::Agent, Security::Agent(t.agent_key())),
            ] {
                let p = plan(&options(role, &f, security), &f).unwrap();
                let debug = format!("{p:?}");
                let json = serde_json::to_string(&p.resources).unwrap();
                for s in &secrets {
                    assert!(!debug.contains(s.as_str()), "{role:?}: Debug shows {s}");
                    assert!(!json.contains(s.as_str()), "{role:?}: JSON shows {s}");
                    for (path, mode, content, secret) in files(&p) {
                        assert!(
                            secret || !content.contains(s.as_str()),
                            "{role:?} {init:?}: {path} ({mode:o}) holds {s}"
                        );
                    }
                }
                assert!(
                    debug.contains("(secret content, "),
                    "{role:?}: the redaction shows: {debug}"
                );
            }
        }
    }

    #[test]
    fn the_files_hold_what_mesos_and_marathon_read() {
        let t = token();
        let k = t.agent_key();
        let f = facts(Init::Systemd);
        let p = plan(
            &options(Role::Standalone, &f, Security::Cluster(t.clone())),
            &f,
        )
        .unwrap();
        let m = |x| t.secret(x).expose().to_owned();
        let a = |x| k.secret(x).expose().to_owned();
        let json = |path| serde_json::from_str::<serde_json::Value>(content(&p, path)).unwrap();
        assert_eq!(
            json(MESOS_CREDENTIALS),
            json!({"credentials": [
                {"principal": "marathon", "secret": m(MasterPurpose::MarathonFramework)},
                {"principal": "agent", "secret": a(AgentPurpose::Registration)},
                {"principal": "operator", "secret": m(MasterPurpose::MasterHttp)},
            ]})
        );
        assert_eq!(
            json(MASTER_HTTP_CREDENTIALS),
            json!({"credentials": [{"principal": "operator", "secret": m(MasterPurpose::MasterHttp)}]})
        );
        assert_eq!(
            json(AGENT_CREDENTIAL),
            json!({"principal": "agent", "secret": a(AgentPurpose::Registration)})
        );
        assert_eq!(
            json(AGENT_HTTP_CREDENTIALS),
            json!({"credentials": [{"principal": "operator", "secret": a(AgentPurpose::AgentHttp)}]})
        );
        // No trailing newline where a program reads the whole file.
        assert_eq!(
            content(&p, ZK_MESOS),
            format!(
                "zk://mesos:{}@m1:2181,m2:2181,m3:2181/mesos",
                m(MasterPurpose::ZkMesos)
            )
        );
        assert_eq!(
            content(&p, MARATHON_MESOS_SECRET),
            m(MasterPurpose::MarathonFramework)
        );
        assert_eq!(
            content(&p, EXECUTOR_SECRET_KEY),
            a(AgentPurpose::ExecutorKey)
        );
        assert_eq!(
            content(&p, MARATHON_ENV),
            format!(
                "MESOSPHERE_HTTP_CREDENTIALS=operator:{}\nMARATHON_ZK=zk://marathon:{}@m1:2181,m2:2181,m3:2181/marathon\n",
                m(MasterPurpose::MarathonHttp),
                m(MasterPurpose::ZkMarathon)
            )
        );
        // Only the agent has --http_credentials: the master would stop on it.
        assert!(!content(&p, "/etc/mesos-docker/master.env").contains("HTTP_CREDENTIALS"));
        assert!(
            content(&p, "/etc/mesos-docker/agent.env").contains(&format!(
                "MESOS_HTTP_CREDENTIALS=\"{AGENT_HTTP_CREDENTIALS}\"\n"
            ))
        );
        assert_eq!(
            content(&p, TOKEN_FILE),
            format!("{}\n", t.encode().expose())
        );
        // An agent keeps its key, never the token.
        let p = plan(&options(Role::Agent, &f, Security::Agent(k.clone())), &f).unwrap();
        assert_eq!(
            content(&p, AGENT_KEY_FILE),
            format!("{}\n", k.encode().expose())
        );
        let all: String = files(&p).iter().map(|f| f.2).collect();
        assert!(!all.contains(t.encode().expose()));
        for purpose in MasterPurpose::ALL {
            assert!(!all.contains(t.secret(purpose).expose()), "{purpose:?}");
        }
    }

    #[test]
    fn extra_flags_cannot_undo_authentication() {
        let f = facts(Init::Systemd);
        let mut opts = options(Role::Standalone, &f, Security::Cluster(token()));
        opts.flags
            .agent
            .insert("authenticate_http_readwrite".into(), "false".into());
        let err = plan(&opts, &f).unwrap_err().to_string();
        assert!(
            err.starts_with("the extra mesos-agent flag authenticate_http_readwrite is set by setup on a secured node"),
            "{err}"
        );
        opts.flags.agent.clear();
        opts.flags.master.insert("credentials".into(), "/x".into());
        let err = plan(&opts, &f).unwrap_err().to_string();
        assert!(err.contains("mesos-master flag credentials"), "{err}");
        // Open nodes take them as before; other extra flags pass.
        opts.security = Security::Insecure;
        assert!(plan(&opts, &f).is_ok());
        opts.security = Security::Cluster(token());
        opts.flags.master.clear();
        opts.flags
            .master
            .insert("max_agent_ping_timeouts".into(), "5".into());
        assert!(plan(&opts, &f).is_ok());
    }

    /// Daemons in containers see the secret files their flags name,
    /// Marathon its secret environment, the agent its executor flags.
    #[test]
    fn containers_get_the_secrets_they_read() {
        let hex = "0123456789abcdef".repeat(4);
        let f = facts(Init::Systemd);
        let args = SetupArgs {
            settings: FileConfig {
                role: Some(Role::Standalone),
                masters: Some(vec!["m2".into()]),
                ..Default::default()
            },
            sources: crate::setup::input::options::FileSources {
                mesos: Some(format!("docker:registry.local/mesos:1.11.0@sha256:{hex}")),
                marathon: Some(format!("docker:registry.local/marathon:1.11@sha256:{hex}")),
                ..Default::default()
            },
            ..Default::default()
        };
        let mut opts = resolve(&args, FileConfig::default(), &f, None).unwrap().0;
        opts.security = Security::Cluster(token());
        let p = plan(&opts, &f).unwrap();
        let ro = "-v /etc/mesos-docker/secrets:/etc/mesos-docker/secrets:ro";
        // Each daemon: the TLS files and libprocess' variables by name.
        let tls = "-v /etc/mesos-docker/tls:/etc/mesos-docker/tls:ro -e LIBPROCESS_SSL_ENABLED -e LIBPROCESS_SSL_SUPPORT_DOWNGRADE -e LIBPROCESS_SSL_CERT_FILE -e LIBPROCESS_SSL_KEY_FILE -e LIBPROCESS_SSL_CA_FILE -e LIBPROCESS_SSL_VERIFY_CERT -e LIBPROCESS_SSL_VERIFY_IPADD -e LIBPROCESS_SSL_REQUIRE_CERT -e LIBPROCESS_SSL_CIPHERS";
        let optional = "EnvironmentFile=-/etc/mesos-docker/tls.env\n";
        let unit = content(&p, "/etc/systemd/system/mesos-agent.service");
        assert!(
            unit.contains(&format!(
                "{ro} -e MESOS_AUTHENTICATE_HTTP_EXECUTORS -e MESOS_EXECUTOR_SECRET_KEY {tls} --entrypoint mesos-agent registry.local/mesos:1.11.0@sha256:{hex}\n"
            )) && unit.contains("EnvironmentFile=-/etc/mesos-docker/agent-executor-auth.env\n")
                && unit.contains(optional),
            "{unit}"
        );
        let unit = content(&p, "/etc/systemd/system/mesos-master.service");
        assert!(
            unit.contains(&format!(
                " -v {acls}:{acls}:ro {ro} {tls} --entrypoint mesos-master",
                acls = crate::setup::plan::acls::MESOS_ACLS
            )) && unit.contains(optional),
            "{unit}"
        );
        let unit = content(&p, "/etc/systemd/system/marathon.service");
        assert!(
            unit.contains(&format!(
                "--env-file /etc/mesos-docker/marathon.env --env-file {MARATHON_ENV} {ro} {tls} registry.local/marathon"
            )) && unit.contains(optional),
            "{unit}"
        );
        // Docker takes --env-file values literally: no quotes.
        let env = content(&p, "/etc/mesos-docker/marathon.env");
        assert!(env.contains("\nMARATHON_MESOS_AUTHENTICATION=\n"), "{env}");
        assert!(
            content(&p, "/etc/mesos-docker/master.env")
                .contains("\nMESOS_ZK=file:///etc/mesos-docker/secrets/zk-mesos\n")
        );
        // The agent's flags are asked of the image.
        assert_eq!(
            p.gated[0].check.argv,
            [
                "/usr/bin/docker",
                "run",
                "--rm",
                "--entrypoint",
                "mesos-agent",
                &format!("registry.local/mesos:1.11.0@sha256:{hex}"),
                "--help"
            ]
        );
    }

    /// An attack test's other side: the ACLs deny the agent principal
    /// reserve_resources, so an agent that reserves statically is refused
    /// at setup instead of never registering; open nodes and `*` pass.
    #[test]
    fn static_reservations_are_refused_on_secured_agents() {
        let f = facts(Init::Systemd);
        let key = Security::Agent(token().agent_key());
        let refused = |opts: &Options| plan(opts, &f).unwrap_err().to_string();
        for (resources, role) in [
            ("cpus(web):4;mem:1024", "\"web\""),
            ("cpus:4;ports(ops):[31000-32000]", "\"ops\""),
        ] {
            for (r, security) in [
                (Role::Agent, key.clone()),
                (Role::Standalone, Security::Cluster(token())),
            ] {
                let mut opts = options(r, &f, security);
                opts.resources = Some(resources.into());
                let err = refused(&opts);
                assert!(
                    err.starts_with(&format!(
                        "--resources reserves this agent's resources for role {role} statically"
                    )),
                    "{err}"
                );
                opts.security = Security::Insecure;
                assert!(plan(&opts, &f).is_ok());
            }
        }
        let mut opts = options(Role::Agent, &f, key.clone());
        opts.resources = Some("cpus(*):4;mem:1024".into());
        assert!(plan(&opts, &f).is_ok());
        opts.flags.agent.insert("default_role".into(), "web".into());
        assert!(refused(&opts).starts_with("--agent-flag default_role reserves"));
        opts.flags.agent.insert("default_role".into(), "*".into());
        assert!(plan(&opts, &f).is_ok());
        opts.flags.agent.insert(
            "resources".into(),
            r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":2},"role":"web"}]"#.into(),
        );
        assert!(refused(&opts).starts_with("--agent-flag resources reserves"));
        // A master keeps no agent resources: nothing to refuse.
        let mut opts = options(Role::Master, &f, Security::Cluster(token()));
        opts.flags.agent.insert("default_role".into(), "web".into());
        assert!(plan(&opts, &f).is_ok());
    }

    #[test]
    fn a_master_refuses_an_agent_key() {
        let f = facts(Init::Systemd);
        for role in [Role::Master, Role::Standalone] {
            let err = plan(&options(role, &f, Security::Agent(token().agent_key())), &f)
                .unwrap_err()
                .to_string();
            assert!(err.contains("needs the cluster token"), "{err}");
        }
    }

    /// What a secure node's public files say (environment files, units,
    /// jobs): new with issue 12, so new snapshots; the insecure ones are the
    /// roots tests' and unchanged.
    #[test]
    fn secure_public_files_snapshot() {
        let t = token();
        for (name, role, init, security) in [
            (
                "standalone-systemd",
                Role::Standalone,
                Init::Systemd,
                Security::Cluster(t.clone()),
            ),
            (
                "master-upstart",
                Role::Master,
                Init::Upstart,
                Security::Cluster(t.clone()),
            ),
            (
                "agent-upstart",
                Role::Agent,
                Init::Upstart,
                Security::Agent(t.agent_key()),
            ),
        ] {
            let f = facts(init);
            let p = plan(&options(role, &f, security), &f).unwrap();
            let mut out = String::new();
            for (path, mode, content, secret) in files(&p) {
                if path.starts_with("/etc/mesos-docker")
                    || path.starts_with("/etc/systemd/system/m")
                    || path.starts_with("/etc/init/m")
                {
                    let body = if secret {
                        crate::setup::plan::resource::redacted(content) + "\n"
                    } else {
                        content.to_owned()
                    };
                    out.push_str(&format!("=== {path} ({mode:04o})\n{body}"));
                }
            }
            insta::assert_snapshot!(format!("secure-{name}"), out);
        }
    }
}
