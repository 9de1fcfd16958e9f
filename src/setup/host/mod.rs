//! The host as setup sees it: [`system::System`] is the one seam (a root
//! directory plus a command runner) that the real run and the tests share;
//! [`command`] runs commands for it within bounds, [`facts`] and [`probes`]
//! read the machine through it, [`secrets`] reads back the secret files
//! setup wrote, [`fsops`] changes files atomically;
//! `testkit` (test builds only) plays the host's commands behind the seam.

pub mod command;
pub mod facts;
pub mod fsops;
pub mod probes;
pub mod secrets;
pub mod system;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod zk;
