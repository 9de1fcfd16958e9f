//! `mesos-docker uninstall`: undoes exactly what the manifest records, newest
//! first: files setup created are removed, files it replaced are restored
//! from their backups, modes and links put back, services returned to their
//! earlier enablement, directories it created removed when empty.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::setup::apply::change::ResourceError;
use crate::setup::apply::{file, image, package, service, tarball};
use crate::setup::host::fsops;
use crate::setup::host::system::{HostRunner, System};
use crate::setup::input::model::OutputFormat;
use crate::setup::record::{self, Entry, Kind, Manifest, ManifestError};
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
            eprintln!("mesos-docker uninstall: {}", crate::error_chain(&e));
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
        format!(
            "{}; fix that and run uninstall again: the record keeps what is left to undo",
            crate::error_chain(&f)
        )
    });
    rep.finish(&[], msg.as_deref());
    code
}

/// Why uninstall stopped; the operator sees it through
/// [`crate::error_chain`].
#[derive(Debug, thiserror::Error)]
enum UninstallError {
    #[error(transparent)]
    Undo(#[from] ResourceError),
    #[error(transparent)]
    Record(#[from] ManifestError),
    #[error("cannot remove the record")]
    RemoveRecord(#[source] std::io::Error),
    #[error("ldconfig failed: run it by hand")]
    Ldconfig,
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
) -> Result<(), UninstallError> {
    let save = |m: &mut Manifest| if dry_run { Ok(()) } else { m.save(sys) };
    service::undo(sys, m, dry_run, rep)?;
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
    image::undo(sys, m, dry_run, rep, &save)?;
    package::undo(sys, m, dry_run, rep, &save)?;
    if !dry_run && (!m.images.is_empty() || !m.packages.is_empty()) {
        // An offline root: the host itself must still purge them.
        rep.warn(format!(
            "the record {} keeps what only the host itself can remove: run uninstall there",
            sys.path(record::PATH).display()
        ));
        return Ok(());
    }
    if !dry_run {
        Manifest::remove(sys).map_err(UninstallError::RemoveRecord)?;
    }
    for e in record_dirs.iter().rev() {
        undo_reported(sys, e, dry_run, rep)?;
    }
    Ok(())
}

/// Rebuilds the loader's cache once the tree's ld.so.conf.d entry is gone.
fn ldconfig(sys: &System, rep: &mut Reporter) -> Result<(), UninstallError> {
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
    if ok {
        Ok(())
    } else {
        Err(UninstallError::Ldconfig)
    }
}

/// Undoes one entry and reports it.
fn undo_reported(
    sys: &System,
    e: &Entry,
    dry_run: bool,
    rep: &mut Reporter,
) -> Result<(), ResourceError> {
    let (result, status, detail) = match undo(sys, e, dry_run) {
        Ok((status, detail)) => (Ok(()), status, detail),
        Err(why) => {
            let detail = crate::error_chain(&why);
            (Err(why), Status::Failed, detail)
        }
    };
    rep.line(Line {
        status,
        kind: kind_name(e.kind).into(),
        id: e.path.clone(),
        detail: Some(detail),
        diff: None,
    });
    result
}

/// Undoes one entry by the kind of thing it records; returns the status and
/// what was done.
fn undo(sys: &System, e: &Entry, dry_run: bool) -> Result<(Status, String), ResourceError> {
    match e.kind {
        Kind::File | Kind::Link => file::undo_file(sys, e, dry_run),
        Kind::Dir => file::undo_dir(sys, e, dry_run),
        Kind::Tree => tarball::undo(&sys.path(&e.path), dry_run),
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
