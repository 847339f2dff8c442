//! What a task costs (kind × quality, in credits) and what credit packages sell for.
//!
//! Money is kept in the currency's minor unit (fen, cents) as an integer everywhere; only
//! JSON shows it as a decimal (`9.9`).

use serde::{Deserialize, Serialize};

use super::BillingSettings;

/// A package of credits for sale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct CreditPackage {
    pub id: String,
    pub name: String,
    pub credits: i64,
    /// Price in the currency's minor unit (990 = 9.90).
    pub price_minor: i64,
}

pub fn default_packages() -> Vec<CreditPackage> {
    [
        ("trial", "Trial", 100, 990),
        ("standard", "Standard", 500, 4900),
        ("value", "Value", 1200, 9900),
        ("premium", "Premium", 3000, 19900),
    ]
    .into_iter()
    .map(|(id, name, credits, price_minor)| CreditPackage {
        id: id.into(),
        name: name.into(),
        credits,
        price_minor,
    })
    .collect()
}

impl BillingSettings {
    /// Credits a task of `kind` (`textToVideo`, `imageToVideo`) and `quality` costs.
    pub fn task_price(&self, kind: &str, quality: &str) -> i64 {
        match (kind, quality) {
            ("imageToVideo", "hd") => self.price_image_hd,
            ("imageToVideo", _) => self.price_image_standard,
            (_, "hd") => self.price_text_hd,
            _ => self.price_text_standard,
        }
    }

    pub fn package(&self, id: &str) -> Option<&CreditPackage> {
        self.credit_packages.iter().find(|p| p.id == id)
    }

    pub fn currency_upper(&self) -> String {
        self.payment_currency.to_ascii_uppercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_follow_kind_and_quality() {
        let s = BillingSettings::default();
        assert_eq!(s.task_price("textToVideo", "standard"), 20);
        assert_eq!(s.task_price("textToVideo", "hd"), 30);
        assert_eq!(s.task_price("imageToVideo", "standard"), 25);
        assert_eq!(s.task_price("imageToVideo", "hd"), 35);
    }

    #[test]
    fn packages_and_money() {
        let s = BillingSettings::default();
        let got: Vec<_> = s
            .credit_packages
            .iter()
            .map(|p| {
                (
                    p.id.as_str(),
                    p.credits,
                    crate::domain::money::to_major(p.price_minor, "CNY"),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("trial", 100, 9.9),
                ("standard", 500, 49.0),
                ("value", 1200, 99.0),
                ("premium", 3000, 199.0)
            ]
        );
    }
}
