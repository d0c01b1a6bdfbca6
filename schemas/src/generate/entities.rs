//! 法人单位: the companies, individual businesses, cooperatives and institutions registered
//! in one division, each with a legal representative from that division's people.
//!
//! Entities are generated right after the people of their division, while those people are
//! in memory: the legal representative is one of them (an active adult, so the name and ID
//! on the licence match a real population row), and the entity's USCC carries the division
//! code of the registering office, which is the entity's address division. Nothing has to be
//! looked up across divisions, so divisions stay independent units of parallel work.
//!
//! USCCs sort by registration authority and category first (`12…` < `52…` < `91…` < `92…` <
//! `93…`), then division; the generator therefore keeps one builder per prefix and the caller
//! concatenates prefix by prefix to get a file order that is sorted by USCC.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Date32Builder, Decimal128Builder, RecordBatch, StringBuilder,
    TimestampMillisecondBuilder,
};

use super::GenerateError;
use super::dates::{self, add_years, office_timestamp};
use super::people::Person;
use super::places::Place;
use super::rng::{Rng, Weighted};
use super::tables::Tables;
use crate::id::{USCC_ALPHABET, Uscc};
use crate::library::{BaseLibrary, TIME_ZONE};

/// Stream tag of a division's entities.
const STREAM_ENTITIES: u64 = 0x454e_5449_5459; // "ENTITY"

/// USCC prefixes (registration authority, category) in sort order, with their share in 1/1000.
pub(crate) const PREFIXES: [(char, char, u32); 5] = [
    ('1', '2', 10),
    ('5', '2', 12),
    ('9', '1', 850),
    ('9', '2', 113),
    ('9', '3', 15),
];

/// Index of each prefix in [`PREFIXES`]; public institutions and private non-enterprise units
/// come first.
const P_INSTITUTION: usize = 0;
const P_NON_ENTERPRISE: usize = 1;
const P_ENTERPRISE: usize = 2;
const P_INDIVIDUAL: usize = 3;
const P_COOPERATIVE: usize = 4;

/// Enterprise types (市场主体类型) of category `91`, with weights.
const ENTERPRISE_TYPES: &[(&str, u32)] = &[
    ("有限责任公司（自然人投资或控股）", 50),
    ("有限责任公司（自然人独资）", 18),
    ("有限责任公司（非自然人投资或控股的法人独资）", 5),
    ("股份有限公司（非上市、自然人投资或控股）", 3),
    ("个人独资企业", 9),
    ("普通合伙企业", 2),
    ("有限合伙企业", 3),
    ("有限责任公司分公司（自然人投资或控股）", 4),
];

/// The ordinary clause that closes a business scope.
macro_rules! scope {
    ($s:literal) => {
        concat!($s, "（除依法须经批准的项目外，凭营业执照依法自主开展经营活动）")
    };
}

/// Industries of enterprises: the word in the name and the business scope.
const INDUSTRIES: &[(&str, &str)] = &[
    (
        "科技",
        scope!(
            "技术服务、技术开发、技术咨询、技术交流、技术转让、技术推广；软件开发；信息系统集成服务；计算机软硬件及辅助设备零售。"
        ),
    ),
    (
        "商贸",
        scope!(
            "日用百货销售；五金产品零售；电子产品销售；针纺织品销售；文具用品零售；食品销售（仅销售预包装食品）。"
        ),
    ),
    (
        "建材",
        scope!("建筑材料销售；建筑装饰材料销售；轻质建筑材料销售；五金产品批发；水泥制品销售。"),
    ),
    (
        "建筑工程",
        "许可项目：建设工程施工；住宅室内装饰装修。一般项目：园林绿化工程施工；土石方工程施工。（依法须经批准的项目，经相关部门批准后方可开展经营活动）",
    ),
    (
        "物流",
        scope!(
            "普通货物仓储服务（不含危险化学品等需许可审批的项目）；国内货物运输代理；装卸搬运；道路货物运输（不含危险货物）。"
        ),
    ),
    (
        "餐饮管理",
        "许可项目：餐饮服务；食品销售。一般项目：餐饮管理；外卖递送服务。（依法须经批准的项目，经相关部门批准后方可开展经营活动）",
    ),
    (
        "食品",
        "许可项目：食品生产；食品销售。一般项目：农副产品销售；食用农产品初加工。（依法须经批准的项目，经相关部门批准后方可开展经营活动）",
    ),
    (
        "机械设备",
        scope!(
            "通用设备制造（不含特种设备制造）；机械设备销售；机械零件、零部件加工；机械设备租赁。"
        ),
    ),
    (
        "电子",
        scope!("电子元器件制造；电子产品销售；光电子器件制造；电子专用材料研发。"),
    ),
    (
        "服装",
        scope!("服装制造；服装服饰批发；服装服饰零售；针纺织品及原料销售。"),
    ),
    (
        "文化传媒",
        scope!("组织文化艺术交流活动；广告设计、代理；广告制作；会议及展览服务；图文设计制作。"),
    ),
    (
        "教育咨询",
        scope!(
            "教育咨询服务（不含涉许可审批的教育培训活动）；业务培训（不含教育培训、职业技能培训等需取得许可的培训）。"
        ),
    ),
    (
        "环保科技",
        scope!("环保咨询服务；大气污染治理；水污染治理；固体废物治理；环境保护专用设备销售。"),
    ),
    (
        "汽车销售服务",
        scope!("汽车新车销售；二手车经销；汽车零配件零售；机动车修理和维护；汽车装饰用品销售。"),
    ),
    (
        "家具",
        scope!("家具制造；家具销售；家具安装和维修服务；木材加工。"),
    ),
    (
        "印刷",
        "许可项目：包装装潢印刷品印刷；文件、资料等其他印刷品印刷。一般项目：包装材料及制品销售。（依法须经批准的项目，经相关部门批准后方可开展经营活动）",
    ),
    (
        "医药",
        "许可项目：药品零售；第三类医疗器械经营。一般项目：第二类医疗器械销售；保健食品（预包装）销售。（依法须经批准的项目，经相关部门批准后方可开展经营活动）",
    ),
    (
        "农业科技",
        scope!("农业科学研究和试验发展；谷物种植；蔬菜种植；农副产品销售；农业机械服务。"),
    ),
    (
        "房地产开发",
        "许可项目：房地产开发经营。一般项目：物业管理；房地产经纪；住房租赁。（依法须经批准的项目，经相关部门批准后方可开展经营活动）",
    ),
    (
        "物业服务",
        scope!("物业管理；家政服务；停车场服务；城市绿化管理。"),
    ),
    (
        "化工",
        scope!(
            "化工产品销售（不含许可类化工产品）；专用化学产品制造（不含危险化学品）；涂料销售。"
        ),
    ),
    (
        "新能源",
        scope!("太阳能发电技术服务；光伏设备及元器件销售；储能技术服务；新能源汽车换电设施销售。"),
    ),
    (
        "网络科技",
        scope!(
            "互联网销售（除销售需要许可的商品）；网络技术服务；信息技术咨询服务；数据处理服务。"
        ),
    ),
    (
        "劳务",
        scope!(
            "劳务服务（不含劳务派遣）；人力资源服务（不含职业中介活动、劳务派遣服务）；装卸搬运。"
        ),
    ),
];

/// Kinds of individual business (个体工商户): the word in the name and the scope.
const SHOPS: &[(&str, &str)] = &[
    (
        "便利店",
        "许可项目：食品销售；烟草制品零售。一般项目：日用百货销售。",
    ),
    (
        "超市",
        "许可项目：食品销售。一般项目：日用百货销售；五金产品零售；文具用品零售。",
    ),
    ("饭店", "许可项目：餐饮服务。"),
    ("面馆", "许可项目：餐饮服务。"),
    ("烧烤店", "许可项目：餐饮服务。"),
    ("早餐店", "许可项目：餐饮服务；食品小作坊经营。"),
    ("理发店", "一般项目：理发服务；生活美容服务。"),
    (
        "五金店",
        "一般项目：五金产品零售；建筑材料销售；电线、电缆经营。",
    ),
    ("服装店", "一般项目：服装服饰零售；鞋帽零售；箱包销售。"),
    ("水果店", "一般项目：新鲜水果零售；食用农产品零售。"),
    (
        "手机维修部",
        "一般项目：通讯设备修理；移动终端设备销售；电子产品销售。",
    ),
    (
        "汽车修理部",
        "一般项目：机动车修理和维护；汽车零配件零售；洗车服务。",
    ),
    (
        "家电维修部",
        "一般项目：家用电器修理；日用电器修理；家用电器销售。",
    ),
    ("蔬菜店", "一般项目：新鲜蔬菜零售；食用农产品零售。"),
    (
        "建材商店",
        "一般项目：建筑材料销售；建筑装饰材料销售；五金产品零售。",
    ),
    ("药店", "许可项目：药品零售。一般项目：第二类医疗器械销售。"),
];

/// Products of farmers' cooperatives, and whether they are grown or raised.
const CO_OP_PRODUCTS: &[(&str, &str)] = &[
    ("蔬菜", "种植"),
    ("果品", "种植"),
    ("粮食", "种植"),
    ("中药材", "种植"),
    ("食用菌", "种植"),
    ("花卉苗木", "种植"),
    ("生猪", "养殖"),
    ("肉牛", "养殖"),
    ("肉羊", "养殖"),
    ("蛋鸡", "养殖"),
    ("奶牛", "养殖"),
    ("水产", "养殖"),
];

/// Public institutions (事业单位) and their aims.
const INSTITUTIONS: &[(&str, &str)] = &[
    ("中学", "实施中等学历教育，促进基础教育发展。"),
    ("小学", "实施初等义务教育，促进基础教育发展。"),
    ("人民医院", "为人民身体健康提供医疗与护理保健服务。"),
    ("中医医院", "为人民身体健康提供中医医疗与护理保健服务。"),
    ("妇幼保健院", "为妇女儿童提供医疗保健服务。"),
    ("疾病预防控制中心", "实施疾病预防控制，保障公众健康。"),
    ("图书馆", "为公众提供图书文献借阅服务，传承文化。"),
    ("文化馆", "组织群众文化活动，繁荣群众文化。"),
    ("公证处", "依法办理公证事项，预防纠纷。"),
    ("档案馆", "收集、保管档案资料，提供档案利用服务。"),
    (
        "不动产登记中心",
        "承担不动产登记具体事务，提供登记资料查询服务。",
    ),
    ("社会保险事业管理中心", "承担社会保险经办服务。"),
];

/// Private non-enterprise units (民办非企业单位) and their aims.
const NON_ENTERPRISES: &[(&str, &str)] = &[
    ("培训学校", "开展文化艺术、职业技能等非学历培训。"),
    ("养老院", "为老年人提供生活照料、康复护理服务。"),
    ("幼儿园", "实施学前教育，促进幼儿身心健康发展。"),
    ("社会工作服务中心", "开展社会工作专业服务，服务困难群体。"),
    ("康复中心", "为残疾人提供康复训练与辅助服务。"),
    ("艺术培训中心", "开展音乐、美术、舞蹈等艺术培训。"),
];

/// Characters of trade names (字号), chosen for their good sense.
const TRADE_CHARS: &[&str] = &[
    "宏", "达", "鑫", "源", "华", "盛", "博", "瑞", "恒", "泰", "通", "远", "金", "信", "德", "利",
    "丰", "隆", "兴", "昌", "旺", "鼎", "福", "嘉", "祥", "润", "晟", "弘", "腾", "创", "新", "天",
    "中", "美", "安", "和", "永", "明", "海", "阳", "光", "科", "智", "云", "宇", "鹏", "正", "合",
    "诚", "聚", "益", "顺", "悦", "辰", "航", "峰", "卓", "越", "佳", "优",
];

/// Chinese numerals for school names.
const NUMERALS: &[&str] = &[
    "第一", "第二", "第三", "第四", "第五", "第六", "第七", "第八", "第九", "第十",
];

/// Who registered an entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Registrar {
    /// The county market-regulation bureau.
    CountyMarket,
    /// The city market-regulation bureau (larger companies).
    CityMarket,
    /// The public-institution registration bureau.
    Institutions,
    /// The civil-affairs bureau.
    CivilAffairs,
}

impl Registrar {
    pub(crate) fn write(self, buf: &mut String, place: &Place) {
        match self {
            Registrar::CountyMarket => {
                buf.push_str(&place.bureau_prefix);
                buf.push_str("市场监督管理局");
            }
            Registrar::CityMarket => {
                buf.push_str(&place.city);
                buf.push_str("市场监督管理局");
            }
            Registrar::Institutions => {
                buf.push_str(&place.bureau_prefix);
                buf.push_str("事业单位登记管理局");
            }
            Registrar::CivilAffairs => {
                buf.push_str(&place.bureau_prefix);
                buf.push_str("民政局");
            }
        }
    }
}

/// 登记状态, with weights.
const STATUSES: &[(&str, u32)] = &[("存续", 86), ("吊销", 4), ("注销", 8), ("迁出", 2)];

/// One entity, before its row is written.
#[derive(Debug, Clone)]
pub(crate) struct Entity {
    pub(crate) uscc: [u8; 18],
    pub(crate) prefix: usize,
    pub(crate) name: String,
    pub(crate) entity_type: &'static str,
    /// Index of the legal representative among the division's people.
    pub(crate) rep: u32,
    /// 万元 with four decimals, as the Decimal128(18, 4) raw value.
    pub(crate) capital: i128,
    pub(crate) established: i32,
    pub(crate) term_to: Option<i32>,
    pub(crate) address: String,
    pub(crate) scope: &'static str,
    pub(crate) registrar: Registrar,
    pub(crate) status: &'static str,
    pub(crate) updated_ms: i64,
}

impl Entity {
    pub(crate) fn uscc_str(&self) -> &str {
        std::str::from_utf8(&self.uscc).expect("USCCs are ASCII")
    }

    pub(crate) fn is_active(&self) -> bool {
        self.status == "存续"
    }

    /// A public institution or private non-enterprise unit rather than a business.
    pub(crate) fn is_institution(&self) -> bool {
        matches!(self.prefix, P_INSTITUTION | P_NON_ENTERPRISE)
    }
}

/// Weighted tables of this module, built once per run.
#[derive(Debug)]
pub(crate) struct EntityTables {
    prefixes: Weighted,
    enterprise_types: Weighted,
    statuses: Weighted,
}

impl EntityTables {
    pub(crate) fn new() -> EntityTables {
        EntityTables {
            prefixes: Weighted::new(PREFIXES.iter().map(|p| u64::from(p.2))),
            enterprise_types: Weighted::of(ENTERPRISE_TYPES),
            statuses: Weighted::of(STATUSES),
        }
    }
}

fn push_trade_name(buf: &mut String, rng: &mut Rng) {
    let first = rng.pick(TRADE_CHARS);
    let mut second = rng.pick(TRADE_CHARS);
    if second == first {
        second = rng.pick(TRADE_CHARS);
    }
    buf.push_str(first);
    buf.push_str(second);
}

/// Registered capital in 万元 as a Decimal128(18, 4) raw value.
fn capital(rng: &mut Rng, prefix: usize, entity_type: &str) -> i128 {
    const ROUND: &[u32] = &[
        10, 30, 50, 100, 100, 200, 300, 500, 500, 1000, 2000, 3000, 5000, 10000,
    ];
    let wan: f64 = match prefix {
        P_INDIVIDUAL => f64::from(rng.pick(&[1u32, 2, 3, 5, 5, 10, 10, 20, 30, 50])),
        P_COOPERATIVE => f64::from(rng.pick(&[10u32, 20, 50, 100, 200, 300, 500])),
        P_INSTITUTION => f64::from(rng.pick(&[10u32, 50, 100, 200, 500, 1000, 3000])),
        P_NON_ENTERPRISE => f64::from(rng.pick(&[3u32, 5, 10, 20, 50, 100])),
        _ if entity_type.starts_with("股份") => {
            f64::from(rng.pick(&[500u32, 1000, 2000, 5000, 10000, 30000]))
        }
        _ if entity_type.contains("合伙") || entity_type == "个人独资企业" => {
            f64::from(rng.pick(&[1u32, 5, 10, 20, 50, 100]))
        }
        _ if rng.chance(0.06) => {
            // Some capitals are not round: 128.5 万元.
            (rng.exponential(300.0) * 100.0).round() / 100.0 + 1.0
        }
        _ => f64::from(rng.pick(ROUND)),
    };
    (wan * 10_000.0).round() as i128
}

/// The eight-character organisation-code body: `MA` + six characters for codes issued since
/// the USCC reform of October 2015, `MJ` + digits for private non-enterprise units, eight
/// digits for older codes.
fn org_body(rng: &mut Rng, prefix: usize, established: i32, reform: i32) -> [u8; 8] {
    let mut body = [b'0'; 8];
    let digit = |rng: &mut Rng| b'0' + rng.below(10) as u8;
    match prefix {
        P_NON_ENTERPRISE => {
            body[0] = b'M';
            body[1] = b'J';
            for b in &mut body[2..] {
                *b = digit(rng);
            }
        }
        P_INSTITUTION => {
            body[0] = b'4';
            for b in &mut body[1..] {
                *b = digit(rng);
            }
        }
        _ if established >= reform => {
            body[0] = b'M';
            body[1] = b'A';
            for b in &mut body[2..] {
                *b = rng.pick(USCC_ALPHABET);
            }
        }
        _ => {
            body[0] = b'5' + rng.below(3) as u8;
            for b in &mut body[1..] {
                *b = digit(rng);
            }
        }
    }
    body
}

/// Generates the entities of a division whose people are `people`, sorted by USCC.
pub(crate) fn generate(
    tables: &Tables,
    place: &Place,
    people: &[Person],
) -> Result<Vec<Entity>, GenerateError> {
    let mut rng = Rng::derive(
        tables.seed,
        &[STREAM_ENTITIES, u64::from(place.code.as_u32())],
    );
    let expected = people.len() as f64 * tables.entities_per_person;
    let count = expected.floor() as usize + usize::from(rng.chance(expected.fract()));
    let reps: Vec<u32> = people
        .iter()
        .enumerate()
        .filter(|(_, p)| p.is_active() && p.age >= 20)
        .map(|(i, _)| u32::try_from(i).expect("a division has fewer than 4 billion people"))
        .collect();
    if count == 0 || reps.is_empty() || !place.code.is_current() {
        return Ok(Vec::new());
    }
    let today = tables.today;
    let reform =
        dates::days(chrono::NaiveDate::from_ymd_opt(2015, 10, 1).expect("2015-10-01 is a date"));
    let earliest = dates::days(place.code.since()).max(dates::days(
        chrono::NaiveDate::from_ymd_opt(1984, 1, 1).expect("a date"),
    ));
    let t = &tables.entities;
    let mut used: HashSet<(usize, [u8; 8])> = HashSet::with_capacity(count);
    let mut entities = Vec::with_capacity(count);
    for _ in 0..count {
        let prefix = t.prefixes.sample(&mut rng);
        // Prefer representatives of working age.
        let mut rep = rng.pick(&reps);
        if !(25..=65).contains(&people[rep as usize].age) && rng.chance(0.7) {
            rep = rng.pick(&reps);
        }
        let person = &people[rep as usize];
        let lo = earliest.max(add_years(person.birth, 18));
        let hi = today - 1;
        let recent = hi - rng.exponential(2_500.0) as i32;
        let established = if recent >= lo {
            recent
        } else {
            rng.range_i32(lo, hi)
        };

        let mut name = String::with_capacity(64);
        let (entity_type, scope, registrar) = match prefix {
            P_INSTITUTION => {
                let (kind, aim) = rng.pick(INSTITUTIONS);
                name.push_str(&place.bureau_prefix);
                if matches!(kind, "中学" | "小学") {
                    name.push_str(rng.pick(NUMERALS));
                }
                name.push_str(kind);
                ("事业单位", aim, Registrar::Institutions)
            }
            P_NON_ENTERPRISE => {
                let (kind, aim) = rng.pick(NON_ENTERPRISES);
                name.push_str(&place.bureau_prefix);
                push_trade_name(&mut name, &mut rng);
                name.push_str(kind);
                ("民办非企业单位", aim, Registrar::CivilAffairs)
            }
            P_INDIVIDUAL => {
                let (kind, scope) = rng.pick(SHOPS);
                name.push_str(place.name);
                if rng.chance(0.3) {
                    name.push('老');
                    name.push_str(tables.names.surname(&mut rng));
                } else {
                    push_trade_name(&mut name, &mut rng);
                }
                name.push_str(kind);
                ("个体工商户", scope, Registrar::CountyMarket)
            }
            P_COOPERATIVE => {
                let (product, how) = rng.pick(CO_OP_PRODUCTS);
                name.push_str(place.name);
                push_trade_name(&mut name, &mut rng);
                name.push_str(product);
                name.push_str(how);
                name.push_str("专业合作社");
                (
                    "农民专业合作社",
                    "组织收购、销售成员生产的产品；引进新技术、新品种，开展技术培训、技术交流和信息咨询服务。",
                    Registrar::CountyMarket,
                )
            }
            _ => {
                let entity_type = ENTERPRISE_TYPES[t.enterprise_types.sample(&mut rng)].0;
                let (industry, scope) = rng.pick(INDUSTRIES);
                name.push_str(&place.city_short);
                push_trade_name(&mut name, &mut rng);
                name.push_str(industry);
                match entity_type {
                    "个人独资企业" => {
                        name.push_str(if rng.chance(0.5) { "厂" } else { "经营部" })
                    }
                    "普通合伙企业" => name.push_str("中心（普通合伙）"),
                    "有限合伙企业" => name.push_str("合伙企业（有限合伙）"),
                    t if t.starts_with("股份") => name.push_str("股份有限公司"),
                    t if t.contains("分公司") => {
                        name.push_str("有限公司");
                        name.push_str(place.name);
                        name.push_str("分公司");
                    }
                    _ => name.push_str(if rng.chance(0.85) {
                        "有限公司"
                    } else {
                        "有限责任公司"
                    }),
                }
                let registrar = if rng.chance(0.15) {
                    Registrar::CityMarket
                } else {
                    Registrar::CountyMarket
                };
                (entity_type, scope, registrar)
            }
        };

        let status = STATUSES[t.statuses.sample(&mut rng)].0;
        let term_to = match prefix {
            P_ENTERPRISE | P_COOPERATIVE if rng.chance(0.5) => {
                let years = rng.pick(&[10, 20, 20, 30, 30, 50]);
                let end = add_years(established, years) - 1;
                // A company whose term has run out is no longer 存续; keep the term open.
                (end > today || status != "存续").then_some(end)
            }
            _ => None,
        };

        let body = loop {
            let body = org_body(&mut rng, prefix, established, reform);
            if used.insert((prefix, body)) {
                break body;
            }
        };
        let (authority, category, _) = PREFIXES[prefix];
        let body_str = std::str::from_utf8(&body).expect("organisation code bodies are ASCII");
        let uscc = Uscc::from_parts(authority, category, place.code, body_str).map_err(|e| {
            GenerateError::Internal(format!("USCC for division {}: {e}", place.digits()))
        })?;
        let mut uscc_bytes = [0u8; 18];
        uscc_bytes.copy_from_slice(uscc.as_str().as_bytes());

        let mut address = String::with_capacity(96);
        tables.addresses.business(&mut address, &mut rng, place);
        let capital = capital(&mut rng, prefix, entity_type);
        let updated_ms = office_timestamp(&mut rng, established, today - 1);
        entities.push(Entity {
            uscc: uscc_bytes,
            prefix,
            name,
            entity_type,
            rep,
            capital,
            established,
            term_to,
            address,
            scope,
            registrar,
            status,
            updated_ms,
        });
    }
    entities.sort_unstable_by_key(|e| e.uscc);
    Ok(entities)
}

/// Arrow builders of the legal-entity columns.
#[derive(Debug)]
pub(crate) struct EntityColumns {
    uscc: StringBuilder,
    name: StringBuilder,
    entity_type: StringBuilder,
    legal_rep_name: StringBuilder,
    legal_rep_id_number: StringBuilder,
    registered_capital: Decimal128Builder,
    established_date: Date32Builder,
    term_to: Date32Builder,
    address: StringBuilder,
    address_division_code: StringBuilder,
    business_scope: StringBuilder,
    reg_authority_name: StringBuilder,
    status: StringBuilder,
    updated_at: TimestampMillisecondBuilder,
    rows: usize,
}

impl EntityColumns {
    pub(crate) fn new() -> EntityColumns {
        EntityColumns {
            uscc: StringBuilder::new(),
            name: StringBuilder::new(),
            entity_type: StringBuilder::new(),
            legal_rep_name: StringBuilder::new(),
            legal_rep_id_number: StringBuilder::new(),
            registered_capital: Decimal128Builder::new(),
            established_date: Date32Builder::new(),
            term_to: Date32Builder::new(),
            address: StringBuilder::new(),
            address_division_code: StringBuilder::new(),
            business_scope: StringBuilder::new(),
            reg_authority_name: StringBuilder::new(),
            status: StringBuilder::new(),
            updated_at: TimestampMillisecondBuilder::new(),
            rows: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.rows
    }

    /// Appends one entity of `place`, whose representative is among `people`.
    pub(crate) fn append(
        &mut self,
        place: &Place,
        people: &[Person],
        e: &Entity,
        buf: &mut String,
    ) {
        let rep = &people[e.rep as usize];
        self.uscc.append_value(e.uscc_str());
        self.name.append_value(&e.name);
        self.entity_type.append_value(e.entity_type);
        self.legal_rep_name.append_value(rep.name.as_str());
        self.legal_rep_id_number.append_value(rep.id_str());
        self.registered_capital.append_value(e.capital);
        self.established_date.append_value(e.established);
        self.term_to.append_option(e.term_to);
        self.address.append_value(&e.address);
        self.address_division_code.append_value(place.digits());
        self.business_scope.append_value(e.scope);
        buf.clear();
        e.registrar.write(buf, place);
        self.reg_authority_name.append_value(buf.as_str());
        self.status.append_value(e.status);
        self.updated_at.append_value(e.updated_ms);
        self.rows += 1;
    }

    /// The rows appended so far as a batch.
    pub(crate) fn finish(mut self) -> Result<RecordBatch, GenerateError> {
        let internal = |e: arrow::error::ArrowError| {
            GenerateError::Internal(format!("legal-entity batch: {e}"))
        };
        let capital = self
            .registered_capital
            .finish()
            .with_precision_and_scale(18, 4)
            .map_err(internal)?;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.uscc.finish()),
            Arc::new(self.name.finish()),
            Arc::new(self.entity_type.finish()),
            Arc::new(self.legal_rep_name.finish()),
            Arc::new(self.legal_rep_id_number.finish()),
            Arc::new(capital),
            Arc::new(self.established_date.finish()),
            Arc::new(self.term_to.finish()),
            Arc::new(self.address.finish()),
            Arc::new(self.address_division_code.finish()),
            Arc::new(self.business_scope.finish()),
            Arc::new(self.reg_authority_name.finish()),
            Arc::new(self.status.finish()),
            Arc::new(self.updated_at.finish().with_timezone(TIME_ZONE)),
        ];
        RecordBatch::try_new(BaseLibrary::LegalEntity.schema(), columns).map_err(internal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_in_uscc_sort_order() {
        let keys: Vec<String> = PREFIXES.iter().map(|(a, c, _)| format!("{a}{c}")).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }

    #[test]
    fn organisation_bodies_use_the_uscc_alphabet() {
        let mut rng = Rng::new(4);
        for prefix in 0..PREFIXES.len() {
            for established in [10_000, 20_000] {
                let body = org_body(&mut rng, prefix, established, 16_709);
                assert!(body.iter().all(|b| USCC_ALPHABET.contains(b)), "{body:?}");
            }
        }
    }

    #[test]
    fn capital_is_positive() {
        let mut rng = Rng::new(8);
        for prefix in 0..PREFIXES.len() {
            for (t, _) in ENTERPRISE_TYPES {
                assert!(capital(&mut rng, prefix, t) > 0);
            }
        }
    }
}
