//! The number pass: maximal digit runs, joined into groups by single spaces
//! or dashes, validated per type and scored by their context.
//!
//! A run is only ever looked at whole: `13812345678` inside
//! `31381234567800001234` is never a phone, unlike with `\b`-based patterns,
//! and a number glued to CJK text (`电话13812345678`) is found, because only
//! ASCII letters and digits glue.

use crate::context::{Cat, Env, Source};
use crate::validate::{self, CardIssuer};
use crate::{PiiType, Sink};

/// The end of the digit run starting at `i` (`i` itself if none).
fn run_end(hay: &[u8], mut i: usize) -> usize {
    // Eight bytes at a time: order ids and card numbers are long runs.
    while let Some(w) = hay.get(i..i + 8) {
        let mut a = [0u8; 8];
        a.copy_from_slice(w);
        let others = !digit_bytes(u64::from_le_bytes(a)) & HI;
        if others != 0 {
            return i + (others.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < hay.len() && hay[i].is_ascii_digit() {
        i += 1;
    }
    i
}

/// The high bit of each byte `b` of `w` with `lo < b < hi` (both at most
/// 128): "hasbetween" from Sean Anderson's bit-twiddling hacks, where no
/// byte borrows or carries into its neighbour.
fn bytes_between(w: u64, lo: u64, hi: u64) -> u64 {
    let low7 = w & (LO * 127);
    (LO * (127 + hi)).wrapping_sub(low7) & !w & low7.wrapping_add(LO * (127 - lo)) & HI
}

/// The high bit of each byte of `w` that is an ASCII digit (`'0'..='9'`).
pub(crate) fn digit_bytes(w: u64) -> u64 {
    bytes_between(w, 0x2F, 0x3A)
}

fn is_alnum(b: Option<&u8>) -> bool {
    b.is_some_and(|b| b.is_ascii_alphanumeric())
}

/// Every number we report spans at least this many bytes of digits and
/// separators (seven digits, or a dotted quad such as `1.1.1.1`).
const MIN_SPAN: usize = 7;

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
/// One bit per byte of `w` (little-endian order) for bytes from `' '` to
/// `'9'`: a superset of the digits and of the separators numbers are written
/// with (space, `-`, `.`, `(`, `)`, `+`).
fn number_bytes(w: u64) -> u64 {
    gather(bytes_between(w, 0x1F, 0x3A))
}

#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
/// Gathers the high bit of each byte of `t` (all other bits clear) into
/// the low byte, first byte lowest.
fn gather(t: u64) -> u64 {
    (t >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56
}

#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
/// The high bit of each byte of `w` that equals `c` (exact: no borrow
/// crosses bytes).
fn eq_bytes(w: u64, c: u8) -> u64 {
    let x = w ^ (LO * u64::from(c));
    let low7 = LO * 127;
    !(((x & low7).wrapping_add(low7)) | x | low7)
}

/// Over up to 64 bytes of `block`, one bit per byte: the bytes of
/// [`number_bytes`]; the colons (for the IPv6 pass, which would otherwise
/// restart `memchr` at every colon of a JSON log); the `@` signs (for the
/// e-mail pass); the newlines (counted for line numbers); and the non-ASCII
/// bytes (for the CJK pass, and for UTF-8 validation). One pass over the
/// text instead of one per consumer. Sixteen bytes per step with SSE2, which every
/// x86-64 CPU has.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn block_masks(block: &[u8]) -> Masks {
    use safe_arch::{
        bitand_m128i, cmp_eq_mask_i8_m128i, cmp_gt_mask_i8_m128i, cmp_lt_mask_i8_m128i,
        load_unaligned_m128i, move_mask_i8_m128i, set_splat_i8_m128i,
    };
    // Signed compares: bytes from 0x80 up are negative, so never in range.
    let above = set_splat_i8_m128i(0x1F);
    let below = set_splat_i8_m128i(0x3A);
    let colon = set_splat_i8_m128i(0x3A);
    let at_sign = set_splat_i8_m128i(0x40);
    let newline = set_splat_i8_m128i(0x0A);
    // The mask's low 16 bits, one per byte.
    let bits = |mask| {
        let [a, b, ..] = move_mask_i8_m128i(mask).to_le_bytes();
        u64::from(u16::from_le_bytes([a, b]))
    };
    let (chunks, rest) = block.as_chunks::<16>();
    let mut out = Masks::default();
    for (k, chunk) in chunks.iter().enumerate() {
        let v = load_unaligned_m128i(chunk);
        let num = bitand_m128i(
            cmp_gt_mask_i8_m128i(v, above),
            cmp_lt_mask_i8_m128i(v, below),
        );
        out.number |= bits(num) << (16 * k);
        out.colon |= bits(cmp_eq_mask_i8_m128i(v, colon)) << (16 * k);
        out.at |= bits(cmp_eq_mask_i8_m128i(v, at_sign)) << (16 * k);
        out.newline |= bits(cmp_eq_mask_i8_m128i(v, newline)) << (16 * k);
        out.non_ascii |= bits(v) << (16 * k);
    }
    let base = block.len() - rest.len();
    for (k, &b) in rest.iter().enumerate() {
        out.set(b, base + k);
    }
    out
}

/// The masks of [`block_masks`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Masks {
    number: u64,
    colon: u64,
    at: u64,
    newline: u64,
    non_ascii: u64,
}

impl Masks {
    /// Sets byte `k`'s bits for the byte `b`.
    fn set(&mut self, b: u8, k: usize) {
        if (0x20..=0x39).contains(&b) {
            self.number |= 1 << k;
        }
        if b == b':' {
            self.colon |= 1 << k;
        }
        if b == b'@' {
            self.at |= 1 << k;
        }
        if b == b'\n' {
            self.newline |= 1 << k;
        }
        if !b.is_ascii() {
            self.non_ascii |= 1 << k;
        }
    }
}

/// [`block_masks`] for other targets.
#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
fn block_masks(block: &[u8]) -> Masks {
    block_masks_swar(block)
}

/// [`block_masks`], eight bytes per step in a `u64` (SWAR): portable.
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
fn block_masks_swar(block: &[u8]) -> Masks {
    let mut out = Masks::default();
    let mut words = block.chunks_exact(8);
    for (k, w) in words.by_ref().enumerate() {
        let mut a = [0u8; 8];
        a.copy_from_slice(w);
        let w = u64::from_le_bytes(a);
        out.number |= number_bytes(w) << (8 * k);
        out.colon |= gather(eq_bytes(w, b':')) << (8 * k);
        out.at |= gather(eq_bytes(w, b'@')) << (8 * k);
        out.newline |= gather(eq_bytes(w, b'\n')) << (8 * k);
        out.non_ascii |= gather(w & HI) << (8 * k);
    }
    let base = block.len() - words.remainder().len();
    for (k, &b) in words.remainder().iter().enumerate() {
        out.set(b, base + k);
    }
    out
}

/// Scans `env.hay` for numeric personal data.
///
/// A bitmask of digit-and-separator bytes, 64 at a time, marks every run of
/// at least [`MIN_SPAN`] such bytes; only those runs are looked at. Each is
/// walked back to the first digit of its cluster and processed run by run
/// exactly as a byte-by-byte scan would ([`scan_every_run`], which the
/// tests compare against).
///
/// The same pass fills `found` for the other passes: in order, the colons
/// the IPv6 pass looks at ([`crate::net::scan_ipv6`]), the `@` signs for the
/// e-mail pass, the blocks holding non-ASCII bytes, which lead the CJK pass,
/// and the newline counts behind [`crate::TextFacts`].
pub(crate) fn scan(env: &Env<'_>, sink: &mut Sink<'_>, found: &mut Found) {
    let hay = env.hay;
    let n = hay.len();
    // Everything before `done` has been processed.
    let mut done = 0;
    let mut i = 0;
    // Each block of 64 bytes is classified once. A run that starts near a
    // block's end is judged with the next block's masks, classified one
    // step ahead.
    let mut masks = block_masks(&hay[..n.min(64)]);
    loop {
        let next_at = i + 64;
        let next = if next_at < n {
            block_masks(&hay[next_at..(next_at + 64).min(n)])
        } else {
            Masks::default()
        };
        found.take(hay, i, &masks);
        let m = u128::from(masks.number) | (u128::from(next.number) << 64);
        // Doubling: two, four, then seven bytes in a row (MIN_SPAN is 7).
        let two = m & (m >> 1);
        let four = two & (two >> 2);
        let runs = four & (four >> 3);
        // Bit k: bytes k to k + MIN_SPAN - 1 are all number bytes.
        let mut starts = runs as u64;
        while starts != 0 {
            let s = i + starts.trailing_zeros() as usize;
            starts &= starts - 1;
            if s < done {
                // Drop every start the last cluster covered at once (a long
                // digit run has a start bit at each of its first bytes).
                let covered = done - i;
                starts &= if covered >= 64 {
                    0
                } else {
                    u64::MAX << covered
                };
                continue;
            }
            let Some(off) = hay[s..s + MIN_SPAN].iter().position(u8::is_ascii_digit) else {
                continue;
            };
            let mut j = cluster_start(hay, s + off, done);
            // Process runs while they belong to the same cluster.
            loop {
                let next = match date_time_end(hay, j) {
                    Some(end) => end,
                    None => number_at(env, sink, j).max(j + 1),
                };
                // A gap is at most four bytes: look no further for the next run.
                let window = &hay[next.min(n)..(next + 5).min(n)];
                match window.iter().position(u8::is_ascii_digit) {
                    Some(off) if is_cluster_gap(&window[..off]) => j = next + off,
                    _ => {
                        done = next;
                        break;
                    }
                }
            }
        }
        if next_at >= n {
            return;
        }
        i = next_at;
        masks = next;
    }
}

/// What the number pass's classifier collects for the other passes.
#[derive(Debug, Default)]
pub(crate) struct Found {
    /// The colons with a hex digit or a colon on both sides, in order:
    /// the only ones the IPv6 pass looks at (less those of times it would
    /// skip: [`Found::take_colons`]).
    pub(crate) colons: Vec<usize>,
    /// The second colon of the last time left out (0: none; a colon at 0
    /// is never an inner one).
    time_colon: usize,
    /// For each block of the classifier holding a non-ASCII byte, in
    /// order: the first such byte and the end of the block. Between one
    /// block's end and the next one's first byte, every byte is ASCII.
    pub(crate) non_ascii: Vec<(usize, usize)>,
    /// The `@` signs, in order.
    pub(crate) ats: Vec<usize>,
    /// Newlines counted so far (in the blocks taken).
    newlines: u64,
    /// (position, newlines before it), ascending, the first at 0 and then
    /// about every [`LINE_MARK_EVERY`] bytes.
    pub(crate) line_marks: Vec<(usize, u64)>,
}

/// Bytes between two entries of [`Found::line_marks`], at least.
pub(crate) const LINE_MARK_EVERY: usize = 4096;

impl Found {
    /// Takes the bits of `masks` for the block of (up to) 64 bytes at `at`.
    #[inline(always)]
    fn take(&mut self, hay: &[u8], at: usize, masks: &Masks) {
        if self
            .line_marks
            .last()
            .is_none_or(|&(p, _)| at >= p + LINE_MARK_EVERY)
        {
            self.line_marks.push((at, self.newlines));
        }
        self.newlines += u64::from(masks.newline.count_ones());
        let mut ats = masks.at;
        while ats != 0 {
            self.ats.push(at + ats.trailing_zeros() as usize);
            ats &= ats - 1;
        }
        self.take_colons(hay, at, masks.colon);
        let x = masks.non_ascii;
        if x != 0 {
            let end = (at + 64).min(hay.len());
            self.non_ascii.push((at + x.trailing_zeros() as usize, end));
        }
    }

    /// Records the colons of `bits` (relative to `at`) that have a hex digit
    /// or a colon on both sides: the only ones the IPv6 pass looks at. The
    /// two colons of a time (`10:23:45`, the commonest in logs) are left
    /// out when the IPv6 pass could only skip them: when the byte before
    /// the time could not be part of an address either, no address
    /// candidate reaches the time, and the pass would skip to its end.
    #[inline(always)]
    fn take_colons(&mut self, hay: &[u8], at: usize, mut bits: u64) {
        while bits != 0 {
            let c = at + bits.trailing_zeros() as usize;
            bits &= bits - 1;
            if c == self.time_colon {
                continue;
            }
            if c > 0 && crate::net::hexish(hay.get(c - 1)) && crate::net::hexish(hay.get(c + 1)) {
                if (c < 3 || !crate::net::is_v6_char(hay[c - 3]))
                    && crate::net::time_token_end(hay, c).is_some()
                {
                    self.time_colon = c + 3;
                    continue;
                }
                self.colons.push(c);
            }
        }
    }

    /// The first non-ASCII byte at or after `i`; `cursor` (start at 0)
    /// remembers where the previous call stopped, for calls with growing
    /// `i`.
    pub(crate) fn next_non_ascii(&self, hay: &[u8], i: usize, cursor: &mut usize) -> Option<usize> {
        let hints = &self.non_ascii;
        while hints.get(*cursor).is_some_and(|&(_, end)| end <= i) {
            *cursor += 1;
        }
        let &(first, end) = hints.get(*cursor)?;
        if first >= i {
            return Some(first);
        }
        // `i` is inside this block, after its first non-ASCII byte.
        if let Some(p) = hay[i..end].iter().position(|b| !b.is_ascii()) {
            return Some(i + p);
        }
        hints.get(*cursor + 1).map(|&(first, _)| first)
    }
}

/// The reference scan: every digit run, byte by byte.
#[cfg(test)]
pub(crate) fn scan_every_run(env: &Env<'_>, sink: &mut Sink<'_>) {
    let mut i = 0;
    while let Some(p) = env.hay[i..]
        .iter()
        .position(u8::is_ascii_digit)
        .map(|p| p + i)
    {
        i = number_at(env, sink, p).max(p + 1);
    }
}

/// What may stand between two digit runs of one cluster.
fn is_cluster_gap(gap: &[u8]) -> bool {
    matches!(
        gap,
        [] | [b' ' | b'-' | b'.' | b'(' | b')' | b'+']
            | [b')' | b' ' | b'-', b' ' | b'-' | b'+' | b'(']
            | [0xEF, 0xBC, 0x88 | 0x89]
            | [0xEF, 0xBC, 0x88 | 0x89, b' ' | b'-']
    )
}

/// Walks back from the digit at `d` to the first digit of its cluster, not
/// before `floor`.
fn cluster_start(hay: &[u8], d: usize, floor: usize) -> usize {
    let mut x = d;
    loop {
        while x > floor && hay[x - 1].is_ascii_digit() {
            x -= 1;
        }
        // Every gap `is_cluster_gap` allows ends in one of these bytes: a
        // run after anything else (a quote, `=`, a newline) starts its
        // cluster, with no gap lengths to try.
        if x == floor
            || !matches!(
                hay[x - 1],
                b' ' | b'-' | b'.' | b'(' | b')' | b'+' | 0x88 | 0x89
            )
        {
            return x;
        }
        // Hop a gap (as `is_cluster_gap` allows) to an earlier digit.
        let mut hopped = false;
        for gap_len in 1..=4 {
            if x < floor + gap_len + 1 {
                break;
            }
            if hay[x - gap_len - 1].is_ascii_digit() && is_cluster_gap(&hay[x - gap_len..x]) {
                x -= gap_len + 1;
                hopped = true;
                break;
            }
        }
        if !hopped {
            return x;
        }
    }
}

/// The type a context category vouches for.
fn cat_of(kind: PiiType) -> Cat {
    match kind {
        PiiType::CnMobile | PiiType::CnLandline => Cat::Phone,
        PiiType::CnResidentId => Cat::Id,
        PiiType::BankCard => Cat::Card,
        PiiType::Email => Cat::Email,
        PiiType::CnName => Cat::Name,
        PiiType::CnAddress => Cat::Address,
        PiiType::WaybillNo => Cat::Waybill,
        PiiType::CnPlate => Cat::Plate,
        PiiType::CnPassport => Cat::Passport,
        PiiType::Ipv4 | PiiType::Ipv6 => Cat::Ip,
    }
}

fn is_numeric_cat(cat: Cat) -> bool {
    matches!(
        cat,
        Cat::Phone | Cat::Id | Cat::Card | Cat::Waybill | Cat::Passport
    )
}

/// Adjusts a base score by context; returns the score and a reason.
pub(crate) fn with_context(
    kind: PiiType,
    base: f32,
    ctx: Option<(Cat, Source)>,
) -> (f32, Option<Why>) {
    let Some((cat, source)) = ctx else {
        return (base, None);
    };
    let effect = if cat == cat_of(kind) || (kind == PiiType::WaybillNo && cat == Cat::Carrier) {
        Effect::Names
    } else if cat == Cat::Negative {
        Effect::NonPersonal
    } else if is_numeric_cat(cat) && is_numeric_cat(cat_of(kind)) {
        Effect::OtherNumber
    } else {
        return (base, None);
    };
    let delta = match effect {
        Effect::Names => 0.15,
        Effect::NonPersonal => -0.45,
        Effect::OtherNumber => -0.15,
    };
    (
        base + delta,
        Some(Why {
            kind,
            source,
            effect,
        }),
    )
}

/// Why context changed a score: kept as data, and written out only when
/// explanations were asked for (formatting it for every finding was a
/// measurable part of a scan).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Why {
    kind: PiiType,
    source: Source,
    effect: Effect,
}

#[derive(Debug, Clone, Copy)]
enum Effect {
    Names,
    NonPersonal,
    OtherNumber,
}

impl From<Why> for String {
    fn from(w: Why) -> Self {
        let place = match w.source {
            Source::Column => "column header".to_owned(),
            Source::HotWord(d) => format!("hot word {d} bytes before"),
        };
        match w.effect {
            Effect::Names => format!("{place} names {} (+0.15)", w.kind),
            Effect::NonPersonal => format!("{place} names a non-personal number (-0.45)"),
            Effect::OtherNumber => format!("{place} names another kind of number (-0.15)"),
        }
    }
}

struct Candidate {
    kind: PiiType,
    base: f32,
    validator: &'static str,
    /// Context categories of which one must be present (empty: none needed).
    needs: &'static [Cat],
    /// A format that only one kind of value has (a carrier's letter prefix
    /// with its digit count, a UPU S10 code with its check digit): context
    /// can raise its score but not lower it. In `your order SF1408835923450
    /// has shipped` the nearby `order` names the parcel, and no order or
    /// trace id looks like that.
    firm: bool,
}

fn push_best(
    env: &Env<'_>,
    sink: &mut Sink<'_>,
    start: usize,
    end: usize,
    cands: &[Candidate],
) -> bool {
    if cands.is_empty() {
        return false;
    }
    let ctx = env.context(start);
    let mut best: Option<(f32, &Candidate, Option<Why>)> = None;
    for c in cands {
        if !c.needs.is_empty() && !ctx.is_some_and(|(cat, _)| c.needs.contains(&cat)) {
            continue;
        }
        let (mut score, mut why) = with_context(c.kind, c.base, ctx);
        if score < c.base && c.firm {
            score = c.base;
            why = None;
        }
        if best.as_ref().is_none_or(|(s, _, _)| score > *s) {
            best = Some((score, c, why));
        }
    }
    let Some((score, c, why)) = best else {
        return false;
    };
    let before = sink.out.len();
    sink.push(c.kind, start, end, score, c.validator, || {
        let mut r = vec![format!(
            "{} validated by {} (base {:.2})",
            c.kind, c.validator, c.base
        )];
        r.extend(why.map(String::from));
        r
    });
    sink.out.len() > before
}

/// Handles the digit run starting at `p`; returns where scanning resumes.
fn number_at(env: &Env<'_>, sink: &mut Sink<'_>, p: usize) -> usize {
    let hay = env.hay;
    let e = run_end(hay, p);
    let prev = p.checked_sub(1).map(|i| hay[i]);
    if !prev.is_some_and(|b| b.is_ascii_alphabetic()) && is_date_year(hay, p, e, prev) {
        return e;
    }
    number_at_full(env, sink, p, e, prev)
}

/// [`number_at`] without the date shortcut (which the tests check against
/// this); `e` is the run's end and `prev` the byte before it.
fn number_at_full(
    env: &Env<'_>,
    sink: &mut Sink<'_>,
    p: usize,
    e: usize,
    prev: Option<u8>,
) -> usize {
    let hay = env.hay;
    let next = hay.get(e).copied();

    if prev.is_some_and(|b| b.is_ascii_alphabetic()) {
        return letter_prefixed(env, sink, p);
    }
    if prev == Some(b'.') && p >= 2 && hay[p - 2].is_ascii_digit() {
        return skip_dotted(hay, p);
    }
    if prev == Some(b':') && p >= 2 && hay[p - 2].is_ascii_hexdigit() {
        // Part of a time (12:30:45) or an IPv6 address (handled elsewhere).
        return e;
    }
    if let Some(n) = next {
        if n.is_ascii_alphabetic() {
            if e - p == 17 && (n == b'X' || n == b'x') && !is_alnum(hay.get(e + 1)) {
                let id = &hay[p..=e];
                if let Some(check) = validate::resident_id(id) {
                    let base = if check.county_known { 0.95 } else { 0.9 };
                    push_best(
                        env,
                        sink,
                        p,
                        e + 1,
                        &[Candidate {
                            kind: PiiType::CnResidentId,
                            base,
                            validator: "gb11643_mod11_2+region+birthdate",
                            firm: false,
                            needs: &[],
                        }],
                    );
                }
                return e + 1;
            }
            return skip_alnum(hay, e);
        }
        if n == b'.' && hay.get(e + 1).is_some_and(u8::is_ascii_digit) {
            if let Some(end) = ipv4_at(hay, p) {
                push_best(
                    env,
                    sink,
                    p,
                    end,
                    &[Candidate {
                        kind: PiiType::Ipv4,
                        base: 0.85,
                        validator: "ipv4_dotted_quad",
                        firm: false,
                        needs: &[],
                    }],
                );
                return end;
            }
            return skip_dotted(hay, p);
        }
    }

    if let Some(end) = parenthesised_landline(env, sink, p, e) {
        return end;
    }

    // Gather up to five groups joined by one consistent separator.
    let mut groups: [(usize, usize); 5] = [(p, e); 5];
    let mut count = 1;
    let mut sep = None;
    let mut j = e;
    while count < 5 {
        let Some(&s) = hay.get(j) else { break };
        // The separator after the first group may differ from the rest
        // (`+86 138-1234-5678`); the rest must agree.
        if !(s == b' ' || s == b'-') || sep.is_some_and(|x| x != s) {
            break;
        }
        if !hay.get(j + 1).is_some_and(u8::is_ascii_digit) {
            break;
        }
        let ge = run_end(hay, j + 1);
        groups[count] = (j + 1, ge);
        if count >= 2 {
            sep = Some(s);
        }
        count += 1;
        j = ge;
    }
    // Nothing we report has fewer than seven digits (IPv4 and letter-prefixed
    // tokens were handled above): most digit runs in logs (dates, times,
    // counters) stop here.
    let total: usize = groups[..count].iter().map(|g| g.1 - g.0).sum();
    if total < 7 {
        return groups[count - 1].1;
    }
    let plus = prev == Some(b'+');
    // Groups of one or two digits only occur first (a country code), second
    // after `86` (an area code without its 0) or last in a 19-digit card:
    // dates and times (2026-11-22) stop here.
    let first = &hay[groups[0].0..groups[0].1];
    let country_code = first == b"86" || first == b"0086";
    let max_k = (1..count)
        .find(|&i| {
            let len = groups[i].1 - groups[i].0;
            len <= 2 && !(i == 1 && country_code) && !(i == 4 && len == 2)
        })
        .unwrap_or(count);
    let mut prefix_digits = [0usize; 6];
    for (i, g) in groups[..count].iter().enumerate() {
        prefix_digits[i + 1] = prefix_digits[i] + (g.1 - g.0);
    }
    for k in (1..=max_k).rev() {
        if prefix_digits[k] < 7 {
            continue;
        }
        let (_, end) = groups[k - 1];
        // A group list glued to letters or continuing as a decimal is not a
        // number we know.
        if k > 1
            && (is_alnum(hay.get(end))
                || (hay.get(end) == Some(&b'.')
                    && hay.get(end + 1).is_some_and(u8::is_ascii_digit)))
        {
            continue;
        }
        let mut digits = [0u8; 40];
        let mut lens = [0usize; 5];
        let mut nd = 0;
        let mut fits = true;
        for (g, len) in groups[..k].iter().zip(lens.iter_mut()) {
            let d = &hay[g.0..g.1];
            if nd + d.len() > digits.len() {
                fits = false;
                break;
            }
            digits[nd..nd + d.len()].copy_from_slice(d);
            nd += d.len();
            *len = d.len();
        }
        if !fits {
            continue;
        }
        let cands = interpret(&digits[..nd], &lens[..k], plus);
        let start = if plus { p - 1 } else { p };
        if !cands.is_empty() && (push_best(env, sink, start, end, &cands) || k == 1) {
            return end;
        }
    }
    e
}

/// Where [`number_at`], called at `p` and then at each run of the cluster
/// that follows, would be left after a log timestamp's date and hour
/// (`2026-11-22T10:` or `2026-11-22 10:`), having found nothing: after the
/// day (`T`) or the hour (space). Every log line starts with one, and this
/// saves the calls for its year, month and day. `None` when `p` does not
/// start such a timestamp, or starts it after a byte that would make
/// [`number_at`] take another path.
fn date_time_end(hay: &[u8], p: usize) -> Option<usize> {
    // `YYYY-MM-DD?HH:`, the year not starting with 0.
    let t = hay.get(p..p + 14)?;
    if t[0] == b'0' || t[4] != b'-' || t[7] != b'-' || t[13] != b':' {
        return None;
    }
    if ![0, 1, 2, 3, 5, 6, 8, 9, 11, 12]
        .iter()
        .all(|&k| t[k].is_ascii_digit())
    {
        return None;
    }
    if p > 0 && (hay[p - 1].is_ascii_alphanumeric() || matches!(hay[p - 1], b'.' | b':')) {
        return None;
    }
    // The year is a date's (see `is_date_year`); the month run then
    // gathers the day, and after a space the hour too: two or three groups
    // of two digits, too few to be anything.
    match t[10] {
        b'T' => Some(p + 10),
        b' ' => Some(p + 13),
        _ => None,
    }
}

/// Whether the run `p..e` is the year of a `YYYY-MM-D…` date, for which
/// [`number_at`] would find nothing and resume at `e`: its groups are the
/// year, two digits and more, and a second group of two digits leaves the
/// year alone, with too few digits (unless it is `0086`, a country code,
/// so a leading `0` is excluded). Every log line starts with such a date,
/// so this saves the group walk for most lines.
fn is_date_year(hay: &[u8], p: usize, e: usize, prev: Option<u8>) -> bool {
    e - p == 4
        && hay[p] != b'0'
        && !matches!(prev, Some(b'.' | b':'))
        && matches!(
            hay.get(e..e + 5),
            Some([b'-', m1, m2, b'-', d1]) if m1.is_ascii_digit() && m2.is_ascii_digit() && d1.is_ascii_digit()
        )
}

/// The types a digit string with these group lengths could be.
fn interpret(d: &[u8], lens: &[usize], plus: bool) -> Vec<Candidate> {
    let mut out = Vec::new();
    let grouped = lens.len() > 1;

    // Country code 86 / 0086, as its own group or glued to the number.
    let (cc, rest, rest_lens): (bool, &[u8], &[usize]) = if grouped
        && ((lens[0] == 2 && d.starts_with(b"86")) || (lens[0] == 4 && d.starts_with(b"0086")))
    {
        (true, &d[lens[0]..], &lens[1..])
    } else if !grouped && d.len() == 13 && d.starts_with(b"86") && d[2] == b'1' {
        (true, &d[2..], &lens[..0])
    } else if !grouped && d.len() == 15 && d.starts_with(b"0086") {
        (true, &d[4..], &lens[..0])
    } else {
        (false, d, lens)
    };
    if plus && !cc {
        // `+` followed by something that is not +86: a foreign number.
        return out;
    }

    // Mobile.
    let mobile_shape = matches!(rest_lens, [] | [11] | [3, 4, 4] | [3, 8] | [7, 4]);
    if mobile_shape && validate::cn_mobile(rest) {
        out.push(Candidate {
            kind: PiiType::CnMobile,
            base: if cc || grouped { 0.88 } else { 0.82 },
            validator: "cn_mobile_segment",
            firm: false,
            needs: &[],
        });
        return out;
    }

    // Landline.
    if cc {
        let mut with_zero = [0u8; 16];
        if rest.len() < with_zero.len() {
            with_zero[0] = b'0';
            with_zero[1..=rest.len()].copy_from_slice(rest);
            let shape_ok = match rest_lens {
                [] => true,
                [a, ..] => (2..=3).contains(a),
            };
            if shape_ok
                && let Some((area, _)) = validate::cn_landline(&with_zero[..=rest.len()])
                && rest_lens.first().is_none_or(|&a| a + 1 == area)
            {
                out.push(Candidate {
                    kind: PiiType::CnLandline,
                    base: 0.75,
                    validator: "cn_area_code",
                    firm: false,
                    needs: &[],
                });
            }
        }
        return out;
    }
    if let Some((area, _)) = validate::cn_landline(d) {
        let shape = match lens {
            [_] => Some(0.5),
            [a, _] if *a == area => Some(0.7),
            [a, b, 4] if *a == area && (3..=4).contains(b) => Some(0.7),
            _ => None,
        };
        if let Some(base) = shape {
            out.push(Candidate {
                kind: PiiType::CnLandline,
                base,
                validator: "cn_area_code",
                firm: false,
                needs: &[],
            });
        }
    }

    // Resident ID (18 digits, or 6-8-4; legacy 15).
    if matches!(lens, [18] | [6, 8, 4] | [15])
        && let Some(check) = validate::resident_id(d)
    {
        let base = match (check.legacy, check.county_known) {
            (false, true) => 0.95,
            (false, false) => 0.9,
            (true, true) => 0.55,
            (true, false) => 0.35,
        };
        out.push(Candidate {
            kind: PiiType::CnResidentId,
            base,
            validator: if check.legacy {
                "gb11643_legacy15+region+birthdate"
            } else {
                "gb11643_mod11_2+region+birthdate"
            },
            firm: false,
            needs: &[],
        });
    }

    // Payment cards.
    let card_shape = match lens {
        [n] => (15..=19).contains(n),
        [4, 4, 4, 4] | [4, 4, 4, 4, 3] | [4, 4, 4, 4, 2] | [4, 6, 5] | [6, 13] => true,
        _ => false,
    };
    if card_shape && let Some(issuer) = validate::bank_card(d) {
        let base = match issuer {
            CardIssuer::Domestic => 0.78,
            CardIssuer::International => 0.62,
        } + if grouped { 0.1 } else { 0.0 };
        out.push(Candidate {
            kind: PiiType::BankCard,
            base,
            validator: match issuer {
                CardIssuer::Domestic => "luhn+cn_issuer_bin",
                CardIssuer::International => "luhn+issuer_prefix",
            },
            firm: false,
            needs: &[],
        });
    }

    // Digit-only waybills (ZTO, Yunda, STO, EMS, ...): indistinguishable from
    // other numbers without a waybill key or header (10-15 digits) or a
    // carrier name nearby (12-15 digits, the carriers' own lengths).
    if let [n] = lens
        && (10..=15).contains(n)
    {
        out.push(Candidate {
            kind: PiiType::WaybillNo,
            base: 0.7,
            validator: "carrier_digits+context",
            firm: false,
            needs: if *n >= 12 {
                &[Cat::Waybill, Cat::Carrier]
            } else {
                &[Cat::Waybill]
            },
        });
    }

    // A local landline number without its area code, after 电话/座机/tel.
    if matches!(lens, [7] | [8] | [4, 4]) && matches!(d[0], b'2'..=b'9') {
        out.push(Candidate {
            kind: PiiType::CnLandline,
            base: 0.45,
            validator: "local_number+phone_context",
            firm: false,
            needs: &[Cat::Phone],
        });
    }

    // A Luhn-valid number without a known issuer prefix, after 卡号/card.
    if card_shape
        && validate::luhn(d)
        && validate::bank_card(d).is_none()
        && (16..=19).contains(&d.len())
    {
        out.push(Candidate {
            kind: PiiType::BankCard,
            base: 0.45,
            validator: "luhn+card_context",
            firm: false,
            needs: &[Cat::Card],
        });
    }
    out
}

/// `(021)64561234`, `（0755）8601 3388`.
fn parenthesised_landline(env: &Env<'_>, sink: &mut Sink<'_>, p: usize, e: usize) -> Option<usize> {
    let hay = env.hay;
    let open = if p >= 1 && hay[p - 1] == b'(' {
        p - 1
    } else if p >= 3 && &hay[p - 3..p] == "（".as_bytes() {
        p - 3
    } else {
        return None;
    };
    if !(3..=4).contains(&(e - p)) || hay[p] != b'0' {
        return None;
    }
    let mut j = if hay.get(e) == Some(&b')') {
        e + 1
    } else if hay.get(e..e + 3) == Some("）".as_bytes()) {
        e + 3
    } else {
        return None;
    };
    if matches!(hay.get(j), Some(b' ' | b'-')) {
        j += 1;
    }
    let l1 = run_end(hay, j);
    let mut end = l1;
    let mut local: Vec<u8> = hay[j..l1].to_vec();
    if l1 - j <= 4 && hay.get(l1) == Some(&b' ') && hay.get(l1 + 1).is_some_and(u8::is_ascii_digit)
    {
        end = run_end(hay, l1 + 1);
        local.extend_from_slice(&hay[l1 + 1..end]);
    }
    if local.is_empty() || is_alnum(hay.get(end)) {
        return None;
    }
    let mut full = hay[p..e].to_vec();
    full.extend_from_slice(&local);
    let (area, _) = validate::cn_landline(&full)?;
    if area != e - p {
        return None;
    }
    push_best(
        env,
        sink,
        open,
        end,
        &[Candidate {
            kind: PiiType::CnLandline,
            base: 0.75,
            validator: "cn_area_code",
            firm: false,
            needs: &[],
        }],
    );
    Some(end)
}

/// A dotted quad starting at `p`, strictly parsed, with clean boundaries.
fn ipv4_at(hay: &[u8], p: usize) -> Option<usize> {
    if p > 0 && (hay[p - 1].is_ascii_alphanumeric() || hay[p - 1] == b'.') {
        return None;
    }
    let mut i = p;
    for octet in 0..4 {
        let e = run_end(hay, i);
        let len = e - i;
        if len == 0 || len > 3 || (len > 1 && hay[i] == b'0') {
            return None;
        }
        let v: u32 = hay[i..e]
            .iter()
            .fold(0, |a, &b| a * 10 + u32::from(b - b'0'));
        if v > 255 {
            return None;
        }
        i = e;
        if octet < 3 {
            if hay.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
    }
    let after = hay.get(i).copied();
    if after.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        || (after == Some(b'.') && hay.get(i + 1).is_some_and(u8::is_ascii_digit))
    {
        return None;
    }
    Some(i)
}

fn skip_dotted(hay: &[u8], mut i: usize) -> usize {
    while i < hay.len() && (hay[i].is_ascii_digit() || hay[i] == b'.') {
        i += 1;
    }
    i
}

fn skip_alnum(hay: &[u8], mut i: usize) -> usize {
    while i < hay.len() && (hay[i].is_ascii_alphanumeric() || hay[i] == b'_') {
        i += 1;
    }
    i
}

/// Tokens whose digits follow ASCII letters: carrier-prefixed waybills,
/// UPU S10 items, passports. Returns the end of the whole token.
fn letter_prefixed(env: &Env<'_>, sink: &mut Sink<'_>, p: usize) -> usize {
    let hay = env.hay;
    let mut ts = p;
    while ts > 0 && hay[ts - 1].is_ascii_alphabetic() && p - ts < 5 {
        ts -= 1;
    }
    let te = skip_alnum(hay, p);
    if ts > 0 && (hay[ts - 1].is_ascii_alphanumeric() || hay[ts - 1] == b'_') {
        return te;
    }
    let token = &hay[ts..te];
    let letters = &hay[ts..p];
    let e = run_end(hay, p);
    let digits = e - p;
    let tail = &hay[e..te];

    let cand = if tail.is_empty() {
        match letters {
            b"SF" if (12..=15).contains(&digits) => {
                Some((PiiType::WaybillNo, 0.88, "carrier_prefix_sf", true))
            }
            b"YT" if (13..=15).contains(&digits) => {
                Some((PiiType::WaybillNo, 0.88, "carrier_prefix_yto", true))
            }
            b"JT" if (13..=15).contains(&digits) => {
                Some((PiiType::WaybillNo, 0.88, "carrier_prefix_jt", true))
            }
            b"DPK" if (10..=13).contains(&digits) => {
                Some((PiiType::WaybillNo, 0.85, "carrier_prefix_deppon", true))
            }
            [b'J', b'D', rest @ ..]
                if rest.len() <= 2
                    && rest.iter().all(u8::is_ascii_uppercase)
                    && (11..=15).contains(&digits) =>
            {
                Some((PiiType::WaybillNo, 0.88, "carrier_prefix_jd", true))
            }
            [b'E' | b'G'] if digits == 8 => {
                Some((PiiType::CnPassport, 0.45, "cn_passport_format", false))
            }
            [b'E', l] if digits == 7 && l.is_ascii_uppercase() && !matches!(l, b'I' | b'O') => {
                Some((PiiType::CnPassport, 0.45, "cn_passport_format", false))
            }
            _ => None,
        }
    } else if token.len() == 13 && letters.len() == 2 && validate::upu_s10(token) {
        Some((PiiType::WaybillNo, 0.9, "upu_s10_check_digit", true))
    } else {
        None
    };
    if let Some((kind, base, validator, firm)) = cand {
        push_best(
            env,
            sink,
            ts,
            te,
            &[Candidate {
                kind,
                base,
                validator,
                firm,
                needs: &[],
            }],
        );
    }
    te
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn block_masks_agree_with_naive(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..=64)) {
            let naive = |want: fn(u8) -> bool| bytes.iter().enumerate().fold(0u64, |m, (k, &b)| {
                if want(b) { m | 1 << k } else { m }
            });
            let expected = Masks {
                number: naive(|b| (0x20..=0x39).contains(&b)),
                colon: naive(|b| b == b':'),
                at: naive(|b| b == b'@'),
                newline: naive(|b| b == b'\n'),
                non_ascii: naive(|b| !b.is_ascii()),
            };
            proptest::prop_assert_eq!(block_masks(&bytes), expected);
            proptest::prop_assert_eq!(block_masks_swar(&bytes), expected);
        }

        #[test]
        fn date_years_hold_nothing(
            before in "[ (（+.:\"=a-z0-9]{0,3}",
            year in "[1-9][0-9]{3}",
            rest in "-[0-9]{2}-[0-9]{1,3}([ -][0-9]{1,12}){0,4}[ T:.a-z]{0,2}",
        ) {
            let text = format!("{before}{year}{rest}");
            let p = before.len();
            let t = text.as_bytes();
            let e = run_end(t, p);
            let prev = p.checked_sub(1).map(|i| t[i]);
            if e == p + 4 && !prev.is_some_and(|b| b.is_ascii_digit() || b.is_ascii_alphabetic()) && is_date_year(t, p, e, prev) {
                let (env_doc, hot) = (crate::DocContext::default(), crate::context::HotWords::new().unwrap());
                let env = Env { hay: t, doc: &env_doc, hot: &hot };
                let opts = crate::Options { explain: false, min_score: 0.0 };
                let mut sink = Sink { out: Vec::new(), opts: &opts };
                proptest::prop_assert_eq!(number_at_full(&env, &mut sink, p, e, prev), e);
                proptest::prop_assert!(sink.out.is_empty());
            }
        }

        #[test]
        fn run_end_agrees_with_naive(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..=40), from in 0usize..41) {
            let from = from.min(bytes.len());
            let naive = from + bytes[from..].iter().take_while(|b| b.is_ascii_digit()).count();
            proptest::prop_assert_eq!(run_end(&bytes, from), naive);
        }
    }

    fn run(text: &[u8], sampled: bool) -> Vec<(usize, usize, &'static str)> {
        let hot = crate::context::HotWords::new().unwrap();
        let doc = crate::DocContext::default();
        let env = Env {
            hay: text,
            doc: &doc,
            hot: &hot,
        };
        let opts = crate::Options {
            explain: false,
            min_score: 0.0,
        };
        let mut sink = Sink {
            out: Vec::new(),
            opts: &opts,
        };
        if sampled {
            let mut found = Found::default();
            scan(&env, &mut sink, &mut found);
            let colons = found.colons.clone();
            // The non-ASCII hints lead to every non-ASCII byte.
            let mut cursor = 0;
            for i in 0..=text.len() {
                let naive = text[i..].iter().position(|b| !b.is_ascii()).map(|p| i + p);
                assert_eq!(
                    found.next_non_ascii(text, i, &mut cursor),
                    naive,
                    "from {i}"
                );
            }
            // The colons the IPv6 pass gets: inner ones, once, in order,
            // and it finds the same addresses as from every inner one.
            let inner: Vec<usize> = (1..text.len())
                .filter(|&c| {
                    text[c] == b':'
                        && crate::net::hexish(text.get(c - 1))
                        && crate::net::hexish(text.get(c + 1))
                })
                .collect();
            assert!(colons.iter().all(|c| inner.contains(c)));
            assert!(colons.windows(2).all(|w| w[0] < w[1]));
            let ipv6 = |colons: &[usize]| {
                let mut sink = Sink {
                    out: Vec::new(),
                    opts: &opts,
                };
                crate::net::scan_ipv6(&env, &mut sink, colons);
                sink.out
                    .iter()
                    .map(|f| (f.start, f.end))
                    .collect::<Vec<_>>()
            };
            assert_eq!(ipv6(&colons), ipv6(&inner));
        } else {
            scan_every_run(&env, &mut sink);
        }
        sink.out
            .iter()
            .map(|f| (f.start, f.end, f.kind.as_str()))
            .collect()
    }

    /// Times inside long runs of address characters, where an address
    /// candidate (capped at 46 bytes) may end inside the time: the colons
    /// collected still give the IPv6 pass what every inner colon gives it
    /// (`run` checks).
    #[test]
    fn times_inside_long_address_runs() {
        for k in 0..30 {
            for m in 0..30 {
                let text = format!("0:{}10:23:45.{}1:2::3 x", "1.".repeat(k), "1.".repeat(m));
                run(text.as_bytes(), true);
            }
        }
    }

    #[test]
    fn sampled_scan_finds_what_the_full_scan_finds() {
        let cases: &[&str] = &[
            "(021)64561234 and （0755） 8601 3388",
            "ab1-13812345678 2024 13812345678 +86 138-1234-5678",
            "x 1.1.1.1 y 10.0.0.1:8080 E12345678 SF123456789012",
            "身份证11010519491231002X, 卡 6222 0212 3456 7890 128",
        ];
        for c in cases {
            assert_eq!(run(c.as_bytes(), true), run(c.as_bytes(), false), "{c}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(2000))]
        #[test]
        fn sampled_scan_equals_full_scan(text in "([0-9]{1,12}[ .()+a-fEXSF（）电话:,-]{0,2}){0,12}") {
            proptest::prop_assert_eq!(run(text.as_bytes(), true), run(text.as_bytes(), false));
        }

        #[test]
        fn times_and_addresses_side_by_side(text in "([0-9a-fT. :]{0,8}[0-9]{2}:[0-9]{2}:[0-9]{2}[.:a-f0-9 ]{0,8}){0,8}") {
            proptest::prop_assert_eq!(run(text.as_bytes(), true), run(text.as_bytes(), false));
        }

        #[test]
        fn timestamps_among_numbers(text in "(([1-9][0-9]{3}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2})?|[+(]?[0-9]{1,12}|[a-fEXSF]{1,2})[ .()+:,T\"-]{0,2}){0,8}") {
            proptest::prop_assert_eq!(run(text.as_bytes(), true), run(text.as_bytes(), false));
        }

        #[test]
        fn colons_are_collected_across_windows(text in "([0-9a-f]{0,9}[:\" x]{1,3}){0,40}") {
            proptest::prop_assert_eq!(run(text.as_bytes(), true), run(text.as_bytes(), false));
        }
    }
}
