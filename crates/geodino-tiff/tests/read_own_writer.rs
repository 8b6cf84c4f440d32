//! geodino's own GeoTIFF/COG writer read back by geodino's reader: pixels bit for bit, and the
//! georeferencing, nodata, band metadata, colour table and overview pyramid the writer put in.
//! Needs no GDAL (GDAL checks both sides separately in the other tests).

use geodino_core::{
    BandMeta, ColorEntry, Crs, DataType, GeoTransform, NoData, RasterBuffer, RasterMeta,
    RasterRead, Window,
};
use geodino_tiff::GeoTiffReader;
use geodino_tiff::write::{
    BigTiff, Layout, Overviews, TiffCompression, TiffWriteOptions, overview_sizes, write_geotiff,
};

/// Pseudo-random but smooth-ish pixels of `dtype`, `(bands, h, w)`.
fn data(dtype: DataType, bands: usize, h: usize, w: usize) -> RasterBuffer {
    let mut b = RasterBuffer::filled(dtype, (bands, h, w), 0.0);
    let (lo, hi) = dtype.range();
    let (lo, hi) = (lo.max(-30000.0), hi.min(60000.0));
    let mut x = 0x2545F4914F6CDD1Du64;
    let vals: Vec<f64> = (0..bands * h * w)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let t = ((i % w) as f64 * 0.05).sin() * 0.4 + 0.5 + (x % 100) as f64 / 1000.0;
            let v = lo + t * (hi - lo);
            if dtype.is_float() { v + 0.25 } else { v }
        })
        .collect();
    geodino_core::with_buffer!(&mut b, a => {
        for (o, v) in a.iter_mut().zip(&vals) {
            *o = geodino_core::RasterElement::from_f64(*v);
        }
    });
    b
}

#[test]
fn everything_the_writer_writes_reads_back() {
    let dir = geodino_testutil::tempdir();
    let mut n = 0;
    for dtype in DataType::ALL {
        for compression in [
            TiffCompression::None,
            TiffCompression::Lzw,
            TiffCompression::Deflate,
            TiffCompression::Zstd,
        ] {
            for layout in [Layout::Cog, Layout::Tiled] {
                let (w, h, nb) = (300, 217, 3);
                let mut meta = RasterMeta::new(w, h, nb, dtype);
                meta.geotransform = Some(GeoTransform::north_up(399960.0, 10.0, 5300040.0, -10.0));
                meta.crs = Some(Crs::from_epsg(32632));
                meta.bands = (0..nb)
                    .map(|b| BandMeta {
                        description: Some(format!("band & <{b}>")),
                        nodata: Some(NoData(if dtype.is_float() { f64::NAN } else { 0.0 })),
                        scale: Some(0.5),
                        offset: Some(b as f64),
                        ..BandMeta::default()
                    })
                    .collect();
                let opts = TiffWriteOptions {
                    layout,
                    compression,
                    tile_size: 128,
                    overviews: Overviews::Auto,
                    bigtiff: if n % 3 == 0 { BigTiff::Yes } else { BigTiff::Auto },
                    ..TiffWriteOptions::default()
                };
                let px = data(dtype, nb, h, w);
                let path = dir.path().join(format!("w{n}.tif"));
                write_geotiff(&path, &meta, &px, &opts).unwrap();
                let r = GeoTiffReader::open(&path).unwrap();
                let m = r.meta();
                let what = format!("{dtype} {compression:?} {layout:?}");
                assert_eq!(r.read_all().unwrap(), px, "{what}: pixels");
                assert_eq!(m.geotransform, meta.geotransform, "{what}");
                assert_eq!(m.crs.as_ref().and_then(|c| c.epsg), Some(32632), "{what}");
                assert_eq!(m.block.width, 128, "{what}");
                assert_eq!(m.compression, compression.to_core(), "{what}");
                assert_eq!(r.structure().bigtiff, n % 3 == 0, "{what}");
                for (b, bm) in m.bands.iter().enumerate() {
                    assert_eq!(bm.description.as_deref(), Some(format!("band & <{b}>").as_str()));
                    assert_eq!((bm.scale, bm.offset), (Some(0.5), Some(b as f64)), "{what}");
                    let nd = bm.nodata.expect("nodata").0;
                    assert!(if dtype.is_float() { nd.is_nan() } else { nd == 0.0 }, "{what}");
                }
                // The pyramid the writer planned, each level readable with the right size.
                let sizes = overview_sizes(w, h, &opts);
                assert_eq!(m.overviews, sizes, "{what}: overviews");
                for k in 0..r.overview_count() {
                    let o = r.overview(k).unwrap();
                    let om = o.meta();
                    let b = o.read_window(&[0, 2], Window::full(om.width, om.height)).unwrap();
                    assert_eq!(b.shape(), (2, om.height, om.width));
                }
                n += 1;
            }
        }
    }
    eprintln!("{n} files written by geodino-tiff's writer read back exactly");
}

#[test]
fn a_class_raster_with_a_palette_reads_back() {
    let dir = geodino_testutil::tempdir();
    let (w, h) = (97, 61);
    let mut meta = RasterMeta::new(w, h, 1, DataType::Uint8);
    let table: Vec<ColorEntry> = (0..256)
        .map(|i| ColorEntry { r: i as u8, g: 255 - i as u8, b: (i * 7 % 256) as u8, a: 255 })
        .collect();
    meta.bands[0].color_table = Some(table.clone());
    meta.bands[0].color_interp = Some("palette".into());
    let px = RasterBuffer::Uint8(ndarray::Array3::from_shape_fn((1, h, w), |(_, y, x)| {
        ((x / 10 + y / 10) % 7) as u8
    }));
    let path = dir.path().join("classes.tif");
    let opts = TiffWriteOptions { overviews: Overviews::None, ..TiffWriteOptions::default() };
    write_geotiff(&path, &meta, &px, &opts).unwrap();
    let r = GeoTiffReader::open(&path).unwrap();
    assert_eq!(r.read_all().unwrap(), px);
    assert_eq!(r.meta().bands[0].color_table.as_ref(), Some(&table));
    assert_eq!(r.meta().bands[0].color_interp.as_deref(), Some("palette"));
}
