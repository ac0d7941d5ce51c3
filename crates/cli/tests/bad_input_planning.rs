//! Bad input to `plan`, `plot`, `bench` and `paper`, through the real binary: every
//! case ends with exit code 2 and one `error:` line naming the input and the problem.

mod common;

use common::{Files, case, check_all, run};

const TINY: &str = r#"{"capacity_mw": 5000, "devices": [
 {"id": "a", "power_mw": 3000, "duration_slots": 2},
 {"id": "b", "power_mw": 3000, "duration_slots": 2}]}"#;

/// Instance files for the cases, each named after what is wrong with it.
fn instances(f: &Files) {
    f.write("tiny.json", TINY);
    f.write("empty.json", "");
    f.write(
        "truncated.json",
        r#"{"capacity_mw": 5000, "devices": [{"id": "a", "#,
    );
    f.write("nan.json", r#"{"capacity_mw": NaN, "devices": []}"#);
    f.write("inf.json", r#"{"capacity_mw": 1e400, "devices": []}"#);
    f.write(
        "float.json",
        r#"{"capacity_mw": [5000, 2.5], "devices": []}"#,
    );
    f.write("untagged.json", r#"{"budget_mw": "x", "devices": []}"#);
    f.write(
        "profile_key.json",
        r#"{"capacity_mw": {"values": [1], "afterwards": "hold"}, "devices": []}"#,
    );
    f.write(
        "after.json",
        r#"{"capacity_mw": {"values": [1], "after": "sometimes"}, "devices": []}"#,
    );
    f.write(
        "period.json",
        r#"{"capacity_mw": {"values": [1, 2], "after": "repeat", "period": 3}, "devices": []}"#,
    );
    f.write(
        "negative_cap.json",
        r#"{"capacity_mw": [5, -1], "devices": []}"#,
    );
    f.write(
        "huge_cap.json",
        r#"{"capacity_mw": 4611686018427387904, "devices": []}"#,
    );
    f.write("huge_power.json", r#"{"capacity_mw": 5000, "devices": [{"id": "a", "power_mw": 4611686018427387904, "duration_slots": 1}]}"#);
    f.write(
        "neg_power.json",
        r#"{"capacity_mw": 5000, "devices": [{"id": "a", "power_mw": -5, "duration_slots": 1}]}"#,
    );
    f.write(
        "typo.json",
        r#"{"capacity_mw": 5000, "devices": [{"id": "a", "powr_mw": 5, "duration_slots": 1}]}"#,
    );
    f.write("text_power.json", r#"{"capacity_mw": 5000, "devices": [{"id": "a", "power_mw": "lots", "duration_slots": 1}]}"#);
    f.write("release.json", r#"{"capacity_mw": 5000, "devices": [{"id": "a", "power_mw": 3000, "duration_slots": 2, "release_slot": 1000000000}]}"#);
    f.write("deadline.json", r#"{"capacity_mw": 5000, "devices": [{"id": "a", "power_mw": 3000, "duration_slots": 2, "deadline_slot": 4000000000}]}"#);
    f.write("window.json", r#"{"capacity_mw": 5000, "devices": [{"id": "a", "power_mw": 3000, "duration_slots": 5, "release_slot": 4, "deadline_slot": 6}]}"#);
    f.write(
        "zero.json",
        r#"{"capacity_mw": 5000, "devices": [{"id": "a", "power_mw": 3000, "duration_slots": 0}]}"#,
    );
    f.write("dur_u32.json", r#"{"capacity_mw": 5000, "devices": [{"id": "a", "power_mw": 3000, "duration_slots": 4294967297}]}"#);
    f.write(
        "cycle.json",
        r#"{"capacity_mw": 5000, "devices": [
        {"id": "a", "power_mw": 1, "duration_slots": 1, "predecessors": ["b"]},
        {"id": "b", "power_mw": 1, "duration_slots": 1, "predecessors": ["a"]}]}"#,
    );
    f.write("unknown_pred.json", r#"{"capacity_mw": 5000, "devices": [{"id": "a", "power_mw": 1, "duration_slots": 1, "predecessors": ["wahser"]}]}"#);
    f.write("dup.json", r#"{"capacity_mw": 5000, "devices": [{"id": "a", "power_mw": 1, "duration_slots": 1}, {"id": "a", "power_mw": 1, "duration_slots": 1}]}"#);
    f.write(
        "empty_id.json",
        r#"{"capacity_mw": 5000, "devices": [{"id": "", "power_mw": 1, "duration_slots": 1}]}"#,
    );
    let long_id = "x".repeat(1_000_000);
    f.write("long_id.json", format!(r#"{{"capacity_mw": 5000, "devices": [{{"id": "{long_id}", "power_mw": 1, "duration_slots": 1}}]}}"#));
    let long_cell = "y".repeat(5_000_000);
    f.write(
        "long_cell.json",
        format!(r#"{{"capacity_mw": "{long_cell}", "devices": []}}"#),
    );
    f.write("above.json", r#"{"capacity_mw": 5000, "devices": [{"id": "heater", "power_mw": 9000, "duration_slots": 1}]}"#);
    f.write("never.json", r#"{"capacity_mw": {"values": [0, 10, 10, 0, 0, 0], "after": "repeat"}, "devices": [{"id": "pump", "power_mw": 10, "duration_slots": 3}]}"#);
    f.write(
        "slot0.json",
        r#"{"slot_seconds": 0, "capacity_mw": 5000, "devices": []}"#,
    );
    f.write(
        "baseline_only.json",
        r#"{"baseline_mw": 5000, "devices": []}"#,
    );
    f.write(
        "both.json",
        r#"{"budget_mw": 5000, "capacity_mw": 5000, "devices": []}"#,
    );
    f.write("no_budget.json", r#"{"devices": []}"#);
    f.write("lcm.json", {
        let a: Vec<String> = (0..1999).map(|i| (10_000 + i).to_string()).collect();
        let b: Vec<String> = (0..2003).map(|i| (i % 7).to_string()).collect();
        let pad = vec!["9000"; 200_000].join(",");
        format!(r#"{{"budget_mw": {{"values": [{pad},{}], "after": "repeat", "period": 1999}}, "baseline_mw": {{"values": [{}], "after": "repeat"}}, "devices": []}}"#, a.join(","), b.join(","))
    });
    f.write("runout.json", r#"{"capacity_mw": [5000, 5000, 1000], "devices": [
        {"id": "a", "power_mw": 5000, "duration_slots": 2}, {"id": "b", "power_mw": 5000, "duration_slots": 2}]}"#);
    f.write("runout_repeat.json", r#"{"capacity_mw": {"values": [5000, 5000, 1000, 0], "after": "repeat", "period": 2}, "devices": [
        {"id": "a", "power_mw": 5000, "duration_slots": 2}, {"id": "b", "power_mw": 5000, "duration_slots": 2}]}"#);
    let mut sparse = vec!["0"; 1_000_000];
    sparse[0] = "5000";
    let devices: Vec<String> = (0..20)
        .map(|i| format!(r#"{{"id": "d{i}", "power_mw": 3000, "duration_slots": 1}}"#))
        .collect();
    f.write(
        "sparse.json",
        format!(
            r#"{{"capacity_mw": {{"values": [{}], "after": "repeat"}}, "devices": [{}]}}"#,
            sparse.join(","),
            devices.join(",")
        ),
    );
    f.write("x.txt", "hello");
    f.write("binary.json", [0xffu8, 0xfe, 0x00, 0x01]);
    // PSPLIB .sm
    f.write("empty.sm", "");
    f.write(
        "huge.sm",
        "jobs (incl. supersource/sink ):  1000000000000\n- renewable : 1 R\n",
    );
    f.write(
        "short.sm",
        "jobs (incl. supersource/sink ):  5000\n- renewable : 1 R\n",
    );
    f.write(
        "nonrenew.sm",
        "jobs (incl. supersource/sink ):  2\n- renewable : 1 R\n- nonrenewable : 2 N\n",
    );
    f.write("truncated.sm", "jobs (incl. supersource/sink ):  4\n- renewable : 1 R\n- nonrenewable : 0 N\nPRECEDENCE RELATIONS:\njobnr. #modes #successors successors\n   1   1   2   2   3\n");
    // Patterson .rcp
    f.write("empty.rcp", "");
    f.write("truncated.rcp", "4 1\n3\n0 0 2 2\n");
    f.write("huge.rcp", "1000000000000 1\n5\n");
    f.write("claims.rcp", "90000 1\n5\n1 1 0\n");
    f.write("many_res.rcp", "1 100000\n");
    f.write("cycle.rcp", "3 1\n5\n0 0 1 2\n0 0 1 1\n3 1 0\n");
    f.write("dur.rcp", "2 1\n5\n4294967297 1 0\n1 1 0\n");
    f.write("negdur.rcp", "2 1\n5\n-3 1 0\n1 1 0\n");
    f.write("badsucc.rcp", "2 1\n5\n1 1 1 7\n1 1 0\n");
    f.write("word.rcp", "2 1\nfive\n1 1 0\n1 1 0\n");
    f.write("zero.rcp", "0 1\n");
    f.write(
        "long.rcp",
        format!("2 1\n5\n{} 1 0\n1 1 0\n", "9".repeat(200_000)),
    );
}

fn plan_cases() -> Vec<common::Case> {
    vec![
        case("plan missing.json", &["missing.json", "No such file"]),
        case("plan x.txt", &["x.txt", "unknown instance format"]),
        case("plan .", &["error"]),
        case("plan empty.json", &["empty.json", "EOF"]),
        case("plan truncated.json", &["truncated.json", "EOF"]),
        case("plan binary.json", &["binary.json"]),
        case("plan nan.json", &["nan.json", "expected value"]),
        case("plan inf.json", &["inf.json", "capacity_mw"]),
        case(
            "plan float.json",
            &["float.json", "2.5 is not a whole number"],
        ),
        case(
            "plan untagged.json",
            &[
                "untagged.json",
                "`budget_mw`",
                "a list of per-slot values",
                "\"after\"",
            ],
        ),
        case("plan profile_key.json", &["unknown key `afterwards`"]),
        case("plan after.json", &["after.json", "sometimes", "hold"]),
        case("plan period.json", &["repeat period 3"]),
        case(
            "plan negative_cap.json",
            &["capacity -1 at slot 1 is negative"],
        ),
        case(
            "plan huge_cap.json",
            &["above the largest supported amount", "1,000,000,000,000"],
        ),
        case(
            "plan huge_power.json",
            &["'a' draws 4611686018427387904 mW", "1 GW"],
        ),
        case("plan neg_power.json", &["'a' has negative power"]),
        case("plan typo.json", &["unknown field `powr_mw`"]),
        case("plan text_power.json", &["`power_mw`", "invalid type"]),
        case(
            "plan release.json",
            &["'a' is released at slot 1,000,000,000", "4,194,304"],
        ),
        case(
            "plan deadline.json",
            &["'a' has its deadline at slot 4,000,000,000"],
        ),
        case(
            "plan window.json",
            &["'a' is released at slot 4 and must finish by slot 6"],
        ),
        case("plan zero.json", &["'a' has duration 0"]),
        case("plan dur_u32.json", &["duration_slots", "4294967297"]),
        case("plan cycle.json", &["cycle", "'a'", "'b'"]),
        case("plan unknown_pred.json", &["'wahser'", "not a device"]),
        case("plan dup.json", &["'a' is used twice"]),
        case("plan empty_id.json", &["device #1 has an empty id"]),
        case(
            "plan long_id.json",
            &["1,000,000 characters", "at most 200"],
        ),
        case("plan long_cell.json", &["capacity_mw", "characters)"]),
        case(
            "plan above.json",
            &["'heater' needs 9000 mW", "never exceeds 5000 mW"],
        ),
        case("plan never.json", &["'pump' can never fit"]),
        case(
            "plan slot0.json",
            &["slot0.json", "the slot length must be at least 1 s"],
        ),
        case(
            "plan baseline_only.json",
            &["baseline_only.json", "a baseline is given without a budget"],
        ),
        case("plan both.json", &["not both"]),
        case("plan no_budget.json", &["no power budget"]),
        case(
            "plan lcm.json",
            &["budget_mw − baseline_mw", "longest supported horizon"],
        ),
        case(
            "plan runout.json",
            &["from slot 2 on, power holds at 1000 mW"],
        ),
        case(
            "plan runout_repeat.json --solver sgs",
            &["from slot 2 on", "repeats a pattern"],
        ),
        case(
            "plan sparse.json --schedules 10",
            &["within the longest supported horizon", "4,194,304"],
        ),
        case("plan empty.sm", &["empty.sm", "not a PSPLIB .sm file"]),
        case(
            "plan huge.sm",
            &["huge.sm:1", "at most 100,000 are supported"],
        ),
        case("plan short.sm", &["short.sm:1", "has only 2 lines"]),
        case(
            "plan nonrenew.sm",
            &["non-renewable resources are not supported"],
        ),
        case(
            "plan truncated.sm",
            &["truncated.sm", "file ends inside PRECEDENCE RELATIONS"],
        ),
        case(
            "plan empty.rcp",
            &[
                "empty.rcp",
                "file ends where the number of activities was expected",
            ],
        ),
        case("plan truncated.rcp", &["truncated.rcp", "holds only"]),
        case(
            "plan huge.rcp",
            &["huge.rcp:1", "at most 100,000 are supported"],
        ),
        case("plan claims.rcp", &["claims.rcp:1", "holds only"]),
        case("plan many_res.rcp", &["at most 64 are supported"]),
        case(
            "plan cycle.rcp",
            &["the precedences form a cycle", "job 1", "job 2"],
        ),
        case(
            "plan dur.rcp",
            &[
                "dur.rcp:3",
                "4294967297",
                "more than a slot number can hold",
            ],
        ),
        case("plan negdur.rcp", &["negative duration -3"]),
        case("plan badsucc.rcp", &["successor 7, which does not exist"]),
        case(
            "plan word.rcp",
            &["word.rcp:2", "expected a resource capacity, found 'five'"],
        ),
        case("plan zero.rcp", &["must be positive"]),
        case("plan long.rcp", &["long.rcp:3", "characters)"]),
        // Options, each named with its range.
        case(
            "plan tiny.json --time-limit 1e30",
            &["--time-limit", "at most 1e7"],
        ),
        case(
            "plan tiny.json --time-limit 0",
            &["--time-limit", "above 0"],
        ),
        case("plan tiny.json --time-limit -1", &["'-1'"]),
        case("plan tiny.json --time-limit NaN", &["--time-limit", "NaN"]),
        case("plan tiny.json --time-limit inf", &["--time-limit", "inf"]),
        case(
            "plan tiny.json --schedules 0",
            &["--schedules must be at least 1"],
        ),
        case("plan tiny.json --schedules -1", &["'-1'"]),
        case(
            "plan tiny.json --schedules 99999999999999999999",
            &["--schedules"],
        ),
        case(
            "plan tiny.json --threads 0",
            &["--threads must be at least 1"],
        ),
        case("plan tiny.json --solver bogus", &["bogus", "--solver"]),
        case(
            "plan tiny.json --solver aco-paper --ants 0",
            &["--ants must be between 1 and 1000000, got 0"],
        ),
        case(
            "plan tiny.json --solver aco-paper --rho 0",
            &["--rho must be between 0 and 1"],
        ),
        case(
            "plan tiny.json --solver aco-paper --rho 1.5",
            &["--rho", "1.5"],
        ),
        case(
            "plan tiny.json --solver aco-paper --rho NaN",
            &["--rho", "NaN"],
        ),
        case(
            "plan tiny.json --solver aco-paper --alpha 200",
            &["--alpha must be a number between 0 and 100, got 200"],
        ),
        case(
            "plan tiny.json --solver aco-paper --beta inf",
            &["--beta", "inf"],
        ),
        case(
            "plan tiny.json --solver aco-paper --iterations 0",
            &["--iterations must be at least 1"],
        ),
        case(
            // The output's folder is made when missing, but not inside a file.
            "plan tiny.json --out tiny.json/x.json",
            &["cannot create tiny.json"],
        ),
        case("plan tiny.json --seed -3", &["'-3'"]),
    ]
}

#[test]
fn plan_refuses_every_crafted_instance_and_option() {
    let f = Files::new();
    instances(&f);
    let n = check_all(f.path(), &plan_cases());
    assert!(n >= 70, "{n}");
}

/// Schedules for `plot`, each wrong in one way.
fn schedules(f: &Files) {
    f.write(
        "ok.json",
        r#"{"tasks": [{"id": "a", "start": 0}, {"id": "b", "start": 2}]}"#,
    );
    f.write(
        "wrap.json",
        r#"{"tasks": [{"id": "a", "start": 4294967295, "finish": 1}, {"id": "b", "start": 0}]}"#,
    );
    f.write(
        "far.json",
        r#"{"tasks": [{"id": "a", "start": 100000000}, {"id": "b", "start": 0}]}"#,
    );
    f.write(
        "together.json",
        r#"{"tasks": [{"id": "a", "start": 0}, {"id": "b", "start": 0}]}"#,
    );
    f.write("unknown.json", r#"{"tasks": [{"id": "c", "start": 0}]}"#);
    f.write(
        "twice.json",
        r#"{"tasks": [{"id": "a", "start": 0}, {"id": "a", "start": 1}]}"#,
    );
    f.write(
        "missing_task.json",
        r#"{"tasks": [{"id": "a", "start": 0}]}"#,
    );
    f.write(
        "bad_finish.json",
        r#"{"tasks": [{"id": "a", "start": 0, "finish": 7}, {"id": "b", "start": 2}]}"#,
    );
    f.write(
        "neg_start.json",
        r#"{"tasks": [{"id": "a", "start": -1}, {"id": "b", "start": 2}]}"#,
    );
    f.write(
        "obj_id.json",
        r#"{"tasks": [{"id": {"x": 1}, "start": 0}]}"#,
    );
    f.write("no_tasks.json", r#"{"makespan": 3}"#);
    f.write("not_json.json", "makespan 3");
    f.write("empty_sched.json", "");
    f.write("afile", "x");
}

#[test]
fn plot_refuses_every_crafted_schedule() {
    let f = Files::new();
    instances(&f);
    schedules(&f);
    let cases = vec![
        case("plot missing.json --instance tiny.json", &["missing.json"]),
        case("plot ok.json --instance missing.json", &["missing.json"]),
        case(
            "plot wrap.json --instance tiny.json",
            &["'a' starts at 4294967295 and finishes at 1"],
        ),
        case(
            "plot far.json --instance tiny.json",
            &[
                "'a' starts at slot 100000000",
                "beyond the longest supported horizon",
            ],
        ),
        case(
            "plot together.json --instance tiny.json",
            &["infeasible", "slot 0: power in use is 6000"],
        ),
        case(
            "plot unknown.json --instance tiny.json",
            &["unknown task id 'c'"],
        ),
        case(
            "plot twice.json --instance tiny.json",
            &["'a' is listed twice"],
        ),
        case(
            "plot missing_task.json --instance tiny.json",
            &["'b'", "no start"],
        ),
        case(
            "plot bad_finish.json --instance tiny.json",
            &["lasts 2 slots"],
        ),
        case(
            "plot neg_start.json --instance tiny.json",
            &["neg_start.json:1", "`start`"],
        ),
        case(
            "plot obj_id.json --instance tiny.json",
            &["neither a string nor a number"],
        ),
        case(
            "plot no_tasks.json --instance tiny.json",
            &["missing field `tasks`"],
        ),
        case(
            "plot not_json.json --instance tiny.json",
            &["not_json.json:1", "not the JSON object"],
        ),
        case(
            "plot empty_sched.json --instance tiny.json",
            &["empty_sched.json", "EOF"],
        ),
        case(
            "plot ok.json --instance huge_power.json",
            &["huge_power.json", "1 GW"],
        ),
        case(
            "plot ok.json --instance tiny.json --out afile/sub",
            &["cannot create", "afile/sub"],
        ),
    ];
    check_all(f.path(), &cases);
}

#[test]
fn bench_and_paper_refuse_bad_directories_and_options() {
    let f = Files::new();
    f.write("set/a.sm", "jobs (incl. supersource/sink ):  x\n");
    f.write("noset/readme.txt", "nothing");
    f.write("bounds_empty.csv", "");
    f.write("bounds_text.csv", "set,instance,cpm,lb,ub\nj30,a,1,two,3\n");
    f.write("bounds_cols.csv", "set,instance\nj30,a\n");
    let cases = vec![
        case(
            "bench psplib nowhere",
            &["cannot read the directory nowhere"],
        ),
        case("bench psplib noset", &["noset: no .sm files"]),
        case(
            "bench psplib set",
            &["a.sm:1", "expected the number of jobs, found 'x'"],
        ),
        case(
            "bench psplib set --threads 0",
            &["--threads must be at least 1"],
        ),
        case("bench psplib set --limit 0", &["--limit must be between 1"]),
        case(
            "bench psplib set --schedules 0",
            &["--schedules must be at least 1"],
        ),
        case("bench psplib set --time-limit 1e300", &["--time-limit"]),
        case(
            "bench psplib set --bounds bounds_empty.csv",
            &["bounds_empty.csv: the bounds file is empty"],
        ),
        case(
            "bench psplib set --bounds bounds_text.csv",
            &["bounds_text.csv:2", "'lb' is 'two'"],
        ),
        case(
            "bench psplib set --bounds bounds_cols.csv",
            &["bounds_cols.csv:1: no 'cpm' column"],
        ),
        case("bench psplib set --bounds nothere.csv", &["nothere.csv"]),
        case(
            "paper --runs 0 --no-figures",
            &["--runs must be between 1 and 10000, got 0"],
        ),
        case(
            "paper --runs 1000000000 --no-figures",
            &["--runs must be between 1 and 10000"],
        ),
        case(
            "paper --slot-minutes 7 --no-figures",
            &["--slot-minutes must divide a day", "got 7"],
        ),
        case(
            "paper --slot-minutes 0 --no-figures",
            &["--slot-minutes", "got 0"],
        ),
        case(
            "paper --ants 0 --no-figures",
            &["--ants must be between 1 and 10000"],
        ),
        case(
            "paper --best-schedules 0 --no-figures",
            &["--best-schedules must be between 1"],
        ),
        case(
            "paper --threads 0 --no-figures",
            &["--threads must be at least 1"],
        ),
        case("paper --runs -1", &["'-1'"]),
        case("nosuchcommand", &["nosuchcommand"]),
    ];
    check_all(f.path(), &cases);
}

#[test]
fn good_input_with_bom_crlf_and_too_many_threads_still_plans() {
    let f = Files::new();
    let crlf = TINY.replace('\n', "\r\n");
    f.write(
        "bom.json",
        [b"\xef\xbb\xbf".as_slice(), crlf.as_bytes()].concat(),
    );
    f.write(
        "bom.rcp",
        [
            b"\xef\xbb\xbf".as_slice(),
            b"3 1\r\n5\r\n0 0 1 2\r\n3 1 1 3\r\n0 0 0\r\n",
        ]
        .concat(),
    );
    let o = run(
        f.path(),
        &["plan", "bom.json", "--threads", "10000", "--json"],
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(
        o.stderr.contains("note: --threads 10000 is more than"),
        "{}",
        o.stderr
    );
    assert!(o.stdout.contains("\"makespan\":4"), "{}", o.stdout);
    let o = run(f.path(), &["plan", "bom.rcp"]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    // A schedule with a byte order mark plots too.
    let sched = r#"{"tasks": [{"id": "a", "start": 0}, {"id": "b", "start": 2}]}"#;
    f.write(
        "s.json",
        [b"\xef\xbb\xbf".as_slice(), sched.as_bytes()].concat(),
    );
    let o = run(
        f.path(),
        &["plot", "s.json", "--instance", "bom.json", "--out", "figs"],
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    // A time limit is honoured on a tiny instance with an open-ended planner.
    let o = run(
        f.path(),
        &[
            "plan",
            "bom.json",
            "--time-limit",
            "0.2",
            "--schedules",
            "1000000000",
        ],
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
}
