//! What the operator asked for: flags, then /etc/mesos-docker/setup.toml
//! (flags win), then prompts for what is still missing. Everything is checked
//! here, before anything is planned or written, so that bad input is refused
//! with a message naming the flag and nothing on the host has changed.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::setup::host::facts::{Facts, Init};
// Re-exported while the plan, the record and the reports still name them
// here; they belong to the model, which imports no stage.
use crate::setup::input::model::{Ensemble, OutputFormat, Role};
use crate::setup::sources::resolve::Given;
use crate::setup::sources::{self, Component, SourceError, Sources};

/// The preflight checks `--ignore-preflight` (and `ignore-preflight` in
/// setup.toml) may name; `all` skips every one.
pub const PREFLIGHT_CHECKS: [&str; 9] = [
    "all", "root", "os", "arch", "ports", "hostname", "memory", "disk", "docker",
];

/// `mesos-docker setup`: the options that are also keys of setup.toml, and
/// those that only make sense on a command line or come from elsewhere.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SetupArgs {
    /// The node policy flags, which are setup.toml's `[policy]` table.
    /// First, so that their section comes before "Package sources".
    #[command(flatten)]
    pub policy: crate::setup::input::node_policy::PolicyConfig,
    /// Each flag here is also a key of setup.toml, defined once.
    #[command(flatten)]
    pub settings: FileConfig,
    /// An extra Mesos master flag, written as MESOS_NAME into master.env (repeatable; wins over [master.flags] in setup.toml). Checked against `mesos-master --help`.
    #[arg(long, value_name = "NAME=VALUE")]
    pub master_flag: Vec<String>,
    /// An extra Mesos agent flag, written as MESOS_NAME into agent.env (repeatable; wins over [agent.flags] in setup.toml). Checked against `mesos-agent --help`.
    #[arg(long, value_name = "NAME=VALUE")]
    pub agent_flag: Vec<String>,
    /// The binary to install at --binary; the running one when unset. Not a
    /// flag: library callers (tests, benchmarks) name a small one.
    #[arg(skip)]
    pub executor_source: Option<PathBuf>,
    /// The cluster token on the command line: visible in `ps` and shell history (warned on every use); prefer --token-file or MESOS_DOCKER_TOKEN.
    #[arg(long, value_name = "TOKEN", help_heading = "Security")]
    pub token: Option<crate::setup::input::security::TokenText>,
    /// MESOS_DOCKER_TOKEN of setup's environment (read by `main`).
    #[arg(skip)]
    pub env_token: Option<crate::setup::input::security::TokenText>,
    /// HTTP(S)_PROXY and NO_PROXY of setup's environment (read by `main`).
    #[arg(skip)]
    pub proxy: crate::setup::input::proxy::Proxy,
    /// Configure the system under DIR instead of /; units are enabled there offline (systemctl --root), nothing is started.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// The configuration file (default: /etc/mesos-docker/setup.toml under --root).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Show what would change, with diffs, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Never prompt: a missing role is standalone, any other missing choice an error naming its flag.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Report format: a line per resource, or one JSON document.
    #[arg(long, value_enum, default_value_t)]
    pub output: OutputFormat,
    /// `--*-source`: the `[sources]` table's own fields.
    #[command(flatten)]
    pub sources: FileSources,
}

/// `[sources]` in setup.toml and the `--*-source` flags: a SPEC per
/// component, defined once for both (the flag wins).
#[derive(Debug, Clone, Default, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
#[group(skip)]
pub struct FileSources {
    /// Where ZooKeeper comes from: distro (zookeeperd, the default) or a deb:/apt: SPEC.
    #[arg(
        long = "zookeeper-source",
        id = "zookeeper_source",
        value_name = "SPEC",
        help_heading = "Package sources",
        display_order = 4
    )]
    pub zookeeper: Option<String>,
    /// Where Docker comes from on a host without one: distro (docker.io, the default), docker-ce, or a SPEC.
    #[arg(
        long = "docker-source",
        id = "docker_source",
        value_name = "SPEC",
        help_heading = "Package sources",
        display_order = 3
    )]
    pub docker: Option<String>,
    /// Where Mesos comes from: a catalog id or a SPEC (deb:, tgz:, docker:, docker-archive:, apt:; see README "Package sources"). Needed where Mesos is not installed.
    #[arg(
        long = "mesos-source",
        id = "mesos_source",
        value_name = "SPEC",
        help_heading = "Package sources",
        display_order = 1
    )]
    pub mesos: Option<String>,
    /// Where Marathon comes from (default: the catalog's image, unverified until pinned).
    #[arg(
        long = "marathon-source",
        id = "marathon_source",
        value_name = "SPEC",
        help_heading = "Package sources",
        display_order = 2
    )]
    pub marathon: Option<String>,
}

/// /etc/mesos-docker/setup.toml, and the flags of the same name: each
/// option is one field here, read by clap from the command line (flags
/// that are not given stay `None`) and by serde from the file; [`merge`]
/// lays the first over the second. Tables exist only in the file.
/// Switches are `Option<bool>` that a bare flag sets, so an absent flag
/// leaves the file's value alone.
#[derive(Debug, Clone, Default, Deserialize, clap::Args)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[group(skip)]
pub struct FileConfig {
    /// What this node runs: master (ZooKeeper, Mesos master, Marathon), agent (alias slave), or standalone (both). Without it and with nobody to ask (no terminal, or --yes): standalone.
    #[arg(long, value_enum)]
    pub role: Option<Role>,
    /// The master hosts, comma-separated; they form the ZooKeeper ensemble (use an odd count).
    #[arg(long, value_delimiter = ',', value_name = "HOST,...")]
    pub masters: Option<Vec<String>>,
    /// An external ZooKeeper ensemble instead of one on the masters: zk://h1:2181,h2:2181/mesos.
    #[arg(long, value_name = "URL")]
    pub zk: Option<String>,
    /// The name other nodes reach this one by (default: the host name).
    #[arg(long)]
    pub hostname: Option<String>,
    /// The address Mesos binds and advertises.
    #[arg(long)]
    pub ip: Option<IpAddr>,
    /// The cluster's name, shown in the Mesos UI.
    #[arg(long, value_name = "NAME")]
    pub cluster_name: Option<String>,
    /// Where Mesos keeps its state (default /var/lib/mesos).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<String>,
    /// Agent attributes, Mesos syntax: rack:r1;zone:z2.
    #[arg(long, value_name = "NAME:VALUE;...")]
    pub attributes: Option<String>,
    /// Agent resources, Mesos syntax: cpus:4;mem:8192;ports:[31000-32000].
    #[arg(long, value_name = "NAME:VALUE;...")]
    pub resources: Option<String>,
    /// Agent containerizers (default mesos; the Docker executor runs under it).
    #[arg(long, value_name = "LIST")]
    pub containerizers: Option<String>,
    /// How long the agent waits for an executor to register; covers an image pull.
    #[arg(long, value_name = "DURATION")]
    pub executor_registration_timeout: Option<String>,
    // In setup.toml `marathon = false`, or the flag's spelling below.
    /// Do not run Marathon on the masters.
    #[arg(long = "no-marathon", num_args = 0, default_missing_value = "false")]
    pub marathon: Option<bool>,
    /// `no-marathon = true` in the file: the flag's spelling of
    /// `marathon = false` (see [`read_config`]).
    #[arg(skip)]
    pub no_marathon: Option<bool>,
    /// Where the mesos-docker binary is installed: the executor link and the reaper point at it.
    #[arg(long, value_name = "PATH")]
    pub binary: Option<String>,
    /// Override the detected init system.
    #[arg(long, value_enum)]
    pub init: Option<Init>,
    /// Treat the host as this release (ID:VERSION, e.g. debian:12) instead of reading /etc/os-release.
    #[arg(long, value_name = "ID:VERSION")]
    pub os: Option<String>,
    /// How long to wait for another package manager (apt, unattended-upgrades) to release dpkg's lock, in seconds [default: 300].
    #[arg(long, env = "MESOS_DOCKER_DPKG_LOCK_WAIT", value_name = "SECS")]
    pub dpkg_lock_wait: Option<u64>,
    /// Allow changes that can split a running cluster (ZooKeeper ensemble, myid, quorum).
    #[arg(long, num_args = 0, default_missing_value = "true")]
    pub force: Option<bool>,
    /// Skip a preflight check by name (root, os, arch, ports, hostname, memory, disk, docker) or all.
    #[arg(long, value_name = "NAME", value_delimiter = ',',
          value_parser = clap::builder::PossibleValuesParser::new(PREFLIGHT_CHECKS))]
    #[serde(default, deserialize_with = "preflight_names")]
    pub ignore_preflight: Option<Vec<String>>,
    /// Fetch every http(s) URL of every source as URL/<host>/<path> instead; pins still apply.
    #[arg(
        long,
        value_name = "URL",
        help_heading = "Package sources",
        display_order = 1000
    )]
    pub mirror: Option<String>,
    /// Also trust this PEM CA bundle for setup's own downloads (a site mirror's CA).
    #[arg(
        long,
        value_name = "FILE",
        help_heading = "Package sources",
        display_order = 1001
    )]
    pub mirror_ca: Option<PathBuf>,
    /// Install sources without a pin (sha256, image digest, key fingerprint), with a warning.
    #[arg(
        long,
        num_args = 0,
        default_missing_value = "true",
        help_heading = "Package sources",
        display_order = 1002
    )]
    #[serde(alias = "allow_unverified")]
    pub allow_unverified: Option<bool>,
    /// Refuse every source without a pin, instead of trusting the catalog's unpinned ones (AVENTER's key, Marathon's image) on first use.
    #[arg(
        long,
        num_args = 0,
        default_missing_value = "true",
        help_heading = "Package sources",
        display_order = 1003
    )]
    pub require_pinned: Option<bool>,
    /// A file holding the cluster token that `mesos-docker setup` printed on the first master; keeps it out of `ps` and shell history. In setup.toml: an absolute path.
    #[arg(long, value_name = "FILE", help_heading = "Security")]
    pub token_file: Option<PathBuf>,
    /// An open node, as before tokens: no authentication on any endpoint (warned on every run).
    #[arg(
        long,
        num_args = 0,
        default_missing_value = "true",
        help_heading = "Security"
    )]
    pub insecure: Option<bool>,
    /// `token = "mdt1_…"`: accepted only from a setup.toml that root owns
    /// and nobody else can read (see [`read_config`]).
    #[arg(skip)]
    pub token: Option<crate::setup::input::security::TokenText>,
    /// The file's owner and mode, for the `token` key's check.
    #[serde(skip)]
    #[arg(skip)]
    pub access: Option<(u32, u32)>,
    #[arg(skip)]
    pub sources: Option<FileSources>,
    /// Pins of catalog sources that publish none, by catalog id: written
    /// by setup when it trusts one on first use, copied by operators.
    #[arg(skip)]
    pub pins: Option<std::collections::BTreeMap<String, String>>,
    /// Where the file was read from, for messages.
    #[serde(skip)]
    #[arg(skip)]
    pub path: Option<String>,
    #[arg(skip)]
    pub policy: Option<crate::setup::input::node_policy::PolicyConfig>,
    /// `[master.flags]`: extra Mesos master flags.
    #[arg(skip)]
    pub master: Option<crate::setup::input::flags::FileFlags>,
    /// `[agent.flags]`: extra Mesos agent flags.
    #[arg(skip)]
    pub agent: Option<crate::setup::input::flags::FileFlags>,
}

/// `ignore-preflight` in setup.toml: the names the flag accepts, refused
/// otherwise with the key and line (serde's error carries them).
fn preflight_names<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<String>>, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    if let Some(bad) = names
        .iter()
        .find(|n| !PREFLIGHT_CHECKS.contains(&n.as_str()))
    {
        return Err(serde::de::Error::custom(format!(
            "unknown preflight check {bad:?}: expected a list of {}",
            PREFLIGHT_CHECKS.join(", ")
        )));
    }
    Ok(Some(names))
}

/// The command line over the file, key by key: a flag that was given wins,
/// the file fills the rest; the tables exist only in the file. Every field
/// is named, so a new option cannot be left out of the merge.
pub fn merge(flags: &FileConfig, file: FileConfig) -> FileConfig {
    let FileConfig {
        role,
        masters,
        zk,
        hostname,
        ip,
        cluster_name,
        work_dir,
        attributes,
        resources,
        containerizers,
        executor_registration_timeout,
        marathon,
        no_marathon: _,
        binary,
        init,
        os,
        dpkg_lock_wait,
        force,
        ignore_preflight,
        mirror,
        mirror_ca,
        allow_unverified,
        require_pinned,
        token_file,
        insecure,
        token: _,
        access: _,
        sources: _,
        pins: _,
        path: _,
        policy: _,
        master: _,
        agent: _,
    } = flags.clone();
    FileConfig {
        role: role.or(file.role),
        // An empty list (`--masters ''`) is as good as none.
        masters: masters.filter(|m| !m.is_empty()).or(file.masters),
        zk: zk.or(file.zk),
        hostname: hostname.or(file.hostname),
        ip: ip.or(file.ip),
        cluster_name: cluster_name.or(file.cluster_name),
        work_dir: work_dir.or(file.work_dir),
        attributes: attributes.or(file.attributes),
        resources: resources.or(file.resources),
        containerizers: containerizers.or(file.containerizers),
        executor_registration_timeout: executor_registration_timeout
            .or(file.executor_registration_timeout),
        marathon: marathon.or(file.marathon),
        no_marathon: None,
        binary: binary.or(file.binary),
        init: init.or(file.init),
        os: os.or(file.os),
        dpkg_lock_wait: dpkg_lock_wait.or(file.dpkg_lock_wait),
        force: force.or(file.force),
        ignore_preflight: ignore_preflight
            .filter(|i| !i.is_empty())
            .or(file.ignore_preflight),
        mirror: mirror.or(file.mirror),
        mirror_ca: mirror_ca.or(file.mirror_ca),
        allow_unverified: allow_unverified.or(file.allow_unverified),
        require_pinned: require_pinned.or(file.require_pinned),
        token_file: token_file.or(file.token_file),
        insecure: insecure.or(file.insecure),
        token: file.token,
        access: file.access,
        sources: file.sources,
        pins: file.pins,
        path: file.path,
        policy: file.policy,
        master: file.master,
        agent: file.agent,
    }
}

/// Everything the plan needs, checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Options {
    pub role: Role,
    /// No role was given and nobody could be asked: standalone was chosen.
    pub role_defaulted: bool,
    /// The ZooKeeper hosts, `h1:2181,h2:2181`.
    pub zk_hosts: String,
    /// Set when this host runs a member of a local ensemble.
    pub ensemble: Option<Ensemble>,
    /// Number of masters, for the Mesos replicated log's quorum.
    pub masters: usize,
    pub hostname: String,
    pub ip: Option<IpAddr>,
    pub cluster_name: String,
    pub work_dir: String,
    pub attributes: Option<String>,
    pub resources: Option<String>,
    pub containerizers: String,
    pub executor_registration_timeout: String,
    pub marathon: bool,
    /// Where the mesos-docker binary is installed; the executor links to it.
    pub binary: String,
    /// Where each component comes from.
    pub sources: Sources,
    /// An extra CA bundle for setup's downloads.
    pub mirror_ca: Option<PathBuf>,
    /// The binary setup installs there (agents): the running one.
    pub executor_source: Option<String>,
    /// /etc/mesos-docker/policy.toml, when any policy was asked for.
    pub policy: Option<crate::setup::input::node_policy::NodePolicy>,
    pub proxy: crate::setup::input::proxy::Proxy,
    /// Mesos flags setup does not know, per daemon.
    pub flags: crate::setup::input::flags::ExtraFlags,
    /// The cluster token or agent key every credential derives from, or
    /// `--insecure`.
    pub security: crate::setup::input::token::Security,
    /// An agent's token given on this run, in memory only: it signs the
    /// agent's TLS certificate (plan::tls).
    #[serde(skip)]
    pub join_token: Option<crate::setup::input::token::ClusterToken>,
    /// The TLS files the node holds, for an agent re-run without the token.
    #[serde(skip)]
    pub kept_tls: Option<crate::setup::input::token::KeptTls>,
}

impl Options {
    /// The master hosts: the ensemble's, else the ZooKeeper hosts' (an
    /// external ensemble, an agent).
    pub fn master_hosts(&self) -> Vec<String> {
        match &self.ensemble {
            Some(e) => e.servers.clone(),
            None => self
                .zk_hosts
                .split(',')
                .filter_map(|hp| hp.rsplit_once(':').map(|(h, _)| h.to_owned()))
                .collect(),
        }
    }

    /// Where this node stands for its token: only a standalone node or the
    /// first master listed starts a cluster (with an external ZooKeeper
    /// nothing tells the masters apart; the joining check on real runs
    /// catches a second cluster there).
    pub fn place(&self) -> crate::setup::input::security::Place {
        crate::setup::input::security::Place {
            role: self.role,
            me: self.hostname.clone(),
            masters: self.master_hosts(),
            may_start: self.ensemble.as_ref().is_none_or(|e| e.myid == 1),
        }
    }

    pub fn quorum(&self) -> usize {
        self.masters / 2 + 1
    }
    pub fn zk_url(&self, path: &str) -> String {
        format!("zk://{}/{path}", self.zk_hosts)
    }
}

pub const BINARY: &str = "/usr/local/bin/mesos-docker";
pub const CONFIG: &str = "/etc/mesos-docker/setup.toml";

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum OptionsError {
    #[error("cannot read the configuration file {path}: {reason}")]
    ConfigUnreadable { path: String, reason: String },
    #[error("the configuration file {path} is not valid: {reason}")]
    ConfigInvalid { path: String, reason: String },
    #[error("no role chosen: pass --role master, --role agent or --role standalone")]
    NoRole,
    #[error(
        "an agent needs to know its masters: pass --masters h1,h2,h3 (the master hosts) or --zk zk://h1:2181/mesos"
    )]
    NoMasters,
    #[error("{flag}: {problem}")]
    Invalid { flag: &'static str, problem: String },
    #[error(
        "this host ({me}) is not in --masters {masters}; a master must be one of them. Pass --hostname (or --ip) as this host appears in --masters, or add it to the list"
    )]
    NotInMasters { me: String, masters: String },
    #[error(
        "no host name: none could be read from the host; pass --hostname NAME (the name other nodes reach this one by)"
    )]
    NoHostname,
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Policy(#[from] crate::setup::input::node_policy::PolicyError),
    #[error(transparent)]
    Proxy(#[from] crate::setup::input::proxy::ProxyError),
    #[error("{0}")]
    Flags(String),
}

fn invalid(flag: &'static str, problem: impl Into<String>) -> OptionsError {
    OptionsError::Invalid {
        flag,
        problem: problem.into(),
    }
}

/// Reads the configuration file: the one named by --config (which must exist),
/// or the default one under the root (which may be absent).
pub fn read_config(root: &Path, explicit: Option<&Path>) -> Result<FileConfig, OptionsError> {
    let (path, required) = match explicit {
        Some(p) => (p.to_path_buf(), true),
        None => (root.join(CONFIG.trim_start_matches('/')), false),
    };
    let opened = std::fs::File::open(&path).and_then(|mut f| {
        use std::io::Read;
        use std::os::unix::fs::MetadataExt;
        // The owner and mode of the file read, not of whatever the path
        // names a moment later.
        let meta = f.metadata()?;
        let mut text = String::new();
        f.read_to_string(&mut text)?;
        Ok((text, (meta.uid(), meta.mode())))
    });
    let (text, access) = match opened {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
            return Ok(FileConfig::default());
        }
        Err(e) => {
            return Err(OptionsError::ConfigUnreadable {
                path: path.display().to_string(),
                reason: e.to_string(),
            });
        }
    };
    let mut file: FileConfig = toml::from_str(&text).map_err(|e| OptionsError::ConfigInvalid {
        path: path.display().to_string(),
        reason: e.to_string().trim().replace('\n', " "),
    })?;
    let invalid_file = |reason: String| OptionsError::ConfigInvalid {
        path: path.display().to_string(),
        reason,
    };
    // The flag's spelling, `no-marathon = true`, is the same switch as
    // `marathon = false`; both at once must agree.
    if let Some(no) = file.no_marathon.take() {
        match file.marathon {
            Some(m) if m == no => {
                return Err(invalid_file(format!(
                    "marathon = {m} and no-marathon = {no} contradict each other; keep one of the two keys"
                )));
            }
            _ => file.marathon = Some(!no),
        }
    }
    // A relative path would depend on the directory setup runs from.
    if let Some(ca) = file.mirror_ca.as_ref().filter(|ca| ca.is_relative()) {
        return Err(invalid_file(format!(
            "mirror-ca = {:?} is not an absolute path; write e.g. mirror-ca = \"/etc/ssl/mirror-ca.pem\"",
            ca.display().to_string()
        )));
    }
    if let Some(t) = file.token_file.as_ref().filter(|t| t.is_relative()) {
        return Err(invalid_file(format!(
            "token-file = {:?} is not an absolute path; write e.g. token-file = \"/root/mesos-docker.token\"",
            t.display().to_string()
        )));
    }
    file.access = Some(access);
    file.path = Some(path.display().to_string());
    Ok(file)
}

/// The token sources of the command line, the environment and setup.toml,
/// each kept apart so a refusal can name it.
pub fn token_inputs(args: &SetupArgs, file: &FileConfig) -> crate::setup::input::security::Inputs {
    use crate::setup::input::security::{ConfigInputs, Inputs};
    Inputs {
        flag: args.token.clone(),
        flag_file: args.settings.token_file.clone(),
        env: args.env_token.clone(),
        flag_insecure: args.settings.insecure == Some(true),
        config: file.path.clone().map(|path| ConfigInputs {
            path,
            token: file.token.clone(),
            token_file: file.token_file.clone(),
            insecure: file.insecure == Some(true),
            access: file.access,
        }),
    }
}

/// Asks for a missing choice; returns `None` when nobody can answer.
pub trait Prompter {
    fn role(&self) -> Option<Role>;
    fn masters(&self) -> Option<String>;
}

/// Merges flags over the file, fills gaps from the prompter and the host's
/// facts, and checks everything. Warnings are returned, not printed.
pub fn resolve(
    args: &SetupArgs,
    file: FileConfig,
    facts: &Facts,
    prompter: Option<&dyn Prompter>,
) -> Result<(Options, Vec<String>), OptionsError> {
    let mut warnings = Vec::new();
    let mut file = merge(&args.settings, file);
    let tables = FlagTables {
        master: file.master.take(),
        agent: file.agent.take(),
        path: file.path.clone().unwrap_or_else(|| CONFIG.to_owned()),
    };
    let (role, role_defaulted) = choose_role(&file, prompter)?;
    let hostname = match file.hostname.clone() {
        Some(h) => h,
        None if !facts.hostname.is_empty() => facts.hostname.clone(),
        None => return Err(OptionsError::NoHostname),
    };
    check_host("--hostname", &hostname)?;
    let ip = file.ip;
    let zk = file.zk.clone();
    let masters = choose_masters(&file, &zk, role, &hostname, prompter, &mut warnings)?;
    let (zk_hosts, ensemble) = zookeeper(&zk, &masters, role, &hostname, ip, facts)?;
    let master_count = if masters.is_empty() {
        // An external ensemble says nothing about the Mesos masters; one
        // master per ZooKeeper host is the usual layout.
        zk_hosts.split(',').count()
    } else {
        masters.len()
    };
    let mesos = mesos_settings(&file, role, &mut warnings)?;
    let policy = node_policy(args, &file, role, &mut warnings)?;
    args.proxy.check()?;
    let marathon = file.marathon.unwrap_or(true);
    let file_mirror_ca = file.mirror_ca.clone();
    let (sources, source_warnings) =
        choose_sources(args, file, role, marathon, ensemble.is_some(), facts)?;
    warnings.extend(source_warnings);
    let flags = extra_flags(args, &tables, role, facts, &sources, &mut warnings)?;
    Ok((
        Options {
            role,
            role_defaulted,
            zk_hosts,
            ensemble,
            masters: master_count,
            hostname,
            ip,
            cluster_name: mesos.cluster_name,
            work_dir: match mesos.work_dir.trim_end_matches('/') {
                "" => "/".to_owned(),
                trimmed => trimmed.to_owned(),
            },
            attributes: mesos.attributes,
            resources: mesos.resources,
            containerizers: mesos.containerizers,
            executor_registration_timeout: mesos.executor_registration_timeout,
            marathon,
            binary: mesos.binary,
            sources,
            mirror_ca: file_mirror_ca,
            executor_source: args
                .executor_source
                .as_ref()
                .map(|p| p.display().to_string()),
            policy: policy.filter(|_| role.is_agent()),
            proxy: args.proxy.clone(),
            flags,
            security: Default::default(),
            join_token: None,
            kept_tls: None,
        },
        warnings,
    ))
}

/// The role, and whether it was chosen for the operator (nothing said,
/// nobody to ask).
fn choose_role(
    file: &FileConfig,
    prompter: Option<&dyn Prompter>,
) -> Result<(Role, bool), OptionsError> {
    let role = match (file.role, prompter) {
        (Some(r), _) => r,
        (None, Some(p)) => p.role().ok_or(OptionsError::NoRole)?,
        // As the 2013 script did: no arguments and nobody to ask set up a
        // whole node, so `curl … | sudo sh` gives a working one.
        (None, None) => Role::Standalone,
    };
    let defaulted = file.role.is_none() && prompter.is_none();
    Ok((role, defaulted))
}

/// The master hosts, trimmed and checked: from the flag, the file, this
/// host (a master without a list) or the prompter.
fn choose_masters(
    file: &FileConfig,
    zk: &Option<String>,
    role: Role,
    hostname: &str,
    prompter: Option<&dyn Prompter>,
    warnings: &mut Vec<String>,
) -> Result<Vec<String>, OptionsError> {
    let mut masters = file.masters.clone().unwrap_or_default();
    masters.retain(|m| !m.trim().is_empty());
    for m in &mut masters {
        *m = m.trim().to_owned();
    }
    if masters.is_empty() && zk.is_none() {
        if role.is_master() {
            masters.push(hostname.to_owned());
        } else {
            let answer = prompter
                .and_then(|p| p.masters())
                .ok_or(OptionsError::NoMasters)?;
            masters = answer
                .split(',')
                .map(|m| m.trim().to_owned())
                .filter(|m| !m.is_empty())
                .collect();
            if masters.is_empty() {
                return Err(OptionsError::NoMasters);
            }
        }
    }
    for m in &masters {
        check_host("--masters", m)?;
    }
    if let Some(dup) = masters
        .iter()
        .enumerate()
        .find(|(i, m)| masters[..*i].contains(m))
    {
        return Err(invalid("--masters", format!("{} is listed twice", dup.1)));
    }
    if masters.len() % 2 == 0 && !masters.is_empty() {
        warnings.push(format!(
            "--masters lists {} hosts: an even ensemble tolerates no more failures than {} hosts would; prefer an odd count",
            masters.len(),
            masters.len() - 1
        ));
    }
    Ok(masters)
}

/// The ZooKeeper hosts, and this host's place in a local ensemble.
fn zookeeper(
    zk: &Option<String>,
    masters: &[String],
    role: Role,
    hostname: &str,
    ip: Option<IpAddr>,
    facts: &Facts,
) -> Result<(String, Option<Ensemble>), OptionsError> {
    if let Some(url) = zk {
        return Ok((parse_zk_url(url)?, None));
    }
    let hosts = masters
        .iter()
        .map(|m| format!("{m}:2181"))
        .collect::<Vec<_>>()
        .join(",");
    if !role.is_master() {
        return Ok((hosts, None));
    }
    let me = masters
        .iter()
        .position(|m| is_me(m, hostname, ip, facts))
        .ok_or_else(|| OptionsError::NotInMasters {
            me: describe_me(hostname, ip, facts),
            masters: masters.join(","),
        })?;
    let ensemble = Ensemble {
        servers: masters.to_vec(),
        myid: me + 1,
    };
    Ok((hosts, Some(ensemble)))
}

/// The Mesos daemons' settings, checked for their environment files.
struct MesosSettings {
    cluster_name: String,
    work_dir: String,
    attributes: Option<String>,
    resources: Option<String>,
    containerizers: String,
    executor_registration_timeout: String,
    binary: String,
}

fn mesos_settings(
    file: &FileConfig,
    role: Role,
    warnings: &mut Vec<String>,
) -> Result<MesosSettings, OptionsError> {
    let pick =
        |given: &Option<String>, default: &str| given.clone().unwrap_or_else(|| default.to_owned());
    let cluster_name = pick(&file.cluster_name, "mesos");
    check_env_word("--cluster-name", &cluster_name)?;
    let work_dir = pick(&file.work_dir, "/var/lib/mesos");
    if !work_dir.starts_with('/') {
        return Err(invalid(
            "--work-dir",
            format!("{work_dir:?} is not an absolute path; pass e.g. --work-dir /var/lib/mesos"),
        ));
    }
    check_env_word("--work-dir", &work_dir)?;
    let attributes = file.attributes.clone();
    if let Some(a) = &attributes {
        check_attributes(a)?;
    }
    let resources = file.resources.clone();
    if let Some(r) = &resources {
        check_resources(r)?;
    }
    let containerizers = pick(&file.containerizers, "mesos");
    check_containerizers(&containerizers)?;
    let executor_registration_timeout = pick(&file.executor_registration_timeout, "5mins");
    check_duration(
        "--executor-registration-timeout",
        &executor_registration_timeout,
    )?;
    if !role.is_agent() && (attributes.is_some() || resources.is_some()) {
        warnings.push(format!(
            "--attributes and --resources apply to agents; role {} ignores them",
            role.name()
        ));
    }
    let binary = pick(&file.binary, BINARY);
    if !binary.starts_with('/') {
        return Err(invalid(
            "--binary",
            format!("{binary:?} is not an absolute path; pass e.g. --binary {BINARY}"),
        ));
    }
    check_env_word("--binary", &binary)?;
    Ok(MesosSettings {
        cluster_name,
        work_dir,
        attributes,
        resources,
        containerizers,
        executor_registration_timeout,
        binary,
    })
}

/// The policy flags over setup.toml's `[policy]`.
fn node_policy(
    args: &SetupArgs,
    file: &FileConfig,
    role: Role,
    warnings: &mut Vec<String>,
) -> Result<Option<crate::setup::input::node_policy::NodePolicy>, OptionsError> {
    let policy = crate::setup::input::node_policy::resolve(&args.policy, file.policy.as_ref())?;
    if policy.is_some() && !role.is_agent() {
        warnings.push(format!(
            "the node policy applies to tasks on agents; role {} runs none, so no policy.toml is written",
            role.name()
        ));
    }
    Ok(policy)
}

/// Each component's source: flags over `[sources]`, through the mirror,
/// resolved against the catalog and the pins.
fn choose_sources(
    args: &SetupArgs,
    file: FileConfig,
    role: Role,
    marathon: bool,
    local_zk: bool,
    facts: &Facts,
) -> Result<(Sources, Vec<String>), OptionsError> {
    let file_name = file.path.clone().unwrap_or_else(|| CONFIG.to_owned());
    let mut given = Vec::new();
    let file_sources = file.sources.unwrap_or_default();
    for (c, flag, in_file) in [
        (
            Component::Zookeeper,
            &args.sources.zookeeper,
            file_sources.zookeeper,
        ),
        (Component::Docker, &args.sources.docker, file_sources.docker),
        (Component::Mesos, &args.sources.mesos, file_sources.mesos),
        (
            Component::Marathon,
            &args.sources.marathon,
            file_sources.marathon,
        ),
    ] {
        let (text, place) = match (flag, in_file) {
            (Some(t), _) => (t.clone(), c.flag().to_owned()),
            (None, Some(t)) => (t, format!("{file_name} [sources] {c}")),
            (None, None) => continue,
        };
        given.push(Given {
            component: c,
            text,
            place,
        });
    }
    let mirror = match (&args.settings.mirror, file.mirror) {
        (Some(m), _) => Some(sources::mirror::check(m).map_err(|p| invalid("--mirror", p))?),
        (None, Some(m)) => Some(sources::mirror::check(&m).map_err(|p| {
            OptionsError::Source(SourceError::Bad {
                place: format!("{file_name} mirror"),
                problem: p,
            })
        })?),
        (None, None) => None,
    };
    Ok(sources::resolve(&sources::Request {
        given,
        mirror,
        allow_unverified: file.allow_unverified.unwrap_or(false),
        require_pinned: file.require_pinned.unwrap_or(false),
        pins: file.pins.clone().unwrap_or_default(),
        pins_file: file_name.clone(),
        role,
        marathon,
        local_zk,
        facts,
    })?)
}

/// `--master-flag`/`--agent-flag` over `[master.flags]`/`[agent.flags]`,
/// for the daemons this role runs.
/// setup.toml's flag tables, kept aside before the rest of the file is used.
struct FlagTables {
    master: Option<crate::setup::input::flags::FileFlags>,
    agent: Option<crate::setup::input::flags::FileFlags>,
    path: String,
}

fn extra_flags(
    args: &SetupArgs,
    file: &FlagTables,
    role: Role,
    facts: &Facts,
    sources: &Sources,
    warnings: &mut Vec<String>,
) -> Result<crate::setup::input::flags::ExtraFlags, OptionsError> {
    use crate::setup::input::flags::{Daemon, ExtraFlags, managed, merge};
    let tarball = matches!(
        sources
            .get(crate::setup::sources::Component::Mesos)
            .map(|s| &s.spec),
        Some(crate::setup::sources::Spec::Tgz(_))
    );
    let posix = facts.posix_reason().is_some();
    let path = file.path.as_str();
    let mut one = |daemon: Daemon,
                   runs: bool,
                   cli: &[String],
                   table: Option<&crate::setup::input::flags::FileFlags>| {
        let flags = merge(daemon, cli, table, path, &managed(daemon, posix, tarball))
            .map_err(|e| OptionsError::Flags(e.to_string()))?;
        if !runs && !flags.is_empty() {
            warnings.push(format!(
                "extra {} flags apply to nodes that run it; role {} does not, so they are not written",
                daemon.program(),
                role.name()
            ));
            return Ok(Default::default());
        }
        Ok::<_, OptionsError>(flags)
    };
    Ok(ExtraFlags {
        master: one(
            Daemon::Master,
            role.is_master(),
            &args.master_flag,
            file.master.as_ref(),
        )?,
        agent: one(
            Daemon::Agent,
            role.is_agent(),
            &args.agent_flag,
            file.agent.as_ref(),
        )?,
    })
}

fn is_me(master: &str, hostname: &str, ip: Option<IpAddr>, facts: &Facts) -> bool {
    if master.eq_ignore_ascii_case(hostname) || master.eq_ignore_ascii_case(&facts.hostname) {
        return true;
    }
    // A short name in --masters matches this host's fully qualified name.
    if hostname.split('.').next() == Some(master) {
        return true;
    }
    match master.parse::<IpAddr>() {
        Ok(addr) => ip == Some(addr) || facts.addresses.contains(&addr),
        Err(_) => false,
    }
}

fn describe_me(hostname: &str, ip: Option<IpAddr>, facts: &Facts) -> String {
    let mut addrs: Vec<String> = ip.iter().map(|a| a.to_string()).collect();
    addrs.extend(facts.addresses.iter().map(|a| a.to_string()));
    if addrs.is_empty() {
        hostname.to_owned()
    } else {
        format!("{hostname}, {}", addrs.join(", "))
    }
}

fn check_host(flag: &'static str, host: &str) -> Result<(), OptionsError> {
    let ok = !host.is_empty()
        && host.len() <= 253
        && (host.parse::<IpAddr>().is_ok()
            || host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            flag,
            format!("{host:?} is not a host name or IP address"),
        ))
    }
}

/// Values end up double-quoted in environment files read by systemd and by
/// sh (upstart); refuse what either would interpret.
fn check_env_word(flag: &'static str, value: &str) -> Result<(), OptionsError> {
    match value
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\\' | '$' | '`' | '\''))
    {
        Some(c) => Err(invalid(
            flag,
            format!("{value:?} contains {c:?}, which cannot go into a Mesos flag"),
        )),
        None if value.is_empty() => Err(invalid(flag, "is empty")),
        None => Ok(()),
    }
}

fn name_ok(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
}

/// Mesos attributes: `NAME:VALUE;...`, VALUE text, a number, or a range set.
pub fn check_attributes(text: &str) -> Result<(), OptionsError> {
    check_env_word("--attributes", text)?;
    for (i, item) in text.split(';').enumerate() {
        let bad = |why: &str| {
            invalid(
                "--attributes",
                format!(
                    "item {} ({item:?}) {why}; the form is NAME:VALUE;NAME:VALUE, e.g. rack:r1;zone:z2",
                    i + 1
                ),
            )
        };
        let (name, value) = item.split_once(':').ok_or_else(|| bad("has no ':'"))?;
        if !name_ok(name) {
            return Err(bad(
                "has a name that is empty or holds characters other than letters, digits, _ - . /",
            ));
        }
        let value_ok = if value.starts_with('[') {
            ranges_ok(value)
        } else {
            name_ok(value) || value.contains(':') && value.split(':').all(name_ok)
        };
        if !value_ok {
            return Err(bad("has an empty or malformed value"));
        }
    }
    Ok(())
}

fn ranges_ok(value: &str) -> bool {
    let Some(inner) = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) else {
        return false;
    };
    inner.split(',').all(|r| match r.trim().split_once('-') {
        Some((a, b)) => matches!(
            (a.trim().parse::<u64>(), b.trim().parse::<u64>()),
            (Ok(a), Ok(b)) if a <= b
        ),
        None => false,
    })
}

/// Mesos resources: `NAME[(ROLE)]:VALUE;...`, VALUE a number, a range set
/// `[a-b,...]` or a set `{x,y}`.
pub fn check_resources(text: &str) -> Result<(), OptionsError> {
    check_env_word("--resources", text)?;
    for (i, item) in text.split(';').enumerate() {
        let bad = |why: &str| {
            invalid(
                "--resources",
                format!(
                    "item {} ({item:?}) {why}; the form is NAME:VALUE;..., e.g. cpus:4;mem:8192;ports:[31000-32000]",
                    i + 1
                ),
            )
        };
        let (name, value) = item.split_once(':').ok_or_else(|| bad("has no ':'"))?;
        let bare = match name.split_once('(') {
            Some((n, role)) if role.ends_with(')') && name_ok(&role[..role.len() - 1]) => n,
            Some(_) => return Err(bad("has a malformed (role)")),
            None => name,
        };
        if bare.is_empty() || !bare.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(bad("has a name that is empty or not letters, digits and _"));
        }
        let ok = if value.starts_with('[') {
            ranges_ok(value)
        } else if let Some(set) = value.strip_prefix('{').and_then(|v| v.strip_suffix('}')) {
            set.split(',').all(|s| name_ok(s.trim()))
        } else {
            value
                .parse::<f64>()
                .is_ok_and(|v| v.is_finite() && v >= 0.0)
        };
        if !ok {
            return Err(bad(
                "has a value that is not a number, a range [a-b,...] or a set {x,y}",
            ));
        }
    }
    Ok(())
}

fn check_containerizers(list: &str) -> Result<(), OptionsError> {
    for c in list.split(',') {
        if !matches!(c, "mesos" | "docker") {
            return Err(invalid(
                "--containerizers",
                format!(
                    "{c:?} is not a Mesos containerizer; use mesos (the default) or mesos,docker"
                ),
            ));
        }
    }
    Ok(())
}

fn check_duration(flag: &'static str, d: &str) -> Result<(), OptionsError> {
    let unit_at = d
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(d.len());
    let (num, unit) = d.split_at(unit_at);
    let units = ["ns", "us", "ms", "secs", "mins", "hrs", "days", "weeks"];
    if num.parse::<f64>().is_ok() && units.contains(&unit) {
        Ok(())
    } else {
        Err(invalid(
            flag,
            format!(
                "{d:?} is not a Mesos duration: a number and one of {}, e.g. 5mins",
                units.join(", ")
            ),
        ))
    }
}

/// `zk://h1:2181,h2:2181/path` → `h1:2181,h2:2181`.
fn parse_zk_url(url: &str) -> Result<String, OptionsError> {
    let bad = |why: &str| {
        invalid(
            "--zk",
            format!("{url:?} {why}; the form is zk://h1:2181,h2:2181/mesos"),
        )
    };
    let rest = url
        .strip_prefix("zk://")
        .ok_or_else(|| bad("does not start with zk://"))?;
    let hosts = rest.split('/').next().unwrap_or("");
    if hosts.is_empty() {
        return Err(bad("names no hosts"));
    }
    for hp in hosts.split(',') {
        let (h, p) = hp
            .rsplit_once(':')
            .ok_or_else(|| bad("has a host without :port"))?;
        if check_host("--zk", h).is_err() || p.parse::<u16>().is_err() {
            return Err(bad(&format!("has a malformed host:port {hp:?}")));
        }
    }
    Ok(hosts.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::host::facts::{Distro, Installed, Os};

    pub(crate) fn facts() -> Facts {
        Facts {
            os: Os {
                distro: Distro::Debian,
                version: "12".into(),
            },
            arch: "x86_64".into(),
            init: Init::Systemd,
            hostname: "node1".into(),
            addresses: vec!["10.0.0.1".parse().unwrap()],
            memory_mib: Some(4096),
            cpus: Some(2),
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

    fn run(args: SetupArgs) -> Result<(Options, Vec<String>), OptionsError> {
        resolve(&args, FileConfig::default(), &facts(), None)
    }

    fn args(role: Role, masters: &[&str]) -> SetupArgs {
        let mut a = SetupArgs::default();
        a.settings.role = Some(role);
        a.settings.masters = Some(masters.iter().map(|s| s.to_string()).collect());
        a
    }

    /// `args` with one setting edited, as a flag would set it.
    fn with(mut a: SetupArgs, edit: impl FnOnce(&mut FileConfig)) -> SetupArgs {
        edit(&mut a.settings);
        a
    }

    #[test]
    fn ensemble_from_masters() {
        let (o, w) = run(args(Role::Master, &["node0", "node1", "node2"])).unwrap();
        assert!(w.is_empty());
        assert_eq!(o.zk_hosts, "node0:2181,node1:2181,node2:2181");
        assert_eq!(o.ensemble.as_ref().unwrap().myid, 2);
        assert_eq!(o.quorum(), 2);
        // Found by address too.
        let (o, _) = run(args(Role::Standalone, &["10.0.0.9", "10.0.0.1", "x"])).unwrap();
        assert_eq!(o.ensemble.unwrap().myid, 2);
    }

    #[test]
    fn only_a_standalone_node_or_the_first_master_may_start_a_cluster() {
        for (role, masters, zk, may_start) in [
            (Role::Standalone, &[][..], None, true),
            (Role::Master, &[][..], None, true),
            (Role::Master, &["node1", "a", "b"][..], None, true),
            (Role::Master, &["a", "node1", "b"][..], None, false),
            (Role::Standalone, &["a", "node1", "b"][..], None, false),
            (
                Role::Master,
                &[][..],
                Some("zk://z1:2181,z2:2181/mesos"),
                true,
            ),
        ] {
            let a = with(args(role, masters), |s| s.zk = zk.map(str::to_owned));
            let (o, _) = run(a).unwrap();
            let place = o.place();
            assert_eq!(place.may_start, may_start, "{role:?} {masters:?} {zk:?}");
            assert_eq!(place.me, "node1");
        }
        // An agent's masters are the ZooKeeper hosts, in order.
        let (o, _) = run(args(Role::Agent, &["m1", "10.0.0.2"])).unwrap();
        assert_eq!(o.place().masters, ["m1", "10.0.0.2"]);
        let (o, _) = run(with(args(Role::Agent, &[]), |s| {
            s.zk = Some("zk://z1:2181,z2:2181/mesos".into())
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(o.master_hosts(), ["z1", "z2"]);
    }

    #[test]
    fn single_master_defaults_to_this_host() {
        let (o, _) = run(args(Role::Standalone, &[])).unwrap();
        assert_eq!(o.zk_hosts, "node1:2181");
        assert_eq!(o.quorum(), 1);
        assert_eq!(o.ensemble.unwrap().myid, 1);
    }

    #[test]
    fn quorum_is_a_majority() {
        for (n, q) in [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3), (7, 4)] {
            let hosts: Vec<String> = (0..n).map(|i| format!("h{i}")).collect();
            let refs: Vec<&str> = hosts.iter().map(String::as_str).collect();
            let (o, _) = run(args(Role::Agent, &refs)).unwrap();
            assert_eq!(o.quorum(), q, "{n} masters");
        }
    }

    #[test]
    fn even_masters_warn() {
        let (_, w) = run(args(Role::Agent, &["a", "b"])).unwrap();
        assert!(w[0].contains("even"), "{w:?}");
    }

    #[test]
    fn refusals_name_their_flag() {
        let cases: Vec<(SetupArgs, &str)> = vec![
            (
                args(Role::Master, &["a", "b", "c"]),
                "not in --masters a,b,c",
            ),
            (args(Role::Agent, &[]), "--masters h1,h2,h3"),
            (args(Role::Agent, &["a b"]), "--masters"),
            (args(Role::Agent, &["a", "a"]), "listed twice"),
            (
                with(args(Role::Agent, &["a"]), |s| {
                    s.attributes = Some("rack".into())
                }),
                "--attributes: item 1 (\"rack\") has no ':'",
            ),
            (
                with(args(Role::Agent, &["a"]), |s| {
                    s.attributes = Some("rack:r1;:z".into())
                }),
                "item 2",
            ),
            (
                with(args(Role::Agent, &["a"]), |s| {
                    s.resources = Some("cpus:four".into())
                }),
                "--resources: item 1",
            ),
            (
                with(args(Role::Agent, &["a"]), |s| {
                    s.resources = Some("ports:[32000-31000]".into())
                }),
                "--resources",
            ),
            (
                with(args(Role::Agent, &[]), |s| {
                    s.zk = Some("http://a:2181".into())
                }),
                "zk://",
            ),
            (
                with(args(Role::Agent, &["a"]), |s| {
                    s.containerizers = Some("rkt".into())
                }),
                "--containerizers",
            ),
            (
                with(args(Role::Agent, &["a"]), |s| {
                    s.work_dir = Some("var/lib".into())
                }),
                "--work-dir",
            ),
            (
                with(args(Role::Agent, &["a"]), |s| {
                    s.cluster_name = Some("a\"b".into())
                }),
                "--cluster-name",
            ),
            (
                with(args(Role::Agent, &["a"]), |s| {
                    s.executor_registration_timeout = Some("5 minutes".into())
                }),
                "--executor-registration-timeout",
            ),
            (
                with(args(Role::Agent, &["a"]), |s| {
                    s.binary = Some("bin/mesos-docker".into())
                }),
                "--binary: \"bin/mesos-docker\" is not an absolute path",
            ),
        ];
        for (a, want) in cases {
            let err = run(a.clone()).unwrap_err().to_string();
            assert!(err.contains(want), "{a:?}: {err}");
        }
    }

    #[test]
    fn good_mesos_syntax_passes() {
        check_attributes("rack:r1;zone:eu-1;level:[1-3];os:debian/12").unwrap();
        check_resources(
            "cpus:4;mem:8192.5;ports:[31000-32000,33000-33010];disks:{a,b};cpus(web):1",
        )
        .unwrap();
    }

    struct Answers;
    impl Prompter for Answers {
        fn role(&self) -> Option<Role> {
            Some(Role::Agent)
        }
        fn masters(&self) -> Option<String> {
            Some(" m1, m2 ,m3 ".into())
        }
    }

    #[test]
    fn no_role_and_nobody_to_ask_is_a_standalone_node() {
        let (o, _) = run(SetupArgs::default()).unwrap();
        assert_eq!(o.role, Role::Standalone);
        assert!(o.role_defaulted);
        let (o, _) = run(args(Role::Agent, &["a"])).unwrap();
        assert!(!o.role_defaulted);
        // `slave`, the agent's name before Mesos 1.0, in the file too.
        let file: FileConfig = toml::from_str("role = \"slave\"\nmasters = [\"m\"]\n").unwrap();
        let (o, _) = resolve(&SetupArgs::default(), file, &facts(), None).unwrap();
        assert_eq!((o.role, o.role_defaulted), (Role::Agent, false));
    }

    #[test]
    fn prompts_fill_missing_choices() {
        let (o, _) = resolve(
            &SetupArgs::default(),
            FileConfig::default(),
            &facts(),
            Some(&Answers),
        )
        .unwrap();
        assert_eq!(o.role, Role::Agent);
        assert_eq!(o.zk_hosts, "m1:2181,m2:2181,m3:2181");
    }

    #[test]
    fn flags_win_over_the_file() {
        let file: FileConfig = toml::from_str(
            "role = \"agent\"\nmasters = [\"m1\", \"m2\", \"m3\"]\ncluster-name = \"prod\"\nmarathon = false\n",
        )
        .unwrap();
        let a = with(SetupArgs::default(), |s| {
            s.cluster_name = Some("dev".into())
        });
        let (o, _) = resolve(&a, file, &facts(), None).unwrap();
        assert_eq!(o.role, Role::Agent);
        assert_eq!(o.cluster_name, "dev");
        assert_eq!(o.zk_hosts, "m1:2181,m2:2181,m3:2181");
        assert!(!o.marathon);
    }

    #[test]
    fn sources_from_the_file_and_flags() {
        let text = "allow-unverified = true\nmirror = \"https://m.local/\"\n[sources]\nmesos = \"tgz:https://example.org/m.tgz\"\n";
        let (o, w) = resolve(
            &args(Role::Agent, &["a"]),
            toml::from_str(text).unwrap(),
            &facts(),
            None,
        )
        .unwrap();
        assert_eq!(
            o.sources.mesos.unwrap().spec.to_string(),
            "tgz:https://m.local/example.org/m.tgz"
        );
        assert!(w[0].contains("is unverified (no pinned sha256)"), "{w:?}");
        // The flag wins over the file, and the file's own errors name it.
        let a = SetupArgs {
            sources: FileSources {
                mesos: Some("deb:/srv/m.deb".into()),
                ..Default::default()
            },
            ..args(Role::Agent, &["a"])
        };
        let (o, _) = resolve(&a, toml::from_str(text).unwrap(), &facts(), None).unwrap();
        assert_eq!(o.sources.mesos.unwrap().spec.to_string(), "deb:/srv/m.deb");
        let mut file: FileConfig =
            toml::from_str("mirror = \"m.local\"\n[sources]\nmarathon = \"docker:x\"\n").unwrap();
        file.path = Some("/etc/mesos-docker/setup.toml".into());
        let err = resolve(&args(Role::Agent, &["a"]), file, &facts(), None)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "/etc/mesos-docker/setup.toml mirror: \"m.local\" is not an http:// or https:// URL"
            ),
            "{err}"
        );
    }

    #[test]
    fn config_file_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("setup.toml");
        std::fs::write(&p, "rol = \"agent\"\n").unwrap();
        let err = read_config(dir.path(), Some(&p)).unwrap_err().to_string();
        assert!(
            err.contains("setup.toml is not valid") && err.contains("rol"),
            "{err}"
        );
        let err = read_config(dir.path(), Some(&dir.path().join("nope.toml")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot read the configuration file"), "{err}");
        assert!(read_config(dir.path(), None).is_ok());
    }

    /// `setup` parsed as the command line would be.
    fn parse(flags: &[&str]) -> SetupArgs {
        #[derive(clap::Parser)]
        struct Cmd {
            #[command(flatten)]
            setup: SetupArgs,
        }
        let argv = std::iter::once("setup").chain(flags.iter().copied());
        <Cmd as clap::Parser>::try_parse_from(argv).unwrap().setup
    }

    /// setup.toml with `text`, read as setup reads it.
    fn read(text: &str) -> Result<FileConfig, OptionsError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("setup.toml");
        std::fs::write(&path, text).unwrap();
        read_config(dir.path(), Some(&path))
    }

    #[test]
    fn every_switch_and_setting_has_a_key() {
        let file = read(concat!(
            "no-marathon = true\n",
            "force = true\n",
            "dpkg-lock-wait = 7\n",
            "ignore-preflight = [\"ports\", \"docker\"]\n",
            "mirror-ca = \"/etc/ssl/mirror.pem\"\n",
        ))
        .unwrap();
        let given = merge(&parse(&[]).settings, file.clone());
        assert_eq!(given.marathon, Some(false));
        assert_eq!(given.force, Some(true));
        assert_eq!(given.dpkg_lock_wait, Some(7));
        assert_eq!(
            given.ignore_preflight,
            Some(vec!["ports".to_owned(), "docker".to_owned()])
        );
        let (o, _) = resolve(&args(Role::Master, &["node1"]), file, &facts(), None).unwrap();
        assert!(!o.marathon);
        assert_eq!(o.mirror_ca, Some(PathBuf::from("/etc/ssl/mirror.pem")));
        // `marathon = false`, the file's older spelling, is the same switch.
        assert_eq!(read("marathon = false\n").unwrap().marathon, Some(false));
        assert_eq!(read("no-marathon = false\n").unwrap().marathon, Some(true));
        assert_eq!(
            read("marathon = true\nno-marathon = false\n")
                .unwrap()
                .marathon,
            Some(true)
        );
    }

    #[test]
    fn a_flag_wins_over_its_key() {
        let file = read(concat!(
            "force = false\n",
            "dpkg-lock-wait = 7\n",
            "ignore-preflight = [\"ports\"]\n",
            "mirror-ca = \"/etc/ssl/file.pem\"\n",
            "marathon = true\n",
            "allow-unverified = false\n",
        ))
        .unwrap();
        let flags = parse(&[
            "--force",
            "--dpkg-lock-wait",
            "9",
            "--ignore-preflight",
            "hostname,os",
            "--mirror-ca",
            "flag.pem",
            "--no-marathon",
            "--allow-unverified",
        ]);
        let given = merge(&flags.settings, file.clone());
        assert_eq!(given.force, Some(true));
        assert_eq!(given.dpkg_lock_wait, Some(9));
        assert_eq!(
            given.ignore_preflight,
            Some(vec!["hostname".to_owned(), "os".to_owned()])
        );
        assert_eq!(given.mirror_ca, Some(PathBuf::from("flag.pem")));
        assert_eq!(given.marathon, Some(false));
        assert_eq!(given.allow_unverified, Some(true));
        // Flags not given leave the file alone: a bare switch is not `false`.
        let none = merge(&parse(&[]).settings, file);
        assert_eq!(none.force, Some(false));
        assert_eq!(none.marathon, Some(true));
        assert_eq!(none.dpkg_lock_wait, Some(7));
        assert_eq!(none.mirror_ca, Some(PathBuf::from("/etc/ssl/file.pem")));
    }

    #[test]
    fn policy_flags_are_the_policy_table() {
        let given = parse(&[
            "--allow-privileged",
            "--allow-registry",
            "r.example:5000",
            "--allow-registry",
            "docker.io",
            "--max-task-mem",
            "512",
        ])
        .policy;
        let file: crate::setup::input::node_policy::PolicyConfig = toml::from_str(
            "allow-privileged = true\nallow-registry = [\"r.example:5000\", \"docker.io\"]\nmax-task-mem = 512.0\n",
        )
        .unwrap();
        assert_eq!(given, file);
        // No policy flag is no policy from the command line.
        assert_eq!(parse(&[]).policy, Default::default());
    }

    #[test]
    fn bad_keys_are_refused_naming_key_and_file() {
        for (text, want) in [
            ("dpkg-lock-wait = \"x\"\n", "dpkg-lock-wait = \"x\""),
            ("dpkg-lock-wait = \"x\"\n", "expected u64"),
            ("force = \"yes\"\n", "force = \"yes\""),
            ("force = \"yes\"\n", "expected a boolean"),
            (
                "ignore-preflight = [\"nap\"]\n",
                "unknown preflight check \"nap\": expected a list of all, root, os",
            ),
            ("ignore-preflight = \"all\"\n", "ignore-preflight = \"all\""),
            (
                "mirror-ca = \"ca.pem\"\n",
                "mirror-ca = \"ca.pem\" is not an absolute path",
            ),
            (
                "marathon = true\nno-marathon = true\n",
                "marathon = true and no-marathon = true contradict each other",
            ),
            ("no-marathons = true\n", "unknown field `no-marathons`"),
            // What only makes sense on one command line is no key at all.
            ("root = \"/srv\"\n", "unknown field `root`"),
            ("config = \"/x.toml\"\n", "unknown field `config`"),
            ("dry-run = true\n", "unknown field `dry-run`"),
            ("output = \"json\"\n", "unknown field `output`"),
            ("yes = true\n", "unknown field `yes`"),
        ] {
            let err = read(text).unwrap_err().to_string();
            assert!(
                err.contains("setup.toml is not valid") && err.contains(want),
                "{text}: {err}"
            );
        }
    }
}
