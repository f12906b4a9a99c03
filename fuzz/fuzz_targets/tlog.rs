//! Fuzzes every parser of the transparency log that reads untrusted bytes:
//! witness request bodies, signed checkpoints, tile paths, entry bundles,
//! entries, verifier keys and receipts (parsed and verified).
#![no_main]

use libfuzzer_sys::fuzz_target;
use parcel_tlog::note::{KeyKind, NoteKey, TrustPolicy, VKey};
use parcel_tlog::witness::{AddCheckpoint, Witness};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let log = NoteKey::from_seed("fuzz.example/log", KeyKind::Log, &[1; 32]).unwrap();
    let policy = TrustPolicy::log_only(VKey::parse(&log.vkey()).unwrap());
    let _ = policy.verify(data);
    let _ = parcel_tlog::tree::TilePath::parse(&text);
    let _ = parcel_tlog::tree::decode_bundle(data);
    let _ = parcel_tlog::Event::decode(data);
    let _ = VKey::parse(&text);
    if let Ok(receipt) = serde_json::from_slice::<parcel_tlog::Receipt>(data) {
        let _ = receipt.verify(&policy);
    }
    if let Ok(req) = AddCheckpoint::parse(data) {
        let wkey = NoteKey::from_seed("fuzz.example/w", KeyKind::Witness, &[2; 32]).unwrap();
        let witness = Witness::new(wkey, vec![VKey::parse(&log.vkey()).unwrap()]);
        let _ = witness.add_checkpoint(&req, None, 0);
    }
});
