//! `mesos-docker setup`, `status` and `uninstall`: the node's desired state.
//!
//! The folders are the stages, and data flows one way through them:
//! - [`host`]: the one seam to the machine ([`host::system::System`]: a root
//!   directory and a command runner), the facts read through it, probes and
//!   atomic file operations;
//! - [`input`]: flags, setup.toml and the environment, checked and resolved
//!   into [`input::options::Options`];
//! - [`sources`]: where each component comes from, resolved purely from the
//!   options and the host's release;
//! - [`plan`]: the pure desired state, a list of [`plan::resource::Resource`]s;
//! - [`apply`]: each resource kind's check, change, description and undo, and
//!   the order they run in; [`apt`] and [`record`] (the manifest every change
//!   is written to, which `uninstall` undoes) sit below it.
//!
//! [`run`] drives those stages for `setup`; [`preflight`] stands between the
//! plan and any change, [`services`] starts the role's units and awaits their
//! health, and [`report`] tells the operator. [`status`] and [`uninstall`]
//! read the record; [`credentials`] prints the node's secrets to root.

pub mod apply;
pub mod apt;
pub mod credentials;
pub mod host;
pub mod input;
pub mod plan;
pub mod preflight;
pub mod record;
pub mod report;
pub mod run;
pub mod services;
pub mod sources;
pub mod status;
pub mod uninstall;
