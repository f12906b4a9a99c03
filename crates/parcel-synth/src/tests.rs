//! Invariants of the generated corpus.

use std::collections::HashMap;

use crate::{DocKind, TYPES, generate, generate_corpus};

#[test]
fn labels_are_well_formed_and_every_type_is_covered() {
    let docs = generate(42, 300);
    let mut per_type: HashMap<&str, usize> = HashMap::new();
    for d in &docs {
        let mut last = 0;
        for l in &d.labels {
            assert!(TYPES.contains(&l.kind));
            assert!(
                l.start >= last && l.start < l.end && l.end <= d.text.len(),
                "{}",
                d.name
            );
            assert!(d.text.is_char_boundary(l.start) && d.text.is_char_boundary(l.end));
            last = l.end;
            *per_type.entry(l.kind).or_default() += 1;
        }
    }
    for t in TYPES {
        assert!(
            per_type.get(t).copied().unwrap_or(0) >= 30,
            "{t}: {:?}",
            per_type.get(t)
        );
    }
}

#[test]
fn deterministic() {
    let a = generate(7, 20);
    let b = generate(7, 20);
    assert!(
        a.iter()
            .zip(&b)
            .all(|(x, y)| x.text == y.text && x.labels == y.labels)
    );
    let mut c1 = Vec::new();
    let mut c2 = Vec::new();
    assert_eq!(
        generate_corpus(1, 100_000, 0.1, &mut c1),
        generate_corpus(1, 100_000, 0.1, &mut c2)
    );
    assert_eq!(c1, c2);
    assert!(c1.len() >= 100_000);
}

#[test]
fn structure_is_valid() {
    for d in generate(3, 90) {
        match d.kind {
            DocKind::JsonLog => {
                for line in d.text.lines() {
                    serde_json::from_str::<serde_json::Value>(line).unwrap();
                }
            }
            DocKind::CsvZh | DocKind::CsvEn => {
                let cols: Vec<usize> = d.text.lines().map(|l| l.split(',').count()).collect();
                assert!(cols.windows(2).all(|w| w[0] == w[1]), "{}", d.name);
            }
            _ => {}
        }
    }
}

#[test]
fn checksums_hold() {
    use crate::values::{id_check, luhn_digit};
    // GB 11643 worked example: 11010519491231002X.
    assert_eq!(id_check("11010519491231002"), 'X');
    // Luhn: 7992739871 has check digit 3 (the standard worked example).
    assert_eq!(luhn_digit("7992739871"), '3');
    for d in generate(5, 200) {
        for l in &d.labels {
            let v = &d.text[l.start..l.end];
            if l.kind == "cn_resident_id" && v.len() == 18 {
                assert_eq!(
                    id_check(&v[..17]),
                    v.chars().last().unwrap().to_ascii_uppercase()
                );
            }
            if l.kind == "bank_card" {
                let digits: String = v.chars().filter(char::is_ascii_digit).collect();
                let (body, check) = digits.split_at(digits.len() - 1);
                assert_eq!(luhn_digit(body).to_string(), check);
            }
        }
    }
}
