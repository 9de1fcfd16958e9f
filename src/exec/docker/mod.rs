//! The Docker Engine API, through bollard on the daemon's unix socket (or
//! DOCKER_HOST). Each call is bounded in time, so a hung daemon becomes an
//! error the task can report rather than an executor that never answers.
//!
//! [`runtime`] holds the calls and their errors; [`exec`] runs commands in a
//! running container (health checks); [`body`] builds the create request;
//! [`credentials`] finds registry credentials; [`pidfd`] signals processes
//! without racing pid reuse.

mod body;
pub mod credentials;
mod exec;
pub mod pidfd;
mod runtime;

pub use body::create_body;
pub use exec::ExecEnd;
pub use runtime::*;
