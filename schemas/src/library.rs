//! Arrow schemas of the base libraries (人口, 法人单位, 社会信用).
//!
//! Each field carries its Chinese label, an English label and, where one applies, the
//! national standard it follows in its Arrow metadata, so that the catalogue, the console
//! and exported Parquet files describe themselves. The key column of each library is named
//! in the schema metadata; lookups and the file layout depend on it.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::{Deserialize, Serialize};

/// Metadata key of a field's Chinese label.
pub const LABEL_ZH: &str = "label_zh";
/// Metadata key of a field's English label.
pub const LABEL_EN: &str = "label_en";
/// Metadata key naming the standard a field's values follow.
pub const STANDARD: &str = "standard";
/// Metadata key marking a field as the library's `primary` key or a `secondary` lookup key.
pub const KEY_ROLE: &str = "key";
/// Schema metadata key naming the library.
pub const LIBRARY: &str = "library";

/// Time zone of every `updated_at` column: records are kept in Beijing time.
pub const TIME_ZONE: &str = "+08:00";

/// Person status values (人员状态).
pub const PERSON_STATUSES: [&str; 4] = ["正常", "死亡", "迁出", "注销"];
/// Legal-entity status values (登记状态).
pub const ENTITY_STATUSES: [&str; 4] = ["存续", "吊销", "注销", "迁出"];
/// Credit record types (信用记录类型).
pub const CREDIT_RECORD_TYPES: [&str; 6] = [
    "行政许可",
    "行政处罚",
    "失信被执行人",
    "经营异常名录",
    "严重违法失信名单",
    "信用修复",
];
/// Credit record status values.
pub const CREDIT_STATUSES: [&str; 3] = ["有效", "已移出", "已修复"];

/// The base libraries Tongban publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BaseLibrary {
    /// 人口基础信息库
    Population,
    /// 法人单位基础信息库
    LegalEntity,
    /// 社会信用信息库
    CreditRecord,
}

impl BaseLibrary {
    /// Every base library, in publication order (people before the entities that refer to them).
    pub const ALL: [BaseLibrary; 3] = [
        BaseLibrary::Population,
        BaseLibrary::LegalEntity,
        BaseLibrary::CreditRecord,
    ];

    /// The table name used in SQL and on disk.
    pub fn table_name(self) -> &'static str {
        match self {
            BaseLibrary::Population => "population",
            BaseLibrary::LegalEntity => "legal_entity",
            BaseLibrary::CreditRecord => "credit_record",
        }
    }

    /// Chinese name of the library.
    pub fn label_zh(self) -> &'static str {
        match self {
            BaseLibrary::Population => "人口基础信息库",
            BaseLibrary::LegalEntity => "法人单位基础信息库",
            BaseLibrary::CreditRecord => "社会信用信息库",
        }
    }

    /// English name of the library.
    pub fn label_en(self) -> &'static str {
        match self {
            BaseLibrary::Population => "Population base library",
            BaseLibrary::LegalEntity => "Legal-entity base library",
            BaseLibrary::CreditRecord => "Social credit library",
        }
    }

    /// The unique key column; files are sorted by it.
    pub fn key_column(self) -> &'static str {
        match self {
            BaseLibrary::Population => "citizen_id",
            BaseLibrary::LegalEntity => "uscc",
            BaseLibrary::CreditRecord => "record_id",
        }
    }

    /// Columns that are looked up often but are not unique; they get Parquet bloom filters.
    pub fn secondary_keys(self) -> &'static [&'static str] {
        match self {
            BaseLibrary::Population => &["spouse_citizen_id"],
            BaseLibrary::LegalEntity => &["legal_rep_id_number"],
            BaseLibrary::CreditRecord => &["subject_uscc", "subject_id_number"],
        }
    }

    /// The Arrow schema of the library, with labels in the field metadata.
    pub fn schema(self) -> SchemaRef {
        match self {
            BaseLibrary::Population => population_schema(),
            BaseLibrary::LegalEntity => legal_entity_schema(),
            BaseLibrary::CreditRecord => credit_record_schema(),
        }
    }
}

impl fmt::Display for BaseLibrary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.table_name())
    }
}

/// An unknown base-library name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown base library `{0}` (expected population, legal_entity or credit_record)")]
pub struct UnknownLibrary(pub String);

impl FromStr for BaseLibrary {
    type Err = UnknownLibrary;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BaseLibrary::ALL
            .into_iter()
            .find(|l| l.table_name() == s)
            .ok_or_else(|| UnknownLibrary(s.to_owned()))
    }
}

/// Role of a column in lookups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Plain,
    Primary,
    Secondary,
}

fn field(
    name: &str,
    data_type: DataType,
    nullable: bool,
    zh: &str,
    en: &str,
    standard: Option<&str>,
    key: Key,
) -> Field {
    let mut meta = HashMap::from([
        (LABEL_ZH.to_owned(), zh.to_owned()),
        (LABEL_EN.to_owned(), en.to_owned()),
    ]);
    if let Some(standard) = standard {
        meta.insert(STANDARD.to_owned(), standard.to_owned());
    }
    match key {
        Key::Plain => {}
        Key::Primary => {
            meta.insert(KEY_ROLE.to_owned(), "primary".to_owned());
        }
        Key::Secondary => {
            meta.insert(KEY_ROLE.to_owned(), "secondary".to_owned());
        }
    }
    Field::new(name, data_type, nullable).with_metadata(meta)
}

fn text() -> DataType {
    DataType::Utf8
}

fn updated_at() -> Field {
    field(
        "updated_at",
        DataType::Timestamp(TimeUnit::Millisecond, Some(TIME_ZONE.into())),
        false,
        "更新时间",
        "Updated at",
        None,
        Key::Plain,
    )
}

fn schema_of(library: BaseLibrary, fields: Vec<Field>) -> SchemaRef {
    let meta = HashMap::from([
        (LIBRARY.to_owned(), library.table_name().to_owned()),
        (LABEL_ZH.to_owned(), library.label_zh().to_owned()),
        (LABEL_EN.to_owned(), library.label_en().to_owned()),
        (KEY_ROLE.to_owned(), library.key_column().to_owned()),
    ]);
    Arc::new(Schema::new_with_metadata(fields, meta))
}

/// 人口基础信息库.
pub fn population_schema() -> SchemaRef {
    use Key::*;
    schema_of(
        BaseLibrary::Population,
        vec![
            field(
                "citizen_id",
                text(),
                false,
                "公民身份号码",
                "Citizen ID number",
                Some("GB 11643-1999"),
                Primary,
            ),
            field("name", text(), false, "姓名", "Name", None, Plain),
            field(
                "gender_code",
                text(),
                false,
                "性别代码",
                "Gender code",
                Some("GB/T 2261.1-2003"),
                Plain,
            ),
            field(
                "ethnicity_code",
                text(),
                false,
                "民族代码",
                "Ethnicity code",
                Some("GB 3304-1991"),
                Plain,
            ),
            field(
                "birth_date",
                DataType::Date32,
                false,
                "出生日期",
                "Date of birth",
                None,
                Plain,
            ),
            field(
                "household_division_code",
                text(),
                false,
                "户籍地行政区划代码",
                "Household registration division code",
                Some("GB/T 2260"),
                Plain,
            ),
            field(
                "household_address",
                text(),
                false,
                "户籍地址",
                "Household registration address",
                None,
                Plain,
            ),
            field(
                "residence_address",
                text(),
                false,
                "居住地址",
                "Residence address",
                None,
                Plain,
            ),
            field(
                "marital_status_code",
                text(),
                false,
                "婚姻状况代码",
                "Marital status code",
                Some("GB/T 2261.2-2003"),
                Plain,
            ),
            field(
                "spouse_citizen_id",
                text(),
                true,
                "配偶公民身份号码",
                "Spouse citizen ID number",
                Some("GB 11643-1999"),
                Secondary,
            ),
            field(
                "person_status",
                text(),
                false,
                "人员状态",
                "Person status",
                None,
                Plain,
            ),
            field(
                "death_date",
                DataType::Date32,
                true,
                "死亡日期",
                "Date of death",
                None,
                Plain,
            ),
            updated_at(),
        ],
    )
}

/// 法人单位基础信息库.
pub fn legal_entity_schema() -> SchemaRef {
    use Key::*;
    schema_of(
        BaseLibrary::LegalEntity,
        vec![
            field(
                "uscc",
                text(),
                false,
                "统一社会信用代码",
                "Unified social credit code",
                Some("GB 32100-2015"),
                Primary,
            ),
            field("name", text(), false, "单位名称", "Name", None, Plain),
            field(
                "entity_type",
                text(),
                false,
                "市场主体类型",
                "Entity type",
                None,
                Plain,
            ),
            field(
                "legal_rep_name",
                text(),
                false,
                "法定代表人姓名",
                "Legal representative name",
                None,
                Plain,
            ),
            field(
                "legal_rep_id_number",
                text(),
                false,
                "法定代表人证件号码",
                "Legal representative ID number",
                Some("GB 11643-1999"),
                Secondary,
            ),
            field(
                "registered_capital",
                DataType::Decimal128(18, 4),
                false,
                "注册资本（万元）",
                "Registered capital (10k CNY)",
                None,
                Plain,
            ),
            field(
                "established_date",
                DataType::Date32,
                false,
                "成立日期",
                "Date established",
                None,
                Plain,
            ),
            field(
                "term_to",
                DataType::Date32,
                true,
                "营业期限至",
                "Term of operation to",
                None,
                Plain,
            ),
            field("address", text(), false, "住所", "Address", None, Plain),
            field(
                "address_division_code",
                text(),
                false,
                "住所行政区划代码",
                "Address division code",
                Some("GB/T 2260"),
                Plain,
            ),
            field(
                "business_scope",
                text(),
                false,
                "经营范围",
                "Business scope",
                None,
                Plain,
            ),
            field(
                "reg_authority_name",
                text(),
                false,
                "登记机关",
                "Registration authority",
                None,
                Plain,
            ),
            field(
                "status",
                text(),
                false,
                "登记状态",
                "Registration status",
                None,
                Plain,
            ),
            updated_at(),
        ],
    )
}

/// 社会信用信息库.
pub fn credit_record_schema() -> SchemaRef {
    use Key::*;
    schema_of(
        BaseLibrary::CreditRecord,
        vec![
            field(
                "record_id",
                text(),
                false,
                "信用记录编号",
                "Record ID",
                None,
                Primary,
            ),
            field(
                "record_type",
                text(),
                false,
                "信用记录类型",
                "Record type",
                None,
                Plain,
            ),
            field(
                "subject_name",
                text(),
                false,
                "主体名称",
                "Subject name",
                None,
                Plain,
            ),
            field(
                "subject_uscc",
                text(),
                true,
                "主体统一社会信用代码",
                "Subject USCC",
                Some("GB 32100-2015"),
                Secondary,
            ),
            field(
                "subject_id_number",
                text(),
                true,
                "主体公民身份号码",
                "Subject citizen ID number",
                Some("GB 11643-1999"),
                Secondary,
            ),
            field(
                "decision_doc_no",
                text(),
                false,
                "决定文书号",
                "Decision document number",
                None,
                Plain,
            ),
            field("content", text(), false, "内容", "Content", None, Plain),
            field(
                "decision_date",
                DataType::Date32,
                false,
                "决定日期",
                "Decision date",
                None,
                Plain,
            ),
            field(
                "valid_to",
                DataType::Date32,
                true,
                "有效期至",
                "Valid to",
                None,
                Plain,
            ),
            field(
                "publicity_end_date",
                DataType::Date32,
                true,
                "公示截止日期",
                "Publicity end date",
                None,
                Plain,
            ),
            field(
                "authority_name",
                text(),
                false,
                "认定机关",
                "Deciding authority",
                None,
                Plain,
            ),
            field("status", text(), false, "状态", "Status", None, Plain),
            updated_at(),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_has_labels_and_the_key_exists() {
        for library in BaseLibrary::ALL {
            let schema = library.schema();
            for field in schema.fields() {
                assert!(field.metadata().contains_key(LABEL_ZH), "{}", field.name());
                assert!(field.metadata().contains_key(LABEL_EN), "{}", field.name());
            }
            let key = schema
                .field_with_name(library.key_column())
                .expect("key column exists");
            assert!(!key.is_nullable());
            assert_eq!(
                key.metadata().get(KEY_ROLE).map(String::as_str),
                Some("primary")
            );
            for secondary in library.secondary_keys() {
                assert!(schema.field_with_name(secondary).is_ok(), "{secondary}");
            }
            assert_eq!(library.table_name().parse::<BaseLibrary>(), Ok(library));
        }
    }

    #[test]
    fn minimum_columns_of_the_domain_are_present() {
        let want: [(BaseLibrary, &[&str]); 3] = [
            (
                BaseLibrary::Population,
                &[
                    "citizen_id",
                    "name",
                    "gender_code",
                    "ethnicity_code",
                    "birth_date",
                    "household_division_code",
                    "household_address",
                    "residence_address",
                    "marital_status_code",
                    "person_status",
                    "death_date",
                    "updated_at",
                ],
            ),
            (
                BaseLibrary::LegalEntity,
                &[
                    "uscc",
                    "name",
                    "entity_type",
                    "legal_rep_name",
                    "legal_rep_id_number",
                    "registered_capital",
                    "established_date",
                    "term_to",
                    "address",
                    "address_division_code",
                    "business_scope",
                    "reg_authority_name",
                    "status",
                    "updated_at",
                ],
            ),
            (
                BaseLibrary::CreditRecord,
                &[
                    "record_id",
                    "record_type",
                    "subject_name",
                    "subject_uscc",
                    "subject_id_number",
                    "decision_doc_no",
                    "content",
                    "decision_date",
                    "valid_to",
                    "publicity_end_date",
                    "authority_name",
                    "status",
                    "updated_at",
                ],
            ),
        ];
        for (library, columns) in want {
            let schema = library.schema();
            for column in columns {
                assert!(schema.field_with_name(column).is_ok(), "{library}.{column}");
            }
        }
    }
}
