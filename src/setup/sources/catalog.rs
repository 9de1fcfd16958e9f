//! The catalog: templates/sources.toml, built into the binary. Each entry is
//! turned into the same [`Spec`] a flag would give (through the SPEC parser,
//! so both are checked alike), for the host's OS release.

use std::sync::LazyLock;

use serde::Deserialize;

use super::model::{Component, Spec};
use super::syntax;
use crate::setup::host::facts::{Distro, Os};

const TEXT: &str = include_str!("../../../templates/sources.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    defaults: Defaults,
    #[serde(default)]
    source: Vec<Entry>,
}

/// A component's source when none is named: `distro` or an entry's id.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    pub zookeeper: Option<String>,
    pub docker: Option<String>,
    pub mesos: Option<String>,
    pub marathon: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub id: String,
    pub component: Component,
    pub kind: String,
    /// `debian:12`, `ubuntu:24.04`: the releases it serves; absent: all.
    pub os: Option<Vec<String>>,
    /// Where the facts of this entry (URLs, pins) are published.
    pub cited: String,
    location: Option<String>,
    sha256: Option<String>,
    image: Option<String>,
    digest: Option<String>,
    uri: Option<String>,
    suite: Option<String>,
    components: Option<Vec<String>>,
    key: Option<String>,
    fingerprint: Option<String>,
    packages: Option<Vec<String>>,
    /// Where the package puts mesos-master and mesos-agent, when not
    /// /usr/sbin (AVENTER's packages use /usr/bin).
    pub programs: Option<String>,
    /// `first-use`: no pin of it is published, so setup trusts what the
    /// publisher's host serves over HTTPS the first time and pins that.
    pub trust: Option<String>,
}

pub struct Catalog {
    pub defaults: Defaults,
    pub entries: Vec<Entry>,
}

pub static CATALOG: LazyLock<Catalog> = LazyLock::new(|| {
    let f: File = toml::from_str(TEXT).expect("templates/sources.toml parses");
    Catalog {
        defaults: f.defaults,
        entries: f.source,
    }
});

/// `debian:12`, as the catalog names releases.
pub fn os_key(os: &Os) -> String {
    let id = match os.distro {
        Distro::Debian => "debian",
        Distro::Ubuntu => "ubuntu",
    };
    format!("{id}:{}", os.version)
}

/// The release's code name, which apt repositories name their suites by.
pub fn codename(os: &Os) -> Option<&'static str> {
    Some(match (os.distro, os.version.as_str()) {
        (Distro::Debian, "11") => "bullseye",
        (Distro::Debian, "12") => "bookworm",
        (Distro::Ubuntu, "14.04") => "trusty",
        (Distro::Ubuntu, "16.04") => "xenial",
        (Distro::Ubuntu, "18.04") => "bionic",
        (Distro::Ubuntu, "20.04") => "focal",
        (Distro::Ubuntu, "22.04") => "jammy",
        (Distro::Ubuntu, "24.04") => "noble",
        _ => return None,
    })
}

impl Catalog {
    /// The entry `id` that serves `os`; else the first entry `id` (whose
    /// [`Entry::spec`] then says which releases it serves). One id can
    /// have an entry per repository layout (AVENTER's Ubuntu and Debian).
    pub fn get(&self, id: &str, os: &Os) -> Option<&Entry> {
        let key = os_key(os);
        let mut same = self.entries.iter().filter(|e| e.id == id);
        let first = same.clone().next();
        same.find(|e| e.os.as_ref().is_none_or(|l| l.contains(&key)))
            .or(first)
    }

    /// Every release the entries `id` serve, for messages.
    pub fn serves(&self, id: &str) -> Vec<String> {
        self.entries
            .iter()
            .filter(|e| e.id == id)
            .flat_map(|e| e.os.clone().unwrap_or_default())
            .collect()
    }

    pub fn ids(&self, component: Component) -> Vec<&str> {
        let mut ids: Vec<&str> = self
            .entries
            .iter()
            .filter(|e| e.component == component)
            .map(|e| e.id.as_str())
            .collect();
        ids.dedup();
        ids
    }

    pub fn default_for(&self, component: Component) -> Option<&str> {
        match component {
            Component::Zookeeper => self.defaults.zookeeper.as_deref(),
            Component::Docker => self.defaults.docker.as_deref(),
            Component::Mesos => self.defaults.mesos.as_deref(),
            Component::Marathon => self.defaults.marathon.as_deref(),
        }
    }
}

impl Entry {
    /// The entry as a SPEC for this release; `Err` says why it does not fit.
    pub fn spec(&self, os: &Os) -> Result<Spec, String> {
        if let Some(list) = &self.os
            && !list.contains(&os_key(os))
        {
            return Err(format!(
                "the catalog entry {} has no build for {os} (it serves {})",
                self.id,
                CATALOG.serves(&self.id).join(", ")
            ));
        }
        let subst = |s: &str| {
            let distro = os_key(os).split(':').next().unwrap_or_default().to_owned();
            s.replace("{distro}", &distro)
                .replace("{codename}", codename(os).unwrap_or("unknown"))
        };
        let opt = |k: &str, v: &Option<String>| {
            v.as_deref()
                .map(|v| format!(",{k}={}", subst(v)))
                .unwrap_or_default()
        };
        let need = |k: &str, v: &Option<String>| {
            v.as_deref()
                .map(subst)
                .ok_or_else(|| format!("the catalog entry {} lacks {k}", self.id))
        };
        let text = match self.kind.as_str() {
            "deb" | "tgz" => format!(
                "{}:{}{}",
                self.kind,
                need("location", &self.location)?,
                opt("sha256", &self.sha256)
            ),
            "docker" => match &self.digest {
                Some(d) => format!("docker:{}@{d}", need("image", &self.image)?),
                None => format!("docker:{}", need("image", &self.image)?),
            },
            "docker-archive" => format!(
                "docker-archive:{},image={}{}",
                need("location", &self.location)?,
                need("image", &self.image)?,
                opt("sha256", &self.sha256)
            ),
            "apt" => format!(
                "apt:{},suite={},components={},key={}{},packages={}",
                need("uri", &self.uri)?,
                need("suite", &self.suite)?,
                self.components.clone().unwrap_or_default().join("+"),
                need("key", &self.key)?,
                opt("fingerprint", &self.fingerprint),
                self.packages.clone().unwrap_or_default().join("+"),
            ),
            other => return Err(format!("the catalog entry {} has kind {other:?}", self.id)),
        };
        let mut spec =
            syntax::parse(&text).map_err(|e| format!("the catalog entry {}: {e}", self.id))?;
        if let Spec::Apt(r) = &mut spec {
            r.name = self.id.clone();
        }
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(distro: Distro, version: &str) -> Os {
        Os {
            distro,
            version: version.into(),
        }
    }

    /// Every entry is usable on each release it names, every pin is cited,
    /// and every default names an entry of its component.
    #[test]
    fn the_built_in_catalog_holds_together() {
        let c = &*CATALOG;
        assert!(!c.entries.is_empty());
        for e in &c.entries {
            assert!(e.cited.starts_with("https://"), "{} cites nothing", e.id);
            let releases = e.os.clone().unwrap_or_else(|| vec!["debian:12".into()]);
            for r in releases {
                let (d, v) = r.split_once(':').unwrap();
                let d = if d == "debian" {
                    Distro::Debian
                } else {
                    Distro::Ubuntu
                };
                let o = os(d, v);
                assert!(codename(&o).is_some(), "{r}");
                let spec = e.spec(&o).unwrap_or_else(|err| panic!("{err}"));
                if spec.missing_pin().is_none() {
                    // A pin is a fact: it must name its source.
                    assert!(e.cited.len() > 20, "{}", e.id);
                }
                // One entry per id and release.
                assert!(std::ptr::eq(c.get(&e.id, &o).unwrap(), e), "{} {r}", e.id);
                // Trusted on first use only where no pin is published,
                // and only for what can be fetched over HTTPS.
                match e.trust.as_deref() {
                    None => {}
                    Some("first-use") => {
                        assert!(spec.missing_pin().is_some(), "{}", e.id);
                        assert!(
                            e.cited.contains("no public source states") || e.kind == "docker",
                            "{}",
                            e.id
                        );
                        if let Spec::Apt(a) = &spec {
                            assert!(
                                a.key.starts_with("https://") && a.uri.starts_with("https://"),
                                "{}",
                                e.id
                            );
                        }
                    }
                    Some(other) => panic!("{}: trust = {other:?}", e.id),
                }
            }
        }
        for comp in Component::ALL {
            if let Some(d) = c.default_for(comp)
                && d != "distro"
            {
                let any = c.entries.iter().find(|e| e.id == d);
                assert_eq!(any.map(|e| e.component), Some(comp), "{d}");
            }
        }
        assert_eq!(c.default_for(Component::Mesos), Some("aventer-mesos"));
    }

    #[test]
    fn docker_ce_follows_the_release() {
        let e = CATALOG
            .get("docker-ce", &os(Distro::Ubuntu, "24.04"))
            .unwrap();
        let Spec::Apt(r) = e.spec(&os(Distro::Ubuntu, "24.04")).unwrap() else {
            panic!()
        };
        assert_eq!(r.uri, "https://download.docker.com/linux/ubuntu");
        assert_eq!(r.suite, "noble");
        assert_eq!(r.key, "https://download.docker.com/linux/ubuntu/gpg");
        assert_eq!(
            r.fingerprint.as_deref(),
            Some("9DC858229FC7DD38854AE2D88D81803C0EBFCD88")
        );
        assert_eq!(r.name, "docker-ce");
        let err = e.spec(&os(Distro::Ubuntu, "14.04")).unwrap_err();
        assert!(err.contains("has no build for Ubuntu 14.04"), "{err}");
    }
}
