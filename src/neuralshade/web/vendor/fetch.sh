#!/usr/bin/env bash
# Re-vendor onnxruntime-web from npm into onnxruntime-web/ (the page loads nothing from a CDN).
# Only the WebGPU build is kept: its one WebAssembly binary (the "asyncify" one) runs both the
# WebGPU execution provider and the plain WebAssembly one, so one set of files serves every
# browser. Usage: bash src/neuralshade/web/vendor/fetch.sh [VERSION]
set -euo pipefail
version="${1:-1.23.2}"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "onnxruntime-web@$version" >/dev/null && tar xzf ./*.tgz)
dest="$here/onnxruntime-web"
rm -rf "$dest" && mkdir -p "$dest"
for f in ort.webgpu.min.mjs ort-wasm-simd-threaded.asyncify.mjs ort-wasm-simd-threaded.asyncify.wasm; do
  cp "$work/package/dist/$f" "$dest/"
done
license="$(node -e "console.log(require('$work/package/package.json').license)")"
cat > "$dest/README.md" <<TXT
onnxruntime-web $version, from npm (\`npm pack onnxruntime-web@$version\`), licence $license
(Copyright (c) Microsoft Corporation; see LICENSE). Files kept: the WebGPU build
(ort.webgpu.min.mjs) and the WebAssembly binary it loads, which also runs the plain
WebAssembly execution provider. Regenerate with: bash src/neuralshade/web/vendor/fetch.sh
TXT
cat > "$dest/LICENSE" <<'TXT'
MIT License

Copyright (c) Microsoft Corporation.

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
TXT
echo "vendored onnxruntime-web $version into $dest"
