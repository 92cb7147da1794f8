//! Money: integer minor units inside, decimals only at the API's edge.
//!
//! Amounts are `i64` minor units of one ISO 4217 currency. A decimal from a
//! client ("9.99") is read exactly from its text, never through a float; one
//! with more decimals than the currency has is refused, not rounded. Shares
//! (tax, percent discounts, proration) are computed in `i128` and rounded
//! half-even once, where the share is taken.

use crate::{CoreError, CoreResult};

/// Minor-unit digits of a currency (ISO 4217).
pub fn exponent(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// A currency code as the API accepts it: three capital letters.
pub fn check_currency(c: &str) -> CoreResult<String> {
    if c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(c.to_string())
    } else {
        Err(CoreError::Invalid(format!(
            "currency must be an ISO 4217 code of three capital letters, like USD; `{c}` is not"
        )))
    }
}

/// Parse a decimal amount (as JSON wrote it) into minor units of `currency`.
pub fn parse(text: &str, currency: &str) -> CoreResult<i64> {
    let bad = || {
        CoreError::Invalid(format!(
            "`{text}` is not an amount of {currency} (a decimal like 9.99, at most {} decimals)",
            exponent(currency)
        ))
    };
    let t = text.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    if t.contains(['e', 'E']) {
        // JSON allows 1e2; amounts are plain decimals.
        let v: f64 = t.parse().map_err(|_| bad())?;
        if v.fract() != 0.0 || v.abs() > 1e15 {
            return Err(bad());
        }
        return parse(
            &format!("{}{}", if neg { "-" } else { "" }, v as i64),
            currency,
        );
    }
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let exp = exponent(currency) as usize;
    let frac = frac.trim_end_matches('0');
    if frac.len() > exp {
        return Err(bad());
    }
    let digits = format!("{int}{frac:0<exp$}");
    let v: i64 = digits.parse().map_err(|_| bad())?;
    // Keep far from overflow in sums: 10^15 minor units is plenty.
    if v > 1_000_000_000_000_000 {
        return Err(bad());
    }
    Ok(if neg { -v } else { v })
}

/// Minor units as the exact decimal text ("19.99", "-0.05", "100").
pub fn format(minor: i64, currency: &str) -> String {
    let exp = exponent(currency) as usize;
    if exp == 0 {
        return minor.to_string();
    }
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs().to_string();
    let padded = format!("{abs:0>width$}", width = exp + 1);
    let (int, frac) = padded.split_at(padded.len() - exp);
    format!("{sign}{int}.{frac}")
}

/// Minor units with their currency code, as people read them: "19.99 USD".
pub fn with_code(minor: i64, currency: &str) -> String {
    format!("{} {currency}", format(minor, currency))
}

/// Minor units as a JSON number with the same decimal digits.
pub fn to_json(minor: i64, currency: &str) -> serde_json::Value {
    let text = format(minor, currency);
    // The shortest double that prints back as `text` is what serde_json writes.
    text.parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map(serde_json::Value::Number)
        .unwrap_or(serde_json::Value::String(text))
}

/// `num / den` rounded half to even (banker's rounding). `den` > 0.
pub fn div_half_even(num: i128, den: i128) -> i128 {
    assert!(den > 0, "division by a non-positive denominator");
    let q = num.div_euclid(den);
    let r = num.rem_euclid(den);
    match (2 * r).cmp(&den) {
        std::cmp::Ordering::Less => q,
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal => {
            if q % 2 == 0 {
                q
            } else {
                q + 1
            }
        }
    }
}

/// Parts per million: rates and percentages (8.875 % = 88_750 ppm).
pub const PPM: i64 = 1_000_000;

/// `amount × ppm / 10^6`, rounded half-even.
pub fn share(amount: i64, ppm: i64) -> i64 {
    div_half_even(i128::from(amount) * i128::from(ppm), i128::from(PPM)) as i64
}

/// A percentage as the API writes it ("8.875") in ppm.
pub fn parse_percent(text: &str) -> CoreResult<i64> {
    let bad = || {
        CoreError::Invalid(format!(
            "`{text}` is not a percentage from 0 to 100 with at most 4 decimals"
        ))
    };
    let t = text.trim();
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let frac = frac.trim_end_matches('0');
    if frac.len() > 4 {
        return Err(bad());
    }
    let v: i64 = format!("{int}{frac:0<4}").parse().map_err(|_| bad())?;
    if v > 100 * 10_000 {
        return Err(bad());
    }
    Ok(v)
}

/// ppm as a percentage text ("8.875").
pub fn format_percent(ppm: i64) -> String {
    let (int, frac) = (ppm / 10_000, (ppm % 10_000).abs());
    let frac = format!("{frac:04}");
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exactly_and_refuses_what_does_not_fit() {
        assert_eq!(parse("9.99", "USD").unwrap(), 999);
        assert_eq!(parse("9.9", "USD").unwrap(), 990);
        assert_eq!(parse("10", "USD").unwrap(), 1000);
        assert_eq!(parse("0.10", "USD").unwrap(), 10);
        assert_eq!(parse("1e2", "USD").unwrap(), 10000);
        assert_eq!(parse("1500", "JPY").unwrap(), 1500);
        assert_eq!(parse("1.234", "KWD").unwrap(), 1234);
        assert_eq!(parse("-5.01", "EUR").unwrap(), -501);
        for bad in [
            "9.999",
            "abc",
            "",
            ".5",
            "1.2.3",
            "12,50",
            "1e-2",
            "99999999999999999999",
        ] {
            assert!(parse(bad, "USD").is_err(), "{bad}");
        }
        assert!(parse("1.5", "JPY").is_err());
    }

    #[test]
    fn formats_exactly() {
        assert_eq!(format(1999, "USD"), "19.99");
        assert_eq!(format(5, "USD"), "0.05");
        assert_eq!(format(-5, "USD"), "-0.05");
        assert_eq!(format(100, "JPY"), "100");
        assert_eq!(format(1234, "KWD"), "1.234");
        assert_eq!(to_json(1999, "USD").to_string(), "19.99");
        assert_eq!(to_json(2000, "USD").to_string(), "20.0");
        assert_eq!(to_json(10, "USD").to_string(), "0.1");
        assert_eq!(to_json(123_456_789_012, "USD").to_string(), "1234567890.12");
    }

    #[test]
    fn rounds_half_to_even() {
        assert_eq!(div_half_even(5, 2), 2);
        assert_eq!(div_half_even(7, 2), 4);
        assert_eq!(div_half_even(-5, 2), -2);
        assert_eq!(div_half_even(-7, 2), -4);
        assert_eq!(div_half_even(10, 3), 3);
        assert_eq!(div_half_even(11, 3), 4);
        // 8.875 % of 10.00 = 0.8875 → 0.89
        assert_eq!(share(1000, 88_750), 89);
        // 10 % of 0.05 = 0.005 → 0.00 (even)
        assert_eq!(share(5, 100_000), 0);
        // 10 % of 0.15 = 0.015 → 0.02 (even)
        assert_eq!(share(15, 100_000), 2);
    }

    #[test]
    fn percentages() {
        assert_eq!(parse_percent("8.875").unwrap(), 88_750);
        assert_eq!(parse_percent("20").unwrap(), 200_000);
        assert_eq!(parse_percent("100").unwrap(), 1_000_000);
        assert!(parse_percent("100.01").is_err());
        assert!(parse_percent("-1").is_err());
        assert!(parse_percent("1.00001").is_err());
        assert_eq!(format_percent(88_750), "8.875");
        assert_eq!(format_percent(200_000), "20");
    }
}
