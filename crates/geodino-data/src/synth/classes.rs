//! The land-cover classes of synthetic scenes.

use geodino_core::ColorEntry;

/// A land-cover class of the synthetic scenes; the discriminant is the pixel value of
/// `OUT.landcover.tif`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Class {
    /// No data (never produced by the generator; the raster's nodata value).
    NoData = 0,
    /// Tree crowns (canopy height > 0, trees are ≥ 3 m tall).
    Tree = 1,
    /// Grass, meadows, lawns, shrubs (≤ 2 m), forest floor seen between crowns, shores.
    GrassShrub = 2,
    /// Crop fields (canopy height 0.15–1.8 m by crop).
    Crop = 3,
    /// Bare soil: ploughed fields, gravel yards.
    Bare = 4,
    /// Open water: lakes and rivers (canopy height 0).
    Water = 5,
    /// Paved roads and gravel tracks.
    Road = 6,
    /// Building roofs (canopy height 0: buildings are not canopy).
    Building = 7,
}

impl Class {
    /// Every class, by pixel value.
    pub const ALL: [Class; 8] = [
        Class::NoData,
        Class::Tree,
        Class::GrassShrub,
        Class::Crop,
        Class::Bare,
        Class::Water,
        Class::Road,
        Class::Building,
    ];

    /// The pixel value.
    pub fn value(self) -> u8 {
        self as u8
    }

    /// The class of a pixel value, if any.
    pub fn from_value(v: u8) -> Option<Class> {
        Class::ALL.get(v as usize).copied()
    }

    /// The class name written into the raster's category names.
    pub fn name(self) -> &'static str {
        match self {
            Class::NoData => "nodata",
            Class::Tree => "tree",
            Class::GrassShrub => "grass/shrub",
            Class::Crop => "crop",
            Class::Bare => "bare",
            Class::Water => "water",
            Class::Road => "road",
            Class::Building => "building",
        }
    }

    /// The colour written into the raster's colour table (and used in previews), RGBA.
    pub fn color(self) -> [u8; 4] {
        match self {
            Class::NoData => [0, 0, 0, 0],
            Class::Tree => [26, 115, 46, 255],
            Class::GrassShrub => [143, 201, 88, 255],
            Class::Crop => [240, 200, 70, 255],
            Class::Bare => [176, 128, 92, 255],
            Class::Water => [44, 110, 200, 255],
            Class::Road => [110, 110, 110, 255],
            Class::Building => [214, 54, 54, 255],
        }
    }

    /// The colour table of the land-cover raster: one entry per class value 0..=7, then opaque
    /// black up to 255 as GDAL pads palettes.
    pub fn color_table() -> Vec<ColorEntry> {
        let mut t: Vec<ColorEntry> = Class::ALL
            .iter()
            .map(|c| {
                let [r, g, b, a] = c.color();
                ColorEntry { r, g, b, a }
            })
            .collect();
        t.resize(256, ColorEntry { r: 0, g: 0, b: 0, a: 255 });
        t
    }

    /// The class names by pixel value.
    pub fn names() -> Vec<String> {
        Class::ALL.iter().map(|c| c.name().to_string()).collect()
    }
}
