//! End-to-end tests of the `parcelguard` binary: real processes, real files.
#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;

/// Synthetic personal values used below; none may appear in logs or stderr.
const PHONE: &str = "13812345678";
const ID: &str = "11010519491231002X";
const NAME: &str = "王小明";

fn pg(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("parcelguard").unwrap();
    cmd.current_dir(dir);
    // Keep the tests hermetic: no configuration leaks in from the caller.
    for (k, _) in std::env::vars() {
        if k.starts_with("PARCELGUARD_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

fn assert_no_pii(out: &Output) {
    for stream in [&out.stderr] {
        let s = text(stream);
        for secret in [PHONE, ID, NAME] {
            assert!(!s.contains(secret), "personal value leaked into stderr");
        }
    }
}

#[test]
fn help_lists_only_real_subcommands() {
    let dir = tempfile::tempdir().unwrap();
    let out = pg(dir.path()).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = text(&out.stdout);
    for cmd in [
        "init", "scan", "redact", "serve", "import", "keys", "log", "witness", "policy", "watch",
        "label", "numbers",
    ] {
        assert!(
            help.contains(&format!("  {cmd} ")),
            "{cmd} missing:\n{help}"
        );
    }
    let version = pg(dir.path()).arg("--version").output().unwrap();
    assert!(text(&version.stdout).starts_with("parcelguard "));
}

#[test]
fn init_twice_keeps_the_key() {
    let dir = tempfile::tempdir().unwrap();
    pg(dir.path()).arg("init").assert().success();
    let key = dir.path().join("parcelguard-data/keys/root.key");
    let before = std::fs::read(&key).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let out = pg(dir.path()).arg("init").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("refusing to overwrite"));
    assert_eq!(std::fs::read(&key).unwrap(), before);
}

#[test]
fn data_dir_from_flag_env_and_config_file() {
    let dir = tempfile::tempdir().unwrap();
    // Global option after the subcommand.
    pg(dir.path())
        .args(["init", "--data-dir", "a"])
        .assert()
        .success();
    assert!(dir.path().join("a/keys/root.key").exists());
    pg(dir.path())
        .arg("init")
        .env("PARCELGUARD_DATA_DIR", "b")
        .assert()
        .success();
    assert!(dir.path().join("b/keys/root.key").exists());
    std::fs::write(dir.path().join("parcelguard.toml"), "data_dir = \"c\"\n").unwrap();
    pg(dir.path()).arg("init").assert().success();
    assert!(dir.path().join("c/keys/root.key").exists());
    // A bad file is named with its line.
    std::fs::write(dir.path().join("bad.toml"), "[scan]\njobs = \"x\"\n").unwrap();
    let out = pg(dir.path())
        .args(["--config", "bad.toml", "init"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("bad.toml:2:"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn scan_exit_codes_and_jsonl_contract() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("clean.log"), "GET /index.html 200 512\n").unwrap();
    let out = pg(dir.path()).args(["scan", "clean.log"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));

    std::fs::write(
        dir.path().join("leak.log"),
        format!("ok\n收件人：{NAME}，电话{PHONE}，身份证{ID}\n"),
    )
    .unwrap();
    let out = pg(dir.path())
        .args([
            "scan",
            "leak.log",
            "--format",
            "jsonl",
            "--log-level",
            "trace",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_no_pii(&out);
    let stdout = text(&out.stdout);
    assert!(!stdout.contains(PHONE), "values are hidden by default");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let types: Vec<&str> = lines.iter().map(|v| v["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["cn_name", "cn_mobile", "cn_resident_id"]);
    let phone = &lines[1];
    let content = std::fs::read_to_string(dir.path().join("leak.log")).unwrap();
    let (s, e) = (
        phone["start"].as_u64().unwrap() as usize,
        phone["end"].as_u64().unwrap() as usize,
    );
    assert_eq!(&content[s..e], PHONE);
    assert_eq!(phone["line"], 2);
    for key in ["path", "column", "score", "validator"] {
        assert!(!phone[key].is_null(), "{key}");
    }

    let out = pg(dir.path())
        .args(["scan", "leak.log", "--format", "jsonl", "--show-values"])
        .output()
        .unwrap();
    assert!(text(&out.stdout).contains("138******78"));
    let out = pg(dir.path())
        .args([
            "scan",
            "leak.log",
            "--format",
            "jsonl",
            "--show-values=full",
        ])
        .output()
        .unwrap();
    assert!(text(&out.stdout).contains(PHONE));

    std::fs::write(dir.path().join("broken.gz"), [0x1f, 0x8b, 8, 0, 9, 9]).unwrap();
    let out = pg(dir.path())
        .args(["scan", "broken.gz", "leak.log", "--format", "jsonl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "errors win over findings");
    assert!(text(&out.stderr).contains("broken.gz"));
    assert_eq!(
        text(&out.stdout).lines().count(),
        3,
        "the scan went on past the broken file"
    );
}

#[test]
fn scan_sarif_and_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let out = pg(dir.path())
        .args(["scan", "-", "--format", "sarif"])
        .write_stdin(format!("mobile={PHONE}\n"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(sarif["runs"][0]["results"][0]["ruleId"], "cn_mobile");
    // Without a path, piped stdin is scanned (as ripgrep does).
    let out = pg(dir.path())
        .args(["scan", "--format", "jsonl"])
        .write_stdin(format!("mobile={PHONE}\n"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("\"path\":\"<stdin>\""));
}

#[test]
fn redact_keeps_structure() {
    let dir = tempfile::tempdir().unwrap();
    let json = format!("{{\"receiverName\":\"{NAME}\",\"receiverMobile\":\"{PHONE}\",\"n\":1}}\n");
    std::fs::write(dir.path().join("in.jsonl"), &json).unwrap();
    let out = pg(dir.path())
        .args(["redact", "in.jsonl"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let red = text(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(red.trim()).unwrap();
    assert_eq!(v["receiverMobile"], "138******78");
    assert_eq!(v["receiverName"], "王**");
    assert_no_pii(&out);

    let csv = format!("receiver_name,receiver_phone,note\n{NAME},{PHONE},hi\n");
    std::fs::write(dir.path().join("in.csv"), &csv).unwrap();
    pg(dir.path())
        .args(["redact", "in.csv", "-o", "out.csv", "--op", "tag"])
        .assert()
        .success();
    let red = std::fs::read_to_string(dir.path().join("out.csv")).unwrap();
    assert_eq!(
        red,
        "receiver_name,receiver_phone,note\n<cn_name>,<cn_mobile>,hi\n"
    );
}

#[test]
fn hash_and_fpe_need_the_key_store() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.txt"), format!("手机{PHONE}\n")).unwrap();
    let out = pg(dir.path())
        .args(["redact", "in.txt", "--op", "hash"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("parcelguard init"));
    pg(dir.path()).arg("init").assert().success();
    let a = pg(dir.path())
        .args(["redact", "in.txt", "--op", "hash"])
        .output()
        .unwrap();
    let b = pg(dir.path())
        .args(["redact", "in.txt", "--op", "hash"])
        .output()
        .unwrap();
    assert_eq!(a.stdout, b.stdout, "same input, same output");
    assert!(text(&a.stdout).starts_with("手机cn_mobile#"));
    let f = pg(dir.path())
        .args(["redact", "in.txt", "--op", "cn_mobile=fpe"])
        .output()
        .unwrap();
    let f = text(&f.stdout);
    assert_eq!(f.chars().count(), format!("手机{PHONE}\n").chars().count());
    assert!(!f.contains(PHONE));
}

#[test]
fn bad_arguments_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = pg(dir.path())
        .args(["scan", ".", "--types", "cn_phone"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cn_phone"));
    let out = pg(dir.path())
        .args(["redact", "x", "--op", "cn_mobile=shred"])
        .output()
        .unwrap();
    assert!(text(&out.stderr).contains("--op cn_mobile=shred"));
}

#[test]
fn walks_directories_like_ripgrep() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("logs");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::create_dir_all(root.join(".hidden")).unwrap();
    std::fs::write(root.join("a.log"), format!("tel {PHONE}\n")).unwrap();
    std::fs::write(root.join("sub/b.log"), format!("tel {PHONE}\n")).unwrap();
    std::fs::write(root.join("ignored.log"), format!("tel {PHONE}\n")).unwrap();
    std::fs::write(root.join(".hidden/c.log"), format!("tel {PHONE}\n")).unwrap();
    std::fs::write(root.join(".gitignore"), "ignored.log\n").unwrap();
    let mut binary = b"\x00\x01PNG".to_vec();
    binary.extend_from_slice(PHONE.as_bytes());
    std::fs::write(root.join("image.bin"), binary).unwrap();

    let paths = |args: &[&str]| -> Vec<String> {
        let out = pg(dir.path()).args(args).output().unwrap();
        let mut p: Vec<String> = text(&out.stdout)
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["path"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        p.sort();
        p
    };
    assert_eq!(
        paths(&["scan", "logs", "--format", "jsonl"]),
        ["logs/a.log", "logs/sub/b.log"]
    );
    assert_eq!(
        paths(&["scan", "logs", "--format", "jsonl", "--hidden"]),
        ["logs/.hidden/c.log", "logs/a.log", "logs/sub/b.log"]
    );
    assert_eq!(
        paths(&["scan", "logs", "--format", "jsonl", "--glob", "!sub/**"]),
        ["logs/a.log"]
    );
    let out = pg(dir.path())
        .args(["scan", "logs", "--format", "jsonl"])
        .output()
        .unwrap();
    assert!(
        text(&out.stderr).contains("1 skipped as binary"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn invalid_utf8_is_a_warning_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = format!("tel {PHONE} ").into_bytes();
    bytes.extend_from_slice(&[0xff, 0xfe, b'\n']);
    std::fs::write(dir.path().join("latin1.txt"), bytes).unwrap();
    let out = pg(dir.path())
        .args(["scan", "latin1.txt", "--format", "jsonl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("latin1.txt: contains invalid UTF-8"));
    assert_eq!(
        text(&out.stdout).lines().count(),
        1,
        "the phone is still reported"
    );
    assert_no_pii(&out);
}

const CSV_HEADER: &str = "waybill_no,carrier,sender_name,sender_phone,sender_address,sender_id_number,recipient_name,recipient_phone,recipient_address,station,courier";

fn csv_row(waybill: &str, recipient_phone: &str) -> String {
    format!(
        "{waybill},SF,{NAME},{PHONE},广东省深圳市南山区科技园路1号,{ID},李四,{recipient_phone},北京市朝阳区建国路88号,ST01,E1001"
    )
}

fn init_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let out = pg(dir.path())
        .args(["--data-dir", "d", "init"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("admin API key") && stdout.contains("pgk_"),
        "{stdout}"
    );
    dir
}

fn count_rows(dir: &Path) -> i64 {
    // Through the product: an import of zero new rows reports the total.
    let db = dir.join("d").join("parcelguard.db");
    let c = rusqlite::Connection::open(db).unwrap();
    c.query_row("SELECT count(*) FROM shipments", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn import_all_or_nothing_with_line_numbers() {
    let dir = init_dir();
    let bad = format!(
        "{CSV_HEADER}\n{}\n{}\n{}\n",
        csv_row("SF0000000000001", "13912345678"),
        csv_row("SF0000000000002", "1391234"),
        csv_row("SF0000000000003", "13912345679"),
    );
    std::fs::write(dir.path().join("bad.csv"), &bad).unwrap();
    let out = pg(dir.path())
        .args(["--data-dir", "d", "import", "bad.csv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("bad.csv:3: recipient.phone:"), "{err}");
    assert!(err.contains("nothing was imported"), "{err}");
    assert!(!err.contains("1391234"), "value echoed");
    assert_no_pii(&out);
    assert_eq!(count_rows(dir.path()), 0);

    let out = pg(dir.path())
        .args(["--data-dir", "d", "import", "--skip-invalid", "bad.csv"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("imported 2 shipments"),
        "{}",
        text(&out.stdout)
    );
    assert_no_pii(&out);
    assert_eq!(count_rows(dir.path()), 2);

    // Duplicates: refused as a whole, or skipped.
    let out = pg(dir.path())
        .args(["--data-dir", "d", "import", "bad.csv", "--skip-invalid"])
        .output()
        .unwrap();
    assert!(
        text(&out.stdout).contains("imported 0 shipments")
            && text(&out.stdout).contains("2 duplicate")
    );
    let dup = format!(
        "{CSV_HEADER}\n{}\n{}\n",
        csv_row("SF0000000000009", "13912345670"),
        csv_row("SF0000000000001", "13912345671")
    );
    std::fs::write(dir.path().join("dup.csv"), dup).unwrap();
    let out = pg(dir.path())
        .args(["--data-dir", "d", "import", "dup.csv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("already exist (lines 3)"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(count_rows(dir.path()), 2);

    // A missing column is named with the header's line.
    std::fs::write(dir.path().join("cols.csv"), "waybill_no,carrier\nSF1,SF\n").unwrap();
    let out = pg(dir.path())
        .args(["--data-dir", "d", "import", "cols.csv"])
        .output()
        .unwrap();
    assert!(
        text(&out.stderr).contains("cols.csv:1: header row lacks sender_name"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn import_jsonl_gz_then_rotate_and_purge() {
    let dir = init_dir();
    let line = serde_json::json!({
        "waybill_no": "JD0000000000001", "carrier": "JD",
        "sender": {"name": NAME, "phone": PHONE, "address": "浙江省杭州市西湖区文三路90号", "id_number": ID},
        "recipient": {"name": "李四", "phone": "13912345678", "address": {"province": "上海市", "city": "上海市", "district": "浦东新区", "detail": "世纪大道100号"}}
    });
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(
        &mut gz,
        format!("{line}\n{{\"waybill_no\": 5}}\n").as_bytes(),
    )
    .unwrap();
    std::fs::write(dir.path().join("s.jsonl.gz"), gz.finish().unwrap()).unwrap();
    let out = pg(dir.path())
        .args(["--data-dir", "d", "import", "s.jsonl.gz"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("s.jsonl.gz:2: "),
        "{}",
        text(&out.stderr)
    );
    let out = pg(dir.path())
        .args(["--data-dir", "d", "import", "--skip-invalid", "s.jsonl.gz"])
        .output()
        .unwrap();
    assert!(
        text(&out.stdout).contains("imported 1 shipments"),
        "{}",
        text(&out.stdout)
    );

    let out = pg(dir.path())
        .args(["--data-dir", "d", "keys", "rotate"])
        .output()
        .unwrap();
    assert!(
        text(&out.stdout).contains("new key-encryption key v2; re-wrapped 1 data keys"),
        "{}",
        text(&out.stdout)
    );
    let out = pg(dir.path())
        .args(["--data-dir", "d", "keys", "retire"])
        .output()
        .unwrap();
    assert!(
        text(&out.stdout).contains("destroyed key-encryption keys v1"),
        "{}",
        text(&out.stdout)
    );
    assert!(!dir.path().join("d/keys/kek/v000001.key").exists());
    let out = pg(dir.path())
        .args(["--data-dir", "d", "keys", "purge-expired"])
        .output()
        .unwrap();
    assert!(
        text(&out.stdout).contains("purged 0 shipments"),
        "{}",
        text(&out.stdout)
    );
    assert_no_pii(&out);
}

#[test]
fn weak_mask_profile_is_rejected_at_start_up() {
    let dir = init_dir();
    let out = pg(dir.path())
        .args(["--data-dir", "d", "keys", "purge-expired"])
        .env("PARCELGUARD_VAULT_MASK_PHONE_KEEP_SUFFIX", "4")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("[vault.mask]") && text(&out.stderr).contains("at least 6"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn serve_answers_over_http_and_stops_on_sigterm() {
    let dir = init_dir();
    let key = {
        // The admin key is shown once, by `init`: take it from its output.
        let out = pg(dir.path())
            .args(["--data-dir", "e", "init"])
            .output()
            .unwrap();
        let stdout = text(&out.stdout);
        stdout
            .lines()
            .find(|l| l.trim().starts_with("pgk_"))
            .unwrap()
            .trim()
            .to_owned()
    };
    let (child, addr) = spawn_listening(
        dir.path(),
        &["--data-dir", "e", "serve", "--listen", "127.0.0.1:0"],
        &[],
    );
    let body = format!(
        "{{\"waybill_no\":\"SF9\",\"carrier\":\"SF\",\"sender\":{{\"name\":\"{NAME}\",\"phone\":\"{PHONE}\",\"address\":\"广东省深圳市南山区科技园路1号\",\"id_number\":\"{ID}\"}},\"recipient\":{{\"name\":\"李四\",\"phone\":\"13912345678\",\"address\":\"北京市朝阳区建国路88号\"}}}}"
    );
    let auth = format!("Authorization: Bearer {key}\r\nContent-Type: application/json\r\n");
    let resp = http(&addr, "POST", "/v1/shipments", &auth, &body);
    assert!(resp.starts_with("HTTP/1.1 201"), "{resp}");
    assert!(
        resp.contains("138******78") && !resp.contains(PHONE),
        "{resp}"
    );
    let resp = http(&addr, "GET", "/v1/shipments/SF9", "", "");
    assert!(resp.starts_with("HTTP/1.1 401"), "{resp}");
    // SIGTERM: graceful stop with status 0.
    let stderr = stop(child);
    for secret in [PHONE, ID, NAME] {
        assert!(!stderr.contains(secret), "personal value in server log");
    }
}

#[test]
fn serve_speaks_tls_on_any_address_with_a_configured_certificate() {
    let dir = init_dir();
    pg(dir.path())
        .args(["--data-dir", "e", "init"])
        .output()
        .unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_pem = cert.cert.pem();
    std::fs::write(dir.path().join("cert.pem"), &cert_pem).unwrap();
    std::fs::write(dir.path().join("key.pem"), cert.key_pair.serialize_pem()).unwrap();
    // Only one of the pair: refused, saying which setting.
    let out = pg(dir.path())
        .args(["--data-dir", "e", "serve", "--listen", "0.0.0.0:0"])
        .env("PARCELGUARD_SERVER_TLS_CERT", "cert.pem")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("tls_key"),
        "{}",
        text(&out.stderr)
    );
    // Both: HTTPS, and a non-loopback address needs no --insecure-listen.
    let (child, addr) = spawn_listening(
        dir.path(),
        &["--data-dir", "e", "serve", "--listen", "0.0.0.0:0"],
        &[
            ("PARCELGUARD_SERVER_TLS_CERT", "cert.pem"),
            ("PARCELGUARD_SERVER_TLS_KEY", "key.pem"),
        ],
    );
    let port = addr.rsplit(':').next().unwrap();
    let root = ureq::tls::Certificate::from_pem(cert_pem.as_bytes()).unwrap();
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::Specific(std::sync::Arc::new(vec![
            root,
        ])))
        .build();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .build()
        .into();
    let mut resp = agent
        .get(format!("https://localhost:{port}/healthz"))
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.body_mut().read_to_string().unwrap(), "ok");
    // Plain HTTP to the TLS port gets no HTTP answer.
    let mut s = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
    std::io::Write::write_all(
        &mut s,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut answer = Vec::new();
    let _ = std::io::Read::read_to_end(&mut s, &mut answer);
    assert!(
        !answer.starts_with(b"HTTP/1.1 200"),
        "plain HTTP was served"
    );
    stop(child);
}

#[test]
fn killed_import_leaves_nothing_half_written() {
    let dir = init_dir();
    let mut csv = Vec::new();
    parcel_synth::shipments_csv(5, 12_000, &mut csv).unwrap();
    std::fs::write(dir.path().join("big.csv"), &csv).unwrap();
    let bin = assert_cmd::cargo::cargo_bin("parcelguard");
    let mut child = std::process::Command::new(bin)
        .current_dir(dir.path())
        .args(["--data-dir", "d", "import", "--no-progress", "big.csv"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(250));
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    let n = count_rows(dir.path());
    assert!(n == 0 || n == 12_000, "a killed import left {n} rows");
    let db = rusqlite::Connection::open(dir.path().join("d/parcelguard.db")).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    drop(db);
    // The vault still works: the same file imports (or is all duplicates).
    let out = pg(dir.path())
        .args([
            "--data-dir",
            "d",
            "import",
            "--skip-invalid",
            "--no-progress",
            "big.csv",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(count_rows(dir.path()), 12_000);
}

/// Starts `parcelguard ARGS` and returns it with the address it printed on
/// its first stdout line (`… listening on http://ADDR`).
fn spawn_listening(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (std::process::Child, String) {
    use std::io::BufRead as _;
    let bin = assert_cmd::cargo::cargo_bin("parcelguard");
    let mut cmd = std::process::Command::new(bin);
    for (k, _) in std::env::vars() {
        if k.starts_with("PARCELGUARD_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd
        .current_dir(dir)
        .args(args)
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let addr = first.trim().rsplit("://").next().unwrap().to_owned();
    (child, addr)
}

/// One HTTP/1.1 request with `Connection: close`; returns the raw response.
fn http(addr: &str, method: &str, path: &str, headers: &str, body: &str) -> String {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    resp
}

fn body_of(resp: &str) -> &str {
    resp.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

fn stop(mut child: std::process::Child) -> String {
    use std::io::Read as _;
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    stderr
}

#[test]
fn log_with_a_witness_verifies_end_to_end_and_catches_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let init = |d: &str| {
        let out = pg(dir.path())
            .args(["--data-dir", d, "init"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let key = init("srv")
        .lines()
        .find(|l| l.trim().starts_with("pgk_"))
        .unwrap()
        .trim()
        .to_owned();
    init("wit");
    let line = |args: &[&str]| {
        let out = pg(dir.path()).args(args).output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout).trim().to_owned()
    };
    let log_vkey = line(&["--data-dir", "srv", "log", "vkey"]);
    let w_vkey = line(&[
        "--data-dir",
        "wit",
        "witness",
        "--name",
        "w.test/1",
        "--vkey",
    ]);
    assert!(log_vkey.starts_with("parcelguard.local/log+") && w_vkey.starts_with("w.test/1+"));

    let (witness, w_addr) = spawn_listening(
        dir.path(),
        &[
            "--data-dir",
            "wit",
            "witness",
            "--name",
            "w.test/1",
            "--log",
            &log_vkey,
            "--listen",
            "127.0.0.1:0",
        ],
        &[],
    );
    let witnesses = format!("http://{w_addr} {w_vkey}");
    let (server, addr) = spawn_listening(
        dir.path(),
        &["--data-dir", "srv", "serve", "--listen", "127.0.0.1:0"],
        &[
            ("PARCELGUARD_TLOG_WITNESSES", witnesses.as_str()),
            ("PARCELGUARD_TLOG_CHECKPOINT_INTERVAL_MS", "100"),
        ],
    );
    let auth = format!("Authorization: Bearer {key}\r\n");
    let shipment = format!(
        "{{\"waybill_no\":\"SF9\",\"carrier\":\"SF\",\"sender\":{{\"name\":\"{NAME}\",\"phone\":\"{PHONE}\",\"address\":\"广东省深圳市南山区科技园路1号\",\"id_number\":\"{ID}\"}},\"recipient\":{{\"name\":\"李四\",\"phone\":\"13912345678\",\"address\":\"北京市朝阳区建国路88号\"}}}}"
    );
    let resp = http(&addr, "POST", "/v1/shipments", &auth, &shipment);
    assert!(resp.starts_with("HTTP/1.1 201"), "{resp}");
    for _ in 0..2 {
        let resp = http(
            &addr,
            "GET",
            &format!("/v1/shipments?phone={PHONE}"),
            &auth,
            "",
        );
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    }
    let resp = http(
        &addr,
        "DELETE",
        &format!("/v1/persons?phone={PHONE}"),
        &auth,
        "",
    );
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");

    // The published checkpoint covers the three entries and carries the
    // witness's cosignature.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let checkpoint = loop {
        let cp = body_of(&http(&addr, "GET", "/log/checkpoint", "", "")).to_owned();
        if cp.lines().nth(1) == Some("3") && cp.contains("— w.test/1 ") {
            break cp;
        }
        if std::time::Instant::now() >= deadline {
            let (s, w) = (stop(server), stop(witness));
            panic!("no cosigned checkpoint: {cp}\nserver log:\n{s}\nwitness log:\n{w}");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };

    // An auditor with nothing but the two public keys.
    let saved = dir.path().join("saved.cp");
    let trust = ["--vkey", &log_vkey, "--witness", &w_vkey, "--quorum", "1"];
    let url = format!("http://{addr}/log");
    let out = pg(dir.path())
        .args([
            "--data-dir",
            "nowhere",
            "log",
            "verify",
            "--url",
            &url,
            "--checkpoint",
        ])
        .arg(&saved)
        .args(trust)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("3 entries")
            && text(&out.stdout).contains("cosigned by w.test/1")
    );
    let receipt = body_of(&http(&addr, "GET", "/v1/log/receipt/2", &auth, "")).to_owned();
    let receipt_file = dir.path().join("r2.json");
    std::fs::write(&receipt_file, &receipt).unwrap();
    let out = pg(dir.path())
        .args(["--data-dir", "nowhere", "log", "check-receipt"])
        .arg(&receipt_file)
        .args(trust)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("entry 2 (erase_person by admin"));
    // A receipt moved to another index fails, and so does a quorum of 2.
    std::fs::write(&receipt_file, receipt.replace("\"index\":2", "\"index\":1")).unwrap();
    let out = pg(dir.path())
        .args(["--data-dir", "nowhere", "log", "check-receipt"])
        .arg(&receipt_file)
        .args(trust)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    // A second witness that never cosigned: a quorum of 2 is not met.
    let w2_vkey = line(&[
        "--data-dir",
        "srv",
        "witness",
        "--name",
        "w.test/2",
        "--vkey",
    ]);
    let out = pg(dir.path())
        .args([
            "--data-dir",
            "nowhere",
            "log",
            "verify",
            "--url",
            &url,
            "--vkey",
            &log_vkey,
        ])
        .args(["--witness", &w_vkey, "--witness", &w2_vkey, "--quorum", "2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("1 of the 2 required"),
        "{}",
        text(&out.stdout)
    );

    // The witness refuses to go back: old size 0 after it saw 3.
    let rollback = format!("old 0\n\n{checkpoint}");
    let resp = http(&w_addr, "POST", "/add-checkpoint", "", &rollback);
    assert!(resp.starts_with("HTTP/1.1 409"), "{resp}");
    assert!(
        resp.contains("text/x.tlog.size") && body_of(&resp) == "3\n",
        "{resp}"
    );

    let server_log = stop(server);
    let witness_log = stop(witness);
    for secret in [PHONE, ID, NAME] {
        assert!(!server_log.contains(secret) && !witness_log.contains(secret));
    }

    // Static export: verifies against the saved checkpoint; one flipped
    // byte in an entry bundle is caught and named.
    let out = pg(dir.path())
        .args(["--data-dir", "srv", "log", "export", "pub"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let verify_dir = || {
        pg(dir.path())
            .args([
                "--data-dir",
                "nowhere",
                "log",
                "verify",
                "--dir",
                "pub",
                "--vkey",
                &log_vkey,
                "--checkpoint",
            ])
            .arg(&saved)
            .output()
            .unwrap()
    };
    let out = verify_dir();
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("consistent with the saved checkpoint of 3 entries"));
    let bundle = dir.path().join("pub/tile/entries/000.p/3");
    let mut bytes = std::fs::read(&bundle).unwrap();
    let last = bytes.len() - 5;
    bytes[last] ^= 0x01;
    std::fs::write(&bundle, bytes).unwrap();
    let out = verify_dir();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("FAILED: entry 2"),
        "{}",
        text(&out.stdout)
    );
    for secret in [PHONE, ID, NAME] {
        let all = std::fs::read_to_string(dir.path().join("pub/tile/entries/000.p/3"))
            .unwrap_or_default();
        assert!(!all.contains(secret), "personal value in a published entry");
    }
}

/// One request that tolerates the server dying: `None` when the connection
/// fails or the answer is cut off.
fn try_http(addr: &str, path: &str, headers: &str, body: &str) -> Option<String> {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    resp.contains("\r\n\r\n").then_some(resp)
}

/// "No log, no data": reveals run on four connections while the server is
/// SIGKILLed at a random moment, some of them between the log write and
/// the answer. Every value a client received has a durable entry at the
/// index it was told, naming that actor, shipment and field; the log still
/// verifies; and the server log (at debug level) holds no revealed value.
#[test]
fn killed_server_never_returned_a_reveal_without_its_log_entry() {
    use base64::Engine as _;
    let dir = init_dir();
    let out = pg(dir.path())
        .args([
            "--data-dir",
            "d",
            "keys",
            "create-api-key",
            "--principal",
            "E1001",
            "--role",
            "courier",
            "--station",
            "ST01",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let key = text(&out.stdout)
        .lines()
        .find(|l| l.trim().starts_with("pgk_"))
        .unwrap()
        .trim()
        .to_owned();
    let mut csv = format!("{CSV_HEADER}\n");
    let waybills: Vec<String> = (0..40).map(|i| format!("SF70000000{i:05}")).collect();
    for (i, w) in waybills.iter().enumerate() {
        csv.push_str(&csv_row(w, &format!("139000{i:05}")));
        csv.push('\n');
    }
    std::fs::write(dir.path().join("s.csv"), csv).unwrap();
    let out = pg(dir.path())
        .args(["--data-dir", "d", "import", "--no-progress", "s.csv"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Four clients re-reading 40 parcels thousands of times look like a
    // harvest to the insider-risk monitor: it keeps watching, but may not
    // tighten or suspend this account mid-test.
    let quota = [
        ("PARCELGUARD_REVEAL_QUOTA_COURIER_PER_HOUR", "1000000"),
        ("PARCELGUARD_REVEAL_QUOTA_COURIER_PER_DAY", "1000000"),
        ("PARCELGUARD_RISK_TIGHTEN_AT", "never"),
        ("PARCELGUARD_RISK_SUSPEND_AT", "never"),
    ];
    let (mut child, addr) = spawn_listening(
        dir.path(),
        &[
            "--data-dir",
            "d",
            "--log-level",
            "debug",
            "serve",
            "--listen",
            "127.0.0.1:0",
        ],
        &quota,
    );
    let mut stderr = child.stderr.take().unwrap();
    let logs = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    let auth = format!("Authorization: Bearer {key}\r\nContent-Type: application/json\r\n");
    let stop = std::sync::atomic::AtomicBool::new(false);
    // (log index, waybill, field, value) of every 200 a client received.
    let received = std::sync::Mutex::new(Vec::<(u64, String, String, String)>::new());
    std::thread::scope(|s| {
        for t in 0..4 {
            let (addr, auth, waybills, stop, received) =
                (&addr, &auth, &waybills, &stop, &received);
            s.spawn(move || {
                let mut i = t;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let w = &waybills[i % waybills.len()];
                    let field = ["phone", "name", "address"][i % 3];
                    i += 4;
                    let body = format!("{{\"waybill_no\":\"{w}\",\"party\":\"sender\",\"field\":\"{field}\",\"purpose\":\"pickup\"}}");
                    let Some(resp) = try_http(addr, "/v1/reveal", auth, &body) else {
                        continue;
                    };
                    if resp.starts_with("HTTP/1.1 200") {
                        let v: serde_json::Value = serde_json::from_str(body_of(&resp)).unwrap();
                        received.lock().unwrap().push((
                            v["log_index"].as_u64().unwrap(),
                            w.clone(),
                            field.to_owned(),
                            v["value"].as_str().unwrap().to_owned(),
                        ));
                    } else {
                        assert!(resp.starts_with("HTTP/1.1 5"), "unexpected answer: {resp}");
                    }
                }
            });
        }
        // Let reveals flow, then kill at a moment no code chose.
        let wait = 400 + u64::from(rand_ms());
        std::thread::sleep(std::time::Duration::from_millis(wait));
        child.kill().unwrap();
        child.wait().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let received = received.into_inner().unwrap();
    assert!(
        received.len() >= 20,
        "only {} reveals before the kill",
        received.len()
    );
    let server_log = logs.join().unwrap();
    for (index, waybill, field, value) in &received {
        assert!(
            !server_log.contains(value.as_str()),
            "revealed value in the server log"
        );
        let out = pg(dir.path())
            .args(["--data-dir", "d", "log", "prove", &index.to_string()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "entry {index} missing: {}",
            text(&out.stderr)
        );
        let receipt: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(receipt["entry"].as_str().unwrap())
            .unwrap();
        let e = parcel_tlog::Event::decode(&bytes).unwrap();
        assert_eq!(
            (e.action.as_str(), e.actor.as_str(), e.decision.as_deref()),
            ("reveal", "E1001", Some("allow")),
            "entry {index}"
        );
        assert_eq!(e.waybill.as_deref(), Some(waybill.as_str()));
        assert_eq!(e.field.as_deref(), Some(field.as_str()));
        assert!(!String::from_utf8(bytes).unwrap().contains(value.as_str()));
    }
    // The log survived the kill whole.
    let out = pg(dir.path())
        .args(["--data-dir", "d", "log", "export", "pub"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = pg(dir.path())
        .args(["--data-dir", "d", "log", "verify", "--dir", "pub"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// 0–255 ms, from the clock's nanoseconds: a moment no code chose.
fn rand_ms() -> u8 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    (t.subsec_nanos() % 256) as u8
}

/// `reveal.policy_dir` and SIGHUP: a validated change applies to the next
/// reveal and is logged; a broken one is reported and changes nothing.
#[test]
fn sighup_reloads_the_policy_directory() {
    let dir = init_dir();
    let out = pg(dir.path())
        .args([
            "--data-dir",
            "d",
            "keys",
            "create-api-key",
            "--principal",
            "E1001",
            "--role",
            "courier",
        ])
        .output()
        .unwrap();
    let key = text(&out.stdout)
        .lines()
        .find(|l| l.trim().starts_with("pgk_"))
        .unwrap()
        .trim()
        .to_owned();
    std::fs::write(
        dir.path().join("s.csv"),
        format!(
            "{CSV_HEADER}\n{}\n",
            csv_row("SF7100000000001", "13900000001")
        ),
    )
    .unwrap();
    assert!(
        pg(dir.path())
            .args(["--data-dir", "d", "import", "--no-progress", "s.csv"])
            .output()
            .unwrap()
            .status
            .success()
    );
    let policies = dir.path().join("pol");
    std::fs::create_dir(&policies).unwrap();
    let default = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies/reveal.cedar"),
    )
    .unwrap();
    std::fs::write(policies.join("reveal.cedar"), &default).unwrap();
    let (child, addr) = spawn_listening(
        dir.path(),
        &["--data-dir", "d", "serve", "--listen", "127.0.0.1:0"],
        &[("PARCELGUARD_REVEAL_POLICY_DIR", "pol")],
    );
    let auth = format!("Authorization: Bearer {key}\r\nContent-Type: application/json\r\n");
    let body =
        r#"{"waybill_no":"SF7100000000001","party":"sender","field":"phone","purpose":"pickup"}"#;
    let reveal = || http(&addr, "POST", "/v1/reveal", &auth, body);
    assert!(reveal().starts_with("HTTP/1.1 200"));
    let hup = |child: &std::process::Child| {
        std::process::Command::new("kill")
            .args(["-HUP", &child.id().to_string()])
            .status()
            .unwrap();
    };
    // A new forbid: couriers stop calling senders.
    std::fs::write(
        policies.join("reveal.cedar"),
        format!("{default}\n@id(\"no-pickup-calls\")\n@reason(\"pickup_calls_suspended\")\nforbid (principal, action, resource) when {{ context.purpose == \"pickup\" && context.field == \"phone\" }};\n"),
    )
    .unwrap();
    hup(&child);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let resp = loop {
        let r = reveal();
        if r.contains("pickup_calls_suspended") || std::time::Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(
        resp.starts_with("HTTP/1.1 403") && resp.contains("no-pickup-calls"),
        "{resp}"
    );
    // A broken file: reported, the set in force stays.
    std::fs::write(
        policies.join("reveal.cedar"),
        "permit (principal, action, resource) when { ;\n",
    )
    .unwrap();
    hup(&child);
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(reveal().contains("pickup_calls_suspended"));
    let log = stop(child);
    assert!(log.contains("policy reload failed"), "{log}");
    // The change is on record.
    let out = pg(dir.path())
        .args(["--data-dir", "d", "log", "export", "pub"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let partial = dir.path().join("pub/tile/entries/000.p");
    let bundle: Vec<u8> = std::fs::read_dir(&partial)
        .unwrap()
        .flat_map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    assert!(String::from_utf8_lossy(&bundle).contains("policy_change"));
}

/// A simulated fortnight with one insider of each kind, gzipped, plus two
/// malformed lines: `watch` reports them by line number, skips them, raises
/// alerts with reasons and evidence lines, and exits 1; a quiet file exits 0.
#[test]
fn watch_replays_events_and_raises_alerts() {
    use parcel_synth::workforce::{Workforce, WorkforceConfig};
    let dir = tempfile::tempdir().unwrap();
    let config = WorkforceConfig {
        employees: 300,
        stations: 6,
        days: 16,
        peak_day: None,
        insiders_per_scenario: 1,
        seed: 3,
        ..WorkforceConfig::default()
    };
    let mut workforce = Workforce::new(config.clone());
    let mut lines = Vec::new();
    for d in 0..config.days {
        for ev in workforce.day(d) {
            lines.push(serde_json::to_string(&ev).unwrap());
        }
    }
    lines.insert(
        5,
        "{\"ts\":\"2026-10-21T08:00:00+08:00\",\"actor\":\"E1\"".to_string(),
    );
    lines.insert(9, r#"{"ts":"2026-10-21T08:00:00+08:00","actor":"E1","action":"reveal","assigned":"13812345678"}"#.to_string());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, (lines.join("\n") + "\n").as_bytes()).unwrap();
    std::fs::write(dir.path().join("events.jsonl.gz"), gz.finish().unwrap()).unwrap();

    let out = pg(dir.path())
        .args([
            "watch",
            "--events",
            "events.jsonl.gz",
            "--alerts-per-day",
            "1.5",
            "-o",
            "alerts.jsonl",
        ])
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_no_pii(&out);
    assert!(
        stderr.contains("events.jsonl.gz: line 6, column"),
        "{stderr}"
    );
    assert!(
        stderr.contains("events.jsonl.gz: line 10: field `assigned`: expected true or false"),
        "{stderr}"
    );
    assert!(stderr.contains("2 malformed lines skipped"), "{stderr}");
    let alerts: Vec<serde_json::Value> = std::fs::read_to_string(dir.path().join("alerts.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        !alerts.is_empty() && alerts.len() <= 2 * 16,
        "{} alerts",
        alerts.len()
    );
    let insiders: Vec<String> = workforce.insiders().into_iter().map(|i| i.actor).collect();
    let bulk = &workforce.insiders()[0];
    assert_eq!(bulk.scenario, "bulk");
    let alert = alerts
        .iter()
        .find(|a| a["actor"] == bulk.actor.as_str())
        .expect("the bulk insider is raised");
    assert_eq!(alert["severity"], "critical");
    assert!(
        alert["reasons"][0]
            .as_str()
            .unwrap()
            .contains("accesses with no business reason"),
        "{alert}"
    );
    let first_line = alert["evidence"][0].as_u64().unwrap() as usize;
    assert!(
        lines[first_line - 1].contains(&bulk.actor),
        "evidence line {first_line} is not the actor's"
    );
    assert!(
        alerts
            .iter()
            .filter(|a| insiders.contains(&a["actor"].as_str().unwrap().to_string()))
            .count()
            >= 5
    );

    // Nothing unusual: exit 0 and an empty file.
    let quiet = r#"{"ts":"2026-10-21T09:00:00+08:00","actor":"E1","action":"login"}
{"ts":"2026-10-21T09:05:00+08:00","actor":"E1","action":"reveal","assigned":true,"waybill_no":"SF1"}
"#;
    std::fs::write(dir.path().join("quiet.jsonl"), quiet).unwrap();
    let out = pg(dir.path())
        .args(["watch", "--events", "quiet.jsonl", "-o", "none.jsonl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let out = pg(dir.path())
        .args(["watch", "--events", "missing.jsonl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("missing.jsonl: cannot open"));
}

/// `numbers load-pool` (all or nothing, line numbers), `numbers set-phone`
/// from stdin, `numbers list`, and `label` for one shipment and a batch
/// (an unknown waybill prints nothing; PNG holds one label).
#[test]
fn numbers_pool_and_labels_from_the_command_line() {
    let dir = init_dir();
    let csv = format!(
        "{CSV_HEADER}\n{}\n{}\n",
        csv_row("SF7000000000001", "13912345678"),
        csv_row("SF7000000000002", "13912345679")
    );
    std::fs::write(dir.path().join("s.csv"), csv).unwrap();
    let out = pg(dir.path())
        .args(["--data-dir", "d", "import", "s.csv"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));

    std::fs::write(
        dir.path().join("bad.csv"),
        "city,number\n北京市,17100000001\n北京市,12345\n",
    )
    .unwrap();
    let out = pg(dir.path())
        .args(["--data-dir", "d", "numbers", "load-pool", "bad.csv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("bad.csv:3: number"),
        "{}",
        text(&out.stderr)
    );
    std::fs::write(
        dir.path().join("pool.csv"),
        "# Beijing\n北京市,17100000001\n北京市,17100000002\n",
    )
    .unwrap();
    let out = pg(dir.path())
        .args(["--data-dir", "d", "numbers", "load-pool", "pool.csv"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("2 new in the pool"),
        "{}",
        text(&out.stdout)
    );

    let out = pg(dir.path())
        .args([
            "--data-dir",
            "d",
            "keys",
            "create-api-key",
            "--principal",
            "E1001",
            "--role",
            "courier",
            "--station",
            "ST01",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = pg(dir.path())
        .args(["--data-dir", "d", "numbers", "set-phone", "E1001"])
        .write_stdin("13700000001\n")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = pg(dir.path())
        .args(["--data-dir", "d", "numbers", "list"])
        .output()
        .unwrap();
    let listing = text(&out.stdout);
    assert!(
        listing.contains("pool\t北京市\t17100000001") && listing.contains("0 live bindings"),
        "{listing}"
    );
    assert!(!listing.contains("13700000001"));

    let out = pg(dir.path())
        .args([
            "--data-dir",
            "d",
            "label",
            "SF7000000000001",
            "-o",
            "one.pdf",
            "--size",
            "76x130",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        std::fs::read(dir.path().join("one.pdf"))
            .unwrap()
            .starts_with(b"%PDF")
    );
    let out = pg(dir.path())
        .args([
            "--data-dir",
            "d",
            "label",
            "SF7000000000002",
            "-o",
            "one.png",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        std::fs::read(dir.path().join("one.png"))
            .unwrap()
            .starts_with(b"\x89PNG")
    );

    std::fs::write(
        dir.path().join("day.txt"),
        "SF7000000000001\n# a comment\nSF7000000000002\n",
    )
    .unwrap();
    let out = pg(dir.path())
        .args([
            "--data-dir",
            "d",
            "label",
            "--batch",
            "day.txt",
            "-o",
            "day.zpl",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let zpl = std::fs::read_to_string(dir.path().join("day.zpl")).unwrap();
    assert_eq!(zpl.matches("^XA").count(), 2);
    assert!(!zpl.contains(PHONE) && !zpl.contains("13912345678"));
    assert_no_pii(&out);

    std::fs::write(
        dir.path().join("typo.txt"),
        "SF7000000000001\nSF7999999999999\n",
    )
    .unwrap();
    let out = pg(dir.path())
        .args([
            "--data-dir",
            "d",
            "label",
            "--batch",
            "typo.txt",
            "-o",
            "typo.pdf",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("typo.txt: entry 2"),
        "{}",
        text(&out.stderr)
    );
    assert!(!dir.path().join("typo.pdf").exists());
    let out = pg(dir.path())
        .args([
            "--data-dir",
            "d",
            "label",
            "--batch",
            "day.txt",
            "-o",
            "day.png",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
