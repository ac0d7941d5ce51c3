//! Quick throughput probe of the serial SGS on a PSPLIB file.
use powerslot_plan::{
    problem::Problem,
    serial::{SerialSgs, list_by_key},
};
fn main() {
    let path = std::env::args().nth(1).expect("file");
    let inst = powerslot_core::read_instance(std::path::Path::new(&path)).unwrap();
    let p = Problem::new(&inst);
    let mut sgs = SerialSgs::new(&p);
    let mut x: u64 = 88172645463325252;
    let n = 20000;
    let t = std::time::Instant::now();
    let mut best = u32::MAX;
    for _ in 0..n {
        let key: Vec<u64> = (0..p.n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            })
            .collect();
        let list = list_by_key(&p, &key);
        let m = sgs.forward(&p, &list);
        let m2 = sgs.double_justify(&p);
        best = best.min(m).min(m2);
    }
    let el = t.elapsed().as_secs_f64();
    println!(
        "{} x3 passes in {:.3}s: {:.1} us/pass, best {}",
        n,
        el,
        el / (3.0 * n as f64) * 1e6,
        best
    );
}
