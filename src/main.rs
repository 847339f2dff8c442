//! The `taskhub` command: `serve` (default), `migrate`, `seed-demo`, `admin`, `simulator`
//! (the fake provider alone), and the terminal client (`login`, `create`, `watch`, `tasks`).
//! Subcommand bodies live in `taskhub::cli`.

use clap::{Parser, Subcommand};
use taskhub::config::{settings_help, Settings};
use taskhub::startup::Application;

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
    #[command(after_help = settings_help())]
    Serve,
    /// Apply database migrations and exit.
    #[command(after_help = settings_help())]
    Migrate,
    /// Load the demo showcase (videos, hero videos, trial images from shipped files); running
    /// it again changes nothing.
    #[command(after_help = settings_help())]
    SeedDemo,
    /// Manage admins: `taskhub admin grant EMAIL` makes an existing user an admin.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Run only the video-provider simulator (OpenAI Videos wire format at /v1/videos).
    Simulator {
        #[arg(long, default_value = "127.0.0.1:9090")]
        addr: std::net::SocketAddr,
        /// Seconds per job [default: TASKHUB_SIMULATOR_SECONDS]
        #[arg(long)]
        seconds: Option<f64>,
    },
    #[command(flatten)]
    Client(taskhub::cli::ClientCommand),
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
    let command = match Cli::parse().command.unwrap_or(Command::Serve) {
        // The client needs no server settings; its exit code says how the tasks ended.
        Command::Client(cmd) => std::process::exit(taskhub::cli::run_client(cmd).await),
        other => other,
    };
    let settings = Settings::load()?;
    taskhub::telemetry::init(settings.log_format);
    match command {
        Command::Serve => serve(settings).await,
        Command::Migrate => taskhub::cli::migrate(&settings).await,
        Command::SeedDemo => taskhub::cli::seed_demo(&settings).await.map(|_| ()),
        Command::Admin(AdminCommand::Grant { email }) => {
            taskhub::cli::set_role(&settings, &email, "admin").await
        }
        Command::Admin(AdminCommand::Revoke { email }) => {
            taskhub::cli::set_role(&settings, &email, "user").await
        }
        Command::Simulator { addr, seconds } => {
            let secs = seconds.unwrap_or(settings.providers.simulator_seconds);
            let stop = taskhub::telemetry::shutdown_signal();
            taskhub::providers::simulator::serve(addr, secs, stop).await
        }
        Command::Client(_) => Ok(()),
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings).await?;
    // One plain line on stdout, so scripts and tests can find a port-0 server.
    // The listener's own address: a node bound to another address than loopback said
    // 127.0.0.1 here before.
    println!("taskhub listening on {}", app.url()?);
    tracing::info!(port = app.port(), "taskhub started");
    app.run_until_stopped(taskhub::telemetry::shutdown_signal())
        .await
}
