//! Secrets handed to clients: random tokens (stored only as hashes) and
//! HS256 JSON Web Tokens for the mpanel surface.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{de::DeserializeOwned, Serialize};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// A new random secret: `prefix` + 32 random bytes, base64url.
pub fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", B64.encode(bytes))
}

/// What is stored for a token: its SHA-256, hex. Tokens carry 256 bits of
/// randomness, so a fast hash is enough (unlike passwords).
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A key derived from the master key for one purpose, so no two uses share a key.
pub fn derive_key(master: &[u8; 32], purpose: &str) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(master).expect("HMAC takes any key length");
    mac.update(b"mooring key derivation v1\0");
    mac.update(purpose.as_bytes());
    mac.finalize().into_bytes().into()
}

const JWT_HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// Why a JWT was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
}

/// Sign claims as an HS256 JWT.
pub fn jwt_sign<C: Serialize>(claims: &C, key: &[u8; 32]) -> String {
    let header = B64.encode(JWT_HEADER);
    let payload = B64.encode(serde_json::to_vec(claims).expect("claims serialize"));
    let signing_input = format!("{header}.{payload}");
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(signing_input.as_bytes());
    let sig = B64.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{sig}")
}

/// Verify an HS256 JWT and its `exp` (seconds since the epoch) against `now`.
/// Only the exact header this module writes is accepted, so no algorithm
/// confusion (`alg: none`, RS/HS swaps) is possible.
pub fn jwt_verify<C: DeserializeOwned>(
    token: &str,
    key: &[u8; 32],
    now: i64,
) -> Result<C, JwtError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let header = B64.decode(h).map_err(|_| JwtError::Malformed)?;
    if header != JWT_HEADER.as_bytes() {
        return Err(JwtError::Malformed);
    }
    let sig = B64.decode(s).map_err(|_| JwtError::Malformed)?;
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(h.as_bytes());
    mac.update(b".");
    mac.update(p.as_bytes());
    mac.verify_slice(&sig).map_err(|_| JwtError::BadSignature)?;
    let payload = B64.decode(p).map_err(|_| JwtError::Malformed)?;
    let value: serde_json::Value =
        serde_json::from_slice(&payload).map_err(|_| JwtError::Malformed)?;
    let exp = value
        .get("exp")
        .and_then(serde_json::Value::as_i64)
        .ok_or(JwtError::Malformed)?;
    if exp <= now {
        return Err(JwtError::Expired);
    }
    serde_json::from_value(value).map_err(|_| JwtError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Claims {
        sub: String,
        exp: i64,
    }

    const KEY: [u8; 32] = [7; 32];

    #[test]
    fn jwt_round_trip_and_refusals() {
        let c = Claims {
            sub: "u1".into(),
            exp: 1_000,
        };
        let t = jwt_sign(&c, &KEY);
        assert_eq!(jwt_verify::<Claims>(&t, &KEY, 999).unwrap(), c);
        assert_eq!(
            jwt_verify::<Claims>(&t, &KEY, 1_000),
            Err(JwtError::Expired)
        );
        assert_eq!(
            jwt_verify::<Claims>(&t, &[8; 32], 999),
            Err(JwtError::BadSignature)
        );
        // A tampered payload fails the signature.
        let mut parts: Vec<&str> = t.split('.').collect();
        let forged = B64.encode(br#"{"sub":"admin","exp":99999}"#);
        parts[1] = &forged;
        assert_eq!(
            jwt_verify::<Claims>(&parts.join("."), &KEY, 999),
            Err(JwtError::BadSignature)
        );
        // alg:none is refused outright.
        let none = format!(
            "{}.{}.",
            B64.encode(r#"{"alg":"none","typ":"JWT"}"#),
            B64.encode(br#"{"sub":"u1","exp":99999}"#)
        );
        assert_eq!(
            jwt_verify::<Claims>(&none, &KEY, 999),
            Err(JwtError::Malformed)
        );
        assert_eq!(
            jwt_verify::<Claims>("a.b", &KEY, 0),
            Err(JwtError::Malformed)
        );
    }

    #[test]
    fn tokens_are_random_and_hashes_stable() {
        let a = random_token("mpat_");
        assert!(a.starts_with("mpat_") && a.len() == 5 + 43, "{a}");
        assert_ne!(a, random_token("mpat_"));
        assert_eq!(hash_token("x"), hash_token("x"));
        assert_eq!(hash_token("x").len(), 64);
        assert_ne!(derive_key(&[1; 32], "jwt"), derive_key(&[1; 32], "other"));
    }
}
