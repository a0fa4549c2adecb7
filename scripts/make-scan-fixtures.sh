#!/usr/bin/env bash
# Regenerate fixtures/scans/: progressive JPEGs of fixtures/image/chelsea.jpg (CC0) with the
# scan scripts tests/partial_decode.rs checks. Needs libjpeg-turbo's tools (Debian:
# libjpeg-turbo-progs). The mozjpeg script is made at test time by the linked encoder.
set -euo pipefail
cd "$(dirname "$0")/../fixtures/scans"
src=../image/chelsea.jpg
ppm=$(mktemp --suffix .ppm)
trap 'rm -f "$ppm"' EXIT
djpeg -ppm "$src" >"$ppm"
jpegtran -progressive "$src" >progressive-420.jpg                     # libjpeg's default script, 4:2:0
cjpeg -quality 88 -sample 1x1 -progressive "$ppm" >progressive-444.jpg
cjpeg -quality 88 -sample 2x1 -progressive "$ppm" >progressive-422.jpg
cjpeg -quality 88 -grayscale -progressive "$ppm" >progressive-gray.jpg
jpegtran -scans sa-per-component.txt "$src" >progressive-sa.jpg        # odd script, see the file
cjpeg -quality 88 -restart 1 -progressive "$ppm" >progressive-restart.jpg  # RST every MCU row

# fixtures/restart/: baseline JPEGs with restart markers, decoded in bands by
# tests/restart_decode.rs. jpegtran -restart N: every N MCU rows; cjpeg -restart NB: every
# N MCUs, not aligned to rows. The CMYK one needs Pillow (PYTHON, default python3).
mkdir -p ../restart && cd ../restart
jpegtran -restart 1 "$src" >restart-420-rows.jpg                      # 4:2:0, every MCU row
jpegtran -restart 2 "$src" >restart-420-2rows.jpg                     # every other row
cjpeg -quality 88 -sample 1x1 -restart 7B "$ppm" >restart-444-7mcus.jpg  # 7 MCUs: rows meet every 7th row
cjpeg -quality 88 -sample 2x1 -restart 1 "$ppm" >restart-422-rows.jpg
cjpeg -quality 88 -grayscale -restart 1 "$ppm" >restart-gray-rows.jpg
cmyk=$(mktemp --suffix .jpg)
"${PYTHON:-python3}" -c "import sys; from PIL import Image; Image.open(sys.argv[1]).convert('CMYK').save(sys.argv[2], quality=88)" "$src" "$cmyk"
jpegtran -copy all -restart 1 "$cmyk" >restart-cmyk-rows.jpg
rm -f "$cmyk"
# A 113x75 seed for the decode fuzz target (scripts/fuzz.sh): five MCU rows, two bands.
djpeg -scale 1/4 "$src" | cjpeg -quality 70 -restart 1 >restart-small.jpg
