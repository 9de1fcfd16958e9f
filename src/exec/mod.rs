//! The Docker executor: agent protocol ⇄ task state ⇄ docker runtime.

use std::ffi::OsString;
use std::process::ExitCode;

pub fn main(argv: Vec<OsString>) -> ExitCode {
    let _ = argv;
    eprintln!("mesos-docker: the executor is not built yet");
    ExitCode::from(crate::cli::EXIT_USAGE)
}
