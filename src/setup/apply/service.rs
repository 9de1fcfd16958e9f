//! Services: a unit's enablement, checked with one `systemctl
//! list-unit-files` per run, changed with `systemctl enable|disable` (the
//! `*.wants` directories that creates are recorded too), and put back by
//! uninstall.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs;

use crate::setup::apply::change::{Change, Check, ResourceError, blank, err, run_err, save};
use crate::setup::host::system::System;
use crate::setup::record::{Entry, Kind, Manifest};
use crate::setup::report::{Line, Reporter, Status};

/// Whether a unit is enabled as the plan wants (`enabled`), or what to change.
pub fn check(
    sys: &System,
    units: &UnitStates,
    name: &str,
    enabled: bool,
) -> Result<Check, ResourceError> {
    let now = match units.get(sys, name) {
        Err(e) if !sys.is_live() => {
            return Ok(Check::Skipped(format!(
                "cannot enable units in {} offline ({})",
                sys.root().display(),
                crate::error_chain(&e)
            )));
        }
        other => other?,
    };
    Ok(match (now, enabled) {
        (UnitState::Missing, true) if units.planned(name) => Check::Change {
            change: Change::Enable,
            diff: None,
        },
        (UnitState::Missing, true) => Check::Skipped(format!(
            "{name} is not installed; install its package, then run setup again"
        )),
        (UnitState::Missing, false) | (UnitState::Enabled, true) | (UnitState::Disabled, false) => {
            Check::Ok
        }
        (UnitState::Disabled, true) => Check::Change {
            change: Change::Enable,
            diff: None,
        },
        (UnitState::Enabled, false) => Check::Change {
            change: Change::Disable,
            diff: None,
        },
    })
}

/// Enables or disables the unit, recording its earlier state first.
pub fn apply(
    sys: &System,
    name: &str,
    change: &Change,
    manifest: &mut Manifest,
) -> Result<Option<String>, ResourceError> {
    let enable = *change == Change::Enable;
    manifest.record_service(name, !enable);
    save(sys, manifest)?;
    // Enabling may create a *.wants directory; it is ours to remove.
    let before = unit_dirs(sys);
    set_enabled(sys, name, enable)?;
    let new: Vec<String> = unit_dirs(sys)
        .into_iter()
        .filter(|d| !before.contains(d))
        .collect();
    if !new.is_empty() {
        for d in new {
            manifest.record(Entry {
                created: true,
                ..blank(&d, Kind::Dir)
            });
        }
        save(sys, manifest)?;
    }
    Ok(None)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitState {
    Enabled,
    Disabled,
    /// No such unit file: its package is not installed.
    Missing,
}

/// The unit file states of a plan's services, asked of systemctl once per run
/// (one `list-unit-files` instead of a process per unit keeps a no-op run fast).
pub struct UnitStates {
    names: Vec<String>,
    /// Units whose files the plan writes: missing only on a dry run.
    planned: Vec<String>,
    /// Unit name → the state word list-unit-files gave.
    states: RefCell<Option<HashMap<String, String>>>,
}

impl UnitStates {
    pub fn new(names: Vec<String>, planned: Vec<String>) -> Self {
        UnitStates {
            names,
            planned,
            states: RefCell::new(None),
        }
    }

    pub(crate) fn planned(&self, name: &str) -> bool {
        self.planned.iter().any(|p| p == name)
    }

    pub fn get(&self, sys: &System, name: &str) -> Result<UnitState, ResourceError> {
        if self.states.borrow().is_none() {
            let states = list_unit_files(sys, &self.names)?;
            *self.states.borrow_mut() = Some(states);
        }
        let listed = self
            .states
            .borrow()
            .as_ref()
            .and_then(|m| m.get(name).cloned());
        // A SysV init script (Debian's zookeeperd ships only one) is listed
        // as "generated" on a live root and not at all on an offline one;
        // only is-enabled asks systemd-sysv-install about it.
        let sysv = name
            .strip_suffix(".service")
            .is_some_and(|base| sys.exists(&format!("/etc/init.d/{base}")));
        match listed.as_deref() {
            Some("generated") => unit_state(sys, name),
            None if sysv => unit_state(sys, name),
            Some(word) => Ok(state_word(word)),
            None => Ok(UnitState::Missing),
        }
    }
}

fn state_word(word: &str) -> UnitState {
    match word {
        "enabled" | "enabled-runtime" | "alias" | "static" | "indirect" => UnitState::Enabled,
        "not-found" => UnitState::Missing,
        _ => UnitState::Disabled,
    }
}

/// `systemctl list-unit-files NAME...`: a line per unit that exists; none
/// (and exit status 1, nothing on stderr) when no unit matches.
fn list_unit_files(
    sys: &System,
    names: &[String],
) -> Result<HashMap<String, String>, ResourceError> {
    let mut args = vec!["list-unit-files", "--no-legend", "--no-pager"];
    args.extend(names.iter().map(String::as_str));
    let out = sys
        .systemctl(&args)
        .map_err(|cause| not_systemd("systemctl list-unit-files", cause))?;
    if !out.success && !out.stderr.trim().is_empty() {
        return Err(err(format!(
            "systemctl list-unit-files failed: {}",
            out.stderr.trim()
        )));
    }
    Ok(out
        .stdout
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_owned(), w.next()?.to_owned()))
        })
        .collect())
}

fn not_systemd(command: &str, cause: std::io::Error) -> ResourceError {
    ResourceError::Advised {
        action: format!("cannot run {command}"),
        cause,
        fix: "is this a systemd host? (pass --init upstart if not)",
    }
}

/// `systemctl is-enabled`, which says "not-found" (or, before systemd 250,
/// fails with "No such file") for a unit that does not exist.
pub fn unit_state(sys: &System, name: &str) -> Result<UnitState, ResourceError> {
    let out = sys
        .systemctl(&["is-enabled", name])
        .map_err(|cause| not_systemd(&format!("systemctl is-enabled {name}"), cause))?;
    let state = out.stdout.trim();
    if state.is_empty() && (out.stderr.contains("No such file") || out.stderr.contains("not found"))
    {
        return Ok(UnitState::Missing);
    }
    Ok(state_word(state))
}

const UNIT_DIR: &str = "/etc/systemd/system";

/// The directories in /etc/systemd/system (host paths).
fn unit_dirs(sys: &System) -> Vec<String> {
    fs::read_dir(sys.path(UNIT_DIR))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| format!("{UNIT_DIR}/{}", e.file_name().to_string_lossy()))
                .collect()
        })
        .unwrap_or_default()
}

pub fn set_enabled(sys: &System, name: &str, enable: bool) -> Result<(), ResourceError> {
    systemctl(sys, if enable { "enable" } else { "disable" }, name)
}

/// Whether systemd runs the unit now (an error counts as not running).
pub fn is_active(sys: &System, name: &str) -> bool {
    sys.systemctl(&["is-active", name])
        .is_ok_and(|o| o.stdout.trim() == "active")
}

/// Stops a unit now (enablement is left as it is).
pub fn stop(sys: &System, name: &str) -> Result<(), ResourceError> {
    systemctl(sys, "stop", name)
}

fn systemctl(sys: &System, verb: &str, name: &str) -> Result<(), ResourceError> {
    let out = sys
        .systemctl(&[verb, name])
        .map_err(|e| run_err(format!("systemctl {verb} {name}"), e))?;
    if out.success {
        Ok(())
    } else {
        Err(err(format!(
            "systemctl {verb} {name} failed: {}",
            out.stderr.trim()
        )))
    }
}

/// Services back to their enablement before setup, newest first.
pub fn undo(
    sys: &System,
    m: &mut Manifest,
    dry_run: bool,
    rep: &mut Reporter,
) -> Result<(), ResourceError> {
    for s in m.services.clone().iter().rev() {
        let line = |status, detail: String| Line {
            status,
            kind: "service".into(),
            id: s.name.clone(),
            detail: Some(detail),
            diff: None,
        };
        let result = unit_state(sys, &s.name).and_then(|state| {
            let now = state == UnitState::Enabled;
            if now == s.was_enabled {
                Ok(false)
            } else if dry_run {
                Ok(true)
            } else {
                set_enabled(sys, &s.name, s.was_enabled)?;
                // A unit setup enabled was started by setup too: disabled
                // alone it would run on until the next boot, holding its
                // ports and the images it runs.
                if !s.was_enabled && sys.is_live() && is_active(sys, &s.name) {
                    stop(sys, &s.name)?;
                }
                Ok(true)
            }
        });
        let state = if s.was_enabled { "enabled" } else { "disabled" };
        match result {
            Ok(true) => rep.line(line(Status::Changed, format!("{state} again"))),
            Ok(false) => rep.line(line(Status::Ok, format!("already {state}"))),
            Err(e) => {
                rep.line(line(Status::Failed, crate::error_chain(&e)));
                return Err(e);
            }
        }
        if !dry_run {
            m.services.retain(|x| x.name != s.name);
            m.save(sys)?;
        }
    }
    Ok(())
}
