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
