//! Count, mean and sum of squared deviations, mergeable (Chan et al.'s parallel update).

/// Running `(n, mean, M2)` of a variable; `M2 = Σ (x − mean)²`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Moments {
    pub n: f64,
    pub mean: f64,
    pub m2: f64,
}

impl Moments {
    /// Add one value (Welford).
    pub fn push(&mut self, x: f64) {
        self.n += 1.0;
        let d = x - self.mean;
        self.mean += d / self.n;
        self.m2 += d * (x - self.mean);
    }

    /// Moments of `n` values from their sum and sum of squares (used per window, where the
    /// values are bounded heights and f64 keeps the cancellation harmless).
    pub fn from_sums(n: f64, sum: f64, sum_sq: f64) -> Self {
        if n == 0.0 {
            return Moments::default();
        }
        let mean = sum / n;
        Moments { n, mean, m2: (sum_sq - sum * mean).max(0.0) }
    }

    /// Combine with the moments of another set of values.
    pub fn merge(&mut self, o: &Moments) {
        if o.n == 0.0 {
            return;
        }
        if self.n == 0.0 {
            *self = *o;
            return;
        }
        let n = self.n + o.n;
        let d = o.mean - self.mean;
        self.mean += d * o.n / n;
        self.m2 += o.m2 + d * d * self.n * o.n / n;
        self.n = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_equals_one_pass() {
        // Values 1..=6: mean 3.5, M2 = Σ (x - 3.5)² = 17.5.
        let mut a = Moments::default();
        let mut b = Moments::default();
        for x in [1.0, 2.0, 3.0] {
            a.push(x);
        }
        for x in [4.0, 5.0, 6.0] {
            b.push(x);
        }
        a.merge(&b);
        assert_eq!((a.n, a.mean), (6.0, 3.5));
        assert!((a.m2 - 17.5).abs() < 1e-12);
        let s = Moments::from_sums(6.0, 21.0, 91.0);
        assert!((s.m2 - 17.5).abs() < 1e-12 && s.mean == 3.5);
    }
}
