#!/usr/bin/env bash
# Remake the pictures in docs/images/ from real runs (offline: scripted and stub models, local sandbox):
#   the trace viewer, a bench report comparing two runs, and an eval report.
# Needs Debian's chromium (apt-get install chromium). Usage: scripts/screenshots.sh [OUT_DIR]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$ROOT/docs/images}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
AF="${ALPHAFLOW:-$ROOT/.venv/bin/alphaflow}"
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

# 2. A bench report comparing two dry runs (direct vs AlphaCodium, stub model) on 6 sample problems.
for flow in direct alphacodium; do
  "$AF" bench codecontests --data "$DATA" --limit 6 --flow "$flow" --model stub --samples 2 \
    --sandbox local --out "$WORK/bench-$flow" --json >/dev/null || true
done
"$AF" bench report "$WORK/bench-direct" --compare "$WORK/bench-alphacodium" >/dev/null
shot "$WORK/bench-direct/report/report.html" "$OUT/bench_report.png" 2400

# 3. An eval report: rubric scores by the scripted judge of examples/judge/dry_eval.yaml.
"$AF" eval rubric --data "$ROOT/examples/judge/rubric.jsonl" --model "scripted:$ROOT/examples/judge/dry_eval.yaml" \
  --out "$WORK/eval" >/dev/null || true
shot "$WORK/eval/report.html" "$OUT/eval_report.png" 1800
