//! COG write throughput: geodino's streaming writer against GDAL's COG driver on the same
//! pixels, timed in the same run.
//!
//! ```text
//! cargo bench -p geodino-tiff --bench write_cog              # 8192 x 8192
//! cargo bench -p geodino-tiff --bench write_cog -- --size 4096
//! ```
//!
//! Cases: a Float32 canopy-height map (nodata, deflate + floating-point predictor, average
//! overviews) and a UInt8 land-cover map (deflate + horizontal predictor, mode overviews), both
//! 512-pixel tiles. geodino is fed 512-row bands (how the inference engine writes); GDAL
//! (`/usr/bin/python3` + `osgeo`) gets the pixels in a MEM dataset, and only its
//! `COG` `CreateCopy` is timed. Both sides run single-threaded and with all cores
//! (`NUM_THREADS=ALL_CPUS` for GDAL). The ratio printed is GDAL's time / geodino's time
//! (> 1: geodino is faster), and the output sizes are compared too.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use geodino_core::{Crs, DataType, GeoTransform, RasterBuffer, RasterMeta, Window};
use geodino_tiff::write::{GeoTiffWriter, Resampling, TiffWriteOptions};
use ndarray::Array3;

const GDAL_SCRIPT: &str = r#"
import json, sys, time
import numpy as np
from osgeo import gdal
gdal.UseExceptions()
raw, w, h, dt, nodata, resampling, threads, out = sys.argv[1:9]
w, h = int(w), int(h)
np_dt = {"Float32": np.float32, "Byte": np.uint8}[dt]
a = np.fromfile(raw, dtype=np_dt).reshape(h, w)
mem = gdal.GetDriverByName("MEM").Create("", w, h, 1, gdal.GetDataTypeByName(dt))
mem.SetGeoTransform([300000, 0.6, 0, 4100040, 0, -0.6])
mem.GetRasterBand(1).WriteArray(a)
if nodata != "none":
    mem.GetRasterBand(1).SetNoDataValue(float(nodata))
t = time.perf_counter()
gdal.GetDriverByName("COG").CreateCopy(out, mem, options=[
    "COMPRESS=DEFLATE", "PREDICTOR=YES", "BLOCKSIZE=512", "LEVEL=6",
    "OVERVIEW_RESAMPLING=" + resampling, "NUM_THREADS=" + threads, "BIGTIFF=IF_NEEDED"])
print(json.dumps({"seconds": time.perf_counter() - t}))
"#;

struct Case {
    name: &'static str,
    dtype: DataType,
    nodata: Option<f64>,
    resampling: Resampling,
    gdal_resampling: &'static str,
}

/// A canopy-height-like field (smooth crowns, gaps at nodata) or land-cover classes.
fn make_data(case: &Case, size: usize) -> RasterBuffer {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32
    };
    match case.dtype {
        DataType::Float32 => {
            RasterBuffer::Float32(Array3::from_shape_fn((1, size, size), |(_, r, c)| {
                let (x, y) = (c as f32 / 40.0, r as f32 / 55.0);
                let h =
                    18.0 + 12.0 * (x.sin() * y.cos()) + 4.0 * ((x * 3.1).sin() + (y * 2.3).cos());
                if (r / 700 + c / 900) % 7 == 3 { -9999.0 } else { (h + 2.0 * noise()).max(0.0) }
            }))
        }
        _ => RasterBuffer::Uint8(Array3::from_shape_fn((1, size, size), |(_, r, c)| {
            let (x, y) = (c as f32 / 150.0, r as f32 / 120.0);
            let v = (x.sin() + y.cos() + 0.4 * noise()) * 2.0 + 4.0;
            v.clamp(0.0, 9.0) as u8
        })),
    }
}

fn raw_bytes(b: &RasterBuffer) -> Vec<u8> {
    match b {
        RasterBuffer::Float32(a) => a.iter().flat_map(|v| v.to_le_bytes()).collect(),
        RasterBuffer::Uint8(a) => a.iter().copied().collect(),
        _ => unreachable!("bench data is float32 or uint8"),
    }
}

fn ours(case: &Case, data: &RasterBuffer, size: usize, threads: usize, out: &Path) -> f64 {
    let mut meta = RasterMeta::new(size, size, 1, case.dtype);
    meta.geotransform = Some(GeoTransform::north_up(300000.0, 0.6, 4100040.0, -0.6));
    meta.crs = Some(Crs::from_epsg(32633));
    meta.set_nodata(case.nodata);
    let opts = TiffWriteOptions { resampling: case.resampling, threads, ..Default::default() };
    let t = Instant::now();
    let mut w = GeoTiffWriter::create(out, &meta, &opts).expect("create");
    for row in (0..size).step_by(512) {
        let h = 512.min(size - row);
        let band = match data {
            RasterBuffer::Float32(a) => {
                RasterBuffer::Float32(a.slice(ndarray::s![.., row..row + h, ..]).to_owned())
            }
            RasterBuffer::Uint8(a) => {
                RasterBuffer::Uint8(a.slice(ndarray::s![.., row..row + h, ..]).to_owned())
            }
            _ => unreachable!(),
        };
        w.write_window(Window::new(0, row as i64, size, h), &band).expect("write");
    }
    let stats = w.finish().expect("finish");
    let s = t.elapsed().as_secs_f64();
    eprintln!(
        "    geodino threads={threads}: {s:.2} s, peak pending {:.1} MiB",
        stats.peak_pending_bytes as f64 / (1 << 20) as f64
    );
    s
}

fn gdal(case: &Case, raw: &Path, size: usize, threads: &str, out: &Path) -> Option<f64> {
    let dt = if case.dtype == DataType::Float32 { "Float32" } else { "Byte" };
    let nd = case.nodata.map_or("none".to_string(), |v| v.to_string());
    let o = Command::new("/usr/bin/python3")
        .args(["-c", GDAL_SCRIPT])
        .arg(raw)
        .args([&size.to_string(), &size.to_string(), dt, &nd, case.gdal_resampling, threads])
        .arg(out)
        .output()
        .ok()?;
    if !o.status.success() {
        eprintln!("GDAL failed: {}", String::from_utf8_lossy(&o.stderr));
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).ok()?;
    let s = v["seconds"].as_f64()?;
    eprintln!("    GDAL    threads={threads}: {s:.2} s");
    Some(s)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let size = args
        .iter()
        .position(|a| a == "--size")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(8192usize);
    let cases = [
        Case {
            name: "canopy height f32 (deflate+pred3, average)",
            dtype: DataType::Float32,
            nodata: Some(-9999.0),
            resampling: Resampling::Average,
            gdal_resampling: "AVERAGE",
        },
        Case {
            name: "land cover u8 (deflate+pred2, mode)",
            dtype: DataType::Uint8,
            nodata: None,
            resampling: Resampling::Mode,
            gdal_resampling: "MODE",
        },
    ];
    let dir = tempfile::Builder::new().prefix("geodino-bench-").tempdir().expect("tempdir");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("COG write, {size} x {size}, 512 tiles, {cores} core(s)");
    println!(
        "{:<44} {:>8} {:>8} {:>8} {:>8} {:>7} {:>7} {:>9}",
        "case", "ours 1t", "gdal 1t", "ours Nt", "gdal Nt", "1t x", "Nt x", "size o/g"
    );
    for case in &cases {
        eprintln!("{}:", case.name);
        let data = make_data(case, size);
        let raw = dir.path().join("in.raw");
        std::fs::File::create(&raw)
            .and_then(|mut f| f.write_all(&raw_bytes(&data)))
            .expect("write raw input");
        let o1 = dir.path().join("ours1.tif");
        let on = dir.path().join("oursN.tif");
        let g1 = dir.path().join("gdal1.tif");
        let gn = dir.path().join("gdalN.tif");
        let t_o1 = ours(case, &data, size, 1, &o1);
        let t_on = ours(case, &data, size, 0, &on);
        let (Some(t_g1), Some(t_gn)) =
            (gdal(case, &raw, size, "1", &g1), gdal(case, &raw, size, "ALL_CPUS", &gn))
        else {
            println!(
                "{:<44} GDAL (/usr/bin/python3 + osgeo + numpy) unavailable; ours {t_o1:.2} s",
                case.name
            );
            continue;
        };
        let len = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len()) as f64;
        println!(
            "{:<44} {:>7.2}s {:>7.2}s {:>7.2}s {:>7.2}s {:>6.2}x {:>6.2}x {:>9.3}",
            case.name,
            t_o1,
            t_g1,
            t_on,
            t_gn,
            t_g1 / t_o1,
            t_gn / t_on,
            len(&o1) / len(&g1)
        );
    }
    println!("x = GDAL time / geodino time (> 1: geodino faster); size o/g = our bytes / GDAL's");
}
