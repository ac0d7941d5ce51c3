//! Histogram gradient boosting of regression trees for the pinball (quantile) loss.
//!
//! Friedman's gradient tree boosting with the absolute/quantile loss ("LAD TreeBoost"): each
//! tree is grown on the negative gradient of the pinball loss (q for an under-forecast, q − 1 for
//! an over-forecast), and each leaf then takes the q-quantile of the residuals that reach it, so
//! the ensemble estimates the conditional q-quantile — the median for q = 0.5, which is what
//! minimises MAE. Splits are searched on per-feature histograms of at most 255 bins whose edges
//! are quantiles of the training values (as in LightGBM), and every tree sees a random share of
//! the rows (stochastic gradient boosting), which both regularises and halves the cost.
//!
//! Everything is deterministic for a given seed, whatever the thread count: histograms are
//! built per feature (in parallel over features) and summed in row order.

use rayon::prelude::*;

/// Settings of one boosted ensemble.
#[derive(Debug, Clone, PartialEq)]
pub struct BoostConfig {
    /// Number of trees.
    pub trees: usize,
    /// Depth of every tree (a tree has at most 2^depth leaves).
    pub depth: usize,
    /// Shrinkage applied to every leaf value.
    pub learning_rate: f64,
    /// Fewest training rows in a leaf.
    pub min_leaf: usize,
    /// Histogram bins per feature (2–255).
    pub bins: usize,
    /// Share of the rows each tree is grown on (0 < s ≤ 1).
    pub subsample: f64,
    /// The quantile estimated (0.5: the median).
    pub quantile: f64,
    /// Seed of the row sampling.
    pub seed: u64,
}

impl Default for BoostConfig {
    fn default() -> Self {
        Self {
            trees: 200,
            depth: 6,
            learning_rate: 0.1,
            min_leaf: 50,
            bins: 64,
            subsample: 0.5,
            quantile: 0.5,
            seed: 7,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Node {
    /// Rows with `x[feature] <= threshold` go to `left`, the others (and NaN) to `right`.
    Split {
        feature: u32,
        bin: u8,
        threshold: f64,
        left: u32,
        right: u32,
    },
    Leaf(f64),
}

#[derive(Debug, Clone)]
struct Tree {
    nodes: Vec<Node>,
}

impl Tree {
    /// Follows the splits from the root, going left where `left(feature, bin, threshold)`.
    fn walk(&self, left: impl Fn(usize, u8, f64) -> bool) -> f64 {
        let mut i = 0;
        loop {
            match self.nodes[i] {
                Node::Leaf(v) => return v,
                Node::Split {
                    feature,
                    bin,
                    threshold,
                    left: l,
                    right: r,
                } => {
                    i = if left(feature as usize, bin, threshold) {
                        l
                    } else {
                        r
                    } as usize
                }
            }
        }
    }

    fn predict(&self, row: &[f64]) -> f64 {
        // NaN compares false, so missing values go right.
        self.walk(|feature, _, threshold| row[feature] <= threshold)
    }

    fn predict_binned(&self, data: &Binned, row: usize) -> f64 {
        self.walk(|feature, bin, _| data.bin(feature, row) <= bin)
    }
}

/// The training matrix as bin indices, column by column.
struct Binned {
    rows: usize,
    /// `codes[f * rows + i]`: bin of row i in feature f.
    codes: Vec<u8>,
    /// `edges[f][b]`: largest value of bin b of feature f (the split threshold after bin b).
    edges: Vec<Vec<f64>>,
}

impl Binned {
    /// Bins `x` (row-major, `cols` values per row) with at most `bins` quantile bins per column.
    fn new(x: &[f64], cols: usize, bins: usize) -> Binned {
        let rows = x.len() / cols.max(1);
        let bins = bins.clamp(2, 255);
        let columns: Vec<(Vec<f64>, Vec<u8>)> = (0..cols)
            .into_par_iter()
            .map(|f| {
                // Edges from a regular sample of at most 50,000 values.
                let stride = rows.div_ceil(50_000).max(1);
                let mut sample: Vec<f64> = (0..rows)
                    .step_by(stride)
                    .map(|i| x[i * cols + f])
                    .filter(|v| v.is_finite())
                    .collect();
                sample.sort_by(f64::total_cmp);
                let mut edges: Vec<f64> = Vec::with_capacity(bins);
                for b in 1..bins {
                    if sample.is_empty() {
                        break;
                    }
                    let v = sample[(b * sample.len() / bins).min(sample.len() - 1)];
                    if edges.last().is_none_or(|last| v > *last) {
                        edges.push(v);
                    }
                }
                // The last bin holds everything above the last edge, and missing values,
                // which go right at every split exactly as in `Tree::predict`.
                let codes = (0..rows)
                    .map(|i| {
                        let v = x[i * cols + f];
                        if v.is_finite() {
                            edges.partition_point(|e| *e < v) as u8
                        } else {
                            edges.len() as u8
                        }
                    })
                    .collect();
                (edges, codes)
            })
            .collect();
        let mut codes = Vec::with_capacity(rows * cols);
        let mut edges = Vec::with_capacity(cols);
        for (e, c) in columns {
            edges.push(e);
            codes.extend(c);
        }
        Binned { rows, codes, edges }
    }

    fn bin(&self, feature: usize, row: usize) -> u8 {
        self.codes[feature * self.rows + row]
    }

    fn column(&self, feature: usize) -> &[u8] {
        &self.codes[feature * self.rows..(feature + 1) * self.rows]
    }
}

/// A fitted ensemble: `base + Σ trees`.
#[derive(Debug, Clone)]
pub struct Booster {
    base: f64,
    trees: Vec<Tree>,
    features: usize,
}

impl Booster {
    /// Fits on `x` (row-major, `cols` features per row) and targets `y`. Non-finite targets must
    /// be removed by the caller; non-finite features go right at every split.
    pub fn fit(x: &[f64], cols: usize, y: &[f64], config: &BoostConfig) -> Booster {
        let rows = y.len();
        debug_assert_eq!(x.len(), rows * cols);
        let q = config.quantile.clamp(0.01, 0.99);
        let base = quantile_of(&mut y.to_vec(), q);
        let mut booster = Booster {
            base,
            trees: Vec::with_capacity(config.trees),
            features: cols,
        };
        if rows == 0 || cols == 0 {
            return booster;
        }
        let data = Binned::new(x, cols, config.bins);
        let mut fitted = vec![base; rows];
        let mut rng = SplitMix(config.seed);
        let take = ((rows as f64 * config.subsample.clamp(0.01, 1.0)).round() as usize).max(1);
        let mut all: Vec<u32> = (0..rows as u32).collect();
        let mut residual = vec![0.0; rows];
        let mut gradient = vec![0.0; rows];
        for _ in 0..config.trees {
            for i in 0..rows {
                residual[i] = y[i] - fitted[i];
                gradient[i] = if residual[i] > 0.0 {
                    q
                } else if residual[i] < 0.0 {
                    q - 1.0
                } else {
                    0.0
                };
            }
            // A partial Fisher–Yates shuffle picks the rows of this tree.
            for k in 0..take.min(rows - 1) {
                let j = k + (rng.next() % (rows - k) as u64) as usize;
                all.swap(k, j);
            }
            let mut sample: Vec<u32> = all[..take].to_vec();
            sample.sort_unstable();
            let mut grower = Grower {
                data: &data,
                gradient: &gradient,
                residual: &residual,
                config,
                quantile: q,
                nodes: Vec::new(),
            };
            grower.grow(&mut sample, 0);
            let tree = Tree {
                nodes: grower.nodes,
            };
            fitted.par_iter_mut().enumerate().for_each(|(i, f)| {
                *f += config.learning_rate * tree.predict_binned(&data, i);
            });
            booster.trees.push(tree);
        }
        // Fold the shrinkage into the leaves once, so prediction is a plain sum.
        for tree in &mut booster.trees {
            for node in &mut tree.nodes {
                if let Node::Leaf(v) = node {
                    *v *= config.learning_rate;
                }
            }
        }
        booster
    }

    /// The prediction for one row of features (in the fitted column order).
    pub fn predict(&self, row: &[f64]) -> f64 {
        debug_assert_eq!(row.len(), self.features);
        self.base + self.trees.iter().map(|t| t.predict(row)).sum::<f64>()
    }

    /// Number of trees.
    pub fn len(&self) -> usize {
        self.trees.len()
    }

    /// Whether the ensemble has no trees (it predicts the base quantile).
    pub fn is_empty(&self) -> bool {
        self.trees.is_empty()
    }
}

struct Grower<'a> {
    data: &'a Binned,
    gradient: &'a [f64],
    residual: &'a [f64],
    config: &'a BoostConfig,
    quantile: f64,
    nodes: Vec<Node>,
}

impl Grower<'_> {
    /// Grows the subtree over `rows` and returns its node index.
    fn grow(&mut self, rows: &mut [u32], depth: usize) -> u32 {
        let index = self.nodes.len() as u32;
        self.nodes.push(Node::Leaf(0.0));
        let split = if depth < self.config.depth && rows.len() >= 2 * self.config.min_leaf {
            self.best_split(rows)
        } else {
            None
        };
        let Some((feature, bin)) = split else {
            let mut r: Vec<f64> = rows.iter().map(|&i| self.residual[i as usize]).collect();
            self.nodes[index as usize] = Node::Leaf(quantile_of(&mut r, self.quantile));
            return index;
        };
        let column = self.data.column(feature);
        // Stable in-place partition: left rows first, both halves stay sorted.
        let mut left: Vec<u32> = Vec::with_capacity(rows.len());
        let mut right: Vec<u32> = Vec::with_capacity(rows.len());
        for &i in rows.iter() {
            if column[i as usize] <= bin {
                left.push(i);
            } else {
                right.push(i);
            }
        }
        let n_left = left.len();
        rows[..n_left].copy_from_slice(&left);
        rows[n_left..].copy_from_slice(&right);
        drop((left, right));
        let (l, r) = rows.split_at_mut(n_left);
        let left = self.grow(l, depth + 1);
        let right = self.grow(r, depth + 1);
        self.nodes[index as usize] = Node::Split {
            feature: feature as u32,
            bin,
            threshold: self.data.edges[feature]
                .get(bin as usize)
                .copied()
                .unwrap_or(f64::INFINITY),
            left,
            right,
        };
        index
    }

    /// The split with the largest reduction of the gradients' squared error, if any.
    fn best_split(&self, rows: &[u32]) -> Option<(usize, u8)> {
        let n = rows.len() as f64;
        let total: f64 = rows.iter().map(|&i| self.gradient[i as usize]).sum();
        let parent = total * total / n;
        let min_leaf = self.config.min_leaf.max(1);
        let search = |f: usize| -> Option<(f64, usize, u8)> {
            let column = self.data.column(f);
            let mut sum = [0.0f64; 256];
            let mut count = [0u32; 256];
            for &i in rows {
                let b = column[i as usize] as usize;
                sum[b] += self.gradient[i as usize];
                count[b] += 1;
            }
            let bins = self.data.edges[f].len() + 1;
            let (mut s_left, mut n_left) = (0.0, 0usize);
            let mut best: Option<(f64, usize, u8)> = None;
            for b in 0..bins.saturating_sub(1) {
                s_left += sum[b];
                n_left += count[b] as usize;
                let n_right = rows.len() - n_left;
                if n_left < min_leaf {
                    continue;
                }
                if n_right < min_leaf {
                    break;
                }
                let s_right = total - s_left;
                let gain =
                    s_left * s_left / n_left as f64 + s_right * s_right / n_right as f64 - parent;
                if best.is_none_or(|(g, _, _)| gain > g) {
                    best = Some((gain, f, b as u8));
                }
            }
            best
        };
        let features = self.data.edges.len();
        let candidates: Vec<Option<(f64, usize, u8)>> = if rows.len() * features > 200_000 {
            (0..features).into_par_iter().map(search).collect()
        } else {
            (0..features).map(search).collect()
        };
        candidates
            .into_iter()
            .flatten()
            // Ties go to the lowest feature index, whatever the thread schedule.
            .fold(None, |best: Option<(f64, usize, u8)>, c| match best {
                Some(b) if b.0 >= c.0 => Some(b),
                _ => Some(c),
            })
            .filter(|(gain, _, _)| *gain > 1e-9 * n)
            .map(|(_, f, b)| (f, b))
    }
}

/// The q-quantile (lower, by selection) of `values`; 0 when empty.
fn quantile_of(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let k = ((values.len() - 1) as f64 * q).round() as usize;
    *values.select_nth_unstable_by(k, f64::total_cmp).1
}

/// A tiny deterministic generator for the row sampling (SplitMix64).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}
