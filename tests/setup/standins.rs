//! The Mesos and Marathon stand-ins (tests/support/standin/standin.sh) run
//! directly on this host with its static busybox, checked against what the
//! real Mesos 1.11 and Marathon do with the secure flags of issue 12: basic
//! auth per realm from the JSON credentials file (401 with
//! `WWW-Authenticate`, `/health` open), credential files read as JSON,
//! executor flags only in a Mesos built with SSL, libprocess' TLS from
//! `LIBPROCESS_SSL_*` in such a build (with setup's own certificates and
//! env lines), Marathon's HTTP and framework authentication, private
//! records, no secret printed. The tests of setup lean on these answers, so
//! a stand-in that let anything through would prove nothing. Two tests
//! (`--ignored`) run in a systemd container: a master against a real
//! ZooKeeper, and an SSL agent started by systemd with setup's TLS files.

use std::fs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::mirror::text;
use crate::support::standins::{self, Answer, TlsClient, basic, http_get_with};
use mesos_docker::setup::input::token::ClusterToken;
use mesos_docker::setup::plan::tls;

const SECRET: &str = "5ec2e7a1b2c3d4e5f60718293a4b5c6d";
const OTHER: &str = "0ther5ecret0000000000000000000000";

/// The three stand-ins laid out in a temporary directory, with a records
/// directory and a place for credential files.
struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new(ssl: bool) -> Tree {
        let dir = tempfile::tempdir().unwrap();
        standins::lay_out(dir.path(), ssl);
        Tree { dir }
    }

    fn records(&self) -> PathBuf {
        self.dir.path().join("records")
    }

    /// Writes `contents` to `name` beside the stand-ins with `mode`.
    fn file(&self, name: &str, contents: &str, mode: u32) -> String {
        let path = self.dir.path().join(name);
        fs::write(&path, contents).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        path.to_str().unwrap().to_owned()
    }

    /// `program` with only the variables given here (cargo's own MESOS_*
    /// would be unknown flags), its output in `<program>.out` / `.err`.
    fn command(&self, program: &str, env: &[(&str, &str)], args: &[&str]) -> Command {
        let mut cmd = Command::new(self.dir.path().join("sbin").join(program));
        cmd.env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("MESOS_STANDIN_DIR", self.records())
            .envs(env.iter().copied())
            .args(args)
            .stdin(Stdio::null())
            .stdout(fs::File::create(self.output(program, "out")).unwrap())
            .stderr(fs::File::create(self.output(program, "err")).unwrap());
        cmd
    }

    fn output(&self, program: &str, stream: &str) -> PathBuf {
        self.dir.path().join(format!("{program}.{stream}"))
    }

    /// What `program` printed on stdout and stderr.
    fn printed(&self, program: &str) -> String {
        ["out", "err"]
            .map(|s| fs::read_to_string(self.output(program, s)).unwrap_or_default())
            .concat()
    }

    /// Starts `program` serving on a free port; panics with its output if
    /// it exits instead.
    fn serve(&self, program: &str, env: &[(&str, &str)], args: &[&str]) -> Serving {
        self.start(program, env, args, |addr| {
            http_get_with(addr, "/", None).is_ok()
        })
    }

    /// As [`Tree::serve`], for a stand-in serving TLS: ready once its port
    /// takes connections.
    fn serve_tls(&self, program: &str, env: &[(&str, &str)], args: &[&str]) -> Serving {
        self.start(program, env, args, |addr| {
            TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
        })
    }

    fn start(
        &self,
        program: &str,
        env: &[(&str, &str)],
        args: &[&str],
        ready: impl Fn(SocketAddr) -> bool,
    ) -> Serving {
        let port = free_port();
        let port_var = if program == "marathon" {
            "MARATHON_HTTP_PORT"
        } else {
            "MESOS_PORT"
        };
        let port_text = port.to_string();
        let mut all = vec![(port_var, port_text.as_str())];
        all.extend_from_slice(env);
        let child = self.command(program, &all, args).spawn().unwrap();
        let mut serving = Serving {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = serving.child.try_wait().unwrap() {
                panic!(
                    "{program} exited ({status}) instead of serving:\n{}",
                    self.printed(program)
                );
            }
            if ready(serving.addr) {
                return serving;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        serving.child.kill().unwrap();
        panic!(
            "{program} did not serve within 10 s:\n{}",
            self.printed(program)
        );
    }

    /// Runs `program` expecting it to stop by itself: its exit code and
    /// stderr.
    fn refused(&self, program: &str, env: &[(&str, &str)], args: &[&str]) -> (i32, String) {
        let port = free_port().to_string();
        let mut all = vec![("MESOS_PORT", port.as_str()), ("MARATHON_HTTP_PORT", &port)];
        if program == "marathon" {
            all.remove(0);
        } else {
            all.remove(1);
        }
        all.extend_from_slice(env);
        let mut child = self.command(program, &all, args).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().unwrap() {
                let err = fs::read_to_string(self.output(program, "err")).unwrap();
                return (status.code().unwrap_or(-1), err);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        child.kill().unwrap();
        let _ = child.wait();
        panic!(
            "{program} kept running where it must stop:\n{}",
            self.printed(program)
        );
    }
}

/// A stand-in serving; killed on drop.
struct Serving {
    child: Child,
    addr: SocketAddr,
}

impl Serving {
    fn get(&self, path: &str, authorization: Option<&str>) -> Answer {
        http_get_with(self.addr, path, authorization)
            .unwrap_or_else(|e| panic!("GET {path} on {}: {e}", self.addr))
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn credentials_json(pairs: &[(&str, &str)]) -> String {
    let list: Vec<serde_json::Value> = pairs
        .iter()
        .map(|(p, s)| serde_json::json!({"principal": p, "secret": s}))
        .collect();
    serde_json::json!({ "credentials": list }).to_string()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Asserts `answer` is basic auth's refusal for `realm`.
fn assert_refused(answer: &Answer, realm: &str, what: &str) {
    assert_eq!(answer.status, 401, "{what}: {answer:?}");
    assert_eq!(
        answer.header("WWW-Authenticate"),
        Some(format!("Basic realm=\"{realm}\"").as_str()),
        "{what}: {answer:?}"
    );
}

#[test]
fn the_master_asks_basic_auth_on_all_but_health_and_redirect() {
    let tree = Tree::new(false);
    let creds = tree.file(
        "mesos-credentials.json",
        &credentials_json(&[("marathon", OTHER), ("operator", SECRET)]),
        0o600,
    );
    let master = tree.serve(
        "mesos-master",
        &[
            ("MESOS_AUTHENTICATE_HTTP_READONLY", "true"),
            ("MESOS_AUTHENTICATE_HTTP_READWRITE", "true"),
            ("MESOS_CREDENTIALS", &format!("file://{creds}")),
        ],
        &["--work_dir=/var/lib/mesos/master"],
    );
    let operator = basic("operator", SECRET);
    // As src/master/master.cpp routes them: /health and /redirect with no
    // realm, /state in mesos-master-readonly.
    for open in ["/health", "/master/health"] {
        assert_eq!(master.get(open, None).status, 200, "{open}");
    }
    let redirect = master.get("/redirect", None);
    assert_eq!(redirect.status, 307, "{redirect:?}");
    for path in [
        "/state",
        "/master/state",
        "/state.json",
        "/standin/env",
        "/standin/args",
    ] {
        assert_refused(
            &master.get(path, None),
            "mesos-master-readonly",
            "anonymous",
        );
        for (what, wrong) in [
            ("a wrong secret", basic("operator", "nope")),
            ("another principal's secret", basic("operator", OTHER)),
            ("an unknown principal", basic("root", SECRET)),
            ("no secret", basic("operator", "")),
            ("a principal alone", basic("operator", "").replace(':', "")),
            ("not base64", "Basic %%%".to_owned()),
            ("another scheme", format!("Bearer {SECRET}")),
        ] {
            assert_refused(
                &master.get(path, Some(&wrong)),
                "mesos-master-readonly",
                what,
            );
        }
        let answer = master.get(path, Some(&operator));
        assert_eq!(answer.status, 200, "{path}: {answer:?}");
    }
    let state: serde_json::Value =
        serde_json::from_str(&master.get("/state", Some(&operator)).body).unwrap();
    assert_eq!(state["flags"]["authenticate_http_readonly"], "true");
    // Any principal of the file is one.
    assert_eq!(
        master.get("/state", Some(&basic("marathon", OTHER))).status,
        200
    );
    // The stand-in's private files are not endpoints, however asked for.
    for sneaky in [
        "/standin/../.auth/credentials",
        "/.auth/credentials",
        "/standin/port",
        "/standin/../../mesos-master.env",
    ] {
        let answer = master.get(sneaky, Some(&operator));
        assert_eq!(answer.status, 404, "{sneaky}: {answer:?}");
        assert!(!answer.body.contains(SECRET), "{sneaky}: {answer:?}");
    }
    assert!(!tree.printed("mesos-master").contains(SECRET));
}

#[test]
fn the_agent_asks_basic_auth_from_its_http_credentials_and_health_stays_open() {
    let tree = Tree::new(false);
    let creds = tree.file(
        "agent-http-credentials.json",
        &credentials_json(&[("operator", SECRET)]),
        0o600,
    );
    let credential = tree.file(
        "agent-credential.json",
        &serde_json::json!({"principal": "agent", "secret": OTHER}).to_string(),
        0o600,
    );
    let agent = tree.serve(
        "mesos-agent",
        &[
            ("MESOS_AUTHENTICATE_HTTP_READONLY", "true"),
            ("MESOS_AUTHENTICATE_HTTP_READWRITE", "true"),
            ("MESOS_HTTP_CREDENTIALS", &creds),
            ("MESOS_CREDENTIAL", &credential),
        ],
        &["--master=zk://127.0.0.1:2181/mesos"],
    );
    assert_eq!(agent.get("/health", None).status, 200);
    let operator = basic("operator", SECRET);
    for path in ["/state", "/state.json", "/slave(1)/state", "/standin/env"] {
        assert_refused(&agent.get(path, None), "mesos-agent-readonly", path);
        // The agent's registration credential opens no HTTP endpoint.
        assert_refused(
            &agent.get(path, Some(&basic("agent", OTHER))),
            "mesos-agent-readonly",
            path,
        );
        assert_eq!(agent.get(path, Some(&operator)).status, 200, "{path}");
    }
    let printed = tree.printed("mesos-agent");
    assert!(
        printed.contains("Agent using credential for: agent"),
        "{printed}"
    );
    assert!(
        !printed.contains(SECRET) && !printed.contains(OTHER),
        "{printed}"
    );
}

#[test]
fn only_the_realms_the_flags_name_ask_for_credentials() {
    let tree = Tree::new(false);
    let creds = tree.file(
        "creds.json",
        &credentials_json(&[("operator", SECRET)]),
        0o600,
    );
    // Read-write alone leaves the read-only endpoints open, as in Mesos.
    let master = tree.serve(
        "mesos-master",
        &[
            ("MESOS_AUTHENTICATE_HTTP_READWRITE", "true"),
            ("MESOS_CREDENTIALS", &creds),
        ],
        &[],
    );
    assert_eq!(master.get("/state", None).status, 200);
    // No flag, no credentials: today's open node.
    let agent = tree.serve("mesos-agent", &[], &[]);
    assert_eq!(agent.get("/state", None).status, 200);
    let marathon = tree.serve("marathon", &[], &[]);
    assert_eq!(marathon.get("/ping", None).body, "pong");
}

#[test]
fn the_master_has_no_http_credentials_flag_it_authenticates_http_from_credentials() {
    let tree = Tree::new(false);
    let creds = tree.file(
        "creds.json",
        &credentials_json(&[("operator", SECRET)]),
        0o600,
    );
    // docs/configuration/master.md lists no --http_credentials: only the
    // agent has it (src/slave/flags.cpp).
    for (env, args) in [
        (vec![("MESOS_HTTP_CREDENTIALS", creds.as_str())], vec![]),
        (vec![], vec![format!("--http_credentials={creds}")]),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, err) = tree.refused("mesos-master", &env, &args);
        assert_eq!(code, 1, "{err}");
        assert!(
            err.contains("Failed to load unknown flag 'http_credentials'"),
            "{err}"
        );
    }
    let help = tree
        .command("mesos-master", &[], &["--help"])
        .output()
        .unwrap();
    let help =
        fs::read_to_string(tree.output("mesos-master", "out")).unwrap() + &text(&help.stdout);
    for flag in [
        "credentials",
        "authenticate_agents",
        "authenticate_frameworks",
        "authenticate_http_frameworks",
        "http_framework_authenticators",
        "authenticate_http_readonly",
        "authenticate_http_readwrite",
    ] {
        assert!(help.contains(&format!("  --{flag}=")), "{flag}: {help}");
    }
    assert!(!help.contains("--http_credentials="), "{help}");
}

#[test]
fn a_realm_without_credentials_stops_mesos_with_its_message() {
    let tree = Tree::new(false);
    let creds = tree.file(
        "creds.json",
        &credentials_json(&[("operator", SECRET)]),
        0o600,
    );
    let no_credentials = |realm: &str| {
        format!(
            "Failed to create HTTP authenticator module 'basic': No credentials provided for \
             the default 'basic' HTTP authenticator for realm '{realm}'"
        )
    };
    for (program, env, wanted) in [
        (
            "mesos-master",
            vec![("MESOS_AUTHENTICATE_HTTP_READONLY", "true")],
            no_credentials("mesos-master-readonly"),
        ),
        (
            "mesos-master",
            vec![("MESOS_AUTHENTICATE_HTTP_READWRITE", "true")],
            no_credentials("mesos-master-readwrite"),
        ),
        (
            "mesos-master",
            vec![
                ("MESOS_AUTHENTICATE_HTTP_FRAMEWORKS", "true"),
                ("MESOS_CREDENTIALS", creds.as_str()),
            ],
            "Missing `--http_framework_authenticators` flag. This must be used in conjunction \
             with `--authenticate_http_frameworks`"
                .to_owned(),
        ),
        (
            "mesos-master",
            vec![
                ("MESOS_AUTHENTICATE_HTTP_FRAMEWORKS", "true"),
                ("MESOS_HTTP_FRAMEWORK_AUTHENTICATORS", "basic"),
            ],
            no_credentials("mesos-master-scheduler"),
        ),
        (
            "mesos-master",
            vec![
                ("MESOS_AUTHENTICATE_HTTP_READONLY", "true"),
                ("MESOS_HTTP_AUTHENTICATORS", "kerberos"),
                ("MESOS_CREDENTIALS", creds.as_str()),
            ],
            "Failed to create HTTP authenticator module 'kerberos': HTTP authenticator \
             'kerberos' not found"
                .to_owned(),
        ),
        (
            "mesos-agent",
            vec![("MESOS_AUTHENTICATE_HTTP_READONLY", "true")],
            no_credentials("mesos-agent-readonly"),
        ),
        (
            // The master's file is not the agent's: --credentials is unknown.
            "mesos-agent",
            vec![
                ("MESOS_AUTHENTICATE_HTTP_READONLY", "true"),
                ("MESOS_CREDENTIALS", creds.as_str()),
            ],
            "Failed to load unknown flag 'credentials'".to_owned(),
        ),
    ] {
        let (code, err) = tree.refused(program, &env, &[]);
        assert_eq!(code, 1, "{program} {env:?}: {err}");
        assert!(err.contains(&wanted), "{program} {env:?}: {err}");
    }
    // With HTTP frameworks and basic, the credentials file serves them too.
    let master = tree.serve(
        "mesos-master",
        &[
            ("MESOS_AUTHENTICATE_HTTP_FRAMEWORKS", "true"),
            ("MESOS_HTTP_FRAMEWORK_AUTHENTICATORS", "basic"),
            ("MESOS_CREDENTIALS", &creds),
        ],
        &[],
    );
    assert_eq!(master.get("/health", None).status, 200);
}

#[test]
fn credential_files_are_read_as_json_as_mesos_reads_them() {
    let tree = Tree::new(false);
    let cases: &[(&str, &str, &str, &str)] = &[
        // (flag, contents, what stops it, the flag it names)
        (
            "MESOS_CREDENTIAL",
            &format!("agent {SECRET}\n"),
            "Invalid json format",
            "(see --credential flag)",
        ),
        (
            "MESOS_CREDENTIAL",
            &format!("{{\"secret\":\"{SECRET}\"}}"),
            "Invalid credential format: Missing required fields: principal",
            "(see --credential flag)",
        ),
        (
            "MESOS_CREDENTIAL",
            &format!("{{\"principal\":\"agent\",\"secret\":\"{SECRET}\""),
            "Invalid json format",
            "(see --credential flag)",
        ),
        (
            "MESOS_CREDENTIAL",
            "",
            "Empty credential file",
            "(see --credential flag)",
        ),
        (
            "MESOS_HTTP_CREDENTIALS",
            &format!("operator {SECRET}\n"),
            "Invalid json format",
            "(see --http_credentials flag)",
        ),
        (
            "MESOS_HTTP_CREDENTIALS",
            &format!("{{\"principal\":\"operator\",\"secret\":\"{SECRET}\"}}"),
            "Missing required fields: credentials",
            "(see --http_credentials flag)",
        ),
        (
            "MESOS_HTTP_CREDENTIALS",
            "{\"credentials\":[]} trailing",
            "Invalid json format",
            "(see --http_credentials flag)",
        ),
    ];
    for (i, (flag, contents, wanted, names)) in cases.iter().enumerate() {
        let file = tree.file(&format!("cred{i}"), contents, 0o600);
        let (code, err) = tree.refused("mesos-agent", &[(flag, &file)], &[]);
        assert_eq!(code, 1, "{flag}={contents:?}: {err}");
        assert!(
            err.contains(wanted) && err.contains(names),
            "{flag}={contents:?}: {err}"
        );
        assert!(
            !err.contains(SECRET),
            "{flag}={contents:?} printed the secret: {err}"
        );
    }
    let (code, err) = tree.refused("mesos-agent", &[("MESOS_CREDENTIAL", "/nonexistent")], &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("Failed to read credential file '/nonexistent'"),
        "{err}"
    );
    let (code, err) = tree.refused(
        "mesos-master",
        &[("MESOS_CREDENTIALS", &tree.file("e.json", "", 0o600))],
        &[],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains(
            "Credentials file must contain at least one credential (see --credentials flag)"
        ),
        "{err}"
    );

    // A good file others may read: it starts, with Mesos' warning.
    let credential = serde_json::json!({"principal": "agent", "secret": SECRET}).to_string();
    let open = tree.file("open.json", &credential, 0o644);
    let agent = tree.serve("mesos-agent", &[("MESOS_CREDENTIAL", &open)], &[]);
    drop(agent);
    let printed = tree.printed("mesos-agent");
    assert!(
        printed.contains(&format!(
            "Permissions on credential file '{open}' are too open. It is recommended that \
             your credential file is NOT accessible by others."
        )),
        "{printed}"
    );
    let private = tree.file("private.json", &credential, 0o600);
    let agent = tree.serve("mesos-agent", &[("MESOS_CREDENTIAL", &private)], &[]);
    drop(agent);
    let printed = tree.printed("mesos-agent");
    assert!(!printed.contains("too open"), "{printed}");
    assert!(!printed.contains(SECRET), "{printed}");
}

/// The master's `--acls` as setup renders it starts the stand-in; a file
/// that is not JSON, or misspells a kind, an object field or an entity type
/// (which a real Mesos would skip silently, dropping the rule: see
/// standin.sh), stops it; a rule without its object stops it as it stops
/// Mesos ("Missing required fields").
#[test]
fn the_master_reads_its_acls_and_refuses_a_misspelled_one() {
    use mesos_docker::setup::plan::acls::{KINDS, render};
    let tree = Tree::new(false);
    let rendered = render();
    for (i, value) in [
        tree.file("mesos-acls.json", &rendered, 0o644),
        format!("file://{}", tree.file("b.json", &rendered, 0o644)),
        r#"{"permissive": false, "view_flags": [{"principals": {"type": "ANY"}, "flags": {"type": "NONE"}}]}"#.to_owned(),
    ]
    .iter()
    .enumerate()
    {
        let master = tree.serve("mesos-master", &[("MESOS_ACLS", value)], &[]);
        assert_eq!(master.get("/health", None).status, 200, "{i}");
    }
    // The stand-in knows the same kinds as the renderer: each alone is one.
    for k in &KINDS {
        let one = format!(
            r#"{{"{}": [{{"principals": {{"values": ["agent"]}}, "{}": {{"type": "NONE"}}}}]}}"#,
            k.name, k.object
        );
        drop(tree.serve("mesos-master", &[("MESOS_ACLS", &one)], &[]));
    }
    let cases: &[(&str, String, &str)] = &[
        (
            "not JSON",
            "permissive: true".into(),
            "Invalid json format",
        ),
        (
            "cut short",
            rendered[..rendered.len() / 2].into(),
            "Invalid json format",
        ),
        (
            "a kind misspelled",
            rendered.replace("\"register_agents\"", "\"register_agent\""),
            "unknown ACL kind register_agent",
        ),
        (
            "a kind from after 1.11",
            rendered.replace("\n}", ",\n  \"view_everything\": []\n}"),
            "unknown ACL kind view_everything",
        ),
        (
            "an object field misspelled",
            rendered.replacen("\"roles\":", "\"role\":", 1),
            "unknown field role in register_frameworks[0]",
        ),
        (
            "an entity type misspelled",
            rendered.replacen("\"NONE\"", "\"NON\"", 1),
            "unknown entity type NON",
        ),
        (
            "a rule without its object",
            r#"{"run_tasks": [{"principals": {"values": ["agent"]}}]}"#.into(),
            "Missing required fields: run_tasks[0].users",
        ),
        (
            "a value list on an implicit object",
            r#"{"register_agents": [{"principals": {"type": "ANY"}, "agents": {"values": ["a1"]}}]}"#.into(),
            "register_agents[0].agents is given implicitly",
        ),
        (
            "a kind that is not a list",
            r#"{"run_tasks": {"principals": {"type": "ANY"}, "users": {"type": "ANY"}}}"#.into(),
            "Not expecting a JSON object for field run_tasks",
        ),
        (
            "permissive not a boolean",
            r#"{"permissive": "yes"}"#.into(),
            "for field permissive",
        ),
    ];
    for (i, (what, contents, wanted)) in cases.iter().enumerate() {
        let file = tree.file(&format!("acls{i}.json"), contents, 0o644);
        let (code, err) = tree.refused("mesos-master", &[("MESOS_ACLS", &file)], &[]);
        assert_eq!(code, 1, "{what}: {err}");
        assert!(
            err.starts_with("Failed to load flag 'acls': ") && err.contains(wanted),
            "{what}: {err}"
        );
    }
    let (code, err) = tree.refused("mesos-master", &[("MESOS_ACLS", "/nonexistent.json")], &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("Failed to load flag 'acls': Error reading file '/nonexistent.json'"),
        "{err}"
    );
}

#[test]
fn executor_authentication_flags_exist_only_in_a_mesos_built_with_ssl() {
    let plain = Tree::new(false);
    for (env, args) in [
        (vec![("MESOS_AUTHENTICATE_HTTP_EXECUTORS", "true")], vec![]),
        (vec![], vec!["--authenticate_http_executors"]),
    ] {
        let (code, err) = plain.refused("mesos-agent", &env, &args);
        assert_eq!(code, 1, "{err}");
        assert!(
            err.contains("Failed to load unknown flag 'authenticate_http_executors'"),
            "{err}"
        );
    }
    let (_, err) = plain.refused(
        "mesos-agent",
        &[("MESOS_EXECUTOR_SECRET_KEY", "/etc/key")],
        &[],
    );
    assert!(
        err.contains("Failed to load unknown flag 'executor_secret_key'"),
        "{err}"
    );
    let help = |tree: &Tree| {
        let out = tree
            .command("mesos-agent", &[], &["--help"])
            .output()
            .unwrap();
        assert!(out.status.success());
        fs::read_to_string(tree.output("mesos-agent", "out")).unwrap()
    };
    let plain_help = help(&plain);
    assert!(
        !plain_help.contains("--authenticate_http_executors"),
        "{plain_help}"
    );
    assert!(
        !plain_help.contains("--executor_secret_key"),
        "{plain_help}"
    );

    let ssl = Tree::new(true);
    let ssl_help = help(&ssl);
    assert!(
        ssl_help.contains("  --authenticate_http_executors="),
        "{ssl_help}"
    );
    assert!(ssl_help.contains("  --executor_secret_key="), "{ssl_help}");
    let key = ssl.file("executor-secret-key", SECRET, 0o600);
    let creds = ssl.file(
        "creds.json",
        &credentials_json(&[("operator", SECRET)]),
        0o600,
    );
    let (code, err) = ssl.refused(
        "mesos-agent",
        &[
            ("MESOS_AUTHENTICATE_HTTP_EXECUTORS", "true"),
            ("MESOS_EXECUTOR_SECRET_KEY", &key),
        ],
        &[],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(
            "Failed to create HTTP authenticator module 'basic': No credentials provided for \
             the default 'basic' HTTP authenticator for realm 'mesos-agent-executor'"
        ),
        "{err}"
    );
    let (_, err) = ssl.refused(
        "mesos-agent",
        &[
            ("MESOS_AUTHENTICATE_HTTP_EXECUTORS", "true"),
            ("MESOS_HTTP_CREDENTIALS", &creds),
        ],
        &[],
    );
    assert!(
        err.contains(
            "--executor_secret_key must be specified when --authenticate_http_executors is set"
        ),
        "{err}"
    );
    let (_, err) = ssl.refused(
        "mesos-agent",
        &[
            ("MESOS_AUTHENTICATE_HTTP_EXECUTORS", "true"),
            ("MESOS_HTTP_CREDENTIALS", &creds),
            ("MESOS_EXECUTOR_SECRET_KEY", "/nonexistent"),
        ],
        &[],
    );
    assert!(
        err.contains("Failed to read the file specified by --executor_secret_key"),
        "{err}"
    );
    let agent = ssl.serve(
        "mesos-agent",
        &[
            ("MESOS_AUTHENTICATE_HTTP_EXECUTORS", "true"),
            ("MESOS_EXECUTOR_SECRET_KEY", &key),
            ("MESOS_AUTHENTICATE_HTTP_READONLY", "true"),
            ("MESOS_HTTP_CREDENTIALS", &creds),
        ],
        &[],
    );
    assert_refused(&agent.get("/state", None), "mesos-agent-readonly", "ssl");
    assert_eq!(
        agent.get("/state", Some(&basic("operator", SECRET))).status,
        200
    );
    assert!(!ssl.printed("mesos-agent").contains(SECRET));
}

#[test]
fn the_tarball_built_with_ssl_has_the_executor_flags_and_the_plain_one_not() {
    for (artifact, has) in [
        (standins::mesos_tgz(), false),
        (standins::mesos_tgz_with_ssl(), true),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        crate::support::mirror::run_checked(
            Command::new("tar")
                .arg("-C")
                .arg(tmp.path())
                .arg("-xzf")
                .arg(&artifact.path),
        );
        let out = Command::new(tmp.path().join("sbin/mesos-agent"))
            .env_clear()
            .env("MESOS_STANDIN_DIR", tmp.path().join("records"))
            .arg("--help")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let help = text(&out.stdout);
        assert_eq!(
            help.contains("--authenticate_http_executors=")
                && help.contains("--executor_secret_key="),
            has,
            "{}: {help}",
            artifact.path.display()
        );
    }
}

#[test]
fn records_are_private_and_no_secret_is_printed_or_served_anonymously() {
    let tree = Tree::new(false);
    // An existing records directory open to all is closed.
    fs::create_dir_all(tree.records()).unwrap();
    fs::set_permissions(tree.records(), fs::Permissions::from_mode(0o755)).unwrap();
    let pair = format!("operator:{SECRET}");
    let marathon = tree.serve(
        "marathon",
        &[("MESOSPHERE_HTTP_CREDENTIALS", &pair)],
        &["--master", "zk://127.0.0.1:2181/mesos"],
    );
    assert_eq!(mode(&tree.records()), 0o700);
    for record in ["marathon.args", "marathon.env"] {
        assert_eq!(mode(&tree.records().join(record)), 0o600, "{record}");
    }
    for entry in walk(&tree.records()) {
        let m = mode(&entry);
        assert_eq!(m & 0o077, 0, "{} is {m:o}", entry.display());
    }
    // The record holds what Marathon was given (that is its point) ...
    let env = fs::read_to_string(tree.records().join("marathon.env")).unwrap();
    assert!(env.contains(&format!("MESOSPHERE_HTTP_CREDENTIALS={pair}\n")));
    // ... but serves it to the credentialed only, and prints nothing of it.
    assert_refused(&marathon.get("/standin/env", None), "Mesosphere", "env");
    let served = marathon.get("/standin/env", Some(&basic("operator", SECRET)));
    assert_eq!(served.body, env);
    let info = marathon.get("/v2/info", Some(&basic("operator", SECRET)));
    assert_eq!(info.status, 200);
    assert!(!info.body.contains(SECRET), "{}", info.body);
    drop(marathon);
    assert!(!tree.printed("marathon").contains(SECRET));
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            all.extend(walk(&path));
        }
        all.push(path);
    }
    all
}

#[test]
fn marathon_http_credentials_guard_every_path_ping_too() {
    let tree = Tree::new(false);
    let pair = format!("operator:{SECRET}");
    let operator = basic("operator", SECRET);
    // MESOSPHERE_HTTP_CREDENTIALS, and --http_credentials with its realm.
    for (env, args, realm) in [
        (
            vec![("MESOSPHERE_HTTP_CREDENTIALS", pair.as_str())],
            vec![],
            "Mesosphere",
        ),
        (
            vec![],
            vec!["--http_credentials", pair.as_str(), "--http_realm", "Ops"],
            "Ops",
        ),
    ] {
        let marathon = tree.serve("marathon", &env, &args);
        for path in ["/ping", "/v2/info", "/v2/apps", "/"] {
            assert_refused(&marathon.get(path, None), realm, path);
            assert_refused(
                &marathon.get(path, Some(&basic("operator", "nope"))),
                realm,
                path,
            );
        }
        let ping = marathon.get("/ping", Some(&operator));
        assert_eq!((ping.status, ping.body.as_str()), (200, "pong"));
        let info = marathon.get("/v2/info", Some(&operator));
        assert_eq!(info.status, 200);
        let info: serde_json::Value = serde_json::from_str(&info.body).unwrap();
        assert!(info["marathon_config"].get("http_credentials").is_none());
    }
    let (code, err) = tree.refused(
        "marathon",
        &[("MESOSPHERE_HTTP_CREDENTIALS", "no-colon")],
        &[],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("username:password"), "{err}");
}

#[test]
fn marathon_framework_authentication_needs_a_principal_and_a_readable_secret_file() {
    let tree = Tree::new(false);
    let secret = tree.file("marathon-mesos-secret", SECRET, 0o600);
    let empty = tree.file("empty-secret", "", 0o600);
    let dir = tree.dir.path().to_str().unwrap().to_owned();
    for (env, wanted) in [
        (
            // A toggle set empty, as Marathon's docs say (MARATHON_HA=).
            vec![("MARATHON_MESOS_AUTHENTICATION", "")],
            "--mesos_authentication needs --mesos_authentication_principal",
        ),
        (
            vec![
                ("MARATHON_MESOS_AUTHENTICATION", "true"),
                ("MARATHON_MESOS_AUTHENTICATION_PRINCIPAL", "marathon"),
                ("MARATHON_MESOS_AUTHENTICATION_SECRET_FILE", "/nonexistent"),
            ],
            "cannot read the Mesos authentication secret file '/nonexistent'",
        ),
        (
            vec![
                ("MARATHON_MESOS_AUTHENTICATION_PRINCIPAL", "marathon"),
                ("MARATHON_MESOS_AUTHENTICATION_SECRET_FILE", dir.as_str()),
            ],
            "cannot read the Mesos authentication secret file",
        ),
        (
            vec![
                ("MARATHON_MESOS_AUTHENTICATION_PRINCIPAL", "marathon"),
                ("MARATHON_MESOS_AUTHENTICATION_SECRET_FILE", empty.as_str()),
            ],
            "cannot read the Mesos authentication secret file",
        ),
        (
            vec![
                ("MARATHON_MESOS_AUTHENTICATION_PRINCIPAL", "marathon"),
                ("MARATHON_MESOS_AUTHENTICATION_SECRET_FILE", secret.as_str()),
                ("MARATHON_MESOS_AUTHENTICATION_SECRET", "inline"),
            ],
            "mutually exclusive",
        ),
    ] {
        let (code, err) = tree.refused("marathon", &env, &[]);
        assert_eq!(code, 1, "{env:?}: {err}");
        assert!(err.contains(wanted), "{env:?}: {err}");
    }
    let marathon = tree.serve(
        "marathon",
        &[
            ("MARATHON_MESOS_AUTHENTICATION", "true"),
            ("MARATHON_MESOS_AUTHENTICATION_PRINCIPAL", "marathon"),
            ("MARATHON_MESOS_AUTHENTICATION_SECRET_FILE", &secret),
        ],
        &[],
    );
    let info: serde_json::Value =
        serde_json::from_str(&marathon.get("/v2/info", None).body).unwrap();
    assert_eq!(
        info["marathon_config"]["mesos_authentication_principal"],
        "marathon"
    );
    drop(marathon);
    assert!(!tree.printed("marathon").contains(SECRET));
}

const ZK_CLI: &str = "/usr/share/zookeeper/bin/zkCli.sh";

/// What zkCli answers to `commands` fed on its stdin, as the `digest`
/// user when given (stdin: nothing reaches `ps`).
fn zk_session(
    node: &crate::support::systemd::Node,
    digest: Option<&str>,
    commands: &str,
) -> String {
    let auth = digest.map_or_else(String::new, |d| format!("addauth digest {d}\n"));
    node.write(
        "/root/zk-commands",
        format!("{auth}{commands}\nquit\n").as_bytes(),
    );
    node.sh(&format!(
        "{ZK_CLI} -server 127.0.0.1:2181 </root/zk-commands 2>&1; rm -f /root/zk-commands"
    ))
}

#[test]
#[ignore = "slow (a systemd container, zookeeperd from Debian's archive); scripts/test runs it with --ignored"]
fn a_master_with_a_digest_user_guards_its_znodes_as_mesos_does_and_shows_no_secret() {
    let node = crate::support::systemd::Node::boot();
    node.sh_ok(
        "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zookeeperd \
         >/dev/null",
    );
    node.copy_in(&standins::mesos_tgz().path, "/root/mesos.tgz");
    node.sh_ok("mkdir -p /opt/standin && tar -C /opt/standin -xzf /root/mesos.tgz");
    // As setup writes it: the URL with the digest user in a 0600 file.
    node.write(
        "/etc/zk-mesos",
        format!("zk://mesos:{SECRET}@127.0.0.1:2181/mesos").as_bytes(),
    );
    node.sh_ok("chmod 0600 /etc/zk-mesos");
    node.sh_ok(&format!(
        "for i in $(seq 60); do {ZK_CLI} -server 127.0.0.1:2181 ls / 2>&1 | grep -q '^\\[.*zookeeper' \
         && exit 0; sleep 1; done; exit 1"
    ));
    node.sh_ok(
        "systemd-run --unit standin-master -p Environment=MESOS_ZK=file:///etc/zk-mesos \
         -p Environment=MESOS_QUORUM=1 -p Environment=MESOS_WORK_DIR=/var/lib/mesos \
         /opt/standin/sbin/mesos-master",
    );
    // Elected through the znode its session created.
    let state = node.await_http("127.0.0.1", 5050, "/state", Duration::from_secs(120));
    let state: serde_json::Value = serde_json::from_str(&state).unwrap();
    assert_eq!(state["flags"]["zk"], "file:///etc/zk-mesos");

    // src/zookeeper/group.cpp with credentials: anyone reads, the creator
    // (digest mesos) does all; the path and the candidacy alike.
    let listing = zk_session(&node, None, "ls /mesos");
    let candidate = listing
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .find(|w| w.starts_with("json.info_"))
        .unwrap_or_else(|| panic!("no candidacy under /mesos: {listing}"))
        .to_owned();
    for znode in ["/mesos".to_owned(), format!("/mesos/{candidate}")] {
        let acl = zk_session(&node, None, &format!("getAcl {znode}"));
        assert!(acl.contains("'world,'anyone\n: r\n"), "{znode}: {acl}");
        assert!(acl.contains("'digest,'mesos:"), "{znode}: {acl}");
        assert!(acl.contains(": cdrwa"), "{znode}: {acl}");
        assert!(!acl.contains("'world,'anyone\n: cdrwa"), "{znode}: {acl}");
        assert!(!acl.contains(SECRET), "{znode}: {acl}");
    }
    // Anonymous: may read the leader, may not write, create or delete.
    let anonymous = zk_session(
        &node,
        None,
        &format!(
            "get /mesos/{candidate}\ncreate /mesos/json.info_0 hijack\nset /mesos x\n\
             delete /mesos/{candidate}"
        ),
    );
    assert!(anonymous.contains("\"hostname\""), "{anonymous}");
    assert_eq!(
        anonymous.matches("Insufficient permission").count(),
        3,
        "{anonymous}"
    );
    assert!(
        !anonymous.contains("Created /mesos/json.info_0"),
        "{anonymous}"
    );
    // The digest user may.
    let mesos = zk_session(
        &node,
        Some(&format!("mesos:{SECRET}")),
        "create /mesos/probe x\ndelete /mesos/probe",
    );
    assert!(mesos.contains("Created /mesos/probe"), "{mesos}");

    // The secret reaches no argument list, journal or record readable by
    // others; the session's own record leaves it out.
    let cmdlines = node.sh("cat /proc/[0-9]*/cmdline | tr '\\0' ' '");
    assert!(
        cmdlines.contains("zkCli"),
        "the session is not running: {cmdlines}"
    );
    assert!(!cmdlines.contains(SECRET), "{cmdlines}");
    let journal = node.journal("standin-master");
    assert!(!journal.contains(SECRET), "{journal}");
    let session = node.sh_ok("cat /var/lib/mesos-standin/mesos-master.zk-session");
    assert!(session.contains("Created /mesos/json.info_"), "{session}");
    assert!(!session.contains(SECRET), "{session}");
    let open = node.sh(&format!(
        "grep -rlF {SECRET} /etc /var /run /tmp /root /opt 2>/dev/null | \
         while read -r f; do [ $((0$(stat -c %a \"$f\") & 7)) -eq 0 ] || echo \"$f\"; done"
    ));
    assert_eq!(open.trim(), "", "files others may read hold the secret");
}

/// An SSL agent as setup leaves it on a node: setup's files at their
/// paths, tls.env read by the unit (EnvironmentFile=), socat from the
/// node's image, TLS seen from the host.
#[test]
#[ignore = "slow (a systemd container); scripts/test runs it with --ignored"]
fn an_ssl_agent_under_systemd_serves_tls_from_setups_files() {
    let node = crate::support::systemd::Node::boot();
    let ip: IpAddr = node.ip().parse().unwrap();
    let token = ClusterToken::parse(&format!("mdt1_{}", "ab".repeat(32)), "test").unwrap();
    let name = tls::NodeName {
        hostname: NODE.to_owned(),
        ips: vec![ip],
    };
    let issued = tls::issue(&token, &name).unwrap();
    node.copy_in(&standins::mesos_tgz_with_ssl().path, "/root/mesos.tgz");
    node.sh_ok("mkdir -p /opt/standin && tar -C /opt/standin -xzf /root/mesos.tgz");
    node.sh_ok(
        "install -d -m 0755 /etc/mesos-docker/tls && install -d -m 0700 /etc/mesos-docker/secrets",
    );
    node.write(tls::CA_CERT, issued.ca_pem.as_bytes());
    node.write(tls::NODE_CERT, issued.cert_pem.as_bytes());
    node.write(tls::NODE_KEY, issued.key_pem.expose().as_bytes());
    node.sh_ok(&format!("chmod 0600 {}", tls::NODE_KEY));
    let mut env: String = tls::env_lines()
        .iter()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect();
    if !env.contains("LIBPROCESS_SSL_CIPHERS=") {
        env.push_str(&format!("LIBPROCESS_SSL_CIPHERS={ECDSA_CIPHERS}\n"));
    }
    node.write(tls::TLS_ENV, env.as_bytes());
    node.sh_ok(&format!(
        "systemd-run --unit standin-agent -p EnvironmentFile={} /opt/standin/sbin/mesos-agent",
        tls::TLS_ENV
    ));

    let addr = SocketAddr::new(ip, 5051);
    let client = TlsClient::new(&issued.ca_pem, None);
    let deadline = Instant::now() + Duration::from_secs(30);
    let health = loop {
        match client.get(addr, NODE, "/health", None) {
            Ok(answer) => break answer,
            Err(e) if Instant::now() > deadline => panic!(
                "no TLS from the agent: {e}\n{}",
                node.journal("standin-agent")
            ),
            Err(_) => std::thread::sleep(Duration::from_millis(250)),
        }
    };
    assert_eq!(health.status, 200, "{health:?}");
    let by_ip = client.get(addr, &ip.to_string(), "/state", None).unwrap();
    assert_eq!(by_ip.status, 200, "{by_ip:?}");
    assert!(http_get_with(addr, "/health", None).is_err());
    assert_eq!(node.http_get("127.0.0.1", 5051, "/health"), None);

    let key_pem = issued.key_pem.expose();
    let key_line = key_pem.lines().nth(1).unwrap();
    let journal = node.journal("standin-agent");
    assert!(journal.contains("serving TLS only"), "{journal}");
    assert!(!journal.contains(key_line), "{journal}");
    let recorded = node.sh_ok("cat /var/lib/mesos-standin/mesos-agent.env");
    assert!(
        recorded.contains(&format!("LIBPROCESS_SSL_KEY_FILE={}\n", tls::NODE_KEY)),
        "{recorded}"
    );
    let holders = node.sh(&format!(
        "grep -rlF -- '{key_line}' /etc /var /run /tmp /root /opt 2>/dev/null || true"
    ));
    assert_eq!(holders.trim(), tls::NODE_KEY, "the key beyond its file");
}

/// Marathon's launcher read out of an image on the real Docker daemon (a
/// container created, never started, and removed): the stand-in's
/// entrypoint passes; the same image with the package launcher's
/// MARATHON_* loop as its entrypoint is refused, naming it.
#[test]
fn the_launcher_is_read_out_of_a_marathon_image() {
    use mesos_docker::setup::apply::launcher::{LauncherError, Verdict, check};
    use mesos_docker::setup::host::system::System;
    use mesos_docker::setup::plan::launcher::Launcher;
    let image = standins::image();
    let load = Command::new("docker")
        .args(["load", "-i"])
        .arg(&image.archive.path)
        .output()
        .unwrap();
    assert!(load.status.success(), "{}", text(&load.stderr));
    let sys = System::host();
    assert_eq!(
        check(&sys, &Launcher::Image(standins::IMAGE.into()), false).unwrap(),
        Verdict::Clean
    );
    const CONVERTING: &str = "mesos-docker-test/converting-launcher:latest";
    let dockerfile = format!(
        "FROM {}\nRUN printf '%s\\n' '#!/bin/sh' 'for env_op in `env | grep -v ^MARATHON_APP | grep ^MARATHON_`; do set -- \"$@\" \"--$env_op\"; done' 'exec java -jar marathon.jar \"$@\"' > /usr/share/marathon/bin/marathon\n",
        standins::IMAGE
    );
    let mut build = Command::new("docker")
        .args(["build", "-q", "-t", CONVERTING, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    build
        .stdin
        .take()
        .unwrap()
        .write_all(dockerfile.as_bytes())
        .unwrap();
    let built = build.wait_with_output().unwrap();
    assert!(built.status.success(), "{}", text(&built.stderr));
    let got = check(&sys, &Launcher::Image(CONVERTING.into()), false);
    let _ = Command::new("docker").args(["rmi", CONVERTING]).output();
    match got {
        Err(e @ LauncherError::Converts { .. }) => {
            let why = e.to_string();
            assert!(
                why.starts_with(&format!(
                    "/usr/share/marathon/bin/marathon (the entrypoint of {CONVERTING}) turns MARATHON_* environment variables into command-line arguments (line 2:"
                )),
                "{why}"
            );
        }
        other => panic!("{other:?}"),
    }
}

/// The name the nodes' certificates are issued for.
const NODE: &str = "standin-node.test";

/// libprocess' default cipher list (openssl.cpp) holds RSA and DSA suites
/// only, none of which a P-256 certificate can serve; where
/// `tls::env_lines()` names no list, these tests add ECDHE-ECDSA suites
/// (see `libprocess_default_ciphers_serve_no_client_with_a_p256_certificate`).
const ECDSA_CIPHERS: &str =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305";

/// What setup gives a node with TLS, written beside the stand-ins: the
/// cluster CA and the node's certificate and key from `tls::issue`, and
/// `tls::env_lines()` naming these files instead of /etc/mesos-docker's.
struct NodeFiles {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
    key: String,
    /// `tls::env_lines()` as written to tls.env, paths moved here.
    env: Vec<(String, String)>,
}

impl NodeFiles {
    fn new(tree: &Tree, token_byte: &str, hostname: &str) -> NodeFiles {
        let token =
            ClusterToken::parse(&format!("mdt1_{}", token_byte.repeat(32)), "test").unwrap();
        let node = tls::NodeName {
            hostname: hostname.to_owned(),
            ips: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        };
        let issued = tls::issue(&token, &node).unwrap();
        let prefix = format!("{hostname}-{token_byte}");
        let ca = tree.file(&format!("{prefix}-ca.pem"), &issued.ca_pem, 0o644);
        let cert = tree.file(&format!("{prefix}.pem"), &issued.cert_pem, 0o644);
        let key_pem = issued.key_pem.expose().to_owned();
        let key = tree.file(&format!("{prefix}.key"), &key_pem, 0o600);
        let env = tls::env_lines()
            .into_iter()
            .map(|(name, value)| {
                let value = match value.as_str() {
                    tls::NODE_CERT => cert.clone(),
                    tls::NODE_KEY => key.clone(),
                    tls::CA_CERT => ca.clone(),
                    _ => value,
                };
                (name.to_owned(), value)
            })
            .collect();
        NodeFiles {
            ca_pem: issued.ca_pem,
            cert_pem: issued.cert_pem,
            key_pem,
            key,
            env,
        }
    }

    /// The env lines with `changes` (an empty value removes the variable),
    /// and the ECDHE-ECDSA ciphers unless the lines name ciphers.
    fn env_with(&self, changes: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env = self.env.clone();
        if !env.iter().any(|(k, _)| k == "LIBPROCESS_SSL_CIPHERS") {
            env.push(("LIBPROCESS_SSL_CIPHERS".into(), ECDSA_CIPHERS.into()));
        }
        for (name, value) in changes {
            env.retain(|(k, _)| k != name);
            if !value.is_empty() {
                env.push((name.to_string(), value.to_string()));
            }
        }
        env
    }

    /// A line from the middle of the key: no record or output may hold it.
    fn key_line(&self) -> &str {
        let lines: Vec<&str> = self.key_pem.lines().collect();
        lines[lines.len() / 2]
    }
}

fn pairs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// The flags that make `program` ask basic auth for /state from `creds`.
fn auth_args(program: &str, creds: &str) -> Vec<String> {
    let file = if program == "mesos-master" {
        "credentials"
    } else {
        "http_credentials"
    };
    vec![
        format!("--{file}={creds}"),
        "--authenticate_http_readonly".into(),
    ]
}

#[test]
fn tls_on_an_ssl_mesos_serves_only_https_with_the_node_certificate_and_keeps_basic_auth() {
    let tree = Tree::new(true);
    let node = NodeFiles::new(&tree, "ab", NODE);
    let stranger = NodeFiles::new(&tree, "cd", NODE);
    let creds = tree.file(
        "creds.json",
        &credentials_json(&[("operator", SECRET)]),
        0o600,
    );
    // An unknown LIBPROCESS_SSL_ name is skipped, as stout's `extract`
    // keeps known flags only.
    let env = node.env_with(&[("LIBPROCESS_SSL_NO_SUCH_SETTING", "1")]);
    let client = TlsClient::new(&node.ca_pem, None);
    for (program, realm) in [
        ("mesos-master", "mesos-master-readonly"),
        ("mesos-agent", "mesos-agent-readonly"),
    ] {
        let args = auth_args(program, &creds);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let serving = tree.serve_tls(program, &pairs(&env), &args);
        let get = |name: &str, path: &str, auth: Option<&str>| {
            client
                .get(serving.addr, name, path, auth)
                .unwrap_or_else(|e| panic!("{program}: GET {path} as {name}: {e}"))
        };
        assert_refused(&get(NODE, "/state", None), realm, program);
        assert_refused(
            &get(NODE, "/state", Some(&basic("operator", OTHER))),
            realm,
            program,
        );
        let state = get(NODE, "/state", Some(&basic("operator", SECRET)));
        assert_eq!(state.status, 200, "{program}: {state:?}");
        assert!(
            state.body.contains("\"standin\":true"),
            "{program}: {state:?}"
        );
        assert_eq!(get(NODE, "/health", None).status, 200, "{program}");
        // The certificate names the node's IP too (VERIFY_IPADD peers).
        assert_eq!(get("127.0.0.1", "/health", None).status, 200, "{program}");

        // No downgrade: plain HTTP gets no HTTP answer.
        let plain = http_get_with(serving.addr, "/health", None);
        assert!(plain.is_err(), "{program} answered plain HTTP: {plain:?}");
        // The certificate is checked: another cluster's CA, or another
        // name, does not accept it.
        let foreign = TlsClient::new(&stranger.ca_pem, None)
            .get(serving.addr, NODE, "/health", None)
            .expect_err("a certificate from another CA");
        assert!(foreign.to_string().contains("certificate"), "{foreign}");
        let misnamed = client
            .get(serving.addr, "other-node.test", "/health", None)
            .expect_err("a certificate for another name");
        assert!(misnamed.to_string().contains("certificate"), "{misnamed}");
        drop(serving);

        let recorded = fs::read_to_string(tree.records().join(format!("{program}.env"))).unwrap();
        assert!(
            recorded.contains(&format!("LIBPROCESS_SSL_KEY_FILE={}\n", node.key)),
            "{recorded}"
        );
    }
    for path in walk(&tree.records()).into_iter().filter(|p| p.is_file()) {
        let text = String::from_utf8_lossy(&fs::read(&path).unwrap()).into_owned();
        assert!(
            !text.contains(node.key_line()),
            "{} holds the key",
            path.display()
        );
    }
    for program in ["mesos-master", "mesos-agent"] {
        assert!(!tree.printed(program).contains(node.key_line()));
    }
}

#[test]
fn libprocess_default_ciphers_serve_no_client_with_a_p256_certificate() {
    let tree = Tree::new(true);
    let node = NodeFiles::new(&tree, "ab", NODE);
    let ca = tree.file("trusted-ca.pem", &node.ca_pem, 0o644);
    // curl (OpenSSL) offers the RSA suites libprocess lists by default, so
    // its failure is the server's: it has no suite its key can serve.
    let curl = |addr: SocketAddr| {
        Command::new(crate::support::mirror::need("curl", "curl"))
            .args([
                "-sS",
                "--max-time",
                "10",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--cacert",
                &ca,
            ])
            .args(["--resolve", &format!("{NODE}:{}:127.0.0.1", addr.port())])
            .arg(format!("https://{NODE}:{}/health", addr.port()))
            .output()
            .unwrap()
    };
    let defaults = node.env_with(&[("LIBPROCESS_SSL_CIPHERS", "")]);
    let serving = tree.serve_tls("mesos-master", &pairs(&defaults), &[]);
    let refused = curl(serving.addr);
    assert_eq!(refused.status.code(), Some(35), "{refused:?}");
    assert!(
        text(&refused.stderr).contains("handshake failure"),
        "{refused:?}"
    );
    drop(serving);
    assert!(tree.printed("mesos-master").contains("no shared cipher"));

    let ecdsa = node.env_with(&[("LIBPROCESS_SSL_CIPHERS", ECDSA_CIPHERS)]);
    let serving = tree.serve_tls("mesos-master", &pairs(&ecdsa), &[]);
    let served = curl(serving.addr);
    assert!(served.status.success(), "{served:?}");
    assert_eq!(text(&served.stdout), "200");
}

#[test]
fn require_cert_asks_clients_for_a_certificate_from_the_cluster_ca() {
    let tree = Tree::new(true);
    let node = NodeFiles::new(&tree, "ab", NODE);
    let peer = NodeFiles::new(&tree, "ab", "peer-node.test");
    let stranger = NodeFiles::new(&tree, "cd", "peer-node.test");
    let env = node.env_with(&[("LIBPROCESS_SSL_REQUIRE_CERT", "true")]);
    let serving = tree.serve_tls("mesos-agent", &pairs(&env), &[]);
    let get = |identity: Option<(&str, &str)>| {
        TlsClient::new(&node.ca_pem, identity).get(serving.addr, NODE, "/health", None)
    };
    let anonymous = get(None);
    assert!(
        anonymous.is_err(),
        "served a client without a certificate: {anonymous:?}"
    );
    let foreign = get(Some((&stranger.cert_pem, &stranger.key_pem)));
    assert!(
        foreign.is_err(),
        "served a certificate from another CA: {foreign:?}"
    );
    let known = get(Some((&peer.cert_pem, &peer.key_pem))).unwrap();
    assert_eq!(known.status, 200, "{known:?}");
}

/// A program, its env changes and what it must print as it stops.
type StartCase<'a> = (&'a str, Vec<(&'a str, &'a str)>, String);

#[test]
fn tls_start_failures_stop_mesos_with_libprocess_messages() {
    let tree = Tree::new(true);
    let node = NodeFiles::new(&tree, "ab", NODE);
    let stranger = NodeFiles::new(&tree, "cd", NODE);
    let missing = tree.dir.path().join("no-such.pem");
    let missing = missing.to_str().unwrap();
    let enoent =
        "(OpenSSL error #2147483650): error:80000002:system library::No such file or directory";
    // Only readlink on PATH (the script's first command): no socat.
    let bare = tree.dir.path().join("bare-path");
    fs::create_dir_all(&bare).unwrap();
    std::os::unix::fs::symlink("/bin/busybox", bare.join("readlink")).unwrap();
    let exit = "openssl.cpp] EXIT with status 1: ";
    let cases: Vec<StartCase> = vec![
        (
            "mesos-master",
            vec![("LIBPROCESS_SSL_KEY_FILE", missing)],
            format!("{exit}Could not load key file '{missing}' {enoent}"),
        ),
        (
            "mesos-agent",
            vec![("LIBPROCESS_SSL_KEY_FILE", missing)],
            format!("{exit}Could not load key file '{missing}' {enoent}"),
        ),
        (
            "mesos-master",
            vec![("LIBPROCESS_SSL_CERT_FILE", missing)],
            format!("{exit}Could not load cert file '{missing}' {enoent}"),
        ),
        (
            "mesos-agent",
            vec![("LIBPROCESS_SSL_CA_FILE", missing)],
            format!("{exit}Could not load CA file and/or directory {enoent} -> FILE: {missing}"),
        ),
        (
            "mesos-master",
            vec![("LIBPROCESS_SSL_KEY_FILE", "")],
            format!("{exit}SSL requires key! NOTE: Set path with LIBPROCESS_SSL_KEY_FILE"),
        ),
        (
            "mesos-agent",
            vec![("LIBPROCESS_SSL_CERT_FILE", "")],
            format!("{exit}SSL requires certificate! NOTE: Set path with LIBPROCESS_SSL_CERT_FILE"),
        ),
        (
            "mesos-master",
            vec![("LIBPROCESS_SSL_ENABLED", "yes")],
            format!(
                "{exit}Failed to load flags from environment variables prefixed by \
                 LIBPROCESS_SSL_ or SSL_ (deprecated): Failed to load flag 'enabled': \
                 Failed to load value 'yes': Expecting a boolean (e.g., true or false)"
            ),
        ),
        // The variables load before ENABLED is looked at.
        (
            "mesos-agent",
            vec![
                ("LIBPROCESS_SSL_ENABLED", "false"),
                ("LIBPROCESS_SSL_VERIFY_IPADD", "on"),
            ],
            "Failed to load flag 'verify_ipadd': Failed to load value 'on'".into(),
        ),
        (
            "mesos-master",
            vec![("LIBPROCESS_SSL_HOSTNAME_VALIDATION_SCHEME", "strict")],
            format!("{exit}Unknown value for hostname_validation_scheme: strict"),
        ),
        // OpenSSL's own refusal, reported by socat as it starts.
        (
            "mesos-master",
            vec![("LIBPROCESS_SSL_KEY_FILE", stranger.key.as_str())],
            "key values mismatch".into(),
        ),
        (
            "mesos-agent",
            vec![("LIBPROCESS_SSL_SUPPORT_DOWNGRADE", "true")],
            "mesos-agent (stand-in): LIBPROCESS_SSL_SUPPORT_DOWNGRADE=true is not modelled by \
             the stand-in"
                .into(),
        ),
        (
            "mesos-master",
            vec![("PATH", bare.to_str().unwrap())],
            "the stand-in serves it with socat, which is not on PATH".into(),
        ),
    ];
    for (program, changes, expected) in cases {
        let env = node.env_with(&changes);
        let (code, err) = tree.refused(program, &pairs(&env), &[]);
        assert_eq!(code, 1, "{program} {changes:?}: {err}");
        assert!(err.contains(&expected), "{program} {changes:?}: {err}");
        assert!(!err.contains(node.key_line()) && !err.contains(stranger.key_line()));
    }
}

#[test]
fn a_mesos_without_ssl_and_marathon_ignore_the_tls_variables_and_serve_http() {
    let plain = Tree::new(false);
    let node = NodeFiles::new(&plain, "ab", NODE);
    let missing = plain.dir.path().join("no-such.key");
    // Even variables an SSL build would stop on: a build without SSL has
    // no reader for them.
    let env = node.env_with(&[
        ("LIBPROCESS_SSL_KEY_FILE", missing.to_str().unwrap()),
        ("LIBPROCESS_SSL_VERIFY_IPADD", "on"),
    ]);
    for program in ["mesos-master", "mesos-agent", "marathon"] {
        let serving = plain.serve(program, &pairs(&env), &[]);
        let path = if program == "marathon" {
            "/ping"
        } else {
            "/health"
        };
        assert_eq!(serving.get(path, None).status, 200, "{program}");
    }
    // Built with SSL, TLS off: plain HTTP as well; Marathon serves its own
    // HTTP whatever libprocess does.
    let ssl = Tree::new(true);
    let node = NodeFiles::new(&ssl, "ab", NODE);
    let off = node.env_with(&[("LIBPROCESS_SSL_ENABLED", "false")]);
    for program in ["mesos-master", "mesos-agent"] {
        let serving = ssl.serve(program, &pairs(&off), &[]);
        assert_eq!(serving.get("/health", None).status, 200, "{program}");
    }
    let on = node.env_with(&[]);
    let marathon = ssl.serve("marathon", &pairs(&on), &[]);
    assert_eq!(marathon.get("/ping", None).status, 200);
}
