//! `GET /openapi.json` (the OpenAPI 3.1 document) and `GET /docs` (a self-contained viewer,
//! no CDN). The operation table below is the one list of REST routes; a test checks that
//! every operation in it is served by the real router.

use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(|| async { Json(document()) }))
        .route("/docs", get(|| async { Html(VIEWER).into_response() }))
}

/// How an operation authenticates.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    None,
    /// Bearer JWT or `X-API-Key`.
    User,
    /// A user with the admin role.
    Admin,
}

pub struct Op {
    pub method: &'static str,
    pub path: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    pub auth: Auth,
    /// Request body: a schema name from `schemas()`, `multipart`, `raw`, or "".
    pub body: &'static str,
    /// Query parameters, comma separated.
    pub query: &'static str,
}

const fn op(
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    auth: Auth,
    body: &'static str,
    query: &'static str,
) -> Op {
    Op {
        method,
        path,
        tag,
        summary,
        auth,
        body,
        query,
    }
}

use Auth::{Admin, None as Open, User};

pub const OPERATIONS: &[Op] = &[
    op("get", "/", "docs", "A page linking the QA pages (development), the docs and health", Open, "", ""),
    op("get", "/health", "health", "Liveness", Open, "", ""),
    op("get", "/ready", "health", "Readiness: database and bus reachable (503 naming what is down)", Open, "", ""),
    op("get", "/metrics", "health", "Prometheus metrics, text format (TASKHUB_METRICS, TASKHUB_METRICS_ADDR)", Open, "", ""),
    op("post", "/api/auth/register", "auth", "Register; 201 with tokens", Open, "Register", ""),
    op("post", "/api/auth/login", "auth", "Log in by username or email", Open, "Login", ""),
    op("post", "/api/auth/refresh", "auth", "Rotate a refresh token (reusing a spent one revokes the login)", Open, "Refresh", ""),
    op("post", "/api/auth/logout", "auth", "Revoke the login of a refresh token", Open, "Refresh", ""),
    op("get", "/api/auth/me", "auth", "The signed-in user", User, "", ""),
    op("post", "/api/auth/test/login", "auth", "Development only: sign in as an email, creating the user (403 in production)", Open, "", "email"),
    op("post", "/api/video/tasks", "tasks", "Create a task: JSON (text-to-video) or multipart with an `image` part (image-to-video); 201", User, "CreateTask", ""),
    op("get", "/api/video/tasks", "tasks", "The user's tasks, newest first: {items,total,page,pageSize}", User, "", "page,pageSize,status"),
    op("get", "/api/video/tasks/{videoId}", "tasks", "One task", User, "", ""),
    op("delete", "/api/video/tasks/{videoId}", "tasks", "Delete a finished task and its events (409 while open)", User, "", ""),
    op("get", "/api/video/tasks/{videoId}/events", "tasks", "The task's event log after sinceSeq (the same frames as the WebSocket)", User, "", "sinceSeq,limit"),
    op("post", "/api/video/tasks/{videoId}/cancel", "tasks", "Cancel an open task; credits are refunded", User, "", ""),
    op("post", "/api/video/tasks/{videoId}/retry", "tasks", "New task with the same parameters, for a failed one; 201", User, "", ""),
    op("get", "/api/video/tasks/{videoId}/content", "tasks", "Where to play the finished video: {videoId, externalVideoId, url}", User, "", ""),
    op("get", "/api/video/stats", "tasks", "The user's task counts by status and credits spent", User, "", ""),
    op("get", "/api/video/models", "tasks", "Models, allowed seconds and sizes, prices", Open, "", ""),
    op("get", "/api/users/credits", "credits", "Balance: {credits, totalEarned, totalSpent}", User, "", ""),
    op("get", "/api/users/credits/transactions", "credits", "The credit ledger, newest first", User, "", "page,pageSize,type"),
    op("get", "/api/users/api-keys", "credits", "The user's API keys (never the secret)", User, "", ""),
    op("post", "/api/users/api-keys", "credits", "Create an API key; the secret is shown once", User, "NewApiKey", ""),
    op("delete", "/api/users/api-keys/{keyId}", "credits", "Revoke an API key", User, "", ""),
    op("put", "/api/admin/users/{userId}/plan", "admin", "Set a user's plan, status and end date", Admin, "SetPlan", ""),
    op("get", "/api/payments/packages", "payments", "Credit packages and prices", Open, "", ""),
    op("post", "/api/payments/stripe/create", "payments", "Start a Stripe Checkout payment (503 paymentsNotConfigured without keys)", User, "CreatePayment", ""),
    op("get", "/api/payments/{paymentId}", "payments", "One of the user's payments", User, "", ""),
    op("post", "/api/payments/{paymentId}/dev-complete", "payments", "Development only: complete a local test payment (localTest), no money moves; 403 notLocalTestPayment for Stripe payments", User, "", ""),
    op("post", "/api/payments/webhook/stripe", "payments", "Stripe webhook (Stripe-Signature verified, each event once)", Open, "raw", ""),
    op("post", "/api/payments/stripe/refund", "admin", "Refund a payment in full or part and take the credits back", Admin, "Refund", ""),
    op("get", "/media/{file}", "media", "A finished video (`{videoId}.mp4`) or thumbnail (`.jpg`) at its signed, expiring URL; Range requests get 206; 403 mediaUrlExpired / invalidSignature", Open, "", "exp,sig"),
    op("get", "/openapi.json", "docs", "This document", Open, "", ""),
    op("get", "/docs", "docs", "A viewer for this document", Open, "", ""),
];

fn schemas() -> Value {
    let s = |props: Value, required: &[&str]| json!({"type": "object", "properties": props, "required": required});
    let string = json!({"type": "string"});
    let int = json!({"type": "integer"});
    json!({
        "Error": s(json!({"success": {"const": false}, "error": s(json!({"code": string, "message": string, "fields": {"type": "object"}, "requestId": string}), &["code", "message"])}), &["success", "error"]),
        "Register": s(json!({"username": string, "email": string, "password": {"type": "string", "minLength": 8}}), &["username", "email", "password"]),
        "Login": s(json!({"login": {"type": "string", "description": "username or email (also accepted as `username` or `email`)"}, "password": string}), &["login", "password"]),
        "Refresh": s(json!({"refreshToken": string}), &["refreshToken"]),
        "CreateTask": s(json!({
            "prompt": string, "model": {"type": "string", "default": "sora-2"},
            "seconds": {"type": ["integer", "string"], "description": "also accepted as `duration`"},
            "size": {"type": "string", "default": "720x1280"}, "quality": {"enum": ["standard", "hd"]},
            "webhookUrl": string, "referenceImageUrl": string,
            "image": {"type": "string", "format": "binary", "description": "multipart only: PNG, JPEG or WebP"}
        }), &["prompt"]),
        "Task": s(json!({
            "videoId": string, "externalVideoId": {"type": ["string", "null"]}, "userId": string,
            "status": {"enum": ["queued", "processing", "completed", "failed", "cancelled"]},
            "progress": int, "seq": int, "prompt": string, "model": string, "seconds": int, "size": string,
            "quality": string, "kind": {"enum": ["textToVideo", "imageToVideo"]},
            "error": {"type": ["object", "null"]}, "result": {"type": ["object", "null"]},
            "creditsCharged": int, "creditsRefunded": int, "retryOf": {"type": ["string", "null"]},
            "createdAt": string, "updatedAt": string, "completedAt": {"type": ["string", "null"]}
        }), &["videoId", "status", "progress", "seq"]),
        "NewApiKey": s(json!({"name": string}), &["name"]),
        "SetPlan": s(json!({"plan": {"enum": ["free", "basic", "pro"]}, "status": {"enum": ["active", "cancelled", "expired"]}, "endsAt": {"type": "string", "description": "RFC 3339; absent: never ends"}, "grantCredits": {"type": "boolean"}}), &["plan"]),
        "CreatePayment": s(json!({"package": string, "returnUrl": string, "localTest": {"type": "boolean", "description": "development only: a local payment completed by dev-complete"}}), &["package", "returnUrl"]),
        "Refund": s(json!({"paymentId": string, "amount": {"type": "number"}, "force": {"type": "boolean"}}), &["paymentId"]),
    })
}

fn operation(o: &Op) -> Value {
    let mut params: Vec<Value> = o
        .path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    params.extend(
        o.query
            .split(',')
            .filter(|q| !q.is_empty())
            .map(|name| json!({"name": name, "in": "query", "schema": {"type": "string"}})),
    );
    let mut v = json!({
        "tags": [o.tag], "summary": o.summary, "parameters": params,
        "responses": {
            "2XX": {"description": "`{success: true, data}`"},
            "4XX": {"description": "error envelope", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        }
    });
    match o.auth {
        Auth::None => v["security"] = json!([]),
        Auth::User => {}
        Auth::Admin => v["description"] = json!("Admin role required."),
    }
    v["requestBody"] = match o.body {
        "" => return v,
        "raw" => json!({"content": {"application/json": {"schema": {"type": "object"}}}}),
        "CreateTask" => json!({"content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/CreateTask"}},
            "multipart/form-data": {"schema": {"$ref": "#/components/schemas/CreateTask"}}
        }}),
        name => {
            json!({"content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{name}")}}}})
        }
    };
    v
}

/// The OpenAPI 3.1 document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for o in OPERATIONS {
        let entry = paths.entry(o.path).or_insert_with(|| json!({}));
        entry[o.method] = operation(o);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "taskhub", "version": env!("CARGO_PKG_VERSION"),
            "description": "REST half of taskhub. Live progress is on the WebSocket `GET /ws`; its frames are described in docs/protocol.md."
        },
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}
            }
        },
        "security": [{"bearer": []}, {"apiKey": []}]
    })
}

const VIEWER: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>taskhub API</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#1d2433}
h1{margin-bottom:.2rem} .op{border:1px solid #d8dde6;border-radius:6px;margin:.5rem 0;padding:.5rem .8rem}
.m{display:inline-block;min-width:4.2rem;font-weight:700;text-transform:uppercase}
.get{color:#1565c0}.post{color:#2e7d32}.put{color:#ef6c00}.delete{color:#c62828}
code{background:#f2f4f8;padding:0 .25rem;border-radius:3px} small{color:#5a6578} h2{margin-top:1.6rem;text-transform:capitalize}
</style></head><body>
<h1>taskhub API</h1><p><small>From <a href="/openapi.json">/openapi.json</a>. WebSocket frames: see docs/protocol.md.</small></p>
<div id="ops">Loading…</div>
<script>
fetch('/openapi.json').then(r => r.json()).then(doc => {
  const byTag = {};
  for (const [path, item] of Object.entries(doc.paths))
    for (const [method, op] of Object.entries(item)) (byTag[op.tags[0]] ||= []).push({path, method, op});
  const esc = s => String(s).replace(/[&<>]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;'}[c]));
  document.getElementById('ops').innerHTML = Object.entries(byTag).map(([tag, ops]) =>
    `<h2>${esc(tag)}</h2>` + ops.map(({path, method, op}) => {
      const q = (op.parameters || []).filter(p => p.in === 'query').map(p => p.name);
      const body = op.requestBody ? Object.keys(op.requestBody.content).join(', ') : '';
      return `<div class="op"><span class="m ${method}">${method}</span> <code>${esc(path)}</code>
        <div>${esc(op.summary)}</div><small>${op.security ? 'no auth' : 'Bearer token or X-API-Key'}${
        q.length ? ' · query: ' + esc(q.join(', ')) : ''}${body ? ' · body: ' + esc(body) : ''}${
        op.description ? ' · ' + esc(op.description) : ''}</small></div>`;
    }).join('')).join('');
});
</script></body></html>"#;
