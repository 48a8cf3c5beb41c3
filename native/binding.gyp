{
  "targets": [
    {
      "target_name": "switchback_tap",
      "sources": ["tap.c"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
