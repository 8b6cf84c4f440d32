//! The ground: land-use parcels (a jittered Voronoi tessellation), the road network, rivers and
//! lakes, terrain, and the material (class, reflectance, vegetation height) of every point.
//!
//! Everything is a pure function of the seed and the position in metres from the scene's
//! top-left corner (`x` east, `y` south). Smooth fields (terrain, water, road warp) are sampled on
//! a global lattice of nodes every [`NODE_PX`] pixels and interpolated, which keeps them cheap and
//! still identical for any window.

use super::classes::Class;
use super::noise::{Rng, fbm, hash2, ifloor, layer_seed, modulo, unit, value_noise, wave};

/// Parcel (field, stand, village block) cell size in metres.
pub(crate) const PARCEL_M: f64 = 110.0;
/// Main road network cell size in metres.
pub(crate) const ROAD_CELL_M: f64 = 420.0;
/// Spacing of the smooth-field lattice, in pixels.
pub(crate) const NODE_PX: i64 = 8;

/// What a parcel is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Forest,
    Crop,
    Meadow,
    Shrubland,
    Bare,
    Settlement,
    Orchard,
}

/// Crop types (colour, texture, height).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Crop {
    YoungCereal,
    RipeWheat,
    Rapeseed,
    Maize,
    Vegetables,
    Stubble,
}

/// One parcel: its Voronoi site and what grows or stands on it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Parcel {
    pub id: u64,
    pub x: f64,
    pub y: f64,
    pub kind: Kind,
    pub crop: Crop,
    /// Orientation of rows, furrows and buildings (radians), its cosine and sine.
    pub angle: f64,
    pub ca: f64,
    pub sa: f64,
    /// Kind-specific parameters, see [`Parcel::new`].
    pub p: [f64; 4],
}

/// Biases of the land-use mix, from [`super::SynthConfig`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Mix {
    pub forest: f64,
    pub settlement: f64,
    pub water: f64,
}

impl Parcel {
    fn new(seed: u64, ci: i64, cj: i64, mix: &Mix) -> Parcel {
        let h = hash2(seed, ci, cj);
        let mut r = Rng::new(h);
        let x = (cj as f64 + 0.1 + 0.8 * r.f()) * PARCEL_M;
        let y = (ci as f64 + 0.1 + 0.8 * r.f()) * PARCEL_M;
        // Land-use zones: low-frequency noise at the site decides the regime.
        let zs = (seed >> 32) as u32;
        let forest = fbm(zs ^ 0x51ed, x / 900.0, y / 900.0, 2) as f64 + mix.forest;
        let urban = fbm(zs ^ 0x0b17, x / 1300.0, y / 1300.0, 2) as f64 + mix.settlement;
        let u = r.f();
        let kind = if urban > 0.42 {
            if u < 0.85 { Kind::Settlement } else { Kind::Meadow }
        } else if forest > 0.12 {
            if u < 0.92 { Kind::Forest } else { Kind::Shrubland }
        } else {
            match u {
                u if u < 0.46 => Kind::Crop,
                u if u < 0.66 => Kind::Meadow,
                u if u < 0.78 => Kind::Bare,
                u if u < 0.85 => Kind::Shrubland,
                u if u < 0.90 => Kind::Orchard,
                u if u < 0.97 => Kind::Forest,
                _ => Kind::Settlement,
            }
        };
        let crop = match (r.f() * 6.0) as u32 {
            0 => Crop::YoungCereal,
            1 => Crop::RipeWheat,
            2 => Crop::Rapeseed,
            3 => Crop::Maize,
            4 => Crop::Vegetables,
            _ => Crop::Stubble,
        };
        // Fields and villages share a dominant grid orientation per zone, with variation.
        let base = fbm(zs ^ 0x0a16, x / 2000.0, y / 2000.0, 1) as f64 * std::f64::consts::PI;
        let angle = base
            + if r.f() < 0.5 { 0.0 } else { std::f64::consts::FRAC_PI_2 }
            + r.range(-0.15, 0.15);
        let p = match kind {
            // mean height (m), conifer fraction, density, tone
            Kind::Forest => [
                r.range(7.0, 32.0),
                [0.0, 0.0, 0.35, 0.75, 1.0][(r.f() * 5.0) as usize],
                r.range(0.7, 0.98),
                r.range(-1.0, 1.0),
            ],
            // row spacing (m), tone, tramline spacing (m), unused
            Kind::Crop => [r.range(1.4, 2.6), r.range(-1.0, 1.0), r.range(18.0, 28.0), 0.0],
            // dryness, scattered-tree probability, mowing stripes (>0.5), stripe width (m)
            Kind::Meadow => [r.f() * r.f(), r.range(0.002, 0.02), r.f(), r.range(4.0, 9.0)],
            // shrub density, tree probability, dryness
            Kind::Shrubland => [r.range(0.2, 0.55), r.range(0.0, 0.04), r.f(), 0.0],
            // soil tone, furrow spacing (m), wetness
            Kind::Bare => [r.range(-1.0, 1.0), r.range(2.5, 5.0), r.f(), 0.0],
            // building density, garden-tree density, yard fraction
            Kind::Settlement => [r.range(0.55, 0.9), r.range(0.08, 0.25), r.range(0.0, 0.12), 0.0],
            // tree height (m), unused
            Kind::Orchard => [r.range(3.0, 6.0), 0.0, 0.0, 0.0],
        };
        Parcel { id: h, x, y, kind, crop, angle, ca: angle.cos(), sa: angle.sin(), p }
    }
}

/// Smooth fields at one lattice node.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Node {
    /// Terrain elevation (m) and its gradient (m/m), `x` east, `y` south.
    pub elev: f32,
    pub gx: f32,
    pub gy: f32,
    /// Lake field (water where above the threshold) and its gradient (per m).
    pub lake: f32,
    pub lgx: f32,
    pub lgy: f32,
    /// River field (water near its zero line) and its gradient (per m), and the river mask.
    pub river: f32,
    pub rgx: f32,
    pub rgy: f32,
    pub rmask: f32,
    /// Road warp (m).
    pub wx: f32,
    pub wy: f32,
}

/// The interpolated smooth fields at a point.
pub(crate) type Fields = Node;

/// Exact distances at a lattice node, from which lower bounds anywhere in a lattice cell follow.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct NodeNear {
    /// Index of the nearest parcel in the parcel cache.
    pub parcel: u32,
    /// Distance to the parcel edge (m).
    pub edge: f32,
    /// Clearance to the nearest road edge (m; ≤ 0 on a road).
    pub road: f32,
    /// Distance to water (m).
    pub water: f32,
}

/// A point's lattice cell: the index of its top-left node and the bilinear weights.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cell {
    k: usize,
    nj: usize,
    w: [f32; 4],
}

/// Lower bounds on the distances at a point, from the four lattice nodes around it, and the
/// parcel when all four agree.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Near {
    pub parcel: Option<u32>,
    pub edge: f64,
    pub road: f64,
    pub water: f64,
}

/// Nodes of the smooth fields over a rectangle of the lattice.
#[derive(Debug)]
pub(crate) struct FieldGrid {
    i0: i64,
    j0: i64,
    ni: i64,
    nj: i64,
    gsd: f64,
    nodes: Vec<Node>,
    near: Vec<NodeNear>,
    /// Lattice-cell diagonal (m): the farthest a point is from the nodes around it.
    diag: f64,
}

/// Parcel sites over a rectangle of parcel cells.
#[derive(Debug)]
pub(crate) struct SiteGrid<T> {
    i0: i64,
    j0: i64,
    ni: i64,
    nj: i64,
    items: Vec<T>,
}

impl<T> SiteGrid<T> {
    #[inline]
    fn index(&self, i: i64, j: i64) -> usize {
        let (a, b) = ((i - self.i0).clamp(0, self.ni - 1), (j - self.j0).clamp(0, self.nj - 1));
        (a * self.nj + b) as usize
    }

    #[inline]
    fn get(&self, i: i64, j: i64) -> &T {
        &self.items[self.index(i, j)]
    }
}

/// A road network site with the road flags of its edges to the 8 neighbouring sites.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RoadSite {
    x: f64,
    y: f64,
    /// Half width (m) of the road towards neighbour `k` (row-major 3 × 3 without the centre),
    /// 0 when there is no road; negative for a gravel track.
    half: [f32; 8],
    /// Neighbour `k`'s position and the inverse distance to it.
    nb: [(f64, f64, f64); 8],
}

/// The nearest parcel, the second nearest, and the distance to their common edge.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ParcelHit<'a> {
    pub parcel: &'a Parcel,
    pub other: &'a Parcel,
    pub edge_m: f64,
}

/// A road under a point.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RoadHit {
    /// Distance from the centre line (m).
    pub centre_m: f64,
    /// Half width (m).
    pub half_m: f64,
    pub paved: bool,
    /// Position along the road (m), for dashed lines.
    pub along_m: f64,
}

/// The ground at a point.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ground {
    pub class: Class,
    /// Reflectance in red, green, blue, near-infrared.
    pub albedo: [f32; 4],
    /// Height of the vegetation (crops) in metres; counted in the canopy height model.
    pub veg_h: f32,
    /// Terrain gradient (m/m).
    pub gx: f32,
    pub gy: f32,
    /// Flat surfaces (water) ignore the terrain normal.
    pub flat: bool,
}

/// Where and what a point is, as far as object placement needs to know.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SiteInfo<'a> {
    pub parcel: ParcelHit<'a>,
    /// Distance to open water (m); 0 inside water.
    pub water_m: f64,
    /// Distance to the nearest road edge (m); 0 on a road.
    pub road_m: f64,
}

/// The seeded landscape, with caches covering one window's working area.
#[derive(Debug)]
pub(crate) struct Landscape {
    seed: u64,
    pub fields: FieldGrid,
    parcels: SiteGrid<Parcel>,
    roads: SiteGrid<RoadSite>,
}

const LAKE_T: f32 = 0.42;
/// Shores (wet soil, reeds) reach this far from water (m).
const SHORE_M: f64 = 3.0;
/// Beyond these lower bounds no rule needs the exact distance (m): parcel edges (streets and
/// tracks reach 3 m from an edge, hedges 1.6 m), water (riparian trees at 9 m), roads (1.5 m).
const EDGE_FAR_M: f64 = 3.1;
const WATER_FAR_M: f64 = 9.5;
const ROAD_FAR_M: f64 = 2.0;
/// The widest street or track along a parcel edge (half width, m).
const PARCEL_ROAD_MAX_HALF: f64 = 2.6;

fn node_fields(seed: u64, gsd: f64, i: i64, j: i64, mix: &Mix) -> (f32, f32, f32, f32, f32, f32) {
    let s = (seed >> 16) as u32;
    let x = (j * NODE_PX) as f64 * gsd;
    let y = (i * NODE_PX) as f64 * gsd;
    let elev = 28.0 * fbm(s ^ 0xe1e7, x / 800.0, y / 800.0, 3)
        + 2.5 * value_noise(s ^ 0x77, x / 90.0, y / 90.0);
    let lake = fbm(s ^ 0x1a4e, x / 420.0, y / 420.0, 3) + mix.water as f32;
    let river = fbm(s ^ 0x7e7e, x / 1400.0, y / 1400.0, 2)
        + 0.12 * value_noise(s ^ 0x3a, x / 160.0, y / 160.0);
    let rmask = fbm(s ^ 0x3a5c, x / 2500.0, y / 2500.0, 1) + 0.15 + mix.water as f32 * 0.5;
    let wx = 22.0 * fbm(s ^ 0x0101, x / 300.0, y / 300.0, 2);
    let wy = 22.0 * fbm(s ^ 0x0202, x / 300.0, y / 300.0, 2);
    (elev, lake, river, rmask, wx, wy)
}

impl FieldGrid {
    /// Nodes covering pixel rows `r0..r1` and columns `c0..c1` (with one node of margin).
    fn new(seed: u64, gsd: f64, mix: &Mix, r0: i64, r1: i64, c0: i64, c1: i64) -> Self {
        let i0 = r0.div_euclid(NODE_PX) - 2;
        let i1 = r1.div_euclid(NODE_PX) + 3;
        let j0 = c0.div_euclid(NODE_PX) - 2;
        let j1 = c1.div_euclid(NODE_PX) + 3;
        let (ni, nj) = (i1 - i0 + 1, j1 - j0 + 1);
        let raw: Vec<_> =
            (0..ni * nj).map(|k| node_fields(seed, gsd, i0 + k / nj, j0 + k % nj, mix)).collect();
        let step = 2.0 * (NODE_PX as f64 * gsd) as f32;
        let mut nodes = vec![Node::default(); (ni * nj) as usize];
        for a in 0..ni {
            for b in 0..nj {
                let k = (a * nj + b) as usize;
                let at = |da: i64, db: i64| {
                    raw[((a + da).clamp(0, ni - 1) * nj + (b + db).clamp(0, nj - 1)) as usize]
                };
                let (e, l, rv, m, wx, wy) = raw[k];
                let (xp, xm, yp, ym) = (at(0, 1), at(0, -1), at(1, 0), at(-1, 0));
                nodes[k] = Node {
                    elev: e,
                    gx: (xp.0 - xm.0) / step,
                    gy: (yp.0 - ym.0) / step,
                    lake: l,
                    lgx: (xp.1 - xm.1) / step,
                    lgy: (yp.1 - ym.1) / step,
                    river: rv,
                    rgx: (xp.2 - xm.2) / step,
                    rgy: (yp.2 - ym.2) / step,
                    rmask: m,
                    wx,
                    wy,
                };
            }
        }
        let n = nodes.len();
        FieldGrid {
            i0,
            j0,
            ni,
            nj,
            gsd,
            nodes,
            near: vec![NodeNear::default(); n],
            diag: NODE_PX as f64 * gsd * std::f64::consts::SQRT_2,
        }
    }

    /// The lattice cell around `(x, y)` (metres) and lower bounds on the distances there.
    #[inline]
    pub fn locate(&self, x: f64, y: f64) -> (Cell, Near) {
        let u = x / (self.gsd * NODE_PX as f64);
        let v = y / (self.gsd * NODE_PX as f64);
        let (uf, vf) = (ifloor(u), ifloor(v));
        let (j, i) = ((uf - self.j0).clamp(0, self.nj - 2), (vf - self.i0).clamp(0, self.ni - 2));
        let (fu, fv) = ((u - uf as f64) as f32, (v - vf as f64) as f32);
        let k = (i * self.nj + j) as usize;
        let nj = self.nj as usize;
        let (na, nb, nc, nd) =
            (&self.near[k], &self.near[k + 1], &self.near[k + nj], &self.near[k + nj + 1]);
        let same = na.parcel == nb.parcel && na.parcel == nc.parcel && na.parcel == nd.parcel;
        let min4 = |p: f32, q: f32, r: f32, s: f32| p.min(q).min(r).min(s) as f64;
        let near = Near {
            parcel: same.then_some(na.parcel),
            edge: min4(na.edge, nb.edge, nc.edge, nd.edge) - self.diag,
            road: min4(na.road, nb.road, nc.road, nd.road) - 2.0 * self.diag,
            water: min4(na.water, nb.water, nc.water, nd.water) - 2.0 * self.diag - 3.0,
        };
        let w = [(1.0 - fu) * (1.0 - fv), fu * (1.0 - fv), (1.0 - fu) * fv, fu * fv];
        (Cell { k, nj, w }, near)
    }

    /// The terrain gradient in a cell.
    #[inline]
    pub fn grad(&self, c: &Cell) -> (f32, f32) {
        let (a, b, d, e) = (
            &self.nodes[c.k],
            &self.nodes[c.k + 1],
            &self.nodes[c.k + c.nj],
            &self.nodes[c.k + c.nj + 1],
        );
        let w = c.w;
        (
            a.gx * w[0] + b.gx * w[1] + d.gx * w[2] + e.gx * w[3],
            a.gy * w[0] + b.gy * w[1] + d.gy * w[2] + e.gy * w[3],
        )
    }

    /// All smooth fields in a cell, interpolated.
    #[inline]
    pub fn fields(&self, c: &Cell) -> Fields {
        let (a, b, d, e) = (
            &self.nodes[c.k],
            &self.nodes[c.k + 1],
            &self.nodes[c.k + c.nj],
            &self.nodes[c.k + c.nj + 1],
        );
        let w = c.w;
        macro_rules! lerp {
            ($f:ident) => {
                a.$f * w[0] + b.$f * w[1] + d.$f * w[2] + e.$f * w[3]
            };
        }
        Node {
            elev: lerp!(elev),
            gx: lerp!(gx),
            gy: lerp!(gy),
            lake: lerp!(lake),
            lgx: lerp!(lgx),
            lgy: lerp!(lgy),
            river: lerp!(river),
            rgx: lerp!(rgx),
            rgy: lerp!(rgy),
            rmask: lerp!(rmask),
            wx: lerp!(wx),
            wy: lerp!(wy),
        }
    }

    /// The smooth fields at a node (no interpolation).
    fn node_at(&self, i: i64, j: i64) -> (f64, f64, Node) {
        let k = ((i - self.i0) * self.nj + (j - self.j0)) as usize;
        let (x, y) = ((j * NODE_PX) as f64 * self.gsd, (i * NODE_PX) as f64 * self.gsd);
        (x, y, self.nodes[k])
    }
}

fn road_site(seed: u64, ci: i64, cj: i64) -> (f64, f64) {
    let mut r = Rng::new(hash2(seed, ci, cj));
    ((cj as f64 + 0.2 + 0.6 * r.f()) * ROAD_CELL_M, (ci as f64 + 0.2 + 0.6 * r.f()) * ROAD_CELL_M)
}

/// Half width of the main road between road sites `a` and `b` (0: none; negative: track).
fn road_half(seed: u64, a: (i64, i64), b: (i64, i64)) -> f32 {
    let ka = a.0 * 1_000_003 + a.1;
    let kb = b.0 * 1_000_003 + b.1;
    let mut r = Rng::new(hash2(seed ^ 0x0ad5, ka.min(kb), ka.max(kb)));
    match r.f() {
        u if u < 0.38 => r.range(2.9, 3.8) as f32,
        u if u < 0.62 => -r.range(1.5, 1.9) as f32,
        _ => 0.0,
    }
}

impl Landscape {
    /// Caches covering the area `x0..x1`, `y0..y1` (metres), for pixel rows `r0..r1` and
    /// columns `c0..c1`.
    pub fn new(seed: u64, gsd: f64, mix: Mix, area: [f64; 4], px: [i64; 4]) -> Self {
        let [x0, y0, x1, y1] = area;
        let [r0, r1, c0, c1] = px;
        let pseed = layer_seed(seed, 1);
        let (pi0, pi1) = ((y0 / PARCEL_M).floor() as i64 - 2, (y1 / PARCEL_M).floor() as i64 + 2);
        let (pj0, pj1) = ((x0 / PARCEL_M).floor() as i64 - 2, (x1 / PARCEL_M).floor() as i64 + 2);
        let (pni, pnj) = (pi1 - pi0 + 1, pj1 - pj0 + 1);
        let parcels = SiteGrid {
            i0: pi0,
            j0: pj0,
            ni: pni,
            nj: pnj,
            items: (0..pni * pnj)
                .map(|k| Parcel::new(pseed, pi0 + k / pnj, pj0 + k % pnj, &mix))
                .collect(),
        };
        let rseed = layer_seed(seed, 2);
        let warp = 40.0;
        let (ri0, ri1) = (
            ((y0 - warp) / ROAD_CELL_M).floor() as i64 - 1,
            ((y1 + warp) / ROAD_CELL_M).floor() as i64 + 1,
        );
        let (rj0, rj1) = (
            ((x0 - warp) / ROAD_CELL_M).floor() as i64 - 1,
            ((x1 + warp) / ROAD_CELL_M).floor() as i64 + 1,
        );
        let (rni, rnj) = (ri1 - ri0 + 1, rj1 - rj0 + 1);
        let roads = SiteGrid {
            i0: ri0,
            j0: rj0,
            ni: rni,
            nj: rnj,
            items: (0..rni * rnj)
                .map(|k| {
                    let (ci, cj) = (ri0 + k / rnj, rj0 + k % rnj);
                    let (x, y) = road_site(rseed, ci, cj);
                    let mut half = [0.0f32; 8];
                    let mut nb = [(0.0, 0.0, 0.0); 8];
                    let mut n = 0;
                    for di in -1..=1 {
                        for dj in -1..=1 {
                            if (di, dj) != (0, 0) {
                                half[n] = road_half(rseed, (ci, cj), (ci + di, cj + dj));
                                let (ox, oy) = road_site(rseed, ci + di, cj + dj);
                                nb[n] =
                                    (ox, oy, 1.0 / ((ox - x).powi(2) + (oy - y).powi(2)).sqrt());
                                n += 1;
                            }
                        }
                    }
                    RoadSite { x, y, half, nb }
                })
                .collect(),
        };
        let fields = FieldGrid::new(seed, gsd, &mix, r0, r1, c0, c1);
        let mut land = Landscape { seed, fields, parcels, roads };
        let near: Vec<NodeNear> = (0..land.fields.ni * land.fields.nj)
            .map(|k| {
                let (i, j) =
                    (land.fields.i0 + k / land.fields.nj, land.fields.j0 + k % land.fields.nj);
                let (x, y, f) = land.fields.node_at(i, j);
                let (ph, idx) = land.parcel_exact(x, y);
                let (water, _) = land.water(x, y, &f);
                let main =
                    land.main_road(x, y, &f).map_or(f64::INFINITY, |r| r.centre_m - r.half_m);
                let by_parcel = match land.parcel_road(&ph) {
                    Some(r) => r.centre_m - r.half_m,
                    None => ph.edge_m - PARCEL_ROAD_MAX_HALF,
                };
                NodeNear {
                    parcel: idx,
                    edge: ph.edge_m as f32,
                    road: main.min(by_parcel) as f32,
                    water: water as f32,
                }
            })
            .collect();
        land.fields.near = near;
        land
    }

    /// The parcel under `(x, y)` by the 3 × 3 nearest-site search, and its cache index.
    #[inline]
    fn parcel_exact(&self, x: f64, y: f64) -> (ParcelHit<'_>, u32) {
        let (ci, cj) = (ifloor(y / PARCEL_M), ifloor(x / PARCEL_M));
        let mut best = (f64::INFINITY, 0usize);
        let mut second = best;
        for di in -1..=1 {
            for dj in -1..=1 {
                let idx = self.parcels.index(ci + di, cj + dj);
                let p = &self.parcels.items[idx];
                let d = (p.x - x) * (p.x - x) + (p.y - y) * (p.y - y);
                if d < best.0 {
                    second = best;
                    best = (d, idx);
                } else if d < second.0 {
                    second = (d, idx);
                }
            }
        }
        let (a, b) = (&self.parcels.items[best.1], &self.parcels.items[second.1]);
        let sep = ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt().max(1e-6);
        (
            ParcelHit { parcel: a, other: b, edge_m: (second.0 - best.0) / (2.0 * sep) },
            best.1 as u32,
        )
    }

    /// The parcel under `(x, y)`; far from parcel edges (more than [`EDGE_FAR_M`]) it is taken
    /// from the lattice and `edge_m` is a lower bound, which every rule treats as "far".
    #[inline]
    fn parcel_near(&self, x: f64, y: f64, near: &Near) -> ParcelHit<'_> {
        match near.parcel {
            Some(idx) if near.edge > EDGE_FAR_M => {
                let p = &self.parcels.items[idx as usize];
                ParcelHit { parcel: p, other: p, edge_m: near.edge }
            }
            _ => self.parcel_exact(x, y).0,
        }
    }

    /// The parcel under `(x, y)`.
    #[inline]
    pub fn parcel(&self, x: f64, y: f64) -> ParcelHit<'_> {
        let (_, near) = self.fields.locate(x, y);
        self.parcel_near(x, y, &near)
    }

    /// The main road whose edge is nearest to the warped point (the point is on it when
    /// `centre_m < half_m`), if any road leaves the point's road cell.
    #[inline]
    fn main_road(&self, x: f64, y: f64, f: &Fields) -> Option<RoadHit> {
        let (x, y) = (x + f.wx as f64, y + f.wy as f64);
        let (ci, cj) = (ifloor(y / ROAD_CELL_M), ifloor(x / ROAD_CELL_M));
        // Nearest site among the 3 × 3 cells.
        let mut best = (f64::INFINITY, ci, cj);
        for di in -1..=1 {
            for dj in -1..=1 {
                let s = self.roads.get(ci + di, cj + dj);
                let d = (s.x - x).powi(2) + (s.y - y).powi(2);
                if d < best.0 {
                    best = (d, ci + di, cj + dj);
                }
            }
        }
        let (d1, si, sj) = best;
        let s = self.roads.get(si, sj);
        let mut hit: Option<RoadHit> = None;
        for k in 0..8 {
            let half = s.half[k];
            if half == 0.0 {
                continue;
            }
            let (ox, oy, inv) = s.nb[k];
            let d2 = (ox - x) * (ox - x) + (oy - y) * (oy - y);
            let centre = 0.5 * (d2 - d1) * inv;
            let halfm = half.abs() as f64;
            if hit.is_none_or(|h| centre - halfm < h.centre_m - h.half_m) {
                let (ex, ey) = ((ox - s.x) * inv, (oy - s.y) * inv);
                hit = Some(RoadHit {
                    centre_m: centre,
                    half_m: halfm,
                    paved: half > 0.0,
                    along_m: -ey * x + ex * y,
                });
            }
        }
        hit
    }

    /// A street or field track along a parcel edge.
    #[inline]
    fn parcel_road(&self, ph: &ParcelHit<'_>) -> Option<RoadHit> {
        if ph.edge_m > 3.0 {
            return None;
        }
        let (a, b) = (ph.parcel, ph.other);
        let village = a.kind == Kind::Settlement || b.kind == Kind::Settlement;
        let fields =
            matches!(a.kind, Kind::Crop | Kind::Bare) && matches!(b.kind, Kind::Crop | Kind::Bare);
        if !village && !fields {
            return None;
        }
        let h = hash2(self.seed ^ 0x57ee7, a.id.min(b.id) as i64, a.id.max(b.id) as i64);
        let u = (h >> 40) as f64 / (1u64 << 24) as f64;
        let (half, paved) = if village && u < 0.6 {
            (2.6, true)
        } else if fields && u < 0.16 {
            (1.5, false)
        } else {
            return None;
        };
        (ph.edge_m < half).then_some(RoadHit {
            centre_m: ph.edge_m,
            half_m: half,
            paved,
            along_m: 0.0,
        })
    }

    /// Distance to water (m), 0 inside; and whether the water is a river.
    #[inline]
    fn water(&self, x: f64, y: f64, f: &Fields) -> (f64, bool) {
        let mut best = f64::INFINITY;
        let mut river = false;
        // Lakes: the field above the threshold, with fine irregular shores.
        let g = ((f.lgx * f.lgx + f.lgy * f.lgy) as f64).sqrt().max(1e-4);
        let mut lake = f.lake;
        if lake > LAKE_T - 0.08 {
            lake += 0.025 * value_noise((self.seed >> 8) as u32 ^ 0x5e, x / 14.0, y / 14.0);
        }
        let dl = ((LAKE_T - lake) as f64 / g).max(0.0);
        if dl < best {
            best = dl;
        }
        // Rivers: a band around the zero line of the river field where the mask is on.
        if f.rmask > 0.0 {
            let half = 3.0 + 10.0 * (f.rmask as f64).min(1.0);
            let gr = ((f.rgx * f.rgx + f.rgy * f.rgy) as f64).sqrt().max(1e-5);
            let dr = ((f.river.abs() as f64) / gr - half).max(0.0);
            if dr < best {
                best = dr;
                river = true;
            }
        }
        (best, river)
    }

    /// The road under a point, if any.
    #[inline]
    fn road_at(
        &self,
        x: f64,
        y: f64,
        f: &Fields,
        near: &Near,
        ph: &ParcelHit<'_>,
    ) -> Option<RoadHit> {
        if near.road > 0.0 {
            return None;
        }
        self.main_road(x, y, f).filter(|r| r.centre_m < r.half_m).or_else(|| self.parcel_road(ph))
    }

    /// What object placement needs to know about `(x, y)`. Distances beyond the largest that
    /// any placement rule asks about are lower bounds.
    pub fn site_info(&self, x: f64, y: f64) -> SiteInfo<'_> {
        let (cell, near) = self.fields.locate(x, y);
        let parcel = self.parcel_near(x, y, &near);
        if near.water > WATER_FAR_M && near.road > ROAD_FAR_M {
            return SiteInfo { parcel, water_m: near.water, road_m: near.road };
        }
        let f = self.fields.fields(&cell);
        let water_m = if near.water > WATER_FAR_M { near.water } else { self.water(x, y, &f).0 };
        let road_m = if near.road > ROAD_FAR_M {
            near.road
        } else {
            let main = self.main_road(x, y, &f).map_or(f64::INFINITY, |r| r.centre_m - r.half_m);
            let by_parcel =
                self.parcel_road(&parcel).map_or(f64::INFINITY, |r| r.centre_m - r.half_m);
            main.min(by_parcel).max(0.0)
        };
        SiteInfo { parcel, water_m, road_m }
    }

    /// The ground at `(x, y)`.
    #[inline]
    pub fn ground(&self, x: f64, y: f64) -> Ground {
        let (cell, near) = self.fields.locate(x, y);
        let full = (near.water <= SHORE_M || near.road <= 0.0).then(|| self.fields.fields(&cell));
        let (water_m, river) = match &full {
            Some(f) if near.water <= SHORE_M => self.water(x, y, f),
            _ => (near.water, false),
        };
        let s = (self.seed >> 24) as u32;
        // Fine grain: white noise per point (the optics blur it into a ~1 m texture).
        let grain =
            2.0 * unit(hash2(self.seed ^ 0x9a11, (x * 64.0) as i64, (y * 64.0) as i64)) - 1.0;
        if water_m <= 0.0 {
            let v = value_noise(s ^ 0x3a7e, x / 25.0, y / 25.0);
            let base =
                if river { [0.030, 0.045, 0.040, 0.016] } else { [0.018, 0.032, 0.038, 0.011] };
            let k = 1.0 + 0.12 * v + 0.03 * grain;
            return Ground {
                class: Class::Water,
                albedo: base.map(|c| c * k),
                veg_h: 0.0,
                gx: 0.0,
                gy: 0.0,
                flat: true,
            };
        }
        let ph = self.parcel_near(x, y, &near);
        let (gx, gy) = self.fields.grad(&cell);
        let terrain =
            |class, albedo: [f32; 4], veg_h| Ground { class, albedo, veg_h, gx, gy, flat: false };
        if let Some(r) = full.as_ref().and_then(|f| self.road_at(x, y, f, &near, &ph)) {
            let wear = 1.0 + 0.06 * value_noise(s ^ 0x40ad, x / 6.0, y / 6.0) + 0.04 * grain;
            let mut a =
                if r.paved { [0.085, 0.086, 0.092, 0.10] } else { [0.23, 0.20, 0.16, 0.26] };
            if r.paved && r.half_m > 2.8 && r.centre_m < 0.3 && modulo(r.along_m / 3.0, 2.0) < 1.0 {
                a = [0.45, 0.45, 0.44, 0.42];
            }
            if !r.paved && (r.centre_m - 0.7).abs() < 0.35 {
                a = a.map(|c| c * 0.8); // wheel tracks
            }
            return terrain(Class::Road, a.map(|c| c * wear), 0.0);
        }
        // Shores: wet soil and reeds.
        if water_m < SHORE_M {
            let a = [0.07, 0.085, 0.05, 0.30];
            return terrain(Class::GrassShrub, a.map(|c| c * (1.0 + 0.1 * grain)), 0.0);
        }
        let p = ph.parcel;
        let tone = |c: [f32; 4], k: f32| c.map(|v| v * k);
        let lerp = |a: [f32; 4], b: [f32; 4], t: f32| {
            let t = t.clamp(0.0, 1.0);
            [
                a[0] + (b[0] - a[0]) * t,
                a[1] + (b[1] - a[1]) * t,
                a[2] + (b[2] - a[2]) * t,
                a[3] + (b[3] - a[3]) * t,
            ]
        };
        // Grass margins between fields.
        let margin = matches!(p.kind, Kind::Crop | Kind::Bare) && ph.edge_m < 1.3;
        let (ca, sa) = (p.ca, p.sa);
        let across = -x * sa + y * ca;
        let along = x * ca + y * sa;
        let grass = [0.075, 0.115, 0.045, 0.42];
        let dry = [0.14, 0.15, 0.085, 0.33];
        match p.kind {
            _ if margin => {
                terrain(Class::GrassShrub, tone(lerp(grass, dry, 0.4), 1.0 + 0.1 * grain), 0.0)
            }
            Kind::Meadow | Kind::Orchard => {
                let patch = value_noise(s ^ 0x6ead ^ p.id as u32, x / 30.0, y / 30.0);
                let mut a = lerp(grass, dry, p.p[0] as f32 + 0.25 * patch);
                if p.kind == Kind::Meadow && p.p[2] > 0.6 {
                    let stripe = modulo(across / p.p[3], 2.0) < 1.0;
                    a = tone(a, if stripe { 1.07 } else { 0.94 });
                }
                if p.kind == Kind::Orchard && modulo(across / 6.5, 1.0) < 0.3 {
                    a = tone(a, 0.9);
                }
                terrain(Class::GrassShrub, tone(a, 1.0 + 0.07 * grain), 0.0)
            }
            Kind::Forest => {
                let a = [0.045, 0.06, 0.03, 0.26];
                terrain(Class::GrassShrub, tone(a, 1.0 + 0.15 * grain), 0.0)
            }
            Kind::Shrubland => {
                let patch = value_noise(s ^ 0x5b ^ p.id as u32, x / 8.0, y / 8.0);
                let soil = [0.16, 0.13, 0.095, 0.25];
                let a = lerp(lerp(grass, dry, 0.3 + 0.6 * p.p[2] as f32), soil, 0.25 + 0.3 * patch);
                terrain(Class::GrassShrub, tone(a, 1.0 + 0.08 * grain), 0.0)
            }
            Kind::Settlement => {
                let yard = value_noise(s ^ 0x7a2d ^ p.id as u32, x / 18.0, y / 18.0);
                if (yard as f64) < -1.0 + 2.0 * p.p[2] {
                    let a = [0.19, 0.17, 0.14, 0.22];
                    terrain(Class::Bare, tone(a, 1.0 + 0.12 * grain), 0.0)
                } else {
                    let lawn = [0.065, 0.11, 0.042, 0.44];
                    let a = lerp(lawn, dry, 0.3 + 0.3 * yard);
                    terrain(Class::GrassShrub, tone(a, 1.0 + 0.08 * grain), 0.0)
                }
            }
            Kind::Bare => {
                let soil_light = [0.19, 0.15, 0.11, 0.25];
                let soil_dark = [0.10, 0.078, 0.06, 0.16];
                let big = value_noise(s ^ 0xb4e ^ p.id as u32, x / 40.0, y / 40.0);
                let furrow = wave(across / p.p[1]);
                let t = 0.5 + 0.35 * p.p[0] as f32 + 0.2 * big - 0.3 * p.p[2] as f32;
                let a = tone(lerp(soil_dark, soil_light, t), 1.0 + 0.07 * furrow + 0.06 * grain);
                terrain(Class::Bare, a, 0.0)
            }
            Kind::Crop => {
                let soil = [0.17, 0.135, 0.10, 0.24];
                let k = 1.0 + 0.06 * p.p[1] as f32;
                let streak = value_noise(s ^ 0xc0 ^ p.id as u32, along / 25.0, across / 1.5);
                let tm = modulo(across, p.p[2]);
                let tram = (tm - 1.0).abs() < 0.35 || (tm - 2.8).abs() < 0.35;
                let rows = 0.5 + 0.5 * wave(across / p.p[0]);
                let (mut a, h) = match p.crop {
                    Crop::YoungCereal => {
                        (lerp([0.06, 0.105, 0.04, 0.40], soil, 0.25 - 0.15 * rows), 0.3)
                    }
                    Crop::RipeWheat => ([0.27, 0.21, 0.105, 0.36], 0.9),
                    Crop::Rapeseed => ([0.30, 0.28, 0.06, 0.44], 1.3),
                    Crop::Maize => (lerp(soil, [0.04, 0.08, 0.03, 0.47], 0.35 + 0.6 * rows), 1.8),
                    Crop::Vegetables => {
                        (lerp(soil, [0.05, 0.095, 0.035, 0.43], 0.15 + 0.75 * rows), 0.4)
                    }
                    Crop::Stubble => ([0.28, 0.245, 0.17, 0.33], 0.15),
                };
                a = tone(a, k * (1.0 + 0.06 * streak + 0.04 * grain));
                if tram {
                    a = lerp(a, soil, 0.6);
                }
                terrain(Class::Crop, a, if tram { 0.0 } else { h })
            }
        }
    }
}
