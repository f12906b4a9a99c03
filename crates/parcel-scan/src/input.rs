//! Inputs: directory walks (honouring `.gitignore`, `.ignore` and
//! `.parcelguardignore`), globs, stdin, and opening files with transparent
//! gzip decompression.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use ignore::WalkBuilder;
use ignore::overrides::OverrideBuilder;

use crate::ScanError;

/// One thing to scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Standard input.
    Stdin,
    /// A file.
    File(PathBuf),
}

impl Input {
    /// The name used in output (`<stdin>` for standard input).
    pub fn display(&self) -> String {
        match self {
            Self::Stdin => "<stdin>".to_owned(),
            Self::File(p) => p.display().to_string(),
        }
    }
}

/// How to walk directories.
#[derive(Debug, Clone, Default)]
pub struct WalkOptions {
    /// Include hidden files and folders.
    pub hidden: bool,
    /// Include/exclude globs (`!` excludes), as in ripgrep's `--glob`.
    pub globs: Vec<String>,
}

/// A path that could not be walked; the walk goes on without it.
#[derive(Debug, Clone)]
pub struct WalkIssue {
    /// The path.
    pub path: String,
    /// What went wrong.
    pub message: String,
}

/// Expands `paths` (`-` for stdin) into the inputs to scan, in a stable order
/// (sorted by path within each directory).
pub fn collect(
    paths: &[String],
    opts: &WalkOptions,
) -> Result<(Vec<Input>, Vec<WalkIssue>), ScanError> {
    let mut inputs = Vec::new();
    let mut issues = Vec::new();
    for p in paths {
        if p == "-" {
            inputs.push(Input::Stdin);
            continue;
        }
        let root = Path::new(p);
        let mut ob = OverrideBuilder::new(root);
        for g in &opts.globs {
            ob.add(g).map_err(|e| ScanError::Glob {
                glob: g.clone(),
                reason: e.to_string(),
            })?;
        }
        let overrides = ob.build().map_err(|e| ScanError::Glob {
            glob: opts.globs.join(","),
            reason: e.to_string(),
        })?;
        let walker = WalkBuilder::new(root)
            .hidden(!opts.hidden)
            .overrides(overrides)
            .add_custom_ignore_filename(".parcelguardignore")
            .require_git(false)
            .sort_by_file_path(|a, b| a.cmp(b))
            .build();
        for entry in walker {
            match entry {
                Ok(e) if e.file_type().is_some_and(|t| t.is_file()) => {
                    inputs.push(Input::File(e.into_path()));
                }
                Ok(_) => {}
                Err(err) => issues.push(WalkIssue {
                    path: p.clone(),
                    message: err.to_string(),
                }),
            }
        }
        if !root.exists() {
            issues.push(WalkIssue {
                path: p.clone(),
                message: "no such file or directory".to_owned(),
            });
        }
    }
    Ok((inputs, issues))
}

/// A gzip decoder over `reader` (multi-member streams, as `gzip` and `pigz`
/// write them).
pub fn gzip_reader<R: Read>(reader: R) -> impl Read {
    MultiGzDecoder::new(reader)
}

/// Opens an input for reading, decompressing gzip (by magic bytes) on the
/// fly.
pub fn open(input: &Input) -> io::Result<Box<dyn Read + Send>> {
    let raw: Box<dyn Read + Send> = match input {
        Input::Stdin => Box::new(io::stdin()),
        Input::File(p) => Box::new(File::open(p)?),
    };
    let mut reader = BufReader::with_capacity(256 * 1024, raw);
    let head = io::BufRead::fill_buf(&mut reader)?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(gzip_reader(reader)))
    } else {
        Ok(Box::new(reader))
    }
}
