#!/bin/sh
# Fuzz the compiled step for $1 seconds (default 60) under ASan+UBSan, with the Python mapping
# as its oracle (fuzz/fuzz_native.py); further arguments go to libFuzzer (e.g. -jobs=2).
# Seeds: fuzz/corpus (read only); new inputs go to a temporary folder, and whatever fails
# to fuzz/artifacts/. Needs clang and atheris (pip install -e '.[test,fuzz]').
set -eu
seconds=${1:-60}
[ $# -gt 0 ] && shift
here=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$here/.venv/bin/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$here/fuzz/artifacts"
native=$(PYTHON="$python" sh "$here/fuzz/build.sh" "$work")
runtime=$("$python" -c "import atheris; print(atheris.path())")/asan_with_fuzzer.so
APSIS_FUZZ_NATIVE=$native LD_PRELOAD=$runtime \
ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$python" "$here/fuzz/fuzz_native.py" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 \
    -artifact_prefix="$here/fuzz/artifacts/" "$@" "$work/corpus" "$here/fuzz/corpus"
