//! Finding the nodes of a Zarr hierarchy on disk (v2 `.zgroup`/`.zarray`/`.zattrs`, v3
//! `zarr.json`), resolving user paths (`store.zarr`, `store.zarr/var`, `store.zarr.zip`,
//! `store.zarr.zip/var`, GDAL's `ZARR:"store.zarr":/var`) and unpacking zipped stores.

use std::path::{Path, PathBuf};

use geodino_core::{Error, Result};
use serde_json::{Map, Value};

/// Whether a node is an array or a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodeKind {
    Array,
    Group,
}

/// One node of a hierarchy, with its metadata read from disk.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// Zarr path, `"/"` for the root, `"/a/b"` below it.
    pub path: String,
    /// Array or group.
    pub kind: NodeKind,
    /// 2 or 3.
    pub format: u8,
    /// The array metadata document (`.zarray` or `zarr.json`); `Null` for groups.
    pub meta: Value,
    /// User attributes (`.zattrs` or `zarr.json` `attributes`).
    pub attrs: Map<String, Value>,
}

impl Node {
    /// The last component of the path (`""` for the root).
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or("")
    }

    /// The path of the parent group (`"/"` for children of the root).
    pub fn parent(&self) -> String {
        parent_of(&self.path)
    }

    /// The array shape.
    pub fn shape(&self) -> Vec<u64> {
        self.meta
            .get("shape")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default()
    }

    /// Dimension names: v3 `dimension_names`, else xarray's `_ARRAY_DIMENSIONS` attribute.
    pub fn dimension_names(&self) -> Option<Vec<String>> {
        let from = |v: &Value| -> Option<Vec<String>> {
            let a = v.as_array()?;
            Some(a.iter().map(|d| d.as_str().unwrap_or("").to_string()).collect())
        };
        if let Some(d) = self.meta.get("dimension_names").and_then(from)
            && d.iter().any(|s| !s.is_empty())
        {
            return Some(d);
        }
        self.attrs.get("_ARRAY_DIMENSIONS").and_then(from)
    }
}

pub(crate) fn parent_of(path: &str) -> String {
    match path.rfind('/') {
        Some(0) | None => "/".to_string(),
        Some(i) => path[..i].to_string(),
    }
}

/// Join a group path and a child name.
pub(crate) fn join(group: &str, name: &str) -> String {
    if group == "/" { format!("/{name}") } else { format!("{group}/{name}") }
}

fn read_json(file: &Path) -> Result<Option<Value>> {
    match std::fs::read(file) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::format(file, format!("invalid Zarr metadata JSON: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(file, e)),
    }
}

fn as_object(file: &Path, v: Value) -> Result<Map<String, Value>> {
    match v {
        Value::Object(m) => Ok(m),
        _ => Err(Error::format(file, "Zarr metadata is not a JSON object")),
    }
}

/// Read the node stored in directory `dir` (Zarr path `path`), if it is one.
pub(crate) fn read_node(dir: &Path, path: &str) -> Result<Option<Node>> {
    let v3 = dir.join("zarr.json");
    if let Some(doc) = read_json(&v3)? {
        let mut doc = as_object(&v3, doc)?;
        if doc.get("zarr_format").and_then(Value::as_u64) != Some(3) {
            return Err(Error::format(&v3, "zarr.json does not say \"zarr_format\": 3"));
        }
        let kind = match doc.get("node_type").and_then(Value::as_str) {
            Some("array") => NodeKind::Array,
            Some("group") => NodeKind::Group,
            other => {
                return Err(Error::format(
                    &v3,
                    format!("zarr.json has node_type {other:?}, expected \"array\" or \"group\""),
                ));
            }
        };
        let attrs = match doc.remove("attributes") {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        if kind == NodeKind::Array {
            check_array_meta(&v3, &doc)?;
        }
        let meta = if kind == NodeKind::Array { Value::Object(doc) } else { Value::Null };
        return Ok(Some(Node { path: path.to_string(), kind, format: 3, meta, attrs }));
    }
    let zattrs = dir.join(".zattrs");
    let attrs = match read_json(&zattrs)? {
        Some(v) => as_object(&zattrs, v)?,
        None => Map::new(),
    };
    let zarray = dir.join(".zarray");
    if let Some(doc) = read_json(&zarray)? {
        let doc = as_object(&zarray, doc)?;
        if doc.get("zarr_format").and_then(Value::as_u64) != Some(2) {
            return Err(Error::format(&zarray, ".zarray does not say \"zarr_format\": 2"));
        }
        check_array_meta(&zarray, &doc)?;
        return Ok(Some(Node {
            path: path.to_string(),
            kind: NodeKind::Array,
            format: 2,
            meta: Value::Object(doc),
            attrs,
        }));
    }
    let zgroup = dir.join(".zgroup");
    if read_json(&zgroup)?.is_some() {
        return Ok(Some(Node {
            path: path.to_string(),
            kind: NodeKind::Group,
            format: 2,
            meta: Value::Null,
            attrs,
        }));
    }
    Ok(None)
}

fn check_array_meta(file: &Path, doc: &Map<String, Value>) -> Result<()> {
    let shape = doc
        .get("shape")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::format(file, "array metadata has no \"shape\" list"))?;
    if shape.iter().any(|d| d.as_u64().is_none()) {
        return Err(Error::format(file, "array \"shape\" must hold non-negative integers"));
    }
    Ok(())
}

/// Every node of the hierarchy rooted at `root` (depth-first, children sorted by name). Array
/// directories are not descended into.
pub(crate) fn scan(root: &Path) -> Result<Vec<Node>> {
    let mut out = Vec::new();
    scan_into(root, "/", &mut out, 0)?;
    Ok(out)
}

fn scan_into(dir: &Path, path: &str, out: &mut Vec<Node>, depth: usize) -> Result<()> {
    let Some(node) = read_node(dir, path)? else { return Ok(()) };
    let is_group = node.kind == NodeKind::Group;
    out.push(node);
    if !is_group || depth > 32 {
        return Ok(());
    }
    let mut children: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
        .filter(|(n, _)| !n.starts_with('.'))
        .collect();
    children.sort();
    for (name, p) in children {
        scan_into(&p, &join(path, &name), out, depth + 1)?;
    }
    Ok(())
}

/// Where a user path points: the store root directory on disk, the selected node path inside it
/// (if the user named one), and the temporary directory holding an unzipped store.
#[derive(Debug)]
pub(crate) struct Location {
    pub root: PathBuf,
    pub selected: Option<String>,
    pub tmp: Option<tempfile::TempDir>,
}

/// True when `dir` holds Zarr metadata.
pub(crate) fn is_node_dir(dir: &Path) -> bool {
    dir.join("zarr.json").is_file()
        || dir.join(".zarray").is_file()
        || dir.join(".zgroup").is_file()
}

/// True when `path` holds a zip archive (by magic bytes).
pub(crate) fn is_zip(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok()
        && magic == *b"PK\x03\x04"
}

/// Resolve a user path. `variable` (a Zarr path inside the store) overrides one in the path.
pub(crate) fn locate(path: &Path, variable: Option<&str>) -> Result<Location> {
    let text = path.to_string_lossy();
    // GDAL's syntax: ZARR:"store":/array
    if let Some(rest) = text.strip_prefix("ZARR:") {
        let (store, var) = parse_gdal_name(rest)
            .ok_or_else(|| Error::Invalid(format!("{text}: expected ZARR:\"<store>\":/<array>")))?;
        let mut loc = locate(Path::new(&store), variable.or(var.as_deref()))?;
        if loc.selected.is_none() {
            loc.selected = var.map(|v| normalise(&v));
        }
        return Ok(loc);
    }
    let variable = variable.map(normalise);
    if path.is_dir() {
        if !is_node_dir(path) {
            return Err(Error::format(
                path,
                "directory holds no Zarr metadata (.zgroup, .zarray or zarr.json)",
            ));
        }
        // Walk up to the outermost enclosing group: the store root.
        let mut root = path.to_path_buf();
        let mut rel: Vec<String> = Vec::new();
        while let Some(parent) = root.parent() {
            if parent.as_os_str().is_empty() || !is_node_dir(parent) {
                break;
            }
            let Some(name) = root.file_name().and_then(|n| n.to_str()) else { break };
            rel.insert(0, name.to_string());
            root = parent.to_path_buf();
        }
        let selected = variable.or_else(|| {
            let node_is_array = read_node(path, "/").ok().flatten().map(|n| n.kind);
            (node_is_array == Some(NodeKind::Array) || !rel.is_empty())
                .then(|| format!("/{}", rel.join("/")))
        });
        return Ok(Location { root, selected, tmp: None });
    }
    if path.is_file() {
        if !is_zip(path) {
            return Err(Error::format(path, "not a Zarr store (neither a directory nor a zip)"));
        }
        let tmp = unzip(path)?;
        let root = zip_root(tmp.path());
        return Ok(Location { root, selected: variable, tmp: Some(tmp) });
    }
    // `store.zarr.zip/inner/array`: the longest existing prefix is a zip.
    let mut prefix = path.to_path_buf();
    let mut inner: Vec<String> = Vec::new();
    while let Some(parent) = prefix.parent().map(Path::to_path_buf) {
        if let Some(name) = prefix.file_name().and_then(|n| n.to_str()) {
            inner.insert(0, name.to_string());
        }
        prefix = parent;
        if prefix.as_os_str().is_empty() {
            break;
        }
        if prefix.is_file() && is_zip(&prefix) {
            let tmp = unzip(&prefix)?;
            let root = zip_root(tmp.path());
            let selected = variable.or_else(|| Some(format!("/{}", inner.join("/"))));
            return Ok(Location { root, selected, tmp: Some(tmp) });
        }
        if prefix.exists() {
            break;
        }
    }
    Err(Error::io(
        path,
        std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"),
    ))
}

fn normalise(v: &str) -> String {
    let t = v.trim().trim_matches('/');
    format!("/{t}")
}

/// `"store":/array` → (store, Some(array)).
fn parse_gdal_name(rest: &str) -> Option<(String, Option<String>)> {
    if let Some(r) = rest.strip_prefix('"') {
        let end = r.find('"')?;
        let store = r[..end].to_string();
        let tail = &r[end + 1..];
        let var = tail.strip_prefix(':').filter(|s| !s.is_empty()).map(str::to_string);
        Some((store, var))
    } else {
        match rest.rsplit_once(":/") {
            Some((s, v)) => Some((s.to_string(), Some(format!("/{v}")))),
            None => Some((rest.to_string(), None)),
        }
    }
}

fn unzip(zip_path: &Path) -> Result<tempfile::TempDir> {
    let file = std::fs::File::open(zip_path).map_err(|e| Error::io(zip_path, e))?;
    let mut archive = zip::ZipArchive::new(file)
        .map_err(|e| Error::format(zip_path, format!("cannot read the zip archive: {e}")))?;
    let tmp = tempfile::Builder::new()
        .prefix("geodino-zarr-zip-")
        .tempdir()
        .map_err(|e| Error::io(std::env::temp_dir(), e))?;
    archive
        .extract(tmp.path())
        .map_err(|e| Error::format(zip_path, format!("cannot unpack the zip archive: {e}")))?;
    Ok(tmp)
}

/// The store root inside an unpacked zip: the top directory itself, or its single child
/// directory when the archive wraps the store in one folder.
fn zip_root(dir: &Path) -> PathBuf {
    if is_node_dir(dir) {
        return dir.to_path_buf();
    }
    let subdirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|it| it.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_dir()).collect())
        .unwrap_or_default();
    match subdirs.as_slice() {
        [one] if is_node_dir(one) => one.clone(),
        _ => dir.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gdal_names_parse() {
        assert_eq!(
            parse_gdal_name("\"a b.zarr\":/Band1"),
            Some(("a b.zarr".to_string(), Some("/Band1".to_string())))
        );
        assert_eq!(parse_gdal_name("\"x.zarr\""), Some(("x.zarr".to_string(), None)));
        assert_eq!(parent_of("/a/b"), "/a");
        assert_eq!(parent_of("/a"), "/");
        assert_eq!(join("/", "x"), "/x");
        assert_eq!(join("/g", "x"), "/g/x");
        assert_eq!(normalise("science/grids/"), "/science/grids");
    }
}
