//! Docker parameters (`key=value`, as `docker run --key value` takes them) from
//! Marathon's `container.docker.parameters` or `docker.param.*` task labels,
//! turned into typed container options. A key we cannot honour is refused
//! with the list of those we can, rather than silently ignored.

use std::path::Path;

use super::model::{Bind, NamedVolume, SpecError};
use super::paths;

/// The options parameters add to a container.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Options {
    pub env: Vec<(String, String)>,
    pub labels: Vec<(String, String)>,
    pub binds: Vec<Bind>,
    /// `--volume NAME:/path`: a named volume (Docker's local driver, or the
    /// volume of that name if it exists).
    pub volumes: Vec<NamedVolume>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub extra_hosts: Vec<String>,
    pub dns: Vec<String>,
    pub hostname: Option<String>,
    pub init: Option<bool>,
    pub read_only: Option<bool>,
    pub log_driver: Option<String>,
    pub log_opts: Vec<(String, String)>,
    pub shm_size: Option<i64>,
    pub memory_swap: Option<i64>,
    pub devices: Vec<Device>,
    pub ulimits: Vec<Ulimit>,
}

/// `--device HOST[:CONTAINER[:PERMISSIONS]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    pub host: String,
    pub container: String,
    pub permissions: String,
}

/// `--ulimit NAME=SOFT[:HARD]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

impl Options {
    pub fn apply(&mut self, key: &str, value: &str) -> Result<(), SpecError> {
        let bad = |why: &str| SpecError::BadParameter {
            key: key.to_string(),
            value: value.to_string(),
            why: why.to_string(),
        };
        match key.trim_start_matches('-') {
            "e" | "env" => {
                let (k, v) = value
                    .split_once('=')
                    .ok_or_else(|| bad("expected NAME=VALUE"))?;
                self.env.push((k.to_string(), v.to_string()));
            }
            "l" | "label" => {
                let (k, v) = value.split_once('=').unwrap_or((value, ""));
                self.labels.push((k.to_string(), v.to_string()));
            }
            "v" | "volume" => {
                let b = parse_bind(value).map_err(|w| bad(&w))?;
                if b.host.starts_with('/') {
                    if paths::unsafe_char(&b.host).is_some() {
                        return Err(bad("a host path may not hold control characters"));
                    }
                    let host = paths::normalize(Path::new("/"), Path::new(&b.host));
                    self.binds.push(Bind {
                        host: host.display().to_string(),
                        ..b
                    });
                } else if is_volume_name(&b.host) {
                    self.volumes.push(NamedVolume {
                        name: b.host,
                        driver: None,
                        driver_options: Default::default(),
                        container: b.container,
                        read_only: b.read_only,
                    });
                } else {
                    return Err(bad(
                        "the host side is neither an absolute path nor a volume name \
                         ([a-zA-Z0-9][a-zA-Z0-9_.-]*)",
                    ));
                }
            }
            "u" | "user" => self.user = Some(value.to_string()),
            "w" | "workdir" => self.workdir = Some(value.to_string()),
            "entrypoint" => self.entrypoint = Some(vec![value.to_string()]),
            "cap-add" => self
                .cap_add
                .push(normalize_capability(value).map_err(|e| bad(&e.to_string()))?),
            "cap-drop" => self
                .cap_drop
                .push(normalize_capability(value).map_err(|e| bad(&e.to_string()))?),
            "add-host" => {
                if !value.contains(':') {
                    return Err(bad("expected HOST:IP"));
                }
                self.extra_hosts.push(value.to_string());
            }
            "dns" => self.dns.push(value.to_string()),
            "device" => self.devices.push(parse_device(value).map_err(|w| bad(&w))?),
            "ulimit" => self.ulimits.push(parse_ulimit(value).map_err(|w| bad(&w))?),
            "h" | "hostname" => self.hostname = Some(value.to_string()),
            "init" => self.init = Some(parse_bool(value).map_err(|w| bad(&w))?),
            "read-only" => self.read_only = Some(parse_bool(value).map_err(|w| bad(&w))?),
            "log-driver" => self.log_driver = Some(value.to_string()),
            "log-opt" => {
                let (k, v) = value
                    .split_once('=')
                    .ok_or_else(|| bad("expected KEY=VALUE"))?;
                self.log_opts.push((k.to_string(), v.to_string()));
            }
            "shm-size" => self.shm_size = Some(parse_size(value).map_err(|w| bad(&w))?),
            "memory-swap" => {
                self.memory_swap = Some(if value == "-1" {
                    -1
                } else {
                    parse_size(value).map_err(|w| bad(&w))?
                })
            }
            _ => {
                return Err(SpecError::UnsupportedParameter {
                    key: key.to_string(),
                });
            }
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("`{0}` is not a capability name such as NET_ADMIN or CAP_NET_ADMIN")]
pub struct BadCapability(pub String);

/// A capability as Docker accepts it (`CAP_SYS_ADMIN`, `sys_admin`,
/// `Sys_Admin`) in one spelling, `SYS_ADMIN`, so the policy compares names
/// rather than spellings; `ALL` stays `ALL`.
pub fn normalize_capability(name: &str) -> Result<String, BadCapability> {
    let upper = name.trim().to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    if bare.is_empty()
        || !bare
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(BadCapability(name.to_string()));
    }
    Ok(bare.to_string())
}

/// Docker's volume name syntax (its local driver's; other drivers are held
/// to it too, so a name is never read as a path or a URL piece).
pub fn is_volume_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

fn parse_device(value: &str) -> Result<Device, String> {
    let parts: Vec<&str> = value.split(':').collect();
    let (host, container, permissions) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, c] if c.starts_with('/') => (*h, *c, "rwm"),
        [h, p] => (*h, *h, *p),
        [h, c, p] => (*h, *c, *p),
        _ => return Err("expected HOST_DEVICE[:CONTAINER_DEVICE[:PERMISSIONS]]".into()),
    };
    // Folded first: `/dev/../etc/shadow` starts with /dev/ as text only.
    let host = paths::normalize(Path::new("/"), Path::new(host));
    if !host.starts_with("/dev/") || host == Path::new("/dev") || !container.starts_with('/') {
        return Err("expected a device path such as /dev/fuse".into());
    }
    if permissions.is_empty() || !permissions.chars().all(|c| "rwm".contains(c)) {
        return Err(format!(
            "permissions `{permissions}` are not a combination of r, w, m"
        ));
    }
    Ok(Device {
        host: host.display().to_string(),
        container: container.to_string(),
        permissions: permissions.to_string(),
    })
}

fn parse_ulimit(value: &str) -> Result<Ulimit, String> {
    let shape = "expected NAME=SOFT[:HARD], e.g. nofile=1024:4096";
    let (name, limits) = value.split_once('=').ok_or(shape)?;
    let (soft, hard) = limits.split_once(':').unwrap_or((limits, limits));
    let (soft, hard): (i64, i64) = (
        soft.parse().map_err(|_| shape.to_string())?,
        hard.parse().map_err(|_| shape.to_string())?,
    );
    if name.is_empty() || soft > hard {
        return Err(shape.into());
    }
    Ok(Ulimit {
        name: name.to_string(),
        soft,
        hard,
    })
}

fn parse_bool(value: &str) -> Result<bool, String> {
    match value {
        "" | "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

/// `docker run` size syntax: a number with an optional b, k, m or g suffix.
pub fn parse_size(value: &str) -> Result<i64, String> {
    let v = value.trim().to_ascii_lowercase();
    let v = v.strip_suffix('b').filter(|s| !s.is_empty()).unwrap_or(&v);
    let (digits, unit) = match v.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&v[..i], c),
        _ => (v, 'b'),
    };
    let mult: i64 = match unit {
        'b' => 1,
        'k' => 1 << 10,
        'm' => 1 << 20,
        'g' => 1 << 30,
        _ => return Err("expected a size such as 64m or 1g".into()),
    };
    let n: i64 = digits
        .parse()
        .map_err(|_| "expected a size such as 64m or 1g".to_string())?;
    n.checked_mul(mult)
        .ok_or_else(|| "size too large".to_string())
}

/// `HOST:CONTAINER[:ro|rw]`.
pub fn parse_bind(value: &str) -> Result<Bind, String> {
    let parts: Vec<&str> = value.split(':').collect();
    let (host, container, mode) = match parts.as_slice() {
        [h, c] => (*h, *c, "rw"),
        [h, c, m] => (*h, *c, *m),
        _ => return Err("expected HOST_PATH:CONTAINER_PATH[:ro|rw]".into()),
    };
    if host.is_empty() || !container.starts_with('/') {
        return Err(
            "expected HOST_PATH:CONTAINER_PATH[:ro|rw] with an absolute container path".into(),
        );
    }
    let read_only = match mode {
        "ro" => true,
        "rw" => false,
        other => return Err(format!("mode `{other}` is neither ro nor rw")),
    };
    Ok(Bind {
        host: host.to_string(),
        container: container.to_string(),
        read_only,
    })
}
