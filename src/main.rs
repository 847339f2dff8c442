//! The `taskhub` command: `serve` (default) and `migrate`.

use clap::{Parser, Subcommand};
use taskhub::config::{Settings, SETTINGS_HELP};
use taskhub::startup::Application;
use taskhub::store::Store;

#[derive(Parser)]
#[command(
    name = "taskhub",
    version,
    about = "WebSocket-first hub for AI video generation tasks"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (the default).
    #[command(after_help = SETTINGS_HELP)]
    Serve,
    /// Apply database migrations and exit.
    #[command(after_help = SETTINGS_HELP)]
    Migrate,
    /// Manage admins: `taskhub admin grant EMAIL` makes an existing user an admin.
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Give the user with this email the admin role.
    Grant { email: String },
    /// Take the admin role away (back to `user`).
    Revoke { email: String },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    let settings = Settings::load()?;
    taskhub::telemetry::init(&settings.log_format);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Migrate => {
            let store = Store::connect(&settings.database_url(), 1).await?;
            store.migrate().await?;
            println!("migrations applied ({:?})", store.dialect());
            Ok(())
        }
        Command::Admin(cmd) => {
            let (email, role) = match &cmd {
                AdminCommand::Grant { email } => (email, "admin"),
                AdminCommand::Revoke { email } => (email, "user"),
            };
            let store = Store::connect(&settings.database_url(), 1).await?;
            store.migrate().await?;
            let user = store
                .set_user_role(email, role)
                .await
                .map_err(|e| match e {
                    taskhub::store::StoreError::NotFound => {
                        anyhow::anyhow!("no user with email {email}")
                    }
                    other => other.into(),
                })?;
            println!("{} ({}) is now {}", user.email, user.username, user.role);
            Ok(())
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings).await?;
    // One plain line on stdout, so scripts and tests can find a port-0 server.
    println!("taskhub listening on http://127.0.0.1:{}", app.port());
    tracing::info!(port = app.port(), "taskhub started");
    app.run_until_stopped(taskhub::telemetry::shutdown_signal())
        .await
}
