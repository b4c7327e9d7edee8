#!/usr/bin/env bash
# Remake the pictures in docs/images/ from real runs (offline: scripted and stub models, local sandbox):
#   the trace viewer, a bench report of one run and of two runs compared, and an eval report.
# Needs Debian's chromium (apt-get install chromium). Usage: scripts/screenshots.sh [OUT_DIR]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$ROOT/docs/images}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
AF="${ALPHAFLOW:-$ROOT/.venv/bin/alphaflow}"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"  # this checkout's code, whatever the venv installed
DATA="${ALPHAFLOW_SAMPLE_DATA:-$ROOT/../shared/data/codecontests/train_sample.jsonl}"
mkdir -p "$OUT"

shot() {  # shot PAGE.html OUT.png HEIGHT
  [ -f "$1" ] || { echo "screenshots: no page at $1" >&2; exit 1; }
  rm -f "$2"
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$WORK/profile" --hide-scrollbars --window-size="1400,$3" \
    --screenshot="$2" "file://$1" >/dev/null 2>&1
  [ -f "$2" ] || { echo "screenshots: chromium wrote no $2" >&2; exit 1; }
  echo "wrote $2"
}

# 1. The trace viewer: the README's AlphaCodium dry run. The first fix round and its judging are opened.
"$AF" solve "$ROOT/examples/problems/tile_painting.md" --model "scripted:$ROOT/examples/scripted/tile_painting.yaml" \
  --sandbox local --trace "$WORK/trace.jsonl" --json >/dev/null || true
"$AF" trace show "$WORK/trace.jsonl" --html "$WORK/trace.html" >/dev/null
sed -e 's|<details class="step" id="step-fix_public-0--analyse_public" >|<details class="step" id="step-fix_public-0--analyse_public" open>|' \
    -e 's|<details class="step" id="step-fix_public-0--fixed_public_judge" >|<details class="step" id="step-fix_public-0--fixed_public_judge" open>|' \
    "$WORK/trace.html" > "$WORK/trace_open.html"
shot "$WORK/trace_open.html" "$OUT/trace_viewer.png" 2200

# 2. A bench report of one run (docs/bench.md, "Reports"): the scripted model of case 10 always writes
#    a+b, so "plus" passes and "minus" fails; then the same problems with the stub model beside it.
#    Run from the checkout so the pages show the docs' relative paths.
cd "$ROOT"
CASE=tests/fixtures/cases/10-passk-n-lt-k
"$AF" bench codecontests --data "$CASE/problems.jsonl" --flow direct --model "scripted:$CASE/model.yaml" \
  --samples 3 --sandbox local --out "$WORK/bench-scripted" --json >/dev/null
"$AF" bench codecontests --data "$CASE/problems.jsonl" --flow direct --model stub \
  --samples 2 --sandbox local --out "$WORK/bench-stub" --json >/dev/null || true  # the stub solves nothing
"$AF" bench report "$WORK/bench-scripted" >/dev/null
shot "$WORK/bench-scripted/report/report.html" "$OUT/bench_report.png" 1500
"$AF" bench report "$WORK/bench-scripted" --compare "$WORK/bench-stub" --out "$WORK/compare" >/dev/null
shot "$WORK/compare/report.html" "$OUT/bench_compare.png" 1500

# 3. An eval report (docs/judge.md, "Reports"): two scripted judges of a reference-based evaluation, with
#    the per-item rows showing where they disagree.
"$AF" eval reference --data examples/judge/reference.jsonl --model scripted:examples/judge/dry_eval.yaml \
  --judge-model scripted:examples/judge/dry_eval.yaml --judge-model scripted:examples/judge/dry_judge2.yaml \
  --out "$WORK/eval" --no-cache >/dev/null || true
shot "$WORK/eval/report.html" "$OUT/eval_report.png" 820
