//! Registry credentials from a Docker client config (`config.json`), so the
//! executor can pull private images as `docker pull` would on this host.
//! Looked for, first found wins: the sandbox's `.docker/config.json` (a
//! Marathon `uris` fetch can put one there per app), the file named by
//! MESOS_DOCKER_CONFIG, `$DOCKER_CONFIG/config.json`, `~/.docker/config.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use bollard::auth::DockerCredentials;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
}

/// Where to look, in order.
pub fn candidates(sandbox: &Path, configured: Option<&Path>) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = sandbox_config(sandbox).into_iter().collect();
    out.extend(configured.map(Path::to_path_buf));
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        out.push(PathBuf::from(dir).join("config.json"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        out.push(PathBuf::from(home).join(".docker/config.json"));
    }
    out
}

/// The sandbox's own config file, resolved: the task put it there, so a
/// symlink out of the sandbox (to another team's config on this host, or to
/// /dev/zero) would make the executor, as root, read a file of the task's
/// choosing. Such a file is skipped.
fn sandbox_config(sandbox: &Path) -> Option<PathBuf> {
    let file = std::fs::canonicalize(sandbox.join(".docker/config.json")).ok()?;
    let root = std::fs::canonicalize(sandbox).ok()?;
    if file.starts_with(&root) && file.is_file() {
        Some(file)
    } else {
        tracing::warn!(
            "the sandbox's .docker/config.json leads to {}, not a file inside the sandbox; ignored",
            file.display()
        );
        None
    }
}

/// The registry's key as config.json writes it: Docker Hub is the old v1 URL.
fn normalize(key: &str) -> &str {
    let k = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let k = k.split('/').next().unwrap_or(k);
    match k {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io",
        other => other,
    }
}

/// Credentials for `registry` from the first config file that exists.
/// `Ok(None)`: no file, or no entry for that registry.
pub fn lookup(registry: &str, files: &[PathBuf]) -> Result<Option<DockerCredentials>, String> {
    let Some((path, text)) = files
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok().map(|t| (p, t)))
    else {
        return Ok(None);
    };
    let config: ConfigFile = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a Docker config file: {e}", path.display()))?;
    let entry = config
        .auths
        .iter()
        .find(|(key, _)| normalize(key) == registry)
        .map(|(_, e)| e);
    let Some(entry) = entry else {
        if config.cred_helpers.contains_key(registry) || config.creds_store.is_some() {
            return Err(format!(
                "{} keeps the credentials for {registry} in a credential helper, which the \
                 executor does not run; put an `auths` entry in the file instead",
                path.display()
            ));
        }
        return Ok(None);
    };
    let (username, password) = match (&entry.auth, &entry.username) {
        (Some(auth), _) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    format!(
                        "{}: the `auth` of {registry} is not base64 of user:password",
                        path.display()
                    )
                })?;
            let (u, p) = decoded.split_once(':').ok_or_else(|| {
                format!("{}: the `auth` of {registry} has no `:`", path.display())
            })?;
            (Some(u.to_string()), Some(p.to_string()))
        }
        (None, Some(u)) => (Some(u.clone()), entry.password.clone()),
        (None, None) => (None, None),
    };
    Ok(Some(DockerCredentials {
        username,
        password,
        identitytoken: entry.identitytoken.clone(),
        serveraddress: Some(registry.to_string()),
        ..Default::default()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sandbox_config_must_stay_in_the_sandbox() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let sandbox = root.join("sandbox");
        std::fs::create_dir_all(sandbox.join(".docker")).unwrap();
        std::fs::write(root.join("other-team.json"), "{}").unwrap();
        let configured = Path::new("/etc/mesos-docker/docker.json");
        let first = |sb: &Path| candidates(sb, Some(configured)).remove(0);

        assert_eq!(
            first(&sandbox),
            configured,
            "no file: the configured one first"
        );
        std::os::unix::fs::symlink(
            root.join("other-team.json"),
            sandbox.join(".docker/config.json"),
        )
        .unwrap();
        assert_eq!(
            first(&sandbox),
            configured,
            "a link out of the sandbox is skipped"
        );
        std::fs::remove_file(sandbox.join(".docker/config.json")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", sandbox.join(".docker/config.json")).unwrap();
        assert_eq!(first(&sandbox), configured, "so is a device");
        std::fs::remove_file(sandbox.join(".docker/config.json")).unwrap();
        std::fs::write(sandbox.join("mine.json"), "{}").unwrap();
        std::os::unix::fs::symlink("../mine.json", sandbox.join(".docker/config.json")).unwrap();
        assert_eq!(
            first(&sandbox),
            sandbox.join("mine.json"),
            "a link inside is fine"
        );
    }

    #[test]
    fn entries_are_found_by_registry_and_decoded() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.json");
        std::fs::write(
            &file,
            r#"{"auths":{
                "https://index.docker.io/v1/":{"auth":"aHViOnNlY3JldA=="},
                "registry.example.com:5000":{"username":"ci","password":"pw"},
                "bad.example.com":{"auth":"!!"}}}"#,
        )
        .unwrap();
        let files = vec![dir.path().join("missing.json"), file.clone()];
        let hub = lookup("docker.io", &files).unwrap().unwrap();
        assert_eq!(
            (hub.username.as_deref(), hub.password.as_deref()),
            (Some("hub"), Some("secret"))
        );
        let private = lookup("registry.example.com:5000", &files)
            .unwrap()
            .unwrap();
        assert_eq!(private.username.as_deref(), Some("ci"));
        assert!(lookup("other.example.com", &files).unwrap().is_none());
        let err = lookup("bad.example.com", &files).unwrap_err();
        assert!(err.contains("not base64"), "{err}");

        std::fs::write(&file, r#"{"credsStore":"pass"}"#).unwrap();
        let err = lookup("docker.io", &files).unwrap_err();
        assert!(err.contains("credential helper"), "{err}");
        assert!(
            lookup("docker.io", &[dir.path().join("none")])
                .unwrap()
                .is_none()
        );
    }
}
