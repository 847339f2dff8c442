//! Integration tests: one binary (fast to link), one module per area. Every test talks to
//! a real server over real sockets.

mod helpers;

mod auth;
mod malformed;
mod tasks;
