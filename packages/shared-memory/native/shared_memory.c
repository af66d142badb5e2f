// Shared memory for the ranks of one host: map a file (on /dev/shm, created and sized by the
// caller with node:fs) into this process as an ArrayBuffer, and wait on / wake one of its 32-bit
// words with the futex system call, across processes. JavaScript's Atomics.wait cannot do the
// latter: V8 parks a waiter on a list inside its own process, so a store and Atomics.notify in
// another process never reach it.
//
//   map(path, bytes)          -> ArrayBuffer over the file's first `bytes` (MAP_SHARED)
//   arrive(words, i, target)  -> words[i] + 1, added atomically; whoever reaches `target` wakes the waiters
//   waitFor(words, i, target, spinUs, yieldUs, timeoutMs) -> 0 once words[i] reached `target`, 1 on timeout
//   sumRows(src, first, stride, k, out, at, n) -> out[at+i] = the k rows of src from `first`, `stride` apart, summed in order
// Counters wrap around 2^32: "reached" compares the signed distance.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CHECK(call)                                                       \
  do {                                                                    \
    if ((call) != napi_ok) {                                              \
      napi_throw_error(env, NULL, "octoserve shared-memory: " #call);     \
      return NULL;                                                        \
    }                                                                     \
  } while (0)

static napi_value throw_errno(napi_env env, const char* what, const char* path) {
  char msg[1024];
  snprintf(msg, sizeof msg, "%s %s: %s", what, path, strerror(errno));
  napi_throw_error(env, "ESHM", msg);
  return NULL;
}

static void unmap(napi_env env, void* data, void* hint) {
  (void)env;
  munmap(data, (size_t)(uintptr_t)hint);
}

static napi_value map_file(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char path[512];
  size_t len = 0;
  CHECK(napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len));
  int64_t bytes = 0;
  CHECK(napi_get_value_int64(env, argv[1], &bytes));
  if (bytes <= 0) {
    napi_throw_range_error(env, NULL, "octoserve shared-memory: map needs a positive size");
    return NULL;
  }
  int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, "cannot open", path);
  void* data = mmap(NULL, (size_t)bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  int saved = errno;
  close(fd);
  errno = saved;
  if (data == MAP_FAILED) return throw_errno(env, "cannot map", path);
  napi_value buffer;
  if (napi_create_external_arraybuffer(env, data, (size_t)bytes, unmap, (void*)(uintptr_t)bytes, &buffer) != napi_ok) {
    munmap(data, (size_t)bytes);
    napi_throw_error(env, NULL, "octoserve shared-memory: this Node.js does not take external ArrayBuffers");
    return NULL;
  }
  return buffer;
}

/** The address of element `index` of an Int32Array argument, or NULL after throwing. */
static int32_t* word_of(napi_env env, napi_value array, napi_value index_value) {
  napi_typedarray_type type;
  size_t length = 0;
  void* data = NULL;
  if (napi_get_typedarray_info(env, array, &type, &length, &data, NULL, NULL) != napi_ok || type != napi_int32_array) {
    napi_throw_type_error(env, NULL, "octoserve shared-memory: expected an Int32Array");
    return NULL;
  }
  uint32_t index = 0;
  if (napi_get_value_uint32(env, index_value, &index) != napi_ok || index >= length) {
    napi_throw_range_error(env, NULL, "octoserve shared-memory: word index out of range");
    return NULL;
  }
  return (int32_t*)data + index;
}

#if defined(__x86_64__) || defined(__i386__)
#define CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/** Whether the counter has reached `target` (counters wrap: compare the signed distance). */
static int reached(int32_t value, int32_t target) {
  return (int32_t)((uint32_t)value - (uint32_t)target) >= 0;
}

/**
 * The arguments every counter call starts with: (words, index, target, ...) into argv[0..n);
 * returns the counter's address and sets *target, or NULL after throwing.
 */
static int32_t* counter_args(napi_env env, napi_callback_info info, napi_value* argv, size_t n, int32_t* target) {
  size_t argc = n;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < n) {
    napi_throw_type_error(env, NULL, "octoserve shared-memory: too few arguments");
    return NULL;
  }
  int32_t* word = word_of(env, argv[0], argv[1]);
  if (word != NULL && napi_get_value_int32(env, argv[2], target) != napi_ok) {
    napi_throw_type_error(env, NULL, "octoserve shared-memory: the target must be a 32-bit integer");
    return NULL;
  }
  return word;
}

// arrive(words, index, target): adds 1 to the counter atomically; the caller that brings it to
// `target` wakes every process waiting on it. Returns the new value.
static napi_value arrive(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t target = 0;
  int32_t* word = counter_args(env, info, argv, 3, &target);
  if (word == NULL) return NULL;
  int32_t value = __atomic_add_fetch(word, 1, __ATOMIC_SEQ_CST);
  if (value == target) syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
  napi_value result;
  CHECK(napi_create_int32(env, value, &result));
  return result;
}

// waitFor(words, index, target, spinUs, yieldUs, timeoutMs): returns 0 once the counter has
// reached `target`, 1 when `timeoutMs` passed first. It polls for up to `spinUs`, then polls
// giving its core to any other runnable process between looks (sched_yield) until `yieldUs`,
// then sleeps on the word (futex), waking for every change of it.
static napi_value wait_for(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  int32_t target = 0;
  int32_t* word = counter_args(env, info, argv, 6, &target);
  if (word == NULL) return NULL;
  double spin_us = 0, yield_us = 0, timeout_ms = 0;
  CHECK(napi_get_value_double(env, argv[3], &spin_us));
  CHECK(napi_get_value_double(env, argv[4], &yield_us));
  CHECK(napi_get_value_double(env, argv[5], &timeout_ms));
  double start = now_ms();
  int status = 1;
  for (;;) {
    int32_t value = __atomic_load_n(word, __ATOMIC_SEQ_CST);
    if (reached(value, target)) { status = 0; break; }
    double elapsed = now_ms() - start;
    if (elapsed >= timeout_ms) break;
    if (elapsed * 1000 < spin_us) { CPU_RELAX(); continue; }
    if (elapsed * 1000 < yield_us) { sched_yield(); continue; }
    double left = timeout_ms - elapsed;
    struct timespec ts;
    ts.tv_sec = (time_t)(left / 1000);
    ts.tv_nsec = (long)((left - (double)ts.tv_sec * 1000) * 1e6);
    syscall(SYS_futex, word, FUTEX_WAIT, value, &ts, NULL, 0);
  }
  napi_value result;
  CHECK(napi_create_int32(env, status, &result));
  return result;
}

/** The data of a Float32Array argument and its length, or NULL after throwing. */
static float* floats_of(napi_env env, napi_value array, size_t* length) {
  napi_typedarray_type type;
  void* data = NULL;
  if (napi_get_typedarray_info(env, array, &type, length, &data, NULL, NULL) != napi_ok || type != napi_float32_array) {
    napi_throw_type_error(env, NULL, "octoserve shared-memory: expected a Float32Array");
    return NULL;
  }
  return (float*)data;
}

// out[i] = src[0][i] + src[1][i] + ... + src[k-1][i], added left to right in float32 (the same
// bits as JavaScript's Float32Array adds in that order); the compiler vectorizes across i, which
// keeps each element's order. Built for the widest vector unit the CPU has.
__attribute__((target_clones("avx512f", "avx2", "default")))
static void sum_rows(float* restrict out, const float* src, size_t stride, size_t k, size_t n) {
  for (size_t i = 0; i < n; i++) out[i] = src[i];
  for (size_t r = 1; r < k; r++) {
    const float* row = src + r * stride;
    for (size_t i = 0; i < n; i++) out[i] += row[i];
  }
}

// sumRows(src, first, stride, k, out, at, n): out[at + i] = sum over r < k, in order, of
// src[first + r * stride + i], for i < n. `out` must not overlap the rows.
static napi_value sum_rows_js(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  size_t src_len = 0, out_len = 0;
  float* src = floats_of(env, argv[0], &src_len);
  if (src == NULL) return NULL;
  float* out = floats_of(env, argv[4], &out_len);
  if (out == NULL) return NULL;
  int64_t first = 0, stride = 0, k = 0, at = 0, n = 0;
  CHECK(napi_get_value_int64(env, argv[1], &first));
  CHECK(napi_get_value_int64(env, argv[2], &stride));
  CHECK(napi_get_value_int64(env, argv[3], &k));
  CHECK(napi_get_value_int64(env, argv[5], &at));
  CHECK(napi_get_value_int64(env, argv[6], &n));
  if (first < 0 || stride < 0 || k < 1 || at < 0 || n < 0 || (uint64_t)(first + (k - 1) * stride + n) > src_len || (uint64_t)(at + n) > out_len) {
    napi_throw_range_error(env, NULL, "octoserve shared-memory: sumRows reaches outside its arrays");
    return NULL;
  }
  sum_rows(out + at, src + first, (size_t)stride, (size_t)k, (size_t)n);
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
    {"map", NULL, map_file, NULL, NULL, NULL, napi_default, NULL},
    {"arrive", NULL, arrive, NULL, NULL, NULL, napi_default, NULL},
    {"waitFor", NULL, wait_for, NULL, NULL, NULL, napi_default, NULL},
    {"sumRows", NULL, sum_rows_js, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}
