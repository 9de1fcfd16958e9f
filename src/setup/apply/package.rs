//! Packages by name: installed with apt on the running system (recorded
//! first, so a run killed half-way still leaves uninstall knowing them),
//! purged by uninstall when setup installed them.

use crate::setup::apply::change::{Change, Check, ResourceError};
use crate::setup::apt::packages::{self, Apt};
use crate::setup::host::system::System;
use crate::setup::record::{Manifest, ManifestError};
use crate::setup::report::{Line, Reporter, Status};

pub fn check(sys: &System, name: &str, version: Option<&str>) -> Result<Check, ResourceError> {
    let spec = packages::spec(name, version);
    match packages::installed_version(sys, name) {
        Some(v) if version.is_none_or(|want| want == v) => Ok(Check::Ok),
        // Packages are installed only on the running system, never
        // into a root that no apt of its own manages here.
        _ if !sys.is_live() => Ok(Check::Skipped(format!(
            "not installed: a run on the host itself would install it with apt-get install -y --no-install-recommends {spec}"
        ))),
        _ => Ok(Check::Change {
            change: Change::Install,
            diff: None,
        }),
    }
}

/// Records the package as setup's before apt runs, so that a run killed
/// half-way still leaves uninstall knowing it.
pub fn install(
    sys: &System,
    apt: &Apt,
    name: &str,
    version: Option<&str>,
    hold_services: bool,
    manifest: &mut Manifest,
    rep: &mut Reporter,
) -> Result<Option<String>, ResourceError> {
    if !manifest.packages.iter().any(|p| p == name) {
        manifest.packages.push(name.to_owned());
        manifest.save(sys)?;
    }
    let held = if hold_services {
        crate::setup::apply::trust::PolicyRcD::hold(sys, manifest)?
    } else {
        None
    };
    let result =
        crate::setup::apt::packages::install(sys, apt, name, version, &mut |m| rep.warn(m));
    if let Some(h) = held {
        h.release(sys, manifest)?;
    }
    Ok(result?)
}

/// Purges the packages setup installed (Docker only when setup installed it:
/// one that was there before is never recorded), dropping them from the
/// record once apt has. On a root that is not the running system, only says
/// so and keeps them recorded.
pub fn undo(
    sys: &System,
    m: &mut Manifest,
    dry_run: bool,
    rep: &mut Reporter,
    save: &dyn Fn(&mut Manifest) -> Result<(), ManifestError>,
) -> Result<(), ResourceError> {
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
        return Ok(save(m)?);
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
        return Ok(save(m)?);
    }
    let apt = crate::setup::apt::packages::Apt::new(std::time::Duration::from_secs(300));
    match crate::setup::apt::packages::purge(sys, &apt, &installed) {
        Ok(()) => {
            for p in &installed {
                rep.line(line(Status::Changed, p, "purged (setup installed it)"));
            }
            m.packages.clear();
            Ok(save(m)?)
        }
        Err(e) => {
            for p in &installed {
                rep.line(line(Status::Failed, p, &crate::error_chain(&e)));
            }
            m.packages = installed;
            save(m)?;
            Err(e.into())
        }
    }
}
