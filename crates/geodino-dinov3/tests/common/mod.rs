//! Shared helpers of the golden tests.
#![allow(dead_code)]

use geodino_testutil::{Golden, assert_close, golden};
use tch::{Kind, Tensor};

/// A golden tensor as a CPU f32 libtorch tensor.
pub fn tensor(g: &Golden, name: &str) -> Tensor {
    let t = g.get(name);
    let shape: Vec<i64> = t.shape.iter().map(|&s| s as i64).collect();
    Tensor::from_slice(&t.data).reshape(&shape)
}

/// Compare a tensor with a golden tensor (shape exactly, values within `atol`); returns the max
/// absolute error.
pub fn check(what: &str, actual: &Tensor, expected: &golden::GoldenTensor, atol: f32) -> f32 {
    let shape: Vec<i64> = expected.shape.iter().map(|&s| s as i64).collect();
    assert_eq!(actual.size(), shape, "{what}: shape");
    let a = actual.to_kind(Kind::Float).contiguous().flatten(0, -1);
    let v: Vec<f32> = Vec::<f32>::try_from(&a).expect("f32 values");
    assert_close(what, &v, &expected.data, atol, 0.0);
    v.iter().zip(&expected.data).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// The golden file `tests/golden/dinov3/<name>`.
pub fn golden(name: &str) -> Golden {
    Golden::load(&geodino_testutil::golden_dir().join(name))
}
