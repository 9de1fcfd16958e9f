//! Which source each component of this node comes from: the operator's SPEC
//! (flag over setup.toml), else what is installed already, else the
//! catalog's default for the OS release; then the mirror, then the pins.
//! Every refusal happens here, before anything is planned or written.

use std::collections::BTreeMap;

use serde::Serialize;

use super::catalog::CATALOG;
use super::model::{Blocked, Component, Resolved, SourceError, Spec};
use super::{mirror, syntax};
use crate::setup::host::facts::{Facts, Init};
use crate::setup::input::model::Role;

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
    /// Refuse what would be trusted on first use.
    pub require_pinned: bool,
    /// setup.toml's `[pins]`: pins learned on first use (or copied from a
    /// node that learned them), by catalog id.
    pub pins: BTreeMap<String, String>,
    /// Where `pins` were read, for messages: `/etc/mesos-docker/setup.toml`.
    pub pins_file: String,
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
    /// Components the node needs that have no usable source.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blocked: Vec<Blocked>,
}

impl Sources {
    pub fn blocked(&self, c: Component) -> Option<&Blocked> {
        self.blocked.iter().find(|b| b.component == c)
    }

    /// Sources to be trusted on first use in this run.
    pub fn first_use(&self) -> impl Iterator<Item = &Resolved> {
        Component::ALL
            .into_iter()
            .filter_map(|c| self.get(c))
            .filter(|r| r.first_use.is_some())
    }

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

    // A source that cannot be used is set aside, so the plan still shows
    // everything else; the run refuses after it.
    let mut blocked = Vec::new();
    let mut usable = |c: Component, r: Result<Option<Resolved>, SourceError>| match r {
        Ok(r) => r,
        Err(e) => {
            blocked.push(Blocked {
                component: c,
                reason: e.to_string(),
            });
            None
        }
    };
    // Mesos: what is installed stays unless a source is named.
    let mesos_there = (!master || facts.installed.mesos_master)
        && (!req.role.is_agent() || facts.installed.mesos_agent);
    out.mesos = match given(Component::Mesos) {
        Some(g) => usable(
            Component::Mesos,
            one(req, Component::Mesos, g, &mut warnings).map(Some),
        ),
        // Installed from the default source (its pin recorded): still
        // that source, so its repository stays managed and pinned.
        None if mesos_there
            && !CATALOG
                .default_for(Component::Mesos)
                .is_some_and(|id| req.pins.contains_key(id)) =>
        {
            None
        }
        None => usable(Component::Mesos, default_mesos(req, &mut warnings)),
    };
    if master && req.marathon {
        out.marathon = match given(Component::Marathon) {
            Some(g) => usable(
                Component::Marathon,
                one(req, Component::Marathon, g, &mut warnings).map(Some),
            ),
            None if facts.installed.marathon_program => None,
            None => usable(
                Component::Marathon,
                default(req, Component::Marathon, &mut warnings),
            ),
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
            (Some(g), None) => usable(
                Component::Docker,
                one(req, Component::Docker, g, &mut warnings).map(Some),
            ),
            (None, None) => usable(
                Component::Docker,
                default(req, Component::Docker, &mut warnings),
            ),
        };
    }
    if req.local_zk {
        out.zookeeper = match given(Component::Zookeeper) {
            Some(g) => usable(
                Component::Zookeeper,
                one(req, Component::Zookeeper, g, &mut warnings).map(Some),
            ),
            None => usable(
                Component::Zookeeper,
                default(req, Component::Zookeeper, &mut warnings),
            ),
        };
    }
    out.blocked = blocked;
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

/// The catalog's Mesos for this release, or why there is none.
fn default_mesos(
    req: &Request,
    warnings: &mut Vec<String>,
) -> Result<Option<Resolved>, SourceError> {
    let facts = req.facts;
    let missing = if req.role.is_master() && !facts.installed.mesos_master {
        "mesos-master"
    } else {
        "mesos-agent"
    };
    let missing = format!("no /usr/sbin/{missing} or /usr/bin/{missing}");
    let Some(id) = CATALOG.default_for(Component::Mesos) else {
        return Err(SourceError::NoMesos {
            missing,
            why: "the catalog names no default source of it".into(),
        });
    };
    let os = &facts.os;
    if CATALOG.get(id, os).and_then(|e| e.spec(os).ok()).is_none() {
        return Err(SourceError::NoMesos {
            missing,
            why: format!(
                "the default source, {id} (AVENTER's Mesos packages), has no build for {os}: it serves {}",
                CATALOG.serves(id).join(", ")
            ),
        });
    }
    default(req, Component::Mesos, warnings)
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
    let mut spec = syntax::parse(&g.text).map_err(|p| bad(place, p.to_string()))?;
    let mut cited = None;
    let mut programs = None;
    let mut first_use = None;
    let mut label = g.text.clone();
    if let Spec::Catalog { id } = &spec {
        let entry = CATALOG.get(id, os).ok_or_else(|| {
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
        programs = entry.programs.clone();
        if entry.trust.as_deref() == Some("first-use") && resolved.missing_pin().is_some() {
            first_use = Some(id.clone());
        }
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
    let mut pinned_by = None;
    if let Some(name) = first_use.take() {
        match trust(req, c, &mut spec, &name, &label)? {
            Some(by) => pinned_by = Some(by),
            None => first_use = Some(name),
        }
    }
    if let Some(pin) = spec.missing_pin()
        && first_use.is_none()
    {
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
        programs,
        first_use,
        pinned_by,
    })
}

/// A catalog source that publishes no pin: the pin setup.toml recorded
/// (`Some(where)`), or trust on first use (`None`) where that is allowed:
/// not under --require-pinned, and only over HTTPS.
fn trust(
    req: &Request,
    c: Component,
    spec: &mut Spec,
    name: &str,
    label: &str,
) -> Result<Option<String>, SourceError> {
    let place = format!("{} [pins] {name}", req.pins_file);
    if let Some(pin) = req.pins.get(name) {
        match spec {
            Spec::Apt(r) => {
                r.fingerprint =
                    Some(syntax::fingerprint(pin).map_err(|p| bad(&place, p.to_string()))?)
            }
            Spec::Docker { digest, .. } => {
                let hex = pin.strip_prefix("sha256:").unwrap_or_default();
                let hex = syntax::sha256(hex).map_err(|_| {
                    bad(
                        &place,
                        format!("{pin:?} is not an image digest (sha256:64 hex digits, as docker images --digests prints)"),
                    )
                })?;
                *digest = Some(format!("sha256:{hex}"));
            }
            _ => return Err(bad(&place, "this source takes no pin from [pins]")),
        }
        return Ok(Some(place));
    }
    let pin = spec.missing_pin().unwrap_or("pin");
    if req.require_pinned {
        return Err(SourceError::FirstUseForbidden {
            component: c,
            given: label.to_owned(),
            pin,
            // Quoted where TOML would read dots as nested tables.
            name: if name.contains('.') {
                format!("\"{name}\"")
            } else {
                name.to_owned()
            },
            flag: c.flag(),
            example: example(spec),
        });
    }
    if let Spec::Apt(r) = spec
        && !r.key.starts_with("https://")
    {
        return Err(bad(
            label,
            format!(
                "its key {} is not fetched over HTTPS, and plain HTTP is never trusted on first use: pin the key (fingerprint=HEX40 or {name} = \"HEX40\" under [pins] in setup.toml), or serve it over HTTPS (--mirror https://…)",
                r.key
            ),
        ));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::host::facts::{Distro, Installed, Os};

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
            require_pinned: false,
            pins: BTreeMap::new(),
            pins_file: "/etc/mesos-docker/setup.toml".into(),
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
                "--mesos-source: \"mesos-1.11\" is not a mesos source in the catalog (the catalog has aventer-mesos)",
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
            let err = refusal(&r);
            assert!(err.contains(want), "{given:?}: {err}");
        }
        let mut old = facts(Installed::default());
        old.init = Init::Upstart;
        let err = refusal(&req(
            Role::Agent,
            &old,
            &[(Component::Mesos, &format!("docker:m@sha256:{HEX}"))],
        ));
        assert!(err.contains("this host uses upstart"), "{err}");
    }

    /// The reasons of the components left without a source.
    fn refusal(r: &Request) -> String {
        let (s, _) = resolve(r).unwrap();
        s.blocked
            .iter()
            .map(|b| format!("{}: {}", b.component, b.reason))
            .collect::<Vec<_>>()
            .join("\n")
    }

    const FP: &str = "BA227EBC312D2E43498A533963F8CEE149ACA59E";

    fn on(distro: Distro, version: &str) -> Facts {
        let mut f = facts(Installed::default());
        f.os = Os {
            distro,
            version: version.into(),
        };
        f
    }

    /// AVENTER's repository is the default Mesos where it serves the
    /// release, trusted on first use unless a pin or --require-pinned
    /// says otherwise.
    #[test]
    fn mesos_by_default_and_trust_on_first_use() {
        // (release, uri, suite)
        for (d, v, uri, suite) in [
            (
                Distro::Debian,
                "11",
                "https://rpm.aventer.biz/Debian",
                "bullseye",
            ),
            (
                Distro::Debian,
                "12",
                "https://rpm.aventer.biz/Debian",
                "bookworm",
            ),
            (
                Distro::Ubuntu,
                "20.04",
                "https://rpm.aventer.biz/Ubuntu/focal",
                "focal",
            ),
            (
                Distro::Ubuntu,
                "22.04",
                "https://rpm.aventer.biz/Ubuntu/jammy",
                "jammy",
            ),
            (
                Distro::Ubuntu,
                "24.04",
                "https://rpm.aventer.biz/Ubuntu/noble",
                "noble",
            ),
        ] {
            let f = on(d, v);
            let (s, w) = resolve(&req(Role::Standalone, &f, &[])).unwrap();
            assert!(s.blocked.is_empty() && w.is_empty(), "{s:?} {w:?}");
            let m = s.mesos.unwrap();
            let Spec::Apt(r) = &m.spec else {
                panic!("{m:?}")
            };
            assert_eq!((r.uri.as_str(), r.suite.as_str()), (uri, suite));
            assert_eq!(r.components, ["main"]);
            assert_eq!(r.key, "https://www.aventer.biz/assets/support_aventer.asc");
            assert_eq!(r.packages, ["aventer-mesos"]);
            assert_eq!(r.fingerprint, None);
            assert_eq!(m.first_use.as_deref(), Some("aventer-mesos"));
            assert_eq!(m.programs.as_deref(), Some("/usr/bin"));
            let mara = s.marathon.unwrap();
            assert_eq!(mara.first_use.as_deref(), Some("marathon-1.11.24"));
        }
        let f = on(Distro::Debian, "12");
        type Case = (
            &'static str,
            fn(&mut Request),
            // first_use of mesos, or the start of the refusal
            Result<Option<&'static str>, &'static str>,
        );
        let cases: Vec<Case> = vec![
            ("no pin: first use", |_| {}, Ok(Some("aventer-mesos"))),
            (
                "a recorded pin",
                |r| {
                    r.pins.insert("aventer-mesos".into(), FP.to_lowercase());
                },
                Ok(None),
            ),
            (
                "require-pinned",
                |r| r.require_pinned = true,
                Err(
                    "mesos: the mesos source aventer-mesos (apt:https://rpm.aventer.biz/Debian,suite=bookworm,components=main,key=https://www.aventer.biz/assets/support_aventer.asc,packages=aventer-mesos) publishes no key fingerprint: setup would trust it on first use, but --require-pinned (require-pinned = true in setup.toml) forbids that. Pin it: aventer-mesos = \"…\" under [pins] in setup.toml",
                ),
            ),
            (
                "require-pinned with a pin",
                |r| {
                    r.require_pinned = true;
                    r.pins.insert("aventer-mesos".into(), FP.into());
                },
                Ok(None),
            ),
            (
                "an HTTPS mirror",
                |r| r.mirror = Some("https://mirror.local".into()),
                Ok(Some("aventer-mesos")),
            ),
            (
                "plain HTTP",
                |r| r.mirror = Some("http://mirror.local".into()),
                Err(
                    "mesos: aventer-mesos (apt:https://rpm.aventer.biz/Debian,suite=bookworm,components=main,key=https://www.aventer.biz/assets/support_aventer.asc,packages=aventer-mesos): its key http://mirror.local/www.aventer.biz/assets/support_aventer.asc is not fetched over HTTPS, and plain HTTP is never trusted on first use",
                ),
            ),
            (
                "plain HTTP with a pin",
                |r| {
                    r.mirror = Some("http://mirror.local".into());
                    r.pins.insert("aventer-mesos".into(), FP.into());
                },
                Ok(None),
            ),
            (
                "a bad pin",
                |r| {
                    r.pins
                        .insert("aventer-mesos".into(), "63F8CEE149ACA59E".into());
                },
                Err(
                    "mesos: /etc/mesos-docker/setup.toml [pins] aventer-mesos: fingerprint=63F8CEE149ACA59E is not an OpenPGP v4 key fingerprint",
                ),
            ),
        ];
        for (what, edit, want) in cases {
            let mut r = req(Role::Agent, &f, &[]);
            edit(&mut r);
            let (s, _) = resolve(&r).unwrap();
            match want {
                Ok(first_use) => {
                    assert!(s.blocked.is_empty(), "{what}: {:?}", s.blocked);
                    let m = s.mesos.unwrap();
                    assert_eq!(m.first_use.as_deref(), first_use, "{what}");
                    let Spec::Apt(a) = &m.spec else { panic!() };
                    if first_use.is_none() {
                        assert_eq!(a.fingerprint.as_deref(), Some(FP), "{what}");
                        assert_eq!(
                            m.pinned_by.as_deref(),
                            Some("/etc/mesos-docker/setup.toml [pins] aventer-mesos")
                        );
                    }
                }
                Err(start) => {
                    let err = refusal(&r);
                    assert!(err.starts_with(start), "{what}: {err}");
                }
            }
        }
        // Marathon's image: the digest recorded is its pin.
        let mut r = req(Role::Master, &f, &[]);
        r.pins
            .insert("marathon-1.11.24".into(), format!("sha256:{HEX}"));
        let (s, _) = resolve(&r).unwrap();
        let m = s.marathon.unwrap();
        assert_eq!(m.first_use, None);
        assert_eq!(
            m.spec.image_ref().unwrap(),
            format!("mesosphere/marathon:v1.11.24@sha256:{HEX}")
        );
        r.pins.insert("marathon-1.11.24".into(), HEX.into());
        assert!(
            refusal(&r).contains("[pins] marathon-1.11.24: \""),
            "{}",
            refusal(&r)
        );
        // An operator's own unpinned SPEC is not trusted on first use.
        let mut r = req(
            Role::Agent,
            &f,
            &[(
                Component::Mesos,
                "apt:https://a.b/c,suite=s,components=main,key=https://a.b/k,packages=mesos",
            )],
        );
        assert!(refusal(&r).contains("is unverified: it has no pinned key fingerprint"));
        r.allow_unverified = true;
        assert_eq!(resolve(&r).unwrap().0.mesos.unwrap().first_use, None);
    }

    #[test]
    fn a_release_aventer_does_not_serve_names_the_forms() {
        for v in ["14.04", "16.04", "18.04"] {
            let mut f = on(Distro::Ubuntu, v);
            if v == "14.04" {
                f.init = Init::Upstart;
            }
            let err = refusal(&req(Role::Agent, &f, &[]));
            assert!(
                err.starts_with(&format!(
                    "mesos: this node has no Mesos (no /usr/sbin/mesos-agent or /usr/bin/mesos-agent) and the default source, aventer-mesos (AVENTER's Mesos packages), has no build for Ubuntu {v}: it serves ubuntu:20.04, ubuntu:22.04, ubuntu:24.04, debian:11, debian:12. Name a build you trust with --mesos-source"
                )),
                "{err}"
            );
            assert!(err.contains("'tgz:URL-OR-PATH,sha256=HEX'"), "{err}");
        }
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
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].starts_with("the mesos source tgz:https://example.org/mesos.tgz is unverified (no pinned sha256): installing it unchecked because of --allow-unverified"), "{w:?}");
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
