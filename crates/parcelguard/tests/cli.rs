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
    for cmd in ["init", "scan", "redact"] {
        assert!(
            help.contains(&format!("  {cmd} ")),
            "{cmd} missing:\n{help}"
        );
    }
    for absent in [
        "serve", "import", "reveal", "watch", "policy", "  log ", "keys",
    ] {
        assert!(
            !help.contains(&format!("  {absent}")),
            "{absent} listed but not built"
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
