//! Errors of the catalogue, grouped by who must act.

use crate::publish::RowError;

/// Everything that can go wrong in the catalogue.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    // The caller must act (4xx).
    /// A resource definition breaks a rule of the catalogue guide.
    #[error("invalid resource definition: {0}")]
    InvalidDefinition(String),
    /// A resource code does not have the catalogue's format.
    #[error("`{0}` is not a resource code (expected CIIMMM/SSSSSS)")]
    InvalidResourceCode(String),
    /// The input's columns are not the library's.
    #[error("the input's columns do not match the library (missing: {missing:?}, unexpected: {unexpected:?}{})", if *duplicated { ", some named twice" } else { "" })]
    WrongColumns {
        /// Columns of the library the input lacks.
        missing: Vec<String>,
        /// Columns the library does not have.
        unexpected: Vec<String>,
        /// Whether a column is named twice.
        duplicated: bool,
    },
    /// Some rows failed validation; nothing was published.
    #[error("{total} invalid value(s); nothing was published")]
    InvalidRows {
        /// Number of failures in the whole input.
        total: u64,
        /// The first failures, at most [`crate::publish::MAX_REPORTED_ERRORS`].
        errors: Vec<RowError>,
    },
    /// The input holds no rows.
    #[error("the input holds no rows")]
    EmptyPublication,
    /// The input is not readable CSV or Parquet.
    #[error("{0}")]
    UnreadableInput(String),

    // The operator must act (5xx).
    /// Reading or writing files failed.
    #[error("file system error: {0}")]
    Io(#[from] std::io::Error),
    /// Writing Parquet failed.
    #[error("cannot write the snapshot: {0}")]
    Layout(#[from] tongban_schemas::layout::LayoutError),

    // A bug of ours.
    /// An Arrow kernel failed on data that had been validated.
    #[error("internal error in Arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}
