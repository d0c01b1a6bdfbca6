//! Catalogue metadata of an information resource (政务信息资源目录, 2017 编制指南).
//!
//! A resource is what a provider department publishes and consumers are granted: its core
//! metadata, its items (信息项) with an item-level share type, and the base library whose
//! snapshots hold the data. Definitions are validated when built, so a stored resource is
//! always well formed: a conditional share names its conditions, a resource that is not
//! shared names its legal basis.

use std::fmt;
use std::str::FromStr;

use arrow::datatypes::DataType;
use serde::{Deserialize, Serialize};
use tongban_schemas::library::{LABEL_ZH, STANDARD};
use tongban_schemas::{BaseLibrary, Uscc};

use crate::CatalogError;

/// 共享属性: how widely a resource or an item may be shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShareType {
    /// 无条件共享: every department may read it.
    Unconditional,
    /// 有条件共享: readable after the provider approves a request.
    Conditional,
    /// 不予共享: never readable through the exchange.
    NotShared,
}

impl ShareType {
    /// The Chinese term used in the catalogue.
    pub fn label_zh(self) -> &'static str {
        match self {
            ShareType::Unconditional => "无条件共享",
            ShareType::Conditional => "有条件共享",
            ShareType::NotShared => "不予共享",
        }
    }

    /// The stable machine name.
    pub fn as_str(self) -> &'static str {
        match self {
            ShareType::Unconditional => "unconditional",
            ShareType::Conditional => "conditional",
            ShareType::NotShared => "not_shared",
        }
    }
}

impl FromStr for ShareType {
    type Err = CatalogError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "unconditional" | "无条件共享" => Ok(ShareType::Unconditional),
            "conditional" | "有条件共享" => Ok(ShareType::Conditional),
            "not_shared" | "不予共享" => Ok(ShareType::NotShared),
            other => Err(CatalogError::InvalidDefinition(format!(
                "unknown share type `{other}`"
            ))),
        }
    }
}

/// 开放属性: whether the resource may be opened to the public.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpenType {
    /// 无条件开放
    Open,
    /// 有条件开放
    Conditional,
    /// 不予开放
    Closed,
}

impl OpenType {
    /// The Chinese term used in the catalogue.
    pub fn label_zh(self) -> &'static str {
        match self {
            OpenType::Open => "无条件开放",
            OpenType::Conditional => "有条件开放",
            OpenType::Closed => "不予开放",
        }
    }
}

/// 更新周期.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateCycle {
    /// 实时
    RealTime,
    /// 每日
    Daily,
    /// 每周
    Weekly,
    /// 每月
    Monthly,
    /// 每季度
    Quarterly,
    /// 每半年
    HalfYearly,
    /// 每年
    Yearly,
}

impl UpdateCycle {
    /// The Chinese term used in the catalogue.
    pub fn label_zh(self) -> &'static str {
        match self {
            UpdateCycle::RealTime => "实时",
            UpdateCycle::Daily => "每日",
            UpdateCycle::Weekly => "每周",
            UpdateCycle::Monthly => "每月",
            UpdateCycle::Quarterly => "每季度",
            UpdateCycle::HalfYearly => "每半年",
            UpdateCycle::Yearly => "每年",
        }
    }

    /// The ISO 8601 duration DCAT uses for `dct:accrualPeriodicity` frequencies.
    pub fn dcat_frequency(self) -> &'static str {
        match self {
            UpdateCycle::RealTime => {
                "http://publications.europa.eu/resource/authority/frequency/CONT"
            }
            UpdateCycle::Daily => {
                "http://publications.europa.eu/resource/authority/frequency/DAILY"
            }
            UpdateCycle::Weekly => {
                "http://publications.europa.eu/resource/authority/frequency/WEEKLY"
            }
            UpdateCycle::Monthly => {
                "http://publications.europa.eu/resource/authority/frequency/MONTHLY"
            }
            UpdateCycle::Quarterly => {
                "http://publications.europa.eu/resource/authority/frequency/QUARTERLY"
            }
            UpdateCycle::HalfYearly => {
                "http://publications.europa.eu/resource/authority/frequency/ANNUAL_2"
            }
            UpdateCycle::Yearly => {
                "http://publications.europa.eu/resource/authority/frequency/ANNUAL"
            }
        }
    }
}

/// 信息资源代码: 类 (1 digit) + 项 (2) + 目 (3) + 细目 (0–3 digits), then a 6-digit sequence.
///
/// The guide leaves the separator and the 细目 width to the local catalogue; this type
/// writes them as `CIIMMMDDD/SSSSSS` and accepts a 细目 of zero to three digits. The layout is
/// kept in one place (`parse` and `Display`) so a province with another convention changes it
/// here only.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ResourceCode {
    class: u8,
    item: u8,
    catalogue: u16,
    detail: String,
    sequence: u32,
}

impl ResourceCode {
    /// Builds a code from its parts.
    pub fn new(
        class: u8,
        item: u8,
        catalogue: u16,
        detail: &str,
        sequence: u32,
    ) -> Result<Self, CatalogError> {
        let code = ResourceCode {
            class,
            item,
            catalogue,
            detail: detail.to_owned(),
            sequence,
        };
        code.to_string().parse()
    }

    /// Parses `CIIMMM[D…]/SSSSSS`.
    pub fn parse(s: &str) -> Result<Self, CatalogError> {
        let bad = || CatalogError::InvalidResourceCode(s.chars().take(64).collect());
        let (front, sequence) = s.split_once('/').ok_or_else(bad)?;
        if !front.bytes().all(|b| b.is_ascii_digit()) || !(6..=9).contains(&front.len()) {
            return Err(bad());
        }
        if sequence.len() != 6 || !sequence.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let class = front[0..1].parse::<u8>().map_err(|_| bad())?;
        if !(1..=3).contains(&class) {
            return Err(bad());
        }
        Ok(ResourceCode {
            class,
            item: front[1..3].parse().map_err(|_| bad())?,
            catalogue: front[3..6].parse().map_err(|_| bad())?,
            detail: front[6..].to_owned(),
            sequence: sequence.parse().map_err(|_| bad())?,
        })
    }
}

impl fmt::Display for ResourceCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{:02}{:03}{}/{:06}",
            self.class, self.item, self.catalogue, self.detail, self.sequence
        )
    }
}

impl FromStr for ResourceCode {
    type Err = CatalogError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ResourceCode::parse(s)
    }
}

impl TryFrom<String> for ResourceCode {
    type Error = CatalogError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        ResourceCode::parse(&s)
    }
}

impl From<ResourceCode> for String {
    fn from(code: ResourceCode) -> String {
        code.to_string()
    }
}

/// 信息项: one column of a resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// 信息项名称 (Chinese label).
    pub name: String,
    /// Column name in SQL and in the Parquet files.
    pub column: String,
    /// Arrow data type as text (e.g. `Utf8`, `Date32`).
    pub data_type: String,
    /// Maximum length for text items, where the standard fixes one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u32>,
    /// Whether the item is the resource's key.
    #[serde(default)]
    pub key: bool,
    /// Item-level share type.
    pub share_type: ShareType,
    /// Referenced standard, e.g. `GB 11643-1999`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standard: Option<String>,
}

/// The provider of a resource: a department code known to the hub and its USCC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// Department code, e.g. `public-security`.
    pub department: String,
    /// 信息资源提供方名称.
    pub name: String,
    /// 信息资源提供方代码 (the department's USCC).
    pub code: Uscc,
}

/// The full catalogue metadata of a resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceDefinition {
    /// 信息资源代码.
    pub code: ResourceCode,
    /// 信息资源名称.
    pub name: String,
    /// 信息资源提供方.
    pub provider: Provider,
    /// The base library whose snapshots hold the data.
    pub base_library: BaseLibrary,
    /// 信息资源摘要.
    pub summary: String,
    /// 信息资源格式.
    pub format: String,
    /// 信息项.
    pub items: Vec<Item>,
    /// 共享属性 of the resource as a whole (the widest of its items).
    pub share_type: ShareType,
    /// 共享条件: required when conditional; the legal basis when not shared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_conditions: Option<String>,
    /// 共享方式.
    pub share_method: String,
    /// 开放属性.
    pub open_type: OpenType,
    /// 更新周期.
    pub update_cycle: UpdateCycle,
    /// 关联资源代码.
    #[serde(default)]
    pub related: Vec<ResourceCode>,
}

impl ResourceDefinition {
    /// Checks the rules the guide sets on a definition; returns it unchanged when it holds.
    pub fn validated(self) -> Result<Self, CatalogError> {
        let invalid = |m: String| Err(CatalogError::InvalidDefinition(m));
        if self.name.trim().is_empty() {
            return invalid("the resource name is empty".into());
        }
        if self.items.is_empty() {
            return invalid("a resource needs at least one item".into());
        }
        let schema = self.base_library.schema();
        let mut seen = std::collections::HashSet::new();
        for item in &self.items {
            if !seen.insert(item.column.as_str()) {
                return invalid(format!("item `{}` is listed twice", item.column));
            }
            let Ok(field) = schema.field_with_name(&item.column) else {
                return invalid(format!(
                    "item `{}` is not a column of {}",
                    item.column, self.base_library
                ));
            };
            if field.data_type().to_string() != item.data_type {
                return invalid(format!(
                    "item `{}` has type {} but the library column is {}",
                    item.column,
                    item.data_type,
                    field.data_type()
                ));
            }
            if item.key && item.share_type != ShareType::Unconditional {
                return invalid(format!(
                    "key item `{}` must be shared unconditionally",
                    item.column
                ));
            }
        }
        let conditions = self
            .share_conditions
            .as_deref()
            .map(str::trim)
            .unwrap_or("");
        let any_conditional = self
            .items
            .iter()
            .any(|i| i.share_type == ShareType::Conditional);
        let any_withheld = self
            .items
            .iter()
            .any(|i| i.share_type == ShareType::NotShared);
        if conditions.is_empty() && (any_conditional || self.share_type == ShareType::Conditional) {
            return invalid(
                "a resource with conditionally shared items must state its share conditions".into(),
            );
        }
        if conditions.is_empty() && (any_withheld || self.share_type == ShareType::NotShared) {
            return invalid(
                "a resource with items that are not shared must state the legal basis".into(),
            );
        }
        let widest = self
            .items
            .iter()
            .map(|i| i.share_type)
            .min()
            .unwrap_or(ShareType::NotShared);
        if widest != self.share_type {
            return invalid(format!(
                "the resource share type is {} but its widest item is {}",
                self.share_type.as_str(),
                widest.as_str()
            ));
        }
        Ok(self)
    }

    /// The item for a column, if the resource has it.
    pub fn item(&self, column: &str) -> Option<&Item> {
        self.items.iter().find(|i| i.column == column)
    }
}

/// Item-level share types of the base libraries as the demo catalogue publishes them.
///
/// Key items are unconditional (the guide requires it for base libraries); identity items
/// other departments need for most matters are unconditional; addresses, marital status,
/// credit decision contents and similar personal detail are conditional.
fn default_share_type(library: BaseLibrary, column: &str) -> ShareType {
    use ShareType::*;
    match (library, column) {
        (
            BaseLibrary::Population,
            "citizen_id" | "name" | "gender_code" | "birth_date" | "person_status",
        ) => Unconditional,
        (BaseLibrary::Population, _) => Conditional,
        (BaseLibrary::LegalEntity, "legal_rep_id_number") => Conditional,
        (BaseLibrary::LegalEntity, _) => Unconditional,
        (BaseLibrary::CreditRecord, "content" | "subject_id_number") => Conditional,
        (BaseLibrary::CreditRecord, _) => Unconditional,
    }
}

/// Codes and texts of the three base-library resources.
struct LibraryEntry {
    code: (u8, u16, u32),
    summary: &'static str,
    conditions: &'static str,
    cycle: UpdateCycle,
}

fn library_entry(library: BaseLibrary) -> LibraryEntry {
    match library {
        BaseLibrary::Population => LibraryEntry {
            code: (1, 1, 1),
            summary: "全员人口基础信息：身份、户籍、婚姻与人员状态，按公民身份号码组织。",
            conditions: "地址、民族、婚姻状况等信息项限于经批准的办事事项，须注明事项、案件编号与法律依据。",
            cycle: UpdateCycle::Daily,
        },
        BaseLibrary::LegalEntity => LibraryEntry {
            code: (2, 1, 2),
            summary: "法人单位基础信息：登记、法定代表人、住所与存续状态，按统一社会信用代码组织。",
            conditions: "法定代表人证件号码限于经批准的办事事项。",
            cycle: UpdateCycle::Daily,
        },
        BaseLibrary::CreditRecord => LibraryEntry {
            code: (4, 1, 3),
            summary: "社会信用信息：行政许可、行政处罚、失信被执行人、经营异常名录与严重违法失信名单。",
            conditions: "自然人主体的证件号码与决定内容限于经批准的办事事项。",
            cycle: UpdateCycle::Daily,
        },
    }
}

/// The catalogue definition of a base library, published by `provider`.
pub fn base_library_resource(
    library: BaseLibrary,
    provider: Provider,
) -> Result<ResourceDefinition, CatalogError> {
    let entry = library_entry(library);
    let schema = library.schema();
    let items: Vec<Item> = schema
        .fields()
        .iter()
        .map(|field| Item {
            name: field
                .metadata()
                .get(LABEL_ZH)
                .cloned()
                .unwrap_or_else(|| field.name().clone()),
            column: field.name().clone(),
            data_type: field.data_type().to_string(),
            length: text_length(library, field.name(), field.data_type()),
            key: field.name() == library.key_column(),
            share_type: default_share_type(library, field.name()),
            standard: field.metadata().get(STANDARD).cloned(),
        })
        .collect();
    let share_type = items
        .iter()
        .map(|i| i.share_type)
        .min()
        .unwrap_or(ShareType::NotShared);
    let (item, catalogue, sequence) = entry.code;
    ResourceDefinition {
        code: ResourceCode::new(1, item, catalogue, "", sequence)?,
        name: library.label_zh().to_owned(),
        provider,
        base_library: library,
        summary: entry.summary.to_owned(),
        format: "Apache Parquet".to_owned(),
        items,
        share_type,
        share_conditions: Some(entry.conditions.to_owned()),
        share_method: "接口共享（SQL / Arrow Flight SQL）".to_owned(),
        open_type: OpenType::Closed,
        update_cycle: entry.cycle,
        related: Vec::new(),
    }
    .validated()
}

fn text_length(library: BaseLibrary, column: &str, data_type: &DataType) -> Option<u32> {
    if *data_type != DataType::Utf8 {
        return None;
    }
    match column {
        "citizen_id"
        | "uscc"
        | "legal_rep_id_number"
        | "subject_uscc"
        | "subject_id_number"
        | "spouse_citizen_id" => Some(18),
        "household_division_code" | "address_division_code" => Some(6),
        "gender_code" => Some(1),
        "ethnicity_code" | "marital_status_code" => Some(2),
        _ => {
            let _ = library;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> Provider {
        Provider {
            department: "public-security".into(),
            name: "公安局".into(),
            code: Uscc::parse("91110000600037341L").expect("valid example from DOMAIN.md"),
        }
    }

    #[test]
    fn resource_codes_round_trip_and_reject_garbage() {
        let code = ResourceCode::new(1, 1, 1, "", 1).expect("valid");
        assert_eq!(code.to_string(), "101001/000001");
        assert_eq!(ResourceCode::parse("101001/000001").expect("valid"), code);
        assert_eq!(
            ResourceCode::parse("201002003/000042")
                .expect("valid")
                .to_string(),
            "201002003/000042"
        );
        for bad in [
            "",
            "101001",
            "101001/1",
            "A01001/000001",
            "401001/000001",
            "1010010001/000001",
            "101001/00000A",
        ] {
            assert!(ResourceCode::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn base_library_resources_are_valid_with_unconditional_keys() {
        for library in BaseLibrary::ALL {
            let def = base_library_resource(library, provider()).expect("valid definition");
            let key = def.item(library.key_column()).expect("key item");
            assert!(key.key);
            assert_eq!(key.share_type, ShareType::Unconditional);
            assert_eq!(def.items.len(), library.schema().fields().len());
        }
    }

    #[test]
    fn invalid_definitions_are_refused() {
        let good = base_library_resource(BaseLibrary::Population, provider()).expect("valid");
        let mut no_conditions = good.clone();
        no_conditions.share_conditions = None;
        assert!(no_conditions.validated().is_err());
        let mut unknown_column = good.clone();
        unknown_column.items[1].column = "shoe_size".into();
        assert!(unknown_column.validated().is_err());
        let mut conditional_key = good.clone();
        conditional_key.items[0].share_type = ShareType::Conditional;
        assert!(conditional_key.validated().is_err());
        let mut wrong_widest = good;
        wrong_widest.share_type = ShareType::NotShared;
        assert!(wrong_widest.validated().is_err());
    }
}
