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
    /// A constraint of the database refused a write: a unique index (the
    /// value of `field` is taken; a conflict) or a foreign key (a record the
    /// write refers to does not exist; invalid input). Made from the
    /// constraint's name in one place, [`crate::db::violation`].
    #[error("{message}")]
    Violation {
        kind: ViolationKind,
        /// The input field the constraint is about, when known.
        field: Option<String>,
        message: String,
    },
    /// Any other database failure. Made by `?` on a `sqlx::Error`, which
    /// first turns constraint violations into [`CoreError::Violation`].
    #[error("database error: {0}")]
    Database(sqlx::Error),
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

/// Which kind of constraint refused a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViolationKind {
    /// A unique index: the value is taken (409).
    Unique,
    /// A foreign key: the referenced record does not exist (422).
    ForeignKey,
}

impl From<sqlx::Error> for CoreError {
    fn from(e: sqlx::Error) -> CoreError {
        crate::db::violation(&e).unwrap_or(CoreError::Database(e))
    }
}

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
        matches!(
            self,
            CoreError::Violation {
                kind: ViolationKind::Unique,
                ..
            }
        ) || matches!(self, CoreError::Database(sqlx::Error::Database(d)) if d.is_unique_violation())
    }

    /// The input field this error is about, if it is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            CoreError::Field { field, .. } => Some(field),
            CoreError::Violation { field, .. } => field.as_deref(),
            _ => None,
        }
    }

    /// Whether this is a failure on Mooring's side (a database error, a bug)
    /// whose text is for the log, never for the person who asked.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            CoreError::Database(_) | CoreError::Migrate(_) | CoreError::Internal(_)
        )
    }

    /// What a person may be told about this error: the message of an error
    /// about their request; for an internal error a generic sentence with a
    /// reference, the error itself logged under that reference.
    pub fn public_message(&self) -> String {
        if self.is_internal() {
            let reference = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
            tracing::error!(error = %self, reference = %reference, "internal error");
            format!("something went wrong on our side (ref {reference})")
        } else {
            self.to_string()
        }
    }

    /// The stable snake_case code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            CoreError::Invalid(_) | CoreError::Field { .. } => "invalid_input",
            CoreError::NotFound => "not_found",
            CoreError::Forbidden(_) => "forbidden",
            CoreError::Conflict(_)
            | CoreError::Violation {
                kind: ViolationKind::Unique,
                ..
            } => "conflict",
            CoreError::Violation {
                kind: ViolationKind::ForeignKey,
                ..
            } => "invalid_input",
            CoreError::Unavailable(_) => "upstream_unavailable",
            CoreError::Database(_) | CoreError::Migrate(_) | CoreError::Internal(_) => "internal",
        }
    }
}
