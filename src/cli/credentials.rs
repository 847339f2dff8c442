//! The client's stored login: one entry per server URL (refresh token, and the current
//! access token with its expiry, so commands run in a row do not rotate the refresh token
//! each time) in `credentials.json` under the config dir, written with mode 0600.
//!
//! The config dir is `$TASKHUB_CONFIG_DIR`, else `$XDG_CONFIG_HOME/taskhub`, else
//! `~/.config/taskhub`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{exit, CliError};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Login {
    pub user: String,
    pub refresh_token: String,
    #[serde(default)]
    pub access_token: Option<String>,
    /// Unix seconds.
    #[serde(default)]
    pub access_expires_at: Option<i64>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    #[serde(default)]
    servers: BTreeMap<String, Login>,
}

pub fn config_dir() -> Result<PathBuf, CliError> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(dir) = env("TASKHUB_CONFIG_DIR") {
        return Ok(PathBuf::from(dir));
    }
    if let Some(xdg) = env("XDG_CONFIG_HOME") {
        return Ok(PathBuf::from(xdg).join("taskhub"));
    }
    match env("HOME") {
        Some(home) => Ok(PathBuf::from(home).join(".config").join("taskhub")),
        None => Err(CliError::new(
            exit::AUTH,
            "no config dir: set TASKHUB_CONFIG_DIR, XDG_CONFIG_HOME or HOME",
        )),
    }
}

fn path() -> Result<PathBuf, CliError> {
    Ok(config_dir()?.join("credentials.json"))
}

fn read_file() -> Result<File, CliError> {
    let path = path()?;
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| {
            CliError::new(exit::AUTH, format!("{} is not valid: {e}", path.display()))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(File::default()),
        Err(e) => Err(CliError::unavailable(format!(
            "reading {}: {e}",
            path.display()
        ))),
    }
}

/// The stored login for `server`, if any.
pub fn load(server: &str) -> Result<Option<Login>, CliError> {
    Ok(read_file()?.servers.remove(server))
}

/// Stores (or replaces) the login for `server`; the file is created with mode 0600 and
/// replaced atomically.
pub fn save(server: &str, login: &Login) -> Result<PathBuf, CliError> {
    let mut file = read_file()?;
    file.servers.insert(server.to_string(), login.clone());
    let path = path()?;
    let io = |e: std::io::Error| CliError::unavailable(format!("writing {}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let text = serde_json::to_string_pretty(&file)
        .map_err(|e| CliError::unavailable(format!("encoding credentials: {e}")))?;
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp).map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(io)?;
        }
        f.write_all(text.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, &path).map_err(io)?;
    Ok(path)
}
