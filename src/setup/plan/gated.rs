//! Files a plan holds that go in only where the installed program has the
//! flags they set (executor authentication, TLS): decided by the apply
//! walk once the program is installed.

use crate::setup::input::flags::FlagCheck;

/// Files written only where the program that reads them lists every flag of
/// `check` in its `--help`; removed (with the reason recorded under
/// `feature` in the manifest) where it does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gated {
    pub feature: &'static str,
    pub check: FlagCheck,
    pub paths: Vec<String>,
    /// What the missing flags mean, for the record and `status`.
    pub off_because: &'static str,
    /// Why the feature cannot be had on this run although the program
    /// lists the flags: the run stops there, with this as the error.
    pub blocked: Option<String>,
}
