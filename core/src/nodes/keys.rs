//! Mooring's own SSH key per tenant (ed25519), generated on first use; the
//! private half is stored sealed (see [`crate::vault`]: the node-key
//! purpose's key, bound to the tenant's `node_keys` row), never in the clear.

use std::sync::Arc;

use rand::RngCore;
use russh::keys::{
    ssh_key::{private::Ed25519Keypair, LineEnding},
    HashAlg, PrivateKey,
};

pub use crate::vault::Vault;
use crate::{
    clock,
    vault::{Binding, Purpose},
    CoreError, CoreResult, Db,
};

/// The row a tenant's sealed node key is bound to.
fn binding(tenant: &str) -> Binding<'_> {
    Binding::new("node_keys", tenant, tenant)
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
            .bind(vault.seal(Purpose::NodeKey, &binding(tenant), private.as_bytes())?)
            .bind(clock::now())
            .execute(db.pool())
            .await?;
            sqlx::query_as("SELECT public_key, private_key FROM node_keys WHERE tenant_id = $1")
                .bind(tenant)
                .fetch_one(db.pool())
                .await?
        }
    };
    let pem = vault.open(Purpose::NodeKey, &binding(tenant), &sealed)?;
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
