//! Output formats: JSON Lines (one finding per line), SARIF 2.1.0 for
//! code-scanning UIs, and an aligned table for people.

use std::io::{self, Write};

use serde_json::{Value, json};

use serde::Serialize;

use crate::scan::Located;

/// One JSONL line: the output contract of `--format jsonl`.
#[derive(Serialize)]
struct JsonFinding<'a> {
    path: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    start: usize,
    end: usize,
    line: u64,
    column: u64,
    score: f64,
    validator: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasons: Option<&'a [String]>,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per finding.
    Jsonl,
    /// A SARIF 2.1.0 log, written when the scan ends.
    Sarif,
    /// An aligned table.
    Table,
}

/// Writes reports in one format.
#[derive(Debug)]
pub struct Printer<W: Write> {
    out: W,
    format: Format,
    explain: bool,
    sarif_results: Vec<Value>,
}

fn round2(x: f32) -> f64 {
    (f64::from(x) * 100.0).round() / 100.0
}

impl<W: Write> Printer<W> {
    /// A printer writing to `out`.
    pub fn new(out: W, format: Format, explain: bool) -> Self {
        Self {
            out,
            format,
            explain,
            sarif_results: Vec::new(),
        }
    }

    /// Writes one batch of findings from the file `path`.
    pub fn findings(&mut self, path: &str, findings: &[Located]) -> io::Result<()> {
        for l in findings {
            let f = &l.finding;
            match self.format {
                Format::Jsonl => {
                    let line = JsonFinding {
                        path,
                        kind: f.kind.as_str(),
                        start: f.start,
                        end: f.end,
                        line: l.line,
                        column: l.column,
                        score: round2(f.score),
                        validator: f.validator,
                        value: l.value.as_deref(),
                        reasons: self.explain.then_some(f.reasons.as_slice()),
                    };
                    serde_json::to_writer(&mut self.out, &line)?;
                    self.out.write_all(b"\n")?;
                }
                Format::Table => {
                    let loc = format!("{path}:{}:{}", l.line, l.column);
                    write!(
                        self.out,
                        "{loc:<40} {:<15} {:>5.2}  {}",
                        f.kind.as_str(),
                        f.score,
                        f.validator
                    )?;
                    if let Some(v) = &l.value {
                        write!(self.out, "  {v}")?;
                    }
                    writeln!(self.out)?;
                    if self.explain {
                        for r in &f.reasons {
                            writeln!(self.out, "    - {r}")?;
                        }
                    }
                }
                Format::Sarif => {
                    let mut text = format!(
                        "{} (score {:.2}, validated by {})",
                        f.kind.as_str(),
                        f.score,
                        f.validator
                    );
                    if let Some(v) = &l.value {
                        text.push_str(&format!(": {v}"));
                    }
                    self.sarif_results.push(json!({
                        "ruleId": f.kind.as_str(),
                        "level": if f.score >= 0.8 { "error" } else { "warning" },
                        "message": { "text": text },
                        "locations": [{
                            "physicalLocation": {
                                "artifactLocation": { "uri": path },
                                "region": {
                                    "startLine": l.line,
                                    "byteOffset": f.start,
                                    "byteLength": f.end - f.start,
                                }
                            }
                        }],
                        "properties": { "score": round2(f.score), "validator": f.validator },
                    }));
                }
            }
        }
        Ok(())
    }

    /// Finishes the output (writes the SARIF log).
    pub fn finish(mut self) -> io::Result<()> {
        if self.format == Format::Sarif {
            let rules: Vec<Value> = parcel_detect::PiiType::ALL
                .iter()
                .map(|t| json!({ "id": t.as_str(), "shortDescription": { "text": format!("personal data: {t}") } }))
                .collect();
            let log = json!({
                "version": "2.1.0",
                "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
                "runs": [{
                    "tool": { "driver": {
                        "name": "parcelguard",
                        "version": env!("CARGO_PKG_VERSION"),
                        "rules": rules,
                    }},
                    "results": std::mem::take(&mut self.sarif_results),
                }]
            });
            serde_json::to_writer_pretty(&mut self.out, &log)?;
            self.out.write_all(b"\n")?;
        }
        self.out.flush()
    }
}
