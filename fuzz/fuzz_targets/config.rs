//! Fuzzes the configuration loader with arbitrary file contents.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("pg-fuzz-config-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("parcelguard.toml");
    if std::fs::write(&path, data).is_ok() {
        let _ = parcel_config::Config::load(Some(&path), Vec::new());
    }
});
