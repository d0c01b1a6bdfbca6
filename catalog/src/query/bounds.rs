//! Static bounds on the size of the values a query can build.
//!
//! Several allowed operations multiply the size of their input: `||` and `concat` of a value
//! with itself, `replace` and `regexp_replace` with a longer replacement, `upper` of some
//! scripts. Chained through CTEs, a few hundred bytes of SQL ask for terabytes. No limit
//! catches that at run time: an Arrow kernel allocates its result before any memory pool
//! sees it, constant folding at planning builds literals of any size, and neither the
//! timeout nor cancellation can interrupt a kernel or the optimiser while they compute. One
//! such query holds a worker thread for minutes and can take the process down.
//!
//! So before the optimiser runs, every expression of the plan, in subqueries and recursive
//! CTEs too, gets an upper bound on the bytes of one value it can yield, starting from the
//! widest text a library column is assumed to hold, and a plan whose bound passes
//! [`MAX_VALUE_BYTES`] anywhere is refused. The bounds are coarse on purpose; queries that
//! extract, compare and combine a handful of columns stay far below the limit.

use std::collections::HashMap;

use arrow::datatypes::DataType;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, JoinType};
use datafusion::logical_expr::utils::grouping_set_to_exprlist;
use datafusion::logical_expr::{Expr, LogicalPlan, Operator, RecursiveQuery};

use super::QueryError;

/// The largest value, in bytes, any expression of a query may be able to build.
pub const MAX_VALUE_BYTES: u64 = 16 << 20;

/// What one text value of a library is assumed to hold at most.
const BASE_TEXT_BYTES: u64 = 64 << 10;

/// What a number, date or boolean takes at most, also as text.
const SCALAR_BYTES: u64 = 64;

/// Refuses `plan` if some expression in it could build a value over [`MAX_VALUE_BYTES`].
pub fn check(plan: &LogicalPlan) -> Result<(), QueryError> {
    Bounds::default().plan(plan, &Scope::default()).map(|_| ())
}

fn too_large() -> QueryError {
    QueryError::refused(
        "query.resources_exhausted",
        format!(
            "the query could build values larger than {} MiB",
            MAX_VALUE_BYTES >> 20
        ),
    )
}

/// Columns visible to an expression, with their bounds.
#[derive(Debug, Default, Clone)]
struct Scope {
    columns: HashMap<Column, u64>,
}

impl Scope {
    fn of(schemas: &[&DFSchema], bounds: &[Vec<u64>]) -> Scope {
        let mut columns = HashMap::new();
        for (schema, bounds) in schemas.iter().zip(bounds) {
            for (column, bound) in schema.columns().into_iter().zip(bounds) {
                columns.insert(column, *bound);
            }
        }
        Scope { columns }
    }

    fn merged(&self, inner: &Scope) -> Scope {
        let mut columns = self.columns.clone();
        columns.extend(inner.columns.iter().map(|(c, b)| (c.clone(), *b)));
        Scope { columns }
    }

    fn widest(&self) -> u64 {
        self.columns.values().copied().max().unwrap_or(SCALAR_BYTES)
    }

    fn get(&self, column: &Column) -> Option<u64> {
        self.columns.get(column).copied().or_else(|| {
            self.columns
                .iter()
                .filter(|(c, _)| c.name == column.name)
                .map(|(_, b)| *b)
                .max()
        })
    }
}

#[derive(Debug, Default)]
struct Bounds {
    /// Bounds of the working tables of the recursive CTEs being walked.
    work_tables: HashMap<String, Vec<u64>>,
}

impl Bounds {
    /// The bound of each output column of `plan`.
    fn plan(&mut self, plan: &LogicalPlan, outer: &Scope) -> Result<Vec<u64>, QueryError> {
        if let LogicalPlan::RecursiveQuery(r) = plan {
            return self.recursive(r, outer);
        }
        let width = plan.schema().fields().len();
        let inputs = plan.inputs();
        let input_bounds = inputs
            .iter()
            .map(|p| self.plan(p, outer))
            .collect::<Result<Vec<_>, _>>()?;
        let schemas: Vec<&DFSchema> = inputs.iter().map(|p| p.schema().as_ref()).collect();
        let scope = Scope::of(&schemas, &input_bounds);
        let widest_input = scope.widest();
        // Every expression is bounded, whatever the node does with it, so that an oversized
        // intermediate in a filter or join condition is refused too.
        let exprs = plan
            .expressions()
            .iter()
            .map(|e| self.expr(e, &scope, outer))
            .collect::<Result<Vec<_>, _>>()?;
        let out = match plan {
            LogicalPlan::Projection(_) => exprs,
            LogicalPlan::Window(_) => [input_bounds[0].clone(), exprs].concat(),
            LogicalPlan::Aggregate(a) => {
                let groups = grouping_set_to_exprlist(&a.group_expr)
                    .map_err(|e| QueryError::Invalid {
                        detail: e.to_string(),
                    })?
                    .into_iter()
                    .map(|e| self.expr(e, &scope, outer))
                    .collect::<Result<Vec<_>, _>>()?;
                let aggregates = a
                    .aggr_expr
                    .iter()
                    .map(|e| self.expr(e, &scope, outer))
                    .collect::<Result<Vec<_>, _>>()?;
                [groups, aggregates].concat()
            }
            LogicalPlan::TableScan(scan) => match self.work_tables.get(scan.table_name.table()) {
                Some(bounds) => bounds.clone(),
                None => scan
                    .projected_schema
                    .fields()
                    .iter()
                    .map(|f| base_bound(f.data_type()))
                    .collect(),
            },
            LogicalPlan::Values(values) => {
                let mut out = vec![0; width];
                for row in &values.values {
                    for (i, e) in row.iter().enumerate().take(width) {
                        out[i] = out[i].max(self.expr(e, &Scope::default(), outer)?);
                    }
                }
                out
            }
            LogicalPlan::Union(_) => input_bounds.iter().fold(vec![0; width], |acc, b| {
                acc.iter()
                    .zip(b.iter().chain(std::iter::repeat(&widest_input)))
                    .map(|(x, y)| (*x).max(*y))
                    .collect()
            }),
            LogicalPlan::Join(join) => match join.join_type {
                JoinType::LeftSemi | JoinType::LeftAnti => input_bounds[0].clone(),
                JoinType::RightSemi | JoinType::RightAnti => input_bounds[1].clone(),
                _ => input_bounds.concat(),
            },
            LogicalPlan::EmptyRelation(_) => vec![SCALAR_BYTES; width],
            _ if input_bounds.len() == 1 && input_bounds[0].len() == width => {
                input_bounds[0].clone()
            }
            _ => vec![widest_input; width],
        };
        // Nodes whose output does not line up with the rules above (grouping ids, mark
        // columns) get the widest bound of their inputs.
        if out.len() == width {
            Ok(out)
        } else {
            Ok(vec![
                out.into_iter().max().unwrap_or(0).max(widest_input);
                width
            ])
        }
    }

    /// A recursive CTE: the static term's bounds, grown by the recursive term until they
    /// settle. Growth by a constant per round (building a path) is bounded by the memory
    /// pool, so such a column gets the limit itself, which leaves no room to amplify it
    /// further; growth by a factor per round is refused outright.
    fn recursive(&mut self, r: &RecursiveQuery, outer: &Scope) -> Result<Vec<u64>, QueryError> {
        let start = self.plan(&r.static_term, outer)?;
        let mut rounds = vec![start.clone()];
        for _ in 0..3 {
            let last = rounds.last().cloned().unwrap_or_default();
            self.work_tables.insert(r.name.clone(), last.clone());
            let next = self.plan(&r.recursive_term, outer);
            self.work_tables.remove(&r.name);
            let next = next?;
            rounds.push(
                last.iter()
                    .zip(next.iter().chain(std::iter::repeat(&0)))
                    .map(|(a, b)| (*a).max(*b))
                    .collect(),
            );
        }
        let mut out = Vec::with_capacity(start.len());
        for (i, first) in start.iter().enumerate() {
            let [_, b1, b2, b3] = [0, 1, 2, 3].map(|k| rounds[k][i]);
            if b3 - b2 > b2 - b1 {
                return Err(too_large());
            }
            out.push(if b3 > *first { MAX_VALUE_BYTES } else { *first });
        }
        Ok(out)
    }

    /// The bound of one value of `e`.
    fn expr(&mut self, e: &Expr, scope: &Scope, outer: &Scope) -> Result<u64, QueryError> {
        let bound = match e {
            Expr::Column(c) => scope
                .get(c)
                .or_else(|| outer.get(c))
                .unwrap_or_else(|| scope.widest().max(outer.widest())),
            Expr::OuterReferenceColumn(_, c) => outer.get(c).unwrap_or_else(|| outer.widest()),
            Expr::Literal(value, _) => value.size() as u64,
            Expr::BinaryExpr(b) => {
                let left = self.expr(&b.left, scope, outer)?;
                let right = self.expr(&b.right, scope, outer)?;
                if b.op == Operator::StringConcat {
                    left.saturating_add(right)
                } else {
                    left.max(right)
                }
            }
            Expr::ScalarFunction(f) => {
                let args = f
                    .args
                    .iter()
                    .map(|a| self.expr(a, scope, outer))
                    .collect::<Result<Vec<_>, _>>()?;
                // Edit distance takes time quadratic in its arguments, inside one kernel
                // call that nothing can interrupt: only values as a library holds them.
                if f.name() == "levenshtein" && args.iter().any(|a| *a > 4 * BASE_TEXT_BYTES) {
                    return Err(QueryError::refused(
                        "query.resources_exhausted",
                        "levenshtein only compares values about as long as a library holds",
                    ));
                }
                function_bound(f.name(), &args)
            }
            Expr::ScalarSubquery(s) => {
                let bounds = self.plan(&s.subquery, &outer.merged(scope))?;
                bounds.first().copied().unwrap_or(SCALAR_BYTES)
            }
            Expr::Exists(x) => {
                self.plan(&x.subquery.subquery, &outer.merged(scope))?;
                SCALAR_BYTES
            }
            Expr::InSubquery(x) => {
                self.expr(&x.expr, scope, outer)?;
                self.plan(&x.subquery.subquery, &outer.merged(scope))?;
                SCALAR_BYTES
            }
            Expr::SetComparison(x) => {
                self.expr(&x.expr, scope, outer)?;
                self.plan(&x.subquery.subquery, &outer.merged(scope))?;
                SCALAR_BYTES
            }
            _ => {
                let mut children = Vec::new();
                e.apply_children(|c| {
                    children.push(c);
                    Ok(TreeNodeRecursion::Continue)
                })
                .map_err(|e| QueryError::Internal(e.to_string()))?;
                let widest = children
                    .into_iter()
                    .map(|c| self.expr(c, scope, outer))
                    .collect::<Result<Vec<_>, _>>()?
                    .into_iter()
                    .max()
                    .unwrap_or(SCALAR_BYTES);
                if yields_scalar(e) {
                    SCALAR_BYTES
                } else {
                    widest
                }
            }
        };
        if bound > MAX_VALUE_BYTES {
            return Err(too_large());
        }
        Ok(bound)
    }
}

fn base_bound(data_type: &DataType) -> u64 {
    match data_type {
        DataType::Utf8
        | DataType::LargeUtf8
        | DataType::Utf8View
        | DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView => BASE_TEXT_BYTES,
        _ => SCALAR_BYTES,
    }
}

/// Whether `e` yields a boolean or another fixed-size value whatever its inputs.
fn yields_scalar(e: &Expr) -> bool {
    matches!(
        e,
        Expr::Like(_)
            | Expr::SimilarTo(_)
            | Expr::Not(_)
            | Expr::IsNull(_)
            | Expr::IsNotNull(_)
            | Expr::IsTrue(_)
            | Expr::IsFalse(_)
            | Expr::IsUnknown(_)
            | Expr::IsNotTrue(_)
            | Expr::IsNotFalse(_)
            | Expr::IsNotUnknown(_)
            | Expr::Between(_)
            | Expr::InList(_)
    )
}

/// The bound of a function's result from the bounds of its arguments. Functions whose
/// result is never longer than their longest argument (substrings, trims, conditionals,
/// dates, numbers) take the default.
fn function_bound(name: &str, args: &[u64]) -> u64 {
    let arg = |i: usize| args.get(i).copied().unwrap_or(0);
    let sum = || args.iter().fold(0u64, |a, b| a.saturating_add(*b));
    match name {
        "concat" | "overlay" | "make_array" | "array_concat" | "array_append" | "array_prepend"
        | "named_struct" | "struct" | "map" | "make_map" => sum(),
        "concat_ws" => sum().saturating_add(arg(0).saturating_mul(args.len() as u64)),
        // Every match, even an empty one between two characters, may become the
        // replacement, and a replacement's group references repeat at most the match.
        "replace" | "regexp_replace" => arg(0)
            .saturating_mul(arg(2).saturating_add(1))
            .saturating_add(arg(2)),
        "regexp_match" => arg(0).saturating_mul(arg(1).saturating_add(1)),
        // One character may map to one of up to four bytes, or case-map to three.
        "translate" => arg(0).saturating_mul(4),
        "upper" | "lower" | "initcap" => arg(0).saturating_mul(3),
        "encode" => arg(0).saturating_mul(2).saturating_add(SCALAR_BYTES),
        // A format specifier of two characters may print a dozen.
        "to_char" | "date_format" => arg(1).saturating_mul(16).saturating_add(SCALAR_BYTES),
        "md5" | "sha224" | "sha256" | "sha384" | "sha512" | "digest" | "to_hex" | "chr" => {
            2 * SCALAR_BYTES
        }
        _ => args.iter().copied().max().unwrap_or(0).max(SCALAR_BYTES),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::{Field, Schema};
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;

    use super::*;

    async fn verdict(sql: &str) -> Result<(), String> {
        let ctx = SessionContext::new();
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("address", DataType::Utf8, true),
            Field::new("born", DataType::Date32, true),
        ]));
        let table = MemTable::try_new(schema, vec![vec![]]).map_err(|e| e.to_string())?;
        ctx.register_table("people", Arc::new(table))
            .map_err(|e| e.to_string())?;
        let plan = ctx
            .state()
            .create_logical_plan(sql)
            .await
            .map_err(|e| format!("plan: {e}"))?;
        check(&plan).map_err(|e| e.to_string())
    }

    fn doubling_ctes(levels: usize, from: &str) -> String {
        let mut ctes = vec![format!("t0 AS (SELECT {from} AS s FROM people)")];
        for i in 1..=levels {
            ctes.push(format!("t{i} AS (SELECT s || s AS s FROM t{})", i - 1));
        }
        format!("WITH {} SELECT length(s) FROM t{levels}", ctes.join(", "))
    }

    #[tokio::test]
    async fn ordinary_queries_pass() {
        for sql in [
            "SELECT id, upper(address), concat(id, '-', address, '-', born) FROM people",
            "SELECT address || ' / ' || id FROM people WHERE address LIKE '%路%' ORDER BY 1",
            "SELECT replace(address, '市', '市 '), regexp_replace(id, '(\\d{6})', '$1-') FROM people",
            "SELECT a.id, (SELECT max(b.address) FROM people b WHERE b.id = a.id) FROM people a",
            "SELECT to_char(born, '%Y-%m-%d'), count(*) FROM people GROUP BY ROLLUP (to_char(born, '%Y-%m-%d'))",
            "WITH RECURSIVE r(n, path) AS (SELECT 1, id FROM people UNION ALL \
             SELECT n + 1, path || '>' || 'x' FROM r WHERE n < 5) SELECT path FROM r",
            &doubling_ctes(6, "address"),
            "SELECT levenshtein(address, upper(id)) FROM people",
        ] {
            assert_eq!(verdict(sql).await, Ok(()), "{sql}");
        }
    }

    #[tokio::test]
    async fn amplification_is_refused() {
        for sql in [
            doubling_ctes(40, "address"),
            doubling_ctes(40, "'ab'"),
            format!(
                "SELECT length({}'**'{})",
                "replace(".repeat(10),
                ", '*', '********')".repeat(10)
            ),
            format!(
                "SELECT 1 FROM people WHERE length({}address{}) > 0",
                "regexp_replace(".repeat(4),
                ", '', 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx')".repeat(4)
            ),
            "SELECT (SELECT max(replace(replace(replace(address, '', address), '', address), '', address)) FROM people)".into(),
            "WITH RECURSIVE r(s, n) AS (SELECT address, 0 FROM people UNION ALL \
             SELECT s || s, n + 1 FROM r WHERE n < 40) SELECT max(length(s)) FROM r"
                .into(),
            "WITH RECURSIVE r(s, n) AS (SELECT address, 0 FROM people UNION ALL \
             SELECT s || 'x', n + 1 FROM r WHERE n < 40) SELECT replace(s, '', s) FROM r"
                .into(),
            "SELECT levenshtein(address || address || address || address || address, id) \
             FROM people"
                .into(),
        ] {
            let verdict = verdict(&sql).await;
            assert!(
                verdict.as_ref().is_err_and(|e| !e.starts_with("plan:")),
                "{sql}: {verdict:?}"
            );
        }
    }
}
