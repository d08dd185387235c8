#!/usr/bin/env python3
"""Draws dotsync's app icon (no image tools needed): a blue rounded square with a white ring,
open at the top right like a sync arrow, around a white dot. Writes 32x32.png, 128x128.png and
icon.png (256x256) beside this script. Run it again after changing the drawing."""
import math, os, struct, zlib

def png(n, px):
    raw = b"".join(b"\x00" + bytes(px[y * n * 4:(y + 1) * n * 4]) for y in range(n))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", n, n, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))

def inside_rounded(x, y, r=0.2):
    cx, cy = min(max(x, r), 1 - r), min(max(y, r), 1 - r)
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r and 0 <= x <= 1 and 0 <= y <= 1

def white(x, y):
    d = math.hypot(x - 0.5, y - 0.5)
    ang = math.degrees(math.atan2(0.5 - y, x - 0.5)) % 360
    ring = abs(d - 0.27) <= 0.055 and not (10 <= ang <= 70)
    # The arrow head at the ring's open end (angle 70), pointing clockwise.
    ax, ay = 0.5 + 0.27 * math.cos(math.radians(70)), 0.5 - 0.27 * math.sin(math.radians(70))
    tri = [(ax - 0.11, ay - 0.07), (ax + 0.11, ay - 0.07), (ax + 0.13, ay + 0.12)]
    def sign(p, a, b):
        return (p[0] - b[0]) * (a[1] - b[1]) - (a[0] - b[0]) * (p[1] - b[1])
    s = [sign((x, y), tri[i], tri[(i + 1) % 3]) for i in range(3)]
    head = all(v >= 0 for v in s) or all(v <= 0 for v in s)
    dot = d <= 0.09
    return ring or head or dot

def draw(n):
    px = bytearray(n * n * 4)
    ss = 4
    for y in range(n):
        for x in range(n):
            cov = wh = 0
            for sy in range(ss):
                for sx in range(ss):
                    u, v = (x + (sx + 0.5) / ss) / n, (y + (sy + 0.5) / ss) / n
                    if inside_rounded(u, v):
                        cov += 1
                        wh += white(u, v)
            t = y / n
            base = (int(0x3a + (0x25 - 0x3a) * t), int(0x7b + (0x5c - 0x7b) * t), int(0xf2 + (0xd6 - 0xf2) * t))
            m = wh / max(cov, 1)
            i = (y * n + x) * 4
            px[i:i + 3] = bytes(round(c * (1 - m) + 255 * m) for c in base)
            px[i + 3] = cov * 255 // (ss * ss)
    return png(n, px)

here = os.path.dirname(os.path.abspath(__file__))
for n, name in [(32, "32x32.png"), (128, "128x128.png"), (256, "icon.png")]:
    with open(os.path.join(here, name), "wb") as f:
        f.write(draw(n))
