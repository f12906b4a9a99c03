//! Table-driven detector tests: each case is a text and the findings it must
//! (and must not) produce.

use crate::{Detector, Options, PiiType};

fn detect(text: &str) -> Vec<(PiiType, String)> {
    detect_with_head(text, text)
}

fn detect_with_head(head: &str, text: &str) -> Vec<(PiiType, String)> {
    let d = Detector::new().unwrap();
    let ctx = d.document_context(head.as_bytes());
    d.scan(text.as_bytes(), &ctx, &Options::default())
        .into_iter()
        .map(|f| (f.kind, text[f.start..f.end].to_owned()))
        .collect()
}

/// (text, expected findings as (type, matched text)). Values are synthetic:
/// valid-looking but generated for these tests.
const CASES: &[(&str, &[(&str, &str)])] = &[
    // Numbers glued to CJK text are found (Presidio's `\b` misses these).
    ("电话13812345678", &[("cn_mobile", "13812345678")]),
    (
        "手机：+86 138-1234-5678，谢谢",
        &[("cn_mobile", "+86 138-1234-5678")],
    ),
    (
        "call 0086 13912345678 now",
        &[("cn_mobile", "0086 13912345678")],
    ),
    ("tel 8613812345678", &[("cn_mobile", "8613812345678")]),
    ("号码 138 1234 5678", &[("cn_mobile", "138 1234 5678")]),
    // A phone inside a longer digit run is not a phone.
    ("trace 31381234567800001234 done", &[]),
    ("12012345678", &[]),
    ("amount 13812345678.50", &[]),
    // Landlines.
    ("座机 010-62345678", &[("cn_landline", "010-62345678")]),
    ("(021)64561234", &[("cn_landline", "(021)64561234")]),
    ("电话：0755-86013388", &[("cn_landline", "0755-86013388")]),
    ("+86 10 6234 5678", &[("cn_landline", "+86 10 6234 5678")]),
    // Resident IDs: GB 11643 worked example; failing checksum and month 13.
    (
        "身份证号11010519491231002X。",
        &[("cn_resident_id", "11010519491231002X")],
    ),
    ("110105194912310021", &[]),
    // Cards: Luhn + BIN; Luhn failure is not a card.
    (
        "卡号 4111 1111 1111 1111",
        &[("bank_card", "4111 1111 1111 1111")],
    ),
    ("卡号6212345678901232", &[("bank_card", "6212345678901232")]),
    ("卡号6212345678901233", &[]),
    // E-mail and network.
    (
        "mail zhang.san@example.com.",
        &[("email", "zhang.san@example.com")],
    ),
    ("icon@2x.png", &[]),
    ("client 192.168.10.7 - GET", &[("ipv4", "192.168.10.7")]),
    ("version 1.2.3.4", &[]),
    (
        "from 2001:db8::8a2e:370:7334 ok",
        &[("ipv6", "2001:db8::8a2e:370:7334")],
    ),
    ("at 10:23:45 and 00:1a:2b:3c:4d:5e", &[]),
    // Waybills.
    (
        "运单号SF1234567890123",
        &[("waybill_no", "SF1234567890123")],
    ),
    (
        "YT1234567890123 已签收",
        &[("waybill_no", "YT1234567890123")],
    ),
    ("JDVA12345678901", &[("waybill_no", "JDVA12345678901")]),
    ("EMS EE123456785CN", &[("waybill_no", "EE123456785CN")]),
    ("EE123456784CN", &[]),
    (
        "中通快递 单号 731234567890",
        &[("waybill_no", "731234567890")],
    ),
    ("订单号 731234567890", &[]),
    // Passports and plates.
    ("护照号码 E12345678", &[("cn_passport", "E12345678")]),
    ("车牌京A12345违章", &[("cn_plate", "京A12345")]),
    ("粤B·D12345", &[("cn_plate", "粤B·D12345")]),
    // Names: cue + surname table; a bare surname with 先生 is not a name.
    (
        "收件人：王小明，电话13812345678",
        &[("cn_name", "王小明"), ("cn_mobile", "13812345678")],
    ),
    ("王先生您好", &[]),
    ("请联系欧阳娜娜女士", &[("cn_name", "欧阳娜娜")]),
    (
        "{\"receiverName\":\"李四\",\"nickname\":\"王者荣耀\"}",
        &[("cn_name", "李四")],
    ),
    // English words that lower a score count only as words of their own
    // (orderId, order_no), not inside others (border, sometimes); a QQ
    // mailbox is not a QQ number.
    (
        "sometimes call 13812345678",
        &[("cn_mobile", "13812345678")],
    ),
    (
        "across the border 13812345678",
        &[("cn_mobile", "13812345678")],
    ),
    ("orderId 13812345678", &[]),
    ("order_no=13812345678", &[]),
    ("orderno 13812345678", &[]),
    // A word cut by the 40-byte window is still part of its word.
    // (`order` starts exactly 40 bytes before the number.)
    (
        "across the border                                   13812345678",
        &[("cn_mobile", "13812345678")],
    ),
    (
        "mail wang.fang@qq.com, parcel SF1408835923450",
        &[
            ("email", "wang.fang@qq.com"),
            ("waybill_no", "SF1408835923450"),
        ],
    ),
    // Short English words count only on their own: EMS names the carrier,
    // the ems of items does not.
    (
        "EMS 1234567890123 已妥投",
        &[("waybill_no", "1234567890123")],
    ),
    ("items 1234567890123", &[]),
    // A carrier's own format stays a waybill next to a word that lowers
    // other numbers.
    (
        "Your order SF1408835923450 has shipped",
        &[("waybill_no", "SF1408835923450")],
    ),
    (
        "订单号：YT7512345678901",
        &[("waybill_no", "YT7512345678901")],
    ),
    // An address split into fields: the street part has no division but a
    // road and a number.
    (
        "{\"city\":\"深圳市\",\"detail\":\"科技园南路18号3栋502\"}",
        &[("cn_address", "科技园南路18号3栋502")],
    ),
    ("{\"detail\":\"包裹已签收，共3件\"}", &[]),
    // Anonymised names (王某, 张某某) name nobody.
    (
        "收件人：王某某，电话13812345678",
        &[("cn_mobile", "13812345678")],
    ),
    ("张某先生", &[]),
    // Account-holder cues; weak cues (客户, 用户) name someone only behind a
    // separator or before a verb of reporting, since 查, 申 and 付 are
    // surnames too.
    ("户名 陈静", &[("cn_name", "陈静")]),
    ("持卡人：欧阳娜娜", &[("cn_name", "欧阳娜娜")]),
    ("顾客王小明来电称包裹破损", &[("cn_name", "王小明")]),
    ("客户张伟投诉", &[("cn_name", "张伟")]),
    ("客户：刘洋，要求改派", &[("cn_name", "刘洋")]),
    ("用户查询订单", &[]),
    ("用户申请退款", &[]),
    ("客户付款后发货", &[]),
    ("用户都很满意", &[]),
    ("客户明天签收", &[]),
    ("客户强烈要求退款", &[]),
    ("客户：谢谢！", &[]),
    ("用户：明白。", &[]),
    ("付款方式：寄方付款", &[]),
    ("运费由收方付运费", &[]),
    ("寄方：王小明，", &[("cn_name", "王小明")]),
    ("客户名：张伟", &[("cn_name", "张伟")]),
    ("客户名称：华为技术有限公司", &[]),
    ("客户向我们反映了问题", &[]),
    // A chat's speaker label is not a field (金 and 麻 are surnames).
    ("客户：金额714.60元", &[]),
    ("客户：麻烦改派到别的驿站", &[]),
    // Addresses end at the room, also when the room is a bare number after
    // a building, unit or estate (the mask must hide it), but never take
    // a date or a phone for one.
    (
        "地址：江苏省南京市鼓楼区中山北路30号阳光小区2-3-501",
        &[(
            "cn_address",
            "江苏省南京市鼓楼区中山北路30号阳光小区2-3-501",
        )],
    ),
    (
        "四川省成都市武侯区人民南路四段12号院3号楼2单元602",
        &[(
            "cn_address",
            "四川省成都市武侯区人民南路四段12号院3号楼2单元602",
        )],
    ),
    (
        "北京市朝阳区建国路88号SOHO现代城A座1203，谢谢",
        &[("cn_address", "北京市朝阳区建国路88号SOHO现代城A座1203")],
    ),
    (
        "地址：江苏省南京市鼓楼区中山北路30号阳光小区2026-11-22签收",
        &[("cn_address", "江苏省南京市鼓楼区中山北路30号阳光小区")],
    ),
    (
        "北京市朝阳区建国路88号现代城A座138-1234-5678",
        &[
            ("cn_address", "北京市朝阳区建国路88号现代城A座"),
            ("cn_mobile", "138-1234-5678"),
        ],
    ),
    (
        "江苏省南京市鼓楼区中山北路30号阳光小区3-1-1201，送上楼",
        &[(
            "cn_address",
            "江苏省南京市鼓楼区中山北路30号阳光小区3-1-1201",
        )],
    ),
    (
        "江苏省南京市鼓楼区中山北路30号阳光小区300元",
        &[("cn_address", "江苏省南京市鼓楼区中山北路30号阳光小区")],
    ),
    (
        "北京市朝阳区建国路88号现代城A座13812345678",
        &[
            ("cn_address", "北京市朝阳区建国路88号现代城A座"),
            ("cn_mobile", "13812345678"),
        ],
    ),
    // A name standing right before a phone; local numbers and unknown-BIN
    // cards need their hot word; short waybills need a waybill key, not
    // just a carrier name.
    (
        "换个人收，王小明 13812345678",
        &[("cn_name", "王小明"), ("cn_mobile", "13812345678")],
    ),
    ("联系电话13812345678", &[("cn_mobile", "13812345678")]),
    ("固话：62345678", &[("cn_landline", "62345678")]),
    ("room 62345678", &[]),
    // 6011000990139424: a Discover test card number (Luhn-valid).
    (
        "银行卡号 6011000990139424",
        &[("bank_card", "6011000990139424")],
    ),
    ("id 6011000990139424", &[]),
    ("运单号1234567890", &[("waybill_no", "1234567890")]),
    ("【邮政EMS】11060081517 已妥投", &[]),
    // Addresses: division + grammar; a bare city in news is not an address.
    (
        "地址：广东省深圳市南山区粤海街道科技园路18号3栋2单元502室，收件人张伟",
        &[
            (
                "cn_address",
                "广东省深圳市南山区粤海街道科技园路18号3栋2单元502室",
            ),
            ("cn_name", "张伟"),
        ],
    ),
    (
        "寄到河南省周口市郸城县汲冢镇李楼村3组",
        &[("cn_address", "河南省周口市郸城县汲冢镇李楼村3组")],
    ),
    ("今年双十一，广东省深圳市的快递量增长了30%", &[]),
];

#[test]
fn table_of_cases() {
    let mut failures = Vec::new();
    for (text, want) in CASES {
        let got = detect(text);
        let want: Vec<(PiiType, String)> = want
            .iter()
            .map(|(k, v)| (k.parse().unwrap(), (*v).to_owned()))
            .collect();
        if got != want {
            failures.push(format!("{text}\n   want {want:?}\n    got {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn csv_header_gives_context() {
    let head = "收件人,手机,地址,运单号\n";
    let row = "收件人,手机,地址,运单号\n张伟,13812345678,上海市浦东新区张江路88弄5号1201室,731234567890\n";
    let got = detect_with_head(head, row);
    let kinds: Vec<PiiType> = got.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        kinds,
        vec![
            PiiType::CnName,
            PiiType::CnMobile,
            PiiType::CnAddress,
            PiiType::WaybillNo
        ],
        "{got:?}"
    );
}

#[test]
fn sql_insert_columns_give_context() {
    let text =
        "INSERT INTO orders (id, receiver_name, waybill_no) VALUES (1, '赵敏', '4312345678901');\n";
    let got = detect(text);
    assert_eq!(
        got,
        vec![
            (PiiType::CnName, "赵敏".to_owned()),
            (PiiType::WaybillNo, "4312345678901".to_owned())
        ]
    );
}

#[test]
fn explain_gives_reasons() {
    let d = Detector::new().unwrap();
    let opts = Options {
        explain: true,
        min_score: 0.0,
    };
    let f = d.scan("手机13812345678".as_bytes(), &Default::default(), &opts);
    assert_eq!(f.len(), 1);
    assert!(
        f[0].reasons.iter().any(|r| r.contains("hot word")),
        "{:?}",
        f[0].reasons
    );
}

proptest::proptest! {
    // The detector never panics and returns in-bounds, ordered,
    // non-overlapping spans on char boundaries, whatever the input.
    #[test]
    fn spans_are_well_formed(text in "[0-9a-zA-Z@.:+\\- 电话手机收件人王李先生广东省深圳市路号室京A,\n\"]{0,200}") {
        let d = Detector::new().unwrap();
        let found = d.scan(text.as_bytes(), &Default::default(), &Options::default());
        let mut last = 0;
        for f in &found {
            proptest::prop_assert!(f.start >= last && f.start < f.end && f.end <= text.len());
            proptest::prop_assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
            last = f.end;
        }
    }

    #[test]
    fn arbitrary_bytes_do_not_panic(bytes: Vec<u8>) {
        let d = Detector::new().unwrap();
        let _ = d.scan(&bytes, &d.document_context(&bytes), &Options::default());
    }
}
