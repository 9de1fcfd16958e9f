//! What a source is: the components, where their files and packages come
//! from ([`Spec`], [`Artifact`], [`AptRepo`]), and what resolution gives.

use std::fmt;

use serde::Serialize;

/// What setup installs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Component {
    Zookeeper,
    Docker,
    Mesos,
    Marathon,
}

impl Component {
    pub const ALL: [Component; 4] = [
        Component::Zookeeper,
        Component::Docker,
        Component::Mesos,
        Component::Marathon,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Component::Zookeeper => "zookeeper",
            Component::Docker => "docker",
            Component::Mesos => "mesos",
            Component::Marathon => "marathon",
        }
    }

    pub fn flag(self) -> &'static str {
        match self {
            Component::Zookeeper => "--zookeeper-source",
            Component::Docker => "--docker-source",
            Component::Mesos => "--mesos-source",
            Component::Marathon => "--marathon-source",
        }
    }
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A file fetched by location: `https://…`, `http://…`, `file:///…` or an
/// absolute path on the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Artifact {
    pub location: String,
    /// Lower-case hex SHA-256.
    pub sha256: Option<String>,
    /// Packages to install with it (`tgz:…,packages=P1+P2`: the runtime
    /// libraries a Mesos tree needs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<String>,
}

/// A deb822 apt repository signed by pinned keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AptRepo {
    /// Names the .sources file and the keyring: the catalog id, or
    /// `mesos-docker-COMPONENT` for a SPEC.
    pub name: String,
    pub uri: String,
    pub suite: String,
    pub components: Vec<String>,
    pub key: String,
    /// Upper-case hex v4 fingerprint of the key that signs the repository.
    pub fingerprint: Option<String>,
    pub packages: Vec<String>,
}

/// One way to get a component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Spec {
    /// The OS's own packages.
    Distro,
    /// A catalog entry by id, before resolution.
    Catalog {
        id: String,
    },
    Deb(Artifact),
    Tgz(Artifact),
    Docker {
        image: String,
        /// `sha256:HEX`.
        digest: Option<String>,
    },
    DockerArchive {
        file: Artifact,
        /// NAME:TAG the archive holds.
        image: String,
    },
    Apt(AptRepo),
}

impl Spec {
    /// The pin this source lacks, if it lacks one: what the refusal names.
    pub fn missing_pin(&self) -> Option<&'static str> {
        match self {
            Spec::Distro | Spec::Catalog { .. } => None,
            Spec::Deb(a) | Spec::Tgz(a) | Spec::DockerArchive { file: a, .. } => {
                a.sha256.is_none().then_some("sha256")
            }
            Spec::Docker { digest, .. } => digest.is_none().then_some("image digest"),
            Spec::Apt(r) => r.fingerprint.is_none().then_some("key fingerprint"),
        }
    }

    /// The image reference `docker run` takes: pinned by digest when it can be.
    pub fn image_ref(&self) -> Option<String> {
        match self {
            Spec::Docker {
                image,
                digest: Some(d),
            } => Some(format!("{image}@{d}")),
            Spec::Docker { image, .. } | Spec::DockerArchive { image, .. } => Some(image.clone()),
            _ => None,
        }
    }

    pub fn is_image(&self) -> bool {
        matches!(self, Spec::Docker { .. } | Spec::DockerArchive { .. })
    }
}

impl fmt::Display for Spec {
    /// The SPEC form, which [`parse`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pin = |a: &Artifact| {
            a.sha256
                .as_deref()
                .map(|s| format!(",sha256={s}"))
                .unwrap_or_default()
        };
        match self {
            Spec::Distro => f.write_str("distro"),
            Spec::Catalog { id } => f.write_str(id),
            Spec::Deb(a) => write!(f, "deb:{}{}", a.location, pin(a)),
            Spec::Tgz(a) => {
                write!(f, "tgz:{}{}", a.location, pin(a))?;
                if !a.packages.is_empty() {
                    write!(f, ",packages={}", a.packages.join("+"))?;
                }
                Ok(())
            }
            Spec::Docker { image, digest } => match digest {
                Some(d) => write!(f, "docker:{image}@{d}"),
                None => write!(f, "docker:{image}"),
            },
            Spec::DockerArchive { file, image } => {
                write!(
                    f,
                    "docker-archive:{},image={image}{}",
                    file.location,
                    pin(file)
                )
            }
            Spec::Apt(r) => {
                write!(
                    f,
                    "apt:{},suite={},components={},key={}",
                    r.uri,
                    r.suite,
                    r.components.join("+"),
                    r.key
                )?;
                if let Some(fp) = &r.fingerprint {
                    write!(f, ",fingerprint={fp}")?;
                }
                write!(f, ",packages={}", r.packages.join("+"))
            }
        }
    }
}

/// A component's source as this node will use it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resolved {
    pub component: Component,
    pub spec: Spec,
    /// How the operator (or the catalog) named it, for messages.
    pub given: String,
    /// The catalog entry's citation, when it came from the catalog.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cited: Option<String>,
    /// Where the package puts mesos-master and mesos-agent, when the
    /// catalog knows (AVENTER's: /usr/bin).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub programs: Option<String>,
    /// No pin is published: the name under setup.toml's `[pins]` that the
    /// key's fingerprint (the image's digest) is written to when setup
    /// trusts it on first use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_use: Option<String>,
    /// Where the pin came from when setup.toml's `[pins]` gave it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinned_by: Option<String>,
}

/// A component this node needs that has no usable source: the plan shows
/// it as one line, and a real run refuses before changing anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocked {
    pub component: Component,
    /// The refusal, naming the fix.
    pub reason: String,
}

/// A source that cannot be used, found before anything is planned.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SourceError {
    #[error("{place}: {problem}")]
    Bad { place: String, problem: String },
    #[error(
        "the {component} source {given} is unverified: it has no pinned {pin}. Pin it (for example {flag} '{example}') or pass --allow-unverified to install it unchecked"
    )]
    Unverified {
        component: Component,
        given: String,
        pin: &'static str,
        flag: &'static str,
        example: &'static str,
    },
    #[error(
        "the {component} source {given} publishes no {pin}: setup would trust it on first use, but --require-pinned (require-pinned = true in setup.toml) forbids that. Pin it: {name} = \"…\" under [pins] in setup.toml, as a node that trusted it printed, or {flag} '{example}'"
    )]
    FirstUseForbidden {
        component: Component,
        given: String,
        pin: &'static str,
        name: String,
        flag: &'static str,
        example: &'static str,
    },
    #[error(
        "this node has no Mesos ({missing}) and {why}. Name a build you trust with --mesos-source (or mesos = \"SPEC\" under [sources] in setup.toml), one of: 'deb:URL-OR-PATH,sha256=HEX' (a .deb with mesos-master and mesos-agent in /usr/sbin or /usr/bin), 'tgz:URL-OR-PATH,sha256=HEX' (a tarball with sbin/mesos-master and sbin/mesos-agent), 'docker:IMAGE@sha256:DIGEST' or 'docker-archive:PATH,image=NAME:TAG,sha256=HEX' (an image with mesos-master and mesos-agent on its PATH), 'apt:URI,suite=SUITE,components=main,key=KEY-URL,fingerprint=HEX40,packages=mesos'"
    )]
    NoMesos { missing: String, why: String },
}
