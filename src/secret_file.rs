//! Files that hold secrets (the generated development JWT secret): written and kept readable
//! by their owner only (mode 0600 on Unix). Tested through `Settings::ensure_jwt_secret`
//! (`config/tests.rs`).

use std::path::Path;

use anyhow::Context;

/// Writes `content` to `path`, created with mode 0600; an existing file is narrowed first.
pub fn write(path: &Path, content: &str) -> anyhow::Result<()> {
    use std::io::Write;
    if path.exists() {
        restrict(path)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut file = opts
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(content.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// Narrows an existing secret file to mode 0600.
pub fn restrict(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("restricting {}", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}
