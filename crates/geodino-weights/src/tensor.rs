//! Plain, contiguous, row-major tensors: the torch-free currency of this crate.

use half::{bf16, f16};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Element type of a stored tensor. Names follow safetensors (`F32`, `BF16`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Dtype {
    /// 64-bit float.
    F64,
    /// 32-bit float.
    F32,
    /// IEEE half.
    F16,
    /// bfloat16.
    BF16,
    /// 64-bit signed integer.
    I64,
    /// 32-bit signed integer.
    I32,
    /// 16-bit signed integer.
    I16,
    /// 8-bit signed integer.
    I8,
    /// 8-bit unsigned integer.
    U8,
    /// Boolean, one byte per element.
    Bool,
}

impl Dtype {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::F64 | Dtype::I64 => 8,
            Dtype::F32 | Dtype::I32 => 4,
            Dtype::F16 | Dtype::BF16 | Dtype::I16 => 2,
            Dtype::I8 | Dtype::U8 | Dtype::Bool => 1,
        }
    }

    /// True for the floating-point types.
    pub fn is_float(self) -> bool {
        matches!(self, Dtype::F64 | Dtype::F32 | Dtype::F16 | Dtype::BF16)
    }

    /// The safetensors name (`"F32"`, `"BF16"`, …; `"BOOL"` for booleans).
    pub fn safetensors_name(self) -> &'static str {
        match self {
            Dtype::F64 => "F64",
            Dtype::F32 => "F32",
            Dtype::F16 => "F16",
            Dtype::BF16 => "BF16",
            Dtype::I64 => "I64",
            Dtype::I32 => "I32",
            Dtype::I16 => "I16",
            Dtype::I8 => "I8",
            Dtype::U8 => "U8",
            Dtype::Bool => "BOOL",
        }
    }

    /// Parse a safetensors dtype name.
    pub fn from_safetensors_name(s: &str) -> Option<Dtype> {
        Some(match s {
            "F64" => Dtype::F64,
            "F32" => Dtype::F32,
            "F16" => Dtype::F16,
            "BF16" => Dtype::BF16,
            "I64" => Dtype::I64,
            "I32" => Dtype::I32,
            "I16" => Dtype::I16,
            "I8" => Dtype::I8,
            "U8" => Dtype::U8,
            "BOOL" => Dtype::Bool,
            _ => return None,
        })
    }

    /// The dtype of a PyTorch typed-storage class name (`FloatStorage`, `BFloat16Storage`, …).
    pub fn from_torch_storage(name: &str) -> Option<Dtype> {
        Some(match name {
            "DoubleStorage" => Dtype::F64,
            "FloatStorage" => Dtype::F32,
            "HalfStorage" => Dtype::F16,
            "BFloat16Storage" => Dtype::BF16,
            "LongStorage" => Dtype::I64,
            "IntStorage" => Dtype::I32,
            "ShortStorage" => Dtype::I16,
            "CharStorage" => Dtype::I8,
            "ByteStorage" => Dtype::U8,
            "BoolStorage" => Dtype::Bool,
            _ => return None,
        })
    }

    /// Parse a user-facing name: `f32`/`float32`, `bf16`/`bfloat16`, `f16`/`float16`/`half`.
    pub fn parse_float(s: &str) -> Option<Dtype> {
        Some(match s.to_ascii_lowercase().as_str() {
            "f32" | "float32" | "float" | "fp32" => Dtype::F32,
            "bf16" | "bfloat16" => Dtype::BF16,
            "f16" | "float16" | "half" | "fp16" => Dtype::F16,
            "f64" | "float64" | "double" => Dtype::F64,
            _ => return None,
        })
    }
}

impl std::fmt::Display for Dtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.safetensors_name())
    }
}

/// A dense tensor: dtype, shape and little-endian row-major bytes.
#[derive(Clone, PartialEq)]
pub struct TensorData {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl std::fmt::Debug for TensorData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TensorData({} {:?})", self.dtype, self.shape)
    }
}

impl TensorData {
    /// A tensor from raw little-endian bytes.
    ///
    /// # Errors
    /// When `data.len()` is not `numel(shape) · dtype.size()`.
    pub fn new(dtype: Dtype, shape: Vec<usize>, data: Vec<u8>) -> Result<TensorData> {
        let want = shape.iter().product::<usize>() * dtype.size();
        if data.len() != want {
            return Err(Error::StateDict(format!(
                "tensor of {dtype} {shape:?} needs {want} bytes, got {}",
                data.len()
            )));
        }
        Ok(TensorData { dtype, shape, data })
    }

    /// An `F32` tensor from values.
    ///
    /// # Panics
    /// When `values.len()` does not match `shape`.
    pub fn from_f32(shape: Vec<usize>, values: &[f32]) -> TensorData {
        assert_eq!(shape.iter().product::<usize>(), values.len(), "shape {shape:?} vs values");
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        TensorData { dtype: Dtype::F32, shape, data }
    }

    /// Element type.
    pub fn dtype(&self) -> Dtype {
        self.dtype
    }

    /// Shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The raw little-endian bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }

    /// The raw bytes, consuming the tensor.
    pub fn into_bytes(self) -> Vec<u8> {
        self.data
    }

    /// The same data viewed with another shape of equal element count.
    ///
    /// # Errors
    /// When the element counts differ.
    pub fn reshape(mut self, shape: Vec<usize>) -> Result<TensorData> {
        if shape.iter().product::<usize>() != self.numel() {
            return Err(Error::StateDict(format!("cannot reshape {:?} to {shape:?}", self.shape)));
        }
        self.shape = shape;
        Ok(self)
    }

    /// Every element widened (or rounded) to `f64`. Integer and boolean tensors convert too.
    pub fn to_f64_vec(&self) -> Vec<f64> {
        let d = &self.data;
        match self.dtype {
            Dtype::F64 => {
                d.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8"))).collect()
            }
            Dtype::F32 => d
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("4")) as f64)
                .collect(),
            Dtype::F16 => {
                d.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]]).to_f64()).collect()
            }
            Dtype::BF16 => {
                d.chunks_exact(2).map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f64()).collect()
            }
            Dtype::I64 => d
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().expect("8")) as f64)
                .collect(),
            Dtype::I32 => d
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes(c.try_into().expect("4")) as f64)
                .collect(),
            Dtype::I16 => {
                d.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]]) as f64).collect()
            }
            Dtype::I8 => d.iter().map(|&v| v as i8 as f64).collect(),
            Dtype::U8 | Dtype::Bool => d.iter().map(|&v| v as f64).collect(),
        }
    }

    /// Every element as `f32` (exact for `F32`, `F16`, `BF16`).
    pub fn to_f32_vec(&self) -> Vec<f32> {
        match self.dtype {
            Dtype::F32 => self
                .data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("4")))
                .collect(),
            Dtype::F16 => self
                .data
                .chunks_exact(2)
                .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Dtype::BF16 => self
                .data
                .chunks_exact(2)
                .map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            _ => self.to_f64_vec().into_iter().map(|v| v as f32).collect(),
        }
    }

    /// The tensor converted to the floating-point type `dtype` (round to nearest even).
    /// Non-float tensors and tensors already of that type are returned unchanged.
    pub fn to_float_dtype(self, dtype: Dtype) -> TensorData {
        if !self.dtype.is_float() || !dtype.is_float() || self.dtype == dtype {
            return self;
        }
        let data: Vec<u8> = match dtype {
            Dtype::F32 => self.to_f32_vec().iter().flat_map(|v| v.to_le_bytes()).collect(),
            Dtype::F64 => self.to_f64_vec().iter().flat_map(|v| v.to_le_bytes()).collect(),
            Dtype::F16 => match self.dtype {
                Dtype::F64 => {
                    self.to_f64_vec().iter().flat_map(|&v| f16::from_f64(v).to_le_bytes()).collect()
                }
                _ => {
                    self.to_f32_vec().iter().flat_map(|&v| f16::from_f32(v).to_le_bytes()).collect()
                }
            },
            Dtype::BF16 => match self.dtype {
                Dtype::F64 => self
                    .to_f64_vec()
                    .iter()
                    .flat_map(|&v| bf16::from_f64(v).to_le_bytes())
                    .collect(),
                _ => self
                    .to_f32_vec()
                    .iter()
                    .flat_map(|&v| bf16::from_f32(v).to_le_bytes())
                    .collect(),
            },
            _ => unreachable!("dtype is float"),
        };
        TensorData { dtype, shape: self.shape, data }
    }

    /// Split along dimension 0 into `n` equal parts.
    ///
    /// # Errors
    /// When the tensor is 0-d or its first dimension is not divisible by `n`.
    pub fn chunk0(&self, n: usize) -> Result<Vec<TensorData>> {
        let Some(&d0) = self.shape.first() else {
            return Err(Error::StateDict("cannot split a 0-d tensor".into()));
        };
        if n == 0 || d0 % n != 0 {
            return Err(Error::StateDict(format!("cannot split {:?} into {n} parts", self.shape)));
        }
        let part = self.data.len() / n;
        let mut shape = self.shape.clone();
        shape[0] = d0 / n;
        Ok(self
            .data
            .chunks_exact(part.max(1))
            .take(n)
            .map(|c| TensorData { dtype: self.dtype, shape: shape.clone(), data: c.to_vec() })
            .collect())
    }

    /// Concatenate along dimension 0.
    ///
    /// # Errors
    /// When the parts differ in dtype or in any dimension but the first.
    pub fn cat0(parts: &[TensorData]) -> Result<TensorData> {
        let Some(first) = parts.first() else {
            return Err(Error::StateDict("nothing to concatenate".into()));
        };
        let mut shape = first.shape.clone();
        if shape.is_empty() {
            return Err(Error::StateDict("cannot concatenate 0-d tensors".into()));
        }
        shape[0] = 0;
        let mut data = Vec::new();
        for p in parts {
            if p.dtype != first.dtype
                || p.shape.len() != first.shape.len()
                || p.shape[1..] != first.shape[1..]
            {
                return Err(Error::StateDict(format!(
                    "cannot concatenate {} {:?} with {} {:?}",
                    first.dtype, first.shape, p.dtype, p.shape
                )));
            }
            shape[0] += p.shape[0];
            data.extend_from_slice(&p.data);
        }
        Ok(TensorData { dtype: first.dtype, shape, data })
    }

    /// A tensor of zeros.
    pub fn zeros(dtype: Dtype, shape: Vec<usize>) -> TensorData {
        let n = shape.iter().product::<usize>() * dtype.size();
        TensorData { dtype, shape, data: vec![0; n] }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_trip_and_round_to_nearest() {
        let t = TensorData::from_f32(vec![2, 2], &[1.0, -2.5, 1.0 + 1.0 / 256.0, 3.0e-3]);
        let b = t.clone().to_float_dtype(Dtype::BF16);
        assert_eq!(b.dtype(), Dtype::BF16);
        assert_eq!(b.bytes().len(), 8);
        let back = b.to_f32_vec();
        assert_eq!(back[0], 1.0);
        assert_eq!(back[1], -2.5);
        // 1 + 2^-8 is a tie between 1 and 1 + 2^-7 in bf16; ties go to even (1.0).
        assert_eq!(back[2], 1.0);
        assert!((back[3] - 3.0e-3).abs() < 1e-5);
        let h = t.clone().to_float_dtype(Dtype::F16).to_f32_vec();
        assert_eq!(h[2], 1.0 + 1.0 / 256.0);
        let parts = t.chunk0(2).unwrap();
        assert_eq!(parts[1].to_f32_vec(), vec![1.0 + 1.0 / 256.0, 3.0e-3]);
        assert_eq!(TensorData::cat0(&parts).unwrap(), t);
        assert!(TensorData::new(Dtype::F32, vec![3], vec![0; 8]).is_err());
    }
}
