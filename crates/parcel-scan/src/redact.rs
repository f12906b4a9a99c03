//! Streaming redaction: scan chunk by chunk, replace each finding with its
//! operator's output, write the rest through unchanged. Replacements contain
//! no quotes, commas, backslashes or newlines, so JSON stays JSON and CSV
//! keeps its columns.

use std::collections::HashMap;
use std::io::{Read, Write};

use parcel_detect::mask::{Operator, Redactor};
use parcel_detect::{Detector, DocContext, Options, PiiType};

use crate::ScanError;
use crate::chunk::Chunker;

/// What a redaction run did.
#[derive(Debug, Clone, Default)]
pub struct RedactSummary {
    /// Bytes read.
    pub bytes: u64,
    /// Replacements made, per type.
    pub per_type: HashMap<PiiType, u64>,
}

/// Which operator each type gets.
#[derive(Debug, Clone)]
pub struct Operators {
    /// The operator for types without their own.
    pub default: Operator,
    /// Per-type overrides.
    pub per_type: HashMap<PiiType, Operator>,
}

impl Operators {
    fn for_type(&self, t: PiiType) -> Operator {
        self.per_type.get(&t).copied().unwrap_or(self.default)
    }
}

/// Everything a redaction needs besides its input and output.
#[derive(Debug)]
pub struct Redaction<'a> {
    /// The detector.
    pub detector: &'a Detector,
    /// The operators' keys.
    pub redactor: &'a Redactor,
    /// Which operator each type gets.
    pub ops: &'a Operators,
    /// Minimum score.
    pub opts: &'a Options,
    /// Redact only these types (all when `None`).
    pub types: Option<&'a [PiiType]>,
}

impl Redaction<'_> {
    /// Redacts `input` into `output` (named `out_name` in errors).
    pub fn run(
        &self,
        input: impl Read,
        output: impl Write,
        out_name: &str,
    ) -> Result<RedactSummary, ScanError> {
        redact(self, input, output, out_name)
    }
}

fn redact(
    r: &Redaction<'_>,
    input: impl Read,
    mut output: impl Write,
    out_name: &str,
) -> Result<RedactSummary, ScanError> {
    let Redaction {
        detector,
        redactor,
        ops,
        opts,
        types,
    } = *r;
    let io_err = |source| ScanError::Io {
        path: out_name.to_owned(),
        source,
    };
    let mut chunker = Chunker::new(input, crate::chunk::CHUNK);
    let mut ctx: Option<DocContext> = None;
    let mut summary = RedactSummary::default();
    loop {
        let chunk = chunker.next_chunk().map_err(|source| ScanError::Io {
            path: "input".to_owned(),
            source,
        })?;
        let Some(chunk) = chunk else { break };
        let ctx = ctx.get_or_insert_with(|| detector.document_context(&chunk.data));
        let data = &chunk.data;
        let mut pos = 0;
        for f in detector.scan(data, ctx, opts) {
            if f.start >= chunk.keep_before {
                break;
            }
            if types.is_some_and(|t| !t.contains(&f.kind)) {
                continue;
            }
            output.write_all(&data[pos..f.start]).map_err(io_err)?;
            let value = zeroize::Zeroizing::new(
                String::from_utf8_lossy(&data[f.start..f.end]).into_owned(),
            );
            let replacement = redactor.apply(ops.for_type(f.kind), f.kind, &value)?;
            output.write_all(replacement.as_bytes()).map_err(io_err)?;
            *summary.per_type.entry(f.kind).or_default() += 1;
            pos = f.end;
        }
        // Findings may end past `keep_before` only within the overlap, which
        // the next chunk starts after, so `pos` never passes the kept part by
        // more than that finding.
        let kept_end = chunk.keep_before.max(pos);
        output
            .write_all(&data[pos.min(kept_end)..kept_end])
            .map_err(io_err)?;
        summary.bytes += chunk.keep_before as u64;
        if pos > chunk.keep_before {
            // Skip the part of the next chunk that this finding already
            // covered.
            chunker.skip(pos - chunk.keep_before);
        }
    }
    output.flush().map_err(io_err)?;
    Ok(summary)
}
