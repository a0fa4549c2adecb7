#!/usr/bin/env bash
# Fetch the public conformance corpus for tests/corpus.rs into $1 (default target/corpus):
# the test images that libpng (PngSuite + testpngs, with its crashers), libjpeg-turbo
# (baseline, progressive, arithmetic, 12-bit) and libwebp ship in their Debian source
# packages, then decode each with the reference decoder (scripts/corpus_reference.py).
# Debian's source packages are fetched with a private apt configuration: the system's
# sources are not touched and no root is needed.
set -euo pipefail
dir=${1:-target/corpus}
python=${PYTHON:-python3}
[ -f "$dir/index.json" ] && { echo "corpus: $dir is ready"; exit 0; }
mkdir -p "$dir/apt/lists/partial" "$dir/src" "$dir/files"
dir=$(cd "$dir" && pwd)
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
cat >"$dir/apt/sources.list" <<SRC
deb-src http://deb.debian.org/debian $suite main
SRC
apt_opts=(-o "Dir::Etc::SourceList=$dir/apt/sources.list" -o "Dir::Etc::SourceParts=-"
  -o "Dir::State::Lists=$dir/apt/lists" -o "Dir::Cache=$dir/apt" -o "APT::Sandbox::User=root" -qq)
apt-get "${apt_opts[@]}" update
(cd "$dir/src" && apt-get "${apt_opts[@]}" source --download-only libpng1.6 libjpeg-turbo libwebp >/dev/null)
for t in "$dir"/src/*.orig.tar.[gx]z "$dir"/src/*.orig.tar.bz2; do [ -f "$t" ] || continue; tar -xf "$t" -C "$dir/src"; done
# Flat names that say where each file came from.
find "$dir"/src/libpng*/contrib/pngsuite "$dir"/src/libpng*/contrib/testpngs "$dir"/src/libjpeg-turbo*/testimages \
  "$dir"/src/libwebp* -type f \( -name '*.png' -o -name '*.jpg' -o -name '*.webp' \) | while read -r f; do
  rel=${f#"$dir/src/"}; rel=${rel#*/}
  cp "$f" "$dir/files/$(echo "$rel" | tr '/' '_')"
done
"$python" "$(dirname "$0")/corpus_reference.py" "$dir"
