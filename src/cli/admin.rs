//! `taskhub migrate`, `taskhub seed-demo` and `taskhub admin grant|revoke`: bodies kept here so `main.rs` stays a
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

/// `taskhub seed-demo`: migrates, then inserts the demo showcase rows that are missing.
pub async fn seed_demo(settings: &Settings) -> anyhow::Result<crate::showcase::seed::SeedReport> {
    let store = Store::connect(&settings.database_url(), 1).await?;
    store.migrate().await?;
    let report = crate::showcase::seed::seed_demo(&store).await?;
    println!(
        "demo showcase: {} added, {} already there",
        report.inserted, report.existing
    );
    Ok(report)
}
