//! Helpers shared by the CLI's training tests.

use std::path::Path;

/// `(iteration, bits of the loss under key)` for every line of `RUN/metrics.jsonl`: bit
/// patterns, so that resumed runs can be compared with uninterrupted ones exactly.
pub fn losses(run: &Path, key: &str) -> Vec<(u64, u64)> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["iteration"].as_u64().unwrap(), v[key].as_f64().unwrap().to_bits())
        })
        .collect()
}
