//! Every GeoTIFF of the shared third-party data read and compared with GDAL: size, geotransform,
//! CRS, per-band sums and pixels, nodata, colour interpretation, blocks, overviews and masks.

mod common;

use common::{Pixels, assert_matches_gdal};
use geodino_tiff::GeoTiffReader;

fn check(rel: &str, pixels: Pixels) {
    let Some(path) = geodino_testutil::shared_data(&format!("geotiff/{rel}")) else { return };
    if !geodino_testutil::oracle::gdal() {
        return;
    }
    let Some(py) = geodino_testutil::oracle::gdal_python() else { return };
    let r = GeoTiffReader::open(&path).unwrap_or_else(|e| panic!("{e}"));
    let rep = assert_matches_gdal(&py, &path, &r, pixels);
    eprintln!(
        "{rel}: matches GDAL ({pixels:?}; max |diff| {}, mean |diff| {:.4})",
        rep.max_diff, rep.mean_diff
    );
}

#[test]
fn rgb_byte_strips_uncompressed() {
    check("RGB.byte.tif", Pixels::Exact);
}

#[test]
fn rgb_lzw_tiles() {
    check("rgb_lzw.tif", Pixels::Exact);
}

#[test]
fn rgb_deflate_planar_strips() {
    check("rgb_deflate.tif", Pixels::Exact);
}

#[test]
fn shade_tiled_with_nodata() {
    check("shade.tif", Pixels::Exact);
}

#[test]
fn byte_tif_nad27() {
    check("byte.tif", Pixels::Exact);
}

#[test]
fn world_byte_geographic_lzw() {
    check("world.byte.tif", Pixels::Exact);
}

#[test]
fn naip_keeps_the_nir_band() {
    check("m_3607824_se_17_1_20160620_sub.tif", Pixels::Exact);
}

#[test]
fn cog_uint16_point_with_overviews() {
    check("cog.tif", Pixels::Exact);
}

#[test]
fn cog_rgb_jpeg_ycbcr() {
    check("cog_rgb.tif", Pixels::Within { max: 8.0, mean: 0.5 });
}

#[test]
fn naip_webp_cog_with_alpha_and_overviews() {
    check("usda_naip_256_webp_z3.tif", Pixels::Within { max: 8.0, mean: 0.5 });
}
