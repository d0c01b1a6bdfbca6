//! Integration tests of the gateway crate: the metadata store on SQLite and PostgreSQL, and
//! the `tongban` command line.

mod cli;
mod deploy;
mod durability;
mod faults;
mod ledger;
mod logs;
mod replicas;
mod store;
