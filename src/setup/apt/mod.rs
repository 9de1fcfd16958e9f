//! apt and dpkg: installing and removing packages under dpkg's lock
//! ([`packages`]), finishing what an interrupted dpkg left ([`repair`]), and
//! reading the OpenPGP keys apt trusts ([`openpgp`]).

pub mod openpgp;
pub mod packages;
pub mod repair;
