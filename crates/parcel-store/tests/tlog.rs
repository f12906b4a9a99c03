//! The transparency log on both storage backends: concurrent durable
//! appends, reopening, several writers on one PostgreSQL database, full
//! verification of what is served, tamper and rollback detection, receipts,
//! and a crash loop (a writer SIGKILLed mid-load loses no acknowledged
//! entry and never forks the tree).
//!
//! PostgreSQL cases run when `PARCELGUARD_TEST_PG` holds a URL, each in a
//! schema of its own that is dropped afterwards.
#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

use std::collections::BTreeSet;
use std::io::{BufRead as _, Write as _};
use std::sync::Arc;
use std::time::Duration;

use parcel_store::{PgLog, SqliteLog};
use parcel_tlog::log::LogStorage;
use parcel_tlog::note::{KeyKind, NoteKey, TrustPolicy, VKey};
use parcel_tlog::tree::TilePath;
use parcel_tlog::verify::{Published, SavedTree, verify_log};
use parcel_tlog::{Event, Log, LogError, LogOptions};

fn key() -> NoteKey {
    NoteKey::from_seed("parcelguard.test/log", KeyKind::Log, &[42; 32]).unwrap()
}

fn policy() -> TrustPolicy {
    TrustPolicy::log_only(VKey::parse(&key().vkey()).unwrap())
}

fn event(i: u64) -> Event {
    let mut e = Event::new(
        1_795_000_000_000 + i as i64,
        "sf",
        &format!("E{}", i % 17),
        "reveal",
    );
    e.waybill = Some(format!("SF{:013}", i));
    e.decision = Some("allow".to_owned());
    e
}

/// Serves a log the way the HTTP routes do.
struct Served<'a>(&'a Log);

impl Published for Served<'_> {
    fn get(&self, path: &str) -> Result<Option<Vec<u8>>, LogError> {
        if path == "checkpoint" {
            return self.0.checkpoint().map(Some);
        }
        match self.0.read(&TilePath::parse(path)?) {
            Ok(b) => Ok(Some(b)),
            Err(LogError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A served log with one byte of one path flipped.
struct Tampered<'a> {
    inner: Served<'a>,
    path: String,
    byte: usize,
}

impl Published for Tampered<'_> {
    fn get(&self, path: &str) -> Result<Option<Vec<u8>>, LogError> {
        let mut b = self.inner.get(path)?;
        if path == self.path
            && let Some(b) = b.as_mut()
        {
            b[self.byte] ^= 0x20;
        }
        Ok(b)
    }
}

struct Backend {
    name: &'static str,
    open: Box<dyn Fn() -> Arc<dyn LogStorage>>,
    cleanup: Box<dyn Fn()>,
    _dir: Option<tempfile::TempDir>,
}

fn backends() -> Vec<Backend> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    let mut out = vec![Backend {
        name: "sqlite",
        open: Box::new(move || Arc::new(SqliteLog::open(&path).unwrap()) as Arc<dyn LogStorage>),
        cleanup: Box::new(|| {}),
        _dir: Some(dir),
    }];
    if let Some(url) = std::env::var("PARCELGUARD_TEST_PG")
        .ok()
        .filter(|u| !u.is_empty())
    {
        let schema = format!("tlogtest_{}", rand::random::<u64>());
        let (u1, s1) = (url.clone(), schema.clone());
        out.push(Backend {
            name: "postgres",
            open: Box::new(move || {
                Arc::new(PgLog::open(&u1, Some(&s1)).unwrap()) as Arc<dyn LogStorage>
            }),
            cleanup: Box::new(move || {
                if let Ok(mut c) = postgres::Client::connect(&url, postgres::NoTls) {
                    let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
                }
            }),
            _dir: None,
        });
    }
    out
}

fn fast() -> LogOptions {
    LogOptions {
        checkpoint_interval: Duration::from_millis(50),
        ..LogOptions::default()
    }
}

fn append_concurrently(log: &Arc<Log>, threads: u64, each: u64, offset: u64) -> BTreeSet<u64> {
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                (0..each)
                    .map(|i| log.append(&event(offset + t * each + i)).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect()
}

#[test]
fn appends_verify_and_survive_reopening() {
    for b in backends() {
        let log = Arc::new(Log::open((b.open)(), key(), fast()).unwrap());
        assert_eq!(log.backend(), b.name);
        // 8 writers: every index handed out once, densely.
        let got = append_concurrently(&log, 8, 150, 0);
        assert_eq!(got, (0..1200).collect(), "{}", b.name);
        // Checkpoints lag appends by up to the publish interval: sign one
        // covering everything before checking the count.
        log.publish().unwrap();
        let verdict = verify_log(&Served(&log), &policy(), None, &mut |_, _| {}).unwrap();
        assert_eq!(verdict.entries, 1200);
        let saved = SavedTree {
            size: verdict.checkpoint.size,
            root: verdict.checkpoint.root,
        };
        // A receipt verifies offline with the public key alone.
        for i in [0, 255, 256, 1199] {
            let r = log.receipt(i).unwrap();
            let json = serde_json::to_string(&r).unwrap();
            let back: parcel_tlog::Receipt = serde_json::from_str(&json).unwrap();
            let checked = back.verify(&policy()).unwrap();
            assert!(checked.event.waybill.is_some());
        }
        Arc::try_unwrap(log).unwrap().close();

        // Reopen (as after a restart): the tree continues, and the earlier
        // checkpoint is a prefix of the new one.
        let log = Arc::new(Log::open((b.open)(), key(), fast()).unwrap());
        assert_eq!(log.tree().unwrap().0, 1200);
        let got = append_concurrently(&log, 3, 100, 5000);
        assert_eq!(got, (1200..1500).collect());
        // Closing publishes a final checkpoint that covers the last batch.
        Arc::try_unwrap(log).unwrap().close();
        assert_eq!(
            (b.open)().checkpoint().unwrap().unwrap().0,
            1500,
            "{}",
            b.name
        );
        let log = Arc::new(Log::open((b.open)(), key(), fast()).unwrap());
        let v = verify_log(&Served(&log), &policy(), Some(saved), &mut |_, _| {}).unwrap();
        assert_eq!(v.entries, 1500);
        // A checkpoint from a longer tree than the log now shows: rollback.
        let ahead = SavedTree {
            size: 1501,
            root: saved.root,
        };
        let err = verify_log(&Served(&log), &policy(), Some(ahead), &mut |_, _| {}).unwrap_err();
        assert!(err.to_string().contains("rollback"), "{err}");
        // Same size, different root: fork.
        let forked = SavedTree {
            size: 1200,
            root: parcel_tlog::tree::empty_root(),
        };
        let err = verify_log(&Served(&log), &policy(), Some(forked), &mut |_, _| {}).unwrap_err();
        assert!(err.to_string().contains("fork"), "{err}");
        drop(log);
        (b.cleanup)();
    }
}

#[test]
fn tampering_with_any_published_file_is_detected() {
    let b = backends().remove(0);
    let log = Log::open((b.open)(), key(), fast()).unwrap();
    for i in 0..700 {
        log.append(&event(i)).unwrap();
    }
    log.publish().unwrap();
    // (path, byte, what the verdict must name)
    let cases = [
        ("tile/entries/001", 40, "entry 256"),
        ("tile/entries/002.p/188", 10, "entry 512"),
        ("tile/0/000", 32 * 7 + 3, "entry 7"),
        ("tile/1/000.p/2", 33, "tile/1/000.p/2"),
        ("checkpoint", 30, "signature"),
    ];
    for (path, byte, expect) in cases {
        let t = Tampered {
            inner: Served(&log),
            path: path.to_owned(),
            byte,
        };
        let err = verify_log(&t, &policy(), None, &mut |_, _| {}).unwrap_err();
        assert!(err.to_string().contains(expect), "{path}: {err}");
    }
    // Truncation: a bundle that lost its last entry.
    struct Truncated<'a>(Served<'a>);
    impl Published for Truncated<'_> {
        fn get(&self, path: &str) -> Result<Option<Vec<u8>>, LogError> {
            let b = self.0.get(path)?;
            Ok(if path == "tile/entries/002.p/188" {
                b.map(|b| {
                    let entries = parcel_tlog::tree::decode_bundle(&b).unwrap();
                    parcel_tlog::tree::encode_bundle(&entries[..entries.len() - 1]).unwrap()
                })
            } else {
                b
            })
        }
    }
    let err = verify_log(&Truncated(Served(&log)), &policy(), None, &mut |_, _| {}).unwrap_err();
    assert!(err.to_string().contains("187 entries"), "{err}");
    // Served untampered, the same log verifies.
    verify_log(&Served(&log), &policy(), None, &mut |_, _| {}).unwrap();
}

#[test]
fn several_servers_append_to_one_postgres_log() {
    let Some(b) = backends().into_iter().find(|b| b.name == "postgres") else {
        eprintln!("PARCELGUARD_TEST_PG not set: skipping the multi-writer PostgreSQL case");
        return;
    };
    // Two Log instances over two connection pools: two servers.
    let a = Arc::new(Log::open((b.open)(), key(), fast()).unwrap());
    let c = Arc::new(Log::open((b.open)(), key(), fast()).unwrap());
    let (a2, c2) = (a.clone(), c.clone());
    let ta = std::thread::spawn(move || append_concurrently(&a2, 4, 200, 0));
    let tc = std::thread::spawn(move || append_concurrently(&c2, 4, 200, 10_000));
    let mut all = ta.join().unwrap();
    let from_c = tc.join().unwrap();
    assert!(all.is_disjoint(&from_c));
    all.extend(from_c);
    assert_eq!(all, (0..1600).collect());
    a.publish().unwrap();
    let v = verify_log(&Served(&c), &policy(), None, &mut |_, _| {}).unwrap();
    assert_eq!(v.entries, 1600);
    drop((a, c));
    (b.cleanup)();
}

/// Runs as the crash loop's child: appends forever from 4 threads and
/// prints each acknowledged index.
#[test]
fn crash_child() {
    let Ok(path) = std::env::var("PARCELGUARD_TLOG_CRASH_CHILD") else {
        return;
    };
    let log = Arc::new(
        Log::open(
            Arc::new(SqliteLog::open(std::path::Path::new(&path)).unwrap()),
            key(),
            fast(),
        )
        .unwrap(),
    );
    let handles: Vec<_> = (0..4u64)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut i = t * 1_000_000_000;
                loop {
                    let idx = log.append(&event(i)).unwrap();
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "acked {idx}");
                    let _ = out.flush();
                    i += 1;
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
}

#[test]
fn sigkill_during_appends_loses_no_acknowledged_entry() {
    if std::env::var("PARCELGUARD_TLOG_CRASH_CHILD").is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    let exe = std::env::current_exe().unwrap();
    let mut saved: Option<SavedTree> = None;
    for round in 0..5u64 {
        let mut child = std::process::Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env("PARCELGUARD_TLOG_CRASH_CHILD", &path)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut max: Option<u64> = None;
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(n) = line
                    .strip_prefix("acked ")
                    .and_then(|n| n.parse::<u64>().ok())
                {
                    max = Some(max.map_or(n, |m| m.max(n)));
                }
            }
            max
        });
        // Let it run for a varying while, then SIGKILL it mid-append.
        std::thread::sleep(Duration::from_millis(300 + 170 * round));
        child.kill().unwrap();
        let _ = child.wait();
        let acked = reader.join().unwrap();

        let log = Log::open(Arc::new(SqliteLog::open(&path).unwrap()), key(), fast()).unwrap();
        let (size, _) = log.tree().unwrap();
        if let Some(max) = acked {
            assert!(
                size > max,
                "round {round}: entry {max} was acknowledged but the log holds {size}"
            );
        }
        log.publish().unwrap();
        let v = verify_log(&Served(&log), &policy(), saved, &mut |_, _| {})
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        saved = Some(SavedTree {
            size: v.checkpoint.size,
            root: v.checkpoint.root,
        });
    }
    assert!(
        saved.unwrap().size > 100,
        "the child appended too little to test anything"
    );
}

#[test]
fn expiring_details_go_without_touching_the_tree() {
    use parcel_tlog::log::ExpiringDetail;
    for b in backends() {
        let log = Log::open((b.open)(), key(), fast()).unwrap();
        for i in 0..300u64 {
            let detail = ExpiringDetail {
                tenant: "sf".to_owned(),
                subject: Some(format!("subject-{}", i % 3)),
                expires_at: i as i64,
                data: format!("{{\"subject\":\"subject-{}\"}}", i % 3).into_bytes(),
            };
            assert_eq!(log.append_with_detail(&event(i), detail).unwrap(), i);
        }
        log.append(&event(300)).unwrap();
        log.publish().unwrap();
        let before = verify_log(&Served(&log), &policy(), None, &mut |_, _| {}).unwrap();
        // The entry commits to its detail; the detail reads back checked.
        let entry = log
            .read(&TilePath::Entries {
                index: 0,
                width: None,
            })
            .unwrap();
        let first = parcel_tlog::tree::decode_bundle(&entry).unwrap()[4].to_vec();
        assert!(Event::decode(&first).unwrap().detail_sha256.is_some());
        assert_eq!(
            log.detail(4).unwrap().unwrap(),
            b"{\"subject\":\"subject-1\"}"
        );
        assert_eq!(log.detail(300).unwrap(), None);
        // Erasure of one person, then retention of everything before t=150.
        // Only entries before the given index lose their link.
        assert_eq!(
            log.erase_details("sf", "subject-1", 250).unwrap(),
            83,
            "{}",
            b.name
        );
        assert!(log.detail(298).unwrap().is_some());
        assert_eq!(
            log.erase_details("sf", "subject-1", 301).unwrap(),
            17,
            "{}",
            b.name
        );
        assert_eq!(log.detail(4).unwrap(), None);
        assert!(log.detail(3).unwrap().is_some());
        assert_eq!(
            log.erase_details("other-tenant", "subject-0", 301).unwrap(),
            0
        );
        assert_eq!(log.expire_details(150).unwrap(), 100, "{}", b.name);
        assert_eq!(log.detail(3).unwrap(), None);
        assert!(log.detail(150).unwrap().is_some());
        // The tree and its checkpoint are untouched.
        let after = verify_log(&Served(&log), &policy(), None, &mut |_, _| {}).unwrap();
        assert_eq!(after.checkpoint, before.checkpoint);
        drop(log);
        (b.cleanup)();
    }
}
