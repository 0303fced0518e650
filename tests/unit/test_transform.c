/* SPDX-License-Identifier: MIT */
/* test_transform.c -- compile errors with pointers, CSV and JSON records
 * end to end into a batch, rejects with every reason, header changes,
 * explode, PII (hash, encrypt, drop; raw text of rejects), full schema
 * validation, and a quick throughput check. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/fsx.h"
#include "core/jschema.h"
#include "core/jsonx.h"
#include "core/log.h"
#include "transform/pii.h"
#include "transform/transform.h"

#define KEY_HEX "000102030405060708090a0b0c0d0e0f" \
                "101112131415161718191a1b1c1d1e1f"
#define KEY_B64 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define KEY2_HEX "ff0102030405060708090a0b0c0d0e0f" \
                 "101112131415161718191a1b1c1d1e1f"

static void quiet(void)
{
  static FILE *null_out;
  if (!null_out)
    null_out = fopen("/dev/null", "w");
  cairn_log_init(1, CAIRN_LOG_ERROR, null_out);
}

TestSuite(transform, .init = quiet);

/* ---- helpers ---------------------------------------------------------- */

struct fx {
  struct cairn_contract *c;
  cairn_transform       *t;
  struct cairn_batch    *b;
  size_t                *order;
  struct cairn_buf       line;
};

static void fx_open(struct fx *fx, const char *contract, const char *cfg)
{
  cairn_err err = {0};
  json_error_t je;
  json_t *j = json_loads(cfg, 0, &je);
  char *ptr = NULL;
  int rc;

  memset(fx, 0, sizeof *fx);
  cr_assert_not_null(j, "bad test cfg: %s (col %d)", je.text, je.column);
  rc = cairn_contract_load(CAIRN_SCHEMAS, contract, &fx->c, &err);
  cr_assert_eq(rc, CAIRN_OK, "%s", err.msg);
  rc = cairn_transform_create(j, fx->c, &fx->t, &ptr, &err);
  cr_assert_eq(rc, CAIRN_OK, "%s at %s", err.msg, ptr ? ptr : "?");
  json_decref(j);
  fx->b = cairn_batch_create(fx->c->n_fields);
  fx->order = cairn_contract_sorted_order(fx->c);
}

static void fx_close(struct fx *fx)
{
  cairn_transform_free(fx->t);
  cairn_batch_free(fx->b);
  cairn_contract_free(fx->c);
  free(fx->order);
  cairn_buf_free(&fx->line);
}

static const char *row(struct fx *fx, size_t r)
{
  fx->line.len = 0;
  cr_assert_lt(r, fx->b->n_rows);
  cairn_batch_row_json(fx->b, fx->c, fx->order, r, &fx->line);
  return fx->line.data;
}

/* Compile expecting failure: "message@pointer". */
static char failure[1024];

static const char *compile_fail(const char *contract, const char *cfg)
{
  struct cairn_contract *c = NULL;
  cairn_transform *t = NULL;
  cairn_err err = {0};
  char *ptr = NULL;
  json_t *j = json_loads(cfg, 0, NULL);
  int rc;

  cr_assert_not_null(j, "bad test cfg %s", cfg);
  cr_assert_eq(cairn_contract_load(CAIRN_SCHEMAS, contract, &c, &err), 0);
  rc = cairn_transform_create(j, c, &t, &ptr, &err);
  cr_assert_eq(rc, CAIRN_EUSAGE, "expected a compile error, got %d (%s)", rc,
               err.msg);
  cr_assert_null(t);
  snprintf(failure, sizeof failure, "%s@%s", err.msg, ptr ? ptr : "(none)");
  free(ptr);
  json_decref(j);
  cairn_contract_free(c);
  return failure;
}

/* A CSV file: one header, then lines split on '|' (no quoting needed in
 * the tests; the cells are the decoded texts). */
struct csvf {
  struct cairn_header h;
  char  *names[64];
  char   hbuf[2048];
  char   lbuf[4096];
  const char *cols[64];
  size_t lens[64];
  char   pos[32];
};

static uint64_t next_header_id = 1;

static void csv_header(struct csvf *f, const char *names)
{
  char *save = NULL;
  memset(&f->h, 0, sizeof f->h);
  snprintf(f->hbuf, sizeof f->hbuf, "%s", names);
  for (char *t = strtok_r(f->hbuf, ",", &save); t;
       t = strtok_r(NULL, ",", &save))
    f->names[f->h.n_cols++] = t;
  f->h.names = f->names;
  f->h.id = next_header_id++;
}

static int csv_apply(struct fx *fx, struct csvf *f, const char *cells,
                     long line, const char *raw)
{
  struct cairn_record rec = {0};
  cairn_err err = {0};
  size_t n = 0;
  char *p;
  int rc;

  snprintf(f->lbuf, sizeof f->lbuf, "%s", cells);
  p = f->lbuf;
  for (;;) {
    char *bar = strchr(p, '|');
    f->cols[n] = p;
    if (bar)
      *bar = '\0';
    f->lens[n] = strlen(p);
    n++;
    if (!bar)
      break;
    p = bar + 1;
  }
  snprintf(f->pos, sizeof f->pos, "t.csv:%ld", line);
  rec.header = &f->h;
  rec.n_cols = n;
  rec.cols = f->cols;
  rec.col_lens = f->lens;
  rec.position = f->pos;
  rec.raw = raw;
  rec.raw_len = raw ? strlen(raw) : 0;
  rec.ragged = n != f->h.n_cols;
  rc = cairn_transform_apply(fx->t, &rec, fx->b, &err);
  cr_assert_eq(rc, CAIRN_OK, "%s", err.msg);
  return rc;
}

/* Map the JSON record doc, with page metadata m (NULL: none). */
static void apply_with_meta(struct fx *fx, const char *doc, const json_t *m)
{
  struct cairn_record rec = {0};
  cairn_err err = {0};
  json_error_t je;
  json_t *j = json_loads(doc, 0, &je);
  cr_assert_not_null(j, "bad test doc: %s", je.text);
  rec.json = j;
  rec.meta = m;
  rec.position = "page 1 #1";
  cr_assert_eq(cairn_transform_apply(fx->t, &rec, fx->b, &err), CAIRN_OK,
               "%s", err.msg);
  json_decref(j);
}

static void json_apply(struct fx *fx, const char *doc, const char *meta)
{
  json_t *m = meta ? json_loads(meta, 0, NULL) : NULL;
  apply_with_meta(fx, doc, m);
  json_decref(m);
}

/* Every good row of the batch validates against the contract schema. */
static void rows_validate(struct fx *fx)
{
  cairn_schema *s = NULL;
  cairn_err err = {0};
  cr_assert_eq(cairn_schema_compile(fx->c->schema, &s, &err), 0, "%s",
               err.msg);
  for (size_t r = 0; r < fx->b->n_rows; r++) {
    json_t *j = json_loads(row(fx, r), 0, NULL);
    cr_assert_not_null(j, "row %zu is not JSON: %s", r, fx->line.data);
    cr_assert_eq(cairn_schema_validate(s, j, NULL, NULL, 0), 0,
                 "row %zu fails its contract: %s", r, fx->line.data);
    json_decref(j);
  }
  cairn_schema_free(s);
}

/* ---- cost_record from a FOCUS CSV ------------------------------------ */

static const char cost_cfg[] =
  "{\"contract\": \"cost_record\", \"max_reject_ratio\": 0.05, \"fields\": {"
  "\"recordId\": {\"fn\": [{\"record_id\": [\"BillingAccountId\", "
  "  \"ChargePeriodStart\", \"ResourceId\", \"SkuPriceId\", "
  "  \"ChargeCategory\"]}]},"
  "\"billingAccountId\": \"BillingAccountId\","
  "\"subscriptionId\": {\"from\": \"SubAccountId\", \"fn\": "
  "  [{\"strip_prefix\": \"/subscriptions/\"}]},"
  "\"resourceId\": {\"from\": \"ResourceId\", \"fn\": [\"lower\"]},"
  "\"resourceName\": \"ResourceName\","
  "\"resourceType\": \"ResourceType\","
  "\"serviceName\": \"ServiceName\","
  "\"serviceCategory\": {\"from\": \"ServiceCategory\", \"fn\": "
  "  [{\"default\": \"Other\"}]},"
  "\"region\": \"RegionId\","
  "\"chargeCategory\": \"ChargeCategory\","
  "\"chargePeriodStartUtc\": {\"from\": \"ChargePeriodStart\", \"fn\": "
  "  [\"utc\"]},"
  "\"chargePeriodEndUtc\": {\"from\": \"ChargePeriodEnd\", \"fn\": "
  "  [\"utc\"]},"
  "\"billedCost\": {\"from\": \"BilledCost\", \"fn\": [\"number\"]},"
  "\"effectiveCost\": {\"from\": \"EffectiveCost\", \"fn\": [\"number\"]},"
  "\"listCost\": {\"from\": \"ListCost\", \"fn\": [\"number\"]},"
  "\"currency\": \"BillingCurrency\","
  "\"consumedQuantity\": {\"from\": \"ConsumedQuantity\", \"fn\": "
  "  [\"number\"]},"
  "\"consumedUnit\": \"ConsumedUnit\","
  "\"skuPriceId\": \"SkuPriceId\","
  "\"tags\": {\"from\": \"Tags\", \"fn\": [\"tags\"]}"
  "}}";

static const char cost_header[] =
  "BilledCost,BillingAccountId,BillingCurrency,ChargeCategory,"
  "ChargePeriodEnd,ChargePeriodStart,ConsumedQuantity,ConsumedUnit,"
  "EffectiveCost,ListCost,RegionId,ResourceId,ResourceName,ResourceType,"
  "ServiceCategory,ServiceName,SkuPriceId,SubAccountId,Tags";

static const char cost_row[] =
  "0.0000000001|acct-001|USD|Usage|2024-05-02T00:00Z|2024-05-01T00:00Z|"
  "1e-7|Hours|0.31|1.10|westeurope|/subscriptions/00000000-0000-0000-0000-"
  "000000000001/resourceGroups/RG-App/providers/Microsoft.Compute/"
  "virtualMachines/VM1|vm1|virtualMachines||Virtual Machines|"
  "DZH318Z0BQ01/0001|/subscriptions/00000000-0000-0000-0000-000000000001|"
  "{\"env\":\"prod\",\"cost-center\":\"CC-0001\"}";

static const char cost_want[] =
  "{\"billedCost\":0.0000000001,\"billingAccountId\":\"acct-001\","
  "\"chargeCategory\":\"Usage\","
  "\"chargePeriodEndUtc\":\"2024-05-02T00:00:00Z\","
  "\"chargePeriodStartUtc\":\"2024-05-01T00:00:00Z\","
  "\"consumedQuantity\":1e-7,\"consumedUnit\":\"Hours\",\"costDataset\":null,\"costScope\":null,\"currency\":\"USD\","
  "\"effectiveCost\":0.31,\"listCost\":1.10,"
  "\"recordId\":\"173cb8216493c720936131406b1a2eef93fa74b0f7f5789c574ba02c6"
  "9600c49\",\"region\":\"westeurope\","
  "\"resourceId\":\"/subscriptions/00000000-0000-0000-0000-000000000001/"
  "resourcegroups/rg-app/providers/microsoft.compute/virtualmachines/vm1\","
  "\"resourceName\":\"vm1\",\"resourceType\":\"virtualMachines\","
  "\"serviceCategory\":\"Other\",\"serviceName\":\"Virtual Machines\","
  "\"skuPriceId\":\"DZH318Z0BQ01/0001\","
  "\"subscriptionId\":\"00000000-0000-0000-0000-000000000001\","
  "\"tags\":{\"cost-center\":\"CC-0001\",\"env\":\"prod\"}}";

Test(transform, csv_record_end_to_end)
{
  struct fx fx;
  struct csvf f;
  fx_open(&fx, "cost_record", cost_cfg);
  csv_header(&f, cost_header);
  csv_apply(&fx, &f, cost_row, 2, "raw line");
  cr_assert_eq(fx.b->n_rejects, 0, "%s", fx.b->n_rejects ?
               fx.b->rejects[0].reasons : "");
  cr_assert_eq(fx.b->n_rows, 1);
  cr_assert_str_eq(row(&fx, 0), cost_want);
  cr_assert_eq(fx.b->vals[14].type, CAIRN_V_NUM);
  cr_assert_eq(fx.b->vals[21].type, CAIRN_V_JSON);
  cr_assert_float_eq(cairn_transform_max_reject_ratio(fx.t), 0.05, 1e-12);
  rows_validate(&fx);
  fx_close(&fx);
}

Test(transform, header_change_rebinds_columns)
{
  struct fx fx;
  struct csvf f;
  char want[2048];
  fx_open(&fx, "cost_record", cost_cfg);
  csv_header(&f, cost_header);
  csv_apply(&fx, &f, cost_row, 2, NULL);
  /* A new file whose header puts BilledCost last and has extra columns. */
  csv_header(&f, "x_Extra,BillingAccountId,BillingCurrency,ChargeCategory,"
             "ChargePeriodEnd,ChargePeriodStart,ConsumedQuantity,"
             "ConsumedUnit,EffectiveCost,ListCost,RegionId,ResourceId,"
             "ResourceName,ResourceType,ServiceCategory,ServiceName,"
             "SkuPriceId,SubAccountId,TAGS,billedcost");
  csv_apply(&fx, &f, "zz|acct-001|USD|Usage|2024-05-02T00:00Z|"
            "2024-05-01T00:00Z|1e-7|Hours|0.31|1.10|westeurope|"
            "/subscriptions/00000000-0000-0000-0000-000000000001/"
            "resourceGroups/RG-App/providers/Microsoft.Compute/"
            "virtualMachines/VM1|vm1|virtualMachines||Virtual Machines|"
            "DZH318Z0BQ01/0001|/subscriptions/00000000-0000-0000-0000-"
            "000000000001|{\"env\":\"prod\",\"cost-center\":\"CC-0001\"}|"
            "0.0000000001", 2, NULL);
  cr_assert_eq(fx.b->n_rejects, 0, "%s", fx.b->n_rejects ?
               fx.b->rejects[0].reasons : "");
  cr_assert_eq(fx.b->n_rows, 2);
  snprintf(want, sizeof want, "%s", row(&fx, 0));
  cr_assert_str_eq(row(&fx, 1), want);
  fx_close(&fx);
}

/* A text equal to the previous row's value of its field shares that row's
 * copy in the arena; a different one gets its own. */
Test(transform, equal_texts_of_consecutive_rows_share_one_copy)
{
  struct fx fx;
  struct csvf f;
  const struct cairn_value *v;
  char other[sizeof cost_row + 8];
  size_t nf;
  fx_open(&fx, "cost_record", cost_cfg);
  nf = fx.b->n_fields;
  csv_header(&f, cost_header);
  csv_apply(&fx, &f, cost_row, 2, NULL);
  csv_apply(&fx, &f, cost_row, 3, NULL);
  snprintf(other, sizeof other, "0.5%s", strchr(cost_row, '|'));
  csv_apply(&fx, &f, other, 4, NULL);
  cr_assert_eq(fx.b->n_rows, 3);
  v = fx.b->vals;
  cr_assert_eq(v[nf + 1].s, v[1].s, "billingAccountId: one copy");
  cr_assert_eq(v[nf + 12].s, v[12].s, "chargePeriodStartUtc: one copy");
  cr_assert_eq(v[nf + 21].s, v[21].s, "tags: one copy");
  cr_assert_str_eq(row(&fx, 1), cost_want, "values unchanged");
  /* Row 3's billedCost differs: its own copy. */
  cr_assert_neq(v[2 * nf + 14].s, v[nf + 14].s);
  cr_assert_eq(v[2 * nf + 14].len, 3);
  cr_assert_eq(memcmp(v[2 * nf + 14].s, "0.5", 4), 0);
  cr_assert_eq(v[2 * nf + 1].s, v[1].s, "billingAccountId: still one copy");
  fx_close(&fx);
}

Test(transform, rejects_collect_every_reason)
{
  struct fx fx;
  struct csvf f;
  fx_open(&fx, "cost_record", cost_cfg);
  csv_header(&f, cost_header);
  csv_apply(&fx, &f, "abc|acct-001|USD|Refund|2024-05-02T00:00Z|"
            "13/45/2024|1e-7|Hours|0.31|1,10|westeurope|/x|vm1|vm||||"
            "/subscriptions/1|{\"env\" \"prod\"}", 7,
            "abc,acct-001,...");
  cr_assert_eq(fx.b->n_rows, 0);
  cr_assert_eq(fx.b->n_rejects, 1);
  cr_assert_str_eq(fx.b->rejects[0].position, "t.csv:7");
  cr_assert_str_eq(fx.b->rejects[0].reasons,
    "serviceName: required but missing; "
    "chargeCategory: \"Refund\" is not one of Usage, Purchase, Tax, Credit, "
    "Adjustment; "
    "chargePeriodStartUtc: \"13/45/2024\" is not a date-time; "
    "billedCost: \"abc\" is not a number; "
    "listCost: \"1,10\" is not a number; "
    "tags: \"{\\\"env\\\" \\\"prod\\\"}\" is not a tag object (expected ':' "
    "at byte 7)");
  cr_assert_str_eq(fx.b->rejects[0].raw, "abc,acct-001,...");
  /* the next good record still maps */
  csv_apply(&fx, &f, cost_row, 8, NULL);
  cr_assert_eq(fx.b->n_rows, 1);
  cr_assert_str_eq(row(&fx, 0), cost_want);
  fx_close(&fx);
}

/* The window's period (its own days, or the source's declared period: a
 * cost export's runInfo dates): a row whose chargePeriodStartUtc lies
 * outside it is a reject, since replace_partition would not replace it on
 * a re-run. The bounds are days, the end exclusive; the reason names the
 * period as told; a clone starts with the same period; NULL clears. */
#define DECLARED "the period its source declares"
Test(transform, rows_outside_the_declared_period_are_rejected)
{
  struct fx fx;
  struct csvf f;
  cairn_transform *clone = NULL, *own;
  cairn_err err = {0};
  fx_open(&fx, "cost_record", cost_cfg);
  csv_header(&f, cost_header);
  cairn_transform_set_span(fx.t, "2024-05-02", "2024-06-01", DECLARED);
  csv_apply(&fx, &f, cost_row, 3, "the raw line");
  cr_assert_eq(fx.b->n_rows, 0);
  cr_assert_eq(fx.b->n_rejects, 1);
  cr_assert_str_eq(fx.b->rejects[0].reasons,
    "chargePeriodStartUtc: 2024-05-01 is outside the period its source "
    "declares (2024-05-02 up to 2024-06-01, exclusive), which a re-run would "
    "not replace");
  cr_assert_str_eq(fx.b->rejects[0].raw, "the raw line");
  /* the end is exclusive, and the reason says whose period it is */
  cairn_transform_set_span(fx.t, "2024-04-01", "2024-05-01", "window 2024-04");
  csv_apply(&fx, &f, cost_row, 4, NULL);
  cr_assert_eq(fx.b->n_rejects, 2);
  cr_assert_str_eq(fx.b->rejects[1].reasons,
    "chargePeriodStartUtc: 2024-05-01 is outside window 2024-04 (2024-04-01 "
    "up to 2024-05-01, exclusive), which a re-run would not replace");
  cairn_transform_set_span(fx.t, "2024-05-01", "2024-05-02", DECLARED);
  csv_apply(&fx, &f, cost_row, 5, NULL);
  cr_assert_eq(fx.b->n_rows, 1);
  cr_assert_str_eq(row(&fx, 0), cost_want);

  cairn_transform_set_span(fx.t, "2024-06-01", "2024-07-01", DECLARED);
  cr_assert_eq(cairn_transform_clone(fx.t, &clone, &err), CAIRN_OK, "%s",
               err.msg);
  own = fx.t;
  fx.t = clone;
  cairn_batch_reset(fx.b);
  csv_apply(&fx, &f, cost_row, 6, NULL);
  cr_assert_eq(fx.b->n_rejects, 1, "the clone keeps the period");
  cairn_transform_set_span(clone, NULL, NULL, NULL);
  csv_apply(&fx, &f, cost_row, 7, NULL);
  cr_assert_eq(fx.b->n_rows, 1, "no period: every day maps");
  fx.t = own;
  cairn_transform_free(clone);
  fx_close(&fx);
}

Test(transform, ragged_rows_are_rejected)
{
  struct fx fx;
  struct csvf f;
  fx_open(&fx, "cost_record", cost_cfg);
  csv_header(&f, cost_header);
  csv_apply(&fx, &f, "1|2|3", 3, "1,2,3");
  cr_assert_eq(fx.b->n_rejects, 1);
  cr_assert_str_eq(fx.b->rejects[0].reasons,
                   "row has 3 fields, header has 19");
  cr_assert_str_eq(fx.b->rejects[0].raw, "1,2,3");
  fx_close(&fx);
}

Test(transform, missing_column_is_a_reason_unless_defaulted)
{
  struct fx fx;
  struct csvf f;
  fx_open(&fx, "cost_record", cost_cfg);
  /* no RegionId (optional, no default), no ServiceCategory (default) */
  csv_header(&f, "BilledCost,BillingAccountId,BillingCurrency,"
             "ChargeCategory,ChargePeriodEnd,ChargePeriodStart,"
             "ConsumedQuantity,ConsumedUnit,EffectiveCost,ListCost,"
             "ResourceId,ResourceName,ResourceType,ServiceName,SkuPriceId,"
             "SubAccountId,Tags");
  csv_apply(&fx, &f, "1|a|USD|Usage|2024-05-02|2024-05-01|1|h|1|1|/r|r|t|"
            "svc|sku|/subscriptions/s|", 2, NULL);
  cr_assert_eq(fx.b->n_rows, 0);
  cr_assert_eq(fx.b->n_rejects, 1);
  cr_assert_str_eq(fx.b->rejects[0].reasons,
                   "region: column \"RegionId\" is not in the header");
  fx_close(&fx);

  fx_open(&fx, "cost_record", "{\"fields\": {"
          "\"recordId\": \"a\", \"billingAccountId\": \"a\", "
          "\"serviceName\": \"a\", \"chargeCategory\": {\"fn\": "
          "[{\"const\": \"Usage\"}]}, "
          "\"serviceCategory\": {\"from\": \"Missing\", \"fn\": "
          "[{\"default\": \"Other\"}]}, "
          "\"chargePeriodStartUtc\": \"d\", \"chargePeriodEndUtc\": \"d\", "
          "\"billedCost\": \"n\", \"effectiveCost\": \"n\", "
          "\"listCost\": \"n\", \"currency\": {\"fn\": [{\"const\": "
          "\"EUR\"}]}, \"tags\": {\"from\": \"NoTags\", \"fn\": [\"tags\", "
          "{\"default\": {}}]}}}");
  csv_header(&f, "a,d,n");
  csv_apply(&fx, &f, "x|2024-05-01|1", 2, NULL);
  cr_assert_eq(fx.b->n_rejects, 0, "%s", fx.b->n_rejects ?
               fx.b->rejects[0].reasons : "");
  cr_assert(strstr(row(&fx, 0), "\"serviceCategory\":\"Other\"") != NULL);
  cr_assert(strstr(row(&fx, 0), "\"tags\":{}") != NULL);
  fx_close(&fx);
}

Test(transform, implicit_coercion_to_contract_types)
{
  struct fx fx;
  struct csvf f;
  fx_open(&fx, "cost_record", "{\"fields\": {"
          "\"recordId\": \"a\", \"billingAccountId\": \"a\", "
          "\"serviceName\": \"a\", \"serviceCategory\": \"a\", "
          "\"chargeCategory\": {\"fn\": [{\"const\": \"Usage\"}]}, "
          "\"chargePeriodStartUtc\": \"d\", \"chargePeriodEndUtc\": \"d\", "
          "\"billedCost\": \"n\", \"effectiveCost\": \"n\", "
          "\"listCost\": \"n\", \"currency\": \"a\", \"tags\": \"t\"}}");
  csv_header(&f, "a,d,n,t");
  csv_apply(&fx, &f, "x|09/21/2023|+.5|{\"b\":\"1\",\"a\":\"2\"}", 2, NULL);
  cr_assert_eq(fx.b->n_rejects, 0, "%s", fx.b->n_rejects ?
               fx.b->rejects[0].reasons : "");
  cr_assert_str_eq(row(&fx, 0),
    "{\"billedCost\":0.5,\"billingAccountId\":\"x\","
    "\"chargeCategory\":\"Usage\","
    "\"chargePeriodEndUtc\":\"2023-09-21T00:00:00Z\","
    "\"chargePeriodStartUtc\":\"2023-09-21T00:00:00Z\","
    "\"consumedQuantity\":null,\"consumedUnit\":null,\"costDataset\":null,\"costScope\":null,\"currency\":\"x\","
    "\"effectiveCost\":0.5,\"listCost\":0.5,\"recordId\":\"x\","
    "\"region\":null,\"resourceId\":null,\"resourceName\":null,"
    "\"resourceType\":null,\"serviceCategory\":\"x\",\"serviceName\":\"x\","
    "\"skuPriceId\":null,\"subscriptionId\":null,"
    "\"tags\":{\"a\":\"2\",\"b\":\"1\"}}");
  csv_apply(&fx, &f, "x|09/21/2023|x|[1]", 3, NULL);
  cr_assert_str_eq(fx.b->rejects[0].reasons,
    "billedCost: \"x\" is not a number; effectiveCost: \"x\" is not a "
    "number; listCost: \"x\" is not a number; tags: \"[1]\" is not a JSON "
    "object");
  csv_apply(&fx, &f, "x\xc3\x28|2023-09-21|1|{}", 4, NULL);
  cr_assert_str_eq(fx.b->rejects[1].reasons,
    "recordId: not valid UTF-8 (byte 1); billingAccountId: not valid UTF-8 "
    "(byte 1); serviceName: not valid UTF-8 (byte 1); serviceCategory: not "
    "valid UTF-8 (byte 1); currency: not valid UTF-8 (byte 1)");
  fx_close(&fx);
}

Test(transform, ea_export_row)
{
  /* Row 2 of finops-toolkit's EA_ActualCost_Small.csv: MM/dd/yyyy dates,
   * brace-less tags, a 55-column header. */
  struct fx fx;
  struct csvf f;
  fx_open(&fx, "cost_record", "{\"contract\": \"cost_record\", \"fields\": {"
    "\"recordId\": {\"fn\": [{\"record_id\": [\"BillingAccountId\", \"Date\","
    "  \"ResourceId\", \"MeterId\", \"ChargeType\"]}]},"
    "\"billingAccountId\": \"BillingAccountId\","
    "\"subscriptionId\": \"SubscriptionId\","
    "\"resourceId\": {\"from\": \"ResourceId\", \"fn\": [\"lower\"]},"
    "\"resourceName\": \"ResourceName\","
    "\"serviceName\": \"MeterCategory\","
    "\"serviceCategory\": {\"fn\": [{\"default\": \"Other\"}]},"
    "\"region\": {\"from\": \"ResourceLocation\", \"fn\": [\"lower\"]},"
    "\"chargeCategory\": {\"from\": \"ChargeType\", \"fn\": [{\"lookup\": "
    "  {\"Usage\": \"Usage\", \"Purchase\": \"Purchase\", \"Refund\": "
    "  \"Credit\"}}]},"
    "\"chargePeriodStartUtc\": {\"from\": \"Date\", \"fn\": "
    "  [{\"utc\": \"MM/dd/yyyy\"}]},"
    "\"chargePeriodEndUtc\": {\"from\": \"Date\", \"fn\": [\"utc\"]},"
    "\"billedCost\": {\"from\": \"Cost\", \"fn\": [\"number\"]},"
    "\"effectiveCost\": {\"from\": \"Cost\", \"fn\": [\"number\"]},"
    "\"listCost\": {\"fn\": [{\"coalesce\": [\"PayGCost\", \"Cost\"]}]},"
    "\"currency\": \"BillingCurrency\","
    "\"consumedQuantity\": \"Quantity\","
    "\"consumedUnit\": \"UnitOfMeasure\","
    "\"tags\": {\"from\": \"Tags\", \"fn\": [\"tags\"]}}}");
  csv_header(&f, "BillingAccountId,BillingAccountName,BillingPeriodStartDate,"
    "BillingPeriodEndDate,BillingProfileId,BillingProfileName,AccountOwnerId,"
    "AccountName,SubscriptionId,SubscriptionName,Date,Product,PartNumber,"
    "MeterId,ServiceFamily,MeterCategory,MeterSubCategory,MeterRegion,"
    "MeterName,Quantity,EffectivePrice,Cost,UnitPrice,BillingCurrency,"
    "ResourceLocation,AvailabilityZone,ConsumedService,ResourceId,"
    "ResourceName,ServiceInfo1,ServiceInfo2,AdditionalInfo,Tags,"
    "InvoiceSectionId,InvoiceSection,CostCenter,UnitOfMeasure,ResourceGroup,"
    "ReservationId,ReservationName,ProductOrderId,ProductOrderName,OfferId,"
    "IsAzureCreditEligible,Term,PublisherName,PlanName,ChargeType,Frequency,"
    "PublisherType,PayGPrice,PricingModel,CostAllocationRuleName,benefitId,"
    "benefitName");
  csv_apply(&fx, &f, "8611537|Trey Research Demo (DO NOT USE)|09/01/2023|"
    "09/30/2023|8611537|Trey Research Demo (DO NOT USE)|"
    "acm@testea.onmicrosoft.com|ACM Team|"
    "ed570627-0265-4620-bb42-bae06bcfa914|Trey Research IT|09/04/2023|"
    "Tiered Block Blob - GRS - List and Create Container Operations - US "
    "East 2|AAD-37090|aaaef613-418a-4a5f-af72-d224d7dee2c6|Compute|Storage|"
    "Tiered Block Blob|Virginia|GRS List and Create Container Operations|"
    "0.0004|0.1|0.00004|0.1|USD|EastUS2||Microsoft.Storage|"
    "/subscriptions/ed570627-0265-4620-bb42-bae06bcfa914/resourceGroups/"
    "databricks-rg-PeskyData-s6taefbli5c5e/providers/Microsoft.Storage/"
    "storageAccounts/dbstoragewp6hglwvvrad2|dbstoragewp6hglwvvrad2||||"
    "\"CostCenter\": \"1234\",\"env\": \"prod\",\"org\": \"trey\","
    "\"application\": \"databricks\",\"databricks-environment\": \"true\"||"
    "ACM|ACM9000|10K|databricks-rg-PeskyData-s6taefbli5c5e|||||MS-AZR-0017P|"
    "True||Microsoft|Hot|Usage|UsageBased|Azure|0.1|OnDemand|||", 3, NULL);
  cr_assert_eq(fx.b->n_rejects, 0, "%s", fx.b->n_rejects ?
               fx.b->rejects[0].reasons : "");
  cr_assert_str_eq(row(&fx, 0),
    "{\"billedCost\":0.00004,\"billingAccountId\":\"8611537\","
    "\"chargeCategory\":\"Usage\","
    "\"chargePeriodEndUtc\":\"2023-09-04T00:00:00Z\","
    "\"chargePeriodStartUtc\":\"2023-09-04T00:00:00Z\","
    "\"consumedQuantity\":0.0004,\"consumedUnit\":\"10K\","
    "\"costDataset\":null,\"costScope\":null,\"currency\":\"USD\",\"effectiveCost\":0.00004,\"listCost\":0.00004,"
    "\"recordId\":\"983999b3b74fad839e12b6692eb15e7c8776f6206e2e9d94cf20ec5a"
    "fe1cf493\",\"region\":\"eastus2\",\"resourceId\":\"/subscriptions/"
    "ed570627-0265-4620-bb42-bae06bcfa914/resourcegroups/databricks-rg-"
    "peskydata-s6taefbli5c5e/providers/microsoft.storage/storageaccounts/"
    "dbstoragewp6hglwvvrad2\",\"resourceName\":\"dbstoragewp6hglwvvrad2\","
    "\"resourceType\":null,\"serviceCategory\":\"Other\","
    "\"serviceName\":\"Storage\",\"skuPriceId\":null,"
    "\"subscriptionId\":\"ed570627-0265-4620-bb42-bae06bcfa914\","
    "\"tags\":{\"CostCenter\":\"1234\",\"application\":\"databricks\","
    "\"databricks-environment\":\"true\",\"env\":\"prod\","
    "\"org\":\"trey\"}}");
  rows_validate(&fx);
  fx_close(&fx);
  /* "coalesce" is a function, not a mapping key */
  cr_assert_str_eq(compile_fail("cost_record", "{\"fields\": {"
    "\"listCost\": {\"coalesce\": [\"PayGPrice\"]}}}"),
    "unknown key \"coalesce\" in the mapping of \"listCost\" (have: from, "
    "fn)@/fields/listCost/coalesce");
}

/* ---- compile errors ----------------------------------------------------- */

Test(transform, compile_errors_carry_pointers)
{
  cr_assert_str_eq(compile_fail("cost_record", "{\"fields\": {\"billedCost\":"
    " {\"from\": \"BilledCost\", \"fn\": [\"numbr\"]}}}"),
    "unknown function \"numbr\" (have: add_days, bool, coalesce, const, "
    "default, exists, header, integer, join, lookup, lower, number, "
    "record_id, "
    "replace, split, strip_prefix, tags, template, trim, upper, utc)"
    "@/fields/billedCost/fn/0");
  cr_assert_str_eq(compile_fail("cost_record", "{\"fields\": {\"billedCost\":"
    " {\"from\": \"BilledCost\", \"fn\": [\"trim\", {\"utc\": \"x\"}]}}}"),
    "unknown date format for \"utc\" (have: auto, rfc3339, yyyy-MM-dd, "
    "yyyy-MM-dd HH:mm:ss, MM/dd/yyyy, yyyyMMdd, epoch, epoch_ms, http)"
    "@/fields/billedCost/fn/1/utc");
  cr_assert_str_eq(compile_fail("incident_link", "{\"fields\": {\"sytem\": "
    "\"x\"}}"),
    "unknown field \"sytem\" in contract incident_link (have: system, "
    "externalId, url, type, status, priority)@/fields/sytem");
  cr_assert_str_eq(compile_fail("incident_link", "{\"fields\": {\"a/b\": "
    "\"x\"}}"),
    "unknown field \"a/b\" in contract incident_link (have: system, "
    "externalId, url, type, status, priority)@/fields/a~1b");
  cr_assert_str_eq(compile_fail("incident_link", "{\"fields\": {\"system\": "
    "\"s\", \"externalId\": \"e\"}}"),
    "required fields of contract incident_link are not mapped: type, "
    "status@/fields");
  cr_assert_str_eq(compile_fail("incident_link", "{\"contract\": "
    "\"incident_link\", \"fieds\": {}}"),
    "unknown key \"fieds\" in \"transform\" (have: contract, empty_is_null, "
    "explode, fields, max_reject_ratio, pii, validate)@/fieds");
  cr_assert_str_eq(compile_fail("incident_link", "{\"contract\": "
    "\"cost_record\", \"fields\": {}}"),
    "\"contract\" must be \"incident_link\" here@/contract");
  cr_assert_str_eq(compile_fail("incident_link", "{\"max_reject_ratio\": 2, "
    "\"fields\": {}}"),
    "\"max_reject_ratio\" is a number from 0 to 1@/max_reject_ratio");
  cr_assert_str_eq(compile_fail("incident_link", "{\"fields\": {\"system\": "
    "{\"from\": \"x\", \"fn\": [{\"const\": \"s\"}]}}}"),
    "function \"const\" ignores its input: remove \"from\" from \"system\""
    "@/fields/system/fn/0");
  cr_assert_str_eq(compile_fail("incident_link", "{\"fields\": {\"system\": "
    "{}}}"),
    "field \"system\" needs \"from\" or \"fn\"@/fields/system");
  cr_assert_str_eq(compile_fail("incident_link", "{\"fields\": {\"system\": "
    "{\"from\": \"/a/~2\"}}}"),
    "invalid JSON pointer \"/a/~2\" (~ must be followed by 0 or 1)"
    "@/fields/system/from");
  cr_assert_str_eq(compile_fail("incident_link", "{\"fields\": {\"system\": "
    "{\"fn\": [{\"lookup\": {\"a\": \"b\"}, \"default\": [1]}]}}}"),
    "function \"lookup\" needs a string, number, boolean or null"
    "@/fields/system/fn/0/default");
  cr_assert_str_eq(compile_fail("incident_link", "{\"explode\": \"x\", "
    "\"fields\": {}}"),
    "\"explode\" is a JSON pointer to an array@/explode");
  cr_assert_str_eq(compile_fail("incident_link", "[]"),
    "\"transform\" is an object with \"contract\" and \"fields\"@");
}

/* A chain that reads nothing of the record gives every record one value:
 * when the contract refuses it, every record would be a reject, so the job
 * is refused before it runs. */
Test(transform, constant_mapping_the_contract_refuses)
{
#define USER "{\"fields\": {\"userId\": \"/id\", %s}}"
#define POSTURE "{\"fields\": {\"policyId\": \"/p\", \"requirementId\": " \
  "\"/r\", \"evaluatedAtUtc\": \"/t\", \"resourceId\": \"/i\", %s}}"
  static const char *const bad[][3] = {
    { "identity_user", USER, "\"deleted\": {\"fn\": [{\"const\": \"maybe\"}]}" },
    { "identity_user", USER, "\"deleted\": {\"fn\": [{\"const\": null}]}" },
    { "policy_posture", POSTURE, "\"status\": {\"fn\": [{\"const\": "
      "\"compliant\"}]}" },
    { "policy_posture", POSTURE, "\"status\": {\"fn\": [\"trim\"]}" },
  };
  static const char *const why[] = {
    "deleted: \"maybe\" is not a boolean@/fields/deleted",
    "deleted: required but missing@/fields/deleted",
    "status: \"compliant\" is not one of Compliant, NonCompliant, Exempt, "
    "Conflict, Unknown, NotStarted@/fields/status",
    "status: required but missing@/fields/status",
  };
  static const char *const ok[][3] = {
    { "identity_user", USER, "\"deleted\": {\"fn\": [{\"const\": \"yes\"}]}" },
    { "identity_user", USER, "\"deleted\": {\"fn\": [\"exists\"]}, "
      "\"accountEnabled\": {\"fn\": [\"lower\"]}" },
    { "policy_posture", POSTURE, "\"status\": {\"fn\": [{\"const\": "
      "\"compliant\"}, {\"lookup\": {\"compliant\": \"Compliant\"}}]}" },
    { "policy_posture", POSTURE, "\"status\": {\"fn\": [{\"header\": "
      "\"x-status\"}]}" },
  };
#undef USER
#undef POSTURE
  char cfg[512], want[512];
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    snprintf(cfg, sizeof cfg, bad[i][1], bad[i][2]);
    snprintf(want, sizeof want, "the mapping gives every record the same "
             "value, which the contract refuses, so every record would be "
             "rejected: %s", why[i]);
    cr_assert_str_eq(compile_fail(bad[i][0], cfg), want);
  }
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    struct fx fx;
    snprintf(cfg, sizeof cfg, ok[i][1], ok[i][2]);
    fx_open(&fx, ok[i][0], cfg);
    fx_close(&fx);
  }
}

Test(transform, pii_compile_errors)
{
  const char *base = "{\"fields\": {\"userId\": \"/id\", \"deleted\": "
                     "{\"fn\": [{\"const\": false}]}}, \"pii\": %s}";
  char cfg[1024];
  snprintf(cfg, sizeof cfg, base, "{\"mail\": \"hash\"}");
  cr_assert_str_eq(compile_fail("identity_user", cfg),
                   "\"hash\" needs \"hmac_key\" in \"pii\"@/pii/mail");
  snprintf(cfg, sizeof cfg, base, "{\"mail\": \"hash\", \"hmac_key\": "
           "\"short\"}");
  cr_assert_str_eq(compile_fail("identity_user", cfg),
                   "key must be 32 bytes written as 64 hex digits or base64 "
                   "(got 5 characters)@/pii/hmac_key");
  snprintf(cfg, sizeof cfg, base, "{\"userId\": \"drop\"}");
  cr_assert_str_eq(compile_fail("identity_user", cfg),
                   "cannot drop \"userId\": contract identity_user requires "
                   "it@/pii/userId");
  snprintf(cfg, sizeof cfg, base, "{\"accountEnabled\": {\"encrypt\": "
           "{\"key\": \"" KEY_HEX "\", \"key_id\": \"k1\"}}}");
  cr_assert_str_eq(compile_fail("identity_user", cfg),
                   "only string fields can be hashed or encrypted "
                   "(\"accountEnabled\" is not)@/pii/accountEnabled");
  snprintf(cfg, sizeof cfg, base, "{\"mail\": {\"encrypt\": {\"key\": \""
           KEY_HEX "\", \"key_id\": \"k:1\"}}}");
  cr_assert_str_eq(compile_fail("identity_user", cfg),
                   "\"key_id\" is 1-64 characters of A-Z a-z 0-9 . _ -"
                   "@/pii/mail/encrypt/key_id");
  snprintf(cfg, sizeof cfg, base, "{\"mail\": {\"encrypt\": {\"key\": "
           "\"${secret:PII_KEY}\", \"key_id\": \"k1\"}}}");
  cr_assert_str_eq(compile_fail("identity_user", cfg),
                   "key was not expanded (a ${secret:NAME} variable is "
                   "expected)@/pii/mail/encrypt/key");
  snprintf(cfg, sizeof cfg, base, "{\"mail\": \"mask\"}");
  cr_assert_str_eq(compile_fail("identity_user", cfg),
                   "a PII policy is \"keep\", \"drop\", \"hash\" or "
                   "{\"encrypt\": {\"key\": ..., \"key_id\": ...}}@/pii/mail");
  snprintf(cfg, sizeof cfg, base, "{\"email\": \"keep\"}");
  cr_assert(strncmp(compile_fail("identity_user", cfg),
                    "unknown field \"email\"", 21) == 0, "%s", failure);
}

/* ---- JSON records -------------------------------------------------------- */

Test(transform, json_record_end_to_end)
{
  struct fx fx;
  fx_open(&fx, "incident_link", "{\"contract\": \"incident_link\", "
          "\"fields\": {"
          "\"system\": {\"fn\": [{\"const\": \"sentinel\"}]},"
          "\"externalId\": \"/name\","
          "\"url\": \"/properties/incidentUrl\","
          "\"type\": {\"fn\": [{\"const\": \"incident\"}]},"
          "\"status\": \"/properties/status\","
          "\"priority\": \"/properties/severity\"}}");
  json_apply(&fx, "{\"name\": \"73e01a99-5cd7-4139-a149-9f2736ff2ab5\", "
             "\"properties\": {\"title\": \"My incident\", \"severity\": "
             "\"High\", \"status\": \"Closed\", \"incidentNumber\": 3177, "
             "\"incidentUrl\": \"https://portal.azure.com/#asset/x\"}}",
             NULL);
  cr_assert_eq(fx.b->n_rejects, 0);
  cr_assert_str_eq(row(&fx, 0),
    "{\"externalId\":\"73e01a99-5cd7-4139-a149-9f2736ff2ab5\","
    "\"priority\":\"High\",\"status\":\"Closed\",\"system\":\"sentinel\","
    "\"type\":\"incident\",\"url\":\"https://portal.azure.com/#asset/x\"}");
  /* missing required member: a reject with the canonical JSON as raw */
  json_apply(&fx, "{\"properties\": {\"status\": \"New\"}, \"b\": 1}", NULL);
  cr_assert_eq(fx.b->n_rejects, 1);
  cr_assert_str_eq(fx.b->rejects[0].reasons,
                   "externalId: required but missing (the record has nothing "
                   "at \"/name\")");
  cr_assert_str_eq(fx.b->rejects[0].raw,
                   "{\"b\":1,\"properties\":{\"status\":\"New\"}}");
  cr_assert_str_eq(fx.b->rejects[0].position, "page 1 #1");
  rows_validate(&fx);
  fx_close(&fx);
}

Test(transform, servicenow_incident_with_template_and_lookup)
{
  struct fx fx;
  fx_open(&fx, "incident_link", "{\"fields\": {"
          "\"system\": {\"fn\": [{\"const\": \"servicenow\"}]},"
          "\"externalId\": \"sys_id\","
          "\"url\": {\"fn\": [{\"template\": \"https://x.service-now.com/"
          "nav_to.do?uri=incident.do?sys_id=${sys_id}\"}]},"
          "\"type\": \"/sys_class_name\","
          "\"status\": {\"from\": \"/state\", \"fn\": [{\"lookup\": {\"1\": "
          "\"New\", \"2\": \"In Progress\", \"7\": \"Closed\"}, \"default\": "
          "\"Unknown\"}]},"
          "\"priority\": \"priority\"}}");
  json_apply(&fx, "{\"sys_id\": \"46cebb88a9fe198101aee93734f9768b\", "
             "\"number\": \"INC0000013\", \"sys_class_name\": \"incident\", "
             "\"state\": \"7\", \"priority\": \"1\", \"cmdb_ci\": \"\"}",
             NULL);
  json_apply(&fx, "{\"sys_id\": \"b\", \"sys_class_name\": \"incident\", "
             "\"state\": \"3\", \"priority\": \"\"}", NULL);
  cr_assert_eq(fx.b->n_rejects, 0, "%s", fx.b->n_rejects ?
               fx.b->rejects[0].reasons : "");
  cr_assert_str_eq(row(&fx, 0),
    "{\"externalId\":\"46cebb88a9fe198101aee93734f9768b\","
    "\"priority\":\"1\",\"status\":\"Closed\",\"system\":\"servicenow\","
    "\"type\":\"incident\",\"url\":\"https://x.service-now.com/nav_to.do?"
    "uri=incident.do?sys_id=46cebb88a9fe198101aee93734f9768b\"}");
  cr_assert_str_eq(row(&fx, 1),
    "{\"externalId\":\"b\",\"priority\":null,\"status\":\"Unknown\","
    "\"system\":\"servicenow\",\"type\":\"incident\",\"url\":\"https://"
    "x.service-now.com/nav_to.do?uri=incident.do?sys_id=b\"}");
  fx_close(&fx);
}

Test(transform, empty_is_null_can_be_turned_off)
{
  struct fx fx;
  fx_open(&fx, "incident_link", "{\"empty_is_null\": false, \"fields\": {"
          "\"system\": \"/s\", \"externalId\": \"/s\", \"type\": \"/s\", "
          "\"status\": \"/s\", \"priority\": \"/p\"}}");
  json_apply(&fx, "{\"s\": \"x\", \"p\": \"\"}", NULL);
  cr_assert_str_eq(row(&fx, 0),
    "{\"externalId\":\"x\",\"priority\":\"\",\"status\":\"x\","
    "\"system\":\"x\",\"type\":\"x\",\"url\":null}");
  fx_close(&fx);
}

Test(transform, cmdb_ci_from_resource_graph_with_date_header)
{
  struct fx fx;
  fx_open(&fx, "cmdb_ci", "{\"fields\": {"
          "\"ciId\": {\"from\": \"id\", \"fn\": [\"lower\"]},"
          "\"name\": \"name\", \"type\": \"type\","
          "\"env\": \"/tags/env\","
          "\"tags\": {\"from\": \"tags\", \"fn\": [\"tags\"]},"
          "\"lastSeenUtc\": {\"fn\": [{\"header\": \"Date\"}, \"utc\"]},"
          "\"source\": {\"fn\": [{\"const\": \"resource_graph\"}]},"
          "\"location\": \"location\","
          "\"subscriptionId\": \"subscriptionId\"}}");
  json_apply(&fx, "{\"id\": \"/subscriptions/S/resourceGroups/RG1/providers/"
             "Microsoft.Compute/disks/D1\", \"name\": \"D1\", \"type\": "
             "\"microsoft.compute/disks\", \"location\": \"eastus\", "
             "\"tags\": {\"env\": \"prod\", \"cost\": 1.5}}",
             "{\"headers\": {\"date\": \"Wed, 01 May 2024 06:00:00 GMT\"}}");
  cr_assert_eq(fx.b->n_rejects, 0, "%s", fx.b->n_rejects ?
               fx.b->rejects[0].reasons : "");
  cr_assert_str_eq(row(&fx, 0),
    "{\"ciId\":\"/subscriptions/s/resourcegroups/rg1/providers/"
    "microsoft.compute/disks/d1\",\"env\":\"prod\",\"lastSeenUtc\":"
    "\"2024-05-01T06:00:00Z\",\"location\":\"eastus\",\"name\":\"D1\","
    "\"owner\":null,\"source\":\"resource_graph\",\"subscriptionId\":null,"
    "\"tags\":{\"cost\":1.5,\"env\":\"prod\"},\"type\":"
    "\"microsoft.compute/disks\"}");
  rows_validate(&fx);
  fx_close(&fx);
}

/* A field that reads nothing of the record ("header", then functions of
 * it) is mapped once per page metadata: the records of one page share the
 * value, a record_id without "from" still reads each record, and the next
 * page's metadata, even one allocated where the last one was freed, gives
 * its own value. */
Test(transform, per_page_fields_follow_each_pages_metadata)
{
  struct fx fx;
  json_t *m;
  fx_open(&fx, "cmdb_ci", "{\"fields\": {"
          "\"ciId\": {\"fn\": [{\"record_id\": [\"id\"]}]},"
          "\"name\": \"id\", \"type\": {\"fn\": [{\"const\": \"t\"}]},"
          "\"tags\": {\"from\": \"tags\", \"fn\": [\"tags\"]},"
          "\"lastSeenUtc\": {\"fn\": [{\"header\": \"Date\"}, \"utc\"]},"
          "\"source\": {\"fn\": [{\"header\": \"x-src\"}, \"lower\"]}}}");
  m = json_loads("{\"headers\": {\"date\": \"Wed, 01 May 2024 06:00:00 GMT\","
                 " \"x-src\": \"RG\"}}", 0, NULL);
  apply_with_meta(&fx, "{\"id\": \"a\"}", m);
  apply_with_meta(&fx, "{\"id\": \"b\"}", m);
  json_decref(m);
  m = json_loads("{\"headers\": {\"date\": \"Thu, 02 May 2024 07:00:00 GMT\","
                 " \"x-src\": \"SN\"}}", 0, NULL);
  apply_with_meta(&fx, "{\"id\": \"c\"}", m);
  json_decref(m);
  apply_with_meta(&fx, "{\"id\": \"d\"}", NULL);
  cr_assert_eq(fx.b->n_rows, 3, "%s", fx.b->n_rejects ?
               fx.b->rejects[0].reasons : "");
  cr_assert_eq(fx.b->n_rejects, 1, "no metadata: source and lastSeenUtc "
               "are missing");
  {
    char *r0 = cairn_xstrdup(row(&fx, 0)), *r1 = cairn_xstrdup(row(&fx, 1));
    cr_assert(strstr(r0, "\"lastSeenUtc\":\"2024-05-01T06:00:00Z\"") &&
              strstr(r0, "\"source\":\"rg\""), "%s", r0);
    cr_assert(strstr(r1, "\"lastSeenUtc\":\"2024-05-01T06:00:00Z\"") &&
              strstr(r1, "\"source\":\"rg\""), "%s", r1);
    cr_assert(strncmp(r0, r1, 75) != 0, "each record has its own id: %s %s",
              r0, r1);
    free(r0);
    free(r1);
  }
  cr_assert(strstr(row(&fx, 2), "\"lastSeenUtc\":\"2024-05-02T07:00:00Z\"") &&
            strstr(row(&fx, 2), "\"source\":\"sn\""), "the next page's "
            "values: %s", row(&fx, 2));
  fx_close(&fx);
}

/* ---- explode ---------------------------------------------------------- */

static const char posture_cfg[] =
  "{\"contract\": \"policy_posture\", \"explode\": "
  "\"/policyDefinitionGroupNames\", \"fields\": {"
  "\"policyId\": \"/policyDefinitionId\","
  "\"requirementId\": {\"fn\": [{\"coalesce\": [\"$item\", "
  "  \"/policyDefinitionReferenceId\"]}]},"
  "\"status\": {\"fn\": [{\"coalesce\": [\"/complianceState\", "
  "  \"/isCompliant\"]}, {\"lookup\": {\"true\": \"Compliant\", "
  "  \"false\": \"NonCompliant\", \"Compliant\": \"Compliant\", "
  "  \"NonCompliant\": \"NonCompliant\", \"Exempt\": \"Exempt\", "
  "  \"Conflict\": \"Conflict\", \"Unknown\": \"Unknown\", "
  "  \"NotStarted\": \"NotStarted\"}}]},"
  "\"evidenceRef\": {\"fn\": [{\"template\": "
  "  \"${/resourceId}|${/policyAssignmentId}\"}]},"
  "\"evaluatedAtUtc\": {\"from\": \"/timestamp\", \"fn\": [\"utc\"]},"
  "\"resourceId\": {\"from\": \"/resourceId\", \"fn\": [\"lower\"]}}}";

Test(transform, explode_gives_one_row_per_item)
{
  struct fx fx;
  fx_open(&fx, "policy_posture", posture_cfg);
  json_apply(&fx, "{\"timestamp\": \"2019-10-09T17:48:05Z\", \"resourceId\":"
             " \"/subscriptions/F/RG/ip1\", \"policyAssignmentId\": \"/pa/9\","
             " \"policyDefinitionId\": \"/pd/9dae\", "
             "\"policyDefinitionReferenceId\": null, \"isCompliant\": false,"
             " \"complianceState\": \"NonCompliant\", "
             "\"policyDefinitionGroupNames\": [\"g1\", \"g2\"]}", NULL);
  json_apply(&fx, "{\"timestamp\": \"2019-10-09T17:48:05Z\", \"resourceId\":"
             " \"/r\", \"policyAssignmentId\": \"/pa/9\", "
             "\"policyDefinitionId\": \"/pd/1\", "
             "\"policyDefinitionReferenceId\": \"ref-1\", "
             "\"isCompliant\": true, \"complianceState\": null, "
             "\"policyDefinitionGroupNames\": []}", NULL);
  cr_assert_eq(fx.b->n_rejects, 0, "%s", fx.b->n_rejects ?
               fx.b->rejects[0].reasons : "");
  cr_assert_eq(fx.b->n_rows, 3);
  cr_assert_str_eq(row(&fx, 0),
    "{\"evaluatedAtUtc\":\"2019-10-09T17:48:05Z\",\"evidenceRef\":"
    "\"/subscriptions/F/RG/ip1|/pa/9\",\"policyId\":\"/pd/9dae\","
    "\"requirementId\":\"g1\",\"resourceId\":\"/subscriptions/f/rg/ip1\","
    "\"status\":\"NonCompliant\"}");
  cr_assert(strstr(row(&fx, 1), "\"requirementId\":\"g2\"") != NULL);
  cr_assert_str_eq(row(&fx, 2),
    "{\"evaluatedAtUtc\":\"2019-10-09T17:48:05Z\",\"evidenceRef\":"
    "\"/r|/pa/9\",\"policyId\":\"/pd/1\",\"requirementId\":\"ref-1\","
    "\"resourceId\":\"/r\",\"status\":\"Compliant\"}");
  rows_validate(&fx);
  /* One bad item rejects the whole record, naming the item. */
  json_apply(&fx, "{\"timestamp\": \"2019-10-09T17:48:05Z\", \"resourceId\":"
             " \"/r\", \"policyDefinitionId\": \"/pd/1\", "
             "\"complianceState\": \"Bogus\", "
             "\"policyDefinitionGroupNames\": [\"g1\", null]}", NULL);
  cr_assert_eq(fx.b->n_rows, 3);
  cr_assert_eq(fx.b->n_rejects, 1);
  cr_assert_str_eq(fx.b->rejects[0].reasons,
    "status: \"Bogus\" is not in the lookup table (item 0); "
    "requirementId: required but missing (item 1); "
    "status: \"Bogus\" is not in the lookup table (item 1)");
  fx_close(&fx);
}

/* A reject carries its record's contract key when the key fields mapped
 * cleanly (the reasons are about other fields): what a kept reject is
 * matched by when the record is rejected again or loaded. */
Test(transform, a_reject_carries_its_key_when_the_key_mapped_cleanly)
{
  struct fx fx;
  fx_open(&fx, "incident_link", "{\"fields\": {"
          "\"system\": {\"fn\": [{\"const\": \"servicenow\"}]},"
          "\"externalId\": \"sys_id\", \"type\": \"/sys_class_name\","
          "\"status\": {\"from\": \"/state\", \"fn\": [{\"lookup\": "
          "{\"7\": \"Closed\"}}]}}}");
  /* the status is not in the lookup: the key is fine */
  json_apply(&fx, "{\"sys_id\": \"46ce\\\"b\", \"sys_class_name\": "
             "\"incident\", \"state\": \"3\"}", NULL);
  /* the key itself is bad: missing */
  json_apply(&fx, "{\"sys_class_name\": \"incident\", \"state\": \"3\"}",
             NULL);
  /* a good row, for the key of a loaded row */
  json_apply(&fx, "{\"sys_id\": \"46ce\\\"b\", \"sys_class_name\": "
             "\"incident\", \"state\": \"7\"}", NULL);
  cr_assert_eq(fx.b->n_rejects, 2);
  cr_assert_str_eq(fx.b->rejects[0].key, "[\"servicenow\",\"46ce\\\"b\"]");
  cr_assert_null(fx.b->rejects[1].key, "%s", fx.b->rejects[1].key);
  {
    struct cairn_buf keys = {0};
    cr_assert_eq(cairn_batch_keys(fx.b, fx.c, &keys), 1);
    cr_assert_str_eq(keys.data,
                     "[\"[\\\"servicenow\\\",\\\"46ce\\\\\\\"b\\\"]\"]");
    cairn_buf_free(&keys);
  }
  fx_close(&fx);
  /* A record of several rows has a key per row: none for the reject. */
  fx_open(&fx, "policy_posture", posture_cfg);
  for (int n = 1; n <= 2; n++) {
    char doc[512];
    snprintf(doc, sizeof doc, "{\"timestamp\": \"2019-10-09T17:48:05Z\", "
             "\"resourceId\": \"/r\", \"policyDefinitionId\": \"/pd/1\", "
             "\"complianceState\": \"Bogus\", "
             "\"policyDefinitionGroupNames\": [\"g1\"%s]}",
             n == 2 ? ", \"g2\"" : "");
    json_apply(&fx, doc, NULL);
  }
  cr_assert_eq(fx.b->n_rejects, 2);
  cr_assert_str_eq(fx.b->rejects[0].key, "[\"/pd/1\",\"g1\",\"/r\"]");
  cr_assert_null(fx.b->rejects[1].key, "%s", fx.b->rejects[1].key);
  fx_close(&fx);
}

/* ---- PII ---------------------------------------------------------------- */

static const char user_cfg[] =
  "{\"contract\": \"identity_user\", \"fields\": {"
  "\"userId\": \"/id\", \"userPrincipalName\": \"/userPrincipalName\","
  "\"displayName\": \"/displayName\", \"mail\": {\"from\": \"/mail\", "
  "  \"fn\": [\"lower\"]},"
  "\"accountEnabled\": \"/accountEnabled\", \"department\": \"/department\","
  "\"deleted\": {\"from\": \"/@removed\", \"fn\": [\"exists\"]}},"
  "\"pii\": {\"mail\": \"hash\", \"userPrincipalName\": \"drop\","
  "  \"displayName\": {\"encrypt\": {\"key\": \"" KEY_HEX "\", "
  "  \"key_id\": \"k1\"}}, \"hmac_key\": \"" KEY_B64 "\"}}";

static const char *field_text(struct fx *fx, size_t r, const char *name)
{
  long f = cairn_contract_field(fx->c, name);
  const struct cairn_value *v = &fx->b->vals[r * fx->c->n_fields + (size_t)f];
  cr_assert_geq(f, 0);
  return v->type == CAIRN_V_NULL ? NULL : v->s;
}

Test(transform, pii_hash_encrypt_drop)
{
  struct fx fx;
  char *plain = NULL;
  cairn_err err = {0};
  char enc0[512];
  fx_open(&fx, "identity_user", user_cfg);
  json_apply(&fx, "{\"id\": \"u1\", \"userPrincipalName\": \"adele@contoso"
             ".com\", \"displayName\": \"Adele Vance\", \"mail\": "
             "\"Adele@Contoso.com\", \"accountEnabled\": true}", NULL);
  json_apply(&fx, "{\"id\": \"u2\", \"displayName\": \"Adele Vance\", "
             "\"mail\": \"adele@contoso.com\"}", NULL);
  json_apply(&fx, "{\"id\": \"u3\", \"@removed\": {\"reason\": "
             "\"deleted\"}}", NULL);
  cr_assert_eq(fx.b->n_rejects, 0, "%s", fx.b->n_rejects ?
               fx.b->rejects[0].reasons : "");
  cr_assert_eq(fx.b->n_rows, 3);
  /* hash: HMAC-SHA256 hex of the mapped (lower-cased) value; joins */
  cr_assert_str_eq(field_text(&fx, 0, "mail"),
    "a81536f54348e620ec00f9b0c5ba0f153a387a45a8defdd02ee69262f3765e66");
  cr_assert_str_eq(field_text(&fx, 1, "mail"), field_text(&fx, 0, "mail"));
  /* drop */
  cr_assert_null(field_text(&fx, 0, "userPrincipalName"));
  /* encrypt: deterministic, decrypts with the key (hex or base64) */
  snprintf(enc0, sizeof enc0, "%s", field_text(&fx, 0, "displayName"));
  cr_assert(strncmp(enc0, "enc:v1:k1:", 10) == 0, "%s", enc0);
  cr_assert_str_eq(field_text(&fx, 1, "displayName"), enc0);
  cr_assert_eq(cairn_pii_decrypt(enc0, KEY_HEX, &plain, &err), CAIRN_OK,
               "%s", err.msg);
  cr_assert_str_eq(plain, "Adele Vance");
  free(plain);
  cr_assert_eq(cairn_pii_decrypt(enc0, KEY_B64, &plain, &err), CAIRN_OK);
  free(plain);
  cr_assert_str_eq(row(&fx, 2),
    "{\"accountEnabled\":null,\"deleted\":true,\"department\":null,"
    "\"displayName\":null,\"mail\":null,\"userId\":\"u3\","
    "\"userPrincipalName\":null}");
  cr_assert(strstr(row(&fx, 0), "\"deleted\":false") != NULL);
  rows_validate(&fx);
  fx_close(&fx);
}

Test(transform, pii_decrypt_failures)
{
  unsigned char key[32];
  char msg[128], *plain = (char *)1;
  struct cairn_buf b = {0};
  cairn_err err = {0};
  cr_assert_eq(cairn_pii_key_parse(KEY_HEX, key, msg, sizeof msg), 0);
  cr_assert_eq(cairn_pii_encrypt(key, "k1", "secret", 6, &b, &err), 0);
  /* wrong key */
  cr_assert_eq(cairn_pii_decrypt(b.data, KEY2_HEX, &plain, &err),
               CAIRN_ECRYPTO);
  cr_assert_null(plain);
  cr_assert_str_eq(err.msg, "decryption failed: wrong key or damaged value "
                   "(key id \"k1\")");
  cairn_err_clear(&err);
  /* a value moved under another key id fails (the id is authenticated) */
  {
    char moved[512];
    snprintf(moved, sizeof moved, "enc:v1:k2:%s", b.data + 10);
    cr_assert_eq(cairn_pii_decrypt(moved, KEY_HEX, &plain, &err),
                 CAIRN_ECRYPTO);
    cairn_err_clear(&err);
  }
  cr_assert_eq(cairn_pii_decrypt("plain text", KEY_HEX, &plain, &err),
               CAIRN_ECRYPTO);
  cairn_err_clear(&err);
  cr_assert_eq(cairn_pii_decrypt("enc:v1:k1:AAAA", KEY_HEX, &plain, &err),
               CAIRN_ECRYPTO);
  cairn_err_clear(&err);
  cr_assert_eq(cairn_pii_decrypt(b.data, "not-a-key", &plain, &err),
               CAIRN_EUSAGE);
  cr_assert(strstr(err.msg, "not-a-key") == NULL);
  cairn_err_clear(&err);
  /* empty plaintext round-trips */
  b.len = 0;
  cr_assert_eq(cairn_pii_encrypt(key, "k1", "", 0, &b, &err), 0);
  cr_assert_eq(cairn_pii_decrypt(b.data, KEY_HEX, &plain, &err), 0);
  cr_assert_str_eq(plain, "");
  free(plain);
  cairn_buf_free(&b);
}

Test(transform, pii_applies_to_reject_raw_and_reasons)
{
  struct fx fx;
  char h[65];
  unsigned char key[32];
  char msg[128];
  fx_open(&fx, "identity_user", user_cfg);
  /* bad accountEnabled and no id: rejected */
  json_apply(&fx, "{\"userPrincipalName\": \"adele@contoso.com\", "
             "\"displayName\": \"Adele Vance\", \"mail\": "
             "\"adele@contoso.com\", \"accountEnabled\": \"maybe\"}", NULL);
  cr_assert_eq(fx.b->n_rejects, 1);
  cr_assert_str_eq(fx.b->rejects[0].reasons,
                   "userId: required but missing (the record has nothing at "
                   "\"/id\"); accountEnabled: \"maybe\" "
                   "is not a boolean");
  cairn_pii_key_parse(KEY_HEX, key, msg, sizeof msg);
  cairn_pii_hash_hex(key, "adele@contoso.com", 17, h);
  {
    const char *raw = fx.b->rejects[0].raw;
    json_t *j = json_loads(raw, 0, NULL);
    cr_assert_not_null(j, "%s", raw);
    cr_assert(strstr(raw, "adele") == NULL, "PII leaked: %s", raw);
    cr_assert(strstr(raw, "Adele") == NULL, "PII leaked: %s", raw);
    cr_assert_str_eq(json_string_value(json_object_get(j, "mail")), h);
    cr_assert(json_is_null(json_object_get(j, "userPrincipalName")));
    cr_assert(strncmp(json_string_value(json_object_get(j, "displayName")),
                      "enc:v1:k1:", 10) == 0);
    json_decref(j);
  }
  fx_close(&fx);

  /* a PII value that fails is not quoted in the reason */
  fx_open(&fx, "identity_user", "{\"fields\": {\"userId\": \"/id\", "
          "\"mail\": {\"from\": \"/mail\", \"fn\": [{\"lookup\": {}}]}, "
          "\"deleted\": {\"fn\": [{\"const\": false}]}}, \"pii\": "
          "{\"mail\": \"drop\"}}");
  json_apply(&fx, "{\"id\": \"u\", \"mail\": \"adele@contoso.com\"}", NULL);
  cr_assert_str_eq(fx.b->rejects[0].reasons,
                   "mail: value is not in the lookup table");
  cr_assert_str_eq(fx.b->rejects[0].raw, "{\"id\":\"u\",\"mail\":null}");
  fx_close(&fx);

  /* nor by another field that reads the same source (its raw text is
   * hashed: the reason must not give it away) */
  fx_open(&fx, "identity_user", "{\"fields\": {\"userId\": \"/id\", "
          "\"mail\": \"/mail\", \"department\": {\"fn\": [{\"template\": "
          "\"${/mail}\"}, {\"lookup\": {}}]}, "
          "\"accountEnabled\": {\"from\": \"/mail\", \"fn\": [\"bool\"]}, "
          "\"deleted\": {\"fn\": [{\"const\": false}]}}, \"pii\": "
          "{\"mail\": \"hash\", \"hmac_key\": \"" KEY_B64 "\"}}");
  json_apply(&fx, "{\"id\": \"u\", \"mail\": \"adele@contoso.com\"}", NULL);
  cr_assert_eq(fx.b->n_rejects, 1);
  cr_assert_str_eq(fx.b->rejects[0].reasons,
                   "accountEnabled: value is not a boolean; "
                   "department: value is not in the lookup table");
  cr_assert(strstr(fx.b->rejects[0].raw, "adele") == NULL, "%s",
            fx.b->rejects[0].raw);
  fx_close(&fx);
}

/* identity_user from CSV columns, mail dropped and the name hashed. */
#define MAIL_DROP_NAME_HASH                                                  \
  "{\"fields\": {\"userId\": \"Id\", \"mail\": \"Mail\", "                      \
  "\"displayName\": \"Name\", \"accountEnabled\": \"Enabled\", "              \
  "\"deleted\": {\"fn\": [{\"const\": false}]}}, \"pii\": {\"mail\": "          \
  "\"drop\", \"displayName\": \"hash\", \"hmac_key\": \"" KEY_HEX "\"}}"

Test(transform, pii_csv_raw_is_rebuilt)
{
  struct fx fx;
  struct csvf f;
  fx_open(&fx, "identity_user", MAIL_DROP_NAME_HASH);
  csv_header(&f, "Id,Name,Mail,Enabled");
  csv_apply(&fx, &f, "u1|Vance, Adele|a@b.c|perhaps", 2,
            "u1,\"Vance, Adele\",a@b.c,perhaps");
  cr_assert_eq(fx.b->n_rejects, 1);
  {
    char want[256], h[65];
    unsigned char key[32];
    char msg[64];
    cairn_pii_key_parse(KEY_HEX, key, msg, sizeof msg);
    cairn_pii_hash_hex(key, "Vance, Adele", 12, h);
    snprintf(want, sizeof want, "u1,%s,,perhaps", h);
    cr_assert_str_eq(fx.b->rejects[0].raw, want);
  }
  fx_close(&fx);

  /* "MAIL" is the column "Mail" is: a reason about a field reading it
   * under another case quotes nothing either */
  fx_open(&fx, "identity_user", "{\"fields\": {\"userId\": \"Id\", "
          "\"mail\": \"Mail\", \"accountEnabled\": \"MAIL\", "
          "\"deleted\": {\"fn\": [{\"const\": false}]}}, "
          "\"pii\": {\"mail\": \"drop\"}}");
  csv_header(&f, "Id,Name,Mail,Enabled");
  csv_apply(&fx, &f, "u1|Vance, Adele|a@b.c|true", 2, "u1,,a@b.c,true");
  cr_assert_eq(fx.b->n_rejects, 1);
  cr_assert_str_eq(fx.b->rejects[0].reasons,
                   "accountEnabled: value is not a boolean");
  cr_assert_str_eq(fx.b->rejects[0].raw, "u1,\"Vance, Adele\",,true");
  fx_close(&fx);
}

/* Pointers that overlap read the same value: a field reading inside (or
 * around) what a policy protects redacts its reasons too. */
Test(transform, pii_redacts_reasons_of_overlapping_pointers)
{
  struct fx fx;
  fx_open(&fx, "identity_user", "{\"fields\": {\"userId\": \"/id\", "
          "\"mail\": {\"from\": \"/contact\", \"fn\": [{\"template\": "
          "\"${.}\"}]}, \"accountEnabled\": \"/contact/mail\", "
          "\"deleted\": {\"fn\": [{\"const\": false}]}}, "
          "\"pii\": {\"mail\": \"drop\"}}");
  json_apply(&fx, "{\"id\": \"u\", \"contact\": {\"mail\": "
             "\"adele@contoso.com\"}}", NULL);
  cr_assert_eq(fx.b->n_rejects, 1);
  cr_assert_str_eq(fx.b->rejects[0].reasons,
                   "accountEnabled: value is not a boolean");
  cr_assert_str_eq(fx.b->rejects[0].raw, "{\"contact\":null,\"id\":\"u\"}");
  fx_close(&fx);
}

/* A CSV header that names a PII column twice (in any case: columns are
 * bound by name, case-insensitively): the mapping reads the first, but
 * the reject's raw text holds both, and the policy applies to both. */
Test(transform, pii_csv_raw_applies_to_every_column_of_the_name)
{
  struct fx fx;
  struct csvf f;
  fx_open(&fx, "identity_user", MAIL_DROP_NAME_HASH);
  csv_header(&f, "Id,Name,Mail,Enabled,MAIL,name");
  csv_apply(&fx, &f, "u1|Adele|a@b.c|perhaps|adele@home.example|Vance", 2,
            "u1,Adele,a@b.c,perhaps,adele@home.example,Vance");
  cr_assert_eq(fx.b->n_rejects, 1);
  {
    char want[256], h1[65], h2[65];
    unsigned char key[32];
    char msg[64];
    cairn_pii_key_parse(KEY_HEX, key, msg, sizeof msg);
    cairn_pii_hash_hex(key, "Adele", 5, h1);
    cairn_pii_hash_hex(key, "Vance", 5, h2);
    snprintf(want, sizeof want, "u1,%s,,perhaps,,%s", h1, h2);
    cr_assert_str_eq(fx.b->rejects[0].raw, want);
  }
  fx_close(&fx);
}

/* A record the source could not parse (a line that is not JSON) is a
 * reject with the source's reason, even when every required field could
 * be filled without it (a const, a default); a ragged CSV row's cells are
 * shifted. With a PII policy neither raw text can be rewritten field by
 * field, so the DLQ keeps a note instead of it; without one, the text. */
Test(transform, unparsed_records_are_rejected_and_their_raw_withheld_under_pii)
{
  struct fx fx;
  struct csvf f;
  struct cairn_record rec = {0};
  cairn_err err = {0};
  static const char withheld[] = "(raw record withheld: it could not be "
    "split into fields, so the job's PII policy cannot be applied)";

  fx_open(&fx, "identity_user", "{\"fields\": {\"userId\": {\"from\": "
          "\"/id\", \"fn\": [{\"default\": \"u0\"}]}, \"deleted\": {\"fn\": "
          "[{\"const\": false}]}, \"mail\": \"/mail\"}, \"pii\": "
          "{\"mail\": \"hash\", \"hmac_key\": \"" KEY_HEX "\"}}");
  rec.position = "u.ndjson:2";
  rec.raw = "{\"id\":\"u9\",\"mail\":\"zed@x.example\",";
  rec.raw_len = strlen(rec.raw);
  rec.error = "not valid JSON: string or '}' expected near end of file";
  cr_assert_eq(cairn_transform_apply(fx.t, &rec, fx.b, &err), CAIRN_OK);
  cr_assert_eq(fx.b->n_rows, 0, "no row made of defaults");
  cr_assert_eq(fx.b->n_rejects, 1);
  cr_assert_str_eq(fx.b->rejects[0].reasons, rec.error);
  cr_assert_str_eq(fx.b->rejects[0].raw, withheld);
  /* a ragged row, even the first of its header (columns not bound yet) */
  csv_header(&f, "id,mail,dept");
  csv_apply(&fx, &f, "u2|Smith| Bob|bob@x.example|IT", 3,
            "u2,Smith, Bob,bob@x.example,IT");
  cr_assert_eq(fx.b->n_rejects, 2);
  cr_assert_str_eq(fx.b->rejects[1].reasons, "row has 5 fields, header has 3");
  cr_assert_str_eq(fx.b->rejects[1].raw, withheld);
  /* JSON that is not an object (its raw text was kept in clear) */
  {
    struct cairn_record arr = {0};
    json_t *items = json_loads("[\"u4\", \"amy@x.example\"]", 0, NULL);
    arr.position = "u.ndjson:4";
    arr.json = items;
    arr.error = "not a JSON object";
    cr_assert_eq(cairn_transform_apply(fx.t, &arr, fx.b, &err), CAIRN_OK);
    cr_assert_eq(fx.b->n_rejects, 3);
    cr_assert_str_eq(fx.b->rejects[2].reasons, arr.error);
    cr_assert_str_eq(fx.b->rejects[2].raw, withheld);
    json_decref(items);
  }
  fx_close(&fx);

  /* without a PII policy the raw text is kept as it was */
  fx_open(&fx, "identity_user", "{\"fields\": {\"userId\": {\"from\": "
          "\"/id\", \"fn\": [{\"default\": \"u0\"}]}, \"deleted\": {\"fn\": "
          "[{\"const\": false}]}}}");
  cr_assert_eq(cairn_transform_apply(fx.t, &rec, fx.b, &err), CAIRN_OK);
  cr_assert_eq(fx.b->n_rows, 0);
  cr_assert_str_eq(fx.b->rejects[0].raw, rec.raw);
  fx_close(&fx);
}

/* A PII field mapped from "$item" covers every element of the exploded
 * array in a reject's raw text. */
Test(transform, pii_of_exploded_items_applies_to_reject_raw)
{
  struct fx fx;
  char h[65];
  unsigned char key[32];
  char msg[128];
  fx_open(&fx, "identity_user", "{\"explode\": \"/otherMails\", "
          "\"fields\": {\"userId\": \"/id\", \"deleted\": {\"fn\": "
          "[{\"const\": false}]}, \"mail\": \"$item\"}, \"pii\": "
          "{\"mail\": \"hash\", \"hmac_key\": \"" KEY_HEX "\"}}");
  json_apply(&fx, "{\"otherMails\": [\"amy@x.example\", null]}", NULL);
  cr_assert_eq(fx.b->n_rejects, 1);
  cairn_pii_key_parse(KEY_HEX, key, msg, sizeof msg);
  cairn_pii_hash_hex(key, "amy@x.example", 13, h);
  {
    char want[160];
    snprintf(want, sizeof want, "{\"otherMails\":[\"%s\",null]}", h);
    cr_assert_str_eq(fx.b->rejects[0].raw, want);
  }
  fx_close(&fx);
}

/* A PII field read through an array ("/otherMails/1") gets its policy in
 * a reject's raw text too: the rewrite used to stop at the array and
 * leave the value there in clear. */
Test(transform, pii_through_an_array_index_applies_to_reject_raw)
{
  struct fx fx;
  char h[65];
  unsigned char key[32];
  char msg[128];
  fx_open(&fx, "identity_user", "{\"fields\": {\"userId\": \"/id\", "
          "\"deleted\": {\"fn\": [{\"const\": false}]}, \"mail\": "
          "\"/otherMails/1\", \"displayName\": \"/names/0/full\"}, "
          "\"pii\": {\"mail\": \"hash\", \"displayName\": \"drop\", "
          "\"hmac_key\": \"" KEY_HEX "\"}}");
  /* no id: rejected */
  json_apply(&fx, "{\"otherMails\": [\"a@x.example\", \"amy@x.example\"], "
             "\"names\": [{\"full\": \"Amy Arrayson\"}]}", NULL);
  cr_assert_eq(fx.b->n_rejects, 1);
  cairn_pii_key_parse(KEY_HEX, key, msg, sizeof msg);
  cairn_pii_hash_hex(key, "amy@x.example", 13, h);
  {
    char want[200];
    snprintf(want, sizeof want, "{\"names\":[{\"full\":null}],"
             "\"otherMails\":[\"a@x.example\",\"%s\"]}", h);
    cr_assert_str_eq(fx.b->rejects[0].raw, want);
  }
  fx_close(&fx);
}

/* ---- full validation ---------------------------------------------------- */

static char schemas_tmp[64];

static void mk_schemas(void)
{
  char path[160];
  FILE *fp;
  quiet();
  snprintf(schemas_tmp, sizeof schemas_tmp, "/tmp/cairn-xf-XXXXXX");
  cr_assert_not_null(mkdtemp(schemas_tmp));
  snprintf(path, sizeof path, "%s/contracts", schemas_tmp);
  cr_assert_eq(mkdir(path, 0700), 0);
  snprintf(path, sizeof path, "%s/contracts/strict.schema.json",
           schemas_tmp);
  fp = fopen(path, "w");
  cr_assert_not_null(fp);
  fputs("{\"$id\": \"https://cairn.dev/contracts/strict/2.0.0\", "
        "\"x-cairn-version\": \"2.0.0\", \"x-cairn-key\": [\"code\"], "
        "\"type\": \"object\", \"additionalProperties\": false, "
        "\"properties\": {\"code\": {\"type\": \"string\", \"pattern\": "
        "\"^[A-Z]{3}$\"}, \"n\": {\"type\": [\"integer\", \"null\"], "
        "\"minimum\": 0}}, \"required\": [\"code\"]}", fp);
  fclose(fp);
  snprintf(path, sizeof path, "%s/contracts/choice.schema.json",
           schemas_tmp);
  fp = fopen(path, "w");
  cr_assert_not_null(fp);
  fputs("{\"$id\": \"https://cairn.dev/contracts/choice/1.0.0\", "
        "\"x-cairn-version\": \"1.0.0\", \"x-cairn-key\": [\"id\"], "
        "\"type\": \"object\", \"additionalProperties\": false, "
        "\"properties\": {\"id\": {\"type\": \"string\"}, "
        "\"kind\": {\"type\": [\"string\", \"null\"], \"enum\": [\"a\", "
        "\"b\"]}, \"mark\": {\"type\": [\"string\", \"null\"], \"enum\": "
        "[\"x\", null]}}, \"required\": [\"id\"]}", fp);
  fclose(fp);
  snprintf(path, sizeof path, "%s/contracts/wide.schema.json", schemas_tmp);
  fp = fopen(path, "w");
  cr_assert_not_null(fp);
  fputs("{\"$id\": \"https://cairn.dev/contracts/wide/1.0.0\", "
        "\"x-cairn-version\": \"1.0.0\", \"x-cairn-key\": [\"id\"], "
        "\"type\": \"object\", \"additionalProperties\": false, "
        "\"properties\": {\"id\": {\"type\": \"string\"}, "
        "\"amount\": {\"type\": [\"number\", \"null\"]}, "
        "\"tags\": {\"type\": [\"object\", \"null\"]}}, "
        "\"required\": [\"id\"]}", fp);
  fclose(fp);
  snprintf(path, sizeof path, "%s/contracts/contact.schema.json",
           schemas_tmp);
  fp = fopen(path, "w");
  cr_assert_not_null(fp);
  fputs("{\"$id\": \"https://cairn.dev/contracts/contact/1.0.0\", "
        "\"x-cairn-version\": \"1.0.0\", \"x-cairn-key\": [\"id\"], "
        "\"type\": \"object\", \"additionalProperties\": false, "
        "\"properties\": {\"id\": {\"type\": \"string\"}, "
        "\"mail\": {\"type\": [\"string\", \"null\"]}, "
        "\"login\": {\"type\": [\"string\", \"null\"], \"pattern\": "
        "\"^[a-z]+@corp\\\\.example$\"}, "
        "\"age\": {\"type\": [\"integer\", \"null\"], \"minimum\": 0}}, "
        "\"required\": [\"id\"]}", fp);
  fclose(fp);
}

static void rm_schemas(void)
{
  cairn_fs_remove_tree(schemas_tmp, NULL);
}

/* Map the JSON records docs with cfg (taken) against contract of
 * schemas_tmp; the batch is new. */
static struct cairn_batch *map_docs(const char *contract, json_t *cfg,
                                    const char *const *docs, size_t n)
{
  struct cairn_contract *c = NULL;
  cairn_transform *t = NULL;
  struct cairn_batch *b;
  cairn_err err = {0};
  cr_assert_eq(cairn_contract_load(schemas_tmp, contract, &c, &err), 0,
               "%s", err.msg);
  cr_assert_eq(cairn_transform_create(cfg, c, &t, NULL, &err), 0, "%s",
               err.msg);
  b = cairn_batch_create(c->n_fields);
  for (size_t i = 0; i < n; i++) {
    struct cairn_record rec = {0};
    json_t *j = json_loads(docs[i], 0, NULL);
    rec.json = j;
    rec.position = "p";
    cr_assert_eq(cairn_transform_apply(t, &rec, b, &err), 0);
    json_decref(j);
  }
  cairn_transform_free(t);
  cairn_contract_free(c);
  json_decref(cfg);
  return b;
}

Test(transform, keywords_beyond_fast_checks_use_the_validator,
     .init = mk_schemas, .fini = rm_schemas)
{
  const char *docs[] = { "{\"c\": \"EUR\", \"n\": 3}",
                         "{\"c\": \"euro\", \"n\": -1}",
                         "{\"c\": \"EUR\", \"n\": -1}" };
  json_t *cfg = json_loads("{\"fields\": {\"code\": \"/c\", \"n\": "
                           "\"/n\"}}", 0, NULL);
  struct cairn_batch *b = map_docs("strict", cfg, docs, 3);
  cr_assert_eq(b->n_rows, 1);
  cr_assert_eq(b->n_rejects, 2);
  cr_assert(strncmp(b->rejects[0].reasons, "code: ", 6) == 0, "%s",
            b->rejects[0].reasons);
  cr_assert(strstr(b->rejects[0].reasons, "; n: ") != NULL, "%s",
            b->rejects[0].reasons);
  /* a key the validator refuses is no key; a good one beside another
   * field's reason is */
  cr_assert_null(b->rejects[0].key, "%s", b->rejects[0].key);
  cr_assert_str_eq(b->rejects[1].key, "[\"EUR\"]");
  cairn_batch_free(b);
}

/* The validator's reasons (a custom contract's pattern or minimum) hide
 * the value of a field that reads what a PII policy protects, as the
 * fast checks' reasons do: "login: value does not match pattern ...",
 * not the address. Without a policy, or beside what it protects, they
 * quote it. */
Test(transform, validator_reasons_hide_pii_values, .init = mk_schemas,
     .fini = rm_schemas)
{
  const char *docs[] = { "{\"id\": \"u\", \"contact\": {\"mail\": "
                         "\"Adele@contoso.com\", \"age\": -7}}" };
  for (int pii = 0; pii < 2; pii++) {
    for (int full = 0; full < 2; full++) {
      json_t *cfg = json_loads(
          "{\"fields\": {\"id\": \"/id\", \"mail\": \"/contact/mail\", "
          "\"login\": \"/contact/mail\", \"age\": \"/contact/age\"}}",
          0, NULL);
      struct cairn_batch *b;
      if (pii)
        json_object_set_new(cfg, "pii", json_pack("{s:s}", "mail", "drop"));
      if (full)
        json_object_set_new(cfg, "validate", json_string("full"));
      b = map_docs("contact", cfg, docs, 1);
      cr_assert_eq(b->n_rejects, 1, "pii=%d full=%d", pii, full);
      if (pii) {
        /* age reads beside what the policy protects: quoted */
        cr_assert_str_eq(b->rejects[0].reasons, "login: value does not "
                         "match pattern ^[a-z]+@corp\\.example$; age: -7 "
                         "is less than minimum 0",
                         "full=%d: %s", full, b->rejects[0].reasons);
        cr_assert(strstr(b->rejects[0].raw, "Adele") == NULL, "%s",
                  b->rejects[0].raw);
      } else {
        cr_assert_str_eq(b->rejects[0].reasons, "login: \"Adele@contoso.com\" "
                         "does not match pattern ^[a-z]+@corp\\.example$; "
                         "age: -7 is less than minimum 0", "full=%d: %s", full,
                         b->rejects[0].reasons);
      }
      cairn_batch_free(b);
    }
  }
}

/* An enum that does not list null refuses null, as the schema does, even
 * on an optional field; one that lists it takes it. The fast checks and
 * "validate": "full" agree. */
Test(transform, an_enum_without_null_refuses_null, .init = mk_schemas,
     .fini = rm_schemas)
{
  const char *docs[] = { "{\"id\": \"1\", \"kind\": \"a\"}",
                         "{\"id\": \"2\", \"mark\": \"x\"}" };
  for (int full = 0; full < 2; full++) {
    json_t *cfg = json_pack("{s:{s:s,s:s,s:s},s:s}", "fields", "id", "/id",
                            "kind", "/kind", "mark", "/mark", "validate",
                            full ? "full" : "fast");
    struct cairn_batch *b = map_docs("choice", cfg, docs, 2);
    cr_assert_eq(b->n_rows, 1, "full=%d", full);
    cr_assert_eq(b->n_rejects, 1, "full=%d", full);
    cr_assert(strncmp(b->rejects[0].reasons, "kind: ", 6) == 0, "%s",
              b->rejects[0].reasons);
    if (!full)
      cr_assert_str_eq(b->rejects[0].reasons, "kind: null is not one of a, b");
    cairn_batch_free(b);
  }
}

/* A decimal past a double's range is a number (loaded as its text) for
 * "validate": "full" too: it used to reach the validator as null
 * ("amount: expected number, got null"). A tag number past that range
 * cannot be validated, and the reason says so. */
Test(transform, validate_full_takes_huge_decimals, .init = mk_schemas,
     .fini = rm_schemas)
{
  const char *docs[] = { "{\"id\": \"1\", \"a\": \"1e400\"}",
                         "{\"id\": \"2\", \"a\": \"-1e400\"}",
                         "{\"id\": \"3\", \"a\": \"1e-400\"}",
                         "{\"id\": \"4\", \"t\": \"\\\"k\\\": 1e400\"}" };
  for (int full = 0; full < 2; full++) {
    json_t *cfg = json_pack("{s:{s:s,s:s,s:{s:s,s:[s]}},s:s}", "fields",
                            "id", "/id", "amount", "/a", "tags", "from", "/t",
                            "fn", "tags", "validate", full ? "full" : "fast");
    struct cairn_batch *b = map_docs("wide", cfg, docs, 4);
    cr_assert_eq(b->n_rows, full ? 3 : 4, "full=%d: %s", full,
                 b->n_rejects ? b->rejects[0].reasons : "");
    if (full)
      cr_assert_str_eq(b->rejects[0].reasons, "tags: holds a number past a "
                       "double's range, which \"validate\": \"full\" cannot "
                       "check");
    cairn_batch_free(b);
  }
}

Test(transform, validate_full_agrees_on_good_rows)
{
  struct fx fx;
  struct csvf f;
  char cfg[sizeof cost_cfg + 64];
  snprintf(cfg, sizeof cfg, "{\"validate\": \"full\", %s", cost_cfg + 1);
  fx_open(&fx, "cost_record", cfg);
  csv_header(&f, cost_header);
  csv_apply(&fx, &f, cost_row, 2, NULL);
  cr_assert_eq(fx.b->n_rejects, 0, "%s", fx.b->n_rejects ?
               fx.b->rejects[0].reasons : "");
  cr_assert_str_eq(row(&fx, 0), cost_want);
  fx_close(&fx);
}

Test(transform, batch_width_must_match)
{
  struct fx fx;
  struct cairn_batch *b = cairn_batch_create(3);
  struct cairn_record rec = {0};
  cairn_err err = {0};
  fx_open(&fx, "cost_record", cost_cfg);
  cr_assert_eq(cairn_transform_apply(fx.t, &rec, b, &err), CAIRN_EINTERNAL);
  cairn_batch_free(b);
  fx_close(&fx);
}

/* ---- throughput --------------------------------------------------------- */

Test(transform, cost_record_throughput)
{
  struct fx fx;
  struct csvf f;
  struct cairn_record rec = {0};
  cairn_err err = {0};
  struct timespec t0, t1;
  const int n = 200000;
  double secs;

  fx_open(&fx, "cost_record", cost_cfg);
  csv_header(&f, cost_header);
  csv_apply(&fx, &f, cost_row, 2, NULL); /* splits cells into f.cols */
  rec.header = &f.h;
  rec.n_cols = f.h.n_cols;
  rec.cols = f.cols;
  rec.col_lens = f.lens;
  rec.position = "t.csv:2";
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < n; i++) {
    if (fx.b->n_rows == 10000)
      cairn_batch_reset(fx.b);
    cairn_transform_apply(fx.t, &rec, fx.b, &err);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  cr_assert_eq(fx.b->n_rejects, 0);
  cr_log_info("cost_record apply: %.0f rows/s", n / secs);
  fprintf(stderr, "cost_record apply: %.0f rows/s\n", n / secs);
  fx_close(&fx);
}

/* ---- warnings and misuse ---------------------------------------------- */

Test(transform, warnings_are_logged_once)
{
  struct fx fx;
  struct csvf f;
  char text[4096] = "";
  FILE *log = tmpfile();
  size_t n;
  cr_assert_not_null(log);
  cairn_log_init(0, CAIRN_LOG_WARN, log);
  /* mapped PII field without a policy */
  fx_open(&fx, "identity_user", "{\"fields\": {\"userId\": \"Id\", "
          "\"mail\": \"Mail\", \"deleted\": {\"fn\": [{\"const\": false}]}}}");
  csv_header(&f, "Id,Other");
  csv_apply(&fx, &f, "u1|x", 2, NULL);
  csv_apply(&fx, &f, "u2|y", 3, NULL);
  fflush(log);
  rewind(log);
  n = fread(text, 1, sizeof text - 1, log);
  text[n] = '\0';
  fclose(log);
  quiet();
  cr_assert(strstr(text, "identity_user.mail is personal data "
                   "(x-cairn-pii) and is kept in clear") != NULL, "%s", text);
  cr_assert(strstr(text, "identity_user.displayName") == NULL, "%s", text);
  {
    const char *w = strstr(text, "lacks column(s) \"Mail\"");
    cr_assert_not_null(w, "%s", text);
    cr_assert_null(strstr(w + 1, "lacks column(s)"), "warned twice: %s",
                   text);
  }
  cr_assert_eq(fx.b->n_rejects, 2);
  cr_assert_str_eq(fx.b->rejects[1].reasons,
                   "mail: column \"Mail\" is not in the header");
  fx_close(&fx);
}

Test(transform, json_pointers_and_explode_need_json_records)
{
  struct fx fx;
  struct csvf f;
  fx_open(&fx, "incident_link", "{\"fields\": {\"system\": \"/s\", "
          "\"externalId\": \"$position\", \"type\": \"t\", \"status\": "
          "\"t\"}}");
  csv_header(&f, "t");
  csv_apply(&fx, &f, "x", 4, NULL);
  cr_assert_str_eq(fx.b->rejects[0].reasons,
                   "system: \"/s\" is a JSON pointer but the record is CSV");
  fx_close(&fx);
  fx_open(&fx, "incident_link", "{\"explode\": \"/a\", \"fields\": {"
          "\"system\": \"t\", \"externalId\": \"$position\", \"type\": "
          "\"t\", \"status\": \"t\"}}");
  csv_apply(&fx, &f, "x", 5, "x");
  cr_assert_str_eq(fx.b->rejects[0].reasons,
                   "\"explode\" needs JSON records");
  fx_close(&fx);
}

/* ---- mapping one chunk on two threads ------------------------------------
 * The runner maps half a chunk with a clone of the transform into a side
 * batch and absorbs it: the rows and rejects, their order and the chunk
 * digest must be those of one transform mapping everything, round after
 * round (the arena blocks move between the batches), and the clone must
 * work on after the original is gone. */
/* A reject's place among its batch's rows (cairn_reject.row), which the
 * state store orders a reject and a later row of its record by: kept when
 * the producer's batch absorbs the mapper's, whose rows come after. */
Test(transform, absorb_keeps_each_reject_after_the_rows_before_it)
{
  struct cairn_batch *b = cairn_batch_create(1), *side = cairn_batch_create(1);
  cairn_batch_add_row(b);
  cairn_batch_reject(b, "#2", "x: bad", "r2", 2, NULL);
  cairn_batch_add_row(b);
  cairn_batch_reject(side, "#4", "x: bad", "r4", 2, NULL);
  cairn_batch_add_row(side);
  cairn_batch_add_row(side);
  cairn_batch_reject(side, "#7", "x: bad", "r7", 2, NULL);
  cairn_batch_absorb(b, side);
  cr_assert_eq(b->n_rows, 4);
  cr_assert_eq(b->n_rejects, 3);
  cr_assert_eq(b->rejects[0].row, 1);
  cr_assert_eq(b->rejects[1].row, 2, "after the producer's two rows");
  cr_assert_eq(b->rejects[2].row, 4);
  cairn_batch_free(b);
  cairn_batch_free(side);
}

Test(transform, clone_and_absorb_give_the_one_thread_chunk)
{
  struct fx one, two;
  struct csvf f;
  cairn_transform *clone = NULL;
  struct cairn_batch *side;
  cairn_err err = {0};
  char big[3000];

  fx_open(&one, "cost_record", cost_cfg);
  fx_open(&two, "cost_record", cost_cfg);
  cr_assert_eq(cairn_transform_clone(two.t, &clone, &err), CAIRN_OK, "%s",
               err.msg);
  side = cairn_batch_create(two.c->n_fields);
  csv_header(&f, cost_header);
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  for (int round = 0; round < 12; round++) {
    int n = 40 + round * 37, half = (round % 3 == 0) ? 0 : n / 2;
    char da[65], db[65];
    cairn_batch_reset(one.b);
    cairn_batch_reset(two.b);
    cairn_batch_reset(side);
    for (int i = 0; i < n; i++) {
      char cells[4096];
      /* every 7th record is rejected; some carry a long resource name */
      snprintf(cells, sizeof cells,
               "%s|acct-%03d|USD|Usage|2024-05-02T00:00:00Z|"
               "2024-05-02T01:00:00Z|1.5|Hours|0.31|1.10|westeurope|"
               "/subscriptions/1/rg/r%d|%s|vm|Compute|VM|||"
               "/subscriptions/1|{\"n\":\"%d\"}",
               i % 7 == 3 ? "abc" : "0.25", i % 5, i,
               i % 11 == 0 ? big : "vm1", round);
      csv_apply(&one, &f, cells, i + 2, "raw");
      {
        struct fx *dst = &two;
        struct cairn_batch *keep = two.b;
        cairn_transform *keep_t = two.t;
        if (i >= half) {
          dst->b = side;
          dst->t = clone;
        }
        csv_apply(dst, &f, cells, i + 2, "raw");
        dst->b = keep;
        dst->t = keep_t;
      }
    }
    cairn_batch_absorb(two.b, side);
    cr_assert_eq(side->n_rows, 0);
    cr_assert_eq(side->n_rejects, 0);
    cr_assert_eq(two.b->n_rows, one.b->n_rows);
    cr_assert_eq(two.b->n_rejects, one.b->n_rejects);
    cr_assert_gt(one.b->n_rejects, 0);
    for (size_t k = 0; k < one.b->n_rejects; k++) {
      cr_assert_str_eq(two.b->rejects[k].position,
                       one.b->rejects[k].position);
      cr_assert_str_eq(two.b->rejects[k].reasons, one.b->rejects[k].reasons);
    }
    cairn_batch_digest(one.b, da);
    cairn_batch_digest(two.b, db);
    cr_assert_str_eq(da, db, "round %d", round);
    for (size_t r = 0; r < one.b->n_rows; r += 13) {
      char *a = cairn_xstrdup(row(&one, r));
      cr_assert_str_eq(row(&two, r), a);
      free(a);
    }
    if (round == 6) {
      /* the clone outlives its original */
      cairn_transform_free(two.t);
      two.t = NULL;
      cr_assert_eq(cairn_transform_clone(clone, &two.t, &err), CAIRN_OK);
    }
  }
  cairn_transform_free(clone);
  cairn_batch_free(side);
  fx_close(&one);
  fx_close(&two);
}
