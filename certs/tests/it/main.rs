//! Integration tests of the e-licence library.

mod common;
mod corpus;
mod flows;
mod interop;
mod props;
mod rfc;
