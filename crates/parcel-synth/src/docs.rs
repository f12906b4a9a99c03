//! Document templates. Each template writes text and labels together
//! through [`Builder`], so a label can never drift from its text.

use rand::Rng;
use rand::seq::SliceRandom;

use crate::values::{self as v, Divisions};
use crate::{Builder, Doc, DocKind, Rng64};

const KINDS: [DocKind; 9] = [
    DocKind::Chat,
    DocKind::Sms,
    DocKind::CsvZh,
    DocKind::CsvEn,
    DocKind::JsonLog,
    DocKind::Nginx,
    DocKind::SqlDump,
    DocKind::Ticket,
    DocKind::English,
];

pub(crate) fn document(rng: &mut Rng64, div: &Divisions, i: usize) -> Doc {
    let kind = KINDS[i % KINDS.len()];
    let mut b = Builder::default();
    let ext = match kind {
        DocKind::Chat => {
            chat(&mut b, rng, div);
            "txt"
        }
        DocKind::Sms => {
            sms(&mut b, rng, div);
            "txt"
        }
        DocKind::CsvZh => {
            csv(&mut b, rng, div, true);
            "csv"
        }
        DocKind::CsvEn => {
            csv(&mut b, rng, div, false);
            "csv"
        }
        DocKind::JsonLog => {
            for _ in 0..rng.gen_range(5..40) {
                json_line(&mut b, rng, div, true);
                b.s("\n");
            }
            "jsonl"
        }
        DocKind::Nginx => {
            for _ in 0..rng.gen_range(10..60) {
                nginx_line(&mut b, rng);
                b.s("\n");
            }
            "log"
        }
        DocKind::SqlDump => {
            sql(&mut b, rng, div);
            "sql"
        }
        DocKind::Ticket => {
            ticket(&mut b, rng, div);
            "txt"
        }
        DocKind::English => {
            english(&mut b, rng);
            "txt"
        }
    };
    let stem = match kind {
        DocKind::Chat => "chat",
        DocKind::Sms => "sms",
        DocKind::CsvZh => "orders-zh",
        DocKind::CsvEn => "orders-en",
        DocKind::JsonLog => "api",
        DocKind::Nginx => "access",
        DocKind::SqlDump => "dump",
        DocKind::Ticket => "ticket",
        DocKind::English => "mail",
    };
    Doc {
        kind,
        name: format!("{stem}-{i:04}.{ext}"),
        text: b.text,
        labels: b.labels,
    }
}

/// A waybill in running text, with its context when it is digits only.
fn waybill_in_text(b: &mut Builder, rng: &mut Rng64, lead: &str) {
    let (wb, digits_only) = v::waybill(rng);
    if digits_only {
        b.s(v::carrier(rng)).s(lead).s("单号");
    } else {
        b.s(lead)
            .s(["运单号", "单号", "快递单号", ""][rng.gen_range(0..4)]);
    }
    b.pii("waybill_no", &wb);
}

fn chat(b: &mut Builder, rng: &mut Rng64, div: &Divisions) {
    b.s(&format!("会话编号 {}\n", rng.gen_range(100_000..999_999)));
    for _ in 0..rng.gen_range(6..30) {
        b.s(if rng.gen_bool(0.5) {
            "客户："
        } else {
            "客服："
        });
        match rng.gen_range(0..21) {
            0 => {
                b.s("你好，我的快递一直没到，");
                waybill_in_text(b, rng, "");
            }
            1 => {
                b.s("收件人")
                    .pii("cn_name", &v::name(rng))
                    .s("，电话")
                    .pii("cn_mobile", &v::mobile(rng));
            }
            2 => {
                b.s("地址是")
                    .pii("cn_address", &v::address(rng, div))
                    .s("，麻烦尽快送");
            }
            3 => {
                b.s("我叫")
                    .pii("cn_name", &v::name(rng))
                    .s("，手机号")
                    .pii("cn_mobile", &v::mobile(rng))
                    .s("。");
            }
            4 => {
                b.s("身份证号")
                    .pii("cn_resident_id", &v::resident_id(rng, div))
                    .s("，需要实名吗？");
            }
            5 => {
                b.s("可以打我座机").pii("cn_landline", &v::landline(rng));
            }
            6 => {
                b.s("退款退到银行卡")
                    .pii("bank_card", &v::bank_card(rng))
                    .s("就行");
            }
            7 => {
                b.s("我的邮箱是")
                    .pii("email", &v::email(rng))
                    .s(" 发我电子发票");
            }
            8 => {
                b.s(&v::text_negative(rng, div));
            }
            9 => {
                b.s("我查一下，").s(&v::number_negative(rng, div));
            }
            10 => {
                b.s("送货的车车牌是")
                    .pii("cn_plate", &v::plate(rng))
                    .s("吗？");
            }
            11 => {
                b.s("好的，")
                    .pii("cn_name", &v::name(rng))
                    .s(["先生", "女士"][rng.gen_range(0..2)])
                    .s("，已为您登记");
            }
            12 => {
                b.s("请问寄件人")
                    .pii("cn_name", &v::name(rng))
                    .s("的电话是多少？");
            }
            13 => {
                b.s("麻烦改派到").pii("cn_address", &v::address(rng, div));
            }
            14 => {
                b.s("收到，感谢您的耐心等待。");
            }
            15 => {
                b.s("国际件需要护照号码：")
                    .pii("cn_passport", &v::passport(rng));
            }
            16 => {
                b.s("联系方式 ")
                    .pii("cn_mobile", &v::mobile(rng))
                    .s(" 或者 ")
                    .pii("cn_landline", &v::landline(rng));
            }
            17 => {
                b.s("换个人收，")
                    .pii("cn_name", &v::name(rng))
                    .s(" ")
                    .pii("cn_mobile", &v::mobile_digits(rng));
            }
            18 => {
                b.s("家里固话")
                    .pii("cn_landline", &v::local_number(rng))
                    .s("，白天没人");
            }
            19 => {
                b.s("运单号")
                    .pii("waybill_no", &v::short_waybill(rng))
                    .s("查不到");
            }
            _ => {
                b.s("金额")
                    .s(&format!(
                        "{}.{:02}",
                        rng.gen_range(1..999),
                        rng.gen_range(0..100)
                    ))
                    .s("元，下单时间")
                    .s(&v::number_negative(rng, div));
            }
        }
        b.s("\n");
    }
}

fn sms(b: &mut Builder, rng: &mut Rng64, div: &Divisions) {
    for _ in 0..rng.gen_range(4..20) {
        match rng.gen_range(0..7) {
            0 => {
                let (wb, _) = v::waybill(rng);
                b.s("【顺丰速运】您的快件")
                    .pii("waybill_no", &wb)
                    .s("已由快递员")
                    .pii("cn_name", &v::name(rng))
                    .s("（")
                    .pii("cn_mobile", &v::mobile(rng))
                    .s("）派送，请保持电话畅通。");
            }
            1 => {
                b.s("【菜鸟驿站】取件码")
                    .s(&format!(
                        "{}-{}-{}",
                        rng.gen_range(1..20),
                        rng.gen_range(1..9),
                        rng.gen_range(1000..9999)
                    ))
                    .s("，请到")
                    .pii("cn_address", &v::address(rng, div))
                    .s("取件，电话")
                    .pii("cn_landline", &v::landline(rng));
            }
            2 => {
                b.s("【").s(v::carrier(rng)).s("】您的包裹");
                let (wb, _) = v::waybill(rng);
                b.pii("waybill_no", &wb).s("已到达分拨中心，预计明日送达。");
            }
            3 => {
                b.s("【京东物流】")
                    .pii("cn_name", &v::name(rng))
                    .s("您好，您的订单预计今日送达，配送员电话")
                    .pii("cn_mobile", &v::mobile(rng));
            }
            4 => {
                b.s("【中通快递】验证码")
                    .s(&format!("{:06}", rng.gen_range(0..1_000_000)))
                    .s("，5分钟内有效。退订回T");
            }
            5 => {
                b.s(&v::text_negative(rng, div));
            }
            _ => {
                b.s("【邮政EMS】")
                    .s(&v::number_negative(rng, div))
                    .s(" 您的邮件已妥投，签收人")
                    .pii("cn_name", &v::name(rng));
            }
        }
        b.s("\n");
    }
}

#[derive(Clone, Copy)]
enum Col {
    Waybill,
    Name,
    Phone,
    Address,
    Id,
    Amount,
    Created,
    Email,
    Remark,
}

fn csv(b: &mut Builder, rng: &mut Rng64, div: &Divisions, zh: bool) {
    let mut cols = vec![Col::Waybill, Col::Name, Col::Phone, Col::Address];
    for extra in [Col::Id, Col::Amount, Col::Created, Col::Email, Col::Remark] {
        if rng.gen_bool(0.5) {
            cols.push(extra);
        }
    }
    cols[1..].shuffle(rng);
    let header: Vec<&str> = cols
        .iter()
        .map(|c| match (c, zh) {
            (Col::Waybill, true) => "运单号",
            (Col::Waybill, false) => "waybill_no",
            (Col::Name, true) => "收件人",
            (Col::Name, false) => "receiver_name",
            (Col::Phone, true) => "收件人手机",
            (Col::Phone, false) => "receiver_phone",
            (Col::Address, true) => "收货地址",
            (Col::Address, false) => "receiver_address",
            (Col::Id, true) => "寄件人身份证号",
            (Col::Id, false) => "sender_id_number",
            (Col::Amount, true) => "金额",
            (Col::Amount, false) => "amount",
            (Col::Created, true) => "下单时间",
            (Col::Created, false) => "created_at",
            (Col::Email, true) => "邮箱",
            (Col::Email, false) => "email",
            (Col::Remark, true) => "备注",
            (Col::Remark, false) => "remark",
        })
        .collect();
    b.s(&header.join(",")).s("\n");
    for _ in 0..rng.gen_range(5..60) {
        for (k, c) in cols.iter().enumerate() {
            if k > 0 {
                b.s(",");
            }
            match c {
                Col::Waybill => {
                    b.pii("waybill_no", &v::waybill(rng).0);
                }
                Col::Name => {
                    b.pii("cn_name", &v::name(rng));
                }
                Col::Phone => {
                    let d = v::mobile_digits(rng);
                    b.pii("cn_mobile", &d);
                }
                Col::Address => {
                    b.pii("cn_address", &v::address(rng, div));
                }
                Col::Id => {
                    b.pii("cn_resident_id", &v::resident_id(rng, div));
                }
                Col::Amount => {
                    b.s(&format!(
                        "{}.{:02}",
                        rng.gen_range(1..2000),
                        rng.gen_range(0..100)
                    ));
                }
                Col::Created => {
                    b.s(&format!(
                        "2026-{:02}-{:02} {:02}:{:02}:{:02}",
                        rng.gen_range(1..13),
                        rng.gen_range(1..29),
                        rng.gen_range(0..24),
                        rng.gen_range(0..60),
                        rng.gen_range(0..60)
                    ));
                }
                Col::Email => {
                    b.pii("email", &v::email(rng));
                }
                Col::Remark => {
                    b.s(["放门口", "工作日送", "易碎品", "", "电联"][rng.gen_range(0..5)]);
                }
            }
        }
        b.s("\n");
    }
}

fn json_line(b: &mut Builder, rng: &mut Rng64, div: &Divisions, with_pii: bool) {
    b.s(&format!(
        "{{\"ts\":\"2026-11-{:02}T{:02}:{:02}:{:02}.{:03}Z\",\"level\":\"INFO\",\"traceId\":\"{:016x}\"",
        rng.gen_range(1..29),
        rng.gen_range(0..24),
        rng.gen_range(0..60),
        rng.gen_range(0..60),
        rng.gen_range(0..1000),
        rng.r#gen::<u64>()
    ));
    if !with_pii {
        b.s(&format!(
            ",\"msg\":\"query status\",\"orderId\":\"{}\",\"costMs\":{}}}",
            rng.gen_range(10u64.pow(17)..10u64.pow(18)),
            rng.gen_range(1..900)
        ));
        return;
    }
    b.s(",\"msg\":\"")
        .s(["create order", "update receiver", "print label", "track"][rng.gen_range(0..4)])
        .s("\"");
    let name_key = ["receiverName", "senderName", "consignee", "contactName"][rng.gen_range(0..4)];
    let phone_key = ["receiverMobile", "senderPhone", "mobile", "tel"][rng.gen_range(0..4)];
    if rng.gen_bool(0.8) {
        b.s(&format!(",\"{name_key}\":\""))
            .pii("cn_name", &v::name(rng))
            .s("\"");
    }
    if rng.gen_bool(0.9) {
        b.s(&format!(",\"{phone_key}\":\""))
            .pii("cn_mobile", &v::mobile_digits(rng))
            .s("\"");
    }
    if rng.gen_bool(0.6) {
        b.s(",\"address\":\"")
            .pii("cn_address", &v::address(rng, div))
            .s("\"");
    }
    if rng.gen_bool(0.3) {
        b.s(",\"senderIdCard\":\"")
            .pii("cn_resident_id", &v::resident_id(rng, div))
            .s("\"");
    }
    if rng.gen_bool(0.7) {
        b.s(",\"waybillNo\":\"")
            .pii("waybill_no", &v::waybill(rng).0)
            .s("\"");
    }
    if rng.gen_bool(0.5) {
        b.s(",\"clientIp\":\"").pii("ipv4", &v::ipv4(rng)).s("\"");
    }
    b.s(&format!(
        ",\"orderNo\":\"{}{}\",\"amount\":{}.{:02}}}",
        rng.gen_range(2024..2027),
        rng.gen_range(10u64.pow(13)..10u64.pow(14)),
        rng.gen_range(1..999),
        rng.gen_range(0..100)
    ));
}

fn nginx_line(b: &mut Builder, rng: &mut Rng64) {
    if rng.gen_bool(0.8) {
        b.pii("ipv4", &v::ipv4(rng));
    } else {
        b.pii("ipv6", &v::ipv6(rng));
    }
    b.s(&format!(
        " - - [22/Nov/2026:{:02}:{:02}:{:02} +0800] \"GET ",
        rng.gen_range(0..24),
        rng.gen_range(0..60),
        rng.gen_range(0..60)
    ));
    match rng.gen_range(0..4) {
        0 => {
            b.s("/api/v1/track?mobile=")
                .pii("cn_mobile", &v::mobile_digits(rng));
        }
        1 => {
            b.s("/api/v1/track?waybillNo=")
                .pii("waybill_no", &v::waybill(rng).0);
        }
        _ => {
            b.s(&format!("/static/js/app.{:08x}.js", rng.r#gen::<u32>()));
        }
    }
    b.s(&format!(
        " HTTP/1.1\" {} {} \"-\" \"Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 Chrome/120.0.{}.{} Mobile\"",
        [200, 200, 304, 404, 502][rng.gen_range(0..5)],
        rng.gen_range(100..90000),
        rng.gen_range(1000..7000),
        rng.gen_range(10..200)
    ));
}

fn sql(b: &mut Builder, rng: &mut Rng64, div: &Divisions) {
    b.s("-- MySQL dump 10.13\n-- Host: ")
        .pii("ipv4", &v::ipv4(rng))
        .s("    Database: express\n");
    for i in 0..rng.gen_range(5..40) {
        b.s("INSERT INTO `orders` (`id`, `waybill_no`, `receiver_name`, `receiver_phone`, `receiver_address`, `sender_id_card`, `created_at`) VALUES (");
        b.s(&format!("{}, '", 1000 + i));
        b.pii("waybill_no", &v::waybill(rng).0).s("', '");
        b.pii("cn_name", &v::name(rng)).s("', '");
        b.pii("cn_mobile", &v::mobile_digits(rng)).s("', '");
        b.pii("cn_address", &v::address(rng, div)).s("', '");
        b.pii("cn_resident_id", &v::resident_id(rng, div)).s("', '");
        b.s(&format!(
            "2026-11-{:02} 10:{:02}:00');\n",
            rng.gen_range(1..29),
            rng.gen_range(0..60)
        ));
    }
}

fn ticket(b: &mut Builder, rng: &mut Rng64, div: &Divisions) {
    b.s(&format!(
        "工单#{} 类型：投诉\n",
        rng.gen_range(10000..99999)
    ));
    b.s("客户姓名：")
        .pii("cn_name", &v::name(rng))
        .s("\n联系电话：")
        .pii("cn_mobile", &v::mobile(rng))
        .s("\n");
    b.s("问题描述：包裹");
    waybill_in_text(b, rng, "");
    b.s("外包装破损，送达地址")
        .pii("cn_address", &v::address(rng, div))
        .s("。\n");
    if rng.gen_bool(0.5) {
        b.s("派送车辆：")
            .pii("cn_plate", &v::plate(rng))
            .s("，司机电话")
            .pii("cn_mobile", &v::mobile(rng))
            .s("\n");
    }
    if rng.gen_bool(0.5) {
        b.s("理赔账户：")
            .pii("bank_card", &v::bank_card(rng))
            .s("\n");
    }
    if rng.gen_bool(0.3) {
        b.s("境外信用卡卡号 ")
            .pii("bank_card", &v::other_card(rng))
            .s("\n");
    }
    b.s(&v::text_negative(rng, div)).s("\n");
    b.s(&v::number_negative(rng, div)).s("\n");
}

fn english(b: &mut Builder, rng: &mut Rng64) {
    b.s("Hi team,\n\nThe customer (email ")
        .pii("email", &v::email(rng))
        .s(", phone ");
    let d = v::mobile_digits(rng);
    b.pii("cn_mobile", &format!("+86 {d}"))
        .s(") says the card ");
    b.pii("bank_card", &v::bank_card(rng))
        .s(" was charged twice for order 2026112210450012.\n");
    b.s("Request came from ")
        .pii("ipv4", &v::ipv4(rng))
        .s(", then from ")
        .pii("ipv6", &v::ipv6(rng))
        .s(".\n");
    if rng.gen_bool(0.5) {
        b.s("For customs, passport no. ")
            .pii("cn_passport", &v::passport(rng))
            .s(".\n");
    }
    b.s(&format!(
        "Build v{}.{}.{} deployed at 2026-11-22 10:00 UTC; 3 retries, 512 bytes.\n",
        rng.gen_range(1..5),
        rng.gen_range(0..20),
        rng.gen_range(0..50)
    ));
}

/// One line of a benchmark corpus and how many labels it holds.
pub(crate) fn corpus_line(
    rng: &mut Rng64,
    div: &Divisions,
    fraction: f64,
    n: u64,
) -> (String, usize) {
    let mut b = Builder::default();
    if rng.gen_bool(fraction.clamp(0.0, 1.0)) {
        match n % 3 {
            0 => json_line(&mut b, rng, div, true),
            1 => nginx_line(&mut b, rng),
            _ => {
                b.s("客服备注：收件人")
                    .pii("cn_name", &v::name(rng))
                    .s("，电话")
                    .pii("cn_mobile", &v::mobile(rng))
                    .s("，地址")
                    .pii("cn_address", &v::address(rng, div));
            }
        }
    } else {
        match rng.gen_range(0..3) {
            0 => {
                b.s(&format!(
                    "2026-11-22T10:{:02}:{:02}.{:03}Z INFO [http-nio-8080-exec-{}] c.e.o.OrderController - GET /api/v1/orders/status?page={}&size=20 status=200 cost={}ms",
                    rng.gen_range(0..60),
                    rng.gen_range(0..60),
                    rng.gen_range(0..1000),
                    rng.gen_range(1..200),
                    rng.gen_range(1..50),
                    rng.gen_range(1..900)
                ));
            }
            1 => json_line(&mut b, rng, div, false),
            _ => {
                b.s(&format!(
                    "2026-11-22 10:{:02}:{:02} WARN sorting-center line={} belt={} parcels_per_min={} jam=false msg=\"scanner heartbeat ok\"",
                    rng.gen_range(0..60),
                    rng.gen_range(0..60),
                    rng.gen_range(1..40),
                    rng.gen_range(1..12),
                    rng.gen_range(100..900)
                ));
            }
        }
    }
    let count = b.labels.len();
    (b.text, count)
}
