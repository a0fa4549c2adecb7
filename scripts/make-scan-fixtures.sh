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
