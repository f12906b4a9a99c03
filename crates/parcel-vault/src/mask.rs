//! Masked views following GB/T 41833-2022 (privacy waybills): what other
//! systems and printed labels show instead of personal data.
//!
//! The standard's minimums, enforced by [`MaskProfile::validate`] at start-up:
//! a name hides at least one character, a phone number hides at least six
//! digits (so `138******78` or `*******5678`, never `138****5678`), and an
//! address hides its building, unit and room numbers.

use serde::{Deserialize, Serialize};

use crate::address::Address;
use crate::error::VaultError;

/// How names are masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NameMask {
    /// Keep the surname (one or two characters), hide the rest: `张**`, `欧阳**`.
    Surname,
    /// Hide everything: `***`.
    All,
}

/// How addresses are masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddressMask {
    /// Keep province, city, district and the words of the street; hide every
    /// number and letter (road, building, unit and room numbers).
    Road,
    /// Keep province, city and district only.
    District,
}

/// A masking profile. The default is the standard's example layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MaskProfile {
    /// `surname` (default) or `all`.
    pub name: NameMask,
    /// Leading phone digits left visible (default 3).
    pub phone_keep_prefix: u32,
    /// Trailing phone digits left visible (default 2).
    pub phone_keep_suffix: u32,
    /// `road` (default) or `district`.
    pub address: AddressMask,
    /// Leading ID-number characters left visible (default 1).
    pub id_keep_prefix: u32,
    /// Trailing ID-number characters left visible (default 1).
    pub id_keep_suffix: u32,
}

impl Default for MaskProfile {
    fn default() -> Self {
        Self {
            name: NameMask::Surname,
            phone_keep_prefix: 3,
            phone_keep_suffix: 2,
            address: AddressMask::Road,
            id_keep_prefix: 1,
            id_keep_suffix: 1,
        }
    }
}

/// The shortest phone number accepted (a 3-digit area code and 7 digits).
const MIN_PHONE_DIGITS: u32 = 10;
/// Digits a phone mask must hide (GB/T 41833-2022).
const MIN_HIDDEN_PHONE: u32 = 6;

impl MaskProfile {
    /// Rejects profiles that show more than the standard allows.
    pub fn validate(&self) -> Result<(), VaultError> {
        let keep = self.phone_keep_prefix + self.phone_keep_suffix;
        if keep + MIN_HIDDEN_PHONE > 11 {
            return Err(VaultError::MaskProfile {
                key: "phone_keep_prefix + phone_keep_suffix".to_owned(),
                reason: format!(
                    "shows {keep} digits of an 11-digit mobile number; GB/T 41833-2022 requires at least {MIN_HIDDEN_PHONE} hidden, so at most 5 may show"
                ),
            });
        }
        // The birth date (characters 7 to 14) must stay hidden.
        if self.id_keep_prefix > 6 || self.id_keep_suffix > 4 {
            return Err(VaultError::MaskProfile {
                key: "id_keep_prefix / id_keep_suffix".to_owned(),
                reason: "would show part of the birth date; keep at most 6 leading and 4 trailing characters".to_owned(),
            });
        }
        Ok(())
    }

    /// Masks a name.
    pub fn name(&self, name: &str) -> String {
        let chars = name.chars().count();
        match self.name {
            NameMask::All => "***".to_owned(),
            NameMask::Surname => {
                let keep = parcel_detect::tables::tables()
                    .surname_at(name)
                    .unwrap_or(1)
                    .min(chars.saturating_sub(1));
                let mut out: String = name.chars().take(keep).collect();
                out.push_str("**");
                out
            }
        }
    }

    /// Masks a phone number given as its national digits.
    pub fn phone(&self, digits: &str) -> String {
        let len = u32::try_from(digits.chars().count()).unwrap_or(u32::MAX);
        let mut prefix = self.phone_keep_prefix;
        let suffix = self.phone_keep_suffix.min(len);
        // Short numbers give up leading digits first so six always stay hidden.
        while prefix > 0 && prefix + suffix + MIN_HIDDEN_PHONE > len.max(MIN_PHONE_DIGITS) {
            prefix -= 1;
        }
        digits
            .chars()
            .enumerate()
            .map(|(i, c)| {
                let i = u32::try_from(i).unwrap_or(u32::MAX);
                if i < prefix || i >= len - suffix {
                    c
                } else {
                    '*'
                }
            })
            .collect()
    }

    /// Masks a structured address.
    pub fn address(&self, address: &Address) -> String {
        let mut out = String::new();
        out.push_str(&address.province);
        if address.city != address.province {
            out.push_str(&address.city);
        }
        out.push_str(&address.district);
        match self.address {
            AddressMask::District => out.push_str("****"),
            AddressMask::Road => {
                let mut in_run = false;
                for c in address.detail.chars() {
                    if is_number_like(c) {
                        if !in_run {
                            out.push('*');
                        }
                        in_run = true;
                    } else {
                        out.push(c);
                        in_run = false;
                    }
                }
            }
        }
        out
    }

    /// Masks a resident ID number.
    pub fn id_number(&self, id: &str) -> String {
        let len = id.chars().count();
        let prefix = (self.id_keep_prefix as usize).min(len);
        let suffix = (self.id_keep_suffix as usize).min(len - prefix);
        id.chars()
            .enumerate()
            .map(|(i, c)| {
                if i < prefix || i >= len - suffix {
                    c
                } else {
                    '*'
                }
            })
            .collect()
    }
}

/// Digits (ASCII, full-width, Chinese numerals) and Latin letters: what
/// numbers buildings, units, rooms and house numbers.
fn is_number_like(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || ('０'..='９').contains(&c)
        || ('Ａ'..='Ｚ').contains(&c)
        || ('ａ'..='ｚ').contains(&c)
        || "零〇一二三四五六七八九十百千两壹贰叁肆伍陆柒捌玖拾甲乙丙丁#＃-－".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::parse;

    #[test]
    fn default_profile_matches_standard_examples() {
        let p = MaskProfile::default();
        p.validate().unwrap();
        for (name, masked) in [
            ("张三", "张**"),
            ("张三丰", "张**"),
            ("欧阳娜娜", "欧阳**"),
            ("李", "**"),
            ("John Smith", "J**"),
        ] {
            assert_eq!(p.name(name), masked, "{name}");
        }
        assert_eq!(p.phone("13812345678"), "138******78");
        assert_eq!(p.phone("01062345678"), "010******78");
        // 10-digit landline: keep fewer leading digits so six stay hidden.
        assert_eq!(p.phone("0316234567"), "03******67");
        let a = parse("广东省深圳市南山区科技园路1号3栋2单元501室").address;
        assert_eq!(p.address(&a), "广东省深圳市南山区科技园路*号*栋*单元*室");
        assert_eq!(p.id_number("11010519491231002X"), "1****************X");
    }

    #[test]
    fn other_profiles() {
        let p = MaskProfile {
            name: NameMask::All,
            phone_keep_prefix: 0,
            phone_keep_suffix: 4,
            address: AddressMask::District,
            ..MaskProfile::default()
        };
        p.validate().unwrap();
        assert_eq!(p.name("张三"), "***");
        assert_eq!(p.phone("13812345678"), "*******5678");
        let a = parse("北京市朝阳区建国路88号").address;
        assert_eq!(p.address(&a), "北京市朝阳区****");
    }

    #[test]
    fn profiles_below_the_standard_are_rejected() {
        let p = MaskProfile {
            phone_keep_prefix: 3,
            phone_keep_suffix: 4,
            ..MaskProfile::default()
        };
        let err = p.validate().unwrap_err().to_string();
        assert!(
            err.contains("phone_keep_prefix") && err.contains("at least 6"),
            "{err}"
        );
        let id = MaskProfile {
            id_keep_prefix: 10,
            ..MaskProfile::default()
        };
        assert!(id.validate().is_err());
    }

    proptest::proptest! {
        #[test]
        fn phone_masks_always_hide_six_digits(digits in "[0-9]{10,12}", pre in 0u32..4, suf in 0u32..3) {
            let p = MaskProfile { phone_keep_prefix: pre, phone_keep_suffix: suf, ..MaskProfile::default() };
            proptest::prop_assume!(p.validate().is_ok());
            let m = p.phone(&digits);
            proptest::prop_assert_eq!(m.chars().count(), digits.len());
            proptest::prop_assert!(m.chars().filter(|&c| c == '*').count() >= 6);
        }

        #[test]
        fn name_masks_hide_at_least_one_character(name in "\\PC{1,12}") {
            let m = MaskProfile::default().name(&name);
            let visible = m.trim_end_matches('*');
            proptest::prop_assert!(visible.chars().count() < name.chars().count());
            proptest::prop_assert!(name.starts_with(visible));
        }

        #[test]
        fn address_masks_never_show_digits(detail in "[0-9a-z路号栋单元室]{0,30}") {
            let a = Address { province: "广东省".into(), city: "深圳市".into(), district: "南山区".into(), detail };
            let m = MaskProfile::default().address(&a);
            proptest::prop_assert!(!m.chars().any(|c| c.is_ascii_alphanumeric()));
        }
    }
}
