//! The parallel scan pipeline.
//!
//! One reader thread turns inputs into chunks (bounded channel, so memory
//! stays bounded however large the files), `jobs` workers run the detector,
//! and the calling thread puts results back in input order, adds line and
//! column numbers and hands each file's report to a callback as soon as it
//! is complete. Output order is therefore the input order, whatever `jobs`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded};
use parcel_detect::{Detector, DocContext, Finding, Options, PiiType};

use crate::chunk::{CHUNK, Chunk, Chunker};
use crate::input::{self, Input};

/// Options for a scan.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Worker threads (at least 1).
    pub jobs: usize,
    /// Chunk size in bytes.
    pub chunk_size: usize,
    /// Detector options (minimum score, explanations).
    pub detect: Options,
    /// Report only these types (all when `None`).
    pub types: Option<Vec<PiiType>>,
    /// Whether findings carry their value, and how much of it.
    pub values: ValueMode,
}

/// How much of a finding's value a report carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ValueMode {
    /// None (the default: reports never hold personal data).
    #[default]
    Hidden,
    /// The GB/T 41833 mask (`138******78`).
    Masked,
    /// The full value (`--show-values=full`).
    Full,
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            jobs: std::thread::available_parallelism().map_or(1, usize::from),
            chunk_size: CHUNK,
            detect: Options::default(),
            types: None,
            values: ValueMode::Hidden,
        }
    }
}

/// A finding with its position in the input.
#[derive(Debug, Clone)]
pub struct Located {
    /// The finding; `start`/`end` are absolute byte offsets in the
    /// (decompressed) input.
    pub finding: Finding,
    /// 1-based line.
    pub line: u64,
    /// 1-based byte column.
    pub column: u64,
    /// The value, when asked for with [`ValueMode`].
    pub value: Option<String>,
}

/// Something wrong with one input; the scan goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileIssue {
    /// Short machine-readable kind: `unreadable`, `broken_gzip`,
    /// `invalid_utf8`.
    pub kind: &'static str,
    /// Human-readable detail (never file content).
    pub message: String,
}

/// What [`run`] reports, in input order: batches of findings as each chunk
/// is done (so memory stays bounded however many findings a file holds),
/// then the file's totals.
#[derive(Debug, Clone)]
pub enum FileEvent {
    /// Findings from the next chunk of a file, in offset order.
    Findings {
        /// Index of the input in the list given to [`run`].
        index: usize,
        /// The input's display name.
        path: std::sync::Arc<str>,
        /// The findings.
        findings: Vec<Located>,
    },
    /// The file is finished.
    Done(FileReport),
}

/// Totals for one input.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// Index of the input in the list given to [`run`].
    pub index: usize,
    /// The input's display name.
    pub path: std::sync::Arc<str>,
    /// Number of findings.
    pub findings: u64,
    /// Per type.
    pub per_type: BTreeMap<PiiType, u64>,
    /// Bytes scanned (decompressed).
    pub bytes: u64,
    /// Problems met.
    pub issues: Vec<FileIssue>,
    /// Skipped because it looks binary (NUL bytes near the start).
    pub binary: bool,
}

/// Totals over a whole run.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Inputs seen.
    pub files: u64,
    /// Inputs skipped as binary.
    pub binary_skipped: u64,
    /// Inputs with problems.
    pub files_with_issues: u64,
    /// Bytes scanned.
    pub bytes: u64,
    /// Findings per type.
    pub per_type: BTreeMap<PiiType, u64>,
    /// Wall time.
    pub elapsed: Duration,
}

impl Summary {
    /// Total findings.
    pub fn findings(&self) -> u64 {
        self.per_type.values().sum()
    }

    /// Throughput in MB/s (10^6 bytes).
    pub fn mb_per_s(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.bytes as f64 / 1e6 / secs
        } else {
            0.0
        }
    }
}

struct Work {
    file: usize,
    seq: usize,
    chunk: Chunk,
    ctx: Arc<DocContext>,
}

struct LocalFinding {
    finding: Finding,
    value: Option<String>,
    nl_before: u64,
    line_start: Option<usize>,
}

enum Event {
    Chunk {
        file: usize,
        seq: usize,
        base: u64,
        keep_before: usize,
        newlines: u64,
        last_newline: Option<usize>,
        invalid_utf8: bool,
        findings: Vec<LocalFinding>,
    },
    FileEnd {
        file: usize,
        chunks: usize,
        issue: Option<FileIssue>,
        binary: bool,
    },
}

fn describe_read_error(e: &std::io::Error) -> FileIssue {
    let gz = e.kind() == std::io::ErrorKind::InvalidInput
        || e.kind() == std::io::ErrorKind::InvalidData
        || e.kind() == std::io::ErrorKind::UnexpectedEof;
    FileIssue {
        kind: if gz { "broken_gzip" } else { "unreadable" },
        message: if gz {
            format!("corrupt or truncated gzip data: {e}")
        } else {
            e.to_string()
        },
    }
}

fn read_all(
    inputs: &[Input],
    chunk_size: usize,
    detector: &Detector,
    work: &Sender<Work>,
    events: &Sender<Event>,
    spares: &Receiver<Vec<u8>>,
) {
    for (file, inp) in inputs.iter().enumerate() {
        let mut chunks = 0;
        let mut issue = None;
        let mut binary = false;
        match input::open(inp) {
            Err(e) => issue = Some(describe_read_error(&e)),
            Ok(reader) => {
                let mut chunker = Chunker::new(reader, chunk_size);
                let mut ctx: Option<Arc<DocContext>> = None;
                loop {
                    match chunker.next_chunk_in(spares.try_recv().unwrap_or_default()) {
                        Ok(Some(chunk)) => {
                            let ctx = match &ctx {
                                Some(c) => Arc::clone(c),
                                None => {
                                    let head = &chunk.data[..chunk.data.len().min(8192)];
                                    if memchr::memchr(0, head).is_some() {
                                        binary = true;
                                        break;
                                    }
                                    let c = Arc::new(detector.document_context(head));
                                    ctx = Some(Arc::clone(&c));
                                    c
                                }
                            };
                            let seq = chunks;
                            chunks += 1;
                            if work
                                .send(Work {
                                    file,
                                    seq,
                                    chunk,
                                    ctx,
                                })
                                .is_err()
                            {
                                return;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            issue = Some(describe_read_error(&e));
                            break;
                        }
                    }
                }
            }
        }
        if events
            .send(Event::FileEnd {
                file,
                chunks,
                issue,
                binary,
            })
            .is_err()
        {
            return;
        }
    }
}

/// Scans one chunk; its buffer goes back to the reader through `spares`
/// (or is dropped when enough are waiting there).
fn scan_chunk(detector: &Detector, opts: &ScanOptions, w: Work, spares: &Sender<Vec<u8>>) -> Event {
    let Work {
        file,
        seq,
        chunk,
        ctx,
    } = w;
    let data = &chunk.data;
    let parcel_detect::Scanned {
        findings: found,
        text,
    } = detector.scan_text(data, &ctx, &opts.detect);
    let mut findings = Vec::with_capacity(found.len());
    // Newlines before `counted.0`: when findings are close, counting on
    // from there is shorter than from the scan's nearest mark.
    let mut counted = (0usize, 0u64);
    let mut pos = 0usize;
    let mut line_start: Option<usize> = None;
    for f in found {
        if f.start >= chunk.keep_before {
            break;
        }
        if let Some(types) = &opts.types
            && !types.contains(&f.kind)
        {
            continue;
        }
        // One search back to the finding's line start; the line count
        // comes from the scan's own newline count.
        if let Some(last) = memchr::memrchr(b'\n', &data[pos..f.start]) {
            let ls = pos + last + 1;
            counted = (ls, text.newlines_before_from(data, ls, counted));
            line_start = Some(ls);
        }
        pos = f.start;
        let value = match opts.values {
            ValueMode::Hidden => None,
            ValueMode::Masked => Some(parcel_detect::mask::mask(
                f.kind,
                &String::from_utf8_lossy(&data[f.start..f.end]),
            )),
            ValueMode::Full => Some(String::from_utf8_lossy(&data[f.start..f.end]).into_owned()),
        };
        findings.push(LocalFinding {
            value,
            finding: f,
            nl_before: counted.1,
            line_start,
        });
    }
    let kept = &data[..chunk.keep_before];
    let newlines = text.newlines_before(data, chunk.keep_before);
    let last_newline = memchr::memrchr(b'\n', kept);
    // An incomplete character at a cut inside a long line is fine.
    let invalid_utf8 = text.has_invalid_utf8(data, chunk.keep_before);
    let _ = spares.try_send(chunk.data);
    Event::Chunk {
        file,
        seq,
        base: chunk.base,
        keep_before: chunk.keep_before,
        newlines,
        last_newline,
        invalid_utf8,
        findings,
    }
}

#[derive(Default)]
struct FileState {
    chunks: BTreeMap<usize, Event>,
    total_chunks: Option<usize>,
    next_seq: usize,
    lines_before: u64,
    last_line_start: u64,
    report: Option<FileReport>,
}

/// Scans `inputs`, calling `on_event` with findings and file totals in
/// input order.
pub fn run(
    detector: &Detector,
    inputs: &[Input],
    opts: &ScanOptions,
    mut on_event: impl FnMut(FileEvent),
) -> Summary {
    let started = Instant::now();
    let jobs = opts.jobs.max(1);
    let (work_tx, work_rx): (Sender<Work>, Receiver<Work>) = bounded(jobs * 2);
    // Bounded too: on dense data a chunk's findings outweigh the chunk, and
    // workers that outrun the output thread (stdout piped into a slower
    // consumer) would otherwise pile them up: 306 MB peak RSS on a 200 MB
    // dense file through `gzip -6`, against 93 MB bounded. The output
    // thread only ever drains this channel, so a full one cannot deadlock;
    // its reorder map holds at most the chunks in flight.
    let (ev_tx, ev_rx) = bounded::<Event>(jobs * 2 + 2);
    // Finished chunks' buffers, back to the reader: as many as can be in
    // flight, so that none is allocated again once the pipeline is full.
    let (spare_tx, spare_rx) = bounded::<Vec<u8>>(jobs * 2 + 2);
    let mut summary = Summary::default();
    std::thread::scope(|s| {
        {
            let ev_tx = ev_tx.clone();
            s.spawn(move || {
                read_all(
                    inputs,
                    opts.chunk_size,
                    detector,
                    &work_tx,
                    &ev_tx,
                    &spare_rx,
                );
            });
        }
        for _ in 0..jobs {
            let work_rx = work_rx.clone();
            let ev_tx = ev_tx.clone();
            let spare_tx = spare_tx.clone();
            s.spawn(move || {
                for w in work_rx {
                    if ev_tx
                        .send(scan_chunk(detector, opts, w, &spare_tx))
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
        drop(spare_tx);
        drop(ev_tx);
        drop(work_rx);

        let mut states: HashMap<usize, FileState> = HashMap::new();
        let mut current = 0usize;
        for ev in ev_rx {
            let file = match &ev {
                Event::Chunk { file, .. } | Event::FileEnd { file, .. } => *file,
            };
            let st = states.entry(file).or_default();
            match ev {
                Event::FileEnd {
                    chunks,
                    issue,
                    binary,
                    ..
                } => {
                    st.total_chunks = Some(chunks);
                    let rep = st.report.get_or_insert_with(|| new_report(file, inputs));
                    rep.issues.extend(issue);
                    rep.binary = binary;
                }
                chunk @ Event::Chunk { seq, .. } => {
                    st.chunks.insert(seq, chunk);
                }
            }
            // Drain everything that is now in order.
            while let Some(st) = states.get_mut(&current) {
                while let Some(ev) = st.chunks.remove(&st.next_seq) {
                    let findings = apply_chunk(st, ev, current, inputs);
                    st.next_seq += 1;
                    if !findings.is_empty() {
                        let path = st.report.as_ref().map_or_else(
                            || new_report(current, inputs).path,
                            |r| std::sync::Arc::clone(&r.path),
                        );
                        on_event(FileEvent::Findings {
                            index: current,
                            path,
                            findings,
                        });
                    }
                }
                if st.total_chunks == Some(st.next_seq) {
                    let report = st
                        .report
                        .take()
                        .unwrap_or_else(|| new_report(current, inputs));
                    states.remove(&current);
                    // Paths and counts only: never a value.
                    tracing::debug!(
                        path = %report.path,
                        bytes = report.bytes,
                        findings = report.findings,
                        issues = report.issues.len(),
                        "file scanned"
                    );
                    add_to_summary(&mut summary, &report);
                    on_event(FileEvent::Done(report));
                    current += 1;
                } else {
                    break;
                }
            }
        }
    });
    summary.elapsed = started.elapsed();
    summary
}

fn new_report(index: usize, inputs: &[Input]) -> FileReport {
    FileReport {
        index,
        path: inputs
            .get(index)
            .map(Input::display)
            .unwrap_or_default()
            .into(),
        findings: 0,
        per_type: BTreeMap::new(),
        bytes: 0,
        issues: Vec::new(),
        binary: false,
    }
}

fn apply_chunk(st: &mut FileState, ev: Event, file: usize, inputs: &[Input]) -> Vec<Located> {
    let Event::Chunk {
        base,
        keep_before,
        newlines,
        last_newline,
        invalid_utf8,
        findings,
        ..
    } = ev
    else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(findings.len());
    for lf in findings {
        let mut f = lf.finding;
        let line = st.lines_before + lf.nl_before + 1;
        let column = match lf.line_start {
            Some(ls) => (f.start - ls) as u64 + 1,
            None => base + f.start as u64 - st.last_line_start + 1,
        };
        f.start += base as usize;
        f.end += base as usize;
        out.push(Located {
            finding: f,
            line,
            column,
            value: lf.value,
        });
    }
    let rep = st.report.get_or_insert_with(|| new_report(file, inputs));
    rep.findings += out.len() as u64;
    for l in &out {
        *rep.per_type.entry(l.finding.kind).or_default() += 1;
    }
    rep.bytes += keep_before as u64;
    if invalid_utf8 && !rep.issues.iter().any(|i| i.kind == "invalid_utf8") {
        rep.issues.push(FileIssue {
            kind: "invalid_utf8",
            message: "contains invalid UTF-8; offsets count raw bytes".to_owned(),
        });
    }
    st.lines_before += newlines;
    if let Some(nl) = last_newline {
        st.last_line_start = base + nl as u64 + 1;
    }
    out
}

fn add_to_summary(summary: &mut Summary, report: &FileReport) {
    summary.files += 1;
    summary.bytes += report.bytes;
    if report.binary {
        summary.binary_skipped += 1;
    }
    if !report.issues.is_empty() {
        summary.files_with_issues += 1;
    }
    for (t, n) in &report.per_type {
        *summary.per_type.entry(*t).or_default() += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanning_logs_no_personal_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("leak.csv");
        std::fs::write(&path, "收件人,手机\n王小明,13812345678\n").unwrap();
        let d = Detector::new().unwrap();
        let opts = ScanOptions {
            values: ValueMode::Full,
            ..ScanOptions::default()
        };
        let (found, logs) = parcel_telemetry::capture(|| {
            let mut n = 0;
            run(&d, &[Input::File(path.clone())], &opts, |ev| {
                if let FileEvent::Findings { findings, .. } = ev {
                    n += findings.len();
                }
            });
            n
        });
        assert_eq!(found, 2);
        assert!(logs.text().contains("file scanned"), "{}", logs.text());
        logs.assert_absent(&["13812345678", "王小明"]);
    }

    #[test]
    fn finds_across_chunks_with_right_lines_and_stable_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::new();
        for i in 0..3000 {
            text.push_str(&format!("line {i} 收件人电话13812345678 ok\n"));
        }
        let a = dir.path().join("a.log");
        std::fs::write(&a, &text).unwrap();
        let gz = dir.path().join("b.log.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut enc, text.as_bytes()).unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        let broken = dir.path().join("c.log.gz");
        std::fs::write(&broken, [0x1f, 0x8b, 8, 0, 1, 2, 3]).unwrap();

        let d = Detector::new().unwrap();
        let inputs = vec![Input::File(a), Input::File(gz), Input::File(broken)];
        for jobs in [1, 3] {
            let opts = ScanOptions {
                jobs,
                chunk_size: 4096,
                ..ScanOptions::default()
            };
            let mut reports = Vec::new();
            let mut found: Vec<Vec<Located>> = vec![Vec::new(); inputs.len()];
            let summary = run(&d, &inputs, &opts, |ev| match ev {
                FileEvent::Findings {
                    index, findings, ..
                } => found[index].extend(findings),
                FileEvent::Done(r) => reports.push(r),
            });
            assert_eq!(
                reports.iter().map(|r| r.index).collect::<Vec<_>>(),
                vec![0, 1, 2]
            );
            for (r, fs) in reports[..2].iter().zip(&found) {
                assert_eq!(fs.len(), 3000, "{}", r.path);
                assert_eq!(r.findings, 3000);
                for (i, l) in fs.iter().enumerate() {
                    assert_eq!(l.line, i as u64 + 1);
                    let line_text = text.lines().nth(i).unwrap();
                    let col = line_text.rfind("138").unwrap() as u64 + 1;
                    assert_eq!(l.column, col);
                    assert_eq!(&text[l.finding.start..l.finding.end], "13812345678");
                }
            }
            assert_eq!(reports[2].issues[0].kind, "broken_gzip");
            assert_eq!(summary.findings(), 6000);
        }
    }
}
