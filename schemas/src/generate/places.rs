//! Places: which divisions people live in, and how their addresses and authorities are named.
//!
//! The demo is set in the seed cities of the design documents (廊坊, 赤峰, 大连 …), so most
//! synthetic people live there and the named demo counties (安次区, 三河市 …) are densest;
//! everyone else is spread over the rest of China so that national-scale queries still look
//! national. Addresses follow the postal form `{省}{市}{县区}{路}{号}[{小区}{栋}{单元}{室}]`, and
//! the names of the authorities that register companies or list debtors follow the naming of
//! the real bureaus (廊坊市安次区市场监督管理局, 三河市人民法院), so that the catalogue and the
//! credit checks of the demo read like the real thing.

use chrono::NaiveDate;

use super::rng::{Rng, Weighted};
use crate::id::{DivisionCode, DivisionLevel};

/// Prefectures of the seed cities (first four digits of their codes).
pub(crate) const SEED_PREFECTURES: &[&str] = &[
    "1504", "2102", "1310", "1304", "1309", "1305", "1302", "1301", "1306", "4406", "3308", "3301",
];

/// Seed counties outside the seed prefectures.
pub(crate) const SEED_COUNTIES: &[&str] = &["610403", "110101"];

/// Counties named in the demo scripts; they get several times the population of a county.
pub(crate) const DEMO_COUNTIES: &[&str] = &[
    "131002", "150402", "210202", "130108", "130684", "131082", "610403", "110101",
];

/// The first revision of the division table: a code listed then may be older.
pub(crate) fn table_start() -> NaiveDate {
    NaiveDate::from_ymd_opt(1980, 12, 1).expect("1980-12-01 is a date")
}

/// Whether a county-level code can be someone's household registration: statistical zones
/// (development zones, coded `xxxx7x` since 2018) and the 市辖区 placeholders cannot.
pub(crate) fn is_residential(code: DivisionCode) -> bool {
    if code.level() != DivisionLevel::County || code.name() == "市辖区" {
        return false;
    }
    let digits = code.as_str().as_bytes();
    digits[4] != b'7'
}

/// One-character abbreviation of a province (冀 for 河北), used in court case numbers.
fn province_abbreviation(code: &str) -> &'static str {
    match &code[..2] {
        "11" => "京",
        "12" => "津",
        "13" => "冀",
        "14" => "晋",
        "15" => "蒙",
        "21" => "辽",
        "22" => "吉",
        "23" => "黑",
        "31" => "沪",
        "32" => "苏",
        "33" => "浙",
        "34" => "皖",
        "35" => "闽",
        "36" => "赣",
        "37" => "鲁",
        "41" => "豫",
        "42" => "鄂",
        "43" => "湘",
        "44" => "粤",
        "45" => "桂",
        "46" => "琼",
        "50" => "渝",
        "51" => "川",
        "52" => "黔",
        "53" => "滇",
        "54" => "藏",
        "61" => "陕",
        "62" => "甘",
        "63" => "青",
        "64" => "宁",
        "65" => "新",
        _ => "中",
    }
}

/// Removes one of `suffixes` from `name` if at least two characters remain.
fn strip_suffix<'a>(name: &'a str, suffixes: &[&str]) -> &'a str {
    for suffix in suffixes {
        if let Some(stem) = name.strip_suffix(suffix)
            && stem.chars().count() >= 2
        {
            return stem;
        }
    }
    name
}

fn is_placeholder(name: &str) -> bool {
    matches!(
        name,
        "" | "市辖区" | "县" | "省直辖县级行政区划" | "自治区直辖县级行政区划"
    )
}

/// Everything the generator needs to know about one county-level division, computed once.
#[derive(Debug, Clone)]
pub(crate) struct Place {
    pub(crate) code: DivisionCode,
    /// 河北省廊坊市安次区.
    pub(crate) full_name: String,
    /// 安次区.
    pub(crate) name: &'static str,
    /// The city a company in the division names itself after: 廊坊, 北京, 三河.
    pub(crate) city_short: String,
    /// The city-level prefix of city bureaus: 廊坊市, 北京市, 三河市.
    pub(crate) city: String,
    /// The prefix of county bureaus: 廊坊市安次区, 三河市, 固安县, 北京市东城区.
    pub(crate) bureau_prefix: String,
    /// Abbreviation used in document numbers: 廊安 (廊坊 安次).
    pub(crate) doc_abbr: String,
    /// Court code as in case numbers: 冀1002.
    pub(crate) court: String,
    /// Two-digit province number.
    pub(crate) province: u8,
    /// Whether it lies in a seed city.
    pub(crate) seed: bool,
    /// Whether it is one of the named demo counties.
    pub(crate) demo: bool,
    /// First day a person registered here can be born (the code's creation, or open-ended).
    pub(crate) born_from: Option<NaiveDate>,
    /// Day before which a person registered here must be born (withdrawn codes).
    pub(crate) born_before: Option<NaiveDate>,
}

impl Place {
    pub(crate) fn new(code: DivisionCode) -> Place {
        let digits = code.as_str();
        let name = code.name();
        let province_name = code.province_name();
        let prefecture = code.prefecture_name();
        let municipality = matches!(&digits[..2], "11" | "12" | "31" | "50");
        let (city, city_short) = if municipality {
            (
                province_name.to_owned(),
                strip_suffix(province_name, &["市"]).to_owned(),
            )
        } else if is_placeholder(prefecture) {
            // Counties directly under a province name themselves.
            (
                name.to_owned(),
                strip_suffix(name, &["市", "县", "区"]).to_owned(),
            )
        } else {
            let short = if prefecture.ends_with("自治州") {
                prefecture.chars().take(2).collect()
            } else {
                strip_suffix(prefecture, &["市", "地区", "盟"]).to_owned()
            };
            (prefecture.to_owned(), short)
        };
        let bureau_prefix = if name.ends_with('区') && !is_placeholder(&city) && city != name {
            format!("{city}{name}")
        } else {
            name.to_owned()
        };
        let mut doc_abbr: String = city_short.chars().take(1).collect();
        if city != name {
            doc_abbr.extend(name.chars().take(1));
        }
        let seed = SEED_PREFECTURES.contains(&&digits[..4]) || SEED_COUNTIES.contains(&digits);
        let born_from = (code.since() > table_start()).then(|| code.since());
        Place {
            code,
            full_name: code.full_name(),
            name,
            city_short,
            city,
            bureau_prefix,
            doc_abbr,
            court: format!("{}{}", province_abbreviation(digits), &digits[2..]),
            province: digits[..2].parse().expect("division codes are six digits"),
            seed,
            demo: DEMO_COUNTIES.contains(&digits),
            born_from,
            born_before: code.until(),
        }
    }

    /// The six code digits.
    pub(crate) fn digits(&self) -> &'static str {
        self.code.as_str()
    }
}

/// Appends the decimal digits of `n`.
pub(crate) fn push_num(buf: &mut String, n: u32) {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.push_str(std::str::from_utf8(&digits[i..]).expect("ASCII digits"));
}

/// Appends `n` zero-padded to `width` digits.
pub(crate) fn push_padded(buf: &mut String, n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut i = digits.len();
    let mut n = n;
    while n > 0 {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    let start = i.min(digits.len() - width.min(digits.len()));
    buf.push_str(std::str::from_utf8(&digits[start..]).expect("ASCII digits"));
}

/// First parts of road names, the commonest in Chinese towns.
const ROAD_CORES: &[&str] = &[
    "人民", "建设", "解放", "新华", "和平", "胜利", "光明", "友谊", "幸福", "团结", "文化", "中山",
    "朝阳", "东风", "长安", "永安", "金桥", "滨河", "迎宾", "振兴", "兴华", "育才", "青年", "工农",
    "北环", "南环", "银河", "和谐", "民主", "健康", "红旗", "东方", "府前", "站前", "学院", "体育",
    "公园", "花园", "新开", "祥和", "裕华", "燕山", "太行", "长江", "黄河", "泰山", "龙泉", "凤凰",
    "翠屏", "清风", "明珠", "广阳", "新源", "爱民", "复兴", "中华", "建国", "兴业", "富强", "康宁",
    "锦绣", "开发", "创业", "世纪", "朝晖", "丰收",
];

const ROAD_SUFFIXES: &[(&str, u32)] = &[
    ("路", 50),
    ("街", 20),
    ("大街", 10),
    ("道", 10),
    ("大道", 8),
    ("巷", 2),
];

const DIRECTIONS: &[&str] = &["东", "西", "南", "北", "中"];

/// Residential compounds.
const COMPOUND_CORES: &[&str] = &[
    "阳光", "金地", "幸福", "锦绣", "翠湖", "丽景", "盛世", "书香", "康城", "御景", "华庭", "和园",
    "怡和", "紫荆", "碧水", "龙湖", "万和", "新城", "泰和", "润泽", "金色", "嘉园", "恒大", "绿城",
    "兰亭", "学府", "湖畔", "香榭", "明珠", "富力",
];

const COMPOUND_SUFFIXES: &[&str] = &[
    "小区", "花园", "家园", "华庭", "苑", "嘉园", "公寓", "新村", "雅居", "名苑",
];

/// Syllables of town and village names.
const PLACE_CHARS: &[&str] = &[
    "东", "西", "南", "北", "大", "小", "新", "王", "李", "张", "刘", "杨", "高", "马", "石", "柳",
    "杏", "桃", "河", "沟", "坡", "桥", "集", "店", "庄", "营", "堡", "官", "黄", "白", "青", "龙",
    "凤", "安", "平", "丰", "兴", "双", "三", "五",
];

const VILLAGE_SUFFIXES: &[&str] = &["庄", "家庄", "营", "屯", "堡", "店", "集", "寨", "楼", "湾"];

const OFFICE_NAMES: &[&str] = &[
    "商务大厦",
    "国际大厦",
    "科技大厦",
    "金融中心",
    "创业大厦",
    "写字楼",
    "商业广场",
    "财富中心",
    "时代广场",
    "科技园",
];

/// Appends a road name such as 光明西道.
fn push_road(buf: &mut String, rng: &mut Rng, suffixes: &Weighted) {
    buf.push_str(rng.pick(ROAD_CORES));
    if rng.chance(0.3) {
        buf.push_str(rng.pick(DIRECTIONS));
    }
    buf.push_str(ROAD_SUFFIXES[suffixes.sample(rng)].0);
}

/// House numbers: most streets are short.
fn house_number(rng: &mut Rng) -> u32 {
    let n = rng.exponential(90.0) as u32 + 1;
    n.min(999)
}

/// Address tables shared by every thread.
#[derive(Debug)]
pub(crate) struct AddressTable {
    road_suffixes: Weighted,
}

impl AddressTable {
    pub(crate) fn new() -> AddressTable {
        AddressTable {
            road_suffixes: Weighted::of(ROAD_SUFFIXES),
        }
    }

    /// A home address in `place`, appended to `buf`.
    pub(crate) fn home(&self, buf: &mut String, rng: &mut Rng, place: &Place) {
        buf.push_str(&place.full_name);
        if rng.chance(0.28) {
            // Rural: 杨税务镇李家庄村128号.
            buf.push_str(rng.pick(PLACE_CHARS));
            buf.push_str(rng.pick(PLACE_CHARS));
            buf.push_str(if rng.chance(0.8) { "镇" } else { "乡" });
            buf.push_str(rng.pick(PLACE_CHARS));
            buf.push_str(rng.pick(VILLAGE_SUFFIXES));
            buf.push('村');
            if rng.chance(0.3) {
                push_num(buf, rng.range_i32(1, 20) as u32);
                buf.push('排');
            }
            push_num(buf, rng.range_i32(1, 260) as u32);
            buf.push('号');
            return;
        }
        push_road(buf, rng, &self.road_suffixes);
        push_num(buf, house_number(rng));
        buf.push('号');
        if rng.chance(0.72) {
            // An apartment: 阳光花园3栋2单元502室.
            if rng.chance(0.7) {
                buf.push_str(rng.pick(COMPOUND_CORES));
                buf.push_str(rng.pick(COMPOUND_SUFFIXES));
            }
            push_num(buf, rng.range_i32(1, 36) as u32);
            buf.push('栋');
            push_num(buf, rng.range_i32(1, 6) as u32);
            buf.push_str("单元");
            let floor = rng.range_i32(1, 33) as u32;
            push_num(buf, floor * 100 + rng.range_i32(1, 4) as u32);
            buf.push('室');
        }
    }

    /// A business address in `place`, appended to `buf`.
    pub(crate) fn business(&self, buf: &mut String, rng: &mut Rng, place: &Place) {
        buf.push_str(&place.full_name);
        if rng.chance(0.15) {
            buf.push_str(rng.pick(PLACE_CHARS));
            buf.push_str(rng.pick(PLACE_CHARS));
            buf.push('镇');
            buf.push_str(rng.pick(PLACE_CHARS));
            buf.push_str(rng.pick(VILLAGE_SUFFIXES));
            buf.push('村');
            push_num(buf, rng.range_i32(1, 300) as u32);
            buf.push('号');
            return;
        }
        push_road(buf, rng, &self.road_suffixes);
        push_num(buf, house_number(rng));
        buf.push('号');
        match rng.below(10) {
            0..=3 => {}
            4..=7 => {
                buf.push_str(rng.pick(COMPOUND_CORES));
                buf.push_str(rng.pick(OFFICE_NAMES));
                let floor = rng.range_i32(1, 28) as u32;
                push_num(buf, floor);
                buf.push('层');
                push_num(buf, floor * 100 + rng.range_i32(1, 20) as u32);
                buf.push('室');
            }
            _ => {
                push_num(buf, rng.range_i32(1, 12) as u32);
                buf.push_str("号楼");
                push_num(buf, rng.range_i32(1, 3) as u32);
                buf.push_str("层商铺");
            }
        }
    }
}

/// Ethnic make-up by province: `(GB 3304 code number, share in 1/1000)`, after the 2020
/// census rounded; provinces not listed use [`DEFAULT_ETHNICITY`].
const PROVINCE_ETHNICITY: &[(u8, &[(u8, u32)])] = &[
    (
        11,
        &[
            (1, 956),
            (11, 17),
            (3, 12),
            (2, 4),
            (10, 2),
            (4, 1),
            (15, 1),
            (6, 1),
        ],
    ),
    (12, &[(1, 974), (3, 13), (11, 6), (2, 2), (10, 1), (15, 1)]),
    (13, &[(1, 957), (11, 28), (3, 8), (2, 3), (15, 1), (6, 1)]),
    (
        15,
        &[
            (1, 787),
            (2, 177),
            (11, 19),
            (3, 8),
            (31, 3),
            (45, 1),
            (10, 1),
            (52, 1),
        ],
    ),
    (
        21,
        &[(1, 835), (11, 129), (2, 15), (3, 6), (10, 4), (38, 3)],
    ),
    (22, &[(1, 914), (10, 35), (11, 37), (2, 6), (3, 4)]),
    (
        23,
        &[
            (1, 952),
            (11, 28),
            (10, 7),
            (2, 3),
            (3, 3),
            (31, 1),
            (53, 1),
        ],
    ),
    (
        33,
        &[
            (1, 989),
            (22, 3),
            (15, 2),
            (6, 2),
            (3, 1),
            (8, 1),
            (12, 1),
            (7, 1),
        ],
    ),
    (35, &[(1, 981), (22, 10), (15, 2), (6, 2), (3, 2), (8, 1)]),
    (41, &[(1, 989), (3, 10), (11, 1)]),
    (42, &[(1, 956), (15, 36), (6, 4), (12, 2), (3, 1), (8, 1)]),
    (
        43,
        &[
            (1, 895),
            (15, 40),
            (6, 30),
            (12, 13),
            (13, 11),
            (14, 2),
            (8, 2),
            (3, 1),
        ],
    ),
    (
        44,
        &[
            (1, 983),
            (8, 6),
            (13, 2),
            (15, 2),
            (6, 2),
            (22, 1),
            (3, 1),
            (12, 1),
        ],
    ),
    (
        45,
        &[
            (1, 625),
            (8, 314),
            (13, 32),
            (6, 11),
            (12, 7),
            (32, 3),
            (36, 1),
            (49, 1),
            (3, 1),
        ],
    ),
    (46, &[(1, 833), (19, 150), (6, 8), (8, 5), (3, 1)]),
    (50, &[(1, 936), (15, 45), (6, 15), (8, 1), (3, 1), (12, 1)]),
    (
        51,
        &[(1, 938), (7, 33), (4, 18), (33, 4), (3, 1), (6, 1), (15, 1)],
    ),
    (
        52,
        &[
            (1, 634),
            (6, 119),
            (9, 79),
            (12, 41),
            (15, 36),
            (7, 25),
            (37, 16),
            (25, 10),
            (3, 5),
            (14, 5),
            (13, 2),
        ],
    ),
    (
        53,
        &[
            (1, 662),
            (7, 112),
            (16, 38),
            (14, 34),
            (18, 27),
            (8, 26),
            (6, 27),
            (20, 16),
            (3, 15),
            (24, 10),
            (21, 9),
            (27, 7),
            (13, 5),
            (28, 3),
            (4, 3),
            (34, 3),
            (40, 1),
            (39, 1),
            (42, 1),
            (46, 1),
        ],
    ),
    (54, &[(4, 860), (1, 122), (3, 4), (54, 4), (55, 1)]),
    (61, &[(1, 995), (3, 4), (11, 1)]),
    (
        62,
        &[
            (1, 906),
            (3, 47),
            (26, 24),
            (4, 20),
            (30, 1),
            (48, 1),
            (47, 1),
        ],
    ),
    (
        63,
        &[(1, 502), (4, 244), (3, 148), (30, 36), (35, 19), (2, 17)],
    ),
    (64, &[(1, 636), (3, 359), (11, 2), (2, 1)]),
    (
        65,
        &[
            (5, 450),
            (1, 422),
            (17, 64),
            (3, 41),
            (29, 8),
            (2, 7),
            (43, 1),
            (41, 2),
            (38, 2),
            (44, 1),
        ],
    ),
];

/// Ethnic make-up of provinces with few minorities.
const DEFAULT_ETHNICITY: &[(u8, u32)] =
    &[(1, 990), (3, 4), (11, 2), (15, 1), (6, 1), (8, 1), (2, 1)];

/// GB 3304 two-digit codes, indexed by code number - 1.
const ETHNICITY_CODES: [&str; 56] = [
    "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "13", "14", "15", "16",
    "17", "18", "19", "20", "21", "22", "23", "24", "25", "26", "27", "28", "29", "30", "31", "32",
    "33", "34", "35", "36", "37", "38", "39", "40", "41", "42", "43", "44", "45", "46", "47", "48",
    "49", "50", "51", "52", "53", "54", "55", "56",
];

/// Ethnic shares of one province and the table to draw from them.
type ProvinceShares = (&'static [(u8, u32)], Weighted);

/// Draws an ethnicity code for a person registered in a province.
#[derive(Debug)]
pub(crate) struct EthnicityTable {
    by_province: Vec<Option<ProvinceShares>>,
    default: Weighted,
}

impl EthnicityTable {
    pub(crate) fn new() -> EthnicityTable {
        let mut by_province: Vec<Option<ProvinceShares>> = vec![None; 100];
        for &(province, shares) in PROVINCE_ETHNICITY {
            by_province[usize::from(province)] = Some((shares, Weighted::of(shares)));
        }
        EthnicityTable {
            by_province,
            default: Weighted::of(DEFAULT_ETHNICITY),
        }
    }

    /// A GB 3304 code such as `01`.
    pub(crate) fn draw(&self, rng: &mut Rng, province: u8) -> &'static str {
        let (shares, table) = match self.by_province.get(usize::from(province)) {
            Some(Some((shares, table))) => (*shares, table),
            _ => (DEFAULT_ETHNICITY, &self.default),
        };
        let number = shares[table.sample(rng)].0;
        ETHNICITY_CODES[usize::from(number) - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GB 3304 ethnicity codes with names, for reference in tests and documentation.
    const ETHNICITIES: [&str; 56] = [
        "汉族",
        "蒙古族",
        "回族",
        "藏族",
        "维吾尔族",
        "苗族",
        "彝族",
        "壮族",
        "布依族",
        "朝鲜族",
        "满族",
        "侗族",
        "瑶族",
        "白族",
        "土家族",
        "哈尼族",
        "哈萨克族",
        "傣族",
        "黎族",
        "傈僳族",
        "佤族",
        "畲族",
        "高山族",
        "拉祜族",
        "水族",
        "东乡族",
        "纳西族",
        "景颇族",
        "柯尔克孜族",
        "土族",
        "达斡尔族",
        "仫佬族",
        "羌族",
        "布朗族",
        "撒拉族",
        "毛南族",
        "仡佬族",
        "锡伯族",
        "阿昌族",
        "普米族",
        "塔吉克族",
        "怒族",
        "乌孜别克族",
        "俄罗斯族",
        "鄂温克族",
        "德昂族",
        "保安族",
        "裕固族",
        "京族",
        "塔塔尔族",
        "独龙族",
        "鄂伦春族",
        "赫哲族",
        "门巴族",
        "珞巴族",
        "基诺族",
    ];

    fn place(code: &str) -> Place {
        Place::new(DivisionCode::parse(code).expect("code in table"))
    }

    #[test]
    fn places_are_named_like_the_real_bureaus() {
        let anci = place("131002");
        assert_eq!(anci.full_name, "河北省廊坊市安次区");
        assert_eq!(anci.city_short, "廊坊");
        assert_eq!(anci.bureau_prefix, "廊坊市安次区");
        assert_eq!(anci.doc_abbr, "廊安");
        assert_eq!(anci.court, "冀1002");
        assert!(anci.seed && anci.demo);
        let sanhe = place("131082");
        assert_eq!(sanhe.bureau_prefix, "三河市");
        let dongcheng = place("110101");
        assert_eq!(dongcheng.city_short, "北京");
        assert_eq!(dongcheng.bureau_prefix, "北京市东城区");
        assert_eq!(dongcheng.born_from, None);
    }

    #[test]
    fn statistical_zones_are_not_residential() {
        assert!(!is_residential(
            DivisionCode::parse("131071").expect("in table")
        ));
        assert!(is_residential(
            DivisionCode::parse("131002").expect("in table")
        ));
    }

    #[test]
    fn addresses_start_with_the_division_and_end_in_a_number() {
        let table = AddressTable::new();
        let anci = place("131002");
        let mut rng = Rng::new(1);
        for _ in 0..1_000 {
            let mut buf = String::new();
            table.home(&mut buf, &mut rng, &anci);
            assert!(buf.starts_with("河北省廊坊市安次区"), "{buf}");
            assert!(buf.ends_with('号') || buf.ends_with('室'), "{buf}");
            buf.clear();
            table.business(&mut buf, &mut rng, &anci);
            assert!(buf.starts_with("河北省廊坊市安次区"), "{buf}");
        }
    }

    #[test]
    fn numbers_are_formatted_without_allocation_errors() {
        let mut buf = String::new();
        push_num(&mut buf, 0);
        buf.push(',');
        push_num(&mut buf, 4_294_967_295);
        buf.push(',');
        push_padded(&mut buf, 42, 6);
        buf.push(',');
        push_padded(&mut buf, 0, 3);
        assert_eq!(buf, "0,4294967295,000042,000");
    }

    #[test]
    fn ethnicity_codes_are_gb3304() {
        let table = EthnicityTable::new();
        let mut rng = Rng::new(5);
        let mut han = 0;
        for _ in 0..10_000 {
            let code = table.draw(&mut rng, 15);
            let n: usize = code.parse().expect("two digits");
            assert!((1..=56).contains(&n));
            assert!(!ETHNICITIES[n - 1].is_empty());
            han += usize::from(code == "01");
        }
        // Inner Mongolia is about 79% Han.
        assert!((7_400..8_300).contains(&han), "{han}");
    }
}
