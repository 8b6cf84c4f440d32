//! Axis ticks: "nice" steps of 1, 2 or 5 × 10ᵏ for linear axes, decades for log axes, and
//! compact labels.

/// A nice step (1, 2 or 5 × 10ᵏ) close to `span / target` and never smaller.
pub fn nice_step(span: f64, target: usize) -> f64 {
    let (m, e) = nice_step_parts(span, target);
    scaled(1, m, e)
}

/// The step as a mantissa (1, 2, 5 or 10) and a power of ten.
fn nice_step_parts(span: f64, target: usize) -> (i64, i32) {
    let raw = (span / target.max(1) as f64).abs();
    if raw <= 0.0 || !raw.is_finite() {
        return (1, 0);
    }
    let mut e = raw.log10().floor() as i32;
    // Guard against log10 rounding: keep raw / 10^e in [1, 10).
    if scaled(1, 1, e) > raw {
        e -= 1;
    } else if scaled(1, 10, e) <= raw {
        e += 1;
    }
    let f = raw / scaled(1, 1, e);
    let m = if f <= 1.0 + 1e-9 {
        1
    } else if f <= 2.0 + 1e-9 {
        2
    } else if f <= 5.0 + 1e-9 {
        5
    } else {
        10
    };
    (m, e)
}

/// `k · m · 10^e`, computed so that decimal steps come out exact (`3 · 2 / 10` is `0.6`).
fn scaled(k: i64, m: i64, e: i32) -> f64 {
    if e >= 0 { (k * m) as f64 * 10f64.powi(e) } else { (k * m) as f64 / 10f64.powi(-e) }
}

/// An axis range that includes `[lo, hi]`, padded out to multiples of a nice step, and the
/// tick positions inside it (about `target` of them).
#[derive(Debug, Clone, PartialEq)]
pub struct LinearTicks {
    /// Axis start (a multiple of `step`).
    pub lo: f64,
    /// Axis end (a multiple of `step`).
    pub hi: f64,
    /// Tick spacing.
    pub step: f64,
    /// Tick positions, `lo` to `hi` inclusive.
    pub ticks: Vec<f64>,
}

/// Nice linear ticks covering `[lo, hi]`. A degenerate range is widened by ±1 (or ±10 %).
pub fn linear(lo: f64, hi: f64, target: usize) -> LinearTicks {
    let (mut lo, mut hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
    if !lo.is_finite() || !hi.is_finite() {
        lo = 0.0;
        hi = 1.0;
    }
    if hi - lo <= f64::EPSILON * lo.abs().max(1.0) {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        lo -= pad;
        hi += pad;
    }
    let (m, e) = nice_step_parts(hi - lo, target);
    let step = scaled(1, m, e);
    let a = (lo / step + 1e-9).floor() as i64;
    let b = (hi / step - 1e-9).ceil() as i64;
    let ticks = (a..=b).map(|k| scaled(k, m, e)).map(|v| if v == 0.0 { 0.0 } else { v }).collect();
    LinearTicks { lo: scaled(a, m, e), hi: scaled(b, m, e), step, ticks }
}

/// Log-axis decades covering `[lo, hi]` (both > 0): returns `(10^a, 10^b, [10^a, ..., 10^b])`.
/// Non-positive input is clamped to `1e-12`.
pub fn log_decades(lo: f64, hi: f64) -> (f64, f64, Vec<f64>) {
    let lo = lo.max(1e-12);
    let hi = hi.max(lo);
    let a = lo.log10().floor() as i32;
    let mut b = hi.log10().ceil() as i32;
    if b <= a {
        b = a + 1;
    }
    let ticks = (a..=b).map(|k| 10f64.powi(k)).collect();
    (10f64.powi(a), 10f64.powi(b), ticks)
}

/// A compact tick label: `step` decides the number of decimals; very large or small magnitudes
/// use `1e5`-style exponents.
pub fn format(v: f64, step: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e6).contains(&a) {
        let e = a.log10().floor() as i32;
        let m = v / 10f64.powi(e);
        if (m - m.round()).abs() < 1e-9 {
            return format!("{}e{e}", m.round() as i64);
        }
        return format!("{m:.1}e{e}");
    }
    let decimals =
        if step > 0.0 && step < 1.0 { (-(step.log10().floor()) as usize).min(6) } else { 0 };
    format!("{v:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_steps() {
        assert_eq!(nice_step(10.0, 5), 2.0);
        assert_eq!(nice_step(1.0, 5), 0.2);
        assert_eq!(nice_step(37.0, 5), 10.0);
        assert_eq!(nice_step(0.003, 3), 0.001);
        assert_eq!(nice_step(45.0, 4), 20.0);
    }

    #[test]
    fn linear_ticks_cover_the_range() {
        let t = linear(0.13, 0.92, 5);
        assert_eq!(t.step, 0.2);
        assert_eq!(t.ticks, vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        let t = linear(-3.0, 47.0, 5);
        assert_eq!((t.lo, t.hi, t.step), (-10.0, 50.0, 10.0));
        let t = linear(5.0, 5.0, 4);
        assert!(t.lo < 5.0 && t.hi > 5.0);
    }

    #[test]
    fn log_decades_and_labels() {
        let (a, b, t) = log_decades(0.03, 7.0);
        assert_eq!((a, b), (0.01, 10.0));
        assert_eq!(t.len(), 4);
        assert_eq!(format(0.2, 0.2), "0.2");
        assert_eq!(format(40.0, 10.0), "40");
        assert_eq!(format(0.0001, 0.0001), "1e-4");
        assert_eq!(format(2_500_000.0, 500_000.0), "2.5e6");
        assert_eq!(format(0.05, 0.05), "0.05");
    }
}
