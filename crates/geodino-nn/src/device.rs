//! Device and precision selection from user-facing strings (`--device`, `--precision`).

use serde::{Deserialize, Serialize};
use tch::{Device, Kind};

use crate::{Error, Result};

/// Parse `cpu`, `cuda` (= `cuda:0`), `cuda:N` or `auto` (CUDA 0 when available, else CPU).
///
/// # Errors
/// An unknown string, or CUDA asked for where it is not available (CPU-only libtorch, no
/// driver, or `N` beyond the device count).
pub fn parse_device(s: &str) -> Result<Device> {
    let s = s.trim().to_ascii_lowercase();
    let cuda = |i: usize| -> Result<Device> {
        let n = tch::Cuda::device_count();
        if !tch::Cuda::is_available() || n <= 0 {
            return Err(Error::Device(format!(
                "{s:?}: CUDA is not available (CPU-only libtorch or no GPU; see docs/libtorch.md)"
            )));
        }
        if i as i64 >= n {
            return Err(Error::Device(format!("{s:?}: only {n} CUDA device(s)")));
        }
        Ok(Device::Cuda(i))
    };
    match s.as_str() {
        "cpu" => Ok(Device::Cpu),
        "auto" => Ok(if tch::Cuda::is_available() { Device::Cuda(0) } else { Device::Cpu }),
        "cuda" | "gpu" => cuda(0),
        other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(i)) => cuda(i),
            _ => Err(Error::Device(format!("{s:?}: expected cpu, cuda, cuda:N or auto"))),
        },
    }
}

/// Floating-point precision of parameters and activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// float32 (the reference; golden-exact).
    #[default]
    F32,
    /// bfloat16 (RoPE, and the norms' statistics, still in f32).
    Bf16,
    /// float16 (GPU).
    F16,
}

impl Precision {
    /// The libtorch kind.
    pub fn kind(self) -> Kind {
        match self {
            Precision::F32 => Kind::Float,
            Precision::Bf16 => Kind::BFloat16,
            Precision::F16 => Kind::Half,
        }
    }
}

impl std::str::FromStr for Precision {
    type Err = Error;
    fn from_str(s: &str) -> Result<Precision> {
        match s.to_ascii_lowercase().as_str() {
            "f32" | "fp32" | "float32" => Ok(Precision::F32),
            "bf16" | "bfloat16" => Ok(Precision::Bf16),
            "f16" | "fp16" | "float16" | "half" => Ok(Precision::F16),
            _ => Err(Error::Config(format!("precision {s:?}: expected f32, bf16 or f16"))),
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
            Precision::F16 => "f16",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_devices_and_precisions() {
        assert_eq!(parse_device("cpu").unwrap(), Device::Cpu);
        assert!(parse_device("tpu").unwrap_err().to_string().contains("expected cpu"));
        if !tch::Cuda::is_available() {
            let e = parse_device("cuda:1").unwrap_err().to_string();
            assert!(e.contains("not available"), "{e}");
        }
        assert_eq!("bf16".parse::<Precision>().unwrap().kind(), Kind::BFloat16);
        assert!("int8".parse::<Precision>().is_err());
    }
}
