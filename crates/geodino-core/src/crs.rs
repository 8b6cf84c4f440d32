//! Coordinate reference systems.

use serde::{Deserialize, Serialize};

/// A coordinate reference system: an EPSG code where one is known, and/or a WKT description
/// (user-defined CRSs carry only WKT). geodino does no projection maths; it carries the CRS from
/// input to output unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Crs {
    /// EPSG code, e.g. `32618` for WGS 84 / UTM zone 18N.
    pub epsg: Option<u32>,
    /// WKT (WKT1 or WKT2) text.
    pub wkt: Option<String>,
}

impl Crs {
    /// A CRS known by EPSG code only.
    pub fn from_epsg(code: u32) -> Self {
        Crs { epsg: Some(code), wkt: None }
    }

    /// A CRS known by WKT only.
    pub fn from_wkt(wkt: impl Into<String>) -> Self {
        Crs { epsg: None, wkt: Some(wkt.into()) }
    }

    /// Parse `"EPSG:32633"` (any case), `"epsg:4326"`, a bare number, or WKT text.
    pub fn parse(s: &str) -> Option<Self> {
        let t = s.trim();
        if t.is_empty() {
            return None;
        }
        let upper = t.to_ascii_uppercase();
        let code = upper.strip_prefix("EPSG:").unwrap_or(&upper);
        if let Ok(c) = code.parse::<u32>() {
            return Some(Crs::from_epsg(c));
        }
        if upper.starts_with("URN:OGC:DEF:CRS:EPSG:") {
            let c = upper.rsplit(':').next()?.parse().ok()?;
            return Some(Crs::from_epsg(c));
        }
        if t.contains('[') {
            return Some(Crs { epsg: epsg_from_wkt(t), wkt: Some(t.to_string()) });
        }
        None
    }

    /// `"EPSG:<code>"` when the code is known.
    pub fn epsg_string(&self) -> Option<String> {
        self.epsg.map(|c| format!("EPSG:{c}"))
    }

    /// True when neither an EPSG code nor WKT is known.
    pub fn is_empty(&self) -> bool {
        self.epsg.is_none() && self.wkt.is_none()
    }

    /// True when both CRSs name the same EPSG code, or (without codes) have identical WKT.
    pub fn same_as(&self, other: &Crs) -> bool {
        match (self.epsg, other.epsg) {
            (Some(a), Some(b)) => a == b,
            _ => self.wkt.is_some() && self.wkt == other.wkt,
        }
    }
}

/// The EPSG code of the outermost object of a WKT string: the last top-level `AUTHORITY["EPSG",
/// "n"]` (WKT1) or `ID["EPSG",n]` (WKT2) before the final closing bracket.
pub(crate) fn epsg_from_wkt(wkt: &str) -> Option<u32> {
    // The outermost authority is the last one at nesting depth 1.
    let bytes = wkt.as_bytes();
    let mut depth = 0i32;
    let mut found = None;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'[' | b'(' => depth += 1,
            b']' | b')' => depth -= 1,
            b'"' => {
                // skip quoted strings
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += 1;
                }
            }
            _ if depth == 1 => {
                let rest = &wkt[i..];
                for kw in ["AUTHORITY[", "ID["] {
                    let Some(inner) = rest.strip_prefix(kw) else { continue };
                    let Some(end) = inner.find(']') else { continue };
                    let parts: Vec<&str> = inner[..end].split(',').collect();
                    if parts.len() >= 2 && parts[0].trim().trim_matches('"') == "EPSG" {
                        found = parts[1].trim().trim_matches('"').parse().ok();
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_codes_and_wkt_authority() {
        assert_eq!(Crs::parse("EPSG:32618").unwrap().epsg, Some(32618));
        assert_eq!(Crs::parse("epsg:4326").unwrap().epsg, Some(4326));
        assert_eq!(Crs::parse("3857").unwrap().epsg, Some(3857));
        assert_eq!(Crs::parse("urn:ogc:def:crs:EPSG::26911").unwrap().epsg, Some(26911));
        let wkt = r#"PROJCS["WGS 84 / UTM zone 18N",GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433],AUTHORITY["EPSG","4326"]],PROJECTION["Transverse_Mercator"],UNIT["metre",1],AUTHORITY["EPSG","32618"]]"#;
        let crs = Crs::parse(wkt).unwrap();
        assert_eq!(crs.epsg, Some(32618));
        let user = r#"PROJCS["unnamed",GEOGCS["GRS 1980(IUGG, 1980)",DATUM["unknown",SPHEROID["GRS80",6378137,298.257222101]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],UNIT["metre",1]]"#;
        assert_eq!(Crs::parse(user).unwrap().epsg, None);
        assert!(Crs::parse("").is_none());
    }

    #[test]
    fn same_as_compares_codes_then_wkt() {
        assert!(Crs::from_epsg(1).same_as(&Crs::from_epsg(1)));
        assert!(!Crs::from_epsg(1).same_as(&Crs::from_epsg(2)));
        assert!(Crs::from_wkt("X[]").same_as(&Crs::from_wkt("X[]")));
        assert!(!Crs::default().same_as(&Crs::default()));
    }
}
