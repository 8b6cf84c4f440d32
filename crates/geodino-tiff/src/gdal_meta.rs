//! GDAL's `GDAL_METADATA` TIFF tag (42112): an XML list of metadata items.
//!
//! ```xml
//! <GDALMetadata>
//!   <Item name="SCENE">LC08</Item>                                  <!-- dataset item -->
//!   <Item name="DESCRIPTION" sample="0" role="description">red</Item> <!-- band 1 -->
//!   <Item name="SCALE" sample="0" role="scale">0.01</Item>
//!   <Item name="STATISTICS_MEAN" sample="0">12.5</Item>
//! </GDALMetadata>
//! ```
//!
//! The parser is deliberately small (the format is flat) and never fails: anything it cannot
//! read is skipped.

/// One `<Item>`.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Item {
    pub name: String,
    /// 0-based band, when the item belongs to a band.
    pub sample: Option<usize>,
    /// `description`, `scale`, `offset`, `unittype`, `colorinterp`, ...
    pub role: Option<String>,
    /// Metadata domain; `None` for the default domain.
    pub domain: Option<String>,
    pub value: String,
}

/// Parse the items of a `GDAL_METADATA` document.
pub(crate) fn parse(xml: &str) -> Vec<Item> {
    let mut items = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find("<Item") {
        rest = &rest[start + 5..];
        let Some(gt) = rest.find('>') else { break };
        let attrs = &rest[..gt];
        let self_closing = attrs.ends_with('/');
        rest = &rest[gt + 1..];
        let value = if self_closing {
            String::new()
        } else {
            let Some(end) = rest.find("</Item>") else { break };
            // GDAL escapes values twice (once itself, once when serialising the XML) and
            // unescapes them twice on reading.
            let v = unescape(&unescape(&rest[..end]));
            rest = &rest[end + 7..];
            v
        };
        let mut item = Item { value, ..Item::default() };
        for (k, v) in attributes(attrs) {
            match k {
                "name" => item.name = v,
                "sample" => item.sample = v.trim().parse().ok(),
                "role" => item.role = Some(v),
                "domain" => item.domain = Some(v).filter(|d| !d.is_empty()),
                _ => {}
            }
        }
        if !item.name.is_empty() || item.role.is_some() {
            items.push(item);
        }
    }
    items
}

/// `key="value"` pairs of a start tag (single or double quotes).
fn attributes(s: &str) -> Vec<(&str, String)> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq].trim();
        let after = rest[eq + 1..].trim_start();
        let Some(q) = after.chars().next().filter(|c| *c == '"' || *c == '\'') else { break };
        let body = &after[1..];
        let Some(end) = body.find(q) else { break };
        out.push((key.rsplit(char::is_whitespace).next().unwrap_or(key), unescape(&body[..end])));
        rest = &body[end + 1..];
    }
    out
}

/// Replace the XML entities GDAL writes (`&amp;` `&lt;` `&gt;` `&quot;` `&apos;` `&#N;`
/// `&#xN;`).
fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(semi) = rest.find(';').filter(|&j| j <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let ent = &rest[1..semi];
        let ch = match ent {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => {
                let code = if let Some(h) = ent.strip_prefix("#x").or(ent.strip_prefix("#X")) {
                    u32::from_str_radix(h, 16).ok()
                } else {
                    ent.strip_prefix('#').and_then(|d| d.parse().ok())
                };
                code.and_then(char::from_u32)
            }
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dataset_and_band_items() {
        let xml = r#"<GDALMetadata>
  <Item name="SCENE">a &amp;amp; b &amp;lt;c&amp;gt; &#65;</Item>
  <Item name="DESCRIPTION" sample="0" role="description">red</Item>
  <Item name="SCALE" sample="1" role="scale">0.5</Item>
  <Item name="X" domain="IMAGERY" />
</GDALMetadata>"#;
        let items = parse(xml);
        assert_eq!(items.len(), 4);
        assert_eq!(items[0].value, "a & b <c> A");
        assert_eq!(items[0].sample, None);
        assert_eq!(items[1].sample, Some(0));
        assert_eq!(items[1].role.as_deref(), Some("description"));
        assert_eq!(items[2].value, "0.5");
        assert_eq!(items[3].domain.as_deref(), Some("IMAGERY"));
        // garbage never panics
        for s in [
            "<Item",
            "<Item name=\"x",
            "<Item name='x'>&#xZZ;</Item>",
            "<Item>&",
            "&;<Item name=a>",
        ] {
            let _ = parse(s);
        }
    }
}
