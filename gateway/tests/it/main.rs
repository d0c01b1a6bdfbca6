//! Integration tests of the gateway crate: the metadata store on SQLite and PostgreSQL, and
//! the `tongban` command line.

mod cli;
mod deploy;
mod durability;
mod ledger;
mod logs;
mod store;
