//! Account deletion and a plan bought through Stripe: the subscription is set to end with its
//! paid period before anything is erased (no further charge behind an erased account); when
//! Stripe cannot be reached the deletion is refused and nothing is erased.

use serde_json::json;

use crate::helpers::{Backend, TestApp};
use crate::ledger_check::assert_ledger_invariant;
use crate::stripe_mock::StripeMock;
use crate::subscriptions::{subscribed, with_plans};

crate::backend_tests!(deletion_stops_the_stripe_subscription_first);

async fn deletion_stops_the_stripe_subscription_first(backend: Backend) {
    let mock = StripeMock::start().await;
    let app = TestApp::spawn_with(backend, with_plans(&mock)).await;
    let stuck = app.token("stuck").await;
    subscribed(&app, &mock, &stuck, "basic", "sub_refused_1").await;
    let leaver = app.token("leaver").await;
    subscribed(&app, &mock, &leaver, "pro", "sub_leaving").await;
    let body = json!({"password": "fake-password-123"});

    // Stripe down: refused, nothing erased, the account works as before.
    app.delete("/api/users/account")
        .auth(&stuck)
        .json(body.clone())
        .await
        .expect_error(503, "unavailable");
    assert_eq!(mock.taken().len(), 1, "one cancel attempt");
    app.get("/api/auth/me").auth(&stuck).await.expect(200);
    let sub = app
        .get("/api/users/subscription")
        .auth(&stuck)
        .await
        .expect(200);
    assert_eq!(sub["data"]["cancelAtPeriodEnd"], false, "{sub}");

    // Stripe up: the renewal is stopped at Stripe, then the account is deleted.
    let done = app
        .delete("/api/users/account")
        .auth(&leaver)
        .json(body)
        .await
        .expect(200);
    assert_eq!(done["data"]["subscriptionStopped"], true, "{done}");
    let reqs = mock.taken();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].path, "/v1/subscriptions/sub_leaving");
    assert_eq!(reqs[0].field("cancel_at_period_end"), Some("true"));
    app.get("/api/auth/me")
        .auth(&leaver)
        .await
        .expect_error(401, "unauthorized");
    assert_ledger_invariant(&app).await;
}
