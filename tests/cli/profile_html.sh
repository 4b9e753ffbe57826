#!/usr/bin/env bash
# The HTML report of `medkern profile`, rendered in headless Chromium (Debian's chromium
# package), and the report schema (docs/profile-report.schema.json, python3-jsonschema):
#  - the sample reports in tests/data/profile/ validate against the schema, and broken
#    copies (a missing or mistyped field, a wrong enum value) do not;
#  - each sample is rendered to HTML: with `medkern profile --from-json R --html OUT` when
#    the CLI has that option (its output must then equal the renderer's own, from
#    `test_profile_render --render html`), else with test_profile_render alone;
#  - Chromium loads the page (--dump-dom with --screenshot, one run per page): title, headings, one roofline point per plottable
#    kernel row at log-log positions, the roof where the ceilings say, one bar per row sized
#    by its share, the kernel tables in time order, the warnings, no scripts or links out;
#  - a screenshot of each page is not blank and shows the phases' colours.
# Skips (77) when chromium or python3 with jsonschema is missing (tools/setup-debian.sh
# installs both).
# Usage: bash profile_html.sh path/to/medkern
set -u
MK=${1:?usage: profile_html.sh path/to/medkern}
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=${MEDKERN_SOURCE_DIR:-$HERE/../..}
BIN=${MEDKERN_BINARY_DIR:-$(dirname "$MK")/..}
RENDER=$BIN/tests/test_profile_render
CHROMIUM=${MEDKERN_CHROMIUM:-chromium}
SAMPLES="full empty names"
W=1100
H=1200

command -v "$CHROMIUM" >/dev/null 2>&1 || { echo "SKIP: $CHROMIUM not installed"; exit 77; }
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 not installed"; exit 77; }
python3 -c 'import jsonschema' 2>/dev/null || { echo "SKIP: python3 jsonschema not installed"; exit 77; }
[ -x "$RENDER" ] || { echo "FAIL: $RENDER not built" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$HERE/../support/cli_lib.sh"
CHECK="python3 $HERE/profile_html_check.py"

# chromium as root needs --no-sandbox; a fresh profile and HOME keep it off the real ones
export HOME=$tmp/home
mkdir -p "$HOME"
chrome() {
    timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-extensions \
        --no-first-run --disable-dev-shm-usage --hide-scrollbars --force-device-scale-factor=1 \
        --user-data-dir="$tmp/profile" "$@" 2>>"$tmp/chromium.log"
}

checks=$((checks + 1))
$CHECK schema "$SRC/docs/profile-report.schema.json" \
    $(for s in $SAMPLES; do echo "$SRC/tests/data/profile/$s.json"; done) ||
    fail "schema checks"

use_cli=0
if "$MK" profile --help 2>&1 | grep -q -- '--from-json'; then use_cli=1; fi
echo "rendering with $([ $use_cli = 1 ] && echo "medkern profile --from-json" || echo test_profile_render)"

for s in $SAMPLES; do
    json=$SRC/tests/data/profile/$s.json
    page=$tmp/$s.html
    checks=$((checks + 1))
    "$RENDER" --render html "$json" "$page" || { fail "$s: test_profile_render --render html"; continue; }
    if [ $use_cli = 1 ]; then
        expect 0 profile --from-json "$json" --html "$tmp/$s.cli.html" &&
            { checks=$((checks + 1)); cmp -s "$page" "$tmp/$s.cli.html" ||
                fail "$s: medkern profile --from-json --html differs from the renderer's page"; }
        [ -s "$tmp/$s.cli.html" ] && page=$tmp/$s.cli.html
    fi
    # one Chromium run: the DOM after parsing and layout on stdout, a screenshot to a file
    checks=$((checks + 1))
    if chrome --window-size=$W,$H --screenshot="$tmp/$s.png" --dump-dom "file://$page" \
        >"$tmp/$s.dom" && [ -s "$tmp/$s.dom" ] && [ -s "$tmp/$s.png" ]; then
        checks=$((checks + 2))
        $CHECK dom "$json" "$tmp/$s.dom" || fail "$s: DOM checks"
        $CHECK png "$json" "$tmp/$s.png" $W $H || fail "$s: screenshot checks"
    else
        fail "$s: chromium failed: $(tail -c 600 "$tmp/chromium.log")"
    fi
done

echo "profile_html: $((checks - fails)) passed, $fails failed"
[ "$fails" = 0 ]
