//! mesos-docker: provisions Mesos nodes (`setup`) and is the Docker executor
//! their tasks run under (`exec`). The binary in src/main.rs is a thin shell
//! around this library so that integration tests drive the same code.

pub mod cli;
pub mod exec;
pub mod proto;
pub mod reap;
pub mod setup;

/// Chooses rustls' crypto provider (ring) for the process, once. reqwest is
/// built without a default provider, and every client (plain HTTP to the
/// agent included) needs one chosen before it is built.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
