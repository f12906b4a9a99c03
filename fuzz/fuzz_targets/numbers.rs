//! Fuzzes the privacy-number inputs: pool files (`numbers load-pool`,
//! line-numbered errors) and route look-ups on a router fed from them. No
//! input may panic; a caller with no binding must never be routed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parcel_numbers::{Binding, Router, parse_pool};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let router = Router::new();
    if let Ok(lines) = parse_pool(text) {
        for l in &lines {
            assert!(l.line >= 1);
            router.add_numbers("t", &l.city, [l.number.as_str()]);
        }
        for (i, l) in lines.iter().enumerate().take(64) {
            router.insert(Binding {
                tenant: "t".into(),
                id: format!("b{i}"),
                waybill_no: format!("W{i}"),
                courier: "E1".into(),
                city: l.city.clone(),
                number: l.number.clone(),
                ext: (i % 3) as u16,
                a_hash: [1 + (i % 7) as u8; 16],
                b_hash: [100 + (i % 11) as u8; 16],
                a_sealed: vec![],
                b_sealed: vec![],
                period: "2026-12".into(),
                created_at: 0,
                window_end: 10,
                expires_at: 20,
            });
            let _ = router.candidates("t", &l.city, &[1; 16], &[2; 16], 5, Some(i));
        }
        for l in &lines {
            assert!(router.route("t", &l.number, None, &[0xee; 16], 5).is_err());
            let _ = router.route("t", &l.number, Some(1), &[1; 16], 5);
        }
    }
});
