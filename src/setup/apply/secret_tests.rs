//! Attack tests: a secure plan with a known token, applied to a root and
//! shown in every way setup shows things (dry-run text and JSON, the
//! report of a real run, the record), never shows a derived secret; and
//! executor authentication goes in only where `mesos-agent --help` lists
//! both of its flags.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::setup::apply::apply;
use crate::setup::apply::downloads::Downloads;
use crate::setup::apt::packages::Apt;
use crate::setup::host::facts::Init;
use crate::setup::host::system::{Output, System};
use crate::setup::host::testkit::RecordingRunner;
use crate::setup::input::model::{OutputFormat, Role};
use crate::setup::input::token::{ClusterToken, SECRETS_DIR, Security};
use crate::setup::plan::auth::tests::{every_secret, facts, options, token};
use crate::setup::plan::auth::{EXECUTOR_AUTH, EXECUTOR_AUTH_ENV, EXECUTOR_SECRET_KEY};
use crate::setup::plan::{Plan, Resource, plan};
use crate::setup::record::{Manifest, PATH as MANIFEST};
use crate::setup::report::Reporter;

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const HELP: &str = "/usr/sbin/mesos-agent --help";
const WITH_SSL: &str = "Usage: mesos-agent [options]\n  --[no-]authenticate_http_executors  If true...\n  --executor_secret_key=VALUE  Path to a file...\n  --work_dir=VALUE\n";
const WITHOUT_SSL: &str =
    "Usage: mesos-agent [options]\n  --work_dir=VALUE\n  --[no-]authenticate_http_readwrite\n";

/// The files, directories and removals of a secure standalone plan (what
/// setup writes; packages and services need apt and systemd).
fn secure_plan(t: &ClusterToken) -> Plan {
    let f = facts(Init::Systemd);
    let mut p = plan(
        &options(Role::Standalone, &f, Security::Cluster(t.clone())),
        &f,
    )
    .unwrap();
    p.resources.retain(|r| {
        matches!(
            r,
            Resource::File { .. } | Resource::Dir { .. } | Resource::Absent { .. }
        )
    });
    p
}

struct Host {
    dir: tempfile::TempDir,
    runner: Arc<RecordingRunner>,
}

impl Host {
    fn new(help: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let program = dir.path().join("usr/sbin/mesos-agent");
        fs::create_dir_all(program.parent().unwrap()).unwrap();
        fs::write(&program, "").unwrap();
        // Marathon's launcher is read before its secret environment.
        let launcher = dir.path().join("usr/share/marathon/bin/marathon");
        fs::create_dir_all(launcher.parent().unwrap()).unwrap();
        fs::write(&launcher, "#!/bin/sh\nexec java -jar marathon.jar \"$@\"\n").unwrap();
        let runner = Arc::new(RecordingRunner::new());
        runner.answer(HELP, Output::ok(help));
        Host { dir, runner }
    }

    fn sys(&self) -> System {
        struct Shared(Arc<RecordingRunner>);
        impl crate::setup::host::system::Runner for Shared {
            fn run(&self, p: &str, a: &[&str]) -> std::io::Result<Output> {
                self.0.run(p, a)
            }
            fn talk(&self, addr: &str, send: &str) -> std::io::Result<String> {
                self.0.talk(addr, send)
            }
            fn is_host(&self) -> bool {
                false
            }
        }
        System::live_for_tests(self.dir.path(), Box::new(Shared(self.runner.clone())))
    }

    /// Runs the plan; returns what the reporter printed and the record.
    fn run(&self, p: &Plan, format: OutputFormat, dry_run: bool) -> (String, Manifest) {
        let (out, manifest, _) = self.run_restarts(p, format, dry_run);
        (out, manifest)
    }

    /// As [`Host::run`], with the services to restart.
    fn run_restarts(
        &self,
        p: &Plan,
        format: OutputFormat,
        dry_run: bool,
    ) -> (String, Manifest, Vec<String>) {
        let sys = self.sys();
        let buf = Buf::default();
        let mut rep = Reporter::new(format, "setup", dry_run, Box::new(buf.clone()));
        let mut manifest = Manifest::load(&sys).unwrap().unwrap_or_default();
        let apt = Apt::new(Duration::from_secs(1));
        let dl = Downloads::new(&sys, None, false);
        let restart = apply(&sys, p, &mut manifest, &apt, &dl, dry_run, &mut rep).unwrap();
        if !dry_run {
            manifest.save(&sys).unwrap();
        }
        rep.finish(&[], None);
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        (out, manifest, restart)
    }

    fn read(&self, path: &str) -> Option<(u32, String)> {
        let p = self.dir.path().join(&path[1..]);
        let mode = fs::metadata(&p).ok()?.permissions().mode() & 0o7777;
        Some((mode, fs::read_to_string(&p).unwrap_or_default()))
    }
}

fn assert_clean(what: &str, text: &str, secrets: &[String]) {
    for s in secrets {
        assert!(!text.contains(s.as_str()), "{what} shows {s}:\n{text}");
    }
}

#[test]
fn no_output_shows_a_secret() {
    let t = token();
    let secrets = every_secret(&t);
    let host = Host::new(WITH_SSL);
    let p = secure_plan(&t);
    for format in [OutputFormat::Text, OutputFormat::Json] {
        let (out, _) = host.run(&p, format, true);
        assert_clean(&format!("dry run {format:?}"), &out, &secrets);
        assert!(
            out.contains("secret content, 0 bytes now, 70 bytes from setup, not shown"),
            "{out}"
        );
        // The public files' diffs still show.
        assert!(out.contains("MESOS_AUTHENTICATE_AGENTS"), "{out}");
    }
    let (out, manifest) = host.run(&p, OutputFormat::Json, false);
    assert_clean("the report", &out, &secrets);
    let record = host.read(MANIFEST).unwrap().1;
    assert_clean("the record", &record, &secrets);
    assert_clean("the record's Debug", &format!("{manifest:?}"), &secrets);
    // Written for real, root-only: the scans above could have found them.
    assert_eq!(host.read(SECRETS_DIR).unwrap().0, 0o700);
    let (mode, key) = host.read(EXECUTOR_SECRET_KEY).unwrap();
    assert_eq!(mode, 0o600);
    assert!(secrets.contains(&key), "{key}");
    // Every file outside the secrets directory is free of them.
    for r in &p.resources {
        if let Resource::File { path, .. } = r
            && !path.starts_with(SECRETS_DIR)
        {
            assert_clean(path, &host.read(path).unwrap().1, &secrets);
        }
    }

    // Another token: the replaced files' diffs show neither.
    let other = ClusterToken::parse(&format!("mdt1_{}", "cd".repeat(32)), "test").unwrap();
    let mut both = secrets.clone();
    both.extend(every_secret(&other));
    for format in [OutputFormat::Text, OutputFormat::Json] {
        let (out, _) = host.run(&secure_plan(&other), format, true);
        assert_clean(&format!("a dry run replacing {format:?}"), &out, &both);
        assert!(
            out.contains("secret content, 70 bytes now, 70 bytes from setup, not shown"),
            "{out}"
        );
    }
}

#[test]
fn executor_auth_only_where_the_agent_has_both_flags() {
    let t = token();
    let host = Host::new(WITH_SSL);
    let p = secure_plan(&t);
    let (_, m) = host.run(&p, OutputFormat::Json, false);
    assert!(m.features[EXECUTOR_AUTH].enabled, "{m:?}");
    assert_eq!(host.read(EXECUTOR_SECRET_KEY).unwrap().0, 0o600);
    let fragment = host.read(EXECUTOR_AUTH_ENV).unwrap().1;
    assert!(
        fragment.contains("MESOS_AUTHENTICATE_HTTP_EXECUTORS=\"true\"\n")
            && fragment.contains(&format!(
                "MESOS_EXECUTOR_SECRET_KEY=\"{EXECUTOR_SECRET_KEY}\""
            )),
        "{fragment}"
    );
    assert!(host.runner.calls().iter().any(|c| c == HELP));

    // The same node with a Mesos built without SSL: both go, the reason
    // stays in the record; the key's removal shows no key.
    host.runner.answer(HELP, Output::ok(WITHOUT_SSL));
    let (out, _) = host.run(&p, OutputFormat::Text, true);
    assert_clean("the removal's dry run", &out, &every_secret(&t));
    let (out, m, restart) = host.run_restarts(&p, OutputFormat::Json, false);
    assert!(
        restart.iter().any(|s| s == "mesos-agent"),
        "the agent drops the flags: {restart:?}"
    );
    assert!(host.read(EXECUTOR_SECRET_KEY).is_none());
    assert!(host.read(EXECUTOR_AUTH_ENV).is_none());
    let f = &m.features[EXECUTOR_AUTH];
    assert!(!f.enabled);
    let why = f.reason.as_deref().unwrap();
    assert!(
        why.contains("does not list --authenticate_http_executors, --executor_secret_key"),
        "{why}"
    );
    assert!(out.contains("executor-auth: off, because"), "{out}");
    let record: serde_json::Value = serde_json::from_str(&host.read(MANIFEST).unwrap().1).unwrap();
    assert_eq!(record["features"][EXECUTOR_AUTH]["enabled"], false);

    // Only one of the two flags is not enough.
    let fresh = Host::new("  --[no-]authenticate_http_executors  If true\n  --work_dir=VALUE\n");
    let (_, m) = fresh.run(&p, OutputFormat::Json, false);
    assert!(!m.features[EXECUTOR_AUTH].enabled);
    assert!(fresh.read(EXECUTOR_AUTH_ENV).is_none());
    assert!(fresh.read(EXECUTOR_SECRET_KEY).is_none());
}

/// TLS goes in only where the installed Mesos has SSL: the CA and the
/// node's certificate public, its key root-only and never shown; where it
/// has not, everything goes, every daemon that read it restarts, and the
/// record says why (what `status` reports as "not encrypted").
#[test]
fn tls_only_where_mesos_has_ssl() {
    use crate::setup::plan::tls;
    let t = token();
    let host = Host::new(WITH_SSL);
    let p = secure_plan(&t);
    let key = match p.resources.iter().find(|r| r.id() == tls::NODE_KEY) {
        Some(Resource::File { content, .. }) => content.clone(),
        other => panic!("{other:?}"),
    };
    let body: String = key.lines().filter(|l| !l.starts_with("-----")).collect();
    let mut secrets = every_secret(&t);
    secrets.push(body.clone());
    for format in [OutputFormat::Text, OutputFormat::Json] {
        let (out, _) = host.run(&p, format, true);
        assert_clean(&format!("the {format:?} dry run"), &out, &secrets);
    }
    let (out, m) = host.run(&p, OutputFormat::Json, false);
    assert_clean("the report", &out, &secrets);
    assert_clean("the record", &host.read(MANIFEST).unwrap().1, &secrets);
    assert!(m.features[tls::FEATURE].enabled, "{m:?}");
    assert_eq!(host.read(tls::NODE_KEY).unwrap(), (0o600, key));
    for public in [tls::CA_CERT, tls::NODE_CERT, tls::TLS_ENV] {
        let (mode, text) = host.read(public).unwrap();
        assert_eq!(mode, 0o644, "{public}");
        assert_clean(public, &text, &secrets);
    }
    let env = host.read(tls::TLS_ENV).unwrap().1;
    assert_eq!(tls::transport_of(&env), tls::Transport::Encrypted);
    assert!(env.contains(&format!("LIBPROCESS_SSL_KEY_FILE={}\n", tls::NODE_KEY)));
    // A second run changes nothing.
    let (_, _, restart) = host.run_restarts(&p, OutputFormat::Json, false);
    assert!(restart.is_empty(), "{restart:?}");

    host.runner.answer(HELP, Output::ok(WITHOUT_SSL));
    let (out, _) = host.run(&p, OutputFormat::Text, true);
    assert_clean("the removal's dry run", &out, &secrets);
    let (out, m, mut restart) = host.run_restarts(&p, OutputFormat::Text, false);
    restart.sort();
    assert_eq!(restart, ["marathon", "mesos-agent", "mesos-master"]);
    for gone in [tls::CA_CERT, tls::NODE_CERT, tls::NODE_KEY, tls::TLS_ENV] {
        assert!(host.read(gone).is_none(), "{gone}");
    }
    let why = m.features[tls::FEATURE].reason.clone().unwrap();
    assert!(
        why.contains(
            "does not list --authenticate_http_executors (a Mesos built without SSL has no TLS"
        ),
        "{why}"
    );
    assert!(out.contains("tls: off, because"), "{out}");
}

/// An agent that kept no certificate (it joined before TLS, or its Mesos
/// gained SSL since) cannot sign one without the token: where the Mesos
/// has SSL the run stops and says to bring the token; where it has not,
/// nothing is missing.
#[test]
fn an_agent_without_a_certificate_is_stopped_only_where_mesos_has_ssl() {
    let t = token();
    let f = facts(Init::Systemd);
    let mut p = plan(
        &options(Role::Agent, &f, Security::Agent(t.agent_key())),
        &f,
    )
    .unwrap();
    p.resources
        .retain(|r| matches!(r, Resource::File { .. } | Resource::Dir { .. }));
    let host = Host::new(WITHOUT_SSL);
    let (_, m) = host.run(&p, OutputFormat::Json, false);
    assert!(!m.features[crate::setup::plan::tls::FEATURE].enabled);

    let host = Host::new(WITH_SSL);
    let sys = host.sys();
    let mut rep = Reporter::new(OutputFormat::Text, "setup", false, Box::new(Buf::default()));
    let mut manifest = Manifest::default();
    let apt = Apt::new(Duration::from_secs(1));
    let dl = Downloads::new(&sys, None, false);
    let e = apply(&sys, &p, &mut manifest, &apt, &dl, false, &mut rep).unwrap_err();
    let msg = crate::error_chain(&e);
    assert!(
        msg.contains("run setup again with the cluster token"),
        "{msg}"
    );
    assert!(host.read(crate::setup::plan::tls::TLS_ENV).is_none());
}
