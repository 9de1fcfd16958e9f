//! Host facts, read through the [`System`] seam: files under the root first,
//! commands only where they reach the root. Parsing is kept in small pure
//! functions so that odd inputs are tested without a host.

use std::fmt;
use std::net::IpAddr;

use serde::Serialize;

use crate::setup::host::system::System;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Init {
    Systemd,
    Upstart,
}

impl fmt::Display for Init {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Init::Systemd => "systemd",
            Init::Upstart => "upstart",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Distro {
    Ubuntu,
    Debian,
}

/// A supported operating system release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Os {
    pub distro: Distro,
    /// VERSION_ID as os-release spells it: "22.04", "12".
    pub version: String,
}

impl fmt::Display for Os {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.distro {
            Distro::Ubuntu => "Ubuntu",
            Distro::Debian => "Debian",
        };
        write!(f, "{name} {}", self.version)
    }
}

impl Os {
    /// Ubuntu 14.04 predates systemd; every other supported release runs it.
    pub fn default_init(&self) -> Init {
        if self.distro == Distro::Ubuntu && self.version == "14.04" {
            Init::Upstart
        } else {
            Init::Systemd
        }
    }
}

pub const SUPPORTED: &str = "Ubuntu 14.04 (upstart), Ubuntu 16.04 to 24.04, Debian 11 and 12";

/// Where Mesos packages put mesos-master and mesos-agent, in the order
/// looked at.
pub const MESOS_DIRS: [&str; 2] = ["/usr/sbin", "/usr/bin"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Cgroup {
    V1,
    V2,
}

/// Packages that matter to setup, with the installed version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Installed {
    /// Package name and version: Debian's `docker.io` or Docker's `docker-ce`.
    pub docker: Option<(String, String)>,
    pub zookeeper: Option<(String, String)>,
    /// The `mesos` package's version, which names its build (e.g. Mesosphere's
    /// "1.11.0-2.0.1.ubuntu2004").
    pub mesos: Option<String>,
    pub marathon: Option<String>,
    pub java: Option<(String, String)>,
    /// The programs setup's units start when Mesos and Marathon come from
    /// packages: present ones are kept when no source is named.
    pub mesos_master: bool,
    pub mesos_agent: bool,
    /// Where the installed Mesos programs are: /usr/sbin (Apache's own
    /// packaging, Mesosphere's) or /usr/bin (AVENTER's).
    pub mesos_programs: Option<String>,
    pub marathon_program: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Facts {
    pub os: Os,
    pub arch: String,
    pub init: Init,
    pub hostname: String,
    pub addresses: Vec<IpAddr>,
    pub memory_mib: Option<u64>,
    pub cpus: Option<u32>,
    pub cgroup: Option<Cgroup>,
    /// Why systemd does not own the root of the cgroup tree here, when it
    /// does not: the container this host is (`docker`, `lxc`,
    /// `systemd-nspawn`, ...). Mesos' systemd integration then fails.
    pub container: Option<String>,
    /// Hard limit on open files of PID 1, which no service it starts can exceed.
    pub nofile_hard: Option<u64>,
    pub installed: Installed,
}

impl Facts {
    /// Why the agent must do without systemd and cgroups, if it must: on cgroup
    /// v2, which Mesos 1.11's cgroups launcher and isolators do not drive, and
    /// where systemd does not own the root of the cgroup tree (a container),
    /// where the agent stops with "Failed to locate systemd cgroups hierarchy:
    /// 'mesos_executors.slice' is not a valid cgroup" (seen under a real 1.11.0).
    pub fn posix_reason(&self) -> Option<String> {
        match (&self.container, self.cgroup) {
            (Some(c), _) => Some(format!(
                "systemd does not own the root of the cgroup tree on this host (a container: {c})"
            )),
            (None, Some(Cgroup::V2)) => Some("this host uses cgroup v2".to_owned()),
            _ => None,
        }
    }
}

/// What the operator may assert instead of letting setup look.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `ID:VERSION`, e.g. `ubuntu:22.04`.
    pub os: Option<String>,
    pub init: Option<Init>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FactsError {
    #[error(
        "cannot read {path}: {reason}; setup needs it to tell the OS release (pass --os ID:VERSION to state it, e.g. --os debian:12)"
    )]
    OsReleaseUnreadable { path: String, reason: String },
    #[error(
        "{found} is not supported; supported: {SUPPORTED}. To treat this host as one of them, pass --os ID:VERSION (e.g. --os debian:12)"
    )]
    Unsupported { found: String },
    #[error("--os {given:?} is not ID:VERSION of a supported release; supported: {SUPPORTED}")]
    BadOverride { given: String },
    #[error(
        "cannot tell the init system: {root}run/systemd/system does not exist and `initctl --version` does not name upstart; pass --init systemd or --init upstart"
    )]
    InitUnknown { root: String },
}

/// Reads every fact setup needs.
pub fn gather(sys: &System, overrides: &Overrides) -> Result<Facts, FactsError> {
    let os = match &overrides.os {
        Some(given) => parse_os_override(given)?,
        None => {
            let text =
                sys.read("/etc/os-release")
                    .map_err(|e| FactsError::OsReleaseUnreadable {
                        path: sys.path("/etc/os-release").display().to_string(),
                        reason: e.to_string(),
                    })?;
            supported_os(&text)?
        }
    };
    let init = match overrides.init {
        Some(init) => init,
        None => detect_init(sys)?,
    };
    let hostname = hostname(sys);
    let reach = sys.is_live();
    let arch = if reach {
        sys.run("uname", &["-m"])
            .ok()
            .filter(|o| o.success)
            .map(|o| o.stdout.trim().to_owned())
    } else {
        None
    }
    .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
    let addresses = addresses(sys, &hostname);
    let cgroup = if sys.exists("/sys/fs/cgroup/cgroup.controllers") {
        Some(Cgroup::V2)
    } else if sys.exists("/sys/fs/cgroup") {
        Some(Cgroup::V1)
    } else {
        None
    };
    let container = container(sys);
    Ok(Facts {
        container,
        os,
        arch,
        init,
        hostname,
        addresses,
        memory_mib: sys
            .read("/proc/meminfo")
            .ok()
            .and_then(|t| parse_meminfo(&t)),
        cpus: sys
            .read("/proc/cpuinfo")
            .ok()
            .and_then(|t| parse_cpuinfo(&t)),
        cgroup,
        nofile_hard: sys
            .read("/proc/1/limits")
            .or_else(|_| sys.read("/proc/self/limits"))
            .ok()
            .and_then(|t| parse_nofile_hard(&t)),
        installed: Installed {
            mesos_master: MESOS_DIRS
                .iter()
                .any(|d| sys.exists(&format!("{d}/mesos-master"))),
            mesos_agent: MESOS_DIRS
                .iter()
                .any(|d| sys.exists(&format!("{d}/mesos-agent"))),
            mesos_programs: MESOS_DIRS
                .iter()
                .find(|d| {
                    sys.exists(&format!("{d}/mesos-master"))
                        || sys.exists(&format!("{d}/mesos-agent"))
                })
                .map(|d| d.to_string()),
            marathon_program: sys.exists("/usr/share/marathon/bin/marathon"),
            ..sys
                .read("/var/lib/dpkg/status")
                .map(|t| parse_dpkg_status(&t))
                .unwrap_or_default()
        },
    })
}

/// The container this host is, if it is one. `systemd-detect-virt
/// --container` where commands reach the host; else (and when it cannot
/// run) the marks it reads itself: `/run/systemd/container`, which systemd
/// writes in a container, `/.dockerenv`, and PID 1's cgroup paths, which
/// are `/` or `/init.scope` only where PID 1 owns the tree's root.
fn container(sys: &System) -> Option<String> {
    if sys.is_live()
        && let Ok(out) = sys.run("systemd-detect-virt", &["--container"])
    {
        let word = out.stdout.trim();
        // "none" with exit 1 on a host that is not a container.
        if !out.success || word.is_empty() || word == "none" {
            return None;
        }
        return Some(word.to_owned());
    }
    if let Ok(word) = sys.read("/run/systemd/container")
        && !word.trim().is_empty()
    {
        return Some(word.trim().to_owned());
    }
    if sys.exists("/.dockerenv") {
        return Some("docker".to_owned());
    }
    sys.read("/proc/1/cgroup")
        .ok()
        .and_then(|t| cgroup_not_root(&t))
}

/// PID 1's `/proc/1/cgroup` naming a path below the root of the systemd
/// (v1 `name=systemd`) or unified (v2 `0::`) hierarchy: PID 1 runs inside
/// somebody else's cgroup, so it is a container's init.
pub fn cgroup_not_root(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let systemd = controllers == "name=systemd" || controllers.is_empty();
        let path = path.trim();
        (systemd && path != "/" && path != "/init.scope").then(|| format!("PID 1 in cgroup {path}"))
    })
}

fn detect_init(sys: &System) -> Result<Init, FactsError> {
    if sys.path("/run/systemd/system").is_dir() {
        return Ok(Init::Systemd);
    }
    if sys.is_live()
        && let Ok(out) = sys.run("initctl", &["--version"])
        && out.success
        && out.stdout.contains("upstart")
    {
        return Ok(Init::Upstart);
    }
    Err(FactsError::InitUnknown {
        root: sys.path("/").display().to_string(),
    })
}

/// Value of one os-release key, unquoted.
fn os_release_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let (k, v) = line.trim().split_once('=')?;
        (k == key).then(|| v.trim().trim_matches(|c| c == '"' || c == '\''))
    })
}

pub fn supported_os(os_release: &str) -> Result<Os, FactsError> {
    let id = os_release_value(os_release, "ID").unwrap_or("");
    let version = os_release_value(os_release, "VERSION_ID").unwrap_or("");
    check_supported(id, version).ok_or_else(|| {
        let pretty = os_release_value(os_release, "PRETTY_NAME")
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{id} {version}").trim().to_owned());
        FactsError::Unsupported {
            found: if pretty.is_empty() {
                "this OS (os-release names none)".to_owned()
            } else {
                pretty
            },
        }
    })
}

fn check_supported(id: &str, version: &str) -> Option<Os> {
    match id {
        "ubuntu" => {
            let (major, minor) = version.split_once('.')?;
            let (major, minor): (u32, u32) = (major.parse().ok()?, minor.parse().ok()?);
            let ok = (major, minor) == (14, 4) || ((16, 4)..=(24, 4)).contains(&(major, minor));
            ok.then(|| Os {
                distro: Distro::Ubuntu,
                version: version.to_owned(),
            })
        }
        "debian" => matches!(version, "11" | "12").then(|| Os {
            distro: Distro::Debian,
            version: version.to_owned(),
        }),
        _ => None,
    }
}

fn parse_os_override(given: &str) -> Result<Os, FactsError> {
    let bad = || FactsError::BadOverride {
        given: given.to_owned(),
    };
    let (id, version) = given.split_once(':').ok_or_else(bad)?;
    check_supported(&id.to_ascii_lowercase(), version).ok_or_else(bad)
}

pub fn parse_meminfo(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

pub fn parse_cpuinfo(text: &str) -> Option<u32> {
    let n = text
        .lines()
        .filter(|l| l.split(':').next().map(str::trim) == Some("processor"))
        .count();
    (n > 0).then_some(n as u32)
}

/// The hard column of "Max open files" in /proc/PID/limits.
pub fn parse_nofile_hard(text: &str) -> Option<u64> {
    let rest = text
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))?;
    let hard = rest.split_whitespace().nth(1)?;
    if hard == "unlimited" {
        None
    } else {
        hard.parse().ok()
    }
}

/// The kernel's host name, else /etc/hostname's (an offline root).
pub fn hostname(sys: &System) -> String {
    sys.read("/proc/sys/kernel/hostname")
        .or_else(|_| sys.read("/etc/hostname"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// The node's addresses: the global ones `ip` lists (on the running host),
/// and what /etc/hosts gives the hostname, which is the address libprocess
/// advertises when none is given (minimal images have no `ip`): peers reach
/// the node there. Loopback ones are not the node's.
pub fn addresses(sys: &System, hostname: &str) -> Vec<IpAddr> {
    let mut found = if sys.is_live() {
        sys.run("ip", &["-o", "addr", "show", "scope", "global"])
            .ok()
            .filter(|o| o.success)
            .map(|o| parse_ip_addr(&o.stdout))
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let hosts = sys.read("/etc/hosts").unwrap_or_default();
    for a in hosts_lookup(&hosts, hostname) {
        if !a.is_loopback() && !found.contains(&a) {
            found.push(a);
        }
    }
    found
}

/// The addresses /etc/hosts gives a name.
pub fn hosts_lookup(hosts: &str, name: &str) -> Vec<IpAddr> {
    hosts
        .lines()
        .filter_map(|l| {
            let l = l.split('#').next()?;
            let mut words = l.split_whitespace();
            let addr: IpAddr = words.next()?.parse().ok()?;
            words.any(|w| w.eq_ignore_ascii_case(name)).then_some(addr)
        })
        .collect()
}

/// Addresses from `ip -o addr show scope global`.
pub fn parse_ip_addr(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            words.find(|w| *w == "inet" || *w == "inet6")?;
            words.next()?.split('/').next()?.parse().ok()
        })
        .collect()
}

/// Installed packages of interest from dpkg's status database.
pub fn parse_dpkg_status(text: &str) -> Installed {
    let mut installed = Installed::default();
    for stanza in text.split("\n\n") {
        let field = |name: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .map(str::trim)
        };
        let (Some(package), Some(status), Some(version)) =
            (field("Package"), field("Status"), field("Version"))
        else {
            continue;
        };
        if !status.ends_with(" installed") {
            continue;
        }
        let pv = || Some((package.to_owned(), version.to_owned()));
        match package {
            "docker.io" | "docker-ce" | "docker-engine" | "moby-engine" => installed.docker = pv(),
            "zookeeperd" => installed.zookeeper = pv(),
            "zookeeper" if installed.zookeeper.is_none() => installed.zookeeper = pv(),
            "mesos" => installed.mesos = Some(version.to_owned()),
            "marathon" => installed.marathon = Some(version.to_owned()),
            p if installed.java.is_none()
                && ((p.starts_with("openjdk-") && p.contains("-jre"))
                    || p == "default-jre-headless"
                    || p == "default-jre") =>
            {
                installed.java = pv();
            }
            _ => {}
        }
    }
    installed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_releases() {
        let cases = [
            ("ubuntu", "14.04", true),
            ("ubuntu", "16.04", true),
            ("ubuntu", "20.04", true),
            ("ubuntu", "23.10", true),
            ("ubuntu", "24.04", true),
            ("ubuntu", "24.10", false),
            ("ubuntu", "15.04", false),
            ("debian", "11", true),
            ("debian", "12", true),
            ("debian", "10", false),
            ("centos", "7", false),
        ];
        for (id, v, ok) in cases {
            let text = format!("ID={id}\nVERSION_ID=\"{v}\"\n");
            assert_eq!(supported_os(&text).is_ok(), ok, "{id} {v}");
        }
        let err = supported_os("PRETTY_NAME=\"CentOS Linux 7\"\nID=centos\nVERSION_ID=7\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("CentOS Linux 7 is not supported"), "{err}");
        assert!(err.contains("--os"), "{err}");
    }

    #[test]
    fn upstart_only_on_trusty() {
        let trusty = check_supported("ubuntu", "14.04").unwrap();
        assert_eq!(trusty.default_init(), Init::Upstart);
        assert_eq!(
            check_supported("debian", "12").unwrap().default_init(),
            Init::Systemd
        );
    }

    #[test]
    fn os_override() {
        assert_eq!(
            parse_os_override("Debian:12").unwrap().to_string(),
            "Debian 12"
        );
        assert!(parse_os_override("debian12").is_err());
        assert!(parse_os_override("fedora:40").is_err());
    }

    #[test]
    fn proc_files() {
        assert_eq!(
            parse_meminfo("MemTotal:       24587640 kB\nMemFree: 1 kB\n"),
            Some(24011)
        );
        assert_eq!(
            parse_cpuinfo("processor\t: 0\nmodel\t: x\n\nprocessor\t: 1\n"),
            Some(2)
        );
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 20000                files\n";
        assert_eq!(parse_nofile_hard(limits), Some(20000));
        assert_eq!(
            parse_nofile_hard("Max open files unlimited unlimited files\n"),
            None
        );
    }

    #[test]
    fn ip_addresses() {
        let text = "2: eth0    inet 10.0.0.5/24 brd 10.0.0.255 scope global eth0\\       valid_lft forever\n\
                    2: eth0    inet6 fd00::5/64 scope global \\       valid_lft forever\n";
        assert_eq!(
            parse_ip_addr(text),
            vec![
                "10.0.0.5".parse::<IpAddr>().unwrap(),
                "fd00::5".parse().unwrap()
            ]
        );
    }

    /// Where `ip` gives nothing (minimal images), the address /etc/hosts
    /// gives the hostname is the node's; a loopback one is not.
    #[test]
    fn the_hostnames_address_is_one_of_the_nodes() {
        let root = tempfile::tempdir().unwrap();
        let put = |path: &str, text: &str| {
            let p = root.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        put("etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n");
        put("etc/hostname", "node-7\n");
        put(
            "etc/hosts",
            "127.0.0.1 localhost\n127.0.1.1 node-7\n10.1.2.3 node-7.example node-7 # eth0\n",
        );
        let sys = System::new(
            root.path(),
            Box::new(crate::setup::host::testkit::RecordingRunner::new()),
        );
        let overrides = Overrides {
            init: Some(Init::Systemd),
            ..Overrides::default()
        };
        let facts = gather(&sys, &overrides).unwrap();
        assert_eq!(facts.hostname, "node-7");
        assert_eq!(facts.addresses, ["10.1.2.3".parse::<IpAddr>().unwrap()]);
    }

    #[test]
    fn pid1_cgroup_tells_a_container() {
        let cases = [
            (
                "12:cpu:/\n1:name=systemd:/init.scope\n0::/init.scope\n",
                None,
            ),
            ("0::/\n", None),
            (
                "1:name=systemd:/docker/0123abcd\n",
                Some("PID 1 in cgroup /docker/0123abcd"),
            ),
            (
                "0::/lxc.payload.c1\n",
                Some("PID 1 in cgroup /lxc.payload.c1"),
            ),
            ("5:memory:/docker/x\n", None),
        ];
        for (text, want) in cases {
            assert_eq!(cgroup_not_root(text).as_deref(), want, "{text}");
        }
    }

    #[test]
    fn dpkg_status() {
        let text = "Package: docker.io\nStatus: install ok installed\nVersion: 20.10.24+dfsg1-1\n\n\
                    Package: mesos\nStatus: deinstall ok config-files\nVersion: 1.0\n\n\
                    Package: openjdk-17-jre-headless\nStatus: install ok installed\nArchitecture: amd64\nVersion: 17.0.9\n\n\
                    Package: zookeeper\nStatus: install ok installed\nVersion: 3.8.0-11\n";
        let i = parse_dpkg_status(text);
        assert_eq!(
            i.docker,
            Some(("docker.io".into(), "20.10.24+dfsg1-1".into()))
        );
        assert_eq!(i.mesos, None);
        assert_eq!(
            i.java,
            Some(("openjdk-17-jre-headless".into(), "17.0.9".into()))
        );
        assert_eq!(i.zookeeper, Some(("zookeeper".into(), "3.8.0-11".into())));
    }
}
