/* SPDX-License-Identifier: MIT */
/* test_contract.c -- loading the shipped contracts and refusing bad ones. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fsx.h"
#include "core/jschema.h"
#include "transform/transform.h"

static struct cairn_contract *load_ok(const char *name)
{
  struct cairn_contract *c = NULL;
  cairn_err err = {0};
  int rc = cairn_contract_load(CAIRN_SCHEMAS, name, &c, &err);
  cr_assert_eq(rc, CAIRN_OK, "%s: %s", name, err.msg);
  cr_assert_not_null(c);
  return c;
}

static void expect_fields(const struct cairn_contract *c, const char *csv)
{
  char buf[1024], *save = NULL;
  size_t i = 0;
  snprintf(buf, sizeof buf, "%s", csv);
  for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
  {
    cr_assert_lt(i, c->n_fields);
    cr_assert_str_eq(c->fields[i].name, t, "field %zu", i);
    i++;
  }
  cr_assert_eq(i, c->n_fields);
}

Test(contract, cost_record_columns_in_order)
{
  struct cairn_contract *c = load_ok("cost_record");
  expect_fields(c, "recordId,billingAccountId,costScope,costDataset,"
                "subscriptionId,resourceId,resourceName,resourceType,"
                "serviceName,serviceCategory,region,chargeCategory,"
                "chargePeriodStartUtc,chargePeriodEndUtc,billedCost,"
                "effectiveCost,listCost,currency,consumedQuantity,"
                "consumedUnit,skuPriceId,tags");
  cr_assert_str_eq(c->name, "cost_record");
  cr_assert_str_eq(c->id, "https://cairn.dev/contracts/cost_record/1.1.0");
  cr_assert_str_eq(c->version, "1.1.0");
  cr_assert_eq(c->fields[14].type, CAIRN_F_NUMBER);   /* billedCost */
  cr_assert_eq(c->fields[12].type, CAIRN_F_DATETIME); /* start */
  cr_assert_eq(c->fields[21].type, CAIRN_F_OBJECT);   /* tags */
  cr_assert_eq(c->fields[0].type, CAIRN_F_STRING);
  cr_assert(c->fields[0].required);
  cr_assert(!c->fields[4].required); /* subscriptionId */
  cr_assert(!c->fields[2].required); /* costScope: null when unknown */
  cr_assert(c->fields[21].required); /* tags is always an object */
  cr_assert_eq(c->n_key, 1);
  cr_assert_eq(c->key[0], 0);
  cr_assert_eq(c->n_partition, 4);
  cr_assert_eq(c->partition[0], 1);
  cr_assert_eq(c->partition[1], 2);
  cr_assert_eq(c->partition[2], 3);
  cr_assert_eq(c->partition[3], 12);
  /* x-cairn-partition-grain: the charge period by its month */
  cr_assert_eq(cairn_contract_part_cut(c, 0), 0);
  cr_assert_eq(cairn_contract_part_cut(c, 2), 0);
  cr_assert_eq(cairn_contract_part_cut(c, 3), CAIRN_PART_MONTH);
  cr_assert_not_null(c->schema);
  cairn_contract_free(c);
}

Test(contract, other_contracts)
{
  struct cairn_contract *c = load_ok("cmdb_ci");
  expect_fields(c, "ciId,name,type,owner,env,tags,lastSeenUtc,source,"
                "location,subscriptionId");
  cr_assert_eq(c->n_key, 2);
  cr_assert_eq(c->key[0], 7);
  cr_assert_eq(c->key[1], 0);
  cr_assert_eq(c->fields[6].type, CAIRN_F_DATETIME);
  cairn_contract_free(c);

  c = load_ok("incident_link");
  expect_fields(c, "system,externalId,url,type,status,priority");
  cr_assert_eq(c->n_key, 2);
  cr_assert_eq(c->n_partition, 0);
  cairn_contract_free(c);

  c = load_ok("policy_posture");
  expect_fields(c, "policyId,requirementId,status,evidenceRef,"
                "evaluatedAtUtc,resourceId");
  cr_assert_eq(c->n_key, 3);
  cr_assert_eq(c->key[2], 5);
  cairn_contract_free(c);

  c = load_ok("identity_user");
  expect_fields(c, "userId,userPrincipalName,displayName,mail,"
                "accountEnabled,department,deleted");
  cr_assert_eq(c->fields[4].type, CAIRN_F_BOOLEAN);
  cr_assert(!c->fields[4].required);
  cr_assert(c->fields[6].required);
  cr_assert(c->fields[1].pii && c->fields[2].pii && c->fields[3].pii);
  cr_assert(!c->fields[0].pii && !c->fields[5].pii);
  cairn_contract_free(c);
}

Test(contract, field_lookup)
{
  struct cairn_contract *c = load_ok("incident_link");
  cr_assert_eq(cairn_contract_field(c, "status"), 4);
  cr_assert_eq(cairn_contract_field(c, "Status"), -1);
  cairn_contract_free(c);
}

Test(contract, unknown_name_lists_contracts)
{
  struct cairn_contract *c = (void *)1;
  cairn_err err = {0};
  cr_assert_eq(cairn_contract_load(CAIRN_SCHEMAS, "cost", &c, &err),
               CAIRN_EUSAGE);
  cr_assert_null(c);
  cr_assert_str_eq(err.msg, "unknown contract \"cost\" (have: cmdb_ci, "
                   "cost_record, identity_user, incident_link, "
                   "policy_posture)");
  cairn_err_clear(&err);
  cr_assert_eq(cairn_contract_load(CAIRN_SCHEMAS, "../contracts/cost_record",
                                   &c, &err), CAIRN_EUSAGE);
}

/* ---- refusing bad contracts ------------------------------------------- */

static char tmpdir[64];

static void mk_tmp(void)
{
  char sub[128];
  snprintf(tmpdir, sizeof tmpdir, "/tmp/cairn-contract-XXXXXX");
  cr_assert_not_null(mkdtemp(tmpdir));
  snprintf(sub, sizeof sub, "%s/contracts", tmpdir);
  cr_assert_eq(mkdir(sub, 0700), 0);
}

static void rm_tmp(void)
{
  cairn_fs_remove_tree(tmpdir, NULL);
}

static int load_text(const char *text, cairn_err *err)
{
  char path[256];
  struct cairn_contract *c = NULL;
  FILE *fp;
  int rc;
  snprintf(path, sizeof path, "%s/contracts/t.schema.json", tmpdir);
  fp = fopen(path, "w");
  cr_assert_not_null(fp);
  fputs(text, fp);
  fclose(fp);
  rc = cairn_contract_load(tmpdir, "t", &c, err);
  cairn_contract_free(c);
  return rc;
}

#define HEAD "{\"$id\": \"https://cairn.dev/contracts/t/1.0.0\", " \
             "\"x-cairn-version\": \"1.0.0\", \"type\": \"object\", " \
             "\"additionalProperties\": false, "

Test(contract, refuses_bad_schemas, .init = mk_tmp, .fini = rm_tmp)
{
  cairn_err err = {0};
  cr_assert_eq(load_text(HEAD "\"x-cairn-key\": [\"a\"], \"properties\": "
                         "{\"a\": {\"type\": \"string\"}}, \"required\": "
                         "[\"a\"]}", &err), CAIRN_OK, "%s", err.msg);

  cr_assert_eq(load_text(HEAD "\"x-cairn-key\": [\"a\"], \"properties\": "
                         "{\"a\": {\"type\": \"string\", \"requred\": 1}}, "
                         "\"required\": [\"a\"]}", &err), CAIRN_ESCHEMA);
  cr_assert(strstr(err.msg, "requred") != NULL, "%s", err.msg);
  cr_assert(strstr(err.msg, "t.schema.json: ") != NULL, "%s", err.msg);
  cairn_err_clear(&err);

  cr_assert_eq(load_text(HEAD "\"x-cairn-key\": [\"a\"], \"properties\": "
                         "{\"a\": {\"type\": \"string\"}, \"b\": {\"type\": "
                         "\"string\"}}, \"required\": [\"a\"]}", &err),
               CAIRN_ESCHEMA);
  cr_assert(strstr(err.msg, "optional field \"b\" must allow null") != NULL,
            "%s", err.msg);
  cairn_err_clear(&err);

  cr_assert_eq(load_text(HEAD "\"x-cairn-key\": [\"b\"], \"properties\": "
                         "{\"a\": {\"type\": \"string\"}, \"b\": {\"type\": "
                         "[\"string\", \"null\"]}}, \"required\": [\"a\"]}",
                         &err), CAIRN_ESCHEMA);
  cr_assert(strstr(err.msg, "key field \"b\" must be required") != NULL,
            "%s", err.msg);
  cairn_err_clear(&err);

  /* x-cairn-partition-grain names a date-time partition field. */
  cr_assert_eq(load_text(HEAD "\"x-cairn-key\": [\"a\"], \"x-cairn-partition\": "
                         "[\"a\"], \"x-cairn-partition-grain\": {\"a\": "
                         "\"month\"}, \"properties\": {\"a\": {\"type\": "
                         "\"string\"}}, \"required\": [\"a\"]}", &err),
               CAIRN_ESCHEMA);
  cr_assert(strstr(err.msg, "x-cairn-partition-grain/a: not a date-time "
                   "field of x-cairn-partition") != NULL, "%s", err.msg);
  cairn_err_clear(&err);
  cr_assert_eq(load_text(HEAD "\"x-cairn-key\": [\"a\"], \"x-cairn-partition\": "
                         "[\"t\"], \"x-cairn-partition-grain\": {\"t\": "
                         "\"week\"}, \"properties\": {\"a\": {\"type\": "
                         "\"string\"}, \"t\": {\"type\": \"string\", "
                         "\"format\": \"date-time\"}}, \"required\": [\"a\", "
                         "\"t\"]}", &err), CAIRN_ESCHEMA);
  cr_assert(strstr(err.msg, "x-cairn-partition-grain/t must be \"day\" or "
                   "\"month\"") != NULL, "%s", err.msg);
  cairn_err_clear(&err);

  cr_assert_eq(load_text(HEAD "\"x-cairn-key\": [\"a\"], \"properties\": "
                         "{\"a\": {\"type\": [\"string\", \"number\"]}}, "
                         "\"required\": [\"a\"]}", &err), CAIRN_ESCHEMA);
  cr_assert(strstr(err.msg, "needs one \"type\"") != NULL, "%s", err.msg);
  cairn_err_clear(&err);

  cr_assert_eq(load_text("{\"$id\": \"https://cairn.dev/contracts/u/1.0.0\","
                         " \"x-cairn-version\": \"1.0.0\", \"type\": "
                         "\"object\", \"additionalProperties\": false, "
                         "\"x-cairn-key\": [\"a\"], \"properties\": {\"a\": "
                         "{\"type\": \"string\"}}, \"required\": [\"a\"]}",
                         &err), CAIRN_ESCHEMA);
  cr_assert(strstr(err.msg, "must end with \"/t/1.0.0\"") != NULL, "%s",
            err.msg);
  cairn_err_clear(&err);

  cr_assert_eq(load_text(HEAD "\"x-cairn-key\": [\"zz\"], \"properties\": "
                         "{\"a\": {\"type\": \"string\"}}, \"required\": "
                         "[\"a\"]}", &err), CAIRN_ESCHEMA);
  cairn_err_clear(&err);

  cr_assert_eq(load_text(HEAD "\"properties\": {\"a\": {\"type\": "
                         "\"string\"}}, \"required\": [\"a\"]}", &err),
               CAIRN_ESCHEMA);
  cr_assert(strstr(err.msg, "x-cairn-key") != NULL, "%s", err.msg);
  cairn_err_clear(&err);

  cr_assert_eq(load_text("{", &err), CAIRN_EPARSE);
}

/* Every shipped contract is a schema the validator accepts. */
Test(contract, shipped_schemas_compile)
{
  const char *names[] = { "cost_record", "cmdb_ci", "incident_link",
                          "policy_posture", "identity_user" };
  for (size_t i = 0; i < 5; i++) {
    struct cairn_contract *c = load_ok(names[i]);
    cairn_schema *s = NULL;
    cairn_err err = {0};
    cr_assert_eq(cairn_schema_compile(c->schema, &s, &err), CAIRN_OK, "%s",
                 err.msg);
    cairn_schema_free(s);
    cairn_contract_free(c);
  }
}
