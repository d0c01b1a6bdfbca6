//! Data subjects and anomaly flags, worked out before an entry is appended.
//!
//! Subjects: every text value of a result that parses as a citizen ID (GB 11643, type 111) or
//! a USCC (GB 32100, type 001) — whatever the column is called — is a data subject. The log
//! records the keyed hash of each, never the identifier itself.
//!
//! Flags, each a stable name on the entry and listed at `GET /v1/audit/alerts`:
//! - `bulk_single_case`: more subjects than the configured number for one case of a matter
//!   (every matter is handled case by case, so one case rarely concerns many people);
//! - `subject_cap_exceeded`: more subjects than the per-entry cap (only the count is exact);
//! - `off_hours`: outside working hours, Beijing time;
//! - `repeated_refusals`: the department's refusals within the window reached the threshold.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::DataType;
use chrono::Timelike;
use tongban_schemas::{CitizenId, Uscc};

use crate::audit::{AuditEntry, Subjects};
use crate::config::AuditConfig;
use crate::ledger::Ledger;

/// The identifiers in `batches`, as `(id type code, id)`, distinct, in order of appearance.
pub fn identifiers(batches: &[RecordBatch]) -> Vec<(&'static str, String)> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for batch in batches {
        for column in batch.columns() {
            let values: Vec<Option<&str>> = match column.data_type() {
                DataType::Utf8 => column.as_string::<i32>().iter().collect(),
                DataType::LargeUtf8 => column.as_string::<i64>().iter().collect(),
                DataType::Utf8View => column.as_string_view().iter().collect(),
                _ => continue,
            };
            for v in values.into_iter().flatten() {
                // Both identifiers are 18 characters; anything else is not one.
                if v.len() != 18 {
                    continue;
                }
                let kind = if CitizenId::parse(v).is_ok() {
                    "111"
                } else if Uscc::parse(v).is_ok() {
                    "001"
                } else {
                    continue;
                };
                if seen.insert(v.to_owned()) {
                    out.push((kind, v.to_owned()));
                }
            }
        }
    }
    out
}

/// The subjects record of an entry and the keyed hashes to index, capped at `cap`.
pub fn subjects(
    ledger: &Ledger,
    ids: &[(&'static str, String)],
    cap: usize,
) -> (Option<Subjects>, Vec<String>) {
    if ids.is_empty() {
        return (None, Vec::new());
    }
    let hashes: Vec<String> = ids
        .iter()
        .take(cap)
        .map(|(kind, id)| ledger.subject_hash(kind, id))
        .collect();
    (
        Some(Subjects {
            count: ids.len() as u64,
            hashes: hashes.clone(),
            bulk: ids.len() > cap,
        }),
        hashes,
    )
}

/// Recent refusals per department, for the `repeated_refusals` flag.
#[derive(Debug, Default)]
pub struct Alerts {
    refusals: Mutex<HashMap<String, VecDeque<i64>>>,
}

impl Alerts {
    /// The flags `entry` earns; `refused` says whether the request was refused.
    pub fn flags(&self, config: &AuditConfig, entry: &AuditEntry, refused: bool) -> Vec<String> {
        let mut flags = Vec::new();
        if let Some(s) = &entry.subjects {
            if entry.purpose.is_some() && s.count > config.bulk_subjects {
                flags.push("bulk_single_case".to_owned());
            }
            if s.bulk {
                flags.push("subject_cap_exceeded".to_owned());
            }
        }
        let hour = chrono::DateTime::from_timestamp_millis(entry.at_ms)
            .map(|t| crate::clock::in_beijing(t).hour())
            .unwrap_or(12);
        let [start, end] = config.working_hours;
        if !(start..end).contains(&hour) {
            flags.push("off_hours".to_owned());
        }
        if refused && config.refusal_alert_count > 0 {
            let window = i64::from(config.refusal_window_minutes) * 60_000;
            if let Ok(mut map) = self.refusals.lock() {
                let recent = map.entry(entry.department.clone()).or_default();
                recent.push_back(entry.at_ms);
                while recent.front().is_some_and(|t| *t < entry.at_ms - window) {
                    recent.pop_front();
                }
                if recent.len() >= config.refusal_alert_count as usize {
                    flags.push("repeated_refusals".to_owned());
                }
            }
        }
        flags
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::StringArray;
    use arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

    #[test]
    fn identifiers_are_found_in_any_text_column_once() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("x", DataType::Utf8, true),
            Field::new("y", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec![
                    Some("110101199003070011"),
                    Some("not an id"),
                    None,
                ])),
                Arc::new(StringArray::from(vec![
                    Some("91110000600037341L"),
                    Some("110101199003070011"),
                    Some("110101199003070012"),
                ])),
            ],
        )
        .expect("batch");
        let ids = identifiers(&[batch]);
        assert_eq!(
            ids,
            vec![
                ("111", "110101199003070011".to_owned()),
                ("001", "91110000600037341L".to_owned()),
            ]
        );
    }
}
