#!/usr/bin/env bash
# Snapshot a suite's results into results/<suite>/: leaderboard (markdown + JSON), HTML report,
# and the command, commit and machine that produced them.
#   results/snapshot.sh SUITE DATASET RESULTS_DIR "COMMAND LINE THAT RAN THE SUITE" ["NOTES"]
set -euo pipefail
suite=$1 dataset=$2 runs=$3 command=$4 notes=${5:-}
here=$(cd "$(dirname "$0")" && pwd)
out=$here/$suite
genbench=${GENBENCH:-$here/../.venv/bin/genbench}
rm -rf "$out" && mkdir -p "$out"
"$genbench" leaderboard --dataset "$dataset" --format markdown --results-dir "$runs" > "$out/leaderboard.md"
"$genbench" leaderboard --dataset "$dataset" --format json --results-dir "$runs" > "$out/leaderboard.json"
COLUMNS=80 "$genbench" leaderboard --dataset "$dataset" --results-dir "$runs" > "$out/leaderboard.txt"
"$genbench" report --dataset "$dataset" --results-dir "$runs" --out "$out/report" > /dev/null
"$genbench" runs --dataset "$dataset" --format json --results-dir "$runs" > "$out/runs.json"
# Every finished run with its metrics and full fingerprints: `genbench import results/<suite>` reads it.
"$genbench" export --results-dir "$runs" --out "$out/runs.jsonl" > /dev/null
{
  echo "# Suite \`$suite\` snapshot"
  echo
  echo "Produced by:"
  echo
  echo '```bash'
  echo "$command"
  echo '```'
  echo
  echo "- genbench commit at snapshot time: $(git -C "$here" rev-parse HEAD); each run records the commit"
  echo "  it ran from in runs.json (\`git_commit\`, \`+dirty\` when the checkout had uncommitted changes)"
  echo "- machine: $(getconf _NPROCESSORS_ONLN) CPU cores, $(uname -sm); snapshot taken $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- files: leaderboard.md / leaderboard.json (\`genbench leaderboard --format ...\`), leaderboard.txt"
  echo "  (the terminal view at 80 columns: a ranked section per task, with intervals and shared ranks), runs.json"
  echo "  (\`genbench runs --format json\`), runs.jsonl (\`genbench export\`: \`genbench import\` adds it to a store),"
  echo "  report/index.html (\`genbench report\`; open it from disk)"
  [ -n "$notes" ] && { echo; echo "$notes"; }
} > "$out/README.md"
echo "snapshot in $out"
