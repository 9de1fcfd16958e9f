//! Faults of a live run, in Debian 12 containers booted with systemd: setup
//! killed half-way through apt (with apt and dpkg, as a power cut or a
//! killed session does) and run again; and another package manager holding
//! dpkg's lock, which setup waits for, or gives up on naming it. Slow, so
//! `#[ignore]`d; scripts/test runs them with --ignored.

use crate::support;

use std::time::{Duration, Instant};

use support::mirror::text;
use support::systemd::{BINARY, Boot, Node};

const ARGS: [&str; 5] = ["--role", "master", "--no-marathon", "--yes", "--insecure"];

/// A booted node with setup in place, and the arguments of every run: no
/// build of Mesos can be had, so a pinned stand-in tarball is its source.
fn master_node() -> (Node, Vec<String>) {
    let node = Boot::new().own_apt_cache().boot();
    node.install_binary();
    let mut args: Vec<String> = ARGS.map(String::from).to_vec();
    args.extend(["--mesos-source".into(), node.mesos_source()]);
    (node, args)
}

/// Packages dpkg has not fully installed, one `<status> <name>` a line.
const UNFINISHED: &str =
    "dpkg-query -W -f='${db:Status-Abbrev} ${Package}\\n' | grep -v '^ii' || true";

/// Whether the package is installed, as dpkg says.
fn installed(node: &Node, package: &str) -> bool {
    node.sh(&format!(
        "dpkg-query -W -f='${{Status}}' {package} 2>/dev/null"
    )) == "install ok installed"
}

#[test]
#[ignore = "slow (a systemd container, apt from Debian's archive); scripts/test runs it with --ignored"]
fn a_run_killed_while_dpkg_works_converges_when_run_again() {
    let began = Instant::now();
    let (node, args) = master_node();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    // setup leads its own session so that one kill takes apt and dpkg with
    // it, as a power cut would: every live process of the session, over and
    // over until none is left (setup runs each command in a process group of
    // its own, and the image has no pkill). The kill comes while dpkg is in
    // the middle of its work: a package is unpacked but not configured, and
    // its journal holds the changes.
    let script = format!(
        r#"setsid sh -c 'echo $$ > /tmp/setup.pgid; exec {BINARY} setup {args}' > /tmp/killed.log 2>&1 &
for i in $(seq 1 1200); do
  if ls /var/lib/dpkg/updates | grep -q '^[0-9]*$' &&
     dpkg-query -W -f='${{db:Status-Abbrev}}\n' | grep -q '^i[UHF]'; then
    break
  fi
  sleep 0.05
done
sid=$(cat /tmp/setup.pgid)
while :; do
  found=
  for stat in /proc/[0-9]*/stat; do
    read -r line < "$stat" 2>/dev/null || continue
    set -- ${{line##*) }}
    if [ "$4" = "$sid" ] && [ "$1" != Z ]; then
      pid=${{stat#/proc/}}
      kill -KILL "${{pid%/stat}}" 2>/dev/null && found=1
    fi
  done
  [ -z "$found" ] && break
done
wait
echo "journal: $(ls /var/lib/dpkg/updates | grep -c '^[0-9]*$')""#,
        args = args.join(" ")
    );
    // bash: dash's kill takes no `--` before a process group.
    let killed = text(&node.exec(&["bash", "-c", &script]).stdout);
    let unfinished = node.sh(UNFINISHED);
    let log = node.sh("cat /tmp/killed.log");
    eprintln!(
        "killed after {:?}; {killed}unfinished packages:\n{unfinished}",
        began.elapsed()
    );
    assert!(
        !unfinished.trim().is_empty(),
        "the kill came too late: {log}"
    );
    assert!(!node.dpkg_audit().trim().is_empty());
    assert!(!installed(&node, "zookeeperd"));
    assert!(!log.contains(" failed"), "killed, not finished: {log}");
    let journal = !killed.contains("journal: 0");

    let second = node.setup(&args).ok();
    eprintln!("second setup took {:?}", second.took);
    let repaired = "warning: dpkg had been interrupted (a package manager killed half-way): finished its work with dpkg --configure -a";
    // dpkg may have been killed between two of apt's calls, its journal
    // already folded in: then apt finishes the unpacked packages itself.
    assert_eq!(second.stderr.contains(repaired), journal, "{second}");
    for expected in [
        "changed  package zookeeperd: installed",
        "changed  file    /etc/zookeeper/conf/zoo.cfg",
        "ok       health  zookeeper: imok, mode standalone",
    ] {
        assert!(second.has(expected), "{expected:?} not in\n{second}");
    }
    assert_eq!(node.dpkg_audit(), "", "dpkg --audit after the second run");
    assert_eq!(node.sh(UNFINISHED), "");
    assert!(installed(&node, "zookeeperd"));

    let third = node.setup(&args).ok();
    assert!(third.has(" 0 changed, 0 failed"), "{third}");
    assert!(
        !third.stderr.contains("dpkg had been interrupted"),
        "{third}"
    );
    eprintln!("the whole test took {:?}", began.elapsed());
}

/// Builds, in the container, a package whose preinst holds dpkg (and so
/// dpkg's locks) until /tmp/release-lock exists: another package manager
/// at work, as unattended-upgrades would be.
fn hold_dpkg_lock(node: &Node) -> String {
    node.sh(
        r#"set -e
mkdir -p /tmp/holder/DEBIAN
cat > /tmp/holder/DEBIAN/control <<EOF
Package: mesos-docker-test-lock-holder
Version: 1
Architecture: all
Maintainer: mesos-docker tests <tests@localhost>
Description: holds dpkg's lock until /tmp/release-lock exists
EOF
printf '#!/bin/sh\ntouch /tmp/holding\nwhile [ ! -e /tmp/release-lock ]; do sleep 0.1; done\n' > /tmp/holder/DEBIAN/preinst
chmod 755 /tmp/holder/DEBIAN/preinst
dpkg-deb -b /tmp/holder /tmp/holder.deb >/dev/null
dpkg -i /tmp/holder.deb > /tmp/holder.log 2>&1 &
echo $! > /tmp/holder.pid"#,
    );
    let start = Instant::now();
    while node.sh("test -e /tmp/holding && echo yes").trim() != "yes" {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "dpkg -i never ran the preinst"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let pid = node.sh("cat /tmp/holder.pid").trim().to_owned();
    assert_eq!(node.sh(&format!("cat /proc/{pid}/comm")).trim(), "dpkg");
    pid
}

#[test]
#[ignore = "slow (a systemd container, apt from Debian's archive); scripts/test runs it with --ignored"]
fn a_held_dpkg_lock_is_waited_for_or_given_up_on_naming_its_holder() {
    let began = Instant::now();
    let (node, args) = master_node();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let pid = hold_dpkg_lock(&node);

    // A short wait: setup gives up, naming the lock and its holder, before
    // it has changed anything on the node.
    let mut short = vec!["env", "MESOS_DOCKER_DPKG_LOCK_WAIT=2", BINARY, "setup"];
    short.extend(&args);
    let short = node.run(&short);
    assert_eq!(short.status.code(), Some(1), "{short}");
    let held = format!(
        "/var/lib/dpkg/lock-frontend is still held by process {pid} after 2s: another package manager is running; let it finish (or stop it), then run setup again"
    );
    assert!(
        short.has(&format!("failed   package zookeeperd: {held}")),
        "{short}"
    );
    assert!(
        short.stderr.contains(&format!(
            "warning: waiting up to 2s for /var/lib/dpkg/lock-frontend (held by process {pid})\n"
        )),
        "{short}"
    );
    assert!(short.has(" 0 changed, 1 failed"), "{short}");
    assert!(!installed(&node, "zookeeperd"));
    for path in [
        "/etc/mesos-docker",
        "/etc/zookeeper",
        "/etc/systemd/system/mesos-master.service",
        "/var/lib/mesos",
    ] {
        assert_eq!(
            node.sh(&format!("test -e {path} && echo exists")),
            "",
            "{path} after a run that stopped at the lock"
        );
    }

    // The default wait: setup says whom it waits for, and goes on once the
    // other package manager is done.
    let waiting = std::thread::scope(|s| {
        let run = s.spawn(|| {
            node.sh(&format!(
                "{BINARY} setup {} > /tmp/waited.out 2> /tmp/waited.err; echo $?",
                args.join(" ")
            ))
        });
        let told = format!(
            "warning: waiting up to 300s for /var/lib/dpkg/lock-frontend (held by process {pid})"
        );
        let start = Instant::now();
        while !node.sh("cat /tmp/waited.err 2>/dev/null").contains(&told) {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "{told:?} never said: {}",
                node.sh("cat /tmp/waited.out /tmp/waited.err")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        // Still waiting, a while later.
        std::thread::sleep(Duration::from_secs(2));
        assert!(!installed(&node, "zookeeperd"));
        assert!(!run.is_finished(), "setup did not wait");
        node.sh("touch /tmp/release-lock");
        let released = Instant::now();
        let code = run.join().unwrap();
        eprintln!(
            "setup finished {:?} after the lock was released",
            released.elapsed()
        );
        code
    });
    let out = node.sh("cat /tmp/waited.out");
    assert_eq!(
        waiting.trim(),
        "0",
        "{out}{}",
        node.sh("cat /tmp/waited.err")
    );
    assert!(
        out.contains("changed  package zookeeperd: installed"),
        "{out}"
    );
    assert!(
        out.contains("ok       health  zookeeper: imok, mode standalone"),
        "{out}"
    );
    assert!(installed(&node, "zookeeperd"));
    assert!(installed(&node, "mesos-docker-test-lock-holder"));
    assert_eq!(node.dpkg_audit(), "");
    eprintln!("the whole test took {:?}", began.elapsed());
}
