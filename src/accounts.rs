//! Account deletion, the use case behind `DELETE /api/users/account`: it spans auth
//! (re-authentication), billing (a renewing Stripe subscription), the store (the erasure),
//! the bus (sockets on every node) and tasks (cancellation with refunds, files).
//!
//! Order: re-authenticate (the password, or a Google sign-in within
//! [`GOOGLE_REAUTH_WINDOW_MS`]); stop the Stripe subscription renewing (a Stripe failure
//! refuses the deletion, nothing is erased); then one transaction marks the account deleted,
//! erases its personal fields and revokes its logins and keys (from then on nothing of it is
//! accepted); then every node closes its sockets; then its open tasks are cancelled with
//! refunds and all its tasks anonymised, their files removed; its uploads are deleted. The ledger rows stay, on the
//! tombstone row.

use std::sync::Arc;

use crate::auth::password::{self, Queue};
use crate::auth::AuthUser;
use crate::billing::service::Payments;
use crate::bus::Bus;
use crate::domain::time::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::store::{ReauthFacts, Store, StoreError};
use crate::tasks::TaskContext;

/// How recent a Google sign-in must be to stand in for a password.
pub const GOOGLE_REAUTH_WINDOW_MS: i64 = 10 * 60 * 1000;

/// Longest password looked at (longer ones are wrong without hashing them).
const MAX_PASSWORD_CHARS: usize = 128;

/// The handles account deletion needs.
pub struct Accounts {
    pub store: Store,
    pub bus: Arc<dyn Bus>,
    pub tasks: TaskContext,
    pub payments: Payments,
    pub hash_queue: Queue,
    /// The user's uploads go with the account.
    pub uploads: crate::uploads::Uploads,
}

/// What a deletion did.
pub struct AccountDeleted {
    pub cancelled_tasks: usize,
    /// A Stripe subscription was set to end with its paid period.
    pub subscription_stopped: bool,
}

impl Accounts {
    /// Deletes `user`'s account after re-authentication. A deleted account is 404.
    pub async fn delete(
        &self,
        user: &AuthUser,
        password: Option<String>,
    ) -> ApiResult<AccountDeleted> {
        let facts = self.store.reauth_facts(&user.id).await.map_err(gone)?;
        self.reauthenticate(password, facts).await?;
        let subscription_stopped = self.payments.stop_renewal_for_deletion(&user.id).await?;
        let deleted = self.store.delete_account(&user.id).await.map_err(gone)?;
        if let Err(e) = self.bus.close_user(&user.id).await {
            tracing::warn!(error = %e, "could not tell other nodes to close a deleted user's sockets");
        }
        let cancelled_tasks = self.tasks.purge_user(user, &deleted.open_tasks).await?;
        self.uploads.purge_user(&user.id).await?;
        tracing::info!(user_id = %user.id, cancelled_tasks, subscription_stopped, "account deleted");
        Ok(AccountDeleted {
            cancelled_tasks,
            subscription_stopped,
        })
    }

    /// The password if one is given (and the account has one), else a recent Google sign-in.
    async fn reauthenticate(&self, given: Option<String>, facts: ReauthFacts) -> ApiResult<()> {
        let refuse = |m: &str| ApiError::Forbidden("reauthenticationRequired", m.to_string());
        if let Some(pw) = given.filter(|p| !p.is_empty()) {
            if pw.chars().count() > MAX_PASSWORD_CHARS || facts.password_hash.is_empty() {
                return Err(refuse("the password is wrong"));
            }
            return match password::verify(pw, facts.password_hash, self.hash_queue).await? {
                true => Ok(()),
                false => Err(refuse("the password is wrong")),
            };
        }
        match facts.google_login_at {
            Some(at) if now_ms() - at <= GOOGLE_REAUTH_WINDOW_MS => Ok(()),
            _ => Err(refuse(
                "confirm with your password, or sign in with Google again (within 10 minutes)",
            )),
        }
    }
}

fn gone(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::not_found("account"),
        other => other.into(),
    }
}
