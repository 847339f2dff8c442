//! Integration tests: one binary (fast to link), one module per area. Every test talks to
//! a real server over real sockets.

mod helpers;

mod auth;
mod malformed;
mod tasks;
mod ws;
mod ws_abuse;
mod ws_client;
mod ws_delivery;
mod ws_redis;
mod ws_shutdown;
