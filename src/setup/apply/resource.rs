//! One resource of the plan: which kind's module checks it, changes it and
//! describes the change. The kinds own the work; this only dispatches.

use crate::setup::apply::change::{Change, Check, ResourceError, artifact, err};
use crate::setup::apply::downloads::Downloads;
use crate::setup::apply::service::UnitStates;
use crate::setup::apply::tools::Tools;
use crate::setup::apply::{apt_source, binary, deb, file, image, package, service, tarball, znode};
use crate::setup::host::system::System;
use crate::setup::plan::Resource;
use crate::setup::record::Manifest;
use crate::setup::report::Reporter;

pub fn check(
    sys: &System,
    r: &Resource,
    manifest: &Manifest,
    units: &UnitStates,
    dl: &Downloads,
) -> Result<Check, ResourceError> {
    match r {
        Resource::AptSource {
            path,
            content,
            key,
            keyring,
            fingerprints,
            first_use,
            ..
        } => apt_source::check(
            sys,
            apt_source::Source {
                path,
                content,
                key,
                keyring,
                fingerprints,
            },
            first_use.as_deref(),
            manifest,
        ),
        Resource::Deb {
            location, sha256, ..
        } => deb::check_deb(sys, dl, &artifact(location, sha256)),
        Resource::Tarball {
            location,
            sha256,
            dir,
            ..
        } => tarball::check_tarball(sys, dl, &artifact(location, sha256), dir),
        Resource::Image { image, archive, .. } => image::check_image(sys, image, archive.as_ref()),
        Resource::Unavailable { fix, .. } => Ok(Check::Skipped(fix.clone())),
        Resource::File {
            path,
            mode,
            content,
            secret,
            ..
        } => file::check_file(sys, path, *mode, content, *secret, manifest),
        Resource::Dir { path, mode } => file::check_dir(sys, path, *mode),
        Resource::Link { path, target } => file::check_link(sys, path, target),
        Resource::Absent { path } => file::check_absent(sys, path, manifest),
        Resource::Package { name, version, .. } => package::check(sys, name, version.as_deref()),
        Resource::Executor { path, source } => binary::check(sys, path, source, manifest),
        Resource::Service { name, enabled } => service::check(sys, units, name, *enabled),
        Resource::Znode { .. } => znode::check(sys, &znode_of(r)),
    }
}

/// A znode resource's fields, for [`znode`].
fn znode_of(r: &Resource) -> znode::Znode<'_> {
    match r {
        Resource::Znode {
            path,
            hosts,
            user,
            password,
            acl,
            foreign,
            root_acl,
            start,
        } => znode::Znode {
            path,
            hosts,
            user,
            password,
            acl,
            foreign,
            root_acl: root_acl.as_deref(),
            start: start.as_deref(),
        },
        _ => unreachable!("znode_of is called with znodes only"),
    }
}

/// Makes the change `check` found. Returns extra words for the report (where
/// a backup went, what else was installed).
pub fn apply(
    sys: &System,
    r: &Resource,
    change: &Change,
    manifest: &mut Manifest,
    tools: &Tools,
    rep: &mut Reporter,
) -> Result<Option<String>, ResourceError> {
    match (r, change) {
        (Resource::Executor { path, source }, _) => {
            binary::apply(sys, path, source, change, manifest)
        }
        (Resource::Znode { .. }, Change::Znode(_)) => znode::apply(sys, &znode_of(r)),
        (
            Resource::File { .. }
            | Resource::Dir { .. }
            | Resource::Link { .. }
            | Resource::Absent { .. },
            _,
        ) => apply_file(sys, r, change, manifest),
        (Resource::Service { name, .. }, Change::Enable | Change::Disable) => {
            service::apply(sys, name, change, manifest)
        }
        (
            Resource::Package {
                name,
                version,
                hold_services,
                ..
            },
            _,
        ) => package::install(
            sys,
            tools.apt,
            name,
            version.as_deref(),
            *hold_services,
            manifest,
            rep,
        ),
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
        ) => apt_source::apply(
            sys,
            apt_source::Source {
                path,
                content,
                key,
                keyring,
                fingerprints,
            },
            *new_key,
            list.as_deref(),
            manifest,
            tools,
        ),
        (
            Resource::Deb {
                location, sha256, ..
            },
            _,
        ) => deb::install_deb(
            sys,
            tools.dl,
            tools.apt,
            &artifact(location, sha256),
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
        ) => tarball::unpack_tarball(sys, tools.dl, &artifact(location, sha256), dir, manifest),
        (
            Resource::Image {
                image,
                archive,
                first_use,
            },
            _,
        ) => image::apply(
            sys,
            image,
            archive.as_ref(),
            first_use.as_deref(),
            manifest,
            tools,
            rep,
        ),
        (r, c) => Err(err(format!(
            "internal: no way to apply {c:?} to {} {}",
            r.kind(),
            r.id()
        ))),
    }
}

/// A file, directory, link or absent file: [`file`] makes the change.
fn apply_file(
    sys: &System,
    r: &Resource,
    change: &Change,
    manifest: &mut Manifest,
) -> Result<Option<String>, ResourceError> {
    match (r, change) {
        (
            Resource::File {
                path,
                mode,
                content,
                ..
            },
            Change::CreateFile | Change::ReplaceFile { .. },
        ) => file::write(sys, path, *mode, content, change, manifest),
        (
            Resource::File {
                path,
                mode,
                content,
                ..
            },
            Change::Chmod { from },
        ) => file::chmod(sys, path, *mode, *from, Some(content), manifest),
        (Resource::Dir { path, mode }, Change::Chmod { from }) => {
            file::chmod(sys, path, *mode, *from, None, manifest)
        }
        (Resource::File { path, .. }, Change::Chown) => file::chown(sys, path),
        (Resource::Dir { path, mode }, Change::CreateDir) => {
            file::create_dir(sys, path, *mode, manifest)
        }
        (Resource::Link { path, target }, _) => file::link(sys, path, target, change, manifest),
        (Resource::Absent { path }, Change::Remove { foreign }) => {
            file::remove(sys, path, *foreign, manifest)
        }
        (r, c) => Err(err(format!(
            "internal: no way to apply {c:?} to {} {}",
            r.kind(),
            r.id()
        ))),
    }
}

/// One line on what a change is, for the report.
pub fn describe(change: &Change) -> String {
    match change {
        Change::CreateFile | Change::CreateDir | Change::CreateLink => "created".into(),
        Change::ReplaceFile { foreign: true, .. } => {
            "replaced (not what setup wrote last, so a copy is kept)".into()
        }
        Change::ReplaceFile { foreign: false, .. } => "updated".into(),
        Change::Chmod { from } => format!("mode was {from:04o}"),
        Change::Chown => "owner set to root".into(),
        Change::Relink { from } => format!("pointed away from {from}"),
        Change::ReplaceWithLink => "file replaced by a link (a copy is kept)".into(),
        Change::Remove { foreign: true } => "removed (a copy is kept)".into(),
        Change::Remove { foreign: false } => "removed".into(),
        Change::Enable => "enabled".into(),
        Change::Disable => "disabled".into(),
        Change::Install => "installed".into(),
        Change::AptSource { key, list } => match (key, list) {
            (true, Some(_)) => "signing key checked and written; source written".into(),
            (true, None) => "signing key checked and written".into(),
            (false, Some(c)) => format!("source {}", describe(c)),
            (false, None) => "unchanged".into(),
        },
        Change::Unpack => "unpacked".into(),
        Change::InstallBinary { .. } | Change::ReplaceBinary { .. } => {
            binary::describe(change).unwrap_or_default()
        }
        Change::Znode(fix) => znode::describe(fix),
    }
}
