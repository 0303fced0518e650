/* SPDX-License-Identifier: MIT */
/* contract.c -- load a canonical contract (schemas/contracts/<name>.schema.
 * json): compile it with the JSON Schema validator, so an unsupported
 * keyword is refused here rather than silently ignored, and describe its
 * columns in a struct cairn_contract for the transform and the sinks.
 *
 * Beyond JSON Schema, a contract must hold to the rules that make every
 * output row valid against it: a versioned $id ending in
 * "/<name>/<x-cairn-version>", "type": "object", "additionalProperties":
 * false, one type per property (plus "null" exactly when the field is not
 * required), and x-cairn-key / x-cairn-partition / x-cairn-pii naming
 * existing fields (key fields required; a partition field may allow
 * null, which is then a partition value of its own), and
 * x-cairn-partition-grain. */
#include "transform/transform.h"

#include "core/fsx.h"
#include "core/jschema.h"
#include "core/jsonx.h"
#include "core/mem.h"

#include <stdlib.h>
#include <string.h>

static int valid_name(const char *name)
{
  if (!name || !*name || strlen(name) > 64)
    return 0;
  for (const char *p = name; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
      return 0;
  return 1;
}

/* Field type from a property schema; -1 when it has not exactly one
 * non-null type. *nullable tells whether "null" is allowed. */
static int field_type(const json_t *prop, int *nullable)
{
  const json_t *type = json_object_get(prop, "type");
  const json_t *fmt = json_object_get(prop, "format");
  const char *t = NULL;

  *nullable = 0;
  if (json_is_string(type)) {
    t = json_string_value(type);
  } else if (json_is_array(type)) {
    for (size_t i = 0; i < json_array_size(type); i++) {
      const char *s = json_string_value(json_array_get(type, i));
      if (!s)
        return -1;
      if (strcmp(s, "null") == 0) {
        *nullable = 1;
      } else if (t) {
        return -1;
      } else {
        t = s;
      }
    }
  }
  if (!t)
    return -1;
  if (strcmp(t, "number") == 0)
    return CAIRN_F_NUMBER;
  if (strcmp(t, "integer") == 0)
    return CAIRN_F_INTEGER;
  if (strcmp(t, "boolean") == 0)
    return CAIRN_F_BOOLEAN;
  if (strcmp(t, "object") == 0)
    return CAIRN_F_OBJECT;
  if (strcmp(t, "array") == 0)
    return CAIRN_F_ARRAY;
  if (strcmp(t, "string") == 0)
    return json_is_string(fmt) &&
                   strcmp(json_string_value(fmt), "date-time") == 0
               ? CAIRN_F_DATETIME
               : CAIRN_F_STRING;
  return -1;
}

/* Field indexes named by the array doc[kw] (absent: none). */
static int name_list(struct cairn_contract *c, const json_t *doc,
                     const char *kw, const char *path, size_t **out,
                     size_t *n_out, cairn_err *err)
{
  const json_t *a = json_object_get(doc, kw);
  *out = NULL;
  *n_out = 0;
  if (!a)
    return CAIRN_OK;
  if (!json_is_array(a))
    return CAIRN_RAISE(err, CAIRN_ESCHEMA, 0, "%s: %s must be an array of "
                       "field names", path, kw);
  *out = cairn_xcalloc(json_array_size(a) + 1, sizeof **out);
  for (size_t i = 0; i < json_array_size(a); i++) {
    const char *name = json_string_value(json_array_get(a, i));
    long f = name ? cairn_contract_field(c, name) : -1;
    if (f < 0)
      return CAIRN_RAISE(err, CAIRN_ESCHEMA, 0, "%s: %s/%zu names no field "
                         "of the contract", path, kw, i);
    (*out)[(*n_out)++] = (size_t)f;
  }
  return CAIRN_OK;
}

/* x-cairn-partition-grain: {"field": "day" | "month"} for date-time
 * partition fields (day when absent; see cairn_contract_part_cut). */
static int partition_grain(struct cairn_contract *c, const json_t *doc,
                           const char *path, cairn_err *err)
{
  static const char kw[] = "x-cairn-partition-grain";
  const json_t *g = json_object_get(doc, kw), *v;
  const char *name;
  unsigned char *cut = cairn_xcalloc(c->n_partition + 1, 1);

  for (size_t k = 0; k < c->n_partition; k++) /* the defaults */
    cut[k] = (unsigned char)cairn_contract_part_cut(c, k);
  c->partition_cut = cut;
  if (!g)
    return CAIRN_OK;
  if (!json_is_object(g))
    return CAIRN_RAISE(err, CAIRN_ESCHEMA, 0, "%s: %s must be an object of "
                       "partition field: \"day\" | \"month\"", path, kw);
  json_object_foreach((json_t *)g, name, v) {
    const char *grain = json_string_value(v);
    long f = cairn_contract_field(c, name);
    size_t k = 0;
    while (k < c->n_partition && (long)c->partition[k] != f)
      k++;
    if (f < 0 || k == c->n_partition ||
        c->fields[f].type != CAIRN_F_DATETIME)
      return CAIRN_RAISE(err, CAIRN_ESCHEMA, 0, "%s: %s/%s: not a date-time "
                         "field of x-cairn-partition", path, kw, name);
    if (grain && strcmp(grain, "day") == 0)
      c->partition_cut[k] = CAIRN_PART_DAY;
    else if (grain && strcmp(grain, "month") == 0)
      c->partition_cut[k] = CAIRN_PART_MONTH;
    else
      return CAIRN_RAISE(err, CAIRN_ESCHEMA, 0, "%s: %s/%s must be \"day\" "
                         "or \"month\"", path, kw, name);
  }
  return CAIRN_OK;
}

static int describe(struct cairn_contract *c, const json_t *doc,
                    const char *path, cairn_err *err)
{
  const json_t *props = json_object_get(doc, "properties");
  const json_t *req = json_object_get(doc, "required");
  const json_t *ver = json_object_get(doc, "x-cairn-version");
  const json_t *id = json_object_get(doc, "$id");
  const json_t *type = json_object_get(doc, "type");
  const char *key;
  json_t *prop;
  size_t *pii = NULL, n_pii = 0, k = 0;
  char *want = NULL;
  int rc = CAIRN_OK;

  if (!json_is_string(id) || !json_is_string(ver)) {
    rc = CAIRN_RAISE(err, CAIRN_ESCHEMA, 0, "%s: a contract needs \"$id\" "
                     "and \"x-cairn-version\"", path);
    goto done;
  }
  want = cairn_strfmt("/%s/%s", c->name, json_string_value(ver));
  if (strlen(json_string_value(id)) < strlen(want) ||
      strcmp(json_string_value(id) + strlen(json_string_value(id)) -
             strlen(want), want) != 0) {
    rc = CAIRN_RAISE(err, CAIRN_ESCHEMA, 0, "%s: \"$id\" must end with "
                     "\"%s\"", path, want);
    goto done;
  }
  c->id = cairn_xstrdup(json_string_value(id));
  c->version = cairn_xstrdup(json_string_value(ver));
  if (!json_is_string(type) || strcmp(json_string_value(type), "object") ||
      !json_is_object(props) || json_object_size(props) == 0 ||
      !json_is_false(json_object_get(doc, "additionalProperties"))) {
    rc = CAIRN_RAISE(err, CAIRN_ESCHEMA, 0, "%s: a contract is \"type\": "
                     "\"object\" with \"properties\" and "
                     "\"additionalProperties\": false", path);
    goto done;
  }
  c->fields = cairn_xcalloc(json_object_size(props), sizeof *c->fields);
  json_object_foreach((json_t *)props, key, prop) {
    int nullable = 0;
    int t = json_is_object(prop) ? field_type(prop, &nullable) : -1;
    if (t < 0) {
      rc = CAIRN_RAISE(err, CAIRN_ESCHEMA, 0, "%s: property \"%s\" needs "
                       "one \"type\" (optionally with \"null\")", path, key);
      goto done;
    }
    c->fields[k].name = cairn_xstrdup(key);
    c->fields[k].type = t;
    /* -1 marks "allows null" until "required" is read below. */
    c->fields[k].required = nullable ? -1 : 0;
    c->n_fields = ++k;
  }
  for (size_t i = 0; json_is_array(req) && i < json_array_size(req); i++) {
    const char *name = json_string_value(json_array_get(req, i));
    long f = name ? cairn_contract_field(c, name) : -1;
    if (f < 0) {
      rc = CAIRN_RAISE(err, CAIRN_ESCHEMA, 0, "%s: required/%zu names no "
                       "property", path, i);
      goto done;
    }
    if (c->fields[f].required < 0) {
      rc = CAIRN_RAISE(err, CAIRN_ESCHEMA, 0, "%s: required field \"%s\" "
                       "must not allow null", path, name);
      goto done;
    }
    c->fields[f].required = 1;
  }
  for (size_t i = 0; i < c->n_fields; i++) {
    if (c->fields[i].required == 0) {
      rc = CAIRN_RAISE(err, CAIRN_ESCHEMA, 0, "%s: optional field \"%s\" "
                       "must allow null (\"type\": [\"...\", \"null\"])",
                       path, c->fields[i].name);
      goto done;
    }
    if (c->fields[i].required < 0)
      c->fields[i].required = 0;
  }
  rc = name_list(c, doc, "x-cairn-key", path, &c->key, &c->n_key, err);
  if (rc == CAIRN_OK)
    rc = name_list(c, doc, "x-cairn-partition", path, &c->partition,
                   &c->n_partition, err);
  if (rc == CAIRN_OK)
    rc = name_list(c, doc, "x-cairn-pii", path, &pii, &n_pii, err);
  if (rc < 0)
    goto done;
  if (!c->n_key) {
    rc = CAIRN_RAISE(err, CAIRN_ESCHEMA, 0, "%s: x-cairn-key must name at "
                     "least one field", path);
    goto done;
  }
  for (size_t i = 0; i < c->n_key; i++) {
    size_t f = c->key[i];
    if (!c->fields[f].required) {
      rc = CAIRN_RAISE(err, CAIRN_ESCHEMA, 0, "%s: key field \"%s\" must "
                       "be required", path, c->fields[f].name);
      goto done;
    }
  }
  for (size_t i = 0; i < n_pii; i++)
    c->fields[pii[i]].pii = 1;
  rc = partition_grain(c, doc, path, err);
done:
  free(pii);
  free(want);
  return rc;
}

int cairn_contract_load(const char *schemas_dir, const char *name,
                        struct cairn_contract **out, cairn_err *err)
{
  struct cairn_contract *c = NULL;
  char *dir = cairn_path_join(schemas_dir, "contracts");
  char *file = cairn_strfmt("%s.schema.json", valid_name(name) ? name : "");
  char *path = cairn_path_join(dir, file);
  json_t *doc = NULL;
  cairn_schema *schema = NULL;
  cairn_err local = {0};
  int rc = CAIRN_OK;

  *out = NULL;
  if (!valid_name(name) || !cairn_fs_exists(path)) {
    char *have = cairn_fs_list_names(dir, ".schema.json");
    rc = CAIRN_RAISE(err, CAIRN_EUSAGE, 0, "unknown contract \"%s\" "
                     "(have: %s)", name ? name : "", have ? have : "none");
    free(have);
    goto done;
  }
  rc = cairn_json_load_file(path, &doc, NULL, err);
  if (rc < 0)
    goto done;
  rc = cairn_schema_compile(doc, &schema, &local);
  if (rc < 0) {
    rc = CAIRN_RAISE(err, rc, local.cause, "%s: %s", path, local.msg);
    goto done;
  }
  c = cairn_xcalloc(1, sizeof *c);
  c->name = cairn_xstrdup(name);
  rc = describe(c, doc, path, err);
  if (rc < 0)
    goto done;
  c->schema = doc;
  doc = NULL;
  *out = c;
  c = NULL;
done:
  cairn_schema_free(schema);
  cairn_contract_free(c);
  json_decref(doc);
  free(path);
  free(file);
  free(dir);
  return rc;
}

void cairn_contract_free(struct cairn_contract *c)
{
  if (!c)
    return;
  for (size_t i = 0; i < c->n_fields; i++)
    free(c->fields[i].name);
  free(c->fields);
  free(c->key);
  free(c->partition);
  free(c->partition_cut);
  free(c->name);
  free(c->id);
  free(c->version);
  json_decref(c->schema);
  free(c);
}
