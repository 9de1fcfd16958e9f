//! Walks the plan: checks each resource, changes only what differs, reports
//! every step, and stops at the first failure naming it. A dry run checks
//! and reports (with diffs) but changes nothing.

pub mod artifacts;
pub mod binary;
pub mod fetch;
pub mod resources;
pub mod trust;

use std::collections::BTreeMap;

use crate::setup::apply::artifacts::Downloads;
use crate::setup::apply::resources::{Change, Check, ResourceError};
use crate::setup::apt::packages::{self, Apt};
use crate::setup::host::system::System;
use crate::setup::plan::{Plan, Resource};
use crate::setup::record::Manifest;
use crate::setup::report::{Line, Reporter, Status};

/// The run stopped at a resource.
#[derive(Debug, thiserror::Error)]
#[error(
    "stopped at {kind} {id}: {}. Fix that and run setup again: what was done so far is recorded and will not be redone",
    .reason.trim_end_matches('.')
)]
pub struct Stopped {
    pub kind: String,
    pub id: String,
    pub reason: String,
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
    let units = resources::UnitStates::new(
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
    );
    let runtime = if dry_run {
        Vec::new()
    } else {
        prefetch(sys, plan, manifest, &units, dl, rep)?
    };
    let mut restart = Vec::new();
    let mut units_changed = false;
    let mut reloaded = false;
    let mut libraries_changed = false;
    for r in &plan.resources {
        if let Resource::File { path, .. } = r
            && let Some(check) = plan.flag_checks.iter().find(|c| c.env_file == *path)
        {
            check_flags(sys, check, dry_run, rep).map_err(|e| stopped(rep, r, e))?;
        }
        if matches!(r, Resource::Service { .. })
            && units_changed
            && !reloaded
            && !dry_run
            && sys.is_live()
        {
            reloaded = true;
            daemon_reload(sys, rep)?;
        }
        let stop = |rep: &mut Reporter, reason: String| stopped(rep, r, reason);
        // Shown so that the plan is whole; the run refuses after it.
        if let Resource::Unavailable { fix, .. } = r {
            rep.line(Line {
                status: Status::Failed,
                kind: r.kind().into(),
                id: r.id().into(),
                detail: Some(fix.clone()),
                diff: None,
            });
            continue;
        }
        let check =
            resources::check(sys, r, manifest, &units, dl).map_err(|e| stop(rep, e.what))?;
        let line = |status, detail, diff| Line {
            status,
            kind: r.kind().into(),
            id: r.id().into(),
            detail,
            diff,
        };
        match check {
            Check::Ok => rep.line(line(Status::Ok, None, None)),
            Check::Skipped(why) => rep.line(line(Status::Skipped, Some(why), None)),
            Check::Change { change, diff } => {
                let mut detail = resources::describe(&change);
                if !dry_run {
                    let note = match r {
                        Resource::Package {
                            name,
                            version,
                            hold_services,
                            hint,
                        } => install(
                            sys,
                            apt,
                            name,
                            version.as_deref(),
                            *hold_services,
                            manifest,
                            rep,
                        )
                        .map_err(|e| match hint {
                            Some(h)
                                if e.contains("apt knows no package")
                                    || e.contains("apt-get update failed") =>
                            {
                                stop(rep, format!("{}; {h}", e.trim_end_matches('.')))
                            }
                            _ => stop(rep, e),
                        })?,
                        Resource::Tarball { dir, .. } => {
                            libraries_changed = true;
                            let needs = runtime.iter().find(|n| n.dir == *dir);
                            tarball(
                                sys,
                                r,
                                &change,
                                needs,
                                manifest,
                                apt,
                                dl,
                                &plan.pins_file,
                                rep,
                            )
                            .map_err(|e| stop(rep, e))?
                        }
                        Resource::AptSource { .. }
                        | Resource::Deb { .. }
                        | Resource::Image { .. } => {
                            source(sys, r, &change, manifest, apt, dl, &plan.pins_file, rep)
                                .map_err(|e| stop(rep, e.what))?
                        }
                        _ => resources::apply(sys, r, &change, manifest)
                            .map_err(|e| stop(rep, e.what))?,
                    };
                    let note = if is_mesos_package(r) && sys.is_live() {
                        let runtime = mesos_runtime(sys, apt, &plan.mesos_runtime, manifest, rep)
                            .map_err(|e| stop(rep, e))?;
                        match (note, runtime) {
                            (Some(n), Some(r)) => Some(format!("{n}; {r}")),
                            (n, r) => n.or(r),
                        }
                    } else {
                        note
                    };
                    if let Some(note) = note {
                        detail = format!("{detail}; {note}");
                    }
                }
                // A proxy drop-in removed: systemd must forget it, the unit restart.
                if let Resource::Absent { path } = r
                    && let Some(unit) = crate::setup::plan::dropins::unit_of_dropin(path)
                {
                    units_changed = true;
                    let base = unit.strip_suffix(".service").unwrap_or(unit).to_owned();
                    if !restart.contains(&base) {
                        restart.push(base);
                    }
                }
                if let Resource::File { path, readers, .. } = r {
                    units_changed |= path.starts_with("/etc/systemd/system/");
                    libraries_changed |= path.starts_with("/etc/ld.so.conf.d/");
                    for s in readers {
                        if !restart.contains(s) {
                            restart.push(s.clone());
                        }
                    }
                }
                rep.line(line(
                    Status::Changed,
                    Some(detail),
                    if dry_run { diff } else { None },
                ));
            }
        }
        // The loader's cache, right after the entry for the tree (which
        // comes after the tree): the programs are asked for their flags next.
        if libraries_changed
            && matches!(r, Resource::File { path, .. } if path == crate::setup::plan::LD_CONF)
        {
            libraries_changed = false;
            ldconfig(sys, dry_run, rep)?;
        }
    }
    Ok(restart)
}

/// What a Mesos tarball's ELF files need, read before any change.
struct Needs {
    dir: String,
    /// Runtime packages to install first.
    packages: Vec<String>,
    tree: crate::setup::sources::libs::Tree,
}

/// A tarball, after the runtime packages its programs need; then every
/// library they need must be there (the operator's `packages=` included),
/// before the tree is put in place.
#[allow(clippy::too_many_arguments)]
fn tarball(
    sys: &System,
    r: &Resource,
    change: &Change,
    needs: Option<&Needs>,
    manifest: &mut Manifest,
    apt: &Apt,
    dl: &Downloads,
    pins: &Option<std::path::PathBuf>,
    rep: &mut Reporter,
) -> Result<Option<String>, String> {
    let packages = needs.map(|n| n.packages.as_slice()).unwrap_or_default();
    for p in packages {
        install(sys, apt, p, None, false, manifest, rep)?;
    }
    if let Some(n) = needs
        && sys.is_live()
    {
        let missing = crate::setup::sources::libs::unprovided(
            &n.tree,
            &crate::setup::sources::libs::system(sys),
        );
        if !missing.is_empty() {
            return Err(format!(
                "the Mesos tree still lacks {} once its packages are installed; name the package that provides {} in the source ('tgz:…,packages=P1+P2') and run setup again: the tree was not put in place",
                missing.join(", "),
                if missing.len() == 1 { "it" } else { "them" }
            ));
        }
    }
    let note = source(sys, r, change, manifest, apt, dl, pins, rep).map_err(|e| e.what)?;
    Ok(match (note, packages.is_empty()) {
        (n, true) => n,
        (n, false) => Some(format!(
            "{}runtime packages installed: {}",
            n.map(|n| format!("{n}; ")).unwrap_or_default(),
            packages.join(", ")
        )),
    })
}

/// A Mesos that comes as a package (from an apt repository or a .deb).
fn is_mesos_package(r: &Resource) -> bool {
    match r {
        Resource::Package { hold_services, .. } => *hold_services,
        Resource::Deb { component, .. } => component == "mesos",
        _ => false,
    }
}

/// Installs what a just-installed Mesos package needs but does not declare
/// (AVENTER's declares nothing; a real Mesos without libsvn or libevent
/// stops at "error while loading shared libraries"), from this release's
/// known packages, and refuses by soname what none provides: better now
/// than a daemon that never starts.
fn mesos_runtime(
    sys: &System,
    apt: &Apt,
    known: &BTreeMap<String, String>,
    manifest: &mut Manifest,
    rep: &mut Reporter,
) -> Result<Option<String>, String> {
    // The package's libmesos joins the loader's cache, whatever its
    // maintainer scripts did.
    if !sys.run("ldconfig", &[]).is_ok_and(|o| o.success) {
        return Err("ldconfig failed after the Mesos package was installed: run it by hand to see why, then setup again".into());
    }
    let tree = crate::setup::sources::libs::scan_installed(sys)
        .map_err(|e| format!("cannot read the installed Mesos programs: {e}"))?;
    let (packages, unprovided) = crate::setup::sources::libs::split_needs(
        &tree,
        &crate::setup::sources::libs::system(sys),
        known,
    );
    let refuse = |missing: &[String]| {
        format!(
            "the installed Mesos needs {} that no package of this system provides and setup knows no package for: install the package{} that provide{} {} (apt-get install …) and run setup again, or name {} in the source ('apt:…,packages=P1+P2')",
            missing.join(", "),
            if missing.len() == 1 { "" } else { "s" },
            if missing.len() == 1 { "s" } else { "" },
            if missing.len() == 1 { "it" } else { "them" },
            if missing.len() == 1 { "it" } else { "them" },
        )
    };
    if !unprovided.is_empty() {
        return Err(refuse(&unprovided));
    }
    if packages.is_empty() {
        return Ok(None);
    }
    for p in &packages {
        install(sys, apt, p, None, false, manifest, rep)?;
    }
    let missing =
        crate::setup::sources::libs::unprovided(&tree, &crate::setup::sources::libs::system(sys));
    if !missing.is_empty() {
        return Err(refuse(&missing));
    }
    Ok(Some(format!(
        "the libraries it needs but does not declare, from {}",
        packages.join(", ")
    )))
}

/// Rebuilds the loader's cache (ld.so.cache) so that the tree's libraries
/// are found by name; skipped where commands do not reach the root.
fn ldconfig(sys: &System, dry_run: bool, rep: &mut Reporter) -> Result<(), Stopped> {
    let mut line = Line {
        status: Status::Changed,
        kind: "ldconfig".into(),
        id: crate::setup::plan::LD_CONF.into(),
        detail: Some("the loader's cache rebuilt".into()),
        diff: None,
    };
    if dry_run || !sys.is_live() {
        line.status = Status::Skipped;
        line.detail = Some(if dry_run {
            "ldconfig would rebuild the loader's cache".into()
        } else {
            "not run under --root: run ldconfig on the node".into()
        });
        rep.line(line);
        return Ok(());
    }
    let failed = |reason: String| Stopped {
        kind: "ldconfig".into(),
        id: crate::setup::plan::LD_CONF.into(),
        reason,
    };
    let result = match sys.run("ldconfig", &[]) {
        Ok(out) if out.success => Ok(()),
        Ok(out) => Err(failed(format!("ldconfig failed: {}", out.stderr.trim()))),
        Err(e) => Err(failed(format!("cannot run ldconfig: {e}"))),
    };
    if let Err(e) = &result {
        line.status = Status::Failed;
        line.detail = Some(e.reason.clone());
    }
    rep.line(line);
    result
}

/// Extra flags against the program that reads them, before their file is
/// written (the program is there by now if this run installed it).
fn check_flags(
    sys: &System,
    check: &crate::setup::input::flags::FlagCheck,
    dry_run: bool,
    rep: &mut Reporter,
) -> Result<(), String> {
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
        None => Err(format!(
            "{} is not there to check the extra {} flags against: install Mesos (--mesos-source) or drop the flags",
            check.program,
            check.daemon.program()
        )),
    }
}

/// Applies what a package source puts on the node.
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
    units: &resources::UnitStates,
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
        let check = resources::check(sys, r, manifest, units, dl).map_err(|e| stop(rep, e.what))?;
        let Check::Change { change, .. } = check else {
            continue;
        };
        let fetched = match r {
            Resource::AptSource {
                key, fingerprints, ..
            } if matches!(change, Change::AptSource { key: true, .. }) => {
                artifacts::verified_key(sys, dl, key, fingerprints, manifest).map(drop)
            }
            Resource::Tarball {
                location,
                sha256,
                dir,
                libs,
                ..
            } => dl
                .get(sys, &resources::artifact(location, sha256), manifest)
                .and_then(|f| {
                    let Some(libs) = libs else { return Ok(()) };
                    let (packages, tree) = runnable(sys, &f.path, libs, location)?;
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
                .get(sys, &resources::artifact(location, sha256), manifest)
                .map(drop),
            Resource::Image {
                archive: Some(a), ..
            } => dl.get(sys, a, manifest).map(drop),
            _ => Ok(()),
        };
        fetched.map_err(|e| stop(rep, e.what))?;
    }
    Ok(runtime)
}

/// The packages a Mesos tarball's programs need installed, read from its
/// ELF files; the refusal names every library nothing provides.
fn runnable(
    sys: &System,
    file: &std::path::Path,
    libs: &crate::setup::sources::libs::Libs,
    location: &str,
) -> Result<(Vec<String>, crate::setup::sources::libs::Tree), ResourceError> {
    let tree = crate::setup::sources::libs::scan_tarball(file).map_err(|e| ResourceError {
        what: format!(
            "cannot read the ELF files of {location} ({}): {e}",
            file.display()
        ),
    })?;
    let system = crate::setup::sources::libs::system(sys);
    let packages =
        crate::setup::sources::libs::packages_for(&tree, &system, libs, &format!("tgz:{location}"))
            .map_err(|what| ResourceError { what })?;
    Ok((packages, tree))
}

#[allow(clippy::too_many_arguments)]
fn source(
    sys: &System,
    r: &Resource,
    change: &Change,
    manifest: &mut Manifest,
    apt: &Apt,
    dl: &Downloads,
    pins: &Option<std::path::PathBuf>,
    rep: &mut Reporter,
) -> Result<Option<String>, ResourceError> {
    match (r, change) {
        (
            Resource::AptSource {
                path,
                content,
                keyring,
                key,
                fingerprints,
                ..
            },
            Change::AptSource { key: new_key, list },
        ) => {
            if *new_key {
                artifacts::write_keyring(sys, dl, key, keyring, fingerprints, manifest)?;
            }
            if let Some(list) = list {
                let file = Resource::File {
                    path: path.clone(),
                    mode: 0o644,
                    content: content.clone(),
                    readers: vec![],
                };
                resources::apply(sys, &file, list, manifest)?;
            }
            apt.source_changed();
            Ok(None)
        }
        (
            Resource::Deb {
                location, sha256, ..
            },
            _,
        ) => artifacts::install_deb(
            sys,
            dl,
            apt,
            &resources::artifact(location, sha256),
            manifest,
            &mut |m| rep.warn(m),
        ),
        (
            Resource::Tarball {
                location,
                sha256,
                dir,
                ..
            },
            _,
        ) => artifacts::unpack_tarball(
            sys,
            dl,
            &resources::artifact(location, sha256),
            dir,
            manifest,
        ),
        (
            Resource::Image {
                image,
                archive,
                first_use,
            },
            _,
        ) => {
            let note = artifacts::load_image(sys, dl, image, archive.as_ref(), manifest)?;
            match (first_use, &pins) {
                (Some(name), Some(pins)) => {
                    crate::setup::apply::trust::pin_image(sys, name, image, pins, manifest, rep)
                        .map(Some)
                }
                _ => Ok(note),
            }
        }
        (r, c) => Err(ResourceError {
            what: format!("internal: no way to apply {c:?} to {} {}", r.kind(), r.id()),
        }),
    }
}

/// Records the package as setup's before apt runs, so that a run killed
/// half-way still leaves uninstall knowing it.
fn install(
    sys: &System,
    apt: &Apt,
    name: &str,
    version: Option<&str>,
    hold_services: bool,
    manifest: &mut Manifest,
    rep: &mut Reporter,
) -> Result<Option<String>, String> {
    if !manifest.packages.iter().any(|p| p == name) {
        manifest.packages.push(name.to_owned());
        manifest.save(sys).map_err(|e| e.to_string())?;
    }
    let held = if hold_services {
        crate::setup::apply::trust::PolicyRcD::hold(sys, manifest).map_err(|e| e.what)?
    } else {
        None
    };
    let result = packages::install(sys, apt, name, version, &mut |m| rep.warn(m)).map_err(|e| e.0);
    if let Some(h) = held {
        h.release(sys, manifest).map_err(|e| e.what)?;
    }
    result
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
