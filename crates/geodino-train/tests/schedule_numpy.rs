//! The schedules against NumPy evaluating the reference's array definitions
//! (`linear_warmup_cosine_decay` and `CosineScheduler` of `dinov3/train/cosine_lr_scheduler.py`,
//! re-stated below with `np.linspace` / `np.cos` exactly as the reference composes them). NumPy
//! comes from the repository's `.venv` (the zarr-python oracle).

use std::process::Command;

use geodino_train::schedule::{CosineScheduler, LinearWarmupCosineDecay};

const SCRIPT: &str = r#"
import json, sys
import numpy as np
def v2(start, peak, end, warmup, total, cosine):
    linear = np.linspace(start, peak, warmup, endpoint=False)
    if cosine is None:
        cosine = total - warmup
    c = np.cos(np.linspace(0, np.pi, cosine))
    c = (c + 1) / 2
    c = (peak - end) * c + end
    const = np.full((total - cosine - warmup,), fill_value=end)
    return np.concatenate([linear, c, const])
def v1(base, final, total, warmup, start_warmup, freeze, trunc):
    f = np.zeros((freeze))
    w = np.linspace(start_warmup, base, warmup)
    n = total - warmup - freeze
    if trunc == 0.0:
        iters = np.arange(n)
        s = final + 0.5 * (base - final) * (1 + np.cos(np.pi * iters / len(iters)))
    else:
        iters = np.linspace(0, np.pi, int((1 + trunc) * n))[:n]
        s = np.cos(iters); s = (s + 1) / 2; s = (s - s[-1]) / (1 - s[-1]); s = s * (base - final) + final
    return np.concatenate((f, w, s), dtype=np.float64)
cases = json.loads(sys.argv[1])
arrs = [v2(*c["args"]) if c["kind"] == "v2" else v1(*c["args"]) for c in cases]
# bit patterns: a decimal round trip through JSON would not be exact
out = [np.ascontiguousarray(a, dtype=np.float64).view(np.uint64).tolist() for a in arrs]
print(json.dumps(out))
"#;

#[test]
fn schedules_equal_numpy_bit_for_bit() {
    let Some(py) = geodino_testutil::oracle::zarr_python() else { return };
    let v2_cases: Vec<(f64, f64, f64, usize, usize, Option<usize>)> = vec![
        (0.0, 4e-4, 4e-4, 100, 1000, None),
        (0.04, 0.07, 0.07, 37, 500, None),
        (1.0, 1.0, 0.5, 300, 1200, Some(7)),
        (0.0, 0.0, 2.0, 600, 1200, Some(101)),
        (0.0, 0.0, 7.0710678e-5, 0, 3000, Some(1000)),
        (0.3, 1.7, 0.01, 13, 113, Some(97)),
    ];
    let v1_cases: Vec<(f64, f64, usize, usize, f64, usize, f64)> = vec![
        (1e-3, 1e-6, 1250, 125, 0.0, 0, 0.0),
        (0.04, 0.4, 999, 0, 0.0, 0, 0.0),
        (0.992, 1.0, 640, 0, 0.0, 10, 0.25),
        (0.07, 0.07, 375, 375, 0.04, 0, 0.0),
    ];
    let mut json = Vec::new();
    for c in &v2_cases {
        json.push(serde_json::json!({"kind": "v2", "args": [c.0, c.1, c.2, c.3, c.4, c.5]}));
    }
    for c in &v1_cases {
        json.push(serde_json::json!({"kind": "v1", "args": [c.0, c.1, c.2, c.3, c.4, c.5, c.6]}));
    }
    let out = geodino_testutil::oracle::run(Command::new(py).args([
        "-c",
        SCRIPT,
        &serde_json::Value::Array(json).to_string(),
    ]));
    let bits: Vec<Vec<u64>> = serde_json::from_str(&out).unwrap();
    let arrays: Vec<Vec<f64>> =
        bits.into_iter().map(|a| a.into_iter().map(f64::from_bits).collect()).collect();
    let mut compared = 0;
    for (i, c) in v2_cases.iter().enumerate() {
        let s = LinearWarmupCosineDecay::new(c.0, c.1, c.2, c.3, c.4, c.5).unwrap();
        let ours = s.to_vec();
        assert_eq!(ours.len(), arrays[i].len());
        for (it, (a, e)) in ours.iter().zip(&arrays[i]).enumerate() {
            assert!(a.to_bits() == e.to_bits(), "v2 case {i} it {it}: {a:e} vs numpy {e:e}");
        }
        compared += ours.len();
    }
    for (k, c) in v1_cases.iter().enumerate() {
        let s = CosineScheduler {
            base_value: c.0,
            final_value: c.1,
            total_iters: c.2,
            warmup_iters: c.3,
            start_warmup_value: c.4,
            freeze_iters: c.5,
            trunc_extra: c.6,
        };
        s.validate().unwrap();
        let expected = &arrays[v2_cases.len() + k];
        assert_eq!(expected.len(), c.2);
        for (it, e) in expected.iter().enumerate() {
            let a = s.at(it);
            assert!(a.to_bits() == e.to_bits(), "v1 case {k} it {it}: {a:e} vs numpy {e:e}");
        }
        compared += expected.len();
    }
    println!("{compared} schedule values equal NumPy's bit for bit");
}
