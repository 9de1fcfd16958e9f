//! Tarballs: unpacked beside their target, flushed, renamed into place and
//! pointed at by `current`; uninstall removes the tree whole.

use std::fs;
use std::path::Path;

use crate::setup::apply::change::{Change, Check, ResourceError, blank, ensure_parents, io_err};
use crate::setup::apply::downloads::Downloads;
use crate::setup::host::fsops;
use crate::setup::host::system::System;
use crate::setup::record::{Entry, Kind, Manifest};
use crate::setup::report::Status;
use crate::setup::sources::Artifact;

/// The directory a tarball with this digest unpacks to, relative to its
/// component's directory (and so what `current` points at).
fn version_dir(sha256: &str) -> String {
    sha256[..12].to_owned()
}

pub fn check_tarball(
    sys: &System,
    dl: &Downloads,
    a: &Artifact,
    dir: &str,
) -> Result<Check, ResourceError> {
    let unpack = Check::Change {
        change: Change::Unpack,
        diff: None,
    };
    let sha = match &a.sha256 {
        Some(s) => s.clone(),
        None => match dl.local(a)? {
            Some(f) => f.sha256,
            None => return Ok(unpack),
        },
    };
    let want = version_dir(&sha);
    let current = fs::read_link(sys.path(&format!("{dir}/current"))).ok();
    if sys.path(&format!("{dir}/{want}")).is_dir() && current.as_deref() == Some(Path::new(&want)) {
        return Ok(Check::Ok);
    }
    Ok(unpack)
}

/// Unpacks into a temporary directory beside the target, flushes it to
/// disk, renames it into place, then points `current` at it: a reader (or a
/// boot after a crash) sees the old tree or the new one, never half of one.
pub fn unpack_tarball(
    sys: &System,
    dl: &Downloads,
    a: &Artifact,
    dir: &str,
    manifest: &mut Manifest,
) -> Result<Option<String>, ResourceError> {
    let f = dl.get(sys, a, manifest)?;
    let name = version_dir(&f.sha256);
    let target_host = format!("{dir}/{name}");
    let current_host = format!("{dir}/current");
    ensure_parents(sys, &current_host, manifest)?;
    let target = sys.path(&target_host);
    if !target.is_dir() {
        manifest.record(Entry {
            created: true,
            ..blank(&target_host, Kind::Tree)
        });
    }
    manifest.save(sys).map_err(ResourceError::from)?;
    if !target.is_dir() {
        // One name, so a run killed half-way leaves nothing a re-run keeps.
        let tmp = sys.path(&format!("{dir}/.{name}.tmp"));
        let _ = fs::remove_dir_all(&tmp);
        if let Err(e) = unpack(&f.path, &tmp) {
            let _ = fs::remove_dir_all(&tmp);
            return Err(ResourceError::Advised {
                action: format!("cannot unpack {} ({})", a.location, f.path.display()),
                cause: e,
                fix: "nothing was installed",
            });
        }
        fs::rename(&tmp, &target)
            .and_then(|()| fs::File::open(sys.path(dir))?.sync_all())
            .map_err(|source| ResourceError::Op {
                what: format!("cannot move {} into place", tmp.display()),
                source,
            })?;
    }
    let link = sys.path(&current_host);
    let before = fs::read_link(&link).ok();
    manifest.record(Entry {
        created: before.is_none() && manifest.entry(&current_host).is_none(),
        target: Some(name.clone()),
        target_before: before
            .as_ref()
            .filter(|_| manifest.entry(&current_host).is_none())
            .map(|b| b.to_string_lossy().into_owned()),
        ..blank(&current_host, Kind::Link)
    });
    manifest.save(sys).map_err(ResourceError::from)?;
    fsops::link_atomic(&link, &name).map_err(|e| io_err("cannot link", &link, e))?;
    Ok(Some(format!("{current_host} -> {name}")))
}

fn unpack(file: &Path, into: &Path) -> std::io::Result<()> {
    use std::io::Read;
    let mut head = [0u8; 2];
    fs::File::open(file)?.read_exact(&mut head)?;
    let f = fs::File::open(file)?;
    // Every member: a gzip file may be several concatenated (pigz, a
    // `cat a.gz b.gz`), and GzDecoder stops after the first.
    let reader: Box<dyn Read> = if head == [0x1f, 0x8b] {
        Box::new(flate2::read::MultiGzDecoder::new(f))
    } else {
        Box::new(f)
    };
    fs::create_dir_all(into)?;
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    // Entries reaching outside `into` (.., absolute links) are refused by
    // `unpack`, so a hostile tarball cannot write elsewhere.
    archive.unpack(into)?;
    fsops::create_dir(into, 0o755)?;
    fsops::sync_tree(into)
}

/// Undoes a tree setup unpacked or filled (only ever recorded as created):
/// removed with its contents.
pub fn undo(p: &Path, dry_run: bool) -> Result<(Status, String), ResourceError> {
    if fs::symlink_metadata(p).is_err() {
        return Ok((Status::Ok, "already gone".into()));
    }
    if dry_run {
        return Ok((Status::Changed, "would remove with its contents".into()));
    }
    fs::remove_dir_all(p).map_err(|err| io_err("cannot remove", p, err))?;
    Ok((Status::Changed, "removed with its contents".into()))
}
