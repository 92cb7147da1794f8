//! The four API contracts (OpenAPI 3.1), embedded so the binary serves and
//! prints them wherever it runs.

use clap::ValueEnum;

/// One API surface of Mooring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Contract {
    /// Billing and provisioning panel (`/api`, JWT).
    Mpanel,
    /// Managed WordPress (`/api`, session cookie).
    Wp,
    /// Container sites (`/sites`, `/health`, X-API-Key).
    Tenant,
    /// Git-deployed apps (`/api/v1`, `/metrics`).
    Rustploy,
}

impl Contract {
    pub const ALL: [Contract; 4] = [
        Contract::Mpanel,
        Contract::Wp,
        Contract::Tenant,
        Contract::Rustploy,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Contract::Mpanel => "mpanel",
            Contract::Wp => "wp",
            Contract::Tenant => "tenant",
            Contract::Rustploy => "rustploy",
        }
    }

    /// The OpenAPI document, as in `contracts/<name>.yaml`.
    pub fn yaml(self) -> &'static str {
        match self {
            Contract::Mpanel => include_str!("../../contracts/mpanel.yaml"),
            Contract::Wp => include_str!("../../contracts/wp.yaml"),
            Contract::Tenant => include_str!("../../contracts/tenant.yaml"),
            Contract::Rustploy => include_str!("../../contracts/rustploy.yaml"),
        }
    }

    pub fn by_name(name: &str) -> Option<Contract> {
        Contract::ALL.into_iter().find(|c| c.name() == name)
    }
}
