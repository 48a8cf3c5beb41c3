{
  "targets": [
    {
      "target_name": "switchback_tap",
      "sources": ["tap.c", "aead.c"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
