//! The shared data catalogue (政务信息资源目录).
//!
//! `catalog` owns what a resource is (core metadata, items and their share types), how a
//! publication is validated and written as an immutable snapshot, and the DCAT export. It
//! depends on `schemas` only; the gateway persists definitions and snapshots in its metadata
//! store and passes `today` in.

pub mod dcat;
mod error;
pub mod publish;
pub mod query;
pub mod resource;
pub mod snapshot;

pub use error::CatalogError;
pub use resource::{
    Item, OpenType, Provider, ResourceCode, ResourceDefinition, ShareType, UpdateCycle,
};
pub use snapshot::SnapshotSummary;
