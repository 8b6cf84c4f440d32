//! Shared helpers of the writer tests: deterministic test rasters, and GDAL as the oracle
//! (Debian's `/usr/bin/python3` with `osgeo`; the tests skip, or fail under
//! `GEODINO_REQUIRE_ORACLES=1`, when it is missing).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use geodino_core::{DataType, RasterBuffer, RasterElement, with_buffer};
use geodino_testutil::oracle;
use ndarray::Array3;

/// splitmix64: a small deterministic generator (no dependency, same numbers everywhere).
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Random pixels spanning the whole range of `dtype` (floats: wide magnitudes, both signs).
pub fn random_buffer(dtype: DataType, shape: (usize, usize, usize), seed: u64) -> RasterBuffer {
    let mut rng = Rng(seed);
    let n = shape.0 * shape.1 * shape.2;
    let bits: Vec<u64> = (0..n).map(|_| rng.next_u64()).collect();
    fn a<T>(shape: (usize, usize, usize), v: Vec<T>) -> Array3<T> {
        Array3::from_shape_vec(shape, v).unwrap()
    }
    match dtype {
        DataType::Uint8 => RasterBuffer::Uint8(a(shape, bits.iter().map(|&b| b as u8).collect())),
        DataType::Int8 => RasterBuffer::Int8(a(shape, bits.iter().map(|&b| b as i8).collect())),
        DataType::Uint16 => {
            RasterBuffer::Uint16(a(shape, bits.iter().map(|&b| b as u16).collect()))
        }
        DataType::Int16 => RasterBuffer::Int16(a(shape, bits.iter().map(|&b| b as i16).collect())),
        DataType::Uint32 => {
            RasterBuffer::Uint32(a(shape, bits.iter().map(|&b| b as u32).collect()))
        }
        DataType::Int32 => RasterBuffer::Int32(a(shape, bits.iter().map(|&b| b as i32).collect())),
        DataType::Float32 => RasterBuffer::Float32(a(
            shape,
            bits.iter()
                .map(|&b| {
                    let m = (b >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
                    m * 10f32.powi((b % 13) as i32 - 6)
                })
                .collect(),
        )),
        DataType::Float64 => RasterBuffer::Float64(a(
            shape,
            bits.iter()
                .map(|&b| {
                    let m = (b >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
                    m * 10f64.powi((b % 31) as i32 - 15)
                })
                .collect(),
        )),
    }
}

/// A smooth field (sum of waves) plus a little noise, scaled into `dtype`'s useful range: what
/// continuous imagery (heights, reflectances) looks like.
pub fn smooth_buffer(dtype: DataType, shape: (usize, usize, usize), seed: u64) -> RasterBuffer {
    let mut rng = Rng(seed);
    let (lo, hi) = match dtype {
        DataType::Uint8 => (0.0, 255.0),
        DataType::Int8 => (-128.0, 127.0),
        DataType::Uint16 => (0.0, 65535.0),
        DataType::Int16 => (-32768.0, 32767.0),
        DataType::Uint32 => (0.0, 4.0e9),
        DataType::Int32 => (-2.0e9, 2.0e9),
        DataType::Float32 | DataType::Float64 => (-50.0, 80.0),
    };
    let f = Array3::from_shape_fn(shape, |(b, r, c)| {
        let x = c as f64 / 37.0 + b as f64;
        let y = r as f64 / 23.0;
        let v = 0.5 + 0.3 * (x.sin() * y.cos()) + 0.15 * ((x + y) / 3.0).sin();
        let v = v + 0.05 * (rng.unit() - 0.5);
        lo + v.clamp(0.0, 1.0) * (hi - lo)
    });
    RasterBuffer::Float64(f).cast(dtype)
}

/// The pixels as GDAL's `ReadRaster` returns them: band-sequential little-endian bytes.
pub fn le_bytes(buf: &RasterBuffer) -> Vec<u8> {
    fn go<T: RasterElement>(a: &Array3<T>) -> Vec<u8> {
        let mut out = Vec::with_capacity(a.len() * std::mem::size_of::<T>());
        for v in a.iter() {
            let x = v.to_f64();
            // exact for every type (u32/i32 and f32 widen exactly to f64)
            match T::DTYPE {
                DataType::Uint8 => out.push(x as u8),
                DataType::Int8 => out.push(x as i8 as u8),
                DataType::Uint16 => out.extend((x as u16).to_le_bytes()),
                DataType::Int16 => out.extend((x as i16).to_le_bytes()),
                DataType::Uint32 => out.extend((x as u32).to_le_bytes()),
                DataType::Int32 => out.extend((x as i32).to_le_bytes()),
                DataType::Float32 => out.extend((x as f32).to_bits().to_le_bytes()),
                DataType::Float64 => out.extend(x.to_bits().to_le_bytes()),
            }
        }
        out
    }
    with_buffer!(buf, a => go(a))
}

/// Decode GDAL's bytes of one level into `f64` values (band-sequential).
pub fn decode(bytes: &[u8], dtype: DataType) -> Vec<f64> {
    let s = dtype.size_bytes();
    bytes
        .chunks_exact(s)
        .map(|c| match dtype {
            DataType::Uint8 => c[0] as f64,
            DataType::Int8 => c[0] as i8 as f64,
            DataType::Uint16 => u16::from_le_bytes([c[0], c[1]]) as f64,
            DataType::Int16 => i16::from_le_bytes([c[0], c[1]]) as f64,
            DataType::Uint32 => u32::from_le_bytes(c.try_into().unwrap()) as f64,
            DataType::Int32 => i32::from_le_bytes(c.try_into().unwrap()) as f64,
            DataType::Float32 => f32::from_le_bytes(c.try_into().unwrap()) as f64,
            DataType::Float64 => f64::from_le_bytes(c.try_into().unwrap()),
        })
        .collect()
}

/// What GDAL reads from one file.
#[derive(Debug)]
pub struct Readback {
    /// `gdal_readback.py`'s description (size, georeferencing, bands, overviews, ...).
    pub info: serde_json::Value,
    /// Pixels of each level GDAL exposes (0 = full resolution), band-sequential LE bytes.
    pub levels: Vec<Vec<u8>>,
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("write_support").join(name)
}

/// Read `paths` with GDAL (one Python process for all). `None` when GDAL's Python is missing.
pub fn gdal_readback(paths: &[&Path]) -> Option<Vec<Readback>> {
    let py = oracle::gdal_python()?;
    let dir = geodino_testutil::tempdir();
    let mut cmd = Command::new(py);
    cmd.arg(script("gdal_readback.py")).arg(dir.path()).args(paths);
    let out = oracle::run(&mut cmd);
    let infos: Vec<serde_json::Value> =
        out.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    assert_eq!(infos.len(), paths.len(), "GDAL described every file");
    Some(
        infos
            .into_iter()
            .enumerate()
            .map(|(i, info)| {
                let nlev = 1 + info["overviews"].as_array().unwrap().len();
                let levels = (0..nlev)
                    .map(|k| std::fs::read(dir.path().join(format!("{i}.level{k}.bin"))).unwrap())
                    .collect();
                Readback { info, levels }
            })
            .collect(),
    )
}

/// Who builds GDAL's reference overviews.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GdalOverviews {
    /// GDAL's COG driver (`OVERVIEW_RESAMPLING`), which picks the levels itself.
    Cog,
    /// `gdaladdo -r ...` (`BuildOverviews`) with factors 2, 4, ..., 2^levels.
    Gdaladdo { levels: usize },
}

/// GDAL's overviews of the same full-resolution pixels as each of `paths`: per file, the
/// overview sizes and one byte vector per level (band-sequential). One Python process for all.
/// `None` when GDAL's Python is missing.
pub fn gdal_overviews(
    paths: &[&Path],
    method: GdalOverviews,
    resampling: &str,
    block: usize,
) -> Option<Vec<(Vec<(usize, usize)>, Vec<Vec<u8>>)>> {
    let py = oracle::gdal_python()?;
    let dir = geodino_testutil::tempdir();
    let (m, levels) = match method {
        GdalOverviews::Cog => ("cog", 0),
        GdalOverviews::Gdaladdo { levels } => ("gdaladdo", levels),
    };
    let mut cmd = Command::new(py);
    cmd.arg(script("gdal_overviews.py"))
        .args([m, resampling, &block.to_string(), &levels.to_string()])
        .arg(dir.path())
        .args(paths);
    let out = oracle::run(&mut cmd);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), paths.len(), "GDAL made overviews for every file");
    Some(
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                let sizes: Vec<(usize, usize)> = v["overviews"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| (s[0].as_u64().unwrap() as usize, s[1].as_u64().unwrap() as usize))
                    .collect();
                let levels = (1..=sizes.len())
                    .map(|k| std::fs::read(dir.path().join(format!("{i}.level{k}.bin"))).unwrap())
                    .collect();
                (sizes, levels)
            })
            .collect(),
    )
}

/// GDAL's COG validator (full check): `(valid, its output)`. `None` when missing.
pub fn validate_cog(path: &Path) -> Option<(bool, String)> {
    validate_cogs(&[path]).map(|mut v| v.remove(0))
}

/// GDAL's COG validator (the full check of `--full-check=yes`: IFD and data order, tile
/// leaders and trailers) on several files in one Python process: per file `(valid, errors
/// and warnings as text)`. `None` when missing.
pub fn validate_cogs(paths: &[&Path]) -> Option<Vec<(bool, String)>> {
    let py = oracle::gdal_python()?;
    let mut cmd = Command::new(py);
    cmd.arg(script("validate_cogs.py")).args(paths);
    let out = oracle::run(&mut cmd);
    let v: Vec<(bool, String)> = out
        .lines()
        .map(|l| {
            let j: serde_json::Value = serde_json::from_str(l).expect("JSON line");
            let errors = j["errors"].as_array().unwrap();
            (errors.is_empty(), j.to_string())
        })
        .collect();
    assert_eq!(v.len(), paths.len(), "validated every file");
    Some(v)
}

/// Files in `dir` (names), sorted: to check that nothing but the expected output is left.
pub fn dir_listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}
