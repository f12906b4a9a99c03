//! Tests of loading, validation errors with locations, decisions and the
//! case runner over the shipped cases.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

use super::*;

fn engine() -> Engine {
    Engine::new(Policies::builtin().unwrap()).unwrap()
}

const CASES: &str = include_str!("../../../policies/cases.toml");

#[test]
fn shipped_cases_all_pass_and_cover_every_reason() {
    let engine = engine();
    let results = cases::run(&engine, "policies/cases.toml", CASES).unwrap();
    assert!(results.len() >= 40, "{} cases", results.len());
    let failed: Vec<String> = results
        .iter()
        .filter(|r| !r.passed())
        .map(|r| format!("line {}: {}: got {:?}", r.line, r.name, r.decision))
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    // Every forbid's reason and the default deny are exercised.
    let policies = engine.policies();
    let mut wanted: HashSet<&str> = policies.reasons.values().map(String::as_str).collect();
    wanted.insert(DEFAULT_DENY);
    for r in &results {
        if let Some(reason) = &r.decision.reason {
            wanted.remove(reason.as_str());
        }
    }
    assert!(wanted.is_empty(), "reasons no case reaches: {wanted:?}");
    // And every permit allows at least once.
    let mut permits: HashSet<String> = policies
        .set
        .policies()
        .filter(|p| p.effect() == Effect::Permit)
        .map(|p| p.id().to_string())
        .collect();
    for r in results.iter().filter(|r| r.decision.allowed) {
        for p in &r.decision.policies {
            permits.remove(p);
        }
    }
    assert!(permits.is_empty(), "permits no case uses: {permits:?}");
}

#[test]
fn a_wrong_expectation_fails_its_case() {
    let text = CASES.replacen(
        "expect = \"allow\"",
        "expect = \"deny\"\nreason = \"not_assigned\"",
        1,
    );
    let results = cases::run(&engine(), "c.toml", &text).unwrap();
    assert!(!results[0].passed());
    assert!(results[0].line > 0);
}

#[test]
fn hot_path_builds_what_the_schema_describes() {
    let engine = engine();
    let results = cases::run(&engine, "c", CASES).unwrap();
    assert!(!results.is_empty());
    let parsed: toml::Table = toml::from_str(CASES).unwrap();
    assert!(parsed.contains_key("defaults"));
    let request = RevealRequest {
        principal: PrincipalFacts {
            kind: PrincipalKind::Employee,
            id: "E1".into(),
            role: "courier".into(),
            status: "active".into(),
            station: Some("S01".into()),
        },
        shipment: ShipmentFacts {
            waybill_no: "SF1".into(),
            carrier: "SF".into(),
            status: "out_for_delivery".into(),
            courier: Some("E1".into()),
            origin_station: Some("S0".into()),
            destination_station: Some("S1".into()),
            window: Some((1, 2)),
            out_for_delivery_at: Some(1),
            closed_at: Some(3),
            sender_erased: false,
            recipient_erased: true,
        },
        reveal: RevealFacts {
            party: "recipient".into(),
            field: "phone".into(),
            purpose: "pickup".into(),
            now: 5,
            grace_secs: 10,
            ticket_id: Some("T".into()),
            ticket_bound: true,
            device_id: Some("D".into()),
            break_glass: false,
        },
    };
    engine.check_request(&request).unwrap();
    let mut service = request.clone();
    service.principal.kind = PrincipalKind::Service;
    service.principal.station = None;
    engine.check_request(&service).unwrap();
}

#[test]
fn decisions_carry_the_version_and_change_on_replace() {
    let engine = engine();
    let results = cases::run(&engine, "c", CASES).unwrap();
    let v1 = results[0].decision.version.clone();
    assert!(v1.starts_with("ps-") && v1.len() == 15, "{v1}");
    // A set where couriers may not call anyone.
    let text = DEFAULT_POLICIES[0].1.to_owned()
        + "\n@id(\"no-calls\")\n@reason(\"calls_suspended\")\nforbid (principal, action, resource) when { context.field == \"phone\" };\n";
    let old = engine.replace(Policies::from_sources(vec![("r.cedar".into(), text)]).unwrap());
    assert_eq!(old, v1);
    let again = cases::run(&engine, "c", CASES).unwrap();
    assert_ne!(again[0].decision.version, v1);
    assert!(!again[0].decision.allowed);
    assert_eq!(again[0].decision.reason.as_deref(), Some("calls_suspended"));
}

fn problems(sources: &[(&str, &str)]) -> Vec<Problem> {
    match Policies::from_sources(
        sources
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect(),
    ) {
        Err(PolicyError::Invalid(p)) => p,
        other => panic!("expected problems, got {other:?}"),
    }
}

#[test]
fn bad_policies_are_reported_with_file_and_line() {
    // Syntax error on line 3.
    let p = problems(&[(
        "a.cedar",
        "@id(\"x\")\npermit (principal, action, resource)\nwhen { context.purpose == };\n",
    )]);
    assert_eq!(p[0].file, "a.cedar");
    assert_eq!(p[0].line, 3, "{p:?}");
    // Type error (a misspelt attribute) found by strict validation.
    let p = problems(&[(
        "b.cedar",
        "// header\n@id(\"typo\")\npermit (principal, action == Parcel::Action::\"reveal\", resource)\nwhen { context.purpse == \"pickup\" };\n",
    )]);
    assert_eq!(p[0].policy.as_deref(), Some("typo"));
    assert!(p[0].line >= 2, "{p:?}");
    assert!(p[0].to_string().starts_with("b.cedar:"), "{}", p[0]);
    // House rules.
    let p = problems(&[(
        "c.cedar",
        "permit (principal, action, resource);\n@id(\"f\")\nforbid (principal, action, resource);\n",
    )]);
    let text: Vec<String> = p.iter().map(ToString::to_string).collect();
    assert!(text.iter().any(|t| t.contains("@id")), "{text:?}");
    assert!(text.iter().any(|t| t.contains("@reason")), "{text:?}");
    let p = problems(&[
        (
            "d.cedar",
            "@id(\"dup\")\npermit (principal, action, resource);\n",
        ),
        (
            "e.cedar",
            "@id(\"dup\")\npermit (principal, action, resource);\n",
        ),
    ]);
    assert_eq!(p[0].file, "e.cedar");
    assert!(p[0].message.contains("twice"));
}

#[test]
fn bad_case_files_name_the_line() {
    let engine = engine();
    let err = cases::run(&engine, "x.toml", "[[case]]\nname = \"a\"\nexpect = \n").unwrap_err();
    assert!(err.to_string().starts_with("x.toml:3"), "{err}");
    let err = cases::run(
        &engine,
        "x.toml",
        "[defaults.principal]\nid = \"E1\"\nrole = \"courier\"\n[[case]]\nname = \"b\"\nexpect = \"maybe\"\n",
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("x.toml:5"), "{err}");
    let err = cases::run(
        &engine,
        "x.toml",
        "[[case]]\nname = \"c\"\nexpect = \"allow\"\n",
    )
    .unwrap_err();
    assert!(err.to_string().contains("case `c`"), "{err}");
}

proptest::proptest! {
    /// Whatever the facts, a decision is made (never an error or a panic),
    /// and an allow always names the permit behind it.
    #[test]
    fn any_facts_get_a_decision(
        role in proptest::sample::select(ROLES.to_vec()),
        party in proptest::sample::select(PARTIES.to_vec()),
        field in proptest::sample::select(FIELDS.to_vec()),
        purpose in proptest::sample::select(PURPOSES.to_vec()),
        status in proptest::sample::select(vec!["created", "picked_up", "in_transit", "out_for_delivery", "delivered", "returned"]),
        now in 0i64..10_000,
        assigned: bool,
        ticket in proptest::option::of(proptest::bool::ANY),
        break_glass: bool,
        erased: bool,
        window in proptest::option::of((0i64..5000, 0i64..5000)),
    ) {
        let engine = engine();
        let request = RevealRequest {
            principal: PrincipalFacts { kind: PrincipalKind::Employee, id: "E1".into(), role: role.into(), status: "active".into(), station: Some("S1".into()) },
            shipment: ShipmentFacts {
                waybill_no: "W".into(), carrier: "SF".into(), status: status.into(),
                courier: assigned.then(|| "E1".into()), origin_station: None, destination_station: Some("S1".into()),
                window, out_for_delivery_at: Some(100), closed_at: None, sender_erased: erased, recipient_erased: false,
            },
            reveal: RevealFacts { party: party.into(), field: field.into(), purpose: purpose.into(), now, grace_secs: 0,
                ticket_id: ticket.map(|_| "T".into()), ticket_bound: ticket.unwrap_or(false), device_id: None, break_glass },
        };
        let d = engine.decide(&request).unwrap();
        // The role's subset decides exactly as the whole set.
        let mut whole = Policies::builtin().unwrap();
        whole.by_role.clear();
        proptest::prop_assert_eq!(&Engine::new(whole).unwrap().decide(&request).unwrap(), &d);
        proptest::prop_assert!(d.reason.as_deref() != Some(POLICY_ERROR), "{d:?}");
        proptest::prop_assert_eq!(d.allowed, d.reason.is_none());
        if d.allowed {
            proptest::prop_assert!(!d.policies.is_empty());
            proptest::prop_assert!(role != "security_auditor");
            proptest::prop_assert!(!(role == "courier" && field == "id_number"));
        }
    }
}

#[test]
fn role_conditions_are_found_where_the_first_conjunct_fixes_the_role() {
    let policies = Policies::builtin().unwrap();
    let roles = |id: &str| {
        let p = policies
            .set
            .policies()
            .find(|p| p.id().to_string() == id)
            .unwrap();
        policy_roles(p).map(|r| {
            let mut r: Vec<String> = r.into_iter().collect();
            r.sort();
            r
        })
    };
    assert_eq!(
        roles("courier-delivery-contact"),
        Some(vec!["courier".into()])
    );
    assert_eq!(
        roles("ticket-required"),
        Some(vec!["admin".into(), "customer_service".into()])
    );
    assert_eq!(
        roles("security-auditor-never-reveals"),
        Some(vec!["security_auditor".into()])
    );
    // An `unless` first, or no role test first: every role.
    assert_eq!(roles("principal-not-active"), None);
    assert_eq!(roles("data-erased"), None);
    assert_eq!(roles("closed-after-grace"), None);
    // A courier's set leaves out the other roles' policies.
    let courier = &policies.by_role["courier"];
    assert!(courier.policies().count() < policies.set.policies().count());
    assert!(
        courier
            .policies()
            .all(|p| !p.id().to_string().starts_with("station-manager"))
    );
}

/// Every shipped case, as every role (and a role no policy names), decides
/// the same with the role's policy subset as with the whole set.
#[test]
fn role_subsets_decide_exactly_as_the_whole_set() {
    let subsets = engine();
    let mut whole = Policies::builtin().unwrap();
    whole.by_role.clear();
    let whole = Engine::new(whole).unwrap();
    let cases = cases::parse("cases.toml", CASES).unwrap();
    let roles = [
        "courier",
        "customer_service",
        "station_manager",
        "security_auditor",
        "admin",
        "service",
        "intern",
    ];
    let mut compared = 0;
    for case in &cases {
        for role in roles {
            let mut r = case.request.clone();
            r.principal.role = role.to_owned();
            let a = subsets.decide(&r).unwrap();
            let b = whole.decide(&r).unwrap();
            assert_eq!(
                format!("{a:?}"),
                format!("{b:?}"),
                "case {} as {role}",
                case.name
            );
            compared += 1;
        }
    }
    assert!(compared >= 40 * roles.len());
}
