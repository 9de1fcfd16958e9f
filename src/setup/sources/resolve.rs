//! Which source each component of this node comes from: the operator's SPEC
//! (flag over setup.toml), else what is installed already, else the
//! catalog's default for the OS release; then the mirror, then the pins.
//! Every refusal happens here, before anything is planned or written.

use serde::Serialize;

use super::catalog::CATALOG;
use super::{Component, Resolved, SourceError, Spec, mirror, spec};
use crate::setup::facts::{Facts, Init};
use crate::setup::options::Role;

/// A SPEC the operator gave, and where.
#[derive(Debug, Clone)]
pub struct Given {
    pub component: Component,
    pub text: String,
    /// `--mesos-source`, or `FILE [sources] mesos`.
    pub place: String,
}

pub struct Request<'a> {
    pub given: Vec<Given>,
    /// A checked `--mirror` URL.
    pub mirror: Option<String>,
    pub allow_unverified: bool,
    pub role: Role,
    pub marathon: bool,
    pub local_zk: bool,
    pub facts: &'a Facts,
}

/// The node's sources; `None`: nothing to install (not run on this role, or
/// kept as installed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Sources {
    pub zookeeper: Option<Resolved>,
    pub docker: Option<Resolved>,
    pub mesos: Option<Resolved>,
    pub marathon: Option<Resolved>,
}

impl Sources {
    pub fn get(&self, c: Component) -> Option<&Resolved> {
        match c {
            Component::Zookeeper => self.zookeeper.as_ref(),
            Component::Docker => self.docker.as_ref(),
            Component::Mesos => self.mesos.as_ref(),
            Component::Marathon => self.marathon.as_ref(),
        }
    }

    /// Whether a service of this node runs in a container.
    pub fn runs_images(&self) -> bool {
        [&self.mesos, &self.marathon]
            .iter()
            .any(|r| r.as_ref().is_some_and(|r| r.spec.is_image()))
    }
}

fn bad(place: &str, problem: impl Into<String>) -> SourceError {
    SourceError::Bad {
        place: place.to_owned(),
        problem: problem.into(),
    }
}

fn example(spec: &Spec) -> &'static str {
    match spec {
        Spec::Deb(_) => "deb:URL,sha256=HEX",
        Spec::Docker { .. } => "docker:IMAGE@sha256:DIGEST",
        Spec::DockerArchive { .. } => "docker-archive:LOCATION,image=NAME:TAG,sha256=HEX",
        Spec::Apt(_) => "apt:URI,suite=SUITE,components=C,key=KEY,fingerprint=HEX40,packages=P",
        _ => "tgz:URL,sha256=HEX",
    }
}

/// Resolves every component this node needs. Returns warnings for what the
/// operator should know (an unverified source let through, a Docker kept).
pub fn resolve(req: &Request) -> Result<(Sources, Vec<String>), SourceError> {
    let mut warnings = Vec::new();
    let facts = req.facts;
    let mut out = Sources::default();
    let given = |c: Component| req.given.iter().rev().find(|g| g.component == c);
    let master = req.role.is_master();

    // Mesos: what is installed stays unless a source is named.
    let mesos_there = (!master || facts.installed.mesos_master)
        && (!req.role.is_agent() || facts.installed.mesos_agent);
    out.mesos = match given(Component::Mesos) {
        Some(g) => Some(one(req, Component::Mesos, g, &mut warnings)?),
        None if mesos_there => None,
        None => {
            let missing = if master && !facts.installed.mesos_master {
                "/usr/sbin/mesos-master"
            } else {
                "/usr/sbin/mesos-agent"
            };
            return Err(SourceError::NoMesos {
                missing: missing.into(),
            });
        }
    };
    if master && req.marathon {
        out.marathon = match given(Component::Marathon) {
            Some(g) => Some(one(req, Component::Marathon, g, &mut warnings)?),
            None if facts.installed.marathon_program => None,
            None => default(req, Component::Marathon, &mut warnings)?,
        };
    }
    if req.role.is_agent() || out.runs_images() {
        out.docker = match (given(Component::Docker), &facts.installed.docker) {
            (Some(g), Some((name, version))) => {
                warnings.push(format!(
                    "{} {}: Docker is installed already ({name} {version}) and is kept; a Docker source applies to hosts without one (purge {name} first to switch)",
                    g.place, g.text
                ));
                None
            }
            (None, Some(_)) => None,
            (Some(g), None) => Some(one(req, Component::Docker, g, &mut warnings)?),
            (None, None) => default(req, Component::Docker, &mut warnings)?,
        };
    }
    if req.local_zk {
        out.zookeeper = match given(Component::Zookeeper) {
            Some(g) => Some(one(req, Component::Zookeeper, g, &mut warnings)?),
            None => default(req, Component::Zookeeper, &mut warnings)?,
        };
    }
    // A source for something this node does not run is a mistake worth
    // naming, not an error: the same setup.toml may serve every role.
    let unused = |c: Component| match c {
        Component::Zookeeper => !req.local_zk,
        Component::Docker => !req.role.is_agent() && !out.runs_images(),
        Component::Marathon => !(master && req.marathon),
        Component::Mesos => false,
    };
    for g in &req.given {
        if unused(g.component) && given(g.component).is_some_and(|last| std::ptr::eq(last, g)) {
            warnings.push(format!(
                "{} {}: this node runs no {} (role {}), so it is not used",
                g.place,
                g.text,
                g.component,
                req.role.name()
            ));
        }
    }
    Ok((out, warnings))
}

fn default(
    req: &Request,
    c: Component,
    warnings: &mut Vec<String>,
) -> Result<Option<Resolved>, SourceError> {
    match CATALOG.default_for(c) {
        Some(id) => {
            let g = Given {
                component: c,
                text: id.to_owned(),
                place: format!("the catalog's default {} source", c),
            };
            one(req, c, &g, warnings).map(Some)
        }
        None => Ok(None),
    }
}

fn one(
    req: &Request,
    c: Component,
    g: &Given,
    warnings: &mut Vec<String>,
) -> Result<Resolved, SourceError> {
    let place = g.place.as_str();
    let os = &req.facts.os;
    let mut spec = spec::parse(&g.text).map_err(|p| bad(place, p))?;
    let mut cited = None;
    let mut label = g.text.clone();
    if let Spec::Catalog { id } = &spec {
        let entry = CATALOG.get(id).ok_or_else(|| {
            let ids = CATALOG.ids(c);
            let known = if ids.is_empty() {
                "the catalog has none".to_owned()
            } else {
                format!("the catalog has {}", ids.join(", "))
            };
            bad(
                place,
                format!(
                    "{id:?} is not a {c} source in the catalog ({known}); give distro, one of those, or a SPEC such as 'tgz:URL,sha256=HEX'"
                ),
            )
        })?;
        if entry.component != c {
            return Err(bad(
                place,
                format!(
                    "the catalog entry {id} is a {} source, not a {c} one",
                    entry.component
                ),
            ));
        }
        let resolved = entry.spec(os).map_err(|p| bad(place, p))?;
        label = format!("{id} ({resolved})");
        cited = Some(entry.cited.clone());
        spec = resolved;
    }
    match (&spec, c) {
        (Spec::Distro, Component::Mesos | Component::Marathon) => {
            return Err(bad(
                place,
                format!(
                    "{os} has no {c} package of its own; name a deb, tgz, docker or apt source"
                ),
            ));
        }
        (
            Spec::Tgz(_) | Spec::Docker { .. } | Spec::DockerArchive { .. },
            Component::Zookeeper | Component::Docker,
        ) => {
            return Err(bad(
                place,
                format!(
                    "{c} installs from packages (its package brings the service that runs it): give distro, a deb: or an apt: source"
                ),
            ));
        }
        (Spec::Docker { .. } | Spec::DockerArchive { .. }, _)
            if req.facts.init == Init::Upstart =>
        {
            return Err(bad(
                place,
                "an image runs under a systemd unit and this host uses upstart: give a deb:, tgz: or apt: source",
            ));
        }
        _ => {}
    }
    if let Spec::Apt(r) = &mut spec
        && r.name.is_empty()
    {
        r.name = format!("mesos-docker-{c}");
    }
    if let Some(url) = &req.mirror {
        mirror::apply(&mut spec, url);
    }
    if let Some(pin) = spec.missing_pin() {
        if !req.allow_unverified {
            return Err(SourceError::Unverified {
                component: c,
                given: label,
                pin,
                flag: c.flag(),
                example: example(&spec),
            });
        }
        warnings.push(format!(
            "the {c} source {label} is unverified (no pinned {pin}): installing it unchecked because of --allow-unverified"
        ));
    }
    Ok(Resolved {
        component: c,
        spec,
        given: label,
        cited,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::facts::{Distro, Installed, Os};

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn facts(installed: Installed) -> Facts {
        Facts {
            os: Os {
                distro: Distro::Debian,
                version: "12".into(),
            },
            arch: "x86_64".into(),
            init: Init::Systemd,
            hostname: "n".into(),
            addresses: vec![],
            memory_mib: None,
            cpus: None,
            cgroup: None,
            nofile_hard: None,
            container: None,
            installed,
        }
    }

    fn req<'a>(role: Role, f: &'a Facts, given: &[(Component, &str)]) -> Request<'a> {
        Request {
            given: given
                .iter()
                .map(|(c, t)| Given {
                    component: *c,
                    text: t.to_string(),
                    place: c.flag().to_owned(),
                })
                .collect(),
            mirror: None,
            allow_unverified: false,
            role,
            marathon: true,
            local_zk: role.is_master(),
            facts: f,
        }
    }

    fn mesos_tgz() -> String {
        format!("tgz:/srv/mesos.tgz,sha256={HEX}")
    }

    fn marathon_pinned() -> String {
        format!("docker:mesosphere/marathon:v1.11.24@sha256:{HEX}")
    }

    #[test]
    fn defaults_per_component_and_role() {
        let f = facts(Installed::default());
        let (s, w) = resolve(&req(
            Role::Standalone,
            &f,
            &[
                (Component::Mesos, &mesos_tgz()),
                (Component::Marathon, &marathon_pinned()),
            ],
        ))
        .unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(s.zookeeper.unwrap().spec, Spec::Distro);
        assert_eq!(s.docker.unwrap().spec, Spec::Distro);
        assert!(matches!(s.mesos.unwrap().spec, Spec::Tgz(_)));
        assert!(s.marathon.unwrap().spec.is_image());

        // An agent: no ZooKeeper, no Marathon.
        let (s, _) = resolve(&req(Role::Agent, &f, &[(Component::Mesos, &mesos_tgz())])).unwrap();
        assert!(s.zookeeper.is_none() && s.marathon.is_none());
        assert!(s.docker.is_some());

        // A master running Marathon's image needs Docker; one whose
        // Marathon is a tarball does not.
        let (s, _) = resolve(&req(
            Role::Master,
            &f,
            &[
                (Component::Mesos, &mesos_tgz()),
                (Component::Marathon, &marathon_pinned()),
            ],
        ))
        .unwrap();
        assert_eq!(s.docker.unwrap().spec, Spec::Distro);
        let tgz = format!("tgz:https://example.org/marathon.tgz,sha256={HEX}");
        let (s, _) = resolve(&req(
            Role::Master,
            &f,
            &[
                (Component::Mesos, &mesos_tgz()),
                (Component::Marathon, &tgz),
            ],
        ))
        .unwrap();
        assert!(s.docker.is_none());
    }

    #[test]
    fn what_is_installed_is_kept() {
        let f = facts(Installed {
            docker: Some(("docker-ce".into(), "27.0".into())),
            mesos_master: true,
            mesos_agent: true,
            marathon_program: true,
            ..Default::default()
        });
        let (s, w) = resolve(&req(Role::Standalone, &f, &[])).unwrap();
        assert!(s.mesos.is_none() && s.marathon.is_none() && s.docker.is_none());
        assert!(w.is_empty());
        let (_, w) = resolve(&req(
            Role::Agent,
            &f,
            &[(Component::Marathon, "marathon-1.11.24")],
        ))
        .unwrap();
        assert_eq!(
            w,
            [
                "--marathon-source marathon-1.11.24: this node runs no marathon (role agent), so it is not used"
            ]
        );
        let (s, w) = resolve(&req(Role::Agent, &f, &[(Component::Docker, "docker-ce")])).unwrap();
        assert!(s.docker.is_none());
        assert!(
            w[0].contains("Docker is installed already (docker-ce 27.0) and is kept"),
            "{w:?}"
        );
    }

    #[test]
    fn refusals() {
        let f = facts(Installed::default());
        let mesos = mesos_tgz();
        let marathon = marathon_pinned();
        type Case<'a> = (Role, Vec<(Component, &'a str)>, &'a str);
        let cases: Vec<Case> = vec![
            (
                Role::Agent,
                vec![],
                "this node has no Mesos (/usr/sbin/mesos-agent is missing) and no source of it can be verified today",
            ),
            (
                Role::Master,
                vec![(Component::Mesos, &mesos)],
                "the marathon source marathon-1.11.24 (docker:mesosphere/marathon:v1.11.24) is unverified: it has no pinned image digest. Pin it (for example --marathon-source 'docker:IMAGE@sha256:DIGEST') or pass --allow-unverified to install it unchecked",
            ),
            (
                Role::Agent,
                vec![(Component::Mesos, "tgz:https://example.org/mesos.tgz")],
                "the mesos source tgz:https://example.org/mesos.tgz is unverified: it has no pinned sha256. Pin it (for example --mesos-source 'tgz:URL,sha256=HEX') or pass --allow-unverified to install it unchecked",
            ),
            (
                Role::Agent,
                vec![(Component::Mesos, "distro")],
                "--mesos-source: Debian 12 has no mesos package of its own",
            ),
            (
                Role::Agent,
                vec![(Component::Mesos, "mesos-1.11")],
                "--mesos-source: \"mesos-1.11\" is not a mesos source in the catalog (the catalog has none)",
            ),
            (
                Role::Agent,
                vec![
                    (Component::Mesos, &mesos),
                    (Component::Docker, "marathon-1.11.24"),
                ],
                "--docker-source: the catalog entry marathon-1.11.24 is a marathon source, not a docker one",
            ),
            (
                Role::Agent,
                vec![
                    (Component::Mesos, &mesos),
                    (Component::Docker, "docker:docker:dind"),
                ],
                "--docker-source: docker installs from packages",
            ),
            (
                Role::Agent,
                vec![(Component::Mesos, "deb:mesos.deb")],
                "--mesos-source: \"mesos.deb\" is not an https:// or http:// URL",
            ),
            (
                Role::Master,
                vec![
                    (Component::Mesos, &mesos),
                    (Component::Marathon, &marathon),
                    (
                        Component::Zookeeper,
                        "apt:https://a.b/c,suite=s,components=main,key=https://a.b/k,packages=zookeeperd",
                    ),
                ],
                "the zookeeper source apt:https://a.b/c,suite=s,components=main,key=https://a.b/k,packages=zookeeperd is unverified: it has no pinned key fingerprint",
            ),
        ];
        for (role, given, want) in cases {
            let r = req(role, &f, &given);
            let err = resolve(&r).unwrap_err().to_string();
            assert!(err.contains(want), "{given:?}: {err}");
        }
        let mut old = facts(Installed::default());
        old.init = Init::Upstart;
        let err = resolve(&req(
            Role::Agent,
            &old,
            &[(Component::Mesos, &format!("docker:m@sha256:{HEX}"))],
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("this host uses upstart"), "{err}");
    }

    #[test]
    fn unverified_passes_with_a_warning_and_the_mirror_rewrites() {
        let f = facts(Installed::default());
        let mut r = req(
            Role::Standalone,
            &f,
            &[(Component::Mesos, "tgz:https://example.org/mesos.tgz")],
        );
        r.allow_unverified = true;
        r.mirror = Some("https://mirror.local".into());
        let (s, w) = resolve(&r).unwrap();
        assert_eq!(
            s.mesos.unwrap().spec.to_string(),
            "tgz:https://mirror.local/example.org/mesos.tgz"
        );
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].starts_with("the mesos source tgz:https://example.org/mesos.tgz is unverified (no pinned sha256): installing it unchecked because of --allow-unverified"), "{w:?}");
        assert!(w[1].contains("marathon"), "{w:?}");
    }

    #[test]
    fn docker_ce_from_the_catalog() {
        let f = facts(Installed::default());
        let (s, _) = resolve(&req(
            Role::Agent,
            &f,
            &[
                (Component::Mesos, &mesos_tgz()),
                (Component::Docker, "docker-ce"),
            ],
        ))
        .unwrap();
        let d = s.docker.unwrap();
        assert!(
            d.given.starts_with(
                "docker-ce (apt:https://download.docker.com/linux/debian,suite=bookworm,"
            ),
            "{}",
            d.given
        );
        assert!(d.cited.unwrap().contains("docs.docker.com"));
    }
}
