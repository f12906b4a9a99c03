//! Generators of single values: valid personal data and look-alikes that
//! must not be reported. Facts come from public standards (cited inline).

use rand::Rng;
use rand::seq::SliceRandom;

use crate::Rng64;

const DIVISIONS: &str = include_str!("../../parcel-detect/data/divisions.tsv");

/// Mainland mobile segments (MIIT allocations).
const MOBILE_SEGMENTS: &[&str] = &[
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "147", "150", "151",
    "152", "153", "155", "156", "157", "158", "159", "166", "170", "171", "173", "175", "176",
    "177", "178", "180", "181", "182", "183", "184", "185", "186", "187", "188", "189", "191",
    "193", "195", "196", "197", "198", "199",
];
/// Area codes of large cities (MIIT numbering plan).
const AREA_CODES: &[&str] = &[
    "010", "020", "021", "022", "023", "024", "025", "027", "028", "029", "0755", "0571", "0512",
    "0731", "0871", "0551", "0591", "0532", "0769", "0757", "0411", "0451", "0371", "0311", "0898",
    "0951", "0991",
];
/// Domestic card BINs (issuer prefixes) and international test-style prefixes.
const CARD_BINS: &[&str] = &[
    "622202", "622848", "621700", "622588", "623668", "621226", "622700", "621483", "625907",
    "436742", "524094",
];
/// Compound and common surnames (百家姓; MPS rankings).
const COMPOUND: &[&str] = &[
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "慕容", "司徒",
];
const SURNAMES: &str = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程魏苏吕丁任卢姚沈钟姜崔谭陆范汪廖石金韦贾夏付方邹熊白孟秦邱侯江尹薛闫段雷龙黎史陶贺毛郝顾龚邵万覃武钱戴严莫孔向常汤";
const GIVEN: &str = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍建红文辉鹏飞宇浩然子轩欣怡梓涵雨婷思远志国家豪晓东海波佳琪俊博天翔";
/// Province abbreviations on plates (GA 36-2018).
const PLATE_CHARS: &str = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼";
const PLATE_LETTERS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
const ROADS: &[&str] = &[
    "科技园路",
    "文三路",
    "张江路",
    "人民路",
    "解放大道",
    "中山北路",
    "建设街",
    "和平巷",
    "长江路",
    "学院路",
    "新华街",
    "胜利路",
    "滨河大道",
    "幸福里",
    "迎宾大道",
    "朝阳北路",
    "金沙江路",
];
const BUILDINGS: &[&str] = &["花园", "小区", "公寓", "大厦", "广场", "家园", "新村", "苑"];
const EMAIL_DOMAINS: &[&str] = &[
    "qq.com",
    "163.com",
    "126.com",
    "sina.com",
    "gmail.com",
    "outlook.com",
    "foxmail.com",
    "sf-express.com",
    "example.cn",
    "corp.example.com",
];
const PINYIN: &[&str] = &[
    "zhang", "wang", "li", "liu", "chen", "yang", "huang", "zhao", "wu", "zhou", "wei", "fang",
    "na", "min", "jing", "lei", "jun", "yang", "tao", "ming", "xiaoming", "lihua",
];

/// A county (6-digit) division with its ancestors' names.
#[derive(Debug, Clone)]
pub(crate) struct County {
    pub(crate) code: u32,
    pub(crate) province: &'static str,
    pub(crate) city: Option<&'static str>,
    pub(crate) county: &'static str,
    pub(crate) townships: Vec<&'static str>,
}

/// The division tree, parsed from the detector's shipped data file.
#[derive(Debug)]
pub(crate) struct Divisions {
    pub(crate) counties: Vec<County>,
}

impl Divisions {
    pub(crate) fn load() -> Self {
        let mut names = std::collections::HashMap::new();
        let mut counties = Vec::new();
        let mut townships: std::collections::HashMap<u32, Vec<&'static str>> =
            std::collections::HashMap::new();
        for line in DIVISIONS.lines().filter(|l| !l.starts_with('#')) {
            let Some((code, name)) = line.split_once('\t') else {
                continue;
            };
            match code.len() {
                2 | 4 => {
                    names.insert(code, name);
                }
                6 => counties.push((code, name)),
                9 => {
                    if let Ok(c) = code[..6].parse::<u32>() {
                        townships.entry(c).or_default().push(name);
                    }
                }
                _ => {}
            }
        }
        let counties = counties
            .into_iter()
            .filter(|(_, n)| *n != "市辖区")
            .filter_map(|(code, county)| {
                let num = code.parse::<u32>().ok()?;
                let province = names.get(&code[..2]).copied()?;
                let city = names
                    .get(&code[..4])
                    .copied()
                    .filter(|c| !c.contains("辖") && !c.contains("直辖"));
                Some(County {
                    code: num,
                    province,
                    city,
                    county,
                    townships: townships.remove(&num).unwrap_or_default(),
                })
            })
            .collect();
        Self { counties }
    }
}

fn digits(rng: &mut Rng64, n: usize) -> String {
    (0..n)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect()
}

fn pick_char(rng: &mut Rng64, set: &str) -> char {
    let chars: Vec<char> = set.chars().collect();
    chars[rng.gen_range(0..chars.len())]
}

fn pick<'a>(rng: &mut Rng64, items: &[&'a str]) -> &'a str {
    items.choose(rng).copied().unwrap_or("")
}

/// An 11-digit mobile number.
pub(crate) fn mobile_digits(rng: &mut Rng64) -> String {
    format!("{}{}", pick(rng, MOBILE_SEGMENTS), digits(rng, 8))
}

/// A mobile number in one of the ways people write them.
pub(crate) fn mobile(rng: &mut Rng64) -> String {
    let d = mobile_digits(rng);
    match rng.gen_range(0..10) {
        0 => format!("+86 {}-{}-{}", &d[..3], &d[3..7], &d[7..]),
        1 => format!("+86 {d}"),
        2 => format!("0086 {d}"),
        3 => format!("86{d}"),
        4 => format!("{} {} {}", &d[..3], &d[3..7], &d[7..]),
        5 => format!("{}-{}-{}", &d[..3], &d[3..7], &d[7..]),
        _ => d,
    }
}

/// A landline with its area code.
pub(crate) fn landline(rng: &mut Rng64) -> String {
    let area = pick(rng, AREA_CODES);
    let len = if area.len() == 3 || rng.gen_bool(0.8) {
        8
    } else {
        7
    };
    let local = format!("{}{}", rng.gen_range(2..9), digits(rng, len - 1));
    match rng.gen_range(0..6) {
        0 => format!("({area}){local}"),
        1 if len == 8 => format!("{area} {} {}", &local[..4], &local[4..]),
        2 => format!("+86 {} {local}", &area[1..]),
        3 => format!("{area}{local}"),
        _ => format!("{area}-{local}"),
    }
}

const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

/// GB 11643 check character for 17 digits.
pub(crate) fn id_check(first17: &str) -> char {
    let sum: u32 = first17
        .bytes()
        .zip(ID_WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    char::from(b"10X98765432"[(sum % 11) as usize])
}

fn birth(rng: &mut Rng64) -> (u32, u32, u32) {
    let y = rng.gen_range(1940..=2008);
    let m = rng.gen_range(1..=12);
    let d = rng.gen_range(1..=28);
    (y, m, d)
}

/// A valid resident ID (18 digits; 5% legacy 15 digits).
pub(crate) fn resident_id(rng: &mut Rng64, div: &Divisions) -> String {
    let region = div.counties.choose(rng).map_or(110105, |c| c.code);
    let (y, m, d) = birth(rng);
    if rng.gen_bool(0.05) {
        return format!("{region}{:02}{m:02}{d:02}{}", y % 100, digits(rng, 3));
    }
    let first = format!("{region}{y}{m:02}{d:02}{}", digits(rng, 3));
    format!("{first}{}", id_check(&first))
}

/// An ID-shaped number that fails: wrong check, month 13 or unknown province.
pub(crate) fn bad_resident_id(rng: &mut Rng64, div: &Divisions) -> String {
    let id = resident_id(rng, div);
    if id.len() != 18 {
        return format!("99{}", &id[2..]);
    }
    match rng.gen_range(0..3) {
        0 => {
            let right = id_check(&id[..17]);
            let wrong = b"0123456789X"
                .iter()
                .map(|&b| char::from(b))
                .find(|&c| c != right)
                .unwrap_or('0');
            format!("{}{wrong}", &id[..17])
        }
        1 => {
            let first = format!("{}13{}", &id[..10], &id[12..17]);
            format!("{first}{}", id_check(&first))
        }
        _ => {
            let first = format!("99{}", &id[2..17]);
            format!("{first}{}", id_check(&first))
        }
    }
}

/// Luhn check digit for a digit string.
pub(crate) fn luhn_digit(body: &str) -> char {
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let dd = d * 2;
                if dd > 9 { dd - 9 } else { dd }
            } else {
                d
            }
        })
        .sum();
    char::from(b'0' + ((10 - sum % 10) % 10) as u8)
}

fn card_digits(rng: &mut Rng64) -> String {
    let bin = pick(rng, CARD_BINS);
    let len = if bin.starts_with('6') && rng.gen_bool(0.4) {
        19
    } else {
        16
    };
    let body = format!("{bin}{}", digits(rng, len - bin.len() - 1));
    format!("{body}{}", luhn_digit(&body))
}

/// A valid card number, sometimes in groups of four.
pub(crate) fn bank_card(rng: &mut Rng64) -> String {
    let d = card_digits(rng);
    if rng.gen_bool(0.3) {
        d.as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        d
    }
}

/// A Luhn-valid card from an issuer outside the detector's prefix list
/// (Discover's 6011, for example): recognisable only by its context.
pub(crate) fn other_card(rng: &mut Rng64) -> String {
    let body = format!("6011{}", digits(rng, 11));
    format!("{body}{}", luhn_digit(&body))
}

/// A local landline number without its area code.
pub(crate) fn local_number(rng: &mut Rng64) -> String {
    format!("{}{}", rng.gen_range(2..9), digits(rng, 7))
}

/// A 10-11 digit waybill number (some carriers' older formats).
pub(crate) fn short_waybill(rng: &mut Rng64) -> String {
    let n = rng.gen_range(10..12);
    format!("{}{}", rng.gen_range(2..10), digits(rng, n - 1))
}

/// A card-shaped number failing Luhn.
pub(crate) fn bad_card(rng: &mut Rng64) -> String {
    let d = card_digits(rng);
    let last = d.as_bytes()[d.len() - 1] - b'0';
    format!(
        "{}{}",
        &d[..d.len() - 1],
        (last + 1 + rng.gen_range(0..8)) % 10
    )
}

pub(crate) fn email(rng: &mut Rng64) -> String {
    let local = match rng.gen_range(0..4) {
        0 => format!("{}{}", pick(rng, PINYIN), pick(rng, PINYIN)),
        1 => format!("{}.{}", pick(rng, PINYIN), pick(rng, PINYIN)),
        2 => format!(
            "{}_{}{}",
            pick(rng, PINYIN),
            pick(rng, PINYIN),
            rng.gen_range(1..99)
        ),
        _ => {
            let n = rng.gen_range(6..11);
            format!("{}8", digits(rng, n).trim_start_matches('0'))
        }
    };
    format!("{local}@{}", pick(rng, EMAIL_DOMAINS))
}

pub(crate) fn surname(rng: &mut Rng64) -> String {
    if rng.gen_bool(0.05) {
        pick(rng, COMPOUND).to_owned()
    } else {
        pick_char(rng, SURNAMES).to_string()
    }
}

pub(crate) fn name(rng: &mut Rng64) -> String {
    let mut n = surname(rng);
    let given = if rng.gen_bool(0.3) { 1 } else { 2 };
    for _ in 0..given {
        n.push(pick_char(rng, GIVEN));
    }
    n
}

pub(crate) fn address(rng: &mut Rng64, div: &Divisions) -> String {
    let Some(c) = div.counties.choose(rng) else {
        return "北京市朝阳区望京街10号".to_owned();
    };
    let mut a = String::new();
    let municipality = c.province.ends_with('市');
    if municipality || rng.gen_bool(0.8) {
        a.push_str(c.province);
    }
    if let Some(city) = c.city
        && !municipality
    {
        a.push_str(city);
    }
    a.push_str(c.county);
    let rural = rng.gen_bool(0.15);
    if (rural || rng.gen_bool(0.4))
        && !c.townships.is_empty()
        && let Some(t) = c.townships.choose(rng)
    {
        a.push_str(t);
    }
    if rural {
        a.push_str(&format!(
            "{}{}村{}组",
            pick_char(rng, SURNAMES),
            pick_char(rng, "楼庄家屯湾寨"),
            rng.gen_range(1..12)
        ));
        return a;
    }
    a.push_str(pick(rng, ROADS));
    a.push_str(&format!("{}号", rng.gen_range(1..999)));
    match rng.gen_range(0..4) {
        0 => a.push_str(&format!(
            "{}栋{}单元{}室",
            rng.gen_range(1..30),
            rng.gen_range(1..6),
            rng.gen_range(101..2505)
        )),
        1 => a.push_str(&format!(
            "{}{}号楼{}室",
            pick(rng, BUILDINGS),
            rng.gen_range(1..20),
            rng.gen_range(101..1805)
        )),
        2 => a.push_str(&format!(
            "{}幢{}室",
            rng.gen_range(1..30),
            rng.gen_range(101..2505)
        )),
        _ => {}
    }
    a
}

/// A waybill number; `digits_only` ones need context to be recognisable.
pub(crate) fn waybill(rng: &mut Rng64) -> (String, bool) {
    match rng.gen_range(0..10) {
        0 | 1 => {
            let n = if rng.gen_bool(0.5) { 12 } else { 13 };
            (format!("SF{}", digits(rng, n)), false)
        }
        2 => (format!("YT{}", digits(rng, 13)), false),
        3 => (format!("JT{}", digits(rng, 13)), false),
        4 => (
            format!(
                "JD{}{}",
                pick(rng, &["VA", "VB", "VC", "VD"]),
                digits(rng, 11)
            ),
            false,
        ),
        5 => (format!("7{}{}", rng.gen_range(3..9), digits(rng, 10)), true),
        6 => (
            format!("4{}{}", pick(rng, &["3", "6"]), digits(rng, 11)),
            true,
        ),
        7 => (
            format!("{}{}", pick(rng, &["77", "88"]), digits(rng, 10)),
            true,
        ),
        8 => (format!("98{}", digits(rng, 11)), true),
        _ => {
            let serial = digits(rng, 8);
            const W: [u32; 8] = [8, 6, 4, 2, 3, 5, 9, 7];
            let sum: u32 = serial
                .bytes()
                .zip(W)
                .map(|(b, w)| u32::from(b - b'0') * w)
                .sum();
            let check = match 11 - sum % 11 {
                10 => 0,
                11 => 5,
                c => c,
            };
            (
                format!(
                    "{}{serial}{check}CN",
                    pick(rng, &["EE", "EA", "LK", "RR", "CP"])
                ),
                false,
            )
        }
    }
}

/// The carrier name that goes with a digits-only waybill.
pub(crate) fn carrier(rng: &mut Rng64) -> &'static str {
    pick(
        rng,
        &["中通", "韵达", "申通", "EMS", "中通快递", "韵达快递"],
    )
}

pub(crate) fn plate(rng: &mut Rng64) -> String {
    let p = pick_char(rng, PLATE_CHARS);
    let office = char::from(PLATE_LETTERS[rng.gen_range(0..PLATE_LETTERS.len())]);
    if rng.gen_bool(0.2) {
        let sep = if rng.gen_bool(0.5) { "·" } else { "" };
        return format!(
            "{p}{office}{sep}{}{}",
            pick(rng, &["D", "F"]),
            digits(rng, 5)
        );
    }
    let mut tail: Vec<char> = digits(rng, 5).chars().collect();
    for _ in 0..rng.gen_range(0..3) {
        let i = rng.gen_range(0..5);
        tail[i] = char::from(PLATE_LETTERS[rng.gen_range(0..PLATE_LETTERS.len())]);
    }
    format!("{p}{office}{}", tail.into_iter().collect::<String>())
}

pub(crate) fn passport(rng: &mut Rng64) -> String {
    match rng.gen_range(0..3) {
        0 => format!("E{}", digits(rng, 8)),
        1 => format!(
            "E{}{}",
            char::from(PLATE_LETTERS[rng.gen_range(0..PLATE_LETTERS.len())]),
            digits(rng, 7)
        ),
        _ => format!("G{}", digits(rng, 8)),
    }
}

pub(crate) fn ipv4(rng: &mut Rng64) -> String {
    match rng.gen_range(0..3) {
        0 => format!(
            "10.{}.{}.{}",
            rng.gen_range(0..256),
            rng.gen_range(0..256),
            rng.gen_range(1..255)
        ),
        1 => format!(
            "192.168.{}.{}",
            rng.gen_range(0..256),
            rng.gen_range(1..255)
        ),
        _ => format!(
            "{}.{}.{}.{}",
            rng.gen_range(1..224),
            rng.gen_range(0..256),
            rng.gen_range(0..256),
            rng.gen_range(1..255)
        ),
    }
}

pub(crate) fn ipv6(rng: &mut Rng64) -> String {
    let g = |rng: &mut Rng64| format!("{:x}", rng.gen_range(1..0xffffu32));
    match rng.gen_range(0..3) {
        0 => format!("2001:db8::{}:{}", g(rng), g(rng)),
        1 => format!("fe80::{}:{}:{}:{}", g(rng), g(rng), g(rng), g(rng)),
        _ => (0..8).map(|_| g(rng)).collect::<Vec<_>>().join(":"),
    }
}

/// Numbers that look personal but are not: order numbers, timestamps,
/// trace ids with a phone-like run inside, invalid mobile prefixes, ...
pub(crate) fn number_negative(rng: &mut Rng64, div: &Divisions) -> String {
    match rng.gen_range(0..10) {
        0 => format!("订单号{}{}", rng.gen_range(2023..2027), digits(rng, 14)),
        1 => format!(
            "{}-{:02}-{:02} {:02}:{:02}:{:02}",
            rng.gen_range(2023..2027),
            rng.gen_range(1..13),
            rng.gen_range(1..29),
            rng.gen_range(0..24),
            rng.gen_range(0..60),
            rng.gen_range(0..60)
        ),
        2 => format!(
            "traceId={}{}{}",
            digits(rng, 3),
            mobile_digits(rng),
            digits(rng, 6)
        ),
        3 => format!(
            "{}{}",
            pick(rng, &["120", "100", "110", "140", "104"]),
            digits(rng, 8)
        ),
        4 => format!("身份证{}无效", bad_resident_id(rng, div)),
        5 => bad_card(rng),
        6 => format!(
            "ts={}{}",
            rng.gen_range(1_600_000_000u64..1_800_000_000),
            digits(rng, 3)
        ),
        7 => format!("¥{}.{:02}", rng.gen_range(1..99999), rng.gen_range(0..100)),
        8 => format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            rng.r#gen::<u32>(),
            rng.r#gen::<u16>(),
            rng.r#gen::<u16>(),
            rng.r#gen::<u16>(),
            rng.r#gen::<u64>() & 0xffff_ffff_ffff
        ),
        _ => format!(
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            rng.r#gen::<u8>(),
            rng.r#gen::<u8>(),
            rng.r#gen::<u8>(),
            rng.r#gen::<u8>(),
            rng.r#gen::<u8>(),
            rng.r#gen::<u8>()
        ),
    }
}

/// Chinese sentences with place names but no address, and a bare surname
/// with an honorific.
pub(crate) fn text_negative(rng: &mut Rng64, div: &Divisions) -> String {
    let c = div.counties.choose(rng);
    let city = c.and_then(|c| c.city).unwrap_or("深圳市");
    let province = c.map_or("广东省", |c| c.province);
    match rng.gen_range(0..5) {
        0 => format!(
            "今年双十一，{province}{city}的快递量增长了{}%。",
            rng.gen_range(5..80)
        ),
        1 => format!("{}先生您好，您的包裹已到驿站。", surname(rng)),
        2 => format!("{city}分拨中心今日处理包裹{}万件", rng.gen_range(10..500)),
        3 => format!("请{}女士留意短信通知", surname(rng)),
        _ => format!(
            "发往{province}方向的车辆已发车，预计{}小时到达",
            rng.gen_range(2..30)
        ),
    }
}
