#!/usr/bin/env bash
# medkern tune: writes a tuning file (parameters and tuned variants) the next context
# reads, and rejects bad input.
set -u
mk="$1"
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }

check "tune on ref (no parameters) exits 2" '"$mk" tune --device ref >/dev/null 2>&1; [ $? -eq 2 ]'
check "tune without --device exits 2" '"$mk" tune >/dev/null 2>&1; [ $? -eq 2 ]'
check "tune --op nosuch exits 2" '"$mk" tune --device ref --op nosuch >/dev/null 2>&1; [ $? -eq 2 ]'
check "tune --help exits 0" '"$mk" tune --help >/dev/null'

if ! "$mk" info | grep -q '^opencl:0'; then
  echo "SKIP: no OpenCL device for the search itself"
  [ $fail -eq 0 ] && exit 77 || exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
file="$tmp/sub/tuning.json"
check "tune --op norm writes the file" '"$mk" tune --device opencl:0 --op norm --output "$file" >"$tmp/out" 2>&1 && [ -s "$file" ]'
check "the file is JSON with params.norm.local" \
  'python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert isinstance(d[\"params\"][\"norm\"][\"local\"], int); assert d[\"device\"]" "$file"'
check "the next context reads it (kernels shows the source)" \
  'MEDKERN_TUNING_FILE="$file" "$mk" kernels --device opencl:0 | grep -E "^  norm +local +[0-9]+ +tuning file" >/dev/null'
check "groups not tuned are kept on a second run" \
  'python3 -c "import json,sys; d=json.load(open(sys.argv[1])); d[\"params\"][\"keep\"]={\"x\":3}; json.dump(d,open(sys.argv[1],\"w\"))" "$file" &&
   "$mk" tune --device opencl:0 --op elementwise --output "$file" >/dev/null 2>&1 &&
   python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d[\"params\"][\"keep\"][\"x\"]==3 and \"elementwise\" in d[\"params\"] and \"norm\" in d[\"params\"]" "$file"'
check "tune times the op's variants (one runs on this device: no entry)" \
  'grep -q "variant opencl.wg_reduce" "$tmp/out" && python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert \"rmsnorm\" not in d.get(\"variants\", {})" "$file"'
check "a re-tune replaces its op's variant entry and keeps the others" \
  'python3 -c "import json,sys; d=json.load(open(sys.argv[1])); d[\"variants\"]={\"rmsnorm\":\"opencl.stale\",\"gemm\":\"opencl.tiled\"}; json.dump(d,open(sys.argv[1],\"w\"))" "$file" &&
   "$mk" tune --device opencl:0 --op norm --output "$file" >/dev/null 2>&1 &&
   python3 -c "import json,sys; v=json.load(open(sys.argv[1]))[\"variants\"]; assert v==({\"gemm\":\"opencl.tiled\"}), v" "$file"'
check "kernels shows the tuned variant and its file" \
  'MEDKERN_TUNING_FILE="$file" "$mk" kernels --device opencl:0 --op gemm | grep -F "chosen: opencl.tiled (tuned: from $file" >/dev/null'
check "a tuned name that is no variant is ignored with the reason shown" \
  'python3 -c "import json,sys; d=json.load(open(sys.argv[1])); d[\"variants\"]={\"gemm\":\"opencl.nosuch\"}; json.dump(d,open(sys.argv[1],\"w\"))" "$file" &&
   MEDKERN_TUNING_FILE="$file" "$mk" kernels --device opencl:0 --op gemm | grep -q "opencl.nosuch.*ignored: no gemm variant has that name"'
check "a malformed tuning file is ignored with the reason shown" \
  'echo "{not json" >"$tmp/bad.json"; MEDKERN_TUNING_FILE="$tmp/bad.json" "$mk" kernels --device opencl:0 | grep -q "malformed JSON"'
qfile="$tmp/qgemm.json"
check "tune --op qgemm times each W4 GEMV kernel and writes the one it chose" \
  '"$mk" tune --device opencl:0 --op qgemm --output "$qfile" >"$tmp/q" 2>&1 &&
   grep -Eq "variant opencl.qgemv_rows +[0-9.]+ ms" "$tmp/q" &&
   grep -Eq "variant opencl.qgemv +[0-9.]+ ms" "$tmp/q" &&
   python3 -c "import json,re,sys; v=json.load(open(sys.argv[1]))[\"variants\"][\"qgemm:m<=8\"]; out=open(sys.argv[2]).read(); assert re.search(r\"variant \"+re.escape(v)+r\" +[0-9.]+ ms\", out) and (\"qgemm:m<=8 -> \"+v) in out, v" "$qfile" "$tmp/q"'
exit $fail
