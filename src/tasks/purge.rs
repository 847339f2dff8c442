//! The task side of account deletion: the user's open tasks are cancelled through the
//! ordinary cancel use case (refunds follow the billing rules, providers are told), then
//! every task of the user is anonymised and its media and upload files removed.

use super::context::TaskContext;
use super::uploads;
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};

impl TaskContext {
    /// Cancels `open` (tasks of `user` still open at deletion; one that finished meanwhile
    /// is skipped), then erases all of the user's tasks and their files. Returns how many
    /// were cancelled.
    pub async fn purge_user(&self, user: &AuthUser, open: &[String]) -> ApiResult<usize> {
        let mut cancelled = 0;
        for id in open {
            match self.cancel(user, id).await {
                Ok(_) => cancelled += 1,
                Err(ApiError::Conflict(_) | ApiError::NotFound(_)) => {}
                // The account is already deleted: go on with the others and the erasure;
                // this task is left to the poller and its deadline.
                Err(e) => {
                    tracing::warn!(error = %e, video_id = %id, "cancelling a deleted user's task failed")
                }
            }
        }
        for (video_id, upload) in self.store.erase_user_tasks(&user.id).await? {
            self.video.media.remove_task(&video_id).await;
            if let Some(rel) = upload {
                uploads::remove(&self.settings, &rel).await;
            }
        }
        Ok(cancelled)
    }
}
