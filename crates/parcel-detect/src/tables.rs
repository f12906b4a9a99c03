//! Fact tables shipped with the detector (see `data/SOURCES.md`): mobile
//! segments, area codes, surnames and the administrative-division list.
//!
//! They are parsed once, on first use, from text compiled into the binary.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

const DIVISIONS: &str = include_str!("../data/divisions.tsv");
const AREA_CODES: &str = include_str!("../data/area_codes.txt");
const MOBILE_SEGMENTS: &str = include_str!("../data/mobile_segments.txt");
const SURNAMES: &str = include_str!("../data/surnames.txt");

/// Level of an administrative division.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Province, autonomous region or municipality (2-digit code).
    Province,
    /// Prefecture-level city (4-digit code).
    City,
    /// County or district (6-digit code).
    County,
    /// Township, town or street office (9-digit code).
    Township,
}

/// One administrative division.
#[derive(Debug, Clone)]
pub struct Division {
    /// Its code (2, 4, 6 or 9 digits).
    pub code: u64,
    /// Its official name.
    pub name: &'static str,
    /// Its level.
    pub level: Level,
}

/// The parsed tables.
#[derive(Debug)]
pub struct Tables {
    mobile: [bool; 200],
    area_codes: HashSet<&'static str>,
    counties: HashSet<u32>,
    /// Compound (two-character) surnames.
    pub compound_surnames: HashSet<&'static str>,
    /// Single-character surnames.
    pub surnames: HashSet<char>,
    /// Every province, city and county, in file order. Townships (some
    /// 41,000 of the 45,000 lines, which nothing on the scan path needs)
    /// are parsed apart, on first use: [`townships`].
    pub divisions: Vec<Division>,
    by_code: HashMap<u64, usize>,
}

fn data_lines(text: &'static str) -> impl Iterator<Item = &'static str> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
}

/// The divisions of the shipped list whose code passes `keep`, in file
/// order. `keep` sees the code before anything else is done with the line:
/// the 41,000 township lines that start-up skips cost a few instructions
/// each.
fn parse_divisions(keep: impl Fn(&str) -> bool) -> impl Iterator<Item = Division> {
    let mut start = 0;
    let ends = memchr::memchr_iter(b'\n', DIVISIONS.as_bytes()).chain([DIVISIONS.len()]);
    ends.filter_map(move |end| {
        // Cut at newlines, so at character boundaries.
        let line = DIVISIONS.get(start..end)?;
        start = end + 1;
        // The code is at most nine digits; comment lines have no tab there.
        let tab = line.bytes().take(10).position(|b| b == b'\t')?;
        let (code, name) = (&line[..tab], &line[tab + 1..]);
        if !keep(code) {
            return None;
        }
        let level = match code.len() {
            2 => Level::Province,
            4 => Level::City,
            6 => Level::County,
            9 => Level::Township,
            _ => return None,
        };
        Some(Division {
            code: code.parse().ok()?,
            name: name.split('#').next().unwrap_or("").trim(),
            level,
        })
    })
}

/// The townships and street offices of the shipped list (9-digit codes),
/// in file order, parsed on first use.
pub fn townships() -> &'static [Division] {
    static TOWNSHIPS: OnceLock<Vec<Division>> = OnceLock::new();
    TOWNSHIPS.get_or_init(|| parse_divisions(|code| code.len() == 9).collect())
}

impl Tables {
    fn load() -> Self {
        let mut mobile = [false; 200];
        for seg in data_lines(MOBILE_SEGMENTS).flat_map(str::split_whitespace) {
            if let Ok(n) = seg.parse::<usize>()
                && n < mobile.len()
            {
                mobile[n] = true;
            }
        }
        let area_codes = data_lines(AREA_CODES)
            .flat_map(str::split_whitespace)
            .collect();
        let mut compound_surnames = HashSet::new();
        let mut surnames = HashSet::new();
        for s in data_lines(SURNAMES).flat_map(str::split_whitespace) {
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => {
                    surnames.insert(c);
                }
                (Some(_), Some(_)) => {
                    compound_surnames.insert(s);
                }
                _ => {}
            }
        }
        // Sized up front (about 3,500 divisions above township level):
        // re-hashing the maps as they grew was a fifth of start-up.
        let mut divisions = Vec::with_capacity(4096);
        let mut counties = HashSet::with_capacity(4096);
        let mut by_code = HashMap::with_capacity(4096);
        for d in parse_divisions(|code| code.len() != 9) {
            if d.level == Level::County {
                counties.insert(d.code as u32);
            }
            by_code.insert(d.code, divisions.len());
            divisions.push(d);
        }
        Self {
            mobile,
            area_codes,
            counties,
            compound_surnames,
            surnames,
            divisions,
            by_code,
        }
    }

    /// Whether a 3-digit prefix is an allocated mobile segment.
    pub fn is_mobile_segment(&self, prefix: u32) -> bool {
        self.mobile.get(prefix as usize).copied().unwrap_or(false)
    }

    /// Whether `code` (with its leading 0) is a real area code.
    pub fn is_area_code(&self, code: &[u8]) -> bool {
        std::str::from_utf8(code).is_ok_and(|c| self.area_codes.contains(c))
    }

    /// Whether a 6-digit code is a county in the division list.
    pub fn is_county_code(&self, code: u32) -> bool {
        self.counties.contains(&code)
    }

    /// Looks a province, city or county up by code.
    pub fn division(&self, code: u64) -> Option<&Division> {
        self.by_code.get(&code).map(|&i| &self.divisions[i])
    }

    /// Whether `c` starts a surname: single surnames, or the first character
    /// of a compound one. Returns the surname's length in characters.
    pub fn surname_at(&self, text: &str) -> Option<usize> {
        let mut chars = text.chars();
        let first = chars.next()?;
        if let Some(second) = chars.next() {
            let mut buf = [0u8; 8];
            let a = first.encode_utf8(&mut buf).len();
            let b = second.encode_utf8(&mut buf[a..]).len();
            if let Ok(pair) = std::str::from_utf8(&buf[..a + b])
                && self.compound_surnames.contains(pair)
            {
                return Some(2);
            }
        }
        self.surnames.contains(&first).then_some(1)
    }
}

/// The shared tables, parsed on first use.
pub fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(Tables::load)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_load() {
        let t = tables();
        assert!(t.divisions.len() > 3_000);
        assert!(t.divisions.iter().all(|d| d.level != Level::Township));
        assert!(townships().len() > 40_000);
        assert!(townships().iter().all(|d| d.level == Level::Township));
        // The same divisions and names as a plain parse of every data line.
        let mut plain: Vec<(u64, &str)> = data_lines(DIVISIONS)
            .filter_map(|l| {
                let (code, name) = l.split_once('\t')?;
                Some((code.parse().ok()?, name.trim()))
            })
            .collect();
        let mut ours: Vec<(u64, &str)> = t
            .divisions
            .iter()
            .chain(townships())
            .map(|d| (d.code, d.name))
            .collect();
        plain.sort_unstable();
        ours.sort_unstable();
        assert_eq!(ours, plain);
        assert!(t.is_county_code(440305), "深圳市南山区");
        assert_eq!(t.division(44).map(|d| d.name), Some("广东省"));
        assert!(t.is_area_code(b"0755"));
        assert!(!t.is_area_code(b"0000"));
        assert!(t.is_mobile_segment(138));
        assert!(!t.is_mobile_segment(120));
        assert_eq!(t.surname_at("欧阳娜娜"), Some(2));
        assert_eq!(t.surname_at("王小明"), Some(1));
        assert_eq!(t.surname_at("我们"), None);
    }
}
