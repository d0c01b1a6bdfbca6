//! 电子证照类型 — the e-licence types the exchange issues and verifies.
//!
//! A licence type fixes everything that does not depend on one particular licence: its GB/T
//! 36904 type code, the department authorised to issue it, which kind of holder it names
//! (GB/T 36903 holder code `111` citizen ID or `001` USCC), its face fields (照面信息) with
//! their formats, and how its validity period follows from the face. Both the issuing side
//! and the verifying side read the same table, so a face that could not have been issued is
//! also refused when it is presented.
//!
//! Face values are strings (dates as `YYYY-MM-DD`, amounts as decimal strings), because that
//! is how they travel inside a token and how a clerk reads them; the [`FieldKind`] of each
//! field decides which strings are acceptable. Nothing here reads the clock: the validity of
//! a face is computed from its own dates.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{Datelike, Months, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::id::{CitizenId, Gender, Uscc};

/// The authority code under which the national licence-type catalogue defines its types: the
/// first 18 characters of every type code below (GB/T 36904 type code = USCC of the defining
/// authority + 3 digits).
pub const TYPE_CATALOGUE_AUTHORITY: &str = "11100000000013338W";

/// The value of an open-ended validity end (营业期限 长期, 有效期限 长期).
pub const LONG_TERM: &str = "长期";

/// Longest accepted face value in characters; longer values are refused, not truncated.
pub const MAX_FACE_VALUE_CHARS: usize = 2000;

/// The e-licence types of the exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum LicenceType {
    /// 营业执照, issued to a market entity.
    BusinessLicence,
    /// 食品经营许可证, issued to a food business operator.
    FoodBusinessLicence,
    /// 居民身份证 (electronic form).
    IdCard,
    /// 结婚证, one per spouse.
    MarriageCertificate,
    /// 出生医学证明, held by a parent of the newborn.
    BirthMedicalCertificate,
    /// 不动产权证书, held by a person or an organisation.
    RealEstateCertificate,
}

/// GB/T 36903 holder identifier type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum HolderKind {
    /// `111`, 公民身份号码.
    #[serde(rename = "111")]
    CitizenId,
    /// `001`, 统一社会信用代码.
    #[serde(rename = "001")]
    Uscc,
}

impl HolderKind {
    /// The GB/T 36903 code: `111` or `001`.
    pub fn code(self) -> &'static str {
        match self {
            HolderKind::CitizenId => "111",
            HolderKind::Uscc => "001",
        }
    }

    /// The holder kind of a GB/T 36903 code, for the two codes the exchange issues to.
    pub fn from_code(code: &str) -> Option<HolderKind> {
        match code {
            "111" => Some(HolderKind::CitizenId),
            "001" => Some(HolderKind::Uscc),
            _ => None,
        }
    }
}

/// The holder of a licence: a checked identifier of the kind its code names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Holder {
    /// A natural person, by citizen ID (`111`).
    Citizen(CitizenId),
    /// An organisation, by USCC (`001`).
    Entity(Uscc),
}

impl Holder {
    /// Parses a holder from its GB/T 36903 type code and identifier.
    pub fn parse(code: &str, id: &str) -> Result<Holder, FaceError> {
        let invalid = |reason: String| FaceError::InvalidHolder { reason };
        match HolderKind::from_code(code) {
            Some(HolderKind::CitizenId) => CitizenId::parse(id)
                .map(Holder::Citizen)
                .map_err(|e| invalid(e.to_string())),
            Some(HolderKind::Uscc) => Uscc::parse(id)
                .map(Holder::Entity)
                .map_err(|e| invalid(e.to_string())),
            None => Err(invalid(format!(
                "holder type code {code:?} is not 111 (citizen ID) or 001 (USCC)"
            ))),
        }
    }

    /// The kind of identifier.
    pub fn kind(&self) -> HolderKind {
        match self {
            Holder::Citizen(_) => HolderKind::CitizenId,
            Holder::Entity(_) => HolderKind::Uscc,
        }
    }

    /// The identifier as written.
    pub fn id(&self) -> &str {
        match self {
            Holder::Citizen(id) => id.as_str(),
            Holder::Entity(id) => id.as_str(),
        }
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind().code(), self.id())
    }
}

/// What a face value must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Free text of 1 to `max` characters, no control characters.
    Text {
        /// Longest value in characters.
        max: usize,
    },
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// A date or [`LONG_TERM`].
    DateOrLongTerm,
    /// A checked citizen ID.
    CitizenId,
    /// A checked USCC.
    Uscc,
    /// A GB/T 2261.1 gender code, `1` or `2`.
    GenderCode,
    /// A non-negative decimal with at most `scale` fractional digits.
    Decimal {
        /// Most fractional digits.
        scale: u32,
    },
    /// An upper-case letter prefix followed by a fixed number of digits, e.g. `JY` + 14.
    Coded {
        /// Literal prefix.
        prefix: &'static str,
        /// Number of digits after the prefix.
        digits: usize,
    },
    /// One of a fixed set of values.
    OneOf(&'static [&'static str]),
}

/// One face field of a licence type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    /// Claim name inside the token, `snake_case`.
    pub name: &'static str,
    /// The label printed on the paper licence.
    pub label_zh: &'static str,
    /// Accepted values.
    pub kind: FieldKind,
    /// Whether every licence of the type carries the field.
    pub required: bool,
}

const fn field(name: &'static str, label_zh: &'static str, kind: FieldKind) -> FieldSpec {
    FieldSpec {
        name,
        label_zh,
        kind,
        required: true,
    }
}

const fn optional(name: &'static str, label_zh: &'static str, kind: FieldKind) -> FieldSpec {
    FieldSpec {
        name,
        label_zh,
        kind,
        required: false,
    }
}

const NAME: FieldKind = FieldKind::Text { max: 100 };
const SHORT: FieldKind = FieldKind::Text { max: 50 };
const ADDRESS: FieldKind = FieldKind::Text { max: 200 };
const LONG_TEXT: FieldKind = FieldKind::Text { max: 2000 };

const BUSINESS_LICENCE_FIELDS: &[FieldSpec] = &[
    field("uscc", "统一社会信用代码", FieldKind::Uscc),
    field("name", "名称", NAME),
    field("entity_type", "类型", SHORT),
    field("legal_rep_name", "法定代表人", SHORT),
    field(
        "registered_capital",
        "注册资本（万元）",
        FieldKind::Decimal { scale: 6 },
    ),
    field("established_date", "成立日期", FieldKind::Date),
    field("term_from", "营业期限自", FieldKind::Date),
    field("term_to", "营业期限至", FieldKind::DateOrLongTerm),
    field("address", "住所", ADDRESS),
    field("business_scope", "经营范围", LONG_TEXT),
    field("registration_authority", "登记机关", NAME),
    field("issue_date", "发照日期", FieldKind::Date),
];

const FOOD_BUSINESS_LICENCE_FIELDS: &[FieldSpec] = &[
    field(
        "licence_number",
        "许可证编号",
        FieldKind::Coded {
            prefix: "JY",
            digits: 14,
        },
    ),
    field("operator_name", "经营者名称", NAME),
    field("uscc", "社会信用代码", FieldKind::Uscc),
    field("legal_rep_name", "法定代表人（负责人）", SHORT),
    field("address", "住所", ADDRESS),
    field("premises", "经营场所", ADDRESS),
    field(
        "main_business",
        "主体业态",
        FieldKind::OneOf(&["食品销售经营者", "餐饮服务经营者", "单位食堂"]),
    ),
    field("business_items", "经营项目", LONG_TEXT),
    field("issuing_authority", "发证机关", NAME),
    field("issue_date", "签发日期", FieldKind::Date),
    field("valid_to", "有效期至", FieldKind::Date),
];

const ID_CARD_FIELDS: &[FieldSpec] = &[
    field("name", "姓名", SHORT),
    field("gender", "性别", FieldKind::GenderCode),
    field("ethnicity", "民族", SHORT),
    field("birth_date", "出生", FieldKind::Date),
    field("address", "住址", ADDRESS),
    field("citizen_id", "公民身份号码", FieldKind::CitizenId),
    field("issuing_authority", "签发机关", NAME),
    field("valid_from", "有效期限起", FieldKind::Date),
    field("valid_to", "有效期限止", FieldKind::DateOrLongTerm),
];

const MARRIAGE_CERTIFICATE_FIELDS: &[FieldSpec] = &[
    field("certificate_number", "结婚证字号", SHORT),
    field("holder_name", "持证人", SHORT),
    field("registration_date", "登记日期", FieldKind::Date),
    field("husband_name", "男方姓名", SHORT),
    field("husband_id", "男方身份证件号", FieldKind::CitizenId),
    field("wife_name", "女方姓名", SHORT),
    field("wife_id", "女方身份证件号", FieldKind::CitizenId),
    field("registration_authority", "登记机关", NAME),
];

const BIRTH_MEDICAL_CERTIFICATE_FIELDS: &[FieldSpec] = &[
    field(
        "certificate_number",
        "出生医学证明编号",
        FieldKind::Coded {
            prefix: "",
            digits: 10,
        },
    ),
    field("newborn_name", "新生儿姓名", SHORT),
    field("gender", "性别", FieldKind::GenderCode),
    field("birth_date", "出生日期", FieldKind::Date),
    field("birth_place", "出生地点", ADDRESS),
    field(
        "gestational_weeks",
        "出生孕周",
        FieldKind::Decimal { scale: 0 },
    ),
    field(
        "birth_weight_g",
        "出生体重（克）",
        FieldKind::Decimal { scale: 0 },
    ),
    field(
        "birth_length_cm",
        "出生身长（厘米）",
        FieldKind::Decimal { scale: 1 },
    ),
    field("mother_name", "母亲姓名", SHORT),
    field("mother_id", "母亲身份证件号", FieldKind::CitizenId),
    optional("father_name", "父亲姓名", SHORT),
    optional("father_id", "父亲身份证件号", FieldKind::CitizenId),
    field("institution", "接生机构名称", NAME),
    field("issue_date", "签发日期", FieldKind::Date),
];

const REAL_ESTATE_CERTIFICATE_FIELDS: &[FieldSpec] = &[
    field("certificate_number", "不动产权证书号", NAME),
    field("obligee", "权利人", NAME),
    field(
        "co_ownership",
        "共有情况",
        FieldKind::OneOf(&["单独所有", "共同共有", "按份共有"]),
    ),
    field("location", "坐落", ADDRESS),
    field("unit_number", "不动产单元号", SHORT),
    field("right_type", "权利类型", SHORT),
    field("right_nature", "权利性质", SHORT),
    field("usage", "用途", SHORT),
    field("area_m2", "面积（平方米）", FieldKind::Decimal { scale: 2 }),
    optional("land_term_to", "使用期限至", FieldKind::Date),
    field("registration_date", "登记日期", FieldKind::Date),
    field("registration_authority", "登记机构", NAME),
];

/// How the validity period of a licence follows from its face.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidityRule {
    /// From the `from` date field to the `to` date field (inclusive); `to` may be
    /// [`LONG_TERM`] when the field kind allows it.
    FromFields {
        /// Face field holding the first valid day.
        from: &'static str,
        /// Face field holding the last valid day.
        to: &'static str,
        /// Longest allowed period in years, if the type has one.
        max_years: Option<u32>,
    },
    /// From the `from` date field, with no end: the licence stays valid until revoked.
    OpenEnded {
        /// Face field holding the first valid day.
        from: &'static str,
    },
    /// The ID card rule of the Resident Identity Card Law, art. 5: 5 years under 16, 10 years
    /// from 16 to 25, 20 years from 26 to 45, long-term from 46, by age on the first day.
    IdCardByAge,
}

/// The validity period computed from a face.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Validity {
    /// First valid day.
    pub from: NaiveDate,
    /// Last valid day (inclusive); `None` for licences without an end.
    pub to: Option<NaiveDate>,
}

/// Why a face or holder is not acceptable for a licence type. All are the caller's to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaceError {
    /// A face field the type does not have.
    #[error("{licence_type} has no face field {field}")]
    UnknownField {
        /// The type.
        licence_type: LicenceType,
        /// The field as given.
        field: String,
    },
    /// A required face field is missing.
    #[error("{licence_type} needs the face field {field}")]
    MissingField {
        /// The type.
        licence_type: LicenceType,
        /// The missing field.
        field: &'static str,
    },
    /// A face value that does not fit its field.
    #[error("face field {field} is invalid: {reason}")]
    InvalidField {
        /// The field.
        field: String,
        /// Why, quoting only the value's own text.
        reason: String,
    },
    /// The holder identifier is not valid or of an unknown type.
    #[error("holder is invalid: {reason}")]
    InvalidHolder {
        /// Why.
        reason: String,
    },
    /// The holder is of a kind the type is not issued to.
    #[error("{licence_type} is not issued to holders of type {found}")]
    HolderKind {
        /// The type.
        licence_type: LicenceType,
        /// The holder type code given.
        found: &'static str,
    },
    /// The holder does not match the face (e.g. an ID card for another person).
    #[error("holder does not match the face: {reason}")]
    HolderMismatch {
        /// Why.
        reason: &'static str,
    },
    /// The face's dates do not make a valid period for the type.
    #[error("validity period is invalid: {reason}")]
    Validity {
        /// Why.
        reason: String,
    },
    /// A type slug or code that is not one of the exchange's licence types.
    #[error("{found:?} is not a licence type")]
    UnknownType {
        /// The text given.
        found: String,
    },
}

impl FaceError {
    /// Stable machine code, e.g. `licence.face_field_invalid`.
    pub fn code(&self) -> &'static str {
        match self {
            FaceError::UnknownField { .. } => "licence.face_field_unknown",
            FaceError::MissingField { .. } => "licence.face_field_missing",
            FaceError::InvalidField { .. } => "licence.face_field_invalid",
            FaceError::InvalidHolder { .. } => "licence.holder_invalid",
            FaceError::HolderKind { .. } => "licence.holder_type_not_allowed",
            FaceError::HolderMismatch { .. } => "licence.holder_mismatch",
            FaceError::Validity { .. } => "licence.validity_invalid",
            FaceError::UnknownType { .. } => "licence.unknown_type",
        }
    }
}

/// Face fields (照面信息) by claim name.
pub type Face = BTreeMap<String, String>;

impl LicenceType {
    /// Every type, in catalogue order.
    pub const ALL: [LicenceType; 6] = [
        LicenceType::BusinessLicence,
        LicenceType::FoodBusinessLicence,
        LicenceType::IdCard,
        LicenceType::MarriageCertificate,
        LicenceType::BirthMedicalCertificate,
        LicenceType::RealEstateCertificate,
    ];

    /// The slug used as the token's `vct` and in URLs, e.g. `business-licence`.
    pub fn slug(self) -> &'static str {
        match self {
            LicenceType::BusinessLicence => "business-licence",
            LicenceType::FoodBusinessLicence => "food-business-licence",
            LicenceType::IdCard => "id-card",
            LicenceType::MarriageCertificate => "marriage-certificate",
            LicenceType::BirthMedicalCertificate => "birth-medical-certificate",
            LicenceType::RealEstateCertificate => "real-estate-certificate",
        }
    }

    /// The type of a slug.
    pub fn from_slug(slug: &str) -> Result<LicenceType, FaceError> {
        LicenceType::ALL
            .into_iter()
            .find(|t| t.slug() == slug)
            .ok_or_else(|| FaceError::UnknownType {
                found: slug.chars().take(64).collect(),
            })
    }

    /// The Chinese name, e.g. 营业执照.
    pub fn name_zh(self) -> &'static str {
        match self {
            LicenceType::BusinessLicence => "营业执照",
            LicenceType::FoodBusinessLicence => "食品经营许可证",
            LicenceType::IdCard => "居民身份证",
            LicenceType::MarriageCertificate => "结婚证",
            LicenceType::BirthMedicalCertificate => "出生医学证明",
            LicenceType::RealEstateCertificate => "不动产权证书",
        }
    }

    /// The 21-character GB/T 36904 type code: [`TYPE_CATALOGUE_AUTHORITY`] and 3 digits.
    pub fn type_code(self) -> &'static str {
        match self {
            LicenceType::BusinessLicence => "11100000000013338W001",
            LicenceType::FoodBusinessLicence => "11100000000013338W002",
            LicenceType::IdCard => "11100000000013338W003",
            LicenceType::MarriageCertificate => "11100000000013338W004",
            LicenceType::BirthMedicalCertificate => "11100000000013338W005",
            LicenceType::RealEstateCertificate => "11100000000013338W006",
        }
    }

    /// The type of a 21-character type code.
    pub fn from_type_code(code: &str) -> Result<LicenceType, FaceError> {
        LicenceType::ALL
            .into_iter()
            .find(|t| t.type_code() == code)
            .ok_or_else(|| FaceError::UnknownType {
                found: code.chars().take(64).collect(),
            })
    }

    /// The code of the department authorised to issue the type.
    pub fn issuing_department(self) -> &'static str {
        match self {
            LicenceType::BusinessLicence | LicenceType::FoodBusinessLicence => "market-regulation",
            LicenceType::IdCard => "public-security",
            LicenceType::MarriageCertificate => "civil-affairs",
            LicenceType::BirthMedicalCertificate => "health-commission",
            LicenceType::RealEstateCertificate => "real-estate",
        }
    }

    /// The holder kinds the type is issued to.
    pub fn holder_kinds(self) -> &'static [HolderKind] {
        match self {
            LicenceType::BusinessLicence | LicenceType::FoodBusinessLicence => &[HolderKind::Uscc],
            LicenceType::IdCard
            | LicenceType::MarriageCertificate
            | LicenceType::BirthMedicalCertificate => &[HolderKind::CitizenId],
            LicenceType::RealEstateCertificate => &[HolderKind::CitizenId, HolderKind::Uscc],
        }
    }

    /// The face fields, in the order they are printed.
    pub fn fields(self) -> &'static [FieldSpec] {
        match self {
            LicenceType::BusinessLicence => BUSINESS_LICENCE_FIELDS,
            LicenceType::FoodBusinessLicence => FOOD_BUSINESS_LICENCE_FIELDS,
            LicenceType::IdCard => ID_CARD_FIELDS,
            LicenceType::MarriageCertificate => MARRIAGE_CERTIFICATE_FIELDS,
            LicenceType::BirthMedicalCertificate => BIRTH_MEDICAL_CERTIFICATE_FIELDS,
            LicenceType::RealEstateCertificate => REAL_ESTATE_CERTIFICATE_FIELDS,
        }
    }

    /// The spec of one face field.
    pub fn field(self, name: &str) -> Option<&'static FieldSpec> {
        self.fields().iter().find(|f| f.name == name)
    }

    /// How the validity period follows from the face.
    pub fn validity_rule(self) -> ValidityRule {
        match self {
            LicenceType::BusinessLicence => ValidityRule::FromFields {
                from: "term_from",
                to: "term_to",
                max_years: None,
            },
            // 食品经营许可管理办法: a food business licence is valid for five years.
            LicenceType::FoodBusinessLicence => ValidityRule::FromFields {
                from: "issue_date",
                to: "valid_to",
                max_years: Some(5),
            },
            LicenceType::IdCard => ValidityRule::IdCardByAge,
            LicenceType::MarriageCertificate => ValidityRule::OpenEnded {
                from: "registration_date",
            },
            LicenceType::BirthMedicalCertificate => ValidityRule::OpenEnded { from: "issue_date" },
            LicenceType::RealEstateCertificate => ValidityRule::OpenEnded {
                from: "registration_date",
            },
        }
    }

    /// Checks a complete face and its holder: every field known and well formed, every
    /// required field present, the holder of an allowed kind and consistent with the face,
    /// and the dates forming a valid period. Returns that period.
    pub fn validate(self, face: &Face, holder: &Holder) -> Result<Validity, FaceError> {
        if !self.holder_kinds().contains(&holder.kind()) {
            return Err(FaceError::HolderKind {
                licence_type: self,
                found: holder.kind().code(),
            });
        }
        for (name, value) in face {
            let spec = self.field(name).ok_or_else(|| FaceError::UnknownField {
                licence_type: self,
                field: name.chars().take(64).collect(),
            })?;
            check_value(spec, value)?;
        }
        if let Some(missing) = self
            .fields()
            .iter()
            .find(|f| f.required && !face.contains_key(f.name))
        {
            return Err(FaceError::MissingField {
                licence_type: self,
                field: missing.name,
            });
        }
        self.check_consistency(face, holder)?;
        self.validity(face)
    }

    /// Checks one face value against its field, for faces that are only partly disclosed.
    pub fn validate_field(self, name: &str, value: &str) -> Result<(), FaceError> {
        let spec = self.field(name).ok_or_else(|| FaceError::UnknownField {
            licence_type: self,
            field: name.chars().take(64).collect(),
        })?;
        check_value(spec, value)
    }

    /// The validity period of a face whose fields have been checked.
    pub fn validity(self, face: &Face) -> Result<Validity, FaceError> {
        let date = |name: &'static str| -> Result<NaiveDate, FaceError> {
            let value = face.get(name).ok_or(FaceError::MissingField {
                licence_type: self,
                field: name,
            })?;
            parse_date(name, value)
        };
        let end = |name: &'static str| -> Result<Option<NaiveDate>, FaceError> {
            match face.get(name).map(String::as_str) {
                Some(LONG_TERM) => Ok(None),
                _ => date(name).map(Some),
            }
        };
        let validity = match self.validity_rule() {
            ValidityRule::FromFields {
                from,
                to,
                max_years,
            } => {
                let from = date(from)?;
                let to = end(to)?;
                if let (Some(max), Some(to)) = (max_years, to) {
                    let limit = add_years(from, max)?;
                    if to >= limit {
                        return Err(FaceError::Validity {
                            reason: format!("the period may not exceed {max} years"),
                        });
                    }
                }
                Validity { from, to }
            }
            ValidityRule::OpenEnded { from } => Validity {
                from: date(from)?,
                to: None,
            },
            ValidityRule::IdCardByAge => {
                let from = date("valid_from")?;
                let to = end("valid_to")?;
                let birth = date("birth_date")?;
                let age = age_on(birth, from);
                let years = match age {
                    ..16 => Some(5),
                    16..=25 => Some(10),
                    26..=45 => Some(20),
                    _ => None,
                };
                let expected = years.map(|y| add_years(from, y)).transpose()?;
                if to != expected {
                    return Err(FaceError::Validity {
                        reason: format!(
                            "an ID card issued at age {age} ends {}",
                            expected.map_or_else(|| LONG_TERM.to_owned(), |d| d.to_string())
                        ),
                    });
                }
                Validity { from, to }
            }
        };
        if let Some(to) = validity.to
            && to < validity.from
        {
            return Err(FaceError::Validity {
                reason: "the period ends before it starts".to_owned(),
            });
        }
        Ok(validity)
    }

    /// Cross-field rules: the holder appears on the face, and derived values agree.
    fn check_consistency(self, face: &Face, holder: &Holder) -> Result<(), FaceError> {
        let get = |name: &str| face.get(name).map(String::as_str);
        let mismatch = |reason| Err(FaceError::HolderMismatch { reason });
        match self {
            LicenceType::BusinessLicence | LicenceType::FoodBusinessLicence => {
                if get("uscc") != Some(holder.id()) {
                    return mismatch("the holder must be the licensed entity's USCC");
                }
            }
            LicenceType::IdCard => {
                if get("citizen_id") != Some(holder.id()) {
                    return mismatch("the holder must be the card's citizen ID");
                }
                if let Holder::Citizen(id) = holder {
                    if get("birth_date") != Some(id.birth_date().to_string().as_str()) {
                        return Err(FaceError::InvalidField {
                            field: "birth_date".to_owned(),
                            reason: "it differs from the birth date in the citizen ID".to_owned(),
                        });
                    }
                    if get("gender").and_then(Gender::from_code) != Some(id.gender()) {
                        return Err(FaceError::InvalidField {
                            field: "gender".to_owned(),
                            reason: "it differs from the gender in the citizen ID".to_owned(),
                        });
                    }
                }
            }
            LicenceType::MarriageCertificate => {
                let holder_id = Some(holder.id());
                if get("husband_id") != holder_id && get("wife_id") != holder_id {
                    return mismatch("the holder must be one of the spouses");
                }
                if get("husband_id") == get("wife_id") {
                    return Err(FaceError::InvalidField {
                        field: "wife_id".to_owned(),
                        reason: "the spouses must be different people".to_owned(),
                    });
                }
            }
            LicenceType::BirthMedicalCertificate => {
                let holder_id = Some(holder.id());
                if get("mother_id") != holder_id && get("father_id") != holder_id {
                    return mismatch("the holder must be a parent named on the certificate");
                }
                if get("father_id").is_some() != get("father_name").is_some() {
                    return Err(FaceError::InvalidField {
                        field: "father_id".to_owned(),
                        reason: "father_name and father_id go together".to_owned(),
                    });
                }
            }
            LicenceType::RealEstateCertificate => {}
        }
        Ok(())
    }
}

impl fmt::Display for LicenceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.slug())
    }
}

impl TryFrom<String> for LicenceType {
    type Error = FaceError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        LicenceType::from_slug(&s)
    }
}

impl From<LicenceType> for String {
    fn from(t: LicenceType) -> String {
        t.slug().to_owned()
    }
}

impl std::str::FromStr for LicenceType {
    type Err = FaceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LicenceType::from_slug(s)
    }
}

fn invalid(spec: &FieldSpec, reason: impl Into<String>) -> FaceError {
    FaceError::InvalidField {
        field: spec.name.to_owned(),
        reason: reason.into(),
    }
}

fn parse_date(field: &str, value: &str) -> Result<NaiveDate, FaceError> {
    let ok = value.len() == 10
        && value.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    ok.then(|| NaiveDate::parse_from_str(value, "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| FaceError::InvalidField {
            field: field.to_owned(),
            reason: "it must be a real date written YYYY-MM-DD".to_owned(),
        })
}

/// `date` plus `years`; 29 February becomes 28 February in a common year.
fn add_years(date: NaiveDate, years: u32) -> Result<NaiveDate, FaceError> {
    date.checked_add_months(Months::new(years * 12))
        .ok_or_else(|| FaceError::Validity {
            reason: "the period ends after the last representable date".to_owned(),
        })
}

/// Age in whole years on `day` of someone born on `birth`.
fn age_on(birth: NaiveDate, day: NaiveDate) -> i32 {
    let mut age = day.year() - birth.year();
    if (day.month(), day.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age
}

fn check_value(spec: &FieldSpec, value: &str) -> Result<(), FaceError> {
    let chars = value.chars().count();
    if chars > MAX_FACE_VALUE_CHARS {
        return Err(invalid(spec, "it is too long"));
    }
    match spec.kind {
        FieldKind::Text { max } => {
            if value.trim().is_empty() {
                return Err(invalid(spec, "it is empty"));
            }
            if chars > max {
                return Err(invalid(spec, format!("it is longer than {max} characters")));
            }
            if value.chars().any(char::is_control) {
                return Err(invalid(spec, "it contains a control character"));
            }
        }
        FieldKind::Date => {
            parse_date(spec.name, value)?;
        }
        FieldKind::DateOrLongTerm => {
            if value != LONG_TERM {
                parse_date(spec.name, value)
                    .map_err(|_| invalid(spec, "it must be a date written YYYY-MM-DD or 长期"))?;
            }
        }
        FieldKind::CitizenId => {
            CitizenId::parse(value).map_err(|e| invalid(spec, e.to_string()))?;
        }
        FieldKind::Uscc => {
            Uscc::parse(value).map_err(|e| invalid(spec, e.to_string()))?;
        }
        FieldKind::GenderCode => {
            if Gender::from_code(value).is_none() {
                return Err(invalid(spec, "it must be 1 (男) or 2 (女)"));
            }
        }
        FieldKind::Decimal { scale } => {
            let (int, frac) = value.split_once('.').unwrap_or((value, ""));
            let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
            let ok = !int.is_empty()
                && int.len() <= 15
                && digits(int)
                && (int == "0" || !int.starts_with('0'))
                && digits(frac)
                && value.contains('.') != frac.is_empty()
                && frac.len() <= scale as usize;
            if !ok {
                return Err(invalid(
                    spec,
                    format!("it must be a non-negative number with at most {scale} decimals"),
                ));
            }
        }
        FieldKind::Coded { prefix, digits } => {
            let ok = value.strip_prefix(prefix).is_some_and(|rest| {
                rest.len() == digits && rest.bytes().all(|b| b.is_ascii_digit())
            });
            if !ok {
                return Err(invalid(
                    spec,
                    format!("it must be {prefix:?} followed by {digits} digits"),
                ));
            }
        }
        FieldKind::OneOf(values) => {
            if !values.contains(&value) {
                return Err(invalid(
                    spec,
                    format!("it must be one of {}", values.join("、")),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn business_face() -> (Face, Holder) {
        let uscc = "91110000600037341L";
        let face: Face = [
            ("uscc", uscc),
            ("name", "廊坊示例科技有限公司"),
            ("entity_type", "有限责任公司"),
            ("legal_rep_name", "张三"),
            ("registered_capital", "100.5"),
            ("established_date", "2020-01-02"),
            ("term_from", "2020-01-02"),
            ("term_to", LONG_TERM),
            ("address", "河北省廊坊市广阳区示例路1号"),
            ("business_scope", "技术开发"),
            ("registration_authority", "廊坊市市场监督管理局"),
            ("issue_date", "2020-01-02"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        (face, Holder::parse("001", uscc).expect("valid USCC"))
    }

    #[test]
    fn type_codes_are_well_formed() {
        assert!(Uscc::parse(TYPE_CATALOGUE_AUTHORITY).is_ok());
        for t in LicenceType::ALL {
            assert_eq!(t.type_code().len(), 21);
            assert!(t.type_code().starts_with(TYPE_CATALOGUE_AUTHORITY));
            assert_eq!(LicenceType::from_type_code(t.type_code()), Ok(t));
            assert_eq!(LicenceType::from_slug(t.slug()), Ok(t));
            assert!(crate::id::LicenceId::new(t.type_code(), "131002", "1", 1).is_ok());
            let names: std::collections::BTreeSet<_> = t.fields().iter().map(|f| f.name).collect();
            assert_eq!(names.len(), t.fields().len(), "{t}: duplicate field");
        }
    }

    #[test]
    fn business_licence_validates() {
        let (face, holder) = business_face();
        let validity = LicenceType::BusinessLicence.validate(&face, &holder);
        assert_eq!(
            validity,
            Ok(Validity {
                from: NaiveDate::from_ymd_opt(2020, 1, 2).expect("date"),
                to: None
            })
        );
    }

    #[test]
    fn refusals() {
        let (base, holder) = business_face();
        let person = Holder::parse("111", "110101199003070011").expect("valid");
        type Edit = fn(&mut Face);
        let cases: Vec<(Edit, bool, &str)> = vec![
            (
                |f| drop(f.insert("colour".into(), "red".into())),
                false,
                "licence.face_field_unknown",
            ),
            (
                |f| drop(f.remove("name")),
                false,
                "licence.face_field_missing",
            ),
            (
                |f| drop(f.insert("uscc".into(), "91110000600037341M".into())),
                false,
                "licence.face_field_invalid",
            ),
            (
                |f| drop(f.insert("registered_capital".into(), "01".into())),
                false,
                "licence.face_field_invalid",
            ),
            (
                |f| drop(f.insert("registered_capital".into(), "1.".into())),
                false,
                "licence.face_field_invalid",
            ),
            (
                |f| drop(f.insert("term_to".into(), "2019-01-01".into())),
                false,
                "licence.validity_invalid",
            ),
            (
                |f| drop(f.insert("issue_date".into(), "2020-02-30".into())),
                false,
                "licence.face_field_invalid",
            ),
            (
                |f| drop(f.insert("name".into(), "a\u{7}b".into())),
                false,
                "licence.face_field_invalid",
            ),
            (|_| {}, true, "licence.holder_type_not_allowed"),
        ];
        for (i, (edit, as_person, code)) in cases.into_iter().enumerate() {
            let mut face = base.clone();
            edit(&mut face);
            let holder = if as_person { &person } else { &holder };
            let err = LicenceType::BusinessLicence
                .validate(&face, holder)
                .expect_err("refused");
            assert_eq!(err.code(), code, "case {i}: {err}");
        }
        let other = Holder::parse("001", TYPE_CATALOGUE_AUTHORITY).expect("valid");
        assert_eq!(
            LicenceType::BusinessLicence
                .validate(&base, &other)
                .map_err(|e| e.code()),
            Err("licence.holder_mismatch")
        );
        assert_eq!(
            Holder::parse("099", "x").map_err(|e| e.code()),
            Err("licence.holder_invalid")
        );
    }

    #[test]
    fn id_card_validity_follows_age() {
        let id = "110101199003070011";
        let holder = Holder::parse("111", id).expect("valid");
        let mut face: Face = [
            ("name", "张三"),
            ("gender", "1"),
            ("ethnicity", "汉"),
            ("birth_date", "1990-03-07"),
            ("address", "北京市东城区示例胡同1号"),
            ("citizen_id", id),
            ("issuing_authority", "北京市公安局东城分局"),
            ("valid_from", "2010-05-01"),
            ("valid_to", "2030-05-01"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        // Age 20 on issue: ten years.
        assert_eq!(
            LicenceType::IdCard
                .validate(&face, &holder)
                .map_err(|e| e.code()),
            Err("licence.validity_invalid")
        );
        face.insert("valid_to".into(), "2020-05-01".into());
        assert!(LicenceType::IdCard.validate(&face, &holder).is_ok());
        face.insert("gender".into(), "2".into());
        assert_eq!(
            LicenceType::IdCard
                .validate(&face, &holder)
                .map_err(|e| e.code()),
            Err("licence.face_field_invalid")
        );
        face.insert("gender".into(), "1".into());
        face.insert("valid_from".into(), "2040-05-01".into());
        face.insert("valid_to".into(), LONG_TERM.into());
        assert!(LicenceType::IdCard.validate(&face, &holder).is_ok());
    }

    #[test]
    fn food_business_licence_is_at_most_five_years() {
        let mut face: Face = [
            ("licence_number", "JY11310020000001"),
            ("operator_name", "廊坊示例餐饮有限公司"),
            ("uscc", "91110000600037341L"),
            ("legal_rep_name", "李四"),
            ("address", "河北省廊坊市示例路2号"),
            ("premises", "河北省廊坊市示例路2号"),
            ("main_business", "餐饮服务经营者"),
            ("business_items", "热食类食品制售"),
            ("issuing_authority", "廊坊市市场监督管理局"),
            ("issue_date", "2024-03-01"),
            ("valid_to", "2029-02-28"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let holder = Holder::parse("001", "91110000600037341L").expect("valid");
        assert!(
            LicenceType::FoodBusinessLicence
                .validate(&face, &holder)
                .is_ok()
        );
        face.insert("valid_to".into(), "2029-03-01".into());
        assert_eq!(
            LicenceType::FoodBusinessLicence
                .validate(&face, &holder)
                .map_err(|e| e.code()),
            Err("licence.validity_invalid")
        );
    }
}
