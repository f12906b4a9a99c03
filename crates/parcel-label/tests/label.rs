//! End-to-end checks of the label renderers: symbols decode back (rxing),
//! no plaintext personal data reaches any output, text stays on the page,
//! ZPL is well formed, and arbitrary input never breaks layout or ZPL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use parcel_label::{
    Element, Field, Font, LabelData, LabelError, LabelParty, LabelSize, Layout, layout, render_pdf,
    render_png, render_zpl,
};
use proptest::prelude::*;
use rxing::BarcodeFormat;

const SIZES: [LabelSize; 2] = [LabelSize::Mm100x150, LabelSize::Mm76x130];
const TOKEN: &str = "PGQ1.eyJ3IjoiU0YxMjM0NTY3ODkwMTIzIiwiayI6IjIwMjYtMTIiLCJuIjoiM2Y5YTEyIn0.\
                     Zk3q9X2bV7mN4pL8sR1tY6uW0cE5hJ3aD9fG2kM7nB4vC8xQ1zT6yU0iO5pA3sF";

/// One shipment: plaintext as the vault holds it, masked as printed.
struct Shipment {
    plain: LabelParty,
    masked: LabelParty,
    sender_plain: LabelParty,
    sender_masked: LabelParty,
}

fn shipments() -> Vec<Shipment> {
    let party = |n: &str, p: &str, a: &str| LabelParty {
        name: n.into(),
        phone: p.into(),
        address: a.into(),
    };
    vec![
        Shipment {
            plain: party(
                "欧阳娜娜",
                "13812345678",
                "北京市朝阳区建国路88号2单元301室",
            ),
            masked: party("欧阳**", "138******78", "北京市朝阳区建国路**号"),
            sender_plain: party("李建国", "13987654321", "广东省深圳市南山区科技园路18号"),
            sender_masked: party("李**", "139******21", "广东省深圳市南山区科技园路**号"),
        },
        Shipment {
            plain: party(
                "司马相如",
                "15900001111",
                "上海市浦东新区世纪大道1000号A座2201",
            ),
            masked: party("司马**", "159******11", "上海市浦东新区世纪大道****号"),
            sender_plain: party("王芳", "18622223333", "浙江省杭州市西湖区文三路477号"),
            sender_masked: party("王*", "186******33", "浙江省杭州市西湖区文三路***号"),
        },
    ]
}

fn data_for(s: &Shipment, waybill: &str) -> LabelData {
    LabelData {
        waybill_no: waybill.into(),
        carrier: "SF 顺丰速运".into(),
        sender: s.sender_masked.clone(),
        recipient: s.masked.clone(),
        privacy_number: Some("17100001234 转 5678".into()),
        sort_code: "BJ07".into(),
        destination: "北京市 朝阳区".into(),
        qr_token: TOKEN.into(),
        printed_at: "2026-12-03 10:00".into(),
    }
}

fn sample() -> LabelData {
    data_for(&shipments()[0], "SF1234567890123")
}

fn font() -> &'static Font {
    Font::embedded().unwrap()
}

fn dots(mm: f32, dpi: u32) -> u32 {
    (f64::from(mm) * f64::from(dpi) / 25.4).round() as u32
}

/// Decodes a grey or RGB PNG into luma.
fn decode_png(png_bytes: &[u8]) -> (Vec<u8>, u32, u32) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Grayscale);
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    buf.truncate(info.buffer_size());
    (buf, info.width, info.height)
}

fn decode(luma: &[u8], w: u32, h: u32, format: BarcodeFormat) -> String {
    rxing::helpers::detect_in_luma(luma.to_vec(), w, h, Some(format))
        .unwrap_or_else(|e| panic!("{format:?} not decoded: {e:?}"))
        .getText()
        .to_string()
}

// ---------------------------------------------------------------- 1. PNG

#[test]
fn png_symbols_decode_back_at_203_and_300_dpi() {
    let waybills = [
        "SF1234567890123",
        "YT9876543210987",
        "JDVA01234567890-1-1",
        "7700112233",
    ];
    for size in SIZES {
        for (i, waybill) in waybills.iter().enumerate() {
            let mut data = data_for(&shipments()[i % 2], waybill);
            data.qr_token = format!("{TOKEN}{i}");
            if i == 3 {
                // The longest token accepted still scans at 203 dpi.
                data.qr_token = format!("PGQ1.{}", "x9Z_-".repeat(79));
                assert_eq!(data.qr_token.len(), parcel_label::MAX_TOKEN_LEN);
            }
            let l = layout(&data, size).unwrap();
            for dpi in [203, 300] {
                let png = render_png(&l, font(), dpi).unwrap();
                let (luma, w, h) = decode_png(&png);
                assert_eq!(
                    (w, h),
                    (dots(size.width_mm(), dpi), dots(size.height_mm(), dpi))
                );
                let ctx = format!("{size} {dpi}dpi {waybill}");
                assert_eq!(
                    decode(&luma, w, h, BarcodeFormat::CODE_128),
                    *waybill,
                    "{ctx}"
                );
                assert_eq!(
                    decode(&luma, w, h, BarcodeFormat::QR_CODE),
                    data.qr_token,
                    "{ctx}"
                );
            }
        }
    }
}

#[test]
fn png_dimensions_match_label_size() {
    let l = layout(&sample(), LabelSize::Mm100x150).unwrap();
    let (_, w, h) = decode_png(&render_png(&l, font(), 203).unwrap());
    assert_eq!((w, h), (799, 1199));
    let l = layout(&sample(), LabelSize::Mm76x130).unwrap();
    let (_, w, h) = decode_png(&render_png(&l, font(), 203).unwrap());
    assert_eq!((w, h), (607, 1039));
    assert!(matches!(
        render_png(&l, font(), 72),
        Err(LabelError::Dpi(72))
    ));
}

// --------------------------------------------------------- 2. no plaintext

/// Plaintext values (and the bare phone digits) found in `text`, compared
/// with all whitespace removed, since lines wrap anywhere.
fn leaks<'a>(text: &str, plain: &[&'a LabelParty]) -> Vec<&'a str> {
    let squashed: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let mut found = Vec::new();
    for p in plain {
        for v in [p.name.as_str(), p.address.as_str(), p.phone.as_str()] {
            if squashed.contains(v) {
                found.push(v);
            }
        }
        if digits.contains(p.phone.as_str()) && !found.contains(&p.phone.as_str()) {
            found.push(p.phone.as_str());
        }
    }
    found
}

/// Masked values that `text` lacks (whitespace ignored).
fn missing<'a>(text: &str, masked: &[&'a LabelParty]) -> Vec<&'a str> {
    let squashed: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    masked
        .iter()
        .flat_map(|p| [p.name.as_str(), p.phone.as_str(), p.address.as_str()])
        .filter(|v| !squashed.contains(*v))
        .collect()
}

fn pdf_text(pdf: &[u8]) -> String {
    pdf_extract::extract_text_from_mem(pdf).unwrap()
}

#[test]
fn pdf_has_masked_text_and_no_plaintext() {
    for s in shipments() {
        for size in SIZES {
            let data = data_for(&s, "SF1234567890123");
            let pdf = render_pdf(&[layout(&data, size).unwrap()], font()).unwrap();
            assert!(pdf.starts_with(b"%PDF-"));
            let text = pdf_text(&pdf);
            assert_eq!(
                missing(&text, &[&s.masked, &s.sender_masked]),
                Vec::<&str>::new(),
                "{text}"
            );
            assert_eq!(
                leaks(&text, &[&s.plain, &s.sender_plain]),
                Vec::<&str>::new(),
                "{text}"
            );
            // The rest of the label is searchable too.
            let squashed: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            for want in [
                "SF1234567890123",
                "隐私号17100001234转5678",
                "BJ07",
                "2026-12-0310:00",
            ] {
                assert!(squashed.contains(want), "{want} in {text}");
            }
        }
    }
}

#[test]
fn leak_check_catches_unmasked_data() {
    // Negative control: a caller that forgot to mask. The same checks must
    // flag it, or the test above proves nothing.
    let s = &shipments()[0];
    let mut data = data_for(s, "SF1234567890123");
    data.recipient = s.plain.clone();
    let pdf = render_pdf(&[layout(&data, LabelSize::Mm100x150).unwrap()], font()).unwrap();
    let text = pdf_text(&pdf);
    let found = leaks(&text, &[&s.plain]);
    assert_eq!(
        found,
        vec![
            "欧阳娜娜",
            "北京市朝阳区建国路88号2单元301室",
            "13812345678"
        ]
    );
    assert!(!missing(&text, &[&s.masked]).is_empty());

    // Digits split by a separator are still caught.
    let mut data = data_for(s, "SF1234567890123");
    data.recipient.phone = "138 1234 5678".into();
    let pdf = render_pdf(&[layout(&data, LabelSize::Mm76x130).unwrap()], font()).unwrap();
    assert_eq!(leaks(&pdf_text(&pdf), &[&s.plain]), vec!["13812345678"]);
}

/// `^FD` payloads of a ZPL string.
fn fd_fields(zpl: &str) -> Vec<&str> {
    zpl.split("^FD")
        .skip(1)
        .map(|rest| rest.split("^FS").next().unwrap())
        .collect()
}

#[test]
fn zpl_holds_no_plaintext() {
    for s in shipments() {
        let data = data_for(&s, "SF1234567890123");
        let layouts: Vec<Layout> = SIZES.iter().map(|z| layout(&data, *z).unwrap()).collect();
        let zpl = render_zpl(&layouts, font(), 203).unwrap();
        // CJK text is bitmaps: the printer gets ASCII only.
        assert!(zpl.is_ascii());
        for f in fd_fields(&zpl) {
            assert!(
                f == data.waybill_no || f == format!("MA,{}", data.qr_token),
                "unexpected printer text {f:?}"
            );
        }
        assert_eq!(fd_fields(&zpl).len(), 4);
        // Digits of coordinates and bitmaps run together in ZPL, so the
        // digits-only check is per printer field; the verbatim one is global.
        for f in fd_fields(&zpl) {
            assert_eq!(leaks(f, &[&s.plain, &s.sender_plain]), Vec::<&str>::new());
        }
        for p in [&s.plain, &s.sender_plain] {
            assert!(!zpl.contains(p.phone.as_str()));
        }
    }
}

#[test]
fn png_symbols_hold_only_waybill_and_token() {
    let data = sample();
    let l = layout(&data, LabelSize::Mm100x150).unwrap();
    let png = render_png(&l, font(), 203).unwrap();
    // No text chunks: nothing but pixels.
    for chunk in [&b"tEXt"[..], b"zTXt", b"iTXt"] {
        assert!(!png.windows(4).any(|w| w == chunk));
    }
    let (luma, w, h) = decode_png(&png);
    // Every symbol on the label, whatever its format.
    let results = rxing::helpers::detect_multiple_in_luma(luma, w, h).unwrap();
    let mut found: Vec<String> = results.iter().map(|r| r.getText().to_string()).collect();
    found.sort();
    found.dedup();
    let mut want = vec![data.waybill_no.clone(), data.qr_token.clone()];
    want.sort();
    assert_eq!(found, want);
    let s = &shipments()[0];
    for t in &found {
        assert!(leaks(t, &[&s.plain, &s.sender_plain]).is_empty());
    }
}

// ---------------------------------------------------------- 3. wrapping

fn assert_inside(l: &Layout) {
    let page = l.page();
    let f = font();
    for e in l.elements() {
        let b = e.bounds();
        assert!(page.contains(&b), "{e:?} leaves the page {page:?}");
        if let Element::Text(t) = e {
            assert!(t.lines.len() as f32 * t.pitch <= t.rect.h + 1e-3, "{t:?}");
            for line in &t.lines {
                assert!(f.text_width_mm(line, t.size) <= t.rect.w + 1e-3, "{t:?}");
            }
        }
    }
}

#[test]
fn long_address_wraps_inside_the_page() {
    let address: String = "广东省深圳市南山区粤海街道科技园南区高新南七道数字技术园B座12楼1201室转前台代收件请联系物业管理处值班室谢谢您的配合"
        .chars()
        .take(60)
        .collect();
    assert_eq!(address.chars().count(), 60);
    for size in SIZES {
        let mut data = sample();
        data.recipient.address = address.clone();
        data.sender.address = address.clone();
        let l = layout(&data, size).unwrap();
        assert_inside(&l);
        let block = l.text(Field::RecipientAddress).unwrap();
        assert!(block.lines.len() >= 3, "{size}: {:?}", block.lines);
        // 60 characters fit the recipient box without being cut.
        assert_eq!(block.lines.concat(), address, "{size}");
        // The sender box is smaller: cut with an ellipsis, still inside.
        let sender = l.text(Field::SenderAddress).unwrap();
        assert!(sender.lines.len() >= 2);
    }
}

#[test]
fn absurdly_long_fields_are_cut_not_overflowing() {
    let mut data = sample();
    let long = "很长的地址".repeat(200);
    data.recipient.address = long.clone();
    data.recipient.name = long.clone();
    data.sender.phone = "1".repeat(500);
    data.sort_code = "BJ07".repeat(50);
    data.privacy_number = Some("1".repeat(300));
    for size in SIZES {
        let l = layout(&data, size).unwrap();
        assert_inside(&l);
        let name = l.text(Field::RecipientName).unwrap();
        assert_eq!(name.lines.len(), 1);
        assert!(name.lines[0].ends_with('…'));
    }
}

// --------------------------------------------------------------- 4. ZPL

#[test]
fn zpl_structure() {
    for dpi in [203u32, 300] {
        let data = sample();
        let layouts: Vec<Layout> = SIZES.iter().map(|z| layout(&data, *z).unwrap()).collect();
        let zpl = render_zpl(&layouts, font(), dpi).unwrap();
        let labels: Vec<&str> = zpl.split_inclusive("^XZ\n").collect();
        assert_eq!(labels.len(), 2);
        for (label, size) in labels.iter().zip(SIZES) {
            assert!(label.starts_with("^XA\n"), "{}", &label[..20]);
            assert!(label.trim_end().ends_with("^XZ"));
            assert_eq!(label.matches("^XA").count(), 1);
            assert_eq!(label.matches("^XZ").count(), 1);
            let pw = format!("^PW{}\n", dots(size.width_mm(), dpi));
            let ll = format!("^LL{}\n", dots(size.height_mm(), dpi));
            assert!(label.contains(&pw) && label.contains(&ll), "{size} {dpi}");
            assert!(label.contains("^BCN,"), "{size}");
            let bc = label.split("^BCN,").nth(1).unwrap();
            assert!(bc.starts_with(&format!(
                "{},N,N,N,A^FD{}^FS",
                bc.split(',').next().unwrap(),
                data.waybill_no
            )));
            assert!(label.contains(&format!("^FDMA,{}^FS", data.qr_token)));
            assert!(label.contains("^BQN,2,"));
            let gfas = check_gfa(label);
            assert!(gfas >= 10, "{gfas} text bitmaps");
        }
    }
}

/// Checks every `^GFA,b,c,d,data` and returns how many there are.
fn check_gfa(zpl: &str) -> usize {
    let mut n = 0;
    for rest in zpl.split("^GFA,").skip(1) {
        let body = rest.split("^FS").next().unwrap();
        let mut parts = body.splitn(4, ',');
        let b: usize = parts.next().unwrap().parse().unwrap();
        let c: usize = parts.next().unwrap().parse().unwrap();
        let d: usize = parts.next().unwrap().parse().unwrap();
        let data = parts.next().unwrap();
        assert_eq!(b, c, "uncompressed: field count = byte count");
        assert!(d > 0 && b.is_multiple_of(d), "{b} bytes in rows of {d}");
        assert_eq!(data.len(), 2 * b, "hex length");
        assert!(
            data.bytes()
                .all(|x| x.is_ascii_hexdigit() && !x.is_ascii_lowercase())
        );
        assert!(data.bytes().any(|x| x != b'0'), "a bitmap with ink");
        n += 1;
    }
    n
}

#[test]
fn zpl_bitmaps_match_the_png_raster() {
    // Paint every ^GFA at its ^FO onto a blank page: each printed dot must
    // be dark in the PNG of the same layout, and the bitmaps must carry most
    // of the PNG's text ink (so they sit where the text is).
    let dpi = 203;
    for size in SIZES {
        let l = layout(&sample(), size).unwrap();
        let zpl = render_zpl(std::slice::from_ref(&l), font(), dpi).unwrap();
        let (luma, w, h) = decode_png(&render_png(&l, font(), dpi).unwrap());
        let mut painted = 0usize;
        for part in zpl.split("^FO").skip(1) {
            let Some((pos, gfa)) = part.split_once("^GFA,") else {
                continue;
            };
            let (x, y) = pos.split_once(',').unwrap();
            let (x, y): (usize, usize) = (x.parse().unwrap(), y.parse().unwrap());
            let body = gfa.split("^FS").next().unwrap();
            let fields: Vec<&str> = body.splitn(4, ',').collect();
            let per_row: usize = fields[2].parse().unwrap();
            let bytes: Vec<u8> = (0..fields[3].len() / 2)
                .map(|i| u8::from_str_radix(&fields[3][2 * i..2 * i + 2], 16).unwrap())
                .collect();
            for (i, byte) in bytes.iter().enumerate() {
                for bit in 0..8 {
                    if byte & (0x80 >> bit) != 0 {
                        let (px, py) = (x + (i % per_row) * 8 + bit, y + i / per_row);
                        assert!(
                            px < w as usize && py < h as usize,
                            "{size}: dot off the page"
                        );
                        let v = luma[py * w as usize + px];
                        assert!(
                            v < 128,
                            "{size}: zpl dot ({px},{py}) is white ({v}) in the png"
                        );
                        painted += 1;
                    }
                }
            }
        }
        assert!(painted > 5_000, "{size}: {painted} dots");
    }
}

#[test]
fn zpl_rejects_bad_dpi_and_renders_nothing_for_no_labels() {
    assert_eq!(render_zpl(&[], font(), 203).unwrap(), "");
    assert!(matches!(
        render_zpl(&[], font(), 5000),
        Err(LabelError::Dpi(5000))
    ));
    assert!(matches!(render_pdf(&[], font()), Err(LabelError::Empty)));
}

#[test]
fn pdf_has_one_page_per_label() {
    let data = sample();
    let layouts: Vec<Layout> = [SIZES[0], SIZES[1], SIZES[0]]
        .iter()
        .map(|z| layout(&data, *z).unwrap())
        .collect();
    let pdf = render_pdf(&layouts, font()).unwrap();
    let pages = pdf_extract::extract_text_from_mem_by_pages(&pdf).unwrap();
    assert_eq!(pages.len(), 3);
    let text = String::from_utf8_lossy(&pdf);
    // Page sizes in points: 100 x 150 mm and 76 x 130 mm.
    assert!(
        text.contains("283.46") && text.contains("425.19"),
        "100x150 media box"
    );
    assert!(
        text.contains("215.43") && text.contains("368.5"),
        "76x130 media box"
    );
    // Subset font with a ToUnicode map.
    assert!(text.contains("/ToUnicode"));
    assert!(text.contains("/FontFile2"));
    // Subsetting keeps it far below the 4 MB font.
    assert!(pdf.len() < 400_000, "{} bytes", pdf.len());
}

// ----------------------------------------------------------- 5. proptest

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn layout_and_zpl_never_fail(
        waybill in "[A-Za-z0-9-]{1,30}",
        token in "[!-\\]_-}]{1,400}",
        texts in proptest::collection::vec(
            prop_oneof![
                any::<String>(),
                proptest::collection::vec(any::<char>(), 0..400).prop_map(String::from_iter),
                "[\\p{Han}*]{0,120}",
            ],
            11,
        ),
        with_privacy in any::<bool>(),
        big in any::<bool>(),
    ) {
        let t = |i: usize| texts[i].clone();
        let data = LabelData {
            waybill_no: waybill,
            carrier: t(0),
            sender: LabelParty { name: t(1), phone: t(2), address: t(3) },
            recipient: LabelParty { name: t(4), phone: t(5), address: t(6) },
            privacy_number: with_privacy.then(|| t(7)),
            sort_code: t(8),
            destination: t(9),
            qr_token: token,
            printed_at: t(10),
        };
        let size = if big { LabelSize::Mm100x150 } else { LabelSize::Mm76x130 };
        let l = layout(&data, size).unwrap();
        assert_inside(&l);
        let zpl = render_zpl(std::slice::from_ref(&l), font(), 203).unwrap();
        prop_assert!(zpl.is_ascii());
        prop_assert!(zpl.starts_with("^XA") && zpl.trim_end().ends_with("^XZ"));
        check_gfa(&zpl);
        for f in fd_fields(&zpl) {
            let qr = format!("MA,{}", data.qr_token);
            prop_assert!(f == data.waybill_no || f == qr, "unexpected printer text");
        }
    }
}

// -------------------------------------------------------------- 6. errors

#[test]
fn invalid_fields_are_named_not_echoed() {
    let long = "SF".repeat(16);
    type Mutation = Box<dyn Fn(&mut LabelData)>;
    let cases: Vec<(&str, Mutation)> = vec![
        ("waybill_no", Box::new(|d| d.waybill_no = String::new())),
        (
            "waybill_no",
            Box::new(|d| d.waybill_no = "SF顺丰123".into()),
        ),
        ("waybill_no", Box::new(|d| d.waybill_no = "SF 123".into())),
        ("waybill_no", Box::new(|d| d.waybill_no = "SF^XZ123".into())),
        ("waybill_no", Box::new(move |d| d.waybill_no = long.clone())),
        ("qr_token", Box::new(|d| d.qr_token = String::new())),
        ("qr_token", Box::new(|d| d.qr_token = "PGQ1.秘密".into())),
        ("qr_token", Box::new(|d| d.qr_token = "PGQ1.a^FSb".into())),
        ("qr_token", Box::new(|d| d.qr_token = "PGQ1.a b".into())),
        ("qr_token", Box::new(|d| d.qr_token = "x".repeat(401))),
    ];
    for (field, mutate) in cases {
        let mut data = sample();
        mutate(&mut data);
        for size in SIZES {
            let err = layout(&data, size).unwrap_err();
            match &err {
                LabelError::InvalidField { field: f, .. } => assert_eq!(*f, field),
                other => panic!("{other:?}"),
            }
            let msg = err.to_string();
            assert!(msg.contains(field), "{msg}");
            let value = if field == "waybill_no" {
                &data.waybill_no
            } else {
                &data.qr_token
            };
            if !value.is_empty() {
                assert!(!msg.contains(value.as_str()), "{msg}");
            }
            assert_eq!(msg, msg.to_lowercase(), "lowercase messages");
        }
    }
    // Longest valid values pass.
    let mut data = sample();
    data.waybill_no = "SF".repeat(15);
    data.qr_token = "A".repeat(400);
    for size in SIZES {
        layout(&data, size).unwrap();
    }
}

#[test]
fn caller_supplied_font_renders() {
    // The embedded chain rebuilt from bytes is a caller's font like any other.
    let bytes = [
        include_bytes!("../fonts/Roboto-Regular.ttf").to_vec(),
        include_bytes!("../fonts/DroidSansFallbackFull.ttf").to_vec(),
    ];
    let f = Font::from_faces(bytes.to_vec()).unwrap();
    let data = sample();
    let l = layout(&data, LabelSize::Mm76x130).unwrap();
    let (luma, w, h) = decode_png(&render_png(&l, &f, 203).unwrap());
    assert_eq!(
        decode(&luma, w, h, BarcodeFormat::CODE_128),
        data.waybill_no
    );
    let text = pdf_text(&render_pdf(std::slice::from_ref(&l), &f).unwrap());
    assert!(text.contains("138******78"));
    // A CJK-only face still renders (digits as .notdef), without failing.
    let droid = Font::from_bytes(bytes[1].clone()).unwrap();
    render_png(&l, &droid, 203).unwrap();
    render_pdf(std::slice::from_ref(&l), &droid).unwrap();
    render_zpl(&[l], &droid, 203).unwrap();
}
