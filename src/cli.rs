//! The command line: clap definitions and dispatch. Every failure leaves here
//! as one clear message and an exit code; nothing below prints usage.

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// Exit code for usage errors.
pub const EXIT_USAGE: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "mesos-docker",
    version = crate::VERSION,
    about = "Turn a Debian/Ubuntu host into a Mesos node that runs Docker containers",
    long_about = "mesos-docker provisions Apache Mesos nodes (ZooKeeper, Mesos master/agent, \
Marathon, Docker) and is the Docker executor their tasks run under.\n\n\
Installed as /var/lib/mesos/executors/docker (a link to this binary) it acts as the \
executor whatever arguments it gets: the first is the image, the rest the container's command."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Install and configure this node as a Mesos master, agent or both.
    Setup(Box<crate::setup::input::options::SetupArgs>),
    /// Run as the Docker executor (what the Mesos agent starts): IMAGE [ARG...].
    #[command(trailing_var_arg = true)]
    Exec {
        /// The image, then the container's command and its arguments, taken verbatim.
        #[arg(required = true, allow_hyphen_values = true, num_args = 1..)]
        argv: Vec<OsString>,
    },
    /// Show what is installed, running and healthy on this node.
    Status(crate::setup::status::StatusArgs),
    /// Print this node's API credentials for curl and the Marathon CLI (root only).
    Credentials(crate::setup::credentials::CredentialsArgs),
    /// Undo what setup did, from its own record.
    Uninstall(crate::setup::uninstall::UninstallArgs),
    /// Remove containers whose executor is gone.
    Reap(crate::reap::ReapArgs),
    /// Print shell completions.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to standard output.
    #[command(name = "man")]
    Man,
}

/// Whether argv[0] means "be the executor": any name other than our own, such
/// as /var/lib/mesos/executors/docker, a link to this binary.
pub fn invoked_as_executor(argv0: &OsString) -> bool {
    let name = std::path::Path::new(argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    !(name.starts_with("mesos-docker") || name.is_empty())
}

/// Entry point for everything; `args` is the whole argv.
pub fn main(args: Vec<OsString>) -> ExitCode {
    if let Some(argv0) = args.first()
        && invoked_as_executor(argv0)
    {
        return crate::exec::main(args[1..].to_vec());
    }
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    match cli.command {
        Command::Exec { argv } => crate::exec::main(argv),
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "mesos-docker", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Command::Man => {
            let mut out = std::io::stdout().lock();
            match clap_mangen::Man::new(Cli::command()).render(&mut out) {
                Ok(()) => ExitCode::SUCCESS,
                // `mesos-docker man | head` is not an error.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => {
                    let _ = writeln!(std::io::stderr(), "mesos-docker: writing the man page: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Setup(args) => crate::setup::run::main(*args),
        Command::Status(args) => crate::setup::status::main(args),
        Command::Credentials(args) => crate::setup::credentials::main(args),
        Command::Uninstall(args) => crate::setup::uninstall::main(args),
        Command::Reap(args) => crate::reap::main(args),
    }
}
