use axum::http::HeaderValue;

use super::{CorsPolicy, CorsSettings, Origins};

fn settings(origins: &str, credentials: bool) -> CorsSettings {
    CorsSettings {
        cors_origins: origins.into(),
        cors_allow_credentials: credentials,
        ..CorsSettings::default()
    }
}

fn h(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap()
}

#[test]
fn exact_origins_only() {
    let p = CorsPolicy::new(
        &settings(" https://app.example, http://localhost:3000 ", true),
        true,
    )
    .unwrap();
    assert_eq!(
        p.origins,
        Origins::List(vec![h("https://app.example"), h("http://localhost:3000")])
    );
    assert!(p.credentials);
    for bad in [
        "https://app.example/",
        "https://app.example/path",
        "HTTPS://app.example",
        "https://App.example",
        "https://app.example:443",
        "ftp://app.example",
        "app.example",
        "null",
        "https://a.example,*",
    ] {
        let err = CorsPolicy::new(&settings(bad, false), false).unwrap_err();
        assert!(
            err.to_string().contains("TASKHUB_CORS_ORIGINS"),
            "{bad}: {err}"
        );
    }
    let hint = CorsPolicy::new(&settings("https://app.example/", false), false).unwrap_err();
    assert!(
        hint.to_string()
            .contains("did you mean https://app.example?"),
        "{hint}"
    );
}

#[test]
fn wildcard_never_carries_credentials() {
    let err = CorsPolicy::new(&settings("*", true), true).unwrap_err();
    assert!(
        err.to_string().contains("TASKHUB_CORS_ALLOW_CREDENTIALS"),
        "{err}"
    );
    let dev = CorsPolicy::new(&settings("*", true), false).unwrap();
    assert_eq!((dev.origins, dev.credentials), (Origins::Any, false));
    let prod = CorsPolicy::new(&settings("*", false), true).unwrap();
    assert!(prod.layer().is_some());
    let none = CorsPolicy::new(&settings("", false), true).unwrap();
    assert!(none.layer().is_none(), "no origins: no CORS headers at all");
}

#[test]
fn sockets_from_own_or_listed_origins_only() {
    let p = CorsPolicy::new(&settings("https://app.example", false), true).unwrap();
    let host = h("127.0.0.1:8080");
    let allows = |origin: Option<&str>, host: Option<&HeaderValue>| {
        p.allows_socket(origin.map(h).as_ref(), host)
    };
    assert!(allows(None, Some(&host)), "no Origin: not a browser");
    assert!(allows(Some("https://app.example"), Some(&host)));
    assert!(
        allows(Some("http://127.0.0.1:8080"), Some(&host)),
        "own origin"
    );
    assert!(
        allows(Some("https://hub.example"), Some(&h("HUB.example"))),
        "own, default port"
    );
    assert!(allows(Some("http://[::1]:8080"), Some(&h("[::1]:8080"))));
    for bad in [
        "https://evil.example",
        "http://127.0.0.1:8081",
        "null",
        "https://app.example.evil",
    ] {
        assert!(!allows(Some(bad), Some(&host)), "{bad}");
    }
    assert!(
        !allows(Some("http://127.0.0.1:8080"), None),
        "no Host: not provably own"
    );
    let any = CorsPolicy::new(&settings("*", false), true).unwrap();
    assert!(any.allows_socket(Some(&h("https://evil.example")), Some(&host)));
}
