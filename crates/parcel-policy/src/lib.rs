//! parcelguard's reveal decisions, made by Cedar policies that the security
//! team can read and change.
//!
//! - [`Policies`]: a policy set loaded from `.cedar` sources, validated
//!   strictly against the built-in schema ([`SCHEMA_SRC`]), with an `@id`
//!   on every policy, an `@reason` on every `forbid`, and a version (a hash
//!   of the sources) that every decision records.
//! - [`Engine`]: the current policy set (replaceable while serving, for hot
//!   reload) and [`Engine::decide`], which turns the facts of one reveal
//!   request into a [`Decision`] with its reason code and deciding policies.
//! - [`cases`]: files of request → expected decision cases
//!   (`parcelguard policy test`).
//!
//! The crate is pure: it reads policy files when asked to
//! ([`Policies::from_dir`]) and nothing else; no network, no clock (the
//! caller passes the time), no personal data (facts are ids, statuses and
//! times).
#![deny(missing_docs)]

pub mod cases;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::str::FromStr as _;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use cedar_policy::{
    Authorizer, Context, Effect, Entities, Entity, EntityId, EntityTypeName, EntityUid, PolicyId,
    PolicySet, Request, RestrictedExpression, Schema, ValidationMode, Validator,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// The Cedar schema every policy set is validated against (also in
/// `policies/parcelguard.cedarschema`).
pub const SCHEMA_SRC: &str = include_str!("../../../policies/parcelguard.cedarschema");

/// The default policy set shipped with parcelguard (`policies/reveal.cedar`).
pub const DEFAULT_POLICIES: &[(&str, &str)] = &[(
    "reveal.cedar",
    include_str!("../../../policies/reveal.cedar"),
)];

/// The reason code of a request that no `permit` matched.
pub const DEFAULT_DENY: &str = "purpose_not_allowed";

/// The reason code when a policy could not be evaluated (the request is
/// denied: an erroring `forbid` must never turn into an allow).
pub const POLICY_ERROR: &str = "policy_error";

/// Purposes a reveal may declare.
pub const PURPOSES: [&str; 7] = [
    "delivery_contact",
    "pickup",
    "customer_service",
    "claim",
    "exception_handling",
    "law_enforcement",
    "security_investigation",
];

/// Parties of a shipment.
pub const PARTIES: [&str; 2] = ["sender", "recipient"];

/// Fields a reveal may ask for.
pub const FIELDS: [&str; 4] = ["name", "phone", "address", "id_number"];

/// Roles of principals.
pub const ROLES: [&str; 6] = [
    "courier",
    "station_manager",
    "customer_service",
    "security_auditor",
    "admin",
    "service",
];

/// One problem in a policy directory, located by file, line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// File name (as given to [`Policies::from_sources`]).
    pub file: String,
    /// 1-based line, 0 when unknown.
    pub line: usize,
    /// 1-based column, 0 when unknown.
    pub column: usize,
    /// The policy concerned, if known.
    pub policy: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if let Some(p) = &self.policy {
            write!(f, ": policy `{p}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Errors of this crate. Messages name files, lines and policies; facts
/// hold no personal values, so there are none to leak.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The policy sources do not parse, break a rule, or fail validation.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Problem>),
    /// A policy file or directory could not be read.
    #[error("{path}: {message}")]
    Io {
        /// The path.
        path: String,
        /// The OS error.
        message: String,
    },
    /// The built-in schema does not parse (a bug).
    #[error("built-in schema: {0}")]
    Schema(String),
    /// A request's facts could not be turned into Cedar values.
    #[error("request: {0}")]
    Request(String),
}

fn schema() -> Result<&'static Schema, PolicyError> {
    static SCHEMA: OnceLock<Result<Schema, String>> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Schema::from_cedarschema_str(SCHEMA_SRC)
                .map(|(s, _warnings)| s)
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| PolicyError::Schema(e.clone()))
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.chars().count(), |i| before[i + 1..].chars().count())
        + 1;
    (line, column)
}

fn first_label(d: &dyn miette::Diagnostic) -> Option<usize> {
    d.labels()
        .and_then(|mut l| l.next())
        .map(|l| l.offset())
        .or_else(|| {
            d.related()
                .and_then(|mut r| r.next())
                .and_then(|r| r.labels().and_then(|mut l| l.next()).map(|l| l.offset()))
        })
}

/// A loaded, validated policy set.
#[derive(Debug, Clone)]
pub struct Policies {
    set: PolicySet,
    /// For each role some policy names, the policies that can apply to a
    /// principal of that role ([`role_sets`]); other roles use `set`.
    by_role: HashMap<String, PolicySet>,
    /// Reason code of each `forbid`, by policy id.
    reasons: HashMap<String, String>,
    /// Position of each policy in the sources, for a stable reason order.
    order: HashMap<String, usize>,
    version: String,
    sources: Vec<(String, String)>,
}

impl Policies {
    /// The default policy set.
    pub fn builtin() -> Result<Self, PolicyError> {
        Self::from_sources(
            DEFAULT_POLICIES
                .iter()
                .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
                .collect(),
        )
    }

    /// Every `*.cedar` file of `dir`, in name order.
    pub fn from_dir(dir: &Path) -> Result<Self, PolicyError> {
        let io = |e: std::io::Error, p: &Path| PolicyError::Io {
            path: p.display().to_string(),
            message: e.to_string(),
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| io(e, dir))? {
            let path = entry.map_err(|e| io(e, dir))?.path();
            if path.extension().is_some_and(|e| e == "cedar") {
                let text = std::fs::read_to_string(&path).map_err(|e| io(e, &path))?;
                files.push((path.display().to_string(), text));
            }
        }
        files.sort();
        if files.is_empty() {
            return Err(PolicyError::Invalid(vec![Problem {
                file: dir.display().to_string(),
                line: 0,
                column: 0,
                policy: None,
                message: "no .cedar files: an empty policy set would deny everything".to_owned(),
            }]));
        }
        Self::from_sources(files)
    }

    /// Parses `(file name, text)` sources, checks the house rules (`@id` on
    /// every policy, unique; `@reason` on every `forbid`; no templates) and
    /// validates the set strictly against the schema. Every problem found is
    /// reported, each with its file and line.
    pub fn from_sources(sources: Vec<(String, String)>) -> Result<Self, PolicyError> {
        let schema = schema()?;
        let mut problems = Vec::new();
        let mut set = PolicySet::new();
        let mut reasons = HashMap::new();
        let mut order = HashMap::new();
        // Policy id -> (file index, text offset of the policy) for locating
        // validation errors.
        let mut origin: HashMap<String, usize> = HashMap::new();
        for (fi, (file, text)) in sources.iter().enumerate() {
            let parsed = match PolicySet::from_str(text) {
                Ok(p) => p,
                Err(errors) => {
                    for e in errors.iter() {
                        let (line, column) = first_label(e).map_or((0, 0), |o| line_col(text, o));
                        problems.push(Problem {
                            file: file.clone(),
                            line,
                            column,
                            policy: None,
                            message: e.to_string(),
                        });
                    }
                    continue;
                }
            };
            if parsed.templates().next().is_some() {
                problems.push(Problem {
                    file: file.clone(),
                    line: 0,
                    column: 0,
                    policy: None,
                    message: "templates are not supported; write static policies".to_owned(),
                });
            }
            let mut policies: Vec<_> = parsed.policies().collect();
            // The parser names policies policy0, policy1, … in source order.
            policies.sort_by_key(|p| {
                p.id()
                    .to_string()
                    .trim_start_matches("policy")
                    .parse::<usize>()
                    .unwrap_or(usize::MAX)
            });
            for p in policies {
                // Locate the policy by its @id in the text (the first
                // policy of a file when it has none).
                let (line, column) = p
                    .annotation("id")
                    .and_then(|id| text.find(&format!("@id(\"{id}\")")))
                    .map_or((0, 0), |o| line_col(text, o));
                let problem = |message: String, policy: Option<String>| Problem {
                    file: file.clone(),
                    line,
                    column,
                    policy,
                    message,
                };
                let Some(id) = p.annotation("id").map(str::to_owned) else {
                    problems.push(problem("every policy needs an @id(\"…\")".to_owned(), None));
                    continue;
                };
                if p.effect() == Effect::Forbid {
                    match p.annotation("reason") {
                        Some(r) if !r.is_empty() => {
                            reasons.insert(id.clone(), r.to_owned());
                        }
                        _ => {
                            problems.push(problem(
                                "a forbid needs an @reason(\"…\"): the code a denied caller sees"
                                    .to_owned(),
                                Some(id.clone()),
                            ));
                            continue;
                        }
                    }
                }
                if origin.contains_key(&id) {
                    problems.push(problem("@id is used twice".to_owned(), Some(id)));
                    continue;
                }
                if let Err(e) = set.add(p.new_id(PolicyId::new(&id))) {
                    problems.push(problem(e.to_string(), Some(id)));
                    continue;
                }
                order.insert(id.clone(), order.len());
                origin.insert(id, fi);
            }
        }
        if problems.is_empty() {
            let result = Validator::new(schema.clone()).validate(&set, ValidationMode::Strict);
            for e in result.validation_errors() {
                let id = e.policy_id().to_string();
                let (file, text) = origin
                    .get(&id)
                    .and_then(|&fi| sources.get(fi))
                    .map_or(("?", ""), |(f, t)| (f.as_str(), t.as_str()));
                let (line, column) = first_label(e).map_or((0, 0), |o| line_col(text, o));
                problems.push(Problem {
                    file: file.to_owned(),
                    line,
                    column,
                    policy: Some(id),
                    message: e.to_string(),
                });
            }
        }
        if !problems.is_empty() {
            return Err(PolicyError::Invalid(problems));
        }
        let mut hash = Sha256::new();
        for (file, text) in &sources {
            let name = Path::new(file)
                .file_name()
                .map_or(file.as_str(), |n| n.to_str().unwrap_or(file));
            hash.update(name.as_bytes());
            hash.update([0]);
            hash.update(text.as_bytes());
            hash.update([0]);
        }
        let digest = hash.finalize();
        let version = format!(
            "ps-{}",
            digest[..6]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        let by_role = role_sets(&set)?;
        Ok(Self {
            set,
            by_role,
            reasons,
            order,
            version,
            sources,
        })
    }

    /// The version recorded in every decision: `ps-` and 12 hex digits of
    /// the SHA-256 of the sources.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The sources, as loaded (file name, text).
    pub fn sources(&self) -> &[(String, String)] {
        &self.sources
    }

    /// Number of policies.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether the set is empty (never, once loaded).
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

/// What kind of principal asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    /// An employee.
    #[default]
    Employee,
    /// A service account.
    Service,
}

/// The principal's facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrincipalFacts {
    /// Employee or service.
    #[serde(default)]
    pub kind: PrincipalKind,
    /// Principal id (`E1001`).
    pub id: String,
    /// Role.
    pub role: String,
    /// `active` or `suspended`.
    #[serde(default = "active")]
    pub status: String,
    /// Station code.
    #[serde(default)]
    pub station: Option<String>,
}

fn active() -> String {
    "active".to_owned()
}

/// The shipment's facts (no personal values).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShipmentFacts {
    /// Waybill number.
    pub waybill_no: String,
    /// Carrier.
    #[serde(default)]
    pub carrier: String,
    /// Lifecycle status (`out_for_delivery`, …).
    pub status: String,
    /// Assigned courier.
    #[serde(default)]
    pub courier: Option<String>,
    /// Origin station.
    #[serde(default)]
    pub origin_station: Option<String>,
    /// Destination station.
    #[serde(default)]
    pub destination_station: Option<String>,
    /// Delivery window (Unix seconds).
    #[serde(default)]
    pub window: Option<(i64, i64)>,
    /// When it went out for delivery.
    #[serde(default)]
    pub out_for_delivery_at: Option<i64>,
    /// When it was delivered or returned.
    #[serde(default)]
    pub closed_at: Option<i64>,
    /// The sender's data is erased or purged.
    #[serde(default)]
    pub sender_erased: bool,
    /// The recipient's data is erased or purged.
    #[serde(default)]
    pub recipient_erased: bool,
}

/// What is asked, why, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevealFacts {
    /// `sender` or `recipient`.
    pub party: String,
    /// `name`, `phone`, `address` or `id_number`.
    pub field: String,
    /// Declared purpose.
    pub purpose: String,
    /// Unix seconds.
    pub now: i64,
    /// Seconds after delivery or return that reveals stay possible.
    #[serde(default)]
    pub grace_secs: i64,
    /// Ticket given.
    #[serde(default)]
    pub ticket_id: Option<String>,
    /// The ticket is open and names this shipment.
    #[serde(default)]
    pub ticket_bound: bool,
    /// Device id.
    #[serde(default)]
    pub device_id: Option<String>,
    /// An approved break-glass request covers this reveal.
    #[serde(default)]
    pub break_glass: bool,
}

/// One reveal request, as the policies see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevealRequest {
    /// Who asks.
    pub principal: PrincipalFacts,
    /// About which shipment.
    pub shipment: ShipmentFacts,
    /// What, why, when.
    pub reveal: RevealFacts,
}

/// The outcome of one decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Whether the reveal may go ahead.
    pub allowed: bool,
    /// The reason code of a denial: the first matching `forbid` in source
    /// order, [`DEFAULT_DENY`] when nothing permitted it, or
    /// [`POLICY_ERROR`].
    pub reason: Option<String>,
    /// The deciding policies: the permits that allowed, or the forbids that
    /// denied (source order).
    pub policies: Vec<String>,
    /// Every reason code of the matching forbids (source order).
    pub reasons: Vec<String>,
    /// The version of the policy set that decided.
    pub version: String,
}

/// Type names, parsed once.
#[derive(Debug)]
struct Types {
    employee: EntityTypeName,
    service: EntityTypeName,
    station: EntityTypeName,
    shipment: EntityTypeName,
    reveal: EntityUid,
}

impl Types {
    fn new() -> Result<Self, PolicyError> {
        let name =
            |s: &str| EntityTypeName::from_str(s).map_err(|e| PolicyError::Schema(e.to_string()));
        Ok(Self {
            employee: name("Parcel::Employee")?,
            service: name("Parcel::Service")?,
            station: name("Parcel::Station")?,
            shipment: name("Parcel::Shipment")?,
            reveal: EntityUid::from_type_name_and_id(
                name("Parcel::Action")?,
                EntityId::new("reveal"),
            ),
        })
    }

    fn uid(t: &EntityTypeName, id: &str) -> EntityUid {
        EntityUid::from_type_name_and_id(t.clone(), EntityId::new(id))
    }
}

/// The roles a policy can apply to, when its first condition says so: a
/// `when` clause whose leftmost conjunct is `principal.role == "R"` or
/// `[…].contains(principal.role)`. For any other role that conjunct is
/// false, and `&&` stops there, so the policy is neither satisfied nor in
/// error: leaving it out of that role's set changes no decision and no
/// policy named in one. `None`: any role.
fn policy_roles(policy: &cedar_policy::Policy) -> Option<HashSet<String>> {
    let json = policy.to_json().ok()?;
    let first = json.get("conditions")?.as_array()?.first()?;
    if first.get("kind")?.as_str()? != "when" {
        return None;
    }
    let mut e = first.get("body")?;
    while let Some(and) = e.get("&&") {
        e = and.get("left")?;
    }
    let is_role = |v: &serde_json::Value| {
        v.get(".").is_some_and(|d| {
            d.get("attr").and_then(|a| a.as_str()) == Some("role")
                && d.get("left")
                    .and_then(|l| l.get("Var"))
                    .and_then(|v| v.as_str())
                    == Some("principal")
        })
    };
    let literal =
        |v: &serde_json::Value| v.get("Value").and_then(|v| v.as_str()).map(str::to_owned);
    if let Some(eq) = e.get("==") {
        let (l, r) = (eq.get("left")?, eq.get("right")?);
        if is_role(l) {
            return literal(r).map(|r| HashSet::from([r]));
        }
        if is_role(r) {
            return literal(l).map(|l| HashSet::from([l]));
        }
        return None;
    }
    if let Some(c) = e.get("contains") {
        if !is_role(c.get("right")?) {
            return None;
        }
        return c
            .get("left")?
            .get("Set")?
            .as_array()?
            .iter()
            .map(literal)
            .collect();
    }
    None
}

/// Each role some policy names, with the policies that can apply to it
/// ([`policy_roles`]): a decision evaluates only those.
fn role_sets(set: &PolicySet) -> Result<HashMap<String, PolicySet>, PolicyError> {
    let fixed: Vec<(&cedar_policy::Policy, Option<HashSet<String>>)> =
        set.policies().map(|p| (p, policy_roles(p))).collect();
    let roles: HashSet<&String> = fixed
        .iter()
        .filter_map(|(_, r)| r.as_ref())
        .flatten()
        .collect();
    let mut out = HashMap::new();
    for role in roles {
        let subset = fixed
            .iter()
            .filter(|(_, r)| r.as_ref().is_none_or(|r| r.contains(role)))
            .map(|(p, _)| (*p).clone());
        let subset = PolicySet::from_policies(subset).map_err(|e| {
            PolicyError::Invalid(vec![Problem {
                file: String::new(),
                line: 0,
                column: 0,
                policy: None,
                message: format!("the policies for role {role}: {e}"),
            }])
        })?;
        out.insert(role.clone(), subset);
    }
    Ok(out)
}

/// The decision point: the current policy set, replaceable at any time.
#[derive(Debug)]
pub struct Engine {
    current: RwLock<Arc<Policies>>,
    authorizer: Authorizer,
    types: Types,
}

impl Engine {
    /// An engine deciding with `policies`.
    pub fn new(policies: Policies) -> Result<Self, PolicyError> {
        Ok(Self {
            current: RwLock::new(Arc::new(policies)),
            authorizer: Authorizer::new(),
            types: Types::new()?,
        })
    }

    /// The policy set in force.
    pub fn policies(&self) -> Arc<Policies> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Puts `policies` in force for every later decision; returns the
    /// version replaced.
    pub fn replace(&self, policies: Policies) -> String {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        let old = current.version.clone();
        *current = Arc::new(policies);
        old
    }

    fn entities(&self, r: &RevealRequest) -> Result<(EntityUid, EntityUid, Vec<Entity>), String> {
        let t = &self.types;
        let s = |v: &str| RestrictedExpression::new_string(v.to_owned());
        let p = &r.principal;
        let mut pattrs = HashMap::from([
            ("role".to_owned(), s(&p.role)),
            ("status".to_owned(), s(&p.status)),
        ]);
        let ptype = match p.kind {
            PrincipalKind::Employee => {
                if let Some(st) = &p.station {
                    pattrs.insert(
                        "station".to_owned(),
                        RestrictedExpression::new_entity_uid(Types::uid(&t.station, st)),
                    );
                }
                &t.employee
            }
            PrincipalKind::Service => &t.service,
        };
        let puid = Types::uid(ptype, &p.id);
        let sh = &r.shipment;
        let mut sattrs = HashMap::from([
            ("carrier".to_owned(), s(&sh.carrier)),
            ("status".to_owned(), s(&sh.status)),
            (
                "sender_erased".to_owned(),
                RestrictedExpression::new_bool(sh.sender_erased),
            ),
            (
                "recipient_erased".to_owned(),
                RestrictedExpression::new_bool(sh.recipient_erased),
            ),
        ]);
        if let Some(c) = &sh.courier {
            sattrs.insert(
                "courier".to_owned(),
                RestrictedExpression::new_entity_uid(Types::uid(&t.employee, c)),
            );
        }
        for (key, station) in [
            ("origin_station", &sh.origin_station),
            ("destination_station", &sh.destination_station),
        ] {
            if let Some(st) = station {
                sattrs.insert(
                    key.to_owned(),
                    RestrictedExpression::new_entity_uid(Types::uid(&t.station, st)),
                );
            }
        }
        if let Some((start, end)) = sh.window {
            sattrs.insert(
                "window_start".to_owned(),
                RestrictedExpression::new_long(start),
            );
            sattrs.insert("window_end".to_owned(), RestrictedExpression::new_long(end));
        }
        for (key, v) in [
            ("out_for_delivery_at", sh.out_for_delivery_at),
            ("closed_at", sh.closed_at),
        ] {
            if let Some(v) = v {
                sattrs.insert(key.to_owned(), RestrictedExpression::new_long(v));
            }
        }
        let suid = Types::uid(&t.shipment, &sh.waybill_no);
        let principal =
            Entity::new(puid.clone(), pattrs, HashSet::new()).map_err(|e| e.to_string())?;
        let shipment =
            Entity::new(suid.clone(), sattrs, HashSet::new()).map_err(|e| e.to_string())?;
        Ok((puid, suid, vec![principal, shipment]))
    }

    fn context(r: &RevealFacts) -> Result<Context, String> {
        let s = |v: &str| RestrictedExpression::new_string(v.to_owned());
        let mut pairs = vec![
            ("party".to_owned(), s(&r.party)),
            ("field".to_owned(), s(&r.field)),
            ("purpose".to_owned(), s(&r.purpose)),
            ("now".to_owned(), RestrictedExpression::new_long(r.now)),
            (
                "grace_secs".to_owned(),
                RestrictedExpression::new_long(r.grace_secs),
            ),
            (
                "ticket_bound".to_owned(),
                RestrictedExpression::new_bool(r.ticket_bound),
            ),
            (
                "break_glass".to_owned(),
                RestrictedExpression::new_bool(r.break_glass),
            ),
        ];
        if let Some(t) = &r.ticket_id {
            pairs.push(("ticket_id".to_owned(), s(t)));
        }
        if let Some(d) = &r.device_id {
            pairs.push(("device_id".to_owned(), s(d)));
        }
        Context::from_pairs(pairs).map_err(|e| e.to_string())
    }

    /// Builds the Cedar request and entities for `r`, validated against the
    /// schema (tests use this to prove the hot path builds what the schema
    /// says).
    pub fn check_request(&self, r: &RevealRequest) -> Result<(), PolicyError> {
        let schema = schema()?;
        let (p, s, entities) = self.entities(r).map_err(PolicyError::Request)?;
        Entities::from_entities(entities, Some(schema))
            .map_err(|e| PolicyError::Request(e.to_string()))?;
        let context = Self::context(&r.reveal).map_err(PolicyError::Request)?;
        Request::new(p, self.types.reveal.clone(), s, context, Some(schema))
            .map_err(|e| PolicyError::Request(e.to_string()))?;
        Ok(())
    }

    /// Decides one reveal request with the policy set in force.
    pub fn decide(&self, r: &RevealRequest) -> Result<Decision, PolicyError> {
        let policies = self.policies();
        // Entities and request skip schema checks here: the policies were
        // validated strictly against the schema and `check_request` (tested)
        // shows these builders produce what the schema describes.
        let (p, s, entities) = self.entities(r).map_err(PolicyError::Request)?;
        let entities = Entities::from_entities(entities, None)
            .map_err(|e| PolicyError::Request(e.to_string()))?;
        let context = Self::context(&r.reveal).map_err(PolicyError::Request)?;
        let request = Request::new(p, self.types.reveal.clone(), s, context, None)
            .map_err(|e| PolicyError::Request(e.to_string()))?;
        let set = policies
            .by_role
            .get(&r.principal.role)
            .unwrap_or(&policies.set);
        let response = self.authorizer.is_authorized(&request, set, &entities);
        let by_order = |ids: &mut Vec<String>| {
            ids.sort_by_key(|id| policies.order.get(id).copied().unwrap_or(usize::MAX));
        };
        let errors: Vec<String> = response
            .diagnostics()
            .errors()
            .map(|e| match e {
                cedar_policy::AuthorizationError::PolicyEvaluationError(e) => {
                    e.policy_id().to_string()
                }
            })
            .collect();
        let mut matched: Vec<String> = response
            .diagnostics()
            .reason()
            .map(ToString::to_string)
            .collect();
        by_order(&mut matched);
        let version = policies.version.clone();
        if !errors.is_empty() {
            // Cedar skips a policy that errors; for a forbid that would mean
            // allowing what it should stop, so any error denies.
            let mut errors = errors;
            by_order(&mut errors);
            return Ok(Decision {
                allowed: false,
                reason: Some(POLICY_ERROR.to_owned()),
                policies: errors,
                reasons: vec![POLICY_ERROR.to_owned()],
                version,
            });
        }
        if response.decision() == cedar_policy::Decision::Allow {
            return Ok(Decision {
                allowed: true,
                reason: None,
                policies: matched,
                reasons: Vec::new(),
                version,
            });
        }
        let reasons: Vec<String> = matched
            .iter()
            .filter_map(|id| policies.reasons.get(id).cloned())
            .collect();
        Ok(Decision {
            allowed: false,
            reason: Some(
                reasons
                    .first()
                    .cloned()
                    .unwrap_or_else(|| DEFAULT_DENY.to_owned()),
            ),
            policies: matched,
            reasons,
            version,
        })
    }
}

#[cfg(test)]
mod tests;
