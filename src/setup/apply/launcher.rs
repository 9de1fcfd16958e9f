//! Reads Marathon's launcher before its secret environment is written, and
//! refuses one that would put `MARATHON_ZK` (with its ZooKeeper password)
//! on the java command line (see [`crate::setup::plan::launcher`]).
//!
//! An image's launcher is its entrypoint: setup reads it out of the image
//! (`docker create`, `docker cp`, never started), because the processes of
//! a container show in the host's `ps` as any other.

use std::path::Path;

use crate::setup::host::system::System;
use crate::setup::plan::auth::MARATHON_ENV;
use crate::setup::plan::launcher::{Launcher, env_to_argv};

/// Why Marathon is not given its secret environment.
#[derive(Debug, thiserror::Error)]
pub enum LauncherError {
    #[error(
        "{path} turns MARATHON_* environment variables into command-line arguments (line {line}: `{text}`): Marathon's ZooKeeper password (MARATHON_ZK in {MARATHON_ENV}) would be visible to every local user in `ps`, so Marathon is not given it. Fix: install a Marathon whose launcher leaves MARATHON_* to Marathon itself (Marathon 1.x reads them in the JVM), or set up this node with --insecure"
    )]
    Converts {
        path: String,
        line: usize,
        text: String,
    },
    #[error(
        "cannot read Marathon's launcher {path} to check that it keeps MARATHON_* (its ZooKeeper password) out of `ps`; Marathon is not given its secret environment"
    )]
    Unreadable {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot read the launcher of Marathon's image {image} to check that it keeps MARATHON_* (its ZooKeeper password) out of `ps`: {why}; Marathon is not given its secret environment"
    )]
    Image { image: String, why: String },
}

/// The launcher passed, or cannot be read on this run for a reason that
/// changes nothing (a dry run before the install, an offline root).
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    Later(String),
}

pub fn check(sys: &System, l: &Launcher, dry_run: bool) -> Result<Verdict, LauncherError> {
    match l {
        Launcher::Script(path) => script(sys, path, dry_run),
        Launcher::Image(image) if !sys.is_live() => Ok(Verdict::Later(format!(
            "{} is not the running system: a run on the host reads the launcher of {image} before Marathon gets its secret environment",
            sys.root().display()
        ))),
        Launcher::Image(image) => in_image(sys, image, dry_run),
    }
}

fn script(sys: &System, path: &str, dry_run: bool) -> Result<Verdict, LauncherError> {
    if dry_run && !sys.exists(path) {
        return Ok(Verdict::Later(format!(
            "Marathon's launcher {path} is read once it is installed, before Marathon gets its secret environment"
        )));
    }
    let bytes = std::fs::read(sys.path(path)).map_err(|source| LauncherError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    match env_to_argv(&String::from_utf8_lossy(&bytes)) {
        None => Ok(Verdict::Clean),
        Some(c) => Err(LauncherError::Converts {
            path: path.to_owned(),
            line: c.line,
            text: c.text,
        }),
    }
}

fn in_image(sys: &System, image: &str, dry_run: bool) -> Result<Verdict, LauncherError> {
    let fail = |why: String| LauncherError::Image {
        image: image.to_owned(),
        why,
    };
    let format = "{{json .Config.Entrypoint}}\n{{json .Config.Cmd}}";
    let inspect = sys
        .run("docker", &["image", "inspect", "--format", format, image])
        .map_err(|e| fail(format!("cannot run docker: {e}")))?;
    if !inspect.success {
        return if dry_run {
            Ok(Verdict::Later(format!(
                "the launcher of {image} is read once the image is there, before Marathon gets its secret environment"
            )))
        } else {
            Err(fail(format!(
                "docker image inspect failed: {}",
                inspect.stderr.trim()
            )))
        };
    }
    let entry = entrypoint(&inspect.stdout).ok_or_else(|| fail("it names no entrypoint".into()))?;
    let name = Path::new(&entry)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    // A shell runs what its arguments say, which can convert as well.
    if ["sh", "bash", "dash", "busybox", "env"].contains(&name) {
        return Err(fail(format!(
            "its entrypoint is {entry}, a shell: what it runs cannot be read"
        )));
    }
    let text = read_from_image(sys, image, &entry).map_err(fail)?;
    match env_to_argv(&text) {
        None => Ok(Verdict::Clean),
        Some(c) => Err(LauncherError::Converts {
            path: format!("{entry} (the entrypoint of {image})"),
            line: c.line,
            text: c.text,
        }),
    }
}

/// The program an image starts: the entrypoint's first word, else the
/// command's, from `docker image inspect`'s two JSON lines.
fn entrypoint(inspect: &str) -> Option<String> {
    inspect.lines().find_map(|l| {
        serde_json::from_str::<Option<Vec<String>>>(l.trim())
            .ok()
            .flatten()
            .and_then(|v| v.into_iter().next())
            .filter(|p| !p.is_empty())
    })
}

/// The file's bytes as text (in a tar stream: its header is not a
/// statement), from a container created and removed, never started.
fn read_from_image(sys: &System, image: &str, path: &str) -> Result<String, String> {
    let created = sys
        .run("docker", &["create", image])
        .map_err(|e| format!("cannot run docker: {e}"))?;
    if !created.success {
        return Err(format!("docker create failed: {}", created.stderr.trim()));
    }
    let id = created.stdout.trim().to_owned();
    let copied = sys.run("docker", &["cp", "-L", &format!("{id}:{path}"), "-"]);
    let _ = sys.run("docker", &["rm", "-f", &id]);
    match copied {
        Ok(out) if out.success => Ok(out.stdout),
        Ok(out) => Err(format!("docker cp {path} failed: {}", out.stderr.trim())),
        Err(e) => Err(format!("cannot run docker: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entrypoint_is_the_first_word_of_entrypoint_else_cmd() {
        for (inspect, want) in [
            (
                "[\"/usr/share/marathon/bin/marathon\"]\nnull\n",
                Some("/usr/share/marathon/bin/marathon"),
            ),
            (
                "null\n[\"/marathon/bin/start\",\"--x\"]\n",
                Some("/marathon/bin/start"),
            ),
            ("null\nnull\n", None),
            ("[]\n[]\n", None),
        ] {
            assert_eq!(entrypoint(inspect).as_deref(), want, "{inspect}");
        }
    }
}
