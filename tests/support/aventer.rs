//! A stand-in for AVENTER's apt repository, for the end-to-end tests only
//! (nothing here ships): the same layout as the real one
//! (`rpm.aventer.biz/Debian/{pool,dists/<codename>}` with a signed
//! InRelease and Release.gpg, the key at
//! `www.aventer.biz/assets/support_aventer.asc`), so that `--mirror URL`
//! serving this directory tree stands for both hosts; and an
//! `aventer-mesos` package laid out as AVENTER's packaging source says
//! (m3scluster/clusterd: programs and `mesos-init-wrapper` in /usr/bin,
//! launchers in /usr/libexec/mesos, the web UI in /usr/share/mesos/webui,
//! its own mesos-master.service and mesos-agent.service in
//! /usr/lib/systemd/system starting the init wrapper). Its postinst enables
//! and starts its units the way debhelper's scripts do, so a test can show
//! that they never start: the init wrapper leaves a mark when it runs.
//!
//! The programs are the shared stand-in (tests/support/standin/standin.sh)
//! with the host's static busybox beside them.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use super::mirror::{make_readable_by_all, need, run_checked, text};
use super::standins::{RECORDS, SCRIPT, SigningKey};

pub const VERSION: &str = "1.11.0-0.2.0~standin";
pub const KEY_PATH: &str = "www.aventer.biz/assets/support_aventer.asc";
/// Left by the package's postinst when it ran (it tries to start its units).
pub const POSTINST_MARK: &str = "/var/lib/mesos-standin/aventer-postinst.ran";
/// Left by `mesos-init-wrapper`: a package unit started.
pub const WRAPPER_MARK: &str = "/var/lib/mesos-standin/aventer-init-wrapper.ran";

/// The repository tree (serve `root`), signed by `key`.
pub struct Repo {
    pub root: tempfile::TempDir,
    pub key: SigningKey,
    pub codename: &'static str,
}

fn write_exec(path: &Path, contents: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, contents).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

fn unit(role: &str) -> String {
    format!(
        "[Unit]\nDescription=ClusterD {role} (stand-in of aventer-mesos' own unit)\n\n\
         [Service]\nExecStart=/usr/bin/mesos-init-wrapper {role}\nRestart=always\nRestartSec=20\n\n\
         [Install]\nWantedBy=multi-user.target\n"
    )
}

/// `aventer-mesos_<VERSION>_amd64.deb` built under `dir`.
fn deb(dir: &Path) -> PathBuf {
    let root = dir.join("aventer-mesos-deb");
    for p in ["usr/bin/mesos-master", "usr/bin/mesos-agent"] {
        write_exec(&root.join(p), SCRIPT.as_bytes());
    }
    write_exec(
        &root.join("usr/lib/mesos-standin/busybox"),
        &fs::read("/bin/busybox").expect("/bin/busybox (apt-get install busybox-static)"),
    );
    write_exec(
        &root.join("usr/bin/mesos-init-wrapper"),
        format!("#!/bin/sh\nmkdir -p {RECORDS}\necho \"$@\" >> {WRAPPER_MARK}\nexit 1\n")
            .as_bytes(),
    );
    for role in ["master", "agent"] {
        let p = root.join(format!("usr/lib/systemd/system/mesos-{role}.service"));
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, unit(role)).unwrap();
    }
    for d in ["usr/libexec/mesos", "usr/share/mesos/webui"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::write(root.join("usr/share/mesos/webui/index.html"), "stand-in\n").unwrap();
    fs::create_dir_all(root.join("DEBIAN")).unwrap();
    fs::write(
        root.join("DEBIAN/control"),
        format!(
            "Package: aventer-mesos\nVersion: {VERSION}\nArchitecture: amd64\n\
             Maintainer: mesos-docker tests <standin@mesos-docker.invalid>\n\
             Section: misc\nPriority: optional\n\
             Description: Apache Mesos as AVENTER packages it (a test stand-in)\n \
             mesos-docker's tests only.\n"
        ),
    )
    .unwrap();
    // As debhelper's generated scripts do: enable, then start through
    // deb-systemd-invoke, which asks policy-rc.d first.
    write_exec(
        &root.join("DEBIAN/postinst"),
        format!(
            "#!/bin/sh\nset -e\nif [ \"$1\" = configure ]; then\n  mkdir -p {RECORDS}\n  \
             echo ran > {POSTINST_MARK}\n  \
             deb-systemd-helper enable mesos-master.service mesos-agent.service >/dev/null || true\n  \
             deb-systemd-invoke start mesos-master.service mesos-agent.service || true\nfi\n"
        )
        .as_bytes(),
    );
    let out = dir.join(format!("aventer-mesos_{VERSION}_amd64.deb"));
    run_checked(
        Command::new(need("dpkg-deb", "dpkg"))
            .args(["--root-owner-group", "-Zgzip", "--build"])
            .arg(&root)
            .arg(&out),
    );
    out
}

impl Repo {
    /// The Debian repository for `codename` with the package, signed by a
    /// new throw-away key published at the key URL's path.
    pub fn debian(codename: &'static str) -> Repo {
        let root = tempfile::tempdir().unwrap();
        make_readable_by_all(root.path());
        let build = tempfile::tempdir().unwrap();
        let base = root.path().join("rpm.aventer.biz/Debian");
        let pool = base.join("pool/main/a/aventer-mesos");
        fs::create_dir_all(&pool).unwrap();
        let deb = deb(build.path());
        fs::copy(&deb, pool.join(deb.file_name().unwrap())).unwrap();
        let dist = base.join(format!("dists/{codename}"));
        let binary = dist.join("main/binary-amd64");
        fs::create_dir_all(&binary).unwrap();
        let packages = run_checked(
            Command::new(need("dpkg-scanpackages", "dpkg-dev"))
                .current_dir(&base)
                .args(["--multiversion", "pool"]),
        )
        .stdout;
        assert!(text(&packages).contains("Package: aventer-mesos\n"));
        fs::write(binary.join("Packages"), &packages).unwrap();
        let date = run_checked(Command::new("date").args(["-u", "-R"])).stdout;
        fs::write(
            dist.join("Release"),
            format!(
                "Origin: AVENTER stand-in\nLabel: mesos-docker tests\n\
                 Suite: {codename}\nCodename: {codename}\nDate: {}\nArchitectures: amd64\n\
                 Components: main\nDescription: a stand-in of rpm.aventer.biz\n\
                 SHA256:\n {} {} main/binary-amd64/Packages\n",
                text(&date).trim(),
                hex::encode(Sha256::digest(&packages)),
                packages.len()
            ),
        )
        .unwrap();
        let repo = Repo {
            root,
            key: SigningKey::new(),
            codename,
        };
        repo.publish();
        repo
    }

    /// Signs the Release with the current key and publishes that key.
    fn publish(&self) {
        let dist = self
            .root
            .path()
            .join(format!("rpm.aventer.biz/Debian/dists/{}", self.codename));
        self.key.sign_release(&dist);
        let key = self.root.path().join(KEY_PATH);
        fs::create_dir_all(key.parent().unwrap()).unwrap();
        fs::write(&key, self.key.export(true)).unwrap();
        run_checked(
            Command::new("chmod")
                .args(["-R", "a+rX"])
                .arg(self.root.path()),
        );
    }

    /// The publisher's key changes (or an attacker's is served): a new key
    /// signs the repository and is served at the key URL.
    pub fn change_key(&mut self) {
        self.key = SigningKey::new();
        self.publish();
    }
}
