//! Drives the real router (in process, through `tower::ServiceExt::oneshot`)
//! over a real SQLite vault: authentication, every endpoint, the error
//! envelope, and that no response carries plaintext.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions"
)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use parcel_server::{AppState, auth, router};
use parcel_vault::mask::MaskProfile;
use parcel_vault::store::{Principal, Store};
use parcel_vault::{Vault, VaultOptions};
use serde_json::{Value, json};
use tower::ServiceExt as _;

struct Api {
    app: axum::Router,
    vault: Arc<Vault>,
    log_vkey: String,
    keys: std::collections::HashMap<&'static str, String>,
    risk: Option<parcel_server::risk::Monitor>,
    _dir: tempfile::TempDir,
}

fn setup() -> Api {
    setup_with(parcel_vault::reveal::RevealOptions::default())
}

fn setup_with(options: parcel_vault::reveal::RevealOptions) -> Api {
    setup_full(options, None)
}

fn setup_full(
    options: parcel_vault::reveal::RevealOptions,
    risk: Option<parcel_server::risk::RiskSettings>,
) -> Api {
    let dir = tempfile::tempdir().unwrap();
    parcel_keys::init_local(dir.path()).unwrap();
    let store: Arc<dyn Store> =
        Arc::new(parcel_store::SqliteStore::open(&dir.path().join("db")).unwrap());
    setup_on(dir, store, options, risk)
}

/// The API over `store`, with keys in `dir` (made by `init_local`) and the
/// log in SQLite there.
fn setup_on(
    dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    options: parcel_vault::reveal::RevealOptions,
    risk: Option<parcel_server::risk::RiskSettings>,
) -> Api {
    let keys = Arc::new(parcel_keys::LocalKeyFile::open(dir.path()).unwrap());
    let log_key = parcel_tlog::NoteKey::from_seed(
        "acme.example/log",
        parcel_tlog::KeyKind::Log,
        parcel_keys::KeyProvider::derive(keys.as_ref(), "test-log")
            .unwrap()
            .expose(),
    )
    .unwrap();
    let log_vkey = log_key.vkey();
    let log = parcel_tlog::Log::open(
        Arc::new(parcel_store::SqliteLog::open(&dir.path().join("log.db")).unwrap()),
        log_key,
        parcel_tlog::LogOptions::default(),
    )
    .unwrap();
    let vault = Vault::new(
        store.clone(),
        keys,
        VaultOptions {
            mask: MaskProfile::default(),
            retention_secs: 86_400,
        },
    )
    .unwrap()
    .with_log(Arc::new(log));
    store.put_tenant("acme", "Acme Express", 0).unwrap();
    store.put_tenant("beta", "Beta Logistics", 0).unwrap();
    let mut api_keys = std::collections::HashMap::new();
    for (tenant, id, role, status, station) in [
        ("acme", "A1", "admin", "active", None),
        ("acme", "A2", "admin", "active", None),
        ("acme", "S1", "service", "active", None),
        ("acme", "C1", "customer_service", "active", None),
        ("acme", "E1", "courier", "active", Some("S01")),
        ("acme", "E2", "courier", "active", Some("S01")),
        ("acme", "M1", "station_manager", "active", Some("S01")),
        ("acme", "M7", "station_manager", "active", Some("S07")),
        ("acme", "AU1", "security_auditor", "active", None),
        ("acme", "X1", "customer_service", "suspended", None),
        // A courier of another tenant.
        ("beta", "B1", "courier", "active", None),
    ] {
        store
            .put_principal(&Principal {
                tenant: tenant.into(),
                id: id.into(),
                role: role.into(),
                station: station.map(Into::into),
                status: status.into(),
                created_at: 0,
            })
            .unwrap();
        let key = auth::new_api_key(tenant, id, 0, None);
        store.put_api_key(&key.record).unwrap();
        api_keys.insert(id, key.secret);
    }
    let vault = Arc::new(vault);
    let mut access = parcel_server::access::Access::builtin().unwrap();
    access.options = options;
    let broker = parcel_vault::numbers::Broker::start(
        vault.clone(),
        parcel_vault::numbers::NumberOptions::default(),
    )
    .unwrap();
    let mut state = AppState::new(vault.clone(), access)
        .with_metrics_for(vec!["acme".to_owned()])
        .with_numbers(broker, vec!["acme/S1".to_owned()]);
    if let Some(settings) = risk {
        state = state.with_risk(settings).unwrap();
    }
    Api {
        risk: state.risk.clone(),
        app: router(state, 1 << 20),
        vault,
        log_vkey,
        keys: api_keys,
        _dir: dir,
    }
}

impl Api {
    async fn call(
        &self,
        who: Option<&str>,
        method: &str,
        uri: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value, String) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(who) = who {
            req = req.header("authorization", format!("Bearer {}", self.keys[who]));
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b.to_string()))
                .unwrap(),
            None => req.body(Body::empty()).unwrap(),
        };
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        )
    }
}

fn shipment(waybill: &str, recipient_phone: &str) -> Value {
    json!({
        "waybill_no": waybill,
        "carrier": "SF",
        "sender": {"name": "张三丰", "phone": "13812345678", "address": "广东省深圳市南山区科技园路1号3栋", "id_number": "11010519491231002X"},
        "recipient": {"name": "欧阳娜娜", "phone": recipient_phone, "address": {"province": "北京市", "city": "北京市", "district": "朝阳区", "detail": "建国路88号2单元301室"}},
        "courier": "E1"
    })
}

const SECRETS: [&str; 5] = [
    "13812345678",
    "13987654321",
    "张三丰",
    "11010519491231002X",
    "建国路88号",
];

fn assert_no_plaintext(text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "plaintext in response: {text}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn shipments_end_to_end() {
    let api = setup();
    // Authentication: none, garbage, suspended.
    let (s, body, _) = api.call(None, "GET", "/v1/shipments/SF1", None).await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthenticated"))
    );
    let (s, _, _) = api.call(Some("X1"), "GET", "/v1/shipments/SF1", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Create.
    let (s, body, text) = api
        .call(
            Some("S1"),
            "POST",
            "/v1/shipments",
            Some(shipment("SF1000000000001", "13987654321")),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{text}");
    assert_no_plaintext(&text);
    assert_eq!(body["shipment"]["recipient"]["phone"], "139******21");
    assert_eq!(body["shipment"]["sender"]["name"], "张**");
    assert_eq!(
        body["shipment"]["recipient"]["address"],
        "北京市朝阳区建国路*号*单元*室"
    );
    assert_eq!(body["shipment"]["status"], "created");
    assert!(body["qr_token"].as_str().unwrap().starts_with("PGQ1."));

    // Duplicate, invalid field (named, value not echoed), malformed JSON.
    let (s, body, _) = api
        .call(
            Some("S1"),
            "POST",
            "/v1/shipments",
            Some(shipment("SF1000000000001", "13987654321")),
        )
        .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("conflict"))
    );
    let (s, body, text) = api
        .call(
            Some("S1"),
            "POST",
            "/v1/shipments",
            Some(shipment("SF1000000000002", "1398765")),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "recipient.phone");
    assert!(!text.contains("1398765"), "{text}");
    let mut wrong_type = shipment("SF1000000000003", "13987654321");
    wrong_type["recipient"]["phone"] = json!(["13987654321"]);
    let (s, _, text) = api
        .call(Some("S1"), "POST", "/v1/shipments", Some(wrong_type))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!text.contains("13987654321"), "{text}");
    // A courier may not create.
    let (s, _, _) = api
        .call(
            Some("E1"),
            "POST",
            "/v1/shipments",
            Some(shipment("SF1000000000004", "13987654321")),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Read: masked only.
    let (s, body, text) = api
        .call(Some("E1"), "GET", "/v1/shipments/SF1000000000001", None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_no_plaintext(&text);
    assert_eq!(
        body["shipment"]["sender"]["id_number"],
        "1****************X"
    );
    let (s, _, _) = api
        .call(Some("E1"), "GET", "/v1/shipments/NOPE", None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Update: lifecycle enforced.
    let (s, body, _) = api
        .call(
            Some("S1"),
            "PATCH",
            "/v1/shipments/SF1000000000001",
            Some(json!({"status": "delivered"})),
        )
        .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("illegal_transition"))
    );
    let (s, body, _) = api
        .call(
            Some("S1"),
            "PATCH",
            "/v1/shipments/SF1000000000001",
            Some(json!({"status": "picked_up", "courier": "E2"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (
            body["shipment"]["status"].as_str(),
            body["shipment"]["courier"].as_str()
        ),
        (Some("picked_up"), Some("E2"))
    );

    // Batch: atomic stores nothing if one item fails; per-item otherwise.
    let items = json!({"shipments": [shipment("SF2000000000001", "13987654321"), shipment("SF2000000000002", "123")]});
    let (s, body, _) = api
        .call(
            Some("S1"),
            "POST",
            "/v1/shipments/batch?atomic=true",
            Some(items.clone()),
        )
        .await;
    assert_eq!(
        (s, body["created"].as_u64()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some(0))
    );
    assert_eq!(
        body["results"][1]["error"]["field"],
        "shipments[1].recipient.phone"
    );
    let (s, body, _) = api
        .call(Some("S1"), "POST", "/v1/shipments/batch", Some(items))
        .await;
    assert_eq!((s, body["created"].as_u64()), (StatusCode::OK, Some(1)));
    assert_eq!(body["results"][0]["status"], 201);

    // Search by phone: customer service yes (audited), courier no.
    let (s, body, text) = api
        .call(Some("C1"), "GET", "/v1/shipments?phone=139-8765-4321", None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["shipments"].as_array().unwrap().len(), 2);
    assert_no_plaintext(&text);
    let (s, _, _) = api
        .call(Some("E1"), "GET", "/v1/shipments?phone=13987654321", None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _) = api
        .call(
            Some("C1"),
            "GET",
            "/v1/shipments?phone=13987654321&name=x",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    // Erasure: admin only.
    let (s, _, _) = api
        .call(Some("C1"), "DELETE", "/v1/persons?phone=13987654321", None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, body, _) = api
        .call(Some("A1"), "DELETE", "/v1/persons?phone=13987654321", None)
        .await;
    assert_eq!(
        (s, body["erased"]["parties"].as_u64()),
        (StatusCode::OK, Some(2))
    );
    let (_, body, _) = api
        .call(Some("C1"), "GET", "/v1/shipments?phone=13987654321", None)
        .await;
    assert_eq!(body["shipments"].as_array().unwrap().len(), 0);
    let (_, body, _) = api
        .call(Some("A1"), "GET", "/v1/shipments/SF1000000000001", None)
        .await;
    assert_eq!(body["shipment"]["recipient"]["erased"], true);
    assert_eq!(body["shipment"]["recipient"]["phone"], "139******21");
}

#[tokio::test]
async fn audited_actions_land_in_the_log_without_personal_data() {
    let api = setup();
    let (s, _, _) = api
        .call(
            Some("S1"),
            "POST",
            "/v1/shipments",
            Some(shipment("SF1000000000001", "13987654321")),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _, _) = api
        .call(Some("C1"), "GET", "/v1/shipments?phone=13987654321", None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, body, _) = api
        .call(Some("A1"), "DELETE", "/v1/persons?phone=13987654321", None)
        .await;
    assert_eq!(s, StatusCode::OK);
    // The earlier search's link to the person went with the erasure.
    assert_eq!(body["erased"]["log_details"], 1);

    // Public C2SP paths: no API key needed.
    let (s, _, vkey) = api.call(None, "GET", "/log/vkey", None).await;
    assert_eq!((s, vkey.trim()), (StatusCode::OK, api.log_vkey.as_str()));
    let (s, _, checkpoint) = api.call(None, "GET", "/log/checkpoint", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(checkpoint.starts_with("acme.example/log\n"), "{checkpoint}");
    let (s, _, bundle) = api
        .call(None, "GET", "/log/tile/entries/000.p/2", None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, _) = api
        .call(None, "GET", "/log/tile/entries/000.p/3", None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = api.call(None, "GET", "/log/tile/0/1", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    for secret in SECRETS {
        assert!(
            !bundle.contains(secret),
            "a log entry holds a personal value"
        );
    }
    assert!(bundle.contains("\"action\":\"search\"") && bundle.contains("erase_person"));
    assert!(
        !bundle.contains("subject"),
        "entries must not link to a customer"
    );

    // Receipts: any authenticated principal, verified offline.
    let (s, _, _) = api.call(None, "GET", "/v1/log/receipt/1", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, body, _) = api.call(Some("E1"), "GET", "/v1/log/receipt/1", None).await;
    assert_eq!(s, StatusCode::OK);
    let receipt: parcel_tlog::Receipt = serde_json::from_value(body).unwrap();
    let policy =
        parcel_tlog::TrustPolicy::log_only(parcel_tlog::VKey::parse(&api.log_vkey).unwrap());
    let checked = receipt.verify(&policy).unwrap();
    assert_eq!(checked.event.action, "erase_person");
    assert_eq!(checked.event.actor, "A1");
    // Another tenant's courier: those entries do not exist for it.
    let (s, _, _) = api.call(Some("B1"), "GET", "/v1/log/receipt/1", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, body, _) = api.call(Some("E1"), "GET", "/v1/log/receipt/9", None).await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (s, _, _) = api.call(Some("E1"), "GET", "/v1/log/receipt/x", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

/// Creates the shipment `waybill` (courier E1, destination S01) and moves
/// it out for delivery with a window around now.
async fn dispatched(api: &Api, waybill: &str) -> String {
    let mut body = shipment(waybill, "13987654321");
    body["destination_station"] = json!("S01");
    let (s, created, text) = api
        .call(Some("S1"), "POST", "/v1/shipments", Some(body))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{text}");
    for status in ["picked_up", "in_transit", "out_for_delivery"] {
        let (s, _, text) = api
            .call(
                Some("A1"),
                "PATCH",
                &format!("/v1/shipments/{waybill}"),
                Some(json!({"status": status})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{text}");
    }
    let now = time::OffsetDateTime::now_utc();
    let fmt = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let window = json!({"delivery_window": {"start": fmt(now - time::Duration::hours(1)), "end": fmt(now + time::Duration::hours(3))}});
    let (s, _, text) = api
        .call(
            Some("A1"),
            "PATCH",
            &format!("/v1/shipments/{waybill}"),
            Some(window),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{text}");
    created["qr_token"].as_str().unwrap().to_owned()
}

fn plaintext(party: &str, field: &str) -> &'static str {
    match (party, field) {
        ("sender", "name") => "张三丰",
        ("sender", "phone") => "13812345678",
        ("sender", "address") => "广东省深圳市南山区科技园路1号3栋",
        ("sender", "id_number") => "11010519491231002X",
        ("recipient", "name") => "欧阳娜娜",
        ("recipient", "phone") => "13987654321",
        _ => "北京市朝阳区建国路88号2单元301室",
    }
}

fn entry(api: &Api, index: u64) -> parcel_tlog::Event {
    let log = api.vault.log().unwrap();
    log.receipt(index).unwrap().event().unwrap()
}

fn roomy() -> parcel_vault::reveal::RevealOptions {
    let mut o = parcel_vault::reveal::RevealOptions::default();
    for q in &mut o.quotas {
        q.1 = 10_000;
        q.2 = 10_000;
    }
    o
}

/// Every role against every party, field and purpose, on one shipment out
/// for delivery (assigned to E1, through station S01, with ticket T1):
/// exactly the combinations the policies name are revealed, each answer
/// has its log entry, and no denial carries a value.
#[tokio::test]
async fn reveal_every_role_field_and_purpose() {
    let api = setup_with(roomy());
    let waybill = "SF2000000000001";
    dispatched(&api, waybill).await;
    let (s, _, text) = api
        .call(
            Some("S1"),
            "POST",
            "/v1/tickets",
            Some(json!({"ticket_id": "T1", "waybill_no": waybill})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{text}");
    let mut allowed = 0;
    for who in ["E1", "E2", "C1", "M1", "M7", "A1", "AU1", "S1"] {
        for party in parcel_policy::PARTIES {
            for field in parcel_policy::FIELDS {
                for purpose in parcel_policy::PURPOSES {
                    let body = json!({"waybill_no": waybill, "party": party, "field": field,
                                      "purpose": purpose, "ticket_id": "T1", "device_id": "pda-7"});
                    let (s, body, text) =
                        api.call(Some(who), "POST", "/v1/reveal", Some(body)).await;
                    if party == "recipient" && field == "id_number" {
                        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
                        continue;
                    }
                    let pii = !matches!(field, "id_number");
                    let expect = match who {
                        "E1" => party == "recipient" && pii && purpose == "delivery_contact",
                        "C1" => pii && matches!(purpose, "customer_service" | "claim"),
                        "M1" => pii && purpose == "exception_handling",
                        "A1" => matches!(purpose, "law_enforcement" | "security_investigation"),
                        _ => false,
                    };
                    let case = format!("{who} {party}.{field} for {purpose}: {text}");
                    let index = body["log_index"].as_u64().expect(&case);
                    let event = entry(&api, index);
                    assert_eq!(event.action, "reveal", "{case}");
                    assert_eq!(event.actor, who, "{case}");
                    assert_eq!(event.waybill.as_deref(), Some(waybill));
                    assert_eq!(event.field.as_deref(), Some(field));
                    assert_eq!(event.purpose.as_deref(), Some(purpose));
                    assert_eq!(event.device.as_deref(), Some("pda-7"));
                    assert!(event.policy_version.as_deref().unwrap().starts_with("ps-"));
                    if expect {
                        allowed += 1;
                        assert_eq!(s, StatusCode::OK, "{case}");
                        assert_eq!(body["value"], plaintext(party, field), "{case}");
                        assert_eq!(event.decision.as_deref(), Some("allow"), "{case}");
                        assert!(!body["decision"]["policies"].as_array().unwrap().is_empty());
                    } else {
                        assert_eq!(s, StatusCode::FORBIDDEN, "{case}");
                        assert!(body.get("value").is_none(), "{case}");
                        assert_no_plaintext(&text);
                        assert_eq!(event.decision.as_deref(), Some("deny"), "{case}");
                        assert_eq!(event.reason.as_deref(), body["error"]["code"].as_str());
                    }
                    // The entry itself never holds the value.
                    assert_no_plaintext(&String::from_utf8(event.encode().unwrap()).unwrap());
                }
            }
        }
    }
    // E1: 3 recipient fields; C1: 6 name/phone/address × 2 purposes; M1: 6;
    // A1: all 7 × 2 purposes.
    assert_eq!(allowed, 3 + 12 + 6 + 14);
}

#[tokio::test]
async fn leased_quota_hands_out_exactly_the_limit() {
    let mut options = roomy();
    options.quotas[0] = ("courier".into(), 40, 100);
    options.quota_lease = 8;
    let api = setup_with(options);
    let waybill = "SF2000000000002";
    dispatched(&api, waybill).await;
    let phone = json!({"waybill_no": waybill, "party": "recipient", "field": "phone", "purpose": "delivery_contact"});
    let mut allowed = 0;
    let mut refused = 0;
    for _ in 0..45 {
        let (s, body, _) = api
            .call(Some("E1"), "POST", "/v1/reveal", Some(phone.clone()))
            .await;
        match s {
            StatusCode::OK => allowed += 1,
            _ => {
                assert_eq!(body["error"]["code"], "quota_exceeded");
                refused += 1;
            }
        }
    }
    assert_eq!((allowed, refused), (40, 5));
}

#[tokio::test]
async fn reveal_rules_quota_tickets_qr_and_suspension() {
    let mut options = roomy();
    options.quotas[0] = ("courier".into(), 3, 100);
    let api = setup_with(options);
    let waybill = "SF2000000000002";
    let qr = dispatched(&api, waybill).await;
    let ask = |who: &'static str, body: Value| {
        let api = &api;
        async move { api.call(Some(who), "POST", "/v1/reveal", Some(body)).await }
    };
    let phone = json!({"waybill_no": waybill, "party": "recipient", "field": "phone", "purpose": "delivery_contact"});
    // Another courier: not assigned.
    let (s, body, _) = ask("E2", phone.clone()).await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("not_assigned"))
    );
    // Through the label's QR token.
    let (s, body, text) = ask("E1", json!({"qr_token": qr, "party": "recipient", "field": "phone", "purpose": "delivery_contact"})).await;
    assert_eq!(s, StatusCode::OK, "{text}");
    assert_eq!(body["value"], "13987654321");
    // Quota: 3 an hour; the 4th is denied and logged.
    for _ in 0..2 {
        assert_eq!(ask("E1", phone.clone()).await.0, StatusCode::OK);
    }
    let (s, body, _) = ask("E1", phone.clone()).await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("quota_exceeded"))
    );
    let e = entry(&api, body["log_index"].as_u64().unwrap());
    assert_eq!(e.reason.as_deref(), Some("quota_exceeded"));
    assert_eq!(e.policies, ["quota-hour"]);
    // Unknown shipments are denials on record too.
    let (s, body, _) = ask("E1", json!({"waybill_no": "SF9999999999999", "party": "recipient", "field": "phone", "purpose": "delivery_contact"})).await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    assert_eq!(
        entry(&api, body["log_index"].as_u64().unwrap())
            .reason
            .as_deref(),
        Some("not_found")
    );
    // Bad input names the field.
    let (s, body, _) = ask("E1", json!({"waybill_no": waybill, "party": "recipient", "field": "phone", "purpose": "curiosity"})).await;
    assert_eq!(
        (s, body["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("purpose"))
    );
    let (s, _, _) = ask("E1", json!({"waybill_no": waybill, "qr_token": "x", "party": "recipient", "field": "phone", "purpose": "pickup"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    // Tickets: customer service needs one bound to this shipment.
    let cs = |ticket: Option<&str>| {
        let mut b = json!({"waybill_no": waybill, "party": "sender", "field": "phone", "purpose": "customer_service"});
        if let Some(t) = ticket {
            b["ticket_id"] = json!(t);
        }
        b
    };
    let (s, body, _) = ask("C1", cs(None)).await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("ticket_required"))
    );
    let (s, body, _) = ask("C1", cs(Some("T9"))).await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("ticket_not_for_shipment"))
    );
    let t = json!({"ticket_id": "T9", "waybill_no": waybill});
    assert_eq!(
        api.call(Some("C1"), "POST", "/v1/tickets", Some(t.clone()))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        api.call(Some("S1"), "POST", "/v1/tickets", Some(t.clone()))
            .await
            .0,
        StatusCode::CREATED
    );
    assert_eq!(
        api.call(Some("S1"), "POST", "/v1/tickets", Some(t)).await.0,
        StatusCode::CONFLICT
    );
    let (s, body, _) = ask("C1", cs(Some("T9"))).await;
    assert_eq!(
        (s, body["value"].as_str()),
        (StatusCode::OK, Some("13812345678"))
    );

    // Suspension applies to the very next request.
    let (s, _, text) = api
        .call(
            Some("A1"),
            "PATCH",
            "/v1/principals/C1",
            Some(json!({"status": "suspended"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{text}");
    let (s, body, _) = ask("C1", cs(Some("T9"))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(body.get("value").is_none());
    assert_eq!(
        api.call(
            Some("E1"),
            "PATCH",
            "/v1/principals/C1",
            Some(json!({"status": "active"}))
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    let (s, _, _) = api
        .call(
            Some("A1"),
            "PATCH",
            "/v1/principals/A1",
            Some(json!({"status": "suspended"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "no self-suspension");
}

#[tokio::test]
async fn break_glass_needs_a_second_admin_and_works_once() {
    let api = setup_with(roomy());
    let waybill = "SF2000000000003";
    dispatched(&api, waybill).await;
    let reveal = |id: &str| json!({"waybill_no": waybill, "party": "sender", "field": "id_number", "purpose": "customer_service", "break_glass_id": id});
    let (s, _, _) = api
        .call(Some("A1"), "POST", "/v1/break-glass", Some(json!({"waybill_no": waybill, "party": "sender", "field": "id_number", "justification": "too short"})))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, body, text) = api
        .call(Some("A1"), "POST", "/v1/break-glass", Some(json!({"waybill_no": waybill, "party": "sender", "field": "id_number", "justification": "police fraud case 2026-118 cannot wait for the legal ticket"})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{text}");
    let id = body["break_glass"]["id"].as_str().unwrap().to_owned();
    // Not usable before approval; not approvable by the requester or a non-admin.
    let (s, body, _) = api
        .call(Some("A1"), "POST", "/v1/reveal", Some(reveal(&id)))
        .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("break_glass_not_approved"))
    );
    let approve = format!("/v1/break-glass/{id}/approve");
    assert_eq!(
        api.call(Some("A1"), "POST", &approve, None).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        api.call(Some("C1"), "POST", &approve, None).await.0,
        StatusCode::FORBIDDEN
    );
    let (s, _, text) = api.call(Some("A2"), "POST", &approve, None).await;
    assert_eq!(s, StatusCode::OK, "{text}");
    assert_eq!(
        api.call(Some("A2"), "POST", &approve, None).await.0,
        StatusCode::CONFLICT
    );
    // Only the requester may use it, for that field, once.
    assert_eq!(
        api.call(Some("A2"), "POST", "/v1/reveal", Some(reveal(&id)))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let mut other_field = reveal(&id);
    other_field["field"] = json!("phone");
    assert_eq!(
        api.call(Some("A1"), "POST", "/v1/reveal", Some(other_field))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (s, body, text) = api
        .call(Some("A1"), "POST", "/v1/reveal", Some(reveal(&id)))
        .await;
    assert_eq!(s, StatusCode::OK, "{text}");
    assert_eq!(body["value"], "11010519491231002X");
    assert_eq!(body["decision"]["policies"], json!(["admin-break-glass"]));
    let e = entry(&api, body["log_index"].as_u64().unwrap());
    assert_eq!(e.detail["break_glass"], json!(id));
    assert_eq!(e.detail["approved_by"], json!("A2"));
    let (s, _, _) = api
        .call(Some("A1"), "POST", "/v1/reveal", Some(reveal(&id)))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "used once");
    // The request and the approval are on record, without the justification.
    let log = api.vault.log().unwrap();
    let (size, _) = log.tree().unwrap();
    let actions: Vec<String> = (0..size).map(|i| entry(&api, i).action).collect();
    assert!(actions.iter().any(|a| a == "break_glass_request"));
    assert!(actions.iter().any(|a| a == "break_glass_approve"));
    for i in 0..size {
        let bytes = entry(&api, i).encode().unwrap();
        assert!(!String::from_utf8(bytes).unwrap().contains("police fraud"));
    }
}

#[tokio::test]
async fn principals_keys_and_policies_over_the_api() {
    let api = setup();
    // No admin suspends or demotes themselves (a second admin must).
    for change in [json!({"status": "suspended"}), json!({"role": "courier"})] {
        let (s, body, _) = api
            .call(Some("A1"), "PATCH", "/v1/principals/A1", Some(change))
            .await;
        assert_eq!(
            (s, body["error"]["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("own_account"))
        );
    }
    let (s, _, text) = api
        .call(
            Some("A1"),
            "POST",
            "/v1/principals",
            Some(json!({"id": "E1001", "role": "courier", "station": "S02"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{text}");
    let (s, _, _) = api
        .call(
            Some("A1"),
            "POST",
            "/v1/principals",
            Some(json!({"id": "E1001", "role": "courier"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, body, _) = api
        .call(
            Some("A1"),
            "POST",
            "/v1/principals",
            Some(json!({"id": "E1002", "role": "wizard"})),
        )
        .await;
    assert_eq!(
        (s, body["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("role"))
    );
    let (s, body, _) = api
        .call(
            Some("A1"),
            "POST",
            "/v1/principals/E1001/keys",
            Some(json!({"expires_in_days": 30})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let secret = body["api_key"]["secret"].as_str().unwrap().to_owned();
    let key_id = body["api_key"]["id"].as_str().unwrap().to_owned();
    // The new key works; listings never show secrets.
    let mut api = api;
    api.keys.insert("E1001", secret.clone());
    assert_eq!(
        api.call(Some("E1001"), "GET", "/v1/shipments/SF0", None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (s, _, text) = api.call(Some("A1"), "GET", "/v1/keys", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(text.contains(&key_id) && !text.contains(&secret));
    let (s, _, _) = api.call(Some("A1"), "GET", "/v1/principals", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        api.call(Some("E1"), "GET", "/v1/principals", None).await.0,
        StatusCode::FORBIDDEN
    );
    // Revoked: refused at once.
    assert_eq!(
        api.call(Some("A1"), "DELETE", &format!("/v1/keys/{key_id}"), None)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        api.call(Some("E1001"), "GET", "/v1/shipments/SF0", None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api.call(Some("A1"), "DELETE", &format!("/v1/keys/{key_id}"), None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    // Policies: auditors read them; only admins reload.
    let (s, body, _) = api.call(Some("AU1"), "GET", "/v1/policies", None).await;
    assert_eq!(s, StatusCode::OK);
    let version = body["version"].as_str().unwrap().to_owned();
    assert!(
        body["files"][0]["text"]
            .as_str()
            .unwrap()
            .contains("courier-delivery-contact")
    );
    assert_eq!(
        api.call(Some("E1"), "GET", "/v1/policies", None).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        api.call(Some("AU1"), "POST", "/v1/policies/reload", None)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (s, body, _) = api
        .call(Some("A1"), "POST", "/v1/policies/reload", None)
        .await;
    assert_eq!(
        (s, body["version"].as_str()),
        (StatusCode::OK, Some(version.as_str()))
    );
}

#[tokio::test]
async fn reveal_fails_closed_when_the_log_cannot_record() {
    let api = setup_with(roomy());
    let waybill = "SF2000000000004";
    dispatched(&api, waybill).await;
    api.vault.log().unwrap().close();
    let (s, body, text) = api
        .call(Some("E1"), "POST", "/v1/reveal", Some(json!({"waybill_no": waybill, "party": "recipient", "field": "phone", "purpose": "delivery_contact"})))
        .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("log_unavailable")),
        "{text}"
    );
    assert_no_plaintext(&text);
}

/// Single sign-on: a token from the identity provider maps to a principal
/// by its `sub`; a suspended or unknown principal, or a bad token, is
/// refused with no hint of which.
#[tokio::test]
async fn oidc_tokens_map_to_principals() {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
    // PKCS#8 DER prefix of an Ed25519 private key (RFC 8410 §7).
    const PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    let seed: [u8; 32] = rand::random();
    let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
    let mut der = PREFIX.to_vec();
    der.extend_from_slice(&seed);
    let signing = jsonwebtoken::EncodingKey::from_ed_der(&der);
    let jwks = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": B64URL.encode(public.to_bytes()), "kid": "k1", "alg": "EdDSA"}]});
    let verifier = parcel_server::oidc::OidcVerifier::from_jwks(
        &jwks.to_string(),
        parcel_server::oidc::OidcSettings {
            issuer: "https://sso.acme.example".into(),
            audience: "parcelguard".into(),
            claim: "sub".into(),
            leeway_secs: 30,
        },
    )
    .unwrap();
    let mut api = setup();
    let access = parcel_server::access::Access::builtin().unwrap();
    let state = AppState::new(api.vault.clone(), access).with_oidc(verifier, "acme");
    api.app = router(state, 1 << 20);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let token = |sub: &str, exp: i64| {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some("k1".into());
        jsonwebtoken::encode(
            &header,
            &json!({"iss": "https://sso.acme.example", "aud": "parcelguard", "sub": sub, "exp": exp}),
            &signing,
        )
        .unwrap()
    };
    for (name, tok, want) in [
        ("good", token("C1", now + 300), StatusCode::NOT_FOUND),
        ("expired", token("C1", now - 300), StatusCode::UNAUTHORIZED),
        (
            "unknown principal",
            token("NOBODY", now + 300),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "suspended principal",
            token("X1", now + 300),
            StatusCode::FORBIDDEN,
        ),
        (
            "garbage",
            "e30.e30.AAAA".to_owned(),
            StatusCode::UNAUTHORIZED,
        ),
    ] {
        api.keys.insert("sso", tok);
        // A shipment that does not exist: 404 once authenticated.
        let (s, body, text) = api
            .call(Some("sso"), "GET", "/v1/shipments/SF0", None)
            .await;
        assert_eq!(s, want, "{name}: {text}");
        if s != StatusCode::NOT_FOUND {
            assert!(matches!(
                body["error"]["code"].as_str(),
                Some("unauthenticated" | "forbidden")
            ));
        }
    }
    // API keys keep working beside SSO.
    assert_eq!(
        api.call(Some("A1"), "GET", "/v1/principals", None).await.0,
        StatusCode::OK
    );
}

/// A courier who pulls other couriers' recipients is raised while they
/// are still at it: the alert (pseudonymous, with its numbers and log
/// evidence) tightens the quota at `high`, the escalation to `critical`
/// suspends the account before the next reveal, and analysts acknowledge,
/// resolve (a benign verdict suppresses the pattern) and re-identify, each
/// a logged action.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_insider_alert_suspends_and_is_worked_by_analysts() {
    let api = setup_full(roomy(), Some(parcel_server::risk::RiskSettings::default()));
    let monitor = api.risk.clone().unwrap();
    let own = "SF3000000000001";
    dispatched(&api, own).await;
    let (s, _, text) = api
        .call(
            Some("E1"),
            "POST",
            "/v1/reveal",
            Some(json!({"waybill_no": own, "party": "recipient", "field": "phone", "purpose": "delivery_contact"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{text}");
    let others: Vec<Value> = (0..120)
        .map(|i| {
            let mut b = shipment(&format!("SF31{i:011}"), "13987654321");
            b["courier"] = json!("E2");
            b
        })
        .collect();
    let (s, _, text) = api
        .call(
            Some("S1"),
            "POST",
            "/v1/shipments/batch",
            Some(json!({"shipments": others})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{text}");
    let mut statuses = std::collections::BTreeSet::new();
    for i in 0..120 {
        let (s, _, _) = api
            .call(
                Some("E1"),
                "POST",
                "/v1/reveal",
                Some(json!({"waybill_no": format!("SF31{i:011}"), "party": "recipient", "field": "phone", "purpose": "delivery_contact"})),
            )
            .await;
        statuses.insert(s.as_u16());
    }
    assert_eq!(statuses.into_iter().collect::<Vec<_>>(), [403]);
    assert!(monitor.sync(std::time::Duration::from_secs(10)));
    assert!(
        monitor
            .stats
            .max_latency_us
            .load(std::sync::atomic::Ordering::Relaxed)
            < 1_000_000
    );

    // Couriers never see alerts; the security team does.
    let (s, _, _) = api.call(Some("E1"), "GET", "/v1/alerts", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, list, text) = api.call(Some("AU1"), "GET", "/v1/alerts", None).await;
    assert_eq!(s, StatusCode::OK, "{text}");
    let alerts = list["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 2, "{text}");
    let (critical, high) = (&alerts[0], &alerts[1]);
    assert_eq!(high["severity"], "high", "{text}");
    assert_eq!(critical["severity"], "critical", "{text}");
    assert_eq!(critical["escalates"], high["id"]);
    let actor = high["actor"].as_str().unwrap();
    assert!(actor.starts_with("emp-") && actor.len() == 12, "{actor}");
    assert_eq!(critical["actor"], high["actor"]);
    assert!(
        !text.contains("\"E1\""),
        "employee id in the analyst view: {text}"
    );
    assert_no_plaintext(&text);
    // The console's timeline: the actor's hour stands out against peers,
    // and the answer names no one.
    let tl = format!("/v1/alerts/{}/timeline", high["id"].as_str().unwrap());
    let (s, _, _) = api.call(Some("E1"), "GET", &tl, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, timeline, text) = api.call(Some("AU1"), "GET", &tl, None).await;
    assert_eq!(s, StatusCode::OK, "{text}");
    let hours = timeline["hours"].as_array().unwrap();
    assert!((24..=31).contains(&hours.len()), "{text}");
    // Its own reveal and every refusal logged before the suspension (the
    // suspended account's later requests fail authentication, unlogged).
    let busiest = hours
        .iter()
        .map(|h| h["actor"].as_u64().unwrap())
        .max()
        .unwrap();
    assert!(busiest > 22, "{text}");
    assert!(
        hours
            .iter()
            .any(|h| h["hour"] == timeline["raised_at_hour"]),
        "{text}"
    );
    assert!(
        !text.contains("\"E1\""),
        "employee id in the timeline: {text}"
    );
    let (s, _, _) = api
        .call(Some("AU1"), "GET", "/v1/alerts/al_nope/timeline", None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Metrics: reveals by reason, open alerts, routes by template only.
    let (s, _, metrics) = api.call(None, "GET", "/metrics", None).await;
    assert_eq!(s, StatusCode::OK);
    // Every refusal logged before the suspension is `not_assigned`, except
    // that a request already past authentication when the monitor
    // suspended the account is refused as `principal_suspended`.
    let count = |reason: &str| -> u64 {
        let key = format!("parcelguard_reveals_total{{decision=\"deny\",reason=\"{reason}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(key.as_str()))
            .map_or(0, |v| v.trim().parse().unwrap())
    };
    let in_flight = count("principal_suspended");
    assert!(in_flight <= 1, "{metrics}");
    assert_eq!(count("not_assigned") + in_flight, busiest - 1, "{metrics}");
    for want in [
        "parcelguard_reveals_total{decision=\"allow\",reason=\"\"} 1\n",
        "parcelguard_alerts_open{tenant=\"acme\"} 2\n",
        "route=\"/v1/shipments/{waybill_no}\"",
        "parcelguard_log_entries ",
        "parcelguard_log_checkpoint_age_seconds ",
    ] {
        assert!(metrics.contains(want), "{want} missing from:\n{metrics}");
    }
    assert!(!metrics.contains("SF3"), "a waybill number in the metrics");
    assert_no_plaintext(&metrics);
    let reasons = high["reasons"][0].as_str().unwrap();
    assert!(reasons.contains("with no business reason"), "{reasons}");
    assert_eq!(high["responses"], json!(["tighten_quota"]));
    assert_eq!(critical["responses"], json!(["suspend", "tighten_quota"]));
    // Evidence is log indexes of the denials.
    let first = high["evidence"][0].as_u64().unwrap();
    let e = entry(&api, first);
    assert_eq!(
        (e.actor.as_str(), e.decision.as_deref()),
        ("E1", Some("deny"))
    );
    let alert_entry = entry(&api, api.vault.log().unwrap().tree().unwrap().0 - 1);
    assert_eq!(alert_entry.action, "alert");

    // Suspended: even the courier's own parcel is refused now.
    let (s, body, _) = api
        .call(
            Some("E1"),
            "POST",
            "/v1/reveal",
            Some(json!({"waybill_no": own, "party": "recipient", "field": "phone", "purpose": "delivery_contact"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // The account no longer authenticates (no hint why) and nothing leaves.
    assert!(body.get("value").is_none(), "{body}");
    let quota = api
        .vault
        .store()
        .quota_override("acme", "E1", 0)
        .unwrap()
        .unwrap();
    assert_eq!((quota.per_hour, quota.per_day), (5, 20));

    let id = high["id"].as_str().unwrap();
    let (s, acked, text) = api
        .call(Some("AU1"), "POST", &format!("/v1/alerts/{id}/ack"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{text}");
    assert_eq!(acked["alert"]["status"], "acknowledged");
    let (s, _, _) = api
        .call(Some("AU1"), "POST", &format!("/v1/alerts/{id}/ack"), None)
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, body, _) = api
        .call(
            Some("AU1"),
            "POST",
            &format!("/v1/alerts/{id}/resolve"),
            Some(json!({"verdict": "fine"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "verdict");
    let (s, resolved, text) = api
        .call(
            Some("AU1"),
            "POST",
            &format!("/v1/alerts/{id}/resolve"),
            Some(json!({"verdict": "benign", "note": "stock-take of the station's returns", "suppress_days": 7})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{text}");
    assert_eq!(resolved["alert"]["verdict"], "benign");
    // The tightened quota (set by the alert and its escalation) is lifted;
    // the suspension is an admin's to lift.
    assert_eq!(resolved["lifted_restrictions"], 1);
    assert_eq!(
        api.vault.store().quota_override("acme", "E1", 0).unwrap(),
        None
    );
    assert_eq!(
        resolved["suppressed"],
        json!(["no_reason", "sequential", "denied"])
    );
    assert_eq!(
        api.vault.store().suppressions("acme", 0).unwrap().len(),
        3,
        "suppressions stored"
    );
    let (s, _, _) = api
        .call(
            Some("AU1"),
            "POST",
            &format!("/v1/alerts/{id}/resolve"),
            Some(json!({"verdict": "benign"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, open, _) = api
        .call(Some("AU1"), "GET", "/v1/alerts?status=open", None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(open["alerts"].as_array().unwrap().len(), 1);

    // Re-identification: justified, and logged before the name is shown.
    let uri = format!("/v1/alerts/{id}/reidentify");
    let (s, _, _) = api
        .call(
            Some("AU1"),
            "POST",
            &uri,
            Some(json!({"justification": "why"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, who, text) = api
        .call(
            Some("AU1"),
            "POST",
            &uri,
            Some(json!({"justification": "interview with the station manager on Monday"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{text}");
    assert_eq!(
        (who["actor"].as_str(), who["pseudonym"].as_str()),
        (Some("E1"), Some(actor))
    );
    let e = entry(&api, who["log_index"].as_u64().unwrap());
    assert_eq!(
        (e.action.as_str(), e.actor.as_str()),
        ("alert_reidentify", "AU1")
    );
    let (s, _, _) = api
        .call(Some("AU1"), "GET", "/v1/alerts/al_nope", None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

/// With `approval_at`, an alerted courier's reveals each need a second
/// person's yes: the courier asks at /v1/break-glass, an admin approves,
/// the approved reveal goes through once; the approval overrides no policy,
/// and a benign verdict lifts the hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_hold_needs_a_second_person_per_reveal() {
    let api = setup_full(
        roomy(),
        Some(parcel_server::risk::RiskSettings {
            approval_at: Some(parcel_risk::Severity::High),
            tighten_at: None,
            suspend_at: None,
            ..parcel_server::risk::RiskSettings::default()
        }),
    );
    let own = "SF3200000000001";
    dispatched(&api, own).await;
    let mine = json!({"waybill_no": own, "party": "recipient", "field": "phone", "purpose": "delivery_contact"});
    // No hold yet: a courier may not ask for approvals.
    let ask = json!({"waybill_no": own, "party": "recipient", "field": "phone", "justification": "calling the recipient about a failed delivery"});
    let (s, _, _) = api
        .call(Some("E1"), "POST", "/v1/break-glass", Some(ask.clone()))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let others: Vec<Value> = (0..60)
        .map(|i| {
            let mut b = shipment(&format!("SF33{i:011}"), "13987654321");
            b["courier"] = json!("E2");
            b
        })
        .collect();
    let (s, _, text) = api
        .call(
            Some("S1"),
            "POST",
            "/v1/shipments/batch",
            Some(json!({"shipments": others})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{text}");
    for i in 0..60 {
        let body = json!({"waybill_no": format!("SF33{i:011}"), "party": "recipient", "field": "phone", "purpose": "delivery_contact"});
        api.call(Some("E1"), "POST", "/v1/reveal", Some(body)).await;
    }
    assert!(
        api.risk
            .as_ref()
            .unwrap()
            .sync(std::time::Duration::from_secs(10))
    );
    let (_, list, text) = api.call(Some("AU1"), "GET", "/v1/alerts", None).await;
    let first = list["alerts"]
        .as_array()
        .unwrap()
        .last()
        .cloned()
        .unwrap_or_else(|| panic!("no alert: {text}"));
    assert_eq!(first["responses"], json!(["require_approval"]), "{text}");

    let (s, body, _) = api
        .call(Some("E1"), "POST", "/v1/reveal", Some(mine.clone()))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "approval_required");
    assert!(body.get("value").is_none());
    let (s, asked, text) = api
        .call(Some("E1"), "POST", "/v1/break-glass", Some(ask))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{text}");
    let id = asked["break_glass"]["id"].as_str().unwrap().to_owned();
    let with = |w: &str| {
        let mut b = json!({"waybill_no": w, "party": "recipient", "field": "phone", "purpose": "delivery_contact"});
        b["break_glass_id"] = json!(id);
        b
    };
    let (s, body, _) = api
        .call(Some("E1"), "POST", "/v1/reveal", Some(with(own)))
        .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("break_glass_not_approved"))
    );
    let approve = format!("/v1/break-glass/{id}/approve");
    let (s, _, text) = api.call(Some("A1"), "POST", &approve, None).await;
    assert_eq!(s, StatusCode::OK, "{text}");
    let (s, body, text) = api
        .call(Some("E1"), "POST", "/v1/reveal", Some(with(own)))
        .await;
    assert_eq!(s, StatusCode::OK, "{text}");
    assert_eq!(body["value"], "13987654321");
    // Once only.
    let (s, _, _) = api
        .call(Some("E1"), "POST", "/v1/reveal", Some(with(own)))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // A benign verdict lifts what the alert set.
    let alert = first["id"].as_str().unwrap();
    let (s, resolved, text) = api
        .call(
            Some("AU1"),
            "POST",
            &format!("/v1/alerts/{alert}/resolve"),
            Some(json!({"verdict": "benign"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{text}");
    assert_eq!(resolved["lifted_restrictions"], 1);
    let (s, _, text) = api.call(Some("E1"), "POST", "/v1/reveal", Some(mine)).await;
    assert_eq!(s, StatusCode::OK, "{text}");
}

#[tokio::test]
async fn console_endpoints_list_count_and_search_the_log_without_plaintext() {
    let api = setup();
    dispatched(&api, "SF4000000000001").await;
    dispatched(&api, "SF4000000000002").await;
    let ask = |waybill: &str| json!({"waybill_no": waybill, "party": "recipient", "field": "phone", "purpose": "delivery_contact"});
    let (s, _, text) = api
        .call(
            Some("E1"),
            "POST",
            "/v1/reveal",
            Some(ask("SF4000000000001")),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{text}");
    let (s, _, _) = api
        .call(
            Some("E2"),
            "POST",
            "/v1/reveal",
            Some(ask("SF4000000000002")),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let (s, body, _) = api.call(None, "GET", "/readyz", None).await;
    assert_eq!((s, body), (StatusCode::OK, Value::Null));
    let (s, me, _) = api.call(Some("E1"), "GET", "/v1/me", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (me["role"].as_str(), me["may"]["alerts"].as_bool()),
        (Some("courier"), Some(false))
    );
    let (_, me, _) = api.call(Some("AU1"), "GET", "/v1/me", None).await;
    assert_eq!(me["may"]["access_log"], json!(true));

    // Listing: masked, paged, filtered by status; couriers may not list.
    let (s, page, text) = api
        .call(Some("A1"), "GET", "/v1/shipments?limit=1", None)
        .await;
    assert_eq!(s, StatusCode::OK, "{text}");
    assert_no_plaintext(&text);
    assert_eq!(page["shipments"][0]["waybill_no"], json!("SF4000000000001"));
    assert_eq!(page["next_after"], json!("SF4000000000001"));
    let (_, page, _) = api
        .call(
            Some("A1"),
            "GET",
            "/v1/shipments?after=SF4000000000001",
            None,
        )
        .await;
    assert_eq!(page["shipments"].as_array().unwrap().len(), 1);
    assert_eq!(page["next_after"], Value::Null);
    let (_, page, _) = api
        .call(Some("AU1"), "GET", "/v1/shipments?status=delivered", None)
        .await;
    assert_eq!(page["shipments"], json!([]));
    let (s, body, _) = api
        .call(Some("A1"), "GET", "/v1/shipments?status=lost", None)
        .await;
    assert_eq!(
        (s, body["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("status"))
    );
    let (s, _, _) = api.call(Some("E1"), "GET", "/v1/shipments", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _) = api
        .call(
            Some("C1"),
            "GET",
            "/v1/shipments?phone=13987654321&limit=3",
            None,
        )
        .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "listing and search do not mix"
    );

    // The dashboard's figures.
    let (s, stats, text) = api.call(Some("A1"), "GET", "/v1/stats", None).await;
    assert_eq!(s, StatusCode::OK, "{text}");
    assert_eq!(stats["shipments"]["total"], json!(2));
    assert_eq!(
        stats["shipments"]["by_status"]["out_for_delivery"],
        json!(2)
    );
    let hours = stats["reveals_per_hour"].as_array().unwrap();
    assert_eq!(hours.len(), 24);
    assert_eq!(
        (hours[23]["allow"].as_u64(), hours[23]["deny"].as_u64()),
        (Some(1), Some(1)),
        "{text}"
    );
    assert_eq!(
        stats["top_denial_reasons"][0],
        json!({"reason": "not_assigned", "count": 1})
    );
    assert!(stats["log"]["size"].as_u64().unwrap() >= 2);
    assert!(
        stats["log"]["checkpoint"]
            .as_str()
            .unwrap()
            .starts_with("acme.example/log\n")
    );
    let (s, _, _) = api.call(Some("E1"), "GET", "/v1/stats", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "couriers get no dashboard");

    // The access log: filters, newest first, each entry a receipt away.
    let (s, log, text) = api
        .call(Some("AU1"), "GET", "/v1/access-log?action=reveal", None)
        .await;
    assert_eq!(s, StatusCode::OK, "{text}");
    assert_no_plaintext(&text);
    let entries = log["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["actor"], json!("E2"));
    assert_eq!(entries[0]["reason"], json!("not_assigned"));
    let (_, log, _) = api
        .call(
            Some("AU1"),
            "GET",
            "/v1/access-log?actor=E1&decision=allow",
            None,
        )
        .await;
    let e = &log["entries"][0];
    assert_eq!(
        (e["waybill_no"].as_str(), e["purpose"].as_str()),
        (Some("SF4000000000001"), Some("delivery_contact"))
    );
    let index = e["index"].as_u64().unwrap();
    let (s, receipt, _) = api
        .call(
            Some("AU1"),
            "GET",
            &format!("/v1/log/receipt/{index}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(receipt["index"], json!(index));
    let (_, log, _) = api
        .call(
            Some("AU1"),
            "GET",
            &format!("/v1/access-log?waybill_no=SF4000000000002&before={index}&limit=1"),
            None,
        )
        .await;
    assert!(
        log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["index"].as_u64().unwrap() < index)
    );
    let (s, body, _) = api
        .call(Some("AU1"), "GET", "/v1/access-log?who=E1", None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body["error"]["code"], "bad_request",
        "query errors use the envelope"
    );
    let (s, _, _) = api.call(Some("E1"), "GET", "/v1/access-log", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, log, _) = api.call(Some("B1"), "GET", "/v1/access-log", None).await;
    assert_eq!(
        (s, log["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    // Policy history, as the log recorded it, newest first; per tenant.
    let log = api.vault.log().unwrap();
    for (tenant, version) in [("acme", "ps-one"), ("beta", "ps-beta"), ("acme", "ps-two")] {
        let mut e = parcel_tlog::Event::new(1_700_000_000_000, tenant, "A1", "policy_change")
            .with_detail("previous", "ps-zero");
        e.policy_version = Some(version.to_owned());
        log.append(&e).unwrap();
    }
    let (s, h, text) = api
        .call(Some("AU1"), "GET", "/v1/policies/history", None)
        .await;
    assert_eq!(s, StatusCode::OK, "{text}");
    let versions: Vec<&str> = h["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["ps-two", "ps-one"], "{text}");
    assert_eq!(h["changes"][0]["previous"], "ps-zero");
    let (s, _, _) = api
        .call(Some("E1"), "GET", "/v1/policies/history", None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn console_is_served_by_the_binary_under_a_strict_csp() {
    let api = setup();
    for (uri, content_type, needle) in [
        ("/console/", "text/html", "<script src=\"/console/app.js\""),
        ("/console/app.js", "text/javascript", "verifyInclusion"),
        ("/console/style.css", "text/css", "@media"),
    ] {
        let req = Request::builder().uri(uri).body(Body::empty()).unwrap();
        let resp = api.app.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{uri}");
        let h = resp.headers();
        assert!(
            h["content-type"]
                .to_str()
                .unwrap()
                .starts_with(content_type),
            "{uri}"
        );
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(h["x-content-type-options"], "nosniff");
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert!(String::from_utf8_lossy(&body).contains(needle), "{uri}");
    }
    // No CDN: the page loads nothing from anywhere else.
    let req = Request::builder()
        .uri("/console/")
        .body(Body::empty())
        .unwrap();
    let body = api.app.clone().oneshot(req).await.unwrap().into_body();
    let html = String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "{html}"
    );
    for uri in ["/", "/console"] {
        let req = Request::builder().uri(uri).body(Body::empty()).unwrap();
        let resp = api.app.clone().oneshot(req).await.unwrap();
        assert!(resp.status().is_redirection(), "{uri}");
        assert_eq!(resp.headers()["location"], "/console/");
    }
}

#[tokio::test]
async fn openapi_document_covers_every_route_and_errors_share_one_envelope() {
    let api = setup();
    let (s, doc, text) = api.call(None, "GET", "/openapi.json", None).await;
    assert_eq!(s, StatusCode::OK, "{text}");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    // Every route the router serves (the tile route apart: its path holds
    // slashes, which OpenAPI parameters cannot).
    for (path, method) in [
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/v1/me", "get"),
        ("/v1/stats", "get"),
        ("/v1/access-log", "get"),
        ("/v1/shipments", "get"),
        ("/v1/shipments", "post"),
        ("/v1/shipments/batch", "post"),
        ("/v1/shipments/{waybill_no}", "get"),
        ("/v1/shipments/{waybill_no}", "patch"),
        ("/v1/shipments/{waybill_no}/label.png", "get"),
        ("/v1/shipments/{waybill_no}/label.pdf", "get"),
        ("/v1/shipments/{waybill_no}/label.zpl", "get"),
        ("/v1/persons", "delete"),
        ("/v1/log/receipt/{index}", "get"),
        ("/v1/reveal", "post"),
        ("/v1/tickets", "post"),
        ("/v1/break-glass", "post"),
        ("/v1/break-glass/{id}/approve", "post"),
        ("/v1/principals", "get"),
        ("/v1/principals", "post"),
        ("/v1/principals/{id}", "patch"),
        ("/v1/principals/{id}/keys", "post"),
        ("/v1/keys", "get"),
        ("/v1/keys/{id}", "delete"),
        ("/v1/policies", "get"),
        ("/v1/policies/reload", "post"),
        ("/v1/policies/history", "get"),
        ("/v1/alerts", "get"),
        ("/v1/alerts/{id}", "get"),
        ("/v1/alerts/{id}/ack", "post"),
        ("/v1/alerts/{id}/resolve", "post"),
        ("/v1/alerts/{id}/reidentify", "post"),
        ("/v1/alerts/{id}/timeline", "get"),
        ("/v1/numbers/pool", "post"),
        ("/v1/numbers/pool", "get"),
        ("/v1/principals/{id}/phone", "put"),
        ("/v1/numbers/bindings", "post"),
        ("/v1/numbers/bindings/{waybill_no}", "get"),
        ("/v1/numbers/bindings/{waybill_no}", "delete"),
        ("/v1/numbers/route", "get"),
        ("/v1/numbers/calls", "post"),
        ("/log/vkey", "get"),
        ("/log/checkpoint", "get"),
    ] {
        let op = &paths[path][method];
        assert!(op.is_object(), "{method} {path} is not documented");
        if path.starts_with("/v1/") {
            assert_eq!(op["security"][0]["bearer"], json!([]), "{method} {path}");
            assert_eq!(
                op["responses"]["401"]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorBody",
                "{method} {path}"
            );
        }
    }
    let counted: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        counted, 45,
        "an operation is documented that this test does not know"
    );
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    // Unknown paths and methods answer in the same envelope.
    let (s, body, _) = api.call(Some("A1"), "GET", "/v1/nope", None).await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (s, body, _) = api.call(Some("A1"), "PUT", "/v1/reveal", None).await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed"))
    );
    // The document served is the one the library builds.
    assert_eq!(
        doc,
        serde_json::to_value(parcel_server::openapi_document()).unwrap()
    );
}

#[tokio::test]
async fn callers_over_their_rate_get_429_and_others_do_not() {
    let mut api = setup();
    let state_app = {
        // The same vault behind a router with a tight limit: 2 a second.
        let access = parcel_server::access::Access::builtin().unwrap();
        let state = AppState::new(api.vault.clone(), access).with_rate_limit(2, 2);
        router(state, 1 << 20)
    };
    api.app = state_app;
    for _ in 0..2 {
        let (s, _, text) = api.call(Some("AU1"), "GET", "/v1/me", None).await;
        assert_eq!(s, StatusCode::OK, "{text}");
    }
    let req = Request::builder()
        .uri("/v1/me")
        .header("authorization", format!("Bearer {}", api.keys["AU1"]))
        .body(Body::empty())
        .unwrap();
    let resp = api.app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["code"], "rate_limited");
    // Another credential has its own budget.
    let (s, _, _) = api.call(Some("A1"), "GET", "/v1/me", None).await;
    assert_eq!(s, StatusCode::OK);
}

/// The privacy-number endpoints end to end: pool and contact phone by an
/// admin, a binding made by the lifecycle, the switch routing both ways
/// (and nobody else), call records, and the unbind on delivery. No
/// response but the switch's route answer holds a real number.
#[tokio::test(flavor = "current_thread")]
async fn privacy_numbers_over_http() {
    numbers_over_http(&setup()).await;
}

/// The same on PostgreSQL when `PARCELGUARD_TEST_PG` holds a URL: there
/// binds, unbinds and the lifecycle's binding run on the blocking pool
/// (the blocking client cannot run on, or be dropped by, a runtime's
/// thread, so the API is built and dropped on a thread of its own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privacy_numbers_over_http_on_postgres() {
    let url = std::env::var("PARCELGUARD_TEST_PG").unwrap_or_default();
    if url.is_empty() {
        return;
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let schema = format!("pgapi_{}_{nanos}", std::process::id());
    let (u, s) = (url.clone(), schema.clone());
    let api = std::thread::spawn(move || {
        let dir = tempfile::tempdir().unwrap();
        parcel_keys::init_local(dir.path()).unwrap();
        let store: Arc<dyn Store> = Arc::new(parcel_store::PgStore::open(&u, Some(&s)).unwrap());
        setup_on(
            dir,
            store,
            parcel_vault::reveal::RevealOptions::default(),
            None,
        )
    })
    .join()
    .unwrap();
    numbers_over_http(&api).await;
    std::thread::spawn(move || {
        drop(api);
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .unwrap();
    })
    .join()
    .unwrap();
}

async fn numbers_over_http(api: &Api) {
    let (s, body, text) = api
        .call(
            Some("A1"),
            "POST",
            "/v1/numbers/pool",
            Some(json!({"city": "北京市", "numbers": ["17100000001", "17100000002"]})),
        )
        .await;
    assert_eq!(
        (s, body["added"].as_u64()),
        (StatusCode::OK, Some(2)),
        "{text}"
    );
    let (s, body, _) = api
        .call(
            Some("A1"),
            "POST",
            "/v1/numbers/pool",
            Some(json!({"city": "北京市", "numbers": ["17100000003", "12345"]})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "numbers[1]");
    let (s, _, _) = api
        .call(
            Some("E1"),
            "POST",
            "/v1/numbers/pool",
            Some(json!({"city": "北京市", "numbers": []})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, body, _) = api.call(Some("AU1"), "GET", "/v1/numbers/pool", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["cities"][0]["numbers"].as_array().unwrap().len(), 2);

    for (who, phone) in [("E1", "13700000001"), ("E2", "13700000002")] {
        let (s, _, text) = api
            .call(
                Some("A1"),
                "PUT",
                &format!("/v1/principals/{who}/phone"),
                Some(json!({"phone": phone})),
            )
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{text}");
    }
    let (s, _, _) = api
        .call(
            Some("A1"),
            "PUT",
            "/v1/principals/NOPE/phone",
            Some(json!({"phone": "13700000009"})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = api
        .call(
            Some("E1"),
            "PUT",
            "/v1/principals/E1/phone",
            Some(json!({"phone": "13700000009"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Out for delivery: bound by the lifecycle.
    let waybill = "SF9000000000001";
    dispatched(api, waybill).await;
    let (s, body, text) = api
        .call(
            Some("E1"),
            "GET",
            &format!("/v1/numbers/bindings/{waybill}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{text}");
    assert_no_plaintext(&text);
    assert!(!text.contains("13700000001"), "{text}");
    let x = body["number"].as_str().unwrap().to_owned();
    assert!(x == "17100000001" || x == "17100000002");
    assert_eq!(body["courier"], "E1");
    assert!(body["ext"].is_null());

    let route = |caller: &str, who: &'static str| {
        let uri = format!("/v1/numbers/route?caller={caller}&called={x}");

        async move { api.call(Some(who), "GET", &uri, None).await }
    };
    // The recipient's phone in `dispatched` shipments is 13987654321.
    let (s, body, text) = route("13987654321", "S1").await;
    assert_eq!(s, StatusCode::OK, "{text}");
    assert_eq!(body["connect_to"], "13700000001");
    assert_eq!(body["caller_side"], "recipient");
    assert_eq!(body["waybill_no"], waybill);
    let (s, body, _) = route("13700000001", "S1").await;
    assert_eq!(
        (s, body["connect_to"].as_str()),
        (StatusCode::OK, Some("13987654321"))
    );
    let (s, body, _) = route("13700000002", "S1").await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("unknown_caller"))
    );
    // Only the switch routes: not an admin, not the courier.
    for who in ["A1", "E1"] {
        let (s, _, text) = route("13987654321", who).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{who}");
        assert!(!text.contains("13700000001"));
    }
    let (s, _, _) = route("12", "S1").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    // Call records: the courier's call, and courier E2 dialling a number
    // of a parcel E1 carries.
    let call = |caller: &str, outcome: &str| json!({"called": x, "caller": caller, "started_at": "2026-11-10T09:00:00Z", "duration_secs": 30, "outcome": outcome});
    let (s, body, text) = api
        .call(
            Some("S1"),
            "POST",
            "/v1/numbers/calls",
            Some(call("13700000001", "answered")),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{text}");
    assert_eq!(body["caller_side"], "courier");
    let entry = entry(api, body["log_index"].as_u64().unwrap());
    assert_eq!(entry.action, "call");
    assert_eq!(entry.waybill.as_deref(), Some(waybill));
    let encoded = String::from_utf8(entry.encode().unwrap()).unwrap();
    assert!(
        !encoded.contains("13700000001") && !encoded.contains("13987654321"),
        "{encoded}"
    );
    let (s, body, _) = api
        .call(
            Some("S1"),
            "POST",
            "/v1/numbers/calls",
            Some(call("13700000002", "refused")),
        )
        .await;
    assert_eq!(
        (s, body["caller_side"].as_str()),
        (StatusCode::CREATED, Some("unknown"))
    );
    let (s, _, _) = api
        .call(
            Some("A1"),
            "POST",
            "/v1/numbers/calls",
            Some(call("13700000001", "answered")),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, body, _) = api
        .call(
            Some("S1"),
            "POST",
            "/v1/numbers/calls",
            Some(call("13700000001", "lost")),
        )
        .await;
    assert_eq!(
        (s, body["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("outcome"))
    );

    // The dialled number in E.164 form is the same number.
    let (s, body, _) = api
        .call(
            Some("S1"),
            "GET",
            &format!("/v1/numbers/route?caller=13987654321&called=%2B86{x}"),
            None,
        )
        .await;
    assert_eq!(
        (s, body["connect_to"].as_str()),
        (StatusCode::OK, Some("13700000001"))
    );

    // A new courier gets a binding of their own; the old one's line ends.
    let (s, body, text) = api
        .call(
            Some("A1"),
            "PATCH",
            &format!("/v1/shipments/{waybill}"),
            Some(json!({"courier": "E2"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{text}");
    assert_eq!(body["privacy_number"]["courier"], "E2", "{text}");
    let x = body["privacy_number"]["number"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, body, _) = api
        .call(
            Some("S1"),
            "GET",
            &format!("/v1/numbers/route?caller=13987654321&called={x}"),
            None,
        )
        .await;
    assert_eq!(
        (s, body["connect_to"].as_str()),
        (StatusCode::OK, Some("13700000002"))
    );
    let (s, body, _) = api
        .call(
            Some("S1"),
            "GET",
            &format!("/v1/numbers/route?caller=13700000001&called={x}"),
            None,
        )
        .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("unknown_caller"))
    );
    let route = |caller: &str, who: &'static str| {
        let uri = format!("/v1/numbers/route?caller={caller}&called={x}");

        async move { api.call(Some(who), "GET", &uri, None).await }
    };

    // Binding by hand is idempotent.
    let (s, body, _) = api
        .call(
            Some("A1"),
            "POST",
            "/v1/numbers/bindings",
            Some(json!({"waybill_no": waybill})),
        )
        .await;
    assert_eq!(
        (s, body["existing"].as_bool()),
        (StatusCode::OK, Some(true))
    );

    // Delivered: unbound, calls refused.
    let (s, body, text) = api
        .call(
            Some("A1"),
            "PATCH",
            &format!("/v1/shipments/{waybill}"),
            Some(json!({"status": "delivered"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{text}");
    assert_eq!(body["shipment"]["status"], "delivered");
    let (s, _, _) = api
        .call(
            Some("E1"),
            "GET",
            &format!("/v1/numbers/bindings/{waybill}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, body, _) = route("13987654321", "S1").await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("unknown_caller"))
    );
    let (s, body, _) = api
        .call(
            Some("A1"),
            "POST",
            "/v1/numbers/bindings",
            Some(json!({"waybill_no": waybill})),
        )
        .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("not_out_for_delivery"))
    );
}

/// Labels over HTTP in the three formats: masked values only, the bound
/// privacy number, a barcode and a QR code that decode back to the waybill
/// and to a token the vault redeems; a customer-service agent may not
/// print; every print is logged.
#[tokio::test(flavor = "current_thread")]
async fn labels_over_http_hold_masked_data_and_decode_back() {
    let api = setup();
    let (s, _, _) = api
        .call(
            Some("A1"),
            "POST",
            "/v1/numbers/pool",
            Some(json!({"city": "北京市", "numbers": ["17100000001"]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, _) = api
        .call(
            Some("A1"),
            "PUT",
            "/v1/principals/E1/phone",
            Some(json!({"phone": "13700000001"})),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let waybill = "SF9100000000001";
    dispatched(&api, waybill).await;

    let get = |uri: String, who: &'static str| {
        let api = &api;
        async move {
            let req = Request::builder()
                .uri(uri)
                .header("authorization", format!("Bearer {}", api.keys[who]))
                .body(Body::empty())
                .unwrap();
            let resp = api.app.clone().oneshot(req).await.unwrap();
            let status = resp.status();
            let ctype = resp
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned());
            let bytes = resp
                .into_body()
                .collect()
                .await
                .unwrap()
                .to_bytes()
                .to_vec();
            (status, ctype, bytes)
        }
    };
    let plaintext_digits = ["13987654321", "13700000001", "13812345678"];

    // PNG: the symbols decode back; the QR token opens to this waybill.
    let (s, ctype, png) = get(
        format!("/v1/shipments/{waybill}/label.png?size=76x130"),
        "E1",
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(ctype.as_deref(), Some("image/png"));
    let decoder = png::Decoder::new(std::io::Cursor::new(&png));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    let mut found: Vec<String> =
        rxing::helpers::detect_multiple_in_luma(buf, info.width, info.height)
            .unwrap()
            .iter()
            .map(|r| r.getText().to_string())
            .collect();
    found.sort();
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found.contains(&waybill.to_owned()));
    let token = found.iter().find(|t| t.starts_with("PGQ1.")).unwrap();
    assert_eq!(api.vault.open_token(token).unwrap().waybill_no, waybill);

    // PDF: masked values and the privacy number as text; no plaintext.
    let (s, ctype, pdf) = get(format!("/v1/shipments/{waybill}/label.pdf"), "S1").await;
    assert_eq!(
        (s, ctype.as_deref()),
        (StatusCode::OK, Some("application/pdf"))
    );
    let text: String = pdf_extract::extract_text_from_mem(&pdf)
        .unwrap()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    for masked in [
        "欧阳**",
        "139******21",
        "张**",
        "17100000001",
        waybill,
        "S01",
    ] {
        assert!(text.contains(masked), "{masked} missing from {text}");
    }
    for secret in SECRETS.iter().chain(plaintext_digits.iter()) {
        assert!(!text.contains(secret), "{secret} in the PDF");
    }

    // ZPL: only the waybill and the token as data, no plaintext.
    let (s, _, zpl) = get(format!("/v1/shipments/{waybill}/label.zpl"), "M1").await;
    assert_eq!(s, StatusCode::OK);
    let zpl = String::from_utf8(zpl).unwrap();
    assert!(zpl.starts_with("^XA") && zpl.trim_end().ends_with("^XZ"));
    assert!(zpl.contains(&format!("^FD{waybill}")));
    for secret in plaintext_digits {
        assert!(!zpl.contains(secret));
    }

    // Who may print; bad parameters.
    let (s, _, _) = get(format!("/v1/shipments/{waybill}/label.pdf"), "C1").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _) = get(format!("/v1/shipments/{waybill}/label.png?size=A4"), "E1").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _, _) = get("/v1/shipments/SF0000000000000/label.png".to_owned(), "E1").await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Each print is in the log.
    let log = api.vault.log().unwrap();
    let size = log.tree().unwrap().0;
    let prints = log
        .entries(0, size)
        .unwrap()
        .iter()
        .filter(|e| parcel_tlog::Event::decode(e).unwrap().action == "label_print")
        .count();
    assert_eq!(prints, 3);
}
