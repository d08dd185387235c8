//! The tray's icons, drawn here rather than shipped as files: one per state at a glance, told
//! apart by colour and by a glyph (for people who do not see the colours): a check (in sync), a
//! ring (syncing), an exclamation mark (conflict), a cross (needs you), a dash (offline).

use crate::glance::Glance;

/// Side of the square icon in pixels (trays scale it down; 64 stays sharp on high-DPI panels).
pub const SIZE: u32 = 64;

type Segment = ((f32, f32), (f32, f32));

fn colour(g: Glance) -> [u8; 3] {
    match g {
        Glance::InSync => [0x2e, 0x9d, 0x5b],
        Glance::Syncing => [0x2f, 0x6f, 0xd6],
        Glance::Conflict => [0xe0, 0x8a, 0x00],
        Glance::Error => [0xd3, 0x32, 0x32],
        Glance::Offline => [0x80, 0x80, 0x80],
    }
}

/// The glyph as thick strokes on a unit square (0..1), plus whether it is a ring.
fn glyph(g: Glance) -> (Vec<Segment>, bool) {
    match g {
        Glance::InSync => (
            vec![((0.28, 0.52), (0.44, 0.68)), ((0.44, 0.68), (0.73, 0.34))],
            false,
        ),
        Glance::Syncing => (vec![], true),
        Glance::Conflict => (
            vec![((0.5, 0.24), (0.5, 0.58)), ((0.5, 0.74), (0.5, 0.745))],
            false,
        ),
        Glance::Error => (
            vec![((0.33, 0.33), (0.67, 0.67)), ((0.67, 0.33), (0.33, 0.67))],
            false,
        ),
        Glance::Offline => (vec![((0.3, 0.5), (0.7, 0.5))], false),
    }
}

fn dist_to_segment(p: (f32, f32), (a, b): Segment) -> f32 {
    let (vx, vy) = (b.0 - a.0, b.1 - a.1);
    let (wx, wy) = (p.0 - a.0, p.1 - a.1);
    let len2 = vx * vx + vy * vy;
    let t = if len2 == 0.0 {
        0.0
    } else {
        ((wx * vx + wy * vy) / len2).clamp(0.0, 1.0)
    };
    let (dx, dy) = (p.0 - (a.0 + t * vx), p.1 - (a.1 + t * vy));
    (dx * dx + dy * dy).sqrt()
}

/// The icon of `g` as RGBA pixels, `SIZE`×`SIZE`, anti-aliased by 4×4 supersampling.
pub fn rgba(g: Glance) -> Vec<u8> {
    let [r, gr, b] = colour(g);
    let (strokes, ring) = glyph(g);
    let stroke = 0.065;
    let n = SIZE as usize;
    let mut out = vec![0u8; n * n * 4];
    for y in 0..n {
        for x in 0..n {
            let (mut disc, mut mark) = (0u32, 0u32);
            for sy in 0..4 {
                for sx in 0..4 {
                    let p = (
                        (x as f32 + (sx as f32 + 0.5) / 4.0) / n as f32,
                        (y as f32 + (sy as f32 + 0.5) / 4.0) / n as f32,
                    );
                    let d = ((p.0 - 0.5).powi(2) + (p.1 - 0.5).powi(2)).sqrt();
                    if d <= 0.47 {
                        disc += 1;
                        let on_ring =
                            ring && (d - 0.25).abs() <= stroke && !(p.0 > 0.5 && p.1 < 0.5);
                        if on_ring || strokes.iter().any(|s| dist_to_segment(p, *s) <= stroke) {
                            mark += 1;
                        }
                    }
                }
            }
            let i = (y * n + x) * 4;
            let m = mark as f32 / disc.max(1) as f32;
            let mix = |c: u8| (f32::from(c) * (1.0 - m) + 255.0 * m).round() as u8;
            out[i] = mix(r);
            out[i + 1] = mix(gr);
            out[i + 2] = mix(b);
            out[i + 3] = (disc * 255 / 16) as u8;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Glance; 5] = [
        Glance::InSync,
        Glance::Syncing,
        Glance::Conflict,
        Glance::Error,
        Glance::Offline,
    ];

    #[test]
    fn every_state_has_its_own_icon() {
        let icons: Vec<Vec<u8>> = ALL.iter().map(|g| rgba(*g)).collect();
        for (i, a) in icons.iter().enumerate() {
            assert_eq!(a.len(), (SIZE * SIZE * 4) as usize);
            for b in &icons[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn the_glyph_is_drawn_in_white_on_the_disc() {
        // Without colour the icons still differ: count the white pixels of each glyph.
        let whites: Vec<usize> = ALL
            .iter()
            .map(|g| {
                rgba(*g)
                    .chunks(4)
                    .filter(|p| p[0] == 255 && p[1] == 255 && p[2] == 255 && p[3] == 255)
                    .count()
            })
            .collect();
        assert!(whites.iter().all(|w| *w > 20), "{whites:?}");
        let mut sorted = whites.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), ALL.len(), "{whites:?}");
    }
}
