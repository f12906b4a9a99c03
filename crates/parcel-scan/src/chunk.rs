//! Line-aligned chunking in bounded memory.
//!
//! No pattern the detector knows spans a newline, so a chunk that ends after
//! a newline loses nothing. A line longer than a chunk is cut anyway, and its
//! last [`OVERLAP`] bytes are scanned again with the next chunk; findings
//! starting in that overlap are left to the next chunk, so none is reported
//! twice and none is lost at the cut.

use std::io::{self, Read};

/// Default chunk size.
pub const CHUNK: usize = 1 << 20;
/// Bytes re-scanned after a cut inside a line: longer than any finding.
pub const OVERLAP: usize = 512;

/// One chunk of an input.
#[derive(Debug)]
pub struct Chunk {
    /// Offset of `data[0]` in the (decompressed) input.
    pub base: u64,
    /// The bytes, starting at a line start or inside the previous chunk's
    /// overlap.
    pub data: Vec<u8>,
    /// Findings starting at or after this index belong to the next chunk.
    pub keep_before: usize,
}

/// Reads an input as a sequence of [`Chunk`]s.
pub struct Chunker<R> {
    reader: R,
    size: usize,
    carry: Vec<u8>,
    base: u64,
    eof: bool,
}

impl<R: Read> std::fmt::Debug for Chunker<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chunker").field("base", &self.base).finish()
    }
}

impl<R: Read> Chunker<R> {
    /// Chunks of about `size` bytes (at least `4 * OVERLAP`).
    pub fn new(reader: R, size: usize) -> Self {
        Self {
            reader,
            size: size.max(4 * OVERLAP),
            carry: Vec::new(),
            base: 0,
            eof: false,
        }
    }

    /// Drops the first `n` bytes of what the next chunk would start with
    /// (bytes a finding at the end of the previous chunk already covered).
    pub fn skip(&mut self, n: usize) {
        let n = n.min(self.carry.len());
        self.carry.drain(..n);
        self.base += n as u64;
    }

    /// The next chunk, or `None` at the end of input.
    pub fn next_chunk(&mut self) -> io::Result<Option<Chunk>> {
        self.next_chunk_in(Vec::new())
    }

    /// [`next_chunk`](Self::next_chunk), filling `spare` (a buffer a
    /// finished chunk gave back: its contents are dropped, its capacity
    /// kept). Reusing buffers spares the allocator a fresh chunk-sized
    /// block, and the kernel its zeroed pages, for every chunk.
    pub fn next_chunk_in(&mut self, mut spare: Vec<u8>) -> io::Result<Option<Chunk>> {
        if self.eof && self.carry.is_empty() {
            return Ok(None);
        }
        spare.clear();
        spare.extend_from_slice(&self.carry);
        self.carry.clear();
        let mut data = spare;
        if !self.eof {
            // Room for the whole chunk up front (and `read_to_end`'s small
            // end-of-input probe): growing by doubling copied every chunk
            // about twice.
            data.reserve(self.size + 64);
            // `take` + `read_to_end` fills without zeroing the buffer first.
            let want = self.size as u64;
            let got = (&mut self.reader).take(want).read_to_end(&mut data)?;
            if (got as u64) < want {
                self.eof = true;
            }
        }
        let base = self.base;
        if self.eof {
            let len = data.len();
            self.base += len as u64;
            if len == 0 {
                return Ok(None);
            }
            return Ok(Some(Chunk {
                base,
                data,
                keep_before: len,
            }));
        }
        // Cut after the last newline; without one, cut inside the line and
        // re-scan an overlap.
        let (keep_before, next_start, overlap) = match memchr::memrchr(b'\n', &data) {
            Some(nl) => {
                let cut = nl + 1;
                (cut, cut, false)
            }
            None => {
                let cut = data.len() - OVERLAP;
                (cut, cut, true)
            }
        };
        self.carry.extend_from_slice(&data[next_start..]);
        let scan_end = if overlap { data.len() } else { keep_before };
        data.truncate(scan_end);
        self.base += next_start as u64;
        Ok(Some(Chunk {
            base,
            data,
            keep_before,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(input: &[u8], size: usize) -> Vec<Chunk> {
        let mut c = Chunker::new(input, size);
        let mut out = Vec::new();
        while let Some(ch) = c.next_chunk().unwrap() {
            out.push(ch);
        }
        out
    }

    #[test]
    fn line_aligned_chunks_cover_input_exactly_once() {
        let text: Vec<u8> = (0..5000)
            .flat_map(|i| format!("line {i} 13812345678\n").into_bytes())
            .collect();
        let cs = chunks(&text, 4096);
        assert!(cs.len() > 10);
        let mut rebuilt = Vec::new();
        for c in &cs {
            assert_eq!(c.base as usize, rebuilt.len());
            rebuilt.extend_from_slice(&c.data[..c.keep_before]);
        }
        assert_eq!(rebuilt, text);
    }

    #[test]
    fn reused_buffers_give_the_same_chunks() {
        let text: Vec<u8> = (0..3000)
            .flat_map(|i| format!("{} 13812345678\n", "x".repeat(i % 700)).into_bytes())
            .collect();
        let fresh = chunks(&text, 4096);
        let mut c = Chunker::new(&text[..], 4096);
        // A spare dirty with another chunk's bytes, and larger than needed.
        let mut spare = vec![b'z'; 9000];
        let mut reused = Vec::new();
        while let Some(ch) = c.next_chunk_in(std::mem::take(&mut spare)).unwrap() {
            reused.push((ch.base, ch.data.clone(), ch.keep_before));
            spare = ch.data;
        }
        let fresh: Vec<_> = fresh
            .into_iter()
            .map(|c| (c.base, c.data, c.keep_before))
            .collect();
        assert_eq!(reused, fresh);
    }

    #[test]
    fn long_lines_overlap() {
        let text = vec![b'a'; 10_000];
        let cs = chunks(&text, 2048);
        let mut covered = 0u64;
        for c in &cs {
            assert!(c.base <= covered);
            covered = c.base + c.keep_before as u64;
            assert!(c.data.len() >= c.keep_before);
        }
        assert_eq!(covered, 10_000);
    }
}
