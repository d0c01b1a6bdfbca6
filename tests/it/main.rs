//! End-to-end tests of the gateway over real HTTPS with real certificates.

mod audit;
mod bypass;
mod catalog;
mod console;
mod deploy;
mod flight;
mod gateway;
mod grants;
mod licences;
mod matters;
mod query;
