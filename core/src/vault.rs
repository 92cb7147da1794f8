//! Secrets at rest: sealed with AES-256-GCM, one key per purpose (derived
//! from the master key), and bound to the row they belong to.
//!
//! A sealed value is `v2:` + `base64(nonce ‖ ciphertext ‖ tag)`; its
//! associated data is `table|id|tenant`, so a value copied to another row
//! or another tenant does not open, and a value sealed for one purpose
//! (a node's SSH key) does not open as another (a Proxmox token).
//!
//! Values sealed before this format (plain base64, under the one key
//! derived for "node ssh keys", no associated data) are *legacy*:
//! [`Vault::open`] refuses them and [`reseal_legacy`] rewrites them in the
//! new format (the server and the worker run it at startup).

use aes_gcm::{
    aead::{Aead, KeyInit, Payload},
    Aes256Gcm, Nonce,
};
use base64::Engine;
use rand::RngCore;

use crate::{identity::tokens::derive_key, CoreError, CoreResult, Db};

/// The prefix of values sealed in the current format.
pub const PREFIX: &str = "v2:";

/// What a sealed value is for; each purpose has its own key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A tenant's SSH private key (`node_keys.private_key`).
    NodeKey,
    /// A Proxmox VE API token's secret (`servers.hypervisor_secret`).
    ProxmoxToken,
    /// A secret shown once on the next page (a new token or API key in a
    /// flash message, `flashes.flash`).
    ShownOnce,
}

impl Purpose {
    pub const ALL: [Purpose; 3] = [Purpose::NodeKey, Purpose::ProxmoxToken, Purpose::ShownOnce];

    /// The derivation label of this purpose's key.
    fn label(self) -> &'static str {
        match self {
            Purpose::NodeKey => "vault v2: node ssh key",
            Purpose::ProxmoxToken => "vault v2: proxmox token",
            Purpose::ShownOnce => "vault v2: shown once",
        }
    }
}

/// The row a sealed value belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding<'a> {
    pub table: &'a str,
    /// The row's primary key.
    pub id: &'a str,
    /// The tenant owning the row.
    pub tenant: &'a str,
}

impl<'a> Binding<'a> {
    pub fn new(table: &'a str, id: &'a str, tenant: &'a str) -> Binding<'a> {
        Binding { table, id, tenant }
    }

    /// The associated data: `table|id|tenant` (tables are fixed names and
    /// ids are UUIDs or hex, none with a `|`).
    fn aad(&self) -> Vec<u8> {
        format!("{}|{}|{}", self.table, self.id, self.tenant).into_bytes()
    }
}

/// Seals and opens secrets at rest. Cheap to clone.
#[derive(Clone)]
pub struct Vault {
    node_key: Aes256Gcm,
    proxmox_token: Aes256Gcm,
    shown_once: Aes256Gcm,
    /// The one key of the first format (no associated data), to reseal.
    legacy: Aes256Gcm,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault([REDACTED])")
    }
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// Whether `sealed` is in the first format (to be resealed).
pub fn is_legacy(sealed: &str) -> bool {
    !sealed.starts_with(PREFIX)
}

impl Vault {
    /// The vault of `master` (the installation's master key): a key per
    /// purpose derived from it.
    pub fn new(master: [u8; 32]) -> Vault {
        let key = |label: &str| Aes256Gcm::new(&derive_key(&master, label).into());
        Vault {
            node_key: key(Purpose::NodeKey.label()),
            proxmox_token: key(Purpose::ProxmoxToken.label()),
            shown_once: key(Purpose::ShownOnce.label()),
            legacy: key("node ssh keys"),
        }
    }

    fn cipher(&self, purpose: Purpose) -> &Aes256Gcm {
        match purpose {
            Purpose::NodeKey => &self.node_key,
            Purpose::ProxmoxToken => &self.proxmox_token,
            Purpose::ShownOnce => &self.shown_once,
        }
    }

    /// `plain` sealed for `purpose` and bound to its row; a fresh random
    /// nonce each time.
    pub fn seal(
        &self,
        purpose: Purpose,
        binding: &Binding<'_>,
        plain: &[u8],
    ) -> CoreResult<String> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = binding.aad();
        let ct = self
            .cipher(purpose)
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: &aad,
                },
            )
            .map_err(|_| CoreError::Internal("sealing failed".into()))?;
        let mut all = nonce.to_vec();
        all.extend_from_slice(&ct);
        Ok(format!("{PREFIX}{}", b64().encode(all)))
    }

    /// The plain bytes of a value sealed for `purpose` and `binding`;
    /// refused when it was sealed under another master key, for another
    /// purpose, for another row or tenant, altered, or is a legacy value.
    pub fn open(
        &self,
        purpose: Purpose,
        binding: &Binding<'_>,
        sealed: &str,
    ) -> CoreResult<Vec<u8>> {
        let Some(body) = sealed.strip_prefix(PREFIX) else {
            return Err(CoreError::Internal(
                "a sealed value is in the old format (it is resealed at startup)".into(),
            ));
        };
        let (nonce, ct) = split(body)?;
        let aad = binding.aad();
        self.cipher(purpose)
            .decrypt(Nonce::from_slice(&nonce), Payload { msg: &ct, aad: &aad })
            .map_err(|_| {
                CoreError::Internal(format!(
                    "a sealed value of {} does not open (was the master key changed, or the value moved?)",
                    binding.table
                ))
            })
    }

    /// A legacy value's plain bytes (the first format: the one key, no
    /// associated data).
    fn open_legacy(&self, sealed: &str) -> CoreResult<Vec<u8>> {
        let (nonce, ct) = split(sealed)?;
        self.legacy
            .decrypt(Nonce::from_slice(&nonce), ct.as_slice())
            .map_err(|_| CoreError::Internal("a legacy sealed value does not open".into()))
    }
}

/// `(nonce, ciphertext ‖ tag)` of a base64 body.
fn split(body: &str) -> CoreResult<([u8; 12], Vec<u8>)> {
    let all = b64()
        .decode(body)
        .map_err(|_| CoreError::Internal("a sealed value is not base64".into()))?;
    if all.len() < 12 + 16 {
        return Err(CoreError::Internal("a sealed value is too short".into()));
    }
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&all[..12]);
    Ok((nonce, all[12..].to_vec()))
}

/// What [`reseal_legacy`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resealed {
    pub node_keys: usize,
    pub proxmox_tokens: usize,
    /// Flash messages whose shown-once secret was stored in the clear.
    pub flashes: usize,
    /// Flash messages with a secret in the clear whose session is gone:
    /// deleted.
    pub flashes_dropped: usize,
    /// Legacy values that do not open with this master key (left as they
    /// are; they did not open before either).
    pub unopenable: usize,
}

/// Rewrite every legacy sealed value in the current format, bound to its
/// row, and seal the shown-once secrets flash messages kept in the clear.
/// Idempotent, and safe beside another process doing the same (each row is
/// changed only if it still holds what was read).
pub async fn reseal_legacy(db: &Db, vault: &Vault) -> CoreResult<Resealed> {
    let mut done = Resealed::default();
    let keys: Vec<(String, String)> =
        sqlx::query_as("SELECT tenant_id, private_key FROM node_keys")
            .fetch_all(db.pool())
            .await?;
    for (tenant, sealed) in keys.into_iter().filter(|(_, s)| is_legacy(s)) {
        let Ok(plain) = vault.open_legacy(&sealed) else {
            tracing::warn!(%tenant, "a node key does not open with this master key; left as is");
            done.unopenable += 1;
            continue;
        };
        let new = vault.seal(
            Purpose::NodeKey,
            &Binding::new("node_keys", &tenant, &tenant),
            &plain,
        )?;
        sqlx::query(
            "UPDATE node_keys SET private_key = $1 WHERE tenant_id = $2 AND private_key = $3",
        )
        .bind(new)
        .bind(&tenant)
        .bind(&sealed)
        .execute(db.pool())
        .await?;
        done.node_keys += 1;
    }
    let tokens: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT id, tenant_id, hypervisor_secret FROM servers WHERE hypervisor_secret IS NOT NULL",
    )
    .fetch_all(db.pool())
    .await?;
    for (id, tenant, sealed) in tokens.into_iter().filter(|(_, _, s)| is_legacy(s)) {
        let Ok(plain) = vault.open_legacy(&sealed) else {
            tracing::warn!(server = %id, "a Proxmox token does not open with this master key; left as is");
            done.unopenable += 1;
            continue;
        };
        let new = vault.seal(
            Purpose::ProxmoxToken,
            &Binding::new("servers", &id, &tenant),
            &plain,
        )?;
        sqlx::query(
            "UPDATE servers SET hypervisor_secret = $1 WHERE id = $2 AND hypervisor_secret = $3",
        )
        .bind(new)
        .bind(&id)
        .bind(&sealed)
        .execute(db.pool())
        .await?;
        done.proxmox_tokens += 1;
    }
    let flashes: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT f.session_hash, f.flash, u.tenant_id FROM flashes f \
         LEFT JOIN sessions s ON s.id_hash = f.session_hash \
         LEFT JOIN users u ON u.id = s.user_id",
    )
    .fetch_all(db.pool())
    .await?;
    for (hash, json, tenant) in flashes {
        let Ok(mut flash) = serde_json::from_str::<serde_json::Value>(&json) else {
            continue;
        };
        let Some(secret) = flash
            .get("secret")
            .and_then(|s| s.as_str())
            .filter(|s| is_legacy(s))
            .map(str::to_string)
        else {
            continue;
        };
        match tenant {
            Some(tenant) => {
                flash["secret"] = vault
                    .seal(
                        Purpose::ShownOnce,
                        &Binding::new("flashes", &hash, &tenant),
                        secret.as_bytes(),
                    )?
                    .into();
                sqlx::query("UPDATE flashes SET flash = $1 WHERE session_hash = $2 AND flash = $3")
                    .bind(flash.to_string())
                    .bind(&hash)
                    .bind(&json)
                    .execute(db.pool())
                    .await?;
                done.flashes += 1;
            }
            None => {
                sqlx::query("DELETE FROM flashes WHERE session_hash = $1 AND flash = $2")
                    .bind(&hash)
                    .bind(&json)
                    .execute(db.pool())
                    .await?;
                done.flashes_dropped += 1;
            }
        }
    }
    if done != Resealed::default() {
        tracing::info!(?done, "resealed stored secrets in the current format");
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_purpose_and_row() {
        let v = Vault::new([7; 32]);
        let row = Binding::new("servers", "s1", "t1");
        let s = v.seal(Purpose::ProxmoxToken, &row, b"secret").unwrap();
        assert!(s.starts_with(PREFIX) && !s.contains("secret"));
        assert_ne!(
            s,
            v.seal(Purpose::ProxmoxToken, &row, b"secret").unwrap(),
            "a fresh nonce each time"
        );
        assert_eq!(v.open(Purpose::ProxmoxToken, &row, &s).unwrap(), b"secret");
        assert!(Vault::new([8; 32])
            .open(Purpose::ProxmoxToken, &row, &s)
            .is_err());
        assert!(v.open(Purpose::NodeKey, &row, &s).is_err());
        assert!(v
            .open(
                Purpose::ProxmoxToken,
                &Binding::new("servers", "s2", "t1"),
                &s
            )
            .is_err());
        assert!(v
            .open(
                Purpose::ProxmoxToken,
                &Binding::new("servers", "s1", "t2"),
                &s
            )
            .is_err());
        assert!(v
            .open(
                Purpose::ProxmoxToken,
                &Binding::new("node_keys", "s1", "t1"),
                &s
            )
            .is_err());
        let mut bytes = b64().decode(&s[PREFIX.len()..]).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = format!("{PREFIX}{}", b64().encode(bytes));
        assert!(v.open(Purpose::ProxmoxToken, &row, &tampered).is_err());
        assert!(
            v.open(Purpose::ProxmoxToken, &row, &s[PREFIX.len()..])
                .is_err(),
            "no prefix: legacy"
        );
    }
}
