//! The plan: a pure function from (options, facts) to the resources a node
//! should have. It reads nothing and writes nothing, so every combination of
//! role, init system and OS is rendered and checked in tests without a host.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::Serialize;
use tera::{Context, Tera};

use crate::setup::host::facts::{Facts, Init};
use crate::setup::input::flags::{Daemon, FlagCheck};
use crate::setup::input::options::{Options, Role};
use crate::setup::sources::{Artifact, Component, Resolved, Spec};

pub mod dropins;

/// One thing the node should have. Owners are root throughout: every file
/// here is configuration read by services that start as root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Resource {
    Dir {
        path: String,
        mode: u32,
    },
    File {
        path: String,
        mode: u32,
        content: String,
        /// Services that read this file and need a restart when it changes.
        readers: Vec<String>,
    },
    Link {
        path: String,
        target: String,
    },
    /// A file that must not be there (an upstart `manual` override on a job
    /// this role runs).
    Absent {
        path: String,
    },
    /// A Debian package, installed with apt on a running system.
    Package {
        name: String,
        version: Option<String>,
        /// Its maintainer scripts may not start services (a Mesos package
        /// whose own units would start daemons setup has not configured):
        /// apt runs with a policy-rc.d that refuses every start.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        hold_services: bool,
        /// What to do when apt knows no such package (or suite), for the
        /// failure's message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hint: Option<String>,
    },
    /// A component the role needs but that has no usable source: shown in
    /// the plan with the fix, never applied.
    Unavailable {
        component: String,
        fix: String,
    },
    /// The mesos-docker binary at `path`, a copy of `source` (the binary
    /// running setup): the executor tasks run.
    Executor {
        path: String,
        source: String,
    },
    /// A systemd unit's enablement.
    Service {
        name: String,
        enabled: bool,
    },
    /// An apt repository: its signing key, fetched and checked against the
    /// pinned fingerprints before it is written to `keyring`, then the
    /// deb822 `.sources` file at `path` that names it in `Signed-By:`.
    #[serde(rename = "apt-source")]
    AptSource {
        path: String,
        content: String,
        keyring: String,
        key: String,
        /// Empty for an unverified source (let through by --allow-unverified).
        fingerprints: Vec<String>,
        /// The `[pins]` name of a key to be trusted on first use, which only
        /// a run on the host itself fetches (and pins before the plan).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        first_use: Option<String>,
    },
    /// One .deb file, installed with apt along with its dependencies.
    Deb {
        component: String,
        location: String,
        sha256: Option<String>,
    },
    /// A tarball unpacked to `dir`/<12 hex of its SHA-256>, with
    /// `dir`/current pointing there.
    Tarball {
        component: String,
        location: String,
        sha256: Option<String>,
        dir: String,
        /// For a Mesos tree: what its programs need to run, checked
        /// before any change.
        #[serde(skip_serializing_if = "Option::is_none")]
        libs: Option<crate::setup::sources::libs::Libs>,
    },
    /// A Docker image: loaded from a `docker save` archive, or pulled.
    Image {
        image: String,
        archive: Option<Artifact>,
        /// The `[pins]` name its digest is recorded under when pulled for
        /// the first time (no digest of it is published).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        first_use: Option<String>,
    },
}

impl Resource {
    pub fn kind(&self) -> &'static str {
        match self {
            Resource::Dir { .. } => "dir",
            Resource::File { .. } => "file",
            Resource::Link { .. } => "link",
            Resource::Absent { .. } => "absent",
            Resource::Package { .. } => "package",
            Resource::Unavailable { .. } => "source",
            Resource::Service { .. } => "service",
            Resource::AptSource { .. } => "apt-source",
            Resource::Deb { .. } => "deb",
            Resource::Tarball { .. } => "tarball",
            Resource::Image { .. } => "image",
            Resource::Executor { .. } => "executor",
        }
    }

    /// The path, or the service's name.
    pub fn id(&self) -> &str {
        match self {
            Resource::Dir { path, .. }
            | Resource::File { path, .. }
            | Resource::Link { path, .. }
            | Resource::Absent { path }
            | Resource::AptSource { path, .. }
            | Resource::Executor { path, .. } => path,
            Resource::Package { name, .. } | Resource::Service { name, .. } => name,
            Resource::Unavailable { component, .. } => component,
            Resource::Deb { location, .. } => location,
            Resource::Tarball { dir, .. } => dir,
            Resource::Image { image, .. } => image,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub resources: Vec<Resource>,
    pub warnings: Vec<String>,
    /// Unit name → the program it starts, which must exist before it can.
    pub programs: Vec<(String, String)>,
    /// Where pins learned on first use are written (setup.toml); set by
    /// the caller, which knows the file.
    pub pins_file: Option<std::path::PathBuf>,
    /// Extra Mesos flags to check against the program before its
    /// environment file is written.
    pub flag_checks: Vec<FlagCheck>,
    /// This release's packages for the sonames a Mesos needs, for a Mesos
    /// package whose own dependencies leave some out.
    pub mesos_runtime: BTreeMap<String, String>,
}

impl Plan {
    /// Whether a component has no usable source: the run must refuse.
    pub fn blocked(&self) -> Vec<&str> {
        self.resources
            .iter()
            .filter_map(|r| match r {
                Resource::Unavailable { component, .. } => Some(component.as_str()),
                _ => None,
            })
            .collect()
    }

    pub fn program(&self, unit: &str) -> Option<&str> {
        self.programs
            .iter()
            .find(|(u, _)| u == unit)
            .map(|(_, p)| p.as_str())
    }
}

/// Where the Mesos agent looks for the executor Marathon apps name.
pub const EXECUTOR_LINK: &str = "/var/lib/mesos/executors/docker";
/// What Mesos recommends for masters and agents; clamped to the host's limit.
pub const WANTED_NOFILE: u64 = 65536;

static TEMPLATES: LazyLock<Tera> = LazyLock::new(|| {
    let mut t = Tera::default();
    t.add_raw_templates([
        (
            "header.tera",
            include_str!("../../../templates/header.tera"),
        ),
        ("master.env", include_str!("../../../templates/master.env")),
        ("agent.env", include_str!("../../../templates/agent.env")),
        (
            "marathon.env",
            include_str!("../../../templates/marathon.env"),
        ),
        ("zoo.cfg", include_str!("../../../templates/zoo.cfg")),
        (
            "mesos-master.service",
            include_str!("../../../units/mesos-master.service"),
        ),
        (
            "mesos-agent.service",
            include_str!("../../../units/mesos-agent.service"),
        ),
        (
            "marathon.service",
            include_str!("../../../units/marathon.service"),
        ),
        (
            "mesos-docker-reap.service",
            include_str!("../../../units/mesos-docker-reap.service"),
        ),
        (
            "mesos-docker-reap.timer",
            include_str!("../../../units/mesos-docker-reap.timer"),
        ),
        (
            "upstart/job.conf",
            include_str!("../../../units/upstart/job.conf"),
        ),
        (
            "upstart/mesos-docker-reap.cron",
            include_str!("../../../units/upstart/mesos-docker-reap.cron"),
        ),
    ])
    .expect("the built-in templates parse");
    t.autoescape_on(vec![]);
    t
});

/// A built-in template failed to render: a bug in this build, not bad input.
#[derive(Debug, thiserror::Error)]
#[error("rendering the built-in template {name}: {source}")]
pub struct RenderError {
    name: String,
    #[source]
    source: tera::Error,
}

fn render(name: &str, ctx: &Context) -> Result<String, RenderError> {
    TEMPLATES.render(name, ctx).map_err(|source| RenderError {
        name: name.to_owned(),
        source,
    })
}

fn file(path: &str, content: String, readers: &[&str]) -> Resource {
    Resource::File {
        path: path.to_owned(),
        mode: 0o644,
        content,
        readers: readers.iter().map(|s| s.to_string()).collect(),
    }
}

fn dir(path: &str) -> Resource {
    Resource::Dir {
        path: path.to_owned(),
        mode: 0o755,
    }
}

fn package(name: &str) -> Resource {
    Resource::Package {
        name: name.to_owned(),
        version: None,
        hold_services: false,
        hint: None,
    }
}

fn service(name: &str, enabled: bool) -> Resource {
    Resource::Service {
        name: name.to_owned(),
        enabled,
    }
}

pub fn plan(opts: &Options, facts: &Facts) -> Result<Plan, RenderError> {
    let mut warnings = Vec::new();
    let nofile = match facts.nofile_hard {
        Some(hard) if hard < WANTED_NOFILE => {
            warnings.push(format!(
                "open files: the host's hard limit is {hard}, below the {WANTED_NOFILE} Mesos wants; units get LimitNOFILE={hard} (raise the limit of PID 1 to lift it)"
            ));
            hard
        }
        _ => WANTED_NOFILE,
    };
    let role = opts.role;
    if role.is_agent() {
        warnings.extend(facts.posix_reason().map(|why| format!(
            "agent: {why}, so it runs with MESOS_SYSTEMD_ENABLE_SUPPORT=false and the POSIX launcher and isolation (posix/cpu,posix/mem: usage is measured, not limited, by Mesos; the executor still sets Docker's limits)"
        )));
    }
    let local_zk = opts.ensemble.is_some();
    let marathon = role.is_master() && opts.marathon;
    let mut ctx = Context::new();
    ctx.insert("zk_mesos", &opts.zk_url("mesos"));
    ctx.insert("zk_marathon", &opts.zk_url("marathon"));
    ctx.insert("quorum", &opts.quorum());
    ctx.insert("work_dir", &opts.work_dir);
    ctx.insert("cluster_name", &opts.cluster_name);
    ctx.insert("hostname", &opts.hostname);
    ctx.insert("ip", &opts.ip.map(|ip| ip.to_string()));
    ctx.insert("containerizers", &opts.containerizers);
    ctx.insert(
        "executor_registration_timeout",
        &opts.executor_registration_timeout,
    );
    ctx.insert("attributes", &opts.attributes);
    ctx.insert("resources", &opts.resources);
    ctx.insert("posix_reason", &facts.posix_reason());
    let tree = mesos_tree(opts, &mut ctx);
    ctx.insert("nofile", &nofile);
    ctx.insert("local_zk", &local_zk);
    ctx.insert("binary", &opts.binary);
    ctx.insert(
        "proxy_file",
        &opts
            .proxy
            .is_set()
            .then_some(crate::setup::input::proxy::ENV_FILE),
    );
    ctx.insert(
        "servers",
        &opts
            .ensemble
            .as_ref()
            .map(|e| e.servers.clone())
            .unwrap_or_default(),
    );

    // Packages first: their postinst scripts drop default configuration that
    // the files below then replace (backed up), never the other way round.
    // Docker comes before the images it loads; any Docker already there
    // stays, whatever its flavour (resolution leaves its source out).
    let mut r = Vec::new();
    for c in [
        Component::Zookeeper,
        Component::Docker,
        Component::Mesos,
        Component::Marathon,
    ] {
        if let Some(src) = opts.sources.get(c) {
            install(&mut r, src, facts);
        }
        if let Some(b) = opts.sources.blocked(c) {
            r.push(Resource::Unavailable {
                component: c.name().to_owned(),
                fix: b.reason.clone(),
            });
        }
    }
    if let Some(tree_dir) = &tree {
        // The daemons and the executors the agent starts (mesos-executor,
        // mesos-containerizer) all need libmesos, and the agent passes no
        // LD_LIBRARY_PATH on: the loader's own path it is, after ldconfig.
        r.push(file(
            LD_CONF,
            format!(
                "# Written by mesos-docker setup: the libraries of the Mesos tree (--mesos-source tgz:); removed by mesos-docker uninstall.\n{tree_dir}/lib\n"
            ),
            &["mesos-master", "mesos-agent"],
        ));
    }
    let launches = Launches {
        master: launch(opts, facts, Unit::Master),
        agent: launch(opts, facts, Unit::Agent),
        marathon: launch(opts, facts, Unit::Marathon),
    };
    let mut programs = vec![
        (
            "mesos-master.service".to_owned(),
            launches.master.program.clone(),
        ),
        (
            "mesos-agent.service".to_owned(),
            launches.agent.program.clone(),
        ),
        (
            "marathon.service".to_owned(),
            launches.marathon.program.clone(),
        ),
    ];
    programs.retain(|(u, _)| {
        (u == "mesos-master.service" && role.is_master())
            || (u == "mesos-agent.service" && role.is_agent())
            || (u == "marathon.service" && marathon)
    });
    let env = |name: &str, l: &Launch| -> Result<String, RenderError> {
        let text = render(name, &ctx)? + &extra_flags(name, opts);
        // `docker run --env-file` takes values literally, quotes and all.
        Ok(if l.docker { dequote(&text) } else { text })
    };
    r.extend([
        dir("/var/lib/mesos-docker"),
        dir("/etc/mesos-docker"),
        dir("/var/log/mesos"),
        dir(&opts.work_dir),
    ]);

    if let Some(ensemble) = &opts.ensemble {
        r.push(dir("/etc/zookeeper/conf"));
        r.push(file(
            "/etc/zookeeper/conf/zoo.cfg",
            render("zoo.cfg", &ctx)?,
            &["zookeeper"],
        ));
        r.push(file(
            "/etc/zookeeper/conf/myid",
            format!("{}\n", ensemble.myid),
            &["zookeeper"],
        ));
    }
    if role.is_master() {
        r.push(dir(&format!("{}/master", opts.work_dir)));
        r.push(file(
            "/etc/mesos-docker/master.env",
            env("master.env", &launches.master)?,
            &["mesos-master"],
        ));
    }
    if marathon {
        r.push(file(
            "/etc/mesos-docker/marathon.env",
            env("marathon.env", &launches.marathon)?,
            &["marathon"],
        ));
    }
    if role.is_agent() {
        r.push(dir(&format!("{}/agent", opts.work_dir)));
        r.push(file(
            "/etc/mesos-docker/agent.env",
            env("agent.env", &launches.agent)?,
            &["mesos-agent"],
        ));
        if let Some(source) = &opts.executor_source {
            r.push(Resource::Executor {
                path: opts.binary.clone(),
                source: source.clone(),
            });
        }
        r.push(dir("/var/lib/mesos/executors"));
        r.push(Resource::Link {
            path: EXECUTOR_LINK.to_owned(),
            target: opts.binary.clone(),
        });
        if let Some(p) = &opts.policy {
            r.push(file(
                crate::setup::input::policy::PATH,
                crate::setup::input::policy::render(p),
                &[],
            ));
        }
    }
    let docker_service = role.is_agent() || opts.sources.runs_images();
    // The services that fetch, and so read the proxy (upstart's Docker job
    // is Docker's own).
    let fetchers: Vec<&str> = [
        (role.is_master(), "mesos-master"),
        (marathon, "marathon"),
        (role.is_agent(), "mesos-agent"),
        (docker_service && facts.init == Init::Systemd, "docker"),
    ]
    .into_iter()
    .filter_map(|(wanted, unit)| wanted.then_some(unit))
    .collect();
    // Written before what names it, removed after.
    let proxy_file = dropins::env_file(&opts.proxy, &fetchers);
    let proxy_set = matches!(proxy_file, Resource::File { .. });
    if proxy_set {
        r.push(proxy_file.clone());
    }
    if facts.init == Init::Systemd {
        // Before the units' enablement, which daemon-reloads after them.
        let units: Vec<String> = fetchers.iter().map(|u| format!("{u}.service")).collect();
        let units: Vec<&str> = units.iter().map(String::as_str).collect();
        r.extend(dropins::systemd_dropins(&opts.proxy, &units));
    }

    match facts.init {
        Init::Systemd => systemd(
            &mut r,
            role,
            marathon,
            local_zk,
            docker_service,
            &launches,
            &ctx,
        )?,
        Init::Upstart => upstart(&mut r, role, marathon, local_zk, nofile, &launches, &ctx)?,
    }
    if !proxy_set {
        r.push(proxy_file);
    }
    let flag_checks = flag_checks(opts, &launches);
    Ok(Plan {
        resources: r,
        warnings,
        programs,
        pins_file: None,
        flag_checks,
        mesos_runtime: crate::setup::sources::libs::known(&facts.os),
    })
}

/// The extra flags of the daemon reading environment file `name`.
fn extra_flags(name: &str, opts: &Options) -> String {
    let extra = match name {
        "master.env" => &opts.flags.master,
        "agent.env" => &opts.flags.agent,
        _ => return String::new(),
    };
    if extra.is_empty() {
        return String::new();
    }
    let daemon = name.trim_end_matches(".env");
    format!(
        "# Extra flags (--{daemon}-flag, [{daemon}.flags] in setup.toml):\n{}",
        crate::setup::input::flags::render(extra)
    )
}

/// Where a `tgz:` Mesos tree is (`current`), when Mesos comes from one. A
/// `make install` tree's compiled-in directories are /usr/libexec/mesos and
/// /usr/share/mesos/webui (seen under a real 1.11.0): both point into it.
fn mesos_tree(opts: &Options, ctx: &mut Context) -> Option<String> {
    let tree = matches!(
        opts.sources.get(Component::Mesos).map(|s| &s.spec),
        Some(Spec::Tgz(_))
    )
    .then(|| format!("{OPT}/{}/current", Component::Mesos));
    let under = |sub: &str| tree.as_ref().map(|t| format!("{t}/{sub}"));
    ctx.insert("launcher_dir", &under("libexec/mesos"));
    ctx.insert("webui_dir", &under("share/mesos/webui"));
    tree
}

/// The extra flags of the daemons this role runs, to check.
fn flag_checks(opts: &Options, launches: &Launches) -> Vec<FlagCheck> {
    [
        (
            Daemon::Master,
            opts.role.is_master(),
            &launches.master,
            &opts.flags.master,
        ),
        (
            Daemon::Agent,
            opts.role.is_agent(),
            &launches.agent,
            &opts.flags.agent,
        ),
    ]
    .into_iter()
    .filter(|(_, wanted, _, flags)| *wanted && !flags.is_empty())
    .map(|(daemon, _, l, flags)| flag_check(daemon, l, flags))
    .collect()
}

/// The loader's configuration entry for a Mesos tree's lib/.
pub const LD_CONF: &str = "/etc/ld.so.conf.d/mesos-docker-mesos.conf";

/// How to ask a daemon for its flags: `--help` of the program the unit
/// runs, or of the image's, through Docker.
fn flag_check(daemon: Daemon, l: &Launch, flags: &crate::setup::input::flags::Flags) -> FlagCheck {
    let name = daemon.program();
    let argv: Vec<String> = if l.docker {
        let image = l.exec.rsplit(' ').next().unwrap_or_default();
        [DOCKER, "run", "--rm", "--entrypoint", name, image, "--help"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    } else {
        vec![l.program.clone(), "--help".to_owned()]
    };
    FlagCheck {
        daemon,
        env_file: format!(
            "/etc/mesos-docker/{}.env",
            name.trim_start_matches("mesos-")
        ),
        argv,
        program: l.program.clone(),
        names: flags.keys().cloned().collect(),
    }
}

/// What a source puts on the node, in the order it must happen: an apt
/// repository before its packages, Docker (an earlier component) before
/// images.
fn install(r: &mut Vec<Resource>, src: &Resolved, facts: &Facts) {
    let c = src.component.name();
    match &src.spec {
        Spec::Distro => r.push(package(match src.component {
            Component::Zookeeper => "zookeeperd",
            _ => "docker.io",
        })),
        Spec::Apt(repo) => {
            let keyring = format!("/etc/apt/keyrings/{}.gpg", repo.name);
            let path = format!("/etc/apt/sources.list.d/{}.sources", repo.name);
            if !r.iter().any(|x| x.id() == path) {
                r.push(Resource::AptSource {
                    content: format!(
                        "# Written by mesos-docker setup ({c}); removed by mesos-docker uninstall.\nTypes: deb\nURIs: {}\nSuites: {}\nComponents: {}\nSigned-By: {keyring}\n",
                        repo.uri,
                        repo.suite,
                        repo.components.join(" ")
                    ),
                    path,
                    keyring,
                    key: repo.key.clone(),
                    fingerprints: repo.fingerprint.iter().cloned().collect(),
                    first_use: src.first_use.clone(),
                });
            }
            let mesos = src.component == Component::Mesos;
            for p in &repo.packages {
                if !r
                    .iter()
                    .any(|x| matches!(x, Resource::Package { name, .. } if name == p))
                {
                    r.push(Resource::Package {
                        name: p.clone(),
                        version: None,
                        hold_services: mesos,
                        hint: mesos.then(|| no_mesos_package_hint(src, repo)),
                    });
                }
            }
        }
        Spec::Deb(a) => r.push(Resource::Deb {
            component: c.to_owned(),
            location: a.location.clone(),
            sha256: a.sha256.clone(),
        }),
        Spec::Tgz(a) => {
            for p in &a.packages {
                r.push(package(p));
            }
            r.push(Resource::Tarball {
                component: c.to_owned(),
                location: a.location.clone(),
                sha256: a.sha256.clone(),
                dir: format!("{OPT}/{c}"),
                libs: (src.component == Component::Mesos).then(|| {
                    crate::setup::sources::libs::Libs {
                        packages: a.packages.clone(),
                        known: crate::setup::sources::libs::known(&facts.os),
                        os: facts.os.to_string(),
                    }
                }),
            })
        }
        Spec::Docker { .. } => r.push(Resource::Image {
            image: src.spec.image_ref().unwrap_or_default(),
            archive: None,
            first_use: src.first_use.clone(),
        }),
        Spec::DockerArchive { file, image } => r.push(Resource::Image {
            image: image.clone(),
            archive: Some(file.clone()),
            first_use: None,
        }),
        Spec::Catalog { .. } => {}
    }
}

/// What to tell the operator when apt has no such Mesos package (or no
/// such suite): the repository may not build for this release.
fn no_mesos_package_hint(src: &Resolved, repo: &crate::setup::sources::AptRepo) -> String {
    format!(
        "the Mesos source {} names suite {} of {}: if apt finds no such suite or package there, that repository has no Mesos build for this release. Name a build you trust with --mesos-source: 'deb:URL-OR-PATH,sha256=HEX', 'tgz:URL-OR-PATH,sha256=HEX', 'docker:IMAGE@sha256:DIGEST', 'docker-archive:PATH,image=NAME:TAG,sha256=HEX' or 'apt:URI,suite=SUITE,components=main,key=KEY-URL,fingerprint=HEX40,packages=mesos'",
        src.given, repo.suite, repo.uri
    )
}

/// Where tarball sources are unpacked, a directory per component.
pub const OPT: &str = "/opt/mesos-docker";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Master,
    Agent,
    Marathon,
}

/// How a unit starts its program.
#[derive(Debug, Clone, Serialize)]
struct Launch {
    /// The program that must exist (docker, for an image).
    program: String,
    exec: String,
    pre: Vec<String>,
    stop: Option<String>,
    docker: bool,
}

struct Launches {
    master: Launch,
    agent: Launch,
    marathon: Launch,
}

const DOCKER: &str = "/usr/bin/docker";

fn launch(opts: &Options, facts: &Facts, unit: Unit) -> Launch {
    // A package puts the Mesos programs where its build chose: the
    // catalog knows for its entries (AVENTER's: /usr/bin), else where an
    // installed Mesos has them, else /usr/sbin (Apache's packaging).
    let mesos_dir = opts
        .sources
        .get(Component::Mesos)
        .and_then(|s| s.programs.clone())
        .or_else(|| facts.installed.mesos_programs.clone())
        .unwrap_or_else(|| "/usr/sbin".to_owned());
    let (component, packaged, in_tarball, name) = match unit {
        Unit::Master => (
            Component::Mesos,
            format!("{mesos_dir}/mesos-master"),
            "sbin/mesos-master",
            "mesos-master",
        ),
        Unit::Agent => (
            Component::Mesos,
            format!("{mesos_dir}/mesos-agent"),
            "sbin/mesos-agent",
            "mesos-agent",
        ),
        Unit::Marathon => (
            Component::Marathon,
            "/usr/share/marathon/bin/marathon".to_owned(),
            "bin/marathon",
            "marathon",
        ),
    };
    let plain = |program: String| Launch {
        exec: program.clone(),
        program,
        pre: vec![],
        stop: None,
        docker: false,
    };
    let src = opts.sources.get(component);
    match src.map(|s| &s.spec) {
        Some(Spec::Tgz(_)) => plain(format!("{OPT}/{component}/current/{in_tarball}")),
        Some(spec @ (Spec::Docker { .. } | Spec::DockerArchive { .. })) => {
            let image = spec.image_ref().unwrap_or_default();
            let env = match unit {
                Unit::Master => "/etc/mesos-docker/master.env",
                Unit::Agent => "/etc/mesos-docker/agent.env",
                Unit::Marathon => "/etc/mesos-docker/marathon.env",
            };
            let mut run = format!("{DOCKER} run --rm --name {name} --net host --env-file {env}");
            let mut mount = |p: &str, ro: bool| {
                run.push_str(&format!(" -v {p}:{p}{}", if ro { ":ro" } else { "" }));
            };
            match unit {
                Unit::Master => {
                    mount(&opts.work_dir, false);
                    mount("/var/log/mesos", false);
                }
                Unit::Agent => {
                    // The agent starts executors (this binary, through the
                    // executor link) that drive the host's Docker, and
                    // recovers them after a restart: they share the host's
                    // process namespace.
                    mount(&opts.work_dir, false);
                    mount("/var/log/mesos", false);
                    mount("/var/run/docker.sock", false);
                    mount("/sys/fs/cgroup", false);
                    mount("/var/lib/mesos/executors", true);
                    mount(&opts.binary, true);
                    run.push_str(" --pid host");
                }
                Unit::Marathon => {}
            }
            // Marathon's image starts Marathon; a Mesos image holds both
            // daemons, so the unit names which.
            if unit != Unit::Marathon {
                run.push_str(&format!(" --entrypoint {name}"));
            }
            run.push(' ');
            run.push_str(&image);
            Launch {
                program: DOCKER.to_owned(),
                exec: run,
                pre: vec![format!("-{DOCKER} rm -f {name}")],
                stop: Some(format!("{DOCKER} stop {name}")),
                docker: true,
            }
        }
        _ => plain(packaged),
    }
}

/// `NAME="value"` → `NAME=value`, for `docker run --env-file`, which keeps
/// quotes. Values never hold quotes, spaces or backslashes (options checks).
fn dequote(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        match line.split_once("=\"") {
            Some((name, rest))
                if !line.starts_with('#')
                    && rest.ends_with('"')
                    && name
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') =>
            {
                out.push_str(name);
                out.push('=');
                // The escapes of extra flags' values (\" \\ \$ \`) undone:
                // Docker takes the rest of the line as it is.
                let mut chars = rest[..rest.len() - 1].chars();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => out.extend(chars.next()),
                        c => out.push(c),
                    }
                }
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// Our units live in /etc/systemd/system, where they take precedence over a
/// packaged unit of the same name in /lib/systemd/system.
fn systemd(
    r: &mut Vec<Resource>,
    role: Role,
    marathon: bool,
    local_zk: bool,
    docker_service: bool,
    launches: &Launches,
    ctx: &Context,
) -> Result<(), RenderError> {
    let unit = |name: &str, l: Option<&Launch>| -> Result<Resource, RenderError> {
        let mut c = ctx.clone();
        c.insert("launch", &l);
        // A unit file is its service's input like any config file: a new
        // ExecStart (another source, a new mount) takes a restart to apply.
        // The reaper's oneshot service is only ever started by its timer.
        let readers: &[&str] = match name {
            "mesos-docker-reap.service" => &[],
            _ => &[name.strip_suffix(".service").unwrap_or(name)],
        };
        Ok(file(
            &format!("/etc/systemd/system/{name}"),
            render(name, &c)?,
            readers,
        ))
    };
    if role.is_master() {
        r.push(unit("mesos-master.service", Some(&launches.master))?);
    }
    if marathon {
        r.push(unit("marathon.service", Some(&launches.marathon))?);
    }
    if role.is_agent() {
        r.push(unit("mesos-agent.service", Some(&launches.agent))?);
        r.push(unit("mesos-docker-reap.service", None)?);
        r.push(unit("mesos-docker-reap.timer", None)?);
    }
    if local_zk {
        // Debian's zookeeperd has only a SysV script, whose generated unit
        // keeps KillMode=process: a stop that leaves the JVM behind lets the
        // old server keep port 2181 (and its old configuration) through a
        // restart. Killing the whole control group makes a restart one.
        r.push(file(
            "/etc/systemd/system/zookeeper.service.d/mesos-docker.conf",
            "# Written by mesos-docker setup: stop ZooKeeper's JVM with the unit.\n[Service]\nKillMode=control-group\nTimeoutStopSec=30\n".into(),
            &["zookeeper"],
        ));
    }
    // Mesos packages enable both daemons on install, under names of their
    // own (mesos-slave before 1.0); only what this role runs stays enabled.
    r.push(service("zookeeper.service", local_zk));
    r.push(service("mesos-master.service", role.is_master()));
    r.push(service("marathon.service", marathon));
    r.push(service("mesos-agent.service", role.is_agent()));
    r.push(service("mesos-slave.service", false));
    r.push(service("mesos-docker-reap.timer", role.is_agent()));
    if docker_service {
        r.push(service("docker.service", true));
    }
    Ok(())
}

/// Ubuntu 14.04: upstart jobs, disabled by `manual` override files.
fn upstart(
    r: &mut Vec<Resource>,
    role: Role,
    marathon: bool,
    local_zk: bool,
    nofile: u64,
    launches: &Launches,
    ctx: &Context,
) -> Result<(), RenderError> {
    let job = |name: &str, description: &str, env: &str, exec: &str| {
        let mut c = ctx.clone();
        c.insert("description", description);
        c.insert("env_file", env);
        c.insert("exec", exec);
        c.insert("nofile", &nofile);
        // Upstart reads the job file at start: it is one of the job's inputs.
        Ok::<_, RenderError>(file(
            &format!("/etc/init/{name}.conf"),
            render("upstart/job.conf", &c)?,
            &[name],
        ))
    };
    let enabled = |name: &str| Resource::Absent {
        path: format!("/etc/init/{name}.override"),
    };
    let disabled = |name: &str| {
        file(
            &format!("/etc/init/{name}.override"),
            "manual\n".into(),
            &[],
        )
    };
    if role.is_master() {
        r.push(job(
            "mesos-master",
            "Mesos master",
            "/etc/mesos-docker/master.env",
            &launches.master.exec,
        )?);
        r.push(enabled("mesos-master"));
    } else {
        r.push(disabled("mesos-master"));
    }
    if marathon {
        r.push(job(
            "marathon",
            "Marathon",
            "/etc/mesos-docker/marathon.env",
            &launches.marathon.exec,
        )?);
        r.push(enabled("marathon"));
    } else {
        r.push(disabled("marathon"));
    }
    if role.is_agent() {
        r.push(job(
            "mesos-agent",
            "Mesos agent",
            "/etc/mesos-docker/agent.env",
            &launches.agent.exec,
        )?);
        r.push(enabled("mesos-agent"));
        r.push(file(
            "/etc/cron.d/mesos-docker-reap",
            render("upstart/mesos-docker-reap.cron", ctx)?,
            &[],
        ));
    } else {
        r.push(disabled("mesos-agent"));
    }
    r.push(disabled("mesos-slave"));
    r.push(if local_zk {
        enabled("zookeeper")
    } else {
        disabled("zookeeper")
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::host::facts::{Cgroup, Distro, Installed, Os};
    use crate::setup::input::options::{FileConfig, SetupArgs, resolve};

    fn facts(cgroup: Option<Cgroup>, nofile: Option<u64>) -> Facts {
        Facts {
            os: Os {
                distro: Distro::Ubuntu,
                version: "22.04".into(),
            },
            arch: "x86_64".into(),
            init: Init::Systemd,
            hostname: "m2".into(),
            addresses: vec![],
            memory_mib: None,
            cpus: None,
            cgroup,
            nofile_hard: nofile,
            container: None,
            installed: Installed {
                mesos_master: true,
                mesos_agent: true,
                marathon_program: true,
                ..Default::default()
            },
        }
    }

    fn options(role: Role, f: &Facts) -> Options {
        let args = SetupArgs {
            role: Some(role),
            masters: vec!["m1".into(), "m2".into(), "m3".into()],
            ..Default::default()
        };
        resolve(&args, FileConfig::default(), f, None).unwrap().0
    }

    fn content<'a>(p: &'a Plan, path: &str) -> &'a str {
        p.resources
            .iter()
            .find_map(|r| match r {
                Resource::File {
                    path: p, content, ..
                } if p == path => Some(content.as_str()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no {path} in the plan"))
    }

    #[test]
    fn cgroup_v2_uses_posix_isolation() {
        let f = facts(Some(Cgroup::V2), None);
        let p = plan(&options(Role::Agent, &f), &f).unwrap();
        let env = content(&p, "/etc/mesos-docker/agent.env");
        assert!(env.contains("MESOS_LAUNCHER=\"posix\""), "{env}");
        assert!(env.contains("MESOS_ISOLATION=\"posix/cpu,posix/mem\""));
        assert!(env.contains("MESOS_SYSTEMD_ENABLE_SUPPORT=\"false\""));
        assert!(env.contains("MESOS_CONTAINERIZERS=\"mesos\""));
        let f = facts(Some(Cgroup::V1), None);
        let p = plan(&options(Role::Agent, &f), &f).unwrap();
        assert!(!content(&p, "/etc/mesos-docker/agent.env").contains("MESOS_LAUNCHER"));
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        // A container on cgroup v1: systemd does not own the tree's root.
        let mut f = facts(Some(Cgroup::V1), None);
        f.container = Some("docker".into());
        let p = plan(&options(Role::Standalone, &f), &f).unwrap();
        let env = content(&p, "/etc/mesos-docker/agent.env");
        assert!(
            env.contains("# systemd does not own the root of the cgroup tree on this host (a container: docker)"),
            "{env}"
        );
        assert!(
            env.contains("MESOS_SYSTEMD_ENABLE_SUPPORT=\"false\""),
            "{env}"
        );
        assert!(env.contains("MESOS_LAUNCHER=\"posix\""), "{env}");
        assert!(
            p.warnings[0].starts_with("agent: systemd does not own"),
            "{:?}",
            p.warnings
        );
        let p = plan(&options(Role::Master, &f), &f).unwrap();
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    }

    #[test]
    fn nofile_is_clamped_with_a_warning() {
        let f = facts(None, Some(20000));
        let p = plan(&options(Role::Standalone, &f), &f).unwrap();
        assert!(
            content(&p, "/etc/systemd/system/mesos-agent.service").contains("LimitNOFILE=20000")
        );
        assert!(p.warnings[0].contains("20000"), "{:?}", p.warnings);
        let f = facts(None, Some(1 << 20));
        let p = plan(&options(Role::Standalone, &f), &f).unwrap();
        assert!(
            content(&p, "/etc/systemd/system/mesos-agent.service").contains("LimitNOFILE=65536")
        );
        assert!(p.warnings.is_empty());
    }

    #[test]
    fn master_gets_ensemble_and_quorum() {
        let f = facts(None, None);
        let p = plan(&options(Role::Master, &f), &f).unwrap();
        assert_eq!(content(&p, "/etc/zookeeper/conf/myid"), "2\n");
        let zoo = content(&p, "/etc/zookeeper/conf/zoo.cfg");
        assert!(zoo.contains("server.3=m3:2888:3888\n"), "{zoo}");
        assert!(zoo.contains("4lw.commands.whitelist=srvr,ruok,mntr"));
        assert!(zoo.contains("admin.enableServer=false"));
        let env = content(&p, "/etc/mesos-docker/master.env");
        assert!(env.contains("MESOS_QUORUM=\"2\""));
        assert!(env.contains("MESOS_ZK=\"zk://m1:2181,m2:2181,m3:2181/mesos\""));
        assert!(env.contains("MESOS_WORK_DIR=\"/var/lib/mesos/master\""));
        assert!(p.resources.contains(&service("mesos-agent.service", false)));
        assert!(p.resources.contains(&service("mesos-slave.service", false)));
        assert!(p.resources.contains(&service("zookeeper.service", true)));
    }

    #[test]
    fn external_zookeeper_means_no_local_one() {
        let f = facts(None, None);
        let args = SetupArgs {
            role: Some(Role::Master),
            zk: Some("zk://z1:2181,z2:2181,z3:2181/mesos".into()),
            ..Default::default()
        };
        let opts = resolve(&args, FileConfig::default(), &f, None).unwrap().0;
        let p = plan(&opts, &f).unwrap();
        assert!(
            p.resources
                .iter()
                .all(|r| !r.id().starts_with("/etc/zookeeper"))
        );
        assert!(p.resources.contains(&service("zookeeper.service", false)));
        let env = content(&p, "/etc/mesos-docker/master.env");
        assert!(
            env.contains("MESOS_ZK=\"zk://z1:2181,z2:2181,z3:2181/mesos\""),
            "{env}"
        );
        assert!(env.contains("MESOS_QUORUM=\"2\""), "{env}");
        let unit = content(&p, "/etc/systemd/system/mesos-master.service");
        assert!(!unit.contains("zookeeper"), "{unit}");
        assert!(
            content(&p, "/etc/mesos-docker/marathon.env")
                .contains("MARATHON_ZK=\"zk://z1:2181,z2:2181,z3:2181/marathon\"")
        );
    }

    fn with_sources(role: Role, f: &Facts, mesos: &str, marathon: &str) -> Options {
        let args = SetupArgs {
            role: Some(role),
            masters: vec!["m2".into()],
            mesos_source: Some(mesos.into()),
            marathon_source: Some(marathon.into()),
            ..Default::default()
        };
        resolve(&args, FileConfig::default(), f, None).unwrap().0
    }

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn images_run_under_docker_with_their_env_unquoted() {
        let f = facts(None, None);
        let image = format!("docker:registry.local/mesos:1.11.0@sha256:{HEX}");
        let marathon = format!("tgz:/srv/marathon.tgz,sha256={HEX}");
        let p = plan(&with_sources(Role::Standalone, &f, &image, &marathon), &f).unwrap();
        let unit = content(&p, "/etc/systemd/system/mesos-agent.service");
        assert!(
            unit.contains(&format!(
                "ExecStartPre=-/usr/bin/docker rm -f mesos-agent\nExecStart=/usr/bin/docker run --rm --name mesos-agent --net host --env-file /etc/mesos-docker/agent.env -v /var/lib/mesos:/var/lib/mesos -v /var/log/mesos:/var/log/mesos -v /var/run/docker.sock:/var/run/docker.sock -v /sys/fs/cgroup:/sys/fs/cgroup -v /var/lib/mesos/executors:/var/lib/mesos/executors:ro -v /usr/local/bin/mesos-docker:/usr/local/bin/mesos-docker:ro --pid host --entrypoint mesos-agent registry.local/mesos:1.11.0@sha256:{HEX}\nExecStop=/usr/bin/docker stop mesos-agent\n"
            )),
            "{unit}"
        );
        assert!(unit.contains("Requires=docker.service\n"), "{unit}");
        let env = content(&p, "/etc/mesos-docker/agent.env");
        assert!(env.contains("\nMESOS_PORT=5051\n"), "{env}");
        assert!(env.contains("\n# Read by mesos-agent"), "{env}");
        // Marathon from its tarball: no Docker in its unit, quotes kept.
        let unit = content(&p, "/etc/systemd/system/marathon.service");
        assert!(
            unit.contains("\nExecStart=/opt/mesos-docker/marathon/current/bin/marathon\n")
                && !unit.contains("docker.service"),
            "{unit}"
        );
        assert!(
            content(&p, "/etc/mesos-docker/marathon.env").contains("MARATHON_HTTP_PORT=\"8080\"")
        );
        assert_eq!(p.program("mesos-master.service"), Some("/usr/bin/docker"));
        assert_eq!(
            p.program("marathon.service"),
            Some("/opt/mesos-docker/marathon/current/bin/marathon")
        );
        // The image is fetched after Docker's package, before any file.
        let kinds: Vec<&str> = p.resources.iter().take(4).map(|r| r.kind()).collect();
        assert_eq!(kinds, ["package", "package", "image", "tarball"]);
    }

    #[test]
    fn a_master_running_an_image_gets_docker() {
        let f = facts(None, None);
        let mesos = format!("tgz:/srv/mesos.tgz,sha256={HEX}");
        let p = plan(
            &with_sources(Role::Master, &f, &mesos, &format!("docker:m@sha256:{HEX}")),
            &f,
        )
        .unwrap();
        assert!(p.resources.contains(&package("docker.io")));
        assert!(p.resources.contains(&service("docker.service", true)));
        let p = plan(
            &with_sources(
                Role::Master,
                &f,
                &mesos,
                &format!("tgz:/srv/m.tgz,sha256={HEX}"),
            ),
            &f,
        )
        .unwrap();
        assert!(!p.resources.contains(&package("docker.io")));
        assert!(p.resources.iter().all(|r| r.id() != "docker.service"));
    }

    #[test]
    fn upstart_jobs_exec_the_tarball() {
        let mut f = facts(None, None);
        f.init = Init::Upstart;
        let mesos = format!("tgz:/srv/mesos.tgz,sha256={HEX}");
        let p = plan(&with_sources(Role::Agent, &f, &mesos, "distro"), &f).unwrap();
        assert!(
            content(&p, "/etc/init/mesos-agent.conf")
                .contains("exec /opt/mesos-docker/mesos/current/sbin/mesos-agent\n")
        );
    }

    #[test]
    fn agent_lacks_master_parts() {
        let f = facts(None, None);
        let p = plan(&options(Role::Agent, &f), &f).unwrap();
        assert!(
            p.resources.iter().all(|r| !r.id().contains("zoo")
                || matches!(r, Resource::Service { enabled: false, .. }))
        );
        assert!(
            p.resources
                .contains(&service("mesos-master.service", false))
        );
        assert!(p.resources.contains(&Resource::Link {
            path: EXECUTOR_LINK.into(),
            target: "/usr/local/bin/mesos-docker".into()
        }));
        let unit = content(&p, "/etc/systemd/system/mesos-agent.service");
        assert!(unit.contains("KillMode=process"));
        assert!(unit.contains("After=network-online.target docker.service\n"));
    }
}
