//! Plots: line plots (loss curves), density scatter plots, confusion matrices and bar charts.
//!
//! Each plot is a plain struct of what to draw with a `render()` returning a [`Canvas`].

use crate::canvas::{Align, Canvas};
use crate::preview::{BACKGROUND, INK};
use crate::{Colormap, Rgba, font, palette, ticks};

const GRID: Rgba = [225, 225, 225, 255];

/// The plotting area of a picture and its data ranges.
#[derive(Debug, Clone, Copy)]
struct Frame {
    x0: f32,
    y0: f32,
    w: f32,
    h: f32,
    xr: (f64, f64),
    yr: (f64, f64),
    log_y: bool,
}

impl Frame {
    fn px(&self, x: f64) -> f32 {
        self.x0 + ((x - self.xr.0) / (self.xr.1 - self.xr.0)) as f32 * self.w
    }
    fn py(&self, y: f64) -> f32 {
        let t = if self.log_y {
            (y.log10() - self.yr.0.log10()) / (self.yr.1.log10() - self.yr.0.log10())
        } else {
            (y - self.yr.0) / (self.yr.1 - self.yr.0)
        };
        self.y0 + self.h - t as f32 * self.h
    }
}

/// Light grid lines at the ticks (drawn before the data).
fn draw_grid(c: &mut Canvas, f: &Frame, xt: &[(f64, String)], yt: &[(f64, String)]) {
    let (x0, y0, w, h) = (f.x0 as i64, f.y0 as i64, f.w as i64, f.h as i64);
    for (v, _) in yt {
        c.fill_rect(x0, f.py(*v).round() as i64, w, 1, GRID);
    }
    for (v, _) in xt {
        c.fill_rect(f.px(*v).round() as i64, y0, 1, h, GRID);
    }
}

/// Draw title, frame, ticks and axis labels (after the data).
fn draw_axes(
    c: &mut Canvas,
    f: &Frame,
    xt: &[(f64, String)],
    yt: &[(f64, String)],
    title: &str,
    x_label: &str,
    y_label: &str,
) {
    let (x0, y0, w, h) = (f.x0 as i64, f.y0 as i64, f.w as i64, f.h as i64);
    c.stroke_rect(x0, y0, w + 1, h + 1, INK);
    for (v, s) in yt {
        let y = f.py(*v).round() as i64;
        c.fill_rect(x0 - 4, y, 4, 1, INK);
        c.text_aligned(x0 - 7, y - 3, s, 1, INK, Align::Right);
    }
    for (v, s) in xt {
        let x = f.px(*v).round() as i64;
        c.fill_rect(x, y0 + h + 1, 1, 4, INK);
        c.text_aligned(x, y0 + h + 8, s, 1, INK, Align::Center);
    }
    if !title.is_empty() {
        c.text_aligned(x0 + w / 2, 10, title, 2, INK, Align::Center);
    }
    if !x_label.is_empty() {
        c.text_aligned(x0 + w / 2, y0 + h + 22, x_label, 1, INK, Align::Center);
    }
    if !y_label.is_empty() {
        c.text_vertical(12, y0 + h / 2, y_label, 1, INK);
    }
}

fn linear_ticks(lo: f64, hi: f64, target: usize) -> ((f64, f64), Vec<(f64, String)>) {
    let t = ticks::linear(lo, hi, target);
    let labels = t.ticks.iter().map(|&v| (v, ticks::format(v, t.step))).collect();
    ((t.lo, t.hi), labels)
}

/// One line of a [`LinePlot`].
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend name.
    pub name: String,
    /// `(x, y)` points in drawing order; non-finite points (and `y ≤ 0` on a log axis) break
    /// the line.
    pub points: Vec<(f64, f64)>,
    /// Colour; the categorical palette by position when `None`.
    pub color: Option<Rgba>,
}

/// A line plot with several series, optional log-y axis, nice ticks and a legend: loss curves.
#[derive(Debug, Clone, PartialEq)]
pub struct LinePlot {
    /// Title above the plot.
    pub title: String,
    /// X-axis label.
    pub x_label: String,
    /// Y-axis label.
    pub y_label: String,
    /// The lines.
    pub series: Vec<Series>,
    /// Logarithmic y axis (decades).
    pub log_y: bool,
    /// Picture size in pixels.
    pub width: usize,
    /// Picture size in pixels.
    pub height: usize,
}

impl LinePlot {
    /// An empty 800 × 500 plot.
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
    ) -> Self {
        LinePlot {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            series: Vec::new(),
            log_y: false,
            width: 800,
            height: 500,
        }
    }

    /// Add a series (builder style).
    pub fn with_series(mut self, name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        self.series.push(Series { name: name.into(), points, color: None });
        self
    }

    /// Use a logarithmic y axis (builder style).
    pub fn with_log_y(mut self, log_y: bool) -> Self {
        self.log_y = log_y;
        self
    }

    fn usable(&self, p: &(f64, f64)) -> bool {
        p.0.is_finite() && p.1.is_finite() && (!self.log_y || p.1 > 0.0)
    }

    /// Draw the plot.
    pub fn render(&self) -> Canvas {
        let mut c = Canvas::new(self.width.max(200), self.height.max(150), BACKGROUND);
        let pts = self.series.iter().flat_map(|s| s.points.iter()).filter(|p| self.usable(p));
        let (mut xmin, mut xmax, mut ymin, mut ymax) =
            (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
        for p in pts {
            xmin = xmin.min(p.0);
            xmax = xmax.max(p.0);
            ymin = ymin.min(p.1);
            ymax = ymax.max(p.1);
        }
        if !xmin.is_finite() {
            (xmin, xmax, ymin, ymax) = (0.0, 1.0, if self.log_y { 0.1 } else { 0.0 }, 1.0);
        }
        let (xr, xt) = linear_ticks(xmin, xmax, 6);
        let (yr, yt) = if self.log_y {
            let (a, b, t) = ticks::log_decades(ymin, ymax);
            ((a, b), t.into_iter().map(|v| (v, ticks::format(v, v))).collect::<Vec<_>>())
        } else {
            linear_ticks(ymin, ymax, 6)
        };
        let label_w = yt.iter().map(|(_, s)| font::text_width(s, 1)).max().unwrap_or(0) as f32;
        let x0 = 30.0 + label_w;
        let y0 = 40.0;
        let f = Frame {
            x0,
            y0,
            w: c.width() as f32 - x0 - 20.0,
            h: c.height() as f32 - y0 - 45.0,
            xr,
            yr,
            log_y: self.log_y,
        };
        draw_grid(&mut c, &f, &xt, &yt);
        for (i, s) in self.series.iter().enumerate() {
            let col = s.color.unwrap_or_else(|| palette::categorical(i));
            let mut run: Vec<(f32, f32)> = Vec::new();
            for p in &s.points {
                if self.usable(p) {
                    run.push((f.px(p.0), f.py(p.1)));
                } else {
                    c.polyline(&run, 2.0, col);
                    run.clear();
                }
            }
            if run.len() == 1 {
                c.disc(run[0].0, run[0].1, 2.0, col);
            }
            c.polyline(&run, 2.0, col);
        }
        draw_axes(&mut c, &f, &xt, &yt, &self.title, &self.x_label, &self.y_label);
        // Legend, top-right inside the frame.
        let named: Vec<(usize, &Series)> =
            self.series.iter().enumerate().filter(|(_, s)| !s.name.is_empty()).collect();
        if !named.is_empty() {
            let lw = named.iter().map(|(_, s)| font::text_width(&s.name, 1)).max().unwrap_or(0)
                as i64
                + 34;
            let lh = named.len() as i64 * 13 + 8;
            let lx = (f.x0 + f.w) as i64 - lw - 8;
            let ly = f.y0 as i64 + 8;
            c.fill_rect(lx, ly, lw, lh, [255, 255, 255, 230]);
            c.stroke_rect(lx, ly, lw, lh, GRID);
            for (k, (i, s)) in named.iter().enumerate() {
                let col = s.color.unwrap_or_else(|| palette::categorical(*i));
                let y = ly + 6 + k as i64 * 13;
                c.line(lx as f32 + 6.0, y as f32 + 3.5, lx as f32 + 24.0, y as f32 + 3.5, 2.0, col);
                c.text(lx + 28, y, &s.name, 1, INK);
            }
        }
        c
    }
}

/// A density scatter plot of a 2-D histogram (`bins` × `bins` over `[lo, hi]` on both axes):
/// predicted against true values, with the 1:1 line and a block of notes (the metrics).
#[derive(Debug, Clone, PartialEq)]
pub struct DensityPlot {
    /// Title above the plot.
    pub title: String,
    /// X-axis label.
    pub x_label: String,
    /// Y-axis label.
    pub y_label: String,
    /// Bins per axis.
    pub bins: usize,
    /// Lower edge of the first bin (both axes).
    pub lo: f64,
    /// Upper edge of the last bin (both axes).
    pub hi: f64,
    /// Counts, `counts[ybin * bins + xbin]`, y bin 0 at the bottom.
    pub counts: Vec<u64>,
    /// Draw the 1:1 line.
    pub one_to_one: bool,
    /// Lines of text drawn in the top-left corner.
    pub notes: Vec<String>,
    /// Picture side in pixels (the plot is square).
    pub size: usize,
}

impl DensityPlot {
    /// Draw the plot: log-scaled counts in a magma-like map, empty bins white.
    pub fn render(&self) -> Canvas {
        let size = self.size.max(240);
        let mut c = Canvas::new(size + 70, size, BACKGROUND);
        let (xr, xt) = linear_ticks(self.lo, self.hi, 5);
        let x0 = 60.0;
        let y0 = 40.0;
        let side = (size as f32 - y0 - 45.0).min(c.width() as f32 - x0 - 80.0);
        let f = Frame { x0, y0, w: side, h: side, xr, yr: xr, log_y: false };
        draw_grid(&mut c, &f, &xt, &xt);
        let bins = self.bins.max(1);
        let max = self.counts.iter().copied().max().unwrap_or(0);
        let cmap = Colormap::magma();
        let norm = (1.0 + max as f64).ln().max(1e-9);
        for yb in 0..bins {
            for xb in 0..bins {
                let n = self.counts.get(yb * bins + xb).copied().unwrap_or(0);
                if n == 0 {
                    continue;
                }
                let bw = (self.hi - self.lo) / bins as f64;
                let (xa, xb2) = (self.lo + xb as f64 * bw, self.lo + (xb + 1) as f64 * bw);
                let (ya, yb2) = (self.lo + yb as f64 * bw, self.lo + (yb + 1) as f64 * bw);
                let (px0, px1) = (f.px(xa).floor() as i64, f.px(xb2).ceil() as i64);
                let (py0, py1) = (f.py(yb2).floor() as i64, f.py(ya).ceil() as i64);
                // Reversed so that dense bins are dark on white.
                let t = 1.0 - (1.0 + n as f64).ln() / norm;
                c.fill_rect(
                    px0,
                    py0,
                    (px1 - px0).max(1),
                    (py1 - py0).max(1),
                    cmap.at(0.05 + 0.9 * t),
                );
            }
        }
        draw_axes(&mut c, &f, &xt, &xt, &self.title, &self.x_label, &self.y_label);
        if self.one_to_one {
            let (a, b) = (xr.0.max(self.lo), xr.1.min(self.hi));
            c.line(f.px(a), f.py(a), f.px(b), f.py(b), 1.5, [30, 120, 220, 255]);
        }
        for (i, n) in self.notes.iter().enumerate() {
            c.text(f.x0 as i64 + 8, f.y0 as i64 + 8 + i as i64 * 12, n, 1, INK);
        }
        // A small count legend.
        let lx = (f.x0 + f.w) as i64 + 14;
        let lh = (f.h * 0.6) as i64;
        c.text(lx, f.y0 as i64, "count", 1, INK);
        for i in 0..lh {
            let t = i as f64 / (lh - 1).max(1) as f64;
            c.fill_rect(lx, f.y0 as i64 + 12 + i, 12, 1, cmap.at(0.05 + 0.9 * t));
        }
        c.stroke_rect(lx, f.y0 as i64 + 12, 12, lh, INK);
        c.text(lx + 16, f.y0 as i64 + 12, &compact_count(max), 1, INK);
        c.text(lx + 16, f.y0 as i64 + 12 + lh - 7, "1", 1, INK);
        c
    }
}

/// `1234567` → `"1.2M"`.
fn compact_count(n: u64) -> String {
    match n {
        0..=9_999 => n.to_string(),
        10_000..=999_999 => format!("{:.0}k", n as f64 / 1e3),
        1_000_000..=999_999_999 => format!("{:.1}M", n as f64 / 1e6),
        _ => format!("{:.1}G", n as f64 / 1e9),
    }
}

/// A confusion-matrix heatmap: rows are true classes, columns predicted classes; cells are
/// coloured by the row-normalised fraction (recall) and labelled with it in percent.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfusionMatrixPlot {
    /// Title above the plot.
    pub title: String,
    /// Class names, one per row/column.
    pub names: Vec<String>,
    /// Counts, `counts[true * n + predicted]`.
    pub counts: Vec<u64>,
}

impl ConfusionMatrixPlot {
    /// Draw the heatmap.
    pub fn render(&self) -> Canvas {
        let n = self.names.len().max(1);
        let cell = if n <= 8 {
            52
        } else if n <= 16 {
            34
        } else {
            20
        };
        let name_w = self.names.iter().map(|s| font::text_width(s, 1)).max().unwrap_or(0) as i64;
        let left = name_w + 40;
        let top = 40 + name_w + 10;
        let w = left + (n * cell) as i64 + 30;
        let h = top + (n * cell) as i64 + 30;
        let mut c = Canvas::new(w as usize, h as usize, BACKGROUND);
        c.text_aligned(w / 2, 10, &self.title, 2, INK, Align::Center);
        let cmap = Colormap::blues();
        for t in 0..n {
            let row_sum: u64 =
                (0..n).map(|p| self.counts.get(t * n + p).copied().unwrap_or(0)).sum();
            for p in 0..n {
                let v = self.counts.get(t * n + p).copied().unwrap_or(0);
                let frac = if row_sum > 0 { v as f64 / row_sum as f64 } else { f64::NAN };
                let x = left + (p * cell) as i64;
                let y = top + (t * cell) as i64;
                let col = if frac.is_nan() { [240, 240, 240, 255] } else { cmap.at(frac) };
                c.fill_rect(x, y, cell as i64, cell as i64, col);
                if !frac.is_nan() && cell >= 30 {
                    let s = format!("{:.0}", frac * 100.0);
                    let ink = if frac > 0.55 { [255, 255, 255, 255] } else { INK };
                    c.text_aligned(
                        x + cell as i64 / 2,
                        y + cell as i64 / 2 - 3,
                        &s,
                        1,
                        ink,
                        Align::Center,
                    );
                }
            }
        }
        c.stroke_rect(left - 1, top - 1, (n * cell) as i64 + 2, (n * cell) as i64 + 2, INK);
        for (i, name) in self.names.iter().enumerate() {
            let y = top + (i * cell + cell / 2) as i64 - 3;
            c.text_aligned(left - 6, y, name, 1, INK, Align::Right);
            let x = left + (i * cell + cell / 2) as i64;
            let tw = font::text_width(name, 1) as i64;
            c.text_vertical(x, top - 6 - tw / 2, name, 1, INK);
        }
        c.text_vertical(10, top + (n * cell) as i64 / 2, "true class", 1, INK);
        c.text_aligned(
            left + (n * cell) as i64 / 2,
            top + (n * cell) as i64 + 10,
            "predicted class (% of true)",
            1,
            INK,
            Align::Center,
        );
        c
    }
}

/// A bar chart with values in `[y_lo, y_hi]` (NaN bars are marked "n/a").
#[derive(Debug, Clone, PartialEq)]
pub struct BarChart {
    /// Title above the chart.
    pub title: String,
    /// Y-axis label.
    pub y_label: String,
    /// One label per bar.
    pub labels: Vec<String>,
    /// One value per bar.
    pub values: Vec<f64>,
    /// Bar colours; the categorical palette when `None`.
    pub colors: Option<Vec<Rgba>>,
    /// Y-axis range.
    pub y_range: (f64, f64),
    /// Picture size in pixels.
    pub width: usize,
    /// Picture size in pixels.
    pub height: usize,
}

impl BarChart {
    /// Draw the chart, with each value written above its bar.
    pub fn render(&self) -> Canvas {
        let mut c = Canvas::new(self.width.max(200), self.height.max(150), BACKGROUND);
        let (yr, yt) = linear_ticks(self.y_range.0, self.y_range.1, 5);
        let n = self.values.len().max(1);
        let label_w = self.labels.iter().map(|s| font::text_width(s, 1)).max().unwrap_or(0) as f32;
        let slot_guess = (c.width() as f32 - 70.0) / n as f32;
        let below = if label_w < slot_guess - 2.0 { 0.0 } else { label_w.min(120.0) };
        let x0 = 50.0;
        let y0 = 40.0;
        let f = Frame {
            x0,
            y0,
            w: c.width() as f32 - x0 - 20.0,
            h: c.height() as f32 - y0 - 30.0 - below,
            xr: (0.0, 1.0),
            yr,
            log_y: false,
        };
        draw_grid(&mut c, &f, &[], &yt);
        draw_axes(&mut c, &f, &[], &yt, &self.title, "", &self.y_label);
        let slot = f.w / n as f32;
        for (i, &v) in self.values.iter().enumerate() {
            let xc = f.x0 + slot * (i as f32 + 0.5);
            let bw = (slot * 0.7).max(2.0);
            let col = self
                .colors
                .as_ref()
                .and_then(|cs| cs.get(i).copied())
                .unwrap_or_else(|| palette::categorical(i));
            if v.is_finite() {
                let vt = v.clamp(yr.0, yr.1);
                let ytop = f.py(vt);
                let ybase = f.py(yr.0.max(0.0).min(yr.1));
                let (a, b) = (ytop.min(ybase), ytop.max(ybase));
                c.fill_rect(
                    (xc - bw / 2.0) as i64,
                    a as i64,
                    bw as i64,
                    (b - a).max(1.0) as i64,
                    col,
                );
                c.stroke_rect(
                    (xc - bw / 2.0) as i64,
                    a as i64,
                    bw as i64,
                    (b - a).max(1.0) as i64,
                    INK,
                );
                c.text_aligned(xc as i64, a as i64 - 10, &format!("{v:.2}"), 1, INK, Align::Center);
            } else {
                c.text_aligned(xc as i64, (f.y0 + f.h) as i64 - 12, "n/a", 1, INK, Align::Center);
            }
            if let Some(l) = self.labels.get(i) {
                let tw = font::text_width(l, 1) as i64;
                if (tw as f32) < slot - 2.0 {
                    c.text_aligned(xc as i64, (f.y0 + f.h) as i64 + 6, l, 1, INK, Align::Center);
                } else {
                    c.text_vertical(xc as i64, (f.y0 + f.h) as i64 + 6 + tw / 2, l, 1, INK);
                }
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count_colour(c: &Canvas, col: Rgba) -> usize {
        let mut n = 0;
        for y in 0..c.height() {
            for x in 0..c.width() {
                if c.get(x, y) == col {
                    n += 1;
                }
            }
        }
        n
    }

    #[test]
    fn line_plot_draws_each_series_in_its_colour() {
        let red = [220, 0, 0, 255];
        let mut p = LinePlot::new("loss", "step", "loss")
            .with_series("train", (1..100).map(|i| (i as f64, 10.0 / i as f64)).collect())
            .with_log_y(true);
        p.series.push(Series {
            name: "val".into(),
            points: vec![(1.0, 5.0), (99.0, 0.5)],
            color: Some(red),
        });
        let c = p.render();
        assert!(count_colour(&c, palette::categorical(0)) > 100, "first series drawn");
        assert!(count_colour(&c, red) > 100, "second series drawn");
        // Non-positive values on a log axis are skipped, not a panic.
        LinePlot::new("", "", "")
            .with_series("z", vec![(0.0, 0.0), (1.0, -1.0)])
            .with_log_y(true)
            .render();
    }

    #[test]
    fn density_plot_colours_occupied_bins_only() {
        let mut counts = vec![0u64; 4 * 4];
        counts[0] = 10; // bottom-left bin
        counts[15] = 1; // top-right bin
        let p = DensityPlot {
            title: "t".into(),
            x_label: "true".into(),
            y_label: "pred".into(),
            bins: 4,
            lo: 0.0,
            hi: 40.0,
            counts,
            one_to_one: false,
            notes: vec![],
            size: 400,
        };
        let c = p.render();
        let side = (400.0f32 - 40.0 - 45.0).min(470.0 - 60.0 - 80.0);
        let cell = side / 4.0;
        let at = |bx: f32, by: f32| {
            c.get((60.0 + cell * (bx + 0.5)) as usize, (40.0 + side - cell * (by + 0.5)) as usize)
        };
        let cmap = Colormap::magma();
        assert_eq!(at(0.0, 0.0), cmap.at(0.05), "densest bin is darkest");
        assert_eq!(at(3.0, 3.0), cmap.at(0.05 + 0.9 * (1.0 - 2f64.ln() / 11f64.ln())));
        assert_eq!(at(1.0, 2.0), BACKGROUND);
    }

    #[test]
    fn confusion_and_bars_render() {
        let cm = ConfusionMatrixPlot {
            title: "cm".into(),
            names: vec!["a".into(), "bb".into()],
            counts: vec![9, 1, 0, 5],
        };
        let c = cm.render();
        assert!(c.width() > 100 && c.height() > 100);
        assert!(count_colour(&c, Colormap::blues().at(1.0)) > 0, "the 100 % cell is darkest");
        let b = BarChart {
            title: "IoU".into(),
            y_label: "IoU".into(),
            labels: vec!["x".into(), "y".into()],
            values: vec![0.5, f64::NAN],
            colors: Some(vec![[1, 2, 3, 255], [4, 5, 6, 255]]),
            y_range: (0.0, 1.0),
            width: 300,
            height: 200,
        };
        let c = b.render();
        assert!(count_colour(&c, [1, 2, 3, 255]) > 50);
        assert_eq!(count_colour(&c, [4, 5, 6, 255]), 0);
        assert_eq!(compact_count(1_234_567), "1.2M");
    }
}
