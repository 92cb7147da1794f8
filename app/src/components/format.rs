//! Small formatting helpers shared by pages and islands.

/// `2026-11-22T10:00:00.000Z` → `2026-11-22 10:00:00` (UTC).
pub fn short_time(t: &str) -> String {
    t.get(..19)
        .map(|s| s.replace('T', " "))
        .unwrap_or_else(|| t.to_string())
}

/// The badge class of a job status.
pub fn status_badge(status: &str) -> String {
    let state = match status {
        "succeeded" => "ok",
        "failed" | "cancelled" => "down",
        _ => "degraded",
    };
    format!("badge state-{state}")
}

/// The badge class of an event level.
pub fn level_badge(level: &str) -> &'static str {
    match level {
        "error" => "badge state-down",
        "warning" => "badge state-degraded",
        _ => "badge state-ok",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(
            short_time("2026-11-22T10:00:00.000Z"),
            "2026-11-22 10:00:00"
        );
        assert_eq!(short_time("soon"), "soon");
        assert_eq!(status_badge("failed"), "badge state-down");
        assert_eq!(status_badge("running"), "badge state-degraded");
        assert_eq!(level_badge("info"), "badge state-ok");
    }
}
