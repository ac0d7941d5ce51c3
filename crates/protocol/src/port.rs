//! Power ports: what the device half of the timeslot manager drives when it follows a grant.
//!
//! [`PowerPort`] is the one interface: set a limit, get back the limit the hardware applied.
//! Three models implement it:
//!
//! * [`PoeSwitch`] — an IEEE 802.3af/at/bt switch: classes 0–8 with their power at the
//!   switch (PSE) and at the device (PD), a per-port limit by class, port priority (critical,
//!   high, low), a total budget, and LLDP-style requests from a powered device for more power
//!   than its class gave it at detection. When its budget drops it sheds ports by priority,
//!   lowest first, and inside a priority the highest port number first (as switches do).
//!   [`PoeSwitch::circuits`] describes it as a circuit subtree for the coordinator.
//! * [`GenericSupply`] — a supply with one limit (a relay, a breaker, a DC-DC stage).
//! * [`BatteryInverter`] — a battery behind an inverter: what it can deliver in a slot is the
//!   lesser of its power rating and the energy above its minimum state of charge.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::circuit::CircuitSpec;

/// Why a port refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// A limit below zero.
    #[error("a port limit cannot be negative ({0} mW)")]
    Negative(i64),
    /// A port that does not exist.
    #[error("port {0} does not exist")]
    NoSuchPort(u32),
    /// A class outside 0–8, or above what the standard carries.
    #[error("PoE class {class} is not available under {standard}")]
    BadClass {
        /// The class.
        class: u8,
        /// The standard.
        standard: &'static str,
    },
    /// The switch budget cannot carry the request.
    #[error("the switch budget has {free_mw} mW free, {asked_mw} mW asked")]
    Budget {
        /// Free budget.
        free_mw: i64,
        /// Power asked.
        asked_mw: i64,
    },
}

/// A controllable power output.
pub trait PowerPort {
    /// Sets the limit; returns the limit the hardware applied (at most the port's maximum,
    /// possibly rounded to a step it supports).
    fn set_limit(&mut self, limit_mw: i64) -> Result<i64, PortError>;
    /// The limit in force.
    fn limit(&self) -> i64;
    /// The most the port can deliver.
    fn max_mw(&self) -> i64;
}

/// PoE standards, by the highest class they carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoeStandard {
    /// IEEE 802.3af (classes 0–3).
    Af,
    /// IEEE 802.3at, PoE+ (classes 0–4).
    At,
    /// IEEE 802.3bt, 4-pair (classes 0–8).
    Bt,
}

impl PoeStandard {
    /// The highest class.
    pub fn max_class(self) -> u8 {
        match self {
            PoeStandard::Af => 3,
            PoeStandard::At => 4,
            PoeStandard::Bt => 8,
        }
    }

    /// The standard's name.
    pub fn name(self) -> &'static str {
        match self {
            PoeStandard::Af => "802.3af",
            PoeStandard::At => "802.3at",
            PoeStandard::Bt => "802.3bt",
        }
    }
}

/// Power at the switch (PSE output) per class 0–8, mW.
pub const PSE_CLASS_MW: [i64; 9] = [
    15_400, 4_000, 7_000, 15_400, 30_000, 45_000, 60_000, 75_000, 90_000,
];
/// Power available at the device (PD input) per class 0–8, mW.
pub const PD_CLASS_MW: [i64; 9] = [
    12_950, 3_840, 6_490, 12_950, 25_500, 40_000, 51_000, 62_000, 71_300,
];

/// Port priority as PoE switches configure it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PortPriority {
    /// Shed first.
    Low,
    /// Shed after low.
    High,
    /// Shed last.
    Critical,
}

/// One port of a [`PoeSwitch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoePort {
    /// Port number (1-based, lower wins ties).
    pub number: u32,
    /// Class found at detection.
    pub class: u8,
    /// Configured priority.
    pub priority: PortPriority,
    /// Power allocated by the switch (PSE side), mW.
    pub allocated_mw: i64,
    /// Limit set by the timeslot manager, mW (at most the allocation).
    pub limit_mw: i64,
}

impl PoePort {
    /// The most this port can carry: its class's PSE power.
    pub fn class_max_mw(&self) -> i64 {
        PSE_CLASS_MW[self.class as usize]
    }
}

impl PowerPort for PoePort {
    fn set_limit(&mut self, limit_mw: i64) -> Result<i64, PortError> {
        if limit_mw < 0 {
            return Err(PortError::Negative(limit_mw));
        }
        self.limit_mw = limit_mw.min(self.allocated_mw);
        Ok(self.limit_mw)
    }
    fn limit(&self) -> i64 {
        self.limit_mw
    }
    fn max_mw(&self) -> i64 {
        self.class_max_mw()
    }
}

/// A PoE switch with a total budget (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoeSwitch {
    standard: PoeStandard,
    budget_mw: i64,
    ports: Vec<PoePort>,
}

impl PoeSwitch {
    /// A switch with `budget_mw` and ports of the given `(class, priority)`, numbered from 1.
    /// Each port is allocated its class's power at detection while the budget lasts
    /// (critical first, then high, then low; lower port first).
    pub fn new(
        standard: PoeStandard,
        budget_mw: i64,
        ports: &[(u8, PortPriority)],
    ) -> Result<Self, PortError> {
        if budget_mw < 0 {
            return Err(PortError::Negative(budget_mw));
        }
        let mut list = Vec::with_capacity(ports.len());
        for (i, &(class, priority)) in ports.iter().enumerate() {
            if class > standard.max_class() {
                return Err(PortError::BadClass {
                    class,
                    standard: standard.name(),
                });
            }
            list.push(PoePort {
                number: i as u32 + 1,
                class,
                priority,
                allocated_mw: 0,
                limit_mw: 0,
            });
        }
        let mut sw = Self {
            standard,
            budget_mw,
            ports: list,
        };
        for n in sw.power_order() {
            let want = sw.ports[n].class_max_mw();
            if sw.free_mw() >= want {
                sw.ports[n].allocated_mw = want;
                sw.ports[n].limit_mw = want;
            }
        }
        Ok(sw)
    }

    /// Port indices in the order power is given: critical first, lower port first.
    fn power_order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.ports.len()).collect();
        order.sort_by(|&a, &b| {
            self.ports[b]
                .priority
                .cmp(&self.ports[a].priority)
                .then(self.ports[a].number.cmp(&self.ports[b].number))
        });
        order
    }

    /// The standard.
    pub fn standard(&self) -> PoeStandard {
        self.standard
    }

    /// The total budget, mW.
    pub fn budget_mw(&self) -> i64 {
        self.budget_mw
    }

    /// Power allocated to ports, mW.
    pub fn allocated_mw(&self) -> i64 {
        self.ports.iter().map(|p| p.allocated_mw).sum()
    }

    /// Budget not allocated, mW.
    pub fn free_mw(&self) -> i64 {
        self.budget_mw - self.allocated_mw()
    }

    /// The ports.
    pub fn ports(&self) -> &[PoePort] {
        &self.ports
    }

    /// A port by number.
    pub fn port_mut(&mut self, number: u32) -> Result<&mut PoePort, PortError> {
        self.ports
            .iter_mut()
            .find(|p| p.number == number)
            .ok_or(PortError::NoSuchPort(number))
    }

    /// An LLDP power request (the PD's "requested power" TLV): the allocation becomes the
    /// request, capped at the class's power, if the free budget allows; the answer is the
    /// allocation in force.
    pub fn lldp_request(&mut self, number: u32, requested_mw: i64) -> Result<i64, PortError> {
        if requested_mw < 0 {
            return Err(PortError::Negative(requested_mw));
        }
        let free = self.free_mw();
        let port = self.port_mut(number)?;
        let want = requested_mw.min(port.class_max_mw());
        let extra = want - port.allocated_mw;
        if extra > free {
            return Err(PortError::Budget {
                free_mw: free,
                asked_mw: extra,
            });
        }
        port.allocated_mw = want;
        port.limit_mw = port.limit_mw.min(want);
        Ok(want)
    }

    /// Changes the budget; when it no longer covers the allocations, ports are shed (their
    /// allocation and limit set to zero) lowest priority first, highest port first. Returns
    /// the ports shed.
    pub fn set_budget(&mut self, budget_mw: i64) -> Result<Vec<u32>, PortError> {
        if budget_mw < 0 {
            return Err(PortError::Negative(budget_mw));
        }
        self.budget_mw = budget_mw;
        let mut shed = Vec::new();
        let mut order = self.power_order();
        order.reverse();
        for n in order {
            if self.free_mw() >= 0 {
                break;
            }
            if self.ports[n].allocated_mw > 0 {
                self.ports[n].allocated_mw = 0;
                self.ports[n].limit_mw = 0;
                shed.push(self.ports[n].number);
            }
        }
        Ok(shed)
    }

    /// The switch as a circuit subtree under `parent`: a node `name` rated at the budget, and
    /// one node `name.port-N` per port rated at its class's power.
    pub fn circuits(&self, name: &str, parent: Option<&str>) -> Vec<CircuitSpec> {
        let mut out = Vec::with_capacity(self.ports.len() + 1);
        out.push(CircuitSpec {
            name: name.into(),
            parent: parent.map(String::from),
            rating_mw: self.budget_mw,
        });
        for p in &self.ports {
            out.push(CircuitSpec {
                name: format!("{name}.port-{}", p.number),
                parent: Some(name.into()),
                rating_mw: p.class_max_mw(),
            });
        }
        out
    }
}

/// A supply with one limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenericSupply {
    max_mw: i64,
    limit_mw: i64,
}

impl GenericSupply {
    /// A supply that can deliver up to `max_mw`.
    pub fn new(max_mw: i64) -> Self {
        Self {
            max_mw: max_mw.max(0),
            limit_mw: 0,
        }
    }
}

impl PowerPort for GenericSupply {
    fn set_limit(&mut self, limit_mw: i64) -> Result<i64, PortError> {
        if limit_mw < 0 {
            return Err(PortError::Negative(limit_mw));
        }
        self.limit_mw = limit_mw.min(self.max_mw);
        Ok(self.limit_mw)
    }
    fn limit(&self) -> i64 {
        self.limit_mw
    }
    fn max_mw(&self) -> i64 {
        self.max_mw
    }
}

/// A battery behind an inverter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatteryInverter {
    /// Inverter rating, mW.
    pub rating_mw: i64,
    /// Energy stored, mWh.
    pub stored_mwh: i64,
    /// Energy that must stay in the battery, mWh.
    pub reserve_mwh: i64,
    /// Slot length, ms.
    pub slot_ms: u64,
    limit_mw: i64,
}

impl BatteryInverter {
    /// A battery of `stored_mwh` (keeping `reserve_mwh`) behind an inverter of `rating_mw`,
    /// on slots of `slot_ms`.
    pub fn new(rating_mw: i64, stored_mwh: i64, reserve_mwh: i64, slot_ms: u64) -> Self {
        Self {
            rating_mw: rating_mw.max(0),
            stored_mwh: stored_mwh.max(0),
            reserve_mwh: reserve_mwh.max(0),
            slot_ms: slot_ms.max(1),
            limit_mw: 0,
        }
    }

    /// What it can deliver through one slot: the lesser of its rating and the energy above
    /// the reserve spread over the slot.
    pub fn available_mw(&self) -> i64 {
        let energy = (self.stored_mwh - self.reserve_mwh).max(0);
        let by_energy = i128::from(energy) * 3_600_000 / i128::from(self.slot_ms);
        self.rating_mw
            .min(i64::try_from(by_energy).unwrap_or(i64::MAX))
    }

    /// Draws `power_mw` for one slot (at most what is available); returns what it gave.
    pub fn discharge(&mut self, power_mw: i64) -> i64 {
        let p = power_mw.clamp(0, self.available_mw());
        self.stored_mwh -=
            i64::try_from(i128::from(p) * i128::from(self.slot_ms) / 3_600_000).unwrap_or(0);
        p
    }
}

impl PowerPort for BatteryInverter {
    fn set_limit(&mut self, limit_mw: i64) -> Result<i64, PortError> {
        if limit_mw < 0 {
            return Err(PortError::Negative(limit_mw));
        }
        self.limit_mw = limit_mw.min(self.available_mw());
        Ok(self.limit_mw)
    }
    fn limit(&self) -> i64 {
        self.limit_mw
    }
    fn max_mw(&self) -> i64 {
        self.available_mw()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poe_switch_allocates_by_class_and_sheds_by_priority() {
        use PortPriority::*;
        // 802.3at, 60 W: two class-4 (30 W) ports fit, the third low-priority one waits.
        let mut sw = PoeSwitch::new(
            PoeStandard::At,
            60_000,
            &[(4, Low), (4, Critical), (4, High)],
        )
        .unwrap();
        let alloc: Vec<i64> = sw.ports().iter().map(|p| p.allocated_mw).collect();
        assert_eq!(alloc, vec![0, 30_000, 30_000]);
        assert!(matches!(
            PoeSwitch::new(PoeStandard::Af, 60_000, &[(5, Low)]),
            Err(PortError::BadClass { class: 5, .. })
        ));
        // LLDP: the high port asks for less, freeing room the low one cannot use yet.
        assert_eq!(sw.lldp_request(3, 20_000).unwrap(), 20_000);
        assert_eq!(sw.free_mw(), 10_000);
        assert!(matches!(
            sw.lldp_request(1, 30_000),
            Err(PortError::Budget { .. })
        ));
        assert_eq!(sw.lldp_request(1, 10_000).unwrap(), 10_000);
        // The budget drops to 50 W: the low port goes; to 25 W: the high one, then the
        // critical one.
        assert_eq!(sw.set_budget(50_000).unwrap(), vec![1]);
        assert_eq!(sw.allocated_mw(), 50_000);
        assert_eq!(sw.set_budget(25_000).unwrap(), vec![3, 2]);
        assert_eq!(sw.allocated_mw(), 0);
        sw.set_budget(60_000).unwrap();
        sw.lldp_request(2, 30_000).unwrap();
        let port = sw.port_mut(2).unwrap();
        assert_eq!(port.set_limit(40_000).unwrap(), 30_000);
        assert_eq!(sw.circuits("sw1", Some("site")).len(), 4);
    }

    #[test]
    fn a_battery_gives_what_its_rating_and_its_charge_allow() {
        // 5 kW inverter, 2 kWh stored, 1 kWh reserve, 15-minute slots: 4 kW by energy.
        let mut b = BatteryInverter::new(5_000_000, 2_000_000, 1_000_000, 900_000);
        assert_eq!(b.available_mw(), 4_000_000);
        assert_eq!(b.discharge(6_000_000), 4_000_000);
        assert_eq!(b.available_mw(), 0);
        let mut s = GenericSupply::new(1_000);
        assert_eq!(s.set_limit(5_000).unwrap(), 1_000);
        assert!(s.set_limit(-1).is_err());
    }
}
