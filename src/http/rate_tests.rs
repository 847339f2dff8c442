use std::time::Duration;

use axum::http::Method;
use governor::clock::FakeRelativeClock;

use super::*;

#[test]
fn routes_fall_into_their_classes() {
    let c = |m: Method, p: &str| classify(&m, p);
    assert_eq!(c(Method::POST, "/api/auth/login"), Some(Class::Auth));
    assert_eq!(c(Method::POST, "/api/auth/register"), Some(Class::Auth));
    assert_eq!(c(Method::POST, "/api/auth/refresh"), Some(Class::Auth));
    assert_eq!(c(Method::GET, "/api/auth/test/login"), Some(Class::Auth));
    assert_eq!(c(Method::GET, "/api/auth/me"), Some(Class::Other));
    assert_eq!(c(Method::POST, "/api/auth/logout"), Some(Class::Other));
    assert_eq!(c(Method::POST, "/api/video/tasks"), Some(Class::TaskCreate));
    assert_eq!(
        c(Method::POST, "/api/video/tasks/"),
        Some(Class::TaskCreate)
    );
    assert_eq!(
        c(Method::POST, "/api/video/tasks/abc/retry"),
        Some(Class::TaskCreate)
    );
    assert_eq!(
        c(Method::POST, "/api/video/tasks/abc/remix"),
        Some(Class::TaskCreate)
    );
    assert_eq!(
        c(Method::POST, "/api/video/tasks/abc/cancel"),
        Some(Class::Other)
    );
    assert_eq!(
        c(Method::DELETE, "/api/video/tasks/abc"),
        Some(Class::Other)
    );
    assert_eq!(c(Method::GET, "/api/video/tasks"), Some(Class::TaskQuery));
    assert_eq!(
        c(Method::GET, "/api/video/tasks/abc/events"),
        Some(Class::TaskQuery)
    );
    assert_eq!(c(Method::GET, "/api/video/tasksx"), Some(Class::Other));
    assert_eq!(c(Method::GET, "/api/video/models"), Some(Class::Other));
    assert_eq!(c(Method::GET, "/api/users/credits"), Some(Class::Other));
    for public in [
        "/api/showcase/videos",
        "/api/showcase/videos/sc_1",
        "/api/showcase/featured",
        "/api/users/recent",
        "/api/auth/google/config",
    ] {
        assert_eq!(c(Method::GET, public), Some(Class::PublicRead), "{public}");
    }
    assert_eq!(c(Method::POST, "/api/auth/google"), Some(Class::Auth));
    for hook in ["/api/providers/openai/webhook", "/api/providers/callback/x"] {
        assert_eq!(
            c(Method::POST, hook),
            Some(Class::ProviderCallback),
            "{hook}"
        );
    }
    assert_eq!(c(Method::POST, "/api/showcase/videos"), Some(Class::Other));
    assert_eq!(
        c(Method::GET, "/api/admin/showcase/videos"),
        Some(Class::Other)
    );
    for free in [
        "/health",
        "/ready",
        "/",
        "/ws",
        "/docs",
        "/openapi.json",
        "/media/x.mp4",
        "/test-pages/qa.html",
        "/simulator/v1/videos",
        "/api/payments/webhook/stripe",
    ] {
        assert_eq!(c(Method::GET, free), None, "{free}");
        assert_eq!(c(Method::POST, free), None, "{free}");
    }
}

#[test]
fn ipv6_clients_are_keyed_by_their_64() {
    let a = Key::ip("2001:db8:1:2:aaaa::1".parse().unwrap());
    let b = Key::ip("2001:db8:1:2:bbbb::9".parse().unwrap());
    let other = Key::ip("2001:db8:1:3::1".parse().unwrap());
    assert_eq!(a, b);
    assert_ne!(a, other);
    let mapped = Key::ip("::ffff:192.0.2.7".parse().unwrap());
    assert_eq!(mapped, Key::ip("192.0.2.7".parse().unwrap()));
}

#[test]
fn a_quota_allows_its_burst_then_says_how_long_to_wait() {
    let clock = FakeRelativeClock::default();
    let l = ClassLimiter::new(5, clock.clone()).unwrap();
    let k = Key::User("u1".into());
    let left: Vec<u32> = (0..5).map(|_| l.check(&k).unwrap()).collect();
    assert_eq!(left, vec![4, 3, 2, 1, 0]);
    let wait = l.check(&k).unwrap_err();
    assert!(
        wait > Duration::from_secs(11) && wait <= Duration::from_secs(12),
        "{wait:?}"
    );
    // Another key has its own quota.
    assert_eq!(l.check(&Key::User("u2".into())), Ok(4));
    // One request comes back every 60 s / 5.
    clock.advance(Duration::from_secs(12));
    assert_eq!(l.check(&k), Ok(0));
    assert!(l.check(&k).is_err());
    assert!(ClassLimiter::new(0, clock).is_none(), "0 means no limit");
}

#[test]
fn idle_keys_are_pruned() {
    let clock = FakeRelativeClock::default();
    let l = ClassLimiter::new(10, clock.clone()).unwrap();
    for i in 0..100 {
        l.check(&Key::User(format!("u{i}"))).unwrap();
    }
    assert_eq!(l.keys(), 100);
    l.prune();
    assert_eq!(l.keys(), 100, "keys used within the window stay");
    clock.advance(Duration::from_secs(61));
    l.prune();
    assert_eq!(l.keys(), 0);
}
