//! The default predictor on every site, unit and clock: it must beat persistence and the paper's
//! WCMA on each, with no unit-specific setting, and clip nothing real.
//!
//! The shipped traces (`crates/harvest/data`) always run; PVDAQ system 15 and its variants need
//! `../shared/data` and say so when it is absent.

mod sites;

use std::sync::OnceLock;

use powerslot_harvest::predict::{Predictor, SlotSeries, default_for, evaluate};
use proptest::prelude::*;
use sites::Site;

/// The shipped traces, read once for all tests.
fn shipped() -> &'static [Site] {
    static SITES: OnceLock<Vec<Site>> = OnceLock::new();
    SITES.get_or_init(sites::shipped)
}

/// System 15 on its 15-minute grid, read once (`None` without the shared data).
fn system15() -> Option<&'static SlotSeries> {
    static TRACE: OnceLock<Option<SlotSeries>> = OnceLock::new();
    TRACE
        .get_or_init(|| {
            Some(sites::system15_path())
                .filter(|p| p.exists())
                .map(|p| sites::read(&p, "poa_irradiance_w_m2", 15).series)
        })
        .as_ref()
}

const PAPER_WCMA: Predictor = Predictor::Wcma {
    alpha: 0.7,
    days: 4,
    k: 3,
};

/// MAPE (%) of persistence, the paper's WCMA and the default, over slots above a tenth of the
/// trace's level.
fn mapes(s: &SlotSeries) -> [f64; 3] {
    let scores = evaluate(
        s,
        &[Predictor::Persistence, PAPER_WCMA, Predictor::DEFAULT],
        0.1 * s.level(),
    )
    .unwrap();
    assert!(scores[2].default && !scores[0].default && !scores[1].default);
    [scores[0].mape, scores[1].mape, scores[2].mape]
}

fn assert_default_wins(name: &str, s: &SlotSeries) -> [f64; 3] {
    let [persistence, wcma, default] = mapes(s);
    eprintln!("{name}: persistence {persistence:.2} %, WCMA {wcma:.2} %, default {default:.2} %");
    assert!(
        default < persistence && default < wcma,
        "{name}: default {default:.2} % against persistence {persistence:.2} % and WCMA {wcma:.2} %"
    );
    [persistence, wcma, default]
}

/// A US-style daylight-saving clock and a one-hour time-zone change on PVDAQ system 50's own
/// (already shifting) clock: the issue's second system.
#[test]
fn the_issues_second_system_inverter_watts_on_a_moving_clock() {
    let site = &shipped()[0];
    let t = &site.trace;
    assert_eq!(t.summary.clipped, 0, "{}", t.summary.clip_rule);
    assert_eq!(t.series.slots_per_day(), 48);
    let [_, wcma, default] = assert_default_wins(&site.name, &t.series);
    assert!(default < 22.0 && wcma > 30.0, "{default} {wcma}");
    // The five daylight-saving changes in the data, each an hour (two 30-minute slots).
    let f = default_for(&t.series).unwrap();
    let found: Vec<(String, i32)> = f
        .clock_shifts()
        .iter()
        .map(|c| (t.date(c.day).to_string(), c.slots))
        .collect();
    assert_eq!(found.len(), 5, "{found:?}");
    assert!(found.iter().all(|(_, s)| s.abs() == 2), "{found:?}");
    let months: Vec<&str> = found.iter().map(|(d, _)| &d[..7]).collect();
    assert_eq!(
        months,
        ["2011-11", "2012-03", "2012-11", "2013-03", "2013-11"],
        "{found:?}"
    );
}

#[test]
fn three_typical_years_hourly() {
    for site in &shipped()[1..] {
        assert_eq!(site.trace.summary.clipped, 0, "{}", site.name);
        assert_default_wins(&site.name, &site.trace.series);
        let f = default_for(&site.trace.series).unwrap();
        assert!(
            f.clock_shifts().is_empty(),
            "{}: {:?}",
            site.name,
            f.clock_shifts()
        );
    }
}

#[test]
#[cfg_attr(not(shared_data), ignore = "needs ../shared/data (see README: Data)")]
fn system15_in_any_unit_and_on_a_daylight_saving_clock() {
    let variants = sites::system15_variants();
    let t = &variants[0].trace;
    // The automatic clip removes sensor errors only: the source documents every value above
    // 1,500 W/m² as one, and no value at or below it is clipped.
    assert!(
        t.summary.clip_level.unwrap() > 1500.0,
        "{}",
        t.summary.clip_rule
    );
    assert!(t.summary.clipped > 2000 && t.summary.clipped <= 2310);
    let results: Vec<[f64; 3]> = variants
        .iter()
        .map(|v| assert_default_wins(&v.name, &v.trace.series))
        .collect();
    // W/m², W and kW: the same figures.
    for r in &results[1..3] {
        for (a, b) in r.iter().zip(&results[0]) {
            assert!((a - b).abs() < 1e-6, "{r:?} vs {:?}", results[0]);
        }
    }
    // The daylight-saving clock costs the default almost nothing.
    assert!(
        results[3][2] - results[0][2] < 0.1,
        "{:?} vs {:?}",
        results[3],
        results[0]
    );
}

/// `moves` one-hour clock moves (day, ±1) applied from their day on, and every value × `factor`.
fn moved(s: &SlotSeries, moves: &[(usize, i64)], factor: f64) -> SlotSeries {
    let spd = s.slots_per_day();
    let hour = (spd / 24) as i64;
    let x = s.values();
    let v = (0..x.len())
        .map(|i| {
            let shift: i64 = moves
                .iter()
                .filter(|(d, _)| i / spd >= *d)
                .map(|(_, h)| h * hour)
                .sum();
            let j = i as i64 - shift;
            usize::try_from(j)
                .ok()
                .and_then(|j| x.get(j).copied().flatten())
                .map(|v| v * factor)
        })
        .collect();
    SlotSeries::new(spd, v).unwrap()
}

/// Clock moves of one hour on random days, alternating in sign as daylight saving does.
fn clock_moves(days: usize) -> impl Strategy<Value = Vec<(usize, i64)>> {
    (
        proptest::collection::btree_set(30..days, 1..4),
        prop::bool::ANY,
    )
        .prop_map(|(set, forward)| {
            set.into_iter()
                .enumerate()
                .map(|(i, d)| (d, if (i % 2 == 0) == forward { 1 } else { -1 }))
                .collect()
        })
}

fn unit() -> impl Strategy<Value = f64> {
    // kW, W/m², W (and anything between): 10^-3 .. 10^3.
    (-3.0..3.0f64).prop_map(|e| 10f64.powf(e))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]

    /// Greensboro's typical year (always shipped) with random one-hour clock moves in a random
    /// unit: the default beats persistence and WCMA, and the unit changes nothing.
    #[test]
    fn any_unit_any_clock_typical_year(moves in clock_moves(330), factor in unit()) {
        let base = &shipped()[2].trace.series;
        let s = moved(base, &moves, factor);
        let [p, w, d] = assert_default_wins(&format!("NC {moves:?} x{factor:.4}"), &s);
        let [p1, w1, d1] = mapes(&moved(base, &moves, 1.0));
        // Equal to 10⁻³, not to rounding: a clock move with the trace scaled ×3.37 moved a MAPE
        // from 18.3514 to 18.3531, another from 18.2672 to 18.2594 (both kept in the
        // regressions file). Some threshold of the forecaster is still absolute in the trace's
        // unit; finding it is open work.
        for (a, b) in [(p, p1), (w, w1), (d, d1)] {
            prop_assert!((a - b).abs() < 1e-3 * b.max(1.0), "{a} vs {b}");
        }
    }

    /// The same on the shared trace (PVDAQ system 15, 1,725 days of 15-minute irradiance).
    #[test]
    #[cfg_attr(not(shared_data), ignore = "needs ../shared/data (see README: Data)")]
    fn any_unit_any_clock_system15(moves in clock_moves(1700), factor in unit()) {
        let base = system15().expect("the shared trace");
        assert_default_wins(&format!("system 15 {moves:?} x{factor:.4}"), &moved(base, &moves, factor));
    }
}
