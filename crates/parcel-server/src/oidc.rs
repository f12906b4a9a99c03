//! Single sign-on: verifies the OIDC ID and access tokens (JWTs) that a
//! company's identity provider issues, against a fixed JWKS (the provider's
//! published public keys), and returns the principal id named by a configured
//! claim.
//!
//! Only asymmetric signatures are accepted (RS256, RS384, RS512, PS256,
//! ES256, ES384, EdDSA), and only with a key of the matching type: `none` and
//! HMAC never are, whatever the token's header says, and a key set cannot
//! hold a symmetric key that would make them possible. `exp`, `iss` and `aud`
//! are required; `exp` and `nbf` are checked with the configured clock skew.
//!
//! Errors say why a token or key set was refused in a fixed phrase, naming
//! the key index and field for a bad key set, and never carry the token, a
//! claim value or key material.
//!
//! The crypto backend is `jsonwebtoken`'s RustCrypto provider. It is chosen
//! by the crate feature; should another dependency also enable the AWS-LC
//! backend, [`OidcVerifier::from_jwks`] installs RustCrypto as the process
//! default itself, so nothing has to be called at start-up.

use std::collections::HashSet;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use jsonwebtoken::crypto::CryptoProvider;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

/// Longest token looked at; real ID tokens are a few kilobytes.
const MAX_TOKEN_LEN: usize = 16 * 1024;
/// Most keys a key set may hold.
const MAX_KEYS: usize = 64;
/// Largest accepted clock skew (an hour is already generous).
const MAX_LEEWAY_SECS: u64 = 3600;
/// Smallest and largest accepted RSA modulus, in bits.
const RSA_BITS: std::ops::RangeInclusive<u64> = 2048..=8192;

/// Settings: issuer, audience, which claim names the principal, allowed clock skew.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    /// Expected `iss`, exactly as the provider writes it
    /// (`https://login.example.com/tenant/v2.0`).
    pub issuer: String,
    /// Expected `aud` (a single value, or one of the token's values): the
    /// client id registered with the provider.
    pub audience: String,
    /// Claim whose string value is the principal id (`sub`, `email`,
    /// `preferred_username`, `employee_id`).
    pub claim: String,
    /// Clock skew allowed on `exp` and `nbf`, in seconds (at most 3600).
    pub leeway_secs: u64,
}

/// Why a token was refused. Display messages are lowercase and never contain
/// the token or claim values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OidcError {
    /// The key set (or the settings given with it) cannot be used: the
    /// message names the key index and field (`key 2: field n: not
    /// base64url`), or `settings: …`.
    #[error("bad oidc key set: {0}")]
    Jwks(String),
    /// The token was refused: `malformed token`, `algorithm not allowed`,
    /// `unknown key id`, `missing key id`, `bad signature`, `expired`,
    /// `not yet valid`, `wrong issuer`, `wrong audience`, `missing exp`,
    /// `missing issuer`, `missing audience`, `missing claim`,
    /// `claim is not a string`, `unusable key`, `invalid token`.
    #[error("oidc token refused: {0}")]
    Invalid(&'static str),
}

/// The type of a key in the set, which fixes the algorithms it verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyType {
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl KeyType {
    fn allows(self, alg: Algorithm) -> bool {
        match self {
            Self::Rsa => matches!(
                alg,
                Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 | Algorithm::PS256
            ),
            Self::P256 => alg == Algorithm::ES256,
            Self::P384 => alg == Algorithm::ES384,
            Self::Ed25519 => alg == Algorithm::EdDSA,
        }
    }

    /// An algorithm the key verifies, to check the key can be loaded.
    fn some_alg(self) -> Algorithm {
        match self {
            Self::Rsa => Algorithm::RS256,
            Self::P256 => Algorithm::ES256,
            Self::P384 => Algorithm::ES384,
            Self::Ed25519 => Algorithm::EdDSA,
        }
    }
}

/// The algorithms accepted at all, by their JOSE names. Anything else
/// (`none`, `HS256`, `PS512`, `ES512`, a typo) is refused.
fn allowed_alg(name: &str) -> Option<Algorithm> {
    Some(match name {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        _ => return None,
    })
}

/// One usable key of the set.
struct VerifyKey {
    kid: Option<String>,
    kind: KeyType,
    /// The key's `alg`, when the set pins one.
    alg: Option<Algorithm>,
    key: DecodingKey,
}

impl VerifyKey {
    fn accepts(&self, alg: Algorithm) -> bool {
        self.kind.allows(alg) && self.alg.is_none_or(|pinned| pinned == alg)
    }
}

impl fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyKey")
            .field("kid", &self.kid)
            .field("kind", &self.kind)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// A verifier over a fixed JWKS (JSON Web Key Set).
pub struct OidcVerifier {
    settings: OidcSettings,
    keys: Vec<VerifyKey>,
    /// Keys of the set that are not for signatures or of a type not
    /// supported (encryption keys, `oct`, P-521), left out.
    skipped: usize,
    /// Claim checks shared by every token; the algorithm is set per token.
    validation: Validation,
}

impl fmt::Debug for OidcVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcVerifier")
            .field("settings", &self.settings)
            .field("keys", &self.keys)
            .field("skipped", &self.skipped)
            .finish_non_exhaustive()
    }
}

impl OidcVerifier {
    /// Parses a JWKS document (the JSON text of a jwks.json file or of a JWKS URL's response).
    ///
    /// Keys marked for encryption (`use` other than `sig`, `key_ops`
    /// without `verify`) and well-formed keys of unsupported types (`oct`,
    /// P-521, X25519, or an `alg` not accepted) are skipped; a key of a
    /// supported type with a missing or bad field, a duplicate `kid`, or a
    /// set with no usable key is an error naming the key index and field.
    pub fn from_jwks(jwks_json: &str, settings: OidcSettings) -> Result<Self, OidcError> {
        check_settings(&settings)?;
        let provider = crypto_provider()?;
        let doc: Value = serde_json::from_str(jwks_json).map_err(|e| {
            OidcError::Jwks(format!(
                "not json (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        let list = doc
            .get("keys")
            .ok_or_else(|| OidcError::Jwks("field keys: missing".into()))?
            .as_array()
            .ok_or_else(|| OidcError::Jwks("field keys: not an array".into()))?;
        if list.len() > MAX_KEYS {
            return Err(OidcError::Jwks(format!(
                "field keys: more than {MAX_KEYS} keys"
            )));
        }
        let mut keys = Vec::new();
        let mut skipped = 0;
        let mut kids = HashSet::new();
        for (index, jwk) in list.iter().enumerate() {
            let at = |msg: String| OidcError::Jwks(format!("key {index}: {msg}"));
            let Some(key) = parse_key(jwk).map_err(at)? else {
                skipped += 1;
                continue;
            };
            if let Some(kid) = &key.kid
                && !kids.insert(kid.clone())
            {
                return Err(at("field kid: duplicate".into()));
            }
            // EC and Ed25519 points are decoded (and checked) here; RSA
            // parameters were checked by `parse_key`.
            let alg = key.alg.unwrap_or(key.kind.some_alg());
            (provider.verifier_factory)(&alg, &key.key)
                .map_err(|_| at("not a valid public key".into()))?;
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(OidcError::Jwks(
                "no usable signing key (rsa, ec p-256/p-384 or ed25519)".into(),
            ));
        }
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = settings.leeway_secs;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        Ok(Self {
            settings,
            keys,
            skipped,
            validation,
        })
    }

    /// Verifies `token` (signature by a key in the set chosen by `kid`, or
    /// the only key if the token has no kid; algorithm must be
    /// RS256/RS384/RS512/ES256/ES384/PS256/EdDSA matching the key — never
    /// `none`, never HMAC), issuer, audience, `exp` (required) and `nbf` with
    /// the leeway, and returns the value of the configured claim (a string) —
    /// the principal id.
    pub fn verify(&self, token: &str) -> Result<String, OidcError> {
        const MALFORMED: OidcError = OidcError::Invalid("malformed token");
        if token.len() > MAX_TOKEN_LEN {
            return Err(MALFORMED);
        }
        let header = parse_header(token).ok_or(MALFORMED)?;
        let alg_name = header.get("alg").and_then(Value::as_str).ok_or(MALFORMED)?;
        let alg = allowed_alg(alg_name).ok_or(OidcError::Invalid("algorithm not allowed"))?;
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.as_str()),
            Some(_) => return Err(MALFORMED),
        };
        let key = self.select(kid)?;
        if !key.accepts(alg) {
            return Err(OidcError::Invalid("algorithm not allowed"));
        }
        let mut validation = self.validation.clone();
        validation.algorithms = vec![alg];
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation)
            .map_err(refusal)?;
        match data.claims.get(&self.settings.claim) {
            Some(Value::String(id)) if !id.is_empty() => Ok(id.clone()),
            None | Some(Value::Null) | Some(Value::String(_)) => {
                Err(OidcError::Invalid("missing claim"))
            }
            Some(_) => Err(OidcError::Invalid("claim is not a string")),
        }
    }

    /// The key for a token's `kid`; without one, the set's only key.
    fn select(&self, kid: Option<&str>) -> Result<&VerifyKey, OidcError> {
        match kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid))
                .ok_or(OidcError::Invalid("unknown key id")),
            None => match self.keys.as_slice() {
                [only] => Ok(only),
                _ => Err(OidcError::Invalid("missing key id")),
            },
        }
    }
}

/// Whether `token` has the shape of a compact JWS: three base64url segments
/// separated by dots (the signature may be empty), the first decoding to a
/// JSON object with an `alg` string. Says nothing about validity; it tells an
/// OIDC token from an API key.
pub fn looks_like_jwt(token: &str) -> bool {
    if token.len() > MAX_TOKEN_LEN {
        return false;
    }
    let mut parts = token.split('.');
    let (Some(head), Some(body), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let b64url = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if head.is_empty() || body.is_empty() || !b64url(head) || !b64url(body) || !b64url(sig) {
        return false;
    }
    parse_header(token).is_some_and(|h| h.get("alg").is_some_and(Value::is_string))
}

/// The decoded JOSE header of a three-segment token, if it is a JSON object.
fn parse_header(token: &str) -> Option<Map<String, Value>> {
    let mut parts = token.split('.');
    let (Some(head), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let bytes = B64URL.decode(head).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// A `jsonwebtoken` error as a fixed phrase. Its own messages are not used:
/// JSON errors can quote the token's content.
fn refusal(e: jsonwebtoken::errors::Error) -> OidcError {
    OidcError::Invalid(match e.kind() {
        ErrorKind::InvalidSignature => "bad signature",
        ErrorKind::ExpiredSignature => "expired",
        ErrorKind::ImmatureSignature => "not yet valid",
        ErrorKind::InvalidIssuer => "wrong issuer",
        ErrorKind::InvalidAudience => "wrong audience",
        ErrorKind::MissingRequiredClaim(claim) => match claim.as_str() {
            "exp" => "missing exp",
            "iss" => "missing issuer",
            "aud" => "missing audience",
            _ => "missing claim",
        },
        ErrorKind::InvalidAlgorithm
        | ErrorKind::MissingAlgorithm
        | ErrorKind::UnsupportedAlgorithm
        | ErrorKind::InvalidAlgorithmName => "algorithm not allowed",
        ErrorKind::InvalidToken
        | ErrorKind::InvalidClaimFormat(_)
        | ErrorKind::Base64(_)
        | ErrorKind::Json(_)
        | ErrorKind::Utf8(_) => "malformed token",
        ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidEddsaKey
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidKeyFormat => "unusable key",
        _ => "invalid token",
    })
}

fn check_settings(settings: &OidcSettings) -> Result<(), OidcError> {
    let bad = |msg: &str| Err(OidcError::Jwks(format!("settings: {msg}")));
    if settings.issuer.trim().is_empty() {
        return bad("issuer is empty");
    }
    if settings.audience.trim().is_empty() {
        return bad("audience is empty");
    }
    if settings.claim.trim().is_empty() {
        return bad("claim is empty");
    }
    if settings.leeway_secs > MAX_LEEWAY_SECS {
        return bad("leeway_secs is above 3600");
    }
    Ok(())
}

/// The process's `jsonwebtoken` crypto provider, installing RustCrypto when
/// the crate features did not settle one (both backends enabled).
fn crypto_provider() -> Result<&'static CryptoProvider, OidcError> {
    if let Some(provider) = CryptoProvider::try_get_default() {
        return Ok(provider);
    }
    // Losing a race to another installer is fine: any installed provider
    // works.
    let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
    CryptoProvider::try_get_default()
        .ok_or_else(|| OidcError::Jwks("no jwt crypto provider installed".into()))
}

/// One JWK: `Ok(None)` for a key that is skipped, `Err` naming the field.
fn parse_key(jwk: &Value) -> Result<Option<VerifyKey>, String> {
    let obj = jwk.as_object().ok_or("not a json object")?;
    let kty = str_field(obj, "kty")?.ok_or("field kty: missing")?;
    if str_field(obj, "use")?.is_some_and(|u| u != "sig") {
        return Ok(None);
    }
    if let Some(ops) = obj.get("key_ops") {
        let ops = ops.as_array().ok_or("field key_ops: not an array")?;
        if !ops.iter().any(|op| op.as_str() == Some("verify")) {
            return Ok(None);
        }
    }
    let kid = str_field(obj, "kid")?.map(str::to_owned);
    let alg = match str_field(obj, "alg")? {
        None => None,
        Some(name) => match allowed_alg(name) {
            Some(alg) => Some(alg),
            // RSA-OAEP, HS256, PS512, ES512...: not a key we verify with.
            None => return Ok(None),
        },
    };
    let (kind, key) = match kty {
        "RSA" => {
            let n = b64_field(obj, "n")?;
            let e = b64_field(obj, "e")?;
            check_rsa(&n, &e)?;
            (KeyType::Rsa, DecodingKey::from_rsa_raw_components(&n, &e))
        }
        "EC" => {
            let (kind, len) = match str_field(obj, "crv")?.ok_or("field crv: missing")? {
                "P-256" => (KeyType::P256, 32),
                "P-384" => (KeyType::P384, 48),
                _ => return Ok(None),
            };
            let x = b64_field(obj, "x")?;
            let y = b64_field(obj, "y")?;
            for (name, coord) in [("x", &x), ("y", &y)] {
                if coord.len() != len {
                    return Err(format!("field {name}: wrong length for the curve"));
                }
            }
            // Uncompressed SEC1 point, what the EC verifier reads.
            let mut point = Vec::with_capacity(1 + 2 * len);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            (kind, DecodingKey::from_ec_der(&point))
        }
        "OKP" => {
            if str_field(obj, "crv")?.ok_or("field crv: missing")? != "Ed25519" {
                return Ok(None);
            }
            let x = b64_field(obj, "x")?;
            if x.len() != 32 {
                return Err("field x: not 32 bytes".into());
            }
            (KeyType::Ed25519, DecodingKey::from_ed_der(&x))
        }
        _ => return Ok(None),
    };
    if alg.is_some_and(|alg| !kind.allows(alg)) {
        return Err("field alg: does not match the key type".into());
    }
    Ok(Some(VerifyKey {
        kid,
        kind,
        alg,
        key,
    }))
}

/// An optional string member.
fn str_field<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, String> {
    match obj.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("field {name}: not a string")),
    }
}

/// A required base64url (unpadded) member, decoded.
fn b64_field(obj: &Map<String, Value>, name: &str) -> Result<Vec<u8>, String> {
    let text = str_field(obj, name)?.ok_or_else(|| format!("field {name}: missing"))?;
    let bytes = B64URL
        .decode(text)
        .map_err(|_| format!("field {name}: not base64url"))?;
    if bytes.is_empty() {
        return Err(format!("field {name}: empty"));
    }
    Ok(bytes)
}

/// Checks an RSA public key's size and shape (what `rsa` would refuse only
/// at the first verification).
fn check_rsa(n: &[u8], e: &[u8]) -> Result<(), String> {
    let n = strip_zeros(n);
    let bits = match n.first() {
        Some(&top) => (n.len() as u64 - 1) * 8 + u64::from(8 - top.leading_zeros()),
        None => 0,
    };
    if !RSA_BITS.contains(&bits) {
        return Err("field n: modulus not between 2048 and 8192 bits".into());
    }
    if n.last().is_some_and(|low| low % 2 == 0) {
        return Err("field n: modulus is even".into());
    }
    let e = strip_zeros(e);
    if e.len() > 5 {
        return Err("field e: exponent too large".into());
    }
    let value = e.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    if value < 3 || value % 2 == 0 || value >= 1 << 33 {
        return Err("field e: not an odd exponent between 3 and 2^33".into());
    }
    Ok(())
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header, encode, get_current_timestamp};
    use serde_json::json;

    use super::*;

    const ISS: &str = "https://login.example.com/acme";
    const AUD: &str = "parcelguard";
    const WHO: &str = "E1001";
    const LEEWAY: u64 = 60;

    /// PKCS#8 prefix of an Ed25519 private key, before the 32-byte seed
    /// (RFC 8410 section 7, the example key's DER with its seed removed).
    const ED25519_PKCS8_PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];

    /// An Ed25519 key made for the test run.
    struct TestKey {
        kid: &'static str,
        signing: EncodingKey,
        /// Public key, base64url (the JWK `x`).
        x: String,
    }

    impl TestKey {
        fn new(kid: &'static str) -> Self {
            let seed: [u8; 32] = rand::random();
            let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
            let mut der = ED25519_PKCS8_PREFIX.to_vec();
            der.extend_from_slice(&seed);
            Self {
                kid,
                signing: EncodingKey::from_ed_der(&der),
                x: B64URL.encode(public.to_bytes()),
            }
        }

        fn jwk(&self) -> Value {
            json!({"kty": "OKP", "crv": "Ed25519", "x": self.x, "kid": self.kid,
                   "use": "sig", "alg": "EdDSA"})
        }

        /// A token signed by this key, with `kid` in its header.
        fn sign(&self, kid: Option<&str>, claims: &Value) -> String {
            let mut header = Header::new(Algorithm::EdDSA);
            header.kid = kid.map(str::to_owned);
            encode(&header, claims, &self.signing).unwrap()
        }
    }

    fn jwks(keys: &[&TestKey]) -> String {
        json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()}).to_string()
    }

    fn settings() -> OidcSettings {
        OidcSettings {
            issuer: ISS.into(),
            audience: AUD.into(),
            claim: "sub".into(),
            leeway_secs: LEEWAY,
        }
    }

    fn now() -> i64 {
        i64::try_from(get_current_timestamp()).unwrap()
    }

    /// Claims of a good token, with `changes` applied (`null` removes).
    fn claims(changes: Value) -> Value {
        let mut claims = json!({"iss": ISS, "aud": AUD, "sub": WHO, "iat": now(),
                                "nbf": now() - 5, "exp": now() + 300});
        for (name, value) in changes.as_object().unwrap() {
            if value.is_null() {
                claims.as_object_mut().unwrap().remove(name);
            } else {
                claims[name] = value.clone();
            }
        }
        claims
    }

    /// A token with the given header and claims and `sig` as its signature.
    fn hand_built(header: &Value, claims: &Value, sig: &str) -> String {
        format!(
            "{}.{}.{sig}",
            B64URL.encode(header.to_string()),
            B64URL.encode(claims.to_string())
        )
    }

    struct Fixture {
        a: TestKey,
        b: TestKey,
        /// Not in the set.
        stranger: TestKey,
    }

    #[test]
    fn verify_table() {
        let fx = Fixture {
            a: TestKey::new("a"),
            b: TestKey::new("b"),
            stranger: TestKey::new("s"),
        };
        let verifier = OidcVerifier::from_jwks(&jwks(&[&fx.a, &fx.b]), settings()).unwrap();
        type Build = fn(&Fixture) -> String;
        let cases: &[(&str, Build, Result<&str, &str>)] = &[
            (
                "good token",
                |f| f.a.sign(Some("a"), &claims(json!({}))),
                Ok(WHO),
            ),
            (
                "good token, second key",
                |f| f.b.sign(Some("b"), &claims(json!({}))),
                Ok(WHO),
            ),
            (
                "audience list holding ours",
                |f| f.a.sign(Some("a"), &claims(json!({"aud": ["other", AUD]}))),
                Ok(WHO),
            ),
            (
                "expired within leeway",
                |f| f.a.sign(Some("a"), &claims(json!({"exp": now() - 30}))),
                Ok(WHO),
            ),
            (
                "expired beyond leeway",
                |f| f.a.sign(Some("a"), &claims(json!({"exp": now() - 120}))),
                Err("expired"),
            ),
            (
                "nbf within leeway",
                |f| f.a.sign(Some("a"), &claims(json!({"nbf": now() + 30}))),
                Ok(WHO),
            ),
            (
                "nbf beyond leeway",
                |f| f.a.sign(Some("a"), &claims(json!({"nbf": now() + 120}))),
                Err("not yet valid"),
            ),
            (
                "no exp",
                |f| f.a.sign(Some("a"), &claims(json!({"exp": null}))),
                Err("missing exp"),
            ),
            (
                "wrong issuer",
                |f| {
                    f.a.sign(Some("a"), &claims(json!({"iss": "https://evil.example"})))
                },
                Err("wrong issuer"),
            ),
            (
                "no issuer",
                |f| f.a.sign(Some("a"), &claims(json!({"iss": null}))),
                Err("missing issuer"),
            ),
            (
                "wrong audience",
                |f| f.a.sign(Some("a"), &claims(json!({"aud": "another-app"}))),
                Err("wrong audience"),
            ),
            (
                "no audience",
                |f| f.a.sign(Some("a"), &claims(json!({"aud": null}))),
                Err("missing audience"),
            ),
            (
                "missing claim",
                |f| f.a.sign(Some("a"), &claims(json!({"sub": null}))),
                Err("missing claim"),
            ),
            (
                "empty claim",
                |f| f.a.sign(Some("a"), &claims(json!({"sub": ""}))),
                Err("missing claim"),
            ),
            (
                "claim not a string",
                |f| f.a.sign(Some("a"), &claims(json!({"sub": 1001}))),
                Err("claim is not a string"),
            ),
            (
                "signed by another key under a known kid",
                |f| f.stranger.sign(Some("a"), &claims(json!({}))),
                Err("bad signature"),
            ),
            (
                "signed by key b under kid a",
                |f| f.b.sign(Some("a"), &claims(json!({}))),
                Err("bad signature"),
            ),
            (
                "payload swapped after signing",
                |f| {
                    let good = f.a.sign(Some("a"), &claims(json!({})));
                    let evil = f.a.sign(Some("a"), &claims(json!({"sub": "E9999"})));
                    let [h, _, s]: [&str; 3] =
                        good.split('.').collect::<Vec<_>>().try_into().unwrap();
                    let p = evil.split('.').nth(1).unwrap();
                    format!("{h}.{p}.{s}")
                },
                Err("bad signature"),
            ),
            (
                "unknown kid",
                |f| f.stranger.sign(Some("s"), &claims(json!({}))),
                Err("unknown key id"),
            ),
            (
                "no kid with two keys in the set",
                |f| f.a.sign(None, &claims(json!({}))),
                Err("missing key id"),
            ),
            (
                "alg none, no signature",
                |_| hand_built(&json!({"alg": "none", "kid": "a"}), &claims(json!({})), ""),
                Err("algorithm not allowed"),
            ),
            (
                "alg None, no kid",
                |_| hand_built(&json!({"alg": "None"}), &claims(json!({})), ""),
                Err("algorithm not allowed"),
            ),
            (
                "HS256 keyed with the public key (key confusion)",
                |f| {
                    let secret = B64URL.decode(&f.a.x).unwrap();
                    let mut header = Header::new(Algorithm::HS256);
                    header.kid = Some("a".into());
                    let key = EncodingKey::from_secret(&secret).unwrap();
                    encode(&header, &claims(json!({})), &key).unwrap()
                },
                Err("algorithm not allowed"),
            ),
            (
                "ES256 header on an Ed25519 key",
                |f| {
                    let good = f.a.sign(Some("a"), &claims(json!({})));
                    let rest = good.split_once('.').unwrap().1;
                    let head = B64URL.encode(json!({"alg": "ES256", "kid": "a"}).to_string());
                    format!("{head}.{rest}")
                },
                Err("algorithm not allowed"),
            ),
            (
                "kid not a string",
                |_| {
                    hand_built(
                        &json!({"alg": "EdDSA", "kid": 7}),
                        &claims(json!({})),
                        "AAAA",
                    )
                },
                Err("malformed token"),
            ),
            (
                "two segments",
                |_| "eyJhbGciOiJFZERTQSJ9.e30".into(),
                Err("malformed token"),
            ),
            ("empty", |_| String::new(), Err("malformed token")),
            (
                "api key",
                |_| format!("pgk_{}", "A".repeat(43)),
                Err("malformed token"),
            ),
            (
                "payload not json",
                |f| {
                    let good = f.a.sign(Some("a"), &claims(json!({})));
                    let [h, _, s]: [&str; 3] =
                        good.split('.').collect::<Vec<_>>().try_into().unwrap();
                    format!("{h}.{}.{s}", B64URL.encode("E1001 not json"))
                },
                Err("bad signature"),
            ),
            (
                "oversized",
                |f| {
                    f.a.sign(
                        Some("a"),
                        &claims(json!({"pad": "x".repeat(MAX_TOKEN_LEN)})),
                    )
                },
                Err("malformed token"),
            ),
        ];
        for (name, build, expected) in cases {
            let token = build(&fx);
            let got = verifier.verify(&token);
            match (expected, &got) {
                (Ok(want), Ok(id)) => assert_eq!(id, want, "{name}"),
                (Err(want), Err(OidcError::Invalid(reason))) => {
                    assert_eq!(reason, want, "{name}");
                    let shown = got.as_ref().unwrap_err().to_string();
                    assert_eq!(shown, format!("oidc token refused: {want}"), "{name}");
                    assert!(!shown.contains(WHO), "{name}: display shows the claim");
                    for part in token.split('.').filter(|p| p.len() > 3) {
                        assert!(!shown.contains(part), "{name}: display shows the token");
                    }
                }
                _ => panic!("{name}: expected {expected:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn only_key_is_used_without_kid() {
        let a = TestKey::new("a");
        let verifier = OidcVerifier::from_jwks(&jwks(&[&a]), settings()).unwrap();
        assert_eq!(
            verifier.verify(&a.sign(None, &claims(json!({})))).unwrap(),
            WHO
        );
        let other = TestKey::new("a");
        assert!(matches!(
            verifier.verify(&other.sign(None, &claims(json!({})))),
            Err(OidcError::Invalid("bad signature"))
        ));
    }

    #[test]
    fn configured_claim_is_returned() {
        let a = TestKey::new("a");
        let mut s = settings();
        s.claim = "employee_id".into();
        let verifier = OidcVerifier::from_jwks(&jwks(&[&a]), s).unwrap();
        let token = a.sign(Some("a"), &claims(json!({"employee_id": "E2002"})));
        assert_eq!(verifier.verify(&token).unwrap(), "E2002");
        let token = a.sign(Some("a"), &claims(json!({})));
        assert!(matches!(
            verifier.verify(&token),
            Err(OidcError::Invalid("missing claim"))
        ));
    }

    // RFC 7515 appendix A.2 (RS256) and A.3 (ES256): the example tokens carry
    // `{"iss":"joe","exp":1300819380,...}` and no `aud`. The signature is
    // checked before the claims, so "missing audience" proves the signature
    // verified and a flipped signature byte gives "bad signature".
    const RFC7515_PAYLOAD: &str = "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
    const RFC7515_A2_N: &str = "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";
    const RFC7515_A2_SIG: &str = "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";
    const RFC7515_A3_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const RFC7515_A3_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
    const RFC7515_A3_SIG: &str =
        "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

    /// Changes the first character (the top six bits) of a base64url signature.
    fn flip(sig: &str) -> String {
        let mut chars: Vec<char> = sig.chars().collect();
        chars[0] = if chars[0] == 'c' { 'd' } else { 'c' };
        chars.into_iter().collect()
    }

    #[test]
    fn rfc7515_vectors() {
        let joe = OidcSettings {
            issuer: "joe".into(),
            ..settings()
        };
        let rsa = json!({"keys": [{"kty": "RSA", "n": RFC7515_A2_N, "e": "AQAB"}]}).to_string();
        let ec = json!({"keys": [{"kty": "EC", "crv": "P-256", "x": RFC7515_A3_X,
                                  "y": RFC7515_A3_Y}]})
        .to_string();
        let cases = [
            (&rsa, "eyJhbGciOiJSUzI1NiJ9", RFC7515_A2_SIG),
            (&ec, "eyJhbGciOiJFUzI1NiJ9", RFC7515_A3_SIG),
        ];
        for (set, header, sig) in cases {
            let verifier = OidcVerifier::from_jwks(set, joe.clone()).unwrap();
            let token = format!("{header}.{RFC7515_PAYLOAD}.{sig}");
            assert!(looks_like_jwt(&token));
            assert!(matches!(
                verifier.verify(&token),
                Err(OidcError::Invalid("missing audience"))
            ));
            let tampered = format!("{header}.{RFC7515_PAYLOAD}.{}", flip(sig));
            assert!(matches!(
                verifier.verify(&tampered),
                Err(OidcError::Invalid("bad signature"))
            ));
        }
    }

    /// RFC 7517 appendix A.1: an EC encryption key (`"use":"enc"`, skipped)
    /// and an RS256 signing key (kept).
    #[test]
    fn rfc7517_a1_set() {
        let set = r#"{"keys":[
            {"kty":"EC","crv":"P-256","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
             "y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM","use":"enc","kid":"1"},
            {"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
             "e":"AQAB","alg":"RS256","kid":"2011-04-29"}]}"#;
        let verifier = OidcVerifier::from_jwks(set, settings()).unwrap();
        assert_eq!(verifier.keys.len(), 1);
        assert_eq!(verifier.skipped, 1);
        assert_eq!(verifier.keys[0].kid.as_deref(), Some("2011-04-29"));
        // Pinned to RS256: a PS256 token under that kid is refused before
        // any signature work.
        let token = hand_built(
            &json!({"alg": "PS256", "kid": "2011-04-29"}),
            &claims(json!({})),
            "AAAA",
        );
        assert!(matches!(
            verifier.verify(&token),
            Err(OidcError::Invalid("algorithm not allowed"))
        ));
        let shown = format!("{verifier:?}");
        assert!(shown.contains("2011-04-29"));
        assert!(!shown.contains("0vx7ag"), "debug shows key material");
    }

    #[test]
    fn jwks_error_table() {
        let a = TestKey::new("a");
        let good = a.jwk();
        let with = |changes: Value| {
            let mut jwk = good.clone();
            for (name, value) in changes.as_object().unwrap() {
                if value.is_null() {
                    jwk.as_object_mut().unwrap().remove(name);
                } else {
                    jwk[name] = value.clone();
                }
            }
            jwk
        };
        let set = |keys: Vec<Value>| json!({ "keys": keys }).to_string();
        let cases: Vec<(&str, String, &str)> = vec![
            ("not json", "{keys".into(), "not json (line 1, column 2)"),
            ("no keys", "{}".into(), "field keys: missing"),
            (
                "keys not a list",
                r#"{"keys":{}}"#.into(),
                "field keys: not an array",
            ),
            ("empty set", set(vec![]), "no usable signing key"),
            (
                "key not an object",
                set(vec![good.clone(), json!("k")]),
                "key 1: not a json object",
            ),
            (
                "no kty",
                set(vec![with(json!({"kty": null}))]),
                "key 0: field kty: missing",
            ),
            (
                "kty not a string",
                set(vec![with(json!({"kty": 1}))]),
                "key 0: field kty: not a string",
            ),
            (
                "no x",
                set(vec![good.clone(), with(json!({"x": null, "kid": "b"}))]),
                "key 1: field x: missing",
            ),
            (
                "x not base64url",
                set(vec![with(json!({"x": "a+b/"}))]),
                "key 0: field x: not base64url",
            ),
            (
                "x short",
                set(vec![with(json!({"x": "AAAA"}))]),
                "key 0: field x: not 32 bytes",
            ),
            (
                "no crv",
                set(vec![with(json!({"crv": null}))]),
                "key 0: field crv: missing",
            ),
            (
                "alg of another key type",
                set(vec![with(json!({"alg": "RS256"}))]),
                "key 0: field alg: does not match",
            ),
            (
                "kid not a string",
                set(vec![with(json!({"kid": 3}))]),
                "key 0: field kid: not a string",
            ),
            (
                "duplicate kid",
                set(vec![good.clone(), good.clone()]),
                "key 1: field kid: duplicate",
            ),
            (
                "only an hmac key",
                set(vec![json!({"kty": "oct", "k": "c2VjcmV0", "kid": "h"})]),
                "no usable signing key",
            ),
            (
                "rsa modulus too small",
                set(vec![
                    json!({"kty": "RSA", "n": B64URL.encode([0xffu8; 128]), "e": "AQAB"}),
                ]),
                "key 0: field n: modulus not between 2048 and 8192 bits",
            ),
            (
                "rsa exponent even",
                set(vec![json!({"kty": "RSA", "n": RFC7515_A2_N, "e": "AQAA"})]),
                "key 0: field e: not an odd exponent",
            ),
            (
                "ec point off the curve",
                set(vec![
                    json!({"kty": "EC", "crv": "P-256", "x": RFC7515_A3_X, "y": RFC7515_A3_X}),
                ]),
                "key 0: not a valid public key",
            ),
            (
                "ec coordinate wrong length",
                set(vec![
                    json!({"kty": "EC", "crv": "P-384", "x": RFC7515_A3_X, "y": RFC7515_A3_Y}),
                ]),
                "key 0: field x: wrong length for the curve",
            ),
        ];
        for (name, jwks_json, want) in &cases {
            let err = OidcVerifier::from_jwks(jwks_json, settings()).unwrap_err();
            let shown = err.to_string();
            assert!(matches!(err, OidcError::Jwks(_)), "{name}: {err:?}");
            assert!(shown.starts_with("bad oidc key set: "), "{name}: {shown}");
            assert!(shown.contains(want), "{name}: {shown}");
            assert!(!shown.contains(&a.x), "{name}: display shows key material");
            assert_eq!(shown, shown.to_lowercase(), "{name}: not lowercase");
        }
    }

    #[test]
    fn settings_are_checked() {
        let a = TestKey::new("a");
        let set = jwks(&[&a]);
        for (change, want) in [
            (
                OidcSettings {
                    issuer: " ".into(),
                    ..settings()
                },
                "settings: issuer is empty",
            ),
            (
                OidcSettings {
                    audience: String::new(),
                    ..settings()
                },
                "settings: audience is empty",
            ),
            (
                OidcSettings {
                    claim: String::new(),
                    ..settings()
                },
                "settings: claim is empty",
            ),
            (
                OidcSettings {
                    leeway_secs: 86_400,
                    ..settings()
                },
                "settings: leeway_secs",
            ),
        ] {
            let shown = OidcVerifier::from_jwks(&set, change)
                .unwrap_err()
                .to_string();
            assert!(shown.contains(want), "{shown}");
        }
    }

    #[test]
    fn skipped_keys_do_not_count() {
        let a = TestKey::new("a");
        let set = json!({"keys": [
            {"kty": "oct", "k": "c2VjcmV0", "kid": "h"},
            {"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"},
            {"kty": "OKP", "crv": "X25519", "x": "AA"},
            {"kty": "RSA", "alg": "RSA-OAEP", "n": "AA", "e": "AA"},
            {"kty": "OKP", "crv": "Ed25519", "x": a.x, "key_ops": ["encrypt"]},
            a.jwk(),
        ]})
        .to_string();
        let verifier = OidcVerifier::from_jwks(&set, settings()).unwrap();
        assert_eq!((verifier.keys.len(), verifier.skipped), (1, 5));
        // The HMAC key's kid is not a key id the verifier knows.
        let key = EncodingKey::from_secret(b"secret").unwrap();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("h".into());
        let token = encode(&header, &claims(json!({})), &key).unwrap();
        assert!(matches!(
            verifier.verify(&token),
            Err(OidcError::Invalid("algorithm not allowed"))
        ));
        let token = hand_built(
            &json!({"alg": "EdDSA", "kid": "h"}),
            &claims(json!({})),
            "AA",
        );
        assert!(matches!(
            verifier.verify(&token),
            Err(OidcError::Invalid("unknown key id"))
        ));
        // Without a kid, the only usable key is used.
        assert_eq!(
            verifier.verify(&a.sign(None, &claims(json!({})))).unwrap(),
            WHO
        );
    }

    #[test]
    fn looks_like_jwt_table() {
        let a = TestKey::new("a");
        let signed = a.sign(Some("a"), &claims(json!({})));
        let none = hand_built(&json!({"alg": "none"}), &json!({}), "");
        let cases: Vec<(&str, String, bool)> = vec![
            ("signed token", signed.clone(), true),
            ("alg none, empty signature", none, true),
            ("api key", format!("pgk_{}", "A".repeat(43)), false),
            ("two segments", "eyJhbGciOiJub25lIn0.e30".into(), false),
            ("four segments", format!("{signed}.x"), false),
            ("empty payload", "eyJhbGciOiJub25lIn0..".into(), false),
            ("padding", "eyJhbGciOiJub25lIn0=.e30.".into(), false),
            (
                "header without alg",
                hand_built(&json!({"typ": "JWT"}), &json!({}), ""),
                false,
            ),
            (
                "alg not a string",
                hand_built(&json!({"alg": 1}), &json!({}), ""),
                false,
            ),
            (
                "header not json",
                format!("{}.e30.", B64URL.encode("alg")),
                false,
            ),
            ("empty", String::new(), false),
        ];
        for (name, token, want) in cases {
            assert_eq!(looks_like_jwt(&token), want, "{name}");
        }
    }
}
