//! Generated protobuf types (see proto/ and build.rs). The module tree mirrors
//! the protobuf packages because prost's generated paths are relative.

#![allow(clippy::all, clippy::pedantic, missing_docs)]

pub mod mesos {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/mesos.v1.rs"));
        pub mod executor {
            include!(concat!(env!("OUT_DIR"), "/mesos.v1.executor.rs"));
        }
    }
}

pub mod mesos_docker {
    pub mod raw {
        include!(concat!(env!("OUT_DIR"), "/mesos_docker.raw.rs"));
    }
}

pub use mesos::v1::*;
pub use mesos_docker::raw;
