//! Parameter initialisers matching PyTorch's (`torch.nn.init`), for training from scratch.

use tch::Tensor;

/// Fill `t` in place with a normal(`mean`, `std`) truncated to `[a, b]`, by the inverse-CDF method
/// `torch.nn.init.trunc_normal_` uses.
pub fn trunc_normal_(t: &Tensor, mean: f64, std: f64, a: f64, b: f64) {
    fn norm_cdf(x: f64) -> f64 {
        (1.0 + erf(x / std::f64::consts::SQRT_2)) / 2.0
    }
    let l = norm_cdf((a - mean) / std);
    let u = norm_cdf((b - mean) / std);
    tch::no_grad(|| {
        let mut t = t.shallow_clone();
        let _ = t.uniform_(2.0 * l - 1.0, 2.0 * u - 1.0);
        let _ = t.erfinv_();
        let _ = t.g_mul_scalar_(std * std::f64::consts::SQRT_2);
        let _ = t.g_add_scalar_(mean);
        let _ = t.clamp_(a, b);
    });
}

/// Fill `t` in place with `value`.
pub fn constant_(t: &Tensor, value: f64) {
    tch::no_grad(|| {
        let _ = t.shallow_clone().fill_(value);
    });
}

/// Fill `t` in place with uniform(`lo`, `hi`) values.
pub fn uniform_(t: &Tensor, lo: f64, hi: f64) {
    tch::no_grad(|| {
        let _ = t.shallow_clone().uniform_(lo, hi);
    });
}

/// Fill `t` in place with normal(`mean`, `std`) values.
pub fn normal_(t: &Tensor, mean: f64, std: f64) {
    tch::no_grad(|| {
        let _ = t.shallow_clone().normal_(mean, std);
    });
}

/// The error function, from Numerical Recipes' Chebyshev fit of erfc (relative error below
/// 1.2e-7); it only sets the truncation interval.
fn erf(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 { 1.0 - r } else { r - 1.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trunc_normal_stays_in_bounds_with_the_right_spread() {
        tch::manual_seed(0);
        let t = Tensor::zeros([100_000], (tch::Kind::Float, tch::Device::Cpu));
        trunc_normal_(&t, 0.0, 0.02, -2.0, 2.0);
        assert!(t.abs().max().double_value(&[]) <= 2.0);
        let s = t.std(true).double_value(&[]);
        assert!((s - 0.02).abs() < 5e-4, "std {s}");
        assert!((erf(0.5) - 0.520_499_877_8).abs() < 1e-6);
    }
}
