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
pub const MASTER_HTTP_CREDENTIALS: &str = "/etc/mesos-docker/secrets/master-http-credentials.json";
pub const ZK_MESOS: &str = "/etc/mesos-docker/secrets/zk-mesos";
pub const AGENT_CREDENTIAL: &str = "/etc/mesos-docker/secrets/agent-credential.json";
pub const AGENT_HTTP_CREDENTIALS: &str = "/etc/mesos-docker/secrets/agent-http-credentials.json";
pub const EXECUTOR_SECRET_KEY: &str = "/etc/mesos-docker/secrets/executor-secret-key";
pub const MARATHON_MESOS_SECRET: &str = "/etc/mesos-docker/secrets/marathon-mesos-secret";
/// Marathon's secret environment: read after /etc/mesos-docker/marathon.env.
pub const MARATHON_ENV: &str = "/etc/mesos-docker/secrets/marathon.env";
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
}

/// Files written only where the program that reads them lists every flag of
/// `check` in its `--help`; removed (with the reason recorded under
/// `feature` in the manifest) where it does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gated {
    pub feature: &'static str,
    pub check: FlagCheck,
    pub paths: Vec<String>,
}

/// What the templates see of the node's security.
#[derive(Debug, Serialize)]
struct Names {
    secure: bool,
    zk_mesos_file: &'static str,
    mesos_credentials: &'static str,
    master_http_credentials: &'static str,
    agent_credential: &'static str,
    agent_http_credentials: &'static str,
    marathon_secret: &'static str,
    marathon_env: &'static str,
    executor_auth_env: &'static str,
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
            master_http_credentials: MASTER_HTTP_CREDENTIALS,
            agent_credential: AGENT_CREDENTIAL,
            agent_http_credentials: AGENT_HTTP_CREDENTIALS,
            marathon_secret: MARATHON_MESOS_SECRET,
            marathon_env: MARATHON_ENV,
            executor_auth_env: EXECUTOR_AUTH_ENV,
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
    r.push(secret_file(
        MESOS_CREDENTIALS,
        json!({"credentials": [
            {"principal": MARATHON, "secret": s(MasterPurpose::MarathonFramework).expose()},
            {"principal": AGENT, "secret": agent.expose()},
        ]})
        .to_string(),
        &["mesos-master"],
    ));
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
    };
    Some((files, gated))
}

/// The flags secure mode writes itself, per daemon, for the extra-flags
/// check (an extra flag may not override them).
pub fn managed(daemon: Daemon) -> Vec<(&'static str, &'static str)> {
    let by = "setup (authentication; --insecure leaves it out)";
    let names: &[&'static str] = match daemon {
        Daemon::Master => &[
            "authenticate_frameworks",
            "authenticate_agents",
            "credentials",
            "authenticate_http_readonly",
            "authenticate_http_readwrite",
            "authenticate_http_frameworks",
            "http_framework_authenticators",
            "http_credentials",
        ],
        Daemon::Agent => &[
            "credential",
            "authenticate_http_readonly",
            "authenticate_http_readwrite",
            "http_credentials",
            "authenticate_http_executors",
            "executor_secret_key",
        ],
    };
    names.iter().map(|n| (*n, by)).collect()
}
