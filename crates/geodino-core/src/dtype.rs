//! Pixel data types.

use serde::{Deserialize, Serialize};

/// The data type of a raster's pixels. Names follow numpy/zarr (`"uint8"`, `"float32"`, ...),
/// which is also how `geodino info --json` prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    /// Unsigned 8-bit integer.
    Uint8,
    /// Signed 8-bit integer.
    Int8,
    /// Unsigned 16-bit integer.
    Uint16,
    /// Signed 16-bit integer.
    Int16,
    /// Unsigned 32-bit integer.
    Uint32,
    /// Signed 32-bit integer.
    Int32,
    /// IEEE 754 single precision.
    Float32,
    /// IEEE 754 double precision.
    Float64,
}

impl DataType {
    /// Every supported type, in a stable order.
    pub const ALL: [DataType; 8] = [
        DataType::Uint8,
        DataType::Int8,
        DataType::Uint16,
        DataType::Int16,
        DataType::Uint32,
        DataType::Int32,
        DataType::Float32,
        DataType::Float64,
    ];

    /// Size of one sample in bytes.
    pub fn size_bytes(self) -> usize {
        match self {
            DataType::Uint8 | DataType::Int8 => 1,
            DataType::Uint16 | DataType::Int16 => 2,
            DataType::Uint32 | DataType::Int32 | DataType::Float32 => 4,
            DataType::Float64 => 8,
        }
    }

    /// The numpy-style name, e.g. `"uint16"`.
    pub fn name(self) -> &'static str {
        match self {
            DataType::Uint8 => "uint8",
            DataType::Int8 => "int8",
            DataType::Uint16 => "uint16",
            DataType::Int16 => "int16",
            DataType::Uint32 => "uint32",
            DataType::Int32 => "int32",
            DataType::Float32 => "float32",
            DataType::Float64 => "float64",
        }
    }

    /// Parse a numpy-style name (`"uint8"`) or a GDAL name (`"Byte"`, `"UInt16"`, `"Float32"`).
    pub fn parse(s: &str) -> Option<DataType> {
        let lower = s.to_ascii_lowercase();
        Some(match lower.as_str() {
            "uint8" | "byte" | "u8" => DataType::Uint8,
            "int8" | "i8" => DataType::Int8,
            "uint16" | "u16" => DataType::Uint16,
            "int16" | "i16" => DataType::Int16,
            "uint32" | "u32" => DataType::Uint32,
            "int32" | "i32" => DataType::Int32,
            "float32" | "f32" => DataType::Float32,
            "float64" | "f64" => DataType::Float64,
            _ => return None,
        })
    }

    /// True for the two floating-point types.
    pub fn is_float(self) -> bool {
        matches!(self, DataType::Float32 | DataType::Float64)
    }

    /// True for signed integer and floating-point types.
    pub fn is_signed(self) -> bool {
        !matches!(self, DataType::Uint8 | DataType::Uint16 | DataType::Uint32)
    }

    /// The smallest and largest representable values, as `f64`.
    pub fn range(self) -> (f64, f64) {
        match self {
            DataType::Uint8 => (0.0, u8::MAX as f64),
            DataType::Int8 => (i8::MIN as f64, i8::MAX as f64),
            DataType::Uint16 => (0.0, u16::MAX as f64),
            DataType::Int16 => (i16::MIN as f64, i16::MAX as f64),
            DataType::Uint32 => (0.0, u32::MAX as f64),
            DataType::Int32 => (i32::MIN as f64, i32::MAX as f64),
            DataType::Float32 => (f32::MIN as f64, f32::MAX as f64),
            DataType::Float64 => (f64::MIN, f64::MAX),
        }
    }
}

impl std::fmt::Display for DataType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_gdal_names_parse() {
        for dt in DataType::ALL {
            assert_eq!(DataType::parse(dt.name()), Some(dt));
        }
        assert_eq!(DataType::parse("Byte"), Some(DataType::Uint8));
        assert_eq!(DataType::parse("UInt16"), Some(DataType::Uint16));
        assert_eq!(DataType::parse("complex64"), None);
        assert_eq!(serde_json::to_string(&DataType::Float32).unwrap(), "\"float32\"");
        assert_eq!(DataType::Int16.size_bytes(), 2);
        assert!(DataType::Int8.is_signed() && !DataType::Uint32.is_signed());
    }
}
