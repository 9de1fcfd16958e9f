//! Host paths as the kernel will find them: every symlink followed, through
//! the longest existing ancestor when the path does not exist yet (Docker
//! creates a missing bind source, so the part that does not exist is plain
//! names under a real directory). The node policy applies its rules to the
//! result and hands Docker that result, so what was checked is what is
//! mounted.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};

use thiserror::Error;

/// Linux's own limit on symlinks followed in one lookup.
const MAX_LINKS: usize = 40;

#[derive(Debug, Error)]
pub enum ResolveError {
    #[error("host path {path} cannot be resolved: {what} {at}")]
    Io {
        path: String,
        what: &'static str,
        at: String,
        #[source]
        source: io::Error,
    },
    #[error("host path {path} cannot be resolved: more than {MAX_LINKS} symlinks (a loop?)")]
    Loop { path: String },
    #[error("host path {path} cannot be resolved: {at} is not a directory")]
    NotADirectory { path: String, at: String },
    #[error("host path {path} is not absolute")]
    Relative { path: String },
}

/// `path` (absolute) with every symlink followed. Components after the first
/// one that does not exist are kept as names (a `..` among them, which only a
/// symlink's target can bring, drops the name before it, as the lookup would
/// once Docker has created the directories).
pub fn resolve(path: &Path) -> Result<PathBuf, ResolveError> {
    let shown = || path.display().to_string();
    if !path.is_absolute() {
        return Err(ResolveError::Relative { path: shown() });
    }
    let mut todo: VecDeque<OsString> = names(path);
    let mut done = PathBuf::from("/");
    let mut links = 0;
    let mut missing = false;
    while let Some(name) = todo.pop_front() {
        if name == ".." {
            done.pop();
            continue;
        }
        let next = done.join(&name);
        if missing {
            done = next;
            continue;
        }
        match std::fs::symlink_metadata(&next) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(ResolveError::Loop { path: shown() });
                }
                let target = std::fs::read_link(&next).map_err(|source| ResolveError::Io {
                    path: shown(),
                    what: "reading the symlink",
                    at: next.display().to_string(),
                    source,
                })?;
                if target.is_absolute() {
                    done = PathBuf::from("/");
                }
                for n in names(&target).into_iter().rev() {
                    todo.push_front(n);
                }
            }
            Ok(meta) => {
                if !meta.is_dir() && !todo.is_empty() {
                    return Err(ResolveError::NotADirectory {
                        path: shown(),
                        at: next.display().to_string(),
                    });
                }
                done = next;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                missing = true;
                done = next;
            }
            Err(source) => {
                return Err(ResolveError::Io {
                    path: shown(),
                    what: "looking up",
                    at: next.display().to_string(),
                    source,
                });
            }
        }
    }
    Ok(done)
}

/// The names of `path` in order, `..` kept (it means something after a
/// symlink), `.` and the root dropped.
fn names(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn follows_links_and_missing_tails_on_a_real_tree() {
        let t = tempfile::tempdir().unwrap();
        // The temp dir itself may sit under a symlink (/tmp on some hosts).
        let root = std::fs::canonicalize(t.path()).unwrap();
        let sb = root.join("sb");
        let data = root.join("srv/data");
        std::fs::create_dir_all(&sb).unwrap();
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(root.join("file"), "x").unwrap();
        symlink("/etc", sb.join("abs")).unwrap();
        symlink("../srv/data", sb.join("rel")).unwrap();
        symlink("rel/../../..", sb.join("climb")).unwrap();
        symlink(root.join("nowhere/deeper"), sb.join("dangling")).unwrap();
        symlink("loop2", sb.join("loop1")).unwrap();
        symlink("loop1", sb.join("loop2")).unwrap();

        for (input, want) in [
            (sb.join("abs"), PathBuf::from("/etc")),
            (sb.join("abs/passwd"), PathBuf::from("/etc/passwd")),
            (sb.join("rel/x/y"), data.join("x/y")),
            // rel/.. is the parent of the link's target, not of `rel`.
            (sb.join("climb"), root.parent().unwrap().to_path_buf()),
            // A dangling link leads where its target would be created.
            (sb.join("dangling/x"), root.join("nowhere/deeper/x")),
            (sb.join("new/dir"), sb.join("new/dir")),
        ] {
            assert_eq!(resolve(&input).unwrap(), want, "{}", input.display());
        }
        assert!(matches!(
            resolve(&sb.join("loop1")),
            Err(ResolveError::Loop { .. })
        ));
        assert!(matches!(
            resolve(&root.join("file/below")),
            Err(ResolveError::NotADirectory { .. })
        ));
        assert!(matches!(
            resolve(Path::new("rel")),
            Err(ResolveError::Relative { .. })
        ));
    }

    mod against_the_kernel {
        use super::*;
        use proptest::prelude::*;

        const NAMES: &[&str] = &["a", "b", "l0", "l1", "l2", "..", "."];

        fn target() -> impl Strategy<Value = String> {
            (
                any::<bool>(),
                prop::collection::vec(prop::sample::select(NAMES), 0..4),
            )
                .prop_map(|(abs, parts)| {
                    format!("{}{}", if abs { "@/" } else { "" }, parts.join("/"))
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]
            /// On a random tree of directories and symlinks (absolute ones
            /// pointing into the tree, `@` standing for its root), every path
            /// the kernel can resolve resolves to the same place, and a loop
            /// is a loop.
            #[test]
            fn resolve_agrees_with_canonicalize(
                links in prop::collection::vec(target(), 3),
                queries in prop::collection::vec(prop::collection::vec(prop::sample::select(NAMES), 1..6), 1..8),
            ) {
                let t = tempfile::tempdir().unwrap();
                let root = std::fs::canonicalize(t.path()).unwrap();
                for dir in ["a/a", "a/b", "b/a", "a/a/b"] {
                    std::fs::create_dir_all(root.join(dir)).unwrap();
                }
                for (i, target) in links.iter().enumerate() {
                    let target = target.replace('@', &root.display().to_string());
                    for dir in ["", "a", "a/b"] {
                        let _ = symlink(&target, root.join(dir).join(format!("l{i}")));
                    }
                }
                for q in queries {
                    let path = root.join(q.join("/"));
                    match std::fs::canonicalize(&path) {
                        Ok(real) => prop_assert_eq!(resolve(&path).ok(), Some(real), "{}", path.display()),
                        Err(e) if e.raw_os_error() == Some(40) => prop_assert!(
                            matches!(resolve(&path), Err(ResolveError::Loop { .. })),
                            "{}", path.display()
                        ),
                        Err(_) => {}
                    }
                }
            }
        }
    }
}
