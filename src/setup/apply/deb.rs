//! .deb files: downloaded (pinned), installed with apt, purged by uninstall
//! with the packages setup installed.

use crate::setup::apply::change::{Change, Check, ResourceError, offline};
use crate::setup::apply::downloads::Downloads;
use crate::setup::apt::packages::{self, Apt};
use crate::setup::host::system::System;
use crate::setup::record::Manifest;
use crate::setup::sources::Artifact;

pub fn check_deb(sys: &System, dl: &Downloads, a: &Artifact) -> Result<Check, ResourceError> {
    if !sys.is_live() {
        return Ok(offline(
            sys,
            format!("fetch {} and install it with apt-get", a.location),
        ));
    }
    let install = Check::Change {
        change: Change::Install,
        diff: None,
    };
    // Not fetched yet: it will be, to be installed.
    let Some(f) = dl.local(a)? else {
        return Ok(install);
    };
    let path = f.path.display().to_string();
    let (name, version) = packages::deb_fields(sys, &path).map_err(ResourceError::from)?;
    Ok(match packages::installed_version(sys, &name) {
        Some(v) if v == version => Check::Ok,
        _ => install,
    })
}

/// Records the package before apt runs, as for packages by name.
pub fn install_deb(
    sys: &System,
    dl: &Downloads,
    apt: &Apt,
    a: &Artifact,
    manifest: &mut Manifest,
    notify: &mut dyn FnMut(String),
) -> Result<Option<String>, ResourceError> {
    let f = dl.get(sys, a, manifest)?;
    let path = f.path.display().to_string();
    let (name, version) = packages::deb_fields(sys, &path).map_err(ResourceError::from)?;
    if packages::installed_version(sys, &name).is_none() && !manifest.packages.contains(&name) {
        manifest.packages.push(name.clone());
        manifest.save(sys).map_err(ResourceError::from)?;
    }
    let note = packages::install_file(sys, apt, &path, notify).map_err(ResourceError::from)?;
    let done = format!("{name} {version}");
    Ok(Some(match note {
        Some(n) => format!("{done}; {n}"),
        None => done,
    }))
}
