#!/usr/bin/env bash
# A value a variable brings into a mapping "template" (a --param, an
# environment variable, a secret) is text: its "$$" and "${name}" are not
# read as template syntax (jobs.md: variables are expanded once), while
# the job file's own "$$" and "${field}" still are.
source "$(dirname "$0")/../lib.sh"
mkdir -p "$T/jobs" && cp -r sinks "$T/"
printf '{"id":"1","kind":"k","state":"s"}\n' >"$T/in.ndjson"
cat >"$T/jobs/t.json" <<JOB
{"name": "template-vars", "connector_version": "1.0.0",
 "source": {"type": "file", "path": "$T/in.ndjson", "format": "ndjson"},
 "transform": {"contract": "incident_link", "fields": {
   "system": {"fn": [{"template": "\${param:p}|\${id}|\$\$"}]},
   "externalId": "id", "type": "kind", "status": "state",
   "url": {"fn": [{"template": "\${env:TV_ENV}/\${secret:TV_SECRET}/\${secret:TV_NONE:-\${env:TV_ENV}}"}]},
   "priority": {"fn": [{"template": "\${param:q:-a\$\$b \${kind}}"}]}}},
 "sinks": ["warehouse"]}
JOB
export TV_ENV='$${kind}' CAIRN_SECRET_TV_SECRET='s$$${id}'
"$CAIRN" run "$T/jobs/t.json" --state "$T/state" --out "$T/out" --param p='${kind}$$' \
  >/dev/null 2>"$T/err" || fail "run: $(cat "$T/err")"
row=$(sqlite3 "$T/out/warehouse.db" 'SELECT system, url, priority FROM incident_link')
expect_eq "$row" '${kind}$$|1|$|$${kind}/s$$${id}/$${kind}|a$b k' "template values"
