//! Files that hold secrets (the generated development JWT secret): written and kept readable
//! by their owner only (mode 0600 on Unix).

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

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use crate::config::{Secret, Settings};

    fn mode(path: &std::path::Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_generated_dev_secret_is_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Settings {
            data_dir: dir.path().to_path_buf(),
            ..Settings::default()
        };
        s.ensure_jwt_secret().unwrap();
        let path = dir.path().join("jwt_secret");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            s.jwt_secret.expose()
        );
    }

    #[test]
    fn an_existing_world_readable_secret_is_narrowed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwt_secret");
        let secret = "fake-secret-0123456789abcdef0123456789abcdef";
        std::fs::write(&path, secret).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut s = Settings {
            data_dir: dir.path().to_path_buf(),
            jwt_secret: Secret::default(),
            ..Settings::default()
        };
        s.ensure_jwt_secret().unwrap();
        assert_eq!(s.jwt_secret.expose(), secret);
        assert_eq!(mode(&path), 0o600);
        // A too-short file is replaced, and the new content is owner-only as well.
        std::fs::write(&path, "short").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        let mut s = Settings {
            data_dir: dir.path().to_path_buf(),
            ..Settings::default()
        };
        s.ensure_jwt_secret().unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_ne!(s.jwt_secret.expose(), "short");
    }
}
