#!/bin/sh
# Build the compiled step (src/apsis_export/_native.c) with AddressSanitizer, UndefinedBehavior-
# Sanitizer and libFuzzer's coverage into the folder $1; print the module's path. The installed
# module is left as it is: fuzz/run.sh loads this build in its place (APSIS_FUZZ_NATIVE).
set -eu
out=$1
python=${PYTHON:-python3}
include=$("$python" -c "import sysconfig; print(sysconfig.get_paths()['include'])")
suffix=$("$python" -c "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))")
here=$(cd "$(dirname "$0")/.." && pwd)
clang -shared -fPIC -std=c99 -g -O1 -fno-omit-frame-pointer \
    -fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=all \
    -I"$include" "$here/src/apsis_export/_native.c" -o "$out/_native$suffix"
echo "$out/_native$suffix"
