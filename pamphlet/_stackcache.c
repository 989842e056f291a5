/* A small cache in front of CPython's arena allocator, against CPython 3.11's data-stack chunk
   thrash (python/cpython#142183): a hot loop whose calls cross a 16 KiB chunk boundary makes
   the interpreter map and unmap a chunk on every call. Freed blocks of up to 64 KiB (data-stack
   chunks; the allocator's arenas are larger and pass straight through) are kept in a few slots
   and handed out again instead of being unmapped and mapped anew.

   It wraps whatever arena allocator is installed, and every block goes back to that
   allocator's own free() in the end, so blocks allocated before the cache was installed are
   freed the way they were allocated. No libc and no Python headers: compiled with
   `cc -O2 -shared -fPIC -nostdlib`, loaded and installed through ctypes (pamphlet/speed.py). */

#include <stddef.h>

typedef struct {
    void *ctx;
    void *(*alloc)(void *ctx, size_t size);
    void (*free)(void *ctx, void *ptr, size_t size);
} ArenaAllocator; /* the layout of PyObjectArenaAllocator */

#define SLOTS 8
#define MAX_CACHED (64 * 1024)

static ArenaAllocator previous;
static void *slot_ptr[SLOTS];
static size_t slot_size[SLOTS];
static int used;
static char busy; /* the interpreter calls us with the GIL held; this only guards the rare
                     call without it (a thread state deleted by a C extension): then the
                     cache steps aside and the call goes straight to the wrapped allocator */
static unsigned long long hit_count, miss_count;

static int take(void) { return !__atomic_test_and_set(&busy, __ATOMIC_ACQUIRE); }
static void give(void) { __atomic_clear(&busy, __ATOMIC_RELEASE); }

static void *cached_alloc(void *ctx, size_t size)
{
    (void)ctx;
    if (size <= MAX_CACHED && take()) {
        for (int i = used - 1; i >= 0; i--) {
            if (slot_size[i] == size) {
                void *ptr = slot_ptr[i];
                used--;
                slot_ptr[i] = slot_ptr[used];
                slot_size[i] = slot_size[used];
                hit_count++;
                give();
                return ptr;
            }
        }
        miss_count++;
        give();
    }
    return previous.alloc(previous.ctx, size);
}

static void cached_free(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    if (ptr != NULL && size <= MAX_CACHED && take()) {
        if (used < SLOTS) {
            slot_ptr[used] = ptr;
            slot_size[used] = size;
            used++;
            give();
            return;
        }
        give();
    }
    previous.free(previous.ctx, ptr, size);
}

/* Fill `replacement` with the caching allocator wrapped around `current`. Returns 0, or 1 if
   `current` is this cache already (installing twice would make it wrap itself). */
int pamphlet_wrap(const ArenaAllocator *current, ArenaAllocator *replacement)
{
    if (current->alloc == cached_alloc)
        return 1;
    previous = *current;
    replacement->ctx = NULL;
    replacement->alloc = cached_alloc;
    replacement->free = cached_free;
    return 0;
}

unsigned long long pamphlet_hits(void) { return hit_count; }
unsigned long long pamphlet_misses(void) { return miss_count; }
int pamphlet_cached(void) { return used; }
