//! GeoTIFF georeferencing: the GeoKey directory, the CRS it names, and the pixel → model
//! transform of the model tags.
//!
//! * A CRS with an EPSG code (`ProjectedCSTypeGeoKey` 3072, or `GeographicTypeGeoKey` 2048 for a
//!   geographic model) is returned as that code. GDAL reports the same code.
//! * A user-defined CRS (key value 32767, or projection keys without a code) is turned into a
//!   WKT1 string built from the keys: the projection method (`ProjCoordTransGeoKey`) and its
//!   parameters, the geodetic datum and ellipsoid (EPSG codes for the common ones, or the
//!   semi-axes and inverse flattening), the prime meridian and the linear and angular units. A
//!   conversion given by EPSG code (`ProjectionGeoKey`) is understood for the UTM zones
//!   (16001–16060, 16101–16160), which is what GDAL writes for UTM on a non-EPSG datum. A WKT
//!   that GDAL stored in a citation key as `ESRI PE String = ...` (its fallback for CRSs that
//!   GeoKeys cannot express) is returned as it is.
//! * The transform follows GDAL: `ModelPixelScale` + `ModelTiepoint` (one tie point), else
//!   `ModelTransformation`; a negative Y scale is read as north-up (GDAL's default); for
//!   `RasterPixelIsPoint` the transform is shifted by half a pixel so that it maps pixel
//!   corners, as GDAL does unless `GTIFF_POINT_GEO_IGNORE` is set.

use std::collections::BTreeMap;

use geodino_core::{Crs, GeoTransform};

use crate::ifd::Ifd;
use crate::tags;

/// GeoKey identifiers (GeoTIFF 1.1, 19-008r4, Annex D).
#[allow(missing_docs, dead_code)]
pub(crate) mod key {
    pub const GT_MODEL_TYPE: u16 = 1024;
    pub const GT_RASTER_TYPE: u16 = 1025;
    pub const GT_CITATION: u16 = 1026;
    pub const GEOGRAPHIC_TYPE: u16 = 2048;
    pub const GEOG_CITATION: u16 = 2049;
    pub const GEOG_GEODETIC_DATUM: u16 = 2050;
    pub const GEOG_PRIME_MERIDIAN: u16 = 2051;
    pub const GEOG_LINEAR_UNITS: u16 = 2052;
    pub const GEOG_LINEAR_UNIT_SIZE: u16 = 2053;
    pub const GEOG_ANGULAR_UNITS: u16 = 2054;
    pub const GEOG_ANGULAR_UNIT_SIZE: u16 = 2055;
    pub const GEOG_ELLIPSOID: u16 = 2056;
    pub const GEOG_SEMI_MAJOR_AXIS: u16 = 2057;
    pub const GEOG_SEMI_MINOR_AXIS: u16 = 2058;
    pub const GEOG_INV_FLATTENING: u16 = 2059;
    pub const GEOG_AZIMUTH_UNITS: u16 = 2060;
    pub const GEOG_PRIME_MERIDIAN_LONG: u16 = 2061;
    pub const PROJECTED_CS_TYPE: u16 = 3072;
    pub const PCS_CITATION: u16 = 3073;
    pub const PROJECTION: u16 = 3074;
    pub const PROJ_COORD_TRANS: u16 = 3075;
    pub const PROJ_LINEAR_UNITS: u16 = 3076;
    pub const PROJ_LINEAR_UNIT_SIZE: u16 = 3077;
    pub const PROJ_STD_PARALLEL1: u16 = 3078;
    pub const PROJ_STD_PARALLEL2: u16 = 3079;
    pub const PROJ_NAT_ORIGIN_LONG: u16 = 3080;
    pub const PROJ_NAT_ORIGIN_LAT: u16 = 3081;
    pub const PROJ_FALSE_EASTING: u16 = 3082;
    pub const PROJ_FALSE_NORTHING: u16 = 3083;
    pub const PROJ_FALSE_ORIGIN_LONG: u16 = 3084;
    pub const PROJ_FALSE_ORIGIN_LAT: u16 = 3085;
    pub const PROJ_FALSE_ORIGIN_EASTING: u16 = 3086;
    pub const PROJ_FALSE_ORIGIN_NORTHING: u16 = 3087;
    pub const PROJ_CENTER_LONG: u16 = 3088;
    pub const PROJ_CENTER_LAT: u16 = 3089;
    pub const PROJ_CENTER_EASTING: u16 = 3090;
    pub const PROJ_CENTER_NORTHING: u16 = 3091;
    pub const PROJ_SCALE_AT_NAT_ORIGIN: u16 = 3092;
    pub const PROJ_SCALE_AT_CENTER: u16 = 3093;
    pub const PROJ_AZIMUTH_ANGLE: u16 = 3094;
    pub const PROJ_STRAIGHT_VERT_POLE_LONG: u16 = 3095;
    pub const PROJ_RECTIFIED_GRID_ANGLE: u16 = 3096;
    pub const VERTICAL_CS_TYPE: u16 = 4096;
}

/// "User-defined" in every code-valued GeoKey.
const USER_DEFINED: u16 = 32767;

/// One GeoKey value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum KeyValue {
    Short(u16),
    Shorts(Vec<u16>),
    Doubles(Vec<f64>),
    Ascii(String),
}

/// The GeoKey directory of a GeoTIFF.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct GeoKeys {
    pub keys: BTreeMap<u16, KeyValue>,
}

impl GeoKeys {
    /// Parse the directory of `ifd`; `None` when it has none or it is malformed.
    pub(crate) fn parse(ifd: &Ifd) -> Option<GeoKeys> {
        let dir = ifd.uints(tags::GEO_KEY_DIRECTORY)?;
        let doubles = ifd.floats(tags::GEO_DOUBLE_PARAMS).unwrap_or_default();
        let ascii = ifd.ascii_raw(tags::GEO_ASCII_PARAMS).unwrap_or_default();
        if dir.len() < 4 {
            return None;
        }
        let n = dir[3] as usize;
        let mut keys = BTreeMap::new();
        for i in 0..n {
            let Some(e) = dir.get(4 + 4 * i..8 + 4 * i) else { break };
            let (id, loc, count, val) = (e[0] as u16, e[1] as u16, e[2] as usize, e[3] as usize);
            let v = match loc {
                0 => KeyValue::Short(val as u16),
                tags::GEO_KEY_DIRECTORY => {
                    let Some(s) = dir.get(val..val.saturating_add(count)) else { continue };
                    KeyValue::Shorts(s.iter().map(|&x| x as u16).collect())
                }
                tags::GEO_DOUBLE_PARAMS => {
                    let Some(d) = doubles.get(val..val.saturating_add(count)) else { continue };
                    KeyValue::Doubles(d.to_vec())
                }
                tags::GEO_ASCII_PARAMS => {
                    let bytes = ascii.as_bytes();
                    let Some(s) = bytes.get(val..val.saturating_add(count)) else { continue };
                    let s = String::from_utf8_lossy(s);
                    // Strings end with '|' (the NUL replacement); strip it.
                    let s = s.trim_end_matches(['|', '\0']).to_string();
                    KeyValue::Ascii(s)
                }
                _ => continue,
            };
            keys.insert(id, v);
        }
        Some(GeoKeys { keys })
    }

    /// A SHORT key.
    pub(crate) fn short(&self, id: u16) -> Option<u16> {
        match self.keys.get(&id)? {
            KeyValue::Short(v) => Some(*v),
            KeyValue::Shorts(v) => v.first().copied(),
            _ => None,
        }
    }

    /// A DOUBLE key.
    pub(crate) fn double(&self, id: u16) -> Option<f64> {
        match self.keys.get(&id)? {
            KeyValue::Doubles(v) => v.first().copied(),
            KeyValue::Short(v) => Some(*v as f64),
            _ => None,
        }
    }

    /// An ASCII key.
    pub(crate) fn ascii(&self, id: u16) -> Option<&str> {
        match self.keys.get(&id)? {
            KeyValue::Ascii(s) => Some(s),
            _ => None,
        }
    }

    /// True when `GTRasterTypeGeoKey` says `RasterPixelIsPoint`.
    pub(crate) fn pixel_is_point(&self) -> bool {
        self.short(key::GT_RASTER_TYPE) == Some(2)
    }

    /// The CRS the keys describe, if any.
    pub(crate) fn crs(&self) -> Option<Crs> {
        let model = self.short(key::GT_MODEL_TYPE);
        let pcs = self.short(key::PROJECTED_CS_TYPE).filter(|&c| c != 0);
        let gcs = self.short(key::GEOGRAPHIC_TYPE).filter(|&c| c != 0);
        let projected = model == Some(1) || (model.is_none() && pcs.is_some());
        if projected {
            if let Some(code) = pcs.filter(|&c| c != USER_DEFINED) {
                return Some(Crs::from_epsg(code as u32));
            }
        } else if model == Some(3) {
            // Geocentric: only an EPSG code can be carried.
            return pcs.or(gcs).filter(|&c| c != USER_DEFINED).map(|c| Crs::from_epsg(c as u32));
        } else if let Some(code) = gcs.filter(|&c| c != USER_DEFINED) {
            return Some(Crs::from_epsg(code as u32));
        }
        // User-defined: GDAL's ESRI PE fallback first, then the keys.
        for k in [key::PCS_CITATION, key::GT_CITATION, key::GEOG_CITATION] {
            if let Some(wkt) = self.ascii(k).and_then(|c| c.strip_prefix("ESRI PE String = ")) {
                return Some(Crs::from_wkt(wkt.trim()));
            }
        }
        let wkt = if projected { self.projected_wkt() } else { self.geographic_wkt() }?;
        Some(Crs::from_wkt(wkt))
    }

    /// A name from a GDAL-style citation `"GCS Name = x|Datum = y|Ellipsoid = z|Primem = p|"`.
    fn citation_part(&self, part: &str) -> Option<String> {
        let c = self.ascii(key::GEOG_CITATION)?;
        for field in c.split('|') {
            if let Some((k, v)) = field.split_once(" = ")
                && k.trim().eq_ignore_ascii_case(part)
            {
                return Some(v.trim().to_string());
            }
        }
        None
    }

    /// WKT1 `GEOGCS[...]` from the geographic keys.
    fn geographic_wkt(&self) -> Option<String> {
        let gcs_code = self.short(key::GEOGRAPHIC_TYPE);
        let known = gcs_code.and_then(gcs_info);
        // Angular unit.
        let (ang_name, ang_size, ang_code) = match self.short(key::GEOG_ANGULAR_UNITS) {
            Some(9101) => ("radian".to_string(), 1.0, Some(9101)),
            Some(9105) => ("grad".to_string(), std::f64::consts::PI / 200.0, Some(9105)),
            Some(USER_DEFINED) => (
                "unknown".to_string(),
                self.double(key::GEOG_ANGULAR_UNIT_SIZE).unwrap_or(DEGREE),
                None,
            ),
            _ => ("degree".to_string(), DEGREE, Some(9122)),
        };
        // Datum and ellipsoid.
        let datum_code = known.map(|g| g.1).or(self.short(key::GEOG_GEODETIC_DATUM));
        let dinfo = datum_code.and_then(datum_info);
        let ell_code = dinfo.map(|d| d.1).or(self.short(key::GEOG_ELLIPSOID));
        let ell = match ell_code.and_then(ellipsoid_info) {
            Some((name, a, rf)) => (name.to_string(), a, rf, ell_code),
            None => {
                let a = self.double(key::GEOG_SEMI_MAJOR_AXIS)?;
                let rf = match (
                    self.double(key::GEOG_INV_FLATTENING),
                    self.double(key::GEOG_SEMI_MINOR_AXIS),
                ) {
                    (Some(rf), _) => rf,
                    (None, Some(b)) if (a - b).abs() > 1e-9 => a / (a - b),
                    (None, _) => 0.0,
                };
                let name = self.citation_part("Ellipsoid").unwrap_or_else(|| "unknown".into());
                (name, a, rf, None)
            }
        };
        let datum_name = match dinfo {
            Some((n, _)) => n.to_string(),
            None => self
                .citation_part("Datum")
                .map(|d| d.replace(' ', "_"))
                .unwrap_or_else(|| "unknown".into()),
        };
        // Prime meridian.
        let (pm_name, pm_lon, pm_code) = match self.short(key::GEOG_PRIME_MERIDIAN) {
            None | Some(8901) => ("Greenwich".to_string(), 0.0, Some(8901)),
            Some(8903) => ("Paris".to_string(), 2.33722917, Some(8903)),
            Some(_) => (
                self.citation_part("Primem").unwrap_or_else(|| "unknown".into()),
                self.double(key::GEOG_PRIME_MERIDIAN_LONG).unwrap_or(0.0) * ang_size / DEGREE,
                None,
            ),
        };
        let gcs_name = match known {
            Some(g) => g.0.to_string(),
            None => self
                .citation_part("GCS Name")
                .or_else(|| {
                    self.ascii(key::GEOG_CITATION).filter(|c| !c.contains('=')).map(String::from)
                })
                .unwrap_or_else(|| "unknown".into()),
        };
        let auth = |code: Option<u16>| match code {
            Some(c) if c != USER_DEFINED => format!(",AUTHORITY[\"EPSG\",\"{c}\"]"),
            _ => String::new(),
        };
        let ang_value = if ang_code == Some(9122) { format!("{DEGREE}") } else { num(ang_size) };
        Some(format!(
            "GEOGCS[\"{}\",DATUM[\"{}\",SPHEROID[\"{}\",{},{}{}]{}],PRIMEM[\"{}\",{}{}],UNIT[\"{}\",{}{}]{}]",
            esc(&gcs_name),
            esc(&datum_name),
            esc(&ell.0),
            num(ell.1),
            num(ell.2),
            auth(ell.3),
            auth(datum_code.filter(|_| dinfo.is_some())),
            esc(&pm_name),
            num(pm_lon),
            auth(pm_code),
            ang_name,
            ang_value,
            auth(ang_code),
            auth(gcs_code.filter(|_| known.is_some())),
        ))
    }

    /// WKT1 `PROJCS[...]` from the projection keys.
    fn projected_wkt(&self) -> Option<String> {
        let geogcs = self.geographic_wkt()?;
        let (method, params) = self.projection()?;
        let (unit, unit_size, unit_code) = match self.short(key::PROJ_LINEAR_UNITS) {
            None | Some(9001) => ("metre", 1.0, Some(9001u16)),
            Some(9002) => ("foot", 0.3048, Some(9002)),
            Some(9003) => ("US survey foot", 0.304_800_609_601_219_2, Some(9003)),
            Some(9005) => ("Clarke's foot", 0.304_797_265_4, Some(9005)),
            Some(9036) => ("kilometre", 1000.0, Some(9036)),
            Some(_) => ("unknown", self.double(key::PROJ_LINEAR_UNIT_SIZE).unwrap_or(1.0), None),
        };
        let name = self
            .ascii(key::PCS_CITATION)
            .or(self.ascii(key::GT_CITATION))
            .filter(|s| !s.is_empty())
            .unwrap_or("unnamed");
        let mut s = format!("PROJCS[\"{}\",{geogcs},PROJECTION[\"{method}\"]", esc(name));
        for (p, v) in params {
            s.push_str(&format!(",PARAMETER[\"{p}\",{}]", num(v)));
        }
        let auth = unit_code.map(|c| format!(",AUTHORITY[\"EPSG\",\"{c}\"]")).unwrap_or_default();
        s.push_str(&format!(",UNIT[\"{unit}\",{}{auth}]]", num(unit_size)));
        Some(s)
    }

    /// The first of `ids` that is present.
    fn first(&self, ids: &[u16]) -> Option<f64> {
        ids.iter().find_map(|&k| self.double(k))
    }

    /// WKT1 projection name and parameters (angles in degrees, lengths in the linear unit).
    fn projection(&self) -> Option<(&'static str, Vec<(&'static str, f64)>)> {
        use key::*;
        // UTM conversions given by EPSG code (GDAL writes these for UTM on a custom datum).
        if let Some(p) = self.short(PROJECTION).filter(|&p| p != USER_DEFINED) {
            let (zone, south) = match p {
                16001..=16060 => (p - 16000, false),
                16101..=16160 => (p - 16100, true),
                _ => return None,
            };
            let cm = -183.0 + 6.0 * zone as f64;
            return Some((
                "Transverse_Mercator",
                vec![
                    ("latitude_of_origin", 0.0),
                    ("central_meridian", cm),
                    ("scale_factor", 0.9996),
                    ("false_easting", 500000.0),
                    ("false_northing", if south { 10_000_000.0 } else { 0.0 }),
                ],
            ));
        }
        let ang = self.angle_scale();
        let a = |ids: &[u16]| self.first(ids).unwrap_or(0.0) * ang;
        let l = |ids: &[u16]| self.first(ids).unwrap_or(0.0);
        let nat_lat = || a(&[PROJ_NAT_ORIGIN_LAT, PROJ_FALSE_ORIGIN_LAT, PROJ_CENTER_LAT]);
        let nat_lon = || a(&[PROJ_NAT_ORIGIN_LONG, PROJ_FALSE_ORIGIN_LONG, PROJ_CENTER_LONG]);
        let ctr_lat = || a(&[PROJ_CENTER_LAT, PROJ_NAT_ORIGIN_LAT, PROJ_FALSE_ORIGIN_LAT]);
        let ctr_lon = || a(&[PROJ_CENTER_LONG, PROJ_NAT_ORIGIN_LONG, PROJ_FALSE_ORIGIN_LONG]);
        let fo_lat = || a(&[PROJ_FALSE_ORIGIN_LAT, PROJ_NAT_ORIGIN_LAT, PROJ_CENTER_LAT]);
        let fo_lon = || a(&[PROJ_FALSE_ORIGIN_LONG, PROJ_NAT_ORIGIN_LONG, PROJ_CENTER_LONG]);
        let fe = || l(&[PROJ_FALSE_EASTING, PROJ_CENTER_EASTING, PROJ_FALSE_ORIGIN_EASTING]);
        let fnn = || l(&[PROJ_FALSE_NORTHING, PROJ_CENTER_NORTHING, PROJ_FALSE_ORIGIN_NORTHING]);
        let fo_e = || l(&[PROJ_FALSE_ORIGIN_EASTING, PROJ_FALSE_EASTING, PROJ_CENTER_EASTING]);
        let fo_n = || l(&[PROJ_FALSE_ORIGIN_NORTHING, PROJ_FALSE_NORTHING, PROJ_CENTER_NORTHING]);
        let k0 = || self.first(&[PROJ_SCALE_AT_NAT_ORIGIN, PROJ_SCALE_AT_CENTER]).unwrap_or(1.0);
        let kc = || self.first(&[PROJ_SCALE_AT_CENTER, PROJ_SCALE_AT_NAT_ORIGIN]).unwrap_or(1.0);
        let sp1 = || a(&[PROJ_STD_PARALLEL1]);
        let sp2 = || a(&[PROJ_STD_PARALLEL2]);
        let ct = self.short(PROJ_COORD_TRANS)?;
        let tm = |name| {
            Some((
                name,
                vec![
                    ("latitude_of_origin", nat_lat()),
                    ("central_meridian", nat_lon()),
                    ("scale_factor", k0()),
                    ("false_easting", fe()),
                    ("false_northing", fnn()),
                ],
            ))
        };
        let center2 = |name, lat_name, lon_name| {
            Some((
                name,
                vec![
                    (lat_name, ctr_lat()),
                    (lon_name, ctr_lon()),
                    ("false_easting", fe()),
                    ("false_northing", fnn()),
                ],
            ))
        };
        match ct {
            1 => tm("Transverse_Mercator"),
            27 => tm("Transverse_Mercator_South_Orientated"),
            16 => tm("Oblique_Stereographic"),
            9 => tm("Lambert_Conformal_Conic_1SP"),
            3 | 9815 => {
                let az = a(&[PROJ_AZIMUTH_ANGLE]);
                let rect = self.double(PROJ_RECTIFIED_GRID_ANGLE).map(|v| v * ang).unwrap_or(az);
                Some((
                    if ct == 3 {
                        "Hotine_Oblique_Mercator"
                    } else {
                        "Hotine_Oblique_Mercator_Azimuth_Center"
                    },
                    vec![
                        ("latitude_of_center", ctr_lat()),
                        ("longitude_of_center", ctr_lon()),
                        ("azimuth", az),
                        ("rectified_grid_angle", rect),
                        ("scale_factor", kc()),
                        ("false_easting", fe()),
                        ("false_northing", fnn()),
                    ],
                ))
            }
            7 => {
                if self.double(PROJ_STD_PARALLEL1).is_some() {
                    Some((
                        "Mercator_2SP",
                        vec![
                            ("standard_parallel_1", sp1()),
                            ("central_meridian", nat_lon()),
                            ("false_easting", fe()),
                            ("false_northing", fnn()),
                        ],
                    ))
                } else {
                    tm("Mercator_1SP")
                }
            }
            8 => Some((
                "Lambert_Conformal_Conic_2SP",
                vec![
                    ("standard_parallel_1", sp1()),
                    ("standard_parallel_2", sp2()),
                    ("latitude_of_origin", fo_lat()),
                    ("central_meridian", fo_lon()),
                    ("false_easting", fo_e()),
                    ("false_northing", fo_n()),
                ],
            )),
            10 => {
                center2("Lambert_Azimuthal_Equal_Area", "latitude_of_center", "longitude_of_center")
            }
            11 => Some((
                "Albers_Conic_Equal_Area",
                vec![
                    ("standard_parallel_1", sp1()),
                    ("standard_parallel_2", sp2()),
                    ("latitude_of_center", nat_lat()),
                    ("longitude_of_center", nat_lon()),
                    ("false_easting", fe()),
                    ("false_northing", fnn()),
                ],
            )),
            12 => center2("Azimuthal_Equidistant", "latitude_of_center", "longitude_of_center"),
            13 => Some((
                "Equidistant_Conic",
                vec![
                    ("standard_parallel_1", sp1()),
                    ("standard_parallel_2", sp2()),
                    ("latitude_of_center", nat_lat()),
                    ("longitude_of_center", nat_lon()),
                    ("false_easting", fe()),
                    ("false_northing", fnn()),
                ],
            )),
            14 => Some((
                "Stereographic",
                vec![
                    ("latitude_of_origin", ctr_lat()),
                    ("central_meridian", ctr_lon()),
                    ("scale_factor", k0()),
                    ("false_easting", fe()),
                    ("false_northing", fnn()),
                ],
            )),
            15 => {
                let lon = a(&[
                    PROJ_STRAIGHT_VERT_POLE_LONG,
                    PROJ_NAT_ORIGIN_LONG,
                    PROJ_FALSE_ORIGIN_LONG,
                    PROJ_CENTER_LONG,
                ]);
                Some((
                    "Polar_Stereographic",
                    vec![
                        ("latitude_of_origin", nat_lat()),
                        ("central_meridian", lon),
                        ("scale_factor", k0()),
                        ("false_easting", fe()),
                        ("false_northing", fnn()),
                    ],
                ))
            }
            17 => Some((
                "Equirectangular",
                vec![
                    ("latitude_of_origin", ctr_lat()),
                    ("central_meridian", ctr_lon()),
                    ("standard_parallel_1", sp1()),
                    ("false_easting", fe()),
                    ("false_northing", fnn()),
                ],
            )),
            18 => Some((
                "Cassini_Soldner",
                vec![
                    ("latitude_of_origin", nat_lat()),
                    ("central_meridian", nat_lon()),
                    ("false_easting", fe()),
                    ("false_northing", fnn()),
                ],
            )),
            19 => center2("Gnomonic", "latitude_of_origin", "central_meridian"),
            20 => center2("Miller_Cylindrical", "latitude_of_center", "longitude_of_center"),
            21 => center2("Orthographic", "latitude_of_origin", "central_meridian"),
            22 => Some((
                "Polyconic",
                vec![
                    ("latitude_of_origin", nat_lat()),
                    ("central_meridian", nat_lon()),
                    ("false_easting", fe()),
                    ("false_northing", fnn()),
                ],
            )),
            23 | 24 => Some((
                if ct == 23 { "Robinson" } else { "Sinusoidal" },
                vec![
                    ("longitude_of_center", ctr_lon()),
                    ("false_easting", fe()),
                    ("false_northing", fnn()),
                ],
            )),
            25 => Some((
                "VanDerGrinten",
                vec![
                    ("central_meridian", nat_lon()),
                    ("false_easting", fe()),
                    ("false_northing", fnn()),
                ],
            )),
            26 => Some((
                "New_Zealand_Map_Grid",
                vec![
                    ("latitude_of_origin", nat_lat()),
                    ("central_meridian", nat_lon()),
                    ("false_easting", fe()),
                    ("false_northing", fnn()),
                ],
            )),
            28 => Some((
                "Cylindrical_Equal_Area",
                vec![
                    ("standard_parallel_1", sp1()),
                    ("central_meridian", nat_lon()),
                    ("false_easting", fe()),
                    ("false_northing", fnn()),
                ],
            )),
            _ => None,
        }
    }

    /// Factor from the file's angular unit to degrees.
    fn angle_scale(&self) -> f64 {
        match self.short(key::GEOG_ANGULAR_UNITS) {
            Some(9101) => 180.0 / std::f64::consts::PI,
            Some(9105) => 0.9,
            Some(USER_DEFINED) => {
                self.double(key::GEOG_ANGULAR_UNIT_SIZE).map(|r| r / DEGREE).unwrap_or(1.0)
            }
            _ => 1.0,
        }
    }
}

/// One degree in radians, as GDAL writes it in WKT1.
const DEGREE: f64 = 0.017_453_292_519_943_3;

/// A number in WKT: shortest round-trip form.
fn num(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e15 { format!("{}", v as i64) } else { format!("{v}") }
}

/// Escape a name for a WKT quoted string.
fn esc(s: &str) -> String {
    s.replace('"', "\"\"")
}

/// Common geographic CRSs: EPSG code → (name, datum code).
fn gcs_info(code: u16) -> Option<(&'static str, u16)> {
    Some(match code {
        4326 => ("WGS 84", 6326),
        4322 => ("WGS 72", 6322),
        4269 => ("NAD83", 6269),
        4267 => ("NAD27", 6267),
        4258 => ("ETRS89", 6258),
        4230 => ("ED50", 6230),
        4231 => ("ED87", 6231),
        4277 => ("OSGB 1936", 6277),
        4283 => ("GDA94", 6283),
        4202 => ("AGD66", 6202),
        4203 => ("AGD84", 6203),
        4171 => ("RGF93", 6171),
        4275 => ("NTF", 6275),
        4674 => ("SIRGAS 2000", 6674),
        4170 => ("SIRGAS 1995", 6170),
        4190 => ("POSGAR 98", 6190),
        4618 => ("SAD69", 6618),
        4225 => ("Corrego Alegre 1970-72", 6225),
        4284 => ("Pulkovo 1942", 6284),
        4178 => ("Pulkovo 1942(83)", 6178),
        4179 => ("Pulkovo 1942(58)", 6179),
        4314 => ("DHDN", 6314),
        4612 => ("JGD2000", 6612),
        4301 => ("Tokyo", 6301),
        4167 => ("NZGD2000", 6167),
        4272 => ("NZGD49", 6272),
        4148 => ("Hartebeesthoek94", 6148),
        4149 => ("CH1903", 6149),
        4150 => ("CH1903+", 6150),
        4619 => ("SWEREF99", 6619),
        4617 => ("NAD83(CSRS)", 6140),
        4152 => ("NAD83(HARN)", 6152),
        4759 => ("NAD83(NSRS2007)", 6759),
        4214 => ("Beijing 1954", 6214),
        4265 => ("Monte Mario", 6265),
        4236 => ("Hu Tzu Shan 1950", 6236),
        4229 => ("Egypt 1907", 6229),
        4001..=4047 => {
            let d = code + 2000;
            let (_, _) = datum_info(d)?;
            (UNKNOWN_GCS_NAMES.iter().find(|(c, _)| *c == code)?.1, d)
        }
        _ => return None,
    })
}

/// GCS names "Unknown datum based upon the X ellipsoid" (EPSG 4001–4047).
const UNKNOWN_GCS_NAMES: &[(u16, &str)] = &[
    (4001, "Unknown datum based upon the Airy 1830 ellipsoid"),
    (4004, "Unknown datum based upon the Bessel 1841 ellipsoid"),
    (4008, "Unknown datum based upon the Clarke 1866 ellipsoid"),
    (4011, "Unknown datum based upon the Clarke 1880 (IGN) ellipsoid"),
    (4012, "Unknown datum based upon the Clarke 1880 (RGS) ellipsoid"),
    (4019, "Unknown datum based upon the GRS 1980 ellipsoid"),
    (4022, "Unknown datum based upon the International 1924 ellipsoid"),
    (4024, "Unknown datum based upon the Krassowsky 1940 ellipsoid"),
    (4030, "Unknown datum based upon the WGS 84 ellipsoid"),
    (4035, "Unknown datum based upon the Authalic Sphere"),
    (4043, "Unknown datum based upon the WGS 72 ellipsoid"),
    (4047, "Unspecified datum based upon the GRS 1980 Authalic Sphere"),
];

/// Common geodetic datums: EPSG code → (WKT1 name, ellipsoid code).
fn datum_info(code: u16) -> Option<(&'static str, u16)> {
    Some(match code {
        6326 => ("WGS_1984", 7030),
        6322 => ("WGS_1972", 7043),
        6269 => ("North_American_Datum_1983", 7019),
        6267 => ("North_American_Datum_1927", 7008),
        6258 => ("European_Terrestrial_Reference_System_1989", 7019),
        6230 => ("European_Datum_1950", 7022),
        6231 => ("European_Datum_1987", 7022),
        6277 => ("OSGB_1936", 7001),
        6283 => ("Geocentric_Datum_of_Australia_1994", 7019),
        6202 => ("Australian_Geodetic_Datum_1966", 7003),
        6203 => ("Australian_Geodetic_Datum_1984", 7003),
        6171 => ("Reseau_Geodesique_Francais_1993", 7019),
        6275 => ("Nouvelle_Triangulation_Francaise", 7011),
        6674 => ("Sistema_de_Referencia_Geocentrico_para_las_AmericaS_2000", 7019),
        6170 => ("Sistema_de_Referencia_Geocentrico_para_America_del_Sur_1995", 7019),
        6190 => ("Posiciones_Geodesicas_Argentinas_1998", 7019),
        6618 => ("South_American_Datum_1969", 7050),
        6225 => ("Corrego_Alegre_1970_72", 7022),
        6284 => ("Pulkovo_1942", 7024),
        6178 => ("Pulkovo_1942_83", 7024),
        6179 => ("Pulkovo_1942_58", 7024),
        6314 => ("Deutsches_Hauptdreiecksnetz", 7004),
        6612 => ("Japanese_Geodetic_Datum_2000", 7019),
        6301 => ("Tokyo", 7004),
        6167 => ("New_Zealand_Geodetic_Datum_2000", 7019),
        6272 => ("New_Zealand_Geodetic_Datum_1949", 7022),
        6148 => ("Hartebeesthoek94", 7030),
        6149 => ("CH1903", 7004),
        6150 => ("CH1903+", 7004),
        6619 => ("SWEREF99", 7019),
        6140 => ("NAD83_Canadian_Spatial_Reference_System", 7019),
        6152 => ("NAD83_High_Accuracy_Reference_Network", 7019),
        6759 => ("NAD83_National_Spatial_Reference_System_2007", 7019),
        6214 => ("Beijing_1954", 7024),
        6265 => ("Monte_Mario", 7022),
        6236 => ("Hu_Tzu_Shan_1950", 7022),
        6229 => ("Egypt_1907", 7020),
        6001 => ("Not_specified_based_on_Airy_1830_ellipsoid", 7001),
        6004 => ("Not_specified_based_on_Bessel_1841_ellipsoid", 7004),
        6008 => ("Not_specified_based_on_Clarke_1866_ellipsoid", 7008),
        6011 => ("Not_specified_based_on_Clarke_1880_IGN_ellipsoid", 7011),
        6012 => ("Not_specified_based_on_Clarke_1880_RGS_ellipsoid", 7012),
        6019 => ("Not_specified_based_on_GRS_1980_ellipsoid", 7019),
        6022 => ("Not_specified_based_on_International_1924_ellipsoid", 7022),
        6024 => ("Not_specified_based_on_Krassowsky_1940_ellipsoid", 7024),
        6030 => ("Not_specified_based_on_WGS_84_ellipsoid", 7030),
        6035 => ("Not_specified_based_on_Authalic_Sphere", 7035),
        6043 => ("Not_specified_based_on_WGS_72_ellipsoid", 7043),
        6047 => ("Not_specified_based_on_GRS_1980_Authalic_Sphere", 7048),
        _ => return None,
    })
}

/// Common ellipsoids: EPSG code → (name, semi-major axis in metres, inverse flattening; 0 for
/// a sphere).
fn ellipsoid_info(code: u16) -> Option<(&'static str, f64, f64)> {
    Some(match code {
        7001 => ("Airy 1830", 6377563.396, 299.3249646),
        7002 => ("Airy Modified 1849", 6377340.189, 299.3249646),
        7003 => ("Australian National Spheroid", 6378160.0, 298.25),
        7004 => ("Bessel 1841", 6377397.155, 299.1528128),
        7005 => ("Bessel Modified", 6377492.018, 299.1528128),
        7008 => ("Clarke 1866", 6378206.4, 294.978698213898),
        7011 => ("Clarke 1880 (IGN)", 6378249.2, 293.466021293627),
        7012 => ("Clarke 1880 (RGS)", 6378249.145, 293.465),
        7015 => ("Everest 1830 (1937 Adjustment)", 6377276.345, 300.8017),
        7018 => ("Everest 1830 Modified", 6377304.063, 300.8017),
        7019 => ("GRS 1980", 6378137.0, 298.257222101),
        7020 => ("Helmert 1906", 6378200.0, 298.3),
        7021 => ("Indonesian National Spheroid", 6378160.0, 298.247),
        7022 => ("International 1924", 6378388.0, 297.0),
        7024 => ("Krassowsky 1940", 6378245.0, 298.3),
        7030 => ("WGS 84", 6378137.0, 298.257223563),
        7035 => ("Sphere", 6371000.0, 0.0),
        7036 => ("GRS 1967", 6378160.0, 298.247167427),
        7043 => ("WGS 72", 6378135.0, 298.26),
        7048 => ("GRS 1980 Authalic Sphere", 6371007.0, 0.0),
        7050 => ("GRS 1967 Modified", 6378160.0, 298.25),
        7059 => ("Popular Visualisation Sphere", 6378137.0, 0.0),
        _ => return None,
    })
}

/// The pixel-corner geotransform of `ifd`'s model tags, shifted for PixelIsPoint as GDAL does.
pub(crate) fn geotransform(ifd: &Ifd, pixel_is_point: bool) -> Option<GeoTransform> {
    let scale = ifd.floats(tags::MODEL_PIXEL_SCALE);
    let tie = ifd.floats(tags::MODEL_TIEPOINT);
    let mut gt = match (scale, tie) {
        (Some(sc), Some(tp)) if sc.len() >= 2 && tp.len() >= 6 && sc[0] != 0.0 && sc[1] != 0.0 => {
            // GDAL default (GTIFF_HONOUR_NEGATIVE_SCALEY=NO): a negative Y scale still means
            // north-up.
            let e = -sc[1].abs();
            let (i, j, x, y) = (tp[0], tp[1], tp[3], tp[4]);
            [x - i * sc[0], sc[0], 0.0, y - j * e, 0.0, e]
        }
        _ => {
            let m = ifd.floats(tags::MODEL_TRANSFORMATION)?;
            if m.len() < 16 {
                return None;
            }
            [m[3], m[0], m[1], m[7], m[4], m[5]]
        }
    };
    if gt.iter().any(|v| !v.is_finite()) {
        return None;
    }
    if pixel_is_point {
        gt[0] -= (gt[1] + gt[2]) * 0.5;
        gt[3] -= (gt[4] + gt[5]) * 0.5;
    }
    Some(GeoTransform(gt))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(v: &[(u16, KeyValue)]) -> GeoKeys {
        GeoKeys { keys: v.iter().cloned().collect() }
    }

    #[test]
    fn epsg_codes_win() {
        let k = keys(&[
            (key::GT_MODEL_TYPE, KeyValue::Short(1)),
            (key::PROJECTED_CS_TYPE, KeyValue::Short(32618)),
        ]);
        assert_eq!(k.crs(), Some(Crs::from_epsg(32618)));
        let k = keys(&[
            (key::GT_MODEL_TYPE, KeyValue::Short(2)),
            (key::GEOGRAPHIC_TYPE, KeyValue::Short(4326)),
        ]);
        assert_eq!(k.crs(), Some(Crs::from_epsg(4326)));
    }

    #[test]
    fn user_defined_utm_builds_wkt() {
        let k = keys(&[
            (key::GT_MODEL_TYPE, KeyValue::Short(1)),
            (key::PROJECTED_CS_TYPE, KeyValue::Short(USER_DEFINED)),
            (key::PROJECTION, KeyValue::Short(16125)),
            (key::GEOGRAPHIC_TYPE, KeyValue::Short(4019)),
            (key::PROJ_LINEAR_UNITS, KeyValue::Short(9001)),
        ]);
        let wkt = k.crs().unwrap().wkt.unwrap();
        assert!(
            wkt.starts_with("PROJCS[\"unnamed\",GEOGCS[\"Unknown datum based upon the GRS 1980"),
            "{wkt}"
        );
        assert!(wkt.contains("PARAMETER[\"central_meridian\",-33]"), "{wkt}");
        assert!(wkt.contains("PARAMETER[\"false_northing\",10000000]"), "{wkt}");
    }

    #[test]
    fn esri_pe_string_is_taken_verbatim() {
        let k = keys(&[
            (key::GT_MODEL_TYPE, KeyValue::Short(1)),
            (key::PROJECTED_CS_TYPE, KeyValue::Short(USER_DEFINED)),
            (key::PCS_CITATION, KeyValue::Ascii("ESRI PE String = PROJCS[\"x\"]".into())),
        ]);
        assert_eq!(k.crs().unwrap().wkt.as_deref(), Some("PROJCS[\"x\"]"));
    }
}
