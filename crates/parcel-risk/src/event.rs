//! Access events: what the detector consumes, and the JSON-lines format
//! other systems' access logs are replayed in.
//!
//! One JSON object per line with `ts` (RFC 3339), `actor`, `action` and
//! optional `role`, `station`, `waybill_no`, `customer`, `field`, `purpose`,
//! `assigned`, `device`, `ip`, `count`, `reason`, `ticket`. Unknown fields are
//! ignored. Parsing borrows from the line, so a replay allocates nothing per
//! event. Errors name the line and the field, never a value: these files
//! carry employee and customer identifiers.

use std::borrow::Cow;

use serde::Deserialize;

/// What the actor did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// Plaintext of a personal field was returned.
    Reveal,
    /// A blind-index or order search.
    Search,
    /// A bulk export (`count` records).
    Export,
    /// A sign-in.
    Login,
    /// A request that was refused (policy, quota).
    Deny,
}

impl Action {
    /// The wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Reveal => "reveal",
            Action::Search => "search",
            Action::Export => "export",
            Action::Login => "login",
            Action::Deny => "deny",
        }
    }

    /// Parses a wire name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "reveal" => Action::Reveal,
            "search" => Action::Search,
            "export" => Action::Export,
            "login" => Action::Login,
            "deny" => Action::Deny,
            _ => return None,
        })
    }

    /// Whether the action touches customer data.
    #[must_use]
    pub fn touches_data(self) -> bool {
        !matches!(self, Action::Login)
    }
}

/// One access event. Text fields borrow from the input where they can.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessEvent<'a> {
    /// Unix milliseconds.
    pub ts_ms: i64,
    /// Who: employee or service account id.
    pub actor: Cow<'a, str>,
    /// What.
    pub action: Action,
    /// The actor's role.
    pub role: Option<Cow<'a, str>>,
    /// The station the request came from.
    pub station: Option<Cow<'a, str>>,
    /// The shipment touched.
    pub waybill_no: Option<Cow<'a, str>>,
    /// A stable pseudonymous id of the person whose data was touched.
    pub customer: Option<Cow<'a, str>>,
    /// The field revealed.
    pub field: Option<Cow<'a, str>>,
    /// The declared purpose.
    pub purpose: Option<Cow<'a, str>>,
    /// Whether the shipment was assigned to the actor (or, for an agent,
    /// bound to their ticket): `Some(false)` is access with no business
    /// reason.
    pub assigned: Option<bool>,
    /// Device id.
    pub device: Option<Cow<'a, str>>,
    /// Source address.
    pub ip: Option<Cow<'a, str>>,
    /// Records in an export (1 otherwise).
    pub count: u64,
    /// Reason code of a denial (`quota_exceeded`, `not_assigned`, …).
    pub reason: Option<Cow<'a, str>>,
    /// Where the event can be found: a line number offline, a log index in
    /// the server.
    pub evidence: u64,
}

impl<'a> AccessEvent<'a> {
    /// An event with only the required fields set.
    #[must_use]
    pub fn new(ts_ms: i64, actor: impl Into<Cow<'a, str>>, action: Action) -> Self {
        Self {
            ts_ms,
            actor: actor.into(),
            action,
            role: None,
            station: None,
            waybill_no: None,
            customer: None,
            field: None,
            purpose: None,
            assigned: None,
            device: None,
            ip: None,
            count: 1,
            reason: None,
            evidence: 0,
        }
    }
}

/// A line that could not be read as an event. The message names the line
/// and the field, never the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// Not JSON, or not an object.
    #[error("line {line}, column {column}: {problem}")]
    Syntax {
        /// 1-based line number.
        line: u64,
        /// 1-based column (0 when unknown).
        column: usize,
        /// What is wrong.
        problem: &'static str,
    },
    /// A field is missing or has the wrong type or form.
    #[error("line {line}: field `{field}`: {problem}")]
    Field {
        /// 1-based line number.
        line: u64,
        /// The field's name.
        field: &'static str,
        /// What is wrong.
        problem: &'static str,
    },
}

/// A string that borrows from the line unless it has escapes. (serde
/// borrows a bare `Cow` field, but not one inside an `Option`.)
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(borrow)]
    ts: Cow<'a, str>,
    #[serde(borrow)]
    actor: Cow<'a, str>,
    #[serde(borrow)]
    action: Cow<'a, str>,
    #[serde(borrow, default)]
    role: Option<Text<'a>>,
    #[serde(borrow, default)]
    station: Option<Text<'a>>,
    #[serde(borrow, default)]
    waybill_no: Option<Text<'a>>,
    #[serde(borrow, default)]
    customer: Option<Text<'a>>,
    #[serde(borrow, default)]
    field: Option<Text<'a>>,
    #[serde(borrow, default)]
    purpose: Option<Text<'a>>,
    #[serde(default)]
    assigned: Option<bool>,
    #[serde(borrow, default)]
    device: Option<Text<'a>>,
    #[serde(borrow, default)]
    ip: Option<Text<'a>>,
    #[serde(default)]
    count: Option<u64>,
    #[serde(borrow, default)]
    reason: Option<Text<'a>>,
}

/// Fields and the JSON type each must have, for error messages.
const FIELD_TYPES: [(&str, &str); 14] = [
    ("ts", "string"),
    ("actor", "string"),
    ("action", "string"),
    ("role", "string"),
    ("station", "string"),
    ("waybill_no", "string"),
    ("customer", "string"),
    ("field", "string"),
    ("purpose", "string"),
    ("assigned", "bool"),
    ("device", "string"),
    ("ip", "string"),
    ("count", "u64"),
    ("reason", "string"),
];

/// Parses one line (without its newline). Blank lines give `Ok(None)`.
/// `line` is the 1-based line number, kept as the event's evidence.
///
/// # Errors
/// [`EventError`] naming the line and the field.
pub fn parse_line(bytes: &[u8], line: u64) -> Result<Option<AccessEvent<'_>>, EventError> {
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    // One UTF-8 check of the whole line (fast on ASCII) instead of one per
    // borrowed string.
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Err(EventError::Syntax {
            line,
            column: 0,
            problem: "not valid UTF-8",
        });
    };
    let wire: Wire<'_> = match serde_json::from_str(text) {
        Ok(w) => w,
        Err(_) => return Err(explain(bytes, line)),
    };
    let field_err = |field: &'static str, problem: &'static str| EventError::Field {
        line,
        field,
        problem,
    };
    let ts_ms = parse_rfc3339_ms(&wire.ts)
        .ok_or_else(|| field_err("ts", "not an RFC 3339 timestamp with an offset"))?;
    if wire.actor.is_empty() {
        return Err(field_err("actor", "empty"));
    }
    let action = Action::parse(&wire.action).ok_or_else(|| {
        field_err(
            "action",
            "unknown action (expected reveal, search, export, login or deny)",
        )
    })?;
    Ok(Some(AccessEvent {
        ts_ms,
        actor: wire.actor,
        action,
        role: wire.role.map(|t| t.0),
        station: wire.station.map(|t| t.0),
        waybill_no: wire.waybill_no.map(|t| t.0),
        customer: wire.customer.map(|t| t.0),
        field: wire.field.map(|t| t.0),
        purpose: wire.purpose.map(|t| t.0),
        assigned: wire.assigned,
        device: wire.device.map(|t| t.0),
        ip: wire.ip.map(|t| t.0),
        count: wire.count.unwrap_or(1),
        reason: wire.reason.map(|t| t.0),
        evidence: line,
    }))
}

/// Works out what is wrong with a line the fast path refused. serde's own
/// messages quote the offending value, so they are not passed on.
fn explain(bytes: &[u8], line: u64) -> EventError {
    let value: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            return EventError::Syntax {
                line,
                column: e.column(),
                problem: if e.is_eof() {
                    "truncated JSON"
                } else {
                    "not valid JSON"
                },
            };
        }
    };
    let Some(object) = value.as_object() else {
        return EventError::Syntax {
            line,
            column: 1,
            problem: "not a JSON object",
        };
    };
    for (name, kind) in FIELD_TYPES {
        let required = matches!(name, "ts" | "actor" | "action");
        let problem = match (object.get(name), kind) {
            (None, _) if required => "missing",
            (None | Some(serde_json::Value::Null), _) if !required => continue,
            (Some(v), "string") if v.is_string() => continue,
            (Some(v), "bool") if v.is_boolean() => continue,
            (Some(v), "u64") if v.is_u64() => continue,
            (_, "string") => "expected a string",
            (_, "bool") => "expected true or false",
            _ => "expected a non-negative integer",
        };
        return EventError::Field {
            line,
            field: name,
            problem,
        };
    }
    EventError::Syntax {
        line,
        column: 0,
        problem: "not an access event",
    }
}

/// Parses an RFC 3339 timestamp (`2026-11-11T01:02:03.456+08:00`, `Z`
/// accepted, fractional seconds optional) to unix milliseconds.
#[must_use]
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    if let Some(ms) = common_rfc3339_ms(s.as_bytes()) {
        return Some(ms);
    }
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    t.unix_timestamp()
        .checked_mul(1000)?
        .checked_add(i64::from(t.millisecond()))
}

/// The shape nearly every log writes, `YYYY-MM-DDTHH:MM:SS[.fff…](Z|±HH:MM)`,
/// read without `time`'s general parser (a fifth of a replay's cost);
/// `None` sends anything else (lowercase separators, leap seconds, odd
/// widths) to `time`, so the fast path only ever agrees with it (property
/// test below).
fn common_rfc3339_ms(b: &[u8]) -> Option<i64> {
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let digit = |i: usize| -> Option<i64> {
        let c = b.get(i)?.wrapping_sub(b'0');
        (c < 10).then_some(i64::from(c))
    };
    let two = |i: usize| Some(digit(i)? * 10 + digit(i + 1)?);
    let year = two(0)? * 100 + two(2)?;
    let (month, day) = (two(5)?, two(8)?);
    let (hour, minute, second) = (two(11)?, two(14)?, two(17)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day < 1 || day > month_days || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut i = 19;
    let mut millis = 0;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while let Some(d) = digit(i) {
            if i - start < 3 {
                millis = millis * 10 + d;
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 || n > 9 {
            return None;
        }
        for _ in n..3 {
            millis *= 10;
        }
    }
    let offset = match b.get(i)? {
        b'Z' if b.len() == i + 1 => 0,
        sign @ (b'+' | b'-') if b.len() == i + 6 && b[i + 3] == b':' => {
            let (h, m) = (two(i + 1)?, two(i + 4)?);
            if h > 23 || m > 59 {
                return None;
            }
            let secs = h * 3600 + m * 60;
            if *sign == b'-' { -secs } else { secs }
        }
        _ => return None,
    };
    // Days from 1970-01-01 (Howard Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    Some(secs * 1000 + millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_fields_and_ignores_unknown_ones() {
        let line = br#"{"ts":"2026-11-11T01:02:03.5+08:00","actor":"E1","action":"reveal","role":"courier","station":"ST01","waybill_no":"SF1","customer":"c9","field":"phone","purpose":"delivery_contact","assigned":false,"device":"d","ip":"10.0.0.1","count":3,"extra":{"x":[1,2]}}"#;
        let ev = parse_line(line, 7).unwrap().unwrap();
        assert_eq!(ev.ts_ms, 1_794_330_123_500);
        assert_eq!(ev.action, Action::Reveal);
        assert_eq!(ev.assigned, Some(false));
        assert_eq!(ev.count, 3);
        assert_eq!(ev.evidence, 7);
        assert!(matches!(ev.actor, Cow::Borrowed("E1")));
        assert!(matches!(ev.customer, Some(Cow::Borrowed("c9"))));
        let escaped = parse_line(
            br#"{"ts":"2026-11-11T01:02:03Z","actor":"E1","action":"login","device":"a\u0041"}"#,
            1,
        )
        .unwrap()
        .unwrap();
        assert_eq!(escaped.device.as_deref(), Some("aA"));
        assert_eq!(parse_line(b"  ", 1), Ok(None));
    }

    fn by_time(s: &str) -> Option<i64> {
        let t =
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
        Some(t.unix_timestamp() * 1000 + i64::from(t.millisecond()))
    }

    proptest::proptest! {
        /// The fast path agrees with `time` on every well-formed timestamp
        /// (across leap years, offsets and fraction widths) and declines
        /// what it does not read.
        #[test]
        fn fast_timestamps_agree_with_time(
            y in 0i32..=9999, mo in 1u8..=12, d in 1u8..=31, h in 0u8..=23, mi in 0u8..=59,
            s in 0u8..=60, frac in proptest::option::of("[0-9]{1,10}"),
            off in proptest::option::of((proptest::bool::ANY, 0u8..=24, 0u8..=60)),
        ) {
            let frac = frac.map(|f| format!(".{f}")).unwrap_or_default();
            let off = off.map_or("Z".to_owned(), |(neg, oh, om)| {
                format!("{}{oh:02}:{om:02}", if neg { '-' } else { '+' })
            });
            let text = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}{off}");
            if let Some(fast) = common_rfc3339_ms(text.as_bytes()) {
                proptest::prop_assert_eq!(Some(fast), by_time(&text), "{}", text);
            }
            proptest::prop_assert_eq!(parse_rfc3339_ms(&text), by_time(&text), "{}", text);
        }

        #[test]
        fn fast_path_never_accepts_what_time_refuses(s in "[0-9T:.Z+-]{18,32}") {
            if let Some(fast) = common_rfc3339_ms(s.as_bytes()) {
                proptest::prop_assert_eq!(Some(fast), by_time(&s), "{}", s);
            }
        }
    }

    #[test]
    fn common_timestamps_take_the_fast_path() {
        for (text, ms) in [
            ("2026-11-11T01:02:03.5+08:00", 1_794_330_123_500),
            ("1970-01-01T00:00:00Z", 0),
            ("2024-02-29T23:59:59.999-05:30", 1_709_270_999_999),
        ] {
            assert_eq!(common_rfc3339_ms(text.as_bytes()), Some(ms), "{text}");
            assert_eq!(by_time(text), Some(ms), "{text}");
        }
        for text in [
            "2026-11-11t01:02:03Z",
            "2026-02-30T00:00:00Z",
            "2026-11-11T01:02:03+0800",
        ] {
            assert_eq!(common_rfc3339_ms(text.as_bytes()), None, "{text}");
        }
    }

    #[test]
    fn errors_name_line_and_field_never_the_value() {
        let cases: &[(&[u8], &str)] = &[
            (b"{\"ts\":", "line 3, column 6: truncated JSON"),
            (b"not json", "line 3, column 2: not valid JSON"),
            (b"[1]", "line 3, column 1: not a JSON object"),
            (br#"{"actor":"E1","action":"login"}"#, "line 3: field `ts`: missing"),
            (
                br#"{"ts":"yesterday","actor":"E1","action":"login"}"#,
                "line 3: field `ts`: not an RFC 3339 timestamp with an offset",
            ),
            (
                br#"{"ts":"2026-11-11T01:02:03Z","actor":"E1","action":"peek"}"#,
                "line 3: field `action`: unknown action (expected reveal, search, export, login or deny)",
            ),
            (
                br#"{"ts":"2026-11-11T01:02:03Z","actor":"E1","action":"reveal","assigned":"13812345678"}"#,
                "line 3: field `assigned`: expected true or false",
            ),
            (
                br#"{"ts":"2026-11-11T01:02:03Z","actor":"E1","action":"export","count":-5}"#,
                "line 3: field `count`: expected a non-negative integer",
            ),
            (
                br#"{"ts":"2026-11-11T01:02:03Z","actor":13812345678,"action":"reveal"}"#,
                "line 3: field `actor`: expected a string",
            ),
        ];
        for (line, want) in cases {
            let got = parse_line(line, 3).map(|_| ()).err().map(|e| e.to_string());
            assert_eq!(
                got.as_deref(),
                Some(*want),
                "{}",
                String::from_utf8_lossy(line)
            );
            assert!(!want.contains("138123"));
        }
    }
}
