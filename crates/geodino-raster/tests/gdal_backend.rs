//! The GDAL backend (feature `gdal`): agreement with the pure-Rust readers (window checksums),
//! with GDAL's Python bindings (exact statistics), VRT mosaics, and GeoTIFF/COG output.
#![cfg(feature = "gdal")]

#[path = "../../geodino-zarr/tests/common/mod.rs"]
mod common;

use std::process::Command;

use geodino_core::{RasterRead, Window};
use geodino_raster::{
    Backend, CreateOptions, GdalReader, GdalWriter, OpenOptions, band_stats, block_windows, create,
    open, open_with, processing_windows,
};
use geodino_testutil::{oracle, shared_data};
use geodino_zarr::ZarrReader;

const TIFFS: &[&str] = &[
    "RGB.byte.tif",
    "rgb_lzw.tif",
    "rgb_deflate.tif",
    "shade.tif",
    "byte.tif",
    "world.byte.tif",
    "m_3607824_se_17_1_20160620_sub.tif",
    "usda_naip_256_webp_z3.tif",
    "cog.tif",
    "cog_rgb.tif",
];

/// A checksum of a window: (sum, sum of squares, weighted position sum) over all bands.
fn checksum(r: &dyn RasterRead, w: Window) -> (f64, f64, f64) {
    let bands: Vec<usize> = (0..r.meta().band_count()).collect();
    let a = r.read_window(&bands, w).unwrap().to_f64();
    let mut s = (0.0, 0.0, 0.0);
    for ((b, y, x), v) in a.indexed_iter() {
        if v.is_nan() {
            continue;
        }
        s.0 += v;
        s.1 += v * v;
        s.2 += v * ((b * 7919 + y * 131 + x) % 1009) as f64;
    }
    s
}

/// Windows that straddle blocks, touch edges, and cover the whole raster.
fn probe_windows(w: usize, h: usize) -> Vec<Window> {
    let mut v = vec![Window::full(w, h)];
    v.push(Window::new(0, 0, w.min(17), h.min(9)));
    v.push(Window::new((w / 3) as i64, (h / 4) as i64, (w / 2).max(1), (h / 3).max(1)));
    v.push(Window::new((w - w.min(31)) as i64, (h - h.min(29)) as i64, w.min(31), h.min(29)));
    v
}

#[test]
fn gdal_backend_matches_gdal_python_on_every_shared_geotiff() {
    let mut names = Vec::new();
    let mut readers = Vec::new();
    for t in TIFFS {
        let Some(p) = shared_data(&format!("geotiff/{t}")) else { return };
        readers.push(
            open_with(&p, &OpenOptions { backend: Backend::Gdal, ..Default::default() }).unwrap(),
        );
        names.push(p.display().to_string());
    }
    let Some(g) = common::gdal(&names) else { return };
    for ((r, g), name) in readers.iter().zip(&g).zip(TIFFS) {
        common::assert_matches_gdal(r.as_ref(), std::slice::from_ref(g), name);
        // the parallel, block-by-block statistics agree with numpy's exact sums too
        let bands: Vec<usize> = (0..r.meta().band_count()).collect();
        let s = band_stats(r.as_ref(), &bands, &|_, _| {}).unwrap();
        for (b, st) in s.iter().enumerate() {
            assert_eq!(Some(st.sum), g["bands"][b]["sum"].as_f64(), "{name} band {}", b + 1);
        }
        assert_eq!(
            serde_json::json!([r.meta().block.width, r.meta().block.height]),
            g["bands"][0]["block"],
            "{name}: block"
        );
    }
}

#[test]
fn gdal_backend_agrees_with_the_pure_rust_geotiff_reader() {
    for t in TIFFS {
        let Some(p) = shared_data(&format!("geotiff/{t}")) else { return };
        let ours = open(&p).unwrap();
        let gd = GdalReader::open(&p).unwrap();
        let (a, b) = (ours.meta(), gd.meta());
        assert_eq!(a.metadata.get("GDAL_DRIVER"), None, "{t}: read by geodino-tiff");
        assert_eq!(
            (a.width, a.height, a.band_count(), a.dtype),
            (b.width, b.height, b.band_count(), b.dtype),
            "{t}"
        );
        assert_eq!(a.geotransform, b.geotransform, "{t}: geotransform");
        assert_eq!(
            a.crs.as_ref().and_then(|c| c.epsg),
            b.crs.as_ref().and_then(|c| c.epsg),
            "{t}: EPSG"
        );
        assert_eq!(a.block, b.block, "{t}: block");
        assert_eq!(a.overviews, b.overviews, "{t}: overviews");
        for i in 0..a.band_count() {
            assert_eq!(a.nodata(i), b.nodata(i), "{t}: nodata");
        }
        for w in probe_windows(a.width, a.height) {
            if a.compression == geodino_core::Compression::Jpeg {
                // Lossy JPEG: decoders (libjpeg in GDAL, a Rust decoder in geodino-tiff) differ
                // in IDCT and chroma upsampling rounding, so compare pixels within a tolerance.
                let bands: Vec<usize> = (0..a.band_count()).collect();
                let x = ours.read_window(&bands, w).unwrap().to_f64();
                let y = gd.read_window(&bands, w).unwrap().to_f64();
                let d: Vec<f64> = x.iter().zip(y.iter()).map(|(p, q)| (p - q).abs()).collect();
                let max = d.iter().cloned().fold(0.0, f64::max);
                let mean = d.iter().sum::<f64>() / d.len() as f64;
                eprintln!("{t} {w}: JPEG max |diff| {max}, mean |diff| {mean:.4}");
                assert!(max <= 8.0 && mean <= 0.5, "{t}: window {w}: max {max} mean {mean}");
            } else {
                assert_eq!(checksum(ours.as_ref(), w), checksum(&gd, w), "{t}: window {w}");
            }
        }
    }
}

#[test]
fn gdal_backend_agrees_with_the_zarr_reader() {
    let Some(zip) = shared_data("zarr/byte_no_cf.zarr.zip") else { return };
    let Some(v2) = shared_data("zarr/zarr_store_v2.zarr") else { return };
    let ours = ZarrReader::open(&zip).unwrap();
    let gd = GdalReader::open(format!("/vsizip/{}", zip.display())).unwrap();
    assert_eq!(gd.meta().geotransform, ours.meta().geotransform);
    assert_eq!(gd.meta().crs.as_ref().unwrap().epsg, ours.meta().crs.as_ref().unwrap().epsg);
    for w in probe_windows(20, 20) {
        assert_eq!(checksum(&gd, w), checksum(&ours, w), "byte_no_cf {w}");
    }
    let ours = ZarrReader::open(v2.join("FROST_DAYS")).unwrap();
    for t in [0usize, 4, 9] {
        let gd = GdalReader::open(format!("ZARR:\"{}\":/FROST_DAYS:{t}", v2.display())).unwrap();
        for w in probe_windows(72, 36) {
            let a = gd.read_window(&[0], w).unwrap();
            let b = ours.read_window(&[t], w).unwrap();
            let (a, b) = (a.to_f64(), b.to_f64());
            assert!(a.iter().zip(b.iter()).all(|(x, y)| x == y || (x.is_nan() && y.is_nan())));
        }
    }
}

#[test]
fn reads_a_vrt_mosaic_built_with_gdalbuildvrt() {
    let Some(src) = shared_data("geotiff/rgb_lzw.tif") else { return };
    if !oracle::gdal() {
        return;
    }
    let tmp = geodino_testutil::tempdir();
    let d = tmp.path();
    // Four quadrants of different sizes, mosaicked back together.
    let parts = [
        ("a.tif", "0 0 400 300"),
        ("b.tif", "400 0 391 300"),
        ("c.tif", "0 300 400 418"),
        ("d.tif", "400 300 391 418"),
    ];
    for (name, win) in parts {
        let mut c = Command::new("gdal_translate");
        c.arg("-q").arg("-srcwin").args(win.split(' ')).arg(&src).arg(d.join(name));
        oracle::run(&mut c);
    }
    let vrt = d.join("mosaic.vrt");
    let mut c = Command::new("gdalbuildvrt");
    c.arg("-q").arg(&vrt).args(parts.iter().map(|(n, _)| d.join(n)));
    oracle::run(&mut c);
    let mosaic = open(&vrt).unwrap();
    let whole = GdalReader::open(&src).unwrap();
    assert_eq!(mosaic.meta().metadata["GDAL_DRIVER"], "VRT");
    assert_eq!((mosaic.meta().width, mosaic.meta().height), (791, 718));
    assert_eq!(mosaic.meta().geotransform, whole.meta().geotransform);
    assert_eq!(mosaic.meta().crs.as_ref().unwrap().epsg, Some(32618));
    for w in probe_windows(791, 718) {
        assert_eq!(checksum(mosaic.as_ref(), w), checksum(&whole, w), "mosaic {w}");
    }
    // Many threads read through the dataset pool at once.
    let wins = processing_windows(mosaic.meta(), 128 * 128);
    assert!(wins.len() > 8);
    let s = band_stats(mosaic.as_ref(), &[0, 1, 2], &|_, _| {}).unwrap();
    let t = band_stats(&whole, &[0, 1, 2], &|_, _| {}).unwrap();
    assert_eq!(s, t);
}

#[test]
fn tiff_and_cog_output_is_read_back_by_gdal() {
    // `create` (geodino-tiff's writer) and the GDAL writer, tiled and COG, each read back by
    // GDAL with the source's pixels, geotransform, CRS and nodata; the COGs pass GDAL's validator.
    let Some(src) = shared_data("zarr/zarr_store_v2.zarr") else { return };
    let r = open(src.join("CDD0")).unwrap();
    let tmp = geodino_testutil::tempdir();
    let bands: Vec<usize> = (0..10).collect();
    let mut n_files = 0;
    for (name, cog, via_gdal) in [
        ("cdd0.tif", false, false),
        ("cdd0_cog.tif", true, false),
        ("cdd0_gdal.tif", false, true),
        ("cdd0_gdal_cog.tif", true, true),
    ] {
        let dest = tmp.path().join(name);
        let mut w: Box<dyn geodino_core::RasterWrite> = if via_gdal {
            Box::new(
                GdalWriter::create(
                    &dest,
                    r.meta(),
                    cog,
                    &geodino_core::Compression::Deflate,
                    16,
                    false,
                )
                .unwrap(),
            )
        } else {
            create(&dest, r.meta(), &CreateOptions { cog, block: Some(16), ..Default::default() })
                .unwrap()
        };
        for win in block_windows(r.meta()) {
            w.write_window(win, &r.read_window(&bands, win).unwrap()).unwrap();
        }
        assert!(!dest.exists());
        w.finish().unwrap();
        n_files += 1;
        let left = std::fs::read_dir(tmp.path()).unwrap().count();
        assert_eq!(left, n_files, "{name}: no temporary files left");
        let Some(g) = common::gdal(&[dest.display().to_string()]) else { return };
        common::assert_matches_gdal(r.as_ref(), &g, name);
        if cog {
            let Some(py) = oracle::gdal_python() else { return };
            let mut c = Command::new(py);
            c.args(["-m", "osgeo_utils.samples.validate_cloud_optimized_geotiff"]).arg(&dest);
            let out = oracle::run(&mut c);
            assert!(out.contains("is a valid cloud optimized GeoTIFF"), "{name}: {out}");
        }
    }
}

/// A local HTTP server with byte-range support (as object stores have), killed on drop.
struct RangeServer {
    child: std::process::Child,
    port: u16,
}

impl RangeServer {
    /// Serve `dir` on an ephemeral port of 127.0.0.1; `None` without a Python interpreter.
    fn start(dir: &std::path::Path) -> Option<Self> {
        const SERVER: &str = r#"
import http.server, os, re, sys
root = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def _file(self):
        p = os.path.join(root, os.path.basename(self.path.split('?')[0]))
        return p if os.path.isfile(p) else None
    def do_HEAD(self):
        p = self._file()
        if p is None:
            self.send_response(404); self.end_headers(); return
        self.send_response(200)
        self.send_header('Content-Length', str(os.path.getsize(p)))
        self.send_header('Accept-Ranges', 'bytes')
        self.end_headers()
    def do_GET(self):
        p = self._file()
        if p is None:
            self.send_response(404); self.send_header('Content-Length', '0'); self.end_headers(); return
        size = os.path.getsize(p)
        m = re.match(r'bytes=(\d+)-(\d*)', self.headers.get('Range', ''))
        a, b = (int(m.group(1)), min(int(m.group(2) or size - 1), size - 1)) if m else (0, size - 1)
        with open(p, 'rb') as f:
            f.seek(a); data = f.read(b - a + 1)
        self.send_response(206 if m else 200)
        if m: self.send_header('Content-Range', f'bytes {a}-{b}/{size}')
        self.send_header('Content-Length', str(len(data)))
        self.send_header('Accept-Ranges', 'bytes')
        self.end_headers()
        self.wfile.write(data)
s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;
        let mut child = Command::new("python3")
            .args(["-c", SERVER])
            .arg(dir)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .ok()?;
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .ok()?;
        let port = line.trim().parse().ok()?;
        Some(Self { child, port })
    }
}

impl Drop for RangeServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn reads_a_remote_cog_through_vsicurl() {
    let Some(p) = shared_data("geotiff/cog.tif") else { return };
    let Some(server) = RangeServer::start(p.parent().unwrap()) else {
        assert!(!oracle::required(), "python3 is needed for the local HTTP server");
        eprintln!("SKIPPED: no python3 to serve files over HTTP");
        return;
    };
    let url = format!("/vsicurl/http://127.0.0.1:{}/cog.tif", server.port);
    let remote = open(&url).unwrap_or_else(|e| panic!("{url}: {e}"));
    let local = open(&p).unwrap();
    let (a, b) = (remote.meta(), local.meta());
    assert_eq!(
        (a.width, a.height, a.band_count(), a.dtype),
        (b.width, b.height, b.band_count(), b.dtype)
    );
    assert_eq!(a.geotransform, b.geotransform);
    assert_eq!(a.crs.as_ref().and_then(|c| c.epsg), b.crs.as_ref().and_then(|c| c.epsg));
    // A window in the middle (a few tiles fetched by range requests) and the whole raster.
    for w in [Window::new(1000, 1100, 300, 200), Window::full(b.width, b.height)] {
        assert_eq!(checksum(remote.as_ref(), w), checksum(local.as_ref(), w), "window {w}");
    }
}
