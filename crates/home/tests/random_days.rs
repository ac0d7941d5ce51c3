//! Random mixed days (blocks, interruptible loads with run rules, modulating loads, groups,
//! precedence, a battery): every plan either path returns passes the independent check, the
//! bound is below the plan, and the exact path warm-started from the heuristic never does worse.

use powerslot_home::{Day, Method, Options, Status, parse_day, plan_day, violations};
use proptest::prelude::*;

fn random_day(seed: u64, battery: bool) -> Day {
    let mut s = seed ^ 0x9e37_79b9_7f4a_7c15;
    let mut next = |m: u64| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s % m
    };
    let n = 16u64;
    let pv: Vec<String> = (0..n)
        .map(|t| {
            (if (4..12).contains(&t) {
                500 * next(7)
            } else {
                0
            })
            .to_string()
        })
        .collect();
    let base: Vec<String> = (0..n).map(|_| (200 + 100 * next(6)).to_string()).collect();
    let price: Vec<String> = (0..n).map(|_| format!("0.{}", 10 + next(20))).collect();
    let n_loads = 3 + next(4);
    let mut loads = Vec::new();
    for k in 0..n_loads {
        let steps = 1 + next(4);
        let start = next(n - steps);
        let end = (start + steps + next(6)).min(n);
        let power = 300 * (1 + next(8));
        let mut extra = String::new();
        let (semi, block) = match next(4) {
            0 => (false, false),
            1 => (true, false),
            _ => (true, true),
        };
        if semi && !block && next(2) == 0 {
            extra.push_str(&format!(
                r#", "max_starts": 2, "min_on_steps": {}"#,
                1 + next(steps)
            ));
        }
        if k > 0 && semi && next(4) == 0 {
            extra.push_str(r#", "after": ["L0"]"#);
        }
        loads.push(format!(
            r#"{{"name": "L{k}", "power_w": {power}, "steps": {steps}, "start": {start}, "end": {end},
                "semi_continuous": {semi}, "single_block": {block}{extra}}}"#
        ));
    }
    let groups = if n_loads > 3 && next(2) == 0 {
        r#"[{"loads": ["L1", "L2"], "mutual_exclusion": true}]"#
    } else {
        "[]"
    };
    let bat = if battery {
        r#"{"capacity_wh": 4000, "charge_w": 2000, "discharge_w": 2000, "eff_charge": 0.95,
            "eff_discharge": 0.95, "soc_min": 0.2, "soc_max": 0.95, "soc_init": 0.5, "soc_final": 0.5}"#
    } else {
        "null"
    };
    let text = format!(
        r#"{{"step_minutes": 30, "n_steps": {n}, "pv_w": [{}], "base_load_w": [{}],
            "import_price": [{}], "export_price": [{}], "grid_import_limit_w": {},
            "grid_export_limit_w": 6000, "battery": {bat}, "loads": [{}], "groups": {groups}}}"#,
        pv.join(","),
        base.join(","),
        price.join(","),
        vec!["0.05"; n as usize].join(","),
        3000 + 500 * next(8),
        loads.join(",")
    );
    parse_day(&text, "random").unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn every_plan_passes_the_check_and_exact_is_never_worse(seed in any::<u64>(), battery in any::<bool>()) {
        let day = random_day(seed, battery);
        let mut objectives = Vec::new();
        for method in [Method::Heuristic, Method::Auto] {
            let out = plan_day(&day, &Options { method, time_limit_s: 3.0, ..Options::default() }).unwrap();
            let dropped: Vec<usize> = out.dropped.iter().map(|n| day.load_index(n).unwrap()).collect();
            let v = violations(&day, &out.plan, &dropped);
            prop_assert!(v.is_empty(), "{:?}: {:?}", method, v);
            if out.status == Status::Infeasible {
                prop_assert!(out.binding.is_some());
                prop_assert!(!out.dropped.is_empty());
            } else {
                prop_assert!(out.bound <= out.objective + 1e-9);
                objectives.push(out.objective);
            }
        }
        if let [heuristic, auto] = objectives[..] {
            prop_assert!(auto <= heuristic + 1e-9, "auto {} > heuristic {}", auto, heuristic);
        }
    }
}
