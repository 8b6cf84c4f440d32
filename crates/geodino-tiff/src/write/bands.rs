//! Band-level metadata: photometric interpretation, extra samples, the colour map, GDAL's
//! `GDAL_NODATA` and `GDAL_METADATA` (band descriptions, scale/offset, colour interpretation
//! that the photometric tag cannot express, dataset items).

use std::path::Path;

use geodino_core::{BandMeta, DataType, Error, NoData, RasterMeta, Result};

use super::ifd::{Entry, tag};

/// Photometric and extra-sample layout of the bands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Photometric {
    /// TIFF `PhotometricInterpretation`: 1 min-is-black, 2 RGB, 3 palette.
    pub value: u16,
    /// `ExtraSamples` values (2 = unassociated alpha, 0 = unspecified) for bands past the
    /// ones the photometric interpretation covers.
    pub extra: Vec<u16>,
    /// The colour interpretation each band gets from the tags alone (lower case).
    pub implied: Vec<&'static str>,
}

fn ci(b: &BandMeta) -> Option<String> {
    b.color_interp.as_deref().map(|s| s.trim().to_ascii_lowercase())
}

/// GDAL's spelling of a colour interpretation, for the names GDAL 3.6 knows.
fn gdal_ci_name(s: &str) -> Option<&'static str> {
    Some(match s {
        "gray" | "grey" | "grayindex" => "Gray",
        "palette" | "paletteindex" => "Palette",
        "red" => "Red",
        "green" => "Green",
        "blue" => "Blue",
        "alpha" => "Alpha",
        "hue" => "Hue",
        "saturation" => "Saturation",
        "lightness" => "Lightness",
        "cyan" => "Cyan",
        "magenta" => "Magenta",
        "yellow" => "Yellow",
        "black" => "Black",
        "undefined" => "Undefined",
        _ => return None,
    })
}

/// Decide the photometric interpretation as GDAL does: palette for one band with a colour
/// table, RGB when the first three bands are red, green, blue, min-is-black otherwise; later
/// bands are extra samples, alpha when so marked.
pub(crate) fn photometric(meta: &RasterMeta) -> Photometric {
    let n = meta.band_count();
    let cis: Vec<Option<String>> = meta.bands.iter().map(ci).collect();
    let palette = n == 1 && meta.bands[0].color_table.is_some();
    let rgb = n >= 3
        && cis[0].as_deref() == Some("red")
        && cis[1].as_deref() == Some("green")
        && cis[2].as_deref() == Some("blue");
    let (value, base): (u16, &[&'static str]) = if palette {
        (3, &["palette"])
    } else if rgb {
        (2, &["red", "green", "blue"])
    } else {
        (1, &["gray"])
    };
    let mut implied: Vec<&'static str> = base.to_vec();
    let mut extra = Vec::new();
    for c in cis.iter().skip(base.len()) {
        if c.as_deref() == Some("alpha") {
            extra.push(2);
            implied.push("alpha");
        } else {
            extra.push(0);
            implied.push("undefined");
        }
    }
    Photometric { value, extra, implied }
}

/// The one nodata value of all bands (TIFF has a single `GDAL_NODATA` tag), checked against
/// the data type.
///
/// # Errors
/// [`Error::Invalid`] when bands disagree or the value does not fit the data type.
pub(crate) fn common_nodata(meta: &RasterMeta, path: &Path) -> Result<Option<NoData>> {
    let first = meta.nodata(0);
    for (i, b) in meta.bands.iter().enumerate().skip(1) {
        let same = match (first, b.nodata) {
            (None, None) => true,
            (Some(a), Some(b)) => a.matches(b.0) || (a.0 == b.0),
            _ => false,
        };
        if !same {
            return Err(Error::Invalid(format!(
                "{}: GeoTIFF stores one nodata value for all bands, but band 1 has {} and band \
                 {} has {}",
                path.display(),
                first.map_or("none".into(), |n| n.to_gdal_string()),
                i + 1,
                b.nodata.map_or("none".into(), |n| n.to_gdal_string())
            )));
        }
    }
    if let Some(nd) = first {
        let v = nd.0;
        let ok = if meta.dtype.is_float() {
            meta.dtype == DataType::Float64 || !v.is_finite() || v.abs() <= f32::MAX as f64
        } else {
            let (lo, hi) = meta.dtype.range();
            v.is_finite() && v.fract() == 0.0 && v >= lo && v <= hi
        };
        if !ok {
            return Err(Error::Invalid(format!(
                "{}: nodata {} is not a {} value",
                path.display(),
                nd.to_gdal_string(),
                meta.dtype
            )));
        }
    }
    Ok(first)
}

/// The `ColorMap` entry for a palette raster.
///
/// # Errors
/// [`Error::Invalid`] for a colour table on a raster that cannot carry one.
pub(crate) fn color_map(meta: &RasterMeta, path: &Path) -> Result<Option<Entry>> {
    let tables: Vec<usize> =
        (0..meta.band_count()).filter(|&i| meta.bands[i].color_table.is_some()).collect();
    if tables.is_empty() {
        return Ok(None);
    }
    let bits = match meta.dtype {
        DataType::Uint8 => 8,
        DataType::Uint16 => 16,
        _ => 0,
    };
    if meta.band_count() != 1 || bits == 0 {
        return Err(Error::Invalid(format!(
            "{}: a colour table needs a single-band uint8 or uint16 raster (TIFF palette); this \
             one has {} band(s) of {}",
            path.display(),
            meta.band_count(),
            meta.dtype
        )));
    }
    let table = meta.bands[0].color_table.as_ref().expect("checked");
    let n = 1usize << bits;
    if table.len() > n {
        return Err(Error::Invalid(format!(
            "{}: colour table has {} entries, a {} palette holds at most {n}",
            path.display(),
            table.len(),
            meta.dtype
        )));
    }
    let mut v = vec![0u16; 3 * n];
    for (i, c) in table.iter().enumerate() {
        v[i] = c.r as u16 * 257;
        v[n + i] = c.g as u16 * 257;
        v[2 * n + i] = c.b as u16 * 257;
    }
    Ok(Some(Entry::shorts(tag::COLOR_MAP, &v)))
}

/// XML-escape text as GDAL's `CPLEscapeString(..., CPLES_XML)` does.
fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            c => o.push(c),
        }
    }
    o
}

/// Metadata keys that describe the file's structure or are carried by dedicated tags; they
/// are not copied into `GDAL_METADATA` (a reader may have put them in `RasterMeta::metadata`).
const STRUCTURAL_KEYS: [&str; 7] = [
    "AREA_OR_POINT",
    "COMPRESSION",
    "INTERLEAVE",
    "LAYOUT",
    "PREDICTOR",
    "OVERVIEW_RESAMPLING",
    "NBITS",
];

/// Format a float the way it round-trips exactly (Rust's shortest representation).
fn num(v: f64) -> String {
    format!("{v}")
}

/// The `GDAL_METADATA` XML, or `None` when there is nothing to say. Item values are escaped
/// twice, as GDAL writes them (GDAL unescapes twice on reading).
pub(crate) fn gdal_metadata(meta: &RasterMeta, photo: &Photometric) -> Option<String> {
    let mut items: Vec<String> = Vec::new();
    let mut item = |name: &str, sample: Option<usize>, role: Option<&str>, value: &str| {
        let mut s = format!("  <Item name=\"{}\"", xml_escape(name));
        if let Some(i) = sample {
            s.push_str(&format!(" sample=\"{i}\""));
        }
        if let Some(r) = role {
            s.push_str(&format!(" role=\"{r}\""));
        }
        s.push_str(&format!(">{}</Item>\n", xml_escape(&xml_escape(value))));
        items.push(s);
    };
    for (k, v) in &meta.metadata {
        let upper = k.to_ascii_uppercase();
        if STRUCTURAL_KEYS.contains(&upper.as_str()) || upper.starts_with("TIFFTAG_") {
            continue;
        }
        item(k, None, None, v);
    }
    for (i, b) in meta.bands.iter().enumerate() {
        if let Some(o) = b.offset {
            item("OFFSET", Some(i), Some("offset"), &num(o));
        }
        if let Some(s) = b.scale {
            item("SCALE", Some(i), Some("scale"), &num(s));
        }
        if let Some(d) = b.description.as_deref().filter(|d| !d.is_empty()) {
            item("DESCRIPTION", Some(i), Some("description"), d);
        }
        if let Some(name) = ci(b).as_deref().and_then(gdal_ci_name) {
            let implied = photo.implied.get(i).copied().unwrap_or("undefined");
            if gdal_ci_name(implied) != Some(name) {
                item("COLORINTERP", Some(i), Some("colorinterp"), name);
            }
        }
    }
    if items.is_empty() {
        return None;
    }
    Some(format!("<GDALMetadata>\n{}</GDALMetadata>\n", items.concat()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use geodino_core::ColorEntry;

    fn meta(bands: usize, dtype: DataType) -> RasterMeta {
        RasterMeta::new(10, 10, bands, dtype)
    }

    #[test]
    fn photometric_rules_follow_gdal() {
        let mut m = meta(4, DataType::Uint8);
        for (b, c) in m.bands.iter_mut().zip(["red", "green", "blue", "alpha"]) {
            b.color_interp = Some(c.into());
        }
        let p = photometric(&m);
        assert_eq!((p.value, p.extra.clone()), (2, vec![2]));
        m.bands[3].color_interp = None;
        assert_eq!(photometric(&m).extra, vec![0]);
        m.bands[0].color_interp = Some("blue".into());
        let p = photometric(&m);
        assert_eq!((p.value, p.extra.len()), (1, 3));
        let xml = gdal_metadata(&m, &p).unwrap();
        assert!(
            xml.contains(r#"<Item name="COLORINTERP" sample="0" role="colorinterp">Blue</Item>"#)
        );
        assert!(xml.contains(r#"sample="1" role="colorinterp">Green<"#));
        let mut pal = meta(1, DataType::Uint8);
        pal.bands[0].color_table = Some(vec![ColorEntry { r: 255, g: 0, b: 0, a: 255 }]);
        assert_eq!(photometric(&pal).value, 3);
        let cm = color_map(&pal, Path::new("x")).unwrap().unwrap();
        assert_eq!(cm.count, 768);
        assert_eq!(&cm.bytes[0..2], &65535u16.to_le_bytes());
    }

    #[test]
    fn metadata_xml_is_escaped_twice_like_gdal() {
        let mut m = meta(1, DataType::Float32);
        m.bands[0].scale = Some(0.5);
        m.bands[0].offset = Some(1.0);
        m.bands[0].description = Some("height & <m>".into());
        m.metadata.insert("FOO".into(), "bar".into());
        m.metadata.insert("AREA_OR_POINT".into(), "Area".into());
        let xml = gdal_metadata(&m, &photometric(&m)).unwrap();
        assert_eq!(
            xml,
            "<GDALMetadata>\n  <Item name=\"FOO\">bar</Item>\n  <Item name=\"OFFSET\" sample=\"0\" \
             role=\"offset\">1</Item>\n  <Item name=\"SCALE\" sample=\"0\" role=\"scale\">0.5</Item>\
             \n  <Item name=\"DESCRIPTION\" sample=\"0\" role=\"description\">height &amp;amp; \
             &amp;lt;m&amp;gt;</Item>\n</GDALMetadata>\n"
        );
        assert!(
            gdal_metadata(&meta(2, DataType::Uint8), &photometric(&meta(2, DataType::Uint8)))
                .is_none()
        );
    }

    #[test]
    fn nodata_must_agree_and_fit() {
        let p = Path::new("out.tif");
        let mut m = meta(2, DataType::Uint8);
        m.set_nodata(Some(255.0));
        assert_eq!(common_nodata(&m, p).unwrap().unwrap().0, 255.0);
        m.bands[1].nodata = Some(NoData(0.0));
        assert!(common_nodata(&m, p).unwrap_err().to_string().contains("band 2 has 0"));
        m.set_nodata(Some(-9999.0));
        assert!(common_nodata(&m, p).unwrap_err().to_string().contains("not a uint8"));
        let mut f = meta(2, DataType::Float32);
        f.set_nodata(Some(f64::NAN));
        assert!(common_nodata(&f, p).unwrap().unwrap().0.is_nan());
        f.set_nodata(Some(1e300));
        assert!(common_nodata(&f, p).is_err());
    }
}
