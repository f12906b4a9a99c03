//! Policy test cases: a TOML file of request → expected decision, run by
//! `parcelguard policy test DIR CASES` (and in CI over the default set).
//!
//! ```toml
//! [defaults.principal]          # merged under every case's `principal`
//! id = "E1"
//! role = "courier"
//! [defaults.shipment]
//! waybill_no = "SF1000000000001"
//! status = "out_for_delivery"
//! courier = "E1"
//! [defaults.reveal]
//! party = "recipient"
//! field = "phone"
//! purpose = "delivery_contact"
//! now = 2000
//!
//! [[case]]
//! name = "a courier calls the recipient of their own parcel"
//! expect = "allow"
//!
//! [[case]]
//! name = "another courier's parcel"
//! shipment = { courier = "E2" }
//! unset = ["shipment.window"]   # drop a default
//! expect = "deny"
//! reason = "not_assigned"
//! ```

use serde::Deserialize;

use crate::{Decision, Engine, PolicyError, Problem, RevealRequest};

/// One case's outcome.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// The case's name.
    pub name: String,
    /// Line of the case in the file (1-based; 0 when not found).
    pub line: usize,
    /// `allow` or `deny`.
    pub expected: String,
    /// The expected reason code, if given.
    pub expected_reason: Option<String>,
    /// What the engine decided.
    pub decision: Decision,
}

impl CaseResult {
    /// Whether the decision is the expected one.
    pub fn passed(&self) -> bool {
        let decided = if self.decision.allowed {
            "allow"
        } else {
            "deny"
        };
        decided == self.expected
            && self
                .expected_reason
                .as_ref()
                .is_none_or(|r| self.decision.reason.as_ref() == Some(r))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    defaults: toml::Table,
    #[serde(default, rename = "case")]
    cases: Vec<toml::Table>,
}

fn problem(file: &str, line: usize, message: String) -> PolicyError {
    PolicyError::Invalid(vec![Problem {
        file: file.to_owned(),
        line,
        column: if line > 0 { 1 } else { 0 },
        policy: None,
        message,
    }])
}

fn merge(base: &toml::Table, over: Option<&toml::Value>) -> toml::Table {
    let mut out = base.clone();
    if let Some(toml::Value::Table(t)) = over {
        for (k, v) in t {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

/// One parsed case.
#[derive(Debug, Clone)]
pub struct Case {
    /// Name.
    pub name: String,
    /// Line in the file (0 when not found).
    pub line: usize,
    /// The request, defaults applied.
    pub request: RevealRequest,
    /// `allow` or `deny`.
    pub expected: String,
    /// Expected reason code.
    pub expected_reason: Option<String>,
}

/// Parses the cases in `text` and decides each with `engine`. A malformed
/// file or case is an error naming its line (`file` names it in messages);
/// failing cases are results, for the caller to report.
pub fn run(engine: &Engine, file: &str, text: &str) -> Result<Vec<CaseResult>, PolicyError> {
    let cases = parse(file, text)?;
    let mut results = Vec::with_capacity(cases.len());
    for c in cases {
        let decision = engine.decide(&c.request)?;
        results.push(CaseResult {
            name: c.name,
            line: c.line,
            expected: c.expected,
            expected_reason: c.expected_reason,
            decision,
        });
    }
    Ok(results)
}

/// Parses a cases file into its cases, defaults applied.
pub fn parse(file: &str, text: &str) -> Result<Vec<Case>, PolicyError> {
    let parsed: File = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(0, |s| {
            text[..s.start.min(text.len())].matches('\n').count() + 1
        });
        problem(file, line, e.message().to_owned())
    })?;
    let section = |name: &str| match parsed.defaults.get(name) {
        Some(toml::Value::Table(t)) => t.clone(),
        _ => toml::Table::new(),
    };
    let defaults = [section("principal"), section("shipment"), section("reveal")];
    let mut results = Vec::with_capacity(parsed.cases.len());
    for (i, case) in parsed.cases.iter().enumerate() {
        let name = case
            .get("name")
            .and_then(toml::Value::as_str)
            .map_or_else(|| format!("case {}", i + 1), str::to_owned);
        let line = text
            .find(&format!("name = {}", toml::Value::String(name.clone())))
            .map_or(0, |o| text[..o].matches('\n').count() + 1);
        let bad = |message: String| problem(file, line, format!("case `{name}`: {message}"));
        for key in case.keys() {
            if !matches!(
                key.as_str(),
                "name" | "principal" | "shipment" | "reveal" | "unset" | "expect" | "reason"
            ) {
                return Err(bad(format!("unknown key `{key}`")));
            }
        }
        let mut parts = [
            merge(&defaults[0], case.get("principal")),
            merge(&defaults[1], case.get("shipment")),
            merge(&defaults[2], case.get("reveal")),
        ];
        if let Some(unset) = case.get("unset").and_then(toml::Value::as_array) {
            for path in unset {
                let path = path.as_str().unwrap_or("");
                let (section, key) = path.split_once('.').unwrap_or(("", path));
                let idx = match section {
                    "principal" => 0,
                    "shipment" => 1,
                    "reveal" => 2,
                    _ => return Err(bad(format!("unset: `{path}` is not section.key"))),
                };
                parts[idx].remove(key);
            }
        }
        let [principal, shipment, reveal] = parts;
        let mut whole = toml::Table::new();
        whole.insert("principal".to_owned(), toml::Value::Table(principal));
        whole.insert("shipment".to_owned(), toml::Value::Table(shipment));
        whole.insert("reveal".to_owned(), toml::Value::Table(reveal));
        let request: RevealRequest = toml::Value::Table(whole)
            .try_into()
            .map_err(|e: toml::de::Error| bad(e.message().to_owned()))?;
        let expected = match case.get("expect").and_then(toml::Value::as_str) {
            Some(e @ ("allow" | "deny")) => e.to_owned(),
            _ => return Err(bad("expect must be \"allow\" or \"deny\"".to_owned())),
        };
        let expected_reason = case
            .get("reason")
            .and_then(toml::Value::as_str)
            .map(str::to_owned);
        results.push(Case {
            name,
            line,
            request,
            expected,
            expected_reason,
        });
    }
    if results.is_empty() {
        return Err(problem(file, 0, "no [[case]] entries".to_owned()));
    }
    Ok(results)
}
