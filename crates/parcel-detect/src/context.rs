//! Context: hot words before a candidate, CSV/TSV headers and SQL column
//! lists. A finding's score rises when its context names its type and falls
//! when the context names something else (an order number, a timestamp).

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use memchr::memrchr;

use crate::BuildError;

/// What a hot word or column name says about the value after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cat {
    Phone,
    Id,
    Card,
    Email,
    Name,
    Address,
    Waybill,
    /// A carrier's name: context for waybills of the carrier's own length.
    Carrier,
    Passport,
    Plate,
    Ip,
    /// Order numbers, timestamps, amounts, versions, trace ids...
    Negative,
}

/// Hot words, Chinese and English, with the category each one signals.
/// Matching is leftmost-longest and ASCII case-insensitive, so `订单号`
/// (order number) wins over the `单号` inside it.
const HOT_WORDS: &[(&str, Cat)] = &[
    // Phones.
    ("手机", Cat::Phone),
    ("手机号", Cat::Phone),
    ("手机号码", Cat::Phone),
    ("电话", Cat::Phone),
    ("联系电话", Cat::Phone),
    ("联系方式", Cat::Phone),
    ("号码", Cat::Phone),
    ("致电", Cat::Phone),
    ("来电", Cat::Phone),
    ("拨打", Cat::Phone),
    ("座机", Cat::Phone),
    ("固话", Cat::Phone),
    ("mobile", Cat::Phone),
    ("phone", Cat::Phone),
    ("tel", Cat::Phone),
    ("cell", Cat::Phone),
    ("msisdn", Cat::Phone),
    ("contact", Cat::Phone),
    // Resident ID.
    ("身份证", Cat::Id),
    ("身份证号", Cat::Id),
    ("身份证号码", Cat::Id),
    ("证件号", Cat::Id),
    ("证件号码", Cat::Id),
    ("公民身份号码", Cat::Id),
    ("idcard", Cat::Id),
    ("id_card", Cat::Id),
    ("id card", Cat::Id),
    ("idno", Cat::Id),
    ("id_no", Cat::Id),
    ("id_number", Cat::Id),
    ("idnumber", Cat::Id),
    ("identity", Cat::Id),
    ("cert_no", Cat::Id),
    ("certno", Cat::Id),
    // Cards.
    ("银行卡", Cat::Card),
    ("卡号", Cat::Card),
    ("银行账号", Cat::Card),
    ("账号", Cat::Card),
    ("信用卡", Cat::Card),
    ("储蓄卡", Cat::Card),
    ("借记卡", Cat::Card),
    ("card", Cat::Card),
    ("bank", Cat::Card),
    ("account", Cat::Card),
    // E-mail.
    ("邮箱", Cat::Email),
    ("email", Cat::Email),
    ("e-mail", Cat::Email),
    // Names.
    ("收件人", Cat::Name),
    ("寄件人", Cat::Name),
    ("联系人", Cat::Name),
    ("姓名", Cat::Name),
    ("收货人", Cat::Name),
    ("签收人", Cat::Name),
    ("name", Cat::Name),
    ("receiver", Cat::Name),
    ("sender", Cat::Name),
    ("consignee", Cat::Name),
    ("recipient", Cat::Name),
    // Addresses.
    ("地址", Cat::Address),
    ("住址", Cat::Address),
    ("address", Cat::Address),
    ("addr", Cat::Address),
    // Waybills and carriers.
    ("运单号", Cat::Waybill),
    ("运单", Cat::Waybill),
    ("快递单号", Cat::Waybill),
    ("单号", Cat::Waybill),
    ("物流单号", Cat::Waybill),
    ("面单号", Cat::Waybill),
    ("快递号", Cat::Waybill),
    ("waybill", Cat::Waybill),
    ("tracking", Cat::Waybill),
    ("mailno", Cat::Waybill),
    ("mail_no", Cat::Waybill),
    ("express_no", Cat::Waybill),
    ("expressno", Cat::Waybill),
    ("logistics_no", Cat::Waybill),
    ("中通", Cat::Carrier),
    ("韵达", Cat::Carrier),
    ("申通", Cat::Carrier),
    ("圆通", Cat::Carrier),
    ("顺丰", Cat::Carrier),
    ("极兔", Cat::Carrier),
    ("邮政", Cat::Carrier),
    ("德邦", Cat::Carrier),
    ("zto", Cat::Carrier),
    ("ems", Cat::Carrier),
    ("yunda", Cat::Carrier),
    ("快递", Cat::Carrier),
    // Passports and plates.
    ("护照", Cat::Passport),
    ("护照号", Cat::Passport),
    ("passport", Cat::Passport),
    ("车牌", Cat::Plate),
    ("车牌号", Cat::Plate),
    ("plate", Cat::Plate),
    // Network.
    ("ip", Cat::Ip),
    ("client", Cat::Ip),
    ("remote", Cat::Ip),
    ("x-forwarded-for", Cat::Ip),
    // Things that look like personal numbers but are not.
    ("订单号", Cat::Negative),
    ("订单编号", Cat::Negative),
    ("订单", Cat::Negative),
    ("流水号", Cat::Negative),
    ("交易号", Cat::Negative),
    ("交易单号", Cat::Negative),
    ("商户单号", Cat::Negative),
    ("编号", Cat::Negative),
    ("工号", Cat::Negative),
    ("时间", Cat::Negative),
    ("金额", Cat::Negative),
    ("价格", Cat::Negative),
    ("数量", Cat::Negative),
    ("版本", Cat::Negative),
    ("order", Cat::Negative),
    ("orderid", Cat::Negative),
    ("order_id", Cat::Negative),
    ("order_no", Cat::Negative),
    ("trade_no", Cat::Negative),
    ("trace", Cat::Negative),
    ("traceid", Cat::Negative),
    ("trace_id", Cat::Negative),
    ("request_id", Cat::Negative),
    ("requestid", Cat::Negative),
    ("span", Cat::Negative),
    ("timestamp", Cat::Negative),
    ("ts=", Cat::Negative),
    ("\"ts\"", Cat::Negative),
    ("time", Cat::Negative),
    ("amount", Cat::Negative),
    ("price", Cat::Negative),
    ("version", Cat::Negative),
    ("sku", Cat::Negative),
    ("uuid", Cat::Negative),
    ("session", Cat::Negative),
    ("bytes", Cat::Negative),
    ("size", Cat::Negative),
    ("duration", Cat::Negative),
    ("latency", Cat::Negative),
    ("qq", Cat::Negative),
    // A QQ mailbox is an e-mail address, not a QQ number.
    ("qq.com", Cat::Email),
    // Longest-match guards: these contain a hot word but mean something else.
    ("nickname", Cat::Negative),
    ("username", Cat::Negative),
    ("filename", Cat::Negative),
    ("hostname", Cat::Negative),
    ("product_name", Cat::Negative),
    ("goods_name", Cat::Negative),
    ("item_name", Cat::Negative),
    ("shop_name", Cat::Negative),
    ("company_name", Cat::Negative),
    ("tel_area", Cat::Negative),
];

/// How far before a candidate hot words count, in bytes (about 12 Chinese
/// characters or a JSON key with its quotes).
pub(crate) const WINDOW: usize = 40;

/// The compiled hot-word automaton.
#[derive(Debug)]
pub(crate) struct HotWords {
    ac: AhoCorasick,
}

impl HotWords {
    pub(crate) fn new() -> Result<Self, BuildError> {
        // A DFA: a few hundred states, and every number candidate that
        // needs context searches the 40 bytes before it (an NFA walk there
        // cost more than validating the number).
        let ac = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .ascii_case_insensitive(true)
            .kind(Some(AhoCorasickKind::DFA))
            .build(HOT_WORDS.iter().map(|(w, _)| w))
            .map_err(|e| BuildError::Automaton {
                what: "hot-word",
                reason: e.to_string(),
            })?;
        Ok(Self { ac })
    }

    /// The category of the last hot word in `text`, with the byte distance
    /// from its end to the end of `text`.
    pub(crate) fn last_in(&self, text: &[u8]) -> Option<(Cat, usize)> {
        self.last_in_after(None, text)
    }

    /// [`last_in`](Self::last_in) for a window cut out of a longer line:
    /// `before` is the byte before `text`, so that a word cut at the
    /// window's start (the `order` of `border`) is not taken for a whole one.
    pub(crate) fn last_in_after(&self, before: Option<u8>, text: &[u8]) -> Option<(Cat, usize)> {
        self.ac
            .find_iter(text)
            .filter(|m| {
                let short = m.len() <= 3 && text[m.start()].is_ascii();
                (HOT_WORDS[m.pattern().as_usize()].1 != Cat::Negative && !short)
                    || stands_alone(before, text, m.start(), m.end(), short)
            })
            .last()
            .map(|m| (HOT_WORDS[m.pattern().as_usize()].1, text.len() - m.end()))
    }

    /// The category of the first hot word in `text`.
    pub(crate) fn first_in(&self, text: &[u8]) -> Option<Cat> {
        self.ac
            .find(text)
            .map(|m| HOT_WORDS[m.pattern().as_usize()].1)
    }
}

/// Whether the hot word at `text[start..end]` is a word of its own and not
/// part of a longer English one: `order` in `orderId`, `order_no`,
/// `orderno` or `order:`, not in `border`; `time` not in `sometimes`; `ems`
/// not in `items`. `before` is the byte before `text`, if any. A case
/// change (camelCase) is a word boundary. Only the words that lower a score
/// and the short ones are held to this: a lowering word inside a longer one
/// would hide a real finding, and two or three letters occur inside too
/// many words (`ip` in `ship`, `tel` in `hotel`), while the longer words
/// that name a type also count inside identifiers (`receivermobile`).
/// Longer words need only their start to be a boundary, since identifiers
/// glue words on at the end (`orderno`, `createtime`); short ones need both
/// ends. CJK words need no boundary.
fn stands_alone(before: Option<u8>, text: &[u8], start: usize, end: usize, short: bool) -> bool {
    let (first, last) = (text[start], text[end - 1]);
    let prev = if start == 0 {
        before
    } else {
        Some(text[start - 1])
    };
    let left = !first.is_ascii_alphabetic()
        || prev.is_none_or(|p| {
            !p.is_ascii_alphabetic() || (p.is_ascii_lowercase() && first.is_ascii_uppercase())
        });
    let right = !short
        || !last.is_ascii_alphabetic()
        || text.get(end).is_none_or(|&b| {
            !b.is_ascii_alphabetic() || (last.is_ascii_lowercase() && b.is_ascii_uppercase())
        });
    left && right
}

/// The structure of a document, read from its first line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DocContext {
    sep: Option<u8>,
    columns: Vec<Option<Cat>>,
}

impl DocContext {
    pub(crate) fn from_head(head: &[u8], hot: &HotWords) -> Self {
        let line_end = memchr::memchr(b'\n', head).unwrap_or(head.len());
        let line = trim_cr(&head[..line_end]);
        let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        let Some(sep) = [b',', b'\t', b'|']
            .into_iter()
            .max_by_key(|&s| line.iter().filter(|&&b| b == s).count())
            .filter(|&s| line.iter().filter(|&&b| b == s).count() >= 1)
        else {
            return Self::default();
        };
        let cells: Vec<&[u8]> = line.split(|&b| b == sep).map(trim_cell).collect();
        // A header row names columns; it does not hold long digit runs.
        let looks_like_header = cells.iter().all(|c| {
            !c.is_empty() && c.len() <= 48 && c.iter().filter(|b| b.is_ascii_digit()).count() <= 2
        });
        if !looks_like_header {
            return Self::default();
        }
        // The last hot word is the head noun: `sender_id_card` is an ID
        // column, `收件人手机` a phone column.
        let columns: Vec<Option<Cat>> = cells
            .iter()
            .map(|c| hot.last_in(c).map(|(cat, _)| cat))
            .collect();
        if columns.iter().all(Option::is_none) {
            return Self::default();
        }
        Self {
            sep: Some(sep),
            columns,
        }
    }

    /// Whether any column is a name column.
    pub(crate) fn has_name_column(&self) -> bool {
        self.columns.contains(&Some(Cat::Name))
    }

    pub(crate) fn sep(&self) -> Option<u8> {
        self.sep
    }

    pub(crate) fn column(&self, index: usize) -> Option<Cat> {
        self.columns.get(index).copied().flatten()
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

pub(crate) fn trim_cell(cell: &[u8]) -> &[u8] {
    let cell = cell.trim_ascii();
    let cell = cell.strip_prefix(b"\"").unwrap_or(cell);
    let cell = cell.strip_suffix(b"\"").unwrap_or(cell);
    let cell = cell.strip_prefix(b"`").unwrap_or(cell);
    let cell = cell.strip_suffix(b"`").unwrap_or(cell);
    let cell = cell.strip_prefix(b"'").unwrap_or(cell);
    cell.strip_suffix(b"'").unwrap_or(cell)
}

/// Everything a pass needs to know about the slice being scanned.
pub(crate) struct Env<'a> {
    pub(crate) hay: &'a [u8],
    pub(crate) doc: &'a DocContext,
    pub(crate) hot: &'a HotWords,
}

/// The context of one candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// A hot word this many bytes before the candidate.
    HotWord(usize),
    /// The column header (CSV/TSV) or SQL column name.
    Column,
}

impl Env<'_> {
    pub(crate) fn line_start(&self, pos: usize) -> usize {
        memrchr(b'\n', &self.hay[..pos]).map_or(0, |i| i + 1)
    }

    /// The context of a candidate starting at `pos`: its column first, then
    /// the nearest hot word before it on the same line.
    pub(crate) fn context(&self, pos: usize) -> Option<(Cat, Source)> {
        if let Some(cat) = self.column_of(pos) {
            return Some((cat, Source::Column));
        }
        let from = pos.saturating_sub(WINDOW);
        let line_start = memrchr(b'\n', &self.hay[from..pos]).map_or(from, |i| from + i + 1);
        let before = line_start
            .checked_sub(1)
            .map(|i| self.hay[i])
            .filter(|&b| b != b'\n');
        self.hot
            .last_in_after(before, &self.hay[line_start..pos])
            .map(|(cat, dist)| (cat, Source::HotWord(dist)))
    }

    /// The category of the CSV/TSV column or SQL `INSERT` column holding `pos`.
    pub(crate) fn column_of(&self, pos: usize) -> Option<Cat> {
        let ls = self.line_start(pos);
        let line = &self.hay[ls..];
        if let Some(sep) = self.doc.sep() {
            let idx = field_index(&line[..pos - ls], sep);
            return self.doc.column(idx);
        }
        sql_column(self.hot, &self.hay[ls..], pos - ls)
    }
}

/// Index of the field containing the end of `prefix` in a delimited line,
/// honouring double quotes.
pub(crate) fn field_index(prefix: &[u8], sep: u8) -> usize {
    let mut quoted = false;
    let mut idx = 0;
    for &b in prefix {
        if b == b'"' {
            quoted = !quoted;
        } else if b == sep && !quoted {
            idx += 1;
        }
    }
    idx
}

/// For `INSERT INTO t (a, b, c) VALUES (...), (...)` lines: the category of
/// the column that the value at `offset` belongs to.
fn sql_column(hot: &HotWords, line: &[u8], offset: usize) -> Option<Cat> {
    let head = line.get(..12)?;
    if !head.eq_ignore_ascii_case(b"INSERT INTO ") {
        return None;
    }
    let values_at = memchr::memmem::find(&line[..offset], b"VALUES")
        .or_else(|| memchr::memmem::find(&line[..offset], b"values"))?;
    let open = memchr::memchr(b'(', &line[..values_at])?;
    let close = memchr::memrchr(b')', &line[open..values_at])? + open;
    let columns: Vec<&[u8]> = line[open + 1..close]
        .split(|&b| b == b',')
        .map(trim_cell)
        .collect();
    // Walk the tuples after VALUES to find the field index at `offset`.
    let mut quoted = false;
    let mut depth = 0usize;
    let mut idx = 0usize;
    let mut prev = 0u8;
    for &b in &line[values_at + 6..offset] {
        match b {
            b'\'' if prev != b'\\' => quoted = !quoted,
            b'(' if !quoted => {
                depth += 1;
                if depth == 1 {
                    idx = 0;
                }
            }
            b')' if !quoted => depth = depth.saturating_sub(1),
            b',' if !quoted && depth == 1 => idx += 1,
            _ => {}
        }
        prev = b;
    }
    columns
        .get(idx)
        .and_then(|c| hot.last_in(c).map(|(cat, _)| cat))
}
