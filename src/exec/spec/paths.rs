//! Host paths as text: the lexical half of the node policy's path rule (the
//! other half, following symlinks on the host, is I/O and lives in
//! `exec::policy::resolve`). Pure, so it is proptested.

use std::path::{Component, Path, PathBuf};

/// `path` with `.`, `..` and repeated slashes folded away, read from `base`
/// when relative. `..` at the root stays at the root, as the kernel reads it.
/// The result is absolute when `base` is.
pub fn normalize(base: &Path, path: &Path) -> PathBuf {
    let mut out = if path.is_absolute() {
        PathBuf::from("/")
    } else {
        normalize(Path::new("/"), base)
    };
    for c in path.components() {
        match c {
            Component::RootDir | Component::Prefix(_) | Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => out.push(name),
        }
    }
    out
}

/// Characters a host or container path may not hold: Docker's `Binds` syntax
/// splits on `:` (so `/srv/data:/x` would name a different bind), and a
/// control character is never a path an operator meant.
pub fn unsafe_char(path: &str) -> Option<char> {
    path.chars().find(|c| *c == ':' || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn folds_as_the_kernel_reads_text() {
        let sb = Path::new("/var/lib/mesos/sb");
        for (path, want) in [
            ("/srv/data", "/srv/data"),
            ("/srv/data/", "/srv/data"),
            ("/srv//data/./x", "/srv/data/x"),
            ("/srv/data/../..", "/"),
            ("/srv/data/../../../../etc", "/etc"),
            ("/../etc", "/etc"),
            ("data", "/var/lib/mesos/sb/data"),
            ("./data/../x", "/var/lib/mesos/sb/x"),
            ("../../../../../../etc", "/etc"),
            ("..", "/var/lib/mesos"),
            ("", "/var/lib/mesos/sb"),
        ] {
            assert_eq!(
                normalize(sb, Path::new(path)),
                PathBuf::from(want),
                "{path}"
            );
        }
    }

    #[test]
    fn bind_syntax_breakers_are_found() {
        assert_eq!(unsafe_char("/srv/data:/etc"), Some(':'));
        assert_eq!(unsafe_char("/srv/da\nta"), Some('\n'));
        assert_eq!(unsafe_char("/srv/data"), None);
    }

    fn component() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("..".to_string()),
            Just(".".to_string()),
            Just(String::new()),
            // Never a name of the bases used below, so a climb cannot land
            // back inside by spelling the base's own names.
            "[x-z]{1,3}",
            Just("...".to_string()),
        ]
    }

    proptest! {
        /// Whatever the input, the result is absolute and holds no `.`, `..`
        /// or empty component, so a prefix test on it means what it says.
        #[test]
        fn result_is_absolute_and_plain(parts in prop::collection::vec(component(), 0..12), abs in any::<bool>()) {
            let text = format!("{}{}", if abs { "/" } else { "" }, parts.join("/"));
            let out = normalize(Path::new("/sb/x"), Path::new(&text));
            prop_assert!(out.is_absolute());
            for c in out.components().skip(1) {
                prop_assert!(matches!(c, Component::Normal(_)), "{:?} in {:?}", c, out);
            }
        }

        /// Normalising twice changes nothing.
        #[test]
        fn idempotent(parts in prop::collection::vec(component(), 0..12)) {
            let text = parts.join("/");
            let once = normalize(Path::new("/sb"), Path::new(&text));
            prop_assert_eq!(normalize(Path::new("/"), &once), once.clone());
        }

        /// A relative path stays under the base exactly when its running
        /// depth (names minus `..`) never goes below zero: the model the
        /// sandbox test relies on.
        #[test]
        fn relative_paths_leave_the_base_only_by_climbing(parts in prop::collection::vec(component(), 0..12)) {
            let base = Path::new("/a/b/sb");
            // A leading empty part would make the text absolute.
            let text = format!("./{}", parts.join("/"));
            let out = normalize(base, Path::new(&text));
            let mut depth: i64 = 0;
            let mut escaped = false;
            for p in &parts {
                match p.as_str() {
                    ".." => { depth -= 1; escaped |= depth < 0; }
                    "." | "" => {}
                    _ => depth += 1,
                }
            }
            prop_assert_eq!(out.starts_with(base), !escaped, "{:?} -> {:?}", parts, out);
        }

        /// Absolute inputs never depend on the base.
        #[test]
        fn absolute_ignores_base(parts in prop::collection::vec(component(), 0..12)) {
            let text = format!("/{}", parts.join("/"));
            prop_assert_eq!(normalize(Path::new("/x"), Path::new(&text)), normalize(Path::new("/y/z"), Path::new(&text)));
        }
    }
}
