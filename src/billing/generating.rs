//! Which plans may generate videos (`TASKHUB_GENERATING_PLANS`): the [`Plan`] names and the
//! comma-separated list of them the setting holds. A name that is not a plan is refused when
//! the settings are read, with the allowed names.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A subscription plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Plan {
    Free,
    Basic,
    Pro,
}

impl Plan {
    pub const ALL: [Plan; 3] = [Plan::Free, Plan::Basic, Plan::Pro];

    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Basic => "basic",
            Plan::Pro => "pro",
        }
    }

    /// The plan named `s` (any case), if there is one.
    pub fn parse(s: &str) -> Option<Plan> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

/// The plans allowed to generate, in the order given, without repeats.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct GeneratingPlans(Vec<Plan>);

impl GeneratingPlans {
    pub fn contains(&self, plan: Plan) -> bool {
        self.0.contains(&plan)
    }

    pub fn plans(&self) -> &[Plan] {
        &self.0
    }
}

impl Default for GeneratingPlans {
    fn default() -> Self {
        Self(Plan::ALL.to_vec())
    }
}

impl FromStr for GeneratingPlans {
    type Err = String;
    /// `basic,pro`; empty items are skipped, so an empty list lets no plan generate.
    fn from_str(s: &str) -> Result<Self, String> {
        let mut plans = Vec::new();
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let plan = Plan::parse(name).ok_or_else(|| {
                format!(
                    "TASKHUB_GENERATING_PLANS: `{name}` is not a plan; allowed: free, basic, pro"
                )
            })?;
            if !plans.contains(&plan) {
                plans.push(plan);
            }
        }
        Ok(Self(plans))
    }
}

impl TryFrom<String> for GeneratingPlans {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<GeneratingPlans> for String {
    fn from(p: GeneratingPlans) -> String {
        p.to_string()
    }
}

/// `free,basic,pro`, as the setting is written.
impl fmt::Display for GeneratingPlans {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|p| p.as_str()).collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_and_refuses_unknown_plans() {
        let p: GeneratingPlans = " Basic , pro,,basic".parse().unwrap();
        assert_eq!(p.plans(), [Plan::Basic, Plan::Pro]);
        assert!(!p.contains(Plan::Free));
        assert_eq!(p.to_string(), "basic,pro");
        assert_eq!(GeneratingPlans::default().to_string(), "free,basic,pro");
        assert!("".parse::<GeneratingPlans>().unwrap().plans().is_empty());
        let err = "basic,gold".parse::<GeneratingPlans>().unwrap_err();
        assert!(
            err.contains("TASKHUB_GENERATING_PLANS") && err.contains("`gold`"),
            "{err}"
        );
        assert!(err.contains("free, basic, pro"), "{err}");
    }
}
