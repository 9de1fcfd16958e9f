//! Preflight checks: what must hold before setup changes anything. Each
//! check passes, warns or fails, has a name, and can be skipped with
//! `--ignore-preflight NAME` (or `all`). They read the host through the
//! [`System`] seam: files under the root, commands only where they reach it.

use serde::Serialize;

use crate::setup::host::facts::Facts;
use crate::setup::host::system::System;
use crate::setup::input::options::Options;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Warn,
    Fail,
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub name: &'static str,
    pub verdict: Verdict,
    pub detail: String,
}

pub const NAMES: [&str; 8] = [
    "root", "os", "arch", "ports", "hostname", "memory", "disk", "docker",
];

fn finding(name: &'static str, verdict: Verdict, detail: impl Into<String>) -> Finding {
    Finding {
        name,
        verdict,
        detail: detail.into(),
    }
}

/// Runs every check not in `ignore` (names from [`NAMES`], or `all`).
pub fn run(
    sys: &System,
    opts: &Options,
    facts: &Facts,
    os_overridden: bool,
    dry_run: bool,
    ignore: &[String],
) -> Vec<Finding> {
    let all = ignore.iter().any(|i| i == "all");
    let checks: [(&'static str, &dyn Fn() -> Finding); 8] = [
        ("root", &|| root(sys, dry_run)),
        ("os", &|| os(facts, os_overridden)),
        ("arch", &|| arch(facts)),
        ("ports", &|| ports(sys, opts)),
        ("hostname", &|| hostname(sys, opts)),
        ("memory", &|| memory(opts, facts)),
        ("disk", &|| disk(sys, opts)),
        ("docker", &|| docker(sys, opts)),
    ];
    checks
        .iter()
        .map(|(name, check)| {
            if all || ignore.iter().any(|i| i == name) {
                finding(name, Verdict::Skipped, "--ignore-preflight")
            } else {
                check()
            }
        })
        .collect()
}

/// Checked first of all, before setup reads the host: the rest of the
/// checks are moot for a user who cannot write.
pub fn root(sys: &System, dry_run: bool) -> Finding {
    if !sys.is_real_root() {
        finding("root", Verdict::Pass, "writing under --root")
    } else if nix::unistd::geteuid().is_root() {
        finding("root", Verdict::Pass, "running as root")
    } else {
        finding(
            "root",
            if dry_run {
                Verdict::Warn
            } else {
                Verdict::Fail
            },
            "not running as root, and setup changes system files under /: run it with sudo, or pass --root DIR to write elsewhere, or --dry-run to only look",
        )
    }
}

fn os(facts: &Facts, overridden: bool) -> Finding {
    if overridden {
        finding(
            "os",
            Verdict::Warn,
            format!(
                "treated as {} because of --os; /etc/os-release was not used",
                facts.os
            ),
        )
    } else {
        finding("os", Verdict::Pass, facts.os.to_string())
    }
}

fn arch(facts: &Facts) -> Finding {
    if matches!(facts.arch.as_str(), "x86_64" | "amd64") {
        finding("arch", Verdict::Pass, facts.arch.clone())
    } else {
        finding(
            "arch",
            Verdict::Fail,
            format!(
                "{}: the Mesos and Marathon packages setup uses are built for x86_64 only",
                facts.arch
            ),
        )
    }
}

/// The ports this role listens on, with the unit that holds each.
fn wanted_ports(opts: &Options) -> Vec<(u16, &'static str)> {
    let mut p = Vec::new();
    if opts.ensemble.is_some() {
        p.extend([
            (2181, "zookeeper.service"),
            (2888, "zookeeper.service"),
            (3888, "zookeeper.service"),
        ]);
    }
    if opts.role.is_master() {
        p.push((5050, "mesos-master.service"));
        if opts.marathon {
            p.push((8080, "marathon.service"));
        }
    }
    if opts.role.is_agent() {
        p.push((5051, "mesos-agent.service"));
    }
    p
}

/// Listening TCP ports from /proc/net/tcp{,6}: state 0A is LISTEN.
pub fn parse_listening(text: &str) -> Vec<u16> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            if cols.get(3) != Some(&"0A") {
                return None;
            }
            let port = cols.get(1)?.rsplit(':').next()?;
            u16::from_str_radix(port, 16).ok()
        })
        .collect()
}

fn ports(sys: &System, opts: &Options) -> Finding {
    let mut listening = Vec::new();
    let mut read_any = false;
    for f in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(t) = sys.read(f) {
            read_any = true;
            listening.extend(parse_listening(&t));
        }
    }
    if !read_any {
        return finding("ports", Verdict::Skipped, "no /proc/net/tcp under the root");
    }
    let mut taken = Vec::new();
    for (port, unit) in wanted_ports(opts) {
        if !listening.contains(&port) {
            continue;
        }
        // Held by the service that should hold it: a re-run on a live node.
        let ours = sys.is_live()
            && sys
                .run("systemctl", &["is-active", unit])
                .is_ok_and(|o| o.stdout.trim() == "active");
        if !ours {
            taken.push(format!("{port} (wanted by {unit})"));
        }
    }
    if taken.is_empty() {
        finding(
            "ports",
            Verdict::Pass,
            "the ports this role needs are free or ours",
        )
    } else {
        finding(
            "ports",
            Verdict::Fail,
            format!(
                "in use by another program: {}; find it with `ss -ltnp` and stop it",
                taken.join(", ")
            ),
        )
    }
}

pub use crate::setup::host::facts::hosts_lookup;

fn hostname(sys: &System, opts: &Options) -> Finding {
    let multi_node = opts.masters > 1 || opts.role == crate::setup::input::model::Role::Agent;
    if !multi_node {
        return finding("hostname", Verdict::Pass, "single-node cluster");
    }
    if opts.ip.is_some() {
        return finding("hostname", Verdict::Pass, "--ip names the address to use");
    }
    let hosts = sys.read("/etc/hosts").unwrap_or_default();
    let loopback: Vec<String> = hosts_lookup(&hosts, &opts.hostname)
        .into_iter()
        .filter(|a| a.is_loopback())
        .map(|a| a.to_string())
        .collect();
    if loopback.is_empty() {
        finding(
            "hostname",
            Verdict::Pass,
            format!("{} is not a loopback name", opts.hostname),
        )
    } else {
        finding(
            "hostname",
            Verdict::Fail,
            format!(
                "{} resolves to {} in /etc/hosts, so Mesos would advertise an address no other node can reach; pass --ip ADDRESS (or --hostname NAME of a routable name), or point the name at this host's address in /etc/hosts",
                opts.hostname,
                loopback.join(", ")
            ),
        )
    }
}

fn memory(opts: &Options, facts: &Facts) -> Finding {
    let Some(mib) = facts.memory_mib else {
        return finding(
            "memory",
            Verdict::Skipped,
            "no /proc/meminfo under the root",
        );
    };
    let (min, good) = if opts.role == crate::setup::input::model::Role::Standalone {
        (1536, 4096)
    } else {
        (1024, 2048)
    };
    let verdict = if mib < min {
        Verdict::Fail
    } else if mib < good {
        Verdict::Warn
    } else {
        Verdict::Pass
    };
    finding(
        "memory",
        verdict,
        format!(
            "{mib} MiB (role {} needs {min} MiB, {good} MiB recommended)",
            opts.role.name()
        ),
    )
}

fn disk(sys: &System, opts: &Options) -> Finding {
    // The work directory may not exist yet: measure the nearest ancestor.
    let mut dir = sys.path(&opts.work_dir);
    while !dir.exists() {
        match dir.parent() {
            Some(p) => dir = p.to_path_buf(),
            None => break,
        }
    }
    let Ok(st) = nix::sys::statvfs::statvfs(&dir) else {
        return finding(
            "disk",
            Verdict::Skipped,
            format!("cannot measure {}", dir.display()),
        );
    };
    // Both are u64 on 64-bit Linux but narrower elsewhere.
    #[allow(clippy::unnecessary_cast)]
    let free_mib = st.blocks_available() as u64 * st.fragment_size() as u64 / (1 << 20);
    let verdict = if free_mib < 2048 {
        Verdict::Fail
    } else if free_mib < 10240 {
        Verdict::Warn
    } else {
        Verdict::Pass
    };
    finding(
        "disk",
        verdict,
        format!(
            "{free_mib} MiB free for {} (2 GiB needed, 10 GiB recommended for images and sandboxes)",
            opts.work_dir
        ),
    )
}

fn docker(sys: &System, opts: &Options) -> Finding {
    if !opts.role.is_agent() {
        return finding("docker", Verdict::Pass, "not an agent");
    }
    if !sys.is_live() {
        return finding("docker", Verdict::Skipped, "not checked under --root");
    }
    match sys.run("docker", &["version", "--format", "{{.Server.Version}}"]) {
        Ok(o) if o.success => finding(
            "docker",
            Verdict::Pass,
            format!("Docker {} answers", o.stdout.trim()),
        ),
        // Installing Docker is the package step's job; until it has run the
        // agent's configuration can still be written.
        Ok(o) => finding(
            "docker",
            Verdict::Warn,
            format!(
                "the Docker daemon does not answer ({}); tasks cannot start until it does",
                o.stderr.trim()
            ),
        ),
        Err(_) => finding(
            "docker",
            Verdict::Warn,
            "docker is not installed yet: setup installs docker.io (tasks cannot start until it runs)",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_ports_from_proc() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
                   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1\n\
                   1: 0100007F:13C4 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 2\n";
        assert_eq!(parse_listening(tcp), vec![8080]);
    }

    #[test]
    fn etc_hosts() {
        let hosts = "127.0.0.1 localhost\n127.0.1.1 m2.example m2 # debian\n10.0.0.2 m3\n";
        assert_eq!(
            hosts_lookup(hosts, "m2"),
            vec!["127.0.1.1".parse::<std::net::IpAddr>().unwrap()]
        );
        assert_eq!(
            hosts_lookup(hosts, "m3"),
            vec!["10.0.0.2".parse::<std::net::IpAddr>().unwrap()]
        );
        assert!(hosts_lookup(hosts, "m4").is_empty());
    }
}
