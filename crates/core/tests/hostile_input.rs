//! Hostile input against the readers and the validator (issue 12): every case is
//! an error that names the problem, or a valid instance — never a panic, a wrapped
//! sum or an allocation proportional to a number written in the file.

use std::path::PathBuf;

use powerslot_core::formats::{native, patterson, psplib};
use powerslot_core::limits::{MAX_AMOUNT, MAX_HORIZON};
use powerslot_core::{Instance, ReadError, Schedule, Violation, read_instance, validate};
use proptest::prelude::*;

fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("powerslot-core-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn read_err(name: &str, bytes: &[u8]) -> String {
    read_instance(&write(name, bytes)).unwrap_err().to_string()
}

fn json(text: &str) -> Result<Instance, String> {
    let spec = native::parse(text, "t").map_err(|e| e.message)?;
    Instance::new(spec).map_err(|e| e.to_string())
}

#[test]
fn power_that_would_wrap_an_i64_is_refused_with_the_limit() {
    let e = json(
        r#"{"capacity_mw": 4611686018427387904, "devices": [
        {"id": "a", "power_mw": 4611686018427387904, "duration_slots": 1}]}"#,
    )
    .map(|_| ())
    .unwrap_err();
    assert!(e.contains("above the largest supported amount"), "{e}");
    let e = json(
        r#"{"capacity_mw": 1000, "devices": [
        {"id": "a", "power_mw": 4611686018427387904, "duration_slots": 1}]}"#,
    )
    .map(|_| ())
    .unwrap_err();
    assert!(e.contains("'a' draws") && e.contains("1 GW"), "{e}");
}

#[test]
fn the_validator_is_exact_at_the_largest_amounts() {
    // Two devices at the largest power in one slot under that capacity: 2·10¹² > 10¹².
    let text = format!(
        r#"{{"capacity_mw": {MAX_AMOUNT}, "devices": [
        {{"id": "a", "power_mw": {MAX_AMOUNT}, "duration_slots": 1}},
        {{"id": "b", "power_mw": {MAX_AMOUNT}, "duration_slots": 1}}]}}"#
    );
    let inst = json(&text).unwrap();
    let e = validate(&inst, &Schedule::new(vec![0, 0]))
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(e, Violation::Capacity { slot: 0, .. }), "{e}");
    validate(&inst, &Schedule::new(vec![0, 1])).unwrap();
}

#[test]
fn starts_past_the_horizon_are_violations_not_wrapped_indices() {
    let inst = json(
        r#"{"capacity_mw": 5000, "devices": [
        {"id": "a", "power_mw": 3000, "duration_slots": 2},
        {"id": "b", "power_mw": 3000, "duration_slots": 2}]}"#,
    )
    .unwrap();
    for start in [u32::MAX, u32::MAX - 1, 100_000_000, MAX_HORIZON - 1] {
        let e = validate(&inst, &Schedule::new(vec![start, 0]))
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(e, Violation::BeyondHorizon { .. }), "{start}: {e}");
        assert!(e.to_string().contains("4,194,304"), "{e}");
    }
    // Far apart but within the horizon: checked from events, no per-slot vector.
    validate(&inst, &Schedule::new(vec![MAX_HORIZON - 2, 0])).unwrap();
    let e = validate(&inst, &Schedule::new(vec![1, 0]))
        .map(|_| ())
        .unwrap_err();
    assert!(
        matches!(
            e,
            Violation::Capacity {
                slot: 1,
                used: 6000,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn a_release_far_out_is_refused_with_the_horizon() {
    let e = json(
        r#"{"capacity_mw": 5000, "devices": [
        {"id": "a", "power_mw": 3000, "duration_slots": 2, "release_slot": 1000000000}]}"#,
    )
    .map(|_| ())
    .unwrap_err();
    assert!(
        e.contains("'a' is released at slot 1,000,000,000") && e.contains("4,194,304 slots"),
        "{e}"
    );
    let e = json(
        r#"{"capacity_mw": 5000, "devices": [
        {"id": "a", "power_mw": 3000, "duration_slots": 3000000},
        {"id": "b", "power_mw": 3000, "duration_slots": 3000000, "predecessors": ["a"]}]}"#,
    )
    .map(|_| ())
    .unwrap_err();
    assert!(e.contains("'b' cannot finish before slot 6,000,000"), "{e}");
}

#[test]
fn profile_errors_name_the_key_and_the_accepted_forms() {
    let e = json(r#"{"budget_mw": "x", "devices": []}"#)
        .map(|_| ())
        .unwrap_err();
    assert!(e.contains("`budget_mw`"), "{e}");
    assert!(
        e.contains("a list of per-slot values") && e.contains("\"after\""),
        "{e}"
    );
    assert!(!e.contains("untagged"), "{e}");
    let e = json(r#"{"capacity_mw": {"values": [1], "afterwards": "hold"}, "devices": []}"#)
        .map(|_| ())
        .unwrap_err();
    assert!(e.contains("unknown key `afterwards`"), "{e}");
    let e = json(r#"{"capacity_mw": [1, 2.5], "devices": []}"#)
        .map(|_| ())
        .unwrap_err();
    assert!(e.contains("2.5 is not a whole number"), "{e}");
    // Whole numbers with an exponent are fine.
    json(r#"{"capacity_mw": 2e6, "devices": []}"#).unwrap();
}

#[test]
fn a_byte_order_mark_is_accepted_by_every_format() {
    let bom = b"\xef\xbb\xbf";
    let with = |body: &[u8]| [bom.as_slice(), body].concat();
    let j = br#"{"capacity_mw": 5, "devices": [{"id": "a", "power_mw": 1, "duration_slots": 1}]}"#;
    assert_eq!(read_instance(&write("b.json", &with(j))).unwrap().len(), 1);
    let rcp = b"3 1\n5\n0 0 1 2\n3 1 1 3\n0 0 0\n";
    assert_eq!(read_instance(&write("b.rcp", &with(rcp))).unwrap().len(), 1);
}

#[test]
fn a_cycle_through_zero_duration_jobs_is_named() {
    // Jobs 1 and 2 last zero slots and precede each other.
    let e = read_err("c.rcp", b"3 1\n5\n0 0 1 2\n0 0 1 1\n3 1 0\n");
    assert!(
        e.contains("cycle") && e.contains("job 1") && e.contains("job 2"),
        "{e}"
    );
    // Through a real job and a dummy.
    let e = read_err("d.rcp", b"3 1\n5\n0 0 1 2\n3 1 1 1\n0 0 0\n");
    assert!(e.contains("cycle"), "{e}");
}

#[test]
fn a_duration_beyond_u32_is_not_cut_short() {
    let e = read_err("big.rcp", b"2 1\n5\n4294967297 1 0\n1 1 0\n");
    assert!(
        e.contains("4294967297") && e.contains("more than a slot number"),
        "{e}"
    );
    let e = read_err("big2.rcp", b"2 1\n5\n4194305 1 0\n1 1 0\n");
    assert!(e.contains("beyond the longest supported horizon"), "{e}");
}

#[test]
fn announced_counts_are_checked_before_allocating() {
    let e = read_err(
        "huge.sm",
        b"jobs (incl. supersource/sink ):  1000000000000\n- renewable : 1 R\n",
    );
    assert!(e.contains("at most 100,000 are supported"), "{e}");
    let e = read_err(
        "huge2.sm",
        b"jobs (incl. supersource/sink ):  50000\n- renewable : 1 R\n",
    );
    assert!(e.contains("has only 2 lines"), "{e}");
    let e = read_err("huge.rcp", b"1000000000000 1\n5\n");
    assert!(e.contains("at most 100,000 are supported"), "{e}");
    let e = read_err("huge2.rcp", b"90000 1\n5\n1 1 0\n");
    assert!(e.contains("holds only"), "{e}");
    let e = read_err("many.rcp", b"1 100000\n");
    assert!(e.contains("at most 64 are supported"), "{e}");
}

#[test]
fn huge_tokens_are_not_echoed() {
    let long = "9".repeat(100_000);
    let e = read_err(
        "long.rcp",
        format!("2 1\n5\n{long} 1 0\n1 1 0\n").as_bytes(),
    );
    assert!(e.len() < 300, "{} characters", e.len());
    let cell = "x".repeat(1_000_000);
    let text = format!(r#"{{"capacity_mw": "{cell}", "devices": []}}"#);
    let e = json(&text).map(|_| ()).unwrap_err();
    assert!(e.len() < 600 && e.contains("capacity_mw"), "{e}");
    let text = format!(
        r#"{{"capacity_mw": 5, "devices": [{{"id": "{cell}", "power_mw": 1, "duration_slots": 1}}]}}"#
    );
    let e = json(&text).map(|_| ()).unwrap_err();
    assert!(e.len() < 300 && e.contains("1,000,000 characters"), "{e}");
}

#[test]
fn a_period_that_cannot_be_combined_exactly_is_an_error() {
    // lcm(1999, 2003) = 4,003,997 slots plus 200,000 settling ones > 2²².
    let budget: Vec<String> = (0..1999).map(|i| (10_000 + i).to_string()).collect();
    let base: Vec<String> = (0..2003).map(|i| (i % 7).to_string()).collect();
    let pad = vec!["9000"; 200_000].join(",");
    let text = format!(
        r#"{{"budget_mw": {{"values": [{pad},{}], "after": "repeat", "period": 1999}},
           "baseline_mw": {{"values": [{}], "after": "repeat"}}, "devices": []}}"#,
        budget.join(","),
        base.join(",")
    );
    let e = json(&text).map(|_| ()).unwrap_err();
    assert!(
        e.contains("budget_mw − baseline_mw") && e.contains("longest supported horizon"),
        "{e}"
    );
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,200}",
        proptest::collection::vec(
            prop_oneof![
                Just("jobs (incl. supersource/sink ):".to_string()),
                Just("- renewable : ".to_string()),
                Just("PRECEDENCE RELATIONS:\n".to_string()),
                Just("REQUESTS/DURATIONS:\n".to_string()),
                Just("RESOURCEAVAILABILITIES:\n".to_string()),
                Just("------\n".to_string()),
                Just("\n".to_string()),
                Just(" ".to_string()),
                (0u64..6).prop_map(|n| n.to_string()),
                any::<i64>().prop_map(|n| n.to_string()),
                any::<u64>().prop_map(|n| n.to_string()),
                Just("4294967297".to_string()),
            ],
            0..60,
        )
        .prop_map(|v| v.concat()),
    ]
}

/// A JSON document in the native shape with hostile values.
fn any_native() -> impl Strategy<Value = String> {
    let number = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        (0i64..10_000).prop_map(|n| n.to_string()),
        Just("1e400".to_string()),
        Just("-0".to_string()),
        Just("2.5".to_string()),
        Just("\"7\"".to_string()),
        Just("null".to_string()),
        Just("18446744073709551616".to_string()),
    ];
    let profile = prop_oneof![
        number.clone(),
        proptest::collection::vec(number.clone(), 0..5).prop_map(|v| format!("[{}]", v.join(","))),
        (
            proptest::collection::vec(number.clone(), 0..5),
            prop_oneof![Just("hold"), Just("repeat"), Just("x")],
            number.clone()
        )
            .prop_map(|(v, a, p)| format!(
                r#"{{"values": [{}], "after": "{a}", "period": {p}}}"#,
                v.join(",")
            )),
    ];
    let device = (0u8..4, number.clone(), number.clone(), number.clone(), proptest::option::of(0u8..4))
        .prop_map(|(id, p, d, r, pred)| {
            let pred = pred.map_or(String::new(), |q| format!(r#", "predecessors": ["d{q}"]"#));
            format!(r#"{{"id": "d{id}", "power_mw": {p}, "duration_slots": {d}, "release_slot": {r}{pred}}}"#)
        });
    (
        profile.clone(),
        proptest::option::of(profile),
        proptest::collection::vec(device, 0..5),
    )
        .prop_map(|(budget, baseline, devices)| {
            let baseline = baseline.map_or(String::new(), |b| format!(r#", "baseline_mw": {b}"#));
            format!(
                r#"{{"budget_mw": {budget}{baseline}, "devices": [{}]}}"#,
                devices.join(",")
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn readers_never_panic_on_arbitrary_text(text in any_text(), bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
        for t in [text.as_str(), &String::from_utf8_lossy(&bytes)] {
            for spec in [psplib::parse(t, "x").ok(), patterson::parse(t, "x").ok(), native::parse(t, "x").ok()].into_iter().flatten() {
                if let Ok(inst) = Instance::new(spec) {
                    // A valid instance: validating a trivial schedule must not panic either.
                    let _ = validate(&inst, &Schedule::new(vec![0; inst.len()]));
                }
            }
        }
    }

    #[test]
    fn native_documents_give_an_error_or_a_valid_instance(text in any_native(), starts in proptest::collection::vec(any::<u32>(), 0..5)) {
        match native::parse(&text, "x") {
            Err(e) => prop_assert!(!e.message.is_empty() && e.message.len() < 600),
            Ok(spec) => {
                if let Ok(inst) = Instance::new(spec) {
                    let _ = validate(&inst, &Schedule::new(starts));
                }
            }
        }
    }
}

#[test]
fn read_errors_carry_the_file() {
    let e = read_instance(&write("x.json", b"{"))
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(e, ReadError::Syntax { .. }));
    assert!(e.to_string().contains("x.json"), "{e}");
}
