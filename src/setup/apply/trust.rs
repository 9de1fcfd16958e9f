//! Trust on first use, recorded. A catalog source whose publisher states no
//! pin (AVENTER's signing key, Marathon's image digest) is fetched over
//! HTTPS from the publisher's host the first time; setup prints what it got
//! (the key's fingerprint, the image's digest) and where from, records it
//! in the manifest, and writes it under `[pins]` in setup.toml. Every later
//! run resolves the source with that pin, so a different key or image is
//! refused naming both, and the operator can copy the line to other nodes.
//!
//! Also here: the temporary policy-rc.d that keeps a Mesos package's
//! maintainer scripts from starting its own services during the install.

use std::fs;
use std::path::{Path, PathBuf};

use crate::setup::apply::change::{ResourceError, blank, err, host_path, io_err, run_err};
use crate::setup::apply::downloads::Downloads;
use crate::setup::apt::openpgp;
use crate::setup::host::fsops;
use crate::setup::host::system::System;
use crate::setup::record::{Entry, Kind, Manifest, Trusted, sha256_hex};
use crate::setup::report::Reporter;
use crate::setup::sources::{Artifact, Resolved, Spec};

pub use crate::setup::apt::openpgp::{expired, now, spaced};

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error(
        "trusting the {component} source {given} on first use: {reason}; nothing was installed"
    )]
    Fetch {
        component: String,
        given: String,
        reason: String,
    },
    #[error(
        "the {component} source {given}: the key file {url} holds {count} primary keys; setup trusts one key on first use. Check them and pin the one that signs the repository ({name} = \"HEX40\" under [pins] in setup.toml)"
    )]
    ManyKeys {
        component: String,
        given: String,
        url: String,
        count: usize,
        name: String,
    },
    #[error("{0}")]
    Expired(String),
    #[error("cannot record the pin in {path}")]
    Write {
        path: String,
        #[source]
        source: PinError,
    },
}

/// Why a pin could not be written into the configuration file.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    // apt-style one line: TOML's own message spans several.
    #[error("it is not valid TOML ({})", .0.to_string().trim().replace('\n', " "))]
    NotToml(toml_edit::TomlError),
    #[error("its pins is not a table")]
    NotATable,
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("cannot back it up")]
    Backup(#[source] std::io::Error),
    #[error(transparent)]
    Record(#[from] crate::setup::record::ManifestError),
    #[error(transparent)]
    Parents(#[from] ResourceError),
}

/// The notes a dry run (or a run under another root) prints for sources it
/// would trust on first use.
pub fn first_use_notes<'a>(
    sources: impl Iterator<Item = &'a Resolved>,
    pins: &Path,
) -> Vec<String> {
    sources
        .filter_map(|r| {
            let name = r.first_use.as_deref()?;
            let what = match &r.spec {
                Spec::Apt(repo) => format!(
                    "fetches the signing key {} (no public source states its fingerprint), prints its fingerprint",
                    repo.key
                ),
                Spec::Docker { image, .. } => format!(
                    "pulls {image} over the registry's HTTPS (no digest of it is published), prints its digest"
                ),
                _ => return None,
            };
            Some(format!(
                "trust on first use: the {} source {}: a run on the host {what} and pins it in {} [pins] {name}",
                r.component,
                r.given,
                pins.display()
            ))
        })
        .collect()
}

/// Fetches the key of every apt source to be trusted on first use, checks
/// it, tells the operator and pins it. Returns how many were pinned.
pub fn learn_keys(
    sys: &System,
    dl: &Downloads,
    sources: &[&Resolved],
    pins: &Path,
    manifest: &mut Manifest,
    rep: &mut Reporter,
) -> Result<usize, TrustError> {
    let mut n = 0;
    for r in sources {
        let (Spec::Apt(repo), Some(name)) = (&r.spec, &r.first_use) else {
            continue;
        };
        let fail = |reason: String| TrustError::Fetch {
            component: r.component.to_string(),
            given: r.given.clone(),
            reason,
        };
        let fetched = dl
            .get_fresh(
                sys,
                &Artifact {
                    location: repo.key.clone(),
                    sha256: None,
                    packages: Vec::new(),
                },
                manifest,
            )
            .map_err(|e| fail(crate::error_chain(&e)))?;
        let data = fs::read(&fetched.path)
            .map_err(|e| fail(format!("cannot read {}: {e}", fetched.path.display())))?;
        let lives = openpgp::key_lives(&data)
            .map_err(|e| fail(format!("the key file {}: {e}", repo.key)))?;
        let [life] = lives.as_slice() else {
            return Err(TrustError::ManyKeys {
                component: r.component.to_string(),
                given: r.given.clone(),
                url: repo.key.clone(),
                count: lives.len(),
                name: name.clone(),
            });
        };
        if let Some(m) = expired(life, &repo.key, now()) {
            return Err(TrustError::Expired(m));
        }
        let until = life
            .expires
            .map(|e| format!(", valid until {}", openpgp::date(e)))
            .unwrap_or_default();
        record(
            sys,
            pins,
            name,
            &life.fingerprint,
            &format!("the key {}", repo.key),
            manifest,
        )?;
        rep.note(format!(
            "trust on first use: the {} source {name}: key {} from {}{until}; pinned in {} under [pins]: {} (copy that line into the other nodes' setup.toml)",
            r.component,
            spaced(&life.fingerprint),
            repo.key,
            pins.display(),
            pin_line(name, &life.fingerprint)
        ));
        n += 1;
    }
    Ok(n)
}

/// After a first pull of `image`: its digest from the registry, pinned.
pub fn pin_image(
    sys: &System,
    name: &str,
    image: &str,
    pins: &Path,
    manifest: &mut Manifest,
    rep: &mut Reporter,
) -> Result<String, ResourceError> {
    let out = sys
        .run(
            "docker",
            &[
                "image",
                "inspect",
                "--format",
                "{{json .RepoDigests}}",
                image,
            ],
        )
        .map_err(|e| run_err(format!("docker image inspect {image}"), e))?;
    let digests: Vec<String> = serde_json::from_str(out.stdout.trim()).unwrap_or_default();
    let digest = repo_digest(image, &digests).ok_or_else(|| {
        err(format!(
            "docker pulled {image} but reports no registry digest of it ({}); pin one with --marathon-source 'docker:{image}@sha256:DIGEST'",
            out.stdout.trim()
        ))
    })?;
    record(
        sys,
        pins,
        name,
        &digest,
        &format!("the image {image}"),
        manifest,
    )
    .map_err(|e| err(crate::error_chain(&e)))?;
    rep.note(format!(
        "trust on first use: {name}: image {image} pulled over the registry's HTTPS, digest {digest}; pinned in {} under [pins]: {} (copy that line into the other nodes' setup.toml)",
        pins.display(),
        pin_line(name, &digest)
    ));
    Ok(format!("pulled; digest {digest} pinned"))
}

/// The `sha256:…` of `image`'s repository among `docker image inspect`'s
/// RepoDigests (`repo@sha256:…`).
pub fn repo_digest(image: &str, digests: &[String]) -> Option<String> {
    let named = image.split('@').next().unwrap_or(image);
    let last = named.rfind('/').map_or(0, |i| i + 1);
    let repo = match named[last..].rfind(':') {
        Some(tag) => &named[..last + tag],
        None => named,
    };
    // Docker Hub's official names lose their docker.io/library prefix.
    let short = |r: &str| {
        r.trim_start_matches("docker.io/")
            .trim_start_matches("library/")
            .to_owned()
    };
    digests.iter().find_map(|d| {
        let (r, digest) = d.split_once('@')?;
        (short(r) == short(repo) && digest.starts_with("sha256:")).then(|| digest.to_owned())
    })
}

/// `name = "value"` as it reads under `[pins]`.
pub fn pin_line(name: &str, value: &str) -> String {
    format!(
        "{} = {}",
        toml_edit::Key::new(name).display_repr(),
        toml_edit::Value::from(value)
    )
}

/// `text` with `[pins] name = value` set, everything else as it was
/// (comments, order, spacing).
pub fn set_pin(text: &str, name: &str, value: &str, comment: &str) -> Result<String, PinError> {
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(PinError::NotToml)?;
    let pins = doc
        .entry("pins")
        .or_insert_with(toml_edit::table)
        .as_table_like_mut()
        .ok_or(PinError::NotATable)?;
    pins.insert(name, toml_edit::value(value));
    if let Some(mut key) = pins.key_mut(name) {
        key.leaf_decor_mut().set_prefix(format!("# {comment}\n"));
    }
    Ok(doc.to_string())
}

/// Writes the pin into the configuration file (atomically, its mode kept)
/// and records it: the file in the manifest, so uninstall puts it back as
/// it was, and what was trusted, when and from where.
fn record(
    sys: &System,
    pins: &Path,
    name: &str,
    value: &str,
    from: &str,
    manifest: &mut Manifest,
) -> Result<(), TrustError> {
    let fail = |source: PinError| TrustError::Write {
        path: pins.display().to_string(),
        source,
    };
    let old = match fs::read(pins) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(fail(e.into())),
    };
    let text = String::from_utf8_lossy(old.as_deref().unwrap_or_default()).into_owned();
    let day = openpgp::date(now());
    let new = set_pin(
        &text,
        name,
        value,
        &format!("trusted on first use by mesos-docker setup on {day}: {from}"),
    )
    .map_err(fail)?;
    let mode = fs::metadata(pins).map_or(0o644, |m| {
        std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777
    });
    // Only a file under the root is setup's to record (and undo).
    if let Ok(rel) = pins.strip_prefix(sys.root()) {
        let host = format!("/{}", rel.display());
        let mut entry = Entry {
            sha256: Some(sha256_hex(new.as_bytes())),
            created: old.is_none(),
            ..blank(&host, Kind::File)
        };
        if let Some(old) = &old
            && manifest.entry(&host).is_none()
        {
            let bak = fsops::backup_path(pins, old);
            fsops::write_atomic(&bak, old, mode, None).map_err(|e| fail(PinError::Backup(e)))?;
            entry.backup = Some(host_path(sys, &bak));
        }
        crate::setup::apply::change::ensure_parents(sys, &host, manifest)
            .map_err(|e| fail(e.into()))?;
        manifest.record(entry);
    }
    manifest.trusted.retain(|t| t.name != name);
    manifest.trusted.push(Trusted {
        name: name.to_owned(),
        pin: value.to_owned(),
        from: from.to_owned(),
        on: day,
    });
    manifest.save(sys).map_err(|e| fail(e.into()))?;
    if let Some(dir) = pins.parent() {
        fs::create_dir_all(dir).map_err(|e| fail(e.into()))?;
    }
    fsops::write_atomic(pins, new.as_bytes(), mode, fsops::root_owner()).map_err(|e| fail(e.into()))
}

/// Where a configuration file (and so the pins) is: `--config`, else
/// setup.toml under the root.
pub fn pins_file(sys: &System, explicit: Option<&Path>) -> PathBuf {
    explicit.map_or_else(
        || sys.path(crate::setup::input::options::CONFIG),
        Path::to_path_buf,
    )
}

/// Debian's policy-rc.d (invoke-rc.d, deb-systemd-invoke): exit 101 means
/// "action forbidden". Written only where there is none; one that is there
/// is the site's, and kept.
const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";

/// A policy-rc.d setup put in place for one install.
pub struct PolicyRcD(());

impl PolicyRcD {
    /// Forbids service starts by maintainer scripts until `release`; `None`
    /// when a policy-rc.d is there already (or the root is not live).
    pub fn hold(sys: &System, manifest: &mut Manifest) -> Result<Option<PolicyRcD>, ResourceError> {
        let p = sys.path(POLICY_RC_D);
        // No /usr/sbin: no invoke-rc.d either, nothing would ask.
        if !sys.is_live() || p.exists() || p.is_symlink() || !p.parent().is_some_and(Path::is_dir) {
            return Ok(None);
        }
        let body = "#!/bin/sh\n# mesos-docker setup: maintainer scripts start no services during this install (removed after it).\nexit 101\n";
        // Recorded first: a run killed during the install leaves it for
        // uninstall (or the next run) to remove.
        manifest.record(Entry {
            created: true,
            sha256: Some(sha256_hex(body.as_bytes())),
            ..blank(POLICY_RC_D, Kind::File)
        });
        manifest.save(sys).map_err(ResourceError::from)?;
        fsops::write_atomic(&p, body.as_bytes(), 0o755, fsops::root_owner())
            .map_err(|e| io_err("cannot write", &p, e))?;
        Ok(Some(PolicyRcD(())))
    }

    pub fn release(self, sys: &System, manifest: &mut Manifest) -> Result<(), ResourceError> {
        let p = sys.path(POLICY_RC_D);
        fs::remove_file(&p).map_err(|e| io_err("cannot remove", &p, e))?;
        manifest.entries.retain(|e| e.path != POLICY_RC_D);
        Ok(manifest.save(sys)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pin_goes_into_the_file_and_nothing_else_moves() {
        let fp = "BA227EBC312D2E43498A533963F8CEE149ACA59E";
        let cases: &[(&str, &str)] = &[
            (
                "",
                "[pins]\n# c\naventer-mesos = \"BA227EBC312D2E43498A533963F8CEE149ACA59E\"\n",
            ),
            (
                "# my node\nrole = \"agent\" # keep\n\n[sources]\ndocker = \"distro\"\n",
                "# my node\nrole = \"agent\" # keep\n\n[sources]\ndocker = \"distro\"\n\n[pins]\n# c\naventer-mesos = \"BA227EBC312D2E43498A533963F8CEE149ACA59E\"\n",
            ),
            // An old pin is replaced in place.
            (
                "[pins]\naventer-mesos = \"00\"\n\"marathon-1.11.24\" = \"sha256:x\"\n",
                "[pins]\n# c\naventer-mesos = \"BA227EBC312D2E43498A533963F8CEE149ACA59E\"\n\"marathon-1.11.24\" = \"sha256:x\"\n",
            ),
        ];
        for (before, want) in cases {
            let got = set_pin(before, "aventer-mesos", fp, "c").unwrap();
            assert_eq!(&got, want, "{before:?}");
            let parsed: crate::setup::input::options::FileConfig = toml::from_str(&got).unwrap();
            assert_eq!(parsed.pins.unwrap()["aventer-mesos"], fp);
        }
        // A name with dots is quoted, or TOML would read nested tables.
        let got = set_pin("", "marathon-1.11.24", "sha256:x", "c").unwrap();
        assert_eq!(got, "[pins]\n# c\n\"marathon-1.11.24\" = \"sha256:x\"\n");
        assert_eq!(
            pin_line("marathon-1.11.24", "v"),
            "\"marathon-1.11.24\" = \"v\""
        );
        assert_eq!(pin_line("aventer-mesos", "v"), "aventer-mesos = \"v\"");
        // An inline table stays one.
        let got = set_pin("pins = { a = \"1\" }\n", "b", "2", "c").unwrap();
        let parsed: toml::Table = toml::from_str(&got).unwrap();
        assert_eq!(parsed["pins"]["a"].as_str(), Some("1"));
        assert_eq!(parsed["pins"]["b"].as_str(), Some("2"));
        for (bad, want) in [
            ("pins = \"x\"\n", "its pins is not a table"),
            ("role = \n", "not valid TOML"),
        ] {
            let e = set_pin(bad, "a", "b", "c").unwrap_err();
            assert!(e.to_string().contains(want), "{bad:?}: {e}");
        }
    }

    #[test]
    fn expiry_is_named_with_its_date() {
        let life = openpgp::KeyLife {
            fingerprint: "BA227EBC312D2E43498A533963F8CEE149ACA59E".into(),
            created: 1_601_274_869,
            expires: Some(1_790_553_600),
        };
        let url = "https://www.aventer.biz/assets/support_aventer.asc";
        assert_eq!(expired(&life, url, 1_790_553_599), None);
        let m = expired(&life, url, 1_790_553_600).unwrap();
        assert!(
            m.starts_with(
                "the signing key BA22 7EBC 312D 2E43 498A 5339 63F8 CEE1 49AC A59E from https://www.aventer.biz/assets/support_aventer.asc expired on 2026-09-28 (UTC)"
            ),
            "{m}"
        );
        assert!(m.contains("run setup again once"), "{m}");
        let forever = openpgp::KeyLife {
            expires: None,
            ..life
        };
        assert_eq!(expired(&forever, url, u64::MAX), None);
    }

    #[test]
    fn the_digest_of_the_pulled_repository_is_the_pin() {
        let d = |s: &str| s.to_owned();
        let hex = "ab".repeat(32);
        let cases: &[(&str, Vec<String>, Option<String>)] = &[
            (
                "mesosphere/marathon:v1.11.24",
                vec![format!("mesosphere/marathon@sha256:{hex}")],
                Some(format!("sha256:{hex}")),
            ),
            (
                "redis:7",
                vec![format!("docker.io/library/redis@sha256:{hex}")],
                Some(format!("sha256:{hex}")),
            ),
            (
                "registry.local:5000/m:1",
                vec![
                    d("other/m@sha256:00"),
                    format!("registry.local:5000/m@sha256:{hex}"),
                ],
                Some(format!("sha256:{hex}")),
            ),
            ("mesosphere/marathon:v1.11.24", vec![], None),
            (
                "mesosphere/marathon:v1.11.24",
                vec![d("evil/marathon@sha256:00")],
                None,
            ),
        ];
        for (image, digests, want) in cases {
            assert_eq!(&repo_digest(image, digests), want, "{image} {digests:?}");
        }
    }
}
