#!/usr/bin/env bash
# The inputs of `make bench-compare`, fetched at bench time from Debian's packages into $1
# (default target/bench-photos), one file per class users upload. The photographs are
# KDE Plasma wallpapers (plasma-workspace-wallpapers, LGPL-3, authors in each file's
# metadata.json): Path (Risto Saukonpää), By the Water (Maciej Wiklo), Colorful Cups (Dmitri
# Popov), Evening Glow (Ian Hex), all 2560x1600 baseline JPEG. The classes the packages
# hold no photograph of are made from those photographs losslessly (progressive JPEG and
# restart markers by jpegtran, PNG, lossless WebP) or by a q90 re-encode (lossy WebP); larger originals are
# rendered wallpapers, named as such: Safe Landing 5120x2880 JPEG and Kay 1080x1920 RGBA PNG
# (KDE, CC-BY-SA-4.0), GNOME's "wood" 4096x4096 lossy WebP (gnome-backgrounds, CC-BY-SA-3.0).
set -euo pipefail
dir=${1:-target/bench-photos}
python=${PYTHON:-python3}
# .ok-N: bump N when the set changes, so an older set is made again.
[ -f "$dir/.ok-3" ] && exit 0
mkdir -p "$dir/deb"
dir=$(cd "$dir" && pwd)
command -v jpegtran >/dev/null || apt-get install -y -qq --no-install-recommends libjpeg-turbo-progs >/dev/null
(cd "$dir/deb" && apt-get download -qq plasma-workspace-wallpapers gnome-backgrounds 2>/dev/null)
for d in "$dir"/deb/*.deb; do dpkg-deb -x "$d" "$dir/deb/x"; done
w=$dir/deb/x/usr/share/wallpapers
cp "$w/Path/contents/images/2560x1600.jpg" "$dir/photo-path-baseline.jpg"
cp "$w/BytheWater/contents/images/2560x1600.jpg" "$dir/photo-water-baseline.jpg"
cp "$w/EveningGlow/contents/images/2560x1600.jpg" "$dir/photo-boats-baseline.jpg"
jpegtran -copy all -progressive "$w/ColorfulCups/contents/images/2560x1600.jpg" >"$dir/photo-cups-progressive.jpg"
jpegtran -copy all -progressive "$w/Path/contents/images/2560x1600.jpg" >"$dir/photo-path-progressive.jpg"
cp "$w/SafeLanding/contents/images/5120x2880.jpg" "$dir/render-14mp-baseline.jpg"
jpegtran -copy all -progressive "$w/SafeLanding/contents/images/5120x2880.jpg" >"$dir/render-14mp-progressive.jpg"
# Restart markers at every MCU row, as Photoshop and many cameras write them (lossless).
jpegtran -copy all -restart 1 "$w/Path/contents/images/2560x1600.jpg" >"$dir/photo-path-restart.jpg"
jpegtran -copy all -restart 1 "$w/BytheWater/contents/images/2560x1600.jpg" >"$dir/photo-water-restart.jpg"
jpegtran -copy all -restart 1 "$w/SafeLanding/contents/images/5120x2880.jpg" >"$dir/render-14mp-restart.jpg"
cp "$w/Kay/contents/images/1080x1920.png" "$dir/render-rgba.png"
cp "$dir/deb/x/usr/share/backgrounds/gnome/wood-l.webp" "$dir/render-16mp-lossy.webp"
"$python" - "$w" "$dir" <<'PY'
import sys
from PIL import Image
w, d = sys.argv[1:]
boats = Image.open(f"{w}/EveningGlow/contents/images/2560x1600.jpg").convert("RGB")
boats.save(f"{d}/photo-boats.png", optimize=False)
boats.save(f"{d}/photo-boats-lossless.webp", lossless=True, method=4)
cups = Image.open(f"{w}/ColorfulCups/contents/images/2560x1600.jpg").convert("RGB")
cups.save(f"{d}/photo-cups-lossy.webp", quality=90, method=4)
PY
rm -rf "$dir/deb"
touch "$dir/.ok-3"
ls -la "$dir"
