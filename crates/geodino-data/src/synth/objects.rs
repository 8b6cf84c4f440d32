//! Objects standing on the ground: trees, shrubs and buildings, placed by hashing the cells of
//! fixed global grids with the seed, so that any window can list every object that reaches it.

use super::landscape::{Kind, Landscape, SiteInfo};
use super::noise::{Rng, hash2, ifloor, layer_seed};

/// The sun as seen from the ground.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sun {
    /// Unit vector towards the sun (`x` east, `y` south, `z` up).
    pub s: [f32; 3],
    /// Tangent of the elevation.
    pub tan_e: f32,
}

impl Sun {
    pub fn new(azimuth_deg: f64, elevation_deg: f64) -> Sun {
        let (a, e) = (azimuth_deg.to_radians(), elevation_deg.to_radians());
        Sun {
            s: [(e.cos() * a.sin()) as f32, (-e.cos() * a.cos()) as f32, e.sin() as f32],
            tan_e: e.tan() as f32,
        }
    }

    /// Horizontal length of the shadow of something `h` metres tall.
    pub fn shadow_len(&self, h: f32) -> f32 {
        h / self.tan_e
    }
}

/// Tree species (crown shape, colour).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Species {
    Broadleaf,
    Birch,
    Conifer,
    Shrub,
    Fruit,
}

/// A tree or shrub: a lobed spheroid (or, for conifers, a cone) crown.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tree {
    pub x: f64,
    pub y: f64,
    /// Top height (m).
    pub h: f32,
    /// Mean crown radius (m).
    pub r: f32,
    /// Vertical semi-axis of the spheroid, or the cone length (m).
    pub rv: f32,
    pub species: Species,
    /// Crown outline: `r(θ) = r · (1 + a₁ cos(3θ + φ₁) + a₂ cos(k θ + φ₂))`.
    lobe_k: u32,
    lobe_a1: f32,
    lobe_a2: f32,
    lobe_c1: f32,
    lobe_s1: f32,
    lobe_c2: f32,
    lobe_s2: f32,
    /// Colour variation (multiplicative) and a texture seed.
    pub tone: [f32; 2],
    pub seed: u32,
}

impl Tree {
    fn new(x: f64, y: f64, h: f64, species: Species, r: &mut Rng) -> Tree {
        let h = h as f32;
        let jit = r.range(0.85, 1.15) as f32;
        let (radius, rv, k, a1, a2) = match species {
            Species::Broadleaf => {
                ((0.8 + 0.16 * h) * jit, 0.4 * h, 7, r.range(0.04, 0.12), r.range(0.02, 0.06))
            }
            Species::Birch => ((0.5 + 0.11 * h) * jit, 0.35 * h, 5, 0.08, 0.04),
            Species::Conifer => ((0.45 + 0.095 * h) * jit, 0.6 * h, 9, 0.04, 0.09),
            Species::Shrub => ((0.5 + 0.6 * h) * jit, 0.5 * h, 5, 0.12, 0.05),
            Species::Fruit => ((0.3 + 0.42 * h) * jit, 0.45 * h, 7, 0.05, 0.03),
        };
        let (p1, p2) = (r.range(0.0, std::f64::consts::TAU), r.range(0.0, std::f64::consts::TAU));
        Tree {
            x,
            y,
            h,
            r: radius,
            rv: rv.min(h - 0.1).max(0.2),
            species,
            lobe_k: k,
            lobe_a1: a1 as f32,
            lobe_a2: a2 as f32,
            lobe_c1: p1.cos() as f32,
            lobe_s1: p1.sin() as f32,
            lobe_c2: p2.cos() as f32,
            lobe_s2: p2.sin() as f32,
            tone: [r.range(0.88, 1.12) as f32, r.range(0.9, 1.1) as f32],
            seed: (r.f() * u32::MAX as f64) as u32,
        }
    }

    /// Half side of the square holding the crown.
    pub fn extent(&self) -> f32 {
        self.r * (1.0 + self.lobe_a1 + self.lobe_a2)
    }

    /// `q` = distance / lobed radius at offset `(dx, dy)` (< 1 inside the crown).
    #[inline]
    fn q(&self, dx: f32, dy: f32) -> f32 {
        let d2 = dx * dx + dy * dy;
        if d2 < 1e-12 {
            return 0.0;
        }
        let d = d2.sqrt();
        let (c, s) = (dx / d, dy / d);
        // z = e^{iθ}; z³ and z^k give cos(3θ + φ₁) and cos(kθ + φ₂).
        let mul = |a: (f32, f32), b: (f32, f32)| (a.0 * b.0 - a.1 * b.1, a.0 * b.1 + a.1 * b.0);
        let z = (c, s);
        let z2 = mul(z, z);
        let z3 = mul(z2, z);
        let mut zk = z3;
        for _ in 3..self.lobe_k {
            zk = mul(zk, z);
        }
        let c1 = z3.0 * self.lobe_c1 - z3.1 * self.lobe_s1;
        let c2 = zk.0 * self.lobe_c2 - zk.1 * self.lobe_s2;
        d / (self.r * (1.0 + self.lobe_a1 * c1 + self.lobe_a2 * c2))
    }

    /// Crown surface height at offset `(dx, dy)` from the stem, if inside the crown.
    #[inline]
    pub fn surface(&self, dx: f32, dy: f32) -> Option<f32> {
        let q = self.q(dx, dy);
        if q >= 1.0 {
            return None;
        }
        Some(match self.species {
            Species::Conifer => self.h - self.rv * q,
            _ => self.h - self.rv + self.rv * (1.0 - q * q).sqrt(),
        })
    }

    /// Unit surface normal at offset `(dx, dy)` (inside the crown).
    #[inline]
    pub fn normal(&self, dx: f32, dy: f32) -> [f32; 3] {
        let q = self.q(dx, dy).min(0.999);
        let d = (dx * dx + dy * dy).sqrt().max(1e-6);
        let r_eff = d / q.max(1e-6);
        let n = match self.species {
            Species::Conifer => {
                let slope = self.rv / r_eff;
                [dx / d * slope, dy / d * slope, 1.0]
            }
            _ => {
                // Spheroid: gradient of (d/r)² + (z/rv)² at the surface.
                let zr = (1.0 - q * q).sqrt();
                [dx / (r_eff * r_eff), dy / (r_eff * r_eff), zr / self.rv]
            }
        };
        let l = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
        [n[0] / l, n[1] / l, n[2] / l]
    }

    /// The spheroid `(centre height, horizontal radius, vertical semi-axis)` that stands in for
    /// the crown when casting shadows.
    fn shadow_body(&self) -> (f32, f32, f32) {
        match self.species {
            Species::Conifer => (self.h - 0.5 * self.rv, 0.7 * self.r, 0.5 * self.rv),
            _ => (self.h - self.rv, 0.95 * self.r, self.rv),
        }
    }
}

/// Roof shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Roof {
    Gable,
    Flat,
}

/// A building: a rotated rectangle with a gable or flat roof.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Building {
    pub x: f64,
    pub y: f64,
    /// Cosine and sine of the orientation of the long axis.
    pub ca: f32,
    pub sa: f32,
    /// Half length and half width (m).
    pub a: f32,
    pub b: f32,
    pub eave: f32,
    pub ridge: f32,
    pub roof: Roof,
    pub albedo: [f32; 4],
    pub seed: u32,
}

impl Building {
    /// Offsets in the building's frame (`u` along the ridge, `v` across).
    #[inline]
    pub fn local(&self, dx: f32, dy: f32) -> (f32, f32) {
        (dx * self.ca + dy * self.sa, -dx * self.sa + dy * self.ca)
    }

    pub fn extent(&self) -> f32 {
        (self.a * self.a + self.b * self.b).sqrt()
    }

    /// Roof height at offset `(dx, dy)`, if on the roof.
    #[inline]
    pub fn surface(&self, dx: f32, dy: f32) -> Option<f32> {
        let (u, v) = self.local(dx, dy);
        if u.abs() > self.a || v.abs() > self.b {
            return None;
        }
        Some(match self.roof {
            Roof::Gable => self.eave + (self.ridge - self.eave) * (1.0 - v.abs() / self.b),
            Roof::Flat => self.eave,
        })
    }

    /// Unit roof normal at offset `(dx, dy)`.
    #[inline]
    pub fn normal(&self, dx: f32, dy: f32) -> [f32; 3] {
        match self.roof {
            Roof::Flat => [0.0, 0.0, 1.0],
            Roof::Gable => {
                let (_, v) = self.local(dx, dy);
                let slope = (self.ridge - self.eave) / self.b;
                let nv = if v >= 0.0 { slope } else { -slope };
                // Local normal (0, nv, 1) rotated back to x/y.
                let (nx, ny) = (-nv * self.sa, nv * self.ca);
                let l = (nx * nx + ny * ny + 1.0).sqrt();
                [nx / l, ny / l, 1.0 / l]
            }
        }
    }

    /// Height of the box that casts the shadow.
    fn shadow_top(&self) -> f32 {
        self.eave + 0.6 * (self.ridge - self.eave)
    }
}

/// Something that stands on the ground.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Object {
    Tree(Tree),
    Building(Building),
}

impl Object {
    pub fn position(&self) -> (f64, f64) {
        match self {
            Object::Tree(t) => (t.x, t.y),
            Object::Building(b) => (b.x, b.y),
        }
    }

    /// Half side of the square holding the footprint.
    pub fn extent(&self) -> f32 {
        match self {
            Object::Tree(t) => t.extent(),
            Object::Building(b) => b.extent(),
        }
    }

    /// Top height (m).
    pub fn top(&self) -> f32 {
        match self {
            Object::Tree(t) => t.h,
            Object::Building(b) => b.ridge,
        }
    }

    pub fn is_building(&self) -> bool {
        matches!(self, Object::Building(_))
    }

    /// Surface height at offset `(dx, dy)` from the object's position.
    #[inline]
    pub fn surface(&self, dx: f32, dy: f32) -> Option<f32> {
        match self {
            Object::Tree(t) => t.surface(dx, dy),
            Object::Building(b) => b.surface(dx, dy),
        }
    }

    /// A shadow test prepared for one sun: call [`ShadowCaster::hits`] per pixel.
    pub fn caster(&self, sun: &Sun) -> ShadowCaster {
        match self {
            Object::Tree(t) => {
                let (hc, r, rv) = t.shadow_body();
                let k = r / rv;
                let u = [sun.s[0], sun.s[1], sun.s[2] * k];
                let l = (u[0] * u[0] + u[1] * u[1] + u[2] * u[2]).sqrt();
                ShadowCaster::Spheroid { hc, k, r2: r * r, u: [u[0] / l, u[1] / l, u[2] / l] }
            }
            Object::Building(b) => ShadowCaster::Box {
                ca: b.ca,
                sa: b.sa,
                a: b.a,
                b: b.b,
                top: b.shadow_top(),
                // Sun direction in the building frame, per metre of horizontal travel.
                du: (sun.s[0] * b.ca + sun.s[1] * b.sa) / (1.0 - sun.s[2] * sun.s[2]).sqrt(),
                dv: (-sun.s[0] * b.sa + sun.s[1] * b.ca) / (1.0 - sun.s[2] * sun.s[2]).sqrt(),
                tan_e: sun.tan_e,
            },
        }
    }
}

/// An object's shadow volume for one sun direction.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ShadowCaster {
    /// A spheroid seen in coordinates where it is a sphere of radius `sqrt(r2)` (heights × `k`).
    Spheroid { hc: f32, k: f32, r2: f32, u: [f32; 3] },
    /// A box: the ray towards the sun enters the footprint below `top`.
    Box { ca: f32, sa: f32, a: f32, b: f32, top: f32, du: f32, dv: f32, tan_e: f32 },
}

impl ShadowCaster {
    /// True when the point at offset `(dx, dy)` from the object and height `z` is in its shadow.
    #[inline]
    pub fn hits(&self, dx: f32, dy: f32, z: f32) -> bool {
        match *self {
            ShadowCaster::Spheroid { hc, k, r2, u } => {
                let v = [dx, dy, (z - hc) * k];
                let t = v[0] * u[0] + v[1] * u[1] + v[2] * u[2];
                t < 0.0 && v[0] * v[0] + v[1] * v[1] + v[2] * v[2] - t * t < r2
            }
            ShadowCaster::Box { ca, sa, a, b, top, du, dv, tan_e } => {
                let u0 = dx * ca + dy * sa;
                let v0 = -dx * sa + dy * ca;
                // Slab intersection of the horizontal ray (u0, v0) + t (du, dv), t ≥ 0.
                let (mut t0, mut t1) = (0.0f32, f32::INFINITY);
                for (p, d, half) in [(u0, du, a), (v0, dv, b)] {
                    if d.abs() < 1e-9 {
                        if p.abs() > half {
                            return false;
                        }
                    } else {
                        let (ta, tb) = ((-half - p) / d, (half - p) / d);
                        t0 = t0.max(ta.min(tb));
                        t1 = t1.min(ta.max(tb));
                    }
                }
                t1 >= t0 && z + t0 * tan_e < top
            }
        }
    }
}

/// Spacing (m), jitter (fraction of the spacing) and layer of the three tree grids.
const TREE_GRIDS: [(f64, f64, u64); 3] = [(2.6, 0.9, 11), (4.3, 0.85, 12), (6.5, 0.8, 13)];
/// Building grid spacing (m).
const BUILDING_M: f64 = 28.0;
/// The tallest object any rule can make (m): bounds shadow lengths.
pub(crate) const MAX_HEIGHT_M: f32 = 42.0;
/// The widest crown or building half-diagonal (m).
pub(crate) const MAX_EXTENT_M: f32 = 18.0;

fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

fn building_at(land: &Landscape, seed: u64, ci: i64, cj: i64) -> Option<Building> {
    let mut r = Rng::new(hash2(seed, ci, cj));
    let x = (cj as f64 + 0.5) * BUILDING_M + r.range(-4.0, 4.0);
    let y = (ci as f64 + 0.5) * BUILDING_M + r.range(-4.0, 4.0);
    let info = land.site_info(x, y);
    let p = info.parcel.parcel;
    let u = r.f();
    let farm = match p.kind {
        Kind::Settlement if u < p.p[0] => false,
        Kind::Meadow | Kind::Crop if u < 0.012 => true,
        _ => return None,
    };
    let (len, wid, eave, pitch, flat) = if farm {
        (
            r.range(15.0, 28.0),
            r.range(9.0, 14.0),
            r.range(4.0, 7.0),
            r.range(0.25, 0.45),
            r.f() < 0.2,
        )
    } else {
        (
            r.range(9.0, 16.0),
            r.range(7.0, 10.0),
            r.range(3.0, 6.5),
            r.range(0.55, 0.85),
            r.f() < 0.22,
        )
    };
    let quarter = if r.f() < 0.5 { 0.0 } else { std::f64::consts::FRAC_PI_2 };
    let angle = p.angle + quarter + r.range(-0.06, 0.06);
    let (a, b) = (len / 2.0, wid / 2.0);
    let ridge = if flat { eave } else { eave + b * pitch.tan() };
    let (ca, sa) = (angle.cos(), angle.sin());
    // Not on water or roads, corners included.
    for (su, sv) in [(0.0, 0.0), (1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0)] {
        let (px, py) = (x + su * a * ca - sv * b * sa, y + su * a * sa + sv * b * ca);
        let i = if (su, sv) == (0.0, 0.0) { info } else { land.site_info(px, py) };
        if i.water_m < 2.0 || i.road_m < 1.5 {
            return None;
        }
    }
    let palette: [[f32; 4]; 6] = [
        [0.34, 0.12, 0.07, 0.30],  // terracotta
        [0.27, 0.10, 0.07, 0.26],  // dark red tile
        [0.09, 0.085, 0.09, 0.12], // anthracite
        [0.20, 0.12, 0.08, 0.22],  // brown
        [0.21, 0.21, 0.22, 0.23],  // grey
        [0.30, 0.31, 0.31, 0.31],  // metal
    ];
    let albedo = if flat {
        [[0.33, 0.32, 0.30, 0.33], [0.16, 0.16, 0.17, 0.18], [0.42, 0.42, 0.41, 0.40]]
            [(r.f() * 3.0) as usize]
    } else if farm {
        palette[[3, 4, 5, 0][(r.f() * 4.0) as usize]]
    } else {
        palette[[0, 0, 0, 1, 1, 2, 2, 3, 4][(r.f() * 9.0) as usize]]
    };
    Some(Building {
        x,
        y,
        ca: ca as f32,
        sa: sa as f32,
        a: a as f32,
        b: b as f32,
        eave: eave as f32,
        ridge: ridge as f32,
        roof: if flat { Roof::Flat } else { Roof::Gable },
        albedo,
        seed: (r.f() * u32::MAX as f64) as u32,
    })
}

/// The buildings of a rectangle of building-grid cells, by cell.
struct BuildingGrid {
    i0: i64,
    j0: i64,
    ni: i64,
    nj: i64,
    cells: Vec<Option<Building>>,
}

impl BuildingGrid {
    fn get(&self, i: i64, j: i64) -> Option<&Building> {
        if i < self.i0 || j < self.j0 || i >= self.i0 + self.ni || j >= self.j0 + self.nj {
            return None;
        }
        self.cells[((i - self.i0) * self.nj + (j - self.j0)) as usize].as_ref()
    }
}

fn inside_building(buildings: &BuildingGrid, x: f64, y: f64, clearance: f32) -> bool {
    let (ci, cj) = (ifloor(y / BUILDING_M), ifloor(x / BUILDING_M));
    for di in -1..=1 {
        for dj in -1..=1 {
            if let Some(b) = buildings.get(ci + di, cj + dj) {
                let (u, v) = b.local((x - b.x) as f32, (y - b.y) as f32);
                if u.abs() < b.a + clearance && v.abs() < b.b + clearance {
                    return true;
                }
            }
        }
    }
    false
}

fn hedge_pair(seed: u64, info: &SiteInfo<'_>) -> bool {
    let (a, b) = (info.parcel.parcel, info.parcel.other);
    if a.kind == Kind::Forest && b.kind == Kind::Forest {
        return false;
    }
    unit(hash2(seed ^ 0x4ed6e, a.id.min(b.id) as i64, a.id.max(b.id) as i64)) < 0.35
}

/// The tree (if any) of grid `g` at candidate `(x, y)`.
fn tree_at(
    land: &Landscape,
    seed: u64,
    g: usize,
    x: f64,
    y: f64,
    r: &mut Rng,
    buildings: &BuildingGrid,
) -> Option<Tree> {
    if inside_building(buildings, x, y, 1.0) {
        return None;
    }
    let info = land.site_info(x, y);
    if info.water_m < 0.5 || info.road_m < 1.0 {
        return None;
    }
    let p = info.parcel.parcel;
    let u = r.f();
    if g == 0 && info.parcel.edge_m < 1.6 && hedge_pair(seed, &info) && p.kind != Kind::Settlement {
        return (u < 0.8).then(|| Tree::new(x, y, r.range(4.0, 11.0), Species::Broadleaf, r));
    }
    if g == 0 && info.water_m < 9.0 && info.water_m > 1.0 {
        return (u < 0.3).then(|| Tree::new(x, y, r.range(6.0, 16.0), Species::Broadleaf, r));
    }
    match p.kind {
        Kind::Forest => {
            let mean_h = p.p[0];
            let g_stand = if mean_h < 11.0 {
                0
            } else if mean_h < 20.0 {
                1
            } else {
                2
            };
            if g == g_stand {
                if u >= p.p[2] {
                    return None;
                }
                let h = (mean_h * r.range(0.7, 1.25)).max(3.0);
                let sp = if r.f() < p.p[1] {
                    Species::Conifer
                } else if r.f() < 0.12 {
                    Species::Birch
                } else {
                    Species::Broadleaf
                };
                Some(Tree::new(x, y, h, sp, r))
            } else if g == 0 && g_stand > 0 && u < 0.06 {
                Some(Tree::new(x, y, (mean_h * r.range(0.3, 0.5)).max(3.0), Species::Broadleaf, r))
            } else {
                None
            }
        }
        Kind::Meadow if g == 1 && u < p.p[1] => {
            Some(Tree::new(x, y, r.range(9.0, 24.0), Species::Broadleaf, r))
        }
        Kind::Shrubland if g == 0 && u < p.p[0] => {
            Some(Tree::new(x, y, r.range(0.5, 1.8), Species::Shrub, r))
        }
        Kind::Shrubland if g == 1 && u < p.p[1] => {
            Some(Tree::new(x, y, r.range(4.0, 10.0), Species::Broadleaf, r))
        }
        Kind::Settlement if g == 1 && u < p.p[1] => {
            let h = r.range(4.0, 14.0);
            let t = Tree::new(
                x,
                y,
                h,
                if r.f() < 0.2 { Species::Conifer } else { Species::Broadleaf },
                r,
            );
            (!inside_building(buildings, x, y, 0.3 * t.r)).then_some(t)
        }
        _ => None,
    }
}

/// Every object whose position lies in `area` (metres, `[x0, y0, x1, y1]`), in a fixed global
/// order (grid by grid, cells row-major), so that overlapping windows list shared objects in
/// the same relative order.
pub(crate) fn objects_in(land: &Landscape, seed: u64, area: [f64; 4]) -> Vec<Object> {
    let [x0, y0, x1, y1] = area;
    let bseed = layer_seed(seed, 14);
    let (bi0, bi1) = ((y0 / BUILDING_M).floor() as i64 - 1, (y1 / BUILDING_M).floor() as i64 + 1);
    let (bj0, bj1) = ((x0 / BUILDING_M).floor() as i64 - 1, (x1 / BUILDING_M).floor() as i64 + 1);
    let (ni, nj) = (bi1 - bi0 + 1, bj1 - bj0 + 1);
    let buildings = BuildingGrid {
        i0: bi0,
        j0: bj0,
        ni,
        nj,
        cells: (0..ni * nj).map(|k| building_at(land, bseed, bi0 + k / nj, bj0 + k % nj)).collect(),
    };
    let mut out = Vec::new();
    let tseed = layer_seed(seed, 15);
    for (g, &(sp, jit, layer)) in TREE_GRIDS.iter().enumerate() {
        let gseed = layer_seed(seed, layer);
        let (i0, i1) = ((y0 / sp).floor() as i64, (y1 / sp).floor() as i64);
        let (j0, j1) = ((x0 / sp).floor() as i64, (x1 / sp).floor() as i64);
        for ci in i0..=i1 {
            for cj in j0..=j1 {
                let mut r = Rng::new(hash2(gseed, ci, cj));
                // Orchards are planted on the grid itself; other trees are jittered.
                let (cx, cy) = ((cj as f64 + 0.5) * sp, (ci as f64 + 0.5) * sp);
                let (jx, jy) = (r.range(-0.5, 0.5) * jit * sp, r.range(-0.5, 0.5) * jit * sp);
                let tree = if g == 2 && land.parcel(cx, cy).parcel.kind == Kind::Orchard {
                    let p = land.parcel(cx, cy).parcel;
                    let info = land.site_info(cx, cy);
                    (info.road_m > 1.5 && info.water_m > 2.0 && info.parcel.edge_m > 2.0).then(
                        || Tree::new(cx, cy, p.p[0] * r.range(0.9, 1.1), Species::Fruit, &mut r),
                    )
                } else {
                    let (x, y) = (cx + jx, cy + jy);
                    if x < x0 || x >= x1 || y < y0 || y >= y1 {
                        continue;
                    }
                    tree_at(land, tseed, g, x, y, &mut r, &buildings)
                };
                if let Some(t) = tree {
                    out.push(Object::Tree(t));
                }
            }
        }
    }
    for ci in bi0..=bi1 {
        for cj in bj0..=bj1 {
            if let Some(b) = buildings.get(ci, cj)
                && b.x >= x0 - MAX_EXTENT_M as f64
                && b.x < x1 + MAX_EXTENT_M as f64
                && b.y >= y0 - MAX_EXTENT_M as f64
                && b.y < y1 + MAX_EXTENT_M as f64
            {
                out.push(Object::Building(*b));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Farthest shadowed ground point along the direction away from the sun (m).
    fn shadow_reach(c: &ShadowCaster, dir: (f32, f32)) -> f32 {
        let mut last = 0.0;
        for step in 0..1000 {
            let d = step as f32 * 0.05;
            if c.hits(dir.0 * d, dir.1 * d, 0.0) {
                last = d;
            }
        }
        last
    }

    #[test]
    fn sun_vector_points_to_the_azimuth() {
        // Azimuth 135° (south-east), elevation 45°: towards +x (east) and +y (south).
        let s = Sun::new(135.0, 45.0);
        assert!((s.s[0] - 0.5).abs() < 1e-6 && (s.s[1] - 0.5).abs() < 1e-6);
        assert!((s.tan_e - 1.0).abs() < 1e-6);
        assert!((Sun::new(180.0, 30.0).s[0]).abs() < 1e-6, "due south has no east component");
    }

    #[test]
    fn tree_shadows_fall_away_from_the_sun_with_length_proportional_to_height() {
        let sun = Sun::new(135.0, 45.0);
        let away = (-std::f32::consts::FRAC_1_SQRT_2, -std::f32::consts::FRAC_1_SQRT_2);
        let mut reach = Vec::new();
        for h in [5.0, 10.0, 20.0, 30.0] {
            let t = Tree::new(0.0, 0.0, h, Species::Broadleaf, &mut Rng::new(1));
            let c = Object::Tree(t).caster(&sun);
            let d = shadow_reach(&c, away);
            // A spheroid crown of height h, radius ≈ 0.8 + 0.16 h, depth 0.4 h under a 45° sun:
            // the far end of its ground shadow is about h away (exact value for h = 20 below).
            assert!(d > 0.8 * h as f32 && d < 1.3 * h as f32, "h {h}: reach {d}");
            // Nothing on the sun side beyond the crown.
            let e = t.extent() + 0.5;
            assert!(!c.hits(-away.0 * e, -away.1 * e, 0.0));
            // A point above the crown top is lit.
            assert!(!c.hits(away.0 * 2.0, away.1 * 2.0, h as f32 + 1.0));
            reach.push(d);
        }
        // Exact for h = 20 under a 45° sun: the ground point at distance d along the shadow is
        // hidden when min over the ray of (a - d)²/R² + (a - hc)²/V² ≤ 1, i.e.
        // (d - hc)² ≤ R² + V², so the shadow reaches hc + sqrt(R² + V²) with the shadow body's
        // radius R = 0.95 r, depth V = 0.4 h = 8 and centre hc = h - V = 12.
        let t = Tree::new(0.0, 0.0, 20.0, Species::Broadleaf, &mut Rng::new(1));
        let big_r = 0.95 * t.r;
        let want = 12.0 + (big_r * big_r + 64.0).sqrt();
        assert!((reach[2] - want).abs() < 0.1, "reach {} vs {want}", reach[2]);
        assert!(reach[3] / reach[1] > 2.3 && reach[3] / reach[1] < 3.4, "{reach:?}");
        assert!(reach[2] / reach[1] > 1.6 && reach[2] / reach[1] < 2.3, "{reach:?}");
    }

    #[test]
    fn building_shadow_length_follows_its_height() {
        let sun = Sun::new(180.0, 45.0); // due south: shadows point north (-y)
        for top in [4.0f32, 8.0, 16.0] {
            let b = Building {
                x: 0.0,
                y: 0.0,
                ca: 1.0,
                sa: 0.0,
                a: 5.0,
                b: 4.0,
                eave: top,
                ridge: top,
                roof: Roof::Flat,
                albedo: [0.0; 4],
                seed: 0,
            };
            let c = Object::Building(b).caster(&sun);
            // North wall at y = -4; the shadow reaches `top` metres beyond it (tan e = 1).
            assert!(c.hits(0.0, -4.0 - (top - 0.2), 0.0));
            assert!(!c.hits(0.0, -4.0 - (top + 0.2), 0.0));
            // South of the building is lit; so is a roof-height point beside the wall.
            assert!(!c.hits(0.0, 4.5, 0.0));
            assert!(!c.hits(0.0, -4.5, top + 0.1));
        }
    }
}
