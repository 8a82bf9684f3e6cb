//! Integration tests: the real gateway on an ephemeral port, talking over real sockets to a real
//! upstream. All modules compile into this one test binary.

mod adversarial;
mod browser;
mod cli;
mod durable;
mod events;
mod faults;
mod flood;
mod handshakes;
mod harness;
mod inspector;
mod limits;
mod pipeline;
mod presets;
mod process;
mod queued;
mod readme;
mod redis;
mod replay;
mod tls;
mod vendors;
