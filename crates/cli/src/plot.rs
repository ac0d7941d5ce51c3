//! Figures as SVG and PNG from one description.
//!
//! Every figure is a [`Chart`] of [`Series`]; [`Chart::save`] writes `STEM.svg` and
//! `STEM.png` side by side. Text uses an embedded DejaVu Sans (see
//! `assets/DejaVuSans.LICENSE`), so no system fonts are needed.

use std::path::{Path, PathBuf};
use std::sync::Once;

use anyhow::{Context, Result, anyhow};
use plotters::coord::Shift;
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
        }
    }

    /// Adds a series.
    pub(crate) fn with(mut self, s: Series) -> Self {
        self.series.push(s);
        self
    }

    /// Writes `dir/STEM.svg` and `dir/STEM.png`, creating `dir` if needed.
    pub(crate) fn save(&self, dir: &Path, stem: &str) -> Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        register_font();
        let svg = dir.join(format!("{stem}.svg"));
        let png = dir.join(format!("{stem}.png"));
        self.draw(SVGBackend::new(&svg, self.size).into_drawing_area())
            .with_context(|| format!("cannot draw {}", svg.display()))?;
        self.draw(BitMapBackend::new(&png, self.size).into_drawing_area())
            .with_context(|| format!("cannot draw {}", png.display()))?;
        Ok(vec![svg, png])
    }

    fn ranges(&self) -> ((f64, f64), (f64, f64)) {
        let pts = self
            .series
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
        (
            self.x_range.unwrap_or((x0, x1)),
            self.y_range
                .unwrap_or((if y0 < 0.0 { y0 - pad } else { y0 }, y1 + pad)),
        )
    }

    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let e = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("{e:?}");
        root.fill(&WHITE).map_err(e)?;
        let ((x0, x1), (y0, y1)) = self.ranges();
        let mut chart = ChartBuilder::on(&root)
            .caption(&self.title, ("sans-serif", 22))
            .margin(18)
            .x_label_area_size(48)
            .y_label_area_size(80)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 16))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(e)?;
        for (i, s) in self.series.iter().enumerate() {
            let color = PALETTE[s.color.unwrap_or(i) % PALETTE.len()];
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
            let legend = move |(x, y): (i32, i32)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
            };
            match s.style {
                Style::Line => chart
                    .draw_series(LineSeries::new(pts, color.stroke_width(2)))
                    .map_err(e)?,
                Style::Step => chart
                    .draw_series(LineSeries::new(stairs(), color.stroke_width(2)))
                    .map_err(e)?,
                Style::Area => chart
                    .draw_series(
                        AreaSeries::new(stairs(), 0.0, color.mix(0.25))
                            .border_style(color.stroke_width(1)),
                    )
                    .map_err(e)?,
                Style::Dashed => chart
                    .draw_series(DashedLineSeries::new(pts, 8, 5, color.stroke_width(2)))
                    .map_err(e)?,
                Style::Points => chart
                    .draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled())))
                    .map_err(e)?,
            }
            .label(&s.name)
            .legend(legend);
        }
        if self.series.iter().any(|s| !s.name.is_empty()) {
            chart
                .configure_series_labels()
                .label_font(("sans-serif", 14))
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(180, 180, 180))
                .position(SeriesLabelPosition::UpperRight)
                .draw()
                .map_err(e)?;
        }
        root.present().map_err(e)?;
        Ok(())
    }
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
}
