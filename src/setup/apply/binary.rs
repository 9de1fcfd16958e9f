//! The executor binary: setup installs the mesos-docker it runs as (or the
//! one a library caller names) at `--binary`, so that the executor link, the
//! reaper and `mesos-docker status` run the same version as this setup.
//!
//! Telling "the same" cheaply matters: a debug build is 160 MB and a no-op
//! re-run should not hash it. In order: the same inode is the same file; a
//! different size is a different file; a stamp recorded when setup last
//! installed it (inode, size, mtime and ctime of both files, which any write
//! changes) that still matches means nothing moved; only then both are hashed.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::setup::apply::change::{Change, Check, ResourceError, err, io_err};
use crate::setup::host::fsops;
use crate::setup::host::system::System;
use crate::setup::record::{Entry, FileStamp, Kind, Manifest, Stamp};

/// The mode of the installed binary: root's, and runnable by the framework
/// user Mesos starts executors as.
pub const MODE: u32 = 0o755;

fn hash(path: &Path) -> Result<String, ResourceError> {
    crate::setup::apply::fetch::hash_file(path).map_err(|source| ResourceError::Hash {
        path: path.to_path_buf(),
        source,
    })
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

/// Whether the binary at `path` (a host path) is already `source`.
pub fn check(
    sys: &System,
    path: &str,
    source: &str,
    manifest: &Manifest,
) -> Result<Check, ResourceError> {
    let src = Path::new(source);
    let src_meta = fs::metadata(src).map_err(|cause| ResourceError::Advised {
        action: format!("cannot read this mesos-docker at {source}"),
        cause,
        fix: "run setup from an installed binary or pass --binary",
    })?;
    let dest = sys.path(path);
    let meta = match fs::metadata(&dest) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(Check::Change {
                change: Change::InstallBinary {
                    from: source.to_owned(),
                },
                diff: None,
            });
        }
        Err(e) => return Err(io_err("cannot inspect", &dest, e)),
        Ok(m) => m,
    };
    if !meta.is_file() {
        return Err(err(format!(
            "{} exists and is not a regular file; move it away and run setup again",
            dest.display()
        )));
    }
    let same = if (meta.dev(), meta.ino()) == (src_meta.dev(), src_meta.ino()) {
        true
    } else if meta.len() != src_meta.len() {
        false
    } else if manifest.executor.as_ref().is_some_and(|s| {
        s.path == path
            && s.source == source
            && s.installed == FileStamp::of(&meta)
            && s.source_stamp == FileStamp::of(&src_meta)
    }) {
        true
    } else {
        hash(&dest)? == hash(src)?
    };
    if !same {
        return Ok(Check::Change {
            change: Change::ReplaceBinary {
                from: source.to_owned(),
            },
            diff: None,
        });
    }
    Ok(crate::setup::apply::change::mode_and_owner(&meta, MODE))
}

/// Installs `source` at `path`: copied to a temporary file beside it (hashed
/// on the way), fsync-ed, 0755 root, renamed over, the directory synced. The
/// manifest records it first, so a run killed half-way still owns the path.
pub fn apply(
    sys: &System,
    path: &str,
    source: &str,
    change: &Change,
    manifest: &mut Manifest,
) -> Result<Option<String>, ResourceError> {
    let dest = sys.path(path);
    match change {
        Change::Chmod { .. } | Change::Chown => {
            fs::set_permissions(&dest, fs::Permissions::from_mode(MODE))
                .map_err(|e| io_err("cannot chmod", &dest, e))?;
            if let Some((uid, gid)) = fsops::root_owner() {
                std::os::unix::fs::chown(&dest, Some(uid), Some(gid))
                    .map_err(|e| io_err("cannot chown", &dest, e))?;
            }
            refresh_stamp(manifest, path, &dest);
            return Ok(None);
        }
        Change::InstallBinary { .. } | Change::ReplaceBinary { .. } => {}
        other => return Err(err(format!("internal: cannot {other:?} the executor"))),
    }
    crate::setup::apply::change::ensure_parents(sys, path, manifest)?;
    let entry = |sha256: Option<String>| Entry {
        created: matches!(change, Change::InstallBinary { .. }),
        sha256,
        ..crate::setup::apply::change::blank(path, Kind::File)
    };
    if manifest.entry(path).is_none() {
        manifest.record(entry(None));
        save(sys, manifest)?;
    }
    let (sha, installed) =
        copy_atomic(Path::new(source), &dest).map_err(|e| ResourceError::Install {
            from: source.to_owned(),
            to: dest.clone(),
            source: e,
        })?;
    let source_stamp = fs::metadata(source)
        .map(|m| FileStamp::of(&m))
        .map_err(|e| io_err("cannot read", Path::new(source), e))?;
    manifest.record(entry(Some(sha.clone())));
    manifest.executor = Some(Stamp {
        path: path.to_owned(),
        sha256: sha.clone(),
        installed,
        source: source.to_owned(),
        source_stamp,
    });
    save(sys, manifest)?;
    Ok(Some(format!("sha256 {}…", short(&sha))))
}

fn refresh_stamp(manifest: &mut Manifest, path: &str, dest: &Path) {
    if let Some(s) = manifest.executor.as_mut().filter(|s| s.path == path)
        && let Ok(m) = fs::metadata(dest)
    {
        s.installed = FileStamp::of(&m);
    }
}

fn save(sys: &System, manifest: &mut Manifest) -> Result<(), ResourceError> {
    manifest.save(sys).map_err(ResourceError::from)
}

/// Copies `src` over `dest` so that a reader sees the old binary or the new
/// one, never a part; returns the SHA-256 of what was written and the new
/// file's stamp. A hard link would be cheaper but ties the executor to
/// whatever later happens to the source (a rebuilt tree, a deleted download).
fn copy_atomic(src: &Path, dest: &Path) -> io::Result<(String, FileStamp)> {
    let tmp = fsops::temp_path(dest);
    let _ = fs::remove_file(&tmp);
    let result = (|| {
        let mut from = fs::File::open(src)?;
        let mut to = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(MODE)
            .open(&tmp)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            hasher.update(&buf[..n]);
            to.write_all(&buf[..n])?;
        }
        to.set_permissions(fs::Permissions::from_mode(MODE))?;
        if let Some((uid, gid)) = fsops::root_owner() {
            std::os::unix::fs::fchown(&to, Some(uid), Some(gid))?;
        }
        to.sync_all()?;
        drop(to);
        fs::rename(&tmp, dest)?;
        Ok(hex::encode(hasher.finalize()))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    let sha = result?;
    fs::File::open(dest.parent().unwrap_or(Path::new("/")))?.sync_all()?;
    Ok((sha, FileStamp::of(&fs::metadata(dest)?)))
}

/// One line on what installing would do, for the report.
pub fn describe(change: &Change) -> Option<String> {
    match change {
        Change::InstallBinary { from } => Some(format!("installed from {from}")),
        Change::ReplaceBinary { from } => Some(format!(
            "replaced: it differed from this mesos-docker ({}, {from})",
            crate::VERSION
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::host::testkit::RecordingRunner;

    fn setup() -> (tempfile::TempDir, System, String) {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src-bin");
        fs::write(&src, b"#!/bin/sh\necho v1\n").unwrap();
        let root = dir.path().join("root");
        fs::create_dir(&root).unwrap();
        let sys = System::new(&root, Box::new(RecordingRunner::new()));
        (dir, sys, src.display().to_string())
    }

    const BIN: &str = "/usr/local/bin/mesos-docker";

    fn converge(sys: &System, src: &str, m: &mut Manifest) -> Check {
        let c = check(sys, BIN, src, m).unwrap();
        if let Check::Change { change, .. } = &c {
            apply(sys, BIN, src, change, m).unwrap();
        }
        c
    }

    #[test]
    fn installs_then_stays_put_then_replaces() {
        let (_d, sys, src) = setup();
        let mut m = Manifest::default();
        assert!(matches!(
            converge(&sys, &src, &mut m),
            Check::Change {
                change: Change::InstallBinary { .. },
                ..
            }
        ));
        let dest = sys.path(BIN);
        assert_eq!(fs::read(&dest).unwrap(), fs::read(&src).unwrap());
        assert_eq!(
            fs::metadata(&dest).unwrap().permissions().mode() & 0o7777,
            0o755
        );
        let e = m.entry(BIN).unwrap();
        assert!(e.created);
        assert_eq!(
            e.sha256.as_deref(),
            Some(m.executor.as_ref().unwrap().sha256.as_str())
        );
        // Created with its parents, which are recorded too.
        assert!(m.entry("/usr/local/bin").is_some_and(|e| e.created));
        assert_eq!(converge(&sys, &src, &mut m), Check::Ok);
        // Same size, other bytes, no stamp: the hashes decide.
        fs::write(&src, b"#!/bin/sh\necho v2\n").unwrap();
        assert!(matches!(
            converge(&sys, &src, &mut m),
            Check::Change {
                change: Change::ReplaceBinary { .. },
                ..
            }
        ));
        assert_eq!(fs::read(&dest).unwrap(), b"#!/bin/sh\necho v2\n");
        assert_eq!(converge(&sys, &src, &mut m), Check::Ok);
        // Equal content without a stamp (another tool copied it): hashed, ok.
        m.executor = None;
        assert_eq!(check(&sys, BIN, &src, &m).unwrap(), Check::Ok);
        fs::set_permissions(&dest, fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(
            converge(&sys, &src, &mut m),
            Check::Change {
                change: Change::Chmod { from: 0o700 },
                diff: None
            }
        );
        assert_eq!(check(&sys, BIN, &src, &m).unwrap(), Check::Ok);
        // No temporary file is left beside it.
        let names: Vec<_> = fs::read_dir(dest.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn a_stale_stamp_never_hides_a_change() {
        let (_d, sys, src) = setup();
        let mut m = Manifest::default();
        converge(&sys, &src, &mut m);
        // Rewritten in place with the same size: ctime moves, so the stamp
        // no longer vouches and the hashes are compared.
        fs::write(sys.path(BIN), b"#!/bin/sh\necho XX\n").unwrap();
        assert!(matches!(
            check(&sys, BIN, &src, &m).unwrap(),
            Check::Change {
                change: Change::ReplaceBinary { .. },
                ..
            }
        ));
    }

    #[test]
    fn the_running_binary_itself_is_never_copied() {
        let (_d, sys, _) = setup();
        let dest = sys.path(BIN);
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        fs::write(&dest, b"x").unwrap();
        fs::set_permissions(&dest, fs::Permissions::from_mode(0o755)).unwrap();
        let same = dest.display().to_string();
        let c = check(&sys, BIN, &same, &Manifest::default()).unwrap();
        assert!(
            c == Check::Ok
                || matches!(
                    c,
                    Check::Change {
                        change: Change::Chown,
                        ..
                    }
                ),
            "{c:?}"
        );
    }
}
