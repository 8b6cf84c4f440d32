//! Zarr data types, fill values and codecs as geodino sees them.

use base64::Engine as _;
use geodino_core::{Compression, DataType};
use serde_json::Value;

/// The element type named by array metadata: a raster type geodino handles, or a 64-bit integer
/// (allowed for coordinate arrays only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ZType {
    Raster(DataType),
    Int64,
    Uint64,
}

/// Parse v3 `data_type` or v2 `dtype` (`"<f4"`, `"|u1"`, `">i2"`).
pub(crate) fn parse_dtype(meta: &Value) -> Option<ZType> {
    if let Some(s) = meta.get("data_type").and_then(Value::as_str) {
        return Some(match s {
            "int64" => ZType::Int64,
            "uint64" => ZType::Uint64,
            other => ZType::Raster(DataType::parse(other)?),
        });
    }
    let s = meta.get("dtype").and_then(Value::as_str)?;
    let s = s.trim_start_matches(['<', '>', '|', '=']);
    Some(match s {
        "u1" | "b1" => ZType::Raster(DataType::Uint8),
        "i1" => ZType::Raster(DataType::Int8),
        "u2" => ZType::Raster(DataType::Uint16),
        "i2" => ZType::Raster(DataType::Int16),
        "u4" => ZType::Raster(DataType::Uint32),
        "i4" => ZType::Raster(DataType::Int32),
        "f4" => ZType::Raster(DataType::Float32),
        "f8" => ZType::Raster(DataType::Float64),
        "i8" => ZType::Int64,
        "u8" => ZType::Uint64,
        _ => return None,
    })
}

/// The text naming the element type in the metadata, for error messages.
pub(crate) fn dtype_text(meta: &Value) -> String {
    meta.get("data_type")
        .or_else(|| meta.get("dtype"))
        .map(|v| v.to_string())
        .unwrap_or_else(|| "(none)".into())
}

/// v2 `dtype` string for a raster type (little-endian).
pub(crate) fn v2_dtype(dt: DataType) -> &'static str {
    match dt {
        DataType::Uint8 => "|u1",
        DataType::Int8 => "|i1",
        DataType::Uint16 => "<u2",
        DataType::Int16 => "<i2",
        DataType::Uint32 => "<u4",
        DataType::Int32 => "<i4",
        DataType::Float32 => "<f4",
        DataType::Float64 => "<f8",
    }
}

/// A fill value / `_FillValue` / `missing_value` as a number. Accepts numbers, the strings
/// `"NaN"`, `"Infinity"`, `"-Infinity"`, hex bit patterns (`"0x7fc00000"`), number text, and
/// xarray's base64 encoding of the raw little-endian bytes (`"AAAAAAAA+H8="` is a float64 NaN).
pub(crate) fn parse_fill(v: &Value, dt: DataType) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::Bool(b) => Some(*b as u8 as f64),
        Value::String(s) => {
            let t = s.trim();
            match t {
                "NaN" | "nan" | "-NaN" => return Some(f64::NAN),
                "Infinity" | "inf" | "+Infinity" => return Some(f64::INFINITY),
                "-Infinity" | "-inf" => return Some(f64::NEG_INFINITY),
                _ => {}
            }
            if let Ok(x) = t.parse::<f64>() {
                return Some(x);
            }
            if let Some(hex) = t.strip_prefix("0x") {
                let bits = u64::from_str_radix(hex, 16).ok()?;
                return Some(match dt {
                    DataType::Float32 => f32::from_bits(bits as u32) as f64,
                    DataType::Float64 => f64::from_bits(bits),
                    _ => bits as f64,
                });
            }
            let bytes = base64::engine::general_purpose::STANDARD.decode(t).ok()?;
            from_le_bytes(&bytes, dt)
        }
        Value::Array(a) if a.len() == 1 => parse_fill(&a[0], dt),
        _ => None,
    }
}

fn from_le_bytes(b: &[u8], dt: DataType) -> Option<f64> {
    if b.len() != dt.size_bytes() {
        return None;
    }
    Some(match dt {
        DataType::Uint8 => b[0] as f64,
        DataType::Int8 => b[0] as i8 as f64,
        DataType::Uint16 => u16::from_le_bytes([b[0], b[1]]) as f64,
        DataType::Int16 => i16::from_le_bytes([b[0], b[1]]) as f64,
        DataType::Uint32 => u32::from_le_bytes(b.try_into().ok()?) as f64,
        DataType::Int32 => i32::from_le_bytes(b.try_into().ok()?) as f64,
        DataType::Float32 => f32::from_le_bytes(b.try_into().ok()?) as f64,
        DataType::Float64 => f64::from_le_bytes(b.try_into().ok()?),
    })
}

/// xarray's encoding of `_FillValue` in Zarr v3: base64 of the little-endian bytes for floats,
/// a plain integer for integer types.
pub(crate) fn xarray_v3_fill(v: f64, dt: DataType) -> Value {
    let b64 = |b: &[u8]| Value::String(base64::engine::general_purpose::STANDARD.encode(b));
    match dt {
        DataType::Float32 => b64(&(v as f32).to_le_bytes()),
        DataType::Float64 => b64(&v.to_le_bytes()),
        _ => serde_json::json!(v as i64),
    }
}

/// A fill value as Zarr metadata JSON (`"NaN"` etc. for non-finite floats).
pub(crate) fn fill_json(v: f64, dt: DataType) -> Value {
    if dt.is_float() {
        if v.is_nan() {
            return Value::String("NaN".into());
        }
        if v.is_infinite() {
            return Value::String(if v > 0.0 { "Infinity" } else { "-Infinity" }.into());
        }
        serde_json::json!(v)
    } else {
        serde_json::json!(v as i64)
    }
}

/// The compression named by array metadata (inside a sharding codec too).
pub(crate) fn compression(meta: &Value) -> Compression {
    fn from_name(name: &str) -> Option<Compression> {
        Some(match name {
            "zstd" => Compression::Zstd,
            "blosc" => Compression::Blosc,
            "gzip" => Compression::Gzip,
            "zlib" => Compression::Deflate,
            "bytes" | "transpose" | "crc32c" | "endian" => return None,
            other => Compression::Other(other.to_string()),
        })
    }
    if let Some(c) = meta.get("compressor") {
        return c
            .get("id")
            .and_then(Value::as_str)
            .and_then(from_name)
            .unwrap_or(Compression::None);
    }
    fn walk(codecs: &Value) -> Option<Compression> {
        for c in codecs.as_array()? {
            let name = c.get("name").and_then(Value::as_str).unwrap_or("");
            if name == "sharding_indexed" {
                if let Some(inner) = c.get("configuration").and_then(|k| k.get("codecs"))
                    && let Some(x) = walk(inner)
                {
                    return Some(x);
                }
            } else if let Some(x) = from_name(name) {
                return Some(x);
            }
        }
        None
    }
    meta.get("codecs").and_then(walk).unwrap_or(Compression::None)
}

/// The read granularity: the inner chunk shape of a sharded v3 array, else the chunk shape.
pub(crate) fn block_shape(meta: &Value) -> Vec<u64> {
    let outer = |m: &Value| -> Option<Vec<u64>> {
        let c = m.get("chunks").or_else(|| m.pointer("/chunk_grid/configuration/chunk_shape"))?;
        c.as_array()?.iter().map(Value::as_u64).collect()
    };
    if let Some(codecs) = meta.get("codecs").and_then(Value::as_array) {
        for c in codecs {
            if c.get("name").and_then(Value::as_str) == Some("sharding_indexed")
                && let Some(inner) =
                    c.pointer("/configuration/chunk_shape").and_then(Value::as_array)
                && let Some(v) = inner.iter().map(Value::as_u64).collect::<Option<Vec<u64>>>()
            {
                return v;
            }
        }
    }
    outer(meta).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fill_values_in_every_spelling() {
        let nan = parse_fill(&json!("AAAAAAAA+H8="), DataType::Float64).unwrap();
        assert!(nan.is_nan());
        assert!(parse_fill(&json!("NaN"), DataType::Float32).unwrap().is_nan());
        assert_eq!(parse_fill(&json!(-9999.0), DataType::Float64), Some(-9999.0));
        assert_eq!(parse_fill(&json!("0"), DataType::Uint8), Some(0.0));
        assert!(parse_fill(&json!("0x7fc00000"), DataType::Float32).unwrap().is_nan());
        assert_eq!(parse_fill(&json!("-Infinity"), DataType::Float32), Some(f64::NEG_INFINITY));
        // xarray's own encoding round-trips
        for dt in [DataType::Float32, DataType::Float64] {
            let v = xarray_v3_fill(-9999.0, dt);
            assert_eq!(parse_fill(&v, dt), Some(-9999.0));
        }
        assert_eq!(xarray_v3_fill(255.0, DataType::Uint8), json!(255));
        assert_eq!(fill_json(f64::NAN, DataType::Float32), json!("NaN"));
    }

    #[test]
    fn dtypes_and_codecs() {
        assert_eq!(parse_dtype(&json!({"dtype": ">i2"})), Some(ZType::Raster(DataType::Int16)));
        assert_eq!(
            parse_dtype(&json!({"data_type": "float32"})),
            Some(ZType::Raster(DataType::Float32))
        );
        assert_eq!(parse_dtype(&json!({"data_type": "int64"})), Some(ZType::Int64));
        assert_eq!(parse_dtype(&json!({"data_type": "complex64"})), None);
        let sharded = json!({
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [1, 1024, 1024]}},
            "codecs": [{"name": "sharding_indexed", "configuration": {
                "chunk_shape": [1, 256, 256],
                "codecs": [{"name": "bytes"}, {"name": "zstd", "configuration": {"level": 3}}]}}]
        });
        assert_eq!(compression(&sharded), Compression::Zstd);
        assert_eq!(block_shape(&sharded), vec![1, 256, 256]);
        let v2 = json!({"chunks": [10, 10], "compressor": {"id": "blosc"}});
        assert_eq!(compression(&v2), Compression::Blosc);
        assert_eq!(block_shape(&v2), vec![10, 10]);
        assert_eq!(compression(&json!({"compressor": null, "chunks": [1]})), Compression::None);
    }
}
