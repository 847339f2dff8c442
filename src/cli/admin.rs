//! `taskhub migrate` and `taskhub admin grant|revoke`: bodies kept here so `main.rs` stays a
//! thin argument parser.

use crate::config::Settings;
use crate::store::{Store, StoreError};

/// `taskhub migrate`: applies the migrations of the configured database.
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let store = Store::connect(&settings.database_url(), 1).await?;
    store.migrate().await?;
    println!("migrations applied ({:?})", store.dialect());
    Ok(())
}

/// `taskhub admin grant|revoke EMAIL`: sets the user's role to `admin` or back to `user`.
pub async fn set_role(settings: &Settings, email: &str, role: &str) -> anyhow::Result<()> {
    let store = Store::connect(&settings.database_url(), 1).await?;
    store.migrate().await?;
    let user = store
        .set_user_role(email, role)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => anyhow::anyhow!("no user with email {email}"),
            other => other.into(),
        })?;
    println!("{} ({}) is now {}", user.email, user.username, user.role);
    Ok(())
}
