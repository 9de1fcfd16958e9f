//! Mesos flags setup does not know: `[master.flags]` / `[agent.flags]` in
//! setup.toml and `--master-flag NAME=VALUE` / `--agent-flag NAME=VALUE`,
//! rendered as `MESOS_NAME="VALUE"` into the daemons' environment files.
//! Names are checked twice: here against what setup itself renders (a
//! collision is refused, naming the setup option that owns it), and against
//! the installed program's `--help` before the file is written
//! ([`unknown_flags`]), because a real Mesos refuses to start on a flag it
//! does not know ("Failed to load unknown flag").

use std::collections::BTreeMap;

use serde::Serialize;

use crate::setup::host::system::System;

/// One daemon's extra flags, by name (sorted, so the file is stable).
pub type Flags = BTreeMap<String, String>;

/// `[master]` / `[agent]` in setup.toml: `flags = { NAME = VALUE }`.
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileFlags {
    #[serde(default)]
    pub flags: BTreeMap<String, toml::Value>,
}

/// What the plan renders, per daemon.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExtraFlags {
    pub master: Flags,
    pub agent: Flags,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{place}: {problem}")]
pub struct FlagError {
    pub place: String,
    pub problem: String,
}

/// Which daemon a flag is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Daemon {
    Master,
    Agent,
}

impl Daemon {
    pub fn program(self) -> &'static str {
        match self {
            Daemon::Master => "mesos-master",
            Daemon::Agent => "mesos-agent",
        }
    }
    fn flag(self) -> &'static str {
        match self {
            Daemon::Master => "--master-flag",
            Daemon::Agent => "--agent-flag",
        }
    }
    fn table(self) -> &'static str {
        match self {
            Daemon::Master => "[master.flags]",
            Daemon::Agent => "[agent.flags]",
        }
    }
}

/// The flags setup writes itself, with the setup option that sets each.
/// `posix` and `tarball` add what setup writes only on such hosts.
pub fn managed(daemon: Daemon, posix: bool, tarball: bool) -> Vec<(&'static str, &'static str)> {
    let mut m = vec![
        ("work_dir", "--work-dir"),
        ("log_dir", "setup (/var/log/mesos)"),
        ("hostname", "--hostname"),
        ("ip", "--ip"),
        ("port", "setup (5050 and 5051)"),
    ];
    match daemon {
        Daemon::Master => {
            m.extend([
                ("zk", "--masters or --zk"),
                ("quorum", "--masters"),
                ("cluster", "--cluster-name"),
            ]);
            if tarball {
                m.push(("webui_dir", "the tgz: Mesos source"));
            }
        }
        Daemon::Agent => {
            m.extend([
                ("master", "--masters or --zk"),
                ("containerizers", "--containerizers"),
                (
                    "executor_registration_timeout",
                    "--executor-registration-timeout",
                ),
                ("attributes", "--attributes"),
                ("resources", "--resources"),
            ]);
            if posix {
                m.extend([
                    ("launcher", "setup (this host needs the POSIX launcher)"),
                    ("isolation", "setup (this host needs POSIX isolation)"),
                    (
                        "systemd_enable_support",
                        "setup (systemd does not own this host's cgroups)",
                    ),
                ]);
            }
            if tarball {
                m.push(("launcher_dir", "the tgz: Mesos source"));
            }
        }
    }
    m
}

/// A flag name as Mesos spells them: lower-case letters, digits and `_`.
fn name_ok(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// A value goes into a double-quoted environment-file value, read the same
/// by systemd, sh (upstart) and, unescaped, `docker run --env-file`: one
/// line, so no control characters.
fn value_ok(value: &str) -> Result<(), String> {
    match value.chars().find(|c| c.is_control()) {
        Some(c) => Err(format!(
            "holds {c:?}; a Mesos flag value in an environment file is one line (use file:///PATH for long values)"
        )),
        None => Ok(()),
    }
}

/// One daemon's flags: the file's table, then the command line's (which
/// win, name by name), checked.
pub fn merge(
    daemon: Daemon,
    cli: &[String],
    file: Option<&FileFlags>,
    file_path: &str,
    managed: &[(&str, &str)],
) -> Result<Flags, FlagError> {
    let mut out = Flags::new();
    let mut add = |place: String, name: &str, value: String| -> Result<(), FlagError> {
        let bad = |problem: String| FlagError {
            place: place.clone(),
            problem,
        };
        let name = name.strip_prefix("--").unwrap_or(name);
        let name = name
            .strip_prefix("MESOS_")
            .map_or(name.to_owned(), str::to_ascii_lowercase);
        if !name_ok(&name) {
            return Err(bad(format!(
                "{name:?} is not a Mesos flag name (lower-case letters, digits and _, as `{} --help` lists them)",
                daemon.program()
            )));
        }
        if let Some((_, owner)) = managed.iter().find(|(n, _)| *n == name) {
            return Err(bad(format!(
                "{name} is set by {owner}; setup writes MESOS_{} itself, so it cannot also be an extra flag",
                name.to_ascii_uppercase()
            )));
        }
        value_ok(&value).map_err(|p| bad(format!("the value of {name} {p}")))?;
        out.insert(name, value);
        Ok(())
    };
    if let Some(f) = file {
        for (name, value) in &f.flags {
            let place = format!("{file_path} {}", daemon.table());
            let value = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(x) => x.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => {
                    return Err(FlagError {
                        place,
                        problem: format!("{name} = {other} is not a string, number or boolean"),
                    });
                }
            };
            add(place, name, value)?;
        }
    }
    for given in cli {
        let place = format!("{} {given:?}", daemon.flag());
        let Some((name, value)) = given.split_once('=') else {
            return Err(FlagError {
                place,
                problem: "is not NAME=VALUE (e.g. --agent-flag gc_delay=2days)".into(),
            });
        };
        add(place, name, value.to_owned())?;
    }
    Ok(out)
}

/// `MESOS_NAME="VALUE"` lines, escaped as both systemd's EnvironmentFile and
/// sh read double-quoted values.
pub fn render(flags: &Flags) -> String {
    flags
        .iter()
        .map(|(name, value)| {
            let mut v = String::with_capacity(value.len());
            for c in value.chars() {
                if matches!(c, '"' | '\\' | '$' | '`') {
                    v.push('\\');
                }
                v.push(c);
            }
            format!("MESOS_{}=\"{v}\"\n", name.to_ascii_uppercase())
        })
        .collect()
}

/// A check of extra flags against the program that will read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagCheck {
    pub daemon: Daemon,
    /// The environment file they go into: checked before it is written.
    pub env_file: String,
    /// What prints the program's flags (`PROGRAM --help`, or through
    /// `docker run` for an image).
    pub argv: Vec<String>,
    /// The program that must exist before it can be asked.
    pub program: String,
    pub names: Vec<String>,
}

/// The flag names a Mesos `--help` lists: `--name=VALUE` and
/// `--[no-]name` at the start of a line.
pub fn listed(help: &str) -> Vec<String> {
    help.lines()
        .filter_map(|l| l.trim_start().strip_prefix("--"))
        .map(|rest| {
            let rest = rest.strip_prefix("[no-]").unwrap_or(rest);
            rest.split(|c: char| c == '=' || c.is_whitespace())
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .filter(|n| !n.is_empty())
        .collect()
}

/// Why the extra flags could not be passed as they are.
#[derive(Debug, thiserror::Error)]
pub enum FlagCheckError {
    #[error("cannot run {line} to check the extra flags")]
    Run {
        line: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{line} listed no flags ({said}), so the extra {program} flags cannot be checked")]
    NoList {
        line: String,
        said: String,
        program: &'static str,
    },
    /// The program does not know them: a refusal with its fix.
    #[error("{0}")]
    Unknown(String),
    #[error(
        "{path} is not there to check the extra {program} flags against: install Mesos (--mesos-source) or drop the flags"
    )]
    NoProgram { path: String, program: &'static str },
}

/// Asks the program for its flags and returns those of `check` it does
/// not list (empty: it has them all). `Ok(None)` when the program is not
/// there yet.
pub fn missing_flags(
    sys: &System,
    check: &FlagCheck,
) -> Result<Option<Vec<String>>, FlagCheckError> {
    if !sys.exists(&check.program) {
        return Ok(None);
    }
    let (program, args) = check.argv.split_first().expect("a command");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let line = check.argv.join(" ");
    let out = sys
        .run(program, &args)
        .map_err(|source| FlagCheckError::Run {
            line: line.clone(),
            source,
        })?;
    let known = listed(&out.stdout);
    if known.is_empty() {
        return Err(FlagCheckError::NoList {
            line,
            said: if out.stderr.trim().is_empty() {
                "no output".to_owned()
            } else {
                out.stderr.trim().to_owned()
            },
            program: check.daemon.program(),
        });
    }
    Ok(Some(
        check
            .names
            .iter()
            .filter(|n| !known.contains(n))
            .cloned()
            .collect(),
    ))
}

/// Asks the program for its flags and names those of `check` it lacks.
/// `Ok(None)` when the program is not there yet (checked again once it is).
pub fn unknown_flags(sys: &System, check: &FlagCheck) -> Result<Option<()>, FlagCheckError> {
    let Some(unknown) = missing_flags(sys, check)? else {
        return Ok(None);
    };
    if unknown.is_empty() {
        return Ok(Some(()));
    }
    let line = check.argv.join(" ");
    Err(FlagCheckError::Unknown(format!(
        "{} does not know the flag{} {} (`{line}` does not list {}); it would refuse to start. Remove {} from {} and {} in setup.toml",
        check.daemon.program(),
        if unknown.len() == 1 { "" } else { "s" },
        unknown.join(", "),
        if unknown.len() == 1 { "it" } else { "them" },
        if unknown.len() == 1 { "it" } else { "them" },
        check.daemon.flag(),
        check.daemon.table(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> FileFlags {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn command_line_wins_and_values_are_quoted() {
        let f = file("[flags]\ngc_delay = \"1weeks\"\nmax_completion_time = 5\nstrict = false\n");
        let m = managed(Daemon::Agent, false, false);
        let flags = merge(
            Daemon::Agent,
            &[
                "gc_delay=2days".into(),
                "--default_role=web".into(),
                "MESOS_DOCKER_CONFIG={\"auths\": {}} $HOME `x` \\".into(),
            ],
            Some(&f),
            "/etc/mesos-docker/setup.toml",
            &m,
        )
        .unwrap();
        assert_eq!(
            render(&flags),
            "MESOS_DEFAULT_ROLE=\"web\"\n\
             MESOS_DOCKER_CONFIG=\"{\\\"auths\\\": {}} \\$HOME \\`x\\` \\\\\"\n\
             MESOS_GC_DELAY=\"2days\"\n\
             MESOS_MAX_COMPLETION_TIME=\"5\"\n\
             MESOS_STRICT=\"false\"\n"
        );
    }

    #[test]
    fn bad_and_managed_names_are_refused() {
        let m = managed(Daemon::Agent, true, true);
        let cases = [
            ("attributes=rack:1", "attributes is set by --attributes"),
            (
                "isolation=cgroups/all",
                "isolation is set by setup (this host needs POSIX isolation)",
            ),
            (
                "launcher_dir=/x",
                "launcher_dir is set by the tgz: Mesos source",
            ),
            ("Gc-Delay=1", "is not a Mesos flag name"),
            ("gc_delay", "is not NAME=VALUE"),
            ("gc_delay=a\nb", "holds '\\n'"),
        ];
        for (given, want) in cases {
            let err = merge(Daemon::Agent, &[given.into()], None, "f", &m)
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{given}: {err}");
            assert!(err.starts_with("--agent-flag "), "{err}");
        }
        // Only where setup writes them.
        let bare = managed(Daemon::Agent, false, false);
        assert!(
            merge(
                Daemon::Agent,
                &["isolation=cgroups/cpu".into()],
                None,
                "f",
                &bare
            )
            .is_ok()
        );
        let err = merge(
            Daemon::Master,
            &[],
            Some(&file("[flags]\nquorum = 1\n")),
            "/etc/mesos-docker/setup.toml",
            &managed(Daemon::Master, false, false),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with(
                "/etc/mesos-docker/setup.toml [master.flags]: quorum is set by --masters"
            ),
            "{err}"
        );
    }

    #[test]
    fn help_lists_flags() {
        let help = "Usage: mesos-agent [options]\n\n  --acls=VALUE  The value could be\n  \
                    --[no-]authenticate_http_executors  If true\n  --help  Prints this help\n\
                    --work_dir=VALUE\n      --not a flag line? yes it is\n";
        assert_eq!(
            listed(help),
            [
                "acls",
                "authenticate_http_executors",
                "help",
                "work_dir",
                "not"
            ]
        );
    }
}
