//! `mesos-docker setup --role standalone` on a real node: a Debian 12
//! container booted with systemd, where the first run installs ZooKeeper and
//! Docker from Debian's archive (downloads cached on the host), unpacks a
//! pinned Mesos stand-in tarball (no build of Mesos can be had) and starts
//! them all, and the no-op re-runs on the converged node only check (target:
//! under 1 s). Prints wall times and the time per resource kind; asserts
//! nothing about speed.
//!
//!     cargo bench --bench setup_node            (ROUNDS=10 no-op re-runs by default)
//!
//! Time per kind is measured here from when each report line arrives (a
//! line is printed as its resource is done, so the gap before it is that
//! resource's time; the preflight lines come when facts and checks are
//! done, and the first resource's gap also holds planning, a millisecond). When setup's JSON report carries its own durations
//! (`time_per_kind`), those are printed too.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::systemd::{BINARY, Boot, Node};

// `--insecure`: the same open node as the figures before cluster tokens.
const ARGS: [&str; 6] = [
    "setup",
    "--role",
    "standalone",
    "--no-marathon",
    "--yes",
    "--insecure",
];

/// One streamed run: its wall time seen from the host, from inside the
/// container (no `docker exec`), and the time each kind of resource took.
struct Timed {
    outside: Duration,
    inside: Duration,
    kinds: BTreeMap<String, (usize, Duration)>,
    /// setup's own summary line, when it prints one.
    own_summary: Option<String>,
    recap: String,
}

/// The resource kind a report line is about, if it is a resource line.
fn kind(line: &str) -> Option<&str> {
    let mut words = line.split_whitespace();
    match words.next()? {
        "ok" | "changed" | "failed" | "skipped" => words.next(),
        _ => None,
    }
}

fn run_streamed(node: &Node, extra: &[&str]) -> Timed {
    // bash's clock around setup: the in-container wall time, on stderr.
    let script = format!(
        "s=$EPOCHREALTIME; {BINARY} {} {}; rc=$?; echo \"inside $s $EPOCHREALTIME\" >&2; exit $rc",
        ARGS.join(" "),
        extra.join(" ")
    );
    let start = Instant::now();
    let mut child = Command::new("docker")
        .args(["exec", &node.id, "bash", "-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("docker exec runs");
    let mut kinds: BTreeMap<String, (usize, Duration)> = BTreeMap::new();
    let mut last = start;
    let mut own_summary = None;
    let mut recap = String::new();
    let mut report = String::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let now = Instant::now();
        report.push_str(&line);
        report.push('\n');
        let bucket = match kind(&line) {
            Some(k) => k.to_owned(),
            // Printed at once when the checks are done.
            None if line.starts_with("preflight ") => "(start: facts, preflight)".to_owned(),
            None if line.starts_with("time per kind:") => {
                own_summary = Some(line);
                continue;
            }
            None if line.contains(" ok, ") && line.contains(" failed") => {
                recap = line;
                "(finish)".to_owned()
            }
            None => continue,
        };
        let e = kinds.entry(bucket).or_default();
        e.0 += 1;
        e.1 += now - last;
        last = now;
    }
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let status = child.wait().unwrap();
    let outside = start.elapsed();
    assert!(
        status.success(),
        "setup failed\n{report}\n--- stderr\n{stderr}"
    );
    let inside = stderr
        .lines()
        .find_map(|l| l.strip_prefix("inside "))
        .and_then(|t| {
            let (a, b) = t.split_once(' ')?;
            Some(Duration::from_secs_f64(
                b.parse::<f64>().ok()? - a.parse::<f64>().ok()?,
            ))
        })
        .expect("bash printed its clock");
    Timed {
        outside,
        inside,
        kinds,
        own_summary,
        recap,
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn print_kinds(kinds: &BTreeMap<String, (usize, Duration)>) {
    for (k, (n, d)) in kinds {
        println!("    {k:<34} {n:>3}  {:>10}", ms(*d));
    }
}

/// What setup's own JSON report says about time, if anything.
fn json_times(node: &Node, extra: &[&str]) -> String {
    let mut args = vec![BINARY];
    args.extend(ARGS);
    args.extend(extra);
    args.extend(["--output", "json"]);
    let run = node.run(&args);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("setup --output json is not JSON ({e}):\n{run}"));
    match doc.get("time_per_kind").and_then(|t| t.as_array()) {
        Some(kinds) => kinds
            .iter()
            .map(|k| {
                format!(
                    "    {:<34} {:>3}  {:>10}\n",
                    k["kind"].as_str().unwrap_or("?"),
                    k["count"],
                    ms(Duration::from_secs_f64(
                        k["seconds"].as_f64().unwrap_or(0.0)
                    ))
                )
            })
            .collect(),
        None => "    (this setup's JSON report carries no durations: none to show)\n".into(),
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this
    // without it, and a node install is minutes: nothing slow then.
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "setup_node: skipped without --bench (boots a systemd container and installs packages): cargo bench --bench setup_node"
        );
        return;
    }
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(10)
        .max(1);
    let node = Boot::new().own_apt_cache().boot();
    node.install_binary();
    // No build of Mesos can be had: a pinned stand-in tarball.
    let source = node.mesos_source();
    let extra = ["--mesos-source", source.as_str()];
    let exec_overhead = median(
        (0..5)
            .map(|_| {
                let s = Instant::now();
                node.exec(&["true"]);
                s.elapsed()
            })
            .collect(),
    );

    let first = run_streamed(&node, &extra);
    let noop: Vec<Timed> = (0..rounds).map(|_| run_streamed(&node, &extra)).collect();
    for (i, n) in noop.iter().enumerate() {
        assert!(
            n.recap.contains(" 0 changed, 0 failed"),
            "no-op round {i} changed something: {}",
            n.recap
        );
    }
    let own_json = json_times(&node, &extra);

    println!(
        "setup --role standalone in a Debian 12 systemd container (the real binary, {rounds} no-op re-runs)"
    );
    println!(
        "  first run:     {} inside the container, {} with docker exec; {}",
        ms(first.inside),
        ms(first.outside),
        first.recap
    );
    print_kinds(&first.kinds);
    if let Some(s) = &first.own_summary {
        println!("    setup's own: {s}");
    }
    let inside = median(noop.iter().map(|n| n.inside).collect());
    let mut sorted: Vec<Duration> = noop.iter().map(|n| n.inside).collect();
    sorted.sort();
    println!(
        "  no-op re-run:  median {} inside (min {}, max {}), {} with docker exec (docker exec alone: {})",
        ms(inside),
        ms(sorted[0]),
        ms(sorted[rounds - 1]),
        ms(median(noop.iter().map(|n| n.outside).collect())),
        ms(exec_overhead)
    );
    // Per kind, the median over the rounds.
    let mut per_kind: BTreeMap<String, (usize, Vec<Duration>)> = BTreeMap::new();
    for n in &noop {
        for (k, (c, d)) in &n.kinds {
            let e = per_kind.entry(k.clone()).or_default();
            e.0 = *c;
            e.1.push(*d);
        }
    }
    print_kinds(
        &per_kind
            .into_iter()
            .map(|(k, (c, ds))| (k, (c, median(ds))))
            .collect(),
    );
    if let Some(s) = &noop[rounds / 2].own_summary {
        println!("    setup's own: {s}");
    }
    println!("  setup's JSON time_per_kind of one more no-op run:");
    print!("{own_json}");
    println!(
        "  target: no-op under 1 s: {}",
        if inside < Duration::from_secs(1) {
            "met"
        } else {
            "NOT met"
        }
    );
}
