//! A raster archive as training data: a list of rasters (paths, globs or manifest files), from
//! which chips are cut at random windows, nodata-aware, with band selection and scaling to
//! [0, 1].
//!
//! * [`expand_sources`] turns `data.paths` into files: literal paths, globs (`*`, `?` within a
//!   name, `**` for any depth) and manifests (`.txt`, `.lst`, `.list`: one path or glob per line,
//!   `#` comments, relative to the manifest's folder); every pattern must match something;
//! * [`Archive::open`] opens every raster once (readers are shared by the worker threads),
//!   checks the band selection and prepares the per-band scaling;
//! * [`Archive::sample_chip`] draws a raster (weighted by area) and a window from the caller's
//!   RNG, reads it, and **rejects** it when more than `max_nodata_fraction` of its pixels are
//!   invalid (a band's nodata value, NaN, or the dataset's validity mask); the invalid pixels of
//!   an accepted chip take the fill value (the normalisation mean, i.e. 0 after normalisation).

use std::path::{Path, PathBuf};

use geodino_core::{DataType, NoData, SharedReader, Window};
use ndarray::Array3;
use rand::Rng;

use crate::config::{DataConfig, Scaling};
use crate::error::{Error, Result};
use crate::seed::{Stream, rng};

const MANIFEST_EXTENSIONS: &[&str] = &["txt", "lst", "list"];

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Shell-style match of one name against one pattern component (`*`, `?`; `[` is literal).
fn match_component(pat: &[char], name: &[char]) -> bool {
    match (pat.first(), name.first()) {
        (None, None) => true,
        (Some('*'), _) => {
            match_component(&pat[1..], name)
                || (!name.is_empty() && match_component(pat, &name[1..]))
        }
        (Some('?'), Some(_)) => match_component(&pat[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => match_component(&pat[1..], &name[1..]),
        _ => false,
    }
}

fn walk(dir: &Path, comps: &[&str], out: &mut Vec<PathBuf>) {
    let Some((first, rest)) = comps.split_first() else {
        out.push(dir.to_path_buf());
        return;
    };
    if *first == "**" {
        walk(dir, rest, out);
        if let Ok(rd) = std::fs::read_dir(dir) {
            let mut subdirs: Vec<PathBuf> =
                rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
            subdirs.sort();
            for d in subdirs {
                walk(&d, comps, out);
            }
        }
        return;
    }
    if !has_wildcard(first) {
        let p = dir.join(first);
        if p.exists() {
            walk(&p, rest, out);
        }
        return;
    }
    let pat: Vec<char> = first.chars().collect();
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let mut names: Vec<String> =
        rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    for n in names {
        if n.starts_with('.') && !first.starts_with('.') {
            continue;
        }
        let chars: Vec<char> = n.chars().collect();
        if match_component(&pat, &chars) {
            let p = dir.join(&n);
            if rest.is_empty() || p.is_dir() {
                walk(&p, rest, out);
            }
        }
    }
}

/// Expand one glob pattern (sorted matches; a pattern without wildcards is returned as is).
pub fn glob(pattern: &str) -> Vec<PathBuf> {
    if !has_wildcard(pattern) {
        return vec![PathBuf::from(pattern)];
    }
    let absolute = pattern.starts_with('/');
    let comps: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    let split = comps.iter().position(|c| has_wildcard(c)).unwrap_or(comps.len());
    let mut base = if absolute { PathBuf::from("/") } else { PathBuf::from(".") };
    for c in &comps[..split] {
        base.push(c);
    }
    let mut out = Vec::new();
    walk(&base, &comps[split..], &mut out);
    let out: Vec<PathBuf> = out
        .into_iter()
        .map(
            |p| if absolute { p } else { p.strip_prefix("./").map(Path::to_path_buf).unwrap_or(p) },
        )
        .collect();
    out
}

fn is_manifest(p: &Path) -> bool {
    p.is_file()
        && p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| MANIFEST_EXTENSIONS.iter().any(|m| m.eq_ignore_ascii_case(e)))
}

/// Expand `data.paths` (paths, globs, manifests) into a sorted, de-duplicated file list.
///
/// # Errors
/// An empty list, a pattern or manifest line that matches nothing, an unreadable manifest.
pub fn expand_sources(patterns: &[String]) -> Result<Vec<PathBuf>> {
    if patterns.is_empty() {
        return Err(Error::Data(
            "no training rasters: give --data GLOB|MANIFEST (or data.paths in the config)".into(),
        ));
    }
    let mut out = Vec::new();
    for p in patterns {
        let matches = glob(p);
        if matches.is_empty() || (matches.len() == 1 && !matches[0].exists()) {
            return Err(Error::Data(format!("{p}: no such file (or the glob matches nothing)")));
        }
        for m in matches {
            if is_manifest(&m) {
                let text = std::fs::read_to_string(&m)
                    .map_err(|e| Error::Io { path: m.clone(), source: e })?;
                let dir = m.parent().unwrap_or(Path::new("")).to_path_buf();
                for (i, line) in text.lines().enumerate() {
                    let line = line.trim();
                    if line.is_empty() || line.starts_with('#') {
                        continue;
                    }
                    let full = if Path::new(line).is_absolute() {
                        line.to_string()
                    } else {
                        dir.join(line).to_string_lossy().into_owned()
                    };
                    let found = glob(&full);
                    if found.is_empty() || (found.len() == 1 && !found[0].exists()) {
                        return Err(Error::Data(format!(
                            "{}:{}: {line}: no such file (or the glob matches nothing)",
                            m.display(),
                            i + 1
                        )));
                    }
                    out.extend(found);
                }
            } else {
                out.push(m);
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// One raster of the archive.
#[derive(Clone)]
pub struct Source {
    /// The file.
    pub path: PathBuf,
    reader: SharedReader,
    /// 0-based bands read.
    pub bands: Vec<usize>,
    /// Per band: `x ↦ x·a + b` to [0, 1].
    pub affine: Vec<(f64, f64)>,
    nodata: Vec<Option<NoData>>,
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("path", &self.path)
            .field("bands", &self.bands)
            .field("width", &self.width)
            .field("height", &self.height)
            .finish()
    }
}

/// A chip cut from the archive, scaled to [0, 1].
#[derive(Debug, Clone)]
pub struct Chip {
    /// `(c, h, w)` values in [0, 1], invalid pixels set to the fill value.
    pub data: Array3<f32>,
    /// Index of the source raster.
    pub source: usize,
    /// The window read.
    pub window: Window,
    /// Fraction of invalid pixels in the chip.
    pub nodata_fraction: f64,
    /// Windows rejected before this one.
    pub rejected: usize,
}

/// The opened archive.
#[derive(Debug, Clone)]
pub struct Archive {
    sources: Vec<Source>,
    cumulative: Vec<f64>,
    chip_size: usize,
    max_nodata_fraction: f64,
    max_attempts: usize,
    fill: Vec<f32>,
}

fn dtype_factor(dtype: DataType, path: &Path) -> Result<f64> {
    Ok(match dtype {
        DataType::Uint8 => 1.0 / 255.0,
        DataType::Int8 => 1.0 / 127.0,
        DataType::Uint16 => 1.0 / 65535.0,
        DataType::Int16 => 1.0 / 32767.0,
        DataType::Float32 | DataType::Float64 => 1.0,
        DataType::Uint32 | DataType::Int32 => {
            return Err(Error::Data(format!(
                "{}: data.scaling = \"dtype\" is ambiguous for {dtype:?}; set data.scaling \
                 (e.g. {{ divide = 10000.0 }} or {{ percentile = [2.0, 98.0] }})",
                path.display()
            )));
        }
    })
}

fn is_valid(v: f32, nd: Option<NoData>) -> bool {
    !v.is_nan() && nd.is_none_or(|n| !n.matches(v as f64))
}

impl Source {
    /// The raw window, its validity (per pixel) and the invalid fraction.
    fn read(&self, window: Window) -> Result<(Array3<f32>, Vec<bool>)> {
        let data = self.reader.read_window(&self.bands, window)?.to_f32();
        let (c, h, w) = data.dim();
        let mut valid = vec![true; h * w];
        for b in 0..c {
            let nd = self.nodata[b];
            let plane = data.index_axis(ndarray::Axis(0), b);
            for (v, ok) in plane.iter().zip(valid.iter_mut()) {
                if !is_valid(*v, nd) {
                    *ok = false;
                }
            }
        }
        if let Some(mask) = self.reader.read_mask(window)? {
            for (m, ok) in mask.iter().zip(valid.iter_mut()) {
                if *m == 0 {
                    *ok = false;
                }
            }
        }
        Ok((data, valid))
    }
}

fn percentile_of(sorted: &[f32], q: f64) -> f64 {
    let n = sorted.len();
    let pos = q / 100.0 * (n - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil().min((n - 1) as f64) as usize;
    let t = pos - lo as f64;
    sorted[lo] as f64 * (1.0 - t) + sorted[hi] as f64 * t
}

impl Archive {
    /// Open every raster of `cfg.paths` for `in_chans`-band chips; `fill` is the per-band value
    /// (in [0, 1] units) given to invalid pixels of accepted chips; `seed` seeds the samples of
    /// percentile scaling.
    ///
    /// # Errors
    /// No rasters, unreadable rasters, too few bands, ambiguous scaling, rasters without valid
    /// pixels (percentile scaling); every message names the file.
    pub fn open(cfg: &DataConfig, in_chans: usize, fill: &[f32], seed: u64) -> Result<Archive> {
        let paths = expand_sources(&cfg.paths)?;
        let bands: Vec<usize> = match &cfg.bands {
            Some(b) => b.iter().map(|&x| x - 1).collect(),
            None => (0..in_chans).collect(),
        };
        if bands.len() != in_chans || fill.len() != in_chans {
            return Err(Error::Config(format!(
                "data.bands selects {} bands, the model takes {in_chans}",
                bands.len()
            )));
        }
        let mut sources = Vec::with_capacity(paths.len());
        for (fi, path) in paths.iter().enumerate() {
            let reader = geodino_raster::open(path)?;
            let meta = reader.meta().clone();
            if let Some(&b) = bands.iter().find(|&&b| b >= meta.band_count()) {
                return Err(Error::Data(format!(
                    "{}: band {} selected (data.bands) but the raster has {} band(s)",
                    path.display(),
                    b + 1,
                    meta.band_count()
                )));
            }
            if meta.width == 0 || meta.height == 0 {
                return Err(Error::Data(format!("{}: empty raster", path.display())));
            }
            let nodata: Vec<Option<NoData>> = bands.iter().map(|&b| meta.nodata(b)).collect();
            let mut src = Source {
                path: path.clone(),
                reader,
                bands: bands.clone(),
                affine: Vec::new(),
                nodata,
                width: meta.width,
                height: meta.height,
            };
            src.affine = match &cfg.scaling {
                Scaling::Dtype => vec![(dtype_factor(meta.dtype, path)?, 0.0); in_chans],
                Scaling::Divide(x) => vec![(1.0 / x, 0.0); in_chans],
                Scaling::Range { min, max } => (0..in_chans)
                    .map(|b| {
                        let lo = if min.len() == 1 { min[0] } else { min[b.min(min.len() - 1)] };
                        let hi = if max.len() == 1 { max[0] } else { max[b.min(max.len() - 1)] };
                        (1.0 / (hi - lo), -lo / (hi - lo))
                    })
                    .collect(),
                Scaling::Percentile(lo, hi) => Self::percentile_affine(&src, *lo, *hi, seed, fi)?,
            };
            sources.push(src);
        }
        let mut cumulative = Vec::with_capacity(sources.len());
        let mut acc = 0.0;
        for s in &sources {
            acc += (s.width * s.height) as f64;
            cumulative.push(acc);
        }
        Ok(Archive {
            sources,
            cumulative,
            chip_size: cfg.chip_size,
            max_nodata_fraction: cfg.max_nodata_fraction,
            max_attempts: cfg.max_attempts,
            fill: fill.to_vec(),
        })
    }

    fn percentile_affine(
        src: &Source,
        lo: f64,
        hi: f64,
        seed: u64,
        index: usize,
    ) -> Result<Vec<(f64, f64)>> {
        let mut r = rng(seed, 0, Stream::Stats, index as u64);
        let side = 256usize;
        let (cw, ch) = (side.min(src.width), side.min(src.height));
        let mut values: Vec<Vec<f32>> = vec![Vec::new(); src.bands.len()];
        for _ in 0..16 {
            let x = r.random_range(0..=src.width - cw) as i64;
            let y = r.random_range(0..=src.height - ch) as i64;
            let (data, valid) =
                src.read(Window { col_off: x, row_off: y, width: cw, height: ch })?;
            for (b, vals) in values.iter_mut().enumerate() {
                let plane = data.index_axis(ndarray::Axis(0), b);
                vals.extend(plane.iter().zip(&valid).filter(|(_, ok)| **ok).map(|(v, _)| *v));
            }
        }
        values
            .into_iter()
            .enumerate()
            .map(|(b, mut v)| {
                if v.is_empty() {
                    return Err(Error::Data(format!(
                        "{}: no valid pixel in band {} of 16 sampled windows (percentile scaling)",
                        src.path.display(),
                        src.bands[b] + 1
                    )));
                }
                v.sort_by(f32::total_cmp);
                let (p_lo, p_hi) = (percentile_of(&v, lo), percentile_of(&v, hi));
                let span = if p_hi > p_lo { p_hi - p_lo } else { 1.0 };
                Ok((1.0 / span, -p_lo / span))
            })
            .collect()
    }

    /// The rasters.
    pub fn sources(&self) -> &[Source] {
        &self.sources
    }

    /// Number of rasters.
    pub fn len(&self) -> usize {
        self.sources.len()
    }

    /// True when the archive has no raster (never after a successful [`Archive::open`]).
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// Total pixels (per band) of the archive.
    pub fn total_pixels(&self) -> f64 {
        self.cumulative.last().copied().unwrap_or(0.0)
    }

    fn pick_source<R: Rng + ?Sized>(&self, rng: &mut R) -> usize {
        let t = rng.random::<f64>() * self.total_pixels();
        self.cumulative.partition_point(|&c| c <= t).min(self.sources.len() - 1)
    }

    /// Scale a raw chip in place to [0, 1] and set invalid pixels to the fill value.
    fn finish(&self, src: &Source, data: &mut Array3<f32>, valid: &[bool]) {
        for (b, mut plane) in data.outer_iter_mut().enumerate() {
            let (a, c) = src.affine[b];
            let fill = self.fill[b];
            for (v, ok) in plane.iter_mut().zip(valid) {
                *v = if *ok { ((*v as f64) * a + c).clamp(0.0, 1.0) as f32 } else { fill };
            }
        }
    }

    /// Cut one chip: a raster drawn with probability proportional to its area, a uniformly
    /// drawn `chip_size` window inside it (capped by the raster size), rejected and redrawn
    /// while more than `max_nodata_fraction` of its pixels are invalid.
    ///
    /// # Errors
    /// Read errors (naming the file), or no acceptable window in `max_attempts` draws.
    pub fn sample_chip<R: Rng + ?Sized>(&self, rng: &mut R) -> Result<Chip> {
        let mut worst = 1.0f64;
        for attempt in 0..self.max_attempts {
            let si = self.pick_source(rng);
            let src = &self.sources[si];
            let (cw, ch) = (self.chip_size.min(src.width), self.chip_size.min(src.height));
            let x = rng.random_range(0..=src.width - cw) as i64;
            let y = rng.random_range(0..=src.height - ch) as i64;
            let window = Window { col_off: x, row_off: y, width: cw, height: ch };
            let (mut data, valid) = src.read(window)?;
            let invalid = valid.iter().filter(|v| !**v).count() as f64 / valid.len() as f64;
            worst = worst.min(invalid);
            if invalid <= self.max_nodata_fraction {
                self.finish(src, &mut data, &valid);
                return Ok(Chip {
                    data,
                    source: si,
                    window,
                    nodata_fraction: invalid,
                    rejected: attempt,
                });
            }
        }
        let names: Vec<String> =
            self.sources.iter().take(5).map(|s| s.path.display().to_string()).collect();
        Err(Error::Data(format!(
            "no {0}x{0} chip with at most {1:.0}% nodata in {2} random windows (best: {3:.0}%) of {4}{5}; \
             lower data.chip_size or raise data.max_nodata_fraction",
            self.chip_size,
            self.max_nodata_fraction * 100.0,
            self.max_attempts,
            worst * 100.0,
            names.join(", "),
            if self.sources.len() > 5 { ", …" } else { "" }
        )))
    }

    /// Read a window of raster `source` scaled to [0, 1] as the training chips are (invalid
    /// pixels filled), with its validity.
    ///
    /// # Errors
    /// Read errors naming the file.
    pub fn read_scaled(&self, source: usize, window: Window) -> Result<(Array3<f32>, Vec<bool>)> {
        let src = &self.sources[source];
        let (mut data, valid) = src.read(window)?;
        self.finish(src, &mut data, &valid);
        Ok((data, valid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, n: &str) -> bool {
        match_component(&p.chars().collect::<Vec<_>>(), &n.chars().collect::<Vec<_>>())
    }

    #[test]
    fn wildcards_match_like_a_shell() {
        assert!(m("*.tif", "a.tif"));
        assert!(m("*.tif", ".tif"));
        assert!(!m("*.tif", "a.tiff"));
        assert!(m("scene_??.tif", "scene_01.tif"));
        assert!(!m("scene_??.tif", "scene_1.tif"));
        assert!(m("*_*", "a_b_c"));
    }

    #[test]
    fn percentiles_interpolate() {
        let v = [0.0f32, 10.0, 20.0, 30.0, 40.0];
        assert_eq!(percentile_of(&v, 0.0), 0.0);
        assert_eq!(percentile_of(&v, 100.0), 40.0);
        assert_eq!(percentile_of(&v, 50.0), 20.0);
        assert!((percentile_of(&v, 10.0) - 4.0).abs() < 1e-9);
    }
}
