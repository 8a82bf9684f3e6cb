//! hookgate: an incoming-webhook gateway.
//!
//! Vendors POST signed webhooks; hookgate checks each signature and timestamp, enforces allowlists and
//! replay windows, drops duplicate deliveries, and forwards one CloudEvents envelope per event to the
//! internal service a route names. See ARCHITECTURE.md for the map of these modules.

pub mod admin;
pub mod admission;
pub mod cli;
pub mod client_ip;
pub mod config;
pub mod delivery;
pub mod envelope;
pub mod forward;
pub mod handshake;
pub mod learned;
pub mod metrics;
pub mod outcome;
pub mod pipeline;
pub mod presets;
pub mod published;
pub mod recent;
pub mod replay;
pub mod routes;
pub mod secret;
pub mod server;
pub mod store;
pub mod tls;
pub mod verify;
