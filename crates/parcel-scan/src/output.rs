//! Output formats: JSON Lines (one finding per line), SARIF 2.1.0 for
//! code-scanning UIs, and an aligned table for people.

use std::io::{self, Write};

use serde_json::{Value, json};

use crate::scan::{FileReport, Located};

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

    /// The JSON object for one finding (the JSONL output contract).
    pub fn finding_json(path: &str, l: &Located, explain: bool) -> Value {
        let f = &l.finding;
        let mut obj = json!({
            "path": path,
            "type": f.kind.as_str(),
            "start": f.start,
            "end": f.end,
            "line": l.line,
            "column": l.column,
            "score": round2(f.score),
            "validator": f.validator,
        });
        if let (Some(map), Some(v)) = (obj.as_object_mut(), &l.value) {
            map.insert("value".to_owned(), json!(v));
        }
        if explain && let Some(map) = obj.as_object_mut() {
            map.insert("reasons".to_owned(), json!(f.reasons));
        }
        obj
    }

    /// Writes one file's findings.
    pub fn file(&mut self, report: &FileReport) -> io::Result<()> {
        for l in &report.findings {
            match self.format {
                Format::Jsonl => {
                    serde_json::to_writer(
                        &mut self.out,
                        &Self::finding_json(&report.path, l, self.explain),
                    )?;
                    self.out.write_all(b"\n")?;
                }
                Format::Table => {
                    let f = &l.finding;
                    let loc = format!("{}:{}:{}", report.path, l.line, l.column);
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
                    let f = &l.finding;
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
                                "artifactLocation": { "uri": report.path },
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
        if self.format != Format::Sarif {
            self.out.flush()?;
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
