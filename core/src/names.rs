//! The name rules, once: display names of people, products, tenants and
//! servers, and the DNS-label names of things that become hostnames.

use crate::{error::field_error, CoreResult};

/// A display name for `field`: trimmed, 1 to `max` characters (Unicode
/// characters, not bytes), no control characters.
pub fn display(field: &str, name: &str, max: usize) -> CoreResult<String> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > max {
        return Err(field_error(field, format!("must be 1 to {max} characters")));
    }
    if n.chars().any(char::is_control) {
        return Err(field_error(field, "must not contain control characters"));
    }
    Ok(n.to_string())
}

/// A DNS label for `field` (a CloudPod's name becomes its hostname): 1 to
/// 63 lowercase letters, digits and dashes, not starting or ending with a dash.
pub fn dns_label(field: &str, name: &str) -> CoreResult<String> {
    let n = name.trim();
    let ok = !n.is_empty()
        && n.len() <= 63
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !n.starts_with('-')
        && !n.ends_with('-');
    if !ok {
        return Err(field_error(
            field,
            "must be 1 to 63 lowercase letters, digits and dashes, not starting or ending with a dash",
        ));
    }
    Ok(n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names() {
        assert_eq!(display("name", "  Ann  ", 10).unwrap(), "Ann");
        // Characters, not bytes: ten of "é" are twenty bytes.
        assert!(display("name", &"é".repeat(10), 10).is_ok());
        assert!(display("name", &"é".repeat(11), 10).is_err());
        assert!(display("name", "   ", 10).is_err());
        assert!(display("name", "a\u{0007}b", 10).is_err());
        let e = display("title", "", 5).unwrap_err();
        assert_eq!(e.field(), Some("title"));
    }

    #[test]
    fn dns_labels() {
        assert_eq!(dns_label("name", "web-1").unwrap(), "web-1");
        for bad in ["", "-web", "web-", "Web", "web_1", &"a".repeat(64)] {
            assert!(dns_label("name", bad).is_err(), "{bad}");
        }
    }
}
