//! account-recovery: a GraphQL service that gets members back into their accounts.
pub mod app;
pub mod cli;
pub mod config;
pub mod domain;
pub mod graphql;
pub mod http;
pub mod infra;
pub mod recovery;
pub mod runners;
pub mod telemetry;
