//! Money as the ledger keeps it: integer minor units (cents), shown as decimals in JSON.

/// Digits after the decimal point for `currency` (Stripe's zero-decimal list, abridged).
pub fn minor_exponent(currency: &str) -> u32 {
    const ZERO: [&str; 16] = [
        "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
        "xaf", "xof", "xpf",
    ];
    if ZERO.contains(&currency.to_ascii_lowercase().as_str()) {
        0
    } else {
        2
    }
}

/// A minor-unit amount as the decimal number JSON shows (990 -> 9.9).
pub fn to_major(minor: i64, currency: &str) -> f64 {
    minor as f64 / 10f64.powi(minor_exponent(currency) as i32)
}

/// A decimal amount from a request in minor units, if it is representable exactly enough.
pub fn to_minor(major: f64, currency: &str) -> Option<i64> {
    let scaled = major * 10f64.powi(minor_exponent(currency) as i32);
    let rounded = scaled.round();
    ((scaled - rounded).abs() < 1e-6 && rounded.is_finite() && rounded.abs() < 1e15)
        .then_some(rounded as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minor_units_round_trip_and_zero_decimal_currencies() {
        assert_eq!(to_minor(9.9, "cny"), Some(990));
        assert_eq!(to_minor(0.1 + 0.2, "cny"), Some(30));
        assert_eq!(to_minor(9.999, "cny"), None);
        assert_eq!(to_minor(500.0, "JPY"), Some(500));
        assert_eq!(to_major(500, "jpy"), 500.0);
    }
}
