//! Conversion between [`geodino_weights::TensorData`] and `tch::Tensor`, and strict loading of a
//! state dict into a `VarStore`.

use std::collections::BTreeSet;

use geodino_weights::{Dtype, StateDict, TensorData};
use tch::{Device, Kind, Tensor, nn};

use crate::{Error, Result, ShapeMismatch};

/// The libtorch kind of a stored dtype.
pub fn kind_of(dtype: Dtype) -> Kind {
    match dtype {
        Dtype::F64 => Kind::Double,
        Dtype::F32 => Kind::Float,
        Dtype::F16 => Kind::Half,
        Dtype::BF16 => Kind::BFloat16,
        Dtype::I64 => Kind::Int64,
        Dtype::I32 => Kind::Int,
        Dtype::I16 => Kind::Int16,
        Dtype::I8 => Kind::Int8,
        Dtype::U8 => Kind::Uint8,
        Dtype::Bool => Kind::Bool,
    }
}

/// The stored dtype of a libtorch kind.
///
/// # Errors
/// For kinds safetensors cannot hold (complex, quantised).
pub fn dtype_of(kind: Kind) -> Result<Dtype> {
    Ok(match kind {
        Kind::Double => Dtype::F64,
        Kind::Float => Dtype::F32,
        Kind::Half => Dtype::F16,
        Kind::BFloat16 => Dtype::BF16,
        Kind::Int64 => Dtype::I64,
        Kind::Int => Dtype::I32,
        Kind::Int16 => Dtype::I16,
        Kind::Int8 => Dtype::I8,
        Kind::Uint8 => Dtype::U8,
        Kind::Bool => Dtype::Bool,
        k => return Err(Error::Input(format!("tensor kind {k:?} cannot be stored"))),
    })
}

/// A CPU tensor holding a copy of `t`.
///
/// # Errors
/// libtorch errors.
pub fn to_tensor(t: &TensorData) -> Result<Tensor> {
    let shape: Vec<i64> = t.shape().iter().map(|&s| s as i64).collect();
    Ok(Tensor::f_from_data_size(t.bytes(), &shape, kind_of(t.dtype()))?)
}

/// A contiguous copy of `t` (from any device).
///
/// # Errors
/// Unstorable kinds, libtorch errors.
pub fn from_tensor(t: &Tensor) -> Result<TensorData> {
    let dtype = dtype_of(t.f_kind()?)?;
    let t = t.f_to_device(Device::Cpu)?.f_contiguous()?;
    let shape: Vec<usize> = t.size().iter().map(|&s| s as usize).collect();
    let numel: usize = shape.iter().product();
    let mut bytes = vec![0u8; numel * dtype.size()];
    if numel > 0 {
        t.f_copy_data_u8(&mut bytes, numel)?;
    }
    Ok(TensorData::new(dtype, shape, bytes)?)
}

/// What [`load_state_dict`] tolerates beyond an exact match.
#[derive(Debug, Clone, Default)]
pub struct LoadPolicy {
    /// Model variables that may be absent from the state dict; they keep their current value.
    pub optional: Vec<String>,
    /// State-dict keys that are dropped when the model has no such variable.
    pub ignorable: Vec<String>,
}

/// What a successful [`load_state_dict`] did besides copying.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReport {
    /// Number of variables copied.
    pub loaded: usize,
    /// Optional variables the state dict did not have (kept their value).
    pub kept: Vec<String>,
    /// Ignorable state-dict keys that were dropped.
    pub ignored: Vec<String>,
}

/// Copy `sd` into the variables of `vs`, strictly: every model variable must be present (unless
/// listed in `policy.optional`), every key must name a variable (unless in `policy.ignorable`),
/// and shapes must agree. All problems are collected and reported together, by key.
/// Values are converted to each variable's kind and device; the state dict is consumed tensor by
/// tensor so its memory is released as the copy proceeds.
///
/// # Errors
/// [`Error::StateDictMismatch`] listing every missing, unexpected and mis-shaped key;
/// libtorch errors while copying.
pub fn load_state_dict(
    vs: &nn::VarStore,
    sd: StateDict,
    policy: &LoadPolicy,
) -> Result<LoadReport> {
    let vars = vs.variables();
    let source =
        if sd.source().is_empty() { "state dict".to_string() } else { sd.source().to_string() };
    let model_keys: BTreeSet<&String> = vars.keys().collect();
    let mut missing: Vec<String> = model_keys
        .iter()
        .filter(|k| !sd.contains(k) && !policy.optional.iter().any(|o| o == **k))
        .map(|k| k.to_string())
        .collect();
    missing.sort();
    let mut unexpected = Vec::new();
    let mut ignored = Vec::new();
    let mut mismatched = Vec::new();
    for (k, t) in sd.iter() {
        match vars.get(k) {
            None if policy.ignorable.iter().any(|i| i == k) => ignored.push(k.clone()),
            None => unexpected.push(k.clone()),
            Some(v) => {
                let want = v.size();
                let got: Vec<i64> = t.shape().iter().map(|&s| s as i64).collect();
                if want != got {
                    mismatched.push(ShapeMismatch {
                        key: k.clone(),
                        expected: want,
                        found: t.shape().to_vec(),
                    });
                }
            }
        }
    }
    if !missing.is_empty() || !unexpected.is_empty() || !mismatched.is_empty() {
        return Err(Error::StateDictMismatch {
            source_name: source,
            missing,
            unexpected,
            mismatched,
        });
    }
    let kept: Vec<String> =
        model_keys.iter().filter(|k| !sd.contains(k)).map(|k| k.to_string()).collect();
    let mut loaded = 0;
    tch::no_grad(|| -> Result<()> {
        for (k, t) in sd {
            let Some(v) = vars.get(&k) else { continue };
            let src = to_tensor(&t)?;
            drop(t);
            let mut v = v.shallow_clone();
            v.f_copy_(&src.f_to_kind(v.kind())?.f_to_device(v.device())?)?;
            loaded += 1;
        }
        Ok(())
    })?;
    Ok(LoadReport { loaded, kept, ignored })
}

/// All variables of `vs` as a state dict (contiguous CPU copies, current kinds).
///
/// # Errors
/// libtorch errors.
pub fn state_dict_of(vs: &nn::VarStore) -> Result<StateDict> {
    let mut sd = StateDict::new();
    for (k, v) in vs.variables() {
        sd.insert(k, from_tensor(&v)?);
    }
    Ok(sd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_dtype() {
        let t = TensorData::from_f32(vec![2, 2], &[1.0, -2.0, 0.5, 3.25]);
        for d in [Dtype::F32, Dtype::BF16, Dtype::F16, Dtype::F64] {
            let td = t.clone().to_float_dtype(d);
            let back = from_tensor(&to_tensor(&td).unwrap()).unwrap();
            assert_eq!(back, td);
        }
        let i = TensorData::new(
            Dtype::I64,
            vec![2],
            [5i64.to_le_bytes(), (-1i64).to_le_bytes()].concat(),
        )
        .unwrap();
        assert_eq!(from_tensor(&to_tensor(&i).unwrap()).unwrap(), i);
    }
}
