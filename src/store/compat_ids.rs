//! Numeric aliases of native ids, for the compat adapters whose APIs number their users,
//! videos and showcase items. An alias is made the first time a native id is shown through
//! such an API and never changes or gets reused; the native id stays the truth.

use std::collections::HashMap;

use super::{Store, StoreResult};

impl Store {
    /// The alias of `native_id` among `kind` (made now if it has none).
    pub async fn compat_number(&self, kind: &str, native_id: &str) -> StoreResult<i64> {
        let numbers = self.compat_numbers(kind, &[native_id]).await?;
        Ok(numbers.get(native_id).copied().unwrap_or_default())
    }

    /// The aliases of several ids of one kind (one insert and one select each, in one
    /// transaction; a page of results is at most a hundred ids).
    pub async fn compat_numbers(
        &self,
        kind: &str,
        native_ids: &[&str],
    ) -> StoreResult<HashMap<String, i64>> {
        let mut out = HashMap::with_capacity(native_ids.len());
        if native_ids.is_empty() {
            return Ok(out);
        }
        let mut tx = self.pool().begin().await?;
        for id in native_ids {
            sqlx::query(
                "INSERT INTO compat_ids (kind, native_id) VALUES ($1, $2)
                 ON CONFLICT (kind, native_id) DO NOTHING",
            )
            .bind(kind)
            .bind(*id)
            .execute(&mut *tx)
            .await?;
            let (num,): (i64,) =
                sqlx::query_as("SELECT num FROM compat_ids WHERE kind = $1 AND native_id = $2")
                    .bind(kind)
                    .bind(*id)
                    .fetch_one(&mut *tx)
                    .await?;
            out.insert((*id).to_string(), num);
        }
        tx.commit().await?;
        Ok(out)
    }

    /// The native id behind alias `num` of `kind`, if there is one.
    pub async fn compat_native(&self, kind: &str, num: i64) -> StoreResult<Option<String>> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT native_id FROM compat_ids WHERE kind = $1 AND num = $2")
                .bind(kind)
                .bind(num)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(|(id,)| id))
    }
}
