//! Governed SQL: the statement gate, grants and their in-plan policy, bounds on the values a
//! query may build, and the engine.

pub mod bounds;
pub mod distributed;
pub mod engine;
pub mod gate;
pub mod lookup;
pub mod policy;
pub mod snapshot;

pub use distributed::Scheduler;
pub use engine::{Access, PlannedQuery, QueryEngine, QueryLimits};
pub use gate::StatementKind;
pub use policy::{Grant, GrantSource, Mask};

/// Why a query did not run. Client-facing text is generic where the detail could leak data;
/// the detail is kept for the access record.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The gate or the policy refused the query.
    #[error("{message}")]
    Refused {
        /// Stable code, e.g. `query.statement_not_allowed`.
        code: &'static str,
        /// Human message.
        message: String,
    },
    /// The SQL does not parse or plan against the tables granted to the caller.
    #[error("the query is not valid SQL over the tables granted to you")]
    Invalid {
        /// Parser or planner message, for the access record.
        detail: String,
    },
    /// The query failed while running.
    #[error("the query failed while running")]
    Execution {
        /// Engine message, for the access record.
        detail: String,
    },
    /// The query needed more memory than it may use.
    #[error("the query needs more memory than allowed")]
    ResourcesExhausted {
        /// Engine message, for the access record.
        detail: String,
    },
    /// A bug or broken invariant.
    #[error("internal error")]
    Internal(String),
}

impl QueryError {
    /// A refusal with a stable code.
    pub fn refused(code: &'static str, message: impl Into<String>) -> QueryError {
        QueryError::Refused {
            code,
            message: message.into(),
        }
    }

    /// The detail for the access record.
    pub fn detail(&self) -> String {
        match self {
            QueryError::Refused { message, .. } => message.clone(),
            QueryError::Invalid { detail }
            | QueryError::Execution { detail }
            | QueryError::ResourcesExhausted { detail } => detail.clone(),
            QueryError::Internal(d) => d.clone(),
        }
    }
}

impl From<datafusion::error::DataFusionError> for QueryError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        match e.find_root() {
            datafusion::error::DataFusionError::ResourcesExhausted(_) => {
                QueryError::ResourcesExhausted {
                    detail: e.to_string(),
                }
            }
            _ => QueryError::Execution {
                detail: e.to_string(),
            },
        }
    }
}
