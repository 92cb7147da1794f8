//! The pricing engine: lines, a coupon, a tax rate and customer credit in;
//! priced lines and totals out. Pure integer arithmetic in minor units, so it
//! is exact and property-tested (see the tests): totals always equal the sum
//! of the lines, nothing is negative, and no cent is lost or created.

use time::{Date, Month, OffsetDateTime};

use super::money::{div_half_even, share, PPM};

/// One line to price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineInput {
    pub description: String,
    pub product_id: Option<String>,
    pub quantity: i64,
    /// Price of one unit, minor units, as the catalog states it (tax
    /// included when the rate is inclusive).
    pub unit_amount: i64,
    /// Whether the coupon may discount this line.
    pub discountable: bool,
}

/// A coupon's effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discount {
    /// A share of each discountable line (ppm).
    Percent(i64),
    /// A fixed amount spread over the discountable lines by their size.
    Fixed(i64),
}

/// A tax rate for the invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tax {
    pub rate_ppm: i64,
    /// Prices include the tax (it is carved out of them) rather than add to them.
    pub inclusive: bool,
}

/// A priced line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub description: String,
    pub product_id: Option<String>,
    pub quantity: i64,
    pub unit_amount: i64,
    /// `unit_amount × quantity`.
    pub gross: i64,
    pub discount: i64,
    pub tax: i64,
    /// What the customer pays for the line: `gross − discount`, plus `tax`
    /// when it is added to prices.
    pub total: i64,
}

/// A priced invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Priced {
    pub lines: Vec<Line>,
    /// Sum of the lines' gross amounts.
    pub subtotal: i64,
    pub discount: i64,
    pub tax: i64,
    pub tax_rate_ppm: i64,
    pub tax_inclusive: bool,
    /// Sum of the lines' totals.
    pub total: i64,
    /// Customer credit used on this invoice.
    pub credit_applied: i64,
    /// `total − credit_applied`.
    pub amount_due: i64,
}

/// Price `lines` with an optional discount and tax, using up to `credit`.
/// Quantities below 1 and negative prices are the caller's to refuse; here
/// they are clamped so the invariants hold whatever comes in.
pub fn price(
    lines: &[LineInput],
    discount: Option<Discount>,
    tax: Option<Tax>,
    credit: i64,
) -> Priced {
    let gross: Vec<i64> = lines
        .iter()
        .map(|l| l.unit_amount.max(0).saturating_mul(l.quantity.max(1)))
        .collect();
    let eligible: Vec<bool> = lines.iter().map(|l| l.discountable).collect();
    let discounts = allocate_discount(&gross, &eligible, discount);
    let tax = tax.unwrap_or(Tax {
        rate_ppm: 0,
        inclusive: false,
    });
    let rate = tax.rate_ppm.clamp(0, PPM * 10);
    let mut out = Vec::with_capacity(lines.len());
    for (i, l) in lines.iter().enumerate() {
        let net = gross[i] - discounts[i];
        let (line_tax, total) = if tax.inclusive {
            // net = base + tax, tax = net × r / (1 + r)
            let base =
                div_half_even(i128::from(net) * i128::from(PPM), i128::from(PPM + rate)) as i64;
            (net - base, net)
        } else {
            let t = share(net, rate);
            (t, net + t)
        };
        out.push(Line {
            description: l.description.clone(),
            product_id: l.product_id.clone(),
            quantity: l.quantity.max(1),
            unit_amount: l.unit_amount.max(0),
            gross: gross[i],
            discount: discounts[i],
            tax: line_tax,
            total,
        });
    }
    let subtotal = out.iter().map(|l| l.gross).sum();
    let discount = out.iter().map(|l| l.discount).sum();
    let tax_sum = out.iter().map(|l| l.tax).sum();
    let total: i64 = out.iter().map(|l| l.total).sum();
    let credit_applied = credit.clamp(0, total);
    Priced {
        lines: out,
        subtotal,
        discount,
        tax: tax_sum,
        tax_rate_ppm: rate,
        tax_inclusive: tax.inclusive,
        total,
        credit_applied,
        amount_due: total - credit_applied,
    }
}

/// Each line's discount: never more than its gross; a fixed amount is
/// spread by size with the largest-remainder method so the parts add up to
/// exactly the amount (or to everything discountable, if that is less).
fn allocate_discount(gross: &[i64], eligible: &[bool], discount: Option<Discount>) -> Vec<i64> {
    let mut out = vec![0; gross.len()];
    match discount {
        None => {}
        Some(Discount::Percent(ppm)) => {
            let ppm = ppm.clamp(0, PPM);
            for (i, g) in gross.iter().enumerate() {
                if eligible[i] {
                    out[i] = share(*g, ppm).min(*g);
                }
            }
        }
        Some(Discount::Fixed(amount)) => {
            let base: i128 = gross
                .iter()
                .zip(eligible)
                .filter(|(_, e)| **e)
                .map(|(g, _)| i128::from(*g))
                .sum();
            if base == 0 {
                return out;
            }
            let amount = i128::from(amount.max(0)).min(base);
            let mut given = 0_i128;
            let mut remainders = Vec::new();
            for (i, g) in gross.iter().enumerate() {
                if !eligible[i] {
                    continue;
                }
                let exact = amount * i128::from(*g);
                let part = exact / base;
                out[i] = part as i64;
                given += part;
                remainders.push((exact % base, i));
            }
            // Hand out the cents left by truncation, largest remainder first.
            remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            for (_, i) in remainders.into_iter().take((amount - given) as usize) {
                out[i] += 1;
            }
        }
    }
    out
}

/// Months in a billing cycle; `None` for one-time purchases.
pub fn cycle_months(cycle: &str) -> Option<u32> {
    match cycle {
        "monthly" => Some(1),
        "quarterly" => Some(3),
        "semiannually" => Some(6),
        "yearly" => Some(12),
        "biennially" => Some(24),
        "triennially" => Some(36),
        _ => None,
    }
}

pub const CYCLES: [&str; 7] = [
    "monthly",
    "quarterly",
    "semiannually",
    "yearly",
    "biennially",
    "triennially",
    "one_time",
];

/// `start` plus `months`, keeping the day of month where it exists (31 Jan
/// + 1 month = 28/29 Feb) and the time of day.
pub fn add_months(start: OffsetDateTime, months: u32) -> OffsetDateTime {
    let total =
        i64::from(start.year()) * 12 + i64::from(u8::from(start.month()) - 1) + i64::from(months);
    let year = (total / 12) as i32;
    let month = Month::try_from((total % 12 + 1) as u8).expect("month in range");
    let last = month.length(year);
    let day = start.day().min(last);
    let date = Date::from_calendar_date(year, month, day).expect("valid date");
    start.replace_date(date)
}

/// The end of the `n`-th period (1-based) of a subscription that started at
/// `anchor`: periods are counted from the anchor, so a short month never
/// shifts later renewals.
pub fn period_end(anchor: OffsetDateTime, cycle_months: u32, n: u32) -> OffsetDateTime {
    add_months(anchor, cycle_months * n)
}

/// Proration of a plan change at `at` inside the period `[start, end)`:
/// credit for the unused part of `old_amount`, charge for the rest of the
/// period at `new_amount`, both by whole days remaining (a started day
/// counts as used).
pub fn prorate(
    old_amount: i64,
    new_amount: i64,
    start: OffsetDateTime,
    end: OffsetDateTime,
    at: OffsetDateTime,
) -> (i64, i64) {
    let period_days = (end.date() - start.date()).whole_days().max(1);
    let at = at.clamp(start, end);
    let used =
        (at.date() - start.date()).whole_days() + i64::from(at.time() > time::Time::MIDNIGHT);
    let remaining = (period_days - used).clamp(0, period_days);
    let credit = div_half_even(
        i128::from(old_amount.max(0)) * i128::from(remaining),
        i128::from(period_days),
    ) as i64;
    let charge = div_half_even(
        i128::from(new_amount.max(0)) * i128::from(remaining),
        i128::from(period_days),
    ) as i64;
    (credit, charge)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use time::macros::datetime;

    use super::*;

    fn line(unit: i64, qty: i64, discountable: bool) -> LineInput {
        LineInput {
            description: "x".into(),
            product_id: None,
            quantity: qty,
            unit_amount: unit,
            discountable,
        }
    }

    #[test]
    fn a_worked_example() {
        // Two lines, 10 % off the first, 8.875 % tax added.
        let p = price(
            &[line(999, 1, true), line(500, 2, false)],
            Some(Discount::Percent(100_000)),
            Some(Tax {
                rate_ppm: 88_750,
                inclusive: false,
            }),
            0,
        );
        assert_eq!(p.subtotal, 1999);
        assert_eq!(p.lines[0].discount, 100); // 99.9 → 100 (half-even at .9 rounds up)
        assert_eq!(p.lines[0].tax, 80); // 8.99 × 8.875 % = 0.7979 → 0.80
        assert_eq!(p.lines[1].tax, 89); // 10.00 × 8.875 % = 0.8875 → 0.89
        assert_eq!(p.total, 1999 - 100 + 80 + 89);
        assert_eq!(p.amount_due, p.total);
    }

    #[test]
    fn inclusive_tax_is_carved_out() {
        // 20 % VAT included in 12.00: 10.00 + 2.00.
        let p = price(
            &[line(1200, 1, true)],
            None,
            Some(Tax {
                rate_ppm: 200_000,
                inclusive: true,
            }),
            0,
        );
        assert_eq!((p.tax, p.total), (200, 1200));
    }

    #[test]
    fn fixed_discounts_split_to_the_cent() {
        let p = price(
            &[line(100, 1, true), line(100, 1, true), line(100, 1, true)],
            Some(Discount::Fixed(100)),
            None,
            0,
        );
        let parts: Vec<i64> = p.lines.iter().map(|l| l.discount).collect();
        assert_eq!(parts.iter().sum::<i64>(), 100);
        assert_eq!(parts, vec![34, 33, 33]);
        // More than there is to discount: everything, no more.
        let p = price(
            &[line(100, 1, true), line(100, 1, false)],
            Some(Discount::Fixed(500)),
            None,
            0,
        );
        assert_eq!((p.discount, p.total), (100, 100));
    }

    #[test]
    fn credit_pays_part_or_all() {
        let p = price(&[line(1000, 1, true)], None, None, 300);
        assert_eq!((p.credit_applied, p.amount_due), (300, 700));
        let p = price(&[line(1000, 1, true)], None, None, 5000);
        assert_eq!((p.credit_applied, p.amount_due), (1000, 0));
    }

    #[test]
    fn months_keep_their_day_where_they_can() {
        assert_eq!(
            add_months(datetime!(2026-01-31 10:00 UTC), 1),
            datetime!(2026-02-28 10:00 UTC)
        );
        assert_eq!(
            add_months(datetime!(2028-01-31 10:00 UTC), 1),
            datetime!(2028-02-29 10:00 UTC)
        );
        assert_eq!(
            add_months(datetime!(2026-11-15 00:00 UTC), 3),
            datetime!(2027-02-15 00:00 UTC)
        );
        // Anchored periods do not drift after a short month.
        let a = datetime!(2026-01-31 00:00 UTC);
        assert_eq!(period_end(a, 1, 2), datetime!(2026-03-31 00:00 UTC));
    }

    #[test]
    fn proration_by_days() {
        let (s, e) = (
            datetime!(2026-04-01 00:00 UTC),
            datetime!(2026-05-01 00:00 UTC),
        );
        // Halfway through a 30-day month, 10.00 → 20.00: 5.00 back, 10.00 due.
        assert_eq!(
            prorate(1000, 2000, s, e, datetime!(2026-04-16 00:00 UTC)),
            (500, 1000)
        );
        assert_eq!(prorate(1000, 2000, s, e, s), (1000, 2000));
        assert_eq!(prorate(1000, 2000, s, e, e), (0, 0));
    }

    fn lines_strategy() -> impl Strategy<Value = Vec<LineInput>> {
        prop::collection::vec(
            (0_i64..10_000_000, 1_i64..100, any::<bool>()).prop_map(|(u, q, d)| line(u, q, d)),
            1..12,
        )
    }

    fn discount_strategy() -> impl Strategy<Value = Option<Discount>> {
        prop_oneof![
            Just(None),
            (0_i64..=PPM).prop_map(|p| Some(Discount::Percent(p))),
            (0_i64..2_000_000_000).prop_map(|a| Some(Discount::Fixed(a))),
        ]
    }

    fn tax_strategy() -> impl Strategy<Value = Option<Tax>> {
        prop_oneof![
            Just(None),
            (0_i64..500_000, any::<bool>()).prop_map(|(r, i)| Some(Tax {
                rate_ppm: r,
                inclusive: i
            })),
        ]
    }

    proptest! {
        #[test]
        fn totals_are_the_sum_of_the_lines_and_never_negative(
            lines in lines_strategy(),
            discount in discount_strategy(),
            tax in tax_strategy(),
            credit in 0_i64..1_000_000_000,
        ) {
            let p = price(&lines, discount, tax, credit);
            prop_assert_eq!(p.subtotal, p.lines.iter().map(|l| l.gross).sum::<i64>());
            prop_assert_eq!(p.discount, p.lines.iter().map(|l| l.discount).sum::<i64>());
            prop_assert_eq!(p.tax, p.lines.iter().map(|l| l.tax).sum::<i64>());
            prop_assert_eq!(p.total, p.lines.iter().map(|l| l.total).sum::<i64>());
            prop_assert_eq!(p.amount_due + p.credit_applied, p.total);
            for l in &p.lines {
                prop_assert_eq!(l.gross, l.unit_amount * l.quantity);
                prop_assert!(l.discount >= 0 && l.discount <= l.gross);
                prop_assert!(l.tax >= 0);
                prop_assert!(l.total >= 0);
                let net = l.gross - l.discount;
                if p.tax_inclusive {
                    prop_assert_eq!(l.total, net);
                    prop_assert!(l.tax <= net);
                } else {
                    prop_assert_eq!(l.total, net + l.tax);
                }
            }
            prop_assert!(p.amount_due >= 0 && p.credit_applied >= 0);
            // A fixed discount is spent exactly (up to what can be discounted).
            if let Some(Discount::Fixed(a)) = discount {
                let eligible: i64 = p.lines.iter().zip(&lines).filter(|(_, i)| i.discountable).map(|(l, _)| l.gross).sum();
                prop_assert_eq!(p.discount, a.min(eligible));
            }
            if discount.is_none() {
                prop_assert_eq!(p.discount, 0);
            }
        }

        #[test]
        fn tax_is_within_half_a_cent_per_line_of_the_exact_share(
            net in 0_i64..100_000_000, rate in 0_i64..500_000,
        ) {
            let p = price(&[line(net, 1, false)], None, Some(Tax { rate_ppm: rate, inclusive: false }), 0);
            let exact = net as f64 * rate as f64 / PPM as f64;
            prop_assert!((p.tax as f64 - exact).abs() <= 0.5 + 1e-6);
        }

        #[test]
        fn proration_never_exceeds_the_period_amounts(
            old in 0_i64..10_000_000, new in 0_i64..10_000_000,
            days in 1_i64..400, at in 0_i64..400,
        ) {
            let s = datetime!(2026-01-01 00:00 UTC);
            let e = s + time::Duration::days(days);
            let (credit, charge) = prorate(old, new, s, e, s + time::Duration::days(at));
            prop_assert!(credit >= 0 && credit <= old);
            prop_assert!(charge >= 0 && charge <= new);
            if at == 0 { prop_assert_eq!((credit, charge), (old, new)); }
            if at >= days { prop_assert_eq!((credit, charge), (0, 0)); }
        }
    }
}
