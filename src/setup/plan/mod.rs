//! The plan: a pure function from (options, facts) to the resources a node
//! should have. It reads nothing and writes nothing, so every combination of
//! role, init system and OS is rendered and checked in tests without a host.

use std::collections::BTreeMap;

use tera::Context;

use crate::setup::host::facts::{Facts, Init};
use crate::setup::input::flags::{Daemon, FlagCheck};
use crate::setup::input::options::Options;
use crate::setup::sources::{Component, Spec};

pub mod acls;
pub mod auth;
pub mod dropins;
pub mod gated;
pub mod install;
pub mod launcher;
pub mod render;
pub mod resource;
pub mod tls;
pub mod units;
pub mod znodes;

pub use render::RenderError;

/// Why no plan could be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}
pub use resource::Resource;

use install::install;
use render::render;
use resource::{dir, file};
use units::{DOCKER, Launch, Launches, OPT, Unit, dequote, launch, systemd, upstart};

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
    /// Files written only where the installed program has the flags they
    /// turn on (executor authentication), decided when they are reached.
    pub gated: Vec<auth::Gated>,
    /// Marathon's launcher, read before its secret environment is written
    /// (a secure master with Marathon only).
    pub marathon_launcher: Option<launcher::Launcher>,
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

pub fn plan(opts: &Options, facts: &Facts) -> Result<Plan, PlanError> {
    let (nofile, warnings) = limits(opts, facts);
    let (ctx, tree) = context(opts, facts, nofile);
    let role = opts.role;
    let marathon = role.is_master() && opts.marathon;
    let mut r = Vec::new();
    packages(&mut r, opts, facts, tree.as_deref());
    let launches = Launches {
        master: launch(opts, facts, Unit::Master),
        agent: launch(opts, facts, Unit::Agent),
        marathon: launch(opts, facts, Unit::Marathon),
    };
    let programs = programs(opts, &launches);
    r.extend([
        dir("/var/lib/mesos-docker"),
        dir("/etc/mesos-docker"),
        dir("/var/log/mesos"),
        dir(&opts.work_dir),
    ]);
    auth::check_extra_flags(&opts.security, &opts.flags)?;
    auth::check_static_reservations(&opts.security, role, opts.resources.as_deref(), &opts.flags)?;
    // Before what names them; a service reading one restarts with it.
    r.extend(auth::secret_files(
        &opts.security,
        role,
        marathon,
        &opts.zk_hosts,
    )?);
    // What each principal may do, on a master that authenticates them.
    if opts.security.is_secure() && role.is_master() {
        r.push(file(acls::MESOS_ACLS, acls::render(), &["mesos-master"]));
    }
    let mut gated = Vec::new();
    configuration(&mut r, &mut gated, opts, &launches, &ctx)?;
    if let Some((files, gate)) = transport(opts, facts, &launches)? {
        r.extend(files);
        gated.push(gate);
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
    let local_zk = opts.ensemble.is_some();
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
    znodes::znodes(&mut r, opts, marathon, facts.init == Init::Systemd);
    let flag_checks = flag_checks(opts, &launches);
    let marathon_launcher = (marathon && opts.security.is_secure()).then(|| {
        match opts
            .sources
            .get(Component::Marathon)
            .and_then(|s| s.spec.image_ref())
        {
            Some(image) if launches.marathon.docker => launcher::Launcher::Image(image),
            _ => launcher::Launcher::Script(launches.marathon.program.clone()),
        }
    });
    Ok(Plan {
        resources: r,
        warnings,
        programs,
        pins_file: None,
        flag_checks,
        mesos_runtime: crate::setup::sources::libs::known(&facts.os),
        gated,
        marathon_launcher,
    })
}

/// The open-files limit the units get, and what the operator should know
/// about the host's limits.
fn limits(opts: &Options, facts: &Facts) -> (u64, Vec<String>) {
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
    if opts.role.is_agent() {
        warnings.extend(facts.posix_reason().map(|why| format!(
            "agent: {why}, so it runs with MESOS_SYSTEMD_ENABLE_SUPPORT=false and the POSIX launcher and isolation (posix/cpu,posix/mem: usage is measured, not limited, by Mesos; the executor still sets Docker's limits)"
        )));
    }
    (nofile, warnings)
}

/// What the templates see; and the Mesos tree's directory, for a tarball.
fn context(opts: &Options, facts: &Facts, nofile: u64) -> (Context, Option<String>) {
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
    auth::insert(&mut ctx, &opts.security);
    let tree = mesos_tree(opts, &mut ctx);
    ctx.insert("nofile", &nofile);
    ctx.insert("local_zk", &opts.ensemble.is_some());
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
    (ctx, tree)
}

/// Packages first: their postinst scripts drop default configuration that
/// the files after them then replace (backed up), never the other way
/// round. Docker comes before the images it loads; any Docker already there
/// stays, whatever its flavour (resolution leaves its source out).
fn packages(r: &mut Vec<Resource>, opts: &Options, facts: &Facts, tree: Option<&str>) {
    for c in [
        Component::Zookeeper,
        Component::Docker,
        Component::Mesos,
        Component::Marathon,
    ] {
        if let Some(src) = opts.sources.get(c) {
            install(r, src, facts);
        }
        if let Some(b) = opts.sources.blocked(c) {
            r.push(Resource::Unavailable {
                component: c.name().to_owned(),
                fix: b.reason.clone(),
            });
        }
    }
    if let Some(tree_dir) = tree {
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
}

/// Unit name → the program it starts, for the units this role runs.
fn programs(opts: &Options, launches: &Launches) -> Vec<(String, String)> {
    let role = opts.role;
    let marathon = role.is_master() && opts.marathon;
    [
        ("mesos-master.service", &launches.master, role.is_master()),
        ("mesos-agent.service", &launches.agent, role.is_agent()),
        ("marathon.service", &launches.marathon, marathon),
    ]
    .into_iter()
    .filter(|(_, _, wanted)| *wanted)
    .map(|(u, l, _)| (u.to_owned(), l.program.clone()))
    .collect()
}

/// The role's configuration: ZooKeeper's, the daemons' environment files,
/// the executor and its link, the node policy.
fn configuration(
    r: &mut Vec<Resource>,
    gated: &mut Vec<auth::Gated>,
    opts: &Options,
    launches: &Launches,
    ctx: &Context,
) -> Result<(), RenderError> {
    let role = opts.role;
    let env = |name: &str, l: &Launch| -> Result<String, RenderError> {
        let text = render(name, ctx)? + &extra_flags(name, opts);
        // `docker run --env-file` takes values literally, quotes and all.
        Ok(if l.docker { dequote(&text) } else { text })
    };
    if let Some(ensemble) = &opts.ensemble {
        r.push(dir("/etc/zookeeper/conf"));
        r.push(file(
            "/etc/zookeeper/conf/zoo.cfg",
            render("zoo.cfg", ctx)?,
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
    if role.is_master() && opts.marathon {
        r.push(file(
            "/etc/mesos-docker/marathon.env",
            env("marathon.env", &launches.marathon)?,
            &["marathon"],
        ));
    }
    if !role.is_agent() {
        return Ok(());
    }
    r.push(dir(&format!("{}/agent", opts.work_dir)));
    r.push(file(
        "/etc/mesos-docker/agent.env",
        env("agent.env", &launches.agent)?,
        &["mesos-agent"],
    ));
    let help = help_argv(Daemon::Agent, &launches.agent);
    if let Some((files, gate)) =
        auth::executor_auth(&opts.security, role, help, &launches.agent.program)
    {
        r.extend(files);
        gated.push(gate);
    }
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
            crate::setup::input::node_policy::PATH,
            crate::setup::input::node_policy::render(p),
            &[],
        ));
    }
    Ok(())
}

/// TLS for a secured node's Mesos daemons and Marathon's driver, should
/// the installed Mesos have SSL (decided at apply time: see [`tls::gated`]).
/// The agent program answers for the build; a master's package or tree
/// holds one too.
fn transport(
    opts: &Options,
    facts: &Facts,
    launches: &Launches,
) -> Result<Option<(Vec<Resource>, auth::Gated)>, tls::TlsError> {
    if !opts.security.is_secure() {
        return Ok(None);
    }
    let role = opts.role;
    let readers: Vec<&str> = [
        (role.is_master(), "mesos-master"),
        (role.is_master() && opts.marathon, "marathon"),
        (role.is_agent(), "mesos-agent"),
    ]
    .into_iter()
    .filter_map(|(wanted, unit)| wanted.then_some(unit))
    .collect();
    // Peers connect by IP and check it (LIBPROCESS_SSL_VERIFY_IPADD): the
    // advertised one, else every global address; probes ask 127.0.0.1.
    let mut ips: Vec<std::net::IpAddr> = match opts.ip {
        Some(ip) => vec![ip],
        None => facts.addresses.clone(),
    };
    ips.push(std::net::Ipv4Addr::LOCALHOST.into());
    ips.dedup();
    let node = tls::NodeName {
        hostname: opts.hostname.clone(),
        ips,
    };
    let check = FlagCheck {
        daemon: Daemon::Agent,
        env_file: tls::TLS_ENV.to_owned(),
        argv: help_argv(Daemon::Agent, &launches.agent),
        program: launches.agent.program.clone(),
        names: vec![tls::SSL_ONLY_AGENT_FLAG.trim_start_matches('-').to_owned()],
    };
    let signer = tls::Signer::of(
        &opts.security,
        opts.join_token.as_ref(),
        opts.kept_tls.as_ref(),
    );
    tls::gated(signer, &node, check, &readers).map(Some)
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

/// What prints a daemon's flags: `--help` of the program its unit runs, or
/// of the image's, through Docker.
fn help_argv(daemon: Daemon, l: &Launch) -> Vec<String> {
    if l.docker {
        let image = l.exec.rsplit(' ').next().unwrap_or_default();
        [
            DOCKER,
            "run",
            "--rm",
            "--entrypoint",
            daemon.program(),
            image,
            "--help",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    } else {
        vec![l.program.clone(), "--help".to_owned()]
    }
}

/// The loader's configuration entry for a Mesos tree's lib/.
pub const LD_CONF: &str = "/etc/ld.so.conf.d/mesos-docker-mesos.conf";

/// How to ask a daemon for its flags: `--help` of the program the unit
/// runs, or of the image's, through Docker.
fn flag_check(daemon: Daemon, l: &Launch, flags: &crate::setup::input::flags::Flags) -> FlagCheck {
    let name = daemon.program();
    FlagCheck {
        daemon,
        env_file: format!(
            "/etc/mesos-docker/{}.env",
            name.trim_start_matches("mesos-")
        ),
        argv: help_argv(daemon, l),
        program: l.program.clone(),
        names: flags.keys().cloned().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::host::facts::{Cgroup, Distro, Installed, Os};
    use crate::setup::input::model::Role;
    use crate::setup::input::options::{FileConfig, SetupArgs, resolve};
    use crate::setup::plan::resource::{package, service};

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
            settings: FileConfig {
                role: Some(role),
                masters: Some(vec!["m1".into(), "m2".into(), "m3".into()]),
                ..Default::default()
            },
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
            settings: FileConfig {
                role: Some(Role::Master),
                zk: Some("zk://z1:2181,z2:2181,z3:2181/mesos".into()),
                ..Default::default()
            },
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
            settings: FileConfig {
                role: Some(role),
                masters: Some(vec!["m2".into()]),
                ..Default::default()
            },
            sources: crate::setup::input::options::FileSources {
                mesos: Some(mesos.into()),
                marathon: Some(marathon.into()),
                ..Default::default()
            },
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

    #[test]
    fn secured_masters_protect_their_znodes_and_never_show_the_password() {
        use crate::setup::input::token::{ClusterToken, MasterPurpose, Security};
        let f = facts(None, None);
        let token = ClusterToken::parse(&format!("mdt1_{}", "ab".repeat(32)), "test").unwrap();
        let znodes = |role| {
            let mut o = options(role, &f);
            o.security = Security::Cluster(token.clone());
            plan(&o, &f).unwrap()
        };
        let p = znodes(Role::Standalone);
        let paths: Vec<&str> = p
            .resources
            .iter()
            .filter(|r| r.kind() == "znode")
            .map(Resource::id)
            .collect();
        assert_eq!(paths, ["/mesos", "/marathon"]);
        let json = serde_json::to_string(&p.resources).unwrap();
        for purpose in [MasterPurpose::ZkMesos, MasterPurpose::ZkMarathon] {
            let secret = token.secret(purpose);
            assert!(!json.contains(secret.expose()));
            assert!(!format!("{p:?}").contains(secret.expose()));
        }
        assert!(json.contains("\"kind\":\"znode\""), "{json}");
        // Not even the digest (ZooKeeper itself hides it from non-admins).
        assert!(json.contains("\"digest:mesos:x:cdrwa\""), "{json}");
        assert!(!json.contains(&crate::setup::plan::znodes::digest_id(
            "mesos",
            &token.secret(MasterPurpose::ZkMesos)
        )));
        // Agents keep no ZooKeeper secret; insecure nodes stay open.
        assert!(
            !znodes(Role::Agent)
                .resources
                .iter()
                .any(|r| r.kind() == "znode")
        );
        let open = plan(&options(Role::Master, &f), &f).unwrap();
        assert!(!open.resources.iter().any(|r| r.kind() == "znode"));
    }
}
