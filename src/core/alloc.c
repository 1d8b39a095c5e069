/* Host memory for deltavk's own objects, through the caller's allocator when given. */
#include "core/internal.h"

#include <stdlib.h>
#include <string.h>

/* Every block carries its size in front so that dvk__grow can copy on top of an allocator
 * interface that has no realloc. */
#define DVK_ALLOC_HEADER 16

static void *default_alloc(void *user, size_t size, size_t alignment)
{
    (void)user;
    (void)alignment; /* malloc's alignment (16 on the platforms we build for) is enough */
    return malloc(size);
}

static void default_free(void *user, void *ptr)
{
    (void)user;
    free(ptr);
}

dvk_allocator dvk__allocator_or_default(const dvk_allocator *a)
{
    if (a && a->alloc && a->free)
        return *a;
    return (dvk_allocator){.alloc = default_alloc, .free = default_free, .user_data = NULL};
}

void *dvk__alloc(const dvk_allocator *a, size_t size)
{
    if (size > SIZE_MAX - DVK_ALLOC_HEADER)
        return NULL;
    unsigned char *p = a->alloc(a->user_data, size + DVK_ALLOC_HEADER, 16);
    if (!p)
        return NULL;
    memcpy(p, &size, sizeof size);
    memset(p + DVK_ALLOC_HEADER, 0, size);
    return p + DVK_ALLOC_HEADER;
}

void dvk__free(const dvk_allocator *a, void *p)
{
    if (p)
        a->free(a->user_data, (unsigned char *)p - DVK_ALLOC_HEADER);
}

dvk_status dvk__grow(const dvk_allocator *a, void **array, uint32_t *cap, uint32_t need,
                     size_t elem_size)
{
    if (need <= *cap)
        return DVK_SUCCESS;
    uint32_t new_cap = *cap ? *cap : 8;
    while (new_cap < need)
        new_cap *= 2;
    void *fresh = dvk__alloc(a, (size_t)new_cap * elem_size);
    if (!fresh)
        return dvk__fail(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory growing an array");
    if (*array) {
        memcpy(fresh, *array, (size_t)*cap * elem_size);
        dvk__free(a, *array);
    }
    *array = fresh;
    *cap = new_cap;
    return DVK_SUCCESS;
}
