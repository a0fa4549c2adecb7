"""Decode every file of the conformance corpus with the reference decoder (Pillow: libjpeg-turbo,
its own PNG decoder over zlib, libwebp) and write what it saw for tests/corpus.rs:

  DIR/ref/NAME.rgba   the first frame as 8-bit RGBA, row by row
  DIR/index.json      {NAME: {"width": W, "height": H} or {"refused": "why"}}

16-bit samples are reduced to their high byte, as Pillow does for 16-bit colour PNGs, so
both sides of the comparison are 8-bit. One Pillow defect is corrected (see `rgba`).
"""
import json
import os
import sys

from PIL import Image

Image.MAX_IMAGE_PIXELS = 50_000_000  # the service's own default pixel limit


def png_bit_depth(path):
    with open(path, "rb") as f:
        head = f.read(25)
    return head[24] if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR" else None


def rgba(im, path):
    # Pillow keeps a 1/2/4-bit grey PNG's tRNS value unscaled while it scales the samples
    # to 8 bits, so the transparent grey would never match; scale it as libpng does.
    depth = png_bit_depth(path)
    if im.mode == "L" and depth in (1, 2, 4) and "transparency" in im.info:
        im.info["transparency"] = im.info["transparency"] * 255 // ((1 << depth) - 1)
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        raw = im.tobytes("raw", "I;16B") if im.mode != "I" else im.convert("I;16B").tobytes("raw", "I;16B")
        grey = Image.frombytes("L", im.size, raw[0::2])
        if "transparency" in im.info:
            t = im.info["transparency"]
            alpha = Image.frombytes("L", im.size, bytes(0 if (raw[i] << 8 | raw[i + 1]) == t else 255 for i in range(0, len(raw), 2)))
            return Image.merge("RGBA", (grey, grey, grey, alpha))
        return grey.convert("RGBA")
    return im.convert("RGBA")


def main(d):
    os.makedirs(os.path.join(d, "ref"), exist_ok=True)
    index = {}
    for name in sorted(os.listdir(os.path.join(d, "files"))):
        try:
            with Image.open(os.path.join(d, "files", name)) as im:
                im.load()
                out = rgba(im, os.path.join(d, "files", name))
        except Exception as e:  # every refusal counts, whatever Pillow raised
            index[name] = {"refused": f"{type(e).__name__}: {e}"}
            continue
        with open(os.path.join(d, "ref", name + ".rgba"), "wb") as f:
            f.write(out.tobytes())
        index[name] = {"width": out.width, "height": out.height}
    with open(os.path.join(d, "index.json"), "w") as f:
        json.dump(index, f, indent=1, sort_keys=True)
    refused = sum(1 for v in index.values() if "refused" in v)
    print(f"corpus: {len(index)} files, reference decoded {len(index) - refused}, refused {refused}")


if __name__ == "__main__":
    main(sys.argv[1])
