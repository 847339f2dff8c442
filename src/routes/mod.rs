//! The HTTP surface: one module per resource, assembled into one router here.

mod account;
pub mod auth;
mod auth_user;
pub mod docs;
mod docs_rules;
mod docs_settings;
mod extract;
pub mod fake_google;
pub mod google;
pub mod health;
mod home;
mod hygiene;
pub mod media;
pub mod payments;
pub mod profile;
pub mod provider_hooks;
mod refunds;
mod remix;
mod showcase;
mod showcase_admin;
mod showcase_bodies;
mod showcase_items;
mod subscriptions;
pub mod task_input;
pub mod tasks;
mod uploads;
pub mod users;
mod webhooks;
pub mod ws;

use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use axum::Router;
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::http::cors::CorsPolicy;
use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    let settings = state.settings.clone();
    let cors = cors_policy(&settings);
    let mut app = Router::new()
        .merge(health::router())
        .merge(home::router())
        .merge(auth::router())
        .merge(docs::router())
        .merge(tasks::router(settings.max_upload_bytes))
        .merge(users::router())
        .merge(profile::router())
        .merge(payments::router())
        .merge(subscriptions::router())
        .merge(media::router())
        .merge(ws::router(cors.clone()))
        .merge(crate::http::admin::router(&settings.ops))
        .merge(google::router())
        .merge(account::router())
        .merge(showcase::router())
        .merge(webhooks::router())
        .merge(provider_hooks::router())
        .merge(remix::router())
        .merge(uploads::router(settings.max_upload_bytes))
        .merge(crate::compat::router(&settings));
    app = mount_simulator(app, &settings);
    app = fake_google::mount(app, &state);
    if settings.test_pages_enabled() {
        let root = settings.assets_dir();
        app = app
            .nest_service("/test-pages", ServeDir::new(root.join("test-pages")))
            .nest_service("/clients/js", ServeDir::new(root.join("clients/js")));
    }
    let app = app
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(settings.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            crate::http::timeouts::Timeouts::new(&settings.http),
            crate::http::timeouts::middleware,
        ))
        .layer(axum::middleware::from_fn_with_state(
            rate_state(&state),
            crate::http::rate::middleware,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::compat::envelope::native_errors_as_detail,
        ));
    // Outside the rate limiter: preflights are answered without counting, and refusals
    // (429 included) carry the CORS headers, so a script can read them.
    let app = match cors.layer() {
        Some(layer) => app.layer(layer),
        None => app,
    };
    app.layer(TraceLayer::new_for_http().make_span_with(hygiene::make_span))
        .layer(axum::middleware::map_response(hygiene::nosniff))
        .layer(crate::http::request::RequestLayer)
        .with_state(state)
}

/// The simulator has no authentication: it is mounted only in development with
/// `TASKHUB_PROVIDER=simulator` (elsewhere its routes are 404). Production runs it apart
/// (`taskhub simulator` on a private address, `TASKHUB_PROVIDER=openai`).
fn mount_simulator(app: Router<AppState>, settings: &crate::config::Settings) -> Router<AppState> {
    use crate::providers::settings::ProviderKind;
    use crate::providers::simulator::{router, Simulator, MOUNT_V1};
    if !matches!(
        settings.providers.provider,
        ProviderKind::Simulator | ProviderKind::Callback
    ) {
        return app;
    }
    if settings.is_production() {
        tracing::warn!("TASKHUB_PROVIDER=simulator in production: the simulator is not mounted, simulated tasks will fail; run `taskhub simulator` apart and use TASKHUB_PROVIDER=openai");
        return app;
    }
    let p = &settings.providers;
    let secret = match p.simulator_webhook_secret.is_empty() {
        true => &p.openai_webhook_secret,
        false => &p.simulator_webhook_secret,
    };
    let hooks = crate::providers::simulator::webhooks::WebhookSender::new(
        &p.simulator_webhook_url,
        secret.expose(),
        p.simulator_webhook_max_pending,
    );
    let sim = Simulator::with_limits(
        p.simulator_seconds,
        settings.max_upload_bytes,
        p.simulator_deleted_bytes,
    )
    .with_webhooks(hooks);
    app.merge(router(MOUNT_V1, sim))
}

/// The CORS settings as checked at startup (`Application::build` refuses bad ones, so the
/// fallback, same origin only, is never used in practice).
fn cors_policy(settings: &crate::config::Settings) -> std::sync::Arc<CorsPolicy> {
    let policy = CorsPolicy::new(&settings.cors, settings.is_production()).unwrap_or_else(|e| {
        tracing::error!(error = %e, "invalid CORS settings: same origin only");
        CorsPolicy {
            origins: crate::http::cors::Origins::List(Vec::new()),
            credentials: false,
            max_age: std::time::Duration::ZERO,
        }
    });
    std::sync::Arc::new(policy)
}

/// The rate limiter's state, its pruning running until shutdown.
fn rate_state(state: &AppState) -> crate::http::rate::RateState {
    let limits = std::sync::Arc::new(crate::http::rate::RateLimits::new(&state.settings.http));
    limits.spawn_pruning(state.shutdown.clone());
    crate::http::rate::RateState {
        limits,
        app: state.clone(),
    }
}

async fn fallback(uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {}", uri.path()))
}

async fn method_not_allowed() -> impl IntoResponse {
    let body = serde_json::json!({"success": false, "error": {"code": "methodNotAllowed", "message": "method not allowed for this route"}});
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body))
}
