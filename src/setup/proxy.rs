//! HTTP(S) proxies: the HTTP_PROXY, HTTPS_PROXY and NO_PROXY of setup's own
//! environment (or their lower-case forms), passed on to the daemons that
//! fetch: Docker pulls images, the Mesos agent's fetcher downloads URIs,
//! Marathon and the master resolve artifacts. systemd units get a drop-in,
//! upstart jobs `env` stanzas; unsetting the proxy removes them again.

use serde::Serialize;

use super::options::OptionsError;
use super::plan::Resource;

/// The proxy settings setup was run with; read once, at the edge.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Proxy {
    pub http: Option<String>,
    pub https: Option<String>,
    pub no: Option<String>,
}

const VARS: [&str; 3] = ["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"];

impl Proxy {
    /// From an environment lookup: the upper-case name, else the lower-case
    /// one; empty values count as unset.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Proxy {
        let set = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let read = |name: &str| set(name).or_else(|| set(&name.to_ascii_lowercase()));
        Proxy {
            http: read(VARS[0]),
            https: read(VARS[1]),
            no: read(VARS[2]),
        }
    }

    pub fn is_set(&self) -> bool {
        self.http.is_some() || self.https.is_some()
    }

    /// Refuses what would not survive a unit file or an upstart stanza.
    pub fn check(&self) -> Result<(), OptionsError> {
        for (name, v) in VARS.iter().zip([&self.http, &self.https, &self.no]) {
            let Some(v) = v else { continue };
            if let Some(c) = v.chars().find(|c| {
                c.is_whitespace() || c.is_control() || matches!(c, '"' | '\\' | '$' | '`' | '\'')
            }) {
                return Err(OptionsError::Invalid {
                    flag: name,
                    problem: format!(
                        "{v:?} contains {c:?}, which cannot go into a service's environment; percent-encode it (a password in the URL, say) and run setup again"
                    ),
                });
            }
        }
        Ok(())
    }

    /// Each variable in both spellings: Go (Docker) reads either, libcurl
    /// (the Mesos fetcher) only the lower-case http_proxy.
    pub fn env(&self) -> Vec<(String, String)> {
        if !self.is_set() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (name, v) in VARS.iter().zip([&self.http, &self.https, &self.no]) {
            if let Some(v) = v {
                out.push((name.to_string(), v.clone()));
                out.push((name.to_ascii_lowercase(), v.clone()));
            }
        }
        out
    }
}

/// The drop-in a systemd unit gets.
pub fn dropin_path(unit: &str) -> String {
    format!("/etc/systemd/system/{unit}.d/mesos-docker-proxy.conf")
}

/// The unit a drop-in of ours belongs to.
pub fn unit_of_dropin(path: &str) -> Option<&str> {
    path.strip_prefix("/etc/systemd/system/")?
        .strip_suffix(".d/mesos-docker-proxy.conf")
}

/// systemd expands `%` specifiers in Environment=; a literal one is `%%`.
fn systemd_escape(v: &str) -> String {
    v.replace('%', "%%")
}

/// The drop-ins of `units` (those that fetch): written with the proxy,
/// absent without it.
pub fn systemd_dropins(proxy: &Proxy, units: &[&str]) -> Vec<Resource> {
    let env = proxy.env();
    units
        .iter()
        .map(|unit| {
            let path = dropin_path(unit);
            if env.is_empty() {
                return Resource::Absent { path };
            }
            let mut content = String::from(
                "# Written by mesos-docker setup from its environment's proxy settings.\n[Service]\n",
            );
            for (k, v) in &env {
                content.push_str(&format!("Environment=\"{k}={}\"\n", systemd_escape(v)));
            }
            Resource::File {
                path,
                mode: 0o644,
                content,
                readers: vec![unit.strip_suffix(".service").unwrap_or(unit).to_owned()],
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Proxy {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Proxy::from_env(|k| map.get(k).cloned())
    }

    #[test]
    fn upper_case_wins_and_empty_is_unset() {
        let p = env(&[
            ("HTTP_PROXY", "http://up:3128"),
            ("http_proxy", "http://low:3128"),
            ("https_proxy", "http://low:3129"),
            ("NO_PROXY", ""),
            ("no_proxy", "localhost,.example"),
        ]);
        assert_eq!(
            p,
            Proxy {
                http: Some("http://up:3128".into()),
                https: Some("http://low:3129".into()),
                no: Some("localhost,.example".into()),
            }
        );
        assert!(!env(&[("no_proxy", "localhost")]).is_set());
        assert!(env(&[("no_proxy", "localhost")]).env().is_empty());
    }

    #[test]
    fn dropins_carry_both_spellings_and_vanish_without_a_proxy() {
        let p = env(&[
            ("HTTPS_PROXY", "http://u:p%40ss@proxy:3128"),
            ("NO_PROXY", "10.0.0.0/8"),
        ]);
        let r = systemd_dropins(&p, &["docker.service"]);
        assert_eq!(
            r,
            [Resource::File {
                path: "/etc/systemd/system/docker.service.d/mesos-docker-proxy.conf".into(),
                mode: 0o644,
                content: "# Written by mesos-docker setup from its environment's proxy settings.\n\
                          [Service]\n\
                          Environment=\"HTTPS_PROXY=http://u:p%%40ss@proxy:3128\"\n\
                          Environment=\"https_proxy=http://u:p%%40ss@proxy:3128\"\n\
                          Environment=\"NO_PROXY=10.0.0.0/8\"\n\
                          Environment=\"no_proxy=10.0.0.0/8\"\n"
                    .into(),
                readers: vec!["docker".into()],
            }]
        );
        assert_eq!(
            systemd_dropins(&Proxy::default(), &["marathon.service"]),
            [Resource::Absent {
                path: "/etc/systemd/system/marathon.service.d/mesos-docker-proxy.conf".into()
            }]
        );
        assert_eq!(
            unit_of_dropin("/etc/systemd/system/marathon.service.d/mesos-docker-proxy.conf"),
            Some("marathon.service")
        );
    }

    #[test]
    fn unsafe_values_are_refused_by_name() {
        let e = env(&[("HTTP_PROXY", "http://a b")]).check().unwrap_err();
        assert!(
            e.to_string()
                .starts_with("HTTP_PROXY: \"http://a b\" contains ' '"),
            "{e}"
        );
        env(&[("HTTP_PROXY", "http://proxy:3128")]).check().unwrap();
    }
}
