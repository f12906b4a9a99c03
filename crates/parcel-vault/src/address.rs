//! Splits a one-line Chinese postal address into province, city, district
//! and detail, using the administrative-division table the scanner ships
//! (`parcel-detect`'s `data/divisions.tsv`, NBS 2023).
//!
//! Accepts official names (`广东省深圳市南山区`) and the common short forms
//! (`广东深圳南山区`), municipalities (`北京市朝阳区`), and addresses that
//! start at the city. What cannot be placed in the table stays in `detail`
//! and the address is flagged as unparsed.

use std::collections::HashMap;
use std::sync::OnceLock;

use parcel_detect::tables::{Level, tables};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A structured address. All parts may be empty except `detail`.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct Address {
    /// Province, autonomous region or municipality (official name).
    #[serde(default)]
    pub province: String,
    /// Prefecture-level city (official name; the municipality for 北京 etc.).
    #[serde(default)]
    pub city: String,
    /// County-level district.
    #[serde(default)]
    pub district: String,
    /// Street, number, building, unit, room.
    #[serde(default)]
    pub detail: String,
}

impl std::fmt::Debug for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Address(<redacted>)")
    }
}

impl Address {
    /// The address as one line, the way it is written on a label.
    pub fn one_line(&self) -> String {
        let mut s = String::with_capacity(
            self.province.len() + self.city.len() + self.district.len() + self.detail.len(),
        );
        s.push_str(&self.province);
        if self.city != self.province {
            s.push_str(&self.city);
        }
        s.push_str(&self.district);
        s.push_str(&self.detail);
        s
    }
}

/// The result of [`parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The structured address.
    pub address: Address,
    /// Whether a province or city was recognised.
    pub parsed: bool,
}

#[derive(Debug)]
struct Node {
    code: u64,
    name: &'static str,
    short: Option<&'static str>,
}

#[derive(Debug)]
struct Index {
    provinces: Vec<Node>,
    /// Parent code → children (cities of a province, counties of a city).
    children: HashMap<u64, Vec<Node>>,
    /// Every real city, for addresses that start at the city.
    cities: Vec<Node>,
}

const MUNICIPALITIES: [u64; 4] = [11, 12, 31, 50];

fn short_name(name: &'static str, suffixes: &[&str]) -> Option<&'static str> {
    suffixes
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .filter(|rest| rest.chars().count() >= 2)
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut provinces = Vec::new();
        let mut children: HashMap<u64, Vec<Node>> = HashMap::new();
        let mut cities = Vec::new();
        for d in &tables().divisions {
            match d.level {
                Level::Province => provinces.push(Node {
                    code: d.code,
                    name: d.name,
                    short: short_name(
                        d.name,
                        &[
                            "壮族自治区",
                            "回族自治区",
                            "维吾尔自治区",
                            "特别行政区",
                            "自治区",
                            "省",
                            "市",
                        ],
                    ),
                }),
                Level::City => {
                    // Placeholders of municipalities and province-run counties
                    // are not names anyone writes; their counties hang
                    // directly under the province.
                    let placeholder = matches!(d.name, "市辖区" | "县" | "省直辖县级行政区划")
                        || d.name.contains("直辖县级");
                    if placeholder {
                        continue;
                    }
                    let node = || Node {
                        code: d.code,
                        name: d.name,
                        short: short_name(d.name, &["市", "地区"]),
                    };
                    children.entry(d.code / 100).or_default().push(node());
                    cities.push(node());
                }
                Level::County => {
                    let parent = d.code / 100;
                    let city_known = tables().division(parent).is_some_and(|c| {
                        !c.name.contains("直辖") && !matches!(c.name, "市辖区" | "县")
                    });
                    let key = if city_known { parent } else { d.code / 10_000 };
                    children.entry(key).or_default().push(Node {
                        code: d.code,
                        name: d.name,
                        short: short_name(d.name, &["区", "县", "市"]),
                    });
                }
                Level::Township => {}
            }
        }
        Index {
            provinces,
            children,
            cities,
        }
    })
}

/// Finds the node whose name (or short name) starts `text`; longest wins.
fn match_prefix<'a>(nodes: &'a [Node], text: &str) -> Option<(&'a Node, usize)> {
    let mut best: Option<(&Node, usize)> = None;
    for node in nodes {
        for name in std::iter::once(node.name).chain(node.short) {
            if text.starts_with(name) && best.is_none_or(|(_, len)| name.len() > len) {
                best = Some((node, name.len()));
            }
        }
    }
    best
}

/// Parses a one-line address. Whitespace is removed first.
pub fn parse(text: &str) -> Parsed {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let idx = index();
    let empty: Vec<Node> = Vec::new();
    let mut rest = compact.as_str();
    let mut address = Address::default();
    let mut parsed = false;

    let province = match_prefix(&idx.provinces, rest);
    let mut parent_for_counties: Option<u64> = None;
    if let Some((p, len)) = province {
        address.province = p.name.to_owned();
        rest = &rest[len..];
        parsed = true;
        if MUNICIPALITIES.contains(&p.code) {
            address.city = p.name.to_owned();
            // A repeated municipality name (`北京市北京市…`) is common.
            if let Some((_, len)) = match_prefix(std::slice::from_ref(p), rest) {
                rest = &rest[len..];
            }
            parent_for_counties = Some(p.code);
        } else {
            let cities = idx.children.get(&p.code).unwrap_or(&empty);
            if let Some((c, len)) = match_prefix(cities, rest) {
                address.city = c.name.to_owned();
                rest = &rest[len..];
                parent_for_counties = Some(c.code);
            } else {
                // Province-run counties (济源市, 仙桃市…) sit under the province.
                parent_for_counties = Some(p.code);
            }
        }
    } else if let Some((c, len)) = match_prefix(&idx.cities, rest) {
        address.city = c.name.to_owned();
        if let Some(p) = tables().division(c.code / 100) {
            address.province = p.name.to_owned();
        }
        rest = &rest[len..];
        parsed = true;
        parent_for_counties = Some(c.code);
    }
    if let Some(parent) = parent_for_counties {
        let counties = idx.children.get(&parent).unwrap_or(&empty);
        if let Some((d, len)) = match_prefix(counties, rest) {
            address.district = d.name.to_owned();
            rest = &rest[len..];
        }
    }
    address.detail = rest.to_owned();
    if !parsed {
        address.detail = compact.clone();
    }
    Parsed { address, parsed }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (input, province, city, district, detail, parsed)
    const CASES: &[(&str, &str, &str, &str, &str, bool)] = &[
        (
            "广东省深圳市南山区科技园路1号3栋2单元501室",
            "广东省",
            "深圳市",
            "南山区",
            "科技园路1号3栋2单元501室",
            true,
        ),
        (
            "广东深圳南山区科技园路1号",
            "广东省",
            "深圳市",
            "南山区",
            "科技园路1号",
            true,
        ),
        (
            "北京市朝阳区建国路88号",
            "北京市",
            "北京市",
            "朝阳区",
            "建国路88号",
            true,
        ),
        (
            "北京市北京市朝阳区建国路88号",
            "北京市",
            "北京市",
            "朝阳区",
            "建国路88号",
            true,
        ),
        (
            "上海 浦东新区 世纪大道100号",
            "上海市",
            "上海市",
            "浦东新区",
            "世纪大道100号",
            true,
        ),
        (
            "深圳市福田区福华路5号",
            "广东省",
            "深圳市",
            "福田区",
            "福华路5号",
            true,
        ),
        (
            "河南省济源市北海街道1号",
            "河南省",
            "济源市",
            "",
            "北海街道1号",
            true,
        ),
        (
            "新疆乌鲁木齐市天山区解放北路1号",
            "新疆维吾尔自治区",
            "乌鲁木齐市",
            "天山区",
            "解放北路1号",
            true,
        ),
        (
            "浙江省杭州市西湖区文三路90号",
            "浙江省",
            "杭州市",
            "西湖区",
            "文三路90号",
            true,
        ),
        ("某某小区3栋", "", "", "", "某某小区3栋", false),
        ("", "", "", "", "", false),
    ];

    #[test]
    fn parses_address_table() {
        for &(input, province, city, district, detail, ok) in CASES {
            let p = parse(input);
            let a = &p.address;
            assert_eq!(
                (
                    a.province.as_str(),
                    a.city.as_str(),
                    a.district.as_str(),
                    a.detail.as_str(),
                    p.parsed
                ),
                (province, city, district, detail, ok),
                "input {input}"
            );
        }
    }

    #[test]
    fn one_line_round_trips_through_parse() {
        let p = parse("广东省深圳市南山区科技园路1号");
        assert_eq!(p.address.one_line(), "广东省深圳市南山区科技园路1号");
        assert_eq!(parse(&p.address.one_line()).address, p.address);
        let bj = parse("北京市朝阳区建国路88号");
        assert_eq!(bj.address.one_line(), "北京市朝阳区建国路88号");
    }
}
