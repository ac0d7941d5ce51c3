//! Invariants of the forecasters, on random series.

use powerslot_forecast::model::{FitOptions, FittedModel, ModelSpec};
use powerslot_forecast::series::TimeSeries;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Quantiles are ordered and finite for every model and every step, after any updates.
    #[test]
    fn quantiles_are_ordered_and_finite(
        values in prop::collection::vec(0.0f64..10.0, 240..320),
        updates in prop::collection::vec(0.0f64..10.0, 0..20),
        which in 0usize..4,
    ) {
        let spec = [ModelSpec::Persistence, ModelSpec::SeasonalNaive, ModelSpec::Ewma, ModelSpec::parse("ridge").unwrap()][which].clone();
        let s = TimeSeries::from_values("p", 0, 60, values).unwrap();
        let mut m = FittedModel::fit(&spec, &s, &FitOptions::new(4, 12)).unwrap();
        for u in updates {
            m.update(u, &[]);
        }
        let f = m.predict(6);
        prop_assert_eq!(f.p50.len(), 6);
        for k in 0..6 {
            prop_assert!(f.p10[k].is_finite() && f.p90[k].is_finite());
            prop_assert!(f.p10[k] <= f.p50[k] + 1e-9 && f.p50[k] <= f.p90[k] + 1e-9);
        }
    }

    /// A non-finite reading is ignored: the forecast is the same as without it.
    #[test]
    fn non_finite_updates_change_nothing(values in prop::collection::vec(0.0f64..10.0, 60..100)) {
        let s = TimeSeries::from_values("p", 0, 60, values).unwrap();
        let mut m = FittedModel::fit(&ModelSpec::Ewma, &s, &FitOptions::new(2, 0)).unwrap();
        let before = m.predict(2);
        m.update(f64::NAN, &[]);
        m.update(f64::INFINITY, &[]);
        prop_assert_eq!(before, m.predict(2));
    }
}
