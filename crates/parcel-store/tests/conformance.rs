//! One suite, run against every backend: SQLite always, PostgreSQL when
//! `PARCELGUARD_TEST_PG` holds a URL (each run in its own schema, dropped
//! afterwards). Covers round trips, tampering, rotation, retention, erasure,
//! search and the lifecycle, and checks that no log line holds a phone.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions"
)]

use std::path::PathBuf;
use std::sync::Arc;

use parcel_keys::{KeyProvider, LocalKeyFile};
use parcel_store::{PgStore, SqliteStore};
use parcel_vault::crypto::BlindKind;
use parcel_vault::mask::MaskProfile;
use parcel_vault::model::{
    AddressInput, Field, NewShipment, Party, PartyInput, ShipmentPatch, Status,
};
use parcel_vault::store::Store;
use parcel_vault::{PersonKey, Vault, VaultError, VaultOptions};

/// 2026-11-10T00:00:00Z.
const NOW: i64 = 1_794_268_800;
const DAY: i64 = 86_400;

enum Raw {
    Sqlite(PathBuf),
    Pg(String, String),
}

impl Raw {
    fn exec(&self, sql: &str) {
        match self {
            Raw::Sqlite(path) => {
                let c = rusqlite::Connection::open(path).unwrap();
                c.execute_batch(sql).unwrap();
            }
            Raw::Pg(url, schema) => {
                let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
                c.batch_execute(&format!("SET search_path = {schema}; {sql}"))
                    .unwrap();
            }
        }
    }

    /// Every byte the database keeps on disk (SQLite only).
    fn disk_bytes(&self) -> Option<Vec<u8>> {
        let Raw::Sqlite(path) = self else { return None };
        let mut all = Vec::new();
        for suffix in ["", "-wal", "-journal"] {
            let mut p = path.clone().into_os_string();
            p.push(suffix);
            if let Ok(bytes) = std::fs::read(PathBuf::from(p)) {
                all.extend(bytes);
            }
        }
        Some(all)
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        if let Raw::Pg(url, schema) = self
            && let Ok(mut c) = postgres::Client::connect(url, postgres::NoTls)
        {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
        }
    }
}

struct Backend {
    name: &'static str,
    store: Arc<dyn Store>,
    raw: Raw,
    dir: tempfile::TempDir,
}

impl Backend {
    fn keys(&self) -> Arc<dyn KeyProvider> {
        Arc::new(LocalKeyFile::open(self.dir.path()).unwrap())
    }

    fn vault(&self, retention_days: i64) -> Vault {
        Vault::new(
            self.store.clone(),
            self.keys(),
            VaultOptions {
                mask: MaskProfile::default(),
                retention_secs: retention_days * DAY,
            },
        )
        .unwrap()
    }
}

fn backends() -> Vec<Backend> {
    let mut out = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    parcel_keys::init_local(dir.path()).unwrap();
    let path = dir.path().join("vault.db");
    out.push(Backend {
        name: "sqlite",
        store: Arc::new(SqliteStore::open(&path).unwrap()),
        raw: Raw::Sqlite(path),
        dir,
    });
    if let Ok(url) = std::env::var("PARCELGUARD_TEST_PG")
        && !url.is_empty()
    {
        let dir = tempfile::tempdir().unwrap();
        parcel_keys::init_local(dir.path()).unwrap();
        let schema = format!("pgtest_{}", rand::random::<u64>());
        out.push(Backend {
            name: "postgres",
            store: Arc::new(PgStore::open(&url, Some(&schema)).unwrap()),
            raw: Raw::Pg(url, schema),
            dir,
        });
    }
    out
}

fn id_number(seq: u32) -> String {
    let body = format!("11010519900101{:03}", seq % 1000);
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .bytes()
        .zip(W)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    let check = b"10X98765432"[(sum % 11) as usize] as char;
    format!("{body}{check}")
}

fn phone(seq: u32) -> String {
    format!("138{:08}", 10_000_000 + seq)
}

fn shipment(waybill: &str, sender_phone: &str, recipient_phone: &str, seq: u32) -> NewShipment {
    NewShipment {
        waybill_no: waybill.to_owned(),
        carrier: "SF".to_owned(),
        sender: PartyInput {
            name: "张三丰".to_owned(),
            phone: sender_phone.to_owned(),
            address: AddressInput::Text("广东省深圳市南山区科技园路1号3栋2单元501室".to_owned()),
            id_number: Some(id_number(seq)),
        },
        recipient: PartyInput {
            name: "欧阳娜娜".to_owned(),
            phone: recipient_phone.to_owned(),
            address: AddressInput::Text("北京市朝阳区建国路88号2单元301室".to_owned()),
            id_number: None,
        },
        origin_station: Some("SZ01".to_owned()),
        destination_station: Some("BJ07".to_owned()),
        courier: None,
        delivery_window: None,
    }
}

#[test]
fn round_trip_masked_view_and_token() {
    for b in backends() {
        let vault = b.vault(180);
        let ((), logs) = parcel_telemetry::capture(|| {
            let created = vault
                .create(
                    "acme",
                    &shipment("SF1000000000001", &phone(1), "+86 139-1234-5678", 1),
                    NOW,
                )
                .unwrap();
            let m = &created.record.masked;
            assert_eq!(m.sender.name, "张**", "{}", b.name);
            assert_eq!(m.recipient.phone, "139******78");
            assert_eq!(m.recipient.address, "北京市朝阳区建国路*号*单元*室");
            let id = id_number(1);
            let id_mask = format!("1{}{}", "*".repeat(16), &id[17..]);
            assert_eq!(m.sender.id_number.as_deref(), Some(id_mask.as_str()));
            assert_eq!(created.record.status, Status::Created);
            assert_eq!(
                vault.open_token(&created.token).unwrap().waybill_no,
                "SF1000000000001"
            );

            let get = vault.get("acme", "SF1000000000001").unwrap();
            assert_eq!(get.masked, created.record.masked);
            assert_eq!(get.status_times[0], Some(NOW));
            let reveal = |p, f| {
                vault
                    .decrypt_field("acme", "SF1000000000001", p, f)
                    .unwrap()
                    .to_string()
            };
            assert_eq!(reveal(Party::Recipient, Field::Phone), "13912345678");
            assert_eq!(reveal(Party::Sender, Field::Phone), phone(1));
            assert_eq!(reveal(Party::Sender, Field::Name), "张三丰");
            assert_eq!(reveal(Party::Sender, Field::IdNumber), id_number(1));
            assert_eq!(
                reveal(Party::Recipient, Field::Address),
                "北京市朝阳区建国路88号2单元301室"
            );
            // Another tenant sees nothing.
            assert!(matches!(
                vault.get("other", "SF1000000000001"),
                Err(VaultError::NotFound)
            ));
            assert!(matches!(
                vault.create(
                    "acme",
                    &shipment("SF1000000000001", &phone(2), &phone(3), 2),
                    NOW
                ),
                Err(VaultError::Conflict)
            ));
        });
        logs.assert_absent(&[&phone(1), "13912345678", "张三丰", &id_number(1)]);
        // Nothing personal in clear on disk.
        if let Some(bytes) = b.raw.disk_bytes() {
            for secret in [
                phone(1).as_bytes(),
                "张三丰".as_bytes(),
                "建国路88号".as_bytes(),
            ] {
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret),
                    "plaintext on disk"
                );
            }
        }
    }
}

#[test]
fn batches_atomic_and_per_item() {
    for b in backends() {
        let vault = b.vault(180);
        let mut bad = shipment("SF2000000000002", &phone(5), "12345", 5);
        bad.recipient.name = "王五".to_owned();
        let items = vec![shipment("SF2000000000001", &phone(4), &phone(40), 4), bad];
        let results = vault.create_batch("acme", &items, true, NOW).unwrap();
        assert!(results.iter().all(Result::is_err), "{}", b.name);
        let err = results[1].as_ref().unwrap_err().to_string();
        assert!(
            err.contains("shipments[1].recipient.phone") && !err.contains("12345"),
            "{err}"
        );
        assert_eq!(b.store.count_shipments("acme").unwrap(), 0);

        let results = vault.create_batch("acme", &items, false, NOW).unwrap();
        assert!(results[0].is_ok() && results[1].is_err());
        assert_eq!(b.store.count_shipments("acme").unwrap(), 1);

        // Atomic with a duplicate (in the database, and twice in the batch): nothing.
        let items = vec![
            shipment("SF2000000000003", &phone(6), &phone(60), 6),
            shipment("SF2000000000001", &phone(7), &phone(70), 7),
        ];
        let results = vault.create_batch("acme", &items, true, NOW).unwrap();
        assert!(results.iter().all(Result::is_err));
        assert_eq!(b.store.count_shipments("acme").unwrap(), 1);
        let twice = vec![
            shipment("SF2000000000009", &phone(8), &phone(80), 8),
            shipment("SF2000000000009", &phone(9), &phone(90), 9),
        ];
        let results = vault.create_batch("acme", &twice, false, NOW).unwrap();
        assert!(
            results[0].is_ok() && matches!(results[1], Err(VaultError::Conflict)),
            "{}",
            b.name
        );
        assert_eq!(
            vault
                .decrypt_field("acme", "SF2000000000009", Party::Sender, Field::Phone)
                .unwrap()
                .as_str(),
            phone(8)
        );
    }
}

#[test]
fn listing_pages_by_waybill_and_counts_by_status() {
    for b in backends() {
        let vault = b.vault(180);
        let items: Vec<NewShipment> = (0..7)
            .map(|i| {
                shipment(
                    &format!("SF26{i:011}"),
                    &phone(100 + i),
                    &phone(200 + i),
                    100 + i,
                )
            })
            .collect();
        assert!(
            vault
                .create_batch("acme", &items, true, NOW)
                .unwrap()
                .iter()
                .all(Result::is_ok)
        );
        vault
            .create(
                "other",
                &shipment("SF2700000000000", &phone(300), &phone(301), 300),
                NOW,
            )
            .unwrap();
        vault
            .update(
                "acme",
                "SF2600000000003",
                &parcel_vault::model::ShipmentPatch {
                    status: Some(Status::PickedUp),
                    ..Default::default()
                },
                NOW,
            )
            .unwrap();
        let page = |status, after: Option<&str>, n| -> Vec<String> {
            b.store
                .list_shipments("acme", status, after, n)
                .unwrap()
                .into_iter()
                .map(|r| r.waybill_no)
                .collect()
        };
        let first = page(None, None, 3);
        assert_eq!(
            first,
            ["SF2600000000000", "SF2600000000001", "SF2600000000002"],
            "{}",
            b.name
        );
        let rest = page(None, first.last().map(String::as_str), 10);
        assert_eq!(rest.len(), 4, "{}", b.name);
        assert_eq!(rest[0], "SF2600000000003");
        assert_eq!(
            page(Some(Status::PickedUp), None, 10),
            ["SF2600000000003"],
            "{}",
            b.name
        );
        assert!(page(Some(Status::Delivered), None, 10).is_empty());
        assert_eq!(
            b.store.shipment_counts("acme").unwrap(),
            vec![(Status::Created, 6), (Status::PickedUp, 1)],
            "{}",
            b.name
        );
    }
}

#[test]
fn tampering_is_detected() {
    for b in backends() {
        let vault = b.vault(180);
        vault
            .create(
                "acme",
                &shipment("SF3000000000001", &phone(11), &phone(12), 11),
                NOW,
            )
            .unwrap();
        vault
            .create(
                "acme",
                &shipment("SF3000000000002", &phone(13), &phone(14), 13),
                NOW,
            )
            .unwrap();
        // Swapped ciphertext: row 2's recipient phone replaced by row 1's.
        b.raw.exec(
            "UPDATE shipments SET recipient_phone = (SELECT recipient_phone FROM shipments WHERE waybill_no = 'SF3000000000001') \
             WHERE waybill_no = 'SF3000000000002'",
        );
        let fresh = b.vault(180);
        let e = fresh
            .decrypt_field("acme", "SF3000000000002", Party::Recipient, Field::Phone)
            .unwrap_err();
        assert!(matches!(e, VaultError::Tampered { .. }), "{}: {e}", b.name);
        // Moved to another column of the same row.
        b.raw.exec(
            "UPDATE shipments SET sender_name = sender_phone WHERE waybill_no = 'SF3000000000001'",
        );
        assert!(matches!(
            fresh.decrypt_field("acme", "SF3000000000001", Party::Sender, Field::Name),
            Err(VaultError::Tampered { .. })
        ));
        // Truncated blob.
        let trunc = match b.raw {
            Raw::Sqlite(_) => {
                "UPDATE shipments SET recipient_name = substr(recipient_name, 1, 20) WHERE waybill_no = 'SF3000000000001'"
            }
            Raw::Pg(..) => {
                "UPDATE shipments SET recipient_name = substring(recipient_name from 1 for 20) WHERE waybill_no = 'SF3000000000001'"
            }
        };
        b.raw.exec(trunc);
        assert!(matches!(
            fresh.decrypt_field("acme", "SF3000000000001", Party::Recipient, Field::Name),
            Err(VaultError::Tampered { .. })
        ));
        // Wrong tenant: the row and its data key copied to another tenant.
        b.raw.exec(
            "INSERT INTO data_keys (tenant, period, kek_version, wrapped, created_at) \
             SELECT 'evil', period, kek_version, wrapped, created_at FROM data_keys WHERE tenant = 'acme'; \
             UPDATE shipments SET tenant = 'evil' WHERE waybill_no = 'SF3000000000002'",
        );
        let e = fresh
            .decrypt_field("evil", "SF3000000000002", Party::Sender, Field::Phone)
            .unwrap_err();
        assert!(matches!(e, VaultError::Keys(_)), "{}: {e}", b.name);
        assert!(!e.to_string().contains(&phone(13)));
    }
}

#[test]
fn rotation_rewraps_online_and_retires_old_keys() {
    for b in backends() {
        let vault = b.vault(180);
        vault
            .create(
                "acme",
                &shipment("SF4000000000001", &phone(21), &phone(22), 21),
                NOW,
            )
            .unwrap();
        vault
            .create(
                "acme",
                &shipment("SF4000000000002", &phone(23), &phone(24), 23),
                NOW - 40 * DAY,
            )
            .unwrap();
        let report = vault.rotate("admin", NOW).unwrap();
        assert_eq!(report.rewrapped, 2, "{}", b.name);
        assert!(
            b.store
                .data_keys()
                .unwrap()
                .iter()
                .all(|k| k.kek_version == report.kek_version)
        );
        // The running vault keeps serving; a new one unwraps with the new KEK.
        assert_eq!(
            vault
                .decrypt_field("acme", "SF4000000000001", Party::Sender, Field::Phone)
                .unwrap()
                .as_str(),
            phone(21)
        );
        let retired = vault.retire_keks("admin", NOW).unwrap();
        assert_eq!(retired, vec![report.kek_version - 1]);
        assert_eq!(b.keys().kek_versions().unwrap(), vec![report.kek_version]);
        let fresh = b.vault(180);
        assert_eq!(
            fresh
                .decrypt_field("acme", "SF4000000000002", Party::Recipient, Field::Phone)
                .unwrap()
                .as_str(),
            phone(24)
        );
        // New shipments use the new KEK.
        fresh
            .create(
                "acme",
                &shipment("SF4000000000003", &phone(25), &phone(26), 25),
                NOW + 40 * DAY,
            )
            .unwrap();
        assert!(
            b.store
                .data_keys()
                .unwrap()
                .iter()
                .all(|k| k.kek_version == report.kek_version)
        );
        let actions: Vec<String> = b
            .store
            .audit_events("")
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(actions, ["key_rotate", "key_retire"]);
    }
}

#[test]
fn retention_crypto_shreds_closed_periods() {
    for b in backends() {
        let vault = b.vault(30);
        let old = NOW - 200 * DAY; // April 2026
        vault
            .create(
                "acme",
                &shipment("SF5000000000001", &phone(31), &phone(32), 31),
                old,
            )
            .unwrap();
        vault
            .create(
                "acme",
                &shipment("SF5000000000002", &phone(33), &phone(34), 33),
                old,
            )
            .unwrap();
        vault
            .create(
                "acme",
                &shipment("SF5000000000003", &phone(35), &phone(36), 35),
                NOW,
            )
            .unwrap();
        let blob_before = ciphertext(&b, "SF5000000000001");
        for status in [
            Status::PickedUp,
            Status::InTransit,
            Status::OutForDelivery,
            Status::Delivered,
        ] {
            let patch = ShipmentPatch {
                status: Some(status),
                ..ShipmentPatch::default()
            };
            vault
                .update("acme", "SF5000000000001", &patch, old + DAY)
                .unwrap();
        }
        // One old shipment still in transit keeps its period's key alive.
        let patch = ShipmentPatch {
            status: Some(Status::PickedUp),
            ..ShipmentPatch::default()
        };
        vault
            .update("acme", "SF5000000000002", &patch, old + DAY)
            .unwrap();
        let r = vault.purge_expired("retention", NOW).unwrap();
        assert_eq!((r.purged, r.keys_destroyed.len()), (1, 0), "{}", b.name);
        assert!(matches!(
            vault.decrypt_field("acme", "SF5000000000001", Party::Sender, Field::Phone),
            Err(VaultError::Erased { .. })
        ));
        assert_eq!(
            vault
                .get("acme", "SF5000000000001")
                .unwrap()
                .masked
                .sender
                .phone,
            "138******31"
        );
        assert!(
            vault
                .search("acme", BlindKind::Phone, &phone(31), "cs", NOW)
                .unwrap()
                .is_empty()
        );
        // The second one is returned and expires too: now the key goes.
        let patch = ShipmentPatch {
            status: Some(Status::Returned),
            ..ShipmentPatch::default()
        };
        vault
            .update("acme", "SF5000000000002", &patch, old + 2 * DAY)
            .unwrap();
        let r = vault.purge_expired("retention", NOW).unwrap();
        assert_eq!(r.purged, 1);
        assert_eq!(r.keys_destroyed, vec!["acme/2026-04".to_owned()]);
        let keys = b.store.data_keys().unwrap();
        assert!(
            keys.iter()
                .any(|k| k.period == "2026-04" && k.wrapped.is_none())
        );
        assert!(
            keys.iter()
                .any(|k| k.period == "2026-11" && k.wrapped.is_some())
        );
        // Even a restored ciphertext is undecryptable: its key is gone.
        b.raw.exec(&format!(
            "UPDATE shipments SET sender_phone = {} WHERE waybill_no = 'SF5000000000001'",
            sql_blob(&b.raw, &blob_before)
        ));
        let fresh = b.vault(30);
        assert!(matches!(
            fresh.decrypt_field("acme", "SF5000000000001", Party::Sender, Field::Phone),
            Err(VaultError::Erased { .. })
        ));
        assert_eq!(
            fresh
                .decrypt_field("acme", "SF5000000000003", Party::Sender, Field::Phone)
                .unwrap()
                .as_str(),
            phone(35)
        );
        assert!(
            b.store
                .audit_events("acme")
                .unwrap()
                .iter()
                .any(|e| e.action == "retention_purge")
        );
    }
}

fn ciphertext(b: &Backend, waybill: &str) -> Vec<u8> {
    b.store
        .get_ciphertext("acme", waybill, 1)
        .unwrap()
        .unwrap()
        .1
        .unwrap()
}

fn sql_blob(raw: &Raw, bytes: &[u8]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    match raw {
        Raw::Sqlite(_) => format!("X'{hex}'"),
        Raw::Pg(..) => format!("'\\x{hex}'::bytea"),
    }
}

#[test]
fn erasure_by_phone_and_id_leaves_nothing_to_recover() {
    for b in backends() {
        let vault = b.vault(180);
        let shared = phone(41);
        vault
            .create(
                "acme",
                &shipment("SF6000000000001", &phone(42), &shared, 42),
                NOW,
            )
            .unwrap();
        vault
            .create(
                "acme",
                &shipment("SF6000000000002", &phone(43), &shared, 43),
                NOW,
            )
            .unwrap();
        vault
            .create(
                "acme",
                &shipment("SF6000000000003", &phone(44), &phone(45), 44),
                NOW,
            )
            .unwrap();
        let found = vault
            .search("acme", BlindKind::Phone, &shared, "cs-7", NOW)
            .unwrap();
        assert_eq!(found.len(), 2, "{}", b.name);
        let blob = b
            .store
            .get_ciphertext("acme", "SF6000000000001", 5)
            .unwrap()
            .unwrap()
            .1
            .unwrap();

        let ((), logs) = parcel_telemetry::capture(|| {
            let report = vault
                .erase_person("acme", PersonKey::Phone, &shared, "dpo", NOW)
                .unwrap();
            assert_eq!((report.shipments, report.parties), (2, 2));
        });
        logs.assert_absent(&[&shared]);
        for w in ["SF6000000000001", "SF6000000000002"] {
            for f in [Field::Name, Field::Phone, Field::Address] {
                assert!(matches!(
                    vault.decrypt_field("acme", w, Party::Recipient, f),
                    Err(VaultError::Erased { .. })
                ));
            }
            let rec = vault.get("acme", w).unwrap();
            assert!(rec.masked.recipient.erased && !rec.masked.sender.erased);
            assert_eq!(rec.masked.recipient.phone, "138******41");
        }
        // The senders of those shipments and other shipments are untouched.
        assert_eq!(
            vault
                .decrypt_field("acme", "SF6000000000001", Party::Sender, Field::Phone)
                .unwrap()
                .as_str(),
            phone(42)
        );
        assert_eq!(
            vault
                .decrypt_field("acme", "SF6000000000003", Party::Recipient, Field::Phone)
                .unwrap()
                .as_str(),
            phone(45)
        );
        assert!(
            vault
                .search("acme", BlindKind::Phone, &shared, "cs-7", NOW)
                .unwrap()
                .is_empty()
        );
        // By ID number: the sender of shipment 3.
        let r = vault
            .erase_person("acme", PersonKey::IdNumber, &id_number(44), "dpo", NOW)
            .unwrap();
        assert_eq!(r.parties, 1);
        assert!(matches!(
            vault.decrypt_field("acme", "SF6000000000003", Party::Sender, Field::IdNumber),
            Err(VaultError::Erased { .. })
        ));
        // The audit trail records the erasure without the value.
        let events = b.store.audit_events("acme").unwrap();
        let erase: Vec<_> = events
            .iter()
            .filter(|e| e.action == "erase_person")
            .collect();
        assert_eq!(erase.len(), 2);
        assert!(
            events
                .iter()
                .all(|e| !e.detail.contains(&shared) && !e.detail.contains(&id_number(44)))
        );
        assert!(
            events
                .iter()
                .any(|e| e.action == "search" && e.actor == "cs-7")
        );
        // SQLite: the ciphertext's bytes are gone from the file and its log.
        if let Some(bytes) = b.raw.disk_bytes() {
            assert!(
                !bytes.windows(blob.len()).any(|w| w == blob.as_slice()),
                "erased ciphertext still on disk"
            );
        }
    }
}

#[test]
fn lifecycle_and_assignment() {
    for b in backends() {
        let vault = b.vault(180);
        vault
            .create(
                "acme",
                &shipment("SF7000000000001", &phone(51), &phone(52), 51),
                NOW,
            )
            .unwrap();
        let bad = ShipmentPatch {
            status: Some(Status::Delivered),
            ..ShipmentPatch::default()
        };
        let e = vault
            .update("acme", "SF7000000000001", &bad, NOW + 1)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "status: cannot go from created to delivered",
            "{}",
            b.name
        );
        let assign = ShipmentPatch {
            courier: Some("E1001".to_owned()),
            status: Some(Status::PickedUp),
            ..ShipmentPatch::default()
        };
        let rec = vault
            .update("acme", "SF7000000000001", &assign, NOW + 60)
            .unwrap();
        assert_eq!(
            (rec.status, rec.courier.as_deref(), rec.status_times[1]),
            (Status::PickedUp, Some("E1001"), Some(NOW + 60))
        );
        assert_eq!(rec.updated_at, NOW + 60);
        assert!(matches!(
            vault.update("acme", "nope", &assign, NOW),
            Err(VaultError::NotFound)
        ));
    }
}

#[test]
fn migrations_are_idempotent() {
    for b in backends() {
        match &b.raw {
            Raw::Sqlite(path) => {
                SqliteStore::open(path).unwrap();
            }
            Raw::Pg(url, schema) => {
                PgStore::open(url, Some(schema)).unwrap();
            }
        }
        let vault = b.vault(180);
        vault
            .create(
                "acme",
                &shipment("SF8000000000001", &phone(61), &phone(62), 61),
                NOW,
            )
            .unwrap();
    }
}

/// The vault with its keys in a PKCS#11 token (SoftHSM2 in CI; see
/// `parcel-keys/tests/softhsm.rs` for `PARCELGUARD_TEST_SOFTHSM`).
#[test]
fn vault_over_pkcs11_round_trip_and_rotation() {
    let Some(spec) = std::env::var("PARCELGUARD_TEST_SOFTHSM")
        .ok()
        .filter(|s| !s.is_empty())
    else {
        eprintln!("PARCELGUARD_TEST_SOFTHSM is not set: skipping the PKCS#11 vault test");
        return;
    };
    let mut parts = spec.splitn(3, '|');
    let (module, label, pin) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let hsm =
        Arc::new(parcel_keys::Pkcs11Key::open(std::path::Path::new(module), label, pin).unwrap());
    hsm.init().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("v.db")).unwrap());
    let options = VaultOptions {
        mask: MaskProfile::default(),
        retention_secs: 180 * DAY,
    };
    let vault = Vault::new(store.clone(), hsm.clone(), options.clone()).unwrap();
    vault
        .create(
            "acme",
            &shipment("SF9000000000001", &phone(91), &phone(92), 91),
            NOW,
        )
        .unwrap();
    let report = vault.rotate("admin", NOW).unwrap();
    assert_eq!(report.rewrapped, 1);
    assert!(
        vault
            .retire_keks("admin", NOW)
            .unwrap()
            .contains(&(report.kek_version - 1))
    );
    let fresh = Vault::new(store, hsm, options).unwrap();
    assert_eq!(
        fresh
            .decrypt_field("acme", "SF9000000000001", Party::Recipient, Field::Phone)
            .unwrap()
            .as_str(),
        phone(92)
    );
    assert_eq!(
        fresh
            .search("acme", BlindKind::Phone, &phone(92), "cs", NOW)
            .unwrap()
            .len(),
        1
    );
}

/// A second handle on the same database, as a second server process has.
fn second_store(b: &Backend) -> Arc<dyn Store> {
    match &b.raw {
        Raw::Sqlite(path) => Arc::new(SqliteStore::open(path).unwrap()),
        Raw::Pg(url, schema) => Arc::new(PgStore::open(url, Some(schema)).unwrap()),
    }
}

#[test]
fn reveal_quotas_are_exact_under_concurrency_across_servers() {
    use parcel_vault::store::QuotaWindow;
    for b in backends() {
        let other = second_store(&b);
        let hour = QuotaWindow {
            secs: 3600,
            start: NOW - NOW % 3600,
            limit: 50,
        };
        let day = QuotaWindow {
            secs: DAY,
            start: NOW - NOW % DAY,
            limit: 70,
        };
        // 8 threads on two "servers" race for 50 reveals in the hour.
        let granted = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for t in 0..8 {
                let store = if t % 2 == 0 { &b.store } else { &other };
                let granted = &granted;
                s.spawn(move || {
                    for _ in 0..20 {
                        if store
                            .take_quota("acme", "E1", &[hour, day])
                            .unwrap()
                            .is_none()
                        {
                            granted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(granted.into_inner(), 50, "{}", b.name);
        // The hour is full; the refusal names it and counted nothing in the day.
        assert_eq!(
            b.store.take_quota("acme", "E1", &[hour, day]).unwrap(),
            Some(0),
            "{}",
            b.name
        );
        // Next hour: 20 more fit before the day's 70 is reached.
        let next = QuotaWindow {
            start: hour.start + 3600,
            ..hour
        };
        let mut more = 0;
        while b
            .store
            .take_quota("acme", "E1", &[next, day])
            .unwrap()
            .is_none()
        {
            more += 1;
        }
        assert_eq!(more, 20, "{}", b.name);
        assert_eq!(
            b.store.take_quota("acme", "E1", &[next, day]).unwrap(),
            Some(1),
            "{}",
            b.name
        );
        // Another principal and a zero limit.
        assert_eq!(b.store.take_quota("acme", "E2", &[hour]).unwrap(), None);
        let zero = QuotaWindow { limit: 0, ..hour };
        assert_eq!(b.store.take_quota("acme", "E3", &[zero]).unwrap(), Some(0));
        assert!(
            b.store.prune_quota(hour.start + 1).unwrap() >= 2,
            "{}",
            b.name
        );
    }
}

#[test]
fn quota_leases_never_exceed_the_limit_across_servers() {
    use parcel_vault::store::QuotaWindow;
    for b in backends() {
        let other = second_store(&b);
        let hour = QuotaWindow {
            secs: 3600,
            start: NOW - NOW % 3600,
            limit: 100,
        };
        let day = QuotaWindow {
            secs: DAY,
            start: NOW - NOW % DAY,
            limit: 130,
        };
        // Two "servers", four threads each, lease up to 16 at a time.
        let leased = std::sync::atomic::AtomicI64::new(0);
        let biggest = std::sync::atomic::AtomicI64::new(0);
        std::thread::scope(|s| {
            for t in 0..8 {
                let store = if t % 2 == 0 { &b.store } else { &other };
                let (leased, biggest) = (&leased, &biggest);
                s.spawn(move || {
                    for _ in 0..40 {
                        match store
                            .take_quota_lease("acme", "E1", &[hour, day], 16)
                            .wait()
                            .unwrap()
                        {
                            Ok(n) => {
                                assert!((1..=16).contains(&n), "{n}");
                                leased.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                                biggest.fetch_max(n, std::sync::atomic::Ordering::Relaxed);
                            }
                            Err(i) => assert_eq!(i, 0),
                        }
                    }
                });
            }
        });
        // Leases shrink as the room does, so the hour fills exactly.
        assert_eq!(leased.into_inner(), 100, "{}", b.name);
        let biggest = biggest.into_inner();
        match b.name {
            "sqlite" => assert_eq!(biggest, 16, "leases of several"),
            _ => assert_eq!(biggest, 1, "{}: one at a time", b.name),
        }
        assert_eq!(
            b.store
                .take_quota_lease("acme", "E1", &[hour, day], 16)
                .wait()
                .unwrap(),
            Err(0)
        );
        // The day had 30 left: a lease never takes more than a quarter of
        // what is left, and none past the end.
        let next = QuotaWindow {
            start: hour.start + 3600,
            ..hour
        };
        let mut sizes = Vec::new();
        while let Ok(n) = b
            .store
            .take_quota_lease("acme", "E1", &[next, day], 16)
            .wait()
            .unwrap()
        {
            sizes.push(n);
        }
        assert_eq!(sizes.iter().sum::<i64>(), 30, "{}: {sizes:?}", b.name);
        if b.name == "sqlite" {
            assert_eq!(sizes[0], 7, "a quarter of 30");
        }
    }
}

#[test]
fn principals_keys_tickets_and_break_glass() {
    use parcel_vault::store::{ApiKeyRecord, BreakGlass, InsertOutcome, Principal, Ticket};
    for b in backends() {
        let s = &b.store;
        for (id, role) in [("E1", "courier"), ("A1", "admin"), ("A2", "admin")] {
            s.put_principal(&Principal {
                tenant: "acme".into(),
                id: id.into(),
                role: role.into(),
                station: Some("S01".into()),
                status: "active".into(),
                created_at: NOW,
            })
            .unwrap();
        }
        let list: Vec<String> = s
            .list_principals("acme")
            .unwrap()
            .into_iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(list, ["A1", "A2", "E1"], "{}", b.name);
        assert_eq!(
            s.get_principal("acme", "E1")
                .unwrap()
                .unwrap()
                .station
                .as_deref(),
            Some("S01")
        );
        assert!(s.get_principal("beta", "E1").unwrap().is_none());
        let key = ApiKeyRecord {
            id: "k_1".into(),
            tenant: "acme".into(),
            principal: "E1".into(),
            hash: vec![7; 32],
            created_at: NOW,
            expires_at: None,
            revoked_at: None,
        };
        s.put_api_key(&key).unwrap();
        assert_eq!(s.list_api_keys("acme").unwrap(), std::slice::from_ref(&key));
        assert!(!s.revoke_api_key("beta", "k_1", NOW).unwrap(), "{}", b.name);
        assert!(s.revoke_api_key("acme", "k_1", NOW).unwrap());
        assert!(!s.revoke_api_key("acme", "k_1", NOW).unwrap(), "twice");
        assert_eq!(s.list_api_keys("acme").unwrap()[0].revoked_at, Some(NOW));

        let t = Ticket {
            tenant: "acme".into(),
            id: "T1".into(),
            waybill_no: "SF1".into(),
            opened_by: "crm".into(),
            opened_at: NOW,
            closed_at: None,
        };
        assert_eq!(s.put_ticket(&t).unwrap(), InsertOutcome::Inserted);
        assert_eq!(s.put_ticket(&t).unwrap(), InsertOutcome::Duplicate);
        assert_eq!(s.get_ticket("acme", "T1").unwrap(), Some(t));
        assert_eq!(s.get_ticket("beta", "T1").unwrap(), None);

        let bg = BreakGlass {
            id: "bg1".into(),
            tenant: "acme".into(),
            requester: "A1".into(),
            waybill_no: "SF1".into(),
            party: "recipient".into(),
            field: "phone".into(),
            justification: "fraud report 42".into(),
            created_at: NOW,
            approved_by: None,
            approved_at: None,
            used_at: None,
        };
        s.put_break_glass(&bg).unwrap();
        assert!(
            !s.use_break_glass("acme", "bg1", NOW).unwrap(),
            "unapproved"
        );
        assert!(
            !s.approve_break_glass("acme", "bg1", "A1", NOW, NOW - 900)
                .unwrap(),
            "self-approval"
        );
        assert!(
            !s.approve_break_glass("acme", "bg1", "A2", NOW + 901, NOW + 1)
                .unwrap(),
            "too late"
        );
        assert!(
            s.approve_break_glass("acme", "bg1", "A2", NOW + 60, NOW - 840)
                .unwrap()
        );
        assert!(
            !s.approve_break_glass("acme", "bg1", "A2", NOW + 61, NOW - 840)
                .unwrap()
        );
        assert!(s.use_break_glass("acme", "bg1", NOW + 70).unwrap());
        assert!(!s.use_break_glass("acme", "bg1", NOW + 71).unwrap(), "once");
        let got = s.get_break_glass("acme", "bg1").unwrap().unwrap();
        assert_eq!(got.approved_by.as_deref(), Some("A2"));
        assert_eq!(got.used_at, Some(NOW + 70));
        assert!(
            !format!("{got:?}").contains("fraud"),
            "justification in Debug"
        );
    }
}

#[test]
fn alerts_suppressions_and_quota_overrides() {
    use parcel_vault::store::{AlertRecord, AlertUpdate, QuotaOverride};
    for b in backends() {
        let s = &b.store;
        let alert = |id: &str, at: i64| AlertRecord {
            tenant: "acme".into(),
            id: id.into(),
            actor: "E7".into(),
            raised_at_ms: at,
            severity: "high".into(),
            score_milli: 912,
            body: r#"{"reasons":["x"]}"#.into(),
            status: "open".into(),
            verdict: None,
            analyst: None,
            note: None,
            updated_at: NOW,
        };
        s.put_alert(&alert("al1", NOW * 1000)).unwrap();
        s.put_alert(&alert("al2", NOW * 1000 + 5)).unwrap();
        assert!(
            s.put_alert(&alert("al2", 0)).is_err(),
            "{}: duplicate id",
            b.name
        );
        assert_eq!(
            s.get_alert("acme", "al1").unwrap(),
            Some(alert("al1", NOW * 1000))
        );
        assert_eq!(s.get_alert("beta", "al1").unwrap(), None);
        let ids = |st: Option<&str>| -> Vec<String> {
            s.list_alerts("acme", st, 10)
                .unwrap()
                .into_iter()
                .map(|a| a.id)
                .collect()
        };
        assert_eq!(ids(None), ["al2", "al1"], "{}: newest first", b.name);
        assert_eq!(s.list_alerts("acme", None, 1).unwrap().len(), 1);
        let ack = AlertUpdate {
            from: &["open"],
            status: "acknowledged",
            verdict: None,
            analyst: "S1",
            note: None,
            at: NOW + 1,
        };
        assert!(s.update_alert("acme", "al1", &ack).unwrap());
        assert!(
            !s.update_alert("acme", "al1", &ack).unwrap(),
            "{}: CAS",
            b.name
        );
        let resolve = AlertUpdate {
            from: &["open", "acknowledged"],
            status: "resolved",
            verdict: Some("benign"),
            analyst: "S2",
            note: Some("inventory check"),
            at: NOW + 2,
        };
        assert!(s.update_alert("acme", "al1", &resolve).unwrap());
        let got = s.get_alert("acme", "al1").unwrap().unwrap();
        assert_eq!(
            (
                got.status.as_str(),
                got.verdict.as_deref(),
                got.analyst.as_deref()
            ),
            ("resolved", Some("benign"), Some("S2"))
        );
        assert_eq!(
            (got.note.as_deref(), got.updated_at),
            (Some("inventory check"), NOW + 2)
        );
        assert_eq!(ids(Some("open")), ["al2"]);
        assert!(
            !format!("{got:?}").contains("inventory"),
            "note in debug output"
        );

        s.put_suppression("acme", "E7", "no_reason", 2_000).unwrap();
        s.put_suppression("acme", "E7", "no_reason", 3_000).unwrap();
        s.put_suppression("acme", "E7", "volume", 1_000).unwrap();
        assert_eq!(
            s.suppressions("acme", 1_500).unwrap(),
            [("E7".to_owned(), "no_reason".to_owned(), 3_000)],
            "{}",
            b.name
        );
        assert!(s.suppressions("beta", 0).unwrap().is_empty());

        let o = QuotaOverride {
            tenant: "acme".into(),
            principal: "E7".into(),
            per_hour: 5,
            per_day: 20,
            until: NOW + 3600,
            reason: "al2".into(),
        };
        s.put_quota_override(&o).unwrap();
        assert_eq!(
            s.quota_override("acme", "E7", NOW).unwrap(),
            Some(o.clone())
        );
        assert_eq!(
            s.quota_override("acme", "E7", NOW + 3600).unwrap(),
            None,
            "expired"
        );
        s.put_quota_override(&QuotaOverride { per_hour: 2, ..o })
            .unwrap();
        assert_eq!(
            s.quota_override("acme", "E7", NOW)
                .unwrap()
                .unwrap()
                .per_hour,
            2
        );

        s.put_approval_hold("acme", "E7", NOW + 60, "al1").unwrap();
        s.put_approval_hold("acme", "E7", NOW + 60, "al2").unwrap();
        assert_eq!(
            s.approval_hold("acme", "E7", NOW).unwrap().as_deref(),
            Some("al2")
        );
        assert_eq!(
            s.approval_hold("acme", "E7", NOW + 60).unwrap(),
            None,
            "expired"
        );
        assert_eq!(s.approval_hold("beta", "E7", NOW).unwrap(), None);
        // Only what that alert set is lifted (the override's reason is al2).
        s.put_quota_override(&QuotaOverride {
            tenant: "acme".into(),
            principal: "E7".into(),
            per_hour: 5,
            per_day: 20,
            until: NOW + 3600,
            reason: "al2".into(),
        })
        .unwrap();
        assert_eq!(
            s.lift_restrictions("acme", "E7", "al1").unwrap(),
            0,
            "{}",
            b.name
        );
        assert_eq!(
            s.lift_restrictions("acme", "E7", "al2").unwrap(),
            2,
            "{}",
            b.name
        );
        assert_eq!(s.approval_hold("acme", "E7", NOW).unwrap(), None);
        assert_eq!(s.quota_override("acme", "E7", NOW).unwrap(), None);
    }
}

#[test]
fn reveal_reads_match_the_reads_one_by_one() {
    use parcel_vault::store::{Principal, QuotaOverride};
    for b in backends() {
        let vault = b.vault(180);
        let s = &b.store;
        vault
            .create(
                "acme",
                &shipment("SF7000000000031", &phone(61), &phone(62), 61),
                NOW,
            )
            .unwrap();
        s.put_principal(&Principal {
            tenant: "acme".into(),
            id: "E9".into(),
            role: "courier".into(),
            station: None,
            status: "active".into(),
            created_at: NOW,
        })
        .unwrap();
        let check = |principal: &str, waybill: &str, slot: usize, now: i64| {
            let r = s
                .reveal_reads("acme", principal, waybill, slot, now)
                .unwrap();
            let what = format!("{} {principal} {waybill} {slot:?}", b.name);
            assert_eq!(
                r.principal,
                s.get_principal("acme", principal).unwrap(),
                "{what}"
            );
            assert_eq!(
                r.shipment.as_ref().map(|x| &x.waybill_no),
                s.get_shipment("acme", waybill)
                    .unwrap()
                    .as_ref()
                    .map(|x| &x.waybill_no),
                "{what}"
            );
            let one = s.get_ciphertext("acme", waybill, slot).unwrap();
            assert_eq!(r.ciphertext, one, "{what}");
            assert_eq!(
                r.approval_hold,
                s.approval_hold("acme", principal, now).unwrap(),
                "{what}"
            );
            assert_eq!(
                r.quota_override,
                s.quota_override("acme", principal, now).unwrap(),
                "{what}"
            );
            r
        };
        let r = check("E9", "SF7000000000031", 1, NOW);
        assert!(r.principal.is_some() && r.shipment.is_some(), "{}", b.name);
        assert!(r.ciphertext.as_ref().is_some_and(|(_, c)| c.is_some()));
        assert!(r.approval_hold.is_none() && r.quota_override.is_none());
        // Nothing there: an unknown principal and shipment.
        let r = check("E404", "SF7000000000404", 1, NOW);
        assert!(r.principal.is_none() && r.shipment.is_none() && r.ciphertext.is_none());
        // Restrictions in force are seen, expired ones are not.
        s.put_approval_hold("acme", "E9", NOW + 60, "al9").unwrap();
        s.put_quota_override(&QuotaOverride {
            tenant: "acme".into(),
            principal: "E9".into(),
            per_hour: 1,
            per_day: 2,
            until: NOW + 60,
            reason: "al9".into(),
        })
        .unwrap();
        let r = check("E9", "SF7000000000031", 0, NOW);
        assert_eq!(r.approval_hold.as_deref(), Some("al9"), "{}", b.name);
        assert_eq!(r.quota_override.map(|o| o.per_day), Some(2), "{}", b.name);
        let r = check("E9", "SF7000000000031", 0, NOW + 60);
        assert!(r.approval_hold.is_none() && r.quota_override.is_none());
    }
}
