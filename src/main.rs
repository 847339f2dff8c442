//! The `taskhub` command: `serve` (default), `migrate`, and `simulator` (the fake provider alone).

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
    /// Run only the video-provider simulator (OpenAI Videos wire format at /v1/videos).
    Simulator {
        #[arg(long, default_value = "127.0.0.1:9090")]
        addr: std::net::SocketAddr,
        /// Seconds per job [default: TASKHUB_SIMULATOR_SECONDS]
        #[arg(long)]
        seconds: Option<f64>,
    },
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
        Command::Simulator { addr, seconds } => {
            let secs = seconds.unwrap_or(settings.poller.simulator_seconds);
            taskhub::providers::simulator::serve(addr, secs, taskhub::telemetry::shutdown_signal())
                .await
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
