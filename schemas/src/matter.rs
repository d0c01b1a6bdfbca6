//! Matters (事项) and their required materials, as data.
//!
//! A matter is what an applicant comes to the window for (企业开办, 不动产转移登记 …). It lists
//! the parties of an application and the materials the approving department needs; each
//! material names where the hub can find it, so that the applicant need not bring it:
//!
//! - a **record** in a base library, found by a key taken from a party or from a column of
//!   another material's record, and meeting conditions (`person_status = 正常`, entity
//!   `status = 存续`);
//! - an **e-licence** of a type, current and held by a party;
//! - a **credit clearance**: no current listing of given record types (失信被执行人,
//!   严重违法失信名单 …) against one or more subjects.
//!
//! Matters are TOML files a department can edit ([`Matter::from_toml`]); everything that can
//! be checked without data is checked at load — sources, columns, key kinds, references
//! between materials, party roles — so a resolution never discovers a broken definition.
//! The four matters of the demo city ship with the crate ([`shipped`]).

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::library::BaseLibrary;
use crate::licence::{HolderKind, LicenceType};

/// The role every matter has: who applies.
pub const APPLICANT: &str = "applicant";

/// A matter as loaded and checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Matter {
    /// Code, e.g. `enterprise-opening`; the purpose of every access made for it.
    pub code: String,
    /// Chinese name, e.g. 企业开办.
    pub name: String,
    /// English name, for foreign readers.
    pub name_en: String,
    /// The legal basis cited by every access made for the matter.
    pub legal_basis: String,
    /// The parties of an application; the first is the applicant.
    pub parties: Vec<Party>,
    /// The required materials, in the order they are checked and printed.
    pub materials: Vec<Material>,
}

/// A party of an application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Party {
    /// Role, e.g. `applicant`, `spouse`, `transferee`.
    pub role: String,
    /// How the window calls it, e.g. 受让人.
    pub name: String,
    /// Which identifier the party presents: `111` citizen ID or `001` USCC.
    pub id_type: HolderKind,
}

/// A required material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Material {
    /// Code, unique in the matter, e.g. `legal-rep-identity`.
    pub code: String,
    /// Chinese name, e.g. 法定代表人身份证明.
    pub name: String,
    /// Where the hub finds it.
    pub source: Source,
}

/// Where a material comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Source {
    /// A record of a base library.
    Record {
        /// The library.
        library: BaseLibrary,
        /// The value of the library's key column.
        key: KeyRef,
        /// What the record must say.
        conditions: Vec<Condition>,
        /// Further columns the evidence reports (marital status, say), and that later
        /// materials may take keys from.
        fields: Vec<String>,
    },
    /// A current e-licence of a type.
    Licence {
        /// The type.
        licence_type: LicenceType,
        /// Who must hold it.
        holder: KeyRef,
    },
    /// No current listing of the record types against any of the subjects.
    CreditClearance {
        /// Whose listings count.
        subjects: Vec<KeyRef>,
        /// Record types that disqualify, e.g. 严重违法失信名单.
        record_types: Vec<String>,
    },
}

impl Source {
    /// `record`, `licence` or `credit-clearance`.
    pub fn kind(&self) -> &'static str {
        match self {
            Source::Record { .. } => "record",
            Source::Licence { .. } => "licence",
            Source::CreditClearance { .. } => "credit-clearance",
        }
    }
}

/// Where an identifier comes from: a party, or a column of another material's record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyRef {
    /// The identifier a party presented.
    Party(String),
    /// A column of the record another (earlier) material found.
    Field {
        /// The material.
        material: String,
        /// The column.
        column: String,
    },
}

impl fmt::Display for KeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyRef::Party(role) => f.write_str(role),
            KeyRef::Field { material, column } => write!(f, "{material}.{column}"),
        }
    }
}

impl Serialize for KeyRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl KeyRef {
    fn parse(text: &str) -> KeyRef {
        match text.split_once('.') {
            Some((material, column)) => KeyRef::Field {
                material: material.to_owned(),
                column: column.to_owned(),
            },
            None => KeyRef::Party(text.to_owned()),
        }
    }
}

/// A column that must hold a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// The column.
    pub column: String,
    /// The value it must hold.
    pub equals: String,
}

/// Which identifier a column holds, for the columns that hold identifiers.
pub fn identifier_kind(library: BaseLibrary, column: &str) -> Option<HolderKind> {
    match (library, column) {
        (BaseLibrary::Population, "citizen_id" | "spouse_citizen_id")
        | (BaseLibrary::LegalEntity, "legal_rep_id_number")
        | (BaseLibrary::CreditRecord, "subject_id_number") => Some(HolderKind::CitizenId),
        (BaseLibrary::LegalEntity, "uscc") | (BaseLibrary::CreditRecord, "subject_uscc") => {
            Some(HolderKind::Uscc)
        }
        _ => None,
    }
}

/// The identifier kind a library's key column holds.
pub fn key_kind(library: BaseLibrary) -> Option<HolderKind> {
    identifier_kind(library, library.key_column())
}

/// Why a matter definition was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("matter {matter}: {reason}")]
pub struct MatterError {
    /// The matter's code, or the file's name when the code is unreadable.
    pub matter: String,
    /// What is wrong.
    pub reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MatterFile {
    code: String,
    name: String,
    name_en: String,
    legal_basis: String,
    parties: Vec<Party>,
    #[serde(default)]
    materials: Vec<MaterialFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MaterialFile {
    code: String,
    name: String,
    source: String,
    library: Option<String>,
    key: Option<String>,
    #[serde(default)]
    conditions: Vec<Condition>,
    #[serde(default)]
    fields: Vec<String>,
    licence_type: Option<String>,
    holder: Option<String>,
    #[serde(default)]
    subjects: Vec<String>,
    #[serde(default)]
    record_types: Vec<String>,
}

/// Credit record types a clearance may name (DOMAIN: credit_record.record_type).
pub const LISTING_TYPES: [&str; 4] = [
    "行政处罚",
    "失信被执行人",
    "经营异常名录",
    "严重违法失信名单",
];

fn is_code(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

impl Matter {
    /// Parses and checks a matter definition.
    pub fn from_toml(text: &str) -> Result<Matter, MatterError> {
        let file: MatterFile = toml::from_str(text).map_err(|e| MatterError {
            matter: "?".into(),
            reason: e.message().to_owned(),
        })?;
        let code = file.code.clone();
        let fail = |reason: String| MatterError {
            matter: code.clone(),
            reason,
        };
        if !is_code(&file.code) {
            return Err(fail(
                "a matter code is 1–64 lower-case letters, digits and '-'".into(),
            ));
        }
        for (what, value) in [
            ("name", &file.name),
            ("name_en", &file.name_en),
            ("legal_basis", &file.legal_basis),
        ] {
            if value.trim().is_empty() || value.chars().count() > 256 {
                return Err(fail(format!("{what} must be 1–256 characters")));
            }
        }
        if file.parties.first().map(|p| p.role.as_str()) != Some(APPLICANT) {
            return Err(fail("the first party must be the applicant".into()));
        }
        let mut roles = BTreeSet::new();
        for p in &file.parties {
            if !is_code(&p.role) || !roles.insert(p.role.as_str()) {
                return Err(fail(format!(
                    "party role {:?} is invalid or repeated",
                    p.role
                )));
            }
        }
        if file.materials.is_empty() {
            return Err(fail("a matter requires at least one material".into()));
        }
        let mut materials: Vec<Material> = Vec::with_capacity(file.materials.len());
        for m in file.materials {
            let fail = |reason: String| MatterError {
                matter: code.clone(),
                reason: format!("material {}: {reason}", m.code),
            };
            if !is_code(&m.code) || materials.iter().any(|x| x.code == m.code) {
                return Err(fail("the code is invalid or repeated".into()));
            }
            if m.name.trim().is_empty() {
                return Err(fail("the name is empty".into()));
            }
            // Resolves a key reference and says which identifier it yields.
            let key_of = |text: &str| -> Result<(KeyRef, HolderKind), MatterError> {
                let key = KeyRef::parse(text);
                let kind = match &key {
                    KeyRef::Party(role) => file
                        .parties
                        .iter()
                        .find(|p| &p.role == role)
                        .map(|p| p.id_type)
                        .ok_or_else(|| fail(format!("no party has the role {role:?}")))?,
                    KeyRef::Field { material, column } => {
                        let earlier =
                            materials
                                .iter()
                                .find(|x| &x.code == material)
                                .ok_or_else(|| {
                                    fail(format!(
                                        "{text}: no earlier material is called {material:?}"
                                    ))
                                })?;
                        let Source::Record {
                            library, fields, ..
                        } = &earlier.source
                        else {
                            return Err(fail(format!("{text}: {material} is not a record")));
                        };
                        if !fields.contains(column) {
                            return Err(fail(format!(
                                "{text}: {material} must list {column} in its fields"
                            )));
                        }
                        identifier_kind(*library, column).ok_or_else(|| {
                            fail(format!("{text}: {column} does not hold an identifier"))
                        })?
                    }
                };
                Ok((key, kind))
            };
            let unused = |present: bool, what: &str| {
                if present {
                    Err(fail(format!("{what} does not apply to this source")))
                } else {
                    Ok(())
                }
            };
            let source = match m.source.as_str() {
                "record" => {
                    let library: BaseLibrary = m
                        .library
                        .as_deref()
                        .ok_or_else(|| fail("a record names its library".into()))?
                        .parse()
                        .map_err(|_| fail("unknown library".into()))?;
                    let (key, kind) = key_of(
                        m.key
                            .as_deref()
                            .ok_or_else(|| fail("a record names its key".into()))?,
                    )?;
                    if key_kind(library) != Some(kind) {
                        return Err(fail(format!(
                            "the key {key} is a {} identifier, but {} is keyed by {}",
                            kind.code(),
                            library.table_name(),
                            library.key_column()
                        )));
                    }
                    let schema = library.schema();
                    for column in m.conditions.iter().map(|c| &c.column).chain(&m.fields) {
                        if schema.field_with_name(column).is_err() {
                            return Err(fail(format!(
                                "{} has no column {column:?}",
                                library.table_name()
                            )));
                        }
                    }
                    unused(
                        m.licence_type.is_some() || m.holder.is_some(),
                        "licence_type/holder",
                    )?;
                    unused(
                        !m.subjects.is_empty() || !m.record_types.is_empty(),
                        "subjects/record_types",
                    )?;
                    Source::Record {
                        library,
                        key,
                        conditions: m.conditions.clone(),
                        fields: m.fields.clone(),
                    }
                }
                "licence" => {
                    let licence_type =
                        LicenceType::from_slug(m.licence_type.as_deref().ok_or_else(|| {
                            fail("a licence source names its licence_type".into())
                        })?)
                        .map_err(|e| fail(e.to_string()))?;
                    let (holder, kind) = key_of(
                        m.holder
                            .as_deref()
                            .ok_or_else(|| fail("a licence source names its holder".into()))?,
                    )?;
                    if !licence_type.holder_kinds().contains(&kind) {
                        return Err(fail(format!(
                            "{} is not issued to {} holders",
                            licence_type.slug(),
                            kind.code()
                        )));
                    }
                    unused(
                        m.library.is_some()
                            || m.key.is_some()
                            || !m.conditions.is_empty()
                            || !m.fields.is_empty(),
                        "library/key/conditions/fields",
                    )?;
                    unused(
                        !m.subjects.is_empty() || !m.record_types.is_empty(),
                        "subjects/record_types",
                    )?;
                    Source::Licence {
                        licence_type,
                        holder,
                    }
                }
                "credit-clearance" => {
                    if m.subjects.is_empty() || m.record_types.is_empty() {
                        return Err(fail(
                            "a credit clearance names subjects and record_types".into(),
                        ));
                    }
                    let mut subjects = Vec::new();
                    for s in &m.subjects {
                        subjects.push(key_of(s)?.0);
                    }
                    for t in &m.record_types {
                        if !LISTING_TYPES.contains(&t.as_str()) {
                            return Err(fail(format!(
                                "{t:?} is not a listing type (one of {})",
                                LISTING_TYPES.join(", ")
                            )));
                        }
                    }
                    unused(
                        m.library.is_some()
                            || m.key.is_some()
                            || !m.conditions.is_empty()
                            || !m.fields.is_empty()
                            || m.licence_type.is_some()
                            || m.holder.is_some(),
                        "library/key/conditions/fields/licence_type/holder",
                    )?;
                    Source::CreditClearance {
                        subjects,
                        record_types: m.record_types.clone(),
                    }
                }
                other => {
                    return Err(fail(format!(
                        "source {other:?} is not record, licence or credit-clearance"
                    )));
                }
            };
            materials.push(Material {
                code: m.code,
                name: m.name,
                source,
            });
        }
        Ok(Matter {
            code: file.code,
            name: file.name,
            name_en: file.name_en,
            legal_basis: file.legal_basis,
            parties: file.parties,
            materials,
        })
    }

    /// The party with `role`.
    pub fn party(&self, role: &str) -> Option<&Party> {
        self.parties.iter().find(|p| p.role == role)
    }

    /// The material with `code`.
    pub fn material(&self, code: &str) -> Option<&Material> {
        self.materials.iter().find(|m| m.code == code)
    }
}

/// The matters that ship with Tongban: the four of the demo city.
pub const SHIPPED: [(&str, &str); 4] = [
    (
        "enterprise-opening.toml",
        include_str!("../matters/enterprise-opening.toml"),
    ),
    (
        "food-business-licence.toml",
        include_str!("../matters/food-business-licence.toml"),
    ),
    (
        "real-estate-transfer.toml",
        include_str!("../matters/real-estate-transfer.toml"),
    ),
    (
        "birth-registration.toml",
        include_str!("../matters/birth-registration.toml"),
    ),
];

/// The codes of the shipped matters, in order.
pub const SHIPPED_CODES: [&str; 4] = [
    "enterprise-opening",
    "food-business-licence",
    "real-estate-transfer",
    "birth-registration",
];

/// The shipped matters, parsed.
pub fn shipped() -> Result<Vec<Matter>, MatterError> {
    SHIPPED
        .iter()
        .map(|(file, text)| {
            Matter::from_toml(text).map_err(|mut e| {
                if e.matter == "?" {
                    e.matter = (*file).to_owned();
                }
                e
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_matters_load() {
        let matters = shipped().expect("shipped matters are valid");
        let codes: Vec<&str> = matters.iter().map(|m| m.code.as_str()).collect();
        assert_eq!(codes, SHIPPED_CODES);
        for m in &matters {
            assert!((3..=5).contains(&m.materials.len()), "{}", m.code);
        }
    }

    fn with_material(material: &str) -> String {
        format!(
            r#"
code = "m"
name = "事项"
name_en = "Matter"
legal_basis = "条例"
[[parties]]
role = "applicant"
name = "申请人"
id_type = "111"
[[parties]]
role = "company"
name = "企业"
id_type = "001"
{material}
"#
        )
    }

    #[test]
    fn bad_definitions_are_refused_with_the_reason() {
        let cases: [(&str, &str); 12] = [
            ("", "at least one material"),
            (
                "[[materials]]\ncode = \"a\"\nname = \"甲\"\nsource = \"paper\"",
                "not record, licence or credit-clearance",
            ),
            (
                "[[materials]]\ncode = \"a\"\nname = \"甲\"\nsource = \"record\"\nlibrary = \"population\"\nkey = \"company\"",
                "is keyed by citizen_id",
            ),
            (
                "[[materials]]\ncode = \"a\"\nname = \"甲\"\nsource = \"record\"\nlibrary = \"population\"\nkey = \"nobody\"",
                "no party has the role",
            ),
            (
                "[[materials]]\ncode = \"a\"\nname = \"甲\"\nsource = \"record\"\nlibrary = \"population\"\nkey = \"applicant\"\nconditions = [{ column = \"colour\", equals = \"红\" }]",
                "no column \"colour\"",
            ),
            (
                "[[materials]]\ncode = \"a\"\nname = \"甲\"\nsource = \"record\"\nlibrary = \"population\"\nkey = \"b.citizen_id\"",
                "no earlier material",
            ),
            (
                "[[materials]]\ncode = \"a\"\nname = \"甲\"\nsource = \"record\"\nlibrary = \"legal_entity\"\nkey = \"company\"\n[[materials]]\ncode = \"b\"\nname = \"乙\"\nsource = \"record\"\nlibrary = \"population\"\nkey = \"a.legal_rep_id_number\"",
                "must list legal_rep_id_number in its fields",
            ),
            (
                "[[materials]]\ncode = \"a\"\nname = \"甲\"\nsource = \"licence\"\nlicence_type = \"business-licence\"\nholder = \"applicant\"",
                "not issued to 111 holders",
            ),
            (
                "[[materials]]\ncode = \"a\"\nname = \"甲\"\nsource = \"licence\"\nlicence_type = \"fishing-permit\"\nholder = \"applicant\"",
                "fishing-permit",
            ),
            (
                "[[materials]]\ncode = \"a\"\nname = \"甲\"\nsource = \"credit-clearance\"\nsubjects = [\"applicant\"]\nrecord_types = [\"信用修复\"]",
                "not a listing type",
            ),
            (
                "[[materials]]\ncode = \"a\"\nname = \"甲\"\nsource = \"licence\"\nlicence_type = \"id-card\"\nholder = \"applicant\"\nlibrary = \"population\"",
                "does not apply",
            ),
            (
                "[[materials]]\ncode = \"A\"\nname = \"甲\"\nsource = \"licence\"\nlicence_type = \"id-card\"\nholder = \"applicant\"",
                "invalid or repeated",
            ),
        ];
        for (material, want) in cases {
            let got = Matter::from_toml(&with_material(material));
            let err = got.expect_err(material);
            assert!(err.to_string().contains(want), "{material}: {err}");
        }
        assert!(Matter::from_toml("code = 1").is_err());
        assert!(
            Matter::from_toml(&with_material("[[materials]]\ncode = \"a\"\nname = \"甲\"\nsource = \"licence\"\nlicence_type = \"id-card\"\nholder = \"applicant\"\nextra = 1")).is_err()
        );
    }

    #[test]
    fn keys_may_come_from_earlier_records() {
        let m = Matter::from_toml(&with_material(
            "[[materials]]\ncode = \"a\"\nname = \"甲\"\nsource = \"record\"\nlibrary = \"legal_entity\"\nkey = \"company\"\nfields = [\"legal_rep_id_number\"]\n[[materials]]\ncode = \"b\"\nname = \"乙\"\nsource = \"record\"\nlibrary = \"population\"\nkey = \"a.legal_rep_id_number\"",
        ))
        .expect("valid");
        assert_eq!(
            m.material("b").map(|b| &b.source),
            Some(&Source::Record {
                library: BaseLibrary::Population,
                key: KeyRef::Field {
                    material: "a".into(),
                    column: "legal_rep_id_number".into()
                },
                conditions: vec![],
                fields: vec![],
            })
        );
    }
}
