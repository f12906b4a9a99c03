//! Redaction operators: GB/T 41833-style masks, type tags, keyed hashes and
//! format-preserving encryption (NIST SP 800-38G FF1).
//!
//! All operators keep a value's bytes free of quotes, commas and newlines,
//! so a redacted JSON line stays valid JSON and a CSV row keeps its columns.

use std::fmt::Write as _;
use std::str::FromStr;

use aes::Aes256;
use fpe::ff1::{FF1, FlexibleNumeralString};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::PiiType;
use crate::tables::tables;

/// How a finding is replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// Hide part of the value, as privacy waybills do (张**, 138******78).
    Mask,
    /// Replace with the type name in angle brackets (`<cn_mobile>`).
    Tag,
    /// Replace with a truncated keyed HMAC-SHA256: same input, same output.
    Hash,
    /// Encrypt the digits with FF1, keeping the format; reversible with the
    /// key. Values with fewer than six digits (names, addresses) are masked.
    Fpe,
}

impl FromStr for Operator {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "mask" => Ok(Self::Mask),
            "tag" => Ok(Self::Tag),
            "hash" => Ok(Self::Hash),
            "fpe" => Ok(Self::Fpe),
            other => Err(format!(
                "unknown redaction operator `{other}`: expected mask, tag, hash or fpe"
            )),
        }
    }
}

/// Errors from redaction.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedactError {
    /// The operator needs a key that was not supplied.
    #[error("the `{0}` operator needs a key from the key store")]
    MissingKey(&'static str),
    /// The FF1 cipher failed (domain too small or too large).
    #[error("format-preserving encryption of a {0} value failed")]
    Fpe(PiiType),
}

/// Applies operators, holding the keys they need.
pub struct Redactor {
    hmac_key: Option<Zeroizing<[u8; 32]>>,
    ff1: Option<FF1<Aes256>>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("hmac_key", &self.hmac_key.as_ref().map(|_| "<redacted>"))
            .field("ff1", &self.ff1.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Minimum digits for FF1 (NIST SP 800-38G Rev. 1: domain at least 10^6).
const FPE_MIN_DIGITS: usize = 6;

impl Redactor {
    /// A redactor for `mask` and `tag` only.
    pub fn without_keys() -> Self {
        Self {
            hmac_key: None,
            ff1: None,
        }
    }

    /// A redactor with an HMAC key (for `hash`) and an AES-256 key (for `fpe`).
    pub fn with_keys(hmac_key: &[u8; 32], fpe_key: &[u8; 32]) -> Self {
        Self {
            hmac_key: Some(Zeroizing::new(*hmac_key)),
            ff1: FF1::<Aes256>::new(fpe_key, 10).ok(),
        }
    }

    /// The replacement for `value`, a finding of type `kind`.
    pub fn apply(&self, op: Operator, kind: PiiType, value: &str) -> Result<String, RedactError> {
        match op {
            Operator::Mask => Ok(mask(kind, value)),
            Operator::Tag => Ok(format!("<{kind}>")),
            Operator::Hash => self.hash(kind, value),
            Operator::Fpe => {
                if value.bytes().filter(u8::is_ascii_digit).count() < FPE_MIN_DIGITS {
                    return Ok(mask(kind, value));
                }
                self.fpe(kind, value, true)
            }
        }
    }

    fn hash(&self, kind: PiiType, value: &str) -> Result<String, RedactError> {
        let key = self
            .hmac_key
            .as_ref()
            .ok_or(RedactError::MissingKey("hash"))?;
        let norm = Zeroizing::new(normalize(kind, value));
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_slice())
            .map_err(|_| RedactError::MissingKey("hash"))?;
        mac.update(kind.as_str().as_bytes());
        mac.update(&[0]);
        mac.update(norm.as_bytes());
        let tag = mac.finalize().into_bytes();
        let mut out = format!("{kind}#");
        for b in &tag[..8] {
            let _ = write!(out, "{b:02x}");
        }
        Ok(out)
    }

    /// Decrypts a value produced by the `fpe` operator.
    pub fn fpe_decrypt(&self, kind: PiiType, value: &str) -> Result<String, RedactError> {
        self.fpe(kind, value, false)
    }

    fn fpe(&self, kind: PiiType, value: &str, encrypt: bool) -> Result<String, RedactError> {
        let ff1 = self.ff1.as_ref().ok_or(RedactError::MissingKey("fpe"))?;
        let digits: Zeroizing<Vec<u16>> = Zeroizing::new(
            value
                .bytes()
                .filter(u8::is_ascii_digit)
                .map(|b| u16::from(b - b'0'))
                .collect(),
        );
        let input = FlexibleNumeralString::from(digits.to_vec());
        let tweak = kind.as_str().as_bytes();
        let result = if encrypt {
            ff1.encrypt(tweak, &input)
        } else {
            ff1.decrypt(tweak, &input)
        }
        .map_err(|_| RedactError::Fpe(kind))?;
        let out_digits: Zeroizing<Vec<u16>> = Zeroizing::new(Vec::from(result));
        let mut it = out_digits.iter();
        Ok(value
            .chars()
            .map(|c| {
                if c.is_ascii_digit() {
                    it.next()
                        .and_then(|&d| char::from_digit(u32::from(d), 10))
                        .unwrap_or('0')
                } else {
                    c
                }
            })
            .collect())
    }
}

/// The canonical form hashed by the `hash` operator and blind indexes:
/// digits only for numbers (mobile numbers without +86), lower case for
/// e-mail, no spaces elsewhere.
pub fn normalize(kind: PiiType, value: &str) -> String {
    match kind {
        PiiType::CnMobile => {
            let d: String = value.chars().filter(char::is_ascii_digit).collect();
            let n = d.len();
            if n > 11 { d[n - 11..].to_owned() } else { d }
        }
        PiiType::CnLandline | PiiType::BankCard => {
            value.chars().filter(char::is_ascii_digit).collect()
        }
        PiiType::CnResidentId => value
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_uppercase())
            .collect(),
        PiiType::Email => value.trim().to_lowercase(),
        _ => value.chars().filter(|c| !c.is_whitespace()).collect(),
    }
}

/// Replaces the digits at the given digit indexes (0-based, counting digits
/// only) with `*`, keeping separators.
fn mask_digits(value: &str, keep: impl Fn(usize, usize) -> bool) -> String {
    let total = value.chars().filter(char::is_ascii_digit).count();
    let mut idx = 0;
    value
        .chars()
        .map(|c| {
            if c.is_ascii_digit() {
                let k = keep(idx, total);
                idx += 1;
                if k { c } else { '*' }
            } else {
                c
            }
        })
        .collect()
}

/// Masks one value following GB/T 41833-2022: at least one character of a
/// name, at least six digits of a phone, and everything below street level
/// of an address are hidden.
pub fn mask(kind: PiiType, value: &str) -> String {
    match kind {
        PiiType::CnName => {
            let surname = tables().surname_at(value).unwrap_or(1);
            let n = value.chars().count();
            let keep = if n > surname { surname } else { 0 };
            value
                .chars()
                .enumerate()
                .map(|(i, c)| if i < keep { c } else { '*' })
                .collect()
        }
        PiiType::CnMobile => {
            // Keep the country code, the first three and the last two digits
            // of the national number: 138******78 hides six.
            let total = value.chars().filter(char::is_ascii_digit).count();
            let cc = total.saturating_sub(11);
            mask_digits(value, move |i, t| i < cc + 3 || i >= t - 2)
        }
        PiiType::CnLandline => mask_digits(value, |i, t| i < 3 || i >= t.saturating_sub(2)),
        PiiType::CnResidentId => {
            // Keep the first two and last two characters (a trailing X counts).
            let tail = if value.ends_with(['X', 'x']) { 1 } else { 2 };
            mask_digits(value, move |i, t| i < 2 || i + tail >= t)
        }
        PiiType::BankCard => mask_digits(value, |i, t| i < 6 || i + 4 >= t),
        PiiType::CnPassport | PiiType::WaybillNo => mask_digits(value, |i, t| i < 2 || i + 3 >= t),
        PiiType::CnPlate => {
            let n = value.chars().count();
            value
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if i < 2 || i + 2 >= n || c == '·' {
                        c
                    } else {
                        '*'
                    }
                })
                .collect()
        }
        PiiType::Email => match value.split_once('@') {
            Some((local, domain)) => {
                let first: String = local.chars().take(1).collect();
                format!("{first}***@{domain}")
            }
            None => "***".to_owned(),
        },
        PiiType::Ipv4 => {
            let parts: Vec<&str> = value.split('.').collect();
            if parts.len() == 4 {
                format!("{}.{}.*.*", parts[0], parts[1])
            } else {
                "*.*.*.*".to_owned()
            }
        }
        PiiType::Ipv6 => {
            let head: Vec<&str> = value.split(':').take(2).collect();
            format!("{}:*", head.join(":"))
        }
        PiiType::CnAddress => mask_address(value),
    }
}

/// Keeps an address down to its road (路/街/道/巷/大道) and hides the rest:
/// house, building, unit and room numbers.
fn mask_address(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    // Where the numbered part (house, building, unit, room) begins. A
    // Chinese numeral begins it only before a unit (四段, 三号楼): 四川,
    // 三亚 and 九江 are place names.
    let is_numeral = |c: char| "一二三四五六七八九十百零〇".contains(c);
    let first_digit = (0..chars.len())
        .find(|&i| {
            chars[i].is_ascii_digit()
                || (is_numeral(chars[i])
                    && chars[i..]
                        .iter()
                        .find(|&&c| !is_numeral(c))
                        .is_some_and(|&c| "号弄栋幢楼单室组座段期层排户".contains(c)))
        })
        .unwrap_or(chars.len());
    let keep = chars[..first_digit]
        .iter()
        .rposition(|c| "路街道巷镇乡村".contains(*c))
        .map(|p| p + 1)
        .or_else(|| {
            chars[..first_digit]
                .iter()
                .rposition(|c| "省市区县".contains(*c))
                .map(|p| p + 1)
        })
        .unwrap_or(0);
    chars
        .iter()
        .enumerate()
        .map(|(i, &c)| if i < keep { c } else { '*' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_follow_gb_t_41833() {
        let cases: &[(PiiType, &str, &str)] = &[
            (PiiType::CnName, "张三", "张*"),
            (PiiType::CnName, "王小明", "王**"),
            (PiiType::CnName, "欧阳娜娜", "欧阳**"),
            (PiiType::CnMobile, "13812345678", "138******78"),
            (PiiType::CnMobile, "+86 138-1234-5678", "+86 138-****-**78"),
            (PiiType::CnLandline, "010-62345678", "010-******78"),
            (
                PiiType::CnResidentId,
                "11010519491231002X",
                "11**************2X",
            ),
            (
                PiiType::BankCard,
                "6222021234567890128",
                "622202*********0128",
            ),
            (PiiType::Email, "zhang.san@example.com", "z***@example.com"),
            (PiiType::Ipv4, "192.168.10.7", "192.168.*.*"),
            (PiiType::CnPlate, "京A12345", "京A***45"),
            (
                PiiType::CnAddress,
                "广东省深圳市南山区粤海街道科技园路18号3栋502室",
                "广东省深圳市南山区粤海街道科技园路*********",
            ),
            // A numeral in a place name (四川, 九江) is not a house number;
            // one before a unit (四段) is.
            (
                PiiType::CnAddress,
                "四川省成都市武侯区人民南路四段12号院3号楼2单元602",
                "四川省成都市武侯区人民南路***************",
            ),
            (
                PiiType::CnAddress,
                "河南省三门峡市湖滨区六峰路12号",
                "河南省三门峡市湖滨区六峰路***",
            ),
            (
                PiiType::CnAddress,
                "江西省九江市浔阳区浔阳东路三号楼",
                "江西省九江市浔阳区浔阳东路***",
            ),
        ];
        for (kind, input, want) in cases {
            assert_eq!(mask(*kind, input), *want, "{kind}");
        }
        // A phone mask must hide at least six digits.
        let masked = mask(PiiType::CnMobile, "13812345678");
        assert!(masked.chars().filter(|&c| c == '*').count() >= 6);
    }

    #[test]
    fn hash_is_stable_and_keyed() {
        let a = Redactor::with_keys(&[1; 32], &[2; 32]);
        let b = Redactor::with_keys(&[3; 32], &[2; 32]);
        let h1 = a
            .apply(Operator::Hash, PiiType::CnMobile, "13812345678")
            .unwrap();
        let h2 = a
            .apply(Operator::Hash, PiiType::CnMobile, "+86 138-1234-5678")
            .unwrap();
        let h3 = b
            .apply(Operator::Hash, PiiType::CnMobile, "13812345678")
            .unwrap();
        assert_eq!(h1, h2, "normalised before hashing");
        assert_ne!(h1, h3, "keyed");
        assert!(h1.starts_with("cn_mobile#") && h1.len() == "cn_mobile#".len() + 16);
        assert!(
            Redactor::without_keys()
                .apply(Operator::Hash, PiiType::Email, "a@b.cn")
                .is_err()
        );
    }

    proptest::proptest! {
        #[test]
        fn fpe_round_trips_and_keeps_format(digits in "[0-9]{6,19}", sep in proptest::sample::select(vec!["", "-", " "])) {
            let r = Redactor::with_keys(&[9; 32], &[7; 32]);
            let value = format!("{}{sep}{}", &digits[..3], &digits[3..]);
            let enc = r.apply(Operator::Fpe, PiiType::BankCard, &value).unwrap();
            proptest::prop_assert_eq!(enc.len(), value.len());
            proptest::prop_assert_eq!(enc.replace(|c: char| c.is_ascii_digit(), "0"), value.replace(|c: char| c.is_ascii_digit(), "0"));
            let dec = r.fpe_decrypt(PiiType::BankCard, &enc).unwrap();
            proptest::prop_assert_eq!(dec, value);
        }

        #[test]
        fn masks_never_reveal_a_whole_phone(n in 0u64..100_000_000) {
            let phone = format!("138{n:08}");
            let m = mask(PiiType::CnMobile, &phone);
            proptest::prop_assert_eq!(m.chars().filter(|&c| c == '*').count(), 6);
            proptest::prop_assert!(!m.contains(&phone[3..9]));
        }

        #[test]
        fn masked_names_hide_a_character(name in "[张王李欧][\u{4e00}-\u{9fa5}]{1,3}") {
            let m = mask(PiiType::CnName, &name);
            proptest::prop_assert!(m.contains('*'));
            proptest::prop_assert_eq!(m.chars().count(), name.chars().count());
        }
    }
}
