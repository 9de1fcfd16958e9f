//! What the kinds that install need beyond the host, passed down the walk.

/// What changes beyond files need: apt, the run's downloads, and where pins
/// are written (setup.toml, for trust on first use).
pub struct Tools<'a> {
    pub apt: &'a crate::setup::apt::packages::Apt,
    pub dl: &'a crate::setup::apply::downloads::Downloads,
    pub pins: &'a Option<std::path::PathBuf>,
}
