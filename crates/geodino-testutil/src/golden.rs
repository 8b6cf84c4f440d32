//! Reference tensors stored as safetensors, and comparison with tolerances.

use std::collections::BTreeMap;
use std::path::Path;

/// One tensor of a golden file, widened to `f32`.
#[derive(Debug, Clone, PartialEq)]
pub struct GoldenTensor {
    /// Shape.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
}

/// All tensors of a safetensors file, by name.
#[derive(Debug, Clone, Default)]
pub struct Golden {
    /// Tensors by name.
    pub tensors: BTreeMap<String, GoldenTensor>,
}

impl Golden {
    /// Load a safetensors file (F32, F64, BF16, F16, U8, I64 tensors; all widened to f32).
    ///
    /// # Panics
    /// If the file cannot be read or parsed: golden files are part of the repository.
    pub fn load(path: &Path) -> Golden {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let st = safetensors::SafeTensors::deserialize(&bytes)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut tensors = BTreeMap::new();
        for (name, view) in st.tensors() {
            let d = view.data();
            use safetensors::Dtype;
            let data: Vec<f32> = match view.dtype() {
                Dtype::F32 => {
                    d.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
                }
                Dtype::F64 => d
                    .chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32)
                    .collect(),
                Dtype::BF16 => d
                    .chunks_exact(2)
                    .map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16))
                    .collect(),
                Dtype::U8 => d.iter().map(|&v| v as f32).collect(),
                Dtype::I64 => d
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f32)
                    .collect(),
                other => {
                    panic!("{}: tensor {name} has unsupported dtype {other:?}", path.display())
                }
            };
            tensors.insert(name.to_string(), GoldenTensor { shape: view.shape().to_vec(), data });
        }
        Golden { tensors }
    }

    /// The tensor `name`.
    ///
    /// # Panics
    /// If absent, listing the names that exist.
    pub fn get(&self, name: &str) -> &GoldenTensor {
        self.tensors.get(name).unwrap_or_else(|| {
            panic!("no tensor {name}; have {:?}", self.tensors.keys().collect::<Vec<_>>())
        })
    }
}

/// Assert `|actual - expected| <= atol + rtol·|expected|` element-wise, reporting the worst
/// element, its index and both values.
///
/// # Panics
/// On a length mismatch or when the tolerance is exceeded.
pub fn assert_close(what: &str, actual: &[f32], expected: &[f32], atol: f32, rtol: f32) {
    assert_eq!(
        actual.len(),
        expected.len(),
        "{what}: length {} vs expected {}",
        actual.len(),
        expected.len()
    );
    let mut worst = (0usize, 0.0f32);
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        // NaN matches NaN; a NaN or infinite difference anywhere else is the worst possible.
        let excess = if e.is_nan() && a.is_nan() {
            0.0
        } else {
            let x = (a - e).abs() - (atol + rtol * e.abs());
            if x.is_nan() { f32::INFINITY } else { x }
        };
        if excess > worst.1 {
            worst = (i, excess);
        }
    }
    if worst.1 > 0.0 {
        let i = worst.0;
        panic!(
            "{what}: element {i} is {} but expected {} (|diff| {} > atol {atol} + rtol {rtol}·|e|)",
            actual[i],
            expected[i],
            (actual[i] - expected[i]).abs()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_files_load_and_tolerances_bite() {
        let g = Golden::load(&crate::golden_dir().join("ssl_losses.inputs.safetensors"));
        let t = g.get("ibot.masks");
        assert_eq!(t.shape, vec![6, 16]);
        assert!(t.data.iter().all(|&v| v == 0.0 || v == 1.0));
        assert_close("same", &[1.0, 2.0], &[1.0, 2.0 + 1e-6], 1e-5, 0.0);
        let r =
            std::panic::catch_unwind(|| assert_close("diff", &[1.0, 2.0], &[1.0, 2.1], 1e-5, 0.0));
        assert!(r.is_err());
    }
}
