//! The executor's configuration, read from the MESOS_* environment the agent
//! gives every executor. Anything missing or malformed is one clear error that
//! names the variable; the executor then exits 1 without touching Docker.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

use crate::exec::sandbox_log::{Rotation, parse_bytes};

/// Variables the agent always sets for an executor.
const REQUIRED: [&str; 4] = [
    "MESOS_FRAMEWORK_ID",
    "MESOS_EXECUTOR_ID",
    "MESOS_AGENT_ENDPOINT",
    "MESOS_DIRECTORY",
];

/// Mesos' defaults (src/slave/constants.hpp) for what the agent may leave out.
const DEFAULT_RECOVERY_TIMEOUT: Duration = Duration::from_secs(15 * 60);
const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(2);
const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error(
        "{0} is not set: the Mesos agent sets it for every executor; run this binary as the \
         executor of a Mesos task (or set it by hand to test)"
    )]
    Missing(&'static str),
    #[error("{var}={value:?} is not valid: {why}")]
    Invalid {
        var: &'static str,
        value: String,
        why: String,
    },
}

/// A value that must never reach a log line or a container.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub framework_id: String,
    pub executor_id: String,
    /// `host:port` of the agent, or a full `http://…` URL.
    pub agent_endpoint: String,
    /// The sandbox on the host; mounted into the container.
    pub directory: PathBuf,
    pub agent_id: Option<String>,
    pub checkpoint: bool,
    pub recovery_timeout: Duration,
    pub subscription_backoff_max: Duration,
    pub shutdown_grace_period: Duration,
    pub auth_token: Option<Secret>,
    /// Bound on each short Docker Engine API call (MESOS_DOCKER_API_TIMEOUT,
    /// ours, not the agent's): a hung daemon becomes a failed task.
    pub docker_api_timeout: Duration,
    /// The node policy file (MESOS_DOCKER_POLICY, default /etc/mesos-docker/policy.toml).
    pub policy_path: PathBuf,
    /// Cap each container's CPU at its request (MESOS_DOCKER_CFS_QUOTA=1),
    /// as the agent's --cgroups_enable_cfs does for Mesos containers.
    pub cfs_quota: bool,
    /// Bounds on the sandbox's stdout/stderr (MESOS_DOCKER_LOG_MAX_SIZE as
    /// stout bytes, e.g. `10MB`; MESOS_DOCKER_LOG_FILES rotated files kept).
    pub log_rotation: Rotation,
    /// A Docker client config with registry credentials (MESOS_DOCKER_CONFIG).
    pub docker_config: Option<PathBuf>,
    /// TLS to the agent: set when the agent's libprocess runs with SSL.
    pub agent_tls: Option<AgentTls>,
}

/// How to reach an agent whose libprocess speaks TLS. Executors inherit the
/// agent's environment, and Mesos' own executor library switches to https
/// when `LIBPROCESS_SSL_ENABLED` is set there (src/executor/executor.cpp):
/// the agent then accepts nothing else (unless it allows downgrades).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentTls {
    /// The CA the agent's certificate must chain to (`LIBPROCESS_SSL_CA_FILE`);
    /// None: the system's roots.
    pub ca_pem: Option<Vec<u8>>,
    /// This node's certificate and key (`LIBPROCESS_SSL_CERT_FILE`,
    /// `_KEY_FILE`), shown to an agent that requires client certificates.
    pub identity_pem: Option<Secret>,
}

impl AgentTls {
    /// Reads libprocess' SSL variables (`LIBPROCESS_SSL_*`, or the older
    /// `SSL_*`) and the files they name; an unreadable or malformed file is
    /// an error naming its variable, so the executor never falls back to
    /// plain HTTP or to an unchecked agent.
    pub fn from_lookup(
        get: &impl Fn(&str) -> Option<String>,
        read: impl Fn(&str) -> std::io::Result<Vec<u8>>,
    ) -> Result<Option<AgentTls>, ConfigError> {
        let var = |name: &'static str| {
            [("LIBPROCESS_SSL_", name), ("SSL_", name)]
                .into_iter()
                .find_map(|(prefix, n)| get(&format!("{prefix}{n}")).map(|v| (prefix, n, v)))
        };
        let enabled = match var("ENABLED") {
            None => false,
            Some((_, _, v)) => match v.as_str() {
                "true" | "1" => true,
                "false" | "0" | "" => false,
                _ => {
                    return Err(ConfigError::Invalid {
                        var: "LIBPROCESS_SSL_ENABLED",
                        value: v,
                        why: "expected true, false, 1 or 0".into(),
                    });
                }
            },
        };
        if !enabled {
            return Ok(None);
        }
        let file = |name: &'static str,
                    var_name: &'static str|
         -> Result<Option<(String, Vec<u8>)>, ConfigError> {
            let Some((_, _, path)) = var(name).filter(|(_, _, p)| !p.is_empty()) else {
                return Ok(None);
            };
            read(&path)
                .map(|b| Some((path.clone(), b)))
                .map_err(|e| ConfigError::Invalid {
                    var: var_name,
                    value: path,
                    why: format!("cannot read it: {e}"),
                })
        };
        let ca = file("CA_FILE", "LIBPROCESS_SSL_CA_FILE")?;
        if let Some((path, ca)) = &ca {
            reqwest::Certificate::from_pem_bundle(ca)
                .ok()
                .filter(|certs| !certs.is_empty())
                .ok_or_else(|| ConfigError::Invalid {
                    var: "LIBPROCESS_SSL_CA_FILE",
                    value: path.clone(),
                    why: "holds no PEM certificate".into(),
                })?;
        }
        let identity_pem = match (
            file("CERT_FILE", "LIBPROCESS_SSL_CERT_FILE")?,
            file("KEY_FILE", "LIBPROCESS_SSL_KEY_FILE")?,
        ) {
            (Some((_, cert)), Some((key_path, key))) => {
                let mut pem = String::from_utf8_lossy(&cert).into_owned();
                pem.push('\n');
                pem.push_str(&String::from_utf8_lossy(&key));
                crate::install_crypto_provider();
                reqwest::Identity::from_pem(pem.as_bytes()).map_err(|e| ConfigError::Invalid {
                    var: "LIBPROCESS_SSL_KEY_FILE",
                    value: key_path,
                    why: format!(
                        "with LIBPROCESS_SSL_CERT_FILE, not a PEM certificate and key: {e}"
                    ),
                })?;
                Some(Secret(pem))
            }
            _ => None,
        };
        Ok(Some(AgentTls {
            ca_pem: ca.map(|(_, pem)| pem),
            identity_pem,
        }))
    }
}

impl Config {
    /// Reads the configuration through `get`, so tests need no process environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let required = |var: &'static str| -> Result<String, ConfigError> {
            match get(var) {
                Some(v) if !v.trim().is_empty() => Ok(v),
                _ => Err(ConfigError::Missing(var)),
            }
        };
        let [framework, executor, endpoint, directory] = REQUIRED.map(required);
        let duration = |var: &'static str, default: Duration| -> Result<Duration, ConfigError> {
            match get(var) {
                None => Ok(default),
                Some(v) => {
                    parse_duration(&v).map_err(|why| ConfigError::Invalid { var, value: v, why })
                }
            }
        };
        let flag = |var: &'static str| -> Result<bool, ConfigError> {
            match get(var).as_deref() {
                None | Some("0") | Some("false") | Some("") => Ok(false),
                Some("1") | Some("true") => Ok(true),
                Some(other) => Err(ConfigError::Invalid {
                    var,
                    value: other.to_string(),
                    why: "expected 1 or 0".into(),
                }),
            }
        };
        let checkpoint = match get("MESOS_CHECKPOINT").as_deref() {
            None | Some("0") | Some("false") => false,
            Some("1") | Some("true") => true,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    var: "MESOS_CHECKPOINT",
                    value: other.to_string(),
                    why: "expected 1 or 0".into(),
                });
            }
        };
        Ok(Config {
            framework_id: framework?,
            executor_id: executor?,
            agent_endpoint: endpoint?,
            directory: PathBuf::from(directory?),
            agent_id: get("MESOS_SLAVE_ID").or_else(|| get("MESOS_AGENT_ID")),
            checkpoint,
            recovery_timeout: duration("MESOS_RECOVERY_TIMEOUT", DEFAULT_RECOVERY_TIMEOUT)?,
            subscription_backoff_max: duration(
                "MESOS_SUBSCRIPTION_BACKOFF_MAX",
                DEFAULT_BACKOFF_MAX,
            )?,
            shutdown_grace_period: duration(
                "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
                DEFAULT_SHUTDOWN_GRACE,
            )?,
            docker_api_timeout: duration(
                "MESOS_DOCKER_API_TIMEOUT",
                crate::exec::docker::DEFAULT_CALL_TIMEOUT,
            )?,
            cfs_quota: flag("MESOS_DOCKER_CFS_QUOTA")?,
            docker_config: get("MESOS_DOCKER_CONFIG").map(PathBuf::from),
            log_rotation: Rotation {
                max_size: match get("MESOS_DOCKER_LOG_MAX_SIZE") {
                    None => Rotation::default().max_size,
                    Some(v) => parse_bytes(&v).ok().filter(|n| *n > 0).ok_or_else(|| {
                        ConfigError::Invalid {
                            var: "MESOS_DOCKER_LOG_MAX_SIZE",
                            value: v.clone(),
                            why: "expected a size such as 10MB".into(),
                        }
                    })?,
                },
                keep: match get("MESOS_DOCKER_LOG_FILES") {
                    None => Rotation::default().keep,
                    Some(v) => v.parse().map_err(|_| ConfigError::Invalid {
                        var: "MESOS_DOCKER_LOG_FILES",
                        value: v.clone(),
                        why: "expected a whole number of files to keep".into(),
                    })?,
                },
            },
            policy_path: get("MESOS_DOCKER_POLICY")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(crate::exec::policy::DEFAULT_PATH)),
            auth_token: get("MESOS_EXECUTOR_AUTHENTICATION_TOKEN")
                .filter(|t| !t.is_empty())
                .map(Secret),
            agent_tls: AgentTls::from_lookup(&get, |p| std::fs::read(p))?,
        })
    }

    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|k| std::env::var(k).ok())
    }

    /// The executor API URL of the agent.
    pub fn executor_api_url(&self) -> String {
        let scheme = if self.agent_tls.is_some() {
            "https"
        } else {
            "http"
        };
        let base = if self.agent_endpoint.contains("://") {
            self.agent_endpoint.trim_end_matches('/').to_string()
        } else {
            format!("{scheme}://{}", self.agent_endpoint)
        };
        format!("{base}/api/v1/executor")
    }
}

/// Parses a stout duration: a number (fractions allowed) and a unit among
/// ns, us, ms, secs, mins, hrs, days, weeks — `5secs`, `15mins`, `0.5secs`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| {
            "no unit; write a number and one of ns, us, ms, secs, mins, hrs, days, weeks (e.g. `5secs`)"
                .to_string()
        })?;
    let (number, unit) = s.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{number}` is not a number"))?;
    let seconds_per_unit = match unit {
        "ns" => 1e-9,
        "us" => 1e-6,
        "ms" => 1e-3,
        "secs" => 1.0,
        "mins" => 60.0,
        "hrs" => 3600.0,
        "days" => 86_400.0,
        "weeks" => 604_800.0,
        other => {
            return Err(format!(
                "unknown unit `{other}`; use one of ns, us, ms, secs, mins, hrs, days, weeks"
            ));
        }
    };
    Duration::try_from_secs_f64(value * seconds_per_unit).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const BASE: [(&str, &str); 4] = [
        ("MESOS_FRAMEWORK_ID", "fw"),
        ("MESOS_EXECUTOR_ID", "marathon-app.1"),
        ("MESOS_AGENT_ENDPOINT", "127.0.0.1:5051"),
        ("MESOS_DIRECTORY", "/sandbox"),
    ];

    #[test]
    fn durations_in_stout_format() {
        let cases = [
            ("5secs", Duration::from_secs(5)),
            ("15mins", Duration::from_secs(900)),
            ("0.5secs", Duration::from_millis(500)),
            ("250ms", Duration::from_millis(250)),
            ("2hrs", Duration::from_secs(7200)),
            ("1days", Duration::from_secs(86_400)),
            ("1weeks", Duration::from_secs(604_800)),
            ("10us", Duration::from_micros(10)),
            ("7ns", Duration::from_nanos(7)),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration(text), Ok(want), "{text}");
        }
        for bad in ["", "5", "secs", "5 seconds", "1.2.3secs", "-1secs", "5s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn defaults_when_the_agent_omits_optional_variables() {
        let c = Config::from_lookup(env(&BASE)).unwrap();
        assert!(!c.checkpoint);
        assert_eq!(c.recovery_timeout, Duration::from_secs(900));
        assert_eq!(c.subscription_backoff_max, Duration::from_secs(2));
        assert_eq!(c.shutdown_grace_period, Duration::from_secs(5));
        assert_eq!(c.auth_token, None);
        assert_eq!(
            c.executor_api_url(),
            "http://127.0.0.1:5051/api/v1/executor"
        );
    }

    #[test]
    fn each_missing_required_variable_is_named() {
        for skip in REQUIRED {
            let pairs: Vec<_> = BASE.iter().copied().filter(|(k, _)| *k != skip).collect();
            let err = Config::from_lookup(env(&pairs)).unwrap_err();
            assert_eq!(err, ConfigError::Missing(skip));
            assert!(err.to_string().contains(skip));
        }
    }

    #[test]
    fn malformed_values_name_variable_and_value() {
        let mut pairs = BASE.to_vec();
        pairs.push(("MESOS_RECOVERY_TIMEOUT", "15 minutes"));
        let err = Config::from_lookup(env(&pairs)).unwrap_err().to_string();
        assert!(
            err.contains("MESOS_RECOVERY_TIMEOUT") && err.contains("15 minutes"),
            "{err}"
        );

        let mut pairs = BASE.to_vec();
        pairs.push(("MESOS_CHECKPOINT", "yes"));
        let err = Config::from_lookup(env(&pairs)).unwrap_err().to_string();
        assert!(err.contains("MESOS_CHECKPOINT"), "{err}");
    }

    #[test]
    fn token_is_kept_but_never_printed() {
        let mut pairs = BASE.to_vec();
        pairs.push(("MESOS_EXECUTOR_AUTHENTICATION_TOKEN", "s3cr3t"));
        pairs.push(("MESOS_CHECKPOINT", "1"));
        let c = Config::from_lookup(env(&pairs)).unwrap();
        assert_eq!(c.auth_token.as_ref().map(Secret::expose), Some("s3cr3t"));
        assert!(c.checkpoint);
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }

    #[test]
    fn an_agent_with_ssl_is_reached_over_https_checked_against_its_ca() {
        let token = crate::setup::input::token::ClusterToken::parse(
            &format!("mdt1_{}", "ab".repeat(32)),
            "test",
        )
        .unwrap();
        let tls = crate::setup::plan::tls::issue(
            &token,
            &crate::setup::plan::tls::NodeName {
                hostname: "agent-1".into(),
                ips: vec!["127.0.0.1".parse().unwrap()],
            },
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = |n: &str| dir.path().join(n).display().to_string();
        std::fs::write(path("ca.pem"), &tls.ca_pem).unwrap();
        std::fs::write(path("node.pem"), &tls.cert_pem).unwrap();
        std::fs::write(path("node.key"), tls.key_pem.expose()).unwrap();
        std::fs::write(path("junk.pem"), "not a certificate").unwrap();
        let with = |extra: &[(&str, &str)]| {
            let mut pairs: Vec<(String, String)> = BASE
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            let refs: Vec<(&str, &str)> = pairs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            Config::from_lookup(env(&refs))
        };
        let ca = path("ca.pem");
        let (cert, key) = (path("node.pem"), path("node.key"));
        let c = with(&[
            ("LIBPROCESS_SSL_ENABLED", "true"),
            ("LIBPROCESS_SSL_CA_FILE", &ca),
            ("LIBPROCESS_SSL_CERT_FILE", &cert),
            ("LIBPROCESS_SSL_KEY_FILE", &key),
        ])
        .unwrap();
        assert_eq!(
            c.executor_api_url(),
            "https://127.0.0.1:5051/api/v1/executor"
        );
        let agent_tls = c.agent_tls.as_ref().unwrap();
        assert_eq!(agent_tls.ca_pem.as_deref(), Some(tls.ca_pem.as_bytes()));
        assert!(agent_tls.identity_pem.is_some());
        assert!(
            !format!("{c:?}").contains("PRIVATE KEY"),
            "the key is never printed"
        );
        // Mesos' older names, and SSL off.
        let legacy = with(&[("SSL_ENABLED", "1"), ("SSL_CA_FILE", &ca)]).unwrap();
        assert!(legacy.executor_api_url().starts_with("https://"));
        for off in [vec![], vec![("LIBPROCESS_SSL_ENABLED", "false")]] {
            let c = with(&off).unwrap();
            assert!(c.agent_tls.is_none());
            assert!(c.executor_api_url().starts_with("http://"));
        }
        // What cannot be used fails: never plain HTTP, never unchecked.
        let missing = path("nope.pem");
        let junk = path("junk.pem");
        for (bad, var) in [
            (
                vec![("LIBPROCESS_SSL_ENABLED", "yes")],
                "LIBPROCESS_SSL_ENABLED",
            ),
            (
                vec![
                    ("LIBPROCESS_SSL_ENABLED", "true"),
                    ("LIBPROCESS_SSL_CA_FILE", missing.as_str()),
                ],
                "LIBPROCESS_SSL_CA_FILE",
            ),
            (
                vec![
                    ("LIBPROCESS_SSL_ENABLED", "true"),
                    ("LIBPROCESS_SSL_CA_FILE", junk.as_str()),
                ],
                "LIBPROCESS_SSL_CA_FILE",
            ),
            (
                vec![
                    ("LIBPROCESS_SSL_ENABLED", "true"),
                    ("LIBPROCESS_SSL_CERT_FILE", cert.as_str()),
                    ("LIBPROCESS_SSL_KEY_FILE", junk.as_str()),
                ],
                "LIBPROCESS_SSL_KEY_FILE",
            ),
        ] {
            let e = with(&bad).unwrap_err().to_string();
            assert!(e.contains(var), "{e}");
        }
    }
}
