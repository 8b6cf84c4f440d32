//! Hashes and value noise: every random choice of the generator is a pure function of the seed
//! and a grid position, which is what makes any window computable on its own.

/// murmur3's 64-bit finaliser: a fast, well-mixed bijection.
#[inline]
pub(crate) fn mix64(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// A hash of a seed and a 2-D integer position.
#[inline]
pub(crate) fn hash2(seed: u64, a: i64, b: i64) -> u64 {
    mix64(
        mix64(seed ^ (a as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
            ^ (b as u64).wrapping_mul(0xc2b2_ae3d_27d4_eb4f),
    )
}

/// A seed for a named purpose ("layer"), so that layers never share random numbers.
pub(crate) fn layer_seed(seed: u64, layer: u64) -> u64 {
    mix64(seed.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ mix64(layer))
}

/// A stream of uniform numbers drawn from one hash.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rng(u64);

impl Rng {
    pub fn new(h: u64) -> Self {
        Rng(h)
    }

    /// Uniform in `[0, 1)`.
    #[inline]
    pub fn f(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        (mix64(self.0) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[a, b)`.
    #[inline]
    pub fn range(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.f()
    }
}

/// Uniform in `[0, 1)` from the top 24 bits of a hash.
#[inline]
pub(crate) fn unit(h: u64) -> f32 {
    (h >> 40) as f32 * (1.0 / (1u32 << 24) as f32)
}

/// An approximately standard-normal number from one hash (sum of four 16-bit uniforms,
/// Irwin–Hall, rescaled to unit variance).
#[inline]
pub(crate) fn gauss(h: u64) -> f32 {
    let s = (h & 0xffff) + ((h >> 16) & 0xffff) + ((h >> 32) & 0xffff) + (h >> 48);
    // Four U(0, 65535): mean 131070, variance 4 · 65536² / 12.
    (s as f32 - 131_070.0) * (1.0 / 37_837.23)
}

/// `floor(x)` as an integer, without a libm call (the portable x86-64 target has no SSE4.1
/// `roundsd`, so `f64::floor` is a function call in hot loops).
#[inline]
pub(crate) fn ifloor(x: f64) -> i64 {
    let i = x as i64;
    if (i as f64) > x { i - 1 } else { i }
}

/// The fractional part `x - floor(x)`, in `[0, 1)`.
#[inline]
pub(crate) fn fract(x: f64) -> f64 {
    x - ifloor(x) as f64
}

/// `x mod m` for `m > 0`, in `[0, m)` (a cheap `rem_euclid`).
#[inline]
pub(crate) fn modulo(x: f64, m: f64) -> f64 {
    m * fract(x / m)
}

/// A smooth periodic wave of period 1 close to `cos(2π t)` (smoothstep pieces; error < 0.03).
#[inline]
pub(crate) fn wave(t: f64) -> f32 {
    let p = (2.0 * (fract(t) - 0.5)).abs() as f32; // 1 at t = 0, 0 at t = 0.5
    let s = p * p * (3.0 - 2.0 * p);
    2.0 * s - 1.0
}

/// A 32-bit lattice hash in `[-1, 1]`.
#[inline]
fn lattice(seed: u32, x: i32, y: i32) -> f32 {
    let mut h = seed ^ (x as u32).wrapping_mul(0x27d4_eb2d) ^ (y as u32).wrapping_mul(0x1656_67b1);
    h ^= h >> 15;
    h = h.wrapping_mul(0x2c1b_3c6d);
    h ^= h >> 12;
    h = h.wrapping_mul(0x297a_2d39);
    h ^= h >> 15;
    (h >> 8) as f32 * (2.0 / (1u32 << 24) as f32) - 1.0
}

/// Value noise in `[-1, 1]` with unit lattice spacing and smoothstep interpolation.
#[inline]
pub(crate) fn value_noise(seed: u32, x: f64, y: f64) -> f32 {
    let (xi, yi) = (ifloor(x), ifloor(y));
    let (fx, fy) = ((x - xi as f64) as f32, (y - yi as f64) as f32);
    let (xi, yi) = (xi as i32, yi as i32);
    let (u, v) = (fx * fx * (3.0 - 2.0 * fx), fy * fy * (3.0 - 2.0 * fy));
    let a = lattice(seed, xi, yi);
    let b = lattice(seed, xi + 1, yi);
    let c = lattice(seed, xi, yi + 1);
    let d = lattice(seed, xi + 1, yi + 1);
    let top = a + (b - a) * u;
    let bot = c + (d - c) * u;
    top + (bot - top) * v
}

/// Fractal (fBm) value noise with `octaves` octaves of doubling frequency and halving amplitude,
/// normalised to about `[-1, 1]`; `x`, `y` in units of the first octave's wavelength.
#[inline]
pub(crate) fn fbm(seed: u32, x: f64, y: f64, octaves: u32) -> f32 {
    let mut sum = 0.0;
    let mut amp = 1.0;
    let mut norm = 0.0;
    let (mut x, mut y) = (x, y);
    for o in 0..octaves {
        sum += amp * value_noise(seed.wrapping_add(o.wrapping_mul(0x9e37_79b9)), x, y);
        norm += amp;
        amp *= 0.5;
        // Rotate a little between octaves to hide the lattice.
        let (nx, ny) = (x * 1.6 + y * 1.2, -x * 1.2 + y * 1.6);
        x = nx + 17.3;
        y = ny - 5.1;
    }
    sum / norm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_bounded_continuous_and_seeded() {
        let mut prev = value_noise(7, 0.0, 0.3);
        for i in 1..2000 {
            let x = i as f64 * 0.01;
            let v = value_noise(7, x, 0.3);
            assert!((-1.0..=1.0).contains(&v));
            assert!((v - prev).abs() < 0.05, "continuous at {x}");
            prev = v;
        }
        assert_ne!(value_noise(7, 3.3, 1.1), value_noise(8, 3.3, 1.1));
        let f = fbm(3, 12.5, -4.25, 4);
        assert!((-1.0..=1.0).contains(&f));
    }

    #[test]
    fn fast_floor_and_wave() {
        for x in [-2.5, -2.0, -0.1, 0.0, 0.3, 1.0, 7.99, -1e9 - 0.5] {
            assert_eq!(ifloor(x), x.floor() as i64, "{x}");
            assert!((modulo(x, 3.0) - x.rem_euclid(3.0)).abs() < 1e-6, "{x}");
        }
        for i in 0..100 {
            let t = i as f64 / 37.0 - 1.3;
            assert!((wave(t) - (std::f64::consts::TAU * t).cos() as f32).abs() < 0.03, "{t}");
        }
    }

    #[test]
    fn gauss_has_unit_variance() {
        let n = 200_000;
        let (mut s, mut s2) = (0.0f64, 0.0f64);
        for i in 0..n {
            let g = gauss(mix64(i)) as f64;
            s += g;
            s2 += g * g;
        }
        let mean = s / n as f64;
        let var = s2 / n as f64 - mean * mean;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "variance {var}");
    }
}
