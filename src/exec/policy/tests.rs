use std::os::unix::fs::symlink;

use super::*;
use crate::exec::spec::{Bind, Device, NamedVolume};

#[test]
fn registries_as_docker_reads_them() {
    for (image, registry) in [
        ("redis", "docker.io"),
        ("johncosta/redis", "docker.io"),
        ("registry.example.com/team/app:1", "registry.example.com"),
        ("localhost:5000/app", "localhost:5000"),
        ("localhost/app", "localhost"),
        ("mesos-docker-test/busybox:latest", "docker.io"),
    ] {
        assert_eq!(registry_of(image), registry, "{image}");
    }
}

/// A host laid out as the attack table needs it, on the real file system:
/// a sandbox, an allowed /srv/data, and what a task could plant.
struct Host {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Host {
    fn new() -> Host {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        for d in ["sandbox/sub", "srv/data/app", "srv/other", "etc"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        symlink(root.join("etc"), root.join("sandbox/planted")).unwrap();
        symlink("../srv/data/app", root.join("sandbox/to-data")).unwrap();
        symlink(root.join("etc/not-yet"), root.join("srv/data/dangling")).unwrap();
        Host { _dir: dir, root }
    }

    fn p(&self, rel: &str) -> String {
        self.root.join(rel).display().to_string()
    }

    fn policy(&self) -> Policy {
        Policy {
            allowed_host_paths: Some(vec![self.root.join("srv/data")]),
            allowed_registries: Some(vec!["registry.example.com".into()]),
            max_cpus: Some(2.0),
            max_mem_mb: Some(1024.0),
            ..Policy::default()
        }
    }

    fn spec(&self) -> ContainerSpec {
        ContainerSpec {
            name: "mdx.t".into(),
            image: "registry.example.com/app:1".into(),
            command: vec![],
            env: vec![],
            labels: Default::default(),
            network: Network::Bridge,
            port_bindings: vec![],
            spare_host_ports: vec![],
            privileged: false,
            force_pull: false,
            cpu_shares: None,
            nano_cpus: None,
            memory_bytes: None,
            memory_reservation: None,
            binds: vec![bind(&self.p("sandbox"), "/mnt/mesos/sandbox")],
            volumes: vec![],
            options: Default::default(),
        }
    }

    fn authorize(&self, policy: &Policy, spec: ContainerSpec) -> Result<Authorized, Violation> {
        policy.authorize(spec, &self.root.join("sandbox"), Some(1.0), Some(512.0))
    }
}

fn bind(host: &str, container: &str) -> Bind {
    Bind {
        host: host.into(),
        container: container.into(),
        read_only: false,
    }
}

fn volume(name: &str, driver: Option<&str>, opts: &[(&str, &str)]) -> NamedVolume {
    NamedVolume {
        name: name.into(),
        driver: driver.map(String::from),
        driver_options: opts
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        container: "/v".into(),
        read_only: false,
    }
}

#[test]
fn each_rule_names_itself() {
    let h = Host::new();
    let strict = h.policy();
    type Edit = Box<dyn Fn(&mut ContainerSpec)>;
    let cases: Vec<(&str, Edit, Option<&str>)> = vec![
        ("nothing asked", Box::new(|_| {}), None),
        (
            "privileged",
            Box::new(|s| s.privileged = true),
            Some("allow_privileged"),
        ),
        (
            "host network",
            Box::new(|s| s.network = Network::Host),
            Some("allow_host_network"),
        ),
        (
            "device",
            Box::new(|s| {
                s.options.devices.push(Device {
                    host: "/dev/fuse".into(),
                    container: "/dev/fuse".into(),
                    permissions: "rwm".into(),
                })
            }),
            Some("allow_devices"),
        ),
        (
            "hub image",
            Box::new(|s| s.image = "redis".into()),
            Some("allowed_registries"),
        ),
        (
            "cap-add",
            Box::new(|s| s.options.cap_add.push("SYS_ADMIN".into())),
            Some("allowed_capabilities"),
        ),
        (
            "cap-add ALL",
            Box::new(|s| s.options.cap_add.push("ALL".into())),
            Some("allow_privileged"),
        ),
        (
            "syslog",
            Box::new(|s| s.options.log_driver = Some("syslog".into())),
            Some("allowed_log_drivers"),
        ),
        (
            "log destination",
            Box::new(|s| {
                s.options
                    .log_opts
                    .push(("syslog-address".into(), "unix:///run/docker.sock".into()))
            }),
            Some("allowed_log_drivers"),
        ),
        (
            "log size",
            Box::new(|s| {
                s.options.log_driver = Some("json-file".into());
                s.options.log_opts.push(("max-size".into(), "10m".into()))
            }),
            None,
        ),
    ];
    for (what, edit, rule) in cases {
        let mut s = h.spec();
        edit(&mut s);
        let got = h.authorize(&strict, s).err().map(|v| v.rule);
        assert_eq!(got, rule, "{what}");
    }
    let got = strict.authorize(h.spec(), &h.root.join("sandbox"), Some(4.0), None);
    assert_eq!(got.unwrap_err().rule, "max_cpus");
    let got = strict.authorize(h.spec(), &h.root.join("sandbox"), None, Some(4096.0));
    assert_eq!(got.unwrap_err().rule, "max_mem_mb");
    let mut anything = h.spec();
    anything.privileged = true;
    anything.image = "redis".into();
    anything.options.cap_add.push("ALL".into());
    anything.options.log_driver = Some("syslog".into());
    anything.volumes.push(volume("x", Some("rexray"), &[]));
    anything.binds.push(bind("/etc", "/etc"));
    assert!(
        Policy::permissive()
            .authorize(anything, &h.root.join("sandbox"), Some(64.0), None)
            .is_ok(),
        "no policy file, no rule"
    );
}

#[test]
fn host_paths_are_judged_and_mounted_resolved() {
    let h = Host::new();
    let strict = h.policy();
    let etc = h.p("etc");
    let cases: Vec<(String, Result<String, &str>)> = vec![
        (h.p("srv/data"), Ok(h.p("srv/data"))),
        (h.p("srv/data/app/new/dir"), Ok(h.p("srv/data/app/new/dir"))),
        (h.p("sandbox/sub"), Ok(h.p("sandbox/sub"))),
        // A symlink in the sandbox is followed: to /srv/data is fine…
        (h.p("sandbox/to-data"), Ok(h.p("srv/data/app"))),
        // …to /etc is not, nor anything below it.
        (h.p("sandbox/planted"), Err("resolves to")),
        (h.p("sandbox/planted/x/y"), Err("resolves to")),
        // Inside an allowed prefix, a dangling link still leads out.
        (h.p("srv/data/dangling/z"), Err("resolves to")),
        // A sibling whose name shares the prefix's text.
        (format!("{}-evil", h.p("srv/data")), Err("outside")),
        (h.p("srv/other"), Err("outside")),
        (etc.clone(), Err(&etc)),
        ("/".into(), Err("outside")),
    ];
    for (host, want) in cases {
        let mut s = h.spec();
        s.binds.push(bind(&host, "/x"));
        match (h.authorize(&strict, s), want) {
            (Ok(a), Ok(mounted)) => {
                assert_eq!(a.spec().binds[1].host, mounted, "{host}");
                assert_eq!(a.spec().binds[0].host, h.p("sandbox"));
            }
            (Err(v), Err(needle)) => {
                assert_eq!(v.rule, "allowed_host_paths", "{host}");
                assert!(v.to_string().contains(needle), "{host}: {v}");
                assert!(v.to_string().contains(&host), "names the value: {v}");
            }
            (got, want) => panic!("{host}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn a_sandbox_reached_through_a_symlink_is_still_the_sandbox() {
    let h = Host::new();
    symlink(h.root.join("sandbox"), h.root.join("sandbox-link")).unwrap();
    let mut s = h.spec();
    s.binds = vec![
        bind(&h.p("sandbox-link"), "/mnt/mesos/sandbox"),
        bind(&h.p("sandbox/sub"), "/s"),
    ];
    let a = h
        .policy()
        .authorize(s, &h.root.join("sandbox-link"), None, None)
        .unwrap();
    assert_eq!(a.spec().binds[0].host, h.p("sandbox"));
    assert_eq!(a.spec().binds[1].host, h.p("sandbox/sub"));
}

#[test]
fn named_volumes_are_read_for_what_they_mount() {
    let h = Host::new();
    let strict = h.policy();
    let with_nfs = Policy {
        allowed_volume_drivers: Some(vec!["local:nfs".into(), "rexray/ebs".into()]),
        ..h.policy()
    };
    let data = h.p("srv/data/app");
    let planted = h.p("sandbox/planted");
    /// The device Docker is handed, or the rule that refuses.
    type Want<'a> = Result<Option<String>, &'a str>;
    let cases: Vec<(&Policy, NamedVolume, Want)> = vec![
        (&strict, volume("plain", None, &[]), Ok(None)),
        (
            &strict,
            volume(
                "scratch",
                Some("local"),
                &[("type", "tmpfs"), ("device", "tmpfs")],
            ),
            Ok(None),
        ),
        (
            &strict,
            volume(
                "data",
                None,
                &[("type", "none"), ("o", "bind"), ("device", &data)],
            ),
            Ok(Some(data.clone())),
        ),
        (
            &strict,
            volume(
                "root",
                Some("local"),
                &[("type", "none"), ("o", "bind"), ("device", "/")],
            ),
            Err("allowed_host_paths"),
        ),
        (
            &strict,
            volume("via-link", None, &[("o", "rbind"), ("device", &planted)]),
            Err("allowed_host_paths"),
        ),
        (
            &strict,
            volume("disk", None, &[("type", "ext4"), ("device", "/dev/sda1")]),
            Err("allowed_volume_drivers"),
        ),
        (
            &strict,
            volume("nfs", None, &[("type", "nfs"), ("device", ":/x")]),
            Err("allowed_volume_drivers"),
        ),
        (
            &with_nfs,
            volume("nfs", None, &[("type", "nfs"), ("device", ":/x")]),
            Ok(None),
        ),
        (
            &strict,
            volume("ebs", Some("rexray/ebs"), &[]),
            Err("allowed_volume_drivers"),
        ),
        (&with_nfs, volume("ebs", Some("rexray/ebs"), &[]), Ok(None)),
        (
            &strict,
            volume("odd", None, &[("Device", "/")]),
            Err("allowed_volume_drivers"),
        ),
        (
            &strict,
            volume("mv", None, &[("o", "bind,move"), ("device", &data)]),
            Err("allowed_volume_drivers"),
        ),
    ];
    for (policy, v, want) in cases {
        let name = v.name.clone();
        let mut s = h.spec();
        s.volumes.push(v);
        match (h.authorize(policy, s), want) {
            (Ok(a), Ok(device)) => assert_eq!(
                a.spec().volumes[0].driver_options.get("device").cloned(),
                device.or_else(|| a.spec().volumes[0].driver_options.get("device").cloned()),
                "{name}"
            ),
            (Err(v), Err(rule)) => {
                assert_eq!(v.rule, rule, "{name}: {v}");
                assert!(v.detail.contains(&name), "{v}");
            }
            (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }
    // A volume that exists is judged by what Docker holds, not the request.
    let a = h.authorize(&strict, h.spec()).unwrap();
    let existing = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>()
    };
    assert!(
        a.check_existing_volume("ok", "local", &existing(&[]))
            .is_ok()
    );
    let v = a
        .check_existing_volume(
            "evil",
            "local",
            &existing(&[("type", "none"), ("o", "bind"), ("device", "/etc")]),
        )
        .unwrap_err();
    assert_eq!(v.rule, "allowed_host_paths", "{v}");
    assert!(v.detail.contains("/etc"), "{v}");
    assert_eq!(
        a.check_network_driver("04a2c6a99b06", "host")
            .unwrap_err()
            .rule,
        "allow_host_network"
    );
    assert!(a.check_network_driver("backend", "bridge").is_ok());
}

#[test]
fn capabilities_need_a_rule_and_all_is_privileged() {
    let h = Host::new();
    let ptrace = Policy {
        allowed_capabilities: vec!["SYS_PTRACE".into()],
        ..h.policy()
    };
    let privileged = Policy {
        allow_privileged: true,
        ..h.policy()
    };
    for (policy, cap, rule) in [
        (&ptrace, "SYS_PTRACE", None),
        (&ptrace, "SYS_ADMIN", Some("allowed_capabilities")),
        (&ptrace, "CHOWN", Some("allowed_capabilities")),
        (&ptrace, "ALL", Some("allow_privileged")),
        (&privileged, "ALL", None),
        (&privileged, "SYS_ADMIN", None),
    ] {
        let mut s = h.spec();
        s.options.cap_add.push(cap.into());
        assert_eq!(h.authorize(policy, s).err().map(|v| v.rule), rule, "{cap}");
    }
}

#[test]
fn a_policy_file_is_strict_about_its_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    assert_eq!(
        Policy::load(&path).unwrap(),
        Policy::permissive(),
        "no file, no policy"
    );
    std::fs::write(&path, "allow_privileged = false\nmax_cpus = 2.0\n").unwrap();
    let p = Policy::load(&path).unwrap();
    assert!(!p.allow_privileged && !p.allow_host_network);
    assert_eq!(p.max_cpus, Some(2.0));
    assert_eq!(p.allowed_volume_drivers, Some(vec![]), "only local");
    assert!(p.allowed_capabilities.is_empty());
    std::fs::write(&path, "allow_privilegd = false\n").unwrap();
    let err = Policy::load(&path).unwrap_err().to_string();
    assert!(
        err.contains("allow_privilegd") && err.contains("policy.toml"),
        "{err}"
    );
    std::fs::write(
        &path,
        "allowed_capabilities = [\"cap_net_admin\", \"Sys_Ptrace\"]\n",
    )
    .unwrap();
    assert_eq!(
        Policy::load(&path).unwrap().allowed_capabilities,
        vec!["NET_ADMIN".to_string(), "SYS_PTRACE".to_string()]
    );
    std::fs::write(&path, "allowed_capabilities = [\"all\"]\n").unwrap();
    let err = Policy::load(&path).unwrap_err().to_string();
    assert!(err.contains("allow_privileged = true"), "{err}");
    std::fs::write(&path, "allowed_host_paths = [\"srv\"]\n").unwrap();
    let err = Policy::load(&path).unwrap_err().to_string();
    assert!(err.contains("not an absolute path"), "{err}");
}

#[test]
fn only_reviewed_fields_reach_docker() {
    let h = Host::new();
    let mut s = h.spec();
    // Every option the translation can set, at once.
    s.options = crate::exec::spec::Options {
        env: vec![("A".into(), "1".into())],
        labels: vec![("l".into(), "v".into())],
        user: Some("1000".into()),
        workdir: Some("/w".into()),
        entrypoint: Some(vec!["sh".into()]),
        cap_add: vec!["NET_ADMIN".into()],
        cap_drop: vec!["MKNOD".into()],
        extra_hosts: vec!["a:1.2.3.4".into()],
        dns: vec!["1.1.1.1".into()],
        hostname: Some("h".into()),
        init: Some(true),
        read_only: Some(true),
        log_driver: Some("json-file".into()),
        log_opts: vec![("max-size".into(), "1m".into())],
        shm_size: Some(1 << 20),
        memory_swap: Some(-1),
        devices: vec![Device {
            host: "/dev/fuse".into(),
            container: "/dev/fuse".into(),
            permissions: "rwm".into(),
        }],
        ulimits: vec![crate::exec::spec::Ulimit {
            name: "nofile".into(),
            soft: 1,
            hard: 2,
        }],
        ..Default::default()
    };
    s.volumes
        .push(volume("v", Some("local"), &[("type", "tmpfs")]));
    s.cpu_shares = Some(512);
    s.nano_cpus = Some(1);
    s.memory_bytes = Some(1 << 26);
    s.memory_reservation = Some(1 << 25);
    s.port_bindings.push(crate::exec::spec::PortBinding {
        host_port: 31000,
        container_port: 80,
        protocol: crate::exec::spec::Protocol::Tcp,
    });
    let mut body = crate::exec::docker::create_body(&s);
    assert_eq!(reviewed(&body), Ok(()));
    body.host_config.as_mut().unwrap().pid_mode = Some("host".into());
    let v = reviewed(&body).unwrap_err();
    assert_eq!(v.rule, "reviewed_docker_fields");
    assert!(v.detail.contains("HostConfig.PidMode"), "{v}");
    let mut body = crate::exec::docker::create_body(&s);
    body.volumes = Some(vec!["/etc".into()]);
    assert!(reviewed(&body).unwrap_err().detail.contains("Volumes"));
}

#[test]
fn the_policy_file_is_the_nodes_to_name() {
    let ok = [("PORT0", "31000"), ("MESOS_DOCKER_CFS_QUOTA", "1")];
    for in_force in [false, true] {
        assert_eq!(node_settings_untouched(ok, in_force), Ok(()));
        let v =
            node_settings_untouched([("A", "1"), ("MESOS_DOCKER_POLICY", "/dev/null")], in_force)
                .unwrap_err();
        assert_eq!(v.rule, "node_settings");
        assert!(v.detail.contains("MESOS_DOCKER_POLICY=/dev/null"), "{v}");
    }
}

/// Pointing the executor at a daemon of the task's choosing would hand it
/// the node's registry credentials; a container of its own may still get
/// DOCKER_HOST when no policy is in force.
#[test]
fn the_docker_endpoint_and_credentials_are_the_nodes_under_a_policy() {
    for (k, v) in [
        ("DOCKER_HOST", "tcp://203.0.113.9:2375"),
        ("DOCKER_CONFIG", "/root/.docker"),
        ("MESOS_DOCKER_CONFIG", "/etc/shadow"),
    ] {
        assert_eq!(node_settings_untouched([(k, v)], false), Ok(()), "{k}");
        let err = node_settings_untouched([(k, v)], true).unwrap_err();
        assert_eq!(err.rule, "node_settings");
        assert!(err.detail.contains(k), "{err}");
    }
    assert!(!Policy::permissive().in_force());
    assert!(Policy::default().in_force());
}
