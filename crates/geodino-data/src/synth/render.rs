//! Rendering one window: ground materials, objects (surface heights), cast shadows, sunlight
//! and sky light, a mild optical blur, sensor noise and quantisation; plus the aligned labels.

use geodino_core::Window;
use ndarray::{Array2, Array3};

use super::SceneGenerator;
use super::classes::Class;
use super::landscape::{Landscape, Mix};
use super::noise::{gauss, hash2, layer_seed, value_noise};
use super::objects::{MAX_EXTENT_M, MAX_HEIGHT_M, Object, Species, objects_in};

/// One rendered window: the image and its labels, all of the window's size.
#[derive(Debug, Clone, PartialEq)]
pub struct SceneTile {
    /// Where the tile lies in the scene.
    pub window: Window,
    /// `(band, row, col)` uint8: red, green, blue (and near-infrared when configured).
    pub image: Array3<u8>,
    /// `(row, col)` canopy height in metres (0 where there is no vegetation, on buildings too).
    pub chm: Array2<f32>,
    /// `(row, col)` land-cover class values (see [`Class`]).
    pub landcover: Array2<u8>,
}

const NO_OBJECT: u32 = u32::MAX;
/// Shadow flags.
const SHADOW_TREE: u8 = 1;
const SHADOW_BUILDING: u8 = 2;

/// Direct and diffuse light, per band (R, G, B, NIR).
const SUN: f32 = 0.80;
const SKY: [f32; 4] = [0.23, 0.26, 0.33, 0.20];
const HAZE: [f32; 4] = [0.010, 0.013, 0.020, 0.004];
/// Display transfer: DN = 255 · (GAIN · L)^(1/GAMMA).
const GAIN: [f32; 4] = [2.3, 2.2, 2.3, 1.5];
const GAMMA: f32 = 1.9;

/// Per-window working buffers over the window plus a one-pixel margin (`ew` × `eh`).
struct Work<'a> {
    gsd: f64,
    ew: usize,
    eh: usize,
    /// Pixel-centre coordinates (m) of the columns and rows.
    xs: Vec<f64>,
    ys: Vec<f64>,
    land: Landscape,
    objects: Vec<Object>,
    b: Buffers,
    g: &'a SceneGenerator,
}

/// Per-pixel buffers, reused from window to window by each thread (fresh allocations of this
/// size cost page faults comparable to the rendering itself).
#[derive(Default)]
struct Buffers {
    class: Vec<Class>,
    albedo: Vec<[f32; 4]>,
    veg_h: Vec<f32>,
    grad: Vec<[f32; 2]>,
    dsm: Vec<f32>,
    top: Vec<u32>,
    shade: Vec<u8>,
    rad: Vec<[f32; 4]>,
    hblur: Vec<[f32; 4]>,
}

impl Buffers {
    fn reset(&mut self, n: usize) {
        fn fill<T: Clone>(v: &mut Vec<T>, n: usize, x: T) {
            v.clear();
            v.resize(n, x);
        }
        fill(&mut self.class, n, Class::NoData);
        fill(&mut self.albedo, n, [0.0; 4]);
        fill(&mut self.veg_h, n, 0.0);
        fill(&mut self.grad, n, [0.0; 2]);
        fill(&mut self.dsm, n, 0.0);
        fill(&mut self.top, n, NO_OBJECT);
        fill(&mut self.shade, n, 0);
        fill(&mut self.rad, n, [0.0; 4]);
        fill(&mut self.hblur, n, [0.0; 4]);
    }
}

thread_local! {
    static BUFFERS: std::cell::RefCell<Buffers> = std::cell::RefCell::new(Buffers::default());
}

/// The display transfer `255 · (GAIN · L)^(1/GAMMA)` as a table over `GAIN · L` in `[0, 1]`.
struct Tone {
    lut: Vec<f32>,
}

const TONE_STEPS: usize = 4096;

impl Tone {
    fn new() -> Tone {
        Tone {
            lut: (0..=TONE_STEPS)
                .map(|i| 255.0 * (i as f32 / TONE_STEPS as f32).powf(1.0 / GAMMA))
                .collect(),
        }
    }

    #[inline]
    fn dn(&self, v: f32) -> f32 {
        let x = v.clamp(0.0, 1.0) * TONE_STEPS as f32;
        let i = (x as usize).min(TONE_STEPS - 1);
        let f = x - i as f32;
        self.lut[i] + (self.lut[i + 1] - self.lut[i]) * f
    }
}

static TONE: std::sync::OnceLock<Tone> = std::sync::OnceLock::new();

pub(crate) fn render(g: &SceneGenerator, w: Window) -> SceneTile {
    let buffers = BUFFERS.with(|b| std::mem::take(&mut *b.borrow_mut()));
    let mut work = Work::new(g, w, buffers);
    work.surfaces();
    work.ground();
    work.shadows();
    work.light();
    let tile = work.output(w);
    BUFFERS.with(|b| *b.borrow_mut() = work.b);
    tile
}

impl<'a> Work<'a> {
    fn new(g: &'a SceneGenerator, w: Window, mut b: Buffers) -> Work<'a> {
        let cfg = &g.cfg;
        let gsd = cfg.gsd;
        let sun = g.sun;
        // The window plus one pixel all round (for the blur).
        let (c0, r0) = (w.col_off - 1, w.row_off - 1);
        let (ew, eh) = (w.width + 2, w.height + 2);
        let px_box = [
            c0 as f64 * gsd,
            r0 as f64 * gsd,
            (c0 + ew as i64) as f64 * gsd,
            (r0 + eh as i64) as f64 * gsd,
        ];
        // Objects that can reach the box: crowns/buildings overlapping it, or their shadows,
        // which run away from the sun.
        let reach = MAX_EXTENT_M as f64 + 1.0;
        let shadow = sun.shadow_len(MAX_HEIGHT_M) as f64;
        let (tx, ty) = (sun.s[0] as f64, sun.s[1] as f64);
        let hl = (tx * tx + ty * ty).sqrt().max(1e-9);
        let (dx, dy) = (tx / hl * shadow, ty / hl * shadow);
        let obj_box = [
            px_box[0] - reach + dx.min(0.0),
            px_box[1] - reach + dy.min(0.0),
            px_box[2] + reach + dx.max(0.0),
            px_box[3] + reach + dy.max(0.0),
        ];
        // Landscape caches cover every point any object query touches (+ building corners).
        let m = MAX_EXTENT_M as f64 + 2.0;
        let area = [obj_box[0] - m, obj_box[1] - m, obj_box[2] + m, obj_box[3] + m];
        let px = [
            (area[1] / gsd).floor() as i64,
            (area[3] / gsd).ceil() as i64,
            (area[0] / gsd).floor() as i64,
            (area[2] / gsd).ceil() as i64,
        ];
        let mix =
            Mix { forest: cfg.forest_bias, settlement: cfg.settlement_bias, water: cfg.water_bias };
        let land = Landscape::new(g.seed, gsd, mix, area, px);
        let objects = objects_in(&land, g.seed, obj_box);
        b.reset(ew * eh);
        Work {
            gsd,
            ew,
            eh,
            xs: (0..ew).map(|j| (c0 + j as i64) as f64 * gsd + 0.5 * gsd).collect(),
            ys: (0..eh).map(|i| (r0 + i as i64) as f64 * gsd + 0.5 * gsd).collect(),
            land,
            objects,
            b,
            g,
        }
    }

    /// Column/row index range (inclusive, clipped) covering `[a, b]` metres along an axis whose
    /// first pixel centre is at `first`; `None` when empty.
    fn span(&self, a: f64, b: f64, first: f64, len: usize) -> Option<(usize, usize)> {
        let lo = ((a - first) / self.gsd).floor().max(0.0);
        let hi = ((b - first) / self.gsd).ceil().min(len as f64 - 1.0);
        (hi >= lo).then_some((lo as usize, hi as usize))
    }

    /// Step 2: The ground under every pixel not covered by an object.
    fn ground(&mut self) {
        for i in 0..self.eh {
            let y = self.ys[i];
            for j in 0..self.ew {
                let k = i * self.ew + j;
                if self.b.top[k] != NO_OBJECT {
                    continue;
                }
                let gr = self.land.ground(self.xs[j], y);
                self.b.class[k] = gr.class;
                self.b.albedo[k] = gr.albedo;
                self.b.veg_h[k] = gr.veg_h;
                self.b.grad[k] = if gr.flat { [0.0, 0.0] } else { [gr.gx, gr.gy] };
            }
        }
    }

    /// Step 1: Surface heights of objects: the highest wins (the earlier object on ties).
    fn surfaces(&mut self) {
        let (x0, y0) = (self.xs[0], self.ys[0]);
        for (id, o) in self.objects.iter().enumerate() {
            let (ox, oy) = o.position();
            let e = o.extent() as f64;
            let (Some((ja, jb)), Some((ia, ib))) =
                (self.span(ox - e, ox + e, x0, self.ew), self.span(oy - e, oy + e, y0, self.eh))
            else {
                continue;
            };
            for i in ia..=ib {
                let dy = (self.ys[i] - oy) as f32;
                for j in ja..=jb {
                    if let Some(z) = o.surface((self.xs[j] - ox) as f32, dy) {
                        let k = i * self.ew + j;
                        if z > self.b.dsm[k] {
                            self.b.dsm[k] = z;
                            self.b.top[k] = id as u32;
                        }
                    }
                }
            }
        }
    }

    /// Step 3, cast shadows: for every object, the pixels of its shadow footprint whose surface
    /// point it hides from the sun (an object does not shadow its own surface: that is shading).
    fn shadows(&mut self) {
        let sun = self.g.sun;
        let hl = (sun.s[0] * sun.s[0] + sun.s[1] * sun.s[1]).sqrt().max(1e-9) as f64;
        let (sdx, sdy) = (-sun.s[0] as f64 / hl, -sun.s[1] as f64 / hl);
        let (x0, y0) = (self.xs[0], self.ys[0]);
        for (id, o) in self.objects.iter().enumerate() {
            let (ox, oy) = o.position();
            let e = o.extent() as f64;
            let len = sun.shadow_len(o.top()) as f64;
            let (ex, ey) = (ox + sdx * len, oy + sdy * len);
            let (Some((ja, jb)), Some((ia, ib))) = (
                self.span(ox.min(ex) - e, ox.max(ex) + e, x0, self.ew),
                self.span(oy.min(ey) - e, oy.max(ey) + e, y0, self.eh),
            ) else {
                continue;
            };
            let caster = o.caster(&sun);
            let flag = if o.is_building() { SHADOW_BUILDING } else { SHADOW_TREE };
            for i in ia..=ib {
                let dy = (self.ys[i] - oy) as f32;
                for j in ja..=jb {
                    let k = i * self.ew + j;
                    if self.b.top[k] == id as u32 || self.b.shade[k] & flag != 0 {
                        continue;
                    }
                    let z = self.b.dsm[k].max(self.b.veg_h[k]);
                    if caster.hits((self.xs[j] - ox) as f32, dy, z) {
                        self.b.shade[k] |= flag;
                    }
                }
            }
        }
    }

    /// Step 4: Sunlight (with shading and cast shadows) and sky light.
    fn light(&mut self) {
        let sun = self.g.sun;
        let tex_seed = (layer_seed(self.g.seed, 21) >> 32) as u32;
        for i in 0..self.eh {
            let y = self.ys[i];
            for j in 0..self.ew {
                let x = self.xs[j];
                let k = i * self.ew + j;
                let (a, normal, ao, texture) = if self.b.top[k] == NO_OBJECT {
                    let [gx, gy] = self.b.grad[k];
                    let l = (gx * gx + gy * gy + 1.0).sqrt();
                    (self.b.albedo[k], [-gx / l, -gy / l, 1.0 / l], 1.0, 1.0)
                } else {
                    match &self.objects[self.b.top[k] as usize] {
                        Object::Tree(t) => {
                            let (dx, dy) = ((x - t.x) as f32, (y - t.y) as f32);
                            let mut nrm = t.normal(dx, dy);
                            // Foliage clumps: bumpy normals and brightness.
                            let s = tex_seed ^ t.seed;
                            let (fx, fy) = (x / 0.9, y / 0.9);
                            let bx = value_noise(s, fx, fy);
                            let by = value_noise(s ^ 0x5555, fx, fy);
                            let rough = if t.species == Species::Conifer { 0.35 } else { 0.25 };
                            nrm = normalize([nrm[0] + rough * bx, nrm[1] + rough * by, nrm[2]]);
                            let clump = 0.85 + 0.075 * (bx + by);
                            let base = match t.species {
                                Species::Broadleaf => [0.06, 0.105, 0.04, 0.42],
                                Species::Birch => [0.085, 0.13, 0.055, 0.45],
                                Species::Conifer => [0.035, 0.062, 0.038, 0.29],
                                Species::Shrub => [0.065, 0.095, 0.045, 0.36],
                                Species::Fruit => [0.07, 0.115, 0.045, 0.43],
                            };
                            let tone = [t.tone[0], t.tone[1], t.tone[1], t.tone[1]];
                            let a = [0, 1, 2, 3].map(|b| base[b] * tone[b]);
                            // Lower crown parts see less sky.
                            let ao = 0.55
                                + 0.45 * ((self.b.dsm[k] - (t.h - t.rv)) / t.rv).clamp(0.0, 1.0);
                            (a, nrm, ao, clump)
                        }
                        Object::Building(b) => {
                            let (dx, dy) = ((x - b.x) as f32, (y - b.y) as f32);
                            let nrm = b.normal(dx, dy);
                            let (u, v) = b.local(dx, dy);
                            // Roof texture: tile courses, darker ridge and edges.
                            let course = 1.0
                                + 0.04
                                    * value_noise(
                                        b.seed ^ tex_seed,
                                        (v / 0.8) as f64,
                                        (u / 4.0) as f64,
                                    );
                            let edge = if b.b - v.abs() < 0.35 || b.a - u.abs() < 0.35 {
                                0.85
                            } else {
                                1.0
                            };
                            let ridge = if v.abs() < 0.25 && b.ridge > b.eave { 0.9 } else { 1.0 };
                            (b.albedo, nrm, 1.0, course * edge * ridge)
                        }
                    }
                };
                let cos_i = normal[0] * sun.s[0] + normal[1] * sun.s[1] + normal[2] * sun.s[2];
                let mut direct = (cos_i / sun.s[2]).max(0.0) * SUN;
                if self.b.shade[k] & SHADOW_BUILDING != 0 {
                    direct = 0.0;
                } else if self.b.shade[k] & SHADOW_TREE != 0 {
                    direct *= 0.14;
                }
                let sky_view = ao * (0.6 + 0.4 * normal[2]);
                let mut out = [0.0f32; 4];
                for b in 0..4 {
                    out[b] = a[b] * texture * (direct + SKY[b] * sky_view) + HAZE[b];
                }
                self.b.rad[k] = out;
            }
        }
    }

    /// Step 5: Optics (separable [0.2, 0.6, 0.2] blur), sensor noise, quantisation; labels.
    fn output(&mut self, w: Window) -> SceneTile {
        let cfg = &self.g.cfg;
        let nb = if cfg.nir { 4 } else { 3 };
        let ew = self.ew;
        let tone = TONE.get_or_init(Tone::new);
        let nseed = layer_seed(self.g.seed, 22);
        let mut image = Array3::<u8>::zeros((nb, w.height, w.width));
        let mut chm = Array2::<f32>::zeros((w.height, w.width));
        let mut landcover = Array2::<u8>::zeros((w.height, w.width));
        let kern = [0.2f32, 0.6, 0.2];
        let mut hblur = std::mem::take(&mut self.b.hblur);
        for i in 0..self.eh {
            for j in 1..ew - 1 {
                let k = i * ew + j;
                for b in 0..nb {
                    hblur[k][b] = GAIN[b]
                        * (kern[0] * self.b.rad[k - 1][b]
                            + kern[1] * self.b.rad[k][b]
                            + kern[2] * self.b.rad[k + 1][b]);
                }
            }
        }
        let noise = cfg.noise_dn as f32;
        for i in 0..w.height {
            let row = w.row_off + i as i64;
            for j in 0..w.width {
                let col = w.col_off + j as i64;
                let k = (i + 1) * ew + (j + 1);
                let h = hash2(nseed, row, col);
                for b in 0..nb {
                    let v = kern[0] * hblur[k - ew][b]
                        + kern[1] * hblur[k][b]
                        + kern[2] * hblur[k + ew][b];
                    let dn = tone.dn(v) + noise * gauss(h.rotate_left(16 * b as u32)) + 0.5;
                    // `as` saturates: negative -> 0, > 255 -> 255.
                    image[[b, i, j]] = dn as u8;
                }
                let (c, hgt) = if self.b.top[k] == NO_OBJECT {
                    (self.b.class[k], self.b.veg_h[k])
                } else {
                    match &self.objects[self.b.top[k] as usize] {
                        Object::Tree(t) if t.species == Species::Shrub => {
                            (Class::GrassShrub, self.b.dsm[k])
                        }
                        Object::Tree(_) => (Class::Tree, self.b.dsm[k]),
                        Object::Building(_) => (Class::Building, 0.0),
                    }
                };
                chm[[i, j]] = hgt;
                landcover[[i, j]] = c.value();
            }
        }
        self.b.hblur = hblur;
        SceneTile { window: w, image, chm, landcover }
    }
}

#[inline]
fn normalize(v: [f32; 3]) -> [f32; 3] {
    let l = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt().max(1e-9);
    [v[0] / l, v[1] / l, v[2] / l]
}
