//! Validators for Chinese identifiers: pure functions over ASCII digits.
//!
//! These are shared with the vault, which checks input with the same rules the
//! scanner uses to find leaks.

use crate::tables::tables;

/// GB 11643-1999 MOD 11-2 weights for the first 17 digits.
const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check characters indexed by the weighted sum modulo 11.
const ID_CHECK: &[u8; 11] = b"10X98765432";

/// Province-level codes of GB/T 2260 (first two digits of a resident ID).
pub(crate) const PROVINCE_CODES: [u8; 34] = [
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
    53, 54, 61, 62, 63, 64, 65, 71, 81, 82,
];

fn digits_value(d: &[u8]) -> u32 {
    d.iter().fold(0, |acc, &b| acc * 10 + u32::from(b - b'0'))
}

fn all_digits(d: &[u8]) -> bool {
    !d.is_empty() && d.iter().all(u8::is_ascii_digit)
}

/// Whether `year-month-day` is a real calendar date.
pub fn valid_date(year: u32, month: u32, day: u32) -> bool {
    let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// The outcome of checking a resident ID number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdCheck {
    /// The 6-digit region code is a county in the shipped division list
    /// (older, abolished codes are valid on old cards but are not listed).
    pub county_known: bool,
    /// It is a legacy 15-digit number (no check digit).
    pub legacy: bool,
}

/// Validates an 18-digit (check digit may be `X`) or 15-digit resident ID:
/// province code, birth date, and for 18 digits the MOD 11-2 check.
pub fn resident_id(id: &[u8]) -> Option<IdCheck> {
    // The cheap checks first: most digit runs a scan meets are order ids,
    // and nearly all of them fail the province code or the birth date
    // before the weighted sum is worth computing.
    let legacy = match id.len() {
        18 => false,
        15 => true,
        _ => return None,
    };
    if !all_digits(&id[..if legacy { 15 } else { 17 }]) {
        return None;
    }
    let province = digits_value(&id[..2]);
    if !PROVINCE_CODES.iter().any(|&p| u32::from(p) == province) {
        return None;
    }
    let (y, m, d) = if legacy {
        (
            1900 + digits_value(&id[6..8]),
            digits_value(&id[8..10]),
            digits_value(&id[10..12]),
        )
    } else {
        (
            digits_value(&id[6..10]),
            digits_value(&id[10..12]),
            digits_value(&id[12..14]),
        )
    };
    if !(1900..=2030).contains(&y) || !valid_date(y, m, d) {
        return None;
    }
    if !legacy {
        let sum: u32 = id[..17]
            .iter()
            .zip(ID_WEIGHTS)
            .map(|(&d, w)| u32::from(d - b'0') * w)
            .sum();
        if id[17].to_ascii_uppercase() != ID_CHECK[(sum % 11) as usize] {
            return None;
        }
    }
    Some(IdCheck {
        county_known: tables().is_county_code(digits_value(&id[..6])),
        legacy,
    })
}

/// Luhn (ISO/IEC 7812-1) check over ASCII digits.
pub fn luhn(digits: &[u8]) -> bool {
    if !all_digits(digits) || digits.len() < 2 {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let dd = d * 2;
                if dd > 9 { dd - 9 } else { dd }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Who issued a card number, judged from its leading digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardIssuer {
    /// China UnionPay (62) or a domestic bank BIN.
    Domestic,
    /// Visa, Mastercard, JCB or American Express.
    International,
}

/// Validates a payment card number: length, Luhn, and an issuer prefix.
pub fn bank_card(digits: &[u8]) -> Option<CardIssuer> {
    let len = digits.len();
    if !(15..=19).contains(&len) {
        return None;
    }
    // Issuer first (a table look-up), then the Luhn sum over every digit.
    let issuer = issuer_of(digits)?;
    luhn(digits).then_some(issuer)
}

/// The issuer a card number's length and leading digits name, if any.
fn issuer_of(digits: &[u8]) -> Option<CardIssuer> {
    let len = digits.len();
    if !all_digits(&digits[..5]) {
        return None;
    }
    let p2 = digits_value(&digits[..2]);
    let p4 = digits_value(&digits[..4]);
    // Domestic prefixes: UnionPay 62, pre-UnionPay domestic debit BINs 60xxxx
    // (e.g. 601382 Bank of China) and 9558 (ICBC), 95595-95599 (old bank cards).
    if len >= 16
        && (p2 == 62
            || p4 == 9558
            || (95595..=95599).contains(&digits_value(&digits[..5]))
            || p4 == 6013)
    {
        return Some(CardIssuer::Domestic);
    }
    let international = match len {
        15 => p2 == 34 || p2 == 37,
        16 => {
            digits[0] == b'4'
                || (51..=55).contains(&p2)
                || (2221..=2720).contains(&p4)
                || (3528..=3589).contains(&p4)
        }
        19 => digits[0] == b'4',
        _ => false,
    };
    international.then_some(CardIssuer::International)
}

/// Whether an 11-digit number is a mobile number in an allocated segment.
pub fn cn_mobile(digits: &[u8]) -> bool {
    digits.len() == 11
        && all_digits(digits)
        && digits[0] == b'1'
        && tables().is_mobile_segment(digits_value(&digits[..3]))
}

/// Splits a landline number written with its trunk prefix (`01062345678`)
/// into area code and local number if the area code is real and the local
/// number has 7 or 8 digits not starting with 0 or 1.
pub fn cn_landline(digits: &[u8]) -> Option<(usize, usize)> {
    if digits.first() != Some(&b'0') || !(10..=12).contains(&digits.len()) || !all_digits(digits) {
        return None;
    }
    for area_len in [3usize, 4] {
        if digits.len() <= area_len {
            continue;
        }
        let local = &digits[area_len..];
        if (7..=8).contains(&local.len())
            && !matches!(local[0], b'0' | b'1')
            && tables().is_area_code(&digits[..area_len])
        {
            return Some((area_len, local.len()));
        }
    }
    None
}

/// Validates a UPU S10 item identifier (`EE123456785CN`): two letters, eight
/// serial digits, a check digit (weights 8 6 4 2 3 5 9 7), two country letters.
pub fn upu_s10(id: &[u8]) -> bool {
    if id.len() != 13
        || !id[..2].iter().all(u8::is_ascii_uppercase)
        || !all_digits(&id[2..11])
        || !id[11..].iter().all(u8::is_ascii_uppercase)
    {
        return false;
    }
    const W: [u32; 8] = [8, 6, 4, 2, 3, 5, 9, 7];
    let sum: u32 = id[2..10]
        .iter()
        .zip(W)
        .map(|(&d, w)| u32::from(d - b'0') * w)
        .sum();
    let check = match 11 - sum % 11 {
        10 => 0,
        11 => 5,
        c => c,
    };
    u32::from(id[10] - b'0') == check
}

#[cfg(test)]
mod tests {
    use super::*;

    // Worked example from GB 11643-1999 Annex A and widely reproduced
    // references: 11010519491231002X is a valid ID (Beijing Chaoyang, born
    // 1949-12-31).
    #[test]
    fn resident_id_cases() {
        let cases: &[(&str, bool)] = &[
            ("11010519491231002X", true),
            ("11010519491231002x", true),
            ("110105194912310021", false), // wrong check digit
            ("11010519491331002X", false), // month 13 (check recomputed below)
            ("99010519491231002X", false), // no province 99
            ("440308199001011234", false),
            ("110105491231002", true),  // legacy 15-digit
            ("110105491331002", false), // legacy, month 13
        ];
        for (id, ok) in cases {
            assert_eq!(resident_id(id.as_bytes()).is_some(), *ok, "{id}");
        }
        assert!(resident_id(b"11010519491231002X").unwrap().county_known);
    }

    #[test]
    fn luhn_and_cards() {
        // Standard Luhn test numbers (Visa 4111..., Mastercard 5555...4444).
        assert!(luhn(b"4111111111111111"));
        assert!(!luhn(b"4111111111111112"));
        assert_eq!(
            bank_card(b"4111111111111111"),
            Some(CardIssuer::International)
        );
        assert_eq!(
            bank_card(b"5555555555554444"),
            Some(CardIssuer::International)
        );
        assert_eq!(
            bank_card(b"6222021234567890128").is_some(),
            luhn(b"6222021234567890128")
        );
        assert_eq!(bank_card(b"6212345678901232"), Some(CardIssuer::Domestic));
        assert_eq!(bank_card(b"1234567812345670"), None, "no issuer prefix");
    }

    #[test]
    fn mobiles_and_landlines() {
        assert!(cn_mobile(b"13812345678"));
        assert!(cn_mobile(b"19912345678"));
        assert!(!cn_mobile(b"12012345678"));
        assert!(!cn_mobile(b"14012345678"));
        assert!(!cn_mobile(b"1381234567"));
        assert_eq!(cn_landline(b"01062345678"), Some((3, 8)));
        assert_eq!(cn_landline(b"075586013388"), Some((4, 8)));
        assert_eq!(
            cn_landline(b"02612345678"),
            None,
            "026 is not a mainland code"
        );
        assert_eq!(
            cn_landline(b"01012345678"),
            None,
            "local number may not start with 1"
        );
    }

    // UPU S10 example from the standard's annex: RB123456785CN... the check
    // digit of serial 12345678 is 5.
    #[test]
    fn s10() {
        assert!(upu_s10(b"EE123456785CN"));
        assert!(!upu_s10(b"EE123456784CN"));
        assert!(!upu_s10(b"EE12345678CN"));
    }
}
