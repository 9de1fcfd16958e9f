//! SPEC strings, as `--mesos-source` and setup.toml's `[sources]` take them:
//! `ID`, `distro`, `deb:LOCATION[,sha256=HEX]`, `tgz:…`,
//! `docker:IMAGE[@sha256:DIGEST]`,
//! `docker-archive:LOCATION,image=NAME:TAG[,sha256=HEX]` and
//! `apt:URI,suite=S,components=A+B,key=LOCATION,fingerprint=HEX40,packages=P+Q`.
//! Errors are the problem alone; the caller says where the SPEC came from.

use super::model::{AptRepo, Artifact, Spec};

const FORMS: &str = "ID (an entry of the catalog), distro, deb:LOCATION[,sha256=HEX], tgz:LOCATION[,sha256=HEX], docker:IMAGE[@sha256:DIGEST], docker-archive:LOCATION,image=NAME:TAG[,sha256=HEX] or apt:URI,suite=SUITE,components=C1+C2,key=LOCATION,fingerprint=HEX40,packages=P1+P2";

/// A source SPEC that does not parse: what is wrong and the form it takes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SpecError(pub String);

impl From<String> for SpecError {
    fn from(problem: String) -> Self {
        SpecError(problem)
    }
}

pub fn parse(text: &str) -> Result<Spec, SpecError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("the source is empty; give one of {FORMS}").into());
    }
    if let Some(c) = text.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{text:?} contains {c:?}; a SPEC has no spaces").into());
    }
    let Some((kind, rest)) = text.split_once(':') else {
        return if text == "distro" {
            Ok(Spec::Distro)
        } else if is_id(text) {
            Ok(Spec::Catalog { id: text.into() })
        } else {
            Err(format!("{text:?} is neither a catalog id nor a SPEC; give one of {FORMS}").into())
        };
    };
    match kind {
        "deb" => artifact(rest, "deb:LOCATION[,sha256=HEX]").map(Spec::Deb),
        "tgz" => tgz(rest),
        "docker" => docker(rest),
        "docker-archive" => archive(rest),
        "apt" => apt(rest),
        other => Err(format!("{other:?} is not a kind of source; give one of {FORMS}").into()),
    }
}

fn is_id(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_'))
}

/// KEY=VALUE pairs after a SPEC's first part.
type Fields<'a> = Vec<(&'a str, &'a str)>;

/// `FIRST,key=value,...` with each key at most once and only `keys` allowed.
fn fields<'a>(
    rest: &'a str,
    keys: &[&str],
    form: &str,
) -> Result<(&'a str, Fields<'a>), SpecError> {
    let mut parts = rest.split(',');
    let first = parts.next().unwrap_or_default();
    let mut out: Vec<(&str, &str)> = Vec::new();
    for p in parts {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| format!("{p:?} is not KEY=VALUE; the form is {form}"))?;
        if !keys.contains(&k) {
            return Err(format!(
                "{k:?} is not a field here (known: {}); the form is {form}",
                keys.join(", ")
            )
            .into());
        }
        if out.iter().any(|(seen, _)| *seen == k) {
            return Err(format!("{k} is given twice; the form is {form}").into());
        }
        if v.is_empty() {
            return Err(format!("{k} is empty; the form is {form}").into());
        }
        out.push((k, v));
    }
    Ok((first, out))
}

fn get<'a>(fields: &[(&'a str, &'a str)], key: &str) -> Option<&'a str> {
    fields.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

pub fn location(loc: &str, form: &str) -> Result<String, SpecError> {
    let ok = match loc.split_once("://") {
        Some(("https" | "http", rest)) => !rest.is_empty() && !rest.starts_with('/'),
        Some(("file", rest)) => rest.starts_with('/') && rest.len() > 1,
        Some(_) => false,
        None => loc.starts_with('/') && loc.len() > 1,
    };
    if ok {
        Ok(loc.to_owned())
    } else {
        Err(format!(
            "{loc:?} is not an https:// or http:// URL, a file:///PATH or an absolute path; the form is {form}"
        ).into())
    }
}

pub fn sha256(hex: &str) -> Result<String, SpecError> {
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(hex.to_ascii_lowercase())
    } else {
        Err(format!(
            "sha256={hex} is not a SHA-256 digest (64 hexadecimal digits, as sha256sum prints)"
        )
        .into())
    }
}

/// A v4 OpenPGP fingerprint, spaces allowed: 40 hex digits, kept upper-case.
pub fn fingerprint(fp: &str) -> Result<String, SpecError> {
    let clean: String = fp.chars().filter(|c| *c != ' ').collect();
    if clean.len() == 40 && clean.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(clean.to_ascii_uppercase())
    } else {
        Err(format!(
            "fingerprint={fp} is not an OpenPGP v4 key fingerprint (40 hexadecimal digits, as gpg --show-keys prints)"
        ).into())
    }
}

fn artifact(rest: &str, form: &str) -> Result<Artifact, SpecError> {
    let (loc, f) = fields(rest, &["sha256"], form)?;
    Ok(Artifact {
        location: location(loc, form)?,
        sha256: get(&f, "sha256").map(sha256).transpose()?,
        packages: vec![],
    })
}

/// A tarball, with the packages its programs need to run.
fn tgz(rest: &str) -> Result<Spec, SpecError> {
    const FORM: &str = "tgz:LOCATION[,sha256=HEX][,packages=P1+P2]";
    let (loc, f) = fields(rest, &["sha256", "packages"], FORM)?;
    Ok(Spec::Tgz(Artifact {
        location: location(loc, FORM)?,
        sha256: get(&f, "sha256").map(sha256).transpose()?,
        packages: get(&f, "packages")
            .map(|p| list(p, "packages", FORM))
            .transpose()?
            .unwrap_or_default(),
    }))
}

fn image_name(image: &str, form: &str) -> Result<(), SpecError> {
    let ok = !image.is_empty()
        && image.starts_with(|c: char| c.is_ascii_alphanumeric())
        && image
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':'));
    if ok {
        Ok(())
    } else {
        Err(format!("{image:?} is not a Docker image name; the form is {form}").into())
    }
}

fn docker(rest: &str) -> Result<Spec, SpecError> {
    const FORM: &str = "docker:IMAGE[@sha256:DIGEST], e.g. docker:mesosphere/marathon:v1.11.24";
    let (image, digest) = match rest.split_once('@') {
        Some((image, d)) => {
            let hex = d.strip_prefix("sha256:").ok_or_else(|| {
                format!("@{d} is not an image digest (sha256:64 hex digits); the form is {FORM}")
            })?;
            let hex = sha256(hex).map_err(|_| {
                format!("@{d} is not an image digest (sha256:64 hex digits); the form is {FORM}")
            })?;
            (image, Some(format!("sha256:{hex}")))
        }
        None => (rest, None),
    };
    image_name(image, FORM)?;
    Ok(Spec::Docker {
        image: image.to_owned(),
        digest,
    })
}

fn archive(rest: &str) -> Result<Spec, SpecError> {
    const FORM: &str = "docker-archive:LOCATION,image=NAME:TAG[,sha256=HEX]";
    let (loc, f) = fields(rest, &["image", "sha256"], FORM)?;
    let image = get(&f, "image").ok_or_else(|| {
        format!("image=NAME:TAG is missing (the image the archive holds); the form is {FORM}")
    })?;
    image_name(image, FORM)?;
    let tagged = image
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains(':'));
    if !tagged {
        return Err(format!(
            "image={image} has no tag; name it as `docker save` recorded it, NAME:TAG; the form is {FORM}"
        ).into());
    }
    Ok(Spec::DockerArchive {
        file: Artifact {
            location: location(loc, FORM)?,
            sha256: get(&f, "sha256").map(sha256).transpose()?,
            packages: vec![],
        },
        image: image.to_owned(),
    })
}

fn list(value: &str, what: &str, form: &str) -> Result<Vec<String>, SpecError> {
    let items: Vec<String> = value.split('+').map(str::to_owned).collect();
    for i in &items {
        let ok = !i.is_empty()
            && i.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/'));
        if !ok {
            return Err(format!(
                "{what}={value} holds {i:?}, not a name; separate names with +; the form is {form}"
            )
            .into());
        }
    }
    Ok(items)
}

fn apt(rest: &str) -> Result<Spec, SpecError> {
    const FORM: &str =
        "apt:URI,suite=SUITE,components=C1+C2,key=LOCATION,fingerprint=HEX40,packages=P1+P2";
    let (uri, f) = fields(
        rest,
        &["suite", "components", "key", "fingerprint", "packages"],
        FORM,
    )?;
    if !(uri.starts_with("https://") || uri.starts_with("http://")) || uri.len() < 10 {
        return Err(format!(
            "{uri:?} is not an http:// or https:// repository URI; the form is {FORM}"
        )
        .into());
    }
    let need = |k: &str| get(&f, k).ok_or_else(|| format!("{k}= is missing; the form is {FORM}"));
    let suite = need("suite")?;
    let components = list(need("components")?, "components", FORM)?;
    let key = location(need("key")?, FORM)?;
    let packages = list(need("packages")?, "packages", FORM)?;
    Ok(Spec::Apt(AptRepo {
        name: String::new(),
        uri: uri.trim_end_matches('/').to_owned(),
        suite: suite.to_owned(),
        components,
        key,
        fingerprint: get(&f, "fingerprint").map(fingerprint).transpose()?,
        packages,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn every_form_parses_and_prints_back() {
        let cases = [
            "distro".to_owned(),
            "docker-ce".to_owned(),
            format!("deb:https://example.org/mesos_1.11.0_amd64.deb,sha256={HEX}"),
            "deb:/srv/mesos.deb".to_owned(),
            format!("tgz:file:///srv/mesos.tgz,sha256={HEX}"),
            format!("tgz:/srv/mesos.tgz,sha256={HEX},packages=libprotobuf32+libsvn1"),
            "docker:mesosphere/marathon:v1.11.24".to_owned(),
            format!("docker:registry.local:5000/mesos@sha256:{HEX}"),
            format!("docker-archive:/srv/marathon.tar,image=marathon:v1,sha256={HEX}"),
            "apt:https://apt.local/debian,suite=bookworm,components=main+contrib,key=https://apt.local/key.asc,fingerprint=9DC858229FC7DD38854AE2D88D81803C0EBFCD88,packages=mesos+marathon".to_owned(),
        ];
        for text in cases {
            let spec = parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(spec.to_string(), text);
        }
    }

    #[test]
    fn pins_are_normalised() {
        let s = parse(&format!("tgz:/a.tgz,sha256={}", HEX.to_uppercase())).unwrap();
        assert_eq!(s.to_string(), format!("tgz:/a.tgz,sha256={HEX}"));
        assert_eq!(
            fingerprint("9dc8 5822 9fc7 dd38 854a e2d8 8d81 803c 0ebf cd88").unwrap(),
            "9DC858229FC7DD38854AE2D88D81803C0EBFCD88"
        );
    }

    #[test]
    fn bad_specs_say_what_and_the_form() {
        let cases: &[(&str, &str)] = &[
            ("", "the source is empty"),
            ("Docker CE", "a SPEC has no spaces"),
            ("Docker!", "neither a catalog id nor a SPEC"),
            ("rpm:/a.rpm", "\"rpm\" is not a kind of source"),
            (
                "deb:mesos.deb",
                "is not an https:// or http:// URL, a file:///PATH or an absolute path",
            ),
            ("deb:ftp://a/b.deb", "is not an https://"),
            (
                "deb:/a.deb,sha256=abc",
                "sha256=abc is not a SHA-256 digest",
            ),
            (
                "deb:/a.deb,md5=abc",
                "\"md5\" is not a field here (known: sha256)",
            ),
            ("tgz:/a.tgz,sha256", "\"sha256\" is not KEY=VALUE"),
            ("tgz:/a.tgz,packages=a++b", "not a name"),
            (
                "deb:/a.deb,packages=x",
                "\"packages\" is not a field here (known: sha256)",
            ),
            (
                &format!("tgz:/a.tgz,sha256={HEX},sha256={HEX}"),
                "sha256 is given twice",
            ),
            ("docker:", "is not a Docker image name"),
            ("docker:a@md5:00", "is not an image digest"),
            ("docker-archive:/a.tar", "image=NAME:TAG is missing"),
            ("docker-archive:/a.tar,image=marathon", "has no tag"),
            (
                "apt:example.org,suite=s,components=main,key=/k,packages=p",
                "is not an http:// or https:// repository URI",
            ),
            (
                "apt:https://example.org/d,components=main,key=/k,packages=p",
                "suite= is missing",
            ),
            (
                "apt:https://example.org/d,suite=s,components=main,key=/k,fingerprint=0EBFCD88,packages=p",
                "is not an OpenPGP v4 key fingerprint",
            ),
            (
                "apt:https://example.org/d,suite=s,components=main,key=/k,packages=a++b",
                "not a name",
            ),
        ];
        for (text, want) in cases {
            let err = parse(text).unwrap_err();
            assert!(err.0.contains(want), "{text}: {err}");
        }
    }
}
