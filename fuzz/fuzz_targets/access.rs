//! Fuzzes the access-control parsers of untrusted or semi-trusted input:
//! bearer tokens through the OIDC verifier (and the JWT sniffing that
//! routes them), JWKS documents, Cedar policy sources and policy case
//! files. None may panic; a token must never verify against a fixed set.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use parcel_server::oidc::{OidcSettings, OidcVerifier, looks_like_jwt};

fn settings() -> OidcSettings {
    OidcSettings {
        issuer: "https://sso.example".into(),
        audience: "parcelguard".into(),
        claim: "sub".into(),
        leeway_secs: 60,
    }
}

fn verifier() -> Option<&'static OidcVerifier> {
    static V: OnceLock<Option<OidcVerifier>> = OnceLock::new();
    V.get_or_init(|| {
        // RFC 8037 A.2's Ed25519 public key.
        let jwks = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
        OidcVerifier::from_jwks(jwks, settings()).ok()
    })
    .as_ref()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = looks_like_jwt(text);
    if let Some(v) = verifier() {
        assert!(v.verify(text).is_err(), "a fuzzed token verified");
    }
    let _ = OidcVerifier::from_jwks(text, settings());
    if let Ok(policies) =
        parcel_policy::Policies::from_sources(vec![("fuzz.cedar".into(), text.into())])
    {
        let _ = parcel_policy::Engine::new(policies);
    }
    let _ = parcel_policy::cases::parse("fuzz.toml", text);
});
