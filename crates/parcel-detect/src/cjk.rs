//! The Chinese-text pass: names, addresses and licence plates.
//!
//! It runs only on lines that hold non-ASCII bytes. A leftmost-longest search
//! finds the anchors: name cues (收件人, `receiverName`), honorifics
//! (先生/女士), address cues, administrative-division names from the shipped
//! dictionary, and province abbreviations that start plates (the ASCII cues
//! with Aho-Corasick, the others in a word table: see [`crate::words`]). Each
//! anchor hands over to a small grammar: surname table plus given name for
//! names, division dictionary plus address units for addresses.

use std::borrow::Cow;
use std::collections::HashSet;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::context::{Cat, Env, trim_cell};
use crate::numbers::with_context;
use crate::tables::{Level, tables};
use crate::words::Words;
use crate::{BuildError, PiiType, Sink};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Anchor {
    NameCue,
    WeakNameCue,
    NotName,
    Honorific,
    AddressCue,
    Division,
    PlateChar,
}

const NAME_CUES: &[&str] = &[
    "收件人",
    "寄件人",
    "联系人",
    "姓名",
    "收货人",
    "签收人",
    "发件人",
    "取件人",
    "我是",
    "我叫",
    "户名",
    "开户名",
    "开户人",
    "持卡人",
    "代收人",
    "提货人",
    "客户名",
    "名字",
    "快递员",
    "配送员",
    "派件员",
    "快递小哥",
    "司机",
    "name",
    "receiver",
    "sender",
    "consignee",
    "recipient",
    "contact",
];
/// Cues that are as often followed by a verb as by a name (客户查询订单,
/// 用户申请退款: 查 and 申 are surnames). After one of these a name counts
/// only right before a verb of reporting (客户张伟来电) or as the whole
/// value of a field (客户：张伟，…).
/// SF-style 收方/寄方 are weak too: 寄方付款, 收方付费 (付 is a surname).
const WEAK_NAME_CUES: &[&str] = &["客户", "顾客", "用户", "买家", "收方", "寄方", "customer"];
/// Everyday words that start with a surname and follow weak cues in
/// tickets and chats (客户明天签收, 客户强烈要求, 客户：谢谢！).
const NOT_NAMES_AFTER_WEAK_CUE: &[&str] = &[
    "明天", "明确", "明白", "明显", "强烈", "强调", "曾经", "方面", "方便", "方式", "陆续", "马上",
    "何时", "全部", "全程", "连续", "连忙", "时常", "时间", "常常", "谢谢", "付款", "付费", "付运",
    "于是",
];
/// What a ticket or a chat says a customer named by a weak cue did.
const REPORT_VERBS: &[&str] = &[
    "来电", "致电", "反馈", "反映", "投诉", "表示", "要求", "询问", "咨询", "称", "签收", "拒收",
    "联系", "说",
];
const NOT_NAME: &[&str] = &[
    "nickname",
    "username",
    "filename",
    "hostname",
    "product_name",
    "goods_name",
    "item_name",
    "shop_name",
    "company_name",
    "客户端",
    "客户服务",
    "客户经理",
    "客户名称",
];
const HONORIFICS: &[&str] = &["先生", "女士", "小姐", "您好"];
/// `detail` is the street part of an address split into fields (province,
/// city, district, detail), as order APIs send it.
const ADDRESS_CUES: &[&str] = &["地址", "住址", "address", "addr", "detail"];
/// Province abbreviations that begin a licence plate (GA 36-2018).
const PLATE_CHARS: &str = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼";

/// Two-character words that end a name or an address.
const STOP_WORDS: &[&str] = &[
    "电话", "手机", "地址", "先生", "女士", "小姐", "联系", "身份", "快递", "收件", "寄件", "签收",
    "您好", "你好", "师傅", "邮编", "姓名", "运单", "单号", "发货", "派送", "送达", "号码",
];
/// Words that never occur inside an address.
const ADDRESS_STOPS: &[&str] = &[
    "电话", "手机", "收件", "寄件", "联系", "姓名", "邮编", "身份", "运单", "快递", "的", "了",
    "是", "已经", "您", "你", "我", "请", "先生", "女士", "小姐", "发货", "签收", "派送", "增长",
    "今年", "去年", "明天", "今天",
];

/// Characters that cannot continue a name after its first given character (particles, pronouns, verbs).
fn is_stop_char(c: char) -> bool {
    matches!(
        c,
        '的' | '在'
            | '已'
            | '说'
            | '和'
            | '到'
            | '收'
            | '寄'
            | '是'
            | '请'
            | '了'
            | '吗'
            | '呢'
            | '啊'
            | '您'
            | '你'
            | '我'
            | '他'
            | '她'
            | '于'
            | '与'
            | '及'
            | '给'
            | '从'
            | '将'
            | '把'
            | '被'
            | '让'
            | '向'
            | '对'
            | '都'
            | '也'
            | '就'
            | '还'
            | '又'
            | '要'
            | '这'
            | '那'
            | '找'
            | '问'
            | '叫'
            | '跟'
    )
}

/// Characters that end an address after a number (号, 室, ...).
fn is_number_unit(c: char) -> bool {
    matches!(
        c,
        '号' | '室'
            | '楼'
            | '层'
            | '栋'
            | '幢'
            | '元'
            | '组'
            | '座'
            | '户'
            | '弄'
            | '门'
            | '排'
            | '期'
    )
}

/// Place words that can end an address without a number.
fn is_place_unit(c: char) -> bool {
    matches!(
        c,
        '村' | '组' | '苑' | '园' | '院' | '厦' | '寓' | '城' | '庄' | '屯' | '里' | '区'
    )
}

/// Road-level words.
fn is_road_unit(c: char) -> bool {
    matches!(c, '路' | '街' | '巷' | '弄' | '道' | '村' | '同')
}

/// Chinese numerals, which count as numbers before an address unit.
fn is_cn_numeral(c: char) -> bool {
    matches!(
        c,
        '一' | '二' | '三' | '四' | '五' | '六' | '七' | '八' | '九' | '十' | '零' | '〇' | '百'
    )
}

/// Whether `c` starts one of the stop words, checked before comparing whole words.
fn starts_stop_word(c: char) -> bool {
    matches!(
        c,
        '与' | '了'
            | '今'
            | '你'
            | '先'
            | '单'
            | '去'
            | '发'
            | '号'
            | '和'
            | '地'
            | '增'
            | '女'
            | '姓'
            | '寄'
            | '对'
            | '将'
            | '小'
            | '已'
            | '师'
            | '快'
            | '您'
            | '我'
            | '手'
            | '收'
            | '旁'
            | '明'
            | '是'
            | '派'
            | '电'
            | '的'
            | '签'
            | '联'
            | '请'
            | '身'
            | '运'
            | '送'
            | '邮'
            | '门'
            | '附'
    )
}

#[derive(Debug)]
pub(crate) struct CjkMatcher {
    /// The ASCII cues (`receiverName`, `address`), case-insensitive.
    ascii: AhoCorasick,
    ascii_kinds: Vec<Anchor>,
    /// Every other anchor word.
    words: Words<Anchor>,
}

fn short_forms(name: &str, level: Level) -> Vec<String> {
    const PROVINCE_SUFFIXES: &[&str] = &[
        "壮族自治区",
        "回族自治区",
        "维吾尔自治区",
        "特别行政区",
        "自治区",
        "省",
        "市",
    ];
    let mut out = Vec::new();
    match level {
        Level::Province => {
            for s in PROVINCE_SUFFIXES {
                if let Some(short) = name.strip_suffix(s) {
                    if short.chars().count() >= 2 {
                        out.push(short.to_owned());
                    }
                    break;
                }
            }
        }
        Level::City => {
            if let Some(short) = name.strip_suffix('市')
                && short.chars().count() >= 2
            {
                out.push(short.to_owned());
            }
        }
        _ => {}
    }
    out
}

/// Every anchor word, each once, in priority order (the first kind given
/// for a word wins).
fn anchor_words() -> Vec<(Cow<'static, str>, Anchor)> {
    let mut out: Vec<(Cow<'static, str>, Anchor)> = Vec::with_capacity(4096);
    let mut seen: HashSet<Cow<'static, str>> = HashSet::with_capacity(4096);
    let mut add = |p: Cow<'static, str>, k: Anchor| {
        if seen.insert(p.clone()) {
            out.push((p, k));
        }
    };
    for (words, kind) in [
        (NAME_CUES, Anchor::NameCue),
        (WEAK_NAME_CUES, Anchor::WeakNameCue),
        (NOT_NAME, Anchor::NotName),
        (HONORIFICS, Anchor::Honorific),
        (ADDRESS_CUES, Anchor::AddressCue),
    ] {
        for &p in words {
            add(Cow::Borrowed(p), kind);
        }
    }
    for (i, c) in PLATE_CHARS.char_indices() {
        add(
            Cow::Borrowed(&PLATE_CHARS[i..i + c.len_utf8()]),
            Anchor::PlateChar,
        );
    }
    for d in &tables().divisions {
        if d.level == Level::Township
            || d.name == "市辖区"
            || d.name == "县"
            || d.name.contains("直辖")
        {
            continue;
        }
        add(Cow::Borrowed(d.name), Anchor::Division);
        for s in short_forms(d.name, d.level) {
            add(Cow::Owned(s), Anchor::Division);
        }
    }
    out
}

impl CjkMatcher {
    pub(crate) fn new() -> Result<Self, BuildError> {
        let all = anchor_words();
        let (ascii, words): (Vec<_>, Vec<_>) = all.iter().partition(|(w, _)| w.is_ascii());
        let ascii_ac = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .ascii_case_insensitive(true)
            .build(ascii.iter().map(|(w, _)| w.as_ref()))
            .map_err(|e| BuildError::Automaton {
                what: "chinese-text cue",
                reason: e.to_string(),
            })?;
        let words = Words::new(words.iter().map(|(w, k)| (w.as_ref(), *k))).map_err(|e| {
            BuildError::Automaton {
                what: "chinese-text word",
                reason: e.to_string(),
            }
        })?;
        Ok(Self {
            ascii: ascii_ac,
            ascii_kinds: ascii.iter().map(|&(_, k)| *k).collect(),
            words,
        })
    }

    /// The anchors in `hay[ls..le]`: the leftmost-longest, non-overlapping
    /// matches of every anchor word, in order. ASCII words and the others
    /// share no byte, so their matches never overlap, and merging the two
    /// searches' results gives what one search over all words would.
    fn anchors(&self, hay: &[u8], ls: usize, le: usize) -> Vec<(usize, usize, Anchor)> {
        let mut words = Vec::new();
        self.words.find_all(hay, ls, le, &mut words);
        let mut out = Vec::with_capacity(words.len());
        let mut words = words.into_iter().peekable();
        for m in self.ascii.find_iter(&hay[ls..le]) {
            let (s, e) = (ls + m.start(), ls + m.end());
            while let Some(w) = words.next_if(|w| w.0 < s) {
                out.push(w);
            }
            out.push((s, e, self.ascii_kinds[m.pattern().as_usize()]));
        }
        out.extend(words);
        out
    }

    /// Scans the lines holding non-ASCII bytes (which `found`, from the
    /// number pass, leads to).
    pub(crate) fn scan(&self, env: &Env<'_>, sink: &mut Sink<'_>, found: &crate::numbers::Found) {
        let hay = env.hay;
        // Mobile numbers found by the number pass: a name often stands right
        // before one (王小明 13812345678).
        let mut phones: Vec<usize> = sink
            .out
            .iter()
            .filter(|f| f.kind == PiiType::CnMobile)
            .map(|f| f.start)
            .collect();
        phones.sort_unstable();
        let mut i = 0;
        let mut cursor = 0;
        while let Some(na) = found.next_non_ascii(hay, i, &mut cursor) {
            let ls = env.line_start(na);
            let le = memchr::memchr(b'\n', &hay[na..]).map_or(hay.len(), |p| na + p);
            self.scan_line(env, sink, ls, le);
            let from = phones.partition_point(|&p| p < ls);
            for &p in phones[from..].iter().take_while(|&&p| p < le) {
                if let Some(start) = name_right_before(hay, ls, p) {
                    let end = name_end_before(hay, p);
                    if is_placeholder(&hay[start..end]) {
                        continue;
                    }
                    sink.push(PiiType::CnName, start, end, 0.6, "surname_table+adjacent_phone", || {
                        vec!["a whole CJK word of surname and given name right before a mobile number".to_owned()]
                    });
                }
            }
            i = le + 1;
            if i >= hay.len() {
                break;
            }
        }
    }

    fn scan_line(&self, env: &Env<'_>, sink: &mut Sink<'_>, ls: usize, le: usize) {
        let hay = env.hay;
        let mut covered = ls;
        let matches = self.anchors(hay, ls, le);
        for (k, &(ms, me, anchor)) in matches.iter().enumerate() {
            if ms < covered {
                continue;
            }
            match anchor {
                Anchor::NameCue | Anchor::WeakNameCue => {
                    let pos = skip_separators(hay, me, le);
                    let end = if anchor == Anchor::WeakNameCue {
                        if starts_with_any(hay, pos, NOT_NAMES_AFTER_WEAK_CUE) {
                            continue;
                        }
                        name_before_verb(hay, pos, le).or_else(|| {
                            (pos > me).then(|| whole_field_name(hay, pos, le)).flatten()
                        })
                    } else {
                        name_at(hay, pos, le)
                    };
                    if let Some(end) = end.filter(|&e| !is_placeholder(&hay[pos..e])) {
                        let (score, why) = with_context(
                            PiiType::CnName,
                            0.8,
                            Some((Cat::Name, crate::context::Source::HotWord(pos - me))),
                        );
                        sink.push(
                            PiiType::CnName,
                            pos,
                            end,
                            score,
                            "surname_table+cue",
                            || {
                                let mut r = vec![
                                    "starts with a surname from the table, 2-4 characters"
                                        .to_owned(),
                                ];
                                r.extend(why.map(String::from));
                                r
                            },
                        );
                        covered = end;
                    }
                }
                Anchor::Honorific => {
                    if let Some(start) =
                        name_before(hay, ls, ms).filter(|&s| !is_placeholder(&hay[s..ms]))
                    {
                        sink.push(
                            PiiType::CnName,
                            start,
                            ms,
                            0.75,
                            "surname_table+honorific",
                            || vec!["surname and given name followed by 先生/女士/小姐".to_owned()],
                        );
                    }
                }
                Anchor::AddressCue => {
                    let pos = skip_separators(hay, me, le);
                    // An address that starts with a division is handled (and
                    // scored higher) by the division anchor itself.
                    if matches
                        .get(k + 1)
                        .is_some_and(|&(s, _, a)| s == pos && a == Anchor::Division)
                    {
                        continue;
                    }
                    if let Some((end, score, validator)) = address_at(hay, pos, le, false) {
                        sink.push(PiiType::CnAddress, pos, end, score + 0.05, validator, || {
                            vec![format!("address grammar after an address cue (base {score:.2}, +0.05 cue)")]
                        });
                        covered = end;
                    }
                }
                Anchor::Division => {
                    if let Some((end, score, validator)) = address_at(hay, ms, le, true) {
                        let ctx = env.context(ms);
                        let (score, why) = with_context(PiiType::CnAddress, score, ctx);
                        sink.push(PiiType::CnAddress, ms, end, score, validator, || {
                            let mut r = vec!["starts with an administrative division and follows the address grammar".to_owned()];
                            r.extend(why.map(String::from));
                            r
                        });
                        covered = end;
                    }
                }
                Anchor::PlateChar => {
                    if let Some(end) = plate_at(hay, me) {
                        let ctx = env.context(ms);
                        let (score, why) = with_context(PiiType::CnPlate, 0.8, ctx);
                        sink.push(PiiType::CnPlate, ms, end, score, "gb_plate_format", || {
                            let mut r = vec!["province abbreviation, issuing-office letter, 5-6 serial characters".to_owned()];
                            r.extend(why.map(String::from));
                            r
                        });
                        covered = end;
                    }
                }
                Anchor::NotName => {}
            }
        }
        self.structured_names(env, sink, ls, le);
    }

    /// Names in CSV/TSV name columns and SQL `INSERT` name columns: the
    /// whole cell is the name.
    fn structured_names(&self, env: &Env<'_>, sink: &mut Sink<'_>, ls: usize, le: usize) {
        let hay = env.hay;
        let line = &hay[ls..le];
        let mut cells: Vec<(usize, usize)> = Vec::new();
        if let Some(sep) = env.doc.sep().filter(|_| env.doc.has_name_column()) {
            let mut start = 0;
            let mut index = 0;
            let mut quoted = false;
            for (k, &b) in line
                .iter()
                .enumerate()
                .chain(std::iter::once((line.len(), &sep)))
            {
                if b == b'"' {
                    quoted = !quoted;
                } else if b == sep && (!quoted || k == line.len()) {
                    if env.doc.column(index) == Some(Cat::Name) {
                        cells.push((start, k));
                    }
                    start = k + 1;
                    index += 1;
                }
            }
        } else if line.len() > 12 && line[..12].eq_ignore_ascii_case(b"INSERT INTO ") {
            let mut k = 0;
            while let Some(q) = memchr::memchr(b'\'', &line[k..]) {
                let s = k + q + 1;
                let Some(len) = memchr::memchr(b'\'', &line[s..]) else {
                    break;
                };
                cells.push((s, s + len));
                k = s + len + 1;
            }
            cells.retain(|&(s, _)| env.column_of(ls + s) == Some(Cat::Name));
        }
        for (s, e) in cells {
            let raw = &line[s..e];
            let cell = trim_cell(raw);
            let off = ls + s + (cell.as_ptr() as usize - raw.as_ptr() as usize);
            let Ok(text) = std::str::from_utf8(cell) else {
                continue;
            };
            let n = text.chars().count();
            // Header cells (收件人) name the column; they are not names.
            if !(2..=4).contains(&n)
                || !text.chars().all(is_cjk)
                || env.hot.first_in(cell).is_some()
                || is_placeholder(cell)
            {
                continue;
            }
            let known = tables().surname_at(text).is_some_and(|l| l < n);
            let score = if known { 0.9 } else { 0.6 };
            sink.push(
                PiiType::CnName,
                off,
                off + cell.len(),
                score,
                "name_column",
                || {
                    vec![format!(
                        "whole cell of a name column, {}",
                        if known {
                            "known surname"
                        } else {
                            "surname not in the table"
                        }
                    )]
                },
            );
        }
    }
}

/// Where a name would end before the phone at `p`: skips one or two
/// separators (space, colon, opening bracket).
fn name_end_before(hay: &[u8], p: usize) -> usize {
    let mut j = p;
    for _ in 0..2 {
        // Not commas: in a CSV row the cell before a phone is another column.
        if j >= 1 && matches!(hay[j - 1], b' ' | b':' | b'(') {
            j -= 1;
        } else if j >= 3
            && ["：", "（"]
                .iter()
                .any(|sep| &hay[j - 3..j] == sep.as_bytes())
        {
            j -= 3;
        }
    }
    j
}

/// A whole CJK word (2-4 characters, preceded by a non-CJK character or a
/// particle) made of a surname and a given name, ending just before the
/// separators in front of the phone at `p`.
fn name_right_before(hay: &[u8], ls: usize, p: usize) -> Option<usize> {
    let end = name_end_before(hay, p);
    let mut start = end;
    let mut count = 0;
    while start > ls && count < 5 {
        let mut s = start - 1;
        while s > ls && (hay[s] & 0xC0) == 0x80 {
            s -= 1;
        }
        match char_at(hay, s) {
            Some((c, _)) if is_cjk(c) && !is_stop_char(c) => {
                start = s;
                count += 1;
            }
            _ => break,
        }
    }
    if !(2..=4).contains(&count) {
        return None;
    }
    let text = std::str::from_utf8(&hay[start..end]).ok()?;
    let surname = tables().surname_at(text)?;
    if count > surname + 2 || count <= surname {
        return None;
    }
    let given_ok = hay[start..end]
        .iter()
        .enumerate()
        .filter(|&(_, &b)| b & 0xC0 != 0x80)
        .all(|(k, _)| !(starts_stop_word_at(hay, start + k)));
    given_ok.then_some(start)
}

fn starts_stop_word_at(hay: &[u8], i: usize) -> bool {
    char_at(hay, i).is_some_and(|(c, _)| starts_stop_word(c) && starts_with_any(hay, i, STOP_WORDS))
}

pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}')
}

/// Decodes the character at `i`, if it is valid UTF-8.
pub(crate) fn char_at(hay: &[u8], i: usize) -> Option<(char, usize)> {
    let lead = *hay.get(i)?;
    let len = match lead {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => return None,
    };
    let bytes = hay.get(i..i + len)?;
    if len == 1 {
        return Some((char::from(lead), 1));
    }
    if bytes[1..].iter().any(|&b| b & 0xC0 != 0x80) {
        return None;
    }
    let cont = |b: u8| u32::from(b & 0x3F);
    let code = match len {
        2 => (u32::from(lead & 0x1F) << 6) | cont(bytes[1]),
        3 => (u32::from(lead & 0x0F) << 12) | (cont(bytes[1]) << 6) | cont(bytes[2]),
        _ => {
            (u32::from(lead & 0x07) << 18)
                | (cont(bytes[1]) << 12)
                | (cont(bytes[2]) << 6)
                | cont(bytes[3])
        }
    };
    // Overlong forms are rejected by the minimum, surrogates and values past
    // U+10FFFF by `from_u32`, as `str::from_utf8` would.
    let min = [0, 0, 0x80, 0x800, 0x1_0000][len];
    if code < min {
        return None;
    }
    char::from_u32(code).map(|c| (c, len))
}

/// Skips what separates a cue from its value: spaces, colons, quotes, `=`,
/// and the verbs 为/是/叫.
fn skip_separators(hay: &[u8], mut i: usize, le: usize) -> usize {
    let start = i;
    while i < le && i - start < 16 {
        match char_at(hay, i) {
            Some((
                ' ' | '\t' | ':' | '：' | '"' | '\'' | '=' | '为' | '是' | '叫' | '】' | ']' | '['
                | '【',
                l,
            )) => {
                i += l;
            }
            _ => break,
        }
    }
    i
}

fn starts_with_any(hay: &[u8], i: usize, words: &[&str]) -> bool {
    // Compare the first three bytes (one CJK character) before whole words.
    let Some(head) = hay.get(i..i + 3) else {
        return false;
    };
    words
        .iter()
        .any(|w| w.as_bytes().get(..3) == Some(head) && hay[i..].starts_with(w.as_bytes()))
}

/// A full name (surname plus one or two given characters) starting at `pos`.
fn name_at(hay: &[u8], pos: usize, le: usize) -> Option<usize> {
    let mut chars: Vec<(char, usize)> = Vec::with_capacity(6);
    let mut i = pos;
    while i < le && chars.len() < 6 {
        match char_at(hay, i) {
            Some((c, l)) if is_cjk(c) => {
                chars.push((c, i));
                i += l;
            }
            _ => break,
        }
    }
    if chars.len() < 2 {
        return None;
    }
    let text = std::str::from_utf8(&hay[pos..i]).ok()?;
    let surname = tables().surname_at(text)?;
    let max = chars.len().min(surname + 2);
    let n = chars[..max]
        .iter()
        .enumerate()
        .skip(surname)
        .find(|&(k, &(c, at))| {
            (starts_stop_word(c) && starts_with_any(hay, at, STOP_WORDS))
                || (k > surname && is_stop_char(c))
        })
        .map_or(max, |(k, _)| k);
    if n < surname + 1 {
        return None;
    }
    Some(chars.get(n).map_or(i, |&(_, at)| at))
}

/// Whether a would-be name is an anonymised one (王某, 张某某, 李某人): 某
/// stands for the given name, so there is nobody's name to find.
fn is_placeholder(name: &[u8]) -> bool {
    memchr::memmem::find(name, "某".as_bytes()).is_some()
}

/// A full name starting at `pos` (as [`name_at`] finds it, or a character
/// shorter) that a verb of reporting follows: 张伟 in 张伟来电.
fn name_before_verb(hay: &[u8], pos: usize, le: usize) -> Option<usize> {
    let longest = name_at(hay, pos, le)?;
    let surname = tables().surname_at(std::str::from_utf8(&hay[pos..longest]).ok()?)?;
    let mut ends = Vec::with_capacity(4);
    let mut i = pos;
    while i < longest {
        let (_, l) = char_at(hay, i)?;
        i += l;
        ends.push(i);
    }
    // The surname and one given character at least; the longest name first.
    ends.into_iter()
        .skip(surname)
        .rev()
        .find(|&e| starts_with_any(hay, e, REPORT_VERBS))
        .filter(|&e| plain_given_name(hay, pos, e))
}

/// A full name starting at `pos` that is the whole value of a field: what
/// follows it ends the field (punctuation, a space, the line's end). A
/// chat's speaker label looks like a field (客户：金额714元, 客户：麻烦改派…)
/// but is followed by a sentence, not a name.
fn whole_field_name(hay: &[u8], pos: usize, le: usize) -> Option<usize> {
    let end = name_at(hay, pos, le)?;
    let ends_field = match char_at(hay, end) {
        _ if end >= le => true,
        Some((c, _)) => {
            matches!(c, '，' | '。' | '；' | '、' | '）' | '】' | '！' | '？')
                || (c.is_ascii() && !c.is_ascii_alphanumeric())
        }
        None => false,
    };
    (ends_field && plain_given_name(hay, pos, end)).then_some(end)
}

/// Whether no character after the first of `hay[pos..end]` is a particle
/// or a pronoun. [`name_at`] lets the first given character be one (张和平),
/// but after a weak cue 客户向我们反映 is far likelier than such a name.
fn plain_given_name(hay: &[u8], pos: usize, end: usize) -> bool {
    let Some((_, first)) = char_at(hay, pos) else {
        return false;
    };
    let mut i = pos + first;
    while i < end {
        match char_at(hay, i) {
            Some((c, l)) if !is_stop_char(c) => i += l,
            _ => return false,
        }
    }
    true
}

/// A full name ending right before an honorific at `end`.
fn name_before(hay: &[u8], ls: usize, end: usize) -> Option<usize> {
    // Collect up to five CJK characters before `end`.
    let mut starts: Vec<usize> = Vec::with_capacity(5);
    let mut i = end;
    while i > ls && starts.len() < 5 {
        let mut s = i - 1;
        while s > ls && (hay[s] & 0xC0) == 0x80 {
            s -= 1;
        }
        match char_at(hay, s) {
            Some((c, _)) if is_cjk(c) => {
                starts.push(s);
                i = s;
            }
            _ => break,
        }
    }
    let boundary_before = |s: usize| -> bool {
        match starts.iter().position(|&x| x == s) {
            Some(k) if k + 1 < starts.len() => {
                char_at(hay, starts[k + 1]).is_some_and(|(c, _)| is_stop_char(c))
            }
            _ => true,
        }
    };
    let t = tables();
    // Compound surname + two given, surname + two given, then surname + one.
    for (len, surname_len) in [(4usize, 2usize), (3, 2), (3, 1), (2, 1)] {
        let Some(&s) = starts.get(len - 1) else {
            continue;
        };
        let text = std::str::from_utf8(&hay[s..end]).ok()?;
        if t.surname_at(text) != Some(surname_len) {
            continue;
        }
        // 郑先生您好: the given part cannot hold an honorific or particle.
        let given_ok = starts[..len - surname_len].iter().all(|&at| {
            char_at(hay, at).is_some_and(|(c, _)| {
                !(is_stop_char(c) || (starts_stop_word(c) && starts_with_any(hay, at, STOP_WORDS)))
            })
        });
        if !given_ok {
            continue;
        }
        // A compound surname is distinctive enough on its own; a single one
        // must not be the second half of a compound (欧|阳娜娜).
        let inside_compound = starts.get(len).is_some_and(|&before| {
            std::str::from_utf8(&hay[before..end])
                .is_ok_and(|t2| tables().surname_at(t2) == Some(2))
        });
        let single_plus_two = len == 3 && surname_len == 1;
        if surname_len == 2 || (!inside_compound && (single_plus_two || boundary_before(s))) {
            return Some(s);
        }
    }
    None
}

/// An address starting at `pos`. `from_division` says whether `pos` is an
/// administrative-division name (otherwise it follows an address cue).
/// Returns the end, the base score and the validator.
fn address_at(
    hay: &[u8],
    pos: usize,
    le: usize,
    from_division: bool,
) -> Option<(usize, f32, &'static str)> {
    let max_end = le.min(pos + 240);
    let mut i = pos;
    let mut last_terminal = None;
    let mut road_end = None;
    let mut has_number_unit = false;
    let mut prev_numeric = false;
    let mut prev_char = '\0';
    let mut letters = 0;
    // Whether the character before was a number unit ending a terminal
    // (the 号 of 3号楼), and where the terminals that a bare room number
    // may follow end (2单元602, A座1203, 阳光小区2-3-501).
    let mut prev_terminal = false;
    let mut room_may_follow = None;
    while i < max_end {
        let Some((c, l)) = char_at(hay, i) else { break };
        let was_terminal = std::mem::take(&mut prev_terminal);
        if c.is_ascii_digit() {
            prev_numeric = true;
            letters = 0;
        } else if c.is_ascii_alphabetic() {
            letters += 1;
            if letters > 4 {
                break;
            }
        } else if matches!(c, '-' | '#' | '－' | '—' | '（' | '）') {
            prev_numeric = false;
        } else if c == ' ' {
            let next_cjk = char_at(hay, i + 1).is_some_and(|(n, _)| is_cjk(n));
            if !(next_cjk && matches!(prev_char, '省' | '市' | '区' | '县' | '镇' | '乡')) {
                break;
            }
        } else if is_cjk(c) {
            if i > pos && starts_stop_word(c) && starts_with_any(hay, i, ADDRESS_STOPS) {
                break;
            }
            // A building letter counts as its number (A座, B栋).
            let letter_before = letters > 0 && letters <= 2;
            // 元 ends a unit (2单元), not an amount (300元).
            if (is_number_unit(c) && prev_numeric && (c != '元' || prev_char == '单'))
                || (matches!(c, '座' | '栋' | '幢' | '楼') && letter_before)
                || (matches!(c, '楼' | '院' | '栋' | '幢') && was_terminal && prev_char == '号')
            {
                has_number_unit = true;
                last_terminal = Some(i + l);
                prev_terminal = true;
                room_may_follow = (!matches!(c, '号' | '门' | '室' | '户')).then_some(i + l);
            } else if is_place_unit(c) && i > pos {
                last_terminal = Some(i + l);
                room_may_follow = Some(i + l);
            }
            // 街道 is a township office, not a street.
            let township_office = (c == '街' && hay[i + l..].starts_with("道".as_bytes()))
                || (c == '道' && prev_char == '街');
            if is_road_unit(c) && i > pos && !township_office {
                road_end = Some(i + l);
            }
            // 2单元: the 元 of 单元 follows a number too.
            prev_numeric = is_cn_numeral(c)
                || (c == '单' && prev_numeric && hay[i + l..].starts_with("元".as_bytes()));
            letters = 0;
        } else {
            break;
        }
        prev_char = c;
        i += l;
    }
    // A bare room number right after a building, unit or estate, which the
    // loop above cannot end on since no unit follows it.
    if let Some(t) = last_terminal
        && room_may_follow == Some(t)
        && let Some(end) = bare_room_end(hay, t, max_end)
    {
        last_terminal = Some(end);
    }
    let road = road_end.is_some();
    match (from_division, has_number_unit, road) {
        (true, true, _) => last_terminal.map(|e| (e, 0.9, "division_dictionary+address_grammar")),
        (true, false, true) => {
            let end = last_terminal.max(road_end)?;
            Some((end, 0.65, "division_dictionary+road"))
        }
        (false, true, true) => last_terminal.map(|e| (e, 0.7, "address_grammar+cue")),
        _ => None,
    }
}

/// The end of a bare room number starting at `i` (602, 1203, 2-3-501):
/// one to three groups of one to four digits joined by `-`, three digits
/// at least, not a date or a dashed phone, not a quantity, and not glued
/// to more digits, letters or a decimal or time.
fn bare_room_end(hay: &[u8], i: usize, max_end: usize) -> Option<usize> {
    let mut groups = [0usize; 3];
    let mut count = 0;
    let mut j = i;
    loop {
        let s = j;
        while j < max_end && hay[j].is_ascii_digit() {
            j += 1;
        }
        let len = j - s;
        if len == 0 || len > 4 || count == groups.len() {
            return None;
        }
        groups[count] = len;
        count += 1;
        if j + 1 < max_end && hay[j] == b'-' && hay[j + 1].is_ascii_digit() {
            j += 1;
        } else {
            break;
        }
    }
    let digits: usize = groups.iter().sum();
    // Building-unit-room starts with a short building number (2-3-501,
    // 12-1201); a dashed phone (138-1234-5678, 400-820-8820) or a date
    // (2026-11) starts with three or four digits.
    let dashed_ok = count == 1 || (groups[0] <= 2 && digits <= 8);
    let glued = hay.get(j).is_some_and(|&b| {
        b.is_ascii_alphanumeric()
            || (matches!(b, b'.' | b':' | b'-') && hay.get(j + 1).is_some_and(u8::is_ascii_digit))
    });
    // A quantity is not a room (小区300元, 3栋200人).
    let quantity = char_at(hay, j)
        .is_some_and(|(c, _)| "元件个人天米年月日次分块斤克份台辆岁名位家".contains(c));
    (digits >= 3 && dashed_ok && !glued && !quantity).then_some(j)
}

/// A plate's letters after its province character (which ends at `i`).
fn plate_at(hay: &[u8], mut i: usize) -> Option<usize> {
    let office = *hay.get(i)?;
    if !office.is_ascii_uppercase() || matches!(office, b'I' | b'O') {
        return None;
    }
    i += 1;
    if hay.get(i..i + 2) == Some(&[0xC2, 0xB7]) {
        i += 2;
    } else if matches!(hay.get(i), Some(b' ' | b'-')) {
        i += 1;
    }
    let s = i;
    while i < hay.len() && (hay[i].is_ascii_digit() || hay[i].is_ascii_uppercase()) && i - s < 7 {
        i += 1;
    }
    let serial = &hay[s..i];
    if hay.get(i).is_some_and(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    if serial.iter().any(|b| matches!(b, b'I' | b'O')) {
        return None;
    }
    let digits = serial.iter().filter(|b| b.is_ascii_digit()).count();
    let ok = match serial.len() {
        5 => digits >= 3,
        // New-energy plates: D/F then a letter or digit and four digits, or
        // five digits then D/F.
        6 => {
            (matches!(serial[0], b'D' | b'F') && serial[2..].iter().all(u8::is_ascii_digit))
                || (serial[..5].iter().all(u8::is_ascii_digit) && matches!(serial[5], b'D' | b'F'))
        }
        _ => false,
    };
    ok.then_some(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The single automaton over every anchor word that the word table
    /// replaced: the reference for [`CjkMatcher::anchors`].
    fn reference_anchors(hay: &[u8], ls: usize, le: usize) -> Vec<(usize, usize, Anchor)> {
        static AC: std::sync::OnceLock<(AhoCorasick, Vec<Anchor>)> = std::sync::OnceLock::new();
        let (ac, kinds) = AC.get_or_init(|| {
            let words = anchor_words();
            let ac = AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostLongest)
                .ascii_case_insensitive(true)
                .build(words.iter().map(|(w, _)| w.as_ref()))
                .unwrap();
            (ac, words.iter().map(|&(_, k)| k).collect())
        });
        ac.find_iter(&hay[ls..le])
            .map(|m| (ls + m.start(), ls + m.end(), kinds[m.pattern().as_usize()]))
            .collect()
    }

    fn assert_anchors_agree(m: &CjkMatcher, text: &[u8]) {
        let mut ls = 0;
        for line in text.split(|&b| b == b'\n') {
            let le = ls + line.len();
            assert_eq!(
                m.anchors(text, ls, le),
                reference_anchors(text, ls, le),
                "line at byte {ls}"
            );
            ls = le + 1;
        }
    }

    #[test]
    fn anchors_agree_with_one_automaton_on_the_synthetic_corpora() {
        let m = CjkMatcher::new().unwrap();
        for (seed, fraction) in [(7, 1.0), (8, 0.05)] {
            let mut text = Vec::new();
            parcel_synth::generate_corpus(seed, 2_000_000, fraction, &mut text);
            assert_anchors_agree(&m, &text);
        }
    }

    #[test]
    fn anchors_agree_with_one_automaton_on_hard_cases() {
        let m = CjkMatcher::new().unwrap();
        let cases = [
            "RECEIVERNAME:张三 Address=广东省深圳市南山区科技园 nickName 李四",
            "收件人王小明先生，地址北京市朝阳区建国路88号 ContactName\u{00e9}",
            "粤B12345 京A·D12345 内蒙古自治区呼和浩特市 新疆维吾尔自治区",
            "深圳市深圳 广州广州市 重庆重庆市渝中区 海南省三沙市",
            "\u{20000}山区 \u{FF1A}收件人：欧阳娜娜 hostname username_name",
        ];
        for c in cases {
            assert_anchors_agree(&m, c.as_bytes());
        }
        // Broken UTF-8 between and inside the words.
        let mut junk = "收件人".as_bytes().to_vec();
        junk.extend_from_slice(&[0xE6, 0xB7, b'x', 0x80, 0xE5]);
        junk.extend_from_slice("深圳市南山区".as_bytes());
        junk.extend_from_slice(&"北京".as_bytes()[1..]);
        junk.extend_from_slice(&"上海市".as_bytes()[..7]);
        assert_anchors_agree(&m, &junk);
    }

    proptest::proptest! {
        #[test]
        fn anchors_agree_with_one_automaton_on_random_text(
            picks in proptest::collection::vec(0usize..16, 0..60),
        ) {
            let pieces = ["深圳", "市", "南山", "区", "收件", "人", "先生", "王", "京", "A", "name", "NAME", "Address", "：", "\u{20000}", "广东省"];
            let text: String = picks.iter().map(|&p| pieces[p]).collect();
            let m = CjkMatcher::new().unwrap();
            assert_anchors_agree(&m, text.as_bytes());
        }
    }

    proptest::proptest! {
        #[test]
        fn char_at_agrees_with_std(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..8)) {
            let ours = char_at(&bytes, 0);
            let std = bytes.first().and_then(|&lead| {
                let len = match lead { 0x00..=0x7F => 1, 0xC0..=0xDF => 2, 0xE0..=0xEF => 3, 0xF0..=0xF7 => 4, _ => return None };
                std::str::from_utf8(bytes.get(..len)?).ok()?.chars().next().map(|c| (c, len))
            });
            proptest::prop_assert_eq!(ours, std);
        }
    }
}
