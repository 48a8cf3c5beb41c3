/*
 * switchback_tap — the smallest native piece Switchback needs to use a Linux
 * TAP device from Node: the TUNSETIFF ioctl (Node has no ioctl), and a reader
 * that drains many frames per readiness wakeup without touching libuv's
 * threadpool.
 *
 * Exports (all synchronous, all throw an Error with .code = errno name,
 * .errno and .syscall on failure):
 *   open(name: string, nonBlocking: boolean, offload?: boolean) -> { fd, name, vnetHdrBytes }
 *       name "" lets the kernel pick "tapN". The device is not persistent:
 *       it disappears when the fd is closed. offload (default false) opens
 *       it with IFF_VNET_HDR, sets a 10-byte struct virtio_net_hdr in front
 *       of every frame read and written (TUNSETVNETHDRSZ) and tells the
 *       kernel we take checksum-partial and TSO frames (TUNSETOFFLOAD
 *       TUN_F_CSUM|TUN_F_TSO4|TUN_F_TSO6), as qemu does for a virtio NIC:
 *       reads may then be TCP super-frames of up to 64 KiB, and a write may
 *       be one too (the kernel segments or delivers it whole). vnetHdrBytes
 *       is 10 with offload, 0 without.
 *   close(fd) -> undefined
 *   writeFrames(fd, frames: Uint8Array[]) -> number
 *       one write(2) per frame; stops at the first EAGAIN (queue full) and
 *       returns how many were written, so the caller can count drops.
 *   startReader(fd, batchMax, frameMax, onBatch) -> reader   (frameMax ≤ FRAME_MAX_LIMIT)
 *       uv_poll on the fd (main thread, no threadpool). On each readable
 *       event, read(2) up to batchMax frames straight into a slab of
 *       batchMax slots of frameMax bytes, then call
 *       onBatch(null, slab: Buffer, lengths: Uint32Array, count): frame i is
 *       slab[i * frameMax, i * frameMax + lengths[i]) for i < count. The
 *       slab and lengths are the same objects on every call, made once with
 *       the reader: nothing is allocated or copied per batch, and their
 *       contents are only valid until onBatch returns. A read error other
 *       than EAGAIN/EINTR calls onBatch(error) once and stops the reader.
 *   stopReader(reader) -> undefined   (idempotent)
 *   openAddressEvents() -> fd
 *       a netlink socket that is readable when a link or an address changes
 *       (read it with startReader, close it with close)
 */
#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <node_api.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

/* Largest read slot: a 64 KiB GSO super-frame, its Ethernet header and the
 * virtio-net header, rounded up. */
#define FRAME_MAX_LIMIT (65536 + 256)
/* struct virtio_net_hdr (legacy, no num_buffers): flags, gso_type, hdr_len,
 * gso_size, csum_start, csum_offset. */
#define VNET_HDR_BYTES 10

#define CHECK(env, call)                                                       \
  do {                                                                         \
    if ((call) != napi_ok) {                                                 \
      napi_throw_error((env), "TAP_NATIVE", "node-api call failed: " #call);   \
      return NULL;                                                             \
    }                                                                          \
  } while (0)

static napi_value make_errno_error(napi_env env, int err, const char *syscall) {
  napi_value msg, code, error, num, sc;
  char text[160];
  const char *name = NULL;
  switch (err) {
  case EPERM: name = "EPERM"; break;
  case EACCES: name = "EACCES"; break;
  case ENOENT: name = "ENOENT"; break;
  case ENODEV: name = "ENODEV"; break;
  case ENXIO: name = "ENXIO"; break;
  case EBUSY: name = "EBUSY"; break;
  case EINVAL: name = "EINVAL"; break;
  case EEXIST: name = "EEXIST"; break;
  case EBADF: name = "EBADF"; break;
  case EIO: name = "EIO"; break;
  case EFAULT: name = "EFAULT"; break;
  case ENOMEM: name = "ENOMEM"; break;
  case ENOBUFS: name = "ENOBUFS"; break;
  case EMSGSIZE: name = "EMSGSIZE"; break;
  case ENOTTY: name = "ENOTTY"; break;
  case EOPNOTSUPP: name = "EOPNOTSUPP"; break;
  default: name = "EUNKNOWN"; break;
  }
  snprintf(text, sizeof text, "%s: %s (%s)", syscall, strerror(err), name);
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, msg, &error);
  napi_create_int32(env, -err, &num);
  napi_set_named_property(env, error, "errno", num);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sc);
  napi_set_named_property(env, error, "syscall", sc);
  return error;
}

static napi_value throw_errno(napi_env env, int err, const char *syscall) {
  napi_throw(env, make_errno_error(env, err, syscall));
  return NULL;
}

/* ---- open / close ------------------------------------------------------ */

static napi_value tap_open(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  char name[IFNAMSIZ + 1];
  size_t len = 0;
  bool non_blocking = true;
  bool offload = false;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    napi_throw_type_error(env, NULL, "open(name, nonBlocking, offload?)");
    return NULL;
  }
  /* The JS side validates the name; this bound only keeps us memory-safe. */
  if (napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok ||
      len >= IFNAMSIZ) {
    return throw_errno(env, EINVAL, "ioctl(TUNSETIFF)");
  }
  CHECK(env, napi_get_value_bool(env, argv[1], &non_blocking));
  if (argc >= 3) {
    napi_valuetype t;
    CHECK(env, napi_typeof(env, argv[2], &t));
    if (t == napi_boolean) CHECK(env, napi_get_value_bool(env, argv[2], &offload));
  }

  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | (non_blocking ? O_NONBLOCK : 0));
  if (fd < 0) return throw_errno(env, errno, "open(/dev/net/tun)");

  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  /* IFF_NO_PI: no 4-byte packet-info header, the fd carries bare Ethernet. */
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (offload ? IFF_VNET_HDR : 0);
  if (len > 0) memcpy(ifr.ifr_name, name, len);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, "ioctl(TUNSETIFF)");
  }
  if (offload) {
    int hdr_bytes = VNET_HDR_BYTES;
    if (ioctl(fd, TUNSETVNETHDRSZ, &hdr_bytes) < 0) {
      int err = errno;
      close(fd);
      return throw_errno(env, err, "ioctl(TUNSETVNETHDRSZ)");
    }
    /* TSO needs CSUM: a segment the kernel hands over (or takes) whole has
     * its TCP checksum left partial, described by csum_start/csum_offset. */
    unsigned int offloads = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
    if (ioctl(fd, TUNSETOFFLOAD, offloads) < 0) {
      int err = errno;
      close(fd);
      return throw_errno(env, err, "ioctl(TUNSETOFFLOAD)");
    }
  }

  napi_value result, fdv, namev, hdrv;
  CHECK(env, napi_create_object(env, &result));
  CHECK(env, napi_create_int32(env, fd, &fdv));
  CHECK(env, napi_create_int32(env, offload ? VNET_HDR_BYTES : 0, &hdrv));
  CHECK(env, napi_set_named_property(env, result, "vnetHdrBytes", hdrv));
  CHECK(env, napi_create_string_utf8(env, ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ), &namev));
  CHECK(env, napi_set_named_property(env, result, "fd", fdv));
  CHECK(env, napi_set_named_property(env, result, "name", namev));
  return result;
}

static napi_value tap_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK(env, napi_get_value_int32(env, argv[0], &fd));
  if (close(fd) < 0 && errno != EINTR) return throw_errno(env, errno, "close");
  return NULL;
}

/* ---- write ------------------------------------------------------------- */

static napi_value tap_write_frames(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd = -1;
  uint32_t count = 0, written = 0;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK(env, napi_get_value_int32(env, argv[0], &fd));
  CHECK(env, napi_get_array_length(env, argv[1], &count));
  for (uint32_t i = 0; i < count; i++) {
    napi_value item;
    napi_typedarray_type type;
    size_t length = 0;
    void *data = NULL;
    CHECK(env, napi_get_element(env, argv[1], i, &item));
    if (napi_get_typedarray_info(env, item, &type, &length, &data, NULL, NULL) != napi_ok ||
        type != napi_uint8_array) {
      napi_throw_type_error(env, NULL, "writeFrames: every frame must be a Uint8Array");
      return NULL;
    }
    ssize_t n;
    do {
      n = write(fd, data, length);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) break;
      return throw_errno(env, errno, "write");
    }
    written++;
  }
  napi_value result;
  CHECK(env, napi_create_uint32(env, written, &result));
  return result;
}

/* ---- reader ------------------------------------------------------------ */

typedef struct reader {
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;
  napi_ref self; /* keeps the JS handle alive while polling */
  napi_async_context async;
  int fd;
  uint32_t batch_max;
  uint32_t frame_max;
  napi_ref slab_ref;     /* JS Buffer of batch_max * frame_max bytes, read into, handed to every onBatch */
  napi_ref lengths_ref;  /* JS Uint32Array of batch_max lengths, likewise */
  int stopped;
  int closed;         /* uv handle closed, memory may be freed by finaliser */
  int finalised;      /* JS object gone */
} reader_t;

static void reader_free_if_done(reader_t *r) {
  /* slab and lengths belong to their JS objects (the GC frees them). */
  if (r->closed && r->finalised) free(r);
}

static void reader_on_close(uv_handle_t *handle) {
  reader_t *r = (reader_t *)handle->data;
  r->closed = 1;
  reader_free_if_done(r);
}

static void drop_reference(napi_env env, napi_ref *ref) {
  if (*ref) {
    napi_delete_reference(env, *ref);
    *ref = NULL;
  }
}

static void reader_stop(reader_t *r) {
  if (r->stopped) return;
  r->stopped = 1;
  uv_poll_stop(&r->poll);
  uv_close((uv_handle_t *)&r->poll, reader_on_close);
  drop_reference(r->env, &r->callback);
  if (r->async) {
    napi_async_destroy(r->env, r->async);
    r->async = NULL;
  }
  drop_reference(r->env, &r->self);
  drop_reference(r->env, &r->slab_ref);
  drop_reference(r->env, &r->lengths_ref);
}

static void reader_cleanup_hook(void *arg) { reader_stop((reader_t *)arg); }

static void reader_deliver(reader_t *r, napi_value *args, size_t argc) {
  napi_value cb, recv, ignored;
  if (napi_get_reference_value(r->env, r->callback, &cb) != napi_ok) return;
  /* napi_make_callback wants an object receiver; the callback ignores `this`. */
  napi_get_global(r->env, &recv);
  napi_status status = napi_make_callback(r->env, r->async, recv, cb, argc, args, &ignored);
  if (status == napi_pending_exception) {
    /* The JS side guards its handler; anything that still escapes is a bug
     * and surfaces as an uncaught exception, as it would from an emitter. */
    napi_value exc;
    napi_get_and_clear_last_exception(r->env, &exc);
    napi_fatal_exception(r->env, exc);
  }
}

static void reader_on_readable(uv_poll_t *handle, int status, int events) {
  reader_t *r = (reader_t *)handle->data;
  if (r->stopped) return;
  napi_handle_scope scope;
  napi_open_handle_scope(r->env, &scope);

  if (status < 0) {
    napi_value args[1] = {make_errno_error(r->env, -status, "uv_poll")};
    reader_deliver(r, args, 1);
    napi_remove_env_cleanup_hook(r->env, reader_cleanup_hook, r);
    reader_stop(r);
    napi_close_handle_scope(r->env, scope);
    return;
  }
  (void)events;

  /* The slab and lengths are JS memory: look them up on every wakeup. A
   * backing store never moves, but JS could detach it (transfer a frame's
   * .buffer to a worker): then stop with an error instead of writing into
   * memory that is no longer ours. args[1] and args[2] are what onBatch gets. */
  napi_value args[4];
  void *slab_data = NULL, *lengths_data = NULL;
  size_t slab_length = 0, lengths_count = 0;
  if (napi_get_reference_value(r->env, r->slab_ref, &args[1]) != napi_ok ||
      napi_get_reference_value(r->env, r->lengths_ref, &args[2]) != napi_ok ||
      napi_get_buffer_info(r->env, args[1], &slab_data, &slab_length) != napi_ok ||
      napi_get_typedarray_info(r->env, args[2], NULL, &lengths_count, &lengths_data, NULL,
                               NULL) != napi_ok ||
      slab_data == NULL || lengths_data == NULL ||
      slab_length < (size_t)r->batch_max * r->frame_max || lengths_count < r->batch_max) {
    args[0] = make_errno_error(r->env, EFAULT, "reader slab detached");
    reader_deliver(r, args, 1);
    napi_remove_env_cleanup_hook(r->env, reader_cleanup_hook, r);
    reader_stop(r);
    napi_close_handle_scope(r->env, scope);
    return;
  }
  uint8_t *slab = slab_data;
  uint32_t *lengths = lengths_data;

  uint32_t count = 0;
  int fatal = 0;
  while (count < r->batch_max) {
    ssize_t n = read(r->fd, slab + (size_t)count * r->frame_max, r->frame_max);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) fatal = errno;
      break;
    }
    if (n == 0) break;
    lengths[count++] = (uint32_t)n;
  }

  if (count > 0) {
    if (napi_create_uint32(r->env, count, &args[3]) == napi_ok) {
      napi_get_null(r->env, &args[0]);
      reader_deliver(r, args, 4);
    }
  }
  if (fatal && !r->stopped) {
    args[0] = make_errno_error(r->env, fatal, "read");
    reader_deliver(r, args, 1);
    napi_remove_env_cleanup_hook(r->env, reader_cleanup_hook, r);
    reader_stop(r);
  }
  napi_close_handle_scope(r->env, scope);
}

static void reader_finalise(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  reader_t *r = (reader_t *)data;
  r->finalised = 1;
  if (!r->stopped) {
    /* Only reachable at env teardown; the cleanup hook normally ran first. */
    napi_remove_env_cleanup_hook(env, reader_cleanup_hook, r);
    reader_stop(r);
    return; /* freed by reader_on_close */
  }
  reader_free_if_done(r);
}

static napi_value tap_start_reader(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  int32_t fd = -1;
  uint32_t batch_max = 0, frame_max = 0;
  napi_valuetype cbtype;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) {
    napi_throw_type_error(env, NULL, "startReader(fd, batchMax, frameMax, onBatch)");
    return NULL;
  }
  CHECK(env, napi_get_value_int32(env, argv[0], &fd));
  CHECK(env, napi_get_value_uint32(env, argv[1], &batch_max));
  CHECK(env, napi_get_value_uint32(env, argv[2], &frame_max));
  CHECK(env, napi_typeof(env, argv[3], &cbtype));
  if (cbtype != napi_function || batch_max == 0 || batch_max > 4096 || frame_max < 64 ||
      frame_max > FRAME_MAX_LIMIT) {
    napi_throw_range_error(env, NULL, "startReader: bad arguments");
    return NULL;
  }

  uv_loop_t *loop = NULL;
  CHECK(env, napi_get_uv_event_loop(env, &loop));
  /* The slab and the lengths are JS objects made once: every onBatch gets
   * the same two, so a batch allocates nothing V8 must collect. */
  napi_value slab, lengths_ab, lengths;
  CHECK(env, napi_create_buffer(env, (size_t)batch_max * frame_max, NULL, &slab));
  CHECK(env, napi_create_arraybuffer(env, (size_t)batch_max * sizeof(uint32_t), NULL,
                                     &lengths_ab));
  CHECK(env, napi_create_typedarray(env, napi_uint32_array, batch_max, lengths_ab, 0, &lengths));
  reader_t *r = calloc(1, sizeof *r);
  if (!r) return throw_errno(env, ENOMEM, "calloc");
  r->env = env;
  r->fd = fd;
  r->batch_max = batch_max;
  r->frame_max = frame_max;
  int rc = uv_poll_init(loop, &r->poll, fd);
  if (rc < 0) {
    free(r);
    return throw_errno(env, -rc, "uv_poll_init");
  }
  r->poll.data = r;

  /* A plain object (not an external): napi_async_init needs an object as the
   * async resource. The reader hangs off it with napi_wrap. */
  napi_value handle, resource_name;
  CHECK(env, napi_create_object(env, &handle));
  CHECK(env, napi_wrap(env, handle, r, reader_finalise, NULL, NULL));
  CHECK(env, napi_create_reference(env, argv[3], 1, &r->callback));
  CHECK(env, napi_create_reference(env, handle, 1, &r->self));
  CHECK(env, napi_create_reference(env, slab, 1, &r->slab_ref));
  CHECK(env, napi_create_reference(env, lengths, 1, &r->lengths_ref));
  CHECK(env, napi_create_string_utf8(env, "SwitchbackTapReader", NAPI_AUTO_LENGTH, &resource_name));
  CHECK(env, napi_async_init(env, handle, resource_name, &r->async));
  CHECK(env, napi_add_env_cleanup_hook(env, reader_cleanup_hook, r));
  rc = uv_poll_start(&r->poll, UV_READABLE, reader_on_readable);
  if (rc < 0) {
    napi_remove_env_cleanup_hook(env, reader_cleanup_hook, r);
    reader_stop(r);
    return throw_errno(env, -rc, "uv_poll_start");
  }
  return handle;
}

static napi_value tap_stop_reader(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  void *data = NULL;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK(env, napi_unwrap(env, argv[0], &data));
  reader_t *r = (reader_t *)data;
  if (!r->stopped) {
    napi_remove_env_cleanup_hook(env, reader_cleanup_hook, r);
    reader_stop(r);
  }
  return NULL;
}

/* ---- address changes ---------------------------------------------------- */

/* A non-blocking NETLINK_ROUTE socket subscribed to link and IPv4/IPv6
 * address changes: the kernel sends a message when an address comes or goes
 * or an interface goes up or down, and nothing otherwise. The JS side reads
 * it with startReader() (the messages are only a wake-up: it then lists the
 * addresses with getifaddrs) and closes it with close(). */
static napi_value netlink_open_addresses(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return throw_errno(env, errno, "socket");
  struct sockaddr_nl sa;
  memset(&sa, 0, sizeof sa);
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, "bind");
  }
  napi_value result;
  CHECK(env, napi_create_int32(env, fd, &result));
  return result;
}

void register_aead(napi_env env, napi_value exports); /* aead.c */

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"open", NULL, tap_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, tap_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"writeFrames", NULL, tap_write_frames, NULL, NULL, NULL, napi_enumerable, NULL},
      {"startReader", NULL, tap_start_reader, NULL, NULL, NULL, napi_enumerable, NULL},
      {"stopReader", NULL, tap_stop_reader, NULL, NULL, NULL, napi_enumerable, NULL},
      {"openAddressEvents", NULL, netlink_open_addresses, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok)
    return NULL;
  register_aead(env, exports);
  return exports;
}
