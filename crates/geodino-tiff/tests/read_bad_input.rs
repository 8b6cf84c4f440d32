//! Bad input gives an error that names the file and the cause, never a panic: wrong magic,
//! empty and truncated files, corrupt tiles, unsupported codecs (LERC, LZMA, JPEG 2000, old-style
//! JPEG), unsupported sample types, and requests outside the raster.

use std::path::{Path, PathBuf};
use std::process::Command;

use geodino_core::{Error, RasterRead, Window};
use geodino_tiff::GeoTiffReader;

/// Write the test inputs with GDAL's Python bindings; `None` (skipped) without GDAL.
fn make_inputs(dir: &Path) -> Option<()> {
    if !geodino_testutil::oracle::gdal() {
        return None;
    }
    let py = geodino_testutil::oracle::gdal_python()?;
    let script = r#"
import sys, numpy as np
from osgeo import gdal
gdal.UseExceptions()
d = sys.argv[1]
rng = np.random.default_rng(7)
a = (rng.normal(100, 30, (3, 100, 90))).clip(0, 255).astype(np.uint8)
src = gdal.GetDriverByName('MEM').Create('', 90, 100, 3, gdal.GDT_Byte)
for b in range(3):
    src.GetRasterBand(b + 1).WriteArray(a[b])
drv = gdal.GetDriverByName('GTiff')
drv.CreateCopy(d + '/deflate.tif', src, options=['COMPRESS=DEFLATE', 'TILED=YES', 'BLOCKXSIZE=32', 'BLOCKYSIZE=32'])
drv.CreateCopy(d + '/plain.tif', src, options=['COMPRESS=NONE'])
drv.CreateCopy(d + '/lerc.tif', src, options=['COMPRESS=LERC', 'TILED=YES'])
drv.CreateCopy(d + '/lzma.tif', src, options=['COMPRESS=LZMA'])
i64 = gdal.GetDriverByName('MEM').Create('', 8, 8, 1, gdal.GDT_Int64)
drv.CreateCopy(d + '/int64.tif', i64)
c16 = gdal.GetDriverByName('MEM').Create('', 8, 8, 1, gdal.GDT_CInt16)
drv.CreateCopy(d + '/cint16.tif', c16)
ds = gdal.Open(d + '/deflate.tif')
b = ds.GetRasterBand(1)
print(b.GetMetadataItem('BLOCK_OFFSET_1_1', 'TIFF'), b.GetMetadataItem('BLOCK_SIZE_1_1', 'TIFF'))
"#;
    let out = geodino_testutil::oracle::run(Command::new(py).args(["-c", script]).arg(dir));
    let mut it = out.split_whitespace().map(|v| v.parse::<usize>().unwrap());
    let (off, size) = (it.next()?, it.next()?);
    // A corrupt tile: garble the middle of tile (1, 1)'s Deflate stream.
    let mut bytes = std::fs::read(dir.join("deflate.tif")).unwrap();
    for b in &mut bytes[off + 4..off + size - 4] {
        *b ^= 0x5A;
    }
    std::fs::write(dir.join("corrupt_tile.tif"), bytes).unwrap();
    Some(())
}

/// The error of opening, or else of reading everything.
fn error_of(path: &Path) -> Error {
    let r = match GeoTiffReader::open(path) {
        Ok(r) => r,
        Err(e) => return e,
    };
    match r.read_all() {
        Ok(_) => panic!("{}: read without error", path.display()),
        Err(e) => e,
    }
}

fn assert_names(e: &Error, path: &Path, words: &[&str]) {
    let msg = e.to_string();
    assert!(msg.contains(&path.display().to_string()), "message does not name the file: {msg}");
    for w in words {
        assert!(msg.to_lowercase().contains(&w.to_lowercase()), "message lacks {w:?}: {msg}");
    }
}

#[test]
fn wrong_magic_and_empty_files_are_format_errors() {
    let dir = geodino_testutil::tempdir();
    for (name, bytes) in [
        ("png.tif", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec()),
        ("text.tif", b"hello, this is not an image at all".to_vec()),
        ("empty.tif", Vec::new()),
        ("bad_version.tif", b"II\x2b\x01\x08\0\0\0\0\0\0\0".to_vec()),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        let e = GeoTiffReader::open(&p).unwrap_err();
        assert!(matches!(e, Error::Format { .. }), "{e}");
        assert_names(&e, &p, &["not a TIFF"]);
    }
    let missing = dir.path().join("missing.tif");
    let e = GeoTiffReader::open(&missing).unwrap_err();
    assert!(matches!(e, Error::Io { .. }));
    assert_names(&e, &missing, &[]);
}

#[test]
fn truncated_files_are_errors_at_every_length() {
    let dir = geodino_testutil::tempdir();
    if make_inputs(dir.path()).is_none() {
        return;
    }
    for name in ["deflate.tif", "plain.tif"] {
        let full = std::fs::read(dir.path().join(name)).unwrap();
        // Many cut points: inside the header, the IFD, tag data and the pixel data.
        let mut cuts: Vec<usize> = (0..64).chain([100, 200, 500]).collect();
        cuts.extend((1..40).map(|k| full.len() * k / 40));
        cuts.push(full.len() - 1);
        let mut errors = 0;
        for cut in cuts {
            let p = dir.path().join(format!("cut_{cut}_{name}"));
            std::fs::write(&p, &full[..cut]).unwrap();
            let e = error_of(&p);
            assert_names(&e, &p, &[]);
            errors += 1;
        }
        eprintln!("{name}: {errors} truncations, each an error naming the file");
    }
    // The message of a cut in the pixel data says what is missing.
    let full = std::fs::read(dir.path().join("deflate.tif")).unwrap();
    let p: PathBuf = dir.path().join("half.tif");
    std::fs::write(&p, &full[..full.len() / 2]).unwrap();
    assert_names(&error_of(&p), &p, &["past the end"]);
}

#[test]
fn a_corrupt_tile_is_a_decode_error_naming_the_block() {
    let dir = geodino_testutil::tempdir();
    if make_inputs(dir.path()).is_none() {
        return;
    }
    let p = dir.path().join("corrupt_tile.tif");
    let r = GeoTiffReader::open(&p).unwrap();
    // Tile (0, 0) is intact; tile (1, 1) is not.
    assert!(r.read_window(&[0], Window::new(0, 0, 32, 32)).is_ok());
    let e = r.read_window(&[0, 1, 2], Window::new(40, 40, 10, 10)).unwrap_err();
    assert!(matches!(e, Error::Decode { block: 4, .. }), "{e:?}");
    assert_names(&e, &p, &["block 4", "DEFLATE"]);
}

#[test]
fn unsupported_codecs_and_types_say_so() {
    let dir = geodino_testutil::tempdir();
    if make_inputs(dir.path()).is_none() {
        return;
    }
    for (name, words) in [
        ("lerc.tif", &["LERC", "34887"][..]),
        ("lzma.tif", &["LZMA", "34925"]),
        ("int64.tif", &["64-bit signed integer"]),
        ("cint16.tif", &["complex"]),
    ] {
        let p = dir.path().join(name);
        let e = GeoTiffReader::open(&p).unwrap_err();
        assert!(matches!(e, Error::Unsupported { .. }), "{e}");
        assert_names(&e, &p, words);
    }
    // JPEG 2000 and old-style JPEG cannot be made with GDAL: patch the Compression tag.
    let plain = std::fs::read(dir.path().join("plain.tif")).unwrap();
    for (code, word) in [(34712u16, "JPEG2000"), (6, "old-style JPEG"), (4, "CCITTFAX4")] {
        let bytes = patch_compression(&plain, code);
        let p = dir.path().join(format!("code{code}.tif"));
        std::fs::write(&p, bytes).unwrap();
        let e = GeoTiffReader::open(&p).unwrap_err();
        assert!(matches!(e, Error::Unsupported { .. }), "{e}");
        assert_names(&e, &p, &[word]);
    }
}

/// Set the Compression tag (259) of the first IFD of a little-endian classic TIFF.
fn patch_compression(tiff: &[u8], code: u16) -> Vec<u8> {
    let mut b = tiff.to_vec();
    assert_eq!(&b[..4], b"II*\0");
    let ifd = u32::from_le_bytes(b[4..8].try_into().unwrap()) as usize;
    let n = u16::from_le_bytes(b[ifd..ifd + 2].try_into().unwrap()) as usize;
    for i in 0..n {
        let e = ifd + 2 + 12 * i;
        if u16::from_le_bytes([b[e], b[e + 1]]) == 259 {
            b[e + 8..e + 10].copy_from_slice(&code.to_le_bytes());
            return b;
        }
    }
    panic!("no Compression tag");
}

#[test]
fn requests_outside_the_raster_are_out_of_bounds() {
    let dir = geodino_testutil::tempdir();
    if make_inputs(dir.path()).is_none() {
        return;
    }
    let p = dir.path().join("deflate.tif");
    let r = GeoTiffReader::open(&p).unwrap();
    for (bands, w) in [
        (vec![3], Window::new(0, 0, 4, 4)),
        (vec![0], Window::new(80, 0, 20, 4)),
        (vec![0], Window::new(-1, 0, 4, 4)),
    ] {
        let e = r.read_window(&bands, w).unwrap_err();
        assert!(matches!(e, Error::OutOfBounds { .. }), "{e}");
        assert_names(&e, &p, &[]);
    }
    assert!(matches!(r.read_window(&[], Window::new(0, 0, 1, 1)), Err(Error::Invalid(_))));
    assert!(matches!(r.overview(0), Err(Error::OutOfBounds { .. })));
    assert!(r.read_mask(Window::new(0, 0, 1000, 1)).is_err());
    // A boundless read is fine and fills outside.
    let b = r.read_boundless(&[0], Window::new(-5, -5, 10, 10), 9.0).unwrap();
    assert_eq!(b.to_f64()[[0, 0, 0]], 9.0);
}
