//! The privacy-number broker on every backend (SQLite always, PostgreSQL
//! when `PARCELGUARD_TEST_PG` holds a URL): binding, routing both ways,
//! refusals, no phone twice on one number, the extension fallback, pool
//! exhaustion, double binding, expiry races and clock steps; and, on
//! PostgreSQL, two brokers with their own stores and routers (as two server
//! processes) binding at once on one database and seeing each other's
//! changes.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use parcel_keys::{KeyProvider, LocalKeyFile};
use parcel_numbers::{Refusal, Side};
use parcel_store::{PgStore, SqliteStore};
use parcel_vault::mask::MaskProfile;
use parcel_vault::model::{AddressInput, NewShipment, PartyInput, ShipmentPatch, Status};
use parcel_vault::numbers::{Broker, CallRecord, NumberOptions, RouteError};
use parcel_vault::store::Store;
use parcel_vault::{Vault, VaultError, VaultOptions};
use zeroize::Zeroizing;

/// 2026-11-10T00:00:00Z.
const NOW: i64 = 1_794_268_800;
const T: &str = "acme";
const X1: &str = "17100000001";
const X2: &str = "17100000002";

struct Backend {
    name: &'static str,
    /// Opens another store on the same database (another "process").
    reopen: Box<dyn Fn() -> Arc<dyn Store>>,
    store: Arc<dyn Store>,
    dir: tempfile::TempDir,
    _pg: Option<DropSchema>,
}

struct DropSchema(String, String);

impl Drop for DropSchema {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.0, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.1));
        }
    }
}

impl Backend {
    fn vault_on(&self, store: Arc<dyn Store>) -> Arc<Vault> {
        let keys: Arc<dyn KeyProvider> = Arc::new(LocalKeyFile::open(self.dir.path()).unwrap());
        Arc::new(
            Vault::new(
                store,
                keys,
                VaultOptions {
                    mask: MaskProfile::default(),
                    retention_secs: 180 * 86_400,
                },
            )
            .unwrap(),
        )
    }

    fn broker(&self, options: NumberOptions) -> (Arc<Vault>, Arc<Broker>) {
        let vault = self.vault_on(self.store.clone());
        let broker = Broker::start(vault.clone(), options).unwrap();
        (vault, broker)
    }
}

fn backends() -> Vec<Backend> {
    let mut out = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    parcel_keys::init_local(dir.path()).unwrap();
    let path = dir.path().join("vault.db");
    let p2 = path.clone();
    out.push(Backend {
        name: "sqlite",
        store: Arc::new(SqliteStore::open(&path).unwrap()),
        reopen: Box::new(move || Arc::new(SqliteStore::open(&p2).unwrap())),
        dir,
        _pg: None,
    });
    if let Ok(url) = std::env::var("PARCELGUARD_TEST_PG")
        && !url.is_empty()
    {
        let dir = tempfile::tempdir().unwrap();
        parcel_keys::init_local(dir.path()).unwrap();
        let schema = format!("pgnum_{}", rand::random::<u64>());
        let (u2, s2) = (url.clone(), schema.clone());
        out.push(Backend {
            name: "postgres",
            store: Arc::new(PgStore::open(&url, Some(&schema)).unwrap()),
            reopen: Box::new(move || Arc::new(PgStore::open(&u2, Some(&s2)).unwrap())),
            dir,
            _pg: Some(DropSchema(url, schema)),
        });
    }
    out
}

fn courier_phone(n: u32) -> String {
    format!("137{:08}", n)
}

fn recipient_phone(n: u32) -> String {
    format!("139{:08}", n)
}

/// A shipment to Beijing, out for delivery with `courier`, window
/// `[NOW, NOW + 1 h)`.
fn out_for_delivery(vault: &Vault, waybill: &str, recipient: u32, courier: &str) {
    let s = NewShipment {
        waybill_no: waybill.to_owned(),
        carrier: "SF".to_owned(),
        sender: PartyInput {
            name: "张三丰".to_owned(),
            phone: "13812345678".to_owned(),
            address: AddressInput::Text("广东省深圳市南山区科技园路1号".to_owned()),
            id_number: Some("11010519491231002X".to_owned()),
        },
        recipient: PartyInput {
            name: "欧阳娜娜".to_owned(),
            phone: recipient_phone(recipient),
            address: AddressInput::Text("北京市朝阳区建国路88号2单元301室".to_owned()),
            id_number: None,
        },
        origin_station: Some("SZ01".to_owned()),
        destination_station: Some("BJ07".to_owned()),
        courier: Some(courier.to_owned()),
        delivery_window: None,
    };
    vault.create(T, &s, NOW).unwrap();
    for status in [Status::PickedUp, Status::InTransit, Status::OutForDelivery] {
        let mut patch = ShipmentPatch {
            status: Some(status),
            ..ShipmentPatch::default()
        };
        if status == Status::OutForDelivery {
            patch.delivery_window = Some(
                serde_json::from_value(serde_json::json!({
                    "start": "2026-11-10T00:00:00Z", "end": "2026-11-10T01:00:00Z"
                }))
                .unwrap(),
            );
        }
        vault.update(T, waybill, &patch, NOW).unwrap();
    }
}

fn refusal(r: Result<parcel_vault::numbers::RouteAnswer, RouteError>) -> Refusal {
    match r {
        Err(RouteError::Refused(x)) => x,
        Err(e) => panic!("{e}"),
        Ok(a) => panic!("routed to the {:?} side", a.caller.other()),
    }
}

fn setup(b: &Backend, pool: &[&str], options: NumberOptions) -> (Arc<Vault>, Arc<Broker>) {
    let (vault, broker) = b.broker(options);
    let pool: Vec<String> = pool.iter().map(|s| (*s).to_owned()).collect();
    broker.load_pool(T, "北京市", &pool, "admin", NOW).unwrap();
    for (id, n) in [("E1", 1), ("E2", 2)] {
        broker
            .set_contact_phone(T, id, &courier_phone(n), "admin", NOW)
            .unwrap();
    }
    (vault, broker)
}

#[test]
fn bind_route_both_ways_and_unbind() {
    for b in backends() {
        let ((), logs) = parcel_telemetry::capture(|| {
            let (vault, broker) = setup(&b, &[X1, X2], NumberOptions::default());
            out_for_delivery(&vault, "SF1000000000001", 1, "E1");
            let bound = broker.bind(T, "SF1000000000001", "E1", NOW).unwrap();
            assert!(!bound.existing, "{}", b.name);
            let x = bound.binding.number.clone();
            assert!(x == X1 || x == X2);
            assert_eq!(bound.binding.ext, 0);
            assert_eq!(bound.binding.expires_at, NOW + 3600 + 7200);

            // Recipient → courier and courier → recipient, with the phones
            // written any way a switch might send them.
            let a = broker.route(T, "+86 139-0000-0001", &x, None, NOW).unwrap();
            assert_eq!(a.caller, Side::B);
            assert_eq!(a.connect_to.as_str(), courier_phone(1));
            let a = broker.route(T, &courier_phone(1), &x, None, NOW).unwrap();
            assert_eq!(a.connect_to.as_str(), recipient_phone(1));

            assert_eq!(
                refusal(broker.route(T, &courier_phone(2), &x, None, NOW)),
                Refusal::UnknownCaller
            );
            assert_eq!(
                refusal(broker.route(T, &courier_phone(1), "17100000009", None, NOW)),
                Refusal::UnknownNumber
            );
            assert!(matches!(
                broker.route(T, "12345", &x, None, NOW),
                Err(RouteError::BadCaller(_))
            ));

            // Binding again gives the same binding back.
            let again = broker.bind(T, "SF1000000000001", "E1", NOW + 5).unwrap();
            assert!(again.existing);
            assert_eq!(again.binding.id, bound.binding.id);

            // Delivered: unbound, and calls are refused.
            let id = broker
                .unbind_waybill(T, "SF1000000000001", "E1", "delivered", NOW + 60)
                .unwrap();
            assert_eq!(id.as_deref(), Some(bound.binding.id.as_str()));
            assert_eq!(
                refusal(broker.route(T, &recipient_phone(1), &x, None, NOW + 61)),
                Refusal::UnknownCaller
            );
            assert!(broker.binding_for(T, "SF1000000000001").unwrap().is_none());
            assert!(
                broker
                    .unbind_waybill(T, "SF1000000000001", "E1", "delivered", NOW + 62)
                    .unwrap()
                    .is_none()
            );

            // A shipment no longer out for delivery, a courier without a
            // phone.
            let delivered = ShipmentPatch {
                status: Some(Status::Delivered),
                ..ShipmentPatch::default()
            };
            vault
                .update(T, "SF1000000000001", &delivered, NOW + 65)
                .unwrap();
            assert!(matches!(
                broker.bind(T, "SF1000000000001", "E1", NOW + 70),
                Err(VaultError::Numbers {
                    reason: "not_out_for_delivery"
                })
            ));
            out_for_delivery(&vault, "SF1000000000002", 2, "E9");
            assert!(matches!(
                broker.bind(T, "SF1000000000002", "E9", NOW),
                Err(VaultError::Numbers {
                    reason: "no_courier_phone"
                })
            ));

            // The audit trail names the actions, never a phone.
            let events = vault.store().audit_events(T).unwrap();
            let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
            for want in [
                "number_pool",
                "contact_phone_set",
                "number_bind",
                "number_unbind",
            ] {
                assert!(actions.contains(&want), "{}: {actions:?}", b.name);
            }
            for e in &events {
                assert!(!e.detail.contains("1390000000"), "{}", e.detail);
                assert!(!e.detail.contains("1370000000"), "{}", e.detail);
            }
        });
        logs.assert_absent(&["13900000001", "13700000001", "13700000002"]);
    }
}

#[test]
fn bind_reads_match_the_reads_one_by_one() {
    use parcel_vault::model::{Field, Party, slot};
    let phone_slot = slot(Party::Recipient, Field::Phone).unwrap();
    for b in backends() {
        let (vault, broker) = setup(&b, &[X1, X2], NumberOptions::default());
        out_for_delivery(&vault, "SF1000000000011", 11, "E1");
        out_for_delivery(&vault, "SF1000000000012", 12, "E9"); // no phone
        broker.bind(T, "SF1000000000011", "E1", NOW).unwrap();
        let s = vault.store();
        for (waybill, courier) in [
            ("SF1000000000011", Some("E1")),
            ("SF1000000000012", Some("E9")),
            ("SF1000000000404", None),
        ] {
            let what = format!("{} {waybill}", b.name);
            let r = s.bind_reads(T, waybill, phone_slot).unwrap();
            assert_eq!(
                r.shipment.as_ref().map(|x| &x.waybill_no),
                s.get_shipment(T, waybill)
                    .unwrap()
                    .as_ref()
                    .map(|x| &x.waybill_no),
                "{what}"
            );
            if r.shipment.is_none() {
                assert!(r.live.is_none() && r.ciphertext.is_none() && r.courier_phone.is_none());
                continue;
            }
            assert_eq!(r.live, s.live_binding(T, waybill).unwrap(), "{what}");
            assert_eq!(
                r.ciphertext,
                s.get_ciphertext(T, waybill, phone_slot).unwrap(),
                "{what}"
            );
            assert!(r.ciphertext.as_ref().is_some_and(|(_, c)| c.is_some()));
            let courier = courier.unwrap();
            assert_eq!(
                r.courier_phone,
                s.principal_phone(T, courier).unwrap(),
                "{what}"
            );
        }
        let r = s.bind_reads(T, "SF1000000000011", phone_slot).unwrap();
        assert!(r.live.is_some() && r.courier_phone.is_some(), "{}", b.name);
        let r = s.bind_reads(T, "SF1000000000012", phone_slot).unwrap();
        assert!(r.live.is_none() && r.courier_phone.is_none(), "{}", b.name);
    }
}

/// Binds and unbinds as the server runs them: on an embedded store, tasks
/// on a runtime of two workers awaiting the log and the store's writer; on
/// PostgreSQL (a blocking client) the blocking calls on the runtime's
/// blocking threads. Every shipment is bound by two at once and gets one
/// binding.
#[test]
fn async_binds_and_unbinds_from_many_tasks() {
    const N: u32 = 40;
    let numbers: Vec<String> = (1..=6).map(|i| format!("171000000{i:02}")).collect();
    let pool: Vec<&str> = numbers.iter().map(String::as_str).collect();
    for b in backends() {
        let (vault, broker) = setup(&b, &pool, NumberOptions::default());
        let waybills: Vec<String> = (0..N).map(|i| format!("SF20000000{i:05}")).collect();
        for (i, w) in waybills.iter().enumerate() {
            out_for_delivery(
                &vault,
                w,
                100 + i as u32,
                if i % 2 == 0 { "E1" } else { "E2" },
            );
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let bound: Vec<(String, String)> = rt.block_on(async {
            let mut set = tokio::task::JoinSet::new();
            for w in waybills.iter().chain(&waybills) {
                let (broker, w) = (broker.clone(), w.clone());
                if broker.reads_inline() {
                    set.spawn(async move {
                        let bound = broker.bind_async(T, &w, "E1", NOW).await.unwrap();
                        (w, bound.binding.id.clone())
                    });
                } else {
                    set.spawn_blocking(move || {
                        let bound = broker.bind(T, &w, "E1", NOW).unwrap();
                        (w, bound.binding.id.clone())
                    });
                }
            }
            let mut out = Vec::new();
            while let Some(r) = set.join_next().await {
                out.push(r.unwrap());
            }
            out
        });
        // Both tasks of a shipment got its one live binding.
        for (i, w) in waybills.iter().enumerate() {
            let live = broker.binding_for(T, w).unwrap().unwrap();
            let ids: Vec<&str> = bound
                .iter()
                .filter(|(x, _)| x == w)
                .map(|(_, id)| id.as_str())
                .collect();
            assert_eq!(ids, [live.id.as_str(), live.id.as_str()], "{} {w}", b.name);
            let a = broker
                .route(
                    T,
                    &recipient_phone(100 + i as u32),
                    &live.number,
                    (live.ext != 0).then_some(live.ext),
                    NOW,
                )
                .unwrap();
            assert_eq!(a.caller, Side::B, "{}", b.name);
        }
        let ended: Vec<Option<String>> = rt.block_on(async {
            let mut set = tokio::task::JoinSet::new();
            for w in waybills.iter().chain(&waybills) {
                let (broker, w) = (broker.clone(), w.clone());
                if broker.reads_inline() {
                    set.spawn(async move {
                        broker
                            .unbind_waybill_async(T, &w, "E1", "delivered", NOW + 60)
                            .await
                            .unwrap()
                    });
                } else {
                    set.spawn_blocking(move || {
                        broker
                            .unbind_waybill(T, &w, "E1", "delivered", NOW + 60)
                            .unwrap()
                    });
                }
            }
            let mut out = Vec::new();
            while let Some(r) = set.join_next().await {
                out.push(r.unwrap());
            }
            out
        });
        // Each binding ended exactly once, and nothing routes any more.
        assert_eq!(ended.iter().flatten().count(), N as usize, "{}", b.name);
        assert!(broker.router().is_empty(), "{}", b.name);
        for w in &waybills {
            assert!(
                broker.binding_for(T, w).unwrap().is_none(),
                "{} {w}",
                b.name
            );
        }
        let events = vault.store().audit_events(T).unwrap();
        let count = |action: &str| events.iter().filter(|e| e.action == action).count();
        assert_eq!(count("number_unbind"), N as usize, "{}", b.name);
        assert!(count("number_bind") >= N as usize, "{}", b.name);
    }
}

#[test]
fn no_phone_twice_on_one_number_then_extensions_then_exhaustion() {
    for b in backends() {
        let (vault, broker) = setup(&b, &[X1], NumberOptions::default());
        // One courier, three recipients, one pool number: the courier's
        // phone may be on X1 only once, so the others get extensions.
        for (i, w) in ["SF2000000000001", "SF2000000000002", "SF2000000000003"]
            .iter()
            .enumerate()
        {
            out_for_delivery(&vault, w, 10 + i as u32, "E1");
        }
        let first = broker.bind(T, "SF2000000000001", "E1", NOW).unwrap();
        assert_eq!((first.binding.number.as_str(), first.binding.ext), (X1, 0));
        let second = broker.bind(T, "SF2000000000002", "E1", NOW).unwrap();
        let third = broker.bind(T, "SF2000000000003", "E1", NOW).unwrap();
        assert_eq!(second.binding.number, X1, "{}", b.name);
        assert!(second.binding.ext > 0 && third.binding.ext > 0);
        assert_ne!(second.binding.ext, third.binding.ext);

        // Without an extension the courier reaches recipient 10 (the plain
        // binding); recipient 11 must dial theirs.
        let a = broker.route(T, &courier_phone(1), X1, None, NOW).unwrap();
        assert_eq!(a.connect_to.as_str(), recipient_phone(10));
        assert_eq!(
            refusal(broker.route(T, &recipient_phone(11), X1, None, NOW)),
            Refusal::ExtensionRequired
        );
        let a = broker
            .route(T, &recipient_phone(11), X1, Some(second.binding.ext), NOW)
            .unwrap();
        assert_eq!(a.connect_to.as_str(), courier_phone(1));
        let a = broker
            .route(T, &courier_phone(1), X1, Some(third.binding.ext), NOW)
            .unwrap();
        assert_eq!(a.connect_to.as_str(), recipient_phone(12));
        // Someone else's extension does not connect.
        assert_eq!(
            refusal(broker.route(T, &recipient_phone(11), X1, Some(third.binding.ext), NOW)),
            Refusal::UnknownCaller
        );

        // Without extension mode the pool is exhausted for a fourth.
        let (vault2, strict) = b.broker(NumberOptions {
            extensions: false,
            ..NumberOptions::default()
        });
        out_for_delivery(&vault2, "SF2000000000004", 13, "E1");
        assert!(matches!(
            strict.bind(T, "SF2000000000004", "E1", NOW),
            Err(VaultError::Numbers {
                reason: "pool_exhausted"
            })
        ));
        // A city without a pool.
        drop(vault);
    }
}

#[test]
fn expiry_races_and_clock_steps() {
    for b in backends() {
        let (vault, broker) = setup(&b, &[X1], NumberOptions::default());
        out_for_delivery(&vault, "SF3000000000001", 20, "E1");
        let first = broker.bind(T, "SF3000000000001", "E1", NOW).unwrap();
        let end = first.binding.window_end;
        // After the window the courier can no longer call; the recipient
        // can until the grace period ends.
        assert_eq!(
            refusal(broker.route(T, &courier_phone(1), X1, None, end)),
            Refusal::RestrictedDirection
        );
        assert!(broker.route(T, &recipient_phone(20), X1, None, end).is_ok());
        let expiry = first.binding.expires_at;
        assert_eq!(
            refusal(broker.route(T, &recipient_phone(20), X1, None, expiry)),
            Refusal::Expired
        );

        // The sweeper has not run yet, and the same courier and recipient
        // get another parcel: the expired binding is in the way on the only
        // number, and is ended inside the new binding's transaction.
        let later = expiry + 600;
        out_for_delivery(&vault, "SF3000000000002", 20, "E1");
        let patch = ShipmentPatch {
            delivery_window: Some(
                serde_json::from_value(serde_json::json!({
                    "start": "2026-11-10T04:00:00Z", "end": "2026-11-10T06:00:00Z"
                }))
                .unwrap(),
            ),
            ..ShipmentPatch::default()
        };
        vault.update(T, "SF3000000000002", &patch, later).unwrap();
        let second = broker.bind(T, "SF3000000000002", "E1", later).unwrap();
        assert_eq!(
            (second.binding.number.as_str(), second.binding.ext),
            (X1, 0),
            "{}",
            b.name
        );
        assert!(broker.binding_for(T, "SF3000000000001").unwrap().is_none());
        // The binding ended in the way left this process's index and the
        // log has its end.
        assert!(
            broker.router().get(T, &first.binding.id).is_none(),
            "{}",
            b.name
        );
        assert_eq!(broker.router().len(), 1);
        let ends = vault
            .store()
            .audit_events(T)
            .unwrap()
            .into_iter()
            .filter(|e| e.action == "number_unbind" && e.detail.contains(&first.binding.id))
            .count();
        assert_eq!(ends, 1);
        let a = broker.route(T, &courier_phone(1), X1, None, later).unwrap();
        assert_eq!(a.binding.waybill_no, "SF3000000000002");

        // The clock steps back to before the first binding expired: the
        // ended binding stays ended, and the sweeper ends nothing early.
        let back = NOW + 60;
        assert_eq!(broker.expire(back).unwrap(), 0);
        let a = broker
            .route(T, &recipient_phone(20), X1, None, back)
            .unwrap();
        assert_eq!(a.binding.id, second.binding.id);
        // The clock steps far forward: the sweeper ends the second one.
        assert_eq!(broker.expire(second.binding.expires_at).unwrap(), 1);
        assert_eq!(
            refusal(broker.route(T, &recipient_phone(20), X1, None, later)),
            Refusal::UnknownCaller
        );
        assert!(broker.router().is_empty());
    }
}

#[test]
fn call_records_name_the_side_and_strangers_who_are_staff() {
    for b in backends() {
        let (vault, broker) = setup(&b, &[X1, X2], NumberOptions::default());
        out_for_delivery(&vault, "SF4000000000001", 30, "E1");
        let bound = broker.bind(T, "SF4000000000001", "E1", NOW).unwrap();
        let x = bound.binding.number.clone();
        let call = |caller: String, outcome: &str| CallRecord {
            number: x.clone(),
            ext: None,
            caller: Zeroizing::new(caller),
            started_at: NOW + 10,
            duration_secs: 42,
            outcome: outcome.to_owned(),
        };
        let f = broker
            .record_call(T, "switch", &call(courier_phone(1), "answered"), NOW + 60)
            .unwrap();
        assert_eq!(f.caller_side, "courier");
        assert_eq!(f.employee.as_deref(), Some("E1"));
        assert_eq!(f.assigned, Some(true));
        assert_eq!(f.waybill_no.as_deref(), Some("SF4000000000001"));
        let f = broker
            .record_call(
                T,
                "switch",
                &call(recipient_phone(30), "answered"),
                NOW + 60,
            )
            .unwrap();
        assert_eq!((f.caller_side, f.employee.clone()), ("recipient", None));
        // Courier E2 dials the number of a parcel E1 carries.
        let f = broker
            .record_call(T, "switch", &call(courier_phone(2), "refused"), NOW + 60)
            .unwrap();
        assert_eq!(f.caller_side, "unknown", "{}", b.name);
        assert_eq!(f.employee.as_deref(), Some("E2"));
        assert_eq!(f.assigned, Some(false));
        let f = broker
            .record_call(
                T,
                "switch",
                &call("13600000000".to_owned(), "refused"),
                NOW + 60,
            )
            .unwrap();
        assert_eq!((f.caller_side, f.employee), ("unknown", None));
        assert!(matches!(
            broker.record_call(T, "switch", &call(courier_phone(1), "teleported"), NOW),
            Err(VaultError::Invalid(_))
        ));
        let calls = vault
            .store()
            .audit_events(T)
            .unwrap()
            .into_iter()
            .filter(|e| e.action == "call")
            .count();
        assert_eq!(calls, 4);
    }
}

/// Two brokers, each with its own store (connection pool) and router, on
/// one database: what two `parcelguard serve` processes are. Both bind at
/// once from several threads, including the same shipments; afterwards
/// every shipment has one binding, no phone is twice on a number, each
/// side routes from both brokers, and an unbind on one stops routing on
/// the other.
#[test]
fn two_processes_bind_and_route_on_one_database() {
    for b in backends() {
        let pool: Vec<String> = (1..=4).map(|i| format!("171000000{i:02}")).collect();
        let (vault1, broker1) = b.broker(NumberOptions::default());
        broker1.load_pool(T, "北京市", &pool, "admin", NOW).unwrap();
        let couriers = 6u32;
        for c in 1..=couriers {
            broker1
                .set_contact_phone(T, &format!("E{c}"), &courier_phone(c), "admin", NOW)
                .unwrap();
        }
        let shipments = 60u32;
        for i in 0..shipments {
            out_for_delivery(
                &vault1,
                &format!("SF5{i:012}"),
                100 + i,
                &format!("E{}", 1 + i % couriers),
            );
        }
        // The second "process" starts after the pool was loaded elsewhere.
        let vault2 = b.vault_on((b.reopen)());
        let broker2 = Broker::start(vault2, NumberOptions::default()).unwrap();
        let brokers = [broker1.clone(), broker2.clone()];
        std::thread::scope(|s| {
            for t in 0..4usize {
                let broker = brokers[t % 2].clone();
                s.spawn(move || {
                    // Threads overlap: every shipment is bound by two of them.
                    for i in 0..shipments {
                        if (i as usize + t).is_multiple_of(2) {
                            broker.bind(T, &format!("SF5{i:012}"), "E0", NOW).unwrap();
                        }
                    }
                });
            }
        });
        let live = vault1.store().live_bindings().unwrap();
        assert_eq!(live.len(), shipments as usize, "{}", b.name);
        let mut seen = std::collections::HashSet::new();
        for x in &live {
            for h in [x.a_hash, x.b_hash] {
                assert!(
                    seen.insert((x.number.clone(), x.ext, h)),
                    "phone twice on {}",
                    x.number
                );
            }
        }
        // Both routers answer for every binding, whichever made it; a
        // router that missed one asks the database.
        for x in &live {
            let i: u32 = x.waybill_no[3..].parse().unwrap();
            let ext = (x.ext != 0).then_some(x.ext);
            for broker in &brokers {
                let a = broker
                    .route(T, &recipient_phone(100 + i), &x.number, ext, NOW)
                    .unwrap();
                assert_eq!(a.connect_to.as_str(), courier_phone(1 + i % couriers));
            }
        }
        // An unbind on one stops routing on the other once PostgreSQL's
        // notification arrives. (SQLite has no notifications: one SQLite
        // file serves one server process, so only the unbinding broker is
        // checked there.)
        let gone = &live[0];
        let i: u32 = gone.waybill_no[3..].parse().unwrap();
        broker1
            .unbind(T, &gone.id, "E0", "delivered", NOW + 30)
            .unwrap();
        let ext = (gone.ext != 0).then_some(gone.ext);
        let other = if b.name == "postgres" {
            &broker2
        } else {
            &broker1
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match other.route(T, &recipient_phone(100 + i), &gone.number, ext, NOW + 31) {
                Err(RouteError::Refused(_)) => break,
                Ok(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
                r => panic!(
                    "{}: still routes after unbind: {:?}",
                    b.name,
                    r.map(|a| a.caller)
                ),
            }
        }
    }
}
