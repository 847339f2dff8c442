//! taskhub: a WebSocket-first hub for AI video generation tasks.
//!
//! Browsers create tasks over REST and watch them over one WebSocket; a poller drives each
//! task at a provider, writes every change and its event in one transaction, and publishes
//! the event on the bus; the hub pushes it to the sockets that watch the task.
//!
//! # Layout
//! Four floors, imports pointing down only (docs/architecture.md; `tests/architecture.rs`
//! checks it):
//! - ground: [`domain`], the secret wrapper, [`ops`] metrics, [`periodic`], [`telemetry`];
//! - infrastructure: [`store`], [`bus`], [`providers`], [`media`], [`wire`];
//! - services: [`tasks`], [`billing`], [`auth`], [`accounts`], [`housekeeping`], [`showcase`], [`uploads`], [`error`];
//! - edges: [`routes`], [`compat`], [`hub`], [`http`], [`cli`], [`state`], [`config`]; then [`startup`].
//!
//! - [`domain`]: task status and lifecycle rules, events and frames, ids, time, ledger rules.
//! - [`cli`]: bodies of the `migrate` and `admin` subcommands.
//! - [`config`]: `Settings` (defaults < `taskhub.toml` < environment), secrets redacted.
//! - [`startup`]: `Application::build` binds and wires everything; `run_until_stopped`.
//! - [`state`]: `AppState`, the handles every handler shares.
//! - [`error`]: `ApiError`, the REST error envelope.
//! - [`auth`]: JWTs, passwords, tokens, the `AuthUser` extractor.
//! - [`accounts`]: account deletion (re-authentication, erasure, sockets, tasks, Stripe).
//! - [`routes`]: the HTTP surface, one module per resource.
//! - [`compat`]: thin adapters for the APIs of the backends taskhub replaces (`/api/v1`,
//!   `/compat/sora2`), over the same services.
//! - [`store`]: users, tokens, tasks and event logs on SQLite or PostgreSQL.
//! - [`bus`]: node-to-node event delivery (in-process or Redis).
//! - [`hub`]: the WebSocket hub: sockets, who watches what, fan-out of bus events.
//! - [`billing`]: plans, prices, the credit ledger's rules, packages, Stripe.
//! - [`tasks`]: the task use cases (create, cancel, retry, delete); the poller; webhooks.
//! - [`providers`]: the provider trait, the OpenAI-compatible client, the simulator.
//! - [`wire`]: the JSON bodies clients get, as typed structs (the OpenAPI document
//!   is generated from them).
//! - [`media`]: finished videos and thumbnails, stored and served at signed URLs.
//! - [`periodic`]: background sweeps that run every interval until shutdown.
//! - [`housekeeping`]: the sweep that deletes dead refresh tokens and old Stripe event ids.
//! - [`secret`]: `Secret`, a string that is redacted in `Debug` and `Display`.
//! - [`secret_file`]: owner-only files for generated secrets.
//! - [`http`]: the HTTP edge: accept loop, timeouts, lingering close, rate limits, request
//!   ids and spans, the admin listener for `/metrics`.
//! - [`ops`]: Prometheus metrics and their settings.
//! - [`uploads`]: user uploads (`POST /api/uploads`): type from the bytes, size bounds,
//!   per-user quota, files and rows; an upload as a task's reference image.
//! - [`showcase`]: the public site's showcase (videos, hero videos, trial images), its admin
//!   use cases and `seed-demo`.

pub mod accounts;
pub mod auth;
pub mod billing;
pub mod bus;
pub mod cli;
pub mod compat;
pub mod config;
pub mod domain;
pub mod error;
pub mod housekeeping;
pub mod http;
pub mod hub;
pub mod media;
pub mod ops;
pub mod periodic;
pub mod providers;
pub mod routes;
pub mod secret;
pub mod secret_file;
pub mod showcase;
pub mod startup;
pub mod state;
pub mod store;
pub mod tasks;
pub mod telemetry;
#[cfg(test)]
mod test_log;
pub mod uploads;
pub mod wire;
