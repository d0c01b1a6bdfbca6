//! Which grants govern a request, and the grants the demo starts with.
//!
//! Explicit grants (approved requests and administrative grants) come from the store.
//! Items a resource shares unconditionally are granted to every consumer department without
//! a request; that implied grant is computed here from the catalogue, never stored, so it
//! follows the catalogue when a provider changes an item's share type. Departments without
//! the consumer role have no grants at all.

use std::collections::BTreeMap;

use tongban_catalog::ShareType;
use tongban_catalog::query::{Grant, GrantSource, Mask};
use tongban_schemas::BaseLibrary;

use crate::audit::Purpose;
use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::store::{ResourceRecord, Store};

/// Matter codes the hub knows (事项). Purposes must name one of them.
pub const KNOWN_MATTERS: [&str; 4] = [
    "enterprise-opening",
    "food-business-licence",
    "real-estate-transfer",
    "birth-registration",
];

/// Checks a purpose's form; whether a grant serves its matter is decided per table.
pub fn check_purpose(purpose: &Purpose) -> Result<(), (&'static str, String)> {
    if !KNOWN_MATTERS.contains(&purpose.matter.as_str()) {
        return Err((
            "query.unknown_matter",
            format!("`{}` is not a known matter", clip(&purpose.matter)),
        ));
    }
    let case_ok = !purpose.case_id.is_empty()
        && purpose.case_id.len() <= 64
        && purpose
            .case_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/' | '.'));
    if !case_ok {
        return Err((
            "query.invalid_case_id",
            "a case ID is 1–64 letters, digits, '-', '_', '/' or '.'".into(),
        ));
    }
    let basis = purpose.legal_basis.trim();
    if basis.is_empty() || basis.chars().count() > 256 {
        return Err((
            "query.missing_legal_basis",
            "state the legal basis (at most 256 characters)".into(),
        ));
    }
    Ok(())
}

fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

/// The unconditional grant every consumer holds on a resource, if it shares any item
/// unconditionally.
pub fn unconditional_grant(resource: &ResourceRecord, consumer: &str) -> Option<Grant> {
    let d = &resource.definition;
    let columns: Vec<String> = d
        .items
        .iter()
        .filter(|i| i.share_type == ShareType::Unconditional)
        .map(|i| i.column.clone())
        .collect();
    if columns.is_empty() {
        return None;
    }
    Some(Grant {
        id: 0,
        consumer: consumer.to_owned(),
        resource: d.code.to_string(),
        library: d.base_library,
        columns,
        row_filter: None,
        masks: BTreeMap::new(),
        matters: Vec::new(),
        legal_basis: "无条件共享（政务信息资源目录）".into(),
        valid_from: 0,
        valid_to: None,
        row_cap: None,
        source: GrantSource::Unconditional,
    })
}

/// Every grant the principal's department holds now: explicit and implied.
pub async fn held_by(store: &Store, principal: &Principal) -> Result<Vec<Grant>, ApiError> {
    if !principal.roles.contains(Role::Consumer) {
        return Ok(Vec::new());
    }
    let mut grants = store.grants_for_consumer(&principal.department).await?;
    for resource in store.list_resources().await? {
        grants.extend(unconditional_grant(&resource, &principal.department));
    }
    Ok(grants)
}

/// The grants of the demo (see the governed-SQL contract).
pub fn demo_grants(resources: &[ResourceRecord], now: i64) -> Vec<Grant> {
    let resource = |library: BaseLibrary| {
        resources
            .iter()
            .find(|r| r.definition.base_library == library)
    };
    let mut grants = Vec::new();
    for library in BaseLibrary::ALL {
        let Some(r) = resource(library) else { continue };
        let columns: Vec<String> = r
            .definition
            .items
            .iter()
            .map(|i| i.column.clone())
            .collect();
        let masks: BTreeMap<String, Mask> = ["household_address", "residence_address"]
            .into_iter()
            .filter(|c| columns.iter().any(|x| x == c))
            .map(|c| (c.to_owned(), Mask::KeepPrefix { chars: 6 }))
            .collect();
        grants.push(Grant {
            id: 0,
            consumer: "approval-bureau".into(),
            resource: r.definition.code.to_string(),
            library,
            columns,
            row_filter: None,
            masks,
            matters: vec!["enterprise-opening".into(), "food-business-licence".into()],
            legal_basis: "《优化营商环境条例》第三十五条；《国务院关于加快推进政务服务标准化规范化便利化的指导意见》".into(),
            valid_from: now,
            valid_to: None,
            row_cap: Some(10_000),
            source: GrantSource::Administrative,
        });
    }
    if let Some(r) = resource(BaseLibrary::Population) {
        grants.push(Grant {
            id: 0,
            consumer: "real-estate".into(),
            resource: r.definition.code.to_string(),
            library: BaseLibrary::Population,
            columns: [
                "citizen_id",
                "name",
                "gender_code",
                "birth_date",
                "marital_status_code",
                "spouse_citizen_id",
                "person_status",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            row_filter: Some("person_status = '正常'".into()),
            masks: BTreeMap::new(),
            matters: vec!["real-estate-transfer".into()],
            legal_basis: "《不动产登记暂行条例》第二十一条".into(),
            valid_from: now,
            valid_to: None,
            row_cap: Some(1_000),
            source: GrantSource::Administrative,
        });
    }
    grants
}

#[cfg(test)]
mod tests {
    use super::*;

    fn purpose(matter: &str, case_id: &str, basis: &str) -> Purpose {
        Purpose {
            matter: matter.into(),
            case_id: case_id.into(),
            legal_basis: basis.into(),
        }
    }

    #[test]
    fn purposes_are_checked() {
        assert!(check_purpose(&purpose("enterprise-opening", "2026-QY-0001", "条例")).is_ok());
        assert_eq!(
            check_purpose(&purpose("fishing", "1", "x")).map_err(|e| e.0),
            Err("query.unknown_matter")
        );
        assert_eq!(
            check_purpose(&purpose("enterprise-opening", "", "x")).map_err(|e| e.0),
            Err("query.invalid_case_id")
        );
        assert_eq!(
            check_purpose(&purpose("enterprise-opening", "a b", "x")).map_err(|e| e.0),
            Err("query.invalid_case_id")
        );
        assert_eq!(
            check_purpose(&purpose("enterprise-opening", "1", "  ")).map_err(|e| e.0),
            Err("query.missing_legal_basis")
        );
    }
}
