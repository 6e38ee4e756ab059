#!/usr/bin/env bash
# Installs the toolchain on a fresh Debian 12 machine when something is missing:
# Emscripten + binaryen (WebAssembly), clang-19 + lld-19 (the relaxed-SIMD module: Emscripten's
# clang 14 lacks the relaxed builtins), gcc + SIMDe (native build), Node.js 20 + npm, python3
# (converter), chromium, firefox-esr, webkit2gtk-driver and xvfb (browser tests). Quiet and quick
# when everything is there.
set -euo pipefail

node_too_old() { # Debian 12's own nodejs package is 18: Node.js 20 comes from elsewhere
  command -v node >/dev/null && [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]
}
if node_too_old; then
  echo "setup: Node.js $(node --version) found; Node.js 20 or newer is needed (fetch, node:test," \
       "WebAssembly SIMD): install it (e.g. from nodejs.org or NodeSource) and run again" >&2
  exit 1
fi

need=()
command -v emcc >/dev/null || need+=(emscripten)
command -v wasm-opt >/dev/null || need+=(binaryen)
command -v clang-19 >/dev/null || need+=(clang-19)
command -v wasm-ld-19 >/dev/null || need+=(lld-19)
command -v gcc >/dev/null || need+=(gcc)
command -v make >/dev/null || need+=(make)
[ -f /usr/include/simde/wasm/simd128.h ] || need+=(libsimde-dev)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
command -v python3 >/dev/null || need+=(python3)
if [ "${PLDR_SKIP_BROWSER:-0}" != 1 ]; then
  # the browser suites run in three engines (tests/engines.test.mjs): Chromium, Firefox ESR, and
  # WebKitGTK's MiniBrowser (libwebkit2gtk-4.1-0, a dependency of the driver) on an Xvfb display
  command -v chromium >/dev/null || need+=(chromium)
  command -v firefox-esr >/dev/null || need+=(firefox-esr)
  command -v WebKitWebDriver >/dev/null || need+=(webkit2gtk-driver)
  command -v Xvfb >/dev/null || need+=(xvfb)
fi
# C fuzzers and sanitizers (make fuzz-c, make test-asan): clang with its libFuzzer and sanitizer
# runtimes, and the 32-bit C and C++ libraries of the -m32 fuzz builds
command -v clang >/dev/null || need+=(clang)
compgen -G '/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a' >/dev/null || need+=(libclang-rt-14-dev)
compgen -G '/usr/lib/gcc/x86_64-linux-gnu/*/32/libstdc++.so' >/dev/null || need+=(g++-multilib)

if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}" >&2
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if node_too_old; then
  echo "setup: apt installed Node.js $(node --version); Node.js 20 or newer is needed: install it" \
       "(e.g. from nodejs.org or NodeSource) and run again" >&2
  exit 1
fi
