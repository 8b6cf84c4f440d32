//! Georeferencing tags: ModelPixelScale + ModelTiepoint (north-up) or ModelTransformation
//! (rotated, sheared or south-up), and the GeoKey directory for the CRS.
//!
//! * a CRS with an EPSG code gets GeoTIFF 1.1 keys (model type, raster type, the projected or
//!   geodetic CRS code, citations from the WKT names when WKT is known);
//! * a CRS known only by WKT is written as GDAL's ESRI PE fallback: `GTModelTypeGeoKey =
//!   32767` (user-defined) and `PCSCitationGeoKey = "ESRI PE String = <WKT>"`, which GDAL
//!   reads back into the same CRS.

use std::path::Path;

use geodino_core::{Crs, Error, GeoTransform, Result};

use super::epsg_kind::{CrsKind, epsg_kind};
use super::ifd::{Entry, tag};

/// GeoKey ids used here.
mod key {
    pub const GT_MODEL_TYPE: u16 = 1024;
    pub const GT_RASTER_TYPE: u16 = 1025;
    pub const GT_CITATION: u16 = 1026;
    pub const GEODETIC_CRS: u16 = 2048;
    pub const GEOG_CITATION: u16 = 2049;
    pub const PROJECTED_CRS: u16 = 3072;
    pub const PCS_CITATION: u16 = 3073;
}

const USER_DEFINED: u16 = 32767;

/// GDAL reads `PCSCitationGeoKey` into a 2400-byte buffer (`gt_wkt_srs.cpp`), so an ESRI PE
/// citation longer than this many characters after its prefix would reach GDAL truncated.
pub(crate) const MAX_PE_WKT: usize = 2400 - 1 - "ESRI PE String = ".len();

/// WKT without what does not define the CRS: whitespace outside quoted strings and the WKT2
/// `USAGE`, `SCOPE`, `AREA`, `BBOX` and `REMARK` elements.
pub(crate) fn compact_wkt(wkt: &str) -> String {
    const DROP: [&str; 5] = ["USAGE[", "SCOPE[", "AREA[", "BBOX[", "REMARK["];
    let b = wkt.as_bytes();
    let mut out = String::with_capacity(wkt.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'"' {
            // copy the quoted string ("" is an escaped quote inside it)
            let start = i;
            i += 1;
            while i < b.len() {
                if b[i] == b'"' {
                    if i + 1 < b.len() && b[i + 1] == b'"' {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            i = (i + 1).min(b.len());
            out.push_str(&wkt[start..i]);
            continue;
        }
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b',' {
            // a dropped element: skip ", KEYWORD[ ... ]" with its nested brackets and strings
            let mut j = i + 1;
            while j < b.len() && b[j].is_ascii_whitespace() {
                j += 1;
            }
            let rest = &wkt[j..];
            if DROP.iter().any(|k| rest.len() >= k.len() && rest[..k.len()].eq_ignore_ascii_case(k))
            {
                let mut depth = 0i32;
                let mut in_str = false;
                while j < b.len() {
                    match b[j] {
                        b'"' => in_str = !in_str,
                        b'[' | b'(' if !in_str => depth += 1,
                        b']' | b')' if !in_str => {
                            depth -= 1;
                            if depth == 0 {
                                j += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                i = j;
                continue;
            }
        }
        out.push(c as char);
        i += 1;
    }
    out
}

/// The outermost keyword of a WKT string (`PROJCS`, `GEOGCRS`, ...), upper-cased.
fn wkt_root(wkt: &str) -> String {
    wkt.trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect::<String>()
        .to_ascii_uppercase()
}

/// The kind of CRS a WKT string describes, from its root keyword.
fn wkt_kind(wkt: &str) -> Option<CrsKind> {
    Some(match wkt_root(wkt).as_str() {
        "PROJCS" | "PROJCRS" | "PROJECTEDCRS" => CrsKind::Projected,
        "GEOGCS" | "GEOGCRS" | "GEOGRAPHICCRS" => CrsKind::Geographic,
        "GEOCCS" => CrsKind::Geocentric,
        // WKT2 GEODCRS may be geographic or geocentric: a Cartesian CS means geocentric
        "GEODCRS" | "GEODETICCRS" => {
            if wkt.to_ascii_uppercase().contains("CS[CARTESIAN") {
                CrsKind::Geocentric
            } else {
                CrsKind::Geographic
            }
        }
        "COMPD_CS" | "COMPOUNDCRS" | "VERT_CS" | "VERTCRS" | "VERTICALCRS" => CrsKind::Other,
        _ => return None,
    })
}

/// The name of the outermost WKT object (`PROJCS["WGS 84 / UTM zone 33N", ...` → the name).
fn wkt_name(wkt: &str) -> Option<String> {
    let start = wkt.find('[')?;
    let rest = wkt[start + 1..].trim_start().strip_prefix('"')?;
    let end = rest.find('"')?;
    Some(rest[..end].replace('|', " "))
}

/// The name of the first nested geodetic CRS in a projected WKT (`GEOGCS["WGS 84", ...`).
fn wkt_base_name(wkt: &str) -> Option<String> {
    let upper = wkt.to_ascii_uppercase();
    let pos = ["GEOGCS[", "BASEGEOGCRS[", "BASEGEODCRS[", "GEOGCRS["]
        .iter()
        .filter_map(|k| upper[1..].find(k).map(|p| p + 1))
        .min()?;
    wkt_name(&wkt[pos..])
}

/// Builds the GeoKey directory and its parameter tags.
#[derive(Default)]
struct KeyDir {
    keys: Vec<[u16; 4]>,
    ascii: String,
}

impl KeyDir {
    fn short(&mut self, key: u16, v: u16) {
        self.keys.push([key, 0, 1, v]);
    }

    fn ascii(&mut self, key: u16, s: &str) {
        let s = format!("{}|", s.replace('|', " "));
        self.keys.push([key, tag::GEO_ASCII_PARAMS, s.len() as u16, self.ascii.len() as u16]);
        self.ascii.push_str(&s);
    }

    fn into_entries(mut self) -> Vec<Entry> {
        self.keys.sort_by_key(|k| k[0]);
        let mut dir = vec![1, 1, 0, self.keys.len() as u16];
        for k in &self.keys {
            dir.extend_from_slice(k);
        }
        let mut out = vec![Entry::shorts(tag::GEO_KEY_DIRECTORY, &dir)];
        if !self.ascii.is_empty() {
            out.push(Entry::ascii(tag::GEO_ASCII_PARAMS, &self.ascii));
        }
        out
    }
}

/// Georeferencing entries for the main IFD.
///
/// # Errors
/// [`Error::Unsupported`] (naming `path`) for a vertical or compound EPSG CRS without WKT, or a
/// code that does not fit a GeoKey; [`Error::Invalid`] for a non-finite geotransform.
pub(crate) fn georef_entries(
    gt: Option<&GeoTransform>,
    crs: Option<&Crs>,
    pixel_is_point: bool,
    path: &Path,
) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    if let Some(gt) = gt {
        let g = gt.0;
        if g.iter().any(|v| !v.is_finite()) {
            return Err(Error::Invalid(format!(
                "{}: geotransform {g:?} has non-finite coefficients",
                path.display()
            )));
        }
        // PixelIsPoint: the tie point is the centre of the top-left pixel, as GDAL writes it
        let (x0, y0) = if pixel_is_point { gt.apply(0.5, 0.5) } else { (g[0], g[3]) };
        if g[2] == 0.0 && g[4] == 0.0 && g[5] < 0.0 {
            out.push(Entry::doubles(tag::MODEL_PIXEL_SCALE, &[g[1], -g[5], 0.0]));
            out.push(Entry::doubles(tag::MODEL_TIEPOINT, &[0.0, 0.0, 0.0, x0, y0, 0.0]));
        } else {
            out.push(Entry::doubles(
                tag::MODEL_TRANSFORMATION,
                &[g[1], g[2], 0.0, x0, g[4], g[5], 0.0, y0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0],
            ));
        }
    }
    let crs = crs.filter(|c| !c.is_empty());
    if crs.is_none() && !pixel_is_point {
        return Ok(out);
    }
    let mut dir = KeyDir::default();
    dir.short(key::GT_RASTER_TYPE, if pixel_is_point { 2 } else { 1 });
    if let Some(crs) = crs {
        // WKT without an explicit code may still name its EPSG authority
        let epsg =
            crs.epsg.or_else(|| crs.wkt.as_deref().and_then(Crs::parse).and_then(|c| c.epsg));
        let wkt = crs.wkt.as_deref();
        let kind = match (wkt.and_then(wkt_kind), epsg) {
            (Some(k), _) => Some(k),
            (None, Some(code)) => Some(epsg_kind(code)),
            (None, None) => None,
        };
        match (epsg, kind) {
            (Some(code), Some(kind)) if code < USER_DEFINED as u32 && kind != CrsKind::Other => {
                let code = code as u16;
                match kind {
                    CrsKind::Projected => {
                        dir.short(key::GT_MODEL_TYPE, 1);
                        dir.short(key::PROJECTED_CRS, code);
                        if let Some(name) = wkt.and_then(wkt_name) {
                            dir.ascii(key::GT_CITATION, &name);
                        }
                        if let Some(name) = wkt.and_then(wkt_base_name) {
                            dir.ascii(key::GEOG_CITATION, &name);
                        }
                    }
                    CrsKind::Geographic | CrsKind::Geocentric => {
                        dir.short(
                            key::GT_MODEL_TYPE,
                            if kind == CrsKind::Geographic { 2 } else { 3 },
                        );
                        dir.short(key::GEODETIC_CRS, code);
                        if let Some(name) = wkt.and_then(wkt_name) {
                            dir.ascii(key::GEOG_CITATION, &name);
                        }
                    }
                    CrsKind::Other => unreachable!("excluded by the match guard"),
                }
            }
            _ => {
                let Some(wkt) = wkt else {
                    return Err(Error::unsupported(
                        path,
                        format!(
                            "CRS EPSG:{} cannot be written as GeoKeys (vertical, compound or a \
                             code above 32766) and no WKT is known for it",
                            epsg.unwrap_or(0)
                        ),
                    ));
                };
                // GDAL's ESRI PE fallback: user-defined model type and the WKT as citation
                let compact = compact_wkt(wkt);
                if compact.len() > MAX_PE_WKT {
                    return Err(Error::unsupported(
                        path,
                        format!(
                            "the CRS has no EPSG code and its WKT is {} characters long even                              without whitespace and usage notes; GeoTIFF stores such a CRS as                              an ESRI PE citation, which GDAL reads only up to {MAX_PE_WKT}                              characters. Give the CRS an EPSG code or a shorter (WKT1) form",
                            compact.len()
                        ),
                    ));
                }
                dir.short(key::GT_MODEL_TYPE, USER_DEFINED);
                if let Some(name) = wkt_name(&compact) {
                    dir.ascii(key::GT_CITATION, &name);
                }
                dir.ascii(key::PCS_CITATION, &format!("ESRI PE String = {compact}"));
            }
        }
    }
    if dir.ascii.len() > u16::MAX as usize {
        return Err(Error::unsupported(path, "CRS WKT longer than 65 000 characters"));
    }
    out.extend(dir.into_entries());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const UTM33: &str = r#"PROJCS["WGS 84 / UTM zone 33N",GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],UNIT["metre",1],AUTHORITY["EPSG","32633"]]"#;

    fn keys(entries: &[Entry]) -> Vec<[u16; 4]> {
        let e = entries.iter().find(|e| e.tag == tag::GEO_KEY_DIRECTORY).unwrap();
        let v: Vec<u16> =
            e.bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
        v[4..].chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]]).collect()
    }

    #[test]
    fn wkt_names_and_kinds() {
        assert_eq!(wkt_name(UTM33).unwrap(), "WGS 84 / UTM zone 33N");
        assert_eq!(wkt_base_name(UTM33).unwrap(), "WGS 84");
        assert_eq!(wkt_kind(UTM33), Some(CrsKind::Projected));
        assert_eq!(wkt_kind(" GEOGCRS[\"x\",CS[ellipsoidal,2]]"), Some(CrsKind::Geographic));
        assert_eq!(wkt_kind("GEODCRS[\"x\",CS[Cartesian,3]]"), Some(CrsKind::Geocentric));
    }

    #[test]
    fn epsg_codes_become_keys() {
        let p = Path::new("x.tif");
        let e = georef_entries(None, Some(&Crs::from_epsg(32633)), false, p).unwrap();
        assert_eq!(keys(&e), vec![[1024, 0, 1, 1], [1025, 0, 1, 1], [3072, 0, 1, 32633]]);
        let e = georef_entries(None, Some(&Crs::from_epsg(4326)), true, p).unwrap();
        assert_eq!(keys(&e), vec![[1024, 0, 1, 2], [1025, 0, 1, 2], [2048, 0, 1, 4326]]);
        // WKT with an authority but no explicit code: keys plus citations
        let e = georef_entries(None, Some(&Crs::from_wkt(UTM33)), false, p).unwrap();
        let k = keys(&e);
        assert!(k.contains(&[3072, 0, 1, 32633]));
        assert!(k.contains(&[1026, tag::GEO_ASCII_PARAMS, 22, 0]));
        let ascii = e.iter().find(|e| e.tag == tag::GEO_ASCII_PARAMS).unwrap();
        assert_eq!(ascii.bytes, b"WGS 84 / UTM zone 33N|WGS 84|\0");
        assert!(georef_entries(None, Some(&Crs::from_epsg(5773)), false, p).is_err());
    }

    #[test]
    fn user_defined_wkt_uses_the_esri_pe_citation() {
        let wkt = r#"PROJCS["unnamed",GEOGCS["GRS 1980",DATUM["unknown",SPHEROID["GRS80",6378137,298.257222101]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],UNIT["metre",1]]"#;
        let e = georef_entries(None, Some(&Crs::from_wkt(wkt)), false, Path::new("x")).unwrap();
        let k = keys(&e);
        assert!(k.contains(&[1024, 0, 1, 32767]));
        let ascii = e.iter().find(|e| e.tag == tag::GEO_ASCII_PARAMS).unwrap();
        let s = String::from_utf8(ascii.bytes.clone()).unwrap();
        assert!(s.contains(&format!("ESRI PE String = {wkt}|")));
    }

    #[test]
    fn wkt_is_compacted_for_the_pe_citation() {
        let pretty = "PROJCRS[\"my grid\",\n    BASEGEOGCRS[\"x y\", ID[\"EPSG\",4326]],\n    \
                      USAGE[SCOPE[\"a, [b]\"],AREA[\"c\"],BBOX[1,2,3,4]],\n    REMARK[\"r\"]]";
        assert_eq!(
            compact_wkt(pretty),
            "PROJCRS[\"my grid\",BASEGEOGCRS[\"x y\",ID[\"EPSG\",4326]]]"
        );
        let long = format!("PROJCS[\"{}\"]", "n".repeat(MAX_PE_WKT));
        let e = georef_entries(None, Some(&Crs::from_wkt(long)), false, Path::new("o.tif"));
        assert!(e.unwrap_err().to_string().contains("o.tif"));
    }

    #[test]
    fn transforms_pick_scale_or_matrix() {
        let p = Path::new("x");
        let gt = GeoTransform::north_up(300000.0, 10.0, 4100040.0, -10.0);
        let e = georef_entries(Some(&gt), None, false, p).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].tag, tag::MODEL_PIXEL_SCALE);
        let e = georef_entries(Some(&gt), None, true, p).unwrap();
        let tie: Vec<f64> =
            e[1].bytes.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect();
        assert_eq!(tie, vec![0.0, 0.0, 0.0, 300005.0, 4100035.0, 0.0]);
        let rot = GeoTransform([1000.0, 2.0, 0.5, 5000.0, 0.25, -3.0]);
        let e = georef_entries(Some(&rot), None, false, p).unwrap();
        assert_eq!(e[0].tag, tag::MODEL_TRANSFORMATION);
        assert_eq!(e[0].count, 16);
    }
}
