//! Procedural aerial scenes with exact labels: RGB (+ NIR) imagery at a chosen ground sample
//! distance, a canopy height model and a land-cover map, generated window by window.
//!
//! A scene is a pure function of its [`SynthConfig`]: terrain, land-use parcels (forest stands,
//! crop fields with rows and tramlines, meadows, shrubland, ploughed soil, villages, orchards),
//! a road network, rivers and lakes, and objects — trees of several species whose crown radius
//! and shape scale with their height, shrubs, buildings with gable or flat roofs — lit by a sun
//! at a given azimuth and elevation, with shading of crowns, roofs and terrain and **shadows
//! cast along the sun azimuth with a length proportional to height**, then blurred slightly and
//! given sensor noise.
//!
//! Every random choice hashes a cell of a fixed global grid with the seed, so any window can be
//! rendered on its own: [`SceneGenerator::render`] of a window equals the same window cut from a
//! render of the whole scene, whatever the window sizes (tested), and a scene is streamed to
//! [`RasterWrite`]rs in bands of rows with memory set by the window size, not by the scene size.
//! See `docs/synthetic-scenes.md`.

mod classes;
mod landscape;
mod noise;
mod objects;
mod render;

pub use classes::Class;
pub use render::SceneTile;

use geodino_core::{
    BandMeta, BlockSize, Compression, Crs, DataType, GeoTransform, NoData, RasterBuffer,
    RasterMeta, RasterWrite, Window,
};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Dataset metadata item of the land-cover raster listing the class names by value,
/// comma-separated.
pub const CLASS_NAMES_KEY: &str = "GEODINO_CLASS_NAMES";

/// The canopy-height raster's nodata value (never produced: every synthetic pixel has a height).
pub const CHM_NODATA: f64 = -9999.0;

/// What to generate. Defaults: a 2048 × 2048 scene at 0.6 m (Maxar-like, as SAT-493M),
/// RGB, sun in the south-east at 50° elevation, in UTM zone 32N.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SynthConfig {
    /// Width in pixels. Default 2048.
    pub width: usize,
    /// Height in pixels. Default 2048.
    pub height: usize,
    /// Ground sample distance (m per pixel). Features are defined in metres, so a finer GSD
    /// renders the same landscape with more pixels. Default 0.6.
    pub gsd: f64,
    /// The seed: the same seed gives the same scene. Default 0.
    pub seed: u64,
    /// Add a near-infrared band (band 4). Default false.
    pub nir: bool,
    /// Sun azimuth, degrees clockwise from north. Default 135 (south-east, a morning
    /// acquisition: shadows point north-west).
    pub sun_azimuth_deg: f64,
    /// Sun elevation above the horizon, degrees. Default 50 (a 20 m tree casts a 16.8 m shadow).
    pub sun_elevation_deg: f64,
    /// Standard deviation of the sensor noise, in digital numbers. Default 1.5.
    pub noise_dn: f64,
    /// EPSG code of the projected CRS written into the GeoTIFFs. Default 32632 (WGS 84 / UTM
    /// zone 32N).
    pub epsg: u32,
    /// Map coordinates of the top-left corner; `None` (default) chooses whole kilometres from
    /// the seed (easting 300–700 km, northing 5000–5600 km).
    pub origin: Option<[f64; 2]>,
    /// Shifts the land-use mix towards forest (positive) or open land (negative), about
    /// −0.5..0.5. Default 0.
    pub forest_bias: f64,
    /// Shifts the mix towards villages. Default 0.
    pub settlement_bias: f64,
    /// Shifts the mix towards lakes and rivers. Default 0.
    pub water_bias: f64,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            width: 2048,
            height: 2048,
            gsd: 0.6,
            seed: 0,
            nir: false,
            sun_azimuth_deg: 135.0,
            sun_elevation_deg: 50.0,
            noise_dn: 1.5,
            epsg: 32632,
            origin: None,
            forest_bias: 0.0,
            settlement_bias: 0.0,
            water_bias: 0.0,
        }
    }
}

impl SynthConfig {
    /// Named landscape presets: `mixed` (the default mix), `forest`, `farmland`, `village`,
    /// `lakes`.
    pub fn preset(name: &str) -> Option<SynthConfig> {
        let d = SynthConfig::default();
        Some(match name {
            "mixed" => d,
            "forest" => SynthConfig { forest_bias: 0.35, ..d },
            "farmland" => SynthConfig { forest_bias: -0.3, settlement_bias: -0.2, ..d },
            "village" => SynthConfig { settlement_bias: 0.45, ..d },
            "lakes" => SynthConfig { water_bias: 0.22, ..d },
            _ => return None,
        })
    }

    /// The preset names.
    pub const PRESETS: [&'static str; 5] = ["mixed", "forest", "farmland", "village", "lakes"];

    /// Check the values.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the field that is out of range.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Invalid(format!("synthetic scene: {m}")));
        if self.width == 0 || self.height == 0 {
            return bad(format!("size {}x{} is empty", self.width, self.height));
        }
        if self.width > 1 << 24 || self.height > 1 << 24 {
            return bad(format!("size {}x{} is too large", self.width, self.height));
        }
        if !(self.gsd.is_finite() && (0.05..=10.0).contains(&self.gsd)) {
            return bad(format!("gsd {} m is outside 0.05..10", self.gsd));
        }
        if !(5.0..=89.0).contains(&self.sun_elevation_deg) {
            return bad(format!("sun elevation {}° is outside 5..89", self.sun_elevation_deg));
        }
        if !self.sun_azimuth_deg.is_finite() {
            return bad("the sun azimuth is not a number".into());
        }
        if !(self.noise_dn.is_finite() && self.noise_dn >= 0.0) {
            return bad(format!("noise {} DN must be ≥ 0", self.noise_dn));
        }
        for (n, v) in [
            ("forest_bias", self.forest_bias),
            ("settlement_bias", self.settlement_bias),
            ("water_bias", self.water_bias),
        ] {
            if !(v.is_finite() && (-1.0..=1.0).contains(&v)) {
                return bad(format!("{n} {v} is outside -1..1"));
            }
        }
        Ok(())
    }
}

/// How a scene is streamed to writers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamOptions {
    /// Rows per band. Default 256.
    pub band_rows: usize,
    /// Columns per window within a band. Default 1024.
    pub window_cols: usize,
    /// Windows rendered in parallel. Default 1.
    pub threads: usize,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions { band_rows: 256, window_cols: 1024, threads: 1 }
    }
}

/// A scene ready to render: validated configuration, sun, georeferencing.
#[derive(Debug, Clone)]
pub struct SceneGenerator {
    cfg: SynthConfig,
    seed: u64,
    sun: objects::Sun,
    origin: [f64; 2],
}

impl SceneGenerator {
    /// Validate `cfg` and prepare the scene.
    ///
    /// # Errors
    /// [`Error::Invalid`] for an invalid configuration.
    pub fn new(cfg: &SynthConfig) -> Result<Self> {
        cfg.validate()?;
        let seed = noise::layer_seed(cfg.seed, 0x5c3e);
        let origin = cfg.origin.unwrap_or_else(|| {
            let h = noise::mix64(cfg.seed ^ 0x0419_0419);
            let e = 300_000.0 + (h % 400) as f64 * 1000.0;
            let n = 5_000_000.0 + ((h >> 20) % 600) as f64 * 1000.0;
            [e, n + (cfg.height as f64 * cfg.gsd).ceil()]
        });
        Ok(SceneGenerator {
            cfg: cfg.clone(),
            seed,
            sun: objects::Sun::new(cfg.sun_azimuth_deg, cfg.sun_elevation_deg),
            origin,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SynthConfig {
        &self.cfg
    }

    /// Number of image bands (3, or 4 with NIR).
    pub fn band_count(&self) -> usize {
        if self.cfg.nir { 4 } else { 3 }
    }

    /// North-up transform: top-left corner at the origin, square pixels of the GSD.
    pub fn geotransform(&self) -> GeoTransform {
        GeoTransform::north_up(self.origin[0], self.cfg.gsd, self.origin[1], -self.cfg.gsd)
    }

    /// The projected CRS.
    pub fn crs(&self) -> Crs {
        Crs::from_epsg(self.cfg.epsg)
    }

    fn base_meta(&self, bands: usize, dtype: DataType) -> RasterMeta {
        let mut m = RasterMeta::new(self.cfg.width, self.cfg.height, bands, dtype);
        m.geotransform = Some(self.geotransform());
        m.crs = Some(self.crs());
        m.block = BlockSize::new(512, 512);
        m.compression = Compression::Deflate;
        let c = &self.cfg;
        for (k, v) in [
            ("GEODINO_SYNTH_SEED", c.seed.to_string()),
            ("GEODINO_SYNTH_GSD", c.gsd.to_string()),
            ("GEODINO_SYNTH_SUN_AZIMUTH", c.sun_azimuth_deg.to_string()),
            ("GEODINO_SYNTH_SUN_ELEVATION", c.sun_elevation_deg.to_string()),
        ] {
            m.metadata.insert(k.into(), v);
        }
        m
    }

    /// Metadata of the image: uint8 red, green, blue (and near-infrared).
    pub fn image_meta(&self) -> RasterMeta {
        let mut m = self.base_meta(self.band_count(), DataType::Uint8);
        let names = [("red", "red"), ("green", "green"), ("blue", "blue"), ("nir", "undefined")];
        for (b, (d, ci)) in m.bands.iter_mut().zip(names) {
            b.description = Some(d.into());
            b.color_interp = Some(ci.into());
        }
        m
    }

    /// Metadata of the canopy height model: float32 metres, nodata [`CHM_NODATA`].
    pub fn chm_meta(&self) -> RasterMeta {
        let mut m = self.base_meta(1, DataType::Float32);
        m.bands[0] = BandMeta {
            description: Some("canopy height (m)".into()),
            nodata: Some(NoData(CHM_NODATA)),
            color_interp: Some("gray".into()),
            ..BandMeta::default()
        };
        m
    }

    /// Metadata of the land-cover map: uint8 classes with a colour table and class names,
    /// nodata 0. The names are also in the dataset metadata item [`CLASS_NAMES_KEY`]
    /// (comma-separated), which survives formats without category names.
    pub fn landcover_meta(&self) -> RasterMeta {
        let mut m = self.base_meta(1, DataType::Uint8);
        m.metadata.insert(CLASS_NAMES_KEY.into(), Class::names().join(","));
        m.bands[0] = BandMeta {
            description: Some("land cover".into()),
            nodata: Some(NoData(0.0)),
            color_interp: Some("palette".into()),
            color_table: Some(Class::color_table()),
            category_names: Some(Class::names()),
            ..BandMeta::default()
        };
        m
    }

    /// Render `window`, which must lie inside the scene.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the window is empty or leaves the scene.
    pub fn render(&self, window: Window) -> Result<SceneTile> {
        if window.is_empty() || !window.is_inside(self.cfg.width, self.cfg.height) {
            return Err(Error::Invalid(format!(
                "synthetic scene: window {window} is not a non-empty part of the {}x{} scene",
                self.cfg.width, self.cfg.height
            )));
        }
        Ok(render::render(self, window))
    }

    /// The windows of a stream, in write order: bands of `band_rows` rows, each cut into
    /// windows of `window_cols` columns.
    pub fn windows(&self, stream: &StreamOptions) -> Vec<Window> {
        let (w, h) = (self.cfg.width, self.cfg.height);
        let (br, wc) = (stream.band_rows.max(1), stream.window_cols.max(1));
        let mut out = Vec::new();
        for r in (0..h).step_by(br) {
            for c in (0..w).step_by(wc) {
                out.push(Window::new(c as i64, r as i64, wc.min(w - c), br.min(h - r)));
            }
        }
        out
    }

    /// Render the whole scene and write it, window by window in row order, to the three
    /// writers (created with [`image_meta`](Self::image_meta), [`chm_meta`](Self::chm_meta) and
    /// [`landcover_meta`](Self::landcover_meta); the caller calls `finish` on them). At most
    /// `stream.threads` windows are in memory at once. `progress` is called with the number of
    /// pixels written so far.
    ///
    /// # Errors
    /// Writer errors, or [`Error::Invalid`] when a writer's size or band count does not match.
    pub fn write(
        &self,
        image: &mut dyn RasterWrite,
        chm: &mut dyn RasterWrite,
        landcover: &mut dyn RasterWrite,
        stream: &StreamOptions,
        progress: &mut dyn FnMut(u64),
    ) -> Result<()> {
        for (what, m, bands) in [
            ("image", image.meta(), self.band_count()),
            ("canopy height", chm.meta(), 1),
            ("land cover", landcover.meta(), 1),
        ] {
            if (m.width, m.height, m.band_count()) != (self.cfg.width, self.cfg.height, bands) {
                return Err(Error::Invalid(format!(
                    "synthetic scene: the {what} writer is {}x{} with {} band(s), the scene needs {}x{} with {bands}",
                    m.width,
                    m.height,
                    m.band_count(),
                    self.cfg.width,
                    self.cfg.height
                )));
            }
        }
        let windows = self.windows(stream);
        let threads = stream.threads.max(1);
        let mut done = 0u64;
        for chunk in windows.chunks(threads) {
            let tiles: Vec<SceneTile> = if threads == 1 {
                vec![render::render(self, chunk[0])]
            } else {
                std::thread::scope(|s| {
                    let handles: Vec<_> =
                        chunk.iter().map(|&w| s.spawn(move || render::render(self, w))).collect();
                    handles
                        .into_iter()
                        .map(|h| h.join().expect("a render thread panicked"))
                        .collect()
                })
            };
            for t in tiles {
                let (h, w) = t.chm.dim();
                image.write_window(t.window, &RasterBuffer::Uint8(t.image))?;
                chm.write_window(
                    t.window,
                    &RasterBuffer::Float32(
                        t.chm.into_shape_with_order((1, h, w)).expect("h × w values"),
                    ),
                )?;
                landcover.write_window(
                    t.window,
                    &RasterBuffer::Uint8(
                        t.landcover.into_shape_with_order((1, h, w)).expect("h × w values"),
                    ),
                )?;
                done += (h * w) as u64;
                progress(done);
            }
        }
        Ok(())
    }
}
