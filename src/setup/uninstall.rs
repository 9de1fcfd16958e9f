//! `mesos-docker uninstall`: undoes exactly what the manifest records, newest
//! first: files setup created are removed, files it replaced are restored
//! from their backups, modes and links put back, services returned to their
//! earlier enablement, directories it created removed when empty.

use std::fs;
use std::io::IsTerminal;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::setup::apply::resources;
use crate::setup::host::fsops;
use crate::setup::host::system::{HostRunner, System};
use crate::setup::input::options::OutputFormat;
use crate::setup::record::{self, Entry, Kind, Manifest, sha256_hex};
use crate::setup::report::{Line, Reporter, Status};

/// `mesos-docker uninstall`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct UninstallArgs {
    /// The root setup wrote under.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// Show what would be undone and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation (required without a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Report format: lines, or one JSON document.
    #[arg(long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

pub fn main(args: UninstallArgs) -> ExitCode {
    let sys = System::new(args.root.clone(), Box::new(HostRunner));
    if !args.yes && !args.dry_run {
        let asked = std::io::stdin().is_terminal()
            && std::io::stderr().is_terminal()
            && args.output == OutputFormat::Text;
        if !asked {
            eprintln!(
                "mesos-docker uninstall: this removes what setup wrote under {}; pass --yes to confirm (or --dry-run to see what it would do)",
                sys.root().display()
            );
            return ExitCode::from(crate::setup::report::EXIT_BAD_INPUT);
        }
        let go = dialoguer::Confirm::new()
            .with_prompt(format!(
                "Undo everything setup recorded under {}?",
                sys.root().display()
            ))
            .default(false)
            .interact()
            .unwrap_or(false);
        if !go {
            eprintln!("mesos-docker uninstall: nothing was changed");
            return ExitCode::from(crate::setup::report::EXIT_BAD_INPUT);
        }
    }
    if sys.is_real_root() && !args.dry_run && !nix::unistd::geteuid().is_root() {
        eprintln!(
            "mesos-docker uninstall: undoing setup under / needs root: run it with sudo, or --dry-run to only look"
        );
        return ExitCode::from(crate::setup::report::EXIT_BAD_INPUT);
    }
    run(
        &sys,
        args.dry_run,
        Reporter::stdout(args.output, "uninstall", args.dry_run),
    )
}

pub fn run(sys: &System, dry_run: bool, mut rep: Reporter) -> ExitCode {
    let _lock = if dry_run {
        None
    } else {
        match fsops::lock_root(sys.root()) {
            Ok(l) => Some(l),
            Err(e) => {
                eprintln!("mesos-docker uninstall: {e}");
                return ExitCode::FAILURE;
            }
        }
    };
    let mut m = match Manifest::load(sys) {
        Ok(Some(m)) => m,
        Ok(None) => {
            eprintln!(
                "mesos-docker uninstall: nothing to undo: there is no record at {}",
                sys.path(record::PATH).display()
            );
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("mesos-docker uninstall: {e}");
            return ExitCode::FAILURE;
        }
    };
    rep.start(m.entries.len() + m.services.len() + m.packages.len() + m.images.len());
    let failed = undo_all(sys, &mut m, dry_run, &mut rep).err();
    let code = if failed.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    };
    let msg = failed.map(|f| {
        format!("{f}; fix that and run uninstall again: the record keeps what is left to undo")
    });
    rep.finish(&[], msg.as_deref());
    code
}

/// Services first, then files newest first, then images and packages
/// (purged once the files setup put over the packages' own are back). The
/// record is saved after each step and goes last, with its own directories:
/// whatever fails is still recorded, so a re-run finishes the job.
fn undo_all(
    sys: &System,
    m: &mut Manifest,
    dry_run: bool,
    rep: &mut Reporter,
) -> Result<(), String> {
    let save = |m: &mut Manifest| {
        if dry_run {
            Ok(())
        } else {
            m.save(sys).map_err(|e| e.to_string())
        }
    };
    undo_services(sys, m, dry_run, rep)?;
    let is_record_dir = |e: &Entry| {
        e.kind == Kind::Dir && e.created && Path::new(record::PATH).starts_with(&e.path)
    };
    let record_dirs: Vec<Entry> = m
        .entries
        .iter()
        .filter(|e| is_record_dir(e))
        .cloned()
        .collect();
    // The loader forgets the Mesos tree's libraries with its entry.
    let ld_entry = m
        .entries
        .iter()
        .any(|e| e.path.starts_with("/etc/ld.so.conf.d/"));
    for e in m.entries.clone().iter().rev().filter(|e| !is_record_dir(e)) {
        undo_reported(sys, e, dry_run, rep)?;
        m.entries.retain(|x| x.path != e.path);
        save(m)?;
    }
    if ld_entry && !dry_run && sys.is_live() {
        ldconfig(sys, rep)?;
    }
    remove_images(sys, m, dry_run, rep, &save)?;
    purge(sys, m, dry_run, rep, &save)?;
    if !dry_run && (!m.images.is_empty() || !m.packages.is_empty()) {
        // An offline root: the host itself must still purge them.
        rep.warn(format!(
            "the record {} keeps what only the host itself can remove: run uninstall there",
            sys.path(record::PATH).display()
        ));
        return Ok(());
    }
    if !dry_run {
        Manifest::remove(sys).map_err(|e| format!("cannot remove the record: {e}"))?;
    }
    for e in record_dirs.iter().rev() {
        undo_reported(sys, e, dry_run, rep)?;
    }
    Ok(())
}

/// Rebuilds the loader's cache once the tree's ld.so.conf.d entry is gone.
fn ldconfig(sys: &System, rep: &mut Reporter) -> Result<(), String> {
    let ok = sys.run("ldconfig", &[]).is_ok_and(|o| o.success);
    let detail = if ok {
        "the loader's cache rebuilt"
    } else {
        "ldconfig failed: run it by hand"
    };
    rep.line(Line {
        status: if ok { Status::Changed } else { Status::Failed },
        kind: "ldconfig".into(),
        id: "/etc/ld.so.cache".into(),
        detail: Some(detail.into()),
        diff: None,
    });
    if ok { Ok(()) } else { Err(detail.into()) }
}

/// Services back to their enablement before setup, newest first.
fn undo_services(
    sys: &System,
    m: &mut Manifest,
    dry_run: bool,
    rep: &mut Reporter,
) -> Result<(), String> {
    for s in m.services.clone().iter().rev() {
        let line = |status, detail: String| Line {
            status,
            kind: "service".into(),
            id: s.name.clone(),
            detail: Some(detail),
            diff: None,
        };
        let result = resources::unit_state(sys, &s.name).and_then(|state| {
            let now = state == resources::UnitState::Enabled;
            if now == s.was_enabled {
                Ok(false)
            } else if dry_run {
                Ok(true)
            } else {
                resources::set_enabled(sys, &s.name, s.was_enabled)?;
                // A unit setup enabled was started by setup too: disabled
                // alone it would run on until the next boot, holding its
                // ports and the images it runs.
                if !s.was_enabled && sys.is_live() && resources::is_active(sys, &s.name) {
                    resources::stop(sys, &s.name)?;
                }
                Ok(true)
            }
        });
        let state = if s.was_enabled { "enabled" } else { "disabled" };
        match result {
            Ok(true) => rep.line(line(Status::Changed, format!("{state} again"))),
            Ok(false) => rep.line(line(Status::Ok, format!("already {state}"))),
            Err(e) => {
                rep.line(line(Status::Failed, e.what.clone()));
                return Err(e.what);
            }
        }
        if !dry_run {
            m.services.retain(|x| x.name != s.name);
            m.save(sys).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// Undoes one entry and reports it.
fn undo_reported(sys: &System, e: &Entry, dry_run: bool, rep: &mut Reporter) -> Result<(), String> {
    let (status, detail) = match undo(sys, e, dry_run) {
        Ok(u) => u,
        Err(why) => (Status::Failed, why),
    };
    let failed = (status == Status::Failed).then(|| detail.clone());
    rep.line(Line {
        status,
        kind: kind_name(e.kind).into(),
        id: e.path.clone(),
        detail: Some(detail),
        diff: None,
    });
    failed.map_or(Ok(()), Err)
}

/// Purges the packages setup installed (Docker only when setup installed it:
/// one that was there before is never recorded), dropping them from the
/// record once apt has. On a root that is not the running system, only says
/// so and keeps them recorded.
fn purge(
    sys: &System,
    m: &mut Manifest,
    dry_run: bool,
    rep: &mut Reporter,
    save: &dyn Fn(&mut Manifest) -> Result<(), String>,
) -> Result<(), String> {
    let packages = m.packages.clone();
    let installed: Vec<String> = packages
        .iter()
        .filter(|p| crate::setup::apt::packages::installed_version(sys, p).is_some())
        .cloned()
        .collect();
    let line = |status, id: &str, detail: &str| Line {
        status,
        kind: "package".into(),
        id: id.to_owned(),
        detail: Some(detail.to_owned()),
        diff: None,
    };
    for p in packages.iter().filter(|p| !installed.contains(p)) {
        rep.line(line(Status::Ok, p, "not installed"));
    }
    if installed.is_empty() {
        m.packages.clear();
        return save(m);
    }
    if dry_run || !sys.is_live() {
        let what = if dry_run {
            "would be purged"
        } else {
            "installed by setup; purge it on the host itself (apt-get purge)"
        };
        for p in &installed {
            rep.line(line(Status::Skipped, p, what));
        }
        m.packages = installed;
        return save(m);
    }
    let apt = crate::setup::apt::packages::Apt::new(std::time::Duration::from_secs(300));
    match crate::setup::apt::packages::purge(sys, &apt, &installed) {
        Ok(()) => {
            for p in &installed {
                rep.line(line(Status::Changed, p, "purged (setup installed it)"));
            }
            m.packages.clear();
            save(m)
        }
        Err(e) => {
            for p in &installed {
                rep.line(line(Status::Failed, p, &e.0));
            }
            m.packages = installed;
            save(m)?;
            Err(e.0)
        }
    }
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::File => "file",
        Kind::Dir => "dir",
        Kind::Link => "link",
        Kind::Tree => "tree",
    }
}

/// Undoes one entry; returns the status and what was done.
fn undo(sys: &System, e: &Entry, dry_run: bool) -> Result<(Status, String), String> {
    let p = sys.path(&e.path);
    let io = |what: &str, err: std::io::Error| format!("cannot {what} {}: {err}", p.display());
    let present = fs::symlink_metadata(&p).is_ok();
    let change = |what: String| Ok((Status::Changed, what));
    match e.kind {
        Kind::File | Kind::Link => {
            if let Some(bak) = &e.backup {
                if dry_run {
                    return change(format!("would restore from {bak}"));
                }
                fs::rename(sys.path(bak), &p).map_err(|err| io("restore", err))?;
                return change(format!("restored from {bak}"));
            }
            if let Some(before) = &e.target_before {
                if dry_run {
                    return change(format!("would point back at {before}"));
                }
                fsops::link_atomic(&p, before).map_err(|err| io("relink", err))?;
                return change(format!("points at {before} again"));
            }
            if e.created {
                if !present {
                    return Ok((Status::Ok, "already gone".into()));
                }
                // A hand edit since setup is the operator's: keep a copy.
                let drifted = e.kind == Kind::File
                    && fs::read(&p).is_ok_and(|now| Some(sha256_hex(&now)) != e.sha256);
                if dry_run {
                    return change("would remove".into());
                }
                if drifted {
                    let now = fs::read(&p).map_err(|err| io("read", err))?;
                    let bak = fsops::backup_path(&p, &now);
                    fs::rename(&p, &bak).map_err(|err| io("move aside", err))?;
                    return change(format!(
                        "removed; it had been edited, the edit is kept as {}",
                        bak.display()
                    ));
                }
                fs::remove_file(&p).map_err(|err| io("remove", err))?;
                return change("removed".into());
            }
            restore_mode(&p, e, dry_run).map_err(|err| io("chmod", err))
        }
        Kind::Dir => {
            if e.created {
                if !present {
                    return Ok((Status::Ok, "already gone".into()));
                }
                let empty = fs::read_dir(&p)
                    .map(|mut d| d.next().is_none())
                    .unwrap_or(false);
                if !empty && !dry_run {
                    return Ok((
                        Status::Skipped,
                        "left in place: it holds files setup did not write".into(),
                    ));
                }
                if dry_run {
                    return change("would remove if empty".into());
                }
                fs::remove_dir(&p).map_err(|err| io("remove", err))?;
                return change("removed".into());
            }
            restore_mode(&p, e, dry_run).map_err(|err| io("chmod", err))
        }
        // Only ever recorded as created: setup unpacked or filled all of it.
        Kind::Tree => {
            if !present {
                return Ok((Status::Ok, "already gone".into()));
            }
            if dry_run {
                return change("would remove with its contents".into());
            }
            fs::remove_dir_all(&p).map_err(|err| io("remove", err))?;
            change("removed with its contents".into())
        }
    }
}

/// Removes the Docker images setup loaded or pulled (running containers
/// keep theirs: `docker rmi` refuses an image in use, which is reported),
/// each dropped from the record once it is gone.
fn remove_images(
    sys: &System,
    m: &mut Manifest,
    dry_run: bool,
    rep: &mut Reporter,
    save: &dyn Fn(&mut Manifest) -> Result<(), String>,
) -> Result<(), String> {
    for image in m.images.clone() {
        let line = |status, detail: String| Line {
            status,
            kind: "image".into(),
            id: image.clone(),
            detail: Some(detail),
            diff: None,
        };
        if dry_run || !sys.is_live() {
            let what = if dry_run {
                "would be removed (docker rmi)"
            } else {
                "loaded by setup; remove it on the host itself (docker rmi)"
            };
            rep.line(line(Status::Skipped, what.into()));
            continue;
        }
        match sys.run("docker", &["rmi", &image]) {
            Ok(out) if out.success => {
                rep.line(line(Status::Changed, "removed (docker rmi)".into()))
            }
            Ok(out) if out.stderr.contains("No such image") => {
                rep.line(line(Status::Ok, "already gone".into()))
            }
            Ok(out) => {
                let why = format!(
                    "docker rmi {image} failed: {} (an image a container still uses stays until the container is removed)",
                    out.stderr.trim()
                );
                rep.line(line(Status::Failed, why.clone()));
                return Err(why);
            }
            Err(e) => {
                let why = format!("cannot run docker rmi {image}: {e}");
                rep.line(line(Status::Failed, why.clone()));
                return Err(why);
            }
        }
        m.images.retain(|i| *i != image);
        save(m)?;
    }
    Ok(())
}

fn restore_mode(p: &Path, e: &Entry, dry_run: bool) -> std::io::Result<(Status, String)> {
    match e.mode_before {
        Some(mode) if !dry_run => {
            fs::set_permissions(p, fs::Permissions::from_mode(mode))?;
            Ok((Status::Changed, format!("mode {mode:04o} again")))
        }
        Some(mode) => Ok((Status::Changed, format!("would set mode {mode:04o} again"))),
        None => Ok((Status::Ok, "nothing to undo".into())),
    }
}
