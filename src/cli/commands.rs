//! The client subcommands: `login`, `create`, `watch`, `tasks`. Each returns its exit code
//! ([`super::exit`]); errors are printed on stderr, results on stdout.

use std::io::BufRead;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{json, Value};

use super::api::Api;
use super::follow::{follow, Final};
use super::{exit, CliError};

#[derive(Args, Clone, Debug)]
pub struct Common {
    /// Server URL.
    #[arg(long, env = "TASKHUB_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// Machine-readable output: JSON, one object (event) per line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Log in (or `--register`) and store the refresh token in the config dir (mode 0600).
    Login {
        #[command(flatten)]
        common: Common,
        /// Email (or username) to log in with.
        #[arg(long)]
        email: String,
        /// Password; read from TASKHUB_PASSWORD, else from the first line of stdin.
        #[arg(long, env = "TASKHUB_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// Create the account first, with this username.
        #[arg(long, value_name = "USERNAME")]
        register: Option<String>,
    },
    /// Create a video task; with `--wait`, follow it live until it ends.
    Create {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        prompt: String,
        /// Reference image (PNG, JPEG or WebP): image-to-video.
        #[arg(long)]
        image: Option<PathBuf>,
        #[arg(long)]
        model: Option<String>,
        #[arg(long)]
        seconds: Option<u32>,
        #[arg(long)]
        size: Option<String>,
        /// standard or hd.
        #[arg(long)]
        quality: Option<String>,
        /// Follow the task until it ends; the exit code says how.
        #[arg(long)]
        wait: bool,
    },
    /// Follow tasks live until each one ends (reconnects and resumes on drops).
    Watch {
        #[command(flatten)]
        common: Common,
        #[arg(required = true, value_name = "VIDEO_ID")]
        video_ids: Vec<String>,
    },
    /// List your tasks, newest first.
    Tasks {
        #[command(flatten)]
        common: Common,
        /// Only tasks with this status (queued, processing, completed, failed, cancelled).
        #[arg(long)]
        status: Option<String>,
        /// How many to show.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

/// Runs a client command; returns the process exit code.
pub async fn run(cmd: ClientCommand) -> i32 {
    match dispatch(cmd).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("taskhub: {}", e.message);
            e.code
        }
    }
}

async fn dispatch(cmd: ClientCommand) -> Result<i32, CliError> {
    match cmd {
        ClientCommand::Login {
            common,
            email,
            password,
            register,
        } => {
            let password = match password {
                Some(p) => p,
                None => read_password()?,
            };
            let mut api = Api::new(&common.server)?;
            let data = api.login(&email, &password, register.as_deref()).await?;
            let who = data["user"]["username"]
                .as_str()
                .unwrap_or(&email)
                .to_string();
            let dir = super::credentials::config_dir()?;
            if common.json {
                println!("{}", json!({"server": api.server, "user": data["user"]}));
            } else {
                println!(
                    "logged in to {} as {who} (credentials in {})",
                    api.server,
                    dir.display()
                );
            }
            Ok(exit::COMPLETED)
        }
        ClientCommand::Create {
            common,
            prompt,
            image,
            model,
            seconds,
            size,
            quality,
            wait,
        } => {
            let mut api = Api::new(&common.server)?;
            let mut fields = vec![("prompt", prompt)];
            fields.extend(model.map(|m| ("model", m)));
            fields.extend(seconds.map(|s| ("seconds", s.to_string())));
            fields.extend(size.map(|s| ("size", s)));
            fields.extend(quality.map(|q| ("quality", q)));
            let task = match image {
                None => {
                    let body: serde_json::Map<String, Value> = fields
                        .iter()
                        .map(|(k, v)| (k.to_string(), json_field(k, v)))
                        .collect();
                    api.call(Method::POST, "/api/video/tasks", |r| r.json(&body))
                        .await?
                }
                Some(path) => create_with_image(&mut api, &fields, &path).await?,
            };
            let id = task["videoId"].as_str().unwrap_or_default().to_string();
            if !wait {
                if common.json {
                    println!("{task}");
                } else {
                    println!("{id}");
                }
                return Ok(exit::COMPLETED);
            }
            if !common.json {
                eprintln!("created {id}");
            }
            watch(&mut api, &[id], common.json).await
        }
        ClientCommand::Watch { common, video_ids } => {
            let mut api = Api::new(&common.server)?;
            watch(&mut api, &video_ids, common.json).await
        }
        ClientCommand::Tasks {
            common,
            status,
            limit,
        } => {
            let mut api = Api::new(&common.server)?;
            let mut query = vec![("pageSize", limit.clamp(1, 100).to_string())];
            query.extend(status.map(|s| ("status", s)));
            let data = api
                .call(Method::GET, "/api/video/tasks", |r| r.query(&query))
                .await?;
            let items = data["items"].as_array().cloned().unwrap_or_default();
            for t in &items {
                if common.json {
                    println!("{t}");
                } else {
                    println!(
                        "{}  {:<10} {:>3}%  {}  {}",
                        t["videoId"].as_str().unwrap_or_default(),
                        t["status"].as_str().unwrap_or_default(),
                        t["progress"].as_i64().unwrap_or(0),
                        t["createdAt"].as_str().unwrap_or_default(),
                        t["prompt"]
                            .as_str()
                            .unwrap_or_default()
                            .chars()
                            .take(40)
                            .collect::<String>(),
                    );
                }
            }
            if !common.json {
                eprintln!(
                    "{} of {} tasks",
                    items.len(),
                    data["total"].as_i64().unwrap_or(0)
                );
            }
            Ok(exit::COMPLETED)
        }
    }
}

/// Follows `ids`, prints how each ended, and picks the exit code: failed beats cancelled
/// beats not found beats completed.
async fn watch(api: &mut Api, ids: &[String], json: bool) -> Result<i32, CliError> {
    let finals = follow(api, ids, json).await?;
    let mut code = exit::COMPLETED;
    for (id, f) in ids.iter().zip(&finals) {
        let (line, c) = match f {
            Final::Completed { url } => {
                let url = url.as_deref().map(|u| api.absolute(u)).unwrap_or_default();
                (format!("{id} completed {url}"), exit::COMPLETED)
            }
            Final::Failed { code, message } => {
                (format!("{id} failed {code}: {message}"), exit::FAILED)
            }
            Final::Cancelled => (format!("{id} cancelled"), exit::CANCELLED),
            Final::NotFound(why) => (format!("{id} refused: {why}"), exit::REFUSED),
        };
        if !json {
            println!("{line}");
        }
        code = worse(code, c);
    }
    Ok(code)
}

fn worse(a: i32, b: i32) -> i32 {
    let rank = |c: i32| match c {
        exit::FAILED => 3,
        exit::CANCELLED => 2,
        exit::REFUSED => 1,
        _ => 0,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

fn json_field(key: &str, value: &str) -> Value {
    match (key, value.parse::<i64>()) {
        ("seconds", Ok(n)) => json!(n),
        _ => json!(value),
    }
}

async fn create_with_image(
    api: &mut Api,
    fields: &[(&'static str, String)],
    path: &PathBuf,
) -> Result<Value, CliError> {
    let bytes = std::fs::read(path)
        .map_err(|e| CliError::new(exit::REFUSED, format!("reading {}: {e}", path.display())))?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let mime = match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        _ => {
            return Err(CliError::new(
                exit::REFUSED,
                "--image must be a .png, .jpg or .webp file",
            ))
        }
    };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("image")
        .to_string();
    api.call(Method::POST, "/api/video/tasks", |r| {
        let mut form = reqwest::multipart::Form::new();
        for (k, v) in fields {
            form = form.text(*k, v.clone());
        }
        let part = reqwest::multipart::Part::bytes(bytes.clone())
            .file_name(name.clone())
            .mime_str(mime)
            .unwrap_or_else(|_| reqwest::multipart::Part::bytes(bytes.clone()));
        r.multipart(form.part("image", part))
    })
    .await
}

fn read_password() -> Result<String, CliError> {
    eprint!("password: ");
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::new(exit::AUTH, format!("reading the password: {e}")))?;
    let p = line.trim_end_matches(['\r', '\n']).to_string();
    if p.is_empty() {
        return Err(CliError::new(exit::AUTH, "no password given"));
    }
    Ok(p)
}
