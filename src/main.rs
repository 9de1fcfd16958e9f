use std::process::ExitCode;

fn main() -> ExitCode {
    mesos_docker::cli::main(std::env::args_os().collect())
}
