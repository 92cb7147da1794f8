//! Mooring's own SSH key per tenant (ed25519), generated on first use; the
//! private half is stored sealed with AES-256-GCM under a key derived from
//! the master key, never in the clear.

use std::sync::Arc;

use aes_gcm::{
    aead::{Aead, KeyInit},
    Aes256Gcm, Nonce,
};
use base64::Engine;
use rand::RngCore;
use russh::keys::{
    ssh_key::{private::Ed25519Keypair, LineEnding},
    HashAlg, PrivateKey,
};

use crate::{clock, CoreError, CoreResult, Db};

/// Seals and opens secrets at rest.
#[derive(Clone)]
pub struct Vault {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault([REDACTED])")
    }
}

impl Vault {
    /// A vault with `key` (derive it from the master key for this purpose).
    pub fn new(key: [u8; 32]) -> Vault {
        Vault {
            cipher: Aes256Gcm::new(&key.into()),
        }
    }

    /// `base64(nonce ‖ ciphertext ‖ tag)`, a fresh random nonce each time.
    pub fn seal(&self, plain: &[u8]) -> CoreResult<String> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plain)
            .map_err(|_| CoreError::Internal("sealing failed".into()))?;
        let mut all = nonce.to_vec();
        all.extend_from_slice(&ct);
        Ok(base64::engine::general_purpose::STANDARD.encode(all))
    }

    /// The plain bytes of a sealed value; refused when it was sealed under
    /// another key or altered.
    pub fn open(&self, sealed: &str) -> CoreResult<Vec<u8>> {
        let all = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .map_err(|_| CoreError::Internal("a sealed value is not base64".into()))?;
        if all.len() < 12 + 16 {
            return Err(CoreError::Internal("a sealed value is too short".into()));
        }
        let (nonce, ct) = all.split_at(12);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| {
                CoreError::Internal(
                    "a sealed value does not open with this master key (was the master key changed?)"
                        .into(),
                )
            })
    }
}

/// A tenant's node key.
#[derive(Clone)]
pub struct NodeKey {
    /// `ssh-ed25519 AAAA… mooring@…`: what goes into a node's authorized_keys.
    pub public_openssh: String,
    pub fingerprint: String,
    pub private: Arc<PrivateKey>,
}

impl std::fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeKey")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

fn generate(comment: &str) -> CoreResult<PrivateKey> {
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let mut key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    key.set_comment(comment);
    Ok(key)
}

/// The tenant's key, made (and stored sealed) on first use. Concurrent
/// first uses agree on one key: the insert is `ON CONFLICT DO NOTHING` and
/// every caller reads back what was stored.
pub async fn node_key(db: &Db, vault: &Vault, tenant: &str) -> CoreResult<NodeKey> {
    let stored: Option<(String, String)> =
        sqlx::query_as("SELECT public_key, private_key FROM node_keys WHERE tenant_id = $1")
            .bind(tenant)
            .fetch_optional(db.pool())
            .await?;
    let (public, sealed) = match stored {
        Some(s) => s,
        None => {
            let key = generate(&format!("mooring@{}", &tenant[..8.min(tenant.len())]))?;
            let private = key
                .to_openssh(LineEnding::LF)
                .map_err(|e| CoreError::Internal(format!("key encoding: {e}")))?;
            let public = key
                .public_key()
                .to_openssh()
                .map_err(|e| CoreError::Internal(format!("key encoding: {e}")))?;
            sqlx::query(
                "INSERT INTO node_keys (tenant_id, public_key, private_key, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (tenant_id) DO NOTHING",
            )
            .bind(tenant)
            .bind(&public)
            .bind(vault.seal(private.as_bytes())?)
            .bind(clock::now())
            .execute(db.pool())
            .await?;
            sqlx::query_as("SELECT public_key, private_key FROM node_keys WHERE tenant_id = $1")
                .bind(tenant)
                .fetch_one(db.pool())
                .await?
        }
    };
    let pem = vault.open(&sealed)?;
    let private = PrivateKey::from_openssh(&pem)
        .map_err(|e| CoreError::Internal(format!("the stored node key does not parse: {e}")))?;
    Ok(NodeKey {
        fingerprint: private
            .public_key()
            .fingerprint(HashAlg::Sha256)
            .to_string(),
        public_openssh: public,
        private: Arc::new(private),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key() {
        let v = Vault::new([7; 32]);
        let s = v.seal(b"secret").unwrap();
        assert!(!s.contains("secret"));
        assert_ne!(s, v.seal(b"secret").unwrap(), "a fresh nonce each time");
        assert_eq!(v.open(&s).unwrap(), b"secret");
        assert!(Vault::new([8; 32]).open(&s).is_err());
        let mut bytes = base64::engine::general_purpose::STANDARD
            .decode(&s)
            .unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = base64::engine::general_purpose::STANDARD.encode(bytes);
        assert!(v.open(&tampered).is_err());
    }
}
