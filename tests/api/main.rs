//! Integration tests: one binary (fast to link), one module per area. Every test talks to
//! a real server over real sockets.

mod helpers;

mod auth;
mod malformed;
mod poller;
mod poller_e2e;
mod poller_leases;
mod provider_openai;
mod scripted;
mod simulator;
mod tasks;
