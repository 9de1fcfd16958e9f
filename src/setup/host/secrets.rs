//! Reading back the secret files setup writes under
//! `/etc/mesos-docker/secrets/` (0700 root, files 0600 root), through the
//! [`System`] seam so a `--root` tree reads the same way. Used by the health
//! probes, `status` and `mesos-docker credentials`; errors never carry a
//! file's content, only its path.

use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use crate::setup::host::system::System;
use crate::setup::input::token::{AGENT_KEY_FILE, SECRETS_DIR, Secret, TOKEN_FILE};

pub const MASTER_HTTP: &str = "/etc/mesos-docker/secrets/master-http-credentials.json";
pub const AGENT_HTTP: &str = "/etc/mesos-docker/secrets/agent-http-credentials.json";
pub const MARATHON_ENV: &str = "/etc/mesos-docker/secrets/marathon.env";
/// The principal every HTTP API is operated as.
pub const OPERATOR: &str = "operator";

/// A user and secret for HTTP basic authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicAuth {
    pub principal: String,
    pub secret: Secret,
}

/// A service with an authenticated HTTP API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Master,
    Agent,
    Marathon,
}

impl Service {
    pub const ALL: [Service; 3] = [Service::Master, Service::Agent, Service::Marathon];

    /// The unit (and upstart job) name.
    pub fn unit(self) -> &'static str {
        match self {
            Service::Master => "mesos-master",
            Service::Agent => "mesos-agent",
            Service::Marathon => "marathon",
        }
    }

    pub fn of_unit(unit: &str) -> Option<Service> {
        let base = unit.strip_suffix(".service").unwrap_or(unit);
        Service::ALL.into_iter().find(|s| s.unit() == base)
    }

    pub fn port(self) -> u16 {
        match self {
            Service::Master => 5050,
            Service::Agent => 5051,
            Service::Marathon => 8080,
        }
    }

    /// The file that holds its operator's credentials.
    pub fn file(self) -> &'static str {
        match self {
            Service::Master => MASTER_HTTP,
            Service::Agent => AGENT_HTTP,
            Service::Marathon => MARATHON_ENV,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretReadError {
    #[error("{path} is readable only by root (it holds a secret): run as root, e.g. with sudo")]
    NotRoot { path: String },
    #[error("{path} does not exist")]
    Missing { path: String },
    #[error("cannot read {path}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    /// `what` says what is wrong, never what the file holds.
    #[error(
        "{path} is not what setup writes there: {what}; re-run mesos-docker setup to rewrite it"
    )]
    Malformed { path: String, what: String },
}

/// A file's text; its path in every error.
pub fn read(sys: &System, path: &str) -> Result<String, SecretReadError> {
    sys.read(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => SecretReadError::Missing { path: path.into() },
        io::ErrorKind::PermissionDenied => SecretReadError::NotRoot { path: path.into() },
        _ => SecretReadError::Io {
            path: path.into(),
            source: e,
        },
    })
}

/// The operator's credentials for a service's HTTP API.
pub fn http_credential(sys: &System, service: Service) -> Result<BasicAuth, SecretReadError> {
    let path = service.file();
    let text = read(sys, path)?;
    let malformed = |what: &str| SecretReadError::Malformed {
        path: path.into(),
        what: what.into(),
    };
    match service {
        Service::Marathon => {
            let value = text
                .lines()
                .find_map(|l| l.trim().strip_prefix("MESOSPHERE_HTTP_CREDENTIALS="))
                .ok_or_else(|| malformed("no MESOSPHERE_HTTP_CREDENTIALS line"))?;
            let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
            let (user, secret) = value
                .split_once(':')
                .filter(|(u, s)| !u.is_empty() && !s.is_empty())
                .ok_or_else(|| malformed("MESOSPHERE_HTTP_CREDENTIALS is not USER:SECRET"))?;
            Ok(BasicAuth {
                principal: user.to_owned(),
                secret: Secret::from_stored(secret.to_owned()),
            })
        }
        Service::Master | Service::Agent => {
            // serde_json's messages name a position, never the text.
            let doc: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| malformed(&format!("not JSON ({e})")))?;
            let entry = doc["credentials"]
                .as_array()
                .ok_or_else(|| malformed("no \"credentials\" list"))?
                .iter()
                .find(|c| c["principal"] == OPERATOR)
                .ok_or_else(|| malformed("no credential for principal \"operator\""))?;
            let secret = entry["secret"]
                .as_str()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| malformed("the operator's secret is not a string"))?;
            Ok(BasicAuth {
                principal: OPERATOR.to_owned(),
                secret: Secret::from_stored(secret.to_owned()),
            })
        }
    }
}

/// The cluster token's text, as a master keeps it.
pub fn token(sys: &System) -> Result<Secret, SecretReadError> {
    let text = read(sys, TOKEN_FILE)?;
    let t = text.trim();
    if t.is_empty() {
        return Err(SecretReadError::Malformed {
            path: TOKEN_FILE.into(),
            what: "it is empty".into(),
        });
    }
    Ok(Secret::from_stored(t.to_owned()))
}

/// Whether this node keeps the agent key (an agent) rather than the token.
pub fn holds_agent_key_only(sys: &System) -> bool {
    sys.path(AGENT_KEY_FILE).symlink_metadata().is_ok()
        && sys.path(TOKEN_FILE).symlink_metadata().is_err()
}

/// What is wrong with how the secrets are kept: the directory or a file
/// open to group or others, not owned by root, or not a plain file (a link
/// could point anywhere). `Err` when they cannot be listed (not root).
pub fn exposure(sys: &System) -> Result<Vec<String>, SecretReadError> {
    let dir = sys.path(SECRETS_DIR);
    let meta = match dir.symlink_metadata() {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(SecretReadError::Io {
                path: SECRETS_DIR.into(),
                source: e,
            });
        }
    };
    let mut found = Vec::new();
    judge_mode(SECRETS_DIR, &meta, true, &mut found);
    let entries = std::fs::read_dir(&dir).map_err(|e| match e.kind() {
        io::ErrorKind::PermissionDenied => SecretReadError::NotRoot {
            path: SECRETS_DIR.into(),
        },
        _ => SecretReadError::Io {
            path: SECRETS_DIR.into(),
            source: e,
        },
    })?;
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let path = format!("{SECRETS_DIR}/{name}");
        if let Ok(m) = sys.path(&path).symlink_metadata() {
            judge_mode(&path, &m, false, &mut found);
        }
    }
    Ok(found)
}

fn judge_mode(path: &str, meta: &std::fs::Metadata, dir: bool, found: &mut Vec<String>) {
    let kind_ok = if dir {
        meta.file_type().is_dir()
    } else {
        meta.file_type().is_file()
    };
    if !kind_ok {
        found.push(format!(
            "{path} is not a plain {}: setup writes one there, re-run setup",
            if dir { "directory" } else { "file" }
        ));
        return;
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        found.push(format!(
            "{path} is open to group or others (mode {mode:04o}): chmod {} {path}",
            if dir { "700" } else { "600" }
        ));
    }
    if meta.uid() != 0 {
        found.push(format!(
            "{path} is owned by uid {}, not root: chown root:root {path}",
            meta.uid()
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::host::testkit::RecordingRunner;
    use std::fs;

    fn root() -> (tempfile::TempDir, System) {
        let dir = tempfile::tempdir().unwrap();
        let sys = System::new(dir.path(), Box::new(RecordingRunner::new()));
        (dir, sys)
    }

    fn write(sys: &System, path: &str, text: &str, mode: u32) {
        let p = sys.path(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::set_permissions(p.parent().unwrap(), fs::Permissions::from_mode(0o700)).unwrap();
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn credentials_read_from_each_form() {
        let (_d, sys) = root();
        write(
            &sys,
            MASTER_HTTP,
            r#"{"credentials":[{"principal":"operator","secret":"m5"}]}"#,
            0o600,
        );
        write(
            &sys,
            MARATHON_ENV,
            "MESOSPHERE_HTTP_CREDENTIALS=operator:k8\nMARATHON_ZK=zk://x\n",
            0o600,
        );
        let m = http_credential(&sys, Service::Master).unwrap();
        assert_eq!(
            (m.principal.as_str(), m.secret.expose()),
            ("operator", "m5")
        );
        let k = http_credential(&sys, Service::Marathon).unwrap();
        assert_eq!(
            (k.principal.as_str(), k.secret.expose()),
            ("operator", "k8")
        );
        assert!(matches!(
            http_credential(&sys, Service::Agent),
            Err(SecretReadError::Missing { .. })
        ));
        // A malformed file is named; its content (a secret) is not.
        write(
            &sys,
            AGENT_HTTP,
            r#"{"credentials":[{"principal":"agent","secret":"a9zz"}]}"#,
            0o600,
        );
        let e = http_credential(&sys, Service::Agent)
            .unwrap_err()
            .to_string();
        assert!(e.contains(AGENT_HTTP) && e.contains("\"operator\""), "{e}");
        assert!(!e.contains("a9zz"), "{e}");
        write(
            &sys,
            MARATHON_ENV,
            "MESOSPHERE_HTTP_CREDENTIALS=q7zz\n",
            0o600,
        );
        let e = http_credential(&sys, Service::Marathon)
            .unwrap_err()
            .to_string();
        assert!(e.contains("USER:SECRET") && !e.contains("q7zz"), "{e}");
    }

    /// The attack: a secret made readable by others, or swapped for a link.
    #[test]
    fn exposed_secrets_are_found() {
        let (_d, sys) = root();
        assert_eq!(exposure(&sys).unwrap(), Vec::<String>::new());
        write(&sys, TOKEN_FILE, "mdt1_x\n", 0o600);
        write(&sys, MASTER_HTTP, "{}", 0o644);
        // Tests run as root (the systemd and Docker tests need it); a tree
        // owned by someone else reports the owner as well.
        let own = if nix::unistd::geteuid().is_root() {
            0
        } else {
            1
        };
        let found = exposure(&sys).unwrap();
        assert_eq!(found.len(), 1 + own * 3, "{found:?}");
        assert!(found.iter().any(|f| f
            == &format!(
                "{MASTER_HTTP} is open to group or others (mode 0644): chmod 600 {MASTER_HTTP}"
            )));
        fs::remove_file(sys.path(MASTER_HTTP)).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", sys.path(MASTER_HTTP)).unwrap();
        let found = exposure(&sys).unwrap();
        assert!(
            found
                .iter()
                .any(|f| f.starts_with(&format!("{MASTER_HTTP} is not a plain file"))),
            "{found:?}"
        );
        fs::set_permissions(sys.path(SECRETS_DIR), fs::Permissions::from_mode(0o755)).unwrap();
        let found = exposure(&sys).unwrap();
        assert!(
            found.iter().any(|f| f.starts_with(&format!(
                "{SECRETS_DIR} is open to group or others (mode 0755)"
            ))),
            "{found:?}"
        );
    }
}
