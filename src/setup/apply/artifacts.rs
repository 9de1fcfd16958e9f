//! What package sources put on the node, checked and changed like every
//! other resource: apt keyrings (fetched, then checked against the pinned
//! fingerprints before a byte is written) and `.sources` files, .deb files
//! installed with apt, tarballs unpacked beside their target and renamed
//! into place, Docker images loaded or pulled. Every download goes through
//! [`fetch`](super::fetch), so pins are checked before anything is used.

use std::cell::OnceCell;
use std::fs;
use std::path::{Path, PathBuf};

use crate::setup::apply::fetch::{self, Fetched, Fetcher, Source};
use crate::setup::apply::resources::{
    Change, Check, ResourceError, blank, ensure_parents, host_path,
};
use crate::setup::apt::openpgp;
use crate::setup::apt::packages::{self, Apt};
use crate::setup::host::fsops;
use crate::setup::host::system::System;
use crate::setup::record::{Entry, Kind, Manifest, sha256_hex};
use crate::setup::sources::Artifact;

fn err(what: impl Into<String>) -> ResourceError {
    ResourceError { what: what.into() }
}

/// Downloads for this run: one client and runtime, made on first use (a
/// converged node fetches nothing it has not cached).
pub struct Downloads {
    cache_host: String,
    cache: PathBuf,
    ca: Option<PathBuf>,
    progress: bool,
    fetcher: OnceCell<Fetcher>,
    runtime: OnceCell<tokio::runtime::Runtime>,
}

impl Downloads {
    pub fn new(sys: &System, ca: Option<&Path>, progress: bool) -> Self {
        Downloads {
            cache_host: fetch::DEFAULT_CACHE.to_owned(),
            cache: sys.path(fetch::DEFAULT_CACHE),
            ca: ca.map(Path::to_path_buf),
            progress,
            fetcher: OnceCell::new(),
            runtime: OnceCell::new(),
        }
    }

    fn fetcher(&self) -> Result<&Fetcher, ResourceError> {
        if let Some(f) = self.fetcher.get() {
            return Ok(f);
        }
        let f = Fetcher::new(&self.cache, self.ca.as_deref(), self.progress)
            .map_err(|e| err(e.to_string()))?;
        Ok(self.fetcher.get_or_init(|| f))
    }

    /// The file without the network (a local path, or a cached copy that
    /// matches its pin), for checks: `None` when it would be downloaded.
    pub fn local(&self, a: &Artifact) -> Result<Option<Fetched>, ResourceError> {
        let source =
            Source::new(&a.location, a.sha256.as_deref()).map_err(|e| err(e.to_string()))?;
        self.fetcher()?
            .local_copy(&source)
            .map_err(|e| err(e.to_string()))
    }

    /// The file from its source, never a cached copy: for signing keys,
    /// which change or get extended at the same URL.
    pub fn get_fresh(
        &self,
        sys: &System,
        a: &Artifact,
        manifest: &mut Manifest,
    ) -> Result<Fetched, ResourceError> {
        let source =
            Source::new(&a.location, a.sha256.as_deref()).map_err(|e| err(e.to_string()))?;
        self.fetcher()?.forget(&source);
        self.get(sys, a, manifest)
    }

    /// The file, verified against its pin. The cache directory is recorded
    /// when setup creates it, so uninstall takes it away with the rest.
    pub fn get(
        &self,
        sys: &System,
        a: &Artifact,
        manifest: &mut Manifest,
    ) -> Result<Fetched, ResourceError> {
        let source =
            Source::new(&a.location, a.sha256.as_deref()).map_err(|e| err(e.to_string()))?;
        let remote = a.location.starts_with("http://") || a.location.starts_with("https://");
        if remote && !self.cache.exists() {
            manifest.record(Entry {
                created: true,
                ..blank(&self.cache_host, Kind::Tree)
            });
            manifest.save(sys).map_err(|e| err(e.to_string()))?;
        }
        let fetcher = self.fetcher()?;
        let rt = match self.runtime.get() {
            Some(r) => r,
            None => {
                let r = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| err(format!("cannot start the download runtime: {e}")))?;
                self.runtime.get_or_init(|| r)
            }
        };
        rt.block_on(fetcher.fetch(&source))
            .map_err(|e| err(e.to_string()))
    }
}

fn offline(sys: &System, what: String) -> Check {
    Check::Skipped(format!(
        "{} is not the running system: a run on the host itself would {what}",
        sys.root().display()
    ))
}

// ---- apt repositories ----

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
    let data = fs::read(&fetched.path)
        .map_err(|e| err(format!("cannot read {}: {e}", fetched.path.display())))?;
    let bad_key = |why: String| err(format!("the signing key {key}: {why}; nothing was written"));
    let found = openpgp::primary_fingerprints(&data).map_err(|e| bad_key(e.to_string()))?;
    if !pins.is_empty() {
        let unpinned: Vec<&String> = found
            .iter()
            .filter(|fp| !pins.iter().any(|p| p.eq_ignore_ascii_case(fp)))
            .collect();
        if !unpinned.is_empty() {
            return Err(bad_key(format!(
                "fingerprint mismatch: expected {}, got {}. If its publisher really changed its key, check the new one through a channel you trust, then replace the pin (fingerprint=, or its line under [pins] in setup.toml)",
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
    for life in openpgp::key_lives(&data).map_err(|e| bad_key(e.to_string()))? {
        if let Some(m) = openpgp::expired(&life, key, now) {
            return Err(err(format!("{m}; nothing was written")));
        }
    }
    openpgp::dearmor(&data).map_err(|e| bad_key(e.to_string()))
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
        fsops::write_atomic(&bak, old, 0o644, None)
            .map_err(|e| err(format!("cannot back up {}: {e}", p.display())))?;
        entry.backup = Some(host_path(sys, &bak));
    }
    manifest.record(entry);
    manifest.save(sys).map_err(|e| err(e.to_string()))?;
    fsops::write_atomic(&p, &binary, 0o644, fsops::root_owner())
        .map_err(|e| err(format!("cannot write {}: {e}", p.display())))
}

// ---- .deb files ----

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
    let (name, version) = packages::deb_fields(sys, &path).map_err(|e| err(e.0))?;
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
    let (name, version) = packages::deb_fields(sys, &path).map_err(|e| err(e.0))?;
    if packages::installed_version(sys, &name).is_none() && !manifest.packages.contains(&name) {
        manifest.packages.push(name.clone());
        manifest.save(sys).map_err(|e| err(e.to_string()))?;
    }
    let note = packages::install_file(sys, apt, &path, notify).map_err(|e| err(e.0))?;
    let done = format!("{name} {version}");
    Ok(Some(match note {
        Some(n) => format!("{done}; {n}"),
        None => done,
    }))
}

// ---- tarballs ----

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
    manifest.save(sys).map_err(|e| err(e.to_string()))?;
    if !target.is_dir() {
        // One name, so a run killed half-way leaves nothing a re-run keeps.
        let tmp = sys.path(&format!("{dir}/.{name}.tmp"));
        let _ = fs::remove_dir_all(&tmp);
        if let Err(e) = unpack(&f.path, &tmp) {
            let _ = fs::remove_dir_all(&tmp);
            return Err(err(format!(
                "cannot unpack {} ({}): {e}; nothing was installed",
                a.location,
                f.path.display()
            )));
        }
        fs::rename(&tmp, &target)
            .and_then(|()| fs::File::open(sys.path(dir))?.sync_all())
            .map_err(|e| err(format!("cannot move {} into place: {e}", tmp.display())))?;
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
    manifest.save(sys).map_err(|e| err(e.to_string()))?;
    fsops::link_atomic(&link, &name)
        .map_err(|e| err(format!("cannot link {}: {e}", link.display())))?;
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

// ---- images ----

pub fn check_image(
    sys: &System,
    image: &str,
    archive: Option<&Artifact>,
) -> Result<Check, ResourceError> {
    if !sys.is_live() {
        let how = match archive {
            Some(a) => format!("load {image} from {} (docker load)", a.location),
            None => format!("pull {image}"),
        };
        return Ok(offline(sys, how));
    }
    // No Docker yet (a dry run before it is installed): the image is to
    // be loaded once it is.
    let held = sys
        .run(
            "docker",
            &["image", "inspect", "--format", "{{.Id}}", image],
        )
        .is_ok_and(|out| out.success);
    Ok(if held {
        Check::Ok
    } else {
        Check::Change {
            change: Change::Install,
            diff: None,
        }
    })
}

pub fn load_image(
    sys: &System,
    dl: &Downloads,
    image: &str,
    archive: Option<&Artifact>,
    manifest: &mut Manifest,
) -> Result<Option<String>, ResourceError> {
    if !manifest.images.iter().any(|i| i == image) {
        manifest.images.push(image.to_owned());
        manifest.save(sys).map_err(|e| err(e.to_string()))?;
    }
    let docker = |args: &[&str]| {
        let out = sys
            .run("docker", args)
            .map_err(|e| err(format!("cannot run docker {}: {e}", args[0])))?;
        if out.success {
            Ok(out)
        } else {
            Err(err(format!(
                "docker {} failed: {}",
                args.join(" "),
                out.stderr.trim()
            )))
        }
    };
    let note = match archive {
        Some(a) => {
            let f = dl.get(sys, a, manifest)?;
            docker(&["load", "-i", &f.path.display().to_string()])?;
            let held = sys
                .run(
                    "docker",
                    &["image", "inspect", "--format", "{{.Id}}", image],
                )
                .is_ok_and(|o| o.success);
            if !held {
                return Err(err(format!(
                    "{} holds no image {image}: name the NAME:TAG it was saved as (docker load -i lists it)",
                    a.location
                )));
            }
            format!("loaded from {}", a.location)
        }
        None => {
            docker(&["pull", image])?;
            "pulled".to_owned()
        }
    };
    Ok(Some(note))
}
