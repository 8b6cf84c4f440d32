//! Shared fixtures of the engine tests: small random-weight models, synthetic georeferenced
//! scenes written as GeoTIFFs, and readers.
#![allow(dead_code)]

use std::path::Path;

use geodino_core::{Crs, DataType, GeoTransform, NoData, RasterBuffer, RasterMeta, Window};
use geodino_dinov3::{CheckpointOptions, Dinov3Backbone, ViTConfig};
use geodino_heads::{
    BackboneSpec, ClassInfo, DecoderConfig, DenseHead, DepthConfig, DptConfig, HeadOptions,
    HeadSpec, NormalizationSpec, PatchAdaptation, Readout, Task,
};
use geodino_infer::HeadModel;
use geodino_tiff::write::{TiffWriteOptions, write_geotiff};
use ndarray::Array3;
use tch::Device;

/// libtorch's random generator is global: tests running in parallel threads take this lock
/// around seeding and drawing initial weights, so that a seed gives the same model every time.
static SEED_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A small ViT (width 32, 4 blocks, 2 heads, patch 16) with the reference random
/// initialisation (LayerScale 1e-5: blocks barely change the tokens, so the model is nearly
/// local, as trained dense models are), seeded.
pub fn tiny_backbone(seed: i64) -> Dinov3Backbone {
    let _g = SEED_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    tch::manual_seed(seed);
    let cfg = ViTConfig { embed_dim: 32, depth: 4, num_heads: 2, ..ViTConfig::default() };
    Dinov3Backbone::new(&cfg, Device::Cpu).unwrap()
}

/// A CHMv2-style DPT canopy head on layers 0–3 of a width-`d` backbone (16 mixlog bins).
pub fn tiny_canopy_head(seed: i64, d: i64) -> DenseHead {
    let _g = SEED_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    tch::manual_seed(seed);
    let spec = HeadSpec {
        version: geodino_heads::HEAD_FORMAT_VERSION,
        task: Task::CanopyHeight,
        name: Some("tiny".into()),
        decoder: DecoderConfig::Dpt(DptConfig {
            in_channels: vec![d; 4],
            channels: 16,
            post_process_channels: vec![8, 16, 32, 32],
            readout: Readout::Project,
            use_batchnorm: false,
            use_bias: true,
            projection_after_fusion: false,
            n_hidden_channels: 8,
            n_output_channels: 16,
        }),
        depth: Some(DepthConfig::chmv2()),
        classes: Vec::new(),
        backbone: BackboneSpec {
            layers: vec![0, 1, 2, 3],
            use_norm: true,
            patch_size: Some(16),
            in_chans: Some(3),
            weights: None,
        },
        normalization: NormalizationSpec::preset("chmv2").unwrap(),
        adaptation: PatchAdaptation::CenterPadding,
    };
    DenseHead::new(spec, Device::Cpu).unwrap()
}

/// A linear land-cover head with three named, coloured classes (values 10, 20, 30).
pub fn tiny_landcover_head(seed: i64, d: i64) -> DenseHead {
    let _g = SEED_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    tch::manual_seed(seed);
    let classes = vec![
        ClassInfo { value: Some(10), ..ClassInfo::new("water", [0, 100, 200]) },
        ClassInfo { value: Some(20), ..ClassInfo::new("tree cover", [0, 120, 0]) },
        ClassInfo { value: Some(30), ..ClassInfo::new("built-up", [220, 30, 30]) },
    ];
    let spec = HeadSpec::land_cover_linear(d, vec![-1], classes);
    DenseHead::new(spec, Device::Cpu).unwrap()
}

/// The tiny canopy model: [`tiny_backbone`] + [`tiny_canopy_head`].
pub fn tiny_canopy_model() -> HeadModel {
    HeadModel::new(Box::new(tiny_backbone(1)), tiny_canopy_head(2, 32)).unwrap()
}

/// The golden CHMv2-style model (`tests/golden/dinov3/chmv2_dpt.*.pth`, official layout):
/// width 64, 4 blocks, LayerScale 0.3–1 (every block matters), DPT on layers 0–3.
pub fn golden_model() -> HeadModel {
    let dir = geodino_testutil::golden_dir();
    let bb = Dinov3Backbone::from_checkpoint(
        &dir.join("chmv2_dpt.backbone.pth"),
        &CheckpointOptions::default(),
    )
    .unwrap();
    let head =
        DenseHead::from_file(&dir.join("chmv2_dpt.head.pth"), &HeadOptions::default()).unwrap();
    HeadModel::new(Box::new(bb), head).unwrap()
}

/// A cheap deterministic hash in `[0, 1)`.
pub fn hash01(x: u64) -> f32 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32
}

/// Textured RGB pixels `(3, h, w)`: smooth fields plus blobs plus noise, like aerial imagery.
pub fn scene_pixels(w: usize, h: usize, seed: u64) -> Array3<u8> {
    Array3::from_shape_fn((3, h, w), |(b, y, x)| {
        let (xf, yf) = (x as f32, y as f32);
        let field = (xf / 23.0 + b as f32).sin() * (yf / 31.0).cos() * 50.0
            + ((xf + yf) / 57.0).sin() * 30.0;
        let blob = if ((x / 40 + y / 40 + b) % 3) == 0 { 25.0 } else { 0.0 };
        let noise = (hash01(seed ^ ((y * w + x) as u64 * 3 + b as u64)) - 0.5) * 24.0;
        (110.0 + field + blob + noise).clamp(1.0, 255.0) as u8
    })
}

/// Metadata of a north-up UTM 32N scene with `gsd`-metre pixels.
pub fn scene_meta(w: usize, h: usize, bands: usize, dtype: DataType, gsd: f64) -> RasterMeta {
    let mut m = RasterMeta::new(w, h, bands, dtype);
    m.geotransform = Some(GeoTransform::north_up(500_000.0, gsd, 5_600_000.0, -gsd));
    m.crs = Some(Crs::from_epsg(32632));
    m
}

/// Write an RGB uint8 GeoTIFF; pixels inside `nodata_box` are set to the nodata value 0.
pub fn write_scene(
    path: &Path,
    w: usize,
    h: usize,
    gsd: f64,
    nodata_box: Option<Window>,
) -> Array3<u8> {
    let mut px = scene_pixels(w, h, 7);
    let mut meta = scene_meta(w, h, 3, DataType::Uint8, gsd);
    meta.set_nodata(Some(0.0));
    for (b, c) in meta.bands.iter_mut().zip(["red", "green", "blue"]) {
        b.color_interp = Some(c.into());
    }
    if let Some(bx) = nodata_box {
        for y in bx.row_off as usize..bx.row_end() as usize {
            for x in bx.col_off as usize..bx.col_end() as usize {
                for b in 0..3 {
                    px[[b, y, x]] = 0;
                }
            }
        }
    }
    let opts = TiffWriteOptions::preset("tiled").unwrap();
    write_geotiff(path, &meta, &RasterBuffer::Uint8(px.clone()), &opts).unwrap();
    px
}

/// Every pixel of a raster as f32 `(bands, rows, cols)`.
pub fn read_all(path: &Path) -> Array3<f32> {
    geodino_raster::open(path).unwrap().read_all().unwrap().to_f32()
}

/// The nodata value of band 1.
pub fn nodata(path: &Path) -> Option<NoData> {
    geodino_raster::open(path).unwrap().meta().nodata(0)
}
