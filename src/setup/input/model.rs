//! The plain values the operator's choices are made of, shared by every
//! stage after input (sources, plan, record, reports). It imports no stage,
//! so any of them can name a role without depending on how options are read.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// ZooKeeper, Mesos master and Marathon.
    Master,
    /// Mesos agent, running tasks in Docker (alias: slave, its name before Mesos 1.0).
    #[value(alias = "slave")]
    #[serde(alias = "slave")]
    Agent,
    /// Master and agent on one host.
    Standalone,
}

impl Role {
    pub fn is_master(self) -> bool {
        matches!(self, Role::Master | Role::Standalone)
    }
    pub fn is_agent(self) -> bool {
        matches!(self, Role::Agent | Role::Standalone)
    }
    pub fn name(self) -> &'static str {
        match self {
            Role::Master => "master",
            Role::Agent => "agent",
            Role::Standalone => "standalone",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
}

/// A local ZooKeeper ensemble on the masters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ensemble {
    pub servers: Vec<String>,
    /// This host's server id (1-based place in --masters).
    pub myid: usize,
}
