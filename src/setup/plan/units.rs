//! How each daemon is started: the program and its arguments (a package's,
//! a tree's, or a container's), and the systemd units or upstart jobs that
//! start it.

use serde::Serialize;
use tera::Context;

use crate::setup::host::facts::Facts;
use crate::setup::input::model::Role;
use crate::setup::input::options::Options;
use crate::setup::sources::{Component, Spec};

use crate::setup::plan::render::{RenderError, render};
use crate::setup::plan::resource::{Resource, file, service};

/// Where tarball sources are unpacked, a directory per component.
pub const OPT: &str = "/opt/mesos-docker";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Master,
    Agent,
    Marathon,
}

/// How a unit starts its program.
#[derive(Debug, Clone, Serialize)]
pub struct Launch {
    /// The program that must exist (docker, for an image).
    pub program: String,
    pub exec: String,
    pub pre: Vec<String>,
    pub stop: Option<String>,
    pub docker: bool,
}

pub struct Launches {
    pub master: Launch,
    pub agent: Launch,
    pub marathon: Launch,
}

pub const DOCKER: &str = "/usr/bin/docker";

pub fn launch(opts: &Options, facts: &Facts, unit: Unit) -> Launch {
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
            if opts.security.is_secure() {
                docker_auth(&mut run, unit);
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

/// What a daemon in a container needs of the secure node: the secret files
/// its flags name and the master's ACLs (read-only), Marathon's secret
/// environment, the agent's executor flags and everyone's TLS variables,
/// passed by name from the unit's environment (set there only where setup
/// wrote the fragment; an unset one stays unset).
fn docker_auth(run: &mut String, unit: Unit) {
    use crate::setup::input::token::SECRETS_DIR;
    use crate::setup::plan::auth::MARATHON_ENV;
    if unit == Unit::Marathon {
        run.push_str(&format!(" --env-file {MARATHON_ENV}"));
    }
    if unit == Unit::Master {
        use crate::setup::plan::acls::MESOS_ACLS;
        run.push_str(&format!(" -v {MESOS_ACLS}:{MESOS_ACLS}:ro"));
    }
    run.push_str(&format!(" -v {SECRETS_DIR}:{SECRETS_DIR}:ro"));
    if unit == Unit::Agent {
        run.push_str(" -e MESOS_AUTHENTICATE_HTTP_EXECUTORS -e MESOS_EXECUTOR_SECRET_KEY");
    }
    // TLS, where setup wrote tls.env: the certificates (the key is in the
    // secrets above) and libprocess' variables, by name.
    let tls_dir = crate::setup::plan::tls::TLS_DIR;
    run.push_str(&format!(" -v {tls_dir}:{tls_dir}:ro"));
    for (name, _) in crate::setup::plan::tls::env_lines() {
        run.push_str(&format!(" -e {name}"));
    }
}

/// `NAME="value"` → `NAME=value`, for `docker run --env-file`, which keeps
/// quotes. Values never hold quotes, spaces or backslashes (options checks).
pub fn dequote(text: &str) -> String {
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
pub fn systemd(
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
pub fn upstart(
    r: &mut Vec<Resource>,
    role: Role,
    marathon: bool,
    local_zk: bool,
    nofile: u64,
    launches: &Launches,
    ctx: &Context,
) -> Result<(), RenderError> {
    let secure = crate::setup::plan::auth::is_secure(ctx);
    let job = |name: &str, description: &str, env: &str, exec: &str| {
        let mut c = ctx.clone();
        c.insert("description", description);
        // Secure: Marathon's secret environment after its own, and the
        // agent's executor fragment where setup wrote it.
        let mut env_files = vec![env];
        if secure && name == "marathon" {
            env_files.push(crate::setup::plan::auth::MARATHON_ENV);
        }
        c.insert("env_files", &env_files);
        // Fragments setup writes only where the installed Mesos has the
        // flags: the agent's executor authentication, everyone's TLS.
        let mut optional_env = Vec::new();
        if secure && name == "mesos-agent" {
            optional_env.push(crate::setup::plan::auth::EXECUTOR_AUTH_ENV);
        }
        if secure {
            optional_env.push(crate::setup::plan::tls::TLS_ENV);
        }
        c.insert("optional_env", &optional_env);
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
