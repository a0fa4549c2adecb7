#!/usr/bin/env python3
"""Regenerate the hard-case fixtures in fixtures/image/ (needs Pillow).

The photographs (coffee.jpg, chelsea.jpg) are committed as they are; this script only
makes the synthetic hard cases from them and from drawn patterns, so the folder stays
small and every case is reproducible. Usage: scripts/make_fixtures.py [fixtures/image]
"""
import io
import struct
import sys
import zlib
from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else "fixtures/image")

# The display image of every orientation fixture: 64x48, red top-left, green top-right,
# blue bottom-left, white bottom-right. Tests check those quadrants after resizing.
def quadrants(w=64, h=48):
    im = Image.new("RGB", (w, h))
    d = ImageDraw.Draw(im)
    d.rectangle([0, 0, w // 2 - 1, h // 2 - 1], fill=(255, 0, 0))
    d.rectangle([w // 2, 0, w - 1, h // 2 - 1], fill=(0, 255, 0))
    d.rectangle([0, h // 2, w // 2 - 1, h - 1], fill=(0, 0, 255))
    d.rectangle([w // 2, h // 2, w - 1, h - 1], fill=(255, 255, 255))
    return im

# Stored pixels = inverse of the EXIF transform, so that a viewer applying it shows quadrants().
INVERSE = {
    1: lambda im: im,
    2: lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    3: lambda im: im.transpose(Image.Transpose.ROTATE_180),
    4: lambda im: im.transpose(Image.Transpose.FLIP_TOP_BOTTOM),
    5: lambda im: im.transpose(Image.Transpose.TRANSPOSE),
    6: lambda im: im.transpose(Image.Transpose.ROTATE_90),   # stored = display rotated 90 anticlockwise
    7: lambda im: im.transpose(Image.Transpose.TRANSVERSE),
    8: lambda im: im.transpose(Image.Transpose.ROTATE_270),
}


def png16_rgb(path, w, h):
    """16-bit RGB PNG written by hand (Pillow cannot write 16-bit RGB)."""
    rows = b""
    for y in range(h):
        row = b"\x00"
        for x in range(w):
            r = int(65535 * x / (w - 1))
            g = int(65535 * y / (h - 1))
            row += struct.pack(">HHH", r, g, 32768)
        rows += row
    def chunk(t, data):
        return struct.pack(">I", len(data)) + t + data + struct.pack(">I", zlib.crc32(t + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for o, inv in INVERSE.items():
        exif = Image.Exif()
        exif[0x0112] = o
        inv(quadrants()).save(OUT / f"orient-{o}.jpg", quality=95, exif=exif.tobytes())

    # Alpha: left half fully transparent *black*, right half opaque white. Without
    # premultiplied resizing the black bleeds into a grey fringe.
    a = Image.new("RGBA", (200, 100), (0, 0, 0, 0))
    ImageDraw.Draw(a).rectangle([100, 0, 199, 99], fill=(255, 255, 255, 255))
    a.save(OUT / "alpha.png")

    # CMYK (Adobe, inverted on disk): left half pure cyan ink, right half pure magenta.
    c = Image.new("CMYK", (80, 40), (255, 0, 0, 0))
    ImageDraw.Draw(c).rectangle([40, 0, 79, 39], fill=(0, 255, 0, 0))
    c.save(OUT / "cmyk.jpg", quality=95)

    # Grayscale JPEG: a horizontal ramp.
    g = Image.linear_gradient("L").rotate(90).resize((120, 80))
    g.save(OUT / "gray.jpg", quality=90)

    # 16-bit PNGs: gray (Pillow's I;16) and RGB (by hand).
    Image.linear_gradient("L").resize((96, 64)).convert("I").point(lambda v: v * 257).convert("I;16").save(OUT / "gray16.png")
    png16_rgb(OUT / "rgb16.png", 96, 64)

    # Animated GIF: first frame red, second blue; output is the first frame.
    frames = [Image.new("RGB", (60, 40), col) for col in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(OUT / "animated.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)

    # Animated WebP: red, green, blue for 80, 120 and 200 ms (the timing must survive a resize).
    frames = [Image.new("RGB", (60, 40), col) for col in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    frames[0].save(OUT / "animated.webp", save_all=True, append_images=frames[1:], duration=[80, 120, 200], loop=0, quality=90)

    # Truncated JPEG: the first 40% of a real photograph.
    photo = (OUT / "coffee.jpg").read_bytes()
    (OUT / "truncated.jpg").write_bytes(photo[: len(photo) * 2 // 5])

    # A file whose extension lies.
    (OUT / "not-an-image.jpg").write_bytes(b"<html><body>this is not a JPEG</body></html>\n")

    # WebP original.
    Image.open(OUT / "chelsea.jpg").save(OUT / "chelsea.webp", quality=80)

    # AVIF and HEIC originals (the quadrants): Pillow writes AVIF itself; HEIC needs
    # pillow-heif (libheif + x265), skipped when it is not installed.
    quadrants().save(OUT / "quadrants.avif", quality=80)
    try:
        import pillow_heif
    except ImportError:
        print("pillow-heif not installed: quadrants.heic left as it is")
    else:
        pillow_heif.from_pillow(quadrants()).save(OUT / "quadrants.heic", quality=80)


if __name__ == "__main__":
    main()
