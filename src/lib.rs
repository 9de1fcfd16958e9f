//! mesos-docker: provisions Mesos nodes (`setup`) and is the Docker executor
//! their tasks run under (`exec`). The binary in src/main.rs is a thin shell
//! around this library so that integration tests drive the same code.

pub mod cli;
pub mod exec;
pub mod proto;
pub mod reap;
pub mod setup;

/// Version line (kept at the root: the executor, setup and the CLI all
/// print it, and none of them should import another for it): the crate version and the commit it was built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("MESOS_DOCKER_COMMIT"),
    ")"
);

/// An error and its causes on one line, `outer: inner: …`: some libraries
/// (reqwest) keep the cause out of their own message, and an operator
/// needs it ("builder error" alone says nothing).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Chooses rustls' crypto provider (ring) for the process, once. reqwest is
/// built without a default provider, and every client (plain HTTP to the
/// agent included) needs one chosen before it is built.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
