//! Plans (`free`, `basic`, `pro`), their status and end date, and the checks a task creation
//! runs before any credit moves: plan allowed, plan active, not expired (the credit check
//! itself happens in the store, inside the creating transaction).

use super::BillingSettings;
use crate::domain::plans::Subscription;
use crate::error::ApiError;

impl BillingSettings {
    pub fn plan_can_generate(&self, plan: &str) -> bool {
        super::generating::Plan::parse(plan).is_some_and(|p| self.generating_plans.contains(p))
    }

    pub fn monthly_credits(&self, plan: &str) -> i64 {
        match plan {
            "basic" => self.basic_monthly_credits,
            "pro" => self.pro_monthly_credits,
            _ => self.free_monthly_credits,
        }
    }
}

/// The plan checks, in the order: allowed (403 `subscriptionRequired`), active
/// (403 `subscriptionRequired`, or `subscriptionExpired` when the status says expired), not
/// past its end date (403 `subscriptionExpired`).
pub fn check_can_generate(
    settings: &BillingSettings,
    sub: &Subscription,
    now: i64,
) -> Result<(), ApiError> {
    if !settings.plan_can_generate(&sub.plan) {
        let allowed = settings.generating_plans.to_string().replace(',', ", ");
        return Err(ApiError::Forbidden(
            "subscriptionRequired",
            format!(
                "the {} plan cannot generate videos; subscribe to one of: {allowed}",
                sub.plan
            ),
        ));
    }
    match sub.status.as_str() {
        "active" => {}
        "expired" => {
            return Err(ApiError::Forbidden(
                "subscriptionExpired",
                format!("your {} plan has expired; renew it to generate", sub.plan),
            ))
        }
        other => {
            return Err(ApiError::Forbidden(
                "subscriptionRequired",
                format!(
                    "your {} plan is {other}; reactivate it to generate",
                    sub.plan
                ),
            ))
        }
    }
    if let Some(end) = sub.ends_at.filter(|&end| end <= now) {
        return Err(ApiError::Forbidden(
            "subscriptionExpired",
            format!(
                "your {} plan ended at {}; renew it to generate",
                sub.plan,
                crate::domain::time::rfc3339(end)
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(plan: &str, status: &str, ends_at: Option<i64>) -> Subscription {
        Subscription {
            plan: plan.into(),
            status: status.into(),
            ends_at,
        }
    }

    fn code(r: Result<(), ApiError>) -> &'static str {
        match r {
            Ok(()) => "ok",
            Err(e) => e.code(),
        }
    }

    #[test]
    fn default_lets_free_generate_and_seed_setting_does_not() {
        let mut s = BillingSettings::default();
        assert_eq!(
            code(check_can_generate(&s, &sub("free", "active", None), 0)),
            "ok"
        );
        s.generating_plans = "basic,pro".parse().unwrap();
        assert_eq!(
            code(check_can_generate(&s, &sub("free", "active", None), 0)),
            "subscriptionRequired"
        );
        assert_eq!(
            code(check_can_generate(&s, &sub("pro", "active", None), 0)),
            "ok"
        );
    }

    #[test]
    fn checks_run_in_order() {
        let s = BillingSettings {
            generating_plans: "basic".parse().unwrap(),
            ..Default::default()
        };
        // Not allowed wins over cancelled and over expired.
        assert_eq!(
            code(check_can_generate(&s, &sub("free", "expired", Some(1)), 10)),
            "subscriptionRequired"
        );
        // Inactive wins over past its end date.
        assert_eq!(
            code(check_can_generate(
                &s,
                &sub("basic", "cancelled", Some(1)),
                10
            )),
            "subscriptionRequired"
        );
        assert_eq!(
            code(check_can_generate(&s, &sub("basic", "expired", None), 10)),
            "subscriptionExpired"
        );
        assert_eq!(
            code(check_can_generate(
                &s,
                &sub("basic", "active", Some(10)),
                10
            )),
            "subscriptionExpired"
        );
        assert_eq!(
            code(check_can_generate(
                &s,
                &sub("basic", "active", Some(11)),
                10
            )),
            "ok"
        );
    }
}
