//! What the operator asked for: flags, /etc/mesos-docker/setup.toml, the
//! environment (proxies) and answers to prompts, checked and resolved into
//! [`options::Options`] before anything else looks at the host.

pub mod flags;
pub mod join;
pub mod model;
pub mod node_policy;
pub mod options;
pub mod proxy;
pub mod security;
pub mod token;
