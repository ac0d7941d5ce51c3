//! # powerslot-sim
//!
//! Scenario generators, and the rerun of the smart-device power allocation study
//! of seed 001 (Morton & Paluta, "Smart Device Power Allocation Via Swarm
//! Intelligence").
//!
//! * [`params`] — every number of the study in one place: the levels of the
//!   maximum allowable power curve and the baseline ([`PaperCurves`], with the
//!   table of chosen levels), the device model ([`DeviceParams`], the paper's
//!   Table 1) and the scenario sizes ([`ScenarioParams`]).
//! * [`curves`] — those curves as daily repeating profiles; capacity is
//!   maximum − baseline ([`powerslot_core::CapacityProfile::difference`]).
//! * [`scenario`] — the three scenarios ([`Scenario`]) as seeded generators of
//!   [`powerslot_core::Instance`]s, which
//!   [`powerslot_core::formats::native::NativeInstance::from_instance`] writes as
//!   JSON for `powerslot plan`.
//! * [`study`] — the paper's Table 2 rerun: every method on every scenario for
//!   many seeds, in parallel, summarised as paired differences against the ACO.
//! * [`validation`] — the paper's validation case with its brute-forced optimum.
//! * [`plot_data`] — points for figures.
//!
//! ```
//! use powerslot_core::validate;
//! use powerslot_plan::{solve, Options, QueueMethod, Solver};
//! use powerslot_sim::{Scenario, ScenarioParams, scenario::generate_with};
//!
//! let params = ScenarioParams::default();
//! // Eight devices in two-element chains, under the standard curves.
//! let inst = generate_with(Scenario::WithPrecedence, &params, 8, 42).unwrap();
//! assert_eq!(inst.tasks()[1].predecessors, vec![0]);
//! let sol = solve(&inst, &Solver::Queue(QueueMethod::DescendingChain), &Options::default()).unwrap();
//! assert!(validate(&inst, &sol.schedule).is_ok());
//! // The same seed gives the same devices.
//! assert_eq!(inst, generate_with(Scenario::WithPrecedence, &params, 8, 42).unwrap());
//! ```

pub mod curves;
pub mod fleet;
pub mod params;
pub mod plot_data;
pub mod scenario;
pub mod stats;
pub mod study;
pub mod validation;

pub use params::{DeviceParams, DurationBin, PaperCurves, ScenarioParams};
pub use scenario::{Scenario, generate};
pub use study::{Method, Study, StudyConfig, Table, run_study, summarize};

/// Why a scenario or a study could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A parameter is out of range; the message names it.
    #[error("invalid parameter: {0}")]
    BadParameter(String),
    /// The generated instance is not schedulable (e.g. a device never fits
    /// under the curves chosen).
    #[error("the generated instance is not schedulable: {0}")]
    Model(Box<powerslot_core::ModelError>),
    /// A planner failed on a generated instance.
    #[error("{method} failed on {instance}: {source}")]
    Plan {
        /// The instance.
        instance: String,
        /// The method.
        method: &'static str,
        /// The planner's error.
        source: Box<powerslot_plan::PlanError>,
    },
    /// The worker pool could not be started.
    #[error("cannot start {0}")]
    ThreadPool(String),
}

impl From<powerslot_core::ModelError> for SimError {
    fn from(e: powerslot_core::ModelError) -> Self {
        SimError::Model(Box::new(e))
    }
}
