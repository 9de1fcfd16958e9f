//! What a named volume of Docker's `local` driver mounts, read from its
//! options (`docker volume create -o type=… -o o=… -o device=…`). The local
//! driver hands them to mount(2) as the daemon, so `type=none,o=bind,
//! device=/etc` is a bind of /etc and `type=ext4,device=/dev/sda1` a host
//! disk: both are host access the policy must see.

use std::collections::BTreeMap;

/// The options the local driver reads; anything else is refused rather than
/// guessed at.
pub const LOCAL_OPTIONS: &[&str] = &["type", "o", "device", "size"];

#[derive(Debug, PartialEq, Eq)]
pub enum Local<'a> {
    /// A directory Docker manages under its own root, or a tmpfs.
    Contained,
    /// A bind of a host path (`o=bind`/`rbind`, or `type=none`).
    Bind(&'a str),
    /// Some other filesystem (`nfs`, `ext4`, …) mounted from `device`.
    Filesystem {
        fstype: &'a str,
        device: &'a str,
    },
    UnknownOption(&'a str),
    /// A mount flag that acts on mounts already there (`move`, `remount`)
    /// rather than making a new one.
    UnsafeFlag(&'a str),
}

/// Mount flags the local driver would pass to mount(2) that move or change
/// an existing mount of the host instead of mounting something new.
const UNSAFE_FLAGS: &[&str] = &["move", "remount"];

pub fn classify(options: &BTreeMap<String, String>) -> Local<'_> {
    if let Some(k) = options
        .keys()
        .find(|k| !LOCAL_OPTIONS.contains(&k.as_str()))
    {
        return Local::UnknownOption(k);
    }
    let get = |k: &str| options.get(k).map(String::as_str);
    if let Some(f) = get("o").and_then(|o| {
        o.split(',')
            .map(str::trim)
            .find(|f| UNSAFE_FLAGS.contains(f))
    }) {
        return Local::UnsafeFlag(f);
    }
    let fstype = get("type").unwrap_or("");
    let device = get("device").unwrap_or("");
    let binds = get("o").is_some_and(|o| {
        o.split(',')
            .map(str::trim)
            .any(|f| f == "bind" || f == "rbind")
    });
    if binds || fstype == "none" {
        Local::Bind(device)
    } else if fstype == "tmpfs" || (fstype.is_empty() && device.is_empty()) {
        Local::Contained
    } else {
        Local::Filesystem { fstype, device }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_each_option_set_mounts() {
        let opts = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        for (pairs, want) in [
            (vec![], Local::Contained),
            (
                vec![("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=64m")],
                Local::Contained,
            ),
            (
                vec![("type", "none"), ("o", "bind"), ("device", "/etc")],
                Local::Bind("/etc"),
            ),
            (vec![("o", "ro,rbind"), ("device", "/")], Local::Bind("/")),
            (
                vec![("type", "none"), ("device", "/etc")],
                Local::Bind("/etc"),
            ),
            (
                vec![("type", "tmpfs"), ("o", "bind"), ("device", "/root")],
                Local::Bind("/root"),
            ),
            (
                vec![("type", "ext4"), ("device", "/dev/sda1")],
                Local::Filesystem {
                    fstype: "ext4",
                    device: "/dev/sda1",
                },
            ),
            (
                vec![
                    ("type", "nfs"),
                    ("o", "addr=10.0.0.1"),
                    ("device", ":/export"),
                ],
                Local::Filesystem {
                    fstype: "nfs",
                    device: ":/export",
                },
            ),
            (
                vec![("device", "/dev/sdb")],
                Local::Filesystem {
                    fstype: "",
                    device: "/dev/sdb",
                },
            ),
            (vec![("Type", "none")], Local::UnknownOption("Type")),
            (
                vec![
                    ("type", "none"),
                    ("o", "bind,move"),
                    ("device", "/srv/data"),
                ],
                Local::UnsafeFlag("move"),
            ),
            (vec![("o", "remount,ro")], Local::UnsafeFlag("remount")),
        ] {
            let o = opts(&pairs);
            assert_eq!(classify(&o), want, "{pairs:?}");
        }
    }
}
