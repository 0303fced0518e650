#!/usr/bin/env bash
# `make run`: the demo job, offline, from the shipped fixture.
set -euo pipefail
BIN="${1:-bin/cairn}"
cd "$(dirname "$0")/.."
"$BIN" run jobs/demo-cost.json --log-format text "${@:2}"
rows=$(sqlite3 out/warehouse.db 'SELECT count(*) FROM cost_record')
total=$(sqlite3 out/warehouse.db 'SELECT printf("%.2f", sum(billedCost)) FROM cost_record')
echo "demo: out/warehouse.db holds $rows cost_record rows (billedCost total $total USD);
      evidence bundle: $(ls -t out/evidence/demo-cost/*.tar | sed -n 1p)"
echo "      try: sqlite3 out/warehouse.db 'SELECT serviceName, round(sum(billedCost),2) FROM cost_record GROUP BY 1'"
