//! Where each component comes from: the catalog of known sources
//! ([`catalog`], templates/sources.toml), SPEC strings from flags and
//! setup.toml ([`syntax`]), the mirror rewrite ([`mirror`]) and the choice per
//! component, role and OS release with its pins checked ([`resolve`]). All of
//! it is pure: the plan turns a [`Resolved`] source into resources.

pub mod catalog;
pub mod elf;
pub mod libs;
pub mod mirror;
pub mod model;
pub mod resolve;
pub mod syntax;

pub use model::*;
pub use resolve::{Request, Sources, resolve};
pub use syntax::parse;
