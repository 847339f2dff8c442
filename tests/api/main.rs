//! Integration tests: one binary (fast to link), one module per area. Every test talks to
//! a real server over real sockets.

mod helpers;

mod account_deletion;
mod api_keys;
mod auth;
mod billing;
mod callback_provider;
mod cli;
mod cors;
mod credits;
mod docs;
mod exposure;
mod google;
mod hardening;
mod http_limits;
mod ledger_check;
mod malformed;
mod metrics;
mod payments;
mod poller;
mod poller_e2e;
mod poller_leases;
mod process;
mod profile;
mod provider_callbacks;
mod provider_openai;
mod rate_limits;
mod remix;
mod scripted;
mod simulator;
mod stripe_mock;
mod stripe_webhook;
mod subscriptions;
mod subscriptions_end;
mod subscriptions_renewal;
mod tasks;
mod uploads;
mod ws;
mod ws_abuse;
mod ws_client;
mod ws_delivery;
mod ws_failover;
mod ws_redis;
mod ws_security;
mod ws_shutdown;
