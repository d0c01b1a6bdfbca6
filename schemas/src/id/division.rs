//! 行政区划代码 — administrative division codes (GB/T 2260), backed by a shipped table.
//!
//! Division codes change over time (counties merge, prefectures are renamed), and a citizen ID
//! keeps the code that was in force when it was assigned. A validator therefore needs every code
//! that has ever been published, not just today's list, and it needs it offline. The table in
//! `schemas/data/divisions.csv` (provenance in `schemas/data/SOURCE.md`) records each code with
//! its name, level, parent names and the first and last revision it appeared in. It is embedded
//! in the binary and parsed once into a sorted array; lookups are binary searches.
//!
//! A [`DivisionCode`] is an index into that array, so it is `Copy`, compares in code order and
//! answers name questions without a search. It can only be made by finding a code in the table.

use std::cmp::Ordering;
use std::fmt;
use std::sync::OnceLock;

use chrono::NaiveDate;
use serde::Deserialize;

use super::{IdError, IdKind, check_characters, check_length, string_identifier};

/// The GB/T 2260 table: `code,name,level,prefecture,province,since,until`, sorted by code.
const TABLE_CSV: &str = include_str!("../../data/divisions.csv");

/// Level of a division in the GB/T 2260 hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DivisionLevel {
    /// 省级: `xx0000`.
    Province,
    /// 地级: `xxyy00`.
    Prefecture,
    /// 县级: everything else.
    County,
}

impl DivisionLevel {
    /// The level a code's shape implies.
    fn of_code(code: u32) -> DivisionLevel {
        if code.is_multiple_of(10_000) {
            DivisionLevel::Province
        } else if code.is_multiple_of(100) {
            DivisionLevel::Prefecture
        } else {
            DivisionLevel::County
        }
    }

    /// Chinese label (省级, 地级, 县级).
    pub fn label_zh(self) -> &'static str {
        match self {
            DivisionLevel::Province => "省级",
            DivisionLevel::Prefecture => "地级",
            DivisionLevel::County => "县级",
        }
    }
}

/// One row of the table.
#[derive(Debug)]
struct Entry {
    code: &'static str,
    number: u32,
    name: &'static str,
    level: DivisionLevel,
    prefecture: &'static str,
    province: &'static str,
    since: NaiveDate,
    until: Option<NaiveDate>,
}

/// A GB/T 2260 division code present in the shipped table, current or historical.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct DivisionCode(u16);

string_identifier!(DivisionCode);

impl DivisionCode {
    /// Parses six ASCII digits that name a division in the table (current or historical).
    pub fn parse(s: &str) -> Result<Self, IdError> {
        check_length(IdKind::Division, s, 6)?;
        check_characters(IdKind::Division, s, |_, c| {
            if c.is_ascii_digit() {
                Ok(())
            } else {
                Err("a digit")
            }
        })?;
        Self::find(s).ok_or_else(|| IdError::UnknownDivision { code: s.to_owned() })
    }

    /// Looks up six ASCII digits; `None` if they are not in the table.
    pub(crate) fn find(digits: &str) -> Option<Self> {
        let entries = table();
        let index = entries.binary_search_by(|e| e.code.cmp(digits)).ok()?;
        // The table has fewer than u16::MAX rows (checked when it is loaded).
        u16::try_from(index).ok().map(DivisionCode)
    }

    fn entry(self) -> &'static Entry {
        // Only `find` and `all` make a DivisionCode, and both use indices of the table.
        &table()[usize::from(self.0)]
    }

    /// The six digits, e.g. `131002`.
    pub fn as_str(&self) -> &'static str {
        self.entry().code
    }

    /// The code as a number, e.g. `131002`.
    pub fn as_u32(self) -> u32 {
        self.entry().number
    }

    /// The division's own name, e.g. 安次区.
    pub fn name(self) -> &'static str {
        self.entry().name
    }

    /// Province, prefecture and own name joined, e.g. 河北省廊坊市安次区 or 北京市东城区.
    ///
    /// Placeholder prefectures of the table (省直辖县级行政区划, 市辖区, 县) are left out because
    /// they are not part of a postal or official name.
    pub fn full_name(self) -> String {
        let e = self.entry();
        let mut name = String::with_capacity(e.province.len() + e.prefecture.len() + e.name.len());
        name.push_str(e.province);
        if !is_placeholder_name(e.prefecture) {
            name.push_str(e.prefecture);
        }
        name.push_str(e.name);
        name
    }

    /// Name of the province the division lies in (its own name for a province).
    pub fn province_name(self) -> &'static str {
        let e = self.entry();
        if e.level == DivisionLevel::Province {
            e.name
        } else {
            e.province
        }
    }

    /// Name of the prefecture the division lies in, as the table has it; `""` for provinces,
    /// prefectures and the districts of municipalities. Counties directly under a province
    /// carry the table's placeholder 省直辖县级行政区划.
    pub fn prefecture_name(self) -> &'static str {
        self.entry().prefecture
    }

    /// Province, prefecture or county level.
    pub fn level(self) -> DivisionLevel {
        self.entry().level
    }

    /// Whether the code is in the latest revision of the table.
    pub fn is_current(self) -> bool {
        self.entry().until.is_none()
    }

    /// First day of the month of the first revision that lists the code. The earliest revision
    /// is December 1980, so `1980-12-01` means "in force by December 1980", not "created then".
    pub fn since(self) -> NaiveDate {
        self.entry().since
    }

    /// First day of the month of the last revision that listed a withdrawn code; `None` if the
    /// code is current.
    pub fn until(self) -> Option<NaiveDate> {
        self.entry().until
    }

    /// The code of the province the division lies in (itself for a province), if the table
    /// has it.
    pub fn province(self) -> Option<DivisionCode> {
        let code = self.as_str();
        Self::find(&format!("{}0000", &code[..2]))
    }

    /// The code of the prefecture the division lies in, if it is a county and the table has
    /// its prefecture (districts of municipalities and counties directly under a province have
    /// none or a placeholder one).
    pub fn prefecture(self) -> Option<DivisionCode> {
        if self.level() != DivisionLevel::County {
            return None;
        }
        Self::find(&format!("{}00", &self.as_str()[..4]))
    }

    /// Every code in the table, current and historical, in code order.
    pub fn all() -> impl Iterator<Item = DivisionCode> {
        // The table has fewer than u16::MAX rows (checked when it is loaded).
        (0..table().len()).filter_map(|i| u16::try_from(i).ok().map(DivisionCode))
    }

    /// Every current county-level code, in code order.
    pub fn current_counties() -> impl Iterator<Item = DivisionCode> {
        Self::all().filter(|d| d.level() == DivisionLevel::County && d.is_current())
    }
}

/// Prefecture names in the table that stand for "no prefecture".
fn is_placeholder_name(name: &str) -> bool {
    matches!(
        name,
        "" | "市辖区" | "县" | "省直辖县级行政区划" | "自治区直辖县级行政区划"
    )
}

/// The parsed table, loaded on first use.
fn table() -> &'static [Entry] {
    static TABLE: OnceLock<Vec<Entry>> = OnceLock::new();
    TABLE.get_or_init(|| {
        parse_table(TABLE_CSV).expect("the shipped divisions.csv is well formed (unit-tested)")
    })
}

/// Why a table line was refused; only surfaces if the shipped file is corrupted.
#[derive(Debug, PartialEq, Eq)]
struct TableError {
    line: usize,
    reason: &'static str,
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "divisions.csv line {}: {}", self.line, self.reason)
    }
}

/// Parses the CSV (no quoting: names never contain commas) and checks what lookups rely on:
/// six-digit codes, strictly increasing, levels matching the code shape, valid revision stamps.
fn parse_table(csv: &'static str) -> Result<Vec<Entry>, TableError> {
    let mut lines = csv.lines().enumerate();
    match lines.next() {
        Some((_, "code,name,level,prefecture,province,since,until")) => {}
        _ => {
            return Err(TableError {
                line: 1,
                reason: "unexpected header",
            });
        }
    }
    let mut entries: Vec<Entry> = Vec::with_capacity(8_000);
    for (i, line) in lines {
        let line_no = i + 1;
        let err = |reason| TableError {
            line: line_no,
            reason,
        };
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&'static str> = line.split(',').collect();
        let [code, name, level, prefecture, province, since, until] = fields[..] else {
            return Err(err("expected 7 fields"));
        };
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("code is not six digits"));
        }
        let number: u32 = code.parse().map_err(|_| err("code is not a number"))?;
        let level = match level {
            "province" => DivisionLevel::Province,
            "prefecture" => DivisionLevel::Prefecture,
            "county" => DivisionLevel::County,
            _ => return Err(err("unknown level")),
        };
        if level != DivisionLevel::of_code(number) {
            return Err(err("level does not match the code"));
        }
        if name.is_empty() {
            return Err(err("empty name"));
        }
        let since = parse_stamp(since).ok_or_else(|| err("bad since stamp"))?;
        let until = match until {
            "" => None,
            s => Some(parse_stamp(s).ok_or_else(|| err("bad until stamp"))?),
        };
        if until.is_some_and(|u| u < since) {
            return Err(err("until before since"));
        }
        if let Some(previous) = entries.last()
            && previous.code.cmp(code) != Ordering::Less
        {
            return Err(err("codes not strictly increasing"));
        }
        entries.push(Entry {
            code,
            number,
            name,
            level,
            prefecture,
            province,
            since,
            until,
        });
    }
    if entries.len() >= usize::from(u16::MAX) {
        return Err(TableError {
            line: 0,
            reason: "too many rows",
        });
    }
    Ok(entries)
}

/// `YYYYMM` to the first day of that month.
fn parse_stamp(s: &str) -> Option<NaiveDate> {
    if s.len() != 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i32 = s[..4].parse().ok()?;
    let month: u32 = s[4..].parse().ok()?;
    NaiveDate::from_ymd_opt(year, month, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, 1).expect("test dates are valid")
    }

    #[test]
    fn shipped_table_loads() {
        let entries = parse_table(TABLE_CSV).expect("table parses");
        assert_eq!(entries.len(), 7110);
        assert_eq!(DivisionCode::all().count(), 7110);
        let counties = DivisionCode::current_counties().count();
        assert!(
            (2800..3200).contains(&counties),
            "{counties} current counties"
        );
    }

    /// One line per code from DOMAIN.md: code, name, full name, current.
    #[test]
    fn known_codes() {
        let cases = [
            ("150402", "红山区", "内蒙古自治区赤峰市红山区", true),
            ("210202", "中山区", "辽宁省大连市中山区", true),
            ("131002", "安次区", "河北省廊坊市安次区", true),
            ("130108", "裕华区", "河北省石家庄市裕华区", true),
            ("130684", "高碑店市", "河北省保定市高碑店市", true),
            ("131082", "三河市", "河北省廊坊市三河市", true),
            ("610403", "杨陵区", "陕西省咸阳市杨陵区", true),
            ("110101", "东城区", "北京市东城区", true),
            ("110103", "崇文区", "北京市崇文区", false),
            ("131000", "廊坊市", "河北省廊坊市", true),
            ("130000", "河北省", "河北省", true),
            ("429004", "仙桃市", "湖北省仙桃市", true),
        ];
        for (code, name, full_name, current) in cases {
            let d = DivisionCode::parse(code).unwrap_or_else(|e| panic!("{code}: {e}"));
            assert_eq!(d.as_str(), code);
            assert_eq!(d.to_string(), code);
            assert_eq!(d.name(), name, "{code}");
            assert_eq!(d.full_name(), full_name, "{code}");
            assert_eq!(d.is_current(), current, "{code}");
        }
    }

    #[test]
    fn accessors() {
        let anci = DivisionCode::parse("131002").expect("known");
        assert_eq!(anci.level(), DivisionLevel::County);
        assert_eq!(anci.province_name(), "河北省");
        assert_eq!(anci.prefecture_name(), "廊坊市");
        assert_eq!(anci.as_u32(), 131_002);
        assert_eq!(anci.province().map(|d| d.as_str()), Some("130000"));
        assert_eq!(anci.prefecture().map(|d| d.as_str()), Some("131000"));
        assert_eq!(anci.since(), date(1988, 12));
        assert_eq!(anci.until(), None);

        let chongwen = DivisionCode::parse("110103").expect("historical codes parse");
        assert_eq!(chongwen.since(), date(1980, 12));
        assert_eq!(chongwen.until(), Some(date(2009, 12)));
        assert_eq!(chongwen.prefecture_name(), "");

        let hebei = DivisionCode::parse("130000").expect("known");
        assert_eq!(hebei.level(), DivisionLevel::Province);
        assert_eq!(hebei.province_name(), "河北省");
        assert_eq!(hebei.prefecture(), None);
        assert_eq!(
            DivisionCode::parse("131000").map(|d| d.level()),
            Ok(DivisionLevel::Prefecture)
        );
    }

    #[test]
    fn ordering_follows_codes() {
        let codes: Vec<&str> = DivisionCode::all().map(|d| d.as_str()).collect();
        assert!(codes.windows(2).all(|w| w[0] < w[1]));
        let a = DivisionCode::parse("110101").expect("known");
        let b = DivisionCode::parse("131002").expect("known");
        assert!(a < b);
    }

    #[test]
    fn rejects() {
        let cases = [
            ("13100", "id.length"),
            ("1310021", "id.length"),
            ("13100a", "id.character"),
            ("１３１００２", "id.character"),
            ("999999", "id.unknown_division"),
            ("131099", "id.unknown_division"),
        ];
        for (input, code) in cases {
            let error = DivisionCode::parse(input).expect_err(input);
            assert_eq!(error.code(), code, "{input}: {error}");
        }
        assert_eq!(
            DivisionCode::parse("13100a").map_err(|e| e.to_string()),
            Err("division code character 6 is 'a', expected a digit".to_owned())
        );
    }

    #[test]
    fn deserialize_goes_through_parse() {
        use serde::de::value::{Error, StringDeserializer};
        let de =
            |s: &str| DivisionCode::deserialize(StringDeserializer::<Error>::new(s.to_owned()));
        assert_eq!(de("131002").map(|d| d.name()), Ok("安次区"));
        assert!(de("999999").is_err());
        assert!(de("13100").is_err());
    }

    #[test]
    fn corrupted_tables_are_refused_not_panicked_on() {
        let header = "code,name,level,prefecture,province,since,until\n";
        let cases: [&'static str; 6] = [
            "x\n",
            "code,name,level,prefecture,province,since,until\n110101,东城区,county\n",
            "code,name,level,prefecture,province,since,until\n110101,东城区,province,,北京市,198012,\n",
            "code,name,level,prefecture,province,since,until\n110101,东城区,county,,北京市,198013,\n",
            "code,name,level,prefecture,province,since,until\n110102,a,county,,,198012,\n110101,b,county,,,198012,\n",
            "code,name,level,prefecture,province,since,until\n110101,a,county,,,199012,198012\n",
        ];
        for csv in cases {
            assert!(parse_table(csv).is_err(), "{csv}");
        }
        assert_eq!(parse_table(header).map(|t| t.len()), Ok(0));
    }
}
