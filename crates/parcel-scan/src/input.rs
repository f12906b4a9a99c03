//! Inputs: directory walks (honouring `.gitignore`, `.ignore` and
//! `.parcelguardignore`), globs, stdin, and opening files with transparent
//! gzip decompression.

use std::fs::File;
use std::io::{self, Read};
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
    let mut raw: Box<dyn Read + Send> = match input {
        Input::Stdin => Box::new(io::stdin()),
        Input::File(p) => Box::new(File::open(p)?),
    };
    // The magic bytes are read on their own and put back in front, with no
    // buffering layer: the chunker reads a whole chunk at a time straight
    // into its own buffer, and a `BufReader` in between would copy part of
    // every chunk a second time. (The gzip decoder buffers its input itself.)
    let mut head = Vec::with_capacity(2);
    (&mut raw).take(2).read_to_end(&mut head)?;
    let is_gzip = head == [0x1f, 0x8b];
    let whole = io::Cursor::new(head).chain(raw);
    if is_gzip {
        Ok(Box::new(gzip_reader(whole)))
    } else {
        Ok(Box::new(whole))
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};

    use super::{Input, open};

    fn gzip(parts: &[&[u8]]) -> Vec<u8> {
        // Each part its own gzip member, as `cat a.gz b.gz` makes.
        let mut out = Vec::new();
        for p in parts {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(p).unwrap();
            out.extend(enc.finish().unwrap());
        }
        out
    }

    /// Whatever the first bytes are, `open` gives back the whole content
    /// (the sniffed magic bytes included), decompressed when it is gzip.
    #[test]
    fn open_reads_every_byte_and_decompresses_gzip() {
        let long: Vec<u8> = (0..300_000u32)
            .map(|i| b"0123456789\n"[i as usize % 11])
            .collect();
        let cases: Vec<(&str, Vec<u8>, Vec<u8>)> = vec![
            ("empty", vec![], vec![]),
            ("one byte", b"x".to_vec(), b"x".to_vec()),
            ("half a magic", vec![0x1f], vec![0x1f]),
            (
                "0x1f then not 0x8b",
                vec![0x1f, 0x8c, b'a'],
                vec![0x1f, 0x8c, b'a'],
            ),
            ("plain text", long.clone(), long.clone()),
            ("gzip", gzip(&[&long]), long.clone()),
            (
                "multi-member gzip",
                gzip(&[b"ab\n", b"cd\n"]),
                b"ab\ncd\n".to_vec(),
            ),
        ];
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes, want) in cases {
            let path = dir.path().join("f");
            std::fs::write(&path, &bytes).unwrap();
            let mut got = Vec::new();
            open(&Input::File(path))
                .unwrap()
                .read_to_end(&mut got)
                .unwrap();
            assert!(
                got == want,
                "{name}: {} bytes read, {} expected",
                got.len(),
                want.len()
            );
        }
    }
}
