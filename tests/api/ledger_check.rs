//! The credit ledger invariant (see `taskhub::store` `ledger_audit`), checked after every
//! billing scenario.

use crate::helpers::TestApp;

pub async fn assert_ledger_invariant(app: &TestApp) {
    let violations = app.state.store.ledger_audit().await.expect("ledger audit");
    assert!(
        violations.is_empty(),
        "the ledger breaks its invariant:\n{}",
        violations.join("\n")
    );
}
