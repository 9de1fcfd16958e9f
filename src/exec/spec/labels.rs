//! Docker options carried by task labels. Marathon ≥ 1.3 no longer sends the
//! app definition in TaskInfo.data, but it copies the app's labels onto the
//! TaskInfo, so an app run by this executor says what it needs there:
//!
//! | label                     | value                                           |
//! |---------------------------|-------------------------------------------------|
//! | `docker.network`          | `host`, `bridge`, `none`, or a network's name   |
//! | `docker.ports`            | container ports bound in order to the task's host ports: `6379,53/udp` |
//! | `docker.privileged`       | `true` / `false`                                |
//! | `docker.force-pull`       | `true` / `false`                                |
//! | `docker.cfs-quota`        | `true` / `false`: cap CPU at the `cpus` request |
//! | `docker.volumes`          | `HOST:CONTAINER[:ro|rw]`, comma-separated       |
//! | `docker.param.KEY[.N]`    | a Docker parameter (`docker.param.env.1 = A=1`) |

use super::model::{Network, Protocol, SpecError};

#[derive(Debug, Default, PartialEq)]
pub struct LabelOptions {
    pub network: Option<Network>,
    pub ports: Option<Vec<(u16, Protocol)>>,
    pub privileged: Option<bool>,
    pub force_pull: Option<bool>,
    pub cfs_quota: Option<bool>,
    pub volumes: Vec<String>,
    pub parameters: Vec<(String, String)>,
}

pub fn parse<'a>(
    labels: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<LabelOptions, SpecError> {
    let mut out = LabelOptions::default();
    for (key, value) in labels {
        let bad = |why: String| SpecError::BadLabel {
            key: key.to_string(),
            value: value.to_string(),
            why,
        };
        match key {
            "docker.network" => out.network = Some(Network::parse(value).map_err(bad)?),
            "docker.ports" => {
                let ports = value
                    .split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(parse_port)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(bad)?;
                out.ports = Some(ports.into_iter().flatten().collect());
            }
            "docker.privileged" => out.privileged = Some(parse_bool(value).map_err(bad)?),
            "docker.force-pull" => out.force_pull = Some(parse_bool(value).map_err(bad)?),
            "docker.cfs-quota" => out.cfs_quota = Some(parse_bool(value).map_err(bad)?),
            "docker.volumes" => out.volumes.extend(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(String::from),
            ),
            _ => {
                if let Some(rest) = key.strip_prefix("docker.param.") {
                    let param = rest.split('.').next().unwrap_or_default();
                    if param.is_empty() {
                        return Err(bad("expected docker.param.KEY".into()));
                    }
                    out.parameters.push((param.to_string(), value.to_string()));
                } else if key.starts_with("docker.") {
                    return Err(bad(
                        "unknown docker.* label; known: docker.network, docker.ports, \
                         docker.privileged, docker.force-pull, docker.cfs-quota, docker.volumes, \
                         docker.param.KEY"
                            .into(),
                    ));
                }
            }
        }
    }
    Ok(out)
}

/// `6379`, `53/udp`, `53/udp,tcp` is written as two entries by the caller.
fn parse_port(text: &str) -> Result<Vec<(u16, Protocol)>, String> {
    let (port, proto) = text.split_once('/').unwrap_or((text, "tcp"));
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("`{text}` is not a port number from 1 to 65535"))?;
    Protocol::parse_list(proto).map(|ps| ps.into_iter().map(|p| (port, p)).collect())
}

fn parse_bool(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}
