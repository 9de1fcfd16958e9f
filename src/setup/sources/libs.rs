//! Whether a Mesos tree from a `tgz:` source can run here: the shared
//! libraries its ELF programs and libraries need ([`super::elf`]), less
//! what the tree's own lib/ and the system provide, mapped to the packages
//! of this OS release that provide the rest (templates/mesos-runtime.toml)
//! and to the operator's `packages=`. Anything left is refused by name
//! before setup changes anything: a real Mesos tree otherwise fails only
//! when its daemons start ("error while loading shared libraries").

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;
use std::sync::LazyLock;

use serde::Serialize;

use crate::setup::host::facts::Os;
use crate::setup::host::system::System;
use crate::setup::sources::elf;

/// The plan's knowledge of a Mesos tarball's runtime needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Libs {
    /// The operator's `packages=`, installed before the tree.
    pub packages: Vec<String>,
    /// Soname → the package of this OS release providing it.
    pub known: BTreeMap<String, String>,
    /// The release, for messages.
    pub os: String,
}

#[derive(serde::Deserialize)]
struct Catalog {
    release: Vec<Release>,
}

#[derive(serde::Deserialize)]
struct Release {
    os: Vec<String>,
    sonames: BTreeMap<String, String>,
}

static CATALOG: LazyLock<Catalog> = LazyLock::new(|| {
    toml::from_str(include_str!("../../../templates/mesos-runtime.toml"))
        .expect("templates/mesos-runtime.toml parses")
});

/// What the catalog knows for this release (nothing for most).
pub fn known(os: &Os) -> BTreeMap<String, String> {
    let key = format!("{:?}:{}", os.distro, os.version).to_ascii_lowercase();
    CATALOG
        .release
        .iter()
        .filter(|r| r.os.contains(&key))
        .flat_map(|r| r.sonames.clone())
        .collect()
}

/// The ELF files of a tree: what each needs, and the names lib/ answers to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tree {
    /// Soname → the files (relative to the tree) that need it.
    pub needed: BTreeMap<String, Vec<String>>,
    /// File names directly in lib/ (links included) and their sonames.
    pub provided: BTreeSet<String>,
}

/// Reads a tarball (gzip or plain) without unpacking it.
pub fn scan_tarball(file: &Path) -> std::io::Result<Tree> {
    let mut head = [0u8; 2];
    std::fs::File::open(file)?.read_exact(&mut head)?;
    let f = std::fs::File::open(file)?;
    let reader: Box<dyn Read> = if head == [0x1f, 0x8b] {
        Box::new(flate2::read::GzDecoder::new(f))
    } else {
        Box::new(f)
    };
    let mut archive = tar::Archive::new(reader);
    let mut tree = Tree::default();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.to_string_lossy().into_owned();
        let path = path.trim_start_matches("./").to_owned();
        let in_lib = Path::new(&path).parent() == Some(Path::new("lib"));
        let name = Path::new(&path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let kind = entry.header().entry_type();
        if in_lib && (kind.is_symlink() || kind.is_file()) {
            tree.provided.insert(name.clone());
        }
        if !kind.is_file() {
            continue;
        }
        let mut magic = [0u8; 4];
        if entry.read_exact(&mut magic).is_err() || !elf::is_elf(&magic) {
            continue;
        }
        let mut bytes = magic.to_vec();
        entry.read_to_end(&mut bytes)?;
        let d = elf::dynamic(&bytes).map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{path}: {e}"))
        })?;
        let Some(d) = d else { continue };
        if in_lib && let Some(s) = d.soname {
            tree.provided.insert(s);
        }
        for n in d.needed {
            tree.needed.entry(n).or_default().push(path.clone());
        }
    }
    Ok(tree)
}

/// Directories the loader searches on Debian and Ubuntu, for a root whose
/// ld cache cannot be asked.
const LIB_DIRS: [&str; 8] = [
    "/lib",
    "/usr/lib",
    "/lib64",
    "/usr/local/lib",
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib/aarch64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
];

/// The sonames the system provides: its ld cache (`ldconfig -p`) on a live
/// host, else the files in the loader's directories under the root.
pub fn system(sys: &System) -> BTreeSet<String> {
    if sys.is_live()
        && let Ok(out) = sys.run("ldconfig", &["-p"])
        && out.success
    {
        return out
            .stdout
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|n| n.contains(".so"))
            .map(str::to_owned)
            .collect();
    }
    LIB_DIRS
        .iter()
        .filter_map(|d| std::fs::read_dir(sys.path(d)).ok())
        .flatten()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.contains(".so"))
        .collect()
}

/// The sonames neither the tree nor `system` provides, each with the files
/// that need it.
pub fn unprovided(tree: &Tree, system: &BTreeSet<String>) -> Vec<String> {
    tree.needed
        .iter()
        .filter(|(so, _)| !tree.provided.contains(*so) && !system.contains(*so))
        .map(|(so, by)| {
            // The archive's order is its directories' order: sorted, so
            // the message is the same wherever the tarball was made.
            let mut by = by.clone();
            by.sort();
            format!("{so} (needed by {})", by.join(", "))
        })
        .collect()
}

/// Where Mesos packages put their programs: AVENTER's in /usr/bin, a
/// `make install` under /usr or /usr/local in sbin.
const PROGRAM_DIRS: [&str; 4] = ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"];

/// The ld cache of a live host: soname → the file it names.
fn ld_cache(sys: &System) -> BTreeMap<String, String> {
    let Ok(out) = sys.run("ldconfig", &["-p"]) else {
        return BTreeMap::new();
    };
    out.stdout
        .lines()
        .filter_map(|l| {
            let (name, path) = l.trim().split_once(" => ")?;
            let soname = name.split_whitespace().next()?;
            Some((soname.to_owned(), path.trim().to_owned()))
        })
        .collect()
}

/// What a packaged Mesos needs: the DT_NEEDED of its programs and of the
/// libmesos they load (found through the ld cache), which is where the
/// libraries a package may forget to declare are named (AVENTER's
/// `aventer-mesos` declares none). Files that are not ELF (or are absent)
/// add nothing.
pub fn scan_installed(sys: &System) -> std::io::Result<Tree> {
    let mut tree = Tree::default();
    let mut queue: Vec<String> = PROGRAM_DIRS
        .iter()
        .flat_map(|d| ["mesos-master", "mesos-agent"].map(|p| format!("{d}/{p}")))
        .collect();
    let mut cache: Option<BTreeMap<String, String>> = None;
    let mut seen = BTreeSet::new();
    while let Some(file) = queue.pop() {
        if !seen.insert(file.clone()) {
            continue;
        }
        let Ok(bytes) = std::fs::read(sys.path(&file)) else {
            continue;
        };
        if !elf::is_elf(&bytes) {
            continue;
        }
        let d = elf::dynamic(&bytes).map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{file}: {e}"))
        })?;
        let Some(d) = d else { continue };
        if let Some(s) = d.soname {
            tree.provided.insert(s);
        }
        for n in d.needed {
            if n.starts_with("libmesos") {
                // A package whose maintainer scripts do not run ldconfig
                // leaves its library out of the cache: the loader's own
                // directories are searched then, as the loader does.
                let cached = cache.get_or_insert_with(|| ld_cache(sys)).get(&n).cloned();
                let found = cached.or_else(|| {
                    LIB_DIRS
                        .iter()
                        .map(|d| format!("{d}/{n}"))
                        .find(|f| sys.path(f).is_file())
                });
                queue.extend(found);
            }
            tree.needed.entry(n).or_default().push(file.clone());
        }
    }
    Ok(tree)
}

/// The packages of this release that provide what `tree` needs and neither
/// it nor `system` has, and the sonames (with who needs them) no known
/// package provides.
pub fn split_needs(
    tree: &Tree,
    system: &BTreeSet<String>,
    known: &BTreeMap<String, String>,
) -> (Vec<String>, Vec<String>) {
    let mut install: Vec<String> = Vec::new();
    let mut unprovided = Vec::new();
    for (soname, by) in &tree.needed {
        if tree.provided.contains(soname) || system.contains(soname) {
            continue;
        }
        match known.get(soname) {
            Some(p) => {
                if !install.contains(p) {
                    install.push(p.clone());
                }
            }
            None => {
                let mut by = by.clone();
                by.sort();
                unprovided.push(format!("{soname} (needed by {})", by.join(", ")));
            }
        }
    }
    (install, unprovided)
}

/// The packages to install so that every soname is provided, or the
/// refusal naming each one nothing provides.
pub fn packages_for(
    tree: &Tree,
    system: &BTreeSet<String>,
    libs: &Libs,
    spec: &str,
) -> Result<Vec<String>, String> {
    let (install, unprovided) = split_needs(tree, system, &libs.known);
    if unprovided.is_empty() || !libs.packages.is_empty() {
        // The operator's packages are taken to provide the rest; the
        // daemons' start proves it.
        return Ok(install);
    }
    Err(format!(
        "the Mesos tree {spec} needs {} that nothing provides: not the tree's lib/, not this system's libraries, and no package setup knows for {}. Install the packages that provide {} first, or name them in the source: 'tgz:…,packages=P1+P2'",
        unprovided.join(", "),
        libs.os,
        if unprovided.len() == 1 { "it" } else { "them" },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::host::facts::Distro;

    fn tree(needed: &[(&str, &str)], provided: &[&str]) -> Tree {
        let mut t = Tree::default();
        for (so, by) in needed {
            t.needed
                .entry(so.to_string())
                .or_default()
                .push(by.to_string());
        }
        t.provided = provided.iter().map(|s| s.to_string()).collect();
        t
    }

    #[test]
    fn debian_12_knows_what_a_real_build_needed() {
        let k = known(&Os {
            distro: Distro::Debian,
            version: "12".into(),
        });
        for (so, p) in [
            ("libprotobuf.so.32", "libprotobuf32"),
            ("libgrpc++_unsecure.so.1.51", "libgrpc++1.51"),
            ("libgpr.so.29", "libgrpc29"),
            ("libre2.so.9", "libre2-9"),
            ("libzookeeper_mt.so.2", "libzookeeper-mt2"),
            ("libsvn_delta-1.so.1", "libsvn1"),
            ("libsvn_subr-1.so.1", "libsvn1"),
        ] {
            assert_eq!(k.get(so).map(String::as_str), Some(p), "{so}");
        }
        assert!(
            known(&Os {
                distro: Distro::Ubuntu,
                version: "24.04".into()
            })
            .is_empty()
        );
    }

    #[test]
    fn what_nothing_provides_is_refused_by_name() {
        let libs = Libs {
            packages: vec![],
            known: [(
                "libzookeeper_mt.so.2".to_owned(),
                "libzookeeper-mt2".to_owned(),
            )]
            .into(),
            os: "Debian 12".into(),
        };
        let t = tree(
            &[
                ("libmesos-1.11.0.so", "sbin/mesos-master"),
                ("libc.so.6", "sbin/mesos-master"),
                ("libzookeeper_mt.so.2", "lib/libmesos-1.11.0.so"),
            ],
            &["libmesos-1.11.0.so", "libmesos.so"],
        );
        let system: BTreeSet<String> = ["libc.so.6".to_owned()].into();
        assert_eq!(
            packages_for(&t, &system, &libs, "tgz:/m.tgz").unwrap(),
            ["libzookeeper-mt2"]
        );
        let t = tree(
            &[
                ("libmesos-1.11.0.so", "sbin/mesos-master"),
                ("libfoo.so.1", "sbin/mesos-agent"),
            ],
            &[],
        );
        let err = packages_for(&t, &system, &libs, "tgz:/m.tgz").unwrap_err();
        assert!(
            err.starts_with("the Mesos tree tgz:/m.tgz needs libfoo.so.1 (needed by sbin/mesos-agent), libmesos-1.11.0.so (needed by sbin/mesos-master) that nothing provides"),
            "{err}"
        );
        assert!(
            err.contains("no package setup knows for Debian 12"),
            "{err}"
        );
        // The operator's packages are taken to provide the rest.
        let named = Libs {
            packages: vec!["libfoo1".into()],
            ..libs
        };
        assert!(
            packages_for(&t, &system, &named, "tgz:/m.tgz")
                .unwrap()
                .is_empty()
        );
    }
}
