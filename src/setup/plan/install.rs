//! The packages, .deb files, tarballs and images a resolved source puts on
//! the node, in the order they must go in.

use crate::setup::host::facts::Facts;
use crate::setup::sources::{Component, Resolved, Spec};

use crate::setup::plan::resource::{Resource, package};
use crate::setup::plan::units::OPT;

/// What a source puts on the node, in the order it must happen: an apt
/// repository before its packages, Docker (an earlier component) before
/// images.
pub fn install(r: &mut Vec<Resource>, src: &Resolved, facts: &Facts) {
    let c = src.component.name();
    match &src.spec {
        Spec::Distro => r.push(package(match src.component {
            Component::Zookeeper => "zookeeperd",
            _ => "docker.io",
        })),
        Spec::Apt(repo) => {
            let keyring = format!("/etc/apt/keyrings/{}.gpg", repo.name);
            let path = format!("/etc/apt/sources.list.d/{}.sources", repo.name);
            if !r.iter().any(|x| x.id() == path) {
                r.push(Resource::AptSource {
                    content: format!(
                        "# Written by mesos-docker setup ({c}); removed by mesos-docker uninstall.\nTypes: deb\nURIs: {}\nSuites: {}\nComponents: {}\nSigned-By: {keyring}\n",
                        repo.uri,
                        repo.suite,
                        repo.components.join(" ")
                    ),
                    path,
                    keyring,
                    key: repo.key.clone(),
                    fingerprints: repo.fingerprint.iter().cloned().collect(),
                    first_use: src.first_use.clone(),
                });
            }
            let mesos = src.component == Component::Mesos;
            for p in &repo.packages {
                if !r
                    .iter()
                    .any(|x| matches!(x, Resource::Package { name, .. } if name == p))
                {
                    r.push(Resource::Package {
                        name: p.clone(),
                        version: None,
                        hold_services: mesos,
                        hint: mesos.then(|| no_mesos_package_hint(src, repo)),
                    });
                }
            }
        }
        Spec::Deb(a) => r.push(Resource::Deb {
            component: c.to_owned(),
            location: a.location.clone(),
            sha256: a.sha256.clone(),
        }),
        Spec::Tgz(a) => {
            for p in &a.packages {
                r.push(package(p));
            }
            r.push(Resource::Tarball {
                component: c.to_owned(),
                location: a.location.clone(),
                sha256: a.sha256.clone(),
                dir: format!("{OPT}/{c}"),
                libs: (src.component == Component::Mesos).then(|| {
                    crate::setup::sources::libs::Libs {
                        packages: a.packages.clone(),
                        known: crate::setup::sources::libs::known(&facts.os),
                        os: facts.os.to_string(),
                    }
                }),
            })
        }
        Spec::Docker { .. } => r.push(Resource::Image {
            image: src.spec.image_ref().unwrap_or_default(),
            archive: None,
            first_use: src.first_use.clone(),
        }),
        Spec::DockerArchive { file, image } => r.push(Resource::Image {
            image: image.clone(),
            archive: Some(file.clone()),
            first_use: None,
        }),
        Spec::Catalog { .. } => {}
    }
}

/// What to tell the operator when apt has no such Mesos package (or no
/// such suite): the repository may not build for this release.
fn no_mesos_package_hint(src: &Resolved, repo: &crate::setup::sources::AptRepo) -> String {
    format!(
        "the Mesos source {} names suite {} of {}: if apt finds no such suite or package there, that repository has no Mesos build for this release. Name a build you trust with --mesos-source: 'deb:URL-OR-PATH,sha256=HEX', 'tgz:URL-OR-PATH,sha256=HEX', 'docker:IMAGE@sha256:DIGEST', 'docker-archive:PATH,image=NAME:TAG,sha256=HEX' or 'apt:URI,suite=SUITE,components=main,key=KEY-URL,fingerprint=HEX40,packages=mesos'",
        src.given, repo.suite, repo.uri
    )
}
