//! Which cluster token (or agent key) a node is set up with: from what the
//! operator gave (`--token-file`, `MESOS_DOCKER_TOKEN`, `--token`,
//! setup.toml), what the node already holds, and its place in the cluster.
//!
//! Every refusal here happens before the plan is applied: a node given the
//! wrong token changes nothing. A node never moves between clusters by a
//! re-run, and only a node that may start a cluster generates a token, so
//! two masters never start two clusters by accident.

use std::fmt;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use crate::setup::host::system::System;
use crate::setup::input::model::Role;
use crate::setup::input::token::{
    AGENT_KEY_FILE, AgentKey, ClusterToken, Fingerprints, KeptTls, Secret, Security, TLS_CA,
    TLS_CERT, TLS_KEY, TOKEN_FILE, TokenError,
};

/// The environment variable a token may come in (read by `main`).
pub const TOKEN_ENV: &str = "MESOS_DOCKER_TOKEN";
/// The one subcommand that shows the token again on a master.
pub const SHOW_TOKEN: &str = "mesos-docker credentials --token";
/// Longer than any token file: a FILE naming /dev/zero is no hang.
const TOKEN_FILE_LIMIT: u64 = 4096;

/// Token text as typed (a flag, the environment, setup.toml): redacted in
/// `Debug`, so argument dumps and test failures never show it.
#[derive(Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct TokenText(String);

impl TokenText {
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }
}

impl fmt::Debug for TokenText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenText(<redacted>)")
    }
}

impl std::str::FromStr for TokenText {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error("cannot read {source_name}")]
    Unreadable {
        source_name: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Malformed(#[from] TokenError),
    #[error(
        "{a} and {b} give two different cluster tokens (fingerprints {fa} and {fb}); give the token once, or make them agree"
    )]
    Disagree {
        a: String,
        b: String,
        fa: String,
        fb: String,
    },
    #[error(
        "{insecure} and {token} contradict each other: a node is either secured by the cluster token or open; drop one"
    )]
    InsecureWithToken { insecure: String, token: String },
    #[error(
        "{path} holds the cluster token (`token = …`) but is {problem}: a token there must be readable by root alone. Run `chown root:root {path} && chmod 600 {path}`, or move the token to a file named by `token-file`"
    )]
    ConfigExposed { path: String, problem: String },
    #[error(
        "an agent joins a cluster: pass its token with --token-file FILE (or MESOS_DOCKER_TOKEN); `{SHOW_TOKEN}` shows it on a master"
    )]
    AgentWithoutToken,
    #[error(
        "this master ({me}) is not the first of the masters ({masters}): it joins the cluster that {first} starts, and needs that cluster's token. Set up {first} first; it prints the token (`{SHOW_TOKEN}` shows it there again); then pass it here with --token-file FILE or MESOS_DOCKER_TOKEN"
    )]
    JoinerWithoutToken {
        me: String,
        masters: String,
        first: String,
    },
    #[error(
        "this node keeps only an agent key ({AGENT_KEY_FILE}): it was set up as an agent, and a {role} needs the cluster token itself: pass it with --token-file FILE (`{SHOW_TOKEN}` shows it on a master)"
    )]
    MasterWithAgentKey { role: &'static str },
    #[error(
        "this node belongs to the cluster whose {what} has fingerprint {held} ({place}); {given} gives a token of another cluster ({what} fingerprint {other}). A node cannot move between clusters by re-running setup: nothing was changed. Pass this cluster's token (`{SHOW_TOKEN}` shows it on one of its masters); to move the node to another cluster, run `mesos-docker uninstall` on it first and then set it up with the new token"
    )]
    Mismatch {
        what: &'static str,
        held: String,
        place: String,
        given: String,
        other: String,
    },
    #[error(
        "setup's record says this node holds the {what} with fingerprint {fingerprint}, but {file} is missing; setup will not make up another one (the node would leave its cluster). Pass the cluster's token with --token-file FILE (`{SHOW_TOKEN}` shows it on a master)"
    )]
    StoredMissing {
        what: &'static str,
        fingerprint: String,
        file: &'static str,
    },
    #[error(
        "{insecure} would open this node, but it belongs to a secured cluster ({what} fingerprint {fingerprint}); its masters would refuse it. Drop {insecure}; to open the node on purpose, run `mesos-docker uninstall` first"
    )]
    InsecureOverSecure {
        insecure: String,
        what: &'static str,
        fingerprint: String,
    },
    #[error(
        "the token does not match the cluster at {host}: its master refused the credentials derived from it (HTTP 401). Nothing was changed. Pass that cluster's token (`{SHOW_TOKEN}` shows it on one of its masters)"
    )]
    Rejected { host: String },
    #[error(
        "the cluster at {host} is secured (its master refused an anonymous request, HTTP 401): this master joins it and needs its token. Nothing was changed. Pass it with --token-file FILE or MESOS_DOCKER_TOKEN (`{SHOW_TOKEN}` shows it on {host})"
    )]
    SecuredWithoutToken { host: String },
    #[error(
        "the cluster at {host} is secured (its master speaks TLS on :5050, as only secured masters do): this master joins it and needs its token. Nothing was changed. Pass it with --token-file FILE or MESOS_DOCKER_TOKEN (`{SHOW_TOKEN}` shows it on {host})"
    )]
    SecuredTlsWithoutToken { host: String },
    #[error(
        "the master at {host} is not of the token's cluster: {why}. Its certificate would come from the CA every node derives from the token, so the token is another cluster's, or something between this node and {host} answers in its place. Nothing was sent to it and nothing was changed. Pass that cluster's token (`{SHOW_TOKEN}` shows it on one of its masters), or check the network path"
    )]
    ForeignMaster { host: String, why: String },
}

/// What the operator gave, each kept apart so a message can name it.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// `--token`.
    pub flag: Option<TokenText>,
    /// `--token-file`.
    pub flag_file: Option<PathBuf>,
    /// `MESOS_DOCKER_TOKEN`.
    pub env: Option<TokenText>,
    /// `--insecure`.
    pub flag_insecure: bool,
    /// setup.toml's keys, when it was read.
    pub config: Option<ConfigInputs>,
}

#[derive(Debug, Clone, Default)]
pub struct ConfigInputs {
    pub path: String,
    pub token: Option<TokenText>,
    pub token_file: Option<PathBuf>,
    pub insecure: bool,
    /// Owner and mode of the file as it was read.
    pub access: Option<(u32, u32)>,
}

/// A token the operator gave, and where it came from.
#[derive(Debug, Clone)]
pub struct GivenToken {
    pub token: ClusterToken,
    pub source: String,
}

#[derive(Debug, Clone, Default)]
pub struct Given {
    pub token: Option<GivenToken>,
    /// Where `--insecure` came from, when it did.
    pub insecure: Option<String>,
}

/// Reads and checks what the operator gave: every source parsed (a bad one
/// named), two that disagree refused, `--insecure` with a token refused.
pub fn given(inputs: &Inputs) -> Result<(Given, Vec<String>), SecurityError> {
    let mut warnings = Vec::new();
    let mut found: Vec<GivenToken> = Vec::new();
    let mut add = |text: &str, source: String| -> Result<(), SecurityError> {
        let token = ClusterToken::parse(text, &source)?;
        found.push(GivenToken { token, source });
        Ok(())
    };
    if let Some(t) = &inputs.flag {
        warnings.push(
            "--token puts the cluster token in `ps` output and your shell history, where other users can read it; pass it with --token-file FILE (mode 600) or MESOS_DOCKER_TOKEN instead".to_owned(),
        );
        add(&t.0, "--token".to_owned())?;
    }
    if let Some(p) = &inputs.flag_file {
        let source = format!("--token-file {}", p.display());
        add(&read_token_file(p, &source, &mut warnings)?, source)?;
    }
    if let Some(t) = &inputs.env {
        add(&t.0, TOKEN_ENV.to_owned())?;
    }
    let mut insecure = inputs.flag_insecure.then(|| "--insecure".to_owned());
    if let Some(c) = &inputs.config {
        if let Some(t) = &c.token {
            check_private(c)?;
            add(&t.0, format!("{} token", c.path))?;
        }
        if let Some(p) = &c.token_file {
            let source = format!("{} token-file = {}", c.path, p.display());
            add(&read_token_file(p, &source, &mut warnings)?, source)?;
        }
        if c.insecure && insecure.is_none() {
            insecure = Some(format!("{} insecure = true", c.path));
        }
    }
    let mut found = found.into_iter();
    let first = found.next();
    if let Some(first) = &first {
        if let Some(other) = found.find(|g| g.token != first.token) {
            return Err(SecurityError::Disagree {
                a: first.source.clone(),
                b: other.source,
                fa: first.token.fingerprint(),
                fb: other.token.fingerprint(),
            });
        }
        if let Some(i) = &insecure {
            return Err(SecurityError::InsecureWithToken {
                insecure: i.clone(),
                token: first.source.clone(),
            });
        }
    }
    Ok((
        Given {
            token: first,
            insecure,
        },
        warnings,
    ))
}

/// A token file's text. Other users able to read it is worth a warning, not
/// a refusal: the operator may be about to delete it.
fn read_token_file(
    path: &std::path::Path,
    source: &str,
    warnings: &mut Vec<String>,
) -> Result<String, SecurityError> {
    let unreadable = |e| SecurityError::Unreadable {
        source_name: source.to_owned(),
        source: e,
    };
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let meta = file.metadata().map_err(unreadable)?;
    if meta.is_file() && meta.mode() & 0o044 != 0 {
        warnings.push(format!(
            "{source}: the file is readable by other users (mode {:o}); `chmod 600 {}`, or delete it once every node is set up",
            meta.mode() & 0o7777,
            path.display()
        ));
    }
    let mut text = String::new();
    file.take(TOKEN_FILE_LIMIT)
        .read_to_string(&mut text)
        .map_err(unreadable)?;
    Ok(text)
}

/// setup.toml may hold a token only when root alone can read it.
fn check_private(c: &ConfigInputs) -> Result<(), SecurityError> {
    let Some((uid, mode)) = c.access else {
        return Ok(());
    };
    let problem = match (uid, mode & 0o077) {
        (0, 0) => return Ok(()),
        (0, bits) => format!(
            "open to group or others (mode {:o}, group/others bits {bits:o})",
            mode & 0o7777
        ),
        (uid, _) => format!("owned by uid {uid}, not root"),
    };
    Err(SecurityError::ConfigExposed {
        path: c.path.clone(),
        problem,
    })
}

/// What the node already holds: its stored token or agent key, and the
/// fingerprints setup's record keeps.
#[derive(Debug, Clone, Default)]
pub struct Stored {
    pub token: Option<ClusterToken>,
    pub agent_key: Option<AgentKey>,
    pub recorded: Option<Fingerprints>,
    /// The TLS files, when all three are there.
    pub tls: Option<KeptTls>,
}

/// Reads TOKEN_FILE and AGENT_KEY_FILE under the root. A file that exists
/// but cannot be read or parsed is refused: guessing would fail open.
pub fn stored(sys: &System, recorded: Option<Fingerprints>) -> Result<Stored, SecurityError> {
    fn read(sys: &System, file: &str) -> Result<Option<String>, SecurityError> {
        match sys.read(file) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(SecurityError::Unreadable {
                source_name: sys.path(file).display().to_string(),
                source: e,
            }),
        }
    }
    let token = read(sys, TOKEN_FILE)?
        .map(|t| ClusterToken::parse(&t, &sys.path(TOKEN_FILE).display().to_string()))
        .transpose()?;
    let agent_key = read(sys, AGENT_KEY_FILE)?
        .map(|t| AgentKey::parse(&t, &sys.path(AGENT_KEY_FILE).display().to_string()))
        .transpose()?;
    let tls = match (
        read(sys, TLS_CA)?,
        read(sys, TLS_CERT)?,
        read(sys, TLS_KEY)?,
    ) {
        (Some(ca_pem), Some(cert_pem), Some(key)) => Some(KeptTls {
            ca_pem,
            cert_pem,
            key_pem: Secret::from_stored(key),
        }),
        _ => None,
    };
    Ok(Stored {
        token,
        agent_key,
        recorded,
        tls,
    })
}

/// This node's place in the cluster, as far as the token is concerned.
#[derive(Debug, Clone)]
pub struct Place {
    pub role: Role,
    /// The host name this node goes by.
    pub me: String,
    /// The master hosts, in the order given; empty with an external
    /// ZooKeeper.
    pub masters: Vec<String>,
    /// May this node start a cluster (and so generate its token): a
    /// standalone node or a master that is the first (or only) one listed.
    pub may_start: bool,
}

/// Where the node's security came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Insecure,
    Given(String),
    Stored,
    Generated,
}

#[derive(Debug, Clone)]
pub struct Decision {
    pub security: Security,
    pub origin: Origin,
    /// The token an agent was given on this run: held in memory only, so
    /// that it can sign the agent's TLS certificate; never written.
    pub join_token: Option<ClusterToken>,
    /// The TLS files the node holds ([`Stored::tls`]).
    pub kept_tls: Option<KeptTls>,
}

/// The node's security from what was given, what it holds and where it
/// stands. `generate` is called only when a new cluster starts here.
pub fn decide(
    place: &Place,
    given: &Given,
    stored: &Stored,
    generate: impl FnOnce() -> Result<ClusterToken, TokenError>,
) -> Result<Decision, SecurityError> {
    if let Some(insecure) = &given.insecure {
        if let Some((what, fingerprint)) = held_fingerprint(stored) {
            return Err(SecurityError::InsecureOverSecure {
                insecure: insecure.clone(),
                what,
                fingerprint,
            });
        }
        return Ok(Decision {
            security: Security::Insecure,
            origin: Origin::Insecure,
            join_token: None,
            kept_tls: None,
        });
    }
    if let Some(g) = &given.token {
        check_same_cluster(g, stored)?;
        let (security, join_token) = if place.role.is_master() {
            (Security::Cluster(g.token.clone()), None)
        } else {
            (Security::Agent(g.token.agent_key()), Some(g.token.clone()))
        };
        return Ok(Decision {
            security,
            origin: Origin::Given(g.source.clone()),
            join_token,
            kept_tls: None,
        });
    }
    let recorded = stored.recorded.as_ref();
    if place.role.is_master() {
        if let Some(t) = &stored.token {
            return Ok(stored_decision(Security::Cluster(t.clone())));
        }
        if stored.agent_key.is_some() {
            return Err(SecurityError::MasterWithAgentKey {
                role: place.role.name(),
            });
        }
        if let Some(fp) = recorded.and_then(|r| r.token_fingerprint.clone()) {
            return Err(SecurityError::StoredMissing {
                what: "cluster token",
                fingerprint: fp,
                file: TOKEN_FILE,
            });
        }
        if !place.may_start {
            let first = place.masters.first().cloned().unwrap_or_default();
            return Err(SecurityError::JoinerWithoutToken {
                me: place.me.clone(),
                masters: place.masters.join(","),
                first,
            });
        }
        return Ok(Decision {
            security: Security::Cluster(generate()?),
            origin: Origin::Generated,
            join_token: None,
            kept_tls: None,
        });
    }
    if let Some(k) = &stored.agent_key {
        return Ok(stored_decision(Security::Agent(k.clone())));
    }
    if let Some(t) = &stored.token {
        // A former master or standalone node: its agent side needs only
        // the key.
        return Ok(stored_decision(Security::Agent(t.agent_key())));
    }
    if let Some(fp) = recorded.and_then(|r| r.agent_key_fingerprint.clone()) {
        return Err(SecurityError::StoredMissing {
            what: "agent key",
            fingerprint: fp,
            file: AGENT_KEY_FILE,
        });
    }
    Err(SecurityError::AgentWithoutToken)
}

fn stored_decision(security: Security) -> Decision {
    Decision {
        security,
        origin: Origin::Stored,
        join_token: None,
        kept_tls: None,
    }
}

/// The first thing that ties this node to a cluster: a stored token or
/// agent key, else the record's fingerprints.
fn held_fingerprint(stored: &Stored) -> Option<(&'static str, String)> {
    if let Some(t) = &stored.token {
        return Some(("token", t.fingerprint()));
    }
    if let Some(k) = &stored.agent_key {
        return Some(("agent key", k.fingerprint()));
    }
    let r = stored.recorded.as_ref()?;
    r.token_fingerprint
        .clone()
        .map(|f| ("token", f))
        .or_else(|| r.agent_key_fingerprint.clone().map(|f| ("agent key", f)))
}

/// A given token must be the one of the cluster the node already belongs
/// to: its stored token, its stored agent key, or the record's prints.
fn check_same_cluster(g: &GivenToken, stored: &Stored) -> Result<(), SecurityError> {
    let token_fp = g.token.fingerprint();
    let key_fp = g.token.agent_key().fingerprint();
    let recorded = stored.recorded.clone().unwrap_or(Fingerprints {
        mode: String::new(),
        token_fingerprint: None,
        agent_key_fingerprint: None,
    });
    let held = [
        (
            "token",
            stored.token.as_ref().map(|t| t.fingerprint()),
            TOKEN_FILE,
            &token_fp,
        ),
        (
            "agent key",
            stored.agent_key.as_ref().map(|k| k.fingerprint()),
            AGENT_KEY_FILE,
            &key_fp,
        ),
        (
            "token",
            recorded.token_fingerprint,
            crate::setup::record::PATH,
            &token_fp,
        ),
        (
            "agent key",
            recorded.agent_key_fingerprint,
            crate::setup::record::PATH,
            &key_fp,
        ),
    ];
    for (what, held, place, given_fp) in held {
        if let Some(held) = held.filter(|h| h != given_fp) {
            return Err(SecurityError::Mismatch {
                what,
                held,
                place: place.to_owned(),
                given: g.source.clone(),
                other: given_fp.clone(),
            });
        }
    }
    Ok(())
}

/// What a run that generated the token prints once, in text output only:
/// the token and the commands that join the other nodes, in a form that
/// keeps it out of `ps` and shell history (typed into `read`, written with
/// umask 077).
pub fn join_text(token: &ClusterToken, target: &str, other_masters: usize) -> String {
    let file = "/root/mesos-docker.token";
    let write = format!(
        "(umask 077; IFS= read -rs t && printf '%s\\n' \"$t\" > {file})   # paste the token, then Enter"
    );
    let mut text = format!(
        "This run generated the cluster token (fingerprint {}). It is shown this once; `{SHOW_TOKEN}` shows it again on a master. Keep it secret: it opens every master, Marathon and ZooKeeper of the cluster.\n\n    {}\n\n",
        token.fingerprint(),
        token.encode().expose()
    );
    if other_masters > 0 {
        text.push_str(&format!(
            "Set up the other {other_masters} master(s) first, as root on each:\n    {write}\n    mesos-docker setup --role master {target} --token-file {file}\n\n"
        ));
    }
    text.push_str(&format!(
        "Then each agent, as root:\n    {write}\n    mesos-docker setup --role agent {target} --token-file {file}\n\nDelete {file} afterwards: each node keeps what it needs under /etc/mesos-docker/secrets.\n"
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn tok(b: &str) -> ClusterToken {
        ClusterToken::parse(&format!("mdt1_{}", b.repeat(32)), "t").unwrap()
    }
    fn text(b: &str) -> TokenText {
        TokenText::new(format!("mdt1_{}", b.repeat(32)))
    }
    fn place(role: Role, may_start: bool) -> Place {
        Place {
            role,
            me: "m2".into(),
            masters: vec!["m1".into(), "m2".into(), "m3".into()],
            may_start,
        }
    }
    fn offered(b: &str) -> Given {
        Given {
            token: Some(GivenToken {
                token: tok(b),
                source: "--token-file /t".into(),
            }),
            insecure: None,
        }
    }
    fn recorded(token: Option<&str>, key: Option<&str>) -> Option<Fingerprints> {
        Some(Fingerprints {
            mode: "token".into(),
            token_fingerprint: token.map(|b| tok(b).fingerprint()),
            agent_key_fingerprint: key.map(|b| tok(b).agent_key().fingerprint()),
        })
    }
    fn generated() -> Result<ClusterToken, TokenError> {
        Ok(tok("99"))
    }

    #[test]
    fn every_outcome() {
        let none = Given::default();
        let ab = offered("ab");
        let holds_ab = Stored {
            token: Some(tok("ab")),
            ..Default::default()
        };
        let agent_ab = Stored {
            agent_key: Some(tok("ab").agent_key()),
            ..Default::default()
        };
        let insecure = Given {
            token: None,
            insecure: Some("--insecure".into()),
        };
        let cases: Vec<(Place, &Given, Stored, Security, Origin)> = vec![
            (
                place(Role::Master, false),
                &ab,
                Stored::default(),
                Security::Cluster(tok("ab")),
                Origin::Given("--token-file /t".into()),
            ),
            (
                place(Role::Agent, false),
                &ab,
                Stored::default(),
                Security::Agent(tok("ab").agent_key()),
                Origin::Given("--token-file /t".into()),
            ),
            (
                place(Role::Standalone, true),
                &none,
                Stored::default(),
                Security::Cluster(tok("99")),
                Origin::Generated,
            ),
            (
                place(Role::Master, true),
                &none,
                holds_ab.clone(),
                Security::Cluster(tok("ab")),
                Origin::Stored,
            ),
            (
                place(Role::Master, false),
                &none,
                holds_ab.clone(),
                Security::Cluster(tok("ab")),
                Origin::Stored,
            ),
            (
                place(Role::Agent, false),
                &none,
                agent_ab.clone(),
                Security::Agent(tok("ab").agent_key()),
                Origin::Stored,
            ),
            // A former standalone node turned agent keeps only what an
            // agent needs.
            (
                place(Role::Agent, false),
                &none,
                holds_ab.clone(),
                Security::Agent(tok("ab").agent_key()),
                Origin::Stored,
            ),
            // The same token again, on a node that holds it: fine.
            (
                place(Role::Agent, false),
                &ab,
                agent_ab.clone(),
                Security::Agent(tok("ab").agent_key()),
                Origin::Given("--token-file /t".into()),
            ),
            // An open node (recorded insecure) given a token: migration.
            (
                place(Role::Master, false),
                &ab,
                Stored {
                    recorded: Some(Security::Insecure.fingerprints()),
                    ..Default::default()
                },
                Security::Cluster(tok("ab")),
                Origin::Given("--token-file /t".into()),
            ),
            (
                place(Role::Agent, false),
                &insecure,
                Stored::default(),
                Security::Insecure,
                Origin::Insecure,
            ),
        ];
        for (p, g, s, security, origin) in cases {
            let d = decide(&p, g, &s, generated).unwrap();
            assert_eq!(
                (&d.security, &d.origin),
                (&security, &origin),
                "{p:?} {g:?} {s:?}"
            );
        }
    }

    #[test]
    fn every_refusal() {
        let none = Given::default();
        let cases: Vec<(Place, Given, Stored, &str)> = vec![
            (
                place(Role::Agent, false),
                none.clone(),
                Stored::default(),
                "an agent joins a cluster: pass its token with --token-file FILE (or MESOS_DOCKER_TOKEN); `mesos-docker credentials --token` shows it on a master",
            ),
            (
                place(Role::Master, false),
                none.clone(),
                Stored::default(),
                "this master (m2) is not the first of the masters (m1,m2,m3): it joins the cluster that m1 starts",
            ),
            (
                place(Role::Master, true),
                offered("cd"),
                Stored {
                    token: Some(tok("ab")),
                    ..Default::default()
                },
                "A node cannot move between clusters by re-running setup: nothing was changed",
            ),
            (
                place(Role::Agent, false),
                offered("cd"),
                Stored {
                    agent_key: Some(tok("ab").agent_key()),
                    ..Default::default()
                },
                "whose agent key has fingerprint",
            ),
            // The files gone, the record still ties the node to a cluster.
            (
                place(Role::Agent, false),
                offered("cd"),
                Stored {
                    recorded: recorded(Some("ab"), Some("ab")),
                    ..Default::default()
                },
                "(/var/lib/mesos-docker/manifest.json); --token-file /t gives a token of another cluster",
            ),
            (
                place(Role::Master, true),
                none.clone(),
                Stored {
                    recorded: recorded(Some("ab"), Some("ab")),
                    ..Default::default()
                },
                "but /etc/mesos-docker/secrets/token is missing",
            ),
            (
                place(Role::Agent, false),
                none.clone(),
                Stored {
                    recorded: recorded(None, Some("ab")),
                    ..Default::default()
                },
                "but /etc/mesos-docker/secrets/agent.key is missing",
            ),
            (
                place(Role::Master, true),
                none.clone(),
                Stored {
                    agent_key: Some(tok("ab").agent_key()),
                    ..Default::default()
                },
                "it was set up as an agent, and a master needs the cluster token",
            ),
            (
                place(Role::Agent, false),
                Given {
                    token: None,
                    insecure: Some("--insecure".into()),
                },
                Stored {
                    agent_key: Some(tok("ab").agent_key()),
                    ..Default::default()
                },
                "--insecure would open this node, but it belongs to a secured cluster",
            ),
        ];
        for (p, g, s, want) in cases {
            let err = decide(&p, &g, &s, || panic!("nothing is generated here"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{p:?} {g:?}: {err}");
        }
    }

    fn write(dir: &std::path::Path, name: &str, text: &str, mode: u32) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn sources_are_read_checked_and_compared() {
        let dir = tempfile::tempdir().unwrap();
        let ab = write(
            dir.path(),
            "ab",
            &format!("mdt1_{}\n", "ab".repeat(32)),
            0o600,
        );
        let cd = write(
            dir.path(),
            "cd",
            &format!("mdt1_{}", "cd".repeat(32)),
            0o644,
        );
        let bad = write(dir.path(), "bad", "hello\n", 0o600);
        let config = |token: Option<TokenText>, access| ConfigInputs {
            path: "/etc/mesos-docker/setup.toml".into(),
            token,
            token_file: None,
            insecure: false,
            access: Some(access),
        };
        // One source each, and agreeing ones.
        for inputs in [
            Inputs {
                flag_file: Some(ab.clone()),
                ..Default::default()
            },
            Inputs {
                env: Some(text("ab")),
                config: Some(config(Some(text("ab")), (0, 0o100600))),
                ..Default::default()
            },
        ] {
            let (g, w) = given(&inputs).unwrap();
            assert_eq!(g.token.unwrap().token, tok("ab"));
            assert!(w.is_empty(), "{w:?}");
        }
        // --token works, warned about every time.
        let (g, w) = given(&Inputs {
            flag: Some(text("ab")),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(g.token.unwrap().source, "--token");
        assert!(
            w[0].starts_with("--token puts the cluster token in `ps` output"),
            "{w:?}"
        );
        // A token file others can read works, with the fix named.
        let (_, w) = given(&Inputs {
            flag_file: Some(cd.clone()),
            ..Default::default()
        })
        .unwrap();
        assert!(
            w[0].contains("readable by other users (mode 644); `chmod 600"),
            "{w:?}"
        );
        let refusals: Vec<(Inputs, String)> = vec![
            (
                Inputs {
                    flag_file: Some(ab.clone()),
                    env: Some(text("cd")),
                    ..Default::default()
                },
                format!(
                    "--token-file {} and MESOS_DOCKER_TOKEN give two different cluster tokens",
                    ab.display()
                ),
            ),
            (
                Inputs {
                    flag_file: Some(bad.clone()),
                    ..Default::default()
                },
                format!(
                    "--token-file {} does not look like a mesos-docker cluster token",
                    bad.display()
                ),
            ),
            (
                Inputs {
                    env: Some(TokenText::new("mdt1_xyz")),
                    ..Default::default()
                },
                "MESOS_DOCKER_TOKEN does not look like".into(),
            ),
            (
                Inputs {
                    flag_file: Some(dir.path().join("nope")),
                    ..Default::default()
                },
                format!("cannot read --token-file {}", dir.path().join("nope").display()),
            ),
            (
                Inputs {
                    flag_insecure: true,
                    env: Some(text("ab")),
                    ..Default::default()
                },
                "--insecure and MESOS_DOCKER_TOKEN contradict each other".into(),
            ),
            (
                Inputs {
                    config: Some(ConfigInputs {
                        insecure: true,
                        ..config(Some(text("ab")), (0, 0o100600))
                    }),
                    ..Default::default()
                },
                "/etc/mesos-docker/setup.toml insecure = true and /etc/mesos-docker/setup.toml token contradict".into(),
            ),
            (
                Inputs {
                    config: Some(config(Some(text("ab")), (0, 0o100644))),
                    ..Default::default()
                },
                "/etc/mesos-docker/setup.toml holds the cluster token (`token = …`) but is open to group or others (mode 644, group/others bits 44): a token there must be readable by root alone. Run `chown root:root /etc/mesos-docker/setup.toml && chmod 600 /etc/mesos-docker/setup.toml`".into(),
            ),
            (
                Inputs {
                    config: Some(config(Some(text("ab")), (1000, 0o100600))),
                    ..Default::default()
                },
                "is owned by uid 1000, not root".into(),
            ),
        ];
        for (inputs, want) in refusals {
            let err = given(&inputs).unwrap_err();
            let chain = crate::error_chain(&err);
            assert!(chain.contains(&want), "{inputs:?}: {chain}");
            assert!(!chain.contains(&"ab".repeat(32)) && !chain.contains(&"cd".repeat(32)));
        }
        // A bare setup.toml `insecure = true` is the flag's switch.
        let (g, _) = given(&Inputs {
            config: Some(ConfigInputs {
                insecure: true,
                ..config(None, (0, 0o100644))
            }),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            g.insecure.unwrap(),
            "/etc/mesos-docker/setup.toml insecure = true"
        );
    }

    #[test]
    fn stored_files_are_read_under_the_root_and_bad_ones_refused() {
        let dir = tempfile::tempdir().unwrap();
        let sys = System::new(
            dir.path(),
            Box::new(crate::setup::host::testkit::RecordingRunner::new()),
        );
        let s = stored(&sys, None).unwrap();
        assert!(s.token.is_none() && s.agent_key.is_none());
        let secrets = dir.path().join("etc/mesos-docker/secrets");
        std::fs::create_dir_all(&secrets).unwrap();
        std::fs::write(
            secrets.join("agent.key"),
            tok("ab").agent_key().encode().expose(),
        )
        .unwrap();
        assert_eq!(
            stored(&sys, None).unwrap().agent_key,
            Some(tok("ab").agent_key())
        );
        std::fs::write(secrets.join("token"), "garbage\n").unwrap();
        let err = stored(&sys, None).unwrap_err().to_string();
        assert!(
            err.contains("etc/mesos-docker/secrets/token does not look like"),
            "{err}"
        );
    }

    #[test]
    fn the_join_text_names_the_commands_and_keeps_the_token_out_of_argv() {
        let t = tok("ab");
        let text = join_text(&t, "--masters m1,m2,m3", 2);
        assert!(text.contains(t.encode().expose()));
        assert!(text.contains("mesos-docker setup --role master --masters m1,m2,m3 --token-file /root/mesos-docker.token"));
        assert!(text.contains("mesos-docker setup --role agent --masters m1,m2,m3 --token-file /root/mesos-docker.token"));
        // The token appears once: in no command line.
        assert_eq!(text.matches(t.encode().expose()).count(), 1);
        assert!(!join_text(&t, "--masters m1", 0).contains("--role master"));
    }
}
