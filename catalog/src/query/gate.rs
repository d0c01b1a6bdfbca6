//! The statement gate: which SQL may reach the planner at all.
//!
//! Only a single read-only query passes (`SELECT`, `WITH`, set operations, `VALUES`), and
//! `EXPLAIN` for auditors. DDL, DML, `COPY`, `SET`, `PREPARE`, `CREATE EXTERNAL TABLE` and
//! every other statement are refused before planning, by kind, so a refusal names what was
//! attempted without running anything. The logical plan is checked again after planning
//! (see `engine`), so a statement that slipped past this parser-level check still cannot
//! write.

use std::ops::ControlFlow;

use datafusion::sql::parser::{DFParser, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::{Query, Statement as SqlStatement, visit_statements};
use datafusion::sql::sqlparser::dialect::GenericDialect;

use super::QueryError;

/// The SQL dialect statements are parsed in; the lookup cache tokenizes in the same one.
pub(crate) const DIALECT: GenericDialect = GenericDialect {};

/// Longest SQL text accepted, in bytes.
pub const MAX_SQL_BYTES: usize = 64 * 1024;

/// What a statement that passed the gate is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementKind {
    /// A read-only query.
    Query,
    /// `EXPLAIN` of a query (auditors only).
    Explain,
}

/// A statement that passed the gate, ready for planning.
#[derive(Debug)]
pub struct Admitted {
    /// The parsed statement.
    pub statement: DfStatement,
    /// Its kind.
    pub kind: StatementKind,
}

/// Parses `sql` and admits it if it is one read-only query (or an `EXPLAIN` when
/// `explain_allowed`).
pub fn admit(sql: &str, explain_allowed: bool) -> Result<Admitted, QueryError> {
    if sql.len() > MAX_SQL_BYTES {
        return Err(QueryError::refused(
            "query.too_long",
            format!("SQL longer than {MAX_SQL_BYTES} bytes"),
        ));
    }
    if sql.trim().is_empty() {
        return Err(QueryError::refused("query.empty", "no SQL statement given"));
    }
    let mut statements = DfStatement::parse(sql)?;
    if statements.is_empty() {
        // Only comments or semicolons: nothing to run, not several things.
        return Err(QueryError::refused("query.empty", "no SQL statement given"));
    }
    if statements.len() != 1 {
        return Err(QueryError::refused(
            "query.multiple_statements",
            "send exactly one statement",
        ));
    }
    let statement = statements
        .pop()
        .expect("exactly one statement was checked above");
    let kind = classify(&statement, explain_allowed)?;
    Ok(Admitted { statement, kind })
}

trait ParseOne {
    fn parse(sql: &str) -> Result<Vec<DfStatement>, QueryError>;
}

impl ParseOne for DfStatement {
    fn parse(sql: &str) -> Result<Vec<DfStatement>, QueryError> {
        DFParser::parse_sql_with_dialect(sql, &DIALECT)
            .map(Vec::from)
            .map_err(|e| QueryError::Invalid {
                detail: e.to_string(),
            })
    }
}

fn classify(statement: &DfStatement, explain_allowed: bool) -> Result<StatementKind, QueryError> {
    let refuse = |what: &str| {
        Err(QueryError::refused(
            "query.statement_not_allowed",
            format!("{what} statements are not allowed; send one SELECT query"),
        ))
    };
    match statement {
        DfStatement::Statement(inner) => match inner.as_ref() {
            SqlStatement::Query(query) if holds_statement(query) => refuse("data-changing (DML)"),
            SqlStatement::Query(_) => Ok(StatementKind::Query),
            SqlStatement::Explain { statement, .. } => {
                if !explain_allowed {
                    return Err(QueryError::refused(
                        "query.explain_not_allowed",
                        "EXPLAIN is reserved for auditors",
                    ));
                }
                if is_plain_query(statement) {
                    Ok(StatementKind::Explain)
                } else {
                    refuse("EXPLAIN of non-query")
                }
            }
            SqlStatement::ExplainTable { .. } => refuse("DESCRIBE"),
            SqlStatement::Insert(_)
            | SqlStatement::Update { .. }
            | SqlStatement::Delete(_)
            | SqlStatement::Merge { .. } => refuse("data-changing (DML)"),
            SqlStatement::Copy { .. } => refuse("COPY"),
            SqlStatement::Set(_) => refuse("SET"),
            SqlStatement::Prepare { .. }
            | SqlStatement::Execute { .. }
            | SqlStatement::Deallocate { .. } => refuse("PREPARE/EXECUTE"),
            SqlStatement::ShowTables { .. }
            | SqlStatement::ShowColumns { .. }
            | SqlStatement::ShowVariable { .. }
            | SqlStatement::ShowFunctions { .. }
            | SqlStatement::ShowCreate { .. } => refuse("SHOW"),
            other if is_ddl(other) => refuse("schema-changing (DDL)"),
            _ => refuse("this kind of"),
        },
        DfStatement::CreateExternalTable(_) => refuse("CREATE EXTERNAL TABLE"),
        DfStatement::CopyTo(_) => refuse("COPY … TO"),
        DfStatement::Reset(_) => refuse("RESET"),
        DfStatement::Explain(explain) => {
            if !explain_allowed {
                return Err(QueryError::refused(
                    "query.explain_not_allowed",
                    "EXPLAIN is reserved for auditors",
                ));
            }
            match explain.statement.as_ref() {
                DfStatement::Statement(inner) if is_plain_query(inner) => {
                    Ok(StatementKind::Explain)
                }
                _ => refuse("EXPLAIN of non-query"),
            }
        }
    }
}

/// Whether a query carries a statement inside it: `WITH … INSERT/UPDATE/DELETE/MERGE` parses
/// as a query whose body is that statement, anywhere a query may stand.
fn holds_statement(query: &Query) -> bool {
    visit_statements(query, |_| ControlFlow::Break(())).is_break()
}

/// A query with no statement inside.
fn is_plain_query(statement: &SqlStatement) -> bool {
    matches!(statement, SqlStatement::Query(q) if !holds_statement(q))
}

fn is_ddl(statement: &SqlStatement) -> bool {
    let text = statement.to_string();
    let head = text
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_uppercase();
    matches!(
        head.as_str(),
        "CREATE"
            | "DROP"
            | "ALTER"
            | "TRUNCATE"
            | "RENAME"
            | "COMMENT"
            | "GRANT"
            | "REVOKE"
            | "ATTACH"
            | "DETACH"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(sql: &str, explain: bool) -> String {
        match admit(sql, explain) {
            Ok(a) => format!("{:?}", a.kind),
            Err(QueryError::Refused { code, .. }) => code.to_owned(),
            Err(QueryError::Invalid { .. }) => "invalid".into(),
            Err(e) => format!("{e:?}"),
        }
    }

    #[test]
    fn only_single_queries_pass() {
        let cases: &[(&str, bool, &str)] = &[
            ("SELECT 1", false, "Query"),
            (
                "WITH a AS (SELECT 1) SELECT * FROM a UNION SELECT 2",
                false,
                "Query",
            ),
            (
                "select * from population where citizen_id = 'x'",
                false,
                "Query",
            ),
            ("EXPLAIN SELECT 1", false, "query.explain_not_allowed"),
            ("EXPLAIN SELECT 1", true, "Explain"),
            ("EXPLAIN ANALYZE SELECT 1", true, "Explain"),
            ("SELECT 1; SELECT 2", false, "query.multiple_statements"),
            (
                "SELECT 1; DROP TABLE population",
                false,
                "query.multiple_statements",
            ),
            (
                "DROP TABLE population",
                false,
                "query.statement_not_allowed",
            ),
            (
                "CREATE TABLE t AS SELECT 1",
                false,
                "query.statement_not_allowed",
            ),
            (
                "CREATE VIEW v AS SELECT 1",
                false,
                "query.statement_not_allowed",
            ),
            (
                "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'",
                false,
                "query.statement_not_allowed",
            ),
            (
                "COPY (SELECT 1) TO '/tmp/x.csv'",
                false,
                "query.statement_not_allowed",
            ),
            (
                "INSERT INTO population VALUES (1)",
                false,
                "query.statement_not_allowed",
            ),
            (
                "DELETE FROM population",
                false,
                "query.statement_not_allowed",
            ),
            (
                "UPDATE population SET name = 'x'",
                false,
                "query.statement_not_allowed",
            ),
            (
                "SET datafusion.execution.batch_size = 1",
                false,
                "query.statement_not_allowed",
            ),
            (
                "RESET datafusion.execution.batch_size",
                false,
                "query.statement_not_allowed",
            ),
            (
                "PREPARE p AS SELECT 1",
                false,
                "query.statement_not_allowed",
            ),
            ("DESCRIBE population", false, "query.statement_not_allowed"),
            ("SHOW TABLES", false, "query.statement_not_allowed"),
            (
                "EXPLAIN DROP TABLE population",
                true,
                "query.statement_not_allowed",
            ),
            (
                "WITH x AS (SELECT 1) DELETE FROM population",
                false,
                "query.statement_not_allowed",
            ),
            (
                "SELECT * FROM (WITH x AS (SELECT 1) INSERT INTO t SELECT 1) s",
                false,
                "query.statement_not_allowed",
            ),
            (
                "EXPLAIN WITH x AS (SELECT 1) UPDATE population SET name = 'x'",
                true,
                "query.statement_not_allowed",
            ),
            ("", false, "query.empty"),
            (";", false, "query.empty"),
            ("-- SELECT 1", false, "query.empty"),
            ("SELEC 1", false, "invalid"),
        ];
        for (sql, explain, want) in cases {
            assert_eq!(code(sql, *explain), *want, "{sql}");
        }
        assert_eq!(
            code(&format!("SELECT '{}'", "x".repeat(MAX_SQL_BYTES)), false),
            "query.too_long"
        );
    }
}
