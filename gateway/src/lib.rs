//! The Tongban gateway: the only crate that touches sockets, TLS, the database, the
//! environment and the clock.
//!
//! Start at [`startup`] (building and running the server), then [`routes`] (the route
//! table), [`auth`] (who is calling), [`error`] (how failures become responses) and
//! [`store`] (the metadata store). [`cli`] is the `tongban` command line.

pub mod alerts;
pub mod apidoc;
pub mod audit;
pub mod audit_cli;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod console;
pub mod error;
pub mod evidence_cli;
pub mod flight;
pub mod grants;
pub mod ledger;
pub mod licences;
pub mod matters;
pub mod pki;
pub mod publish;
pub mod query;
pub mod ratelimit;
pub mod results;
pub mod routes;
pub mod seed;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tls;

pub use config::Config;
pub use startup::{AppState, Application, ShutdownHandle};
