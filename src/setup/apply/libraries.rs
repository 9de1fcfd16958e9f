//! The libraries a Mesos build needs at run time: a tarball's ELF files are
//! read before any change and the packages that provide what the system
//! lacks installed first; a Mesos package that declares nothing gets them
//! after its install; the loader's cache is rebuilt for a tree. What no
//! package provides is refused by soname before a daemon starts.

use std::collections::BTreeMap;

use crate::setup::apply::change::Stopped;
use crate::setup::apply::change::{Change, ResourceError, err};
use crate::setup::apply::package::install;
use crate::setup::apply::resource;
use crate::setup::apply::tools::Tools;
use crate::setup::apt::packages::Apt;
use crate::setup::host::system::System;
use crate::setup::plan::Resource;
use crate::setup::record::Manifest;
use crate::setup::report::{Line, Reporter, Status};

/// What a Mesos tarball's ELF files need, read before any change.
pub struct Needs {
    pub dir: String,
    /// Runtime packages to install first.
    pub packages: Vec<String>,
    pub tree: crate::setup::sources::libs::Tree,
}

/// A tarball, after the runtime packages its programs need; then every
/// library they need must be there (the operator's `packages=` included),
/// before the tree is put in place.
pub fn tarball(
    sys: &System,
    r: &Resource,
    change: &Change,
    needs: Option<&Needs>,
    manifest: &mut Manifest,
    tools: &Tools,
    rep: &mut Reporter,
) -> Result<Option<String>, ResourceError> {
    let packages = needs.map(|n| n.packages.as_slice()).unwrap_or_default();
    for p in packages {
        install(sys, tools.apt, p, None, false, manifest, rep)?;
    }
    if let Some(n) = needs
        && sys.is_live()
    {
        let missing = crate::setup::sources::libs::unprovided(
            &n.tree,
            &crate::setup::sources::libs::system(sys),
        );
        if !missing.is_empty() {
            return Err(err(format!(
                "the Mesos tree still lacks {} once its packages are installed; name the package that provides {} in the source ('tgz:…,packages=P1+P2') and run setup again: the tree was not put in place",
                missing.join(", "),
                if missing.len() == 1 { "it" } else { "them" }
            )));
        }
    }
    let note = resource::apply(sys, r, change, manifest, tools, rep)?;
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
pub fn is_mesos_package(r: &Resource) -> bool {
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
pub fn mesos_runtime(
    sys: &System,
    apt: &Apt,
    known: &BTreeMap<String, String>,
    manifest: &mut Manifest,
    rep: &mut Reporter,
) -> Result<Option<String>, ResourceError> {
    // The package's libmesos joins the loader's cache, whatever its
    // maintainer scripts did.
    if !sys.run("ldconfig", &[]).is_ok_and(|o| o.success) {
        return Err(err(
            "ldconfig failed after the Mesos package was installed: run it by hand to see why, then setup again",
        ));
    }
    let tree = crate::setup::sources::libs::scan_installed(sys).map_err(ResourceError::Programs)?;
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
        return Err(err(refuse(&unprovided)));
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
        return Err(err(refuse(&missing)));
    }
    Ok(Some(format!(
        "the libraries it needs but does not declare, from {}",
        packages.join(", ")
    )))
}

/// Rebuilds the loader's cache (ld.so.cache) so that the tree's libraries
/// are found by name; skipped where commands do not reach the root.
pub fn ldconfig(sys: &System, dry_run: bool, rep: &mut Reporter) -> Result<(), Stopped> {
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

/// The packages a Mesos tarball's programs need installed, read from its
/// ELF files; the refusal names every library nothing provides.
pub fn runnable(
    sys: &System,
    file: &std::path::Path,
    libs: &crate::setup::sources::libs::Libs,
    location: &str,
) -> Result<(Vec<String>, crate::setup::sources::libs::Tree), ResourceError> {
    let tree =
        crate::setup::sources::libs::scan_tarball(file).map_err(|source| ResourceError::Elf {
            location: location.to_owned(),
            file: file.to_path_buf(),
            source,
        })?;
    let system = crate::setup::sources::libs::system(sys);
    let packages =
        crate::setup::sources::libs::packages_for(&tree, &system, libs, &format!("tgz:{location}"))
            .map_err(ResourceError::Refused)?;
    Ok((packages, tree))
}
