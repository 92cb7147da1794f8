//! Time as Mooring stores it.
//!
//! Times are UTC and stored as fixed-width RFC 3339 text with milliseconds
//! (`2026-01-02T03:04:05.678Z`): the same text on SQLite and PostgreSQL, and it
//! sorts and compares as text in the same order as in time.

use time::{format_description::well_known::Rfc3339, OffsetDateTime, UtcOffset};

/// Format an instant the way it is stored and shown in the APIs.
pub fn format(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    let ms = t.millisecond();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        ms
    )
}

/// Now, formatted for storage.
pub fn now() -> String {
    format(OffsetDateTime::now_utc())
}

/// Parse a stored or client-supplied RFC 3339 time.
pub fn parse(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn stored_times_are_fixed_width_utc_and_round_trip() {
        let t = datetime!(2026-01-02 03:04:05.678 +02:00);
        let s = format(t);
        assert_eq!(s, "2026-01-02T01:04:05.678Z");
        assert_eq!(parse(&s), Some(t));
    }

    #[test]
    fn text_order_is_time_order() {
        let a = format(datetime!(2026-01-02 03:04:05.009 UTC));
        let b = format(datetime!(2026-01-02 03:04:05.010 UTC));
        let c = format(datetime!(2026-11-02 00:00:00 UTC));
        assert!(a < b && b < c);
    }
}
