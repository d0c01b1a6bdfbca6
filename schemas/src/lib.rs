//! The vocabulary every other Tongban crate speaks.
//!
//! `schemas` owns the identifiers with check characters (citizen ID, USCC, division code,
//! e-licence ID), the Arrow schemas of the base libraries, the Parquet layout used for
//! lookups, and the deterministic synthetic-data generator. It depends on no other workspace
//! crate and never reads the clock, the environment or the network: callers pass `today`,
//! seeds and output locations in.

pub mod generate;
pub mod id;
pub mod layout;
pub mod library;
pub mod licence;
pub mod matter;

pub use id::{CitizenId, DivisionCode, Gender, IdError, LicenceId, Uscc};
pub use library::BaseLibrary;
