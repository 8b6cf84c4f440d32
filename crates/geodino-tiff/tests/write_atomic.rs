//! Atomicity: nothing appears at the destination, and no temporary file is left behind,
//! unless `finish` succeeds; an existing destination is replaced only then.

mod write_support;

use geodino_core::{DataType, RasterBuffer, RasterMeta, RasterWrite, Window};
use geodino_tiff::write::{GeoTiffWriter, TiffWriteOptions, write_geotiff};
use write_support::{dir_listing, random_buffer};

fn small() -> (RasterMeta, RasterBuffer) {
    (
        RasterMeta::new(300, 200, 1, DataType::Uint16),
        random_buffer(DataType::Uint16, (1, 200, 300), 1),
    )
}

fn opts() -> TiffWriteOptions {
    TiffWriteOptions { tile_size: 64, ..Default::default() }
}

#[test]
fn dropped_writer_leaves_nothing() {
    let dir = geodino_testutil::tempdir();
    let (m, data) = small();
    let p = dir.path().join("out.tif");
    let mut w = GeoTiffWriter::create(&p, &m, &opts()).unwrap();
    assert_eq!(dir_listing(dir.path()).len(), 1, "one scratch file while writing");
    let half = data.clone();
    let top = match &half {
        RasterBuffer::Uint16(a) => {
            RasterBuffer::Uint16(a.slice(ndarray::s![.., 0..128, ..]).to_owned())
        }
        _ => unreachable!(),
    };
    w.write_window(Window::new(0, 0, 300, 128), &top).unwrap();
    assert!(w.stats().tiles_encoded > 0);
    drop(w);
    assert!(dir_listing(dir.path()).is_empty(), "left behind: {:?}", dir_listing(dir.path()));
}

#[test]
fn failed_writes_then_drop_leave_nothing() {
    let dir = geodino_testutil::tempdir();
    let (m, _) = small();
    let p = dir.path().join("out.tif");
    let mut w: Box<dyn RasterWrite> = Box::new(GeoTiffWriter::create(&p, &m, &opts()).unwrap());
    let e = w.write_window(
        Window::new(250, 0, 100, 10),
        &RasterBuffer::filled(DataType::Uint16, (1, 10, 100), 0.0),
    );
    assert!(e.unwrap_err().to_string().contains("out.tif"));
    drop(w);
    assert!(dir_listing(dir.path()).is_empty());
}

/// `finish` fails at the last step (the destination is a directory, so the rename fails):
/// the error names the file, and both temporary files are gone.
#[test]
fn failed_finish_leaves_nothing() {
    let dir = geodino_testutil::tempdir();
    let (m, data) = small();
    let p = dir.path().join("taken");
    std::fs::create_dir(&p).unwrap();
    std::fs::write(p.join("keep.txt"), b"x").unwrap();
    let err = write_geotiff(&p, &m, &data, &opts()).unwrap_err().to_string();
    assert!(err.contains("taken"), "{err}");
    assert_eq!(dir_listing(dir.path()), vec!["taken".to_string()]);
    assert_eq!(dir_listing(&p), vec!["keep.txt".to_string()]);
}

#[test]
fn existing_file_is_replaced_only_by_a_finished_one() {
    let dir = geodino_testutil::tempdir();
    let (m, data) = small();
    let p = dir.path().join("out.tif");
    std::fs::write(&p, b"previous version").unwrap();
    let w = GeoTiffWriter::create(&p, &m, &opts()).unwrap();
    drop(w);
    assert_eq!(std::fs::read(&p).unwrap(), b"previous version");
    write_geotiff(&p, &m, &data, &opts()).unwrap();
    assert_eq!(&std::fs::read(&p).unwrap()[..4], b"II*\0");
    assert_eq!(dir_listing(dir.path()), vec!["out.tif".to_string()]);
}

#[test]
fn bad_destinations_and_metadata_are_clear_errors() {
    let dir = geodino_testutil::tempdir();
    let (m, _) = small();
    let missing = dir.path().join("no/such/dir/out.tif");
    let err = GeoTiffWriter::create(&missing, &m, &opts()).unwrap_err().to_string();
    assert!(err.contains("no/such/dir"), "{err}");

    let mut bad = m.clone();
    bad.bands.push(Default::default());
    bad.bands[0].nodata = Some(geodino_core::NoData(0.0));
    let err =
        GeoTiffWriter::create(dir.path().join("x.tif"), &bad, &opts()).unwrap_err().to_string();
    assert!(err.contains("one nodata value for all bands"), "{err}");

    let mut bad = m.clone();
    bad.bands[0].color_table = Some(vec![]);
    bad.dtype = DataType::Float32;
    let err =
        GeoTiffWriter::create(dir.path().join("x.tif"), &bad, &opts()).unwrap_err().to_string();
    assert!(err.contains("colour table"), "{err}");

    let err = GeoTiffWriter::create(
        dir.path().join("x.tif"),
        &RasterMeta::new(0, 5, 1, DataType::Uint8),
        &opts(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("empty raster"), "{err}");
    assert!(dir_listing(dir.path()).is_empty());
}
