//! 社会信用: licences, penalties and listings of the entities and people of one division.
//!
//! Credit records are what the once-only checks of the demo ask about ("no serious
//! dishonesty listing", "no abnormal-operation listing"), so they must point at real subjects
//! (an entity's USCC and name, or a person's ID and name), carry statuses that agree with
//! their dates on `today`, and be numerous enough in the demo counties that a demo can find a
//! listed company. Like entities, they are generated per division from the division's own
//! people and entities, so no lookup crosses divisions.
//!
//! The mix follows published credit-China statistics in broad strokes: licences and
//! penalties are most of the records; dishonest judgment debtors are mostly people;
//! serious-dishonesty listings are rare; a 信用修复 (credit repair) record always follows an
//! earlier penalty or listing of the same subject, which it marks 已修复.

use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Builder, StringBuilder, TimestampMillisecondBuilder};

use super::dates::{self, add_months, add_years, office_timestamp};
use super::entities::Entity;
use super::people::Person;
use super::places::{Place, push_num};
use super::rng::{Rng, Weighted};
use super::tables::Tables;
use crate::library::TIME_ZONE;

/// Stream tag of a division's credit records.
const STREAM_CREDIT: u64 = 0x4352_4544_4954; // "CREDIT"

/// Record types, as in [`crate::library::CREDIT_RECORD_TYPES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Licence,
    Penalty,
    Debtor,
    Abnormal,
    Serious,
    Repair,
}

impl Kind {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Kind::Licence => "行政许可",
            Kind::Penalty => "行政处罚",
            Kind::Debtor => "失信被执行人",
            Kind::Abnormal => "经营异常名录",
            Kind::Serious => "严重违法失信名单",
            Kind::Repair => "信用修复",
        }
    }
}

/// Drawn record types with weights; repairs follow other records instead.
const KINDS: &[(Kind, u32)] = &[
    (Kind::Licence, 40),
    (Kind::Penalty, 31),
    (Kind::Abnormal, 13),
    (Kind::Debtor, 11),
    (Kind::Serious, 5),
];

/// The subject of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Subject {
    /// Index into the division's entities.
    Entity(u32),
    /// Index into the division's people.
    Person(u32),
}

/// One credit record, before its row is written.
#[derive(Debug, Clone)]
pub(crate) struct Credit {
    pub(crate) kind: Kind,
    pub(crate) subject: Subject,
    pub(crate) doc_no: String,
    pub(crate) content: String,
    pub(crate) decision: i32,
    pub(crate) valid_to: Option<i32>,
    pub(crate) publicity_end: Option<i32>,
    pub(crate) authority: String,
    pub(crate) status: &'static str,
    pub(crate) updated_ms: i64,
}

impl Credit {
    /// Whether the record is in force on `today` (the status says so).
    pub(crate) fn is_current(&self) -> bool {
        self.status == "有效"
    }
}

/// Bureaus that decide penalties, with their document-number abbreviation.
#[derive(Debug, Clone, Copy)]
enum Bureau {
    Market,
    Emergency,
    Environment,
    Tax,
    UrbanManagement,
}

/// Penalty grounds and the bureau that enforces each.
const PENALTY_GROUNDS: &[(&str, Bureau)] = &[
    (
        "销售不符合食品安全标准的食品，违反《中华人民共和国食品安全法》第三十四条",
        Bureau::Market,
    ),
    (
        "未取得食品经营许可从事食品经营活动，违反《中华人民共和国食品安全法》第三十五条",
        Bureau::Market,
    ),
    (
        "发布虚假广告，违反《中华人民共和国广告法》第四条",
        Bureau::Market,
    ),
    (
        "不按规定明码标价，违反《明码标价和禁止价格欺诈规定》第五条",
        Bureau::Market,
    ),
    (
        "使用未经检定的计量器具，违反《中华人民共和国计量法》第九条",
        Bureau::Market,
    ),
    (
        "未按规定对从业人员进行安全生产教育和培训，违反《中华人民共和国安全生产法》第二十八条",
        Bureau::Emergency,
    ),
    (
        "未按规定采取扬尘污染防治措施，违反《中华人民共和国大气污染防治法》第六十九条",
        Bureau::Environment,
    ),
    (
        "未按照规定期限办理纳税申报和报送纳税资料，违反《中华人民共和国税收征收管理法》第二十五条",
        Bureau::Tax,
    ),
    (
        "擅自占用城市道路经营，违反《城市市容和环境卫生管理条例》第十四条",
        Bureau::UrbanManagement,
    ),
];

/// Grounds for penalising a natural person.
const PERSONAL_GROUNDS: &[(&str, Bureau)] = &[
    (
        "未依法取得营业执照从事经营活动，违反《无证无照经营查处办法》第二条",
        Bureau::Market,
    ),
    (
        "擅自占用城市道路经营，违反《城市市容和环境卫生管理条例》第十四条",
        Bureau::UrbanManagement,
    ),
];

/// Licences (matter, licence-number prefix) of businesses.
const LICENCES: &[(&str, &str)] = &[
    ("食品经营许可", "JY"),
    ("公共场所卫生许可", "GW"),
    ("道路运输经营许可", "DY"),
    ("药品经营许可", "YJ"),
    ("烟草专卖零售许可", "YC"),
    ("排污许可", "PW"),
];

/// Licences of public institutions and private non-enterprise units (canteens, public venues).
const INSTITUTION_LICENCES: &[(&str, &str)] = &[("食品经营许可", "JY"), ("公共场所卫生许可", "GW")];

const ABNORMAL_GROUNDS: &[&str] = &[
    "未按照《企业信息公示暂行条例》第八条规定的期限公示年度报告",
    "通过登记的住所或者经营场所无法联系",
    "公示企业信息隐瞒真实情况、弄虚作假",
    "未在市场监督管理部门依照《企业信息公示暂行条例》第十条规定责令的期限内公示有关企业信息",
];

const SERIOUS_GROUNDS: &[&str] = &[
    "被列入经营异常名录届满3年仍未履行相关义务",
    "提交虚假材料或者采取其他欺诈手段隐瞒重要事实，取得市场主体登记，被撤销登记",
    "因食品安全违法行为受到较重行政处罚",
    "拒不履行生效行政处罚决定",
];

const DEBTOR_GROUNDS: &[&str] = &[
    "有履行能力而拒不履行生效法律文书确定义务",
    "违反财产报告制度",
    "违反限制消费令",
    "以伪造证据、暴力、威胁等方法妨碍、抗拒执行",
];

fn push_doc(buf: &mut String, rng: &mut Rng, abbr: &str, kind: &str, day: i32) {
    buf.push_str(abbr);
    buf.push_str(kind);
    buf.push('〔');
    push_num(buf, dates::year(day) as u32);
    buf.push('〕');
    push_num(buf, rng.range_i32(1, 900) as u32);
    buf.push('号');
}

fn push_bureau(buf: &mut String, place: &Place, bureau: Bureau) {
    match bureau {
        Bureau::Market => {
            buf.push_str(&place.bureau_prefix);
            buf.push_str("市场监督管理局");
        }
        Bureau::Emergency => {
            buf.push_str(&place.bureau_prefix);
            buf.push_str("应急管理局");
        }
        Bureau::Environment => {
            // Environmental enforcement sits with the city bureau since the 2018 reform.
            buf.push_str(&place.city);
            buf.push_str("生态环境局");
        }
        Bureau::Tax => {
            buf.push_str("国家税务总局");
            buf.push_str(&place.bureau_prefix);
            buf.push_str("税务局");
        }
        Bureau::UrbanManagement => {
            buf.push_str(&place.bureau_prefix);
            buf.push_str("城市管理综合行政执法局");
        }
    }
}

fn doc_kind(bureau: Bureau) -> &'static str {
    match bureau {
        Bureau::Market => "市监罚",
        Bureau::Emergency => "应急罚",
        Bureau::Environment => "环罚",
        Bureau::Tax => "税简罚",
        Bureau::UrbanManagement => "城管罚",
    }
}

/// What a record generator needs to know about the division.
struct Division<'a> {
    tables: &'a Tables,
    place: &'a Place,
    people: &'a [Person],
    entities: &'a [Entity],
    /// Active entities.
    live_entities: Vec<u32>,
    /// Active adults.
    adults: Vec<u32>,
    today: i32,
}

impl Division<'_> {
    /// The first day a record about `subject` can be decided: the entity's establishment or
    /// the person's eighteenth birthday, and not more than six years ago.
    fn earliest(&self, subject: Subject) -> i32 {
        let since = match subject {
            Subject::Entity(i) => self.entities[i as usize].established,
            Subject::Person(i) => add_years(self.people[i as usize].birth, 18),
        };
        since.max(add_years(self.today, -6))
    }

    fn entity(&self, rng: &mut Rng, active_only: bool) -> Option<Subject> {
        if active_only {
            (!self.live_entities.is_empty()).then(|| Subject::Entity(rng.pick(&self.live_entities)))
        } else {
            (!self.entities.is_empty())
                .then(|| Subject::Entity(rng.index(self.entities.len()) as u32))
        }
    }

    fn person(&self, rng: &mut Rng) -> Option<Subject> {
        (!self.adults.is_empty()).then(|| Subject::Person(rng.pick(&self.adults)))
    }

    /// A record of `kind`; `recent` forces a decision within the last two months (used to
    /// guarantee current listings in the demo counties). `None` if there is no suitable
    /// subject.
    fn record(&self, rng: &mut Rng, kind: Kind, recent: bool) -> Option<Credit> {
        let subject = match kind {
            Kind::Licence | Kind::Abnormal | Kind::Serious => self.entity(rng, true)?,
            Kind::Penalty if rng.chance(0.85) => {
                self.entity(rng, false).or_else(|| self.person(rng))?
            }
            Kind::Penalty => self.person(rng)?,
            Kind::Debtor if recent || rng.chance(0.75) => {
                self.person(rng).or_else(|| self.entity(rng, false))?
            }
            Kind::Debtor | Kind::Repair => self.entity(rng, false).or_else(|| self.person(rng))?,
        };
        let today = self.today;
        let hi = today - 1;
        let lo = if recent {
            hi - 60
        } else {
            self.earliest(subject)
        }
        .min(hi);
        let decision = rng.range_i32(lo, hi);
        let mut doc_no = String::with_capacity(48);
        let mut content = String::with_capacity(160);
        let mut authority = String::with_capacity(48);
        let place = self.place;
        let mut valid_to = None;
        let mut publicity_end = None;
        let status;
        match kind {
            Kind::Licence => {
                let institution = match subject {
                    Subject::Entity(i) => self.entities[i as usize].is_institution(),
                    Subject::Person(_) => false,
                };
                let (matter, code) = rng.pick(if institution {
                    INSTITUTION_LICENCES
                } else {
                    LICENCES
                });
                let (issuer, abbr_kind) = match matter {
                    "烟草专卖零售许可" => ("烟草专卖局", "烟专许"),
                    "排污许可" => ("生态环境局", "环许"),
                    "道路运输经营许可" => ("交通运输局", "交运许"),
                    _ => ("行政审批局", "审批许"),
                };
                if matter == "排污许可" {
                    authority.push_str(&place.city);
                } else {
                    authority.push_str(&place.bureau_prefix);
                }
                authority.push_str(issuer);
                push_doc(&mut doc_no, rng, &place.doc_abbr, abbr_kind, decision);
                content.push_str("准予");
                content.push_str(matter);
                content.push_str(if rng.chance(0.8) {
                    "（新办）"
                } else {
                    "（延续）"
                });
                content.push_str("，许可证编号：");
                content.push_str(code);
                content.push_str(place.digits());
                push_num(&mut content, 1_000_000 + rng.below(9_000_000) as u32);
                let end = add_years(decision, 5) - 1;
                valid_to = Some(end);
                status = if end >= today { "有效" } else { "已移出" };
            }
            Kind::Penalty => {
                let grounds = if matches!(subject, Subject::Person(_)) {
                    PERSONAL_GROUNDS
                } else {
                    PENALTY_GROUNDS
                };
                let (ground, bureau) = rng.pick(grounds);
                push_bureau(&mut authority, place, bureau);
                let abbr: &str = if matches!(bureau, Bureau::Environment) {
                    place.city_short.get(..3).unwrap_or(&place.doc_abbr)
                } else {
                    &place.doc_abbr
                };
                push_doc(&mut doc_no, rng, abbr, doc_kind(bureau), decision);
                content.push_str(ground);
                let fine = 100 * (5 + rng.exponential(80.0) as u32);
                // Warnings and small fines are publicised for three months, other penalties
                // for one to three years.
                let months = match rng.below(10) {
                    0..=2 => {
                        content.push_str("，给予警告");
                        3
                    }
                    3..=7 => {
                        content.push_str("，处罚款人民币");
                        push_num(&mut content, fine);
                        content.push('元');
                        if fine <= 3_000 { 3 } else { 12 }
                    }
                    _ => {
                        content.push_str("，没收违法所得人民币");
                        push_num(&mut content, fine / 2 + 100);
                        content.push_str("元，并处罚款人民币");
                        push_num(&mut content, fine * 3);
                        content.push('元');
                        36
                    }
                };
                let end = add_months(decision, months) - 1;
                publicity_end = Some(end);
                status = if end >= today { "有效" } else { "已移出" };
            }
            Kind::Debtor => {
                authority.push_str(&place.bureau_prefix);
                authority.push_str("人民法院");
                doc_no.push('（');
                push_num(&mut doc_no, dates::year(decision) as u32);
                doc_no.push('）');
                doc_no.push_str(&place.court);
                doc_no.push('执');
                push_num(&mut doc_no, rng.range_i32(1, 9_000) as u32);
                doc_no.push('号');
                content.push_str("失信情形：");
                content.push_str(rng.pick(DEBTOR_GROUNDS));
                // Debtors who pay are removed from the list; older cases more often.
                let removed =
                    !recent && rng.chance(if decision < today - 730 { 0.55 } else { 0.15 });
                status = if removed { "已移出" } else { "有效" };
            }
            Kind::Abnormal => {
                push_bureau(&mut authority, place, Bureau::Market);
                push_doc(&mut doc_no, rng, &place.doc_abbr, "市监经异", decision);
                content.push_str("列入经营异常名录原因：");
                content.push_str(rng.pick(ABNORMAL_GROUNDS));
                let removed = !recent && decision < today - 365 && rng.chance(0.5);
                status = if removed { "已移出" } else { "有效" };
            }
            Kind::Serious => {
                push_bureau(&mut authority, place, Bureau::Market);
                push_doc(&mut doc_no, rng, &place.doc_abbr, "市监严列", decision);
                content.push_str("列入严重违法失信名单原因：");
                content.push_str(rng.pick(SERIOUS_GROUNDS));
                let end = add_years(decision, 3) - 1;
                valid_to = Some(end);
                status = if end >= today { "有效" } else { "已移出" };
            }
            Kind::Repair => return None,
        }
        let updated_ms = office_timestamp(rng, decision, hi);
        Some(Credit {
            kind,
            subject,
            doc_no,
            content,
            decision,
            valid_to,
            publicity_end,
            authority,
            status,
            updated_ms,
        })
    }

    /// A credit-repair record for `original` (decided at least three months ago and still in
    /// force), which it marks repaired.
    fn repair(&self, rng: &mut Rng, original: &mut Credit) -> Option<Credit> {
        let hi = self.today - 1;
        let lo = add_months(original.decision, 3);
        if !original.is_current() || lo > hi {
            return None;
        }
        let day = rng.range_i32(lo, hi);
        let mut doc_no = String::with_capacity(40);
        push_doc(&mut doc_no, rng, &self.place.doc_abbr, "信修", day);
        let mut content = String::with_capacity(120);
        content.push_str("当事人已履行相关义务并提交信用修复申请，经审核准予信用修复，提前终止公示（原决定文书号：");
        content.push_str(&original.doc_no);
        content.push('）');
        original.status = "已修复";
        original.updated_ms = office_timestamp(rng, day, day);
        Some(Credit {
            kind: Kind::Repair,
            subject: original.subject,
            doc_no,
            content,
            decision: day,
            valid_to: None,
            publicity_end: None,
            authority: original.authority.clone(),
            status: "有效",
            updated_ms: office_timestamp(rng, day, hi),
        })
    }
}

/// Weighted tables of this module, built once per run.
#[derive(Debug)]
pub(crate) struct CreditTables {
    kinds: Weighted,
}

impl CreditTables {
    pub(crate) fn new() -> CreditTables {
        CreditTables {
            kinds: Weighted::of(KINDS),
        }
    }
}

/// Generates the credit records of a division, ordered by decision date.
pub(crate) fn generate(
    tables: &Tables,
    place: &Place,
    people: &[Person],
    entities: &[Entity],
) -> Vec<Credit> {
    let mut rng = Rng::derive(
        tables.seed,
        &[STREAM_CREDIT, u64::from(place.code.as_u32())],
    );
    let today = tables.today;
    let division = Division {
        tables,
        place,
        people,
        entities,
        live_entities: entities
            .iter()
            .enumerate()
            .filter(|(_, e)| e.is_active())
            .map(|(i, _)| i as u32)
            .collect(),
        adults: people
            .iter()
            .enumerate()
            .filter(|(_, p)| p.is_active() && p.age >= 18)
            .map(|(i, _)| i as u32)
            .collect(),
        today,
    };
    let expected = entities.len() as f64 * division.tables.credit_per_entity;
    let count = expected.floor() as usize + usize::from(rng.chance(expected.fract()));
    let mut records: Vec<Credit> = Vec::with_capacity(count + count / 8 + 3);
    for _ in 0..count {
        let kind = KINDS[tables.credit.kinds.sample(&mut rng)].0;
        let Some(mut record) = division.record(&mut rng, kind, false) else {
            continue;
        };
        let repair_chance = match kind {
            Kind::Penalty
                if record
                    .publicity_end
                    .is_some_and(|end| end > add_months(record.decision, 3)) =>
            {
                0.25
            }
            Kind::Abnormal => 0.25,
            Kind::Serious => 0.12,
            _ => 0.0,
        };
        let repair = if rng.chance(repair_chance) {
            division.repair(&mut rng, &mut record)
        } else {
            None
        };
        records.push(record);
        records.extend(repair);
    }
    if place.demo {
        // The demo scripts look for currently listed subjects in these counties.
        for kind in [Kind::Abnormal, Kind::Serious, Kind::Debtor] {
            let listed = records.iter().any(|r| {
                r.kind == kind
                    && r.is_current()
                    && matches!(
                        (kind, r.subject),
                        (Kind::Debtor, Subject::Person(_))
                            | (Kind::Abnormal | Kind::Serious, Subject::Entity(_))
                    )
            });
            if !listed && let Some(record) = division.record(&mut rng, kind, true) {
                records.push(record);
            }
        }
    }
    records.sort_by_key(|r| r.decision);
    records
}

/// Arrow builders of the credit-record columns other than `record_id`, which is numbered
/// once all divisions are done.
#[derive(Debug)]
pub(crate) struct CreditColumns {
    record_type: StringBuilder,
    subject_name: StringBuilder,
    subject_uscc: StringBuilder,
    subject_id_number: StringBuilder,
    decision_doc_no: StringBuilder,
    content: StringBuilder,
    decision_date: Date32Builder,
    valid_to: Date32Builder,
    publicity_end_date: Date32Builder,
    authority_name: StringBuilder,
    status: StringBuilder,
    updated_at: TimestampMillisecondBuilder,
    rows: usize,
}

impl CreditColumns {
    pub(crate) fn new() -> CreditColumns {
        CreditColumns {
            record_type: StringBuilder::new(),
            subject_name: StringBuilder::new(),
            subject_uscc: StringBuilder::new(),
            subject_id_number: StringBuilder::new(),
            decision_doc_no: StringBuilder::new(),
            content: StringBuilder::new(),
            decision_date: Date32Builder::new(),
            valid_to: Date32Builder::new(),
            publicity_end_date: Date32Builder::new(),
            authority_name: StringBuilder::new(),
            status: StringBuilder::new(),
            updated_at: TimestampMillisecondBuilder::new(),
            rows: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.rows
    }

    pub(crate) fn append(&mut self, people: &[Person], entities: &[Entity], r: &Credit) {
        self.record_type.append_value(r.kind.label());
        match r.subject {
            Subject::Entity(i) => {
                let e = &entities[i as usize];
                self.subject_name.append_value(&e.name);
                self.subject_uscc.append_value(e.uscc_str());
                self.subject_id_number.append_null();
            }
            Subject::Person(i) => {
                let p = &people[i as usize];
                self.subject_name.append_value(p.name.as_str());
                self.subject_uscc.append_null();
                self.subject_id_number.append_value(p.id_str());
            }
        }
        self.decision_doc_no.append_value(&r.doc_no);
        self.content.append_value(&r.content);
        self.decision_date.append_value(r.decision);
        self.valid_to.append_option(r.valid_to);
        self.publicity_end_date.append_option(r.publicity_end);
        self.authority_name.append_value(&r.authority);
        self.status.append_value(r.status);
        self.updated_at.append_value(r.updated_ms);
        self.rows += 1;
    }

    /// The columns after `record_id`, in schema order.
    pub(crate) fn finish(mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.record_type.finish()),
            Arc::new(self.subject_name.finish()),
            Arc::new(self.subject_uscc.finish()),
            Arc::new(self.subject_id_number.finish()),
            Arc::new(self.decision_doc_no.finish()),
            Arc::new(self.content.finish()),
            Arc::new(self.decision_date.finish()),
            Arc::new(self.valid_to.finish()),
            Arc::new(self.publicity_end_date.finish()),
            Arc::new(self.authority_name.finish()),
            Arc::new(self.status.finish()),
            Arc::new(self.updated_at.finish().with_timezone(TIME_ZONE)),
        ]
    }
}
