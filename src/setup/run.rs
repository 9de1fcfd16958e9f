//! `mesos-docker setup` from start to end: options, facts, the plan, the
//! preflight checks, then apply and the services, told to the reporter.

use std::io::IsTerminal;
use std::process::ExitCode;

use crate::setup::apply::{self, downloads, trust};
use crate::setup::apt::packages;
use crate::setup::host::{facts, fsops, system};
use crate::setup::input::model::{OutputFormat, Role};
use crate::setup::input::security::{self, Decision, Given, Origin, SecurityError};
use crate::setup::input::token::ClusterToken;
use crate::setup::input::{flags, join, options, proxy};
use crate::setup::{plan, preflight, record, report, services, sources};
use facts::{FactsError, Overrides};
use options::{FileConfig, OptionsError, Prompter, SetupArgs};
use record::{Manifest, ManifestError};
use report::{EXIT_BAD_INPUT, Reporter};
use system::System;

/// How long setup waits for another package manager to release dpkg's lock.
const DPKG_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(300);

/// How long a started service has to answer its health check.
const HEALTH_DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Options(#[from] OptionsError),
    #[error(transparent)]
    Facts(#[from] FactsError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Plan(#[from] plan::PlanError),
    #[error(
        "preflight failed: {0}. Fix that, or skip a check with --ignore-preflight NAME if you know better"
    )]
    Preflight(String),
    #[error(
        "this node was set up with ZooKeeper ensemble {old} (myid {old_id}, Mesos quorum {old_quorum}); the new choice is {new} (myid {new_id}, quorum {new_quorum}). Changing it on one node can split the cluster: change every master in step, and pass --force to confirm"
    )]
    SplitRisk {
        old: String,
        old_id: usize,
        old_quorum: usize,
        new: String,
        new_id: usize,
        new_quorum: usize,
    },
    #[error(transparent)]
    Stopped(#[from] apply::change::Stopped),
    #[error("{0}. Nothing was changed: the plan above is what a run would do")]
    Unsourced(String),
    #[error(transparent)]
    Trust(#[from] trust::TrustError),
    #[error("{0}")]
    Busy(std::io::Error),
    #[error(transparent)]
    Flags(#[from] flags::FlagCheckError),
    #[error(transparent)]
    Security(#[from] SecurityError),
}

impl SetupError {
    fn exit_code(&self) -> ExitCode {
        match self {
            SetupError::Stopped(_)
            | SetupError::Trust(_)
            | SetupError::Manifest(_)
            | SetupError::Plan(plan::PlanError::Render(_))
            | SetupError::Busy(_) => ExitCode::FAILURE,
            _ => ExitCode::from(EXIT_BAD_INPUT),
        }
    }
}

/// The refusal for components without a usable source.
fn unsourced(blocked: &[sources::Blocked]) -> String {
    blocked
        .iter()
        .map(|b| b.reason.trim_end_matches('.').to_owned())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Asks on the terminal with dialoguer.
struct TerminalPrompter;

impl Prompter for TerminalPrompter {
    fn role(&self) -> Option<Role> {
        let roles = [Role::Standalone, Role::Master, Role::Agent];
        let items = [
            "standalone: master and agent on this host",
            "master: ZooKeeper, Mesos master and Marathon",
            "agent: runs tasks (Docker containers)",
        ];
        dialoguer::Select::new()
            .with_prompt("Role of this node (--role)")
            .items(items)
            .default(0)
            .interact_opt()
            .ok()
            .flatten()
            .map(|i| roles[i])
    }

    fn masters(&self) -> Option<String> {
        dialoguer::Input::<String>::new()
            .with_prompt("Master hosts, comma-separated (--masters)")
            .interact_text()
            .ok()
    }
}

/// Whether a person can answer questions: never with --yes, JSON output, or
/// without a terminal on both ends.
fn interactive(yes: bool, format: OutputFormat) -> bool {
    !yes && format == OutputFormat::Text
        && std::io::stdin().is_terminal()
        && std::io::stderr().is_terminal()
}

pub fn main(mut args: SetupArgs) -> ExitCode {
    args.proxy = proxy::Proxy::from_env(|k| std::env::var(k).ok());
    args.env_token = std::env::var(security::TOKEN_ENV)
        .ok()
        .filter(|t| !t.trim().is_empty())
        .map(security::TokenText::new);
    let sys = System::new(args.root.clone(), Box::new(system::HostRunner));
    let prompter = interactive(args.yes, args.output).then_some(TerminalPrompter);
    let rep = Reporter::stdout(args.output, "setup", args.dry_run);
    run(
        &sys,
        &args,
        prompter.as_ref().map(|p| p as &dyn Prompter),
        rep,
    )
}

/// The whole of `setup` against any [`System`]; tests drive this directly.
pub fn run(
    sys: &System,
    args: &SetupArgs,
    prompter: Option<&dyn Prompter>,
    mut rep: Reporter,
) -> ExitCode {
    match run_inner(sys, args, prompter, &mut rep) {
        Ok(restart) => {
            rep.finish(&restart, None);
            ExitCode::SUCCESS
        }
        Err(e @ (SetupError::Stopped(_) | SetupError::Unsourced(_))) => {
            let code = e.exit_code();
            rep.finish(&[], Some(&crate::error_chain(&e)));
            code
        }
        Err(e) => {
            // Refused before anything was planned or written.
            let code = e.exit_code();
            rep.refuse(&crate::error_chain(&e));
            code
        }
    }
}

fn run_inner(
    sys: &System,
    args: &SetupArgs,
    prompter: Option<&dyn Prompter>,
    rep: &mut Reporter,
) -> Result<Vec<String>, SetupError> {
    let (file, given) = read_input(sys, args)?;
    let (offered, token_warnings) = security::given(&options::token_inputs(args, &file))?;
    let ignore_preflight = given.ignore_preflight.clone().unwrap_or_default();
    let overrides = Overrides {
        os: given.os.clone(),
        init: given.init,
    };
    let facts = facts::gather(sys, &overrides)?;
    let (mut opts, option_warnings) = options::resolve(args, file, &facts, prompter)?;
    if opts.role_defaulted {
        rep.note(
            "role: standalone (no --role given and nobody to ask): ZooKeeper, the Mesos master and agent, Marathon and Docker on this host; pass --role master or --role agent (slave) for a cluster node".into(),
        );
    }
    let preflight_warnings =
        preflight_checks(sys, args, &opts, &facts, &overrides, &ignore_preflight, rep)?;
    // While a component has no usable source nothing changes: the run
    // shows the whole plan as a dry run would, then refuses.
    let dry_run = args.dry_run || !opts.sources.blocked.is_empty();
    if dry_run {
        rep.dry_run();
    }
    let live_run = !dry_run && sys.is_live();
    // Before the record is read: another run may be writing it.
    let _lock = if dry_run {
        None
    } else {
        Some(fsops::lock_root(sys.root()).map_err(SetupError::Busy)?)
    };
    let loaded = Manifest::load(sys)?;
    let mut manifest = loaded.clone().unwrap_or_default();
    check_ensemble(&manifest, &opts, given.force.unwrap_or(false))?;
    // Before anything is written (pins learned, the plan applied): a node
    // given another cluster's token changes nothing.
    let decision = secure_node(sys, &opts, &offered, &manifest, live_run, rep)?;
    take_security(&mut opts, &decision);
    let progress = args.output == OutputFormat::Text && std::io::stderr().is_terminal();
    let dl = downloads::Downloads::new(sys, opts.mirror_ca.as_deref(), progress);
    let pins = trust::pins_file(sys, args.config.as_deref());
    let first_use: Vec<&sources::Resolved> = opts.sources.first_use().collect();
    let mut option_warnings = option_warnings;
    if !live_run {
        for n in trust::first_use_notes(first_use.into_iter(), &pins) {
            rep.note(n);
        }
    } else if trust::learn_keys(sys, &dl, &first_use, &pins, &mut manifest, rep)? > 0 {
        // The same choices, with the pins just written.
        let file = options::read_config(sys.root(), args.config.as_deref())?;
        (opts, option_warnings) = options::resolve(args, file, &facts, prompter)?;
        take_security(&mut opts, &decision);
    }
    let mut warnings = token_warnings;
    warnings.extend(option_warnings);
    warnings.extend(preflight_warnings);
    executor_source(&mut opts, &mut warnings);
    let mut plan = plan::plan(&opts, &facts)?;
    plan.pins_file = Some(pins.clone());
    // Flags the installed Mesos does not know are refused before any
    // change; a Mesos this run installs is asked before its file is written.
    if sys.is_live() {
        for check in &plan.flag_checks {
            flags::unknown_flags(sys, check).map_err(SetupError::Flags)?;
        }
    }
    warnings.extend(plan.warnings.iter().cloned());
    for w in warnings {
        rep.warn(w);
    }
    record_node(&mut manifest, &opts);
    report_security(rep, &decision, dry_run);
    let apt = packages::Apt::new(
        given
            .dpkg_lock_wait
            .map_or(DPKG_LOCK_WAIT, std::time::Duration::from_secs),
    );
    let trusted = manifest.trusted.len();
    let mut restart = apply::apply(sys, &plan, &mut manifest, &apt, &dl, dry_run, rep)?;
    if live_run && manifest.trusted.len() > trusted {
        // An image was pinned on first use: its unit must name it by the
        // digest now, before anything starts, not after a restart on the
        // next run. The same choices, with the pin, once more.
        let file = options::read_config(sys.root(), args.config.as_deref())?;
        let (mut again, _) = options::resolve(args, file, &facts, prompter)?;
        again.executor_source = opts.executor_source.clone();
        take_security(&mut again, &decision);
        plan = plan::plan(&again, &facts)?;
        plan.pins_file = Some(pins);
        for s in apply::apply(sys, &plan, &mut manifest, &apt, &dl, dry_run, rep)? {
            if !restart.contains(&s) {
                restart.push(s);
            }
        }
    }
    if !opts.sources.blocked.is_empty() {
        return Err(SetupError::Unsourced(unsourced(&opts.sources.blocked)));
    }
    if !dry_run && loaded.as_ref() != Some(&manifest) {
        manifest.save(sys)?;
    }
    if !dry_run {
        show_generated(rep, &opts, &decision);
    }
    if live_run {
        let (init, ip) = (facts.init, opts.ip);
        let deadline = HEALTH_DEADLINE;
        return Ok(services::converge(
            sys, &plan, init, &restart, ip, deadline, rep,
        )?);
    }
    Ok(restart)
}

/// What the record keeps of the node's choices: role, ensemble, quorum,
/// and the fingerprints of a secured node (an open one records none, so
/// its record stays as it was before tokens).
fn record_node(manifest: &mut Manifest, opts: &options::Options) {
    manifest.role = Some(opts.role.name().to_owned());
    manifest.ensemble = opts.ensemble.clone();
    manifest.quorum = opts.role.is_master().then(|| opts.quorum());
    manifest.security = opts
        .security
        .is_secure()
        .then(|| opts.security.fingerprints());
}

/// What the plan takes of the security decision: the node's security, and
/// what signs its TLS certificate (an agent's token of this run, or the
/// files it kept). Options re-read from setup.toml get it again.
fn take_security(opts: &mut options::Options, decision: &Decision) {
    opts.security = decision.security.clone();
    opts.join_token = decision.join_token.clone();
    opts.kept_tls = decision.kept_tls.clone();
}

/// The node's token or agent key, decided before anything is written; on a
/// real run the cluster is asked whether the token fits.
fn secure_node(
    sys: &System,
    opts: &options::Options,
    offered: &Given,
    manifest: &Manifest,
    live_run: bool,
    rep: &mut Reporter,
) -> Result<Decision, SetupError> {
    let stored = security::stored(sys, manifest.security.clone())?;
    let mut decision = security::decide(&opts.place(), offered, &stored, ClusterToken::generate)?;
    decision.kept_tls = stored.tls.clone();
    let masters = others(opts);
    if !live_run || masters.is_empty() {
        return Ok(decision);
    }
    // The token this node asks with: the one given, or a master's own.
    // Agents derive the master credentials from a given token in memory;
    // one that keeps only its agent key cannot ask.
    let token = match &decision.origin {
        Origin::Insecure => return Ok(decision),
        Origin::Given(_) => offered.token.as_ref().map(|g| &g.token),
        Origin::Stored => decision.security.token(),
        Origin::Generated => None,
    };
    if token.is_none() && decision.origin != Origin::Generated {
        return Ok(decision);
    }
    match join::ask(sys, &masters, token) {
        join::Answer::Rejected { host } => return Err(SecurityError::Rejected { host }.into()),
        join::Answer::Secured { host } => {
            return Err(SecurityError::SecuredWithoutToken { host }.into());
        }
        join::Answer::SecuredTls { host } => {
            return Err(SecurityError::SecuredTlsWithoutToken { host }.into());
        }
        join::Answer::Foreign { host, why } => {
            return Err(SecurityError::ForeignMaster { host, why }.into());
        }
        join::Answer::Accepted { host } => {
            rep.note(format!("security: the master at {host} accepted the token"))
        }
        join::Answer::Open { host } => rep.note(format!(
            "security: the master at {host} still answers anonymously: the cluster is open. Fine while it moves to the token: set up every master with it, then every agent (README: \"Moving an open cluster to the token\")"
        )),
        join::Answer::Unreachable { why } if token.is_some() => rep.warn(format!(
            "security: no master answered on :5050 ({}), so the token could not be checked against the cluster; a wrong one shows later as agents that cannot register",
            why.join("; ")
        )),
        join::Answer::Unreachable { .. } => {}
    }
    Ok(decision)
}

/// A token this run generated, now kept on the node, shown once with the
/// commands that join the other nodes (text output only).
fn show_generated(rep: &mut Reporter, opts: &options::Options, decision: &Decision) {
    if let (Origin::Generated, Some(token)) = (&decision.origin, opts.security.token()) {
        let text = security::join_text(token, &join_target(opts), others(opts).len());
        rep.show_once(text);
    }
}

/// The other masters: those of the list that are not this node.
fn others(opts: &options::Options) -> Vec<String> {
    let me = opts.ensemble.as_ref().map(|e| e.myid - 1);
    opts.master_hosts()
        .into_iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != me)
        .map(|(_, h)| h)
        .collect()
}

/// How another node names the cluster on its command line.
fn join_target(opts: &options::Options) -> String {
    match &opts.ensemble {
        Some(e) => format!("--masters {}", e.servers.join(",")),
        None => format!("--zk {}", opts.zk_url("mesos")),
    }
}

/// What the reports say about the node's security: fingerprints and where
/// they came from, never a key; `--insecure` warned about on every run.
fn report_security(rep: &mut Reporter, decision: &Decision, dry_run: bool) {
    let prints = decision.security.fingerprints();
    let fp = prints
        .token_fingerprint
        .clone()
        .or(prints.agent_key_fingerprint.clone());
    let mut json = serde_json::to_value(&prints).expect("fingerprints serialize");
    let (origin, note) = match &decision.origin {
        Origin::Insecure => {
            rep.warn(
                "--insecure: this node is open: anyone who reaches its Mesos, Marathon or ZooKeeper ports can run tasks (as root on the agents) or change the cluster. Set it up with the cluster token instead".to_owned(),
            );
            ("insecure", None)
        }
        Origin::Given(source) => ("given", Some(format!("given by {source}"))),
        Origin::Stored => ("stored", Some("kept on this node".to_owned())),
        Origin::Generated if dry_run => {
            json = serde_json::json!({ "mode": prints.mode });
            rep.note(
                "security: a cluster token would be generated (dry run: none is kept or shown)"
                    .to_owned(),
            );
            ("would be generated", None)
        }
        Origin::Generated => (
            "generated",
            Some(format!(
                "generated by this run; `{}` shows it",
                security::SHOW_TOKEN
            )),
        ),
    };
    json["origin"] = origin.into();
    if decision.origin == Origin::Generated && !dry_run {
        json["show"] = security::SHOW_TOKEN.into();
    }
    if let (Some(note), Some(fp)) = (note, fp) {
        rep.note(format!(
            "security: {} with fingerprint {fp}, {note}",
            match prints.mode.as_str() {
                "agent-key" => "agent key",
                _ => "cluster token",
            }
        ));
    }
    rep.security = Some(json);
}

/// setup.toml and the flags over it. The file comes first: it may skip the
/// root check, as the flag does.
fn read_input(sys: &System, args: &SetupArgs) -> Result<(FileConfig, FileConfig), SetupError> {
    let skips_root = |names: &[String]| names.iter().any(|i| i == "root" || i == "all");
    let root = preflight::root(sys, args.dry_run);
    let not_root = root.verdict == preflight::Verdict::Fail;
    let file = match options::read_config(sys.root(), args.config.as_deref()) {
        Ok(file) => file,
        // root's own file, unreadable to others: not being root is the news.
        Err(OptionsError::ConfigUnreadable { .. })
            if not_root
                && !skips_root(args.settings.ignore_preflight.as_deref().unwrap_or(&[])) =>
        {
            return Err(SetupError::Preflight(format!("root: {}", root.detail)));
        }
        Err(e) => return Err(e.into()),
    };
    let given = options::merge(&args.settings, file.clone());
    if not_root && !skips_root(given.ignore_preflight.as_deref().unwrap_or(&[])) {
        return Err(SetupError::Preflight(format!("root: {}", root.detail)));
    }
    Ok((file, given))
}

/// The preflight checks: a failure refuses the run; warnings are returned.
fn preflight_checks(
    sys: &System,
    args: &SetupArgs,
    opts: &options::Options,
    facts: &facts::Facts,
    overrides: &Overrides,
    ignore: &[String],
    rep: &mut Reporter,
) -> Result<Vec<String>, SetupError> {
    let findings = preflight::run(
        sys,
        opts,
        facts,
        overrides.os.is_some(),
        args.dry_run,
        ignore,
    );
    rep.preflight(&findings);
    let failed: Vec<String> = findings
        .iter()
        .filter(|f| f.verdict == preflight::Verdict::Fail)
        .map(|f| format!("{}: {}", f.name, f.detail))
        .collect();
    if !failed.is_empty() {
        return Err(SetupError::Preflight(failed.join("; ")));
    }
    Ok(findings
        .iter()
        .filter(|f| f.verdict == preflight::Verdict::Warn)
        .map(|f| format!("preflight {}: {}", f.name, f.detail))
        .collect())
}

/// A different ZooKeeper ensemble or quorum than this node was set up with
/// can split the cluster: refused unless forced.
fn check_ensemble(
    manifest: &Manifest,
    opts: &options::Options,
    force: bool,
) -> Result<(), SetupError> {
    if let (Some(old), Some(new)) = (&manifest.ensemble, &opts.ensemble) {
        let old_quorum = manifest.quorum.unwrap_or(opts.quorum());
        if (old != new || old_quorum != opts.quorum()) && !force {
            return Err(SetupError::SplitRisk {
                old: old.servers.join(","),
                old_id: old.myid,
                old_quorum,
                new: new.servers.join(","),
                new_id: new.myid,
                new_quorum: opts.quorum(),
            });
        }
    }
    Ok(())
}

/// An agent installs the binary running setup as its executor.
fn executor_source(opts: &mut options::Options, warnings: &mut Vec<String>) {
    if !opts.role.is_agent() || opts.executor_source.is_some() {
        return;
    }
    match std::env::current_exe() {
        Ok(p) => opts.executor_source = Some(p.display().to_string()),
        Err(e) => warnings.push(format!(
            "cannot tell where this mesos-docker binary is ({e}), so it is not installed as {}: install it there yourself (install.sh does)",
            opts.binary
        )),
    }
}
