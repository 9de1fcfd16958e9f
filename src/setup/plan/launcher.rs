//! Whether Marathon's launcher puts its environment on the command line.
//!
//! A secure master hands Marathon its ZooKeeper URL, password included, as
//! `MARATHON_ZK` in a root-only environment file. The Debian-package
//! launcher (mesosphere/marathon, project/NativePackagerSettings/
//! extra-defines.bash) turns every `MARATHON_X=v` into `--x v` on the java
//! command line, where every local user reads it in `ps`. Setup reads the
//! launcher the unit runs before it writes that file and refuses one that
//! converts; this module is the pure half: which launcher, and the test of
//! its text.

/// The launcher a Marathon unit runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launcher {
    /// A program on the host (a package's or a tree's).
    Script(String),
    /// A Docker image: its entrypoint, read from the image.
    Image(String),
}

/// The line of a launcher that converts the environment to arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversion {
    /// 1-based, counting physical lines.
    pub line: usize,
    pub text: String,
}

/// What lists the whole environment, in shell.
const ENV_LISTERS: [&str; 6] = [
    "env |",
    "env|",
    "printenv |",
    "printenv|",
    "compgen -e",
    "export -p",
];

/// The first statement of `script` that turns `MARATHON_*` variables into
/// arguments: a match anchored on the prefix (`grep ^MARATHON_`, also
/// quoted or in awk), the whole environment filtered for it (`env | …
/// MARATHON_`), or bash's prefix expansion `${!MARATHON_*}`. Comments do
/// not count; a statement continued with `\` is one. Reading one variable
/// (`$MARATHON_OPTS`) is not a conversion.
pub fn env_to_argv(script: &str) -> Option<Conversion> {
    let mut start = 0;
    let mut joined = String::new();
    for (i, raw) in script.lines().enumerate() {
        if joined.is_empty() {
            start = i + 1;
        }
        let code = raw.trim_start();
        if code.starts_with('#') {
            continue;
        }
        match code.strip_suffix('\\') {
            Some(head) => {
                joined.push_str(head);
                joined.push(' ');
                continue;
            }
            None => joined.push_str(code),
        }
        let statement = std::mem::take(&mut joined);
        if converts(&statement) {
            return Some(Conversion {
                line: start,
                text: statement.trim().to_owned(),
            });
        }
    }
    None
}

fn converts(statement: &str) -> bool {
    let unquoted: String = statement
        .chars()
        .filter(|c| !matches!(c, '\'' | '"'))
        .collect();
    if !unquoted.contains("MARATHON_") {
        return false;
    }
    let anchored = unquoted.match_indices("^MARATHON_").any(|(at, _)| {
        // `grep -v ^MARATHON_APP` alone drops variables; the loop is the
        // positive match.
        !unquoted[..at].trim_end().ends_with("-v")
    });
    anchored
        || unquoted.contains("${!MARATHON_")
        || ENV_LISTERS.iter().any(|l| unquoted.contains(l))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Launchers as they ship, or as an operator may write them.
    #[test]
    fn launchers_that_convert_and_launchers_that_do_not() {
        let cases: [(&str, &str, Option<usize>); 12] = [
            (
                "Marathon's native package (extra-defines.bash)",
                "#!/bin/bash\n# Add MARATHON_* env vars as arguments\nfor env_op in `env | grep -v ^MARATHON_APP | grep ^MARATHON_ | awk '{gsub(/MARATHON_/,\"\"); gsub(/=/,\" \"); printf(\"%s%s \", \"--\", tolower($1)); for(i=2;i<=NF;i++){printf(\"%s \", $i)}}'`; do\n  addApp \"$env_op\"\ndone\n",
                Some(3),
            ),
            (
                "a wrapper with the loop continued over lines",
                "#!/bin/bash\nfor env_op in $(env \\\n    | grep -v '^MARATHON_APP' \\\n    | grep '^MARATHON_' | awk '{print}'); do\n  app_args+=(\"--${env_op}\")\ndone\nexec java \"${java_args[@]}\" -jar \"$marathon_jar\" \"${app_args[@]}\"\n",
                Some(2),
            ),
            (
                "grep with a quoted anchor",
                "#!/bin/sh\nARGS=$(env | grep \"^MARATHON_\" | sed 's/MARATHON_//')\nexec java -jar marathon.jar $ARGS\n",
                Some(2),
            ),
            (
                "awk matching the prefix",
                "#!/bin/sh\nexec java -jar m.jar $(awk 'BEGIN{for (k in ENVIRON) if (k ~ /^MARATHON_/) printf \"--%s %s \", tolower(substr(k,10)), ENVIRON[k]}')\n",
                Some(2),
            ),
            (
                "bash's prefix expansion",
                "#!/bin/bash\nfor v in ${!MARATHON_*}; do args+=(\"--${v#MARATHON_}\" \"${!v}\"); done\n",
                Some(2),
            ),
            (
                "printenv filtered",
                "#!/bin/sh\nfor kv in $(printenv | grep MARATHON_); do set -- \"$@\" \"--$kv\"; done\n",
                Some(2),
            ),
            (
                "compgen over the environment",
                "#!/bin/bash\nfor v in $(compgen -e | grep MARATHON_); do :; done\n",
                Some(2),
            ),
            (
                "a launcher that leaves the environment to Marathon",
                "#!/bin/bash\n# Marathon reads MARATHON_* itself (Main.envToArgs)\nexec java $JAVA_OPTS -jar /usr/share/marathon/marathon.jar \"$@\"\n",
                None,
            ),
            (
                "one variable read by name",
                "#!/bin/sh\nexec java $MARATHON_JAVA_OPTS -jar m.jar --master \"$MARATHON_MASTER\"\n",
                None,
            ),
            (
                "only the exclusion of MARATHON_APP",
                "#!/bin/sh\nenv_apps=$(grep -v ^MARATHON_APP /etc/marathon/list)\nexec java -jar m.jar\n",
                None,
            ),
            (
                "the loop commented out",
                "#!/bin/bash\n# for env_op in `env | grep ^MARATHON_`; do addApp \"$env_op\"; done\nexec java -jar m.jar\n",
                None,
            ),
            (
                "the stand-ins' reading of ENVIRON by flag name",
                "#!/bin/sh\nawk 'BEGIN { k = \"MARATHON_\" toupper(f); print ENVIRON[k] }'\n",
                None,
            ),
        ];
        for (case, script, line) in cases {
            let found = env_to_argv(script);
            assert_eq!(found.as_ref().map(|c| c.line), line, "{case}: {found:?}");
            if let Some(c) = found {
                assert!(c.text.contains("MARATHON_"), "{case}: {}", c.text);
            }
        }
    }
}
