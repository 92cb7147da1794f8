//! The error type of the core: stable codes the surfaces map to their shapes.

/// What went wrong, in terms a surface can map to a status and a stable code.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("{0}")]
    Invalid(String),
    /// Invalid input, about one field of the request (`items[0].quantity`).
    #[error("{field}: {message}")]
    Field { field: String, message: String },
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Internal(String),
    /// Something Mooring depends on (Stripe, a node) did not answer; trying
    /// again later may work.
    #[error("{0}")]
    Unavailable(String),
}

pub type CoreResult<T> = Result<T, CoreError>;

/// A [`CoreError::Field`].
pub fn field_error(field: impl Into<String>, message: impl Into<String>) -> CoreError {
    CoreError::Field {
        field: field.into(),
        message: message.into(),
    }
}

impl CoreError {
    /// Whether a unique index refused the write.
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, CoreError::Database(sqlx::Error::Database(d)) if d.is_unique_violation())
    }

    /// The stable snake_case code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            CoreError::Invalid(_) | CoreError::Field { .. } => "invalid_input",
            CoreError::NotFound => "not_found",
            CoreError::Forbidden(_) => "forbidden",
            CoreError::Conflict(_) => "conflict",
            CoreError::Unavailable(_) => "upstream_unavailable",
            CoreError::Database(_) | CoreError::Migrate(_) | CoreError::Internal(_) => "internal",
        }
    }
}
