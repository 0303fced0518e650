/* SPDX-License-Identifier: MIT */
/* fuzz_json_fast.c -- cairn_json_fast_load against jansson's json_loadb.
 *
 * json_fast.h promises the tree json_loadb would build, or NULL for the
 * forms it leaves to jansson. So for any input: a tree from the fast
 * parser means json_loadb accepts the text too and json_equal holds; text
 * json_loadb refuses never gets a tree. With the record array at "/data"
 * left unbuilt, the same text gives the same tree apart from that array,
 * and cairn_json_fast_each hands out exactly its elements, whole or from
 * any point. */
#include "fuzz.h"
#include "core/json_fast.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct each_ud {
  const json_t *want;   /* the array json_loadb built */
  size_t        next;   /* index the next element must have */
};

static int each(void *ud, json_t *el, size_t i)
{
  struct each_ud *u = ud;
  CHECK(i == u->next);
  CHECK(json_equal(el, json_array_get(u->want, i)));
  u->next++;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *text = (const char *)data;
  json_error_t je;
  json_t *slow = json_loadb(text, size, 0, &je);
  json_t *fast = cairn_json_fast_load(text, size, NULL);
  struct cairn_json_skip sk = { "/data", CAIRN_JSON_NOWHERE };
  json_t *part;

  if (fast) {
    CHECK(slow != NULL);
    CHECK(json_equal(fast, slow));
  }
  part = cairn_json_fast_load(text, size, &sk);
  CHECK((part != NULL) == (fast != NULL));
  if (part && sk.at != CAIRN_JSON_NOWHERE) {
    const json_t *arr = json_object_get(slow, "data");
    size_t n = json_array_size(arr);
    struct each_ud u = { arr, 0 };
    int each_rc = -1;
    CHECK(json_is_array(arr));
    CHECK(json_array_size(json_object_get(part, "data")) == n);
    CHECK(text[sk.at] == '[');
    /* the rest of the tree is the same */
    json_object_set(part, "data", (json_t *)arr);
    CHECK(json_equal(part, slow));
    CHECK(cairn_json_fast_each(text, size, sk.at, 0, SIZE_MAX, each, &u,
                               &each_rc) == 0);
    CHECK(each_rc == 0 && u.next == n);
    if (n > 1) { /* from the middle to just before the end */
      u.next = n / 2;
      CHECK(cairn_json_fast_each(text, size, sk.at, n / 2, n - 1, each, &u,
                                 &each_rc) == 0);
      CHECK(u.next == n - 1);
    }
  } else if (part) {
    CHECK(json_equal(part, slow));
  }
  json_decref(part);
  json_decref(fast);
  json_decref(slow);
  return 0;
}
