//! mesos-docker: provisions Mesos nodes (`setup`) and is the Docker executor
//! their tasks run under (`exec`). The binary in src/main.rs is a thin shell
//! around this library so that integration tests drive the same code.

pub mod cli;
pub mod exec;
pub mod proto;
pub mod reap;
pub mod setup;
