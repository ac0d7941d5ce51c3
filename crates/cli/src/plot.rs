//! Figures as SVG and PNG from one description.
//!
//! A figure is a [`Chart`] of [`Series`], or a [`Timeline`] (a per-device Gantt chart
//! under the power it adds up to); `save` writes `STEM.svg` and `STEM.png` side by
//! side. Both take plain data (points, bars, labels), so any command or report can
//! draw them. The title and the legend sit above the plot, never on the data; axes
//! place their own ticks ([`Axis`]): counts get whole numbers, clock axes read
//! `18:00`. Text uses an embedded DejaVu Sans (see `assets/DejaVuSans.LICENSE`), so
//! no system fonts are needed.

use std::path::{Path, PathBuf};
use std::sync::Once;

use anyhow::{Context, Result, anyhow};
use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Style {
    /// Straight segments between points.
    Line,
    /// A staircase: each value holds until the next point's x.
    Step,
    /// Like `Step`, filled down to zero.
    Area,
    /// Dashed straight segments (reference curves, bounds).
    Dashed,
    /// A dashed staircase (a capacity or budget that holds within each slot).
    DashedStep,
    /// Markers only.
    Points,
}

/// One named curve.
#[derive(Clone, Debug)]
pub(crate) struct Series {
    /// Legend text.
    pub(crate) name: String,
    /// (x, y) in data units, sorted by x for lines.
    pub(crate) points: Vec<(f64, f64)>,
    /// How to draw it.
    pub(crate) style: Style,
    /// Index into the palette (series get distinct colours by default).
    pub(crate) color: Option<usize>,
}

impl Series {
    /// A series with the given style and the next free colour.
    pub(crate) fn new(name: impl Into<String>, points: Vec<(f64, f64)>, style: Style) -> Self {
        Self {
            name: name.into(),
            points,
            style,
            color: None,
        }
    }
    /// Fixes the colour (palette index).
    pub(crate) fn color(mut self, c: usize) -> Self {
        self.color = Some(c);
        self
    }
}

/// A 2-D chart with labelled axes.
#[derive(Clone, Debug)]
pub(crate) struct Chart {
    /// Title above the plot.
    pub(crate) title: String,
    /// X axis label, with unit.
    pub(crate) x_label: String,
    /// Y axis label, with unit.
    pub(crate) y_label: String,
    /// The curves, drawn in order.
    pub(crate) series: Vec<Series>,
    /// Pixel size (width, height).
    pub(crate) size: (u32, u32),
    /// Fixed y range; by default from 0 (or the data minimum if negative) to the maximum plus 5 %.
    pub(crate) y_range: Option<(f64, f64)>,
    /// Fixed x range; by default the data range.
    pub(crate) x_range: Option<(f64, f64)>,
    /// What the x values are (where the ticks go, how they read).
    pub(crate) x_axis: Axis,
    /// What the y values are.
    pub(crate) y_axis: Axis,
}

/// What an axis measures, which decides its ticks and their labels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Axis {
    /// Any quantity: ticks 1, 2 or 5 × 10^k apart, with the decimals the step needs.
    #[default]
    Real,
    /// A count: whole-number ticks only.
    Count,
    /// Hours since midnight of day 0, read as clock times (`18:00`; `00:00 +1 d`
    /// where a new day begins); ticks 15 min to 1 day apart.
    Clock,
}

/// One device's run in a [`Timeline`], in the timeline's x units.
#[derive(Clone, Debug)]
pub(crate) struct Bar {
    /// Row label (the device id).
    pub(crate) label: String,
    /// When it starts.
    pub(crate) start: f64,
    /// When it finishes.
    pub(crate) finish: f64,
    /// The window it had to keep (earliest start, latest finish), drawn behind the run.
    pub(crate) window: Option<(f64, f64)>,
}

/// A per-device timeline: one row per device with a bar from its start to its finish
/// (a Gantt chart), under a panel with the power curves (budget, baseline, load).
#[derive(Clone, Debug)]
pub(crate) struct Timeline {
    /// Title above the figure.
    pub(crate) title: String,
    /// X axis label, with unit.
    pub(crate) x_label: String,
    /// What the x values are (e.g. [`Axis::Clock`]).
    pub(crate) x_axis: Axis,
    /// Y axis label of the power panel, with unit.
    pub(crate) power_label: String,
    /// The curves of the power panel, drawn in order.
    pub(crate) power: Vec<Series>,
    /// The rows, top to bottom. Up to [`Timeline::MAX_LABELLED`] rows are labelled.
    pub(crate) bars: Vec<Bar>,
}

/// Twelve distinct colours (enough for one series per month).
const PALETTE: [RGBColor; 12] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(80, 80, 80),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(0, 0, 128),
    RGBColor(255, 187, 120),
];

static FONT: Once = Once::new();

fn register_font() {
    FONT.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../assets/DejaVuSans.ttf");
        // The font is compiled in; failing to parse it would be a build defect.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, bytes);
    });
}

impl Chart {
    /// An empty chart.
    pub(crate) fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
    ) -> Self {
        Self {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            series: Vec::new(),
            size: (1100, 600),
            y_range: None,
            x_range: None,
            x_axis: Axis::Real,
            y_axis: Axis::Real,
        }
    }

    /// Adds a series.
    pub(crate) fn with(mut self, s: Series) -> Self {
        self.series.push(s);
        self
    }

    /// Writes `dir/STEM.svg` and `dir/STEM.png`, creating `dir` if needed.
    pub(crate) fn save(&self, dir: &Path, stem: &str) -> Result<Vec<PathBuf>> {
        save_both(dir, stem, self.size, |a| self.draw(a), |a| self.draw(a))
    }

    fn ranges(&self) -> ((f64, f64), (f64, f64)) {
        let (x, y) = data_ranges(&self.series);
        (self.x_range.unwrap_or(x), self.y_range.unwrap_or(y))
    }

    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE).map_err(err)?;
        let body = header(&root, &self.title, &legend_items(&self.series))?;
        let ((x0, x1), (y0, y1)) = self.ranges();
        let (x_ticks, x_fmt) = ticks(x0, x1, self.x_axis, 12);
        let (y_ticks, y_fmt) = ticks(y0, y1, self.y_axis, 10);
        let mut chart = ChartBuilder::on(&body)
            .margin(18)
            .margin_top(4)
            .x_label_area_size(48)
            .y_label_area_size(80)
            .build_cartesian_2d(Ticked::new(x0, x1, x_ticks), Ticked::new(y0, y1, y_ticks))
            .map_err(err)?;
        draw_mesh(&mut chart, (&self.x_label, &self.y_label), &x_fmt, &y_fmt)?;
        draw_series(&mut chart, &self.series)?;
        root.present().map_err(err)?;
        Ok(())
    }
}

impl Timeline {
    /// Rows up to this many are labelled with their device; beyond, by rank.
    pub(crate) const MAX_LABELLED: usize = 40;

    /// Pixel size: the power panel plus a row height that keeps labels legible, or
    /// thin rows when there are too many to label.
    fn size(&self) -> (u32, u32) {
        let n = self.bars.len() as u32;
        let rows = if self.bars.len() <= Self::MAX_LABELLED {
            24 * n
        } else {
            (4 * n).max(400)
        };
        (1100, 120 + 260 + rows.max(120) + 60)
    }

    /// Writes `dir/STEM.svg` and `dir/STEM.png`, creating `dir` if needed.
    pub(crate) fn save(&self, dir: &Path, stem: &str) -> Result<Vec<PathBuf>> {
        save_both(dir, stem, self.size(), |a| self.draw(a), |a| self.draw(a))
    }

    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE).map_err(err)?;
        let mut items = legend_items(&self.power);
        if self.bars.iter().any(|b| b.window.is_some()) {
            items.push(("allowed window".into(), WINDOW, Style::Area));
        }
        let body = header(&root, &self.title, &items)?;
        let (_, h) = body.dim_in_pixel();
        let (top, bottom) = body.split_vertically(260.min(h / 2));
        let ((mut x0, mut x1), (y0, y1)) = data_ranges(&self.power);
        for b in &self.bars {
            x0 = x0.min(b.start);
            x1 = x1.max(b.finish);
        }
        let (x_ticks, x_fmt) = ticks(x0, x1, self.x_axis, 12);
        let labelled = self.bars.len() <= Self::MAX_LABELLED;
        let label_width = if labelled { 150 } else { 80 };
        let x_coord = || Ticked::new(x0, x1, x_ticks.clone());

        // The power panel: the same x axis as the rows, its labels left to the rows.
        let (y_ticks, y_fmt) = ticks(y0, y1, Axis::Real, 6);
        let mut power = ChartBuilder::on(&top)
            .margin_left(18)
            .margin_right(18)
            .margin_top(4)
            .x_label_area_size(6)
            .y_label_area_size(label_width)
            .build_cartesian_2d(x_coord(), Ticked::new(y0, y1, y_ticks))
            .map_err(err)?;
        // No x labels here: the rows below carry them.
        draw_mesh(
            &mut power,
            ("", &self.power_label),
            &|_| String::new(),
            &y_fmt,
        )?;
        draw_series(&mut power, &self.power)?;

        // The rows: row i (from the top) spans y in [n − i − 1, n − i].
        let n = self.bars.len().max(1);
        let nf = n as f64;
        let row_of = move |y: f64| (nf - 0.5 - y).round().max(0.0) as usize;
        let row_ticks: Vec<f64> = if labelled {
            (0..self.bars.len()).map(|i| nf - 0.5 - i as f64).collect()
        } else {
            // Every k-th row by rank (1-based), k a whole "nice" step.
            let (ranks, _) = ticks(1.0, nf, Axis::Count, 10);
            ranks.iter().map(|r| nf + 0.5 - r).collect()
        };
        let bars = &self.bars;
        let row_fmt = move |y: &f64| {
            let i = row_of(*y);
            if labelled {
                bars.get(i).map_or(String::new(), |b| shorten(&b.label, 18))
            } else {
                (i + 1).to_string()
            }
        };
        let mut rows = ChartBuilder::on(&bottom)
            .margin_left(18)
            .margin_right(18)
            .margin_bottom(12)
            .x_label_area_size(48)
            .y_label_area_size(label_width)
            .build_cartesian_2d(x_coord(), Ticked::new(0.0, nf, row_ticks))
            .map_err(err)?;
        let rows_desc = if labelled {
            ""
        } else {
            "devices, in order of start"
        };
        draw_mesh(&mut rows, (&self.x_label, rows_desc), &x_fmt, &row_fmt)?;
        // Thin rows get thin margins so a dense plan still reads as bars.
        let pad = if labelled { 0.2 } else { 0.05 };
        for (i, b) in self.bars.iter().enumerate() {
            let top_y = nf - i as f64;
            if let Some((w0, w1)) = b.window {
                rows.draw_series(std::iter::once(Rectangle::new(
                    [
                        (w0.max(x0), top_y - pad / 2.0),
                        (w1.min(x1), top_y - 1.0 + pad / 2.0),
                    ],
                    WINDOW.mix(AREA_ALPHA).filled(),
                )))
                .map_err(err)?;
            }
            let color = PALETTE[i % PALETTE.len()];
            rows.draw_series(std::iter::once(Rectangle::new(
                [(b.start, top_y - pad), (b.finish, top_y - 1.0 + pad)],
                color.filled(),
            )))
            .map_err(err)?;
        }
        root.present().map_err(err)?;
        Ok(())
    }
}

/// The colour of the windows in [`Timeline`] rows, drawn (and shown in the legend)
/// at the transparency of [`Style::Area`].
const WINDOW: RGBColor = RGBColor(110, 110, 110);

/// The transparency of filled areas, in the plot and in the legend alike.
const AREA_ALPHA: f64 = 0.25;

/// A linear axis whose ticks (and grid lines) are given, chosen by [`ticks`]:
/// plotters' own choice prints counts as `200.0` and knows nothing of clocks.
struct Ticked {
    inner: RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ticked {
    fn new(lo: f64, hi: f64, ticks: Vec<f64>) -> Self {
        Self {
            inner: (lo..hi).into(),
            ticks,
        }
    }
}

impl Ranged for Ticked {
    type ValueType = f64;
    type FormatOption = DefaultFormatting;
    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }
    fn key_points<H: KeyPointHint>(&self, _hint: H) -> Vec<f64> {
        self.ticks.clone()
    }
}

/// The coordinate system of every plot.
type Coord = Cartesian2d<Ticked, Ticked>;

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("{e:?}")
}

/// Writes one figure as SVG and PNG.
fn save_both(
    dir: &Path,
    stem: &str,
    size: (u32, u32),
    svg_draw: impl FnOnce(DrawingArea<SVGBackend<'_>, Shift>) -> Result<()>,
    png_draw: impl FnOnce(DrawingArea<BitMapBackend<'_>, Shift>) -> Result<()>,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    register_font();
    let svg = dir.join(format!("{stem}.svg"));
    let png = dir.join(format!("{stem}.png"));
    svg_draw(SVGBackend::new(&svg, size).into_drawing_area())
        .with_context(|| format!("cannot draw {}", svg.display()))?;
    png_draw(BitMapBackend::new(&png, size).into_drawing_area())
        .with_context(|| format!("cannot draw {}", png.display()))?;
    Ok(vec![svg, png])
}

/// The data range of some series: x over the data, y from 0 (or below, if the data
/// goes negative) to the maximum plus 5 %.
fn data_ranges(series: &[Series]) -> ((f64, f64), (f64, f64)) {
    let pts = series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter(|(x, y)| x.is_finite() && y.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, 0.0f64, f64::MIN);
    for &(x, y) in pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        (x0, x1) = (0.0, 1.0);
    }
    if (x1 - x0).abs() < f64::EPSILON {
        x1 = x0 + 1.0;
    }
    if y1 < y0 || (y1 - y0).abs() < f64::EPSILON {
        y1 = y0 + 1.0;
    }
    let pad = (y1 - y0) * 0.05;
    ((x0, x1), (if y0 < 0.0 { y0 - pad } else { y0 }, y1 + pad))
}

/// Ticks in `[lo, hi]` (at most about `max` of them) and the formatter of their labels.
fn ticks(lo: f64, hi: f64, axis: Axis, max: usize) -> (Vec<f64>, impl Fn(&f64) -> String) {
    let raw = (hi - lo).abs().max(f64::MIN_POSITIVE) / max.max(1) as f64;
    let step = match axis {
        Axis::Clock => {
            const HOURS: [f64; 8] = [0.25, 0.5, 1.0, 2.0, 3.0, 6.0, 12.0, 24.0];
            HOURS
                .into_iter()
                .find(|&h| h >= raw)
                .unwrap_or_else(|| 24.0 * (raw / 24.0).ceil())
        }
        Axis::Real | Axis::Count => {
            let mag = 10f64.powf(raw.log10().floor());
            let nice = [1.0, 2.0, 5.0, 10.0]
                .into_iter()
                .map(|m| m * mag)
                .find(|&s| s >= raw * (1.0 - 1e-9))
                .unwrap_or(10.0 * mag);
            if axis == Axis::Count {
                nice.max(1.0)
            } else {
                nice
            }
        }
    };
    let mut out = Vec::new();
    let mut k = (lo / step - 1e-9).ceil();
    while k * step <= hi + step * 1e-9 && out.len() < 1000 {
        out.push(k * step);
        k += 1.0;
    }
    // As many decimals as the step needs (0.25 → 2), none for whole steps.
    let decimals = (0..12)
        .find(|&d| {
            let scaled = step * 10f64.powi(d);
            (scaled - scaled.round()).abs() < 1e-6 * scaled.max(1.0)
        })
        .unwrap_or(12) as usize;
    let fmt = move |v: &f64| match axis {
        Axis::Clock => clock_label(*v, step),
        Axis::Real | Axis::Count => {
            let v = if v.abs() < step * 1e-6 { 0.0 } else { *v };
            format!("{v:.decimals$}")
        }
    };
    (out, fmt)
}

/// `HH:MM` of `hours` since midnight of day 0; `+N d` is added where a new day
/// begins (the tick one `step` earlier falls on another day).
fn clock_label(hours: f64, step: f64) -> String {
    let minutes = (hours * 60.0).round() as i64;
    let day = minutes.div_euclid(1440);
    let of_day = minutes.rem_euclid(1440);
    let hm = format!("{:02}:{:02}", of_day / 60, of_day % 60);
    let previous_day = ((hours - step) * 60.0).round() as i64;
    if day != 0 && previous_day.div_euclid(1440) != day {
        format!("{hm} {day:+} d")
    } else {
        hm
    }
}

/// `text`, cut to `max` characters with an ellipsis.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        text.chars().take(max - 1).collect::<String>() + "…"
    }
}

/// Legend entries of the named series (colours as [`draw_series`] gives them).
fn legend_items(series: &[Series]) -> Vec<(String, RGBColor, Style)> {
    series
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.name.is_empty())
        .map(|(i, s)| (s.name.clone(), series_color(s, i), s.style))
        .collect()
}

fn series_color(s: &Series, i: usize) -> RGBColor {
    PALETTE[s.color.unwrap_or(i) % PALETTE.len()]
}

/// Draws the title and, under it, the legend (wrapped into rows), and returns the
/// area left for the plot: legends never cover the data.
fn header<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    items: &[(String, RGBColor, Style)],
) -> Result<DrawingArea<DB, Shift>>
where
    DB::ErrorType: 'static,
{
    let (w, _) = root.dim_in_pixel();
    let title_font: TextStyle = ("sans-serif", 22).into();
    let font: TextStyle = ("sans-serif", 14).into();
    let (tw, _) = root.estimate_text_size(title, &title_font).map_err(err)?;
    root.draw(&Text::new(
        title.to_string(),
        ((w as i32 - tw as i32).max(0) / 2, 10),
        title_font,
    ))
    .map_err(err)?;
    // Lay the entries out left to right, wrapping at the width.
    let (left, right) = (80, w as i32 - 18);
    let (mut x, mut y) = (left, 44);
    let row_height = 22;
    for (name, color, style) in items {
        let (text_w, _) = root.estimate_text_size(name, &font).map_err(err)?;
        let width = 28 + 6 + text_w as i32 + 24;
        if x > left && x + width > right {
            x = left;
            y += row_height;
        }
        let mid = y + 8;
        match style {
            Style::Line | Style::Step => root
                .draw(&PathElement::new(
                    vec![(x, mid), (x + 28, mid)],
                    color.stroke_width(3),
                ))
                .map_err(err)?,
            Style::Dashed | Style::DashedStep => {
                for d in [0, 11, 22] {
                    root.draw(&PathElement::new(
                        vec![(x + d, mid), (x + d + 6, mid)],
                        color.stroke_width(3),
                    ))
                    .map_err(err)?;
                }
            }
            Style::Area => root
                .draw(&Rectangle::new(
                    [(x, mid - 6), (x + 28, mid + 6)],
                    color.mix(AREA_ALPHA).filled(),
                ))
                .map_err(err)?,
            Style::Points => root
                .draw(&Circle::new((x + 14, mid), 4, color.filled()))
                .map_err(err)?,
        }
        root.draw(&Text::new(name.clone(), (x + 34, y), font.clone()))
            .map_err(err)?;
        x += width;
    }
    let used = if items.is_empty() {
        44
    } else {
        y + row_height + 6
    };
    Ok(root.split_vertically(used).1)
}

/// Draws the axes, their labels and light grid lines at the ticks.
fn draw_mesh<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Coord>,
    (x_desc, y_desc): (&str, &str),
    x_fmt: &dyn Fn(&f64) -> String,
    y_fmt: &dyn Fn(&f64) -> String,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let grid = RGBColor(235, 235, 235);
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(x_fmt)
        .y_label_formatter(y_fmt)
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .light_line_style(grid)
        .bold_line_style(grid)
        .draw()
        .map_err(err)
}

/// Draws series on a chart, series `i` in palette colour `i` unless fixed.
fn draw_series<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Coord>,
    series: &[Series],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    for (i, s) in series.iter().enumerate() {
        let color = series_color(s, i);
        let pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .copied()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect();
        let stairs = || {
            let mut out = Vec::with_capacity(pts.len() * 2);
            for w in pts.windows(2) {
                out.push(w[0]);
                out.push((w[1].0, w[0].1));
            }
            if let Some(&l) = pts.last() {
                out.push(l);
            }
            out
        };
        match s.style {
            Style::Line => chart
                .draw_series(LineSeries::new(pts, color.stroke_width(2)))
                .map_err(err)?,
            Style::Step => chart
                .draw_series(LineSeries::new(stairs(), color.stroke_width(2)))
                .map_err(err)?,
            Style::Area => chart
                .draw_series(
                    AreaSeries::new(stairs(), 0.0, color.mix(AREA_ALPHA))
                        .border_style(color.stroke_width(1)),
                )
                .map_err(err)?,
            Style::Dashed => chart
                .draw_series(DashedLineSeries::new(pts, 8, 5, color.stroke_width(2)))
                .map_err(err)?,
            Style::DashedStep => chart
                .draw_series(DashedLineSeries::new(stairs(), 8, 5, color.stroke_width(2)))
                .map_err(err)?,
            Style::Points => chart
                .draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled())))
                .map_err(err)?,
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_svg_and_png() {
        let dir = tempfile::tempdir().unwrap();
        let chart = Chart::new("test", "time (min)", "power (kW)")
            .with(Series::new(
                "a",
                vec![(0.0, 1.0), (1.0, 2.0), (2.0, 0.5)],
                Style::Step,
            ))
            .with(Series::new(
                "b",
                vec![(0.0, 0.5), (2.0, 1.5)],
                Style::Dashed,
            ))
            .with(Series::new("c", vec![(0.0, 0.2), (2.0, 0.3)], Style::Area));
        let files = chart.save(dir.path(), "fig").unwrap();
        let svg = std::fs::read_to_string(&files[0]).unwrap();
        assert!(svg.contains("power (kW)"));
        let png = std::fs::read(&files[1]).unwrap();
        assert_eq!(&png[1..4], b"PNG");
    }

    #[test]
    fn counts_tick_at_whole_numbers_and_clocks_read_as_times() {
        let (t, f) = ticks(0.0, 7.35, Axis::Count, 10);
        assert_eq!(t, (0..=7).map(f64::from).collect::<Vec<_>>());
        assert_eq!(f(&200.0), "200");
        let (t, f) = ticks(0.0, 210.0, Axis::Count, 10);
        assert_eq!((t[1], f(&t[1])), (50.0, "50".to_string()));
        let (t, f) = ticks(0.0, 1.0, Axis::Real, 10);
        assert_eq!((t.len(), f(&t[1])), (11, "0.1".to_string()));
        let (t, f) = ticks(0.0, 2.5, Axis::Real, 6);
        assert_eq!(f(&t[1]), "0.5");
        // 17:00 to 07:30 the next day: 2-hour ticks, a day marker at midnight.
        let (t, f) = ticks(17.0, 31.5, Axis::Clock, 12);
        assert_eq!(t[0], 18.0);
        let labels: Vec<String> = t.iter().map(&f).collect();
        assert_eq!(labels[..4], ["18:00", "20:00", "22:00", "00:00 +1 d"]);
        assert_eq!(labels[4], "02:00");
    }

    #[test]
    fn timelines_draw_labelled_and_dense_rows() {
        let dir = tempfile::tempdir().unwrap();
        let bar = |i: usize| Bar {
            label: format!("device-{i}"),
            start: 17.0 + i as f64 * 0.25,
            finish: 18.0 + i as f64 * 0.25,
            window: i.is_multiple_of(2).then_some((17.0, 22.0)),
        };
        for n in [3, 120] {
            let t = Timeline {
                title: "test".into(),
                x_label: "time of day".into(),
                x_axis: Axis::Clock,
                power_label: "power (kW)".into(),
                power: vec![
                    Series::new("budget", vec![(17.0, 5.0), (48.0, 5.0)], Style::Dashed),
                    Series::new(
                        "load",
                        vec![(17.0, 2.0), (18.0, 3.0), (48.0, 0.0)],
                        Style::Step,
                    ),
                ],
                bars: (0..n).map(bar).collect(),
            };
            let files = t.save(dir.path(), &format!("t{n}")).unwrap();
            let svg = std::fs::read_to_string(&files[0]).unwrap();
            assert!(svg.contains("allowed window") && svg.contains("18:00"));
            assert_eq!(
                svg.contains("device-2"),
                n <= Timeline::MAX_LABELLED,
                "{n} rows"
            );
        }
    }
}
