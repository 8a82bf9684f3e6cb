//! Delivery of queued events: workers that take due events from the store and forward them, with the
//! route's retry policy, dead letters and a circuit breaker per upstream.
//!
//! This module knows nothing about the request pipeline or the public listener's sockets.

pub mod breaker;
pub mod policy;
pub mod worker;

pub use policy::{Mode, Next, Policy, Upstream4xx, defaults};
pub use worker::{Deliveries, Fresh};
