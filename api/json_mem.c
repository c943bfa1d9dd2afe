/*
 * jansson's allocator for this process: every block remembers its size and is wiped before it
 * is freed, so PINs, OTPs, SADs and tokens that pass through JSON values do not linger in
 * freed memory.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "api/api_internal.h"
#include "util/secret.h"

typedef union block_head {
    size_t size;
    max_align_t align;
} block_head;

static void *wiping_malloc(size_t n)
{
    if (n > SIZE_MAX - sizeof(block_head))
        return NULL;
    block_head *h = malloc(sizeof *h + n);
    if (h == NULL)
        return NULL;
    h->size = n;
    return h + 1;
}

static void wiping_free(void *p)
{
    if (p == NULL)
        return;
    block_head *h = (block_head *)p - 1;
    qs_wipe(p, h->size);
    free(h);
}

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void install(void)
{
    json_set_alloc_funcs(wiping_malloc, wiping_free);
}

void api_json_init(void)
{
    pthread_once(&once, install);
}
