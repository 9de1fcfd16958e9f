//! The scan of a secured node for its secrets (issue 12: "no secret in any
//! log, journal line, world-readable file, dry-run diff, JSON report, unit
//! file, or process argument list"). Every secret is derived here with the
//! crate's own token API from the key the node keeps, so a secret that leaks
//! under any purpose is found, whatever form setup wrote it in.
//!
//! ```ignore
//! let secrets = Secrets::of_node(&node);        // from secrets/token or agent.key
//! secrets.assert_absent("setup's report", &run.stdout);
//! secret_scan::assert_node_clean(&node, &secrets);
//! ```

use mesos_docker::setup::input::token::{AgentKey, AgentPurpose, ClusterToken, MasterPurpose};

use super::systemd::Node;

pub const SECRETS_DIR: &str = "/etc/mesos-docker/secrets";

/// Every secret one node could leak, each with the name the failure shows
/// (never its value).
pub struct Secrets {
    named: Vec<(String, String)>,
}

fn hex_of(text: &str) -> String {
    text.split_once('_')
        .map_or(text, |(_, h)| h)
        .trim()
        .to_owned()
}

impl Secrets {
    /// From the cluster token's text: the token (text and bare hex), every
    /// master purpose's secret, the agent key and every agent purpose's.
    pub fn of_token(text: &str) -> Secrets {
        let token = ClusterToken::parse(text, "the node's token").expect("a cluster token");
        let mut named = vec![
            ("the cluster token".to_owned(), text.trim().to_owned()),
            ("the cluster token's hex".to_owned(), hex_of(text)),
        ];
        for purpose in [
            MasterPurpose::MarathonFramework,
            MasterPurpose::MasterHttp,
            MasterPurpose::MarathonHttp,
            MasterPurpose::ZkMesos,
            MasterPurpose::ZkMarathon,
            MasterPurpose::TlsCa,
        ] {
            named.push((
                format!("{purpose:?}'s secret"),
                token.secret(purpose).expose().to_owned(),
            ));
        }
        let mut all = Secrets { named };
        all.named
            .extend(Secrets::of_agent_key(token.agent_key().encode().expose()).named);
        all
    }

    /// What only masters may hold: the token (text and bare hex) and the
    /// master purposes' secrets, not the agent key nor what derives from it.
    pub fn masters_only(text: &str) -> Secrets {
        let mut all = Secrets::of_token(text);
        all.named.truncate(8);
        all
    }

    /// From the agent key's text: the key (text and bare hex) and every
    /// agent purpose's secret.
    pub fn of_agent_key(text: &str) -> Secrets {
        let key = AgentKey::parse(text, "the node's agent key").expect("an agent key");
        let mut named = vec![
            ("the agent key".to_owned(), text.trim().to_owned()),
            ("the agent key's hex".to_owned(), hex_of(text)),
        ];
        for purpose in [
            AgentPurpose::Registration,
            AgentPurpose::AgentHttp,
            AgentPurpose::ExecutorKey,
        ] {
            named.push((
                format!("{purpose:?}'s secret"),
                key.secret(purpose).expose().to_owned(),
            ));
        }
        Secrets { named }
    }

    /// What the node keeps: its token, else its agent key; and its TLS
    /// key, where setup wrote one.
    pub fn of_node(node: &Node) -> Secrets {
        let token = node.sh(&format!("cat {SECRETS_DIR}/token 2>/dev/null"));
        let mut all = if !token.trim().is_empty() {
            Secrets::of_token(&token)
        } else {
            let key = node.sh_ok(&format!("cat {SECRETS_DIR}/agent.key"));
            Secrets::of_agent_key(&key)
        };
        all.add_tls_key(node);
        all
    }

    /// The node's TLS private key (`secrets/tls-node.key`), when there is
    /// one: each line of its PEM body, a leak of any part being a leak.
    pub fn add_tls_key(&mut self, node: &Node) {
        let pem = node.sh(&format!("cat {SECRETS_DIR}/tls-node.key 2>/dev/null"));
        let body = pem
            .lines()
            .filter(|l| !l.starts_with("-----") && l.len() >= 16);
        for (i, line) in body.enumerate() {
            self.named.push((
                format!("line {} of the node's TLS key", i + 1),
                line.to_owned(),
            ));
        }
    }

    /// The names of the secrets `text` holds.
    pub fn found_in(&self, text: &str) -> Vec<&str> {
        self.named
            .iter()
            .filter(|(_, s)| text.contains(s.as_str()))
            .map(|(n, _)| n.as_str())
            .collect()
    }

    /// Panics, naming the secrets (not their values) and `what`, when
    /// `text` holds any.
    pub fn assert_absent(&self, what: &str, text: &str) {
        let found = self.found_in(text);
        assert!(found.is_empty(), "{what} holds {found:?}");
    }

    /// One secret a line, for `grep -F -f`.
    fn patterns(&self) -> String {
        self.named.iter().map(|(_, s)| format!("{s}\n")).collect()
    }
}

/// Where the patterns go in the node while a scan runs: root's home, 0600,
/// outside every tree scanned, removed afterwards.
const PATTERNS: &str = "/root/.mesos-docker-scan-patterns";

/// The files under `trees` (a shell word list) holding any of `secrets`,
/// found by grep in the node; `select` is find's expression before
/// `-type f` (a prune, or nothing) and `filter` after it (e.g. `-perm
/// -o+r`).
pub fn files_holding(
    node: &Node,
    secrets: &Secrets,
    trees: &str,
    select: &str,
    filter: &str,
) -> Vec<String> {
    let wrote = node.exec_with_input(
        &["sh", "-c", &format!("umask 077 && cat > {PATTERNS}")],
        secrets.patterns().as_bytes(),
    );
    assert!(wrote.status.success(), "{}: {wrote:?}", node.name);
    let out = node.sh(&format!(
        "find {trees} -xdev {select} -type f ! -path {PATTERNS} {filter} -print0 2>/dev/null \
         | xargs -0 -r grep -l -s -F -f {PATTERNS}; rm -f {PATTERNS}"
    ));
    out.lines().map(str::to_owned).collect()
}

/// The files under `trees` that an unprivileged user (nobody) can read and
/// that hold any of `secrets`: found by grep run as nobody, so a file
/// readable by others under a directory they cannot enter is not counted,
/// and one they reach is, whatever its mode bits say.
pub fn readable_by_nobody(node: &Node, secrets: &Secrets, trees: &str) -> Vec<String> {
    // nobody's own 0700 directory outside the trees, for the patterns.
    let dir = node
        .sh_ok("d=$(mktemp -d /var/tmp/scan.XXXXXX) && chown nobody:nogroup \"$d\" && echo \"$d\"")
        .trim()
        .to_owned();
    let wrote = node.exec_with_input(
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "sh",
            "-c",
            &format!("umask 077 && cat > {dir}/patterns"),
        ],
        secrets.patterns().as_bytes(),
    );
    assert!(wrote.status.success(), "{}: {wrote:?}", node.name);
    let out = node.sh(&format!(
        "setpriv --reuid=65534 --regid=65534 --clear-groups sh -c \
           'find {trees} {dir} -xdev -type f -readable -print0 2>/dev/null \
            | xargs -0 -r grep -l -s -F -f {dir}/patterns'; rm -rf {dir}"
    ));
    // The patterns file holds them all: found, or the scan sees nothing.
    let control = format!("{dir}/patterns");
    assert!(
        out.lines().any(|l| l == control),
        "{}: the scan as nobody did not even find {control}: {out}",
        node.name
    );
    out.lines()
        .filter(|l| *l != control)
        .map(str::to_owned)
        .collect()
}

/// The whole scan of a secured node:
/// - the secrets directory is 0700 root and every file in it 0600 root;
/// - no file under /etc/mesos-docker outside secrets/, /etc/mesos*,
///   /etc/default, the unit directories, /var/log/mesos or
///   /var/lib/mesos-docker (the manifest) holds a secret;
/// - no file under /etc, /var/lib, /var/log, /run or /tmp that an
///   unprivileged user can read holds one;
/// - neither the whole journal nor any process's argument list (the
///   stand-ins', Docker's and its containers' included) shows one.
pub fn assert_node_clean(node: &Node, secrets: &Secrets) {
    assert_secret_modes(node);
    // The grep finds what is there: the secret files themselves.
    let kept = files_holding(node, secrets, SECRETS_DIR, "", "");
    assert!(
        !kept.is_empty(),
        "{}: the scan finds no secret even in {SECRETS_DIR}",
        node.name
    );
    let named = files_holding(
        node,
        secrets,
        "/etc/mesos* /etc/default /etc/systemd/system /lib/systemd/system /var/log/mesos \
         /var/lib/mesos-docker",
        &format!("-path {SECRETS_DIR} -prune -o"),
        "",
    );
    let world = readable_by_nobody(node, secrets, "/etc /var/lib /var/log /run /tmp");
    assert!(
        named.is_empty(),
        "{}: files setup writes or the services log to hold a secret: {named:?}",
        node.name
    );
    assert!(
        world.is_empty(),
        "{}: files any user can read hold a secret: {world:?}",
        node.name
    );
    let journal = node.sh_ok("journalctl -o cat --no-pager 2>&1");
    secrets.assert_absent(&format!("{}: the journal", node.name), &journal);
    // What `ps -eo args` shows, read where ps reads it (minbase has no
    // procps): every process of the node, those in Docker's containers too
    // (their PID namespaces are nested in the node's).
    let args = node
        .sh_ok("for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < \"$f\" 2>/dev/null; echo; done");
    assert!(
        args.lines().filter(|l| !l.trim().is_empty()).count() > 5,
        "{}: too few processes read: {args}",
        node.name
    );
    secrets.assert_absent(&format!("{}: the processes' arguments", node.name), &args);
}

/// The secrets directory is 0700 root:root and each file in it 0600
/// root:root.
pub fn assert_secret_modes(node: &Node) {
    let listing = node.sh_ok(&format!(
        "stat -c '%a %U:%G %F %n' {SECRETS_DIR} {SECRETS_DIR}/*"
    ));
    let mut lines = listing.lines();
    assert_eq!(
        lines.next(),
        Some(format!("700 root:root directory {SECRETS_DIR}").as_str()),
        "{}: {listing}",
        node.name
    );
    let mut files = 0;
    for line in lines {
        assert!(
            line.starts_with("600 root:root regular file "),
            "{}: {line}\n{listing}",
            node.name
        );
        files += 1;
    }
    assert!(files > 0, "{}: no secret files: {listing}", node.name);
}
