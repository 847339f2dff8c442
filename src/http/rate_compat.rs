//! The rate classes of the compat adapters' routes, which live outside `/api/` (the Sora 2
//! API under its prefix): the same classes as their native counterparts, so the abuse limits
//! protect them too.
//!
//! | class | Sora 2 routes (after `{prefix}/api/`) |
//! |---|---|
//! | auth | `auth/*` except `me` and `logout` |
//! | task creation | `POST videos/text-to-video`, `POST videos/image-to-video`, `POST tasks/{id}/retry` |
//! | task queries | `GET videos/tasks/…`, `GET tasks/…` |
//! | public reads | `GET showcase/…` |
//! | not limited | `payments/webhook/stripe` (signed by Stripe, which retries) |
//! | other | everything else under the prefix |
//!
//! The AdsVideo adapter sits under `/api/v1/`, so `super::rate::classify` hands those paths
//! to [`classify_adsvideo`]:
//!
//! | class | AdsVideo routes (after `/api/v1/`) |
//! |---|---|
//! | auth | `auth/google`, `auth/refresh` |
//! | task creation | `POST videos/generate`, `POST videos/{id}/retry` |
//! | task queries | `GET videos`, `GET videos/{id}` |
//! | public reads | `GET videos/models/list`, `GET users/recent`, `GET showcase/…` |
//! | other | everything else (`upload/image`; `upload/validate`, unauthenticated, per address) |

use axum::http::Method;

use super::rate::Class;

/// The class of a request to the Sora 2 adapter mounted at `prefix`, or `None` when the
/// path is not under it or is not limited.
pub fn classify_sora2(method: &Method, path: &str, prefix: &str) -> Option<Class> {
    let under = path.strip_prefix(prefix)?;
    if !(under.is_empty() || under.starts_with('/')) {
        return None;
    }
    let Some(rest) = under.strip_prefix("/api/") else {
        return Some(Class::Other);
    };
    if rest == "payments/webhook/stripe" {
        return None;
    }
    if let Some(auth) = rest.strip_prefix("auth/") {
        return Some(match auth {
            "me" | "logout" => Class::Other,
            _ => Class::Auth,
        });
    }
    let read = *method == Method::GET || *method == Method::HEAD;
    if *method == Method::POST {
        let retry = rest.starts_with("tasks/") && rest.ends_with("/retry");
        if retry || rest == "videos/text-to-video" || rest == "videos/image-to-video" {
            return Some(Class::TaskCreate);
        }
    }
    if read && (rest.starts_with("videos/tasks/") || rest.starts_with("tasks/")) {
        return Some(Class::TaskQuery);
    }
    if read && rest.starts_with("showcase/") {
        return Some(Class::PublicRead);
    }
    Some(Class::Other)
}

/// The class of a request to the AdsVideo adapter, `rest` being the path after `/api/v1/`.
pub fn classify_adsvideo(method: &Method, rest: &str) -> Class {
    let read = *method == Method::GET || *method == Method::HEAD;
    let post = *method == Method::POST;
    match rest.trim_end_matches('/') {
        "auth/google" | "auth/refresh" => Class::Auth,
        "videos/generate" if post => Class::TaskCreate,
        "videos/models/list" | "users/recent" if read => Class::PublicRead,
        p if read && p.starts_with("showcase/") => Class::PublicRead,
        p if post && p.starts_with("videos/") && p.ends_with("/retry") => Class::TaskCreate,
        p if read && (p == "videos" || p.starts_with("videos/")) => Class::TaskQuery,
        _ => Class::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adsvideo_paths_get_their_native_counterparts_classes() {
        let c = |m: Method, path: &str| super::super::rate::classify(&m, path);
        assert_eq!(c(Method::POST, "/api/v1/auth/google"), Some(Class::Auth));
        assert_eq!(c(Method::POST, "/api/v1/auth/refresh"), Some(Class::Auth));
        assert_eq!(c(Method::GET, "/api/v1/auth/me"), Some(Class::Other));
        assert_eq!(c(Method::POST, "/api/v1/auth/logout"), Some(Class::Other));
        let create = Some(Class::TaskCreate);
        assert_eq!(c(Method::POST, "/api/v1/videos/generate"), create);
        assert_eq!(c(Method::POST, "/api/v1/videos/12/retry"), create);
        let query = Some(Class::TaskQuery);
        assert_eq!(c(Method::GET, "/api/v1/videos"), query);
        assert_eq!(c(Method::GET, "/api/v1/videos/12"), query);
        assert_eq!(c(Method::DELETE, "/api/v1/videos/12"), Some(Class::Other));
        let public = Some(Class::PublicRead);
        assert_eq!(c(Method::GET, "/api/v1/videos/models/list"), public);
        assert_eq!(c(Method::GET, "/api/v1/users/recent"), public);
        assert_eq!(c(Method::GET, "/api/v1/showcase/featured"), public);
        assert_eq!(c(Method::GET, "/api/v1/users/profile"), Some(Class::Other));
        assert_eq!(c(Method::POST, "/api/v1/upload/image"), Some(Class::Other));
        assert_eq!(
            c(Method::POST, "/api/v1/upload/validate"),
            Some(Class::Other)
        );
    }

    #[test]
    fn sora2_paths_get_their_native_counterparts_classes() {
        let p = "/compat/sora2";
        let c = |m: Method, path: &str| classify_sora2(&m, path, p);
        assert_eq!(
            c(Method::POST, "/compat/sora2/api/auth/google/login"),
            Some(Class::Auth)
        );
        assert_eq!(
            c(Method::POST, "/compat/sora2/api/auth/test/login"),
            Some(Class::Auth)
        );
        assert_eq!(
            c(Method::GET, "/compat/sora2/api/auth/me"),
            Some(Class::Other)
        );
        let create = Some(Class::TaskCreate);
        assert_eq!(
            c(Method::POST, "/compat/sora2/api/videos/text-to-video"),
            create
        );
        assert_eq!(
            c(Method::POST, "/compat/sora2/api/videos/image-to-video"),
            create
        );
        assert_eq!(
            c(Method::POST, "/compat/sora2/api/tasks/video_x/retry"),
            create
        );
        let query = Some(Class::TaskQuery);
        assert_eq!(
            c(Method::GET, "/compat/sora2/api/videos/tasks/video_x"),
            query
        );
        assert_eq!(c(Method::GET, "/compat/sora2/api/tasks/user/tasks"), query);
        assert_eq!(
            c(Method::DELETE, "/compat/sora2/api/tasks/video_x"),
            Some(Class::Other)
        );
        assert_eq!(
            c(Method::GET, "/compat/sora2/api/showcase/videos"),
            Some(Class::PublicRead)
        );
        assert_eq!(
            c(Method::POST, "/compat/sora2/api/payments/webhook/stripe"),
            None
        );
        assert_eq!(c(Method::GET, "/compat/sora2/anything"), Some(Class::Other));
        assert_eq!(c(Method::GET, "/compat/sora2x/api/auth/me"), None);
        assert_eq!(c(Method::GET, "/api/auth/me"), None);
    }
}
