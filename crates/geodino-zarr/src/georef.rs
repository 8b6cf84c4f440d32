//! Georeferencing conventions of Zarr stores, read leniently and written all at once.
//!
//! Reading order (the first convention that supplies a CRS, resp. a transform, wins):
//! 1. **GeoZarr** attributes on the array or any enclosing group: `proj:code` / `proj:epsg` /
//!    `proj:wkt2` / `proj:projjson`, `spatial:transform` (rasterio/Affine order
//!    `[a, b, c, d, e, f]`) with `spatial:registration` (`"pixel"` = corner, `"node"` = centre);
//! 2. **CF** (xarray/rioxarray/odc-geo): the array's `grid_mapping` names a variable whose
//!    attributes hold `crs_wkt` / `spatial_ref` and `GeoTransform` (GDAL order, as text); GDAL's
//!    flattened form `<name>#GeoTransform` / `<name>#spatial_ref` is accepted too;
//! 3. **GDAL**: the `_CRS` attribute `{wkt, projjson, url}`;
//! 4. **coordinate arrays**: 1-D arrays named after the x and y dimensions holding pixel
//!    centres at a regular spacing, as GDAL reads them.

use geodino_core::{Crs, GeoTransform};
use serde_json::{Map, Value, json};

use crate::store::{Node, join, parent_of};

/// The UUIDs the GeoZarr conventions register for `proj:` and `spatial:`.
pub const PROJ_CONVENTION_UUID: &str = "f17cb550-5864-4468-aeb7-f3180cfb622f";
/// See [`PROJ_CONVENTION_UUID`].
pub const SPATIAL_CONVENTION_UUID: &str = "689b58e2-cf7b-45e0-9fff-9cfc0883d6b4";

/// What was found, and where from.
#[derive(Debug, Clone, Default)]
pub(crate) struct Georef {
    pub gt: Option<GeoTransform>,
    pub crs: Option<Crs>,
    pub gt_source: Option<&'static str>,
    pub crs_source: Option<&'static str>,
}

impl Georef {
    fn set_crs(&mut self, crs: Option<Crs>, source: &'static str) {
        if self.crs.is_none()
            && let Some(c) = crs.filter(|c| !c.is_empty())
        {
            self.crs = Some(c);
            self.crs_source = Some(source);
        }
    }
    fn set_gt(&mut self, gt: Option<GeoTransform>, source: &'static str) {
        if self.gt.is_none()
            && let Some(g) = gt
        {
            self.gt = Some(g);
            self.gt_source = Some(source);
        }
    }
}

/// Attribute `key` with any of the lenient prefixes (`proj:` / `geo-proj:` / `proj_` ...).
fn prefixed<'a>(attrs: &'a Map<String, Value>, prefixes: &[&str], key: &str) -> Option<&'a Value> {
    prefixes.iter().find_map(|p| attrs.get(&format!("{p}{key}")))
}

const PROJ: &[&str] = &["proj:", "geo-proj:", "proj_"];
const SPATIAL: &[&str] = &["spatial:", "spatial_", "spatial"];

fn numbers(v: &Value) -> Option<Vec<f64>> {
    match v {
        Value::Array(a) => a.iter().map(Value::as_f64).collect(),
        Value::String(s) => s
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|t| !t.is_empty())
            .map(|t| t.parse().ok())
            .collect(),
        _ => None,
    }
}

fn crs_from_projjson(v: &Value) -> Option<Crs> {
    let v = match v {
        Value::String(s) => serde_json::from_str(s).ok()?,
        other => other.clone(),
    };
    let id = v.get("id")?;
    if id.get("authority")?.as_str()?.eq_ignore_ascii_case("EPSG") {
        let code = id.get("code")?;
        let code = code.as_u64().or_else(|| code.as_str().and_then(|s| s.parse().ok()))?;
        return Some(Crs::from_epsg(code as u32));
    }
    None
}

fn crs_from_value(v: &Value) -> Option<Crs> {
    match v {
        Value::String(s) => Crs::parse(s),
        Value::Number(n) => n.as_u64().map(|c| Crs::from_epsg(c as u32)),
        _ => None,
    }
}

/// GeoZarr `proj:` / `spatial:` from one attribute map.
fn geozarr(attrs: &Map<String, Value>, width: usize, height: usize) -> Georef {
    let mut g = Georef::default();
    let crs = prefixed(attrs, PROJ, "code")
        .and_then(crs_from_value)
        .or_else(|| prefixed(attrs, PROJ, "epsg").and_then(crs_from_value))
        .or_else(|| prefixed(attrs, PROJ, "wkt2").and_then(crs_from_value))
        .or_else(|| prefixed(attrs, PROJ, "projjson").and_then(crs_from_projjson));
    // Keep the WKT beside an EPSG code when both are given.
    let crs = crs.map(|mut c| {
        if c.wkt.is_none()
            && let Some(w) = prefixed(attrs, PROJ, "wkt2").and_then(Value::as_str)
        {
            c.wkt = Some(w.to_string());
        }
        c
    });
    g.set_crs(crs, "GeoZarr proj:");
    if let Some(t) = prefixed(attrs, SPATIAL, "transform").and_then(numbers)
        && t.len() >= 6
    {
        let mut gt = GeoTransform::from_affine([t[0], t[1], t[2], t[3], t[4], t[5]]);
        let node_registered = prefixed(attrs, SPATIAL, "registration")
            .and_then(Value::as_str)
            .is_some_and(|r| r.eq_ignore_ascii_case("node"));
        if node_registered {
            // The transform maps pixel centres: move the origin to the corner.
            let (x0, y0) = gt.apply(-0.5, -0.5);
            gt.0[0] = x0;
            gt.0[3] = y0;
        }
        g.set_gt(Some(gt), "GeoZarr spatial:transform");
    } else if let Some(b) = prefixed(attrs, SPATIAL, "bbox").and_then(numbers)
        && b.len() == 4
        && width > 0
        && height > 0
    {
        // bbox [xmin, ymin, xmax, ymax] of a north-up raster.
        let gt = GeoTransform::north_up(
            b[0],
            (b[2] - b[0]) / width as f64,
            b[3],
            -(b[3] - b[1]) / height as f64,
        );
        g.set_gt(Some(gt), "GeoZarr spatial:bbox");
    }
    g
}

fn cf_from_attrs(attrs: &Map<String, Value>, prefix: &str) -> (Option<Crs>, Option<GeoTransform>) {
    let get = |k: &str| attrs.get(&format!("{prefix}{k}"));
    let crs = get("crs_wkt")
        .and_then(crs_from_value)
        .or_else(|| get("spatial_ref").and_then(crs_from_value))
        .or_else(|| get("epsg_code").and_then(crs_from_value));
    let gt = get("GeoTransform")
        .and_then(numbers)
        .filter(|t| t.len() == 6)
        .map(|t| GeoTransform([t[0], t[1], t[2], t[3], t[4], t[5]]));
    (crs, gt)
}

/// GDAL's `_CRS` attribute.
fn gdal_crs(attrs: &Map<String, Value>) -> Option<Crs> {
    let c = attrs.get("_CRS")?;
    let wkt = c.get("wkt").and_then(Value::as_str).map(str::to_string);
    let mut crs = wkt.as_deref().and_then(Crs::parse).unwrap_or_default();
    if crs.epsg.is_none() {
        crs.epsg =
            c.get("projjson").and_then(crs_from_projjson).and_then(|c| c.epsg).or_else(|| {
                let url = c.get("url")?.as_str()?;
                let tail = url.trim_end_matches('/').rsplit('/').next()?;
                url.contains("/EPSG/").then(|| tail.parse().ok()).flatten()
            });
    }
    (!crs.is_empty()).then_some(crs)
}

/// The transform given by 1-D coordinate arrays of pixel centres, as GDAL computes it; `None`
/// when they are not regularly spaced.
pub(crate) fn transform_from_coords(x: &[f64], y: &[f64]) -> Option<GeoTransform> {
    fn axis(v: &[f64]) -> Option<(f64, f64)> {
        if v.len() < 2 || v.iter().any(|a| !a.is_finite()) {
            return None;
        }
        let n = v.len();
        let d = (v[n - 1] - v[0]) / (n - 1) as f64;
        if d == 0.0 {
            return None;
        }
        let tol = 1e-4 * d.abs();
        let regular = v.iter().enumerate().all(|(i, a)| (a - (v[0] + i as f64 * d)).abs() <= tol);
        regular.then_some((v[0] - d / 2.0, d))
    }
    let (x0, dx) = axis(x)?;
    let (y0, dy) = axis(y)?;
    Some(GeoTransform::north_up(x0, dx, y0, dy))
}

/// Resolve the georeferencing of `array` (one of `nodes`). `x_dim`/`y_dim` are its spatial
/// dimension names, if known; `coords` reads a 1-D array node as `f64`.
pub(crate) fn resolve(
    nodes: &[Node],
    array: &Node,
    y_dim: Option<&str>,
    x_dim: Option<&str>,
    width: usize,
    height: usize,
    coords: &dyn Fn(&Node) -> Option<Vec<f64>>,
) -> Georef {
    let find = |path: &str| nodes.iter().find(|n| n.path == path);
    // The array, then each enclosing group up to the root.
    let mut chain: Vec<&Node> = vec![array];
    let mut p = array.path.clone();
    while p != "/" {
        p = parent_of(&p);
        if let Some(n) = find(&p) {
            chain.push(n);
        }
    }
    let mut g = Georef::default();
    // 1. GeoZarr
    for n in &chain {
        let z = geozarr(&n.attrs, width, height);
        g.set_crs(z.crs, "GeoZarr proj:");
        if let Some(src) = z.gt_source {
            g.set_gt(z.gt, src);
        }
    }
    // 2. CF grid_mapping (and GDAL's flattened netCDF attributes)
    let mut gm_name = array.attrs.get("grid_mapping").and_then(Value::as_str).map(|s| {
        // "spatial_ref" or the extended form "crs: x y"
        s.split([':', ' ']).next().unwrap_or(s).to_string()
    });
    if gm_name.is_none() {
        gm_name = array
            .attrs
            .iter()
            .find(|(k, _)| k.ends_with("#grid_mapping"))
            .and_then(|(_, v)| v.as_str().map(str::to_string));
    }
    if let Some(name) = gm_name {
        for group in chain.iter().skip(1).map(|n| n.path.as_str()).chain([array.parent().as_str()])
        {
            if let Some(var) = find(&join(group, &name)) {
                let (crs, gt) = cf_from_attrs(&var.attrs, "");
                g.set_crs(crs, "CF grid_mapping");
                g.set_gt(gt, "CF GeoTransform");
                break;
            }
        }
        let (crs, gt) = cf_from_attrs(&array.attrs, &format!("{name}#"));
        g.set_crs(crs, "CF grid_mapping");
        g.set_gt(gt, "CF GeoTransform");
    }
    // 3. GDAL _CRS
    for n in &chain {
        g.set_crs(gdal_crs(&n.attrs), "GDAL _CRS");
    }
    // 4. coordinate arrays
    if g.gt.is_none()
        && let (Some(yd), Some(xd)) = (y_dim, x_dim)
    {
        let lookup = |name: &str| -> Option<&Node> {
            chain
                .iter()
                .skip(1)
                .find_map(|grp| find(&join(&grp.path, name)))
                .or_else(|| find(&join(&array.parent(), name)))
        };
        if let (Some(xn), Some(yn)) = (lookup(xd), lookup(yd))
            && xn.shape().len() == 1
            && yn.shape().len() == 1
            && xn.shape()[0] as usize == width
            && yn.shape()[0] as usize == height
            && let (Some(xv), Some(yv)) = (coords(xn), coords(yn))
        {
            g.set_gt(transform_from_coords(&xv, &yv), "coordinate arrays");
        }
    }
    g
}

/// GDAL's `_CRS` attribute for `crs`.
pub(crate) fn gdal_crs_attr(crs: &Crs) -> Value {
    let mut m = Map::new();
    if let Some(w) = &crs.wkt {
        m.insert("wkt".into(), json!(w));
    }
    if let Some(c) = crs.epsg {
        m.insert("url".into(), json!(format!("http://www.opengis.net/def/crs/EPSG/0/{c}")));
    }
    Value::Object(m)
}

/// GeoZarr `proj:` + `spatial:` attributes (with the `zarr_conventions` declaration).
pub(crate) fn geozarr_attrs(
    crs: Option<&Crs>,
    gt: Option<&GeoTransform>,
    width: usize,
    height: usize,
) -> Map<String, Value> {
    let mut m = Map::new();
    let mut conventions = Vec::new();
    if let Some(c) = crs {
        conventions.push(json!({"uuid": PROJ_CONVENTION_UUID, "name": "proj:"}));
        if let Some(code) = c.epsg_string() {
            m.insert("proj:code".into(), json!(code));
        }
        if let Some(w) = &c.wkt {
            m.insert("proj:wkt2".into(), json!(w));
        }
    }
    if let Some(g) = gt {
        conventions.push(json!({"uuid": SPATIAL_CONVENTION_UUID, "name": "spatial:"}));
        m.insert("spatial:dimensions".into(), json!(["y", "x"]));
        m.insert("spatial:transform".into(), json!(g.to_affine()));
        m.insert("spatial:shape".into(), json!([height, width]));
        m.insert("spatial:registration".into(), json!("pixel"));
        let (x0, y0, x1, y1) = g.bounds(width, height);
        m.insert("spatial:bbox".into(), json!([x0, y0, x1, y1]));
    }
    if !conventions.is_empty() {
        m.insert("zarr_conventions".into(), Value::Array(conventions));
    }
    m
}

/// CF attributes of the `spatial_ref` grid-mapping variable.
pub(crate) fn cf_grid_mapping_attrs(
    crs: Option<&Crs>,
    gt: Option<&GeoTransform>,
) -> Map<String, Value> {
    let mut m = Map::new();
    if let Some(c) = crs {
        if let Some(w) = &c.wkt {
            m.insert("crs_wkt".into(), json!(w));
            m.insert("spatial_ref".into(), json!(w));
        } else if let Some(code) = c.epsg_string() {
            // No WKT known (geodino does no projection maths): rioxarray/pyproj accept the code.
            m.insert("spatial_ref".into(), json!(code));
        }
        if let Some(code) = c.epsg {
            m.insert("epsg_code".into(), json!(format!("EPSG:{code}")));
        }
    }
    if let Some(g) = gt {
        let t: Vec<String> = g.0.iter().map(|v| format!("{v:?}")).collect();
        m.insert("GeoTransform".into(), json!(t.join(" ")));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_give_corner_transform() {
        let x: Vec<f64> = (0..72).map(|i| -177.5 + 5.0 * i as f64).collect();
        let y: Vec<f64> = (0..36).map(|i| -87.5 + 5.0 * i as f64).collect();
        let gt = transform_from_coords(&x, &y).unwrap();
        assert_eq!(gt.0, [-180.0, 5.0, 0.0, -90.0, 0.0, 5.0]);
        let mut bad = x.clone();
        bad[3] += 1.0;
        assert!(transform_from_coords(&bad, &y).is_none());
    }

    #[test]
    fn geozarr_is_read_leniently_and_round_trips() {
        let crs = Crs { epsg: Some(32633), wkt: None };
        let gt = GeoTransform::north_up(300000.0, 10.0, 4100040.0, -10.0);
        let attrs = geozarr_attrs(Some(&crs), Some(&gt), 100, 50);
        let g = geozarr(&attrs, 100, 50);
        assert_eq!(g.crs.unwrap().epsg, Some(32633));
        assert_eq!(g.gt.unwrap(), gt);
        // "spatial" without colon, node registration, projjson
        let attrs: Map<String, Value> = serde_json::from_value(json!({
            "spatialtransform": [10, 0, 300005, 0, -10, 4100035],
            "spatial:registration": "node",
            "proj:projjson": {"id": {"authority": "EPSG", "code": 32633}}
        }))
        .unwrap();
        let g = geozarr(&attrs, 100, 50);
        assert_eq!(g.gt.unwrap(), gt);
        assert_eq!(g.crs.unwrap().epsg, Some(32633));
    }

    #[test]
    fn cf_and_gdal_attributes() {
        let a: Map<String, Value> = serde_json::from_value(json!({
            "GeoTransform": "440720 60 0 3751320 0 -60 ",
            "spatial_ref": "EPSG:26711"
        }))
        .unwrap();
        let (crs, gt) = cf_from_attrs(&a, "");
        assert_eq!(crs.unwrap().epsg, Some(26711));
        assert_eq!(gt.unwrap().0, [440720.0, 60.0, 0.0, 3751320.0, 0.0, -60.0]);
        let written = cf_grid_mapping_attrs(Some(&Crs::from_epsg(4326)), gt.as_ref());
        let (crs2, gt2) = cf_from_attrs(&written, "");
        assert_eq!((crs2.unwrap().epsg, gt2), (Some(4326), gt));
        let g: Map<String, Value> = serde_json::from_value(
            json!({"_CRS": {"url": "http://www.opengis.net/def/crs/EPSG/0/3857"}}),
        )
        .unwrap();
        assert_eq!(gdal_crs(&g).unwrap().epsg, Some(3857));
        let attr = gdal_crs_attr(&Crs::from_epsg(3857));
        let g2: Map<String, Value> = serde_json::from_value(json!({ "_CRS": attr })).unwrap();
        assert_eq!(gdal_crs(&g2).unwrap().epsg, Some(3857));
    }
}
