//! The executor's integration tests in one binary: one link of the crate,
//! its dependencies and tests/support instead of one per file. Each module
//! was a test binary of its own (tests/exec_<module>.rs, tests/test_*.rs);
//! its tests are named `<module>::<test>`, e.g.
//! `cargo test --test exec e2e::`. exec_operator stays a binary of its own:
//! its `reap` removes every container whose executor is gone, which must not
//! race the other modules' tests.

#[path = "../support/mod.rs"]
mod support;

mod docker_faults;
mod e2e;
mod health;
mod limits;
mod network;
mod policy;
mod test_agent;
mod test_fixtures;
mod test_images;
