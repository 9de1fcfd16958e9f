//! Checking and applying one resource: `check` looks at what is there and
//! says what would change (with a diff for files); `apply` makes exactly that
//! change, recording it in the manifest before touching the host.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use similar::TextDiff;

use crate::setup::apply::artifacts::{self, Downloads};
use crate::setup::host::fsops;
use crate::setup::host::system::System;
use crate::setup::plan::Resource;
use crate::setup::record::{Entry, Kind, Manifest, sha256_hex};
use crate::setup::sources::Artifact;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    CreateFile,
    /// Different content; `foreign` when the file is not what setup last
    /// wrote (a packaged file or a hand edit), so it is backed up first.
    ReplaceFile {
        old: Vec<u8>,
        foreign: bool,
    },
    Chmod {
        from: u32,
    },
    Chown,
    CreateDir,
    CreateLink,
    Relink {
        from: String,
    },
    /// A file where the link should be (an older executor): backed up.
    ReplaceWithLink,
    /// Remove a file that should not be there; `foreign` as for ReplaceFile.
    Remove {
        foreign: bool,
    },
    Enable,
    Disable,
    /// Install a package with apt (by name or a .deb), or load an image.
    Install,
    /// Write an apt source: its keyring (`key`, fetched and checked) and
    /// its `.sources` file (`list`, as for any file).
    AptSource {
        key: bool,
        list: Option<Box<Change>>,
    },
    /// Unpack a tarball and point `current` at it.
    Unpack,
    /// Copy the mesos-docker binary `from` where there is none.
    InstallBinary {
        from: String,
    },
    /// Copy the mesos-docker binary `from` over one that differs.
    ReplaceBinary {
        from: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Ok,
    Change {
        change: Change,
        /// Unified diff, for files whose content changes.
        diff: Option<String>,
    },
    /// Left alone, with the reason.
    Skipped(String),
}

#[derive(Debug, thiserror::Error)]
#[error("{what}")]
pub struct ResourceError {
    pub what: String,
}

fn err(what: impl Into<String>) -> ResourceError {
    ResourceError { what: what.into() }
}

fn io_err(action: &str, path: &Path, e: io::Error) -> ResourceError {
    err(format!("{action} {}: {e}", path.display()))
}

pub fn diff(path: &str, old: &[u8], new: &str) -> String {
    let old = String::from_utf8_lossy(old);
    TextDiff::from_lines(old.as_ref(), new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("{path} (now)"), &format!("{path} (setup)"))
        .to_string()
}

pub fn check(
    sys: &System,
    r: &Resource,
    manifest: &Manifest,
    units: &UnitStates,
    dl: &Downloads,
) -> Result<Check, ResourceError> {
    match r {
        Resource::AptSource {
            key,
            first_use: Some(name),
            fingerprints,
            ..
        } if fingerprints.is_empty() => Ok(Check::Skipped(format!(
            "a run on the host itself fetches the signing key {key}, prints its fingerprint and pins it under [pins] {name} in setup.toml (trust on first use), then writes the keyring and the source"
        ))),
        Resource::AptSource {
            path,
            content,
            keyring,
            fingerprints,
            ..
        } => {
            let list = check_file(sys, path, 0o644, content, manifest)?;
            Ok(artifacts::check_apt_source(
                sys,
                keyring,
                fingerprints,
                list,
            ))
        }
        Resource::Deb {
            location, sha256, ..
        } => artifacts::check_deb(sys, dl, &artifact(location, sha256)),
        Resource::Tarball {
            location,
            sha256,
            dir,
            ..
        } => artifacts::check_tarball(sys, dl, &artifact(location, sha256), dir),
        Resource::Image { image, archive, .. } => {
            artifacts::check_image(sys, image, archive.as_ref())
        }
        Resource::Unavailable { fix, .. } => Ok(Check::Skipped(fix.clone())),
        Resource::File {
            path,
            mode,
            content,
            ..
        } => check_file(sys, path, *mode, content, manifest),
        Resource::Dir { path, mode } => {
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
                Ok(m) if m.permissions().mode() & 0o7777 != *mode => Ok(Check::Change {
                    change: Change::Chmod {
                        from: m.permissions().mode() & 0o7777,
                    },
                    diff: None,
                }),
                Ok(_) => Ok(Check::Ok),
            }
        }
        Resource::Link { path, target } => {
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
        Resource::Absent { path } => {
            let p = sys.path(path);
            match fs::symlink_metadata(&p) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Check::Ok),
                Err(e) => Err(io_err("cannot inspect", &p, e)),
                Ok(m) if !m.is_file() => Err(err(format!(
                    "{} should not exist and is not a regular file; move it away and run setup again",
                    p.display()
                ))),
                Ok(_) => {
                    let old = fs::read(&p).map_err(|e| io_err("cannot read", &p, e))?;
                    let ours = manifest
                        .entry(path)
                        .and_then(|e| e.sha256.as_deref())
                        .is_some_and(|sha| sha == sha256_hex(&old));
                    Ok(Check::Change {
                        diff: Some(diff(path, &old, "")),
                        change: Change::Remove { foreign: !ours },
                    })
                }
            }
        }
        Resource::Package { name, version, .. } => {
            let spec = crate::setup::apt::packages::spec(name, version.as_deref());
            match crate::setup::apt::packages::installed_version(sys, name) {
                Some(v) if version.as_ref().is_none_or(|want| *want == v) => Ok(Check::Ok),
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
        Resource::Executor { path, source } => {
            crate::setup::apply::binary::check(sys, path, source, manifest)
        }
        Resource::Service { name, enabled } => {
            let now = match units.get(sys, name) {
                Err(e) if !sys.is_live() => {
                    return Ok(Check::Skipped(format!(
                        "cannot enable units in {} offline ({})",
                        sys.root().display(),
                        e.what
                    )));
                }
                other => other?,
            };
            Ok(match (now, *enabled) {
                (UnitState::Missing, true) if units.planned(name) => Check::Change {
                    change: Change::Enable,
                    diff: None,
                },
                (UnitState::Missing, true) => Check::Skipped(format!(
                    "{name} is not installed; install its package, then run setup again"
                )),
                (UnitState::Missing, false)
                | (UnitState::Enabled, true)
                | (UnitState::Disabled, false) => Check::Ok,
                (UnitState::Disabled, true) => Check::Change {
                    change: Change::Enable,
                    diff: None,
                },
                (UnitState::Enabled, false) => Check::Change {
                    change: Change::Disable,
                    diff: None,
                },
            })
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitState {
    Enabled,
    Disabled,
    /// No such unit file: its package is not installed.
    Missing,
}

/// The unit file states of a plan's services, asked of systemctl once per run
/// (one `list-unit-files` instead of a process per unit keeps a no-op run fast).
pub struct UnitStates {
    names: Vec<String>,
    /// Units whose files the plan writes: missing only on a dry run.
    planned: Vec<String>,
    /// Unit name → the state word list-unit-files gave.
    states: RefCell<Option<HashMap<String, String>>>,
}

impl UnitStates {
    pub fn new(names: Vec<String>, planned: Vec<String>) -> Self {
        UnitStates {
            names,
            planned,
            states: RefCell::new(None),
        }
    }

    fn planned(&self, name: &str) -> bool {
        self.planned.iter().any(|p| p == name)
    }

    pub fn get(&self, sys: &System, name: &str) -> Result<UnitState, ResourceError> {
        if self.states.borrow().is_none() {
            let states = list_unit_files(sys, &self.names)?;
            *self.states.borrow_mut() = Some(states);
        }
        let listed = self
            .states
            .borrow()
            .as_ref()
            .and_then(|m| m.get(name).cloned());
        // A SysV init script (Debian's zookeeperd ships only one) is listed
        // as "generated" on a live root and not at all on an offline one;
        // only is-enabled asks systemd-sysv-install about it.
        let sysv = name
            .strip_suffix(".service")
            .is_some_and(|base| sys.exists(&format!("/etc/init.d/{base}")));
        match listed.as_deref() {
            Some("generated") => unit_state(sys, name),
            None if sysv => unit_state(sys, name),
            Some(word) => Ok(state_word(word)),
            None => Ok(UnitState::Missing),
        }
    }
}

fn state_word(word: &str) -> UnitState {
    match word {
        "enabled" | "enabled-runtime" | "alias" | "static" | "indirect" => UnitState::Enabled,
        "not-found" => UnitState::Missing,
        _ => UnitState::Disabled,
    }
}

/// `systemctl list-unit-files NAME...`: a line per unit that exists; none
/// (and exit status 1, nothing on stderr) when no unit matches.
fn list_unit_files(
    sys: &System,
    names: &[String],
) -> Result<HashMap<String, String>, ResourceError> {
    let mut args = vec!["list-unit-files", "--no-legend", "--no-pager"];
    args.extend(names.iter().map(String::as_str));
    let out = sys.systemctl(&args).map_err(|e| {
        err(format!(
            "cannot run systemctl list-unit-files: {e}; is this a systemd host? (pass --init upstart if not)"
        ))
    })?;
    if !out.success && !out.stderr.trim().is_empty() {
        return Err(err(format!(
            "systemctl list-unit-files failed: {}",
            out.stderr.trim()
        )));
    }
    Ok(out
        .stdout
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_owned(), w.next()?.to_owned()))
        })
        .collect())
}

/// `systemctl is-enabled`, which says "not-found" (or, before systemd 250,
/// fails with "No such file") for a unit that does not exist.
pub fn unit_state(sys: &System, name: &str) -> Result<UnitState, ResourceError> {
    let out = sys.systemctl(&["is-enabled", name]).map_err(|e| {
        err(format!(
            "cannot run systemctl is-enabled {name}: {e}; is this a systemd host? (pass --init upstart if not)"
        ))
    })?;
    let state = out.stdout.trim();
    if state.is_empty() && (out.stderr.contains("No such file") || out.stderr.contains("not found"))
    {
        return Ok(UnitState::Missing);
    }
    Ok(state_word(state))
}

fn check_file(
    sys: &System,
    path: &str,
    mode: u32,
    content: &str,
    manifest: &Manifest,
) -> Result<Check, ResourceError> {
    let p = sys.path(path);
    let meta = match fs::metadata(&p) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(Check::Change {
                change: Change::CreateFile,
                diff: Some(diff(path, b"", content)),
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
        let ours = manifest
            .entry(path)
            .and_then(|e| e.sha256.as_deref())
            .is_some_and(|sha| sha == sha256_hex(&old));
        return Ok(Check::Change {
            diff: Some(diff(path, &old, content)),
            change: Change::ReplaceFile {
                old,
                foreign: !ours,
            },
        });
    }
    Ok(mode_and_owner(&meta, mode))
}

/// A file whose content is right: whether its mode and owner are too.
pub(crate) fn mode_and_owner(meta: &fs::Metadata, mode: u32) -> Check {
    let now_mode = meta.permissions().mode() & 0o7777;
    if now_mode != mode {
        return Check::Change {
            change: Change::Chmod { from: now_mode },
            diff: None,
        };
    }
    if let Some((uid, gid)) = fsops::root_owner()
        && (meta.uid(), meta.gid()) != (uid, gid)
    {
        return Check::Change {
            change: Change::Chown,
            diff: None,
        };
    }
    Check::Ok
}

pub fn artifact(location: &str, sha256: &Option<String>) -> Artifact {
    Artifact {
        location: location.to_owned(),
        sha256: sha256.clone(),
        packages: vec![],
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
            crate::setup::apply::binary::describe(change).unwrap_or_default()
        }
    }
}

pub(super) fn blank(path: &str, kind: Kind) -> Entry {
    Entry {
        path: path.to_owned(),
        kind,
        created: false,
        backup: None,
        mode_before: None,
        sha256: None,
        target: None,
        target_before: None,
    }
}

/// Creates (and records) the missing parent directories of a host path.
pub(crate) fn ensure_parents(
    sys: &System,
    path: &str,
    manifest: &mut Manifest,
) -> Result<(), ResourceError> {
    let parent = Path::new(path)
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|| "/".into());
    let missing = fsops::missing_dirs(sys, &parent);
    if missing.is_empty() {
        return Ok(());
    }
    for d in &missing {
        manifest.record(Entry {
            created: true,
            ..blank(d, Kind::Dir)
        });
    }
    save(sys, manifest)?;
    for d in &missing {
        fsops::create_dir(&sys.path(d), 0o755)
            .map_err(|e| io_err("cannot create", &sys.path(d), e))?;
    }
    Ok(())
}

fn save(sys: &System, manifest: &mut Manifest) -> Result<(), ResourceError> {
    manifest.save(sys).map_err(|e| err(e.to_string()))
}

/// Makes the change `check` found. Returns extra words for the report (where
/// a backup went).
pub fn apply(
    sys: &System,
    r: &Resource,
    change: &Change,
    manifest: &mut Manifest,
) -> Result<Option<String>, ResourceError> {
    let owner = fsops::root_owner();
    match (r, change) {
        (Resource::Executor { path, source }, _) => {
            crate::setup::apply::binary::apply(sys, path, source, change, manifest)
        }
        (
            Resource::File {
                path,
                mode,
                content,
                ..
            },
            Change::CreateFile | Change::ReplaceFile { .. },
        ) => {
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
                    let bak = fsops::backup_path(&p, old);
                    let old_mode = fs::metadata(&p)
                        .map(|m| m.permissions().mode() & 0o7777)
                        .unwrap_or(0o644);
                    fsops::write_atomic(&bak, old, old_mode, None)
                        .map_err(|e| io_err("cannot back up to", &bak, e))?;
                    let bak_host = host_path(sys, &bak);
                    note = Some(format!("copy at {bak_host}"));
                    entry.backup = Some(bak_host);
                }
                _ => {}
            }
            manifest.record(entry);
            save(sys, manifest)?;
            fsops::write_atomic(&p, content.as_bytes(), *mode, owner)
                .map_err(|e| io_err("cannot write", &p, e))?;
            Ok(note)
        }
        (
            Resource::File { path, mode, .. } | Resource::Dir { path, mode },
            Change::Chmod { from },
        ) => {
            let kind = if matches!(r, Resource::Dir { .. }) {
                Kind::Dir
            } else {
                Kind::File
            };
            let mut entry = blank(path, kind);
            entry.mode_before = Some(*from);
            // Only the mode differs, so the content on disk is what setup wants.
            if let Resource::File { content, .. } = r {
                entry.sha256 = Some(sha256_hex(content.as_bytes()));
            }
            manifest.record(entry);
            save(sys, manifest)?;
            let p = sys.path(path);
            fs::set_permissions(&p, fs::Permissions::from_mode(*mode))
                .map_err(|e| io_err("cannot chmod", &p, e))?;
            Ok(None)
        }
        (Resource::File { path, .. }, Change::Chown) => {
            let p = sys.path(path);
            let (uid, gid) = owner.unwrap_or((0, 0));
            std::os::unix::fs::chown(&p, Some(uid), Some(gid))
                .map_err(|e| io_err("cannot chown", &p, e))?;
            Ok(None)
        }
        (Resource::Dir { path, mode }, Change::CreateDir) => {
            ensure_parents(sys, path, manifest)?;
            manifest.record(Entry {
                created: true,
                ..blank(path, Kind::Dir)
            });
            save(sys, manifest)?;
            let p = sys.path(path);
            fsops::create_dir(&p, *mode).map_err(|e| io_err("cannot create", &p, e))?;
            Ok(None)
        }
        (Resource::Link { path, target }, _) => {
            let p = sys.path(path);
            ensure_parents(sys, path, manifest)?;
            let mut entry = Entry {
                target: Some(target.clone()),
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
        (Resource::Absent { path }, Change::Remove { foreign }) => {
            let p = sys.path(path);
            let mut entry = blank(path, Kind::File);
            let mut note = None;
            if *foreign {
                let old = fs::read(&p).map_err(|e| io_err("cannot read", &p, e))?;
                let bak = fsops::backup_path(&p, &old);
                let bak_host = host_path(sys, &bak);
                note = Some(format!("copy at {bak_host}"));
                entry.backup = Some(bak_host);
                manifest.record(entry);
                save(sys, manifest)?;
                fs::rename(&p, &bak).map_err(|e| io_err("cannot move aside", &p, e))?;
            } else {
                manifest.record(entry);
                save(sys, manifest)?;
                fs::remove_file(&p).map_err(|e| io_err("cannot remove", &p, e))?;
            }
            Ok(note)
        }
        (Resource::Service { name, .. }, Change::Enable | Change::Disable) => {
            let enable = *change == Change::Enable;
            manifest.record_service(name, !enable);
            save(sys, manifest)?;
            // Enabling may create a *.wants directory; it is ours to remove.
            let before = unit_dirs(sys);
            set_enabled(sys, name, enable)?;
            let new: Vec<String> = unit_dirs(sys)
                .into_iter()
                .filter(|d| !before.contains(d))
                .collect();
            if !new.is_empty() {
                for d in new {
                    manifest.record(Entry {
                        created: true,
                        ..blank(&d, Kind::Dir)
                    });
                }
                save(sys, manifest)?;
            }
            Ok(None)
        }
        (r, c) => Err(err(format!(
            "internal: no way to apply {c:?} to {} {}",
            r.kind(),
            r.id()
        ))),
    }
}

const UNIT_DIR: &str = "/etc/systemd/system";

/// The directories in /etc/systemd/system (host paths).
fn unit_dirs(sys: &System) -> Vec<String> {
    fs::read_dir(sys.path(UNIT_DIR))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| format!("{UNIT_DIR}/{}", e.file_name().to_string_lossy()))
                .collect()
        })
        .unwrap_or_default()
}

pub fn set_enabled(sys: &System, name: &str, enable: bool) -> Result<(), ResourceError> {
    systemctl(sys, if enable { "enable" } else { "disable" }, name)
}

/// Whether systemd runs the unit now (an error counts as not running).
pub fn is_active(sys: &System, name: &str) -> bool {
    sys.systemctl(&["is-active", name])
        .is_ok_and(|o| o.stdout.trim() == "active")
}

/// Stops a unit now (enablement is left as it is).
pub fn stop(sys: &System, name: &str) -> Result<(), ResourceError> {
    systemctl(sys, "stop", name)
}

fn systemctl(sys: &System, verb: &str, name: &str) -> Result<(), ResourceError> {
    let out = sys
        .systemctl(&[verb, name])
        .map_err(|e| err(format!("cannot run systemctl {verb} {name}: {e}")))?;
    if out.success {
        Ok(())
    } else {
        Err(err(format!(
            "systemctl {verb} {name} failed: {}",
            out.stderr.trim()
        )))
    }
}

/// A path under the root, as the host names it.
pub(super) fn host_path(sys: &System, p: &Path) -> String {
    match p.strip_prefix(sys.root()) {
        Ok(rel) => format!("/{}", rel.display()),
        Err(_) => p.display().to_string(),
    }
}
