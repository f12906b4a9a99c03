//! Routing rules, index bookkeeping and pool parsing.

use super::*;
use proptest::prelude::*;

const T: &str = "acme";

fn h(n: u8) -> PhoneHash {
    [n; HASH_LEN]
}

fn binding(id: &str, number: &str, ext: u16, a: u8, b: u8) -> Binding {
    Binding {
        tenant: T.to_owned(),
        id: id.to_owned(),
        waybill_no: format!("SF{id}"),
        courier: "E1".to_owned(),
        city: "北京市".to_owned(),
        number: number.to_owned(),
        ext,
        a_hash: h(a),
        b_hash: h(b),
        a_sealed: vec![a],
        b_sealed: vec![b],
        period: "2026-12".to_owned(),
        created_at: 100,
        window_end: 200,
        expires_at: 300,
    }
}

fn router() -> Router {
    let r = Router::new();
    r.add_numbers(T, "北京市", ["17100000001", "17100000002"]);
    r.add_numbers(T, "上海市", ["17100000003"]);
    r
}

/// `(number, ext, caller, now) → target side or refusal`, against one
/// plain binding (A=1, B=2 on …01) and one by extension (A=1, B=3 on
/// …02 ext 42).
#[test]
fn route_table() {
    let r = router();
    r.insert(binding("b1", "17100000001", 0, 1, 2));
    r.insert(binding("b2", "17100000002", 42, 1, 3));
    type Case = (&'static str, Option<u16>, u8, i64, Result<Side, Refusal>);
    let cases: &[Case] = &[
        ("17100000001", None, 1, 150, Ok(Side::A)),
        ("17100000001", None, 2, 150, Ok(Side::B)),
        ("17100000001", None, 9, 150, Err(Refusal::UnknownCaller)),
        ("17100000009", None, 1, 150, Err(Refusal::UnknownNumber)),
        // After the window only the recipient calls back …
        (
            "17100000001",
            None,
            1,
            200,
            Err(Refusal::RestrictedDirection),
        ),
        ("17100000001", None, 2, 250, Ok(Side::B)),
        // … and after the grace period nobody.
        ("17100000001", None, 2, 300, Err(Refusal::Expired)),
        ("17100000001", None, 1, 999, Err(Refusal::Expired)),
        // Extension mode.
        ("17100000002", Some(42), 3, 150, Ok(Side::B)),
        ("17100000002", Some(42), 1, 150, Ok(Side::A)),
        ("17100000002", None, 3, 150, Err(Refusal::ExtensionRequired)),
        ("17100000002", Some(43), 3, 150, Err(Refusal::UnknownCaller)),
        ("17100000001", Some(42), 2, 150, Err(Refusal::UnknownCaller)),
    ];
    for (number, ext, caller, now, want) in cases {
        let got = r
            .route(T, number, *ext, &h(*caller), *now)
            .map(|x| x.caller);
        assert_eq!(&got, want, "{number} ext {ext:?} caller {caller} at {now}");
    }
    let routed = r.route(T, "17100000001", None, &h(1), 150).unwrap();
    assert_eq!(routed.target_sealed(), &[2]);
    assert!(r.route("other", "17100000001", None, &h(1), 150).is_err());
}

#[test]
fn remove_and_replace_keep_counts_right() {
    let r = router();
    r.insert(binding("b1", "17100000001", 0, 1, 2));
    r.insert(binding("b2", "17100000001", 0, 3, 4));
    assert_eq!(r.len(), 2);
    // Re-inserting the same id replaces it.
    r.insert(binding("b1", "17100000001", 0, 1, 2));
    assert_eq!(r.len(), 2);
    assert_eq!(
        r.candidates(T, "北京市", &h(7), &h(8), 150, None),
        vec!["17100000002".to_owned(), "17100000001".to_owned()]
    );
    assert!(r.remove(T, "b1").is_some());
    assert!(r.remove(T, "b1").is_none());
    // An ended binding read just before it ended (a late notification)
    // does not come back.
    r.insert(binding("b1", "17100000001", 0, 1, 2));
    assert!(r.get(T, "b1").is_none());
    assert_eq!(
        r.route(T, "17100000001", None, &h(1), 150).unwrap_err(),
        Refusal::UnknownCaller
    );
    // A newer binding on an occupied slot pushes the older one out.
    r.insert(binding("b3", "17100000001", 0, 3, 9));
    assert!(r.get(T, "b2").is_none());
    assert_eq!(r.len(), 1);
    r.replace_all(vec![binding("b4", "17100000002", 7, 1, 2)]);
    assert_eq!(r.len(), 1);
    assert!(r.knows_number(T, "17100000001"));
    assert_eq!(
        r.route(T, "17100000002", None, &h(1), 150).unwrap_err(),
        Refusal::ExtensionRequired
    );
}

#[test]
fn candidates_skip_numbers_where_a_phone_is_taken() {
    let r = router();
    r.insert(binding("b1", "17100000001", 0, 1, 2));
    // Phone 2 is on …01 already: only …02 qualifies.
    assert_eq!(
        r.candidates(T, "北京市", &h(5), &h(2), 150, Some(3)),
        vec!["17100000002".to_owned()]
    );
    // Once b1 has expired its slots no longer count.
    assert_eq!(r.candidates(T, "北京市", &h(5), &h(2), 300, None).len(), 2);
    assert_eq!(r.all_numbers(T, "上海市"), vec!["17100000003".to_owned()]);
    assert_eq!((r.pool_size(T, "北京市"), r.pool_size(T, "广州市")), (2, 0));
    // A big pool is sampled: at most SAMPLE numbers, spread over it.
    let many: Vec<String> = (0..1000).map(|i| format!("172{i:08}")).collect();
    r.add_numbers(T, "深圳市", many.iter().map(String::as_str));
    r.add_numbers(T, "深圳市", many.iter().map(String::as_str));
    assert_eq!(r.pool_size(T, "深圳市"), 1000);
    let picked = r.candidates(T, "深圳市", &h(5), &h(2), 150, Some(7));
    assert_eq!(picked.len(), SAMPLE);
    assert!(picked.contains(&many[7]) && picked.contains(&many[7 + 62]));
    assert_eq!(
        r.candidates(T, "深圳市", &h(5), &h(2), 150, None).len(),
        1000
    );
    // A number moved to another city leaves the first.
    r.add_numbers(T, "上海市", ["17100000001"]);
    assert_eq!((r.pool_size(T, "北京市"), r.pool_size(T, "上海市")), (1, 2));
    assert!(
        r.candidates(T, "广州市", &h(5), &h(2), 150, None)
            .is_empty()
    );
}

#[test]
fn pool_files() {
    let text = "city,number\n# comment\n\n北京市, 17100000001\n上海市,17100000002\n";
    let lines = parse_pool(text).unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].line, 4);
    assert_eq!(lines[0].city, "北京市");
    assert_eq!(lines[0].number, "17100000001");
    for (bad, line) in [
        ("北京市 17100000001", 1),
        ("city,number\n,17100000001", 2),
        ("北京市,1,2", 1),
        ("北京市,", 1),
    ] {
        let e = parse_pool(bad).unwrap_err();
        assert_eq!(e.line, line, "{bad}");
        assert!(!e.to_string().contains("17100000001"), "{e}");
    }
}

proptest! {
    /// Whatever the order of inserts and removals, every indexed binding
    /// routes both its sides and nothing else routes.
    #[test]
    fn index_matches_a_model(ops in proptest::collection::vec((0u8..6, 0u8..4, 0u8..2, any::<bool>()), 0..60)) {
        let r = router();
        let mut model: std::collections::BTreeMap<String, Binding> = Default::default();
        let mut ended = std::collections::BTreeSet::new();
        for (id, pair, num, insert) in ops {
            let id = format!("b{id}");
            if insert && ended.contains(&id) {
                // Ended bindings never come back.
                r.insert(binding(&id, "17100000001", 0, 10 + pair, 20 + pair));
            } else if insert {
                let number = if num == 0 { "17100000001" } else { "17100000002" };
                let b = binding(&id, number, 0, 10 + pair, 20 + pair);
                // The model drops what the new binding displaces.
                model.retain(|k, m| k == &id || m.number != b.number || (m.a_hash != b.a_hash && m.b_hash != b.b_hash && m.a_hash != b.b_hash && m.b_hash != b.a_hash));
                model.insert(id.clone(), b.clone());
                r.insert(b);
            } else {
                model.remove(&id);
                ended.insert(id.clone());
                r.remove(T, &id);
            }
        }
        prop_assert_eq!(r.len(), model.len());
        for b in model.values() {
            for (hash, side) in [(b.a_hash, Side::A), (b.b_hash, Side::B)] {
                let got = r.route(T, &b.number, None, &hash, 150).map(|x| (x.binding.id.clone(), x.caller));
                prop_assert_eq!(got, Ok((b.id.clone(), side)));
            }
        }
    }
}
