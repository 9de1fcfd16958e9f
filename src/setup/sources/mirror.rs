//! `--mirror URL`: every http(s) URL of every source becomes
//! `URL/<host>/<path>`, so one directory tree (or caching proxy) can serve
//! all of them. Pins stay as they are, so a mirror can make a source
//! unreachable but never change what is installed. Local paths and image
//! names are left alone (images come through the Docker daemon's own
//! registry mirror setting).

use super::model::Spec;

/// Checks a mirror URL and returns it without a trailing slash.
pub fn check(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') && !r.contains(['?', '#', ' ']) => {
            Ok(url.trim_end_matches('/').to_owned())
        }
        _ => Err(format!(
            "{url:?} is not an http:// or https:// URL without ?query or #fragment; e.g. --mirror https://mirror.example.org/mesos-docker"
        )),
    }
}

/// `https://host[:port]/path` → `MIRROR/host[:port]/path`; anything else as is.
pub fn rewrite(url: &str, mirror: &str) -> String {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(r) => {
            // Credentials stay out of the mirror's path.
            let r = match r.split_once('/') {
                Some((authority, path)) => {
                    let host = authority.rsplit('@').next().unwrap_or(authority);
                    format!("{host}/{path}")
                }
                None => r.rsplit('@').next().unwrap_or(r).to_owned(),
            };
            format!("{mirror}/{r}")
        }
        None => url.to_owned(),
    }
}

pub fn apply(spec: &mut Spec, mirror: &str) {
    match spec {
        Spec::Deb(a) | Spec::Tgz(a) | Spec::DockerArchive { file: a, .. } => {
            a.location = rewrite(&a.location, mirror)
        }
        Spec::Apt(r) => {
            r.uri = rewrite(&r.uri, mirror);
            r.key = rewrite(&r.key, mirror);
        }
        Spec::Distro | Spec::Catalog { .. } | Spec::Docker { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::sources::parse;

    #[test]
    fn urls_move_under_the_mirror_and_pins_stay() {
        let m = check("https://mirror.local/md/").unwrap();
        assert_eq!(m, "https://mirror.local/md");
        let cases = [
            (
                "https://download.docker.com/linux/debian/gpg",
                "https://mirror.local/md/download.docker.com/linux/debian/gpg",
            ),
            (
                "http://user:pw@example.org:8080/a/b.deb",
                "https://mirror.local/md/example.org:8080/a/b.deb",
            ),
            ("/srv/mesos.tgz", "/srv/mesos.tgz"),
            ("file:///srv/mesos.tgz", "file:///srv/mesos.tgz"),
        ];
        for (from, to) in cases {
            assert_eq!(rewrite(from, &m), to);
        }
        let hex = "ab".repeat(32);
        let mut s = parse(&format!("tgz:https://example.org/m.tgz,sha256={hex}")).unwrap();
        apply(&mut s, &m);
        assert_eq!(
            s.to_string(),
            format!("tgz:https://mirror.local/md/example.org/m.tgz,sha256={hex}")
        );
        let mut s = parse("apt:https://download.docker.com/linux/debian,suite=bookworm,components=stable,key=https://download.docker.com/linux/debian/gpg,fingerprint=9DC858229FC7DD38854AE2D88D81803C0EBFCD88,packages=docker-ce").unwrap();
        apply(&mut s, &m);
        assert_eq!(
            s.to_string(),
            "apt:https://mirror.local/md/download.docker.com/linux/debian,suite=bookworm,components=stable,key=https://mirror.local/md/download.docker.com/linux/debian/gpg,fingerprint=9DC858229FC7DD38854AE2D88D81803C0EBFCD88,packages=docker-ce"
        );
        let mut s = parse("docker:mesosphere/marathon:v1.11.24").unwrap();
        apply(&mut s, &m);
        assert_eq!(s.to_string(), "docker:mesosphere/marathon:v1.11.24");
    }

    #[test]
    fn a_bad_mirror_is_named() {
        for bad in ["mirror.local", "ftp://m", "https://", "https://m/?x=1"] {
            assert!(
                check(bad).unwrap_err().contains("--mirror https://"),
                "{bad}"
            );
        }
    }
}
