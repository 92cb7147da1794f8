//! Password hashing (argon2id, OWASP parameters) and generation.
//!
//! Hashing is deliberately slow, so it always runs on a blocking thread, never
//! on the async runtime's workers.

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Algorithm, Argon2, Params, Version,
};
use rand::{distributions::Alphanumeric, Rng};
use secrecy::{ExposeSecret, SecretString};

use crate::{CoreError, CoreResult};

/// Shortest password accepted (OWASP ASVS 2.1.1).
pub const MIN_LEN: usize = 12;
/// Longest password accepted: long passphrases are welcome, megabytes are not.
pub const MAX_LEN: usize = 256;

fn hasher() -> Argon2<'static> {
    // OWASP Password Storage Cheat Sheet: m=19456 KiB, t=2, p=1.
    let params = Params::new(19_456, 2, 1, None).expect("static argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Passwords too common to accept (12+ characters, lower-cased; see data/NOTICE.md).
fn common_passwords() -> &'static std::collections::HashSet<&'static str> {
    static LIST: std::sync::OnceLock<std::collections::HashSet<&'static str>> =
        std::sync::OnceLock::new();
    LIST.get_or_init(|| {
        include_str!("../data/common-passwords.txt")
            .lines()
            .collect()
    })
}

/// Whether a password is on the shipped list of commonly used passwords.
pub fn is_common(password: &str) -> bool {
    common_passwords().contains(password.to_lowercase().as_str())
}

/// Check a new password against the length rules and the common-password list.
pub fn validate_new(password: &str) -> CoreResult<()> {
    let n = password.chars().count();
    if n < MIN_LEN {
        return Err(crate::error::field_error(
            "password",
            format!("must be at least {MIN_LEN} characters"),
        ));
    }
    if n > MAX_LEN {
        return Err(crate::error::field_error(
            "password",
            format!("must be at most {MAX_LEN} characters"),
        ));
    }
    if is_common(password) {
        return Err(crate::error::field_error(
            "password",
            "is on a list of commonly used passwords; choose another",
        ));
    }
    Ok(())
}

/// Hash a password with argon2id (PHC string), off the async runtime.
pub async fn hash(password: SecretString) -> CoreResult<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        hasher()
            .hash_password(password.expose_secret().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| CoreError::Internal(format!("hashing failed: {e}")))
    })
    .await
    .map_err(|e| CoreError::Internal(format!("hashing task failed: {e}")))?
}

/// Verify a password against a stored PHC string, off the async runtime.
pub async fn verify(password: SecretString, phc: String) -> CoreResult<bool> {
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&phc)
            .map_err(|e| CoreError::Internal(format!("stored hash unreadable: {e}")))?;
        Ok(hasher()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .map_err(|e| CoreError::Internal(format!("verify task failed: {e}")))?
}

/// A random password of `len` letters and digits, for generated credentials.
pub fn generate(len: usize) -> SecretString {
    let s: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect();
    SecretString::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let h = hash(SecretString::from("correct horse battery"))
            .await
            .unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(
            verify(SecretString::from("correct horse battery"), h.clone())
                .await
                .unwrap()
        );
        assert!(!verify(SecretString::from("wrong horse battery"), h)
            .await
            .unwrap());
    }

    #[test]
    fn common_passwords_are_refused_whatever_their_case() {
        assert!(common_passwords().len() > 40_000);
        for pw in ["1q2w3e4r5t6y", "QWERTY123456", "passwordpassword"] {
            assert!(is_common(pw), "{pw}");
            assert!(validate_new(pw).is_err(), "{pw}");
        }
        assert!(!is_common("correct horse battery"));
    }

    #[test]
    fn length_rules() {
        assert!(validate_new("short").is_err());
        assert!(
            validate_new("kq8#xv2!mz7p").is_ok(),
            "12 characters are enough"
        );
        assert!(validate_new("kq8#xv2!mz7").is_err(), "11 are not");
        assert!(validate_new(&"x".repeat(257)).is_err());
    }

    #[test]
    fn generated_passwords_are_long_and_distinct() {
        let a = generate(20);
        let b = generate(20);
        assert_eq!(a.expose_secret().len(), 20);
        assert_ne!(a.expose_secret(), b.expose_secret());
    }
}
