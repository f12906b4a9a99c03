//! The vault's error type. Messages name fields and keys, never values.

/// A problem with one field of an input, located by its path
/// (`recipient.phone`, `shipments[3].waybill_no`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    /// Dotted path of the field.
    pub field: String,
    /// What is wrong, without the value.
    pub reason: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

/// Errors from the vault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// The input failed validation.
    #[error("invalid input: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    /// A masking profile shows more than GB/T 41833-2022 allows.
    #[error("masking profile: {key}: {reason}")]
    MaskProfile {
        /// The offending setting.
        key: String,
        /// Why it is rejected.
        reason: String,
    },
    /// A shipment with this waybill number already exists for the tenant.
    #[error("shipment already exists")]
    Conflict,
    /// No such shipment.
    #[error("shipment not found")]
    NotFound,
    /// A status change that the lifecycle does not allow.
    #[error("status: cannot go from {from} to {to}")]
    IllegalTransition {
        /// Current status.
        from: String,
        /// Requested status.
        to: String,
    },
    /// The data was erased or its key destroyed; it cannot be recovered.
    #[error("{what} has been erased")]
    Erased {
        /// Which field (path), never its value.
        what: String,
    },
    /// Decryption or authentication failed: the ciphertext was damaged,
    /// truncated, or moved to another row.
    #[error("ciphertext of {what} failed authentication")]
    Tampered {
        /// Which field (path).
        what: String,
    },
    /// A QR token that parcelguard did not issue or that was altered.
    #[error("invalid waybill token")]
    BadToken,
    /// The key store failed.
    #[error(transparent)]
    Keys(#[from] parcel_keys::KeyError),
    /// The storage backend failed.
    #[error("storage: {0}")]
    Store(String),
    /// A privacy number cannot be bound (`pool_exhausted`,
    /// `no_courier_phone`, `not_out_for_delivery`, …).
    #[error("privacy number: {reason}")]
    Numbers {
        /// Reason code.
        reason: &'static str,
    },
    /// The transparency log could not record the action, so it was not done
    /// (or, for reads, its result is withheld).
    #[error("transparency log: {0}")]
    Log(#[from] parcel_tlog::LogError),
}

impl VaultError {
    /// One field error.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError {
            field: field.into(),
            reason: reason.into(),
        }])
    }
}
