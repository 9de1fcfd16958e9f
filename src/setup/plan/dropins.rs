//! The proxy's place in the plan: the root-only environment file holding
//! the variables and the systemd drop-ins that name it (see
//! [`crate::setup::input::proxy`] for where the values come from).

use crate::setup::input::proxy::{ENV_FILE, Proxy};
use crate::setup::plan::resource::Resource;

/// The drop-in a systemd unit gets.
pub fn dropin_path(unit: &str) -> String {
    format!("/etc/systemd/system/{unit}.d/mesos-docker-proxy.conf")
}

/// The unit a drop-in of ours belongs to.
pub fn unit_of_dropin(path: &str) -> Option<&str> {
    path.strip_prefix("/etc/systemd/system/")?
        .strip_suffix(".d/mesos-docker-proxy.conf")
}

/// [`ENV_FILE`]: the variables, root-only, read by `readers` (units or
/// jobs, restarted when it changes); absent without a proxy. systemd reads
/// it as an EnvironmentFile, upstart jobs source it: the values hold none
/// of `"`, `\`, `$`, `` ` `` or blanks ([`Proxy::check`]), so both read the
/// same, and neither expands `%` there.
pub fn env_file(proxy: &Proxy, readers: &[&str]) -> Resource {
    let env = proxy.env();
    if env.is_empty() {
        return Resource::Absent {
            path: ENV_FILE.into(),
        };
    }
    let mut content = String::from(
        "# Written by mesos-docker setup from its environment's proxy settings;\n# root-only: a proxy URL may hold a password.\n",
    );
    for (k, v) in &env {
        content.push_str(&format!("{k}=\"{v}\"\n"));
    }
    Resource::File {
        path: ENV_FILE.into(),
        mode: 0o600,
        content,
        readers: readers.iter().map(|r| r.to_string()).collect(),
        // Its diff stays shown, passwords masked (see report::redact).
        secret: false,
    }
}

/// The drop-ins of `units` (those that fetch): naming [`ENV_FILE`] with the
/// proxy, absent without it.
pub fn systemd_dropins(proxy: &Proxy, units: &[&str]) -> Vec<Resource> {
    units
        .iter()
        .map(|unit| {
            let path = dropin_path(unit);
            if !proxy.is_set() {
                return Resource::Absent { path };
            }
            Resource::File {
                path,
                mode: 0o644,
                content: format!(
                    "# Written by mesos-docker setup from its environment's proxy settings.\n[Service]\nEnvironmentFile={ENV_FILE}\n"
                ),
                readers: vec![unit.strip_suffix(".service").unwrap_or(unit).to_owned()],
                secret: false,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Proxy {
        Proxy::from_pairs(pairs)
    }

    #[test]
    fn the_values_go_into_a_root_only_file_the_dropins_name() {
        let p = env(&[
            ("HTTPS_PROXY", "http://u:p%40ss@proxy:3128"),
            ("NO_PROXY", "10.0.0.0/8"),
        ]);
        assert_eq!(
            env_file(&p, &["docker"]),
            Resource::File {
                path: "/etc/mesos-docker/proxy.env".into(),
                mode: 0o600,
                content: "# Written by mesos-docker setup from its environment's proxy settings;\n\
                          # root-only: a proxy URL may hold a password.\n\
                          HTTPS_PROXY=\"http://u:p%40ss@proxy:3128\"\n\
                          https_proxy=\"http://u:p%40ss@proxy:3128\"\n\
                          NO_PROXY=\"10.0.0.0/8\"\n\
                          no_proxy=\"10.0.0.0/8\"\n"
                    .into(),
                readers: vec!["docker".into()],
                secret: false,
            }
        );
        let r = systemd_dropins(&p, &["docker.service"]);
        assert_eq!(
            r,
            [Resource::File {
                path: "/etc/systemd/system/docker.service.d/mesos-docker-proxy.conf".into(),
                mode: 0o644,
                content: "# Written by mesos-docker setup from its environment's proxy settings.\n\
                          [Service]\n\
                          EnvironmentFile=/etc/mesos-docker/proxy.env\n"
                    .into(),
                readers: vec!["docker".into()],
                secret: false,
            }]
        );
        assert_eq!(
            systemd_dropins(&Proxy::default(), &["marathon.service"]),
            [Resource::Absent {
                path: "/etc/systemd/system/marathon.service.d/mesos-docker-proxy.conf".into()
            }]
        );
        assert_eq!(
            env_file(&env(&[("NO_PROXY", "localhost")]), &[]),
            Resource::Absent {
                path: ENV_FILE.into()
            }
        );
        assert_eq!(
            unit_of_dropin("/etc/systemd/system/marathon.service.d/mesos-docker-proxy.conf"),
            Some("marathon.service")
        );
    }
}
