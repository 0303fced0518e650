#!/usr/bin/env bash
# The job and sink file keys the docs describe are the keys the schemas
# (and so cairn validate) accept: every key of job.schema.json and
# sink.schema.json is named where the docs describe its object, and every
# key a reference table lists (a row "| `key` | ...") is one the schema
# has. A key added to a schema without its doc, or a doc row left for a
# key that went, fails here. (A source's "type" is the Sources table's.)
source "$(dirname "$0")/../lib.sh"
python3 - <<'PY' || fail "the docs and the schemas' keys differ (above)"
import json, re, sys
job = json.load(open('schemas/job.schema.json'))
sink = json.load(open('schemas/sink.schema.json'))
d = job['$defs']
http = d['source_http']['properties']
def keys(node):
    return set(node.get('properties', {}))
def section(doc, start, end=None):
    text = open(doc).read()
    i = text.index(start)
    j = text.index(end, i + len(start)) if end else len(text)
    return text[i:j]
def rows(text):
    return set(re.findall(r'^\| `([a-z_$]+)` \|', text, re.M))
bad = []
# object -> (its keys, where the docs describe them, rows that must be keys)
checks = [
    ('job', keys(job), section('docs/jobs.md', '## Job file', '### Sources'), True),
    ('sink file', keys(sink), section('docs/jobs.md', '## Sink files', '`sqlite` sink:'), True),
    ('params entry', keys(job['properties']['params']['additionalProperties']),
     section('docs/jobs.md', '| `params`', '\n'), False),
    ('job sinks entry', keys(job['properties']['sinks']['items']),
     section('docs/jobs.md', '| `sinks`', '\n'), False),
    ('file source', keys(d['source_file']) - {'type'}, section('docs/jobs.md', '`file` source keys', '**Largest'), False),
    ('cost_export source', keys(d['source_cost_export']) - {'type'},
     section('docs/jobs.md', '`cost_export` source keys', '## Variables'), False),
    ('sqlite source', keys(d['source_sqlite']) - {'type'},
     section('docs/evidence.md', '### The `sqlite` source'), True),
    ('transform', keys(job['properties']['transform']),
     section('docs/mapping.md', '## 1. The `transform` object', '## 2.'), True),
    ('http source', keys(d['source_http']), section('docs/jobs-http.md', '## Keys', '### `request`'), True),
    ('http request', keys(http['request']), section('docs/jobs-http.md', '### `request`', '## Paging'), True),
    ('http paging', keys(http['paging']) | keys(http['paging']['properties']['total'])
     | keys(http['paging']['properties']['truncated']),
     section('docs/jobs-http.md', '## Paging', '## Credentials'), False),
    ('http auth', keys(http['auth']) - {'type'}, section('docs/jobs-http.md', '## Credentials', '## Hosts'), False),
    ('http retry and circuit', keys(http['retry']) | keys(http['circuit']),
     section('docs/jobs-http.md', '## Retries', '## Incremental state'), True),
    ('http delta', keys(http['delta']), section('docs/jobs-http.md', '### Delta links', '### Watermarks'), False),
    ('http watermark', keys(http['watermark']), section('docs/jobs-http.md', '### Watermarks', '## What each'), False),
    ('http tls', keys(http['tls']), section('docs/jobs-http.md', '| `tls`', '\n'), False),
]
for what, want, text, table in checks:
    for k in sorted(want):
        if '`%s`' % k not in text and '"%s"' % k not in text:
            bad.append('%s: key "%s" is not described' % (what, k))
    if table:
        for k in sorted(rows(text) - want):
            bad.append('%s: the docs list "%s", which the schema does not accept' % (what, k))
for b in bad:
    print(b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
echo ok
