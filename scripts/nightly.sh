#!/usr/bin/env bash
# One shard of the nightly's long runs, the same commands in CI (.github/workflows/nightly.yml) and
# locally. Each shard writes a run document into OUT; `merge` joins them and draws the report.
#
#   scripts/nightly.sh LANE GROUP SHARDS OUT    LANE: host | qemu-sme2 | thorough | sweep
#   scripts/nightly.sh merge OUT                 OUT/<lane>.json, OUT/<lane>.html for every lane found;
#                                                the sweep's shards joined: OUT/sweep.md, .json, -fractions.png
#
# Shards split tests with pytest-split (by recorded durations when .test_durations exists, else
# evenly by count); the sweep splits its 200 seeds into SHARDS equal ranges.
set -euo pipefail
lane=$1
python=${PYTHON:-python}

if [ "$lane" = merge ]; then
  out=$2
  for name in host qemu-sme2 thorough; do
    shards=("$out"/"$name"-*.json)
    [ -e "${shards[0]}" ] || continue
    "$python" -m pytest_litert.cli merge "${shards[@]}" --json "$out/$name.json" --force
    "$python" -m pytest_litert.cli report "$out/$name.json" --html "$out/$name.html" --force
  done
  sweeps=("$out"/sweep-*.json)
  if [ -e "${sweeps[0]}" ]; then
    "$python" -m pytest_litert.cli faults --from "${sweeps[@]}" --out "$out/sweep.md" --json "$out/sweep.json" \
      --plot "$out/sweep-fractions.png" --force
  fi
  exit 0
fi

group=$2
shards=$3
out=$4
mkdir -p "$out"
split=(--splits "$shards" --group "$group")
report="$out/$lane-$group.json"
case "$lane" in
  host)
    "$python" -m pytest -p no:cacheprovider --pyargs pytest_litert.suite --litert-shapes=all -k "not property" \
      "${split[@]}" --litert-report-json="$report" ;;
  qemu-sme2)
    "$python" -m pytest_litert.cli emulator setup
    "$python" -m pytest -p no:cacheprovider --pyargs pytest_litert.suite -m sme2 --litert-target=qemu-sme2 \
      --litert-require-sme2 --litert-shapes=all -k "not property" "${split[@]}" --litert-report-json="$report" ;;
  thorough)
    "$python" -m pytest -p no:cacheprovider --pyargs pytest_litert.suite -k test_cell_property \
      --hypothesis-profile=litert-thorough "${split[@]}" --litert-report-json="$report" ;;
  sweep)
    per=$(( (200 + shards - 1) / shards ))
    first=$(( (group - 1) * per ))
    "$python" -m pytest_litert.cli faults --seeds "$per" --first-seed "$first" --out "$out/sweep-$group.md" \
      --json "$out/sweep-$group.json" --force ;;
  *)
    echo "unknown lane $lane: host, qemu-sme2, thorough, sweep or merge" >&2
    exit 2 ;;
esac
