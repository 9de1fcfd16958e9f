//! Walks the plan: checks each resource, changes only what differs, reports
//! every step, and stops at the first failure naming it. A dry run checks
//! and reports (with diffs) but changes nothing.
//!
//! Each resource kind owns its check, change, description and undo in its
//! own module ([`file`], [`service`], [`package`], [`apt_source`], [`deb`],
//! [`tarball`], [`image`], [`binary`]); [`resource`] dispatches a plan's
//! resource to its kind, and [`change`] holds what they share. Below them:
//! [`downloads`] and [`fetch`] (every download, checked against its pin),
//! [`trust`] (trust on first use) and [`libraries`] (what a Mesos build
//! needs at run time).

pub mod apt_source;
pub mod binary;
pub mod change;
pub mod deb;
pub mod downloads;
pub mod fetch;
pub mod file;
pub mod image;
pub mod launcher;
pub mod libraries;
pub mod package;
pub mod resource;
#[cfg(test)]
mod secret_tests;
pub mod service;
pub mod tarball;
pub mod tools;
pub mod trust;
pub mod znode;

use crate::setup::apply::change::{Change, Check, ResourceError, Stopped};
use crate::setup::apply::downloads::Downloads;
use crate::setup::apply::libraries::Needs;
use crate::setup::apply::service::UnitStates;
use crate::setup::apply::tools::Tools;
use crate::setup::apt::packages::Apt;
use crate::setup::host::system::System;
use crate::setup::input::flags::FlagCheckError;
use crate::setup::plan::{Plan, Resource};
use crate::setup::record::{Feature, Manifest};
use crate::setup::report::{Line, Reporter, Status};

/// What the walk learns as it goes: which services to restart, and what
/// systemd and the loader must be told before the next resource.
#[derive(Default)]
struct Walk {
    restart: Vec<String>,
    units_changed: bool,
    reloaded: bool,
    libraries_changed: bool,
    /// Gated features decided so far (see [`gate`]).
    gates: std::collections::BTreeMap<&'static str, Gate>,
}

/// Whether a gated feature's files are written.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Gate {
    On,
    /// Removed where they were: the program lacks the flags.
    Off(String),
    /// Not decidable on this run (dry run before the install, offline root).
    Later(String),
}

/// The run's fixed inputs, for each step of the walk.
struct Run<'a> {
    sys: &'a System,
    plan: &'a Plan,
    tools: Tools<'a>,
    units: UnitStates,
    runtime: Vec<Needs>,
    dry_run: bool,
}

/// Returns the services whose inputs changed.
pub fn apply(
    sys: &System,
    plan: &Plan,
    manifest: &mut Manifest,
    apt: &Apt,
    dl: &Downloads,
    dry_run: bool,
    rep: &mut Reporter,
) -> Result<Vec<String>, Stopped> {
    rep.start(plan.resources.len());
    let units = unit_states(plan);
    let runtime = if dry_run {
        Vec::new()
    } else {
        prefetch(sys, plan, manifest, &units, dl, rep)?
    };
    let run = Run {
        sys,
        plan,
        tools: Tools {
            apt,
            dl,
            pins: &plan.pins_file,
        },
        units,
        runtime,
        dry_run,
    };
    let mut walk = Walk::default();
    for r in &plan.resources {
        step(&run, r, manifest, &mut walk, rep)?;
    }
    Ok(walk.restart)
}

/// The plan's services, and the units whose files it writes.
fn unit_states(plan: &Plan) -> UnitStates {
    UnitStates::new(
        plan.resources
            .iter()
            .filter(|r| matches!(r, Resource::Service { .. }))
            .map(|r| r.id().to_owned())
            .collect(),
        plan.resources
            .iter()
            .filter_map(|r| match r {
                Resource::File { path, .. } => path.strip_prefix("/etc/systemd/system/"),
                _ => None,
            })
            .map(str::to_owned)
            .collect(),
    )
}

/// One resource: what must come before it, its check, its change, and the
/// loader's cache after the tree's entry.
fn step(
    run: &Run,
    r: &Resource,
    manifest: &mut Manifest,
    walk: &mut Walk,
    rep: &mut Reporter,
) -> Result<(), Stopped> {
    let (sys, dry_run) = (run.sys, run.dry_run);
    if let Resource::Znode {
        start: Some(start), ..
    } = r
        && !dry_run
        && sys.is_live()
        && sys.is_real_root()
        && walk.restart.iter().any(|s| s == "zookeeper")
    {
        zookeeper_first(sys, start, walk, rep)?;
    }
    if let Resource::File { path, .. } = r
        && path == crate::setup::plan::auth::MARATHON_ENV
        && let Some(l) = &run.plan.marathon_launcher
    {
        marathon_launcher(run, l, rep)?;
    }
    if let Resource::File { path, readers, .. } = r
        && let Some(g) = run.plan.gated.iter().find(|g| g.paths.contains(path))
    {
        match gate(run, g, manifest, walk, rep) {
            Gate::On => {
                if let Some(why) = &g.blocked {
                    return Err(stopped(rep, r, why.clone()));
                }
            }
            Gate::Off(_) => {
                // Its readers drop the flags only with a restart.
                if sys.exists(path) {
                    for s in readers {
                        if !walk.restart.contains(s) {
                            walk.restart.push(s.clone());
                        }
                    }
                }
                let absent = Resource::Absent { path: path.clone() };
                return step(run, &absent, manifest, walk, rep);
            }
            Gate::Later(why) => {
                rep.line(Line {
                    status: Status::Skipped,
                    kind: r.kind().into(),
                    id: r.id().into(),
                    detail: Some(why),
                    diff: None,
                });
                return Ok(());
            }
        }
    }
    if let Resource::File { path, .. } = r
        && let Some(check) = run.plan.flag_checks.iter().find(|c| c.env_file == *path)
    {
        check_flags(sys, check, dry_run, rep)
            .map_err(|e| stopped(rep, r, crate::error_chain(&e)))?;
    }
    if matches!(r, Resource::Service { .. })
        && walk.units_changed
        && !walk.reloaded
        && !dry_run
        && sys.is_live()
    {
        walk.reloaded = true;
        daemon_reload(sys, rep)?;
    }
    let line = |status, detail, diff| Line {
        status,
        kind: r.kind().into(),
        id: r.id().into(),
        detail,
        diff,
    };
    // Shown so that the plan is whole; the run refuses after it.
    if let Resource::Unavailable { fix, .. } = r {
        rep.line(line(Status::Failed, Some(fix.clone()), None));
        return Ok(());
    }
    let check = resource::check(sys, r, manifest, &run.units, run.tools.dl)
        .map_err(|e| stopped(rep, r, crate::error_chain(&e)))?;
    match check {
        Check::Ok => rep.line(line(Status::Ok, None, None)),
        Check::Skipped(why) => rep.line(line(Status::Skipped, Some(why), None)),
        Check::Change { change, diff } => {
            let mut detail = resource::describe(&change);
            if !dry_run && let Some(note) = make(run, r, &change, manifest, walk, rep)? {
                detail = format!("{detail}; {note}");
            }
            after_change(r, walk);
            let diff = if dry_run { diff } else { None };
            rep.line(line(Status::Changed, Some(detail), diff));
        }
    }
    // The loader's cache, right after the entry for the tree (which
    // comes after the tree): the programs are asked for their flags next.
    if walk.libraries_changed
        && matches!(r, Resource::File { path, .. } if path == crate::setup::plan::LD_CONF)
    {
        walk.libraries_changed = false;
        libraries::ldconfig(sys, dry_run, rep)?;
    }
    Ok(())
}

/// Makes one change; returns extra words for the report.
fn make(
    run: &Run,
    r: &Resource,
    change: &Change,
    manifest: &mut Manifest,
    walk: &mut Walk,
    rep: &mut Reporter,
) -> Result<Option<String>, Stopped> {
    let sys = run.sys;
    let note = match r {
        Resource::Tarball { dir, .. } => {
            walk.libraries_changed = true;
            let needs = run.runtime.iter().find(|n| n.dir == *dir);
            libraries::tarball(sys, r, change, needs, manifest, &run.tools, rep)
                .map_err(|e| stopped(rep, r, crate::error_chain(&e)))?
        }
        _ => resource::apply(sys, r, change, manifest, &run.tools, rep).map_err(|e| {
            let why = crate::error_chain(&e);
            let why = match (r, &e) {
                (Resource::Package { hint: Some(h), .. }, ResourceError::Apt(a))
                    if a.is_missing_package() =>
                {
                    format!("{}; {h}", why.trim_end_matches('.'))
                }
                _ => why,
            };
            stopped(rep, r, why)
        })?,
    };
    if !(libraries::is_mesos_package(r) && sys.is_live()) {
        return Ok(note);
    }
    let runtime =
        libraries::mesos_runtime(sys, run.tools.apt, &run.plan.mesos_runtime, manifest, rep)
            .map_err(|e| stopped(rep, r, crate::error_chain(&e)))?;
    Ok(match (note, runtime) {
        (Some(n), Some(r)) => Some(format!("{n}; {r}")),
        (n, r) => n.or(r),
    })
}

/// What a change means for the rest of the walk: units systemd must
/// re-read, services to restart, libraries the loader must learn.
/// The local ZooKeeper restarted now rather than with the other services:
/// znodes made before a restart onto this run's configuration were seen to
/// be gone after it (a fresh package's member serves from its own defaults
/// until then), so the ACL step must talk to the member as configured.
fn zookeeper_first(
    sys: &System,
    start: &[String],
    walk: &mut Walk,
    rep: &mut Reporter,
) -> Result<(), Stopped> {
    let restart: Vec<&str> = start
        .iter()
        .map(|a| if a == "start" { "restart" } else { a.as_str() })
        .collect();
    let Some((program, args)) = restart.split_first() else {
        return Ok(());
    };
    let line = |status, detail: String| Line {
        status,
        kind: "active".into(),
        id: "zookeeper.service".into(),
        detail: Some(detail),
        diff: None,
    };
    match sys.run(program, args) {
        Ok(out) if out.success => {
            walk.restart.retain(|s| s != "zookeeper");
            rep.line(line(
                Status::Changed,
                "restarted: an input it reads changed (before its znodes are checked)".into(),
            ));
            Ok(())
        }
        Ok(out) => {
            let why = format!("{} failed: {}", restart.join(" "), out.stderr.trim());
            rep.line(line(Status::Failed, why.clone()));
            Err(zookeeper_stopped(why))
        }
        Err(e) => {
            let why = format!("cannot run {}: {e}", restart.join(" "));
            rep.line(line(Status::Failed, why.clone()));
            Err(zookeeper_stopped(why))
        }
    }
}

fn zookeeper_stopped(reason: String) -> Stopped {
    Stopped {
        kind: "active".into(),
        id: "zookeeper.service".into(),
        reason,
    }
}

fn after_change(r: &Resource, walk: &mut Walk) {
    // A proxy drop-in removed: systemd must forget it, the unit restart.
    if let Resource::Absent { path } = r
        && let Some(unit) = crate::setup::plan::dropins::unit_of_dropin(path)
    {
        walk.units_changed = true;
        let base = unit.strip_suffix(".service").unwrap_or(unit).to_owned();
        if !walk.restart.contains(&base) {
            walk.restart.push(base);
        }
    }
    if let Resource::File { path, readers, .. } = r {
        walk.units_changed |= path.starts_with("/etc/systemd/system/");
        walk.libraries_changed |= path.starts_with("/etc/ld.so.conf.d/");
        for s in readers {
            if !walk.restart.contains(s) {
                walk.restart.push(s.clone());
            }
        }
    }
}

/// Whether a gated feature's files go in: the program that reads them must
/// list every flag they set (asked once per run, after this run installed
/// it). Off, fail-closed, when it cannot be asked; the decision and its
/// reason go into the record for `status`.
fn gate(
    run: &Run,
    g: &crate::setup::plan::auth::Gated,
    manifest: &mut Manifest,
    walk: &mut Walk,
    rep: &mut Reporter,
) -> Gate {
    if let Some(decided) = walk.gates.get(g.feature) {
        return decided.clone();
    }
    let check = &g.check;
    let line = check.argv.join(" ");
    let flags = check.names.join(" and --");
    let decided = if !run.sys.is_live() {
        Gate::Later(format!(
            "{} is not the running system: a run on the host itself asks `{line}` whether it has --{flags}",
            run.sys.root().display()
        ))
    } else {
        match crate::setup::input::flags::missing_flags(run.sys, check) {
            Ok(Some(missing)) if missing.is_empty() => Gate::On,
            Ok(Some(missing)) => Gate::Off(format!(
                "`{line}` does not list --{} ({})",
                missing.join(", --"),
                g.off_because
            )),
            Ok(None) if run.dry_run => Gate::Later(format!(
                "decided once {} is installed: on if `{line}` lists --{flags}",
                check.program
            )),
            Ok(None) => Gate::Off(format!("{} is not there to ask", check.program)),
            Err(e) => Gate::Off(crate::error_chain(&e)),
        }
    };
    let feature = match &decided {
        Gate::On => Some(Feature {
            enabled: true,
            reason: None,
        }),
        Gate::Off(why) => {
            rep.note(format!("{}: off, because {why}", g.feature));
            Some(Feature {
                enabled: false,
                reason: Some(why.clone()),
            })
        }
        Gate::Later(_) => None,
    };
    if let Some(f) = feature {
        manifest.features.insert(g.feature.to_owned(), f);
    }
    walk.gates.insert(g.feature, decided.clone());
    decided
}

/// Marathon's launcher, before Marathon's secret environment is written:
/// one that puts MARATHON_* on its command line stops the run there, so
/// Marathon is never started with the secret.
fn marathon_launcher(
    run: &Run,
    l: &crate::setup::plan::launcher::Launcher,
    rep: &mut Reporter,
) -> Result<(), Stopped> {
    use crate::setup::plan::launcher::Launcher;
    let reason = match launcher::check(run.sys, l, run.dry_run) {
        Ok(launcher::Verdict::Clean) => return Ok(()),
        Ok(launcher::Verdict::Later(why)) => {
            rep.warn(why);
            return Ok(());
        }
        Err(e) => crate::error_chain(&e),
    };
    let id = match l {
        Launcher::Script(path) => path.clone(),
        Launcher::Image(image) => image.clone(),
    };
    rep.line(Line {
        status: Status::Failed,
        kind: "launcher".into(),
        id: id.clone(),
        detail: Some(reason.clone()),
        diff: None,
    });
    Err(Stopped {
        kind: "launcher".into(),
        id,
        reason,
    })
}

/// Extra flags against the program that reads them, before their file is
/// written (the program is there by now if this run installed it).
fn check_flags(
    sys: &System,
    check: &crate::setup::input::flags::FlagCheck,
    dry_run: bool,
    rep: &mut Reporter,
) -> Result<(), FlagCheckError> {
    if !sys.is_live() {
        return Ok(());
    }
    match crate::setup::input::flags::unknown_flags(sys, check)? {
        Some(()) => Ok(()),
        None if dry_run => {
            rep.warn(format!(
                "the extra {} flags are checked against `{}` once it is installed, before {} is written",
                check.daemon.program(),
                check.argv.join(" "),
                check.env_file
            ));
            Ok(())
        }
        None => Err(FlagCheckError::NoProgram {
            path: check.program.clone(),
            program: check.daemon.program(),
        }),
    }
}

/// Reports the resource as failed; the run stops there.
fn stopped(rep: &mut Reporter, r: &Resource, reason: String) -> Stopped {
    rep.line(Line {
        status: Status::Failed,
        kind: r.kind().into(),
        id: r.id().into(),
        detail: Some(reason.clone()),
        diff: None,
    });
    Stopped {
        kind: r.kind().into(),
        id: r.id().into(),
        reason,
    }
}

/// Every download a change needs is fetched and verified before the first
/// change of the run: a wrong pin or an unreachable source must stop setup
/// with nothing installed, not after ZooKeeper and Docker went in.
fn prefetch(
    sys: &System,
    plan: &Plan,
    manifest: &mut Manifest,
    units: &service::UnitStates,
    dl: &Downloads,
    rep: &mut Reporter,
) -> Result<Vec<Needs>, Stopped> {
    let mut runtime = Vec::new();
    for r in &plan.resources {
        let stop = |rep: &mut Reporter, reason: String| stopped(rep, r, reason);
        if !matches!(
            r,
            Resource::AptSource { .. }
                | Resource::Deb { .. }
                | Resource::Tarball { .. }
                | Resource::Image {
                    archive: Some(_),
                    ..
                }
        ) {
            continue;
        }
        let check = resource::check(sys, r, manifest, units, dl)
            .map_err(|e| stop(rep, crate::error_chain(&e)))?;
        let Check::Change { change, .. } = check else {
            continue;
        };
        let fetched = match r {
            Resource::AptSource {
                key, fingerprints, ..
            } if matches!(change, Change::AptSource { key: true, .. }) => {
                apt_source::verified_key(sys, dl, key, fingerprints, manifest).map(drop)
            }
            Resource::Tarball {
                location,
                sha256,
                dir,
                libs,
                ..
            } => dl
                .get(sys, &change::artifact(location, sha256), manifest)
                .and_then(|f| {
                    let Some(libs) = libs else { return Ok(()) };
                    let (packages, tree) = libraries::runnable(sys, &f.path, libs, location)?;
                    runtime.push(Needs {
                        dir: dir.clone(),
                        packages,
                        tree,
                    });
                    Ok(())
                }),
            Resource::Deb {
                location, sha256, ..
            } => dl
                .get(sys, &change::artifact(location, sha256), manifest)
                .map(drop),
            Resource::Image {
                archive: Some(a), ..
            } => dl.get(sys, a, manifest).map(drop),
            _ => Ok(()),
        };
        fetched.map_err(|e| stop(rep, crate::error_chain(&e)))?;
    }
    Ok(runtime)
}

/// systemd reads unit files only when told to; enabling a unit it has not
/// read would use the old file.
fn daemon_reload(sys: &System, rep: &mut Reporter) -> Result<(), Stopped> {
    let failed = |reason: String| Stopped {
        kind: "systemd".into(),
        id: "daemon-reload".into(),
        reason,
    };
    let result = match sys.run("systemctl", &["daemon-reload"]) {
        Ok(out) if out.success => Ok(()),
        Ok(out) => Err(failed(format!(
            "systemctl daemon-reload failed: {}",
            out.stderr.trim()
        ))),
        Err(e) => Err(failed(format!("cannot run systemctl daemon-reload: {e}"))),
    };
    rep.line(Line {
        status: if result.is_ok() {
            Status::Changed
        } else {
            Status::Failed
        },
        kind: "systemd".into(),
        id: "daemon-reload".into(),
        detail: result.as_ref().err().map(|e| e.reason.clone()),
        diff: None,
    });
    result
}
