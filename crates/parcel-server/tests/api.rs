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
    log_vkey: String,
    keys: std::collections::HashMap<&'static str, String>,
    _dir: tempfile::TempDir,
}

fn setup() -> Api {
    let dir = tempfile::tempdir().unwrap();
    parcel_keys::init_local(dir.path()).unwrap();
    let store: Arc<dyn Store> =
        Arc::new(parcel_store::SqliteStore::open(&dir.path().join("db")).unwrap());
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
    for (tenant, id, role, status) in [
        ("acme", "A1", "admin", "active"),
        ("acme", "S1", "service", "active"),
        ("acme", "C1", "customer_service", "active"),
        ("acme", "E1", "courier", "active"),
        ("acme", "X1", "customer_service", "suspended"),
        // A courier of another tenant.
        ("beta", "B1", "courier", "active"),
    ] {
        store
            .put_principal(&Principal {
                tenant: tenant.into(),
                id: id.into(),
                role: role.into(),
                station: None,
                status: status.into(),
                created_at: 0,
            })
            .unwrap();
        let key = auth::new_api_key(tenant, id, 0, None);
        store.put_api_key(&key.record).unwrap();
        api_keys.insert(id, key.secret);
    }
    Api {
        app: router(AppState::new(Arc::new(vault)), 1 << 20),
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
