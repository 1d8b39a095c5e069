/* The few threading primitives deltavk uses — a mutex, a run-once flag, thread-local storage,
 * and (for the tests) starting and joining a thread — over whatever the platform has. C11
 * <threads.h> is optional in the standard and missing on macOS, older Android and older
 * glibc (before 2.28), so the library never includes it: POSIX systems get pthreads, Windows
 * gets its own primitives, and any other hosted C11 platform gets <threads.h>.
 *
 * Everything here is static inline: the header adds no symbol to the libraries. */
#ifndef DVK_THREAD_H
#define DVK_THREAD_H

#include <stdbool.h>

#if defined(_WIN32)
#define DVK_THREADS_WIN32 1
#elif defined(__unix__) || defined(__unix) || defined(__APPLE__)
#define DVK_THREADS_POSIX 1
#elif !defined(__STDC_NO_THREADS__)
#define DVK_THREADS_C11 1
#else
#error "deltavk needs pthreads, Win32 threads or C11 <threads.h>"
#endif

/* Storage duration of one object per thread (dvk_last_error's message). */
#if defined(_MSC_VER) && !defined(__clang__)
#define DVK_THREAD_LOCAL __declspec(thread)
#else
#define DVK_THREAD_LOCAL _Thread_local
#endif

#if defined(DVK_THREADS_WIN32)
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#elif defined(DVK_THREADS_POSIX)
#include <pthread.h>
#else
#include <threads.h>
#endif

/* ---- mutex (not recursive) ------------------------------------------------------------------ */

#if defined(DVK_THREADS_WIN32)
typedef SRWLOCK dvk_mutex;
#elif defined(DVK_THREADS_POSIX)
typedef pthread_mutex_t dvk_mutex;
#else
typedef mtx_t dvk_mutex;
#endif

/* False when the system could not make the mutex (out of resources). */
static inline bool dvk__mutex_init(dvk_mutex *m)
{
#if defined(DVK_THREADS_WIN32)
    InitializeSRWLock(m);
    return true;
#elif defined(DVK_THREADS_POSIX)
    return pthread_mutex_init(m, NULL) == 0;
#else
    return mtx_init(m, mtx_plain) == thrd_success;
#endif
}

static inline void dvk__mutex_destroy(dvk_mutex *m)
{
#if defined(DVK_THREADS_WIN32)
    (void)m; /* an SRW lock holds no resources */
#elif defined(DVK_THREADS_POSIX)
    pthread_mutex_destroy(m);
#else
    mtx_destroy(m);
#endif
}

static inline void dvk__mutex_lock(dvk_mutex *m)
{
#if defined(DVK_THREADS_WIN32)
    AcquireSRWLockExclusive(m);
#elif defined(DVK_THREADS_POSIX)
    pthread_mutex_lock(m);
#else
    mtx_lock(m);
#endif
}

static inline void dvk__mutex_unlock(dvk_mutex *m)
{
#if defined(DVK_THREADS_WIN32)
    ReleaseSRWLockExclusive(m);
#elif defined(DVK_THREADS_POSIX)
    pthread_mutex_unlock(m);
#else
    mtx_unlock(m);
#endif
}

/* ---- run once ------------------------------------------------------------------------------- */

/* A flag for dvk__call_once, statically initialised: `static dvk_once f = DVK_ONCE_INIT;`. */
#if defined(DVK_THREADS_WIN32)
typedef INIT_ONCE dvk_once;
#define DVK_ONCE_INIT INIT_ONCE_STATIC_INIT
#elif defined(DVK_THREADS_POSIX)
typedef pthread_once_t dvk_once;
#define DVK_ONCE_INIT PTHREAD_ONCE_INIT
#else
typedef once_flag dvk_once;
#define DVK_ONCE_INIT ONCE_FLAG_INIT
#endif

#if defined(DVK_THREADS_WIN32)
/* InitOnceExecuteOnce passes a void pointer; a function pointer travels inside a struct. */
typedef struct dvk_once_fn_ {
    void (*fn)(void);
} dvk_once_fn_;

static inline BOOL CALLBACK dvk__once_trampoline(PINIT_ONCE once, PVOID param, PVOID *context)
{
    (void)once;
    (void)context;
    ((dvk_once_fn_ *)param)->fn();
    return TRUE;
}
#endif

/* Runs fn exactly once per flag, however many threads call this at the same time; every caller
 * returns after fn has finished. */
static inline void dvk__call_once(dvk_once *flag, void (*fn)(void))
{
#if defined(DVK_THREADS_WIN32)
    dvk_once_fn_ box = {fn};
    InitOnceExecuteOnce(flag, dvk__once_trampoline, &box, NULL);
#elif defined(DVK_THREADS_POSIX)
    pthread_once(flag, fn);
#else
    call_once(flag, fn);
#endif
}

/* ---- threads (the tests start some; the library starts none) -------------------------------- */

/* One thread running fn(arg). The struct must stay where it is until dvk__thread_join. */
typedef struct dvk_thread {
    int (*fn)(void *arg);
    void *arg;
    int result;
#if defined(DVK_THREADS_WIN32)
    HANDLE handle;
#elif defined(DVK_THREADS_POSIX)
    pthread_t handle;
#else
    thrd_t handle;
#endif
} dvk_thread;

#if defined(DVK_THREADS_WIN32)
static inline DWORD WINAPI dvk__thread_start(LPVOID p)
{
    dvk_thread *t = (dvk_thread *)p;
    t->result = t->fn(t->arg);
    return 0;
}
#elif defined(DVK_THREADS_POSIX)
static inline void *dvk__thread_start(void *p)
{
    dvk_thread *t = (dvk_thread *)p;
    t->result = t->fn(t->arg);
    return NULL;
}
#else
static inline int dvk__thread_start(void *p)
{
    dvk_thread *t = (dvk_thread *)p;
    t->result = t->fn(t->arg);
    return 0;
}
#endif

/* Starts fn(arg) on a new thread; false when the system could not. */
static inline bool dvk__thread_create(dvk_thread *t, int (*fn)(void *arg), void *arg)
{
    t->fn = fn;
    t->arg = arg;
    t->result = 0;
#if defined(DVK_THREADS_WIN32)
    t->handle = CreateThread(NULL, 0, dvk__thread_start, t, 0, NULL);
    return t->handle != NULL;
#elif defined(DVK_THREADS_POSIX)
    return pthread_create(&t->handle, NULL, dvk__thread_start, t) == 0;
#else
    return thrd_create(&t->handle, dvk__thread_start, t) == thrd_success;
#endif
}

/* Waits for the thread to finish; returns what fn returned, or -1 when the wait failed. */
static inline int dvk__thread_join(dvk_thread *t)
{
#if defined(DVK_THREADS_WIN32)
    if (WaitForSingleObject(t->handle, INFINITE) != WAIT_OBJECT_0)
        return -1;
    CloseHandle(t->handle);
#elif defined(DVK_THREADS_POSIX)
    if (pthread_join(t->handle, NULL) != 0)
        return -1;
#else
    if (thrd_join(t->handle, NULL) != thrd_success)
        return -1;
#endif
    return t->result;
}

#endif /* DVK_THREAD_H */
