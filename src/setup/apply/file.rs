//! Files, directories and links setup writes (and files it removes): each
//! checked against what is on disk and the record, changed atomically
//! after the change is recorded (a foreign file is backed up first), and
//! undone from the record by uninstall.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::setup::apply::change::{
    Change, Check, Old, ResourceError, blank, ensure_parents, err, host_path, io_err,
    mode_and_owner, save, shown_diff,
};
use crate::setup::host::fsops;
use crate::setup::host::system::System;
use crate::setup::record::{Entry, Kind, Manifest, sha256_hex};
use crate::setup::report::Status;

/// Whether the record says setup wrote exactly these bytes last.
fn ours(manifest: &Manifest, path: &str, bytes: &[u8]) -> bool {
    manifest
        .entry(path)
        .and_then(|e| e.sha256.as_deref())
        .is_some_and(|sha| sha == sha256_hex(bytes))
}

/// Whether a file on disk that setup removes keeps its content out of the
/// diff: one others may not read (a secret setup no longer writes, the
/// executor key where the agent lost executor authentication).
fn private(mode: u32) -> bool {
    mode & 0o004 == 0
}

pub fn check_file(
    sys: &System,
    path: &str,
    mode: u32,
    content: &str,
    secret: bool,
    manifest: &Manifest,
) -> Result<Check, ResourceError> {
    let p = sys.path(path);
    let meta = match fs::metadata(&p) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(Check::Change {
                change: Change::CreateFile,
                diff: Some(shown_diff(path, b"", content, secret)),
            });
        }
        Err(e) => return Err(io_err("cannot inspect", &p, e)),
        Ok(m) => m,
    };
    if !meta.is_file() {
        return Err(err(format!(
            "{} exists and is not a regular file; move it away and run setup again",
            p.display()
        )));
    }
    let old = fs::read(&p).map_err(|e| io_err("cannot read", &p, e))?;
    if old != content.as_bytes() {
        let foreign = !ours(manifest, path, &old);
        return Ok(Check::Change {
            diff: Some(shown_diff(path, &old, content, secret)),
            change: Change::ReplaceFile {
                old: Old(old),
                foreign,
            },
        });
    }
    Ok(mode_and_owner(&meta, mode))
}

pub fn check_dir(sys: &System, path: &str, mode: u32) -> Result<Check, ResourceError> {
    let p = sys.path(path);
    match fs::metadata(&p) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Check::Change {
            change: Change::CreateDir,
            diff: None,
        }),
        Err(e) => Err(io_err("cannot inspect", &p, e)),
        Ok(m) if !m.is_dir() => Err(err(format!(
            "{} exists and is not a directory; move it away and run setup again",
            p.display()
        ))),
        Ok(m) if m.permissions().mode() & 0o7777 != mode => Ok(Check::Change {
            change: Change::Chmod {
                from: m.permissions().mode() & 0o7777,
            },
            diff: None,
        }),
        Ok(_) => Ok(Check::Ok),
    }
}

pub fn check_link(sys: &System, path: &str, target: &str) -> Result<Check, ResourceError> {
    let p = sys.path(path);
    match fs::symlink_metadata(&p) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Check::Change {
            change: Change::CreateLink,
            diff: None,
        }),
        Err(e) => Err(io_err("cannot inspect", &p, e)),
        Ok(m) if m.file_type().is_symlink() => {
            let now = fs::read_link(&p).map_err(|e| io_err("cannot read", &p, e))?;
            if now == Path::new(target) {
                Ok(Check::Ok)
            } else {
                Ok(Check::Change {
                    change: Change::Relink {
                        from: now.to_string_lossy().into_owned(),
                    },
                    diff: None,
                })
            }
        }
        Ok(m) if m.is_file() => Ok(Check::Change {
            change: Change::ReplaceWithLink,
            diff: None,
        }),
        Ok(_) => Err(err(format!(
            "{} exists and is neither a file nor a link; move it away and run setup again",
            p.display()
        ))),
    }
}

pub fn check_absent(sys: &System, path: &str, manifest: &Manifest) -> Result<Check, ResourceError> {
    let p = sys.path(path);
    match fs::symlink_metadata(&p) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Check::Ok),
        Err(e) => Err(io_err("cannot inspect", &p, e)),
        Ok(m) if !m.is_file() => Err(err(format!(
            "{} should not exist and is not a regular file; move it away and run setup again",
            p.display()
        ))),
        Ok(m) => {
            let old = fs::read(&p).map_err(|e| io_err("cannot read", &p, e))?;
            let hide = private(m.permissions().mode());
            Ok(Check::Change {
                diff: Some(shown_diff(path, &old, "", hide)),
                change: Change::Remove {
                    foreign: !ours(manifest, path, &old),
                },
            })
        }
    }
}

/// Writes a file's content (creating or replacing it).
pub fn write(
    sys: &System,
    path: &str,
    mode: u32,
    content: &str,
    change: &Change,
    manifest: &mut Manifest,
) -> Result<Option<String>, ResourceError> {
    let p = sys.path(path);
    ensure_parents(sys, path, manifest)?;
    let mut entry = Entry {
        sha256: Some(sha256_hex(content.as_bytes())),
        ..blank(path, Kind::File)
    };
    let mut note = None;
    match change {
        Change::CreateFile => entry.created = true,
        Change::ReplaceFile { old, foreign: true } => {
            let bak = fsops::backup_path(&p, &old.0);
            // Never more open than the file it copies.
            let old_mode = fs::metadata(&p)
                .map(|m| m.permissions().mode() & 0o7777)
                .unwrap_or(0o600);
            fsops::write_atomic(&bak, &old.0, old_mode, None)
                .map_err(|e| io_err("cannot back up to", &bak, e))?;
            let bak_host = host_path(sys, &bak);
            note = Some(format!("copy at {bak_host}"));
            entry.backup = Some(bak_host);
        }
        _ => {}
    }
    manifest.record(entry);
    save(sys, manifest)?;
    fsops::write_atomic(&p, content.as_bytes(), mode, fsops::root_owner())
        .map_err(|e| io_err("cannot write", &p, e))?;
    Ok(note)
}

/// Sets the mode of a file or directory whose content is already right
/// (`content` is the file's, for the record; `None` for a directory).
pub fn chmod(
    sys: &System,
    path: &str,
    mode: u32,
    from: u32,
    content: Option<&str>,
    manifest: &mut Manifest,
) -> Result<Option<String>, ResourceError> {
    let kind = if content.is_some() {
        Kind::File
    } else {
        Kind::Dir
    };
    let mut entry = blank(path, kind);
    entry.mode_before = Some(from);
    entry.sha256 = content.map(|c| sha256_hex(c.as_bytes()));
    manifest.record(entry);
    save(sys, manifest)?;
    let p = sys.path(path);
    fs::set_permissions(&p, fs::Permissions::from_mode(mode))
        .map_err(|e| io_err("cannot chmod", &p, e))?;
    Ok(None)
}

pub fn chown(sys: &System, path: &str) -> Result<Option<String>, ResourceError> {
    let p = sys.path(path);
    let (uid, gid) = fsops::root_owner().unwrap_or((0, 0));
    std::os::unix::fs::chown(&p, Some(uid), Some(gid))
        .map_err(|e| io_err("cannot chown", &p, e))?;
    Ok(None)
}

pub fn create_dir(
    sys: &System,
    path: &str,
    mode: u32,
    manifest: &mut Manifest,
) -> Result<Option<String>, ResourceError> {
    ensure_parents(sys, path, manifest)?;
    manifest.record(Entry {
        created: true,
        ..blank(path, Kind::Dir)
    });
    save(sys, manifest)?;
    let p = sys.path(path);
    fsops::create_dir(&p, mode).map_err(|e| io_err("cannot create", &p, e))?;
    Ok(None)
}

pub fn link(
    sys: &System,
    path: &str,
    target: &str,
    change: &Change,
    manifest: &mut Manifest,
) -> Result<Option<String>, ResourceError> {
    let p = sys.path(path);
    ensure_parents(sys, path, manifest)?;
    let mut entry = Entry {
        target: Some(target.to_owned()),
        ..blank(path, Kind::Link)
    };
    let mut note = None;
    match change {
        Change::CreateLink => entry.created = true,
        Change::ReplaceWithLink => {
            let old = fs::read(&p).map_err(|e| io_err("cannot read", &p, e))?;
            let bak = fsops::backup_path(&p, &old);
            fs::rename(&p, &bak).map_err(|e| io_err("cannot move aside", &p, e))?;
            let bak_host = host_path(sys, &bak);
            note = Some(format!("copy at {bak_host}"));
            entry.backup = Some(bak_host);
        }
        Change::Relink { from } => entry.target_before = Some(from.clone()),
        _ => {}
    }
    manifest.record(entry);
    save(sys, manifest)?;
    fsops::link_atomic(&p, target).map_err(|e| io_err("cannot link", &p, e))?;
    Ok(note)
}

/// Removes a file that should not be there (moved aside when foreign).
pub fn remove(
    sys: &System,
    path: &str,
    foreign: bool,
    manifest: &mut Manifest,
) -> Result<Option<String>, ResourceError> {
    let p = sys.path(path);
    let mut entry = blank(path, Kind::File);
    if !foreign {
        manifest.record(entry);
        save(sys, manifest)?;
        fs::remove_file(&p).map_err(|e| io_err("cannot remove", &p, e))?;
        return Ok(None);
    }
    let old = fs::read(&p).map_err(|e| io_err("cannot read", &p, e))?;
    let bak = fsops::backup_path(&p, &old);
    let bak_host = host_path(sys, &bak);
    let note = Some(format!("copy at {bak_host}"));
    entry.backup = Some(bak_host);
    manifest.record(entry);
    save(sys, manifest)?;
    fs::rename(&p, &bak).map_err(|e| io_err("cannot move aside", &p, e))?;
    Ok(note)
}

/// Undoes a recorded file or link: restored from its backup, pointed back,
/// removed when setup created it (a hand edit since is kept aside), or
/// given its earlier mode.
pub fn undo_file(
    sys: &System,
    e: &Entry,
    dry_run: bool,
) -> Result<(Status, String), ResourceError> {
    let p = sys.path(&e.path);
    let io = |action, err: io::Error| io_err(action, &p, err);
    let change = |what: String| Ok((Status::Changed, what));
    if let Some(bak) = &e.backup {
        if dry_run {
            return change(format!("would restore from {bak}"));
        }
        fs::rename(sys.path(bak), &p).map_err(|err| io("cannot restore", err))?;
        return change(format!("restored from {bak}"));
    }
    if let Some(before) = &e.target_before {
        if dry_run {
            return change(format!("would point back at {before}"));
        }
        fsops::link_atomic(&p, before).map_err(|err| io("cannot relink", err))?;
        return change(format!("points at {before} again"));
    }
    if !e.created {
        return restore_mode(&p, e, dry_run).map_err(|err| io("cannot chmod", err));
    }
    if fs::symlink_metadata(&p).is_err() {
        return Ok((Status::Ok, "already gone".into()));
    }
    // A hand edit since setup is the operator's: keep a copy.
    let drifted =
        e.kind == Kind::File && fs::read(&p).is_ok_and(|now| Some(sha256_hex(&now)) != e.sha256);
    if dry_run {
        return change("would remove".into());
    }
    if drifted {
        let now = fs::read(&p).map_err(|err| io("cannot read", err))?;
        let bak = fsops::backup_path(&p, &now);
        fs::rename(&p, &bak).map_err(|err| io("cannot move aside", err))?;
        return change(format!(
            "removed; it had been edited, the edit is kept as {}",
            bak.display()
        ));
    }
    fs::remove_file(&p).map_err(|err| io("cannot remove", err))?;
    change("removed".into())
}

/// Undoes a recorded directory: removed when setup created it and it is
/// empty, else given its earlier mode.
pub fn undo_dir(sys: &System, e: &Entry, dry_run: bool) -> Result<(Status, String), ResourceError> {
    let p = sys.path(&e.path);
    let io = |action, err: io::Error| io_err(action, &p, err);
    if !e.created {
        return restore_mode(&p, e, dry_run).map_err(|err| io("cannot chmod", err));
    }
    if fs::symlink_metadata(&p).is_err() {
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
        return Ok((Status::Changed, "would remove if empty".into()));
    }
    fs::remove_dir(&p).map_err(|err| io("cannot remove", err))?;
    Ok((Status::Changed, "removed".into()))
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
