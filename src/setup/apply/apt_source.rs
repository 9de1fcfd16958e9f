//! apt sources: the signing key is fetched and checked against the pinned
//! fingerprints before a byte is written, then the keyring and the
//! `.sources` file are written (and undone) as files.

use std::fs;

use crate::setup::apply::change::{
    Change, Check, ResourceError, blank, ensure_parents, err, host_path, io_err,
};
use crate::setup::apply::downloads::Downloads;
use crate::setup::apt::openpgp;
use crate::setup::host::fsops;
use crate::setup::host::system::System;
use crate::setup::record::{Entry, Kind, Manifest, sha256_hex};
use crate::setup::sources::Artifact;

/// Whether the keyring on disk holds exactly pinned keys (any key, for an
/// unverified source).
fn keyring_ok(sys: &System, keyring: &str, pins: &[String]) -> bool {
    // An expired key is fetched anew: its publisher may have extended it.
    let current = |data: &[u8]| {
        let now = openpgp::now();
        openpgp::key_lives(data).is_ok_and(|l| l.iter().all(|k| k.expires.is_none_or(|e| e > now)))
    };
    match fs::read(sys.path(keyring)) {
        Ok(data) if pins.is_empty() => !data.is_empty() && current(&data),
        Ok(data) => openpgp::unpinned(&data, pins).is_ok_and(|u| u.is_empty()) && current(&data),
        Err(_) => false,
    }
}

pub fn check_apt_source(sys: &System, keyring: &str, pins: &[String], list: Check) -> Check {
    let key = !keyring_ok(sys, keyring, pins);
    match list {
        Check::Change { change, diff } => Check::Change {
            change: Change::AptSource {
                key,
                list: Some(Box::new(change)),
            },
            diff,
        },
        _ if key => Check::Change {
            change: Change::AptSource { key, list: None },
            diff: None,
        },
        other => other,
    }
}

/// Fetches the key and checks every primary key in it against the pins:
/// the keyring's bytes (binary, as apt reads `.gpg` keyrings), or an error
/// naming the key that is not pinned.
pub fn verified_key(
    sys: &System,
    dl: &Downloads,
    key: &str,
    pins: &[String],
    manifest: &mut Manifest,
) -> Result<Vec<u8>, ResourceError> {
    let fetched = dl.get_fresh(
        sys,
        &Artifact {
            location: key.to_owned(),
            sha256: None,
            packages: vec![],
        },
        manifest,
    )?;
    let data = fs::read(&fetched.path).map_err(|e| io_err("cannot read", &fetched.path, e))?;
    let bad_key = |cause| ResourceError::BadKey {
        key: key.to_owned(),
        cause,
    };
    let found = openpgp::primary_fingerprints(&data).map_err(bad_key)?;
    if !pins.is_empty() {
        let unpinned: Vec<&String> = found
            .iter()
            .filter(|fp| !pins.iter().any(|p| p.eq_ignore_ascii_case(fp)))
            .collect();
        if !unpinned.is_empty() {
            return Err(err(format!(
                "the signing key {key}: fingerprint mismatch: expected {}, got {}. If its publisher really changed its key, check the new one through a channel you trust, then replace the pin (fingerprint=, or its line under [pins] in setup.toml); nothing was written",
                pins.join(" or "),
                unpinned
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    let now = openpgp::now();
    for life in openpgp::key_lives(&data).map_err(bad_key)? {
        if let Some(m) = openpgp::expired(&life, key, now) {
            return Err(err(format!("{m}; nothing was written")));
        }
    }
    openpgp::dearmor(&data).map_err(bad_key)
}

/// Writes a verified key (see [`verified_key`]) atomically. Nothing is
/// written when a key is not pinned.
pub fn write_keyring(
    sys: &System,
    dl: &Downloads,
    key: &str,
    keyring: &str,
    pins: &[String],
    manifest: &mut Manifest,
) -> Result<(), ResourceError> {
    let binary = verified_key(sys, dl, key, pins, manifest)?;
    let p = sys.path(keyring);
    ensure_parents(sys, keyring, manifest)?;
    let old = fs::read(&p).ok();
    let mut entry = Entry {
        sha256: Some(sha256_hex(&binary)),
        created: old.is_none(),
        ..blank(keyring, Kind::File)
    };
    if let Some(old) = &old
        && manifest.entry(keyring).is_none()
    {
        let bak = fsops::backup_path(&p, old);
        fsops::write_atomic(&bak, old, 0o644, None).map_err(|e| io_err("cannot back up", &p, e))?;
        entry.backup = Some(host_path(sys, &bak));
    }
    manifest.record(entry);
    manifest.save(sys).map_err(ResourceError::from)?;
    fsops::write_atomic(&p, &binary, 0o644, fsops::root_owner())
        .map_err(|e| io_err("cannot write", &p, e))
}

/// An apt source as the plan gives it.
pub struct Source<'a> {
    /// The deb822 `.sources` file and its content.
    pub path: &'a str,
    pub content: &'a str,
    /// Where the key comes from, where its keyring goes, and its pins.
    pub key: &'a str,
    pub keyring: &'a str,
    pub fingerprints: &'a [String],
}

/// A key to be trusted on first use with no pin yet is left to a run on the
/// host (which pins it before the plan); otherwise the key and the file.
pub fn check(
    sys: &System,
    s: Source,
    first_use: Option<&str>,
    manifest: &Manifest,
) -> Result<Check, ResourceError> {
    if let Some(name) = first_use
        && s.fingerprints.is_empty()
    {
        return Ok(Check::Skipped(format!(
            "a run on the host itself fetches the signing key {}, prints its fingerprint and pins it under [pins] {name} in setup.toml (trust on first use), then writes the keyring and the source",
            s.key
        )));
    }
    let list =
        crate::setup::apply::file::check_file(sys, s.path, 0o644, s.content, false, manifest)?;
    Ok(check_apt_source(sys, s.keyring, s.fingerprints, list))
}

/// Writes the checked keyring (when it changed) and the `.sources` file,
/// and tells apt its sources changed.
pub fn apply(
    sys: &System,
    s: Source,
    new_key: bool,
    list: Option<&Change>,
    manifest: &mut Manifest,
    tools: &crate::setup::apply::tools::Tools,
) -> Result<Option<String>, ResourceError> {
    use crate::setup::apply::file;
    if new_key {
        write_keyring(sys, tools.dl, s.key, s.keyring, s.fingerprints, manifest)?;
    }
    match list {
        None => {}
        Some(c @ (Change::CreateFile | Change::ReplaceFile { .. })) => {
            file::write(sys, s.path, 0o644, s.content, c, manifest)?;
        }
        Some(Change::Chmod { from }) => {
            file::chmod(sys, s.path, 0o644, *from, Some(s.content), manifest)?;
        }
        Some(Change::Chown) => {
            file::chown(sys, s.path)?;
        }
        Some(c) => {
            return Err(err(format!(
                "internal: no way to apply {c:?} to apt source {}",
                s.path
            )));
        }
    }
    tools.apt.source_changed();
    Ok(None)
}
