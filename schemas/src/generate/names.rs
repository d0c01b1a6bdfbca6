//! Chinese personal names: frequency-weighted surnames and era- and gender-leaning given names.
//!
//! Demo data is read by people who know what Chinese names look like, and lookups by name are
//! only interesting if names repeat the way real ones do (many 王伟, few 欧阳). Surname weights
//! follow the published 2020 household-registration ranking (per 100,000 people, rounded); the
//! given-name characters are split by gender and by generation, since names chosen in the
//! 1960s (建国, 秀英) differ visibly from those chosen after 2000 (子轩, 欣怡).

use super::rng::{Rng, Weighted};

/// Surnames with their approximate frequency per 100,000 people.
pub(crate) const SURNAMES: &[(&str, u32)] = &[
    ("王", 7250),
    ("李", 7190),
    ("张", 6790),
    ("刘", 5380),
    ("陈", 4530),
    ("杨", 3080),
    ("赵", 2290),
    ("黄", 2230),
    ("周", 1910),
    ("吴", 2050),
    ("徐", 1320),
    ("孙", 1540),
    ("胡", 1160),
    ("朱", 1260),
    ("高", 960),
    ("林", 970),
    ("何", 1020),
    ("郭", 1150),
    ("马", 1290),
    ("罗", 860),
    ("梁", 780),
    ("宋", 730),
    ("郑", 810),
    ("谢", 750),
    ("韩", 700),
    ("唐", 730),
    ("冯", 650),
    ("于", 480),
    ("董", 500),
    ("萧", 60),
    ("程", 410),
    ("曹", 580),
    ("袁", 480),
    ("邓", 580),
    ("许", 640),
    ("傅", 120),
    ("沈", 350),
    ("曾", 520),
    ("彭", 540),
    ("吕", 370),
    ("苏", 380),
    ("卢", 340),
    ("蒋", 440),
    ("蔡", 430),
    ("贾", 260),
    ("丁", 370),
    ("魏", 380),
    ("薛", 190),
    ("叶", 400),
    ("阎", 40),
    ("余", 410),
    ("潘", 440),
    ("杜", 420),
    ("戴", 140),
    ("夏", 250),
    ("钟", 310),
    ("汪", 290),
    ("田", 510),
    ("任", 360),
    ("姜", 330),
    ("范", 280),
    ("方", 240),
    ("石", 280),
    ("姚", 340),
    ("谭", 300),
    ("廖", 260),
    ("邹", 230),
    ("熊", 220),
    ("金", 270),
    ("陆", 290),
    ("郝", 160),
    ("孔", 130),
    ("白", 230),
    ("崔", 330),
    ("康", 120),
    ("毛", 160),
    ("邱", 210),
    ("秦", 220),
    ("江", 210),
    ("史", 180),
    ("顾", 160),
    ("侯", 180),
    ("邵", 150),
    ("孟", 230),
    ("龙", 180),
    ("万", 150),
    ("段", 190),
    ("雷", 180),
    ("钱", 140),
    ("汤", 120),
    ("尹", 200),
    ("黎", 170),
    ("易", 100),
    ("常", 120),
    ("武", 140),
    ("乔", 100),
    ("贺", 170),
    ("赖", 90),
    ("龚", 150),
    ("文", 110),
    ("肖", 510),
    ("付", 250),
    ("闫", 190),
    ("韦", 240),
    ("陶", 170),
    ("严", 140),
    ("覃", 140),
    ("莫", 130),
    ("向", 130),
    ("温", 120),
    ("施", 110),
    ("牛", 110),
    ("樊", 110),
    ("葛", 110),
    ("邢", 100),
    ("安", 100),
    ("齐", 100),
    ("伍", 100),
    ("庞", 90),
    ("颜", 90),
    ("倪", 90),
    ("庄", 90),
    ("聂", 90),
    ("章", 90),
    ("鲁", 80),
    ("岳", 80),
    ("翟", 80),
    ("殷", 80),
    ("詹", 80),
    ("申", 80),
    ("耿", 70),
    ("关", 70),
    ("兰", 70),
    ("焦", 70),
    ("俞", 70),
    ("左", 70),
    ("柳", 70),
    ("甘", 60),
    ("祝", 60),
    ("包", 60),
    ("宁", 60),
    ("尚", 60),
    ("符", 60),
    ("舒", 60),
    ("阮", 60),
    ("柯", 60),
    ("纪", 60),
    ("梅", 50),
    ("童", 50),
    ("凌", 50),
    ("毕", 50),
    ("单", 50),
    ("季", 50),
    ("裴", 50),
    ("霍", 50),
    ("涂", 50),
    ("成", 50),
    ("苗", 50),
    ("谷", 50),
    ("盛", 50),
    ("曲", 50),
    ("翁", 50),
    ("冉", 40),
    ("骆", 40),
    ("蓝", 40),
    ("路", 40),
    ("游", 40),
    ("辛", 40),
    ("靳", 40),
    ("欧阳", 60),
    ("上官", 8),
    ("司马", 8),
    ("诸葛", 6),
    ("司徒", 8),
    ("皇甫", 4),
    ("东方", 3),
    ("尉迟", 2),
    ("令狐", 2),
    ("慕容", 2),
    ("夏侯", 2),
];

/// Given-name characters favoured for boys born before about 1980.
const MALE_OLD: &[&str] = &[
    "国", "建", "军", "华", "明", "平", "伟", "强", "林", "海", "东", "忠", "志", "勇", "德", "福",
    "成", "文", "武", "金", "春", "生", "庆", "红", "卫", "民", "荣", "富", "贵", "宝", "山", "保",
    "胜", "利", "永", "清", "新", "洪", "光", "刚", "玉", "振", "兴", "树", "学", "长", "广", "俊",
    "水", "立",
];

/// Given-name characters favoured for boys born from about 1980 to 1999.
const MALE_MID: &[&str] = &[
    "伟", "磊", "涛", "斌", "超", "鹏", "飞", "波", "杰", "辉", "亮", "健", "勇", "峰", "强", "军",
    "龙", "宇", "浩", "凯", "鑫", "帅", "旭", "阳", "晨", "彬", "博", "鹏", "洋", "雷", "刚", "东",
    "明", "俊", "毅", "坤", "鸿", "锋", "海", "振", "兵", "猛", "建", "晓", "文", "宏", "成", "亚",
    "志", "永",
];

/// Given-name characters favoured for boys born from about 2000.
const MALE_NEW: &[&str] = &[
    "子", "轩", "浩", "宇", "梓", "睿", "泽", "皓", "博", "文", "俊", "熙", "晨", "奕", "铭", "航",
    "宸", "逸", "辰", "瑞", "嘉", "一", "宇", "乐", "昊", "然", "天", "佑", "煜", "锦", "沐", "景",
    "阳", "恩", "哲", "诚", "明", "杰", "骏", "凯", "钧", "宁", "朗", "翔", "楷", "霖", "彦", "霆",
    "峻", "修",
];

/// Given-name characters favoured for girls born before about 1980.
const FEMALE_OLD: &[&str] = &[
    "秀", "英", "兰", "珍", "桂", "芳", "玉", "凤", "华", "淑", "梅", "琴", "红", "霞", "云", "春",
    "丽", "萍", "荣", "敏", "芬", "香", "莲", "翠", "金", "菊", "美", "爱", "素", "彩", "艳", "平",
    "燕", "娟", "月", "静", "巧", "娥", "花", "惠",
];

/// Given-name characters favoured for girls born from about 1980 to 1999.
const FEMALE_MID: &[&str] = &[
    "丽", "静", "敏", "燕", "艳", "娟", "霞", "娜", "芳", "婷", "玲", "丹", "洁", "琳", "雪", "倩",
    "晶", "颖", "慧", "莉", "佳", "薇", "蕾", "璐", "媛", "欢", "晓", "梦", "露", "琪", "月", "瑶",
    "妍", "楠", "娇", "蓉", "红", "莹", "萍", "茜",
];

/// Given-name characters favoured for girls born from about 2000.
const FEMALE_NEW: &[&str] = &[
    "欣", "怡", "涵", "梓", "萱", "诗", "雨", "可", "馨", "悦", "思", "琪", "一", "佳", "子", "梦",
    "语", "彤", "嘉", "若", "依", "婉", "晴", "沐", "瑶", "希", "心", "妍", "芮", "安", "雅", "舒",
    "宁", "乐", "媛", "汐", "语", "菲", "茉", "桐",
];

/// Characters used by both genders, mixed into every pool.
const NEUTRAL: &[&str] = &[
    "文", "晓", "明", "嘉", "宇", "思", "天", "新", "春", "秋", "家", "子", "一", "安", "永", "海",
    "林", "晨", "雨", "静",
];

/// A name of at most four characters (twelve UTF-8 bytes), stored inline so that ten million
/// people do not cost ten million heap allocations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ShortName {
    len: u8,
    bytes: [u8; 15],
}

impl ShortName {
    /// The name as text.
    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)])
            .expect("a ShortName is built only from whole UTF-8 characters")
    }

    fn push(&mut self, s: &str) {
        let start = usize::from(self.len);
        let end = start + s.len();
        // Four characters of three bytes fit in fifteen; longer input would be a table bug.
        assert!(
            end <= self.bytes.len(),
            "name longer than four Chinese characters"
        );
        self.bytes[start..end].copy_from_slice(s.as_bytes());
        self.len = u8::try_from(end).expect("end is at most 15");
    }
}

/// Draws names; built once per run and shared by every thread.
#[derive(Debug)]
pub(crate) struct NameTable {
    surnames: Weighted,
}

impl NameTable {
    pub(crate) fn new() -> NameTable {
        NameTable {
            surnames: Weighted::of(SURNAMES),
        }
    }

    /// A surname drawn by frequency.
    pub(crate) fn surname(&self, rng: &mut Rng) -> &'static str {
        SURNAMES[self.surnames.sample(rng)].0
    }

    /// A full name for a person of the given gender born in `birth_year`.
    pub(crate) fn name(&self, rng: &mut Rng, male: bool, birth_year: i32) -> ShortName {
        let mut name = ShortName::default();
        name.push(self.surname(rng));
        let pool = given_pool(rng, male, birth_year);
        // Single-character given names peaked among people born in the 1960s–1980s.
        let single = match birth_year {
            ..1960 => 0.22,
            1960..1990 => 0.30,
            1990..2005 => 0.18,
            _ => 0.10,
        };
        let first = rng.pick(pool);
        name.push(first);
        if !rng.chance(single) {
            let second_pool = given_pool(rng, male, birth_year);
            let mut second = rng.pick(second_pool);
            // Reduplicated names (婷婷, 明明) exist, but mostly as nicknames: avoid them.
            if second == first {
                second = rng.pick(pool);
            }
            name.push(second);
        }
        name
    }
}

/// The pool of given-name characters for one draw: mostly the person's own generation,
/// sometimes the neighbouring one or a neutral character.
fn given_pool(rng: &mut Rng, male: bool, birth_year: i32) -> &'static [&'static str] {
    if rng.chance(0.12) {
        return NEUTRAL;
    }
    let era = match birth_year {
        ..1978 => 0,
        1978..2000 => 1,
        _ => 2,
    };
    // One draw in five borrows from the neighbouring generation, so eras blend.
    let era = if rng.chance(0.2) {
        if era == 0 { 1 } else { era - 1 }
    } else {
        era
    };
    match (male, era) {
        (true, 0) => MALE_OLD,
        (true, 1) => MALE_MID,
        (true, _) => MALE_NEW,
        (false, 0) => FEMALE_OLD,
        (false, 1) => FEMALE_MID,
        (false, _) => FEMALE_NEW,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_two_to_four_chinese_characters() {
        let table = NameTable::new();
        let mut rng = Rng::new(3);
        for i in 0..5_000 {
            let name = table.name(&mut rng, i % 2 == 0, 1940 + i % 80);
            let chars = name.as_str().chars().count();
            assert!((2..=4).contains(&chars), "{}", name.as_str());
            assert!(
                name.as_str()
                    .chars()
                    .all(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
            );
        }
    }

    #[test]
    fn common_surnames_are_common() {
        let table = NameTable::new();
        let mut rng = Rng::new(9);
        let wang = (0..20_000)
            .filter(|_| table.surname(&mut rng) == "王")
            .count();
        // 王 is about 7% of the table's weight.
        assert!((1_000..1_900).contains(&wang), "{wang}");
    }
}
