//! Fuzzes label rendering with arbitrary label data (every text field,
//! waybill and token from the input): `layout` rejects or lays out, and a
//! layout always renders as ZPL and PNG without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parcel_label::{Font, LabelData, LabelParty, LabelSize, layout, render_png, render_zpl};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.split('\u{1f}').map(str::to_owned);
    let mut next = || parts.next().unwrap_or_default();
    let label = LabelData {
        waybill_no: next(),
        carrier: next(),
        sender: LabelParty {
            name: next(),
            phone: next(),
            address: next(),
        },
        recipient: LabelParty {
            name: next(),
            phone: next(),
            address: next(),
        },
        privacy_number: Some(next()),
        sort_code: next(),
        destination: next(),
        qr_token: next(),
        printed_at: next(),
    };
    let Ok(font) = Font::embedded() else { return };
    for size in [LabelSize::Mm100x150, LabelSize::Mm76x130] {
        if let Ok(l) = layout(&label, size) {
            let _ = render_zpl(std::slice::from_ref(&l), font, 203);
            let _ = render_png(&l, font, 150);
        }
    }
});
