//! A user's tasks in any of several statuses, one page at a time (for APIs whose one status
//! covers several native ones, like the AdsVideo adapter's `failed` for failed and cancelled).

use super::{Store, StoreResult};
use super::{Task, TASK_COLS};
use crate::domain::TaskStatus;

impl Store {
    /// The user's tasks whose status is one of `statuses` (all when empty), newest first, and
    /// their total.
    pub async fn list_user_tasks_in(
        &self,
        user_id: &str,
        statuses: &[TaskStatus],
        page: i64,
        page_size: i64,
    ) -> StoreResult<(Vec<Task>, i64)> {
        // The statuses are the enum's own names, never input.
        let clause = if statuses.is_empty() {
            String::new()
        } else {
            let names: Vec<String> = statuses
                .iter()
                .map(|s| format!("'{}'", s.as_str()))
                .collect();
            format!(" AND status IN ({})", names.join(", "))
        };
        let count_q = format!("SELECT COUNT(*) FROM tasks WHERE user_id = $1{clause}");
        let list_q = format!(
            "SELECT {TASK_COLS} FROM tasks WHERE user_id = $1{clause} \
             ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
        );
        let (total,): (i64,) = sqlx::query_as(&count_q)
            .bind(user_id)
            .fetch_one(self.pool())
            .await?;
        let items = sqlx::query_as(&list_q)
            .bind(user_id)
            .bind(page_size)
            .bind((page - 1).saturating_mul(page_size))
            .fetch_all(self.pool())
            .await?;
        Ok((items, total))
    }
}
