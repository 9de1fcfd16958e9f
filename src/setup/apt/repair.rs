//! A dpkg run that was killed (setup killed half-way with its apt, a power
//! cut) leaves unfinished work in dpkg's journal, and apt then refuses every
//! install until `dpkg --configure -a` has finished it. Setup finishes it
//! itself before installing, and says so; packages left half-installed are
//! then reinstalled by the apt-get install that follows.

use crate::setup::host::system::System;

/// dpkg's journal of changes not yet folded into its status file.
const JOURNAL: &str = "/var/lib/dpkg/updates";

/// Whether dpkg stopped in the middle of its work: apt's own test, an entry
/// of the journal named only by digits.
pub fn interrupted(sys: &System) -> bool {
    std::fs::read_dir(sys.path(JOURNAL)).is_ok_and(|entries| {
        entries.filter_map(Result::ok).any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit())
        })
    })
}

/// dpkg was interrupted and could not be made to finish.
#[derive(Debug, thiserror::Error)]
pub enum RepairError {
    #[error("cannot run dpkg --configure -a")]
    Run(#[source] std::io::Error),
    #[error(
        "dpkg had been interrupted, and finishing its work (dpkg --configure -a) failed: {0}; repair the package database by hand (dpkg --audit lists what is broken), then run setup again"
    )]
    Failed(String),
}

/// Finishes an interrupted dpkg run, telling `notify` that it did. The dpkg
/// lock must be free (the caller has waited for it).
pub fn finish_interrupted(sys: &System, notify: &mut dyn FnMut(String)) -> Result<(), RepairError> {
    if !interrupted(sys) {
        return Ok(());
    }
    let out = sys
        .run(
            "env",
            &[
                "DEBIAN_FRONTEND=noninteractive",
                "dpkg",
                "--force-confdef",
                "--force-confold",
                "--configure",
                "-a",
            ],
        )
        .map_err(RepairError::Run)?;
    if !out.success {
        let lines: Vec<&str> = out.stderr.trim().lines().collect();
        return Err(RepairError::Failed(
            lines[lines.len().saturating_sub(5)..].join(" / "),
        ));
    }
    notify(
        "dpkg had been interrupted (a package manager killed half-way): finished its work with dpkg --configure -a"
            .into(),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::host::system::Output;
    use crate::setup::host::testkit::RecordingRunner;

    const CONFIGURE: &str =
        "env DEBIAN_FRONTEND=noninteractive dpkg --force-confdef --force-confold --configure -a";

    fn root_with(journal: &[&str]) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("var/lib/dpkg/updates");
        std::fs::create_dir_all(&dir).unwrap();
        for name in journal {
            std::fs::write(dir.join(name), "Package: openssl\n").unwrap();
        }
        root
    }

    #[test]
    fn only_numbered_journal_entries_mean_interrupted() {
        for (journal, expected) in [
            (&[][..], false),
            (&["tmp.i"][..], false),
            (&["0000"][..], true),
            (&["tmp.i", "0003"][..], true),
        ] {
            let root = root_with(journal);
            let sys = System::new(root.path(), Box::new(RecordingRunner::new()));
            assert_eq!(interrupted(&sys), expected, "{journal:?}");
        }
        let sys = System::new("/nonexistent", Box::new(RecordingRunner::new()));
        assert!(!interrupted(&sys));
    }

    #[test]
    fn an_interrupted_run_is_finished_and_reported_once() {
        // The runner answers only the exact repair command; anything else
        // would be an error.
        let runner = RecordingRunner::new();
        runner.answer(CONFIGURE, Output::ok(""));
        let root = root_with(&["0000"]);
        let sys = System::new(root.path(), Box::new(runner));
        let mut notes = Vec::new();
        finish_interrupted(&sys, &mut |m| notes.push(m)).unwrap();
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("dpkg --configure -a"), "{notes:?}");

        // Nothing to finish: nothing run, nothing said.
        let clean = root_with(&["tmp.i"]);
        let sys = System::new(clean.path(), Box::new(RecordingRunner::new()));
        finish_interrupted(&sys, &mut |m| notes.push(m)).unwrap();
        assert_eq!(notes.len(), 1);
    }

    #[test]
    fn a_failed_repair_stops_with_what_to_do() {
        let root = root_with(&["0000"]);
        let runner = RecordingRunner::new();
        runner.answer(
            CONFIGURE,
            Output::failed("dpkg: error processing package openssl (--configure)"),
        );
        let sys = System::new(root.path(), Box::new(runner));
        let e = finish_interrupted(&sys, &mut |_| {}).unwrap_err();
        assert!(
            e.to_string().contains("error processing package openssl"),
            "{e}"
        );
        assert!(e.to_string().contains("dpkg --audit"), "{e}");
    }
}
