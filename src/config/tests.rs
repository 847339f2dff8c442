//! Reading settings: defaults < file < environment, every module's settings reached by its
//! variables, bad choices refused with the variable and the allowed values, secrets kept out
//! of `Debug`, and the JWT secret rules.

use super::*;

#[test]
fn secrets_are_redacted_in_debug() {
    let s = Settings {
        jwt_secret: Secret::new("fake-secret-do-not-print"),
        ..Settings::default()
    };
    let dbg = format!("{s:?}");
    assert!(!dbg.contains("fake-secret-do-not-print"), "{dbg}");
    assert!(dbg.contains("[redacted]"));
}

#[test]
fn production_refuses_a_weak_secret() {
    let mut s = Settings {
        env: Environment::Production,
        jwt_secret: Secret::new("short"),
        ..Settings::default()
    };
    assert!(s.ensure_jwt_secret().is_err());
    s.jwt_secret = Secret::new("x".repeat(40));
    assert!(s.ensure_jwt_secret().is_ok());
}

#[test]
#[allow(clippy::result_large_err)]
fn file_then_env_override_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.toml");
    std::fs::write(&file, "addr = \"127.0.0.1:9000\"\nmax_prompt_chars = 10\n").unwrap();
    figment::Jail::expect_with(|jail| {
        jail.set_env("TASKHUB_MAX_PROMPT_CHARS", "20");
        let s: Settings = Settings::figment(&file).extract()?;
        assert_eq!(s.addr.port(), 9000);
        assert_eq!(s.max_prompt_chars, 20);
        Ok(())
    });
}

/// The variables of the old `PollerSettings` keep their names now that they live in the
/// poller, provider, media, webhook and upload settings.
#[test]
#[allow(clippy::result_large_err)]
fn poller_provider_media_webhook_and_upload_settings_come_from_env() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("none.toml");
    figment::Jail::expect_with(|jail| {
        jail.set_env("TASKHUB_POLLER", "false");
        jail.set_env("TASKHUB_POLL_INTERVAL_MS", "750");
        jail.set_env("TASKHUB_LEASE_MS", "9000");
        jail.set_env("TASKHUB_PROVIDER", "openai");
        jail.set_env("TASKHUB_SIMULATOR_SECONDS", "2");
        jail.set_env("TASKHUB_PROVIDER_MAX_RETRIES", "5");
        jail.set_env("OPENAI_BASE_URL", "https://gateway.example.com/v1");
        jail.set_env("OPENAI_API_KEY", "123456");
        jail.set_env("TASKHUB_MEDIA_COPY", "false");
        jail.set_env("TASKHUB_MEDIA_BASE_URL", "https://cdn.example.com");
        jail.set_env("TASKHUB_WEBHOOK_TIMEOUT_MS", "1234");
        jail.set_env("TASKHUB_WEBHOOK_SECRET", "987654");
        jail.set_env("TASKHUB_REFERENCE_FETCH_TIMEOUT_MS", "4321");
        jail.set_env("TASKHUB_UPLOAD_ORPHAN_GRACE_SECS", "77");
        jail.set_env("TASKHUB_ALLOW_PRIVATE_URLS", "false");
        jail.set_env("TASKHUB_LOG_FORMAT", "json");
        let s: Settings = Settings::figment(&file).extract()?;
        let p = &s.poller;
        assert!(!p.enabled);
        assert_eq!((p.poll_interval_ms, p.lease_ms), (750, 9000));
        let pr = &s.providers;
        assert_eq!(
            pr.provider,
            crate::providers::settings::ProviderKind::OpenAi
        );
        assert_eq!(pr.simulator_seconds, 2.0);
        assert_eq!(pr.provider_max_retries, 5);
        assert_eq!(pr.openai_base_url, "https://gateway.example.com/v1");
        assert_eq!(pr.openai_api_key.expose(), "123456");
        assert!(!s.media.media_copy);
        assert_eq!(
            s.media.media_base_url.as_deref(),
            Some("https://cdn.example.com")
        );
        assert_eq!(s.webhooks.webhook_timeout_ms, 1234);
        assert_eq!(s.webhooks.webhook_secret.expose(), "987654");
        assert_eq!(s.uploads.reference_fetch_timeout_ms, 4321);
        assert_eq!(s.uploads.upload_orphan_grace_secs, 77);
        assert!(!s.private_urls_allowed());
        assert_eq!(s.log_format, LogFormat::Json);
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("123456") && !dbg.contains("987654"), "{dbg}");
        Ok(())
    });
}

/// The split structs read from `taskhub.toml` too, and the environment still wins.
#[test]
#[allow(clippy::result_large_err)]
fn the_file_reaches_every_settings_struct() {
    figment::Jail::expect_with(|jail| {
        jail.create_file(
            "taskhub.toml",
            "lease_ms = 5000\nprovider = \"openai\"\nmedia_url_ttl_secs = 60\n\
             webhook_timeout_ms = 3000\nupload_sweep_interval_secs = 9\nlog_format = \"json\"\n\
             generating_plans = \"pro\"\nws_max_subscriptions = 3\n",
        )?;
        jail.set_env("TASKHUB_MEDIA_URL_TTL_SECS", "120");
        let s = Settings::load().map_err(|e| format!("{e:#}"))?;
        assert_eq!(s.poller.lease_ms, 5000);
        assert_eq!(s.providers.provider.as_str(), "openai");
        assert_eq!(s.media.media_url_ttl_secs, 120, "env over file");
        assert_eq!(s.webhooks.webhook_timeout_ms, 3000);
        assert_eq!(s.uploads.upload_sweep_interval_secs, 9);
        assert_eq!(s.log_format, LogFormat::Json);
        assert_eq!(s.billing.generating_plans.to_string(), "pro");
        assert_eq!(s.hub.ws_max_subscriptions, 3);
        assert_eq!(
            s.poller.poll_interval_ms, 2000,
            "others keep their defaults"
        );
        Ok(())
    });
}

#[test]
#[allow(clippy::result_large_err)]
fn a_bad_choice_names_the_variable_and_the_allowed_values() {
    let cases = [
        ("TASKHUB_PROVIDER", "sora", "simulator, openai or callback"),
        ("TASKHUB_LOG_FORMAT", "xml", "pretty or json"),
        ("TASKHUB_GENERATING_PLANS", "basic,gold", "free, basic, pro"),
    ];
    for (var, value, allowed) in cases {
        figment::Jail::expect_with(|jail| {
            jail.set_env(var, value);
            let err = format!("{:#}", Settings::load().unwrap_err());
            assert!(err.contains(var) && err.contains(allowed), "{err}");
            Ok(())
        });
    }
}

#[test]
#[allow(clippy::result_large_err)]
fn file_and_env_reach_billing_settings() {
    figment::Jail::expect_with(|jail| {
        jail.create_file(
            "billing.toml",
            "[[credit_packages]]\nid = \"mini\"\nname = \"Mini\"\ncredits = 10\nprice_minor = 100\n",
        )?;
        jail.set_env("TASKHUB_CONFIG", "billing.toml");
        jail.set_env("TASKHUB_SIGNUP_BONUS_CREDITS", "250");
        jail.set_env("TASKHUB_GENERATING_PLANS", "basic,pro");
        jail.set_env("TASKHUB_PRICE_IMAGE_HD", "50");
        jail.set_env("TASKHUB_API_KEYS", "false");
        jail.set_env("STRIPE_API_BASE", "http://127.0.0.1:9");
        jail.set_env("STRIPE_SECRET_KEY", "sk_test_fake");
        jail.set_env("STRIPE_WEBHOOK_SECRET", "whsec_fake");
        let s = Settings::load().expect("settings");
        let b = &s.billing;
        assert_eq!(b.credit_packages.len(), 1);
        assert_eq!(b.credit_packages[0].id, "mini");
        assert_eq!(b.signup_bonus_credits, 250);
        assert_eq!(b.generating_plans.to_string(), "basic,pro");
        assert!(!b.plan_can_generate("free"));
        assert_eq!(b.price_image_hd, 50);
        assert_eq!(b.price_text_standard, 20, "untouched defaults stay");
        assert!(!b.api_keys);
        assert_eq!(b.stripe_api_base, "http://127.0.0.1:9");
        assert_eq!(b.stripe_secret_key.expose(), "sk_test_fake");
        assert_eq!(b.stripe_webhook_secret.expose(), "whsec_fake");
        assert!(
            !format!("{s:?}").contains("sk_test_fake"),
            "secret redacted"
        );
        Ok(())
    });
}

#[test]
#[allow(clippy::result_large_err)]
fn env_overrides_reach_the_hub_settings() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("TASKHUB_WS_MAX_SUBSCRIPTIONS", "7");
        jail.set_env("TASKHUB_SHUTDOWN_GRACE_MS", "1234");
        jail.set_env("TASKHUB_WS_COALESCE_PROGRESS", "false");
        jail.set_env("TASKHUB_WS_MAX_UNAUTHENTICATED_PER_IP", "5");
        jail.set_env("TASKHUB_WS_LINGER_BYTES", "4096");
        let s = Settings::load().map_err(|e| e.to_string())?;
        assert_eq!(s.hub.ws_max_subscriptions, 7);
        assert_eq!(s.hub.shutdown_grace_ms, 1234);
        assert!(!s.hub.ws_coalesce_progress);
        assert_eq!(
            (s.hub.ws_max_unauthenticated_per_ip, s.hub.ws_linger_bytes),
            (5, 4096)
        );
        assert_eq!(
            s.hub.ws_auth_timeout_ms, 10_000,
            "others keep their defaults"
        );
        Ok(())
    });
}

#[test]
#[allow(clippy::result_large_err)]
fn env_overrides_reach_the_http_settings() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("TASKHUB_HTTP_MAX_CONNECTIONS", "7");
        jail.set_env("TASKHUB_RATE_AUTH_PER_MIN", "3");
        jail.set_env("TASKHUB_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1");
        jail.set_env("TASKHUB_HASH_QUEUE_TIMEOUT_MS", "250");
        let s = Settings::load().map_err(|e| e.to_string())?;
        assert_eq!(s.http.http_max_connections, 7);
        assert_eq!(s.http.rate_auth_per_min, 3);
        assert_eq!(s.http.trusted_proxies, "10.0.0.0/8, 127.0.0.1");
        assert_eq!(s.http.hash_queue_timeout_ms, 250);
        assert_eq!(s.http.rate_task_query_per_min, 60);
        Ok(())
    });
}

#[cfg(unix)]
mod secret_file {
    use std::os::unix::fs::PermissionsExt;

    use crate::config::Settings;
    use crate::secret::Secret;

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

#[test]
#[allow(clippy::result_large_err)]
fn the_pool_size_defaults_by_store_and_the_setting_wins() {
    let mut s = Settings::default();
    assert_eq!(s.db_pool_size(), 4, "SQLite (the data dir's file)");
    s.database_url = Some("postgres://postgres@127.0.0.1:5432/test".into());
    assert_eq!(s.db_pool_size(), 10, "PostgreSQL");
    s.db_max_connections = Some(3);
    assert_eq!(s.db_pool_size(), 3);
    figment::Jail::expect_with(|jail| {
        jail.set_env("TASKHUB_DB_MAX_CONNECTIONS", "7");
        let none = jail.directory().join("none.toml");
        let s: Settings = Settings::figment(&none).extract()?;
        assert_eq!(s.db_max_connections, Some(7));
        Ok(())
    });
}
