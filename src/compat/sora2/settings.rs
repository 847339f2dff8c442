//! Settings of the Sora 2 platform API adapter. Flattened into `config::Settings`.

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Sora2Settings {
    /// Where the adapter is mounted (its paths, `/api/auth/...`, collide with the native
    /// ones, so it cannot be mounted at the root: an empty prefix is refused at startup).
    pub compat_sora2_prefix: String,
    /// Comma-separated deployment keys accepted in `X-API-Key` where the reference requires
    /// an API key (a frontend sends one configured key). Empty: the check is off.
    pub compat_sora2_api_keys: Secret,
    /// `estimated_time` of a new task, in seconds (the reference's 180).
    pub compat_sora2_estimated_secs: u64,
    /// `credit_value_rmb` of the packages answer: what one credit is worth in the currency.
    pub compat_sora2_credit_value: f64,
}

impl Default for Sora2Settings {
    fn default() -> Self {
        Self {
            compat_sora2_prefix: "/compat/sora2".into(),
            compat_sora2_api_keys: Secret::default(),
            compat_sora2_estimated_secs: 180,
            compat_sora2_credit_value: 0.1,
        }
    }
}

impl Sora2Settings {
    /// The prefix, or why it cannot be used: it must start with `/`, not end with one, and
    /// hold only URL path characters (letters, digits, `-`, `_`, `.`, `/`).
    pub fn checked_prefix(&self) -> anyhow::Result<&str> {
        let p = self.compat_sora2_prefix.as_str();
        let chars_ok = p
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
        if p.is_empty() || p == "/" {
            anyhow::bail!(
                "TASKHUB_COMPAT_SORA2_PREFIX must not be empty: the Sora 2 API's paths \
                 (/api/auth/..., /api/tasks/...) collide with taskhub's own; use e.g. /compat/sora2"
            );
        }
        if !p.starts_with('/') || p.ends_with('/') || !chars_ok || p.contains("//") {
            anyhow::bail!(
                "TASKHUB_COMPAT_SORA2_PREFIX must look like /compat/sora2 (a leading /, no \
                 trailing /, letters, digits, - _ . only); got {p:?}"
            );
        }
        if p == "/api" || p.starts_with("/api/") {
            anyhow::bail!(
                "TASKHUB_COMPAT_SORA2_PREFIX must not be under /api (taskhub's own routes)"
            );
        }
        Ok(p)
    }

    /// The deployment keys (empty: the check is off).
    pub fn api_keys(&self) -> Vec<&str> {
        self.compat_sora2_api_keys
            .expose()
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        let with = |p: &str| Sora2Settings {
            compat_sora2_prefix: p.into(),
            ..Default::default()
        };
        assert_eq!(
            with("/compat/sora2").checked_prefix().unwrap(),
            "/compat/sora2"
        );
        assert!(with("/sora").checked_prefix().is_ok());
        for bad in [
            "",
            "/",
            "sora",
            "/sora/",
            "/a b",
            "/api",
            "/api/sora",
            "//x",
        ] {
            assert!(with(bad).checked_prefix().is_err(), "{bad:?}");
        }
        let e = with("").checked_prefix().unwrap_err().to_string();
        assert!(e.contains("must not be empty"), "{e}");
    }

    #[test]
    fn keys_are_a_trimmed_list() {
        let s = Sora2Settings {
            compat_sora2_api_keys: Secret::new(" a-FAKE , ,b-FAKE"),
            ..Default::default()
        };
        assert_eq!(s.api_keys(), vec!["a-FAKE", "b-FAKE"]);
        assert!(Sora2Settings::default().api_keys().is_empty());
    }
}
