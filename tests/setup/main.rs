//! setup's integration tests in one binary: one link of the crate, its
//! dependencies and tests/support instead of one per file. Each module was
//! a test binary of its own; its tests are named `<module>::<test>`:
//! - `roots` (was tests/setup.rs): setup, status and uninstall against
//!   temporary roots, with the renders snapshotted in tests/snapshots;
//! - `fetch`: downloads against a real local mirror;
//! - `tokens`: the cluster token through `--root` runs;
//! - `standins`: the Mesos/Marathon stand-ins run directly, held to what the
//!   real ones do with the secure flags (one ZooKeeper test `--ignored`);
//! - `install_sh`: install.sh end to end (slow ones `--ignored`);
//! - `znodes`: ZooKeeper ACLs against a real zookeeperd (`--ignored`);
//! - `systemd`, `ensemble`, `faults` (were tests/setup_*.rs): on Debian 12
//!   containers booted with systemd, all `--ignored`. scripts/test runs each
//!   set on its own, e.g.
//!   `cargo test --test setup -- --ignored --test-threads=1 systemd::`.

#[path = "../support/mod.rs"]
mod support;

mod ensemble;
mod faults;
mod fetch;
mod install_sh;
mod roots;
mod standins;
mod systemd;
mod tokens;
mod znodes;
